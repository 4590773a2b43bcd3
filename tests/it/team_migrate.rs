//! `pgacct store migrate --from FILE`: a local registry made with the real
//! binary moves into a team store as its owner runs it, on the oldest and
//! newest majors: every record with its original time and actor, marked
//! as imported, one intact chain that a member verifies, the targets in
//! the store's table; re-running moves nothing, and after the file grows,
//! only what is new. A member may not import; a broken or rewritten file is
//! refused with nothing written; 100,000 records move in and verify.

use std::path::Path;

use libtest_mimic::Trial;
use postgres::error::SqlState;
use rusqlite::types::Value as Sql;
use serde_json::{Value, json};

use crate::support::cluster::SUPERUSER;
use crate::support::fleet::majors;
use crate::support::local_trail::{FIELDS, plain_hash, rechain};
use crate::support::runner::{test, trial};
use crate::support::{Cluster, Run, Sandbox};

pub fn tests() -> Vec<Trial> {
    let mut tests: Vec<Trial> = oldest_and_newest()
        .into_iter()
        .map(|major| {
            trial(
                module_path!(),
                &format!("a_local_trail_moves_in_whole_and_once::pg{major}"),
                move || a_local_trail_moves_in_whole_and_once(major),
            )
        })
        .collect();
    tests.extend([
        test!(a_member_may_not_import),
        test!(a_broken_file_is_refused_and_nothing_is_written),
        test!(a_record_rewritten_since_the_move_is_refused),
        test!(a_dry_run_says_what_it_would_move_and_writes_nothing),
        test!(a_hundred_thousand_records_move_in_and_verify),
        test!(a_store_of_version_1_keeps_verifying_through_the_upgrade),
        test!(a_sealed_trail_moves_in_with_its_key_only),
    ]);
    tests
}

/// The oldest and the newest of the majors under test (12 and 18 unless
/// `PGACCT_TEST_MAJORS` names fewer).
fn oldest_and_newest() -> Vec<u32> {
    let all = majors();
    let mut ends = vec![all[0], all[all.len() - 1]];
    ends.dedup();
    ends
}

const ALICE: (&str, &str) = ("alice", "alice-Migrate-Pw-1");

/// A cluster of `major` with the default store, set up by its superuser
/// (the store's owner), and alice, granted `pgacct_user` only.
fn store(major: u32) -> Cluster {
    crate::support::team::store_with(major, &[ALICE])
}

fn url(pg: &Cluster, user: &str) -> String {
    format!("postgresql://{user}@{}:{}/postgres", pg.host(), pg.port())
}

/// `pgacct store migrate --from` the sandbox's registry, as the store's owner.
fn migrate(local: &Sandbox, pg: &Cluster, args: &str) -> Run {
    Run::new(local)
        .args("store migrate --from")
        .arg(local.registry())
        .args("--registry")
        .arg(url(pg, SUPERUSER))
        .args(args)
        .env("PGPASSWORD", pg.password())
}

/// The stderr summary of a move from `local` into `pg`.
fn summary(local: &Sandbox, pg: &Cluster, counts: &str) -> String {
    format!(
        "{counts} from {} into schema pgacct of database postgres on {}:{}\n",
        local.registry().display(),
        pg.host(),
        pg.port()
    )
}

/// A pgacct command as alice, on the team store, on `machine`.
fn as_alice(machine: &Sandbox, pg: &Cluster, args: &str) -> Run {
    Run::new(machine).args(args).args("--registry").arg(url(pg, ALICE.0)).env("PGPASSWORD", ALICE.1)
}

