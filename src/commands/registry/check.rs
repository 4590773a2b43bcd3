//! `pgacct registry check`: connect to each target and report what is there.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Semaphore;

use crate::cli::{CheckArgs, Format};
use crate::commands::{Context, RECORD_FORMATS, fan_out, targets};
use crate::error::{CommandResult, Exit, Tally};
use crate::output::{self, Column, Progress, Record, plural};
use crate::pg::{ConnectError, Connector, Session};
use crate::registry::Target;

/// One target's row.
#[derive(Debug, Serialize)]
struct CheckRow {
    env: String,
    db: String,
    cluster: String,
    reachable: bool,
    /// Round trip of a trivial query on the open session.
    latency_ms: Option<f64>,
    /// From the first packet to a session ready for queries (TLS and
    /// authentication included).
    connect_ms: Option<f64>,
    server_version: Option<String>,
    /// The TLS protocol, or "no" for an unencrypted session.
    tls: Option<String>,
    in_recovery: Option<bool>,
    admin_user: String,
    superuser: Option<bool>,
    createrole: Option<bool>,
    createdb: Option<bool>,
    /// Superuser or CREATEROLE.
    creates_roles: Option<bool>,
    /// Which existing roles the admin may change (PostgreSQL 16 limits a
    /// CREATEROLE admin to roles it holds ADMIN OPTION on).
    manages_roles: Option<String>,
    password_encryption: Option<String>,
    scram_iterations: Option<i32>,
    /// What every pgacct session on this target runs with.
    lock_timeout: Option<String>,
    statement_timeout: Option<String>,
    error: Option<String>,
    #[serde(skip)]
    hint: Option<String>,
}

impl Record for CheckRow {
    const COLUMNS: &'static [Column] = &[
        Column::shown("env"),
        Column::shown("db"),
        Column::shown("cluster"),
        Column::shown("reachable"),
        Column::shown("latency_ms"),
        Column::wide("connect_ms"),
        Column::shown("server_version"),
        Column::shown("tls"),
        Column::shown("in_recovery"),
        Column::wide("admin_user"),
        Column::shown("superuser"),
        Column::shown("createrole"),
        Column::shown("createdb"),
        Column::wide("creates_roles"),
        Column::shown("manages_roles"),
        Column::wide("password_encryption"),
        Column::wide("scram_iterations").displayed(scram_iterations),
        Column::wide("lock_timeout"),
        Column::wide("statement_timeout"),
        Column::if_any("error"),
    ];
}

/// Before PostgreSQL 16 no setting says it (JSON has null): every SCRAM
/// verifier has 4096 iterations.
fn scram_iterations(iterations: &serde_json::Value, row: &serde_json::Value) -> String {
    match iterations.as_i64() {
        Some(n) => n.to_string(),
        None if row["server_version"].is_string() => {
            format!("{} (fixed)", crate::secret::DEFAULT_SCRAM_ITERATIONS)
        }
        None => String::new(),
    }
}

pub fn run(args: &CheckArgs, ctx: &Context) -> CommandResult {
    let out = ctx.output(Format::Table, RECORD_FORMATS)?;
    let selection = targets::Selection {
        env: args.env.as_ref(),
        dbs: &args.dbs,
        clusters: &args.clusters,
        labels: &args.wheres,
    };
    let targets = targets::select(&ctx.registry()?, &selection)?;
    let connector = ctx.connector(&targets)?;
    let progress = Progress::new(targets.len(), &ctx.messages);
    let slots: HashMap<String, Semaphore> =
        targets.iter().map(|t| (t.cluster(), Semaphore::new(SESSIONS_PER_CLUSTER))).collect();
    let order = interleaved_by_cluster(&targets);
    let checked = ctx.runtime()?.block_on(fan_out(args.jobs.jobs, &order, |&i| {
        let (target, slots, connector, progress) = (&targets[i], &slots, &connector, &progress);
        async move {
            // Waiting for a session slot is waiting for the cluster too.
            let work = progress.start(&target.cluster(), 1);
            let _slot = slots[&target.cluster()].acquire().await;
            let row = check(connector, target).await;
            work.done();
            (i, row)
        }
    }));
    progress.finish();
    let mut checked = checked;
    checked.sort_unstable_by_key(|(i, _)| *i);
    let rows: Vec<CheckRow> = checked.into_iter().map(|(_, row)| row).collect();
    out.list(&rows)?;
    let unreachable: Vec<String> = rows
        .iter()
        .filter(|row| !row.reachable)
        .map(|row| format!("{}/{}", row.env, row.db))
        .collect();
    if !unreachable.is_empty() {
        ctx.messages.status(&format!(
            "{} of {} not reachable: {} (see the error column)",
            unreachable.len(),
            plural(rows.len(), "target"),
            output::at_most(UNREACHABLE_NAMED, &unreachable)
        ));
    }
    ctx.messages.hints(rows.iter().filter_map(|row| row.hint.as_deref()));
    Ok(Exit::from_tally(Tally::of(rows.iter().map(|row| row.reachable))))
}

