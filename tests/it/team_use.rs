//! Team mode as a team lives with it: many machines working through one
//! store at once, and a store that goes away before or during a change.

use std::collections::BTreeSet;
use std::process::Command;

use libtest_mimic::Trial;
use serde_json::Value;

use crate::support::cluster::random_suffix;
use crate::support::fleet::majors;
use crate::support::runner::{skip, test};
use crate::support::team::script;
use crate::support::{Cluster, PGACCT, Pause, Run, Sandbox, spawn_together};

pub fn tests() -> Vec<Trial> {
    vec![
        test!(three_machines_of_twenty_processes_share_one_store),
        test!(a_store_out_of_reach_stops_a_change_before_any_target),
        test!(a_store_lost_during_a_change_leaves_it_incomplete_and_the_password_delivered),
        test!(a_retry_finds_its_targets_in_the_team_trail),
        test!(a_team_trail_is_not_sealed),
        test!(a_user_without_the_role_is_told_what_to_grant),
        test!(a_store_in_another_schema_is_named_in_config),
    ]
}

/// A store cluster that holds many sessions, set up by its superuser, with
/// `members` granted `pgacct_user` only.
fn store(members: &[&str]) -> (Cluster, String) {
    let pg = Cluster::builder().major(majors()[0]).setting("max_connections = 150").start();
    let password = format!("member-{}", random_suffix());
    let mut su = pg.client();
    su.batch_execute(&script()).unwrap();
    su.batch_execute("SET log_statement = 'none'").unwrap();
    for user in members {
        su.batch_execute(&format!(
            "CREATE ROLE {user} LOGIN PASSWORD '{password}'; GRANT pgacct_user TO {user};"
        ))
        .unwrap();
    }
    (pg, password)
}

/// One machine of the team: its own HOME (with the store's password in
/// its `.pgpass`), its own host name, its own database user.
struct Machine {
    sandbox: Sandbox,
    name: String,
    user: String,
}

