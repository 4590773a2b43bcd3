//! `pgacct user rotate`: new passwords for the roles a selection finds.
//!
//! The selection is read first, in one round trip per cluster, with the
//! facts `user report` reads (marker, password kind) and the audit trail's
//! age of each password. The plan (each role and its clusters) is shown and
//! confirmed once; then each role in turn is reset through the same path as
//! `reset-password` ([`super::roll`]), its password delivered to its own
//! file in `--secret-dir`. A signal stops the rotation between roles.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::Serialize;

use super::list::credentials_of_each;
use super::password::secret_format;
use super::{Request, Rolled, roll, with_valid_for};
use crate::audit::{AuditStore as _, Outcome};
use crate::cli::{ChangeArgs, Format, PasswordArgs, RotateArgs};
use crate::commands::change;
use crate::commands::targets::{self, by_cluster};
use crate::commands::{Context, RECORD_FORMATS};
use crate::error::{CommandError, CommandResult, Exit, Tally};
use crate::interrupt::Interrupt;
use crate::output::{self, Column, Output, Record};
use crate::pg::inspect::PasswordKind;
use crate::pg::review::Credential;
use crate::pg::rollout::{Renewal, RoleChange};
use crate::policy::{Policy, RoleName, marker};
use crate::registry::{Target, natural_cmp};
use crate::secret::{SecretFile, SecretFormat};

/// The result for one role on one target.
#[derive(Debug, Serialize)]
struct RotateRow {
    role: String,
    env: String,
    db: String,
    cluster: String,
    outcome: Option<Outcome>,
    status: String,
    /// The secret file that holds the new password, once it does.
    file: Option<String>,
    error: Option<String>,
    valid_until: Option<String>,
}

impl Record for RotateRow {
    const COLUMNS: &'static [Column] = &[
        Column::shown("role"),
        Column::shown("env"),
        Column::shown("db"),
        Column::wide("cluster"),
        Column::wide("outcome"),
        Column::shown("status"),
        Column::if_any("file"),
        Column::if_any("error"),
        Column::wide("valid_until"),
    ];
}

/// A role the selection found: where, why, and its marker's type.
#[derive(Debug, Default)]
struct Pick {
    /// Cluster names (`host:port`) where it was selected.
    clusters: Vec<String>,
    because: BTreeSet<String>,
    kind: Option<String>,
}

/// The roles to rotate, and what the reading left out.
#[derive(Debug, Default)]
struct Selection {
    picks: BTreeMap<String, Pick>,
    /// Roles a selector matched that are never rotated, with why.
    refused: BTreeSet<String>,
    /// Login roles `--older-than` could not judge: no audit record.
    unknown_age: BTreeSet<String>,
}

