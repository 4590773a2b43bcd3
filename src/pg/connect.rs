//! Opening sessions: settings, password, TLS and timeouts together, and
//! failures explained.

use std::collections::HashMap;
use std::error::Error as _;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_postgres::config::{ChannelBinding, SslMode as WireSslMode, SslNegotiation};
use tokio_postgres::error::SqlState;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Config, Row, SimpleQueryMessage};

use super::credentials::{self, AdminPassword, Credentials, PasswordSource};
use super::hosts::{self, PassedOver};
use super::roles::{RoleError, Statement};
use super::settings::{ConnSettings, Endpoint, LibpqEnv};
use super::tls::{self, TlsConnector};
use super::trace::{self, Event, Tracer};
use super::wire::{self, Route, Socket, Start, Watched, Wire};
use crate::config::ConnectionConfig;
use crate::registry::{SslMode, Target};
use crate::secret::Secret;

/// Asks the person at the terminal for a password.
pub trait Prompt: Send + Sync {
    /// `None` when no password was given.
    fn password(&self, question: &str) -> Option<Secret>;
}

/// Opens admin sessions to targets. One per run: it holds the password
/// sources and remembers prompted passwords per user and host set.
pub struct Connector {
    env: LibpqEnv,
    config: ConnectionConfig,
    credentials: Credentials,
    prompt: Option<Arc<dyn Prompt>>,
    prompted: tokio::sync::Mutex<HashMap<String, Secret>>,
    connections: Connections,
    /// Hears every connection and statement (`-v`); none: nothing is
    /// measured.
    tracer: Option<Tracer>,
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connector").field("prompt", &self.prompt.is_some()).finish_non_exhaustive()
    }
}

/// An open admin session to one target. [`Session::close`] ends it
/// cleanly; one that is dropped is ended by [`Connections::close_all`].
pub struct Session {
    client: Client,
    /// For cancel requests, which open a connection of their own: the
    /// route the session took, and its TLS.
    route: Route,
    tls: TlsConnector,
    /// The task that drives the connection, and the run's record of it.
    task: tokio::task::Id,
    connections: Connections,
    pub settings: ConnSettings,
    /// What the server said about itself as the session started.
    pub server: ServerInfo,
    /// What only a query tells, read once when first asked for.
    facts: tokio::sync::OnceCell<SessionFacts>,
    /// From the start of the attempt to a session ready for queries.
    pub connect_time: Duration,
    /// Where its statements are told (`-v`), and the watch on its wire.
    trace: Option<(Tracer, Arc<Wire>)>,
}

/// What the server reports as a session starts (its `ParameterStatus`
/// messages): known without a round trip.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// From `server_version`, e.g. 150018 for "15.18 (Debian ...)".
    pub version_num: i32,
    /// `server_version`, e.g. "15.18 (Debian 15.18-0+deb12u1)".
    pub version: String,
    /// The admin is a superuser (`is_superuser`).
    pub superuser: bool,
    /// `in_hot_standby`, which PostgreSQL reports from 14; `None` before.
    pub in_recovery: Option<bool>,
    /// `scram_iterations`, which PostgreSQL reports from 16.
    pub scram_iterations: Option<i32>,
    /// Whether sessions are read-only (hot standby, or
    /// `default_transaction_read_only`), as PostgreSQL 14 and later report
    /// at startup; `None` before 14.
    pub read_only: Option<bool>,
}

/// What a query tells about the server and the admin, beyond
/// [`ServerInfo`]: read by `registry check` and by plans that need it.
#[derive(Debug, Clone)]
pub struct SessionFacts {
    pub version_num: i32,
    pub in_recovery: bool,
    /// The TLS protocol in use, e.g. "TLSv1.3"; `None` when unencrypted.
    pub tls: Option<String>,
    pub superuser: bool,
    pub createrole: bool,
    pub createdb: bool,
    /// The admin inherits the privileges of the roles it is a member of.
    pub inherit: bool,
    pub password_encryption: String,
    /// Roles the admin holds ADMIN OPTION on: what a CREATEROLE admin may
    /// change from PostgreSQL 16.
    pub admin_option_roles: i64,
    /// The session's `lock_timeout` and `statement_timeout`, as the server
    /// shows them.
    pub lock_timeout: String,
    pub statement_timeout: String,
}

/// [`SessionFacts`] in one query. The own row of `pg_stat_ssl` is visible
/// to any role.
const SESSION_FACTS: &str = "\
SELECT current_setting('server_version_num')::int4,
       pg_is_in_recovery(),
       r.rolsuper, r.rolcreaterole, r.rolcreatedb,
       current_setting('password_encryption'),
       s.version,
       current_setting('lock_timeout'),
       current_setting('statement_timeout'),
       (SELECT count(*) FROM pg_auth_members a WHERE a.member = r.oid AND a.admin_option),
       r.rolinherit
  FROM pg_roles r
  LEFT JOIN pg_stat_ssl s ON s.pid = pg_backend_pid() AND s.ssl
 WHERE r.rolname = current_user";

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session").field("target", &self.settings.target).finish_non_exhaustive()
    }
}

/// How long a cancel request may take before pgacct gives up on it.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(3);

impl Session {
    /// Runs a query whose values go as bind parameters (`$1`), which are
    /// never told (`-v` shows `sql` only).
    pub async fn query_typed(
        &self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        self.traced(sql, self.client.query_typed(sql, params)).await
    }

    /// Runs `sql`, which carries no secret, with the simple protocol.
    pub async fn simple_query(
        &self,
        sql: &str,
    ) -> Result<Vec<SimpleQueryMessage>, tokio_postgres::Error> {
        self.traced(sql, self.client.simple_query(sql)).await
    }

