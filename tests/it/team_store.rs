//! Team mode's store as its owner sets it up and its users meet it, on
//! real clusters of every supported major: the script from `pgacct store
//! init --print-sql`, a user with only the documented grants who can append
//! but not rewrite or forge, twenty appenders making one chain, a row the
//! owner changed found by pgacct's verifier, and a setup that is versioned.

use std::sync::{Arc, Barrier};
use std::time::SystemTime;

use libtest_mimic::Trial;
use postgres::GenericClient;
use postgres::error::SqlState;

use crate::support::fleet::majors;
use crate::support::runner::{test, trial};
use crate::support::team::script;
use crate::support::{Cluster, Run, Sandbox};

// pgacct's own verifier of the team chain, compiled as it is: the hashes the
// server makes must be the hashes pgacct recomputes.
#[allow(dead_code)]
#[path = "../../src/audit/team.rs"]
mod team_chain;

use team_chain::{TeamRecord, TeamRow, verify_team_chain};

pub fn tests() -> Vec<Trial> {
    [
        per_major(
            "a_store_user_can_use_the_registry_and_append",
            a_store_user_can_use_the_registry_and_append,
        ),
        per_major(
            "a_store_user_can_neither_rewrite_nor_forge",
            a_store_user_can_neither_rewrite_nor_forge,
        ),
        per_major(
            "twenty_concurrent_appenders_make_one_chain",
            twenty_concurrent_appenders_make_one_chain,
        ),
        per_major("the_setup_is_versioned", the_setup_is_versioned),
        per_major("an_owner_without_superuser_sets_it_up", an_owner_without_superuser_sets_it_up),
        vec![
            test!(the_verifier_names_the_row_the_owner_changed),
            test!(print_sql_needs_no_registry_and_takes_names),
            test!(setups_run_at_once_queue_and_both_succeed),
        ],
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The test once per supported major (`PGACCT_TEST_MAJORS` names fewer):
/// `team_store::function::pg12`.
fn per_major(name: &str, run: fn(u32)) -> Vec<Trial> {
    majors()
        .into_iter()
        .map(|major| trial(module_path!(), &format!("{name}::pg{major}"), move || run(major)))
        .collect()
}

const ALICE: (&str, &str) = ("alice", "alice-Pw-1");
const BOB: (&str, &str) = ("bob", "bob-Pw-2");

/// A cluster of `major` with the default store, and alice and bob, granted `pgacct_user` only.
fn store(major: u32) -> Cluster {
    crate::support::team::store_with(major, &[ALICE, BOB])
}

fn login(pg: &Cluster, (user, password): (&str, &str)) -> postgres::Client {
    pg.login("postgres", user, password).unwrap()
}

/// Appends a record through the store's function: its id and hash.
fn append(client: &mut impl GenericClient, outcome: &str, status: &str) -> (i64, String) {
    let row = client
        .query_one(
            "SELECT id, hash FROM pgacct.append_audit(
                 $1, NULL, 'os-user', 'bastion-1', 4242, NULL, 'CHG-7', 'registry.add',
                 'qa', 'orders', 'db1:5432', NULL, $2, NULL, 3, NULL)",
            &[&outcome, &status],
        )
        .unwrap();
    (row.get(0), row.get(1))
}

/// The whole trail, in id order, as pgacct's verifier reads it.
fn trail(client: &mut postgres::Client) -> Vec<TeamRow> {
    client
        .query(
            "SELECT id, ts, outcome, started_id, actor, os_user, host, pid, ci_job, ticket,
                    operation, env, db, cluster, role, status, error, duration_ms, sql,
                    imported, imported_from, imported_id, imported_hash, prev_hash, hash
             FROM pgacct.audit ORDER BY id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| TeamRow {
            record: TeamRecord {
                id: row.get(0),
                ts: jiff::Timestamp::try_from(row.get::<_, SystemTime>(1)).unwrap(),
                outcome: row.get(2),
                started_id: row.get(3),
                actor: row.get(4),
                os_user: row.get(5),
                host: row.get(6),
                pid: row.get(7),
                ci_job: row.get(8),
                ticket: row.get(9),
                operation: row.get(10),
                env: row.get(11),
                db: row.get(12),
                cluster: row.get(13),
                role: row.get(14),
                status: row.get(15),
                error: row.get(16),
                duration_ms: row.get(17),
                sql: row.get(18),
                imported: row.get(19),
                imported_from: row.get(20),
                imported_id: row.get(21),
                imported_hash: row.get(22),
            },
            prev_hash: row.get(23),
            hash: row.get(24),
        })
        .collect()
}

/// Everything in a table, as text, in a fixed order: to see it unchanged.
fn dump(pg: &Cluster, table: &str) -> String {
    pg.client()
        .query_one(
            &format!(
                "SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '') FROM {table} t"
            ),
            &[],
        )
        .unwrap()
        .get(0)
}

fn a_store_user_can_use_the_registry_and_append(major: u32) {
    let pg = store(major);
    let mut alice = login(&pg, ALICE);

    let (started, _) = append(&mut alice, "started", "adding target qa/orders");
    alice
        .execute(
            "INSERT INTO pgacct.targets (env, db, host, port, labels, admin_password_command)
             VALUES ('qa', 'orders', 'db1', 5432, 'tier=gold', '[\"vault\", \"read\"]')",
            &[],
        )
        .unwrap();
    alice
        .query_one(
            "SELECT * FROM pgacct.append_audit('ok', $1, 'os-user', 'bastion-1', 4242, NULL,
                 'CHG-7', 'registry.add', 'qa', 'orders', 'db1:5432', NULL, 'target added é',
                 NULL, 3, NULL)",
            &[&started],
        )
        .unwrap();
    alice.execute("UPDATE pgacct.targets SET active = false, updated_at = now()", &[]).unwrap();
    alice
        .execute("INSERT INTO pgacct.targets (env, db, host, port) VALUES ('qa', 'x', 'h', 1)", &[])
        .unwrap();
    assert_eq!(alice.execute("DELETE FROM pgacct.targets WHERE db = 'x'", &[]).unwrap(), 1);
    let targets = alice.query("SELECT db, active, labels FROM pgacct.targets", &[]).unwrap();
    assert_eq!(targets.len(), 1);
    assert!(!targets[0].get::<_, bool>(1));
    // What the registry refuses in the local store, it refuses here too.
    let bad = alice.execute(
        "INSERT INTO pgacct.targets (env, db, host, port, admin_password_command)
         VALUES ('qa', 'y', 'h', 5432, '{\"program\": \"vault\"}')",
        &[],
    );
    assert_eq!(bad.unwrap_err().code(), Some(&SqlState::CHECK_VIOLATION));

    let rows = trail(&mut alice);
    assert_eq!(rows.len(), 2);
    let (first, second) = (&rows[0].record, &rows[1].record);
    assert_eq!((first.id, second.id), (1, 2));
    assert_eq!((first.actor.as_str(), first.os_user.as_str()), ("alice", "os-user"));
    assert_eq!(second.started_id, Some(1));
    assert!(!second.imported);
    assert!(first.ts <= second.ts);
    let age = jiff::Timestamp::now().duration_since(second.ts).abs();
    assert!(age < jiff::SignedDuration::from_secs(60), "the server's time: {}", second.ts);
    // pgacct's verifier recomputes every hash the server made.
    assert_eq!(rows[0].prev_hash, team_chain::TEAM_GENESIS);
    assert_eq!(verify_team_chain(&rows), Ok(2));
    for row in &rows {
        assert_eq!(row.record.hash(&row.prev_hash), row.hash);
    }

    // The role may log in nowhere, owns nothing, and holds nothing beyond
    // its grants.
    let mut su = pg.client();
    let role = su
        .query_one(
            "SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls
             FROM pg_roles WHERE rolname = 'pgacct_user'",
            &[],
        )
        .unwrap();
    for i in 0..5 {
        assert!(!role.get::<_, bool>(i), "pgacct_user attribute {i}");
    }
    let owned: i64 = su
        .query_one(
            "SELECT sum((SELECT count(*) FROM pg_class WHERE relowner = r.oid)
                      + (SELECT count(*) FROM pg_proc WHERE proowner = r.oid)
                      + (SELECT count(*) FROM pg_namespace WHERE nspowner = r.oid))::bigint
             FROM pg_roles r WHERE rolname IN ('pgacct_user', 'alice')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(owned, 0);
    let privileges: Vec<String> = su
        .query(
            "SELECT table_name || ':' || string_agg(privilege_type, ',' ORDER BY privilege_type)
             FROM information_schema.role_table_grants
             WHERE grantee = 'pgacct_user' GROUP BY table_name ORDER BY table_name",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(
        privileges,
        ["audit:SELECT", "schema_version:SELECT", "targets:DELETE,INSERT,SELECT,UPDATE"]
    );
    let callable: Vec<String> = su
        .query(
            "SELECT p.proname::text FROM pg_proc p
             WHERE p.pronamespace = 'pgacct'::regnamespace
               AND has_function_privilege('pgacct_user', p.oid, 'EXECUTE')
             ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(callable, ["append_audit"]);
}

/// The setup as the README advises: by a role of its own with CREATEROLE,
/// which then grants the users' role.
fn an_owner_without_superuser_sets_it_up(major: u32) {
    let pg = Cluster::builder().major(major).start();
    pg.client()
        .batch_execute(
            "CREATE ROLE store_owner LOGIN CREATEROLE PASSWORD 'owner-Pw-3';
             GRANT CREATE ON DATABASE postgres TO store_owner;
             CREATE ROLE alice LOGIN PASSWORD 'alice-Pw-1';",
        )
        .unwrap();
    let mut owner = login(&pg, ("store_owner", "owner-Pw-3"));
    owner.batch_execute(&script()).unwrap();
    owner.batch_execute("GRANT pgacct_user TO alice").unwrap();
    let mut alice = login(&pg, ALICE);
    append(&mut alice, "ok", "appended");
    alice
        .execute("INSERT INTO pgacct.targets (env, db, host, port) VALUES ('qa', 'a', 'h', 1)", &[])
        .unwrap();
    let rows = trail(&mut alice);
    assert_eq!(rows[0].record.actor, "alice");
    assert_eq!(verify_team_chain(&rows), Ok(1));
    let owner_of_append: String = pg
        .client()
        .query_one(
            "SELECT proowner::regrole::text FROM pg_proc WHERE oid = 'pgacct.append_audit'::regproc",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(owner_of_append, "store_owner");
    let err = alice.batch_execute("DELETE FROM pgacct.audit").unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE));
    // Running it again is as much a no-op for this owner.
    owner.batch_execute(&script()).unwrap();
    assert_eq!(trail(&mut alice).len(), 1);
}

