//! Account types as policies, and the rules for role and schema names.
//!
//! The six built-in types of DESIGN.md §5 can be changed, and new types
//! added, by `[types.NAME]` sections of `config.toml`; `[env.NAME]`
//! sections set an environment's k8s prefix and mark it protected. Every
//! value from the file is checked as it is read, so a mistake is reported
//! with the file, line and key.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer};

mod expiry;
pub mod marker;

pub use expiry::{ValidFor, ValidUntil};

/// PostgreSQL truncates identifiers longer than this many bytes; pgacct
/// refuses them instead.
pub const MAX_NAME_BYTES: usize = 63;

/// Names a role may not have: PostgreSQL's own, and the keywords that
/// stand for a role.
const RESERVED: [&str; 6] =
    ["public", "postgres", "none", "current_user", "session_user", "current_role"];

/// A name that breaks a rule, or a policy that does not fit the command;
/// with what to do instead, when there is something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PolicyError {
    message: String,
    hint: Option<String>,
}

impl PolicyError {
    fn new(message: String) -> PolicyError {
        PolicyError { message, hint: None }
    }

    fn with_hint(self, hint: String) -> PolicyError {
        PolicyError { hint: Some(hint), ..self }
    }

    /// What to do instead, e.g. `did you mean web_admin?`.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }
}

/// Levenshtein distance, for "did you mean" on short names.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// A role name pgacct may create: `^[a-z_][a-z0-9_]*$`, at most 63 bytes,
/// not `pg_*` and not reserved.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleName(String);

impl RoleName {
    /// A name given verbatim: it must already follow the rule. When it
    /// does not and its [`spelling`] would, the error says so as a hint.
    pub fn parse(name: &str) -> Result<RoleName, PolicyError> {
        check_role_name(name).map_err(|err| match did_you_mean(name) {
            Some(mapped) => err.with_hint(format!("did you mean {mapped}?")),
            None => err,
        })?;
        Ok(RoleName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for RoleName {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RoleName::parse(s)
    }
}

/// A schema in a `search_path`: the identifier rule, or `$user`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaName(String);

impl SchemaName {
    pub fn parse(name: &str) -> Result<SchemaName, PolicyError> {
        if name != "$user" {
            check_identifier("schema name", name)?;
        }
        Ok(SchemaName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for SchemaName {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SchemaName::parse(s)
    }
}

fn check_role_name(name: &str) -> Result<(), PolicyError> {
    check_identifier("role name", name)?;
    if name.starts_with("pg_") {
        return Err(PolicyError::new(format!(
            "role name '{name}' is refused: names starting with pg_ belong to PostgreSQL"
        )));
    }
    if RESERVED.contains(&name) {
        return Err(PolicyError::new(format!("role name '{name}' is reserved")));
    }
    Ok(())
}

/// The [`spelling`] of `name`, when it differs and is a valid role name.
fn did_you_mean(name: &str) -> Option<String> {
    let mapped = spelling(name);
    (mapped != name && check_role_name(&mapped).is_ok()).then_some(mapped)
}

/// A value from the outside world (a host or service name) spelt as part
/// of a role name: lower-cased, and every run of characters outside
/// `[a-z0-9_]` one `_` (`WEB-01.example.com` → `web_01_example_com`).
/// A name that follows the rule is its own spelling.
pub fn spelling(value: &str) -> String {
    let mut spelt = String::with_capacity(value.len());
    let mut in_run = false;
    for c in value.chars().map(|c| c.to_ascii_lowercase()) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' {
            spelt.push(c);
            in_run = false;
        } else if !in_run {
            spelt.push('_');
            in_run = true;
        }
    }
    spelt
}

fn check_identifier(what: &str, name: &str) -> Result<(), PolicyError> {
    if name.len() > MAX_NAME_BYTES {
        return Err(PolicyError::new(format!(
            "{what} '{name}' is {} bytes long; PostgreSQL allows at most {MAX_NAME_BYTES}",
            name.len()
        )));
    }
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return Err(PolicyError::new(format!(
            "invalid {what} '{}': use a-z, 0-9 and _, starting with a letter or _",
            name.escape_debug()
        )));
    }
    Ok(())
}

/// A role attribute an account type may give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attribute {
    Login,
    CreateDb,
    CreateRole,
    Inherit,
    NoInherit,
    Replication,
    BypassRls,
}

impl Attribute {
    const ALL: [Attribute; 7] = [
        Attribute::Login,
        Attribute::CreateDb,
        Attribute::CreateRole,
        Attribute::Inherit,
        Attribute::NoInherit,
        Attribute::Replication,
        Attribute::BypassRls,
    ];

    /// The keyword, as `CREATE ROLE` takes it.
    pub fn keyword(self) -> &'static str {
        match self {
            Attribute::Login => "LOGIN",
            Attribute::CreateDb => "CREATEDB",
            Attribute::CreateRole => "CREATEROLE",
            Attribute::Inherit => "INHERIT",
            Attribute::NoInherit => "NOINHERIT",
            Attribute::Replication => "REPLICATION",
            Attribute::BypassRls => "BYPASSRLS",
        }
    }
}

impl<'de> Deserialize<'de> for Attribute {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Attribute::ALL.into_iter().find(|a| a.keyword().eq_ignore_ascii_case(&text)).ok_or_else(
            || {
                let known: Vec<_> = Attribute::ALL.iter().map(|a| a.keyword()).collect();
                serde::de::Error::custom(format!(
                    "unknown attribute '{text}'; pgacct gives {} (never SUPERUSER)",
                    known.join(", ")
                ))
            },
        )
    }
}

/// Where a type's `search_path` applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchPathScope {
    /// `ALTER ROLE ... IN DATABASE db SET`, for each target database.
    TargetDatabases,
    /// `ALTER ROLE ... SET`: every database of the cluster.
    AllDatabases,
}

/// A value a name template takes, and where a command gets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placeholder {
    Server,
    ServicePort,
    Service,
    Prefix,
    Env,
    Name,
    /// A target database: in group templates only.
    Db,
}

impl Placeholder {
    const ALL: [Placeholder; 7] = [
        Placeholder::Server,
        Placeholder::ServicePort,
        Placeholder::Service,
        Placeholder::Prefix,
        Placeholder::Env,
        Placeholder::Name,
        Placeholder::Db,
    ];

    /// The word between the braces.
    fn key(self) -> &'static str {
        match self {
            Placeholder::Server => "server",
            Placeholder::ServicePort => "service_port",
            Placeholder::Service => "service",
            Placeholder::Prefix => "prefix",
            Placeholder::Env => "env",
            Placeholder::Name => "name",
            Placeholder::Db => "db",
        }
    }

    /// Where the value comes from, as a user would say it.
    fn source(self) -> &'static str {
        match self {
            Placeholder::Server => "--server",
            Placeholder::ServicePort => "--service-port",
            Placeholder::Service => "--service",
            Placeholder::Prefix => "the k8s prefix (--prefix, or k8s_prefix in config.toml)",
            Placeholder::Env => "--env",
            Placeholder::Name => "NAME",
            Placeholder::Db => "the target database",
        }
    }
}

/// A piece of a name template: text kept as is, or a value filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    Value(Placeholder),
}

/// A name template: text with `{server}`, `{service_port}`, `{service}`,
/// `{prefix}`, `{env}` and `{name}`. It is split into pieces once, when
/// read, so filling it is one pass over the template: a value is never
/// read as a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    text: String,
    segments: Vec<Segment>,
}

