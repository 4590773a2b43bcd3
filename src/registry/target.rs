//! What a registry entry is: a target database and how to reach it.
//!
//! Every field that comes from a user (the command line or an inventory
//! file) is parsed through the `FromStr` impls here, so both paths share
//! one set of rules and one set of messages.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Serialize, Serializer};

use super::host_list::{self, HostEntry};

/// PostgreSQL truncates identifiers longer than this many bytes.
pub const MAX_IDENTIFIER_BYTES: usize = 63;

/// A value that breaks a rule; the message says which rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(String);

impl InvalidValue {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// An environment name such as `dev`, `qa` or `prod`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EnvName(String);

impl EnvName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for EnvName {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut chars = s.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let rest_ok =
            chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if first_ok && rest_ok && s.len() <= 32 {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidValue(format!(
                "invalid env name '{s}': use 1 to 32 characters from a-z, 0-9, '_' and '-', \
                 starting with a letter or digit (e.g. 'prod', 'qa-2')"
            )))
        }
    }
}

/// A database name as the server knows it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DbName(String);

impl DbName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for DbName {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(InvalidValue::new("database name must not be empty"));
        }
        check_identifier_length("database name", s)?;
        if s.contains('\0') {
            return Err(InvalidValue::new("database name must not contain a NUL byte"));
        }
        Ok(Self(s.to_owned()))
    }
}

/// A host name, an IP address, a Unix-socket directory (starting with `/`),
/// or a libpq list of them (`db1,db2:5433`, see [`host_list`]). A list is
/// kept as given: it is the cluster's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host(String);

impl Host {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it lists several hosts.
    pub fn is_list(&self) -> bool {
        host_list::is_list(&self.0)
    }

    /// The servers it names, each with its port (`port` where the list
    /// gives none); one for a host that is not a list.
    pub fn entries(&self, port: u16) -> Vec<HostEntry> {
        host_list::entries(&self.0, port)
    }
}

impl FromStr for Host {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(InvalidValue::new("host must not be empty"));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(InvalidValue(format!(
                "invalid host '{}': a host name, IP address or socket directory (or a list of \
                 them, db1,db2:5433), without spaces",
                s.escape_debug()
            )));
        }
        // libpq reads a host with a slash as a socket directory, and a
        // relative one would depend on where pgacct happens to be started.
        if let Some(relative) = s.split(',').find(|h| h.contains('/') && !h.starts_with('/')) {
            return Err(InvalidValue(format!(
                "invalid host '{relative}': a Unix-socket directory must be an absolute path \
                 (e.g. /var/run/postgresql)"
            )));
        }
        if host_list::is_list(s) {
            host_list::check(s)?;
        }
        Ok(Self(s.to_owned()))
    }
}

/// The role pgacct logs in as to administer a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminUser(String);

impl AdminUser {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for AdminUser {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(InvalidValue::new("admin user must not be empty"));
        }
        check_identifier_length("admin user", s)?;
        if s.chars().any(char::is_control) {
            return Err(InvalidValue::new("admin user must not contain control characters"));
        }
        Ok(Self(s.to_owned()))
    }
}

fn check_identifier_length(what: &str, s: &str) -> Result<(), InvalidValue> {
    if s.len() > MAX_IDENTIFIER_BYTES {
        return Err(InvalidValue(format!(
            "{what} '{s}' is {} bytes long; PostgreSQL allows at most {MAX_IDENTIFIER_BYTES}",
            s.len()
        )));
    }
    Ok(())
}

/// libpq's `sslmode`, with libpq's meaning for each value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    Disable,
    Allow,
    #[default]
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub const ALL: [SslMode; 6] = [
        SslMode::Disable,
        SslMode::Allow,
        SslMode::Prefer,
        SslMode::Require,
        SslMode::VerifyCa,
        SslMode::VerifyFull,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

impl FromStr for SslMode {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SslMode::ALL.into_iter().find(|mode| mode.as_str() == s).ok_or_else(|| {
            InvalidValue(format!(
                "invalid sslmode '{s}': expected one of disable, allow, prefer, require, \
                     verify-ca, verify-full"
            ))
        })
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for SslMode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl SslMode {
    /// `require` or stronger: a mode that never falls back to plain text.
    pub fn insists_on_tls(self) -> bool {
        matches!(self, SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull)
    }
}

/// libpq 17's `sslnegotiation`: how a TCP connection starts TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslNegotiation {
    /// An `SSLRequest` first, which every PostgreSQL answers.
    #[default]
    Postgres,
    /// A TLS handshake at once (PostgreSQL 17+): one round trip fewer.
    Direct,
}

impl SslNegotiation {
    pub const ALL: [SslNegotiation; 2] = [SslNegotiation::Postgres, SslNegotiation::Direct];

    pub fn as_str(self) -> &'static str {
        match self {
            SslNegotiation::Postgres => "postgres",
            SslNegotiation::Direct => "direct",
        }
    }

    /// libpq's rule (fe-connect.c): direct negotiation only with an sslmode
    /// that insists on TLS, `mode` being the one a connection will use.
    pub fn check_with(self, mode: SslMode) -> Result<(), InvalidValue> {
        if self == SslNegotiation::Postgres || mode.insists_on_tls() {
            return Ok(());
        }
        Err(InvalidValue(format!(
            "weak sslmode \"{mode}\" may not be used with sslnegotiation=direct (use \"require\", \
             \"verify-ca\", or \"verify-full\"): {DIRECT_RISK}"
        )))
    }
}

