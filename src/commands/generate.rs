//! The hidden `generate-assets` command: shell completions and man pages,
//! committed to the repository and checked by a test.

use std::fs;
use std::io;
use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;
use crate::error::{CommandResult, Exit};

const SHELLS: [Shell; 5] = [Shell::Bash, Shell::Zsh, Shell::Fish, Shell::PowerShell, Shell::Elvish];

pub fn run(dir: &Path) -> CommandResult {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();

    let completions = dir.join("completions");
    replace_dir(&completions)?;
    for shell in SHELLS {
        clap_complete::generate_to(shell, &mut cmd, "pgacct", &completions)?;
    }

    let man = dir.join("man");
    replace_dir(&man)?;
    write_man_pages(&cmd, &man)?;
    Ok(Exit::Success)
}

/// Empties `dir` (creating it if needed), so that pages of commands that no
/// longer exist do not linger.
fn replace_dir(dir: &Path) -> io::Result<()> {
    if dir.exists() {
        fs::remove_dir_all(dir)?;
    }
    fs::create_dir_all(dir)
}

/// `pgacct.1`, then one page per visible subcommand (`pgacct-registry-add.1`).
fn write_man_pages(cmd: &clap::Command, dir: &Path) -> io::Result<()> {
    for sub in cmd.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        write_man_pages(sub, dir)?;
    }
    clap_mangen::Man::new(cmd.clone())
        .source(format!("pgacct {}", env!("CARGO_PKG_VERSION")))
        .manual("pgacct manual")
        .generate_to(dir)?;
    Ok(())
}
