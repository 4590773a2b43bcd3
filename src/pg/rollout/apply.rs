//! Applying a plan on one cluster: the planned statements, each logged
//! with how it ended; an interrupt stops the work between steps and
//! cancels a statement that waits; memberships the admin gave itself are
//! taken back whatever happened.

use std::cell::RefCell;

use serde::Serialize;
use tokio_postgres::error::SqlState;

use super::{ClusterPlan, DropWork, GRACE, RoleChange, Settled, Work};
use crate::audit::Outcome;
use crate::interrupt::Interrupt;
use crate::pg::Session;
use crate::pg::lifecycle;
use crate::pg::roles::{self, Drift, RoleError, Statement};
use crate::policy::RoleName;

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

impl ClusterPlan {
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

/// The outcome of a cluster whose plan settled it.
pub(super) fn settled_outcome(change: &RoleChange<'_>, settled: &Settled) -> ClusterOutcome {
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
    pub(super) fn ok(status: String, executed: Vec<Executed>) -> ClusterOutcome {
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
            Err(err) => Err(StepError::InDoubt(crate::pg::connect::describe_error(&err))),
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
