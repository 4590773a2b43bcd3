//! The registry: the inventory of target databases, keyed by (env, db).
//!
//! Commands talk to it through [`RegistryStore`]; today the only backend is
//! the local store file ([`crate::store::Store`]), which also holds the
//! audit trail.

pub mod inventory;
mod sqlite;
mod target;

use std::path::PathBuf;

pub use target::{
    AdminUser, CertFile, ClearableField, DEFAULT_PORT, DbName, Entry, EnvName, Host, InvalidValue,
    RootCert, SslMode, Target, TargetChanges, TargetKey,
};

/// Storage of registry entries. Every method either does all it says or
/// nothing.
pub trait RegistryStore {
    /// Records a new target; fails with [`Error::AlreadyExists`] when its key is taken.
    fn add(&mut self, target: &Target) -> Result<Entry, Error>;
    /// The entry for `key`, active or not.
    fn get(&self, key: &TargetKey) -> Result<Entry, Error>;
    /// Entries ordered by env, then db.
    fn list(&self, filter: &ListFilter) -> Result<Vec<Entry>, Error>;
    fn update(&mut self, key: &TargetKey, changes: &TargetChanges) -> Result<Entry, Error>;
    fn set_active(&mut self, key: &TargetKey, active: bool) -> Result<Entry, Error>;
    fn remove(&mut self, key: &TargetKey) -> Result<Entry, Error>;
    /// Adds the targets whose keys are free, in one transaction, and reports
    /// what happened to each, in the order given.
    fn import(&mut self, targets: &[Target]) -> Result<Vec<ImportOutcome>, Error>;
}

#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub env: Option<EnvName>,
    pub active_only: bool,
}

/// What `import` did with one target of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    Added,
    /// Already registered; the fields in which the file differs are listed.
    Skipped {
        differs: Vec<&'static str>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Invalid(#[from] InvalidValue),

    #[error("{0} is already registered")]
    AlreadyExists(TargetKey),

    #[error("no registry entry for env '{}' db '{}'", .0.env.as_str(), .0.db.as_str())]
    NotFound(TargetKey),

    #[error("{}: {message}", path.display())]
    Inventory { path: PathBuf, message: String },

    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(transparent)]
    Store(#[from] crate::store::Error),
}

impl Error {
    /// True when the error is the caller's input, found before anything was written.
    pub fn is_invalid_input(&self) -> bool {
        match self {
            Error::Invalid(_)
            | Error::Inventory { .. }
            | Error::AlreadyExists(_)
            | Error::NotFound(_) => true,
            Error::Io { .. } => false,
            Error::Store(err) => err.is_invalid_input(),
        }
    }

    /// What the user can do next.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::AlreadyExists(key) => Some(format!(
                "to change it, use `pgacct registry update --env {} --db {} ...`",
                key.env.as_str(),
                shell_word(key.db.as_str())
            )),
            Error::NotFound(key) => {
                Some(format!("see `pgacct registry list --env {}`", key.env.as_str()))
            }
            Error::Store(err) => err.hint(),
            Error::Invalid(_) | Error::Inventory { .. } | Error::Io { .. } => None,
        }
    }
}

/// Quotes `s` for a shell command line when it needs it, for hints.
pub fn shell_word(s: &str) -> String {
    let plain =
        !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:@%+=".contains(c));
    if plain { s.to_owned() } else { format!("'{}'", s.replace('\'', r"'\''")) }
}

/// The registry's default location: the platform data directory.
pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "pgacct").map(|dirs| dirs.data_dir().join("pgacct.db"))
}
