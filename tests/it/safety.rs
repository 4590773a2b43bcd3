//! Production safety of the change pipeline, as a tired DBA meets it: what
//! the plan refuses before anything changes (checked in the catalogs and
//! the server log), what a drop does when a step still fails, what Ctrl-C,
//! SIGTERM and SIGHUP leave behind, how a partial result is retried to the
//! same password, and that dry runs create nothing.

use libtest_mimic::Trial;

use crate::support::runner::{every_setup, test};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::fleet::{ADMIN_PASSWORD, ADMIN_ROLE, Admin, Fleet};
use crate::support::receivers::{Answer, HttpReceiver};
use crate::support::{Cluster, Pause, Ran, Run, Running, Sandbox};

pub fn tests() -> Vec<Trial> {
    let mut tests = vec![
        test!(a_drop_leaves_databases_alone_that_hold_nothing_of_the_role),
        test!(a_drop_that_fails_midway_leaves_the_role_locked_and_every_statement_recorded),
        test!(an_interrupted_reset_delivers_the_password_of_the_clusters_that_committed),
        test!(a_partial_reset_is_retried_to_the_same_password_and_no_other),
        test!(secret_file_destinations_are_checked_before_anything_changes),
        test!(a_given_password_is_checked_and_never_shown_back),
        test!(a_change_names_every_registered_target_its_cluster_serves),
        test!(dry_runs_create_and_send_nothing),
        test!(only_changing_commands_take_change_options),
        test!(an_interrupted_create_takes_its_role_back),
        test!(a_secret_file_that_cannot_be_put_in_place_keeps_the_password),
        test!(the_admin_of_any_target_on_the_cluster_is_never_locked),
        test!(a_noinherit_admin_is_refused_a_drop_it_could_not_finish),
        test!(a_closed_stdout_keeps_a_partial_result_partial),
        test!(a_retry_repeats_exactly_the_change_and_its_password),
        test!(a_password_in_force_when_the_server_stops_answering_is_delivered),
        test!(an_abandoned_drop_takes_the_admins_membership_back),
        test!(a_create_whose_grants_fail_takes_its_role_back),
        test!(an_admin_with_admin_option_only_through_a_group_is_refused_a_drop),
        test!(a_chain_of_retries_keeps_one_password),
        test!(a_closed_stdout_that_took_a_new_password_is_a_failure),
    ];
    tests.extend(every_setup!(a_drop_without_its_heir_or_a_database_it_needs_is_refused_untouched));
    tests.extend(every_setup!(privileges_another_role_granted_refuse_the_drop));
    tests.extend(every_setup!(privileges_on_parameters_are_checked_before_a_drop, 15));
    tests
}

/// The lines of the server log from byte `from` on that carry DDL about
/// `role` (pgacct always quotes identifiers in DDL).
fn ddl_about(pg: &Cluster, from: usize, role: &str) -> Vec<String> {
    let quoted = format!("\"{role}\"");
    pg.log()[from..]
        .lines()
        .filter(|l| l.contains(&quoted))
        .filter(|l| ["ALTER", "DROP", "REASSIGN", "GRANT", "REVOKE"].iter().any(|w| l.contains(w)))
        .map(str::to_owned)
        .collect()
}

/// The operations of the audit trail, newest first.
fn audit(sandbox: &Sandbox, operation: &str) -> Vec<Value> {
    Run::new(sandbox).args("audit show --limit 0 --operation").arg(operation).rows()
}

/// The operation id in the `--retry` hint on `stderr`.
fn retry_id(stderr: &str) -> String {
    let hint = stderr.lines().find(|l| l.contains("--retry")).unwrap_or_else(|| panic!("{stderr}"));
    hint.split("--retry ").nth(1).unwrap().split(' ').next().unwrap().to_owned()
}

fn a_drop_without_its_heir_or_a_database_it_needs_is_refused_untouched(admin: Admin, major: u32) {
    let fleet = Fleet::new(admin, Some(major), &["orders"]);
    let password = fleet.create("dora");
    let mut su = fleet.pg.client();
    su.batch_execute("CREATE DATABASE archive").unwrap();
    fleet
        .pg
        .client_to("archive")
        .batch_execute("CREATE TABLE kept (id int); ALTER TABLE kept OWNER TO dora")
        .unwrap();
    su.batch_execute("ALTER DATABASE archive ALLOW_CONNECTIONS false").unwrap();
    let log_from = fleet.pg.log().len();

    fleet
        .pgacct()
        .args("user drop --env qa --db orders dora --reassign-to app_ownr --yes")
        .expect(2)
        .stderr_contains("2 checks failed; nothing was changed")
        .stderr_contains("the heir app_ownr (--reassign-to) does not exist on 127.0.0.1:")
        .stderr_contains(
            "dora owns objects or holds privileges in database archive, and pgacct cannot \
             connect to it",
        )
        .stderr_contains("hint: create it there first, or name another role")
        .run();
    assert!(fleet.login("orders", "dora", &password).is_ok(), "dora still logs in");
    assert_eq!(ddl_about(&fleet.pg, log_from, "dora"), Vec::<String>::new());
    assert!(audit(&fleet.sandbox, "user.drop").is_empty(), "a refusal is not journaled");

    // With the database reachable again and the default heir, it goes.
    su.batch_execute("ALTER DATABASE archive ALLOW_CONNECTIONS true").unwrap();
    fleet
        .pgacct()
        .args("user drop --env qa --db orders dora --yes")
        .stderr_contains("dora on 127.0.0.1:")
        .rows();
    assert_eq!(fleet.pg.can_login("dora"), None);
}

