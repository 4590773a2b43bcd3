//! `pgacct store migrate` on a live store: a local registry's targets and
//! its audit trail copied in, in one transaction the caller opens with
//! [`begin`] and ends with [`end`]. Records go in batches through
//! `import_audit` (owner only), which chains them on the server; the move
//! itself is recorded through `append_audit`, so the server attests who
//! moved the trail in. Targets are inserted when new; a target the store
//! has already is left as it is, and reported when it differs.

use tokio_postgres::types::{ToSql, Type};

use super::Names;
use super::setup::{SetupError, inspect};
use super::version::{Version, VersionError};
use crate::audit::{Invocation, StoredRecord};
use crate::pg::Session;
use crate::registry::Entry;

/// Why the move was refused or failed. Nothing was written in either case.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Newer(#[from] VersionError),
    #[error("there is no pgacct team store in schema {schema} of database {database}")]
    Absent { schema: String, database: String },
    #[error(
        "the team store in schema {schema} has schema version {found}, older than this \
         pgacct's {known}"
    )]
    Older { schema: String, found: i32, known: i32 },
    #[error(
        "role {user} may not move records into the team store: only the store's owner may run \
         {function}"
    )]
    NotOwner { user: String, function: String },
    #[error("{message}")]
    Server { message: String },
}

impl MigrateError {
    /// What to do instead.
    pub fn hint(&self) -> Option<String> {
        match self {
            MigrateError::Newer(err) => Some(err.hint().to_owned()),
            MigrateError::Absent { .. } => Some(
                "check the database in the store URL; the store's owner sets it up with `pgacct \
                 store init`"
                    .to_owned(),
            ),
            MigrateError::Older { .. } => {
                Some("the store's owner upgrades it first with `pgacct store init`".to_owned())
            }
            MigrateError::NotOwner { .. } => Some(
                "run it as the role that owns the store (the one that ran `pgacct store init`), \
                 with --registry postgresql://owner@host/db"
                    .to_owned(),
            ),
            MigrateError::Server { .. } => None,
        }
    }

    /// Whether the store was refused before anything was read from it
    /// (exit 2), rather than the move failing (exit 1).
    pub fn is_refusal(&self) -> bool {
        !matches!(self, MigrateError::Server { .. })
    }
}

impl From<SetupError> for MigrateError {
    fn from(err: SetupError) -> Self {
        match err {
            SetupError::Newer(err) => MigrateError::Newer(err),
            SetupError::Read { message, .. }
            | SetupError::Server { message }
            | SetupError::Privileges { message, .. } => MigrateError::Server { message },
        }
    }
}

impl From<tokio_postgres::Error> for MigrateError {
    fn from(err: tokio_postgres::Error) -> Self {
        MigrateError::Server { message: message_of(&err) }
    }
}

/// The argument types of `import_audit`, as `regprocedure` spells them.
const IMPORT_ARGS: &str = "text, bigint[], text[], text[], bigint[], text[], text[], bigint[], \
                           text[], text[], text[], text[], text[], text[], text[], text[], \
                           text[], bigint[], text[], text[]";

/// The store's database, once it is known to be one this pgacct can move
/// records into.
#[derive(Debug, Clone)]
pub struct Store {
    pub database: String,
}

/// Opens the transaction the whole move runs in; a dry run's is read only.
pub async fn begin(session: &Session, dry_run: bool) -> Result<(), MigrateError> {
    let sql = if dry_run { "BEGIN READ ONLY" } else { "BEGIN" };
    session.simple_query(sql).await?;
    Ok(())
}

/// Commits when `commit` (and the work went well), else rolls back.
pub async fn end(session: &Session, commit: bool) -> Result<(), MigrateError> {
    session.simple_query(if commit { "COMMIT" } else { "ROLLBACK" }).await?;
    Ok(())
}

/// Refuses a store that is absent, not at this pgacct's version, or that
/// the session's role may not import into.
pub async fn check(session: &Session, names: &Names) -> Result<Store, MigrateError> {
    let found = inspect(session, names).await?;
    let schema = names.schema.as_str().to_owned();
    match found.version {
        None | Some(Version::Empty) => {
            return Err(MigrateError::Absent { schema, database: found.database });
        }
        Some(Version::Older(found)) => {
            return Err(MigrateError::Older { schema, found, known: super::current() });
        }
        Some(Version::Current) => {}
    }
    let function = names.fill("{schema}.import_audit");
    let signature = format!("{function}({IMPORT_ARGS})");
    let rows = session
        .query_typed(
            "SELECT current_user::text, has_function_privilege($1, 'EXECUTE')",
            &[(&signature, Type::TEXT)],
        )
        .await?;
    let row = rows.first().ok_or_else(|| MigrateError::Server { message: "no answer".into() })?;
    let user: String = row.try_get(0)?;
    if !row.try_get::<_, bool>(1)? {
        return Err(MigrateError::NotOwner { user, function });
    }
    Ok(Store { database: found.database })
}

