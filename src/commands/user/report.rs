//! `pgacct user report`: the credentials of every role on the targets'
//! clusters, as a security review asks for them. One row per role and
//! cluster: how its password is stored, when it expires, how old it is
//! (from the audit trail: when pgacct last set it there), whether pgacct
//! manages it (its marker), and the powers it holds. Filters select the
//! rows with a problem; `--fail-if-any` makes a match exit 1, for cron and
//! monitoring. Read only: nothing is audited.

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use serde_json::Value;

use super::list::on_each_cluster;
use crate::audit::AuditStore as _;
use crate::cli::{Format, ReportArgs};
use crate::commands::targets::{self, by_cluster};
use crate::commands::{Context, RECORD_FORMATS};
use crate::error::{CommandResult, Exit, Tally};
use crate::output::{self, Column, Record};
use crate::pg::inspect::PasswordKind;
use crate::pg::review::{self, Credential};
use crate::policy::{Policy, marker};
use crate::registry::natural_cmp;

const DAY: i64 = 86_400;

/// One role on one cluster, as the review sees it.
#[derive(Debug, Default, Serialize)]
struct ReportRow {
    cluster: String,
    /// The selected targets on this cluster.
    targets: Vec<String>,
    role: Option<String>,
    password: Option<PasswordKind>,
    valid_until: Option<String>,
    /// Whole days until `valid_until`; negative once it has passed.
    days_left: Option<i64>,
    /// When pgacct last set the password on this cluster, per the audit
    /// trail; `None` when it never did.
    password_set: Option<String>,
    password_age_days: Option<i64>,
    /// The account type of pgacct's marker; `None` for a role pgacct did
    /// not create.
    managed: Option<String>,
    can_login: Option<bool>,
    connection_limit: Option<i32>,
    /// The connection limit its type asks for.
    policy_limit: Option<i32>,
    /// SUPERUSER, CREATEROLE and BYPASSRLS, where held.
    powers: Vec<&'static str>,
    /// What is wrong: `md5`, `expired`, `expiring`, `old`, `unmanaged`,
    /// `limit differs from its type`.
    problems: Vec<&'static str>,
    error: Option<String>,
}

impl Record for ReportRow {
    const COLUMNS: &'static [Column] = &[
        Column::shown("cluster"),
        Column::wide("targets"),
        Column::shown("role"),
        Column::shown("password"),
        Column::if_any("valid_until"),
        Column::if_any("days_left"),
        Column::shown("password_age_days").displayed(age),
        Column::wide("password_set"),
        Column::shown("managed").displayed(managed),
        Column::shown("can_login"),
        Column::shown("connection_limit").displayed(output::connection_limit),
        Column::wide("policy_limit"),
        Column::if_any("powers"),
        Column::if_any("problems"),
        Column::if_any("error"),
    ];
}

fn age(days: &Value, row: &Value) -> String {
    match (days.as_i64(), row.get("role")) {
        (Some(days), _) => days.to_string(),
        (None, Some(Value::String(_))) => "unknown".into(),
        (None, _) => String::new(),
    }
}

fn managed(kind: &Value, row: &Value) -> String {
    match (kind.as_str(), row.get("role")) {
        (Some(kind), _) => output::table_cell(&Value::String(kind.to_owned())),
        (None, Some(Value::String(_))) => "no".into(),
        (None, _) => String::new(),
    }
}

/// What the options ask to be flagged and shown.
struct Review<'a> {
    now: Timestamp,
    expiring_within: Option<SignedDuration>,
    older_than: Option<SignedDuration>,
    policy: &'a Policy,
}

impl Review<'_> {
    fn row(
        &self,
        cluster: &str,
        targets: Vec<String>,
        credential: Credential,
        set: Option<&String>,
    ) -> ReportRow {
        let info = credential.info;
        let now = self.now.as_second();
        let days_left = credential.valid_until_epoch.map(|until| (until - now).div_euclid(DAY));
        let set_at = set.and_then(|time| time.parse::<Timestamp>().ok());
        let age = set_at.map(|at| self.now.duration_since(at));
        let marker = credential.comment.as_deref().and_then(marker::parse);
        let kind = marker.map(|m| m.kind);
        let policy_limit = kind
            .as_deref()
            .and_then(|kind| self.policy.account_type(kind).ok())
            .map(|t| t.connection_limit);
        let mut problems = Vec::new();
        if info.password == PasswordKind::Md5 {
            problems.push("md5");
        }
        match (credential.valid_until_epoch, self.expiring_within) {
            (Some(until), _) if until < now => problems.push("expired"),
            (Some(until), Some(within)) if until <= now + within.as_secs() => {
                problems.push("expiring");
            }
            _ => {}
        }
        if let (Some(age), Some(limit)) = (age, self.older_than)
            && age > limit
        {
            problems.push("old");
        }
        if kind.is_none() {
            problems.push("unmanaged");
        }
        if policy_limit.is_some_and(|limit| limit != info.connection_limit) {
            problems.push("limit differs from its type");
        }
        let powers = info
            .attributes
            .iter()
            .copied()
            .filter(|a| ["SUPERUSER", "CREATEROLE", "BYPASSRLS"].contains(a))
            .collect();
        ReportRow {
            cluster: cluster.to_owned(),
            targets,
            role: Some(info.name),
            password: Some(info.password),
            valid_until: info.valid_until,
            days_left,
            password_set: set.cloned(),
            password_age_days: age.map(|age| age.as_secs().div_euclid(DAY)),
            managed: kind,
            can_login: Some(info.can_login),
            connection_limit: Some(info.connection_limit),
            policy_limit,
            powers,
            problems,
            error: None,
        }
    }
}

