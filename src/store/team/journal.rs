//! [`AuditStore`] on a team store: records go in through the store's
//! `append_audit` function only, which sets their time, writer and hash;
//! reads are those of `audit show` and `audit verify` ([`super::trail`]).
//!
//! One call writes its records in one transaction, sent as one pipeline
//! (`BEGIN`, an append per record, `COMMIT`): one round trip however many
//! targets a change has. The appends of one transaction hold the append
//! lock until it commits, so the started records of one invocation have
//! consecutive ids, which is how [`AuditStore::operation`] finds them.

use futures_util::future::join_all;
use tokio_postgres::Row;
use tokio_postgres::types::{ToSql, Type};

use super::store::TeamError;
use super::trail::TrailError;
use super::{TeamStore, show_trail, verify_trail};
use crate::audit::{
    Anchor, AuditKey, AuditRow, AuditStore, Error, Filter, Finish, Head, Invocation, Operation,
    OperationTarget, Outcome, PasswordSet, Verification,
};

/// A started record: what the client knows, `$1` to `$16` of
/// `append_audit` in its order.
const APPEND: &str = "SELECT id, hash FROM {schema}.append_audit(
    'started', NULL, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, NULL, NULL)";

/// An outcome record: its operation, env, db, cluster and role are those
/// of the started record it answers (`$11`).
const ANSWER: &str = "SELECT a.id, a.hash
  FROM {schema}.audit s,
       LATERAL {schema}.append_audit($1, s.id, $2, $3, $4, $5, $6, s.operation, s.env, s.db,
                                     s.cluster, s.role, $7, $8, $9, $10) a
 WHERE s.id = $11 AND s.outcome = 'started'";

/// The started records written with the one `$1` names (or answers), each
/// with its outcome when it has one: a run of consecutive started records
/// of one process (host, pid, operation, writer).
const OPERATION_OF: &str = "
WITH RECURSIVE
named AS (SELECT coalesce(started_id, id) AS started FROM {schema}.audit WHERE id = $1),
first AS (SELECT a.id, a.host, a.pid, a.operation, a.actor
            FROM {schema}.audit a JOIN named n ON a.id = n.started
           WHERE a.outcome = 'started'),
before(id) AS (
    SELECT id FROM first
    UNION ALL
    SELECT a.id FROM before b
      JOIN {schema}.audit a ON a.id = b.id - 1
      JOIN first f ON (a.host, a.pid, a.operation, a.actor) = (f.host, f.pid, f.operation, f.actor)
     WHERE a.outcome = 'started'),
after(id) AS (
    SELECT id FROM first
    UNION ALL
    SELECT a.id FROM after b
      JOIN {schema}.audit a ON a.id = b.id + 1
      JOIN first f ON (a.host, a.pid, a.operation, a.actor) = (f.host, f.pid, f.operation, f.actor)
     WHERE a.outcome = 'started'),
members AS (SELECT id FROM before UNION SELECT id FROM after)
SELECT r.id, r.operation, r.env, r.db, r.cluster, r.role, r.status, o.outcome, o.status
  FROM {schema}.audit r
  JOIN members m ON r.id = m.id
  LEFT JOIN {schema}.audit o ON o.started_id = r.id
 ORDER BY r.id";

const HEAD: &str = "SELECT id, hash FROM {schema}.audit ORDER BY id DESC LIMIT 1";

