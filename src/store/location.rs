//! Where the store is: a SQLite file (a path, as always) or a team store
//! in PostgreSQL: a `postgresql://` or `postgres://` URL in libpq's URI
//! syntax, or libpq's `key=value` connection string (`host=db1
//! dbname=pgacct`, recognised by a libpq keyword and `=` at its start).
//! Parsed once, where `--registry`, `PGACCT_REGISTRY` or `[store] url` is
//! read, so that neither is ever taken for a file name.
//!
//! A password in either form is refused, never shown: it would sit in argv
//! (visible to every user of the machine), the environment or the config
//! file. The error messages here never repeat what was given.

use std::path::PathBuf;
use std::time::Duration;

use crate::pg::StoreConn;
use crate::registry::{Host, RootCert};

/// Where the registry and the audit trail are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// The local SQLite file.
    File(PathBuf),
    /// A team store: the connection string, never with a password.
    Team(StoreConn),
}

/// The URL schemes of a team store, as libpq accepts them.
const SCHEMES: &[&str] = &["postgresql://", "postgres://"];

/// A team store URL pgacct cannot use; never holds the URL itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("the store {0} holds a password; pgacct refuses it (it would be visible to others)")]
    Password(Form),
    #[error("invalid store {0}: {1}")]
    Invalid(Form, String),
}

/// How the team store was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Url,
    KeyValue,
}

impl std::fmt::Display for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Form::Url => "URL",
            Form::KeyValue => "connection string",
        })
    }
}

/// The keywords pgacct reads, in both forms, as libpq names them.
const KEYWORDS: &[&str] = &[
    "host",
    "port",
    "user",
    "dbname",
    "sslmode",
    "sslnegotiation",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "connect_timeout",
    "application_name",
    "options",
    "target_session_attrs",
];

impl UrlError {
    pub fn hint(&self) -> &'static str {
        match self {
            UrlError::Password(_) => {
                "leave the password out of the URL, and give it with ~/.pgpass (PGPASSFILE), \
                 PGPASSWORD or a [store] password_command in config.toml"
            }
            UrlError::Invalid(Form::Url, _) => {
                "the form is postgresql://[user@]host[:port][,host2[:port2]...]/dbname\
                 [?sslmode=...&sslrootcert=...&options=...&application_name=...]"
            }
            UrlError::Invalid(Form::KeyValue, _) => {
                "the form is host=HOST port=PORT user=USER dbname=DB sslmode=MODE ..., a value \
                 with spaces in single quotes"
            }
        }
    }
}

impl StoreLocation {
    /// A `postgresql://` or `postgres://` URL, or a `key=value`
    /// connection string, is a team store; anything else is the path of a
    /// file.
    pub fn parse(given: PathBuf) -> Result<StoreLocation, UrlError> {
        let Some(text) = given.to_str() else { return Ok(StoreLocation::File(given)) };
        if let Some(rest) = SCHEMES.iter().find_map(|scheme| text.strip_prefix(scheme)) {
            return parse_url(rest).map(StoreLocation::Team);
        }
        if is_key_value(text) {
            return parse_key_value(text).map(StoreLocation::Team);
        }
        Ok(StoreLocation::File(given))
    }

    /// Whether `text` names a team store rather than a file.
    pub fn is_url(text: &str) -> bool {
        SCHEMES.iter().any(|scheme| text.starts_with(scheme)) || is_key_value(text)
    }
}

fn invalid(message: impl Into<String>) -> UrlError {
    UrlError::Invalid(Form::Url, message.into())
}

/// A connection string starts with a keyword and `=` (libpq's `password`
/// included, to refuse it); a file name hardly does.
fn is_key_value(text: &str) -> bool {
    let Some((key, _)) = text.trim_start().split_once('=') else { return false };
    let key = key.trim_end();
    key == "password" || KEYWORDS.contains(&key)
}

