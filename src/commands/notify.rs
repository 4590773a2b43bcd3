//! Telling the configured channels: after every change (see [`announce`]),
//! and on request with `pgacct notify test`.

use serde::Serialize;

use super::{Context, RECORD_FORMATS};
use crate::audit::{AuditStore, Finish, Operation};
use crate::cli::{Format, NotifyCommand, NotifyKindArg};
use crate::error::{Exit, UsageError};
use crate::notify::{self, Channel, Delivery, Event, Kind};
use crate::output::{Column, Record};
use crate::registry::Database;

/// Sends `event` to the channels whose filters select it, after the
/// operation's outcome is recorded. Each delivery is recorded in the audit
/// trail; a failure is a warning and never changes the command's result.
pub fn announce(ctx: &Context, store: &mut Database, event: &Event) {
    let channels = match ctx.config() {
        Ok(config) => config.channels(),
        Err(err) => {
            ctx.messages.warn(&format!("no notifications were sent: {err:#}"));
            return;
        }
    };
    let selected = notify::select(&channels, event);
    if selected.is_empty() {
        return;
    }
    let deliveries = deliver_recorded(ctx, store, &selected, event);
    for delivery in deliveries {
        if let Err(error) = &delivery.result {
            ctx.messages.warn(&format!(
                "notification to {} '{}' failed: {error}",
                delivery.kind, delivery.channel
            ));
        }
    }
}

/// Delivers, with a started and an outcome audit record per channel.
fn deliver_recorded(
    ctx: &Context,
    store: &mut Database,
    channels: &[&Channel],
    event: &Event,
) -> Vec<Delivery> {
    let who = ctx.invocation();
    let envs = event.envs();
    let env = (envs.len() == 1).then(|| envs.iter().next().map(|e| (*e).to_owned())).flatten();
    let operations: Vec<Operation> = channels
        .iter()
        .map(|channel| Operation {
            name: format!("notify.{}", channel.kind),
            env: env.clone(),
            db: None,
            cluster: None,
            role: event.role.clone(),
            status: format!("notify {} '{}' of {}", channel.kind, channel.name, event.operation),
        })
        .collect();
    let started = match store.start(&who, &operations) {
        Ok(ids) => ids,
        Err(err) => {
            ctx.messages
                .warn(&format!("notifications are not recorded in the audit trail: {err:#}"));
            Vec::new()
        }
    };
    let deliveries = notify::deliver(channels, event);
    let finishes: Vec<Finish> = started
        .iter()
        .zip(&deliveries)
        .map(|(id, delivery)| Finish {
            started: *id,
            ok: delivery.result.is_ok(),
            status: match &delivery.result {
                Ok(answer) => {
                    format!("delivered to {} '{}': {answer}", delivery.kind, delivery.channel)
                }
                Err(_) => format!("not delivered to {} '{}'", delivery.kind, delivery.channel),
            },
            error: delivery.result.clone().err(),
            duration: delivery.duration,
            sql: None,
        })
        .collect();
    if let Err(err) = store.finish(&who, &finishes) {
        ctx.messages
            .warn(&format!("notification results are not recorded in the audit trail: {err:#}"));
    }
    deliveries
}

pub fn run(command: NotifyCommand, ctx: &Context) -> anyhow::Result<Exit> {
    match command {
        NotifyCommand::Test(args) => test(ctx, args.kind),
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

fn test(ctx: &Context, kind: Option<NotifyKindArg>) -> anyhow::Result<Exit> {
    let out = ctx.output(Format::Table, RECORD_FORMATS)?;
    let kind = kind.map(|k| match k {
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
        return Err(UsageError::new(format!("no notification channels{which} are configured"))
            .with_hint("add [[notify]] entries to config.toml (see README: Notifications)")
            .into());
    }
    let event = Event::test(&ctx.invocation());
    let mut store = ctx.registry_to_write()?;
    let deliveries = deliver_recorded(ctx, &mut store, &selected, &event);
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
    out.list(&rows)?;
    let failed = rows.iter().filter(|r| r.outcome == "failed").count();
    Ok(match failed {
        0 => Exit::Success,
        n if n == rows.len() => Exit::Failure,
        _ => Exit::Partial,
    })
}
