//! `pgacct audit show` on a team store: alice, who holds only
//! `pgacct_user`, lists the records the server attested, newest first, with
//! every filter the local trail takes, the same columns and JSON fields;
//! the actor is the database user who wrote each record. A row the schema
//! would refuse is named, not shown blank.

use libtest_mimic::Trial;
use postgres::Client;

use crate::support::fleet::majors;
use crate::support::runner::{test, trial};
use crate::support::{Cluster, Run, Sandbox};

pub fn tests() -> Vec<Trial> {
    let mut tests: Vec<Trial> = majors()
        .into_iter()
        .map(|major| {
            trial(
                module_path!(),
                &format!("alice_shows_the_team_trail_with_each_filter::pg{major}"),
                move || alice_shows_the_team_trail_with_each_filter(major),
            )
        })
        .collect();
    tests.push(test!(a_row_the_schema_would_refuse_is_named_not_shown_blank));
    tests
}

const ALICE: (&str, &str) = ("alice", "alice-Show-Pw-1");

/// A cluster of `major` with the default store, and alice, granted `pgacct_user` only.
fn store(major: u32) -> Cluster {
    crate::support::team::store_with(major, &[ALICE])
}

/// Appends one record through the store's function: its id.
fn append(
    client: &mut Client,
    outcome: &str,
    started: Option<i64>,
    operation: &str,
    target: (&str, &str, Option<&str>),
) -> i64 {
    let (env, db, role) = target;
    let status = if outcome == "failed" { "permission denied" } else { "done" };
    client
        .query_one(
            "SELECT id FROM pgacct.append_audit(
                 $1, $2, 'os-user', 'bastion-1', 4242, NULL, 'CHG-7', $3, $4, $5, 'db1:5432',
                 $6, $7, NULL, 3, NULL)",
            &[&outcome, &started, &operation, &env, &db, &role, &status],
        )
        .unwrap()
        .get(0)
}

/// The server's time of record `id`, as RFC 3339 in UTC.
fn time_of(client: &mut Client, id: i64) -> String {
    client
        .query_one(
            "SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')
               FROM pgacct.audit WHERE id = $1",
            &[&id],
        )
        .unwrap()
        .get(0)
}

/// The records of one trail, by what they are.
struct Trail {
    ok: i64,
    dropping: i64,
    failed: i64,
    added: i64,
    locking: i64,
    removed: i64,
    /// The superuser, who wrote `removed`.
    su_name: String,
}

/// Alice creates a role (started, ok), fails to drop one (started,
/// failed), adds a target (ok, no started record) and starts to lock a role
/// (no outcome); the superuser removes a target.
fn fill(pg: &Cluster) -> Trail {
    let mut alice = pg.login("postgres", ALICE.0, ALICE.1).unwrap();
    let created = append(&mut alice, "started", None, "user.create", ("qa", "orders", Some("app")));
    let ok = append(&mut alice, "ok", Some(created), "user.create", ("qa", "orders", Some("app")));
    let dropping =
        append(&mut alice, "started", None, "user.drop", ("prod", "billing", Some("old")));
    let failed =
        append(&mut alice, "failed", Some(dropping), "user.drop", ("prod", "billing", Some("old")));
    // Apart in time from the ones before, for --since and --until.
    alice.batch_execute("SELECT pg_sleep(0.05)").unwrap();
    let added = append(&mut alice, "ok", None, "registry.add", ("qa", "orders", None));
    let locking = append(&mut alice, "started", None, "user.lock", ("qa", "billing", Some("web")));
    let mut su = pg.client();
    let su_name: String = su.query_one("SELECT current_user::text", &[]).unwrap().get(0);
    let removed = append(&mut su, "ok", None, "registry.remove", ("dev", "orders", None));

    Trail { ok, dropping, failed, added, locking, removed, su_name }
}

