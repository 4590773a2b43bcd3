//! Applying a plan on one cluster: the planned statements, each logged
//! before it is sent and settled by the server's answer. An interrupt
//! stops the work between steps and cancels a statement that waits. What
//! must happen whatever happened (taking back a create that could not
//! finish, and the memberships the admin gave itself) runs afterwards, out
//! of the interrupt's reach, on a fresh session when the old one no longer
//! answers. Whether the new password may be in force is read off the log.

use std::cell::RefCell;

use futures_util::future::join_all;
use postgres_protocol::escape::escape_literal;
use serde::Serialize;
use tokio_postgres::error::SqlState;

use super::{ClusterPlan, DropWork, GRACE, RoleChange, Settled, Work};
use crate::audit::Outcome;
use crate::interrupt::Interrupt;
use crate::pg::lifecycle;
use crate::pg::roles::{self, Drift, Effect, RoleError, Statement};
use crate::pg::{Connector, Session};
use crate::policy::{RoleName, ValidUntil};

/// The status of a failed outcome after which the new password may be in
/// force (a statement that sets it committed, or got no answer): the
/// password is delivered, and a retry must give that one.
pub const MAY_BE_IN_FORCE: &str = "the new password may be in force here";

/// How a statement ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ended {
    Committed,
    RolledBack,
    Failed,
    /// Sent, and no answer came: it may or may not have committed.
    InDoubt,
}

/// A statement that ran, as shown (secrets redacted), where, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    pub statement: String,
    /// The database, when not the cluster's own session.
    pub db: Option<String>,
    pub ended: Ended,
    pub effect: Effect,
}

impl std::fmt::Display for Executed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.ended {
            Ended::Committed => {}
            Ended::RolledBack => f.write_str("-- rolled back: ")?,
            Ended::Failed => f.write_str("-- failed: ")?,
            Ended::InDoubt => f.write_str("-- in doubt (no answer): ")?,
        }
        f.write_str(&self.statement)?;
        match &self.db {
            Some(db) => write!(f, " -- in {db}"),
            None => Ok(()),
        }
    }
}

/// Whether the new password may be in force after `executed`: a statement
/// that sets it committed (or got no answer), and no DROP ROLE committed
/// after it.
pub fn password_may_be_in_force(executed: &[Executed]) -> bool {
    executed.iter().fold(false, |in_force, e| match (e.effect, e.ended) {
        (Effect::SetsPassword, Ended::Committed | Ended::InDoubt) => true,
        (Effect::DropsRole, Ended::Committed) => false,
        _ => in_force,
    })
}

/// What applying a plan did on one cluster.
#[derive(Debug)]
pub struct ClusterOutcome {
    pub outcome: Outcome,
    /// What happened, in words: "user created", "user not found".
    pub status: String,
    /// What `--terminate` did: the role's sessions on the whole cluster.
    pub sessions: Option<String>,
    pub error: Option<String>,
    /// How an existing role differs from its policy (create), or what a
    /// sync repaired.
    pub drift: Drift,
    /// `drift` was repaired.
    pub repaired: bool,
    pub executed: Vec<Executed>,
    /// The new password is (or may be) in force here: it is to be delivered.
    pub password_set: bool,
    /// The `VALID UNTIL` the change set (or, previewed, would set).
    pub valid_until: Option<String>,
}

