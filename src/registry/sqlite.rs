//! [`RegistryStore`] on the local store file: the registry's queries.

use std::path::PathBuf;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef};
use rusqlite::{OptionalExtension, Row, ToSql, Transaction, params, params_from_iter};

use super::{
    AdminUser, CertFile, DbName, Entry, EnvName, Error, Host, ImportOutcome, ListFilter,
    RegistryStore, RootCert, SslMode, Target, TargetChanges, TargetKey,
};
use crate::store::Store;

const COLUMNS: &str = "env, db, host, port, sslmode, sslrootcert, sslcert, sslkey, admin_user, \
                       active, notes, created_at, updated_at";

impl RegistryStore for Store {
    fn add(&mut self, target: &Target) -> Result<Entry, Error> {
        self.write(|tx| {
            if find(tx, &target.key)?.is_some() {
                return Ok(Err(Error::AlreadyExists(target.key.clone())));
            }
            insert(tx, target).map(Ok)
        })
    }

    fn get(&self, key: &TargetKey) -> Result<Entry, Error> {
        self.read(|conn| find(conn, key))?.ok_or_else(|| Error::NotFound(key.clone()))
    }

    fn list(&self, filter: &ListFilter) -> Result<Vec<Entry>, Error> {
        let sql = format!(
            "SELECT {COLUMNS} FROM targets
             WHERE (?1 IS NULL OR env = ?1) AND (?2 = 0 OR active = 1)
             ORDER BY env, db"
        );
        let entries = self.read(|conn| {
            let mut stmt = conn.prepare(&sql)?;
            let rows = stmt.query_map(params![filter.env, filter.active_only], entry_from_row)?;
            rows.collect()
        })?;
        Ok(entries)
    }

    fn update(&mut self, key: &TargetKey, changes: &TargetChanges) -> Result<Entry, Error> {
        self.write(|tx| {
            let Some(entry) = find(tx, key)? else {
                return Ok(Err(Error::NotFound(key.clone())));
            };
            let mut target = entry.target;
            if let Err(invalid) = changes.apply(&mut target) {
                return Ok(Err(invalid.into()));
            }
            save(tx, &target).map(Ok)
        })
    }

    fn set_active(&mut self, key: &TargetKey, active: bool) -> Result<Entry, Error> {
        self.write(|tx| {
            let Some(entry) = find(tx, key)? else {
                return Ok(Err(Error::NotFound(key.clone())));
            };
            let target = Target { active, ..entry.target };
            save(tx, &target).map(Ok)
        })
    }

    fn remove(&mut self, key: &TargetKey) -> Result<Entry, Error> {
        self.write(|tx| {
            let Some(entry) = find(tx, key)? else {
                return Ok(Err(Error::NotFound(key.clone())));
            };
            tx.execute("DELETE FROM targets WHERE env = ?1 AND db = ?2", params![key.env, key.db])?;
            Ok(Ok(entry))
        })
    }

    fn import(&mut self, targets: &[Target]) -> Result<Vec<ImportOutcome>, Error> {
        self.write(|tx| {
            let mut outcomes = Vec::with_capacity(targets.len());
            for target in targets {
                let outcome = if let Some(existing) = find(tx, &target.key)? {
                    ImportOutcome::Skipped { differs: existing.target.differences(target) }
                } else {
                    insert(tx, target)?;
                    ImportOutcome::Added
                };
                outcomes.push(outcome);
            }
            Ok(Ok(outcomes))
        })
    }
}

fn find(conn: &rusqlite::Connection, key: &TargetKey) -> rusqlite::Result<Option<Entry>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM targets WHERE env = ?1 AND db = ?2"),
        params![key.env, key.db],
        entry_from_row,
    )
    .optional()
}

fn insert(tx: &Transaction<'_>, target: &Target) -> rusqlite::Result<Entry> {
    tx.execute(
        &format!(
            "INSERT INTO targets ({COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)"
        ),
        params_from_iter(row_values(target, &crate::time::now())),
    )?;
    Ok(find(tx, &target.key)?.expect("the row was inserted by this transaction"))
}

fn save(tx: &Transaction<'_>, target: &Target) -> rusqlite::Result<Entry> {
    tx.execute(
        "UPDATE targets SET host = ?3, port = ?4, sslmode = ?5, sslrootcert = ?6, sslcert = ?7,
                sslkey = ?8, admin_user = ?9, active = ?10, notes = ?11, updated_at = ?12
         WHERE env = ?1 AND db = ?2",
        params_from_iter(row_values(target, &crate::time::now())),
    )?;
    Ok(find(tx, &target.key)?.expect("the row was read by this transaction"))
}

