//! pgacct's own connection layer with libpq's conventions: per-target
//! settings from the registry and the `PG*` environment, the admin
//! password from its sources in order, TLS with libpq's sslmodes, and
//! timeouts on every session.
//!
//! tokio-postgres honours none of libpq's environment, password file or
//! sslmodes, so its `Config` is built here, in code, never from a string;
//! and pgacct opens the sockets itself ([`wire`]), so that `-v` can tell
//! what went over them ([`trace`]).

mod connect;
mod credentials;
mod hosts;
pub mod inspect;
pub mod lifecycle;
pub mod pgpass;
pub mod privileges;
pub mod review;
pub mod roles;
pub mod rollout;
mod settings;
mod tls;
pub mod trace;
mod wire;

pub(crate) use connect::describe_error;
pub use connect::{ConnectError, Connections, Connector, Prompt, Session, SessionFacts};
pub use settings::{ConnSettings, InvalidEnvironment, LibpqEnv, StoreConn};
