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

/// PostgreSQL truncates identifiers longer than this many bytes; pgacct
/// refuses them instead.
pub const MAX_NAME_BYTES: usize = 63;

/// Names a role may not have: PostgreSQL's own, and the keywords that
/// stand for a role.
const RESERVED: [&str; 6] =
    ["public", "postgres", "none", "current_user", "session_user", "current_role"];

/// A name that breaks a rule, or a policy that does not fit the command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(String);

/// A role name pgacct may create: `^[a-z_][a-z0-9_]*$`, at most 63 bytes,
/// not `pg_*` and not reserved.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleName(String);

impl RoleName {
    /// A name given verbatim: it must already follow the rule.
    pub fn parse(name: &str) -> Result<RoleName, PolicyError> {
        check_identifier("role name", name)?;
        if name.starts_with("pg_") {
            return Err(PolicyError(format!(
                "role name '{name}' is refused: names starting with pg_ belong to PostgreSQL"
            )));
        }
        if RESERVED.contains(&name) {
            return Err(PolicyError(format!("role name '{name}' is reserved")));
        }
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

fn check_identifier(what: &str, name: &str) -> Result<(), PolicyError> {
    if name.len() > MAX_NAME_BYTES {
        return Err(PolicyError(format!(
            "{what} '{name}' is {} bytes long; PostgreSQL allows at most {MAX_NAME_BYTES}",
            name.len()
        )));
    }
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return Err(PolicyError(format!(
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

/// A name template: text with `{server}`, `{service_port}`, `{service}`,
/// `{prefix}`, `{env}` and `{name}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(String);

const PLACEHOLDERS: [&str; 6] = ["server", "service_port", "service", "prefix", "env", "name"];

impl Template {
    fn parse(text: &str) -> Result<Template, String> {
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let close =
                rest[open..].find('}').ok_or_else(|| format!("unclosed '{{' in '{text}'"))?;
            let placeholder = &rest[open + 1..open + close];
            if !PLACEHOLDERS.contains(&placeholder) {
                return Err(format!(
                    "unknown placeholder {{{placeholder}}} in '{text}'; use {}",
                    PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ")
                ));
            }
            rest = &rest[open + close + 1..];
        }
        if text.is_empty() {
            return Err("a name template must not be empty".into());
        }
        Ok(Template(text.to_owned()))
    }

    fn placeholders(&self) -> impl Iterator<Item = &str> {
        self.0.split('{').skip(1).filter_map(|part| part.split_once('}').map(|(p, _)| p))
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

/// `[types.NAME]`: every key optional; for a built-in type, the keys given
/// replace its defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypeConfig {
    pub template: Option<Template>,
    #[serde(default, deserialize_with = "connection_limit")]
    pub connection_limit: Option<i32>,
    pub attributes: Option<Vec<Attribute>>,
    pub member_of: Option<Vec<MemberOf>>,
    pub search_path: Option<Vec<SchemaName>>,
    /// Set the `search_path` for every database, not only the targets.
    pub search_path_all_databases: Option<bool>,
    pub valid_for_days: Option<u32>,
    #[serde(default, deserialize_with = "password_length")]
    pub password_length: Option<usize>,
    /// Really read-only: `pg_read_all_data` (or grants) and
    /// `default_transaction_read_only`.
    pub read_only: Option<bool>,
    /// Ask before creating one.
    pub confirm: Option<bool>,
}

fn connection_limit<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    let limit = i32::deserialize(d)?;
    if limit < -1 {
        return Err(serde::de::Error::custom("connection_limit is -1 (no limit) or more"));
    }
    Ok(Some(limit))
}

fn password_length<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    let length = usize::deserialize(d)?;
    if !(16..=256).contains(&length) {
        return Err(serde::de::Error::custom("password_length is 16 to 256 characters"));
    }
    Ok(Some(length))
}

/// `[env.NAME]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvConfig {
    /// The prefix of k8s account names in this environment.
    pub k8s_prefix: Option<String>,
    /// Every change in this environment asks for confirmation.
    #[serde(default)]
    pub protected: bool,
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
    pub read_only: bool,
    pub confirm: bool,
}

/// 16 random bytes in URL-safe base64.
pub const DEFAULT_PASSWORD_LENGTH: usize = 22;

fn builtin(name: &str, template: &str, connection_limit: i32) -> AccountType {
    AccountType {
        name: name.to_owned(),
        template: Template(template.to_owned()),
        connection_limit,
        attributes: vec![Attribute::Login],
        member_of: Vec::new(),
        search_path: vec![SchemaName("public".into())],
        search_path_scope: SearchPathScope::TargetDatabases,
        valid_for_days: None,
        password_length: DEFAULT_PASSWORD_LENGTH,
        read_only: false,
        confirm: false,
    }
}

fn builtins() -> BTreeMap<String, AccountType> {
    let readonly = AccountType { read_only: true, ..builtin("readonly", "{name}", 20) };
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
            PolicyError(format!("unknown account type '{name}'; known types: {}", known.join(", ")))
        })
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

    pub fn is_protected(&self, env: &str) -> bool {
        self.envs.get(env).is_some_and(|e| e.protected)
    }
}

fn merge(base: AccountType, config: &TypeConfig) -> AccountType {
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
        read_only: config.read_only.unwrap_or(base.read_only),
        confirm: config.confirm.unwrap_or(base.confirm),
        name: base.name,
    }
}

