//! Role SQL: the statements that create a role from its account type,
//! reset its password, set its `search_path`, lock and unlock it; and what
//! an existing role differs in from its policy. [`super::rollout`] decides
//! where and when they run.
//!
//! Identifiers are quoted with `escape_identifier`; the only literals (the
//! SCRAM verifier, VALID UNTIL, the marker comment) go through
//! `escape_literal`, as DDL takes no bind parameters.

use std::collections::BTreeMap;

use postgres_protocol::escape::{escape_identifier, escape_literal};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;

use super::Session;
use crate::policy::marker::Marker;
use crate::policy::{AccountType, Attribute, RoleName, SchemaName, SearchPathScope, ValidUntil};

/// Shown wherever the verifier would be.
pub const REDACTED: &str = "<redacted>";

/// A statement, and the same statement as logs and `--dry-run` show it.
#[derive(Clone)]
pub struct Statement {
    pub(super) sql: String,
    pub shown: String,
    pub effect: Effect,
}

/// What a statement does, where that decides what its ending means.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Effect {
    #[default]
    Other,
    /// It gives the role the new password.
    SetsPassword,
    /// It drops the role.
    DropsRole,
}

impl std::fmt::Debug for Statement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl Statement {
    pub(super) fn plain(sql: String) -> Statement {
        Statement { shown: sql.clone(), sql, effect: Effect::Other }
    }

    /// A statement that carries a password verifier: shown as `PASSWORD
    /// '<redacted>'`, and as that too when there is no verifier yet.
    fn with_verifier(head: &str, verifier: Option<&str>) -> Statement {
        Statement {
            sql: format!("{head} PASSWORD {}", escape_literal(verifier.unwrap_or(REDACTED))),
            shown: format!("{head} PASSWORD {}", escape_literal(REDACTED)),
            effect: Effect::SetsPassword,
        }
    }
}

/// A statement failed; the server's words, and which statement.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct RoleError {
    pub message: String,
    pub statement: Option<String>,
    /// The SQLSTATE, when the server answered with one.
    pub code: Option<SqlState>,
}

impl RoleError {
    pub(super) fn from_pg(err: &tokio_postgres::Error, statement: Option<&Statement>) -> RoleError {
        let code = err.code().cloned();
        let message = match err.as_db_error() {
            Some(db) => {
                let mut text = db.message().to_owned();
                if let Some(detail) = db.detail() {
                    text.push_str(&format!(" ({})", detail.replace('\n', "; ")));
                }
                text
            }
            None => super::connect::describe_error(err),
        };
        RoleError { message, statement: statement.map(|s| s.shown.clone()), code }
    }
}

/// What to create.
#[derive(Debug, Clone)]
pub struct RoleSpec<'a> {
    pub name: &'a RoleName,
    pub account: &'a AccountType,
    pub valid_until: Option<ValidUntil>,
    /// Left on the new role as its comment.
    pub marker: Marker,
}

/// How an existing role differs from its type's policy: on the cluster,
/// and in each target database.
#[derive(Debug, Clone, Default)]
pub struct Drift {
    pub cluster: Vec<String>,
    pub databases: BTreeMap<String, Vec<String>>,
}

impl Drift {
    /// Everything that differs for `db`.
    pub fn for_database(&self, db: &str) -> Vec<String> {
        let mut all = self.cluster.clone();
        all.extend(self.databases.get(db).into_iter().flatten().cloned());
        all
    }
}

/// `pg_read_all_data` exists from PostgreSQL 14.
pub const READ_ALL_DATA_SINCE: i32 = 140_000;

