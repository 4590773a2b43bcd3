//! What differs between PostgreSQL majors, run on every supported major
//! (12 to 18) with a superuser and with a CREATEROLE admin: provisioning,
//! the server's SCRAM iteration count, and md5
//! passwords left behind. (Drops and the CREATEROLE rules of 16 are in
//! lifecycle.rs and safety.rs, also per setup.)

use libtest_mimic::Trial;
use serde_json::Value;

use crate::support::fleet::{Admin, Fleet, version};
use crate::support::runner::every_setup;
use crate::support::{Cluster, Run};

pub fn tests() -> Vec<Trial> {
    [
        every_setup!(create_reset_and_search_path_work),
        every_setup!(verifiers_use_the_servers_scram_iterations),
        every_setup!(an_md5_password_is_replaced_by_a_scram_verifier),
        every_setup!(the_server_answers_what_a_plan_leaves_to_it),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn run(fleet: &Fleet, args: &str) -> Vec<Value> {
    Run::new(&fleet.sandbox).env("PGACCT_ADMIN_PASSWORD", fleet.password()).args(args).rows()
}

fn settings(fleet: &Fleet, role: &str, db: &str) -> Vec<String> {
    fleet
        .pg
        .client()
        .query_one(
            "SELECT coalesce(s.setconfig, '{}') FROM pg_roles r
             LEFT JOIN pg_db_role_setting s ON s.setrole = r.oid
                 AND s.setdatabase = (SELECT oid FROM pg_database WHERE datname = $2)
             WHERE r.rolname = $1",
            &[&role, &db],
        )
        .unwrap()
        .get(0)
}

fn create_reset_and_search_path_work(admin: Admin, major: u32) {
    let fleet = Fleet::new(admin, Some(major), &["orders", "billing"]);
    let rows = run(&fleet, "user create-vm --env qa --all --server web01 --service-port 80");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["status"], "user created", "{rows:?}");
    let password = rows[0]["password"].as_str().unwrap();
    assert!(fleet.login("billing", "web01_80", password).is_ok());
    let limit: i32 = fleet
        .pg
        .client()
        .query_one("SELECT rolconnlimit FROM pg_roles WHERE rolname = 'web01_80'", &[])
        .unwrap()
        .get(0);
    assert_eq!(limit, 200);

    let rows = run(&fleet, "user reset-password --env qa --all web01_80");
    let new = rows[0]["password"].as_str().unwrap();
    assert_ne!(new, password);
    assert!(fleet.login("orders", "web01_80", new).is_ok());
    assert!(fleet.login("orders", "web01_80", password).is_err(), "the old password is gone");

    run(&fleet, "user set-search-path --env qa --all web01_80 app public");
    for db in ["orders", "billing"] {
        assert_eq!(settings(&fleet, "web01_80", db), ["search_path=app, public"], "{db}");
    }
}

/// From 16 on, verifiers use the server's `scram_iterations`; before, the
/// count is libpq's fixed 4096.
fn verifiers_use_the_servers_scram_iterations(admin: Admin, major: u32) {
    let fleet = Fleet::new(admin, Some(major), &["orders"]);
    let has_setting = version(&fleet.pg) >= 160_000;
    if has_setting {
        fleet.pg.client().simple_query("ALTER SYSTEM SET scram_iterations = 10000").unwrap();
        fleet.pg.client().simple_query("SELECT pg_reload_conf()").unwrap();
    }
    let check = run(&fleet, "registry check --env qa");
    let expected = if has_setting { 10000 } else { 4096 };
    if has_setting {
        assert_eq!(check[0]["scram_iterations"], expected, "{check:?}");
    }
    let rows = run(&fleet, "user create --env qa --db orders --type devqa hank");
    let verifier = fleet.pg.verifier("hank").unwrap();
    assert!(verifier.starts_with(&format!("SCRAM-SHA-256${expected}:")), "{verifier}");
    assert!(fleet.login("orders", "hank", rows[0]["password"].as_str().unwrap()).is_ok());
}

/// An md5 hash left by an older tool (deprecated in 18) is reported, and a
/// reset replaces it with a SCRAM verifier; pgacct never sets one itself.
fn an_md5_password_is_replaced_by_a_scram_verifier(admin: Admin, major: u32) {
    let fleet = Fleet::new(admin, Some(major), &["orders"]);
    // Made by the admin, so that a CREATEROLE admin on 16+ holds ADMIN on it.
    let mut own = fleet.login("postgres", fleet.admin_role(), fleet.password()).unwrap();
    own.batch_execute(
        "SET password_encryption = 'md5'; CREATE ROLE legacy LOGIN PASSWORD 'old-Pw-1'",
    )
    .unwrap();
    assert!(fleet.pg.verifier("legacy").unwrap().starts_with("md5"));

    let shown = run(&fleet, "user show --env qa --db orders legacy");
    let kind = match admin {
        Admin::Superuser => "md5",
        Admin::CreateRole => "unknown", // pg_authid is for superusers only
    };
    assert_eq!(shown[0]["password"], kind, "{shown:?}");

    let rows = run(&fleet, "user reset-password --env qa --db orders legacy");
    assert_eq!(rows[0]["status"], "password reset", "{rows:?}");
    assert!(fleet.pg.verifier("legacy").unwrap().starts_with("SCRAM-SHA-256$"));
    assert!(fleet.login("orders", "legacy", rows[0]["password"].as_str().unwrap()).is_ok());
    let shown = run(&fleet, "user show --env qa --db orders legacy");
    let kind = if admin == Admin::Superuser { "scram" } else { "unknown" };
    assert_eq!(shown[0]["password"], kind, "{shown:?}");
}

/// A superuser's reset or create reads nothing before it runs (one round
/// trip): the server's answer tells what a plan would have asked, with the
/// same results as when a plan asks (a CREATEROLE admin's, or a dry run's):
/// a role that is missing or there already, and a standby, which before
/// PostgreSQL 14 does not say so as the session starts.
fn the_server_answers_what_a_plan_leaves_to_it(admin: Admin, major: u32) {
    let fleet = Fleet::new(admin, Some(major), &["orders"]);
    let missing =
        fleet.pgacct().args("user reset-password --env qa --all nobody").expect(1).any_stderr();
    let row = &missing.rows()[0];
    assert_eq!(row["status"], "user not found", "{row}");
    assert_eq!(row["error"], "role nobody does not exist");
    assert_eq!(row["sql"], serde_json::json!([]), "nothing ran, as far as anyone can tell");

    let password = fleet.create("app_user");
    let again =
        fleet.pgacct().args("user create --env qa --db orders --type devqa app_user").rows();
    assert_eq!(again[0]["status"], "user already exists", "{again:?}");
    assert_eq!(again[0]["sql"], serde_json::json!([]));
    assert!(again[0]["password"].is_null());
    assert!(fleet.login("orders", "app_user", &password).is_ok(), "left as it was");

    let standby = Cluster::standby_of(&fleet.pg);
    fleet.sandbox.register("replica", "orders", &standby, &["--admin-user", fleet.admin_role()]);
    for change in [
        "user reset-password --env replica --all app_user",
        "user create --env replica --db orders --type devqa other_user",
    ] {
        let rows = fleet.pgacct().args(change).expect(1).any_stderr().rows();
        assert_eq!(rows[0]["outcome"], "failed", "{change}: {rows:?}");
        let error = rows[0]["error"].as_str().unwrap();
        assert!(error.contains("read-only standby"), "{change}: {error}");
        assert_eq!(rows[0]["sql"], serde_json::json!([]), "{change}");
    }
    assert!(fleet.login("orders", "app_user", &password).is_ok(), "the password is unchanged");
}
