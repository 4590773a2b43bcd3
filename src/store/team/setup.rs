//! `pgacct store init` on a live store: read what the store's database
//! holds, judge its schema version, and run the setup script (one
//! transaction) when something is missing. A store from a newer pgacct is
//! refused before anything is run.

use tokio_postgres::types::{ToSql, Type};

use super::version::{Version, VersionError};
use super::{Names, message_of};
use crate::pg::Session;

/// What the store's database held before the setup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// `current_database()`.
    pub database: String,
    /// `None`: no store in the schema yet.
    pub version: Option<Version>,
    /// The users' role exists.
    pub role_exists: bool,
}

impl Found {
    /// Whether the setup has nothing to add: the schema at this pgacct's
    /// version, and the users' role there.
    pub fn is_complete(&self) -> bool {
        self.version == Some(Version::Current) && self.role_exists
    }
}

/// Why the setup did not run, or failed.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A newer pgacct set up the store: nothing was run.
    #[error(transparent)]
    Newer(#[from] VersionError),
    /// The role running the setup may not do part of it; nothing was
    /// changed (the script is one transaction).
    #[error("the setup was refused by the server, and nothing was changed: {message}")]
    Privileges { message: String, role: String, database: String },
    #[error("the setup failed, and nothing was changed: {message}")]
    Server { message: String },
    #[error("cannot read the store's schema version: {message}")]
    Read {
        message: String,
        /// The server refused it (`insufficient_privilege`).
        denied: bool,
    },
}

impl SetupError {
    /// What to do instead.
    pub fn hint(&self) -> Option<String> {
        match self {
            SetupError::Newer(err) => Some(err.hint().to_owned()),
            SetupError::Privileges { role, database, .. } => Some(format!(
                "run it as the role that is to own the store, with CREATE on the database \
                 (GRANT CREATE ON DATABASE {} TO owner) and CREATEROLE unless role {role} \
                 exists; or let a superuser run it",
                postgres_protocol::escape::escape_identifier(database)
            )),
            SetupError::Server { .. } | SetupError::Read { .. } => None,
        }
    }

    /// Whether the refusal came before anything was touched because of
    /// what the store is (exit 2), not a failure to run (exit 1).
    pub fn is_refusal(&self) -> bool {
        matches!(self, SetupError::Newer(_))
    }
}

/// The database, whether the schema holds a store, and whether the
/// users' role exists: names as bind parameters.
const LOOK: &str = "\
SELECT current_database()::text,
       to_regclass($1) IS NOT NULL,
       EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = $2)";

/// What the store's database holds: read only. Both queries go out
/// together (one round trip); the version's fails, and is not used, when
/// the schema holds no store.
pub async fn inspect(session: &Session, names: &Names) -> Result<Found, SetupError> {
    let read = |err: tokio_postgres::Error| SetupError::Read {
        message: message_of(&err),
        denied: err.code() == Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
    };
    let table = names.fill("{schema}.schema_version");
    let role = names.role.as_str();
    let version_query = names.version_query();
    let params: [(&(dyn ToSql + Sync), Type); 2] = [(&table, Type::TEXT), (&role, Type::TEXT)];
    let (look, version) = futures_util::join!(
        session.query_typed(LOOK, &params),
        session.query_typed(&version_query, &[]),
    );
    let rows = look.map_err(read)?;
    let row = rows
        .first()
        .ok_or_else(|| SetupError::Read { message: "no answer".into(), denied: false })?;
    let database: String = row.try_get(0).map_err(read)?;
    let has_store: bool = row.try_get(1).map_err(read)?;
    let role_exists: bool = row.try_get(2).map_err(read)?;
    let version = if has_store {
        let rows = version.map_err(read)?;
        let found: Option<i32> =
            rows.first().map(|row| row.try_get(0)).transpose().map_err(read)?.flatten();
        Some(names.check_version(found)?)
    } else {
        None
    };
    Ok(Found { database, version, role_exists })
}

/// Runs the setup script as one transaction. On failure the transaction
/// is rolled back, so nothing is left half done.
pub async fn apply(session: &Session, names: &Names, found: &Found) -> Result<(), SetupError> {
    let Err(err) = session.simple_query(&names.script()).await else {
        return Ok(());
    };
    // The script's BEGIN left the session in a failed transaction.
    let _ = session.simple_query("ROLLBACK").await;
    let message = message_of(&err);
    let code = err.code().map(tokio_postgres::error::SqlState::code);
    Err(match code {
        // insufficient_privilege: no CREATE on the database, no
        // CREATEROLE, not the owner of what is to change.
        Some("42501") => SetupError::Privileges {
            message,
            role: names.role.as_str().to_owned(),
            database: found.database.clone(),
        },
        _ => SetupError::Server { message },
    })
}
