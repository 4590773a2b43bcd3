//! The store: where the registry and the audit trail live, behind one
//! interface ([`Store`], which implements [`RegistryStore`] and
//! [`AuditStore`]) with two backends: the local SQLite file
//! ([`FileStore`], the embedded default) and a schema in a shared
//! PostgreSQL database ([`team::TeamStore`], team mode). Commands use
//! [`Store`] and never ask which it is.
//!
//! [`FileStore`] is the one owner of the local file. It opens the file
//! safely, migrates it, and runs transactions; [`crate::registry`] and
//! [`crate::audit`] add only their queries.
//!
//! Opening never writes to a file that is not ours: what the path is, who
//! owns and can write it and its directories ([`file`]), then the header,
//! the application id and the schema version are all checked first, so a
//! mistyped `--registry` path, a file planted by someone else or a registry
//! from a newer pgacct is refused and left byte-for-byte as it was.
//! Opening to read never creates the file and never writes to it, and
//! leaves no `-wal` or `-shm` file behind where there was none.
//!
//! Writes run in `BEGIN IMMEDIATE` transactions: a writer takes the lock
//! before it reads, so concurrent processes queue on the busy timeout
//! instead of failing on a read-to-write upgrade.

mod file;
mod location;
mod migrations;
pub mod team;