impl ClusterPlan {
    /// Runs the plan. On an interrupt, work between steps stops (a
    /// transaction not yet committed is rolled back) and a statement that
    /// waits is cancelled; what committed stays, and is reported. Clean-up
    /// follows in any case; `connector` opens a session for it when the
    /// plan's no longer answers.
    pub async fn apply(
        self,
        change: &RoleChange<'_>,
        interrupt: &Interrupt,
        connector: &Connector,
    ) -> ClusterOutcome {
        if let Work::Settled(settled) = &self.work {
            return settled_outcome(change, settled);
        }
        if !self.ready {
            return failed(
                change,
                "the plan was made without the new password (a dry run); nothing was changed \
                 here",
            );
        }
        if interrupt.is_raised() {
            return failed(change, "interrupted; nothing was changed here");
        }
        if let Err(db) = self.ping().await {
            return failed(
                change,
                &format!(
                    "the session to database {db} ended while the change waited; nothing was \
                     changed here"
                ),
            );
        }
        let log = Log::default();
        let step = Step {
            name: change.role(),
            home: &self.sessions[0].0,
            interrupt,
            log: &log,
            granted: RefCell::default(),
            undo: RefCell::default(),
        };
        let result = {
            let work = self.run(change, &step);
            tokio::pin!(work);
            tokio::select! {
                biased;
                result = &mut work => Some(result),
                () = interrupt.raised() => {
                    for (_, session) in &self.sessions {
                        session.cancel().await;
                    }
                    tokio::time::timeout(GRACE, &mut work).await.ok()
                }
            }
        };
        let answered = result.is_some();
        let mut outcome = result.unwrap_or_else(|| {
            failed(
                change,
                &format!(
                    "interrupted, and the server did not answer within {} s; what had not \
                     committed is rolled back",
                    GRACE.as_secs()
                ),
            )
        });
        if answered {
            self.undo_create(&step, &mut outcome).await;
        }
        // A session that did not answer may still be inside a transaction:
        // the memberships are taken back on a new one.
        let fresh = if answered { None } else { connector.connect(&self.target).await.ok() };
        let cleanup = if answered { Some(self.main()) } else { fresh.as_ref() };
        take_back(cleanup, &step, &mut outcome).await;
        outcome.executed = log.finish();
        outcome.password_set = password_may_be_in_force(&outcome.executed);
        if outcome.password_set && outcome.outcome == Outcome::Failed {
            outcome.status = MAY_BE_IN_FORCE.into();
        }
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
            if session.simple_query("").await.is_err() {
                return Err(db.clone());
            }
        }
        Ok(())
    }

    /// The planned work, as far as it gets.
    async fn run(&self, change: &RoleChange<'_>, step: &Step<'_>) -> ClusterOutcome {
        match &self.work {
            Work::Settled(settled) => settled_outcome(change, settled),
            Work::Change { statements, grants, terminate, expiry, drift, .. } => {
                match step.transaction(self.main(), None, statements).await {
                    Ok(()) => {}
                    Err(StepError::Failed(err)) if err.code == Some(SqlState::DUPLICATE_OBJECT) => {
                        // Created meanwhile by a creator outside pgacct's
                        // lock: the same as finding it, and nothing changed.
                        if let RoleChange::Create(spec) = change {
                            step.log.clear();
                            let dbs = self.target_dbs();
                            let now = jiff::Timestamp::now();
                            let drift =
                                roles::drift(self.main(), spec.name, spec.account, &dbs, &[], now)
                                    .await
                                    .unwrap_or_default();
                            return ClusterOutcome::ok("user already exists".into())
                                .with_drift(drift);
                        }
                        return step_failed(change, StepError::Failed(err));
                    }
                    Err(StepError::Failed(err))
                        if err.code == Some(SqlState::UNDEFINED_OBJECT)
                            && !matches!(change, RoleChange::Create(_)) =>
                    {
                        // Not there (a plan that left the question to the
                        // server, or a drop since the plan looked): as if
                        // the plan had found it so.
                        step.log.clear();
                        return settled_outcome(change, &Settled::NotFound);
                    }
                    Err(StepError::Failed(err))
                        if err.code == Some(SqlState::READ_ONLY_SQL_TRANSACTION)
                            && self.main().facts().await.is_ok_and(|facts| facts.in_recovery) =>
                    {
                        // A standby before PostgreSQL 14, which does not
                        // say so as the session starts.
                        step.log.clear();
                        return settled_outcome(change, &Settled::Standby);
                    }
                    Err(StepError::Interrupted) => {
                        return step_failed(change, StepError::Interrupted).note("rolled back");
                    }
                    // A grant's error is its database's: said so, as the
                    // cluster's error is shown on each of its targets' rows.
                    Err(StepError::Failed(err)) if err.on_data => {
                        let db = &self.sessions[0].0;
                        return step_failed(change, StepError::Failed(err).in_database(db));
                    }
                    Err(err) => return step_failed(change, err),
                }
                for (index, grants) in grants.iter().enumerate() {
                    let (db, session) = &self.sessions[grants.session];
                    if let Err(err) = step.transaction(session, Some(db), &grants.grant).await {
                        let failed = step_failed(change, err.in_database(db));
                        if !matches!(change, RoleChange::Create(_)) {
                            // A sync: what committed stays, and is listed;
                            // the role was there before and stays.
                            return failed.note("the repairs that committed before stay");
                        }
                        // A new role without all its grants: it is taken
                        // back once the work is over.
                        *step.undo.borrow_mut() = Some(index);
                        return failed;
                    }
                }
                let mut outcome = ClusterOutcome::ok(expiry.status(change.done()));
                outcome.valid_until = expiry.until.map(ValidUntil::literal);
                outcome.drift = drift.clone();
                outcome.repaired = true;
                if *terminate {
                    outcome.sessions = Some(step.terminate(self.main()).await);
                }
                outcome
            }
            Work::Drop(work) => self.drop(change, step, work).await,
        }
    }

    fn target_dbs(&self) -> Vec<&str> {
        self.sessions.iter().map(|(db, _)| db.as_str()).collect()
    }

    /// Takes back a role just created whose grants did not all go in: the
    /// grants it got, then the role. When that fails too, the role stays,
    /// with the new password, and the outcome says so.
    async fn undo_create(&self, step: &Step<'_>, outcome: &mut ClusterOutcome) {
        let Some(failed_at) = step.undo.take() else { return };
        debug_assert!(outcome.outcome == Outcome::Failed, "only a failed create is taken back");
        let Work::Change { grants, undo, .. } = &self.work else { return };
        let mut result = Ok(());
        for grants in &grants[..failed_at] {
            let (db, session) = &self.sessions[grants.session];
            result = step.transaction_always(session, Some(db), &grants.revoke).await;
            if result.is_err() {
                break;
            }
        }
        if result.is_ok() {
            // The grants that went in with the role, then the role.
            let mut last = undo.clone();
            last.push(roles::drop_role(step.name));
            result = step.transaction_always(self.main(), None, &last).await;
        }
        let note = match result {
            Ok(()) => "the new role was taken back".to_owned(),
            Err(err) => format!(
                "taking the new role back failed ({}): it exists, with the new password",
                err.message()
            ),
        };
        outcome.add_note(&note);
    }

    /// The drop's steps: NOLOGIN, sessions ended, memberships the admin
    /// needs, each database disowned, DROP ROLE. After NOLOGIN, a failure
    /// leaves the role locked.
    async fn drop(
        &self,
        change: &RoleChange<'_>,
        step: &Step<'_>,
        work: &DropWork,
    ) -> ClusterOutcome {
        let name = step.name;
        let version = self.main().server.version_num;
        let login = [roles::set_login(name, false)];
        match step.transaction(self.main(), None, &login).await {
            Ok(()) => {}
            Err(StepError::Failed(err)) if err.code == Some(SqlState::UNDEFINED_OBJECT) => {
                return ClusterOutcome::failed("user not found".into(), err.message);
            }
            Err(StepError::Interrupted) => {
                return step_failed(change, StepError::Interrupted).note("rolled back");
            }
            Err(err) => return step_failed(change, err),
        }
        let result = async {
            step.terminate(self.main()).await;
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
            Ok(()) => ClusterOutcome::ok("user dropped".into()),
            Err(err) => step_failed(change, err).note("the role is left NOLOGIN"),
        }
    }
}

