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
use crate::policy::{
    Access, AccountType, Attribute, Auth, MemberOf, ReadScope, RoleName, SchemaName,
    SearchPathScope, ValidUntil,
};

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
    /// It grants or revokes privileges on a database's objects: such
    /// statements of concurrent runs queue on a lock per database, as
    /// concurrent GRANTs on one object fail with "tuple concurrently
    /// updated".
    Grants,
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
    /// The statement was about a database's objects (a grant), so the
    /// error is that database's.
    pub on_data: bool,
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
        RoleError {
            message,
            statement: statement.map(|s| s.shown.clone()),
            code,
            on_data: statement.is_some_and(|s| s.effect == Effect::Grants),
        }
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

/// A locked role's finding: left as it is, by sync and by a check.
const LOCKED: &str = "cannot log in (NOLOGIN)";

/// How an existing role differs from its type's policy: on the cluster,
/// and in each target database.
#[derive(Debug, Clone, Default)]
pub struct Drift {
    pub cluster: Vec<Finding>,
    pub databases: BTreeMap<String, Vec<Finding>>,
    /// Its cluster-wide data access is to go: what it holds in each
    /// database counts as nothing.
    pub fresh: bool,
    /// The roles it is to join (the admin must be able to grant them).
    pub joins: Vec<String>,
}

/// One way a role differs from its policy, and the statement that
/// repairs it; none for what a sync leaves as it is (a locked role, a
/// superuser).
#[derive(Debug, Clone)]
pub struct Finding {
    pub text: String,
    pub fix: Option<Statement>,
}

impl Drift {
    /// Everything that differs for `db`, in words.
    pub fn for_database(&self, db: &str) -> Vec<String> {
        self.cluster
            .iter()
            .chain(self.databases.get(db).into_iter().flatten())
            .map(|f| f.text.clone())
            .collect()
    }

    /// Adds what a privileges read found lacking in `db`; its grants run
    /// in that database, so the findings here carry no fix.
    pub fn lacking_in(&mut self, db: &str, lacking: &[String]) {
        if lacking.is_empty() {
            return;
        }
        let found = lacking.iter().map(|text| Finding { text: text.clone(), fix: None });
        self.databases.entry(db.to_owned()).or_default().extend(found);
    }

    /// Whether a check (a drift gate) fails on it: anything but a lock,
    /// which is on purpose.
    pub fn fails_a_check(&self) -> bool {
        self.cluster
            .iter()
            .chain(self.databases.values().flatten())
            .any(|f| f.fix.is_some() || f.text != LOCKED)
    }

    /// The statements that repair it, from any session to the cluster.
    pub fn fixes(&self) -> Vec<Statement> {
        self.cluster
            .iter()
            .chain(self.databases.values().flatten())
            .filter_map(|f| f.fix.clone())
            .collect()
    }
}

/// `pg_read_all_data` exists from PostgreSQL 14.
pub const READ_ALL_DATA_SINCE: i32 = 140_000;

/// From PostgreSQL 16, memberships are per grantor.
const ADMIN_OPTION_SINCE: i32 = 160_000;

/// The statements that make `spec` on a server of `version_num`, for the
/// target databases `dbs`, joining `groups` (its type's per-database
/// groups). `verifier` is the SCRAM verifier; `None` writes the
/// placeholder (for `--dry-run`). A type without a password gets none.
pub fn create_statements(
    spec: &RoleSpec<'_>,
    verifier: Option<&str>,
    dbs: &[&str],
    version_num: i32,
    groups: &[RoleName],
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
    let create = if account.has_password() {
        Statement::with_verifier(&head, verifier)
    } else {
        Statement::plain(head)
    };
    // In the same transaction: no role of pgacct's is without its marker.
    let mut statements = vec![create, mark(spec.name, &spec.marker)];
    for group in joined_roles(account, version_num) {
        statements.push(Statement::plain(format!("GRANT {} TO {role}", escape_identifier(group))));
    }
    for group in groups {
        statements.push(create_group(group, &spec.marker));
        statements.push(Statement::plain(format!(
            "GRANT {} TO {role}",
            escape_identifier(group.as_str())
        )));
    }
    if !account.search_path.is_empty() {
        statements.extend(search_path_statements(spec.name, account, dbs));
    }
    if account.access == Access::Read {
        statements.extend(dbs.iter().map(|db| read_only_default(spec.name, db)));
    }
    statements
}