fn alice_shows_the_team_trail_with_each_filter(major: u32) {
    let pg = store(major);
    let machine = Sandbox::new();
    let url = format!("postgresql://{}@{}:{}/postgres", ALICE.0, pg.host(), pg.port());
    let show = |args: &str| {
        Run::new(&machine)
            .args("audit show --registry")
            .arg(&url)
            .args(args)
            .env("PGPASSWORD", ALICE.1)
    };
    let ids = |args: &str| -> Vec<i64> {
        show(args).rows().iter().map(|row| row["id"].as_i64().unwrap()).collect()
    };

    // An empty trail: said in a table, `[]` in JSON.
    let ran = show("").stderr_is("no audit records match\n").run();
    assert_eq!(ran.stdout, "");
    assert_eq!(show("").json(), serde_json::json!([]));

    let Trail { ok, dropping, failed, added, locking, removed, su_name } = fill(&pg);
    let mut su = pg.client();

    // Newest first: outcomes, and started records no outcome answers.
    let rows = show("").rows();
    let shown: Vec<(i64, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["id"].as_i64().unwrap(),
                r["outcome"].as_str().unwrap(),
                r["actor"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            (removed, "ok", su_name.as_str()),
            (locking, "incomplete", "alice"),
            (added, "ok", "alice"),
            (failed, "failed", "alice"),
            (ok, "ok", "alice"),
        ]
    );
    // The same JSON fields as the local trail's; the time is the server's.
    let row = &rows[3];
    let mut fields: Vec<&str> = row.as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort_unstable();
    let mut expected: Vec<&str> = "id time outcome operation env db cluster role status error \
         duration_ms actor host pid ci_job ticket sql started_id imported_id damaged"
        .split_whitespace()
        .collect();
    expected.sort_unstable();
    assert_eq!(fields, expected, "{row}");
    assert_eq!(row["started_id"], dropping, "{row}");
    assert_eq!(row["status"], "permission denied", "{row}");
    assert_eq!(row["host"], "bastion-1", "{row}");
    assert_eq!(row["pid"], 4242, "{row}");
    assert_eq!(row["ticket"], "CHG-7", "{row}");
    let micros = time_of(&mut su, failed);
    assert_eq!(row["time"].as_str().unwrap(), format!("{}Z", &micros[..23]), "{row}");
    assert_eq!(rows[1]["started_id"], locking);

    // The table: the actor column shows the database user.
    let table = show("").run().stdout;
    let header = table.lines().next().unwrap();
    assert!(header.contains("actor"), "{table}");
    let line = table.lines().find(|l| l.trim_start().starts_with(&format!("{failed} "))).unwrap();
    assert!(line.contains("alice") && !line.contains("os-user"), "{table}");

    // Each filter selects exactly its records.
    assert_eq!(ids("--env qa"), [locking, added, ok]);
    assert_eq!(ids("--db billing"), [locking, failed]);
    assert_eq!(ids("--user app"), [ok]);
    assert_eq!(ids("--actor alice"), [locking, added, failed, ok]);
    assert_eq!(ids("--operation user.create"), [ok]);
    assert_eq!(ids("--operation user"), [locking, failed, ok]);
    assert_eq!(ids("--operation registry"), [removed, added]);
    assert_eq!(ids("--failed"), [failed]);
    assert_eq!(ids("--incomplete"), [locking]);
    assert_eq!(ids("--limit 2"), [removed, locking]);
    assert_eq!(ids("--env qa --operation user --limit 1"), [locking]);
    let since = time_of(&mut su, added);
    assert_eq!(ids(&format!("--since {since}")), [removed, locking, added]);
    let until = time_of(&mut su, failed);
    assert_eq!(ids(&format!("--until {until}")), [failed, ok]);

    // A typo is refused as locally; an empty result is said.
    show("--operation user.creat")
        .expect(2)
        .stderr_contains("error: no operation is called 'user.creat'")
        .run();
    let ran = show("--env nowhere").stderr_is("no audit records match\n").run();
    assert_eq!(ran.stdout, "");
    assert_eq!(show("--env nowhere").json(), serde_json::json!([]));
}

/// A row only a changed table can hold (a NULL where the schema says NOT
/// NULL): `audit show` names it and points to `audit verify`, rather than
/// show a blank or panic.
fn a_row_the_schema_would_refuse_is_named_not_shown_blank() {
    let pg = store(majors()[0]);
    let trail = fill(&pg);
    pg.client()
        .batch_execute(&format!(
            "ALTER TABLE pgacct.audit DISABLE TRIGGER audit_append_only;
             ALTER TABLE pgacct.audit ALTER status DROP NOT NULL;
             UPDATE pgacct.audit SET status = NULL WHERE id = {};",
            trail.failed
        ))
        .unwrap();
    let url = format!("postgresql://{}@{}:{}/postgres", ALICE.0, pg.host(), pg.port());
    let ran = Run::new(&Sandbox::new())
        .args("audit show --registry")
        .arg(url)
        .env("PGPASSWORD", ALICE.1)
        .expect(1)
        .stderr_contains(&format!(
            "record #{} has no status: the trail was tampered with; see `pgacct audit verify`",
            trail.failed
        ))
        .run();
    assert_eq!(ran.stdout, "");
}
