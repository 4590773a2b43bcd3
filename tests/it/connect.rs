//! The connection layer through `pgacct registry check`: admin passwords
//! from libpq's places in DESIGN.md's order, Unix sockets, unreachable
//! targets among reachable ones, and standbys.

use libtest_mimic::Trial;

use crate::support::runner::test;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use predicates::prelude::*;
use serde_json::Value;

use crate::support::{Cluster, Sandbox, on_a_terminal};

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
        test!(bad_environment_and_config_are_input_errors),
        test!(on_a_terminal_the_password_is_asked_for),
    ]
}

const WRONG: &str = "wrong-Zq8xv2";

/// Runs `registry check --format json` with these variables; returns the
/// rows, the exit code and stderr.
fn check(sandbox: &Sandbox, vars: &[(&str, &str)], args: &[&str]) -> (Vec<Value>, i32, String) {
    let mut cmd = sandbox.pgacct();
    cmd.args(["registry", "check", "--format", "json"]).args(args);
    for (name, value) in vars {
        cmd.env(name, value);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let rows = serde_json::from_str::<Value>(&stdout)
        .unwrap_or_else(|_| panic!("not JSON: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    let stderr = String::from_utf8(out.stderr).unwrap();
    (rows.as_array().unwrap().clone(), out.status.code().unwrap(), stderr)
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
    let run = |i: usize, first: &str, rest: &str| {
        write_pgpass(&sandbox, &pgpass(if i == variables.len() { first } else { rest }), 0o600);
        let vars: Vec<(&str, &str)> = variables
            .iter()
            .enumerate()
            .skip(i)
            .map(|(j, name)| (*name, if j == i { first } else { rest }))
            .collect();
        let (rows, code, stderr) = check(&sandbox, &vars, &[]);
        (rows[0].clone(), code, stderr)
    };
    for i in 0..=variables.len() {
        let (row, code, _) = run(i, right, WRONG);
        assert_eq!(
            (code, &row["reachable"]),
            (0, &Value::Bool(true)),
            "source {i} should win: {row}"
        );
        let (row, code, stderr) = run(i, WRONG, right);
        assert_eq!(code, 1, "source {i} with a wrong password should fail: {row}");
        assert!(row["error"].as_str().unwrap().contains("password authentication failed"), "{row}");
        let from =
            variables.get(i).map_or_else(|| "the password file".to_owned(), |v| format!("${v}"));
        assert!(stderr.contains(&format!("the password came from {from}")), "{stderr}");
    }
}

fn a_wrong_password_names_the_target_and_never_shows_the_password() {
    let pg = Cluster::start();
    let sandbox = Sandbox::new();
    sandbox.register("qa", "postgres", &pg, &[]);
    let out = sandbox
        .pgacct()
        .args(["registry", "check"])
        .env("PGPASSWORD", WRONG)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let row = stdout.lines().nth(2).unwrap();
    assert!(row.contains(" qa ") && row.contains(&format!("127.0.0.1:{}", pg.port())), "{stdout}");
    assert!(row.contains(r#"password authentication failed for user "postgres""#), "{stdout}");
    assert!(stderr.contains("hint: qa/postgres: the password came from $PGPASSWORD"), "{stderr}");
    for place in [&stdout, &stderr, &pg.log()] {
        assert!(!place.contains(WRONG), "the password leaked:\n{place}");
    }
}

fn a_world_readable_password_file_is_ignored_with_a_warning() {
    let pg = Cluster::start();
    let sandbox = Sandbox::new();
    sandbox.register("qa", "postgres", &pg, &[]);
    write_pgpass(&sandbox, &format!("*:*:*:*:{}", pg.password()), 0o644);
    let (rows, code, stderr) = check(&sandbox, &[], &[]);
    assert_eq!(code, 1);
    let pgpass = sandbox.path().join("home/.pgpass");
    assert!(
        stderr.contains(&format!(
            "warning: password file {} has group or world access (mode 0644); ignoring it",
            pgpass.display()
        )),
        "{stderr}"
    );
    let error = rows[0]["error"].as_str().unwrap();
    assert!(error.contains("(ignored: group or world readable)"), "{error}");

    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (_, code, stderr) = check(&sandbox, &[], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
}

fn with_no_password_anywhere_and_no_terminal_every_place_is_listed() {
    let pg = Cluster::start();
    let sandbox = Sandbox::new();
    sandbox.register("qa", "postgres", &pg, &[]);
    let (rows, code, stderr) = check(&sandbox, &[], &[]);
    assert_eq!(code, 1);
    let pgpass = sandbox.path().join("home/.pgpass");
    assert_eq!(
        rows[0]["error"],
        format!(
            "no password found (looked at $PGACCT_ADMIN_PASSWORD_QA, $PGACCT_ADMIN_PASSWORD, \
             $PG_ADMIN_PASS, $PGPASSWORD, {} (not found), no terminal to prompt on)",
            pgpass.display()
        )
    );
    assert!(stderr.contains("hint: qa/postgres: set PGACCT_ADMIN_PASSWORD_QA"), "{stderr}");
}

fn a_unix_socket_target_needs_no_password() {
    let pg = Cluster::start();
    let sandbox = Sandbox::new();
    sandbox
        .pgacct()
        .args(["registry", "add", "--env", "local", "--db", "postgres", "--host"])
        .arg(pg.socket_dir())
        .args(["--port", &pg.port().to_string(), "--admin-user", "postgres"])
        .assert()
        .success();
    let (rows, code, stderr) = check(&sandbox, &[], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(rows[0]["reachable"], true);
    assert_eq!(rows[0]["tls"], "no");
    assert_eq!(rows[0]["superuser"], true);
    assert!(pg.log().contains("connection authorized: user=postgres database=postgres"));
}

fn sessions_carry_the_application_name_and_timeouts() {
    let pg = Cluster::builder().setting("log_line_prefix = '%m [%p] app=%a '").start();
    let sandbox = Sandbox::new();
    sandbox.register("qa", "postgres", &pg, &[]);
    let (rows, _, _) = check(&sandbox, &[("PGPASSWORD", pg.password())], &[]);
    assert_eq!(
        (&rows[0]["lock_timeout"], &rows[0]["statement_timeout"]),
        (&"5s".into(), &"30s".into())
    );
    assert!(pg.log().lines().any(|l| l.contains(" app=pgacct LOG:  execute")), "{}", pg.log());

    sandbox.write_config("[connection]\nlock_timeout = \"1500ms\"\nstatement_timeout = \"2min\"\n");
    let vars = [("PGPASSWORD", pg.password()), ("PGAPPNAME", "nightly-audit")];
    let (rows, code, _) = check(&sandbox, &vars, &[]);
    assert_eq!(code, 0, "{rows:?}");
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
        sandbox
            .pgacct()
            .args(["registry", "add", "--env", "qa", "--db", db, "--host", "127.0.0.1"])
            .args(["--port", &port.to_string(), "--admin-user", "postgres"])
            .assert()
            .success();
    }
    let started = Instant::now();
    let vars = [("PGPASSWORD", up.password()), ("PGCONNECT_TIMEOUT", "2")];
    let (rows, code, stderr) = check(&sandbox, &vars, &["--env", "qa"]);
    let elapsed = started.elapsed();
    assert_eq!(code, 3, "{stderr}");
    let by_db = |db: &str| rows.iter().find(|r| r["db"] == db).unwrap().clone();
    assert_eq!(by_db("up")["reachable"], true);
    assert_eq!(by_db("stopped")["error"], "connection refused");
    assert_eq!(by_db("closed")["error"], "connection refused");
    assert_eq!(by_db("silent")["error"], "timed out after 2 s");
    assert!(
        stderr.contains(&format!(
            "hint: qa/closed: is PostgreSQL running on 127.0.0.1:{closed_port}"
        ))
    );
    // Concurrent: the silent target's timeout did not add to anything else.
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");

    let (rows, code, _) =
        check(&sandbox, &vars, &["--env", "qa", "--db", "closed", "--db", "stopped"]);
    assert_eq!((code, rows.len()), (1, 2));
}

fn a_standby_is_reported_in_recovery() {
    let primary = Cluster::start();
    let standby = Cluster::standby_of(&primary);
    let sandbox = Sandbox::new();
    sandbox.register("primary", "postgres", &primary, &[]);
    sandbox.register("standby", "postgres", &standby, &[]);
    let (rows, code, stderr) = check(&sandbox, &[("PGPASSWORD", primary.password())], &[]);
    assert_eq!(code, 0, "{stderr}");
    let by_env = |env: &str| rows.iter().find(|r| r["env"] == env).unwrap().clone();
    assert_eq!(by_env("primary")["in_recovery"], false);
    assert_eq!(by_env("standby")["in_recovery"], true);
}

fn bad_environment_and_config_are_input_errors() {
    let sandbox = Sandbox::new();
    sandbox
        .pgacct()
        .args(["registry", "add", "--env", "qa", "--db", "x", "--host", "127.0.0.1"])
        .assert()
        .success();
    sandbox
        .pgacct()
        .args(["registry", "check"])
        .env("PGSSLMODE", "sometimes")
        .assert()
        .code(2)
        .stderr(predicates::str::contains("invalid PGSSLMODE: invalid sslmode 'sometimes'"));
    sandbox
        .pgacct()
        .args(["registry", "check"])
        .env("PGCONNECT_TIMEOUT", "soon")
        .assert()
        .code(2)
        .stderr(predicates::str::contains("invalid PGCONNECT_TIMEOUT"));
    sandbox.write_config("[connection]\nlock_timeout = \"soon\"\n");
    sandbox.pgacct().args(["registry", "check"]).assert().code(2).stderr(
        predicates::str::contains("config.toml")
            .and(predicates::str::contains("line 2"))
            .and(predicates::str::contains("invalid duration 'soon'")),
    );
    sandbox
        .pgacct()
        .args(["registry", "check", "--config", "/nonexistent/config.toml"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "configuration file /nonexistent/config.toml does not exist",
        ));
    sandbox
        .pgacct()
        .args(["registry", "check", "--env", "qa", "--db", "nope"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("no registry entry for env 'qa' db 'nope'"));
    // A change reads the configuration too (protected envs, notifications):
    // a bad file stops it before anything is written.
    sandbox.write_config("[connection]\nlock_timeout = \"soon\"\n");
    sandbox
        .pgacct()
        .args(["registry", "deactivate", "--env", "qa", "--db", "x"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("invalid duration 'soon'"));
    sandbox.write_config("");
    sandbox
        .pgacct()
        .args(["registry", "deactivate", "--env", "qa", "--db", "x"])
        .assert()
        .success();
    sandbox
        .pgacct()
        .args(["registry", "check", "--env", "qa", "--db", "x"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("qa/x is inactive"));
    sandbox
        .pgacct()
        .args(["registry", "check"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("no active targets"));
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
