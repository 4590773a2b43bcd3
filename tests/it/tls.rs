//! TLS against a server with a certificate for `localhost` from a test CA:
//! libpq's sslmodes, failures that say why, client certificates, sessions
//! that end cleanly, and endpoints that are not PostgreSQL. (psql and
//! pgacct side by side on every sslmode: parity.rs.)

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use libtest_mimic::Trial;
use serde_json::Value;

use crate::support::fleet::majors;
use crate::support::runner::{test, trial};

use crate::support::cluster::ServerTls;
use crate::support::tls::{TestCa, self_signed};
use crate::support::{Cluster, Run, Sandbox};

pub fn tests() -> Vec<Trial> {
    let mut tests = vec![
        test!(sslmodes_behave_as_in_libpq),
        test!(verify_modes_need_a_root_certificate_and_require_needs_a_tls_server),
        test!(tls_failures_read_as_words),
        test!(an_endpoint_that_is_not_postgres_is_named_as_such),
    ];
    for major in majors() {
        let name = format!("every_command_ends_its_sessions_cleanly::pg{major}");
        tests.push(trial(module_path!(), &name, move || {
            every_command_ends_its_sessions_cleanly(major);
        }));
    }
    tests
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
    Run::new(sandbox)
        .args(&format!("registry add --env tls --db {db} --host {host} --port {port}"))
        .args("--admin-user postgres")
        .arg_list(extra)
        .stderr_is(&format!("added tls/{db} ({host}:{port})\n"))
        .run();
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
    Run::new(&sandbox)
        .args(&format!("registry add --env tls --db client_cert --host localhost --port {port}"))
        .args("--admin-user certuser --sslmode verify-full --sslrootcert")
        .arg(ca_file)
        .arg("--sslcert")
        .arg(&cert_file)
        .arg("--sslkey")
        .arg(&key_file)
        .stderr_is(&format!("added tls/client_cert (localhost:{port})\n"))
        .run();
    (pg, sandbox)
}

fn sslmodes_behave_as_in_libpq() {
    let (pg, sandbox) = cluster_with_a_target_per_case();

    // The client-certificate target gets no password: none is set for certuser.
    let rows = Run::new(&sandbox)
        .args("registry check")
        .env("PGACCT_ADMIN_PASSWORD", pg.password())
        .env("PGPASSFILE", "/nonexistent")
        .expect(3)
        .stderr_contains(
            "hint: tls/disable: the server accepts only TLS connections from here, but sslmode \
             is disable",
        )
        .rows();
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
    assert_eq!(
        error("system_weak"),
        "weak sslmode require may not be used with sslrootcert=system (use verify-full)"
    );
}

fn verify_modes_need_a_root_certificate_and_require_needs_a_tls_server() {
    let pg = Cluster::start();
    let sandbox = Sandbox::new();
    add(&sandbox, "postgres", "127.0.0.1", pg.port(), &["--sslmode", "verify-ca"]);
    let check = || Run::new(&sandbox).args("registry check").env("PGPASSWORD", pg.password());
    let out = check()
        .expect(1)
        .stderr_is("1 of 1 target not reachable: tls/postgres (see the error column)\n")
        .run()
        .stdout;
    assert!(out.contains("sslmode verify-ca needs a root certificate"), "{out}");

    Run::new(&sandbox)
        .args("registry update --env tls --db postgres --sslmode require")
        .stderr_is(&format!("updated tls/postgres (127.0.0.1:{})\n", pg.port()))
        .run();
    let stdout = check()
        .expect(1)
        .stderr_contains("hint: tls/postgres: sslmode require needs TLS")
        .run()
        .stdout;
    assert!(stdout.contains("the server does not accept TLS connections"), "{stdout}");

    // prefer (the default) falls back to plain text against this server.
    Run::new(&sandbox)
        .args("registry update --env tls --db postgres --unset sslmode")
        .stderr_is(&format!("updated tls/postgres (127.0.0.1:{})\n", pg.port()))
        .run();
    let rows = check().rows();
    assert_eq!(rows[0]["tls"], "no");
}

/// A message with Rust's debug formatting in it (`Other(OtherError(..))`,
/// `DnsName("db1")`, `Foo { .. }`, `a::b`), which people should never see.
fn debug_text_in(message: &str) -> Option<&str> {
    let bytes = message.as_bytes();
    let call = (1..bytes.len()).find(|&i| bytes[i] == b'(' && bytes[i - 1].is_ascii_alphanumeric());
    if let Some(i) = call {
        return Some(&message[i.saturating_sub(20)..]);
    }
    ["{", "}", "::", "(\"", "Error"].into_iter().find(|sign| message.contains(sign))
}

