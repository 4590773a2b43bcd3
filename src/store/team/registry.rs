//! [`RegistryStore`] on a team store: the registry's queries against its
//! `targets` table, with the local store's semantics. Every change is one
//! statement, or one transaction that locks the rows it read, so that
//! processes on many machines neither lose nor duplicate a row: the
//! primary key (env, db, host, port) settles two adds of one target, and
//! a row read `FOR UPDATE` cannot change under the change planned on it.

use std::path::PathBuf;
use std::rc::Rc;

use futures_util::future::join_all;
use tokio_postgres::Row;
use tokio_postgres::types::{ToSql, Type};

use super::TeamStore;
use super::store::TeamError;
use crate::pg::Session;
use crate::registry::sync::Change;
use crate::registry::{
    CertFile, ClusterRef, DbName, Entry, EnvName, Error, InvalidValue, Labels, ListFilter,
    PasswordCommand, RegistryStore, RootCert, Target, TargetChanges, TargetKey, list_order,
};

/// Every column, as text where the local store keeps text: times in the
/// local store's form (UTC, milliseconds).
const COLUMNS: &str = "env, db, host, port, sslmode, sslrootcert, sslcert, sslkey, admin_user, \
     active, notes, labels, sslnegotiation, admin_password_command::text, \
     to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), \
     to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";

/// The target's columns, `$1` to `$14`, in the order of [`Values::params`].
const NAMES: &str = "env, db, host, port, sslmode, sslrootcert, sslcert, sslkey, admin_user, \
                     active, notes, labels, sslnegotiation, admin_password_command";
const PLACES: &str = "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb";

/// `unique_violation`: another process registered the target first.
const UNIQUE_VIOLATION: &str = "23505";

impl RegistryStore for TeamStore {
    fn add(&mut self, target: &Target) -> Result<Entry, Error> {
        self.check_writable()?;
        let sql = self.names().fill(&format!(
            "INSERT INTO {{schema}}.targets ({NAMES}) VALUES ({PLACES})
             ON CONFLICT (env, db, host, port) DO NOTHING
             RETURNING {COLUMNS}"
        ));
        let values = Values::of(target);
        let rows = self.run(self.session().query_typed(&sql, &values.params()));
        let rows = rows.map_err(|err| self.failed("add the target", &err))?;
        match rows.first() {
            Some(row) => self.entry(row),
            None => Err(Error::AlreadyExists(Box::new(target.clone()))),
        }
    }

    fn entry_of(&self, target: &Target) -> Result<Option<Entry>, Error> {
        if let Some(all) = self.known_targets() {
            return Ok(all.iter().find(|e| e.target.is(target)).cloned());
        }
        let rows = self.run(find(self, self.session(), target, ""));
        let rows = rows.map_err(|err| self.failed("read the registry", &err))?;
        rows.first().map(|row| self.entry(row)).transpose()
    }

    fn matching(&self, key: &TargetKey, cluster: Option<&ClusterRef>) -> Result<Vec<Entry>, Error> {
        if let Some(all) = self.known_targets() {
            return Ok(all
                .iter()
                .filter(|e| e.target.key == *key && cluster.is_none_or(|c| c.matches(&e.target)))
                .cloned()
                .collect());
        }
        let sql = self
            .names()
            .fill(&format!("SELECT {COLUMNS} FROM {{schema}}.targets WHERE env = $1 AND db = $2"));
        let (env, db) = (key.env.as_str(), key.db.as_str());
        let rows =
            self.run(self.session().query_typed(&sql, &[(&env, Type::TEXT), (&db, Type::TEXT)]));
        let rows = rows.map_err(|err| self.failed("read the registry", &err))?;
        let mut entries = self.entries(&rows)?;
        entries.retain(|e| cluster.is_none_or(|c| c.matches(&e.target)));
        entries.sort_by(|a, b| list_order(&a.target, &b.target));
        Ok(entries)
    }

