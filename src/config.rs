//! `config.toml`: settings that are not per target.
//!
//! An absent file means built-in defaults. Unknown keys are errors, so a
//! typo is reported (with the file, line and key) instead of ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::notify::{Channel, ChannelConfig};
use crate::policy::{EnvConfig, Policy, TypeConfig};
use crate::registry::PasswordCommand;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub connection: ConnectionConfig,
    /// `[types.NAME]`: account types, built-in ones changed or new ones.
    #[serde(default)]
    pub types: BTreeMap<String, TypeConfig>,
    /// `[env.NAME]`: per-environment rules.
    #[serde(default)]
    pub env: BTreeMap<String, EnvConfig>,
    /// `[[notify]]`: where to tell about changes.
    #[serde(default)]
    pub notify: Vec<ChannelConfig>,
    /// `[audit]`: where the audit key is.
    #[serde(default)]
    pub audit: crate::audit::KeyConfig,
    /// `[store]`: a team store, and how to log in to it.
    #[serde(default)]
    pub store: StoreConfig,
}

/// `[store]`: the team store to use when neither `--registry` nor
/// `PGACCT_REGISTRY` names a store.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// A `postgresql://` URL, without a password; checked when the file is read.
    pub url: Option<String>,
    /// A program that prints the store password, as its argv; no shell runs.
    pub password_command: Option<PasswordCommand>,
    /// The schema that holds the store, when not `pgacct`.
    pub schema: Option<String>,
}

impl StoreConfig {
    /// The schema that holds the store: `schema`, else `pgacct`.
    pub fn schema(&self) -> Result<crate::store::team::StoreSchema, String> {
        match &self.schema {
            None => crate::store::team::StoreSchema::parse(crate::store::team::DEFAULT_SCHEMA),
            Some(name) => crate::store::team::StoreSchema::parse(name),
        }
        .map_err(|err| format!("[store] schema: {err}"))
    }

    /// The team store `url` names, if any.
    pub fn location(&self) -> Result<Option<crate::store::StoreLocation>, String> {
        let Some(url) = &self.url else { return Ok(None) };
        if !crate::store::StoreLocation::is_url(url) {
            // Never shown: it might be a URL with a typo and a password.
            return Err(
                "[store] url must be a postgresql:// URL or a key=value connection string \
                        (host=... dbname=...)"
                    .into(),
            );
        }
        crate::store::StoreLocation::parse(PathBuf::from(url))
            .map(Some)
            .map_err(|err| format!("[store] url: {err}; {}", err.hint()))
    }
}

impl Config {
    /// The account types and environment rules this configuration sets.
    pub fn policy(&self) -> Policy {
        Policy::new(&self.types, &self.env)
    }

    /// How to connect: `[connection]`, with each env's
    /// `admin_password_command`.
    pub fn connection(&self) -> ConnectionConfig {
        let mut connection = self.connection.clone();
        connection.password_commands = self
            .env
            .iter()
            .filter_map(|(env, rules)| {
                rules.admin_password_command.clone().map(|command| (env.clone(), command))
            })
            .collect();
        connection
    }

    /// The notification channels, checked when the file was read.
    pub fn channels(&self) -> Vec<Channel> {
        self.notify.iter().enumerate().filter_map(|(i, entry)| entry.channel(i + 1).ok()).collect()
    }
}

/// `[connection]`: how pgacct connects and what every session sets.
#[allow(clippy::struct_field_names)] // named after the PostgreSQL settings
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionConfig {
    /// Time allowed to connect, TLS and authentication included;
    /// `PGCONNECT_TIMEOUT` overrides it. Zero waits forever.
    #[serde(deserialize_with = "connect_timeout")]
    pub connect_timeout: Duration,
    /// `lock_timeout` of every session, so DDL never queues forever behind a lock.
    #[serde(deserialize_with = "lock_timeout")]
    pub lock_timeout: Duration,
    /// `statement_timeout` of every session.
    #[serde(deserialize_with = "statement_timeout")]
    pub statement_timeout: Duration,
    /// Time an `admin_password_command` may take before it is killed.
    #[serde(deserialize_with = "admin_password_command_timeout")]
    pub admin_password_command_timeout: Duration,
    /// Each env's `admin_password_command` (`[env.NAME]`, not this table:
    /// see [`Config::connection`]).
    #[serde(skip)]
    pub password_commands: BTreeMap<String, PasswordCommand>,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            connect_timeout: Duration::from_secs(10),
            lock_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
            admin_password_command_timeout: Duration::from_secs(30),
            password_commands: BTreeMap::new(),
        }
    }
}

/// The bounds of each duration key. A session timeout is never zero (that
/// turns it off) and at most a day, well inside PostgreSQL's own limit of
/// `INT_MAX` milliseconds (24.8 days).
const CONNECT_TIMEOUT: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(3600));
const LOCK_TIMEOUT: (Duration, Duration) =
    (Duration::from_millis(1), Duration::from_secs(24 * 3600));
