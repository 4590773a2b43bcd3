//! The change pipeline (DESIGN.md §12): the one path every command that
//! changes something takes, and the one owner of its order and its
//! failure policy.
//!
//! 1. **Plan**: the command reads what it needs and builds a [`Plan`]: one
//!    [`Item`] per audit record, the refusals its checks found, and what
//!    needs confirming. A refusal stops everything here (exit 2).
//! 2. **Confirm** where DESIGN.md §9 asks; `--dry-run` stops before this,
//!    having opened no file for writing.
//! 3. **Journal start**: the started records of every item, in one store
//!    transaction, before anything is touched.
//! 4. **Apply**: the command's work, which signals cannot cut short: an
//!    interrupt stops it between steps (see [`crate::interrupt`]).
//! 5. **Journal finish**: every outcome, in one transaction, with the SQL
//!    that ran.
//! 6. **Deliver** the secret (also after an interrupt, for the targets that
//!    have it) and **announce** the event to the notification channels.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use super::Context;
use crate::audit::{AuditStore, Finish, Head, Invocation, Operation, Outcome};
use crate::cli::ChangeArgs;
use crate::error::{CommandError, Exit, Tally};
use crate::interrupt::Interrupt;
use crate::notify::{self, Event, TargetResult};
use crate::secret::{self, Endpoint, Password, SecretCommand, SecretFile, SecretFormat};
use crate::store::Store;

/// What a change will do, before it does anything.
#[derive(Debug, Default)]
pub struct Plan {
    /// The audit trail's name for it, e.g. `user.create`.
    pub operation: String,
    /// The PostgreSQL role it concerns.
    pub role: Option<String>,
    /// One per audit record, in the order the results are reported.
    pub items: Vec<Item>,
    /// Checks that failed: the change is refused, nothing happens.
    pub refusals: Vec<Refusal>,
    /// Why the change must be confirmed; empty when it need not be.
    pub confirm_because: Vec<String>,
    /// The question to ask.
    pub question: String,
    /// Lines shown before the question (and by `--dry-run`).
    pub notes: Vec<String>,
    /// Warnings shown before the question (and by `--dry-run`): what the
    /// change will not prevent, such as PUBLIC creating in a schema.
    pub warnings: Vec<String>,
    /// Tell the notification channels afterwards.
    pub announce: bool,
}

/// One thing a change touches: a target, or a notification channel.
#[derive(Debug, Clone, Default)]
pub struct Item {
    pub env: Option<String>,
    pub db: Option<String>,
    /// `host:port`.
    pub cluster: Option<String>,
    /// What is about to happen, as the started record says.
    pub intent: String,
    /// Where a delivered password works, for targets that get one.
    pub endpoint: Option<Endpoint>,
}

/// A check that failed, and where.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// Where it was found, e.g. `127.0.0.1:5432 (qa/orders)`; empty when
    /// it concerns the whole change.
    pub at: String,
    pub reason: String,
    pub hint: Option<String>,
}

/// How one item ended.
#[derive(Debug, Clone)]
pub struct Done {
    pub outcome: Outcome,
    pub status: String,
    pub error: Option<String>,
    /// The statements that ran, and how each ended.
    pub sql: Vec<String>,
    /// The item's target now has the new password.
    pub password_set: bool,
}

impl Done {
    pub fn ok(status: impl Into<String>) -> Done {
        Done {
            outcome: Outcome::Ok,
            status: status.into(),
            error: None,
            sql: Vec::new(),
            password_set: false,
        }
    }

    pub fn failed(status: impl Into<String>, error: impl Into<String>) -> Done {
        Done { outcome: Outcome::Failed, error: Some(error.into()), ..Done::ok(status) }
    }
}

/// A new password and where it goes, besides the result itself.
#[derive(Debug)]
pub struct SecretDelivery {
    pub role: String,
    pub secret: Password,
    /// `--secret-file`, its format, and `--force`.
    pub file: Option<(std::path::PathBuf, SecretFormat, bool)>,
    /// `--secret-command`.
    pub command: Option<SecretCommand>,
}

