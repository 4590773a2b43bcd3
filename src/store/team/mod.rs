//! Team mode's store: a schema in a shared PostgreSQL database that holds
//! the registry and an audit trail whose time, writer and chain hash the
//! server sets. This module renders the one script that creates and
//! upgrades it (`pgacct store init --print-sql`), for the schema's owner to
//! review and run, decides whether a schema version found in a store is
//! one this pgacct can use, and runs the setup itself (`pgacct store
//! init`, [`setup`]), and reads the audit trail for `pgacct audit verify`
//! ([`verify_trail`]) and `pgacct audit show` ([`show_trail`]), and moves
//! a local registry and its trail in (`pgacct store migrate`, [`import`]).
//!
//! The script runs in one transaction: it refuses a store from a newer
//! pgacct, applies the [`migrations`] the store has not had (so running it
//! twice is a no-op), and then grants the users' role exactly what it
//! needs. Names are validated and quoted; nothing else is put into it.

pub mod import;
mod journal;
mod migrations;
mod registry;
mod setup;
mod store;
mod trail;
mod version;

pub use setup::{Found, SetupError, apply, inspect};
pub use store::{TeamError, TeamStore};
use trail::{show_trail, verify_trail};
pub use version::Version;

use std::fmt;

use postgres_protocol::escape::{escape_identifier, escape_literal};

use crate::policy::RoleName;

/// The schema of a team store when none is named.
pub const DEFAULT_SCHEMA: &str = "pgacct";

/// The role granted to pgacct's users when none is named.
pub const DEFAULT_ROLE: &str = "pgacct_user";

/// The schema version this pgacct writes and reads.
pub fn current() -> i32 {
    i32::try_from(migrations::MIGRATIONS.len()).expect("a handful of migrations fits in i32")
}

/// The server's message, else tokio-postgres's account of the failure.
fn message_of(err: &tokio_postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => db.message().to_owned(),
        None => crate::pg::describe_error(err),
    }
}

/// A schema for the team store: the identifier rule (`^[a-z_][a-z0-9_]*$`,
/// at most 63 bytes), and none of PostgreSQL's own (`pg_*`,
/// `information_schema`) nor `public`, which others may be able to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSchema(String);

impl StoreSchema {
    pub fn parse(name: &str) -> Result<StoreSchema, NameError> {
        let valid = !name.is_empty()
            && name.len() <= crate::policy::MAX_NAME_BYTES
            && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(NameError(format!(
                "schema name '{name}' is refused: it must match ^[a-z_][a-z0-9_]*$ and be at \
                 most 63 bytes"
            )));
        }
        if name.starts_with("pg_") || name == "information_schema" || name == "public" {
            return Err(NameError(format!(
                "schema name '{name}' is refused: the team store needs a schema of its own"
            )));
        }
        Ok(StoreSchema(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for StoreSchema {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StoreSchema::parse(s)
    }
}

impl fmt::Display for StoreSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A schema name the team store refuses, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NameError(String);

/// Where a team store lives and whom it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub schema: StoreSchema,
    /// The NOLOGIN role pgacct's users are granted.
    pub role: RoleName,
}

impl Default for Names {
    fn default() -> Self {
        Names {
            schema: StoreSchema(DEFAULT_SCHEMA.to_owned()),
            role: RoleName::parse(DEFAULT_ROLE).expect("the default role name is valid"),
        }
    }
}

impl Names {
    /// `sql` with `{schema}`, `{role}` (quoted identifiers), `{role_literal}`
    /// (the role's name as a string literal) and `{append_lock}` filled in,
    /// in one pass: a filled-in value is never read again.
    pub(super) fn fill(&self, sql: &str) -> String {
        let schema = escape_identifier(self.schema.as_str());
        let role = escape_identifier(self.role.as_str());
        let role_literal = escape_literal(self.role.as_str());
        let mut out = String::with_capacity(sql.len() + 512);
        let mut rest = sql;
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let tail = &rest[start..];
            let (value, len) = [
                ("{schema}", schema.as_str()),
                ("{role}", role.as_str()),
                ("{role_literal}", role_literal.as_str()),
                ("{append_lock}", migrations::APPEND_LOCK),
            ]
            .into_iter()
            .find(|(placeholder, _)| tail.starts_with(placeholder))
            .map_or(("{", 1), |(placeholder, value)| (value, placeholder.len()));
            out.push_str(value);
            rest = &tail[len..];
        }
        out.push_str(rest);
        out
    }