fn tls_failures_read_as_words() {
    let ca = TestCa::new("pgacct test CA");
    let other = TestCa::new("someone else's CA");
    // The server's certificate names `localhost` by its Common Name only.
    let server = ca.server_with("localhost", &[]);
    let tls = ServerTls { cert: server.cert, key: server.key, client_ca: None };
    let pg = Cluster::builder().tls(tls).start();
    let own = self_signed("localhost");
    let own_cert = own.cert.clone();
    let self_signed_pg =
        Cluster::builder().tls(ServerTls { cert: own.cert, key: own.key, client_ca: None }).start();

    let sandbox = Sandbox::new();
    let ca_file = sandbox.write("ca.pem", ca.cert_pem());
    let other_file = sandbox.write("other.pem", other.cert_pem());
    let own_file = sandbox.write("own.pem", &own_cert);
    let (ca_file, other_file) = (ca_file.to_str().unwrap(), other_file.to_str().unwrap());
    let own_file = own_file.to_str().unwrap();
    let cases: [(&str, &str, &Cluster, &str); 5] = [
        ("name", "127.0.0.1", &pg, ca_file),
        ("issuer", "localhost", &pg, other_file),
        ("self_signed", "localhost", &self_signed_pg, other_file),
        ("cn_only", "localhost", &pg, ca_file),
        ("own_root", "localhost", &self_signed_pg, own_file),
    ];
    for (env, host, cluster, root) in cases {
        Run::new(&sandbox)
            .args(&format!(
                "registry add --env {} --db postgres --host {host}",
                env.replace('_', "-")
            ))
            .args(&format!("--port {} --admin-user postgres --sslmode verify-full", cluster.port()))
            .arg("--sslrootcert")
            .arg(root)
            .stderr_contains("added")
            .run();
    }
    let ran = Run::new(&sandbox)
        .args("registry check --all-envs --format json")
        .env("PGACCT_ADMIN_PASSWORD", pg.password())
        .env("PGACCT_ADMIN_PASSWORD_SELF_SIGNED", self_signed_pg.password())
        .env("PGACCT_ADMIN_PASSWORD_OWN_ROOT", self_signed_pg.password())
        .expect(3)
        .any_stderr()
        .run();
    let rows = ran.rows();
    let error = |env: &str| {
        let row = rows.iter().find(|r| r["env"] == env).unwrap();
        row["error"].as_str().unwrap_or_default().to_owned()
    };
    // Verified by its Common Name, and a self-signed certificate that is
    // its own root, as libpq does (with SCRAM channel binding).
    assert_eq!(error("cn-only"), "", "{rows:?}");
    assert_eq!(error("own-root"), "", "{rows:?}");
    assert_eq!(
        error("name"),
        "TLS verification failed: the server's certificate is not valid for host '127.0.0.1' \
         (it names localhost)"
    );
    assert!(
        error("issuer").contains("is not signed by a CA in sslrootcert"),
        "{}",
        error("issuer")
    );
    assert!(
        error("self-signed").contains("is a CA certificate that is not in sslrootcert"),
        "{}",
        error("self-signed")
    );
    for text in [&ran.stdout, &ran.stderr] {
        for line in text.lines().filter(|l| l.contains("TLS") || l.contains("hint")) {
            assert_eq!(debug_text_in(line), None, "debug text in: {line}");
        }
    }
}

/// A TCP server on loopback that is not PostgreSQL, answering each
/// connection as `answer` does, until dropped.
struct Impostor {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Impostor {
    fn start(answer: fn(TcpStream)) -> Impostor {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false).unwrap();
                        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                        std::thread::spawn(move || answer(stream));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Impostor { port, stop }
    }
}

impl Drop for Impostor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Reads what the client sends until it stops, so that closing sends no
/// reset that could discard the answer (what a web server's lingering
/// close does).
fn linger(mut stream: TcpStream) {
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut buf = [0; 512];
    while matches!(stream.read(&mut buf), Ok(1..)) {}
}

/// An SSH server: it greets first, and hangs up on a client that does not
/// greet back.
fn ssh(mut stream: TcpStream) {
    let _ = stream.write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n");
    let mut buf = [0; 512];
    if matches!(stream.read(&mut buf), Ok(1..)) {
        let _ = stream.write_all(b"Invalid SSH identification string.\r\n");
    }
    linger(stream);
}

