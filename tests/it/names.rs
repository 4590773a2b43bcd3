//! Names from the outside world (DESIGN.md §5 "Names"): host and service
//! names with hyphens, dots and capitals are spelt as role names, and the
//! mapping is shown; a NAME given verbatim is refused when it breaks the
//! rule, with its spelling as a hint. Checked in `pg_roles` of a real
//! cluster, and refusals before any connection.

use libtest_mimic::Trial;
use serde_json::{Value, json};

use crate::support::runner::test;
use crate::support::{Cluster, Run, Sandbox};

pub fn tests() -> Vec<Trial> {
    vec![
        test!(hyphenated_service_and_host_names_make_mapped_roles),
        test!(the_mapping_is_shown_by_a_dry_run),
        test!(a_verbatim_name_is_refused_with_its_spelling_as_a_hint),
        test!(server_name_short_takes_the_first_label),
        test!(values_that_cannot_make_a_name_are_refused_before_any_connection),
    ]
}

/// A cluster with database `orders`, registered as `qa/orders`.
fn qa_orders(sandbox: &Sandbox) -> Cluster {
    let pg = Cluster::start();
    pg.client().batch_execute("CREATE DATABASE orders").unwrap();
    sandbox.register("qa", "orders", &pg, &[]);
    pg
}

fn pgacct(sandbox: &Sandbox, pg: &Cluster) -> Run {
    Run::new(sandbox).env("PGACCT_ADMIN_PASSWORD", pg.password())
}

