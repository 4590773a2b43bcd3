//! Commands: each turns parsed options into calls into the library and
//! hands the results to [`Output`].

mod generate;
mod registry;

use std::path::PathBuf;

use anyhow::Context as _;

use crate::cli::{Cli, Command, Format, GlobalArgs};
use crate::error::{Exit, UsageError};
use crate::output::{Messages, Output};
use crate::registry::Database;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    let messages = Messages::new(cli.global.quiet, cli.global.verbose);
    let ctx = Context { global: cli.global, messages };
    match cli.command {
        Command::Registry(command) => registry::run(command, &ctx),
        Command::GenerateAssets { dir } => generate::run(&dir),
    }
}

/// What every command may need: the global options.
#[derive(Debug)]
pub(crate) struct Context {
    pub global: GlobalArgs,
    pub messages: Messages,
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
