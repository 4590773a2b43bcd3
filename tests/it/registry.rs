//! `pgacct registry ...` as a user runs it: every command in every format,
//! validation before anything is written, and a registry file that is
//! safe under concurrency and never damaged when it is not ours.

use libtest_mimic::Trial;

use crate::support::runner::test;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;

use predicates::prelude::*;
use predicates::str::contains;
use serde_json::{Value, json};

use crate::support::{Run, Sandbox, add_twenty_targets_at_once};

pub fn tests() -> Vec<Trial> {
    vec![
        test!(add_then_list_and_show_in_every_format),
        test!(machine_formats_print_the_changed_entry),
        test!(update_changes_only_what_is_given),
        test!(deactivate_activate_and_remove),
        test!(adding_an_existing_target_fails_with_a_hint),
        test!(dry_run_writes_nothing),
        test!(import_csv_in_both_spellings_and_toml_skipping_what_exists),
        test!(a_bad_row_imports_nothing),
        test!(export_round_trips_through_import_in_every_format),
        test!(invalid_input_is_refused_with_exit_2_before_anything_is_written),
        test!(certificate_paths_are_stored_absolute),
        test!(a_file_that_is_not_sqlite_is_left_untouched),
        test!(another_programs_sqlite_database_is_left_untouched),
        test!(a_registry_from_a_newer_pgacct_is_refused_and_not_modified),
        test!(reading_a_registry_that_does_not_exist_says_so),
        test!(the_registry_is_private_to_its_owner),
        test!(twenty_concurrent_adds_all_succeed),
        test!(a_closed_stdout_pipe_ends_quietly),
        test!(quiet_silences_status_lines),
        test!(help_and_version_exit_0_and_unknown_commands_exit_2),
    ]
}

fn add(sandbox: &Sandbox, env: &str, db: &str, host: &str) {
    Run::new(sandbox)
        .args(&format!("registry add --env {env} --db {db} --host {host}"))
        .stderr_contains(&format!("added {env}/{db}"))
        .run();
}

/// The JSON a command prints; changing commands also say what they did on
/// stderr.
fn json_of(sandbox: &Sandbox, args: &[&str]) -> Value {
    Run::new(sandbox).args(&args.join(" ")).any_stderr().json()
}

