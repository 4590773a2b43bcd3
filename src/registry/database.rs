//! The local SQLite file that holds the registry (and, later, the audit
//! trail): opening it safely, and its schema migrations.
//!
//! Opening never writes to a file that is not ours: the header, the
//! application id and the schema version are all checked first, so a
//! mistyped `--registry` path or a registry from a newer pgacct is refused
//! and left byte-for-byte as it was.

use std::fs::{DirBuilder, OpenOptions};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::Error;

/// `PRAGMA application_id` of a pgacct registry: "pgac" in ASCII.
const APPLICATION_ID: i32 = 0x7067_6163;

/// How long a writer waits for another process's transaction to finish.
/// Generous, because twenty cron jobs may start in the same second.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Schema migrations, applied in order; `PRAGMA user_version` counts how
/// many have run. Append only: never edit or remove an entry.
const MIGRATIONS: &[&str] = &[
    // 1: the registry of target databases.
    "CREATE TABLE targets (
        env         TEXT    NOT NULL,
        db          TEXT    NOT NULL,
        host        TEXT    NOT NULL,
        port        INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
        sslmode     TEXT    CHECK (sslmode IN
                        ('disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full')),
        sslrootcert TEXT,
        sslcert     TEXT,
        sslkey      TEXT,
        admin_user  TEXT,
        active      INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
        notes       TEXT,
        created_at  TEXT    NOT NULL,
        updated_at  TEXT    NOT NULL,
        PRIMARY KEY (env, db)
    ) STRICT;",
    // 2: the audit trail. Append-only: the triggers refuse changes made by
    // mistake; the hash chain detects the ones made on purpose.
    "CREATE TABLE audit (
        id          INTEGER PRIMARY KEY,
        ts          TEXT    NOT NULL,
        outcome     TEXT    NOT NULL CHECK (outcome IN ('started', 'ok', 'failed')),
        started_id  INTEGER,
        actor       TEXT    NOT NULL,
        host        TEXT    NOT NULL,
        pid         INTEGER NOT NULL,
        ci_job      TEXT,
        ticket      TEXT,
        operation   TEXT    NOT NULL,
        env         TEXT,
        db          TEXT,
        cluster     TEXT,
        role        TEXT,
        status      TEXT    NOT NULL,
        error       TEXT,
        duration_ms INTEGER,
        sql         TEXT,
        prev_hash   TEXT    NOT NULL,
        hash        TEXT    NOT NULL
    ) STRICT;
    CREATE INDEX audit_by_started ON audit (started_id) WHERE started_id IS NOT NULL;
    CREATE INDEX audit_failed ON audit (id) WHERE outcome = 'failed';
    CREATE INDEX audit_by_time ON audit (ts);
    CREATE INDEX audit_by_role ON audit (role, ts);
    CREATE INDEX audit_by_target ON audit (env, db, ts);
    CREATE INDEX audit_by_operation ON audit (operation, ts);
    CREATE INDEX audit_by_actor ON audit (actor, ts);
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;",
];

/// An open registry file.
#[derive(Debug)]
pub struct Database {
    pub(crate) conn: Connection,
    pub(crate) path: PathBuf,
}

impl Database {
    /// Opens the registry at `path`, creating it (mode 0600, and its
    /// directory, mode 0700) when it does not exist yet.
    pub fn open_or_create(path: &Path) -> Result<Self, Error> {
        create_file(path)?;
        Self::open(path)
    }

    /// Opens an existing registry; a missing file is [`Error::Missing`].
    pub fn open_existing(path: &Path) -> Result<Self, Error> {
        if !path.exists() {
            return Err(Error::Missing(path.to_owned()));
        }
        Self::open(path)
    }

