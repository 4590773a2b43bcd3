//! `pgacct user list` and `pgacct user show`: what the catalogs hold, one
//! row per role and cluster. Read only: nothing is audited.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::cli::{Format, ListUsersArgs, UserNameArgs};
use crate::commands::targets::{self, Cluster, by_cluster};
use crate::commands::{Context, RECORD_FORMATS, fan_out};
use crate::error::{CommandError, CommandResult, Exit, Tally};
use crate::output::{self, Column, Progress, Record};
use crate::pg::inspect::{self, PasswordKind, RoleDetail, RoleInfo};
use crate::pg::review;
use crate::pg::{Connector, Session};
use crate::policy::RoleName;
use crate::registry::natural_cmp;

/// A role on one cluster.
#[derive(Debug, Serialize)]
struct RoleRow {
    cluster: String,
    /// The selected targets on this cluster.
    targets: Vec<String>,
    role: Option<String>,
    can_login: Option<bool>,
    connection_limit: Option<i32>,
    valid_until: Option<String>,
    attributes: Vec<&'static str>,
    member_of: Vec<String>,
    search_path: BTreeMap<String, String>,
    password: Option<PasswordKind>,
    error: Option<String>,
}

impl Record for RoleRow {
    const COLUMNS: &'static [Column] = &[
        Column::shown("cluster"),
        Column::wide("targets"),
        Column::shown("role"),
        Column::shown("can_login"),
        Column::shown("connection_limit").displayed(output::connection_limit),
        Column::shown("password"),
        Column::if_any("valid_until"),
        Column::if_any("attributes"),
        Column::wide("member_of"),
        Column::wide("search_path"),
        Column::if_any("error"),
    ];
}

impl RoleRow {
    /// A row of `cluster`, read on `server`.
    fn new(
        (cluster, server): (&Cluster<'_>, &str),
        info: Option<RoleInfo>,
        error: Option<String>,
    ) -> RoleRow {
        let (
            role,
            can_login,
            connection_limit,
            valid_until,
            attributes,
            member_of,
            search_path,
            password,
        ) = match info {
            Some(i) => (
                Some(i.name),
                Some(i.can_login),
                Some(i.connection_limit),
                i.valid_until,
                i.attributes,
                i.member_of,
                i.search_path,
                Some(i.password),
            ),
            None => Default::default(),
        };
        RoleRow {
            cluster: server.to_owned(),
            targets: cluster.targets.iter().map(|t| t.key.to_string()).collect(),
            role,
            can_login,
            connection_limit,
            valid_until,
            attributes,
            member_of,
            search_path,
            password,
            error,
        }
    }
}

/// One role on one cluster, in detail.
#[derive(Debug, Serialize)]
struct DetailRow {
    cluster: String,
    targets: Vec<String>,
    #[serde(flatten)]
    detail: Option<RoleDetail>,
    error: Option<String>,
}

impl Record for DetailRow {
    const COLUMNS: &'static [Column] = &[
        Column::shown("cluster"),
        Column::shown("targets"),
        Column::shown("name"),
        Column::shown("can_login"),
        Column::shown("connection_limit").displayed(output::connection_limit),
        Column::shown("valid_until"),
        Column::shown("attributes"),
        Column::shown("member_of"),
        Column::shown("search_path"),
        Column::shown("password"),
        Column::shown("owns"),
        Column::shown("privileges"),
        Column::shown("members"),
        Column::shown("sessions"),
        Column::shown("managed").displayed(managed),
        Column::if_any("error"),
    ];
}

/// The marker as a table shows it: `vm, created 2026-12-07T05:40:00Z,
/// ticket CHG-1`; `no` for a role without one.
fn managed(marker: &serde_json::Value, _: &serde_json::Value) -> String {
    let Some(kind) = marker.get("type").and_then(serde_json::Value::as_str) else {
        return "no".into();
    };
    let mut text = format!("type {kind}");
    if let Some(created) = marker.get("created").and_then(serde_json::Value::as_str) {
        text.push_str(&format!(", created {created}"));
    }
    if let Some(ticket) = marker.get("ticket").and_then(serde_json::Value::as_str) {
        text.push_str(&format!(", ticket {ticket}"));
    }
    // A comment anyone may have written: its control characters escaped.
    output::table_cell(&serde_json::Value::String(text))
}

/// What was read on one cluster, and the server it was read on (of a host
/// list, the read-write one).
type Read<T> = (String, Result<T, String>);

/// Every role's credential facts on each of `clusters`, with the server
/// that answered, for a change that selects roles by them (`user rotate`,
/// `user sync --type`): a cluster that cannot be read refuses the change,
/// as roles there could not be selected.
pub(super) fn credentials_of_each<'t>(
    ctx: &Context,
    connector: &Connector,
    jobs: u16,
    clusters: &'t [Cluster<'t>],
) -> Result<Vec<(String, Vec<review::Credential>)>, CommandError> {
    let read = on_each_cluster(ctx, connector, jobs, clusters, &async |session, _| {
        review::credentials(session, None).await.map_err(|e| e.to_string())
    })?;
    let unreadable: Vec<String> = read
        .iter()
        .filter_map(|(server, result)| result.as_ref().err().map(|err| format!("{server}: {err}")))
        .collect();
    if !unreadable.is_empty() {
        return Err(CommandError::usage(format!(
            "cannot read the roles of {}; nothing was changed:\n  {}",
            output::plural(unreadable.len(), "cluster"),
            unreadable.join("\n  ")
        )));
    }
    Ok(read.into_iter().filter_map(|(server, result)| result.ok().map(|c| (server, c))).collect())
}

