//! The connection layer through `pgacct registry check`: admin passwords
//! from libpq's places in DESIGN.md's order, Unix sockets, unreachable
//! targets among reachable ones, and standbys.

use libtest_mimic::Trial;

use crate::support::runner::test;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use crate::support::{Cluster, Run, Sandbox, on_a_terminal};

pub fn tests() -> Vec<Trial> {
    vec![
        test!(each_password_source_wins_over_the_ones_after_it),
        test!(a_wrong_password_names_the_target_and_never_shows_the_password),
        test!(a_world_readable_password_file_is_ignored_with_a_warning),
        test!(with_no_password_anywhere_and_no_terminal_every_place_is_listed),
        test!(a_unix_socket_target_needs_no_password),
        test!(sessions_carry_the_application_name_and_timeouts),
        test!(unreachable_targets_are_reported_while_the_others_succeed),
        test!(a_standby_is_reported_in_recovery),
        test!(many_targets_on_one_cluster_are_checked_a_few_at_a_time),
        test!(bad_environment_and_config_are_input_errors),
        test!(environment_bytes_that_are_not_utf8_never_panic),
        test!(on_a_terminal_the_password_is_asked_for),
    ]
}

const WRONG: &str = "wrong-Zq8xv2";

/// `registry check` with these variables set.
fn check(sandbox: &Sandbox, vars: &[(&str, &str)]) -> Run {
    vars.iter()
        .fold(Run::new(sandbox).args("registry check"), |run, (name, value)| run.env(name, value))
}

