//! `-v`: what the connection layer does, one line each on stderr, as it
//! happens: each connection (target, where to, TLS, the authentication the
//! server asked for, how long), each statement (as shown: secrets
//! redacted) and how long it took. `-vv` adds the protocol round trips:
//! of each connection's start, the one that answered each statement, and
//! each connection's total when it closes.
//!
//! ```text
//! connect qa/orders 127.0.0.1:5432 user=postgres tls=none auth=scram-sha-256 4.1 ms
//!   qa/orders: ALTER ROLE "app" PASSWORD '<redacted>' 1.2 ms
//! ```

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::Duration;

use anstyle::Style;

use crate::pg::trace::{Closed, Connect, Event, Observer, Ran, Tls};

/// Prints the connection layer's events on stderr, dimmed like the other
/// details of `-v`.
#[derive(Debug, Clone, Copy)]
pub struct WireLog {
    /// `-vv`: the round trips too.
    round_trips: bool,
}

impl WireLog {
    /// The log for verbosity `verbose` (the count of `-v`); none below 1.
    pub fn for_verbosity(verbose: u8) -> Option<WireLog> {
        (verbose > 0).then_some(WireLog { round_trips: verbose > 1 })
    }

    /// The line for `event`, if this verbosity shows it.
    fn line(self, event: &Event<'_>) -> Option<String> {
        match event {
            Event::Connect(connect) => Some(self.connect(connect)),
            Event::Statement(ran) => Some(self.statement(ran)),
            Event::Closed(closed) => self.round_trips.then(|| closed_line(closed)),
        }
    }

    fn connect(self, c: &Connect<'_>) -> String {
        let mut line = format!("connect {} {}", c.target, c.cluster);
        if let Some(address) = c.address {
            let host = c.cluster.rsplit_once(':').map_or(c.cluster, |(host, _)| host);
            let ip = address.ip().to_string();
            if host.trim_start_matches('[').trim_end_matches(']') != ip {
                let _ = write!(line, " ({ip})");
            }
        }
        let _ = write!(line, " user={}", c.user);
        match c.tls {
            Tls::None => line.push_str(" tls=none"),
            Tls::Tls { version, direct } => {
                let negotiation = if direct { "direct" } else { "postgres" };
                let _ = write!(
                    line,
                    " tls={} sslnegotiation={negotiation}",
                    version.unwrap_or("unknown")
                );
            }
        }
        if let Some(auth) = &c.auth {
            let _ = write!(line, " auth={auth}");
        }
        if c.failure.is_some() {
            line.push_str(" failed after");
        }
        let _ = write!(line, " {}", millis(c.took));
        if self.round_trips {
            let _ = write!(line, " ({})", round_trips(c.round_trips));
        }
        if let Some(failure) = &c.failure {
            let _ = write!(line, ": {failure}");
        }
        line
    }

    fn statement(self, ran: &Ran<'_>) -> String {
        let sql = one_line(ran.sql);
        let mut line = format!("  {}: {sql} {}", ran.target, millis(ran.took));
        if self.round_trips {
            let _ = write!(line, " (round trip {})", ran.round_trip);
        }
        if let Some(failed) = ran.failed {
            let _ = write!(line, ", failed: {failed}");
        }
        line
    }
}

fn closed_line(closed: &Closed<'_>) -> String {
    format!(
        "close {} {} after {} ({} in all)",
        closed.target,
        closed.cluster,
        millis(closed.lasted),
        round_trips(closed.round_trips)
    )
}

impl Observer for WireLog {
    fn event(&self, event: &Event<'_>) {
        let Some(line) = self.line(event) else { return };
        let dim = Style::new().dimmed();
        let line = super::for_terminal(&line);
        super::above_progress(|| {
            let _ = writeln!(anstream::stderr(), "{dim}{line}{dim:#}");
        });
    }
}

/// `4.1 ms`.
fn millis(took: Duration) -> String {
    format!("{:.1} ms", took.as_secs_f64() * 1000.0)
}

fn round_trips(count: u32) -> String {
    if count == 1 { "1 round trip".into() } else { format!("{count} round trips") }
}

/// A statement on one line: its runs of white space as one space.
fn one_line(sql: &str) -> String {
    let words: Vec<&str> = sql.split_whitespace().collect();
    if words.is_empty() {
        return "<empty query>".into();
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg::trace::Endpoint;
    use crate::registry::TargetKey;

    fn target() -> Endpoint {
        Endpoint::Target(TargetKey { env: "qa".parse().unwrap(), db: "orders".parse().unwrap() })
    }

    fn connect(target: &Endpoint) -> Connect<'_> {
        Connect {
            target,
            user: "postgres",
            cluster: "db1:5432",
            address: Some("10.0.0.5:5432".parse().unwrap()),
            tls: Tls::Tls { version: Some("TLSv1.3"), direct: false },
            auth: Some("scram-sha-256".into()),
            took: Duration::from_micros(4_120),
            round_trips: 5,
            failure: None,
        }
    }

    #[test]
    fn a_connection_is_one_line_and_round_trips_come_with_vv() {
        let target = target();
        let c = connect(&target);
        let v = WireLog::for_verbosity(1).unwrap();
        let vv = WireLog::for_verbosity(2).unwrap();
        let event = Event::Connect(&c);
        assert_eq!(
            v.line(&event).unwrap(),
            "connect qa/orders db1:5432 (10.0.0.5) user=postgres tls=TLSv1.3 \
             sslnegotiation=postgres auth=scram-sha-256 4.1 ms"
        );
        assert!(vv.line(&event).unwrap().ends_with(" 4.1 ms (5 round trips)"));
        let closed =
            Closed { target: &target, cluster: "db1:5432", round_trips: 6, lasted: c.took };
        assert_eq!(v.line(&Event::Closed(&closed)), None);
        assert_eq!(
            vv.line(&Event::Closed(&closed)).unwrap(),
            "close qa/orders db1:5432 after 4.1 ms (6 round trips in all)"
        );
        assert!(WireLog::for_verbosity(0).is_none());
    }

    #[test]
    fn an_address_that_is_the_host_is_not_repeated_and_a_failure_says_why() {
        let target = target();
        let c = Connect {
            cluster: "10.0.0.5:5432",
            tls: Tls::None,
            auth: None,
            failure: Some("connection refused".into()),
            ..connect(&target)
        };
        assert_eq!(
            WireLog::for_verbosity(1).unwrap().line(&Event::Connect(&c)).unwrap(),
            "connect qa/orders 10.0.0.5:5432 user=postgres tls=none failed after 4.1 ms: \
             connection refused"
        );
    }

    #[test]
    fn a_statement_is_one_line_with_its_duration() {
        let target = target();
        let ran = Ran {
            target: &target,
            sql: "SELECT 1\n  FROM pg_roles",
            took: Duration::from_micros(1_250),
            failed: Some("42P01"),
            round_trip: 5,
        };
        let event = Event::Statement(&ran);
        assert_eq!(
            WireLog::for_verbosity(1).unwrap().line(&event).unwrap(),
            "  qa/orders: SELECT 1 FROM pg_roles 1.2 ms, failed: 42P01"
        );
        assert!(
            WireLog::for_verbosity(2)
                .unwrap()
                .line(&event)
                .unwrap()
                .ends_with(" 1.2 ms (round trip 5), failed: 42P01")
        );
        let empty = Ran { sql: "", failed: None, ..ran };
        assert!(
            WireLog::for_verbosity(1)
                .unwrap()
                .line(&Event::Statement(&empty))
                .unwrap()
                .contains("<empty query>")
        );
    }
}
