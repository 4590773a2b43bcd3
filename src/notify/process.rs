//! A command hook: a program that gets the event as JSON on stdin, in
//! pgacct's environment without the secrets in it. [`pipe`] is the runner,
//! also for `--secret-command`.

use std::ffi::OsStr;
use std::io::{Read as _, Write as _};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use super::Event;

/// Runs `program args` with the event on stdin; `exit status 0` when it
/// succeeds. A program still running at `timeout` is killed.
pub fn run(
    program: &str,
    args: &[String],
    event: &Event,
    timeout: Duration,
) -> Result<String, String> {
    let json = serde_json::to_vec(event).map_err(|err| err.to_string())?;
    match pipe(OsStr::new(program), args, &json, timeout) {
        Ok(_) => Ok("exit status 0".into()),
        Err(PipeFailure::CannotRun(err)) => Err(format!("cannot run {program}: {err}")),
        Err(failure) => Err(failure.to_string()),
    }
}

/// The most of a program's stderr kept; the rest is read and dropped.
pub const STDERR_CAP: usize = 4096;

/// How a piped program failed.
#[derive(Debug, thiserror::Error)]
pub enum PipeFailure {
    #[error("cannot be run: {0}")]
    CannotRun(std::io::Error),
    #[error("exit status {code}")]
    Status { code: i32, stderr: String },
    #[error("killed by a signal")]
    Signal { stderr: String },
    #[error("timed out after {} s; killed", .after.as_secs())]
    TimedOut { after: Duration, stderr: String },
    #[error("could not be waited for: {0}")]
    Wait(std::io::Error),
}

impl PipeFailure {
    /// What the program said on stderr before it failed (at most
    /// [`STDERR_CAP`] bytes).
    pub fn stderr(&self) -> &str {
        match self {
            PipeFailure::Status { stderr, .. }
            | PipeFailure::Signal { stderr }
            | PipeFailure::TimedOut { stderr, .. } => stderr,
            PipeFailure::CannotRun(_) | PipeFailure::Wait(_) => "",
        }
    }
}

/// Runs `program args` without a shell, with `input` on stdin, its stdout
/// discarded and its stderr kept (see [`STDERR_CAP`]), in pgacct's
/// environment less its secrets. A program still running at `timeout` is
/// killed. What it said on stderr when it succeeds.
pub fn pipe(
    program: &OsStr,
    args: &[impl AsRef<OsStr>],
    input: &[u8],
    timeout: Duration,
) -> Result<String, PipeFailure> {
    let mut command = Command::new(program);
    for (name, _) in std::env::vars_os().filter(|(name, _)| is_secret(name)) {
        command.env_remove(name);
    }
    let mut child = command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(PipeFailure::CannotRun)?;
    // Written and read on threads of their own: a program that reads
    // nothing, or writes much, holds up neither pipe.
    if let Some(mut stdin) = child.stdin.take() {
        let input = Zeroizing::new(input.to_vec());
        // A program that exits without reading is judged by its exit status.
        std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
    }
    let (sender, said) = mpsc::channel();
    if let Some(mut stderr) = child.stderr.take() {
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let _ = stderr.by_ref().take(STDERR_CAP as u64).read_to_end(&mut kept);
            let _ = std::io::copy(&mut stderr, &mut std::io::sink());
            let _ = sender.send(String::from_utf8_lossy(&kept).into_owned());
        });
    }
    let deadline = Instant::now() + timeout;
    // Something the program left behind may hold stderr open: it is waited
    // for a moment only.
    let stderr = || said.recv_timeout(Duration::from_millis(200)).unwrap_or_default();
    loop {
        match child.try_wait().map_err(PipeFailure::Wait)? {
            Some(status) if status.success() => return Ok(stderr()),
            Some(status) => {
                return Err(match status.code() {
                    Some(code) => PipeFailure::Status { code, stderr: stderr() },
                    None => PipeFailure::Signal { stderr: stderr() },
                });
            }
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(PipeFailure::TimedOut { after: timeout, stderr: stderr() });
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Variables that hold a secret of pgacct's: the admin passwords it looks
/// up (`PGACCT_ADMIN_PASSWORD`, `PGACCT_ADMIN_PASSWORD_<ENV>`,
/// `PG_ADMIN_PASS`, `PGPASSWORD`) and the audit key. A hook is handed the
/// event, not the keys to the fleet.
fn is_secret(name: &OsStr) -> bool {
    const EXACT: [&[u8]; 3] = [b"PG_ADMIN_PASS", b"PGPASSWORD", b"PGACCT_AUDIT_KEY"];
    let name = std::os::unix::ffi::OsStrExt::as_bytes(name);
    EXACT.contains(&name) || name.starts_with(b"PGACCT_ADMIN_PASSWORD")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_password_variable_and_the_audit_key_are_secret() {
        for name in [
            "PGACCT_ADMIN_PASSWORD",
            "PGACCT_ADMIN_PASSWORD_PROD",
            "PGACCT_ADMIN_PASSWORD_QA_2",
            "PG_ADMIN_PASS",
            "PGPASSWORD",
            "PGACCT_AUDIT_KEY",
        ] {
            assert!(is_secret(OsStr::new(name)), "{name}");
        }
        for name in ["PATH", "HOME", "PGHOST", "PGUSER", "PGACCT_ADMIN_USER", "PGPASSFILE"] {
            assert!(!is_secret(OsStr::new(name)), "{name}");
        }
    }

    #[test]
    fn a_piped_program_gets_its_input_and_its_stderr_is_kept_and_capped() {
        let sh = OsStr::new("/bin/sh");
        let second = Duration::from_secs(5);
        let said = pipe(sh, &["-c", "cat >&2"], b"hello", second).unwrap();
        assert_eq!(said, "hello");
        let failure = pipe(sh, &["-c", "echo no >&2; exit 3"], b"", second).unwrap_err();
        assert!(matches!(failure, PipeFailure::Status { code: 3, .. }), "{failure}");
        assert_eq!(failure.stderr(), "no\n");
        let long =
            pipe(sh, &["-c", "head -c 100000 /dev/zero | tr '\\0' x >&2; exit 1"], b"", second)
                .unwrap_err();
        assert_eq!(long.stderr().len(), STDERR_CAP);
        let slow = pipe(sh, &["-c", "sleep 10"], b"", Duration::from_millis(200)).unwrap_err();
        assert!(matches!(slow, PipeFailure::TimedOut { .. }), "{slow}");
    }
}
