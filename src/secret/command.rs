//! `--secret-command`: a program that receives the secret as the `json`
//! format's document on stdin, run without a shell. What can be checked
//! before a password changes (the program is there and executable) is
//! checked by [`SecretCommand::resolve`]; how the run ends is the
//! pipeline's to handle (the password is kept when it fails).

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Secret;
use crate::notify::process::{self, PipeFailure};

/// How long a secret command may run before it is killed.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// A program and its arguments, the program found where it will be run.
#[derive(Debug, Clone)]
pub struct SecretCommand {
    /// As given, for messages.
    name: String,
    /// The file that runs: `name` itself when it holds a `/`, else the
    /// first executable of that name on `PATH`.
    program: PathBuf,
    args: Vec<OsString>,
}

#[derive(Debug, thiserror::Error)]
pub enum SecretCommandError {
    #[error("--secret-command names no program")]
    Empty,
    #[error("the --secret-command program {0} was not found on PATH")]
    NotFound(String),
    #[error("the --secret-command program {name} ({}) is not an executable file", path.display())]
    NotExecutable { name: String, path: PathBuf },
    #[error("the --secret-command program {name} failed: {failure}{}", said(stderr))]
    Failed { name: String, failure: PipeFailure, stderr: String },
}

fn said(stderr: &str) -> String {
    let stderr = stderr.trim_end();
    if stderr.is_empty() { String::new() } else { format!("; it said: {stderr}") }
}

impl SecretCommandError {
    pub fn hint(&self) -> Option<String> {
        match self {
            SecretCommandError::Empty => Some(
                "give the program and its arguments after --, e.g. --secret-command -- vault \
                      kv put secret/app -"
                    .into(),
            ),
            SecretCommandError::NotFound(_) | SecretCommandError::NotExecutable { .. } => {
                Some("give a path to the program, or install it; it is run without a shell".into())
            }
            SecretCommandError::Failed { .. } => None,
        }
    }
}

impl SecretCommand {
    /// The program of `argv` (its first word), found as `execvp` would find
    /// it: a name holding a `/` is a path, any other is looked up on `PATH`.
    pub fn resolve(argv: &[OsString]) -> Result<SecretCommand, SecretCommandError> {
        let Some((first, rest)) = argv.split_first() else {
            return Err(SecretCommandError::Empty);
        };
        let name = first.to_string_lossy().into_owned();
        if first.is_empty() {
            return Err(SecretCommandError::Empty);
        }
        let program = if first.as_bytes().contains(&b'/') {
            let path = PathBuf::from(first);
            if !is_executable_file(&path) {
                return Err(SecretCommandError::NotExecutable { name, path });
            }
            path
        } else {
            let path = std::env::var_os("PATH").unwrap_or_default();
            std::env::split_paths(&path)
                .map(|dir| if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir })
                .map(|dir| dir.join(first))
                .find(|candidate| is_executable_file(candidate))
                .ok_or_else(|| SecretCommandError::NotFound(name.clone()))?
        };
        Ok(SecretCommand { name, program, args: rest.to_vec() })
    }

    /// The program as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Pipes `document` to the program. `password` is taken out of what the
    /// program says, should it echo it.
    pub fn run(&self, document: &str, password: &Secret) -> Result<(), SecretCommandError> {
        let redacted = |text: &str| text.replace(password.expose(), "<redacted>");
        process::pipe(self.program.as_os_str(), &self.args, document.as_bytes(), TIMEOUT)
            .map(|_| ())
            .map_err(|failure| SecretCommandError::Failed {
                name: self.name.clone(),
                stderr: redacted(failure.stderr()),
                failure,
            })
    }
}

/// A regular file (after links) that this process may execute.
fn is_executable_file(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
        && rustix::fs::access(path, rustix::fs::Access::EXEC_OK).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn programs_are_found_as_execvp_finds_them() {
        let sh = SecretCommand::resolve(&argv(&["sh", "-c", "true"])).unwrap();
        assert!(sh.program.is_absolute(), "{}", sh.program.display());
        assert!(SecretCommand::resolve(&argv(&["/bin/sh"])).is_ok());
        assert!(matches!(
            SecretCommand::resolve(&argv(&["no-such-program-pgacct"])),
            Err(SecretCommandError::NotFound(_))
        ));
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        assert!(matches!(
            SecretCommand::resolve(&[plain.into_os_string()]),
            Err(SecretCommandError::NotExecutable { .. })
        ));
        assert!(matches!(
            SecretCommand::resolve(&argv(&["/"])),
            Err(SecretCommandError::NotExecutable { .. })
        ));
        assert!(matches!(SecretCommand::resolve(&[]), Err(SecretCommandError::Empty)));
    }

    #[test]
    fn a_failing_program_is_reported_without_the_password() {
        let pw = Secret::new("Sekr1t-Horse".into());
        let echo = SecretCommand::resolve(&argv(&["sh", "-c", "cat >&2; exit 4"])).unwrap();
        let err = echo.run("{\"password\": \"Sekr1t-Horse\"}", &pw).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("exit status 4"), "{message}");
        assert!(message.contains("<redacted>"), "{message}");
        assert!(!message.contains("Sekr1t-Horse"), "{message}");
        let ok = SecretCommand::resolve(&argv(&["sh", "-c", "cat >/dev/null"])).unwrap();
        assert!(ok.run("{}", &pw).is_ok());
    }
}
