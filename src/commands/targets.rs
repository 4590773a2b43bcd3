//! Which targets a command works on, chosen from the registry (or, for
//! `--retry`, from the audit trail), and how they group into clusters.

use crate::audit::{AuditStore, Filter, OperationTarget, Outcome};
use crate::cli::{ChangeTargetArgs, TargetArgs};
use crate::error::CommandError;
use crate::pg::rollout;
use crate::registry::{
    ClusterRef, DbName, EnvName, Error, Label, ListFilter, RegistryStore, Target, TargetKey,
    shell_word,
};
use crate::store::Store;

/// What TARGETS names: an env (or every env), and any of database names,
/// clusters and labels; with none of those, every active target in scope.
#[derive(Debug, Clone, Copy, Default)]
pub struct Selection<'a> {
    /// `None`: every env.
    pub env: Option<&'a EnvName>,
    pub dbs: &'a [DbName],
    pub clusters: &'a [ClusterRef],
    pub labels: &'a [Label],
}

/// The active targets a selection names: those of the env (or every env)
/// with one of the database names, on one of the clusters and with every
/// label, each of those as given. A name or cluster that matches no target
/// of the env is refused, and so is a name whose targets are all inactive.
/// Errors are input errors: nothing has been touched yet.
pub fn select(store: &Store, selection: &Selection<'_>) -> Result<Vec<Target>, CommandError> {
    let filter = ListFilter { env: selection.env.cloned(), ..ListFilter::default() };
    let in_scope: Vec<Target> = store.list(&filter)?.into_iter().map(|e| e.target).collect();
    for db in selection.dbs {
        let named: Vec<&Target> = in_scope.iter().filter(|t| t.key.db == *db).collect();
        let Some(first) = named.first() else {
            return Err(match selection.env {
                Some(env) => {
                    Error::NotFound(TargetKey { env: env.clone(), db: db.clone() }, None).into()
                }
                None => CommandError::usage(format!("no env has a target db '{}'", db.as_str()))
                    .hint("see `pgacct registry list`"),
            });
        };
        if named.iter().all(|t| !t.active) {
            return Err(CommandError::usage(format!("{} is inactive", first.key))
                .hint(inactive_hint(first, named.len() > 1)));
        }
    }
    for cluster in selection.clusters {
        if !in_scope.iter().any(|t| cluster.matches(t)) {
            let scope = scope_words(selection.env);
            return Err(CommandError::usage(format!("no target{scope} is on cluster {cluster}"))
                .hint("see `pgacct registry list`"));
        }
    }
    let mut targets: Vec<Target> = in_scope
        .into_iter()
        .filter(|t| {
            t.active
                && (selection.dbs.is_empty() || selection.dbs.contains(&t.key.db))
                && (selection.clusters.is_empty()
                    || selection.clusters.iter().any(|c| c.matches(t)))
                && t.labels.has_all(selection.labels)
        })
        .collect();
    // In the order the names were given.
    targets.sort_by_key(|t| selection.dbs.iter().position(|db| *db == t.key.db));
    if targets.is_empty() {
        let scope = scope_words(selection.env);
        let matching = if selection.labels.is_empty() && selection.clusters.is_empty() {
            String::new()
        } else {
            " match".to_owned()
        };
        return Err(CommandError::usage(format!("no active targets{scope}{matching}"))
            .hint("see `pgacct registry list`"));
    }
    Ok(targets)
}

/// ` in env 'E'`, or nothing for every env.
fn scope_words(env: Option<&EnvName>) -> String {
    env.map_or_else(String::new, |env| format!(" in env '{}'", env.as_str()))
}

/// The active targets named `key`, on every cluster that has it: refused
/// when there is none, or when every one is inactive.
fn active_named(store: &Store, key: &TargetKey) -> Result<Vec<Target>, CommandError> {
    let entries = store.matching(key, None)?;
    let Some(first) = entries.first() else {
        return Err(Error::NotFound(key.clone(), None).into());
    };
    let inactive = inactive_hint(&first.target, entries.len() > 1);
    let active: Vec<Target> = entries.into_iter().map(|e| e.target).filter(|t| t.active).collect();
    if active.is_empty() {
        return Err(CommandError::usage(format!("{key} is inactive")).hint(inactive));
    }
    Ok(active)
}

/// How to activate `target`; with `--cluster` when its name is on others too.
fn inactive_hint(target: &Target, on_several: bool) -> String {
    let cluster = if on_several {
        format!(" --cluster {}", shell_word(&target.cluster_ref().to_string()))
    } else {
        String::new()
    };
    format!(
        "activate it with `pgacct registry activate --env {} --db {}{cluster}`",
        target.key.env.as_str(),
        shell_word(target.key.db.as_str())
    )
}

