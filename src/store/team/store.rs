//! A team store open for one run: one session to the store's database,
//! shared by every use the run makes of it (the registry reads of a plan,
//! then the journal of the change), so a change costs one connection to
//! the store however many times it reads or appends.
//!
//! Its methods are synchronous, like the local store's: each runs its
//! queries to the end on the run's runtime. They are called between the
//! run's async phases, never from inside one.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;

use tokio::runtime::Runtime;

use super::setup::{SetupError, inspect};
use super::version::{Version, VersionError};
use super::{Names, current};
use crate::pg::Session;
use crate::registry::Entry;

/// An open team store. Clones share the one session.
#[derive(Debug, Clone)]
pub struct TeamStore {
    inner: Rc<Inner>,
}

#[derive(Debug)]
struct Inner {
    runtime: Arc<Runtime>,
    session: Session,
    names: Names,
    /// `schema pgacct of database team on db.example:5432`, for messages.
    place: String,
    version: Version,
    /// Every registered target, read once per run by the first listing
    /// (a change lists them twice: to select, and to name the targets that
    /// share its clusters) and forgotten when the run changes the registry.
    targets: RefCell<Option<Rc<Vec<Entry>>>>,
}

/// Why the team store cannot serve, or a query to it failed.
#[derive(Debug, thiserror::Error)]
pub enum TeamError {
    /// A newer pgacct set up the store: nothing was read or written.
    #[error(transparent)]
    Newer(#[from] VersionError),
    #[error("there is no pgacct team store in {place}")]
    Absent { place: String },
    #[error(
        "the team store in {place} has schema version {found}, older than this pgacct's \
         {known}; nothing was written"
    )]
    Older { place: String, found: i32, known: i32 },
    /// The server refused what the user's role may not do.
    #[error("the team store in {place} refused to {doing}: {message}")]
    Denied { place: String, doing: &'static str, message: String, user: String },
    #[error("cannot {doing} in the team store in {place}: {message}")]
    Query { place: String, doing: &'static str, message: String },
}

impl TeamError {
    /// What to do next.
    pub fn hint(&self) -> Option<String> {
        match self {
            TeamError::Newer(err) => Some(err.hint().to_owned()),
            TeamError::Absent { .. } => Some(
                "check the database in the store URL; the store's owner sets it up with `pgacct \
                 store init`"
                    .to_owned(),
            ),
            TeamError::Older { .. } => Some(
                "the store's owner upgrades it with `pgacct store init`; reading commands work \
                 meanwhile"
                    .to_owned(),
            ),
            TeamError::Denied { user, .. } => Some(format!(
                "pgacct's users need the store's role, which its owner grants: GRANT pgacct_user \
                 TO {} (or the role named at `pgacct store init --role`)",
                postgres_protocol::escape::escape_identifier(user)
            )),
            TeamError::Query { .. } => None,
        }
    }

    /// True when the store is one this pgacct must not use as it is, found
    /// before anything was written (exit 2).
    pub fn is_refusal(&self) -> bool {
        matches!(self, TeamError::Newer(_) | TeamError::Absent { .. } | TeamError::Older { .. })
    }
}

impl TeamStore {
    /// The store `session` is connected to, once its schema is checked: a
    /// store from a newer pgacct, or none at all, is refused. With
    /// `prefetch`, for a command that reads the registry, every target is
    /// read in the same round trip as the schema's version.
    pub fn open(
        runtime: Arc<Runtime>,
        session: Session,
        names: Names,
        prefetch: bool,
    ) -> Result<Self, TeamError> {
        let every_target = super::registry::every_target_query(&names);
        let (found, targets) = runtime.block_on(async {
            futures_util::join!(inspect(&session, &names), async {
                if prefetch { Some(session.query_typed(&every_target, &[]).await) } else { None }
            })
        });
        let place = |database: &str| {
            format!(
                "schema {} of database {database} on {}",
                names.schema,
                session.settings.cluster()
            )
        };
        let found = match found {
            Ok(found) => found,
            Err(SetupError::Newer(err)) => return Err(TeamError::Newer(err)),
            Err(SetupError::Read { message, denied }) => {
                let place = place(&session.settings.dbname);
                let doing = "read its schema version";
                return Err(if denied {
                    TeamError::Denied { place, doing, message, user: session.settings.user.clone() }
                } else {
                    TeamError::Query { place, doing, message }
                });
            }
            Err(err) => {
                return Err(TeamError::Query {
                    place: place(&session.settings.dbname),
                    doing: "read its schema version",
                    message: err.to_string(),
                });
            }
        };
        let place = place(&found.database);
        let version = match found.version {
            None | Some(Version::Empty) => return Err(TeamError::Absent { place }),
            Some(version) => version,
        };
        let store = TeamStore {
            inner: Rc::new(Inner {
                runtime,
                session,
                names,
                place,
                version,
                targets: RefCell::default(),
            }),
        };
        // What the prefetch could not read, the first listing reads again
        // and reports.
        if let Some(Ok(rows)) = targets {
            let _ = store.keep_targets(&rows);
        }
        Ok(store)
    }

    /// Runs `work` to its end on the run's runtime.
    pub(super) fn run<T>(&self, work: impl Future<Output = T>) -> T {
        self.inner.runtime.block_on(work)
    }

    pub(super) fn session(&self) -> &Session {
        &self.inner.session
    }

    pub(super) fn names(&self) -> &Names {
        &self.inner.names
    }

    /// The targets read earlier in this run, if any.
    pub(super) fn known_targets(&self) -> Option<Rc<Vec<Entry>>> {
        self.inner.targets.borrow().clone()
    }

    /// Keeps `targets` for the rest of the run.
    pub(super) fn remember_targets(&self, targets: Vec<Entry>) -> Rc<Vec<Entry>> {
        let targets = Rc::new(targets);
        *self.inner.targets.borrow_mut() = Some(targets.clone());
        targets
    }

    /// Forgets the targets read: the run is about to change the registry.
    pub(super) fn forget_targets(&self) {
        self.inner.targets.borrow_mut().take();
    }

    /// Where the store is, for messages.
    pub fn place(&self) -> &str {
        &self.inner.place
    }

    /// Refuses to write to a store whose schema is older than this
    /// pgacct's: its users may not migrate it, and what they would write
    /// may not fit it.
    pub(super) fn check_writable(&self) -> Result<(), TeamError> {
        self.forget_targets();
        match self.inner.version {
            Version::Older(found) => {
                Err(TeamError::Older { place: self.inner.place.clone(), found, known: current() })
            }
            Version::Empty | Version::Current => Ok(()),
        }
    }

    /// The error of a query that failed while doing `doing`.
    pub(super) fn failed(&self, doing: &'static str, err: &tokio_postgres::Error) -> TeamError {
        let place = self.inner.place.clone();
        let message = super::message_of(err);
        if err.code() == Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) {
            let user = self.inner.session.settings.user.clone();
            TeamError::Denied { place, doing, message, user }
        } else {
            TeamError::Query { place, doing, message }
        }
    }

    /// Runs `work` in one transaction of the store: committed when it
    /// returns `Ok(Ok(_))`, rolled back otherwise.
    pub(super) async fn transaction<T, E>(
        &self,
        doing: &'static str,
        work: impl AsyncFnOnce(&Session) -> Result<Result<T, E>, tokio_postgres::Error>,
    ) -> Result<Result<T, E>, TeamError> {
        let session = self.session();
        let failed = |err: tokio_postgres::Error| self.failed(doing, &err);
        session.simple_query("BEGIN").await.map_err(failed)?;
        match work(session).await {
            Ok(Ok(value)) => {
                session.simple_query("COMMIT").await.map_err(failed)?;
                Ok(Ok(value))
            }
            Ok(Err(refused)) => {
                session.simple_query("ROLLBACK").await.map_err(failed)?;
                Ok(Err(refused))
            }
            Err(err) => {
                // The session may be gone; the server rolls back then.
                let _ = session.simple_query("ROLLBACK").await;
                Err(failed(err))
            }
        }
    }
}

impl From<TeamError> for crate::registry::Error {
    fn from(err: TeamError) -> Self {
        crate::store::Error::from(err).into()
    }
}

impl From<TeamError> for crate::audit::Error {
    fn from(err: TeamError) -> Self {
        crate::store::Error::from(err).into()
    }
}