/// What a command knows to fill a name template with.
#[derive(Debug, Clone, Default)]
pub struct NameParts {
    pub server: Option<String>,
    pub service_port: Option<u16>,
    pub service: Option<String>,
    pub prefix: Option<String>,
    pub env: Option<String>,
    /// Given verbatim: never case-folded.
    pub name: Option<String>,
}

impl AccountType {
    /// The role name for `parts`: the template filled in, with the
    /// template's inputs lower-cased and the verbatim `{name}` as given.
    pub fn role_name(&self, parts: &NameParts, command: &str) -> Result<RoleName, PolicyError> {
        let mut filled = self.template.0.clone();
        for placeholder in self.template.placeholders() {
            let value = match placeholder {
                "server" => parts.server.as_deref().map(str::to_lowercase),
                "service_port" => parts.service_port.map(|p| p.to_string()),
                "service" => parts.service.as_deref().map(str::to_lowercase),
                "prefix" => parts.prefix.as_deref().map(str::to_lowercase),
                "env" => parts.env.clone(),
                "name" => parts.name.clone(),
                _ => None,
            };
            let value = value.ok_or_else(|| {
                PolicyError(format!(
                    "account type '{}' names roles '{}', and `{command}` does not give \
                     {{{placeholder}}}",
                    self.name, self.template.0
                ))
            })?;
            filled = filled.replace(&format!("{{{placeholder}}}"), &value);
        }
        RoleName::parse(&filled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(toml_text: &str) -> Policy {
        #[derive(Deserialize)]
        struct File {
            #[serde(default)]
            types: BTreeMap<String, TypeConfig>,
            #[serde(default)]
            env: BTreeMap<String, EnvConfig>,
        }
        let file: File = toml::from_str(toml_text).unwrap();
        Policy::new(&file.types, &file.env)
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
    fn the_builtin_types_match_the_design() {
        let types = policy("");
        let row = |name: &str| {
            let t = types.account_type(name).unwrap();
            (t.template.0.clone(), t.connection_limit, t.read_only, t.confirm)
        };
        assert_eq!(row("vm"), ("{server}_{service_port}".into(), 200, false, false));
        assert_eq!(row("k8s"), ("{prefix}_{service}".into(), 200, false, false));
        assert_eq!(row("devqa"), ("{name}".into(), 20, false, false));
        assert_eq!(row("devlead"), ("{name}".into(), 20, false, false));
        assert_eq!(row("readonly"), ("{name}".into(), 20, true, false));
        assert_eq!(row("dba"), ("{name}".into(), 20, false, true));
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
        assert_eq!(vm.template.0, "{server}_{service_port}");
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
        assert!(unknown.contains("known types: app, dba, devlead, devqa, k8s, readonly, vm"));
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
}
