//! Role changes on clusters, in two steps per cluster.
//!
//! [`plan`] reads, on one admin session, everything the change depends on:
//! does the role exist, may this admin change it, which databases a drop
//! must visit (and can it connect to them, and revoke every privilege
//! there), and decides every statement. What cannot work becomes a
//! [`Refusal`], found before anything changes anywhere.
//!
//! [`ClusterPlan::apply`] then runs exactly the planned statements: one
//! transaction per cluster, under an advisory lock on the role name so that
//! concurrent pgacct runs queue, except where PostgreSQL needs several (a
//! drop visits each database that holds something of the role; grants for
//! a read-only role before PostgreSQL 14 go into each target database).
//! Every statement is logged with how it ended, so the audit trail lists
//! what committed, also when a later step fails. An [`Interrupt`] stops the
//! work between steps, and cancels a statement that waits.

mod apply;
mod facts;

use std::time::Duration;

use tokio_postgres::types::Type;

use self::apply::settled_outcome;
pub use self::apply::{ClusterOutcome, Ended, MAY_BE_IN_FORCE, unreachable};
use self::facts::{Grant, RoleFacts, grants, group_facts, role_facts, unrevocable_query};
use super::inspect;
use super::lifecycle;
use super::privileges::{self, DatabaseAccess};
use super::roles::{self, Drift, READ_ALL_DATA_SINCE, RoleError, RoleSpec, Statement};
use super::{Connector, Session, SessionFacts};
use crate::policy::{
    Access, AccountType, Attribute, Policy, ReadScope, RoleName, SchemaName, ValidFor, ValidUntil,
};
use crate::registry::Target;
use crate::secret::{self, Password};

/// From PostgreSQL 16, CREATEROLE changes only roles it holds ADMIN OPTION on.
const ADMIN_OPTION_SINCE: i32 = 160_000;

/// How long work in flight may take to answer a cancel after an interrupt.
const GRACE: Duration = Duration::from_secs(10);

/// The statuses of the outcomes that set a password: a role created, a
/// password reset.
pub const SETS_PASSWORD: [&str; 2] = ["user created", "password reset"];

/// One change to one role, the same on every cluster.
#[derive(Debug)]
pub enum RoleChange<'a> {
    Create(RoleSpec<'a>),
    ResetPassword {
        name: &'a RoleName,
        renewal: Renewal<'a>,
        /// Where some type has no password, the plan reads the role's
        /// marker and refuses a role of such a type.
        policy: &'a Policy,
    },
    SetSearchPath {
        name: &'a RoleName,
        schemas: &'a [SchemaName],
    },
    Lock {
        name: &'a RoleName,
        terminate: bool,
    },
    Unlock(&'a RoleName),
    /// `heir` gets what the role owns; `None`: the admin role.
    Drop {
        name: &'a RoleName,
        heir: Option<&'a str>,
    },
    /// Brings the role back to its type's policy; never its password.
    Sync {
        name: &'a RoleName,
        /// `--type`, else the type its marker names, read by the plan.
        account: Option<&'a AccountType>,
        policy: &'a Policy,
        now: jiff::Timestamp,
    },
    /// Makes the role a member of `group`.
    GrantRole {
        name: &'a RoleName,
        group: &'a RoleName,
    },
    /// Ends the role's membership in `group`: every grant of it.
    RevokeRole {
        name: &'a RoleName,
        group: &'a RoleName,
    },
}

impl RoleChange<'_> {
    pub fn role(&self) -> &RoleName {
        match self {
            RoleChange::Create(spec) => spec.name,
            RoleChange::ResetPassword { name, .. }
            | RoleChange::SetSearchPath { name, .. }
            | RoleChange::Lock { name, .. }
            | RoleChange::Unlock(name)
            | RoleChange::Drop { name, .. }
            | RoleChange::Sync { name, .. }
            | RoleChange::GrantRole { name, .. }
            | RoleChange::RevokeRole { name, .. } => name,
        }
    }

    /// The group of a membership change.
    pub fn group(&self) -> Option<&RoleName> {
        match self {
            RoleChange::GrantRole { group, .. } | RoleChange::RevokeRole { group, .. } => {
                Some(group)
            }
            _ => None,
        }
    }

    /// The audit trail's name for it.
    pub fn operation(&self) -> &'static str {
        match self {
            RoleChange::Create(_) => "user.create",
            RoleChange::ResetPassword { .. } => "user.reset-password",
            RoleChange::SetSearchPath { .. } => "user.set-search-path",
            RoleChange::Lock { .. } => "user.lock",
            RoleChange::Unlock(_) => "user.unlock",
            RoleChange::Drop { .. } => "user.drop",
            RoleChange::Sync { .. } => "user.sync",
            RoleChange::GrantRole { .. } => "user.grant-role",
            RoleChange::RevokeRole { .. } => "user.revoke-role",
        }
    }

    /// True when the change gives the role a new password: a reset, and
    /// the create of a type with passwords.
    pub fn sets_password(&self) -> bool {
        match self {
            RoleChange::Create(spec) => spec.account.has_password(),
            RoleChange::ResetPassword { .. } => true,
            _ => false,
        }
    }

    /// What is about to happen, in words.
    pub fn intent(&self) -> String {
        match self {
            RoleChange::Create(spec) => format!("create {} user", spec.account.name),
            RoleChange::ResetPassword { .. } => "reset password".into(),
            RoleChange::SetSearchPath { schemas, .. } => {
                format!("set search_path to {}", path_text(schemas))
            }
            RoleChange::Lock { terminate: true, .. } => "lock user and end its sessions".into(),
            RoleChange::Lock { terminate: false, .. } => "lock user".into(),
            RoleChange::Unlock(_) => "unlock user".into(),
            RoleChange::Drop { heir: None, .. } => "drop user".into(),
            RoleChange::Drop { heir: Some(heir), .. } => {
                format!("drop user, what it owns going to {heir}")
            }
            RoleChange::Sync { account: Some(account), .. } => {
                format!("sync user to type {}", account.name)
            }
            RoleChange::Sync { account: None, .. } => "sync user to its type".into(),
            RoleChange::GrantRole { group, .. } => format!("grant membership in {group}"),
            RoleChange::RevokeRole { group, .. } => format!("revoke membership in {group}"),
        }
    }

    /// What happened, when it worked.
    fn done(&self) -> String {
        match self {
            RoleChange::Create(spec) => match spec.account.auth.login_note(spec.name.as_str()) {
                Some(note) => format!("{}; {note}", SETS_PASSWORD[0]),
                None => SETS_PASSWORD[0].into(),
            },
            RoleChange::ResetPassword { .. } => SETS_PASSWORD[1].into(),
            RoleChange::SetSearchPath { schemas, .. } => {
                format!("search_path set to {}", path_text(schemas))
            }
            RoleChange::Lock { .. } => "user locked".into(),
            RoleChange::Unlock(_) => "user unlocked".into(),
            RoleChange::Drop { .. } => "user dropped".into(),
            RoleChange::Sync { .. } => "user synced".into(),
            RoleChange::GrantRole { .. } => "membership granted".into(),
            RoleChange::RevokeRole { .. } => "membership revoked".into(),
        }
    }

    /// What did not happen, when it failed: a failed row's status, next
    /// to its error.
    pub fn not_done(&self) -> String {
        match self {
            RoleChange::Create(_) => "user not created".into(),
            RoleChange::ResetPassword { .. } => "password not reset".into(),
            RoleChange::SetSearchPath { .. } => "search_path not set".into(),
            RoleChange::Lock { .. } => "user not locked".into(),
            RoleChange::Unlock(_) => "user not unlocked".into(),
            RoleChange::Drop { .. } => "user not dropped".into(),
            RoleChange::Sync { .. } => "user not synced".into(),
            RoleChange::GrantRole { .. } => "membership not granted".into(),
            RoleChange::RevokeRole { .. } => "membership not revoked".into(),
        }
    }

    /// Whether it would take away the admin's own access: pgacct never
    /// resets, locks, drops or syncs (its connection limit, memberships,
    /// expiry) a role it connects as.
    pub fn locks_out_the_admin(&self) -> bool {
        matches!(
            self,
            RoleChange::ResetPassword { .. }
                | RoleChange::Lock { .. }
                | RoleChange::Drop { .. }
                | RoleChange::Sync { .. }
        )
    }
}

