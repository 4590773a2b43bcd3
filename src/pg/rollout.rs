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

use std::cell::RefCell;
use std::time::Duration;

use serde::Serialize;
use tokio_postgres::error::SqlState;

use super::inspect;
use super::lifecycle;
use super::roles::{self, Drift, READ_ALL_DATA_SINCE, RoleError, RoleSpec, Statement};
use super::{Connector, Session};
use crate::audit::Outcome;
use crate::interrupt::Interrupt;
use crate::policy::{Attribute, RoleName, SchemaName};
use crate::registry::Target;
use crate::secret::{self, Secret};

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
    ResetPassword(&'a RoleName),
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
}

impl RoleChange<'_> {
    pub fn role(&self) -> &RoleName {
        match self {
            RoleChange::Create(spec) => spec.name,
            RoleChange::ResetPassword(name)
            | RoleChange::SetSearchPath { name, .. }
            | RoleChange::Lock { name, .. }
            | RoleChange::Unlock(name)
            | RoleChange::Drop { name, .. } => name,
        }
    }

    /// The audit trail's name for it.
    pub fn operation(&self) -> &'static str {
        match self {
            RoleChange::Create(_) => "user.create",
            RoleChange::ResetPassword(_) => "user.reset-password",
            RoleChange::SetSearchPath { .. } => "user.set-search-path",
            RoleChange::Lock { .. } => "user.lock",
            RoleChange::Unlock(_) => "user.unlock",
            RoleChange::Drop { .. } => "user.drop",
        }
    }

    /// True when the change gives the role a new password.
    pub fn sets_password(&self) -> bool {
        matches!(self, RoleChange::Create(_) | RoleChange::ResetPassword(_))
    }

    /// What is about to happen, in words.
    pub fn intent(&self) -> String {
        match self {
            RoleChange::Create(spec) => format!("create {} user", spec.account.name),
            RoleChange::ResetPassword(_) => "reset password".into(),
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
        }
    }

    /// What happened, when it worked.
    fn done(&self) -> String {
        match self {
            RoleChange::Create(_) => SETS_PASSWORD[0].into(),
            RoleChange::ResetPassword(_) => SETS_PASSWORD[1].into(),
            RoleChange::SetSearchPath { schemas, .. } => {
                format!("search_path set to {}", path_text(schemas))
            }
            RoleChange::Lock { .. } => "user locked".into(),
            RoleChange::Unlock(_) => "user unlocked".into(),
            RoleChange::Drop { .. } => "user dropped".into(),
        }
    }

    /// Whether it would take away the admin's own access: pgacct never
    /// resets, locks or drops a role it connects as.
    pub fn locks_out_the_admin(&self) -> bool {
        matches!(
            self,
            RoleChange::ResetPassword(_) | RoleChange::Lock { .. } | RoleChange::Drop { .. }
        )
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
        grants: Vec<(usize, Vec<Statement>)>,
        terminate: bool,
    },
    Drop(DropWork),
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

/// A change planned on one cluster: its sessions, what it will run, and
/// why it may not.
#[derive(Debug)]
pub struct ClusterPlan {
    /// The database and session of each connection; the first is the
    /// cluster's own, to its first target.
    sessions: Vec<(String, Session)>,
    work: Work,
    /// False for a plan made without the password its change sets (a dry
    /// run): it may be shown, never applied.
    ready: bool,
    pub refusals: Vec<Refusal>,
    /// What a drop will affect, in one line.
    pub preflight: Option<String>,
}

/// How a statement ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ended {
    Committed,
    RolledBack,
    Failed,
    /// COMMIT was sent, and no answer came: it may or may not have committed.
    InDoubt,
}

/// A statement that ran, as shown (secrets redacted), where, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    pub statement: String,
    /// The database, when not the cluster's own session.
    pub db: Option<String>,
    pub ended: Ended,
}

impl std::fmt::Display for Executed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.ended {
            Ended::Committed => {}
            Ended::RolledBack => f.write_str("-- rolled back: ")?,
            Ended::Failed => f.write_str("-- failed: ")?,
            Ended::InDoubt => f.write_str("-- in doubt (no answer to COMMIT): ")?,
        }
        f.write_str(&self.statement)?;
        match &self.db {
            Some(db) => write!(f, " -- in {db}"),
            None => Ok(()),
        }
    }
}

/// What applying a plan did on one cluster.
#[derive(Debug)]
pub struct ClusterOutcome {
    pub outcome: Outcome,
    /// What happened, in words: "user created", "user not found".
    pub status: String,
    pub error: Option<String>,
    /// How an existing role differs from its policy (create).
    pub drift: Drift,
    pub executed: Vec<Executed>,
    /// The role now has the new password here.
    pub password_set: bool,
    /// A COMMIT got no answer: the change may or may not be in force.
    pub in_doubt: bool,
}

/// What the plan reads about a role, and the admin's power over it.
#[derive(Debug, Clone, Copy, Default)]
struct RoleFacts {
    exists: bool,
    superuser: bool,
    replication: bool,
    /// The admin holds ADMIN OPTION on it (counts from PostgreSQL 16).
    admin_option: bool,
    /// The admin has its privileges (is a member that inherits).
    acts_as: bool,
    /// The admin is a member, inheriting or not.
    member: bool,
    /// The admin holds a membership it granted itself (from PostgreSQL 16,
    /// memberships are per grantor).
    self_granted: bool,
}

