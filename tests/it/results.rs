//! What results say (issue 14): a failed row says what did not happen and
//! why, never what was tried; a table has no column that is empty on every
//! row; values are said as a DBA says them (`unlimited`, `4096 (fixed)`);
//! an empty result is one line on stderr; a cluster's sessions are counted
//! once.

use libtest_mimic::Trial;
use serde_json::Value;

use crate::support::runner::test;
use crate::support::{Cluster, Run, Sandbox, on_a_terminal};

pub fn tests() -> Vec<Trial> {
    vec![
        test!(a_failed_row_says_what_did_not_happen_and_why),
        test!(a_result_table_has_no_column_empty_on_every_row),
        test!(sessions_ended_are_counted_once_per_cluster),
        test!(limits_and_iterations_are_said_as_a_dba_says_them),
        test!(an_empty_result_is_one_line_on_stderr),
        test!(showing_a_role_that_is_not_there_is_an_error_not_a_blank_record),
        test!(a_question_names_its_targets_as_a_sentence),
        test!(roles_are_listed_in_natural_order),
    ]
}

/// `pg` with these databases, each registered in env `qa`.
fn registered(sandbox: &Sandbox, dbs: &[&str]) -> Cluster {
    let pg = Cluster::start();
    let mut admin = pg.client();
    for db in dbs {
        if *db != "postgres" {
            admin.batch_execute(&format!("CREATE DATABASE {db}")).unwrap();
        }
        sandbox.register("qa", db, &pg, &[]);
    }
    pg
}

fn pgacct(sandbox: &Sandbox, pg: &Cluster) -> Run {
    Run::new(sandbox).env("PGACCT_ADMIN_PASSWORD", pg.password())
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn field<'a>(rows: &'a [Value], db: &str, name: &str) -> &'a str {
    let row = rows.iter().find(|r| r["db"] == db).unwrap_or_else(|| panic!("no {db}: {rows:?}"));
    row[name].as_str().unwrap_or_default()
}