/// The statements that make `spec` on a server of `version_num`, for the
/// target databases `dbs`. `verifier` is the SCRAM verifier; `None` writes
/// the placeholder (for `--dry-run`).
pub fn create_statements(
    spec: &RoleSpec<'_>,
    verifier: Option<&str>,
    dbs: &[&str],
    version_num: i32,
) -> Vec<Statement> {
    let role = escape_identifier(spec.name.as_str());
    let account = spec.account;
    let mut options: Vec<String> =
        account.attributes.iter().map(|a| a.keyword().to_owned()).collect();
    if !account.attributes.contains(&Attribute::Login) {
        options.insert(0, "LOGIN".into());
    }
    options.push(format!("CONNECTION LIMIT {}", account.connection_limit));
    if let Some(until) = spec.valid_until {
        options.push(valid_until(until));
    }
    let head = format!("CREATE ROLE {role} WITH {}", options.join(" "));
    let mut statements = vec![
        Statement::with_verifier(&head, verifier),
        // In the same transaction: no role of pgacct's is without it.
        Statement::plain(format!(
            "COMMENT ON ROLE {role} IS {}",
            escape_literal(&spec.marker.render())
        )),
    ];
    for group in &account.member_of {
        statements.push(Statement::plain(format!(
            "GRANT {} TO {role}",
            escape_identifier(group.as_str())
        )));
    }
    if account.read_only && version_num >= READ_ALL_DATA_SINCE {
        statements.push(Statement::plain(format!("GRANT pg_read_all_data TO {role}")));
    }
    if !account.search_path.is_empty() {
        let path = search_path_value(&account.search_path);
        match account.search_path_scope {
            SearchPathScope::AllDatabases => {
                statements
                    .push(Statement::plain(format!("ALTER ROLE {role} SET search_path TO {path}")));
            }
            SearchPathScope::TargetDatabases => {
                for db in dbs {
                    statements.push(Statement::plain(format!(
                        "ALTER ROLE {role} IN DATABASE {} SET search_path TO {path}",
                        escape_identifier(db)
                    )));
                }
            }
        }
    }
    if account.read_only {
        for db in dbs {
            statements.push(Statement::plain(format!(
                "ALTER ROLE {role} IN DATABASE {} SET default_transaction_read_only = on",
                escape_identifier(db)
            )));
        }
    }
    statements
}

/// Grants for a read-only role on a server without `pg_read_all_data`, in
/// the database the client is connected to (every schema but the
/// system's), and the revokes that take them back, in that order.
pub async fn read_only_grants(
    session: &Session,
    name: &RoleName,
) -> Result<(Vec<Statement>, Vec<Statement>), RoleError> {
    let rows = session
        .query_typed(
            "SELECT nspname::text FROM pg_namespace
              WHERE nspname !~ '^pg_' AND nspname <> 'information_schema' ORDER BY 1",
            &[],
        )
        .await
        .map_err(|err| RoleError::from_pg(&err, None))?;
    let role = escape_identifier(name.as_str());
    let mut grants = Vec::new();
    let mut revokes = Vec::new();
    for row in rows {
        let schema = escape_identifier(row.get::<_, &str>(0));
        grants.push(Statement::plain(format!("GRANT USAGE ON SCHEMA {schema} TO {role}")));
        grants.push(Statement::plain(format!(
            "GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}"
        )));
        grants.push(Statement::plain(format!(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT ON TABLES TO {role}"
        )));
        revokes.push(Statement::plain(format!(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} REVOKE SELECT ON TABLES FROM {role}"
        )));
        revokes.push(Statement::plain(format!(
            "REVOKE SELECT ON ALL TABLES IN SCHEMA {schema} FROM {role}"
        )));
        revokes.push(Statement::plain(format!("REVOKE USAGE ON SCHEMA {schema} FROM {role}")));
    }
    revokes.reverse();
    Ok((grants, revokes))
}

fn search_path_value(schemas: &[SchemaName]) -> String {
    schemas.iter().map(|s| escape_identifier(s.as_str())).collect::<Vec<_>>().join(", ")
}

/// `VALID UNTIL '...'`.
fn valid_until(until: ValidUntil) -> String {
    format!("VALID UNTIL {}", escape_literal(&until.literal()))
}

/// `ALTER ROLE ... PASSWORD` with the verifier (or its placeholder), and
/// the new `VALID UNTIL` in the same statement, when there is one.
pub fn reset_password(
    name: &RoleName,
    verifier: Option<&str>,
    until: Option<ValidUntil>,
) -> Statement {
    let mut head = format!("ALTER ROLE {} WITH", escape_identifier(name.as_str()));
    if let Some(until) = until {
        head = format!("{head} {}", valid_until(until));
    }
    Statement::with_verifier(&head, verifier)
}