impl SecretDelivery {
    /// What the plan shows about delivering: `--secret-format pgbouncer`
    /// needs one verifier for every server, and with servers whose
    /// `scram_iterations` differ there are several.
    fn refusals(&self) -> Vec<Refusal> {
        if !matches!(self.file, Some((_, SecretFormat::Pgbouncer, _))) {
            return Vec::new();
        }
        let made = self.secret.shared_verifiers();
        if made.len() < 2 {
            return Vec::new();
        }
        let counts: Vec<String> = made.keys().map(ToString::to_string).collect();
        vec![Refusal {
            at: String::new(),
            reason: format!(
                "--secret-format pgbouncer writes one SCRAM verifier, and the clusters' \
                 scram_iterations differ ({}): no one verifier is stored on all of them",
                counts.join(", ")
            ),
            hint: Some(
                "change the clusters of each scram_iterations in a run of their own (pgacct \
                 registry check shows it), or set scram_iterations alike"
                    .into(),
            ),
        }]
    }
}

/// What running the pipeline came to.
#[derive(Debug)]
pub enum Ran {
    /// `--dry-run`: the plan passed its checks; the caller prints it.
    DryRun,
    Applied(Applied),
}

#[derive(Debug)]
pub struct Applied {
    /// One per item, in order.
    pub done: Vec<Done>,
    /// A signal arrived while the change ran.
    pub interrupted: bool,
    /// The id of the first started record: what `--retry` takes.
    pub first_record: Option<i64>,
    /// A password was set, and the secret file it was to go to could not
    /// be written (it was kept elsewhere, or printed).
    pub delivery_failed: bool,
}

impl Applied {
    pub fn tally(&self) -> Tally {
        Tally {
            interrupted: self.interrupted,
            ..Tally::of(self.done.iter().map(|d| d.outcome.is_ok()))
        }
    }

    /// The exit code: the tally's, but a delivery that failed is a failure.
    pub fn exit(&self) -> Exit {
        match Exit::from_tally(self.tally()) {
            Exit::Success if self.delivery_failed => Exit::Failure,
            exit => exit,
        }
    }
}

/// Runs `plan` through the pipeline; `apply` does the work, with the
/// store open for writing and the interrupt to watch, and returns one
/// [`Done`] per item. `store` is the one the plan was read from, if the
/// command has it open for writing already ([`Context::registry_to_change`]);
/// otherwise the pipeline opens one.
pub fn run(
    ctx: &Context,
    plan: &Plan,
    args: &ChangeArgs,
    store: Option<Store>,
    secret: Option<&SecretDelivery>,
    apply: impl FnOnce(&mut Store, &Interrupt) -> Vec<Done>,
) -> Result<Ran, CommandError> {
    let delivery_refusals = secret.map(SecretDelivery::refusals).unwrap_or_default();
    if !plan.refusals.is_empty() || !delivery_refusals.is_empty() {
        let refusals: Vec<Refusal> =
            plan.refusals.iter().cloned().chain(delivery_refusals).collect();
        return Err(refused(&refusals));
    }
    for warning in &plan.warnings {
        ctx.messages.warn(warning);
    }
    if args.dry_run {
        return Ok(Ran::DryRun);
    }
    for note in &plan.notes {
        ctx.messages.status(note);
    }
    if !plan.confirm_because.is_empty() && !args.yes {
        confirm(args, &plan.question, &plan.confirm_because)?;
    }
    // From here on a signal no longer ends the process: it is noticed by
    // the work, and what has begun is finished properly (a claimed secret
    // file is removed again when no password was set).
    let interrupt = Interrupt::default();
    interrupt
        .catch_signals()
        .map_err(|err| CommandError::failure(format!("cannot catch signals: {err}")))?;
    let mut store = match store {
        Some(store) if store.is_writable() => store,
        _ => ctx.store_to_write()?,
    };
    let who = Invocation {
        audit_key: super::audit::key(ctx)?,
        ..Invocation::current(args.ticket.clone())
    };
    let claim = match secret.and_then(|s| s.file.as_ref()) {
        Some((path, _, force)) => Some(SecretFile::claim(path, *force)?),
        None => None,
    };
    let operations: Vec<Operation> = plan.items.iter().map(|item| operation(plan, item)).collect();
    let started = store.start(&who, &operations).map_err(|err| {
        CommandError::from(err).context("cannot write to the audit trail; nothing was changed")
    })?;
    pause_after_start();
    let clock = Instant::now();
    let mut done = apply(&mut store, &interrupt);
    // What the change did is decided by now; a signal after this point
    // (while notifying, say) does not make it an interrupted change.
    let interrupted = interrupt.is_raised();
    if done.len() != plan.items.len() {
        debug_assert!(false, "one result per item");
        done.resize_with(plan.items.len(), || Done::failed("unknown", "no result was reported"));
    }
    let head = journal_finish(ctx, &mut store, &who, &started, &done, clock.elapsed());
    if interrupted {
        ctx.messages.warn(
            "interrupted: changes in flight were rolled back; what committed is recorded, and \
             its password delivered",
        );
    }
    let delivery_failed = match secret {
        Some(secret) => !deliver(ctx, plan, secret, claim, &done),
        None => false,
    };
    if plan.announce {
        let event = event(&who, plan, &done, head.as_ref());
        announce(ctx, &mut store, &who, &event);
    }
    Ok(Ran::Applied(Applied {
        done,
        interrupted,
        first_record: started.first().copied(),
        delivery_failed,
    }))
}

