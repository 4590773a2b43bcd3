//! The change set that makes the registry match an inventory file: what
//! `registry import` (adds only) and `registry import --sync` (adds,
//! updates, deactivations) plan, and the store applies in one transaction.

use std::collections::{BTreeSet, HashMap};

use super::{Entry, EnvName, Target, TargetKey};

/// One change to one registry entry. Each carries the entry as it was
/// planned against, so the store can refuse to apply a plan the registry
/// has moved away from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Add(Target),
    /// `from` as registered, `to` as the file has it (same identity).
    Update {
        from: Box<Target>,
        to: Target,
    },
    /// An active target of a synced env that the file does not list.
    Deactivate(Target),
}

impl Change {
    /// The target as it is after the change.
    pub fn target(&self) -> &Target {
        match self {
            Change::Add(target)
            | Change::Update { to: target, .. }
            | Change::Deactivate(target) => target,
        }
    }

    /// `add`, `update` or `deactivate`.
    pub fn verb(&self) -> &'static str {
        match self {
            Change::Add(_) => "add",
            Change::Update { .. } => "update",
            Change::Deactivate(_) => "deactivate",
        }
    }

    /// Every difference, e.g. `sslmode prefer -> verify-full; labels
    /// +region=eu`; empty for an add or a deactivation.
    pub fn detail(&self) -> String {
        match self {
            Change::Update { from, to } => differences(from, to).join("; "),
            Change::Add(_) | Change::Deactivate(_) => String::new(),
        }
    }
}

