//! TLS against a server with a certificate for `localhost` from a test CA:
//! libpq's sslmodes, failures that say why, and client certificates.

use libtest_mimic::Trial;

use crate::support::runner::test;
use serde_json::Value;

use crate::support::cluster::ServerTls;
use crate::support::tls::TestCa;
use crate::support::{Cluster, Sandbox};

pub fn tests() -> Vec<Trial> {
    vec![
        test!(sslmodes_behave_as_in_libpq),
        test!(verify_modes_need_a_root_certificate_and_require_needs_a_tls_server),
    ]
}

/// Only TLS from TCP clients: password (scram) for everyone, or a client
/// certificate for the role `certuser`.
const HBA: &str = "\
local     all          all                     trust
local     replication  all                     trust
hostssl   all          certuser  127.0.0.1/32  cert
hostssl   all          all       127.0.0.1/32  scram-sha-256
";

fn add(sandbox: &Sandbox, db: &str, host: &str, port: u16, extra: &[&str]) {
    sandbox
        .pgacct()
        .args(["registry", "add", "--env", "tls", "--db", db, "--host", host])
        .args(["--port", &port.to_string(), "--admin-user", "postgres"])
        .args(extra)
        .assert()
        .success();
}

/// A TLS-only cluster, with one registered target (and database) per case.
fn cluster_with_a_target_per_case() -> (Cluster, Sandbox) {
    let ca = TestCa::new("pgacct test CA");
    let other_ca = TestCa::new("someone else's CA");
    let server = ca.server(&["localhost"]);
    let tls =
        ServerTls { cert: server.cert, key: server.key, client_ca: Some(ca.cert_pem().to_owned()) };
    let pg = Cluster::builder().hba(HBA).tls(tls).start();
    let mut admin = pg.client_over_socket();
    admin.batch_execute("CREATE ROLE certuser LOGIN").unwrap();
    for db in [
        "verify_full",
        "wrong_ca",
        "by_ip",
        "chain_only",
        "require",
        "disable",
        "system_weak",
        "client_cert",
    ] {
        admin.batch_execute(&format!("CREATE DATABASE {db}")).unwrap();
    }

    let sandbox = Sandbox::new();
    let ca_file = sandbox.write("ca.pem", ca.cert_pem());
    let other_file = sandbox.write("other-ca.pem", other_ca.cert_pem());
    let client = ca.client("certuser");
    let cert_file = sandbox.write("client.crt", &client.cert);
    let key_file = sandbox.write("client.key", &client.key);
    std::fs::set_permissions(&key_file, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .unwrap();
    let (ca_file, other_file) = (ca_file.to_str().unwrap(), other_file.to_str().unwrap());
    let port = pg.port();
    add(
        &sandbox,
        "verify_full",
        "localhost",
        port,
        &["--sslmode", "verify-full", "--sslrootcert", ca_file],
    );
    add(
        &sandbox,
        "wrong_ca",
        "localhost",
        port,
        &["--sslmode", "verify-full", "--sslrootcert", other_file],
    );
    add(
        &sandbox,
        "by_ip",
        "127.0.0.1",
        port,
        &["--sslmode", "verify-full", "--sslrootcert", ca_file],
    );
    add(
        &sandbox,
        "chain_only",
        "127.0.0.1",
        port,
        &["--sslmode", "verify-ca", "--sslrootcert", ca_file],
    );
    add(&sandbox, "require", "127.0.0.1", port, &["--sslmode", "require"]);
    add(&sandbox, "disable", "127.0.0.1", port, &["--sslmode", "disable"]);
    add(
        &sandbox,
        "system_weak",
        "127.0.0.1",
        port,
        &["--sslmode", "require", "--sslrootcert", "system"],
    );
    sandbox
        .pgacct()
        .args(["registry", "add", "--env", "tls", "--db", "client_cert", "--host", "localhost"])
        .args(["--port", &port.to_string(), "--admin-user", "certuser"])
        .args(["--sslmode", "verify-full", "--sslrootcert", ca_file])
        .args(["--sslcert", cert_file.to_str().unwrap(), "--sslkey", key_file.to_str().unwrap()])
        .assert()
        .success();
    (pg, sandbox)
}

fn sslmodes_behave_as_in_libpq() {
    let (pg, sandbox) = cluster_with_a_target_per_case();

    // The client-certificate target gets no password: none is set for certuser.
    let out = sandbox
        .pgacct()
        .args(["registry", "check", "--format", "json"])
        .env("PGACCT_ADMIN_PASSWORD", pg.password())
        .env("PGPASSFILE", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<Value> =
        serde_json::from_slice::<Value>(&out.stdout).unwrap().as_array().unwrap().clone();
    let row = |db: &str| rows.iter().find(|r| r["db"] == db).unwrap().clone();
    let error = |db: &str| row(db)["error"].as_str().unwrap_or_default().to_owned();

    for db in ["verify_full", "chain_only", "require", "client_cert"] {
        assert_eq!(row(db)["reachable"], true, "{db}: {}", row(db));
        assert!(row(db)["tls"].as_str().unwrap().starts_with("TLSv1."), "{db}: {}", row(db));
    }
    assert_eq!(row("client_cert")["superuser"], false);
    assert!(
        error("wrong_ca").contains("the server's certificate is not signed by a CA in sslrootcert"),
        "{}",
        error("wrong_ca")
    );
    assert!(
        error("by_ip").contains("the server's certificate is not valid for host '127.0.0.1'"),
        "{}",
        error("by_ip")
    );
    assert!(
        error("by_ip").contains("localhost"),
        "the names the certificate has: {}",
        error("by_ip")
    );
    assert!(
        error("disable").contains(r#"no pg_hba.conf entry for host "127.0.0.1""#)
            && (error("disable").contains("no encryption") || error("disable").contains("SSL off")),
        "{}",
        error("disable")
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "hint: tls/disable: the server accepts only TLS connections from here, but sslmode \
             is disable"
        ),
        "{stderr}"
    );
    assert_eq!(
        error("system_weak"),
        "weak sslmode require may not be used with sslrootcert=system (use verify-full)"
    );
}

fn verify_modes_need_a_root_certificate_and_require_needs_a_tls_server() {
    let pg = Cluster::start();
    let sandbox = Sandbox::new();
    add(&sandbox, "postgres", "127.0.0.1", pg.port(), &["--sslmode", "verify-ca"]);
    let out = sandbox
        .pgacct()
        .args(["registry", "check"])
        .env("PGPASSWORD", pg.password())
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("sslmode verify-ca needs a root certificate"), "{out}");

    sandbox
        .pgacct()
        .args(["registry", "update", "--env", "tls", "--db", "postgres", "--sslmode", "require"])
        .assert()
        .success();
    let out = sandbox
        .pgacct()
        .args(["registry", "check"])
        .env("PGPASSWORD", pg.password())
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("the server does not accept TLS connections"), "{stdout}");

    // prefer (the default) falls back to plain text against this server.
    sandbox
        .pgacct()
        .args(["registry", "update", "--env", "tls", "--db", "postgres", "--unset", "sslmode"])
        .assert()
        .success();
    let out = sandbox
        .pgacct()
        .args(["registry", "check", "--format", "json"])
        .env("PGPASSWORD", pg.password())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let rows: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(rows[0]["tls"], "no");
}
