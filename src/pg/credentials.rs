//! The admin password: where pgacct looks for it, in DESIGN.md §4's order.
//!
//! 1. `PGACCT_ADMIN_PASSWORD_<ENV>` (the env name upper-cased)
//! 2. `PGACCT_ADMIN_PASSWORD`
//! 3. `PG_ADMIN_PASS`
//! 4. `PGPASSWORD`
//! 5. `admin_password_command`: the target's, else its env's in config.toml
//! 6. the password file (`PGPASSFILE`, else `~/.pgpass`)
//!
//! then, only when the server asks for a password and stdin is a terminal,
//! a prompt (see [`super::Prompt`]), asked once per user and host set.
//!
//! The team store's password is the user's own, not an admin's: only
//! `PGPASSWORD`, then `[store] password_command`, then the password file.

use std::collections::HashMap;
use std::fmt;
use std::io::Read as _;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;
use zeroize::Zeroizing;

use super::pgpass::{self, PassFile, Unusable};
use super::settings::{ConnSettings, Endpoint, LibpqEnv};
use crate::registry::{Host, PasswordCommand};
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
    /// The program of a password command: which setting, and its program.
    Command {
        setting: &'static str,
        program: String,
    },
    PassFile(PathBuf),
    Prompt,
}

impl fmt::Display for PasswordSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordSource::Variable(name) => write!(f, "${name}"),
            PasswordSource::Command { setting, program } => write!(f, "{setting} {program}"),
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
    /// The `admin_password_command` failed: the error when the server asks
    /// for a password. The places after it are not looked at.
    pub command_failed: Option<CommandFailure>,
}

/// An `admin_password_command` gave no password. Names the program and
/// what went wrong, never what it printed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting} {program} {problem}")]
pub struct CommandFailure {
    /// The setting that names the command: `admin_password_command`, or
    /// `[store] password_command`.
    pub setting: &'static str,
    pub program: String,
    pub problem: String,
}

/// The settings that name a password command, as messages name them.
const ADMIN_COMMAND: &str = "admin_password_command";
const STORE_COMMAND: &str = "[store] password_command";

/// At most this much output is read: far more than any password or token.
const MAX_OUTPUT: u64 = 64 * 1024;

/// What a run of a password command gave, kept for the rest of the run.
type CommandResult = Result<AdminPassword, CommandFailure>;

/// The password sources of one run: the environment, the password file
/// read once, and each password command run at most once.
#[derive(Debug)]
pub struct Credentials {
    env: LibpqEnv,
    passfile_path: Option<PathBuf>,
    passfile: Result<PassFile, Unusable>,
    commands: Mutex<HashMap<PasswordCommand, Arc<OnceCell<CommandResult>>>>,
}

