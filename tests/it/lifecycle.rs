//! Accounts across their life: list, show, lock, unlock and drop, each run
//! with a superuser admin and with a least-privilege CREATEROLE admin (the
//! shape managed clouds give), on the system's PostgreSQL and on 17, where
//! changing a role takes ADMIN OPTION on it.

use libtest_mimic::Trial;

use crate::support::runner::{every_setup, test};
use serde_json::Value;

use crate::support::cluster::SUPERUSER;
use crate::support::fleet::{ADMIN_ROLE, Admin, Fleet, version};

pub fn tests() -> Vec<Trial> {
    let mut tests = vec![
        test!(a_lock_without_signal_rights_degrades),
        test!(drop_refuses_the_admin_role_and_superusers),
        test!(provisioning_works_with_a_createrole_admin),
        test!(the_progress_bar_is_for_terminals_only),
    ];
    tests.extend(every_setup!(list_and_show_report_what_the_catalogs_hold));
    tests.extend(every_setup!(lock_stops_logins_and_unlock_restores_them));
    tests.extend(every_setup!(drop_reassigns_everywhere_and_removes_the_role));
    tests
}

fn list_and_show_report_what_the_catalogs_hold(admin: Admin, major: u32) {
    let fleet = Fleet::new(admin, Some(major), &["orders", "billing"]);
    let alice = fleet.create("alice");
    fleet
        .pg
        .client()
        .batch_execute(
            "SET password_encryption = 'md5';
             CREATE ROLE legacy LOGIN CONNECTION LIMIT 3 PASSWORD 'old-secret';
             CREATE ROLE app_readers NOLOGIN;
             GRANT app_readers TO alice;
             ALTER ROLE alice IN DATABASE billing SET search_path TO app, public;",
        )
        .unwrap();
    let (rows, code) = fleet.json(&["user", "list", "--env", "qa", "--all"]);
    assert_eq!(code, 0, "{admin:?} {major:?}: {rows:?}");
    let role = |name: &str| {
        rows.iter()
            .find(|r| r["role"] == name)
            .unwrap_or_else(|| panic!("{name} missing: {rows:?}"))
            .clone()
    };
    let unknown = admin == Admin::CreateRole;
    let alice_row = role("alice");
    assert_eq!(alice_row["cluster"], format!("127.0.0.1:{}", fleet.pg.port()));
    assert_eq!(
        alice_row["targets"],
        serde_json::json!(["qa/billing", "qa/orders"]),
        "one row per cluster"
    );
    assert_eq!(alice_row["can_login"], true);
    assert_eq!(alice_row["connection_limit"], 20);
    assert_eq!(alice_row["member_of"], serde_json::json!(["app_readers"]));
    assert_eq!(
        alice_row["search_path"],
        serde_json::json!({"billing": "app, public", "orders": "public"})
    );
    assert_eq!(alice_row["password"], if unknown { "unknown" } else { "scram" }, "{admin:?}");
    let legacy = role("legacy");
    assert_eq!(legacy["password"], if unknown { "unknown" } else { "md5" }, "{admin:?}");
    assert_eq!(legacy["connection_limit"], 3);
    assert_eq!(role("app_readers")["can_login"], false);
    assert_eq!(role("app_readers")["password"], if unknown { "unknown" } else { "none" });
    assert!(!role(fleet.admin_role())["attributes"].as_array().unwrap().is_empty());

    let (rows, _) = fleet.json(&["user", "list", "--env", "qa", "--all", "--name", "ali*"]);
    assert_eq!(rows.len(), 1, "{rows:?}");

    let _session = fleet.login("orders", "alice", &alice).unwrap();
    fleet
        .pg
        .client_to("orders")
        .batch_execute("CREATE TABLE owned (id int); ALTER TABLE owned OWNER TO alice")
        .unwrap();
    let (shown, code) = fleet.json(&["user", "show", "--env", "qa", "--all", "alice"]);
    assert_eq!(code, 0);
    assert_eq!(shown[0]["name"], "alice");
    assert_eq!(shown[0]["sessions"], 1);
    assert_eq!(shown[0]["owns"], serde_json::json!({"orders": 1}));
    // From 16, the CREATEROLE admin that made a role is a member of it
    // (with ADMIN OPTION): that is what lets it change the role.
    let creator_member = admin == Admin::CreateRole && version(&fleet.pg) >= 160_000;
    let members =
        if creator_member { serde_json::json!([ADMIN_ROLE]) } else { serde_json::json!([]) };
    assert_eq!(shown[0]["members"], members);
    let (_, code) = fleet.json(&["user", "show", "--env", "qa", "--all", "nobody"]);
    assert_eq!(code, 1);
}

