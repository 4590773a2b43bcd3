//! `pgacct registry import --sync`: the registry made to match an inventory
//! of record, one transaction, one audit record per change and a summary.

use libtest_mimic::Trial;
use serde_json::{Value, json};

use crate::support::runner::both_stores;
use crate::support::{Run, Sandbox};

/// Every sync scenario on a local file and on a team store.
pub fn tests() -> Vec<Trial> {
    [
        both_stores!(sync_adds_updates_and_deactivates_listing_every_difference),
        both_stores!(a_resync_of_the_same_file_changes_nothing_and_records_one_summary),
        both_stores!(dry_run_shows_the_change_set_and_writes_nothing),
        both_stores!(a_bad_row_syncs_nothing),
        both_stores!(extra_csv_columns_are_ignored_with_one_warning),
        both_stores!(env_limits_the_scope),
        both_stores!(plain_import_records_only_what_it_adds),
    ]
    .into_iter()
    .flatten()
    .collect()
}

const HEADER: &str = "env,db,host,port,sslmode,labels,notes\n";

/// The registry the tests start from: three prod targets (orders on two
/// clusters) and one qa target.
fn registered(sandbox: &Sandbox) {
    let file = sandbox.write(
        "start.csv",
        format!(
            "{HEADER}prod,orders,h1,5432,prefer,tier=gold,\n\
             prod,orders,h2,5432,prefer,,\n\
             prod,billing,h1,5432,,,\n\
             qa,orders,qa1,5432,,,\n"
        ),
    );
    Run::new(sandbox).args("registry import -q").arg(file).run();
}

/// (operations, records) in the audit trail: an operation is a started
/// record and its outcome.
fn audit_counts(sandbox: &Sandbox) -> (i64, i64) {
    (sandbox.count_records("outcome = 'started'"), sandbox.count_records("true"))
}

fn list(sandbox: &Sandbox) -> Vec<Value> {
    Run::new(sandbox).args("registry list").rows()
}