    /// Runs `statement`; `-v` shows it as it is shown everywhere, secrets
    /// redacted.
    pub async fn execute(&self, statement: &Statement) -> Result<(), tokio_postgres::Error> {
        self.execute_shown(&statement.sql, &statement.shown).await
    }

    /// Runs `sql`, told as `shown`: the same SQL with any secret redacted.
    pub(super) async fn execute_shown(
        &self,
        sql: &str,
        shown: &str,
    ) -> Result<(), tokio_postgres::Error> {
        self.traced(shown, self.client.batch_execute(sql)).await
    }

    /// `work`, told as `shown` with its duration, when someone listens.
    async fn traced<T>(
        &self,
        shown: &str,
        work: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, tokio_postgres::Error> {
        let Some((tracer, wire)) = &self.trace else {
            return work.await;
        };
        let started = Instant::now();
        let result = work.await;
        let failed = result.as_ref().err().map(|err| match err.code() {
            Some(code) => code.code(),
            None => "no answer",
        });
        tracer.event(&Event::Statement(&trace::Ran {
            target: &self.settings.target,
            sql: shown,
            took: started.elapsed(),
            failed,
            round_trip: wire.round_trips(),
        }));
        result
    }

    /// Ends the session cleanly: the connection task sends Terminate and,
    /// on TLS, `close_notify` before the socket closes, so the server logs no
    /// broken connection.
    pub async fn close(self) {
        let Session { client, task, connections, .. } = self;
        drop(client);
        connections.finish(task).await;
    }

    /// What a query tells about the server and the admin (one round trip,
    /// the first time).
    pub async fn facts(&self) -> Result<&SessionFacts, RoleError> {
        self.facts.get_or_try_init(|| read_facts(self)).await
    }

    /// Asks the server to cancel the statement this session is running, if
    /// any, as psql does on Ctrl-C. The statement then fails with
    /// `query_canceled`; a session that runs nothing is not affected.
    pub async fn cancel(&self) {
        let token = self.client.cancel_token();
        // On a connection of its own, by the session's route (pgacct opens
        // its sockets itself, so tokio-postgres knows no route).
        let request = async {
            let socket = self.route.connect().await.ok()?;
            let mut tls = self.tls.for_attempt();
            let handshake =
                MakeTlsConnect::<Socket>::make_tls_connect(&mut tls, &self.settings.host).ok()?;
            token.cancel_query_raw(socket, handshake).await.ok()
        };
        // Best effort: an unanswered cancel leaves the statement to its
        // own timeouts.
        let _ = tokio::time::timeout(CANCEL_TIMEOUT, request).await;
    }
}

/// PostgreSQL 16 stopped CREATEROLE from changing roles one holds no
/// ADMIN OPTION on.
const ADMIN_OPTION_RULE_SINCE: i32 = 160_000;

impl SessionFacts {
    /// Whether the admin may create roles.
    pub fn creates_roles(&self) -> bool {
        self.superuser || self.createrole
    }

    /// Which existing roles the admin may change, in words.
    pub fn manages_roles(&self) -> String {
        if self.superuser {
            "all".into()
        } else if !self.createrole {
            "none".into()
        } else if self.version_num < ADMIN_OPTION_RULE_SINCE {
            "all but superusers".into()
        } else {
            format!("{} with ADMIN OPTION", self.admin_option_roles)
        }
    }
}

impl Connector {
    pub fn new(env: LibpqEnv, config: ConnectionConfig, prompt: Option<Arc<dyn Prompt>>) -> Self {
        let credentials = Credentials::load(&env);
        Connector {
            env,
            config,
            credentials,
            prompt,
            prompted: tokio::sync::Mutex::default(),
            connections: Connections::default(),
            tracer: None,
        }
    }

    /// Tells `tracer` about every connection and statement from now on.
    pub fn observe(&mut self, tracer: Tracer) {
        self.tracer = Some(tracer);
    }

    /// The connection tasks of this connector's sessions, for ending them
    /// cleanly before the runtime goes away.
    pub fn connections(&self) -> Connections {
        self.connections.clone()
    }

    /// Problems with the password sources, to be shown once.
    pub fn warnings(&self) -> Vec<String> {
        self.credentials.warnings()
    }

    pub fn settings(&self, target: &Target) -> ConnSettings {
        ConnSettings::resolve(target, &self.env, &self.config)
    }

    /// Refuses settings libpq would refuse before connecting (a weak
    /// sslmode with `PGSSLNEGOTIATION=direct`), naming the first target.
    pub fn check(&self, targets: &[Target]) -> Result<(), crate::registry::InvalidValue> {
        for target in targets {
            self.settings(target).check().map_err(|err| {
                crate::registry::InvalidValue::new(format!("{}: {err}", target.name()))
            })?;
        }
        Ok(())
    }

    /// Opens an admin session to `target`: to its host, or to the first
    /// read-write server of its host list.
    pub async fn connect(&self, target: &Target) -> Result<Session, ConnectError> {
        let settings = self.settings(target);
        // Of the whole host list: one prompt serves every host of it.
        let prompt_key = credentials::prompt_key(&settings);
        hosts::first_read_write(&settings, async |host| self.connect_host(host, &prompt_key).await)
            .await
    }

    /// Opens a session with `settings` made by the caller (the team
    /// store's, [`ConnSettings::for_store`]): TLS, password sources, prompt
    /// and host list as for a target.
    pub async fn connect_with(&self, settings: &ConnSettings) -> Result<Session, ConnectError> {
        settings
            .check()
            .map_err(|err| ConnectError::new(settings, Failure::Setup(err.to_string())))?;
        let prompt_key = credentials::prompt_key(settings);
        hosts::first_read_write(settings, async |host| self.connect_host(host, &prompt_key).await)
            .await
    }

