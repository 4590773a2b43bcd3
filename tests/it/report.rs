//! `pgacct user report` as a security review runs it: every role of the
//! targets' clusters with what is wrong with it, filters that select the
//! roles with a problem, and an exit code cron can alert on.

use libtest_mimic::Trial;
use serde_json::Value;

use crate::support::fleet::{Admin, Fleet};
use crate::support::local_trail::rechain;
use crate::support::runner::{test, trial};

pub fn tests() -> Vec<Trial> {
    let mut trials: Vec<Trial> = [12, 18]
        .into_iter()
        .map(|major| {
            trial(
                module_path!(),
                &format!("each_problem_is_flagged_and_selected::pg{major}"),
                move || {
                    each_problem_is_flagged_and_selected(major);
                },
            )
        })
        .collect();
    trials.push(test!(a_createrole_admin_sees_password_kinds_as_unknown));
    trials.push(test!(password_ages_come_from_a_team_trail_too));
    trials
}

/// A cluster with one role of each problem:
/// - `old_md5`: an md5 password, made outside pgacct;
/// - `soon`: made by pgacct, expiring in 5 days;
/// - `stranger`: made outside pgacct, scram;
/// - `stale`: made by pgacct, its password set 100 days ago (the audit
///   record moved back in time and the trail re-chained);
/// - `fresh`: made by pgacct today, nothing wrong.
fn fleet_of_problems(admin: Admin, major: u32) -> Fleet {
    let fleet = Fleet::new(admin, Some(major), &["orders"]);
    for name in ["soon", "stale", "fresh"] {
        fleet.create(name);
    }
    let soon = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(5 * 24 + 1))
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let mut su = fleet.pg.client();
    // Its own statement, so that the next one is not logged.
    su.batch_execute("SET log_statement = 'none'").unwrap();
    su.batch_execute(&format!(
        "SET password_encryption = 'md5';
         CREATE ROLE old_md5 LOGIN PASSWORD 'md5-era-password';
         RESET password_encryption;
         CREATE ROLE stranger LOGIN PASSWORD 'made-by-hand';
         ALTER ROLE soon VALID UNTIL '{soon}';"
    ))
    .unwrap();
    let conn = rusqlite::Connection::open(fleet.sandbox.registry()).unwrap();
    conn.execute_batch("DROP TRIGGER IF EXISTS audit_no_update").unwrap();
    let stale: i64 = conn
        .query_row(
            "SELECT id FROM audit WHERE role = 'stale' AND status = 'user created'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let old = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(100 * 24))
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    conn.execute("UPDATE audit SET ts = ?1 WHERE id = ?2", rusqlite::params![old, stale]).unwrap();
    rechain(&conn, stale, i64::MAX);
    fleet
}

fn by_role(rows: &[Value]) -> Vec<(&str, Vec<&str>)> {
    rows.iter()
        .map(|r| {
            let problems = r["problems"].as_array().unwrap().iter();
            (r["role"].as_str().unwrap(), problems.map(|p| p.as_str().unwrap()).collect())
        })
        .collect()
}

