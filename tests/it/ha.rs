//! High availability: a target whose host is a libpq host list
//! (`db1,db2:5433`) is worked on at whichever of its hosts is the
//! read-write primary, so a failover needs no registry change. Real
//! primaries and streaming standbys, promoted as a failover promotes them.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use libtest_mimic::Trial;
use serde_json::Value;

use crate::support::runner::{self, test};
use crate::support::{Cluster, Run, Sandbox, fleet};

pub fn tests() -> Vec<Trial> {
    let mut tests = vec![
        test!(when_no_host_takes_writes_one_error_names_each),
        test!(a_retry_finds_the_target_by_the_server_it_reached),
        test!(each_host_has_its_own_password_file_line),
        test!(a_list_of_socket_directories_reaches_the_primary),
        test!(host_lists_are_checked_when_they_enter_the_registry),
    ];
    // The failover on every supported major: standbys, promotion and the
    // startup parameters that tell a primary (14+) differ between them.
    let mut majors: Vec<u32> = fleet::every_setup().into_iter().map(|(_, major)| major).collect();
    majors.dedup();
    tests.extend(majors.into_iter().map(|major| {
        runner::trial(
            module_path!(),
            &format!("writes_follow_the_primary_through_a_failover::pg{major}"),
            move || writes_follow_the_primary_through_a_failover(major),
        )
    }));
    tests
}

/// `127.0.0.1:PORT`: how results and the audit trail name a server.
fn server(pg: &Cluster) -> String {
    format!("{}:{}", pg.host(), pg.port())
}

/// Registers `env/postgres` on the host list `hosts` with `--port port`.
fn register_list(sandbox: &Sandbox, env: &str, hosts: &str, port: u16) {
    Run::new(sandbox)
        .args(&format!("registry add --env {env} --db postgres --port {port}"))
        .args("--admin-user postgres --host")
        .arg(hosts)
        .stderr_contains(&format!("added {env}/postgres ({hosts}:{port})"))
        .run();
}

