//! libpq's host lists, as a target's host may hold one: `db1,db2,db3`,
//! each entry optionally with its own port in the form a libpq URI takes
//! (`db1:5433,[2001:db8::7]:5434,/var/run/postgresql`). An entry without a
//! port uses the target's port.
//!
//! A host without a comma is one host, read as it always was; the rules
//! here apply to lists only.

use std::fmt;
use std::net::Ipv6Addr;

use super::target::InvalidValue;

/// One server a target can be reached on: a host name, an IP address or
/// a Unix-socket directory, and its port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntry {
    pub host: String,
    pub port: u16,
}

impl HostEntry {
    /// Whether `other` is the same server: host names compare as DNS
    /// does, without case; socket directories exactly.
    fn same_as(&self, other: &HostEntry) -> bool {
        let host = if self.host.starts_with('/') {
            self.host == other.host
        } else {
            self.host.eq_ignore_ascii_case(&other.host)
        };
        host && self.port == other.port
    }
}

/// `host:port`, as the audit trail and messages name a cluster.
impl fmt::Display for HostEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Whether `host` is a list of several hosts.
pub fn is_list(host: &str) -> bool {
    host.contains(',')
}

/// Checks a host list as given: no empty entry, ports from 1 to 65535, no
/// entry twice. Entries that differ only in a port left out and the same
/// port given are found by [`duplicate`], which knows the target's port.
pub fn check(list: &str) -> Result<(), InvalidValue> {
    let parsed = parse(list)?;
    let given = |(host, port): &(&str, Option<u16>)| HostEntry {
        host: (*host).to_owned(),
        // 0 never parses as a port: it stands for "not given".
        port: port.unwrap_or(0),
    };
    let entries: Vec<HostEntry> = parsed.iter().map(given).collect();
    if let Some(twice) = first_repeated(&entries) {
        let shown = if twice.port == 0 { twice.host.clone() } else { twice.to_string() };
        return Err(InvalidValue::new(format!(
            "invalid host list '{list}': {shown} is listed twice"
        )));
    }
    Ok(())
}

/// The servers of a host list, each with its port (`port` where the entry
/// gives none), in order. A host that is not a list is one server.
pub fn entries(host: &str, port: u16) -> Vec<HostEntry> {
    let one = || vec![HostEntry { host: host.to_owned(), port }];
    if !is_list(host) {
        return one();
    }
    // Lists are checked when they enter the registry; one that does not
    // parse is used as a single host, which then fails to connect, named.
    parse(host).map_or_else(
        |_| one(),
        |parsed| {
            parsed
                .into_iter()
                .map(|(host, given)| HostEntry {
                    host: host.to_owned(),
                    port: given.unwrap_or(port),
                })
                .collect()
        },
    )
}

/// A server a host list names twice once `port` fills in the entries that
/// give none (`db1,db1:5432` on port 5432).
pub fn duplicate(host: &str, port: u16) -> Option<HostEntry> {
    if !is_list(host) {
        return None;
    }
    first_repeated(&entries(host, port)).cloned()
}

fn first_repeated(entries: &[HostEntry]) -> Option<&HostEntry> {
    entries.iter().enumerate().find_map(|(i, entry)| {
        entries[..i].iter().any(|earlier| earlier.same_as(entry)).then_some(entry)
    })
}

/// Each entry's host and its port, if it gives one.
fn parse(list: &str) -> Result<Vec<(&str, Option<u16>)>, InvalidValue> {
    list.split(',')
        .enumerate()
        .map(|(i, entry)| {
            parse_entry(entry).map_err(|problem| {
                InvalidValue::new(format!("invalid host list '{list}': entry {}: {problem}", i + 1))
            })
        })
        .collect()
}