/// Says that `--md5` could not look on `unknown` clusters, so that an
/// empty answer is not taken for a clean one.
fn warn_of_unknown_kinds(ctx: &Context, clusters: &[targets::Cluster<'_>], unknown: &[String]) {
    if unknown.is_empty() {
        return;
    }
    ctx.messages.warn(&format!(
        "--md5 cannot tell on {} of {}: the admin may not read pg_authid there ({}); \
         a superuser admin can",
        output::plural(unknown.len(), "cluster"),
        clusters.len(),
        output::at_most(4, unknown),
    ));
}

/// Whether `row` has one of the problems the filters ask for; every row
/// when none is given.
fn selected(args: &ReportArgs, row: &ReportRow) -> bool {
    let any_filter =
        args.md5 || args.unmanaged || args.expiring_within.is_some() || args.older_than.is_some();
    if !any_filter || row.error.is_some() {
        return true;
    }
    let has = |problem: &str| row.problems.contains(&problem);
    (args.md5 && has("md5"))
        || (args.unmanaged && has("unmanaged"))
        || (args.expiring_within.is_some() && (has("expiring") || has("expired")))
        || (args.older_than.is_some() && has("old"))
}

pub fn report(ctx: &Context, args: &ReportArgs) -> CommandResult {
    let out = ctx.output(Format::Table, RECORD_FORMATS)?;
    let store = ctx.registry()?;
    let targets = targets::of_reading(&store, &args.targets)?;
    let mut set: HashMap<(String, String), String> = HashMap::new();
    for change in store.passwords_set()? {
        set.insert((change.role, change.cluster), change.time);
    }
    drop(store);
    let policy = ctx.config()?.policy();
    let review = Review {
        now: Timestamp::now(),
        expiring_within: args.expiring_within,
        older_than: args.older_than,
        policy: &policy,
    };
    let connector = ctx.connector(&targets)?;
    let clusters = by_cluster(&targets);
    let pattern = args.name.as_deref();
    let results = on_each_cluster(
        ctx,
        &connector,
        args.targets.jobs.jobs,
        &clusters,
        &async |session, _| {
            review::credentials(session, pattern).await.map_err(|err| err.to_string())
        },
    )?;
    let mut rows = Vec::new();
    let mut failed = 0;
    // Clusters where the admin may not read pg_authid: --md5 cannot tell there.
    let mut unknown_kinds = Vec::new();
    for (cluster, (server, result)) in clusters.iter().zip(results) {
        let names: Vec<String> = cluster.targets.iter().map(|t| t.key.to_string()).collect();
        match result {
            Ok(mut credentials) => {
                if credentials.iter().any(|c| c.info.password == PasswordKind::Unknown) {
                    unknown_kinds.push(server.clone());
                }
                credentials.sort_by(|a, b| natural_cmp(&a.info.name, &b.info.name));
                for credential in credentials {
                    let key = (credential.info.name.clone(), cluster.name.clone());
                    let row = review.row(&server, names.clone(), credential, set.get(&key));
                    if selected(args, &row) {
                        rows.push(row);
                    }
                }
            }
            Err(error) => {
                failed += 1;
                rows.push(ReportRow {
                    cluster: server,
                    targets: names,
                    error: Some(error),
                    ..ReportRow::default()
                });
            }
        }
    }
    if args.md5 {
        warn_of_unknown_kinds(ctx, &clusters, &unknown_kinds);
    }
    let matched = rows.iter().filter(|r| r.error.is_none()).count();
    out.list_or_say(&rows, &ctx.messages, "no roles match")?;
    let exit = Exit::from_tally(Tally { ok: clusters.len() - failed, failed, interrupted: false });
    if args.fail_if_any && matched > 0 && exit == Exit::Success {
        ctx.messages.status(&format!(
            "{} with a problem the filters ask about (--fail-if-any)",
            output::plural(matched, "role")
        ));
        return Ok(Exit::Failure);
    }
    Ok(exit)
}
