//! `pgacct user ...`: create and change login roles on registered targets.
//!
//! Every command checks its input (names, schemas, targets, the secret
//! file) before it connects anywhere, asks for confirmation where the
//! policy says so, and then applies one change to all targets (see
//! [`apply`]).

mod apply;
mod drop;
mod list;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};
use std::sync::Mutex;

use anyhow::Context as _;

use self::apply::{Change, Rollout, UserRow};
use super::notify::announce;
use super::{Context, RECORD_FORMATS, targets};
use crate::cli::{
    CreateArgs, CreateK8sArgs, DropArgs, Format, PasswordArgs, ResetPasswordArgs, SecretFormatArg,
    SetSearchPathArgs, TargetArgs, UserCommand,
};
use crate::error::{Exit, UsageError};
use crate::output::{Output, Progress};
use crate::pg::roles::RoleSpec;
use crate::policy::{NameParts, Policy, RoleName, SchemaName};
use crate::registry::Target;
use crate::secret::{self, Endpoint, Secret, SecretFile, SecretFormat};

pub fn run(command: UserCommand, ctx: &Context) -> anyhow::Result<Exit> {
    match command {
        UserCommand::CreateVm(args) => {
            let parts = NameParts {
                server: Some(args.server),
                service_port: Some(args.service_port),
                ..NameParts::default()
            };
            create(ctx, &args.targets, "vm", parts, &args.password, "user create-vm")
        }
        UserCommand::CreateK8s(args) => create_k8s(ctx, args),
        UserCommand::Create(args) => create_typed(ctx, args),
        UserCommand::ResetPassword(args) => reset_password(ctx, &args),
        UserCommand::SetSearchPath(args) => set_search_path(ctx, &args),
        UserCommand::List(args) => list::list(ctx, &args),
        UserCommand::Show(args) => list::show(ctx, &args),
        UserCommand::Lock(args) => {
            let name = RoleName::parse(&args.name)?;
            let change = Change::Lock { name: &name, terminate: args.terminate };
            plain_change(ctx, &args.targets, change)
        }
        UserCommand::Unlock(args) => {
            let name = RoleName::parse(&args.name)?;
            plain_change(ctx, &args.targets, Change::Unlock { name: &name })
        }
        UserCommand::Drop(args) => drop_user(ctx, &args),
    }
}

/// A change that makes no password.
fn plain_change(ctx: &Context, targets: &TargetArgs, change: Change<'_>) -> anyhow::Result<Exit> {
    let out = ctx.output(Format::Table, RECORD_FORMATS)?;
    let policy = ctx.config()?.policy();
    execute(ctx, &out, &policy, targets, change, None)
}

/// `user drop`: the preflight of every cluster is shown before the one
/// confirmation, and kept in the audit trail.
fn drop_user(ctx: &Context, args: &DropArgs) -> anyhow::Result<Exit> {
    let out = ctx.output(Format::Table, RECORD_FORMATS)?;
    let policy = ctx.config()?.policy();
    let name = RoleName::parse(&args.name)?;
    let store = ctx.registry_to_read()?;
    let targets = targets::select(&store, Some(&args.targets.env), &args.targets.dbs)?;
    drop(store);
    let connector = ctx.connector()?;
    if let Some(target) = targets.iter().find(|t| connector.settings(t).user == name.as_str()) {
        return Err(UsageError::new(format!(
            "refusing to drop {name}: it is the admin role pgacct connects to {} as",
            target.key
        ))
        .into());
    }
    let mut summaries = BTreeMap::new();
    for (cluster, preflight) in
        drop::preflights(&connector, args.targets.jobs.jobs, &targets, &name)?
    {
        let line = match &preflight {
            Ok(Some(p)) => p.refusal().map_or_else(|| p.summary(), |why| format!("refused: {why}")),
            Ok(None) => "not there".to_owned(),
            Err(err) => format!("preflight failed: {err}"),
        };
        ctx.messages.status(&format!("{name} on {cluster}: {line}"));
        if let Ok(Some(p)) = preflight {
            summaries.insert(cluster, p.summary());
        }
    }
    let change =
        Change::Drop { name: &name, heir: args.reassign_to.as_deref(), preflights: &summaries };
    execute(ctx, &out, &policy, &args.targets, change, None)
}

