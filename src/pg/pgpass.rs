//! The password file (`~/.pgpass`, `PGPASSFILE`), read exactly as libpq
//! reads it: a port of `passwordFromFile` and `pwdfMatchesString` in
//! libpq's `fe-connect.c`.
//!
//! Each line is `hostname:port:database:username:password`. A field that
//! starts with `*:` matches anything; a backslash makes the next byte
//! literal (`\:`, `\\`, `\*`); a line whose first byte is `#` is a comment;
//! trailing CR and LF bytes are stripped; the first line whose four fields
//! all match wins, and its password runs to the next unescaped `:` or the
//! end of the line. As in libpq, a field is not split off first: the line
//! is compared with the wanted value byte by byte, and an unescaped `:`
//! ends the field only where the value ends (elsewhere it must match a
//! `:` in the value). Everything is compared as bytes, so a line that is not
//! UTF-8 is only a line that does not match, never a reason to drop the
//! file. A connection through the default socket directory is looked up as
//! `localhost`; any other socket directory as itself.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

/// libpq's compiled-in socket directory (`DEFAULT_PGSOCKET_DIR`), as
/// Debian, Ubuntu and the PGDG packages build it: a connection there is
/// looked up as `localhost`. pgacct has no default host of its own (every
/// target names one), so this matters only for the password file.
pub const DEFAULT_SOCKET_DIR: &str = "/var/run/postgresql";

/// The host name libpq looks up in the password file for a connection to
/// `host`: `localhost` for no host or the default socket directory, the
/// host itself otherwise (also any other socket directory).
pub fn lookup_host(host: &str) -> &str {
    if host.is_empty() || host == DEFAULT_SOCKET_DIR { "localhost" } else { host }
}

/// A read password file: the lines libpq would try, in order.
#[derive(Default)]
pub struct PassFile {
    lines: Vec<Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for PassFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PassFile({} lines, <redacted>)", self.lines.len())
    }
}

/// Why a password file was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unusable {
    NotFound,
    /// Group or world has some access; libpq ignores such a file, and so do we.
    TooOpen {
        mode: u32,
    },
    NotAFile,
    Unreadable(String),
}

impl PassFile {
    /// Reads the file at `path`, refusing it as libpq does when it is not
    /// a plain file or when group or world have any access to it.
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
        let bytes =
            Zeroizing::new(fs::read(path).map_err(|err| Unusable::Unreadable(err.to_string()))?);
        Ok(PassFile::parse(&bytes))
    }

    pub fn parse(bytes: &[u8]) -> PassFile {
        PassFile { lines: libpq_lines(bytes) }
    }

    /// The password of the first line that matches a connection to `host`
    /// (a name, an address or a socket directory), as libpq looks it up.
    pub fn lookup(
        &self,
        host: &str,
        port: u16,
        database: &str,
        user: &str,
    ) -> Option<Zeroizing<Vec<u8>>> {
        // libpq looks nothing up without a database or user name.
        if database.is_empty() || user.is_empty() {
            return None;
        }
        let port = port.to_string();
        let wanted = [lookup_host(host), &port, database, user];
        self.lines.iter().find_map(|line| {
            let rest = wanted
                .iter()
                .try_fold(line.as_slice(), |rest, value| match_field(rest, value.as_bytes()))?;
            Some(password(rest))
        })
    }
}

