//! Connection settings for one target: its registry row first, then the
//! libpq environment, then libpq's defaults.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::ConnectionConfig;
use crate::registry::{
    CertFile, InvalidValue, PasswordCommand, RootCert, SslMode, SslNegotiation, Target, TargetKey,
};

/// The environment variables pgacct reads, captured once per run so that
/// every target sees the same values (and tests can supply their own).
#[derive(Debug, Clone, Default)]
pub struct LibpqEnv {
    vars: BTreeMap<String, String>,
}

/// Variables read by name; `PGACCT_ADMIN_PASSWORD_<ENV>` is read by prefix.
const VARIABLES: &[&str] = &[
    "PGSSLMODE",
    "PGSSLNEGOTIATION",
    "PGSSLROOTCERT",
    "PGSSLCERT",
    "PGSSLKEY",
    "PGCONNECT_TIMEOUT",
    "PGPASSFILE",
    "PGAPPNAME",
    "PGHOST",
    "PGPORT",
    "PGDATABASE",
    "PGUSER",
    "PGPASSWORD",
    "PGACCT_ADMIN_USER",
    "PG_ADMIN_USER",
    "PGACCT_ADMIN_PASSWORD",
    "PG_ADMIN_PASS",
    "HOME",
];

pub const PER_ENV_PASSWORD_PREFIX: &str = "PGACCT_ADMIN_PASSWORD_";

/// An environment variable with a value pgacct cannot use.
#[derive(Debug, thiserror::Error)]
#[error("invalid {name}: {message}")]
pub struct InvalidEnvironment {
    pub name: &'static str,
    pub message: String,
}

impl LibpqEnv {
    /// Captures the process environment and checks the values that are
    /// not per target, so a bad one fails before any connection.
    pub fn from_process() -> Result<LibpqEnv, InvalidEnvironment> {
        let mut vars = BTreeMap::new();
        // `vars_os`: a variable that is not UTF-8 must not stop pgacct
        // unless it is one pgacct reads, and then with a clear error.
        for (name, value) in std::env::vars_os() {
            let Some(name) = name.to_str() else { continue };
            let wanted = VARIABLES.iter().find(|known| **known == name).copied().or_else(|| {
                name.starts_with(PER_ENV_PASSWORD_PREFIX).then_some("PGACCT_ADMIN_PASSWORD_<ENV>")
            });
            let Some(shown) = wanted else { continue };
            let value = value.into_string().map_err(|_| InvalidEnvironment {
                name: shown,
                message: format!("{name} is not valid UTF-8"),
            })?;
            vars.insert(name.to_owned(), value);
        }
        let env = LibpqEnv { vars };
        env.sslmode()?;
        env.sslnegotiation()?;
        env.connect_timeout()?;
        Ok(env)
    }

    #[cfg(test)]
    pub fn from_pairs(pairs: &[(&str, &str)]) -> LibpqEnv {
        LibpqEnv { vars: pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect() }
    }