/// `key=value key='a value' ...`, as libpq reads it: spaces around `=`
/// allowed, `\` escapes the next character, single quotes hold spaces.
fn parse_key_value(text: &str) -> Result<StoreConn, UrlError> {
    let mut conn = StoreConn::default();
    let mut ports = None;
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(in_key_value(format!("'{key}' is not followed by =")));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    None => return Err(in_key_value("a quote is not closed")),
                    Some('\'') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        if value.contains('\0') {
            return Err(in_key_value(format!("{key} holds a NUL byte")));
        }
        match key.as_str() {
            // A port per host: applied once the hosts are known.
            "port" if value.contains(',') => ports = Some(value),
            _ => set_parameter(&mut conn, &key, value).map_err(|err| match err {
                UrlError::Password(_) => UrlError::Password(Form::KeyValue),
                UrlError::Invalid(_, message) => UrlError::Invalid(Form::KeyValue, message),
            })?,
        }
    }
    if let Some(ports) = ports {
        let hosts = conn.host.clone().unwrap_or_default();
        let hosts: Vec<&str> = hosts.split(',').collect();
        let ports: Vec<&str> = ports.split(',').collect();
        if hosts.len() != ports.len() {
            return Err(in_key_value("port lists as many ports as host lists hosts"));
        }
        let mut list = Vec::new();
        for (host, port) in hosts.iter().zip(ports) {
            let port = parse_port(port.trim()).map_err(|_| {
                in_key_value(format!("invalid port '{port}': a number from 1 to 65535"))
            })?;
            let host = if host.contains(':') { format!("[{host}]") } else { (*host).to_owned() };
            list.push(format!("{host}:{port}"));
        }
        conn.host = Some(list.join(","));
    }
    Ok(conn)
}

fn in_key_value(message: impl Into<String>) -> UrlError {
    UrlError::Invalid(Form::KeyValue, message.into())
}

/// The URL after its scheme: `[user@][hosts][/dbname][?key=value&...]`.
fn parse_url(rest: &str) -> Result<StoreConn, UrlError> {
    if rest.contains('#') {
        return Err(invalid("a fragment (#...) is not part of a PostgreSQL URL"));
    }
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut conn = StoreConn::default();
    let hosts = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => {
            if userinfo.contains(':') {
                return Err(UrlError::Password(Form::Url));
            }
            conn.user = Some(decode(userinfo, "the user")?).filter(|user| !user.is_empty());
            hosts
        }
        None => authority,
    };
    read_hosts(hosts, &mut conn)?;
    conn.dbname = Some(decode(path, "the database name")?).filter(|db| !db.is_empty());
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) =
            pair.split_once('=').ok_or_else(|| invalid("a parameter without =value"))?;
        let key = decode(key, "a parameter name")?;
        let value = decode(value, &format!("parameter {key}"))?;
        set_parameter(&mut conn, &key, value)?;
    }
    Ok(conn)
}

/// `host[:port][,host[:port]...]`, each host percent-decoded (so that
/// `%2Fvar%2Frun%2Fpostgresql` is a socket directory), IPv6 in brackets.
fn read_hosts(hosts: &str, conn: &mut StoreConn) -> Result<(), UrlError> {
    if hosts.is_empty() {
        return Ok(());
    }
    let mut entries = Vec::new();
    for entry in hosts.split(',') {
        let (host, port) = split_port(entry)?;
        entries.push((decode(host, "a host")?, port));
    }
    if let [(host, port)] = entries.as_slice() {
        conn.host = Some(host.clone()).filter(|host| !host.is_empty());
        conn.port = *port;
    } else {
        let list: Vec<String> = entries
            .iter()
            .map(|(host, port)| {
                let host = if host.contains(':') { format!("[{host}]") } else { host.clone() };
                match port {
                    Some(port) => format!("{host}:{port}"),
                    None => host,
                }
            })
            .collect();
        conn.host = Some(list.join(","));
    }
    if let Some(host) = &conn.host {
        host.parse::<Host>().map_err(|err| invalid(err.to_string()))?;
    }
    Ok(())
}

/// `host:port`, `[v6]:port` or `host`.
fn split_port(entry: &str) -> Result<(&str, Option<u16>), UrlError> {
    let (host, port) = if let Some(bracketed) = entry.strip_prefix('[') {
        let (host, after) =
            bracketed.split_once(']').ok_or_else(|| invalid("an IPv6 address without ]"))?;
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Err(invalid("unexpected text after an IPv6 address")),
            },
        }
    } else {
        match entry.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (entry, None),
        }
    };
    let port = port.map(parse_port).transpose()?;
    Ok((host, port))
}

