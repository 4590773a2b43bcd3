//! Hostile input to the policy: values filled into a name template,
//! numbers and durations out of range in `config.toml`, and account types
//! that would hand out power beyond the database. Each is refused with
//! exit 2 before any connection or write: the registry file stays as it
//! was and the audit trail records nothing.

use std::path::PathBuf;

use libtest_mimic::Trial;

use crate::support::fleet::{Admin, Fleet};
use crate::support::run::Run;
use crate::support::runner::{every_setup, test};
use crate::support::{Cluster, Sandbox};

pub fn tests() -> Vec<Trial> {
    let mut tests = vec![
        test!(braces_in_filled_values_are_refused_before_any_connection),
        test!(config_values_out_of_range_are_refused_before_anything),
        test!(a_bad_config_creates_no_registry),
        test!(privileged_memberships_are_refused_when_the_config_is_read),
    ];
    tests.extend(every_setup!(the_plan_refuses_groups_that_lead_to_privilege));
    tests
}

/// The registry file and its WAL companions, byte for byte.
fn registry_files(sandbox: &Sandbox) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(sandbox.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.file_name().unwrap().to_string_lossy().starts_with("registry.db"))
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    files.sort();
    files
}

/// The audit records of user operations: none, after a refusal.
fn user_records(sandbox: &Sandbox) -> Vec<serde_json::Value> {
    Run::new(sandbox).args("audit show --operation user").rows()
}

/// A target no server answers at: a command that tried to connect would
/// fail with exit 1, not refuse with exit 2.
fn register_unreachable(sandbox: &Sandbox) {
    Run::new(sandbox)
        .args("registry add --env qa --db orders --host 127.0.0.1 --port 1 --admin-user postgres")
        .stderr_contains("added qa/orders")
        .run();
}

