//! Applying one role change to many targets: grouped by cluster, one
//! session and one transaction per cluster, clusters concurrently, an audit
//! record before and after for every target, one result row per target.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;

use crate::audit::{AuditStore, Finish, Invocation, Operation};
use crate::commands::audited::{outcome, pause_after_start};
use crate::commands::fan_out;
use crate::commands::targets::{Cluster, by_cluster};
use crate::notify::{Event, TargetResult};
use crate::output::{Column, Progress, Record};
use crate::pg::lifecycle;
use crate::pg::roles::{self, Changed, Created, RoleError, RoleSpec};
use crate::pg::{ConnectError, Connector, Session};
use crate::policy::{RoleName, SchemaName};
use crate::registry::{Database, Target};
use crate::secret::{self, Secret};

/// What to do to the role on each cluster.
#[derive(Debug)]
pub enum Change<'a> {
    Create {
        spec: RoleSpec<'a>,
        kind: &'a str,
    },
    ResetPassword {
        name: &'a RoleName,
    },
    SetSearchPath {
        name: &'a RoleName,
        schemas: &'a [SchemaName],
    },
    Lock {
        name: &'a RoleName,
        terminate: bool,
    },
    Unlock {
        name: &'a RoleName,
    },
    /// `preflights` holds each cluster's preflight summary.
    Drop {
        name: &'a RoleName,
        heir: Option<&'a str>,
        preflights: &'a BTreeMap<String, String>,
    },
}

impl Change<'_> {
    pub fn role(&self) -> &RoleName {
        match self {
            Change::Create { spec, .. } => spec.name,
            Change::ResetPassword { name }
            | Change::SetSearchPath { name, .. }
            | Change::Lock { name, .. }
            | Change::Unlock { name }
            | Change::Drop { name, .. } => name,
        }
    }

    fn operation(&self) -> &'static str {
        match self {
            Change::Create { .. } => "user.create",
            Change::ResetPassword { .. } => "user.reset-password",
            Change::SetSearchPath { .. } => "user.set-search-path",
            Change::Lock { .. } => "user.lock",
            Change::Unlock { .. } => "user.unlock",
            Change::Drop { .. } => "user.drop",
        }
    }

    /// What is about to happen on `cluster`, for the started record.
    fn intent(&self, cluster: &str) -> String {
        match self {
            Change::Create { kind, .. } => format!("create {kind} user"),
            Change::ResetPassword { .. } => "reset password".into(),
            Change::SetSearchPath { schemas, .. } => {
                format!("set search_path to {}", path_text(schemas))
            }
            Change::Lock { terminate: true, .. } => "lock user and end its sessions".into(),
            Change::Lock { terminate: false, .. } => "lock user".into(),
            Change::Unlock { .. } => "unlock user".into(),
            Change::Drop { preflights, .. } => match preflights.get(cluster) {
                Some(summary) => format!("drop user (preflight: {summary})"),
                None => "drop user".into(),
            },
        }
    }
}

fn path_text(schemas: &[SchemaName]) -> String {
    schemas.iter().map(SchemaName::as_str).collect::<Vec<_>>().join(", ")
}

/// The result for one target.
#[derive(Debug, Serialize)]
pub struct UserRow {
    pub env: String,
    pub db: String,
    pub cluster: String,
    pub user: String,
    /// `ok` or `failed`.
    pub outcome: &'static str,
    pub status: String,
    /// The new password, when one was set here and is shown here.
    pub password: Option<String>,
    /// How an existing role differs from its policy, in this database.
    pub drift: Vec<String>,
    pub error: Option<String>,
    /// The SQL that ran (or, with `--dry-run`, would run), secrets redacted.
    pub sql: Vec<String>,
    /// True when this target's role now has the new password.
    #[serde(skip)]
    pub got_password: bool,
    #[serde(skip)]
    pub hint: Option<String>,
}

impl Record for UserRow {
    const COLUMNS: &'static [Column] = &[
        Column::shown("env"),
        Column::shown("db"),
        Column::wide("cluster"),
        Column::shown("user"),
        Column::wide("outcome"),
        Column::shown("status"),
        Column::shown("password"),
        Column::shown("drift"),
        Column::shown("error"),
        Column::wide("sql"),
    ];
}

