//! What a plan reads about roles: does one exist, may the admin change
//! it, act as it, grant it; and the privileges `DROP OWNED` could not
//! revoke.

use tokio_postgres::Row;
use tokio_postgres::types::Type;

use super::super::Session;
use super::super::roles::RoleError;

/// What the plan reads about a role, and the admin's power over it. The
/// admin's memberships (the last four) are read for a drop only, and are
/// false otherwise.
#[derive(Debug, Clone, Default)]
pub(super) struct RoleFacts {
    pub(super) exists: bool,
    /// Its comment: pgacct's marker, on a role pgacct created.
    pub(super) comment: Option<String>,
    pub(super) superuser: bool,
    pub(super) replication: bool,
    /// The admin holds ADMIN OPTION on it (counts from PostgreSQL 16).
    pub(super) admin_option: bool,
    /// ... in a membership of its own, not only through another role.
    pub(super) admin_option_direct: bool,
    /// The admin has its privileges (is a member that inherits).
    pub(super) acts_as: bool,
    /// The admin is a member, inheriting or not.
    pub(super) member: bool,
    /// The admin holds a membership it granted itself (from PostgreSQL 16,
    /// memberships are per grantor).
    pub(super) self_granted: bool,
}

/// The role `$1`, and the admin's power over it; no row when it does not
/// exist. Light enough for every change: a reset pays for it at every
/// target.
const ROLE_FACTS: &str = "
SELECT r.rolsuper, r.rolreplication,
       pg_has_role(current_user, r.oid, 'MEMBER WITH ADMIN OPTION'),
       shobj_description(r.oid, 'pg_authid')/*memberships*/
  FROM pg_roles r
 WHERE r.rolname = $1";

/// The admin's memberships in the role, which only a drop needs.
const MEMBERSHIPS: &str = ",
       pg_has_role(current_user, r.oid, 'USAGE'),
       pg_has_role(current_user, r.oid, 'MEMBER'),
       EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles a ON a.rolname = current_user
                WHERE m.roleid = r.oid AND m.member = a.oid AND m.grantor = a.oid),
       EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles a ON a.rolname = current_user
                WHERE m.roleid = r.oid AND m.member = a.oid AND m.admin_option)";

/// What the plan needs to know about the role `name`; with `memberships`,
/// also the admin's memberships in it.
pub(super) async fn role_facts(
    session: &Session,
    name: &str,
    memberships: bool,
) -> Result<RoleFacts, RoleError> {
    let query = ROLE_FACTS.replace("/*memberships*/", if memberships { MEMBERSHIPS } else { "" });
    let rows = session
        .query_typed(&query, &[(&name, Type::TEXT)])
        .await
        .map_err(|err| RoleError::from_pg(&err, None))?;
    let Some(row) = rows.first() else {
        return Ok(RoleFacts::default());
    };
    let mut facts = RoleFacts {
        exists: true,
        superuser: row.get(0),
        replication: row.get(1),
        admin_option: row.get(2),
        comment: row.get(3),
        ..RoleFacts::default()
    };
    if memberships {
        facts.acts_as = row.get(4);
        facts.member = row.get(5);
        facts.self_granted = row.get(6);
        facts.admin_option_direct = row.get(7);
    }
    Ok(facts)
}

