//! The schema of the local store, as numbered, append-only migrations:
//! `PRAGMA user_version` counts how many have run. Never edit or remove an
//! entry; add a new one.

use rusqlite::{Connection, TransactionBehavior};

/// `PRAGMA application_id` of a pgacct store: "pgac" in ASCII.
pub const APPLICATION_ID: i32 = 0x7067_6163;

/// Schema migrations, applied in order.
pub const MIGRATIONS: &[&str] = &[
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
    // 3: which audit key made a record (its id; NULL: a plain SHA-256
    // record). Not covered by the hash: a wrong mark makes the record fail
    // to verify under the rule it then claims.
    "ALTER TABLE audit ADD COLUMN key_id TEXT;",
    // 4: a target is (env, host, port, db): one database name may live on
    // many clusters of an env. SQLite cannot change a primary key in place,
    // so the table is rebuilt with every row copied as it is.
    "CREATE TABLE targets_v4 (
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
        PRIMARY KEY (env, db, host, port)
    ) STRICT;
    INSERT INTO targets_v4 (env, db, host, port, sslmode, sslrootcert, sslcert, sslkey,
                            admin_user, active, notes, created_at, updated_at)
    SELECT env, db, host, port, sslmode, sslrootcert, sslcert, sslkey,
           admin_user, active, notes, created_at, updated_at
    FROM targets;
    DROP TABLE targets;
    ALTER TABLE targets_v4 RENAME TO targets;",
    // 5: labels, as `key=value;key=value` (keys and values never hold `;`).
    "ALTER TABLE targets ADD COLUMN labels TEXT NOT NULL DEFAULT '';",
];

/// How a reading command sees an older store as the current schema
/// without writing to it: TEMP views that shadow a changed table (SQLite
/// looks in `temp` before `main`). One entry per migration, for a store
/// that has not had it yet; `None` where no view can stand in for it, and
/// then only a changing command (which migrates) can open that store.
/// A later shim of the same table must build on the earlier view.
const READ_SHIMS: &[Option<&str>] = &[
    None,
    None,
    Some("CREATE TEMP VIEW audit AS SELECT *, NULL AS key_id FROM main.audit;"),
    // 4 changed only the key: the old table has the same columns, and
    // reading needs no view.
    Some(""),
    Some("CREATE TEMP VIEW targets AS SELECT *, '' AS labels FROM main.targets;"),
];

/// The shims that let a reading command see a store of schema `found` as
/// the current one, or `None` when it cannot be read without migrating.
pub fn read_shims(found: i64) -> Option<Vec<&'static str>> {
    let from = usize::try_from(found).ok().filter(|&from| from > 0)?;
    READ_SHIMS.get(from..)?.iter().copied().collect()
}

/// The schema version this pgacct writes.
pub fn current() -> i64 {
    i64::try_from(MIGRATIONS.len()).expect("a handful of migrations fits in i64")
}

pub fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Applies the migrations this file has not seen yet, all in one
/// transaction. Concurrent processes serialise on the write lock, and
/// re-read the version once they hold it. Returns the version found, for
/// the caller to refuse one from a newer pgacct.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<Result<(), i64>> {
    if user_version(conn)? == current() {
        return Ok(Ok(()));
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found = user_version(&tx)?;
    let Some(pending) = usize::try_from(found).ok().and_then(|done| MIGRATIONS.get(done..)) else {
        return Ok(Err(found));
    };
    for migration in pending {
        tx.execute_batch(migration)?;
    }
    tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    tx.pragma_update(None, "user_version", current())?;
    tx.commit()?;
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrating_twice_is_a_no_op() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap().unwrap();
        assert_eq!(user_version(&conn).unwrap(), current());
        migrate(&mut conn).unwrap().unwrap();
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name IN ('targets', 'audit')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 2);
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

    /// Migration 4 rebuilds the targets table: every row comes through,
    /// and the audit trail is not touched.
    #[test]
    fn the_targets_rebuild_keeps_every_row_and_the_audit_trail() {
        let mut conn = Connection::open_in_memory().unwrap();
        for migration in &MIGRATIONS[..3] {
            conn.execute_batch(migration).unwrap();
        }
        conn.pragma_update(None, "user_version", 3).unwrap();
        conn.execute_batch(
            "INSERT INTO targets VALUES
               ('prod', 'orders', 'db1', 5432, 'verify-full', 'system', NULL, NULL, 'dba', 1,
                'eu', '2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z'),
               ('qa', 'app', '/run/pg', 6432, NULL, NULL, '/c.pem', '/k.pem', NULL, 0,
                NULL, '2026-01-03T00:00:00Z', '2026-01-03T00:00:00Z');
             INSERT INTO audit (ts, outcome, actor, host, pid, operation, env, db, cluster,
                                status, prev_hash, hash)
             VALUES ('2026-01-01T00:00:00Z', 'ok', 'me', 'h', 1, 'registry.add', 'prod',
                     'orders', 'db1:5432', 'target added', 'p', 'x');",
        )
        .unwrap();
        // The columns of schema 3, so that later migrations' columns do not count.
        let dump = |conn: &Connection, table: &str| -> Vec<String> {
            let columns = match table {
                "targets" => {
                    "env, db, host, port, sslmode, sslrootcert, sslcert, sslkey, admin_user, \
                     active, notes, created_at, updated_at"
                }
                _ => "*",
            };
            let mut stmt =
                conn.prepare(&format!("SELECT {columns} FROM {table} ORDER BY 1, 2")).unwrap();
            let columns = stmt.column_count();
            stmt.query_map([], |row| {
                (0..columns)
                    .map(|i| row.get::<_, rusqlite::types::Value>(i).map(|v| format!("{v:?}")))
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .map(|values| values.join("|"))
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
        };
        let (targets, audit) = (dump(&conn, "targets"), dump(&conn, "audit"));
        migrate(&mut conn).unwrap().unwrap();
        assert_eq!(dump(&conn, "targets"), targets);
        assert_eq!(dump(&conn, "audit"), audit);
        // The same database on another cluster of the env now fits.
        conn.execute_batch(
            "INSERT INTO targets (env, db, host, port, created_at, updated_at)
             VALUES ('prod', 'orders', 'db2', 5432, 'now', 'now')",
        )
        .unwrap();
        let duplicate = conn.execute_batch(
            "INSERT INTO targets (env, db, host, port, created_at, updated_at)
             VALUES ('prod', 'orders', 'db2', 5432, 'now', 'now')",
        );
        assert!(duplicate.is_err(), "the same db on the same cluster is one target");
    }

    #[test]
    fn a_newer_schema_is_reported_not_touched() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", current() + 1).unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), Err(current() + 1));
        let tables: i64 =
            conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0)).unwrap();
        assert_eq!(tables, 0);
    }
}
