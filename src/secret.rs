//! Secrets: passwords held in memory as briefly and quietly as possible,
//! generated from a CSPRNG, turned into SCRAM-SHA-256 verifiers on the
//! client, and delivered once.
//!
//! A [`Secret`] never prints itself (`Debug` shows `<redacted>`, and there
//! is no `Display`), and its memory is wiped when it is dropped.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use rand::Rng as _;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::pg::pgpass;
use crate::registry::{Host, HostEntry};

mod command;

pub use command::SecretCommand;

/// A password or other secret text.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(text: String) -> Self {
        Secret(Zeroizing::new(text))
    }

    /// The secret text itself, for the one place that must use it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A new password of `length` URL-safe characters from the thread's CSPRNG
/// (`ChaCha`, seeded from the OS). 22 characters are 16 random bytes.
pub fn generate(length: usize) -> Secret {
    let mut bytes = Zeroizing::new(vec![0u8; (length * 3).div_ceil(4)]);
    rand::rng().fill_bytes(&mut bytes);
    let mut text = URL_SAFE_NO_PAD.encode(&*bytes);
    text.truncate(length);
    Secret::new(text)
}

/// PostgreSQL's default `scram_iterations` (and the only value before 16).
pub const DEFAULT_SCRAM_ITERATIONS: u32 = 4096;

/// The SCRAM-SHA-256 verifier of `password`, in the form PostgreSQL stores
/// (`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`), with a
/// fresh random salt. Sent instead of the password, it keeps the password
/// out of the server, its logs and `pg_stat_activity`.
pub fn scram_verifier(password: &Secret, iterations: u32) -> String {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    scram_verifier_with_salt(password, &salt, iterations)
}

/// How the verifiers of one new password are salted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Salting {
    /// A fresh salt for every server: what a stolen verifier gives away on
    /// one cluster says nothing of the others.
    PerServer,
    /// One salt for the whole invocation, so that every server with the
    /// same `scram_iterations` stores the very same verifier: what a
    /// pgbouncer `auth_file` needs to log in to each of them for its clients
    /// (SCRAM pass-through takes the server's verifier, byte for byte).
    Shared,
}

/// The new password of a change, and the SCRAM verifiers made of it. With
/// [`Salting::Shared`] each verifier is made once per iteration count and
/// kept, so that what is delivered (`--secret-format pgbouncer`) is the
/// verifier that was sent, not another hash of the password. Clones share
/// the verifiers made.
#[derive(Debug, Clone)]
pub struct Password {
    secret: Secret,
    salting: Salting,
    /// The invocation's salt, and the verifiers made with it by iteration
    /// count ([`Salting::Shared`] only).
    shared: std::sync::Arc<SharedVerifiers>,
}

#[derive(Debug)]
struct SharedVerifiers {
    salt: [u8; 16],
    made: std::sync::Mutex<std::collections::BTreeMap<u32, String>>,
}

impl Password {
    pub fn new(secret: Secret, salting: Salting) -> Password {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let made = std::sync::Mutex::default();
        Password { secret, salting, shared: std::sync::Arc::new(SharedVerifiers { salt, made }) }
    }

    /// The verifier to send to a server whose `scram_iterations` is
    /// `iterations`.
    pub fn verifier(&self, iterations: u32) -> String {
        if self.salting == Salting::PerServer {
            return scram_verifier(&self.secret, iterations);
        }
        let mut made = self.shared.made.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        made.entry(iterations)
            .or_insert_with(|| {
                scram_verifier_with_salt(&self.secret, &self.shared.salt, iterations)
            })
            .clone()
    }

