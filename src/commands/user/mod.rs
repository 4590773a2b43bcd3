//! `pgacct user ...`: create and change login roles on registered targets.
//!
//! Each changing command turns its options into a [`RoleChange`], plans it
//! on every cluster ([`rollout::plan`]), hands the plan to the change
//! pipeline, and renders one row per target.

mod list;
mod password;
mod report;
mod rotate;
mod sync;

use std::collections::BTreeMap;
use std::io::Write as _;

use serde::Serialize;

use self::password::NewPassword;
use super::change::{self, Done, Item, Plan, Ran, Refusal};
use super::targets::{self, Cluster, Retry, by_cluster};
use super::{Context, RECORD_FORMATS, fan_out};
use crate::audit::Outcome;
use crate::cli::{
    ChangeArgs, ChangeTargetArgs, CreateArgs, CreateK8sArgs, CreateVmArgs, DropArgs, ExpiryArgs,
    Format, MembershipArgs, PasswordArgs, ResetPasswordArgs, SetSearchPathArgs, UserCommand,
};
use crate::error::{CommandError, CommandResult, Exit, Tally};
use crate::output::{self, Column, Output, Progress, Record, and_list, at_most};
use crate::pg::inspect;
use crate::pg::roles::RoleSpec;
use crate::pg::rollout::{self, ClusterOutcome, ClusterPlan, Reading, Renewal, RoleChange};
use crate::pg::{ConnectError, Connector};
use crate::policy::marker::Marker;
use crate::policy::{NameParts, NamedRole, RoleName, SchemaName, ValidFor};
use crate::registry::{Target, shell_word};
use crate::secret::{self, Endpoint, Password};

pub fn run(command: UserCommand, ctx: &Context) -> CommandResult {
    match command {
        UserCommand::CreateVm(args) => create_vm(ctx, &args),
        UserCommand::CreateK8s(args) => create_k8s(ctx, args),
        UserCommand::Create(args) => create_typed(ctx, args),
        UserCommand::ResetPassword(args) => reset_password(ctx, &args),
        UserCommand::SetSearchPath(args) => set_search_path(ctx, &args),
        UserCommand::List(args) => list::list(ctx, &args),
        UserCommand::Report(args) => report::report(ctx, &args),
        UserCommand::Rotate(args) => rotate::rotate(ctx, &args),
        UserCommand::Show(args) => list::show(ctx, &args),
        UserCommand::Sync(args) => sync::sync(ctx, &args),
        UserCommand::Lock(args) => {
            let name = RoleName::parse(&args.name)?;
            let terminate = if args.terminate { " --terminate" } else { "" };
            change_roles(
                ctx,
                &args.targets,
                &args.change,
                format!("user lock {name}{terminate}"),
                RoleChange::Lock { name: &name, terminate: args.terminate },
                None,
            )
        }
        UserCommand::Unlock(args) => {
            let name = RoleName::parse(&args.name)?;
            change_roles(
                ctx,
                &args.targets,
                &args.change,
                format!("user unlock {name}"),
                RoleChange::Unlock(&name),
                None,
            )
        }
        UserCommand::Drop(args) => drop_user(ctx, &args),
        UserCommand::GrantRole(args) => membership(ctx, &args, true),
        UserCommand::RevokeRole(args) => membership(ctx, &args, false),
    }
}

/// `user grant-role` (`grant`) or `user revoke-role`.
fn membership(ctx: &Context, args: &MembershipArgs, grant: bool) -> CommandResult {
    let name = RoleName::parse(&args.name)?;
    let group = RoleName::parse(&args.group)?;
    let command = if grant { "grant-role" } else { "revoke-role" };
    if name == group {
        return Err(CommandError::usage(format!(
            "{command} names {name} as both the role and the group: a role is never a member of \
             itself"
        )));
    }
    let again = format!("user {command} {name} {group}");
    let change = if grant {
        RoleChange::GrantRole { name: &name, group: &group }
    } else {
        RoleChange::RevokeRole { name: &name, group: &group }
    };
    change_roles(ctx, &args.targets, &args.change, again, change, None)
}

fn create_vm(ctx: &Context, args: &CreateVmArgs) -> CommandResult {
    let parts = NameParts {
        server: Some(args.server.clone()),
        service_port: Some(args.service_port),
        ..NameParts::default()
    };
    let again = format!(
        "user create-vm --server {} --service-port {}",
        shell_word(&args.server),
        args.service_port
    );
    let new = NewRole { kind: "vm", parts, password: &args.password, expiry: &args.expiry };
    create(ctx, &args.targets, &args.change, new, again)
}

fn create_k8s(ctx: &Context, args: CreateK8sArgs) -> CommandResult {
    let policy = ctx.config()?.policy();
    let env = args.targets.env.as_ref().map(|e| e.as_str().to_owned());
    let prefix =
        args.prefix.clone().or_else(|| env.map(|env| policy.k8s_prefix(&env))).ok_or_else(
            || CommandError::usage("--prefix or --env is needed to name a k8s account"),
        )?;
    let again = format!(
        "user create-k8s --service {} --prefix {}",
        shell_word(&args.service),
        shell_word(&prefix)
    );
    let parts =
        NameParts { service: Some(args.service), prefix: Some(prefix), ..NameParts::default() };
    let new = NewRole { kind: "k8s", parts, password: &args.password, expiry: &args.expiry };
    create(ctx, &args.targets, &args.change, new, again)
}

