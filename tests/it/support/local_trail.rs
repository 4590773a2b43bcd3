//! The local trail as someone who can write the file changes it: records
//! hashed as the README says anyone can (`sha256(prev ‖ canonical)`), so
//! that a test can forge or rewrite history and see what pgacct finds.

use rusqlite::types::Value as Sql;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The fields of a record a hash covers, in the canonical order.
pub const FIELDS: &str = "id, ts, outcome, started_id, actor, host, pid, ci_job, ticket, \
                          operation, env, db, cluster, role, status, error, duration_ms, sql";

/// A stored value as the canonical form holds it.
pub fn to_json(value: Sql) -> Value {
    match value {
        Sql::Null => Value::Null,
        Sql::Integer(n) => json!(n),
        Sql::Text(text) => json!(text),
        other => panic!("not in a record: {other:?}"),
    }
}

/// The plain SHA-256 a record with these fields has after `prev`.
pub fn plain_hash(prev: &str, fields: &[Value]) -> String {
    let canonical: Vec<Value> =
        std::iter::once(json!("pgacct-audit-v1")).chain(fields.iter().cloned()).collect();
    let text = serde_json::to_string(&canonical).unwrap();
    let digest = Sha256::digest(format!("{prev}{text}").as_bytes());
    digest.iter().fold(String::new(), |mut hex, b| {
        hex.push_str(&format!("{b:02x}"));
        hex
    })
}

/// Rewrites records `from` to `to` as plain SHA-256 records with a correct
/// chain (and no key id), as a forger without the audit key would to hide
/// an edit: the trail verifies again without the key.
pub fn rechain(conn: &rusqlite::Connection, from: i64, to: i64) {
    conn.execute_batch("DROP TRIGGER IF EXISTS audit_no_update").unwrap();
    let mut prev: String = conn
        .query_row("SELECT hash FROM audit WHERE id = ?1", [from - 1], |r| r.get(0))
        .unwrap_or_else(|_| "0".repeat(64));
    let ids: Vec<i64> = conn
        .prepare("SELECT id FROM audit WHERE id BETWEEN ?1 AND ?2 ORDER BY id")
        .unwrap()
        .query_map([from, to], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for id in ids {
        let fields: Vec<Value> = conn
            .query_row(&format!("SELECT {FIELDS} FROM audit WHERE id = ?1"), [id], |row| {
                (0..18).map(|i| row.get::<_, Sql>(i).map(to_json)).collect()
            })
            .unwrap();
        let hash = plain_hash(&prev, &fields);
        conn.execute(
            "UPDATE audit SET prev_hash = ?2, hash = ?3, key_id = NULL WHERE id = ?1",
            rusqlite::params![id, prev, hash],
        )
        .unwrap();
        prev = hash;
    }
}