/// (env, db, host, active) of every entry, in list order.
fn shape(sandbox: &Sandbox) -> Vec<(String, String, String, bool)> {
    list(sandbox)
        .iter()
        .map(|e| {
            (
                e["env"].as_str().unwrap().to_owned(),
                e["db"].as_str().unwrap().to_owned(),
                e["host"].as_str().unwrap().to_owned(),
                e["active"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// The file the prod sync tests use: orders on h1 changes, orders on h2
/// is unchanged, billing is gone, and invoices on h3 is new.
fn prod_file(sandbox: &Sandbox) -> std::path::PathBuf {
    sandbox.write(
        "prod.csv",
        format!(
            "{HEADER}prod,orders,h1,5432,verify-full,region=eu;tier=gold,\n\
             prod,orders,h2,5432,prefer,,\n\
             prod,invoices,h3,6432,,,new\n"
        ),
    )
}

fn sync_adds_updates_and_deactivates_listing_every_difference() {
    let sandbox = Sandbox::new();
    registered(&sandbox);
    let before = audit_counts(&sandbox);
    let file = prod_file(&sandbox);
    let report = Run::new(&sandbox)
        .args("registry import --sync")
        .arg(&file)
        .stderr_is("added 1, updated 1, deactivated 1, unchanged 1\n")
        .json();
    assert_eq!(
        report,
        json!([
            {"env": "prod", "db": "orders", "cluster": "h1:5432", "result": "updated",
             "detail": "sslmode prefer -> verify-full; labels +region=eu"},
            {"env": "prod", "db": "invoices", "cluster": "h3:6432", "result": "added", "detail": ""},
            {"env": "prod", "db": "billing", "cluster": "h1:5432", "result": "deactivated",
             "detail": ""},
        ])
    );
    let s = |x: &str| x.to_owned();
    assert_eq!(
        shape(&sandbox),
        [
            (s("prod"), s("billing"), s("h1"), false),
            (s("prod"), s("invoices"), s("h3"), true),
            (s("prod"), s("orders"), s("h1"), true),
            (s("prod"), s("orders"), s("h2"), true),
            (s("qa"), s("orders"), s("qa1"), true),
        ],
        "deactivated, never removed; qa is not in the file and is left alone"
    );
    let orders =
        Run::new(&sandbox).args("registry show --env prod --db orders --cluster h1").json();
    assert_eq!(orders["sslmode"], "verify-full");
    assert_eq!(orders["labels"], json!({"region": "eu", "tier": "gold"}));

    // One record per change (3) and one summary.
    let after = audit_counts(&sandbox);
    assert_eq!((after.0 - before.0, after.1 - before.1), (4, 8));
    let trail = Run::new(&sandbox).args("audit show --operation registry.sync").rows();
    let statuses: Vec<&str> = trail.iter().map(|r| r["status"].as_str().unwrap()).collect();
    let from = format!("sync from {}", file.display());
    assert_eq!(
        statuses,
        [
            format!("{from}: added 1, updated 1, deactivated 1, unchanged 1"),
            format!("target deactivated: not in the file ({from})"),
            format!("target added ({from})"),
            format!("target updated ({from}): sslmode prefer -> verify-full; labels +region=eu"),
        ]
    );
    assert_eq!(trail[0]["env"], "prod", "the summary names the one env synced");
    Run::new(&sandbox).args("audit verify -q").run();
}

fn a_resync_of_the_same_file_changes_nothing_and_records_one_summary() {
    let sandbox = Sandbox::new();
    registered(&sandbox);
    let file = prod_file(&sandbox);
    Run::new(&sandbox).args("registry import --sync -q").arg(&file).run();
    let listed = list(&sandbox);
    let before = audit_counts(&sandbox);
    let report = Run::new(&sandbox)
        .args("registry import --sync")
        .arg(&file)
        .stderr_is("added 0, updated 0, deactivated 0, unchanged 3\n")
        .json();
    assert_eq!(report, json!([]));
    assert_eq!(list(&sandbox), listed, "not even updated_at moves");
    let after = audit_counts(&sandbox);
    assert_eq!((after.0 - before.0, after.1 - before.1), (1, 2), "only the summary");
    // billing, deactivated by the first sync and absent from the file, is not
    // deactivated again.
    let trail = Run::new(&sandbox).args("audit show --operation registry.sync --limit 1").rows();
    assert!(trail[0]["status"].as_str().unwrap().ends_with("unchanged 3"), "{trail:?}");
}

fn dry_run_shows_the_change_set_and_writes_nothing() {
    let sandbox = Sandbox::new();
    registered(&sandbox);
    let before = sandbox.store_state();
    let file = prod_file(&sandbox);
    let report = Run::new(&sandbox)
        .args("registry import --sync --dry-run")
        .arg(&file)
        .stderr_is(
            "would add 1, update 1, deactivate 1; unchanged 1 (--dry-run: nothing written)\n",
        )
        .json();
    let results: Vec<(&str, &str)> = report
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["result"].as_str().unwrap(), r["detail"].as_str().unwrap()))
        .collect();
    assert_eq!(
        results,
        [
            ("would update", "sslmode prefer -> verify-full; labels +region=eu"),
            ("would add", ""),
            ("would deactivate", ""),
        ]
    );
    assert_eq!(sandbox.store_state(), before, "the store is as it was");
}

fn a_bad_row_syncs_nothing() {
    let sandbox = Sandbox::new();
    registered(&sandbox);
    let listed = list(&sandbox);
    let before = audit_counts(&sandbox);
    let file = sandbox.write(
        "bad.csv",
        format!("{HEADER}prod,orders,h1,5432,verify-full,,\nprod,new,h9,99999,,,\n"),
    );
    Run::new(&sandbox)
        .args("registry import --sync")
        .arg(&file)
        .expect(2)
        .stderr_contains("bad.csv: line 3: invalid port 99999")
        .run();
    assert_eq!(list(&sandbox), listed);
    assert_eq!(audit_counts(&sandbox), before);
}

fn extra_csv_columns_are_ignored_with_one_warning() {
    let sandbox = Sandbox::new();
    let file = sandbox.write(
        "cmdb.csv",
        "sys_id,env,db_name,hostname,port,owner,cost centre\n\
         a1,qa,orders,qa1,5432,ann,42\n\
         a2,qa,billing,qa1,5432,bob,42\n",
    );
    let ran = Run::new(&sandbox)
        .args("registry import --sync")
        .arg(&file)
        .stderr_contains("added 2, updated 0, deactivated 0, unchanged 0")
        .run();
    let warnings: Vec<&str> = ran.stderr.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(
        warnings,
        [format!(
            "warning: {}: ignoring the columns pgacct does not know: sys_id, owner, cost centre",
            file.display()
        )]
    );
    assert_eq!(shape(&sandbox).len(), 2);
}

fn env_limits_the_scope() {
    let sandbox = Sandbox::new();
    registered(&sandbox);
    // The file lists qa only with a new host; prod is absent from it.
    let file = sandbox.write("qa.csv", format!("{HEADER}qa,orders,qa2,5432,,,\nprod,x,h1,,,,\n"));
    Run::new(&sandbox)
        .args("registry import --sync --env qa")
        .arg(&file)
        .stderr_is(
            "left out 1 targets of other environments (--env qa)\n\
             added 1, updated 0, deactivated 1, unchanged 0\n",
        )
        .run();
    let active: Vec<(String, String, String, bool)> = shape(&sandbox);
    let prod: Vec<_> = active.iter().filter(|e| e.0 == "prod").collect();
    assert_eq!(prod.len(), 3, "prod is out of scope: nothing added there");
    assert!(prod.iter().all(|e| e.3), "and nothing deactivated there");
    let qa: Vec<(&str, bool)> =
        active.iter().filter(|e| e.0 == "qa").map(|e| (e.2.as_str(), e.3)).collect();
    assert_eq!(qa, [("qa1", false), ("qa2", true)]);
    Run::new(&sandbox)
        .args("registry import --env qa")
        .arg(&file)
        .expect(2)
        .stderr_contains("--sync")
        .run();

    // The wrong file at 3 a.m.: qa's inventory synced into prod would
    // deactivate all of prod. Refused, and nothing is touched.
    let qa_only = sandbox.write("qa-only.csv", format!("{HEADER}qa,orders,qa2,5432,,,\n"));
    let before = sandbox.store_state();
    let counts = audit_counts(&sandbox);
    Run::new(&sandbox)
        .args("registry import --sync --env prod")
        .arg(&qa_only)
        .expect(2)
        .stderr_contains("has no targets of env 'prod': a sync would deactivate every target")
        .stderr_contains("left out 1 targets of other environments (--env prod)")
        .stderr_contains("hint: check the file")
        .run();
    assert_eq!(sandbox.store_state(), before);
    assert_eq!(audit_counts(&sandbox), counts);
}

fn plain_import_records_only_what_it_adds() {
    let sandbox = Sandbox::new();
    let mut csv = String::from("env,db,host\n");
    for i in 0..200 {
        csv.push_str(&format!("load,db{i},h{}\n", i % 7));
    }
    let file = sandbox.write("many.csv", &csv);
    Run::new(&sandbox).args("registry import -q").arg(&file).run();
    assert_eq!(audit_counts(&sandbox), (201, 402), "200 adds and one summary");
    Run::new(&sandbox)
        .args("registry import")
        .arg(&file)
        .stderr_is("added 0, skipped 200 already registered\n")
        .run();
    assert_eq!(audit_counts(&sandbox), (202, 404), "every row skipped: only the summary");
    let summary = &Run::new(&sandbox).args("audit show --limit 1").rows()[0];
    assert_eq!(summary["operation"], "registry.import");
    assert_eq!(
        summary["status"],
        format!("import from {}: added 0, skipped 200 already registered", file.display())
    );
}