fn create_typed(ctx: &Context, args: CreateArgs) -> CommandResult {
    let again = format!("user create --type {} {}", shell_word(&args.kind), shell_word(&args.name));
    let parts = NameParts { name: Some(args.name), ..NameParts::default() };
    let new = NewRole { kind: &args.kind, parts, password: &args.password, expiry: &args.expiry };
    create(ctx, &args.targets, &args.change, new, again)
}

/// What a create command says about the role to make.
struct NewRole<'a> {
    kind: &'a str,
    parts: NameParts,
    password: &'a PasswordArgs,
    expiry: &'a ExpiryArgs,
}

fn create(
    ctx: &Context,
    targets: &ChangeTargetArgs,
    args: &ChangeArgs,
    new: NewRole<'_>,
    again: String,
) -> CommandResult {
    let policy = ctx.config()?.policy();
    let account = policy.account_type(new.kind)?;
    let mut parts = new.parts;
    parts.env = targets.env.as_ref().map(|e| e.as_str().to_owned());
    let command = again.split(" --").next().unwrap_or_default().to_owned();
    let named = account.name_role(&parts, &command)?;
    let again = with_valid_for(again, new.expiry);
    let now = jiff::Timestamp::now();
    let valid_for = new.expiry.valid_for.or(account.valid_for_days.map(ValidFor::days));
    let change = RoleChange::Create(RoleSpec {
        name: &named.name,
        account,
        valid_until: valid_for.map(|valid_for| valid_for.from(now)),
        marker: Marker::new(&account.name, now, args.ticket.as_deref()),
    });
    let password = if account.has_password() {
        Some((new.password, account.password_length))
    } else {
        refuse_password_options(account, new.password)?;
        None
    };
    let request =
        Request { named: Some(&named), ..Request::new(targets, args, change, password, again) };
    rollout(ctx, &request)
}

/// Refuses the password options for a type whose roles get no password:
/// there is nothing to read, write or pipe.
fn refuse_password_options(
    account: &crate::policy::AccountType,
    args: &PasswordArgs,
) -> Result<(), CommandError> {
    let given: Vec<&str> = [
        (args.password_stdin, "--password-stdin"),
        (args.password_from.is_some(), "--password-from"),
        (args.secret_file.is_some(), "--secret-file"),
        (args.secret_command, "--secret-command"),
    ]
    .into_iter()
    .filter_map(|(given, option)| given.then_some(option))
    .collect();
    if given.is_empty() {
        return Ok(());
    }
    Err(CommandError::usage(format!(
        "type {} has no password (auth = \"{}\"): {} {} nothing to do; nothing was changed",
        account.name,
        account.auth.keyword(),
        and_list(&given),
        if given.len() == 1 { "has" } else { "have" },
    ))
    .hint("leave out the password options, or use a type with passwords"))
}

fn reset_password(ctx: &Context, args: &ResetPasswordArgs) -> CommandResult {
    let name = RoleName::parse(&args.name)?;
    let policy = ctx.config()?.policy();
    let account = args.kind.as_deref().map(|kind| policy.account_type(kind)).transpose()?;
    if let Some(reason) = account.and_then(|a| a.without_password(name.as_str())) {
        return Err(CommandError::usage(format!("{reason}; nothing was changed"))
            .hint("reset-password is for roles of types with passwords"));
    }
    let now = jiff::Timestamp::now();
    let renewal = match (args.expiry.valid_for, account) {
        (Some(valid_for), _) => Renewal::To(valid_for.from(now)),
        (None, Some(account)) => match account.valid_for_days {
            Some(days) => Renewal::To(ValidFor::days(days).from(now)),
            None => Renewal::Keep(Some(format!(
                "VALID UNTIL left as it is: type {} sets no valid_for_days",
                account.name
            ))),
        },
        // The marker is read only where it can renew something.
        (None, None) if policy.some_type_expires() => Renewal::ByMarker { policy: &policy, now },
        (None, None) => Renewal::Keep(None),
    };
    // The type's length, where the reset knows the type before it reads
    // the marker.
    let length = account.map_or(crate::policy::DEFAULT_PASSWORD_LENGTH, |a| a.password_length);
    let mut again = format!("user reset-password {name}");
    if let Some(kind) = &args.kind {
        again = format!("{again} --type {}", shell_word(kind));
    }
    change_roles(
        ctx,
        &args.targets,
        &args.change,
        with_valid_for(again, &args.expiry),
        RoleChange::ResetPassword { name: &name, renewal, policy: &policy },
        Some((&args.password, length)),
    )
}

fn set_search_path(ctx: &Context, args: &SetSearchPathArgs) -> CommandResult {
    let name = RoleName::parse(&args.name)?;
    let schemas =
        args.schemas.iter().map(|s| SchemaName::parse(s)).collect::<Result<Vec<_>, _>>()?;
    let again = format!(
        "user set-search-path {name} {}",
        schemas.iter().map(|s| shell_word(s.as_str())).collect::<Vec<_>>().join(" ")
    );
    let change = RoleChange::SetSearchPath { name: &name, schemas: &schemas };
    change_roles(ctx, &args.targets, &args.change, again, change, None)
}