/// Why libpq refuses direct negotiation with a weak sslmode.
const DIRECT_RISK: &str = "a server older than PostgreSQL 17 does not speak direct TLS, and a \
                           weak sslmode could fall back to an unencrypted connection";

impl FromStr for SslNegotiation {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SslNegotiation::ALL.into_iter().find(|n| n.as_str() == s).ok_or_else(|| {
            InvalidValue(format!("invalid sslnegotiation '{s}': expected postgres or direct"))
        })
    }
}

impl fmt::Display for SslNegotiation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for SslNegotiation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// `admin_password_command`: a program that prints the admin password on
/// stdout (Vault, a password manager, a cloud IAM token), as its argv. It
/// is run without a shell, so nothing in it is expanded or interpreted.
/// Boxed, so that a [`Target`], which plans carry by value, stays small.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[allow(clippy::box_collection)] // one pointer instead of a vector's three words
pub struct PasswordCommand(Box<Vec<String>>);

impl PasswordCommand {
    /// A command from its argv: a program, then its arguments.
    pub fn new(argv: Vec<String>) -> Result<Self, InvalidValue> {
        match argv.first() {
            None => return Err(InvalidValue::new("admin_password_command names no program")),
            Some(program) if program.is_empty() => {
                return Err(InvalidValue::new("admin_password_command's program is empty"));
            }
            Some(_) => {}
        }
        if argv.iter().any(|word| word.contains('\0')) {
            return Err(InvalidValue::new("admin_password_command must not contain a NUL byte"));
        }
        Ok(PasswordCommand(Box::new(argv)))
    }

    /// `PROGRAM ARGS...` split into words as a shell splits them (quotes
    /// and backslashes), without running one; `None` for a line with no
    /// words (`''`, which clears the setting on update).
    pub fn parse_words(line: &str) -> Result<Option<Self>, InvalidValue> {
        let words = shell_words::split(line).map_err(|_| {
            InvalidValue::new(format!(
                "invalid admin_password_command {}: a quote is not closed",
                shell_words::quote(line)
            ))
        })?;
        if words.is_empty() { Ok(None) } else { PasswordCommand::new(words).map(Some) }
    }

    pub fn program(&self) -> &str {
        &self.0[0]
    }

    pub fn args(&self) -> &[String] {
        &self.0[1..]
    }

    /// The argv as a JSON array, as the store keeps it.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).expect("a list of strings is JSON")
    }

    /// Reads [`PasswordCommand::to_json`]'s form.
    pub fn from_json(text: &str) -> Result<Self, InvalidValue> {
        let argv: Vec<String> = serde_json::from_str(text).map_err(|err| {
            InvalidValue::new(format!(
                "admin_password_command is not a JSON list of strings: {err}"
            ))
        })?;
        PasswordCommand::new(argv)
    }
}

/// The words of a command line; `''` or blank names no program.
impl FromStr for PasswordCommand {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PasswordCommand::parse_words(s)?
            .ok_or_else(|| InvalidValue::new("admin_password_command names no program"))
    }
}

/// As a shell command line that [`PasswordCommand::parse_words`] reads back.
impl fmt::Display for PasswordCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&shell_words::join(self.0.iter()))
    }
}

/// A list of strings: the argv as it is run.
impl Serialize for PasswordCommand {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// A list of strings (config.toml's `admin_password_command = ["prog", "arg"]`).
impl<'de> serde::Deserialize<'de> for PasswordCommand {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let argv = Vec::<String>::deserialize(deserializer)?;
        PasswordCommand::new(argv).map_err(serde::de::Error::custom)
    }
}