pub fn rotate(ctx: &Context, args: &RotateArgs) -> CommandResult {
    let out = ctx.output(Format::Table, RECORD_FORMATS)?;
    if args.targets.retry.is_some() {
        return Err(CommandError::usage("user rotate takes no --retry")
            .hint("a partial rotation names the reset-password --retry of each role that failed"));
    }
    let format = secret_format(args.secret_format);
    if format == SecretFormat::Pgbouncer {
        return Err(CommandError::usage(
            "--secret-format pgbouncer holds a verifier, not the password: a rotation would \
             lose the new passwords",
        )
        .hint("use --secret-format json, pgpass, url, k8s-secret or env"));
    }
    let names = args.names.iter().map(|n| RoleName::parse(n)).collect::<Result<Vec<_>, _>>()?;
    let policy = ctx.config()?.policy();
    if let Some(kind) = &args.kind {
        policy.account_type(kind)?;
    }
    let (targets, sharing, selection) = read_selection(ctx, args, &names)?;
    check_named(&names, &selection)?;
    say_left_out(ctx, &selection);
    if selection.picks.is_empty() {
        out.list_or_say::<RotateRow>(&[], &ctx.messages, "no roles are selected")?;
        return Ok(Exit::Success);
    }
    let mut picks: Vec<(String, Pick)> = selection.picks.into_iter().collect();
    picks.sort_by(|a, b| natural_cmp(&a.0, &b.0));
    let plan = RotationPlan { args, format, targets: &targets, picks };
    plan.check_files()?;
    for (role, pick) in &plan.picks {
        let where_: Vec<String> = plan.on(pick).iter().map(|t| t.key.to_string()).collect();
        let because: Vec<&str> = pick.because.iter().map(String::as_str).collect();
        ctx.messages.status(&format!(
            "rotate {role} ({}) on {} -> {}",
            because.join(", "),
            output::and_list(&where_),
            plan.file_of(role).display()
        ));
    }
    if args.change.dry_run {
        output::unless_closed(out.list(&plan.dry_run_rows()))?;
        return Ok(Exit::Success);
    }
    let protected: BTreeSet<String> = plan
        .picks
        .iter()
        .flat_map(|(_, pick)| plan.on(pick))
        .chain(&sharing)
        .filter(|t| policy.is_protected(t.key.env.as_str()))
        .map(|t| t.key.to_string())
        .collect();
    if !protected.is_empty() && !args.change.yes {
        let names: Vec<String> = protected.into_iter().collect();
        let verb = if names.len() == 1 { "is" } else { "are" };
        let because = vec![format!("{} {verb} protected", output::and_list(&names))];
        let question =
            format!("Rotate the passwords of {}?", output::plural(plan.picks.len(), "role"));
        change::confirm(&args.change, &question, &because)?;
    }
    make_dir(&args.secret_dir)?;
    let rotated = plan.rotate_each(ctx, &out, &policy)?;
    output::unless_closed(out.list(&rotated.rows))?;
    Ok(rotated.exit(ctx))
}

/// Reads the selection on every cluster of the targets: the targets, the
/// registered targets sharing their clusters, and the roles found.
fn read_selection(
    ctx: &Context,
    args: &RotateArgs,
    names: &[RoleName],
) -> Result<(Vec<Target>, Vec<Target>, Selection), CommandError> {
    let store = ctx.registry()?;
    let (targets, _) = targets::of_change(&store, &args.targets)?;
    let sharing = targets::sharing_clusters(&store, &targets)?;
    let mut set: HashMap<(String, String), String> = HashMap::new();
    for change in store.passwords_set()? {
        set.insert((change.role, change.cluster), change.time);
    }
    drop(store);
    let connector = ctx.connector(&targets)?;
    let clusters = by_cluster(&targets);
    let read = credentials_of_each(ctx, &connector, args.targets.jobs.jobs, &clusters)?;
    let policy = ctx.config()?.policy();
    let selector = Selector { args, names, set, now: Timestamp::now(), policy: &policy };
    let mut selection = Selection::default();
    for (cluster, (server, credentials)) in clusters.iter().zip(read) {
        let admins: BTreeSet<String> = targets
            .iter()
            .chain(&sharing)
            .filter(|t| t.cluster() == cluster.name)
            .map(|t| connector.settings(t).user)
            .collect();
        for credential in credentials {
            selector.consider(&mut selection, &cluster.name, &server, &admins, &credential);
        }
    }
    Ok((targets, sharing, selection))
}

/// What the options select, and the audit trail's ages.
struct Selector<'a> {
    args: &'a RotateArgs,
    names: &'a [RoleName],
    /// When pgacct last set each (role, cluster)'s password.
    set: HashMap<(String, String), String>,
    now: Timestamp,
    /// Tells the types whose roles have no password, never rotated.
    policy: &'a Policy,
}