/// `COMMENT ON ROLE` with pgacct's `marker`.
pub fn mark(name: &RoleName, marker: &Marker) -> Statement {
    Statement::plain(format!(
        "COMMENT ON ROLE {} IS {}",
        escape_identifier(name.as_str()),
        escape_literal(&marker.render())
    ))
}

/// The roles a role of `account` joins on a server of `version_num`: its
/// type's; for cluster scope `pg_read_all_data` (and `pg_write_all_data` for readwrite)
/// (PostgreSQL 14+; the plan refuses cluster scope before); and `rds_iam`
/// for IAM authentication.
pub fn joined_roles(account: &AccountType, version_num: i32) -> Vec<&str> {
    let mut roles: Vec<&str> = account.member_of.iter().map(MemberOf::as_str).collect();
    if account.read_scope == ReadScope::Cluster && version_num >= READ_ALL_DATA_SINCE {
        roles.extend(account.access.predefined_roles());
    }
    if account.auth == Auth::IamRds {
        // Amazon RDS and Aurora authenticate its members with IAM tokens.
        roles.push("rds_iam");
    }
    roles
}

/// The `search_path` statements of `account` for `name`: for each of
/// `dbs`, or for all databases.
fn search_path_statements(name: &RoleName, account: &AccountType, dbs: &[&str]) -> Vec<Statement> {
    let role = escape_identifier(name.as_str());
    let path = search_path_value(&account.search_path);
    match account.search_path_scope {
        SearchPathScope::AllDatabases => {
            vec![Statement::plain(format!("ALTER ROLE {role} SET search_path TO {path}"))]
        }
        SearchPathScope::TargetDatabases => set_search_path(name, dbs, &account.search_path),
    }
}

/// `default_transaction_read_only = on` in `db`: a safety net only, as the
/// role may turn it off; its privileges are what keep it from writing.
fn read_only_default(name: &RoleName, db: &str) -> Statement {
    Statement::plain(format!(
        "ALTER ROLE {} IN DATABASE {} SET default_transaction_read_only = on",
        escape_identifier(name.as_str()),
        escape_identifier(db)
    ))
}

