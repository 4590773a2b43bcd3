//! Notifications: telling people and systems what pgacct changed.
//!
//! One event per invocation, not per target: a change request is one
//! command, and a fan-out over `--all` would otherwise post a message per
//! database. The event lists every target's result for programs, and chat
//! gets one readable line. Events say who, what, where and how it ended,
//! never a password or verifier.
//!
//! Deliveries run concurrently, each with its own timeout, after the
//! operation's outcome is recorded; they never change its result.

mod channel;
mod email;
mod http;
pub mod process;

use std::collections::BTreeSet;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Serialize;

pub use channel::{Channel, ChannelConfig, Kind};

/// What happened, as channels receive it.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// `pgacct.operation`, or `pgacct.test` for `pgacct notify test`.
    #[serde(rename = "event")]
    pub kind: &'static str,
    /// UTC, milliseconds.
    pub time: String,
    pub actor: String,
    pub host: String,
    pub ticket: Option<String>,
    pub ci_job: Option<String>,
    /// e.g. `user.create`, `registry.add`.
    pub operation: String,
    pub role: Option<String>,
    /// `ok`, `failed`, or `partial` when some targets failed.
    pub outcome: &'static str,
    /// e.g. "2 ok", "1 ok, 1 failed".
    pub summary: String,
    pub targets: Vec<TargetResult>,
    /// The audit trail's head (`ID:HASH`): the newest record once the
    /// change's outcomes were recorded (the records of this event's own
    /// deliveries come after it, and are covered by the next event's head).
    /// Kept by the receivers, outside the machine, it later shows a trail
    /// that was cut short or rewritten (`audit verify --expect ID:HASH`).
    pub audit_head: Option<String>,
}

/// One target's part of an event.
#[derive(Debug, Clone, Serialize)]
pub struct TargetResult {
    pub env: String,
    pub db: String,
    pub cluster: Option<String>,
    pub status: String,
    pub outcome: crate::audit::Outcome,
    pub error: Option<String>,
}

impl Event {
    /// An event for `targets`, with the outcome and summary worked out.
    pub fn new(
        who: &crate::audit::Invocation,
        operation: &str,
        role: Option<&str>,
        targets: Vec<TargetResult>,
    ) -> Event {
        let failed = targets.iter().filter(|t| !t.outcome.is_ok()).count();
        let ok = targets.len() - failed;
        let outcome = match (ok, failed) {
            (_, 0) => "ok",
            (0, _) => "failed",
            _ => "partial",
        };
        let summary = match (ok, failed) {
            (ok, 0) => format!("{ok} ok"),
            (0, failed) => format!("{failed} failed"),
            (ok, failed) => format!("{ok} ok, {failed} failed"),
        };
        Event {
            kind: "pgacct.operation",
            time: crate::time::now(),
            actor: who.actor.clone(),
            host: who.host.clone(),
            ticket: who.ticket.clone(),
            ci_job: who.ci_job.clone(),
            operation: operation.to_owned(),
            role: role.map(str::to_owned),
            outcome,
            summary,
            targets,
            audit_head: None,
        }
    }

    /// The event `pgacct notify test` sends.
    pub fn test(who: &crate::audit::Invocation) -> Event {
        Event { kind: "pgacct.test", ..Event::new(who, "notify.test", None, Vec::new()) }
    }

    /// The environments the event touches.
    pub fn envs(&self) -> BTreeSet<&str> {
        self.targets.iter().map(|t| t.env.as_str()).collect()
    }

    /// What chat shows: [`Event::line`], and the audit head to anchor the
    /// trail in the chat's history.
    pub fn text(&self) -> String {
        match &self.audit_head {
            Some(head) => format!("{} · audit head {head}", self.line()),
            None => self.line(),
        }
    }

    /// One line for people: who, what, where, how it ended.
    pub fn line(&self) -> String {
        if self.kind == "pgacct.test" {
            return format!("🔔 pgacct: test notification from {}@{}", self.actor, self.host);
        }
        let mark = match self.outcome {
            "ok" => "✅",
            "partial" => "⚠️",
            _ => "❌",
        };
        let what = match &self.role {
            Some(role) => format!("{} {role}", self.operation),
            None => self.operation.clone(),
        };
        let on = if self.targets.len() <= 3 {
            self.targets
                .iter()
                .map(|t| format!("{}/{}", t.env, t.db))
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            let envs: Vec<&str> = self.envs().into_iter().collect();
            format!("{} targets in {}", self.targets.len(), envs.join(", "))
        };
        let statuses: BTreeSet<&str> = self.targets.iter().map(|t| t.status.as_str()).collect();
        let status = if statuses.len() == 1 {
            statuses.into_iter().next().unwrap_or_default().to_owned()
        } else {
            self.summary.clone()
        };
        let error = self
            .targets
            .iter()
            .find_map(|t| t.error.as_deref())
            .map(|e| format!(": {e}"))
            .unwrap_or_default();
        let ticket = self.ticket.as_ref().map(|t| format!(" [{t}]")).unwrap_or_default();
        format!(
            "{mark} pgacct: {}@{} {what} on {on}: {status}{error}{ticket}",
            self.actor, self.host
        )
    }
}