/// `ALTER ROLE ... IN DATABASE ... SET search_path`, for each of `dbs`.
pub fn set_search_path(name: &RoleName, dbs: &[&str], schemas: &[SchemaName]) -> Vec<Statement> {
    let role = escape_identifier(name.as_str());
    let path = search_path_value(schemas);
    dbs.iter()
        .map(|db| {
            Statement::plain(format!(
                "ALTER ROLE {role} IN DATABASE {} SET search_path TO {path}",
                escape_identifier(db)
            ))
        })
        .collect()
}

/// `ALTER ROLE ... LOGIN` (unlock) or `NOLOGIN` (lock).
pub fn set_login(name: &RoleName, login: bool) -> Statement {
    let keyword = if login { "LOGIN" } else { "NOLOGIN" };
    Statement::plain(format!("ALTER ROLE {} {keyword}", escape_identifier(name.as_str())))
}

/// `GRANT role TO CURRENT_USER`: lets the admin act as `role`, which
/// REASSIGN OWNED and DROP OWNED require of a non-superuser.
pub fn grant_to_admin(role: &str, version_num: i32) -> Statement {
    // From 16, memberships are per grantor: this one is the admin's own,
    // beside any other (which REVOKE then leaves alone); and its INHERIT
    // follows the grantee's attribute unless said.
    let options =
        if version_num >= 160_000 { " WITH INHERIT TRUE GRANTED BY CURRENT_USER" } else { "" };
    Statement::plain(format!("GRANT {} TO CURRENT_USER{options}", escape_identifier(role)))
}

/// `REVOKE role FROM CURRENT_USER`: takes back [`grant_to_admin`].
pub fn revoke_from_admin(role: &str) -> Statement {
    Statement::plain(format!("REVOKE {} FROM CURRENT_USER", escape_identifier(role)))
}

/// In one database: what `name` owns goes to `heir`, then its privileges go.
pub fn disown(name: &RoleName, heir: &str) -> [Statement; 2] {
    let role = escape_identifier(name.as_str());
    [
        Statement::plain(format!("REASSIGN OWNED BY {role} TO {}", escape_identifier(heir))),
        Statement::plain(format!("DROP OWNED BY {role}")),
    ]
}

pub fn drop_role(name: &RoleName) -> Statement {
    Statement {
        effect: Effect::DropsRole,
        ..Statement::plain(format!("DROP ROLE {}", escape_identifier(name.as_str())))
    }
}

/// The advisory lock key every pgacct process uses for a role name.
pub fn lock_key(name: &RoleName) -> String {
    format!("pgacct role {}", name.as_str())
}