/// What a reset does to the role's `VALID UNTIL`.
#[derive(Debug, Clone)]
pub enum Renewal<'a> {
    /// Sets it: from `--valid-for`, or the `valid_for_days` of `--type`.
    To(ValidUntil),
    /// From the type the role's marker names, read by the plan: that
    /// type's `valid_for_days`, counted from `now`.
    ByMarker { policy: &'a Policy, now: jiff::Timestamp },
    /// Leaves it; the note says why, where there is something to say.
    Keep(Option<String>),
}

impl Renewal<'_> {
    /// What it sets on a cluster where the role's comment is `comment`
    /// (read where the marker decides).
    fn expiry(&self, comment: Option<&str>) -> Expiry {
        let keep = |why: String| Expiry {
            until: None,
            note: Some(format!("VALID UNTIL left as it is: {why}; give --type or --valid-for")),
        };
        match self {
            Renewal::To(until) => Expiry { until: Some(*until), note: None },
            Renewal::Keep(note) => Expiry { until: None, note: note.clone() },
            Renewal::ByMarker { policy, now } => {
                let Some(marker) = comment.and_then(crate::policy::marker::parse) else {
                    return keep("the role has no pgacct marker".into());
                };
                match policy.account_type(&marker.kind) {
                    Ok(account) => Expiry {
                        until: account.valid_for_days.map(|days| ValidFor::days(days).from(*now)),
                        note: None,
                    },
                    Err(_) => keep(format!(
                        "its marker names type {}, which this configuration does not have",
                        marker.kind
                    )),
                }
            }
        }
    }
}

/// The `VALID UNTIL` a change sets on one cluster, or why it sets none.
#[derive(Debug, Clone, Default)]
struct Expiry {
    until: Option<ValidUntil>,
    /// Said after the status: why `VALID UNTIL` is left as it is.
    note: Option<String>,
}

impl Expiry {
    /// `status`, and what became of `VALID UNTIL`.
    fn status(&self, status: String) -> String {
        match (self.until, &self.note) {
            (Some(until), _) => format!("{status}; {}", until.status()),
            (None, Some(note)) => format!("{status}; {note}"),
            (None, None) => status,
        }
    }
}

fn path_text(schemas: &[SchemaName]) -> String {
    schemas.iter().map(SchemaName::as_str).collect::<Vec<_>>().join(", ")
}

/// Why a change may not go ahead on a cluster, found by its plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: String,
    pub hint: Option<String>,
}

impl Refusal {
    fn new(reason: impl Into<String>) -> Refusal {
        Refusal { reason: reason.into(), hint: None }
    }

    fn hint(mut self, hint: impl Into<String>) -> Refusal {
        self.hint = Some(hint.into());
        self
    }
}

/// An outcome known from the plan alone: nothing will run on the cluster.
#[derive(Debug)]
pub enum Settled {
    /// The role is not there (reset, lock, drop, ...).
    NotFound,
    /// The role is there already (create); how it differs from its policy.
    AlreadyExists(Drift),
    /// Nothing to repair (sync); what it leaves as it is.
    InSync(Drift),
    /// Nothing to do, and why: "already a member of G".
    Unchanged(String),
    /// The server is in recovery.
    Standby,
    /// The plan could not read what it needs.
    Failed(String),
}

/// What one cluster will run.
#[derive(Debug)]
enum Work {
    Settled(Settled),
    /// One locked transaction on the cluster; then, for a create on a
    /// server without `pg_read_all_data`, grants in each target database;
    /// for a lock, the role's sessions ended.
    Change {
        statements: Vec<Statement>,
        grants: Vec<ReadGrants>,
        /// What takes back the grants `statements` made, before the new
        /// role is dropped, if the create cannot finish elsewhere.
        undo: Vec<Statement>,
        terminate: bool,
        expiry: Expiry,
        /// What a sync repairs (and leaves).
        drift: Drift,
    },
    Drop(DropWork),
}

impl Work {
    /// One locked transaction of `statements`, and nothing else.
    fn change(statements: Vec<Statement>) -> Work {
        Work::Change {
            statements,
            grants: Vec::new(),
            undo: Vec::new(),
            terminate: false,
            expiry: Expiry::default(),
            drift: Drift::default(),
        }
    }
}

/// The grants of a role (or its group) in one database other than the
/// plan's first, and the revokes that take them back if a create cannot
/// finish.
#[derive(Debug)]
struct ReadGrants {
    /// The session (by index) to the database.
    session: usize,
    grant: Vec<Statement>,
    revoke: Vec<Statement>,
}

/// The steps of a drop, decided by its plan.
#[derive(Debug)]
struct DropWork {
    heir: String,
    /// The admin must make itself a member of the role, and of the heir,
    /// to act as them; it takes those memberships back afterwards.
    grant_role: bool,
    grant_heir: bool,
    /// The sessions (by index) of the databases that hold something of the role.
    databases: Vec<usize>,
}

/// What a create's plan read, in one round trip.
struct CreateFacts<'r> {
    role: RoleFacts,
    session: &'r SessionFacts,
    /// The rows of [`group_facts`] for the groups it joins.
    groups: &'r [tokio_postgres::Row],
    /// The type's group of each target database.
    type_groups: Vec<(String, RoleName)>,
    /// What the role (or its group) lacks in the first database.
    first_access: Option<DatabaseAccess>,
}

/// A change planned on one cluster: its sessions, what it will run, and
/// why it may not.
#[derive(Debug)]
pub struct ClusterPlan {
    /// The database and session of each connection; the first is the
    /// cluster's own, to its first target.
    sessions: Vec<(String, Session)>,
    /// That first target: a clean-up that cannot wait for a session that
    /// no longer answers opens a new one to it.
    target: Target,
    work: Work,
    /// False for a plan made without the password its change sets (a dry
    /// run): it may be shown, never applied.
    ready: bool,
    pub refusals: Vec<Refusal>,
    /// What a drop will affect, in one line.
    pub preflight: Option<String>,
    /// Warned of before the change: PUBLIC may create in a schema.
    pub warnings: Vec<String>,
}