/// Connects to each cluster (through its first target) and runs `read`.
pub(super) fn on_each_cluster<'t, T, F>(
    ctx: &Context,
    connector: &Connector,
    jobs: u16,
    clusters: &'t [Cluster<'t>],
    read: &F,
) -> Result<Vec<Read<T>>, CommandError>
where
    F: AsyncFn(&Session, &Cluster<'t>) -> Result<T, String>,
{
    let progress = Progress::new(clusters.iter().map(|c| c.targets.len()).sum(), &ctx.messages);
    let results = ctx.runtime()?.block_on(fan_out(jobs, clusters, |cluster| async {
        let work = progress.start(&cluster.name, cluster.targets.len());
        let result = match connector.connect(cluster.targets[0]).await {
            Ok(session) => {
                let result = read(&session, cluster).await;
                let cluster = session.settings.cluster();
                session.close().await;
                (cluster, result)
            }
            Err(err) => (
                cluster.name.clone(),
                Err(format!("cannot connect as {}: {}", err.user, err.failure)),
            ),
        };
        work.done();
        result
    }));
    progress.finish();
    Ok(results)
}

fn dbs<'t>(cluster: &Cluster<'t>) -> Vec<&'t str> {
    cluster.targets.iter().map(|t| t.key.db.as_str()).collect()
}

pub fn list(ctx: &Context, args: &ListUsersArgs) -> CommandResult {
    let out = ctx.output(Format::Table, RECORD_FORMATS)?;
    let targets = targets::of_reading(&ctx.registry()?, &args.targets)?;
    let connector = ctx.connector(&targets)?;
    let clusters = by_cluster(&targets);
    let pattern = args.name.as_deref();
    let results = on_each_cluster(
        ctx,
        &connector,
        args.targets.jobs.jobs,
        &clusters,
        &async |session, cluster| {
            inspect::list(session, pattern, &dbs(cluster)).await.map_err(|err| err.to_string())
        },
    )?;
    let mut rows = Vec::new();
    let mut failed = 0;
    for (cluster, (server, result)) in clusters.iter().zip(results) {
        let cluster = (cluster, server.as_str());
        match result {
            Ok(mut roles) => {
                // As people sort names: web2 before web10.
                roles.sort_by(|a, b| natural_cmp(&a.name, &b.name));
                rows.extend(roles.into_iter().map(|info| RoleRow::new(cluster, Some(info), None)));
            }
            Err(error) => {
                failed += 1;
                rows.push(RoleRow::new(cluster, None, Some(error)));
            }
        }
    }
    let nothing = match pattern {
        Some(pattern) => format!("no roles match '{pattern}'"),
        None => "no roles".to_owned(),
    };
    out.list_or_say(&rows, &ctx.messages, &nothing)?;
    Ok(Exit::from_tally(Tally { ok: clusters.len() - failed, failed, interrupted: false }))
}

pub fn show(ctx: &Context, args: &UserNameArgs) -> CommandResult {
    let out = ctx.output(Format::Table, RECORD_FORMATS)?;
    let name = RoleName::parse(&args.name)?;
    let targets = targets::of_reading(&ctx.registry()?, &args.targets)?;
    let connector = ctx.connector(&targets)?;
    let clusters = by_cluster(&targets);
    let results = on_each_cluster(
        ctx,
        &connector,
        args.targets.jobs.jobs,
        &clusters,
        &async |session, cluster| match inspect::show(session, name.as_str(), &dbs(cluster)).await {
            Ok(Some(detail)) => Ok(detail),
            Ok(None) => Err(format!("role {name} does not exist on {}", cluster.name)),
            Err(err) => Err(err.to_string()),
        },
    )?;
    let mut failed = 0;
    let rows: Vec<DetailRow> = clusters
        .iter()
        .zip(results)
        .map(|(cluster, (server, result))| {
            let (detail, error) = match result {
                Ok(detail) => (Some(detail), None),
                Err(error) => {
                    failed += 1;
                    (None, Some(error))
                }
            };
            DetailRow {
                cluster: server,
                targets: cluster.targets.iter().map(|t| t.key.to_string()).collect(),
                detail,
                error,
            }
        })
        .collect();
    if out.format() == Format::Table {
        // A block per role found; what went wrong elsewhere is said on
        // stderr, not as a block of empty fields.
        let (found, missing): (Vec<_>, Vec<_>) = rows.iter().partition(|row| row.error.is_none());
        let errors = missing.iter().map(|row| {
            format!("{} ({})", row.error.as_deref().unwrap_or_default(), row.targets.join(", "))
        });
        if found.is_empty() {
            let errors: Vec<String> = errors.collect();
            return Err(CommandError::failure(errors.join("; ")).hint(format!(
                "the roles there: pgacct user list {}",
                targets::as_options(&args.targets)
            )));
        }
        for (i, row) in found.iter().enumerate() {
            if i > 0 {
                use std::io::Write as _;
                writeln!(std::io::stdout())?;
            }
            out.one(*row)?;
        }
        for error in errors {
            ctx.messages.warn(&error);
        }
    } else {
        out.list(&rows)?;
    }
    Ok(Exit::from_tally(Tally { ok: clusters.len() - failed, failed, interrupted: false }))
}