    fn open(path: &Path) -> Result<Self, Error> {
        check_header(path)?;
        let sqlite_err = |source| Error::Sqlite { path: path.to_owned(), source };
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags).map_err(sqlite_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite_err)?;
        identify(&conn, path)?;
        // The first write to the file, so it comes after identification.
        use_wal(&conn).map_err(sqlite_err)?;
        migrate(&mut conn, path)?;
        Ok(Database { conn, path: path.to_owned() })
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

/// Refuses a non-empty file that does not start with SQLite's header,
/// before SQLite gets a chance to touch it.
fn check_header(path: &Path) -> Result<(), Error> {
    let io_err = |source| Error::Io { path: path.to_owned(), source };
    let mut file = std::fs::File::open(path).map_err(io_err)?;
    if !file.metadata().map_err(io_err)?.is_file() {
        return Err(Error::NotARegistry { path: path.to_owned(), reason: "not a regular file" });
    }
    let mut header = Vec::with_capacity(SQLITE_MAGIC.len());
    file.by_ref().take(SQLITE_MAGIC.len() as u64).read_to_end(&mut header).map_err(io_err)?;
    if header.is_empty() || header == SQLITE_MAGIC {
        Ok(())
    } else {
        Err(Error::NotARegistry { path: path.to_owned(), reason: "not a SQLite database" })
    }
}

/// Checks that the file is empty or ours, and not from a newer pgacct.
fn identify(conn: &Connection, path: &Path) -> Result<(), Error> {
    // One statement, so the three values come from one snapshot even while
    // another process is creating the schema.
    let (app_id, version, objects): (i32, i64, i64) = conn
        .query_row(
            "SELECT (SELECT application_id FROM pragma_application_id),
                    (SELECT user_version FROM pragma_user_version),
                    (SELECT count(*) FROM sqlite_schema)",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .map_err(|source| match source.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase) => {
                Error::NotARegistry { path: path.to_owned(), reason: "not a SQLite database" }
            }
            _ => Error::Sqlite { path: path.to_owned(), source },
        })?;
    let fresh = app_id == 0 && version == 0 && objects == 0;
    if !fresh && app_id != APPLICATION_ID {
        return Err(Error::NotARegistry {
            path: path.to_owned(),
            reason: "a SQLite database that belongs to another program",
        });
    }
    check_version(version, path)
}

fn check_version(version: i64, path: &Path) -> Result<(), Error> {
    if usize::try_from(version).is_ok_and(|v| v <= MIGRATIONS.len()) {
        Ok(())
    } else {
        Err(Error::NewerSchema { path: path.to_owned(), found: version, known: MIGRATIONS.len() })
    }
}

fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Applies the migrations this file has not seen yet, all in one
/// transaction. Concurrent processes serialise on the write lock, and
/// re-read the version once they hold it.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), Error> {
    let sqlite_err = |source| Error::Sqlite { path: path.to_owned(), source };
    let current = user_version(conn).map_err(sqlite_err)?;
    if usize::try_from(current) == Ok(MIGRATIONS.len()) {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sqlite_err)?;
    let current = user_version(&tx).map_err(sqlite_err)?;
    check_version(current, path)?;
    let applied = usize::try_from(current).unwrap_or(MIGRATIONS.len());
    for migration in &MIGRATIONS[applied..] {
        tx.execute_batch(migration).map_err(sqlite_err)?;
    }
    tx.pragma_update(None, "application_id", APPLICATION_ID).map_err(sqlite_err)?;
    let version = i64::try_from(MIGRATIONS.len()).expect("a handful of migrations fits in i64");
    tx.pragma_update(None, "user_version", version).map_err(sqlite_err)?;
    tx.commit().map_err(sqlite_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrating_twice_is_a_no_op() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        let db = Database::open_or_create(&path).unwrap();
        assert_eq!(usize::try_from(user_version(&db.conn).unwrap()), Ok(MIGRATIONS.len()));
        drop(db);
        let db = Database::open_existing(&path).unwrap();
        assert_eq!(usize::try_from(user_version(&db.conn).unwrap()), Ok(MIGRATIONS.len()));
        let tables: i64 = db
            .conn
            .query_row("SELECT count(*) FROM sqlite_schema WHERE name = 'targets'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(tables, 1);
    }

    #[test]
    fn every_migration_applies_on_top_of_the_ones_before() {
        let mut conn = Connection::open_in_memory().unwrap();
        for n in 0..MIGRATIONS.len() {
            let tx = conn.transaction().unwrap();
            for migration in &MIGRATIONS[..=n] {
                tx.execute_batch(migration).unwrap();
            }
            tx.rollback().unwrap();
        }
    }
}
