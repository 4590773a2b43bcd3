//! libpq 17's `sslnegotiation`: `direct` starts TLS at once against
//! PostgreSQL 17 and later (seen by a relay that records what a client
//! sends first), is refused with a weak sslmode as libpq refuses it, and
//! against PostgreSQL 16 fails saying why. And the registry column that
//! holds it (migration 6), read from an older file without migrating it.

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use libtest_mimic::Trial;

use crate::support::cluster::ServerTls;
use crate::support::runner::test;
use crate::support::tls::TestCa;
use crate::support::{Cluster, Run, Sandbox};

pub fn tests() -> Vec<Trial> {
    vec![
        test!(direct_tls_starts_at_once_on_17),
        test!(direct_tls_starts_at_once_on_18),
        test!(direct_tls_against_16_says_the_server_does_not_support_it),
        test!(a_weak_sslmode_with_direct_is_refused_as_libpq_refuses_it),
        test!(a_registry_of_schema_5_is_read_as_it_is_and_migrated_by_a_change),
    ]
}

/// Only TLS from TCP clients.
const HBA: &str = "\
local    all  all                trust
hostssl  all  all  127.0.0.1/32  scram-sha-256
";

/// The first byte of a TLS handshake record; an `SSLRequest` starts with its
/// length, 0x00000008.
const TLS_HANDSHAKE: u8 = 0x16;
const SSL_REQUEST: u8 = 0x00;

/// A TCP relay on 127.0.0.1 in front of a server port, which records the
/// first byte of each connection a client opens through it.
struct Relay {
    port: u16,
    first_bytes: Arc<Mutex<Vec<u8>>>,
}

impl Relay {
    fn to(server_port: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let first_bytes = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&first_bytes);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let seen = Arc::clone(&seen);
                std::thread::spawn(move || relay(client, server_port, &seen));
            }
        });
        Relay { port, first_bytes }
    }

    fn first_bytes(&self) -> Vec<u8> {
        self.first_bytes.lock().unwrap().clone()
    }
}