/// A web server: a bad request gets a 400.
fn http(mut stream: TcpStream) {
    let mut buf = [0; 512];
    if matches!(stream.read(&mut buf), Ok(1..)) {
        let _ = stream.write_all(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    }
    linger(stream);
}

/// Something that sends bytes of no protocol at all.
fn noise(mut stream: TcpStream) {
    let _ = stream.write_all(&[0xff; 64]);
    linger(stream);
}

fn an_endpoint_that_is_not_postgres_is_named_as_such() {
    let impostors = [
        ("ssh", Impostor::start(ssh)),
        ("http", Impostor::start(http)),
        ("noise", Impostor::start(noise)),
    ];
    let sandbox = Sandbox::new();
    for (name, impostor) in &impostors {
        for sslmode in ["prefer", "require", "disable"] {
            Run::new(&sandbox)
                .args(&format!(
                    "registry add --env {name}-{sslmode} --db postgres --host 127.0.0.1"
                ))
                .args(&format!("--port {} --sslmode {sslmode}", impostor.port))
                .stderr_contains("added")
                .run();
        }
    }
    let rows: Vec<Value> = Run::new(&sandbox)
        .args("registry check --all-envs")
        .env("PGACCT_ADMIN_PASSWORD", "never-sent-Xq2")
        .env("PGCONNECT_TIMEOUT", "5")
        .expect(1)
        .stderr_contains("something else (an HTTP or SSH server?) listens there")
        .rows();
    assert_eq!(rows.len(), 9);
    for row in &rows {
        let port = impostors
            .iter()
            .find(|(name, _)| row["env"].as_str().unwrap().starts_with(name))
            .unwrap()
            .1
            .port;
        assert_eq!(row["error"], format!("127.0.0.1:{port} did not answer as PostgreSQL"), "{row}");
    }
}

/// What the server logs when a client goes away without saying goodbye:
/// a reset, an EOF without Terminate (at DEBUG1), a TLS stream cut short.
const BROKEN_ENDS: [&str; 4] = [
    "Connection reset by peer",
    "could not receive data from client",
    "unexpected EOF on client connection",
    "SSL error",
];

fn every_command_ends_its_sessions_cleanly(major: u32) {
    let ca = TestCa::new("pgacct test CA");
    let server = ca.server(&["localhost"]);
    let tls = ServerTls { cert: server.cert, key: server.key, client_ca: None };
    let pg = Cluster::builder()
        .major(major)
        .tls(tls)
        // Sessions that end without Terminate are logged at DEBUG1.
        .setting("log_min_messages = debug1")
        .start();
    let sandbox = Sandbox::new();
    let ca_file = sandbox.write("ca.pem", ca.cert_pem());
    let mut su = pg.client();
    su.batch_execute("CREATE DATABASE billing").unwrap();
    for (env, sslmode) in [("tls", "verify-full"), ("plain", "disable")] {
        for db in ["postgres", "billing"] {
            Run::new(&sandbox)
                .args(&format!("registry add --env {env} --db {db} --host localhost"))
                .args(&format!("--port {} --admin-user postgres --sslmode {sslmode}", pg.port()))
                .arg("--sslrootcert")
                .arg(&ca_file)
                .stderr_contains("added")
                .run();
        }
    }
    let pgacct = |args: &str| {
        Run::new(&sandbox).env("PGACCT_ADMIN_PASSWORD", pg.password()).args(args).any_stderr()
    };
    for env in ["tls", "plain"] {
        let role = format!("web_{env}");
        pgacct(&format!("registry check --env {env}")).run();
        pgacct(&format!("user create --env {env} --all --type devqa {role}")).run();
        pgacct(&format!("user reset-password --env {env} --all {role}")).run();
        pgacct(&format!("user list --env {env} --all")).run();
        pgacct(&format!("user show --env {env} --all {role}")).run();
        pgacct(&format!("user lock --env {env} --all {role}")).run();
        // Something of the role's in each database: the drop visits both.
        for db in ["postgres", "billing"] {
            pg.client_to(db)
                .batch_execute(&format!(
                    "CREATE TABLE t_{env} (id int); ALTER TABLE t_{env} OWNER TO {role}"
                ))
                .unwrap();
        }
        pgacct(&format!("user drop --env {env} --all {role} --yes")).run();
        // A failure on the way: a role that is not there.
        pgacct(&format!("user unlock --env {env} --all nobody_here")).expect(1).run();
    }
    let log = pg.log();
    let sessions = log.matches("application_name=pgacct").count();
    assert!(sessions >= 20, "expected pgacct's sessions in the log:\n{log}");
    assert!(log.contains("SSL enabled"), "some sessions use TLS:\n{log}");
    for broken in BROKEN_ENDS {
        let line = log.lines().find(|line| line.contains(broken));
        assert!(line.is_none(), "a session ended badly: {}\n{log}", line.unwrap_or_default());
    }
}