/// The registered target `key` on the cluster an audit record names
/// (`host:port`, or one server of a host list), which must be active.
fn active_on(store: &Store, key: &TargetKey, cluster: &str) -> Result<Target, CommandError> {
    let entries = store.matching(key, None)?;
    let Some(entry) = entries.iter().find(|e| e.target.recorded_as(cluster)) else {
        return Err(match entries.first() {
            None => Error::NotFound(key.clone(), None).into(),
            Some(_) => CommandError::usage(format!(
                "{key} is on {} now, and the operation ran on {cluster}",
                entries.iter().map(|e| e.target.cluster()).collect::<Vec<_>>().join(", ")
            ))
            .hint(format!(
                "select it with --env {} --db {} instead",
                key.env.as_str(),
                shell_word(key.db.as_str())
            )),
        });
    };
    if !entry.target.active {
        return Err(CommandError::usage(format!("{} is inactive", entry.target.name()))
            .hint(inactive_hint(&entry.target, entries.len() > 1)));
    }
    Ok(entry.target.clone())
}

/// The targets of a reading user command.
pub fn of_reading(store: &Store, args: &TargetArgs) -> Result<Vec<Target>, CommandError> {
    select(
        store,
        &Selection {
            env: args.env.as_ref(),
            dbs: &args.dbs,
            clusters: &args.clusters,
            labels: &args.wheres,
        },
    )
}

/// TARGETS as options again, for a hint's command line.
pub fn as_options(args: &TargetArgs) -> String {
    let word = |option: &str, value: &str| format!("{option} {}", shell_word(value));
    let mut options: Vec<String> = Vec::new();
    match &args.env {
        Some(env) => options.push(word("--env", env.as_str())),
        None if args.all_envs => options.push("--all-envs".into()),
        None => {}
    }
    options.extend(args.dbs.iter().map(|db| word("--db", db.as_str())));
    options.extend(args.clusters.iter().map(|c| word("--cluster", &c.to_string())));
    options.extend(args.wheres.iter().map(|label| word("--where", &label.to_string())));
    if args.all {
        options.push("--all".into());
    }
    options.join(" ")
}

/// What `--retry ID` found in the audit trail.
#[derive(Debug)]
pub struct Retry {
    /// The operation's first record.
    pub id: i64,
    pub operation: String,
    pub role: Option<String>,
    /// What the operation was about to do, as its first record says.
    pub intent: String,
    /// Targets where the operation (or one it retried, and so on back) set
    /// a password, with whether it certainly is in force there (`false`:
    /// it may be, after a COMMIT without an answer, say). A retry must give
    /// that password.
    pub password_holders: Vec<(Target, bool)>,
}

/// How a retry's intent names the operation it repeats.
const RETRY_OF: &str = " (retry of operation ";

/// The intent of a change made with `--retry` of operation `id`.
pub fn retry_intent(intent: &str, id: i64) -> String {
    format!("{intent}{RETRY_OF}{id})")
}

/// The operation an intent says it retried.
fn retried(intent: &str) -> Option<i64> {
    let (_, rest) = intent.split_once(RETRY_OF)?;
    rest.split_once(')')?.0.parse().ok()
}

/// The targets of a change: named, or `--retry`'s.
pub fn of_change(
    store: &Store,
    args: &ChangeTargetArgs,
) -> Result<(Vec<Target>, Option<Retry>), CommandError> {
    if let Some(id) = args.retry {
        let (targets, retry) = retry(store, id, args.env.as_ref())?;
        return Ok((targets, Some(retry)));
    }
    // clap requires --env unless --retry is given.
    let env = args.env.as_ref().ok_or_else(|| CommandError::usage("--env is required"))?;
    let selection = Selection {
        env: Some(env),
        dbs: &args.dbs,
        clusters: &args.clusters,
        labels: &args.wheres,
    };
    Ok((select(store, &selection)?, None))
}

/// The key of the target an operation record names.
fn key_of(record: &OperationTarget) -> Result<Option<TargetKey>, CommandError> {
    let (Some(env), Some(db)) = (&record.env, &record.db) else { return Ok(None) };
    Ok(Some(TargetKey { env: env.parse()?, db: db.parse()? }))
}

