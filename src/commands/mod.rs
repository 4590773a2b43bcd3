//! Commands: each turns parsed options into calls into the library and
//! hands the results to [`Output`].

mod audit;
mod audited;
mod generate;
mod notify;
mod registry;
mod targets;
mod user;

use std::future::Future;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use futures_util::StreamExt;

use crate::cli::{Cli, Command, Format, GlobalArgs};
use crate::config::Config;
use crate::error::{Exit, UsageError};
use crate::output::{Messages, Output};
use crate::pg::{Connector, LibpqEnv, Prompt};
use crate::registry::Database;
use crate::secret::Secret;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    let messages = Messages::new(cli.global.quiet, cli.global.verbose);
    let ctx = Context { global: cli.global, messages, config: std::cell::OnceCell::new() };
    match cli.command {
        Command::Registry(command) => registry::run(command, &ctx),
        Command::Audit(command) => audit::run(command, &ctx),
        Command::User(command) => user::run(command, &ctx),
        Command::Notify(command) => notify::run(command, &ctx),
        Command::GenerateAssets { dir } => generate::run(&dir),
    }
}

/// What every command may need: the global options.
#[derive(Debug)]
pub(crate) struct Context {
    pub global: GlobalArgs,
    pub messages: Messages,
    config: std::cell::OnceCell<Config>,
}

impl Context {
    /// The output for a command whose default format is `default`; TOML is
    /// refused unless the command offers it.
    pub fn output(&self, default: Format, allowed: &[Format]) -> Result<Output, UsageError> {
        let format = self.global.format.unwrap_or(default);
        if !allowed.contains(&format) {
            let names: Vec<_> = allowed.iter().map(|f| format_name(*f)).collect();
            return Err(UsageError::new(format!(
                "this command does not write --format {}; it writes {}",
                format_name(format),
                names.join(", ")
            )));
        }
        Ok(Output::new(format))
    }

    fn registry_path(&self) -> anyhow::Result<PathBuf> {
        match &self.global.registry {
            Some(path) => Ok(path.clone()),
            None => crate::registry::default_path().ok_or_else(|| {
                UsageError::new("cannot find a home directory for the default registry")
                    .with_hint("pass --registry PATH or set PGACCT_REGISTRY")
                    .into()
            }),
        }
    }

    /// Opens the registry for a command that reads only: it must exist.
    pub fn registry_to_read(&self) -> anyhow::Result<Database> {
        let path = self.registry_path()?;
        self.messages.detail(&format!("registry: {}", path.display()));
        Database::open_existing(&path).context("cannot open the registry")
    }

    /// Opens the registry for a command that writes, creating it if needed.
    pub fn registry_to_write(&self) -> anyhow::Result<Database> {
        let path = self.registry_path()?;
        self.messages.detail(&format!("registry: {}", path.display()));
        Database::open_or_create(&path).context("cannot open the registry")
    }

    /// Who is running this command, for the audit trail.
    pub fn invocation(&self) -> crate::audit::Invocation {
        crate::audit::Invocation::current(self.global.ticket.clone())
    }

    /// The configuration: `--config`, else the default file if it exists,
    /// else the built-in defaults. Read once per run.
    pub fn config(&self) -> anyhow::Result<&Config> {
        if let Some(config) = self.config.get() {
            return Ok(config);
        }
        let (path, named) = match &self.global.config {
            Some(path) => (path.clone(), true),
            None => match crate::config::default_path() {
                Some(path) => (path, false),
                None => return Ok(self.config.get_or_init(Config::default)),
            },
        };
        self.messages.detail(&format!("config: {}", path.display()));
        let config = Config::load(&path, named)?;
        Ok(self.config.get_or_init(|| config))
    }

    /// A connector for this run, with a password prompt when stdin is a
    /// terminal. Problems with the password sources are shown once, here.
    pub fn connector(&self) -> anyhow::Result<Connector> {
        let env = LibpqEnv::from_process()?;
        let config = self.config()?;
        let prompt =
            std::io::stdin().is_terminal().then(|| Arc::new(TerminalPrompt) as Arc<dyn Prompt>);
        let connector = Connector::new(env, config.connection.clone(), prompt);
        for warning in connector.warnings() {
            self.messages.warn(&warning);
        }
        Ok(connector)
    }
}

/// Runs `work` on every item, at most `jobs` at a time, and returns the
/// results in the items' order.
pub(crate) fn fan_out<'a, T, F, Fut>(
    jobs: u16,
    items: &'a [T],
    work: F,
) -> anyhow::Result<Vec<Fut::Output>>
where
    F: Fn(&'a T) -> Fut,
    Fut: Future + 'a,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let stream = futures_util::stream::iter(items.iter().map(work)).buffered(usize::from(jobs));
    Ok(runtime.block_on(stream.collect()))
}

/// Asks `question` on the terminal; `reason` says why, when there is no
/// terminal and no `--yes`. A "no" aborts the command (exit 1).
pub(crate) fn confirm(ctx: &Context, question: &str, reason: &str) -> anyhow::Result<()> {
    if ctx.global.yes {
        return Ok(());
    }
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Err(UsageError::new(format!(
            "{reason}, and there is no terminal to ask on; nothing was changed"
        ))
        .with_hint("add --yes to confirm")
        .into());
    }
    let yes = dialoguer::Confirm::new()
        .with_prompt(question)
        .default(false)
        .interact()
        .map_err(|err| prompt_failed(err, "cannot ask for confirmation"))?;
    if yes { Ok(()) } else { Err(anyhow::anyhow!("aborted; nothing was changed")) }
}

/// A prompt that did not get an answer: Ctrl-C is an interruption (exit
/// 130), anything else an error.
pub(crate) fn prompt_failed(err: dialoguer::Error, what: &'static str) -> anyhow::Error {
    let dialoguer::Error::IO(io) = err;
    if io.kind() == std::io::ErrorKind::Interrupted {
        anyhow::Error::new(crate::error::Interrupted)
    } else {
        anyhow::Error::new(io).context(what)
    }
}

/// Asks for a password on the terminal (stderr), without echo.
struct TerminalPrompt;

impl Prompt for TerminalPrompt {
    fn password(&self, question: &str) -> Option<Secret> {
        dialoguer::Password::new().with_prompt(question).interact().ok().map(Secret::new)
    }
}

/// Formats for commands that print records.
pub(crate) const RECORD_FORMATS: &[Format] = &[Format::Table, Format::Json, Format::Csv];

fn format_name(format: Format) -> &'static str {
    match format {
        Format::Table => "table",
        Format::Json => "json",
        Format::Csv => "csv",
        Format::Toml => "toml",
    }
}
