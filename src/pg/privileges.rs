//! Data access in one database (DESIGN.md §5, read scope `targets`): what a
//! role, or the group that holds its grants, lacks of its type's access;
//! the statements that give exactly that; and what the admin may not
//! grant, said with the object, its owner and what to grant the admin.
//!
//! Access is USAGE on every schema but the system's, the type's privileges
//! on the tables (views, materialized views, foreign and partitioned
//! tables) and sequences there, and default privileges `FOR ROLE` every
//! role that owns objects in a schema or may create them there, so that
//! what the application creates later is covered too. One query reads it
//! all, in one round trip per database.

use postgres_protocol::escape::escape_identifier;
use tokio_postgres::types::Type;

use super::Session;
use super::roles::{Effect, RoleError, Statement};
use crate::policy::Access;

/// One query per database: per schema, what the grantee `$1` lacks of
/// the table privileges `$2` and sequence privileges `$3`, and whether the
/// admin (the current user) may grant it. A grantee that does not exist
/// yet, or with `$4` one whose memberships in `pg_read_all_data` and
/// `pg_write_all_data` are about to go, holds what PUBLIC holds.
///
/// Extensions' schemas and objects are left out: they are the extension's
/// (`pg_depend` says so), and a `GRANT ... ON ALL TABLES IN SCHEMA` that
/// would reach one, or an object the admin may not grant on, is not used:
/// the objects are then named one by one.
const ACCESS: &str = "
WITH g AS (SELECT (SELECT oid FROM pg_roles WHERE rolname = $1) AS oid),
s AS (
  SELECT n.oid, n.nspname, n.nspowner, n.nspacl FROM pg_namespace n
   WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
     AND NOT EXISTS (SELECT 1 FROM pg_depend d
                      WHERE d.classid = 'pg_namespace'::regclass AND d.objid = n.oid
                        AND d.deptype = 'e')),
rel AS (
  SELECT c.oid, c.relnamespace AS nsp, c.relname, c.relkind = 'S' AS seq, c.relowner,
         CASE WHEN c.relkind = 'S' THEN $3::text[] ELSE $2::text[] END AS wanted,
         EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                    AND d.deptype = 'e') AS extension
    FROM pg_class c JOIN s ON s.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')),
lack AS (
  SELECT r.oid, r.nsp, r.relname, r.seq, r.relowner, r.extension,
         bool_or(NOT CASE
           WHEN r.seq AND (g.oid IS NULL OR $4) THEN has_sequence_privilege('public', r.oid, w.p)
           WHEN r.seq THEN has_sequence_privilege(g.oid, r.oid, w.p)
           WHEN g.oid IS NULL OR $4 THEN has_table_privilege('public', r.oid, w.p)
           ELSE has_table_privilege(g.oid, r.oid, w.p) END) AS lacks,
         bool_or(NOT CASE
           WHEN r.seq THEN has_sequence_privilege(r.oid, w.p || ' WITH GRANT OPTION')
           ELSE has_table_privilege(r.oid, w.p || ' WITH GRANT OPTION') END) AS ungrantable
    FROM rel r CROSS JOIN g CROSS JOIN LATERAL unnest(r.wanted) AS w(p)
   GROUP BY 1, 2, 3, 4, 5, 6),
own AS (
  SELECT s.oid AS nsp, s.nspowner AS role FROM s
  UNION SELECT s.oid, a.grantee FROM s CROSS JOIN LATERAL aclexplode(s.nspacl) a
         WHERE a.privilege_type = 'CREATE' AND a.grantee <> 0),
who AS (
  SELECT nsp, role FROM own
  -- Who creates through a membership owns what it creates: the members
  -- that inherit (but superusers, and the admin, which creates nothing).
  UNION SELECT o.nsp, m.oid FROM own o JOIN pg_roles m
           ON m.oid <> o.role AND NOT m.rolsuper AND m.rolname <> current_user
          AND pg_has_role(m.oid, o.role, 'USAGE')
  -- Owners of objects there that may create more (through PUBLIC, say).
  UNION SELECT nsp, relowner FROM rel
         WHERE NOT extension AND has_schema_privilege(relowner, nsp, 'CREATE')),