/// The groups a new role joins: which exist, whether the admin may grant
/// them, and the first privileged role each is (or is a member of): a
/// superuser, a role with REPLICATION or BYPASSRLS, or one that reaches the
/// server's files and programs. A superuser group is its own answer, as
/// `pg_has_role` says a superuser is a member of every role. Last, whether
/// it can log in (a type's group must not).
const GROUP_FACTS: &str = "
SELECT w.name, g.oid IS NOT NULL, COALESCE(g.rolsuper, false),
       g.oid IS NOT NULL AND pg_has_role(current_user, g.oid, 'MEMBER WITH ADMIN OPTION'),
       p.rolname, p.rolsuper, p.rolreplication, p.rolbypassrls,
       COALESCE(g.rolcanlogin, false)
  FROM unnest($1::text[]) AS w(name)
  LEFT JOIN pg_roles g ON g.rolname = w.name
  LEFT JOIN LATERAL (
    SELECT p.rolname::text, p.rolsuper, p.rolreplication, p.rolbypassrls
      FROM pg_roles p
     WHERE (p.rolsuper OR p.rolreplication OR p.rolbypassrls
            OR p.rolname IN ('pg_execute_server_program', 'pg_read_server_files',
                             'pg_write_server_files'))
       AND pg_has_role(g.oid, p.oid, 'MEMBER')
     ORDER BY p.oid <> g.oid, p.rolname
     LIMIT 1) p ON true";

/// The rows of [`GROUP_FACTS`] for `groups`; none (and no query) when
/// there are none.
pub(super) async fn group_facts(session: &Session, groups: &[&str]) -> Result<Vec<Row>, RoleError> {
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    session
        .query_typed(GROUP_FACTS, &[(&groups, Type::TEXT_ARRAY)])
        .await
        .map_err(|err| RoleError::from_pg(&err, None))
}

/// Privileges held by the role `$1` in this database (and, with `$2`, on
/// shared objects) that `DROP OWNED`, run by the current user, cannot
/// revoke: it revokes as exactly one grantor, the object's owner for a
/// superuser (`$3`), else the admin itself or an owner whose privileges it
/// has. The catalogs are those whose ACLs `pg_shdepend` records; a
/// privilege in another one (or on an object gone meanwhile) is reported
/// with no grantor, as one pgacct cannot vouch for.
const UNREVOCABLE: &str = "
WITH role AS (SELECT oid FROM pg_roles WHERE rolname = $1),
     admin AS (SELECT oid FROM pg_roles WHERE rolname = current_user),
     held AS (
  SELECT s.classid, s.objid, s.objsubid, o.acl, o.owner
    FROM pg_shdepend s
    LEFT JOIN LATERAL (
         SELECT relacl, relowner FROM pg_class
          WHERE s.classid = 'pg_class'::regclass AND s.objsubid = 0 AND oid = s.objid
         UNION ALL
         SELECT a.attacl, c.relowner FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
          WHERE s.classid = 'pg_class'::regclass AND a.attrelid = s.objid
            AND a.attnum = s.objsubid AND s.objsubid <> 0
         UNION ALL
         SELECT nspacl, nspowner FROM pg_namespace
          WHERE s.classid = 'pg_namespace'::regclass AND oid = s.objid
         UNION ALL
         SELECT proacl, proowner FROM pg_proc
          WHERE s.classid = 'pg_proc'::regclass AND oid = s.objid
         UNION ALL
         SELECT typacl, typowner FROM pg_type
          WHERE s.classid = 'pg_type'::regclass AND oid = s.objid
         UNION ALL
         SELECT lanacl, lanowner FROM pg_language
          WHERE s.classid = 'pg_language'::regclass AND oid = s.objid
         UNION ALL
         SELECT lomacl, lomowner FROM pg_largeobject_metadata
          WHERE s.classid = 'pg_largeobject_metadata'::regclass AND oid = s.objid
         UNION ALL
         SELECT fdwacl, fdwowner FROM pg_foreign_data_wrapper
          WHERE s.classid = 'pg_foreign_data_wrapper'::regclass AND oid = s.objid
         UNION ALL
         SELECT srvacl, srvowner FROM pg_foreign_server
          WHERE s.classid = 'pg_foreign_server'::regclass AND oid = s.objid
         UNION ALL
         SELECT defaclacl, defaclrole FROM pg_default_acl
          WHERE s.classid = 'pg_default_acl'::regclass AND oid = s.objid
         UNION ALL
         SELECT datacl, datdba FROM pg_database
          WHERE s.classid = 'pg_database'::regclass AND oid = s.objid
         UNION ALL
         SELECT spcacl, spcowner FROM pg_tablespace
          WHERE s.classid = 'pg_tablespace'::regclass AND oid = s.objid
         /*parameters*/
         ) AS o(acl, owner) ON true
   WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = (SELECT oid FROM role)
     AND s.deptype = 'a'
     AND (s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
          OR (s.dbid = 0 AND $2)))