    /// A variable's value; unset and empty are the same, as in libpq.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    fn sslmode(&self) -> Result<Option<SslMode>, InvalidEnvironment> {
        self.get("PGSSLMODE")
            .map(str::parse)
            .transpose()
            .map_err(|err| InvalidEnvironment { name: "PGSSLMODE", message: format!("{err}") })
    }

    fn sslnegotiation(&self) -> Result<Option<SslNegotiation>, InvalidEnvironment> {
        self.get("PGSSLNEGOTIATION").map(str::parse).transpose().map_err(|err| InvalidEnvironment {
            name: "PGSSLNEGOTIATION",
            message: format!("{err}"),
        })
    }

    /// `PGCONNECT_TIMEOUT` in seconds, as libpq reads it: 0 waits forever
    /// (returned as zero), and values below 2 count as 2.
    fn connect_timeout(&self) -> Result<Option<Duration>, InvalidEnvironment> {
        let Some(text) = self.get("PGCONNECT_TIMEOUT") else { return Ok(None) };
        let seconds: u64 = text.trim().parse().map_err(|_| InvalidEnvironment {
            name: "PGCONNECT_TIMEOUT",
            message: format!("'{text}' is not a whole number of seconds"),
        })?;
        Ok(Some(if seconds == 0 { Duration::ZERO } else { Duration::from_secs(seconds.max(2)) }))
    }

    fn home(&self) -> Option<&Path> {
        self.get("HOME").map(Path::new)
    }

    /// A file in `~/.postgresql/`, where libpq looks for default
    /// certificates, if it exists.
    fn dot_postgresql(&self, name: &str) -> Option<PathBuf> {
        self.home().map(|home| home.join(".postgresql").join(name)).filter(|path| path.is_file())
    }

    /// The per-environment password variable for `env`: upper-cased, with
    /// `-` as `_` so that shells can set it.
    pub fn per_env_password_variable(env: &str) -> String {
        format!("{PER_ENV_PASSWORD_PREFIX}{}", env.to_ascii_uppercase().replace('-', "_"))
    }
}

/// What a session is for: a registered target (as its admin), or the
/// team store (as the person running pgacct). It decides where the
/// password is looked for and how messages name the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Target(TargetKey),
    Store,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Target(key) => key.fmt(f),
            Endpoint::Store => f.write_str("the team store"),
        }
    }
}

/// Everything needed to open a session to one target, except the password.
#[derive(Debug, Clone)]
pub struct ConnSettings {
    pub target: Endpoint,
    /// Host name, IP address, or socket directory.
    pub host: String,
    pub port: u16,
    pub dbname: String,
    pub user: String,
    pub sslmode: SslMode,
    pub sslnegotiation: SslNegotiation,
    pub sslrootcert: Option<RootCert>,
    pub sslcert: Option<PathBuf>,
    pub sslkey: Option<PathBuf>,
    /// `None` waits forever.
    pub connect_timeout: Option<Duration>,
    pub application_name: String,
    /// Startup options of the connection string (`-c name=value ...`),
    /// sent before pgacct's own timeouts.
    pub options: Option<String>,
    pub lock_timeout: Duration,
    pub statement_timeout: Duration,
    /// The target's `admin_password_command`, else its env's.
    pub password_command: Option<PasswordCommand>,
    /// How long the password command may run.
    pub password_command_timeout: Duration,
}

impl ConnSettings {
    /// Resolves the settings for `target`.
    pub fn resolve(target: &Target, env: &LibpqEnv, config: &ConnectionConfig) -> ConnSettings {
        let tls = Tls::resolve(
            Tls {
                sslmode: target.sslmode,
                sslnegotiation: target.sslnegotiation,
                sslrootcert: target.sslrootcert.clone(),
                sslcert: target.sslcert.as_ref().map(|c| CertFile::path(c).to_owned()),
                sslkey: target.sslkey.as_ref().map(|k| CertFile::path(k).to_owned()),
            },
            env,
        );
        let password_command = target
            .admin_password_command
            .clone()
            .or_else(|| config.password_commands.get(target.key.env.as_str()).cloned());
        let connect_timeout =
            env.connect_timeout().ok().flatten().unwrap_or(config.connect_timeout);
        ConnSettings {
            target: Endpoint::Target(target.key.clone()),
            host: target.host.as_str().to_owned(),
            port: target.port,
            dbname: target.key.db.as_str().to_owned(),
            user: admin_user(target, env),
            sslmode: tls.sslmode.unwrap_or_default(),
            sslnegotiation: tls.sslnegotiation.unwrap_or_default(),
            sslrootcert: tls.sslrootcert,
            sslcert: tls.sslcert,
            sslkey: tls.sslkey,
            connect_timeout: (!connect_timeout.is_zero()).then_some(connect_timeout),
            application_name: env.get("PGAPPNAME").unwrap_or("pgacct").to_owned(),
            options: None,
            lock_timeout: config.lock_timeout,
            statement_timeout: config.statement_timeout,
            password_command,
            password_command_timeout: config.admin_password_command_timeout,
        }
    }