    /// Served from every target, read once per run: a change lists twice.
    fn list(&self, filter: &ListFilter) -> Result<Vec<Entry>, Error> {
        let all = self.every_target()?;
        Ok(all
            .iter()
            .filter(|e| filter.env.as_ref().is_none_or(|env| e.target.key.env == *env))
            .filter(|e| !filter.active_only || e.target.active)
            .filter(|e| e.target.labels.has_all(&filter.labels))
            .cloned()
            .collect())
    }

    fn update(&mut self, target: &Target, changes: &TargetChanges) -> Result<Entry, Error> {
        self.check_writable()?;
        self.change("update the target", async |session| {
            let Some(registered) = locked(self, session, target).await? else {
                return Ok(Err(not_found(target)));
            };
            let mut updated = registered;
            if let Err(invalid) = changes.apply(&mut updated) {
                return Ok(Err(invalid.into()));
            }
            save(self, session, target, &updated).await
        })
    }

    fn set_active(&mut self, target: &Target, active: bool) -> Result<Entry, Error> {
        self.check_writable()?;
        self.change("change the target", async |session| {
            let Some(registered) = locked(self, session, target).await? else {
                return Ok(Err(not_found(target)));
            };
            save(self, session, target, &Target { active, ..registered }).await
        })
    }

    fn remove(&mut self, target: &Target) -> Result<Entry, Error> {
        self.check_writable()?;
        let sql = self.names().fill(&format!(
            "DELETE FROM {{schema}}.targets
              WHERE env = $1 AND db = $2 AND host = $3 AND port = $4
             RETURNING {COLUMNS}"
        ));
        let key = Values::of(target);
        let rows = self.run(self.session().query_typed(&sql, &key.params()[..4]));
        let rows = rows.map_err(|err| self.failed("remove the target", &err))?;
        match rows.first() {
            Some(row) => self.entry(row),
            None => Err(not_found(target)),
        }
    }

    /// Locks every row the changes concern in one query, checks each is as
    /// planned, then sends every write in one pipeline: a sync of a
    /// thousand targets costs a few round trips, not two per target.
    fn apply(&mut self, changes: &[Change]) -> Result<(), Error> {
        self.check_writable()?;
        let store: &TeamStore = self;
        store.change("change the registry", async |session| {
            let targets: Vec<&Target> = changes.iter().map(Change::target).collect();
            let registered = locked_all(store, session, &targets).await?;
            let mut planned = Vec::with_capacity(changes.len());
            for change in changes {
                let planned_against = match change {
                    Change::Add(_) => None,
                    Change::Update { from, .. } => Some((**from).clone()),
                    Change::Deactivate(to) => Some(Target { active: true, ..to.clone() }),
                };
                let now = registered.iter().find(|r| r.is(change.target()));
                if now != planned_against.as_ref() {
                    return Ok(Err(Error::Moved(change.target().name())));
                }
                planned.push(planned_against);
            }
            let writes = changes.iter().zip(&planned).map(|(change, from)| async move {
                match from {
                    None => insert(store, session, change.target()).await,
                    Some(from) => {
                        save(store, session, from, change.target()).await.map(|r| r.map(drop))
                    }
                }
            });
            for written in join_all(writes).await {
                if let Err(refused) = written? {
                    return Ok(Err(refused));
                }
            }
            Ok(Ok(()))
        })
    }

    fn env_names(&self) -> Result<Vec<(EnvName, u32)>, Error> {
        let sql = self.names().fill("SELECT env, count(*) FROM {schema}.targets GROUP BY env");
        self.readable(&sql, None, |row| Some((parse(row, 0)?, count(row, 1)?)))
    }

    fn db_names(&self, env: Option<&EnvName>) -> Result<Vec<(DbName, u32)>, Error> {
        let sql = self.names().fill(
            "SELECT db, count(*) FROM {schema}.targets WHERE $1::text IS NULL OR env = $1 GROUP BY db",
        );
        self.readable(&sql, env, |row| Some((parse(row, 0)?, count(row, 1)?)))
    }