/// The login roles of the cluster whose names start with `prefix`.
fn roles_like(pg: &Cluster, prefix: &str) -> Vec<String> {
    pg.client()
        .query(
            "SELECT rolname::text FROM pg_roles WHERE rolcanlogin AND starts_with(rolname, $1)
              ORDER BY 1",
            &[&prefix],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn search_path_in(pg: &Cluster, role: &str, db: &str) -> Vec<String> {
    pg.client()
        .query_opt(
            "SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
               JOIN pg_database d ON d.oid = s.setdatabase WHERE r.rolname = $1 AND d.datname = $2",
            &[&role, &db],
        )
        .unwrap()
        .map(|r| r.get(0))
        .unwrap_or_default()
}

fn connections(pg: &Cluster) -> usize {
    pg.log().matches("connection received").count()
}

fn hyphenated_service_and_host_names_make_mapped_roles() {
    let sandbox = Sandbox::new();
    let pg = qa_orders(&sandbox);

    // JSON: the role, and the values it was made of where their spelling
    // changed; the status line on stderr says the same.
    let rows = pgacct(&sandbox, &pg)
        .args("user create-k8s --env qa --db orders --service gear-service")
        .stderr_contains("role qa_gear_service (from service gear-service)\n")
        .rows();
    assert_eq!(rows[0]["user"], "qa_gear_service");
    assert_eq!(rows[0]["status"], "user created");
    assert_eq!(rows[0]["name_from"], json!({"service": "gear-service"}));
    let password = rows[0]["password"].as_str().unwrap();
    assert!(pg.login("orders", "qa_gear_service", password).is_ok());
    assert_eq!(search_path_in(&pg, "qa_gear_service", "orders"), ["search_path=public"]);

    // The table: the mapped role in its row, the mapping on stderr.
    let ran = pgacct(&sandbox, &pg)
        .args("user create-vm --env qa --db orders --server web-01.example.com --service-port 8080")
        .stderr_contains("role web_01_example_com_8080 (from server web-01.example.com)\n")
        .run();
    assert!(ran.stdout.contains("web_01_example_com_8080"), "{}", ran.stdout);
    assert!(ran.stdout.contains("user created"), "{}", ran.stdout);
    assert_eq!(roles_like(&pg, "web_"), ["web_01_example_com_8080"]);

    // The same values again: the same role, which exists.
    let again = pgacct(&sandbox, &pg)
        .args("user create-vm --env qa --db orders --server WEB-01.Example.COM --service-port 8080")
        .stderr_contains("role web_01_example_com_8080 (from server WEB-01.Example.COM)")
        .rows();
    assert_eq!(again[0]["status"], "user already exists");
    assert_eq!(again[0]["password"], Value::Null);

    // A name that needed no mapping says nothing more (stderr stays empty).
    let rows =
        pgacct(&sandbox, &pg).args("user create-k8s --env qa --db orders --service plain").rows();
    assert_eq!(rows[0]["user"], "qa_plain");
    assert_eq!(rows[0]["name_from"], Value::Null);
    assert_eq!(roles_like(&pg, "qa"), ["qa_gear_service", "qa_plain"]);

    // An env with a hyphen is its own k8s prefix, spelt too; --prefix as well.
    let other = Cluster::builder().password(pg.password()).start();
    sandbox.register("qa-2", "postgres", &other, &[]);
    let rows = pgacct(&sandbox, &pg)
        .args("user create-k8s --env qa-2 --db postgres --service Gear.Service --prefix Team-A")
        .stderr_contains("role team_a_gear_service (from prefix Team-A, service Gear.Service)")
        .rows();
    assert_eq!(rows[0]["user"], "team_a_gear_service");
    assert_eq!(rows[0]["name_from"], json!({"prefix": "Team-A", "service": "Gear.Service"}));
    let rows = pgacct(&sandbox, &pg)
        .args("user create-k8s --env qa-2 --db postgres --service gear")
        .stderr_contains("role qa_2_gear (from prefix qa-2)")
        .rows();
    assert_eq!(rows[0]["user"], "qa_2_gear");
    assert_eq!(roles_like(&other, "qa_"), ["qa_2_gear"]);
    assert_eq!(roles_like(&other, "team_"), ["team_a_gear_service"]);
    let audit = Run::new(&sandbox).args("audit show --operation user.create").rows();
    let mut audited: Vec<&str> = audit.iter().map(|r| r["role"].as_str().unwrap()).collect();
    audited.sort_unstable();
    audited.dedup();
    assert_eq!(
        audited,
        [
            "qa_2_gear",
            "qa_gear_service",
            "qa_plain",
            "team_a_gear_service",
            "web_01_example_com_8080"
        ]
    );
}

fn the_mapping_is_shown_by_a_dry_run() {
    let sandbox = Sandbox::new();
    let pg = qa_orders(&sandbox);
    let create = "user create-vm --env qa --db orders --server WEB-02 --service-port 80 --dry-run";
    let stdout = pgacct(&sandbox, &pg)
        .args(create)
        .stderr_contains("--dry-run: nothing was changed")
        .run()
        .stdout;
    assert!(stdout.starts_with("-- role web_02_80 (from server WEB-02)\n"), "{stdout}");
    assert!(stdout.contains(r#"CREATE ROLE "web_02_80" WITH LOGIN"#), "{stdout}");
    let rows =
        pgacct(&sandbox, &pg).args(create).stderr_contains("--dry-run: nothing was changed").rows();
    assert_eq!(rows[0]["user"], "web_02_80");
    assert_eq!(rows[0]["name_from"], json!({"server": "WEB-02"}));
    assert_eq!(roles_like(&pg, "web"), Vec::<String>::new());
}

fn a_verbatim_name_is_refused_with_its_spelling_as_a_hint() {
    let sandbox = Sandbox::new();
    let pg = qa_orders(&sandbox);
    let before = connections(&pg);
    for command in [
        "user create --env qa --db orders --type devqa",
        "user reset-password --env qa --db orders",
        "user drop --env qa --db orders --yes",
    ] {
        pgacct(&sandbox, &pg)
            .args(command)
            .arg("Web-Admin")
            .expect(2)
            .stderr_contains("error: invalid role name 'Web-Admin'")
            .stderr_contains("hint: did you mean web_admin?")
            .run();
    }
    // A type whose template puts NAME into a longer name: the NAME to give.
    sandbox.write_config("[types.app]\ntemplate = \"app_{env}_{name}\"\n");
    pgacct(&sandbox, &pg)
        .args("user create --env qa --db orders --type app Billing")
        .expect(2)
        .stderr_contains("invalid role name 'app_qa_Billing'")
        .stderr_contains("hint: did you mean billing? (the role would be app_qa_billing)")
        .run();
    // No hint where the spelling breaks the rule too.
    let ran = pgacct(&sandbox, &pg)
        .args("user create --env qa --db orders --type devqa PG-Admin")
        .expect(2)
        .stderr_contains("invalid role name 'PG-Admin'")
        .run();
    assert!(!ran.stderr.contains("hint:"), "{}", ran.stderr);

    assert_eq!(connections(&pg), before, "pgacct connected");
    assert_eq!(roles_like(&pg, "web_admin"), Vec::<String>::new());
    let audit = Run::new(&sandbox).args("audit show --operation user").rows();
    assert!(audit.is_empty(), "{audit:?}");

    // Given as the hint says, it is made.
    let rows = pgacct(&sandbox, &pg)
        .args("user create --env qa --db orders --type devqa web_admin")
        .rows();
    assert_eq!(rows[0]["status"], "user created");
    assert_eq!(rows[0]["name_from"], Value::Null);
    assert_eq!(roles_like(&pg, "web_admin"), ["web_admin"]);
}

fn server_name_short_takes_the_first_label() {
    let sandbox = Sandbox::new();
    let pg = qa_orders(&sandbox);
    sandbox.write_config("[types.vm]\nserver_name = \"short\"\n");
    let rows = pgacct(&sandbox, &pg)
        .args("user create-vm --env qa --db orders --server web-01.example.com --service-port 8080")
        .stderr_contains("role web_01_8080 (from server web-01.example.com)")
        .rows();
    assert_eq!(rows[0]["user"], "web_01_8080");
    assert_eq!(rows[0]["name_from"], json!({"server": "web-01.example.com"}));
    assert_eq!(search_path_in(&pg, "web_01_8080", "orders"), ["search_path=public"]);

    // An IP address is kept whole; as the start of a name it is refused,
    // with the way out.
    let before = connections(&pg);
    pgacct(&sandbox, &pg)
        .args("user create-vm --env qa --db orders --server 10.0.0.5 --service-port 8080")
        .expect(2)
        .stderr_contains("invalid role name '10_0_0_5_8080'")
        .stderr_contains("from server 10.0.0.5")
        .stderr_contains("hint: a role name starts with a letter or _")
        .stderr_contains("template = \"vm_{server}_{service_port}\"")
        .run();
    assert_eq!(connections(&pg), before, "pgacct connected");
    sandbox.write_config(
        "[types.vm]\nserver_name = \"short\"\ntemplate = \"vm_{server}_{service_port}\"\n",
    );
    let rows = pgacct(&sandbox, &pg)
        .args("user create-vm --env qa --db orders --server 10.0.0.5 --service-port 8080")
        .stderr_contains("role vm_10_0_0_5_8080 (from server 10.0.0.5)")
        .rows();
    assert_eq!(rows[0]["status"], "user created");
    assert_eq!(roles_like(&pg, "vm_"), ["vm_10_0_0_5_8080"]);

    // Any other value is refused where it is written, before anything.
    let before = connections(&pg);
    sandbox.write_config("[types.vm]\nconnection_limit = 10\nserver_name = \"long\"\n");
    pgacct(&sandbox, &pg)
        .args("user create-vm --env qa --db orders --server web-01 --service-port 80")
        .expect(2)
        .stderr_contains("config.toml")
        .stderr_contains("line 3")
        .stderr_contains("server_name is \"full\" (the whole host name) or \"short\"")
        .run();
    assert_eq!(connections(&pg), before, "pgacct connected");
}

fn values_that_cannot_make_a_name_are_refused_before_any_connection() {
    let sandbox = Sandbox::new();
    let pg = qa_orders(&sandbox);
    let before = connections(&pg);
    let long_host = format!("{}.example.com", "web-01".repeat(9));
    let target = "--env qa --db orders";
    for (args, what, hint) in [
        (
            format!("user create-vm {target} --server web-01{{service_port}} --service-port 80"),
            "--server 'web-01{service_port}' contains a brace",
            None,
        ),
        (
            format!("user create-k8s {target} --service gear-{{prefix}}"),
            "--service 'gear-{prefix}' contains a brace",
            None,
        ),
        (
            format!("user create-k8s {target} --service ... --prefix dv"),
            "--service '...' has no letter or digit",
            None,
        ),
        (
            format!("user create-vm {target} --server {long_host} --service-port 8080"),
            "is 71 bytes long; PostgreSQL allows at most 63",
            Some("hint: server_name = \"short\" in [types.vm]"),
        ),
        (
            format!("user create-vm {target} --server PG-01 --service-port 80"),
            "role name 'pg_01_80' is refused: names starting with pg_ belong to PostgreSQL",
            None,
        ),
    ] {
        let mut run = pgacct(&sandbox, &pg).args(&args).expect(2).stderr_contains("error: ");
        run = run.stderr_contains(what);
        if let Some(hint) = hint {
            run = run.stderr_contains(hint);
        }
        run.run();
    }
    assert_eq!(connections(&pg), before, "pgacct connected");
    let audit = Run::new(&sandbox).args("audit show --operation user").rows();
    assert!(audit.is_empty(), "{audit:?}");
}
