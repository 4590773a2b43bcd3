//! `pgacct audit ...`: read, check and seal the audit trail.

use std::io::Write as _;

use serde::Serialize;

use super::change::{self, Done, Item, Plan, Ran};
use super::{Context, RECORD_FORMATS};
use crate::audit::{
    Anchor, AuditKey, AuditRow, AuditStore, Filter, KEY_VAR, KeyConfig, Side, Verification,
    parse_bound,
};
use crate::cli::{AuditCommand, AuditSealArgs, AuditShowArgs, AuditVerifyArgs, Format};
use crate::error::{CommandError, CommandResult, Exit};
use crate::output::{Column, Output, Record};
use crate::store::{Store, StoreLocation};

pub fn run(command: AuditCommand, ctx: &Context) -> CommandResult {
    match command {
        AuditCommand::Show(args) => show(&args, ctx),
        AuditCommand::Verify(args) => verify(&args, ctx),
        AuditCommand::Seal(args) => seal(&args, ctx),
    }
}

/// The audit key of this run: `PGACCT_AUDIT_KEY`, else `[audit] key_file`
/// (the config is read only then), else none. A key that is configured but
/// unusable is an error, never a quiet fall-back to no key.
pub(super) fn key(ctx: &Context) -> Result<Option<AuditKey>, CommandError> {
    let env = match std::env::var(KEY_VAR) {
        Ok(text) => Some(text),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(CommandError::usage(format!("{KEY_VAR} is not valid UTF-8 text"))
                .hint("make a key with `openssl rand -hex 32`"));
        }
    };
    let config = match env.as_deref() {
        Some(text) if !text.is_empty() => KeyConfig::default(),
        _ => ctx.config()?.audit.clone(),
    };
    Ok(AuditKey::find(env.as_deref(), &config)?)
}

impl Record for AuditRow {
    const COLUMNS: &'static [Column] = &[
        Column::shown("id"),
        Column::shown("time"),
        Column::shown("outcome"),
        Column::shown("operation"),
        Column::shown("env"),
        Column::shown("db"),
        Column::wide("cluster"),
        Column::shown("role"),
        Column::shown("status"),
        Column::shown("error"),
        Column::wide("duration_ms"),
        Column::shown("actor"),
        Column::wide("host"),
        Column::wide("pid"),
        Column::wide("ci_job"),
        Column::shown("ticket"),
        Column::wide("sql"),
        Column::wide("started_id"),
        Column::if_any("imported_id"),
        Column::wide("damaged"),
    ];
}

fn show(args: &AuditShowArgs, ctx: &Context) -> CommandResult {
    let out = ctx.output(Format::Table, RECORD_FORMATS)?;
    let now = jiff::Timestamp::now();
    let bound = |text: &Option<String>, side| {
        text.as_deref().map(|t| parse_bound(t, side, now)).transpose().map_err(CommandError::usage)
    };
    if let Some(operation) = &args.operation {
        check_operation(operation)?;
    }
    let filter = Filter {
        env: args.env.as_ref().map(|e| e.as_str().to_owned()),
        db: args.db.as_ref().map(|d| d.as_str().to_owned()),
        role: args.user.clone(),
        actor: args.actor.clone(),
        operation: args.operation.clone(),
        since: bound(&args.since, Side::Since)?,
        until: bound(&args.until, Side::Until)?,
        failed: args.failed,
        incomplete: args.incomplete,
        limit: (args.limit > 0).then_some(args.limit),
    };
    let rows = ctx.registry()?.show(&filter)?;
    // Shown, not skipped: a DBA looking for what happened needs to see the
    // record that was tampered with, most of all.
    for row in &rows {
        if let Some(damage) = &row.damaged {
            ctx.messages.warn(&format!(
                "record #{} holds {damage} (shown escaped): the trail was tampered with; \
                 see `pgacct audit verify`",
                row.id
            ));
        }
    }
    out.list_or_say(&rows, &ctx.messages, "no audit records match")?;
    Ok(Exit::Success)
}