impl Template {
    fn parse(text: &str) -> Result<Template, String> {
        if text.is_empty() {
            return Err("a name template must not be empty".into());
        }
        let mut segments = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find(['{', '}']) {
            if rest[open..].starts_with('}') {
                return Err(format!("unmatched '}}' in '{text}'"));
            }
            let close =
                rest[open..].find('}').ok_or_else(|| format!("unclosed '{{' in '{text}'"))?;
            let key = &rest[open + 1..open + close];
            let placeholder =
                Placeholder::ALL.into_iter().find(|p| p.key() == key).ok_or_else(|| {
                    format!(
                        "unknown placeholder {{{key}}} in '{text}'; use {}",
                        Placeholder::ALL.map(|p| format!("{{{}}}", p.key())).join(", ")
                    )
                })?;
            if open > 0 {
                segments.push(Segment::Text(rest[..open].to_owned()));
            }
            segments.push(Segment::Value(placeholder));
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            segments.push(Segment::Text(rest.to_owned()));
        }
        Ok(Template { text: text.to_owned(), segments })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl<'de> Deserialize<'de> for Template {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Template::parse(&String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for SchemaName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        SchemaName::parse(&String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// A role to join: any existing role, so the only rules are PostgreSQL's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberOf(String);

impl MemberOf {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for MemberOf {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        if name.is_empty() || name.len() > MAX_NAME_BYTES || name.contains('\0') {
            return Err(serde::de::Error::custom(format!(
                "invalid role name '{name}' in member_of: 1 to {MAX_NAME_BYTES} bytes"
            )));
        }
        Ok(MemberOf(name))
    }
}

/// `[types.NAME]` as written: every key optional; for a built-in type,
/// the keys given replace its defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypeKeys {
    pub template: Option<Template>,
    #[serde(default, deserialize_with = "connection_limit")]
    pub connection_limit: Option<i32>,
    pub attributes: Option<Vec<Attribute>>,
    pub member_of: Option<Vec<MemberOf>>,
    pub search_path: Option<Vec<SchemaName>>,
    /// Set the `search_path` for every database, not only the targets.
    pub search_path_all_databases: Option<bool>,
    #[serde(default, deserialize_with = "valid_for_days")]
    pub valid_for_days: Option<u32>,
    #[serde(default, deserialize_with = "password_length")]
    pub password_length: Option<usize>,
    /// Read-only data access: the old spelling of `access = "read"`.
    pub read_only: Option<bool>,
    /// What the role may do with the data of its scope.
    pub access: Option<Access>,
    /// Where that access reaches: the target databases, or the cluster.
    pub read_scope: Option<ReadScope>,
    /// A NOLOGIN group per database that holds the grants, e.g. `{db}_ro`.
    pub group: Option<Template>,
    /// `false`: the role never gets a password; `auth` says how it logs in.
    pub password: Option<bool>,
    pub auth: Option<Auth>,
    /// Ask before creating one.
    pub confirm: Option<bool>,
    /// The type may join a privileged role (a superuser, a role with
    /// REPLICATION or BYPASSRLS, a file or program access role) and give
    /// REPLICATION or BYPASSRLS.
    pub allow_privileged: Option<bool>,
    /// How `{server}` takes a host name: `full` (the default) or `short`.
    pub server_name: Option<ServerName>,
}

/// How a template's `{server}` takes a host name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ServerName {
    /// All of it: `web-01.example.com` → `web_01_example_com`.
    #[default]
    Full,
    /// Its first DNS label: `web-01.example.com` → `web_01`. An IP
    /// address has no labels and is kept whole.
    Short,
}

impl ServerName {
    fn of(self, host: &str) -> &str {
        let is_ip = host.contains(':') || host.parse::<std::net::Ipv4Addr>().is_ok();
        match self {
            ServerName::Short if !is_ip => host.split_once('.').map_or(host, |(first, _)| first),
            ServerName::Short | ServerName::Full => host,
        }
    }
}

impl<'de> Deserialize<'de> for ServerName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match String::deserialize(deserializer)?.as_str() {
            "full" => Ok(ServerName::Full),
            "short" => Ok(ServerName::Short),
            other => Err(serde::de::Error::custom(format!(
                "server_name is \"full\" (the whole host name) or \"short\" (its first \
                 label), not {other:?}"
            ))),
        }
    }
}

/// What a type's roles may do with the data in their scope.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Access {
    /// Only what other keys give (memberships): no grants of pgacct's.
    #[default]
    None,
    /// USAGE on schemas, SELECT on tables and sequences; never writes.
    Read,
    /// Also INSERT, UPDATE, DELETE, and USAGE on sequences; creates nothing.
    ReadWrite,
}

impl Access {
    /// The privileges on tables, views and the like, as GRANT takes them.
    pub fn table_privileges(self) -> &'static [&'static str] {
        match self {
            Access::None => &[],
            Access::Read => &["SELECT"],
            Access::ReadWrite => &["SELECT", "INSERT", "UPDATE", "DELETE"],
        }
    }

    /// The privileges on sequences.
    pub fn sequence_privileges(self) -> &'static [&'static str] {
        match self {
            Access::None => &[],
            Access::Read => &["SELECT"],
            Access::ReadWrite => &["USAGE", "SELECT"],
        }
    }

    /// The predefined roles of cluster scope (PostgreSQL 14+): writing
    /// with a WHERE clause needs reading too.
    pub fn predefined_roles(self) -> &'static [&'static str] {
        match self {
            Access::None => &[],
            Access::Read => &["pg_read_all_data"],
            Access::ReadWrite => &["pg_read_all_data", "pg_write_all_data"],
        }
    }

    pub fn keyword(self) -> &'static str {
        match self {
            Access::None => "none",
            Access::Read => "read",
            Access::ReadWrite => "readwrite",
        }
    }
}

impl<'de> Deserialize<'de> for Access {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        [Access::None, Access::Read, Access::ReadWrite]
            .into_iter()
            .find(|a| a.keyword() == text)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "access is \"none\", \"read\" or \"readwrite\", not {text:?}"
                ))
            })
    }
}

/// Where a type's data access reaches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReadScope {
    /// Grants in each target database, with default privileges for what
    /// is created there later.
    #[default]
    Targets,
    /// `pg_read_all_data` / `pg_write_all_data`: every database of the
    /// cluster, registered or not (PostgreSQL 14+).
    Cluster,
}

impl<'de> Deserialize<'de> for ReadScope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match String::deserialize(deserializer)?.as_str() {
            "targets" => Ok(ReadScope::Targets),
            "cluster" => Ok(ReadScope::Cluster),
            other => Err(serde::de::Error::custom(format!(
                "read_scope is \"targets\" (grants in each target database) or \"cluster\" \
                 (pg_read_all_data, PostgreSQL 14+), not {other:?}"
            ))),
        }
    }
}

/// How a type's roles authenticate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Auth {
    /// A password pgacct generates (or is given) and delivers.
    #[default]
    Password,
    /// Amazon RDS IAM tokens: the role joins `rds_iam`.
    IamRds,
    /// A client certificate whose CN is the role name (`cert` in `pg_hba.conf`).
    Cert,
    /// Something outside pgacct (LDAP, Kerberos, a proxy).
    External,
}

impl Auth {
    pub fn keyword(self) -> &'static str {
        match self {
            Auth::Password => "password",
            Auth::IamRds => "iam-rds",
            Auth::Cert => "cert",
            Auth::External => "external",
        }
    }

    /// How a role `role` of this kind logs in, said after "user created";
    /// `None` for a password.
    pub fn login_note(self, role: &str) -> Option<String> {
        match self {
            Auth::Password => None,
            Auth::IamRds => Some("logs in with IAM tokens (rds_iam)".into()),
            Auth::Cert => Some(format!(
                "logs in with a client certificate: needs a pg_hba.conf line such as \
                 \"hostssl all {role} 0.0.0.0/0 cert\""
            )),
            Auth::External => Some("authenticates outside PostgreSQL passwords (external)".into()),
        }
    }

    /// "a cert account", "an iam-rds account".
    pub fn account_phrase(self) -> String {
        let article = if matches!(self, Auth::IamRds | Auth::External) { "an" } else { "a" };
        format!("{article} {} account", self.keyword())
    }
}

impl<'de> Deserialize<'de> for Auth {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        [Auth::Password, Auth::IamRds, Auth::Cert, Auth::External]
            .into_iter()
            .find(|a| a.keyword() == text)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "auth is \"iam-rds\", \"cert\" or \"external\" (with password = false), \
                     not {text:?}"
                ))
            })
    }
}

/// `[types.NAME]`, checked as a whole: power beyond the database's data
/// is given only by a type that says `allow_privileged = true`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(try_from = "TypeKeys")]
pub struct TypeConfig(TypeKeys);

impl TryFrom<TypeKeys> for TypeConfig {
    type Error = String;

    fn try_from(keys: TypeKeys) -> Result<TypeConfig, String> {
        check_access_keys(&keys)?;
        if let Some(template) = &keys.template
            && template.segments.contains(&Segment::Value(Placeholder::Db))
        {
            return Err(format!(
                "template '{}' uses {{db}}: a login role is one per cluster; {{db}} names groups \
                 (group = \"{{db}}_ro\")",
                template.as_str()
            ));
        }
        if keys.allow_privileged == Some(true) {
            return Ok(TypeConfig(keys));
        }
        for role in keys.member_of.iter().flatten() {
            if let Some(why) = privileged_role(role.as_str()) {
                return Err(format!(
                    "member_of: {} {why}; a type that joins it must say allow_privileged = true",
                    role.as_str()
                ));
            }
        }
        for attribute in keys.attributes.iter().flatten() {
            if matches!(attribute, Attribute::Replication | Attribute::BypassRls) {
                return Err(format!(
                    "attributes: {} reaches past the database's privileges; a type that gives \
                     it must say allow_privileged = true",
                    attribute.keyword()
                ));
            }
        }
        Ok(TypeConfig(keys))
    }
}

