//! What the integration tests share: a sandbox to run the real binary in,
//! and throwaway PostgreSQL clusters.

pub mod cluster;
pub mod fleet;
pub mod local_trail;
pub mod receivers;
pub mod run;
pub mod runner;
pub mod team;
pub mod tls;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub use cluster::Cluster;
pub use run::{Ran, Run, Running};

/// The binary under test.
pub const PGACCT: &str = env!("CARGO_BIN_EXE_pgacct");

/// A private home for one test: its own registry, config and HOME, and an
/// environment with nothing of the developer's in it. The registry is a
/// file, or in team mode ([`team::in_team_mode`]) a team store of its own.
#[derive(Debug)]
pub struct Sandbox {
    dir: tempfile::TempDir,
    team: Option<team::TeamDb>,
}

impl Sandbox {
    /// A sandbox whose store is a file, or a team store in team mode.
    pub fn new() -> Sandbox {
        let mut sandbox = Sandbox::local();
        if team::team_mode() {
            let store = team::TeamDb::create();
            let pgpass = sandbox.path().join("home/.pgpass");
            std::fs::write(&pgpass, store.pgpass_line()).expect("write the store's .pgpass");
            std::fs::set_permissions(&pgpass, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .expect("chmod .pgpass");
            sandbox.team = Some(store);
        }
        sandbox
    }

    /// A sandbox whose store is a file, whatever the mode.
    pub fn local() -> Sandbox {
        let dir = tempfile::Builder::new().prefix("pgacct-test-").tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("home")).expect("create home");
        Sandbox { dir, team: None }
    }

    /// The sandbox's team store, in team mode.
    pub fn team(&self) -> Option<&team::TeamDb> {
        self.team.as_ref()
    }

    /// What the store holds, to compare before and after something that
    /// must write nothing: the file's bytes (empty when there is none), or
    /// the team store's targets and audit trail.
    pub fn store_state(&self) -> String {
        match &self.team {
            None => {
                std::fs::read(self.registry()).map(|bytes| format!("{bytes:?}")).unwrap_or_default()
            }
            Some(store) => {
                let row = store
                    .owner()
                    .query_one(
                        "SELECT (SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY env, db, host, port), '')
                                   FROM targets t),
                                (SELECT count(*) || ' records, head ' || coalesce(max(hash), '-')
                                   FROM audit)",
                        &[],
                    )
                    .expect("read the team store");
                format!("{}\n{}", row.get::<_, String>(0), row.get::<_, String>(1))
            }
        }
    }

    /// Whether the store holds nothing: no file, or a team store without a
    /// target or a record.
    pub fn store_is_empty(&self) -> bool {
        match &self.team {
            None => !self.registry().exists(),
            Some(_) => self.store_state() == "\n0 records, head -",
        }
    }

    /// `SELECT count(*) FROM audit WHERE <condition>` on the store.
    pub fn count_records(&self, condition: &str) -> i64 {
        let sql = format!("SELECT count(*) FROM audit WHERE {condition}");
        match &self.team {
            None => rusqlite::Connection::open(self.registry())
                .unwrap()
                .query_row(&sql, [], |r| r.get(0))
                .unwrap(),
            Some(store) => store.owner().query_one(&sql, &[]).unwrap().get(0),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The registry file the sandbox's commands use (when not in team mode).
    pub fn registry(&self) -> PathBuf {
        self.path().join("registry.db")
    }

    /// Registers `cluster`'s database `db` as target `env/db`, reached over
    /// TCP as the superuser unless `extra` names another `--admin-user`,
    /// with any extra `registry add` options.
    pub fn register(&self, env: &str, db: &str, cluster: &Cluster, extra: &[&str]) {
        let mut run = Run::new(self)
            .args(&format!("registry add --env {env} --host {}", cluster.host()))
            .args(&format!("--port {}", cluster.port()))
            .arg("--db")
            .arg(db); // may hold spaces
        if !extra.contains(&"--admin-user") {
            run = run.args(&format!("--admin-user {}", cluster::SUPERUSER));
        }
        for arg in extra {
            run = run.arg(arg);
        }
        run.stderr_contains(&format!("added {env}/{db} (")).run();
    }

    /// Writes the configuration where pgacct looks by default (under the
    /// sandbox's HOME).
    pub fn write_config(&self, text: &str) -> PathBuf {
        let path = self.path().join("home/.config/pgacct/config.toml");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Writes a file into the sandbox and returns its path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path().join(name);
        std::fs::write(&path, contents).expect("write a sandbox file");
        path
    }

    /// A `pgacct` command with a clean environment, run from the sandbox
    /// (tests run it through [`Run::new`]).
    pub fn std_command(&self) -> Command {
        self.command(PGACCT)
    }

    /// `program` with the sandbox's clean environment, run from the sandbox.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path().join("home"))
            .current_dir(self.path());
        match &self.team {
            None => cmd.env("PGACCT_REGISTRY", self.registry()),
            Some(store) => cmd.env("PGACCT_REGISTRY", store.url()),
        };
        cmd
    }
}