/// A local trail made with the real binary: registry adds, an update, an
/// import, and a failed `user lock` (port 1 refuses at once). Two targets.
fn trail(local: &Sandbox) {
    let quietly = |line: &str| Run::new(local).args(line).arg("-q").run();
    quietly("registry add --env prod --db orders --host 127.0.0.1 --port 1 --ticket CHG-1");
    Run::new(local)
        .args("user lock --env prod --db orders ghost -q")
        .expect(1)
        .stderr_contains("hint: is PostgreSQL running on 127.0.0.1:1")
        .run();
    quietly("registry update --env prod --db orders --label tier=gold --notes primary");
    let file = local.write("more.csv", "env,db,host,port\nqa,billing,qa-db,6432\n");
    Run::new(local).args("registry import -q").arg(file).run();
}

/// The local file's records: `(id, ts, outcome, started_id, actor, host,
/// pid, operation, status, hash)`, in id order.
type LocalRecord = (i64, String, String, Option<i64>, String, String, i64, String, String, String);

fn local_records(path: &Path) -> Vec<LocalRecord> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT id, ts, outcome, started_id, actor, host, pid, operation, status, hash
               FROM audit ORDER BY id",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
            r.get(7)?,
            r.get(8)?,
            r.get(9)?,
        ))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// The store's imported records as [`LocalRecord`]s (ids and started ids
/// those of the file, the time as the file spells it), in store order.
fn imported_records(pg: &Cluster) -> Vec<LocalRecord> {
    pg.client()
        .query(
            "SELECT a.imported_id,
                    to_char(a.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),
                    a.outcome, s.imported_id, a.actor, a.host, a.pid, a.operation, a.status,
                    a.imported_hash, a.os_user, a.imported, a.imported_from
               FROM pgacct.audit a LEFT JOIN pgacct.audit s ON s.id = a.started_id
              WHERE a.imported_id IS NOT NULL
              ORDER BY a.id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| {
            let actor: String = r.get(4);
            assert_eq!(r.get::<_, String>(10), actor, "os_user is the file's actor");
            assert!(r.get::<_, bool>(11), "marked as imported");
            let from: String = r.get(12);
            assert!(from.starts_with("file:") && from.len() == 5 + 64, "{from}");
            (
                r.get(0),
                r.get(1),
                r.get(2),
                r.get(3),
                actor,
                r.get(5),
                r.get(6),
                r.get(7),
                r.get(8),
                r.get(9),
            )
        })
        .collect()
}

/// How many records and targets the store holds.
fn counts(pg: &Cluster) -> (i64, i64) {
    let row = pg
        .client()
        .query_one(
            "SELECT (SELECT count(*) FROM pgacct.audit), (SELECT count(*) FROM pgacct.targets)",
            &[],
        )
        .unwrap();
    (row.get(0), row.get(1))
}

fn intact(local: &Sandbox, pg: &Cluster, records: i64) {
    let report = as_alice(local, pg, "audit verify --format json").run().json();
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(report["records"], records, "{report}");
}

/// The file's targets (`registry list`) are the rows of the store's table.
fn targets_match(local: &Sandbox, pg: &Cluster) {
    let listed = Run::new(local).args("registry list").rows();
    let rows = pg
        .client()
        .query(
            "SELECT env, db, host, port, labels, notes, active FROM pgacct.targets
              ORDER BY env, db",
            &[],
        )
        .unwrap();
    let in_store: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "env": r.get::<_, String>(0), "db": r.get::<_, String>(1),
                "host": r.get::<_, String>(2), "port": r.get::<_, i32>(3),
                "labels": r.get::<_, String>(4), "notes": r.get::<_, Option<String>>(5),
                "active": r.get::<_, bool>(6),
            })
        })
        .collect();
    let in_file: Vec<Value> = listed
        .iter()
        .map(|t| {
            let labels: Vec<String> = t["labels"]
                .as_object()
                .map(|m| m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap())).collect())
                .unwrap_or_default();
            json!({
                "env": t["env"], "db": t["db"], "host": t["host"], "port": t["port"],
                "labels": labels.join(";"), "notes": t["notes"], "active": t["active"],
            })
        })
        .collect();
    assert_eq!(in_store, in_file);
}