/// The targets where the operation of audit record `id` did not succeed
/// (failed, or never finished) and has not since, as registered now.
fn retry(
    store: &Store,
    id: i64,
    env: Option<&EnvName>,
) -> Result<(Vec<Target>, Retry), CommandError> {
    let records = store.operation(id)?;
    let Some(first) = records.first() else {
        return Err(CommandError::usage(format!("there is no audit record {id}"))
            .hint("see `pgacct audit show --failed`"));
    };
    let mut failed = Vec::new();
    for record in &records {
        let Some(key) = key_of(record)? else { continue };
        if env.is_some_and(|env| *env != key.env) {
            return Err(CommandError::usage(format!(
                "operation {} ran in env '{}', not '{}'",
                first.id,
                key.env.as_str(),
                env.map(EnvName::as_str).unwrap_or_default()
            )));
        }
        if record.outcome == Some(Outcome::Ok) || done_since(store, record, &key)? {
            continue;
        }
        let target = match record.cluster.as_deref() {
            Some(cluster) => active_on(store, &key, cluster)?,
            // Records without a cluster predate one name on many clusters.
            None => active_named(store, &key)?.remove(0),
        };
        failed.push(target);
    }
    if failed.is_empty() {
        return Err(CommandError::usage(format!(
            "nothing to retry: operation {} ({} of {}) has succeeded on every target",
            first.id,
            first.operation,
            first.role.as_deref().unwrap_or("-")
        )));
    }
    let retry = Retry {
        id: first.id,
        operation: first.operation.clone(),
        role: first.role.clone(),
        intent: first.intent.clone(),
        password_holders: password_holders(store, records)?,
    };
    Ok((failed, retry))
}

/// Where an operation, and the ones it retried in turn, set a password.
fn password_holders(
    store: &Store,
    mut records: Vec<OperationTarget>,
) -> Result<Vec<(Target, bool)>, CommandError> {
    let mut holders: Vec<(Target, bool)> = Vec::new();
    // A chain of retries is short; the bound only guards against a loop.
    for _ in 0..64 {
        for record in &records {
            let status = record.status.as_deref().unwrap_or_default();
            let certain = record.outcome == Some(Outcome::Ok)
                && rollout::SETS_PASSWORD.iter().any(|done| status.starts_with(done));
            let maybe =
                record.outcome == Some(Outcome::Failed) && status == rollout::MAY_BE_IN_FORCE;
            let Some(key) = key_of(record)? else { continue };
            if !(certain || maybe) {
                continue;
            }
            let cluster = record.cluster.as_deref();
            let entries = store.matching(&key, None)?;
            let registered = entries
                .into_iter()
                .map(|e| e.target)
                .find(|t| cluster.is_none_or(|cluster| t.recorded_as(cluster)));
            if let Some(target) = registered
                && !holders.iter().any(|(t, _)| t.is(&target))
            {
                holders.push((target, certain));
            }
        }
        let Some(earlier) = records.first().and_then(|r| retried(&r.intent)) else { break };
        records = store.operation(earlier)?;
    }
    // Where it certainly is in force first: that answer settles it.
    holders.sort_by_key(|(_, certain)| !certain);
    Ok(holders)
}

/// Whether the change of `record` has succeeded on `key` since: its newest
/// record there (on the same cluster) is a later success.
fn done_since(
    store: &Store,
    record: &OperationTarget,
    key: &TargetKey,
) -> Result<bool, CommandError> {
    let newest = store.show(&Filter {
        env: Some(key.env.as_str().to_owned()),
        db: Some(key.db.as_str().to_owned()),
        role: record.role.clone(),
        operation: Some(record.operation.clone()),
        limit: record.cluster.is_none().then_some(1),
        ..Filter::default()
    })?;
    // The same target: on a host list, the record of another of its
    // servers (after a failover) is the same target's.
    let registered = match &record.cluster {
        Some(cluster) => {
            store.matching(key, None)?.into_iter().find(|e| e.target.recorded_as(cluster))
        }
        None => None,
    };
    let same = |cluster: Option<&str>| match (&registered, cluster) {
        (Some(entry), Some(cluster)) => entry.target.recorded_as(cluster),
        _ => cluster == record.cluster.as_deref(),
    };
    let newest =
        newest.iter().find(|newest| record.cluster.is_none() || same(newest.cluster.as_deref()));
    Ok(newest.is_some_and(|newest| newest.started_id > record.id && newest.outcome == "ok"))
}

/// The targets on one cluster (host and port), in the order given.
#[derive(Debug)]
pub struct Cluster<'t> {
    /// `host:port`.
    pub name: String,
    pub targets: Vec<&'t Target>,
}

/// `targets` grouped by cluster, clusters in the order they first appear.
pub fn by_cluster(targets: &[Target]) -> Vec<Cluster<'_>> {
    let mut clusters: Vec<Cluster<'_>> = Vec::new();
    for target in targets {
        let name = target.cluster();
        match clusters.iter_mut().find(|c| c.name == name) {
            Some(cluster) => cluster.targets.push(target),
            None => clusters.push(Cluster { name, targets: vec![target] }),
        }
    }
    clusters
}

/// The registered targets, other than `selected`, on the clusters of
/// `selected`: roles are cluster-wide, so a change reaches them too.
pub fn sharing_clusters(store: &Store, selected: &[Target]) -> Result<Vec<Target>, CommandError> {
    let clusters: Vec<String> = selected.iter().map(Target::cluster).collect();
    Ok(store
        .list(&ListFilter::default())?
        .into_iter()
        .map(|entry| entry.target)
        .filter(|t| clusters.contains(&t.cluster()) && !selected.iter().any(|s| s.is(t)))
        .collect())
}
