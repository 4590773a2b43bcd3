//! The new password of a create or reset: generated, read from stdin or
//! from an earlier secret file, and where it is to go.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use crate::cli::{PasswordArgs, SecretFormatArg};
use crate::commands::Context;
use crate::commands::change::SecretDelivery;
use crate::error::CommandError;
use crate::secret::{self, Password, Salting, Secret, SecretCommand, SecretFile, SecretFormat};

/// A new password, and where it goes besides the result.
#[derive(Debug)]
pub struct NewPassword {
    /// `None` for a dry run, which sets nothing.
    pub secret: Option<Password>,
    /// The user gave it (stdin, a prompt, a secret file): it is theirs, and
    /// never shown back.
    pub given: bool,
    /// `--secret-file`, its format, and `--force`.
    pub file: Option<(PathBuf, SecretFormat, bool)>,
    /// `--secret-command`, its program found.
    pub command: Option<SecretCommand>,
}

impl NewPassword {
    /// Reads or makes the password and checks where it is to go, all before
    /// anything is touched. A dry run reads no password.
    pub fn from_args(
        ctx: &Context,
        args: &PasswordArgs,
        length: usize,
        targets: usize,
        dry_run: bool,
    ) -> Result<NewPassword, CommandError> {
        let file = match &args.secret_file {
            Some(path) => {
                let format = secret_format(args.secret_format);
                if format.single_target() && targets > 1 {
                    return Err(CommandError::usage(format!(
                        "--secret-format env holds one target, and {targets} are selected"
                    ))
                    .hint("use --secret-format json, pgpass, url or k8s-secret"));
                }
                SecretFile::check(path, args.force, !dry_run)?;
                Some((path.clone(), format, args.force))
            }
            None => None,
        };
        let command = if args.secret_command {
            let found = SecretCommand::resolve(&args.secret_argv).map_err(|err| {
                let hint = err.hint();
                CommandError::usage(format!("{err}; nothing was changed")).hints(hint)
            })?;
            Some(found)
        } else {
            None
        };
        // A pgbouncer userlist holds the verifier the servers store: one
        // salt for the invocation makes it the same on every server.
        let salting = match &file {
            Some((_, SecretFormat::Pgbouncer, _)) => Salting::Shared,
            _ => Salting::PerServer,
        };
        let given = args.password_stdin || args.password_from.is_some();
        let secret = if let Some(path) = &args.password_from {
            // Read in a dry run too: reading a file changes nothing.
            Some(from_secret_file(path)?)
        } else if dry_run {
            None
        } else if args.password_stdin {
            Some(read_stdin(ctx)?)
        } else {
            Some(secret::generate(length))
        };
        let secret = secret.map(|s| Password::new(s, salting));
        Ok(NewPassword { secret, given, file, command })
    }

    /// What the change pipeline delivers, when there is a password.
    pub fn delivery(&self, role: &str) -> Option<SecretDelivery> {
        let secret = self.secret.clone()?;
        Some(SecretDelivery {
            role: role.to_owned(),
            secret,
            file: self.file.clone(),
            command: self.command.clone(),
        })
    }

    /// Whether the result shows the password: it was generated, and goes
    /// to no secret file that holds it (a pgbouncer one holds a verifier)
    /// and to no secret command.
    pub fn shown(&self) -> bool {
        let in_file = self.file.as_ref().is_some_and(|(_, format, _)| format.holds_password());
        !self.given && !in_file && self.command.is_none()
    }

    /// The option that gives this password again, for a retry hint.
    pub fn again(&self) -> String {
        match &self.file {
            Some((path, format, _)) if format.holds_password() => {
                format!("--password-from {}", crate::registry::shell_word(&path.to_string_lossy()))
            }
            _ => "--password-stdin".to_owned(),
        }
    }
}

pub(super) fn secret_format(arg: SecretFormatArg) -> SecretFormat {
    match arg {
        SecretFormatArg::Env => SecretFormat::Env,
        SecretFormatArg::Json => SecretFormat::Json,
        SecretFormatArg::Pgpass => SecretFormat::Pgpass,
        SecretFormatArg::Url => SecretFormat::Url,
        SecretFormatArg::K8sSecret => SecretFormat::K8sSecret,
        SecretFormatArg::Pgbouncer => SecretFormat::Pgbouncer,
    }
}

/// The password in a secret file pgacct wrote.
fn from_secret_file(path: &std::path::Path) -> Result<Secret, CommandError> {
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|err| {
        CommandError::usage(format!("cannot read --password-from {}: {err}", path.display()))
    })?);
    if secret::holds_verifiers(&text) {
        return Err(CommandError::usage(format!(
            "{} is a pgbouncer userlist: it holds SCRAM verifiers, not a password",
            path.display()
        ))
        .hint("give a file in another --secret-format, or use --password-stdin"));
    }
    let secret = secret::read_back(&text).ok_or_else(|| {
        CommandError::usage(format!(
            "{} holds no password pgacct can read back (or more than one)",
            path.display()
        ))
        .hint("give a file pgacct wrote with --secret-file, or use --password-stdin")
    })?;
    secret::check_given(secret.expose()).map_err(CommandError::usage)?;
    Ok(secret)
}

/// A password from stdin: one line, or asked twice without echo on a
/// terminal. Refused when empty, not one line, or longer than PostgreSQL's
/// clients accept; a short one draws a warning.
fn read_stdin(ctx: &Context) -> Result<Secret, CommandError> {
    let stdin = std::io::stdin();
    let secret = if stdin.is_terminal() {
        let text = dialoguer::Password::new()
            .with_prompt("New password")
            .with_confirmation("Repeat it", "the passwords differ")
            .allow_empty_password(true)
            .interact()
            .map_err(|err| crate::commands::prompt_failed(err, "cannot read the password"))?;
        Secret::new(text)
    } else {
        let mut text = zeroize::Zeroizing::new(String::new());
        // Far more than a password may be, to report its length.
        stdin.lock().take(64 * 1024).read_to_string(&mut text).map_err(|err| {
            CommandError::from(err).context("cannot read the password from stdin")
        })?;
        let line =
            text.strip_suffix('\n').map_or(text.as_str(), |t| t.strip_suffix('\r').unwrap_or(t));
        Secret::new(line.to_owned())
    };
    secret::check_given(secret.expose())
        .map_err(|err| CommandError::usage(format!("--password-stdin: {err}")))?;
    if secret.expose().chars().count() < secret::SHORT_PASSWORD_CHARS {
        ctx.messages.warn(&format!(
            "the password is shorter than {} characters; a generated one is 22",
            secret::SHORT_PASSWORD_CHARS
        ));
    }
    Ok(secret)
}