const ROLE_FACTS: &str = "
SELECT r.oid IS NOT NULL, COALESCE(r.rolsuper, false), COALESCE(r.rolreplication, false),
       r.oid IS NOT NULL AND pg_has_role(current_user, r.oid, 'MEMBER WITH ADMIN OPTION'),
       r.oid IS NOT NULL AND pg_has_role(current_user, r.oid, 'USAGE'),
       r.oid IS NOT NULL AND pg_has_role(current_user, r.oid, 'MEMBER'),
       EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles a ON a.rolname = current_user
                WHERE m.roleid = r.oid AND m.member = a.oid AND m.grantor = a.oid)
  FROM (SELECT $1::text AS name) AS wanted
  LEFT JOIN pg_roles r ON r.rolname = wanted.name";

async fn role_facts(session: &Session, name: &str) -> Result<RoleFacts, RoleError> {
    let row = session
        .client()
        .query_one(ROLE_FACTS, &[&name])
        .await
        .map_err(|err| RoleError::from_pg(&err, None))?;
    Ok(RoleFacts {
        exists: row.get(0),
        superuser: row.get(1),
        replication: row.get(2),
        admin_option: row.get(3),
        acts_as: row.get(4),
        member: row.get(5),
        self_granted: row.get(6),
    })
}

/// The groups a new role joins: which exist, and whether the admin may
/// grant them.
const GROUP_FACTS: &str = "
SELECT w.name, g.oid IS NOT NULL, COALESCE(g.rolsuper, false),
       g.oid IS NOT NULL AND pg_has_role(current_user, g.oid, 'MEMBER WITH ADMIN OPTION')
  FROM unnest($1::text[]) AS w(name)
  LEFT JOIN pg_roles g ON g.rolname = w.name";

/// Privileges held by the role `$1` in this database (and, with `$2`, on
/// shared objects) that `DROP OWNED`, run by the current user, cannot
/// revoke: it revokes as exactly one grantor, the object's owner for a
/// superuser (`$3`), else the admin itself or an owner whose privileges it
/// has. The catalogs are those whose ACLs `pg_shdepend` records; a
/// privilege in another one (or on an object gone meanwhile) is reported
/// with no grantor, as one pgacct cannot vouch for.
const UNREVOCABLE: &str = "
WITH role AS (SELECT oid FROM pg_roles WHERE rolname = $1),
     admin AS (SELECT oid FROM pg_roles WHERE rolname = current_user),
     held AS (
  SELECT s.classid, s.objid, s.objsubid, o.acl, o.owner
    FROM pg_shdepend s
    LEFT JOIN LATERAL (
         SELECT relacl, relowner FROM pg_class
          WHERE s.classid = 'pg_class'::regclass AND s.objsubid = 0 AND oid = s.objid
         UNION ALL
         SELECT a.attacl, c.relowner FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
          WHERE s.classid = 'pg_class'::regclass AND a.attrelid = s.objid
            AND a.attnum = s.objsubid AND s.objsubid <> 0
         UNION ALL
         SELECT nspacl, nspowner FROM pg_namespace
          WHERE s.classid = 'pg_namespace'::regclass AND oid = s.objid
         UNION ALL
         SELECT proacl, proowner FROM pg_proc
          WHERE s.classid = 'pg_proc'::regclass AND oid = s.objid
         UNION ALL
         SELECT typacl, typowner FROM pg_type
          WHERE s.classid = 'pg_type'::regclass AND oid = s.objid
         UNION ALL
         SELECT lanacl, lanowner FROM pg_language
          WHERE s.classid = 'pg_language'::regclass AND oid = s.objid
         UNION ALL
         SELECT lomacl, lomowner FROM pg_largeobject_metadata
          WHERE s.classid = 'pg_largeobject_metadata'::regclass AND oid = s.objid
         UNION ALL
         SELECT fdwacl, fdwowner FROM pg_foreign_data_wrapper
          WHERE s.classid = 'pg_foreign_data_wrapper'::regclass AND oid = s.objid
         UNION ALL
         SELECT srvacl, srvowner FROM pg_foreign_server
          WHERE s.classid = 'pg_foreign_server'::regclass AND oid = s.objid
         UNION ALL
         SELECT defaclacl, defaclrole FROM pg_default_acl
          WHERE s.classid = 'pg_default_acl'::regclass AND oid = s.objid
         UNION ALL
         SELECT datacl, datdba FROM pg_database
          WHERE s.classid = 'pg_database'::regclass AND oid = s.objid
         UNION ALL
         SELECT spcacl, spcowner FROM pg_tablespace
          WHERE s.classid = 'pg_tablespace'::regclass AND oid = s.objid
         /*parameters*/
         ) AS o(acl, owner) ON true
   WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = (SELECT oid FROM role)
     AND s.deptype = 'a'
     AND (s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
          OR (s.dbid = 0 AND $2)))
