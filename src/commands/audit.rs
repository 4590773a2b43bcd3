//! `pgacct audit ...`: read and check the audit trail.

use std::io::Write as _;

use serde::Serialize;

use super::{Context, RECORD_FORMATS};
use crate::audit::{Anchor, AuditRow, AuditStore, Filter, Side, parse_bound};
use crate::cli::{AuditCommand, AuditShowArgs, AuditVerifyArgs, Format};
use crate::error::{CommandError, CommandResult, Exit};
use crate::output::{Column, Record};

pub fn run(command: AuditCommand, ctx: &Context) -> CommandResult {
    match command {
        AuditCommand::Show(args) => show(&args, ctx),
        AuditCommand::Verify(args) => verify(&args, ctx),
    }
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
    ];
}

fn show(args: &AuditShowArgs, ctx: &Context) -> CommandResult {
    let out = ctx.output(Format::Table, RECORD_FORMATS)?;
    let now = jiff::Timestamp::now();
    let bound = |text: &Option<String>, side| {
        text.as_deref().map(|t| parse_bound(t, side, now)).transpose().map_err(CommandError::usage)
    };
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
    out.list(&rows)?;
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
}

fn verify(args: &AuditVerifyArgs, ctx: &Context) -> CommandResult {
    let out = ctx.output(Format::Table, &[Format::Table, Format::Json])?;
    let anchor = args.expect.as_deref().map(parse_anchor).transpose()?;
    let verification = ctx.registry()?.verify(anchor.as_ref())?;
    let report = VerifyReport {
        intact: verification.break_at.is_none(),
        records: verification.records,
        head_id: verification.head.as_ref().map(|(id, _)| *id),
        head_hash: verification.head.map(|(_, hash)| hash),
        broken_at: verification.break_at.as_ref().map(|b| b.id),
        problem: verification.break_at.map(|b| b.problem),
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
        if let (Some(id), Some(hash)) = (report.head_id, &report.head_hash) {
            writeln!(stdout, "head: {id}:{hash}")?;
        }
    }
    Ok(if report.intact { Exit::Success } else { Exit::Failure })
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
