//! The audit trail: an append-only, hash-chained record of every change
//! pgacct makes, including the ones that failed.
//!
//! Each operation leaves a `started` record before it touches anything and
//! an outcome record (`ok` or `failed`) after; a started record without an
//! outcome (the process was killed) shows as `incomplete`. Every record
//! holds the hash of the one before it, so `verify` finds edited, deleted,
//! inserted and re-ordered records. With an audit key ([`AuditKey`]) each
//! hash is an HMAC, and the first record made with the key seals the
//! trail: every later record must be made with it too, so someone who can
//! write the store but has not the key cannot append records that verify.
//! Commands use [`AuditStore`]; the only backend today is the local store
//! file ([`crate::store::FileStore`]). A team store's trail is checked with
//! [`team`], fed by `crate::store::team`.

mod chain;
mod key;
mod sqlite;
pub mod team;
mod when;

use std::time::Duration;

use serde::Serialize;

pub use chain::Record;
pub use key::{AuditKey, KEY_VAR, KeyConfig, KeyError};
pub use sqlite::Export;
pub use when::{Side, TimeBound, parse_bound};

/// Who ran pgacct, where: the part of every record that describes the
/// process rather than the operation.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The OS user; the one who ran `sudo` when `SUDO_USER` is set.
    pub actor: String,
    pub host: String,
    pub pid: u32,
    /// `CI_JOB_ID`, `GITHUB_RUN_ID` or `BUILD_ID`, when one is set.
    pub ci_job: Option<String>,
    /// `--ticket`.
    pub ticket: Option<String>,
    /// The key this process makes its records with; `None` makes plain
    /// SHA-256 records, which a sealed trail refuses.
    pub audit_key: Option<AuditKey>,
}

impl Invocation {
    /// This process, with the ticket the user gave.
    pub fn current(ticket: Option<String>) -> Invocation {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Invocation {
            actor: var("SUDO_USER")
                .or_else(|| whoami::username().ok())
                .unwrap_or_else(|| "unknown".into()),
            host: whoami::hostname().unwrap_or_else(|_| "unknown".into()),
            pid: std::process::id(),
            ci_job: ["CI_JOB_ID", "GITHUB_RUN_ID", "BUILD_ID"].into_iter().find_map(var),
            ticket,
            audit_key: None,
        }
    }
}

/// What an operation is about to do, as its started record says.
#[derive(Debug, Clone, Default)]
pub struct Operation {
    /// e.g. `registry.add`, `user.create`.
    pub name: String,
    pub env: Option<String>,
    pub db: Option<String>,
    /// `host:port`.
    pub cluster: Option<String>,
    /// The PostgreSQL role the operation concerns.
    pub role: Option<String>,
    /// What is about to happen, in words.
    pub status: String,
}

/// How an operation ended, as the trail records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
        }
    }

    pub fn is_ok(self) -> bool {
        self == Outcome::Ok
    }
}

/// How an operation ended.
#[derive(Debug, Clone)]
pub struct Finish {
    /// The id of the operation's started record.
    pub started: i64,
    pub outcome: Outcome,
    /// What happened, e.g. "user created", "user already exists".
    pub status: String,
    pub error: Option<String>,
    pub duration: Duration,
    /// The SQL that ran, with secrets redacted.
    pub sql: Option<String>,
}

/// One row of `audit show`: an operation, by its outcome record, or by its
/// started record when no outcome arrived.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    pub id: i64,
    /// UTC, milliseconds: when the operation ended (or, if incomplete, began).
    pub time: String,
    /// `ok`, `failed` or `incomplete`.
    pub outcome: String,
    pub operation: String,
    pub env: Option<String>,
    pub db: Option<String>,
    pub cluster: Option<String>,
    pub role: Option<String>,
    pub status: String,
    pub error: Option<String>,
    pub duration_ms: Option<i64>,
    pub actor: String,
    pub host: String,
    pub pid: i64,
    pub ci_job: Option<String>,
    pub ticket: Option<String>,
    pub sql: Option<String>,
    /// The started record of this operation (itself, when incomplete).
    pub started_id: i64,
    /// In a team store, a record moved in from a local trail (`store
    /// migrate`): its id there. Null for records written in the store, and
    /// in the local trail.
    pub imported_id: Option<i64>,
    /// Set when the record holds what pgacct never writes (invalid UTF-8, a
    /// value of the wrong type): which columns, shown escaped. The trail was
    /// tampered with; `audit verify` names the record.
    pub damaged: Option<String>,
}

/// A record of the local trail as it is stored, for `store migrate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub record: Record,
    pub hash: String,
}