/// One change rolled out to many targets, and what every cluster shares.
pub struct Rollout<'a> {
    pub connector: &'a Connector,
    pub audit: Mutex<&'a mut Database>,
    pub who: Invocation,
    pub change: Change<'a>,
    /// The new password (create, reset); `None` with `--dry-run`.
    pub password: Option<&'a Secret>,
    pub dry_run: bool,
    pub jobs: u16,
    pub progress: Progress,
    /// Outcome records that could not be written, for a warning.
    pub audit_failures: Mutex<Vec<String>>,
}

impl Rollout<'_> {
    /// The notification of what this rollout did: no password in it.
    pub fn event(&self, rows: &[UserRow]) -> Event {
        let targets = rows
            .iter()
            .map(|row| TargetResult {
                env: row.env.clone(),
                db: row.db.clone(),
                cluster: Some(row.cluster.clone()),
                status: row.status.clone(),
                outcome: row.outcome,
                error: row.error.clone(),
            })
            .collect();
        Event::new(&self.who, self.change.operation(), Some(self.change.role().as_str()), targets)
    }

    /// Applies the change to every target; rows come back in target order.
    pub fn apply(&self, targets: &[Target]) -> anyhow::Result<Vec<UserRow>> {
        let clusters = by_cluster(targets);
        let per_cluster = fan_out(self.jobs, &clusters, |cluster| async {
            let rows = self.on_cluster(cluster).await;
            self.progress.advance(rows.len());
            rows
        })?;
        self.progress.finish();
        let mut rows: Vec<UserRow> = per_cluster.into_iter().flatten().collect();
        rows.sort_by_key(|row| {
            targets
                .iter()
                .position(|t| t.key.env.as_str() == row.env && t.key.db.as_str() == row.db)
        });
        Ok(rows)
    }

    async fn on_cluster(&self, cluster: &Cluster<'_>) -> Vec<UserRow> {
        let started = match self.start(&cluster.targets) {
            Ok(ids) => ids,
            Err(err) => return self.rows_failed(&cluster.targets, &format!("{err:#}"), None),
        };
        let clock = Instant::now();
        let rows = match self.connector.connect(cluster.targets[0]).await {
            Ok(session) if session.server.in_recovery && !self.dry_run => self.rows_failed(
                &cluster.targets,
                "read-only standby (the server is in recovery); pgacct writes to primaries only",
                Some("point the registry entry at the primary: pgacct registry update ... --host"),
            ),
            Ok(session) => self.change_cluster(&session, &cluster.targets).await,
            Err(err) => self.connect_failed(&cluster.targets, &err),
        };
        self.finish(&started, &rows, clock);
        rows
    }

    /// Started records for `targets`, before anything is touched.
    fn start(&self, targets: &[&Target]) -> anyhow::Result<Vec<i64>> {
        if self.dry_run {
            return Ok(Vec::new());
        }
        let operations: Vec<Operation> = targets
            .iter()
            .map(|t| Operation {
                name: self.change.operation().into(),
                env: Some(t.key.env.as_str().into()),
                db: Some(t.key.db.as_str().into()),
                cluster: Some(t.cluster()),
                role: Some(self.change.role().as_str().into()),
                status: self.change.intent(&t.cluster()),
            })
            .collect();
        let mut audit = self.audit.lock().expect("a panic elsewhere poisoned the audit lock");
        let ids = audit.start(&self.who, &operations)?;
        drop(audit);
        pause_after_start();
        Ok(ids)
    }

    fn finish(&self, started: &[i64], rows: &[UserRow], clock: Instant) {
        if self.dry_run {
            return;
        }
        let finishes: Vec<Finish> = started
            .iter()
            .zip(rows)
            .map(|(id, row)| {
                let result = match &row.error {
                    None => Ok(with_drift(&row.status, &row.drift)),
                    Some(error) => Err(error.clone()),
                };
                let mut finish = outcome(*id, &row.status, clock.elapsed(), result);
                finish.sql = (!row.sql.is_empty()).then(|| row.sql.join(";\n"));
                finish
            })
            .collect();
        let mut audit = self.audit.lock().expect("a panic elsewhere poisoned the audit lock");
        if let Err(err) = audit.finish(&self.who, &finishes) {
            // The rows still say what happened; the trail shows these
            // operations as incomplete, and the user is told why.
            let mut failures = self.audit_failures.lock().expect("not poisoned");
            failures.push(format!("{:#}", anyhow::Error::from(err)));
        }
    }

    async fn change_cluster(&self, session: &Session, targets: &[&Target]) -> Vec<UserRow> {
        let dbs: Vec<&str> = targets.iter().map(|t| t.key.db.as_str()).collect();
        let verifier = self.password.map(|password| {
            let iterations = session.server.scram_iterations.and_then(|i| u32::try_from(i).ok());
            secret::scram_verifier(password, iterations.unwrap_or(secret::DEFAULT_SCRAM_ITERATIONS))
        });
        match &self.change {
            Change::Create { spec, .. } => {
                let mut result = if self.dry_run {
                    roles::plan_create(session, spec, &dbs).await
                } else {
                    let statements = roles::create_statements(
                        spec,
                        verifier.as_deref(),
                        &dbs,
                        session.server.version_num,
                    );
                    roles::create(session, spec, &statements, &dbs).await
                };
                let needs_grants = spec.account.read_only
                    && session.server.version_num < roles::READ_ALL_DATA_SINCE
                    && !self.dry_run;
                if let (true, Ok(Created::Created(sql))) = (needs_grants, &mut result) {
                    match self.grant_read_only(session, targets, spec.name).await {
                        Ok(grants) => sql.extend(grants),
                        Err(err) => result = Err(err),
                    }
                }
                targets.iter().map(|t| self.created_row(t, &result)).collect()
            }
            Change::ResetPassword { name } => {
                let result = roles::reset_password(session, name, verifier.as_deref()).await;
                let done = if self.dry_run { "would reset password" } else { "password reset" };
                targets.iter().map(|t| self.changed_row(t, &result, done, true)).collect()
            }
            Change::SetSearchPath { name, schemas } => {
                let result =
                    roles::set_search_path(session, name, &dbs, schemas, self.dry_run).await;
                let path = path_text(schemas);
                let done = if self.dry_run {
                    format!("would set search_path to {path}")
                } else {
                    format!("search_path set to {path}")
                };
                targets.iter().map(|t| self.changed_row(t, &result, &done, false)).collect()
            }
            Change::Lock { name, terminate } => {
                let result = lifecycle::set_login(session, name, false, self.dry_run).await;
                let mut done =
                    if self.dry_run { "would lock user" } else { "user locked" }.to_owned();
                if matches!(result, Ok(Changed::Done(_))) && *terminate && !self.dry_run {
                    done = match lifecycle::terminate_sessions(session, name).await {
                        Ok(ended) => with_sessions(&done, &ended),
                        Err(err) => format!("{done}; could not end its sessions: {err}"),
                    };
                }
                targets.iter().map(|t| self.changed_row(t, &result, &done, false)).collect()
            }
            Change::Unlock { name } => {
                let result = lifecycle::set_login(session, name, true, self.dry_run).await;
                let done = if self.dry_run { "would unlock user" } else { "user unlocked" };
                targets.iter().map(|t| self.changed_row(t, &result, done, false)).collect()
            }
            Change::Drop { name, heir, .. } => {
                let result = self.drop(session, targets[0], name, *heir).await;
                let done = if self.dry_run { "would drop user" } else { "user dropped" };
                targets.iter().map(|t| self.changed_row(t, &result, done, false)).collect()
            }
        }
    }

    /// Read access in every target database, for a server without
    /// `pg_read_all_data`. If any database fails, the new role is taken back,
    /// so that the create still happens entirely or not at all.
    async fn grant_read_only(
        &self,
        session: &Session,
        targets: &[&Target],
        name: &RoleName,
    ) -> Result<Vec<String>, RoleError> {
        let mut granted: Vec<Session> = Vec::new();
        let mut statements = Vec::new();
        let mut failure = None;
        for target in targets {
            let db = match self.connector.connect(target).await {
                Ok(db) => db,
                Err(err) => {
                    failure =
                        Some(RoleError { message: err.to_string(), statement: None, code: None });
                    break;
                }
            };
            match roles::grant_read_only(&db, name).await {
                Ok(shown) => {
                    statements.extend(shown);
                    granted.push(db);
                }
                Err(err) => {
                    failure = Some(err);
                    break;
                }
            }
        }
        let Some(mut failure) = failure else { return Ok(statements) };
        if let Err(undo) = roles::undo_create(session, &granted, name).await {
            failure.message.push_str(&format!("; and taking the new role back failed: {undo}"));
        }
        Err(failure)
    }

    fn created_row(&self, target: &Target, result: &Result<Created, RoleError>) -> UserRow {
        let mut row = self.row(target);
        match result {
            Ok(Created::Created(sql)) => {
                row.status = if self.dry_run { "would create user" } else { "user created" }.into();
                row.sql.clone_from(sql);
                row.got_password = !self.dry_run;
            }
            Ok(Created::AlreadyExists(drift)) => {
                row.status = "user already exists".into();
                row.drift = drift.for_database(target.key.db.as_str());
            }
            Err(err) => self.role_error(&mut row, err),
        }
        row
    }

    fn changed_row(
        &self,
        target: &Target,
        result: &Result<Changed, RoleError>,
        done: &str,
        sets_password: bool,
    ) -> UserRow {
        let mut row = self.row(target);
        match result {
            Ok(Changed::Done(sql)) => {
                row.status = done.into();
                row.sql.clone_from(sql);
                row.got_password = sets_password && !self.dry_run;
            }
            Ok(Changed::NotFound) => {
                row.outcome = "failed";
                row.status = "user not found".into();
                row.error = Some(format!(
                    "role {} does not exist on {}",
                    self.change.role(),
                    target.cluster()
                ));
            }
            Err(err) => self.role_error(&mut row, err),
        }
        row
    }

    fn role_error(&self, row: &mut UserRow, err: &RoleError) {
        row.outcome = "failed";
        row.status = self.change.intent(&row.cluster);
        row.error = Some(err.message.clone());
        row.sql.extend(err.statement.clone());
    }

    fn row(&self, target: &Target) -> UserRow {
        UserRow {
            env: target.key.env.as_str().into(),
            db: target.key.db.as_str().into(),
            cluster: target.cluster(),
            user: self.change.role().as_str().into(),
            outcome: "ok",
            status: String::new(),
            password: None,
            drift: Vec::new(),
            error: None,
            sql: Vec::new(),
            got_password: false,
            hint: None,
        }
    }

    fn rows_failed(&self, targets: &[&Target], error: &str, hint: Option<&str>) -> Vec<UserRow> {
        targets
            .iter()
            .map(|t| {
                let mut row = self.row(t);
                row.outcome = "failed";
                row.status = self.change.intent(&t.cluster());
                row.error = Some(error.to_owned());
                row.hint = hint.map(str::to_owned);
                row
            })
            .collect()
    }

    fn connect_failed(&self, targets: &[&Target], err: &ConnectError) -> Vec<UserRow> {
        let error = format!("cannot connect as {}: {}", err.user, err.failure);
        self.rows_failed(targets, &error, err.hint().as_deref())
    }
}

/// A status followed by what ending sessions did.
fn with_sessions(status: &str, ended: &lifecycle::Terminated) -> String {
    let mut text = format!("{status}; {} session(s) ended", ended.ended);
    if !ended.refused.is_empty() {
        text.push_str(&format!(
            "; could not end {} (the admin needs pg_signal_backend): {}",
            ended.refused.len(),
            ended.refused.join("; ")
        ));
    }
    text
}

/// The status with any drift after it, for the audit trail.
fn with_drift(status: &str, drift: &[String]) -> String {
    if drift.is_empty() {
        status.to_owned()
    } else {
        format!("{status}; differs from policy: {}", drift.join("; "))
    }
}
