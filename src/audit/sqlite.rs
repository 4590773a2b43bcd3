//! [`AuditStore`] in the local store file: the audit trail's queries.
//!
//! An append reads the last record's id and hash and inserts after it in
//! one `BEGIN IMMEDIATE` transaction, so concurrent pgacct processes queue
//! on the write lock and the records form a single chain.
//!
//! Records are read column by column without trusting the file: a value
//! pgacct never writes (invalid UTF-8, a wrong type) is kept, escaped, and
//! reported with its record's id, instead of stopping the read.

use std::fmt::Write as _;

use rusqlite::types::{Value, ValueRef};
use rusqlite::{OptionalExtension, Row, params, params_from_iter};

use super::chain::{GENESIS, Record};
use super::{
    Anchor, AuditKey, AuditRow, AuditStore, Break, Error, Filter, Finish, Head, Invocation,
    Operation, OperationTarget, Outcome, PasswordSet, Verification,
};
use crate::store::FileStore;

const RECORD_COLUMNS: &str = "id, ts, outcome, started_id, actor, host, pid, ci_job, ticket, \
                              operation, env, db, cluster, role, status, error, duration_ms, sql";

/// The names of [`RECORD_COLUMNS`], by position, then the chain's columns.
const NAMES: [&str; 21] = [
    "id",
    "ts",
    "outcome",
    "started_id",
    "actor",
    "host",
    "pid",
    "ci_job",
    "ticket",
    "operation",
    "env",
    "db",
    "cluster",
    "role",
    "status",
    "error",
    "duration_ms",
    "sql",
    "prev_hash",
    "hash",
    "key_id",
];

/// The started records written together with the one `?1` names (or
/// answers), each with its outcome record's fields when it has one: the
/// targets of one invocation. One invocation writes all its started records
/// in one transaction, with one time stamp.
const OPERATION_OF: &str = "
WITH named AS (SELECT COALESCE(started_id, id) AS started FROM audit WHERE id = ?1),
     first AS (SELECT a.ts, a.pid, a.host, a.operation FROM audit a JOIN named n ON a.id = n.started
                WHERE a.outcome = 'started')
SELECT r.id, r.operation, r.env, r.db, r.cluster, r.role, r.status, o.outcome, o.status
  FROM audit r
  JOIN first f ON r.ts = f.ts AND r.pid = f.pid AND r.host = f.host AND r.operation = f.operation
  LEFT JOIN audit o ON o.started_id = r.id
 WHERE r.outcome = 'started'
 ORDER BY r.id";

/// Started records that no outcome record answers.
const UNANSWERED: &str =
    "r.outcome = 'started' AND NOT EXISTS (SELECT 1 FROM audit o WHERE o.started_id = r.id)";

impl AuditStore for FileStore {
    fn start(&mut self, who: &Invocation, operations: &[Operation]) -> Result<Vec<i64>, Error> {
        let ts = crate::time::now();
        let (ids, _) = self.append(who.audit_key.as_ref(), |_, next_id| {
            Ok(operations
                .iter()
                .zip(next_id..)
                .map(|(op, id)| Record {
                    id,
                    ts: ts.clone(),
                    outcome: "started".into(),
                    started_id: None,
                    operation: op.name.clone(),
                    env: op.env.clone(),
                    db: op.db.clone(),
                    cluster: op.cluster.clone(),
                    role: op.role.clone(),
                    status: op.status.clone(),
                    error: None,
                    duration_ms: None,
                    sql: None,
                    ..who_fields(who)
                })
                .collect())
        })?;
        Ok(ids)
    }