/// The keys of data access and authentication that only make sense
/// together: a group needs access to hold, and in the target databases;
/// a password-less role says how it logs in.
fn check_access_keys(keys: &TypeKeys) -> Result<(), String> {
    if keys.read_only.is_some() && keys.access.is_some() {
        return Err("read_only is the old spelling of access = \"read\": give one of them".into());
    }
    if let Some(group) = &keys.group {
        check_group_template(group)?;
        let access =
            keys.access.or(keys.read_only.map(|ro| if ro { Access::Read } else { Access::None }));
        if access == Some(Access::None) {
            return Err(
                "group holds the type's grants: it needs access = \"read\" or \"readwrite\"".into(),
            );
        }
        if keys.read_scope == Some(ReadScope::Cluster) {
            return Err(
                "group holds grants in each target database: it needs read_scope = \"targets\""
                    .into(),
            );
        }
    }
    match (keys.password, keys.auth) {
        (Some(false), None) => Err(
            "password = false needs auth = \"iam-rds\", \"cert\" or \"external\": how the role logs in".into(),
        ),
        (Some(false), Some(Auth::Password)) => {
            Err("password = false and auth = \"password\" contradict each other".into())
        }
        (None | Some(true), Some(auth)) if auth != Auth::Password => Err(format!(
            "auth = \"{}\" is for roles without a password: say password = false as well",
            auth.keyword()
        )),
        _ => Ok(()),
    }
}

/// A group template names one role per database: `{db}` (and `{env}`) only.
fn check_group_template(group: &Template) -> Result<(), String> {
    let allowed = [Placeholder::Db, Placeholder::Env];
    let uses_db = group.segments.contains(&Segment::Value(Placeholder::Db));
    for segment in &group.segments {
        if let Segment::Value(p) = segment
            && !allowed.contains(p)
        {
            return Err(format!(
                "group '{}' may use {{db}} and {{env}}, not {{{}}}",
                group.as_str(),
                p.key()
            ));
        }
    }
    if !uses_db {
        return Err(format!(
            "group '{}' must use {{db}}: it names one group per database, e.g. \"{{db}}_ro\"",
            group.as_str()
        ));
    }
    Ok(())
}

/// Roles that are, by name, a superuser or a path to the server's files
/// and programs. Which other roles of a cluster are superusers (or have
/// REPLICATION or BYPASSRLS) only the plan can tell.
const PRIVILEGED_ROLES: [(&str, &str); 7] = [
    ("postgres", "is the bootstrap superuser"),
    ("pg_execute_server_program", "runs programs on the server as its operating-system user"),
    ("pg_read_server_files", "reads any file the server can read"),
    ("pg_write_server_files", "writes any file the server can write"),
    ("rds_superuser", "is the administrator role of Amazon RDS"),
    ("cloudsqlsuperuser", "is the administrator role of Cloud SQL"),
    ("azure_pg_admin", "is the administrator role of Azure Database for PostgreSQL"),
];

/// Why joining `role` is privileged, if it is known to be by its name.
fn privileged_role(role: &str) -> Option<&'static str> {
    PRIVILEGED_ROLES.iter().find(|(name, _)| *name == role).map(|(_, why)| *why)
}

/// PostgreSQL's `MAX_BACKENDS`: no server takes more connections.
pub const MAX_CONNECTION_LIMIT: i32 = 262_143;

/// Ten years. A role that should never expire leaves `valid_for_days` out.
pub const MAX_VALID_FOR_DAYS: u32 = 3650;

/// A number of `key` between `min` and `max`, with the range in the error.
fn bounded<'de, D, T>(d: D, key: &str, min: i64, max: i64, note: &str) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    let value = i64::deserialize(d)?;
    if !(min..=max).contains(&value) {
        return Err(serde::de::Error::custom(format!(
            "{key} is {min}{note} to {max}, not {value}"
        )));
    }
    T::try_from(value).map_err(|_| serde::de::Error::custom(format!("{key} {value} is too large")))
}

fn connection_limit<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    bounded(d, "connection_limit", -1, MAX_CONNECTION_LIMIT.into(), " (no limit)").map(Some)
}

fn valid_for_days<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    bounded(d, "valid_for_days", 1, MAX_VALID_FOR_DAYS.into(), "").map(Some)
}

fn password_length<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    bounded(d, "password_length", 16, 256, "").map(Some)
}

/// `[env.NAME]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvConfig {
    /// The prefix of k8s account names in this environment.
    #[serde(default, deserialize_with = "k8s_prefix")]
    pub k8s_prefix: Option<String>,
    /// Every change in this environment asks for confirmation.
    #[serde(default)]
    pub protected: bool,
    /// A program that prints the admin password for this environment's
    /// targets (a target's own wins), as `["program", "arg", ...]`.
    #[serde(default)]
    pub admin_password_command: Option<crate::registry::PasswordCommand>,
}

fn k8s_prefix<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let prefix = String::deserialize(d)?;
    if prefix.is_empty() {
        return Err(serde::de::Error::custom("k8s_prefix must not be empty"));
    }
    check_filled_value("k8s_prefix", &prefix).map_err(serde::de::Error::custom)?;
    Ok(Some(prefix))
}

/// A type of account: how its role is named and made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountType {
    pub name: String,
    pub template: Template,
    pub connection_limit: i32,
    pub attributes: Vec<Attribute>,
    pub member_of: Vec<MemberOf>,
    pub search_path: Vec<SchemaName>,
    pub search_path_scope: SearchPathScope,
    pub valid_for_days: Option<u32>,
    pub password_length: usize,
    pub access: Access,
    pub read_scope: ReadScope,
    /// The NOLOGIN group per database that holds the grants.
    pub group: Option<Template>,
    /// How the role logs in; anything but `Password` means no password.
    pub auth: Auth,
    pub confirm: bool,
    /// May join roles the plan finds privileged.
    pub allow_privileged: bool,
    pub server_name: ServerName,
}

/// 16 random bytes in URL-safe base64.
pub const DEFAULT_PASSWORD_LENGTH: usize = 22;

fn builtin(name: &str, template: &str, connection_limit: i32) -> AccountType {
    AccountType {
        name: name.to_owned(),
        template: Template::parse(template).expect("the built-in templates are valid"),
        connection_limit,
        attributes: vec![Attribute::Login],
        member_of: Vec::new(),
        search_path: vec![SchemaName("public".into())],
        search_path_scope: SearchPathScope::TargetDatabases,
        valid_for_days: None,
        password_length: DEFAULT_PASSWORD_LENGTH,
        access: Access::None,
        read_scope: ReadScope::Targets,
        group: None,
        auth: Auth::Password,
        confirm: false,
        allow_privileged: false,
        server_name: ServerName::Full,
    }
}

fn builtins() -> BTreeMap<String, AccountType> {
    let readonly = AccountType { access: Access::Read, ..builtin("readonly", "{name}", 20) };
    let readwrite = AccountType { access: Access::ReadWrite, ..builtin("readwrite", "{name}", 20) };
    let dba = AccountType {
        attributes: vec![Attribute::Login, Attribute::CreateDb, Attribute::CreateRole],
        search_path_scope: SearchPathScope::AllDatabases,
        confirm: true,
        ..builtin("dba", "{name}", 20)
    };
    [
        builtin("vm", "{server}_{service_port}", 200),
        builtin("k8s", "{prefix}_{service}", 200),
        builtin("devqa", "{name}", 20),
        builtin("devlead", "{name}", 20),
        readonly,
        readwrite,
        dba,
    ]
    .into_iter()
    .map(|t| (t.name.clone(), t))
    .collect()
}

/// The account types and environment rules in force.
#[derive(Debug, Clone)]
pub struct Policy {
    types: BTreeMap<String, AccountType>,
    envs: BTreeMap<String, EnvConfig>,
}

impl Policy {
    pub fn new(types: &BTreeMap<String, TypeConfig>, envs: &BTreeMap<String, EnvConfig>) -> Policy {
        let mut all = builtins();
        for (name, config) in types {
            let base = all.remove(name).unwrap_or_else(|| builtin(name, "{name}", 20));
            all.insert(name.clone(), merge(base, config));
        }
        Policy { types: all, envs: envs.clone() }
    }

