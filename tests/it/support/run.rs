//! One way to run the binary in a test, in the style of `just`'s `Test`:
//!
//! ```ignore
//! let rows = Run::new(&sandbox).args("user create-vm --env qa --all").arg("a b").json();
//! Run::new(&sandbox).args("registry show --env qa --db x").expect(2).stderr_contains("no registry entry").run();
//! ```
//!
//! The exit code (0 unless said) and stderr (empty unless said) are always
//! checked, so an unexpected warning fails the test; on any failure the
//! command, its environment, stdout and stderr are printed in full.

#![allow(dead_code)] // the builder offers more than every file uses

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

use serde_json::Value;

use super::Sandbox;

/// A `pgacct` run being set up.
#[must_use = "a Run does nothing until .run() or .json()"]
pub struct Run {
    command: Command,
    stdin: Option<Vec<u8>>,
    code: i32,
    stderr: StderrCheck,
}

enum StderrCheck {
    Empty,
    Is(String),
    Contains(Vec<String>),
    Any,
}

/// What a finished run printed, and its exit code.
#[derive(Debug)]
pub struct Ran {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl Ran {
    /// stdout as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    /// stdout as JSON rows.
    pub fn rows(&self) -> Vec<Value> {
        match self.json() {
            Value::Array(rows) => rows,
            other => panic!("stdout is not a JSON array: {other}"),
        }
    }
}

impl Run {
    /// `pgacct` in the sandbox's clean environment.
    pub fn new(sandbox: &Sandbox) -> Run {
        Run::of(sandbox.std_command())
    }

    /// Any prepared command (another program, or pgacct under a wrapper).
    pub fn of(command: Command) -> Run {
        Run { command, stdin: None, code: 0, stderr: StderrCheck::Empty }
    }

    /// Arguments separated by white space; use [`Run::arg`] for one that
    /// holds spaces.
    pub fn args(mut self, line: &str) -> Run {
        self.command.args(line.split_whitespace());
        self
    }

