//! `pgacct user drop`: a preflight on every cluster, one confirmation, then
//! the drop itself (see [`Rollout::drop`]).

use std::collections::BTreeMap;

use postgres_protocol::escape::escape_identifier;

use super::apply::Rollout;
use crate::commands::fan_out;
use crate::commands::targets::by_cluster;
use crate::pg::lifecycle::{self, Preflight};
use crate::pg::roles::{Changed, RoleError};
use crate::pg::{Connector, Session};
use crate::policy::RoleName;
use crate::registry::{Target, TargetKey};

/// Each cluster's preflight (`None`: the role is not there), or why it
/// could not be made.
pub fn preflights(
    connector: &Connector,
    jobs: u16,
    targets: &[Target],
    name: &RoleName,
) -> anyhow::Result<BTreeMap<String, Result<Option<Preflight>, String>>> {
    let clusters = by_cluster(targets);
    let results = fan_out(jobs, &clusters, |cluster| async move {
        let session = connector.connect(cluster.targets[0]).await.map_err(|err| err.to_string())?;
        lifecycle::preflight(&session, name).await.map_err(|err| err.to_string())
    })?;
    Ok(clusters.into_iter().map(|c| c.name).zip(results).collect())
}

impl Rollout<'_> {
    /// Drops `name` from the cluster `session` is on. Every step before
    /// DROP ROLE leaves the role NOLOGIN, so a failure halfway leaves it
    /// locked, and the error names the database.
    pub(super) async fn drop(
        &self,
        session: &Session,
        target: &Target,
        name: &RoleName,
        heir: Option<&str>,
    ) -> Result<Changed, RoleError> {
        let Some(preflight) = lifecycle::preflight(session, name).await? else {
            return Ok(Changed::NotFound);
        };
        if let Some(reason) = preflight.refusal() {
            return Err(refused(format!("refused: {reason}")));
        }
        let heir = heir.unwrap_or(&preflight.admin);
        if heir == name.as_str() {
            return Err(refused("--reassign-to names the role being dropped".into()));
        }
        let databases = lifecycle::connectable_databases(session).await?;
        if self.dry_run {
            return Ok(Changed::Done(plan(name, heir, &databases)));
        }
        let mut sql = match lifecycle::set_login(session, name, false, false).await? {
            Changed::Done(sql) => sql,
            Changed::NotFound => return Ok(Changed::NotFound),
        };
        let ended = lifecycle::terminate_sessions(session, name).await?;
        if !ended.refused.is_empty() {
            sql.push(format!("-- sessions not ended: {}", ended.refused.join("; ")));
        }
        sql.extend(lifecycle::act_as(session, name).await.map_err(left_locked)?);
        for db in &databases {
            let in_db = |err: RoleError| {
                left_locked(RoleError {
                    message: format!("in database {db}: {}", err.message),
                    ..err
                })
            };
            let connected;
            let db_session = if *db == session.settings.dbname {
                session
            } else {
                connected = self.connect_to(target, db).await.map_err(in_db)?;
                &connected
            };
            let done = lifecycle::disown(db_session, name, heir).await.map_err(in_db)?;
            sql.extend(done.into_iter().map(|statement| format!("{statement} -- in {db}")));
        }
        sql.push(lifecycle::drop_role(session, name).await.map_err(left_locked)?);
        Ok(Changed::Done(sql))
    }

    /// A session to another database of `target`'s cluster, registered or not.
    async fn connect_to(&self, target: &Target, db: &str) -> Result<Session, RoleError> {
        let db = db.parse().map_err(|err| refused(format!("database {db}: {err}")))?;
        let other = Target { key: TargetKey { env: target.key.env.clone(), db }, ..target.clone() };
        self.connector.connect(&other).await.map_err(|err| refused(err.to_string()))
    }
}

/// What `--dry-run` shows for a drop.
fn plan(name: &RoleName, heir: &str, databases: &[String]) -> Vec<String> {
    let role = escape_identifier(name.as_str());
    let heir = escape_identifier(heir);
    let mut plan = vec![format!("ALTER ROLE {role} NOLOGIN")];
    for db in databases {
        plan.push(format!("REASSIGN OWNED BY {role} TO {heir} -- in {db}"));
        plan.push(format!("DROP OWNED BY {role} -- in {db}"));
    }
    plan.push(format!("DROP ROLE {role}"));
    plan
}

fn refused(message: String) -> RoleError {
    RoleError { message, statement: None, code: None }
}

fn left_locked(err: RoleError) -> RoleError {
    RoleError { message: format!("{}; the role is left NOLOGIN", err.message), ..err }
}
