//! Suspending and removing roles: ending a role's sessions, and what a
//! drop will affect, in words.

use futures_util::future::join_all;
use tokio_postgres::types::{ToSql, Type};

use super::Session;
use super::inspect::RoleDetail;
use super::roles::RoleError;
use crate::policy::RoleName;

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
    let pids: Vec<i32> = session
        .query_typed(
            "SELECT pid FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()",
            &[(&name.as_str(), Type::TEXT)],
        )
        .await
        .map_err(|err| RoleError::from_pg(&err, None))?
        .iter()
        .map(|row| row.get(0))
        .collect();
    // Every session in one round trip.
    let params: Vec<[(&(dyn ToSql + Sync), Type); 1]> =
        pids.iter().map(|pid| [(pid as &(dyn ToSql + Sync), Type::INT4)]).collect();
    let answers = join_all(
        params.iter().map(|pid| session.query_typed("SELECT pg_terminate_backend($1)", pid)),
    )
    .await;
    let mut result = Terminated::default();
    for (pid, answer) in pids.iter().zip(answers) {
        match answer {
            Ok(rows) if rows.first().is_some_and(|row| row.get::<_, bool>(0)) => result.ended += 1,
            // Gone already.
            Ok(_) => {}
            Err(err) => {
                result.refused.push(format!("session {pid}: {}", RoleError::from_pg(&err, None)));
            }
        }
    }
    Ok(result)
}

/// What a drop will affect, in one line: for the confirmation and the
/// audit trail.
pub fn summary(detail: &RoleDetail) -> String {
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
        count(&detail.owns),
        count(&detail.privileges),
        detail.sessions,
        list(&detail.info.member_of),
        list(&detail.members)
    )
}
