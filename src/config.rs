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
}

impl Config {
    /// The account types and environment rules this configuration sets.
    pub fn policy(&self) -> Policy {
        Policy::new(&self.types, &self.env)
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
    #[serde(deserialize_with = "duration")]
    pub connect_timeout: Duration,
    /// `lock_timeout` of every session, so DDL never queues forever behind a lock.
    #[serde(deserialize_with = "duration")]
    pub lock_timeout: Duration,
    /// `statement_timeout` of every session.
    #[serde(deserialize_with = "duration")]
    pub statement_timeout: Duration,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            connect_timeout: Duration::from_secs(10),
            lock_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
        }
    }
}

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
    let number: u64 = number.parse().map_err(|_| {
        format!("invalid duration '{text}': expected e.g. \"500ms\", \"5s\", \"2min\"")
    })?;
    let millis = match unit.trim() {
        "ms" => 1,
        "s" => 1_000,
        "min" => 60_000,
        "h" => 3_600_000,
        _ => return Err(format!("invalid duration '{text}': use the unit ms, s, min or h")),
    };
    Ok(Duration::from_millis(number.saturating_mul(millis)))
}

fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

/// [`duration`], for a key that may be left out (with `#[serde(default)]`).
pub fn optional_duration<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    duration(deserializer).map(Some)
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
    fn a_missing_file_is_only_an_error_when_named() {
        let missing = Path::new("/nonexistent/pgacct/config.toml");
        assert!(Config::load(missing, false).is_ok());
        assert!(matches!(Config::load(missing, true), Err(ConfigError::Missing(_))));
    }
}