    /// Arguments as given, one each.
    pub fn arg_list<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Run {
        self.command.args(args);
        self
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Run {
        self.command.arg(arg);
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Run {
        self.command.env(key, value);
        self
    }

    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Run {
        self.command.env_remove(key);
        self
    }

    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Run {
        self.stdin = Some(input.into());
        self
    }

    /// The exit code the run must end with.
    pub fn expect(mut self, code: i32) -> Run {
        self.code = code;
        self
    }

    /// stderr must contain `text` (may be given several times).
    pub fn stderr_contains(mut self, text: &str) -> Run {
        match &mut self.stderr {
            StderrCheck::Contains(texts) => texts.push(text.to_owned()),
            _ => self.stderr = StderrCheck::Contains(vec![text.to_owned()]),
        }
        self
    }

    /// stderr must be exactly `text`.
    pub fn stderr_is(mut self, text: &str) -> Run {
        self.stderr = StderrCheck::Is(text.to_owned());
        self
    }

    /// Whatever stderr says is fine (the test looks at it itself).
    pub fn any_stderr(mut self) -> Run {
        self.stderr = StderrCheck::Any;
        self
    }

    /// Runs with `--format json` and returns stdout as JSON.
    pub fn json(self) -> Value {
        self.args("--format json").run().json()
    }

    /// Runs with `--format json` and returns stdout as JSON rows.
    pub fn rows(self) -> Vec<Value> {
        self.args("--format json").run().rows()
    }

    /// Runs to the end and checks the exit code and stderr.
    pub fn run(self) -> Ran {
        self.spawn().finish()
    }

    /// Starts the run, for a test that acts while it runs (signals it,
    /// closes its stdout); [`Running::finish`] checks it as [`Run::run`] does.
    pub fn spawn(mut self) -> Running {
        self.command.stdin(if self.stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        self.command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = self.command.spawn().unwrap_or_else(|e| panic!("{}: {e}", self.shown()));
        if let Some(input) = self.stdin.take() {
            let mut stdin = child.stdin.take().expect("stdin is piped");
            // The program may exit without reading it all; that is its answer.
            let _ = stdin.write_all(&input);
        }
        Running { child, run: self }
    }

    /// The same run, started by a shell that creates the file `ready` and
    /// then waits for the file `gate` (see `support::spawn_together`). The
    /// shell gets the run's environment, which starts from a clean one.
    pub fn behind_a_gate(mut self, gate: &Path, ready: &Path) -> Run {
        let mut shell = Command::new("sh");
        shell
            .arg("-c")
            .arg(r#": > "$1"; while [ ! -e "$0" ]; do sleep 0.01; done; shift; exec "$@""#)
            .arg(gate)
            .arg(ready)
            .arg(self.command.get_program())
            .args(self.command.get_args())
            .env_clear();
        for (key, value) in self.command.get_envs() {
            match value {
                Some(value) => shell.env(key, value),
                None => shell.env_remove(key),
            };
        }
        if let Some(dir) = self.command.get_current_dir() {
            shell.current_dir(dir);
        }
        self.command = shell;
        self
    }

    fn check(&self, ran: &Ran) {
        let mut wrong = Vec::new();
        if ran.code != self.code {
            wrong.push(format!("exit code {} (expected {})", ran.code, self.code));
        }
        match &self.stderr {
            StderrCheck::Empty if !ran.stderr.is_empty() => {
                wrong.push("stderr is not empty".into());
            }
            StderrCheck::Is(text) if ran.stderr != *text => {
                wrong.push(format!("stderr is not {text:?}"));
            }
            StderrCheck::Contains(texts) => {
                for text in texts.iter().filter(|t| !ran.stderr.contains(t.as_str())) {
                    wrong.push(format!("stderr does not contain {text:?}"));
                }
            }
            _ => {}
        }
        assert!(
            wrong.is_empty(),
            "{}\n{}\n--- stdout\n{}--- stderr\n{}---",
            wrong.join("; "),
            self.shown(),
            ran.stdout,
            ran.stderr
        );
    }

    /// The command and its environment, for a failure report.
    fn shown(&self) -> String {
        let quote = |s: &OsStr| {
            let s = s.to_string_lossy();
            if s.is_empty() || s.contains(|c: char| c.is_whitespace() || "'\"\\$".contains(c)) {
                format!("'{}'", s.replace('\'', r"'\''"))
            } else {
                s.into_owned()
            }
        };
        let mut text = String::from("command:");
        for word in std::iter::once(self.command.get_program()).chain(self.command.get_args()) {
            write!(text, " {}", quote(word)).unwrap();
        }
        text.push_str("\nenvironment:");
        let mut vars: Vec<(&OsStr, Option<&OsStr>)> = self.command.get_envs().collect();
        vars.sort();
        for (key, value) in vars {
            let value = value.map_or_else(|| OsString::from("<removed>"), OsStr::to_owned);
            write!(text, " {}={}", key.to_string_lossy(), quote(&value)).unwrap();
        }
        if let Some(dir) = self.command.get_current_dir() {
            write!(text, "\ndirectory: {}", dir.display()).unwrap();
        }
        text
    }
}

/// A run under way: see [`Run::spawn`].
#[must_use = "a Running is checked by .finish()"]
pub struct Running {
    child: Child,
    run: Run,
}

impl Running {
    /// The process id, to signal it.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Sends the signal `name` (`INT`, `TERM`, ...) to the process.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {}", self.id());
    }

    /// The reading end of stdout; dropping it closes the pipe, as a reader
    /// that goes away (`| head`) does.
    pub fn take_stdout(&mut self) -> ChildStdout {
        self.child.stdout.take().expect("stdout is piped, and taken once")
    }

    /// Whether the process has not ended yet.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("poll the process").is_none()
    }

    /// Kills the process (SIGKILL) and reaps it; nothing is checked.
    pub fn kill(mut self) {
        self.child.kill().expect("kill the process");
        self.child.wait().expect("reap the process");
    }

    /// Waits for the end, and checks the exit code and stderr.
    pub fn finish(self) -> Ran {
        self.wait().check()
    }

    /// Waits for the end, and leaves the checks to [`Ended::check`], for a
    /// test that must clean up first (a stopped server to continue).
    pub fn wait(self) -> Ended {
        let out = self.child.wait_with_output().expect("wait for the program");
        let ran = Ran {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            code: out.status.code().unwrap_or(-1),
        };
        Ended { ran, run: self.run }
    }
}

/// A run that ended, not checked yet: see [`Running::wait`].
#[must_use = "an Ended is checked by .check()"]
pub struct Ended {
    ran: Ran,
    run: Run,
}

impl Ended {
    /// Checks the exit code and stderr, as [`Run::run`] does.
    pub fn check(self) -> Ran {
        self.run.check(&self.ran);
        self.ran
    }
}
