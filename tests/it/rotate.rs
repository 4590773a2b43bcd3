//! `pgacct user rotate`: the roles a selection finds get new passwords,
//! each delivered to its own file, through the reset path; refusals come
//! before anything changes.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use libtest_mimic::Trial;

use crate::safety::{pgacct_waits_for_a_lock, wait_until};
use crate::support::fleet::{Admin, Fleet};
use crate::support::local_trail::rechain;
use crate::support::runner::test;
use crate::support::{on_a_terminal, read_password_from};

pub fn tests() -> Vec<Trial> {
    vec![
        test!(old_passwords_are_rotated_into_files),
        test!(type_md5_and_names_select),
        test!(refusals_change_nothing),
        test!(ctrl_c_stops_and_delivers_what_committed),
        test!(a_role_that_fails_makes_it_partial),
        test!(a_protected_env_is_confirmed_once),
    ]
}

/// A fleet on qa/orders with devqa roles `names`, made by pgacct.
fn fleet_with(names: &[&str]) -> Fleet {
    let fleet = Fleet::new(Admin::Superuser, None, &["orders"]);
    for name in names {
        fleet.create(name);
    }
    fleet
}

/// Moves the record of `role`'s creation 100 days back, re-chaining the trail.
fn age_by_100_days(fleet: &Fleet, role: &str) {
    let conn = rusqlite::Connection::open(fleet.sandbox.registry()).unwrap();
    conn.execute_batch("DROP TRIGGER IF EXISTS audit_no_update").unwrap();
    let id: i64 = conn
        .query_row(
            "SELECT id FROM audit WHERE role = ?1 AND status = 'user created'",
            [role],
            |r| r.get(0),
        )
        .unwrap();
    let old = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(100 * 24))
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    conn.execute("UPDATE audit SET ts = ?1 WHERE id = ?2", rusqlite::params![old, id]).unwrap();
    rechain(&conn, id, i64::MAX);
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn resets_of(fleet: &Fleet, role: &str) -> i64 {
    fleet.sandbox.count_records(&format!(
        "outcome = 'started' AND operation = 'user.reset-password' AND role = '{role}'"
    ))
}

/// Every text the audit trail holds, for a search.
fn audit_text(fleet: &Fleet) -> String {
    let conn = rusqlite::Connection::open(fleet.sandbox.registry()).unwrap();
    let mut stmt = conn
        .prepare("SELECT coalesce(status,'') || coalesce(error,'') || coalesce(sql,'') FROM audit")
        .unwrap();
    let texts: Vec<String> =
        stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap();
    texts.join("\n")
}

fn roles_of(rows: &[serde_json::Value]) -> Vec<&str> {
    let mut roles: Vec<&str> = rows.iter().map(|r| r["role"].as_str().unwrap()).collect();
    roles.dedup();
    roles
}

fn old_passwords_are_rotated_into_files() {
    let fleet = fleet_with(&["stale_a", "stale_b", "fresh"]);
    let fresh_password = {
        // `fresh` gets its password again from a reset, so the test knows it.
        let rows = fleet
            .pgacct()
            .args("user reset-password --env qa --all fresh -q --format json")
            .run()
            .rows();
        rows[0]["password"].as_str().unwrap().to_owned()
    };
    age_by_100_days(&fleet, "stale_a");
    age_by_100_days(&fleet, "stale_b");
    let mut su = fleet.pg.client();
    su.batch_execute("CREATE ROLE stranger LOGIN PASSWORD 'made-by-hand'").unwrap();
    let fresh_verifier = fleet.pg.verifier("fresh");
    let dir: PathBuf = fleet.sandbox.path().join("rotated");

    let ran = fleet
        .pgacct()
        .args("user rotate --env qa --all --older-than 90d --secret-format env --format json")
        .arg("--secret-dir")
        .arg(&dir)
        .stderr_contains("1 role left out: pgacct never set its password here")
        .run();
    let rows = ran.rows();
    assert_eq!(roles_of(&rows), ["stale_a", "stale_b"]);
    assert!(rows.iter().all(|r| r["outcome"] == "ok"), "{rows:?}");
    assert_eq!(mode(&dir), 0o700);
    let mut passwords = Vec::new();
    for role in ["stale_a", "stale_b"] {
        let file = dir.join(format!("{role}.env"));
        assert_eq!(mode(&file), 0o600);
        let row = rows.iter().find(|r| r["role"] == role).unwrap();
        assert_eq!(row["file"], file.display().to_string());
        let password = read_password_from(&file);
        fleet.login("orders", role, &password).expect("the new password logs in");
        assert_eq!(resets_of(&fleet, role), 1, "one audit operation per role");
        passwords.push(password);
    }
    // The fresh role is untouched: its verifier, and its password works.
    assert_eq!(fleet.pg.verifier("fresh"), fresh_verifier);
    fleet.login("orders", "fresh", &fresh_password).expect("fresh keeps its password");
    assert_eq!(resets_of(&fleet, "fresh"), 1, "only the reset of the test itself");
    assert_eq!(resets_of(&fleet, "stranger"), 0);
    // The passwords are in the files only.
    let (audit, log) = (audit_text(&fleet), fleet.pg.log());
    for password in &passwords {
        assert!(!ran.stdout.contains(password.as_str()), "stdout holds a password");
        assert!(!ran.stderr.contains(password.as_str()), "stderr holds a password");
        assert!(!audit.contains(password.as_str()), "the audit trail holds a password");
        assert!(!log.contains(password.as_str()), "the server log holds a password");
    }
    // Nothing is old any more: a second run selects nothing.
    fleet
        .pgacct()
        .args("user rotate --env qa --all --older-than 90d --secret-dir")
        .arg(&dir)
        .stderr_contains("no roles are selected")
        .run();
}