/// How much a plan reads before the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// Every fact its preview shows (does the role exist, ...): for a plan
    /// a person reads first (a dry run, a confirmation).
    Everything,
    /// Only the facts its checks need. Where the server itself answers
    /// every remaining question in the change's own round trip (a
    /// superuser's reset: the role is missing, the server is a standby),
    /// the plan reads nothing, and the change needs no round trip of its
    /// own before it is applied.
    Checks,
}

/// Plans `change` on the cluster of `targets` (the selected targets on
/// one cluster), on `session`, connected to the first of them. `password`
/// is the new password, for changes that set one (`None` for a dry run).
pub async fn plan(
    connector: &Connector,
    session: Session,
    targets: &[&Target],
    change: &RoleChange<'_>,
    password: Option<&Password>,
    reading: Reading,
) -> ClusterPlan {
    let db = session.settings.dbname.clone();
    let mut plan = ClusterPlan {
        sessions: vec![(db, session)],
        target: targets[0].clone(),
        work: Work::Settled(Settled::NotFound),
        ready: !change.sets_password() || password.is_some(),
        refusals: Vec::new(),
        preflight: None,
        warnings: Vec::new(),
    };
    plan.work = match plan.decide(connector, targets, change, password, reading).await {
        Ok(work) => work,
        Err(err) => Work::Settled(Settled::Failed(err.message)),
    };
    plan
}

impl ClusterPlan {
    fn main(&self) -> &Session {
        &self.sessions[0].1
    }

    async fn decide(
        &mut self,
        connector: &Connector,
        targets: &[&Target],
        change: &RoleChange<'_>,
        password: Option<&Password>,
        reading: Reading,
    ) -> Result<Work, RoleError> {
        let name = change.role();
        let admin = self.main().settings.user.clone();
        if change.locks_out_the_admin() && name.as_str() == admin {
            self.refusals.push(
                Refusal::new(format!(
                    "{name} is the admin role pgacct connects as here; pgacct never resets, \
                     locks or drops it"
                ))
                .hint("use another admin role for this target (registry update --admin-user)"),
            );
        }
        if reading == Reading::Checks && self.server_checks_all(change) {
            if self.main().server.in_recovery == Some(true) {
                return Ok(Work::Settled(Settled::Standby));
            }
            return Ok(self.change_work(targets, change, password, None));
        }
        // What the checks need, in one round trip: for a create, also what
        // the role (or its group) lacks in the first database.
        let is_drop = matches!(change, RoleChange::Drop { .. });
        let (groups, type_groups) = match change {
            RoleChange::Create(spec) => {
                (self.groups_joined(spec.account), self.type_groups(targets, spec.account))
            }
            _ => (Vec::new(), Vec::new()),
        };
        let checked: Vec<&str> = groups
            .iter()
            .copied()
            .chain(type_groups.iter().map(|(_, g)| g.as_str()))
            .chain(change.group().map(RoleName::as_str))
            .collect();
        let first_access = match change {
            RoleChange::Create(spec) if reaches_targets(spec.account) => {
                Some(grantee(name, &type_groups, &self.sessions[0].0).to_owned())
            }
            _ => None,
        };
        let main = self.main();
        let first_db = self.sessions[0].0.clone();
        let (session, facts, groups, grants, first_access) = tokio::try_join!(
            main.facts(),
            role_facts(main, name.as_str(), is_drop),
            group_facts(main, &checked),
            grants(main, name.as_str(), change.group().map(RoleName::as_str)),
            async {
                match (&first_access, change) {
                    (Some(grantee), RoleChange::Create(spec)) => {
                        privileges::read(main, &first_db, grantee, spec.account.access, false)
                            .await
                            .map(Some)
                    }
                    _ => Ok(None),
                }
            }
        )?;
        let session = session.clone();
        if session.in_recovery {
            return Ok(Work::Settled(Settled::Standby));
        }
        match change {
            RoleChange::Create(spec) => {
                let read = CreateFacts {
                    role: facts,
                    session: &session,
                    groups: &groups,
                    type_groups,
                    first_access,
                };
                self.plan_create(connector, targets, spec, read, password).await
            }
            RoleChange::GrantRole { group, .. } | RoleChange::RevokeRole { group, .. } => {
                Ok(self.plan_membership(change, group, &facts, groups.first(), &grants, &session))
            }
            _ if !facts.exists => Ok(Work::Settled(Settled::NotFound)),
            RoleChange::Drop { heir, .. } => {
                self.refuse_unchangeable(change, &facts);
                self.plan_drop(connector, targets[0], name, heir.unwrap_or(&admin), facts, &session)
                    .await
            }
            RoleChange::Sync { account, policy, now, .. } => {
                self.refuse_unchangeable(change, &facts);
                let comment = facts.comment.as_deref();
                let Some(account) = self.sync_type(name, *account, policy, comment) else {
                    return Ok(Work::Settled(Settled::NotFound));
                };
                let adopt = comment.is_none().then_some(*now);
                self.plan_sync(connector, targets, name, account, &session, (*now, adopt)).await
            }
            _ => {
                self.refuse_unchangeable(change, &facts);
                if let RoleChange::ResetPassword { policy, .. } = change {
                    self.refuse_passwordless(name, policy, facts.comment.as_deref());
                }
                Ok(self.change_work(targets, change, password, facts.comment.as_deref()))
            }
        }
    }

    /// Refuses a reset of a role whose marker names a type without a
    /// password: a password would let it log in a way its type rules out.
    fn refuse_passwordless(&mut self, name: &RoleName, policy: &Policy, comment: Option<&str>) {
        let Some(marker) = comment.and_then(crate::policy::marker::parse) else { return };
        let Ok(account) = policy.account_type(&marker.kind) else { return };
        if let Some(reason) = account.without_password(name.as_str()) {
            self.refusals.push(Refusal::new(reason).hint(format!(
                "type {} says password = false in config.toml: there is no password to reset",
                account.name
            )));
        }
    }