fn a_local_trail_moves_in_whole_and_once(major: u32) {
    let pg = store(major);
    let local = Sandbox::new();
    trail(&local);
    let records = local_records(&local.registry());
    let n = records.len();
    assert_eq!(n, 10, "{records:?}");
    // A record of the store's own before the move: the file's ids are not
    // the store's.
    pg.login("postgres", ALICE.0, ALICE.1)
        .unwrap()
        .batch_execute(
            "SELECT pgacct.append_audit('ok', NULL, 'alice', 'laptop', 1, NULL, NULL,
                 'registry.add', 'dev', 'x', 'h:5432', NULL, 'target added', NULL, 1, NULL)",
        )
        .unwrap();

    migrate(&local, &pg, "")
        .stderr_is(&summary(
            &local,
            &pg,
            &format!("moved 2 targets (0 already there) and {n} audit records (0 already there)"),
        ))
        .run();

    // Every record, in order, with its time, actor, host, pid, outcome and
    // the started record it answers, as in the file.
    assert_eq!(imported_records(&pg), records);
    intact(&local, &pg, 12);

    // audit show, as a member: the file's operations with their ids there,
    // and the move, by the owner.
    let shown = as_alice(&local, &pg, "audit show").rows();
    let local_shown = Run::new(&local).args("audit show").rows();
    assert_eq!(shown.len(), local_shown.len() + 2);
    assert_eq!(shown[shown.len() - 1]["actor"], ALICE.0);
    let moved = &shown[0];
    assert_eq!(moved["operation"], "store.migrate", "{moved}");
    assert_eq!(moved["actor"], SUPERUSER, "{moved}");
    assert_eq!(moved["imported_id"], Value::Null, "{moved}");
    let trail_id = format!("file:{}", records[0].9);
    assert_eq!(
        moved["status"],
        format!(
            "imported {n} records and 2 targets from {} (trail {trail_id})",
            local.registry().display()
        ),
        "{moved}"
    );
    for (team, mine) in shown[1..].iter().zip(&local_shown) {
        assert_eq!(team["imported_id"], mine["id"], "{team}");
        for field in ["time", "outcome", "operation", "env", "db", "role", "status", "error"] {
            assert_eq!(team[field], mine[field], "{field}: {team} {mine}");
        }
        for field in ["actor", "host", "pid", "ticket", "duration_ms"] {
            assert_eq!(team[field], mine[field], "{field}: {team} {mine}");
        }
    }
    // The table shows the column, since rows have it.
    let table = as_alice(&local, &pg, "audit show").run().stdout;
    assert!(table.lines().next().unwrap().contains("imported_id"), "{table}");

    // The targets, in the store's table as in the file.
    targets_match(&local, &pg);

    // Again: nothing moves, and nothing is written.
    let before = counts(&pg);
    migrate(&local, &pg, "")
        .stderr_is(&summary(
            &local,
            &pg,
            &format!("moved 0 targets (2 already there) and 0 audit records ({n} already there)"),
        ))
        .run();
    assert_eq!(counts(&pg), before);

    // The file grows: only what is new moves in, after the store's own.
    Run::new(&local).args("registry add --env qa --db reports --host qa-db2 -q").run();
    let report = migrate(&local, &pg, "--format json")
        .stderr_is(&summary(
            &local,
            &pg,
            &format!("moved 1 target (2 already there) and 2 audit records ({n} already there)"),
        ))
        .run()
        .json();
    assert_eq!(report["records"], 2, "{report}");
    assert_eq!(report["records_already_there"], n, "{report}");
    assert_eq!(report["targets"], 1, "{report}");
    assert_eq!(report["targets_already_there"], 2, "{report}");
    assert_eq!(report["trail"], trail_id.as_str(), "{report}");
    assert_eq!(report["dry_run"], false, "{report}");
    assert_eq!(counts(&pg), (before.0 + 3, before.1 + 1));
    assert_eq!(imported_records(&pg), local_records(&local.registry()));
    intact(&local, &pg, 15);
}