fn type_md5_and_names_select() {
    let fleet = fleet_with(&["qa_one", "qa_two"]);
    fleet
        .pgacct()
        .args("user create --env qa --db orders --type devlead lead_one -q --format json")
        .run();
    let mut su = fleet.pg.client();
    su.batch_execute("SET log_statement = 'none'").unwrap();
    su.batch_execute(
        "SET password_encryption = 'md5';
         CREATE ROLE old_md5 LOGIN PASSWORD 'md5-era-password';
         RESET password_encryption;",
    )
    .unwrap();
    let dir = fleet.sandbox.path().join("keys");
    let rotate = |selection: &str, sub: &str| {
        fleet
            .pgacct()
            .args(&format!("user rotate --env qa --all {selection} --format json -q"))
            .arg("--secret-dir")
            .arg(dir.join(sub))
            .run()
            .rows()
    };

    let rows = rotate("--type devlead", "t");
    assert_eq!(roles_of(&rows), ["lead_one"]);
    assert!(dir.join("t/lead_one.json").exists());

    assert!(fleet.pg.verifier("old_md5").unwrap().starts_with("md5"));
    let rows = rotate("--md5", "m");
    assert_eq!(roles_of(&rows), ["old_md5"]);
    assert!(fleet.pg.verifier("old_md5").unwrap().starts_with("SCRAM-SHA-256$"));
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("m/old_md5.json")).unwrap())
            .unwrap();
    fleet.login("orders", "old_md5", doc["password"].as_str().unwrap()).unwrap();

    let before = fleet.pg.verifier("qa_one");
    let rows = rotate("qa_two", "n");
    assert_eq!(roles_of(&rows), ["qa_two"]);
    assert_eq!(fleet.pg.verifier("qa_one"), before, "a role not named is not rotated");
    assert_eq!(resets_of(&fleet, "qa_two"), 1);
    assert_eq!(resets_of(&fleet, "qa_one"), 0);
}

fn refusals_change_nothing() {
    let fleet = fleet_with(&["app_a", "app_b"]);
    let dir = fleet.sandbox.path().join("out");
    std::fs::create_dir(&dir).unwrap();
    let rotate = |args: &str| {
        fleet
            .pgacct()
            .args(&format!("user rotate --env qa --all {args}"))
            .arg("--secret-dir")
            .arg(&dir)
    };
    let before = (fleet.pg.verifier("app_a"), fleet.pg.verifier("app_b"));
    let state = fleet.sandbox.store_state();

    rotate("").expect(2).stderr_contains("--type").run();
    // A dry run shows the plan, and makes no directory.
    let planned = fleet.sandbox.path().join("planned");
    let rows = fleet
        .pgacct()
        .args("user rotate --env qa --all app_a --dry-run --format json --secret-dir")
        .arg(&planned)
        .stderr_contains("rotate app_a (named) on qa/orders")
        .run()
        .rows();
    assert_eq!(rows[0]["status"], "would reset the password (dry run)");
    assert!(!planned.exists(), "a dry run creates nothing");
    // One existing file refuses the whole rotation, before anything.
    std::fs::write(dir.join("app_b.json"), "keep me").unwrap();
    rotate("app_a app_b").expect(2).stderr_contains("app_b.json").any_stderr().run();
    assert_eq!(std::fs::read_to_string(dir.join("app_b.json")).unwrap(), "keep me");
    assert!(!dir.join("app_a.json").exists());
    rotate("postgres app_a")
        .expect(2)
        .stderr_contains("refusing to rotate postgres (a superuser")
        .any_stderr()
        .run();
    rotate("no_such_role").expect(2).stderr_contains("no role no_such_role").any_stderr().run();
    // A protected env needs a confirmation, and there is no terminal.
    fleet.sandbox.write_config("[env.qa]\nprotected = true\n");
    rotate("app_a --force")
        .expect(2)
        .stderr_contains("qa/orders is protected, and there is no terminal")
        .any_stderr()
        .run();
    assert_eq!((fleet.pg.verifier("app_a"), fleet.pg.verifier("app_b")), before);
    assert_eq!(fleet.sandbox.store_state(), state, "nothing was recorded");
    // --yes answers it; --force replaces the file.
    rotate("app_b --force --yes -q").run();
    assert_ne!(fleet.pg.verifier("app_b"), before.1);
    assert!(std::fs::read_to_string(dir.join("app_b.json")).unwrap().contains("app_b"));
}