    /// Opens an admin session to the one host of `settings`; `prompt_key`
    /// says which prompted password serves it.
    async fn connect_host(
        &self,
        settings: ConnSettings,
        prompt_key: &str,
    ) -> Result<Session, ConnectError> {
        let fail = |failure| ConnectError::new(&settings, failure);
        let tls = tls::connector(&settings).map_err(|err| fail(Failure::Setup(err.to_string())))?;
        let lookup = self.credentials.find(&settings).await;
        let (password, mut source) = lookup.found.unzip();
        let mut started = Instant::now();
        let mut result = self.attempt(&settings, &tls, password.as_ref()).await;
        if let Err(Failure::PasswordMissing) = result {
            if let Some(failure) = lookup.command_failed {
                return Err(fail(Failure::PasswordCommand(failure.to_string())));
            }
            let Some(password) = self.ask(&settings, prompt_key).await else {
                let mut looked_at = lookup.looked_at;
                if self.prompt.is_none() {
                    looked_at.push("no terminal to prompt on".into());
                }
                return Err(fail(Failure::NoPassword { looked_at }));
            };
            source = Some(PasswordSource::Prompt);
            started = Instant::now();
            result = self.attempt(&settings, &tls, Some(&AdminPassword::from(&password))).await;
        }
        match result {
            Ok(opened) => Ok(Session {
                client: opened.client,
                route: opened.route,
                tls,
                task: opened.task,
                connections: self.connections.clone(),
                settings: settings.clone(),
                server: opened.server,
                facts: tokio::sync::OnceCell::new(),
                connect_time: started.elapsed(),
                trace: self.tracer.clone().zip(opened.wire),
            }),
            Err(Failure::AuthFailed { message, .. }) => {
                Err(fail(Failure::AuthFailed { message, password_from: source }))
            }
            Err(failure) => Err(fail(failure)),
        }
    }

    /// Opens an admin session to database `db` of `target`'s cluster,
    /// registered or not, with `target`'s settings.
    pub async fn connect_to_database(
        &self,
        target: &Target,
        db: &str,
    ) -> Result<Session, ConnectError> {
        let mut other = target.clone();
        other.key.db = db.parse().map_err(|err: crate::registry::InvalidValue| {
            ConnectError::new(&self.settings(target), Failure::Setup(err.to_string()))
        })?;
        self.connect(&other).await
    }

    /// Whether `password` is `user`'s on `target`, found by logging in as
    /// it, but only where the server authenticates it with SCRAM (so that
    /// neither the password nor an MD5 hash of it goes to the server).
    /// `None` when that cannot tell: another method, no connection.
    pub async fn password_matches(
        &self,
        target: &Target,
        user: &str,
        password: &Secret,
    ) -> Option<bool> {
        // Any server of a host list will do: they hold the same roles.
        for settings in hosts::each_host(&self.settings(target)) {
            if let Some(answer) = self.password_matches_on(settings, user, password).await {
                return Some(answer);
            }
        }
        None
    }

    async fn password_matches_on(
        &self,
        mut settings: ConnSettings,
        user: &str,
        password: &Secret,
    ) -> Option<bool> {
        // With `allow`, a second attempt could take another route (TLS)
        // than the one the probe saw.
        if settings.sslmode == SslMode::Allow {
            return None;
        }
        settings.user = user.to_owned();
        let tls = tls::connector(&settings).ok()?;
        // Asked without a password and with channel binding required,
        // tokio-postgres says "password missing" only for SCRAM: it turns
        // cleartext and MD5 requests down before a password is looked for.
        let probe = self.attempt_with(&settings, &tls, None, ChannelBinding::Require).await;
        if !matches!(probe, Err(Failure::PasswordMissing)) {
            return None;
        }
        let password = AdminPassword::from(password);
        match self.attempt_with(&settings, &tls, Some(&password), ChannelBinding::Prefer).await {
            Ok(_) => Some(true),
            Err(Failure::AuthFailed { .. }) => Some(false),
            Err(_) => None,
        }
    }

    /// Asks once per user and host set (see [`credentials::prompt_key`]),
    /// one question at a time.
    async fn ask(&self, settings: &ConnSettings, key: &str) -> Option<Secret> {
        let prompt = self.prompt.clone()?;
        let mut prompted = self.prompted.lock().await;
        if let Some(known) = prompted.get(key) {
            return Some(known.clone());
        }
        let question =
            format!("Password for {}@{} ({})", settings.user, settings.cluster(), settings.target);
        let answer =
            tokio::task::spawn_blocking(move || prompt.password(&question)).await.ok()??;
        prompted.insert(key.to_owned(), answer.clone());
        Some(answer)
    }

    /// One connection attempt within the connect timeout, through to a
    /// session that has read its [`ServerInfo`].
    async fn attempt(
        &self,
        settings: &ConnSettings,
        tls: &TlsConnector,
        password: Option<&AdminPassword>,
    ) -> Result<Opened, Failure> {
        self.attempt_with(settings, tls, password, ChannelBinding::Prefer).await
    }

