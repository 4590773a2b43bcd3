//! pgacct: provision and manage PostgreSQL login roles across many
//! databases, with a local registry and audit trail.
//!
//! `main` parses the command line, runs one command, reports an error once
//! and turns the outcome into the exit code. Nothing else exits.

mod audit;
mod cli;
mod commands;
mod completion;
mod config;
mod error;
mod interrupt;
mod notify;
mod output;
mod pg;
mod policy;
mod registry;
mod secret;
mod store;
mod time;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser;

use crate::error::Exit;

fn main() -> ExitCode {
    // A TAB in a shell whose completion script is installed.
    if let Some(exit) = completion::run_if_asked() {
        return exit;
    }
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if !err.use_stderr() => {
            // Help and version, to stdout.
            let _ = err.print();
            return Exit::Success.into();
        }
        Err(err) => {
            // A usage error quotes what was typed: plain text, with control
            // characters escaped, never sent to the terminal raw.
            let mut text = err.render().to_string();
            // clap names the group as `<--db <DB>|--cluster ...|--all>`;
            // say in words which databases are being asked for.
            if err.kind() == clap::error::ErrorKind::MissingRequiredArgument
                && text.contains("<--db <DB>|")
            {
                let hint = "hint: say which databases: --db D or --all (or --cluster HOST, --where K=V)\n\n";
                let at = text.find("\nUsage:").map_or(text.len(), |at| at + 1);
                text.insert_str(at, hint);
            }
            let _ = std::io::stderr().write_all(output::for_terminal(&text).as_bytes());
            return Exit::Usage.into();
        }
    };
    if cli.global.no_color {
        anstream::ColorChoice::Never.write_global();
    }
    match commands::run(cli) {
        Ok(exit) => exit.into(),
        Err(err) => {
            err.report();
            err.exit().into()
        }
    }
}
