//! Provisioning as a DBA runs it: `pgacct user create-vm / create-k8s /
//! create / reset-password / set-search-path` against real clusters, with
//! the results checked in the server's catalogs, not only in the output.

use libtest_mimic::Trial;

use crate::support::runner::test;
use std::os::unix::fs::PermissionsExt;

use serde_json::Value;

use crate::support::{Cluster, Pause, Run, Sandbox, on_a_terminal, spawn_together};

pub fn tests() -> Vec<Trial> {
    vec![
        test!(create_vm_on_two_databases_of_one_cluster),
        test!(create_k8s_on_two_clusters_uses_the_env_prefix),
        test!(create_reset_and_set_search_path_on_one_target),
        test!(resetting_a_missing_role_changes_nothing),
        test!(twenty_concurrent_creators_make_one_role),
        test!(bad_names_are_refused_before_any_connection),
        test!(passwords_never_reach_the_server_log_the_registry_or_the_audit_trail),
        test!(a_missing_group_is_refused_and_a_failure_midway_leaves_no_role),
        test!(a_stopped_cluster_fails_alone),
        test!(dry_run_shows_the_sql_and_changes_nothing),
        test!(dba_accounts_and_protected_envs_ask_first),
        test!(secret_files_are_private_complete_and_never_overwritten_unasked),
        test!(the_servers_scram_iterations_are_used),
        test!(provisioning_works_on_postgres_13_and_17),
        test!(on_a_terminal_confirmation_is_asked_for),
    ]
}

/// A cluster with these databases, each registered as `<env>/<db>`.
fn cluster_with(sandbox: &Sandbox, env: &str, dbs: &[&str]) -> Cluster {
    registered(Cluster::start(), sandbox, env, dbs)
}

/// `pg`, with these databases, each registered as `<env>/<db>`.
fn registered(pg: Cluster, sandbox: &Sandbox, env: &str, dbs: &[&str]) -> Cluster {
    let mut admin = pg.client();
    for db in dbs {
        if *db != "postgres" {
            admin.batch_execute(&format!("CREATE DATABASE {db}")).unwrap();
        }
        sandbox.register(env, db, &pg, &[]);
    }
    pg
}

/// pgacct with the admin password in the environment.
fn pgacct(sandbox: &Sandbox, pg: &Cluster) -> Run {
    Run::new(sandbox).env("PGACCT_ADMIN_PASSWORD", pg.password())
}

/// Logs in as `user` with `password` over TCP (scram).
fn login(
    pg: &Cluster,
    db: &str,
    user: &str,
    password: &str,
) -> Result<postgres::Client, postgres::Error> {
    pg.login(db, user, password)
}

/// The role's row of `pg_roles`: connection limit, can log in, valid until.
fn role(pg: &Cluster, name: &str) -> Option<(i32, bool, Option<String>)> {
    pg.client()
        .query_opt(
            "SELECT rolconnlimit, rolcanlogin, rolvaliduntil::text FROM pg_roles WHERE rolname = $1",
            &[&name],
        )
        .unwrap()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
}

/// The role's settings in `db` (or, with `None`, for all databases).
fn settings(pg: &Cluster, name: &str, db: Option<&str>) -> Vec<String> {
    pg.client()
        .query_opt(
            "SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
               LEFT JOIN pg_database d ON d.oid = s.setdatabase
              WHERE r.rolname = $1 AND d.datname IS NOT DISTINCT FROM $2",
            &[&name, &db],
        )
        .unwrap()
        .map(|r| r.get(0))
        .unwrap_or_default()
}