    /// With `allow` and `prefer`, libpq tries a second time, with or
    /// without TLS, after some failures of the first ([`tries_again`]).
    async fn attempt_with(
        &self,
        settings: &ConnSettings,
        tls: &TlsConnector,
        password: Option<&AdminPassword>,
        binding: ChannelBinding,
    ) -> Result<Opened, Failure> {
        let work = async {
            let mut failures = Vec::new();
            for mode in wire_modes(settings) {
                let tls = tls.for_attempt();
                let opened = self.open(settings, tls.clone(), password, *mode, binding).await;
                let failure = match opened {
                    Ok(opened) => return Ok(opened),
                    Err(failure) => failure,
                };
                let again = tries_again(settings.sslmode, &failure, tls.started());
                failures.push(failure);
                if !again {
                    break;
                }
            }
            let failure = reported(failures);
            if matches!(failure, Failure::TlsUnsupported) && self.not_postgres(settings, tls).await
            {
                return Err(Failure::NotPostgres(settings.cluster()));
            }
            Err(failure)
        };
        match settings.connect_timeout {
            Some(limit) => {
                tokio::time::timeout(limit, work).await.map_err(|_| Failure::Timeout(limit))?
            }
            None => work.await,
        }
    }

    /// Whether an endpoint that turned TLS down is not PostgreSQL at all
    /// (its answer to the `SSLRequest` was not 'S', but perhaps not 'N'
    /// either): asked for a plain session, without a password, it does not
    /// answer as PostgreSQL.
    async fn not_postgres(&self, settings: &ConnSettings, tls: &TlsConnector) -> bool {
        let probe = self.open(
            settings,
            tls.for_attempt(),
            None,
            WireSslMode::Disable,
            ChannelBinding::Disable,
        );
        matches!(probe.await, Err(Failure::NotPostgres(_)))
    }

    /// One connection attempt in wire mode `mode`: as tokio-postgres does,
    /// to each address of the host name in turn, whatever failed.
    async fn open(
        &self,
        settings: &ConnSettings,
        tls: TlsConnector,
        password: Option<&AdminPassword>,
        mode: WireSslMode,
        binding: ChannelBinding,
    ) -> Result<Opened, Failure> {
        let config = wire_config(settings, password, mode, binding);
        let routes = wire::routes(settings).await.map_err(|err| socket_failure(&err, settings))?;
        let mut failure = Failure::Other("the host name has no address".into());
        for route in routes {
            match self.open_route(settings, &config, tls.clone(), route).await {
                Ok(opened) => return Ok(opened),
                Err(failed) => failure = failed,
            }
        }
        Err(failure)
    }

    /// One connection by `route`, told to the tracer, if any.
    async fn open_route(
        &self,
        settings: &ConnSettings,
        config: &Config,
        tls: TlsConnector,
        route: Route,
    ) -> Result<Opened, Failure> {
        let Some(tracer) = &self.tracer else {
            return open(settings, config, tls, route, &self.connections, None).await;
        };
        let started = Instant::now();
        let wire = Wire::new();
        let watch = Some(Watch { tracer, wire: &wire, started });
        let address = route.address();
        let result = open(settings, config, tls.clone(), route, &self.connections, watch).await;
        let direct = config.get_ssl_negotiation() == SslNegotiation::Direct;
        let tls_used = tls.started() && !matches!(result, Err(Failure::TlsUnsupported));
        let failure = result.as_ref().err();
        let cluster = settings.cluster();
        tracer.event(&Event::Connect(&trace::Connect {
            target: &settings.target,
            user: &settings.user,
            cluster: &cluster,
            address,
            tls: if tls_used {
                trace::Tls::Tls { version: tls.version(), direct }
            } else {
                trace::Tls::None
            },
            auth: wire.auth_request().map(|request| {
                request.method(settings.is_socket() || (tls_used && settings.sslcert.is_some()))
            }),
            took: started.elapsed(),
            round_trips: wire.round_trips(),
            failure: failure.map(ToString::to_string),
        }));
        result
    }
}

/// A session's client, what it learned of its server, its connection
/// task, the route it took, and the watch on its wire (`-v`).
struct Opened {
    client: Client,
    server: ServerInfo,
    task: tokio::task::Id,
    route: Route,
    wire: Option<Arc<Wire>>,
}

/// The wire-level TLS modes to try, in order. PostgreSQL never speaks TLS
/// over a Unix socket, so libpq does not ask there.
fn wire_modes(settings: &ConnSettings) -> &'static [WireSslMode] {
    if settings.is_socket() {
        return &[WireSslMode::Disable];
    }
    match settings.sslmode {
        SslMode::Disable => &[WireSslMode::Disable],
        // The TLS retry of `allow` still takes a server's "no" for plain
        // text, as libpq's does.
        SslMode::Allow => &[WireSslMode::Disable, WireSslMode::Prefer],
        SslMode::Prefer => &[WireSslMode::Prefer, WireSslMode::Disable],
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => &[WireSslMode::Require],
    }
}

/// Whether libpq tries the next of [`wire_modes`] after `failure`.
fn tries_again(sslmode: SslMode, failure: &Failure, tls_started: bool) -> bool {
    match sslmode {
        // Plain text first; the server's refusal while the session starts
        // (an ErrorResponse: pg_hba.conf, a password) sends libpq to TLS.
        SslMode::Allow => {
            !tls_started && matches!(failure, Failure::Server { .. } | Failure::AuthFailed { .. })
        }
        // TLS first; once the server agreed to TLS, any failure but a
        // missing password (a failed handshake or certificate check, a
        // refusal) sends libpq to plain text.
        SslMode::Prefer => tls_started && !matches!(failure, Failure::PasswordMissing),
        _ => false,
    }
}

/// Which failure of an attempt to report: the last, unless it only says
/// that `pg_hba.conf` has no line for its route while an earlier one says
/// more (with `prefer`: the certificate the TLS try refused, not the plain
/// retry's rejection).
fn reported(mut failures: Vec<Failure>) -> Failure {
    let Some(last) = failures.pop() else {
        return Failure::Other("no connection attempt was made".into());
    };
    if !last.is_hba_rejection() {
        return last;
    }
    failures.into_iter().rev().find(|failure| !failure.is_hba_rejection()).unwrap_or(last)
}