    /// The shared verifiers made so far, by iteration count (none with
    /// [`Salting::PerServer`]).
    pub fn shared_verifiers(&self) -> std::collections::BTreeMap<u32, String> {
        self.shared.made.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

impl std::ops::Deref for Password {
    type Target = Secret;

    fn deref(&self) -> &Secret {
        &self.secret
    }
}

fn scram_verifier_with_salt(password: &Secret, salt: &[u8], iterations: u32) -> String {
    let keys = ScramKeys::from_salted(&salted_password(password, salt, iterations));
    format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        STANDARD.encode(salt),
        STANDARD.encode(keys.stored_key),
        STANDARD.encode(keys.server_key)
    )
}

/// Whether `password` is the one a stored SCRAM-SHA-256 verifier was made
/// from (`None`: not a SCRAM verifier, as an md5 hash is not).
pub fn verifier_matches(verifier: &str, password: &Secret) -> Option<bool> {
    let rest = verifier.strip_prefix("SCRAM-SHA-256$")?;
    let (iterations, rest) = rest.split_once(':')?;
    let (salt, keys) = rest.split_once('$')?;
    let (stored_key, server_key) = keys.split_once(':')?;
    let iterations: u32 = iterations.parse().ok()?;
    let salt = STANDARD.decode(salt).ok()?;
    let keys = ScramKeys::from_salted(&salted_password(password, &salt, iterations));
    Some(
        STANDARD.encode(keys.stored_key) == stored_key
            && STANDARD.encode(keys.server_key) == server_key,
    )
}

/// RFC 5802 §3's `SaltedPassword`, with the password normalised as
/// PostgreSQL does: `SASLprep` when it is valid UTF-8 and `SASLprep` accepts
/// it, the raw bytes otherwise.
fn salted_password(password: &Secret, salt: &[u8], iterations: u32) -> Zeroizing<[u8; 32]> {
    let prepared = stringprep::saslprep(password.expose()).map_or_else(
        |_| Zeroizing::new(password.expose().to_owned()),
        |p| Zeroizing::new(p.into_owned()),
    );
    let mut salted = Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2_hmac::<Sha256>(prepared.as_bytes(), salt, iterations, &mut *salted);
    salted
}

/// The two keys the server keeps.
struct ScramKeys {
    stored_key: [u8; 32],
    server_key: [u8; 32],
}

impl ScramKeys {
    fn from_salted(salted: &[u8; 32]) -> ScramKeys {
        let client_key = Zeroizing::new(hmac(salted, b"Client Key"));
        ScramKeys {
            stored_key: Sha256::digest(*client_key).into(),
            server_key: hmac(salted, b"Server Key"),
        }
    }
}

fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// The shapes `--secret-file` can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretFormat {
    /// Shell-style `NAME=value` lines: PGHOST, PGPORT, PGDATABASE, PGUSER,
    /// PGPASSWORD, `DATABASE_URL`. One target only.
    Env,
    /// `{"user", "password", "targets": [{env, db, host, port, url}]}`.
    Json,
    /// libpq password-file lines.
    Pgpass,
    /// One `postgresql://` URL per target.
    Url,
    /// A Kubernetes Secret manifest per target, with `stringData`.
    K8sSecret,
    /// A pgbouncer `userlist.txt` line: the role and its SCRAM verifier,
    /// never the password.
    Pgbouncer,
}

impl SecretFormat {
    /// True when the format holds a single target.
    pub fn single_target(self) -> bool {
        matches!(self, SecretFormat::Env)
    }

    /// True when the format holds the password itself (all but pgbouncer's,
    /// which holds a verifier: the password must go somewhere besides).
    pub fn holds_password(self) -> bool {
        !matches!(self, SecretFormat::Pgbouncer)
    }
}

/// pgbouncer's `userlist.txt` line for `user` and its stored `verifier`:
/// both in double quotes, a `"` inside doubled, as pgbouncer reads them.
pub fn pgbouncer_line(user: &str, verifier: &str) -> Zeroizing<String> {
    let quote = |text: &str| format!("\"{}\"", text.replace('"', "\"\""));
    Zeroizing::new(format!("{} {}\n", quote(user), quote(verifier)))
}

/// Where a delivered password works.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub env: String,
    pub db: String,
    pub host: String,
    pub port: u16,
    /// The target's sslmode, if the registry sets one: carried into URLs.
    pub sslmode: Option<String>,
}

impl Endpoint {
    /// The servers it names: several for a host list, each with its port.
    fn servers(&self) -> Vec<HostEntry> {
        match self.host.parse::<Host>() {
            Ok(host) => host.entries(self.port),
            Err(_) => vec![HostEntry { host: self.host.clone(), port: self.port }],
        }
    }

    /// libpq's `host` and `port` values: for a host list, lists (one port
    /// when every server has the same).
    fn host_and_port(&self) -> (String, String) {
        let servers = self.servers();
        let hosts: Vec<&str> = servers.iter().map(|s| s.host.as_str()).collect();
        let mut ports: Vec<String> = servers.iter().map(|s| s.port.to_string()).collect();
        ports.dedup();
        if ports.len() > 1 {
            ports = servers.iter().map(|s| s.port.to_string()).collect();
        }
        (hosts.join(","), ports.join(","))
    }

