//! The account model of DESIGN.md §5 on every supported major, with a
//! superuser and with a CREATEROLE admin: `readonly` and `readwrite` in
//! their target databases (tables the application creates later
//! included, nothing beyond them), group roles per database, and `user
//! sync` repairing drift; and concurrent creates on one database.

use libtest_mimic::Trial;

use crate::support::Pause;
use crate::support::fleet::{Admin, Fleet, version};
use crate::support::runner::{every_setup, test};

pub fn tests() -> Vec<Trial> {
    [
        every_setup!(readonly_readwrite_groups_and_sync),
        vec![
            test!(two_readonly_creates_at_once_never_collide),
            test!(a_createrole_admin_is_told_what_it_may_not_grant),
            test!(a_login_role_is_never_taken_for_a_group),
            test!(a_dry_run_names_the_database_of_every_grant),
            test!(a_sync_that_fails_in_a_later_database_keeps_the_role),
            test!(sync_takes_back_cluster_wide_reading_and_grants_per_database),
            test!(grants_name_objects_when_a_schema_holds_what_the_admin_cannot_grant),
        ],
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// A type whose grants live on a NOLOGIN group per database.
const READER_TYPE: &str = "[types.reader]\naccess = \"read\"\ngroup = \"{db}_ro\"\n";

/// The application's schema in `orders`: `app`, owned by `app_owner`, with
/// a table whose id comes from a sequence; and PUBLIC may no longer create
/// in schema public there (PostgreSQL 15's default, a DBA's habit before).
fn application(fleet: &Fleet) {
    let mut su = fleet.pg.client();
    su.batch_execute("CREATE ROLE app_owner NOLOGIN").unwrap();
    su.batch_execute("CREATE DATABASE outside").unwrap();
    for db in ["orders", "outside"] {
        fleet
            .pg
            .client_to(db)
            .batch_execute(
                "REVOKE CREATE ON SCHEMA public FROM PUBLIC;
                 CREATE SCHEMA app AUTHORIZATION app_owner;
                 SET ROLE app_owner;
                 CREATE TABLE app.items (id serial PRIMARY KEY, name text);
                 INSERT INTO app.items (name) VALUES ('a'), ('b');",
            )
            .unwrap();
    }
    if fleet.admin == Admin::CreateRole {
        // What a non-superuser admin needs to grant on the application's
        // objects: the owner's privileges (README, "What the admin needs").
        su.batch_execute("GRANT app_owner TO pgacct_admin").unwrap();
    }
}

fn login(fleet: &Fleet, db: &str, role: &str, password: &str) -> postgres::Client {
    fleet.login(db, role, password).unwrap_or_else(|err| panic!("{role} logs in to {db}: {err}"))
}

/// The SQLSTATE of `sql` run by `session`, or "ok".
fn outcome(session: &mut postgres::Client, sql: &str) -> String {
    match session.batch_execute(sql) {
        Ok(()) => "ok".into(),
        Err(err) => err.code().map_or_else(|| err.to_string(), |c| c.code().to_owned()),
    }
}

const DENIED: &str = "42501";

fn readonly_readwrite_groups_and_sync(admin: Admin, major: u32) {
    let fleet = Fleet::new(admin, Some(major), &["orders", "billing"]);
    fleet.sandbox.write_config(READER_TYPE);
    application(&fleet);
    let reporter = readonly_reads_its_targets_only(&fleet);
    readwrite_writes_and_creates_nothing(&fleet);
    let readers = a_group_holds_the_grants(&fleet);
    sync_repairs_drift(&fleet, &reporter, &readers);
    drops_leave_nothing_behind(&fleet);
}

/// Dropping the accounts takes their grants and default privileges with
/// them, in every database; the group stays for its other members.
fn drops_leave_nothing_behind(fleet: &Fleet) {
    for name in ["reporter", "writer", "alice"] {
        let rows = fleet
            .pgacct()
            .any_stderr()
            .args(&format!("user drop --env qa --db orders --db billing {name} --yes"))
            .rows();
        assert!(rows.iter().all(|r| r["status"] == "user dropped"), "{name}: {rows:?}");
    }
    for db in ["orders", "billing"] {
        let left: i64 = fleet
            .pg
            .client_to(db)
            .query_one(
                "SELECT count(*) FROM pg_default_acl d, aclexplode(d.defaclacl) a
                  WHERE pg_get_userbyid(a.grantee) NOT IN ('orders_ro', 'bob')
                    AND a.grantee <> d.defaclrole",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(left, 0, "default privileges of the dropped roles are gone in {db}");
    }
    let members: Vec<String> = fleet
        .pg
        .client()
        .query_one(
            "SELECT ARRAY(SELECT m.rolname::text FROM pg_auth_members a JOIN pg_roles m ON m.oid = a.member
                           WHERE a.roleid = 'orders_ro'::regrole AND m.rolcanlogin ORDER BY 1)",
            &[],
        )
        .unwrap()
        .get(0);
    let members: Vec<&String> = members.iter().filter(|m| *m != fleet.admin_role()).collect();
    assert_eq!(members, ["bob"]);
}

/// readonly, targets scope; its password.
fn readonly_reads_its_targets_only(fleet: &Fleet) -> String {
    let old = version(&fleet.pg) < 150_000;
    // readonly, targets scope: it reads what there is and what comes later,
    // in its targets only, and never writes.
    let ran = fleet
        .pgacct()
        .any_stderr()
        .args(
            "user create --env qa --db orders --db billing --type readonly reporter --format json",
        )
        .run();
    let rows = ran.rows();
    assert_eq!(rows[0]["status"], "user created", "{rows:?}");
    // Before 15, PUBLIC may create in schema public unless the DBA revoked
    // it, as in orders: pgacct warns where it was not (billing).
    let warned = ran.stderr.contains("in database billing, PUBLIC may create in schema public");
    assert_eq!(warned, old, "{}", ran.stderr);
    assert!(!ran.stderr.contains("in database orders"), "{}", ran.stderr);
    let password = rows[0]["password"].as_str().unwrap().to_owned();
    fleet
        .pg
        .client_to("orders")
        .batch_execute(
            "SET ROLE app_owner; CREATE TABLE app.later (v int); INSERT INTO app.later VALUES (7)",
        )
        .unwrap();
    let mut reader = login(fleet, "orders", "reporter", &password);
    let count: i64 = reader.query_one("SELECT count(*) FROM app.items", &[]).unwrap().get(0);
    assert_eq!(count, 2);
    let later: i32 = reader.query_one("SELECT v FROM app.later", &[]).unwrap().get(0);
    assert_eq!(later, 7, "a table the owner made after the role is readable");
    reader.batch_execute("SET default_transaction_read_only = off").unwrap();
    for sql in [
        "INSERT INTO app.items (name) VALUES ('x')",
        "UPDATE app.items SET name = 'x'",
        "DELETE FROM app.later",
        "SELECT nextval('app.items_id_seq')",
        "CREATE TABLE app.mine (id int)",
        "CREATE TABLE public.mine (id int)",
    ] {
        assert_eq!(outcome(&mut reader, sql), DENIED, "readonly: {sql}");
    }
    let mut elsewhere = login(fleet, "outside", "reporter", &password);
    assert_eq!(
        outcome(&mut elsewhere, "SELECT * FROM app.items"),
        DENIED,
        "a database outside the targets is not readable"
    );
    password
}

fn readwrite_writes_and_creates_nothing(fleet: &Fleet) {
    // readwrite: writes, uses sequences, creates nothing.
    let rows = fleet
        .pgacct()
        .any_stderr()
        .args("user create --env qa --db orders --type readwrite writer")
        .rows();
    assert_eq!(rows[0]["status"], "user created", "{rows:?}");
    let mut writer = login(fleet, "orders", "writer", rows[0]["password"].as_str().unwrap());
    for sql in [
        "INSERT INTO app.items (name) VALUES ('w')",
        "UPDATE app.items SET name = 'v' WHERE name = 'w'",
        "DELETE FROM app.items WHERE name = 'v'",
        "INSERT INTO app.later VALUES (8)",
    ] {
        assert_eq!(outcome(&mut writer, sql), "ok", "readwrite: {sql}");
    }
    for sql in [
        "CREATE TABLE app.mine (id int)",
        "CREATE TABLE public.mine (id int)",
        "CREATE SCHEMA mine",
    ] {
        assert_eq!(outcome(&mut writer, sql), DENIED, "readwrite: {sql}");
    }
}

/// A group per database holds the grants; logins are its members. Their
/// passwords.
fn a_group_holds_the_grants(fleet: &Fleet) -> Vec<String> {
    let mut passwords = Vec::new();
    for name in ["alice", "bob"] {
        let rows = fleet
            .pgacct()
            .any_stderr()
            .args(&format!("user create --env qa --db orders --type reader {name}"))
            .rows();
        assert_eq!(rows[0]["status"], "user created", "{rows:?}");
        passwords.push(rows[0]["password"].as_str().unwrap().to_owned());
    }
    let mut su = fleet.pg.client_to("orders");
    let group: (bool, Vec<String>, bool, bool) = {
        let row = su
            .query_one(
                "SELECT g.rolcanlogin,
                        ARRAY(SELECT m.rolname::text FROM pg_auth_members a
                                JOIN pg_roles m ON m.oid = a.member
                               WHERE a.roleid = g.oid ORDER BY 1),
                        has_table_privilege('orders_ro', 'app.items', 'SELECT'),
                        EXISTS (SELECT 1 FROM pg_class c, aclexplode(c.relacl) x
                                 WHERE c.oid = 'app.items'::regclass
                                   AND x.grantee = 'alice'::regrole)
                   FROM pg_roles g WHERE g.rolname = 'orders_ro'",
                &[],
            )
            .unwrap();
        (row.get(0), row.get(1), row.get(2), row.get(3))
    };
    assert!(!group.0, "the group cannot log in");
    // From 16, a CREATEROLE admin that makes a role is its member WITH
    // ADMIN OPTION (and no more): the group's logins are alice and bob.
    let members: Vec<&String> = group.1.iter().filter(|m| *m != fleet.admin_role()).collect();
    assert_eq!(members, ["alice", "bob"]);
    assert!(group.2 && !group.3, "the grants are the group's, not the member's: {group:?}");
    let mut alice = login(fleet, "orders", "alice", &passwords[0]);
    let count: i64 = alice.query_one("SELECT count(*) FROM app.later", &[]).unwrap().get(0);
    assert_eq!(count, 2);

    passwords
}

/// Drift, and its repair.
fn sync_repairs_drift(fleet: &Fleet, password: &str, passwords: &[String]) {
    let mut su = fleet.pg.client_to("orders");
    su.batch_execute(
        "ALTER ROLE reporter CONNECTION LIMIT 5;
         ALTER ROLE alice IN DATABASE orders SET search_path TO app;
         REVOKE SELECT ON app.items FROM reporter;
         REVOKE SELECT ON app.later FROM orders_ro;",
    )
    .unwrap();
    // The membership is taken back by the role that granted it (from 16,
    // memberships are per grantor).
    let mut as_admin = fleet.login("orders", fleet.admin_role(), fleet.password()).unwrap();
    as_admin.batch_execute("REVOKE orders_ro FROM bob").unwrap();
    let sync = "user sync --env qa --db orders reporter alice bob";
    // Roles are cluster-wide, and billing is on the same cluster: pgacct
    // says so on stderr.
    let check = fleet.pgacct().any_stderr().args(&format!("{sync} --check")).expect(1).rows();
    let drift: Vec<String> = check
        .iter()
        .flat_map(|row| row["drift"].as_array().unwrap().iter())
        .map(|d| d.as_str().unwrap().to_owned())
        .collect();
    for expected in [
        "connection limit 5 (policy 20)",
        "search_path app (policy public)",
        "not a member of orders_ro",
        "lacks SELECT on 1 table in schema app",
        "lacks SELECT on 1 table in schema app (group orders_ro)",
    ] {
        assert!(drift.iter().any(|d| d == expected), "{expected} in {drift:?}");
    }
    assert_eq!(
        fleet
            .pg
            .client()
            .query_one("SELECT rolconnlimit FROM pg_roles WHERE rolname = 'reporter'", &[])
            .unwrap()
            .get::<_, i32>(0),
        5,
        "a check changes nothing"
    );
    let synced = fleet.pgacct().any_stderr().args(&format!("{sync} --yes")).rows();
    assert!(synced.iter().all(|row| row["outcome"] == "ok"), "{synced:?}");
    assert!(synced.iter().all(|row| row["password"].is_null()));
    let clean = fleet.pgacct().any_stderr().args(&format!("{sync} --check")).expect(0).rows();
    assert!(clean.iter().all(|row| row["status"] == "in sync"), "{clean:?}");
    let row = su
        .query_one(
            "SELECT (SELECT rolconnlimit FROM pg_roles WHERE rolname = 'reporter'),
                    pg_has_role('bob', 'orders_ro', 'MEMBER'),
                    has_table_privilege('reporter', 'app.items', 'SELECT')
                      AND has_table_privilege('orders_ro', 'app.later', 'SELECT'),
                    (SELECT setconfig FROM pg_db_role_setting
                      WHERE setrole = 'alice'::regrole
                        AND setdatabase = (SELECT oid FROM pg_database WHERE datname = 'orders'))",
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), 20);
    assert!(row.get::<_, bool>(1) && row.get::<_, bool>(2));
    assert_eq!(
        row.get::<_, Vec<String>>(3),
        ["search_path=public", "default_transaction_read_only=on"],
        "a reader's safety net stays"
    );
    // The passwords are untouched.
    login(fleet, "orders", "reporter", password);
    login(fleet, "orders", "bob", &passwords[1]);
    let audit = fleet.pgacct().args("audit show --operation user.sync").rows();
    assert_eq!(audit.len(), 3, "one operation per role: {audit:?}");
    let statuses: Vec<&str> = audit.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert!(statuses.iter().any(|s| s.contains("repaired: connection limit 5")), "{statuses:?}");
}

/// Two `create --type readonly` of different roles on one database at the
/// same moment, twenty times: both succeed every time. Concurrent GRANTs
/// on one object fail with "tuple concurrently updated", and two first
/// ALTER DEFAULT PRIVILEGES for one owner and schema with a duplicate key,
/// unless they queue. Both creates are held at pgacct's pause hook (after
/// their plans and started records) and let go together, so their
/// transactions overlap; 300 tables make each one long. Every other round
/// uses a type with a group per database, on a new database, so that both
/// creates also make its group at once.
fn two_readonly_creates_at_once_never_collide() {
    let fleet = Fleet::new(Admin::Superuser, None, &["orders"]);
    fleet.sandbox.write_config(READER_TYPE);
    let tables: String = (1..=300).fold(String::new(), |mut sql, i| {
        sql.push_str(&format!("CREATE TABLE app.t{i} (id serial);"));
        sql
    });
    let create = |db: &str, kind: &str, name: String| {
        fleet
            .pgacct()
            .any_stderr()
            .args(&format!("user create --env qa --db {db} --type {kind} {name}"))
    };
    for round in 0..20 {
        let (db, kind) = if round % 2 == 0 {
            ("orders".to_owned(), "readonly")
        } else {
            (format!("race{round}"), "reader")
        };
        if round < 2 {
            if db != "orders" {
                fleet.pg.client().batch_execute(&format!("CREATE DATABASE {db}")).unwrap();
                fleet.sandbox.register("qa", &db, &fleet.pg, &[]);
            }
            fleet.pg.client_to(&db).batch_execute(&format!("CREATE SCHEMA app; {tables}")).unwrap();
        } else if db != "orders" {
            // A copy of the first round's database: its tables, no roles.
            fleet
                .pg
                .client()
                .batch_execute(&format!("CREATE DATABASE {db} TEMPLATE race1"))
                .unwrap();
            fleet.sandbox.register("qa", &db, &fleet.pg, &[]);
        }
        let pauses = [Pause::new(&fleet.sandbox), Pause::new(&fleet.sandbox)];
        let running: Vec<_> = ["a", "b"]
            .iter()
            .zip(&pauses)
            .map(|(suffix, pause)| {
                pause.arm(create(&db, kind, format!("r{round}{suffix}"))).spawn()
            })
            .collect();
        for pause in &pauses {
            pause.wait();
        }
        for pause in &pauses {
            pause.release();
        }
        for running in running {
            let ran = running.finish();
            assert!(!ran.stderr.contains("concurrently"), "round {round}: {}", ran.stderr);
        }
        let made: i64 = fleet
            .pg
            .client_to(&db)
            .query_one(
                "SELECT count(*) FROM pg_roles r
                  WHERE r.rolname IN ($1, $2) AND has_table_privilege(r.oid, 'app.t300', 'SELECT')",
                &[&format!("r{round}a"), &format!("r{round}b")],
            )
            .unwrap()
            .get(0);
        assert_eq!(made, 2, "round {round}: both roles made, and reading");
    }
    let failed = fleet.pgacct().args("audit show --failed").rows();
    assert!(failed.is_empty(), "{failed:?}");
}

/// A CREATEROLE admin that does not have the owner's privileges is told,
/// before anything changes, which objects and owner it cannot grant on,
/// in which database, and what to grant it.
fn a_createrole_admin_is_told_what_it_may_not_grant() {
    let fleet = Fleet::new(Admin::CreateRole, Some(13), &["orders", "billing"]);
    let mut su = fleet.pg.client();
    su.batch_execute("CREATE ROLE app_owner NOLOGIN").unwrap();
    fleet
        .pg
        .client_to("billing")
        .batch_execute(
            "CREATE SCHEMA app AUTHORIZATION app_owner; SET ROLE app_owner;
             CREATE TABLE app.invoices (id int)",
        )
        .unwrap();
    let err = fleet
        .pgacct()
        .args("user create --env qa --db orders --db billing --type readonly reporter")
        .expect(2)
        .any_stderr()
        .run()
        .stderr;
    for part in [
        "in database billing, the admin pgacct_admin may not grant USAGE on schema app (owner app_owner)",
        "app.invoices (owner app_owner)",
        "hint: as a superuser: GRANT app_owner TO pgacct_admin",
        "nothing was changed",
    ] {
        assert!(err.contains(part), "{part} in {err}");
    }
    assert!(!err.contains("in database orders"), "orders has nothing to refuse: {err}");
    let exists: bool = su
        .query_one("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'reporter')", &[])
        .unwrap()
        .get(0);
    assert!(!exists, "nothing was created");
    assert!(!fleet.pg.log().contains("CREATE ROLE \"reporter\""));
}

/// A type's group name that is taken by a role that can log in is refused:
/// its members would get that login's privileges.
fn a_login_role_is_never_taken_for_a_group() {
    let fleet = Fleet::new(Admin::Superuser, None, &["orders"]);
    fleet.sandbox.write_config(READER_TYPE);
    fleet.pg.client().batch_execute("CREATE ROLE orders_ro LOGIN").unwrap();
    fleet
        .pgacct()
        .args("user create --env qa --db orders --type reader alice")
        .expect(2)
        .stderr_contains("orders_ro, the group of type reader there, exists and can log in")
        .stderr_contains("hint: rename that role, or give [types.reader] another group template")
        .run();
    assert_eq!(fleet.pg.can_login("alice"), None, "nothing was created");
}

/// A sync whose grants fail in its second database (the schema there
/// changed owner after the plan looked) reports the failure there, keeps
/// what committed in the first, and never takes the role away: it was
/// there before the sync.
fn a_sync_that_fails_in_a_later_database_keeps_the_role() {
    let fleet = Fleet::new(Admin::CreateRole, Some(16), &["orders", "billing"]);
    fleet.sandbox.write_config(READER_TYPE);
    fleet.pg.client().batch_execute("CREATE ROLE owner1; CREATE ROLE app_owner NOLOGIN").unwrap();
    fleet.pg.client().batch_execute("GRANT app_owner TO pgacct_admin").unwrap();
    let password = fleet
        .pgacct()
        .args("user create --env qa --db orders --db billing --type reader alice")
        .rows()[0]["password"]
        .as_str()
        .unwrap()
        .to_owned();
    for db in ["orders", "billing"] {
        fleet
            .pg
            .client_to(db)
            .batch_execute(
                "CREATE SCHEMA app AUTHORIZATION app_owner; SET ROLE app_owner;
                 CREATE TABLE app.items (id int)",
            )
            .unwrap();
    }
    let pause = Pause::new(&fleet.sandbox);
    let running = pause
        .arm(fleet.pgacct())
        .args("user sync --env qa --db orders --db billing alice --format json")
        .expect(1)
        .any_stderr()
        .spawn();
    pause.wait();
    fleet
        .pg
        .client_to("billing")
        .batch_execute("ALTER SCHEMA app OWNER TO owner1; ALTER TABLE app.items OWNER TO owner1")
        .unwrap();
    pause.release();
    let rows = running.finish().rows();
    let error = rows[0]["error"].as_str().unwrap();
    assert!(error.contains("in database billing: permission denied for schema app"), "{error}");
    assert!(error.ends_with("the repairs that committed before stay"), "{error}");
    assert!(fleet.login("orders", "alice", &password).is_ok(), "alice is still there");
    let read: bool = fleet
        .pg
        .client_to("orders")
        .query_one("SELECT has_table_privilege('alice', 'app.items', 'SELECT')", &[])
        .unwrap()
        .get(0);
    assert!(read, "what committed in orders stays");
}

/// A readonly role given cluster scope before (by hand, or by pgacct
/// before it had scopes) reaches every database: sync takes
/// `pg_read_all_data` back and grants in its target databases instead,
/// in the same run.
fn sync_takes_back_cluster_wide_reading_and_grants_per_database() {
    let fleet = Fleet::new(Admin::Superuser, Some(16), &["orders"]);
    application(&fleet);
    let marker =
        r#"pgacct {"v":1,"type":"readonly","created":"2026-01-01T00:00:00Z","ticket":null}"#;
    fleet
        .pg
        .client()
        .batch_execute(&format!(
            "CREATE ROLE old_ro LOGIN CONNECTION LIMIT 20 PASSWORD 'Old-ro-pw-1';
             COMMENT ON ROLE old_ro IS '{marker}';
             GRANT pg_read_all_data TO old_ro;
             ALTER ROLE old_ro IN DATABASE orders SET search_path TO public;
             ALTER ROLE old_ro IN DATABASE orders SET default_transaction_read_only = on;"
        ))
        .unwrap();
    let check =
        fleet.pgacct().args("user sync --env qa --db orders old_ro --check").expect(1).rows();
    let drift = check[0]["drift"].to_string();
    assert!(
        drift.contains("member of pg_read_all_data, which reaches every database of the cluster"),
        "{drift}"
    );
    assert!(drift.contains("lacks SELECT on 1 table in schema app"), "{drift}");
    fleet.pgacct().args("user sync --env qa --db orders old_ro").rows();
    let mut session = fleet.login("orders", "old_ro", "Old-ro-pw-1").unwrap();
    let count: i64 = session.query_one("SELECT count(*) FROM app.items", &[]).unwrap().get(0);
    assert_eq!(count, 2, "it reads its target database");
    let mut elsewhere = fleet.login("outside", "old_ro", "Old-ro-pw-1").unwrap();
    assert_eq!(outcome(&mut elsewhere, "SELECT * FROM app.items"), DENIED, "and no other");
    fleet.pgacct().args("user sync --env qa --db orders old_ro --check").expect(0).rows();
}

/// Where a schema holds objects the admin may not grant on (but the role
/// reads already) or an extension's, pgacct names the objects it grants on
/// rather than granting ON ALL TABLES, which would fail (or reach the
/// extension's); and it leaves extensions' objects alone. Tables that a
/// member of a role with CREATE on a schema makes later are covered too.
fn grants_name_objects_when_a_schema_holds_what_the_admin_cannot_grant() {
    let fleet = Fleet::new(Admin::CreateRole, None, &["orders"]);
    let mut su = fleet.pg.client_to("orders");
    su.batch_execute(
        "CREATE ROLE app_owner NOLOGIN; CREATE ROLE vault NOLOGIN;
         CREATE ROLE migrators NOLOGIN; CREATE ROLE deploy LOGIN PASSWORD 'Deploy-pw-1';
         GRANT migrators TO deploy; GRANT app_owner TO pgacct_admin;
         CREATE SCHEMA app AUTHORIZATION app_owner;
         GRANT CREATE, USAGE ON SCHEMA app TO migrators;
         CREATE EXTENSION pg_stat_statements;
         CREATE TABLE app.secrets (id int); ALTER TABLE app.secrets OWNER TO vault;
         SET ROLE app_owner; CREATE TABLE app.items (id int); RESET ROLE;",
    )
    .unwrap();
    let rows = fleet
        .pgacct()
        .args("user create --env qa --db orders --type readonly ro")
        .expect(2)
        .any_stderr()
        .run();
    assert!(rows.stderr.contains("app.secrets (owner vault)"), "{}", rows.stderr);
    assert!(!rows.stderr.contains("pg_stat_statements"), "an extension's objects: {}", rows.stderr);
    su.batch_execute("CREATE ROLE ro LOGIN PASSWORD 'Ro-pw-1'; GRANT SELECT ON app.secrets TO ro;
         COMMENT ON ROLE ro IS 'pgacct {\"v\":1,\"type\":\"readonly\",\"created\":\"2026-01-01T00:00:00Z\",\"ticket\":null}'")
        .unwrap();
    // deploy (a member of migrators, which may create in app) owns nothing
    // yet: without its privileges the admin is warned, not refused.
    let ran = fleet
        .pgacct()
        .args("user sync --env qa --db orders ro --check --format json")
        .expect(1)
        .any_stderr()
        .run();
    assert!(
        ran.stderr.contains(
            "what deploy, migrators may create in schema app later will not be ro's to use"
        ),
        "{}",
        ran.stderr
    );
    fleet.pg.client().batch_execute("GRANT deploy, migrators TO pgacct_admin").unwrap();
    let rows = fleet.pgacct().args("user sync --env qa --db orders ro").rows();
    let sql = rows[0]["sql"].to_string();
    assert!(sql.contains(r#"GRANT SELECT ON TABLE app.items TO \"ro\""#), "{sql}");
    assert!(!sql.contains("ON ALL TABLES IN SCHEMA \\\"app\\\""), "{sql}");
    assert!(sql.contains(r#"FOR ROLE \"deploy\" IN SCHEMA \"app\""#), "{sql}");
    assert!(!sql.contains("pg_stat_statements"), "{sql}");
    let mut deploy = fleet.login("orders", "deploy", "Deploy-pw-1").unwrap();
    deploy
        .batch_execute("CREATE TABLE app.later (v int); INSERT INTO app.later VALUES (1)")
        .unwrap();
    let mut ro = fleet.login("orders", "ro", "Ro-pw-1").unwrap();
    let v: i32 = ro.query_one("SELECT v FROM app.later", &[]).unwrap().get(0);
    assert_eq!(v, 1, "a table a member of migrators made later is readable");
    let n: i64 = ro.query_one("SELECT count(*) FROM app.items", &[]).unwrap().get(0);
    assert_eq!(n, 0);
}

/// A dry run of a readonly create names the database of every grant, the
/// first's too, after the semicolon, so that it pastes into psql; and the
/// audit trail of the create names them as well.
fn a_dry_run_names_the_database_of_every_grant() {
    let fleet = Fleet::new(Admin::Superuser, None, &["orders", "billing"]);
    for db in ["orders", "billing"] {
        fleet
            .pg
            .client_to(db)
            .batch_execute("CREATE SCHEMA app; CREATE TABLE app.t (id int)")
            .unwrap();
    }
    let create = "user create --env qa --db orders --db billing --type readonly rep";
    let plan = fleet.pgacct().args(&format!("{create} --dry-run")).any_stderr().run().stdout;
    for db in ["orders", "billing"] {
        let line = format!("GRANT SELECT ON ALL TABLES IN SCHEMA \"app\" TO \"rep\"; -- in {db}\n");
        assert!(plan.contains(&line), "{line} in:\n{plan}");
    }
    assert!(
        plan.contains(
            "CREATE ROLE \"rep\" WITH LOGIN CONNECTION LIMIT 20 PASSWORD '<redacted>';\n"
        )
    );
    fleet.pgacct().args(create).any_stderr().rows();
    let audit = fleet.pgacct().args("audit show --operation user.create").rows();
    let sql = audit[0]["sql"].as_str().unwrap();
    for db in ["orders", "billing"] {
        assert!(
            sql.contains(&format!(
                "GRANT SELECT ON ALL TABLES IN SCHEMA \"app\" TO \"rep\" -- in {db}"
            )),
            "{sql}"
        );
    }
}