/// `HOST`, `HOST:PORT`, `[IPv6]`, `[IPv6]:PORT`, or an IPv6 address alone.
fn parse_entry(entry: &str) -> Result<(&str, Option<u16>), String> {
    if entry.is_empty() {
        return Err("it is empty".into());
    }
    if let Some(rest) = entry.strip_prefix('[') {
        let Some((address, after)) = rest.split_once(']') else {
            return Err(format!("'{entry}' has no closing ']'"));
        };
        if !is_ipv6(address) {
            return Err(format!("'{address}' in brackets is not an IPv6 address"));
        }
        return match after {
            "" => Ok((address, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((address, Some(parse_port(entry, port)?))),
                None => Err(format!("'{entry}': use [ADDRESS]:PORT")),
            },
        };
    }
    match entry.split_once(':') {
        None => Ok((entry, None)),
        // More than one colon and no brackets: an IPv6 address alone.
        Some(_) if entry.matches(':').count() > 1 => {
            if is_ipv6(entry) {
                Ok((entry, None))
            } else {
                Err(format!("'{entry}' is not HOST, HOST:PORT or [IPv6 ADDRESS]:PORT"))
            }
        }
        Some(("", _)) => Err(format!("'{entry}' has a port but no host")),
        Some((host, port)) => Ok((host, Some(parse_port(entry, port)?))),
    }
}

/// An IPv6 address, with a zone (`fe80::1%eth0`) if it has one.
fn is_ipv6(text: &str) -> bool {
    let address = text.split_once('%').map_or(text, |(address, _)| address);
    address.parse::<Ipv6Addr>().is_ok()
}

fn parse_port(entry: &str, port: &str) -> Result<u16, String> {
    match port.parse::<u16>() {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(format!("'{entry}' has an invalid port '{port}' (1 to 65535)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn servers(host: &str, port: u16) -> Vec<String> {
        entries(host, port).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn entries_take_their_own_port_or_the_targets() {
        assert_eq!(servers("db1,db2", 5433), ["db1:5433", "db2:5433"]);
        assert_eq!(servers("db1:6432,db2", 5432), ["db1:6432", "db2:5432"]);
        assert_eq!(
            servers("[2001:db8::7]:5434,::1,/var/run/postgresql:5435", 5432),
            ["2001:db8::7:5434", "::1:5432", "/var/run/postgresql:5435"]
        );
        assert_eq!(servers("fe80::1%eth0,db2", 5432), ["fe80::1%eth0:5432", "db2:5432"]);
        // Not a list: one host, as given, as before lists existed.
        assert_eq!(servers("db1:5433", 5432), ["db1:5433:5432"]);
        assert_eq!(servers("::1", 5432), ["::1:5432"]);
    }

    #[test]
    fn lists_are_checked_entry_by_entry() {
        for ok in ["db1,db2", "db1:5433,db2:5434", "[::1]:5433,[::1]:5434", "/tmp,/run/pg:5433"] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        let refused = |list: &str, words: &str| {
            let err = check(list).unwrap_err().to_string();
            assert!(err.contains(words), "{list}: {err}");
        };
        refused("db1,,db2", "entry 2: it is empty");
        refused("db1,", "entry 2: it is empty");
        refused(",db1", "entry 1: it is empty");
        refused("db1:0,db2", "entry 1: 'db1:0' has an invalid port '0'");
        refused("db1,db2:x", "'db2:x' has an invalid port 'x'");
        refused("db1,db2:70000", "invalid port '70000'");
        refused("db1,db2:", "invalid port ''");
        refused("db1,:5432", "has a port but no host");
        refused("db1,db2:5432:1", "is not HOST, HOST:PORT or [IPv6 ADDRESS]:PORT");
        refused("db1,[::1", "no closing ']'");
        refused("db1,[db2]:5432", "'db2' in brackets is not an IPv6 address");
        refused("db1,[::1]5432", "use [ADDRESS]:PORT");
        refused("db1,db2,DB1", "DB1 is listed twice");
        refused("db1:5433,db2,db1:5433", "db1:5433 is listed twice");
    }

    #[test]
    fn duplicates_show_once_the_targets_port_is_known() {
        assert_eq!(check("db1,db1:5432"), Ok(()));
        assert_eq!(duplicate("db1,db1:5432", 5432).map(|e| e.to_string()), Some("db1:5432".into()));
        assert_eq!(duplicate("db1,db1:5432", 5433), None);
        // Socket directories are paths: case matters.
        assert_eq!(duplicate("/tmp/A,/tmp/a", 5432), None);
        assert_eq!(duplicate("db1", 5432), None);
    }
}