    /// The settings for the team store of `conn` (its connection string),
    /// then the libpq environment (`PGHOST`, `PGPORT`, `PGUSER`,
    /// `PGDATABASE`, `PGSSLMODE`, ...), then libpq's defaults: the OS
    /// user, a database named after the user. `password_command` is
    /// `[store] password_command`.
    pub fn for_store(
        conn: &StoreConn,
        env: &LibpqEnv,
        config: &ConnectionConfig,
        password_command: Option<PasswordCommand>,
    ) -> ConnSettings {
        let tls = Tls::resolve(conn.tls.clone(), env);
        let user = conn
            .user
            .clone()
            .or_else(|| env.get("PGUSER").map(str::to_owned))
            .or_else(|| whoami::username().ok())
            .unwrap_or_else(|| "postgres".to_owned());
        let dbname = conn
            .dbname
            .clone()
            .or_else(|| env.get("PGDATABASE").map(str::to_owned))
            .unwrap_or_else(|| user.clone());
        let host = conn
            .host
            .clone()
            .or_else(|| env.get("PGHOST").map(str::to_owned))
            .unwrap_or_else(default_socket_directory);
        let port = conn.port.or_else(|| env.get("PGPORT")?.trim().parse().ok()).unwrap_or(5432);
        let connect_timeout = conn
            .connect_timeout
            .or_else(|| env.connect_timeout().ok().flatten())
            .unwrap_or(config.connect_timeout);
        ConnSettings {
            target: Endpoint::Store,
            host,
            port,
            dbname,
            user,
            sslmode: tls.sslmode.unwrap_or_default(),
            sslnegotiation: tls.sslnegotiation.unwrap_or_default(),
            sslrootcert: tls.sslrootcert,
            sslcert: tls.sslcert,
            sslkey: tls.sslkey,
            connect_timeout: (!connect_timeout.is_zero()).then_some(connect_timeout),
            application_name: conn
                .application_name
                .clone()
                .or_else(|| env.get("PGAPPNAME").map(str::to_owned))
                .unwrap_or_else(|| "pgacct".to_owned()),
            options: conn.options.clone(),
            lock_timeout: config.lock_timeout,
            statement_timeout: config.statement_timeout,
            password_command,
            password_command_timeout: config.admin_password_command_timeout,
        }
    }

    /// Rules between settings that libpq checks before it connects: a
    /// `PGSSLNEGOTIATION=direct` from the environment meets the target's
    /// sslmode only here. As in libpq, also for a Unix socket, where TLS
    /// is then not used at all.
    pub fn check(&self) -> Result<(), InvalidValue> {
        self.sslnegotiation.check_with(self.sslmode)
    }

    /// Whether TLS starts with a handshake at once: `direct`, on TCP.
    pub fn direct_tls(&self) -> bool {
        self.sslnegotiation == SslNegotiation::Direct && !self.is_socket()
    }

    /// A host starting with `/` is a Unix-socket directory, as in libpq.
    pub fn is_socket(&self) -> bool {
        self.host.starts_with('/')
    }