fn each_problem_is_flagged_and_selected(major: u32) {
    let fleet = fleet_of_problems(Admin::Superuser, major);
    let report = |args: &str| fleet.pgacct().args("user report --env qa --all").args(args);

    let rows = report("").rows();
    let ours: Vec<(&str, Vec<&str>)> =
        by_role(&rows).into_iter().filter(|(role, _)| *role != "postgres").collect();
    assert_eq!(
        ours,
        [
            ("fresh", vec![]),
            ("old_md5", vec!["md5", "unmanaged"]),
            ("soon", vec![]),
            ("stale", vec![]),
            ("stranger", vec!["unmanaged"]),
        ]
    );
    let row = |name: &str| rows.iter().find(|r| r["role"] == name).unwrap().clone();
    assert_eq!(row("old_md5")["password"], "md5");
    assert_eq!(row("stranger")["password"], "scram");
    assert_eq!(row("soon")["days_left"], 5);
    assert_eq!(row("stale")["password_age_days"], 100);
    assert_eq!(row("fresh")["password_age_days"], 0);
    assert_eq!(row("stranger")["password_age_days"], Value::Null, "pgacct never set it");
    assert_eq!(row("fresh")["managed"], "devqa");
    assert_eq!(row("fresh")["policy_limit"], row("fresh")["connection_limit"]);
    assert_eq!(row("postgres")["powers"][0], "SUPERUSER");

    // Each filter selects its problem; several select any of them.
    let roles = |args: &str| -> Vec<String> {
        report(args).rows().iter().map(|r| r["role"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(roles("--md5"), ["old_md5"]);
    assert_eq!(roles("--expiring-within 14d"), ["soon"]);
    assert_eq!(roles("--expiring-within 3d"), Vec::<String>::new());
    assert_eq!(roles("--older-than 90d"), ["stale"]);
    assert_eq!(roles("--unmanaged"), ["old_md5", "postgres", "stranger"]);
    assert_eq!(roles("--md5 --older-than 90d --expiring-within 14d"), ["old_md5", "soon", "stale"]);
    let flagged = by_role(&report("--expiring-within 14d --older-than 90d").rows())
        .into_iter()
        .map(|(role, problems)| (role.to_owned(), problems.join(",")))
        .collect::<Vec<_>>();
    assert_eq!(
        flagged,
        [("soon".to_owned(), "expiring".to_owned()), ("stale".into(), "old".into())]
    );

    // For cron: a match exits 1, no match exits 0; a table says why.
    report("--md5 --fail-if-any --format json")
        .expect(1)
        .stderr_is("1 role with a problem the filters ask about (--fail-if-any)\n")
        .run();
    report("--expiring-within 1d --fail-if-any").stderr_is("no roles match\n").run();
    report("--fail-if-any").expect(2).stderr_contains("--expiring-within").run();
    let table = report("--md5").run().stdout;
    assert!(table.contains("old_md5") && table.contains("md5"), "{table}");
    let csv = report("--older-than 90d --format csv").run().stdout;
    assert_eq!(csv.lines().count(), 2, "{csv}");
    for text in [&table, &csv, &fleet.pg.log()] {
        assert!(!text.contains("md5-era-password") && !text.contains("made-by-hand"));
    }
}

/// A CREATEROLE admin may not read `pg_authid`: the kind is unknown, and
/// `--md5` finds nothing rather than guessing.
fn a_createrole_admin_sees_password_kinds_as_unknown() {
    let fleet = fleet_of_problems(Admin::CreateRole, crate::support::fleet::majors()[0]);
    let rows = fleet.pgacct().args("user report --env qa --all").rows();
    assert!(rows.iter().all(|r| r["password"] == "unknown"), "{rows:?}");
    let soon = rows.iter().find(|r| r["role"] == "soon").unwrap();
    assert_eq!(soon["days_left"], 5);
    assert_eq!(soon["managed"], "devqa");
    // An empty answer to --md5 says that it could not look.
    let ran = fleet
        .pgacct()
        .args("user report --env qa --all --md5 --format json")
        .stderr_contains(
            "warning: --md5 cannot tell on 1 cluster of 1: the admin may not read pg_authid there",
        )
        .run();
    assert_eq!(ran.json(), serde_json::json!([]));
}

/// With a team store, the ages come from the shared trail: a password
/// set from another machine counts.
fn password_ages_come_from_a_team_trail_too() {
    crate::support::team::in_team_mode(|| {
        let fleet =
            Fleet::new(Admin::Superuser, Some(crate::support::fleet::majors()[0]), &["orders"]);
        assert!(fleet.sandbox.team().is_some());
        fleet.create("fresh");
        let rows = fleet.pgacct().args("user report --env qa --all --name fresh").rows();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["password_age_days"], 0);
        assert!(rows[0]["password_set"].as_str().unwrap().ends_with('Z'), "{}", rows[0]);
        let rows = fleet.pgacct().args("user report --env qa --all --name postgres").rows();
        assert_eq!(rows[0]["password_age_days"], Value::Null);
    });
}