/// Starts `runs` so that they all begin at the same moment: each waits in
/// a shell for a gate file, and the gate opens once every shell has said
/// (with a ready file of its own) that it is waiting.
pub fn spawn_together(sandbox: &Sandbox, runs: Vec<Run>) -> Vec<Running> {
    let dir = sandbox.path().join(format!("together-{}", cluster::random_suffix()));
    std::fs::create_dir(&dir).expect("create the gate's directory");
    let gate = dir.join("gate");
    let ready: Vec<PathBuf> = (0..runs.len()).map(|i| dir.join(format!("ready-{i}"))).collect();
    let running: Vec<Running> = runs
        .into_iter()
        .zip(&ready)
        .map(|(run, ready)| run.behind_a_gate(&gate, ready).spawn())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready.iter().all(|r| r.exists()) {
        assert!(Instant::now() < deadline, "not every gated run got ready within 30 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::fs::write(&gate, "").expect("open the gate");
    running
}

/// Twenty `pgacct registry add` processes at the same moment, adding
/// `ci/db00` to `ci/db19`; each must succeed.
pub fn add_twenty_targets_at_once(sandbox: &Sandbox) {
    let runs = (0..20)
        .map(|i| {
            Run::new(sandbox)
                .args(&format!("registry add --env ci --db db{i:02} --host h"))
                .stderr_is(&format!("added ci/db{i:02} (h:5432)\n"))
        })
        .collect();
    for running in spawn_together(sandbox, runs) {
        running.finish();
    }
}

/// pgacct's test hook (debug builds only): a change stops once its started
/// records are written, says so with a ready-file, and goes on when the
/// test opens the gate.
pub struct Pause {
    gate: PathBuf,
}

impl Pause {
    /// A pause in `sandbox`; ends the test as ignored unless pgacct is a
    /// debug build, which alone has the hook.
    pub fn new(sandbox: &Sandbox) -> Pause {
        if !cfg!(debug_assertions) {
            runner::skip("a debug build: the pause hook exists only there");
        }
        Pause { gate: sandbox.path().join(format!("gate-{}", cluster::random_suffix())) }
    }

    /// `run`, set to pause after its started records.
    pub fn arm(&self, run: Run) -> Run {
        run.env("PGACCT_TEST_PAUSE_AFTER_START", &self.gate)
    }

    /// Waits until the change has stopped at the hook.
    pub fn wait(&self) {
        let mut paused = self.gate.clone().into_os_string();
        paused.push(".paused");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !Path::new(&paused).exists() {
            assert!(Instant::now() < deadline, "pgacct never reached its pause");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Lets the change go on.
    pub fn release(&self) {
        std::fs::write(&self.gate, "").expect("open the gate");
    }
}

/// Runs `pgacct ARGS` on a pseudo-terminal (through `script`), with `vars`
/// set; once the terminal shows `prompt`, types `keys`. Returns what the
/// terminal showed and the exit code.
pub fn on_a_terminal(
    sandbox: &Sandbox,
    args: &str,
    vars: &[(&str, &str)],
    prompt: &str,
    keys: &str,
) -> (String, i32) {
    on_a_terminal_of(100, sandbox, args, vars, prompt, keys)
}

/// [`on_a_terminal`] on a terminal `columns` wide.
pub fn on_a_terminal_of(
    columns: u16,
    sandbox: &Sandbox,
    args: &str,
    vars: &[(&str, &str)],
    prompt: &str,
    keys: &str,
) -> (String, i32) {
    on_a_terminal_answering_after(Duration::ZERO, columns, sandbox, args, vars, prompt, keys)
}

/// [`on_a_terminal_of`], typing `keys` only `pause` after `prompt` shows,
/// as a person takes a moment to answer.
pub fn on_a_terminal_answering_after(
    pause: Duration,
    columns: u16,
    sandbox: &Sandbox,
    args: &str,
    vars: &[(&str, &str)],
    prompt: &str,
    keys: &str,
) -> (String, i32) {
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};

    // A pseudo-terminal starts with no size; a real one has one.
    let command = format!("stty cols {columns} rows 40 2>/dev/null; exec {PGACCT} {args}");
    let mut child = sandbox
        .command("script")
        .args(["-qec", &command, "/dev/null"])
        .env("TERM", "dumb")
        .envs(vars.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn script");
    let shown = Arc::new(Mutex::new(Vec::new()));
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let reader = {
        let shown = Arc::clone(&shown);
        std::thread::spawn(move || {
            let mut buf = [0; 4096];
            while let Ok(n @ 1..) = stdout.read(&mut buf) {
                shown.lock().expect("not poisoned").extend_from_slice(&buf[..n]);
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !String::from_utf8_lossy(&shown.lock().expect("not poisoned")).contains(prompt) {
        assert!(Instant::now() < deadline, "the prompt {prompt:?} never appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(pause);
    child.stdin.as_mut().expect("stdin is piped").write_all(keys.as_bytes()).expect("type");
    let status = child.wait().expect("wait for script");
    reader.join().expect("the reader ends");
    let shown = String::from_utf8_lossy(&shown.lock().expect("not poisoned")).into_owned();
    (shown, status.code().unwrap_or(-1))
}

/// The password in an env-format secret file (`PGPASSWORD=...`, quoted the
/// way a shell reads it).
pub fn read_password_from(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read the secret file");
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix("PGPASSWORD="))
        .unwrap_or_else(|| panic!("no PGPASSWORD in {}", path.display()));
    match value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        Some(quoted) => quoted.replace(r"'\''", "'"),
        None => value.to_owned(),
    }
}