fn create_k8s(ctx: &Context, args: CreateK8sArgs) -> anyhow::Result<Exit> {
    let policy = ctx.config()?.policy();
    let prefix = args.prefix.unwrap_or_else(|| policy.k8s_prefix(args.targets.env.as_str()));
    let parts =
        NameParts { service: Some(args.service), prefix: Some(prefix), ..NameParts::default() };
    create(ctx, &args.targets, "k8s", parts, &args.password, "user create-k8s")
}

fn create_typed(ctx: &Context, args: CreateArgs) -> anyhow::Result<Exit> {
    let parts = NameParts { name: Some(args.name), ..NameParts::default() };
    create(ctx, &args.targets, &args.kind, parts, &args.password, "user create")
}

fn create(
    ctx: &Context,
    target_args: &TargetArgs,
    kind: &str,
    mut parts: NameParts,
    password_args: &PasswordArgs,
    command: &str,
) -> anyhow::Result<Exit> {
    let out = ctx.output(Format::Table, RECORD_FORMATS)?;
    let policy = ctx.config()?.policy();
    let account = policy.account_type(kind)?;
    parts.env = Some(target_args.env.as_str().to_owned());
    let name = account.role_name(&parts, command)?;
    let valid_until = account.valid_for_days.map(|days| {
        let until = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * i64::from(days));
        until.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    });
    let spec = RoleSpec { name: &name, account, valid_until };
    let change = Change::Create { spec, kind };
    execute(ctx, &out, &policy, target_args, change, Some((password_args, account.password_length)))
}

fn reset_password(ctx: &Context, args: &ResetPasswordArgs) -> anyhow::Result<Exit> {
    let out = ctx.output(Format::Table, RECORD_FORMATS)?;
    let policy = ctx.config()?.policy();
    let name = RoleName::parse(&args.name)?;
    let change = Change::ResetPassword { name: &name };
    // A reset does not know the role's type, so it uses the default length.
    let length = crate::policy::DEFAULT_PASSWORD_LENGTH;
    execute(ctx, &out, &policy, &args.targets, change, Some((&args.password, length)))
}

fn set_search_path(ctx: &Context, args: &SetSearchPathArgs) -> anyhow::Result<Exit> {
    let out = ctx.output(Format::Table, RECORD_FORMATS)?;
    let policy = ctx.config()?.policy();
    let name = RoleName::parse(&args.name)?;
    let schemas =
        args.schemas.iter().map(|s| SchemaName::parse(s)).collect::<Result<Vec<_>, _>>()?;
    let change = Change::SetSearchPath { name: &name, schemas: &schemas };
    execute(ctx, &out, &policy, &args.targets, change, None)
}