use std::fs::{DirBuilder, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use self::file::Contents;
pub use self::file::Unsafe;
pub use self::location::StoreLocation;
use self::migrations::APPLICATION_ID;
use crate::audit::{
    Anchor, AuditKey, AuditRow, AuditStore, Filter, Finish, Head, Invocation, Operation,
    OperationTarget, PasswordSet, Verification,
};
use crate::registry::sync::Change;
use crate::registry::{
    ClusterRef, DbName, Entry, EnvName, Labels, ListFilter, RegistryStore, Target, TargetChanges,
    TargetKey,
};

/// How long a writer waits for another process's transaction to finish.
/// Generous, because twenty cron jobs may start in the same second.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// An open store, of either backend.
#[derive(Debug)]
pub enum Store {
    File(FileStore),
    Team(team::TeamStore),
}

impl Store {
    /// False for a local file opened to read (a team store's writes are
    /// for its server to allow).
    pub fn is_writable(&self) -> bool {
        match self {
            Store::File(store) => store.is_writable(),
            Store::Team(_) => true,
        }
    }
}

/// Calls the same method on whichever backend `$store` is.
macro_rules! either {
    ($store:expr, $s:ident => $call:expr) => {
        match $store {
            Store::File($s) => $call,
            Store::Team($s) => $call,
        }
    };
}

impl RegistryStore for Store {
    fn add(&mut self, target: &Target) -> Result<Entry, crate::registry::Error> {
        either!(self, s => s.add(target))
    }
    fn entry_of(&self, target: &Target) -> Result<Option<Entry>, crate::registry::Error> {
        either!(self, s => s.entry_of(target))
    }
    fn matching(
        &self,
        key: &TargetKey,
        cluster: Option<&ClusterRef>,
    ) -> Result<Vec<Entry>, crate::registry::Error> {
        either!(self, s => s.matching(key, cluster))
    }
    fn list(&self, filter: &ListFilter) -> Result<Vec<Entry>, crate::registry::Error> {
        either!(self, s => s.list(filter))
    }
    fn update(
        &mut self,
        target: &Target,
        changes: &TargetChanges,
    ) -> Result<Entry, crate::registry::Error> {
        either!(self, s => s.update(target, changes))
    }
    fn set_active(
        &mut self,
        target: &Target,
        active: bool,
    ) -> Result<Entry, crate::registry::Error> {
        either!(self, s => s.set_active(target, active))
    }
    fn remove(&mut self, target: &Target) -> Result<Entry, crate::registry::Error> {
        either!(self, s => s.remove(target))
    }
    fn apply(&mut self, changes: &[Change]) -> Result<(), crate::registry::Error> {
        either!(self, s => s.apply(changes))
    }
    fn env_names(&self) -> Result<Vec<(EnvName, u32)>, crate::registry::Error> {
        either!(self, s => s.env_names())
    }
    fn db_names(
        &self,
        env: Option<&EnvName>,
    ) -> Result<Vec<(DbName, u32)>, crate::registry::Error> {
        either!(self, s => s.db_names(env))
    }
    fn clusters(
        &self,
        env: Option<&EnvName>,
    ) -> Result<Vec<(ClusterRef, u32)>, crate::registry::Error> {
        either!(self, s => s.clusters(env))
    }
    fn label_sets(&self, env: Option<&EnvName>) -> Result<Vec<Labels>, crate::registry::Error> {
        either!(self, s => s.label_sets(env))
    }
}

impl AuditStore for Store {
    fn start(
        &mut self,
        who: &Invocation,
        operations: &[Operation],
    ) -> Result<Vec<i64>, crate::audit::Error> {
        either!(self, s => s.start(who, operations))
    }
    fn finish(
        &mut self,
        who: &Invocation,
        outcomes: &[Finish],
    ) -> Result<Option<Head>, crate::audit::Error> {
        either!(self, s => s.finish(who, outcomes))
    }
    fn operation(&self, id: i64) -> Result<Vec<OperationTarget>, crate::audit::Error> {
        either!(self, s => s.operation(id))
    }
    fn show(&self, filter: &Filter) -> Result<Vec<AuditRow>, crate::audit::Error> {
        either!(self, s => s.show(filter))
    }
    fn head(&self) -> Result<Option<Head>, crate::audit::Error> {
        either!(self, s => s.head())
    }
    fn passwords_set(&self) -> Result<Vec<PasswordSet>, crate::audit::Error> {
        either!(self, s => s.passwords_set())
    }
    fn verify(
        &self,
        anchor: Option<&Anchor>,
        key: Option<&AuditKey>,
    ) -> Result<Verification, crate::audit::Error> {
        either!(self, s => s.verify(anchor, key))
    }
}

/// An open store file.
#[derive(Debug)]
pub struct FileStore {
    conn: Connection,
    path: PathBuf,
    writable: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("registry {} does not exist", .0.display())]
    Missing(PathBuf),

    #[error("registry {} is empty: no pgacct registry has been written there", .0.display())]
    Empty(PathBuf),

    #[error("registry {} is refused: {problem}", path.display())]
    Unsafe { path: PathBuf, problem: Unsafe },

    #[error("{} is not a pgacct registry: {reason}", path.display())]
    NotARegistry { path: PathBuf, reason: &'static str },

    #[error(
        "registry {} has schema version {found}, but this pgacct knows only up to {known}",
        path.display()
    )]
    NewerSchema { path: PathBuf, found: i64, known: i64 },

    #[error(
        "registry {} has schema version {found}, older than this pgacct's {known}",
        path.display()
    )]
    OlderSchema { path: PathBuf, found: i64, known: i64 },

    #[error("registry {}", path.display())]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(transparent)]
    Team(#[from] team::TeamError),
}

impl Error {
    /// True when the error is the caller's input: a path to something else.
    pub fn is_invalid_input(&self) -> bool {
        match self {
            Error::NotARegistry { .. } | Error::Unsafe { .. } => true,
            Error::Team(err) => err.is_refusal(),
            _ => false,
        }
    }

    /// The error for a reading command that found no store at `path`:
    /// nothing there, or an empty file.
    pub fn absent(path: PathBuf) -> Error {
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() => Error::Empty(path),
            _ => Error::Missing(path),
        }
    }

    /// What the user can do next.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Missing(_) | Error::Empty(_) => Some(
                "register a target with `pgacct registry add`, or point --registry \
                 (PGACCT_REGISTRY) at an existing registry"
                    .into(),
            ),
            Error::NotARegistry { .. } => {
                Some("check --registry / PGACCT_REGISTRY; pgacct leaves that file untouched".into())
            }
            Error::NewerSchema { .. } => Some(
                "a newer pgacct wrote this registry; upgrade pgacct (the file was not modified)"
                    .into(),
            ),
            Error::OlderSchema { .. } => {
                Some("the next command that changes something migrates it first".into())
            }
            Error::Unsafe { path, problem } => Some(problem.hint(path)),
            Error::Team(err) => err.hint(),
            Error::Sqlite { .. } | Error::Io { .. } => None,
        }
    }
}