/// A record of the file that the store holds already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// Its id in the file.
    pub file_id: i64,
    /// Its hash in the file, as imported.
    pub hash: String,
    /// Its id in the store.
    pub id: i64,
}

/// The records of trail `from` with file ids `first..=last` the store
/// holds already, in id order.
pub async fn held(
    session: &Session,
    names: &Names,
    from: &str,
    first: i64,
    last: i64,
) -> Result<Vec<Held>, MigrateError> {
    let sql = names.fill(
        "SELECT imported_id, imported_hash, id FROM {schema}.audit
          WHERE imported_from = $1 AND imported_id BETWEEN $2 AND $3
          ORDER BY imported_id",
    );
    let rows = session
        .query_typed(&sql, &[(&from, Type::TEXT), (&first, Type::INT8), (&last, Type::INT8)])
        .await?;
    rows.iter()
        .map(|row| {
            Ok(Held {
                file_id: row.try_get(0)?,
                hash: row.try_get::<_, Option<String>>(1)?.unwrap_or_default(),
                id: row.try_get(2)?,
            })
        })
        .collect()
}

/// When store record `id` was moved in: the time of the first
/// `store.migrate` record after it, which that move wrote.
pub async fn moved_in_at(
    session: &Session,
    names: &Names,
    id: i64,
) -> Result<Option<String>, MigrateError> {
    let sql = names.fill(
        "SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
           FROM {schema}.audit
          WHERE operation = 'store.migrate' AND id > $1
          ORDER BY id LIMIT 1",
    );
    let rows = session.query_typed(&sql, &[(&id, Type::INT8)]).await?;
    Ok(rows.first().map(|row| row.try_get(0)).transpose()?)
}

/// Moves `records` (in file id order, none held yet) of trail `from` in
/// after the store's last record: how many went in, and how many the
/// store turned out to hold already (moved in meanwhile by another run).
pub async fn import(
    session: &Session,
    names: &Names,
    from: &str,
    records: &[&StoredRecord],
) -> Result<(u64, u64), MigrateError> {
    let column = |f: fn(&StoredRecord) -> Option<String>| -> Vec<Option<String>> {
        records.iter().map(|r| f(r)).collect()
    };
    let number = |f: fn(&StoredRecord) -> Option<i64>| -> Vec<Option<i64>> {
        records.iter().map(|r| f(r)).collect()
    };
    let id = number(|r| Some(r.record.id));
    let ts = column(|r| Some(r.record.ts.clone()));
    let outcome = column(|r| Some(r.record.outcome.clone()));
    let started_id = number(|r| r.record.started_id);
    let actor = column(|r| Some(r.record.actor.clone()));
    let host = column(|r| Some(r.record.host.clone()));
    let pid = number(|r| Some(r.record.pid));
    let ci_job = column(|r| r.record.ci_job.clone());
    let ticket = column(|r| r.record.ticket.clone());
    let operation = column(|r| Some(r.record.operation.clone()));
    let env = column(|r| r.record.env.clone());
    let db = column(|r| r.record.db.clone());
    let cluster = column(|r| r.record.cluster.clone());
    let role = column(|r| r.record.role.clone());
    let status = column(|r| Some(r.record.status.clone()));
    let error = column(|r| r.record.error.clone());
    let duration_ms = number(|r| r.record.duration_ms);
    let sql_text = column(|r| r.record.sql.clone());
    let hash = column(|r| Some(r.hash.clone()));
    let (texts, numbers) = (Type::TEXT_ARRAY, Type::INT8_ARRAY);
    let params: [(&(dyn ToSql + Sync), Type); 20] = [
        (&from, Type::TEXT),
        (&id, numbers.clone()),
        (&ts, texts.clone()),
        (&outcome, texts.clone()),
        (&started_id, numbers.clone()),
        (&actor, texts.clone()),
        (&host, texts.clone()),
        (&pid, numbers.clone()),
        (&ci_job, texts.clone()),
        (&ticket, texts.clone()),
        (&operation, texts.clone()),
        (&env, texts.clone()),
        (&db, texts.clone()),
        (&cluster, texts.clone()),
        (&role, texts.clone()),
        (&status, texts.clone()),
        (&error, texts.clone()),
        (&duration_ms, numbers),
        (&sql_text, texts.clone()),
        (&hash, texts),
    ];
    let sql = names.fill(
        "SELECT imported, already FROM {schema}.import_audit(
             $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
             $19, $20)",
    );
    let rows = session.query_typed(&sql, &params).await?;
    let row = rows.first().ok_or_else(|| MigrateError::Server { message: "no answer".into() })?;
    let imported: i32 = row.try_get(0)?;
    let already: i32 = row.try_get(1)?;
    Ok((u64::try_from(imported).unwrap_or(0), u64::try_from(already).unwrap_or(0)))
}