    fn finish(&mut self, who: &Invocation, outcomes: &[Finish]) -> Result<Option<Head>, Error> {
        let ts = crate::time::now();
        self.append(who.audit_key.as_ref(), |tx, next_id| {
            let mut started = tx.prepare_cached(
                "SELECT operation, env, db, cluster, role FROM audit WHERE id = ?1",
            )?;
            let mut records = Vec::with_capacity(outcomes.len());
            for (outcome, id) in outcomes.iter().zip(next_id..) {
                let (operation, env, db, cluster, role) = started
                    .query_row([outcome.started], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                    })?;
                records.push(Record {
                    id,
                    ts: ts.clone(),
                    outcome: outcome.outcome.as_str().into(),
                    started_id: Some(outcome.started),
                    operation,
                    env,
                    db,
                    cluster,
                    role,
                    status: outcome.status.clone(),
                    error: outcome.error.clone(),
                    duration_ms: Some(
                        i64::try_from(outcome.duration.as_millis()).unwrap_or(i64::MAX),
                    ),
                    sql: outcome.sql.clone(),
                    ..who_fields(who)
                });
            }
            Ok(records)
        })
        .map(|(_, head)| head)
    }

    fn operation(&self, id: i64) -> Result<Vec<OperationTarget>, Error> {
        let rows = self.read(|conn| {
            let mut stmt = conn.prepare_cached(OPERATION_OF)?;
            let rows = stmt.query_map([id], |row| {
                let mut cells = Cells::new(row);
                let target = OperationTarget {
                    id: cells.integer(0, "id")?,
                    operation: cells.text(1, "operation")?,
                    env: cells.optional_text(2, "env")?,
                    db: cells.optional_text(3, "db")?,
                    cluster: cells.optional_text(4, "cluster")?,
                    role: cells.optional_text(5, "role")?,
                    intent: cells.text(6, "status")?,
                    outcome: cells
                        .optional_text(7, "outcome")?
                        .map(|o| if o == "ok" { Outcome::Ok } else { Outcome::Failed }),
                    status: cells.optional_text(8, "status")?,
                };
                Ok((target, cells.damage()))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        // What `--retry` would work from must be what was written.
        rows.into_iter()
            .map(|(target, damage)| match damage {
                None => Ok(target),
                Some(problem) => Err(Error::Damaged { id: target.id, problem }),
            })
            .collect()
    }

    fn show(&self, filter: &Filter) -> Result<Vec<AuditRow>, Error> {
        let (sql, values) = show_query(filter);
        let rows = self.read(|conn| {
            let mut stmt = conn.prepare(&sql)?;
            let rows = stmt.query_map(params_from_iter(values), audit_row)?;
            rows.collect()
        })?;
        Ok(rows)
    }

    fn head(&self) -> Result<Option<Head>, Error> {
        self.read(last_record)?
    }

    fn passwords_set(&self) -> Result<Vec<PasswordSet>, Error> {
        let [created, reset] = crate::pg::rollout::SETS_PASSWORD;
        Ok(self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT role, cluster, max(ts) FROM audit
                  WHERE outcome = 'ok' AND status IN (?1, ?2)
                    AND role IS NOT NULL AND cluster IS NOT NULL
                  GROUP BY role, cluster",
            )?;
            let rows = stmt.query_map([created, reset], |row| {
                Ok(PasswordSet { role: row.get(0)?, cluster: row.get(1)?, time: row.get(2)? })
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?)
    }

    fn verify(
        &self,
        anchor: Option<&Anchor>,
        key: Option<&AuditKey>,
    ) -> Result<Verification, Error> {
        Ok(self.read(|conn| Walk::new(anchor, key).run(conn))?)
    }
}

/// The state of `audit verify` between two records: it reads each record
/// once, in id order, and keeps nothing of the ones behind it.
struct Walk<'a> {
    anchor: Option<&'a Anchor>,
    key: Option<&'a AuditKey>,
    expected_prev: String,
    last_id: i64,
    records: u64,
    anchor_seen: bool,
    sealed_from: Option<i64>,
    unchecked: u64,
}

impl<'a> Walk<'a> {
    fn new(anchor: Option<&'a Anchor>, key: Option<&'a AuditKey>) -> Self {
        Walk {
            anchor,
            key,
            expected_prev: GENESIS.to_owned(),
            last_id: 0,
            records: 0,
            anchor_seen: false,
            sealed_from: None,
            unchecked: 0,
        }
    }

    fn run(mut self, conn: &rusqlite::Connection) -> rusqlite::Result<Verification> {
        let mut stmt = conn.prepare(&format!(
            "SELECT {RECORD_COLUMNS}, prev_hash, hash, key_id FROM audit ORDER BY id"
        ))?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            self.records += 1;
            if let Some(problem) = self.step(row)? {
                return Ok(self.end(None, Some(problem)));
            }
        }
        let head = (self.records > 0).then(|| (self.last_id, self.expected_prev.clone()));
        let mut problem = self.anchor.filter(|_| !self.anchor_seen).map(|anchor| Break {
            id: anchor.id,
            problem: format!("record #{} is gone: the trail was cut short", anchor.id),
        });
        if problem.is_none() && self.key.is_some() && self.records > 0 && self.sealed_from.is_none()
        {
            problem = Some(Break {
                id: self.last_id,
                problem: format!(
                    "no record was made with the audit key: the trail is not sealed (run `pgacct \
                     audit seal`), or it was rewritten without the key up to record #{}",
                    self.last_id
                ),
            });
        }
        Ok(self.end(head, problem))
    }

    fn end(self, head: Option<(i64, String)>, break_at: Option<Break>) -> Verification {
        Verification {
            records: self.records,
            head: if break_at.is_some() { None } else { head },
            break_at,
            sealed_from: self.sealed_from,
            unchecked: self.unchecked,
        }
    }

    /// Checks one record; how it breaks the trail, if it does.
    fn step(&mut self, row: &Row<'_>) -> rusqlite::Result<Option<Break>> {
        let mut cells = Cells::new(row);
        let record = read_record(&mut cells)?;
        let prev_hash = cells.text(18, NAMES[18])?;
        let hash = cells.text(19, NAMES[19])?;
        let key_id = cells.optional_text(20, NAMES[20])?;
        if let Some(damage) = cells.damage() {
            return Ok(Some(Break {
                id: record.id,
                problem: format!("record #{} holds {damage} (tampered)", record.id),
            }));
        }
        if let Some(problem) = chain_break(&record, self.last_id, &prev_hash, &self.expected_prev) {
            return Ok(Some(problem));
        }
        if let Some(problem) = self.hash_break(&record, &prev_hash, &hash, key_id.as_deref()) {
            return Ok(Some(problem));
        }
        if let Some(anchor) = self.anchor.filter(|a| a.id == record.id) {
            self.anchor_seen = true;
            if anchor.hash != hash {
                let problem = format!(
                    "record #{} no longer has the anchored hash: the trail was rewritten from \
                     there on",
                    anchor.id
                );
                return Ok(Some(Break { id: anchor.id, problem }));
            }
        }
        self.last_id = record.id;
        self.expected_prev = hash;
        Ok(None)
    }

    /// Whether `record` has the hash it should have, made the way its place
    /// in the trail requires: with a key from the seal on.
    fn hash_break(
        &mut self,
        record: &Record,
        prev_hash: &str,
        hash: &str,
        key_id: Option<&str>,
    ) -> Option<Break> {
        let id = record.id;
        let broken = |problem: String| Some(Break { id, problem });
        let Some(key_id) = key_id else {
            if let Some(sealed) = self.sealed_from {
                return broken(format!(
                    "record #{id} was made without the audit key, after the trail was sealed at \
                     record #{sealed} (appended by someone who has not the key)"
                ));
            }
            if record.hash(prev_hash) != hash {
                return broken(format!("record #{id} does not match its hash (edited)"));
            }
            return None;
        };
        self.sealed_from.get_or_insert(id);
        let Some(key) = self.key else {
            self.unchecked += 1;
            return None;
        };
        if key_id != key.id() {
            return broken(format!(
                "record #{id} was made with another audit key (key id {key_id}; the key given \
                 has id {}), or its mark was changed",
                key.id()
            ));
        }
        if record.hash_with(Some(key), prev_hash) != hash {
            return broken(format!(
                "record #{id} does not match its HMAC (edited, or forged without the audit key)"
            ));
        }
        None
    }
}

/// Where the chain's links break at `record`, if they do.
fn chain_break(
    record: &Record,
    last_id: i64,
    prev_hash: &str,
    expected_prev: &str,
) -> Option<Break> {
    if record.id > last_id + 1 {
        let missing = if record.id == last_id + 2 {
            format!("record #{} is missing (deleted)", last_id + 1)
        } else {
            format!("records #{} to #{} are missing (deleted)", last_id + 1, record.id - 1)
        };
        return Some(Break { id: last_id + 1, problem: missing });
    }
    if prev_hash != expected_prev {
        let after =
            if last_id == 0 { "the start".to_owned() } else { format!("record #{last_id}") };
        return Some(Break {
            id: record.id,
            problem: format!(
                "record #{} does not follow {after} (inserted, replaced or re-ordered)",
                record.id
            ),
        });
    }
    None
}

/// `SELECT` for `filter`, built from fixed fragments (values are bound),
/// so that SQLite can use the index that fits the filters given.
fn show_query(filter: &Filter) -> (String, Vec<Value>) {
    let mut conditions = vec![if filter.failed {
        "r.outcome = 'failed'".to_owned()
    } else if filter.incomplete {
        UNANSWERED.to_owned()
    } else {
        format!("(r.outcome IN ('ok', 'failed') OR ({UNANSWERED}))")
    }];
    let mut values: Vec<Value> = Vec::new();
    let mut bind = |condition: &str, value: Option<&str>| {
        if let Some(value) = value {
            values.push(Value::Text(value.to_owned()));
            conditions.push(condition.replace('?', &format!("?{}", values.len())));
        }
    };
    bind("r.env = ?", filter.env.as_deref());
    bind("r.db = ?", filter.db.as_deref());
    bind("r.role = ?", filter.role.as_deref());
    bind("r.actor = ?", filter.actor.as_deref());
    bind(
        "(r.operation = ? OR substr(r.operation, 1, length(?) + 1) = ? || '.')",
        filter.operation.as_deref(),
    );
    bind("r.ts >= ?", filter.since.as_ref().map(super::TimeBound::as_str));
    bind("r.ts < ?", filter.until.as_ref().map(super::TimeBound::as_str));
    values.push(Value::Integer(filter.limit.map_or(-1, i64::from)));
    let sql = format!(
        "SELECT {RECORD_COLUMNS} FROM audit r WHERE {} ORDER BY r.id DESC LIMIT ?{}",
        conditions.join(" AND "),
        values.len()
    );
    (sql, values)
}

fn audit_row(row: &Row<'_>) -> rusqlite::Result<AuditRow> {
    let mut cells = Cells::new(row);
    let record = read_record(&mut cells)?;
    let damaged = cells.damage();
    Ok(AuditRow {
        id: record.id,
        time: record.ts,
        outcome: if record.outcome == "started" { "incomplete".into() } else { record.outcome },
        operation: record.operation,
        env: record.env,
        db: record.db,
        cluster: record.cluster,
        role: record.role,
        status: record.status,
        error: record.error,
        duration_ms: record.duration_ms,
        actor: record.actor,
        host: record.host,
        pid: record.pid,
        ci_job: record.ci_job,
        ticket: record.ticket,
        sql: record.sql,
        started_id: record.started_id.unwrap_or(record.id),
        imported_id: None,
        damaged,
    })
}

/// A record from a row that starts with [`RECORD_COLUMNS`], by position
/// (by name costs a string search per column per row).
fn read_record(cells: &mut Cells<'_, '_>) -> rusqlite::Result<Record> {
    let [
        _,
        ts,
        outcome,
        started_id,
        actor,
        host,
        pid,
        ci_job,
        ticket,
        operation,
        env,
        db,
        cluster,
        role,
        status,
        error,
        duration_ms,
        sql,
        ..,
    ] = NAMES;
    Ok(Record {
        id: cells.integer(0, "id")?,
        ts: cells.text(1, ts)?,
        outcome: cells.text(2, outcome)?,
        started_id: cells.optional_integer(3, started_id)?,
        actor: cells.text(4, actor)?,
        host: cells.text(5, host)?,
        pid: cells.integer(6, pid)?,
        ci_job: cells.optional_text(7, ci_job)?,
        ticket: cells.optional_text(8, ticket)?,
        operation: cells.text(9, operation)?,
        env: cells.optional_text(10, env)?,
        db: cells.optional_text(11, db)?,
        cluster: cells.optional_text(12, cluster)?,
        role: cells.optional_text(13, role)?,
        status: cells.text(14, status)?,
        error: cells.optional_text(15, error)?,
        duration_ms: cells.optional_integer(16, duration_ms)?,
        sql: cells.optional_text(17, sql)?,
    })
}

/// The values of one row, read without trusting their types: what pgacct
/// never writes is noted, and kept in a printable form.
struct Cells<'r, 's> {
    row: &'r Row<'s>,
    damage: Vec<String>,
}

impl<'r, 's> Cells<'r, 's> {
    fn new(row: &'r Row<'s>) -> Self {
        Cells { row, damage: Vec::new() }
    }

    /// What was wrong with the row, in words; `None` when nothing was.
    fn damage(&mut self) -> Option<String> {
        (!self.damage.is_empty()).then(|| self.damage.join(", "))
    }

    fn optional_text(&mut self, i: usize, name: &str) -> rusqlite::Result<Option<String>> {
        Ok(match self.row.get_ref(i)? {
            ValueRef::Null => None,
            ValueRef::Text(bytes) => Some(if let Ok(text) = std::str::from_utf8(bytes) {
                text.to_owned()
            } else {
                self.damage.push(format!("invalid UTF-8 in {name}"));
                escape_bytes(bytes)
            }),
            other => {
                self.damage.push(format!("{} in {name}, which holds text", described(other)));
                Some(shown(other))
            }
        })
    }

    fn text(&mut self, i: usize, name: &str) -> rusqlite::Result<String> {
        let text = self.optional_text(i, name)?;
        Ok(text.unwrap_or_else(|| {
            self.damage.push(format!("NULL in {name}"));
            String::new()
        }))
    }

    fn optional_integer(&mut self, i: usize, name: &str) -> rusqlite::Result<Option<i64>> {
        Ok(match self.row.get_ref(i)? {
            ValueRef::Null => None,
            ValueRef::Integer(n) => Some(n),
            other => {
                self.damage.push(format!("{} in {name}, which holds integers", described(other)));
                None
            }
        })
    }

    fn integer(&mut self, i: usize, name: &str) -> rusqlite::Result<i64> {
        Ok(match self.row.get_ref(i)? {
            ValueRef::Integer(n) => n,
            ValueRef::Null => {
                self.damage.push(format!("NULL in {name}"));
                0
            }
            other => {
                self.damage.push(format!("{} in {name}, which holds integers", described(other)));
                0
            }
        })
    }
}

/// A value of the wrong type, in words, control characters escaped:
/// `a blob (x'00ff')`.
fn described(value: ValueRef<'_>) -> String {
    let kind = match value {
        ValueRef::Null => return "NULL".into(),
        ValueRef::Integer(_) => "an integer",
        ValueRef::Real(_) => "a real",
        ValueRef::Text(_) => "text",
        ValueRef::Blob(_) => "a blob",
    };
    let mut text = String::new();
    for c in shown(value).chars() {
        if c.is_control() {
            text.extend(c.escape_debug());
        } else {
            text.push(c);
        }
    }
    format!("{kind} ({text})")
}

/// A value of the wrong type, as text: numbers as they are, text with
/// anything not UTF-8 escaped, blobs as SQL writes them (`x'00ff'`).
fn shown(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Null => "NULL".into(),
        ValueRef::Integer(n) => n.to_string(),
        ValueRef::Real(x) => x.to_string(),
        ValueRef::Text(bytes) => escape_bytes(bytes),
        ValueRef::Blob(bytes) => format!("x'{}'", super::chain::hex(bytes)),
    }
}

/// `bytes` as text, each byte that is not part of valid UTF-8 as `\xNN`.
fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// The newest record, as a head.
fn last_record(conn: &rusqlite::Connection) -> rusqlite::Result<Result<Option<Head>, Error>> {
    let last = conn
        .query_row("SELECT id, hash, key_id FROM audit ORDER BY id DESC LIMIT 1", [], |row| {
            let mut cells = Cells::new(row);
            let head = Head {
                id: cells.integer(0, "id")?,
                hash: cells.text(1, "hash")?,
                key_id: cells.optional_text(2, "key_id")?,
            };
            Ok((head, cells.damage()))
        })
        .optional()?;
    Ok(match last {
        Some((head, Some(problem))) => Err(Error::Damaged { id: head.id, problem }),
        Some((head, None)) => Ok(Some(head)),
        None => Ok(None),
    })
}

/// The fields of a record that describe the process.
fn who_fields(who: &Invocation) -> Record {
    Record {
        id: 0,
        ts: String::new(),
        outcome: String::new(),
        started_id: None,
        actor: who.actor.clone(),
        host: who.host.clone(),
        pid: i64::from(who.pid),
        ci_job: who.ci_job.clone(),
        ticket: who.ticket.clone(),
        operation: String::new(),
        env: None,
        db: None,
        cluster: None,
        role: None,
        status: String::new(),
        error: None,
        duration_ms: None,
        sql: None,
    }
}

/// Reads a verified local trail for copying (`store migrate`): in batches,
/// in id order, up to the head its verification reported, checking every
/// record's link and hash again on the way, so that what is copied is what
/// verified even if the file changed in between.
#[derive(Debug)]
pub struct Export<'k> {
    key: Option<&'k AuditKey>,
    head: Option<(i64, String)>,
    last_id: i64,
    prev: String,
}