/// libpq's `sslrootcert`: a PEM file of trusted CAs, or `system` for the
/// platform's trust store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCert {
    System,
    File(PathBuf),
}

impl RootCert {
    /// Parses a value, resolving a relative file name against `base`.
    pub fn parse_in(s: &str, base: &Path) -> Result<Self, InvalidValue> {
        if s == "system" {
            return Ok(RootCert::System);
        }
        existing_file_in("sslrootcert", s, base).map(RootCert::File)
    }
}

impl FromStr for RootCert {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RootCert::parse_in(s, Path::new("."))
    }
}

impl fmt::Display for RootCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RootCert::System => f.write_str("system"),
            RootCert::File(path) => write!(f, "{}", path.display()),
        }
    }
}

impl Serialize for RootCert {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A file that exists, kept as an absolute path so that a cron job started
/// elsewhere finds it too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct CertFile(PathBuf);

impl CertFile {
    pub fn parse_in(what: &str, s: &str, base: &Path) -> Result<Self, InvalidValue> {
        existing_file_in(what, s, base).map(CertFile)
    }

    /// A path read back from storage; not checked again.
    pub(crate) fn stored(path: PathBuf) -> Self {
        CertFile(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl fmt::Display for CertFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.display())
    }
}

fn existing_file_in(what: &str, s: &str, base: &Path) -> Result<PathBuf, InvalidValue> {
    if s.is_empty() {
        return Err(InvalidValue(format!("{what} must not be empty")));
    }
    let path = base.join(s);
    match std::fs::metadata(&path) {
        Ok(meta) if meta.is_file() => {
            std::path::absolute(&path).map_err(|err| InvalidValue(format!("{what} '{s}': {err}")))
        }
        Ok(_) => Err(InvalidValue(format!("{what} '{s}' is not a regular file"))),
        Err(err) => Err(InvalidValue(format!("{what} '{s}': {err}"))),
    }
}

/// Which target: the registry's key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TargetKey {
    pub env: EnvName,
    pub db: DbName,
}

impl fmt::Display for TargetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.env.as_str(), self.db.as_str())
    }
}

/// A label's key: `[a-z0-9][a-z0-9_.-]*`, at most 63 bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LabelKey(String);

impl LabelKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for LabelKey {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut chars = s.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let rest_ok =
            chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c));
        if first_ok && rest_ok && s.len() <= MAX_IDENTIFIER_BYTES {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidValue(format!(
                "invalid label key '{}': use 1 to 63 characters from a-z, 0-9, '_', '.' and '-', \
                 starting with a letter or digit (e.g. 'region', 'tier')",
                s.escape_debug()
            )))
        }
    }
}

/// One label, `KEY=VALUE`, as `--label` and `--where` take it. A value has
/// no control characters and no `;` (the separator of the CSV column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub key: LabelKey,
    pub value: String,
}

impl FromStr for Label {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((key, value)) = s.split_once('=') else {
            return Err(InvalidValue(format!(
                "invalid label '{}': use KEY=VALUE (e.g. region=eu)",
                s.escape_debug()
            )));
        };
        let key: LabelKey = key.parse()?;
        if value.chars().any(|c| c.is_control() || c == ';') || value.len() > 255 {
            return Err(InvalidValue(format!(
                "invalid value of label '{}': at most 255 bytes, without ';' or control characters",
                key.as_str()
            )));
        }
        Ok(Label { key, value: value.to_owned() })
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.key.as_str(), self.value)
    }
}

/// A target's labels, ordered by key. Boxed, and `None` when there are
/// none, so that a [`Target`], which plans carry by value, stays small.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[allow(clippy::box_collection)] // one pointer instead of a map's three words
pub struct Labels(Option<Box<BTreeMap<LabelKey, String>>>);

impl Labels {
    pub fn iter(&self) -> impl Iterator<Item = (&LabelKey, &String)> {
        self.0.iter().flat_map(|map| map.iter())
    }

    fn get(&self, key: &LabelKey) -> Option<&String> {
        self.0.as_ref().and_then(|map| map.get(key))
    }

    pub fn set(&mut self, label: &Label) {
        self.0.get_or_insert_default().insert(label.key.clone(), label.value.clone());
    }

    pub fn unset(&mut self, key: &LabelKey) {
        if let Some(map) = &mut self.0 {
            map.remove(key);
            if map.is_empty() {
                self.0 = None;
            }
        }
    }

