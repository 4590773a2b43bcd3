//! `pgacct registry import FILE [--sync [--env E]]`: add the targets of an
//! inventory file, or make the registry match it. The change set is planned
//! against the registry as it is, journaled as one audit record per change
//! plus one summary, and applied in one store transaction.

use std::collections::BTreeSet;

use serde::Serialize;

use super::super::change::{self, Done, Item, Plan, Ran};
use super::super::{Context, RECORD_FORMATS};
use super::protected_plan;
use crate::cli::{Format, ImportArgs};
use crate::error::{CommandError, CommandResult, Exit};
use crate::output::{self, Column, Record};
use crate::registry::inventory;
use crate::registry::sync::{self, Change, ChangeSet};
use crate::registry::{Entry, EnvName, Error, ListFilter, RegistryStore, Target};
use crate::store::Store;

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

pub fn run(args: &ImportArgs, ctx: &Context) -> CommandResult {
    let out = ctx.output(Format::Table, RECORD_FORMATS)?;
    let file = inventory::read(&args.file)?;
    let shown_path = args.file.display().to_string();
    if !file.ignored_columns.is_empty() {
        ctx.messages.warn(&format!(
            "{shown_path}: ignoring the columns pgacct does not know: {}",
            file.ignored_columns.join(", ")
        ));
    }
    let mut targets = file.targets;
    if let Some(env) = &args.env {
        let before = targets.len();
        targets.retain(|t| t.key.env == *env);
        if targets.len() < before {
            ctx.messages.status(&format!(
                "left out {} targets of other environments (--env {})",
                before - targets.len(),
                env.as_str()
            ));
        }
    }
    // `--sync --env prod` with another env's file would deactivate all of
    // prod: the file names no target of prod, so that is taken as a mistake.
    if let (true, Some(env), true) = (args.sync, &args.env, targets.is_empty()) {
        return Err(CommandError::usage(format!(
            "{shown_path} has no targets of env '{}': a sync would deactivate every target \
             of it; nothing was changed",
            env.as_str()
        ))
        .hint(format!(
            "check the file; to retire an environment, use `pgacct registry deactivate --env {}`",
            env.as_str()
        )));
    }
    let envs: BTreeSet<EnvName> = match &args.env {
        Some(env) => BTreeSet::from([env.clone()]),
        None => targets.iter().map(|t| t.key.env.clone()).collect(),
    };
    let store = ctx.store_to_read()?;
    let set = match &store {
        None => ChangeSet {
            changes: targets.iter().cloned().map(Change::Add).collect(),
            unchanged: Vec::new(),
        },
        Some(store) if args.sync => sync::sync(&registered_in(store, &envs)?, &targets, &envs),
        Some(store) => sync::import(&registered_of(store, &targets)?, &targets),
    };
    drop(store);

    let how = if args.sync { "sync" } else { "import" };
    let from = format!("{how} from {shown_path}");
    let counts = Counts::of(&set);
    let summary_env = (envs.len() == 1).then(|| envs.iter().next().map(|e| e.as_str().to_owned()));
    let mut items: Vec<Item> = set.changes.iter().map(|change| item(change, &from)).collect();
    items.push(Item { env: summary_env.flatten(), intent: from.clone(), ..Item::default() });
    let changed: Vec<Target> = set.changes.iter().map(|c| c.target().clone()).collect();
    let plan = Plan {
        operation: format!("registry.{how}"),
        items,
        announce: true,
        ..protected_plan(ctx, &args.change, &changed, how)?
    };
    let summary = counts.summary(args.sync, false);
    let ran = change::run(ctx, &plan, &args.change, None, None, |store, _| {
        match store.apply(&set.changes) {
            Ok(()) => set
                .changes
                .iter()
                .map(|change| Done::ok(done_status(change, &from)))
                .chain([Done::ok(format!("{from}: {summary}"))])
                .collect(),
            Err(err) => {
                let error = err.to_string();
                // One transaction: nothing of the file was written.
                plan.items.iter().map(|_| Done::failed("not imported", &error)).collect()
            }
        }
    })?;
    let (dry_run, exit) = match &ran {
        Ran::DryRun => (true, Exit::Success),
        Ran::Applied(applied) => {
            if let Some(error) = applied.done.iter().find_map(|d| d.error.clone()) {
                return Err(CommandError::failure(format!(
                    "the {how} failed; nothing was changed: {error}"
                ))
                .hint("run it again: it is planned anew against the registry as it is now"));
            }
            (false, applied.exit())
        }
    };
    let rows =
        if args.sync { sync_rows(&set, dry_run) } else { import_rows(&targets, &set, dry_run) };
    output::unless_closed(out.list(&rows))?;
    let summary = counts.summary(args.sync, dry_run);
    ctx.messages.status(&if dry_run {
        format!("{summary} (--dry-run: nothing written)")
    } else {
        summary
    });
    Ok(exit)
}

