//! [`RegistryStore`] on the local store file: the registry's queries.

use std::path::PathBuf;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef};
use rusqlite::{OptionalExtension, Row, ToSql, Transaction, params, params_from_iter};

use super::sync::Change;
use super::{
    AdminUser, CertFile, ClusterRef, DbName, Entry, EnvName, Error, Host, Labels, ListFilter,
    PasswordCommand, RegistryStore, RootCert, SslMode, SslNegotiation, Target, TargetChanges,
    TargetKey,
};
use crate::store::FileStore;

const COLUMNS: &str = "env, db, host, port, sslmode, sslrootcert, sslcert, sslkey, admin_user, \
                       active, notes, labels, sslnegotiation, admin_password_command, \
                       created_at, updated_at";

impl RegistryStore for FileStore {
    fn add(&mut self, target: &Target) -> Result<Entry, Error> {
        self.write(|tx| {
            if find(tx, target)?.is_some() {
                return Ok(Err(Error::AlreadyExists(Box::new(target.clone()))));
            }
            insert(tx, target).map(Ok)
        })
    }

    fn entry_of(&self, target: &Target) -> Result<Option<Entry>, Error> {
        Ok(self.read(|conn| find(conn, target))?)
    }

    fn matching(&self, key: &TargetKey, cluster: Option<&ClusterRef>) -> Result<Vec<Entry>, Error> {
        let sql = format!("SELECT {COLUMNS} FROM targets WHERE env = ?1 AND db = ?2");
        let entries: Vec<Entry> = self.read(|conn| {
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![key.env, key.db], entry_from_row)?;
            rows.collect()
        })?;
        let mut entries: Vec<Entry> =
            entries.into_iter().filter(|e| cluster.is_none_or(|c| c.matches(&e.target))).collect();
        entries.sort_by(|a, b| super::list_order(&a.target, &b.target));
        Ok(entries)
    }

    fn list(&self, filter: &ListFilter) -> Result<Vec<Entry>, Error> {
        let sql = format!(
            "SELECT {COLUMNS} FROM targets
             WHERE (?1 IS NULL OR env = ?1) AND (?2 = 0 OR active = 1)"
        );
        let entries = self.read(|conn| {
            let mut stmt = conn.prepare(&sql)?;
            let rows = stmt.query_map(params![filter.env, filter.active_only], entry_from_row)?;
            rows.collect::<rusqlite::Result<Vec<Entry>>>()
        })?;
        let mut entries: Vec<Entry> =
            entries.into_iter().filter(|e| e.target.labels.has_all(&filter.labels)).collect();
        entries.sort_by(|a, b| super::list_order(&a.target, &b.target));
        Ok(entries)
    }

    fn update(&mut self, target: &Target, changes: &TargetChanges) -> Result<Entry, Error> {
        self.write(|tx| {
            let Some(entry) = find(tx, target)? else {
                return Ok(Err(not_found(target)));
            };
            let mut updated = entry.target;
            if let Err(invalid) = changes.apply(&mut updated) {
                return Ok(Err(invalid.into()));
            }
            if !updated.is(target) && find(tx, &updated)?.is_some() {
                return Ok(Err(Error::AlreadyExists(Box::new(updated))));
            }
            save(tx, target, &updated).map(Ok)
        })
    }

    fn set_active(&mut self, target: &Target, active: bool) -> Result<Entry, Error> {
        self.write(|tx| {
            let Some(entry) = find(tx, target)? else {
                return Ok(Err(not_found(target)));
            };
            let changed = Target { active, ..entry.target };
            save(tx, target, &changed).map(Ok)
        })
    }

    fn remove(&mut self, target: &Target) -> Result<Entry, Error> {
        self.write(|tx| {
            let Some(entry) = find(tx, target)? else {
                return Ok(Err(not_found(target)));
            };
            tx.execute(
                "DELETE FROM targets WHERE env = ?1 AND db = ?2 AND host = ?3 AND port = ?4",
                params![target.key.env, target.key.db, target.host, target.port],
            )?;
            Ok(Ok(entry))
        })
    }

    fn apply(&mut self, changes: &[Change]) -> Result<(), Error> {
        self.write(|tx| {
            for change in changes {
                let registered = find(tx, change.target())?.map(|e| e.target);
                let planned_against = match change {
                    Change::Add(_) => None,
                    Change::Update { from, .. } => Some((**from).clone()),
                    Change::Deactivate(to) => Some(Target { active: true, ..to.clone() }),
                };
                if registered != planned_against {
                    return Ok(Err(Error::Moved(change.target().name())));
                }
                match planned_against {
                    None => insert(tx, change.target())?,
                    Some(from) => save(tx, &from, change.target())?,
                };
            }
            Ok(Ok(()))
        })
    }

    fn env_names(&self) -> Result<Vec<(EnvName, u32)>, Error> {
        readable_rows(self, ENV_NAMES, [], |row| Ok((row.get(0)?, row.get(1)?)))
    }

    fn db_names(&self, env: Option<&EnvName>) -> Result<Vec<(DbName, u32)>, Error> {
        readable_rows(self, DB_NAMES, [env], |row| Ok((row.get(0)?, row.get(1)?)))
    }

    fn clusters(&self, env: Option<&EnvName>) -> Result<Vec<(ClusterRef, u32)>, Error> {
        readable_rows(self, CLUSTERS, [env], |row| {
            Ok((ClusterRef { host: row.get(0)?, port: Some(row.get(1)?) }, row.get(2)?))
        })
    }

    fn label_sets(&self, env: Option<&EnvName>) -> Result<Vec<Labels>, Error> {
        readable_rows(self, LABEL_SETS, [env], |row| row.get(0))
    }
}

