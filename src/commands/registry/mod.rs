//! `pgacct registry ...`: the inventory of target databases.

mod check;

use serde::Serialize;

use std::time::Instant;

use anyhow::Context as _;

use super::audited::{audited, outcome, pause_after_start, target_result};
use super::notify::announce;
use super::{Context, RECORD_FORMATS};
use crate::audit::{AuditStore, Finish, Operation};
use crate::cli::{
    AddArgs, Format, ImportArgs, ListArgs, RegistryCommand, TargetKeyArgs, UnsetField, UpdateArgs,
};
use crate::error::{Exit, UsageError};
use crate::notify::Event;
use crate::output::{Column, Output, Record};
use crate::registry::inventory::{self, InventoryFormat};
use crate::registry::{
    ClearableField, Database, Entry, Error, ImportOutcome, ListFilter, RegistryStore, Target,
    TargetChanges, TargetKey,
};

pub fn run(command: RegistryCommand, ctx: &Context) -> anyhow::Result<Exit> {
    match command {
        RegistryCommand::Add(args) => add(args, ctx),
        RegistryCommand::List(args) => list(&args, ctx),
        RegistryCommand::Show(args) => show(args, ctx),
        RegistryCommand::Update(args) => update(args, ctx),
        RegistryCommand::Activate(args) => set_active(args, true, ctx),
        RegistryCommand::Deactivate(args) => set_active(args, false, ctx),
        RegistryCommand::Remove(args) => remove(args, ctx),
        RegistryCommand::Import(args) => import(&args, ctx),
        RegistryCommand::Export => export(ctx),
        RegistryCommand::Check(args) => check::run(&args, ctx),
    }
}

impl Record for Entry {
    const COLUMNS: &'static [Column] = &[
        Column::shown("env"),
        Column::shown("db"),
        Column::shown("host"),
        Column::shown("port"),
        Column::shown("sslmode"),
        Column::wide("sslrootcert"),
        Column::wide("sslcert"),
        Column::wide("sslkey"),
        Column::shown("admin_user"),
        Column::shown("active"),
        Column::shown("notes"),
        Column::wide("created_at"),
        Column::wide("updated_at"),
    ];
}

/// A target not (yet) stored, as `--dry-run` shows it.
impl Record for Target {
    const COLUMNS: &'static [Column] = Entry::COLUMNS.split_at(11).0;
}

impl From<TargetKeyArgs> for TargetKey {
    fn from(args: TargetKeyArgs) -> Self {
        TargetKey { env: args.env, db: args.db }
    }
}

fn add(args: AddArgs, ctx: &Context) -> anyhow::Result<Exit> {
    let out = ctx.output(Format::Table, RECORD_FORMATS)?;
    let target = Target {
        key: args.key.into(),
        host: args.host,
        port: args.port,
        sslmode: args.tls.sslmode,
        sslrootcert: args.tls.sslrootcert,
        sslcert: args.tls.sslcert,
        sslkey: args.tls.sslkey,
        admin_user: args.admin_user,
        active: !args.inactive,
        notes: args.notes.filter(|n| !n.is_empty()),
    };
    target.check().map_err(Error::from)?;
    let mut store = ctx.registry_to_write()?;
    if ctx.global.dry_run {
        match store.get(&target.key) {
            Ok(_) => return Err(Error::AlreadyExists(target.key).into()),
            Err(Error::NotFound(_)) => {}
            Err(err) => return Err(err.into()),
        }
        return would(ctx, &out, "add", &target);
    }
    let operation = operation("registry.add", &target.key, Some(target.cluster()), "add target");
    let entry = audited(ctx, &mut store, operation, |s| s.add(&target), |_| "target added".into())?;
    changed(ctx, &out, "added", &entry)
}

/// The audit record of a registry change to `key`.
fn operation(name: &str, key: &TargetKey, cluster: Option<String>, status: &str) -> Operation {
    Operation {
        name: name.to_owned(),
        env: Some(key.env.as_str().to_owned()),
        db: Some(key.db.as_str().to_owned()),
        cluster,
        role: None,
        status: status.to_owned(),
    }
}