#[derive(Debug, Serialize)]
struct VerifyReport {
    intact: bool,
    records: u64,
    head_id: Option<i64>,
    head_hash: Option<String>,
    broken_at: Option<i64>,
    problem: Option<String>,
    /// The first record made with an audit key (the seal), if any.
    sealed_from: Option<i64>,
    /// The id of the audit key the HMACs were checked with; null without one.
    key_id: Option<String>,
    /// Keyed records whose HMAC was not checked, for want of the key.
    unchecked: u64,
}

/// Every operation the audit trail records, and their groups. A typo must
/// be refused: an empty table with exit 0 reads as "no changes" to a script.
const OPERATIONS: &[&str] = &[
    "audit",
    "audit.seal",
    "notify",
    "notify.command",
    "notify.email",
    "notify.slack",
    "notify.test",
    "notify.webex",
    "notify.webhook",
    "registry",
    "registry.activate",
    "registry.add",
    "registry.deactivate",
    "registry.import",
    "registry.remove",
    "registry.sync",
    "registry.update",
    "store",
    "store.migrate",
    "user",
    "user.create",
    "user.drop",
    "user.grant-role",
    "user.lock",
    "user.reset-password",
    "user.revoke-role",
    "user.set-search-path",
    "user.unlock",
];

fn check_operation(operation: &str) -> Result<(), CommandError> {
    if OPERATIONS.contains(&operation) {
        return Ok(());
    }
    Err(CommandError::usage(format!("no operation is called '{operation}'"))
        .hint(format!("--operation takes one of: {}", OPERATIONS.join(", "))))
}

fn verify(args: &AuditVerifyArgs, ctx: &Context) -> CommandResult {
    let out = ctx.output(Format::Table, &[Format::Table, Format::Json])?;
    let anchor = args.expect.as_deref().map(parse_anchor).transpose()?;
    let store = ctx.registry()?;
    if let Store::Team(_) = store {
        warn_if_key_set(ctx)?;
        return print_verification(&out, store.verify(anchor.as_ref(), None)?, None);
    }
    let key = key(ctx)?;
    let verification = store.verify(anchor.as_ref(), key.as_ref())?;
    let key_id = key.as_ref().map(|k| k.id().to_owned());
    if verification.unchecked > 0 {
        ctx.messages.warn(&format!(
            "{} records were made with an audit key, and no key is set: their chain was checked, \
             their HMACs were not (set {KEY_VAR} or [audit] key_file to check them)",
            verification.unchecked
        ));
    }
    print_verification(&out, verification, key_id)
}

/// The audit key does not apply to a team store, whose server attests
/// its records: say so when one is set.
fn warn_if_key_set(ctx: &Context) -> Result<(), CommandError> {
    let key_set = std::env::var_os(KEY_VAR).is_some_and(|v| !v.is_empty())
        || ctx.config()?.audit.key_file.is_some();
    if key_set {
        ctx.messages.warn(&format!(
            "the audit key ({KEY_VAR} or [audit] key_file) does not apply to a team store, and \
             was not used: the server sets each record's time, writer and hash"
        ));
    }
    Ok(())
}

/// The report of `audit verify`, the same for both stores: exit 1 when the
/// trail is broken.
fn print_verification(
    out: &Output,
    verification: Verification,
    key_id: Option<String>,
) -> CommandResult {
    let report = VerifyReport {
        intact: verification.break_at.is_none(),
        records: verification.records,
        head_id: verification.head.as_ref().map(|(id, _)| *id),
        head_hash: verification.head.map(|(_, hash)| hash),
        broken_at: verification.break_at.as_ref().map(|b| b.id),
        problem: verification.break_at.map(|b| b.problem),
        sealed_from: verification.sealed_from,
        key_id,
        unchecked: verification.unchecked,
    };
    let mut stdout = std::io::stdout().lock();
    if out.format() == Format::Json {
        serde_json::to_writer_pretty(&mut stdout, &report).map_err(std::io::Error::from)?;
        writeln!(stdout)?;
    } else if let Some(problem) = &report.problem {
        writeln!(stdout, "audit trail BROKEN: {}", crate::output::for_terminal(problem))?;
        writeln!(stdout, "checked {} records up to the break", report.records)?;
    } else {
        writeln!(stdout, "audit trail intact: {} records", report.records)?;
        match (report.sealed_from, &report.key_id) {
            (Some(from), Some(key_id)) => writeln!(
                stdout,
                "sealed from record #{from}: HMACs checked with the audit key (key id {key_id})"
            )?,
            (Some(from), None) => writeln!(
                stdout,
                "sealed from record #{from}: HMACs of {} records NOT checked (no audit key)",
                report.unchecked
            )?,
            // Only said when a key is set: without one, nothing changes.
            (None, Some(_)) => writeln!(stdout, "not sealed: the trail is empty")?,
            (None, None) => {}
        }
        if let (Some(id), Some(hash)) = (report.head_id, &report.head_hash) {
            writeln!(stdout, "head: {id}:{hash}")?;
        }
    }
    Ok(if report.intact { Exit::Success } else { Exit::Failure })
}

