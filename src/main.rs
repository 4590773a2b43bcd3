//! pgacct: provision and manage PostgreSQL login roles across many
//! databases, with a local registry and audit trail.
//!
//! `main` parses the command line, runs one command, reports an error once
//! and turns the outcome into the exit code. Nothing else exits.

mod audit;
mod cli;
mod commands;
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

use std::process::ExitCode;

use clap::Parser;

use crate::error::Exit;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // clap prints help and version to stdout, usage errors to stderr.
            let _ = err.print();
            return if err.use_stderr() { Exit::Usage.into() } else { Exit::Success.into() };
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