/// The settings of one attempt, for tokio-postgres.
fn wire_config(
    settings: &ConnSettings,
    password: Option<&AdminPassword>,
    mode: WireSslMode,
    binding: ChannelBinding,
) -> Config {
    let mut config = Config::new();
    if settings.is_socket() {
        config.host_path(&settings.host);
    } else {
        config.host(&settings.host);
    }
    config
        .port(settings.port)
        .dbname(&settings.dbname)
        .user(&settings.user)
        .application_name(&settings.application_name)
        // Startup options: set before the first statement, and not logged as
        // one; the connection string's own first, so pgacct's timeouts win.
        .options(format!(
            "{}-c lock_timeout={} -c statement_timeout={}",
            settings.options.as_deref().map_or(String::new(), |options| format!("{options} ")),
            settings.lock_timeout.as_millis(),
            settings.statement_timeout.as_millis()
        ))
        .ssl_mode(mode)
        .ssl_negotiation(if settings.direct_tls() && mode == WireSslMode::Require {
            SslNegotiation::Direct
        } else {
            SslNegotiation::Postgres
        })
        .channel_binding(binding);
    if let Some(password) = password {
        config.password(password.as_bytes());
    }
    config
}

/// Where the plain-text protocol starts on a socket of `config`.
fn plain_text_start(config: &Config) -> Start {
    match (config.get_ssl_mode(), config.get_ssl_negotiation()) {
        (WireSslMode::Disable, _) => Start::Now,
        (_, SslNegotiation::Direct) => Start::Never,
        _ => Start::AfterSslAnswer,
    }
}

/// What watches a connection attempt (`-v`): the wire, the tracer that
/// hears of the connection's end, and when the attempt started.
#[derive(Clone, Copy)]
struct Watch<'a> {
    tracer: &'a Tracer,
    wire: &'a Arc<Wire>,
    started: Instant,
}

/// Opens a session by `route`, watched or not.
async fn open(
    settings: &ConnSettings,
    config: &Config,
    tls: TlsConnector,
    route: Route,
    connections: &Connections,
    watch: Option<Watch<'_>>,
) -> Result<Opened, Failure> {
    let socket = route.connect().await.map_err(|err| socket_failure(&err, settings))?;
    let wire = watch.map(|watch| Arc::clone(watch.wire));
    let socket = match &wire {
        Some(wire) => Watched::socket(socket, Arc::clone(wire), plain_text_start(config)),
        None => Watched::unwatched(socket),
    };
    let mut tls = tls.watched(wire.clone());
    let handshake = MakeTlsConnect::<Watched<Socket>>::make_tls_connect(&mut tls, &settings.host)
        .map_err(|err| Failure::Setup(err.to_string()))?;
    let (client, connection) = config.connect_raw(socket, handshake).await.map_err(|err| {
        direct_tls_refused(&err, settings).unwrap_or_else(|| failure(&err, settings))
    })?;
    let server = ServerInfo::reported(|name| connection.parameter(name))?;
    let closing = watch.map(|watch| Closing {
        tracer: Arc::clone(watch.tracer),
        wire: Arc::clone(watch.wire),
        target: settings.target.clone(),
        cluster: settings.cluster(),
        started: watch.started,
    });
    let task = connections.spawn(connection, closing);
    Ok(Opened { client, server, task, route, wire })
}

/// A socket that could not be opened, as tokio-postgres would have said.
fn socket_failure(err: &std::io::Error, settings: &ConnSettings) -> Failure {
    match err.kind() {
        std::io::ErrorKind::ConnectionRefused => Failure::Refused,
        std::io::ErrorKind::NotFound if settings.is_socket() => {
            Failure::NoSocket(settings.host.clone())
        }
        _ => Failure::Network(format!("error connecting to server: {err}")),
    }
}

/// What a traced connection's task tells when the connection ends.
struct Closing {
    tracer: Tracer,
    wire: Arc<Wire>,
    target: Endpoint,
    cluster: String,
    started: Instant,
}

impl Closing {
    fn closed(&self) {
        self.tracer.event(&Event::Closed(&trace::Closed {
            target: &self.target,
            cluster: &self.cluster,
            round_trips: self.wire.round_trips(),
            lasted: self.started.elapsed(),
        }));
    }
}

/// The connection tasks of a run's sessions. Dropping a session's client
/// only asks its task to end the connection (Terminate, then TLS
/// `close_notify`); the task must still run for that to happen, so a run
/// waits for them ([`Connections::close_all`]) before its runtime goes.
#[derive(Debug, Clone, Default)]
pub struct Connections(Arc<Mutex<Vec<JoinHandle<()>>>>);

/// How long ending connections may take: each sends a few bytes.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

impl Connections {
    fn spawn<C>(&self, connection: C, closing: Option<Closing>) -> tokio::task::Id
    where
        C: Future<Output = Result<(), tokio_postgres::Error>> + Send + 'static,
    {
        // The connection's own error, if any, reaches its client's queries.
        let handle = tokio::spawn(async move {
            let _ = connection.await;
            if let Some(closing) = closing {
                closing.closed();
            }
        });
        let id = handle.id();
        let mut tasks = self.tasks();
        tasks.retain(|task| !task.is_finished());
        tasks.push(handle);
        id
    }