impl FileStore {
    /// Opens the store for a command that only reads. It never creates or
    /// writes the file: `None` when there is no store there yet (no file,
    /// or an empty one).
    pub fn open_to_read(path: &Path) -> Result<Option<FileStore>, Error> {
        if file::inspect(path)? != Some(Contents::Sqlite) {
            return Ok(None);
        }
        let store = Self::connect_to_read(path)?;
        let version = store.identify()?;
        match version {
            0 => Ok(None),
            v if v == migrations::current() => Ok(Some(store)),
            found => {
                // An older store is read as it is, through views: reading
                // never migrates (the next change does).
                let Some(shims) = migrations::read_shims(found) else {
                    return Err(Error::OlderSchema {
                        path: path.to_owned(),
                        found,
                        known: migrations::current(),
                    });
                };
                store.read(|conn| {
                    // TEMP objects live outside the file; query_only would
                    // refuse them all the same.
                    conn.pragma_update(None, "query_only", false)?;
                    for shim in &shims {
                        conn.execute_batch(shim)?;
                    }
                    conn.pragma_update(None, "query_only", true)
                })?;
                Ok(Some(store))
            }
        }
    }

    /// Opens the store for a command that writes, creating it (mode 0600,
    /// in a directory of mode 0700) and migrating it as needed.
    pub fn open_to_write(path: &Path) -> Result<FileStore, Error> {
        if file::inspect(path)?.is_none() {
            file::check_place(path)?;
            create_file(path)?;
            if file::inspect(path)?.is_none() {
                let gone = std::io::Error::new(ErrorKind::NotFound, "removed while being created");
                return Err(Error::Io { path: path.to_owned(), source: gone });
            }
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut store = Self::connect(path, flags)?;
        store.identify()?;
        // The first write to the file, so it comes after identification.
        use_wal(&store.conn).map_err(|source| store.sqlite_error(source))?;
        match migrations::migrate(&mut store.conn) {
            Ok(Ok(())) => Ok(store),
            Ok(Err(found)) => Err(Error::NewerSchema {
                path: path.to_owned(),
                found,
                known: migrations::current(),
            }),
            Err(source) => Err(store.sqlite_error(source)),
        }
    }

    /// Opens, for writing, a store that exists (migrating it as needed):
    /// `None` where [`FileStore::open_to_read`] finds none, and nothing is
    /// created then.
    pub fn open_existing_to_write(path: &Path) -> Result<Option<FileStore>, Error> {
        if file::inspect(path)? != Some(Contents::Sqlite) {
            return Ok(None);
        }
        Self::open_to_write(path).map(Some)
    }

    /// True when the store was opened for writing.
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    fn connect(path: &Path, flags: OpenFlags) -> Result<FileStore, Error> {
        Self::connect_as(path, path, flags)
    }

    /// Opens `name` (a path, or a URI) as the store at `path`.
    fn connect_as(path: &Path, name: &Path, flags: OpenFlags) -> Result<FileStore, Error> {
        let sqlite_err = |source| Error::Sqlite { path: path.to_owned(), source };
        let conn = Connection::open_with_flags(name, flags).map_err(sqlite_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite_err)?;
        let writable = conn.is_readonly(rusqlite::MAIN_DB) == Ok(false);
        Ok(FileStore { conn, path: path.to_owned(), writable })
    }

    /// Opens a store to read, so that SQLite leaves no `-wal` or `-shm`
    /// file behind where there was none: a read-only connection to a WAL
    /// database creates both and cannot remove them, while the last
    /// connection that may write removes them on close (it checkpoints the
    /// log of writers that came and went meanwhile: their data, not ours).
    fn connect_to_read(path: &Path) -> Result<FileStore, Error> {
        let flags = OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if sidecar(path, "-wal").exists() {
            // A writer is at work, or stopped without cleaning up: its files stay.
            return Self::connect(path, flags | OpenFlags::SQLITE_OPEN_READ_ONLY);
        }
        if file::may_write(path) {
            let mut store = Self::connect(path, flags | OpenFlags::SQLITE_OPEN_READ_WRITE)?;
            store
                .conn
                .pragma_update(None, "query_only", true)
                .map_err(|e| store.sqlite_error(e))?;
            store.writable = false;
            return Ok(store);
        }
        // No log, and no one who could start one: we cannot create files
        // beside it, and no other user can (checked by `file::inspect`). The
        // file cannot change while we read, which is what `immutable` says.
        let real = std::fs::canonicalize(path)
            .map_err(|source| Error::Io { path: path.to_owned(), source })?;
        let uri = format!("file:{}?immutable=1", uri_path(&real));
        let flags = flags | OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI;
        Self::connect_as(path, Path::new(&uri), flags)
    }

    /// Runs `work` on the connection, outside any explicit transaction.
    pub fn read<T>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, Error> {
        work(&self.conn).map_err(|source| self.sqlite_error(source))
    }

    /// Runs `work` in an immediate transaction. The outer `Result` of
    /// `work` carries SQLite failures; the inner one a refusal, on which
    /// nothing is committed.
    pub fn write<T, E: From<Error>>(
        &mut self,
        work: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<Result<T, E>>,
    ) -> Result<T, E> {
        let run = |conn: &mut Connection| -> rusqlite::Result<Result<T, E>> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let result = work(&tx)?;
            if result.is_ok() {
                tx.commit()?;
            }
            Ok(result)
        };
        match run(&mut self.conn) {
            Ok(result) => result,
            Err(source) => Err(E::from(self.sqlite_error(source))),
        }
    }

