//! Which targets a command works on, chosen from the registry.

use crate::error::UsageError;
use crate::registry::{DbName, EnvName, Error, ListFilter, RegistryStore, Target, TargetKey};

/// The targets named by `--env` and `--db`: with databases, exactly those
/// (each must be registered and active); without, every active target of
/// the environment, or of all environments when there is no `--env`.
/// Errors are input errors: nothing has been touched yet.
pub fn select(
    store: &impl RegistryStore,
    env: Option<&EnvName>,
    dbs: &[DbName],
) -> anyhow::Result<Vec<Target>> {
    if let (Some(env), false) = (env, dbs.is_empty()) {
        let mut targets: Vec<Target> = Vec::with_capacity(dbs.len());
        for db in dbs {
            let key = TargetKey { env: env.clone(), db: db.clone() };
            if targets.iter().any(|t| t.key == key) {
                continue;
            }
            let entry = store.get(&key).map_err(|err| match err {
                Error::NotFound(_) => UsageError::new(err.to_string())
                    .with_hint(err.hint().unwrap_or_default())
                    .into(),
                other => anyhow::Error::from(other),
            })?;
            if !entry.target.active {
                return Err(UsageError::new(format!("{key} is inactive"))
                    .with_hint(format!(
                        "activate it with `pgacct registry activate --env {} --db {}`",
                        key.env.as_str(),
                        key.db.as_str()
                    ))
                    .into());
            }
            targets.push(entry.target);
        }
        return Ok(targets);
    }
    let filter = ListFilter { env: env.cloned(), active_only: true };
    let targets: Vec<Target> = store.list(&filter)?.into_iter().map(|e| e.target).collect();
    if targets.is_empty() {
        let scope = env.map_or_else(String::new, |env| format!(" in env '{}'", env.as_str()));
        return Err(UsageError::new(format!("no active targets{scope}"))
            .with_hint("see `pgacct registry list`")
            .into());
    }
    Ok(targets)
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