impl Credentials {
    pub fn load(env: &LibpqEnv) -> Credentials {
        let account_home = || directories::BaseDirs::new().map(|dirs| dirs.home_dir().to_owned());
        let passfile_path = pgpass::location(env.get("PGPASSFILE"), env.get("HOME"), account_home);
        let passfile = match &passfile_path {
            Some(path) => PassFile::read(path),
            None => Err(Unusable::NotFound),
        };
        Credentials { env: env.clone(), passfile_path, passfile, commands: Mutex::default() }
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

    /// Looks for the password for `settings`, in order: the admin's for a
    /// target, the user's own for the team store.
    pub async fn find(&self, settings: &ConnSettings) -> Lookup {
        let (variables, setting, none_set) = match &settings.target {
            Endpoint::Target(key) => {
                let env_name = key.env.as_str();
                let variables = vec![
                    LibpqEnv::per_env_password_variable(env_name),
                    "PGACCT_ADMIN_PASSWORD".to_owned(),
                    "PG_ADMIN_PASS".to_owned(),
                    "PGPASSWORD".to_owned(),
                ];
                let none_set =
                    format!("admin_password_command (none for the target or [env.{env_name}])");
                (variables, ADMIN_COMMAND, none_set)
            }
            Endpoint::Store => (
                vec!["PGPASSWORD".to_owned()],
                STORE_COMMAND,
                format!("{STORE_COMMAND} (none in config.toml)"),
            ),
        };
        let mut looked_at = Vec::new();
        for name in variables {
            if let Some(value) = self.env.get(&name) {
                let password = AdminPassword(Zeroizing::new(value.as_bytes().to_vec()));
                let found = (password, PasswordSource::Variable(name));
                return Lookup { found: Some(found), looked_at, command_failed: None };
            }
            looked_at.push(format!("${name}"));
        }
        if let Some(command) = &settings.password_command {
            let (found, command_failed) =
                match self.run_once(command, settings.password_command_timeout).await {
                    Ok(password) => {
                        let program = command.program().to_owned();
                        (Some((password, PasswordSource::Command { setting, program })), None)
                    }
                    Err(failure) => (None, Some(CommandFailure { setting, ..failure })),
                };
            return Lookup { found, looked_at, command_failed };
        }
        looked_at.push(none_set);
        let Some(path) = &self.passfile_path else {
            looked_at.push("~/.pgpass (no HOME)".to_owned());
            return Lookup { found: None, looked_at, command_failed: None };
        };
        let note = match &self.passfile {
            Ok(file) => {
                let line =
                    file.lookup(&settings.host, settings.port, &settings.dbname, &settings.user);
                if let Some(password) = line {
                    let password = AdminPassword(password);
                    let found = (password, PasswordSource::PassFile(path.clone()));
                    return Lookup { found: Some(found), looked_at, command_failed: None };
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
        Lookup { found: None, looked_at, command_failed: None }
    }

    /// The password `command` prints, running it the first time only:
    /// every target that names the same command waits for that one run.
    async fn run_once(&self, command: &PasswordCommand, timeout: Duration) -> CommandResult {
        let cell = {
            let mut commands = self.commands.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(commands.entry(command.clone()).or_default())
        };
        let run = || async {
            let command = command.clone();
            let program = command.program().to_owned();
            tokio::task::spawn_blocking(move || run(&command, timeout)).await.unwrap_or_else(|_| {
                Err(CommandFailure {
                    setting: ADMIN_COMMAND,
                    program,
                    problem: "stopped unexpectedly".into(),
                })
            })
        };
        cell.get_or_init(run).await.clone()
    }
}

/// What the password prompt remembers an answer by: the user and the set
/// of hosts (of a host list, in any order), not the ports, so that several
/// clusters of one host ask once.
pub fn prompt_key(settings: &ConnSettings) -> String {
    let mut hosts: Vec<String> = match settings.host.parse::<Host>() {
        Ok(host) => host.entries(settings.port).into_iter().map(|entry| entry.host).collect(),
        Err(_) => vec![settings.host.clone()],
    };
    // Host names compare as DNS does; socket directories exactly.
    for host in &mut hosts {
        if !host.starts_with('/') {
            host.make_ascii_lowercase();
        }
    }
    hosts.sort_unstable();
    hosts.dedup();
    format!("{}@{}", settings.user, hosts.join(","))
}

/// Runs `command` without a shell, stdin from /dev/null and stderr on the
/// user's terminal, for at most `timeout`; its stdout less one trailing
/// newline is the password.
fn run(command: &PasswordCommand, timeout: Duration) -> CommandResult {
    let fail = |problem: String| CommandFailure {
        setting: ADMIN_COMMAND,
        program: command.program().to_owned(),
        problem,
    };
    let mut child = Command::new(command.program())
        .args(command.args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|err| {
            fail(match err.kind() {
                std::io::ErrorKind::NotFound => {
                    "was not found (is it installed and on PATH?)".into()
                }
                std::io::ErrorKind::PermissionDenied => {
                    "cannot be run: permission denied (is it executable?)".into()
                }
                _ => format!("cannot be run: {err}"),
            })
        })?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let (sender, output) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Zeroizing::new(Vec::with_capacity(1024));
        let mut read = stdout.by_ref().take(MAX_OUTPUT + 1).read_to_end(&mut bytes);
        // Too much: the rest is read and dropped, so that the program ends
        // as it would (not of a broken pipe) and says so by its status.
        if read.is_ok() && u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_OUTPUT {
            read = std::io::copy(&mut stdout, &mut std::io::sink()).map(|_| 0);
        }
        let _ = sender.send(read.map(|_| bytes));
    });
    let deadline = Instant::now() + timeout;
    let status = wait_until(&mut child, deadline).map_err(fail)?;
    if !status.success() {
        return Err(fail(match status.code() {
            Some(code) => format!("failed with exit status {code}"),
            None => "was killed by a signal".into(),
        }));
    }
    // A process the program left behind may hold stdout open: wait for it
    // no longer than the time that is left.
    let left = deadline.saturating_duration_since(Instant::now());
    let bytes = match output.recv_timeout(left) {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(err)) => return Err(fail(format!("could not be read: {err}"))),
        Err(_) => {
            return Err(fail("exited, but something it started keeps its stdout open".into()));
        }
    };
    password_from_output(bytes).map_err(|problem| fail(problem.into()))
}

/// Waits for `child` to exit, killing it at `deadline`.
fn wait_until(child: &mut std::process::Child, deadline: Instant) -> Result<ExitStatus, String> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("did not finish in time and was killed \
                            ([connection] admin_password_command_timeout in config.toml)"
                    .into());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(err) => return Err(format!("could not be waited for: {err}")),
        }
    }
}