    /// The type a sync brings the role to: `given` (`--type`), which must
    /// be the one its marker names, if any; else the marker's. A refusal
    /// says why there is none.
    fn sync_type<'p>(
        &mut self,
        name: &RoleName,
        given: Option<&'p AccountType>,
        policy: &'p Policy,
        comment: Option<&str>,
    ) -> Option<&'p AccountType> {
        let marked = self.marked_type(name, policy, comment, given.is_none());
        match (given, marked) {
            (Some(given), Some(marked)) if given.name != marked.name => {
                self.refusals.push(
                    Refusal::new(format!(
                        "{name} is a {} account (its pgacct marker says so), not {}: a sync \
                         to another type's policy would change its connection limit, \
                         memberships and access",
                        marked.name, given.name
                    ))
                    .hint(format!("leave out --type to bring it back to type {}", marked.name)),
                );
                None
            }
            (Some(given), _) => Some(given),
            (None, marked) => marked,
        }
    }

    /// The type the role's marker names; when there is none and `needed`
    /// (a sync must know the policy to bring the role to), a refusal
    /// saying why.
    fn marked_type<'p>(
        &mut self,
        name: &RoleName,
        policy: &'p Policy,
        comment: Option<&str>,
        needed: bool,
    ) -> Option<&'p AccountType> {
        if !needed {
            let marker = comment.and_then(crate::policy::marker::parse)?;
            return policy.account_type(&marker.kind).ok();
        }
        let refusal = match comment.and_then(crate::policy::marker::parse) {
            None => {
                Refusal::new(format!("{name} has no pgacct marker, so its type is not known here"))
            }
            Some(marker) => match policy.account_type(&marker.kind) {
                Ok(account) => return Some(account),
                Err(_) => Refusal::new(format!(
                    "{name}'s marker names type {}, which this configuration does not have",
                    marker.kind
                )),
            },
        };
        self.refusals.push(refusal.hint("name the type to bring it to: --type T"));
        None
    }

    /// The group of each target database, for a type with groups; a
    /// refusal for a database whose group name breaks the rules.
    fn type_groups(
        &mut self,
        targets: &[&Target],
        account: &AccountType,
    ) -> Vec<(String, RoleName)> {
        let mut groups = Vec::new();
        for target in targets {
            let db = target.key.db.as_str();
            match account.group_name(db, target.key.env.as_str()) {
                None => return Vec::new(),
                Some(Ok(group)) => groups.push((db.to_owned(), group)),
                Some(Err(err)) => self.refusals.push(
                    Refusal::new(err.to_string())
                        .hint(format!("change group of [types.{}] in config.toml", account.name)),
                ),
            }
        }
        groups
    }

    /// Refuses a type whose access this server cannot give as it says.
    fn refuse_scope(&mut self, account: &AccountType) {
        let version = self.main().server.version_num;
        if account.access != Access::None
            && account.read_scope == ReadScope::Cluster
            && version < READ_ALL_DATA_SINCE
        {
            self.refusals.push(
                Refusal::new(format!(
                    "type {} has read_scope = \"cluster\", which takes {} (PostgreSQL 14 and \
                     later); this server is {}",
                    account.name,
                    account.access.predefined_roles().join(" and "),
                    version / 10_000
                ))
                .hint("use read_scope = \"targets\" (grants in each target database) for it"),
            );
        }
        if account.group.is_some() && account.access == Access::None {
            self.refusals.push(Refusal::new(format!(
                "type {} has a group but no access to give it: say access = \"read\" or \
                 \"readwrite\"",
                account.name
            )));
        }
    }

    /// What the role (or the group of each database, for a type with
    /// groups) lacks of `account`'s access in each target database, with
    /// the session of each; `first` is what the plan read already in the
    /// first database.
    async fn access_by_database(
        &mut self,
        connector: &Connector,
        targets: &[&Target],
        subject: &Subject<'_>,
        mut first: Option<DatabaseAccess>,
        fresh: bool,
    ) -> Result<Vec<(usize, DatabaseAccess)>, RoleError> {
        let Subject { name, account, groups } = *subject;
        if !reaches_targets(account) {
            return Ok(Vec::new());
        }
        let mut found = Vec::new();
        for target in targets {
            let db = target.key.db.as_str();
            let grantee = grantee(name, groups, db).to_owned();
            // Said of the database, as the cluster's one error is shown on
            // the rows of all its targets.
            let in_db = |err: RoleError| RoleError {
                message: format!("in database {db}: {}", err.message),
                ..err
            };
            let index = self.session_for(connector, target, db).await.map_err(in_db)?;
            let mut access = if let Some(access) = first.take().filter(|_| index == 0) {
                access
            } else {
                let session = &self.sessions[index].1;
                privileges::read(session, db, &grantee, account.access, fresh)
                    .await
                    .map_err(in_db)?
            };
            if grantee != name.as_str() {
                for text in &mut access.lacking {
                    *text = format!("{text} (group {grantee})");
                }
            }
            found.push((index, access));
        }
        Ok(found)
    }

    /// Refusals for what the admin may not grant, and the notes, of `access`.
    fn take_access_findings(&mut self, access: &[(usize, DatabaseAccess)]) {
        for (_, access) in access {
            self.refusals.extend(
                access
                    .forbidden
                    .iter()
                    .map(|f| Refusal::new(f.reason.clone()).hint(f.hint.clone())),
            );
            self.warnings.extend(access.notes.iter().cloned());
        }
    }

    /// How the existing role differs from `account`'s policy, everywhere;
    /// and what it (or its groups) lacks in each database.
    async fn drift(
        &mut self,
        connector: &Connector,
        targets: &[&Target],
        subject: &Subject<'_>,
        first: Option<DatabaseAccess>,
        now: jiff::Timestamp,
    ) -> Result<(Drift, Vec<(usize, DatabaseAccess)>), RoleError> {
        let dbs: Vec<&str> = targets.iter().map(|t| t.key.db.as_str()).collect();
        let group_names = distinct(subject.groups);
        let (name, account) = (subject.name, subject.account);
        let mut drift = roles::drift(self.main(), name, account, &dbs, &group_names, now).await?;
        // Read again as if the role had no cluster-wide access, as the
        // sync takes it away.
        let first = first.filter(|_| !drift.fresh);
        let fresh = drift.fresh;
        let access = self.access_by_database(connector, targets, subject, first, fresh).await?;
        for (index, found) in &access {
            drift.lacking_in(&self.sessions[*index].0, &found.lacking);
        }
        Ok((drift, access))
    }

    /// The work of a sync: the groups to make, the repairs, and the grants
    /// in each database; none when the role is as its policy says.
    /// `now`, and again when the role has no comment: it is adopted, its
    /// marker added.
    async fn plan_sync(
        &mut self,
        connector: &Connector,
        targets: &[&Target],
        name: &RoleName,
        account: &AccountType,
        session: &SessionFacts,
        (now, adopt): (jiff::Timestamp, Option<jiff::Timestamp>),
    ) -> Result<Work, RoleError> {
        self.refuse_scope(account);
        let type_groups = self.type_groups(targets, account);
        let group_names = distinct(&type_groups);
        let joined: Vec<&str> = self
            .groups_joined(account)
            .into_iter()
            .chain(group_names.iter().map(RoleName::as_str))
            .collect();
        let rows = group_facts(self.main(), &joined).await?;
        let subject = Subject { name, account, groups: &type_groups };
        let (mut drift, access) = self.drift(connector, targets, &subject, None, now).await?;
        if let Some(at) = adopt {
            let marker = crate::policy::marker::Marker::new(&account.name, at, None);
            drift.cluster.insert(
                0,
                roles::Finding {
                    text: format!("no pgacct marker (adopted as type {})", account.name),
                    fix: Some(roles::mark(name, &marker)),
                },
            );
        }
        // Only the groups it would newly join are the admin's to grant.
        let missing: Vec<&tokio_postgres::Row> = rows
            .iter()
            .filter(|row| drift.joins.iter().any(|group| group == row.get::<_, &str>(0)))
            .collect();
        self.refuse_groups(account, session, &missing, &group_names);
        self.take_access_findings(&access);
        let mut statements: Vec<Statement> = rows
            .iter()
            .filter(|row| !row.get::<_, bool>(1))
            .filter_map(|row| group_names.iter().find(|g| g.as_str() == row.get::<_, &str>(0)))
            .map(|group| {
                let marker = crate::policy::marker::Marker::new("group", now, None);
                roles::create_group(group, &marker)
            })
            .collect();
        statements.extend(drift.fixes());
        let grants = place_grants(&mut statements, access, None);
        if statements.is_empty() && grants.is_empty() {
            return Ok(Work::Settled(Settled::InSync(drift)));
        }
        Ok(Work::Change {
            statements,
            grants,
            undo: Vec::new(),
            terminate: false,
            expiry: Expiry::default(),
            drift,
        })
    }

    /// The work of a grant-role or revoke-role. Refused: a group that does
    /// not exist, a privileged one (to grant), one the admin may not grant
    /// or revoke, and from PostgreSQL 16 a grant the admin may not revoke.
    /// Settled: the role missing, a member already (grant) or not one
    /// (revoke).
    fn plan_membership(
        &mut self,
        change: &RoleChange<'_>,
        group: &RoleName,
        role: &RoleFacts,
        row: Option<&tokio_postgres::Row>,
        grants: &[Grant],
        session: &SessionFacts,
    ) -> Work {
        let name = change.role();
        let granting = matches!(change, RoleChange::GrantRole { .. });
        let verb = if granting { "grant" } else { "revoke" };
        let Some(row) = row.filter(|row| row.get::<_, bool>(1)) else {
            self.refusals.push(
                Refusal::new(if granting {
                    format!("role {group} does not exist, so {name} cannot be made a member of it")
                } else {
                    format!("role {group} does not exist, so {name} has no membership in it to end")
                })
                .hint(format!(
                    "check the spelling, or create {group} first (a type with group = ... makes \
                     its groups)"
                )),
            );
            return Work::Settled(Settled::Failed(format!("role {group} does not exist")));
        };
        if granting && let Some((_, power)) = privilege(row) {
            self.refusals.push(
                Refusal::new(format!("role {group} {power}: pgacct does not grant it")).hint(
                    format!("if {name} is to have that power, grant it by hand as a superuser"),
                ),
            );
        }
        self.refuse_membership_power(group, row, verb, session);
        if !role.exists {
            return Work::Settled(Settled::NotFound);
        }
        if granting {
            if !grants.is_empty() {
                return Work::Settled(Settled::Unchanged(format!("already a member of {group}")));
            }
            return Work::change(vec![roles::grant_membership(group, name)]);
        }
        if grants.is_empty() {
            return Work::Settled(Settled::Unchanged(format!("not a member of {group}")));
        }
        if self.main().server.version_num < ADMIN_OPTION_SINCE {
            // One membership, whoever granted it: a REVOKE ends it.
            return Work::change(vec![roles::revoke_membership(group, name, None)]);
        }
        let admin = self.main().settings.user.clone();
        let mut statements = Vec::new();
        for grant in grants {
            let Some(grantor) = grant.grantor.as_deref() else { continue };
            if !grant.revocable {
                self.refusals.push(
                    Refusal::new(format!(
                        "{name} is a member of {group} by a grant of {grantor}, which the admin \
                         {admin} may not revoke: from PostgreSQL 16 each grantor's grant is its \
                         own, and only {grantor}, a role with its privileges, or a superuser \
                         may revoke it"
                    ))
                    .hint(format!(
                        "as a superuser: REVOKE {group} FROM {name} GRANTED BY {grantor}"
                    )),
                );
            }
            if grant.granted_onward {
                self.refusals.push(
                    Refusal::new(format!(
                        "{name} holds {group} WITH ADMIN OPTION (granted by {grantor}) and has \
                         granted it to other roles: revoking it would take their memberships \
                         too (CASCADE)"
                    ))
                    .hint(format!("revoke {group} from the roles {name} granted it to first")),
                );
            }
            statements.push(roles::revoke_membership(group, name, Some(grantor)));
        }
        Work::change(statements)
    }

    /// Refuses a membership change in `group` (a row of [`group_facts`])
    /// the admin may not make.
    fn refuse_membership_power(
        &mut self,
        group: &RoleName,
        row: &tokio_postgres::Row,
        verb: &str,
        session: &SessionFacts,
    ) {
        if session.superuser {
            return;
        }
        let version = self.main().server.version_num;
        let admin = self.main().settings.user.clone();
        let (superuser, admin_option): (bool, bool) = (row.get(2), row.get(3));
        let admin_hint = format!(
            "as a superuser: GRANT {group} TO {admin} WITH ADMIN OPTION (from PostgreSQL 16 also \
             INHERIT FALSE, SET FALSE: the power to grant it, not to use it)"
        );
        let refusal = if superuser {
            Refusal::new(format!(
                "{group} is a superuser, and the admin {admin} is not: only a superuser may \
                 {verb} membership in it"
            ))
            .hint(format!("{verb} it by hand as a superuser"))
        } else if version >= ADMIN_OPTION_SINCE && !admin_option {
            Refusal::new(format!(
                "the admin {admin} holds no ADMIN OPTION on {group}, which PostgreSQL 16 and \
                 later require to {verb} membership in it"
            ))
            .hint(admin_hint)
        } else if version < ADMIN_OPTION_SINCE && !session.createrole && !admin_option {
            Refusal::new(format!(
                "the admin {admin} has neither CREATEROLE nor ADMIN OPTION on {group}, one of \
                 which it needs to {verb} membership in it"
            ))
            .hint(admin_hint)
        } else {
            return;
        };
        self.refusals.push(refusal);
    }

    /// Whether every check of `change` beyond those made without the
    /// server is one the server makes itself when the change runs: the
    /// admin is a superuser (so nothing is beyond its power), and the
    /// change joins no groups (whose powers pgacct checks) and needs no
    /// per-database grants; nor, for a reset, the role's marker. Then the
    /// role being there or not, or the server being a standby, is told by
    /// the change's own statements.
    fn server_checks_all(&self, change: &RoleChange<'_>) -> bool {
        self.main().server.superuser
            && match change {
                RoleChange::Create(spec) => {
                    spec.account.access == Access::None
                        && spec.account.group.is_none()
                        && self.groups_joined(spec.account).is_empty()
                }
                RoleChange::Drop { .. }
                | RoleChange::Sync { .. }
                | RoleChange::GrantRole { .. }
                | RoleChange::RevokeRole { .. } => false,
                RoleChange::ResetPassword { renewal, policy, .. } => {
                    !matches!(renewal, Renewal::ByMarker { .. })
                        && !policy.some_type_has_no_password()
                }
                RoleChange::SetSearchPath { .. }
                | RoleChange::Lock { .. }
                | RoleChange::Unlock(_) => true,
            }
    }

    /// The roles a role of `account` joins: its type's, and the predefined
    /// role of its access for cluster scope.
    fn groups_joined<'s>(&self, account: &'s AccountType) -> Vec<&'s str> {
        roles::joined_roles(account, self.main().server.version_num)
    }

    /// The statements of a change that is not a drop, once its checks
    /// passed; `comment` is the role's comment, where the plan read it.
    fn change_work(
        &self,
        targets: &[&Target],
        change: &RoleChange<'_>,
        password: Option<&Password>,
        comment: Option<&str>,
    ) -> Work {
        let name = change.role();
        let dbs: Vec<&str> = targets.iter().map(|t| t.key.db.as_str()).collect();
        let verifier = password.map(|p| p.verifier(self.scram_iterations()));
        let version = self.main().server.version_num;
        let mut expiry = Expiry::default();
        let statements = match change {
            RoleChange::Create(spec) => {
                expiry.until = spec.valid_until;
                roles::create_statements(spec, verifier.as_deref(), &dbs, version, &[])
            }
            RoleChange::ResetPassword { renewal, .. } => {
                expiry = renewal.expiry(comment);
                vec![roles::reset_password(name, verifier.as_deref(), expiry.until)]
            }
            RoleChange::SetSearchPath { schemas, .. } => {
                roles::set_search_path(name, &dbs, schemas)
            }
            RoleChange::Lock { .. } => vec![roles::set_login(name, false)],
            RoleChange::Unlock(_) => vec![roles::set_login(name, true)],
            RoleChange::Drop { .. }
            | RoleChange::Sync { .. }
            | RoleChange::GrantRole { .. }
            | RoleChange::RevokeRole { .. } => {
                debug_assert!(false, "drops, syncs and memberships have plans of their own");
                return Work::Settled(Settled::Failed(format!(
                    "{} was planned as a plain change",
                    change.operation()
                )));
            }
        };
        let terminate = matches!(change, RoleChange::Lock { terminate: true, .. });
        Work::Change {
            statements,
            grants: Vec::new(),
            undo: Vec::new(),
            terminate,
            expiry,
            drift: Drift::default(),
        }
    }

    fn scram_iterations(&self) -> u32 {
        let server = &self.main().server;
        server
            .scram_iterations
            .and_then(|i| u32::try_from(i).ok())
            .unwrap_or(secret::DEFAULT_SCRAM_ITERATIONS)
    }

    /// Refuses a change the admin may not make to an existing role.
    fn refuse_unchangeable(&mut self, change: &RoleChange<'_>, facts: &RoleFacts) {
        let name = change.role();
        let server = &self.main().server;
        let admin = &self.main().settings.user;
        if matches!(change, RoleChange::Drop { .. }) && facts.superuser {
            self.refusals.push(Refusal::new(format!(
                "{name} is a superuser; pgacct does not drop superusers"
            )));
            return;
        }
        if server.superuser {
            return;
        }
        if facts.superuser {
            self.refusals.push(
                Refusal::new(format!(
                    "{name} is a superuser, and the admin {admin} is not: it may not change it"
                ))
                .hint("change it as a superuser"),
            );
        } else if server.version_num >= ADMIN_OPTION_SINCE && !facts.admin_option {
            self.refusals.push(
                Refusal::new(format!(
                    "the admin {admin} holds no ADMIN OPTION on {name}, which PostgreSQL 16 \
                     and later require to change it"
                ))
                .hint(format!(
                    "as a superuser: GRANT {name} TO {admin} WITH ADMIN OPTION (a CREATEROLE \
                     admin gets it for the roles it creates)"
                )),
            );
        } else if server.version_num < ADMIN_OPTION_SINCE
            && facts.replication
            && !matches!(change, RoleChange::SetSearchPath { .. })
        {
            self.refusals.push(
                Refusal::new(format!(
                    "{name} has REPLICATION: before PostgreSQL 16 only a superuser may change it"
                ))
                .hint("change it as a superuser"),
            );
        }
    }

    /// The work of a create; an existing role settles it.
    async fn plan_create(
        &mut self,
        connector: &Connector,
        targets: &[&Target],
        spec: &RoleSpec<'_>,
        read: CreateFacts<'_>,
        password: Option<&Password>,
    ) -> Result<Work, RoleError> {
        let account = spec.account;
        if read.role.exists {
            let now = jiff::Timestamp::now();
            let subject = Subject { name: spec.name, account, groups: &read.type_groups };
            let (drift, _) =
                self.drift(connector, targets, &subject, read.first_access, now).await?;
            return Ok(Work::Settled(Settled::AlreadyExists(drift)));
        }
        let group_names = distinct(&read.type_groups);
        let rows: Vec<&tokio_postgres::Row> = read.groups.iter().collect();
        self.refuse_uncreatable(spec, read.session, &rows, &group_names);
        self.refuse_scope(account);
        let subject = Subject { name: spec.name, account, groups: &read.type_groups };
        let access =
            self.access_by_database(connector, targets, &subject, read.first_access, false).await?;
        self.take_access_findings(&access);
        let dbs: Vec<&str> = targets.iter().map(|t| t.key.db.as_str()).collect();
        let verifier = password.map(|p| p.verifier(self.scram_iterations()));
        let version = self.main().server.version_num;
        let mut statements =
            roles::create_statements(spec, verifier.as_deref(), &dbs, version, &group_names);
        // Grants on the role itself go with it if the create is taken back;
        // a group's stay, as other members may have joined it meanwhile.
        let mut undo = Vec::new();
        let own = group_names.is_empty().then_some(&mut undo);
        let grants = place_grants(&mut statements, access, own);
        Ok(Work::Change {
            statements,
            grants,
            undo,
            terminate: false,
            expiry: Expiry { until: spec.valid_until, note: None },
            drift: Drift::default(),
        })
    }

    /// Refuses a create the admin may not make: attributes it may not give,
    /// groups (the rows of [`group_facts`]) that are missing or that it may
    /// not grant; and groups with power beyond data, unless the type allows
    /// them.
    fn refuse_uncreatable(
        &mut self,
        spec: &RoleSpec<'_>,
        session: &SessionFacts,
        groups: &[&tokio_postgres::Row],
        made_here: &[RoleName],
    ) {
        let version = self.main().server.version_num;
        let admin = self.main().settings.user.clone();
        let account = spec.account;
        if !session.superuser {
            if !session.createrole {
                self.refusals.push(
                    Refusal::new(format!(
                        "the admin {admin} may not create roles (it has neither SUPERUSER nor \
                         CREATEROLE)"
                    ))
                    .hint("use an admin role with CREATEROLE (registry update --admin-user)"),
                );
                return;
            }
            for attribute in &account.attributes {
                let allowed = match attribute {
                    Attribute::Replication | Attribute::BypassRls => false,
                    Attribute::CreateDb => session.createdb || version < ADMIN_OPTION_SINCE,
                    _ => true,
                };
                if !allowed {
                    self.refusals.push(
                        Refusal::new(format!(
                            "type {} gives {}, which the admin {admin} may not give",
                            account.name,
                            attribute.keyword()
                        ))
                        .hint("create it as a superuser, or change the type in config.toml"),
                    );
                }
            }
        }
        self.refuse_groups(account, session, groups, made_here);
    }

    /// Refuses joining groups (rows of [`group_facts`]) that are missing
    /// (but for `made_here`, the type's groups the change makes), that the
    /// admin may not grant, or that are privileged unless the type allows.
    fn refuse_groups(
        &mut self,
        account: &AccountType,
        session: &SessionFacts,
        groups: &[&tokio_postgres::Row],
        made_here: &[RoleName],
    ) {
        let version = self.main().server.version_num;
        let admin = self.main().settings.user.clone();
        for row in groups {
            let (group, exists, superuser, admin_option): (String, bool, bool, bool) =
                (row.get(0), row.get(1), row.get(2), row.get(3));
            if let Some(refusal) = privileged_group(account, row) {
                self.refusals.push(refusal);
            }
            let type_group = made_here.iter().any(|g| g.as_str() == group);
            if !exists && type_group {
                continue;
            }
            if type_group && row.get::<_, bool>(8) {
                // Its members would get a login's privileges, and its grants
                // would be a person's or an application's.
                self.refusals.push(
                    Refusal::new(format!(
                        "{group}, the group of type {} there, exists and can log in: it is a \
                         login role, not a group",
                        account.name
                    ))
                    .hint(format!(
                        "rename that role, or give [types.{}] another group template",
                        account.name
                    )),
                );
            }
            let by_auth = group == "rds_iam"
                && account.auth == crate::policy::Auth::IamRds
                && !account.member_of.iter().any(|m| m.as_str() == group);
            if !exists && by_auth {
                self.refusals.push(
                    Refusal::new(format!(
                        "role rds_iam, which type {} joins for auth = \"iam-rds\", does not exist",
                        account.name
                    ))
                    .hint(
                        "rds_iam is Amazon RDS and Aurora's: there they accept IAM tokens for its \
                         members; elsewhere give the type another auth",
                    ),
                );
            } else if !exists {
                self.refusals.push(
                    Refusal::new(format!(
                        "role {group}, which type {} joins, does not exist",
                        account.name
                    ))
                    .hint(format!(
                        "create it first, or change member_of of [types.{}] in config.toml",
                        account.name
                    )),
                );
            } else if !session.superuser
                && (superuser || (version >= ADMIN_OPTION_SINCE && !admin_option))
            {
                self.refusals.push(
                    Refusal::new(format!(
                        "the admin {admin} may not grant {group}, which type {} joins",
                        account.name
                    ))
                    .hint(format!(
                        "as a superuser: GRANT {group} TO {admin} WITH ADMIN OPTION (from \
                         PostgreSQL 16 also INHERIT FALSE, SET FALSE: the power to grant it, \
                         not to use it)"
                    )),
                );
            }
        }
    }

    async fn plan_drop(
        &mut self,
        connector: &Connector,
        target: &Target,
        name: &RoleName,
        heir: &str,
        facts: RoleFacts,
        session: &SessionFacts,
    ) -> Result<Work, RoleError> {
        let cluster = self.main().settings.cluster();
        if heir == name.as_str() {
            self.refusals.push(Refusal::new("--reassign-to names the role being dropped"));
        }
        let heir_facts = role_facts(self.main(), heir, true).await?;
        let grant_heir = if heir_facts.exists {
            self.membership_to_act_as(heir, &heir_facts, "the heir", session)
        } else {
            self.refusals.push(
                Refusal::new(format!(
                    "the heir {heir} (--reassign-to) does not exist on {cluster}"
                ))
                .hint("create it there first, or name another role with --reassign-to"),
            );
            false
        };
        let grant_role = self.membership_to_act_as(name.as_str(), &facts, "the role", session);
        let Some(detail) = inspect::show(self.main(), name.as_str(), &[]).await? else {
            return Ok(Work::Settled(Settled::NotFound));
        };
        self.preflight = Some(lifecycle::summary(&detail));
        let mut names: Vec<&String> = detail.owns.keys().chain(detail.privileges.keys()).collect();
        names.sort();
        names.dedup();
        let shared = names.iter().any(|db| *db == inspect::SHARED);
        let mut visit: Vec<String> =
            names.into_iter().filter(|db| *db != inspect::SHARED).cloned().collect();
        if shared && visit.is_empty() {
            visit.push(self.sessions[0].0.clone());
        }
        let mut databases = Vec::new();
        for (i, db) in visit.iter().enumerate() {
            let index = match self.session_for(connector, target, db).await {
                Ok(index) => index,
                Err(err) => {
                    self.refusals.push(
                        Refusal::new(format!(
                            "{name} owns objects or holds privileges in database {db}, and \
                             pgacct cannot connect to it: {}",
                            err.message
                        ))
                        .hint(format!(
                            "as a superuser, reassign or drop what {name} has in {db}, or let \
                             the admin connect there; nothing was changed"
                        )),
                    );
                    continue;
                }
            };
            self.refuse_unrevocable(index, name, i == 0 && shared).await?;
            databases.push(index);
        }
        Ok(Work::Drop(DropWork { heir: heir.to_owned(), grant_role, grant_heir, databases }))
    }

    /// Whether the admin must make itself a member of `role` to act as it,
    /// as REASSIGN OWNED and DROP OWNED need; a refusal when it cannot. A
    /// membership it has already is never changed (nor, later, taken back):
    /// from PostgreSQL 16 the admin's own grant is a row of its own beside
    /// any other; before 16 there is one membership, and inheriting is the
    /// admin's attribute.
    fn membership_to_act_as(
        &mut self,
        role: &str,
        facts: &RoleFacts,
        what: &str,
        session: &SessionFacts,
    ) -> bool {
        let server = &self.main().server;
        let admin = &self.main().settings.user;
        if server.superuser || facts.acts_as {
            return false;
        }
        let since_16 = server.version_num >= ADMIN_OPTION_SINCE;
        // From 16, PostgreSQL records a grant as made by whichever role
        // holds ADMIN OPTION: only the admin's own lets it add (and later
        // take back) a membership of its own, leaving every other alone.
        let refusal = if facts.superuser || (since_16 && !facts.admin_option_direct) {
            Some(format!(
                "the admin {admin} may not make itself a member of {what} {role}, as REASSIGN \
                 OWNED and DROP OWNED need"
            ))
        } else if (since_16 && facts.self_granted) || (!since_16 && facts.member) {
            Some(format!(
                "the admin {admin} is a member of {what} {role} but does not inherit its \
                 privileges, as REASSIGN OWNED and DROP OWNED need"
            ))
        } else if !since_16 && !session.inherit {
            Some(format!(
                "the admin {admin} is NOINHERIT: a membership in {what} {role} would not give \
                 it the privileges REASSIGN OWNED and DROP OWNED need"
            ))
        } else {
            None
        };
        match refusal {
            Some(reason) => {
                self.refusals.push(Refusal::new(reason).hint(format!(
                    "use an admin that inherits {role}'s privileges, or a superuser"
                )));
                false
            }
            None => true,
        }
    }

    /// Refuses a drop whose `DROP OWNED` could not revoke every privilege
    /// of the role in the database of session `index`.
    async fn refuse_unrevocable(
        &mut self,
        index: usize,
        name: &RoleName,
        shared: bool,
    ) -> Result<(), RoleError> {
        let (db, session) = &self.sessions[index];
        let superuser = session.server.superuser;
        let query = unrevocable_query(session.server.version_num);
        let rows = session
            .query_typed(
                &query,
                &[(&name.as_str(), Type::TEXT), (&shared, Type::BOOL), (&superuser, Type::BOOL)],
            )
            .await
            .map_err(|err| RoleError::from_pg(&err, None))?;
        let admin = session.settings.user.clone();
        let db = db.clone();
        for row in rows {
            let (object, grantor): (String, Option<String>) = (row.get(0), row.get(1));
            self.refusals.push(match grantor {
                Some(grantor) => Refusal::new(format!(
                    "in database {db}, {name} holds privileges on {object} granted by \
                     {grantor}, which DROP OWNED run by {admin} cannot revoke"
                ))
                .hint(format!(
                    "have {grantor} (or a superuser acting as it) revoke them from {name} first"
                )),
                None => Refusal::new(format!(
                    "in database {db}, {name} holds privileges on {object}, and pgacct cannot \
                     tell whether DROP OWNED run by {admin} could revoke them"
                ))
                .hint(format!("revoke them from {name} first")),
            });
        }
        Ok(())
    }

    /// The index of a session to `db` on this cluster, opened if needed.
    async fn session_for(
        &mut self,
        connector: &Connector,
        target: &Target,
        db: &str,
    ) -> Result<usize, RoleError> {
        if let Some(index) = self.sessions.iter().position(|(name, _)| name == db) {
            return Ok(index);
        }
        let session = connector.connect_to_database(target, db).await.map_err(|err| RoleError {
            message: err.failure.to_string(),
            statement: None,
            code: None,
            on_data: false,
        })?;
        self.sessions.push((db.to_owned(), session));
        Ok(self.sessions.len() - 1)
    }

    /// The statements the plan will run, as shown: what `--dry-run` prints.
    pub fn statements(&self, change: &RoleChange<'_>) -> Vec<String> {
        let in_db = |index: usize, statement: &Statement| {
            if index == 0 {
                statement.shown.clone()
            } else {
                format!("{} -- in {}", statement.shown, self.sessions[index].0)
            }
        };
        match &self.work {
            Work::Settled(_) => Vec::new(),
            Work::Change { statements, grants, terminate, .. } => {
                // A grant on the cluster's own session is its database's.
                let mut shown: Vec<String> = statements
                    .iter()
                    .map(|s| {
                        if s.effect == roles::Effect::Grants && self.sessions.len() > 1 {
                            format!("{} -- in {}", s.shown, self.sessions[0].0)
                        } else {
                            s.shown.clone()
                        }
                    })
                    .collect();
                for grants in grants {
                    shown.extend(grants.grant.iter().map(|s| in_db(grants.session, s)));
                }
                if *terminate {
                    shown.push(terminate_text(change.role()));
                }
                shown
            }
            Work::Drop(work) => {
                let name = change.role();
                let version = self.main().server.version_num;
                let mut shown = vec![roles::set_login(name, false).shown, terminate_text(name)];
                if work.grant_role {
                    shown.push(roles::grant_to_admin(name.as_str(), version).shown);
                }
                if work.grant_heir {
                    shown.push(roles::grant_to_admin(&work.heir, version).shown);
                }
                for index in &work.databases {
                    shown.extend(roles::disown(name, &work.heir).iter().map(|s| in_db(*index, s)));
                }
                shown.push(roles::drop_role(name).shown);
                if work.grant_heir {
                    shown.push(roles::revoke_from_admin(&work.heir).shown);
                }
                shown
            }
        }
    }

    /// What applying the plan would report, as `--dry-run` shows it.
    pub fn preview(&self, change: &RoleChange<'_>) -> ClusterOutcome {
        match &self.work {
            Work::Settled(settled) => settled_outcome(change, settled),
            Work::Change { expiry, drift, .. } => {
                let mut outcome =
                    ClusterOutcome::ok(expiry.status(format!("would {}", change.intent())));
                outcome.valid_until = expiry.until.map(ValidUntil::literal);
                outcome.drift = drift.clone();
                outcome
            }
            Work::Drop(_) => ClusterOutcome::ok(format!("would {}", change.intent())),
        }
    }

    /// `host:port` of the server the plan's session reached: of a host
    /// list, the one that took writes.
    pub fn server(&self) -> String {
        self.main().settings.cluster()
    }

    /// The outcome the plan already knows, if it knows one.
    pub fn settled(&self) -> Option<&Settled> {
        match &self.work {
            Work::Settled(settled) => Some(settled),
            _ => None,
        }
    }
}

