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
    // 6: libpq 17's sslnegotiation (NULL: from the environment, else
    // postgres), and the program that prints the admin password, as its
    // argv in a JSON array.
    "ALTER TABLE targets ADD COLUMN sslnegotiation TEXT
         CHECK (sslnegotiation IN ('postgres', 'direct'));
     ALTER TABLE targets ADD COLUMN admin_password_command TEXT
         CHECK (admin_password_command IS NULL OR json_type(admin_password_command) = 'array');",
];

/// How a reading command sees a store that has not had a migration yet,
/// without writing to it: one entry per migration.
#[derive(Debug, Clone, Copy)]
enum Shim {
    /// No view can stand in for it; then only a changing command (which
    /// migrates) can open that store.
    Unreadable,
    /// Reading needs nothing (e.g. only a key changed).
    Nothing,
    /// The migration added these columns to `table`: `value AS name, ...`,
    /// the values an older row reads as.
    Columns { table: &'static str, columns: &'static str },
}

const READ_SHIMS: &[Shim] = &[
    Shim::Unreadable,
    Shim::Unreadable,
    Shim::Columns { table: "audit", columns: "NULL AS key_id" },
    // 4 changed only the key: the old table has the same columns.
    Shim::Nothing,
    Shim::Columns { table: "targets", columns: "'' AS labels" },
    Shim::Columns {
        table: "targets",
        columns: "NULL AS sslnegotiation, NULL AS admin_password_command",
    },
];

/// The statements that let a reading command see a store of schema
/// `found` as the current one, or `None` when it cannot be read without
/// migrating: per changed table, one TEMP view with every column added
/// since, which shadows the table (SQLite looks in `temp` before `main`).
pub fn read_shims(found: i64) -> Option<Vec<String>> {
    let from = usize::try_from(found).ok().filter(|&from| from > 0)?;
    let mut added: Vec<(&str, Vec<&str>)> = Vec::new();
    for shim in READ_SHIMS.get(from..)? {
        match *shim {
            Shim::Unreadable => return None,
            Shim::Nothing => {}
            Shim::Columns { table, columns } => {
                match added.iter_mut().find(|(known, _)| *known == table) {
                    Some((_, list)) => list.push(columns),
                    None => added.push((table, vec![columns])),
                }
            }
        }
    }
    let view = |(table, columns): (&str, Vec<&str>)| {
        format!("CREATE TEMP VIEW {table} AS SELECT *, {} FROM main.{table};", columns.join(", "))
    };
    Some(added.into_iter().map(view).collect())
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

    /// The names of `table`'s columns, in order.
    fn columns_of(conn: &Connection, table: &str) -> Vec<String> {
        let stmt = conn.prepare(&format!("SELECT * FROM {table} LIMIT 0")).unwrap();
        stmt.column_names().map(str::to_owned).collect()
    }

    /// Through its shims, a store of every readable schema shows the
    /// columns of the current one, in the same order, and rows written
    /// before read with the values the migrations give them.
    #[test]
    fn every_readable_schema_reads_as_the_current_one() {
        assert_eq!(READ_SHIMS.len(), MIGRATIONS.len(), "one shim per migration");
        let mut latest = Connection::open_in_memory().unwrap();
        migrate(&mut latest).unwrap().unwrap();
        for found in 1..=current() {
            let conn = Connection::open_in_memory().unwrap();
            for migration in &MIGRATIONS[..usize::try_from(found).unwrap()] {
                conn.execute_batch(migration).unwrap();
            }
            let Some(shims) = read_shims(found) else {
                assert!(found < 3, "schema {found} should be readable");
                continue;
            };
            conn.execute_batch(
                "INSERT INTO targets (env, db, host, port, created_at, updated_at)
                 VALUES ('qa', 'app', 'h', 5432, 'then', 'then')",
            )
            .unwrap();
            for shim in shims {
                conn.execute_batch(&shim).unwrap();
            }
            for table in ["targets", "audit"] {
                assert_eq!(columns_of(&conn, table), columns_of(&latest, table), "{found}");
            }
            let (labels, negotiation, command): (String, Option<String>, Option<String>) = conn
                .query_row(
                    "SELECT labels, sslnegotiation, admin_password_command FROM targets",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .unwrap();
            assert_eq!((labels.as_str(), negotiation, command), ("", None, None), "{found}");
        }
    }

    #[test]
    fn the_store_refuses_what_migration_6_does_not_allow() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap().unwrap();
        let mut db = 0;
        let mut insert = |negotiation: &str, command: &str| {
            db += 1;
            conn.execute(
                "INSERT INTO targets (env, db, host, port, sslnegotiation, admin_password_command,
                                      created_at, updated_at)
                 VALUES ('qa', ?1, 'h', 5432, ?2, ?3, 'now', 'now')",
                rusqlite::params![db.to_string(), negotiation, command],
            )
        };
        insert("direct", r#"["vault", "read"]"#).unwrap();
        insert("postgres", "[]").unwrap();
        assert!(insert("sometimes", "[]").is_err());
        assert!(insert("Direct", "[]").is_err());
        assert!(insert("direct", r#"{"program": "vault"}"#).is_err());
        assert!(insert("direct", "vault read").is_err());
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
