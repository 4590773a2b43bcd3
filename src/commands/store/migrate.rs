//! `pgacct store migrate --from FILE`: a local registry's targets and
//! audit trail moved into the team store, in one transaction. The file is
//! opened read only and its chain verified first; its records are then
//! read again in batches (each checked against the verified chain) and
//! sent to the store's `import_audit`, which the store's owner alone may
//! run. Re-running moves only what the file gained since.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use super::super::Context;
use crate::audit::{AuditKey, AuditStore, Export, Invocation, KEY_VAR, StoredRecord};
use crate::cli::{Format, StoreMigrateArgs};
use crate::error::{CommandError, CommandResult, Exit, Kind};
use crate::pg::{ConnSettings, Session};
use crate::registry::{Entry, ListFilter, RegistryStore};
use crate::store::FileStore;
use crate::store::team::Names;
use crate::store::team::import::{self, MigrateError, TargetsMoved};

/// Records read from the file and sent to the store at a time: 100,000
/// records go in 20 calls.
const BATCH: usize = 5000;

/// A target of the file that the store has with other settings.
#[derive(Debug, Serialize)]
struct Differing {
    target: String,
    /// The columns that differ.
    columns: Vec<String>,
}

/// What `--format json` prints.
#[derive(Debug, Default, Serialize)]
struct Report {
    dry_run: bool,
    /// Targets added to the store (or that would be, on a dry run).
    targets: u64,
    /// Targets of the file the store had already, left as they were.
    targets_already_there: u64,
    /// Those of them whose settings differ from the file's.
    targets_differing: Vec<Differing>,
    /// Audit records moved in (or that would be).
    records: u64,
    /// Records of the file moved in by an earlier run.
    records_already_there: u64,
    /// The identity of the file's trail in the store (`imported_from`);
    /// null when the file has no records.
    trail: Option<String>,
    /// The record of the move in the store's trail; null when nothing moved.
    migrate_record: Option<i64>,
}

pub fn run(args: &StoreMigrateArgs, ctx: &Context) -> CommandResult {
    let out = ctx.output(Format::Table, &[Format::Table, Format::Json])?;
    let conn = super::team_store(
        ctx,
        "store migrate moves a registry into a team store, and the registry is a file",
        "; --from names the file to move in",
    )?;
    let file = open(&args.from)?;
    let key = super::super::audit::key(ctx)?;
    let head = verified_head(&file, &args.from, key.as_ref())?;
    let entries = file.list(&ListFilter::default()).map_err(|err| {
        CommandError::from(err).context(format!("cannot read {}", shown(&args.from)))
    })?;
    let (connector, settings) = ctx.store_connector(&conn)?;
    let report = ctx.runtime()?.block_on(async {
        let session = connector
            .connect_with(&settings)
            .await
            .map_err(|err| CommandError::from(err).context("cannot reach the team store"))?;
        let source = Source { file: &file, path: &args.from, head, key: key.as_ref(), entries };
        let result = move_in(ctx, &session, &settings, &source, args).await;
        session.close().await;
        result
    })?;
    if out.format() == Format::Json {
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut stdout, &report).map_err(std::io::Error::from)?;
        writeln!(stdout)?;
    }
    Ok(Exit::Success)
}

/// The file to move in: opened read only, never created.
fn open(path: &Path) -> Result<FileStore, CommandError> {
    match FileStore::open_to_read(path) {
        Ok(Some(file)) => Ok(file),
        Ok(None) => Err(CommandError::usage(crate::store::Error::absent(path.to_owned()))
            .hint("--from names the local registry file to move in (pgacct.db)")),
        Err(err) => Err(CommandError::from(err).context(format!("cannot open {}", shown(path)))),
    }
}

/// The file's trail, verified: its head (`None` when it has no records).
/// A broken chain fails (exit 1); a sealed trail needs the audit key.
fn verified_head(
    file: &FileStore,
    path: &Path,
    key: Option<&AuditKey>,
) -> Result<Option<(i64, String)>, CommandError> {
    let verification = file.verify(None, key)?;
    if let Some(at) = verification.break_at {
        return Err(CommandError::failure(format!(
            "the audit trail of {} is broken: {}",
            shown(path),
            at.problem
        ))
        .hint(format!(
            "nothing was moved; see `pgacct audit verify --registry {}`",
            crate::registry::shell_word(&path.display().to_string())
        )));
    }
    if verification.unchecked > 0 {
        return Err(CommandError::usage(format!(
            "the audit trail of {} is sealed with an audit key (from record #{}), and no key is \
             set: its records cannot be checked before they are moved",
            shown(path),
            verification.sealed_from.unwrap_or_default()
        ))
        .hint(format!("set the trail's key in {KEY_VAR}, or name its file in [audit] key_file")));
    }
    Ok(verification.head)
}

/// What is moved in, from where.
struct Source<'a> {
    file: &'a FileStore,
    path: &'a Path,
    head: Option<(i64, String)>,
    key: Option<&'a AuditKey>,
    entries: Vec<Entry>,
}