    fn clusters(&self, env: Option<&EnvName>) -> Result<Vec<(ClusterRef, u32)>, Error> {
        let sql = self.names().fill(
            "SELECT host, port, count(*) FROM {schema}.targets
              WHERE $1::text IS NULL OR env = $1 GROUP BY host, port",
        );
        self.readable(&sql, env, |row| {
            let port: i32 = row.try_get(1).ok()?;
            let cluster = ClusterRef { host: parse(row, 0)?, port: u16::try_from(port).ok() };
            Some((cluster, count(row, 2)?))
        })
    }

    fn label_sets(&self, env: Option<&EnvName>) -> Result<Vec<Labels>, Error> {
        let sql = self.names().fill(
            "SELECT DISTINCT labels FROM {schema}.targets
              WHERE ($1::text IS NULL OR env = $1) AND labels <> ''",
        );
        self.readable(&sql, env, |row| Labels::parse_text(row.try_get(0).ok()?).ok())
    }
}

/// Every target, for [`TeamStore::keep_targets`].
pub(super) fn every_target_query(names: &super::Names) -> String {
    names.fill(&format!("SELECT {COLUMNS} FROM {{schema}}.targets"))
}

impl TeamStore {
    /// Every target: those read earlier in the run, or read now.
    fn every_target(&self) -> Result<Rc<Vec<Entry>>, Error> {
        if let Some(all) = self.known_targets() {
            return Ok(all);
        }
        let sql = every_target_query(self.names());
        let rows = self.run(self.session().query_typed(&sql, &[]));
        let rows = rows.map_err(|err| self.failed("read the registry", &err))?;
        self.keep_targets(&rows)
    }

    /// Keeps `rows` (of [`every_target_query`]) as the registry for the rest
    /// of the run, in list order.
    pub(super) fn keep_targets(&self, rows: &[Row]) -> Result<Rc<Vec<Entry>>, Error> {
        let mut entries = self.entries(rows)?;
        entries.sort_by(|a, b| list_order(&a.target, &b.target));
        Ok(self.remember_targets(entries))
    }

    /// Runs `work` in one transaction; a refusal rolls it back.
    fn change<T>(
        &self,
        doing: &'static str,
        work: impl AsyncFnOnce(&Session) -> Result<Result<T, Error>, Error>,
    ) -> Result<T, Error> {
        // The transaction's own failures are the store's; `work`'s are
        // carried through it as refusals, so that it rolls back.
        let ran = self
            .run(self.transaction(doing, async |session| Ok(work(session).await.and_then(|r| r))));
        ran.map_err(Error::from)?
    }

    fn entry(&self, row: &Row) -> Result<Entry, Error> {
        entry_from_row(row).map_err(|invalid| {
            TeamError::Query {
                place: self.place().to_owned(),
                doing: "read the registry",
                message: format!("a row of the targets table is invalid: {invalid}"),
            }
            .into()
        })
    }

    fn entries(&self, rows: &[Row]) -> Result<Vec<Entry>, Error> {
        rows.iter().map(|row| self.entry(row)).collect()
    }

    /// The rows of `sql` (which may take the env as `$1`) that read back
    /// as valid: for completion, which leaves out what it cannot use.
    fn readable<T>(
        &self,
        sql: &str,
        env: Option<&EnvName>,
        read: impl Fn(&Row) -> Option<T>,
    ) -> Result<Vec<T>, Error> {
        let env = env.map(EnvName::as_str);
        let params: &[(&(dyn ToSql + Sync), Type)] =
            if sql.contains("$1") { &[(&env, Type::TEXT)] } else { &[] };
        let rows = self.run(self.session().query_typed(sql, params));
        let rows = rows.map_err(|err| self.failed("read the registry", &err))?;
        Ok(rows.iter().filter_map(read).collect())
    }
}