    /// True when the target has every one of `wanted`.
    pub fn has_all(&self, wanted: &[Label]) -> bool {
        wanted.iter().all(|label| self.get(&label.key) == Some(&label.value))
    }

    /// `k=v;k=v`, as the CSV column and the store hold them.
    pub fn to_text(&self) -> String {
        self.iter().map(|(k, v)| format!("{}={v}", k.as_str())).collect::<Vec<_>>().join(";")
    }

    /// Reads [`Labels::to_text`]'s form; empty is no labels.
    pub fn parse_text(text: &str) -> Result<Self, InvalidValue> {
        let mut labels = Labels::default();
        for part in text.split(';').filter(|part| !part.is_empty()) {
            labels.insert_new(part.parse()?)?;
        }
        Ok(labels)
    }

    /// Adds `label`, refusing a key given before.
    pub fn insert_new(&mut self, label: Label) -> Result<(), InvalidValue> {
        if self.get(&label.key).is_some() {
            return Err(InvalidValue(format!("label '{}' is given twice", label.key.as_str())));
        }
        self.0.get_or_insert_default().insert(label.key, label.value);
        Ok(())
    }
}

impl Serialize for Labels {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter().map(|(k, v)| (k.as_str(), v)))
    }
}

/// A cluster named on the command line, `HOST[:PORT]` (`[::1]:5432` for an
/// IPv6 address with a port): without a port, the host's clusters on any
/// port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterRef {
    pub host: Host,
    pub port: Option<u16>,
}

impl ClusterRef {
    pub fn matches(&self, target: &Target) -> bool {
        if target.host == self.host && self.port.is_none_or(|port| port == target.port) {
            return true;
        }
        // `db1:5433,db2:5434` reads as a list with port 5434 and as a list
        // of entries with their own ports (on any port): either matches.
        self.host.is_list() && self.port.is_some() && target.host.as_str() == self.to_string()
    }
}

impl FromStr for ClusterRef {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || {
            InvalidValue(format!(
                "invalid cluster '{}': use HOST or HOST:PORT ([ADDRESS]:PORT for IPv6)",
                s.escape_debug()
            ))
        };
        let (host, port) = if host_list::is_list(s) {
            // A list's own last entry may end in a port: the port is the
            // target's only if what stays before it is a valid list.
            match s.rsplit_once(':') {
                Some((list, port))
                    if !port.is_empty()
                        && port.bytes().all(|b| b.is_ascii_digit())
                        && list.parse::<Host>().is_ok() =>
                {
                    (list, Some(port))
                }
                _ => (s, None),
            }
        } else if let Some(rest) = s.strip_prefix('[') {
            let (address, after) = rest.split_once(']').ok_or_else(invalid)?;
            match after {
                "" => (address, None),
                _ => (address, Some(after.strip_prefix(':').ok_or_else(invalid)?)),
            }
        } else {
            match s.rsplit_once(':') {
                // More than one colon and no brackets: an IPv6 address alone.
                Some((host, port)) if !host.contains(':') => (host, Some(port)),
                _ => (s, None),
            }
        };
        let port = match port {
            None => None,
            Some(port) => Some(port.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(invalid)?),
        };
        Ok(ClusterRef { host: host.parse()?, port })
    }
}

impl fmt::Display for ClusterRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = self.host.as_str();
        match self.port {
            Some(port) if host.contains(':') && !self.host.is_list() => {
                write!(f, "[{host}]:{port}")
            }
            Some(port) => write!(f, "{host}:{port}"),
            None => f.write_str(host),
        }
    }
}

/// A target database and how to reach it: what `registry add` records and
/// what `registry export` writes. Its identity is (env, host, port, db):
/// one database name may live on many clusters of an env.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub key: TargetKey,
    pub host: Host,
    pub port: u16,
    /// `None`: not set here, so `PGSSLMODE` or libpq's default applies.
    pub sslmode: Option<SslMode>,
    /// `None`: not set here, so `PGSSLNEGOTIATION` or `postgres` applies.
    pub sslnegotiation: Option<SslNegotiation>,
    pub sslrootcert: Option<RootCert>,
    pub sslcert: Option<CertFile>,
    pub sslkey: Option<CertFile>,
    pub admin_user: Option<AdminUser>,
    /// Wins over the env's `admin_password_command` in config.toml.
    pub admin_password_command: Option<PasswordCommand>,
    pub labels: Labels,
    pub active: bool,
    pub notes: Option<String>,
}

pub const DEFAULT_PORT: u16 = 5432;

