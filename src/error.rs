//! Errors as the user meets them, and exit codes (DESIGN.md §2).
//!
//! A [`CommandError`] carries its [`Kind`], which alone decides the exit
//! code, and the hints that say what to do next. The kind is decided where
//! a library error becomes a `CommandError`: one `From` impl per library
//! error, so a new error cannot reach the user with a guessed exit code.
//! Results of work on many targets are counted in a [`Tally`], and
//! [`Exit::from_tally`] is the one place that turns counts into a code.

use std::fmt::{self, Write as _};
use std::io::Write as _;

use anstyle::{AnsiColor, Style};

use crate::config::ConfigError;
use crate::output::for_terminal;
use crate::pg::{ConnectError, InvalidEnvironment};
use crate::policy::PolicyError;
use crate::registry::InvalidValue;
use crate::secret::SecretFileError;
use crate::{audit, registry, store};

/// pgacct's exit codes (DESIGN.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every target succeeded.
    Success = 0,
    /// The operation failed; nothing succeeded.
    Failure = 1,
    /// Usage error, invalid input or a failed plan check: nothing was touched.
    Usage = 2,
    /// Some targets succeeded, some failed.
    Partial = 3,
    /// Interrupted (Ctrl-C, SIGTERM, SIGHUP).
    Interrupted = 130,
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit as u8)
    }
}

/// How work on several targets (or clusters, or channels) went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub ok: usize,
    pub failed: usize,
    /// A signal arrived while the work ran.
    pub interrupted: bool,
}

impl Tally {
    /// Counts `ok` for each item: true for a success.
    pub fn of(results: impl IntoIterator<Item = bool>) -> Tally {
        let mut tally = Tally::default();
        for ok in results {
            if ok {
                tally.ok += 1;
            } else {
                tally.failed += 1;
            }
        }
        tally
    }
}

impl Exit {
    /// The exit code of work that went as `tally` says.
    pub fn from_tally(tally: Tally) -> Exit {
        if tally.interrupted {
            return Exit::Interrupted;
        }
        match (tally.ok, tally.failed) {
            (_, 0) => Exit::Success,
            (0, _) => Exit::Failure,
            _ => Exit::Partial,
        }
    }
}

/// What kind of failure an error is: it decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Invalid input or a refused plan, found before anything was touched (exit 2).
    Usage,
    /// The operation failed (exit 1).
    Failure,
    /// Interrupted at a prompt, before anything was touched (exit 130).
    Interrupted,
    /// stdout's reader went away (`| head`): end quietly (exit 0).
    ClosedPipe,
    /// The user answered "no": not an error, said plainly (exit 1).
    Declined,
}

/// An error on its way to the user: what went wrong, its kind, and hints.
pub struct CommandError {
    kind: Kind,
    error: anyhow::Error,
    hints: Vec<String>,
}

impl fmt::Debug for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {:#}", self.kind, self.error)
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

/// What every command returns.
pub type CommandResult = Result<Exit, CommandError>;

impl CommandError {
    pub fn new(kind: Kind, error: impl Into<anyhow::Error>) -> Self {
        CommandError { kind, error: error.into(), hints: Vec::new() }
    }

    /// Invalid input, or a plan check that failed.
    pub fn usage(message: impl fmt::Display) -> Self {
        Self::new(Kind::Usage, anyhow::anyhow!("{message}"))
    }

    pub fn failure(message: impl fmt::Display) -> Self {
        Self::new(Kind::Failure, anyhow::anyhow!("{message}"))
    }

    /// The user interrupted a prompt.
    pub fn interrupted() -> Self {
        Self::new(Kind::Interrupted, anyhow::anyhow!("interrupted; nothing was changed"))
    }

    /// The user answered "no" at a confirmation, before anything was touched.
    pub fn declined() -> Self {
        Self::new(Kind::Declined, anyhow::anyhow!("nothing was changed"))
    }

    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    #[must_use]
    pub fn hints(mut self, hints: impl IntoIterator<Item = String>) -> Self {
        self.hints.extend(hints);
        self
    }

    /// Says what was being done; the kind and hints stay.
    #[must_use]
    pub fn context(self, context: impl fmt::Display + Send + Sync + 'static) -> Self {
        CommandError { error: self.error.context(context), ..self }
    }

    pub fn exit(&self) -> Exit {
        match self.kind {
            Kind::Usage => Exit::Usage,
            Kind::Failure | Kind::Declined => Exit::Failure,
            Kind::Interrupted => Exit::Interrupted,
            Kind::ClosedPipe => Exit::Success,
        }
    }