/// The row of `target`'s env, cluster and db; `lock` is appended (`FOR UPDATE`).
async fn find(
    store: &TeamStore,
    session: &Session,
    target: &Target,
    lock: &str,
) -> Result<Vec<Row>, tokio_postgres::Error> {
    let sql = store.names().fill(&format!(
        "SELECT {COLUMNS} FROM {{schema}}.targets
          WHERE env = $1 AND db = $2 AND host = $3 AND port = $4 {lock}"
    ));
    let key = Values::of(target);
    session.query_typed(&sql, &key.params()[..4]).await
}

/// The registered target with `target`'s env, cluster and db, its row
/// locked until the transaction ends.
async fn locked(
    store: &TeamStore,
    session: &Session,
    target: &Target,
) -> Result<Option<Target>, Error> {
    let rows = find(store, session, target, "FOR UPDATE")
        .await
        .map_err(|err| store.failed("read the registry", &err))?;
    rows.first().map(|row| store.entry(row).map(|e| e.target)).transpose()
}

/// The registered targets among `targets`, their rows locked until the
/// transaction ends.
async fn locked_all(
    store: &TeamStore,
    session: &Session,
    targets: &[&Target],
) -> Result<Vec<Target>, Error> {
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    let sql = store.names().fill(&format!(
        "SELECT {COLUMNS} FROM {{schema}}.targets
          WHERE (env, db, host, port) IN
                (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int4[]))
            FOR UPDATE"
    ));
    let column = |f: fn(&Target) -> &str| -> Vec<&str> { targets.iter().map(|t| f(t)).collect() };
    let (envs, dbs, hosts) = (
        column(|t| t.key.env.as_str()),
        column(|t| t.key.db.as_str()),
        column(|t| t.host.as_str()),
    );
    let ports: Vec<i32> = targets.iter().map(|t| i32::from(t.port)).collect();
    let rows = session
        .query_typed(
            &sql,
            &[
                (&envs, Type::TEXT_ARRAY),
                (&dbs, Type::TEXT_ARRAY),
                (&hosts, Type::TEXT_ARRAY),
                (&ports, Type::INT4_ARRAY),
            ],
        )
        .await
        .map_err(|err| store.failed("read the registry", &err))?;
    rows.iter().map(|row| store.entry(row).map(|e| e.target)).collect()
}

/// Adds `target`; refused as moved when another process added it first.
async fn insert(
    store: &TeamStore,
    session: &Session,
    target: &Target,
) -> Result<Result<(), Error>, Error> {
    let sql = store.names().fill(&format!(
        "INSERT INTO {{schema}}.targets ({NAMES}) VALUES ({PLACES})
         ON CONFLICT (env, db, host, port) DO NOTHING
         RETURNING true"
    ));
    let values = Values::of(target);
    let added = session
        .query_typed(&sql, &values.params())
        .await
        .map_err(|err| store.failed("add the target", &err))?;
    Ok(if added.is_empty() { Err(Error::Moved(target.name())) } else { Ok(()) })
}

/// Writes `changed` over the row of `target` (which may move it to
/// another cluster): refused when the new key is taken.
async fn save(
    store: &TeamStore,
    session: &Session,
    target: &Target,
    changed: &Target,
) -> Result<Result<Entry, Error>, Error> {
    let sql = store.names().fill(&format!(
        "UPDATE {{schema}}.targets
            SET ({NAMES}, updated_at) = ({PLACES}, now())
          WHERE env = $15 AND db = $16 AND host = $17 AND port = $18
         RETURNING {COLUMNS}"
    ));
    let values = Values::of(changed);
    let key = Values::of(target);
    let mut params = values.params();
    params.extend_from_slice(&key.params()[..4]);
    match session.query_typed(&sql, &params).await {
        Ok(rows) => match rows.first() {
            Some(row) => Ok(store.entry(row)),
            None => Ok(Err(not_found(target))),
        },
        Err(err)
            if err.code().map(tokio_postgres::error::SqlState::code) == Some(UNIQUE_VIOLATION) =>
        {
            Ok(Err(Error::AlreadyExists(Box::new(changed.clone()))))
        }
        Err(err) => Err(store.failed("change the target", &err).into()),
    }
}