fn relay(client: TcpStream, server_port: u16, seen: &Mutex<Vec<u8>>) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", server_port)) else { return };
    let mut first = [0];
    if client.peek(&mut first).is_ok_and(|n| n == 1) {
        seen.lock().unwrap().push(first[0]);
    }
    let copy = |mut from: TcpStream, mut to: TcpStream| {
        let mut buf = [0; 8192];
        while let Ok(n @ 1..) = from.read(&mut buf) {
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    };
    let (client_in, server_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let upstream = std::thread::spawn(move || copy(client_in, server_out));
    copy(server, client);
    let _ = upstream.join();
}

/// A TLS-only cluster of `major` with a certificate for `localhost`, and a
/// sandbox with the CA's certificate in `ca.pem`.
fn tls_cluster(major: u32) -> (Cluster, Sandbox) {
    let ca = TestCa::new("pgacct test CA");
    let server = ca.server(&["localhost"]);
    let tls = ServerTls { cert: server.cert, key: server.key, client_ca: None };
    let pg = Cluster::builder().major(major).hba(HBA).tls(tls).start();
    let sandbox = Sandbox::new();
    sandbox.write("ca.pem", ca.cert_pem());
    (pg, sandbox)
}

/// Registers `tls/postgres` on `localhost:port`, verified against ca.pem.
fn register(sandbox: &Sandbox, port: u16, extra: &str) {
    Run::new(sandbox)
        .args(&format!("registry add --env tls --db postgres --host localhost --port {port}"))
        .args("--admin-user postgres --sslmode verify-full --sslrootcert ca.pem")
        .args(extra)
        .stderr_is(&format!("added tls/postgres (localhost:{port})\n"))
        .run();
}

fn direct_tls_starts_at_once_on_17() {
    direct_tls_starts_at_once(17);
}

fn direct_tls_starts_at_once_on_18() {
    direct_tls_starts_at_once(18);
}

/// From the registry or from `PGSSLNEGOTIATION`, `direct` sends a TLS
/// handshake first and connects encrypted; `postgres` sends an `SSLRequest`.
fn direct_tls_starts_at_once(major: u32) {
    let (pg, sandbox) = tls_cluster(major);
    let relay = Relay::to(pg.port());
    register(&sandbox, relay.port, "--sslnegotiation direct");
    let check = || Run::new(&sandbox).args("registry check").env("PGPASSWORD", pg.password());

    let rows = check().rows();
    assert_eq!(rows[0]["reachable"], true, "{rows:?}");
    assert_eq!(rows[0]["tls"], "TLSv1.3");
    assert_eq!(relay.first_bytes(), [TLS_HANDSHAKE]);
    // A change goes the same way.
    Run::new(&sandbox)
        .args("user create --env tls --all --type devqa direct_dora -q --format json")
        .env("PGPASSWORD", pg.password())
        .run();
    let made = pg
        .client_over_socket()
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = 'direct_dora' AND rolcanlogin", &[])
        .unwrap();
    assert!(made.is_some(), "the role was not created");
    assert!(relay.first_bytes().iter().all(|b| *b == TLS_HANDSHAKE), "{:?}", relay.first_bytes());

    Run::new(&sandbox)
        .args("registry update --env tls --db postgres --unset sslnegotiation -q")
        .run();
    let before = relay.first_bytes().len();
    assert_eq!(check().rows()[0]["tls"], "TLSv1.3");
    assert_eq!(relay.first_bytes()[before..], [SSL_REQUEST]);

    let rows = check().env("PGSSLNEGOTIATION", "direct").rows();
    assert_eq!(rows[0]["tls"], "TLSv1.3");
    assert_eq!(relay.first_bytes().last(), Some(&TLS_HANDSHAKE));
    // The registry's postgres wins over the environment's direct.
    Run::new(&sandbox)
        .args("registry update --env tls --db postgres --sslnegotiation postgres -q")
        .run();
    check().env("PGSSLNEGOTIATION", "direct").rows();
    assert_eq!(relay.first_bytes().last(), Some(&SSL_REQUEST));
}

/// PostgreSQL 16 reads a TLS handshake as a startup packet of absurd
/// length and hangs up; libpq then says only "SSL SYSCALL error: EOF
/// detected". pgacct says what that means.
fn direct_tls_against_16_says_the_server_does_not_support_it() {
    let (pg, sandbox) = tls_cluster(16);
    register(&sandbox, pg.port(), "--sslnegotiation direct");
    let rows = Run::new(&sandbox)
        .args("registry check")
        .env("PGPASSWORD", pg.password())
        .expect(1)
        .stderr_contains(
            "hint: tls/postgres: use sslnegotiation postgres for this server: pgacct registry \
             update --env tls --db postgres --unset sslnegotiation",
        )
        .rows();
    assert_eq!(
        rows[0]["error"],
        "the server closed the connection at the direct TLS handshake: it does not support \
         sslnegotiation=direct (PostgreSQL 17 and later do, with ssl = on)"
    );
    assert!(pg.log().contains("invalid length of startup packet"), "{}", pg.log());
}

/// libpq refuses `direct` with an sslmode that could fall back to plain
/// text (disable, allow, prefer), in the registry and from the
/// environment, before anything is written or any connection is made.
fn a_weak_sslmode_with_direct_is_refused_as_libpq_refuses_it() {
    let pg = Cluster::start();
    let sandbox = Sandbox::new();
    let add = |extra: &str| {
        Run::new(&sandbox)
            .args(&format!(
                "registry add --env qa --db postgres --host 127.0.0.1 --port {}",
                pg.port()
            ))
            .args("--admin-user postgres")
            .args(extra)
    };
    add("--sslnegotiation direct")
        .expect(2)
        .stderr_contains("sslnegotiation direct needs sslmode require, verify-ca or verify-full")
        .run();
    for weak in ["disable", "allow", "prefer"] {
        add(&format!("--sslnegotiation direct --sslmode {weak}"))
            .expect(2)
            .stderr_contains(&format!(
                r#"weak sslmode "{weak}" may not be used with sslnegotiation=direct (use "require", "verify-ca", or "verify-full")"#
            ))
            .run();
    }
    assert!(!sandbox.registry().exists(), "a refused add wrote the registry");
    add("--sslnegotiation direct --sslmode require -q").run();
    let before = Run::new(&sandbox).args("registry show --env qa --db postgres").json();
    for change in ["--sslmode allow", "--unset sslmode"] {
        Run::new(&sandbox)
            .args(&format!("registry update --env qa --db postgres {change}"))
            .expect(2)
            .stderr_contains("sslnegotiation")
            .run();
    }
    assert_eq!(Run::new(&sandbox).args("registry show --env qa --db postgres").json(), before);
    Run::new(&sandbox)
        .args("registry update --env qa --db postgres --unset sslnegotiation --unset sslmode -q")
        .run();

    // From the environment: a target whose sslmode is the default prefer.
    let connections = pg.log().matches("connection received").count();
    Run::new(&sandbox)
        .args("registry check")
        .env("PGPASSWORD", pg.password())
        .env("PGSSLNEGOTIATION", "direct")
        .expect(2)
        .stderr_contains(&format!(
            r#"error: qa/postgres (127.0.0.1:{}): weak sslmode "prefer" may not be used with sslnegotiation=direct"#,
            pg.port()
        ))
        .stderr_contains("hint: give the target sslmode require or stronger")
        .run();
    Run::new(&sandbox)
        .args("user create --env qa --all --type devqa nobody")
        .env("PGPASSWORD", pg.password())
        .env("PGSSLNEGOTIATION", "direct")
        .expect(2)
        .stderr_contains(r#"weak sslmode "prefer""#)
        .run();
    assert_eq!(pg.log().matches("connection received").count(), connections, "it connected");
    assert!(Run::new(&sandbox).args("audit show --operation user").rows().is_empty());
    Run::new(&sandbox)
        .args("registry check")
        .env("PGSSLNEGOTIATION", "tls")
        .expect(2)
        .stderr_contains("invalid PGSSLNEGOTIATION: invalid sslnegotiation 'tls'")
        .run();

    // Over a Unix socket no TLS is spoken: direct with require connects
    // in plain text, as libpq does.
    Run::new(&sandbox)
        .args("registry add --env local --db postgres --admin-user postgres --host")
        .arg(pg.socket_dir())
        .args(&format!("--port {} --sslmode require --sslnegotiation direct -q", pg.port()))
        .run();
    let rows = Run::new(&sandbox).args("registry check --env local").rows();
    assert_eq!((&rows[0]["reachable"], &rows[0]["tls"]), (&true.into(), &"no".into()));
}

/// A registry written before migration 6 (schema 5) is read as it is by
/// reading commands, and migrated by the first change.
fn a_registry_of_schema_5_is_read_as_it_is_and_migrated_by_a_change() {
    let sandbox = Sandbox::new();
    Run::new(&sandbox)
        .args("registry add --env qa --db app --host db1 --sslmode require --label tier=gold -q")
        .run();
    let path = sandbox.registry();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "ALTER TABLE targets DROP COLUMN sslnegotiation;
         ALTER TABLE targets DROP COLUMN admin_password_command;
         PRAGMA user_version = 5;",
    )
    .unwrap();
    drop(conn);
    let before = std::fs::read(&path).unwrap();
    let listed = Run::new(&sandbox).args("registry list").rows();
    assert_eq!(listed[0]["sslnegotiation"], serde_json::Value::Null);
    assert_eq!(listed[0]["admin_password_command"], serde_json::Value::Null);
    assert_eq!(listed[0]["labels"]["tier"], "gold");
    Run::new(&sandbox).args("registry export --format toml").run();
    assert_eq!(std::fs::read(&path).unwrap(), before, "a reading command wrote the file");

    Run::new(&sandbox)
        .args("registry update --env qa --db app --sslnegotiation direct -q")
        .arg("--admin-password-command")
        .arg("pass show pg/qa")
        .run();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, 6);
    let shown = Run::new(&sandbox).args("registry show --env qa --db app").json();
    assert_eq!(shown["sslnegotiation"], "direct");
    assert_eq!(shown["admin_password_command"], serde_json::json!(["pass", "show", "pg/qa"]));
    assert_eq!(shown["labels"]["tier"], "gold");
}