/// The lines libpq's reading loop hands to matching: it `fgets` into a
/// growing buffer and takes `strlen` of what it read, so a NUL byte cuts
/// off the rest of that read and the next read is appended to what is
/// left. Comments are dropped here, trailing CR/LF stripped, empty lines
/// dropped. The buffer sizes are libpq's, since they decide where a read
/// that meets a NUL ends.
fn libpq_lines(bytes: &[u8]) -> Vec<Zeroizing<Vec<u8>>> {
    const INITIAL_EXPBUFFER_SIZE: usize = 256;
    let mut lines = Vec::new();
    let mut maxlen = INITIAL_EXPBUFFER_SIZE;
    let mut buf = Zeroizing::new(Vec::new());
    let mut pos = 0;
    let mut eof = false;
    while !eof {
        // enlargePQExpBuffer(&buf, 128)
        let needed = 128 + buf.len() + 1;
        while needed > maxlen {
            maxlen *= 2;
        }
        // fgets(buf.data + buf.len, maxlen - buf.len, fp): at most one
        // byte less than that, up to and including a newline; it sees the
        // end of the file only when it wants a byte that is not there.
        let room = maxlen - buf.len() - 1;
        let rest = &bytes[pos..];
        if rest.is_empty() {
            break;
        }
        let read = match rest.iter().take(room).position(|&b| b == b'\n') {
            Some(newline) => newline + 1,
            None => rest.len().min(room),
        };
        let chunk = &rest[..read];
        pos += read;
        eof = read < room && chunk.last() != Some(&b'\n');
        let visible = chunk.split(|&b| b == 0).next().unwrap_or_default();
        buf.extend_from_slice(visible);
        if buf.last() != Some(&b'\n') && !eof {
            continue;
        }
        if buf.first() != Some(&b'#') {
            let len = buf.iter().rposition(|&b| b != b'\n' && b != b'\r').map_or(0, |i| i + 1);
            if len > 0 {
                lines.push(Zeroizing::new(buf[..len].to_vec()));
            }
        }
        buf.clear();
    }
    lines
}

/// `pwdfMatchesString`: whether the field at the start of `line` matches
/// `value`, and if so the rest of the line after the field's colon. `*:`
/// matches anything; a backslash makes the next byte literal; an unescaped
/// colon ends the field only once all of `value` has matched.
fn match_field<'a>(line: &'a [u8], value: &[u8]) -> Option<&'a [u8]> {
    if let Some(rest) = line.strip_prefix(b"*:") {
        return Some(rest);
    }
    // libpq's values are C strings.
    let value = value.split(|&b| b == 0).next().unwrap_or_default();
    let (mut i, mut matched) = (0, 0);
    while i < line.len() {
        let escaped = line[i] == b'\\';
        if escaped {
            i += 1;
        }
        let b = *line.get(i)?;
        if b == b':' && !escaped && matched == value.len() {
            return Some(&line[i + 1..]);
        }
        if value.get(matched) != Some(&b) {
            return None;
        }
        i += 1;
        matched += 1;
    }
    None
}

/// The password after the fourth field, de-escaped up to the first
/// unescaped colon; a backslash at the very end stays a backslash.
fn password(rest: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut value = Zeroizing::new(Vec::with_capacity(rest.len()));
    let mut bytes = rest.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b':' => break,
            b'\\' => value.push(bytes.next().copied().unwrap_or(b'\\')),
            b => value.push(b),
        }
    }
    value
}

/// A password-file line that libpq will match for a connection to `host`
/// (see [`lookup_host`]) and that gives back `password`. None of the
/// values may hold a line break or a NUL byte: the format has no escape
/// for them.
pub fn format_line(host: &str, port: u16, database: &str, user: &str, password: &str) -> String {
    format!(
        "{}:{port}:{}:{}:{}\n",
        escape(lookup_host(host)),
        escape(database),
        escape(user),
        escape(password)
    )
}

/// The password of a line pgacct wrote (every `:` in its fields escaped),
/// as text: the fifth field. `None` when there is none, or it is not UTF-8.
pub fn line_password(line: &str) -> Option<String> {
    let mut rest = line.as_bytes();
    for _ in 0..4 {
        rest = skip_field(rest)?;
    }
    String::from_utf8(password(rest).to_vec()).ok()
}