/// What `audit show` selects. `None` and `false` select everything.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub env: Option<String>,
    pub db: Option<String>,
    pub role: Option<String>,
    pub actor: Option<String>,
    /// An operation name, or a prefix before a dot (`registry` matches
    /// `registry.add`).
    pub operation: Option<String>,
    pub since: Option<TimeBound>,
    pub until: Option<TimeBound>,
    pub failed: bool,
    pub incomplete: bool,
    /// At most this many rows, newest first; `None` for all.
    pub limit: Option<u32>,
}

/// The result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub records: u64,
    /// The last record's id and hash: note them somewhere else to detect,
    /// later, that the trail was cut short.
    pub head: Option<(i64, String)>,
    /// The first record at which the chain breaks, and how.
    pub break_at: Option<Break>,
    /// The first record made with an audit key: every record after it must
    /// be made with one too.
    pub sealed_from: Option<i64>,
    /// Records made with a key whose HMAC was not checked, for want of the
    /// key: their chain links were checked, their contents were not.
    pub unchecked: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Break {
    pub id: i64,
    pub problem: String,
}

/// A record id and the hash it had, noted earlier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub id: i64,
    pub hash: String,
}

/// One target of an operation, as its started record and (when it has
/// one) its outcome record tell it: what `--retry` works from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationTarget {
    /// The started record.
    pub id: i64,
    pub operation: String,
    pub env: Option<String>,
    pub db: Option<String>,
    pub cluster: Option<String>,
    pub role: Option<String>,
    /// What was about to happen, as the started record says.
    pub intent: String,
    /// `None` when the operation never finished there.
    pub outcome: Option<Outcome>,
    /// What happened, when it finished.
    pub status: Option<String>,
}

/// The newest record of the trail, as a head noted elsewhere names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub id: i64,
    pub hash: String,
    /// The id of the key the record was made with, if any.
    pub key_id: Option<String>,
}

impl std::fmt::Display for Head {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.id, self.hash)
    }
}

/// When pgacct last set a role's password on a cluster: the newest `ok`
/// record that created the role or reset its password there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordSet {
    pub role: String,
    /// `host:port`.
    pub cluster: String,
    /// UTC, milliseconds.
    pub time: String,
}

/// Storage of the audit trail: append and read, never change.
pub trait AuditStore {
    /// Appends one started record per operation, in one transaction;
    /// returns their ids in order.
    fn start(&mut self, who: &Invocation, operations: &[Operation]) -> Result<Vec<i64>, Error>;
    /// Appends one outcome record per finished operation, in one
    /// transaction; returns the new head (`None` when there was nothing).
    fn finish(&mut self, who: &Invocation, outcomes: &[Finish]) -> Result<Option<Head>, Error>;
    /// The targets of the operation record `id` belongs to (all started
    /// records one invocation wrote together), each with its outcome;
    /// empty when there is no such record.
    fn operation(&self, id: i64) -> Result<Vec<OperationTarget>, Error>;
    /// Operations, newest first.
    fn show(&self, filter: &Filter) -> Result<Vec<AuditRow>, Error>;
    /// The newest record.
    fn head(&self) -> Result<Option<Head>, Error>;
    /// When pgacct last set each role's password, per cluster.
    fn passwords_set(&self) -> Result<Vec<PasswordSet>, Error>;
    /// Walks the whole chain; with an anchor, also checks that the record
    /// it names still has that hash; with a key, checks the HMACs of the
    /// records made with one, and that a trail has any.
    fn verify(
        &self,
        anchor: Option<&Anchor>,
        key: Option<&AuditKey>,
    ) -> Result<Verification, Error>;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the audit trail")]
    Store(#[from] crate::store::Error),

    #[error(
        "the audit trail is sealed with an audit key (record #{id} was made with it), and no \
         key is set"
    )]
    Sealed { id: i64 },

    #[error(
        "the audit trail is sealed with another audit key (record #{id} was made with key id \
         {theirs}; the key set has id {ours})"
    )]
    OtherKey { id: i64, theirs: String, ours: String },

    #[error("record #{id} of the audit trail is damaged: {problem}")]
    Damaged { id: i64, problem: String },
}

impl Error {
    /// True when pgacct refuses to write, before anything was touched.
    pub fn is_refusal(&self) -> bool {
        matches!(self, Error::Sealed { .. } | Error::OtherKey { .. })
    }

    /// What the user can do next.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Store(err) => err.hint(),
            Error::Sealed { .. } | Error::OtherKey { .. } => Some(format!(
                "set the trail's key in {KEY_VAR}, or name its file in [audit] key_file of \
                 config.toml"
            )),
            Error::Damaged { .. } => {
                Some("the trail was tampered with; see `pgacct audit verify`".into())
            }
        }
    }
}