/// The import function is the owner's: a member calling it is refused by
/// the server, and pgacct run as a member refuses before writing anything.
fn a_member_may_not_import() {
    let pg = store(majors()[0]);
    // Not granted, neither to the users' role nor to PUBLIC.
    let granted: (bool, bool) = {
        let row = pg
            .client()
            .query_one(
                "SELECT has_function_privilege('pgacct_user', p.oid, 'EXECUTE'),
                        has_function_privilege('public', p.oid, 'EXECUTE')
                   FROM pg_proc p WHERE p.proname = 'import_audit'",
                &[],
            )
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!(granted, (false, false));
    let mut alice = pg.login("postgres", ALICE.0, ALICE.1).unwrap();
    let err = alice
        .query(
            "SELECT * FROM pgacct.import_audit('file:x', ARRAY[1], ARRAY['2026-01-01T00:00:00Z'],
                 ARRAY['ok'], ARRAY[NULL]::bigint[], ARRAY['mallory'], ARRAY['h'], ARRAY[1],
                 ARRAY[NULL]::text[], ARRAY[NULL]::text[], ARRAY['user.drop'],
                 ARRAY[NULL]::text[], ARRAY[NULL]::text[], ARRAY[NULL]::text[],
                 ARRAY[NULL]::text[], ARRAY['nothing happened'], ARRAY[NULL]::text[],
                 ARRAY[NULL]::bigint[], ARRAY[NULL]::text[], ARRAY['0'])",
            &[],
        )
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{err}");
    let message = err.as_db_error().unwrap().message().to_owned();
    assert_eq!(message, "permission denied for function import_audit");

    let local = Sandbox::new();
    trail(&local);
    let ran = Run::new(&local)
        .args("store migrate --from")
        .arg(local.registry())
        .args("--registry")
        .arg(url(&pg, ALICE.0))
        .env("PGPASSWORD", ALICE.1)
        .expect(2)
        .stderr_contains(
            "error: role alice may not move records into the team store: only the store's owner \
             may run \"pgacct\".import_audit",
        )
        .stderr_contains("hint: run it as the role that owns the store")
        .run();
    assert_eq!(ran.stdout, "");
    assert_eq!(counts(&pg), (0, 0));
}

/// Opens the registry as someone who can write it, without the triggers.
fn tamper(local: &Sandbox, sql: &str) {
    let conn = rusqlite::Connection::open(local.registry()).unwrap();
    conn.execute_batch("DROP TRIGGER IF EXISTS audit_no_update;").unwrap();
    conn.execute_batch(sql).unwrap();
}

