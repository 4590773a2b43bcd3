//! What `user report` reads on a cluster: each role's credential facts, in
//! one round trip — the `user list` facts, plus its comment (where
//! pgacct's marker is) and its `VALID UNTIL` as a number, so that days
//! left are computed without parsing the session's date style.

use std::collections::HashMap;

use super::Session;
use super::inspect::{self, RoleInfo};
use super::roles::RoleError;

/// A role's credential facts on one cluster.
#[derive(Debug, Clone)]
pub struct Credential {
    pub info: RoleInfo,
    /// `COMMENT ON ROLE`, if any.
    pub comment: Option<String>,
    /// `VALID UNTIL` in seconds since the epoch; `None` for no expiry
    /// (NULL or `infinity`).
    pub valid_until_epoch: Option<i64>,
}

const EXTRA: &str = "
SELECT r.rolname::text, shobj_description(r.oid, 'pg_authid'),
       CASE WHEN isfinite(r.rolvaliduntil) THEN extract(epoch FROM r.rolvaliduntil)::int8 END
  FROM pg_roles r
 WHERE r.rolname !~ '^pg_'";

/// Every role (but PostgreSQL's own) whose name matches `pattern`.
pub async fn credentials(
    session: &Session,
    pattern: Option<&str>,
) -> Result<Vec<Credential>, RoleError> {
    let (roles, extra) = tokio::try_join!(inspect::list(session, pattern, &[]), async {
        session.query_typed(EXTRA, &[]).await.map_err(|err| RoleError::from_pg(&err, None))
    })?;
    let mut extra: HashMap<String, (Option<String>, Option<i64>)> =
        extra.iter().map(|row| (row.get(0), (row.get(1), row.get(2)))).collect();
    Ok(roles
        .into_iter()
        .map(|info| {
            let (comment, until) = extra.remove(&info.name).unwrap_or_default();
            Credential { info, comment, valid_until_epoch: until }
        })
        .collect())
}