/// Takes back the memberships the admin gave itself, on `session` (none:
/// no session could be had), out of the interrupt's reach.
async fn take_back(session: Option<&Session>, step: &Step<'_>, outcome: &mut ClusterOutcome) {
    let granted = std::mem::take(&mut *step.granted.borrow_mut());
    for role in granted.iter().rev() {
        let revoke = roles::revoke_from_admin(role);
        let error = match session {
            None => "no session to the cluster".to_owned(),
            Some(session) => {
                let taken = step.statement_always(session, None, &revoke);
                match tokio::time::timeout(GRACE, taken).await {
                    Ok(Ok(())) => continue,
                    Ok(Err(err)) => err.message(),
                    Err(_) => "no answer".to_owned(),
                }
            }
        };
        outcome.add_note(&format!(
            "taking back the admin's membership in {role} failed ({error}): run `{}`",
            revoke.shown
        ));
    }
}

fn terminate_status(ended: &lifecycle::Terminated) -> String {
    let mut text = match ended.ended {
        1 => "1 session ended".to_owned(),
        n => format!("{n} sessions ended"),
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

/// The outcome of a cluster whose plan settled it.
pub(super) fn settled_outcome(change: &RoleChange<'_>, settled: &Settled) -> ClusterOutcome {
    match settled {
        Settled::AlreadyExists(drift) => {
            ClusterOutcome::ok("user already exists".into()).with_drift(drift.clone())
        }
        Settled::InSync(drift) => ClusterOutcome::ok("in sync".into()).with_drift(drift.clone()),
        Settled::Unchanged(status) => ClusterOutcome::ok(status.clone()),
        Settled::NotFound => ClusterOutcome::failed(
            "user not found".into(),
            format!("role {} does not exist", change.role()),
        ),
        Settled::Standby => failed(
            change,
            "read-only standby (the server is in recovery); pgacct writes to primaries only",
        ),
        Settled::Failed(message) => failed(change, message),
    }
}

/// The outcome of a cluster pgacct could not reach: `error` says why.
pub fn unreachable(error: &str) -> ClusterOutcome {
    ClusterOutcome::failed("unreachable".into(), error.to_owned())
}

/// A failed row says what did not happen, and why; never what was tried.
fn failed(change: &RoleChange<'_>, error: &str) -> ClusterOutcome {
    ClusterOutcome::failed(change.not_done(), error.to_owned())
}

/// The outcome of a step that ended in `err`.
fn step_failed(change: &RoleChange<'_>, err: StepError) -> ClusterOutcome {
    match err {
        StepError::Failed(err) => failed(change, &err.message),
        StepError::Interrupted => {
            ClusterOutcome::failed("interrupted".into(), "interrupted".into())
        }
        StepError::InDoubt(message) => ClusterOutcome::failed(
            "in doubt".into(),
            format!(
                "no answer ({message}): the change may be in force here; check with `pgacct \
                 user show`"
            ),
        ),
    }
}

impl ClusterOutcome {
    pub(super) fn ok(status: String) -> ClusterOutcome {
        ClusterOutcome {
            outcome: Outcome::Ok,
            status,
            sessions: None,
            error: None,
            drift: Drift::default(),
            repaired: false,
            executed: Vec::new(),
            password_set: false,
            valid_until: None,
        }
    }

    fn failed(status: String, error: String) -> ClusterOutcome {
        ClusterOutcome { outcome: Outcome::Failed, error: Some(error), ..Self::ok(status) }
    }

    /// The status of one of the cluster's targets. Sessions belong to the
    /// cluster, so they are counted on its first target's row only
    /// (`counted_on` names that target on the others'): rows add up.
    pub fn status_at(&self, counted_on: Option<&str>) -> String {
        match (&self.sessions, counted_on) {
            (None, _) => self.status.clone(),
            (Some(sessions), None) => format!("{}; {sessions}", self.status),
            (Some(_), Some(first)) => format!("{}; sessions counted on {first}", self.status),
        }
    }

    fn with_drift(self, drift: Drift) -> ClusterOutcome {
        ClusterOutcome { drift, ..self }
    }

    /// The outcome, with `note` after its error.
    fn note(mut self, note: &str) -> ClusterOutcome {
        self.add_note(note);
        self
    }

    fn add_note(&mut self, note: &str) {
        self.error = Some(match self.error.take() {
            Some(error) => format!("{error}; {note}"),
            None => note.to_owned(),
        });
    }
}

/// Why a step did not complete.
#[derive(Debug)]
enum StepError {
    Failed(RoleError),
    Interrupted,
    /// A statement (or COMMIT) was sent and no answer came back.
    InDoubt(String),
}

impl StepError {
    fn message(&self) -> String {
        match self {
            StepError::Failed(err) => err.message.clone(),
            StepError::Interrupted => "interrupted".into(),
            StepError::InDoubt(message) => format!("no answer: {message}"),
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

/// The statements sent so far on one cluster. A statement is logged before
/// it is sent, as pending, with how it ends if no answer comes; the answer
/// settles it.
#[derive(Debug, Default)]
struct Log(RefCell<Vec<(Executed, bool)>>);

impl Log {
    /// Logs `statement` as sent, pending; `unanswered` is how it ends if no
    /// answer comes (a statement in a transaction rolls back with it; one
    /// on its own may or may not have committed).
    fn pending(&self, statement: &Statement, db: Option<&str>, unanswered: Ended) {
        let executed = Executed {
            statement: statement.shown.clone(),
            db: db.map(str::to_owned),
            ended: unanswered,
            effect: statement.effect,
        };
        self.0.borrow_mut().push((executed, true));
    }

    /// Ends the pending statements as `ended`.
    fn settle(&self, ended: Ended) {
        for (executed, pending) in self.0.borrow_mut().iter_mut().filter(|(_, p)| *p) {
            executed.ended = ended;
            *pending = false;
        }
    }

    /// Ends the pending statements as `ended`, except the `failed`-th of
    /// them, which failed.
    fn settle_with(&self, failed: Option<usize>, ended: Ended) {
        let mut log = self.0.borrow_mut();
        for (i, (executed, pending)) in log.iter_mut().filter(|(_, p)| *p).enumerate() {
            executed.ended = if Some(i) == failed { Ended::Failed } else { ended };
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

    /// Logs a statement that has ended already.
    fn done(&self, statement: &Statement, ended: Ended) {
        self.pending(statement, None, ended);
        self.settle(ended);
    }

    /// Forgets everything: the work turned out to be one the plan would have
    /// settled without running anything (the role was there, or was not),
    /// and every statement rolled back.
    fn clear(&self) {
        self.0.borrow_mut().clear();
    }

    /// Everything logged; what is still pending ends as it would unanswered.
    fn finish(&self) -> Vec<Executed> {
        self.0.borrow().iter().map(|(executed, _)| executed.clone()).collect()
    }
}

/// What every step of one cluster's work shares.
struct Step<'a> {
    name: &'a RoleName,
    /// The database of the cluster's own session: where its grants are.
    home: &'a str,
    interrupt: &'a Interrupt,
    log: &'a Log,
    /// Roles the admin made (or set about making) itself a member of, to
    /// take back.
    granted: RefCell<Vec<String>>,
    /// A create to take back: the grants before this index went in.
    undo: RefCell<Option<usize>>,
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
        self.transaction_with(session, db, statements, true).await
    }

    /// [`Step::transaction`], even after an interrupt: clean-up.
    async fn transaction_always(
        &self,
        session: &Session,
        db: Option<&str>,
        statements: &[Statement],
    ) -> Result<(), StepError> {
        self.transaction_with(session, db, statements, false).await
    }

    /// The transaction in one round trip: BEGIN, the lock, the statements
    /// and COMMIT go out together, pipelined. After a statement fails, the
    /// server refuses the rest of the transaction, and its COMMIT rolls it
    /// back; so the first error says which statement failed, and that
    /// nothing committed.
    async fn transaction_with(
        &self,
        session: &Session,
        db: Option<&str>,
        statements: &[Statement],
        interruptible: bool,
    ) -> Result<(), StepError> {
        if interruptible && self.interrupt.is_raised() {
            return Err(StepError::Interrupted);
        }
        let lock = format!(
            "SELECT pg_advisory_xact_lock(hashtextextended({}, 0))",
            escape_literal(&roles::lock_key(self.name))
        );
        // Grants on a database's objects queue on one lock per database
        // (taken after the role's, always in that order), as concurrent
        // GRANTs on one object fail with "tuple concurrently updated".
        let grants = statements.iter().any(|s| s.effect == Effect::Grants);
        let database_lock = grants.then(|| {
            format!(
                "SELECT pg_advisory_xact_lock(hashtextextended({}, 0))",
                escape_literal(roles::GRANTS_LOCK_KEY)
            )
        });
        for statement in statements {
            // Sent with their COMMIT: unanswered, they may have committed.
            // A grant on the cluster's own session is its database's.
            let at = db.or((statement.effect == Effect::Grants).then_some(self.home));
            self.log.pending(statement, at, Ended::InDoubt);
        }
        let locks = [Some(lock.as_str()), database_lock.as_deref()].into_iter().flatten();
        let flight = std::iter::once(("BEGIN", "BEGIN"))
            .chain(locks.map(|l| (l, l)))
            .chain(statements.iter().map(|s| (s.sql.as_str(), s.shown.as_str())))
            .chain([("COMMIT", "COMMIT")])
            .map(|(sql, shown)| session.execute_shown(sql, shown));
        // `join_all` polls the futures in order, so they are sent in order.
        let answers = join_all(flight).await;
        let Some((index, err)) = answers
            .iter()
            .enumerate()
            .find_map(|(i, answer)| answer.as_ref().err().map(|e| (i, e)))
        else {
            self.log.settle(Ended::Committed);
            return Ok(());
        };
        if err.code().is_none() {
            // No answer (the connection broke): it may have committed.
            return Err(StepError::InDoubt(crate::pg::connect::describe_error(err)));
        }
        // The first answers are BEGIN and the locks; the last is COMMIT.
        let before = 2 + usize::from(database_lock.is_some());
        let failed = index.checked_sub(before).filter(|i| *i < statements.len());
        self.log.settle_with(failed, Ended::RolledBack);
        Err(self.error(err, failed.map(|i| &statements[i])))
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
        self.statement_always(session, db, statement).await
    }

    /// Runs one statement even after an interrupt: clean-up that must happen.
    async fn statement_always(
        &self,
        session: &Session,
        db: Option<&str>,
        statement: &Statement,
    ) -> Result<(), StepError> {
        self.log.pending(statement, db, Ended::InDoubt);
        match session.execute(statement).await {
            Ok(()) => {
                self.log.settle(Ended::Committed);
                Ok(())
            }
            Err(err) if err.code().is_some() => {
                self.log.failed();
                Err(self.error(&err, Some(statement)))
            }
            Err(err) => Err(StepError::InDoubt(crate::pg::connect::describe_error(&err))),
        }
    }

    /// `GRANT role TO CURRENT_USER`, to be taken back: remembered before it
    /// is sent (taking back one that never took is only a warning).
    async fn grant_to_admin(
        &self,
        session: &Session,
        role: &str,
        version_num: i32,
    ) -> Result<(), StepError> {
        self.granted.borrow_mut().push(role.to_owned());
        self.statement(session, None, &roles::grant_to_admin(role, version_num)).await
    }

    /// Ends the role's sessions, and says what happened.
    async fn terminate(&self, session: &Session) -> String {
        match lifecycle::terminate_sessions(session, self.name).await {
            Ok(ended) => {
                if ended.ended > 0 || !ended.refused.is_empty() {
                    let text = format!(
                        "SELECT pg_terminate_backend(pid) -- {} session(s) of {} ended",
                        ended.ended, self.name
                    );
                    self.log.done(&Statement::plain(text), Ended::Committed);
                }
                terminate_status(&ended)
            }
            Err(err) => format!("could not end its sessions: {err}"),
        }
    }

    fn error(&self, err: &tokio_postgres::Error, statement: Option<&Statement>) -> StepError {
        if self.interrupt.is_raised() && err.code() == Some(&SqlState::QUERY_CANCELED) {
            return StepError::Interrupted;
        }
        StepError::Failed(RoleError::from_pg(err, statement))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn executed(effect: Effect, ended: Ended) -> Executed {
        Executed { statement: "S".into(), db: None, ended, effect }
    }

    #[test]
    fn executed_statements_say_how_they_ended_and_where() {
        let line = |ended, db: Option<&str>| {
            Executed {
                statement: "DROP OWNED BY \"x\"".into(),
                db: db.map(str::to_owned),
                ended,
                effect: Effect::Other,
            }
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
        log.pending(&statement, None, Ended::RolledBack);
        log.pending(&statement, None, Ended::RolledBack);
        log.failed();
        log.settle(Ended::RolledBack);
        log.done(&statement, Ended::Committed);
        let ended: Vec<Ended> = log.finish().iter().map(|e| e.ended).collect();
        assert_eq!(ended, [Ended::RolledBack, Ended::Failed, Ended::Committed]);
    }

    #[test]
    fn a_failed_transaction_names_its_statement_and_rolls_back_the_rest() {
        let statement = Statement::plain("ALTER ROLE \"x\" LOGIN".into());
        let log = Log::default();
        log.done(&statement, Ended::Committed);
        for _ in 0..3 {
            log.pending(&statement, None, Ended::InDoubt);
        }
        log.settle_with(Some(1), Ended::RolledBack);
        let ended: Vec<Ended> = log.finish().iter().map(|e| e.ended).collect();
        assert_eq!(ended, [Ended::Committed, Ended::RolledBack, Ended::Failed, Ended::RolledBack]);
        let unanswered = Log::default();
        unanswered.pending(&statement, None, Ended::InDoubt);
        assert_eq!(unanswered.finish()[0].ended, Ended::InDoubt, "sent with COMMIT, no answer");
    }

    #[test]
    fn the_log_tells_whether_the_new_password_may_be_in_force() {
        use Effect::{DropsRole, Other, SetsPassword};
        let in_force = |log: &[(Effect, Ended)]| {
            let log: Vec<Executed> = log.iter().map(|(e, n)| executed(*e, *n)).collect();
            password_may_be_in_force(&log)
        };
        assert!(!in_force(&[]));
        assert!(in_force(&[(SetsPassword, Ended::Committed), (Other, Ended::Failed)]));
        assert!(in_force(&[(SetsPassword, Ended::InDoubt)]));
        assert!(!in_force(&[(SetsPassword, Ended::RolledBack)]));
        assert!(!in_force(&[(SetsPassword, Ended::Committed), (DropsRole, Ended::Committed)]));
        assert!(in_force(&[(SetsPassword, Ended::Committed), (DropsRole, Ended::Failed)]));
    }
}