/// `DROP OWNED` revokes as one grantor: the object's owner for a superuser,
/// the admin itself (or an owner whose privileges it has) otherwise. A
/// privilege granted by anyone else would survive it, and the plan says so.
fn privileges_another_role_granted_refuse_the_drop(admin: Admin, major: u32) {
    let fleet = Fleet::new(admin, Some(major), &["orders"]);
    fleet.create("erik");
    let grantor = match admin {
        // A superuser revokes as the owner; a grant by someone else holding
        // the grant option stays.
        Admin::Superuser => "relay",
        Admin::CreateRole => "owner1",
    };
    fleet
        .pg
        .client_to("orders")
        .batch_execute(
            "CREATE ROLE owner1; CREATE ROLE relay;
             CREATE TABLE ledger (id int); ALTER TABLE ledger OWNER TO owner1;
             SET ROLE owner1; GRANT SELECT ON ledger TO relay WITH GRANT OPTION; RESET ROLE;",
        )
        .unwrap();
    fleet
        .pg
        .client_to("orders")
        .batch_execute(&format!("SET ROLE {grantor}; GRANT SELECT ON ledger TO erik"))
        .unwrap();
    let log_from = fleet.pg.log().len();
    fleet
        .pgacct()
        .args("user drop --env qa --db orders erik --yes")
        .expect(2)
        .stderr_contains(&format!(
            "in database orders, erik holds privileges on table ledger granted by {grantor}, \
             which DROP OWNED run by {} cannot revoke",
            fleet.admin_role()
        ))
        .stderr_contains(&format!("hint: have {grantor}"))
        .run();
    assert_eq!(fleet.pg.can_login("erik"), Some(true), "nothing changed");
    assert_eq!(ddl_about(&fleet.pg, log_from, "erik"), Vec::<String>::new());

    fleet
        .pg
        .client_to("orders")
        .batch_execute(&format!("SET ROLE {grantor}; REVOKE SELECT ON ledger FROM erik"))
        .unwrap();
    fleet
        .pgacct()
        .args("user drop --env qa --db orders erik --yes")
        .stderr_contains("erik on 127.0.0.1:")
        .rows();
}

/// Managed clouds have databases nobody may connect to (RDS's `rdsadmin`):
/// a drop visits only the databases that hold something of the role.
fn a_drop_leaves_databases_alone_that_hold_nothing_of_the_role() {
    for admin in [Admin::Superuser, Admin::CreateRole] {
        let fleet = Fleet::new(admin, None, &["orders"]);
        let mut su = fleet.pg.client();
        su.batch_execute("CREATE DATABASE rdsadmin").unwrap();
        let hba = fleet.pg.data_dir().join("pg_hba.conf");
        let rules = std::fs::read_to_string(&hba).unwrap();
        std::fs::write(&hba, format!("host rdsadmin all all reject\n{rules}")).unwrap();
        su.batch_execute("SELECT pg_reload_conf()").unwrap();
        assert!(fleet.pg.config("rdsadmin").connect(postgres::NoTls).is_err(), "closed");

        fleet.create("fiona");
        fleet
            .pg
            .client_to("orders")
            .batch_execute("CREATE TABLE notes (id int); ALTER TABLE notes OWNER TO fiona")
            .unwrap();
        let log_from = fleet.pg.log().len();
        fleet
            .pgacct()
            .args("user drop --env qa --db orders fiona --yes")
            .stderr_contains("fiona on 127.0.0.1:")
            .rows();
        assert_eq!(fleet.pg.can_login("fiona"), None);
        assert!(!fleet.pg.log()[log_from..].contains("rdsadmin"), "rdsadmin was visited");
    }
}