    /// The libpq variables that reach this endpoint as `user`, and the URL.
    fn variables(&self, user: &str, password: &Secret) -> [(&'static str, String); 6] {
        let (host, port) = self.host_and_port();
        [
            ("PGHOST", host),
            ("PGPORT", port),
            ("PGDATABASE", self.db.clone()),
            ("PGUSER", user.to_owned()),
            ("PGPASSWORD", password.expose().to_owned()),
            ("DATABASE_URL", self.url(user, password)),
        ]
    }

    /// A `postgresql://` URL with the user and password in it.
    pub fn url(&self, user: &str, password: &Secret) -> String {
        let credentials = format!("{}:{}", percent_encode(user), percent_encode(password.expose()));
        let mut query = Vec::new();
        let servers = self.servers();
        let authority = if servers.iter().any(|s| s.host.starts_with('/')) {
            // Socket directories go in the query, lists included.
            let (host, port) = self.host_and_port();
            query.push(format!("host={}", percent_encode(&host)));
            query.push(format!("port={port}"));
            format!("{credentials}@")
        } else if servers.len() > 1 {
            let bracket = |s: &HostEntry| {
                if s.host.contains(':') {
                    format!("[{}]:{}", s.host, s.port)
                } else {
                    s.to_string()
                }
            };
            format!("{credentials}@{}", servers.iter().map(bracket).collect::<Vec<_>>().join(","))
        } else if self.host.contains(':') {
            format!("{credentials}@[{}]:{}", self.host, self.port)
        } else {
            format!("{credentials}@{}:{}", self.host, self.port)
        };
        if let Some(mode) = &self.sslmode {
            query.push(format!("sslmode={mode}"));
        }
        let query = if query.is_empty() { String::new() } else { format!("?{}", query.join("&")) };
        format!("postgresql://{authority}/{}{query}", percent_encode(&self.db))
    }
}

/// `user`'s password for `endpoints`, in `format`.
pub fn render(
    format: SecretFormat,
    user: &str,
    password: &Secret,
    endpoints: &[Endpoint],
) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::new());
    match format {
        SecretFormat::Env => {
            for e in endpoints.iter().take(1) {
                for (name, value) in e.variables(user, password) {
                    out.push_str(&format!("{name}={}\n", shell_quote(&value)));
                }
            }
        }
        SecretFormat::Json => {
            let targets: Vec<serde_json::Value> = endpoints
                .iter()
                .map(|e| {
                    serde_json::json!({
                        "env": e.env, "db": e.db, "host": e.host, "port": e.port,
                        "url": e.url(user, password),
                    })
                })
                .collect();
            let document = serde_json::json!({
                "user": user, "password": password.expose(), "targets": targets,
            });
            out.push_str(&serde_json::to_string_pretty(&document).expect("JSON values serialise"));
            out.push('\n');
        }
        SecretFormat::Pgpass => {
            // A line per server: libpq matches the host it connects to.
            for e in endpoints {
                for server in e.servers() {
                    let line = pgpass::format_line(
                        &server.host,
                        server.port,
                        &e.db,
                        user,
                        password.expose(),
                    );
                    out.push_str(&line);
                }
            }
        }
        SecretFormat::Url => {
            for e in endpoints {
                out.push_str(&e.url(user, password));
                out.push('\n');
            }
        }
        SecretFormat::Pgbouncer => {
            debug_assert!(false, "a pgbouncer line is made of the verifier: pgbouncer_line");
        }
        SecretFormat::K8sSecret => {
            for (i, e) in endpoints.iter().enumerate() {
                if i > 0 {
                    out.push_str("---\n");
                }
                let name = k8s_name(user, e);
                out.push_str(&format!(
                    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  labels:\n    \
                     app.kubernetes.io/managed-by: pgacct\ntype: Opaque\nstringData:\n"
                ));
                for (key, value) in e.variables(user, password) {
                    // A JSON string is a valid YAML double-quoted scalar.
                    let quoted = serde_json::to_string(&value).expect("strings serialise");
                    out.push_str(&format!("  {key}: {quoted}\n"));
                }
            }
        }
    }
    out
}

/// The longest Kubernetes name that is also a DNS-1123 label (a Secret's
/// name may be a 253-character subdomain, but tools that copy it into a
/// label need 63).
pub const K8S_NAME_MAX: usize = 63;

/// Hex digits of the hash that makes a Secret's name unique.
const K8S_HASH_HEX: usize = 12;

/// The name of the Secret that holds `user`'s password for `target`: a
/// readable part (`user-env-db` lower-cased, every run of characters
/// outside `[a-z0-9]` one `-`) and a hash of the exact user and target
/// (env, db, host, port), so that two targets never share a name however
/// alike they read (`my db`, `my_db`, `My-DB`, one database on two
/// clusters), and the same target always gets the same one. A DNS-1123
/// label: `[a-z0-9-]`, alphanumeric at both ends, at most 63 characters.
pub fn k8s_name(user: &str, target: &Endpoint) -> String {
    let Endpoint { env, db, host, port, .. } = target;
    let identity = serde_json::json!([user, env, db, host, port]).to_string();
    let digest = Sha256::digest(identity.as_bytes());
    let mut hash = String::with_capacity(K8S_HASH_HEX);
    for byte in &digest[..K8S_HASH_HEX / 2] {
        hash.push_str(&format!("{byte:02x}"));
    }
    let mut readable = String::new();
    for c in format!("{user}-{env}-{db}").chars() {
        if c.is_ascii_alphanumeric() {
            readable.push(c.to_ascii_lowercase());
        } else if !readable.is_empty() && !readable.ends_with('-') {
            readable.push('-');
        }
    }
    readable.truncate(K8S_NAME_MAX - K8S_HASH_HEX - 1);
    let readable = readable.trim_end_matches('-');
    if readable.is_empty() { hash } else { format!("{readable}-{hash}") }
}

/// Quotes `text` for a POSIX shell when it needs it.
fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:@%+=,?&".contains(c));
    if plain { text.to_owned() } else { format!("'{}'", text.replace('\'', r"'\''")) }
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A `--secret-file`, checked when the change is planned, claimed before
/// anything changes (so that a destination that cannot be written stops
/// the command first) and filled after, through a staging file beside it
/// that is renamed into place. A claim never filled is removed again, so a
/// command that stops early leaves nothing behind.
#[derive(Debug)]
pub struct SecretFile {
    path: PathBuf,
    /// Written first, then renamed over `path`.
    staging: PathBuf,
    /// Without `--force`, `path` itself, created empty as the claim.
    claimed_path: bool,
    /// `None` once filled (or given up).
    file: Option<File>,
}