fn drop_user(ctx: &Context, args: &DropArgs) -> CommandResult {
    let name = RoleName::parse(&args.name)?;
    let heir = args.reassign_to.as_deref();
    let again = match heir {
        Some(heir) => format!("user drop {name} --reassign-to {}", shell_word(heir)),
        None => format!("user drop {name}"),
    };
    let change = RoleChange::Drop { name: &name, heir };
    change_roles(ctx, &args.targets, &args.change, again, change, None)
}

/// The command `again`, with its `--valid-for`: a retry renews as it did.
fn with_valid_for(again: String, expiry: &ExpiryArgs) -> String {
    match expiry.valid_for {
        Some(valid_for) => format!("{again} --valid-for {valid_for}"),
        None => again,
    }
}

/// One role change, as a command asked for it.
struct Request<'a> {
    targets: &'a ChangeTargetArgs,
    args: &'a ChangeArgs,
    change: RoleChange<'a>,
    /// For changes that set a password: its options and generated length.
    password: Option<(&'a PasswordArgs, usize)>,
    /// The command again, without targets or password options, for hints.
    again: String,
    /// A name a template made: what its spelling changed is shown.
    named: Option<&'a NamedRole>,
    /// Only the targets on these clusters (`host:port`), of those the
    /// target options select.
    only: Option<&'a [String]>,
    /// Plan and report how each target differs, and change nothing
    /// (`user sync --check`).
    check: bool,
}

impl<'a> Request<'a> {
    fn new(
        targets: &'a ChangeTargetArgs,
        args: &'a ChangeArgs,
        change: RoleChange<'a>,
        password: Option<(&'a PasswordArgs, usize)>,
        again: String,
    ) -> Request<'a> {
        Request { targets, args, change, password, again, named: None, only: None, check: false }
    }
}

/// Plans and makes `change` on the targets `targets` names; `password`
/// for changes that set one; `again` says the command again, for hints.
fn change_roles<'a>(
    ctx: &Context,
    targets: &'a ChangeTargetArgs,
    args: &'a ChangeArgs,
    again: String,
    change: RoleChange<'a>,
    password: Option<(&'a PasswordArgs, usize)>,
) -> CommandResult {
    rollout(ctx, &Request::new(targets, args, change, password, again))
}

/// One cluster, as planned: or why it could not be.
#[derive(Debug)]
enum ClusterState {
    Planned(Box<ClusterPlan>),
    Unreachable(ConnectError),
}

/// The result for one target.
#[derive(Debug, Serialize)]
struct UserRow {
    env: String,
    db: String,
    cluster: String,
    user: String,
    outcome: Outcome,
    status: String,
    /// The new password, when one was set here and is shown here.
    password: Option<String>,
    /// How an existing role differs from its policy, in this database.
    drift: Vec<String>,
    error: Option<String>,
    /// The SQL that ran (or, with `--dry-run`, would run), secrets redacted.
    sql: Vec<String>,
    /// False for a registered target that was not selected, on a cluster
    /// the change reached: roles are cluster-wide.
    selected: bool,
    /// The values a name template was filled with, as given, where their
    /// spelling in the role name differs (`{"service": "gear-service"}`).
    name_from: Option<BTreeMap<&'static str, String>>,
    /// The `VALID UNTIL` the change set (`2027-01-06T05:40:00Z`, or
    /// `infinity`), when it set one.
    valid_until: Option<String>,
    /// How a role created without a password logs in (`iam-rds`, `cert`,
    /// `external`); `None` for a password. Last: CSV columns keep their
    /// places.
    auth: Option<&'static str>,
    #[serde(skip)]
    hint: Option<String>,
}

impl Record for UserRow {
    const COLUMNS: &'static [Column] = &[
        Column::shown("env"),
        Column::shown("db"),
        Column::wide("cluster"),
        Column::shown("user"),
        Column::wide("outcome"),
        Column::shown("status"),
        Column::if_any("password"),
        Column::if_any("drift"),
        Column::if_any("error"),
        Column::wide("sql"),
        Column::wide("selected"),
        Column::wide("name_from"),
        Column::wide("valid_until"),
        Column::wide("auth"),
    ];
}

/// Plans `request` on every cluster of its targets, runs it through the
/// change pipeline, and reports one row per target.
fn rollout(ctx: &Context, request: &Request<'_>) -> CommandResult {
    let out = ctx.output(Format::Table, RECORD_FORMATS)?;
    let (rows, applied, password) = match roll(ctx, request, &out)? {
        Rolled::Reported(exit) => return Ok(exit),
        Rolled::Checked(rows, changes) => {
            output::unless_closed(out.list(&rows))?;
            return Ok(if changes { Exit::Failure } else { Exit::Success });
        }
        Rolled::Applied(done) => {
            let AppliedRows { rows, applied, password } = *done;
            (rows, applied, password)
        }
    };
    if let Err(err) = out.list(&rows) {
        let shown = rows.iter().filter(|row| row.password.is_some()).count();
        if err.kind() != std::io::ErrorKind::BrokenPipe || shown == 0 {
            output::unless_closed(Err(err))?;
        } else {
            // The password went nowhere: it is lost, and says so.
            return Err(CommandError::failure(format!(
                "stdout was closed before the new password of {} was shown; it is in force on \
                 {}, and known to no one",
                request.change.role(),
                output::plural(shown, "target")
            ))
            .hint("give it a password you hold: pgacct user reset-password ... --password-stdin"));
        }
    }
    Ok(hint_after(ctx, request, &rows, &applied, password.as_ref()))
}