    /// Waits for the task `id` to end, once its client is gone.
    async fn finish(&self, id: tokio::task::Id) {
        let handle = {
            let mut tasks = self.tasks();
            tasks.iter().position(|task| task.id() == id).map(|i| tasks.swap_remove(i))
        };
        if let Some(handle) = handle {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, handle).await;
        }
    }

    /// Waits for every connection task to end; for when every session is
    /// gone, before the runtime is dropped.
    pub async fn close_all(&self) {
        let handles = std::mem::take(&mut *self.tasks());
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, futures_util::future::join_all(handles)).await;
    }

    fn tasks(&self) -> std::sync::MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ServerInfo {
    /// From the parameters the server reported at startup (`parameter`
    /// looks one up).
    fn reported<'a>(parameter: impl Fn(&str) -> Option<&'a str>) -> Result<ServerInfo, Failure> {
        let version = parameter("server_version").unwrap_or_default().to_owned();
        let version_num = version_num(&version).ok_or_else(|| {
            Failure::Other(format!(
                "the server reported no version pgacct understands ({version:?})"
            ))
        })?;
        let on = |name| parameter(name).map(|value| value == "on");
        Ok(ServerInfo {
            version_num,
            version,
            superuser: on("is_superuser").unwrap_or(false),
            in_recovery: on("in_hot_standby"),
            scram_iterations: parameter("scram_iterations").and_then(|i| i.parse().ok()),
            read_only: hosts::reported_read_only(
                parameter("in_hot_standby"),
                parameter("default_transaction_read_only"),
            ),
        })
    }
}

/// `server_version_num` from `server_version`: "15.18 (Debian ...)" is
/// 150018, "18beta1" 180000. `None` before PostgreSQL 10, whose versions
/// have three parts (and which pgacct does not support).
fn version_num(version: &str) -> Option<i32> {
    let digits = |text: &str| -> Option<(i32, usize)> {
        let end = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        Some((text[..end].parse().ok()?, end))
    };
    let (major, end) = digits(version)?;
    if major < 10 {
        return None;
    }
    let minor = match version[end..].strip_prefix('.') {
        Some(rest) => digits(rest)?.0,
        None => 0,
    };
    Some(major * 10_000 + minor)
}

async fn read_facts(session: &Session) -> Result<SessionFacts, RoleError> {
    let pg = |err| RoleError::from_pg(&err, None);
    let rows = session.query_typed(SESSION_FACTS, &[]).await.map_err(pg)?;
    let row = rows.first().ok_or_else(|| RoleError {
        message: "the admin role is not in pg_roles".into(),
        statement: None,
        code: None,
        on_data: false,
    })?;
    Ok(SessionFacts {
        version_num: row.try_get(0).map_err(pg)?,
        in_recovery: row.try_get(1).map_err(pg)?,
        superuser: row.try_get(2).map_err(pg)?,
        createrole: row.try_get(3).map_err(pg)?,
        createdb: row.try_get(4).map_err(pg)?,
        password_encryption: row.try_get(5).map_err(pg)?,
        tls: row.try_get(6).map_err(pg)?,
        lock_timeout: row.try_get(7).map_err(pg)?,
        statement_timeout: row.try_get(8).map_err(pg)?,
        admin_option_roles: row.try_get(9).map_err(pg)?,
        inherit: row.try_get(10).map_err(pg)?,
    })
}

/// Why a session could not be opened.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Failure {
    #[error("no password found (looked at {})", looked_at.join(", "))]
    NoPassword { looked_at: Vec<String> },
    /// The server asked for a password and none was given (internal: the
    /// connector turns it into a prompt or [`Failure::NoPassword`]).
    #[error("the server asked for a password")]
    PasswordMissing,
    #[error("{message}")]
    AuthFailed { message: String, password_from: Option<PasswordSource> },
    #[error("{message}")]
    Server { code: String, message: String },
    #[error("connection refused")]
    Refused,
    #[error("no server socket in {0}")]
    NoSocket(String),
    #[error("timed out after {} s", .0.as_secs())]
    Timeout(Duration),
    #[error("{0}")]
    Tls(String),
    #[error("the server does not accept TLS connections")]
    TlsUnsupported,
    /// Something else listens there (an HTTP or SSH server, ...); holds the
    /// cluster.
    #[error("{0} did not answer as PostgreSQL")]
    NotPostgres(String),
    /// The admin password command failed (it says how, never its output).
    #[error("{0}")]
    PasswordCommand(String),
    #[error(
        "the server closed the connection at the direct TLS handshake: it does not support \
         sslnegotiation=direct (PostgreSQL 17 and later do, with ssl = on)"
    )]
    DirectTlsUnsupported,
    #[error("{0}")]
    Setup(String),
    #[error("{0}")]
    Network(String),
    #[error("{0}")]
    Other(String),
    /// No server of a host list takes writes.
    #[error("no host is a read-write primary: {}", hosts::describe(.0))]
    NoReadWriteHost(Vec<PassedOver>),
}

impl Failure {
    /// The server's "no `pg_hba.conf` entry": no line for this route (user,
    /// database, address, encryption).
    fn is_hba_rejection(&self) -> bool {
        matches!(self, Failure::Server { code, message }
            if code == "28000" && message.starts_with("no pg_hba.conf entry"))
    }
}

/// A session to a target could not be opened; says which, where, and why.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot connect to {target} ({cluster}) as {user}: {failure}")]
pub struct ConnectError {
    pub target: Endpoint,
    pub cluster: String,
    pub user: String,
    pub failure: Failure,
    sslmode: SslMode,
    socket: bool,
}

