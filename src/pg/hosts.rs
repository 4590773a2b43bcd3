//! Host lists: a target whose host lists several servers (`db1,db2`) is
//! reached on the first of them that accepts writes, as libpq's
//! `target_session_attrs=read-write` does, so that a failover needs no
//! registry change.
//!
//! The hosts are tried in order, each within the connect timeout, and each
//! with its own password-file line. A host that cannot be reached, or that
//! refuses the session (starting up, too many connections), is passed over,
//! and so is one whose sessions are read-only (a standby, or
//! `default_transaction_read_only`). An authentication failure ends the
//! search, as in libpq: the other hosts hold the same roles. A single host
//! is used as it is, without a check: the plan reports a standby.

use std::fmt::Write as _;

use super::connect::{ConnectError, Failure, Session};
use super::settings::ConnSettings;
use crate::registry::Host;

/// The settings for each server of `settings`' host, in order: one for a
/// single host, the same settings.
pub(super) fn each_host(settings: &ConnSettings) -> Vec<ConnSettings> {
    let Ok(host) = settings.host.parse::<Host>() else { return vec![settings.clone()] };
    if !host.is_list() {
        return vec![settings.clone()];
    }
    host.entries(settings.port)
        .into_iter()
        .map(|entry| ConnSettings { host: entry.host, port: entry.port, ..settings.clone() })
        .collect()
}

/// A session to the first read-write server of `settings`' host list,
/// opened with `connect` (one host's settings to a session); to the one
/// host, unchecked, when it is not a list.
pub(super) async fn first_read_write(
    settings: &ConnSettings,
    connect: impl AsyncFn(ConnSettings) -> Result<Session, ConnectError>,
) -> Result<Session, ConnectError> {
    let hosts = each_host(settings);
    if hosts.len() < 2 {
        return connect(settings.clone()).await;
    }
    let mut passed_over = Vec::with_capacity(hosts.len());
    for host in hosts {
        let name = host.cluster();
        let why = match connect(host).await {
            Ok(session) => match read_only(&session).await {
                Ok(None) => return Ok(session),
                Ok(Some(why)) => why.to_owned(),
                Err(failure) => failure.to_string(),
            },
            Err(err) if ends_the_search(&err.failure) => return Err(err),
            Err(err) => err.failure.to_string(),
        };
        passed_over.push(PassedOver { host: name, why });
    }
    Err(ConnectError::new(settings, Failure::NoReadWriteHost(passed_over)))
}

/// A server of a host list that was not used, and why.
#[derive(Debug, Clone)]
pub struct PassedOver {
    /// `host:port`.
    pub host: String,
    pub why: String,
}

/// `db1:5432: read-only standby; db2:5432: connection refused`.
pub(super) fn describe(passed_over: &[PassedOver]) -> String {
    let mut text = String::new();
    for (i, host) in passed_over.iter().enumerate() {
        let separator = if i == 0 { "" } else { "; " };
        let _ = write!(text, "{separator}{}: {}", host.host, host.why);
    }
    text
}

/// Failures the next host would repeat: the credentials were turned down.
fn ends_the_search(failure: &Failure) -> bool {
    matches!(failure, Failure::AuthFailed { .. } | Failure::NoPassword { .. })
}

/// Why `session`'s server does not take writes, or `None` when it does.
/// From PostgreSQL 14 the server says so at startup (`in_hot_standby`,
/// `default_transaction_read_only`); before, as libpq does, one query asks.
async fn read_only(session: &Session) -> Result<Option<&'static str>, Failure> {
    let (read_only, in_recovery) = match (session.server.read_only, session.server.in_recovery) {
        (Some(read_only), Some(in_recovery)) => (read_only, in_recovery),
        _ => ask_read_only(session).await?,
    };
    Ok(match (read_only, in_recovery) {
        (false, _) => None,
        (true, true) => Some("read-only standby"),
        (true, false) => Some("read-only (default_transaction_read_only is on)"),
    })
}

/// Whether the session is read-only, and the server in recovery.
async fn ask_read_only(session: &Session) -> Result<(bool, bool), Failure> {
    let messages = session
        .simple_query(
            "SELECT current_setting('transaction_read_only') = 'on', pg_catalog.pg_is_in_recovery()",
        )
        .await
        .map_err(|err| Failure::Other(super::connect::describe_error(&err)))?;
    let answer = messages.iter().find_map(|message| match message {
        tokio_postgres::SimpleQueryMessage::Row(row) => Some((row.get(0), row.get(1))),
        _ => None,
    });
    Ok(match answer {
        Some((read_only, in_recovery)) => (read_only == Some("t"), in_recovery == Some("t")),
        None => (false, false),
    })
}

/// Whether sessions are read-only, from the startup parameters
/// `in_hot_standby` and `default_transaction_read_only`, as libpq reads
/// them; `None` when the server does not report both (before 14).
pub(super) fn reported_read_only(
    in_hot_standby: Option<&str>,
    default_transaction_read_only: Option<&str>,
) -> Option<bool> {
    match (in_hot_standby, default_transaction_read_only) {
        (Some(standby), Some(read_only)) => Some(standby == "on" || read_only == "on"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConnectionConfig;
    use crate::pg::settings::LibpqEnv;
    use crate::registry::Target;

    fn settings(host: &str, port: u16) -> ConnSettings {
        let target = Target { host: host.parse().unwrap(), port, ..Target::example("qa", "app") };
        ConnSettings::resolve(&target, &LibpqEnv::default(), &ConnectionConfig::default())
    }

    #[test]
    fn each_host_of_a_list_gets_its_own_settings() {
        let hosts: Vec<String> =
            each_host(&settings("db1:6432,db2", 5433)).iter().map(ConnSettings::cluster).collect();
        assert_eq!(hosts, ["db1:6432", "db2:5433"]);
        let one = each_host(&settings("/var/run/postgresql", 5432));
        assert_eq!(one.len(), 1);
        assert!(one[0].is_socket());
        let sockets = each_host(&settings("/run/a,/run/b:5433", 5432));
        assert!(sockets.iter().all(ConnSettings::is_socket));
        assert_eq!(sockets[1].cluster(), "/run/b:5433");
    }

    #[test]
    fn read_only_is_read_as_libpq_reads_it() {
        assert_eq!(reported_read_only(Some("off"), Some("off")), Some(false));
        assert_eq!(reported_read_only(Some("on"), Some("off")), Some(true));
        assert_eq!(reported_read_only(Some("off"), Some("on")), Some(true));
        assert_eq!(reported_read_only(None, Some("off")), None);
        assert_eq!(reported_read_only(None, None), None);
    }

    #[test]
    fn passed_over_hosts_are_listed_in_order() {
        let passed_over = [
            PassedOver { host: "db1:5432".into(), why: "read-only standby".into() },
            PassedOver { host: "db2:5432".into(), why: "connection refused".into() },
        ];
        assert_eq!(
            describe(&passed_over),
            "db1:5432: read-only standby; db2:5432: connection refused"
        );
    }
}