/// What a store user tries, and the SQLSTATE each attempt must fail with.
fn forbidden() -> Vec<(String, SqlState)> {
    let denied = SqlState::INSUFFICIENT_PRIVILEGE;
    let signature = "text, bigint, text, text, bigint, text, text, text, text, text, text, text, \
                     text, text, bigint, text";
    let forged_row = "INSERT INTO pgacct.audit (id, ts, outcome, actor, os_user, host, pid,
                          operation, status, prev_hash, hash)
                      VALUES (3, now(), 'ok', 'bob', 'bob', 'h', 1, 'registry.add', 'forged',
                              repeat('0', 64), repeat('0', 64))";
    vec![
        ("UPDATE pgacct.audit SET actor = 'bob'".into(), denied.clone()),
        ("UPDATE pgacct.audit SET status = 'nothing' WHERE id = 2".into(), denied.clone()),
        ("DELETE FROM pgacct.audit".into(), denied.clone()),
        ("DELETE FROM pgacct.audit WHERE id = 2".into(), denied.clone()),
        ("TRUNCATE pgacct.audit".into(), denied.clone()),
        (forged_row.into(), denied.clone()),
        ("COPY pgacct.audit (id) FROM STDIN".into(), denied.clone()),
        ("UPDATE pgacct.schema_version SET version = 0".into(), denied.clone()),
        ("ALTER TABLE pgacct.audit DISABLE TRIGGER audit_append_only".into(), denied.clone()),
        ("ALTER TABLE pgacct.audit OWNER TO alice".into(), denied.clone()),
        ("DROP TABLE pgacct.audit".into(), denied.clone()),
        ("BEGIN; LOCK TABLE pgacct.audit IN ACCESS EXCLUSIVE MODE".into(), denied.clone()),
        (
            format!("ALTER FUNCTION pgacct.append_audit({signature}) SECURITY INVOKER"),
            denied.clone(),
        ),
        (format!("ALTER FUNCTION pgacct.append_audit({signature}) OWNER TO alice"), denied.clone()),
        (format!("DROP FUNCTION pgacct.append_audit({signature})"), denied.clone()),
        (
            format!(
                "CREATE OR REPLACE FUNCTION pgacct.append_audit({signature}, OUT id bigint,
                     OUT hash text) LANGUAGE sql AS 'SELECT 1::bigint, ''x''::text'"
            ),
            denied.clone(),
        ),
        // Shadowing what the function calls: nothing may be created there.
        (
            "CREATE FUNCTION pgacct.sha256(bytea) RETURNS bytea LANGUAGE sql AS 'SELECT $1'".into(),
            denied.clone(),
        ),
        (
            "CREATE FUNCTION pgacct.canonical(x int) RETURNS bytea LANGUAGE sql AS 'SELECT NULL'"
                .into(),
            denied.clone(),
        ),
        // The canonical form's helpers are the owner's.
        ("SELECT pgacct.canonical(a) FROM pgacct.audit a".into(), denied.clone()),
        ("SELECT pgacct.refuse_audit_change()".into(), denied.clone()),
        // Replication mode would skip the trigger; roles of others are not alice's.
        ("SET session_replication_role = replica".into(), denied.clone()),
        ("SET ROLE bob".into(), denied.clone()),
        ("SET SESSION AUTHORIZATION bob".into(), denied.clone()),
        // The function takes no actor, time or hash: there is none to forge.
        (
            "SELECT pgacct.append_audit(p_outcome => 'ok', p_started_id => NULL,
                 p_os_user => 'bob', p_host => 'h', p_pid => 1, p_ci_job => NULL,
                 p_ticket => NULL, p_operation => 'registry.add', p_env => NULL, p_db => NULL,
                 p_cluster => NULL, p_role => NULL, p_status => 'forged', p_error => NULL,
                 p_duration_ms => NULL, p_sql => NULL, actor => 'bob')"
                .into(),
            SqlState::UNDEFINED_FUNCTION,
        ),
        (
            "SELECT pgacct.append_audit('ok', NULL, 'bob', 'h', 1, NULL, NULL, 'registry.add',
                 NULL, NULL, NULL, NULL, 'forged', NULL, NULL, NULL, now(), 'bob',
                 repeat('0', 64))"
                .into(),
            SqlState::UNDEFINED_FUNCTION,
        ),
    ]
}

