//! [`AuditStore`] in the local store file: the audit trail's queries.
//!
//! An append reads the last record's id and hash and inserts after it in
//! one `BEGIN IMMEDIATE` transaction, so concurrent pgacct processes queue
//! on the write lock and the records form a single chain.

use rusqlite::types::Value;
use rusqlite::{OptionalExtension, Row, params, params_from_iter};

use super::chain::{GENESIS, Record};
use super::{
    Anchor, AuditRow, AuditStore, Break, Error, Filter, Finish, Head, Invocation, Operation,
    OperationTarget, Outcome, Verification,
};
use crate::store::Store;

const RECORD_COLUMNS: &str = "id, ts, outcome, started_id, actor, host, pid, ci_job, ticket, \
                              operation, env, db, cluster, role, status, error, duration_ms, sql";

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

impl AuditStore for Store {
    fn start(&mut self, who: &Invocation, operations: &[Operation]) -> Result<Vec<i64>, Error> {
        let ts = crate::time::now();
        let (ids, _) = self.append(|_, next_id| {
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
        self.append(|tx, next_id| {
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
                let outcome: Option<String> = row.get(7)?;
                Ok(OperationTarget {
                    id: row.get(0)?,
                    operation: row.get(1)?,
                    env: row.get(2)?,
                    db: row.get(3)?,
                    cluster: row.get(4)?,
                    role: row.get(5)?,
                    intent: row.get(6)?,
                    outcome: outcome.map(|o| if o == "ok" { Outcome::Ok } else { Outcome::Failed }),
                    status: row.get(8)?,
                })
            })?;
            rows.collect()
        })?;
        Ok(rows)
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

    fn verify(&self, anchor: Option<&Anchor>) -> Result<Verification, Error> {
        let walk = |conn: &rusqlite::Connection| -> rusqlite::Result<Verification> {
            let mut stmt = conn.prepare(&format!(
                "SELECT {RECORD_COLUMNS}, prev_hash, hash FROM audit ORDER BY id"
            ))?;
            let mut rows = stmt.query([])?;
            let mut expected_prev = GENESIS.to_owned();
            let mut last_id = 0;
            let mut records = 0;
            let mut anchor_seen = false;
            while let Some(row) = rows.next()? {
                let record = record_from_row(row)?;
                let prev_hash: String = row.get(18)?;
                let hash: String = row.get(19)?;
                records += 1;
                if let Some(problem) =
                    chain_break(&record, last_id, &prev_hash, &expected_prev, &hash)
                {
                    return Ok(Verification { records, head: None, break_at: Some(problem) });
                }
                if let Some(anchor) = anchor.filter(|a| a.id == record.id) {
                    anchor_seen = true;
                    if anchor.hash != hash {
                        let problem = format!(
                            "record #{} no longer has the anchored hash: the trail was rewritten \
                             from there on",
                            anchor.id
                        );
                        return Ok(Verification {
                            records,
                            head: None,
                            break_at: Some(Break { id: anchor.id, problem }),
                        });
                    }
                }
                last_id = record.id;
                expected_prev = hash;
            }
            let head = (records > 0).then_some((last_id, expected_prev));
            let break_at = anchor.filter(|_| !anchor_seen).map(|anchor| Break {
                id: anchor.id,
                problem: format!("record #{} is gone: the trail was cut short", anchor.id),
            });
            Ok(Verification { records, head, break_at })
        };
        Ok(self.read(walk)?)
    }
}

/// Where the chain breaks at `record`, if it does.
fn chain_break(
    record: &Record,
    last_id: i64,
    prev_hash: &str,
    expected_prev: &str,
    hash: &str,
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
    if record.hash(prev_hash) != hash {
        return Some(Break {
            id: record.id,
            problem: format!("record #{} does not match its hash (edited)", record.id),
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
    let record = record_from_row(row)?;
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
    })
}

/// A record from a row that starts with [`RECORD_COLUMNS`], by position
/// (by name costs a string search per column per row).
fn record_from_row(row: &Row<'_>) -> rusqlite::Result<Record> {
    Ok(Record {
        id: row.get(0)?,
        ts: row.get(1)?,
        outcome: row.get(2)?,
        started_id: row.get(3)?,
        actor: row.get(4)?,
        host: row.get(5)?,
        pid: row.get(6)?,
        ci_job: row.get(7)?,
        ticket: row.get(8)?,
        operation: row.get(9)?,
        env: row.get(10)?,
        db: row.get(11)?,
        cluster: row.get(12)?,
        role: row.get(13)?,
        status: row.get(14)?,
        error: row.get(15)?,
        duration_ms: row.get(16)?,
        sql: row.get(17)?,
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

impl Store {
    /// Appends the records `build` makes (given the transaction and the
    /// next free id) after the current last record, chaining their hashes.
    /// Returns their ids, and the new head when something was appended.
    fn append(
        &mut self,
        build: impl FnOnce(&rusqlite::Transaction<'_>, i64) -> rusqlite::Result<Vec<Record>>,
    ) -> Result<(Vec<i64>, Option<Head>), Error> {
        self.write(|tx| {
            let last: Option<(i64, String)> = tx
                .query_row("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            let (last_id, mut prev) = last.unwrap_or_else(|| (0, GENESIS.to_owned()));
            let records = build(tx, last_id + 1)?;
            let mut insert = tx.prepare_cached(&format!(
                "INSERT INTO audit ({RECORD_COLUMNS}, prev_hash, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                         ?17, ?18, ?19, ?20)"
            ))?;
            for r in &records {
                let hash = r.hash(&prev);
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
                    hash
                ])?;
                prev = hash;
            }
            let head = records.last().map(|r| Head { id: r.id, hash: prev });
            Ok(Ok((records.iter().map(|r| r.id).collect(), head)))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn open() -> (tempfile::TempDir, Store) {
        crate::store::scratch()
    }

    fn who() -> Invocation {
        Invocation {
            actor: "alice".into(),
            host: "bastion".into(),
            pid: 1,
            ci_job: None,
            ticket: Some("CHG-7".into()),
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
            db.verify(None).unwrap(),
            Verification { records: 0, head: None, break_at: None }
        );
        db.start(&who(), &[op("registry.add", "x")]).unwrap();
        db.finish(&who(), &[finish(1, false)]).unwrap();
        let verification = db.verify(None).unwrap();
        assert_eq!(verification.records, 2);
        assert_eq!(verification.break_at, None);
        let (id, hash) = verification.head.unwrap();
        assert_eq!(id, 2);
        let anchor = Anchor { id, hash };
        assert_eq!(db.verify(Some(&anchor)).unwrap().break_at, None);
        let wrong = Anchor { id: 2, hash: GENESIS.into() };
        assert!(db.verify(Some(&wrong)).unwrap().break_at.unwrap().problem.contains("rewritten"));
        let gone = Anchor { id: 9, hash: GENESIS.into() };
        assert!(db.verify(Some(&gone)).unwrap().break_at.unwrap().problem.contains("cut short"));
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
}