/// Every entry of `envs`, active or not.
fn registered_in(store: &Store, envs: &BTreeSet<EnvName>) -> Result<Vec<Entry>, Error> {
    let mut entries = Vec::new();
    for env in envs {
        let filter = ListFilter { env: Some(env.clone()), ..ListFilter::default() };
        entries.extend(store.list(&filter)?);
    }
    Ok(entries)
}

/// The entries of `targets` that are registered.
fn registered_of(store: &Store, targets: &[Target]) -> Result<Vec<Entry>, Error> {
    let mut entries = Vec::new();
    for target in targets {
        entries.extend(store.entry_of(target)?);
    }
    Ok(entries)
}

/// The audit record of one change, before it is made.
fn item(change: &Change, from: &str) -> Item {
    let target = change.target();
    let intent = match change {
        Change::Add(_) => format!("add target ({from})"),
        Change::Update { .. } => format!("update ({from}): {}", change.detail()),
        Change::Deactivate(_) => format!("deactivate: not in the file ({from})"),
    };
    Item {
        env: Some(target.key.env.as_str().into()),
        db: Some(target.key.db.as_str().into()),
        cluster: Some(target.cluster()),
        intent,
        endpoint: None,
    }
}

fn done_status(change: &Change, from: &str) -> String {
    match change {
        Change::Add(_) => format!("target added ({from})"),
        Change::Update { .. } => format!("target updated ({from}): {}", change.detail()),
        Change::Deactivate(_) => format!("target deactivated: not in the file ({from})"),
    }
}

#[derive(Debug, Clone, Copy)]
struct Counts {
    added: usize,
    updated: usize,
    deactivated: usize,
    unchanged: usize,
}

impl Counts {
    fn of(set: &ChangeSet) -> Counts {
        Counts {
            added: set.count("add"),
            updated: set.count("update"),
            deactivated: set.count("deactivate"),
            unchanged: set.unchanged.len(),
        }
    }

    fn summary(self, sync: bool, dry_run: bool) -> String {
        let Counts { added, updated, deactivated, unchanged } = self;
        match (sync, dry_run) {
            (false, false) => format!("added {added}, skipped {unchanged} already registered"),
            (false, true) => format!("would add {added}, skipped {unchanged} already registered"),
            (true, false) => format!(
                "added {added}, updated {updated}, deactivated {deactivated}, unchanged {unchanged}"
            ),
            (true, true) => format!(
                "would add {added}, update {updated}, deactivate {deactivated}; \
                 unchanged {unchanged}"
            ),
        }
    }
}

fn row<'a>(target: &'a Target, result: &'static str, detail: String) -> ImportRow<'a> {
    ImportRow {
        env: target.key.env.as_str(),
        db: target.key.db.as_str(),
        cluster: target.cluster(),
        result,
        detail,
    }
}

/// Every target of the file, in its order: added or skipped. (An import
/// plans both in the file's order, and a file lists a target once.)
fn import_rows<'a>(targets: &'a [Target], set: &ChangeSet, dry_run: bool) -> Vec<ImportRow<'a>> {
    let mut added = set.changes.iter().map(Change::target).peekable();
    let mut skipped = set.unchanged.iter();
    targets
        .iter()
        .map(|target| {
            if added.next_if(|a| a.is(target)).is_some() {
                return row(target, if dry_run { "would add" } else { "added" }, String::new());
            }
            let differs = skipped.next().map(|(_, differs)| differs.as_slice()).unwrap_or_default();
            let detail = if differs.is_empty() {
                "already registered".to_owned()
            } else {
                format!("already registered; the file differs in {}", differs.join(", "))
            };
            row(target, "skipped", detail)
        })
        .collect()
}

/// The changes only; unchanged targets are counted in the summary.
fn sync_rows(set: &ChangeSet, dry_run: bool) -> Vec<ImportRow<'_>> {
    set.changes
        .iter()
        .map(|change| {
            let result = match (change, dry_run) {
                (Change::Add(_), false) => "added",
                (Change::Add(_), true) => "would add",
                (Change::Update { .. }, false) => "updated",
                (Change::Update { .. }, true) => "would update",
                (Change::Deactivate(_), false) => "deactivated",
                (Change::Deactivate(_), true) => "would deactivate",
            };
            row(change.target(), result, change.detail())
        })
        .collect()
}