creator AS (
  SELECT DISTINCT w.nsp,
         CASE WHEN r.rolname = 'pg_database_owner'
              THEN (SELECT datdba FROM pg_database WHERE datname = current_database())
              ELSE w.role END AS role
    FROM who w JOIN pg_roles r ON r.oid = w.role),
c AS (
  SELECT cr.nsp, r.rolname::text AS name, r.rolsuper,
         -- ALTER DEFAULT PRIVILEGES FOR ROLE takes its privileges from 16,
         -- and membership (inherited or not) before.
         pg_has_role(cr.role, CASE WHEN current_setting('server_version_num')::int >= 160000
                                   THEN 'USAGE' ELSE 'MEMBER' END) AS acts_for,
         EXISTS (SELECT 1 FROM rel WHERE rel.nsp = cr.nsp AND rel.relowner = cr.role
                    AND NOT rel.extension)
           OR EXISTS (SELECT 1 FROM s WHERE s.oid = cr.nsp AND s.nspowner = cr.role) AS owns,
         (SELECT count(DISTINCT (d.defaclobjtype, a.privilege_type))
            FROM pg_default_acl d CROSS JOIN LATERAL aclexplode(d.defaclacl) a
           WHERE d.defaclrole = cr.role AND d.defaclnamespace IN (cr.nsp, 0)
             AND a.grantee = (SELECT oid FROM g)
             AND ((d.defaclobjtype = 'r' AND a.privilege_type = ANY ($2))
                  OR (d.defaclobjtype = 'S' AND a.privilege_type = ANY ($3))))
           = cardinality($2) + cardinality($3) AS covered
    FROM creator cr JOIN pg_roles r ON r.oid = cr.role
   WHERE cr.role IS DISTINCT FROM (SELECT oid FROM g))
SELECT s.nspname::text, pg_get_userbyid(s.nspowner)::text,
       CASE WHEN g.oid IS NULL OR $4 THEN has_schema_privilege('public', s.oid, 'USAGE')
            ELSE has_schema_privilege(g.oid, s.oid, 'USAGE') END,
       has_schema_privilege(s.oid, 'USAGE WITH GRANT OPTION'),
       has_schema_privilege('public', s.oid, 'CREATE'),
       ARRAY(SELECT format('%I.%I', s.nspname, l.relname) FROM lack l
              WHERE l.nsp = s.oid AND l.lacks AND NOT l.seq AND NOT l.extension
                AND NOT l.ungrantable ORDER BY 1),
       ARRAY(SELECT format('%I.%I', s.nspname, l.relname) FROM lack l
              WHERE l.nsp = s.oid AND l.lacks AND l.seq AND NOT l.extension
                AND NOT l.ungrantable ORDER BY 1),
       ARRAY(SELECT format('%I.%I', s.nspname, l.relname)
               || ' (owner ' || pg_get_userbyid(l.relowner) || ')'
               FROM lack l WHERE l.nsp = s.oid AND l.lacks AND l.ungrantable
                AND NOT l.extension ORDER BY 1),
       ARRAY(SELECT c.name FROM c WHERE c.nsp = s.oid AND NOT c.covered AND c.acts_for
              ORDER BY 1),
       ARRAY(SELECT c.name FROM c WHERE c.nsp = s.oid AND NOT c.covered AND NOT c.acts_for
                AND NOT c.rolsuper AND c.owns ORDER BY 1),
       ARRAY(SELECT DISTINCT r.rolname::text FROM lack l JOIN pg_roles r ON r.oid = l.relowner
              WHERE l.nsp = s.oid AND l.lacks AND l.ungrantable AND NOT l.extension
                AND NOT r.rolsuper ORDER BY 1),
       NOT EXISTS (SELECT 1 FROM lack l WHERE l.nsp = s.oid AND NOT l.seq
                      AND (l.extension OR l.ungrantable)),
       NOT EXISTS (SELECT 1 FROM lack l WHERE l.nsp = s.oid AND l.seq
                      AND (l.extension OR l.ungrantable)),
       ARRAY(SELECT c.name FROM c WHERE c.nsp = s.oid AND NOT c.covered AND NOT c.acts_for
                AND NOT c.rolsuper AND NOT c.owns ORDER BY 1)
  FROM s CROSS JOIN g
 ORDER BY 1";

