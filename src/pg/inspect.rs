//! Reading roles: what `user list` and `user show` report, and what
//! `user drop` checks first. Reads only; degrades where the admin may not
//! look (the password kind becomes `unknown` without access to `pg_authid`).

use std::collections::BTreeMap;

use serde::Serialize;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};

use super::Session;
use super::roles::RoleError;
use crate::policy::marker::{self, Marker};

/// How a role's password is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PasswordKind {
    Scram,
    Md5,
    None,
    /// The admin may not read `pg_authid`.
    Unknown,
}

/// A role as the catalogs describe it.
#[derive(Debug, Clone, Serialize)]
pub struct RoleInfo {
    pub name: String,
    pub can_login: bool,
    /// -1 for no limit.
    pub connection_limit: i32,
    pub valid_until: Option<String>,
    /// SUPERUSER, CREATEDB, CREATEROLE, REPLICATION, BYPASSRLS, NOINHERIT.
    pub attributes: Vec<&'static str>,
    pub member_of: Vec<String>,
    /// The effective `search_path` in each database asked about.
    pub search_path: BTreeMap<String, String>,
    pub password: PasswordKind,
}

/// The key of [`RoleDetail::owns`] and [`RoleDetail::privileges`] for
/// shared objects: databases, tablespaces, and privileges on them.
pub const SHARED: &str = "(cluster)";

/// [`RoleInfo`] and what depends on the role.
#[derive(Debug, Clone, Serialize)]
pub struct RoleDetail {
    #[serde(flatten)]
    pub info: RoleInfo,
    /// Objects it owns, per database (`(cluster)` for databases and
    /// tablespaces themselves).
    pub owns: BTreeMap<String, i64>,
    /// Privileges granted to it, per database.
    pub privileges: BTreeMap<String, i64>,
    /// Roles that are members of it.
    pub members: Vec<String>,
    pub sessions: i64,
    /// The marker pgacct left on it as it created it; `None` for a role
    /// pgacct did not create (or whose comment was changed since).
    pub managed: Option<Marker>,
}

const ROLES: &str = "
SELECT r.rolname::text, r.rolcanlogin, r.rolconnlimit, r.rolvaliduntil::text,
       r.rolsuper, r.rolcreatedb, r.rolcreaterole, r.rolreplication, r.rolbypassrls, r.rolinherit,
       ARRAY(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
              WHERE m.member = r.oid ORDER BY 1)
  FROM pg_roles r
 WHERE r.rolname !~ '^pg_' AND ($1::text IS NULL OR r.rolname::text LIKE $1)
 ORDER BY 1";

/// Roles whose name matches `pattern` (a psql-style pattern: `*` and `?`),
/// with their `search_path` in each of `dbs`.
pub async fn list(
    session: &Session,
    pattern: Option<&str>,
    dbs: &[&str],
) -> Result<Vec<RoleInfo>, RoleError> {
    let like = pattern.map(like_pattern);
    // Three queries, one round trip.
    let (rows, settings, passwords) = tokio::try_join!(
        async {
            session
                .query_typed(ROLES, &[(&like, Type::TEXT)])
                .await
                .map_err(|err| RoleError::from_pg(&err, None))
        },
        search_paths(session),
        password_kinds(session)
    )?;
    let attribute = |row: &tokio_postgres::Row, index: usize, name: &'static str| {
        row.get::<_, bool>(index).then_some(name)
    };
    Ok(rows
        .iter()
        .map(|row| {
            let name: String = row.get(0);
            let attributes = [
                attribute(row, 4, "SUPERUSER"),
                attribute(row, 5, "CREATEDB"),
                attribute(row, 6, "CREATEROLE"),
                attribute(row, 7, "REPLICATION"),
                attribute(row, 8, "BYPASSRLS"),
                (!row.get::<_, bool>(9)).then_some("NOINHERIT"),
            ];
            let own = settings.get(&name);
            let search_path = dbs
                .iter()
                .filter_map(|db| {
                    let value = own.and_then(|s| s.get(*db).or_else(|| s.get("")))?;
                    Some(((*db).to_owned(), value.clone()))
                })
                .collect();
            RoleInfo {
                can_login: row.get(1),
                connection_limit: row.get(2),
                valid_until: row.get(3),
                attributes: attributes.into_iter().flatten().collect(),
                member_of: row.get(10),
                search_path,
                password: passwords.as_ref().map_or(PasswordKind::Unknown, |p| {
                    p.get(&name).copied().unwrap_or(PasswordKind::None)
                }),
                name,
            }
        })
        .collect())
}