impl ConnectError {
    pub(super) fn new(settings: &ConnSettings, failure: Failure) -> Self {
        ConnectError {
            target: settings.target.clone(),
            cluster: settings.cluster(),
            user: settings.user.clone(),
            failure,
            sslmode: settings.sslmode,
            socket: settings.is_socket(),
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        let Endpoint::Target(target) = &self.target else {
            return self.store_hint();
        };
        let env = target.env.as_str();
        Some(match &self.failure {
            Failure::NoPassword { .. } => format!(
                "set {} (or PGACCT_ADMIN_PASSWORD), an admin_password_command ([env.{env}] in \
                 config.toml), or add a line host:port:database:user:password to ~/.pgpass \
                 with mode 0600",
                LibpqEnv::per_env_password_variable(env)
            ),
            Failure::PasswordCommand(_) => "run the command yourself to see what it says; it \
                                            is set on the target (registry show) or in \
                                            config.toml's [env.NAME]"
                .into(),
            Failure::DirectTlsUnsupported => format!(
                "use sslnegotiation postgres for this server: pgacct registry update --env {} \
                 --db {} --unset sslnegotiation (and unset PGSSLNEGOTIATION)",
                env,
                crate::registry::shell_word(target.db.as_str())
            ),
            Failure::NotPostgres(_) => format!(
                "something else (an HTTP or SSH server?) listens there: check the host and port \
                 with pgacct registry show --env {} --db {}",
                env,
                target.db.as_str()
            ),
            Failure::Server { code, message } => return server_hint(code, message, self),
            _ => return self.common_hint(),
        })
    }

    /// What to do about a failure to reach the team store.
    fn store_hint(&self) -> Option<String> {
        Some(match &self.failure {
            Failure::NoPassword { .. } => "set PGPASSWORD, a [store] password_command in \
                                           config.toml, or add a line \
                                           host:port:database:user:password to ~/.pgpass with \
                                           mode 0600 (never a password in the URL)"
                .into(),
            Failure::PasswordCommand(_) => "run the command yourself to see what it says; it is \
                                            [store] password_command in config.toml"
                .into(),
            Failure::DirectTlsUnsupported => "use sslnegotiation=postgres in the store URL (and \
                                              unset PGSSLNEGOTIATION)"
                .into(),
            Failure::NotPostgres(_) => "something else (an HTTP or SSH server?) listens there: \
                                        check the host and port of the store URL"
                .into(),
            Failure::AuthFailed { password_from: Some(source), .. } => {
                format!("the password came from {source}; check it, and the user in the store URL")
            }
            Failure::Server { code, .. } if code == "3D000" => {
                "check the database name of the store URL (--registry, PGACCT_REGISTRY or \
                 [store] url)"
                    .into()
            }
            Failure::Server { code, message } => return server_hint(code, message, self),
            _ => return self.common_hint(),
        })
    }

    /// What to do, where it does not depend on what the session is for.
    fn common_hint(&self) -> Option<String> {
        Some(match &self.failure {
            Failure::AuthFailed { password_from: Some(source), .. } => {
                format!("the password came from {source}; check it, and the admin role")
            }
            Failure::AuthFailed { password_from: None, .. } => {
                "check the admin role and how the server authenticates it (pg_hba.conf)".into()
            }
            Failure::Refused => format!(
                "is PostgreSQL running on {}, and does listen_addresses include that address?",
                self.cluster
            ),
            Failure::NoSocket(_) => {
                "is PostgreSQL running, with this socket directory and port?".into()
            }
            Failure::Timeout(_) => "check the network path and firewalls; PGCONNECT_TIMEOUT or \
                                    [connection] connect_timeout in config.toml set the limit"
                .into(),
            Failure::Tls(_) => "check the root certificate (sslrootcert, else \
                                ~/.postgresql/root.crt) and the server's certificate; without a \
                                root certificate file, sslmode require encrypts without verifying"
                .into(),
            Failure::TlsUnsupported => format!(
                "sslmode {} needs TLS; enable ssl on the server or use sslmode prefer",
                self.sslmode
            ),
            Failure::NoReadWriteHost(_) => "pgacct works only on the primary of a host list; \
                                            during a failover, run it again once one is promoted"
                .into(),
            Failure::NoPassword { .. }
            | Failure::PasswordCommand(_)
            | Failure::DirectTlsUnsupported
            | Failure::NotPostgres(_)
            | Failure::Server { .. }
            | Failure::PasswordMissing
            | Failure::Setup(_)
            | Failure::Network(_)
            | Failure::Other(_) => return None,
        })
    }
}

fn server_hint(code: &str, message: &str, err: &ConnectError) -> Option<String> {
    match code {
        // "no encryption" from PostgreSQL 14, "SSL off" before.
        "28000"
            if (message.contains("no encryption") || message.contains("SSL off"))
                && !err.socket =>
        {
            Some(format!(
                "the server accepts only TLS connections from here, but sslmode is {}; use \
             sslmode require or stronger",
                err.sslmode
            ))
        }
        "28000" => Some("the server's pg_hba.conf does not let this role in from here".into()),
        "3D000" => match &err.target {
            Endpoint::Target(target) => Some(format!(
                "check the database name: pgacct registry show --env {} --db {}",
                target.env.as_str(),
                target.db.as_str()
            )),
            Endpoint::Store => None,
        },
        "53300" => Some("the server has no free connection slots".into()),
        "57P03" => Some("the server is starting up or shutting down; try again".into()),
        _ => None,
    }
}

/// A direct TLS handshake the server ended without a word: what a server
/// before PostgreSQL 17 (or one without TLS) does with a `ClientHello` where
/// it expects a startup packet. libpq says only "SSL SYSCALL error: EOF
/// detected".
fn direct_tls_refused(err: &tokio_postgres::Error, settings: &ConnSettings) -> Option<Failure> {
    if !settings.direct_tls() || err.as_db_error().is_some() {
        return None;
    }
    let io = find_cause::<std::io::Error>(err)?;
    let ended = matches!(
        io.kind(),
        std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::BrokenPipe
    );
    ended.then_some(Failure::DirectTlsUnsupported)
}

/// Classifies a tokio-postgres error. Its `Display` says little ("db
/// error"); the cause is further down the chain.
fn failure(err: &tokio_postgres::Error, settings: &ConnSettings) -> Failure {
    if let Some(db) = err.as_db_error() {
        let message = db.message().to_owned();
        if *db.code() == SqlState::INVALID_PASSWORD {
            return Failure::AuthFailed { message, password_from: None };
        }
        return Failure::Server { code: db.code().code().to_owned(), message };
    }
    if let Some(setup) = find_cause::<tls::TlsSetupError>(err) {
        return Failure::Setup(setup.to_string());
    }
    if let Some(tls) = find_cause::<rustls::Error>(err) {
        if tls::is_not_tls(tls) {
            return Failure::NotPostgres(settings.cluster());
        }
        return Failure::Tls(tls::describe(tls, settings));
    }
    let text = describe_error(err);
    if text.contains("password missing") {
        return Failure::PasswordMissing;
    }
    if text.contains("server does not support TLS") {
        return Failure::TlsUnsupported;
    }
    if NOT_POSTGRES.iter().any(|sign| text.contains(sign)) {
        return Failure::NotPostgres(settings.cluster());
    }
    if let Some(io) = find_cause::<std::io::Error>(err) {
        return match io.kind() {
            std::io::ErrorKind::ConnectionRefused => Failure::Refused,
            std::io::ErrorKind::NotFound if settings.is_socket() => {
                Failure::NoSocket(settings.host.clone())
            }
            _ => Failure::Network(text),
        };
    }
    Failure::Other(text)
}

/// What tokio-postgres says when the other end sends bytes that are not
/// PostgreSQL's protocol (an HTTP answer, an SSH greeting).
const NOT_POSTGRES: &[&str] = &[
    "unexpected message from server",
    "bytes remaining on stream",
    "invalid message length",
    "unknown message tag",
    "unknown authentication tag",
];

/// The first error of type `T` in the chain, looking inside `io::Error`s too
/// (whose `source()` skips the error they wrap).
fn find_cause<'a, T: std::error::Error + 'static>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut next = Some(err);
    while let Some(err) = next {
        if let Some(found) = err.downcast_ref::<T>() {
            return Some(found);
        }
        if let Some(inner) = err.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            if let Some(found) = inner.downcast_ref::<T>() {
                return Some(found);
            }
            if let Some(found) = find_cause::<T>(inner) {
                return Some(found);
            }
        }
        next = err.source();
    }
    None
}