fn a_broken_file_is_refused_and_nothing_is_written() {
    let pg = store(majors()[0]);
    let local = Sandbox::new();
    trail(&local);
    tamper(&local, "UPDATE audit SET status = 'nothing happened' WHERE id = 4");
    let ran = migrate(&local, &pg, "")
        .expect(1)
        .stderr_contains(&format!(
            "error: the audit trail of {} is broken: record #4 does not match its hash (edited)",
            local.registry().display()
        ))
        .stderr_contains("hint: nothing was moved; see `pgacct audit verify --registry")
        .run();
    assert_eq!(ran.stdout, "");
    assert_eq!(counts(&pg), (0, 0));

    // A file that is not there, or not a registry: the usual errors.
    Run::new(&local)
        .args("store migrate --from nowhere.db --registry")
        .arg(url(&pg, SUPERUSER))
        .env("PGPASSWORD", pg.password())
        .expect(2)
        .stderr_contains("error: registry nowhere.db does not exist")
        .run();
    let junk = local.write("junk.db", "not a database at all, but long enough to be read...");
    std::fs::set_permissions(&junk, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    Run::new(&local)
        .args("store migrate --from")
        .arg(&junk)
        .args("--registry")
        .arg(url(&pg, SUPERUSER))
        .env("PGPASSWORD", pg.password())
        .expect(2)
        .stderr_contains("is not a pgacct registry")
        .run();
    // And a file registry as the store: refused as `store init` refuses it.
    Run::new(&local)
        .args("store migrate --from")
        .arg(local.registry())
        .expect(2)
        .stderr_contains(
            "error: store migrate moves a registry into a team store, and the registry is a file",
        )
        .stderr_contains("hint: name the store's database with --registry postgresql://")
        .run();
    assert_eq!(counts(&pg), (0, 0));
}

/// Edits record `id`'s status and re-chains every record from there, as
/// someone who rewrites history in the file would: the file verifies.
fn rewrite_from(local: &Sandbox, id: i64) {
    let conn = rusqlite::Connection::open(local.registry()).unwrap();
    conn.execute_batch("DROP TRIGGER IF EXISTS audit_no_update").unwrap();
    conn.execute("UPDATE audit SET status = 'nothing happened' WHERE id = ?1", [id]).unwrap();
    rechain(&conn, id, i64::MAX);
}

fn a_record_rewritten_since_the_move_is_refused() {
    let pg = store(majors()[0]);
    let local = Sandbox::new();
    trail(&local);
    migrate(&local, &pg, "").any_stderr().run();
    let moved_at: String = pg
        .client()
        .query_one(
            "SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), id
               FROM pgacct.audit WHERE operation = 'store.migrate'",
            &[],
        )
        .unwrap()
        .get(0);
    let imported_as: i64 = pg
        .client()
        .query_one("SELECT id FROM pgacct.audit WHERE imported_id = 6", &[])
        .unwrap()
        .get(0);
    rewrite_from(&local, 6);
    Run::new(&local).args("audit verify").stderr_is("").run();
    Run::new(&local).args("registry add --env qa --db later --host h -q").run();
    let before = counts(&pg);
    migrate(&local, &pg, "")
        .expect(1)
        .stderr_contains(&format!(
            "error: record #6 of {} differs from the one imported on {moved_at} (record \
             #{imported_as} of the store)",
            local.registry().display()
        ))
        .stderr_contains("hint: the file's trail was rewritten after it was moved in")
        .run();
    assert_eq!(counts(&pg), before, "nothing was written, not even the new records");
}

fn a_dry_run_says_what_it_would_move_and_writes_nothing() {
    let pg = store(majors()[0]);
    let local = Sandbox::new();
    trail(&local);
    // A target the store has already, with other settings: left alone, named.
    pg.client()
        .batch_execute(
            "INSERT INTO pgacct.targets (env, db, host, port, notes)
             VALUES ('qa', 'billing', 'qa-db', 6432, 'the store''s own')",
        )
        .unwrap();
    let report = migrate(&local, &pg, "--dry-run --format json")
        .stderr_is(&format!(
            "warning: qa/billing (qa-db:6432) is in the store already with other settings \
             (notes): left as the store has it\n{}",
            summary(
                &local,
                &pg,
                "dry run: would move 1 target (1 already there) and 10 audit records (0 already \
                 there)"
            )
            .replace('\n', "; nothing was changed\n")
        ))
        .run()
        .json();
    assert_eq!(report["dry_run"], true, "{report}");
    assert_eq!(report["records"], 10, "{report}");
    assert_eq!(report["targets"], 1, "{report}");
    assert_eq!(
        report["targets_differing"],
        json!([{"target": "qa/billing (qa-db:6432)", "columns": ["notes"]}])
    );
    assert_eq!(report["migrate_record"], Value::Null, "{report}");
    assert_eq!(counts(&pg), (0, 1));

    migrate(&local, &pg, "").any_stderr().run();
    let notes: String = pg
        .client()
        .query_one("SELECT notes FROM pgacct.targets WHERE db = 'billing'", &[])
        .unwrap()
        .get(0);
    assert_eq!(notes, "the store's own");
}

/// A local trail of `n` records: two made by pgacct, the rest written
/// straight into the file with the same canonical form and chain.
fn big_trail(local: &Sandbox, n: i64) {
    Run::new(local).args("registry add --env prod --db orders --host db1 -q").run();
    let mut conn = rusqlite::Connection::open(local.registry()).unwrap();
    let tx = conn.transaction().unwrap();
    let mut prev: String =
        tx.query_row("SELECT hash FROM audit WHERE id = 2", [], |r| r.get(0)).unwrap();
    {
        let mut insert = tx
            .prepare(&format!(
                "INSERT INTO audit ({FIELDS}, prev_hash, hash) VALUES ({})",
                (1..=20).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ")
            ))
            .unwrap();
        for id in 3..=n {
            let started = id % 2 == 1;
            let fields: Vec<Value> = vec![
                json!(id),
                json!(format!(
                    "2026-11-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                    1 + id % 28,
                    id % 24,
                    id % 60,
                    (id / 60) % 60,
                    id % 1000
                )),
                json!(if started { "started" } else { "ok" }),
                if started { Value::Null } else { json!(id - 1) },
                json!("alice"),
                json!("bastion"),
                json!(4242),
                Value::Null,
                json!("CHG-1"),
                json!("user.create"),
                json!("prod"),
                json!("orders"),
                json!("db1:5432"),
                json!(format!("user_{}", id / 2)),
                json!(if started { "create user" } else { "user created" }),
                Value::Null,
                if started { Value::Null } else { json!(id % 80) },
                Value::Null,
            ];
            let hash = plain_hash(&prev, &fields);
            let mut values: Vec<Sql> = fields
                .iter()
                .map(|v| match v {
                    Value::Null => Sql::Null,
                    Value::Number(n) => Sql::Integer(n.as_i64().unwrap()),
                    Value::String(s) => Sql::Text(s.clone()),
                    other => panic!("{other}"),
                })
                .collect();
            values.push(Sql::Text(prev.clone()));
            values.push(Sql::Text(hash.clone()));
            insert.execute(rusqlite::params_from_iter(values)).unwrap();
            prev = hash;
        }
    }
    tx.commit().unwrap();
}

fn a_hundred_thousand_records_move_in_and_verify() {
    const N: i64 = 100_000;
    let pg = store(majors()[0]);
    let local = Sandbox::new();
    big_trail(&local, N);
    let head = Run::new(&local).args("audit verify --format json").run().json();
    assert_eq!(head["records"], N, "{head}");

    migrate(&local, &pg, "")
        .stderr_is(&summary(
            &local,
            &pg,
            &format!("moved 1 target (0 already there) and {N} audit records (0 already there)"),
        ))
        .run();
    assert_eq!(counts(&pg), (N + 1, 1));
    let records = local_records(&local.registry());
    let imported = imported_records(&pg);
    assert_eq!(imported.len(), records.len());
    for i in [0, 1, 2, 4999, 5000, 5001, 49_999, 77_777, 99_998, 99_999] {
        assert_eq!(imported[i], records[i], "record #{}", i + 1);
    }
    assert!(imported == records, "every record as in the file");
    intact(&local, &pg, N + 1);

    // Idempotent: nothing moves again.
    migrate(&local, &pg, "")
        .stderr_is(&summary(
            &local,
            &pg,
            &format!("moved 0 targets (1 already there) and 0 audit records ({N} already there)"),
        ))
        .run();
    assert_eq!(counts(&pg), (N + 1, 1));
}

/// The setup script as a pgacct of schema version 1 printed it: the same
/// without migration 2.
fn script_of_version_1() -> String {
    let script = crate::support::team::script();
    let start = script.find("\n-- Migration 2.\n").expect("migration 2 in the script");
    let end_mark = "$pgacct_migration_2$;\n";
    let end = script.rfind(end_mark).expect("the end of migration 2") + end_mark.len();
    format!("{}{}", &script[..start], &script[end..])
}

/// Records written by a store of version 1 verify before and after its
/// owner upgrades it (migration 2 replaces `canonical()`), and alongside
/// records moved in afterwards.
fn a_store_of_version_1_keeps_verifying_through_the_upgrade() {
    let pg = Cluster::builder().major(majors()[0]).start();
    let mut su = pg.client();
    su.batch_execute(&script_of_version_1()).unwrap();
    su.batch_execute("SET log_statement = 'none'").unwrap();
    su.batch_execute(&format!(
        "CREATE ROLE {} LOGIN PASSWORD '{}'; GRANT pgacct_user TO {};",
        ALICE.0, ALICE.1, ALICE.0
    ))
    .unwrap();
    let versions: Vec<i32> = su
        .query("SELECT version FROM pgacct.schema_version ORDER BY 1", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, [1]);
    let mut alice = pg.login("postgres", ALICE.0, ALICE.1).unwrap();
    alice
        .batch_execute(
            "SELECT pgacct.append_audit('ok', NULL, 'alice', 'laptop', i, NULL, 'T-' || i,
                 'registry.add', 'dev', 'x', 'h:5432', NULL, 'target added é', NULL, i, NULL)
               FROM generate_series(1, 3) AS i",
        )
        .unwrap();
    let local = Sandbox::new();
    // Read as version 1: no import columns there.
    intact(&local, &pg, 3);
    let shown = as_alice(&local, &pg, "audit show").rows();
    assert_eq!(shown.len(), 3);
    assert!(shown.iter().all(|row| row["imported_id"].is_null()), "{shown:?}");
    // A file cannot move into a store of version 1.
    trail(&local);
    migrate(&local, &pg, "")
        .expect(2)
        .stderr_contains("has schema version 1, older than this pgacct's 2")
        .stderr_contains("hint: the store's owner upgrades it first with `pgacct store init`")
        .run();

    Run::new(&local)
        .args("store init --registry")
        .arg(url(&pg, SUPERUSER))
        .env("PGPASSWORD", pg.password())
        .stderr_contains("upgraded store schema pgacct from version 1 to 2")
        .any_stderr()
        .run();
    intact(&local, &pg, 3);
    migrate(&local, &pg, "").any_stderr().run();
    alice
        .batch_execute(
            "SELECT pgacct.append_audit('ok', NULL, 'alice', 'laptop', 9, NULL, NULL,
                 'registry.add', 'dev', 'y', 'h:5432', NULL, 'target added', NULL, 9, NULL)",
        )
        .unwrap();
    intact(&local, &pg, 3 + 10 + 1 + 1);
}