impl Selector<'_> {
    /// Adds `credential`'s role on `cluster` to `selection` if a selector
    /// picks it; a superuser or an admin role is refused instead.
    fn consider(
        &self,
        selection: &mut Selection,
        cluster: &str,
        server: &str,
        admins: &BTreeSet<String>,
        credential: &Credential,
    ) {
        let info = &credential.info;
        let name = info.name.clone();
        let superuser = info.attributes.contains(&"SUPERUSER");
        let kind = credential.comment.as_deref().and_then(marker::parse).map(|m| m.kind);
        let without_password = kind
            .as_deref()
            .and_then(|kind| self.policy.account_type(kind).ok())
            .filter(|account| !account.has_password());
        let mut because = BTreeSet::new();
        if self.names.iter().any(|n| n.as_str() == name) {
            because.insert("named".to_owned());
        }
        if self.args.kind.is_some() && kind == self.args.kind {
            because.insert(format!("type {}", kind.as_deref().unwrap_or_default()));
        }
        if let Some(limit) = self.args.older_than {
            let at = self.set.get(&(name.clone(), cluster.to_owned()));
            match at.and_then(|time| time.parse::<Timestamp>().ok()) {
                Some(at) if self.now.duration_since(at) > limit => {
                    let days = self.now.duration_since(at).as_secs() / 86_400;
                    because.insert(format!("set {days} days ago"));
                }
                None if info.can_login && !superuser && without_password.is_none() => {
                    selection.unknown_age.insert(name.clone());
                }
                _ => {}
            }
        }
        if self.args.md5 && info.password == PasswordKind::Md5 {
            because.insert("md5".to_owned());
        }
        if because.is_empty() {
            return;
        }
        let refused = if superuser {
            Some(format!("{name} (a superuser, on {server})"))
        } else if admins.contains(&name) {
            Some(format!("{name} (the admin role pgacct connects as)"))
        } else if RoleName::parse(&name).is_err() {
            Some(format!("{name} (not a name pgacct manages)"))
        } else {
            without_password.map(|account| {
                format!(
                    "{name} ({} of type {}: no password)",
                    account.auth.account_phrase(),
                    account.name
                )
            })
        };
        if let Some(refused) = refused {
            selection.refused.insert(refused);
            return;
        }
        let pick = selection.picks.entry(name).or_default();
        pick.clusters.push(cluster.to_owned());
        pick.because.extend(because);
        pick.kind = pick.kind.take().or(kind);
    }
}

/// Says which roles the selection left out, and why.
fn say_left_out(ctx: &Context, selection: &Selection) {
    let unknown: Vec<&String> =
        selection.unknown_age.iter().filter(|n| !selection.picks.contains_key(*n)).collect();
    if !unknown.is_empty() {
        ctx.messages.status(&format!(
            "{} left out: pgacct never set {} password here, so its age is unknown (see pgacct \
             user report)",
            output::plural(unknown.len(), "role"),
            if unknown.len() == 1 { "its" } else { "their" }
        ));
    }
    if !selection.refused.is_empty() {
        let list: Vec<&str> = selection.refused.iter().map(String::as_str).collect();
        ctx.messages.status(&format!("never rotated: {}", list.join(", ")));
    }
}

/// The roles to rotate, where, and into which files.
struct RotationPlan<'a> {
    args: &'a RotateArgs,
    format: SecretFormat,
    targets: &'a [Target],
    picks: Vec<(String, Pick)>,
}

/// What the rotation did.
struct Rotated {
    rows: Vec<RotateRow>,
    /// Each role's exit, as its reset would have exited.
    exits: Vec<Exit>,
    interrupted: bool,
}

impl Rotated {
    fn exit(&self, ctx: &Context) -> Exit {
        if self.interrupted {
            let done: BTreeSet<&str> = self
                .rows
                .iter()
                .filter(|r| r.outcome.is_some_and(Outcome::is_ok))
                .map(|r| r.role.as_str())
                .collect();
            let done: Vec<&str> = done.into_iter().collect();
            ctx.messages.warn(&format!(
                "interrupted: rotated {}; the rest were not started",
                if done.is_empty() { "none".to_owned() } else { done.join(", ") }
            ));
        }
        let tally = Tally {
            interrupted: self.interrupted,
            ..Tally::of(self.rows.iter().filter_map(|r| r.outcome).map(Outcome::is_ok))
        };
        match Exit::from_tally(tally) {
            Exit::Success => {
                self.exits.iter().copied().find(|e| *e != Exit::Success).unwrap_or(Exit::Success)
            }
            exit => exit,
        }
    }
}