/// What a sync or an import will do.
#[derive(Debug, Default)]
pub struct ChangeSet {
    /// In the file's order, then the deactivations in the registry's order.
    pub changes: Vec<Change>,
    /// Targets of the file registered exactly as the file has them (sync),
    /// or registered at all (import), with how the file differs.
    pub unchanged: Vec<(Target, Vec<&'static str>)>,
}

impl ChangeSet {
    pub fn count(&self, verb: &str) -> usize {
        self.changes.iter().filter(|c| c.verb() == verb).count()
    }
}

type Identity = (TargetKey, String);

fn identity(target: &Target) -> Identity {
    (target.key.clone(), target.cluster())
}

/// Import: add what is not registered, leave the rest as it is.
/// `registered` holds at least the entries the file's targets may match.
pub fn import(registered: &[Entry], file: &[Target]) -> ChangeSet {
    let by_identity: HashMap<Identity, &Target> =
        registered.iter().map(|e| (identity(&e.target), &e.target)).collect();
    let mut set = ChangeSet::default();
    for target in file {
        match by_identity.get(&identity(target)) {
            Some(existing) => {
                set.unchanged.push((target.clone(), existing.differences(target)));
            }
            None => set.changes.push(Change::Add(target.clone())),
        }
    }
    set
}

/// Sync: make the entries of `envs` match the file's targets of those
/// envs. `registered` holds every entry of `envs`; the file's targets of
/// other envs are left out by the caller.
pub fn sync(registered: &[Entry], file: &[Target], envs: &BTreeSet<EnvName>) -> ChangeSet {
    let by_identity: HashMap<Identity, &Target> =
        registered.iter().map(|e| (identity(&e.target), &e.target)).collect();
    let mut set = ChangeSet::default();
    let mut listed = std::collections::HashSet::with_capacity(file.len());
    for target in file {
        let id = identity(target);
        match by_identity.get(&id) {
            None => set.changes.push(Change::Add(target.clone())),
            Some(existing) if *existing == target => set.unchanged.push((target.clone(), vec![])),
            Some(existing) => {
                set.changes.push(Change::Update {
                    from: Box::new((*existing).clone()),
                    to: target.clone(),
                });
            }
        }
        listed.insert(id);
    }
    for entry in registered {
        let target = &entry.target;
        if target.active && envs.contains(&target.key.env) && !listed.contains(&identity(target)) {
            set.changes.push(Change::Deactivate(Target { active: false, ..target.clone() }));
        }
    }
    set
}

/// Each field in which `to` differs from `from`, with both values.
fn differences(from: &Target, to: &Target) -> Vec<String> {
    fn shown(value: Option<String>) -> String {
        value.unwrap_or_else(|| "(none)".to_owned())
    }
    let mut found = Vec::new();
    // Each field as its text in `from` and in `to`.
    let mut field = |name: &str, text: &dyn Fn(&Target) -> Option<String>| {
        let (old, new) = (text(from), text(to));
        if old != new {
            found.push(format!("{name} {} -> {}", shown(old), shown(new)));
        }
    };
    field("sslmode", &|t| t.sslmode.map(|m| m.to_string()));
    field("sslnegotiation", &|t| t.sslnegotiation.map(|n| n.to_string()));
    field("sslrootcert", &|t| t.sslrootcert.as_ref().map(ToString::to_string));
    field("sslcert", &|t| t.sslcert.as_ref().map(ToString::to_string));
    field("sslkey", &|t| t.sslkey.as_ref().map(ToString::to_string));
    field("admin_user", &|t| t.admin_user.as_ref().map(|u| u.as_str().to_owned()));
    field("admin_password_command", &|t| {
        t.admin_password_command.as_ref().map(ToString::to_string)
    });
    field("active", &|t| Some(t.active.to_string()));
    field("notes", &|t| t.notes.as_ref().map(|n| format!("{n:?}")));
    let mut labels = Vec::new();
    for (key, value) in from.labels.iter() {
        if to.labels.iter().all(|(k, v)| k != key || v != value) {
            labels.push(format!("-{}={value}", key.as_str()));
        }
    }
    for (key, value) in to.labels.iter() {
        if from.labels.iter().all(|(k, v)| k != key || v != value) {
            labels.push(format!("+{}={value}", key.as_str()));
        }
    }
    if !labels.is_empty() {
        found.push(format!("labels {}", labels.join(" ")));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Labels, SslMode};

    fn entry(target: Target) -> Entry {
        Entry { target, created_at: String::new(), updated_at: String::new() }
    }

    #[test]
    fn sync_adds_updates_and_deactivates_only_in_its_envs() {
        let kept = Target::example("prod", "kept");
        let mut changed = Target::example("prod", "orders");
        changed.sslmode = Some(SslMode::Prefer);
        changed.labels = Labels::parse_text("tier=gold;zone=a").unwrap();
        let gone = Target::example("prod", "gone");
        let already_inactive = Target { active: false, ..Target::example("prod", "old") };
        let other_env = Target::example("qa", "gone");
        let registered: Vec<Entry> = [&kept, &changed, &gone, &already_inactive, &other_env]
            .map(|t| entry(t.clone()))
            .into();

        let mut wanted = changed.clone();
        wanted.sslmode = Some(SslMode::VerifyFull);
        wanted.labels = Labels::parse_text("region=eu;tier=gold;zone=b").unwrap();
        let new = Target::example("prod", "new");
        let envs = BTreeSet::from(["prod".parse().unwrap()]);
        let set = sync(&registered, &[kept.clone(), wanted.clone(), new.clone()], &envs);

        assert_eq!(
            set.changes,
            [
                Change::Update { from: Box::new(changed.clone()), to: wanted.clone() },
                Change::Add(new),
                Change::Deactivate(Target { active: false, ..gone }),
            ]
        );
        assert_eq!(
            set.changes[0].detail(),
            "sslmode prefer -> verify-full; labels -zone=a +region=eu +zone=b"
        );
        assert_eq!(set.unchanged.len(), 1);

        // Applied, the same file is a no-op.
        let now: Vec<Entry> = [kept.clone(), wanted.clone()].map(entry).into();
        assert!(sync(&now, &[kept, wanted], &envs).changes.is_empty());
    }

    #[test]
    fn import_adds_only_what_is_not_registered() {
        let registered = [entry(Target::example("prod", "orders"))];
        let changed = Target { notes: Some("x".into()), ..Target::example("prod", "orders") };
        let new = Target::example("prod", "billing");
        let set = import(&registered, &[changed.clone(), new.clone()]);
        assert_eq!(set.changes, [Change::Add(new)]);
        assert_eq!(set.unchanged, [(changed, vec!["notes"])]);
    }
}