#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    #[error("{} exists; pgacct does not overwrite a secret file without --force", .0.display())]
    Exists(PathBuf),
    #[error("{} is {what}; a secret file is a regular file", path.display())]
    NotAFile { path: PathBuf, what: &'static str },
    #[error("cannot write the secret file {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl SecretFileError {
    pub fn hint(&self) -> String {
        match self {
            SecretFileError::Exists(_) => {
                "add --force to replace it, or choose another --secret-file".into()
            }
            SecretFileError::NotAFile { .. } => "choose another --secret-file".into(),
            SecretFileError::Io { .. } => {
                "check that the directory of --secret-file exists and is writable".into()
            }
        }
    }
}

/// What is at a path, for the rules of a secret file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    Nothing,
    RegularFile,
    /// Anything else, in words.
    Other(&'static str),
}

/// Looks at `path` itself (`lstat`): a symbolic link is never followed.
fn what_is(path: &Path) -> Result<Found, std::io::Error> {
    use std::os::unix::fs::FileTypeExt;
    let kind = match fs::symlink_metadata(path) {
        Ok(meta) => meta.file_type(),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Found::Nothing),
        Err(err) => return Err(err),
    };
    Ok(if kind.is_file() {
        Found::RegularFile
    } else if kind.is_dir() {
        Found::Other("a directory")
    } else if kind.is_symlink() {
        Found::Other("a symbolic link")
    } else if kind.is_fifo() {
        Found::Other("a FIFO (named pipe)")
    } else if kind.is_char_device() || kind.is_block_device() {
        Found::Other("a device")
    } else {
        Found::Other("not a regular file")
    })
}

/// A file to be created beside `path`, named so that no other run picks it.
fn staging_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut nonce = [0u8; 6];
    rand::rng().fill_bytes(&mut nonce);
    let nonce = URL_SAFE_NO_PAD.encode(nonce);
    path.with_file_name(format!(".{name}.pgacct-{}-{nonce}", std::process::id()))
}

fn create_private(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)
}

impl SecretFile {
    /// Checks that `path` could receive a secret: its directory exists, and
    /// it is absent, or (with `force`) a regular file. With `probe`, also
    /// that the directory is writable, by creating and removing a file in
    /// it; a dry run does not probe.
    pub fn check(path: &Path, force: bool, probe: bool) -> Result<(), SecretFileError> {
        let io_err = |source| SecretFileError::Io { path: path.to_owned(), source };
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        if !fs::metadata(dir).map_err(io_err)?.is_dir() {
            let not_a_dir = std::io::Error::new(std::io::ErrorKind::NotADirectory, "no directory");
            return Err(io_err(not_a_dir));
        }
        match what_is(path).map_err(io_err)? {
            Found::Nothing => {}
            Found::RegularFile if force => {}
            Found::RegularFile => return Err(SecretFileError::Exists(path.to_owned())),
            Found::Other(what) => {
                return Err(SecretFileError::NotAFile { path: path.to_owned(), what });
            }
        }
        if probe {
            let staging = staging_path(path);
            drop(create_private(&staging).map_err(io_err)?);
            let _ = fs::remove_file(&staging);
        }
        Ok(())
    }