/// How many unreachable targets the line under the table names.
const UNREACHABLE_NAMED: usize = 10;

/// Sessions `registry check` opens to one cluster at once: a registry may
/// list a hundred databases of one server, which has few connection slots
/// to spare.
const SESSIONS_PER_CLUSTER: usize = 4;

/// The indexes of `targets`, their clusters taking turns (the first target
/// of each cluster, then the second, ...), so that the jobs spread over the
/// clusters rather than wait for one.
fn interleaved_by_cluster(targets: &[Target]) -> Vec<usize> {
    let mut turn: HashMap<String, usize> = HashMap::new();
    let mut order: Vec<(usize, usize)> = targets
        .iter()
        .enumerate()
        .map(|(i, target)| {
            let n = turn.entry(target.cluster()).or_default();
            *n += 1;
            (*n, i)
        })
        .collect();
    order.sort_unstable();
    order.into_iter().map(|(_, i)| i).collect()
}

async fn check(connector: &Connector, target: &Target) -> CheckRow {
    match connector.connect(target).await {
        Ok(session) => {
            let row = reachable(target, &session).await;
            session.close().await;
            row
        }
        Err(err) => unreachable(target, connector, &err),
    }
}

/// The row of a target pgacct reached: the server facts, read in one
/// query whose time is the latency shown.
async fn reachable(target: &Target, session: &Session) -> CheckRow {
    let started = Instant::now();
    let facts = session.facts().await;
    let latency = started.elapsed();
    let server = &session.server;
    let mut row = CheckRow {
        env: target.key.env.as_str().to_owned(),
        db: target.key.db.as_str().to_owned(),
        // Of a host list, the server that took writes.
        cluster: session.settings.cluster(),
        reachable: true,
        latency_ms: None,
        connect_ms: Some(millis(session.connect_time)),
        server_version: server.version.split_whitespace().next().map(str::to_owned),
        tls: None,
        in_recovery: server.in_recovery,
        admin_user: session.settings.user.clone(),
        superuser: Some(server.superuser),
        createrole: None,
        createdb: None,
        creates_roles: None,
        manages_roles: None,
        password_encryption: None,
        scram_iterations: server.scram_iterations,
        lock_timeout: None,
        statement_timeout: None,
        error: None,
        hint: None,
    };
    match facts {
        Ok(facts) => {
            row.latency_ms = Some(millis(latency));
            row.tls = Some(facts.tls.clone().unwrap_or_else(|| "no".to_owned()));
            row.in_recovery = Some(facts.in_recovery);
            row.createrole = Some(facts.createrole);
            row.createdb = Some(facts.createdb);
            row.creates_roles = Some(facts.creates_roles());
            row.manages_roles = Some(facts.manages_roles());
            row.password_encryption = Some(facts.password_encryption.clone());
            row.lock_timeout = Some(facts.lock_timeout.clone());
            row.statement_timeout = Some(facts.statement_timeout.clone());
        }
        Err(err) => row.error = Some(format!("connected, but a query failed: {}", err.message)),
    }
    row
}

fn unreachable(target: &Target, connector: &Connector, err: &ConnectError) -> CheckRow {
    CheckRow {
        env: target.key.env.as_str().to_owned(),
        db: target.key.db.as_str().to_owned(),
        cluster: target.cluster(),
        reachable: false,
        latency_ms: None,
        connect_ms: None,
        server_version: None,
        tls: None,
        in_recovery: None,
        admin_user: connector.settings(target).user,
        superuser: None,
        createrole: None,
        createdb: None,
        creates_roles: None,
        manages_roles: None,
        password_encryption: None,
        scram_iterations: None,
        lock_timeout: None,
        statement_timeout: None,
        error: Some(err.failure.to_string()),
        hint: err.hint().map(|hint| format!("{}: {hint}", target.key)),
    }
}

/// Milliseconds, to a tenth.
fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 10_000.0).round() / 10.0
}
