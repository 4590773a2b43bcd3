//! The audit trail against a forger: the audit key, the seal, records that
//! hold what pgacct never writes, and the head every notification carries.
//! Only the registry and the audit trail are involved (a `registry add` is
//! a change like any other), so no PostgreSQL is needed.

use std::path::Path;

use libtest_mimic::Trial;
use rusqlite::types::Value as Sql;
use serde_json::{Value, json};

use crate::support::local_trail::{FIELDS, plain_hash, rechain, to_json};
use crate::support::receivers::{Answer, HttpReceiver, SmtpReceiver};
use crate::support::runner::test;
use crate::support::{Run, Sandbox};

pub fn tests() -> Vec<Trial> {
    vec![
        test!(records_made_with_the_key_verify_only_with_it),
        test!(a_record_appended_without_the_key_fails_verify_naming_it),
        test!(a_sealed_trail_verified_without_the_key_says_what_it_did_not_check),
        test!(a_sealed_trail_takes_no_plain_record),
        test!(stripping_the_seal_or_rewriting_before_it_fails_with_the_key),
        test!(a_key_file_must_be_private_and_the_variable_wins),
        test!(records_with_bytes_pgacct_never_writes_are_named_by_their_id),
        test!(every_event_carries_the_audit_head_and_never_the_key),
    ]
}

const KEY: &str = "3f1c9a7e5b2d4f6081a3c5e7092b4d6f8a1c3e5f7092b4d6e8f0a2c4e6081a3c";
const OTHER_KEY: &str = "Zm9yZ2VyLWtleS1ub3QtdGhlLXJlYWwtb25lLTEyMzQ1Njc4OTA=";

/// `registry add` of `qa/DB` (two records: started and ok), with `key` in
/// the environment when given.
fn add(sandbox: &Sandbox, db: &str, key: Option<&str>) {
    with_key(Run::new(sandbox), key)
        .args(&format!("-q registry add --env qa --db {db} --host db1"))
        .run();
}

fn with_key(run: Run, key: Option<&str>) -> Run {
    match key {
        Some(key) => run.env("PGACCT_AUDIT_KEY", key),
        None => run,
    }
}

/// `audit verify --format json`, which must exit with `code`, and print
/// on stderr `warning` (nothing when `None`).
fn verify(sandbox: &Sandbox, key: Option<&str>, code: i32, warning: Option<&str>) -> Value {
    let run = with_key(Run::new(sandbox), key).args("audit verify").expect(code);
    let run = match warning {
        Some(text) => run.stderr_contains(text),
        None => run,
    };
    run.json()
}

fn open(sandbox: &Sandbox) -> rusqlite::Connection {
    rusqlite::Connection::open(sandbox.registry()).unwrap()
}