const KEY: &str = "3f1c9a7e5b2d4f6081a3c5e7092b4d6f8a1c3e5f7092b4d6e8f0a2c4e6081a3c";

/// A trail sealed with the audit key: its HMACs are checked before the
/// move, so without the key it is refused; with it, it moves in whole.
fn a_sealed_trail_moves_in_with_its_key_only() {
    let pg = store(majors()[0]);
    let local = Sandbox::new();
    trail(&local);
    Run::new(&local).args("audit seal -q").env("PGACCT_AUDIT_KEY", KEY).run();
    migrate(&local, &pg, "")
        .expect(2)
        .stderr_contains(&format!(
            "error: the audit trail of {} is sealed with an audit key (from record #11), and no \
             key is set",
            local.registry().display()
        ))
        .stderr_contains("hint: set the trail's key in PGACCT_AUDIT_KEY")
        .run();
    assert_eq!(counts(&pg), (0, 0));
    migrate(&local, &pg, "")
        .env("PGACCT_AUDIT_KEY", "ab".repeat(32))
        .expect(1)
        .stderr_contains("is broken: record #11 was made with another audit key")
        .run();
    assert_eq!(counts(&pg), (0, 0));
    migrate(&local, &pg, "")
        .env("PGACCT_AUDIT_KEY", KEY)
        .stderr_contains("moved 2 targets (0 already there) and 12 audit records")
        .run();
    assert_eq!(imported_records(&pg), local_records(&local.registry()));
    intact(&local, &pg, 13);
}
