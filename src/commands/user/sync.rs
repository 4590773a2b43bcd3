//! `pgacct user sync`: brings existing roles back to their type's policy
//! (DESIGN.md §5), one role at a time through the change pipeline, never
//! touching a password; `--check` only reports, for a CI drift gate.

use std::collections::{BTreeMap, BTreeSet};

use super::list::credentials_of_each;
use super::{Request, Rolled, UserRow, hint_after, roll};
use crate::cli::{Format, SyncArgs};
use crate::commands::targets::{self, by_cluster};
use crate::commands::{Context, RECORD_FORMATS};
use crate::error::{CommandError, CommandResult, Exit};
use crate::output;
use crate::pg::rollout::RoleChange;
use crate::policy::{RoleName, marker};
use crate::registry::{natural_cmp, shell_word};

/// Roles to sync, each with the clusters (`host:port`) to sync it on
/// (`None`: wherever the targets are).
type Selected = Vec<(RoleName, Option<Vec<String>>)>;

pub fn sync(ctx: &Context, args: &SyncArgs) -> CommandResult {
    let out = ctx.output(Format::Table, RECORD_FORMATS)?;
    let policy = ctx.config()?.policy();
    let account = args.kind.as_deref().map(|kind| policy.account_type(kind)).transpose()?;
    let mut names: Selected = args
        .names
        .iter()
        .map(|name| RoleName::parse(name).map(|name| (name, None)))
        .collect::<Result<_, _>>()?;
    if names.is_empty() {
        let Some(kind) = &args.kind else {
            return Err(CommandError::usage("name the roles to sync, or give --type T")
                .hint("pgacct user sync --env E --all --type readonly syncs every readonly role"));
        };
        names = of_type(ctx, args, kind)?;
        if names.is_empty() {
            out.list_or_say::<UserRow>(
                &[],
                &ctx.messages,
                &format!("no role on these clusters has a pgacct marker of type {kind}"),
            )?;
            return Ok(Exit::Success);
        }
    }
    if args.targets.retry.is_some() && names.len() > 1 {
        return Err(CommandError::usage("--retry takes one role: the one its operation synced"));
    }
    let now = jiff::Timestamp::now();
    let mut rows = Vec::new();
    let mut exits = Vec::new();
    for (name, clusters) in &names {
        let mut again = format!("user sync {name}");
        if let Some(kind) = &args.kind {
            again = format!("{again} --type {}", shell_word(kind));
        }
        let change = RoleChange::Sync { name, account, policy: &policy, now };
        let request = Request {
            only: clusters.as_deref(),
            check: args.check,
            ..Request::new(&args.targets, &args.change, change, None, again)
        };
        let rolled = match roll(ctx, &request, &out) {
            Ok(rolled) => rolled,
            // One role that cannot be planned (or is refused) stops no
            // other; an interrupt stops them all.
            Err(err) if names.len() > 1 && err.exit() != Exit::Interrupted => {
                exits.push(err.exit());
                err.context(format!("{name} was not synced")).report();
                continue;
            }
            Err(err) => return Err(err),
        };
        match rolled {
            Rolled::Reported(exit) => exits.push(exit),
            Rolled::Checked(found, changes) => {
                rows.extend(found);
                exits.push(if changes { Exit::Failure } else { Exit::Success });
            }
            Rolled::Applied(applied) => {
                exits.push(hint_after(ctx, &request, &applied.rows, &applied.applied, None));
                rows.extend(applied.rows);
            }
        }
    }
    if !(args.change.dry_run && out.format() == Format::Table) {
        output::unless_closed(out.list(&rows))?;
    }
    Ok(if args.check { gate(&exits) } else { worst(&exits) })
}

/// The exit of a check of several roles, a drift gate: 1 when any role
/// would change (or could not be checked), 2 when any was refused, 0 when
/// none would change.
fn gate(exits: &[Exit]) -> Exit {
    [Exit::Interrupted, Exit::Usage, Exit::Failure, Exit::Partial]
        .into_iter()
        .find(|exit| exits.contains(exit))
        .map_or(Exit::Success, |exit| if exit == Exit::Partial { Exit::Failure } else { exit })
}

/// The exit of several runs: interrupted, else partial when some failed
/// and some did not, else the one they share.
fn worst(exits: &[Exit]) -> Exit {
    if exits.contains(&Exit::Interrupted) {
        return Exit::Interrupted;
    }
    let failed = exits.iter().filter(|e| **e != Exit::Success).count();
    match (failed, exits.first()) {
        (0, _) => Exit::Success,
        (n, Some(first)) if n == exits.len() && exits.iter().all(|e| e == first) => *first,
        _ => Exit::Partial,
    }
}

/// The roles whose marker is of type `kind` on the targets' clusters, with
/// the clusters (`host:port`) where each is: a sync goes only there.
fn of_type(ctx: &Context, args: &SyncArgs, kind: &str) -> Result<Selected, CommandError> {
    let store = ctx.registry()?;
    let (targets, _) = targets::of_change(&store, &args.targets)?;
    drop(store);
    let connector = ctx.connector(&targets)?;
    let clusters = by_cluster(&targets);
    let read = credentials_of_each(ctx, &connector, args.targets.jobs.jobs, &clusters)?;
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (cluster, (_, credentials)) in clusters.iter().zip(read) {
        for credential in credentials {
            let marked = credential.comment.as_deref().and_then(marker::parse);
            if marked.is_some_and(|m| m.kind == kind)
                && !credential.info.attributes.contains(&"SUPERUSER")
            {
                found.entry(credential.info.name).or_default().insert(cluster.name.clone());
            }
        }
    }
    let mut names: Vec<(String, BTreeSet<String>)> = found.into_iter().collect();
    names.sort_by(|a, b| natural_cmp(&a.0, &b.0));
    names
        .into_iter()
        .map(|(name, clusters)| {
            let name = RoleName::parse(&name)?;
            Ok((name, Some(clusters.into_iter().collect())))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_of_several_roles_fails_when_any_would_change() {
        use Exit::{Failure, Interrupted, Partial, Success, Usage};
        assert_eq!(gate(&[Success, Success]), Success);
        assert_eq!(gate(&[Success, Failure]), Failure);
        assert_eq!(gate(&[Partial, Success]), Failure);
        assert_eq!(gate(&[Failure, Usage]), Usage);
        assert_eq!(gate(&[Usage, Interrupted]), Interrupted);
        assert_eq!(worst(&[Success, Failure]), Partial);
        assert_eq!(worst(&[Failure, Failure]), Failure);
        assert_eq!(worst(&[]), Success);
    }
}