/// How the existing role differs from `spec`'s account type.
pub async fn drift(
    session: &Session,
    spec: &RoleSpec<'_>,
    dbs: &[&str],
) -> Result<Drift, RoleError> {
    let pg = |err: tokio_postgres::Error| RoleError::from_pg(&err, None);
    let name = spec.name.as_str();
    // Both in one round trip.
    let (roles, settings) = tokio::try_join!(
        async {
            session
                .query_typed(
                    "SELECT r.rolconnlimit, r.rolcanlogin, r.rolcreatedb, r.rolcreaterole,
                            ARRAY(SELECT g.rolname::text FROM pg_auth_members m
                                    JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid)
                       FROM pg_roles r WHERE r.rolname = $1",
                    &[(&name, Type::TEXT)],
                )
                .await
                .map_err(pg)
        },
        role_settings(session, spec.name)
    )?;
    let Some(role) = roles.first() else {
        // Dropped meanwhile: nothing to compare.
        return Ok(Drift::default());
    };
    let account = spec.account;
    let mut drift = Drift::default();
    let limit: i32 = role.get(0);
    if limit != account.connection_limit {
        drift
            .cluster
            .push(format!("connection limit {limit} (policy {})", account.connection_limit));
    }
    if !role.get::<_, bool>(1) {
        drift.cluster.push("cannot log in (NOLOGIN)".into());
    }
    for (index, attribute) in [(2, Attribute::CreateDb), (3, Attribute::CreateRole)] {
        let has: bool = role.get(index);
        let wanted = account.attributes.contains(&attribute);
        if has != wanted {
            let (verb, policy) = if has { ("has", "without") } else { ("lacks", "with") };
            drift.cluster.push(format!("{verb} {} (policy {policy} it)", attribute.keyword()));
        }
    }
    let groups: Vec<String> = role.get(4);
    let mut wanted: Vec<&str> =
        account.member_of.iter().map(super::super::policy::MemberOf::as_str).collect();
    if account.read_only && session.server.version_num >= READ_ALL_DATA_SINCE {
        wanted.push("pg_read_all_data");
    }
    for group in wanted {
        if !groups.iter().any(|g| g == group) {
            drift.cluster.push(format!("not a member of {group}"));
        }
    }

    let expected: Vec<&str> = account.search_path.iter().map(SchemaName::as_str).collect();
    for db in dbs {
        let mut differs = Vec::new();
        let in_db = settings.get(*db);
        let everywhere = settings.get("");
        let setting = |name: &str| {
            in_db.and_then(|s| s.get(name)).or_else(|| everywhere.and_then(|s| s.get(name)))
        };
        if !expected.is_empty() {
            match setting("search_path") {
                Some(actual) if parse_search_path(actual) == expected => {}
                Some(actual) => {
                    differs.push(format!("search_path {actual} (policy {})", expected.join(", ")));
                }
                None => {
                    differs.push(format!("search_path not set (policy {})", expected.join(", ")));
                }
            }
        }
        if account.read_only
            && setting("default_transaction_read_only").map(String::as_str) != Some("on")
        {
            differs.push("default_transaction_read_only is not on".into());
        }
        if !differs.is_empty() {
            drift.databases.insert((*db).to_owned(), differs);
        }
    }
    Ok(drift)
}