/// `?1` to `?12` of `insert` and `save`: the target's columns, then a time.
fn row_values<'a>(target: &'a Target, now: &'a dyn ToSql) -> [&'a dyn ToSql; 12] {
    [
        &target.key.env,
        &target.key.db,
        &target.host,
        &target.port,
        &target.sslmode,
        &target.sslrootcert,
        &target.sslcert,
        &target.sslkey,
        &target.admin_user,
        &target.active,
        &target.notes,
        now,
    ]
}

fn entry_from_row(row: &Row<'_>) -> rusqlite::Result<Entry> {
    Ok(Entry {
        target: Target {
            key: TargetKey { env: row.get("env")?, db: row.get("db")? },
            host: row.get("host")?,
            port: row.get("port")?,
            sslmode: row.get("sslmode")?,
            sslrootcert: row.get("sslrootcert")?,
            sslcert: row.get("sslcert")?,
            sslkey: row.get("sslkey")?,
            admin_user: row.get("admin_user")?,
            active: row.get("active")?,
            notes: row.get("notes")?,
        },
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
    })
}

/// Stored names go back through their `FromStr` rules, so a row edited by
/// hand into something invalid is reported instead of used.
macro_rules! sql_text_via_from_str {
    ($($ty:ty),*) => {$(
        impl ToSql for $ty {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $ty {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                value.as_str()?.parse().map_err(|err| FromSqlError::Other(Box::new(err)))
            }
        }
    )*};
}

sql_text_via_from_str!(EnvName, DbName, Host, SslMode, AdminUser);

impl ToSql for RootCert {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.to_string()))
    }
}

/// Certificate paths are not re-checked on the way out: a file that has
/// gone since is reported when a connection needs it, not by `list`.
impl FromSql for RootCert {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        Ok(match value.as_str()? {
            "system" => RootCert::System,
            path => RootCert::File(PathBuf::from(path)),
        })
    }
}

impl ToSql for CertFile {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.to_string()))
    }
}

impl FromSql for CertFile {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        Ok(CertFile::stored(PathBuf::from(value.as_str()?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> (tempfile::TempDir, Store) {
        crate::store::scratch()
    }

    fn target(env: &str, db: &str) -> Target {
        Target {
            key: TargetKey { env: env.parse().unwrap(), db: db.parse().unwrap() },
            host: "db1.example.com".parse().unwrap(),
            port: 5432,
            sslmode: Some(SslMode::VerifyFull),
            sslrootcert: Some(RootCert::System),
            sslcert: None,
            sslkey: None,
            admin_user: Some("dba".parse().unwrap()),
            active: true,
            notes: Some("it's \"quoted\"; DROP TABLE targets".into()),
        }
    }

    #[test]
    fn a_target_round_trips_through_the_store() {
        let (_dir, mut db) = open();
        let added = db.add(&target("prod", "orders")).unwrap();
        assert_eq!(added.target, target("prod", "orders"));
        assert_eq!(added.created_at, added.updated_at);
        assert_eq!(db.get(&target("prod", "orders").key).unwrap(), added);
    }

    #[test]
    fn import_adds_only_free_keys_in_one_go() {
        let (_dir, mut db) = open();
        db.add(&target("prod", "orders")).unwrap();
        let mut changed = target("prod", "orders");
        changed.port = 6432;
        let outcomes = db.import(&[changed, target("prod", "billing")]).unwrap();
        assert_eq!(
            outcomes,
            [ImportOutcome::Skipped { differs: vec!["port"] }, ImportOutcome::Added]
        );
        assert_eq!(db.get(&target("prod", "orders").key).unwrap().target.port, 5432);
        assert_eq!(db.list(&ListFilter::default()).unwrap().len(), 2);
    }

    #[test]
    fn a_refused_change_writes_nothing() {
        let (_dir, mut db) = open();
        db.add(&target("prod", "orders")).unwrap();
        let before = db.get(&target("prod", "orders").key).unwrap();
        let changes = TargetChanges {
            host: Some("other".parse().unwrap()),
            sslcert: Some(CertFile::stored("/tmp/client.pem".into())),
            ..TargetChanges::default()
        };
        let err = db.update(&before.target.key, &changes).unwrap_err();
        assert!(matches!(err, Error::Invalid(_)), "{err}");
        assert_eq!(db.get(&before.target.key).unwrap(), before);
    }
}
