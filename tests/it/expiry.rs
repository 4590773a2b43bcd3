//! The credential lifecycle (DESIGN.md §5, §6): every role pgacct creates
//! carries its marker (`COMMENT ON ROLE 'pgacct {...}'`: type, time,
//! ticket), and a type's `valid_for_days` (or `--valid-for`) sets `VALID
//! UNTIL` at create and renews it at every reset, the type known from
//! `--type` or the marker. Checked in `pg_roles` and `pg_shdescription`,
//! and in the round trips `-vv` counts.

use libtest_mimic::Trial;
use serde_json::Value;

use crate::support::fleet::{Admin, Fleet};
use crate::support::runner::{every_setup, test};
use crate::support::{Cluster, Run, Sandbox};

pub fn tests() -> Vec<Trial> {
    let mut tests = vec![
        test!(a_type_with_valid_for_days_renews_valid_until_at_every_reset),
        test!(valid_for_overrides_the_type_on_create_and_on_reset),
        test!(a_reset_without_a_type_to_go_by_leaves_valid_until_and_says_why),
        test!(creates_and_resets_take_the_round_trips_they_took_before),
    ];
    tests.extend(every_setup!(the_marker_names_type_time_and_ticket_and_a_reset_goes_by_it));
    tests
}

const DAY: i64 = 86_400;

/// A cluster registered as qa/postgres, with `config` as config.toml.
fn setup(config: &str) -> (Cluster, Sandbox) {
    let pg = Cluster::start();
    let sandbox = Sandbox::new();
    sandbox.register("qa", "postgres", &pg, &[]);
    sandbox.write_config(config);
    (pg, sandbox)
}

fn pgacct(sandbox: &Sandbox, pg: &Cluster) -> Run {
    Run::new(sandbox).env("PGACCT_ADMIN_PASSWORD", pg.password())
}

/// Seconds from now to the role's `VALID UNTIL`: `None` when it has none,
/// `Some(i64::MAX)` for `infinity`.
fn seconds_left(pg: &Cluster, role: &str) -> Option<i64> {
    pg.client()
        .query_one(
            "SELECT CASE WHEN rolvaliduntil = 'infinity' THEN 9223372036854775807
                         ELSE extract(epoch FROM rolvaliduntil - now())::int8 END
               FROM pg_roles WHERE rolname = $1",
            &[&role],
        )
        .unwrap()
        .get(0)
}

/// Whether `seconds` is `days` from now, give or take the test's own time.
fn about_days(seconds: Option<i64>, days: i64) -> bool {
    seconds.is_some_and(|s| (days * DAY - 300..=days * DAY + 5).contains(&s))
}

/// The role's comment, as the server holds it.
fn comment(pg: &Cluster, role: &str) -> Option<String> {
    pg.client()
        .query_one(
            "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = $1",
            &[&role],
        )
        .unwrap()
        .get(0)
}

/// Whether the result's `valid_until` is the role's `VALID UNTIL`.
fn is_valid_until(pg: &Cluster, role: &str, row: &Value) -> bool {
    let text = row["valid_until"].as_str().unwrap_or_else(|| panic!("no valid_until: {row}"));
    pg.client()
        .query_one(
            "SELECT rolvaliduntil = $2::text::timestamptz FROM pg_roles WHERE rolname = $1",
            &[&role, &text],
        )
        .unwrap()
        .get(0)
}

/// The day of `valid_until` in `row`: what statuses say.
fn day_of(row: &Value) -> &str {
    &row["valid_until"].as_str().unwrap()[..10]
}

