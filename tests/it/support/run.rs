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
use std::process::{Command, Stdio};

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

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Run {
        self.command.arg(arg);
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Run {
        self.command.env(key, value);
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
    pub fn run(mut self) -> Ran {
        self.command.stdin(if self.stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        self.command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = self.command.spawn().unwrap_or_else(|e| panic!("{}: {e}", self.shown()));
        if let Some(input) = self.stdin.take() {
            let mut stdin = child.stdin.take().expect("stdin is piped");
            // The program may exit without reading it all; that is its answer.
            let _ = stdin.write_all(&input);
        }
        let out = child.wait_with_output().expect("wait for the program");
        let ran = Ran {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            code: out.status.code().unwrap_or(-1),
        };
        let mut wrong = Vec::new();
        if ran.code != self.code {
            wrong.push(format!("exit code {} (expected {})", ran.code, self.code));
        }
        match &self.stderr {
            StderrCheck::Empty if !ran.stderr.is_empty() => {
                wrong.push("stderr is not empty".into());
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
        ran
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