fn write_pgpass(sandbox: &Sandbox, line: &str, mode: u32) {
    let path = sandbox.path().join("home/.pgpass");
    std::fs::write(&path, format!("{line}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn each_password_source_wins_over_the_ones_after_it() {
    let pg = Cluster::start();
    let sandbox = Sandbox::new();
    sandbox.register("qa", "postgres", &pg, &[]);
    let right = pg.password();
    let pgpass = |password: &str| format!("127.0.0.1:{}:postgres:postgres:{password}", pg.port());
    let variables =
        ["PGACCT_ADMIN_PASSWORD_QA", "PGACCT_ADMIN_PASSWORD", "PG_ADMIN_PASS", "PGPASSWORD"];

    // Source i holds `first`, every later source (the password file last)
    // holds `rest`; the sources before i are unset.
    let set_up = |i: usize, first: &str, rest: &str| {
        write_pgpass(&sandbox, &pgpass(if i == variables.len() { first } else { rest }), 0o600);
        let vars: Vec<(&str, &str)> = variables
            .iter()
            .enumerate()
            .skip(i)
            .map(|(j, name)| (*name, if j == i { first } else { rest }))
            .collect();
        check(&sandbox, &vars)
    };
    for i in 0..=variables.len() {
        let row = set_up(i, right, WRONG).rows()[0].clone();
        assert_eq!(row["reachable"], true, "source {i} should win: {row}");
        let from =
            variables.get(i).map_or_else(|| "the password file".to_owned(), |v| format!("${v}"));
        let row = set_up(i, WRONG, right)
            .expect(1)
            .stderr_contains(&format!("the password came from {from}"))
            .rows()[0]
            .clone();
        assert!(row["error"].as_str().unwrap().contains("password authentication failed"), "{row}");
    }
}

fn a_wrong_password_names_the_target_and_never_shows_the_password() {
    let pg = Cluster::start();
    let sandbox = Sandbox::new();
    sandbox.register("qa", "postgres", &pg, &[]);
    let ran = Run::new(&sandbox)
        .args("registry check")
        .env("PGPASSWORD", WRONG)
        .expect(1)
        .stderr_contains("hint: qa/postgres: the password came from $PGPASSWORD")
        .run();
    let (stdout, stderr) = (ran.stdout, ran.stderr);
    let row = stdout.lines().nth(2).unwrap();
    assert!(row.contains(" qa ") && row.contains(&format!("127.0.0.1:{}", pg.port())), "{stdout}");
    assert!(row.contains(r#"password authentication failed for user "postgres""#), "{stdout}");
    for place in [&stdout, &stderr, &pg.log()] {
        assert!(!place.contains(WRONG), "the password leaked:\n{place}");
    }
}

fn a_world_readable_password_file_is_ignored_with_a_warning() {
    let pg = Cluster::start();
    let sandbox = Sandbox::new();
    sandbox.register("qa", "postgres", &pg, &[]);
    write_pgpass(&sandbox, &format!("*:*:*:*:{}", pg.password()), 0o644);
    let pgpass = sandbox.path().join("home/.pgpass");
    let rows = check(&sandbox, &[])
        .expect(1)
        .stderr_contains(&format!(
            "warning: password file {} has group or world access (mode 0644); ignoring it",
            pgpass.display()
        ))
        .rows();
    let error = rows[0]["error"].as_str().unwrap();
    assert!(error.contains("(ignored: group or world readable)"), "{error}");

    // Private again: used, and no warning (stderr is empty).
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    check(&sandbox, &[]).rows();
}

fn with_no_password_anywhere_and_no_terminal_every_place_is_listed() {
    let pg = Cluster::start();
    let sandbox = Sandbox::new();
    sandbox.register("qa", "postgres", &pg, &[]);
    let rows = check(&sandbox, &[])
        .expect(1)
        .stderr_contains("hint: qa/postgres: set PGACCT_ADMIN_PASSWORD_QA")
        .rows();
    let pgpass = sandbox.path().join("home/.pgpass");
    assert_eq!(
        rows[0]["error"],
        format!(
            "no password found (looked at $PGACCT_ADMIN_PASSWORD_QA, $PGACCT_ADMIN_PASSWORD, \
             $PG_ADMIN_PASS, $PGPASSWORD, admin_password_command (none for the target or \
             [env.qa]), {} (not found), no terminal to prompt on)",
            pgpass.display()
        )
    );
}

fn a_unix_socket_target_needs_no_password() {
    let pg = Cluster::start();
    let sandbox = Sandbox::new();
    Run::new(&sandbox)
        .args("registry add --env local --db postgres --host")
        .arg(pg.socket_dir())
        .args(&format!("--port {} --admin-user postgres", pg.port()))
        .stderr_contains("added local/postgres")
        .run();
    let rows = check(&sandbox, &[]).rows();
    assert_eq!(rows[0]["reachable"], true);
    assert_eq!(rows[0]["tls"], "no");
    assert_eq!(rows[0]["superuser"], true);
    assert!(pg.log().contains("connection authorized: user=postgres database=postgres"));
}

fn sessions_carry_the_application_name_and_timeouts() {
    let pg = Cluster::builder().setting("log_line_prefix = '%m [%p] app=%a '").start();
    let sandbox = Sandbox::new();
    sandbox.register("qa", "postgres", &pg, &[]);
    let rows = check(&sandbox, &[("PGPASSWORD", pg.password())]).rows();
    assert_eq!(
        (&rows[0]["lock_timeout"], &rows[0]["statement_timeout"]),
        (&"5s".into(), &"30s".into())
    );
    assert!(pg.log().lines().any(|l| l.contains(" app=pgacct LOG:  execute")), "{}", pg.log());

    sandbox.write_config("[connection]\nlock_timeout = \"1500ms\"\nstatement_timeout = \"2min\"\n");
    let vars = [("PGPASSWORD", pg.password()), ("PGAPPNAME", "nightly-audit")];
    let rows = check(&sandbox, &vars).rows();
    assert_eq!(rows[0]["lock_timeout"], "1500ms");
    assert_eq!(rows[0]["statement_timeout"], "2min");
    assert!(pg.log().lines().any(|l| l.contains(" app=nightly-audit LOG:  execute")));

    let mut client = pg.client();
    let open: i64 = client
        .query_one("SELECT count(*) FROM pg_stat_activity WHERE application_name <> ''", &[])
        .unwrap()
        .get(0);
    assert_eq!(open, 0, "pgacct left a session open");
}

fn unreachable_targets_are_reported_while_the_others_succeed() {
    let up = Cluster::start();
    up.client().batch_execute("CREATE DATABASE up").unwrap();
    let stopped = Cluster::start();
    stopped.stop();
    let closed_port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // Accepts connections and then says nothing: only a timeout ends the wait.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let _keep = std::thread::spawn(move || {
        let held: Vec<_> = silent.incoming().take(4).collect();
        std::thread::sleep(Duration::from_secs(30));
        drop(held);
    });

    let sandbox = Sandbox::new();
    sandbox.register("qa", "up", &up, &[]);
    sandbox.register("qa", "stopped", &stopped, &[]);
    for (db, port) in [("closed", closed_port), ("silent", silent_port)] {
        Run::new(&sandbox)
            .args(&format!("registry add --env qa --db {db} --host 127.0.0.1 --port {port}"))
            .args("--admin-user postgres")
            .stderr_contains(&format!("added qa/{db}"))
            .run();
    }
    let started = Instant::now();
    let vars = [("PGPASSWORD", up.password()), ("PGCONNECT_TIMEOUT", "2")];
    let rows = check(&sandbox, &vars)
        .args("--env qa")
        .expect(3)
        .stderr_contains(&format!(
            "hint: qa/closed: is PostgreSQL running on 127.0.0.1:{closed_port}"
        ))
        .rows();
    let elapsed = started.elapsed();
    let by_db = |db: &str| rows.iter().find(|r| r["db"] == db).unwrap().clone();
    assert_eq!(by_db("up")["reachable"], true);
    assert_eq!(by_db("stopped")["error"], "connection refused");
    assert_eq!(by_db("closed")["error"], "connection refused");
    assert_eq!(by_db("silent")["error"], "timed out after 2 s");
    // The timeout is the feature: without it the silent target would hold
    // the run for the 30 s its listener keeps the connection. 10 s leaves a
    // loaded machine room and still proves the 2 s were honoured.
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");

    let rows = check(&sandbox, &vars)
        .args("--env qa --db closed --db stopped")
        .expect(1)
        .stderr_contains("hint: qa/closed: is PostgreSQL running")
        .rows();
    assert_eq!(rows.len(), 2);
}

fn a_standby_is_reported_in_recovery() {
    let primary = Cluster::start();
    let standby = Cluster::standby_of(&primary);
    let sandbox = Sandbox::new();
    sandbox.register("primary", "postgres", &primary, &[]);
    sandbox.register("standby", "postgres", &standby, &[]);
    let rows = check(&sandbox, &[("PGPASSWORD", primary.password())]).rows();
    let by_env = |env: &str| rows.iter().find(|r| r["env"] == env).unwrap().clone();
    assert_eq!(by_env("primary")["in_recovery"], false);
    assert_eq!(by_env("standby")["in_recovery"], true);
}

/// The default `--jobs` is far more than a server's spare connection
/// slots: `registry check`, a session per target, takes turns per cluster.
fn many_targets_on_one_cluster_are_checked_a_few_at_a_time() {
    let pg = Cluster::builder()
        .setting("max_connections = 8")
        .setting("superuser_reserved_connections = 0")
        .start();
    let sandbox = Sandbox::new();
    for i in 0..24 {
        sandbox.register(&format!("e{i}"), "postgres", &pg, &[]);
    }
    let rows = check(&sandbox, &[("PGPASSWORD", pg.password())]).rows();
    assert_eq!(rows.len(), 24);
    for row in &rows {
        assert_eq!(row["reachable"], true, "{row}");
    }
    assert!(!pg.log().contains("too many clients"), "{}", pg.log());
}

fn bad_environment_and_config_are_input_errors() {
    let sandbox = Sandbox::new();
    let refused = |line: &str, message: &str| {
        Run::new(&sandbox).args(line).expect(2).stderr_contains(message).run();
    };
    Run::new(&sandbox)
        .args("registry add --env qa --db x --host 127.0.0.1")
        .stderr_contains("added qa/x")
        .run();
    Run::new(&sandbox)
        .args("registry check")
        .env("PGSSLMODE", "sometimes")
        .expect(2)
        .stderr_contains("invalid PGSSLMODE: invalid sslmode 'sometimes'")
        .run();
    Run::new(&sandbox)
        .args("registry check")
        .env("PGCONNECT_TIMEOUT", "soon")
        .expect(2)
        .stderr_contains("invalid PGCONNECT_TIMEOUT")
        .run();
    sandbox.write_config("[connection]\nlock_timeout = \"soon\"\n");
    Run::new(&sandbox)
        .args("registry check")
        .expect(2)
        .stderr_contains("config.toml")
        .stderr_contains("line 2")
        .stderr_contains("invalid duration 'soon'")
        .run();
    refused(
        "registry check --config /nonexistent/config.toml",
        "configuration file /nonexistent/config.toml does not exist",
    );
    refused("registry check --env qa --db nope", "no registry entry for env 'qa' db 'nope'");
    // A change reads the configuration too (protected envs, notifications):
    // a bad file stops it before anything is written.
    sandbox.write_config("[connection]\nlock_timeout = \"soon\"\n");
    refused("registry deactivate --env qa --db x", "invalid duration 'soon'");
    sandbox.write_config("");
    Run::new(&sandbox)
        .args("registry deactivate --env qa --db x")
        .stderr_contains("deactivated qa/x")
        .run();
    refused("registry check --env qa --db x", "qa/x is inactive");
    refused("registry check", "no active targets");
}

/// Runs `registry check` on a terminal, answering the password prompt.
fn check_on_a_terminal(sandbox: &Sandbox, answer: &str) -> (String, i32) {
    on_a_terminal(sandbox, "registry check", &[], "Password for", &format!("{answer}\n"))
}

fn on_a_terminal_the_password_is_asked_for() {
    let pg = Cluster::start();
    let sandbox = Sandbox::new();
    sandbox.register("qa", "postgres", &pg, &[]);

    let (shown, code) = check_on_a_terminal(&sandbox, pg.password());
    assert_eq!(code, 0, "{shown}");
    assert!(
        shown.contains(&format!("Password for postgres@127.0.0.1:{} (qa/postgres)", pg.port()))
    );
    assert!(!shown.contains(pg.password()), "the password was echoed:\n{shown}");

    let (shown, code) = check_on_a_terminal(&sandbox, WRONG);
    assert_eq!(code, 1, "{shown}");
    assert!(shown.contains("the password came from the prompt"), "{shown}");
    assert!(!shown.contains(WRONG), "the password was echoed:\n{shown}");
}

/// A variable pgacct reads that is not UTF-8 is an input error naming it;
/// one it does not read is none of its business. Neither panics.
fn environment_bytes_that_are_not_utf8_never_panic() {
    use std::os::unix::ffi::OsStrExt;
    let latin1 = std::ffi::OsStr::from_bytes(b"caf\xe9");
    let sandbox = Sandbox::new();
    Run::new(&sandbox)
        .args("registry add --env qa --db orders --host 127.0.0.1 --port 1")
        .stderr_contains("added qa/orders")
        .run();
    Run::new(&sandbox)
        .args("user list --env qa --all")
        .env("PGPASSWORD", latin1)
        .expect(2)
        .stderr_is("error: invalid PGPASSWORD: PGPASSWORD is not valid UTF-8\n")
        .run();
    Run::new(&sandbox)
        .args("user list --env qa --all")
        .env("PGACCT_ADMIN_PASSWORD_QA", latin1)
        .expect(2)
        .stderr_contains("PGACCT_ADMIN_PASSWORD_QA is not valid UTF-8")
        .run();
    Run::new(&sandbox).args("registry list").env("SOMETHING_ELSE", latin1).run();
}
