//! `pgacct store init`: create or upgrade a team store. With
//! `--print-sql`, the setup script for its owner to review and run with
//! psql (no connection); else pgacct connects to the store's URL and runs
//! it as one transaction (`--dry-run`: prints what it would run). The
//! commands that use a team store are the next steps of team mode.
//! `pgacct store migrate` ([`migrate`]) moves a local registry into one.

mod migrate;

use std::io::Write as _;

use crate::cli::{StoreCommand, StoreInitArgs};
use crate::error::{CommandError, CommandResult, Exit, Kind};
use crate::pg::{ConnSettings, Session, StoreConn};
use crate::store::StoreLocation;
use crate::store::team::{self, Found, Names, SetupError, Version};

use super::Context;

pub fn run(command: StoreCommand, ctx: &Context) -> CommandResult {
    match command {
        StoreCommand::Init(args) => init(args, ctx),
        StoreCommand::Migrate(args) => migrate::run(&args, ctx),
    }
}

fn init(args: StoreInitArgs, ctx: &Context) -> CommandResult {
    let names = Names { role: args.role, ..ctx.store_names(args.schema)? };
    if args.print_sql {
        print(&names.script())?;
        return Ok(Exit::Success);
    }
    let conn = team_store(
        ctx,
        "store init sets up a team store, and the registry is a file",
        "; or print the script with --print-sql",
    )?;
    let (connector, settings) = ctx.store_connector(&conn)?;
    let runtime = ctx.runtime()?;
    runtime.block_on(async {
        let session = connector
            .connect_with(&settings)
            .await
            .map_err(|err| CommandError::from(err).context("cannot reach the team store"))?;
        let result = set_up(ctx, &session, &settings, &names, args.dry_run).await;
        session.close().await;
        result
    })
}

/// The team store's connection string: the `store` commands work on
/// nothing else. `refusal` says what the command does, and `hint` adds
/// what else it can do.
fn team_store(ctx: &Context, refusal: &str, hint: &str) -> Result<StoreConn, CommandError> {
    match ctx.store_location()? {
        StoreLocation::Team(conn) => Ok(conn),
        StoreLocation::File(_) => Err(CommandError::usage(refusal).hint(format!(
            "name the store's database with --registry postgresql://owner@host/dbname (or \
             PGACCT_REGISTRY, or [store] url in config.toml){hint}"
        ))),
    }
}

async fn set_up(
    ctx: &Context,
    session: &Session,
    settings: &ConnSettings,
    names: &Names,
    dry_run: bool,
) -> CommandResult {
    let found = team::inspect(session, names).await.map_err(setup_error)?;
    let schema = names.schema.as_str();
    let version = team::current();
    if found.is_complete() {
        ctx.messages.status(&format!(
            "store schema {schema} is already at version {version}: nothing to do"
        ));
        return Ok(Exit::Success);
    }
    if dry_run {
        print(&names.script())?;
        let place = format!("database {} on {}", found.database, settings.cluster());
        ctx.messages.status(&format!(
            "dry run: {}; nothing was changed",
            what_it_does(&found, names, &place)
        ));
        return Ok(Exit::Success);
    }
    team::apply(session, names, &found).await.map_err(setup_error)?;
    let place = format!("database {} on {}", found.database, settings.cluster());
    ctx.messages.status(&what_it_did(&found, names, &place));
    ctx.messages.hint(&format!(
        "let each person or CI role use it: GRANT {} TO alice;",
        postgres_protocol::escape::escape_identifier(names.role.as_str())
    ));
    Ok(Exit::Success)
}

/// What the setup will do in `place`, for `--dry-run`.
fn what_it_does(found: &Found, names: &Names, place: &str) -> String {
    let (schema, version) = (names.schema.as_str(), team::current());
    let store = match found.version {
        None | Some(Version::Empty) => {
            format!("would create store schema {schema} (version {version}) in {place}")
        }
        Some(Version::Older(from)) => format!(
            "would upgrade store schema {schema} from version {from} to {version} in {place}"
        ),
        Some(Version::Current) => {
            format!("store schema {schema} is at version {version} in {place}")
        }
    };
    let role = if found.role_exists { "grant" } else { "create" };
    format!("{store}; would {role} role {}", names.role.as_str())
}

/// What the setup did in `place`.
fn what_it_did(found: &Found, names: &Names, place: &str) -> String {
    let (schema, version) = (names.schema.as_str(), team::current());
    let store = match found.version {
        None | Some(Version::Empty) => {
            format!("created store schema {schema} (version {version}) in {place}")
        }
        Some(Version::Older(from)) => {
            format!("upgraded store schema {schema} from version {from} to {version} in {place}")
        }
        Some(Version::Current) => {
            format!("store schema {schema} is at version {version} in {place}")
        }
    };
    let role = if found.role_exists { "granted its privileges" } else { "created" };
    format!("{store}; role {} {role}", names.role.as_str())
}

fn setup_error(err: SetupError) -> CommandError {
    let kind = if err.is_refusal() { Kind::Usage } else { Kind::Failure };
    let hint = err.hint();
    CommandError::new(kind, err).hints(hint)
}

fn print(text: &str) -> Result<(), CommandError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}
