//! Account types without a password (`password = false` with `auth =
//! "iam-rds" | "cert" | "external"`): the role is made with LOGIN and no
//! password, nothing is generated, read or delivered, the result says how
//! it logs in; resets and rotations refuse or leave it out; reports do not
//! flag it; and the keys are checked as config.toml is read.

use libtest_mimic::Trial;
use serde_json::Value;

use crate::support::fleet::{Admin, Fleet, version};
use crate::support::runner::{every_setup, test};
use crate::support::{Cluster, Run, Sandbox};

pub fn tests() -> Vec<Trial> {
    let mut tests = vec![
        test!(cert_accounts_refuse_password_options_resets_and_rotations),
        test!(external_accounts_say_they_log_in_elsewhere),
        test!(a_password_less_type_without_its_auth_is_a_config_error),
    ];
    tests.extend(every_setup!(iam_rds_accounts_join_rds_iam_and_get_no_password));
    tests
}

/// The role's row in `pg_authid`: (can log in, has a password).
fn login_and_password(pg: &Cluster, role: &str) -> Option<(bool, bool)> {
    pg.client()
        .query_opt(
            "SELECT rolcanlogin, rolpassword IS NOT NULL FROM pg_authid WHERE rolname = $1",
            &[&role],
        )
        .unwrap()
        .map(|row| (row.get(0), row.get(1)))
}

fn is_member(pg: &Cluster, role: &str, group: &str) -> bool {
    pg.client()
        .query_one(
            "SELECT count(*) > 0 FROM pg_auth_members m
               JOIN pg_roles r ON r.oid = m.member JOIN pg_roles g ON g.oid = m.roleid
              WHERE r.rolname = $1 AND g.rolname = $2",
            &[&role, &group],
        )
        .unwrap()
        .get(0)
}

/// The statements of the server log that name `role`.
fn logged_statements_of(pg: &Cluster, role: &str) -> Vec<String> {
    pg.log()
        .lines()
        .filter(|line| line.contains("statement:") && line.contains(role))
        .map(str::to_owned)
        .collect()
}

/// Every text of the audit trail's records about `role`.
fn audit_text(sandbox: &Sandbox, role: &str) -> String {
    let conn = rusqlite::Connection::open(sandbox.registry()).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT coalesce(status,'') || ' ' || coalesce(error,'') || ' ' || coalesce(sql,'') \
             FROM audit WHERE role = ?1",
        )
        .unwrap();
    let texts: Vec<String> =
        stmt.query_map([role], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap();
    texts.join("\n")
}

/// On every major, as a superuser and as a CREATEROLE admin: without
/// `rds_iam` on the server, the create is refused before anything is made;
/// with it, the role logs in, has no password, joins `rds_iam`, and the
/// result says so. A reset is refused by the role's marker.
fn iam_rds_accounts_join_rds_iam_and_get_no_password(admin: Admin, major: u32) {
    let fleet = Fleet::new(admin, Some(major), &["orders"]);
    fleet.sandbox.write_config("[types.iam]\npassword = false\nauth = \"iam-rds\"\n");
    let create = "user create --env qa --db orders --type iam app_iam --format json";

    fleet
        .pgacct()
        .args(create)
        .expect(2)
        .stderr_contains(
            "role rds_iam, which type iam joins for auth = \"iam-rds\", does not exist",
        )
        .stderr_contains("Amazon RDS and Aurora")
        .run();
    assert_eq!(login_and_password(&fleet.pg, "app_iam"), None, "created without rds_iam");

    let mut su = fleet.pg.client();
    su.batch_execute("CREATE ROLE rds_iam NOLOGIN").unwrap();
    if admin == Admin::CreateRole && version(&fleet.pg) >= 160_000 {
        // As on RDS, where the admin may grant it.
        su.batch_execute("GRANT rds_iam TO pgacct_admin WITH ADMIN OPTION").unwrap();
    }
    let ran = fleet.pgacct().args(create).run();
    let rows = ran.rows();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["outcome"], "ok", "{rows:?}");
    assert_eq!(rows[0]["status"], "user created; logs in with IAM tokens (rds_iam)");
    assert_eq!(rows[0]["password"], Value::Null);
    assert_eq!(rows[0]["auth"], "iam-rds");
    assert_eq!(login_and_password(&fleet.pg, "app_iam"), Some((true, false)));
    assert!(is_member(&fleet.pg, "app_iam", "rds_iam"));

    // No secret anywhere: not made, so not sent, logged or recorded.
    for line in logged_statements_of(&fleet.pg, "app_iam") {
        assert!(!line.contains("PASSWORD"), "{line}");
    }
    let audit = audit_text(&fleet.sandbox, "app_iam");
    assert!(audit.contains("CREATE ROLE"), "{audit}");
    assert!(!audit.contains("PASSWORD") && !audit.contains("redacted"), "{audit}");
    assert!(!ran.stderr.contains("password"), "{}", ran.stderr);

    // CSV: auth is the last column; an existing role stays as it was.
    let csv = fleet
        .pgacct()
        .args("user create --env qa --db orders --type iam app_iam --format csv")
        .run()
        .stdout;
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().ends_with(",valid_until,auth"), "{csv}");
    let row = lines.next().unwrap();
    assert!(row.contains("user already exists") && row.ends_with(",iam-rds"), "{csv}");

    fleet
        .pgacct()
        .args("user reset-password --env qa --db orders app_iam")
        .expect(2)
        .stderr_contains("app_iam is an iam-rds account (type iam): it has no password")
        .run();
    assert_eq!(login_and_password(&fleet.pg, "app_iam"), Some((true, false)));
    assert_eq!(fleet.sandbox.count_records("operation = 'user.reset-password'"), 0);
}