/// The cluster of a registered target, for the audit record of a change
/// that may yet fail because the target is not there.
fn cluster_of(store: &Database, key: &TargetKey) -> Option<String> {
    store.get(key).ok().map(|entry| entry.target.cluster())
}

fn list(args: &ListArgs, ctx: &Context) -> anyhow::Result<Exit> {
    let out = ctx.output(Format::Table, RECORD_FORMATS)?;
    let store = ctx.registry_to_read()?;
    let filter = ListFilter { env: args.env.clone(), active_only: args.active_only };
    let entries = store.list(&filter)?;
    out.list(&entries)?;
    Ok(Exit::Success)
}

fn show(args: TargetKeyArgs, ctx: &Context) -> anyhow::Result<Exit> {
    let out = ctx.output(Format::Table, RECORD_FORMATS)?;
    let entry = ctx.registry_to_read()?.get(&args.into())?;
    out.one(&entry)?;
    Ok(Exit::Success)
}

fn update(args: UpdateArgs, ctx: &Context) -> anyhow::Result<Exit> {
    let out = ctx.output(Format::Table, RECORD_FORMATS)?;
    let key = TargetKey::from(args.key);
    let changes = TargetChanges {
        host: args.host,
        port: args.port,
        sslmode: args.tls.sslmode,
        sslrootcert: args.tls.sslrootcert,
        sslcert: args.tls.sslcert,
        sslkey: args.tls.sslkey,
        admin_user: args.admin_user,
        notes: args.notes,
        clear: args.unset.iter().map(|f| clearable(*f)).collect(),
    };
    check_changes(&changes)?;
    let mut store = ctx.registry_to_write()?;
    if ctx.global.dry_run {
        let mut target = store.get(&key)?.target;
        changes.apply(&mut target).map_err(Error::from)?;
        return would(ctx, &out, "update", &target);
    }
    let summary = describe(&changes);
    let operation =
        operation("registry.update", &key, cluster_of(&store, &key), &format!("update {summary}"));
    let entry = audited(
        ctx,
        &mut store,
        operation,
        |s| s.update(&key, &changes),
        |_| format!("target updated: {summary}"),
    )?;
    changed(ctx, &out, "updated", &entry)
}

/// The changes, as the audit trail words them: `port=6432, unset notes`.
fn describe(changes: &TargetChanges) -> String {
    let mut parts = Vec::new();
    let mut set = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            parts.push(format!("{name}={value}"));
        }
    };
    set("host", changes.host.as_ref().map(|h| h.as_str().to_owned()));
    set("port", changes.port.map(|p| p.to_string()));
    set("sslmode", changes.sslmode.map(|m| m.to_string()));
    set("sslrootcert", changes.sslrootcert.as_ref().map(ToString::to_string));
    set("sslcert", changes.sslcert.as_ref().map(ToString::to_string));
    set("sslkey", changes.sslkey.as_ref().map(ToString::to_string));
    set("admin_user", changes.admin_user.as_ref().map(|u| u.as_str().to_owned()));
    set("notes", changes.notes.as_ref().map(|n| format!("{n:?}")));
    parts.extend(changes.clear.iter().map(|field| format!("unset {}", option_name(*field))));
    parts.join(", ")
}

fn clearable(field: UnsetField) -> ClearableField {
    match field {
        UnsetField::Sslmode => ClearableField::Sslmode,
        UnsetField::Sslrootcert => ClearableField::Sslrootcert,
        UnsetField::Sslcert => ClearableField::Sslcert,
        UnsetField::Sslkey => ClearableField::Sslkey,
        UnsetField::AdminUser => ClearableField::AdminUser,
        UnsetField::Notes => ClearableField::Notes,
    }
}