    /// Prints the error once to stderr: `error:`, `caused by:` lines, hints.
    pub fn report(&self) {
        if self.kind == Kind::ClosedPipe {
            return;
        }
        let red = Style::new().fg_color(Some(AnsiColor::Red.into())).bold();
        let yellow = Style::new().fg_color(Some(AnsiColor::Yellow.into())).bold();
        let cyan = Style::new().fg_color(Some(AnsiColor::Cyan.into())).bold();
        // Messages carry stored values and server text: escape what could
        // drive the terminal.
        let safe = |message: &dyn fmt::Display| for_terminal(&message.to_string()).into_owned();
        if self.kind == Kind::Declined {
            // The answer the user gave, confirmed: no "error:" to alarm them.
            let _ = anstream::stderr().write_all(format!("{}\n", safe(&self.error)).as_bytes());
            return;
        }
        let mut text = format!("{red}error:{red:#} {}\n", safe(&self.error));
        for cause in self.error.chain().skip(1) {
            let _ = writeln!(text, "{yellow}caused by:{yellow:#} {}", safe(&cause));
        }
        let mut shown: Vec<&str> = Vec::new();
        for hint in &self.hints {
            if !shown.contains(&hint.as_str()) {
                let _ = writeln!(text, "{cyan}hint:{cyan:#} {}", safe(hint));
                shown.push(hint);
            }
        }
        // Nothing sensible is left to do when stderr itself is gone.
        let _ = anstream::stderr().write_all(text.as_bytes());
    }
}

impl From<std::io::Error> for CommandError {
    fn from(err: std::io::Error) -> Self {
        let kind = if err.kind() == std::io::ErrorKind::BrokenPipe {
            Kind::ClosedPipe
        } else {
            Kind::Failure
        };
        CommandError::new(kind, err)
    }
}

impl From<store::Error> for CommandError {
    fn from(err: store::Error) -> Self {
        let kind = if err.is_invalid_input() { Kind::Usage } else { Kind::Failure };
        let hint = err.hint();
        CommandError::new(kind, err).hints(hint)
    }
}

impl From<registry::Error> for CommandError {
    fn from(err: registry::Error) -> Self {
        if let registry::Error::Store(store) = err {
            return store.into();
        }
        let kind = if err.is_invalid_input() { Kind::Usage } else { Kind::Failure };
        let hint = err.hint();
        CommandError::new(kind, err).hints(hint)
    }
}

impl From<audit::Error> for CommandError {
    fn from(err: audit::Error) -> Self {
        if let audit::Error::Store(store) = err {
            return store.into();
        }
        let kind = if err.is_refusal() { Kind::Usage } else { Kind::Failure };
        let hint = err.hint();
        CommandError::new(kind, err).hints(hint)
    }
}

impl From<audit::KeyError> for CommandError {
    fn from(err: audit::KeyError) -> Self {
        let hint = err.hint();
        CommandError::new(Kind::Usage, err).hint(hint)
    }
}

impl From<InvalidValue> for CommandError {
    fn from(err: InvalidValue) -> Self {
        CommandError::new(Kind::Usage, err)
    }
}

impl From<ConfigError> for CommandError {
    fn from(err: ConfigError) -> Self {
        let kind = match err {
            ConfigError::Read { .. } => Kind::Failure,
            ConfigError::Missing(_) | ConfigError::Invalid { .. } => Kind::Usage,
        };
        CommandError::new(kind, err)
    }
}

impl From<PolicyError> for CommandError {
    fn from(err: PolicyError) -> Self {
        let hint = err.hint().map(str::to_owned);
        CommandError::new(Kind::Usage, err).hints(hint)
    }
}

impl From<InvalidEnvironment> for CommandError {
    fn from(err: InvalidEnvironment) -> Self {
        CommandError::new(Kind::Usage, err)
    }
}

impl From<SecretFileError> for CommandError {
    fn from(err: SecretFileError) -> Self {
        let hint = err.hint();
        // Secret destinations are checked before anything changes: a
        // problem with one is a refusal of the command.
        CommandError::new(Kind::Usage, err).hint(hint)
    }
}

impl From<ConnectError> for CommandError {
    fn from(err: ConnectError) -> Self {
        let hint = err.hint();
        CommandError::new(Kind::Failure, err).hints(hint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_decides_the_exit_code() {
        let tally = |ok, failed| Tally { ok, failed, interrupted: false };
        assert_eq!(Exit::from_tally(tally(3, 0)), Exit::Success);
        assert_eq!(Exit::from_tally(tally(0, 0)), Exit::Success);
        assert_eq!(Exit::from_tally(tally(0, 2)), Exit::Failure);
        assert_eq!(Exit::from_tally(tally(1, 2)), Exit::Partial);
        let interrupted = Tally { interrupted: true, ..tally(1, 0) };
        assert_eq!(Exit::from_tally(interrupted), Exit::Interrupted);
        assert_eq!(Tally::of([true, false, true]), tally(2, 1));
    }

    #[test]
    fn library_errors_bring_their_kind() {
        let closed = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert_eq!(CommandError::from(closed).exit(), Exit::Success);
        let other = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert_eq!(CommandError::from(other).exit(), Exit::Failure);
        let key = registry::TargetKey { env: "qa".parse().unwrap(), db: "orders".parse().unwrap() };
        let unknown = registry::Error::NotFound(key, None);
        assert_eq!(CommandError::from(unknown).exit(), Exit::Usage);
        assert_eq!(CommandError::interrupted().exit(), Exit::Interrupted);
    }
}
