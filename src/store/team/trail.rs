//! `pgacct audit verify` on a team store: read the trail in id order, in
//! batches of one snapshot (never the whole table at once), and check each
//! row with the client's own recomputation of the chain
//! ([`crate::audit::team`]). Read only: a user holding only the users'
//! role (SELECT on the trail) can run it.

use std::time::SystemTime;

use tokio_postgres::Row;
use tokio_postgres::types::{ToSql, Type};

use super::setup::{SetupError, inspect};
use super::version::{Version, VersionError};
use super::{Names, message_of};
use crate::audit::team::{TeamChain, TeamRecord, TeamRow};
use crate::audit::{Anchor, AuditRow, Break, Filter, Verification};
use crate::pg::Session;

/// Rows read per round trip: the verifier keeps none of them.
const BATCH: i64 = 5000;

/// Why the trail could not be checked. A broken chain is not an error but
/// a [`Verification`] with a break.
#[derive(Debug, thiserror::Error)]
pub enum TrailError {
    /// A newer pgacct set up the store: nothing was read.
    #[error(transparent)]
    Newer(#[from] VersionError),
    /// The schema holds no team store (yet).
    #[error("there is no pgacct team store in schema {schema} of database {database}")]
    Absent { schema: String, database: String },
    #[error("cannot read the team store's audit trail: {message}")]
    Read { message: String },
}

impl From<SetupError> for TrailError {
    fn from(err: SetupError) -> Self {
        match err {
            SetupError::Newer(err) => TrailError::Newer(err),
            SetupError::Read { message, .. }
            | SetupError::Server { message }
            | SetupError::Privileges { message, .. } => TrailError::Read { message },
        }
    }
}

/// Every column of the trail in table order, hashes last; a store of
/// schema version 1 has no import columns, and reads as if none was set.
fn columns(version: Version) -> &'static str {
    match version {
        Version::Older(1) | Version::Empty => {
            "id, ts, outcome, started_id, actor, os_user, host, pid, ci_job, ticket, operation, \
             env, db, cluster, role, status, error, duration_ms, sql, imported, \
             NULL::text AS imported_from, NULL::bigint AS imported_id, \
             NULL::text AS imported_hash, prev_hash, hash"
        }
        Version::Older(_) | Version::Current => {
            "id, ts, outcome, started_id, actor, os_user, host, pid, ci_job, ticket, operation, \
             env, db, cluster, role, status, error, duration_ms, sql, imported, imported_from, \
             imported_id, imported_hash, prev_hash, hash"
        }
    }
}

impl Names {
    /// The next batch of the trail after id `$1`, every column in table order.
    fn trail_query(&self, version: Version) -> String {
        self.fill(&format!(
            "SELECT {}
               FROM {{schema}}.audit
              WHERE id > $1
              ORDER BY id
              LIMIT {BATCH}",
            columns(version)
        ))
    }
}

/// Started records that no outcome record answers, as in the local trail.
const UNANSWERED: &str = "r.outcome = 'started' AND NOT EXISTS \
     (SELECT 1 FROM {schema}.audit o WHERE o.started_id = r.id)";

/// `SELECT` for `filter` (`audit show`), built from fixed fragments; every
/// value is a bind parameter, in the order of the returned list. The
/// columns are those of [`Names::trail_query`], so that a row reads alike.
fn show_query<'a>(
    names: &Names,
    version: Version,
    filter: &'a Filter,
) -> (String, Vec<&'a (dyn ToSql + Sync)>) {
    let mut conditions = vec![if filter.failed {
        "r.outcome = 'failed'".to_owned()
    } else if filter.incomplete {
        UNANSWERED.to_owned()
    } else {
        format!("(r.outcome IN ('ok', 'failed') OR ({UNANSWERED}))")
    }];
    let mut values: Vec<&(dyn ToSql + Sync)> = Vec::new();
    let mut bind = |condition: &str, value: Option<&'a String>| {
        if let Some(value) = value {
            values.push(value);
            conditions.push(condition.replace('?', &format!("${}", values.len())));
        }
    };
    bind("r.env = ?", filter.env.as_ref());
    bind("r.db = ?", filter.db.as_ref());
    bind("r.role = ?", filter.role.as_ref());
    bind("r.actor = ?", filter.actor.as_ref());
    bind(
        "(r.operation = ? OR left(r.operation, length(?) + 1) = ? || '.')",
        filter.operation.as_ref(),
    );
    let sql = names.fill(&format!(
        "SELECT {}
           FROM {{schema}}.audit r
          WHERE {}",
        columns(version),
        conditions.join(" AND ")
    ));
    (sql, values)
}