/// A role and the policy it is held to: its type, and the type's group
/// of each target database.
struct Subject<'s> {
    name: &'s RoleName,
    account: &'s AccountType,
    groups: &'s [(String, RoleName)],
}

/// Puts the grants of the first database into `statements` (its own
/// transaction) and returns those of the others; with `undo`, the
/// revokes of the first database's go there.
fn place_grants(
    statements: &mut Vec<Statement>,
    access: Vec<(usize, DatabaseAccess)>,
    mut undo: Option<&mut Vec<Statement>>,
) -> Vec<ReadGrants> {
    let mut grants = Vec::new();
    for (index, found) in access {
        if found.grants.is_empty() {
            continue;
        }
        if index == 0 {
            statements.extend(found.grants);
            if let Some(undo) = undo.as_deref_mut() {
                undo.extend(found.revokes);
            }
        } else {
            let revoke = if undo.is_some() { found.revokes } else { Vec::new() };
            grants.push(ReadGrants { session: index, grant: found.grants, revoke });
        }
    }
    grants
}

/// Whether `account` gets grants in each target database.
fn reaches_targets(account: &AccountType) -> bool {
    account.access != Access::None && account.read_scope == ReadScope::Targets
}

/// Who holds the grants in `db`: its group, for a type with groups, else
/// the role.
fn grantee<'g>(name: &'g RoleName, groups: &'g [(String, RoleName)], db: &str) -> &'g str {
    groups.iter().find(|(of, _)| of == db).map_or(name.as_str(), |(_, group)| group.as_str())
}