impl Target {
    /// Rules that involve more than one field.
    pub fn check(&self) -> Result<(), InvalidValue> {
        if let Some(twice) = host_list::duplicate(self.host.as_str(), self.port) {
            return Err(InvalidValue(format!(
                "invalid host list '{}': {twice} is listed twice (port {} is the target's)",
                self.host.as_str(),
                self.port
            )));
        }
        if self.sslnegotiation == Some(SslNegotiation::Direct) {
            let Some(mode) = self.sslmode else {
                return Err(InvalidValue(format!(
                    "sslnegotiation direct needs sslmode require, verify-ca or verify-full on the \
                     entry: without one, sslmode is $PGSSLMODE or prefer, and libpq refuses a \
                     weak sslmode with sslnegotiation=direct ({DIRECT_RISK})"
                )));
            };
            SslNegotiation::Direct.check_with(mode)?;
        }
        match (&self.sslcert, &self.sslkey) {
            (Some(_), None) => {
                Err(InvalidValue::new("sslcert is set but sslkey is not; give both"))
            }
            (None, Some(_)) => {
                Err(InvalidValue::new("sslkey is set but sslcert is not; give both"))
            }
            _ => Ok(()),
        }
    }

    /// The names of the fields in which `other` differs from `self`.
    pub fn differences(&self, other: &Target) -> Vec<&'static str> {
        let mut fields = Vec::new();
        let mut note = |differs: bool, name| {
            if differs {
                fields.push(name);
            }
        };
        note(self.host != other.host, "host");
        note(self.port != other.port, "port");
        note(self.sslmode != other.sslmode, "sslmode");
        note(self.sslnegotiation != other.sslnegotiation, "sslnegotiation");
        note(self.sslrootcert != other.sslrootcert, "sslrootcert");
        note(self.sslcert != other.sslcert, "sslcert");
        note(self.sslkey != other.sslkey, "sslkey");
        note(self.admin_user != other.admin_user, "admin_user");
        note(self.admin_password_command != other.admin_password_command, "admin_password_command");
        note(self.labels != other.labels, "labels");
        note(self.active != other.active, "active");
        note(self.notes != other.notes, "notes");
        fields
    }

    /// A target for unit tests: `env/db` on `db1:5432`, everything else unset.
    #[cfg(test)]
    pub fn example(env: &str, db: &str) -> Target {
        Target {
            key: TargetKey {
                env: env.parse().expect("a valid env"),
                db: db.parse().expect("a valid db"),
            },
            host: Host("db1".into()),
            port: DEFAULT_PORT,
            sslmode: None,
            sslnegotiation: None,
            sslrootcert: None,
            sslcert: None,
            sslkey: None,
            admin_user: None,
            admin_password_command: None,
            labels: Labels::default(),
            active: true,
            notes: None,
        }
    }

    /// `host:port`, the cluster this target's database lives in.
    pub fn cluster(&self) -> String {
        format!("{}:{}", self.host.as_str(), self.port)
    }

    /// Whether `cluster`, as the audit trail records it, is this target's:
    /// its cluster, or one of the servers of its host list (the one a
    /// session reached).
    pub fn recorded_as(&self, cluster: &str) -> bool {
        self.cluster() == cluster
            || (self.host.is_list()
                && self.host.entries(self.port).iter().any(|e| e.to_string() == cluster))
    }

    /// True when `other` is the same registry entry: same env, cluster and
    /// database, whatever its other settings.
    pub fn is(&self, other: &Target) -> bool {
        self.key == other.key && self.host == other.host && self.port == other.port
    }

    /// `env/db (host:port)`, naming the target unambiguously.
    pub fn name(&self) -> String {
        format!("{} ({})", self.key, self.cluster())
    }

    /// `--cluster` naming exactly this target's cluster, as a hint gives it.
    pub fn cluster_ref(&self) -> ClusterRef {
        ClusterRef { host: self.host.clone(), port: Some(self.port) }
    }
}

impl Serialize for Target {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Target", 14)?;
        s.serialize_field("env", self.key.env.as_str())?;
        s.serialize_field("db", self.key.db.as_str())?;
        s.serialize_field("host", self.host.as_str())?;
        s.serialize_field("port", &self.port)?;
        s.serialize_field("sslmode", &self.sslmode)?;
        s.serialize_field("sslnegotiation", &self.sslnegotiation)?;
        s.serialize_field("sslrootcert", &self.sslrootcert)?;
        s.serialize_field("sslcert", &self.sslcert)?;
        s.serialize_field("sslkey", &self.sslkey)?;
        s.serialize_field("admin_user", &self.admin_user.as_ref().map(AdminUser::as_str))?;
        s.serialize_field("admin_password_command", &self.admin_password_command)?;
        s.serialize_field("labels", &self.labels)?;
        s.serialize_field("active", &self.active)?;
        s.serialize_field("notes", &self.notes)?;
        s.end()
    }
}