const STATEMENT_TIMEOUT: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(24 * 3600));
/// A password command runs while connections wait for it; a second is too
/// short for a vault login, ten minutes the most a person should wait.
const PASSWORD_COMMAND_TIMEOUT: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(600));
/// A notification is sent while the command waits for it.
const DELIVERY_TIMEOUT: (Duration, Duration) =
    (Duration::from_millis(100), Duration::from_secs(600));

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {} does not exist", .0.display())]
    Missing(PathBuf),
    #[error("cannot read configuration file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid configuration file {}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

impl Config {
    /// Reads `path`. A missing file is an error only when the user named it.
    pub fn load(path: &Path, named_by_user: bool) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return if named_by_user {
                    Err(ConfigError::Missing(path.to_owned()))
                } else {
                    Ok(Config::default())
                };
            }
            Err(source) => return Err(ConfigError::Read { path: path.to_owned(), source }),
        };
        let config: Config = toml::from_str(&text).map_err(|err| ConfigError::Invalid {
            path: path.to_owned(),
            message: err.to_string().trim_end().to_owned(),
        })?;
        config
            .audit
            .check()
            .map_err(|message| ConfigError::Invalid { path: path.to_owned(), message })?;
        config
            .store
            .location()
            .map_err(|message| ConfigError::Invalid { path: path.to_owned(), message })?;
        config
            .store
            .schema()
            .map_err(|message| ConfigError::Invalid { path: path.to_owned(), message })?;
        for (i, entry) in config.notify.iter().enumerate() {
            entry.channel(i + 1).map_err(|message| ConfigError::Invalid {
                path: path.to_owned(),
                message: format!("[[notify]] entry {} ({}): {message}", i + 1, entry.kind),
            })?;
        }
        Ok(config)
    }
}

/// The config file's default location: the platform config directory.
pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "pgacct")
        .map(|dirs| dirs.config_dir().join("config.toml"))
}

/// A duration written the way PostgreSQL settings are: `500ms`, `5s`,
/// `2min`, `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    if number.is_empty() {
        return Err(format!(
            "invalid duration '{text}': expected e.g. \"500ms\", \"5s\", \"2min\""
        ));
    }
    let millis = match unit.trim() {
        "ms" => 1,
        "s" => 1_000,
        "min" => 60_000,
        "h" => 3_600_000,
        _ => return Err(format!("invalid duration '{text}': use the unit ms, s, min or h")),
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(millis))
        .map(Duration::from_millis)
        .ok_or_else(|| format!("duration '{text}' is too long"))
}

/// A duration as [`parse_duration`] reads it, in the largest unit that
/// keeps it exact (sub-millisecond parts are dropped).
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    for (unit, size) in [("h", 3_600_000), ("min", 60_000), ("s", 1_000)] {
        if millis != 0 && millis.is_multiple_of(size) {
            return format!("{}{unit}", millis / size);
        }
    }
    format!("{millis}ms")
}

/// A duration of `key` within `(min, max)`; with `zero`, also `0`.
fn bounded_duration<'de, D: Deserializer<'de>>(
    deserializer: D,
    key: &str,
    (min, max): (Duration, Duration),
    zero: Option<&str>,
) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    let duration = parse_duration(&text).map_err(serde::de::Error::custom)?;
    if (duration.is_zero() && zero.is_some()) || (min..=max).contains(&duration) {
        return Ok(duration);
    }
    let zero = zero.map(|z| format!(", or 0s ({z})")).unwrap_or_default();
    Err(serde::de::Error::custom(format!(
        "{key} is {} to {}{zero}, not {text}",
        format_duration(min),
        format_duration(max),
    )))
}

fn connect_timeout<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    bounded_duration(d, "connect_timeout", CONNECT_TIMEOUT, Some("wait forever"))
}

fn lock_timeout<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    bounded_duration(d, "lock_timeout", LOCK_TIMEOUT, None)
}

fn statement_timeout<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    bounded_duration(d, "statement_timeout", STATEMENT_TIMEOUT, None)
}

fn admin_password_command_timeout<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    bounded_duration(d, "admin_password_command_timeout", PASSWORD_COMMAND_TIMEOUT, None)
}

/// A `[[notify]]` entry's `timeout` (with `#[serde(default)]`).
pub fn delivery_timeout<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    bounded_duration(d, "timeout", DELIVERY_TIMEOUT, None).map(Some)
}