#[derive(Debug, Serialize)]
struct SealReport {
    /// The record that seals the trail, when this run wrote it; null when
    /// the trail was sealed with this key already.
    sealed_at: Option<i64>,
    key_id: String,
    /// The trail's head afterwards, to note somewhere else.
    head: Option<String>,
}

/// Writes a record with the audit key, so that from there on the trail
/// takes only records made with it. Nothing is written when the newest
/// record was made with this key already: the trail is sealed.
fn seal(args: &AuditSealArgs, ctx: &Context) -> CommandResult {
    let out = ctx.output(Format::Table, &[Format::Table, Format::Json])?;
    if let StoreLocation::Team(_) = ctx.store_location()? {
        return Err(CommandError::usage(
            "a team store's trail cannot be sealed: the audit key does not apply there, its \
             server sets every record's time, writer and hash",
        )
        .hint("check the shared trail with `pgacct audit verify`"));
    }
    let key = key(ctx)?.ok_or_else(|| {
        CommandError::usage("`audit seal` needs the audit key, and none is set").hint(format!(
            "set {KEY_VAR}, or [audit] key_file in config.toml (see README: The audit key)"
        ))
    })?;
    let store = ctx.registry_to_change(&args.change)?;
    let head = store.head()?;
    let report = if head.as_ref().is_some_and(|h| h.key_id.as_deref() == Some(key.id())) {
        ctx.messages.status(&format!(
            "the audit trail is sealed with this key already; nothing was written (key id {})",
            key.id()
        ));
        SealReport {
            sealed_at: None,
            key_id: key.id().to_owned(),
            head: head.map(|h| h.to_string()),
        }
    } else {
        let plan = Plan {
            operation: "audit.seal".into(),
            items: vec![Item {
                intent: format!("seal the audit trail with the audit key (key id {})", key.id()),
                ..Item::default()
            }],
            announce: true,
            ..Plan::default()
        };
        let ran = change::run(ctx, &plan, &args.change, Some(store), None, |_, _| {
            vec![Done::ok("audit trail sealed: every record from here on is made with the key")]
        })?;
        let Ran::Applied(applied) = ran else {
            ctx.messages.status("--dry-run: would seal the audit trail; nothing was written");
            return Ok(Exit::Success);
        };
        let head = ctx.registry()?.head()?;
        SealReport {
            sealed_at: applied.first_record,
            key_id: key.id().to_owned(),
            head: head.map(|h| h.to_string()),
        }
    };
    let mut stdout = std::io::stdout().lock();
    if out.format() == Format::Json {
        serde_json::to_writer_pretty(&mut stdout, &report).map_err(std::io::Error::from)?;
        writeln!(stdout)?;
    } else {
        if let Some(id) = report.sealed_at {
            writeln!(stdout, "audit trail sealed at record #{id} (key id {})", report.key_id)?;
        }
        if let Some(head) = &report.head {
            writeln!(stdout, "head: {head}")?;
        }
    }
    Ok(Exit::Success)
}

fn parse_anchor(text: &str) -> Result<Anchor, CommandError> {
    let invalid = || {
        CommandError::usage(format!("invalid --expect '{text}'"))
            .hint("give the head as `audit verify` printed it: ID:HASH")
    };
    let (id, hash) = text.split_once(':').ok_or_else(invalid)?;
    let id = id.parse().map_err(|_| invalid())?;
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid());
    }
    Ok(Anchor { id, hash: hash.to_ascii_lowercase() })
}