fn a_store_user_can_neither_rewrite_nor_forge(major: u32) {
    let pg = store(major);
    let mut alice = login(&pg, ALICE);
    append(&mut alice, "started", "one");
    append(&mut login(&pg, BOB), "ok", "two");
    let (audit, versions) = (dump(&pg, "pgacct.audit"), dump(&pg, "pgacct.schema_version"));
    let function = |client: &mut postgres::Client| -> String {
        client
            .query_one(
                "SELECT pg_get_functiondef('pgacct.append_audit'::regproc)
                     || (SELECT proacl::text FROM pg_proc WHERE oid = 'pgacct.append_audit'::regproc)",
                &[],
            )
            .unwrap()
            .get(0)
    };
    let definition = function(&mut pg.client());

    for (sql, code) in &forbidden() {
        let err = alice.batch_execute(sql).expect_err(sql);
        assert_eq!(err.code(), Some(code), "{sql}: {err:?}");
        if sql.starts_with("BEGIN") {
            alice.batch_execute("ROLLBACK").unwrap();
        }
    }

    // The function's parameters are what the client knows, and nothing else.
    let parameters: Vec<String> = pg
        .client()
        .query_one(
            "SELECT proargnames::text[] FROM pg_proc WHERE oid = 'pgacct.append_audit'::regproc",
            &[],
        )
        .unwrap()
        .get(0);
    for server_set in ["actor", "ts", "prev_hash", "p_actor", "p_ts", "p_hash", "p_prev_hash"] {
        assert!(!parameters.iter().any(|p| p == server_set), "{parameters:?}");
    }

    // Whatever role alice sets, the record is hers; and she cannot make
    // the session anyone else's.
    alice.batch_execute("SET ROLE pgacct_user").unwrap();
    let (id, _) = append(&mut alice, "ok", "three");
    let actor: String =
        alice.query_one("SELECT actor FROM pgacct.audit WHERE id = $1", &[&id]).unwrap().get(0);
    assert_eq!(actor, "alice");
    alice.batch_execute("RESET ROLE").unwrap();

    let now = dump(&pg, "pgacct.audit");
    assert!(now.starts_with(&audit), "the rows before are unchanged");
    assert_eq!(now.lines().count(), 3, "only the append was added:\n{now}");
    assert_eq!(dump(&pg, "pgacct.schema_version"), versions);
    assert_eq!(function(&mut pg.client()), definition);
    assert_eq!(verify_team_chain(&trail(&mut alice)), Ok(3));
}