    /// The whole setup script, `BEGIN` to `COMMIT`, for the store's owner
    /// to run (`psql -v ON_ERROR_STOP=1 -f -`).
    pub fn script(&self) -> String {
        let current = current();
        let mut sql = self.fill(&format!(
            "-- pgacct team store: schema {{schema}}, users' role {{role}}, schema version {current}.\n\
             --\n\
             -- Run it as the role that is to own the store: best a role of its own, not a\n\
             -- superuser (it owns the SECURITY DEFINER function users append through). It\n\
             -- needs CREATE on the database, and CREATEROLE unless {{role}} exists. E.g.:\n\
             --   pgacct store init --print-sql | psql -v ON_ERROR_STOP=1 -d 'postgresql://owner@host/db'\n\
             -- then let each person or CI role use it:\n\
             --   GRANT {{role}} TO alice;\n\
             --\n\
             -- Running it again applies only what the store lacks, and grants {{role}}\n\
             -- exactly what pgacct's users need. It refuses a store from a newer pgacct.\n\
             \n\
             BEGIN;\n\
             \n\
             -- One setup at a time (the lock is held until COMMIT).\n\
             DO $pgacct_lock$ BEGIN PERFORM pg_advisory_xact_lock({setup_lock}); END $pgacct_lock$;\n\
             \n\
             CREATE SCHEMA IF NOT EXISTS {{schema}};\n\
             CREATE TABLE IF NOT EXISTS {{schema}}.schema_version (\n\
             \x20   version    integer     PRIMARY KEY,\n\
             \x20   applied_at timestamptz NOT NULL DEFAULT now(),\n\
             \x20   applied_by text        NOT NULL DEFAULT session_user\n\
             );\n\
             \n\
             DO $pgacct_version_check$\n\
             DECLARE\n\
             \x20   v_found integer;\n\
             BEGIN\n\
             \x20   SELECT max(version) INTO v_found FROM {{schema}}.schema_version;\n\
             \x20   IF v_found > {current} THEN\n\
             \x20       RAISE EXCEPTION 'the pgacct store in schema % has schema version %, newer than this script''s {current}',\n\
             \x20               {schema_literal}, v_found\n\
             \x20           USING ERRCODE = 'feature_not_supported',\n\
             \x20                 HINT = 'a newer pgacct set up this store; use it, or upgrade pgacct';\n\
             \x20   END IF;\n\
             END\n\
             $pgacct_version_check$;\n",
            setup_lock = migrations::SETUP_LOCK,
            schema_literal = escape_literal(self.schema.as_str()),
        ));
        for (n, migration) in (1..).zip(migrations::MIGRATIONS) {
            sql.push_str(&self.fill(&format!(
                "\n-- Migration {n}.\n\
                 DO $pgacct_migration_{n}$\n\
                 BEGIN\n\
                 IF EXISTS (SELECT FROM {{schema}}.schema_version WHERE version = {n}) THEN\n\
                 \x20   RETURN;\n\
                 END IF;\n"
            )));
            sql.push_str(&self.fill(migration));
            sql.push_str(&self.fill(&format!(
                "\nINSERT INTO {{schema}}.schema_version (version) VALUES ({n});\n\
                 END\n\
                 $pgacct_migration_{n}$;\n"
            )));
        }
        sql.push_str("\n-- What pgacct's users may do.\nDO $pgacct_access$\nBEGIN");
        sql.push_str(&self.fill(migrations::ACCESS));
        sql.push_str("END\n$pgacct_access$;\n\nCOMMIT;\n");
        sql
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(schema: &str, role: &str) -> Names {
        Names { schema: schema.parse().unwrap(), role: role.parse().unwrap() }
    }

    #[test]
    fn schema_names_follow_the_identifier_rule_and_avoid_shared_schemas() {
        for good in ["pgacct", "team_store", "_x", "s1"] {
            assert!(StoreSchema::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Pgacct",
            "1abc",
            "a-b",
            "a b",
            "a\"b",
            "pg_team",
            "public",
            "information_schema",
            "x}",
            &"a".repeat(64),
        ] {
            assert!(StoreSchema::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_script_quotes_the_names_it_is_given() {
        let sql = names("team_store", "dba_team").script();
        assert!(sql.contains("CREATE SCHEMA IF NOT EXISTS \"team_store\";"));
        assert!(sql.contains("CREATE ROLE \"dba_team\" NOLOGIN"));
        assert!(sql.contains("WHERE rolname = 'dba_team'"));
        assert!(sql.contains("SET search_path = pg_catalog, \"team_store\", pg_temp"));
        assert!(!sql.contains("pgacct_user"));
        assert!(!sql.contains("{schema}") && !sql.contains("{role"), "{sql}");
        assert!(sql.starts_with("-- pgacct team store"));
        assert!(sql.trim_end().ends_with("COMMIT;"));
        assert_eq!(sql.matches("BEGIN;").count(), 1);
    }

    #[test]
    fn filling_in_reads_each_value_once() {
        let names = Names::default();
        assert_eq!(
            names.fill("{schema}.x {role} {role_literal} {unknown} {"),
            "\"pgacct\".x \"pgacct_user\" 'pgacct_user' {unknown} {"
        );
    }
}