    pub fn account_type(&self, name: &str) -> Result<&AccountType, PolicyError> {
        self.types.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.types.keys().map(String::as_str).collect();
            let err = PolicyError::new(format!(
                "unknown account type '{name}'; known types: {}",
                known.join(", ")
            ));
            let nearest = known.iter().map(|k| (edit_distance(name, k), *k)).min();
            match nearest {
                Some((distance, near)) if distance <= 2 => {
                    err.with_hint(format!("did you mean `{near}`?"))
                }
                _ => err,
            }
        })
    }

    /// Every account type's name: the built-in ones and config.toml's.
    pub fn type_names(&self) -> impl Iterator<Item = &str> {
        self.types.keys().map(String::as_str)
    }

    /// The k8s prefix of `env`: from config, else dev → dv, qa → qa,
    /// uat → ua, prod → pd, and any other env its own name.
    pub fn k8s_prefix(&self, env: &str) -> String {
        if let Some(prefix) = self.envs.get(env).and_then(|e| e.k8s_prefix.clone()) {
            return prefix;
        }
        match env {
            "dev" => "dv",
            "qa" => "qa",
            "uat" => "ua",
            "prod" => "pd",
            other => other,
        }
        .to_owned()
    }

    /// Whether some type sets `valid_for_days`: only then may a reset
    /// that names no type renew a role's `VALID UNTIL` (by its marker).
    pub fn some_type_expires(&self) -> bool {
        self.types.values().any(|t| t.valid_for_days.is_some())
    }

    /// Whether some type's roles have no password: only then does a reset
    /// read the role's marker to refuse one of them.
    pub fn some_type_has_no_password(&self) -> bool {
        self.types.values().any(|t| !t.has_password())
    }

    pub fn is_protected(&self, env: &str) -> bool {
        self.envs.get(env).is_some_and(|e| e.protected)
    }
}

fn merge(base: AccountType, config: &TypeConfig) -> AccountType {
    let config = &config.0;
    AccountType {
        template: config.template.clone().unwrap_or(base.template),
        connection_limit: config.connection_limit.unwrap_or(base.connection_limit),
        attributes: config.attributes.clone().unwrap_or(base.attributes),
        member_of: config.member_of.clone().unwrap_or(base.member_of),
        search_path: config.search_path.clone().unwrap_or(base.search_path),
        search_path_scope: match config.search_path_all_databases {
            Some(true) => SearchPathScope::AllDatabases,
            Some(false) => SearchPathScope::TargetDatabases,
            None => base.search_path_scope,
        },
        valid_for_days: config.valid_for_days.or(base.valid_for_days),
        password_length: config.password_length.unwrap_or(base.password_length),
        access: match (config.access, config.read_only) {
            (Some(access), _) => access,
            (None, Some(true)) => Access::Read,
            (None, Some(false)) => Access::None,
            (None, None) => base.access,
        },
        read_scope: config.read_scope.unwrap_or(base.read_scope),
        group: config.group.clone().or(base.group),
        auth: match config.password {
            Some(false) => config.auth.unwrap_or(base.auth),
            Some(true) => Auth::Password,
            None => base.auth,
        },
        confirm: config.confirm.unwrap_or(base.confirm),
        allow_privileged: config.allow_privileged.unwrap_or(base.allow_privileged),
        server_name: config.server_name.unwrap_or(base.server_name),
        name: base.name,
    }
}

/// What a command knows to fill a name template with: the values as the
/// user gave them.
#[derive(Debug, Clone, Default)]
pub struct NameParts {
    pub server: Option<String>,
    pub service_port: Option<u16>,
    pub service: Option<String>,
    pub prefix: Option<String>,
    pub env: Option<String>,
    /// Given verbatim: never respelt.
    pub name: Option<String>,
}

impl NameParts {
    /// The value for `placeholder`, as given.
    fn given(&self, placeholder: Placeholder) -> Option<String> {
        match placeholder {
            Placeholder::Server => self.server.clone(),
            Placeholder::ServicePort => self.service_port.map(|p| p.to_string()),
            Placeholder::Service => self.service.clone(),
            Placeholder::Prefix => self.prefix.clone(),
            Placeholder::Env => self.env.clone(),
            Placeholder::Name => self.name.clone(),
            Placeholder::Db => None,
        }
    }
}

/// Refuses a value that looks like a template: values are data, and a
/// brace in one is a mistake or an attempt to reach another placeholder.
fn check_filled_value(source: &str, value: &str) -> Result<(), PolicyError> {
    if value.contains(['{', '}']) {
        return Err(PolicyError::new(format!(
            "{source} '{}' contains a brace: a value filled into a name template is used as \
             written, never as a template",
            value.escape_debug()
        )));
    }
    Ok(())
}

/// A role name made from a template, and the values whose spelling
/// changed on the way: `gear_service_8080` from service `gear-service`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedRole {
    pub name: RoleName,
    /// The placeholder (`server`, `service`, `prefix`, `env`) and the value
    /// as given, in template order; empty when every value was used as is.
    pub from: Vec<(&'static str, String)>,
}

impl NamedRole {
    /// `service gear-service, prefix DV`, when the spelling changed anything.
    pub fn mapping(&self) -> Option<String> {
        if self.from.is_empty() {
            return None;
        }
        let from: Vec<String> =
            self.from.iter().map(|(key, given)| format!("{key} {given}")).collect();
        Some(from.join(", "))
    }

    /// `role gear_service_8080 (from service gear-service)`, when the
    /// spelling changed anything.
    pub fn note(&self) -> Option<String> {
        self.mapping().map(|from| format!("role {} (from {from})", self.name))
    }
}

impl AccountType {
    /// The role name for `parts`: the template filled in one pass.
    #[cfg(test)]
    pub fn role_name(&self, parts: &NameParts, command: &str) -> Result<RoleName, PolicyError> {
        self.name_role(parts, command).map(|named| named.name)
    }

