//! Notifications against local receivers: every kind gets the event of a
//! create and a reset, without the password; filters select; a receiver
//! that is down, hangs or fails never fails the operation.

use libtest_mimic::Trial;

use crate::support::runner::test;
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::receivers::{Answer, HttpReceiver, SmtpReceiver};
use crate::support::{Cluster, Sandbox};

pub fn tests() -> Vec<Trial> {
    vec![
        test!(every_kind_hears_of_a_create_and_a_reset_without_the_password),
        test!(filters_choose_the_channels),
        test!(failing_receivers_never_fail_the_operation),
        test!(notify_test_reports_each_channel),
        test!(an_incomplete_channel_is_a_config_error),
    ]
}

const WEBEX_TOKEN: &str = "webex-token-Xy9";
const HOOK_AUTH: &str = "Bearer hook-secret-Qq1";

fn setup() -> (Cluster, Sandbox) {
    let pg = Cluster::start();
    pg.client().batch_execute("CREATE DATABASE orders").unwrap();
    let sandbox = Sandbox::new();
    sandbox.register("qa", "orders", &pg, &[]);
    (pg, sandbox)
}

fn run(sandbox: &Sandbox, pg: &Cluster, args: &[&str]) -> Output {
    sandbox
        .pgacct()
        .env("PGACCT_ADMIN_PASSWORD", pg.password())
        .env("WEBEX_TOKEN", WEBEX_TOKEN)
        .env("HOOK_AUTH", HOOK_AUTH)
        .args(args)
        .output()
        .unwrap()
}

/// The password a create or reset printed.
fn password(out: &Output) -> String {
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    rows[0]["password"].as_str().unwrap().to_owned()
}

fn audit(sandbox: &Sandbox, args: &[&str]) -> Vec<Value> {
    let out = sandbox
        .pgacct()
        .args(["audit", "show", "--limit", "0", "--format", "json"])
        .args(args)
        .output()
        .unwrap();
    serde_json::from_slice::<Value>(&out.stdout).unwrap().as_array().unwrap().clone()
}

/// One channel of each kind: Slack, Webex and a webhook on `http`, a
/// command appending to `events`, and email through `smtp`.
fn configure_every_kind(
    sandbox: &Sandbox,
    http: &HttpReceiver,
    smtp: &SmtpReceiver,
    events: &std::path::Path,
) {
    sandbox.write_config(&format!(
        r#"
[[notify]]
kind = "slack"
name = "dba-chat"
url = "{slack}"

[[notify]]
kind = "webex"
url = "{webex}"
room_id = "room-42"
token_env = "WEBEX_TOKEN"

[[notify]]
kind = "webhook"
url = "{hook}"
headers = {{ "X-Team" = "dba" }}
headers_from_env = {{ "Authorization" = "HOOK_AUTH" }}

[[notify]]
kind = "command"
program = "sh"
args = ["-c", "cat >> '{events}'; echo >> '{events}'"]

[[notify]]
kind = "email"
host = "127.0.0.1"
port = {smtp_port}
starttls = false
from = "pgacct@example.com"
to = ["dba@example.com", "oncall@example.com"]
"#,
        slack = http.url("/slack"),
        webex = http.url("/webex"),
        hook = http.url("/hook"),
        events = events.display(),
        smtp_port = smtp.port(),
    ));
}