fn memberships(pg: &Cluster, name: &str) -> Vec<String> {
    pg.client()
        .query(
            "SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
               JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = $1 ORDER BY 1",
            &[&name],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn create_vm_on_two_databases_of_one_cluster() {
    let sandbox = Sandbox::new();
    let pg = cluster_with(&sandbox, "qa", &["orders", "billing"]);
    let create = || {
        pgacct(&sandbox, &pg)
            .args("user create-vm --env qa --all --server WEB01 --service-port 8080")
            .stderr_contains("role web01_8080 (from server WEB01)")
    };
    let rows = create().rows();
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert_eq!(row["user"], "web01_8080");
        assert_eq!(row["status"], "user created");
        assert_eq!(row["outcome"], "ok");
    }
    let password = rows[0]["password"].as_str().unwrap();
    assert_eq!(password.len(), 22);
    assert_eq!(rows[1]["password"], password, "one password for the role on every target");

    assert_eq!(role(&pg, "web01_8080"), Some((200, true, None)));
    assert_eq!(settings(&pg, "web01_8080", Some("orders")), ["search_path=public"]);
    assert_eq!(settings(&pg, "web01_8080", Some("billing")), ["search_path=public"]);
    let verifier = pg.verifier("web01_8080").unwrap();
    assert!(verifier.starts_with("SCRAM-SHA-256$4096:"), "{verifier}");
    let mut session =
        login(&pg, "orders", "web01_8080", password).expect("the new password logs in");
    let path: String = session.query_one("SHOW search_path", &[]).unwrap().get(0);
    assert_eq!(path, "public");

    // Again: nothing changes, no password is made or shown.
    let again = create().rows();
    for row in &again {
        assert_eq!(row["status"], "user already exists");
        assert_eq!(row["password"], Value::Null);
        assert_eq!(row["drift"], Value::Array(Vec::new()));
    }
    assert!(login(&pg, "orders", "web01_8080", password).is_ok(), "the password is unchanged");
}

fn create_k8s_on_two_clusters_uses_the_env_prefix() {
    let sandbox = Sandbox::new();
    let first = cluster_with(&sandbox, "uat", &["orders"]);
    // One admin password (PGACCT_ADMIN_PASSWORD) for both clusters.
    let second = Cluster::builder().password(first.password()).start();
    second.client().batch_execute("CREATE DATABASE billing").unwrap();
    sandbox.register("uat", "billing", &second, &[]);

    let rows = pgacct(&sandbox, &first)
        .args("user create-k8s --env uat --all --service GearService")
        .stderr_contains("role ua_gearservice (from service GearService)")
        .rows();
    assert!(rows.iter().all(|r| r["user"] == "ua_gearservice" && r["status"] == "user created"));
    let password = rows[0]["password"].as_str().unwrap();
    assert!(login(&first, "orders", "ua_gearservice", password).is_ok());
    assert!(login(&second, "billing", "ua_gearservice", password).is_ok());
    assert_eq!(settings(&second, "ua_gearservice", Some("billing")), ["search_path=public"]);

    let rows = pgacct(&sandbox, &first)
        .args("user create-k8s --env uat --db orders --service x --prefix Blue")
        .stderr_contains("role blue_x (from prefix Blue)")
        .rows();
    assert_eq!(rows[0]["user"], "blue_x");
}

fn create_reset_and_set_search_path_on_one_target() {
    let sandbox = Sandbox::new();
    let pg = cluster_with(&sandbox, "qa", &["orders"]);
    pg.client_to("orders").batch_execute("CREATE SCHEMA app").unwrap();
    let created =
        pgacct(&sandbox, &pg).args("user create --env qa --db orders --type devlead alice").rows();
    assert_eq!(role(&pg, "alice"), Some((20, true, None)));
    let first = created[0]["password"].as_str().unwrap().to_owned();

    let reset = pgacct(&sandbox, &pg).args("user reset-password --env qa --db orders alice").rows();
    assert_eq!(reset[0]["status"], "password reset");
    let second = reset[0]["password"].as_str().unwrap();
    assert_ne!(second, first);
    assert!(login(&pg, "orders", "alice", &first).is_err());
    assert!(login(&pg, "orders", "alice", second).is_ok());

    let set = pgacct(&sandbox, &pg)
        .args("user set-search-path --env qa --db orders alice app $user public")
        .rows();
    assert_eq!(set[0]["status"], "search_path set to app, $user, public");
    assert_eq!(set[0]["password"], Value::Null);
    assert_eq!(settings(&pg, "alice", Some("orders")), [r#"search_path=app, "$user", public"#]);
    let mut session = login(&pg, "orders", "alice", second).unwrap();
    let path: String = session.query_one("SHOW search_path", &[]).unwrap().get(0);
    assert_eq!(path, r#"app, "$user", public"#);

    // Now it differs from the devlead policy, and a create says so.
    pg.client().batch_execute("ALTER ROLE alice CONNECTION LIMIT 3").unwrap();
    let again =
        pgacct(&sandbox, &pg).args("user create --env qa --db orders --type devlead alice").rows();
    assert_eq!(again[0]["status"], "user already exists");
    let drift: Vec<&str> =
        again[0]["drift"].as_array().unwrap().iter().map(|d| d.as_str().unwrap()).collect();
    assert_eq!(
        drift,
        ["connection limit 3 (policy 20)", r#"search_path app, "$user", public (policy public)"#]
    );
}

fn resetting_a_missing_role_changes_nothing() {
    let sandbox = Sandbox::new();
    let pg = cluster_with(&sandbox, "qa", &["orders"]);
    let rows = pgacct(&sandbox, &pg)
        .args("user reset-password --env qa --db orders ghost")
        .expect(1)
        .stderr_contains("ghost")
        .rows();
    assert_eq!(rows[0]["status"], "user not found");
    assert_eq!(rows[0]["password"], Value::Null);
    assert!(role(&pg, "ghost").is_none());
    let audit = Run::new(&sandbox).args("audit show").rows();
    assert_eq!(audit[0]["outcome"], "failed");
    assert_eq!(audit[0]["status"], "user not found");
    assert_eq!(audit[0]["role"], "ghost");
}

fn twenty_concurrent_creators_make_one_role() {
    let sandbox = Sandbox::new();
    let pg = cluster_with(&sandbox, "qa", &["orders"]);
    let create = "user create-vm --env qa --db orders --server web01 --service-port 8080";
    let runs = (0..20).map(|_| pgacct(&sandbox, &pg).args(create).args("--format json")).collect();
    let statuses: Vec<String> = spawn_together(&sandbox, runs)
        .into_iter()
        .map(|running| running.finish().rows()[0]["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(statuses.iter().filter(|s| *s == "user created").count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| *s == "user already exists").count(), 19, "{statuses:?}");
    let audit = Run::new(&sandbox).args("audit show --operation user.create --limit 0").rows();
    let outcomes: Vec<&str> = audit.iter().map(|r| r["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["ok"; 20]);
    Run::new(&sandbox).args("audit verify").run();
}

fn bad_names_are_refused_before_any_connection() {
    let sandbox = Sandbox::new();
    let pg = cluster_with(&sandbox, "qa", &["orders"]);
    let connections_before = pg.log().matches("connection received").count();
    let long = "a".repeat(64);
    for name in [r#"bob"x"#, "bob;drop", "bob smith", "Bob", long.as_str(), "pg_x", "postgres"] {
        for (line, after) in [
            ("user create --env qa --db orders --type devqa", None),
            ("user reset-password --env qa --db orders", None),
            ("user set-search-path --env qa --db orders", Some("public")),
        ] {
            pgacct(&sandbox, &pg)
                .args(line)
                .arg(name)
                .arg_list(after)
                .expect(2)
                .stderr_contains("error: ")
                .stderr_contains("role name")
                .run();
        }
    }
    for (line, message) in [
        ("user create-vm --env qa --db orders --server pg-01 --service-port 80", "pg_01_80"),
        ("user set-search-path --env qa --db orders alice App", "App"),
        ("user set-search-path --env qa --db orders alice a;b", "a;b"),
        ("user create --env qa --db orders --type superuser alice", "superuser"),
        ("user create --env qa --db nope --type devqa alice", "no registry entry"),
        ("user create --env qa --type devqa alice", "--db"),
    ] {
        pgacct(&sandbox, &pg)
            .args(line)
            .expect(2)
            .stderr_contains("error: ")
            .stderr_contains(message)
            .run();
    }
    assert_eq!(
        pg.log().matches("connection received").count(),
        connections_before,
        "pgacct connected"
    );
    let audit = Run::new(&sandbox).args("audit show --operation user").rows();
    assert!(audit.is_empty(), "{audit:?}");
}

fn passwords_never_reach_the_server_log_the_registry_or_the_audit_trail() {
    let sandbox = Sandbox::new();
    let pg = cluster_with(&sandbox, "qa", &["orders"]);
    let rows =
        pgacct(&sandbox, &pg).args("user create --env qa --db orders --type devqa carol").rows();
    let generated = rows[0]["password"].as_str().unwrap().to_owned();

    let chosen = "Chosen-Passw0rd-from-stdin";
    let ran = pgacct(&sandbox, &pg)
        .args("user reset-password --env qa --db orders carol --password-stdin")
        .args("--secret-file carol.json --secret-format json")
        .stdin(format!("{chosen}\n"))
        .stderr_contains("written to carol.json")
        .run();
    assert!(login(&pg, "orders", "carol", chosen).is_ok());
    let file = std::fs::read_to_string(sandbox.path().join("carol.json")).unwrap();
    assert!(file.contains(chosen), "the secret file holds the password");

    let registry = std::fs::read(sandbox.registry()).unwrap();
    let wal = std::fs::read(sandbox.path().join("registry.db-wal")).unwrap_or_default();
    let audit = Run::new(&sandbox).args("audit show --limit 0 --format json").run().stdout;
    assert!(
        audit.contains("PASSWORD '<redacted>'"),
        "the audit trail keeps the redacted SQL:\n{audit}"
    );
    for secret in [generated.as_str(), chosen] {
        for (place, haystack) in [
            ("the server log", pg.log().into_bytes()),
            ("the registry", registry.clone()),
            ("the registry's WAL", wal.clone()),
            ("the audit trail", audit.clone().into_bytes()),
            ("stdout of the --secret-file run", ran.stdout.clone().into_bytes()),
            ("stderr", ran.stderr.clone().into_bytes()),
        ] {
            let found = haystack.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "the password is in {place}");
        }
    }
}

fn a_missing_group_is_refused_and_a_failure_midway_leaves_no_role() {
    let sandbox = Sandbox::new();
    let pg = cluster_with(&sandbox, "qa", &["orders"]);
    sandbox.write_config("[types.app]\nmember_of = [\"app_readers\"]\n");
    let create = || pgacct(&sandbox, &pg).args("user create --env qa --db orders --type app dave");
    create()
        .expect(2)
        .stderr_contains("role app_readers, which type app joins, does not exist")
        .stderr_contains("hint: create it first")
        .run();
    assert!(role(&pg, "dave").is_none());
    assert!(!pg.log().contains("CREATE ROLE"), "the plan sent no change");
    let audit = Run::new(&sandbox).args("audit show --operation user").rows();
    assert!(audit.is_empty(), "a refusal is not journaled: {audit:?}");

    // The group is there when the plan looks, and gone when the change
    // runs: the transaction fails at the GRANT, and nothing of it stays.
    pg.client().batch_execute("CREATE ROLE app_readers NOLOGIN").unwrap();
    let pause = Pause::new(&sandbox);
    let running = pause
        .arm(create().args("--format json"))
        .expect(1)
        .stderr_contains("hint: to do it again on the target that did not succeed")
        .spawn();
    pause.wait();
    pg.client().batch_execute("DROP ROLE app_readers").unwrap();
    pause.release();
    let rows = running.finish().rows();
    assert_eq!(rows[0]["outcome"], "failed");
    assert_eq!(rows[0]["password"], Value::Null);
    assert_eq!(rows[0]["error"], r#"role "app_readers" does not exist"#);
    assert!(role(&pg, "dave").is_none(), "the CREATE ROLE was rolled back");
    let audit = Run::new(&sandbox).args("audit show").rows();
    assert_eq!(audit[0]["outcome"], "failed");
    assert_eq!(audit[0]["error"], r#"role "app_readers" does not exist"#);
    let sql = audit[0]["sql"].as_str().unwrap();
    assert!(sql.starts_with(r#"-- rolled back: CREATE ROLE "dave""#), "{sql}");
    assert!(sql.contains(r#"-- failed: GRANT "app_readers" TO "dave""#), "{sql}");

    // With the group there, the same type works, with all its settings.
    pg.client()
        .batch_execute("CREATE ROLE app_readers NOLOGIN; CREATE SCHEMA IF NOT EXISTS app")
        .unwrap();
    sandbox.write_config(
        "[types.app]\ntemplate = \"app_{name}\"\nmember_of = [\"app_readers\"]\nconnection_limit = 7\n\
         search_path = [\"app\", \"public\"]\nvalid_for_days = 30\npassword_length = 40\n",
    );
    let rows =
        pgacct(&sandbox, &pg).args("user create --env qa --db orders --type app dave").rows();
    assert_eq!(rows[0]["user"], "app_dave");
    assert_eq!(rows[0]["password"].as_str().unwrap().len(), 40);
    let (limit, login_ok, until) = role(&pg, "app_dave").unwrap();
    assert_eq!((limit, login_ok), (7, true));
    assert!(until.is_some(), "VALID UNTIL is set");
    assert_eq!(memberships(&pg, "app_dave"), ["app_readers"]);
    assert_eq!(settings(&pg, "app_dave", Some("orders")), ["search_path=app, public"]);
}

fn a_stopped_cluster_fails_alone() {
    let sandbox = Sandbox::new();
    let pg = cluster_with(&sandbox, "qa", &["orders", "billing"]);
    let stopped = Cluster::start();
    sandbox.register("qa", "postgres", &stopped, &[]);
    stopped.stop();
    let rows = pgacct(&sandbox, &pg)
        .args("user create --env qa --all --type devqa erin")
        .expect(3)
        .stderr_contains(&format!("hint: is PostgreSQL running on 127.0.0.1:{}", stopped.port()))
        .stderr_contains("hint: to bring the target that did not succeed to the same password")
        .rows();
    let by_db = |db: &str| rows.iter().find(|r| r["db"] == db).unwrap().clone();
    assert_eq!(by_db("orders")["status"], "user created");
    assert_eq!(by_db("billing")["status"], "user created");
    assert_eq!(by_db("postgres")["outcome"], "failed");
    assert!(by_db("postgres")["error"].as_str().unwrap().contains("connection refused"));
    assert!(role(&pg, "erin").is_some());
}

fn dry_run_shows_the_sql_and_changes_nothing() {
    let sandbox = Sandbox::new();
    let pg = cluster_with(&sandbox, "qa", &["orders"]);
    let stdout = pgacct(&sandbox, &pg)
        .args("user create-vm --env qa --db orders --server web02 --service-port 80 --dry-run")
        .stderr_contains("--dry-run: nothing was changed")
        .run()
        .stdout;
    assert!(stdout.contains("-- qa/orders ("), "{stdout}");
    assert!(
        stdout.contains(
            r#"CREATE ROLE "web02_80" WITH LOGIN CONNECTION LIMIT 200 PASSWORD '<redacted>';"#
        ),
        "{stdout}"
    );
    assert!(
        stdout
            .contains(r#"ALTER ROLE "web02_80" IN DATABASE "orders" SET search_path TO "public";"#)
    );
    assert!(role(&pg, "web02_80").is_none());
    pgacct(&sandbox, &pg)
        .args("user reset-password --env qa --db orders nobody --dry-run")
        .expect(1)
        .stderr_is("--dry-run: nothing was changed\n")
        .run();
    let audit = Run::new(&sandbox).args("audit show --operation user").rows();
    assert!(audit.is_empty(), "dry runs write no audit records: {audit:?}");
}

fn dba_accounts_and_protected_envs_ask_first() {
    let sandbox = Sandbox::new();
    let pg = cluster_with(&sandbox, "prod", &["orders"]);
    let connections_before = pg.log().matches("connection received").count();
    pgacct(&sandbox, &pg)
        .args("user create --env prod --db orders --type dba frank")
        .expect(2)
        .stderr_contains("a dba account needs confirmation, and there is no terminal to ask on")
        .stderr_contains("hint: add --yes to confirm")
        .run();

    sandbox.write_config("[env.prod]\nprotected = true\n");
    pgacct(&sandbox, &pg)
        .args("user create --env prod --db orders --type devqa gina")
        .expect(2)
        .stderr_contains("prod/orders is protected")
        .run();
    assert_eq!(
        pg.log().matches("connection received").count(),
        connections_before,
        "nothing was touched"
    );
    assert!(role(&pg, "frank").is_none() && role(&pg, "gina").is_none());

    pgacct(&sandbox, &pg).args("user create --env prod --db orders --type dba frank --yes").rows();
    let created: (bool, bool) = pg
        .client()
        .query_one("SELECT rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = 'frank'", &[])
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert_eq!(created, (true, true));
    assert_eq!(settings(&pg, "frank", None), ["search_path=public"], "for all databases");
}

fn secret_files_are_private_complete_and_never_overwritten_unasked() {
    let sandbox = Sandbox::new();
    let pg = cluster_with(&sandbox, "qa", &["orders"]);
    let stdout = pgacct(&sandbox, &pg)
        .args("user create-k8s --env qa --db orders --service gear")
        .args("--secret-file gear.yaml --secret-format k8s-secret")
        .stderr_contains("password for qa_gear written to gear.yaml")
        .run()
        .stdout;
    let path = sandbox.path().join("gear.yaml");
    let manifest = std::fs::read_to_string(&path).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(
        manifest.starts_with("apiVersion: v1\nkind: Secret\nmetadata:\n  name: qa-gear-qa-orders-"),
        "{manifest}"
    );
    let value = |key: &str| -> String {
        let line =
            manifest.lines().find(|l| l.trim_start().starts_with(&format!("{key}: "))).unwrap();
        serde_json::from_str(line.split_once(": ").unwrap().1).unwrap()
    };
    assert_eq!(value("PGHOST"), "127.0.0.1");
    assert_eq!(value("PGPORT"), pg.port().to_string());
    assert_eq!(value("PGDATABASE"), "orders");
    assert_eq!(value("PGUSER"), "qa_gear");
    let password = value("PGPASSWORD");
    assert!(
        value("DATABASE_URL").starts_with(&format!("postgresql://qa_gear:{password}@127.0.0.1:"))
    );
    assert!(login(&pg, "orders", "qa_gear", &password).is_ok());
    assert!(!stdout.contains(&password));

    // An existing file is kept, and nothing is touched.
    let reset = || {
        pgacct(&sandbox, &pg)
            .args("user reset-password --env qa --db orders qa_gear --secret-file gear.yaml")
    };
    reset().expect(2).stderr_contains("hint: add --force").run();
    assert!(login(&pg, "orders", "qa_gear", &password).is_ok(), "the password did not change");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), manifest);

    reset().arg("--force").stderr_contains("password for qa_gear written to gear.yaml").run();
    let env = std::fs::read_to_string(&path).unwrap();
    let new = env.lines().find_map(|l| l.strip_prefix("PGPASSWORD=")).unwrap();
    assert!(login(&pg, "orders", "qa_gear", new).is_ok());
}

/// PostgreSQL 16 brought `scram_iterations`; verifiers use the server's count.
fn the_servers_scram_iterations_are_used() {
    let sandbox = Sandbox::new();
    let pg = Cluster::builder().major(17).setting("scram_iterations = 10000").start();
    let pg = registered(pg, &sandbox, "qa", &["orders"]);
    let check = pgacct(&sandbox, &pg).args("registry check").rows();
    assert_eq!(check[0]["scram_iterations"], 10000);
    let rows =
        pgacct(&sandbox, &pg).args("user create --env qa --db orders --type devqa hank").rows();
    let verifier = pg.verifier("hank").unwrap();
    assert!(verifier.starts_with("SCRAM-SHA-256$10000:"), "{verifier}");
    assert!(login(&pg, "orders", "hank", rows[0]["password"].as_str().unwrap()).is_ok());
}

/// The main commands on the oldest and a recent supported major.
fn provisioning_works_on_postgres_13_and_17() {
    for major in [13, 17] {
        let sandbox = Sandbox::new();
        let pg = Cluster::builder().major(major).start();
        let pg = registered(pg, &sandbox, "qa", &["orders", "billing"]);
        let rows = pgacct(&sandbox, &pg)
            .args("user create-vm --env qa --all --server web01 --service-port 80")
            .rows();
        let password = rows[0]["password"].as_str().unwrap();
        assert!(login(&pg, "billing", "web01_80", password).is_ok(), "{major}");
        let rows = pgacct(&sandbox, &pg).args("user reset-password --env qa --all web01_80").rows();
        assert!(login(&pg, "orders", "web01_80", rows[0]["password"].as_str().unwrap()).is_ok());
        pgacct(&sandbox, &pg).args("user set-search-path --env qa --all web01_80 public").rows();
        assert_eq!(settings(&pg, "web01_80", Some("billing")), ["search_path=public"], "{major}");
    }
}

/// A dba account asks on a terminal: "y" creates it, "n" aborts (exit 1),
/// Ctrl-C interrupts (exit 130); neither of the last two touches anything.
fn on_a_terminal_confirmation_is_asked_for() {
    let sandbox = Sandbox::new();
    let pg = cluster_with(&sandbox, "qa", &["orders"]);
    let vars = [("PGACCT_ADMIN_PASSWORD", pg.password())];
    let args = "user create --env qa --db orders --type dba ivan";
    let question = "Create dba user ivan on qa/orders?";
    let (shown, code) = on_a_terminal(&sandbox, args, &vars, question, "n");
    assert_eq!(code, 1, "{shown}");
    assert!(shown.contains("nothing was changed"), "{shown}");
    assert!(!shown.contains("error") && !shown.contains("aborted"), "{shown}");
    let (shown, code) = on_a_terminal(&sandbox, args, &vars, question, "\u{3}");
    assert_eq!(code, 130, "{shown}");
    assert!(role(&pg, "ivan").is_none());
    let (shown, code) = on_a_terminal(&sandbox, args, &vars, question, "y");
    assert_eq!(code, 0, "{shown}");
    assert!(role(&pg, "ivan").is_some());
}
