//! The audit trail as a security reviewer meets it: every registry change
//! and failure recorded with its fields, filters that select, a chain that
//! survives concurrency and exposes tampering, and operations cut short.

use libtest_mimic::Trial;

use crate::support::runner::{both_stores, test};

use serde_json::Value;

use crate::support::{Pause, Run, Sandbox, add_twenty_targets_at_once};

/// The trail's scenarios on a local file and on a team store.
pub fn tests() -> Vec<Trial> {
    [
        both_stores!(every_registry_change_and_failure_is_recorded),
        both_stores!(filters_select_the_right_operations),
        both_stores!(input_errors_and_dry_runs_leave_no_record),
        both_stores!(twenty_concurrent_changes_leave_one_valid_chain),
        both_stores!(edits_deletions_and_swaps_are_found_at_the_right_record),
        both_stores!(a_noted_head_exposes_a_trail_cut_short),
        both_stores!(an_operation_killed_midway_shows_as_incomplete),
        vec![test!(the_trail_refuses_plain_changes)],
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// `audit show` with these filters: its rows.
fn show(sandbox: &Sandbox, filters: &[&str]) -> Vec<Value> {
    Run::new(sandbox).args("audit show").arg_list(filters).rows()
}

/// `audit verify` expected to end with `code`: its report.
fn verify(sandbox: &Sandbox, args: &[&str], code: i32) -> Value {
    Run::new(sandbox).args("audit verify").arg_list(args).expect(code).json()
}

/// A trail with one of each registry change, and a failed operation: a
/// lock on a target where nothing listens (port 1 refuses at once).
fn trail(sandbox: &Sandbox) {
    let quietly = |line: &str| Run::new(sandbox).args(line).arg("-q").run();
    quietly("registry add --env prod --db orders --host 127.0.0.1 --port 1 --ticket CHG-1");
    Run::new(sandbox)
        .args("user lock --env prod --db orders ghost -q")
        .expect(1)
        .stderr_contains("hint: is PostgreSQL running on 127.0.0.1:1")
        .run();
    quietly("registry update --env prod --db orders --port 6432 --unset notes");
    quietly("registry deactivate --env prod --db orders");
    quietly("registry activate --env prod --db orders");
    let file = sandbox
        .write("more.csv", "env,db,host,port\nqa,billing,qa-db,\nprod,orders,127.0.0.1,6432\n");
    Run::new(sandbox).args("registry import -q").arg(file).run();
    quietly("registry remove --env qa --db billing");
}

fn every_registry_change_and_failure_is_recorded() {
    let sandbox = Sandbox::new();
    trail(&sandbox);
    let rows = show(&sandbox, &[]);
    let from = format!("import from {}", sandbox.path().join("more.csv").display());
    let imported = format!("target added ({from})");
    let import_summary = format!("{from}: added 1, skipped 1 already registered");
    let summary: Vec<(&str, &str, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["operation"].as_str().unwrap(),
                r["db"].as_str().unwrap_or("-"),
                r["outcome"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("registry.remove", "billing", "ok", "target removed"),
            // What an import skips is not a change: one summary instead.
            ("registry.import", "-", "ok", import_summary.as_str()),
            ("registry.import", "billing", "ok", imported.as_str()),
            ("registry.activate", "orders", "ok", "target activated"),
            ("registry.deactivate", "orders", "ok", "target deactivated"),
            ("registry.update", "orders", "ok", "target updated: port=6432, unset notes"),
            ("user.lock", "orders", "failed", "unreachable"),
            ("registry.add", "orders", "ok", "target added"),
        ]
    );
    let failed = &rows[6];
    let error = failed["error"].as_str().unwrap();
    assert!(error.contains("connection refused"), "{error}");
    assert_eq!(failed["role"], "ghost");
    let first = &rows[7];
    assert_eq!(first["ticket"], "CHG-1");
    assert_eq!(first["env"], "prod");
    assert_eq!(first["cluster"], "127.0.0.1:1");
    assert_eq!(first["role"], Value::Null);
    assert!(first["pid"].as_i64().unwrap() > 0);
    assert!(!first["actor"].as_str().unwrap().is_empty());
    assert!(!first["host"].as_str().unwrap().is_empty());
    assert!(first["duration_ms"].as_i64().unwrap() >= 0);
    let time = first["time"].as_str().unwrap();
    assert!(time.len() == 24 && time.ends_with('Z') && time.as_bytes()[19] == b'.', "{time}");
    assert!(first["started_id"].as_i64().unwrap() < first["id"].as_i64().unwrap());

    let table = Run::new(&sandbox).args("audit show").run().stdout;
    assert!(table.lines().next().unwrap().contains("outcome"), "{table}");
    assert!(
        table.lines().any(|l| l.contains("failed") && l.contains("connection refused")),
        "{table}"
    );

    let csv = Run::new(&sandbox).args("audit show --format csv").run().stdout;
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(reader.headers().unwrap().iter().next(), Some("id"));
    assert_eq!(reader.records().count(), rows.len());
}

fn filters_select_the_right_operations() {
    let sandbox = Sandbox::new();
    trail(&sandbox);
    let count = |args: &[&str]| show(&sandbox, args).len();
    assert_eq!(count(&["--env", "qa"]), 2);
    assert_eq!(count(&["--env", "prod", "--db", "orders"]), 5);
    assert_eq!(count(&["--operation", "registry.add"]), 1);
    assert_eq!(count(&["--operation", "registry"]), 7);
    assert_eq!(count(&["--operation", "user"]), 1);
    // Not a prefix match: a partial name is refused, not an empty answer.
    Run::new(&sandbox)
        .args("audit show --operation registry.ad")
        .expect(2)
        .stderr_contains("no operation is called 'registry.ad'")
        .run();
    assert_eq!(count(&["--failed"]), 1);
    assert_eq!(count(&["--incomplete"]), 0);
    assert_eq!(count(&["--limit", "3"]), 3);
    assert_eq!(count(&["--since", "1h"]), 8);
    assert_eq!(count(&["--until", "1h"]), 0);
    assert_eq!(count(&["--since", "2000-01-01", "--until", "2999-12-31"]), 8);
    assert_eq!(count(&["--since", "2999-01-01T00:00:00Z"]), 0);
    assert_eq!(count(&["--user", "nobody"]), 0);
    let actor = show(&sandbox, &[])[0]["actor"].as_str().unwrap().to_owned();
    assert_eq!(count(&["--actor", &actor]), 8);
    assert_eq!(count(&["--actor", "mallory"]), 0);

    Run::new(&sandbox)
        .args("audit show --since yesterday")
        .expect(2)
        .stderr_contains("invalid time 'yesterday'")
        .run();
    Run::new(&sandbox)
        .args("audit show --failed --incomplete")
        .expect(2)
        .stderr_contains("cannot be used with")
        .run();
}

fn input_errors_and_dry_runs_leave_no_record() {
    let sandbox = Sandbox::new();
    trail(&sandbox);
    let before = show(&sandbox, &["--limit", "0"]).len();
    Run::new(&sandbox)
        .args("registry add --env Bad --db x --host h")
        .expect(2)
        .stderr_contains("invalid env name 'Bad'")
        .run();
    Run::new(&sandbox)
        .args("registry add --env qa --db x --host h --dry-run")
        .stderr_contains("nothing written (--dry-run)")
        .run();
    Run::new(&sandbox)
        .args("registry add --env qa --db x --host h --ticket=")
        .expect(2)
        .stderr_contains("ticket")
        .run();
    assert_eq!(show(&sandbox, &["--limit", "0"]).len(), before);
}

fn twenty_concurrent_changes_leave_one_valid_chain() {
    let sandbox = Sandbox::new();
    add_twenty_targets_at_once(&sandbox);
    let rows = show(&sandbox, &["--limit", "0"]);
    assert_eq!(rows.len(), 20);
    assert!(rows.iter().all(|r| r["outcome"] == "ok" && r["operation"] == "registry.add"));
    let report = verify(&sandbox, &[], 0);
    assert_eq!(report["records"], 40);
    assert_eq!(report["intact"], true);
}

/// Changes the trail as an attacker who can write the store would: the
/// file's owner, or the team store's, without the triggers that stop
/// accidents.
fn tamper(sandbox: &Sandbox, sql: &str) {
    match sandbox.team() {
        None => {
            let conn = rusqlite::Connection::open(sandbox.registry()).unwrap();
            conn.execute_batch("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;")
                .unwrap();
            conn.execute_batch(sql).unwrap();
        }
        Some(store) => store
            .owner()
            .batch_execute(&format!(
                "ALTER TABLE audit DISABLE TRIGGER audit_append_only; {sql}
                 ALTER TABLE audit ENABLE TRIGGER audit_append_only;"
            ))
            .unwrap(),
    }
}

fn edits_deletions_and_swaps_are_found_at_the_right_record() {
    let cases = [
        (
            "UPDATE audit SET status = 'target added' WHERE id = 4;",
            4,
            "record #4 does not match its hash (edited)",
        ),
        (
            "UPDATE audit SET ticket = NULL WHERE id = 1;",
            1,
            "record #1 does not match its hash (edited)",
        ),
        ("DELETE FROM audit WHERE id = 5;", 5, "record #5 is missing (deleted)"),
        (
            "UPDATE audit SET id = -1 WHERE id = 5; UPDATE audit SET id = 5 WHERE id = 6;
             UPDATE audit SET id = 6 WHERE id = -1;",
            5,
            "record #5 does not follow record #4 (inserted, replaced or re-ordered)",
        ),
    ];
    for (sql, id, problem) in cases {
        let sandbox = Sandbox::new();
        trail(&sandbox);
        verify(&sandbox, &[], 0);
        tamper(&sandbox, sql);
        let report = verify(&sandbox, &[], 1);
        assert_eq!(report["broken_at"], id, "{sql}: {report}");
        assert_eq!(report["problem"], problem, "{sql}");
        let shown = Run::new(&sandbox).args("audit verify").expect(1).run().stdout;
        assert!(shown.contains(&format!("audit trail BROKEN: {problem}")), "{sql}: {shown}");
    }
}

fn a_noted_head_exposes_a_trail_cut_short() {
    let sandbox = Sandbox::new();
    trail(&sandbox);
    let report = verify(&sandbox, &[], 0);
    let head = format!("{}:{}", report["head_id"], report["head_hash"].as_str().unwrap());
    let shown = Run::new(&sandbox).args("audit verify").run().stdout;
    assert!(shown.contains(&format!("head: {head}")), "{shown}");

    // More operations later: the old head is still there.
    Run::new(&sandbox).args("registry add --env qa --db x --host h -q").run();
    verify(&sandbox, &["--expect", &head], 0);

    // Cutting the tail leaves a chain that is valid as far as it goes...
    let last = report["head_id"].as_i64().unwrap();
    tamper(&sandbox, &format!("DELETE FROM audit WHERE id >= {last};"));
    verify(&sandbox, &[], 0);
    // ...but not one that still holds the noted head.
    let report = verify(&sandbox, &["--expect", &head], 1);
    assert_eq!(report["problem"], format!("record #{last} is gone: the trail was cut short"));
    Run::new(&sandbox)
        .args("audit verify --expect 12:nothex")
        .expect(2)
        .stderr_contains("nothex")
        .run();
}

fn an_operation_killed_midway_shows_as_incomplete() {
    let sandbox = Sandbox::new();
    let pause = Pause::new(&sandbox);
    trail(&sandbox);
    let child =
        pause.arm(Run::new(&sandbox).args("registry add --env qa --db killed --host h")).spawn();
    pause.wait();
    let started = sandbox.count_records("db = 'killed'");
    assert_eq!(started, 1, "the started record is written before the pause");
    child.kill(); // SIGKILL

    let incomplete = show(&sandbox, &["--incomplete"]);
    assert_eq!(incomplete.len(), 1);
    assert_eq!(incomplete[0]["db"], "killed");
    assert_eq!(incomplete[0]["outcome"], "incomplete");
    assert_eq!(incomplete[0]["status"], "add target");
    assert_eq!(show(&sandbox, &[])[0]["outcome"], "incomplete");
    Run::new(&sandbox)
        .args("registry show --env qa --db killed")
        .expect(2)
        .stderr_contains("no registry entry")
        .run();
    verify(&sandbox, &[], 0);
}

fn the_trail_refuses_plain_changes() {
    let sandbox = Sandbox::new();
    trail(&sandbox);
    let conn = rusqlite::Connection::open(sandbox.registry()).unwrap();
    for sql in ["DELETE FROM audit WHERE id = 1", "UPDATE audit SET actor = 'mallory'"] {
        let err = conn.execute(sql, []).unwrap_err();
        assert!(err.to_string().contains("the audit trail is append-only"), "{sql}: {err}");
    }
}