/// The rest of `line` after its first field (up to an unescaped colon).
fn skip_field(line: &[u8]) -> Option<&[u8]> {
    let mut bytes = line.iter().enumerate();
    while let Some((i, &b)) = bytes.next() {
        match b {
            b'\\' => {
                bytes.next()?;
            }
            b':' => return Some(&line[i + 1..]),
            _ => {}
        }
    }
    None
}

/// Backslashes before `\` and `:`, and before a leading `*` (a wildcard
/// when it is the whole field) or `#` (a comment when it starts the line).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    if text.starts_with(['*', '#']) {
        out.push('\\');
    }
    for c in text.chars() {
        if c == '\\' || c == ':' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The password file libpq would use: `PGPASSFILE`, else `.pgpass` in the
/// home directory (`HOME`, else the user's entry in the password database,
/// given as `account_home`).
pub fn location(
    pgpassfile: Option<&str>,
    home: Option<&str>,
    account_home: impl FnOnce() -> Option<PathBuf>,
) -> Option<PathBuf> {
    match (pgpassfile, home) {
        (Some(file), _) => Some(PathBuf::from(file)),
        (None, Some(home)) => Some(Path::new(home).join(".pgpass")),
        (None, None) => account_home().map(|home| home.join(".pgpass")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(file: &PassFile, host: &str, port: u16, db: &str, user: &str) -> Option<Vec<u8>> {
        file.lookup(host, port, db, user).map(|p| p.to_vec())
    }

    fn parse(text: &str) -> PassFile {
        PassFile::parse(text.as_bytes())
    }

    #[test]
    fn the_first_matching_line_wins() {
        let file = parse(
            "db1:5432:orders:admin:first\n\
             db1:5432:*:admin:second\n\
             *:*:*:*:fallback\n",
        );
        assert_eq!(lookup(&file, "db1", 5432, "orders", "admin"), Some(b"first".to_vec()));
        assert_eq!(lookup(&file, "db1", 5432, "billing", "admin"), Some(b"second".to_vec()));
        assert_eq!(lookup(&file, "db2", 6432, "x", "y"), Some(b"fallback".to_vec()));
    }

    #[test]
    fn fields_must_match_exactly() {
        let file = parse("db1:5432:orders:admin:pw\n");
        assert_eq!(lookup(&file, "db1", 5433, "orders", "admin"), None);
        assert_eq!(lookup(&file, "DB1", 5432, "orders", "admin"), None);
        assert_eq!(lookup(&file, "db1", 5432, "orders", "Admin"), None);
        assert_eq!(lookup(&file, "db1", 5432, "order", "admin"), None);
        assert_eq!(lookup(&file, "db1", 5432, "", "admin"), None, "libpq needs a database");
    }

    #[test]
    fn escapes_make_the_next_byte_literal() {
        let file = parse(
            "fe80\\:\\:1:5432:*:admin:pa\\:ss\\\\word\n\
             db1:5432:*:admin:ends at: the colon\n\
             db2:5\\432:d\\b:admin:trailing\\\n",
        );
        assert_eq!(lookup(&file, "fe80::1", 5432, "x", "admin"), Some(b"pa:ss\\word".to_vec()));
        assert_eq!(lookup(&file, "db1", 5432, "x", "admin"), Some(b"ends at".to_vec()));
        assert_eq!(lookup(&file, "db2", 5432, "db", "admin"), Some(b"trailing\\".to_vec()));
    }

    #[test]
    fn an_unescaped_colon_ends_a_field_only_where_the_value_ends() {
        let file = parse("db1:5432:*:a:b:pw\n");
        assert_eq!(lookup(&file, "db1", 5432, "x", "a:b"), Some(b"pw".to_vec()));
        assert_eq!(lookup(&file, "db1", 5432, "x", "a"), Some(b"b".to_vec()));
        let file = parse("fe80::1:5432:*:admin:v6\n");
        assert_eq!(lookup(&file, "fe80::1", 5432, "x", "admin"), Some(b"v6".to_vec()));
    }

    #[test]
    fn only_a_star_before_a_colon_is_a_wildcard() {
        let file = parse(
            "\\*:5432:*:admin:escaped\n\
             *x:5432:*:admin:starred\n\
             db1:5432:*:*",
        );
        assert_eq!(lookup(&file, "db1", 5432, "x", "admin"), None, "unterminated user field");
        assert_eq!(lookup(&file, "*", 5432, "x", "admin"), Some(b"escaped".to_vec()));
        assert_eq!(lookup(&file, "*x", 5432, "x", "admin"), Some(b"starred".to_vec()));
    }

    #[test]
    fn comments_blank_and_short_lines_are_skipped() {
        let file = parse(
            "# db1:5432:*:admin:commented\n\
             \n\
             \r\n\
             db1:5432:admin:short\n\
             db1:5432:*:admin:real\r\r\n",
        );
        assert_eq!(lookup(&file, "db1", 5432, "x", "admin"), Some(b"real".to_vec()));
    }

    #[test]
    fn a_line_that_is_not_utf8_is_only_a_line() {
        let file =
            PassFile::parse(b"caf\xe9:5432:*:admin:latin1\n*:5432:*:admin:pass\xffword\nnext:::");
        assert_eq!(lookup(&file, "café", 5432, "x", "admin"), Some(b"pass\xffword".to_vec()));
        assert_eq!(lookup(&file, "caf", 6000, "x", "admin"), None);
    }

    #[test]
    fn a_nul_byte_ends_a_read_and_joins_it_to_the_next_line() {
        // fgets reads "db1:54\0junk\n"; strlen keeps "db1:54"; the next
        // read appends "32:*:admin:joined".
        let file = PassFile::parse(b"db1:54\0junk\n32:*:admin:joined\nnot:reached:::\n");
        assert_eq!(lookup(&file, "db1", 5432, "x", "admin"), Some(b"joined".to_vec()));
        // A NUL in the last line, after its newline nothing is read: lost.
        let file = PassFile::parse(b"db1:5432:*:admin:pw\0\n");
        assert_eq!(lookup(&file, "db1", 5432, "x", "admin"), None);
        let file = PassFile::parse(b"db1:5432:*:admin:pw\0tail");
        assert_eq!(lookup(&file, "db1", 5432, "x", "admin"), Some(b"pw".to_vec()));
    }

    #[test]
    fn long_lines_are_read_whole() {
        let long_db = "d".repeat(1000);
        let file = parse(&format!("db1:5432:{long_db}:admin:long\n"));
        assert_eq!(lookup(&file, "db1", 5432, &long_db, "admin"), Some(b"long".to_vec()));
    }

    #[test]
    fn the_default_socket_directory_is_localhost_and_others_are_themselves() {
        let file = parse(
            "localhost:5432:*:admin:local\n\
             /tmp/pg\\:1:5432:*:admin:own-dir\n",
        );
        assert_eq!(lookup(&file, DEFAULT_SOCKET_DIR, 5432, "x", "admin"), Some(b"local".to_vec()));
        assert_eq!(lookup(&file, "localhost", 5432, "x", "admin"), Some(b"local".to_vec()));
        assert_eq!(lookup(&file, "/tmp/pg:1", 5432, "x", "admin"), Some(b"own-dir".to_vec()));
        assert_eq!(lookup(&file, "/tmp", 5432, "x", "admin"), None);
        assert_eq!(lookup(&file, "/var/run/postgresql/", 5432, "x", "admin"), None);
    }

    #[test]
    fn an_empty_password_field_is_a_password() {
        let file = parse("db1:5432:*:admin:\n");
        assert_eq!(lookup(&file, "db1", 5432, "x", "admin"), Some(b"".to_vec()));
    }

    #[test]
    fn written_lines_are_escaped_for_libpq() {
        assert_eq!(
            format_line("db1", 5432, "orders", "app", "a:b\\c"),
            "db1:5432:orders:app:a\\:b\\\\c\n"
        );
        assert_eq!(
            format_line(DEFAULT_SOCKET_DIR, 5432, "*", "app", "*"),
            "localhost:5432:\\*:app:\\*\n"
        );
        assert_eq!(format_line("/tmp/pg", 6000, "d", "app", "pw"), "/tmp/pg:6000:d:app:pw\n");
        assert_eq!(format_line("#h", 1, "#d", "u", "#"), "\\#h:1:\\#d:u:\\#\n");
    }

    #[test]
    fn group_or_world_access_refuses_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pgpass");
        fs::write(&path, "*:*:*:*:pw\n").unwrap();
        for mode in [0o644, 0o640, 0o604, 0o610, 0o601] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(PassFile::read(&path).unwrap_err(), Unusable::TooOpen { mode });
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(PassFile::read(&path).is_ok());
        assert_eq!(PassFile::read(&dir.path().join("none")).unwrap_err(), Unusable::NotFound);
        assert_eq!(PassFile::read(dir.path()).unwrap_err(), Unusable::NotAFile);
    }

    #[test]
    fn the_file_is_pgpassfile_else_in_the_home_directory() {
        let none = || None;
        assert_eq!(location(Some("/x/pw"), Some("/home/a"), none), Some("/x/pw".into()));
        assert_eq!(location(None, Some("/home/a"), none), Some("/home/a/.pgpass".into()));
        let account = || Some(PathBuf::from("/home/b"));
        assert_eq!(location(None, None, account), Some("/home/b/.pgpass".into()));
        assert_eq!(location(None, None, none), None);
    }
}

/// Property tests: any bytes parse without a panic, matching agrees with a
/// line-by-line transcription of libpq's C, and what pgacct writes reads
/// back to the same fields.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// `pwdfMatchesString`, transcribed from fe-connect.c: the rest of
    /// the line after a matching field.
    fn c_matches<'a>(buf: &'a [u8], token: &[u8]) -> Option<&'a [u8]> {
        if buf.starts_with(b"*:") {
            return Some(&buf[2..]);
        }
        let at = |s: &[u8], i: usize| s.get(i).copied().unwrap_or(0);
        let (mut t, mut k, mut bslash) = (0, 0, false);
        while at(buf, t) != 0 {
            if at(buf, t) == b'\\' && !bslash {
                t += 1;
                bslash = true;
            }
            if at(buf, t) == b':' && at(token, k) == 0 && !bslash {
                return Some(&buf[t + 1..]);
            }
            bslash = false;
            if at(token, k) == 0 || at(buf, t) != at(token, k) {
                return None;
            }
            t += 1;
            k += 1;
        }
        None
    }

    /// The de-escaping loop of `passwordFromFile`.
    fn c_password(rest: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut p = 0;
        while p < rest.len() && rest[p] != b':' {
            if rest[p] == b'\\' && p + 1 < rest.len() {
                p += 1;
            }
            out.push(rest[p]);
            p += 1;
        }
        out
    }

    /// `passwordFromFile`'s loop over lines without NUL bytes.
    fn c_lookup(text: &[u8], tokens: [&[u8]; 4]) -> Option<Vec<u8>> {
        for line in text.split(|&b| b == b'\n') {
            if line.first() == Some(&b'#') {
                continue;
            }
            let len = line.iter().rposition(|&b| b != b'\r').map_or(0, |i| i + 1);
            let mut rest = Some(&line[..len]).filter(|l| !l.is_empty());
            for token in tokens {
                rest = rest.and_then(|r| c_matches(r, token));
            }
            if let Some(rest) = rest {
                return Some(c_password(rest));
            }
        }
        None
    }

    /// Bytes that matter to the format, and a few that do not.
    fn line_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(proptest::sample::select(b"ab*:\\#\r\n\xff5".to_vec()), 0..max)
    }

    /// A line of five short fields, so that lines often match.
    fn fielded_line() -> impl Strategy<Value = Vec<u8>> {
        let field = prop_oneof![
            4 => Just(b"*".to_vec()),
            3 => proptest::sample::select(vec![&b"a"[..], b"\\a", b"aa", b"a\\:", b"*a"])
                .prop_map(<[u8]>::to_vec),
            2 => proptest::collection::vec(proptest::sample::select(b"a*:\\#".to_vec()), 0..3),
        ];
        proptest::collection::vec(field, 5).prop_map(|fields| fields.join(&b':'))
    }

    fn token() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            2 => proptest::sample::select(vec![&b"a"[..], b"aa", b"a:", b"*a"]).prop_map(<[u8]>::to_vec),
            1 => proptest::collection::vec(proptest::sample::select(b"ab*:\\\xff".to_vec()), 1..4),
        ]
    }

    /// Text for a field pgacct writes: no line breaks, no NUL.
    fn field() -> impl Strategy<Value = String> {
        any::<String>().prop_map(|s| s.replace(['\n', '\r', '\0'], ""))
    }

    proptest! {
        #[test]
        fn no_bytes_make_parsing_panic(bytes in any::<Vec<u8>>(), db in field()) {
            let file = PassFile::parse(&bytes);
            let _ = file.lookup("localhost", 5432, &db, "u");
        }

        #[test]
        fn matching_agrees_with_libpq(
            lines in proptest::collection::vec(prop_oneof![1 => line_bytes(24), 3 => fielded_line()], 1..6),
            host in token(), port in token(), db in token(), user in token(),
        ) {
            let text = lines.join(&b'\n');
            let file = PassFile { lines: text.split(|&b| b == b'\n').map(|l| Zeroizing::new(l.to_vec())).collect() };
            let wanted = [&host, &port, &db, &user];
            let ours = file.lines.iter().find_map(|line| {
                let rest = wanted.iter().try_fold(line.as_slice(), |rest, value| match_field(rest, value))?;
                Some(password(rest).to_vec())
            });
            let libpq = c_lookup(&text, [&host, &port, &db, &user]);
            prop_assert_eq!(ours, libpq);
        }

        #[test]
        fn a_written_line_reads_back_as_its_fields(
            host in field().prop_filter("a host", |h| !h.is_empty()),
            port in 1..=u16::MAX,
            db in field().prop_filter("a database", |d| !d.is_empty()),
            user in field().prop_filter("a user", |u| !u.is_empty()),
            password in field(),
            noise in proptest::collection::vec(line_bytes(30), 0..3),
        ) {
            let line = format_line(&host, port, &db, &user, &password);
            let one_line = line.strip_suffix('\n').unwrap();
            prop_assert_eq!(line_password(one_line), Some(password.clone()));
            // It reads back as exactly its fields: found with them, and not
            // when any one of them differs.
            let alone = PassFile::parse(line.as_bytes());
            let found = |h: &str, p: u16, d: &str, u: &str| alone.lookup(h, p, d, u).map(|pw| pw.to_vec());
            prop_assert_eq!(found(&host, port, &db, &user), Some(password.clone().into_bytes()));
            let other_host = if lookup_host(&host) == "localhost" { "other".to_owned() } else { format!("{host}x") };
            prop_assert_eq!(found(&other_host, port, &db, &user), None);
            prop_assert_eq!(found(&host, port.wrapping_add(1).max(1), &db, &user), None);
            prop_assert_eq!(found(&host, port, &format!("{db}x"), &user), None);
            prop_assert_eq!(found(&host, port, &db, &format!("{user}x")), None);
            // Whatever comes after it, the line is found for its target.
            let mut file = line.into_bytes();
            for noise in noise {
                file.extend_from_slice(&noise);
                file.push(b'\n');
            }
            let found = PassFile::parse(&file).lookup(&host, port, &db, &user).map(|pw| pw.to_vec());
            prop_assert_eq!(found, Some(password.into_bytes()));
        }
    }
}