/// The role's settings: database name (`""` for all databases) to
/// setting name to value.
async fn role_settings(
    session: &Session,
    name: &RoleName,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, RoleError> {
    let rows = session
        .query_typed(
            "SELECT COALESCE(d.datname::text, ''), s.setconfig
               FROM pg_db_role_setting s
               JOIN pg_roles r ON r.oid = s.setrole
               LEFT JOIN pg_database d ON d.oid = s.setdatabase
              WHERE r.rolname = $1",
            &[(&name.as_str(), Type::TEXT)],
        )
        .await
        .map_err(|err| RoleError::from_pg(&err, None))?;
    let mut settings = BTreeMap::new();
    for row in rows {
        let config: Vec<String> = row.get(1);
        let values = config
            .iter()
            .filter_map(|entry| entry.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        settings.insert(row.get::<_, String>(0), values);
    }
    Ok(settings)
}

/// A stored `search_path` (`"$user", public`) as a list of schema names.
fn parse_search_path(value: &str) -> Vec<&str> {
    value.split(',').map(|s| s.trim().trim_matches('"')).filter(|s| !s.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{NameParts, Policy};

    fn spec_for(policy: &Policy, kind: &str) -> (RoleName, AccountType) {
        let account = policy.account_type(kind).unwrap().clone();
        let parts = NameParts { name: Some("app".into()), ..NameParts::default() };
        (account.role_name(&parts, "user create").unwrap(), account)
    }

    fn shown(statements: &[Statement]) -> Vec<&str> {
        statements.iter().map(|s| s.shown.as_str()).collect()
    }

    fn marker(kind: &str, ticket: Option<&str>) -> Marker {
        Marker::new(kind, "2026-12-07T05:40:00Z".parse().unwrap(), ticket)
    }

    const DEVQA_MARKER: &str = r#"COMMENT ON ROLE "app" IS 'pgacct {"v":1,"type":"devqa","created":"2026-12-07T05:40:00Z","ticket":null}'"#;

    #[test]
    fn a_devqa_role_is_made_in_each_target_database() {
        let policy = Policy::new(&BTreeMap::new(), &BTreeMap::new());
        let (name, account) = spec_for(&policy, "devqa");
        let spec = RoleSpec {
            name: &name,
            account: &account,
            valid_until: None,
            marker: marker("devqa", None),
        };
        let statements = create_statements(
            &spec,
            Some("SCRAM-SHA-256$4096:x$y:z"),
            &["orders", "my db"],
            150_000,
        );
        assert_eq!(
            shown(&statements),
            [
                r#"CREATE ROLE "app" WITH LOGIN CONNECTION LIMIT 20 PASSWORD '<redacted>'"#,
                DEVQA_MARKER,
                r#"ALTER ROLE "app" IN DATABASE "orders" SET search_path TO "public""#,
                r#"ALTER ROLE "app" IN DATABASE "my db" SET search_path TO "public""#,
            ]
        );
        assert!(statements[0].sql.ends_with(r"PASSWORD 'SCRAM-SHA-256$4096:x$y:z'"));
    }

    #[test]
    fn readonly_and_dba_get_their_extras() {
        let policy = Policy::new(&BTreeMap::new(), &BTreeMap::new());
        let (name, account) = spec_for(&policy, "readonly");
        let spec = RoleSpec {
            name: &name,
            account: &account,
            valid_until: Some(ValidUntil::At("2027-01-01T00:00:00Z".parse().unwrap())),
            marker: marker("readonly", Some("CHG-'1'")),
        };
        let statements = create_statements(&spec, None, &["orders"], 150_000);
        assert_eq!(
            shown(&statements),
            [
                r#"CREATE ROLE "app" WITH LOGIN CONNECTION LIMIT 20 VALID UNTIL '2027-01-01T00:00:00Z' PASSWORD '<redacted>'"#,
                r#"COMMENT ON ROLE "app" IS 'pgacct {"v":1,"type":"readonly","created":"2026-12-07T05:40:00Z","ticket":"CHG-''1''"}'"#,
                r#"GRANT pg_read_all_data TO "app""#,
                r#"ALTER ROLE "app" IN DATABASE "orders" SET search_path TO "public""#,
                r#"ALTER ROLE "app" IN DATABASE "orders" SET default_transaction_read_only = on"#,
            ]
        );
        assert!(
            !shown(&create_statements(&spec, None, &["orders"], 130_000))
                .iter()
                .any(|s| s.contains("pg_read_all_data"))
        );

        let (name, account) = spec_for(&policy, "dba");
        let spec = RoleSpec {
            name: &name,
            account: &account,
            valid_until: None,
            marker: marker("dba", None),
        };
        assert_eq!(
            shown(&create_statements(&spec, None, &["orders"], 150_000)),
            [
                r#"CREATE ROLE "app" WITH LOGIN CREATEDB CREATEROLE CONNECTION LIMIT 20 PASSWORD '<redacted>'"#,
                r#"COMMENT ON ROLE "app" IS 'pgacct {"v":1,"type":"dba","created":"2026-12-07T05:40:00Z","ticket":null}'"#,
                r#"ALTER ROLE "app" SET search_path TO "public""#,
            ]
        );
    }

    #[test]
    fn a_reset_renews_valid_until_in_the_same_statement() {
        let name = RoleName::parse("app").unwrap();
        let until = ValidUntil::At("2027-01-06T05:40:00Z".parse().unwrap());
        let reset = reset_password(&name, Some("SCRAM-SHA-256$4096:x$y:z"), Some(until));
        assert_eq!(
            reset.shown,
            r#"ALTER ROLE "app" WITH VALID UNTIL '2027-01-06T05:40:00Z' PASSWORD '<redacted>'"#
        );
        assert!(
            reset.sql.ends_with(
                r"VALID UNTIL '2027-01-06T05:40:00Z' PASSWORD 'SCRAM-SHA-256$4096:x$y:z'"
            )
        );
        assert_eq!(
            reset_password(&name, None, Some(ValidUntil::Never)).shown,
            r#"ALTER ROLE "app" WITH VALID UNTIL 'infinity' PASSWORD '<redacted>'"#
        );
        assert_eq!(
            reset_password(&name, None, None).shown,
            r#"ALTER ROLE "app" WITH PASSWORD '<redacted>'"#
        );
    }

    #[test]
    fn stored_search_paths_are_read_back_as_lists() {
        assert_eq!(parse_search_path(r#""$user", public"#), ["$user", "public"]);
        assert_eq!(parse_search_path("app"), ["app"]);
    }
}