/// Completion's queries read one or two columns, never whole targets, so
/// that a TAB stays fast on a registry of 10,000 targets.
const ENV_NAMES: &str = "SELECT env, count(*) FROM targets GROUP BY env";
const DB_NAMES: &str = "SELECT db, count(*) FROM targets WHERE ?1 IS NULL OR env = ?1 GROUP BY db";
const CLUSTERS: &str = "SELECT host, port, count(*) FROM targets
                        WHERE ?1 IS NULL OR env = ?1 GROUP BY host, port";
const LABEL_SETS: &str = "SELECT DISTINCT labels FROM targets
                          WHERE (?1 IS NULL OR env = ?1) AND labels <> ''";

/// The rows of `sql` that read back as valid: a row edited by hand into
/// something invalid is left out.
fn readable_rows<T>(
    store: &FileStore,
    sql: &str,
    params: impl rusqlite::Params,
    read: impl Fn(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, Error> {
    let rows = store.read(|conn| {
        let mut stmt = conn.prepare(sql)?;
        let rows = stmt.query_map(params, |row| Ok(read(row).ok()))?;
        rows.collect::<rusqlite::Result<Vec<Option<T>>>>()
    })?;
    Ok(rows.into_iter().flatten().collect())
}

fn not_found(target: &Target) -> Error {
    Error::NotFound(target.key.clone(), Some(target.cluster_ref()))
}

/// The entry with the env, cluster and db of `target`.
fn find(conn: &rusqlite::Connection, target: &Target) -> rusqlite::Result<Option<Entry>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM targets WHERE env = ?1 AND db = ?2 AND host = ?3 AND port = ?4"
    ))?
    .query_row(params![target.key.env, target.key.db, target.host, target.port], entry_from_row)
    .optional()
}

fn insert(tx: &Transaction<'_>, target: &Target) -> rusqlite::Result<Entry> {
    tx.prepare_cached(&format!(
        "INSERT INTO targets ({COLUMNS})
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?15)"
    ))?
    .execute(params_from_iter(row_values(target, &crate::time::now())))?;
    Ok(find(tx, target)?.expect("the row was inserted by this transaction"))
}

/// Writes `changed` over the entry of `target` (which may move it to
/// another cluster).
fn save(tx: &Transaction<'_>, target: &Target, changed: &Target) -> rusqlite::Result<Entry> {
    let now = crate::time::now();
    let mut values: Vec<&dyn ToSql> = row_values(changed, &now).to_vec();
    values.extend([&target.host as &dyn ToSql, &target.port]);
    tx.prepare_cached(
        "UPDATE targets SET host = ?3, port = ?4, sslmode = ?5, sslrootcert = ?6, sslcert = ?7,
                sslkey = ?8, admin_user = ?9, active = ?10, notes = ?11, labels = ?12,
                sslnegotiation = ?13, admin_password_command = ?14, updated_at = ?15
         WHERE env = ?1 AND db = ?2 AND host = ?16 AND port = ?17",
    )?
    .execute(params_from_iter(values))?;
    Ok(find(tx, changed)?.expect("the row was written by this transaction"))
}

/// `?1` to `?15` of `insert` and `save`: the target's columns, then a time.
fn row_values<'a>(target: &'a Target, now: &'a dyn ToSql) -> [&'a dyn ToSql; 15] {
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
        &target.labels,
        &target.sslnegotiation,
        &target.admin_password_command,
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
            sslnegotiation: row.get("sslnegotiation")?,
            sslrootcert: row.get("sslrootcert")?,
            sslcert: row.get("sslcert")?,
            sslkey: row.get("sslkey")?,
            admin_user: row.get("admin_user")?,
            admin_password_command: row.get("admin_password_command")?,
            labels: row.get("labels")?,
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

sql_text_via_from_str!(EnvName, DbName, Host, SslMode, SslNegotiation, AdminUser);

/// The argv as a JSON array; read back through the same rules as input.
impl ToSql for PasswordCommand {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.to_json()))
    }
}