/// The steps every user command shares, in order: targets, confirmation,
/// password and its delivery, the change itself, the report.
fn execute(
    ctx: &Context,
    out: &Output,
    policy: &Policy,
    target_args: &TargetArgs,
    change: Change<'_>,
    password: Option<(&PasswordArgs, usize)>,
) -> anyhow::Result<Exit> {
    let dry_run = ctx.global.dry_run;
    let mut store = if dry_run { ctx.registry_to_read()? } else { ctx.registry_to_write()? };
    let targets = targets::select(&store, Some(&target_args.env), &target_args.dbs)?;
    let delivery =
        password.map(|(args, _)| Delivery::from_args(args, targets.len())).transpose()?;
    if !dry_run {
        confirm(ctx, policy, &change, &targets)?;
    }
    let secret = match password {
        Some((args, _)) if args.password_stdin => Some(read_password()?),
        Some((_, length)) => Some(secret::generate(length)),
        None => None,
    };
    let secret_file = match (&delivery, dry_run) {
        (Some(Delivery::File { path, force, .. }), false) => Some(SecretFile::claim(path, *force)?),
        _ => None,
    };
    let connector = ctx.connector()?;
    let run = Rollout {
        connector: &connector,
        audit: Mutex::new(&mut store),
        who: ctx.invocation(),
        change,
        password: if dry_run { None } else { secret.as_ref() },
        dry_run,
        jobs: target_args.jobs.jobs,
        progress: Progress::new(targets.len(), &ctx.messages),
        audit_failures: Mutex::default(),
    };
    let mut rows = run.apply(&targets)?;
    for failure in run.audit_failures.lock().expect("not poisoned").iter() {
        ctx.messages.warn(&format!("the outcome was not recorded in the audit trail: {failure}"));
    }
    if let (Some(secret), Some(delivery)) = (&secret, &delivery) {
        deliver(ctx, delivery, secret_file, secret, run.change.role(), &targets, &mut rows)?;
    }
    report(ctx, out, &rows, dry_run)?;
    if !dry_run {
        let event = run.event(&rows);
        drop(run);
        announce(ctx, &mut store, &event);
    }
    Ok(exit_code(&rows))
}

/// Where the new password goes.
enum Delivery {
    Show,
    File { path: std::path::PathBuf, format: SecretFormat, force: bool },
}

impl Delivery {
    fn from_args(args: &PasswordArgs, targets: usize) -> Result<Delivery, UsageError> {
        let Some(path) = &args.secret_file else { return Ok(Delivery::Show) };
        let format = match args.secret_format {
            SecretFormatArg::Env => SecretFormat::Env,
            SecretFormatArg::Json => SecretFormat::Json,
            SecretFormatArg::Pgpass => SecretFormat::Pgpass,
            SecretFormatArg::Url => SecretFormat::Url,
            SecretFormatArg::K8sSecret => SecretFormat::K8sSecret,
        };
        if format.single_target() && targets > 1 {
            return Err(UsageError::new(format!(
                "--secret-format env holds one target, and {targets} are selected"
            ))
            .with_hint("use --secret-format json, pgpass, url or k8s-secret"));
        }
        Ok(Delivery::File { path: path.clone(), format, force: args.force })
    }
}

/// Shows the password in the rows that got it, or writes it to the file.
fn deliver(
    ctx: &Context,
    delivery: &Delivery,
    file: Option<SecretFile>,
    secret: &Secret,
    role: &RoleName,
    targets: &[Target],
    rows: &mut [UserRow],
) -> anyhow::Result<()> {
    let received: Vec<&Target> = targets
        .iter()
        .filter(|t| {
            rows.iter()
                .any(|r| r.got_password && r.env == t.key.env.as_str() && r.db == t.key.db.as_str())
        })
        .collect();
    match (delivery, file) {
        (Delivery::Show, _) => {
            for row in rows.iter_mut().filter(|r| r.got_password) {
                row.password = Some(secret.expose().to_owned());
            }
        }
        (Delivery::File { format, .. }, Some(file)) if !received.is_empty() => {
            let endpoints: Vec<Endpoint> = received
                .iter()
                .map(|t| Endpoint {
                    env: t.key.env.as_str().into(),
                    db: t.key.db.as_str().into(),
                    host: t.host.as_str().into(),
                    port: t.port,
                    sslmode: t.sslmode.map(|m| m.to_string()),
                })
                .collect();
            let path = file.path().to_owned();
            let contents = secret::render(*format, role.as_str(), secret, &endpoints);
            file.fill(&contents).context("the password was set, but could not be written")?;
            ctx.messages.status(&format!("password for {role} written to {}", path.display()));
        }
        (Delivery::File { path, .. }, Some(file)) => {
            file.abandon();
            ctx.messages
                .status(&format!("no password was set; {} was not written", path.display()));
        }
        (Delivery::File { .. }, None) => {}
    }
    Ok(())
}