/// What [`roll`] came to.
enum Rolled {
    /// A dry run, whose plan is printed: its exit.
    Reported(Exit),
    /// A check: how each target differs, and whether anything would change.
    Checked(Vec<UserRow>, bool),
    Applied(Box<AppliedRows>),
}

/// An applied change's rows, outcome, and password.
struct AppliedRows {
    rows: Vec<UserRow>,
    applied: change::Applied,
    password: Option<NewPassword>,
}

/// The hints after the rows of an applied change (a retry where some
/// target failed), and its exit.
fn hint_after(
    ctx: &Context,
    request: &Request<'_>,
    rows: &[UserRow],
    applied: &change::Applied,
    password: Option<&NewPassword>,
) -> Exit {
    ctx.messages.hints(rows.iter().filter_map(|row| row.hint.as_deref()));
    let tally = applied.tally();
    if let (true, Some(first)) = (tally.failed > 0, applied.first_record) {
        let got_it = applied.done.iter().any(|d| d.password_set);
        let again = match password {
            // A password the user gave stays the one to give: it may be
            // the one an earlier operation set.
            Some(password) if !got_it && !password.given => None,
            Some(_) if applied.delivery_failed => Some("--password-stdin".to_owned()),
            Some(password) => Some(password.again()),
            None => None,
        };
        retry_hint(ctx, request, first, tally, again.as_deref());
    }
    applied.exit()
}

/// Plans `request`, runs it through the change pipeline, and returns its
/// rows; a dry run prints its plan on `out`.
fn roll(ctx: &Context, request: &Request<'_>, out: &Output) -> Result<Rolled, CommandError> {
    let policy = ctx.config()?.policy();
    let change = &request.change;
    let store = ctx.registry_to_change(request.args)?;
    let (mut targets, retry) = targets::of_change(&store, request.targets)?;
    if let Some(retry) = &retry {
        check_retry(retry, change)?;
    }
    if let Some(only) = request.only {
        targets.retain(|t| only.contains(&t.cluster()));
    }
    let sharing = targets::sharing_clusters(&store, &targets)?;
    let (confirm_because, question) = confirmations(change, &policy, &targets, &sharing);
    change::ensure_confirmable(request.args, &confirm_because)?;
    let dry_run = request.args.dry_run;
    let password = request
        .password
        .map(|(args, length)| NewPassword::from_args(ctx, args, length, targets.len(), dry_run))
        .transpose()?;
    let connector = ctx.connector(&targets)?;
    refuse_the_admin(&connector, &targets, &sharing, change)?;
    let runtime = ctx.runtime()?;
    let jobs = request.targets.jobs.jobs;
    let clusters = by_cluster(&targets);
    let secret = password.as_ref().and_then(|p| p.secret.as_ref());
    let reading =
        if request.check { Reading::Everything } else { reading(request.args, &confirm_because) };
    let planning = Progress::planning(targets.len(), &ctx.messages);
    let states: Vec<ClusterState> = runtime.block_on(fan_out(jobs, &clusters, |c| {
        plan_cluster(&connector, c, change, secret, reading, &planning)
    }));
    planning.finish();
    let ends = ends(&clusters, &states);
    let mut plan = describe(request, &targets, &clusters, &states, &sharing);
    if let Some(retry) = &retry {
        for item in &mut plan.items {
            item.intent = targets::retry_intent(&item.intent, retry.id);
        }
    }
    plan.confirm_because = confirm_because;
    plan.question = question;
    if let Some(retry) = &retry {
        let check = check_retry_password(&connector, retry, change, password.as_ref());
        plan.refusals.extend(runtime.block_on(check));
    }
    let delivery = password.as_ref().and_then(|p| p.delivery(change.role().as_str()));
    let mut planned = Some(states);
    let mut outcomes: Vec<ClusterOutcome> = Vec::new();
    // A check runs the pipeline as a dry run: its refusals, and nothing else.
    let check_args = ChangeArgs { yes: false, dry_run: true, ticket: None };
    let args = if request.check { &check_args } else { request.args };
    let ran = change::run(ctx, &plan, args, Some(store), delivery.as_ref(), |_, interrupt| {
        let states = planned.take().unwrap_or_default();
        let progress = Progress::new(targets.len(), &ctx.messages);
        let connector = &connector;
        let work = states.into_iter().zip(&clusters);
        outcomes = runtime.block_on(fan_out(jobs, work, |(state, c)| {
            apply_cluster(state, c, change, interrupt, connector, &progress)
        }));
        progress.finish();
        let firsts = first_of_each(&targets, &clusters);
        cluster_of_each(&targets, &clusters)
            .map(|(ci, target)| done_for(&outcomes[ci], target, firsts[ci]))
            .collect()
    })?;
    let applied = match (ran, planned) {
        (Ran::DryRun, Some(states)) if request.check => {
            let (rows, changes) = check_rows(request, &targets, &clusters, &states);
            return Ok(Rolled::Checked(rows, changes));
        }
        (Ran::DryRun, Some(states)) => {
            let exit = dry_run_report(ctx, out, request, &targets, &clusters, &states, &plan)?;
            return Ok(Rolled::Reported(exit));
        }
        (Ran::Applied(applied), _) => applied,
        (Ran::DryRun, None) => return Err(CommandError::failure("a dry run applied its plan")),
    };
    let shown = password.as_ref().filter(|p| p.shown());
    let rows = result_rows(request, &targets, &clusters, &sharing, &outcomes, &ends, shown);
    Ok(Rolled::Applied(Box::new(AppliedRows { rows, applied, password })))
}