    /// `host:port`: the cluster, as messages and the audit trail name it.
    pub fn cluster(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// The admin role: the row's `admin_user`, else `PGACCT_ADMIN_USER`, else
/// `PG_ADMIN_USER`, else `PGUSER`, else the OS user.
pub fn admin_user(target: &Target, env: &LibpqEnv) -> String {
    if let Some(user) = &target.admin_user {
        return user.as_str().to_owned();
    }
    ["PGACCT_ADMIN_USER", "PG_ADMIN_USER", "PGUSER"]
        .into_iter()
        .find_map(|name| env.get(name))
        .map(str::to_owned)
        .or_else(|| whoami::username().ok())
        .unwrap_or_else(|| "postgres".to_owned())
}

/// The team store's connection string, as given: what it leaves out comes
/// from the libpq environment, then libpq's defaults
/// ([`ConnSettings::for_store`]). Never a password.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreConn {
    /// A host, a socket directory, or a host list (`db1:5433,db2`).
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub dbname: Option<String>,
    pub tls: Tls,
    pub connect_timeout: Option<Duration>,
    pub application_name: Option<String>,
    /// `-c name=value ...`, sent at startup.
    pub options: Option<String>,
}

/// TLS settings as given; what is not given comes from the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tls {
    pub sslmode: Option<SslMode>,
    pub sslnegotiation: Option<SslNegotiation>,
    pub sslrootcert: Option<RootCert>,
    pub sslcert: Option<PathBuf>,
    pub sslkey: Option<PathBuf>,
}

impl Tls {
    /// `given`, completed from the libpq environment and `~/.postgresql/`
    /// as libpq completes it; `sslmode` and `sslnegotiation` are always set.
    fn resolve(given: Tls, env: &LibpqEnv) -> Tls {
        let sslrootcert = match (given.sslrootcert, env.get("PGSSLROOTCERT")) {
            (Some(cert), _) => Some(cert),
            (None, Some("system")) => Some(RootCert::System),
            (None, Some(path)) => Some(RootCert::File(PathBuf::from(path))),
            (None, None) => env.dot_postgresql("root.crt").map(RootCert::File),
        };
        // libpq: with sslrootcert=system and no sslmode given, verify-full.
        let default_mode = match sslrootcert {
            Some(RootCert::System) => SslMode::VerifyFull,
            _ => SslMode::Prefer,
        };
        let sslmode =
            given.sslmode.or_else(|| env.sslmode().ok().flatten()).unwrap_or(default_mode);
        let sslcert = given
            .sslcert
            .or_else(|| env.get("PGSSLCERT").map(PathBuf::from))
            .or_else(|| env.dot_postgresql("postgresql.crt"));
        let sslkey = given
            .sslkey
            .or_else(|| env.get("PGSSLKEY").map(PathBuf::from))
            .or_else(|| sslcert.as_ref().and_then(|_| env.dot_postgresql("postgresql.key")));
        let sslnegotiation = given
            .sslnegotiation
            .or_else(|| env.sslnegotiation().ok().flatten())
            .unwrap_or_default();
        Tls {
            sslmode: Some(sslmode),
            sslnegotiation: Some(sslnegotiation),
            sslrootcert,
            sslcert,
            sslkey,
        }
    }
}