fn braces_in_filled_values_are_refused_before_any_connection() {
    let sandbox = Sandbox::new();
    let pg = Cluster::start();
    pg.client().batch_execute("CREATE DATABASE orders").unwrap();
    sandbox.register("qa", "orders", &pg, &[]);
    sandbox.write_config("[types.app]\ntemplate = \"app_{env}_{name}\"\n");
    let connections_before = pg.log().matches("connection received").count();
    let files_before = registry_files(&sandbox);

    // Filled one after another, `a{service_port}` became a8080_8080 and
    // `{service}` as the prefix became gear_gear: both valid names.
    let target = "--env qa --db orders";
    for (args, what) in [
        (
            format!("user create-vm {target} --server a{{service_port}} --service-port 8080"),
            "--server 'a{service_port}' contains a brace",
        ),
        (
            format!("user create-k8s {target} --service gear --prefix {{service}}"),
            "the k8s prefix (--prefix, or k8s_prefix in config.toml) '{service}' contains a brace",
        ),
        (
            format!("user create-k8s {target} --service {{prefix}}_x --prefix dv"),
            "--service '{prefix}_x' contains a brace",
        ),
        (format!("user create {target} --type app {{env}}"), "NAME '{env}' contains a brace"),
        (format!("user create {target} --type devqa {{name}} --dry-run"), "NAME '{name}'"),
    ] {
        Run::new(&sandbox)
            .args(&args)
            .env("PGACCT_ADMIN_PASSWORD", pg.password())
            .expect(2)
            .stderr_contains(&format!("error: {what}"))
            .run();
    }

    // A k8s_prefix in config.toml is refused where it is written.
    sandbox.write_config("[env.qa]\nk8s_prefix = \"{service}\"\n");
    Run::new(&sandbox)
        .args(&format!("user create-k8s {target} --service gear"))
        .env("PGACCT_ADMIN_PASSWORD", pg.password())
        .expect(2)
        .stderr_contains("config.toml")
        .stderr_contains("line 2")
        .stderr_contains("k8s_prefix '{service}' contains a brace")
        .run();

    assert_eq!(pg.log().matches("connection received").count(), connections_before);
    assert_eq!(registry_files(&sandbox), files_before, "the registry was written");
    let roles: i64 = pg
        .client()
        .query_one(
            "SELECT count(*) FROM pg_roles WHERE rolname IN ('a8080_8080', 'gear_gear')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(roles, 0);
    assert_eq!(user_records(&sandbox), Vec::<serde_json::Value>::new());
}

fn config_values_out_of_range_are_refused_before_anything() {
    let sandbox = Sandbox::new();
    register_unreachable(&sandbox);
    let files_before = registry_files(&sandbox);
    // Before: 4000000 days panicked, 600h was accepted and then broke
    // every session, and the rest were taken as they were.
    for (config, line, what) in [
        (
            "[types.devqa]\nvalid_for_days = 4000000\n",
            2,
            "valid_for_days is 1 to 3650, not 4000000",
        ),
        (
            "[types.devqa]\nconnection_limit = 300000\n",
            2,
            "connection_limit is -1 (no limit) to 262143",
        ),
        ("[types.devqa]\n\npassword_length = -1\n", 3, "password_length is 16 to 256, not -1"),
        (
            "[connection]\nstatement_timeout = \"600h\"\n",
            2,
            "statement_timeout is 1s to 24h, not 600h",
        ),
        ("[connection]\nlock_timeout = \"0s\"\n", 2, "lock_timeout is 1ms to 24h, not 0s"),
        ("[connection]\nconnect_timeout = \"2h\"\n", 2, "connect_timeout is 1s to 1h"),
        (
            "[[notify]]\nkind = \"command\"\nprogram = \"true\"\ntimeout = \"2h\"\n",
            4,
            "timeout is 100ms to 10min, not 2h",
        ),
    ] {
        sandbox.write_config(config);
        Run::new(&sandbox)
            .args("user create --env qa --db orders --type devqa alice")
            .env("PGACCT_ADMIN_PASSWORD", "unused")
            .expect(2)
            .stderr_contains("error: invalid configuration file")
            .stderr_contains("config.toml")
            .stderr_contains(&format!("line {line}"))
            .stderr_contains(what)
            .run();
    }
    assert_eq!(registry_files(&sandbox), files_before, "the registry was written");
    assert_eq!(user_records(&sandbox), Vec::<serde_json::Value>::new());
}

fn a_bad_config_creates_no_registry() {
    let sandbox = Sandbox::new();
    sandbox.write_config("[types.devqa]\nvalid_for_days = 4000000\n");
    Run::new(&sandbox)
        .args("user create --env qa --db orders --type devqa alice")
        .expect(2)
        .stderr_contains("valid_for_days is 1 to 3650")
        .run();
    assert_eq!(registry_files(&sandbox), Vec::new(), "a registry was created");
}

fn privileged_memberships_are_refused_when_the_config_is_read() {
    let sandbox = Sandbox::new();
    register_unreachable(&sandbox);
    let files_before = registry_files(&sandbox);
    for (keys, what) in [
        ("member_of = [\"postgres\"]", "member_of: postgres is the bootstrap superuser"),
        (
            "member_of = [\"app\", \"pg_execute_server_program\"]",
            "member_of: pg_execute_server_program",
        ),
        ("member_of = [\"pg_read_server_files\"]", "member_of: pg_read_server_files"),
        ("member_of = [\"pg_write_server_files\"]", "member_of: pg_write_server_files"),
        ("attributes = [\"LOGIN\", \"BYPASSRLS\"]", "attributes: BYPASSRLS"),
    ] {
        sandbox.write_config(&format!("[types.ops]\n{keys}\n"));
        Run::new(&sandbox)
            .args("user create --env qa --db orders --type ops bob")
            .env("PGACCT_ADMIN_PASSWORD", "unused")
            .expect(2)
            .stderr_contains("config.toml")
            .stderr_contains("line 1")
            .stderr_contains(what)
            .stderr_contains("allow_privileged = true")
            .run();
    }
    assert_eq!(registry_files(&sandbox), files_before, "the registry was written");
    assert_eq!(user_records(&sandbox), Vec::<serde_json::Value>::new());

    // Said explicitly, the type loads, and the command goes on to connect.
    sandbox.write_config(
        "[types.ops]\nallow_privileged = true\nmember_of = [\"pg_read_server_files\"]\n",
    );
    let ran = Run::new(&sandbox)
        .args("user create --env qa --db orders --type ops bob --dry-run")
        .env("PGACCT_ADMIN_PASSWORD", "unused")
        .expect(1)
        .stderr_contains("--dry-run: nothing was changed")
        .run();
    assert!(ran.stdout.contains("cannot connect as postgres"), "{}", ran.stdout);
}

/// Which cluster roles are superusers (or have REPLICATION or BYPASSRLS,
/// or reach the server's files) only the cluster knows: the plan asks it,
/// also through a chain of memberships.
fn the_plan_refuses_groups_that_lead_to_privilege(admin: Admin, major: u32) {
    let fleet = Fleet::new(admin, Some(major), &["orders"]);
    fleet
        .pg
        .client()
        .batch_execute(
            "CREATE ROLE root_like SUPERUSER NOLOGIN;
             CREATE ROLE ops_group NOLOGIN; GRANT root_like TO ops_group;
             CREATE ROLE repl NOLOGIN REPLICATION;
             CREATE ROLE rls_free NOLOGIN BYPASSRLS;
             CREATE ROLE file_readers NOLOGIN; GRANT pg_read_server_files TO file_readers;
             CREATE ROLE app_readers NOLOGIN;",
        )
        .unwrap();
    fleet.sandbox.write_config(
        "[types.a]\nmember_of = [\"app_readers\", \"ops_group\"]\n\
         [types.b]\nmember_of = [\"repl\"]\n\
         [types.c]\nmember_of = [\"rls_free\"]\n\
         [types.d]\nmember_of = [\"file_readers\"]\n\
         [types.e]\nmember_of = [\"root_like\"]\n\
         [types.f]\nallow_privileged = true\nmember_of = [\"ops_group\", \"file_readers\"]\n",
    );
    let log_from = fleet.pg.log().len();
    let files_before = registry_files(&fleet.sandbox);
    for (kind, what) in [
        ("a", "role ops_group, which type a joins, is a member of root_like, a superuser"),
        ("b", "role repl, which type b joins, is a role with REPLICATION"),
        ("c", "role rls_free, which type c joins, is a role with BYPASSRLS"),
        (
            "d",
            "role file_readers, which type d joins, is a member of pg_read_server_files, a role \
             with access to the server's files or programs",
        ),
        ("e", "role root_like, which type e joins, is a superuser"),
    ] {
        Run::new(&fleet.sandbox)
            .args(&format!("user create --env qa --db orders --type {kind} bob"))
            .env("PGACCT_ADMIN_PASSWORD", fleet.password())
            .expect(2)
            .stderr_contains(what)
            .stderr_contains(&format!("allow_privileged = true in [types.{kind}]"))
            .run();
    }
    let bob: i64 = fleet
        .pg
        .client()
        .query_one("SELECT count(*) FROM pg_roles WHERE rolname = 'bob'", &[])
        .unwrap()
        .get(0);
    assert_eq!(bob, 0);
    assert!(!fleet.pg.log()[log_from..].contains("CREATE ROLE"), "the plan sent no change");
    assert_eq!(registry_files(&fleet.sandbox), files_before, "the registry was written");
    assert_eq!(user_records(&fleet.sandbox), Vec::<serde_json::Value>::new());

    // A type that says so may join them, where the admin may grant them.
    if admin == Admin::Superuser {
        Run::new(&fleet.sandbox)
            .args("user create --env qa --db orders --type f bob")
            .env("PGACCT_ADMIN_PASSWORD", fleet.password())
            .run();
        let groups: Vec<String> = fleet
            .pg
            .client()
            .query(
                "SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                  JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = 'bob' ORDER BY 1",
                &[],
            )
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        assert_eq!(groups, ["file_readers", "ops_group"]);
    }
}