/// What the admin may not grant in a database, and what would let it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forbidden {
    pub reason: String,
    pub hint: String,
}

/// A grantee's access in one database, against its type's.
#[derive(Debug, Clone, Default)]
pub struct DatabaseAccess {
    /// What it lacks, in words (its drift).
    pub lacking: Vec<String>,
    /// The statements that give what it lacks, in order.
    pub grants: Vec<Statement>,
    /// The statements that take those back, in order.
    pub revokes: Vec<Statement>,
    /// What the admin may not grant: the change is refused.
    pub forbidden: Vec<Forbidden>,
    /// Said before the change: PUBLIC may create in a schema.
    pub notes: Vec<String>,
}

/// How many objects a message names before it says "and N more".
const NAMED: usize = 5;

/// One schema's row of [`ACCESS`].
struct SchemaFacts {
    name: String,
    owner: String,
    usage: bool,
    usage_grantable: bool,
    public_creates: bool,
    /// The tables and sequences it lacks privileges on, quoted.
    lacking_tables: Vec<String>,
    lacking_sequences: Vec<String>,
    /// Whether `GRANT ... ON ALL TABLES` (`SEQUENCES`) `IN SCHEMA` would
    /// reach only objects the admin may grant on, none an extension's.
    all_tables: bool,
    all_sequences: bool,
    /// `schema.object (owner role)`, of those the admin may not grant.
    ungrantable: Vec<String>,
    /// Of those, the owners that are not superusers.
    owners: Vec<String>,
    /// Roles that own or may create objects there, without default
    /// privileges for the grantee: that the admin may act for; that own
    /// something there, and that may only create, which it may not.
    creators: Vec<String>,
    strangers: Vec<String>,
    newcomers: Vec<String>,
}

impl SchemaFacts {
    fn from_row(row: &tokio_postgres::Row) -> SchemaFacts {
        SchemaFacts {
            name: row.get(0),
            owner: row.get(1),
            usage: row.get(2),
            usage_grantable: row.get(3),
            public_creates: row.get(4),
            lacking_tables: row.get(5),
            lacking_sequences: row.get(6),
            ungrantable: row.get(7),
            creators: row.get(8),
            strangers: row.get(9),
            owners: row.get(10),
            all_tables: row.get(11),
            all_sequences: row.get(12),
            newcomers: row.get(13),
        }
    }
}

/// Who is to get what, where, and who grants it: the words of every
/// statement and message of one database.
struct Grant<'a> {
    db: &'a str,
    admin: &'a str,
    grantee: &'a str,
    to: String,
    tables: String,
    sequences: String,
}