/// The error and its causes, joined: tokio-postgres keeps the useful part
/// in the causes.
pub(crate) fn describe_error(err: &tokio_postgres::Error) -> String {
    let mut text = err.to_string();
    let mut next = err.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(code: &str, message: &str) -> Failure {
        Failure::Server { code: code.into(), message: message.into() }
    }

    fn hba_rejection() -> Failure {
        server(
            "28000",
            r#"no pg_hba.conf entry for host "10.0.0.1", user "u", database "d", no encryption"#,
        )
    }

    fn auth_failed() -> Failure {
        Failure::AuthFailed {
            message: "password authentication failed".into(),
            password_from: None,
        }
    }

    #[test]
    fn prefer_tries_plain_text_after_any_failure_once_tls_was_taken_up() {
        let tls_failed = Failure::Tls("TLS verification failed".into());
        for failure in
            [tls_failed, hba_rejection(), auth_failed(), Failure::Network("reset".into())]
        {
            assert!(tries_again(SslMode::Prefer, &failure, true), "{failure:?}");
            assert!(!tries_again(SslMode::Prefer, &failure, false), "{failure:?}");
        }
        assert!(!tries_again(SslMode::Prefer, &Failure::PasswordMissing, true));
    }

    #[test]
    fn allow_tries_tls_after_the_server_refused_plain_text() {
        assert!(tries_again(SslMode::Allow, &hba_rejection(), false));
        assert!(tries_again(SslMode::Allow, &auth_failed(), false));
        assert!(!tries_again(SslMode::Allow, &Failure::Refused, false));
        assert!(!tries_again(SslMode::Allow, &Failure::PasswordMissing, false));
        for mode in [SslMode::Disable, SslMode::Require, SslMode::VerifyCa, SslMode::VerifyFull] {
            assert!(!tries_again(mode, &hba_rejection(), true));
        }
    }

    #[test]
    fn the_failure_reported_is_the_one_that_says_more() {
        let tls_failed = Failure::Tls("TLS verification failed".into());
        // prefer: a refused certificate, then pg_hba.conf turns plain text away.
        let failure = reported(vec![tls_failed, hba_rejection()]);
        assert!(matches!(failure, Failure::Tls(_)), "{failure:?}");
        // allow: pg_hba.conf turns plain text away, then the password is wrong.
        let failure = reported(vec![hba_rejection(), auth_failed()]);
        assert!(matches!(failure, Failure::AuthFailed { .. }), "{failure:?}");
        let failure = reported(vec![hba_rejection(), hba_rejection()]);
        assert!(failure.is_hba_rejection());
        let failure =
            reported(vec![auth_failed(), server("3D000", "database \"x\" does not exist")]);
        assert!(matches!(failure, Failure::Server { .. }), "{failure:?}");
    }
}