/// A lock the plan cannot foresee stops a drop halfway: the role stays
/// NOLOGIN, the memberships the admin gave itself go, the error names the
/// database, and the audit trail lists every statement and how it ended.
fn a_drop_that_fails_midway_leaves_the_role_locked_and_every_statement_recorded() {
    for admin in [Admin::Superuser, Admin::CreateRole] {
        let fleet = Fleet::new(admin, None, &["orders"]);
        fleet.sandbox.write_config("[connection]\nlock_timeout = \"1s\"\n");
        let password = fleet.create("gus");
        let mut su = fleet.pg.client();
        for db in ["archive", "legacy"] {
            su.batch_execute(&format!("CREATE DATABASE {db}")).unwrap();
            fleet
                .pg
                .client_to(db)
                .batch_execute("CREATE TABLE kept (id int); ALTER TABLE kept OWNER TO gus")
                .unwrap();
        }
        // Someone reads the table in legacy, and keeps the transaction open.
        let mut reader = fleet.pg.client_to("legacy");
        let mut held = reader.transaction().unwrap();
        held.batch_execute("LOCK TABLE kept IN ACCESS SHARE MODE").unwrap();

        let rows = fleet
            .pgacct()
            .args("user drop --env qa --db orders gus --yes")
            .expect(1)
            .stderr_contains("gus on 127.0.0.1:")
            .rows();
        let error = rows[0]["error"].as_str().unwrap();
        assert!(
            error.starts_with("in database legacy: canceling statement due to lock timeout"),
            "{error}"
        );
        assert!(error.ends_with("; the role is left NOLOGIN"), "{error}");
        held.rollback().unwrap();
        assert_eq!(fleet.pg.can_login("gus"), Some(false));
        assert!(fleet.login("orders", "gus", &password).is_err());
        let heir = fleet.admin_role();
        let owner = |db: &str| -> String {
            fleet
                .pg
                .client_to(db)
                .query_one("SELECT tableowner::text FROM pg_tables WHERE tablename = 'kept'", &[])
                .unwrap()
                .get(0)
        };
        assert_eq!(owner("archive"), heir, "archive was disowned and committed");
        assert_eq!(owner("legacy"), "gus", "legacy rolled back");
        let member: i64 = su
            .query_one(
                "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
                  JOIN pg_roles a ON a.oid = m.member
                 WHERE r.rolname = 'gus' AND a.rolname = $1",
                &[&heir],
            )
            .unwrap()
            .get(0);
        assert_eq!(member, 0, "the admin's membership in gus was taken back");

        let record = &audit(&fleet.sandbox, "user.drop")[0];
        assert_eq!(record["outcome"], "failed");
        let sql: Vec<&str> = record["sql"].as_str().unwrap().split(";\n").collect();
        let mut expected = vec![r#"ALTER ROLE "gus" NOLOGIN"#.to_owned()];
        if admin == Admin::CreateRole {
            expected.push(r#"GRANT "gus" TO CURRENT_USER"#.to_owned());
        }
        expected.extend([
            format!(r#"REASSIGN OWNED BY "gus" TO "{heir}" -- in archive"#),
            r#"DROP OWNED BY "gus" -- in archive"#.to_owned(),
            format!(r#"-- failed: REASSIGN OWNED BY "gus" TO "{heir}" -- in legacy"#),
            // Sent in the same round trip, and rolled back with it.
            r#"-- rolled back: DROP OWNED BY "gus" -- in legacy"#.to_owned(),
        ]);
        if admin == Admin::CreateRole {
            expected.push(r#"REVOKE "gus" FROM CURRENT_USER"#.to_owned());
        }
        assert_eq!(sql, expected, "{admin:?}");
    }
}

/// Three clusters sharing a role, each with its own database (`a`, `b`,
/// `c`) registered in env qa; the role `app` created on all of them.
struct Trio {
    clusters: Vec<Cluster>,
    sandbox: Sandbox,
    /// The password `app` has everywhere.
    password: String,
    admin_password: String,
}

impl Trio {
    fn new(admin: Admin) -> Trio {
        let first = Cluster::start();
        let mut clusters = vec![first];
        for _ in 1..3 {
            clusters.push(Cluster::builder().password(clusters[0].password()).start());
        }
        let sandbox = Sandbox::new();
        for (pg, db) in clusters.iter().zip(["a", "b", "c"]) {
            pg.client().batch_execute(&format!("CREATE DATABASE {db}")).unwrap();
            if admin == Admin::CreateRole {
                pg.client()
                    .batch_execute(&format!(
                        "CREATE ROLE {ADMIN_ROLE} LOGIN CREATEROLE PASSWORD '{ADMIN_PASSWORD}'"
                    ))
                    .unwrap();
                sandbox.register("qa", db, pg, &["--admin-user", ADMIN_ROLE]);
            } else {
                sandbox.register("qa", db, pg, &[]);
            }
        }
        let admin_password = match admin {
            Admin::Superuser => clusters[0].password().to_owned(),
            Admin::CreateRole => ADMIN_PASSWORD.to_owned(),
        };
        let trio = Trio { clusters, sandbox, password: String::new(), admin_password };
        let rows = trio.pgacct().args("user create --env qa --all --type devqa app").rows();
        let password = rows[0]["password"].as_str().unwrap().to_owned();
        Trio { password, ..trio }
    }

    /// pgacct, logging in as the trio's admin.
    fn pgacct(&self) -> Run {
        Run::new(&self.sandbox).env("PGACCT_ADMIN_PASSWORD", &self.admin_password)
    }

    fn logs_in(&self, index: usize, password: &str) -> bool {
        let db = ["a", "b", "c"][index];
        self.clusters[index].login(db, "app", password).is_ok()
    }
}

/// Waits until `ready` holds, or fails the test after 30 s.
pub fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Whether a pgacct session on `pg` waits for a lock.
pub fn pgacct_waits_for_a_lock(pg: &Cluster) -> bool {
    pg.client()
        .query_one(
            "SELECT count(*) FROM pg_stat_activity
              WHERE application_name = 'pgacct' AND wait_event_type = 'Lock'",
            &[],
        )
        .unwrap()
        .get::<_, i64>(0)
        > 0
}

/// Ctrl-C (and SIGTERM, SIGHUP) during a fan-out where one cluster waits
/// behind a lock: the clusters that committed keep the new password, and
/// it is delivered (stdout and the secret file); the waiting one is rolled
/// back; the result is 130; a retry brings the last one to the same password.
fn an_interrupted_reset_delivers_the_password_of_the_clusters_that_committed() {
    let mut trio = Trio::new(Admin::Superuser);
    trio.sandbox.write_config("[connection]\nlock_timeout = \"60s\"\n");
    for name in ["INT", "TERM", "HUP"] {
        let before: Vec<Option<String>> =
            trio.clusters.iter().map(|pg| pg.verifier("app")).collect();
        // Another pgacct run (as it were) holds the lock on `app` on c, in
        // the database pgacct's session uses there (advisory locks are per
        // database).
        let mut holder = trio.clusters[2].client_to("c");
        let mut held = holder.transaction().unwrap();
        held.execute("SELECT pg_advisory_xact_lock(hashtextextended('pgacct role app', 0))", &[])
            .unwrap();
        let file = format!("app-{name}.json");
        let running = trio
            .pgacct()
            .args("user reset-password --env qa --all app --format json --secret-file")
            .arg(&file)
            .args("--secret-format json")
            .expect(130)
            .stderr_contains("interrupted: changes in flight were rolled back")
            .stderr_contains("--retry")
            .spawn();
        wait_until("a and b to commit and c to wait", || {
            (0..2).all(|i| trio.clusters[i].verifier("app") != before[i])
                && pgacct_waits_for_a_lock(&trio.clusters[2])
        });
        running.signal(name);
        let ran = running.finish();
        held.rollback().unwrap();

        let secret: Value =
            serde_json::from_slice(&std::fs::read(trio.sandbox.path().join(&file)).unwrap())
                .unwrap();
        let password = secret["password"].as_str().unwrap().to_owned();
        let dbs: Vec<&str> = secret["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["db"].as_str().unwrap())
            .collect();
        assert_eq!(dbs, ["a", "b"], "SIG{name}: the file names the clusters that have it");
        assert!(trio.logs_in(0, &password) && trio.logs_in(1, &password), "SIG{name}");
        assert_eq!(trio.clusters[2].verifier("app"), before[2], "SIG{name}: c rolled back");
        assert!(trio.logs_in(2, &trio.password), "SIG{name}: c keeps the old password");

        let rows = ran.rows();
        let outcomes: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r["db"].as_str().unwrap(), r["outcome"].as_str().unwrap()))
            .collect();
        assert_eq!(outcomes, [("a", "ok"), ("b", "ok"), ("c", "failed")], "SIG{name}");
        assert_eq!(rows[2]["error"], "interrupted; rolled back");
        let records = audit(&trio.sandbox, "user.reset-password");
        let journaled: Vec<(&str, &str)> = records[..3]
            .iter()
            .map(|r| (r["db"].as_str().unwrap(), r["outcome"].as_str().unwrap()))
            .collect();
        assert_eq!(journaled, [("c", "failed"), ("b", "ok"), ("a", "ok")], "SIG{name}");

        // The hint names one command that brings c to the same password.
        let hint = ran.stderr.lines().find(|l| l.contains("--retry")).unwrap();
        let command = hint.split("pgacct ").nth(1).unwrap();
        assert!(command.ends_with(&format!("--password-from {file}")), "{hint}");
        trio.pgacct().args(command).rows();
        assert!(trio.logs_in(2, &password), "SIG{name}: c has the same password now");
        trio.password = password;
    }
}

/// A reset while one cluster is down is partial (exit 3); its hint names
/// one command that brings the failed target to the same password, which
/// is checked against a cluster that has it: in `pg_authid` for a
/// superuser admin, by logging in as the role for a CREATEROLE admin.
fn a_partial_reset_is_retried_to_the_same_password_and_no_other() {
    for admin in [Admin::Superuser, Admin::CreateRole] {
        let trio = Trio::new(admin);
        trio.clusters[2].stop();
        let ran = trio
            .pgacct()
            .args("user reset-password --env qa --all app --format json")
            .expect(3)
            .stderr_contains("--retry")
            .run();
        let rows = ran.rows();
        let password = rows[0]["password"].as_str().unwrap().to_owned();
        assert_eq!(rows[1]["password"], password.as_str());
        assert_eq!(rows[2]["password"], Value::Null, "c did not get it");
        let hint = ran.stderr.lines().find(|l| l.contains("--retry")).unwrap();
        let command = hint.split("pgacct ").nth(1).unwrap();
        assert!(command.starts_with("user reset-password app --retry "), "{hint}");
        assert!(command.ends_with(" --password-stdin"), "{hint}");
        trio.clusters[2].start_again();

        let with_stdin =
            |password: &str| trio.pgacct().args(command).stdin(format!("{password}\n"));
        with_stdin("Not-The-Password-1")
            .expect(2)
            .stderr_contains("the password given is not the one operation")
            .run();
        assert!(trio.logs_in(2, &trio.password), "c is untouched");

        trio.pgacct()
            .args("user reset-password other --retry")
            .arg(retry_id(&ran.stderr))
            .args("--password-stdin")
            .expect(2)
            .stderr_contains("(user.reset-password of app), not \"reset password\" of other")
            .run();

        let rows = with_stdin(&password).rows();
        assert_eq!(rows.len(), 1, "only c: {rows:?}");
        assert_eq!(rows[0]["db"], "c");
        assert_eq!(rows[0]["password"], Value::Null, "a given password is not shown back");
        assert!((0..3).all(|i| trio.logs_in(i, &password)), "{admin:?}: one password everywhere");

        with_stdin(&password).expect(2).stderr_contains("nothing to retry").run();
    }
}

fn secret_file_destinations_are_checked_before_anything_changes() {
    let fleet = Fleet::new(Admin::Superuser, None, &["orders"]);
    let password = fleet.create("hana");
    let sandbox = &fleet.sandbox;
    sandbox.write("taken.env", "kept\n");
    std::os::unix::fs::symlink("/etc/hostname", sandbox.path().join("link.env")).unwrap();
    std::fs::create_dir(sandbox.path().join("adir")).unwrap();
    // SQLite's own -wal and -shm files come and go with its connections.
    let files = || {
        let mut names: Vec<String> = std::fs::read_dir(sandbox.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| !name.starts_with("registry.db-"))
            .collect();
        names.sort();
        names
    };
    let files_before = files();
    let log_from = fleet.pg.log().len();
    for (file, force, problem) in [
        ("taken.env", false, "taken.env exists; pgacct does not overwrite a secret file"),
        ("adir", true, "adir is a directory; a secret file is a regular file"),
        ("link.env", true, "link.env is a symbolic link; a secret file is a regular file"),
        ("nowhere/new.env", false, "cannot write the secret file nowhere/new.env"),
    ] {
        let mut reset = fleet
            .pgacct()
            .args("user reset-password --env qa --db orders hana --secret-file")
            .arg(file);
        if force {
            reset = reset.arg("--force");
        }
        reset.expect(2).stderr_contains(problem).run();
    }
    assert!(fleet.login("orders", "hana", &password).is_ok(), "the password never changed");
    assert_eq!(ddl_about(&fleet.pg, log_from, "hana"), Vec::<String>::new());
    assert_eq!(std::fs::read_to_string(sandbox.path().join("taken.env")).unwrap(), "kept\n");

    // A change refused by its plan leaves no claimed file to block the next run.
    sandbox.write_config("[types.app]\nmember_of = [\"missing_group\"]\n");
    fleet
        .pgacct()
        .args("user create --env qa --db orders --type app ivy --secret-file ivy.env")
        .expect(2)
        .stderr_contains("role missing_group, which type app joins, does not exist")
        .run();
    assert_eq!(files(), files_before, "no file left");
    sandbox.write_config("");
    fleet
        .pgacct()
        .args("user create --env qa --db orders --type devqa ivy --secret-file ivy.env")
        .stderr_contains("written to ivy.env")
        .run();
    assert!(sandbox.path().join("ivy.env").is_file());
}

fn a_given_password_is_checked_and_never_shown_back() {
    let fleet = Fleet::new(Admin::Superuser, None, &["orders"]);
    let first = fleet.create("jan");
    let reset = |password: &str| {
        fleet
            .pgacct()
            .args("user reset-password --env qa --db orders jan --password-stdin --format json")
            .stdin(format!("{password}\n"))
    };
    let too_long = "x".repeat(1025);
    reset(&too_long)
        .expect(2)
        .stderr_contains(
            "the password is 1025 bytes long; PostgreSQL's clients accept at most 1024",
        )
        .run();
    assert!(fleet.login("orders", "jan", &first).is_ok(), "nothing changed");

    reset("short-pw").stderr_contains("warning: the password is shorter than 12 characters").run();

    let chosen = "Jan-Chosen-Password-42";
    let ran = reset(chosen).run();
    let rows = ran.rows();
    assert_eq!(rows[0]["status"], "password reset");
    assert_eq!(rows[0]["password"], Value::Null, "the user's own password is not echoed");
    assert!(!ran.stdout.contains(chosen));
    assert!(fleet.login("orders", "jan", chosen).is_ok());
}

/// Roles are cluster-wide: a change through one database reaches every
/// registered target of its cluster, and the plan, the confirmation and
/// the result say so; a protected env there must be confirmed too.
fn a_change_names_every_registered_target_its_cluster_serves() {
    let fleet = Fleet::new(Admin::Superuser, None, &["orders", "billing"]);
    fleet.pg.client().batch_execute("CREATE DATABASE shop").unwrap();
    fleet.sandbox.register("prod", "shop", &fleet.pg, &[]);
    fleet.sandbox.write_config("[env.prod]\nprotected = true\n");
    let create = || fleet.pgacct().args("user create --env qa --db orders --type devqa kim");
    create().expect(2).stderr_contains("prod/shop is protected, and there is no terminal").run();
    assert_eq!(fleet.pg.can_login("kim"), None);

    let stdout =
        create().arg("--dry-run").stderr_contains("--dry-run: nothing was changed").run().stdout;
    assert!(stdout.contains("this also reaches prod/shop and qa/billing"), "{stdout}");

    let rows = create()
        .arg("--yes")
        .stderr_contains(&format!(
            "roles are cluster-wide: on 127.0.0.1:{} this also reaches prod/shop and qa/billing",
            fleet.pg.port()
        ))
        .rows();
    let shown: Vec<(&str, bool, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["db"].as_str().unwrap(),
                r["selected"].as_bool().unwrap(),
                r["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("orders", true, "user created"),
            ("shop", false, "user created (cluster-wide; not selected)"),
            ("billing", false, "user created (cluster-wide; not selected)"),
        ]
    );
    assert!(rows[1]["password"].is_null(), "the password is shown once, on the selected row");
}

fn dry_runs_create_and_send_nothing() {
    let sandbox = Sandbox::new();
    let registry = sandbox.path().join("fresh/registry.db");
    let http = HttpReceiver::start(Answer::Status(200));
    sandbox.write_config(&format!(
        "[[notify]]\nkind = \"webhook\"\nurl = \"{}\"\n",
        http.url("/hook")
    ));
    let pgacct = || Run::new(&sandbox).env("PGACCT_REGISTRY", &registry);
    pgacct()
        .args("registry add --env qa --db orders --host h --dry-run")
        .stderr_contains("would add qa/orders (h:5432); nothing written (--dry-run)")
        .run();
    pgacct().args("notify test --dry-run").stderr_contains("would send a test to webhook").run();
    assert!(http.requests().is_empty(), "a dry run sent a notification");
    assert!(!registry.parent().unwrap().exists(), "a dry run created the registry's directory");

    let fleet = Fleet::new(Admin::Superuser, None, &["orders"]);
    let before = std::fs::read(fleet.sandbox.registry()).unwrap();
    fleet
        .pgacct()
        .args("user create --env qa --db orders --type devqa lea --secret-file lea.env --dry-run")
        .stderr_contains("--dry-run: nothing was changed")
        .run();
    assert!(!fleet.sandbox.path().join("lea.env").exists(), "a dry run claimed the secret file");
    assert_eq!(std::fs::read(fleet.sandbox.registry()).unwrap(), before);
    assert_eq!(fleet.pg.can_login("lea"), None);
}

fn only_changing_commands_take_change_options() {
    let sandbox = Sandbox::new();
    for line in [
        "registry list --dry-run",
        "registry show --env qa --db x --yes",
        "audit show --ticket CHG-1",
        "user list --env qa --all --yes",
        "registry check --dry-run",
    ] {
        Run::new(&sandbox).args(line).expect(2).stderr_contains("unexpected argument").run();
    }
    Run::new(&sandbox)
        .args("registry list --format toml")
        .expect(2)
        .stderr_contains("does not write --format toml")
        .run();
}

/// Before PostgreSQL 14, a read-only role gets grants in each database
/// after it is created; an interrupt while they wait takes the new role
/// back, so that no login with an undelivered password is left behind.
fn an_interrupted_create_takes_its_role_back() {
    let fleet = Fleet::new(Admin::Superuser, Some(13), &["orders", "billing"]);
    let ran = create_behind_a_lock(
        &fleet,
        "ro2",
        |run| run.stderr_contains("to do it again on the targets that did not succeed"),
        |running| {
            assert_eq!(fleet.pg.can_login("ro2"), Some(true), "created, grants pending");
            running.signal("INT");
            running.finish()
        },
    );
    assert_eq!(fleet.pg.can_login("ro2"), None, "the new role was taken back");
    let rows = ran.rows();
    assert_eq!(rows[0]["error"], "interrupted; the new role was taken back");
    assert_eq!(rows[0]["password"], Value::Null);
    assert!(!ran.stderr.contains("same password"), "no target has a password: {}", ran.stderr);
}

/// Runs a `readonly` create of `role` on orders and billing of a fleet
/// (whose grants go database by database) while
/// another session holds pgacct's lock on `role` in billing. The run must
/// end interrupted (130), and as `expect` adds; `meanwhile` gets the
/// running pgacct once its grants there wait, and returns what it printed.
/// The lock is released afterwards.
fn create_behind_a_lock(
    fleet: &Fleet,
    role: &str,
    expect: impl FnOnce(Run) -> Run,
    meanwhile: impl FnOnce(Running) -> Ran,
) -> Ran {
    fleet.sandbox.write_config("[connection]\nlock_timeout = \"60s\"\n");
    let mut holder = fleet.pg.client_to("billing");
    let mut held = holder.transaction().unwrap();
    let key = format!("pgacct role {role}");
    held.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", &[&key]).unwrap();
    let create = fleet
        .pgacct()
        .args("user create --env qa --db orders --db billing --type readonly --format json")
        .arg(role);
    let running = expect(create.expect(130)).spawn();
    wait_until("the grants in billing to wait", || pgacct_waits_for_a_lock(&fleet.pg));
    let ran = meanwhile(running);
    held.rollback().unwrap();
    ran
}

/// The secret file is replaced only when it still is a regular file; when
/// it is not by the time the password is set, the password stays in the
/// private staging file beside it, the command says where, and fails.
fn a_secret_file_that_cannot_be_put_in_place_keeps_the_password() {
    let fleet = Fleet::new(Admin::Superuser, None, &["orders"]);
    let pause = Pause::new(&fleet.sandbox);
    fleet.create("kai");
    let path = fleet.sandbox.write("kai.env", "old\n");
    let running = pause
        .arm(fleet.pgacct())
        .args("user reset-password --env qa --db orders kai --secret-file kai.env --force")
        .expect(1)
        .stderr_contains("the password was set, and could not be put in kai.env; it is in")
        .spawn();
    pause.wait();
    std::fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", &path).unwrap();
    pause.release();
    let err = running.finish().stderr;
    let kept = err.split("it is in ").nth(1).unwrap().split(" (mode 0600)").next().unwrap();
    let password = crate::support::read_password_from(&fleet.sandbox.path().join(kept));
    assert!(fleet.login("orders", "kai", &password).is_ok(), "the kept password is in force");
    assert!(std::fs::symlink_metadata(&path).unwrap().file_type().is_symlink(), "link untouched");
}

/// Roles are cluster-wide: the admin role of another registered target on
/// the same cluster is as untouchable as the selected target's.
fn the_admin_of_any_target_on_the_cluster_is_never_locked() {
    let fleet = Fleet::new(Admin::Superuser, None, &["orders"]);
    fleet.pg.client().batch_execute("CREATE DATABASE billing").unwrap();
    fleet.pg.client().batch_execute("CREATE ROLE ops LOGIN SUPERUSER").unwrap();
    fleet.sandbox.register("qa", "billing", &fleet.pg, &["--admin-user", "ops"]);
    fleet
        .pgacct()
        .args("user lock --env qa --db orders ops --yes")
        .expect(2)
        .stderr_contains("ops is the admin role pgacct connects to qa/billing as")
        .run();
    assert_eq!(fleet.pg.can_login("ops"), Some(true));
}

/// PostgreSQL 15 brought privileges on configuration parameters; `DROP
/// OWNED` revokes them as the bootstrap superuser, which a CREATEROLE admin
/// cannot act as.
fn privileges_on_parameters_are_checked_before_a_drop(admin: Admin, major: u32) {
    let fleet = Fleet::new(admin, Some(major), &["orders"]);
    fleet.create("tuner");
    fleet.pg.client().batch_execute("GRANT SET ON PARAMETER work_mem TO tuner").unwrap();
    let drop = fleet.pgacct().args("user drop --env qa --db orders tuner --yes");
    match admin {
        Admin::Superuser => {
            drop.stderr_contains("tuner on 127.0.0.1:").run();
            assert_eq!(fleet.pg.can_login("tuner"), None);
        }
        Admin::CreateRole => {
            drop.expect(2)
                .stderr_contains("holds privileges on parameter work_mem granted by postgres")
                .run();
            assert_eq!(fleet.pg.can_login("tuner"), Some(true), "nothing changed");
        }
    }
}

/// A NOINHERIT admin (before PostgreSQL 16, inheritance is the member's
/// attribute) cannot act as a role through a membership, nor through one
/// it already has: the plan refuses, and no existing membership is touched.
fn a_noinherit_admin_is_refused_a_drop_it_could_not_finish() {
    for major in [Some(13), None] {
        let fleet = Fleet::new(Admin::CreateRole, major, &["orders"]);
        fleet.create("vic");
        let mut su = fleet.pg.client();
        su.batch_execute(&format!(
            "CREATE ROLE owner1; GRANT owner1 TO {ADMIN_ROLE}; ALTER ROLE {ADMIN_ROLE} NOINHERIT"
        ))
        .unwrap();
        fleet
            .pgacct()
            .args("user drop --env qa --db orders vic --reassign-to owner1 --yes")
            .expect(2)
            .stderr_contains(&format!(
                "the admin {ADMIN_ROLE} is a member of the heir owner1 but does not inherit"
            ))
            .stderr_contains(&format!("the admin {ADMIN_ROLE} is NOINHERIT"))
            .run();
        assert_eq!(fleet.pg.can_login("vic"), Some(true), "nothing changed");
        let still: i64 = su
            .query_one(
                "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
                  JOIN pg_roles a ON a.oid = m.member WHERE r.rolname = 'owner1' AND a.rolname = $1",
                &[&ADMIN_ROLE],
            )
            .unwrap()
            .get(0);
        assert_eq!(still, 1, "the admin's own membership in owner1 stays");
    }
}

/// A reader that goes away (`| head`) stops the printing, not the truth:
/// the exit code is the change's, and the hints still come.
fn a_closed_stdout_keeps_a_partial_result_partial() {
    let trio = Trio::new(Admin::Superuser);
    trio.clusters[2].stop();
    let mut running = trio
        .pgacct()
        .args("user lock --env qa --all app --format json")
        .expect(3)
        .stderr_contains("--retry")
        .spawn();
    // Close the reading end at once, as `| head -0` would.
    drop(running.take_stdout());
    running.finish();
}

/// A retry is the same change again: another type (or schemas, heir,
/// --terminate) is refused; and when the operation set a password, a new
/// one may not be generated, and one that "user already exists" kept is
/// not what the given password is checked against.
fn a_retry_repeats_exactly_the_change_and_its_password() {
    let trio = Trio::new(Admin::Superuser);
    // `old` exists on a already: a create there keeps its password.
    trio.clusters[0]
        .client_to("a")
        .batch_execute("CREATE ROLE old LOGIN PASSWORD 'kept-Password-1'")
        .unwrap();
    trio.clusters[2].stop();
    let ran = trio
        .pgacct()
        .args("user create --env qa --all --type devqa old --format json")
        .expect(3)
        .stderr_contains("--retry")
        .run();
    let rows = ran.rows();
    assert_eq!(rows[0]["status"], "user already exists");
    assert_eq!(rows[1]["status"], "user created");
    let password = rows[1]["password"].as_str().unwrap().to_owned();
    let id = retry_id(&ran.stderr);
    trio.clusters[2].start_again();

    let retry =
        |kind: &str| trio.pgacct().args(&format!("user create --type {kind} old --retry {id}"));
    retry("devlead").expect(2).stderr_contains("was \"create devqa user\"").run();
    retry("devqa").expect(2).stderr_contains("a retry must give that one, not a new one").run();
    retry("devqa").arg("--password-stdin").stdin(format!("{password}\n")).rows();
    assert!(trio.clusters[2].login("c", "old", &password).is_ok(), "c has the password b has");
    assert!(trio.clusters[0].login("a", "old", "kept-Password-1").is_ok(), "a kept its own");
}

/// The server process of pgacct's session that waits for a lock.
fn waiting_backend(pg: &Cluster) -> i32 {
    pg.client()
        .query_one(
            "SELECT pid FROM pg_stat_activity
              WHERE application_name = 'pgacct' AND wait_event_type = 'Lock'",
            &[],
        )
        .unwrap()
        .get(0)
}

fn signal_pid(pid: i32, name: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// A create whose grants hang (their server process stopped) is abandoned
/// 10 s after Ctrl-C; the role it created is in force, so its password is
/// delivered, and the result says the password may be in force.
fn a_password_in_force_when_the_server_stops_answering_is_delivered() {
    let fleet = Fleet::new(Admin::Superuser, Some(13), &["orders", "billing"]);
    let ran = create_behind_a_lock(
        &fleet,
        "ro9",
        |run| run.stderr_contains("interrupted"),
        |running| {
            let backend = waiting_backend(&fleet.pg);
            signal_pid(backend, "STOP");
            running.signal("INT");
            let ended = running.wait();
            signal_pid(backend, "CONT");
            ended.check()
        },
    );
    let rows = ran.rows();
    assert_eq!(rows[0]["status"], "the new password may be in force here");
    let password =
        rows[0]["password"].as_str().unwrap_or_else(|| panic!("not delivered: {rows:?}"));
    assert!(fleet.login("orders", "ro9", password).is_ok(), "the delivered password is in force");
}

/// A drop abandoned 10 s after Ctrl-C (its server process stopped inside a
/// transaction) takes back the admin's membership on a new session.
fn an_abandoned_drop_takes_the_admins_membership_back() {
    let fleet = Fleet::new(Admin::CreateRole, None, &["orders"]);
    fleet.sandbox.write_config("[connection]\nlock_timeout = \"60s\"\n");
    fleet.create("gil");
    let mut su = fleet.pg.client();
    su.batch_execute("CREATE DATABASE legacy").unwrap();
    fleet
        .pg
        .client_to("legacy")
        .batch_execute("CREATE TABLE kept (id int); ALTER TABLE kept OWNER TO gil")
        .unwrap();
    let mut reader = fleet.pg.client_to("legacy");
    let mut held = reader.transaction().unwrap();
    held.batch_execute("LOCK TABLE kept IN ACCESS SHARE MODE").unwrap();
    let running = fleet
        .pgacct()
        .args("user drop --env qa --db orders gil --yes --format json")
        .expect(130)
        .stderr_contains("gil on 127.0.0.1:")
        .stderr_contains("interrupted")
        .spawn();
    wait_until("the disowning in legacy to wait", || pgacct_waits_for_a_lock(&fleet.pg));
    let backend = waiting_backend(&fleet.pg);
    signal_pid(backend, "STOP");
    running.signal("INT");
    let ended = running.wait();
    signal_pid(backend, "CONT");
    held.rollback().unwrap();
    ended.check();
    let member: i64 = su
        .query_one(
            "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
              JOIN pg_roles a ON a.oid = m.member WHERE r.rolname = 'gil' AND a.rolname = $1",
            &[&ADMIN_ROLE],
        )
        .unwrap()
        .get(0);
    assert_eq!(member, 0, "the admin's membership in gil was taken back");
    assert_eq!(fleet.pg.can_login("gil"), Some(false), "left NOLOGIN");
}

/// A new read-only role gets its grants database by database; when one
/// database refuses at apply time (its schema changed owner after the plan
/// looked), the grants already made are revoked and the role dropped again.
fn a_create_whose_grants_fail_takes_its_role_back() {
    let fleet = Fleet::new(Admin::CreateRole, Some(13), &["orders", "billing"]);
    fleet
        .pg
        .client_to("billing")
        .batch_execute(&format!(
            "CREATE ROLE owner1; CREATE SCHEMA app AUTHORIZATION {ADMIN_ROLE};
             SET ROLE {ADMIN_ROLE}; CREATE TABLE app.invoices (id int)"
        ))
        .unwrap();
    let pause = Pause::new(&fleet.sandbox);
    let running = pause
        .arm(fleet.pgacct())
        .args("user create --env qa --db orders --db billing --type readonly ro3 --format json")
        .expect(1)
        .stderr_contains("hint: to do it again on the targets that did not succeed")
        .spawn();
    pause.wait();
    fleet
        .pg
        .client_to("billing")
        .batch_execute("ALTER SCHEMA app OWNER TO owner1; ALTER TABLE app.invoices OWNER TO owner1")
        .unwrap();
    pause.release();
    let rows = running.finish().rows();
    for row in &rows {
        let error = row["error"].as_str().unwrap();
        assert!(error.contains("in database billing: permission denied for schema app"), "{error}");
        assert!(error.ends_with("; the new role was taken back"), "{error}");
        assert_eq!(row["password"], Value::Null);
    }
    assert_eq!(fleet.pg.can_login("ro3"), None, "the role is gone");
    let sql = audit(&fleet.sandbox, "user.create")[0]["sql"].as_str().unwrap().to_owned();
    assert!(
        sql.contains(r#"-- failed: GRANT USAGE ON SCHEMA "app" TO "ro3" -- in billing"#),
        "{sql}"
    );
    assert!(sql.contains(r#"DROP ROLE "ro3""#), "{sql}");
}

/// From 16, a grant records whichever role holds ADMIN OPTION as its
/// grantor: an admin that has it only through a group could not add a
/// membership of its own, and would change another's instead. Refused.
fn an_admin_with_admin_option_only_through_a_group_is_refused_a_drop() {
    let fleet = Fleet::new(Admin::CreateRole, Some(17), &["orders"]);
    let mut su = fleet.pg.client();
    su.batch_execute(&format!(
        "CREATE ROLE mm; GRANT mm TO {ADMIN_ROLE};
         CREATE ROLE big LOGIN; GRANT big TO mm WITH ADMIN OPTION, INHERIT FALSE;
         SET ROLE {ADMIN_ROLE}; GRANT big TO {ADMIN_ROLE} WITH INHERIT FALSE; RESET ROLE;"
    ))
    .unwrap();
    let rows_before: i64 = su
        .query_one("SELECT count(*) FROM pg_auth_members WHERE roleid = 'big'::regrole", &[])
        .unwrap()
        .get(0);
    fleet
        .pgacct()
        .args("user drop --env qa --db orders big --yes")
        .expect(2)
        .stderr_contains("may not make itself a member of the role big")
        .run();
    let inherit: bool = su
        .query_one(
            "SELECT bool_or(inherit_option) FROM pg_auth_members WHERE roleid = 'big'::regrole",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(!inherit, "no membership was changed");
    let rows_after: i64 = su
        .query_one("SELECT count(*) FROM pg_auth_members WHERE roleid = 'big'::regrole", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows_after, rows_before);
}

/// A retry of a retry still gives the password of the operation that set
/// it first; and a retry without --terminate is not the same lock.
fn a_chain_of_retries_keeps_one_password() {
    let trio = Trio::new(Admin::Superuser);
    trio.clusters[2].stop();
    let ran = trio
        .pgacct()
        .args("user create --env qa --all --type devqa zed --format json")
        .expect(3)
        .stderr_contains("--retry")
        .run();
    let password = ran.rows()[0]["password"].as_str().unwrap().to_owned();
    let first = retry_id(&ran.stderr);
    let create = |id: &str, password: Option<&str>| {
        let retry = trio.pgacct().args(&format!("user create --type devqa zed --retry {id}"));
        match password {
            Some(password) => retry.arg("--password-stdin").stdin(format!("{password}\n")),
            None => retry,
        }
    };
    // c is still down: the retry fails, and its hint keeps the password option.
    let second_try = create(&first, Some(&password))
        .expect(1)
        .stderr_contains("--retry")
        .stderr_contains("--password-stdin")
        .run();
    let second = retry_id(&second_try.stderr);
    trio.clusters[2].start_again();
    create(&second, None)
        .expect(2)
        .stderr_contains(&format!("operation {second} set a password on qa/a and qa/b"))
        .run();
    create(&second, Some(&password)).run();
    assert!(trio.clusters[2].login("c", "zed", &password).is_ok(), "one password everywhere");

    trio.clusters[2].stop();
    let ran = trio
        .pgacct()
        .args("user lock --env qa --all zed --terminate")
        .expect(3)
        .stderr_contains("--retry")
        .run();
    let lock = retry_id(&ran.stderr);
    trio.clusters[2].start_again();
    trio.pgacct()
        .args(&format!("user lock zed --retry {lock}"))
        .expect(2)
        .stderr_contains("\"lock user and end its sessions\"")
        .run();
    trio.pgacct().args(&format!("user lock zed --terminate --retry {lock}")).run();
}

/// A password shown only on a stdout nobody reads any more is lost: the
/// command says so and fails, instead of ending quietly.
fn a_closed_stdout_that_took_a_new_password_is_a_failure() {
    let trio = Trio::new(Admin::Superuser);
    let mut running = trio
        .pgacct()
        .args("user reset-password --env qa --all app --format json")
        .expect(1)
        .stderr_contains("stdout was closed before the new password of app was shown")
        .spawn();
    drop(running.take_stdout());
    running.finish();
}
