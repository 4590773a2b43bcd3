//! `pgacct user grant-role` / `revoke-role`: memberships in group roles,
//! planned, confirmed where an env is protected, and audited; on the
//! oldest major, the last with one membership per role pair, the first
//! with one per grantor and the newest, with a superuser and a CREATEROLE
//! admin.

use libtest_mimic::Trial;
use serde_json::Value;

use crate::support::fleet::{ADMIN_PASSWORD, ADMIN_ROLE, Admin, Fleet, majors, version};
use crate::support::runner::{test, trial};
use crate::support::{Cluster, Run, on_a_terminal};

pub fn tests() -> Vec<Trial> {
    let mut tests = vec![
        test!(a_privileged_group_is_refused_and_nothing_changes),
        test!(a_missing_group_or_the_role_itself_is_refused),
        test!(a_protected_env_asks_on_a_terminal_and_refuses_without_one),
        test!(a_dry_run_shows_the_sql_and_changes_nothing),
    ];
    tests.extend(on_four_majors("grant_and_revoke_round_trip", 12, grant_and_revoke_round_trip));
    tests.extend(on_four_majors(
        "createrole_admin_without_admin_option_is_refused",
        16,
        createrole_admin_without_admin_option_is_refused,
    ));
    tests
}

/// `run` on 12, 15, 16 and 18 (those of them `PGACCT_TEST_MAJORS` names, from
/// `oldest` on), with each admin shape.
fn on_four_majors(name: &str, oldest: u32, run: fn(Admin, u32)) -> Vec<Trial> {
    let wanted = majors();
    [12, 15, 16, 18]
        .into_iter()
        .filter(|major| *major >= oldest && wanted.contains(major))
        .flat_map(|major| [(Admin::Superuser, major), (Admin::CreateRole, major)])
        .map(|(admin, major)| {
            let shape = match admin {
                Admin::Superuser => "superuser",
                Admin::CreateRole => "createrole",
            };
            trial(module_path!(), &format!("{name}::pg{major}_{shape}"), move || run(admin, major))
        })
        .collect()
}

/// A session as the fleet's admin: what it creates, it holds ADMIN OPTION
/// on (from 16).
fn as_admin(fleet: &Fleet) -> postgres::Client {
    match fleet.admin {
        Admin::Superuser => fleet.pg.client(),
        Admin::CreateRole => fleet.login("postgres", ADMIN_ROLE, ADMIN_PASSWORD).unwrap(),
    }
}