fn stdout_of(sandbox: &Sandbox, args: &[&str]) -> String {
    Run::new(sandbox).args(&args.join(" ")).run().stdout
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn add_then_list_and_show_in_every_format() {
    let sandbox = Sandbox::new();
    sandbox
        .pgacct()
        .args(["registry", "add", "--env", "prod", "--db", "orders", "--host", "db1.example.com"])
        .args(["--port", "6432", "--sslmode", "verify-full", "--sslrootcert", "system"])
        .args(["--admin-user", "dba_admin", "--notes", "main shop, EU"])
        .assert()
        .success()
        .stdout("")
        .stderr("added prod/orders (db1.example.com:6432)\n");
    add(&sandbox, "dev", "orders", "/var/run/postgresql");

    let table = stdout_of(&sandbox, &["registry", "list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(lines[0].contains("env") && lines[0].contains("host") && lines[0].contains("active"));
    assert!(lines[2].starts_with(" dev "), "sorted by env: {table}");
    assert!(lines[3].contains("db1.example.com") && lines[3].contains("6432"), "{table}");
    assert!(lines[3].contains("verify-full") && lines[3].contains("main shop, EU"), "{table}");

    let list = json_of(&sandbox, &["registry", "list"]);
    let prod = &list.as_array().unwrap()[1];
    for (field, value) in [
        ("env", json!("prod")),
        ("db", json!("orders")),
        ("host", json!("db1.example.com")),
        ("port", json!(6432)),
        ("sslmode", json!("verify-full")),
        ("sslrootcert", json!("system")),
        ("sslcert", Value::Null),
        ("sslkey", Value::Null),
        ("admin_user", json!("dba_admin")),
        ("active", json!(true)),
        ("notes", json!("main shop, EU")),
    ] {
        assert_eq!(prod[field], value, "{field} in {prod}");
    }
    let created = prod["created_at"].as_str().unwrap();
    assert!(created.ends_with('Z') && created.len() == 24, "{created}");

    let csv = stdout_of(&sandbox, &["registry", "list", "--format", "csv"]);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(&headers[0], "env");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    assert_eq!(&rows[1][column("notes")], "main shop, EU");
    assert_eq!(&rows[1][column("active")], "true");
    assert_eq!(&rows[0][column("sslmode")], "");

    let shown = json_of(&sandbox, &["registry", "show", "--env", "prod", "--db", "orders"]);
    assert_eq!(&shown, prod);
    let table = stdout_of(&sandbox, &["registry", "show", "--env", "prod", "--db", "orders"]);
    assert!(table.lines().any(|l| l.split_whitespace().eq(["port", "6432"])), "{table}");
    let csv = stdout_of(
        &sandbox,
        &["registry", "show", "--env", "prod", "--db", "orders", "--format", "csv"],
    );
    assert_eq!(csv.lines().count(), 2, "{csv}");

    let only_dev = json_of(&sandbox, &["registry", "list", "--env", "dev"]);
    assert_eq!(only_dev.as_array().unwrap().len(), 1);
}

fn machine_formats_print_the_changed_entry() {
    let sandbox = Sandbox::new();
    let added =
        json_of(&sandbox, &["registry", "add", "--env", "qa", "--db", "app", "--host", "h1"]);
    assert_eq!(added["db"], "app");
    assert_eq!(added["port"], 5432);
    let removed = json_of(&sandbox, &["registry", "remove", "--env", "qa", "--db", "app"]);
    assert_eq!(removed["host"], "h1");
}

fn update_changes_only_what_is_given() {
    let sandbox = Sandbox::new();
    sandbox
        .pgacct()
        .args(["registry", "add", "--env", "qa", "--db", "app", "--host", "h1", "--notes", "old"])
        .args(["--sslmode", "require"])
        .assert()
        .success();
    let before = json_of(&sandbox, &["registry", "show", "--env", "qa", "--db", "app"]);
    std::thread::sleep(std::time::Duration::from_millis(5));
    sandbox
        .pgacct()
        .args(["registry", "update", "--env", "qa", "--db", "app", "--port", "6543"])
        .args(["--unset", "notes", "--admin-user", "ops"])
        .assert()
        .success()
        .stderr("updated qa/app (h1:6543)\n");
    let after = json_of(&sandbox, &["registry", "show", "--env", "qa", "--db", "app"]);
    assert_eq!(after["port"], 6543);
    assert_eq!(after["notes"], Value::Null);
    assert_eq!(after["admin_user"], "ops");
    assert_eq!(after["host"], "h1");
    assert_eq!(after["sslmode"], "require");
    assert_eq!(after["created_at"], before["created_at"]);
    assert_ne!(after["updated_at"], before["updated_at"]);

    sandbox
        .pgacct()
        .args(["registry", "update", "--env", "qa", "--db", "app"])
        .assert()
        .code(2)
        .stderr(contains("error: nothing to update").and(contains("hint: give at least one of")));
    sandbox
        .pgacct()
        .args([
            "registry", "update", "--env", "qa", "--db", "app", "--notes", "x", "--unset", "notes",
        ])
        .assert()
        .code(2)
        .stderr(contains("--notes and --unset notes contradict each other"));
    sandbox
        .pgacct()
        .args(["registry", "update", "--env", "qa", "--db", "nope", "--port", "1"])
        .assert()
        .code(2)
        .stderr(contains("no registry entry for env 'qa' db 'nope'"))
        .stderr(contains("hint: see `pgacct registry list --env qa`"));
}

fn deactivate_activate_and_remove() {
    let sandbox = Sandbox::new();
    add(&sandbox, "qa", "app", "h1");
    add(&sandbox, "qa", "billing", "h1");
    sandbox
        .pgacct()
        .args(["registry", "deactivate", "--env", "qa", "--db", "app"])
        .assert()
        .success()
        .stderr("deactivated qa/app (h1:5432)\n");
    let active = json_of(&sandbox, &["registry", "list", "--active-only"]);
    assert_eq!(active.as_array().unwrap().len(), 1);
    assert_eq!(active[0]["db"], "billing");
    let app = json_of(&sandbox, &["registry", "show", "--env", "qa", "--db", "app"]);
    assert_eq!(app["active"], false);

    sandbox
        .pgacct()
        .args(["registry", "activate", "--env", "qa", "--db", "app"])
        .assert()
        .success();
    let active = json_of(&sandbox, &["registry", "list", "--active-only"]);
    assert_eq!(active.as_array().unwrap().len(), 2);

    sandbox
        .pgacct()
        .args(["registry", "remove", "--env", "qa", "--db", "app"])
        .assert()
        .success()
        .stderr("removed qa/app (h1:5432)\n");
    sandbox
        .pgacct()
        .args(["registry", "show", "--env", "qa", "--db", "app"])
        .assert()
        .code(2)
        .stderr(contains("error: no registry entry for env 'qa' db 'app'"));
    sandbox.pgacct().args(["registry", "remove", "--env", "qa", "--db", "app"]).assert().code(2);
}

fn adding_an_existing_target_fails_with_a_hint() {
    let sandbox = Sandbox::new();
    add(&sandbox, "prod", "orders", "h1");
    sandbox
        .pgacct()
        .args(["registry", "add", "--env", "prod", "--db", "orders", "--host", "h2"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(
            "error: prod/orders is already registered\n\
             hint: to change it, use `pgacct registry update --env prod --db orders ...`\n",
        );
    let shown = json_of(&sandbox, &["registry", "show", "--env", "prod", "--db", "orders"]);
    assert_eq!(shown["host"], "h1");
}

fn dry_run_writes_nothing() {
    let sandbox = Sandbox::new();
    add(&sandbox, "qa", "app", "h1");
    let before = std::fs::read(sandbox.registry()).unwrap();
    for args in [
        &["registry", "add", "--env", "qa", "--db", "new", "--host", "h2"][..],
        &["registry", "update", "--env", "qa", "--db", "app", "--port", "7777"],
        &["registry", "deactivate", "--env", "qa", "--db", "app"],
        &["registry", "remove", "--env", "qa", "--db", "app"],
    ] {
        sandbox
            .pgacct()
            .args(args)
            .arg("--dry-run")
            .assert()
            .success()
            .stderr(contains("would ").and(contains("nothing written (--dry-run)")));
    }
    let list = json_of(&sandbox, &["registry", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["port"], 5432);
    assert_eq!(list[0]["active"], true);
    assert_eq!(std::fs::read(sandbox.registry()).unwrap(), before);

    let file = sandbox.write("more.csv", "env,db,host\nqa,app,h1\nqa,other,h2\n");
    let report = json_of(&sandbox, &["registry", "import", file.to_str().unwrap(), "--dry-run"]);
    assert_eq!(report[0]["result"], "skipped");
    assert_eq!(report[1]["result"], "would add");
    assert_eq!(json_of(&sandbox, &["registry", "list"]).as_array().unwrap().len(), 1);
}

fn import_csv_in_both_spellings_and_toml_skipping_what_exists() {
    let sandbox = Sandbox::new();
    let current = sandbox.write(
        "current.csv",
        "env,db,host,port,active,notes\n\
         prod,orders,db1,5432,true,main\n\
         prod,billing,db1,5432,false,\n",
    );
    let legacy = sandbox.write(
        "legacy.csv",
        "id,env,db_name,hostname,port,active,notes,created_at\n\
         1,qa,orders,qa-db,5433,1,from the flask app,2024-01-01 10:00:00\n\
         2,prod,orders,db1,5432,1,main,2024-01-01 10:00:00\n",
    );
    let toml = sandbox.write(
        "more.toml",
        "[[targets]]\nenv = \"uat\"\ndb = \"orders\"\nhost = \"uat-db\"\nsslmode = \"require\"\n\n\
         [[targets]]\nenv = \"prod\"\ndb = \"billing\"\nhost = \"db2\"\n",
    );

    let report = json_of(&sandbox, &["registry", "import", current.to_str().unwrap()]);
    assert_eq!(
        report,
        json!([
            {"env": "prod", "db": "orders", "cluster": "db1:5432", "result": "added", "detail": ""},
            {"env": "prod", "db": "billing", "cluster": "db1:5432", "result": "added", "detail": ""},
        ])
    );

    let out = sandbox.pgacct().args(["registry", "import"]).arg(&legacy).assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout);
    assert!(stdout.lines().any(|l| l.contains("qa") && l.contains("added")), "{stdout}");
    assert!(stdout.lines().any(|l| l.contains("prod") && l.contains("skipped")), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.get_output().stderr);
    assert_eq!(stderr, "added 1, skipped 1 already registered\n");

    let report = json_of(&sandbox, &["registry", "import", toml.to_str().unwrap()]);
    assert_eq!(report[0]["result"], "added");
    assert_eq!(report[1]["result"], "skipped");
    assert_eq!(report[1]["detail"], "already registered; the file differs in host, active");

    let qa = json_of(&sandbox, &["registry", "show", "--env", "qa", "--db", "orders"]);
    assert_eq!(qa["host"], "qa-db");
    assert_eq!(qa["port"], 5433);
    assert_eq!(qa["notes"], "from the flask app");
    let uat = json_of(&sandbox, &["registry", "show", "--env", "uat", "--db", "orders"]);
    assert_eq!(uat["sslmode"], "require");
    let billing = json_of(&sandbox, &["registry", "show", "--env", "prod", "--db", "billing"]);
    assert_eq!(billing["active"], false);
    assert_eq!(billing["host"], "db1", "an import never overwrites");

    // Importing everything again changes nothing.
    let before = json_of(&sandbox, &["registry", "list"]);
    for file in [&current, &legacy, &toml] {
        let report = json_of(&sandbox, &["registry", "import", file.to_str().unwrap()]);
        assert!(report.as_array().unwrap().iter().all(|r| r["result"] == "skipped"), "{report}");
    }
    assert_eq!(json_of(&sandbox, &["registry", "list"]), before);
}

fn a_bad_row_imports_nothing() {
    let sandbox = Sandbox::new();
    let file = sandbox.write("bad.csv", "env,db,host,port\nqa,one,h1,5432\nqa,two,h1,99999\n");
    sandbox
        .pgacct()
        .args(["registry", "import"])
        .arg(&file)
        .assert()
        .code(2)
        .stdout("")
        .stderr(contains("bad.csv: line 3: invalid port 99999: use 1 to 65535"));
    assert!(!sandbox.registry().exists(), "the registry was created for a refused import");

    let unknown = sandbox.write("cols.csv", "env,database,host\n");
    sandbox
        .pgacct()
        .args(["registry", "import"])
        .arg(&unknown)
        .assert()
        .code(2)
        .stderr(contains("unknown column 'database'"));
    let toml = sandbox.write("bad.toml", "[[targets]]\nenv = \"qa\"\ndb = \"x\"\nhots = \"h\"\n");
    sandbox
        .pgacct()
        .args(["registry", "import"])
        .arg(&toml)
        .assert()
        .code(2)
        .stderr(contains("bad.toml").and(contains("hots")));
}

fn export_round_trips_through_import_in_every_format() {
    let sandbox = Sandbox::new();
    let ca = sandbox.write("ca.pem", "not checked here");
    let cert = sandbox.write("client.pem", "cert");
    let key = sandbox.write("client.key", "key");
    sandbox
        .pgacct()
        .args(["registry", "add", "--env", "prod", "--db", "orders", "--host", "db1"])
        .args(["--sslmode", "verify-ca", "--sslrootcert"])
        .arg(&ca)
        .arg("--sslcert")
        .arg(&cert)
        .arg("--sslkey")
        .arg(&key)
        .args(["--notes", "quotes \" and, commas", "--inactive"])
        .assert()
        .success();
    add(&sandbox, "dev", "orders", "/var/run/postgresql");
    let original = json_of(&sandbox, &["registry", "list"]);
    let strip = |list: &Value| -> Vec<Value> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let mut e = e.clone();
                e.as_object_mut().unwrap().retain(|k, _| !k.ends_with("_at"));
                e
            })
            .collect()
    };

    for format in ["csv", "json", "toml"] {
        let exported = stdout_of(&sandbox, &["registry", "export", "--format", format]);
        let other = Sandbox::new();
        let file = other.write(&format!("inventory.{format}"), &exported);
        other.pgacct().args(["registry", "import"]).arg(&file).assert().success();
        let imported = json_of(&other, &["registry", "list"]);
        assert_eq!(strip(&imported), strip(&original), "{format} round trip:\n{exported}");
    }

    // Without --format, export writes CSV; the list's JSON imports too.
    let csv = stdout_of(&sandbox, &["registry", "export"]);
    assert!(csv.starts_with("env,db,host,port,sslmode,"), "{csv}");
    let other = Sandbox::new();
    let listed = other.write("listed.json", original.to_string());
    other.pgacct().args(["registry", "import"]).arg(&listed).assert().success();
    assert_eq!(strip(&json_of(&other, &["registry", "list"])), strip(&original));
}

fn invalid_input_is_refused_with_exit_2_before_anything_is_written() {
    let sandbox = Sandbox::new();
    let base = ["registry", "add", "--env", "qa", "--db", "app", "--host", "h1"];
    let cases: &[(&[&str], &str)] = &[
        (
            &["registry", "add", "--env", "Prod", "--db", "a", "--host", "h"],
            "invalid env name 'Prod'",
        ),
        (&["registry", "add", "--env=-qa", "--db", "a", "--host", "h"], "invalid env name"),
        (
            &["registry", "add", "--env", &"e".repeat(33), "--db", "a", "--host", "h"],
            "invalid env name",
        ),
        (
            &["registry", "add", "--env", "qa", "--db", "", "--host", "h"],
            "database name must not be empty",
        ),
        (
            &["registry", "add", "--env", "qa", "--db", &"d".repeat(64), "--host", "h"],
            "is 64 bytes long; PostgreSQL allows at most 63",
        ),
        (&["registry", "add", "--env", "qa", "--db", "a", "--host", ""], "host must not be empty"),
        (&[&base[..], &["--port", "0"]].concat(), "0 is not in 1..=65535"),
        (&[&base[..], &["--port", "65536"]].concat(), "65536 is not in 1..=65535"),
        (&[&base[..], &["--port", "abc"]].concat(), "invalid digit"),
        (
            &[&base[..], &["--sslmode", "verify_full"]].concat(),
            "possible values: disable, allow, prefer",
        ),
        (
            &[&base[..], &["--sslrootcert", "missing-ca.pem"]].concat(),
            "sslrootcert 'missing-ca.pem'",
        ),
        (&[&base[..], &["--sslcert", "missing.pem"]].concat(), "sslcert 'missing.pem'"),
        (&[&base[..], &["--sslkey", "missing.key"]].concat(), "sslkey 'missing.key'"),
        (&["registry", "add", "--env", "qa", "--db", "a"], "--host <HOST>"),
        (&["registry", "list", "--format", "toml"], "does not write --format toml"),
    ];
    for (args, message) in cases {
        sandbox
            .pgacct()
            .args(*args)
            .assert()
            .code(2)
            .stdout("")
            .stderr(contains(*message).and(contains("error")));
    }
    sandbox.write("client.pem", "cert");
    sandbox
        .pgacct()
        .args(base)
        .args(["--sslcert", "client.pem"])
        .assert()
        .code(2)
        .stderr("error: sslcert is set but sslkey is not; give both\n");
    assert!(!sandbox.registry().exists(), "invalid input created the registry");
}

fn certificate_paths_are_stored_absolute() {
    let sandbox = Sandbox::new();
    sandbox.write("ca.pem", "x");
    sandbox
        .pgacct()
        .args(["registry", "add", "--env", "qa", "--db", "app", "--host", "h1"])
        .args(["--sslrootcert", "ca.pem"])
        .assert()
        .success();
    let shown = json_of(&sandbox, &["registry", "show", "--env", "qa", "--db", "app"]);
    assert_eq!(shown["sslrootcert"], sandbox.path().join("ca.pem").to_str().unwrap());
}

fn a_file_that_is_not_sqlite_is_left_untouched() {
    let sandbox = Sandbox::new();
    let original = b"env,db,host\nthis is somebody's CSV, not a registry\n".to_vec();
    std::fs::write(sandbox.registry(), &original).unwrap();
    for args in
        [&["registry", "list"][..], &["registry", "add", "--env", "qa", "--db", "a", "--host", "h"]]
    {
        sandbox
            .pgacct()
            .args(args)
            .assert()
            .code(2)
            .stderr(contains("registry.db is not a pgacct registry: not a SQLite database"))
            .stderr(contains("hint: check --registry / PGACCT_REGISTRY"));
    }
    assert_eq!(std::fs::read(sandbox.registry()).unwrap(), original);
    let leftovers: Vec<_> = std::fs::read_dir(sandbox.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("registry.db-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn another_programs_sqlite_database_is_left_untouched() {
    let sandbox = Sandbox::new();
    let conn = rusqlite::Connection::open(sandbox.registry()).unwrap();
    conn.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine');")
        .unwrap();
    drop(conn);
    let original = std::fs::read(sandbox.registry()).unwrap();
    sandbox
        .pgacct()
        .args(["registry", "add", "--env", "qa", "--db", "a", "--host", "h"])
        .assert()
        .code(2)
        .stderr(contains("a SQLite database that belongs to another program"));
    assert_eq!(std::fs::read(sandbox.registry()).unwrap(), original);
}

fn a_registry_from_a_newer_pgacct_is_refused_and_not_modified() {
    let sandbox = Sandbox::new();
    add(&sandbox, "qa", "app", "h1");
    let conn = rusqlite::Connection::open(sandbox.registry()).unwrap();
    conn.pragma_update(None, "user_version", 999).unwrap();
    conn.pragma_update(None, "wal_checkpoint", "TRUNCATE").unwrap();
    drop(conn);
    let original = std::fs::read(sandbox.registry()).unwrap();
    for args in
        [&["registry", "list"][..], &["registry", "add", "--env", "qa", "--db", "b", "--host", "h"]]
    {
        sandbox
            .pgacct()
            .args(args)
            .assert()
            .code(1)
            .stderr(contains("has schema version 999, but this pgacct knows only up to"))
            .stderr(contains("hint: a newer pgacct wrote this registry; upgrade pgacct"));
    }
    assert_eq!(std::fs::read(sandbox.registry()).unwrap(), original);
}

fn reading_a_registry_that_does_not_exist_says_so() {
    let sandbox = Sandbox::new();
    sandbox
        .pgacct()
        .args(["registry", "list"])
        .assert()
        .code(1)
        .stderr(contains("registry.db does not exist").and(contains("hint: register a target")));
    assert!(!sandbox.registry().exists());
}

fn the_registry_is_private_to_its_owner() {
    let sandbox = Sandbox::new();
    add(&sandbox, "qa", "app", "h1");
    assert_eq!(mode_of(&sandbox.registry()), 0o600);
    for suffix in ["-wal", "-shm"] {
        let side = sandbox.path().join(format!("registry.db{suffix}"));
        if side.exists() {
            assert_eq!(mode_of(&side), 0o600, "{}", side.display());
        }
    }

    // The default location, in the platform data directory.
    let mut cmd = sandbox.pgacct();
    cmd.env_remove("PGACCT_REGISTRY")
        .args(["registry", "add", "--env", "qa", "--db", "app", "--host", "h1", "-v"])
        .assert()
        .success()
        .stderr(contains(".local/share/pgacct/pgacct.db"));
    let default = sandbox.path().join("home/.local/share/pgacct/pgacct.db");
    assert_eq!(mode_of(&default), 0o600);
    assert_eq!(mode_of(default.parent().unwrap()), 0o700);
}

fn twenty_concurrent_adds_all_succeed() {
    let sandbox = Sandbox::new();
    add_twenty_targets_at_once(&sandbox);
    let list = json_of(&sandbox, &["registry", "list"]);
    let dbs: Vec<&str> =
        list.as_array().unwrap().iter().map(|e| e["db"].as_str().unwrap()).collect();
    let expected: Vec<String> = (0..20).map(|i| format!("db{i:02}")).collect();
    assert_eq!(dbs, expected);
}

fn a_closed_stdout_pipe_ends_quietly() {
    let sandbox = Sandbox::new();
    let mut csv = String::from("env,db,host,notes\n");
    for i in 0..3000 {
        writeln!(csv, "load,db{i:05},host{i}.example.com,padding padding padding").unwrap();
    }
    let file = sandbox.write("many.csv", csv);
    sandbox
        .pgacct()
        .args(["registry", "import", "-q"])
        .arg(&file)
        .assert()
        .success()
        .stdout(predicate::str::is_empty().not());

    for format in ["table", "csv", "json"] {
        let mut child = sandbox
            .std_command()
            .args(["registry", "list", "--format", format])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
        assert!(!first.is_empty());
        // The reader is gone now, like `| head -1`.
        let out = child.wait_with_output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{format}");
        assert!(out.status.success(), "{format}: {:?}", out.status);
    }
}

fn quiet_silences_status_lines() {
    let sandbox = Sandbox::new();
    sandbox
        .pgacct()
        .args(["-q", "registry", "add", "--env", "qa", "--db", "app", "--host", "h1"])
        .assert()
        .success()
        .stdout("")
        .stderr("");
}

fn help_and_version_exit_0_and_unknown_commands_exit_2() {
    let sandbox = Sandbox::new();
    sandbox.pgacct().arg("--help").assert().success().stdout(contains("registry"));
    sandbox
        .pgacct()
        .arg("--version")
        .assert()
        .success()
        .stdout(format!("pgacct {}\n", env!("CARGO_PKG_VERSION")));
    sandbox.pgacct().arg("frobnicate").assert().code(2).stderr(contains("unrecognized subcommand"));
    sandbox.pgacct().assert().code(2);
}