/// A cert type on one server: password options are usage errors before
/// any connection; the create says which `pg_hba.conf` line the role needs;
/// reset-password is refused by the marker and by `--type`; rotate leaves
/// the role out; report flags nothing about its missing password.
fn cert_accounts_refuse_password_options_resets_and_rotations() {
    let fleet = Fleet::new(Admin::Superuser, None, &["orders"]);
    fleet
        .sandbox
        .write_config("[types.tls]\npassword = false\nauth = \"cert\"\nconnection_limit = 5\n");
    let target = "--env qa --db orders";
    let connections = || fleet.pg.log().matches("connection received").count();
    let before = connections();
    let secret = fleet.sandbox.path().join("tls.env");
    fleet
        .pgacct()
        .args(&format!("user create {target} --type tls app_tls --secret-file"))
        .arg(&secret)
        .expect(2)
        .stderr_contains(
            "error: type tls has no password (auth = \"cert\"): --secret-file has nothing to do",
        )
        .run();
    fleet
        .pgacct()
        .args(&format!("user create {target} --type tls app_tls --password-stdin"))
        .args("--secret-format json --secret-file")
        .arg(&secret)
        .stdin("a-password-of-mine\n")
        .expect(2)
        .stderr_contains("--password-stdin and --secret-file have nothing to do")
        .run();
    assert_eq!(connections(), before, "a refused create connected");
    assert!(!secret.exists());
    assert_eq!(login_and_password(&fleet.pg, "app_tls"), None);

    let dry = fleet.pgacct().args(&format!("user create {target} --type tls app_tls --dry-run"));
    let plan = dry.stderr_contains("--dry-run: nothing was changed").run().stdout;
    assert!(plan.contains("CREATE ROLE \"app_tls\" WITH LOGIN CONNECTION LIMIT 5;"), "{plan}");
    assert!(!plan.contains("PASSWORD"), "{plan}");

    let rows = fleet
        .pgacct()
        .args(&format!("user create {target} --type tls app_tls --format json"))
        .run()
        .rows();
    assert_eq!(
        rows[0]["status"],
        "user created; logs in with a client certificate: needs a pg_hba.conf line such as \
         \"hostssl all app_tls 0.0.0.0/0 cert\""
    );
    assert_eq!((&rows[0]["password"], &rows[0]["auth"]), (&Value::Null, &Value::from("cert")));
    assert_eq!(login_and_password(&fleet.pg, "app_tls"), Some((true, false)));

    // Resets: by the marker, with --type of the cert type, and with
    // --type of a type with passwords (the marker still tells).
    for (reset, refusal) in [
        ("", "app_tls is a cert account (type tls): it has no password"),
        (" --type tls", "error: app_tls is a cert account (type tls): it has no password"),
        (" --type devqa", "app_tls is a cert account (type tls): it has no password"),
    ] {
        fleet
            .pgacct()
            .args(&format!("user reset-password {target} app_tls{reset}"))
            .expect(2)
            .stderr_contains(refusal)
            .run();
    }
    assert_eq!(login_and_password(&fleet.pg, "app_tls"), Some((true, false)));
    assert_eq!(fleet.sandbox.count_records("operation = 'user.reset-password'"), 0);

    // A role with a password is still reset: the marker is read first.
    fleet.create("plain");
    let ran = fleet
        .pgacct()
        .args(&format!("user reset-password {target} plain --format json -vv"))
        .any_stderr()
        .run();
    assert_eq!(ran.rows()[0]["status"], "password reset");
    assert!(ran.stderr.contains("(6 round trips in all)"), "{}", ran.stderr);

    // Rotate: named, it is refused; by type, left out and said so.
    let dir = fleet.sandbox.path().join("rotated");
    fleet
        .pgacct()
        .args(&format!("user rotate {target} app_tls --secret-dir"))
        .arg(&dir)
        .expect(2)
        .stderr_contains("refusing to rotate app_tls (a cert account of type tls: no password)")
        .run();
    fleet
        .pgacct()
        .args(&format!("user rotate {target} --type tls --older-than 1d --secret-dir"))
        .arg(&dir)
        .stderr_contains("never rotated: app_tls (a cert account of type tls: no password)")
        .stderr_contains("no roles are selected")
        .run();
    assert!(!dir.join("app_tls.env").exists());

    // Report: no password is what its type says, not a problem.
    let report = fleet
        .pgacct()
        .args(&format!("user report {target} --name app_tls --format json"))
        .run()
        .rows();
    assert_eq!(report.len(), 1, "{report:?}");
    assert_eq!(report[0]["password"], "none");
    assert_eq!(report[0]["managed"], "tls");
    assert_eq!(report[0]["problems"], serde_json::json!([]));
    fleet
        .pgacct()
        .args(&format!(
            "user report {target} --name app_tls --md5 --older-than 1d --expiring-within 30d \
             --unmanaged --fail-if-any"
        ))
        .stderr_contains("no roles match")
        .run();
}