/// The error of a refused plan: every failed check, and their hints.
fn refused(refusals: &[Refusal]) -> CommandError {
    let lines: Vec<String> = refusals
        .iter()
        .map(|r| if r.at.is_empty() { r.reason.clone() } else { format!("{}: {}", r.at, r.reason) })
        .collect();
    let message = match lines.as_slice() {
        [one] => format!("{one}; nothing was changed"),
        many => {
            format!("{} checks failed; nothing was changed:\n  {}", many.len(), many.join("\n  "))
        }
    };
    CommandError::usage(message).hints(refusals.iter().filter_map(|r| r.hint.clone()))
}

/// Refuses a change that needs a confirmation nobody can give: no `--yes`,
/// and no terminal to ask on. Commands call it before they connect
/// anywhere; [`run`] again before it asks.
pub fn ensure_confirmable(args: &ChangeArgs, because: &[String]) -> Result<(), CommandError> {
    let can_ask = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if because.is_empty() || args.yes || args.dry_run || can_ask {
        return Ok(());
    }
    Err(CommandError::usage(format!(
        "{}, and there is no terminal to ask on; nothing was changed",
        because.join("; ")
    ))
    .hint("add --yes to confirm"))
}

/// Asks `question` on the terminal; `because` says why it must be asked.
/// A "no" ends the command (exit 1), Ctrl-C interrupts it (exit 130).
pub fn confirm(args: &ChangeArgs, question: &str, because: &[String]) -> Result<(), CommandError> {
    ensure_confirmable(args, because)?;
    let yes = dialoguer::Confirm::new()
        .with_prompt(crate::output::for_terminal(question))
        .default(false)
        .interact()
        .map_err(|err| super::prompt_failed(err, "cannot ask for confirmation"))?;
    if yes { Ok(()) } else { Err(CommandError::declined()) }
}

/// The started record of `item`.
fn operation(plan: &Plan, item: &Item) -> Operation {
    Operation {
        name: plan.operation.clone(),
        env: item.env.clone(),
        db: item.db.clone(),
        cluster: item.cluster.clone(),
        role: plan.role.clone(),
        status: item.intent.clone(),
    }
}

/// Writes every outcome in one transaction; the new head of the trail. A
/// failure here is a warning: the change is made, and its password must
/// still be delivered; the trail shows the operations as incomplete.
fn journal_finish(
    ctx: &Context,
    store: &mut Store,
    who: &Invocation,
    started: &[i64],
    done: &[Done],
    took: Duration,
) -> Option<Head> {
    let finishes: Vec<Finish> = started
        .iter()
        .zip(done)
        .map(|(id, done)| Finish {
            started: *id,
            outcome: done.outcome,
            status: done.status.clone(),
            error: done.error.clone(),
            duration: took,
            sql: (!done.sql.is_empty()).then(|| done.sql.join(";\n")),
        })
        .collect();
    match store.finish(who, &finishes) {
        Ok(head) => head,
        Err(err) => {
            ctx.messages.warn(&format!(
                "the outcome was not recorded in the audit trail: {}",
                CommandError::from(err)
            ));
            None
        }
    }
}