    pub fn sqlite_error(&self, source: rusqlite::Error) -> Error {
        Error::Sqlite { path: self.path.clone(), source }
    }

    /// Checks that the file is empty or ours, and not from a newer pgacct;
    /// returns its schema version.
    fn identify(&self) -> Result<i64, Error> {
        let path = &self.path;
        // One statement, so the three values come from one snapshot even
        // while another process is creating the schema.
        let (app_id, version, objects): (i32, i64, i64) = self
            .conn
            .query_row(
                "SELECT (SELECT application_id FROM pragma_application_id),
                        (SELECT user_version FROM pragma_user_version),
                        (SELECT count(*) FROM sqlite_schema)",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .map_err(|source| match source.sqlite_error_code() {
                Some(rusqlite::ErrorCode::NotADatabase) => {
                    Error::NotARegistry { path: path.clone(), reason: "not a SQLite database" }
                }
                _ => self.sqlite_error(source),
            })?;
        let fresh = app_id == 0 && version == 0 && objects == 0;
        if !fresh && app_id != APPLICATION_ID {
            return Err(Error::NotARegistry {
                path: path.clone(),
                reason: "a SQLite database that belongs to another program",
            });
        }
        if version > migrations::current() {
            return Err(Error::NewerSchema {
                path: path.clone(),
                found: version,
                known: migrations::current(),
            });
        }
        Ok(version)
    }
}