/// Appends, as someone who can write the file, a copy of record `like`
/// after the last record: a correct chain link, `hash` made by
/// [`plain_hash`] (or `forged_hash` when given), and `mark` as its key id.
/// Returns its id.
fn append_forgery(
    sandbox: &Sandbox,
    like: i64,
    mark: Option<&str>,
    forged_hash: Option<&str>,
) -> i64 {
    let conn = open(sandbox);
    let (last, prev): (i64, String) = conn
        .query_row("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    let mut fields: Vec<Sql> = conn
        .query_row(&format!("SELECT {FIELDS} FROM audit WHERE id = ?1"), [like], |row| {
            (0..18).map(|i| row.get::<_, Sql>(i)).collect()
        })
        .unwrap();
    let id = last + 1;
    fields[0] = Sql::Integer(id);
    fields[14] = Sql::Text("user dropped".into());
    let hash = forged_hash.map_or_else(
        || plain_hash(&prev, &fields.iter().cloned().map(to_json).collect::<Vec<_>>()),
        str::to_owned,
    );
    let mut values = fields;
    values.extend([
        Sql::Text(prev),
        Sql::Text(hash),
        mark.map_or(Sql::Null, |m| Sql::Text(m.into())),
    ]);
    conn.execute(
        &format!(
            "INSERT INTO audit ({FIELDS}, prev_hash, hash, key_id) VALUES ({})",
            (1..=21).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ")
        ),
        rusqlite::params_from_iter(values),
    )
    .unwrap();
    id
}

/// Rewrites records `from` to `to` as plain SHA-256 records with a correct
/// chain, as a forger without the key would to hide something.
fn rewrite_as_plain(sandbox: &Sandbox, from: i64, to: i64) {
    rechain(&open(sandbox), from, to);
}

fn key_ids(sandbox: &Sandbox) -> Vec<Option<String>> {
    let conn = open(sandbox);
    let mut stmt = conn.prepare("SELECT key_id FROM audit ORDER BY id").unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
}

fn records_made_with_the_key_verify_only_with_it() {
    let sandbox = Sandbox::new();
    add(&sandbox, "a", Some(KEY));
    add(&sandbox, "b", Some(KEY));
    let marks = key_ids(&sandbox);
    assert_eq!(marks.len(), 4);
    assert!(marks.iter().all(|m| m.as_ref().is_some_and(|m| m.len() == 16)), "{marks:?}");

    let report = verify(&sandbox, Some(KEY), 0, None);
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(report["sealed_from"], 1);
    assert_eq!(report["key_id"], marks[0].as_deref().unwrap());
    assert_eq!(report["unchecked"], 0);
    let text = with_key(Run::new(&sandbox), Some(KEY)).args("audit verify").run().stdout;
    assert!(text.contains("sealed from record #1: HMACs checked with the audit key"), "{text}");

    // Another key: the records were not made with it.
    let other = verify(&sandbox, Some(OTHER_KEY), 1, None);
    assert_eq!(other["broken_at"], 1, "{other}");
    assert!(other["problem"].as_str().unwrap().contains("another audit key"), "{other}");
}

fn a_record_appended_without_the_key_fails_verify_naming_it() {
    let sandbox = Sandbox::new();
    add(&sandbox, "a", Some(KEY));
    // The forger's plain record has a correct SHA-256 chain hash...
    let plain = append_forgery(&sandbox, 2, None, None);
    let report = verify(&sandbox, Some(KEY), 1, None);
    assert_eq!(report["broken_at"], plain, "{report}");
    let problem = report["problem"].as_str().unwrap();
    assert!(problem.contains("made without the audit key"), "{problem}");
    assert!(problem.contains("sealed at record #1"), "{problem}");
    // ...and without the key the rule that follows a seal still holds.
    let unkeyed = verify(&sandbox, None, 1, Some("2 records were made with an audit key"));
    assert_eq!(unkeyed["broken_at"], plain);

    // Marked as keyed, it needs the HMAC the forger cannot make.
    let sandbox = Sandbox::new();
    add(&sandbox, "a", Some(KEY));
    let mark = key_ids(&sandbox)[0].clone().unwrap();
    let marked = append_forgery(&sandbox, 2, Some(&mark), None);
    let report = verify(&sandbox, Some(KEY), 1, None);
    assert_eq!(report["broken_at"], marked, "{report}");
    assert!(report["problem"].as_str().unwrap().contains("does not match its HMAC"), "{report}");
    let text = with_key(Run::new(&sandbox), Some(KEY)).args("audit verify").expect(1).run();
    assert!(text.stdout.contains(&format!("audit trail BROKEN: record #{marked}")), "{text:?}");
}

/// Without the key, verify checks the chain and the seal rule, exits 0 when
/// they hold, and says on stdout, on stderr and in JSON how many HMACs it
/// could not check.
fn a_sealed_trail_verified_without_the_key_says_what_it_did_not_check() {
    let sandbox = Sandbox::new();
    add(&sandbox, "a", None);
    add(&sandbox, "b", Some(KEY));
    let warning = "2 records were made with an audit key, and no key is set";
    let report = verify(&sandbox, None, 0, Some(warning));
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(report["sealed_from"], 3);
    assert_eq!(report["unchecked"], 2);
    assert_eq!(report["key_id"], Value::Null);
    let text = Run::new(&sandbox).args("audit verify").stderr_contains(warning).run().stdout;
    assert!(text.contains("sealed from record #3: HMACs of 2 records NOT checked"), "{text}");

    // This is the limit the README states: a record marked as keyed that
    // was forged without the key passes a verify without the key.
    let mark = key_ids(&sandbox)[2].clone().unwrap();
    let forged = append_forgery(&sandbox, 4, Some(&mark), Some(&"0".repeat(64)));
    let report = verify(&sandbox, None, 0, Some("3 records were made with an audit key"));
    assert_eq!(report["unchecked"], 3);
    assert_eq!(verify(&sandbox, Some(KEY), 1, None)["broken_at"], forged);
}

fn a_sealed_trail_takes_no_plain_record() {
    let sandbox = Sandbox::new();
    add(&sandbox, "a", None);
    add(&sandbox, "b", None);
    assert_eq!(verify(&sandbox, None, 0, None)["sealed_from"], Value::Null);
    // With a key set, a trail with no keyed record fails: it is not sealed.
    let report = verify(&sandbox, Some(KEY), 1, None);
    assert_eq!(report["broken_at"], 4, "{report}");
    assert!(report["problem"].as_str().unwrap().contains("not sealed"), "{report}");

    Run::new(&sandbox).args("audit seal").expect(2).stderr_contains("needs the audit key").run();
    let sealed =
        with_key(Run::new(&sandbox), Some(KEY)).args("-q audit seal --ticket CHG-9").json();
    assert_eq!(sealed["sealed_at"], 5, "{sealed}");
    let report = verify(&sandbox, Some(KEY), 0, None);
    assert_eq!((report["sealed_from"].clone(), report["head_id"].clone()), (json!(5), json!(6)));
    assert_eq!(
        format!("{}:{}", report["head_id"], report["head_hash"].as_str().unwrap()),
        sealed["head"].as_str().unwrap()
    );
    // Sealing again writes nothing.
    let again = with_key(Run::new(&sandbox), Some(KEY)).args("-q audit seal").json();
    assert_eq!(again["sealed_at"], Value::Null);
    assert_eq!(again["head"], sealed["head"]);

    // pgacct refuses to append without the key (or with another), and
    // changes nothing.
    for key in [None, Some(OTHER_KEY)] {
        with_key(Run::new(&sandbox), key)
            .args("registry add --env qa --db c --host db1")
            .expect(2)
            .stderr_contains("the audit trail is sealed")
            .run();
    }
    let targets = Run::new(&sandbox).args("registry list").rows();
    assert_eq!(targets.len(), 2, "{targets:?}");

    // Appended behind pgacct's back, a plain record fails.
    let plain = append_forgery(&sandbox, 4, None, None);
    for key in [None, Some(KEY)] {
        let report =
            with_key(Run::new(&sandbox), key).args("audit verify").expect(1).any_stderr().json();
        assert_eq!(report["broken_at"], plain, "{report}");
    }
}

/// The attacks on the seal itself: rewriting every keyed record as a plain
/// one, and rewriting a record before the seal with the hashes after it.
fn stripping_the_seal_or_rewriting_before_it_fails_with_the_key() {
    let sandbox = Sandbox::new();
    add(&sandbox, "a", None);
    add(&sandbox, "b", Some(KEY));
    rewrite_as_plain(&sandbox, 3, 4);
    assert_eq!(key_ids(&sandbox), [None, None, None, None]);
    let report = verify(&sandbox, Some(KEY), 1, None);
    assert!(
        report["problem"].as_str().unwrap().contains("no record was made with the audit key"),
        "{report}"
    );
    // Without the key the rewritten trail is a valid plain chain: only a
    // head noted elsewhere shows it.
    assert_eq!(verify(&sandbox, None, 0, None)["intact"], true);

    // A record before the seal edited, and the plain chain up to the seal
    // recomputed: the seal's HMAC covers the old link, so it fails there.
    let sandbox = Sandbox::new();
    add(&sandbox, "a", None);
    add(&sandbox, "b", Some(KEY));
    let conn = open(&sandbox);
    conn.execute_batch(
        "DROP TRIGGER audit_no_update; UPDATE audit SET ticket = 'CHG-0' WHERE id = 1",
    )
    .unwrap();
    rewrite_as_plain(&sandbox, 1, 2);
    conn.execute(
        "UPDATE audit SET prev_hash = (SELECT hash FROM audit WHERE id = 2) WHERE id = 3",
        [],
    )
    .unwrap();
    assert_eq!(
        verify(&sandbox, None, 0, Some("2 records were made with an audit key"))["intact"],
        true
    );
    let report = verify(&sandbox, Some(KEY), 1, None);
    assert_eq!(report["broken_at"], 3, "{report}");
    assert!(report["problem"].as_str().unwrap().contains("does not match its HMAC"), "{report}");
}

fn a_key_file_must_be_private_and_the_variable_wins() {
    use std::os::unix::fs::PermissionsExt as _;
    let sandbox = Sandbox::new();
    let key_file = sandbox.write("audit.key", format!("{KEY}\n"));
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    sandbox.write_config(&format!("[audit]\nkey_file = \"{}\"\n", key_file.display()));
    Run::new(&sandbox)
        .args("registry add --env qa --db a --host db1")
        .expect(2)
        .stderr_contains("others may read or write it (mode 0644)")
        .stderr_contains(&format!("hint: chmod 600 {}", key_file.display()))
        .run();
    assert!(Run::new(&sandbox).args("registry list").rows().is_empty(), "nothing was added");
    assert!(!sandbox.registry().exists() || key_ids(&sandbox).is_empty());

    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    add(&sandbox, "a", None);
    let from_file = verify(&sandbox, None, 0, None);
    assert_eq!(from_file["sealed_from"], 1, "{from_file}");
    assert_eq!(from_file["unchecked"], 0, "the key file's key checked them");
    // The variable wins over the file.
    assert_eq!(verify(&sandbox, Some(OTHER_KEY), 1, None)["broken_at"], 1);
    assert_eq!(verify(&sandbox, Some(KEY), 0, None)["key_id"], from_file["key_id"]);

    // Not a regular file, a relative path, a key too short: errors, exit 2.
    sandbox.write_config(&format!("[audit]\nkey_file = \"{}\"\n", sandbox.path().display()));
    Run::new(&sandbox).args("audit verify").expect(2).stderr_contains("not a regular file").run();
    sandbox.write_config("[audit]\nkey_file = \"audit.key\"\n");
    Run::new(&sandbox).args("audit verify").expect(2).stderr_contains("absolute path").run();
    Run::new(&sandbox)
        .env("PGACCT_AUDIT_KEY", &KEY[..31])
        .args("audit verify")
        .expect(2)
        .stderr_contains("must be 32 to 1024 characters long, not 31")
        .run();
}

/// Makes the audit table of `sandbox` one that takes any type, as someone
/// who rebuilds it with the SQLite shell could.
fn without_strict_types(conn: &rusqlite::Connection) {
    let sql: String = conn
        .query_row("SELECT sql FROM sqlite_schema WHERE name = 'audit'", [], |r| r.get(0))
        .unwrap();
    let loose = sql.trim_end().strip_suffix("STRICT").unwrap().trim_end().to_owned();
    conn.execute_batch(&format!(
        "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;
         ALTER TABLE audit RENAME TO audit_strict;
         {loose};
         INSERT INTO audit SELECT * FROM audit_strict;
         DROP TABLE audit_strict;"
    ))
    .unwrap();
}

fn records_with_bytes_pgacct_never_writes_are_named_by_their_id() {
    let sandbox = Sandbox::new();
    add(&sandbox, "a", None);
    add(&sandbox, "b", None);
    let conn = open(&sandbox);
    without_strict_types(&conn);
    conn.execute_batch(
        "UPDATE audit SET status = CAST(x'746172676574ff20616464656401' AS TEXT) WHERE id = 2;
         UPDATE audit SET pid = x'00ff' WHERE id = 4;",
    )
    .unwrap();

    let report = verify(&sandbox, None, 1, None);
    assert_eq!(report["broken_at"], 2, "{report}");
    assert_eq!(report["problem"], "record #2 holds invalid UTF-8 in status (tampered)");

    // show keeps going, shows them escaped and marked, and names them.
    let ran = Run::new(&sandbox)
        .args("audit show --limit 0 --format json")
        .stderr_contains("warning: record #2 holds invalid UTF-8 in status (shown escaped)")
        .stderr_contains("warning: record #4 holds a blob (x'00ff') in pid, which holds integers")
        .run();
    let rows = ran.rows();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let by_id = |id: i64| rows.iter().find(|r| r["id"] == id).unwrap();
    assert_eq!(by_id(2)["status"], "target\\xff added\u{1}");
    assert_eq!(by_id(2)["damaged"], "invalid UTF-8 in status");
    assert_eq!(by_id(4)["pid"], 0);
    assert_eq!(by_id(4)["damaged"], "a blob (x'00ff') in pid, which holds integers");
    assert_eq!(by_id(4)["status"], "target added");
    // The table and CSV too.
    for format in ["table", "csv"] {
        let out = Run::new(&sandbox)
            .args(&format!("audit show --format {format}"))
            .stderr_contains("record #2")
            .run()
            .stdout;
        assert!(out.contains("target\\xff added"), "{format}: {out}");
    }
}

/// The command channel appends each event it gets to `events`.
fn configure_channels(sandbox: &Sandbox, http: &HttpReceiver, smtp: &SmtpReceiver, events: &Path) {
    sandbox.write_config(&format!(
        r#"
[[notify]]
kind = "slack"
url = "{slack}"

[[notify]]
kind = "webhook"
url = "{hook}"

[[notify]]
kind = "command"
program = "sh"
args = ["-c", "cat >> '{events}'; echo >> '{events}'"]

[[notify]]
kind = "email"
host = "127.0.0.1"
port = {smtp_port}
starttls = false
from = "pgacct@example.com"
to = ["dba@example.com"]
"#,
        slack = http.url("/slack"),
        hook = http.url("/hook"),
        events = events.display(),
        smtp_port = smtp.port(),
    ));
}

fn every_event_carries_the_audit_head_and_never_the_key() {
    let sandbox = Sandbox::new();
    let (http, smtp) = (HttpReceiver::start(Answer::Status(200)), SmtpReceiver::start());
    let events = sandbox.path().join("events.jsonl");
    configure_channels(&sandbox, &http, &smtp, &events);
    add(&sandbox, "a", Some(KEY));

    // The head once the outcome was recorded: record 2 (started 1, ok 2);
    // the four delivery records follow it.
    let hook = http.requests().into_iter().find(|r| r.path == "/hook").unwrap().json();
    let head = hook["audit_head"].as_str().unwrap().to_owned();
    assert!(head.starts_with("2:") && head.len() == 66, "{head}");
    with_key(Run::new(&sandbox), Some(KEY)).args("audit verify --expect").arg(&head).run();
    let command_event: Value =
        serde_json::from_str(std::fs::read_to_string(&events).unwrap().lines().next().unwrap())
            .unwrap();
    assert_eq!(command_event["audit_head"], head.as_str());
    let slack = http.requests().into_iter().find(|r| r.path == "/slack").unwrap().json();
    let line = slack["text"].as_str().unwrap();
    assert!(line.ends_with(&format!(" · audit head {head}")), "{line}");
    let mail = smtp.messages().concat();
    assert!(mail.contains(&head), "{mail}");

    // notify test carries the head too: its own started records.
    let ran = with_key(Run::new(&sandbox), Some(KEY)).args("notify test --kind webhook").run();
    let test_event = http.requests().into_iter().rfind(|r| r.path == "/hook").unwrap().json();
    assert_eq!(test_event["event"], "pgacct.test", "{ran:?}");
    let test_head = test_event["audit_head"].as_str().unwrap();
    with_key(Run::new(&sandbox), Some(KEY)).args("audit verify --expect").arg(test_head).run();

    // The key is nowhere: not in the file, the trail, any output, any event.
    let mut seen = vec![
        String::from_utf8_lossy(&std::fs::read(sandbox.registry()).unwrap()).into_owned(),
        std::fs::read_to_string(&events).unwrap(),
        smtp.messages().concat(),
        Run::new(&sandbox).args("audit show --limit 0 --format json").run().stdout,
        with_key(Run::new(&sandbox), Some(KEY)).args("audit verify").run().stdout,
        ran.stdout,
        ran.stderr,
    ];
    seen.extend(http.requests().into_iter().map(|r| format!("{:?} {}", r.headers, r.body)));
    let wal = sandbox.registry().with_extension("db-wal");
    if let Ok(bytes) = std::fs::read(&wal) {
        seen.push(String::from_utf8_lossy(&bytes).into_owned());
    }
    for text in &seen {
        assert!(!text.contains(KEY) && !text.contains(&KEY[..16]), "the key leaked: {text}");
    }
}