impl<'k> Export<'k> {
    /// The trail up to `head` ([`Verification::head`]), whose keyed records
    /// are checked with `key`.
    pub fn new(head: Option<(i64, String)>, key: Option<&'k AuditKey>) -> Self {
        Export { key, head, last_id: 0, prev: GENESIS.to_owned() }
    }

    /// The next (at most) `limit` records; empty at the head.
    pub fn next_batch(
        &mut self,
        store: &FileStore,
        limit: usize,
    ) -> Result<Vec<super::StoredRecord>, Error> {
        let Some((head_id, head_hash)) = self.head.clone() else { return Ok(Vec::new()) };
        if self.last_id >= head_id {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = store.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {RECORD_COLUMNS}, prev_hash, hash, key_id FROM audit
                  WHERE id > ?1 AND id <= ?2 ORDER BY id LIMIT ?3"
            ))?;
            let rows = stmt.query_map(params![self.last_id, head_id, limit], |row| {
                let mut cells = Cells::new(row);
                let record = read_record(&mut cells)?;
                let prev_hash = cells.text(18, NAMES[18])?;
                let hash = cells.text(19, NAMES[19])?;
                let key_id = cells.optional_text(20, NAMES[20])?;
                Ok((record, prev_hash, hash, key_id, cells.damage()))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        let changed = |id: i64, what: &str| Error::Damaged {
            id,
            problem: format!("{what} since the trail was verified; run the command again"),
        };
        if rows.is_empty() {
            return Err(changed(self.last_id + 1, "it is gone"));
        }
        let mut batch = Vec::with_capacity(rows.len());
        for (record, prev_hash, hash, key_id, damage) in rows {
            let id = record.id;
            if let Some(problem) = damage {
                return Err(Error::Damaged { id, problem });
            }
            if id != self.last_id + 1 || prev_hash != self.prev {
                return Err(changed(id, "the trail was changed there"));
            }
            let expected = match (&key_id, self.key) {
                (None, _) => record.hash(&prev_hash),
                (Some(_), Some(key)) => record.hash_with(Some(key), &prev_hash),
                (Some(_), None) => return Err(Error::Sealed { id }),
            };
            if expected != hash {
                return Err(changed(id, "it was changed"));
            }
            self.last_id = id;
            self.prev.clone_from(&hash);
            batch.push(super::StoredRecord { record, hash });
        }
        if self.last_id == head_id && self.prev != head_hash {
            return Err(changed(head_id, "it was changed"));
        }
        Ok(batch)
    }
}

impl FileStore {
    /// Appends the records `build` makes (given the transaction and the
    /// next free id) after the current last record, chaining their hashes,
    /// made with `key` when there is one. A trail whose last record was
    /// made with a key takes only records made with that key.
    /// Returns their ids, and the new head when something was appended.
    fn append(
        &mut self,
        key: Option<&AuditKey>,
        build: impl FnOnce(&rusqlite::Transaction<'_>, i64) -> rusqlite::Result<Vec<Record>>,
    ) -> Result<(Vec<i64>, Option<Head>), Error> {
        self.write(|tx| {
            let last = match last_record(tx)? {
                Ok(last) => last,
                Err(err) => return Ok(Err(err)),
            };
            if let Some(Head { id, key_id: Some(theirs), .. }) = &last {
                match key {
                    None => return Ok(Err(Error::Sealed { id: *id })),
                    Some(key) if key.id() != theirs => {
                        let (theirs, ours) = (theirs.clone(), key.id().to_owned());
                        return Ok(Err(Error::OtherKey { id: *id, theirs, ours }));
                    }
                    Some(_) => {}
                }
            }
            let (last_id, mut prev) =
                last.map_or_else(|| (0, GENESIS.to_owned()), |h| (h.id, h.hash));
            let key_id = key.map(AuditKey::id);
            let records = build(tx, last_id + 1)?;
            let mut insert = tx.prepare_cached(&format!(
                "INSERT INTO audit ({RECORD_COLUMNS}, prev_hash, hash, key_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                         ?17, ?18, ?19, ?20, ?21)"
            ))?;
            for r in &records {
                let hash = r.hash_with(key, &prev);
                insert.execute(params![
                    r.id,
                    r.ts,
                    r.outcome,
                    r.started_id,
                    r.actor,
                    r.host,
                    r.pid,
                    r.ci_job,
                    r.ticket,
                    r.operation,
                    r.env,
                    r.db,
                    r.cluster,
                    r.role,
                    r.status,
                    r.error,
                    r.duration_ms,
                    r.sql,
                    prev,
                    hash,
                    key_id
                ])?;
                prev = hash;
            }
            let head = records.last().map(|r| Head {
                id: r.id,
                hash: prev,
                key_id: key_id.map(str::to_owned),
            });
            Ok(Ok((records.iter().map(|r| r.id).collect(), head)))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn open() -> (tempfile::TempDir, FileStore) {
        crate::store::scratch()
    }

    fn who() -> Invocation {
        Invocation {
            actor: "alice".into(),
            host: "bastion".into(),
            pid: 1,
            ci_job: None,
            ticket: Some("CHG-7".into()),
            audit_key: None,
        }
    }

    fn op(name: &str, role: &str) -> Operation {
        Operation {
            name: name.into(),
            env: Some("prod".into()),
            db: Some("orders".into()),
            cluster: Some("db1:5432".into()),
            role: Some(role.into()),
            status: "about to".into(),
        }
    }

    fn finish(started: i64, ok: bool) -> Finish {
        Finish {
            started,
            outcome: if ok { Outcome::Ok } else { Outcome::Failed },
            status: if ok { "done" } else { "failed" }.into(),
            error: (!ok).then(|| "boom".into()),
            duration: Duration::from_millis(12),
            sql: None,
        }
    }

    #[test]
    fn operations_show_once_with_their_outcome() {
        let (_dir, mut db) = open();
        let ids = db.start(&who(), &[op("user.create", "app"), op("user.create", "web")]).unwrap();
        assert_eq!(ids, [1, 2]);
        db.finish(&who(), &[finish(1, true)]).unwrap();
        let rows = db.show(&Filter::default()).unwrap();
        let outcomes: Vec<(&str, &str)> =
            rows.iter().map(|r| (r.role.as_deref().unwrap(), r.outcome.as_str())).collect();
        assert_eq!(outcomes, [("app", "ok"), ("web", "incomplete")]);
        assert_eq!(rows[0].started_id, 1);
        assert_eq!(rows[0].duration_ms, Some(12));

        let incomplete = db.show(&Filter { incomplete: true, ..Filter::default() }).unwrap();
        assert_eq!(incomplete.len(), 1);
        let by_role = db.show(&Filter { role: Some("app".into()), ..Filter::default() }).unwrap();
        assert_eq!(by_role.len(), 1);
        let by_prefix =
            db.show(&Filter { operation: Some("user".into()), ..Filter::default() }).unwrap();
        assert_eq!(by_prefix.len(), 2);
        let not_a_prefix =
            db.show(&Filter { operation: Some("use".into()), ..Filter::default() }).unwrap();
        assert!(not_a_prefix.is_empty());
    }

    #[test]
    fn an_operation_is_the_started_records_of_one_invocation() {
        let (_dir, mut db) = open();
        db.start(&who(), &[op("user.lock", "earlier")]).unwrap();
        let ids = db.start(&who(), &[op("user.create", "app"), op("user.create", "app")]).unwrap();
        db.finish(&who(), &[finish(ids[0], true)]).unwrap();
        let targets = db.operation(ids[1]).unwrap();
        let seen: Vec<(i64, Option<Outcome>)> = targets.iter().map(|t| (t.id, t.outcome)).collect();
        assert_eq!(seen, [(ids[0], Some(Outcome::Ok)), (ids[1], None)]);
        assert_eq!(targets[0].intent, "about to");
        assert_eq!(targets[0].status.as_deref(), Some("done"));
        let by_outcome_record = db.operation(ids[1] + 1).unwrap();
        assert_eq!(by_outcome_record, targets, "an outcome record names its operation too");
        assert!(db.operation(99).unwrap().is_empty());
    }

    #[test]
    fn a_fresh_chain_verifies_and_reports_its_head() {
        let (_dir, mut db) = open();
        assert_eq!(
            db.verify(None, None).unwrap(),
            Verification {
                records: 0,
                head: None,
                break_at: None,
                sealed_from: None,
                unchecked: 0
            }
        );
        db.start(&who(), &[op("registry.add", "x")]).unwrap();
        db.finish(&who(), &[finish(1, false)]).unwrap();
        let verification = db.verify(None, None).unwrap();
        assert_eq!(verification.records, 2);
        assert_eq!(verification.break_at, None);
        let (id, hash) = verification.head.unwrap();
        assert_eq!(id, 2);
        let anchor = Anchor { id, hash };
        assert_eq!(db.verify(Some(&anchor), None).unwrap().break_at, None);
        let wrong = Anchor { id: 2, hash: GENESIS.into() };
        assert!(
            db.verify(Some(&wrong), None).unwrap().break_at.unwrap().problem.contains("rewritten")
        );
        let gone = Anchor { id: 9, hash: GENESIS.into() };
        assert!(
            db.verify(Some(&gone), None).unwrap().break_at.unwrap().problem.contains("cut short")
        );
    }

    #[test]
    fn the_triggers_refuse_changes() {
        let (_dir, mut db) = open();
        db.start(&who(), &[op("registry.add", "x")]).unwrap();
        let update = db.read(|c| c.execute("UPDATE audit SET actor = 'mallory'", [])).unwrap_err();
        assert!(format!("{update:?}").contains("append-only"), "{update}");
        let delete = db.read(|c| c.execute("DELETE FROM audit", [])).unwrap_err();
        assert!(format!("{delete:?}").contains("append-only"), "{delete}");
    }

    fn key(text: &str) -> AuditKey {
        AuditKey::parse(&text.repeat(32), "test").unwrap()
    }

    fn keyed(key: &AuditKey) -> Invocation {
        Invocation { audit_key: Some(key.clone()), ..who() }
    }

    /// Appends a record the way someone with write access to the file
    /// would: a correct chain link, the hash made with `key` (plain SHA-256
    /// without one), and `mark` in `key_id`.
    fn forge(db: &FileStore, key: Option<&AuditKey>, mark: Option<&str>) -> i64 {
        let head = db.head().unwrap().unwrap();
        let r = Record {
            id: head.id + 1,
            ts: crate::time::now(),
            outcome: "ok".into(),
            status: "user dropped".into(),
            operation: "user.drop".into(),
            ..who_fields(&who())
        };
        let hash = r.hash_with(key, &head.hash);
        db.read(|c| {
            c.execute(
                "INSERT INTO audit (id, ts, outcome, actor, host, pid, ticket, operation, status,
                                    prev_hash, hash, key_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    r.id,
                    r.ts,
                    r.outcome,
                    r.actor,
                    r.host,
                    r.pid,
                    r.ticket,
                    r.operation,
                    r.status,
                    head.hash,
                    hash,
                    mark
                ],
            )
        })
        .unwrap();
        r.id
    }

    #[test]
    fn a_trail_sealed_by_its_first_keyed_record_verifies_with_the_key() {
        let (_dir, mut db) = open();
        let (k, other) = (key("a"), key("b"));
        db.start(&who(), &[op("registry.add", "x")]).unwrap();
        let ids = db.start(&keyed(&k), &[op("user.create", "app")]).unwrap();
        let head = db.finish(&keyed(&k), &[finish(ids[0], true)]).unwrap().unwrap();
        assert_eq!(head.key_id.as_deref(), Some(k.id()));

        let with_key = db.verify(None, Some(&k)).unwrap();
        assert_eq!(with_key.break_at, None);
        assert_eq!((with_key.sealed_from, with_key.unchecked), (Some(2), 0));
        let without = db.verify(None, None).unwrap();
        assert_eq!(without.break_at, None, "the chain itself is intact");
        assert_eq!((without.sealed_from, without.unchecked), (Some(2), 2));
        let wrong = db.verify(None, Some(&other)).unwrap().break_at.unwrap();
        assert_eq!(wrong.id, 2);
        assert!(wrong.problem.contains("another audit key"), "{}", wrong.problem);
    }

    #[test]
    fn a_sealed_trail_takes_no_record_without_its_key() {
        let (_dir, mut db) = open();
        let k = key("a");
        db.start(&keyed(&k), &[op("user.create", "app")]).unwrap();
        assert!(matches!(
            db.start(&who(), &[op("user.lock", "app")]),
            Err(Error::Sealed { id: 1 })
        ));
        let other = db.start(&keyed(&key("b")), &[op("user.lock", "app")]);
        assert!(matches!(other, Err(Error::OtherKey { id: 1, .. })), "{other:?}");
        assert_eq!(db.verify(None, Some(&k)).unwrap().records, 1, "nothing was appended");
    }

    #[test]
    fn records_forged_without_the_key_fail_where_they_are() {
        let k = key("a");
        // Before the seal, a plain record with a correct chain verifies...
        let (_dir, mut db) = open();
        db.start(&who(), &[op("registry.add", "x")]).unwrap();
        forge(&db, None, None);
        assert_eq!(db.verify(None, None).unwrap().break_at, None);
        // ...but with a key set, a trail with no keyed record does not.
        let unsealed = db.verify(None, Some(&k)).unwrap().break_at.unwrap();
        assert_eq!(unsealed.id, 2);
        assert!(unsealed.problem.contains("not sealed"), "{}", unsealed.problem);

        // After the seal, a plain record fails, with the key or without.
        db.start(&keyed(&k), &[op("user.create", "app")]).unwrap();
        let plain = forge(&db, None, None);
        for given in [None, Some(&k)] {
            let at = db.verify(None, given).unwrap().break_at.unwrap();
            assert_eq!(at.id, plain);
            assert!(at.problem.contains("without the audit key"), "{}", at.problem);
        }

        // A record marked as keyed but made without the key fails its HMAC.
        let (_dir, mut db) = open();
        db.start(&keyed(&k), &[op("user.create", "app")]).unwrap();
        let marked = forge(&db, None, Some(k.id()));
        let at = db.verify(None, Some(&k)).unwrap().break_at.unwrap();
        assert_eq!(at.id, marked);
        assert!(at.problem.contains("HMAC"), "{}", at.problem);
        // Without the key that cannot be seen, and the count says so.
        let blind = db.verify(None, None).unwrap();
        assert_eq!((blind.break_at, blind.unchecked), (None, 2));
        // And with the real key, the forger's copy of a keyed record is good.
        let (_dir, mut db) = open();
        db.start(&keyed(&k), &[op("user.create", "app")]).unwrap();
        forge(&db, Some(&k), Some(k.id()));
        assert_eq!(db.verify(None, Some(&k)).unwrap().break_at, None);
    }

    #[test]
    fn stripping_the_mark_of_a_keyed_record_fails() {
        let (_dir, mut db) = open();
        let k = key("a");
        db.start(&keyed(&k), &[op("user.create", "app"), op("user.create", "web")]).unwrap();
        db.read(|c| {
            c.execute_batch(
                "DROP TRIGGER audit_no_update; UPDATE audit SET key_id = NULL WHERE id = 2;",
            )
        })
        .unwrap();
        let at = db.verify(None, None).unwrap().break_at.unwrap();
        assert_eq!(at.id, 2);
        assert!(at.problem.contains("after the trail was sealed"), "{}", at.problem);
        db.read(|c| c.execute_batch("UPDATE audit SET key_id = NULL WHERE id = 1")).unwrap();
        let at = db.verify(None, Some(&k)).unwrap().break_at.unwrap();
        assert_eq!(at.id, 1);
        assert!(at.problem.contains("does not match its hash"), "{}", at.problem);
    }

    #[test]
    fn a_record_with_bytes_pgacct_never_writes_is_named_and_still_shown() {
        let (_dir, mut db) = open();
        db.start(&who(), &[op("user.create", "app")]).unwrap();
        db.finish(&who(), &[finish(1, true)]).unwrap();
        db.read(|c| {
            c.execute_batch(
                "DROP TRIGGER audit_no_update;
                 UPDATE audit SET status = CAST(x'6f6bff21' AS TEXT) WHERE id = 2;",
            )
        })
        .unwrap();
        let at = db.verify(None, None).unwrap().break_at.unwrap();
        assert_eq!(at.id, 2);
        assert!(at.problem.contains("invalid UTF-8 in status"), "{}", at.problem);
        let rows = db.show(&Filter::default()).unwrap();
        assert_eq!(rows[0].status, "ok\\xff!");
        assert_eq!(rows[0].damaged.as_deref(), Some("invalid UTF-8 in status"));
    }
}