/// The JSON event of the `create-vm` of `web01_80` on `qa/orders` under CHG-77.
fn assert_is_the_create(event: &Value, pg: &Cluster) {
    assert_eq!(event["event"], "pgacct.operation");
    assert_eq!(event["operation"], "user.create");
    assert_eq!(event["role"], "web01_80");
    assert_eq!(event["outcome"], "ok");
    assert_eq!(event["ticket"], "CHG-77");
    assert!(
        !event["actor"].as_str().unwrap().is_empty() && !event["host"].as_str().unwrap().is_empty()
    );
    assert!(event["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(event["targets"][0]["env"], "qa");
    assert_eq!(event["targets"][0]["db"], "orders");
    assert_eq!(event["targets"][0]["cluster"], format!("127.0.0.1:{}", pg.port()));
    assert_eq!(event["targets"][0]["status"], "user created");
}

fn every_kind_hears_of_a_create_and_a_reset_without_the_password() {
    let (pg, sandbox) = setup();
    let http = HttpReceiver::start(Answer::Status(200));
    let smtp = SmtpReceiver::start();
    let events = sandbox.path().join("events.jsonl");
    configure_every_kind(&sandbox, &http, &smtp, &events);

    let created = run(
        &sandbox,
        &pg,
        &[
            "user",
            "create-vm",
            "--env",
            "qa",
            "--db",
            "orders",
            "--server",
            "web01",
            "--service-port",
            "80",
            "--ticket",
            "CHG-77",
            "--format",
            "json",
        ],
    );
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let reset = run(
        &sandbox,
        &pg,
        &[
            "user",
            "reset-password",
            "--env",
            "qa",
            "--db",
            "orders",
            "web01_80",
            "--format",
            "json",
        ],
    );
    assert!(reset.status.success(), "{}", String::from_utf8_lossy(&reset.stderr));
    assert!(created.stderr.is_empty() && reset.stderr.is_empty(), "no warnings expected");

    let requests = http.requests();
    let at = |path: &str| requests.iter().filter(|r| r.path == path).cloned().collect::<Vec<_>>();
    let slack = at("/slack");
    assert_eq!(slack.len(), 2);
    let text = slack[0].json()["text"].as_str().unwrap().to_owned();
    assert!(text.contains("user.create web01_80 on qa/orders: user created [CHG-77]"), "{text}");
    assert!(
        slack[1].json()["text"]
            .as_str()
            .unwrap()
            .contains("user.reset-password web01_80 on qa/orders: password reset")
    );

    let webex = at("/webex");
    assert_eq!(webex.len(), 2);
    assert_eq!(webex[0].header("authorization"), Some(format!("Bearer {WEBEX_TOKEN}").as_str()));
    assert_eq!(webex[0].json()["roomId"], "room-42");
    assert!(webex[0].json()["text"].as_str().unwrap().contains("user created"));

    let hook = at("/hook");
    assert_eq!(hook.len(), 2);
    assert_eq!(hook[0].header("x-team"), Some("dba"));
    assert_eq!(hook[0].header("authorization"), Some(HOOK_AUTH));
    assert_is_the_create(&hook[0].json(), &pg);
    assert_eq!(hook[1].json()["operation"], "user.reset-password");

    let lines = std::fs::read_to_string(&events).unwrap();
    let commands: Vec<Value> =
        lines.lines().filter(|l| !l.is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(commands.len(), 2);
    assert_eq!(commands[1]["operation"], "user.reset-password");

    let mails = smtp.messages();
    assert_eq!(mails.len(), 2);
    assert!(
        mails[0].contains("Subject: ")
            && mails[0].contains("dba@example.com")
            && mails[0].contains("oncall@example.com")
    );
    assert!(mails[0].contains("\"operation\": \"user.create\""), "{}", mails[0]);

    let payloads: Vec<String> =
        requests.iter().map(|r| r.body.clone()).chain([lines]).chain(mails).collect();
    for secret in [password(&created), password(&reset)] {
        for payload in &payloads {
            assert!(!payload.contains(&secret), "a notification carries the password: {payload}");
        }
    }

    let delivered = audit(&sandbox, &["--operation", "notify"]);
    assert_eq!(delivered.len(), 10, "5 channels, 2 operations");
    assert!(delivered.iter().all(|r| r["outcome"] == "ok"), "{delivered:?}");
    assert!(delivered.iter().any(|r| r["status"] == "delivered to slack 'dba-chat': HTTP 200"));
    assert!(
        delivered.iter().any(|r| r["status"] == "delivered to command 'command-4': exit status 0")
    );
}

fn filters_choose_the_channels() {
    let (pg, sandbox) = setup();
    let http = HttpReceiver::start(Answer::Status(200));
    sandbox.write_config(&format!(
        r#"
[[notify]]
kind = "webhook"
url = "{prod}"
envs = ["prod"]

[[notify]]
kind = "webhook"
url = "{resets}"
operations = ["user.reset-password"]

[[notify]]
kind = "webhook"
url = "{qa_users}"
envs = ["qa"]
operations = ["user"]

[[notify]]
kind = "webhook"
url = "{registry}"
operations = ["registry"]
"#,
        prod = http.url("/prod"),
        resets = http.url("/resets"),
        qa_users = http.url("/qa-users"),
        registry = http.url("/registry"),
    ));
    run(
        &sandbox,
        &pg,
        &["user", "create", "--env", "qa", "--db", "orders", "--type", "devqa", "fay"],
    );
    run(&sandbox, &pg, &["user", "reset-password", "--env", "qa", "--db", "orders", "fay"]);
    run(&sandbox, &pg, &["registry", "update", "--env", "qa", "--db", "orders", "--notes", "x"]);
    let count = |path: &str| http.requests().iter().filter(|r| r.path == path).count();
    assert_eq!(count("/prod"), 0);
    assert_eq!(count("/resets"), 1);
    assert_eq!(count("/qa-users"), 2);
    assert_eq!(count("/registry"), 1);
    let update = http.requests().into_iter().find(|r| r.path == "/registry").unwrap().json();
    assert_eq!(update["operation"], "registry.update");
    assert_eq!(update["targets"][0]["status"], "target updated: notes=\"x\"");
}

fn failing_receivers_never_fail_the_operation() {
    let (pg, sandbox) = setup();
    let failing = HttpReceiver::start(Answer::Status(500));
    let hanging = HttpReceiver::start(Answer::Hang);
    let down = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    sandbox.write_config(&format!(
        r#"
[[notify]]
kind = "webhook"
name = "down"
url = "http://127.0.0.1:{down}/"
timeout = "2s"

[[notify]]
kind = "slack"
name = "hangs"
url = "{hangs}"
timeout = "2s"

[[notify]]
kind = "webhook"
name = "fails"
url = "{fails}"
timeout = "2s"

[[notify]]
kind = "command"
name = "slow"
program = "sleep"
args = ["30"]
timeout = "2s"
"#,
        hangs = hanging.url("/"),
        fails = failing.url("/"),
    ));
    let started = Instant::now();
    let out = run(
        &sandbox,
        &pg,
        &["user", "create", "--env", "qa", "--db", "orders", "--type", "devqa", "gus"],
    );
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(took < Duration::from_secs(2 + 2 + 1), "took {took:?}");
    assert!(stderr.contains("warning: notification to webhook 'down' failed:"), "{stderr}");
    assert!(
        stderr.contains("warning: notification to slack 'hangs' failed: timed out after 2 s"),
        "{stderr}"
    );
    assert!(
        stderr.contains("warning: notification to webhook 'fails' failed: HTTP 500"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "warning: notification to command 'slow' failed: timed out after 2 s; killed"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("127.0.0.1:"), "a URL leaked into a warning: {stderr}");

    let records = audit(&sandbox, &["--operation", "notify", "--failed"]);
    assert_eq!(records.len(), 4, "{records:?}");
    let error_of = |status: &str| {
        records
            .iter()
            .find(|r| r["status"] == status)
            .map(|r| r["error"].as_str().unwrap().to_owned())
            .unwrap()
    };
    assert_eq!(error_of("not delivered to webhook 'fails'"), "HTTP 500");
    assert_eq!(error_of("not delivered to slack 'hangs'"), "timed out after 2 s");
    assert!(audit(&sandbox, &["--operation", "user"])[0]["outcome"] == "ok");
}

fn notify_test_reports_each_channel() {
    let sandbox = Sandbox::new();
    let http = HttpReceiver::start(Answer::Status(200));
    let failing = HttpReceiver::start(Answer::Status(500));
    sandbox.write_config(&format!(
        "[[notify]]\nkind = \"slack\"\nurl = \"{}\"\n\n[[notify]]\nkind = \"webhook\"\nname = \"ops\"\nurl = \"{}\"\n",
        http.url("/slack"),
        failing.url("/ops"),
    ));
    let out = sandbox.pgacct().args(["notify", "test", "--format", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["channel"], "slack-1");
    assert_eq!(rows[0]["outcome"], "ok");
    assert_eq!(rows[0]["detail"], "HTTP 200");
    assert_eq!(rows[1]["channel"], "ops");
    assert_eq!(rows[1]["outcome"], "failed");
    assert_eq!(rows[1]["detail"], "HTTP 500");
    let text = http.requests()[0].json()["text"].as_str().unwrap().to_owned();
    assert!(text.starts_with("🔔 pgacct: test notification from "), "{text}");

    let out = sandbox.pgacct().args(["notify", "test", "--kind", "slack"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let out = sandbox.pgacct().args(["notify", "test", "--kind", "email"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("no notification channels of kind email are configured")
    );
}

fn an_incomplete_channel_is_a_config_error() {
    let sandbox = Sandbox::new();
    sandbox.write_config("[[notify]]\nkind = \"webex\"\nroom_id = \"r\"\n");
    let out = sandbox.pgacct().args(["notify", "test"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[[notify]] entry 1 (webex): `token_env` is required for kind webex"),
        "{stderr}"
    );
    sandbox.write_config("[[notify]]\nkind = \"pager\"\n");
    let out = sandbox.pgacct().args(["notify", "test"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown variant `pager`"));
}