fn parse_port(text: &str) -> Result<u16, UrlError> {
    text.parse::<u16>()
        .ok()
        .filter(|port| *port != 0)
        .ok_or_else(|| invalid(format!("invalid port '{text}': a number from 1 to 65535")))
}

/// One `?key=value` parameter, with libpq's names. Unknown ones are
/// refused, as libpq refuses them.
fn set_parameter(conn: &mut StoreConn, key: &str, value: String) -> Result<(), UrlError> {
    let bad = |err: crate::registry::InvalidValue| invalid(err.to_string());
    match key {
        "password" => return Err(UrlError::Password(Form::Url)),
        "host" => {
            value.parse::<Host>().map_err(bad)?;
            conn.host = Some(value);
        }
        "port" => conn.port = Some(parse_port(&value)?),
        "user" => conn.user = Some(value),
        "dbname" => conn.dbname = Some(value),
        "sslmode" => conn.tls.sslmode = Some(value.parse().map_err(bad)?),
        "sslnegotiation" => conn.tls.sslnegotiation = Some(value.parse().map_err(bad)?),
        "sslrootcert" => conn.tls.sslrootcert = Some(value.parse::<RootCert>().map_err(bad)?),
        "sslcert" => conn.tls.sslcert = Some(PathBuf::from(value)),
        "sslkey" => conn.tls.sslkey = Some(PathBuf::from(value)),
        "connect_timeout" => {
            let seconds: u64 = value.trim().parse().map_err(|_| {
                invalid(format!("invalid connect_timeout '{value}': a number of seconds"))
            })?;
            // As libpq: 0 waits forever, and less than 2 s counts as 2.
            conn.connect_timeout = Some(if seconds == 0 {
                Duration::ZERO
            } else {
                Duration::from_secs(seconds.max(2))
            });
        }
        "application_name" => conn.application_name = Some(value),
        "options" => conn.options = Some(value),
        "target_session_attrs" if value == "read-write" => {}
        "target_session_attrs" => {
            return Err(invalid(
                "target_session_attrs: a store is always written on a read-write server",
            ));
        }
        _ => {
            return Err(invalid(format!(
                "unknown parameter '{key}' (pgacct reads {})",
                KEYWORDS.join(", ")
            )));
        }
    }
    Ok(())
}

