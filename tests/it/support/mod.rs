//! What the integration tests share: a sandbox to run the real binary in,
//! and throwaway PostgreSQL clusters.

pub mod cluster;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub use cluster::Cluster;

/// The binary under test.
pub const PGACCT: &str = env!("CARGO_BIN_EXE_pgacct");

/// A private home for one test: its own registry, config and HOME, and an
/// environment with nothing of the developer's in it.
#[derive(Debug)]
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::Builder::new().prefix("pgacct-test-").tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("home")).expect("create home");
        Sandbox { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The registry file the sandbox's commands use.
    pub fn registry(&self) -> PathBuf {
        self.path().join("registry.db")
    }

    /// Writes a file into the sandbox and returns its path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path().join(name);
        std::fs::write(&path, contents).expect("write a sandbox file");
        path
    }

    /// A `pgacct` command with a clean environment, run from the sandbox.
    pub fn pgacct(&self) -> assert_cmd::Command {
        assert_cmd::Command::from_std(self.std_command())
    }

    /// Like [`Sandbox::pgacct`], for tests that spawn processes themselves.
    pub fn std_command(&self) -> Command {
        let mut cmd = Command::new(PGACCT);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path().join("home"))
            .env("PGACCT_REGISTRY", self.registry())
            .env("PGACCT_CONFIG", self.path().join("config.toml"))
            .current_dir(self.path());
        cmd
    }
}

/// Starts `commands` so that they begin at the same moment: each waits in a
/// shell for a gate file, and the gate opens once all of them are waiting.
pub fn spawn_together(sandbox: &Sandbox, commands: Vec<Command>) -> Vec<Child> {
    let gate = sandbox.path().join(format!("gate-{}", cluster::random_suffix()));
    let children: Vec<Child> = commands
        .into_iter()
        .map(|cmd| {
            let mut shell = Command::new("sh");
            shell
                .arg("-c")
                .arg(r#"while [ ! -e "$0" ]; do sleep 0.01; done; exec "$@""#)
                .arg(&gate)
                .arg(cmd.get_program())
                .args(cmd.get_args())
                .env_clear()
                .envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            if let Some(dir) = cmd.get_current_dir() {
                shell.current_dir(dir);
            }
            shell.spawn().expect("spawn a gated command")
        })
        .collect();
    // Long enough for every shell to reach its loop on a loaded 2-core box.
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(&gate, "").expect("open the gate");
    children
}