fn check_changes(changes: &TargetChanges) -> Result<(), UsageError> {
    if changes.is_empty() {
        return Err(UsageError::new("nothing to update").with_hint(
            "give at least one of --host, --port, --sslmode, --sslrootcert, --sslcert, \
             --sslkey, --admin-user, --notes or --unset FIELD",
        ));
    }
    let set_and_cleared = changes.clear.iter().find(|field| match field {
        ClearableField::Sslmode => changes.sslmode.is_some(),
        ClearableField::Sslrootcert => changes.sslrootcert.is_some(),
        ClearableField::Sslcert => changes.sslcert.is_some(),
        ClearableField::Sslkey => changes.sslkey.is_some(),
        ClearableField::AdminUser => changes.admin_user.is_some(),
        ClearableField::Notes => changes.notes.is_some(),
    });
    match set_and_cleared {
        Some(field) => {
            let name = option_name(*field);
            Err(UsageError::new(format!("--{name} and --unset {name} contradict each other")))
        }
        None => Ok(()),
    }
}

fn option_name(field: ClearableField) -> &'static str {
    match field {
        ClearableField::Sslmode => "sslmode",
        ClearableField::Sslrootcert => "sslrootcert",
        ClearableField::Sslcert => "sslcert",
        ClearableField::Sslkey => "sslkey",
        ClearableField::AdminUser => "admin-user",
        ClearableField::Notes => "notes",
    }
}

fn set_active(args: TargetKeyArgs, active: bool, ctx: &Context) -> anyhow::Result<Exit> {
    let out = ctx.output(Format::Table, RECORD_FORMATS)?;
    let key = TargetKey::from(args);
    let verb = if active { "activate" } else { "deactivate" };
    let mut store = ctx.registry_to_write()?;
    if ctx.global.dry_run {
        let target = Target { active, ..store.get(&key)?.target };
        return would(ctx, &out, verb, &target);
    }
    let operation = operation(&format!("registry.{verb}"), &key, cluster_of(&store, &key), verb);
    let entry = audited(
        ctx,
        &mut store,
        operation,
        |s| s.set_active(&key, active),
        |_| format!("target {verb}d"),
    )?;
    changed(ctx, &out, &format!("{verb}d"), &entry)
}

fn remove(args: TargetKeyArgs, ctx: &Context) -> anyhow::Result<Exit> {
    let out = ctx.output(Format::Table, RECORD_FORMATS)?;
    let key = TargetKey::from(args);
    let mut store = ctx.registry_to_write()?;
    if ctx.global.dry_run {
        let target = store.get(&key)?.target;
        return would(ctx, &out, "remove", &target);
    }
    let operation = operation("registry.remove", &key, cluster_of(&store, &key), "remove target");
    let entry =
        audited(ctx, &mut store, operation, |s| s.remove(&key), |_| "target removed".into())?;
    changed(ctx, &out, "removed", &entry)
}

/// One row of the `registry import` report.
#[derive(Debug, Serialize)]
struct ImportRow<'a> {
    env: &'a str,
    db: &'a str,
    cluster: String,
    result: &'static str,
    detail: String,
}

impl Record for ImportRow<'_> {
    const COLUMNS: &'static [Column] = &[
        Column::shown("env"),
        Column::shown("db"),
        Column::shown("cluster"),
        Column::shown("result"),
        Column::shown("detail"),
    ];
}

fn import(args: &ImportArgs, ctx: &Context) -> anyhow::Result<Exit> {
    let out = ctx.output(Format::Table, RECORD_FORMATS)?;
    let targets = inventory::read(&args.file)?;
    let mut store = ctx.registry_to_write()?;
    let outcomes = if ctx.global.dry_run {
        planned_import(&store, &targets)?
    } else {
        audited_import(ctx, &mut store, &targets, &args.file)?
    };
    let rows: Vec<ImportRow<'_>> = targets
        .iter()
        .zip(&outcomes)
        .map(|(target, outcome)| import_row(target, outcome, ctx.global.dry_run))
        .collect();
    out.list(&rows)?;
    let added = outcomes.iter().filter(|o| **o == ImportOutcome::Added).count();
    let verb = if ctx.global.dry_run { "would add" } else { "added" };
    ctx.messages.status(&format!(
        "{verb} {added}, skipped {} already registered{}",
        outcomes.len() - added,
        if ctx.global.dry_run { " (--dry-run: nothing written)" } else { "" }
    ));
    Ok(Exit::Success)
}