impl Machine {
    fn new(name: &str, user: &str, store: &Cluster, password: &str) -> Machine {
        let sandbox = Sandbox::local();
        let pgpass = sandbox.path().join("home/.pgpass");
        std::fs::write(&pgpass, format!("127.0.0.1:{}:postgres:{user}:{password}\n", store.port()))
            .unwrap();
        std::fs::set_permissions(&pgpass, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        Machine { sandbox, name: name.to_owned(), user: user.to_owned() }
    }

    fn url(&self, store: &Cluster) -> String {
        format!("postgresql://{}@127.0.0.1:{}/postgres", self.user, store.port())
    }

    /// `pgacct` on this machine, with the target's admin password.
    fn pgacct(&self, store: &Cluster, target: &Cluster) -> Run {
        Run::new(&self.sandbox)
            .env("PGACCT_REGISTRY", self.url(store))
            .env("PGACCT_ADMIN_PASSWORD", target.password())
    }

    /// The same, in a UTS namespace of its own whose host name is the
    /// machine's (as root, through `unshare`).
    fn pgacct_as_itself(&self, store: &Cluster, target: &Cluster) -> Run {
        let mut command = self.sandbox.command("unshare");
        command
            .args(["--uts", "sh", "-c", r#"hostname "$0" && exec "$@""#, &self.name, PGACCT])
            .env("PGACCT_REGISTRY", self.url(store))
            .env("PGACCT_ADMIN_PASSWORD", target.password());
        Run::of(command)
    }
}

/// A store with one member, alice, on one machine, and a target cluster
/// registered as qa/postgres.
fn alice_with_a_target() -> (Cluster, Cluster, Machine) {
    let (store, password) = store(&["alice"]);
    let target = Cluster::builder().major(majors()[0]).start();
    let machine = Machine::new("bastion-a", "alice", &store, &password);
    machine
        .pgacct(&store, &target)
        .args(&format!(
            "registry add --env qa --db postgres --host 127.0.0.1 --port {}",
            target.port()
        ))
        .args("--admin-user postgres -q")
        .run();
    (store, target, machine)
}

/// Whether this process may give a child a host name of its own.
fn can_name_hosts() -> bool {
    Command::new("unshare")
        .args(["--uts", "hostname", "pgacct-probe"])
        .output()
        .is_ok_and(|out| out.status.success())
}

fn three_machines_of_twenty_processes_share_one_store() {
    if !can_name_hosts() {
        skip("root and unshare(1), to give each simulated machine its own host name");
    }
    let (store, password) = store(&["alice", "bob", "carol"]);
    let target = Cluster::builder().major(majors()[0]).setting("max_connections = 150").start();
    let machines = [
        Machine::new("bastion-a", "alice", &store, &password),
        Machine::new("bastion-b", "bob", &store, &password),
        Machine::new("ci-runner", "carol", &store, &password),
    ];
    machines[0]
        .pgacct_as_itself(&store, &target)
        .args(&format!(
            "registry add --env qa --db postgres --host 127.0.0.1 --port {}",
            target.port()
        ))
        .args("--admin-user postgres -q")
        .run();

    // On each machine, ten processes create the same role and ten add a
    // target each, all sixty at the same moment.
    let mut runs = Vec::new();
    for (m, machine) in machines.iter().enumerate() {
        for i in 0..10 {
            runs.push(
                machine
                    .pgacct_as_itself(&store, &target)
                    .args(
                        "user create-vm --env qa --db postgres --server web01 --service-port 8080",
                    )
                    .args("--format json --secret-file")
                    .arg(machine.sandbox.path().join(format!("web01-{i}.env")))
                    .any_stderr(),
            );
            runs.push(
                machine
                    .pgacct_as_itself(&store, &target)
                    .args(&format!("registry add --env ci --db m{m}-db{i} --host h -q")),
            );
        }
    }
    let ended: Vec<_> = spawn_together(&machines[0].sandbox, runs)
        .into_iter()
        .map(crate::support::Running::finish)
        .collect();
    let statuses: Vec<String> = ended
        .iter()
        .filter(|ran| !ran.stdout.is_empty())
        .map(|ran| ran.rows()[0]["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(statuses.len(), 30);
    assert_eq!(statuses.iter().filter(|s| *s == "user created").count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| *s == "user already exists").count(), 29);
    for ran in &ended {
        assert!(!ran.stderr.contains("error") && !ran.stderr.contains("warning"), "{}", ran.stderr);
    }

    // Every machine sees the whole registry and the whole trail: one chain.
    let reader = machines[2].pgacct(&store, &target);
    let targets = reader.args("registry list --env ci").rows();
    let names: BTreeSet<&str> = targets.iter().map(|t| t["db"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 30);
    let report = machines[1].pgacct(&store, &target).args("audit verify").json();
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(report["records"], 2 * 61, "{report}");
    let rows = machines[0].pgacct(&store, &target).args("audit show --limit 0").rows();
    assert_eq!(rows.len(), 61);
    assert!(rows.iter().all(|r| r["outcome"] == "ok"), "{rows:?}");
    let field = |name: &str| -> BTreeSet<String> {
        rows.iter().map(|r| r[name].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(field("host"), ["bastion-a", "bastion-b", "ci-runner"].map(String::from).into());
    assert_eq!(field("actor"), ["alice", "bob", "carol"].map(String::from).into());
    let created: Vec<&Value> = rows.iter().filter(|r| r["status"] == "user created").collect();
    assert_eq!(created.len(), 1);
    let can_login: bool = target
        .client()
        .query_one("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'web01_8080'", &[])
        .unwrap()
        .get(0);
    assert!(can_login);
}

/// The store is down: a change stops before it connects to any target,
/// and says so.
fn a_store_out_of_reach_stops_a_change_before_any_target() {
    let (store, target, machine) = alice_with_a_target();
    store.stop();
    let log_before = target.log();
    machine
        .pgacct(&store, &target)
        .args("user create-vm --env qa --all --server web01 --service-port 8080")
        .expect(1)
        .stderr_contains("error: cannot reach the team store; nothing was done")
        .stderr_contains(&format!("cannot connect to the team store (127.0.0.1:{})", store.port()))
        .run();
    machine
        .pgacct(&store, &target)
        .args("user list --env qa --all")
        .expect(1)
        .stderr_contains("error: cannot reach the team store; nothing was done")
        .run();
    assert_eq!(target.log(), log_before, "pgacct connected to the target");
}

/// The store goes away after the started records: the change is made, its
/// password delivered, and the trail shows it incomplete once the store is
/// back.
fn a_store_lost_during_a_change_leaves_it_incomplete_and_the_password_delivered() {
    let (store, target, machine) = alice_with_a_target();
    let pause = Pause::new(&machine.sandbox);
    let secret = machine.sandbox.path().join("web01.env");
    let running = pause
        .arm(
            machine
                .pgacct(&store, &target)
                .args("user create-vm --env qa --all --server web01 --service-port 8080")
                .arg("--secret-file")
                .arg(&secret)
                .stderr_contains("warning: the outcome was not recorded in the audit trail"),
        )
        .spawn();
    pause.wait();
    store.stop();
    pause.release();
    running.finish();
    let written = crate::support::read_password_from(&secret);
    assert!(
        target.login("postgres", "web01_8080", &written).is_ok(),
        "the delivered password works"
    );

    store.start_again();
    let rows = machine.pgacct(&store, &target).args("audit show --incomplete").rows();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (&rows[0]["operation"], &rows[0]["outcome"]),
        (&"user.create".into(), &"incomplete".into())
    );
    let report = machine.pgacct(&store, &target).args("audit verify").json();
    assert_eq!(report["intact"], true, "{report}");
    for text in [store.log(), target.log()] {
        assert!(!text.contains(&written), "the password is in a server log");
    }
}

/// `--retry` reads which targets an operation had, and how each ended,
/// from the team trail: the one that failed is tried again, alone.
fn a_retry_finds_its_targets_in_the_team_trail() {
    let (store, password) = store(&["alice"]);
    let up = Cluster::builder().major(majors()[0]).start();
    let down = Cluster::builder().major(majors()[0]).password(up.password()).start();
    let machine = Machine::new("bastion-a", "alice", &store, &password);
    let pgacct = || machine.pgacct(&store, &up);
    for pg in [&up, &down] {
        pgacct()
            .args(&format!(
                "registry add --env qa --db postgres --host 127.0.0.1 --port {}",
                pg.port()
            ))
            .args("--admin-user postgres -q")
            .run();
        pg.client().batch_execute("CREATE ROLE ghost LOGIN").unwrap();
    }
    pgacct().args("registry add --env dev --db x --host h -q").run();
    down.stop();
    let ran = pgacct()
        .args("user lock --env qa --all ghost --format json")
        .expect(3)
        .stderr_contains("--retry")
        .run();
    let hint = ran.stderr.lines().find(|l| l.contains("--retry")).unwrap();
    let id = hint.split("--retry ").nth(1).unwrap().split(' ').next().unwrap();
    // Other operations of the same machine after it.
    pgacct().args("registry add --env dev --db y --host h -q").run();
    down.start_again();
    let rows = pgacct().args(&format!("user lock ghost --retry {id}")).rows();
    let retried: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r["cluster"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    let down_cluster = format!("127.0.0.1:{}", down.port());
    assert_eq!(retried, [(down_cluster.as_str(), "user locked")], "only the failed one again");
    pgacct()
        .args(&format!("user lock ghost --retry {id}"))
        .expect(2)
        .stderr_contains("nothing to retry")
        .run();
}

/// The audit key does not apply to a team store: sealing is refused before
/// anything is reached.
fn a_team_trail_is_not_sealed() {
    let sandbox = Sandbox::local();
    Run::new(&sandbox)
        .env("PGACCT_REGISTRY", "postgresql://alice@127.0.0.1:1/postgres")
        .env("PGACCT_AUDIT_KEY", "ab".repeat(32))
        .args("audit seal")
        .expect(2)
        .stderr_contains("error: a team store's trail cannot be sealed")
        .stderr_contains("hint: check the shared trail with `pgacct audit verify`")
        .run();
}

/// A login the store's owner has not granted `pgacct_user` to: told what
/// to ask for, for reading and changing alike; nothing is written.
fn a_user_without_the_role_is_told_what_to_grant() {
    let (store, password) = store(&[]);
    store
        .client()
        .batch_execute(&format!(
            "SET log_statement = 'none'; CREATE ROLE mallory LOGIN PASSWORD '{password}'"
        ))
        .unwrap();
    let target = Cluster::builder().major(majors()[0]).start();
    let machine = Machine::new("bastion-a", "mallory", &store, &password);
    for line in ["registry list", "registry add --env qa --db x --host h", "audit show"] {
        machine
            .pgacct(&store, &target)
            .args(line)
            .expect(1)
            .stderr_contains(&format!(
                "error: the team store in schema pgacct of database postgres on 127.0.0.1:{} \
                 refused to read its schema version: permission denied for schema pgacct",
                store.port()
            ))
            .stderr_contains("hint: pgacct's users need the store's role, which its owner grants: GRANT pgacct_user TO \"mallory\"")
            .run();
    }
    let rows: i64 =
        store.client().query_one("SELECT count(*) FROM pgacct.audit", &[]).unwrap().get(0);
    assert_eq!(rows, 0);
}

/// `store init --schema` makes a store another schema: `[store] schema`
/// names it for every command; without it, pgacct says where it looked.
fn a_store_in_another_schema_is_named_in_config() {
    let (store, password) = store(&["alice"]);
    let owner = Sandbox::local();
    Run::new(&owner)
        .env(
            "PGACCT_REGISTRY",
            format!("postgresql://postgres@127.0.0.1:{}/postgres", store.port()),
        )
        .env("PGPASSWORD", store.password())
        .args("store init --schema team_b")
        .stderr_contains("created store schema team_b (version")
        .run();
    let target = Cluster::builder().major(majors()[0]).start();
    let machine = Machine::new("bastion-a", "alice", &store, &password);
    let config = machine.sandbox.write_config("[store]\nschema = \"team_b\"\n");
    machine.pgacct(&store, &target).args("registry add --env qa --db orders --host h -q").run();
    let in_b: i64 =
        store.client().query_one("SELECT count(*) FROM team_b.targets", &[]).unwrap().get(0);
    let in_default: i64 =
        store.client().query_one("SELECT count(*) FROM pgacct.targets", &[]).unwrap().get(0);
    assert_eq!((in_b, in_default), (1, 0));
    std::fs::remove_file(config).unwrap();
    let ran = machine.pgacct(&store, &target).args("registry list").json();
    assert_eq!(ran, serde_json::json!([]), "the default schema's store is empty");
    machine.sandbox.write_config("[store]\nschema = \"Team-B\"\n");
    machine
        .pgacct(&store, &target)
        .args("registry list")
        .expect(2)
        .stderr_contains("[store] schema: schema name 'Team-B' is refused")
        .run();
}