/// A target as stored, with its bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    #[serde(flatten)]
    pub target: Target,
    pub created_at: String,
    pub updated_at: String,
}

/// The fields `registry update` can clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClearableField {
    Sslmode,
    Sslnegotiation,
    Sslrootcert,
    Sslcert,
    Sslkey,
    AdminUser,
    AdminPasswordCommand,
    Notes,
}

/// What `registry update` changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct TargetChanges {
    pub host: Option<Host>,
    pub port: Option<u16>,
    pub sslmode: Option<SslMode>,
    pub sslnegotiation: Option<SslNegotiation>,
    pub sslrootcert: Option<RootCert>,
    pub sslcert: Option<CertFile>,
    pub sslkey: Option<CertFile>,
    pub admin_user: Option<AdminUser>,
    pub admin_password_command: Option<PasswordCommand>,
    pub notes: Option<String>,
    pub clear: Vec<ClearableField>,
    pub set_labels: Vec<Label>,
    pub unset_labels: Vec<LabelKey>,
}

impl TargetChanges {
    pub fn is_empty(&self) -> bool {
        self.host.is_none()
            && self.port.is_none()
            && self.sslmode.is_none()
            && self.sslnegotiation.is_none()
            && self.sslrootcert.is_none()
            && self.sslcert.is_none()
            && self.sslkey.is_none()
            && self.admin_user.is_none()
            && self.admin_password_command.is_none()
            && self.notes.is_none()
            && self.clear.is_empty()
            && self.set_labels.is_empty()
            && self.unset_labels.is_empty()
    }

    /// Applies the changes to `target` and checks the result.
    pub fn apply(&self, target: &mut Target) -> Result<(), InvalidValue> {
        for field in &self.clear {
            match field {
                ClearableField::Sslmode => target.sslmode = None,
                ClearableField::Sslnegotiation => target.sslnegotiation = None,
                ClearableField::Sslrootcert => target.sslrootcert = None,
                ClearableField::Sslcert => target.sslcert = None,
                ClearableField::Sslkey => target.sslkey = None,
                ClearableField::AdminUser => target.admin_user = None,
                ClearableField::AdminPasswordCommand => target.admin_password_command = None,
                ClearableField::Notes => target.notes = None,
            }
        }
        if let Some(host) = &self.host {
            target.host = host.clone();
        }
        target.port = self.port.unwrap_or(target.port);
        target.sslmode = self.sslmode.or(target.sslmode);
        target.sslnegotiation = self.sslnegotiation.or(target.sslnegotiation);
        replace_if_given(&mut target.sslrootcert, self.sslrootcert.as_ref());
        replace_if_given(&mut target.sslcert, self.sslcert.as_ref());
        replace_if_given(&mut target.sslkey, self.sslkey.as_ref());
        replace_if_given(&mut target.admin_user, self.admin_user.as_ref());
        replace_if_given(&mut target.admin_password_command, self.admin_password_command.as_ref());
        replace_if_given(&mut target.notes, self.notes.as_ref());
        for key in &self.unset_labels {
            target.labels.unset(key);
        }
        for label in &self.set_labels {
            target.labels.set(label);
        }
        target.check()
    }
}