    /// Claims the destination: without `force`, creates it (empty, mode
    /// 0600) so that no one else takes it; and the staging file beside it.
    pub fn claim(path: &Path, force: bool) -> Result<SecretFile, SecretFileError> {
        Self::check(path, force, false)?;
        let io_err = |source| SecretFileError::Io { path: path.to_owned(), source };
        if !force {
            match create_private(path) {
                Ok(_) => {}
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                    return Err(SecretFileError::Exists(path.to_owned()));
                }
                Err(err) => return Err(io_err(err)),
            }
        }
        let staging = staging_path(path);
        let file = match create_private(&staging) {
            Ok(file) => file,
            Err(err) => {
                if !force {
                    let _ = fs::remove_file(path);
                }
                return Err(io_err(err));
            }
        };
        Ok(SecretFile { path: path.to_owned(), staging, claimed_path: !force, file: Some(file) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `contents` into the staging file and renames it into place.
    /// When the rename fails, the staging file stays, complete and private,
    /// and the error names it: the secret is never lost by a failed write.
    pub fn fill(mut self, contents: &str) -> Result<(), (SecretFileError, Option<PathBuf>)> {
        let path = self.path.clone();
        let io_err = |source| SecretFileError::Io { path: path.clone(), source };
        let Some(mut file) = self.file.take() else {
            return Err((io_err(std::io::Error::other("filled twice")), None));
        };
        let written = file.write_all(contents.as_bytes()).and_then(|()| file.sync_all());
        if let Err(err) = written {
            self.give_up();
            return Err((io_err(err), None));
        }
        // Only a regular file (or the claim) is ever replaced.
        let placed = match what_is(&self.path) {
            Ok(Found::Nothing | Found::RegularFile) => {
                fs::rename(&self.staging, &self.path).map_err(io_err)
            }
            Ok(Found::Other(what)) => Err(SecretFileError::NotAFile { path: path.clone(), what }),
            Err(err) => Err(io_err(err)),
        };
        placed.map_err(|err| {
            // The secret stays in the staging file; the empty claim goes,
            // unless something else has taken its place.
            if self.claimed_path && !matches!(err, SecretFileError::NotAFile { .. }) {
                let _ = fs::remove_file(&self.path);
            }
            (err, Some(self.staging.clone()))
        })
    }

    /// Removes what the claim created.
    fn give_up(&mut self) {
        let _ = fs::remove_file(&self.staging);
        if self.claimed_path {
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl Drop for SecretFile {
    /// A claim never filled is given up: nothing received a password.
    fn drop(&mut self) {
        if self.file.is_some() {
            self.give_up();
        }
    }
}

/// The longest password pgacct accepts, in bytes: libpq before
/// PostgreSQL 17 refuses longer ones in SCRAM (`pg_saslprep`'s limit).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Below this many characters, a given password draws a warning.
pub const SHORT_PASSWORD_CHARS: usize = 12;

/// Why a password given by the user is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadPassword {
    #[error("the password is empty")]
    Empty,
    #[error(
        "the password is {0} bytes long; PostgreSQL's clients accept at most {MAX_PASSWORD_BYTES} \
         (pgacct does not shorten it)"
    )]
    TooLong(usize),
    #[error("the password takes one line, without NUL bytes or line breaks")]
    NotOneLine,
}

/// Checks a password the user gave (`--password-stdin`, a prompt).
pub fn check_given(password: &str) -> Result<(), BadPassword> {
    if password.is_empty() {
        return Err(BadPassword::Empty);
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(BadPassword::TooLong(password.len()));
    }
    if password.contains(['\n', '\r', '\0']) {
        return Err(BadPassword::NotOneLine);
    }
    Ok(())
}

/// Whether `text` is a pgbouncer userlist (`"user" "SCRAM-SHA-256$..."`),
/// which holds no password to read back.
pub fn holds_verifiers(text: &str) -> bool {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty()).peekable();
    lines.peek().is_some() && lines.all(|l| l.starts_with('"') && l.contains("\" \"SCRAM-SHA-256$"))
}

/// The password in a secret file pgacct wrote, in any `--secret-format`
/// but pgbouncer's:
/// `None` when none is found, or when the file holds different ones.
pub fn read_back(text: &str) -> Option<Secret> {
    if let Ok(document) = serde_json::from_str::<serde_json::Value>(text) {
        return document["password"].as_str().map(|p| Secret::new(p.to_owned()));
    }
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let found: Vec<Option<String>> = if text.starts_with("apiVersion:") {
        lines
            .iter()
            .filter_map(|l| l.trim_start().strip_prefix("PGPASSWORD: "))
            .map(|value| serde_json::from_str::<String>(value).ok())
            .collect()
    } else if lines.iter().any(|l| l.starts_with("PGPASSWORD=")) {
        lines.iter().filter_map(|l| l.strip_prefix("PGPASSWORD=")).map(shell_unquote).collect()
    } else if lines.iter().all(|l| l.starts_with("postgresql://")) {
        lines.iter().map(|l| url_password(&l["postgresql://".len()..])).collect()
    } else {
        lines.iter().map(|l| pgpass::line_password(l)).collect()
    };
    let mut passwords: Vec<String> = found.into_iter().collect::<Option<_>>()?;
    passwords.dedup();
    match passwords.as_slice() {
        [one] => Some(Secret::new(one.clone())),
        _ => None,
    }
}

fn shell_unquote(value: &str) -> Option<String> {
    match value.strip_prefix('\'') {
        Some(quoted) => Some(quoted.strip_suffix('\'')?.replace(r"'\''", "'")),
        None => Some(value.to_owned()),
    }
}

fn url_password(rest: &str) -> Option<String> {
    let (userinfo, _) = rest.split_once('@')?;
    let (_, password) = userinfo.split_once(':')?;
    percent_decode(password)
}

fn percent_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut iter = text.bytes();
    while let Some(b) = iter.next() {
        if b == b'%' {
            let hex = [iter.next()?, iter.next()?];
            bytes.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            bytes.push(b);
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_secret() {
        let secret = Secret::new("hunter2".into());
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
    }

    #[test]
    fn generated_passwords_are_url_safe_and_fresh() {
        let a = generate(22);
        assert_eq!(a.expose().len(), 22);
        assert!(a.expose().chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(a, generate(22));
        assert_eq!(generate(40).expose().len(), 40);
    }

    /// RFC 7677 §3: user "user", password "pencil". Our keys must produce the
    /// client proof and server signature of the RFC's exchange.
    #[test]
    fn scram_keys_match_rfc_7677() {
        let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let salted = salted_password(&Secret::new("pencil".into()), &salt, 4096);
        let keys = ScramKeys::from_salted(&salted);
        let client_key = hmac(&*salted, b"Client Key");
        let auth_message = "n=user,r=rOprNGfwEbeRWgbNEkqO,\
            r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,\
            c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let client_signature = hmac(&keys.stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(client_signature).map(|(k, s)| k ^ s).collect();
        assert_eq!(STANDARD.encode(proof), "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
        let server_signature = hmac(&keys.server_key, auth_message.as_bytes());
        assert_eq!(
            STANDARD.encode(server_signature),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
    }

    #[test]
    fn verifiers_have_postgres_form_and_iterations() {
        let verifier = scram_verifier(&Secret::new("pw".into()), 10_000);
        let (head, keys) = verifier.split_once(':').unwrap();
        assert_eq!(head, "SCRAM-SHA-256$10000");
        let (salt, keys) = keys.split_once('$').unwrap();
        assert_eq!(STANDARD.decode(salt).unwrap().len(), 16);
        let (stored, server) = keys.split_once(':').unwrap();
        assert_eq!(STANDARD.decode(stored).unwrap().len(), 32);
        assert_eq!(STANDARD.decode(server).unwrap().len(), 32);
        assert_ne!(verifier, scram_verifier(&Secret::new("pw".into()), 10_000), "salted");
    }

    #[test]
    fn a_verifier_tells_its_password() {
        let pw = Secret::new("Right-Horse-9".into());
        let verifier = scram_verifier(&pw, 4096);
        assert_eq!(verifier_matches(&verifier, &pw), Some(true));
        assert_eq!(verifier_matches(&verifier, &Secret::new("wrong".into())), Some(false));
        assert_eq!(verifier_matches("md5abc", &pw), None);
    }

    #[test]
    fn a_shared_salt_makes_one_verifier_per_iteration_count() {
        let shared = Password::new(Secret::new("pw".into()), Salting::Shared);
        let first = shared.verifier(4096);
        assert_eq!(shared.verifier(4096), first, "the same verifier for every server");
        assert_eq!(shared.clone().verifier(4096), first, "clones share it");
        assert_eq!(verifier_matches(&first, &shared), Some(true));
        let more = shared.verifier(10_000);
        assert!(more.starts_with("SCRAM-SHA-256$10000:"), "{more}");
        let made = shared.shared_verifiers();
        assert_eq!(made.keys().copied().collect::<Vec<_>>(), [4096, 10_000]);
        assert_eq!(made[&4096], first);
        let salt = |v: &str| v.split(['$', ':']).nth(2).unwrap().to_owned();
        assert_eq!(salt(&first), salt(&more), "one salt for the invocation");
        let per_server = Password::new(Secret::new("pw".into()), Salting::PerServer);
        assert_ne!(per_server.verifier(4096), per_server.verifier(4096), "a salt per server");
        assert!(per_server.shared_verifiers().is_empty());
    }

    #[test]
    fn pgbouncer_lines_quote_as_pgbouncer_reads_them() {
        assert_eq!(
            *pgbouncer_line("app", "SCRAM-SHA-256$4096:c2FsdA==$a:b"),
            "\"app\" \"SCRAM-SHA-256$4096:c2FsdA==$a:b\"\n"
        );
        assert_eq!(*pgbouncer_line("we\"ird", "v"), "\"we\"\"ird\" \"v\"\n");
        let line = pgbouncer_line("app", &scram_verifier(&Secret::new("pw".into()), 4096));
        assert!(holds_verifiers(&line));
        assert_eq!(read_back(&line), None, "no password to read back");
        assert!(!holds_verifiers("PGPASSWORD=x\n"));
        assert!(!holds_verifiers(""));
    }

    fn endpoint(host: &str) -> Endpoint {
        Endpoint {
            env: "prod".into(),
            db: "orders".into(),
            host: host.into(),
            port: 5432,
            sslmode: Some("verify-full".into()),
        }
    }

    #[test]
    fn urls_encode_what_needs_it() {
        let pw = Secret::new("p@ss:w/rd".into());
        assert_eq!(
            endpoint("db1").url("app", &pw),
            "postgresql://app:p%40ss%3Aw%2Frd@db1:5432/orders?sslmode=verify-full"
        );
        assert_eq!(
            endpoint("/var/run/postgresql").url("app", &pw),
            "postgresql://app:p%40ss%3Aw%2Frd@/orders?host=%2Fvar%2Frun%2Fpostgresql&port=5432&sslmode=verify-full"
        );
        assert_eq!(
            endpoint("::1").url("a", &pw).split('@').nth(1).unwrap(),
            "[::1]:5432/orders?sslmode=verify-full"
        );
    }

    #[test]
    fn host_lists_become_libpq_lists() {
        let pw = Secret::new("pw".into());
        let url = |host: &str| endpoint(host).url("app", &pw);
        assert_eq!(
            url("db1,db2:6432,::1"),
            "postgresql://app:pw@db1:5432,db2:6432,[::1]:5432/orders?sslmode=verify-full"
        );
        assert_eq!(
            url("/run/a,/run/b"),
            "postgresql://app:pw@/orders?host=%2Frun%2Fa%2C%2Frun%2Fb&port=5432&sslmode=verify-full"
        );
        let env = render(SecretFormat::Env, "app", &pw, &[endpoint("db1,db2")]);
        assert!(env.contains("PGHOST=db1,db2\nPGPORT=5432\n"), "{}", *env);
        let env = render(SecretFormat::Env, "app", &pw, &[endpoint("db1:6432,db2")]);
        assert!(env.contains("PGHOST=db1,db2\nPGPORT=6432,5432\n"), "{}", *env);
        let pgpass = render(SecretFormat::Pgpass, "app", &pw, &[endpoint("db1,db2:6432")]);
        assert_eq!(*pgpass, "db1:5432:orders:app:pw\ndb2:6432:orders:app:pw\n");
    }

    #[test]
    fn formats_render_every_field() {
        let pw = Secret::new("it's:secret".into());
        let one = [endpoint("db1")];
        let env = render(SecretFormat::Env, "app", &pw, &one);
        assert!(env.contains("PGPASSWORD='it'\\''s:secret'\n"), "{}", *env);
        assert!(env.contains("PGHOST=db1\nPGPORT=5432\nPGDATABASE=orders\nPGUSER=app\n"));
        let pgpass = render(SecretFormat::Pgpass, "app", &pw, &one);
        assert_eq!(*pgpass, "db1:5432:orders:app:it's\\:secret\n");
        let json: serde_json::Value =
            serde_json::from_str(&render(SecretFormat::Json, "app", &pw, &one)).unwrap();
        assert_eq!(json["password"], "it's:secret");
        assert_eq!(json["targets"][0]["port"], 5432);
        let k8s = render(SecretFormat::K8sSecret, "web01_8080", &pw, &one);
        let name = k8s_name("web01_8080", &one[0]);
        assert!(name.starts_with("web01-8080-prod-orders-"), "{name}");
        assert!(k8s.contains(&format!("kind: Secret\nmetadata:\n  name: {name}\n")), "{}", *k8s);
        assert!(k8s.contains("  PGPASSWORD: \"it's:secret\"\n"), "{}", *k8s);
        let two = [endpoint("db1"), endpoint("db2")];
        let k8s = render(SecretFormat::K8sSecret, "app", &pw, &two);
        assert_eq!(k8s.matches("kind: Secret").count(), 2);
        assert!(k8s.contains(&format!("name: {}\n", k8s_name("app", &two[0]))));
        assert!(k8s.contains(&format!("name: {}\n", k8s_name("app", &two[1]))));
        assert_ne!(k8s_name("app", &two[0]), k8s_name("app", &two[1]), "one db, two clusters");
    }

    /// Kubernetes' rule for a DNS-1123 label (`IsDNS1123Label`).
    fn is_dns1123_label(name: &str) -> bool {
        let edge =
            |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        (1..=63).contains(&name.len())
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && edge(name.chars().next())
            && edge(name.chars().last())
    }

    fn at(env: &str, db: &str, host: &str, port: u16) -> Endpoint {
        Endpoint { env: env.into(), db: db.into(), host: host.into(), port, sslmode: None }
    }

    #[test]
    fn k8s_names_of_look_alike_targets_differ_and_stay_valid() {
        let names: Vec<String> = ["my db", "my_db", "My-DB", "my--db", "my.db"]
            .iter()
            .map(|db| k8s_name("app", &at("qa", db, "h", 5432)))
            .collect();
        for (i, name) in names.iter().enumerate() {
            assert!(name.starts_with("app-qa-my-db-"), "{name}");
            assert!(is_dns1123_label(name), "{name}");
            assert!(!names[..i].contains(name), "{names:?}");
        }
        assert_ne!(
            k8s_name("app", &at("qa", "orders", "h1", 5432)),
            k8s_name("app", &at("qa", "orders", "h2", 5432))
        );
        let again = k8s_name("app", &at("qa", "my db", "h", 5432));
        assert_eq!(again, names[0], "the same target, the same name");
        let long = k8s_name(&"a".repeat(63), &at("qa", &"b".repeat(200), "h", 1));
        assert_eq!(long.len(), 63, "{long}");
        assert!(is_dns1123_label(&long), "{long}");
        let unreadable = k8s_name("_", &at("-", "日本", "h", 1));
        assert!(is_dns1123_label(&unreadable), "{unreadable}");
    }

    proptest::proptest! {
        #[test]
        fn k8s_names_are_dns1123_labels(
            user in "\\PC{0,70}", env in "\\PC{0,40}", db in "\\PC{0,300}", port: u16,
        ) {
            let name = k8s_name(&user, &at(&env, &db, "db1", port));
            proptest::prop_assert!(is_dns1123_label(&name), "{:?}", name);
        }

        /// Names that read alike (case, and which separators) still differ.
        #[test]
        fn k8s_names_tell_look_alike_databases_apart(
            parts in proptest::collection::vec("[a-zA-Z0-9]{1,6}", 1..4),
            seps in proptest::collection::vec("[-_ .]{1,2}", 3),
            other_seps in proptest::collection::vec("[-_ .]{1,2}", 3),
            upper: bool,
        ) {
            let join = |seps: &[String]| {
                let mut db = parts[0].clone();
                for (part, sep) in parts[1..].iter().zip(seps) {
                    db.push_str(sep);
                    db.push_str(part);
                }
                db
            };
            let a = join(&seps);
            let b = if upper { join(&other_seps).to_uppercase() } else { join(&other_seps) };
            let name = |db: &str| k8s_name("app", &at("qa", db, "h", 5432));
            proptest::prop_assert_eq!(a == b, name(&a) == name(&b), "{:?} {:?}", a, b);
        }
    }

    #[test]
    fn a_secret_file_is_private_and_never_overwritten_unasked() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.env");
        SecretFile::claim(&path, false).unwrap().fill("A=1\n").unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(matches!(SecretFile::claim(&path, false), Err(SecretFileError::Exists(_))));
        let forced = SecretFile::claim(&path, true).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "A=1\n", "untouched until filled");
        forced.fill("A=2\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "A=2\n");
        drop(SecretFile::claim(&path, true).unwrap());
        assert_eq!(fs::read_to_string(&path).unwrap(), "A=2\n");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no staging file left");
        let unfilled = dir.path().join("never.env");
        drop(SecretFile::claim(&unfilled, false).unwrap());
        assert!(!unfilled.exists(), "an unfilled claim is removed");
    }

    #[test]
    fn only_regular_files_are_ever_replaced() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::from_raw_mode(0o600))
            .unwrap();
        for (path, what) in [
            (link.as_path(), "a symbolic link"),
            (dir.path(), "a directory"),
            (fifo.as_path(), "a FIFO (named pipe)"),
            (Path::new("/dev/null"), "a device"),
        ] {
            for force in [false, true] {
                match SecretFile::claim(path, force).unwrap_err() {
                    SecretFileError::NotAFile { what: found, .. } => assert_eq!(found, what),
                    err => panic!("{}: {err}", path.display()),
                }
            }
        }
        assert_eq!(what_is(&fifo).unwrap(), Found::Other("a FIFO (named pipe)"), "left as it was");
        fs::remove_file(&fifo).unwrap();
        let missing_dir = dir.path().join("nope/app.env");
        let err = SecretFile::check(&missing_dir, false, true).unwrap_err();
        assert!(matches!(err, SecretFileError::Io { .. }), "{err}");
        assert!(SecretFile::check(&dir.path().join("new.env"), false, true).is_ok());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "checking leaves nothing");

        // A destination that turns into a link before the fill: the link is
        // left alone, nothing is written through it, and the secret is kept
        // in the staging file.
        let victim = dir.path().join("victim");
        fs::write(&victim, "theirs\n").unwrap();
        for force in [true, false] {
            let path = dir.path().join(format!("later-{force}.env"));
            let claim = SecretFile::claim(&path, force).unwrap();
            let _ = fs::remove_file(&path);
            std::os::unix::fs::symlink(&victim, &path).unwrap();
            let (err, kept) = claim.fill("SECRET=1\n").unwrap_err();
            assert!(matches!(err, SecretFileError::NotAFile { .. }), "{err}");
            let kept = kept.unwrap();
            assert_eq!(fs::read_to_string(&kept).unwrap(), "SECRET=1\n");
            assert_eq!(fs::metadata(&kept).unwrap().permissions().mode() & 0o777, 0o600);
            assert_eq!(what_is(&path).unwrap(), Found::Other("a symbolic link"));
            assert_eq!(fs::read_to_string(&victim).unwrap(), "theirs\n");
        }
    }

    #[test]
    fn given_passwords_are_checked() {
        assert_eq!(check_given(""), Err(BadPassword::Empty));
        assert_eq!(check_given(&"x".repeat(1025)), Err(BadPassword::TooLong(1025)));
        assert!(check_given(&"x".repeat(1024)).is_ok());
        assert_eq!(check_given("a\0b"), Err(BadPassword::NotOneLine));
    }

    #[test]
    fn every_format_reads_back_its_password() {
        let pw = Secret::new("it's:se@cr%t\\x".into());
        let two = [endpoint("db1"), endpoint("db2")];
        for format in [
            SecretFormat::Env,
            SecretFormat::Json,
            SecretFormat::Pgpass,
            SecretFormat::Url,
            SecretFormat::K8sSecret,
        ] {
            let text = render(format, "app", &pw, &two);
            assert_eq!(read_back(&text), Some(pw.clone()), "{format:?}: {}", *text);
        }
        assert_eq!(read_back("nothing here\n"), None);
        assert_eq!(read_back("PGPASSWORD=a\nPGPASSWORD=b\n"), None, "two passwords");
        let ipv6 = render(SecretFormat::Env, "app", &pw, &[endpoint("::1")]);
        assert_eq!(read_back(&ipv6), Some(pw.clone()), "{}", *ipv6);
        let spaced = Secret::new("a: b".into());
        let pgpass = render(SecretFormat::Pgpass, "app", &spaced, &two);
        assert_eq!(read_back(&pgpass), Some(spaced));
    }
}
