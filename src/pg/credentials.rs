//! The admin password: where pgacct looks for it, in DESIGN.md §4's order.
//!
//! 1. `PGACCT_ADMIN_PASSWORD_<ENV>` (the env name upper-cased)
//! 2. `PGACCT_ADMIN_PASSWORD`
//! 3. `PG_ADMIN_PASS`
//! 4. `PGPASSWORD`
//! 5. the password file (`PGPASSFILE`, else `~/.pgpass`)
//!
//! then, only when the server asks for a password and stdin is a terminal,
//! a prompt (see [`super::Prompt`]).

use std::fmt;
use std::path::PathBuf;

use zeroize::Zeroizing;

use super::pgpass::{self, PassFile, Unusable};
use super::settings::{ConnSettings, LibpqEnv};
use crate::secret::Secret;

/// The admin password as the bytes sent to the server: libpq sends a
/// password-file entry as it is, UTF-8 or not, and so does pgacct.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminPassword(Zeroizing<Vec<u8>>);

impl AdminPassword {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<&Secret> for AdminPassword {
    fn from(secret: &Secret) -> Self {
        AdminPassword(Zeroizing::new(secret.expose().as_bytes().to_vec()))
    }
}

impl fmt::Debug for AdminPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminPassword(<redacted>)")
    }
}

/// Where a password was found: said in messages, never the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    Variable(String),
    PassFile(PathBuf),
    Prompt,
}

impl fmt::Display for PasswordSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordSource::Variable(name) => write!(f, "${name}"),
            PasswordSource::PassFile(path) => write!(f, "the password file {}", path.display()),
            PasswordSource::Prompt => f.write_str("the prompt"),
        }
    }
}

/// The result of looking for a password.
#[derive(Debug)]
pub struct Lookup {
    pub found: Option<(AdminPassword, PasswordSource)>,
    /// Every place looked at, in order, for the error when none is found.
    pub looked_at: Vec<String>,
}

/// The password sources of one run: the environment, and the password
/// file read once.
#[derive(Debug)]
pub struct Credentials {
    env: LibpqEnv,
    passfile_path: Option<PathBuf>,
    passfile: Result<PassFile, Unusable>,
}

impl Credentials {
    pub fn load(env: &LibpqEnv) -> Credentials {
        let account_home = || directories::BaseDirs::new().map(|dirs| dirs.home_dir().to_owned());
        let passfile_path = pgpass::location(env.get("PGPASSFILE"), env.get("HOME"), account_home);
        let passfile = match &passfile_path {
            Some(path) => PassFile::read(path),
            None => Err(Unusable::NotFound),
        };
        Credentials { env: env.clone(), passfile_path, passfile }
    }

    /// Problems with the password file that the user should hear about once.
    pub fn warnings(&self) -> Vec<String> {
        let (Some(path), Err(problem)) = (&self.passfile_path, &self.passfile) else {
            return Vec::new();
        };
        let path = path.display();
        match problem {
            Unusable::NotFound => Vec::new(),
            Unusable::TooOpen { mode } => vec![format!(
                "password file {path} has group or world access (mode {mode:04o}); ignoring it \
                 (chmod 0600 {path})"
            )],
            Unusable::NotAFile => vec![format!("password file {path} is not a file; ignoring it")],
            Unusable::Unreadable(err) => {
                vec![format!("cannot read password file {path}: {err}; ignoring it")]
            }
        }
    }