/// The records `audit show` lists, newest first, as the local trail lists
/// them; `actor` is the database user the server recorded. A row that the
/// schema would refuse (changed by the store's owner) is an error naming it.
pub async fn show_trail(
    session: &Session,
    names: &Names,
    filter: &Filter,
) -> Result<Vec<AuditRow>, TrailError> {
    let version = present(session, names).await?;
    let read = |err: tokio_postgres::Error| TrailError::Read { message: message_of(&err) };
    let (mut sql, values) = show_query(names, version, filter);
    let since = filter.since.as_ref().map(|b| b.as_str().to_owned());
    let until = filter.until.as_ref().map(|b| b.as_str().to_owned());
    let limit = filter.limit.map(i64::from);
    let mut params: Vec<(&(dyn ToSql + Sync), Type)> =
        values.into_iter().map(|v| (v, Type::TEXT)).collect();
    if let Some(since) = &since {
        params.push((since, Type::TEXT));
        sql.push_str(&format!(" AND r.ts >= ${}::timestamptz", params.len()));
    }
    if let Some(until) = &until {
        params.push((until, Type::TEXT));
        sql.push_str(&format!(" AND r.ts < ${}::timestamptz", params.len()));
    }
    params.push((&limit, Type::INT8));
    sql.push_str(&format!(" ORDER BY r.id DESC LIMIT ${}", params.len()));
    let rows = session.query_typed(&sql, &params).await.map_err(read)?;
    rows.iter()
        .map(|row| {
            let team_row = team_row(row).map_err(|problem| {
                let id: Option<i64> = row.try_get(0).ok().flatten();
                TrailError::Read {
                    message: format!(
                        "record #{} {problem}: the trail was tampered with; see `pgacct audit \
                         verify`",
                        id.map_or_else(|| "?".to_owned(), |id| id.to_string())
                    ),
                }
            })?;
            Ok(shown_row(team_row.record))
        })
        .collect()
}

/// A team record as `audit show` shows it: the same fields as the local
/// trail's, the time in milliseconds.
fn shown_row(record: TeamRecord) -> AuditRow {
    AuditRow {
        id: record.id,
        time: record.ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
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
        imported_id: record.imported_id,
        damaged: None,
    }
}

/// Refuses a schema that holds no team store, or one from a newer pgacct:
/// the version of the one there.
async fn present(session: &Session, names: &Names) -> Result<Version, TrailError> {
    let found = inspect(session, names).await?;
    match found.version {
        None | Some(Version::Empty) => Err(TrailError::Absent {
            schema: names.schema.as_str().to_owned(),
            database: found.database,
        }),
        Some(version @ (Version::Older(_) | Version::Current)) => Ok(version),
    }
}

/// Checks the team store's whole trail from its first record, and with
/// `anchor`, that the anchored record is still there with its hash (as
/// the local trail's `verify` does).
pub async fn verify_trail(
    session: &Session,
    names: &Names,
    anchor: Option<&Anchor>,
) -> Result<Verification, TrailError> {
    let version = present(session, names).await?;
    let read = |err: tokio_postgres::Error| TrailError::Read { message: message_of(&err) };
    // One snapshot for every batch: appends made meanwhile are not seen
    // half way.
    session.simple_query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await.map_err(read)?;
    let result = walk(session, names, version, anchor).await;
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    let ended = session.simple_query(end).await;
    let verification = result?;
    ended.map_err(read)?;
    Ok(verification)
}

async fn walk(
    session: &Session,
    names: &Names,
    version: Version,
    anchor: Option<&Anchor>,
) -> Result<Verification, TrailError> {
    let read = |err: tokio_postgres::Error| TrailError::Read { message: message_of(&err) };
    let sql = names.trail_query(version);
    let mut chain = TeamChain::default();
    let mut anchor_seen = false;
    let mut after = 0_i64;
    let broken = |chain: &TeamChain, at: Break| Verification {
        // The bad record counts as checked, as in the local trail.
        records: chain.records() + 1,
        head: None,
        break_at: Some(at),
        sealed_from: None,
        unchecked: 0,
    };
    loop {
        let rows = session.query_typed(&sql, &[(&after, Type::INT8)]).await.map_err(read)?;
        for row in &rows {
            let id: i64 = row.try_get(0).map_err(read)?;
            after = id;
            let team_row = match team_row(row) {
                Ok(team_row) => team_row,
                Err(problem) => {
                    let at = Break {
                        id,
                        problem: format!("record #{id} {problem}: the trail was tampered with"),
                    };
                    return Ok(broken(&chain, at));
                }
            };
            if let Err(at) = chain.step(&team_row) {
                return Ok(broken(&chain, Break { id: at.id, problem: at.problem }));
            }
            if let Some(anchor) = anchor.filter(|a| a.id == id) {
                anchor_seen = true;
                if anchor.hash != team_row.hash {
                    let problem = format!(
                        "record #{id} no longer has the anchored hash: the trail was rewritten \
                         from there on"
                    );
                    // The record itself verified: it counts once.
                    let mut verification = broken(&chain, Break { id, problem });
                    verification.records -= 1;
                    return Ok(verification);
                }
            }
        }
        if i64::try_from(rows.len()).unwrap_or(i64::MAX) < BATCH {
            break;
        }
    }
    let break_at = anchor.filter(|_| !anchor_seen).map(|anchor| Break {
        id: anchor.id,
        problem: format!("record #{} is gone: the trail was cut short", anchor.id),
    });
    let head = match break_at {
        Some(_) => None,
        None => chain.head().map(|(id, hash)| (id, hash.to_owned())),
    };
    Ok(Verification { records: chain.records(), head, break_at, sealed_from: None, unchecked: 0 })
}

