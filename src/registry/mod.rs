//! The registry: the inventory of target databases, keyed by (env, host,
//! port, db): one database name may live on many clusters of an env.
//!
//! Commands talk to it through [`RegistryStore`]; today the only backend is
//! the local store file ([`crate::store::FileStore`]), which also holds the
//! audit trail.

mod host_list;
pub mod inventory;
mod sqlite;
pub mod sync;
mod target;

use std::path::PathBuf;

pub use host_list::HostEntry;
pub use target::{
    AdminUser, CertFile, ClearableField, ClusterRef, DEFAULT_PORT, DbName, Entry, EnvName, Host,
    InvalidValue, Label, LabelKey, Labels, PasswordCommand, RootCert, SslMode, SslNegotiation,
    Target, TargetChanges, TargetKey,
};

/// Storage of registry entries. Every method either does all it says or
/// nothing.
pub trait RegistryStore {
    /// Records a new target; fails with [`Error::AlreadyExists`] when one
    /// with its env, cluster and db is registered.
    fn add(&mut self, target: &Target) -> Result<Entry, Error>;
    /// The entry with the env, cluster and db of `target`, active or not.
    fn entry_of(&self, target: &Target) -> Result<Option<Entry>, Error>;
    /// The entries named `key` (on `cluster`, when given), active or not,
    /// ordered by cluster.
    fn matching(&self, key: &TargetKey, cluster: Option<&ClusterRef>) -> Result<Vec<Entry>, Error>;
    /// Entries ordered by env, then db, then cluster.
    fn list(&self, filter: &ListFilter) -> Result<Vec<Entry>, Error>;
    /// Changes the registered `target` (its env, cluster and db say which).
    fn update(&mut self, target: &Target, changes: &TargetChanges) -> Result<Entry, Error>;
    fn set_active(&mut self, target: &Target, active: bool) -> Result<Entry, Error>;
    fn remove(&mut self, target: &Target) -> Result<Entry, Error>;
    /// Applies every change of an import or a sync in one transaction, or
    /// none: refused with [`Error::Moved`] when an entry is no longer as
    /// the change was planned against.
    fn apply(&mut self, changes: &[sync::Change]) -> Result<(), Error>;

    /// The registered environments, each with how many targets it has: for
    /// completion, like the three below. Values that do not read back as
    /// valid (a row edited by hand) are left out.
    fn env_names(&self) -> Result<Vec<(EnvName, u32)>, Error>;
    /// The database names of `env` (of every env when `None`), with how
    /// many targets have each.
    fn db_names(&self, env: Option<&EnvName>) -> Result<Vec<(DbName, u32)>, Error>;
    /// The clusters (host and port) of `env`, with how many targets each holds.
    fn clusters(&self, env: Option<&EnvName>) -> Result<Vec<(ClusterRef, u32)>, Error>;
    /// The distinct label sets of `env`'s targets, empty ones left out.
    fn label_sets(&self, env: Option<&EnvName>) -> Result<Vec<Labels>, Error>;

    /// The one entry `key` (on `cluster`) names: refused when there is
    /// none, or when it names several (they are listed).
    fn one(&self, key: &TargetKey, cluster: Option<&ClusterRef>) -> Result<Entry, Error> {
        let mut entries = self.matching(key, cluster)?;
        match entries.len() {
            0 => Err(Error::NotFound(key.clone(), cluster.cloned())),
            1 => Ok(entries.remove(0)),
            _ => Err(Error::Ambiguous {
                key: key.clone(),
                clusters: entries.iter().map(|e| e.target.cluster_ref().to_string()).collect(),
            }),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub env: Option<EnvName>,
    pub active_only: bool,
    /// Only targets with every one of these labels.
    pub labels: Vec<Label>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Invalid(#[from] InvalidValue),

    #[error("{} is already registered", .0.name())]
    AlreadyExists(Box<Target>),

    #[error(
        "no registry entry for env '{}' db '{}'{}",
        .0.env.as_str(),
        .0.db.as_str(),
        .1.as_ref().map(|c| format!(" on cluster {c}")).unwrap_or_default()
    )]
    NotFound(TargetKey, Option<ClusterRef>),

    #[error(
        "env '{}' has db '{}' on {} clusters: {}",
        key.env.as_str(),
        key.db.as_str(),
        clusters.len(),
        clusters.join(", ")
    )]
    Ambiguous { key: TargetKey, clusters: Vec<String> },

    #[error("{0} changed after the change was planned")]
    Moved(String),

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
            | Error::NotFound(..)
            | Error::Ambiguous { .. } => true,
            Error::Io { .. } | Error::Moved(_) => false,
            Error::Store(err) => err.is_invalid_input(),
        }
    }

    /// What the user can do next.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::AlreadyExists(target) => Some(format!(
                "to change it, use `pgacct registry update --env {} --db {} --cluster {} ...`",
                target.key.env.as_str(),
                shell_word(target.key.db.as_str()),
                shell_word(&target.cluster_ref().to_string())
            )),
            Error::NotFound(key, _) => {
                Some(format!("see `pgacct registry list --env {}`", key.env.as_str()))
            }
            Error::Ambiguous { key, clusters } => Some(format!(
                "pick one with --cluster, e.g. `--env {} --db {} --cluster {}`",
                key.env.as_str(),
                shell_word(key.db.as_str()),
                clusters.first().map_or_else(String::new, |c| shell_word(c))
            )),
            Error::Store(err) => err.hint(),
            Error::Moved(_) => Some("run the command again".into()),
            Error::Invalid(_) | Error::Inventory { .. } | Error::Io { .. } => None,
        }
    }
}

/// Compares names as people sort them: runs of digits by their value, so
/// `m2` comes before `m10`; the rest byte by byte.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let digits = |s: &[u8]| s.iter().take_while(|c| c.is_ascii_digit()).count();
                let (da, db) = (digits(a), digits(b));
                let trim = |s: &[u8]| {
                    let zeros = s.iter().take_while(|c| **c == b'0').count();
                    s[zeros..].to_vec()
                };
                let (na, nb) = (trim(&a[..da]), trim(&b[..db]));
                // Fewer significant digits is smaller; then digit by digit;
                // then fewer leading zeros first, so the order is total.
                let order = na.len().cmp(&nb.len()).then_with(|| na.cmp(&nb)).then(da.cmp(&db));
                if order != Ordering::Equal {
                    return order;
                }
                (a, b) = (&a[da..], &b[db..]);
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                (a, b) = (&a[1..], &b[1..]);
            }
        }
    }
}

/// The order `registry list` shows targets in: env, db, host (each
/// naturally), then port.
pub fn list_order(a: &Target, b: &Target) -> std::cmp::Ordering {
    natural_cmp(a.key.env.as_str(), b.key.env.as_str())
        .then_with(|| natural_cmp(a.key.db.as_str(), b.key.db.as_str()))
        .then_with(|| natural_cmp(a.host.as_str(), b.host.as_str()))
        .then(a.port.cmp(&b.port))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_naturally() {
        let mut names = vec!["m10", "m2", "m1", "a", "m02", "m2a", "m", "b10x", "b9x", "m100"];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(names, ["a", "b9x", "b10x", "m", "m1", "m2", "m2a", "m02", "m10", "m100"]);
        assert_eq!(natural_cmp("db-2.example", "db-10.example"), std::cmp::Ordering::Less);
        assert_eq!(natural_cmp("x", "x"), std::cmp::Ordering::Equal);
    }
}