/// One row per target in the order given, with the password where it was
/// set and is to be shown (`shown`), then the rows of the registered
/// targets the change reached without selecting them. `ends` holds each
/// cluster's server and hint.
fn result_rows(
    request: &Request<'_>,
    targets: &[Target],
    clusters: &[Cluster<'_>],
    sharing: &[Target],
    outcomes: &[ClusterOutcome],
    ends: &[(String, Option<String>)],
    shown: Option<&NewPassword>,
) -> Vec<UserRow> {
    let change = &request.change;
    let password = shown.and_then(|p| p.secret.as_ref()).map(|s| s.expose().to_owned());
    let firsts = first_of_each(targets, clusters);
    let mut rows: Vec<UserRow> = cluster_of_each(targets, clusters)
        .map(|(ci, target)| {
            let (server, hint) = &ends[ci];
            let mut row = row(target, server, change, &outcomes[ci], firsts[ci]);
            row.name_from = name_from(request.named);
            if outcomes[ci].password_set {
                row.password.clone_from(&password);
            }
            row.hint.clone_from(hint);
            row
        })
        .collect();
    for target in sharing {
        let Some(ci) = clusters.iter().position(|c| c.name == target.cluster()) else { continue };
        if reached(&outcomes[ci]) {
            let mut row = row(target, &ends[ci].0, change, &outcomes[ci], firsts[ci]);
            row.name_from = name_from(request.named);
            row.status = format!("{} (cluster-wide; not selected)", row.status);
            row.selected = false;
            rows.push(row);
        }
    }
    rows
}

/// Refuses a retry of another change: another operation, role, or
/// parameters (type, schemas, heir, --terminate), as its record says.
fn check_retry(retry: &Retry, change: &RoleChange<'_>) -> Result<(), CommandError> {
    let role = change.role().as_str();
    let intent = change.intent();
    // What follows the change itself in a recorded intent is a note in
    // parentheses or after a semicolon, never more of the change.
    let same_intent = retry
        .intent
        .strip_prefix(&intent)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(" (") || rest.starts_with("; "));
    if retry.operation != change.operation() || retry.role.as_deref() != Some(role) || !same_intent
    {
        return Err(CommandError::usage(format!(
            "operation {} was \"{}\" ({} of {}), not \"{intent}\" of {role}",
            retry.id,
            retry.intent,
            retry.operation,
            retry.role.as_deref().unwrap_or("no role"),
        ))
        .hint("retry with the command that operation ran, and --retry"));
    }
    Ok(())
}

/// Refuses a retry whose password is not the one the operation set where
/// it succeeded: a fleet must not end up with two passwords. When the
/// operation set one somewhere, the retry must give it (not generate
/// one), and it is checked on one of those targets: in `pg_authid` when
/// the admin may read it, else by logging in as the role where the server
/// uses SCRAM. A password that cannot be checked anywhere is refused.
async fn check_retry_password(
    connector: &Connector,
    retry: &Retry,
    change: &RoleChange<'_>,
    password: Option<&NewPassword>,
) -> Option<Refusal> {
    if !change.sets_password() || retry.password_holders.is_empty() {
        return None;
    }
    let refusal = |reason: String| Refusal {
        at: String::new(),
        reason,
        hint: Some(
            "give the password that operation delivered: --password-from the secret file it \
             went to, or --password-stdin to paste it"
                .into(),
        ),
    };
    let Some(given) = password.filter(|p| p.given) else {
        return Some(refusal(format!(
            "operation {} set a password on {}: a retry must give that one, not a new one",
            retry.id,
            keys(retry.password_holders.iter().map(|(t, _)| t))
        )));
    };
    // A dry run reads no password from stdin: there is nothing to check.
    let secret = given.secret.as_ref()?;
    let role = change.role().as_str();
    for (target, certain) in &retry.password_holders {
        let stored = match connector.connect(target).await {
            Ok(session) => {
                let stored = inspect::stored_verifier(&session, role).await.ok().flatten();
                session.close().await;
                stored
            }
            Err(_) => None,
        };
        let matches = match stored.as_deref().and_then(|v| secret::verifier_matches(v, secret)) {
            Some(matches) => Some(matches),
            None => connector.password_matches(target, role, secret).await,
        };
        match matches {
            Some(true) => return None,
            // Where the password only may be in force, another one there
            // proves nothing.
            Some(false) if *certain => {
                return Some(refusal(format!(
                    "the password given is not the one operation {} set on {}; the fleet would \
                     end up with two passwords",
                    retry.id, target.key
                )));
            }
            Some(false) | None => {}
        }
    }
    Some(refusal(format!(
        "the password given cannot be checked against any target where operation {} set it \
         ({}): pgacct may not read pg_authid there, and the server does not authenticate {role} \
         with SCRAM (or is unreachable)",
        retry.id,
        keys(retry.password_holders.iter().map(|(t, _)| t))
    )))
}

