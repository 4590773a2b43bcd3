//! `pgacct notify test`: a test event through the configured channels, as a
//! change like any other (planned, journaled; `--dry-run` sends nothing).
//! Notifications after other changes are the pipeline's last step.

use serde::Serialize;

use super::change::{self, Item, Plan, Ran};
use super::{Context, RECORD_FORMATS};
use crate::audit::AuditStore as _;
use crate::cli::{Format, NotifyCommand, NotifyKindArg, NotifyTestArgs};
use crate::error::{CommandError, CommandResult, Exit};
use crate::notify::{self, Channel, Event, Kind};
use crate::output::{self, Column, Record};

pub fn run(command: NotifyCommand, ctx: &Context) -> CommandResult {
    match command {
        NotifyCommand::Test(args) => test(ctx, &args),
    }
}

/// One channel's result in `notify test`.
#[derive(Debug, Serialize)]
struct TestRow {
    channel: String,
    kind: &'static str,
    outcome: &'static str,
    detail: String,
    duration_ms: u128,
}

impl Record for TestRow {
    const COLUMNS: &'static [Column] = &[
        Column::shown("channel"),
        Column::shown("kind"),
        Column::shown("outcome"),
        Column::shown("detail"),
        Column::shown("duration_ms"),
    ];
}

fn test(ctx: &Context, args: &NotifyTestArgs) -> CommandResult {
    let out = ctx.output(Format::Table, RECORD_FORMATS)?;
    let kind = args.kind.map(|k| match k {
        NotifyKindArg::Slack => Kind::Slack,
        NotifyKindArg::Webex => Kind::Webex,
        NotifyKindArg::Webhook => Kind::Webhook,
        NotifyKindArg::Command => Kind::Command,
        NotifyKindArg::Email => Kind::Email,
    });
    let channels = ctx.config()?.channels();
    let selected: Vec<&Channel> =
        channels.iter().filter(|c| kind.is_none_or(|k| c.kind == k)).collect();
    if selected.is_empty() {
        let which = kind.map_or_else(String::new, |k| format!(" of kind {k}"));
        return Err(CommandError::usage(format!("no notification channels{which} are configured"))
            .hint("add [[notify]] entries to config.toml (see README: Notifications)"));
    }
    let plan = Plan {
        operation: "notify.test".into(),
        items: selected
            .iter()
            .map(|channel| Item {
                intent: format!("send a test to {} '{}'", channel.kind, channel.name),
                ..Item::default()
            })
            .collect(),
        ..Plan::default()
    };
    let event = Event::test(&crate::audit::Invocation::current(args.change.ticket.clone()));
    let mut deliveries = Vec::new();
    let ran = change::run(ctx, &plan, &args.change, None, None, |store, _| {
        // The test's own started records are the head it can carry.
        let event =
            Event { audit_head: store.head().ok().flatten().map(|head| head.to_string()), ..event };
        deliveries = notify::deliver(&selected, &event);
        deliveries.iter().map(change::delivery_done).collect()
    })?;
    let Ran::Applied(applied) = ran else {
        for channel in &selected {
            ctx.messages
                .status(&format!("would send a test to {} '{}'", channel.kind, channel.name));
        }
        ctx.messages.status("--dry-run: nothing was sent");
        return Ok(Exit::Success);
    };
    let rows: Vec<TestRow> = deliveries
        .iter()
        .map(|d| TestRow {
            channel: d.channel.clone(),
            kind: d.kind.as_str(),
            outcome: if d.result.is_ok() { "ok" } else { "failed" },
            detail: match &d.result {
                Ok(answer) | Err(answer) => answer.clone(),
            },
            duration_ms: d.duration.as_millis(),
        })
        .collect();
    output::unless_closed(out.list(&rows))?;
    Ok(applied.exit())
}
