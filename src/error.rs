//! Exit codes, and how an error reaches the user: once, on stderr, as
//! `error:` then `caused by:` lines, then a `hint:`.

use std::fmt::Write as _;
use std::io::Write as _;

use anstyle::{AnsiColor, Style};

use crate::config::ConfigError;
use crate::pg::{ConnectError, InvalidEnvironment};
use crate::registry;

/// pgacct's exit codes (DESIGN.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every target succeeded.
    Success = 0,
    /// The operation failed; nothing succeeded.
    Failure = 1,
    /// Usage error or invalid input, found before anything was touched.
    Usage = 2,
    /// Some targets succeeded, some failed.
    Partial = 3,
    /// Interrupted (Ctrl-C).
    Interrupted = 130,
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit as u8)
    }
}

/// The user pressed Ctrl-C at a prompt.
#[derive(Debug, thiserror::Error)]
#[error("interrupted; nothing was changed")]
pub struct Interrupted;

/// An invalid invocation that clap cannot see, such as a format a command
/// does not offer.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct UsageError {
    message: String,
    hint: Option<String>,
}

impl UsageError {
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), hint: None }
    }

    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// The exit code for `err`, from the first error in its chain that says.
pub fn exit_code(err: &anyhow::Error) -> Exit {
    for cause in err.chain() {
        if cause.is::<Interrupted>() {
            return Exit::Interrupted;
        }
        if cause.is::<UsageError>()
            || cause.is::<InvalidEnvironment>()
            || cause.is::<crate::policy::PolicyError>()
            || matches!(cause.downcast_ref(), Some(crate::secret::SecretFileError::Exists(_)))
        {
            return Exit::Usage;
        }
        if let Some(err) = cause.downcast_ref::<ConfigError>() {
            return match err {
                ConfigError::Read { .. } => Exit::Failure,
                ConfigError::Missing(_) | ConfigError::Invalid { .. } => Exit::Usage,
            };
        }
        if let Some(err) = cause.downcast_ref::<registry::Error>() {
            return if err.is_invalid_input() { Exit::Usage } else { Exit::Failure };
        }
        if cause.is::<crate::audit::Error>() {
            return Exit::Failure;
        }
    }
    Exit::Failure
}

/// True when the error is only that stdout's reader went away (`| head`).
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn hint(err: &anyhow::Error) -> Option<String> {
    err.chain().find_map(|cause| {
        if let Some(usage) = cause.downcast_ref::<UsageError>() {
            return usage.hint.clone();
        }
        if let Some(connect) = cause.downcast_ref::<ConnectError>() {
            return connect.hint();
        }
        if let Some(crate::secret::SecretFileError::Exists(_)) = cause.downcast_ref() {
            return Some("add --force to replace it, or choose another --secret-file".into());
        }
        cause.downcast_ref::<registry::Error>().and_then(registry::Error::hint)
    })
}

/// Prints `err` to stderr, with its causes and a hint.
pub fn report(err: &anyhow::Error) {
    let red = Style::new().fg_color(Some(AnsiColor::Red.into())).bold();
    let yellow = Style::new().fg_color(Some(AnsiColor::Yellow.into())).bold();
    let cyan = Style::new().fg_color(Some(AnsiColor::Cyan.into())).bold();
    let mut text = format!("{red}error:{red:#} {err}\n");
    for cause in err.chain().skip(1) {
        let _ = writeln!(text, "{yellow}caused by:{yellow:#} {cause}");
    }
    if let Some(hint) = hint(err) {
        let _ = writeln!(text, "{cyan}hint:{cyan:#} {hint}");
    }
    // Nothing sensible is left to do when stderr itself is gone.
    let _ = anstream::stderr().write_all(text.as_bytes());
}
