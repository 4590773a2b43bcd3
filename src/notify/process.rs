//! A command hook: a program that gets the event as JSON on stdin.

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
    let mut child = Command::new(program)
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