impl FromSql for PasswordCommand {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        PasswordCommand::from_json(value.as_str()?)
            .map_err(|err| FromSqlError::Other(Box::new(err)))
    }
}

impl ToSql for Labels {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.to_text()))
    }
}

impl FromSql for Labels {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        Labels::parse_text(value.as_str()?).map_err(|err| FromSqlError::Other(Box::new(err)))
    }
}

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

    fn open() -> (tempfile::TempDir, FileStore) {
        crate::store::scratch()
    }

    fn target(env: &str, db: &str) -> Target {
        Target {
            key: TargetKey { env: env.parse().unwrap(), db: db.parse().unwrap() },
            host: "db1.example.com".parse().unwrap(),
            port: 5432,
            sslmode: Some(SslMode::VerifyFull),
            sslnegotiation: Some(SslNegotiation::Direct),
            sslrootcert: Some(RootCert::System),
            sslcert: None,
            sslkey: None,
            admin_user: Some("dba".parse().unwrap()),
            admin_password_command: Some(
                "vault read -field=password 'secret/pg admin'".parse().unwrap(),
            ),
            labels: Labels::parse_text("region=eu;tier=gold").unwrap(),
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
        assert_eq!(db.one(&target("prod", "orders").key, None).unwrap(), added);
    }

    #[test]
    fn changes_apply_all_or_nothing() {
        let (_dir, mut db) = open();
        db.add(&target("prod", "orders")).unwrap();
        db.add(&target("prod", "gone")).unwrap();
        let mut other_cluster = target("prod", "orders");
        other_cluster.port = 6432;
        let mut changed = target("prod", "orders");
        changed.notes = None;
        let gone = Target { active: false, ..target("prod", "gone") };
        let planned = [
            Change::Add(other_cluster),
            Change::Update { from: Box::new(target("prod", "orders")), to: changed.clone() },
            Change::Deactivate(gone.clone()),
        ];
        db.apply(&planned).unwrap();
        assert_eq!(db.entry_of(&changed).unwrap().unwrap().target, changed);
        assert_eq!(db.entry_of(&gone).unwrap().unwrap().target, gone);
        assert_eq!(db.list(&ListFilter::default()).unwrap().len(), 3, "6432 is another cluster");

        // Planned against a registry that has moved on since: nothing is written.
        let before = db.list(&ListFilter::default()).unwrap();
        let err = db.apply(&[Change::Add(target("prod", "new")), planned[1].clone()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "prod/orders (db1.example.com:5432) changed after the change was planned"
        );
        assert_eq!(db.list(&ListFilter::default()).unwrap(), before);
    }

    #[test]
    fn a_refused_change_writes_nothing() {
        let (_dir, mut db) = open();
        db.add(&target("prod", "orders")).unwrap();
        let before = db.one(&target("prod", "orders").key, None).unwrap();
        let changes = TargetChanges {
            host: Some("other".parse().unwrap()),
            sslcert: Some(CertFile::stored("/tmp/client.pem".into())),
            ..TargetChanges::default()
        };
        let err = db.update(&before.target, &changes).unwrap_err();
        assert!(matches!(err, Error::Invalid(_)), "{err}");
        assert_eq!(db.one(&before.target.key, None).unwrap(), before);
    }

    #[test]
    fn one_name_on_many_clusters() {
        let (_dir, mut db) = open();
        let on = |host: &str| Target { host: host.parse().unwrap(), ..target("prod", "orders") };
        for host in ["eu", "us", "ap"] {
            db.add(&on(host)).unwrap();
        }
        let err = db.add(&on("eu")).unwrap_err();
        assert!(err.to_string().contains("prod/orders (eu:5432) is already registered"), "{err}");
        let key = on("eu").key;
        let err = db.one(&key, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "env 'prod' has db 'orders' on 3 clusters: ap:5432, eu:5432, us:5432"
        );
        let us: ClusterRef = "us".parse().unwrap();
        assert_eq!(db.one(&key, Some(&us)).unwrap().target, on("us"));
        let changes = TargetChanges { port: Some(6432), ..TargetChanges::default() };
        db.update(&on("us"), &changes).unwrap();
        assert_eq!(db.matching(&key, Some(&us)).unwrap()[0].target.port, 6432);
        // Moving onto a cluster that has the database already is refused.
        let changes =
            TargetChanges { host: Some("eu".parse().unwrap()), ..TargetChanges::default() };
        assert!(matches!(db.update(&on("ap"), &changes), Err(Error::AlreadyExists(_))));
        db.remove(&on("ap")).unwrap();
        assert_eq!(db.matching(&key, None).unwrap().len(), 2);
        let gone: ClusterRef = "ap".parse().unwrap();
        let err = db.one(&key, Some(&gone)).unwrap_err();
        assert_eq!(err.to_string(), "no registry entry for env 'prod' db 'orders' on cluster ap");
    }
}
