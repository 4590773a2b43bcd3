//! A command hook: a program that gets the event as JSON on stdin, in
//! pgacct's environment without the secrets in it.

use std::ffi::OsStr;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::Event;

/// Runs `program args` with the event on stdin; `exit status 0` when it
/// succeeds. A program still running at `timeout` is killed.
pub fn run(
    program: &str,
    args: &[String],
    event: &Event,
    timeout: Duration,
) -> Result<String, String> {
    let mut command = Command::new(program);
    for (name, _) in std::env::vars_os().filter(|(name, _)| is_secret(name)) {
        command.env_remove(name);
    }
    let mut child = command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|err| format!("cannot run {program}: {err}"))?;
    let json = serde_json::to_vec(event).map_err(|err| err.to_string())?;
    if let Some(mut stdin) = child.stdin.take() {
        // A program that exits without reading is judged by its exit status.
        let _ = stdin.write_all(&json);
    }
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait().map_err(|err| err.to_string())? {
            Some(status) if status.success() => {
                return Ok(format!("exit status {}", status.code().unwrap_or(0)));
            }
            Some(status) => {
                return Err(match status.code() {
                    Some(code) => format!("exit status {code}"),
                    None => "killed by a signal".into(),
                });
            }
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("timed out after {} s; killed", timeout.as_secs()));
            }
            None => std::thread::sleep(Duration::from_millis(20)),
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
}