fn not_found(target: &Target) -> Error {
    Error::NotFound(target.key.clone(), Some(target.cluster_ref()))
}

/// A target's columns as bind values.
struct Values {
    text: [Option<String>; 12],
    port: i32,
    active: bool,
}

impl Values {
    fn of(target: &Target) -> Values {
        let owned = |s: &str| Some(s.to_owned());
        Values {
            text: [
                owned(target.key.env.as_str()),
                owned(target.key.db.as_str()),
                owned(target.host.as_str()),
                target.sslmode.map(|m| m.as_str().to_owned()),
                target.sslrootcert.as_ref().map(ToString::to_string),
                target.sslcert.as_ref().map(ToString::to_string),
                target.sslkey.as_ref().map(ToString::to_string),
                target.admin_user.as_ref().map(|u| u.as_str().to_owned()),
                target.notes.clone(),
                Some(target.labels.to_text()),
                target.sslnegotiation.map(|n| n.as_str().to_owned()),
                target.admin_password_command.as_ref().map(PasswordCommand::to_json),
            ],
            port: i32::from(target.port),
            active: target.active,
        }
    }

    /// `$1` to `$14`, in the order of [`NAMES`].
    fn params(&self) -> Vec<(&(dyn ToSql + Sync), Type)> {
        let t = |i: usize| (&self.text[i] as &(dyn ToSql + Sync), Type::TEXT);
        vec![
            t(0),
            t(1),
            t(2),
            (&self.port, Type::INT4),
            t(3),
            t(4),
            t(5),
            t(6),
            t(7),
            (&self.active, Type::BOOL),
            t(8),
            t(9),
            t(10),
            t(11),
        ]
    }
}

/// A row of [`COLUMNS`], read back through the rules input goes through,
/// so that a row edited by hand into something invalid is reported.
fn entry_from_row(row: &Row) -> Result<Entry, InvalidValue> {
    let text = |i: usize| -> Result<Option<String>, InvalidValue> {
        row.try_get(i).map_err(|err| InvalidValue::new(format!("column {}: {err}", i + 1)))
    };
    let required = |i: usize| -> Result<String, InvalidValue> {
        text(i)?.ok_or_else(|| InvalidValue::new(format!("column {} is empty", i + 1)))
    };
    let port: i32 = row.try_get(3).map_err(|err| InvalidValue::new(format!("port: {err}")))?;
    let active: bool = row.try_get(9).map_err(|err| InvalidValue::new(format!("active: {err}")))?;
    let target = Target {
        key: TargetKey { env: required(0)?.parse()?, db: required(1)?.parse()? },
        host: required(2)?.parse()?,
        port: u16::try_from(port).map_err(|_| InvalidValue::new(format!("invalid port {port}")))?,
        sslmode: text(4)?.map(|v| v.parse()).transpose()?,
        // Certificate paths are not re-checked on the way out, as in the
        // local store: a file gone since is reported when a connection needs it.
        sslrootcert: text(5)?.map(|v| match v.as_str() {
            "system" => RootCert::System,
            _ => RootCert::File(PathBuf::from(v)),
        }),
        sslcert: text(6)?.map(|v| CertFile::stored(PathBuf::from(v))),
        sslkey: text(7)?.map(|v| CertFile::stored(PathBuf::from(v))),
        admin_user: text(8)?.map(|v| v.parse()).transpose()?,
        active,
        notes: text(10)?,
        labels: Labels::parse_text(&required(11)?)?,
        sslnegotiation: text(12)?.map(|v| v.parse()).transpose()?,
        admin_password_command: text(13)?.map(|v| PasswordCommand::from_json(&v)).transpose()?,
    };
    Ok(Entry { target, created_at: required(14)?, updated_at: required(15)? })
}

fn parse<T: std::str::FromStr>(row: &Row, i: usize) -> Option<T> {
    row.try_get::<_, String>(i).ok()?.parse().ok()
}

fn count(row: &Row, i: usize) -> Option<u32> {
    u32::try_from(row.try_get::<_, i64>(i).ok()?).ok()
}