fn twenty_concurrent_appenders_make_one_chain(major: u32) {
    const APPENDERS: usize = 20;
    const EACH: usize = 5;
    let pg = Arc::new(store(major));
    let start = Arc::new(Barrier::new(APPENDERS));
    let appenders: Vec<_> = (0..APPENDERS)
        .map(|n| {
            let (pg, start) = (Arc::clone(&pg), Arc::clone(&start));
            std::thread::spawn(move || {
                let mut client = login(&pg, if n % 2 == 0 { ALICE } else { BOB });
                start.wait();
                // As the change pipeline journals: a started record, then
                // its outcome, each in its own transaction.
                (0..EACH)
                    .flat_map(|i| {
                        let mut tx = client.transaction().unwrap();
                        let started = append(&mut tx, "started", &format!("{n}/{i}"));
                        tx.commit().unwrap();
                        let outcome = append(&mut client, "ok", &format!("{n}/{i} done"));
                        [started, outcome]
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut appended: Vec<(i64, String)> =
        appenders.into_iter().flat_map(|t| t.join().unwrap()).collect();
    appended.sort();

    let rows = trail(&mut pg.client());
    let total = APPENDERS * EACH * 2;
    assert_eq!(rows.len(), total);
    let stored: Vec<(i64, String)> = rows.iter().map(|r| (r.record.id, r.hash.clone())).collect();
    assert_eq!(stored, appended, "every append returned its own row");
    let ids: Vec<i64> = rows.iter().map(|r| r.record.id).collect();
    assert_eq!(ids, (1..=i64::try_from(total).unwrap()).collect::<Vec<_>>());
    for pair in rows.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash, "record #{}", pair[1].record.id);
        assert!(pair[0].record.ts <= pair[1].record.ts, "record #{}", pair[1].record.id);
    }
    let by = |who: &str| rows.iter().filter(|r| r.record.actor == who).count();
    assert_eq!((by("alice"), by("bob")), (total / 2, total / 2));
    assert_eq!(verify_team_chain(&rows), Ok(u64::try_from(total).unwrap()));
}

fn the_verifier_names_the_row_the_owner_changed() {
    let pg = Cluster::start();
    let mut su = pg.client();
    su.batch_execute(&script()).unwrap();
    for i in 1..=5 {
        append(&mut su, "ok", &format!("record {i}"));
    }
    assert_eq!(verify_team_chain(&trail(&mut su)), Ok(5));

    // The owner's mistakes are refused ...
    for sql in [
        "UPDATE pgacct.audit SET status = 'x' WHERE id = 3",
        "DELETE FROM pgacct.audit WHERE id = 3",
        "TRUNCATE pgacct.audit",
    ] {
        let err = su.batch_execute(sql).expect_err(sql);
        let message = err.as_db_error().unwrap().message();
        assert!(message.contains("pgacct.audit is append-only"), "{sql}: {message}");
    }
    // ... and what the owner does on purpose is found, at the right record.
    su.batch_execute(
        "ALTER TABLE pgacct.audit DISABLE TRIGGER audit_append_only;
         UPDATE pgacct.audit SET status = 'nothing to see' WHERE id = 3;",
    )
    .unwrap();
    let err = verify_team_chain(&trail(&mut su)).unwrap_err();
    assert_eq!(err.id, 3, "{err:?}");
    assert!(err.problem.contains("(edited)"), "{}", err.problem);

    // A hash recomputed to match hides nothing: the next record's link breaks.
    su.batch_execute(
        "UPDATE pgacct.audit a SET hash = encode(sha256(pgacct.canonical(a)), 'hex') WHERE id = 3",
    )
    .unwrap();
    let err = verify_team_chain(&trail(&mut su)).unwrap_err();
    assert_eq!(err.id, 4, "{err:?}");
    assert!(err.problem.contains("(inserted, replaced or re-ordered)"), "{}", err.problem);

    su.batch_execute("DELETE FROM pgacct.audit WHERE id >= 3").unwrap();
    assert_eq!(verify_team_chain(&trail(&mut su)), Ok(2));
    su.batch_execute("DELETE FROM pgacct.audit WHERE id = 1").unwrap();
    let err = verify_team_chain(&trail(&mut su)).unwrap_err();
    assert_eq!((err.id, err.problem.as_str()), (1, "record #1 is missing (deleted)"));
}

/// The store's objects and grants, as text: to see that a second run of
/// the script changed nothing.
fn catalog(pg: &Cluster) -> String {
    pg.client()
        .query_one(
            "SELECT string_agg(line, E'\\n' ORDER BY line) FROM (
                 SELECT c.relname || ' ' || c.relkind::text || ' ' || coalesce(c.relacl::text, '') AS line
                 FROM pg_class c WHERE c.relnamespace = 'pgacct'::regnamespace
                 UNION ALL
                 SELECT p.proname || ' ' || md5(pg_get_functiondef(p.oid)) || ' '
                        || coalesce(p.proacl::text, '')
                 FROM pg_proc p WHERE p.pronamespace = 'pgacct'::regnamespace
                 UNION ALL
                 SELECT t.tgname || ' ' || t.tgenabled::text FROM pg_trigger t
                 WHERE t.tgrelid = 'pgacct.audit'::regclass
                 UNION ALL
                 SELECT 'schema ' || coalesce(n.nspacl::text, '') FROM pg_namespace n
                 WHERE n.nspname = 'pgacct'
             ) objects",
            &[],
        )
        .unwrap()
        .get(0)
}

fn the_setup_is_versioned(major: u32) {
    let pg = store(major);
    append(&mut login(&pg, ALICE), "ok", "before the second run");
    let (objects, audit) = (catalog(&pg), dump(&pg, "pgacct.audit"));
    let versions = dump(&pg, "pgacct.schema_version");
    let script = script();
    let current: i32 = script
        .split("schema version ")
        .nth(1)
        .and_then(|rest| rest.split('.').next())
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(versions.lines().count(), usize::try_from(current).unwrap());

    pg.client().batch_execute(&script).unwrap();
    assert_eq!(catalog(&pg), objects);
    assert_eq!(dump(&pg, "pgacct.audit"), audit);
    assert_eq!(dump(&pg, "pgacct.schema_version"), versions);

    // A store a newer pgacct set up is refused, and left as it was.
    let mut su = pg.client();
    su.batch_execute(&format!(
        "INSERT INTO pgacct.schema_version (version) VALUES ({});
         REVOKE SELECT ON pgacct.audit FROM pgacct_user;",
        current + 1
    ))
    .unwrap();
    let objects = catalog(&pg);
    let err = su.batch_execute(&script).unwrap_err();
    let db = err.as_db_error().unwrap();
    assert_eq!(db.code(), &SqlState::FEATURE_NOT_SUPPORTED);
    assert_eq!(
        db.message(),
        format!(
            "the pgacct store in schema pgacct has schema version {}, newer than this script's {current}",
            current + 1
        )
    );
    assert!(db.hint().unwrap().contains("upgrade pgacct"));
    drop(su);
    assert_eq!(catalog(&pg), objects, "the refused script changed nothing");
    let found: Option<i32> = pg
        .client()
        .query_one("SELECT max(version) FROM pgacct.schema_version", &[])
        .unwrap()
        .get(0);
    assert_eq!(found, Some(current + 1));
}

fn print_sql_needs_no_registry_and_takes_names() {
    let sandbox = Sandbox::new();
    let sql = Run::new(&sandbox)
        .args("store init --print-sql --schema team_store --role dba_team")
        .env("PGACCT_REGISTRY", sandbox.path().join("never/pgacct.db"))
        .run()
        .stdout;
    assert!(!sandbox.path().join("never").exists(), "no registry was opened or made");
    assert!(sql.starts_with("-- pgacct team store: schema \"team_store\""), "{sql}");

    let pg = Cluster::start();
    pg.client().batch_execute(&sql).unwrap();
    let mut su = pg.client();
    let granted: bool = su
        .query_one(
            "SELECT has_function_privilege('dba_team',
                 'team_store.append_audit(text, bigint, text, text, bigint, text, text, text,
                  text, text, text, text, text, text, bigint, text)', 'EXECUTE')
               AND has_table_privilege('dba_team', 'team_store.targets', 'INSERT')
               AND NOT has_table_privilege('dba_team', 'team_store.audit', 'INSERT')",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(granted);
    let roles: i64 = su
        .query_one("SELECT count(*) FROM pg_roles WHERE rolname = 'pgacct_user'", &[])
        .unwrap()
        .get(0);
    assert_eq!(roles, 0, "only the role named was made");

    // A role that can log in would hold more than the grants: refused.
    su.batch_execute("CREATE ROLE ops LOGIN").unwrap();
    let ops = Run::new(&sandbox).args("store init --print-sql --role ops").run().stdout;
    let err = su.batch_execute(&ops).unwrap_err();
    let db = err.as_db_error().unwrap();
    assert_eq!(db.code(), &SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE);
    assert!(db.message().contains("role ops can log in"), "{}", db.message());

    Run::new(&sandbox)
        .args("store init --print-sql --schema public")
        .expect(2)
        .stderr_contains("schema name 'public' is refused")
        .run();
    Run::new(&sandbox)
        .args("store init --print-sql --role pg_monitor")
        .expect(2)
        .stderr_contains("pg_")
        .run();
    // Without --print-sql it runs the setup, on a team store only (see
    // team_init.rs).
    Run::new(&sandbox)
        .args("store init")
        .expect(2)
        .stderr_contains("error: store init sets up a team store, and the registry is a file")
        .stderr_contains("or print the script with --print-sql")
        .run();
}

fn setups_run_at_once_queue_and_both_succeed() {
    let pg = Arc::new(Cluster::start());
    let start = Arc::new(Barrier::new(4));
    let setups: Vec<_> = (0..4)
        .map(|_| {
            let (pg, start, script) = (Arc::clone(&pg), Arc::clone(&start), script());
            std::thread::spawn(move || {
                let mut su = pg.client();
                start.wait();
                su.batch_execute(&script)
            })
        })
        .collect();
    for setup in setups {
        setup.join().unwrap().unwrap();
    }
    let versions = dump(&pg, "pgacct.schema_version");
    let current: usize = script()
        .split("schema version ")
        .nth(1)
        .unwrap()
        .split('.')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        versions.lines().count(),
        current,
        "one row per migration, each applied once: {versions}"
    );
}