    /// The role name for `parts`, and what its spelling changed. The
    /// template is filled in one pass; each value but NAME is spelt by
    /// [`spelling`] (`{server}` after [`ServerName`] took its part), and the
    /// result must follow the role-name rule.
    pub fn name_role(&self, parts: &NameParts, command: &str) -> Result<NamedRole, PolicyError> {
        let mut filled = String::new();
        let mut from: Vec<(&'static str, String)> = Vec::new();
        for segment in &self.template.segments {
            let placeholder = match segment {
                Segment::Text(text) => {
                    filled.push_str(text);
                    continue;
                }
                Segment::Value(placeholder) => *placeholder,
            };
            let given = parts.given(placeholder).ok_or_else(|| {
                PolicyError::new(format!(
                    "account type '{}' names roles '{}', and `{command}` does not give {{{}}}",
                    self.name,
                    self.template.as_str(),
                    placeholder.key()
                ))
            })?;
            check_filled_value(placeholder.source(), &given)?;
            let used = match placeholder {
                Placeholder::Name | Placeholder::ServicePort => given.clone(),
                Placeholder::Server => spelling(self.server_name.of(&given)),
                Placeholder::Service | Placeholder::Prefix | Placeholder::Env | Placeholder::Db => {
                    spelling(&given)
                }
            };
            if placeholder != Placeholder::Name && !used.bytes().any(|b| b.is_ascii_alphanumeric())
            {
                return Err(PolicyError::new(format!(
                    "{} '{}' has no letter or digit to make a role name of",
                    placeholder.source(),
                    given.escape_debug()
                )));
            }
            if used != given && !from.iter().any(|(key, _)| *key == placeholder.key()) {
                from.push((placeholder.key(), given));
            }
            filled.push_str(&used);
        }
        let named = NamedRole { name: RoleName(filled), from };
        match check_role_name(named.name.as_str()) {
            Ok(()) => Ok(named),
            Err(err) => Err(self.explain(err, &named, parts, command)),
        }
    }

    /// Whether its roles get a password pgacct generates and delivers.
    pub fn has_password(&self) -> bool {
        self.auth == Auth::Password
    }

    /// Why role `role` of this type gets no password, for a type without
    /// one: `app is a cert account (type tls): it has no password`.
    pub fn without_password(&self, role: &str) -> Option<String> {
        (!self.has_password()).then(|| {
            format!(
                "{role} is {} (type {}): it has no password",
                self.auth.account_phrase(),
                self.name
            )
        })
    }

    /// The group of database `db` (in `env`), when the type has groups:
    /// its template filled with the database's spelling.
    pub fn group_name(&self, db: &str, env: &str) -> Option<Result<RoleName, PolicyError>> {
        let template = self.group.as_ref()?;
        let mut filled = String::new();
        for segment in &template.segments {
            match segment {
                Segment::Text(text) => filled.push_str(text),
                Segment::Value(Placeholder::Env) => filled.push_str(&spelling(env)),
                Segment::Value(_) => filled.push_str(&spelling(db)),
            }
        }
        Some(check_role_name(&filled).map(|()| RoleName(filled.clone())).map_err(|err| {
            PolicyError::new(format!(
                "{err} (group '{}' of type {} for database {db})",
                template.as_str(),
                self.name
            ))
        }))
    }

    /// `err`, about a name this type's template made, with where the name
    /// came from and what would make a valid one.
    fn explain(
        &self,
        err: PolicyError,
        named: &NamedRole,
        parts: &NameParts,
        command: &str,
    ) -> PolicyError {
        let template = self.template.as_str();
        let filled = named.name.as_str();
        let mut message = err.message;
        if template != "{name}" {
            message = format!("{message} (account type '{}' names roles '{template}'", self.name);
            if let Some(from) = named.mapping() {
                message = format!("{message}; from {from}");
            }
            message.push(')');
        }
        let err = PolicyError::new(message);
        let uses = |p: Placeholder| self.template.segments.contains(&Segment::Value(p));
        // A verbatim NAME that breaks the rule: its spelling, if that would do.
        if let Some(name) = parts.name.as_deref().filter(|_| uses(Placeholder::Name)) {
            let respelt = NameParts { name: Some(spelling(name)), ..parts.clone() };
            if respelt.name.as_deref() != Some(name)
                && let Ok(role) = self.name_role(&respelt, command)
            {
                let mapped = respelt.name.unwrap_or_default();
                return err.with_hint(if role.name.as_str() == mapped {
                    format!("did you mean {mapped}?")
                } else {
                    format!("did you mean {mapped}? (the role would be {})", role.name)
                });
            }
        }
        if filled.len() > MAX_NAME_BYTES
            && self.server_name == ServerName::Full
            && uses(Placeholder::Server)
            && parts.server.as_deref().is_some_and(|server| server.contains('.'))
        {
            return err.with_hint(format!(
                "server_name = \"short\" in [types.{}] of config.toml takes only the first label \
                 of a host name (web-01.example.com → web_01)",
                self.name
            ));
        }
        // A host name or IP address at the start of the name: `10_0_0_5_8080`.
        let starts_with_a_value = matches!(
            self.template.segments.first(),
            Some(Segment::Value(p)) if *p != Placeholder::Name
        );
        if starts_with_a_value && filled.starts_with(|c: char| c.is_ascii_digit()) {
            return err.with_hint(format!(
                "a role name starts with a letter or _: give [types.{0}] in config.toml a \
                 template that does, e.g. template = \"{0}_{template}\"",
                self.name
            ));
        }
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `[types.*]` and `[env.*]` sections of a config file.
    #[derive(Deserialize)]
    pub(super) struct File {
        #[serde(default)]
        pub types: BTreeMap<String, TypeConfig>,
        #[serde(default)]
        pub env: BTreeMap<String, EnvConfig>,
    }

    fn policy(toml_text: &str) -> Policy {
        let file: File = toml::from_str(toml_text).unwrap();
        Policy::new(&file.types, &file.env)
    }

    #[test]
    fn a_type_without_a_password_says_how_its_roles_log_in() {
        let builtin = policy("");
        assert!(!builtin.some_type_has_no_password());
        assert_eq!(builtin.account_type("devqa").unwrap().without_password("app"), None);
        let policy = policy(
            "[types.iam]\npassword = false\nauth = \"iam-rds\"\n\
             [types.tls]\npassword = false\nauth = \"cert\"\n\
             [types.vm]\npassword = false\nauth = \"external\"\n",
        );
        assert!(policy.some_type_has_no_password());
        let said = |kind: &str| {
            let account = policy.account_type(kind).unwrap();
            (account.without_password("app").unwrap(), account.auth.login_note("app").unwrap())
        };
        assert_eq!(
            said("iam"),
            (
                "app is an iam-rds account (type iam): it has no password".to_owned(),
                "logs in with IAM tokens (rds_iam)".to_owned()
            )
        );
        let (tls, note) = said("tls");
        assert_eq!(tls, "app is a cert account (type tls): it has no password");
        assert!(note.ends_with("\"hostssl all app 0.0.0.0/0 cert\""), "{note}");
        assert_eq!(said("vm").0, "app is an external account (type vm): it has no password");
        assert_eq!(Auth::Password.login_note("app"), None);
    }

    #[test]
    fn role_names_follow_the_rule() {
        for ok in ["app", "_svc", "web01_8080", &"a".repeat(63)] {
            assert!(RoleName::parse(ok).is_ok(), "{ok}");
        }
        let refused = [
            ("App", "invalid role name"),
            ("a-b", "invalid role name"),
            ("a b", "invalid role name"),
            ("x\"; DROP ROLE y; --", "invalid role name"),
            ("1abc", "invalid role name"),
            ("", "invalid role name"),
            (&"a".repeat(64), "64 bytes long"),
            ("pg_x", "belong to PostgreSQL"),
            ("postgres", "reserved"),
            ("public", "reserved"),
            ("current_user", "reserved"),
        ];
        for (name, why) in refused {
            let err = RoleName::parse(name).unwrap_err().to_string();
            assert!(err.contains(why), "{name}: {err}");
        }
    }

    #[test]
    fn templates_fold_their_inputs_but_not_a_verbatim_name() {
        let types = policy("");
        let vm = types.account_type("vm").unwrap();
        let parts = NameParts {
            server: Some("WEB01".into()),
            service_port: Some(8080),
            ..NameParts::default()
        };
        assert_eq!(vm.role_name(&parts, "user create-vm").unwrap().as_str(), "web01_8080");

        let devqa = types.account_type("devqa").unwrap();
        let shouting = NameParts { name: Some("ALICE".into()), ..NameParts::default() };
        assert!(devqa.role_name(&shouting, "user create").is_err());

        let missing = vm.role_name(&NameParts::default(), "user create").unwrap_err();
        assert!(missing.to_string().contains("does not give {server}"), "{missing}");
    }

    #[test]
    fn outside_values_are_spelt_as_names() {
        for (given, spelt) in [
            ("web-01.example.com", "web_01_example_com"),
            ("gear-service", "gear_service"),
            ("WEB-01", "web_01"),
            ("GearService", "gearservice"),
            ("a--b..c", "a_b_c"),
            ("a_-b", "a__b"),
            ("-x-", "_x_"),
            ("10.0.0.5", "10_0_0_5"),
            ("fe80::1", "fe80_1"),
            ("café", "caf_"),
            ("web01_8080", "web01_8080"),
            ("", ""),
        ] {
            assert_eq!(spelling(given), spelt, "{given}");
        }
    }

    #[test]
    fn the_mapping_is_shown_when_it_changed_something() {
        let types = policy("[types.svc]\ntemplate = \"{service}_{service_port}\"\n");
        let svc = types.account_type("svc").unwrap();
        let parts = NameParts {
            service: Some("gear-service".into()),
            service_port: Some(8080),
            ..NameParts::default()
        };
        let named = svc.name_role(&parts, "user create").unwrap();
        assert_eq!(named.name.as_str(), "gear_service_8080");
        assert_eq!(named.note().unwrap(), "role gear_service_8080 (from service gear-service)");

        let k8s = types.account_type("k8s").unwrap();
        let parts = NameParts {
            service: Some("Gear-Service".into()),
            prefix: Some("qa-2".into()),
            ..NameParts::default()
        };
        let named = k8s.name_role(&parts, "user create-k8s").unwrap();
        assert_eq!(named.name.as_str(), "qa_2_gear_service");
        assert_eq!(named.mapping().unwrap(), "prefix qa-2, service Gear-Service");

        let plain = NameParts {
            service: Some("gear".into()),
            prefix: Some("dv".into()),
            ..NameParts::default()
        };
        let named = k8s.name_role(&plain, "user create-k8s").unwrap();
        assert_eq!((named.name.as_str(), named.note()), ("dv_gear", None));
    }

    #[test]
    fn a_short_server_name_is_the_first_label_of_a_host_name() {
        let types = policy(
            "[types.vm]\nserver_name = \"short\"\n[types.full]\ntemplate = \"h_{server}\"\n",
        );
        let short = types.account_type("vm").unwrap();
        let full = types.account_type("full").unwrap();
        let vm = |server: &str| NameParts {
            server: Some(server.into()),
            service_port: Some(8080),
            ..NameParts::default()
        };
        for (server, name) in [
            ("web-01.example.com", "web_01_8080"),
            ("WEB-01", "web_01_8080"),
            ("db.internal", "db_8080"),
        ] {
            let named = short.name_role(&vm(server), "user create-vm").unwrap();
            assert_eq!(named.name.as_str(), name, "{server}");
            assert_eq!(named.from, [("server", server.to_owned())]);
        }
        // An IP address has no labels: kept whole (and then needs a
        // template that starts with a letter).
        let full_ip = full.name_role(&vm("10.0.0.5"), "x").unwrap();
        assert_eq!(full_ip.name.as_str(), "h_10_0_0_5");
        let ip = short.name_role(&vm("10.0.0.5"), "user create-vm").unwrap_err();
        assert!(ip.to_string().contains("invalid role name '10_0_0_5_8080'"), "{ip}");
        assert!(ip.to_string().contains("from server 10.0.0.5"), "{ip}");
        assert!(ip.hint().unwrap().contains("template = \"vm_{server}_{service_port}\""));
        let v6 = policy("[types.h]\ntemplate = \"h_{server}\"\nserver_name = \"short\"\n");
        let v6 = v6.account_type("h").unwrap().name_role(&vm("fe80::1.2"), "x").unwrap();
        assert_eq!(v6.name.as_str(), "h_fe80_1_2");
        // The default takes all of it.
        let builtin = policy("");
        let vm_full = builtin.account_type("vm").unwrap();
        let named = vm_full.name_role(&vm("web-01.example.com"), "user create-vm").unwrap();
        assert_eq!(named.name.as_str(), "web_01_example_com_8080");
    }

    #[test]
    fn mapped_names_that_break_the_rule_say_why_and_what_to_do() {
        let types = policy("");
        let vm = types.account_type("vm").unwrap();
        let vm_parts = |server: &str| NameParts {
            server: Some(server.into()),
            service_port: Some(8080),
            ..NameParts::default()
        };
        let long = format!("{}.example.com", "a".repeat(50));
        let err = vm.name_role(&vm_parts(&long), "user create-vm").unwrap_err();
        assert!(err.to_string().contains("bytes long"), "{err}");
        assert!(err.hint().unwrap().contains("server_name = \"short\" in [types.vm]"), "{err:?}");
        let err = vm.name_role(&vm_parts("PG-01"), "user create-vm").unwrap_err();
        assert!(err.to_string().contains("belong to PostgreSQL"), "{err}");
        assert!(err.to_string().contains("from server PG-01"), "{err}");
        for nothing in ["", "...", "--", " "] {
            let err = vm.name_role(&vm_parts(nothing), "user create-vm").unwrap_err();
            assert!(err.to_string().contains("--server"), "{err}");
            assert!(err.to_string().contains("has no letter or digit"), "{err}");
        }
    }

    #[test]
    fn a_verbatim_name_is_refused_with_its_spelling_as_a_hint() {
        let types = policy("[types.app]\ntemplate = \"app_{env}_{name}\"\n");
        let devqa = types.account_type("devqa").unwrap();
        let name = |name: &str| NameParts {
            name: Some(name.into()),
            env: Some("qa".into()),
            ..NameParts::default()
        };
        let err = devqa.name_role(&name("Web-Admin"), "user create").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid role name 'Web-Admin': use a-z, 0-9 and _, starting with a letter or _"
        );
        assert_eq!(err.hint(), Some("did you mean web_admin?"));
        let app = types.account_type("app").unwrap();
        let err = app.name_role(&name("Billing"), "user create").unwrap_err();
        assert_eq!(err.hint(), Some("did you mean billing? (the role would be app_qa_billing)"));
        // No hint where the spelling would not do either.
        for hopeless in ["pg-x", "1abc", "POSTGRES"] {
            let err = devqa.name_role(&name(hopeless), "user create").unwrap_err();
            assert_eq!(err.hint(), None, "{hopeless}");
        }
        // The same for a NAME any other command takes.
        let err = RoleName::parse("Bob.Smith").unwrap_err();
        assert_eq!(err.hint(), Some("did you mean bob_smith?"));
        assert_eq!(RoleName::parse("").unwrap_err().hint(), None);
    }

    #[test]
    fn server_name_is_full_or_short() {
        let err = load_error("[types.vm]\nconnection_limit = 5\nserver_name = \"long\"\n");
        assert!(
            err.contains("line 3")
                && err.contains("server_name is \"full\" (the whole host name) or \"short\"")
                && err.contains("not \"long\""),
            "{err}"
        );
        let err = load_error("[types.vm]\nserver_name = 1\n");
        assert!(err.contains("line 2") && err.contains("invalid type"), "{err}");
        let full = policy("[types.vm]\nserver_name = \"full\"\n");
        assert_eq!(full.account_type("vm").unwrap().server_name, ServerName::Full);
        assert_eq!(policy("").account_type("k8s").unwrap().server_name, ServerName::Full);
    }

    #[test]
    fn the_builtin_types_match_the_design() {
        let types = policy("");
        let row = |name: &str| {
            let t = types.account_type(name).unwrap();
            (t.template.as_str().to_owned(), t.connection_limit, t.access, t.confirm)
        };
        assert_eq!(row("vm"), ("{server}_{service_port}".into(), 200, Access::None, false));
        assert_eq!(row("k8s"), ("{prefix}_{service}".into(), 200, Access::None, false));
        assert_eq!(row("devqa"), ("{name}".into(), 20, Access::None, false));
        assert_eq!(row("devlead"), ("{name}".into(), 20, Access::None, false));
        assert_eq!(row("readonly"), ("{name}".into(), 20, Access::Read, false));
        assert_eq!(row("readwrite"), ("{name}".into(), 20, Access::ReadWrite, false));
        assert_eq!(row("dba"), ("{name}".into(), 20, Access::None, true));
        for name in ["vm", "readonly", "readwrite"] {
            let t = types.account_type(name).unwrap();
            assert_eq!(
                (t.read_scope, t.group.is_none(), t.auth),
                (ReadScope::Targets, true, Auth::Password)
            );
        }
        let dba = types.account_type("dba").unwrap();
        assert_eq!(dba.search_path_scope, SearchPathScope::AllDatabases);
        assert_eq!(dba.attributes, [Attribute::Login, Attribute::CreateDb, Attribute::CreateRole]);
    }

    #[test]
    fn config_overrides_and_adds_types() {
        let types = policy(
            "[types.vm]\nconnection_limit = 50\n\n\
             [types.app]\ntemplate = \"app_{env}_{name}\"\nmember_of = [\"app_readers\"]\n\
             search_path = [\"app\", \"$user\"]\nvalid_for_days = 90\npassword_length = 32\n",
        );
        let vm = types.account_type("vm").unwrap();
        assert_eq!(vm.connection_limit, 50);
        assert_eq!(vm.template.as_str(), "{server}_{service_port}");
        let app = types.account_type("app").unwrap();
        let parts = NameParts {
            env: Some("qa".into()),
            name: Some("billing".into()),
            ..NameParts::default()
        };
        assert_eq!(app.role_name(&parts, "user create").unwrap().as_str(), "app_qa_billing");
        assert_eq!(app.valid_for_days, Some(90));
        assert_eq!(app.password_length, 32);
        assert_eq!(app.member_of[0].as_str(), "app_readers");
        let unknown = types.account_type("nope").unwrap_err().to_string();
        assert!(
            unknown.contains("known types: app, dba, devlead, devqa, k8s, readonly, readwrite, vm")
        );
    }

    #[test]
    fn k8s_prefixes_default_per_environment() {
        let types = policy("[env.prod]\nk8s_prefix = \"prd\"\nprotected = true\n");
        assert_eq!(types.k8s_prefix("dev"), "dv");
        assert_eq!(types.k8s_prefix("uat"), "ua");
        assert_eq!(types.k8s_prefix("prod"), "prd");
        assert_eq!(types.k8s_prefix("perf"), "perf");
        assert!(types.is_protected("prod"));
        assert!(!types.is_protected("dev"));
    }

    #[test]
    fn bad_config_values_are_refused_with_their_place() {
        for (text, why) in [
            ("[types.x]\nattributes = [\"SUPERUSER\"]\n", "unknown attribute 'SUPERUSER'"),
            ("[types.x]\ntemplate = \"{host}_x\"\n", "unknown placeholder {host}"),
            ("[types.x]\nsearch_path = [\"App\"]\n", "invalid schema name 'App'"),
            ("[types.x]\npassword_length = 8\n", "16 to 256"),
            ("[types.x]\nconnection_limit = -5\n", "-1 (no limit)"),
            ("[types.x]\nmax_connections = 5\n", "unknown field `max_connections`"),
        ] {
            let err = toml::from_str::<BTreeMap<String, BTreeMap<String, TypeConfig>>>(text)
                .unwrap_err()
                .to_string();
            assert!(err.contains(why) && err.contains("line 2"), "{text}: {err}");
        }
    }

    fn load_error(text: &str) -> String {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)] // read by Debug only
        struct File {
            #[serde(default)]
            types: BTreeMap<String, TypeConfig>,
            #[serde(default)]
            env: BTreeMap<String, EnvConfig>,
        }
        toml::from_str::<File>(text).unwrap_err().to_string()
    }

    #[test]
    fn values_filled_into_a_template_are_never_expanded_again() {
        let types = policy(
            "[types.app]\ntemplate = \"app_{env}_{name}\"\n\
             [types.pair]\ntemplate = \"{service}_{prefix}\"\n",
        );
        let vm = types.account_type("vm").unwrap();
        let k8s = types.account_type("k8s").unwrap();
        let devqa = types.account_type("devqa").unwrap();
        let app = types.account_type("app").unwrap();
        let pair = types.account_type("pair").unwrap();
        let port = |server: &str| NameParts {
            server: Some(server.into()),
            service_port: Some(8080),
            ..NameParts::default()
        };
        let k8s_parts = |service: &str, prefix: &str| NameParts {
            service: Some(service.into()),
            prefix: Some(prefix.into()),
            ..NameParts::default()
        };
        let app_parts = |name: &str| NameParts {
            env: Some("qa".into()),
            name: Some(name.into()),
            ..NameParts::default()
        };
        // Each of these gave a valid name when values were filled one
        // after another: `a{service_port}` became `a8080_8080`.
        let refused = [
            (
                vm.role_name(&port("a{service_port}"), "user create-vm"),
                "--server 'a{service_port}'",
            ),
            (vm.role_name(&port("{server}"), "user create-vm"), "--server '{server}'"),
            (k8s.role_name(&k8s_parts("gear", "{service}"), "x"), "k8s prefix"),
            (pair.role_name(&k8s_parts("{prefix}", "dv"), "x"), "--service '{prefix}'"),
            (app.role_name(&app_parts("{env}"), "user create"), "NAME '{env}'"),
            (app.role_name(&app_parts("x}"), "user create"), "NAME 'x}'"),
            (devqa.role_name(&app_parts("{name}"), "user create"), "NAME '{name}'"),
        ];
        for (result, what) in refused {
            let err = result.unwrap_err().to_string();
            assert!(err.contains(what) && err.contains("contains a brace"), "{what}: {err}");
        }
        // A value that looks like a placeholder's output stays data too.
        assert_eq!(app.role_name(&app_parts("qa"), "user create").unwrap().as_str(), "app_qa_qa");
        assert_eq!(
            k8s.role_name(&k8s_parts("Gear_Service", "DV"), "x").unwrap().as_str(),
            "dv_gear_service"
        );
    }

    #[test]
    fn templates_are_read_once_into_pieces() {
        for (text, why) in [
            ("a}b", "unmatched '}'"),
            ("{name", "unclosed '{'"),
            ("{{name}}", "unknown placeholder {{name}"),
            ("", "must not be empty"),
        ] {
            let err = Template::parse(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
        let template = Template::parse("x_{name}{env}_y").unwrap();
        assert_eq!(template.as_str(), "x_{name}{env}_y");
        assert_eq!(
            template.segments,
            [
                Segment::Text("x_".into()),
                Segment::Value(Placeholder::Name),
                Segment::Value(Placeholder::Env),
                Segment::Text("_y".into()),
            ]
        );
    }

    #[test]
    fn a_k8s_prefix_in_config_is_data_too() {
        let err = load_error("[env.qa]\nk8s_prefix = \"{service}\"\n");
        assert!(err.contains("line 2") && err.contains("k8s_prefix '{service}'"), "{err}");
        let err = load_error("[env.qa]\nk8s_prefix = \"\"\n");
        assert!(err.contains("line 2") && err.contains("must not be empty"), "{err}");
    }

    #[test]
    fn privileged_roles_and_attributes_need_allow_privileged() {
        for (text, why) in [
            (
                "member_of = [\"app\", \"postgres\"]",
                "member_of: postgres is the bootstrap superuser",
            ),
            ("member_of = [\"pg_execute_server_program\"]", "member_of: pg_execute_server_program"),
            ("member_of = [\"pg_read_server_files\"]", "member_of: pg_read_server_files"),
            ("member_of = [\"pg_write_server_files\"]", "member_of: pg_write_server_files"),
            ("member_of = [\"rds_superuser\"]", "member_of: rds_superuser"),
            ("attributes = [\"LOGIN\", \"replication\"]", "attributes: REPLICATION"),
            ("attributes = [\"BYPASSRLS\"]", "attributes: BYPASSRLS"),
            ("allow_privileged = false\nmember_of = [\"postgres\"]", "member_of: postgres"),
        ] {
            let err = load_error(&format!("[types.x]\nconfirm = true\n\n[types.ops]\n{text}\n"));
            assert!(
                err.contains("line 4")
                    && err.contains(why)
                    && err.contains("allow_privileged = true"),
                "{text}: {err}"
            );
        }
        let allowed = policy(
            "[types.ops]\nallow_privileged = true\nmember_of = [\"pg_read_server_files\"]\n\
             attributes = [\"LOGIN\", \"REPLICATION\"]\n",
        );
        let ops = allowed.account_type("ops").unwrap();
        assert!(ops.allow_privileged);
        assert_eq!(ops.member_of[0].as_str(), "pg_read_server_files");
        // A name that only starts like one is not it; the plan checks what
        // the cluster says about it.
        let plain = policy("[types.app]\nmember_of = [\"postgres_readers\", \"Postgres\"]\n");
        assert!(!plain.account_type("app").unwrap().allow_privileged);
    }

    #[test]
    fn numbers_out_of_range_are_refused_with_their_place() {
        for (text, why) in [
            ("valid_for_days = 4000000", "valid_for_days is 1 to 3650, not 4000000"),
            ("valid_for_days = 0", "valid_for_days is 1 to 3650, not 0"),
            ("valid_for_days = -1", "valid_for_days is 1 to 3650, not -1"),
            ("connection_limit = 262144", "connection_limit is -1 (no limit) to 262143"),
            ("connection_limit = 9999999999", "not 9999999999"),
            ("password_length = -1", "password_length is 16 to 256, not -1"),
            ("password_length = 257", "password_length is 16 to 256, not 257"),
            ("valid_for_days = 1.5", "invalid type"),
        ] {
            let err = load_error(&format!("[types.x]\n{text}\n"));
            assert!(err.contains("line 2") && err.contains(why), "{text}: {err}");
        }
        let edges = policy(
            "[types.x]\nvalid_for_days = 3650\nconnection_limit = 262143\npassword_length = 256\n\
             [types.y]\nvalid_for_days = 1\nconnection_limit = -1\npassword_length = 16\n",
        );
        let x = edges.account_type("x").unwrap();
        assert_eq!(
            (x.valid_for_days, x.connection_limit, x.password_length),
            (Some(3650), 262_143, 256)
        );
        let y = edges.account_type("y").unwrap();
        assert_eq!((y.valid_for_days, y.connection_limit, y.password_length), (Some(1), -1, 16));
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::tests::File;
    use super::*;

    /// Names that follow the rule, reserved ones included.
    fn valid_identifier() -> impl Strategy<Value = String> {
        "[a-z_][a-z0-9_]{0,62}"
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![".{0,12}", "[a-zA-Z0-9_{}-]{0,12}", Just("{name}".to_owned())]
    }

    proptest! {
        #[test]
        fn identifier_rules_never_panic_and_keep_what_they_accept(text in ".{0,80}") {
            if let Ok(name) = RoleName::parse(&text) {
                prop_assert_eq!(name.as_str(), text.as_str());
                prop_assert!(SchemaName::parse(&text).is_ok());
            }
            if let Ok(schema) = SchemaName::parse(&text) {
                prop_assert_eq!(schema.as_str(), text.as_str());
            }
        }

        #[test]
        fn a_valid_name_parses_to_itself(name in valid_identifier()) {
            let reserved = name.starts_with("pg_") || RESERVED.contains(&name.as_str());
            match RoleName::parse(&name) {
                Ok(parsed) => prop_assert!(!reserved && parsed.as_str() == name),
                Err(_) => prop_assert!(reserved),
            }
            let schema = SchemaName::parse(&name).unwrap();
            prop_assert_eq!(schema.as_str(), name.as_str());
            prop_assert_eq!(name.parse::<RoleName>().is_ok(), !reserved);
        }

        #[test]
        fn names_that_break_the_rule_are_refused(
            name in prop_oneof![
                "[A-Z0-9$ .-][a-z0-9_]{0,10}",
                "[a-z_][a-z0-9_]{0,10}[^a-z0-9_][a-z0-9_]{0,10}",
                "[a-z_][a-z0-9_]{63,80}",
            ],
        ) {
            prop_assert!(RoleName::parse(&name).is_err());
            prop_assert!(SchemaName::parse(&name).is_err() || name == "$user");
        }

        #[test]
        fn templates_never_panic_and_keep_their_text(text in "[a-z_{}]{0,30}|.{0,30}") {
            if let Ok(template) = Template::parse(&text) {
                prop_assert_eq!(template.as_str(), text.as_str());
            }
        }

        /// Filling is one pass: the name is the template's text with each
        /// placeholder replaced by its value's spelling (NAME and the port
        /// as given); a value with a brace, or with nothing to spell a name
        /// with, is refused where it comes, and the name is made exactly
        /// when it follows the rule.
        #[test]
        fn filling_a_template_is_one_pass(
            pieces in prop::collection::vec(
                prop_oneof![
                    "[a-z_]{1,4}".prop_map(|t| (t, None)),
                    prop::sample::select(Placeholder::ALL.into_iter().filter(|p| *p != Placeholder::Db).collect::<Vec<_>>()).prop_map(|p| (String::new(), Some(p))),
                ],
                1..6,
            ),
            server in value(), service in value(), prefix in value(),
            name in value(), port in any::<u16>(), env in "[a-z0-9][a-z0-9_-]{0,8}",
            server_name in prop::sample::select(vec![ServerName::Full, ServerName::Short]),
        ) {
            let text: String = pieces
                .iter()
                .map(|(t, p)| p.map_or_else(|| t.clone(), |p| format!("{{{}}}", p.key())))
                .collect();
            let template = Template::parse(&text).unwrap();
            let account = AccountType { template, server_name, ..builtin("t", "{name}", 20) };
            let parts = NameParts {
                server: Some(server),
                service_port: Some(port),
                service: Some(service),
                prefix: Some(prefix),
                env: Some(env),
                name: Some(name),
            };
            let mut expected = String::new();
            let mut refusal = None;
            for (t, p) in &pieces {
                let Some(p) = p else {
                    expected.push_str(t);
                    continue;
                };
                let given = parts.given(*p).unwrap();
                let used = match p {
                    Placeholder::Name | Placeholder::ServicePort => given.clone(),
                    Placeholder::Server => spelling(server_name.of(&given)),
                    _ => spelling(&given),
                };
                if given.contains(['{', '}']) {
                    refusal = Some("contains a brace");
                } else if *p != Placeholder::Name && !used.bytes().any(|b| b.is_ascii_alphanumeric()) {
                    refusal = Some("has no letter or digit");
                }
                if refusal.is_some() {
                    break;
                }
                expected.push_str(&used);
            }
            match (account.name_role(&parts, "user create"), refusal) {
                (Err(err), Some(why)) => prop_assert!(err.to_string().contains(why), "{}", err),
                (Ok(role), None) => {
                    prop_assert_eq!(role.name.as_str(), expected.as_str());
                    prop_assert!(RoleName::parse(&expected).is_ok());
                }
                (Err(err), None) => {
                    prop_assert!(RoleName::parse(&expected).is_err(), "{}", err);
                    prop_assert!(!err.to_string().is_empty());
                }
                (Ok(role), Some(why)) => prop_assert!(false, "{} made, not refused: {}", role.name, why),
            }
        }

        /// A spelling is a valid piece of a name: only `[a-z0-9_]`, no two
        /// `_` made of one run, and spelling it again changes nothing; a
        /// name that follows the rule is its own spelling.
        #[test]
        fn spelling_is_idempotent_and_keeps_valid_names(value in ".{0,40}|[a-zA-Z0-9._-]{0,40}") {
            let spelt = spelling(&value);
            prop_assert!(spelt.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
            prop_assert!(spelt.len() <= value.len());
            prop_assert_eq!(spelling(&spelt), spelt.clone());
            if RoleName::parse(&value).is_ok() || SchemaName::parse(&value).is_ok() {
                prop_assert_eq!(spelt, value);
            }
        }

        #[test]
        fn a_valid_name_is_its_own_spelling(name in valid_identifier()) {
            prop_assert_eq!(spelling(&name), name);
        }

        /// A value from the outside world, through a template, always gives
        /// a valid name or a refusal that says why; and with a verbatim
        /// NAME that breaks the rule, the hint (if any) is a valid name.
        #[test]
        fn outside_values_give_a_valid_name_or_a_clear_refusal(
            server in ".{0,70}|[a-zA-Z0-9.-]{1,70}",
            service in ".{0,70}|[a-zA-Z0-9-]{1,70}",
            port in any::<u16>(),
            short in any::<bool>(),
        ) {
            let server_name = if short { ServerName::Short } else { ServerName::Full };
            let vm = AccountType { server_name, ..builtin("vm", "{server}_{service_port}", 200) };
            let k8s = builtin("k8s", "{prefix}_{service}", 200);
            let devqa = builtin("devqa", "{name}", 20);
            let vm_parts = NameParts { server: Some(server.clone()), service_port: Some(port), ..NameParts::default() };
            let k8s_parts = NameParts { service: Some(service.clone()), prefix: Some("dv".into()), ..NameParts::default() };
            let name_parts = NameParts { name: Some(service.clone()), ..NameParts::default() };
            for (account, parts) in [(&vm, &vm_parts), (&k8s, &k8s_parts), (&devqa, &name_parts)] {
                match account.name_role(parts, "user create") {
                    Ok(named) => {
                        prop_assert!(RoleName::parse(named.name.as_str()).is_ok());
                        let again = NameParts {
                            server: parts.server.as_deref().map(spelling),
                            service: parts.service.as_deref().map(spelling),
                            ..parts.clone()
                        };
                        // Only the short server name may drop a part: the
                        // spelling of a full one makes the same name again.
                        if !short {
                            let again = account.name_role(&again, "user create").unwrap();
                            prop_assert_eq!(again.name, named.name.clone());
                            prop_assert!(again.from.is_empty());
                        }
                        prop_assert_eq!(named.from.is_empty(), named.note().is_none());
                    }
                    Err(err) => {
                        let text = err.to_string();
                        prop_assert!(
                            ["contains a brace", "no letter or digit", "invalid role name",
                             "bytes long", "belong to PostgreSQL", "is reserved"]
                                .iter().any(|why| text.contains(why)),
                            "{}", text
                        );
                        if let Some(hint) = err.hint().and_then(|h| h.strip_prefix("did you mean ")) {
                            let mapped = hint.split('?').next().unwrap();
                            prop_assert!(RoleName::parse(mapped).is_ok(), "{}", hint);
                        }
                    }
                }
            }
        }

        /// Any `[types.X]` / `[env.X]` text loads or fails with a message;
        /// numbers load exactly when in range.
        #[test]
        fn type_config_never_panics(
            key in prop::sample::select(vec![
                "connection_limit", "valid_for_days", "password_length", "template",
                "member_of", "attributes", "search_path", "allow_privileged", "k8s_prefix",
                "server_name",
            ]),
            value in prop_oneof![
                any::<i64>().prop_map(|n| n.to_string()),
                (-2i64..300_000).prop_map(|n| n.to_string()),
                ".{0,20}".prop_map(|s| format!("{s:?}")),
                "[a-z_{}]{0,12}".prop_map(|s| format!("[{s:?}]")),
                Just("true".to_owned()),
            ],
            section in prop::sample::select(vec!["types", "env"]),
        ) {
            let text = format!("[{section}.x]\n{key} = {value}\n");
            match toml::from_str::<File>(&text) {
                Ok(file) => {
                    let policy = Policy::new(&file.types, &file.env);
                    let x = policy.account_type("x");
                    if let (Ok(x), Ok(n)) = (x, value.parse::<i64>()) {
                        match key {
                            "connection_limit" => prop_assert_eq!(i64::from(x.connection_limit), n),
                            "valid_for_days" => prop_assert!((1..=3650).contains(&n)),
                            "password_length" => prop_assert!((16..=256).contains(&n)),
                            _ => {}
                        }
                    }
                    let _ = policy.k8s_prefix("x");
                }
                Err(err) => prop_assert!(err.to_string().contains("line "), "{}", err),
            }
        }
    }
}