/// What became of the file's targets in the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetsMoved {
    /// New to the store (inserted, or to be on a dry run).
    pub added: u64,
    /// There already (by env, host, port and db), left as they are.
    pub already: u64,
    /// Those of `already` whose settings differ from the file's: the
    /// target's name and the columns that differ.
    pub differing: Vec<(String, Vec<String>)>,
}

/// The file's targets that the store has already, compared column by
/// column (its times aside), and on a real run the others inserted.
pub async fn targets(
    session: &Session,
    names: &Names,
    entries: &[Entry],
    write: bool,
) -> Result<TargetsMoved, MigrateError> {
    let text = |f: &dyn Fn(&Entry) -> Option<String>| -> Vec<Option<String>> {
        entries.iter().map(f).collect()
    };
    let env = text(&|e| Some(e.target.key.env.as_str().to_owned()));
    let db = text(&|e| Some(e.target.key.db.as_str().to_owned()));
    let host = text(&|e| Some(e.target.host.as_str().to_owned()));
    let port: Vec<i32> = entries.iter().map(|e| i32::from(e.target.port)).collect();
    let sslmode = text(&|e| e.target.sslmode.map(|m| m.as_str().to_owned()));
    let sslnegotiation = text(&|e| e.target.sslnegotiation.map(|m| m.as_str().to_owned()));
    let sslrootcert = text(&|e| e.target.sslrootcert.as_ref().map(ToString::to_string));
    let sslcert = text(&|e| e.target.sslcert.as_ref().map(ToString::to_string));
    let sslkey = text(&|e| e.target.sslkey.as_ref().map(ToString::to_string));
    let admin_user = text(&|e| e.target.admin_user.as_ref().map(|u| u.as_str().to_owned()));
    let labels = text(&|e| Some(e.target.labels.to_text()));
    let command = text(&|e| {
        e.target.admin_password_command.as_ref().map(crate::registry::PasswordCommand::to_json)
    });
    let active: Vec<bool> = entries.iter().map(|e| e.target.active).collect();
    let notes = text(&|e| e.target.notes.clone());
    let created_at = text(&|e| Some(e.created_at.clone()));
    let updated_at = text(&|e| Some(e.updated_at.clone()));
    let t = Type::TEXT_ARRAY;
    let params: [(&(dyn ToSql + Sync), Type); 16] = [
        (&env, t.clone()),
        (&db, t.clone()),
        (&host, t.clone()),
        (&port, Type::INT4_ARRAY),
        (&sslmode, t.clone()),
        (&sslnegotiation, t.clone()),
        (&sslrootcert, t.clone()),
        (&sslcert, t.clone()),
        (&sslkey, t.clone()),
        (&admin_user, t.clone()),
        (&labels, t.clone()),
        (&command, t.clone()),
        (&active, Type::BOOL_ARRAY),
        (&notes, t.clone()),
        (&created_at, t.clone()),
        (&updated_at, t),
    ];
    let rows = session.query_typed(&with_file_targets(names, COMPARE_TARGETS), &params).await?;
    let mut moved = TargetsMoved::default();
    for row in &rows {
        let ordinal: i64 = row.try_get(0)?;
        let columns: Option<Vec<String>> = row.try_get(1)?;
        let Some(columns) = columns else { continue };
        moved.already += 1;
        if !columns.is_empty() {
            let entry = usize::try_from(ordinal - 1).ok().and_then(|i| entries.get(i));
            let name = entry.map_or_else(|| format!("target #{ordinal}"), |e| e.target.name());
            moved.differing.push((name, columns));
        }
    }
    let new = u64::try_from(entries.len()).unwrap_or(u64::MAX) - moved.already;
    if write && new > 0 {
        let rows = session.query_typed(&with_file_targets(names, INSERT_TARGETS), &params).await?;
        moved.added = u64::try_from(rows.len()).unwrap_or(0);
        // Inserted meanwhile by someone else: there, not added.
        moved.already += new - moved.added;
    } else {
        moved.added = new;
    }
    Ok(moved)
}