/// Reads, on `session` (connected to database `db`), what `grantee`
/// lacks of `access`, and decides the grants. The admin is the session's
/// user. `fresh`: count only what PUBLIC holds, as the grantee's
/// cluster-wide access is about to be taken away.
pub async fn read(
    session: &Session,
    db: &str,
    grantee: &str,
    access: Access,
    fresh: bool,
) -> Result<DatabaseAccess, RoleError> {
    let tables: Vec<&str> = access.table_privileges().to_vec();
    let sequences: Vec<&str> = access.sequence_privileges().to_vec();
    let rows = session
        .query_typed(
            ACCESS,
            &[
                (&grantee, Type::TEXT),
                (&tables, Type::TEXT_ARRAY),
                (&sequences, Type::TEXT_ARRAY),
                (&fresh, Type::BOOL),
            ],
        )
        .await
        .map_err(|err| RoleError::from_pg(&err, None))?;
    let grant = Grant {
        db,
        admin: session.settings.user.as_str(),
        grantee,
        to: escape_identifier(grantee),
        tables: tables.join(", "),
        sequences: sequences.join(", "),
    };
    let mut reach = DatabaseAccess::default();
    for row in &rows {
        reach.add_schema(&grant, &SchemaFacts::from_row(row));
    }
    reach.revokes.reverse();
    Ok(reach)
}

impl DatabaseAccess {
    /// What one schema lacks, and the grants and refusals for it.
    fn add_schema(&mut self, g: &Grant<'_>, schema: &SchemaFacts) {
        let (db, admin, grantee, to) = (g.db, g.admin, g.grantee, &g.to);
        let (name, owner) = (&schema.name, &schema.owner);
        let quoted = escape_identifier(name);
        if schema.public_creates {
            self.notes.push(format!(
                "in database {db}, PUBLIC may create in schema {name}, so every role may \
                 create tables there (PostgreSQL before 15 allows it on schema public); as \
                 its owner: REVOKE CREATE ON SCHEMA {quoted} FROM PUBLIC"
            ));
        }
        if !schema.usage {
            self.lacking.push(format!("lacks USAGE on schema {name}"));
            if schema.usage_grantable {
                self.grant(
                    format!("GRANT USAGE ON SCHEMA {quoted} TO {to}"),
                    format!("REVOKE USAGE ON SCHEMA {quoted} FROM {to}"),
                );
            } else {
                self.forbidden.push(Forbidden {
                    reason: format!(
                        "in database {db}, the admin {admin} may not grant USAGE on schema \
                         {name} (owner {owner})"
                    ),
                    hint: if owner == "pg_database_owner" {
                        format!(
                            "have the owner of database {db} grant USAGE on {name} to {grantee}"
                        )
                    } else {
                        format!(
                            "as a superuser or {owner}: GRANT {owner} TO {admin}, so that \
                             pgacct grants as the owner; or grant USAGE on {name} to {grantee} \
                             yourself"
                        )
                    },
                });
            }
        }
        for (lacking, all, kind, privileges, what) in [
            (&schema.lacking_tables, schema.all_tables, "TABLE", &g.tables, "table"),
            (&schema.lacking_sequences, schema.all_sequences, "SEQUENCE", &g.sequences, "sequence"),
        ] {
            if lacking.is_empty() {
                continue;
            }
            self.lacking.push(format!(
                "lacks {privileges} on {} in schema {name}",
                count(lacking.len(), what)
            ));
            // The objects' names are the server's own quoting (format %I).
            let on = if all {
                format!("ALL {kind}S IN SCHEMA {quoted}")
            } else {
                format!("{kind} {}", lacking.join(", "))
            };
            self.grant(
                format!("GRANT {privileges} ON {on} TO {to}"),
                format!("REVOKE {privileges} ON {on} FROM {to}"),
            );
        }
        if !schema.ungrantable.is_empty() {
            self.lacking.push(format!(
                "lacks its privileges on {} in schema {name} that the admin may not grant on",
                count(schema.ungrantable.len(), "object")
            ));
            self.forbidden.push(ungrantable(g, schema));
        }
        self.add_defaults(g, schema);
    }

