//! `pgacct store init --print-sql`: the setup script of a team store, for
//! its owner to review and run. Running it from pgacct, and the commands
//! that use a team store, are the next steps of team mode.

use std::io::Write as _;

use crate::cli::{StoreCommand, StoreInitArgs};
use crate::error::{CommandError, CommandResult, Exit};
use crate::store::team::Names;

pub fn run(command: StoreCommand) -> CommandResult {
    match command {
        StoreCommand::Init(args) => init(args),
    }
}

fn init(args: StoreInitArgs) -> CommandResult {
    if !args.print_sql {
        return Err(CommandError::usage("pgacct cannot run the setup itself yet").hint(
            "print the script with `pgacct store init --print-sql`, review it, and run it \
             with psql as the store's owner",
        ));
    }
    let names = Names { schema: args.schema, role: args.role };
    let mut out = std::io::stdout().lock();
    out.write_all(names.script().as_bytes())?;
    out.flush()?;
    Ok(Exit::Success)
}
