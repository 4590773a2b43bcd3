//! Changes wrapped in audit records: started before anything is touched,
//! the outcome after, failures included.

use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::Context;
use super::notify::announce;
use crate::audit::{AuditStore, Finish, Operation};
use crate::notify::{Event, TargetResult};
use crate::registry::{self, Database};

/// Runs `work` between a started and an outcome record. `done` words the
/// outcome of a success; a failure records the error.
pub fn audited<T>(
    ctx: &Context,
    store: &mut Database,
    operation: Operation,
    work: impl FnOnce(&mut Database) -> Result<T, registry::Error>,
    done: impl FnOnce(&T) -> String,
) -> anyhow::Result<T> {
    let who = ctx.invocation();
    let attempted = operation.status.clone();
    let subject = operation.clone();
    let started = store.start(&who, &[operation]).context("cannot write to the audit trail")?[0];
    pause_after_start();
    let clock = Instant::now();
    let result = work(store);
    let result_text = match &result {
        Ok(value) => Ok(done(value)),
        Err(err) => Err(err.to_string()),
    };
    let finish = outcome(started, &attempted, clock.elapsed(), result_text);
    store
        .finish(&who, std::slice::from_ref(&finish))
        .context("the change was made, but its outcome could not be written to the audit trail")?;
    let event = Event::new(
        &who,
        &subject.name,
        subject.role.as_deref(),
        vec![target_result(&subject, &finish)],
    );
    announce(ctx, store, &event);
    Ok(result?)
}

/// An operation's outcome, as a notification tells it.
pub fn target_result(operation: &Operation, finish: &Finish) -> TargetResult {
    TargetResult {
        env: operation.env.clone().unwrap_or_default(),
        db: operation.db.clone().unwrap_or_default(),
        cluster: operation.cluster.clone(),
        status: finish.status.clone(),
        outcome: if finish.ok { "ok" } else { "failed" },
        error: finish.error.clone(),
    }
}

/// An outcome record's content: `Ok(status)`, or `Err(error)` for an
/// operation that failed at what it `attempted`.
pub fn outcome(
    started: i64,
    attempted: &str,
    duration: Duration,
    result: Result<String, String>,
) -> Finish {
    match result {
        Ok(status) => Finish { started, ok: true, status, error: None, duration, sql: None },
        Err(error) => Finish {
            started,
            ok: false,
            status: attempted.to_owned(),
            error: Some(error),
            duration,
            sql: None,
        },
    }
}

/// Test hook, compiled into debug builds only: with
/// `PGACCT_TEST_PAUSE_AFTER_START=SECONDS`, wait after the started records
/// are written, so that a test can kill the process there.
#[cfg(debug_assertions)]
pub fn pause_after_start() {
    let pause = std::env::var("PGACCT_TEST_PAUSE_AFTER_START").ok().and_then(|s| s.parse().ok());
    if let Some(seconds) = pause {
        std::thread::sleep(Duration::from_secs(seconds));
    }
}

#[cfg(not(debug_assertions))]
pub fn pause_after_start() {}