/// Delivers the password of the items whose targets have it: to the
/// secret file, then to the secret command. False when a password was set
/// and a delivery failed: the secret then stays in the staging file beside
/// the file, or, when nothing else holds it, is printed on stdout, so that
/// it is never lost.
fn deliver(
    ctx: &Context,
    plan: &Plan,
    secret: &SecretDelivery,
    claim: Option<SecretFile>,
    done: &[Done],
) -> bool {
    let endpoints: Vec<Endpoint> = plan
        .items
        .iter()
        .zip(done)
        .filter(|(_, done)| done.password_set)
        .filter_map(|(item, _)| item.endpoint.clone())
        .collect();
    if endpoints.is_empty() {
        if let Some(claim) = &claim {
            let path = claim.path().display();
            ctx.messages.status(&format!("no password was set; {path} was not written"));
        }
        if let Some(command) = &secret.command {
            let name = command.name();
            ctx.messages.status(&format!("no password was set; {name} was not run"));
        }
        return true;
    }
    let mut kept = false;
    let mut delivered = true;
    if let (Some((_, format, _)), Some(claim)) = (&secret.file, claim) {
        let filled = fill(ctx, secret, *format, claim, &endpoints);
        kept = format.holds_password() && filled != Filled::Lost;
        delivered = filled == Filled::Written;
    }
    let Some(command) = &secret.command else { return delivered };
    let document = secret::render(SecretFormat::Json, &secret.role, &secret.secret, &endpoints);
    match command.run(&document, &secret.secret) {
        Ok(()) => {
            let name = command.name();
            ctx.messages.status(&format!("password for {} piped to {name}", secret.role));
            delivered
        }
        Err(err) => {
            let hint = err.hint();
            let err = CommandError::failure(err.to_string()).hints(hint);
            if kept {
                err.context(
                    "the password was set, and the secret command failed; the secret \
                             file holds it",
                )
                .report();
            } else {
                err.context(
                    "the password was set, and the secret command failed; so that it is \
                             not lost, the secret follows on stdout",
                )
                .report();
                let _ = std::io::Write::write_all(&mut std::io::stdout(), document.as_bytes());
            }
            false
        }
    }
}

/// How a secret file was filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Filled {
    Written,
    /// Not in place, but kept in the staging file, or printed.
    Kept,
    /// Nothing could be written nor printed (a verifier that was not made).
    Lost,
}

/// Writes the secret file in `format` for `endpoints`.
fn fill(
    ctx: &Context,
    secret: &SecretDelivery,
    format: SecretFormat,
    claim: SecretFile,
    endpoints: &[Endpoint],
) -> Filled {
    let path = claim.path().to_owned();
    let contents = if format == SecretFormat::Pgbouncer {
        // The verifier the servers were sent; the plan refused several.
        let made = secret.secret.shared_verifiers();
        let Some(verifier) = made.values().next() else {
            CommandError::failure(format!(
                "the password was set, and no SCRAM verifier was made for {}",
                path.display()
            ))
            .report();
            return Filled::Lost;
        };
        secret::pgbouncer_line(&secret.role, verifier)
    } else {
        secret::render(format, &secret.role, &secret.secret, endpoints)
    };
    match claim.fill(&contents) {
        Ok(()) => {
            let what = if format.holds_password() { "password" } else { "verifier" };
            ctx.messages.status(&format!(
                "{what} for {} written to {}",
                secret.role,
                path.display()
            ));
            Filled::Written
        }
        Err((err, Some(kept))) => {
            CommandError::from(err)
                .context(format!(
                    "the password was set, and could not be put in {}; it is in {} (mode 0600)",
                    path.display(),
                    kept.display()
                ))
                .report();
            Filled::Kept
        }
        Err((err, None)) => {
            CommandError::from(err)
                .context(format!(
                    "the password was set, and could not be written to {}; so that it is not \
                     lost, the secret follows on stdout",
                    path.display()
                ))
                .report();
            let _ = std::io::Write::write_all(&mut std::io::stdout(), contents.as_bytes());
            Filled::Kept
        }
    }
}