    /// Default privileges in one schema: set for the roles that may create
    /// there and the admin may act for; warned of, or refused, for others.
    fn add_defaults(&mut self, g: &Grant<'_>, schema: &SchemaFacts) {
        let (db, admin, grantee, to) = (g.db, g.admin, g.grantee, &g.to);
        let name = &schema.name;
        let quoted = escape_identifier(name);
        for creator in &schema.creators {
            self.lacking
                .push(format!("no default privileges for what {creator} creates in schema {name}"));
            let defaults = format!(
                "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {quoted}",
                escape_identifier(creator)
            );
            for (privileges, kind) in [(&g.tables, "TABLES"), (&g.sequences, "SEQUENCES")] {
                self.grant(
                    format!("{defaults} GRANT {privileges} ON {kind} TO {to}"),
                    format!("{defaults} REVOKE {privileges} ON {kind} FROM {to}"),
                );
            }
        }
        if !schema.newcomers.is_empty() {
            // Nothing of theirs is there yet: warned of, not refused.
            let who = schema.newcomers.join(", ");
            self.notes.push(format!(
                "in database {db}, what {who} may create in schema {name} later will not be \
                 {grantee}'s to use: the admin {admin} may not set default privileges for \
                 them (as a superuser: GRANT {} TO {admin}; `pgacct user sync` grants on \
                 what was made meanwhile)",
                schema.newcomers.join(", ")
            ));
        }
        for stranger in &schema.strangers {
            self.lacking.push(format!(
                "no default privileges for what {stranger} creates in schema {name}"
            ));
            self.forbidden.push(Forbidden {
                reason: format!(
                    "in database {db}, {stranger} owns schema {name} or objects in it and may \
                     create more there, and the admin {admin} may not set default privileges \
                     for it (it does not have {stranger}'s privileges)"
                ),
                hint: format!("as a superuser: GRANT {stranger} TO {admin}"),
            });
        }
    }

    fn grant(&mut self, grant: String, revoke: String) {
        self.grants.push(Statement { effect: Effect::Grants, ..Statement::plain(grant) });
        self.revokes.push(Statement { effect: Effect::Grants, ..Statement::plain(revoke) });
    }
}

/// The refusal for objects in `schema` the admin may not grant on.
fn ungrantable(g: &Grant<'_>, schema: &SchemaFacts) -> Forbidden {
    let (db, admin, grantee, tables) = (g.db, g.admin, g.grantee, &g.tables);
    Forbidden {
        reason: format!(
            "in database {db}, the admin {admin} may not grant {tables} (on sequences {}) on {} \
             of schema {}, which it neither owns nor holds WITH GRANT OPTION: {}",
            g.sequences,
            count(schema.ungrantable.len(), "object"),
            schema.name,
            named(&schema.ungrantable)
        ),
        hint: if schema.owners.is_empty() {
            format!(
                "their owner is a superuser: have a superuser grant {tables} on them to \
                 {grantee}, or give them an owner {admin} may act for"
            )
        } else {
            format!(
                "as a superuser: GRANT {} TO {admin}, so that pgacct grants as the owner; or \
                 have the owner grant {tables} to {grantee}",
                schema.owners.join(", ")
            )
        },
    }
}

fn count(n: impl TryInto<i64>, what: &str) -> String {
    match n.try_into().unwrap_or(i64::MAX) {
        1 => format!("1 {what}"),
        n => format!("{n} {what}s"),
    }
}

/// The first few of `objects`, and how many more there are.
fn named(objects: &[String]) -> String {
    let mut text = objects.iter().take(NAMED).cloned().collect::<Vec<_>>().join(", ");
    if objects.len() > NAMED {
        text.push_str(&format!(" and {} more", objects.len() - NAMED));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lists_are_cut_short() {
        let objects: Vec<String> = (1..=7).map(|i| format!("app.t{i} (owner app)")).collect();
        assert_eq!(named(&objects[..2]), "app.t1 (owner app), app.t2 (owner app)");
        assert!(named(&objects).ends_with("app.t5 (owner app) and 2 more"));
        assert_eq!(count(1, "table"), "1 table");
        assert_eq!(count(3_usize, "table"), "3 tables");
    }
}
