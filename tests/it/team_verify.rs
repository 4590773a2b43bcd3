//! `pgacct audit verify` on a team store, from any machine: alice, who
//! holds only `pgacct_user`, checks the trail the server attested on every
//! supported major (the same report as the local trail's, table and JSON,
//! `--expect`), and finds the rows its owner changed or removed with the
//! append-only trigger disabled; a trail longer than one read batch; rows
//! the schema would refuse; a store that is absent or newer refused.

use libtest_mimic::Trial;
use postgres::GenericClient;
use serde_json::Value;

use crate::support::fleet::majors;
use crate::support::runner::{test, trial};
use crate::support::{Cluster, Run, Sandbox};

pub fn tests() -> Vec<Trial> {
    [
        per_major(
            "alice_verifies_the_trail_and_finds_what_the_owner_changed",
            alice_verifies_the_trail_and_finds_what_the_owner_changed,
        ),
        vec![
            test!(a_trail_longer_than_a_batch_is_read_to_its_end),
            test!(an_absent_or_newer_store_is_refused),
            test!(a_row_the_schema_would_refuse_breaks_the_trail),
        ],
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn per_major(name: &str, run: fn(u32)) -> Vec<Trial> {
    majors()
        .into_iter()
        .map(|major| trial(module_path!(), &format!("{name}::pg{major}"), move || run(major)))
        .collect()
}

const ALICE: (&str, &str) = ("alice", "alice-Verify-Pw-1");

/// A cluster of `major` with the default store, and alice, granted `pgacct_user` only.
fn store(major: u32) -> Cluster {
    crate::support::team::store_with(major, &[ALICE])
}

/// Appends `n` records through the store's function: the last one's id and
/// hash.
fn append(client: &mut impl GenericClient, n: i32) -> (i64, String) {
    let row = client
        .query_one(
            "SELECT max(a.id), (array_agg(a.hash ORDER BY a.id DESC))[1]
               FROM generate_series(1, $1) AS i,
                    LATERAL pgacct.append_audit(
                        'ok', NULL, 'os-user', 'bastion-1', 4242, NULL, 'CHG-7', 'registry.add',
                        'qa', 'orders', 'db1:5432', NULL, 'record ' || i, NULL, 3, NULL) AS a",
            &[&n],
        )
        .unwrap();
    (row.get(0), row.get(1))
}

/// A store and the machine alice runs pgacct on: a sandbox of its own.
struct Setup {
    pg: Cluster,
    machine: Sandbox,
}

/// `audit verify` as alice, on her machine.
fn verify(setup: &Setup, args: &str) -> Run {
    let pg = &setup.pg;
    let url = format!("postgresql://{}@{}:{}/postgres", ALICE.0, pg.host(), pg.port());
    Run::new(&setup.machine)
        .args("audit verify --registry")
        .arg(url)
        .args(args)
        .env("PGPASSWORD", ALICE.1)
        .env_remove("PGACCT_AUDIT_KEY")
}

fn intact(pg: &Setup, records: i64, head: Option<(i64, &str)>) {
    let ran = verify(pg, "").run();
    let mut expected = format!("audit trail intact: {records} records\n");
    if let Some((id, hash)) = head {
        expected.push_str(&format!("head: {id}:{hash}\n"));
    }
    assert_eq!(ran.stdout, expected);
    assert_eq!(ran.stderr, "");
    let report = verify(pg, "--format json").run().json();
    assert_eq!(report["intact"], Value::Bool(true), "{report}");
    assert_eq!(report["records"], records, "{report}");
    assert_eq!(report["head_id"], head.map_or(Value::Null, |(id, _)| id.into()), "{report}");
    assert_eq!(report["head_hash"], head.map_or(Value::Null, |(_, h)| h.into()), "{report}");
    for field in ["broken_at", "problem", "sealed_from", "key_id"] {
        assert_eq!(report[field], Value::Null, "{field}: {report}");
    }
    assert_eq!(report["unchecked"], 0, "{report}");
}

fn broken(pg: &Setup, at: i64, problem: &str, checked: i64) {
    let ran = verify(pg, "").expect(1).run();
    assert_eq!(
        ran.stdout,
        format!("audit trail BROKEN: {problem}\nchecked {checked} records up to the break\n")
    );
    let report = verify(pg, "--format json").expect(1).run().json();
    assert_eq!(report["intact"], Value::Bool(false), "{report}");
    assert_eq!(report["broken_at"], at, "{report}");
    assert_eq!(report["problem"], problem, "{report}");
    assert_eq!(report["records"], checked, "{report}");
    assert_eq!(report["head_id"], Value::Null, "{report}");
}

fn alice_verifies_the_trail_and_finds_what_the_owner_changed(major: u32) {
    let pg = Setup { pg: store(major), machine: Sandbox::new() };
    // An empty trail is intact.
    intact(&pg, 0, None);

    let mut alice = pg.pg.login("postgres", ALICE.0, ALICE.1).unwrap();
    let (id, hash) = append(&mut alice, 4);
    assert_eq!(id, 4);
    intact(&pg, 4, Some((id, &hash)));

    // --expect: the head noted earlier, a hash that is not the head's, a
    // record that is gone.
    let ran = verify(&pg, "--expect").arg(format!("{id}:{hash}")).run();
    assert!(ran.stdout.starts_with("audit trail intact: 4 records\n"), "{}", ran.stdout);
    let wrong = "0".repeat(64);
    let ran = verify(&pg, "--expect").arg(format!("{id}:{wrong}")).expect(1).run();
    assert!(ran.stdout.contains("record #4 no longer has the anchored hash"), "{}", ran.stdout);
    let ran = verify(&pg, "--expect").arg(format!("9:{hash}")).expect(1).run();
    assert!(ran.stdout.contains("record #9 is gone: the trail was cut short"), "{}", ran.stdout);

    // The audit key is not used, and that is said.
    let ran = verify(&pg, "")
        .env("PGACCT_AUDIT_KEY", "ab".repeat(32))
        .stderr_contains("warning: the audit key (PGACCT_AUDIT_KEY or [audit] key_file) does not apply to a team store")
        .run();
    assert!(ran.stdout.starts_with("audit trail intact: 4 records\n"), "{}", ran.stdout);

    // The owner changes a row with the trigger disabled: found at that row.
    let mut su = pg.pg.client();
    su.batch_execute(
        "ALTER TABLE pgacct.audit DISABLE TRIGGER audit_append_only;
         UPDATE pgacct.audit SET status = 'nothing to see' WHERE id = 2;",
    )
    .unwrap();
    broken(&pg, 2, "record #2 does not match its hash (edited)", 2);
    // Put back, it verifies again; a row removed breaks the next one's link.
    su.batch_execute("UPDATE pgacct.audit SET status = 'record 2' WHERE id = 2").unwrap();
    intact(&pg, 4, Some((id, &hash)));
    su.batch_execute("DELETE FROM pgacct.audit WHERE id = 2").unwrap();
    broken(&pg, 2, "record #2 is missing (deleted)", 2);

    // The password was never shown nor logged.
    let ran = verify(&pg, "-v").expect(1).any_stderr().run();
    for text in [&ran.stdout, &ran.stderr, &pg.pg.log()] {
        assert!(!text.contains(ALICE.1), "{text}");
    }
}

/// More rows than one read batch (5000): every one is checked, and a row
/// changed in the second batch is found.
fn a_trail_longer_than_a_batch_is_read_to_its_end() {
    let pg = Setup { pg: store(majors()[0]), machine: Sandbox::new() };
    let (id, hash) = append(&mut pg.pg.client(), 5003);
    assert_eq!(id, 5003);
    intact(&pg, 5003, Some((id, &hash)));
    pg.pg
        .client()
        .batch_execute(
            "ALTER TABLE pgacct.audit DISABLE TRIGGER audit_append_only;
             UPDATE pgacct.audit SET actor = 'mallory' WHERE id = 5002;",
        )
        .unwrap();
    broken(&pg, 5002, "record #5002 does not match its hash (edited)", 5002);
}

fn an_absent_or_newer_store_is_refused() {
    let pg = Setup { pg: Cluster::builder().major(majors()[0]).start(), machine: Sandbox::new() };
    let mut su = pg.pg.client();
    su.batch_execute("SET log_statement = 'none'").unwrap();
    su.batch_execute(&format!("CREATE ROLE {} LOGIN PASSWORD '{}'", ALICE.0, ALICE.1)).unwrap();
    let ran = verify(&pg, "")
        .expect(2)
        .stderr_contains("there is no pgacct team store in schema pgacct of database postgres")
        .stderr_contains("hint: check the database in the store URL")
        .run();
    assert_eq!(ran.stdout, "");

    let script = Run::new(&Sandbox::new()).args("store init --print-sql").run().stdout;
    su.batch_execute(&script).unwrap();
    su.batch_execute(&format!("GRANT pgacct_user TO {}", ALICE.0)).unwrap();
    su.batch_execute("INSERT INTO pgacct.schema_version (version) VALUES (99)").unwrap();
    let ran = verify(&pg, "")
        .expect(2)
        .stderr_contains("has schema version 99, but this pgacct knows only up to")
        .stderr_contains("hint: a newer pgacct set up this store; upgrade pgacct")
        .run();
    assert_eq!(ran.stdout, "");
}

/// Rows only a changed table can hold, a NULL where the schema says NOT
/// NULL or a time of `infinity`: the trail breaks there, nothing panics.
fn a_row_the_schema_would_refuse_breaks_the_trail() {
    let pg = Setup { pg: store(majors()[0]), machine: Sandbox::new() };
    append(&mut pg.pg.client(), 3);
    let mut su = pg.pg.client();
    su.batch_execute(
        "ALTER TABLE pgacct.audit DISABLE TRIGGER audit_append_only;
         ALTER TABLE pgacct.audit ALTER status DROP NOT NULL;
         UPDATE pgacct.audit SET status = NULL WHERE id = 2;",
    )
    .unwrap();
    broken(&pg, 2, "record #2 has no status: the trail was tampered with", 2);
    for ts in ["infinity", "-infinity"] {
        su.batch_execute(&format!(
            "UPDATE pgacct.audit SET status = 'record 2', ts = '{ts}' WHERE id = 2"
        ))
        .unwrap();
        broken(&pg, 2, "record #2 holds an unreadable ts: the trail was tampered with", 2);
    }
}