fn a_failed_row_says_what_did_not_happen_and_why() {
    let sandbox = Sandbox::new();
    let pg = registered(&sandbox, &["orders", "billing"]);
    // A database that is registered but not there fails the whole cluster;
    // a cluster that does not answer fails its own row.
    sandbox.register("qa", "gone", &pg, &[]);
    let port = closed_port().to_string();
    Run::new(&sandbox)
        .args("registry add --env qa --db away --host 127.0.0.1 --port")
        .arg(&port)
        .any_stderr()
        .run();
    let rows = pgacct(&sandbox, &pg)
        .args("user create-vm --env qa --all --server web01 --service-port 8080")
        .expect(1)
        .any_stderr()
        .rows();
    for db in ["orders", "billing", "gone"] {
        assert_eq!(field(&rows, db, "status"), "user not created", "{rows:?}");
        assert!(field(&rows, db, "error").contains(r#"database "gone" does not exist"#));
    }
    assert_eq!(field(&rows, "away", "status"), "unreachable", "{rows:?}");
    assert!(field(&rows, "away", "error").contains("refused"), "{rows:?}");
    // The audit trail says the same.
    let trail = Run::new(&sandbox).args("audit show --operation user.create").rows();
    let finished: Vec<&str> = trail
        .iter()
        .filter(|r| r["outcome"] == "failed")
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(finished.len(), 4, "{trail:?}");
    assert!(
        finished.iter().all(|s| ["user not created", "unreachable"].contains(s)),
        "{finished:?}"
    );

    // `registry check` says on stderr what it could not reach.
    let ran = pgacct(&sandbox, &pg)
        .args("registry check --env qa --db away")
        .expect(1)
        .any_stderr()
        .run();
    assert_eq!(
        ran.stderr.lines().next(),
        Some("1 of 1 target not reachable: qa/away (see the error column)"),
        "{}",
        ran.stderr
    );
}

fn a_result_table_has_no_column_empty_on_every_row() {
    let sandbox = Sandbox::new();
    let pg = registered(&sandbox, &["orders", "billing"]);
    let create = pgacct(&sandbox, &pg)
        .args("user create-vm --env qa --all --server web01 --service-port 8080")
        .run();
    let header = create.stdout.lines().next().unwrap();
    assert_eq!(
        header, " env | db      | user       | status       | password",
        "{}",
        create.stdout
    );

    let lock = pgacct(&sandbox, &pg).args("user lock --env qa --all web01_8080").run();
    assert_eq!(
        lock.stdout,
        " env | db      | user       | status\n\
         -----+---------+------------+-------------\n \
         qa  | billing | web01_8080 | user locked\n \
         qa  | orders  | web01_8080 | user locked\n"
    );
    // The error column comes with the first error.
    let missing =
        pgacct(&sandbox, &pg).args("user lock --env qa --all nobody").expect(1).any_stderr().run();
    assert!(
        missing.stdout.starts_with(" env | db      | user   | status         | error\n"),
        "{}",
        missing.stdout
    );
    assert!(missing.stdout.contains("| user not found | role nobody does not exist"));
    // Every column is in JSON and CSV, empty or not.
    let csv =
        pgacct(&sandbox, &pg).args("user unlock --env qa --all web01_8080 --format csv").run();
    assert!(csv.stdout.starts_with("env,db,cluster,user,outcome,status,password,drift,error,"));
}

fn sessions_ended_are_counted_once_per_cluster() {
    let sandbox = Sandbox::new();
    let pg = registered(&sandbox, &["orders", "billing"]);
    let rows = pgacct(&sandbox, &pg)
        .args("user create-vm --env qa --all --server web01 --service-port 8080")
        .rows();
    let password = rows[0]["password"].as_str().unwrap();
    let mut session = pg.login("billing", "web01_8080", password).unwrap();
    let rows = pgacct(&sandbox, &pg)
        .args("user lock --env qa --db orders --db billing --terminate web01_8080")
        .rows();
    assert_eq!(field(&rows, "orders", "status"), "user locked; 1 session ended", "{rows:?}");
    assert_eq!(field(&rows, "billing", "status"), "user locked; sessions counted on qa/orders");
    assert!(session.is_closed() || session.simple_query("SELECT 1").is_err());
}

fn limits_and_iterations_are_said_as_a_dba_says_them() {
    let sandbox = Sandbox::new();
    let old = Cluster::builder().major(15).start();
    let new = Cluster::builder().major(16).start();
    sandbox.register("qa", "postgres", &old, &[]);
    sandbox.register("uat", "postgres", &new, &[]);
    let run = |env: &str, pg: &Cluster, args: &str| {
        let all = if args.starts_with("user") { " --all" } else { "" };
        pgacct(&sandbox, pg).args(&format!("{args} --env {env}{all}"))
    };

    let table = run("qa", &old, "user list --name postgres").run().stdout;
    assert!(table.contains("| unlimited"), "{table}");
    let json = run("qa", &old, "user list --name postgres").rows();
    assert_eq!(json[0]["connection_limit"], -1);

    let fixed = run("qa", &old, "registry check -x").run().stdout;
    assert!(fixed.contains("scram_iterations    | 4096 (fixed)\n"), "{fixed}");
    let json = run("qa", &old, "registry check").rows();
    assert_eq!(json[0]["scram_iterations"], Value::Null, "PostgreSQL 15 has no such setting");
    let set = run("uat", &new, "registry check -x").run().stdout;
    assert!(set.contains("scram_iterations    | 4096\n"), "{set}");
}

fn an_empty_result_is_one_line_on_stderr() {
    let sandbox = Sandbox::new();
    let pg = registered(&sandbox, &["orders"]);
    let none = Run::new(&sandbox)
        .args("registry list --env uat")
        .stderr_is("no targets match --env uat\n")
        .run();
    assert_eq!(none.stdout, "");
    let csv = Run::new(&sandbox).args("registry list --env uat --format csv").run();
    assert_eq!(csv.stdout.lines().count(), 1, "the header only: {}", csv.stdout);
    assert!(csv.stdout.starts_with("env,db,host,port,"));
    let json = Run::new(&sandbox).args("registry list --env uat").json();
    assert_eq!(json, serde_json::json!([]));

    let roles = pgacct(&sandbox, &pg)
        .args("user list --env qa --all --name nothing*")
        .stderr_is("no roles match 'nothing*'\n")
        .run();
    assert_eq!(roles.stdout, "");
    let records = Run::new(&sandbox)
        .args("audit show --user nobody")
        .stderr_is("no audit records match\n")
        .run();
    assert_eq!(records.stdout, "");
    // -q: nothing at all.
    Run::new(&sandbox).args("registry list --env uat -q").stderr_is("").run();
}

fn showing_a_role_that_is_not_there_is_an_error_not_a_blank_record() {
    let sandbox = Sandbox::new();
    let pg = registered(&sandbox, &["orders"]);
    let ran = pgacct(&sandbox, &pg)
        .args("user show --env qa --db orders nobody")
        .expect(1)
        .stderr_is(&format!(
            "error: role nobody does not exist on 127.0.0.1:{} (qa/orders)\n\
             hint: the roles there: pgacct user list --env qa --db orders\n",
            pg.port()
        ))
        .run();
    assert_eq!(ran.stdout, "");
    // For a program, the row is there, with its error.
    let rows = pgacct(&sandbox, &pg).args("user show --env qa --db orders nobody").expect(1).rows();
    assert!(rows[0]["error"].as_str().unwrap().contains("does not exist"), "{rows:?}");
}

fn a_question_names_its_targets_as_a_sentence() {
    let sandbox = Sandbox::new();
    let pg = registered(&sandbox, &["orders", "billing"]);
    let vars = [("PGACCT_ADMIN_PASSWORD", pg.password())];
    let (shown, code) = on_a_terminal(
        &sandbox,
        "user create --env qa --all --type dba ivan",
        &vars,
        "Create dba user ivan on qa/billing and qa/orders?",
        "n",
    );
    assert_eq!(code, 1, "{shown}");
    assert!(shown.contains("nothing was changed"), "{shown}");
}

fn roles_are_listed_in_natural_order() {
    let sandbox = Sandbox::new();
    let pg = registered(&sandbox, &["orders"]);
    pg.client().batch_execute("CREATE ROLE m10; CREATE ROLE m2; CREATE ROLE m1").unwrap();
    let rows = pgacct(&sandbox, &pg).args("user list --env qa --all --name m*").rows();
    let names: Vec<&str> = rows.iter().map(|r| r["role"].as_str().unwrap()).collect();
    assert_eq!(names, ["m1", "m2", "m10"]);
}