/// A row as the verifier takes it; what is wrong with it when a column
/// the schema declares NOT NULL is null, or a value cannot be read (a
/// time of `infinity`): only a changed table holds such a row.
fn team_row(row: &Row) -> Result<TeamRow, String> {
    fn required<'a, T: tokio_postgres::types::FromSql<'a>>(
        row: &'a Row,
        index: usize,
    ) -> Result<T, String> {
        let name = row.columns()[index].name();
        match row.try_get::<_, Option<T>>(index) {
            Ok(Some(value)) => Ok(value),
            Ok(None) => Err(format!("has no {name}")),
            Err(_) => Err(format!("holds an unreadable {name}")),
        }
    }
    fn optional<'a, T: tokio_postgres::types::FromSql<'a>>(
        row: &'a Row,
        index: usize,
    ) -> Result<Option<T>, String> {
        row.try_get(index)
            .map_err(|_| format!("holds an unreadable {}", row.columns()[index].name()))
    }
    let ts: SystemTime = required(row, 1)?;
    let ts = jiff::Timestamp::try_from(ts).map_err(|_| "holds an unreadable ts".to_owned())?;
    Ok(TeamRow {
        record: TeamRecord {
            id: required(row, 0)?,
            ts,
            outcome: required(row, 2)?,
            started_id: optional(row, 3)?,
            actor: required(row, 4)?,
            os_user: required(row, 5)?,
            host: required(row, 6)?,
            pid: required(row, 7)?,
            ci_job: optional(row, 8)?,
            ticket: optional(row, 9)?,
            operation: required(row, 10)?,
            env: optional(row, 11)?,
            db: optional(row, 12)?,
            cluster: optional(row, 13)?,
            role: optional(row, 14)?,
            status: required(row, 15)?,
            error: optional(row, 16)?,
            duration_ms: optional(row, 17)?,
            sql: optional(row, 18)?,
            imported: required(row, 19)?,
            imported_from: optional(row, 20)?,
            imported_id: optional(row, 21)?,
            imported_hash: optional(row, 22)?,
        },
        prev_hash: required(row, 23)?,
        hash: required(row, 24)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trail_query_names_the_schema_and_reads_in_batches() {
        let names = Names { schema: "s2".parse().unwrap(), role: "r2".parse().unwrap() };
        let sql = names.trail_query(Version::Current);
        assert!(sql.contains("FROM \"s2\".audit"), "{sql}");
        assert!(sql.contains("WHERE id > $1"), "{sql}");
        assert!(sql.contains("ORDER BY id"), "{sql}");
        assert!(sql.contains(&format!("LIMIT {BATCH}")), "{sql}");
    }

    #[test]
    fn the_show_query_binds_every_value() {
        let filter = Filter {
            env: Some("qa'; DROP TABLE x; --".into()),
            db: Some("orders".into()),
            operation: Some("user".into()),
            incomplete: true,
            ..Filter::default()
        };
        let (sql, values) = show_query(&Names::default(), Version::Current, &filter);
        assert_eq!(values.len(), 3);
        assert!(!sql.contains("DROP") && !sql.contains("orders"), "{sql}");
        assert!(sql.contains("r.env = $1 AND r.db = $2"), "{sql}");
        assert!(sql.contains("left(r.operation, length($3) + 1) = $3 || '.'"), "{sql}");
        assert!(sql.contains("FROM \"pgacct\".audit o WHERE o.started_id = r.id"), "{sql}");
        assert!(!sql.contains("{schema}"), "{sql}");
    }
}
