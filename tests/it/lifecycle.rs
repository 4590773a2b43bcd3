//! Accounts across their life: list, show, lock, unlock and drop, each run
//! with a superuser admin and with a least-privilege CREATEROLE admin (the
//! shape managed clouds give), on the system's PostgreSQL and on 17, where
//! changing a role takes ADMIN OPTION on it.

use libtest_mimic::Trial;

use crate::support::runner::{every_setup, test};

use crate::support::Run;
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
    let rows = fleet.pgacct().args("user list --env qa --all").rows();
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

    let rows = fleet.pgacct().args("user list --env qa --all --name ali*").rows();
    assert_eq!(rows.len(), 1, "{rows:?}");

    let _session = fleet.login("orders", "alice", &alice).unwrap();
    fleet
        .pg
        .client_to("orders")
        .batch_execute("CREATE TABLE owned (id int); ALTER TABLE owned OWNER TO alice")
        .unwrap();
    let shown = fleet.pgacct().args("user show --env qa --all alice").rows();
    assert_eq!(shown[0]["name"], "alice");
    assert_eq!(shown[0]["sessions"], 1);
    assert_eq!(shown[0]["owns"], serde_json::json!({"orders": 1}));
    // From 16, the CREATEROLE admin that made a role is a member of it
    // (with ADMIN OPTION): that is what lets it change the role.
    let creator_member = admin == Admin::CreateRole && version(&fleet.pg) >= 160_000;
    let members =
        if creator_member { serde_json::json!([ADMIN_ROLE]) } else { serde_json::json!([]) };
    assert_eq!(shown[0]["members"], members);
    fleet.pgacct().args("user show --env qa --all nobody").expect(1).rows();
}

fn lock_stops_logins_and_unlock_restores_them(admin: Admin, major: u32) {
    let fleet = Fleet::new(admin, Some(major), &["orders"]);
    let password = fleet.create("bob");
    let live = fleet.login("orders", "bob", &password).unwrap();

    let rows = fleet.pgacct().args("user lock --env qa --db orders bob").rows();
    assert_eq!(rows[0]["status"], "user locked", "{admin:?}");
    let Err(err) = fleet.login("orders", "bob", &password) else {
        panic!("a locked role logged in")
    };
    assert!(err.as_db_error().unwrap().message().contains("not permitted to log in"), "{err}");

    let rows = fleet.pgacct().args("user unlock --env qa --db orders bob").rows();
    assert_eq!(rows[0]["status"], "user unlocked");
    assert!(fleet.login("orders", "bob", &password).is_ok());

    // --terminate ends the session that was open all along.
    let rows = fleet.pgacct().args("user lock --env qa --db orders bob --terminate").rows();
    assert_eq!(rows[0]["status"], "user locked; 1 session ended", "{admin:?} {major:?}");
    let mut live = live;
    assert!(live.simple_query("SELECT 1").is_err(), "the session survived");

    let rows = fleet
        .pgacct()
        .args("user lock --env qa --db orders ghost")
        .expect(1)
        .stderr_contains("ghost")
        .rows();
    assert_eq!(rows[0]["status"], "user not found");
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
    let rows = fleet.pgacct().args("user lock --env qa --db orders carl --terminate").rows();
    let status = rows[0]["status"].as_str().unwrap();
    assert!(
        status.starts_with(
            "user locked; 0 sessions ended; could not end 1 (the admin needs pg_signal_backend)"
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

    // No terminal and no --yes.
    fleet
        .pgacct()
        .args("user drop --env qa --db orders dora")
        .expect(2)
        .stderr_contains("--yes")
        .run();
    assert!(live.simple_query("SELECT 1").is_ok(), "nothing was touched");

    // The preflight is shown.
    let rows = fleet
        .pgacct()
        .args("user drop --env qa --db orders dora --yes")
        .stderr_contains("dora on 127.0.0.1:")
        .stderr_contains("owns 1 in legacy, 1 in orders")
        .rows();
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

    let audit = Run::new(&fleet.sandbox).args("audit show --operation user.drop").rows();
    assert_eq!(audit[0]["outcome"], "ok");
    let started =
        Run::new(&fleet.sandbox).args("audit show --operation user.drop --incomplete").rows();
    assert!(started.is_empty(), "{started:?}");
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
        let why = if fleet.admin_role() == SUPERUSER {
            // "postgres" is refused by the name rules already.
            "role name"
        } else {
            "is the admin role pgacct connects to qa/orders as"
        };
        fleet
            .pgacct()
            .args("user drop --env qa --db orders --yes")
            .arg(fleet.admin_role())
            .expect(2)
            .stderr_contains(why)
            .run();
        fleet.pg.client().batch_execute("CREATE ROLE root_too SUPERUSER LOGIN").unwrap();
        fleet
            .pgacct()
            .args("user drop --env qa --db orders root_too --yes")
            .expect(2)
            .stderr_contains("root_too is a superuser; pgacct does not drop superusers")
            .run();
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
        // The admin may grant on what it owns (a readonly role's grants).
        fleet
            .pg
            .client_to("orders")
            .batch_execute("CREATE TABLE items (id int); ALTER TABLE items OWNER TO pgacct_admin")
            .unwrap();
        for line in [
            "user create-vm --env qa --db orders --server web01 --service-port 80",
            "user create --env qa --db orders --type readonly reporter",
            "user create --env qa --db orders --type dba dana --yes",
            "user reset-password --env qa --db orders web01_80",
            "user set-search-path --env qa --db orders web01_80 app public",
        ] {
            fleet.pgacct().args(line).rows();
        }
        let check = fleet.pgacct().args("registry check").rows();
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
        let reset = fleet.pgacct().args("user reset-password --env qa --db orders foreign_app");
        if version(&fleet.pg) >= 160_000 {
            reset
                .expect(2)
                .stderr_contains("the admin pgacct_admin holds no ADMIN OPTION on foreign_app")
                .stderr_contains("hint: as a superuser: GRANT foreign_app TO pgacct_admin")
                .run();
            assert!(!fleet.pg.log().contains(r#"ALTER ROLE "foreign_app""#), "nothing was sent");
        } else {
            reset.rows();
        }
    }
}

fn the_progress_bar_is_for_terminals_only() {
    let fleet = Fleet::new(Admin::Superuser, None, &["orders", "billing"]);
    // On a pipe, no bar: stderr stays empty.
    fleet.pgacct().args("user create --env qa --all --type devqa piper").run();

    // On a terminal (script gives pgacct one), the bar is drawn; on a pipe, not.
    for args in ["user lock --env qa --all piper", "registry check", "user list --env qa --all"] {
        let command = format!("{} {args}", crate::support::PGACCT);
        let terminal = Run::of(fleet.sandbox.command("script"))
            .arg("-qec")
            .arg(command)
            .arg("/dev/null")
            .env("PGACCT_ADMIN_PASSWORD", fleet.password())
            .env("TERM", "xterm")
            .run()
            .stdout;
        assert!(
            terminal.contains("pgacct [") && terminal.contains("/2 targets"),
            "{args}: {terminal:?}"
        );
        fleet.pgacct().args(args).run();
    }
}