fn lock_stops_logins_and_unlock_restores_them(admin: Admin, major: u32) {
    let fleet = Fleet::new(admin, Some(major), &["orders"]);
    let password = fleet.create("bob");
    let live = fleet.login("orders", "bob", &password).unwrap();

    let (rows, code) = fleet.json(&["user", "lock", "--env", "qa", "--db", "orders", "bob"]);
    assert_eq!((code, rows[0]["status"].as_str().unwrap()), (0, "user locked"), "{admin:?}");
    let Err(err) = fleet.login("orders", "bob", &password) else {
        panic!("a locked role logged in")
    };
    assert!(err.as_db_error().unwrap().message().contains("not permitted to log in"), "{err}");

    let (rows, code) = fleet.json(&["user", "unlock", "--env", "qa", "--db", "orders", "bob"]);
    assert_eq!((code, rows[0]["status"].as_str().unwrap()), (0, "user unlocked"));
    assert!(fleet.login("orders", "bob", &password).is_ok());

    // --terminate ends the session that was open all along.
    let (rows, code) =
        fleet.json(&["user", "lock", "--env", "qa", "--db", "orders", "bob", "--terminate"]);
    assert_eq!(code, 0, "{rows:?}");
    assert_eq!(rows[0]["status"], "user locked; 1 session(s) ended", "{admin:?} {major:?}");
    let mut live = live;
    assert!(live.simple_query("SELECT 1").is_err(), "the session survived");

    let (_, code) = fleet.json(&["user", "lock", "--env", "qa", "--db", "orders", "ghost"]);
    assert_eq!(code, 1);
}

/// The CREATEROLE admin without `pg_signal_backend` locks, and says that it
/// could not end the sessions, instead of failing.
fn a_lock_without_signal_rights_degrades() {
    let fleet = Fleet::new(Admin::CreateRole, None, &["orders"]);
    fleet
        .pg
        .client()
        .batch_execute(&format!("REVOKE pg_signal_backend FROM {ADMIN_ROLE}"))
        .unwrap();
    let password = fleet.create("carl");
    let _live = fleet.login("orders", "carl", &password).unwrap();
    let (rows, code) =
        fleet.json(&["user", "lock", "--env", "qa", "--db", "orders", "carl", "--terminate"]);
    assert_eq!(code, 0, "{rows:?}");
    let status = rows[0]["status"].as_str().unwrap();
    assert!(
        status.starts_with(
            "user locked; 0 session(s) ended; could not end 1 (the admin needs pg_signal_backend)"
        ),
        "{status}"
    );
}