/// Where libpq looks for the server's socket when no host is given: the
/// directory Debian's and Red Hat's packages use, else `/tmp`.
fn default_socket_directory() -> String {
    ["/var/run/postgresql", "/tmp"]
        .into_iter()
        .find(|dir| Path::new(dir).is_dir())
        .unwrap_or("/tmp")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target::example("prod", "orders")
    }

    #[test]
    fn the_admin_user_comes_from_the_row_then_the_environment() {
        let all = [("PGACCT_ADMIN_USER", "a"), ("PG_ADMIN_USER", "b"), ("PGUSER", "c")];
        let mut row = target();
        row.admin_user = Some("from_row".parse().unwrap());
        assert_eq!(admin_user(&row, &LibpqEnv::from_pairs(&all)), "from_row");
        assert_eq!(admin_user(&target(), &LibpqEnv::from_pairs(&all)), "a");
        assert_eq!(admin_user(&target(), &LibpqEnv::from_pairs(&all[1..])), "b");
        assert_eq!(admin_user(&target(), &LibpqEnv::from_pairs(&all[2..])), "c");
        let os_user = whoami::username().unwrap();
        assert_eq!(admin_user(&target(), &LibpqEnv::from_pairs(&[("PGUSER", "")])), os_user);
    }

    #[test]
    fn the_row_wins_over_the_environment_for_tls() {
        let env =
            LibpqEnv::from_pairs(&[("PGSSLMODE", "require"), ("PGSSLROOTCERT", "/etc/ca.pem")]);
        let config = ConnectionConfig::default();
        let from_env = ConnSettings::resolve(&target(), &env, &config);
        assert_eq!(from_env.sslmode, SslMode::Require);
        assert_eq!(from_env.sslrootcert, Some(RootCert::File("/etc/ca.pem".into())));

        let mut row = target();
        row.sslmode = Some(SslMode::VerifyCa);
        row.sslrootcert = Some(RootCert::System);
        let from_row = ConnSettings::resolve(&row, &env, &config);
        assert_eq!(from_row.sslmode, SslMode::VerifyCa);
        assert_eq!(from_row.sslrootcert, Some(RootCert::System));
    }

    #[test]
    fn libpq_defaults_apply_when_nothing_is_set() {
        let settings =
            ConnSettings::resolve(&target(), &LibpqEnv::default(), &ConnectionConfig::default());
        assert_eq!(settings.sslmode, SslMode::Prefer);
        assert_eq!(settings.application_name, "pgacct");
        assert_eq!(settings.connect_timeout, Some(Duration::from_secs(10)));

        let env = LibpqEnv::from_pairs(&[("PGSSLROOTCERT", "system")]);
        let system = ConnSettings::resolve(&target(), &env, &ConnectionConfig::default());
        assert_eq!(system.sslmode, SslMode::VerifyFull);
    }

    #[test]
    fn sslnegotiation_comes_from_the_row_then_the_environment_and_follows_libpq() {
        let config = ConnectionConfig::default();
        let mut row = target();
        let resolve = |row: &Target, pairs: &[(&str, &str)]| {
            ConnSettings::resolve(row, &LibpqEnv::from_pairs(pairs), &config)
        };
        assert_eq!(resolve(&row, &[]).sslnegotiation, SslNegotiation::Postgres);
        let direct = resolve(&row, &[("PGSSLNEGOTIATION", "direct"), ("PGSSLMODE", "require")]);
        assert_eq!(direct.sslnegotiation, SslNegotiation::Direct);
        assert!(direct.check().is_ok() && direct.direct_tls());
        // The default sslmode, prefer, is too weak for direct: libpq's words.
        let weak = resolve(&row, &[("PGSSLNEGOTIATION", "direct")]);
        assert_eq!(
            weak.check().unwrap_err().to_string().split(':').next().unwrap(),
            r#"weak sslmode "prefer" may not be used with sslnegotiation=direct (use "require", "verify-ca", or "verify-full")"#
        );
        row.sslmode = Some(SslMode::VerifyFull);
        row.sslnegotiation = Some(SslNegotiation::Postgres);
        let from_row = resolve(&row, &[("PGSSLNEGOTIATION", "direct")]);
        assert_eq!(from_row.sslnegotiation, SslNegotiation::Postgres);
        assert!(LibpqEnv::from_pairs(&[("PGSSLNEGOTIATION", "Direct")]).sslnegotiation().is_err());
        // A socket checks the rule as libpq does, and never starts TLS.
        row.host = "/run/postgresql".parse().unwrap();
        row.sslnegotiation = Some(SslNegotiation::Direct);
        let socket = resolve(&row, &[]);
        assert!(socket.check().is_ok() && !socket.direct_tls());
    }

    #[test]
    fn the_targets_password_command_wins_over_its_envs() {
        let mut config = ConnectionConfig::default();
        config.password_commands.insert("prod".into(), "env-wide --env prod".parse().unwrap());
        let env = LibpqEnv::default();
        let mut row = target();
        let command = |row: &Target| {
            ConnSettings::resolve(row, &env, &config).password_command.map(|c| c.to_string())
        };
        assert_eq!(command(&row).as_deref(), Some("env-wide --env prod"));
        row.admin_password_command = Some("own 'one arg'".parse().unwrap());
        assert_eq!(command(&row).as_deref(), Some("own 'one arg'"));
        assert_eq!(command(&Target::example("qa", "orders")), None);
    }

    #[test]
    fn the_store_takes_its_url_then_the_environment_then_libpq_defaults() {
        let config = ConnectionConfig::default();
        let command: PasswordCommand = "vault read".parse().unwrap();
        let env = LibpqEnv::from_pairs(&[
            ("PGHOST", "envhost"),
            ("PGPORT", "6000"),
            ("PGUSER", "envuser"),
            ("PGDATABASE", "envdb"),
            ("PGSSLMODE", "require"),
            ("PGACCT_ADMIN_USER", "admin"),
        ]);
        let given = StoreConn {
            host: Some("db1,db2:5433".into()),
            port: Some(5434),
            user: Some("owner".into()),
            dbname: Some("teamdb".into()),
            tls: Tls { sslmode: Some(SslMode::VerifyFull), ..Tls::default() },
            options: Some("-c work_mem=8MB".into()),
            ..StoreConn::default()
        };
        let store = ConnSettings::for_store(&given, &env, &config, Some(command.clone()));
        assert_eq!(store.target, Endpoint::Store);
        assert_eq!((store.host.as_str(), store.port), ("db1,db2:5433", 5434));
        assert_eq!((store.user.as_str(), store.dbname.as_str()), ("owner", "teamdb"));
        assert_eq!(store.sslmode, SslMode::VerifyFull);
        assert_eq!(store.options.as_deref(), Some("-c work_mem=8MB"));
        assert_eq!(store.password_command, Some(command));

        let from_env = ConnSettings::for_store(&StoreConn::default(), &env, &config, None);
        assert_eq!((from_env.host.as_str(), from_env.port), ("envhost", 6000));
        assert_eq!((from_env.user.as_str(), from_env.dbname.as_str()), ("envuser", "envdb"));
        assert_eq!(from_env.sslmode, SslMode::Require);

        // libpq's defaults: the OS user, a database of the user's name, the
        // admin variables not read.
        let env = LibpqEnv::from_pairs(&[("PGACCT_ADMIN_USER", "admin")]);
        let defaults = ConnSettings::for_store(&StoreConn::default(), &env, &config, None);
        let os_user = whoami::username().unwrap();
        assert_eq!(
            (defaults.user.as_str(), defaults.dbname.as_str()),
            (os_user.as_str(), os_user.as_str())
        );
        assert!(defaults.is_socket() && defaults.port == 5432, "{defaults:?}");
        assert_eq!(defaults.sslmode, SslMode::Prefer);
    }

    #[test]
    fn pgconnect_timeout_reads_like_libpq() {
        let timeout = |value| {
            let env = LibpqEnv::from_pairs(&[("PGCONNECT_TIMEOUT", value)]);
            ConnSettings::resolve(&target(), &env, &ConnectionConfig::default()).connect_timeout
        };
        assert_eq!(timeout("3"), Some(Duration::from_secs(3)));
        assert_eq!(timeout("1"), Some(Duration::from_secs(2)));
        assert_eq!(timeout("0"), None);
        assert!(LibpqEnv::from_pairs(&[("PGCONNECT_TIMEOUT", "soon")]).connect_timeout().is_err());
    }

    #[test]
    fn per_env_password_variables_are_shell_friendly() {
        assert_eq!(LibpqEnv::per_env_password_variable("prod"), "PGACCT_ADMIN_PASSWORD_PROD");
        assert_eq!(LibpqEnv::per_env_password_variable("qa-2"), "PGACCT_ADMIN_PASSWORD_QA_2");
    }
}