impl RotationPlan<'_> {
    /// The targets of `pick`'s clusters.
    fn on(&self, pick: &Pick) -> Vec<&Target> {
        self.targets.iter().filter(|t| pick.clusters.contains(&t.cluster())).collect()
    }

    fn file_of(&self, role: &str) -> PathBuf {
        self.args.secret_dir.join(format!("{role}.{}", extension(self.format)))
    }

    fn dry_run_rows(&self) -> Vec<RotateRow> {
        self.picks
            .iter()
            .flat_map(|(role, pick)| {
                self.on(pick).into_iter().map(|t| RotateRow {
                    status: "would reset the password (dry run)".into(),
                    file: Some(self.file_of(role).display().to_string()),
                    ..row_for(role, t)
                })
            })
            .collect()
    }

    /// Resets each role in turn, through the reset path; a signal stops
    /// the rotation between roles (the role in flight is finished, and
    /// delivered, by the change pipeline).
    fn rotate_each(
        &self,
        ctx: &Context,
        out: &Output,
        policy: &Policy,
    ) -> Result<Rotated, CommandError> {
        let interrupt = Interrupt::default();
        interrupt
            .catch_signals()
            .map_err(|err| CommandError::failure(format!("cannot catch signals: {err}")))?;
        let mut confirmed = self.args.change.clone();
        confirmed.yes = true;
        let mut rotated = Rotated { rows: Vec::new(), exits: Vec::new(), interrupted: false };
        for (role, pick) in &self.picks {
            rotated.interrupted |= interrupt.is_raised();
            if rotated.interrupted {
                rotated.rows.extend(self.on(pick).into_iter().map(|t| RotateRow {
                    status: "not started: interrupted".into(),
                    ..row_for(role, t)
                }));
                continue;
            }
            self.rotate_one(ctx, out, policy, &confirmed, role, pick, &mut rotated)?;
        }
        Ok(rotated)
    }

    /// Resets `role` as `reset-password` would, into its file.
    #[allow(clippy::too_many_arguments)] // the steps of one loop, split for reading
    fn rotate_one(
        &self,
        ctx: &Context,
        out: &Output,
        policy: &Policy,
        confirmed: &ChangeArgs,
        role: &str,
        pick: &Pick,
        rotated: &mut Rotated,
    ) -> Result<(), CommandError> {
        let file = self.file_of(role);
        let name = RoleName::parse(role)?;
        let now = Timestamp::now();
        let renewal = match self.args.expiry.valid_for {
            Some(valid_for) => Renewal::To(valid_for.from(now)),
            None if policy.some_type_expires() => Renewal::ByMarker { policy, now },
            None => Renewal::Keep(None),
        };
        let length = pick
            .kind
            .as_deref()
            .and_then(|kind| policy.account_type(kind).ok())
            .map_or(crate::policy::DEFAULT_PASSWORD_LENGTH, |a| a.password_length);
        let password = PasswordArgs {
            password_stdin: false,
            password_from: None,
            secret_file: Some(file.clone()),
            secret_format: self.args.secret_format,
            force: self.args.force,
            secret_command: false,
            secret_argv: Vec::new(),
        };
        let change = RoleChange::ResetPassword { name: &name, renewal, policy };
        let again = with_valid_for(format!("user reset-password {name}"), &self.args.expiry);
        let request = Request {
            only: Some(&pick.clusters),
            ..Request::new(&self.args.targets, confirmed, change, Some((&password, length)), again)
        };
        match roll(ctx, &request, out) {
            Ok(Rolled::Applied(done)) => {
                let delivered = !done.applied.delivery_failed;
                for row in done.rows.iter().filter(|row| row.selected) {
                    let has_it = row.outcome.is_ok() && delivered;
                    rotated.rows.push(RotateRow {
                        role: role.to_owned(),
                        env: row.env.clone(),
                        db: row.db.clone(),
                        cluster: row.cluster.clone(),
                        outcome: Some(row.outcome),
                        status: row.status.clone(),
                        file: has_it.then(|| file.display().to_string()),
                        error: row.error.clone(),
                        valid_until: row.valid_until.clone(),
                    });
                }
                let password = done.password.as_ref();
                rotated.exits.push(super::hint_after(
                    ctx,
                    &request,
                    &done.rows,
                    &done.applied,
                    password,
                ));
                rotated.interrupted |= done.applied.interrupted;
            }
            Ok(Rolled::Reported(exit)) => rotated.exits.push(exit),
            Ok(Rolled::Checked(..)) => unreachable!("a rotation is never a check"),
            Err(err) => {
                // One role that cannot be planned stops no other.
                let error = err.to_string();
                err.context(format!("{role} was not rotated")).report();
                rotated.rows.extend(self.on(pick).into_iter().map(|t| RotateRow {
                    outcome: Some(Outcome::Failed),
                    status: "not rotated".into(),
                    error: Some(error.clone()),
                    ..row_for(role, t)
                }));
                rotated.exits.push(Exit::Failure);
            }
        }
        Ok(())
    }
    /// Checks every destination before anything changes: a format that
    /// holds one target only for roles on one, and each file writable and
    /// absent (or, with `--force`, a regular file).
    fn check_files(&self) -> Result<(), CommandError> {
        let args = self.args;
        let mut problems = Vec::new();
        let dir_exists = args.secret_dir.is_dir();
        for (role, pick) in &self.picks {
            let count = self.on(pick).len();
            if self.format.single_target() && count > 1 {
                problems.push(format!(
                    "{role} is on {count} targets, and --secret-format env holds one"
                ));
            }
            if !dir_exists {
                continue;
            }
            if let Err(err) =
                SecretFile::check(&self.file_of(role), args.force, !args.change.dry_run)
            {
                problems.push(CommandError::from(err).to_string());
            }
        }
        if problems.is_empty() {
            return Ok(());
        }
        Err(CommandError::usage(format!(
            "{}; nothing was changed:\n  {}",
            output::plural(problems.len(), "secret file problem"),
            problems.join("\n  ")
        ))
        .hint("add --force to replace existing files, or give another --secret-dir"))
    }
}