/// Waits until `standby` has replayed `role`'s password as `primary` has it.
fn wait_for_replay(primary: &Cluster, standby: &Cluster, role: &str) {
    let wanted = primary.verifier(role);
    let deadline = Instant::now() + Duration::from_secs(30);
    while standby.verifier(role) != wanted {
        assert!(Instant::now() < deadline, "the standby never replayed {role}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The newest audit record's cluster.
fn audited_cluster(sandbox: &Sandbox) -> Value {
    Run::new(sandbox).args("audit show --limit 1").rows()[0]["cluster"].clone()
}

fn writes_follow_the_primary_through_a_failover(major: u32) {
    let primary = Cluster::builder().major(major).start();
    let standby = Cluster::standby_of(&primary);
    let (p, s) = (server(&primary), server(&standby));
    let sandbox = Sandbox::new();
    // The standby first, with its own port; the primary's from --port.
    register_list(&sandbox, "qa", &format!("{s},127.0.0.1"), primary.port());
    // The other order, each with its own port.
    register_list(&sandbox, "uat", &format!("{p},{s}"), 5432);
    let registry = Run::new(&sandbox).args("registry list").json();
    let pgacct = || Run::new(&sandbox).env("PGACCT_ADMIN_PASSWORD", primary.password());

    let rows =
        pgacct().args("user create-vm --env qa --all --server web01 --service-port 8080").rows();
    assert_eq!(
        (&rows[0]["status"], &rows[0]["cluster"]),
        (&"user created".into(), &p.clone().into())
    );
    let password = rows[0]["password"].as_str().unwrap().to_owned();
    assert!(primary.login("postgres", "web01_8080", &password).is_ok());
    assert!(primary.log().contains("CREATE ROLE \"web01_8080\""), "{}", primary.log());
    // The standby was asked first, and was sent no change.
    assert!(standby.log().contains("connection authorized: user=postgres"), "{}", standby.log());
    assert!(!standby.log().contains("CREATE ROLE"), "{}", standby.log());
    // From 14 the startup parameters tell a standby: no query asks.
    let asked = standby.log().contains("current_setting('transaction_read_only')");
    assert_eq!(asked, major < 14, "{}", standby.log());
    assert_eq!(audited_cluster(&sandbox), p.as_str());

    let rows = pgacct().args("user reset-password --env uat --all web01_8080").rows();
    assert_eq!(
        (&rows[0]["status"], &rows[0]["cluster"]),
        (&"password reset".into(), &p.clone().into())
    );
    let password = rows[0]["password"].as_str().unwrap().to_owned();
    assert!(primary.login("postgres", "web01_8080", &password).is_ok());
    let listed = pgacct().args("user list --env qa --all --name web01_8080").rows();
    assert_eq!(listed[0]["cluster"], p.as_str());
    let check = pgacct().args("registry check --env qa").rows();
    assert_eq!(
        (&check[0]["cluster"], &check[0]["in_recovery"]),
        (&p.clone().into(), &false.into())
    );

    // The failover: the standby is promoted, the old primary goes away.
    wait_for_replay(&primary, &standby, "web01_8080");
    standby.promote();
    primary.stop();
    for env in ["qa", "uat"] {
        let rows =
            pgacct().args(&format!("user reset-password --env {env} --all web01_8080")).rows();
        assert_eq!(rows[0]["status"], "password reset", "{env}: {rows:?}");
        assert_eq!(rows[0]["cluster"], s.as_str(), "{env}");
        let password = rows[0]["password"].as_str().unwrap();
        assert!(standby.login("postgres", "web01_8080", password).is_ok(), "{env}");
        assert_eq!(audited_cluster(&sandbox), s.as_str());
    }
    assert!(standby.log().contains("ALTER ROLE \"web01_8080\""), "{}", standby.log());
    assert_eq!(Run::new(&sandbox).args("registry list").json(), registry, "no registry change");
}

fn when_no_host_takes_writes_one_error_names_each() {
    let primary = Cluster::start();
    let standby = Cluster::standby_of(&primary);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (s, c) = (server(&standby), format!("127.0.0.1:{closed}"));
    let sandbox = Sandbox::new();
    register_list(&sandbox, "qa", &format!("{s},{c}"), 5432);
    let pgacct = || Run::new(&sandbox).env("PGACCT_ADMIN_PASSWORD", primary.password());
    let hint = "hint: qa/postgres: pgacct works only on the primary of a host list";

    let rows = pgacct().args("registry check").expect(1).stderr_contains(hint).rows();
    assert_eq!(
        rows[0]["error"],
        format!("no host is a read-write primary: {s}: read-only standby; {c}: connection refused")
    );
    assert_eq!(rows[0]["cluster"], format!("{s},{c}:5432"), "no server was used");

    let ran = pgacct()
        .args("user reset-password --env qa --all app --format json")
        .expect(1)
        .stderr_contains("hint: pgacct works only on the primary of a host list")
        .run();
    let error = ran.rows()[0]["error"].as_str().unwrap().to_owned();
    assert!(error.contains(&format!("{s}: read-only standby; {c}: connection refused")), "{error}");

    // Every host down: each is named with its own reason.
    standby.stop();
    let rows = pgacct().args("registry check").expect(1).stderr_contains(hint).rows();
    assert_eq!(
        rows[0]["error"],
        format!(
            "no host is a read-write primary: {s}: connection refused; {c}: connection refused"
        )
    );
    for place in [&ran.stdout, &ran.stderr, &primary.log(), &standby.log()] {
        assert!(!place.contains(primary.password()), "the password leaked:\n{place}");
    }
}

fn a_retry_finds_the_target_by_the_server_it_reached() {
    let primary = Cluster::start();
    let standby = Cluster::standby_of(&primary);
    let (p, s) = (server(&primary), server(&standby));
    let sandbox = Sandbox::new();
    register_list(&sandbox, "qa", &format!("{s},{p}"), 5432);
    let pgacct = || Run::new(&sandbox).env("PGACCT_ADMIN_PASSWORD", primary.password());

    let ran = pgacct()
        .args("user reset-password --env qa --all ghost --format json")
        .expect(1)
        .stderr_contains("--retry")
        .run();
    assert_eq!(ran.rows()[0]["status"], "user not found");
    assert_eq!(audited_cluster(&sandbox), p.as_str());
    let hint = ran.stderr.lines().find(|l| l.contains("--retry")).unwrap();
    let id = hint.split("--retry ").nth(1).unwrap().split(' ').next().unwrap();

    primary.client().batch_execute("CREATE ROLE ghost LOGIN").unwrap();
    let rows = pgacct().args(&format!("user reset-password ghost --retry {id}")).rows();
    assert_eq!(
        (&rows[0]["status"], &rows[0]["cluster"]),
        (&"password reset".into(), &p.clone().into())
    );
    pgacct()
        .args(&format!("user reset-password ghost --retry {id}"))
        .expect(2)
        .stderr_contains("nothing to retry")
        .run();
}

fn each_host_has_its_own_password_file_line() {
    let primary = Cluster::start();
    let standby = Cluster::standby_of(&primary);
    let sandbox = Sandbox::new();
    register_list(&sandbox, "qa", &format!("{},{}", server(&standby), server(&primary)), 5432);
    let pgpass = sandbox.path().join("home/.pgpass");
    let write_pgpass = |ports: &[u16]| {
        let lines: Vec<String> = ports
            .iter()
            .map(|port| format!("127.0.0.1:{port}:postgres:postgres:{}\n", primary.password()))
            .collect();
        let lines = lines.concat();
        std::fs::write(&pgpass, lines).unwrap();
        std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    };

    // A line for each server, none for the list: each host finds its own.
    write_pgpass(&[standby.port(), primary.port()]);
    let rows = Run::new(&sandbox).args("registry check").rows();
    assert_eq!(rows[0]["cluster"], server(&primary));

    // No line for the standby, asked first: as in libpq, a host that turns
    // the login down ends the search, and the error names that host.
    write_pgpass(&[primary.port()]);
    let rows = Run::new(&sandbox)
        .args("registry check")
        .expect(1)
        .stderr_contains("hint: qa/postgres: set PGACCT_ADMIN_PASSWORD_QA")
        .rows();
    let error = rows[0]["error"].as_str().unwrap();
    let missing = format!("(no line for 127.0.0.1:{}:postgres:postgres)", standby.port());
    assert!(error.starts_with("no password found") && error.contains(&missing), "{error}");
}

fn a_list_of_socket_directories_reaches_the_primary() {
    let primary = Cluster::start();
    let standby = Cluster::standby_of(&primary);
    let sandbox = Sandbox::new();
    let hosts = format!(
        "{}:{},{}",
        standby.socket_dir().display(),
        standby.port(),
        primary.socket_dir().display()
    );
    register_list(&sandbox, "local", &hosts, primary.port());
    // Trust over the sockets: no password anywhere.
    let rows = Run::new(&sandbox).args("user create --env local --all --type devqa app").rows();
    assert_eq!(rows[0]["status"], "user created");
    assert_eq!(
        rows[0]["cluster"],
        format!("{}:{}", primary.socket_dir().display(), primary.port())
    );
    assert!(primary.can_login("app") == Some(true));
}

fn host_lists_are_checked_when_they_enter_the_registry() {
    let sandbox = Sandbox::new();
    let refused = |args: &str, host: &str, message: &str| {
        Run::new(&sandbox)
            .args(args)
            .arg("--host")
            .arg(host)
            .expect(2)
            .stderr_contains(message)
            .run();
    };
    let add = "registry add --env qa --db app";
    refused(add, "db1,,db2", "invalid host list 'db1,,db2': entry 2: it is empty");
    refused(add, "db1,db2,", "entry 3: it is empty");
    refused(add, "db1:0,db2", "entry 1: 'db1:0' has an invalid port '0' (1 to 65535)");
    refused(add, "db1,db2:99999", "'db2:99999' has an invalid port '99999'");
    refused(add, "db1,DB1", "invalid host list 'db1,DB1': DB1 is listed twice");
    refused(
        &format!("{add} --port 5433"),
        "db1,db1:5433",
        "invalid host list 'db1,db1:5433': db1:5433 is listed twice (port 5433 is the target's)",
    );
    refused(add, "db1, db2", "without spaces");

    let hosts = "db1,db2:5433,db2";
    Run::new(&sandbox)
        .args(add)
        .args(&format!("--host {hosts}"))
        .stderr_is(&format!("added qa/app ({hosts}:5432)\n"))
        .run();
    let listed = Run::new(&sandbox).args("registry list").json();
    assert_eq!((&listed[0]["host"], &listed[0]["port"]), (&hosts.into(), &5432.into()));
    // The list as registered is the cluster's name, with or without the port.
    for cluster in [hosts.to_owned(), format!("{hosts}:5432")] {
        let shown = Run::new(&sandbox)
            .args("registry show --env qa --db app --cluster")
            .arg(&cluster)
            .json();
        assert_eq!(shown["host"], hosts, "{cluster}");
    }
    Run::new(&sandbox)
        .args("registry show --env qa --db app --cluster db1")
        .expect(2)
        .stderr_contains("no registry entry")
        .run();

    let update = "registry update --env qa --db app";
    refused(update, "db1,,db2", "entry 2: it is empty");
    Run::new(&sandbox)
        .args(&format!("{update} --port 5433"))
        .expect(2)
        .stderr_contains("db2:5433 is listed twice (port 5433 is the target's)")
        .run();

    let file = sandbox.write("more.csv", "env,db,host\nqa,ok,db3\nqa,bad,\"db1,,db2\"\n");
    Run::new(&sandbox)
        .args("registry import")
        .arg(&file)
        .expect(2)
        .stderr_contains("entry 2: it is empty")
        .run();
    assert_eq!(Run::new(&sandbox).args("registry list").json().as_array().unwrap().len(), 1);
}