/// `%XX` escapes decoded; the result must be UTF-8 without NUL bytes.
fn decode(text: &str, what: &str) -> Result<String, UrlError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or_else(|| invalid(format!("invalid percent-encoding in {what}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    if out.contains(&0) {
        return Err(invalid(format!("{what} holds a NUL byte")));
    }
    String::from_utf8(out).map_err(|_| invalid(format!("{what} is not UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::SslMode;

    fn team(url: &str) -> StoreConn {
        match StoreLocation::parse(PathBuf::from(url)) {
            Ok(StoreLocation::Team(conn)) => conn,
            other => panic!("{url}: {other:?}"),
        }
    }

    #[test]
    fn paths_stay_paths_and_urls_are_team_stores() {
        for path in ["registry.db", "/var/lib/pgacct.db", "postgresql:/x", "./postgres://x"] {
            assert_eq!(
                StoreLocation::parse(PathBuf::from(path)),
                Ok(StoreLocation::File(PathBuf::from(path)))
            );
        }
        let conn = team(
            "postgresql://owner@db1.example.com:5433/pgacct?sslmode=verify-full&application_name=a%20b",
        );
        assert_eq!(conn.user.as_deref(), Some("owner"));
        assert_eq!(conn.host.as_deref(), Some("db1.example.com"));
        assert_eq!(conn.port, Some(5433));
        assert_eq!(conn.dbname.as_deref(), Some("pgacct"));
        assert_eq!(conn.tls.sslmode, Some(SslMode::VerifyFull));
        assert_eq!(conn.application_name.as_deref(), Some("a b"));
        assert_eq!(team("postgres://"), StoreConn::default());
    }

    #[test]
    fn hosts_lists_sockets_and_ipv6_read_as_libpq_reads_them() {
        assert_eq!(team("postgresql://db1:5433,db2/x").host.as_deref(), Some("db1:5433,db2"));
        assert_eq!(team("postgresql://db1:5433,db2/x").port, None);
        let v6 = team("postgresql://[::1]:6543/x");
        assert_eq!((v6.host.as_deref(), v6.port), (Some("::1"), Some(6543)));
        let socket = team("postgresql://%2Fvar%2Frun%2Fpostgresql/x");
        assert_eq!(socket.host.as_deref(), Some("/var/run/postgresql"));
        let query = team("postgresql:///x?host=/tmp&port=6000&user=me&options=-c%20work_mem%3D8MB");
        assert_eq!(query.host.as_deref(), Some("/tmp"));
        assert_eq!((query.port, query.user.as_deref()), (Some(6000), Some("me")));
        assert_eq!(query.options.as_deref(), Some("-c work_mem=8MB"));
    }

    #[test]
    fn a_password_is_refused_and_never_repeated() {
        for url in [
            "postgresql://alice:s3cret@db1/pgacct",
            "postgresql://alice:@db1/pgacct",
            "postgres://db1/pgacct?password=s3cret",
        ] {
            let err = StoreLocation::parse(PathBuf::from(url)).unwrap_err();
            assert_eq!(err, UrlError::Password(Form::Url), "{url}");
            assert!(!err.to_string().contains("s3cret") && !err.hint().contains("s3cret"));
        }
    }

    #[test]
    fn key_value_strings_read_as_libpq_reads_them() {
        let conn = team("host=db1 port = 5433 dbname='my store' user=o\\'k sslmode=require");
        assert_eq!(conn.host.as_deref(), Some("db1"));
        assert_eq!(conn.port, Some(5433));
        assert_eq!(conn.dbname.as_deref(), Some("my store"));
        assert_eq!(conn.user.as_deref(), Some("o'k"));
        assert_eq!(conn.tls.sslmode, Some(SslMode::Require));
        let listed = team("host=db1,db2,::1 port=5433,5434,5435 dbname=x");
        assert_eq!(listed.host.as_deref(), Some("db1:5433,db2:5434,[::1]:5435"));
        assert_eq!(team("  dbname=x host=/tmp").host.as_deref(), Some("/tmp"));
        for path in ["hostname=x", "my=file.db", "./host=x", "dir/user=x"] {
            assert_eq!(
                StoreLocation::parse(PathBuf::from(path)),
                Ok(StoreLocation::File(PathBuf::from(path)))
            );
        }
        let err = StoreLocation::parse(PathBuf::from("host=db1 password='s3cret x'")).unwrap_err();
        assert_eq!(err, UrlError::Password(Form::KeyValue));
        assert!(!err.to_string().contains("s3cret"));
        for (text, says) in [
            ("host=db1 dbname='x", "quote is not closed"),
            ("host=db1 dbname", "not followed by ="),
            ("host=db1 port=1,2", "as many ports"),
            ("host=db1 colour=red", "unknown parameter 'colour'"),
        ] {
            let err = StoreLocation::parse(PathBuf::from(text)).unwrap_err();
            assert!(err.to_string().contains(says), "{text}: {err}");
            assert!(err.to_string().starts_with("invalid store connection string"), "{err}");
        }
    }

    #[test]
    fn mistakes_are_named() {
        for (url, says) in [
            ("postgresql://db1:0/x", "invalid port"),
            ("postgresql://db1:x/x", "invalid port"),
            ("postgresql://db1/x?sslmode=maybe", "invalid sslmode"),
            ("postgresql://db1/x?sslcompression=1", "unknown parameter 'sslcompression'"),
            ("postgresql://db1/x?sslmode", "without =value"),
            ("postgresql://db1/x%zz", "percent-encoding"),
            ("postgresql://db1/x#frag", "fragment"),
            ("postgresql://rel%2Fdir/x", "absolute path"),
            ("postgresql://db1/x?target_session_attrs=any", "read-write"),
        ] {
            let err = StoreLocation::parse(PathBuf::from(url)).unwrap_err();
            assert!(err.to_string().contains(says), "{url}: {err}");
        }
    }
}