/// Refuses, before connecting, a change that would lock pgacct out: the
/// role is the admin role of one of the targets, or (roles being
/// cluster-wide) of another registered target on one of their clusters.
fn refuse_the_admin(
    connector: &Connector,
    targets: &[Target],
    sharing: &[Target],
    change: &RoleChange<'_>,
) -> Result<(), CommandError> {
    let name = change.role();
    let admin_of = |t: &&Target| connector.settings(t).user == name.as_str();
    match targets.iter().chain(sharing).find(|t| change.locks_out_the_admin() && admin_of(t)) {
        Some(target) => Err(CommandError::usage(format!(
            "refusing to {}: {name} is the admin role pgacct connects to {} as; nothing was \
             changed",
            change.intent(),
            target.key
        ))
        .hint("use another admin role for that target (registry update --admin-user)")),
        None => Ok(()),
    }
}

impl ClusterState {
    /// What to do about a cluster pgacct could not reach.
    fn hint(&self) -> Option<String> {
        match self {
            ClusterState::Unreachable(err) => err.hint(),
            ClusterState::Planned(_) => None,
        }
    }
}

/// A plan a person reads first (a dry run, a confirmation) reads every
/// fact it shows; otherwise only what its checks need.
fn reading(args: &ChangeArgs, confirm_because: &[String]) -> Reading {
    if args.dry_run || !confirm_because.is_empty() && !args.yes {
        Reading::Everything
    } else {
        Reading::Checks
    }
}

/// Connects to `cluster`'s first target and plans the change there; the
/// cluster is pending on `progress` meanwhile.
async fn plan_cluster(
    connector: &Connector,
    cluster: &Cluster<'_>,
    change: &RoleChange<'_>,
    password: Option<&Password>,
    reading: Reading,
    progress: &Progress,
) -> ClusterState {
    let _work = progress.start(&cluster.name, cluster.targets.len());
    match connector.connect(cluster.targets[0]).await {
        Ok(session) => ClusterState::Planned(Box::new(
            rollout::plan(connector, session, &cluster.targets, change, password, reading).await,
        )),
        Err(err) => ClusterState::Unreachable(err),
    }
}

/// Applies the plan of `cluster`; the cluster is pending on `progress`
/// meanwhile.
async fn apply_cluster(
    state: ClusterState,
    cluster: &Cluster<'_>,
    change: &RoleChange<'_>,
    interrupt: &crate::interrupt::Interrupt,
    connector: &Connector,
    progress: &Progress,
) -> ClusterOutcome {
    let _work = progress.start(&cluster.name, cluster.targets.len());
    match state {
        ClusterState::Planned(plan) => plan.apply(change, interrupt, connector).await,
        ClusterState::Unreachable(err) => rollout::unreachable(&connect_error(&err)),
    }
}

fn connect_error(err: &ConnectError) -> String {
    format!("cannot connect as {}: {}", err.user, err.failure)
}