/// Asks before a `dba` account or any change in a protected environment.
fn confirm(
    ctx: &Context,
    policy: &Policy,
    change: &Change<'_>,
    targets: &[Target],
) -> anyhow::Result<()> {
    let protected: Vec<String> = targets
        .iter()
        .filter(|t| policy.is_protected(t.key.env.as_str()))
        .map(|t| t.key.to_string())
        .collect();
    let confirmed_type = match change {
        Change::Create { spec, .. } => Some(spec.account).filter(|account| account.confirm),
        _ => None,
    };
    let dropping = matches!(change, Change::Drop { .. });
    if ctx.global.yes || (protected.is_empty() && confirmed_type.is_none() && !dropping) {
        return Ok(());
    }
    let reason = if let Some(account) = confirmed_type {
        format!("a {} account needs confirmation", account.name)
    } else if dropping {
        "dropping a role needs confirmation".to_owned()
    } else {
        format!("{} is protected", protected.join(", "))
    };
    let list: Vec<String> = targets.iter().map(|t| t.key.to_string()).collect();
    let role = change.role();
    let on = list.join(", ");
    let question = match change {
        Change::Create { kind, .. } => format!("Create {kind} user {role} on {on}?"),
        Change::ResetPassword { .. } => format!("Reset the password of {role} on {on}?"),
        Change::SetSearchPath { .. } => format!("Set the search_path of {role} on {on}?"),
        Change::Lock { .. } => format!("Lock {role} on {on}?"),
        Change::Unlock { .. } => format!("Unlock {role} on {on}?"),
        Change::Drop { .. } => format!("Drop {role} from the clusters of {on}?"),
    };
    super::confirm(ctx, &question, &reason)
}

/// A password from stdin: one line, or asked twice without echo on a terminal.
fn read_password() -> anyhow::Result<Secret> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let text = dialoguer::Password::new()
            .with_prompt("New password")
            .with_confirmation("Repeat it", "the passwords differ")
            .interact()
            .map_err(|err| super::prompt_failed(err, "cannot read the password"))?;
        return Ok(Secret::new(text));
    }
    let mut text = zeroize::Zeroizing::new(String::new());
    stdin
        .lock()
        .take(64 * 1024)
        .read_to_string(&mut text)
        .context("cannot read the password from stdin")?;
    let line = text.strip_suffix('\n').map_or(text.as_str(), |t| t.strip_suffix('\r').unwrap_or(t));
    if line.is_empty() {
        return Err(UsageError::new("--password-stdin read an empty password").into());
    }
    if line.contains(['\n', '\r', '\0']) {
        return Err(UsageError::new("--password-stdin takes one line, without NUL bytes").into());
    }
    Ok(Secret::new(line.to_owned()))
}

fn report(ctx: &Context, out: &Output, rows: &[UserRow], dry_run: bool) -> anyhow::Result<()> {
    if dry_run && out.format() == Format::Table {
        let mut stdout = std::io::stdout().lock();
        for row in rows {
            use std::io::Write as _;
            writeln!(stdout, "-- {}/{} ({}): {}", row.env, row.db, row.cluster, row.status)?;
            if let Some(error) = &row.error {
                writeln!(stdout, "-- error: {error}")?;
            }
            for drift in &row.drift {
                writeln!(stdout, "-- differs from policy: {drift}")?;
            }
            for statement in &row.sql {
                writeln!(stdout, "{statement};")?;
            }
        }
        ctx.messages.status("--dry-run: nothing was changed");
    } else {
        out.list(rows)?;
    }
    ctx.messages.hints(rows.iter().filter_map(|row| row.hint.as_deref()));
    Ok(())
}

fn exit_code(rows: &[UserRow]) -> Exit {
    let failed = rows.iter().filter(|row| row.outcome == "failed").count();
    match failed {
        0 => Exit::Success,
        n if n == rows.len() => Exit::Failure,
        _ => Exit::Partial,
    }
}
