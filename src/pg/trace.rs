//! What the connection layer does, told as it happens, for `-v`: each
//! connection attempt (where to, TLS, the authentication the server asked
//! for, how long, how many round trips), each statement and its duration,
//! and each connection's end. The command layer gives the [`Connector`]
//! an [`Observer`]; without one nothing is measured or told.
//!
//! Secrets are never told: a statement is told as it is shown
//! (`Statement::shown`, the verifier redacted) or as SQL whose values go
//! as bind parameters, which are never told. This module does not use the
//! `log` crate, through which tokio-postgres logs statements with their
//! parameters.
//!
//! [`Connector`]: super::Connector

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use super::settings::Endpoint;

/// Hears what the connection layer does. Called from the connection
/// tasks too, so it must be quick and must not block for long.
pub trait Observer: Send + Sync {
    fn event(&self, event: &Event<'_>);
}

/// An observer, shared by a connector's sessions and their tasks.
pub type Tracer = Arc<dyn Observer>;

/// Something the connection layer did.
#[derive(Debug)]
pub enum Event<'a> {
    /// A connection attempt ended: a session is ready, or `failure` says
    /// why not.
    Connect(&'a Connect<'a>),
    /// A statement was answered (or failed).
    Statement(&'a Ran<'a>),
    /// A connection ended.
    Closed(&'a Closed<'a>),
}

/// One connection attempt.
#[derive(Debug)]
pub struct Connect<'a> {
    pub target: &'a Endpoint,
    pub user: &'a str,
    /// `host:port` as the target names it (a socket directory, for a Unix
    /// socket).
    pub cluster: &'a str,
    /// The address connected to, for TCP.
    pub address: Option<SocketAddr>,
    pub tls: Tls,
    /// The method the server asked for, as `pg_hba.conf` names it; `None`
    /// when the attempt ended before it asked.
    pub auth: Option<String>,
    pub took: Duration,
    /// Round trips of the attempt, TLS handshake and authentication
    /// included.
    pub round_trips: u32,
    /// Why the attempt failed.
    pub failure: Option<String>,
}

/// The encryption of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    None,
    /// TLS, with the protocol version when known (`TLSv1.3`), and whether
    /// it was negotiated directly (`sslnegotiation=direct`) rather than
    /// after an `SSLRequest`.
    Tls {
        version: Option<&'static str>,
        direct: bool,
    },
}

/// One statement, as shown.
#[derive(Debug)]
pub struct Ran<'a> {
    pub target: &'a Endpoint,
    /// The statement, secrets redacted.
    pub sql: &'a str,
    pub took: Duration,
    /// How it failed: the SQLSTATE, or that no answer came.
    pub failed: Option<&'a str>,
    /// The round trip of the connection that brought the answer (statements
    /// sent together share one).
    pub round_trip: u32,
}

/// The end of a connection.
#[derive(Debug)]
pub struct Closed<'a> {
    pub target: &'a Endpoint,
    pub cluster: &'a str,
    /// Every round trip of the connection, from the first byte.
    pub round_trips: u32,
    pub lasted: Duration,
}