fn external_accounts_say_they_log_in_elsewhere() {
    let fleet = Fleet::new(Admin::Superuser, None, &["orders"]);
    fleet.sandbox.write_config("[types.vm]\npassword = false\nauth = \"external\"\n");
    let rows = fleet
        .pgacct()
        .args("user create-vm --env qa --db orders --server web01 --service-port 80 --format json")
        .run()
        .rows();
    assert_eq!(rows[0]["user"], "web01_80");
    assert_eq!(
        rows[0]["status"],
        "user created; authenticates outside PostgreSQL passwords (external)"
    );
    assert_eq!((&rows[0]["password"], &rows[0]["auth"]), (&Value::Null, &Value::from("external")));
    assert_eq!(login_and_password(&fleet.pg, "web01_80"), Some((true, false)));
    // A type with passwords still shows its own, and no auth.
    let rows = fleet
        .pgacct()
        .args("user create --env qa --db orders --type devqa alice --format json")
        .run()
        .rows();
    assert_eq!(rows[0]["status"], "user created");
    assert!(rows[0]["password"].is_string());
    assert_eq!(rows[0]["auth"], Value::Null);
}

fn a_password_less_type_without_its_auth_is_a_config_error() {
    let sandbox = Sandbox::new();
    Run::new(&sandbox)
        .args("registry add --env qa --db orders --host 127.0.0.1 --port 1 --admin-user postgres")
        .stderr_contains("added qa/orders")
        .run();
    for (config, line, what) in [
        (
            "# no auth\n[types.iam]\npassword = false\n",
            2,
            "password = false needs auth = \"iam-rds\", \"cert\" or \"external\"",
        ),
        (
            "# no password = false\n[types.tls]\nauth = \"cert\"\n",
            2,
            "auth = \"cert\" is for roles without a password: say password = false as well",
        ),
        ("# unknown auth\n[types.x]\npassword = false\nauth = \"ldap\"\n", 4, "not \"ldap\""),
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
    assert_eq!(sandbox.count_records("operation LIKE 'user.%'"), 0);
}