SELECT DISTINCT pg_describe_object(h.classid, h.objid, h.objsubid),
       pg_get_userbyid(a.grantor)::text
  FROM held h
 CROSS JOIN LATERAL aclexplode(h.acl) AS a
 WHERE a.grantee = (SELECT oid FROM role)
   AND NOT CASE WHEN $3 THEN a.grantor = h.owner
                ELSE a.grantor = (SELECT oid FROM admin)
                     OR (a.grantor = h.owner AND pg_has_role(current_user, h.owner, 'USAGE'))
           END
UNION
SELECT pg_describe_object(h.classid, h.objid, h.objsubid), NULL
  FROM held h
 WHERE h.acl IS NULL
 ORDER BY 1, 2";

/// Privileges on configuration parameters (PostgreSQL 15+): no owner, so
/// a superuser revokes as the bootstrap superuser (oid 10).
const PARAMETER_ACLS: &str = "
         UNION ALL
         SELECT paracl, 10::oid FROM pg_parameter_acl
          WHERE s.classid = 'pg_parameter_acl'::regclass AND oid = s.objid";

/// [`UNREVOCABLE`] for a server of `version_num`.
pub(super) fn unrevocable_query(version_num: i32) -> String {
    let parameters = if version_num >= 150_000 { PARAMETER_ACLS } else { "" };
    UNREVOCABLE.replace("/*parameters*/", parameters)
}

/// One grant of a membership: from PostgreSQL 16 a role may hold one per
/// grantor, before only one.
#[derive(Debug, Clone)]
pub(super) struct Grant {
    /// Who granted it; `None` for a grantor gone since (before 16).
    pub(super) grantor: Option<String>,
    /// The admin has the grantor's privileges, so may revoke as it (from
    /// 16 a REVOKE removes only the grant of the grantor it names).
    pub(super) revocable: bool,
    /// The member holds it WITH ADMIN OPTION and granted the group onward:
    /// a REVOKE without CASCADE refuses (from 16).
    pub(super) granted_onward: bool,
}

/// The grants making `$1` a member of `$2`, directly.
const GRANTS: &str = "
SELECT g.rolname::text,
       g.oid IS NOT NULL AND pg_has_role(current_user, g.oid, 'USAGE'),
       m.admin_option AND EXISTS (SELECT 1 FROM pg_auth_members d
                                   WHERE d.roleid = m.roleid AND d.grantor = m.member)
  FROM pg_auth_members m
  JOIN pg_roles r ON r.oid = m.member
  JOIN pg_roles p ON p.oid = m.roleid
  LEFT JOIN pg_roles g ON g.oid = m.grantor
 WHERE r.rolname = $1 AND p.rolname = $2
 ORDER BY 1";

/// The grants that make `member` a member of `group`; none when it is not
/// one (or either role is missing), and none (and no query) without a group.
pub(super) async fn grants(
    session: &Session,
    member: &str,
    group: Option<&str>,
) -> Result<Vec<Grant>, RoleError> {
    let Some(group) = group else { return Ok(Vec::new()) };
    let rows = session
        .query_typed(GRANTS, &[(&member, Type::TEXT), (&group, Type::TEXT)])
        .await
        .map_err(|err| RoleError::from_pg(&err, None))?;
    Ok(rows
        .iter()
        .map(|row| Grant { grantor: row.get(0), revocable: row.get(1), granted_onward: row.get(2) })
        .collect())
}