/// Ctrl-C while the second role's reset waits behind a lock: the first
/// role's password is in force and in its file, the second is rolled back
/// and gets no file, and the rotation ends 130 saying what was done.
fn ctrl_c_stops_and_delivers_what_committed() {
    let fleet = fleet_with(&["role_a", "role_b", "role_c"]);
    fleet.sandbox.write_config("[connection]\nlock_timeout = \"60s\"\n");
    let before_b = fleet.pg.verifier("role_b");
    let before_c = fleet.pg.verifier("role_c");
    let mut holder = fleet.pg.client();
    let mut held = holder.transaction().unwrap();
    held.batch_execute("ALTER ROLE role_b CONNECTION LIMIT 5").unwrap();
    let dir = fleet.sandbox.path().join("keys");
    let running = fleet
        .pgacct()
        .args("user rotate --env qa --all role_a role_b role_c --secret-format env --format json")
        .arg("--secret-dir")
        .arg(&dir)
        .expect(130)
        .stderr_contains("interrupted: rotated role_a")
        .spawn();
    wait_until("role_b's reset to wait", || pgacct_waits_for_a_lock(&fleet.pg));
    running.signal("INT");
    let ran = running.finish();
    held.rollback().unwrap();
    let rows = ran.rows();
    let outcome = |role: &str| rows.iter().find(|r| r["role"] == role).unwrap()["outcome"].clone();
    assert_eq!(outcome("role_a"), "ok");
    assert_eq!(outcome("role_b"), "failed");
    let password = read_password_from(&dir.join("role_a.env"));
    fleet.login("orders", "role_a", &password).expect("role_a's new password is delivered");
    assert!(!dir.join("role_b.env").exists(), "no file for a password not set");
    assert_eq!(fleet.pg.verifier("role_b"), before_b, "role_b was rolled back");
    // The rotation stopped: the next role was not started.
    let c = rows.iter().find(|r| r["role"] == "role_c").unwrap();
    assert_eq!(c["status"], "not started: interrupted");
    assert_eq!(fleet.pg.verifier("role_c"), before_c);
    assert_eq!(resets_of(&fleet, "role_c"), 0);
}

/// A role whose reset fails (a lock held past `lock_timeout`) does not stop
/// the others; the result is partial (3) with reset's retry hint.
fn a_role_that_fails_makes_it_partial() {
    let fleet = fleet_with(&["role_a", "role_b"]);
    fleet.sandbox.write_config("[connection]\nlock_timeout = \"1s\"\n");
    let before_b = fleet.pg.verifier("role_b");
    let mut holder = fleet.pg.client();
    let mut held = holder.transaction().unwrap();
    held.batch_execute("ALTER ROLE role_b CONNECTION LIMIT 5").unwrap();
    let dir = fleet.sandbox.path().join("keys");
    let ran = fleet
        .pgacct()
        .args("user rotate --env qa --all role_b role_a --format json")
        .arg("--secret-dir")
        .arg(&dir)
        .expect(3)
        .stderr_contains("pgacct user reset-password role_b --retry")
        .run();
    held.rollback().unwrap();
    let rows = ran.rows();
    let outcome = |role: &str| rows.iter().find(|r| r["role"] == role).unwrap()["outcome"].clone();
    assert_eq!(outcome("role_a"), "ok");
    assert_eq!(outcome("role_b"), "failed");
    assert!(dir.join("role_a.json").exists());
    assert!(!dir.join("role_b.json").exists());
    assert_eq!(fleet.pg.verifier("role_b"), before_b);
}

/// On a terminal, a protected env asks once for the whole rotation.
fn a_protected_env_is_confirmed_once() {
    let fleet = fleet_with(&["app_a", "app_b"]);
    fleet.sandbox.write_config("[env.qa]\nprotected = true\n");
    let before = (fleet.pg.verifier("app_a"), fleet.pg.verifier("app_b"));
    let dir = fleet.sandbox.path().join("keys");
    let (shown, code) = on_a_terminal(
        &fleet.sandbox,
        &format!("user rotate --env qa --all app_a app_b --secret-dir {}", dir.display()),
        &[("PGACCT_ADMIN_PASSWORD", fleet.password())],
        "Rotate the passwords of 2 roles?",
        "y\n",
    );
    assert_eq!(code, 0, "{shown}");
    assert_eq!(shown.matches("[y/N]").count(), 1, "asked once: {shown}");
    assert!(!shown.contains("Reset the password"), "no question per role: {shown}");
    assert_ne!(fleet.pg.verifier("app_a"), before.0);
    assert_ne!(fleet.pg.verifier("app_b"), before.1);
    assert!(dir.join("app_a.json").exists() && dir.join("app_b.json").exists());
}