/// When each role's password was last set, per cluster, as the local
/// trail's time is written.
const PASSWORDS_SET: &str = "
SELECT role, cluster, to_char(max(ts) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')
  FROM {schema}.audit
 WHERE outcome = 'ok' AND status IN ($1, $2) AND role IS NOT NULL AND cluster IS NOT NULL
 GROUP BY role, cluster";

impl AuditStore for TeamStore {
    fn start(&mut self, who: &Invocation, operations: &[Operation]) -> Result<Vec<i64>, Error> {
        self.check_writable()?;
        let sql = self.names().fill(APPEND);
        let who = Who::of(who);
        let params: Vec<Vec<(&(dyn ToSql + Sync), Type)>> = operations
            .iter()
            .map(|op| {
                let mut params = who.params();
                params.extend([
                    (&op.name as &(dyn ToSql + Sync), Type::TEXT),
                    (&op.env, Type::TEXT),
                    (&op.db, Type::TEXT),
                    (&op.cluster, Type::TEXT),
                    (&op.role, Type::TEXT),
                    (&op.status, Type::TEXT),
                ]);
                params
            })
            .collect();
        let heads = self.append(&sql, &params)?;
        Ok(heads.into_iter().map(|head| head.id).collect())
    }

    fn finish(&mut self, who: &Invocation, outcomes: &[Finish]) -> Result<Option<Head>, Error> {
        if outcomes.is_empty() {
            return Ok(None);
        }
        self.check_writable()?;
        let sql = self.names().fill(ANSWER);
        let who = Who::of(who);
        let values: Vec<(&str, i64)> = outcomes
            .iter()
            .map(|f| {
                (f.outcome.as_str(), i64::try_from(f.duration.as_millis()).unwrap_or(i64::MAX))
            })
            .collect();
        let params: Vec<Vec<(&(dyn ToSql + Sync), Type)>> = outcomes
            .iter()
            .zip(&values)
            .map(|(finish, (outcome, duration_ms))| {
                let mut params = vec![(outcome as &(dyn ToSql + Sync), Type::TEXT)];
                params.extend(who.params());
                params.extend([
                    (&finish.status as &(dyn ToSql + Sync), Type::TEXT),
                    (&finish.error, Type::TEXT),
                    (duration_ms, Type::INT8),
                    (&finish.sql, Type::TEXT),
                    (&finish.started, Type::INT8),
                ]);
                params
            })
            .collect();
        Ok(self.append(&sql, &params)?.pop())
    }

    fn operation(&self, id: i64) -> Result<Vec<OperationTarget>, Error> {
        let sql = self.names().fill(OPERATION_OF);
        let rows = self.run(self.session().query_typed(&sql, &[(&id, Type::INT8)]));
        let rows = rows.map_err(|err| self.failed("read the audit trail", &err))?;
        rows.iter().map(|row| self.operation_target(row)).collect()
    }

    fn show(&self, filter: &Filter) -> Result<Vec<AuditRow>, Error> {
        let rows = self.run(show_trail(self.session(), self.names(), filter));
        rows.map_err(|err| self.trail_error(err))
    }

    fn head(&self) -> Result<Option<Head>, Error> {
        let sql = self.names().fill(HEAD);
        let rows = self.run(self.session().query_typed(&sql, &[]));
        let rows = rows.map_err(|err| self.failed("read the audit trail", &err))?;
        rows.first().map(|row| self.head_of(row)).transpose()
    }

    fn passwords_set(&self) -> Result<Vec<PasswordSet>, Error> {
        let [created, reset] = crate::pg::rollout::SETS_PASSWORD;
        let sql = self.names().fill(PASSWORDS_SET);
        let rows = self
            .run(self.session().query_typed(&sql, &[(&created, Type::TEXT), (&reset, Type::TEXT)]));
        let rows = rows.map_err(|err| self.failed("read the audit trail", &err))?;
        rows.iter()
            .map(|row| {
                let read = |err| self.failed("read the audit trail", &err);
                Ok(PasswordSet {
                    role: row.try_get(0).map_err(read)?,
                    cluster: row.try_get(1).map_err(read)?,
                    time: row.try_get(2).map_err(read)?,
                })
            })
            .collect()
    }

    /// The server attests a team trail's records; there is no audit key to
    /// check them with, so `key` is not used.
    fn verify(
        &self,
        anchor: Option<&Anchor>,
        _key: Option<&AuditKey>,
    ) -> Result<Verification, Error> {
        let verification = self.run(verify_trail(self.session(), self.names(), anchor));
        verification.map_err(|err| self.trail_error(err))
    }
}

impl TeamStore {
    /// Runs one append per parameter list, in order, in one transaction
    /// sent as one pipeline; the records' ids and hashes. Any failure rolls
    /// back every one of them.
    fn append(
        &self,
        sql: &str,
        params: &[Vec<(&(dyn ToSql + Sync), Type)>],
    ) -> Result<Vec<Head>, Error> {
        if params.is_empty() {
            return Ok(Vec::new());
        }
        let session = self.session();
        let (begun, appended, committed) = self.run(async {
            // Joined futures are polled in order, so the statements go out
            // in this order on the one connection, without waiting between.
            futures_util::join!(
                session.simple_query("BEGIN"),
                join_all(params.iter().map(|p| session.query_typed(sql, p))),
                session.simple_query("COMMIT"),
            )
        });
        let failed = |err: tokio_postgres::Error| -> Error {
            self.failed("append to the audit trail", &err).into()
        };
        begun.map_err(failed)?;
        let mut heads = Vec::with_capacity(params.len());
        for rows in appended {
            let rows = rows.map_err(failed)?;
            let row = rows.first().ok_or_else(|| {
                Error::from(crate::store::Error::from(TeamError::Query {
                    place: self.place().to_owned(),
                    doing: "append to the audit trail",
                    message: "an outcome names a started record the trail does not hold".into(),
                }))
            })?;
            heads.push(self.head_of(row)?);
        }
        // After a failed append, COMMIT ends the transaction as a rollback
        // without an error of its own: the append's error is reported above.
        committed.map_err(failed)?;
        Ok(heads)
    }

    fn head_of(&self, row: &Row) -> Result<Head, Error> {
        let id = row.try_get(0).map_err(|err| self.failed("read the audit trail", &err))?;
        let hash = row.try_get(1).map_err(|err| self.failed("read the audit trail", &err))?;
        Ok(Head { id, hash, key_id: None })
    }

    fn operation_target(&self, row: &Row) -> Result<OperationTarget, Error> {
        let read = |err: tokio_postgres::Error| self.failed("read the audit trail", &err);
        let outcome: Option<String> = row.try_get(7).map_err(read)?;
        Ok(OperationTarget {
            id: row.try_get(0).map_err(read)?,
            operation: row.try_get(1).map_err(read)?,
            env: row.try_get(2).map_err(read)?,
            db: row.try_get(3).map_err(read)?,
            cluster: row.try_get(4).map_err(read)?,
            role: row.try_get(5).map_err(read)?,
            intent: row.try_get(6).map_err(read)?,
            outcome: match outcome.as_deref() {
                None => None,
                Some("ok") => Some(Outcome::Ok),
                Some(_) => Some(Outcome::Failed),
            },
            status: row.try_get(8).map_err(read)?,
        })
    }

    fn trail_error(&self, err: TrailError) -> Error {
        let place = self.place().to_owned();
        let team = match err {
            TrailError::Newer(err) => TeamError::Newer(err),
            TrailError::Absent { .. } => TeamError::Absent { place },
            TrailError::Read { message } => {
                TeamError::Query { place, doing: "read the audit trail", message }
            }
        };
        crate::store::Error::from(team).into()
    }
}

/// The fields of every record that describe the process, as bind values:
/// `os_user`, `host`, `pid`, `ci_job`, `ticket`.
struct Who<'a> {
    who: &'a Invocation,
    pid: i64,
}

impl<'a> Who<'a> {
    fn of(who: &'a Invocation) -> Who<'a> {
        Who { who, pid: i64::from(who.pid) }
    }

    fn params(&self) -> Vec<(&(dyn ToSql + Sync), Type)> {
        vec![
            (&self.who.actor, Type::TEXT),
            (&self.who.host, Type::TEXT),
            (&self.pid, Type::INT8),
            (&self.who.ci_job, Type::TEXT),
            (&self.who.ticket, Type::TEXT),
        ]
    }
}