/// The grantors of `member`'s memberships in `group`.
fn grantors(pg: &Cluster, member: &str, group: &str) -> Vec<String> {
    pg.client()
        .query(
            "SELECT g.rolname::text FROM pg_auth_members m
               JOIN pg_roles r ON r.oid = m.member
               JOIN pg_roles p ON p.oid = m.roleid
               JOIN pg_roles g ON g.oid = m.grantor
              WHERE r.rolname = $1 AND p.rolname = $2 ORDER BY 1",
            &[&member, &group],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

fn audit(fleet: &Fleet, operation: &str) -> Vec<Value> {
    Run::new(&fleet.sandbox).args(&format!("audit show --operation {operation} --limit 0")).rows()
}

/// Grant, grant again, revoke, revoke again: each says what it did, the
/// catalog agrees, and the audit trail has each. From 16, the revoke ends
/// the grants of every grantor, not only the admin's.
fn grant_and_revoke_round_trip(admin: Admin, major: u32) {
    let fleet = Fleet::new(admin, Some(major), &["orders"]);
    as_admin(&fleet).batch_execute("CREATE ROLE orders_ro NOLOGIN").unwrap();
    fleet.create("alice");
    let pgacct = |args: &str| fleet.pgacct().args(&format!("{args} --env qa --db orders")).rows();

    let rows = pgacct("user grant-role alice orders_ro");
    assert_eq!(rows[0]["status"], "membership granted", "{rows:?}");
    assert_eq!(rows[0]["sql"][0], r#"GRANT "orders_ro" TO "alice""#, "{rows:?}");
    assert_eq!(grantors(&fleet.pg, "alice", "orders_ro").len(), 1);
    let granted = audit(&fleet, "user.grant-role");
    assert_eq!(granted[0]["outcome"], "ok", "{granted:?}");
    assert_eq!(granted[0]["status"], "membership granted", "{granted:?}");
    assert!(granted[0]["sql"].as_str().unwrap().contains("GRANT \"orders_ro\" TO \"alice\""));

    let rows = pgacct("user grant-role alice orders_ro");
    assert_eq!(rows[0]["status"], "already a member of orders_ro", "{rows:?}");
    assert_eq!(rows[0]["sql"], Value::Array(Vec::new()), "nothing ran: {rows:?}");
    assert_eq!(audit(&fleet, "user.grant-role")[0]["status"], "already a member of orders_ro");

    let since_16 = version(&fleet.pg) >= 160_000;
    if admin == Admin::Superuser && since_16 {
        // A second grant, by another grantor: a plain REVOKE would leave it.
        fleet
            .pg
            .client()
            .batch_execute(
                "CREATE ROLE lead NOLOGIN; GRANT orders_ro TO lead WITH ADMIN OPTION;
                 GRANT orders_ro TO alice GRANTED BY lead",
            )
            .unwrap();
        assert_eq!(grantors(&fleet.pg, "alice", "orders_ro"), ["lead", "postgres"]);
    }
    let rows = pgacct("user revoke-role alice orders_ro");
    assert_eq!(rows[0]["status"], "membership revoked", "{rows:?}");
    assert_eq!(grantors(&fleet.pg, "alice", "orders_ro"), Vec::<String>::new(), "{rows:?}");
    let sql: Vec<&str> =
        rows[0]["sql"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    let expected: Vec<String> = match (since_16, admin) {
        (false, _) => vec![r#"REVOKE "orders_ro" FROM "alice""#.into()],
        (true, Admin::Superuser) => ["lead", "postgres"]
            .iter()
            .map(|g| format!(r#"REVOKE "orders_ro" FROM "alice" GRANTED BY "{g}""#))
            .collect(),
        (true, Admin::CreateRole) => {
            vec![format!(r#"REVOKE "orders_ro" FROM "alice" GRANTED BY "{ADMIN_ROLE}""#)]
        }
    };
    assert_eq!(sql, expected);
    assert_eq!(audit(&fleet, "user.revoke-role")[0]["outcome"], "ok");

    let rows = pgacct("user revoke-role alice orders_ro");
    assert_eq!(rows[0]["status"], "not a member of orders_ro", "{rows:?}");
    assert_eq!(rows[0]["sql"], Value::Array(Vec::new()), "nothing ran: {rows:?}");
}

/// From 16, a CREATEROLE admin grants and revokes only groups it holds
/// ADMIN OPTION on, and revokes only grants made by itself (or a role whose
/// privileges it has): the plan refuses the rest, naming what to run as a
/// superuser. (A superuser admin passes these checks.)
fn createrole_admin_without_admin_option_is_refused(admin: Admin, major: u32) {
    let fleet = Fleet::new(admin, Some(major), &["orders"]);
    fleet.pg.client().batch_execute("CREATE ROLE orders_ro NOLOGIN").unwrap();
    fleet.create("alice");
    let grant = fleet.pgacct().args("user grant-role --env qa --db orders alice orders_ro");
    if admin == Admin::Superuser {
        grant.args("-q").run();
        fleet.pgacct().args("user revoke-role --env qa --db orders alice orders_ro -q").run();
        assert!(grantors(&fleet.pg, "alice", "orders_ro").is_empty());
        return;
    }
    grant
        .expect(2)
        .stderr_contains(&format!(
            "the admin {ADMIN_ROLE} holds no ADMIN OPTION on orders_ro, which PostgreSQL 16 and \
             later require to grant membership in it; nothing was changed"
        ))
        .stderr_contains(&format!(
            "hint: as a superuser: GRANT orders_ro TO {ADMIN_ROLE} WITH ADMIN OPTION"
        ))
        .run();
    assert!(grantors(&fleet.pg, "alice", "orders_ro").is_empty());

    // Given ADMIN OPTION, it may revoke its own grants, not the superuser's.
    fleet
        .pg
        .client()
        .batch_execute(&format!(
            "GRANT orders_ro TO {ADMIN_ROLE} WITH ADMIN TRUE, INHERIT FALSE, SET FALSE;
             GRANT orders_ro TO alice"
        ))
        .unwrap();
    fleet
        .pgacct()
        .args("user revoke-role --env qa --db orders alice orders_ro")
        .expect(2)
        .stderr_contains(&format!(
            "alice is a member of orders_ro by a grant of postgres, which the admin {ADMIN_ROLE} \
             may not revoke"
        ))
        .stderr_contains("hint: as a superuser: REVOKE orders_ro FROM alice GRANTED BY postgres")
        .run();
    assert_eq!(grantors(&fleet.pg, "alice", "orders_ro"), ["postgres"], "nothing was changed");
    // What PostgreSQL itself says to what the plan refused.
    let err = as_admin(&fleet)
        .batch_execute("REVOKE orders_ro FROM alice GRANTED BY postgres")
        .unwrap_err();
    let message = err.as_db_error().unwrap().message();
    assert!(message.contains("permission denied to revoke privileges granted by"), "{message}");
}

fn a_privileged_group_is_refused_and_nothing_changes() {
    let fleet = Fleet::new(Admin::Superuser, None, &["orders"]);
    fleet
        .pg
        .client()
        .batch_execute("CREATE ROLE files NOLOGIN; GRANT pg_read_server_files TO files")
        .unwrap();
    fleet.create("alice");
    fleet
        .pgacct()
        .args("user grant-role --env qa --db orders alice files")
        .expect(2)
        .stderr_contains(
            "role files is a member of pg_read_server_files, a role with access to the server's \
             files or programs: pgacct does not grant it; nothing was changed",
        )
        .stderr_contains("hint: if alice is to have that power, grant it by hand as a superuser")
        .run();
    assert!(grantors(&fleet.pg, "alice", "files").is_empty());
    assert!(audit(&fleet, "user.grant-role").is_empty(), "refused before the journal");
    fleet.pg.client().batch_execute("CREATE ROLE root SUPERUSER NOLOGIN").unwrap();
    fleet
        .pgacct()
        .args("user grant-role --env qa --db orders alice root")
        .expect(2)
        .stderr_contains("role root is a superuser: pgacct does not grant it")
        .run();
    assert!(grantors(&fleet.pg, "alice", "root").is_empty());
}

fn a_missing_group_or_the_role_itself_is_refused() {
    let fleet = Fleet::new(Admin::Superuser, None, &["orders"]);
    fleet.create("alice");
    fleet
        .pgacct()
        .args("user grant-role --env qa --db orders alice nope")
        .expect(2)
        .stderr_contains("role nope does not exist, so alice cannot be made a member of it")
        .run();
    fleet
        .pgacct()
        .args("user revoke-role --env qa --db orders alice alice")
        .expect(2)
        .stderr_contains("names alice as both the role and the group")
        .run();
    fleet.pg.client().batch_execute("CREATE ROLE orders_ro NOLOGIN").unwrap();
    let rows = fleet
        .pgacct()
        .args("user grant-role --env qa --db orders ghost orders_ro")
        .expect(1)
        .any_stderr()
        .rows();
    assert_eq!(rows[0]["status"], "user not found", "{rows:?}");
}

fn a_protected_env_asks_on_a_terminal_and_refuses_without_one() {
    let fleet = Fleet::new(Admin::Superuser, None, &["orders"]);
    fleet.pg.client().batch_execute("CREATE ROLE orders_ro NOLOGIN").unwrap();
    fleet.create("alice");
    fleet.sandbox.write_config("[env.qa]\nprotected = true\n");
    fleet
        .pgacct()
        .args("user grant-role --env qa --db orders alice orders_ro")
        .expect(2)
        .stderr_contains("qa/orders is protected, and there is no terminal")
        .run();
    assert!(grantors(&fleet.pg, "alice", "orders_ro").is_empty());
    let rows =
        fleet.pgacct().args("user grant-role --env qa --db orders alice orders_ro --yes").rows();
    assert_eq!(rows[0]["status"], "membership granted", "{rows:?}");
    // On a terminal it asks, and a yes revokes.
    let (shown, code) = on_a_terminal(
        &fleet.sandbox,
        "user revoke-role --env qa --db orders alice orders_ro",
        &[("PGACCT_ADMIN_PASSWORD", fleet.password())],
        "Revoke orders_ro from alice on qa/orders?",
        "y\n",
    );
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("membership revoked"), "{shown}");
    assert!(grantors(&fleet.pg, "alice", "orders_ro").is_empty());
}

fn a_dry_run_shows_the_sql_and_changes_nothing() {
    let fleet = Fleet::new(Admin::Superuser, None, &["orders"]);
    fleet.pg.client().batch_execute("CREATE ROLE orders_ro NOLOGIN").unwrap();
    fleet.create("alice");
    let ran = fleet
        .pgacct()
        .args("user grant-role --env qa --db orders alice orders_ro --dry-run")
        .stderr_contains("--dry-run: nothing was changed")
        .run();
    assert!(ran.stdout.contains("would grant membership in orders_ro"), "{}", ran.stdout);
    assert!(ran.stdout.contains("GRANT \"orders_ro\" TO \"alice\";"), "{}", ran.stdout);
    assert!(grantors(&fleet.pg, "alice", "orders_ro").is_empty());
    assert!(audit(&fleet, "user.grant-role").is_empty());
}