/// A row for `role` on `target`, to fill in.
fn row_for(role: &str, target: &Target) -> RotateRow {
    RotateRow {
        role: role.to_owned(),
        env: target.key.env.as_str().to_owned(),
        db: target.key.db.as_str().to_owned(),
        cluster: target.cluster(),
        outcome: None,
        status: String::new(),
        file: None,
        error: None,
        valid_until: None,
    }
}

/// Refuses names given that are never rotated, or found on no cluster.
fn check_named(names: &[RoleName], selection: &Selection) -> Result<(), CommandError> {
    let refused: Vec<&str> = selection
        .refused
        .iter()
        .filter(|r| names.iter().any(|n| r.split(' ').next() == Some(n.as_str())))
        .map(String::as_str)
        .collect();
    if !refused.is_empty() {
        return Err(CommandError::usage(format!(
            "refusing to rotate {}; nothing was changed",
            refused.join(", ")
        ))
        .hint(
            "pgacct never rotates a superuser, its admin role, or a role whose type has no \
             password; reset-password a superuser by hand",
        ));
    }
    let missing: Vec<&str> =
        names.iter().map(RoleName::as_str).filter(|n| !selection.picks.contains_key(*n)).collect();
    if !missing.is_empty() {
        return Err(CommandError::usage(format!(
            "no role {} on the targets' clusters; nothing was changed",
            missing.join(", ")
        ))
        .hint("pgacct user list shows the roles there"));
    }
    Ok(())
}

/// Makes `dir` (mode 0700) when it is missing.
fn make_dir(dir: &Path) -> Result<(), CommandError> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|err| {
        CommandError::from(err).context(format!("cannot create --secret-dir {}", dir.display()))
    })?;
    // The mode given above is masked by the umask.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|err| {
        CommandError::from(err).context(format!("cannot make {} private", dir.display()))
    })
}

/// The file name extension of each format.
fn extension(format: SecretFormat) -> &'static str {
    match format {
        SecretFormat::Env => "env",
        SecretFormat::Json => "json",
        SecretFormat::Pgpass => "pgpass",
        SecretFormat::Url => "url",
        SecretFormat::K8sSecret => "yaml",
        SecretFormat::Pgbouncer => "txt",
    }
}