fn drop_reassigns_everywhere_and_removes_the_role(admin: Admin, major: u32) {
    let fleet = Fleet::new(admin, Some(major), &["orders"]);
    let password = fleet.create("dora");
    let heir = fleet.admin_role();
    // Objects in a registered database and in one the registry does not know.
    fleet.pg.client().batch_execute("CREATE DATABASE legacy").unwrap();
    for db in ["orders", "legacy"] {
        fleet
            .pg
            .client_to(db)
            .batch_execute(&format!(
                "CREATE SCHEMA app AUTHORIZATION {heir};
                 SET ROLE {heir}; GRANT USAGE, CREATE ON SCHEMA app TO dora; RESET ROLE;
                 CREATE TABLE app.t (id int); ALTER TABLE app.t OWNER TO dora;"
            ))
            .unwrap();
    }
    let mut live = fleet.login("orders", "dora", &password).unwrap();

    let out = fleet.run(&["user", "drop", "--env", "qa", "--db", "orders", "dora"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "no terminal and no --yes: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(live.simple_query("SELECT 1").is_ok(), "nothing was touched");

    let out = fleet.run(&[
        "user", "drop", "--env", "qa", "--db", "orders", "dora", "--yes", "--format", "json",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{admin:?} {major:?}: {}{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(stderr.contains("dora on 127.0.0.1:"), "the preflight is shown: {stderr}");
    assert!(stderr.contains("owns 1 in legacy, 1 in orders"), "{stderr}");
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["status"], "user dropped");

    let gone: i64 = fleet
        .pg
        .client()
        .query_one("SELECT count(*) FROM pg_roles WHERE rolname = 'dora'", &[])
        .unwrap()
        .get(0);
    assert_eq!(gone, 0);
    for db in ["orders", "legacy"] {
        let owner: String = fleet
            .pg
            .client_to(db)
            .query_one("SELECT tableowner::text FROM pg_tables WHERE tablename = 't'", &[])
            .unwrap()
            .get(0);
        assert_eq!(owner, heir, "{db}");
    }
    assert!(live.simple_query("SELECT 1").is_err(), "the session was ended");

    let audit = fleet
        .sandbox
        .pgacct()
        .args(["audit", "show", "--operation", "user.drop", "--format", "json"])
        .output()
        .unwrap();
    let audit: Value = serde_json::from_slice(&audit.stdout).unwrap();
    assert_eq!(audit[0]["outcome"], "ok");
    let started = fleet
        .sandbox
        .pgacct()
        .args(["audit", "show", "--operation", "user.drop", "--incomplete", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&started.stdout).trim(), "[]");
    let sql = audit[0]["sql"].as_str().unwrap();
    assert!(sql.contains("REASSIGN OWNED BY \"dora\"") && sql.contains("-- in legacy"), "{sql}");
    // The started record carries the preflight summary.
    let conn = rusqlite::Connection::open(fleet.sandbox.registry()).unwrap();
    let status: String = conn
        .query_row(
            "SELECT status FROM audit WHERE operation = 'user.drop' AND outcome = 'started'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(status.starts_with("drop user (preflight: owns 1 in legacy, 1 in orders;"), "{status}");
}

fn drop_refuses_the_admin_role_and_superusers() {
    for admin in [Admin::Superuser, Admin::CreateRole] {
        let fleet = Fleet::new(admin, None, &["orders"]);
        let out = fleet.run(&[
            "user",
            "drop",
            "--env",
            "qa",
            "--db",
            "orders",
            fleet.admin_role(),
            "--yes",
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        if fleet.admin_role() != SUPERUSER {
            // "postgres" is refused by the name rules already.
            assert!(
                stderr.contains("is the admin role pgacct connects to qa/orders as"),
                "{stderr}"
            );
        }
        fleet.pg.client().batch_execute("CREATE ROLE root_too SUPERUSER LOGIN").unwrap();
        let out =
            fleet.run(&["user", "drop", "--env", "qa", "--db", "orders", "root_too", "--yes"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("root_too is a superuser; pgacct does not drop superusers"),
            "{stderr}"
        );
        let still: i64 = fleet
            .pg
            .client()
            .query_one(
                "SELECT count(*) FROM pg_roles WHERE rolname = 'root_too' AND rolcanlogin",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(still, 1, "refused before anything changed");
    }
}

/// Everything of provisioning works for the CREATEROLE admin too.
fn provisioning_works_with_a_createrole_admin() {
    for major in [None, Some(17)] {
        let fleet = Fleet::new(Admin::CreateRole, major, &["orders"]);
        fleet.pg.client_to("orders").batch_execute("CREATE TABLE items (id int)").unwrap();
        for args in [
            vec![
                "user",
                "create-vm",
                "--env",
                "qa",
                "--db",
                "orders",
                "--server",
                "web01",
                "--service-port",
                "80",
            ],
            vec![
                "user", "create", "--env", "qa", "--db", "orders", "--type", "readonly", "reporter",
            ],
            vec![
                "user", "create", "--env", "qa", "--db", "orders", "--type", "dba", "dana", "--yes",
            ],
            vec!["user", "reset-password", "--env", "qa", "--db", "orders", "web01_80"],
            vec![
                "user",
                "set-search-path",
                "--env",
                "qa",
                "--db",
                "orders",
                "web01_80",
                "app",
                "public",
            ],
        ] {
            let (rows, code) = fleet.json(&args);
            assert_eq!(code, 0, "{major:?} {args:?}: {rows:?}");
        }
        let (check, _) = fleet.json(&["registry", "check"]);
        assert_eq!(check[0]["creates_roles"], true);
        let manages = check[0]["manages_roles"].as_str().unwrap();
        if version(&fleet.pg) >= 160_000 {
            assert!(manages.ends_with("with ADMIN OPTION"), "{manages}");
        } else {
            assert_eq!(manages, "all but superusers");
        }

        // A role someone else made: from 16, a CREATEROLE admin may not
        // change it, and the plan says so before anything changes.
        fleet.pg.client().batch_execute("CREATE ROLE foreign_app LOGIN").unwrap();
        let args = ["user", "reset-password", "--env", "qa", "--db", "orders", "foreign_app"];
        if version(&fleet.pg) >= 160_000 {
            let out = fleet.run(&args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{stderr}");
            assert!(
                stderr.contains("the admin pgacct_admin holds no ADMIN OPTION on foreign_app"),
                "{stderr}"
            );
            assert!(stderr.contains("hint: as a superuser: GRANT foreign_app TO pgacct_admin"));
            assert!(!fleet.pg.log().contains(r#"ALTER ROLE "foreign_app""#), "nothing was sent");
        } else {
            let (rows, code) = fleet.json(&args);
            assert_eq!(code, 0, "{rows:?}");
        }
    }
}

fn the_progress_bar_is_for_terminals_only() {
    let fleet = Fleet::new(Admin::Superuser, None, &["orders", "billing"]);
    let out = fleet.run(&["user", "create", "--env", "qa", "--all", "--type", "devqa", "piper"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success());
    assert!(!stderr.contains("targets") && !stderr.contains("[="), "a bar on a pipe: {stderr:?}");

    // On a terminal (script gives pgacct one), the bar is drawn; on a pipe, not.
    for args in ["user lock --env qa --all piper", "registry check", "user list --env qa --all"] {
        let command = format!("{} {args}", crate::support::PGACCT);
        let out = fleet
            .sandbox
            .command("script")
            .args(["-qec", &command, "/dev/null"])
            .env("PGACCT_ADMIN_PASSWORD", fleet.password())
            .env("TERM", "xterm")
            .output()
            .unwrap();
        let terminal = String::from_utf8_lossy(&out.stdout);
        assert!(
            terminal.contains("pgacct [") && terminal.contains("/2 targets"),
            "{args}: {terminal:?}"
        );
        let piped = fleet.run(&args.split(' ').collect::<Vec<_>>());
        assert!(!String::from_utf8_lossy(&piped.stderr).contains("targets"), "{args}");
    }
}