/// A TCP port that may be left out (with `#[serde(default)]`): 1 to 65535.
pub fn optional_port<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    let port = i64::deserialize(d)?;
    u16::try_from(port)
        .ok()
        .filter(|p| *p != 0)
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("port is 1 to 65535, not {port}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_postgres_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2min"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("5 days").is_err());
        assert!(parse_duration("-5s").is_err());
        let err = parse_duration("99999999999999999999h").unwrap_err();
        assert!(err.contains("too long"), "{err}");
        let err = parse_duration("18446744073709551615h").unwrap_err();
        assert!(err.contains("too long"), "{err}");
    }

    #[test]
    fn durations_print_in_the_largest_exact_unit() {
        for (millis, text) in [
            (0, "0ms"),
            (1, "1ms"),
            (1500, "1500ms"),
            (2000, "2s"),
            (120_000, "2min"),
            (7_200_000, "2h"),
        ] {
            assert_eq!(format_duration(Duration::from_millis(millis)), text);
        }
    }

    fn load(text: &str) -> Result<Config, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(&path, true).map_err(|err| err.to_string())
    }

    #[test]
    fn durations_out_of_range_are_refused_with_the_line_and_key() {
        for (text, line, why) in [
            (
                "[connection]\nstatement_timeout = \"600h\"\n",
                2,
                "statement_timeout is 1s to 24h, not 600h",
            ),
            (
                "[connection]\nstatement_timeout = \"0s\"\n",
                2,
                "statement_timeout is 1s to 24h, not 0s",
            ),
            ("[connection]\nstatement_timeout = \"999ms\"\n", 2, "statement_timeout is 1s to 24h"),
            ("[connection]\n\nlock_timeout = \"25h\"\n", 3, "lock_timeout is 1ms to 24h, not 25h"),
            ("[connection]\nlock_timeout = \"0ms\"\n", 2, "lock_timeout is 1ms to 24h, not 0ms"),
            (
                "[connection]\nconnect_timeout = \"2h\"\n",
                2,
                "connect_timeout is 1s to 1h, or 0s (wait forever)",
            ),
            ("[connection]\nconnect_timeout = \"500ms\"\n", 2, "connect_timeout is 1s to 1h"),
            ("[connection]\nlock_timeout = \"99999999999999999999h\"\n", 2, "too long"),
            (
                "[[notify]]\nkind = \"command\"\nprogram = \"true\"\ntimeout = \"0s\"\n",
                4,
                "timeout is 100ms to 10min, not 0s",
            ),
            (
                "[[notify]]\nkind = \"command\"\nprogram = \"true\"\ntimeout = \"1h\"\n",
                4,
                "timeout is 100ms to 10min, not 1h",
            ),
            (
                "[[notify]]\nkind = \"email\"\nhost = \"mx\"\nport = 0\n",
                4,
                "port is 1 to 65535, not 0",
            ),
            ("[[notify]]\nkind = \"email\"\nport = 70000\n", 3, "port is 1 to 65535, not 70000"),
        ] {
            let err = load(text).unwrap_err();
            assert!(
                err.contains("config.toml")
                    && err.contains(&format!("line {line}"))
                    && err.contains(why),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn durations_at_their_bounds_load() {
        let config = load(
            "[connection]\nconnect_timeout = \"0s\"\nlock_timeout = \"1ms\"\n\
             statement_timeout = \"24h\"\n\n[[notify]]\nkind = \"command\"\nprogram = \"true\"\n\
             timeout = \"10min\"\n",
        )
        .unwrap();
        assert_eq!(config.connection.connect_timeout, Duration::ZERO);
        assert_eq!(config.connection.lock_timeout, Duration::from_millis(1));
        assert_eq!(config.connection.statement_timeout, Duration::from_secs(86_400));
        assert_eq!(config.channels()[0].timeout, Duration::from_secs(600));
        let config =
            load("[connection]\nconnect_timeout = \"1h\"\nstatement_timeout = \"1s\"\n").unwrap();
        assert_eq!(config.connection.connect_timeout, Duration::from_secs(3600));
    }

    #[test]
    fn errors_name_the_line_and_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "[connection]\nlock_timeout = \"5s\"\nstatement_timout = \"1s\"\n")
            .unwrap();
        let err = Config::load(&path, false).unwrap_err().to_string();
        assert!(err.contains("line 3") && err.contains("statement_timout"), "{err}");

        std::fs::write(&path, "[connection]\nlock_timeout = 5\n").unwrap();
        let err = Config::load(&path, false).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("lock_timeout"), "{err}");
    }

    #[test]
    fn password_commands_are_argv_lists_per_env() {
        let config = load(
            "[env.prod]\nadmin_password_command = [\"vault\", \"read\", \"-field=password\", \"pg/prod\"]\n\
             [env.qa]\nprotected = false\n\
             [connection]\nadmin_password_command_timeout = \"2min\"\n",
        )
        .unwrap();
        let connection = config.connection();
        assert_eq!(connection.admin_password_command_timeout, Duration::from_secs(120));
        let prod = &connection.password_commands["prod"];
        assert_eq!((prod.program(), prod.args().len()), ("vault", 3));
        assert!(!connection.password_commands.contains_key("qa"));
        assert_eq!(
            Config::default().connection().admin_password_command_timeout,
            Duration::from_secs(30)
        );

        for (text, why) in [
            ("[env.qa]\nadmin_password_command = []\n", "names no program"),
            ("[env.qa]\nadmin_password_command = [\"\"]\n", "program is empty"),
            ("[env.qa]\nadmin_password_command = \"vault read\"\n", "expected a sequence"),
            ("[connection]\nadmin_password_command_timeout = \"0s\"\n", "1s to 10min"),
        ] {
            let err = load(text).unwrap_err();
            assert!(err.contains("line 2") && err.contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn a_missing_file_is_only_an_error_when_named() {
        let missing = Path::new("/nonexistent/pgacct/config.toml");
        assert!(Config::load(missing, false).is_ok());
        assert!(matches!(Config::load(missing, true), Err(ConfigError::Missing(_))));
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Keys and values a `config.toml` is made of, right and wrong.
    fn line() -> impl Strategy<Value = String> {
        let key = prop::sample::select(vec![
            "connect_timeout",
            "lock_timeout",
            "statement_timeout",
            "timeout",
            "port",
            "kind",
            "program",
            "valid_for_days",
            "connection_limit",
            "password_length",
            "member_of",
            "template",
            "k8s_prefix",
            "allow_privileged",
            "attributes",
            "protected",
            "url",
        ]);
        let value = prop_oneof![
            (any::<u64>(), prop::sample::select(vec!["ms", "s", "min", "h", "", " h", "d"]))
                .prop_map(|(n, u)| format!("\"{n}{u}\"")),
            (0u64..100_000_000, prop::sample::select(vec!["ms", "s", "min", "h"]))
                .prop_map(|(n, u)| format!("\"{n}{u}\"")),
            any::<i64>().prop_map(|n| n.to_string()),
            (-2i64..70_000).prop_map(|n| n.to_string()),
            ".{0,16}".prop_map(|s| format!("{s:?}")),
            prop::sample::select(vec![
                "\"command\"",
                "\"email\"",
                "\"webhook\"",
                "true",
                "[\"postgres\"]",
                "[\"REPLICATION\"]",
                "\"{name}\"",
                "1.5e300",
                "[]",
                "{}",
            ])
            .prop_map(str::to_owned),
        ];
        let header = prop::sample::select(vec![
            "",
            "[connection]",
            "[types.x]",
            "[env.qa]",
            "[[notify]]",
            "[types.vm]",
        ]);
        (header, key, value).prop_map(|(h, k, v)| format!("{h}\n{k} = {v}"))
    }

    proptest! {
        #[test]
        fn durations_never_panic(text in ".{0,30}") {
            let _ = parse_duration(&text);
        }

        #[test]
        fn a_duration_printed_reads_back(millis in any::<u64>()) {
            let duration = Duration::from_millis(millis);
            prop_assert_eq!(parse_duration(&format_duration(duration)), Ok(duration));
        }

        #[test]
        fn a_duration_reads_as_its_number_and_unit(
            n in any::<u64>(),
            (unit, size) in prop::sample::select(vec![("ms", 1u64), ("s", 1000), ("min", 60_000), ("h", 3_600_000)]),
        ) {
            let parsed = parse_duration(&format!("{n}{unit}"));
            match n.checked_mul(size) {
                Some(millis) => prop_assert_eq!(parsed, Ok(Duration::from_millis(millis))),
                None => prop_assert!(parsed.is_err()),
            }
        }

        /// Loading never panics; what loads is in range, and whatever the
        /// file says, the policy and channels can be built from it.
        #[test]
        fn loading_never_panics(lines in prop::collection::vec(line(), 0..6)) {
            let text = lines.join("\n");
            match toml::from_str::<Config>(&text) {
                Ok(config) => {
                    let c = &config.connection;
                    prop_assert!(c.connect_timeout.is_zero() || (CONNECT_TIMEOUT.0..=CONNECT_TIMEOUT.1).contains(&c.connect_timeout));
                    prop_assert!((LOCK_TIMEOUT.0..=LOCK_TIMEOUT.1).contains(&c.lock_timeout));
                    prop_assert!((STATEMENT_TIMEOUT.0..=STATEMENT_TIMEOUT.1).contains(&c.statement_timeout));
                    let _ = config.policy();
                    for entry in &config.notify {
                        if let Ok(channel) = entry.channel(1) {
                            prop_assert!((DELIVERY_TIMEOUT.0..=DELIVERY_TIMEOUT.1).contains(&channel.timeout));
                        }
                    }
                }
                Err(err) => prop_assert!(!err.to_string().is_empty()),
            }
        }
    }
}