/// The move, in one transaction: committed when everything went in, rolled
/// back on any failure and on a dry run.
async fn move_in(
    ctx: &Context,
    session: &Session,
    settings: &ConnSettings,
    source: &Source<'_>,
    args: &StoreMigrateArgs,
) -> Result<Report, CommandError> {
    let names = ctx.store_names(None)?;
    import::begin(session, args.dry_run).await.map_err(migrate_error)?;
    let result = copy(session, &names, source, args).await;
    let ended = import::end(session, result.is_ok() && !args.dry_run).await;
    let (report, database) = result?;
    ended.map_err(migrate_error)?;
    for differing in &report.targets_differing {
        ctx.messages.warn(&format!(
            "{} is in the store already with other settings ({}): left as the store has it",
            differing.target,
            differing.columns.join(", ")
        ));
    }
    let summary = format!(
        "{} ({} already there) and {} ({} already there) from {} into schema {} of database \
         {database} on {}",
        counted(report.targets, "target"),
        report.targets_already_there,
        counted(report.records, "audit record"),
        report.records_already_there,
        shown(source.path),
        names.schema.as_str(),
        settings.cluster()
    );
    if args.dry_run {
        ctx.messages.status(&format!("dry run: would move {summary}; nothing was changed"));
    } else {
        ctx.messages.status(&format!("moved {summary}"));
    }
    Ok(report)
}

/// The work of [`move_in`] inside its transaction: the report, and the
/// store's database.
async fn copy(
    session: &Session,
    names: &Names,
    source: &Source<'_>,
    args: &StoreMigrateArgs,
) -> Result<(Report, String), CommandError> {
    let started = Instant::now();
    let store = import::check(session, names).await.map_err(migrate_error)?;
    let mut report = Report { dry_run: args.dry_run, ..Report::default() };
    let mut export = Export::new(source.head.clone(), source.key);
    loop {
        let batch = export.next_batch(source.file, BATCH)?;
        let (Some(first), Some(last)) = (batch.first(), batch.last()) else { break };
        let from = report.trail.get_or_insert_with(|| format!("file:{}", first.hash)).clone();
        let held: HashMap<i64, import::Held> =
            import::held(session, names, &from, first.record.id, last.record.id)
                .await
                .map_err(migrate_error)?
                .into_iter()
                .map(|held| (held.file_id, held))
                .collect();
        let mut new: Vec<&StoredRecord> = Vec::with_capacity(batch.len());
        for record in &batch {
            match held.get(&record.record.id) {
                None => new.push(record),
                Some(held) if held.hash == record.hash => report.records_already_there += 1,
                Some(held) => return Err(differs(session, names, source.path, record, held).await),
            }
        }
        if new.is_empty() {
            continue;
        }
        if args.dry_run {
            report.records += u64::try_from(new.len()).unwrap_or(u64::MAX);
        } else {
            let (imported, already) =
                import::import(session, names, &from, &new).await.map_err(migrate_error)?;
            report.records += imported;
            report.records_already_there += already;
        }
    }
    let TargetsMoved { added, already, differing } =
        import::targets(session, names, &source.entries, !args.dry_run)
            .await
            .map_err(migrate_error)?;
    report.targets = added;
    report.targets_already_there = already;
    report.targets_differing =
        differing.into_iter().map(|(target, columns)| Differing { target, columns }).collect();
    if !args.dry_run && (report.records > 0 || report.targets > 0) {
        let mut status = format!(
            "imported {} and {} from {}",
            counted(report.records, "record"),
            counted(report.targets, "target"),
            source.path.display()
        );
        if let Some(trail) = &report.trail {
            status.push_str(&format!(" (trail {trail})"));
        }
        let who = Invocation::current(args.ticket.clone());
        let duration = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        report.migrate_record = Some(
            import::record(session, names, &who, &status, duration).await.map_err(migrate_error)?,
        );
    }
    Ok((report, store.database))
}

/// The refusal of a file whose record differs from the one an earlier run
/// moved in: the file was rewritten since.
async fn differs(
    session: &Session,
    names: &Names,
    path: &Path,
    record: &StoredRecord,
    held: &import::Held,
) -> CommandError {
    let when = match import::moved_in_at(session, names, held.id).await {
        Ok(Some(time)) => time,
        Ok(None) | Err(_) => "an earlier run".to_owned(),
    };
    CommandError::failure(format!(
        "record #{} of {} differs from the one imported on {when} (record #{} of the store)",
        record.record.id,
        shown(path),
        held.id
    ))
    .hint("the file's trail was rewritten after it was moved in; nothing was moved")
}

fn migrate_error(err: MigrateError) -> CommandError {
    let kind = if err.is_refusal() { Kind::Usage } else { Kind::Failure };
    let hint = err.hint();
    CommandError::new(kind, err).hints(hint)
}

/// `1 target`, `3 targets`.
fn counted(n: u64, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}
