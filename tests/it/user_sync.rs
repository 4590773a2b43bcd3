//! `pgacct user sync`: which roles it takes, the policy it brings them to
//! and what it refuses; and read scope `cluster`. (The repairs themselves,
//! on every major, are in accounts.rs.)

use libtest_mimic::Trial;
use serde_json::Value;

use crate::support::fleet::{Admin, Fleet};
use crate::support::runner::test;

pub fn tests() -> Vec<Trial> {
    vec![
        test!(sync_by_type_takes_the_roles_marked_so),
        test!(sync_refuses_another_type_and_adopts_an_unmarked_role),
        test!(sync_renews_an_expiry_beyond_policy_and_leaves_a_lock),
        test!(sync_asks_in_a_protected_env_and_a_dry_run_changes_nothing),
        test!(cluster_scope_joins_the_predefined_roles_from_14_only),
        test!(powers_beyond_the_type_are_repaired_but_superuser_is_left_to_a_person),
    ]
}

fn catalog(fleet: &Fleet, sql: &str) -> postgres::Row {
    fleet.pg.client_to("orders").query_one(sql, &[]).unwrap()
}

/// Each row's role, status, and what it says about the policy (for a
/// sync: what was repaired).
fn statuses(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|r| {
            let drift: Vec<&str> =
                r["drift"].as_array().unwrap().iter().map(|d| d.as_str().unwrap()).collect();
            format!(
                "{}: {}: {}",
                r["user"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
                drift.join("; ")
            )
        })
        .collect()
}

/// `--type T` with no names takes every role whose marker says T, and no
/// other role.
fn sync_by_type_takes_the_roles_marked_so() {
    let fleet = Fleet::new(Admin::Superuser, None, &["orders"]);
    for name in ["ro1", "ro2"] {
        fleet
            .pgacct()
            .args(&format!("user create --env qa --db orders --type readonly {name} -q"))
            .rows();
    }
    fleet.create("dev1");
    fleet
        .pg
        .client()
        .batch_execute(
            "ALTER ROLE ro1 CONNECTION LIMIT 3; ALTER ROLE ro2 CONNECTION LIMIT 4;
             ALTER ROLE dev1 CONNECTION LIMIT 5",
        )
        .unwrap();
    let check =
        fleet.pgacct().args("user sync --env qa --all --type readonly --check").expect(1).rows();
    assert_eq!(check.len(), 2, "{check:?}");
    let rows = fleet.pgacct().args("user sync --env qa --all --type readonly").rows();
    assert_eq!(
        statuses(&rows),
        [
            "ro1: user synced: connection limit 3 (policy 20)",
            "ro2: user synced: connection limit 4 (policy 20)",
        ]
    );
    let limits = catalog(
        &fleet,
        "SELECT array_agg(rolconnlimit ORDER BY rolname)::int4[] FROM pg_roles
          WHERE rolname IN ('ro1', 'ro2', 'dev1')",
    );
    assert_eq!(limits.get::<_, Vec<i32>>(0), [5, 20, 20], "dev1 (devqa) is not a readonly role");
    fleet
        .pgacct()
        .args("user sync --env qa --all")
        .expect(2)
        .stderr_contains("error: name the roles to sync, or give --type T")
        .run();
}

