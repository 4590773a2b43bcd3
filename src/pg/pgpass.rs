//! The password file (`~/.pgpass`, `PGPASSFILE`) with libpq's semantics.
//!
//! Each line is `hostname:port:database:username:password`. A field of
//! exactly `*` matches anything; `\:` and `\\` stand for `:` and `\`;
//! lines starting with `#` are comments; lines with fewer than five fields
//! are skipped; the first matching line wins. libpq matches a Unix-socket
//! connection as host `localhost`, and so does this.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::secret::Secret;

/// A parsed password file.
#[derive(Debug, Default)]
pub struct PassFile {
    entries: Vec<Entry>,
}

#[derive(Debug)]
struct Entry {
    host: Pattern,
    port: Pattern,
    database: Pattern,
    user: Pattern,
    password: Secret,
}

#[derive(Debug, PartialEq, Eq)]
enum Pattern {
    Any,
    Exact(String),
}

impl Pattern {
    fn matches(&self, value: &str) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Exact(exact) => exact == value,
        }
    }
}

/// Why a password file was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unusable {
    NotFound,
    /// Group or world may read it; libpq ignores such a file, and so do we.
    TooOpen {
        mode: u32,
    },
    NotAFile,
    Unreadable(String),
}

impl PassFile {
    /// Reads the file at `path`, refusing it as libpq does when its
    /// permissions let others read it.
    pub fn read(path: &Path) -> Result<PassFile, Unusable> {
        let meta = match fs::metadata(path) {
            Ok(meta) => meta,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(Unusable::NotFound);
            }
            Err(err) => return Err(Unusable::Unreadable(err.to_string())),
        };
        if !meta.is_file() {
            return Err(Unusable::NotAFile);
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Unusable::TooOpen { mode });
        }
        let text = fs::read_to_string(path).map_err(|err| Unusable::Unreadable(err.to_string()))?;
        Ok(PassFile::parse(&text))
    }

    pub fn parse(text: &str) -> PassFile {
        let entries = text
            .lines()
            .map(|line| line.trim_end_matches('\r'))
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .filter_map(parse_line)
            .collect();
        PassFile { entries }
    }

    /// The password of the first line that matches. A host starting with
    /// `/` (a socket directory) is looked up as `localhost`, as libpq does.
    pub fn lookup(&self, host: &str, port: u16, database: &str, user: &str) -> Option<&Secret> {
        let host = if host.starts_with('/') { "localhost" } else { host };
        let port = port.to_string();
        self.entries
            .iter()
            .find(|e| {
                e.host.matches(host)
                    && e.port.matches(&port)
                    && e.database.matches(database)
                    && e.user.matches(user)
            })
            .map(|e| &e.password)
    }
}

fn parse_line(line: &str) -> Option<Entry> {
    let mut fields = Fields { rest: line };
    let host = fields.next_pattern()?;
    let port = fields.next_pattern()?;
    let database = fields.next_pattern()?;
    let user = fields.next_pattern()?;
    // The password runs to the next unescaped colon or the end of the line.
    let (password, _) = fields.next_field();
    Some(Entry { host, port, database, user, password: Secret::new(password) })
}

struct Fields<'a> {
    rest: &'a str,
}

impl Fields<'_> {
    /// One of the first four fields: it must end in an unescaped colon.
    fn next_pattern(&mut self) -> Option<Pattern> {
        let raw_star = self.rest.starts_with("*:");
        let (value, terminated) = self.next_field();
        if !terminated {
            return None;
        }
        Some(if raw_star { Pattern::Any } else { Pattern::Exact(value) })
    }

    /// Reads up to the next unescaped `:`, undoing backslash escapes.
    /// Returns the value and whether a colon ended it.
    fn next_field(&mut self) -> (String, bool) {
        let mut value = String::new();
        let mut chars = self.rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                ':' => {
                    self.rest = &self.rest[i + 1..];
                    return (value, true);
                }
                '\\' => match chars.next() {
                    Some((_, escaped)) => value.push(escaped),
                    None => value.push('\\'),
                },
                c => value.push(c),
            }
        }
        self.rest = "";
        (value, false)
    }
}