fn a_type_with_valid_for_days_renews_valid_until_at_every_reset() {
    let (pg, sandbox) = setup("[types.app]\nvalid_for_days = 30\n");
    let rows =
        pgacct(&sandbox, &pg).args("user create --env qa --db postgres --type app app_user").rows();
    assert!(about_days(seconds_left(&pg, "app_user"), 30), "{rows:?}");
    assert!(is_valid_until(&pg, "app_user", &rows[0]), "{rows:?}");
    assert_eq!(rows[0]["status"], format!("user created; valid until {}", day_of(&rows[0])));

    // Expired, as a role created long ago and reset since would be were
    // its resets not to renew it.
    pg.client().batch_execute("ALTER ROLE app_user VALID UNTIL '2020-01-01 00:00:00+00'").unwrap();
    let dry = pgacct(&sandbox, &pg)
        .args("user reset-password --env qa --db postgres app_user --dry-run")
        .stderr_contains("--dry-run: nothing was changed")
        .run()
        .stdout;
    assert!(
        dry.contains(r#"ALTER ROLE "app_user" WITH VALID UNTIL '"#)
            && dry.contains(r"' PASSWORD '<redacted>';"),
        "{dry}"
    );
    assert!(dry.contains("would reset password; valid until "), "{dry}");
    assert!(seconds_left(&pg, "app_user").unwrap() < 0, "a dry run changes nothing");

    let rows =
        pgacct(&sandbox, &pg).args("user reset-password --env qa --db postgres app_user").rows();
    assert!(about_days(seconds_left(&pg, "app_user"), 30), "renewed: {rows:?}");
    assert!(is_valid_until(&pg, "app_user", &rows[0]), "{rows:?}");
    let status = format!("password reset; valid until {}", day_of(&rows[0]));
    assert_eq!(rows[0]["status"], status);
    let sql = rows[0]["sql"][0].as_str().unwrap();
    assert!(sql.starts_with(r#"ALTER ROLE "app_user" WITH VALID UNTIL '"#), "{sql}");
    assert!(pg.login("postgres", "app_user", rows[0]["password"].as_str().unwrap()).is_ok());

    let audit = Run::new(&sandbox).args("audit show --user app_user").rows();
    assert_eq!(audit[0]["status"], status, "{audit:?}");
    assert!(audit[0]["sql"].as_str().unwrap().contains("VALID UNTIL"), "{audit:?}");
}

fn valid_for_overrides_the_type_on_create_and_on_reset() {
    let (pg, sandbox) = setup("[types.app]\nvalid_for_days = 30\n");
    let create = |name: &str, more: &str| {
        pgacct(&sandbox, &pg)
            .args(&format!("user create --env qa --db postgres --type app {name} {more}"))
            .rows()
    };
    let rows = create("longer", "--valid-for 90d");
    assert!(about_days(seconds_left(&pg, "longer"), 90), "{rows:?}");
    let rows = create("vm_like", "--valid-for 2w");
    assert!(about_days(seconds_left(&pg, "vm_like"), 14), "{rows:?}");
    let rows = create("forever", "--valid-for never");
    assert_eq!(seconds_left(&pg, "forever"), Some(i64::MAX), "{rows:?}");
    assert_eq!(rows[0]["valid_until"], "infinity");
    assert_eq!(rows[0]["status"], "user created; valid until infinity");
    // Even for a type that sets no expiry.
    pgacct(&sandbox, &pg)
        .args("user create-vm --env qa --db postgres --server web01 --service-port 80")
        .args("--valid-for 12h -q")
        .run();
    let left = seconds_left(&pg, "web01_80").unwrap();
    assert!((12 * 3600 - 300..=12 * 3600 + 5).contains(&left), "{left}");

    let reset = |name: &str, more: &str| {
        pgacct(&sandbox, &pg)
            .args(&format!("user reset-password --env qa --db postgres {name} {more}"))
            .rows()
    };
    let rows = reset("longer", "--valid-for 7d");
    assert!(about_days(seconds_left(&pg, "longer"), 7), "{rows:?}");
    assert!(is_valid_until(&pg, "longer", &rows[0]), "{rows:?}");
    let rows = reset("forever", "--valid-for 45d");
    assert!(about_days(seconds_left(&pg, "forever"), 45), "{rows:?}");
    let rows = reset("longer", "--valid-for never");
    assert_eq!(seconds_left(&pg, "longer"), Some(i64::MAX), "{rows:?}");
    // --type names the type to renew by: here, one without an expiry.
    let rows = reset("forever", "--type devqa");
    assert!(about_days(seconds_left(&pg, "forever"), 45), "left as it was: {rows:?}");
    assert_eq!(
        rows[0]["status"],
        "password reset; VALID UNTIL left as it is: type devqa sets no valid_for_days"
    );
    assert_eq!(rows[0]["valid_until"], Value::Null);

    for wrong in ["0d", "3651d", "30", "soon"] {
        pgacct(&sandbox, &pg)
            .args(&format!("user reset-password --env qa --db postgres longer --valid-for {wrong}"))
            .expect(2)
            .stderr_contains(&format!("invalid value '{wrong}' for '--valid-for <SPAN>'"))
            .run();
    }
    pgacct(&sandbox, &pg)
        .args("user reset-password --env qa --db postgres longer --type nope")
        .expect(2)
        .stderr_contains("unknown account type 'nope'")
        .run();
}

/// A role pgacct did not create has no marker: without `--type` or
/// `--valid-for`, a reset keeps its `VALID UNTIL`, and says why. So does
/// one whose marker names a type the configuration no longer has. Where
/// no type sets `valid_for_days`, a reset is what it always was.
fn a_reset_without_a_type_to_go_by_leaves_valid_until_and_says_why() {
    let (pg, sandbox) = setup("[types.app]\nvalid_for_days = 30\n");
    pg.client()
        .batch_execute(
            "CREATE ROLE legacy LOGIN VALID UNTIL '2031-01-01 00:00:00+00';
             CREATE ROLE retired_app LOGIN VALID UNTIL '2031-01-01 00:00:00+00';
             COMMENT ON ROLE retired_app IS
               'pgacct {\"v\":1,\"type\":\"retired\",\"created\":\"2026-01-01T00:00:00Z\",\"ticket\":null}'",
        )
        .unwrap();
    let until = |role: &str| -> String {
        pg.client()
            .query_one("SELECT rolvaliduntil::text FROM pg_roles WHERE rolname = $1", &[&role])
            .unwrap()
            .get(0)
    };
    let before = until("legacy");
    let reset = |name: &str| {
        pgacct(&sandbox, &pg)
            .args(&format!("user reset-password --env qa --db postgres {name}"))
            .rows()
    };
    let rows = reset("legacy");
    assert_eq!(
        rows[0]["status"],
        "password reset; VALID UNTIL left as it is: the role has no pgacct marker; give --type \
         or --valid-for"
    );
    assert_eq!(rows[0]["valid_until"], Value::Null);
    assert_eq!(until("legacy"), before);
    assert_eq!(rows[0]["sql"][0], r#"ALTER ROLE "legacy" WITH PASSWORD '<redacted>'"#);
    assert!(pg.login("postgres", "legacy", rows[0]["password"].as_str().unwrap()).is_ok());

    let rows = reset("retired_app");
    assert_eq!(
        rows[0]["status"],
        "password reset; VALID UNTIL left as it is: its marker names type retired, which this \
         configuration does not have; give --type or --valid-for"
    );
    assert_eq!(until("retired_app"), before);

    // Said so, the type renews it.
    let rows = pgacct(&sandbox, &pg)
        .args("user reset-password --env qa --db postgres legacy --type app")
        .rows();
    assert!(about_days(seconds_left(&pg, "legacy"), 30), "{rows:?}");

    // No type expires: nothing is read, nothing said, nothing renewed.
    sandbox.write_config("");
    pg.client().batch_execute("ALTER ROLE legacy VALID UNTIL '2031-01-01 00:00:00+00'").unwrap();
    let rows = reset("legacy");
    assert_eq!(rows[0]["status"], "password reset");
    assert_eq!(until("legacy"), before);
}

/// The `(N round trips in all)` of `-vv`'s close line.
fn round_trips(run: Run) -> String {
    let stderr = run.args("-vv").any_stderr().run().stderr;
    let close =
        stderr.lines().find(|l| l.starts_with("close ")).unwrap_or_else(|| panic!("{stderr}"));
    close[close.rfind('(').unwrap()..].to_owned()
}

/// The marker goes in the create's own transaction, and the new VALID
/// UNTIL in the reset's ALTER ROLE: a superuser's create or reset is the
/// connection (4 round trips on PostgreSQL without TLS) and one
/// transaction, as before either existed. Only a reset that must read the
/// marker to know the type reads it first.
fn creates_and_resets_take_the_round_trips_they_took_before() {
    let (pg, sandbox) = setup("[types.app]\nvalid_for_days = 30\n");
    let five = "(5 round trips in all)";
    let run = |args: &str| pgacct(&sandbox, &pg).args(args);
    for create in [
        "user create --env qa --db postgres --type devqa plain",
        "user create --env qa --db postgres --type app expiring --ticket CHG-7",
        "user create-vm --env qa --db postgres --server web01 --service-port 80 --valid-for 9d",
    ] {
        assert_eq!(round_trips(run(create)), five, "{create}");
    }
    assert!(comment(&pg, "expiring").unwrap().contains(r#""ticket":"CHG-7""#));
    for reset in [
        "user reset-password --env qa --db postgres plain --valid-for 30d",
        "user reset-password --env qa --db postgres expiring --type app",
    ] {
        assert_eq!(round_trips(run(reset)), five, "{reset}");
    }
    assert_eq!(
        round_trips(run("user reset-password --env qa --db postgres expiring")),
        "(6 round trips in all)",
        "the marker, read first"
    );
    sandbox.write_config("");
    assert_eq!(round_trips(run("user reset-password --env qa --db postgres expiring")), five);
}

/// On every major, as a superuser and as a CREATEROLE admin (which holds
/// ADMIN OPTION on what it creates, as COMMENT ON ROLE needs from 16):
/// the marker of create-vm, create-k8s and create, parsed back by `user
/// show`; and a reset that renews by the marker's type.
fn the_marker_names_type_time_and_ticket_and_a_reset_goes_by_it(admin: Admin, major: u32) {
    let fleet = Fleet::new(admin, Some(major), &["orders"]);
    fleet.sandbox.write_config("[types.vm]\nvalid_for_days = 30\n");
    for (create, role, kind, ticket) in [
        (
            "user create-vm --env qa --db orders --server web01 --service-port 80 --ticket CHG-1",
            "web01_80",
            "vm",
            Value::from("CHG-1"),
        ),
        ("user create-k8s --env qa --db orders --service gear", "qa_gear", "k8s", Value::Null),
        (
            "user create --env qa --db orders --type readonly reporting --ticket it's \"x\"",
            "reporting",
            "readonly",
            Value::from("it's \"x\""),
        ),
    ] {
        let mut run = fleet.pgacct();
        if let Some((head, ticket)) = create.split_once(" --ticket ") {
            run = run.args(head).arg("--ticket").arg(ticket);
        } else {
            run = run.args(create);
        }
        if kind == "readonly" && major < 15 {
            // PUBLIC may create in schema public: a warning (accounts.rs).
            run = run.stderr_contains("PUBLIC may create in schema public");
        }
        let rows = run.rows();
        assert!(rows[0]["status"].as_str().unwrap().starts_with("user created"), "{rows:?}");
        let comment = comment(&fleet.pg, role).unwrap_or_else(|| panic!("{role} has no comment"));
        let json = comment.strip_prefix("pgacct ").unwrap_or_else(|| panic!("{comment}"));
        let marker: Value = serde_json::from_str(json).unwrap();
        assert_eq!(marker["v"], 1, "{comment}");
        assert_eq!(marker["type"], kind, "{comment}");
        assert_eq!(marker["ticket"], ticket, "{comment}");
        let created = marker["created"].as_str().unwrap();
        let recent: bool = fleet
            .pg
            .client()
            .query_one(
                "SELECT abs(extract(epoch FROM now() - $1::text::timestamptz)) < 300",
                &[&created],
            )
            .unwrap()
            .get(0);
        assert!(recent, "{comment}");

        let shown = fleet.pgacct().args(&format!("user show --env qa --db orders {role}")).rows();
        assert_eq!(shown[0]["managed"], marker, "{shown:?}");
    }
    let table = fleet.pgacct().args("user show --env qa --db orders web01_80").run().stdout;
    assert!(table.contains("type vm, created 20"), "{table}");
    assert!(table.contains(", ticket CHG-1"), "{table}");
    fleet.pg.client().batch_execute("CREATE ROLE outsider LOGIN").unwrap();
    let shown = fleet.pgacct().args("user show --env qa --db orders outsider").rows();
    assert_eq!(shown[0]["managed"], Value::Null, "{shown:?}");

    // The vm type expires: its create set VALID UNTIL, and a reset that
    // names no type renews it by the marker's.
    assert!(about_days(seconds_left(&fleet.pg, "web01_80"), 30));
    assert_eq!(seconds_left(&fleet.pg, "qa_gear"), None);
    fleet.pg.client().batch_execute("ALTER ROLE web01_80 VALID UNTIL 'yesterday'").unwrap();
    let rows = fleet.pgacct().args("user reset-password --env qa --db orders web01_80").rows();
    assert!(about_days(seconds_left(&fleet.pg, "web01_80"), 30), "{rows:?}");
    assert!(fleet.login("orders", "web01_80", rows[0]["password"].as_str().unwrap()).is_ok());
    let rows = fleet.pgacct().args("user reset-password --env qa --db orders qa_gear").rows();
    assert_eq!(rows[0]["status"], "password reset", "k8s sets no expiry: {rows:?}");
    assert_eq!(seconds_left(&fleet.pg, "qa_gear"), None);
}
