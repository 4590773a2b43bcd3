//! `pgacct registry ...` as a user runs it: every command in every format,
//! validation before anything is written, and a registry file that is
//! safe under concurrency and never damaged when it is not ours.

use libtest_mimic::Trial;

use crate::support::runner::{both_stores, test};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::{Value, json};

use crate::support::{Run, Sandbox, add_twenty_targets_at_once};

/// The registry's commands on a local file and on a team store; what only a
/// file can be (not SQLite, another user's) on a file.
pub fn tests() -> Vec<Trial> {
    [
        both_stores!(add_then_list_and_show_in_every_format),
        both_stores!(machine_formats_print_the_changed_entry),
        both_stores!(update_changes_only_what_is_given),
        both_stores!(deactivate_activate_and_remove),
        both_stores!(adding_an_existing_target_fails_with_a_hint),
        both_stores!(dry_run_writes_nothing),
        both_stores!(import_csv_in_both_spellings_and_toml_skipping_what_exists),
        both_stores!(a_bad_row_imports_nothing),
        both_stores!(export_round_trips_through_import_in_every_format),
        both_stores!(invalid_input_is_refused_with_exit_2_before_anything_is_written),
        both_stores!(certificate_paths_are_stored_absolute),
        vec![test!(a_file_that_is_not_sqlite_is_left_untouched)],
        vec![test!(another_programs_sqlite_database_is_left_untouched)],
        vec![test!(a_registry_from_a_newer_pgacct_is_refused_and_not_modified)],
        vec![test!(reading_a_registry_that_does_not_exist_says_so)],
        vec![test!(the_registry_is_private_to_its_owner)],
        both_stores!(twenty_concurrent_adds_all_succeed),
        both_stores!(a_closed_stdout_pipe_ends_quietly),
        both_stores!(quiet_silences_status_lines),
        vec![test!(help_and_version_exit_0_and_unknown_commands_exit_2)],
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn add(sandbox: &Sandbox, env: &str, db: &str, host: &str) {
    Run::new(sandbox)
        .args(&format!("registry add --env {env} --db {db} --host {host}"))
        .stderr_contains(&format!("added {env}/{db}"))
        .run();
}

/// The JSON a reading command prints.
fn json_of(sandbox: &Sandbox, line: &str) -> Value {
    Run::new(sandbox).args(line).json()
}

/// What a reading command prints.
fn stdout_of(sandbox: &Sandbox, line: &str) -> String {
    Run::new(sandbox).args(line).run().stdout
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn add_then_list_and_show_in_every_format() {
    let sandbox = Sandbox::new();
    let ran = Run::new(&sandbox)
        .args("registry add --env prod --db orders --host db1.example.com --port 6432")
        .args("--sslmode verify-full --sslrootcert system --admin-user dba_admin")
        .args("--notes")
        .arg("main shop, EU")
        .stderr_is("added prod/orders (db1.example.com:6432)\n")
        .run();
    assert_eq!(ran.stdout, "");
    add(&sandbox, "dev", "orders", "/var/run/postgresql");

    let table = stdout_of(&sandbox, "registry list");
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(lines[0].contains("env") && lines[0].contains("host") && lines[0].contains("active"));
    assert!(lines[2].starts_with(" dev "), "sorted by env: {table}");
    assert!(lines[3].contains("db1.example.com") && lines[3].contains("6432"), "{table}");
    assert!(lines[3].contains("verify-full") && lines[3].contains("main shop, EU"), "{table}");

    let list = json_of(&sandbox, "registry list");
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

    let csv = stdout_of(&sandbox, "registry list --format csv");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(&headers[0], "env");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    assert_eq!(&rows[1][column("notes")], "main shop, EU");
    assert_eq!(&rows[1][column("active")], "true");
    assert_eq!(&rows[0][column("sslmode")], "");

    let shown = json_of(&sandbox, "registry show --env prod --db orders");
    assert_eq!(&shown, prod);
    let table = stdout_of(&sandbox, "registry show --env prod --db orders");
    assert!(table.lines().any(|l| l.split_whitespace().eq(["port", "6432"])), "{table}");
    let csv = stdout_of(&sandbox, "registry show --env prod --db orders --format csv");
    assert_eq!(csv.lines().count(), 2, "{csv}");

    let only_dev = json_of(&sandbox, "registry list --env dev");
    assert_eq!(only_dev.as_array().unwrap().len(), 1);
}

fn machine_formats_print_the_changed_entry() {
    let sandbox = Sandbox::new();
    let added = Run::new(&sandbox)
        .args("registry add --env qa --db app --host h1")
        .stderr_is("added qa/app (h1:5432)\n")
        .json();
    assert_eq!(added["db"], "app");
    assert_eq!(added["port"], 5432);
    let removed = Run::new(&sandbox)
        .args("registry remove --env qa --db app")
        .stderr_is("removed qa/app (h1:5432)\n")
        .json();
    assert_eq!(removed["host"], "h1");
}

/// Waits until the clock has passed `time` (as pgacct writes it, to the
/// millisecond), so that a change made now gets a later time.
fn wait_for_the_clock_to_pass(time: &str) {
    let time: jiff::Timestamp = time.parse().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while jiff::Timestamp::now() <= time + jiff::SignedDuration::from_millis(1) {
        assert!(std::time::Instant::now() < deadline, "the clock stands still at {time}");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

fn update_changes_only_what_is_given() {
    let sandbox = Sandbox::new();
    Run::new(&sandbox)
        .args("registry add --env qa --db app --host h1 --notes old --sslmode require")
        .stderr_is("added qa/app (h1:5432)\n")
        .run();
    let before = json_of(&sandbox, "registry show --env qa --db app");
    wait_for_the_clock_to_pass(before["updated_at"].as_str().unwrap());
    Run::new(&sandbox)
        .args("registry update --env qa --db app --port 6543 --unset notes --admin-user ops")
        .stderr_is("updated qa/app (h1:6543)\n")
        .run();
    let after = json_of(&sandbox, "registry show --env qa --db app");
    assert_eq!(after["port"], 6543);
    assert_eq!(after["notes"], Value::Null);
    assert_eq!(after["admin_user"], "ops");
    assert_eq!(after["host"], "h1");
    assert_eq!(after["sslmode"], "require");
    assert_eq!(after["created_at"], before["created_at"]);
    assert_ne!(after["updated_at"], before["updated_at"]);

    Run::new(&sandbox)
        .args("registry update --env qa --db app")
        .expect(2)
        .stderr_contains("error: nothing to update")
        .stderr_contains("hint: give at least one of")
        .run();
    Run::new(&sandbox)
        .args("registry update --env qa --db app --notes x --unset notes")
        .expect(2)
        .stderr_contains("--notes and --unset notes contradict each other")
        .run();
    Run::new(&sandbox)
        .args("registry update --env qa --db nope --port 1")
        .expect(2)
        .stderr_contains("no registry entry for env 'qa' db 'nope'")
        .stderr_contains("hint: see `pgacct registry list --env qa`")
        .run();
}

fn deactivate_activate_and_remove() {
    let sandbox = Sandbox::new();
    add(&sandbox, "qa", "app", "h1");
    add(&sandbox, "qa", "billing", "h1");
    Run::new(&sandbox)
        .args("registry deactivate --env qa --db app")
        .stderr_is("deactivated qa/app (h1:5432)\n")
        .run();
    let active = json_of(&sandbox, "registry list --active-only");
    assert_eq!(active.as_array().unwrap().len(), 1);
    assert_eq!(active[0]["db"], "billing");
    let app = json_of(&sandbox, "registry show --env qa --db app");
    assert_eq!(app["active"], false);

    Run::new(&sandbox)
        .args("registry activate --env qa --db app")
        .stderr_is("activated qa/app (h1:5432)\n")
        .run();
    let active = json_of(&sandbox, "registry list --active-only");
    assert_eq!(active.as_array().unwrap().len(), 2);

    Run::new(&sandbox)
        .args("registry remove --env qa --db app")
        .stderr_is("removed qa/app (h1:5432)\n")
        .run();
    Run::new(&sandbox)
        .args("registry show --env qa --db app")
        .expect(2)
        .stderr_contains("error: no registry entry for env 'qa' db 'app'")
        .run();
    Run::new(&sandbox)
        .args("registry remove --env qa --db app")
        .expect(2)
        .stderr_contains("error: no registry entry for env 'qa' db 'app'")
        .run();
}

fn adding_an_existing_target_fails_with_a_hint() {
    let sandbox = Sandbox::new();
    add(&sandbox, "prod", "orders", "h1");
    let ran = Run::new(&sandbox)
        .args("registry add --env prod --db orders --host h1 --notes again")
        .expect(2)
        .stderr_is(
            "error: prod/orders (h1:5432) is already registered\n\
             hint: to change it, use \
             `pgacct registry update --env prod --db orders --cluster h1:5432 ...`\n",
        )
        .run();
    assert_eq!(ran.stdout, "");
    let shown = json_of(&sandbox, "registry show --env prod --db orders");
    assert_eq!(shown["host"], "h1");
    assert_eq!(shown["notes"], Value::Null);
    // The same database on another cluster of the env is another target.
    add(&sandbox, "prod", "orders", "h2");
}

fn dry_run_writes_nothing() {
    let sandbox = Sandbox::new();
    add(&sandbox, "qa", "app", "h1");
    let before = sandbox.store_state();
    for line in [
        "registry add --env qa --db new --host h2",
        "registry update --env qa --db app --port 7777",
        "registry deactivate --env qa --db app",
        "registry remove --env qa --db app",
    ] {
        Run::new(&sandbox)
            .args(line)
            .arg("--dry-run")
            .stderr_contains("would ")
            .stderr_contains("nothing written (--dry-run)")
            .run();
    }
    let list = json_of(&sandbox, "registry list");
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["port"], 5432);
    assert_eq!(list[0]["active"], true);
    assert_eq!(sandbox.store_state(), before);

    let file = sandbox.write("more.csv", "env,db,host\nqa,app,h1\nqa,other,h2\n");
    let report = Run::new(&sandbox)
        .args("registry import")
        .arg(&file)
        .arg("--dry-run")
        .stderr_is("would add 1, skipped 1 already registered (--dry-run: nothing written)\n")
        .json();
    assert_eq!(report[0]["result"], "skipped");
    assert_eq!(report[1]["result"], "would add");
    assert_eq!(json_of(&sandbox, "registry list").as_array().unwrap().len(), 1);
}

/// `registry import FILE` in JSON, which must end well and say `summary`.
fn import(sandbox: &Sandbox, file: &Path, summary: &str) -> Value {
    Run::new(sandbox).args("registry import").arg(file).stderr_is(&format!("{summary}\n")).json()
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
         [[targets]]\nenv = \"prod\"\ndb = \"billing\"\nhost = \"db1\"\n",
    );

    let report = import(&sandbox, &current, "added 2, skipped 0 already registered");
    assert_eq!(
        report,
        json!([
            {"env": "prod", "db": "orders", "cluster": "db1:5432", "result": "added", "detail": ""},
            {"env": "prod", "db": "billing", "cluster": "db1:5432", "result": "added", "detail": ""},
        ])
    );

    let stdout = Run::new(&sandbox)
        .args("registry import")
        .arg(&legacy)
        .stderr_is("added 1, skipped 1 already registered\n")
        .run()
        .stdout;
    assert!(stdout.lines().any(|l| l.contains("qa") && l.contains("added")), "{stdout}");
    assert!(stdout.lines().any(|l| l.contains("prod") && l.contains("skipped")), "{stdout}");

    let report = import(&sandbox, &toml, "added 1, skipped 1 already registered");
    assert_eq!(report[0]["result"], "added");
    assert_eq!(report[1]["result"], "skipped");
    assert_eq!(report[1]["detail"], "already registered; the file differs in active");

    let qa = json_of(&sandbox, "registry show --env qa --db orders");
    assert_eq!(qa["host"], "qa-db");
    assert_eq!(qa["port"], 5433);
    assert_eq!(qa["notes"], "from the flask app");
    let uat = json_of(&sandbox, "registry show --env uat --db orders");
    assert_eq!(uat["sslmode"], "require");
    let billing = json_of(&sandbox, "registry show --env prod --db billing");
    assert_eq!(billing["active"], false);
    assert_eq!(billing["host"], "db1", "an import never overwrites");

    // Importing everything again changes nothing.
    let before = json_of(&sandbox, "registry list");
    for file in [&current, &legacy, &toml] {
        let report = import(&sandbox, file, "added 0, skipped 2 already registered");
        assert!(report.as_array().unwrap().iter().all(|r| r["result"] == "skipped"), "{report}");
    }
    assert_eq!(json_of(&sandbox, "registry list"), before);
}

fn a_bad_row_imports_nothing() {
    let sandbox = Sandbox::new();
    let file = sandbox.write("bad.csv", "env,db,host,port\nqa,one,h1,5432\nqa,two,h1,99999\n");
    let ran = Run::new(&sandbox)
        .args("registry import")
        .arg(&file)
        .expect(2)
        .stderr_contains("bad.csv: line 3: invalid port 99999: use 1 to 65535")
        .run();
    assert_eq!(ran.stdout, "");
    assert!(sandbox.store_is_empty(), "the refused import wrote to the store");

    let unknown = sandbox.write("cols.csv", "env,database,host\n");
    Run::new(&sandbox)
        .args("registry import")
        .arg(&unknown)
        .expect(2)
        .stderr_contains("no 'db' column (or 'db_name'); expected at least env,db,host (columns not known: database)")
        .run();
    let toml = sandbox.write("bad.toml", "[[targets]]\nenv = \"qa\"\ndb = \"x\"\nhots = \"h\"\n");
    Run::new(&sandbox)
        .args("registry import")
        .arg(&toml)
        .expect(2)
        .stderr_contains("bad.toml")
        .stderr_contains("hots")
        .run();
}

fn export_round_trips_through_import_in_every_format() {
    let sandbox = Sandbox::new();
    let ca = sandbox.write("ca.pem", "not checked here");
    let cert = sandbox.write("client.pem", "cert");
    let key = sandbox.write("client.key", "key");
    Run::new(&sandbox)
        .args("registry add --env prod --db orders --host db1 --sslmode verify-ca")
        .arg("--sslrootcert")
        .arg(&ca)
        .arg("--sslcert")
        .arg(&cert)
        .arg("--sslkey")
        .arg(&key)
        .arg("--notes")
        .arg("quotes \" and, commas")
        .arg("--inactive")
        .stderr_is("added prod/orders (db1:5432)\n")
        .run();
    add(&sandbox, "dev", "orders", "/var/run/postgresql");
    let original = json_of(&sandbox, "registry list");
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
        let exported = stdout_of(&sandbox, &format!("registry export --format {format}"));
        let other = Sandbox::new();
        let file = other.write(&format!("inventory.{format}"), &exported);
        Run::new(&other)
            .args("registry import")
            .arg(&file)
            .stderr_is("added 2, skipped 0 already registered\n")
            .run();
        let imported = json_of(&other, "registry list");
        assert_eq!(strip(&imported), strip(&original), "{format} round trip:\n{exported}");
    }

    // Without --format, export writes CSV; the list's JSON imports too.
    let csv = stdout_of(&sandbox, "registry export");
    assert!(csv.starts_with("env,db,host,port,sslmode,"), "{csv}");
    let other = Sandbox::new();
    let listed = other.write("listed.json", original.to_string());
    Run::new(&other)
        .args("registry import")
        .arg(&listed)
        .stderr_is("added 2, skipped 0 already registered\n")
        .run();
    assert_eq!(strip(&json_of(&other, "registry list")), strip(&original));
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
        let ran = Run::new(&sandbox)
            .arg_list(*args)
            .expect(2)
            .stderr_contains(message)
            .stderr_contains("error")
            .run();
        assert_eq!(ran.stdout, "", "{args:?}");
    }
    sandbox.write("client.pem", "cert");
    Run::new(&sandbox)
        .arg_list(base)
        .args("--sslcert client.pem")
        .expect(2)
        .stderr_is("error: sslcert is set but sslkey is not; give both\n")
        .run();
    assert!(sandbox.store_is_empty(), "invalid input wrote to the store");
}

fn certificate_paths_are_stored_absolute() {
    let sandbox = Sandbox::new();
    sandbox.write("ca.pem", "x");
    Run::new(&sandbox)
        .args("registry add --env qa --db app --host h1 --sslrootcert ca.pem")
        .stderr_is("added qa/app (h1:5432)\n")
        .run();
    let shown = json_of(&sandbox, "registry show --env qa --db app");
    assert_eq!(shown["sslrootcert"], sandbox.path().join("ca.pem").to_str().unwrap());
}

fn a_file_that_is_not_sqlite_is_left_untouched() {
    let sandbox = Sandbox::new();
    let original = b"env,db,host\nthis is somebody's CSV, not a registry\n".to_vec();
    std::fs::write(sandbox.registry(), &original).unwrap();
    for line in ["registry list", "registry add --env qa --db a --host h"] {
        Run::new(&sandbox)
            .args(line)
            .expect(2)
            .stderr_contains("registry.db is not a pgacct registry: not a SQLite database")
            .stderr_contains("hint: check --registry / PGACCT_REGISTRY")
            .run();
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
    Run::new(&sandbox)
        .args("registry add --env qa --db a --host h")
        .expect(2)
        .stderr_contains("a SQLite database that belongs to another program")
        .run();
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
    for line in ["registry list", "registry add --env qa --db b --host h"] {
        Run::new(&sandbox)
            .args(line)
            .expect(1)
            .stderr_contains("has schema version 999, but this pgacct knows only up to")
            .stderr_contains("hint: a newer pgacct wrote this registry; upgrade pgacct")
            .run();
    }
    assert_eq!(std::fs::read(sandbox.registry()).unwrap(), original);
}

fn reading_a_registry_that_does_not_exist_says_so() {
    let sandbox = Sandbox::new();
    // (registry list shows an empty registry: fleet_shape.rs.)
    Run::new(&sandbox)
        .args("registry show --env qa --db app")
        .expect(1)
        .stderr_contains("registry.db does not exist")
        .stderr_contains("hint: register a target")
        .run();
    assert!(!sandbox.registry().exists());
}

fn the_registry_is_private_to_its_owner() {
    let sandbox = Sandbox::new();
    add(&sandbox, "qa", "app", "h1");
    assert_eq!(mode_of(&sandbox.registry()), 0o600);
    // The -wal and -shm files exist only while a connection is open: see
    // files::sqlite_side_files_are_private_while_pgacct_has_them_open.

    // The default location, in the platform data directory.
    Run::new(&sandbox)
        .env_remove("PGACCT_REGISTRY")
        .args("registry add --env qa --db app --host h1 -v")
        .stderr_contains(".local/share/pgacct/pgacct.db")
        .stderr_contains("added qa/app (h1:5432)")
        .run();
    let default = sandbox.path().join("home/.local/share/pgacct/pgacct.db");
    assert_eq!(mode_of(&default), 0o600);
    assert_eq!(mode_of(default.parent().unwrap()), 0o700);
}

fn twenty_concurrent_adds_all_succeed() {
    let sandbox = Sandbox::new();
    add_twenty_targets_at_once(&sandbox);
    let list = json_of(&sandbox, "registry list");
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
    let ran = Run::new(&sandbox).args("registry import -q").arg(&file).run();
    assert!(!ran.stdout.is_empty());

    for format in ["table", "csv", "json"] {
        // Quietly: exit 0 and nothing on stderr.
        let mut running = Run::new(&sandbox).args("registry list --format").arg(format).spawn();
        let mut first = String::new();
        BufReader::new(running.take_stdout()).read_line(&mut first).unwrap();
        assert!(!first.is_empty());
        // The reader is gone now, like `| head -1`.
        running.finish();
    }
}

fn quiet_silences_status_lines() {
    let sandbox = Sandbox::new();
    let ran = Run::new(&sandbox).args("-q registry add --env qa --db app --host h1").run();
    assert_eq!(ran.stdout, "");
}

fn help_and_version_exit_0_and_unknown_commands_exit_2() {
    let sandbox = Sandbox::new();
    assert!(Run::new(&sandbox).arg("--help").run().stdout.contains("registry"));
    let version = Run::new(&sandbox).arg("--version").run().stdout;
    assert_eq!(version, format!("pgacct {}\n", env!("CARGO_PKG_VERSION")));
    Run::new(&sandbox).arg("frobnicate").expect(2).stderr_contains("unrecognized subcommand").run();
    Run::new(&sandbox).expect(2).stderr_contains("Usage:").run();
}