/// `sql` with the schema and the file's targets filled in.
fn with_file_targets(names: &Names, sql: &str) -> String {
    names.fill(&sql.replace("FILE_TARGETS", FILE_TARGETS))
}

/// The file's targets (`$1`..`$16`, arrays of one element per target) as
/// rows, with their ordinal.
const FILE_TARGETS: &str = "
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int4[], $5::text[],
                         $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
                         $11::text[], $12::text[], $13::bool[], $14::text[], $15::text[],
                         $16::text[])
           WITH ORDINALITY AS f(env, db, host, port, sslmode, sslnegotiation, sslrootcert,
                                sslcert, sslkey, admin_user, labels, admin_password_command,
                                active, notes, created_at, updated_at, n)";

/// Per file target, its ordinal and, when the store has it, the names of
/// the columns that differ (NULL when the store has not).
const COMPARE_TARGETS: &str = "
    WITH f AS (FILE_TARGETS)
    SELECT f.n,
           CASE WHEN t.env IS NOT NULL THEN array_remove(ARRAY[
               CASE WHEN t.sslmode IS DISTINCT FROM f.sslmode THEN 'sslmode' END,
               CASE WHEN t.sslnegotiation IS DISTINCT FROM f.sslnegotiation
                    THEN 'sslnegotiation' END,
               CASE WHEN t.sslrootcert IS DISTINCT FROM f.sslrootcert THEN 'sslrootcert' END,
               CASE WHEN t.sslcert IS DISTINCT FROM f.sslcert THEN 'sslcert' END,
               CASE WHEN t.sslkey IS DISTINCT FROM f.sslkey THEN 'sslkey' END,
               CASE WHEN t.admin_user IS DISTINCT FROM f.admin_user THEN 'admin_user' END,
               CASE WHEN t.labels IS DISTINCT FROM f.labels THEN 'labels' END,
               CASE WHEN t.admin_password_command IS DISTINCT FROM f.admin_password_command::jsonb
                    THEN 'admin_password_command' END,
               CASE WHEN t.active IS DISTINCT FROM f.active THEN 'active' END,
               CASE WHEN t.notes IS DISTINCT FROM f.notes THEN 'notes' END
           ], NULL) END
      FROM f
      LEFT JOIN {schema}.targets t
        ON t.env = f.env AND t.db = f.db AND t.host = f.host AND t.port = f.port
     ORDER BY f.n";

/// Inserts the file targets the store has not; the ones inserted.
const INSERT_TARGETS: &str = "
    WITH f AS (FILE_TARGETS)
    INSERT INTO {schema}.targets (env, db, host, port, sslmode, sslnegotiation, sslrootcert,
                                  sslcert, sslkey, admin_user, labels, admin_password_command,
                                  active, notes, created_at, updated_at)
    SELECT env, db, host, port, sslmode, sslnegotiation, sslrootcert, sslcert, sslkey,
           admin_user, labels, admin_password_command::jsonb, active, notes,
           created_at::timestamptz, updated_at::timestamptz
      FROM f
     ORDER BY n
        ON CONFLICT DO NOTHING
    RETURNING env";

/// Records the move in the store's trail through `append_audit`, in the
/// move's transaction: the server attests who moved what in. Its id.
pub async fn record(
    session: &Session,
    names: &Names,
    who: &Invocation,
    status: &str,
    duration_ms: i64,
) -> Result<i64, MigrateError> {
    let sql = names.fill(
        "SELECT id FROM {schema}.append_audit(
             'ok', NULL, $1, $2, $3, $4, $5, 'store.migrate', NULL, NULL, NULL, NULL, $6, NULL,
             $7, NULL)",
    );
    let pid = i64::from(who.pid);
    let rows = session
        .query_typed(
            &sql,
            &[
                (&who.actor, Type::TEXT),
                (&who.host, Type::TEXT),
                (&pid, Type::INT8),
                (&who.ci_job, Type::TEXT),
                (&who.ticket, Type::TEXT),
                (&status, Type::TEXT),
                (&duration_ms, Type::INT8),
            ],
        )
        .await?;
    let row = rows.first().ok_or_else(|| MigrateError::Server { message: "no answer".into() })?;
    Ok(row.try_get(0)?)
}

/// The server's message, else tokio-postgres's account of the failure.
fn message_of(err: &tokio_postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => db.message().to_owned(),
        None => crate::pg::describe_error(err),
    }
}