/// The password file libpq would use: `PGPASSFILE`, else `~/.pgpass`.
pub fn location(pgpassfile: Option<&str>, home: Option<&str>) -> Option<PathBuf> {
    match (pgpassfile, home) {
        (Some(file), _) => Some(PathBuf::from(file)),
        (None, Some(home)) => Some(Path::new(home).join(".pgpass")),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(
        file: &'a PassFile,
        host: &str,
        port: u16,
        db: &str,
        user: &str,
    ) -> Option<&'a str> {
        file.lookup(host, port, db, user).map(Secret::expose)
    }

    #[test]
    fn the_first_matching_line_wins() {
        let file = PassFile::parse(
            "db1:5432:orders:admin:first\n\
             db1:5432:*:admin:second\n\
             *:*:*:*:fallback\n",
        );
        assert_eq!(lookup(&file, "db1", 5432, "orders", "admin"), Some("first"));
        assert_eq!(lookup(&file, "db1", 5432, "billing", "admin"), Some("second"));
        assert_eq!(lookup(&file, "db2", 6432, "x", "y"), Some("fallback"));
    }

    #[test]
    fn fields_must_match_exactly() {
        let file = PassFile::parse("db1:5432:orders:admin:pw\n");
        assert_eq!(lookup(&file, "db1", 5433, "orders", "admin"), None);
        assert_eq!(lookup(&file, "DB1", 5432, "orders", "admin"), None);
        assert_eq!(lookup(&file, "db1", 5432, "orders", "Admin"), None);
        assert_eq!(lookup(&file, "db1", 5432, "order", "admin"), None);
    }

    #[test]
    fn escapes_stand_for_colons_and_backslashes() {
        let file = PassFile::parse(
            "fe80\\:\\:1:5432:*:admin:pa\\:ss\\\\word\n\
             db1:5432:*:admin:ends at: the colon\n",
        );
        assert_eq!(lookup(&file, "fe80::1", 5432, "x", "admin"), Some("pa:ss\\word"));
        assert_eq!(lookup(&file, "db1", 5432, "x", "admin"), Some("ends at"));
    }

    #[test]
    fn an_escaped_star_is_a_literal_star() {
        let file = PassFile::parse("\\*:5432:*:admin:literal\n");
        assert_eq!(lookup(&file, "db1", 5432, "x", "admin"), None);
        assert_eq!(lookup(&file, "*", 5432, "x", "admin"), Some("literal"));
    }

    #[test]
    fn comments_blank_and_short_lines_are_skipped() {
        let file = PassFile::parse(
            "# db1:5432:*:admin:commented\n\
             \n\
             db1:5432:admin:short\n\
             db1:5432:*:admin:real\r\n",
        );
        assert_eq!(lookup(&file, "db1", 5432, "x", "admin"), Some("real"));
    }

    #[test]
    fn socket_connections_match_localhost() {
        let file = PassFile::parse("localhost:5432:*:admin:local\n");
        assert_eq!(lookup(&file, "/var/run/postgresql", 5432, "x", "admin"), Some("local"));
    }

    #[test]
    fn an_empty_password_field_is_a_password() {
        let file = PassFile::parse("db1:5432:*:admin:\n");
        assert_eq!(lookup(&file, "db1", 5432, "x", "admin"), Some(""));
    }

    #[test]
    fn group_or_world_readable_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pgpass");
        fs::write(&path, "*:*:*:*:pw\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(PassFile::read(&path).unwrap_err(), Unusable::TooOpen { mode: 0o644 });
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(PassFile::read(&path).is_ok());
        assert_eq!(PassFile::read(&dir.path().join("none")).unwrap_err(), Unusable::NotFound);
    }
}