/// The event of a change: who, what, where, how it ended; no password.
fn event(who: &Invocation, plan: &Plan, done: &[Done], head: Option<&Head>) -> Event {
    let targets = plan
        .items
        .iter()
        .zip(done)
        .map(|(item, done)| TargetResult {
            env: item.env.clone().unwrap_or_default(),
            db: item.db.clone().unwrap_or_default(),
            cluster: item.cluster.clone(),
            status: done.status.clone(),
            outcome: done.outcome,
            error: done.error.clone(),
        })
        .collect();
    let mut event = Event::new(who, &plan.operation, plan.role.as_deref(), targets);
    event.audit_head = head.map(ToString::to_string);
    event
}

/// Sends `event` to the channels whose filters select it, after the
/// change's outcome is recorded, each delivery journaled like a change. A
/// failure is a warning and never changes the command's result.
fn announce(ctx: &Context, store: &mut Store, who: &Invocation, event: &Event) {
    let channels = match ctx.config() {
        Ok(config) => config.channels(),
        Err(err) => {
            ctx.messages.warn(&format!("no notifications were sent: {err}"));
            return;
        }
    };
    let selected = notify::select(&channels, event);
    if selected.is_empty() {
        return;
    }
    let envs = event.envs();
    let env = (envs.len() == 1).then(|| envs.iter().next().map(|e| (*e).to_owned())).flatten();
    let operations: Vec<Operation> = selected
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
    let started = match store.start(who, &operations) {
        Ok(ids) => ids,
        Err(err) => {
            let err = CommandError::from(err);
            ctx.messages.warn(&format!("notifications are not recorded in the audit trail: {err}"));
            Vec::new()
        }
    };
    let deliveries = notify::deliver(&selected, event);
    let done: Vec<Done> = deliveries.iter().map(delivery_done).collect();
    let finishes: Vec<Finish> = started
        .iter()
        .zip(deliveries.iter().zip(&done))
        .map(|(id, (delivery, done))| Finish {
            started: *id,
            outcome: done.outcome,
            status: done.status.clone(),
            error: done.error.clone(),
            duration: delivery.duration,
            sql: None,
        })
        .collect();
    if let Err(err) = store.finish(who, &finishes) {
        let err = CommandError::from(err);
        ctx.messages
            .warn(&format!("notification results are not recorded in the audit trail: {err}"));
    }
    for delivery in &deliveries {
        if let Err(error) = &delivery.result {
            ctx.messages.warn(&format!(
                "notification to {} '{}' failed: {error}",
                delivery.kind, delivery.channel
            ));
        }
    }
}

/// How one notification delivery ended, as an item of a change.
pub fn delivery_done(delivery: &notify::Delivery) -> Done {
    match &delivery.result {
        Ok(answer) => {
            Done::ok(format!("delivered to {} '{}': {answer}", delivery.kind, delivery.channel))
        }
        Err(error) => Done::failed(
            format!("not delivered to {} '{}'", delivery.kind, delivery.channel),
            error.clone(),
        ),
    }
}

/// Test hook, compiled into debug builds only: with
/// `PGACCT_TEST_PAUSE_AFTER_START=GATE`, once the started records are
/// written, create `GATE.paused` and wait until `GATE` exists, so that a
/// test can kill the process there, or change a server between the plan
/// and the apply, without guessing at timing.
#[cfg(debug_assertions)]
fn pause_after_start() {
    let Some(gate) = std::env::var_os("PGACCT_TEST_PAUSE_AFTER_START") else { return };
    let gate = std::path::PathBuf::from(gate);
    let mut paused = gate.clone().into_os_string();
    paused.push(".paused");
    if std::fs::write(&paused, b"").is_err() {
        return;
    }
    // Bounded, so a test that forgets to open the gate still ends.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !gate.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(not(debug_assertions))]
fn pause_after_start() {}