/// The password in a command's output: all of it but one trailing newline.
fn password_from_output(mut bytes: Zeroizing<Vec<u8>>) -> Result<AdminPassword, &'static str> {
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_OUTPUT {
        return Err("printed more than 64 KiB, which is no password");
    }
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
    }
    if bytes.is_empty() {
        return Err("printed no password");
    }
    if bytes.contains(&0) {
        return Err("printed a NUL byte, which no PostgreSQL password can hold");
    }
    Ok(AdminPassword(bytes))
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

    fn block_on<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
    }

    /// A command that runs `body` in a shell. (Not a script file: a file
    /// written by one test thread while another forks can be "busy" for
    /// exec.)
    fn script(body: &str) -> PasswordCommand {
        PasswordCommand::new(vec!["/bin/sh".into(), "-c".into(), body.into()]).unwrap()
    }

    /// Every source set, each to its own name; removing the winner each
    /// time must reveal the next one.
    #[test]
    fn each_source_wins_over_the_ones_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let passfile = dir.path().join("pgpass");
        std::fs::write(&passfile, "db1:5432:orders:admin:from-file\n").unwrap();
        std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o600)).unwrap();
        let command = script("echo from-command");
        let mut sources = vec![
            ("PGACCT_ADMIN_PASSWORD_QA_2", "per-env"),
            ("PGACCT_ADMIN_PASSWORD", "pgacct"),
            ("PG_ADMIN_PASS", "pg-admin-pass"),
            ("PGPASSWORD", "pgpassword"),
        ];
        let pgpassfile = passfile.to_str().unwrap();
        let mut with_command = settings();
        with_command.password_command = Some(command.clone());
        loop {
            let mut pairs = sources.clone();
            pairs.push(("PGPASSFILE", pgpassfile));
            let credentials = Credentials::load(&LibpqEnv::from_pairs(&pairs));
            let lookup = block_on(credentials.find(&with_command));
            let (secret, source) = lookup.found.unwrap();
            if sources.is_empty() {
                assert_eq!(secret.as_bytes(), b"from-command");
                let program = command.program().to_owned();
                assert_eq!(source, PasswordSource::Command { setting: ADMIN_COMMAND, program });
                let lookup = block_on(credentials.find(&settings()));
                let (secret, source) = lookup.found.unwrap();
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
        let lookup = block_on(credentials.find(&settings()));
        assert!(lookup.found.is_none());
        assert_eq!(
            lookup.looked_at,
            [
                "$PGACCT_ADMIN_PASSWORD_QA_2".to_owned(),
                "$PGACCT_ADMIN_PASSWORD".to_owned(),
                "$PG_ADMIN_PASS".to_owned(),
                "$PGPASSWORD".to_owned(),
                "admin_password_command (none for the target or [env.qa-2])".to_owned(),
                format!("{} (ignored: group or world readable)", passfile.display()),
            ]
        );
        let warnings = credentials.warnings();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("group or world access (mode 0644)"), "{warnings:?}");
    }

    #[test]
    fn a_command_prints_the_password_with_one_newline_removed() {
        let second = Duration::from_secs(5);
        let printed = |body: &str| run(&script(body), second);
        assert_eq!(printed("printf 'pw\\n'").unwrap().as_bytes(), b"pw");
        assert_eq!(printed("printf 'pw'").unwrap().as_bytes(), b"pw");
        assert_eq!(printed("printf ' p w\\n\\n'").unwrap().as_bytes(), b" p w\n");
        assert_eq!(printed("printf '\\377\\n'").unwrap().as_bytes(), b"\xff", "bytes as they are");
        // Arguments reach the program as they are, without a shell.
        let echo =
            PasswordCommand::new(vec!["printf".into(), "%s".into(), "$HOME *".into()]).unwrap();
        assert_eq!(run(&echo, second).unwrap().as_bytes(), b"$HOME *");
    }

    #[test]
    fn a_failing_command_is_named_and_its_output_never_shown() {
        let failure = |body: &str, timeout: u64| {
            let command = script(body);
            let failure = run(&command, Duration::from_secs(timeout)).unwrap_err();
            assert_eq!(failure.program, command.program());
            failure.problem
        };
        assert_eq!(failure("echo s3cret; exit 3", 5), "failed with exit status 3");
        assert_eq!(failure("kill -9 $$", 5), "was killed by a signal");
        assert_eq!(failure("true", 5), "printed no password");
        assert_eq!(failure("echo", 5), "printed no password");
        assert!(failure("printf 'a\\000b'", 5).contains("NUL byte"));
        assert!(failure("head -c 70000 /dev/zero | tr '\\0' x", 5).contains("more than 64 KiB"));
        let started = Instant::now();
        assert!(failure("sleep 30", 1).contains("did not finish in time"));
        assert!(started.elapsed() < Duration::from_secs(10));
        // A child that keeps stdout open after the program exits.
        assert!(failure("(sleep 30 &) ; echo pw", 1).contains("keeps its stdout open"));
        let missing = PasswordCommand::new(vec!["/nonexistent/vault".into()]).unwrap();
        let failure = run(&missing, Duration::from_secs(1)).unwrap_err();
        assert_eq!(
            failure.to_string(),
            "admin_password_command /nonexistent/vault was not found (is it installed and on PATH?)"
        );
    }

    /// Concurrent lookups of one command run it once, and a failure is
    /// remembered too.
    #[test]
    fn a_command_runs_once_per_run() {
        let dir = tempfile::tempdir().unwrap();
        let count = dir.path().join("count");
        let body = format!("echo x >> '{}'; sleep 0.2; echo pw", count.display());
        let mut with_command = settings();
        with_command.password_command = Some(script(&body));
        let credentials = Credentials::load(&LibpqEnv::default());
        let lookups = block_on(async {
            let all = (0..5).map(|_| credentials.find(&with_command));
            futures_util::future::join_all(all).await
        });
        for lookup in lookups {
            assert_eq!(lookup.found.unwrap().0.as_bytes(), b"pw");
        }
        assert_eq!(std::fs::read_to_string(&count).unwrap(), "x\n");

        with_command.password_command =
            Some(script(&format!("echo x >> '{}'; exit 1", count.display())));
        for _ in 0..2 {
            let lookup = block_on(credentials.find(&with_command));
            assert!(lookup.found.is_none());
            assert_eq!(lookup.command_failed.unwrap().problem, "failed with exit status 1");
        }
        assert_eq!(std::fs::read_to_string(&count).unwrap(), "x\nx\n");
    }

    #[test]
    fn prompts_are_remembered_per_user_and_host_set() {
        let on = |host: &str, port: u16| ConnSettings { host: host.into(), port, ..settings() };
        let key = |host: &str, port: u16| prompt_key(&on(host, port));
        assert_eq!(key("db1", 5432), "admin@db1");
        assert_eq!(key("db1", 5432), key("DB1", 6432), "one host, another port");
        assert_eq!(key("db1,db2:5433", 5432), key("db2,db1", 6432), "one host set");
        assert_eq!(key("[::1]:5433,db1", 5432), key("db1,::1", 5432));
        assert_ne!(key("db1,db2", 5432), key("db1", 5432));
        assert_ne!(key("/run/pg", 5432), key("/run/PG", 5432), "directories are exact");
        let other_user = ConnSettings { user: "someone_else".into(), ..on("db1", 5432) };
        assert_ne!(prompt_key(&other_user), key("db1", 5432));
    }
}