fn replace_if_given<T: Clone>(field: &mut Option<T>, value: Option<&T>) {
    if let Some(value) = value {
        *field = Some(value.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_follow_the_rule() {
        for ok in ["prod", "qa", "0", "qa-2", "eu_west_1", &"a".repeat(32)] {
            assert!(ok.parse::<EnvName>().is_ok(), "{ok} should be valid");
        }
        for bad in ["", "Prod", "-qa", "_qa", "q a", "qa;", "é", &"a".repeat(33)] {
            let err = bad.parse::<EnvName>().unwrap_err();
            assert!(err.to_string().contains("invalid env name"), "{bad}: {err}");
        }
    }

    #[test]
    fn db_names_are_non_empty_and_fit_63_bytes() {
        assert!("orders".parse::<DbName>().is_ok());
        assert!("Mixed Case; name".parse::<DbName>().is_ok());
        assert!("a".repeat(63).parse::<DbName>().is_ok());
        let long = "a".repeat(64).parse::<DbName>().unwrap_err();
        assert!(long.to_string().contains("64 bytes"), "{long}");
        // 32 two-byte characters are 64 bytes: bytes count, not characters.
        assert!("é".repeat(32).parse::<DbName>().is_err());
        assert!("".parse::<DbName>().is_err());
    }

    #[test]
    fn sslmode_round_trips_through_its_name() {
        for mode in SslMode::ALL {
            assert_eq!(mode.as_str().parse::<SslMode>(), Ok(mode));
        }
        let err = "verify_full".parse::<SslMode>().unwrap_err();
        assert!(err.to_string().contains("verify-full"), "{err}");
    }

    #[test]
    fn clusters_are_host_and_optional_port() {
        let parse = |s: &str| s.parse::<ClusterRef>().map(|c| (c.host.0, c.port));
        assert_eq!(parse("db1"), Ok(("db1".into(), None)));
        assert_eq!(parse("db1.example.com:6432"), Ok(("db1.example.com".into(), Some(6432))));
        assert_eq!(
            parse("/var/run/postgresql:5433"),
            Ok(("/var/run/postgresql".into(), Some(5433)))
        );
        assert_eq!(parse("::1"), Ok(("::1".into(), None)));
        assert_eq!(parse("[::1]:5432"), Ok(("::1".into(), Some(5432))));
        assert_eq!(parse("[::1]"), Ok(("::1".into(), None)));
        for shown in ["db1", "db1:6432", "[::1]:5432", "::1"] {
            assert_eq!(shown.parse::<ClusterRef>().unwrap().to_string(), shown);
        }
        for bad in ["db1:", "db1:0", "db1:x", "db1:70000", "[::1]5432", "[::1", ":5432", "a b"] {
            assert!(bad.parse::<ClusterRef>().is_err(), "{bad} should be refused");
        }
        let on = |host: &str, port| Target { host: Host(host.into()), port, ..target() };
        let cluster: ClusterRef = "db1".parse().unwrap();
        assert!(cluster.matches(&on("db1", 5432)) && cluster.matches(&on("db1", 6432)));
        assert!(!cluster.matches(&on("db2", 5432)));
        let cluster: ClusterRef = "db1:6432".parse().unwrap();
        assert!(!cluster.matches(&on("db1", 5432)) && cluster.matches(&on("db1", 6432)));
    }

    #[test]
    fn labels_follow_their_rules_and_round_trip_as_text() {
        for ok in ["region=eu", "tier=", "k8s.io-zone_1=a b=c", "0=x"] {
            assert!(ok.parse::<Label>().is_ok(), "{ok} should be valid");
        }
        for bad in ["region", "Region=eu", "-x=1", "=eu", "a b=c", "k=a;b", "k=a\tb", "é=1"] {
            assert!(bad.parse::<Label>().is_err(), "{bad} should be refused");
        }
        let labels = Labels::parse_text("tier=gold;region=eu").unwrap();
        assert_eq!(labels.to_text(), "region=eu;tier=gold");
        assert_eq!(Labels::parse_text(&labels.to_text()), Ok(labels.clone()));
        assert_eq!(Labels::parse_text(""), Ok(Labels::default()));
        assert!(Labels::parse_text("a=1;a=2").is_err());
        let wanted = ["region=eu".parse().unwrap()];
        assert!(labels.has_all(&wanted) && labels.has_all(&[]));
        assert!(!labels.has_all(&["region=us".parse().unwrap()]));
        assert!(!Labels::default().has_all(&wanted));
    }

    #[test]
    fn hosts_reject_spaces_and_bad_lists() {
        assert!("db1.example.com".parse::<Host>().is_ok());
        assert!("/var/run/postgresql".parse::<Host>().is_ok());
        assert!("::1".parse::<Host>().is_ok());
        assert!("db1,db2:5433".parse::<Host>().is_ok());
        assert!("".parse::<Host>().is_err());
        assert!("db1,,db2".parse::<Host>().is_err());
        assert!("db1, db2".parse::<Host>().is_err());
        assert!("db1 ".parse::<Host>().is_err());
    }

    #[test]
    fn a_host_list_is_one_cluster_named_as_given() {
        let listed = |host: &str, port| Target { host: host.parse().unwrap(), port, ..target() };
        let pair = listed("db1,db2", 5432);
        assert_eq!(pair.cluster(), "db1,db2:5432");
        assert!(pair.recorded_as("db1,db2:5432") && pair.recorded_as("db2:5432"));
        assert!(!pair.recorded_as("db3:5432") && !pair.recorded_as("db2:5433"));
        assert!(!listed("db2", 5432).recorded_as("db1,db2:5432"));

        let cluster = |s: &str| s.parse::<ClusterRef>().unwrap();
        assert!(cluster("db1,db2").matches(&pair) && cluster("db1,db2:5432").matches(&pair));
        assert!(!cluster("db1,db2:5433").matches(&pair) && !cluster("db2").matches(&pair));
        assert_eq!(pair.cluster_ref().to_string(), "db1,db2:5432");
        assert_eq!(pair.cluster_ref().to_string().parse(), Ok(pair.cluster_ref()));

        // Entries with their own ports: the last one's port is no target port.
        let own = listed("db1:5433,db2:5434", 5432);
        assert!(cluster("db1:5433,db2:5434").matches(&own));
        assert!(cluster("db1:5433,db2:5434:5432").matches(&own));
        assert!(!cluster("db1:5433,db2:5434:5435").matches(&own));
        assert_eq!(own.cluster_ref().to_string().parse(), Ok(own.cluster_ref()));
        let v6 = listed("[::1]:5433,[::2]", 5432);
        assert!(cluster(&v6.cluster()).matches(&v6));

        assert!(listed("db1,db1:5432", 5432).check().is_err());
        assert!(listed("db1,db1:5432", 6432).check().is_ok());
    }

    fn target() -> Target {
        Target { notes: Some("first".into()), ..Target::example("dev", "app") }
    }

    #[test]
    fn changes_apply_set_and_clear() {
        let mut t = target();
        let changes = TargetChanges {
            port: Some(6432),
            sslmode: Some(SslMode::Require),
            clear: vec![ClearableField::Notes],
            ..TargetChanges::default()
        };
        changes.apply(&mut t).unwrap();
        assert_eq!(t.port, 6432);
        assert_eq!(t.sslmode, Some(SslMode::Require));
        assert_eq!(t.notes, None);
        assert_eq!(target().differences(&t), ["port", "sslmode", "notes"]);
    }

    #[test]
    fn a_password_command_splits_like_a_shell_without_one() {
        let command: PasswordCommand =
            r#"vault read -field=password "secret/pg admin" it\'s $HOME"#.parse().unwrap();
        assert_eq!(command.program(), "vault");
        assert_eq!(command.args(), ["read", "-field=password", "secret/pg admin", "it's", "$HOME"]);
        assert_eq!(command.to_string().parse::<PasswordCommand>(), Ok(command.clone()));
        assert_eq!(PasswordCommand::from_json(&command.to_json()), Ok(command));
        assert_eq!(PasswordCommand::parse_words("  "), Ok(None), "blank clears");
        for (bad, why) in [
            ("", "names no program"),
            ("vault 'read", "a quote is not closed"),
            ("'' read", "program is empty"),
        ] {
            let err = bad.parse::<PasswordCommand>().unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
        assert!(PasswordCommand::new(vec!["a\0b".into()]).is_err());
        assert!(PasswordCommand::from_json(r#""vault""#).is_err());
    }

    #[test]
    fn direct_negotiation_needs_an_sslmode_that_insists_on_tls() {
        let direct =
            |sslmode| Target { sslmode, sslnegotiation: Some(SslNegotiation::Direct), ..target() };
        for mode in [SslMode::Require, SslMode::VerifyCa, SslMode::VerifyFull] {
            assert!(direct(Some(mode)).check().is_ok(), "{mode}");
        }
        for mode in [SslMode::Disable, SslMode::Allow, SslMode::Prefer] {
            let err = direct(Some(mode)).check().unwrap_err().to_string();
            assert!(
                err.starts_with(&format!(
                    "weak sslmode \"{mode}\" may not be used with sslnegotiation=direct (use \
                     \"require\", \"verify-ca\", or \"verify-full\")"
                )),
                "{err}"
            );
        }
        let err = direct(None).check().unwrap_err().to_string();
        assert!(err.starts_with("sslnegotiation direct needs sslmode require"), "{err}");
        let postgres = Target { sslnegotiation: Some(SslNegotiation::Postgres), ..target() };
        assert!(postgres.check().is_ok());
        assert_eq!("direct".parse(), Ok(SslNegotiation::Direct));
        assert!("DIRECT".parse::<SslNegotiation>().is_err());
    }

    #[test]
    fn a_client_certificate_needs_its_key() {
        let mut t = target();
        t.sslcert = Some(CertFile(PathBuf::from("/tmp/cert.pem")));
        assert!(t.check().unwrap_err().to_string().contains("sslkey"));
    }
}