    /// Looks for the admin password for `settings`, in order.
    pub fn find(&self, settings: &ConnSettings) -> Lookup {
        let env_name = settings.target.env.as_str();
        let variables = [
            LibpqEnv::per_env_password_variable(env_name),
            "PGACCT_ADMIN_PASSWORD".to_owned(),
            "PG_ADMIN_PASS".to_owned(),
            "PGPASSWORD".to_owned(),
        ];
        let mut looked_at = Vec::new();
        for name in variables {
            if let Some(value) = self.env.get(&name) {
                let password = AdminPassword(Zeroizing::new(value.as_bytes().to_vec()));
                let found = (password, PasswordSource::Variable(name));
                return Lookup { found: Some(found), looked_at };
            }
            looked_at.push(format!("${name}"));
        }
        let Some(path) = &self.passfile_path else {
            looked_at.push("~/.pgpass (no HOME)".to_owned());
            return Lookup { found: None, looked_at };
        };
        let note = match &self.passfile {
            Ok(file) => {
                let line =
                    file.lookup(&settings.host, settings.port, &settings.dbname, &settings.user);
                if let Some(password) = line {
                    let password = AdminPassword(password);
                    let found = (password, PasswordSource::PassFile(path.clone()));
                    return Lookup { found: Some(found), looked_at };
                }
                format!(
                    "no line for {}:{}:{}:{}",
                    pgpass::lookup_host(&settings.host),
                    settings.port,
                    settings.dbname,
                    settings.user
                )
            }
            Err(Unusable::NotFound) => "not found".to_owned(),
            Err(Unusable::TooOpen { .. }) => "ignored: group or world readable".to_owned(),
            Err(Unusable::NotAFile) => "ignored: not a file".to_owned(),
            Err(Unusable::Unreadable(_)) => "ignored: unreadable".to_owned(),
        };
        looked_at.push(format!("{} ({note})", path.display()));
        Lookup { found: None, looked_at }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::config::ConnectionConfig;
    use crate::registry::Target;

    fn settings() -> ConnSettings {
        let target = Target {
            admin_user: Some("admin".parse().unwrap()),
            ..Target::example("qa-2", "orders")
        };
        ConnSettings::resolve(&target, &LibpqEnv::default(), &ConnectionConfig::default())
    }

    /// Every source set, each to its own name; removing the winner each
    /// time must reveal the next one.
    #[test]
    fn each_source_wins_over_the_ones_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let passfile = dir.path().join("pgpass");
        std::fs::write(&passfile, "db1:5432:orders:admin:from-file\n").unwrap();
        std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut sources = vec![
            ("PGACCT_ADMIN_PASSWORD_QA_2", "per-env"),
            ("PGACCT_ADMIN_PASSWORD", "pgacct"),
            ("PG_ADMIN_PASS", "pg-admin-pass"),
            ("PGPASSWORD", "pgpassword"),
        ];
        let pgpassfile = passfile.to_str().unwrap();
        loop {
            let mut pairs = sources.clone();
            pairs.push(("PGPASSFILE", pgpassfile));
            let lookup = Credentials::load(&LibpqEnv::from_pairs(&pairs)).find(&settings());
            let (secret, source) = lookup.found.unwrap();
            if sources.is_empty() {
                assert_eq!(secret.as_bytes(), b"from-file");
                assert_eq!(source, PasswordSource::PassFile(passfile.clone()));
                break;
            }
            let (name, value) = sources.remove(0);
            assert_eq!(secret.as_bytes(), value.as_bytes());
            assert_eq!(source, PasswordSource::Variable(name.to_owned()));
        }
    }

    #[test]
    fn when_nothing_is_found_every_place_is_listed() {
        let dir = tempfile::tempdir().unwrap();
        let passfile = dir.path().join("pgpass");
        std::fs::write(&passfile, "*:*:*:*:world-readable\n").unwrap();
        std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o644)).unwrap();
        let env = LibpqEnv::from_pairs(&[("PGPASSFILE", passfile.to_str().unwrap())]);
        let credentials = Credentials::load(&env);
        let lookup = credentials.find(&settings());
        assert!(lookup.found.is_none());
        assert_eq!(
            lookup.looked_at,
            [
                "$PGACCT_ADMIN_PASSWORD_QA_2".to_owned(),
                "$PGACCT_ADMIN_PASSWORD".to_owned(),
                "$PG_ADMIN_PASS".to_owned(),
                "$PGPASSWORD".to_owned(),
                format!("{} (ignored: group or world readable)", passfile.display()),
            ]
        );
        let warnings = credentials.warnings();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("group or world access (mode 0644)"), "{warnings:?}");
    }
}