SELECT DISTINCT pg_describe_object(h.classid, h.objid, h.objsubid),
       pg_get_userbyid(a.grantor)::text
  FROM held h
 CROSS JOIN LATERAL aclexplode(h.acl) AS a
 WHERE a.grantee = (SELECT oid FROM role)
   AND NOT CASE WHEN $3 THEN a.grantor = h.owner
                ELSE a.grantor = (SELECT oid FROM admin)
                     OR (a.grantor = h.owner AND pg_has_role(current_user, h.owner, 'USAGE'))
           END
UNION
SELECT pg_describe_object(h.classid, h.objid, h.objsubid), NULL
  FROM held h
 WHERE h.acl IS NULL
 ORDER BY 1, 2";

/// Privileges on configuration parameters (PostgreSQL 15+): no owner, so
/// a superuser revokes as the bootstrap superuser (oid 10).
const PARAMETER_ACLS: &str = "
         UNION ALL
         SELECT paracl, 10::oid FROM pg_parameter_acl
          WHERE s.classid = 'pg_parameter_acl'::regclass AND oid = s.objid";

/// [`UNREVOCABLE`] for a server of `version_num`.
fn unrevocable_query(version_num: i32) -> String {
    let parameters = if version_num >= 150_000 { PARAMETER_ACLS } else { "" };
    UNREVOCABLE.replace("/*parameters*/", parameters)
}

