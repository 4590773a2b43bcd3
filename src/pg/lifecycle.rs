//! Suspending and removing roles: lock and unlock, ending sessions, and the
//! steps of a drop (each database disowned, then the role dropped).

use postgres_protocol::escape::escape_identifier;

use super::Session;
use super::inspect::{self, RoleDetail};
use super::roles::{Changed, RoleError, Statement, change_existing};
use crate::policy::RoleName;

/// `ALTER ROLE ... NOLOGIN` (lock) or `LOGIN` (unlock), if the role exists.
pub async fn set_login(
    session: &Session,
    name: &RoleName,
    login: bool,
    dry_run: bool,
) -> Result<Changed, RoleError> {
    let keyword = if login { "LOGIN" } else { "NOLOGIN" };
    let statement =
        Statement::plain(format!("ALTER ROLE {} {keyword}", escape_identifier(name.as_str())));
    change_existing(session, name, &[statement], dry_run).await
}

/// What ending a role's sessions did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Terminated {
    pub ended: usize,
    /// Sessions the admin may not end, and why.
    pub refused: Vec<String>,
}

/// Ends every session of `name` (not this one). A session the admin may
/// not end (it needs `pg_signal_backend`) is reported, not fatal.
pub async fn terminate_sessions(
    session: &Session,
    name: &RoleName,
) -> Result<Terminated, RoleError> {
    let client = session.client();
    let pids: Vec<i32> = client
        .query(
            "SELECT pid FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()",
            &[&name.as_str()],
        )
        .await
        .map_err(|err| RoleError::from_pg(&err, None))?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut result = Terminated::default();
    for pid in pids {
        match client.query_one("SELECT pg_terminate_backend($1)", &[&pid]).await {
            Ok(row) if row.get::<_, bool>(0) => result.ended += 1,
            // Gone already.
            Ok(_) => {}
            Err(err) => {
                result.refused.push(format!("session {pid}: {}", RoleError::from_pg(&err, None)));
            }
        }
    }
    Ok(result)
}

/// What a drop will affect, found before anything changes.
#[derive(Debug, Clone)]
pub struct Preflight {
    pub detail: RoleDetail,
    /// The admin role pgacct is connected as.
    pub admin: String,
}

impl Preflight {
    /// Why this role may not be dropped by pgacct, if it may not.
    pub fn refusal(&self) -> Option<String> {
        if self.detail.info.name == self.admin {
            return Some(format!("{} is the admin role pgacct connects as", self.admin));
        }
        self.detail.info.attributes.contains(&"SUPERUSER").then(|| {
            format!("{} is a superuser; pgacct does not drop superusers", self.detail.info.name)
        })
    }

    /// One line for the confirmation and the audit trail.
    pub fn summary(&self) -> String {
        let count = |map: &std::collections::BTreeMap<String, i64>| {
            if map.is_empty() {
                "none".to_owned()
            } else {
                map.iter().map(|(db, n)| format!("{n} in {db}")).collect::<Vec<_>>().join(", ")
            }
        };
        let list =
            |names: &[String]| if names.is_empty() { "none".to_owned() } else { names.join(", ") };
        format!(
            "owns {}; privileges {}; {} session(s); member of {}; members {}",
            count(&self.detail.owns),
            count(&self.detail.privileges),
            self.detail.sessions,
            list(&self.detail.info.member_of),
            list(&self.detail.members)
        )
    }
}

/// Looks at the role before a drop; `None` when it does not exist.
pub async fn preflight(session: &Session, name: &RoleName) -> Result<Option<Preflight>, RoleError> {
    let Some(detail) = inspect::show(session, name.as_str(), &[]).await? else {
        return Ok(None);
    };
    let admin: String = session
        .client()
        .query_one("SELECT current_user::text", &[])
        .await
        .map_err(|err| RoleError::from_pg(&err, None))?
        .get(0);
    Ok(Some(Preflight { detail, admin }))
}

/// The databases of the cluster that accept connections.
pub async fn connectable_databases(session: &Session) -> Result<Vec<String>, RoleError> {
    Ok(session
        .client()
        .query("SELECT datname::text FROM pg_database WHERE datallowconn ORDER BY 1", &[])
        .await
        .map_err(|err| RoleError::from_pg(&err, None))?
        .iter()
        .map(|row| row.get(0))
        .collect())
}

/// Lets the admin act as `name`, as REASSIGN OWNED and DROP OWNED need: a
/// superuser already may; another admin grants itself membership (which
/// takes ADMIN OPTION on `name` from PostgreSQL 16). The membership goes
/// with the role.
pub async fn act_as(session: &Session, name: &RoleName) -> Result<Option<String>, RoleError> {
    let client = session.client();
    let may: bool = client
        .query_one("SELECT pg_has_role(current_user, $1, 'USAGE')", &[&name.as_str()])
        .await
        .map_err(|err| RoleError::from_pg(&err, None))?
        .get(0);
    if may {
        return Ok(None);
    }
    let statement =
        Statement::plain(format!("GRANT {} TO CURRENT_USER", escape_identifier(name.as_str())));
    client
        .batch_execute(&statement.sql)
        .await
        .map_err(|err| RoleError::from_pg(&err, Some(&statement)))?;
    Ok(Some(statement.shown))
}

/// In the database `session` is connected to, in one transaction: gives
/// what `name` owns to `heir`, then drops its privileges.
pub async fn disown(
    session: &Session,
    name: &RoleName,
    heir: &str,
) -> Result<Vec<String>, RoleError> {
    let role = escape_identifier(name.as_str());
    let statements = [
        Statement::plain(format!("REASSIGN OWNED BY {role} TO {}", escape_identifier(heir))),
        Statement::plain(format!("DROP OWNED BY {role}")),
    ];
    let client = session.client();
    client.batch_execute("BEGIN").await.map_err(|err| RoleError::from_pg(&err, None))?;
    for statement in &statements {
        if let Err(err) = client.batch_execute(&statement.sql).await {
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(RoleError::from_pg(&err, Some(statement)));
        }
    }
    client.batch_execute("COMMIT").await.map_err(|err| RoleError::from_pg(&err, None))?;
    Ok(statements.into_iter().map(|s| s.shown).collect())
}

/// `DROP ROLE`, once nothing depends on it.
pub async fn drop_role(session: &Session, name: &RoleName) -> Result<String, RoleError> {
    let statement = Statement::plain(format!("DROP ROLE {}", escape_identifier(name.as_str())));
    session
        .client()
        .batch_execute(&statement.sql)
        .await
        .map_err(|err| RoleError::from_pg(&err, Some(&statement)))?;
    Ok(statement.shown)
}