/// Imports with one audited operation per target of the file.
fn audited_import(
    ctx: &Context,
    store: &mut Database,
    targets: &[Target],
    file: &std::path::Path,
) -> anyhow::Result<Vec<ImportOutcome>> {
    let who = ctx.invocation();
    let from = format!("import from {}", file.display());
    let operations: Vec<Operation> = targets
        .iter()
        .map(|t| operation("registry.import", &t.key, Some(t.cluster()), &from))
        .collect();
    let started = store.start(&who, &operations).context("cannot write to the audit trail")?;
    pause_after_start();
    let clock = Instant::now();
    let result = store.import(targets);
    let finishes: Vec<Finish> = started
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let status = match &result {
                Ok(outcomes) => Ok(match &outcomes[i] {
                    ImportOutcome::Added => format!("target added ({from})"),
                    ImportOutcome::Skipped { .. } => "skipped: already registered".to_owned(),
                }),
                Err(err) => Err(err.to_string()),
            };
            outcome(*id, &from, clock.elapsed(), status)
        })
        .collect();
    store
        .finish(&who, &finishes)
        .context("the import was made, but its outcome could not be written to the audit trail")?;
    let results =
        operations.iter().zip(&finishes).map(|(op, finish)| target_result(op, finish)).collect();
    announce(ctx, store, &Event::new(&who, "registry.import", None, results));
    Ok(result?)
}

/// What `import` would do, without writing.
fn planned_import(
    store: &impl RegistryStore,
    targets: &[Target],
) -> Result<Vec<ImportOutcome>, Error> {
    targets
        .iter()
        .map(|target| match store.get(&target.key) {
            Ok(existing) => {
                Ok(ImportOutcome::Skipped { differs: existing.target.differences(target) })
            }
            Err(Error::NotFound(_)) => Ok(ImportOutcome::Added),
            Err(err) => Err(err),
        })
        .collect()
}

fn import_row<'a>(target: &'a Target, outcome: &ImportOutcome, dry_run: bool) -> ImportRow<'a> {
    let (result, detail) = match outcome {
        ImportOutcome::Added if dry_run => ("would add", String::new()),
        ImportOutcome::Added => ("added", String::new()),
        ImportOutcome::Skipped { differs } if differs.is_empty() => {
            ("skipped", "already registered".to_owned())
        }
        ImportOutcome::Skipped { differs } => {
            ("skipped", format!("already registered; the file differs in {}", differs.join(", ")))
        }
    };
    ImportRow {
        env: target.key.env.as_str(),
        db: target.key.db.as_str(),
        cluster: target.cluster(),
        result,
        detail,
    }
}

fn export(ctx: &Context) -> anyhow::Result<Exit> {
    let out = ctx.output(Format::Csv, &[Format::Csv, Format::Json, Format::Toml])?;
    let format = match out.format() {
        Format::Json => InventoryFormat::Json,
        Format::Toml => InventoryFormat::Toml,
        Format::Csv | Format::Table => InventoryFormat::Csv,
    };
    let entries = ctx.registry_to_read()?.list(&ListFilter::default())?;
    let targets: Vec<Target> = entries.into_iter().map(|e| e.target).collect();
    inventory::write(&targets, format, &mut std::io::stdout().lock())?;
    Ok(Exit::Success)
}

/// Reports a change that was made: a line on stderr, and the entry on
/// stdout for programs.
fn changed(ctx: &Context, out: &Output, verb: &str, entry: &Entry) -> anyhow::Result<Exit> {
    ctx.messages.status(&format!("{verb} {} ({})", entry.target.key, entry.target.cluster()));
    if out.is_machine_readable() {
        out.one(entry)?;
    }
    Ok(Exit::Success)
}

/// Reports a change that `--dry-run` did not make.
fn would(ctx: &Context, out: &Output, verb: &str, target: &Target) -> anyhow::Result<Exit> {
    ctx.messages.status(&format!(
        "would {verb} {} ({}); nothing written (--dry-run)",
        target.key,
        target.cluster()
    ));
    if out.is_machine_readable() {
        out.one(target)?;
    }
    Ok(Exit::Success)
}