/// One role in detail, or `None` when it does not exist.
pub async fn show(
    session: &Session,
    name: &str,
    dbs: &[&str],
) -> Result<Option<RoleDetail>, RoleError> {
    let exact = name.replace('\\', r"\\").replace('*', r"\*").replace('?', r"\?");
    let Some(info) = list(session, Some(&exact), dbs).await?.into_iter().find(|r| r.name == name)
    else {
        return Ok(None);
    };
    let pg = |err: tokio_postgres::Error| RoleError::from_pg(&err, None);
    // The rest in one round trip.
    let by_name: [(&(dyn ToSql + Sync), Type); 1] = [(&name, Type::TEXT)];
    let with_shared: [(&(dyn ToSql + Sync), Type); 2] =
        [(&name, Type::TEXT), (&SHARED, Type::TEXT)];
    let (dependencies, members, sessions, comment) = tokio::try_join!(
        session.query_typed(
            "SELECT COALESCE(d.datname::text, $2), s.deptype::text, count(*)
               FROM pg_shdepend s LEFT JOIN pg_database d ON d.oid = s.dbid
              WHERE s.refclassid = 'pg_authid'::regclass
                AND s.refobjid = (SELECT oid FROM pg_roles WHERE rolname = $1)
              GROUP BY 1, 2",
            &with_shared,
        ),
        session.query_typed(
            "SELECT m.rolname::text FROM pg_auth_members a JOIN pg_roles m ON m.oid = a.member
              WHERE a.roleid = (SELECT oid FROM pg_roles WHERE rolname = $1) ORDER BY 1",
            &by_name,
        ),
        session.query_typed("SELECT count(*) FROM pg_stat_activity WHERE usename = $1", &by_name),
        session.query_typed(
            "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = $1",
            &by_name
        ),
    )
    .map_err(pg)?;
    let mut owns = BTreeMap::new();
    let mut privileges = BTreeMap::new();
    for row in dependencies {
        let db: String = row.get(0);
        let kind: String = row.get(1);
        let count: i64 = row.get(2);
        match kind.as_str() {
            "o" => owns.insert(db, count),
            _ => privileges.insert(db, count),
        };
    }
    let members = members.iter().map(|row| row.get(0)).collect();
    let sessions = sessions.first().map_or(0, |row| row.get(0));
    let managed = comment
        .first()
        .and_then(|row| row.get::<_, Option<String>>(0))
        .and_then(|comment| marker::parse(&comment));
    Ok(Some(RoleDetail { info, owns, privileges, members, sessions, managed }))
}

/// Every role's `search_path`: role, then database (`""` for all), then value.
async fn search_paths(
    session: &Session,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, RoleError> {
    let rows = session
        .query_typed(
            "SELECT r.rolname::text, COALESCE(d.datname::text, ''), s.setconfig
               FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
               LEFT JOIN pg_database d ON d.oid = s.setdatabase",
            &[],
        )
        .await
        .map_err(|err| RoleError::from_pg(&err, None))?;
    let mut paths: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for row in rows {
        let config: Vec<String> = row.get(2);
        if let Some(path) = config.iter().find_map(|c| c.strip_prefix("search_path=")) {
            paths.entry(row.get(0)).or_default().insert(row.get(1), path.to_owned());
        }
    }
    Ok(paths)
}

/// How each role's password is stored, when the admin may read
/// `pg_authid`; `None` when it may not.
async fn password_kinds(
    session: &Session,
) -> Result<Option<BTreeMap<String, PasswordKind>>, RoleError> {
    let rows = session
        .query_typed(
            "SELECT rolname::text,
                    CASE WHEN rolpassword IS NULL THEN 'none'
                         WHEN rolpassword LIKE 'SCRAM-SHA-256$%' THEN 'scram'
                         WHEN rolpassword LIKE 'md5%' THEN 'md5'
                         ELSE 'unknown' END
               FROM pg_catalog.pg_authid",
            &[],
        )
        .await;
    let rows = match rows {
        Ok(rows) => rows,
        // Asked without a check first, to save a round trip.
        Err(err) if err.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => return Ok(None),
        Err(err) => return Err(RoleError::from_pg(&err, None)),
    };
    Ok(Some(
        rows.iter()
            .map(|row| {
                let kind = match row.get::<_, &str>(1) {
                    "scram" => PasswordKind::Scram,
                    "md5" => PasswordKind::Md5,
                    "none" => PasswordKind::None,
                    _ => PasswordKind::Unknown,
                };
                (row.get(0), kind)
            })
            .collect(),
    ))
}

/// The role's stored password verifier, when the admin may read
/// `pg_authid` (`None` when it may not, or the role has no password).
pub async fn stored_verifier(session: &Session, name: &str) -> Result<Option<String>, RoleError> {
    let row = session
        .query_typed(
            "SELECT CASE WHEN has_table_privilege('pg_catalog.pg_authid', 'SELECT')
                         THEN (SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = $1)
                    END",
            &[(&name, Type::TEXT)],
        )
        .await
        .map_err(|err| RoleError::from_pg(&err, None))?;
    Ok(row.first().and_then(|row| row.get(0)))
}

/// A psql-style pattern (`*` any text, `?` one character, `\` escapes) as
/// a LIKE pattern.
fn like_pattern(pattern: &str) -> String {
    let mut like = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' => like.push('%'),
            '?' => like.push('_'),
            '%' | '_' => {
                like.push('\\');
                like.push(c);
            }
            '\\' => match chars.next() {
                Some(escaped @ ('%' | '_' | '\\')) => {
                    like.push('\\');
                    like.push(escaped);
                }
                Some(escaped) => like.push(escaped),
                None => like.push_str(r"\\"),
            },
            c => like.push(c),
        }
    }
    like
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn psql_patterns_become_like_patterns() {
        assert_eq!(like_pattern("web*"), "web%");
        assert_eq!(like_pattern("qa_?"), r"qa\__");
        assert_eq!(like_pattern(r"a\*b"), "a*b");
        assert_eq!(like_pattern("100%"), r"100\%");
    }
}