/// Plans `change` on the cluster of `targets` (the selected targets on
/// one cluster), on `session`, connected to the first of them. `password`
/// is the new password, for changes that set one (`None` for a dry run).
pub async fn plan(
    connector: &Connector,
    session: Session,
    targets: &[&Target],
    change: &RoleChange<'_>,
    password: Option<&Secret>,
) -> ClusterPlan {
    let db = session.settings.dbname.clone();
    let mut plan = ClusterPlan {
        sessions: vec![(db, session)],
        work: Work::Settled(Settled::NotFound),
        ready: !change.sets_password() || password.is_some(),
        refusals: Vec::new(),
        preflight: None,
    };
    plan.work = match plan.decide(connector, targets, change, password).await {
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
        password: Option<&Secret>,
    ) -> Result<Work, RoleError> {
        let server = &self.main().server;
        if server.in_recovery {
            return Ok(Work::Settled(Settled::Standby));
        }
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
        let facts = role_facts(self.main(), name.as_str()).await?;
        match change {
            RoleChange::Create(spec) => {
                self.plan_create(connector, targets, spec, facts, password).await
            }
            _ if !facts.exists => Ok(Work::Settled(Settled::NotFound)),
            RoleChange::Drop { heir, .. } => {
                self.refuse_unchangeable(change, facts);
                self.plan_drop(connector, targets[0], name, heir.unwrap_or(&admin), facts).await
            }
            _ => {
                self.refuse_unchangeable(change, facts);
                let dbs: Vec<&str> = targets.iter().map(|t| t.key.db.as_str()).collect();
                let iterations = self.scram_iterations();
                let statements = match change {
                    RoleChange::ResetPassword(_) => {
                        let verifier = password.map(|p| secret::scram_verifier(p, iterations));
                        vec![roles::reset_password(name, verifier.as_deref())]
                    }
                    RoleChange::SetSearchPath { schemas, .. } => {
                        roles::set_search_path(name, &dbs, schemas)
                    }
                    RoleChange::Lock { .. } => vec![roles::set_login(name, false)],
                    _ => vec![roles::set_login(name, true)],
                };
                let terminate = matches!(change, RoleChange::Lock { terminate: true, .. });
                Ok(Work::Change { statements, grants: Vec::new(), terminate })
            }
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
    fn refuse_unchangeable(&mut self, change: &RoleChange<'_>, facts: RoleFacts) {
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

    async fn plan_create(
        &mut self,
        connector: &Connector,
        targets: &[&Target],
        spec: &RoleSpec<'_>,
        facts: RoleFacts,
        password: Option<&Secret>,
    ) -> Result<Work, RoleError> {
        let dbs: Vec<&str> = targets.iter().map(|t| t.key.db.as_str()).collect();
        if facts.exists {
            let drift = roles::drift(self.main(), spec, &dbs).await?;
            return Ok(Work::Settled(Settled::AlreadyExists(drift)));
        }
        self.refuse_uncreatable(spec).await?;
        let version = self.main().server.version_num;
        let verifier = password.map(|p| secret::scram_verifier(p, self.scram_iterations()));
        let statements = roles::create_statements(spec, verifier.as_deref(), &dbs, version);
        let mut grants = Vec::new();
        if spec.account.read_only && version < READ_ALL_DATA_SINCE {
            for target in targets {
                let index = self.session_for(connector, target, target.key.db.as_str()).await?;
                let session = &self.sessions[index].1;
                grants.push((index, roles::read_only_grants(session.client(), spec.name).await?));
            }
        }
        Ok(Work::Change { statements, grants, terminate: false })
    }

    /// Refuses a create the admin may not make: attributes it may not give,
    /// groups that are missing or that it may not grant.
    async fn refuse_uncreatable(&mut self, spec: &RoleSpec<'_>) -> Result<(), RoleError> {
        let server = self.main().server.clone();
        let admin = self.main().settings.user.clone();
        let account = spec.account;
        if !server.superuser {
            if !server.createrole {
                self.refusals.push(
                    Refusal::new(format!(
                        "the admin {admin} may not create roles (it has neither SUPERUSER nor \
                         CREATEROLE)"
                    ))
                    .hint("use an admin role with CREATEROLE (registry update --admin-user)"),
                );
                return Ok(());
            }
            for attribute in &account.attributes {
                let allowed = match attribute {
                    Attribute::Replication | Attribute::BypassRls => false,
                    Attribute::CreateDb => {
                        server.createdb || server.version_num < ADMIN_OPTION_SINCE
                    }
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
        let mut groups: Vec<&str> =
            account.member_of.iter().map(crate::policy::MemberOf::as_str).collect();
        if account.read_only && server.version_num >= READ_ALL_DATA_SINCE {
            groups.push("pg_read_all_data");
        }
        if groups.is_empty() {
            return Ok(());
        }
        let rows = self
            .main()
            .client()
            .query(GROUP_FACTS, &[&groups])
            .await
            .map_err(|err| RoleError::from_pg(&err, None))?;
        for row in rows {
            let (group, exists, superuser, admin_option): (String, bool, bool, bool) =
                (row.get(0), row.get(1), row.get(2), row.get(3));
            if !exists {
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
            } else if !server.superuser
                && (superuser || (server.version_num >= ADMIN_OPTION_SINCE && !admin_option))
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
        Ok(())
    }

    async fn plan_drop(
        &mut self,
        connector: &Connector,
        target: &Target,
        name: &RoleName,
        heir: &str,
        facts: RoleFacts,
    ) -> Result<Work, RoleError> {
        let cluster = self.main().settings.cluster();
        if heir == name.as_str() {
            self.refusals.push(Refusal::new("--reassign-to names the role being dropped"));
        }
        let heir_facts = role_facts(self.main(), heir).await?;
        let grant_heir = if heir_facts.exists {
            self.membership_to_act_as(heir, heir_facts, "the heir")
        } else {
            self.refusals.push(
                Refusal::new(format!(
                    "the heir {heir} (--reassign-to) does not exist on {cluster}"
                ))
                .hint("create it there first, or name another role with --reassign-to"),
            );
            false
        };
        let grant_role = self.membership_to_act_as(name.as_str(), facts, "the role");
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
    fn membership_to_act_as(&mut self, role: &str, facts: RoleFacts, what: &str) -> bool {
        let server = &self.main().server;
        let admin = &self.main().settings.user;
        if server.superuser || facts.acts_as {
            return false;
        }
        let since_16 = server.version_num >= ADMIN_OPTION_SINCE;
        let refusal = if facts.superuser || (since_16 && !facts.admin_option) {
            Some(format!(
                "the admin {admin} may not make itself a member of {what} {role}, as REASSIGN \
                 OWNED and DROP OWNED need"
            ))
        } else if (since_16 && facts.self_granted) || (!since_16 && facts.member) {
            Some(format!(
                "the admin {admin} is a member of {what} {role} but does not inherit its \
                 privileges, as REASSIGN OWNED and DROP OWNED need"
            ))
        } else if !since_16 && !server.inherit {
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
            .client()
            .query(&query, &[&name.as_str(), &shared, &superuser])
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
            Work::Change { statements, grants, terminate } => {
                let mut shown: Vec<String> = statements.iter().map(|s| s.shown.clone()).collect();
                for (index, grants) in grants {
                    shown.extend(grants.iter().map(|s| in_db(*index, s)));
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
            _ => ClusterOutcome::ok(format!("would {}", change.intent()), Vec::new()),
        }
    }

    /// The outcome the plan already knows, if it knows one.
    pub fn settled(&self) -> Option<&Settled> {
        match &self.work {
            Work::Settled(settled) => Some(settled),
            _ => None,
        }
    }

    /// Runs the plan. On an interrupt, work between steps stops (a
    /// transaction not yet committed is rolled back) and a statement that
    /// waits is cancelled; what committed stays, and is reported. The
    /// memberships the admin gave itself are taken back in any case, out of
    /// the interrupt's reach.
    pub async fn apply(self, change: &RoleChange<'_>, interrupt: &Interrupt) -> ClusterOutcome {
        if let Work::Settled(settled) = &self.work {
            return settled_outcome(change, settled);
        }
        if !self.ready {
            return failed(
                change,
                Vec::new(),
                "the plan was made without the new password (a dry run); nothing was changed \
                 here"
                    .into(),
            );
        }
        let log = Log::default();
        if interrupt.is_raised() {
            return interrupted(change, log.finish(), "nothing was changed here");
        }
        if let Err(db) = self.ping().await {
            return failed(
                change,
                Vec::new(),
                format!(
                    "the session to database {db} ended while the change waited; nothing was \
                     changed here"
                ),
            );
        }
        let step = Step { name: change.role(), interrupt, log: &log, granted: RefCell::default() };
        let work = self.run(change, &step);
        tokio::pin!(work);
        let result = tokio::select! {
            biased;
            result = &mut work => Some(result),
            () = interrupt.raised() => {
                for (_, session) in &self.sessions {
                    session.cancel().await;
                }
                tokio::time::timeout(GRACE, &mut work).await.ok()
            }
        };
        let mut outcome = result.unwrap_or_else(|| abandoned(change, &log));
        self.take_back(&step, &mut outcome).await;
        outcome
    }

    /// Checks that every session of a plan that has several is still open,
    /// before the first change: a confirmation may have taken long. The
    /// database of a closed one, if any.
    async fn ping(&self) -> Result<(), String> {
        if self.sessions.len() < 2 {
            return Ok(());
        }
        for (db, session) in &self.sessions {
            if session.client().simple_query("").await.is_err() {
                return Err(db.clone());
            }
        }
        Ok(())
    }

    async fn run(&self, change: &RoleChange<'_>, step: &Step<'_>) -> ClusterOutcome {
        let log = step.log;
        match &self.work {
            Work::Settled(settled) => settled_outcome(change, settled),
            Work::Change { statements, grants, terminate } => {
                match step.transaction(self.main(), None, statements).await {
                    Ok(()) => {}
                    Err(StepError::Failed(err)) if err.code == Some(SqlState::DUPLICATE_OBJECT) => {
                        // Created meanwhile by a creator outside pgacct's
                        // lock: the same as finding it, and nothing changed.
                        if let RoleChange::Create(spec) = change {
                            let dbs = self.target_dbs();
                            let drift =
                                roles::drift(self.main(), spec, &dbs).await.unwrap_or_default();
                            return ClusterOutcome::ok("user already exists".into(), log.finish())
                                .with_drift(drift);
                        }
                        return failed(change, log.finish(), err.message);
                    }
                    Err(StepError::Failed(err)) if err.code == Some(SqlState::UNDEFINED_OBJECT) => {
                        // Dropped since the plan looked.
                        return ClusterOutcome::failed(
                            "user not found".into(),
                            err.message,
                            log.finish(),
                        );
                    }
                    Err(err) => return step_failed(change, log, err, "rolled back"),
                }
                for (index, statements) in grants {
                    let (db, session) = &self.sessions[*index];
                    if let Err(err) = step.transaction(session, Some(db), statements).await {
                        return self.undo_create(change, step, grants, *index, &err).await;
                    }
                }
                let mut status = change.done();
                if *terminate {
                    status = step.terminate(self.main(), status).await;
                }
                ClusterOutcome::ok(status, log.finish()).with_password(change.sets_password())
            }
            Work::Drop(work) => self.drop(step, work).await,
        }
    }

    fn target_dbs(&self) -> Vec<&str> {
        self.sessions.iter().map(|(db, _)| db.as_str()).collect()
    }

    /// Takes back a role just created whose grants failed (`err`) in the
    /// database of session `failed_at`: its privileges where it got some,
    /// then the role; also after an interrupt. When that fails too, the
    /// role stays, with the new password: the outcome says so, and the
    /// password is delivered.
    async fn undo_create(
        &self,
        change: &RoleChange<'_>,
        step: &Step<'_>,
        grants: &[(usize, Vec<Statement>)],
        failed_at: usize,
        err: &StepError,
    ) -> ClusterOutcome {
        let db = &self.sessions[failed_at].0;
        let mut undo = Ok(());
        for (index, _) in grants.iter().take_while(|(index, _)| *index != failed_at) {
            let (db, session) = &self.sessions[*index];
            undo = step.statement_always(session, Some(db), &roles::drop_owned(step.name)).await;
            if undo.is_err() {
                break;
            }
        }
        if undo.is_ok() {
            undo = step.statement_always(self.main(), None, &roles::drop_role(step.name)).await;
        }
        let cause = match err {
            StepError::Interrupted => "interrupted".to_owned(),
            other => format!("in database {db}: {}", other.message()),
        };
        match undo {
            Ok(()) => ClusterOutcome::failed(
                change.intent(),
                format!("{cause}; the new role was taken back"),
                step.log.finish(),
            ),
            Err(undo) => ClusterOutcome::failed(
                change.intent(),
                format!(
                    "{cause}; taking the new role back failed ({}): it exists, with the new \
                     password, and without its grants in {db}",
                    undo.message()
                ),
                step.log.finish(),
            )
            .with_password(true),
        }
    }

    /// The drop's steps: NOLOGIN, sessions ended, memberships the admin
    /// needs, each database disowned, DROP ROLE. After NOLOGIN, a failure
    /// leaves the role locked; [`ClusterPlan::take_back`] then takes back
    /// the memberships.
    async fn drop(&self, step: &Step<'_>, work: &DropWork) -> ClusterOutcome {
        let name = step.name;
        let version = self.main().server.version_num;
        let login = [roles::set_login(name, false)];
        match step.transaction(self.main(), None, &login).await {
            Ok(()) => {}
            Err(StepError::Failed(err)) if err.code == Some(SqlState::UNDEFINED_OBJECT) => {
                return ClusterOutcome::failed(
                    "user not found".into(),
                    err.message,
                    step.log.finish(),
                );
            }
            Err(err) => return step_failed_as("drop user", step.log, err, "rolled back"),
        }
        let result = async {
            step.terminate(self.main(), String::new()).await;
            for (needed, role) in [(work.grant_role, name.as_str()), (work.grant_heir, &work.heir)]
            {
                if needed {
                    step.grant_to_admin(self.main(), role, version).await?;
                }
            }
            for index in &work.databases {
                let (db, session) = &self.sessions[*index];
                let disown = roles::disown(name, &work.heir);
                step.transaction(session, Some(db), &disown)
                    .await
                    .map_err(|err| err.in_database(db))?;
            }
            step.statement(self.main(), None, &roles::drop_role(name)).await?;
            // The admin's membership in the role went with it.
            step.granted.borrow_mut().retain(|role| role != name.as_str());
            Ok(())
        }
        .await;
        match result {
            Ok(()) => ClusterOutcome::ok("user dropped".into(), step.log.finish()),
            Err(err) => step_failed_as("drop user", step.log, err, "the role is left NOLOGIN"),
        }
    }

    /// Takes back the memberships the admin gave itself and still holds,
    /// whatever happened before, on a session no interrupt cancels now.
    async fn take_back(&self, step: &Step<'_>, outcome: &mut ClusterOutcome) {
        let granted = std::mem::take(&mut *step.granted.borrow_mut());
        let mut failures = Vec::new();
        for role in granted.iter().rev() {
            let revoke = roles::revoke_from_admin(role);
            let taken =
                tokio::time::timeout(GRACE, step.statement_always(self.main(), None, &revoke));
            let error = match taken.await {
                Ok(Ok(())) => continue,
                Ok(Err(err)) => err.message(),
                Err(_) => "no answer".to_owned(),
            };
            failures.push(format!(
                "taking back the admin's membership in {role} failed ({error}): run `{}`",
                revoke.shown
            ));
        }
        outcome.executed = step.log.finish();
        if !failures.is_empty() {
            let note = failures.join("; ");
            outcome.error = Some(match outcome.error.take() {
                Some(error) => format!("{error}; {note}"),
                None => note,
            });
        }
    }
}

/// The outcome of a cluster whose step ended in `err`: `what` says what
/// that left when the server rolled it back.
fn step_failed(change: &RoleChange<'_>, log: &Log, err: StepError, what: &str) -> ClusterOutcome {
    step_failed_as(&change.intent(), log, err, what).with_password_if(change)
}

fn step_failed_as(status: &str, log: &Log, err: StepError, what: &str) -> ClusterOutcome {
    match err {
        StepError::Failed(err) => {
            let error = if what == "rolled back" {
                err.message
            } else {
                format!("{}; {what}", err.message)
            };
            ClusterOutcome::failed(status.to_owned(), error, log.finish())
        }
        StepError::Interrupted => ClusterOutcome::interrupted_with(status, what, log.finish()),
        StepError::InDoubt(message) => ClusterOutcome {
            in_doubt: true,
            ..ClusterOutcome::failed(
                status.to_owned(),
                format!(
                    "no answer to COMMIT ({message}): the change may be in force here; check \
                     with `pgacct user show`"
                ),
                log.finish(),
            )
        },
    }
}

/// The outcome of work that did not answer within the grace period after
/// an interrupt: the sessions go with the plan, and the server rolls back
/// what did not commit; a COMMIT already sent may have committed.
fn abandoned(change: &RoleChange<'_>, log: &Log) -> ClusterOutcome {
    let executed = log.finish();
    if executed.iter().any(|e| e.ended == Ended::InDoubt) {
        let err = StepError::InDoubt("interrupted, and no answer from the server".into());
        return step_failed(change, log, err, "");
    }
    interrupted(change, executed, "no answer from the server; what did not commit is rolled back")
}

fn terminate_text(name: &RoleName) -> String {
    format!("-- end the sessions of {name} (pg_terminate_backend)")
}

/// The outcome of a cluster whose plan settled it.
fn settled_outcome(change: &RoleChange<'_>, settled: &Settled) -> ClusterOutcome {
    let none = Vec::new();
    match settled {
        Settled::AlreadyExists(drift) => {
            ClusterOutcome::ok("user already exists".into(), none).with_drift(drift.clone())
        }
        Settled::NotFound => ClusterOutcome::failed(
            "user not found".into(),
            format!("role {} does not exist", change.role()),
            none,
        ),
        Settled::Standby => ClusterOutcome::failed(
            change.intent(),
            "read-only standby (the server is in recovery); pgacct writes to primaries only".into(),
            none,
        ),
        Settled::Failed(message) => failed(change, none, message.clone()),
    }
}

/// The outcome of a cluster pgacct could not reach: `error` says why.
pub fn unreachable(change: &RoleChange<'_>, error: String) -> ClusterOutcome {
    failed(change, Vec::new(), error)
}

fn failed(change: &RoleChange<'_>, executed: Vec<Executed>, error: String) -> ClusterOutcome {
    ClusterOutcome::failed(change.intent(), error, executed)
}

fn interrupted(change: &RoleChange<'_>, executed: Vec<Executed>, what: &str) -> ClusterOutcome {
    ClusterOutcome::interrupted_with(&change.intent(), what, executed)
}

impl ClusterOutcome {
    fn ok(status: String, executed: Vec<Executed>) -> ClusterOutcome {
        ClusterOutcome {
            outcome: Outcome::Ok,
            status,
            error: None,
            drift: Drift::default(),
            executed,
            password_set: false,
            in_doubt: false,
        }
    }

    fn failed(status: String, error: String, executed: Vec<Executed>) -> ClusterOutcome {
        ClusterOutcome {
            outcome: Outcome::Failed,
            error: Some(error),
            ..Self::ok(status, executed)
        }
    }

    fn interrupted_with(status: &str, what: &str, executed: Vec<Executed>) -> ClusterOutcome {
        Self::failed(status.to_owned(), format!("interrupted; {what}"), executed)
    }

    fn with_drift(self, drift: Drift) -> ClusterOutcome {
        ClusterOutcome { drift, ..self }
    }

    fn with_password(self, set: bool) -> ClusterOutcome {
        ClusterOutcome { password_set: set, ..self }
    }

    /// A password change in doubt may be in force: its password is
    /// delivered rather than lost.
    fn with_password_if(self, change: &RoleChange<'_>) -> ClusterOutcome {
        let set = self.in_doubt && change.sets_password();
        ClusterOutcome { password_set: set, ..self }
    }
}

/// Why a step did not complete.
#[derive(Debug)]
enum StepError {
    Failed(RoleError),
    Interrupted,
    /// COMMIT was sent and no answer came back.
    InDoubt(String),
}

impl StepError {
    fn message(&self) -> String {
        match self {
            StepError::Failed(err) => err.message.clone(),
            StepError::Interrupted => "interrupted".into(),
            StepError::InDoubt(message) => format!("no answer to COMMIT: {message}"),
        }
    }

    fn in_database(self, db: &str) -> StepError {
        match self {
            StepError::Failed(err) => StepError::Failed(RoleError {
                message: format!("in database {db}: {}", err.message),
                ..err
            }),
            StepError::InDoubt(message) => {
                StepError::InDoubt(format!("in database {db}: {message}"))
            }
            StepError::Interrupted => StepError::Interrupted,
        }
    }
}

/// The statements run so far on one cluster. Statements of an open
/// transaction are pending until it ends.
#[derive(Debug, Default)]
struct Log(RefCell<Vec<(Executed, bool)>>);

impl Log {
    /// Logs a statement of a transaction, not yet committed.
    fn pending(&self, statement: &Statement, db: Option<&str>) {
        let executed = Executed {
            statement: statement.shown.clone(),
            db: db.map(str::to_owned),
            ended: Ended::RolledBack,
        };
        self.0.borrow_mut().push((executed, true));
    }

    /// COMMIT is on its way: until it answers, the pending statements are
    /// in doubt (still pending, to be settled by the answer).
    fn committing(&self) {
        for (executed, _) in self.0.borrow_mut().iter_mut().filter(|(_, p)| *p) {
            executed.ended = Ended::InDoubt;
        }
    }

    /// Ends the pending statements as `ended`.
    fn settle(&self, ended: Ended) {
        for (executed, pending) in self.0.borrow_mut().iter_mut().filter(|(_, p)| *p) {
            executed.ended = ended;
            *pending = false;
        }
    }

    /// Marks the last pending statement as the one that failed.
    fn failed(&self) {
        if let Some((executed, pending)) = self.0.borrow_mut().iter_mut().rev().find(|(_, p)| *p) {
            executed.ended = Ended::Failed;
            *pending = false;
        }
    }

    fn done(&self, statement: &Statement, db: Option<&str>, ended: Ended) {
        let executed =
            Executed { statement: statement.shown.clone(), db: db.map(str::to_owned), ended };
        self.0.borrow_mut().push((executed, false));
    }

    /// Everything logged; a statement still pending never committed, or
    /// its COMMIT got no answer.
    fn finish(&self) -> Vec<Executed> {
        self.0.borrow().iter().map(|(executed, _)| executed.clone()).collect()
    }
}

/// What every step of one cluster's work shares.
struct Step<'a> {
    name: &'a RoleName,
    interrupt: &'a Interrupt,
    log: &'a Log,
    /// Roles the admin made itself a member of, to take back.
    granted: RefCell<Vec<String>>,
}

impl Step<'_> {
    /// Runs `statements` in one transaction that holds the advisory lock on
    /// the role name: committed when all succeed, rolled back when one
    /// fails or an interrupt arrives first.
    async fn transaction(
        &self,
        session: &Session,
        db: Option<&str>,
        statements: &[Statement],
    ) -> Result<(), StepError> {
        let client = session.client();
        let begin = async {
            client.batch_execute("BEGIN").await?;
            client
                .execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                    &[&roles::lock_key(self.name)],
                )
                .await
        };
        let mut result = begin.await.map(drop).map_err(|err| self.error(&err, None));
        for statement in statements {
            if result.is_err() {
                break;
            }
            if self.interrupt.is_raised() {
                result = Err(StepError::Interrupted);
                break;
            }
            self.log.pending(statement, db);
            result = client.batch_execute(&statement.sql).await.map_err(|err| {
                self.log.failed();
                self.error(&err, Some(statement))
            });
        }
        if result.is_ok() && self.interrupt.is_raised() {
            result = Err(StepError::Interrupted);
        }
        if let Err(err) = result {
            let _ = client.batch_execute("ROLLBACK").await;
            self.log.settle(Ended::RolledBack);
            return Err(err);
        }
        self.log.committing();
        match client.batch_execute("COMMIT").await {
            Ok(()) => {
                self.log.settle(Ended::Committed);
                Ok(())
            }
            // The server said no: it rolled back.
            Err(err) if err.code().is_some() => {
                self.log.settle(Ended::RolledBack);
                Err(self.error(&err, None))
            }
            // No answer (the connection broke): it may have committed.
            Err(err) => Err(StepError::InDoubt(super::connect::describe_error(&err))),
        }
    }

    /// `GRANT role TO CURRENT_USER`, remembered to be taken back.
    async fn grant_to_admin(
        &self,
        session: &Session,
        role: &str,
        version_num: i32,
    ) -> Result<(), StepError> {
        self.statement(session, None, &roles::grant_to_admin(role, version_num)).await?;
        self.granted.borrow_mut().push(role.to_owned());
        Ok(())
    }

    /// Runs one statement on its own, unless an interrupt came first.
    async fn statement(
        &self,
        session: &Session,
        db: Option<&str>,
        statement: &Statement,
    ) -> Result<(), StepError> {
        if self.interrupt.is_raised() {
            return Err(StepError::Interrupted);
        }
        self.run_logged(session, db, statement).await
    }

    /// Runs one statement even after an interrupt: clean-up that must happen.
    async fn statement_always(
        &self,
        session: &Session,
        db: Option<&str>,
        statement: &Statement,
    ) -> Result<(), StepError> {
        self.run_logged(session, db, statement).await
    }

    async fn run_logged(
        &self,
        session: &Session,
        db: Option<&str>,
        statement: &Statement,
    ) -> Result<(), StepError> {
        match session.client().batch_execute(&statement.sql).await {
            Ok(()) => {
                self.log.done(statement, db, Ended::Committed);
                Ok(())
            }
            Err(err) => {
                self.log.done(statement, db, Ended::Failed);
                Err(self.error(&err, Some(statement)))
            }
        }
    }

    /// Ends the role's sessions; `status` with what happened after it.
    async fn terminate(&self, session: &Session, status: String) -> String {
        match lifecycle::terminate_sessions(session, self.name).await {
            Ok(ended) => {
                if ended.ended > 0 || !ended.refused.is_empty() {
                    let text = format!(
                        "SELECT pg_terminate_backend(pid) -- {} session(s) of {} ended",
                        ended.ended, self.name
                    );
                    self.log.done(&Statement::plain(text), None, Ended::Committed);
                }
                with_sessions(&status, &ended)
            }
            Err(err) => format!("{status}; could not end its sessions: {err}"),
        }
    }

    fn error(&self, err: &tokio_postgres::Error, statement: Option<&Statement>) -> StepError {
        if self.interrupt.is_raised() && err.code() == Some(&SqlState::QUERY_CANCELED) {
            return StepError::Interrupted;
        }
        StepError::Failed(RoleError::from_pg(err, statement))
    }
}

/// A status followed by what ending sessions did.
fn with_sessions(status: &str, ended: &lifecycle::Terminated) -> String {
    let mut text = if status.is_empty() {
        format!("{} session(s) ended", ended.ended)
    } else {
        format!("{status}; {} session(s) ended", ended.ended)
    };
    if !ended.refused.is_empty() {
        text.push_str(&format!(
            "; could not end {} (the admin needs pg_signal_backend): {}",
            ended.refused.len(),
            ended.refused.join("; ")
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executed_statements_say_how_they_ended_and_where() {
        let line = |ended, db: Option<&str>| {
            Executed { statement: "DROP OWNED BY \"x\"".into(), db: db.map(str::to_owned), ended }
                .to_string()
        };
        assert_eq!(line(Ended::Committed, None), "DROP OWNED BY \"x\"");
        assert_eq!(line(Ended::Committed, Some("legacy")), "DROP OWNED BY \"x\" -- in legacy");
        assert_eq!(line(Ended::RolledBack, None), "-- rolled back: DROP OWNED BY \"x\"");
        assert_eq!(line(Ended::Failed, Some("a")), "-- failed: DROP OWNED BY \"x\" -- in a");
        assert!(line(Ended::InDoubt, None).starts_with("-- in doubt"));
    }

    #[test]
    fn a_log_ends_a_transaction_all_at_once() {
        let log = Log::default();
        let statement = Statement::plain("ALTER ROLE \"x\" NOLOGIN".into());
        log.pending(&statement, None);
        log.pending(&statement, None);
        log.failed();
        log.settle(Ended::RolledBack);
        log.done(&statement, None, Ended::Committed);
        let ended: Vec<Ended> = log.finish().iter().map(|e| e.ended).collect();
        assert_eq!(ended, [Ended::RolledBack, Ended::Failed, Ended::Committed]);
    }

    #[test]
    fn a_commit_settles_what_was_in_doubt() {
        let statement = Statement::plain("ALTER ROLE \"x\" LOGIN".into());
        let ended = |answer: Option<Ended>| {
            let log = Log::default();
            log.pending(&statement, None);
            log.committing();
            if let Some(answer) = answer {
                log.settle(answer);
            }
            log.finish()[0].ended
        };
        assert_eq!(ended(Some(Ended::Committed)), Ended::Committed);
        assert_eq!(ended(Some(Ended::RolledBack)), Ended::RolledBack);
        assert_eq!(ended(None), Ended::InDoubt, "no answer to COMMIT");
    }
}