/// The pipeline's plan of the change: one item per target in the order
/// given, the clusters' refusals, what needs confirming and saying first.
fn describe(
    request: &Request<'_>,
    targets: &[Target],
    clusters: &[Cluster<'_>],
    states: &[ClusterState],
    sharing: &[Target],
) -> Plan {
    let change = &request.change;
    let name = change.role();
    let mut plan = Plan {
        operation: change.operation().into(),
        role: Some(name.to_string()),
        announce: true,
        ..Plan::default()
    };
    // The name, where its spelling differs from what was given, is said
    // first: before the question, and atop a dry run's plan.
    plan.notes.extend(request.named.and_then(NamedRole::note));
    let mut intents = Vec::with_capacity(clusters.len());
    for (cluster, state) in clusters.iter().zip(states) {
        let mut intent = change.intent();
        if let ClusterState::Planned(cluster_plan) = state {
            let at = format!("{} ({})", cluster.name, keys(cluster.targets.iter().copied()));
            plan.refusals.extend(cluster_plan.refusals.iter().map(|r| Refusal {
                at: at.clone(),
                reason: r.reason.clone(),
                hint: r.hint.clone(),
            }));
            for warning in &cluster_plan.warnings {
                let warning = format!("{}: {warning}", cluster.name);
                if !plan.warnings.contains(&warning) {
                    plan.warnings.push(warning);
                }
            }
            if let Some(preflight) = &cluster_plan.preflight {
                plan.notes.push(format!("{name} on {}: {preflight}", cluster.name));
                intent = format!("{intent} (preflight: {preflight})");
            }
            let others = keys(sharing.iter().filter(|t| t.cluster() == cluster.name));
            if cluster_plan.settled().is_none() && !others.is_empty() {
                plan.notes.push(format!(
                    "roles are cluster-wide: on {} this also reaches {others} (registered there, \
                     not selected)",
                    cluster.name
                ));
                intent = format!("{intent}; cluster-wide, also reaches {others}");
            }
        }
        intents.push(intent);
    }
    let servers = servers(clusters, states);
    plan.items = cluster_of_each(targets, clusters)
        .map(|(ci, target)| Item {
            env: Some(target.key.env.as_str().into()),
            db: Some(target.key.db.as_str().into()),
            cluster: Some(servers[ci].clone()),
            intent: intents[ci].clone(),
            endpoint: Some(endpoint(target)),
        })
        .collect();
    plan
}

/// Each cluster's `host:port` as results and the audit trail name it: the
/// server its session reached (of a host list, the read-write one), else
/// the cluster as registered.
fn servers(clusters: &[Cluster<'_>], states: &[ClusterState]) -> Vec<String> {
    clusters
        .iter()
        .zip(states)
        .map(|(cluster, state)| match state {
            ClusterState::Planned(plan) => plan.server(),
            ClusterState::Unreachable(_) => cluster.name.clone(),
        })
        .collect()
}

/// Each cluster's server (see [`servers`]), and a hint where it could not
/// be reached: what its rows say once its plan is spent.
fn ends(clusters: &[Cluster<'_>], states: &[ClusterState]) -> Vec<(String, Option<String>)> {
    servers(clusters, states)
        .into_iter()
        .zip(states)
        .map(|(server, state)| (server, state.hint()))
        .collect()
}

fn keys<'t>(targets: impl Iterator<Item = &'t Target>) -> String {
    and_list(&targets.map(|t| t.key.to_string()).collect::<Vec<_>>())
}

/// How many targets a question names; the plan before it lists them all.
const QUESTION_TARGETS: usize = 4;

/// Why the change must be confirmed (known before any server is asked),
/// and the question.
fn confirmations(
    change: &RoleChange<'_>,
    policy: &crate::policy::Policy,
    targets: &[Target],
    sharing: &[Target],
) -> (Vec<String>, String) {
    let mut because = Vec::new();
    if let RoleChange::Create(spec) = change
        && spec.account.confirm
    {
        because.push(format!("a {} account needs confirmation", spec.account.name));
    }
    if matches!(change, RoleChange::Drop { .. }) {
        because.push("dropping a role needs confirmation".into());
    }
    let protected: Vec<&Target> =
        targets.iter().chain(sharing).filter(|t| policy.is_protected(t.key.env.as_str())).collect();
    if !protected.is_empty() {
        let names: Vec<String> = protected.iter().map(|t| t.key.to_string()).collect();
        let verb = if names.len() == 1 { "is" } else { "are" };
        because.push(format!("{} {verb} protected", and_list(&names)));
    }
    let on =
        at_most(QUESTION_TARGETS, &targets.iter().map(|t| t.key.to_string()).collect::<Vec<_>>());
    let role = change.role();
    let question = match change {
        RoleChange::Create(spec) => format!("Create {} user {role} on {on}?", spec.account.name),
        RoleChange::ResetPassword { .. } => format!("Reset the password of {role} on {on}?"),
        RoleChange::SetSearchPath { .. } => format!("Set the search_path of {role} on {on}?"),
        RoleChange::Lock { .. } => format!("Lock {role} on {on}?"),
        RoleChange::Unlock(_) => format!("Unlock {role} on {on}?"),
        RoleChange::Drop { .. } => format!("Drop {role} from the clusters of {on}?"),
        RoleChange::Sync { .. } => format!("Bring {role} back to its policy on {on}?"),
        RoleChange::GrantRole { group, .. } => format!("Grant {group} to {role} on {on}?"),
        RoleChange::RevokeRole { group, .. } => format!("Revoke {group} from {role} on {on}?"),
    };
    (because, question)
}

/// Each target, in the order given, with the index of its cluster.
fn cluster_of_each<'t>(
    targets: &'t [Target],
    clusters: &[Cluster<'_>],
) -> impl Iterator<Item = (usize, &'t Target)> {
    let indexes: Vec<usize> = targets
        .iter()
        .map(|t| {
            clusters
                .iter()
                .position(|c| c.name == t.cluster())
                .expect("the clusters were made from these targets")
        })
        .collect();
    indexes.into_iter().zip(targets)
}

fn endpoint(target: &Target) -> Endpoint {
    Endpoint {
        env: target.key.env.as_str().into(),
        db: target.key.db.as_str().into(),
        host: target.host.as_str().into(),
        port: target.port,
        sslmode: target.sslmode.map(|m| m.to_string()),
    }
}

/// One target's part of its cluster's outcome, as the audit trail has it.
/// Each cluster's first target, by cluster index.
fn first_of_each<'t>(targets: &'t [Target], clusters: &[Cluster<'_>]) -> Vec<Option<&'t Target>> {
    let mut firsts = vec![None; clusters.len()];
    for (ci, target) in cluster_of_each(targets, clusters) {
        firsts[ci].get_or_insert(target);
    }
    firsts
}

/// Where what happened to `target`'s whole cluster is counted, when not on
/// its own row: on `first`'s (see [`ClusterOutcome::status_at`]).
fn counted_on(target: &Target, first: Option<&Target>) -> Option<String> {
    first.filter(|first| first.key != target.key).map(|first| first.key.to_string())
}

fn done_for(outcome: &ClusterOutcome, target: &Target, first: Option<&Target>) -> Done {
    let drift = outcome.drift.for_database(target.key.db.as_str());
    let status = outcome.status_at(counted_on(target, first).as_deref());
    let status = match (drift.is_empty(), outcome.repaired) {
        (true, _) => status,
        (false, true) => format!("{status}; repaired: {}", drift.join("; ")),
        (false, false) => format!("{status}; differs from policy: {}", drift.join("; ")),
    };
    Done {
        outcome: outcome.outcome,
        status,
        error: outcome.error.clone(),
        sql: outcome.executed.iter().map(ToString::to_string).collect(),
        password_set: outcome.password_set,
    }
}

/// Whether a cluster's outcome changed the role there.
fn reached(outcome: &ClusterOutcome) -> bool {
    outcome.outcome.is_ok() && outcome.executed.iter().any(|e| e.ended == rollout::Ended::Committed)
}

/// The row of `target`, whose cluster was reached on `server`.
fn row(
    target: &Target,
    server: &str,
    change: &RoleChange<'_>,
    outcome: &ClusterOutcome,
    first: Option<&Target>,
) -> UserRow {
    UserRow {
        env: target.key.env.as_str().into(),
        db: target.key.db.as_str().into(),
        cluster: server.to_owned(),
        user: change.role().to_string(),
        outcome: outcome.outcome,
        status: outcome.status_at(counted_on(target, first).as_deref()),
        password: None,
        drift: outcome.drift.for_database(target.key.db.as_str()),
        error: outcome.error.clone(),
        sql: outcome.executed.iter().map(ToString::to_string).collect(),
        selected: true,
        name_from: None,
        valid_until: outcome.valid_until.clone(),
        auth: match change {
            RoleChange::Create(spec) if !spec.account.has_password() => {
                Some(spec.account.auth.keyword())
            }
            _ => None,
        },
        hint: None,
    }
}

/// The values `named` was made of, as given, where their spelling changed.
fn name_from(named: Option<&NamedRole>) -> Option<BTreeMap<&'static str, String>> {
    named.filter(|n| !n.from.is_empty()).map(|n| n.from.iter().cloned().collect())
}

/// `--check`: one row per target with how it differs from its policy, and
/// whether any cluster's plan would change something.
fn check_rows(
    request: &Request<'_>,
    targets: &[Target],
    clusters: &[Cluster<'_>],
    states: &[ClusterState],
) -> (Vec<UserRow>, bool) {
    let change = &request.change;
    let servers = servers(clusters, states);
    let mut changes = false;
    let previews: Vec<ClusterOutcome> = states
        .iter()
        .map(|state| match state {
            ClusterState::Planned(plan) => {
                let preview = plan.preview(change);
                changes |= !plan.statements(change).is_empty() || preview.drift.fails_a_check();
                preview
            }
            ClusterState::Unreachable(err) => rollout::unreachable(&connect_error(err)),
        })
        .collect();
    // A cluster that could not be checked (unreachable, the role missing)
    // does not pass the gate either.
    changes |= previews.iter().any(|p| !p.outcome.is_ok());
    let rows = cluster_of_each(targets, clusters)
        .map(|(ci, target)| {
            let mut row = row(target, &servers[ci], change, &previews[ci], None);
            if let ClusterState::Planned(plan) = &states[ci] {
                row.sql = plan.statements(change);
            }
            row
        })
        .collect();
    (rows, changes)
}

/// `--dry-run`: the plan of every cluster, as apply would run it.
fn dry_run_report(
    ctx: &Context,
    out: &Output,
    request: &Request<'_>,
    targets: &[Target],
    clusters: &[Cluster<'_>],
    states: &[ClusterState],
    plan: &Plan,
) -> CommandResult {
    let change = &request.change;
    let previews: Vec<(ClusterOutcome, Vec<String>)> = states
        .iter()
        .map(|state| match state {
            ClusterState::Planned(plan) => (plan.preview(change), plan.statements(change)),
            ClusterState::Unreachable(err) => {
                (rollout::unreachable(&connect_error(err)), Vec::new())
            }
        })
        .collect();
    let tally =
        Tally::of(cluster_of_each(targets, clusters).map(|(ci, _)| previews[ci].0.outcome.is_ok()));
    let servers = servers(clusters, states);
    if out.format() == Format::Table {
        let mut stdout = std::io::stdout().lock();
        for note in &plan.notes {
            writeln!(stdout, "-- {note}")?;
        }
        for ((cluster, server), (preview, statements)) in
            clusters.iter().zip(&servers).zip(&previews)
        {
            for target in &cluster.targets {
                writeln!(stdout, "-- {} ({server}): {}", target.key, preview.status)?;
                for drift in preview.drift.for_database(target.key.db.as_str()) {
                    writeln!(stdout, "-- differs from policy: {drift}")?;
                }
            }
            if let Some(error) = &preview.error {
                writeln!(stdout, "-- error: {error}")?;
            }
            for statement in statements {
                // `-- in db` after the semicolon, so that the plan pastes
                // into psql as it reads.
                match statement.rsplit_once(" -- in ") {
                    Some((sql, db)) => writeln!(stdout, "{sql}; -- in {db}")?,
                    None => writeln!(stdout, "{statement};")?,
                }
            }
        }
    } else {
        let rows: Vec<UserRow> = cluster_of_each(targets, clusters)
            .map(|(ci, target)| {
                let mut row = row(target, &servers[ci], change, &previews[ci].0, None);
                row.sql.clone_from(&previews[ci].1);
                row.name_from = name_from(request.named);
                row
            })
            .collect();
        out.list(&rows)?;
    }
    ctx.messages.status("--dry-run: nothing was changed");
    Ok(Exit::from_tally(tally))
}

/// After a partial (or interrupted) result: one command that does the
/// change again on exactly the targets that did not get it, with the same
/// password.
fn retry_hint(
    ctx: &Context,
    request: &Request<'_>,
    first: i64,
    tally: Tally,
    password: Option<&str>,
) {
    let targets = if tally.failed == 1 { "the target" } else { "the targets" };
    let message = match password {
        Some(password) => format!(
            "to bring {targets} that did not succeed to the same password: pgacct {} --retry \
             {first} {password}",
            request.again
        ),
        None => format!(
            "to do it again on {targets} that did not succeed: pgacct {} --retry {first}",
            request.again
        ),
    };
    ctx.messages.hint(&message);
}