/// A role is brought to its own type: `--type` naming another is refused
/// before anything changes (a vm account's 200 connections cut to 20 is an
/// outage). An unmarked role needs `--type`, and is adopted: its marker
/// is added.
fn sync_refuses_another_type_and_adopts_an_unmarked_role() {
    let fleet = Fleet::new(Admin::Superuser, None, &["orders"]);
    fleet
        .pgacct()
        .args("user create-vm --env qa --db orders --server web01 --service-port 80 -q")
        .rows();
    fleet
        .pgacct()
        .args("user sync --env qa --db orders web01_80 --type readonly")
        .expect(2)
        .stderr_contains("web01_80 is a vm account (its pgacct marker says so), not readonly")
        .stderr_contains("hint: leave out --type to bring it back to type vm")
        .run();
    assert!(!fleet.pg.log().contains("ALTER ROLE \"web01_80\" CONNECTION LIMIT"));
    let rows = fleet.pgacct().args("user sync --env qa --db orders web01_80 --check").rows();
    assert_eq!(rows[0]["status"], "in sync", "{rows:?}");

    fleet.pg.client().batch_execute("CREATE ROLE legacy LOGIN CONNECTION LIMIT 2").unwrap();
    fleet
        .pgacct()
        .args("user sync --env qa --db orders legacy")
        .expect(2)
        .stderr_contains("legacy has no pgacct marker")
        .stderr_contains("hint: name the type to bring it to: --type T")
        .run();
    let rows = fleet.pgacct().args("user sync --env qa --db orders legacy --type devqa").rows();
    let status = &statuses(&rows)[0];
    assert!(
        status.starts_with("legacy: user synced: no pgacct marker (adopted as type devqa)"),
        "{status}"
    );
    let row = catalog(
        &fleet,
        "SELECT rolconnlimit, shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = 'legacy'",
    );
    assert_eq!(row.get::<_, i32>(0), 20);
    assert!(row.get::<_, String>(1).starts_with(r#"pgacct {"v":1,"type":"devqa""#));
    // From now on it is a devqa account: no --type needed.
    let rows = fleet.pgacct().args("user sync --env qa --db orders legacy --check").rows();
    assert_eq!(rows[0]["status"], "in sync");
}

/// VALID UNTIL later than the type's `valid_for_days` allows is brought to
/// now plus those days; a locked role stays locked, and is said to be.
fn sync_renews_an_expiry_beyond_policy_and_leaves_a_lock() {
    let fleet = Fleet::new(Admin::Superuser, None, &["orders"]);
    fleet.sandbox.write_config("[types.temp]\nvalid_for_days = 30\n");
    fleet.pgacct().args("user create --env qa --db orders --type temp tina -q").rows();
    fleet.pg.client().batch_execute("ALTER ROLE tina VALID UNTIL 'infinity' NOLOGIN").unwrap();
    let rows = fleet.pgacct().args("user sync --env qa --db orders tina").rows();
    let status = &statuses(&rows)[0];
    assert!(
        status.contains("no expiry (policy valid_for_days = 30): it becomes valid until 20"),
        "{status}"
    );
    let audit = fleet.pgacct().args("audit show --operation user.sync").rows();
    let recorded = audit[0]["status"].as_str().unwrap();
    assert!(recorded.starts_with("user synced; repaired: "), "{recorded}");
    let row = catalog(
        &fleet,
        "SELECT rolvaliduntil BETWEEN now() + interval '29 days' AND now() + interval '31 days',
                rolcanlogin
           FROM pg_roles WHERE rolname = 'tina'",
    );
    assert!(row.get::<_, bool>(0), "VALID UNTIL is now + 30 days");
    assert!(!row.get::<_, bool>(1), "a locked role stays locked");
    let rows = fleet.pgacct().args("user sync --env qa --db orders tina --check").expect(0).rows();
    assert_eq!(rows[0]["status"], "in sync");
    assert_eq!(rows[0]["drift"], serde_json::json!(["cannot log in (NOLOGIN)"]));
}

/// A protected env asks first, and without a terminal or --yes refuses;
/// --dry-run shows the repairs' SQL and changes nothing.
fn sync_asks_in_a_protected_env_and_a_dry_run_changes_nothing() {
    let fleet = Fleet::new(Admin::Superuser, None, &["orders"]);
    fleet.sandbox.write_config("[env.qa]\nprotected = true\n");
    fleet.pgacct().args("user create --env qa --db orders --type devqa dora -q --yes").rows();
    fleet.pg.client().batch_execute("ALTER ROLE dora CONNECTION LIMIT 9").unwrap();
    fleet
        .pgacct()
        .args("user sync --env qa --db orders dora")
        .expect(2)
        .stderr_contains("qa/orders is protected, and there is no terminal to ask on")
        .run();
    let ran =
        fleet.pgacct().args("user sync --env qa --db orders dora --dry-run").any_stderr().run();
    assert!(ran.stdout.contains("ALTER ROLE \"dora\" CONNECTION LIMIT 20;"), "{}", ran.stdout);
    assert!(
        ran.stdout.contains("-- differs from policy: connection limit 9 (policy 20)"),
        "{}",
        ran.stdout
    );
    let limit = catalog(&fleet, "SELECT rolconnlimit FROM pg_roles WHERE rolname = 'dora'");
    assert_eq!(limit.get::<_, i32>(0), 9, "nothing changed");
    fleet.pgacct().args("user sync --env qa --db orders dora --yes").rows();
    let limit = catalog(&fleet, "SELECT rolconnlimit FROM pg_roles WHERE rolname = 'dora'");
    assert_eq!(limit.get::<_, i32>(0), 20);
    let audit = fleet.pgacct().args("audit show --operation user.sync").rows();
    assert_eq!(audit.len(), 1, "the dry run and the refusal wrote nothing: {audit:?}");
}

/// `read_scope = "cluster"` joins `pg_read_all_data` (`pg_write_all_data` for
/// readwrite) from PostgreSQL 14, and is refused before, where those roles
/// do not exist; a sync puts back a membership that was taken.
fn cluster_scope_joins_the_predefined_roles_from_14_only() {
    let config = "[types.readonly]\nread_scope = \"cluster\"\n\
                  [types.readwrite]\nread_scope = \"cluster\"\n";
    let fleet = Fleet::new(Admin::Superuser, Some(16), &["orders"]);
    fleet.sandbox.write_config(config);
    for (kind, name) in [("readonly", "ro"), ("readwrite", "rw")] {
        fleet
            .pgacct()
            .args(&format!("user create --env qa --db orders --type {kind} {name} -q"))
            .rows();
    }
    let row = catalog(
        &fleet,
        "SELECT pg_has_role('ro', 'pg_read_all_data', 'MEMBER'),
                pg_has_role('rw', 'pg_write_all_data', 'MEMBER')
                  AND pg_has_role('rw', 'pg_read_all_data', 'MEMBER'),
                pg_has_role('ro', 'pg_write_all_data', 'MEMBER')",
    );
    assert_eq!(
        (row.get::<_, bool>(0), row.get::<_, bool>(1), row.get::<_, bool>(2)),
        (true, true, false)
    );
    fleet.pg.client().batch_execute("REVOKE pg_read_all_data FROM ro").unwrap();
    let rows = fleet.pgacct().args("user sync --env qa --db orders ro").rows();
    let status = &statuses(&rows)[0];
    assert!(status.contains("not a member of pg_read_all_data"), "{status}");
    assert!(
        catalog(&fleet, "SELECT pg_has_role('ro', 'pg_read_all_data', 'MEMBER')").get::<_, bool>(0)
    );

    let old = Fleet::new(Admin::Superuser, Some(13), &["orders"]);
    old.sandbox.write_config(config);
    old.pgacct()
        .args("user create --env qa --db orders --type readonly ro")
        .expect(2)
        .stderr_contains("type readonly has read_scope = \"cluster\", which takes pg_read_all_data (PostgreSQL 14 and later); this server is 13")
        .run();
    assert_eq!(old.pg.can_login("ro"), None);
}

/// BYPASSRLS and REPLICATION beyond the type are taken back; SUPERUSER is
/// left to a person (taking it away is not a repair to make unseen), and
/// a check fails on it.
fn powers_beyond_the_type_are_repaired_but_superuser_is_left_to_a_person() {
    let fleet = Fleet::new(Admin::Superuser, None, &["orders"]);
    fleet.create("pat");
    fleet.create("sam");
    fleet
        .pg
        .client()
        .batch_execute("ALTER ROLE pat BYPASSRLS REPLICATION; ALTER ROLE sam SUPERUSER")
        .unwrap();
    let rows = fleet.pgacct().args("user sync --env qa --db orders pat").rows();
    let status = &statuses(&rows)[0];
    assert!(status.contains("has BYPASSRLS (policy without it)"), "{status}");
    assert!(status.contains("has REPLICATION (policy without it)"), "{status}");
    let row =
        catalog(&fleet, "SELECT rolbypassrls, rolreplication FROM pg_roles WHERE rolname = 'pat'");
    assert_eq!((row.get::<_, bool>(0), row.get::<_, bool>(1)), (false, false));

    let rows = fleet.pgacct().args("user sync --env qa --db orders sam --check").expect(1).rows();
    assert!(
        statuses(&rows)[0].contains("is a SUPERUSER (policy without it): left as it is"),
        "{rows:?}"
    );
    fleet.pgacct().args("user sync --env qa --db orders sam").rows();
    let row = catalog(&fleet, "SELECT rolsuper FROM pg_roles WHERE rolname = 'sam'");
    assert!(row.get::<_, bool>(0), "a sync never takes SUPERUSER away");
}