/// Switches a new file to WAL. The switch needs an exclusive lock, and
/// SQLite reports BUSY at once (without the busy handler) while other
/// processes read, as when twenty start on a new registry together: so
/// retry, within the busy timeout.
fn use_wal(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    let mut pause = Duration::from_millis(2);
    loop {
        let mode: String = conn.pragma_query_value(None, "journal_mode", |row| row.get(0))?;
        if mode.eq_ignore_ascii_case("wal") {
            return Ok(());
        }
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(())) {
            Err(err)
                if err.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && Instant::now() < deadline =>
            {
                // Spread the retries of processes that collided.
                let jitter = u64::from(std::process::id() % 7);
                std::thread::sleep(pause + Duration::from_millis(jitter));
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

fn create_file(path: &Path) -> Result<(), Error> {
    let io_err = |source| Error::Io { path: path.to_owned(), source };
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(io_err)?;
    }
    let created = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path);
    match created {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(io_err(err)),
    }
}

/// The `-wal` or `-shm` file SQLite keeps beside `path`.
fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// `path` for a SQLite URI: bytes other than unreserved ones and `/` are
/// percent-encoded, so `?`, `#` and `%` in a name stay part of it.
fn uri_path(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::new();
    for &byte in path.as_os_str().as_bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A store in a fresh temporary directory, for unit tests.
#[cfg(test)]
pub fn scratch() -> (tempfile::TempDir, FileStore) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = FileStore::open_to_write(&dir.path().join("r.db")).expect("a new store");
    (dir, store)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn chmod(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn sidecars(path: &Path) -> Vec<PathBuf> {
        ["-wal", "-shm"].iter().map(|s| sidecar(path, s)).filter(|p| p.exists()).collect()
    }

    fn refusal<T: std::fmt::Debug>(opened: Result<T, Error>) -> Unsafe {
        match opened {
            Err(Error::Unsafe { problem, .. }) => problem,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reading_writes_nothing_and_leaves_no_wal_or_shm_file_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        drop(FileStore::open_to_write(&path).unwrap());
        assert_eq!(sidecars(&path), Vec::<PathBuf>::new());
        let before = fs::read(&path).unwrap();
        let store = FileStore::open_to_read(&path).unwrap().unwrap();
        assert_eq!(store.read(migrations::user_version).unwrap(), migrations::current());
        assert!(!store.is_writable());
        store.read(|conn| conn.execute_batch("CREATE TABLE t (a)")).unwrap_err();
        drop(store);
        assert_eq!(sidecars(&path), Vec::<PathBuf>::new());
        assert_eq!(fs::read(&path).unwrap(), before);

        // While a writer has it open, its files are shared, and stay its own.
        let writer = FileStore::open_to_write(&path).unwrap();
        assert_eq!(sidecars(&path).len(), 2);
        let reader = FileStore::open_to_read(&path).unwrap().unwrap();
        assert_eq!(reader.read(migrations::user_version).unwrap(), migrations::current());
        drop(reader);
        assert_eq!(sidecars(&path).len(), 2);
        drop(writer);
        assert_eq!(sidecars(&path), Vec::<PathBuf>::new());
    }

    #[test]
    fn a_store_other_users_could_replace_is_refused_and_nothing_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("shared");
        fs::create_dir(&shared).unwrap();
        chmod(&shared, 0o777);
        let path = shared.join("sub/r.db");
        let problem = refusal(FileStore::open_to_write(&path));
        assert!(matches!(problem, Unsafe::DirWritable { mode: 0o777, .. }), "{problem}");
        assert_eq!(fs::read_dir(&shared).unwrap().count(), 0, "nothing created");

        chmod(&shared, 0o1777);
        drop(FileStore::open_to_write(&path).unwrap());
        let sub = shared.join("sub");
        assert_eq!(fs::metadata(&sub).unwrap().permissions().mode() & 0o7777, 0o700);

        chmod(&path, 0o660);
        let before = fs::read(&path).unwrap();
        for problem in [
            refusal(FileStore::open_to_read(&path)),
            refusal(FileStore::open_existing_to_write(&path)),
            refusal(FileStore::open_to_write(&path)),
        ] {
            assert_eq!(problem, Unsafe::FileWritable { mode: 0o660 });
        }
        chmod(&path, 0o600);
        chmod(&sub, 0o770);
        let problem = refusal(FileStore::open_to_read(&path));
        assert!(matches!(problem, Unsafe::DirWritable { mine: true, .. }), "{problem}");
        assert_eq!(fs::read(&path).unwrap(), before);
        assert_eq!(sidecars(&path), Vec::<PathBuf>::new());
    }

    #[test]
    fn a_symbolic_link_is_followed_and_its_target_judged() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real/r.db");
        drop(FileStore::open_to_write(&real).unwrap());
        let link = dir.path().join("link.db");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(FileStore::open_to_read(&link).unwrap().is_some());
        chmod(real.parent().unwrap(), 0o777);
        let problem = refusal(FileStore::open_to_read(&link));
        assert!(matches!(problem, Unsafe::DirWritable { .. }), "{problem}");
    }

    #[test]
    fn a_fifo_is_refused_for_writing_too() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("r.db");
        file::make_fifo(&fifo);
        assert_eq!(
            refusal(FileStore::open_to_write(&fifo)),
            Unsafe::NotAFile("a FIFO (named pipe)")
        );
    }

    #[test]
    fn reading_creates_nothing_and_writing_creates_a_private_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/r.db");
        assert!(FileStore::open_to_read(&path).unwrap().is_none());
        assert!(!path.exists() && !path.parent().unwrap().exists());
        drop(FileStore::open_to_write(&path).unwrap());
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        let store = FileStore::open_to_read(&path).unwrap().unwrap();
        assert_eq!(store.read(migrations::user_version).unwrap(), migrations::current());
        assert!(!store.is_writable());
    }

    #[test]
    fn a_change_opens_only_a_store_that_exists_and_migrates_an_older_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/r.db");
        assert!(FileStore::open_existing_to_write(&path).unwrap().is_none());
        assert!(!path.parent().unwrap().exists());
        fs::create_dir(path.parent().unwrap()).unwrap();
        fs::write(&path, b"").unwrap();
        assert!(FileStore::open_existing_to_write(&path).unwrap().is_none());
        assert_eq!(fs::metadata(&path).unwrap().len(), 0, "an empty file is left alone");

        fs::remove_file(&path).unwrap();
        let older = Connection::open(&path).unwrap();
        older.pragma_update(None, "application_id", APPLICATION_ID).unwrap();
        older.execute_batch(migrations::MIGRATIONS[0]).unwrap();
        older.pragma_update(None, "user_version", 1).unwrap();
        drop(older);
        assert!(matches!(FileStore::open_to_read(&path), Err(Error::OlderSchema { found: 1, .. })));
        let store = FileStore::open_existing_to_write(&path).unwrap().unwrap();
        assert!(store.is_writable());
        assert_eq!(store.read(migrations::user_version).unwrap(), migrations::current());
    }

    /// After an upgrade, reading commands work on the old file as it is:
    /// views stand in for what the newer schema added, and the file is not
    /// changed (the next change migrates it).
    #[test]
    fn a_reader_sees_an_older_store_as_the_current_schema_without_writing_it() {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
        let path = dir.path().join("r.db");
        let older = Connection::open(&path).unwrap();
        older.pragma_update(None, "application_id", APPLICATION_ID).unwrap();
        older.execute_batch(migrations::MIGRATIONS[0]).unwrap();
        older.execute_batch(migrations::MIGRATIONS[1]).unwrap();
        older.pragma_update(None, "user_version", 2).unwrap();
        drop(older);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let before = fs::read(&path).unwrap();

        let store = FileStore::open_to_read(&path).unwrap().unwrap();
        let key_ids: i64 = store
            .read(|c| c.query_row("SELECT count(key_id) FROM audit", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(key_ids, 0);
        assert!(store.read(|c| c.execute_batch("DELETE FROM targets")).is_err(), "read-only");
        drop(store);
        assert_eq!(fs::read(&path).unwrap(), before, "the file is as it was");
        assert_eq!(migrations::read_shims(1), None, "schema 1 cannot be read as it is");
        assert_eq!(migrations::read_shims(migrations::current()), Some(vec![]));
    }
}