/// The groups of `groups`, each once, in order.
fn distinct(groups: &[(String, RoleName)]) -> Vec<RoleName> {
    let mut names: Vec<RoleName> = Vec::new();
    for (_, group) in groups {
        if !names.contains(group) {
            names.push(group.clone());
        }
    }
    names
}

fn terminate_text(name: &RoleName) -> String {
    format!("-- end the sessions of {name} (pg_terminate_backend)")
}

/// A refusal for a group (a row of `GROUP_FACTS`) that is, or leads to, a
/// privileged role, unless the account type allows it.
fn privileged_group(account: &AccountType, row: &tokio_postgres::Row) -> Option<Refusal> {
    if account.allow_privileged {
        return None;
    }
    let (group, power) = privilege(row)?;
    Some(Refusal::new(format!("role {group}, which type {} joins, {power}", account.name)).hint(
        format!(
            "join a role without these powers, or say allow_privileged = true in [types.{}] \
                 of config.toml",
            account.name
        ),
    ))
}

/// The group of a row of `GROUP_FACTS`, and what privileged role it is, or
/// is a member of ("is a member of x, a superuser"); `None` when it is
/// neither.
fn privilege(row: &tokio_postgres::Row) -> Option<(String, String)> {
    let power: String = row.get::<_, Option<String>>(4)?;
    let group: String = row.get(0);
    let what = match (row.get(5), row.get(6), row.get(7)) {
        (true, _, _) => "a superuser",
        (_, true, _) => "a role with REPLICATION",
        (_, _, true) => "a role with BYPASSRLS",
        _ => "a role with access to the server's files or programs",
    };
    let reach = if power == group { String::new() } else { format!(" a member of {power},") };
    Some((group, format!("is{reach} {what}")))
}