/// Creates the NOLOGIN group `name` unless it exists, with pgacct's marker
/// (of type `group`, no ticket: the block holds no text from outside).
/// Concurrent creates of two of its members make it once: those through
/// one database queue on the advisory lock on its name; through different
/// databases (advisory locks are per database), the second waits on the
/// first's new row and finds the name taken, which it takes as made.
pub fn create_group(name: &RoleName, marker: &Marker) -> Statement {
    let group = escape_identifier(name.as_str());
    let comment = Marker { kind: "group".into(), ticket: None, ..marker.clone() };
    Statement::plain(format!(
        "DO $pgacct$BEGIN PERFORM pg_advisory_xact_lock(hashtextextended({}, 0)); \
         IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {}) THEN \
         CREATE ROLE {group} NOLOGIN; COMMENT ON ROLE {group} IS {}; END IF; \
         EXCEPTION WHEN unique_violation OR duplicate_object THEN NULL; END$pgacct$",
        escape_literal(&lock_key(name)),
        escape_literal(name.as_str()),
        escape_literal(&comment.render())
    ))
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

/// `GRANT group TO name`: from PostgreSQL 16 recorded as granted by the
/// admin (a superuser's: by the bootstrap superuser).
pub fn grant_membership(group: &RoleName, name: &RoleName) -> Statement {
    Statement::plain(format!(
        "GRANT {} TO {}",
        escape_identifier(group.as_str()),
        escape_identifier(name.as_str())
    ))
}

/// `REVOKE group FROM name`; with `grantor`, only that grantor's grant
/// (from PostgreSQL 16 a plain REVOKE removes the admin's own only).
pub fn revoke_membership(group: &RoleName, name: &RoleName, grantor: Option<&str>) -> Statement {
    let granted_by =
        grantor.map(|g| format!(" GRANTED BY {}", escape_identifier(g))).unwrap_or_default();
    Statement::plain(format!(
        "REVOKE {} FROM {}{granted_by}",
        escape_identifier(group.as_str()),
        escape_identifier(name.as_str())
    ))
}

/// In one database: what `name` owns goes to `heir`, then its privileges
/// go. Both rewrite the ACLs a concurrent create's grants do: they queue
/// on the same lock ([`Effect::Grants`]).
pub fn disown(name: &RoleName, heir: &str) -> [Statement; 2] {
    let role = escape_identifier(name.as_str());
    let on_data = |sql: String| Statement { effect: Effect::Grants, ..Statement::plain(sql) };
    [
        on_data(format!("REASSIGN OWNED BY {role} TO {}", escape_identifier(heir))),
        on_data(format!("DROP OWNED BY {role}")),
    ]
}

pub fn drop_role(name: &RoleName) -> Statement {
    Statement {
        effect: Effect::DropsRole,
        ..Statement::plain(format!("DROP ROLE {}", escape_identifier(name.as_str())))
    }
}

/// The advisory lock key of grants in a database (advisory locks are per
/// database): see [`Effect::Grants`].
pub const GRANTS_LOCK_KEY: &str = "pgacct grants";

/// The advisory lock key every pgacct process uses for a role name.
pub fn lock_key(name: &RoleName) -> String {
    format!("pgacct role {}", name.as_str())
}

/// How the existing role `name` differs from `account`'s policy on the
/// cluster and in `dbs` (its memberships, attributes and settings; the
/// privileges in each database are [`super::privileges`]'s), each way
/// with the statement that repairs it. `groups` are the type's groups
/// the role should be a member of; `now` dates a `VALID UNTIL` repair.
pub async fn drift(
    session: &Session,
    name: &RoleName,
    account: &AccountType,
    dbs: &[&str],
    groups: &[RoleName],
    now: jiff::Timestamp,
) -> Result<Drift, RoleError> {
    let pg = |err: tokio_postgres::Error| RoleError::from_pg(&err, None);
    // Both in one round trip.
    let (roles, settings) = tokio::try_join!(
        async {
            session
                .query_typed(
                    "SELECT r.rolconnlimit, r.rolcanlogin, r.rolcreatedb, r.rolcreaterole,
                            ARRAY(SELECT g.rolname::text FROM pg_auth_members m
                                    JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid),
                            r.rolvaliduntil IS NULL OR r.rolvaliduntil = 'infinity'
                              OR r.rolvaliduntil > now() + make_interval(days => $2 + 1),
                            ARRAY(SELECT g.rolname || ' ' || pg_get_userbyid(m.grantor)
                                    FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                                   WHERE m.member = r.oid
                                     AND g.rolname IN ('pg_read_all_data', 'pg_write_all_data')
                                   ORDER BY 1),
                            CASE WHEN isfinite(r.rolvaliduntil)
                                 THEN to_char(r.rolvaliduntil AT TIME ZONE 'UTC', 'YYYY-MM-DD') END,
                            r.rolreplication, r.rolbypassrls, r.rolsuper
                       FROM pg_roles r WHERE r.rolname = $1",
                    &[
                        (&name.as_str(), Type::TEXT),
                        (
                            &account
                                .valid_for_days
                                .map_or(0, |d| i32::try_from(d).unwrap_or(i32::MAX)),
                            Type::INT4,
                        ),
                    ],
                )
                .await
                .map_err(pg)
        },
        role_settings(session, name)
    )?;
    let Some(role) = roles.first() else {
        // Dropped meanwhile: nothing to compare.
        return Ok(Drift::default());
    };
    let quoted = escape_identifier(name.as_str());
    let alter = |what: String| Some(Statement::plain(format!("ALTER ROLE {quoted} {what}")));
    let mut drift = Drift::default();
    let limit: i32 = role.get(0);
    if limit != account.connection_limit {
        drift.cluster.push(Finding {
            text: format!("connection limit {limit} (policy {})", account.connection_limit),
            fix: alter(format!("CONNECTION LIMIT {}", account.connection_limit)),
        });
    }
    if !role.get::<_, bool>(1) {
        // Locked on purpose, most likely: `user unlock` undoes it, not a sync.
        drift.cluster.push(Finding { text: LOCKED.into(), fix: None });
    }
    drift.cluster.extend(attribute_drift(name, account, role));
    let member_of: Vec<String> = role.get(4);
    let wanted = joined_roles(account, session.server.version_num)
        .into_iter()
        .map(str::to_owned)
        .chain(groups.iter().map(|g| g.as_str().to_owned()));
    for group in wanted {
        if !member_of.contains(&group) {
            drift.cluster.push(Finding {
                text: format!("not a member of {group}"),
                fix: Some(Statement::plain(format!(
                    "GRANT {} TO {quoted}",
                    escape_identifier(&group)
                ))),
            });
            drift.joins.push(group);
        }
    }
    drift.cluster.extend(expiry_drift(name, account, role, now));
    let scope = cluster_scope_drift(name, account, role, session.server.version_num);
    drift.fresh = !scope.is_empty();
    drift.cluster.extend(scope);
    if account.search_path_scope == SearchPathScope::AllDatabases {
        let everywhere = settings.get("").and_then(|s| s.get("search_path"));
        if let Some(text) = search_path_differs(account, everywhere) {
            let fix = search_path_statements(name, account, &[]).pop();
            drift.cluster.push(Finding { text, fix });
        }
    }
    for db in dbs {
        let differs = drift_in_database(name, account, db, &settings);
        if !differs.is_empty() {
            drift.databases.insert((*db).to_owned(), differs);
        }
    }
    Ok(drift)
}

/// How the role `name` differs from `account`'s settings in `db`, given
/// its `settings` (database name, `""` for all, to setting to value).
fn drift_in_database(
    name: &RoleName,
    account: &AccountType,
    db: &str,
    settings: &BTreeMap<String, BTreeMap<String, String>>,
) -> Vec<Finding> {
    let mut differs = Vec::new();
    let in_db = settings.get(db);
    let everywhere = settings.get("");
    let setting = |name: &str| {
        in_db.and_then(|s| s.get(name)).or_else(|| everywhere.and_then(|s| s.get(name)))
    };
    if account.search_path_scope == SearchPathScope::TargetDatabases
        && let Some(text) = search_path_differs(account, setting("search_path"))
    {
        differs
            .push(Finding { text, fix: set_search_path(name, &[db], &account.search_path).pop() });
    }
    if account.access == Access::Read
        && setting("default_transaction_read_only").map(String::as_str) != Some("on")
    {
        differs.push(Finding {
            text: "default_transaction_read_only is not on".into(),
            fix: Some(read_only_default(name, db)),
        });
    }
    differs
}

/// The attributes of the role (the drift query's row) that differ from
/// `account`'s: CREATEDB, CREATEROLE, REPLICATION and BYPASSRLS, repaired;
/// SUPERUSER, said.
fn attribute_drift(
    name: &RoleName,
    account: &AccountType,
    role: &tokio_postgres::Row,
) -> Vec<Finding> {
    let quoted = escape_identifier(name.as_str());
    let mut found = Vec::new();
    if role.get::<_, bool>(10) {
        // Left to a person: taking SUPERUSER away is not a repair to make
        // unseen. A check still fails on it.
        found.push(Finding {
            text: "is a SUPERUSER (policy without it): left as it is; ALTER ROLE ... NOSUPERUSER \
                   by hand"
                .into(),
            fix: None,
        });
    }
    for (index, attribute) in [
        (2, Attribute::CreateDb),
        (3, Attribute::CreateRole),
        (8, Attribute::Replication),
        (9, Attribute::BypassRls),
    ] {
        let has: bool = role.get(index);
        let wanted = account.attributes.contains(&attribute);
        if has != wanted {
            let (verb, policy, keyword) = if has {
                ("has", "without", format!("NO{}", attribute.keyword()))
            } else {
                ("lacks", "with", attribute.keyword().to_owned())
            };
            found.push(Finding {
                text: format!("{verb} {} (policy {policy} it)", attribute.keyword()),
                fix: Some(Statement::plain(format!("ALTER ROLE {quoted} {keyword}"))),
            });
        }
    }
    found
}

/// A `VALID UNTIL` later than `account`'s `valid_for_days` allows (the
/// drift query's row: columns 5 and 7), and its repair from `now`.
fn expiry_drift(
    name: &RoleName,
    account: &AccountType,
    role: &tokio_postgres::Row,
    now: jiff::Timestamp,
) -> Option<Finding> {
    let days = account.valid_for_days?;
    if !role.get::<_, bool>(5) {
        return None;
    }
    let until = crate::policy::ValidFor::days(days).from(now);
    let now_until = role.get::<_, Option<String>>(7).map_or("no expiry".to_owned(), |day| {
        format!("VALID UNTIL {day}, later than {days} days from now")
    });
    Some(Finding {
        text: format!(
            "{now_until} (policy valid_for_days = {days}): it becomes {}",
            until.status()
        ),
        fix: Some(Statement::plain(format!(
            "ALTER ROLE {} {}",
            escape_identifier(name.as_str()),
            valid_until(until)
        ))),
    })
}

/// Memberships in `pg_read_all_data` and `pg_write_all_data` (the drift
/// query's column 6: `role grantor`) of a role whose type reads only its
/// target databases: cluster scope given before (by hand, or by pgacct
/// before it had scopes), which reaches every database, registered or not.
fn cluster_scope_drift(
    name: &RoleName,
    account: &AccountType,
    role: &tokio_postgres::Row,
    version_num: i32,
) -> Vec<Finding> {
    if account.access == Access::None || account.read_scope != ReadScope::Targets {
        return Vec::new();
    }
    let quoted = escape_identifier(name.as_str());
    role.get::<_, Vec<String>>(6)
        .iter()
        .map(|held| {
            let (group, grantor) = held.split_once(' ').unwrap_or((held.as_str(), ""));
            let mut revoke = format!("REVOKE {} FROM {quoted}", escape_identifier(group));
            if version_num >= ADMIN_OPTION_SINCE {
                // Memberships are per grantor from 16: this one's.
                revoke = format!("{revoke} GRANTED BY {}", escape_identifier(grantor));
            }
            Finding {
                text: format!(
                    "member of {group}, which reaches every database of the cluster (policy: \
                     its target databases)"
                ),
                fix: Some(Statement::plain(revoke)),
            }
        })
        .collect()
}

/// How `actual`, a role's `search_path`, differs from `account`'s; `None`
/// when it does not (or the type sets none).
fn search_path_differs(account: &AccountType, actual: Option<&String>) -> Option<String> {
    let expected: Vec<&str> = account.search_path.iter().map(SchemaName::as_str).collect();
    if expected.is_empty() {
        return None;
    }
    match actual {
        Some(actual) if parse_search_path(actual) == expected => None,
        Some(actual) => Some(format!("search_path {actual} (policy {})", expected.join(", "))),
        None => Some(format!("search_path not set (policy {})", expected.join(", "))),
    }
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
            &[],
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
        let statements = create_statements(&spec, None, &["orders"], 150_000, &[]);
        assert_eq!(
            shown(&statements),
            [
                r#"CREATE ROLE "app" WITH LOGIN CONNECTION LIMIT 20 VALID UNTIL '2027-01-01T00:00:00Z' PASSWORD '<redacted>'"#,
                r#"COMMENT ON ROLE "app" IS 'pgacct {"v":1,"type":"readonly","created":"2026-12-07T05:40:00Z","ticket":"CHG-''1''"}'"#,
                r#"ALTER ROLE "app" IN DATABASE "orders" SET search_path TO "public""#,
                r#"ALTER ROLE "app" IN DATABASE "orders" SET default_transaction_read_only = on"#,
            ],
            "targets scope: the grants are the plan's, per database"
        );
        let cluster = AccountType { read_scope: ReadScope::Cluster, ..account.clone() };
        let spec = RoleSpec { account: &cluster, ..spec };
        assert!(
            shown(&create_statements(&spec, None, &["orders"], 150_000, &[]))
                .contains(&r#"GRANT "pg_read_all_data" TO "app""#)
        );
        let writer = AccountType { access: Access::ReadWrite, ..cluster.clone() };
        let spec = RoleSpec { account: &writer, ..spec };
        let statements = create_statements(&spec, None, &["orders"], 160_000, &[]);
        assert!(shown(&statements).contains(&r#"GRANT "pg_write_all_data" TO "app""#));
        assert!(!shown(&statements).iter().any(|s| s.contains("read_only")));
        assert!(
            !shown(&create_statements(&spec, None, &["orders"], 130_000, &[]))
                .iter()
                .any(|s| s.contains("_all_data")),
            "before 14 the plan refuses cluster scope"
        );

        let (name, account) = spec_for(&policy, "dba");
        let spec = RoleSpec {
            name: &name,
            account: &account,
            valid_until: None,
            marker: marker("dba", None),
        };
        assert_eq!(
            shown(&create_statements(&spec, None, &["orders"], 150_000, &[])),
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