/// How one delivery went.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub channel: String,
    pub kind: Kind,
    /// What the receiver said (`HTTP 200`, `exit status 0`), or why it failed.
    pub result: Result<String, String>,
    pub duration: Duration,
}

/// The channels whose filters select `event`.
pub fn select<'a>(channels: &'a [Channel], event: &Event) -> Vec<&'a Channel> {
    channels.iter().filter(|c| c.wants(event)).collect()
}

/// Sends `event` through `channels` at once, each within its timeout; waits
/// no longer than the longest timeout and a second.
pub fn deliver(channels: &[&Channel], event: &Event) -> Vec<Delivery> {
    let (results, received) = mpsc::channel();
    let started = Instant::now();
    for (i, channel) in channels.iter().enumerate() {
        let (channel, event, results) = ((*channel).clone(), event.clone(), results.clone());
        std::thread::spawn(move || {
            let clock = Instant::now();
            let result = channel.send(&event);
            let _ = results.send((i, result, clock.elapsed()));
        });
    }
    drop(results);
    let longest = channels.iter().map(|c| c.timeout).max().unwrap_or_default();
    let deadline = started + longest + Duration::from_secs(1);
    let mut outcomes: Vec<Option<(Result<String, String>, Duration)>> = vec![None; channels.len()];
    while outcomes.iter().any(Option::is_none) {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else { break };
        match received.recv_timeout(left) {
            Ok((i, result, took)) => outcomes[i] = Some((result, took)),
            Err(_) => break,
        }
    }
    channels
        .iter()
        .zip(outcomes)
        .map(|(channel, outcome)| {
            let (result, duration) = outcome.unwrap_or_else(|| {
                (Err(format!("timed out after {} s", channel.timeout.as_secs())), started.elapsed())
            });
            Delivery { channel: channel.name.clone(), kind: channel.kind, result, duration }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(db: &str, outcome: &'static str) -> TargetResult {
        let ok = outcome == "ok";
        TargetResult {
            env: "qa".into(),
            db: db.into(),
            cluster: Some("db1:5432".into()),
            status: if ok { "user created" } else { "create devqa user" }.into(),
            outcome: if ok { crate::audit::Outcome::Ok } else { crate::audit::Outcome::Failed },
            error: (!ok).then(|| "connection refused".into()),
        }
    }

    fn who() -> crate::audit::Invocation {
        crate::audit::Invocation {
            actor: "alice".into(),
            host: "bastion".into(),
            pid: 1,
            ci_job: None,
            ticket: Some("CHG-9".into()),
            audit_key: None,
        }
    }

    #[test]
    fn one_line_says_who_what_where_and_how() {
        let event =
            Event::new(&who(), "user.create", Some("web01_8080"), vec![target("orders", "ok")]);
        assert_eq!(
            event.text(),
            "✅ pgacct: alice@bastion user.create web01_8080 on qa/orders: user created [CHG-9]"
        );
        let mixed = Event::new(
            &who(),
            "user.create",
            Some("x"),
            vec![target("a", "ok"), target("b", "failed")],
        );
        assert_eq!(mixed.outcome, "partial");
        assert_eq!(
            mixed.text(),
            "⚠️ pgacct: alice@bastion user.create x on qa/a, qa/b: 1 ok, 1 failed: connection refused [CHG-9]"
        );
        let many: Vec<TargetResult> = (0..5).map(|i| target(&format!("db{i}"), "ok")).collect();
        assert!(
            Event::new(&who(), "user.lock", Some("x"), many).text().contains("on 5 targets in qa")
        );
    }

    #[test]
    fn chat_text_carries_the_audit_head() {
        let mut event =
            Event::new(&who(), "user.create", Some("web01_8080"), vec![target("orders", "ok")]);
        let head = format!("12:{}", "ab".repeat(32));
        event.audit_head = Some(head.clone());
        assert_eq!(event.text(), format!("{} · audit head {head}", event.line()));
        assert!(!event.line().contains(&head));
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["audit_head"], head.as_str());
    }
}
