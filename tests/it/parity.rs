//! psql and pgacct side by side, on the same servers and the same files:
//! for each `pg_hba.conf` route (`host`, `hostssl`, `hostnossl`), sslmode,
//! root certificate (right, wrong, none, a file that is gone, a wrong
//! `~/.postgresql/root.crt`) and server certificate (subjectAltName,
//! Common Name only, self-signed), they must agree on whether a session
//! opens and whether it is encrypted. psql is libpq's reference; pgacct
//! reports through `registry check`.
//!
//! One cluster per certificate kind (run side by side), `pg_hba.conf`
//! reloaded between routes, and all cases of a route at once.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use libtest_mimic::Trial;
use serde_json::Value;

use crate::support::cluster::{PgBin, SUPERUSER, ServerTls};
use crate::support::fleet::majors;
use crate::support::runner::{skip, trial};
use crate::support::tls::{Pem, TestCa, self_signed};
use crate::support::{Cluster, Sandbox};

pub fn tests() -> Vec<Trial> {
    majors()
        .into_iter()
        .map(|major| {
            trial(module_path!(), &format!("psql_and_pgacct_agree::pg{major}"), move || {
                psql_and_pgacct_agree(major);
            })
        })
        .collect()
}

const SSLMODES: [&str; 6] = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"];
const ROUTES: [&str; 3] = ["host", "hostssl", "hostnossl"];
const ENCRYPTED: &str = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

/// The server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// From the test CA, for `localhost` as a subjectAltName, with the
    /// Common Name 127.0.0.1 (which libpq accepts for that address).
    AltName,
    /// From the test CA, named `localhost` by its Common Name only.
    CommonName,
    /// Self-signed for `localhost` (a CA certificate), as in PostgreSQL's
    /// documentation.
    SelfSigned,
}

/// Where the root certificate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Root {
    /// `sslrootcert`, the certificate that signed the server's (or the
    /// self-signed one itself).
    Right,
    /// `sslrootcert`, another CA.
    Wrong,
    /// None at all.
    Absent,
    /// `sslrootcert` naming a file that no longer exists.
    Gone,
    /// None given, but `~/.postgresql/root.crt` holds another CA.
    HomeWrong,
}

const ROOTS: [Root; 5] = [Root::Right, Root::Wrong, Root::Absent, Root::Gone, Root::HomeWrong];

#[derive(Debug, Clone)]
struct Case {
    env: String,
    host: &'static str,
    sslmode: &'static str,
    root: Root,
}

/// What one client saw.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Connected { encrypted: bool },
    Failed(String),
}

impl Seen {
    fn same_as(&self, other: &Seen) -> bool {
        match (self, other) {
            (Seen::Connected { encrypted: a }, Seen::Connected { encrypted: b }) => a == b,
            (Seen::Failed(_), Seen::Failed(_)) => true,
            _ => false,
        }
    }
}

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for sslmode in SSLMODES {
        // The host matters only where names are checked.
        let hosts: &[&str] =
            if sslmode == "verify-full" { &["localhost", "127.0.0.1"] } else { &["localhost"] };
        for host in hosts {
            for root in ROOTS {
                cases.push(Case { env: format!("c{}", cases.len()), host, sslmode, root });
            }
        }
    }
    cases
}

/// The psql to compare with: the major's own if fetched, else the system's.
fn psql(major: u32) -> PathBuf {
    let own = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("target/pg-majors/{major}/package/native/bin/psql"));
    if own.is_file() {
        return own;
    }
    match PgBin::find().map(|bin| bin.path("psql")).filter(|path| path.is_file()) {
        Some(path) => path,
        None => skip("the psql binary (apt-get install -y postgresql-client)"),
    }
}

fn psql_and_pgacct_agree(major: u32) {
    let psql = psql(major);
    let ca = TestCa::new("pgacct parity CA");
    let other = TestCa::new("someone else's CA");
    let kinds = [Kind::AltName, Kind::CommonName, Kind::SelfSigned];
    let results: Vec<Vec<String>> = std::thread::scope(|scope| {
        let runs: Vec<_> = kinds
            .iter()
            .map(|kind| {
                let (ca, other, psql) = (&ca, &other, &psql);
                scope.spawn(move || compare_on_one_cluster(major, *kind, ca, other, psql))
            })
            .collect();
        runs.into_iter().map(|run| run.join().unwrap()).collect()
    });
    let disagreements: Vec<String> = results.into_iter().flatten().collect();
    assert!(
        disagreements.is_empty(),
        "psql and pgacct disagree in {} cases:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

/// Runs every route and case against one cluster; the disagreements.
fn compare_on_one_cluster(
    major: u32,
    kind: Kind,
    ca: &TestCa,
    other: &TestCa,
    psql: &Path,
) -> Vec<String> {
    let server = match kind {
        Kind::AltName => ca.server_with("127.0.0.1", &["localhost"]),
        Kind::CommonName => ca.server_with("localhost", &[]),
        Kind::SelfSigned => self_signed("localhost"),
    };
    let right_root = match kind {
        Kind::SelfSigned => server.cert.clone(),
        Kind::AltName | Kind::CommonName => ca.cert_pem().to_owned(),
    };
    let Pem { cert, key } = server;
    let pg = Cluster::builder()
        .major(major)
        .setting("max_connections = 100")
        .tls(ServerTls { cert, key, client_ca: None })
        .start();

    // Sandbox `plain` has no ~/.postgresql; `home` has a wrong root.crt.
    let plain = Sandbox::new();
    let home = Sandbox::new();
    let dot = home.path().join("home/.postgresql");
    std::fs::create_dir_all(&dot).unwrap();
    std::fs::write(dot.join("root.crt"), other.cert_pem()).unwrap();
    let right = plain.write("right.crt", &right_root);
    let wrong = plain.write("wrong.crt", other.cert_pem());
    let gone = plain.write("gone.crt", &right_root);

    let cases = cases();
    let rootcert = |root: Root| match root {
        Root::Right => Some(right.clone()),
        Root::Wrong => Some(wrong.clone()),
        Root::Gone => Some(gone.clone()),
        Root::Absent | Root::HomeWrong => None,
    };
    let sandbox_of = |case: &Case| if case.root == Root::HomeWrong { &home } else { &plain };
    for sandbox in [&plain, &home] {
        let mine: Vec<&Case> =
            cases.iter().filter(|case| std::ptr::eq(sandbox_of(case), sandbox)).collect();
        import(sandbox, &pg, &mine, &rootcert);
    }
    // A root certificate file that is removed after it was registered.
    std::fs::remove_file(&gone).unwrap();

    let mut disagreements = Vec::new();
    for route in ROUTES {
        set_route(&pg, route);
        // pgacct's runs and psql's go on side by side.
        let checks = [check_with_pgacct(&plain, &pg), check_with_pgacct(&home, &pg)];
        let by_psql = run_psql(psql, &pg, &cases, &rootcert, &sandbox_of);
        let by_pgacct: BTreeMap<String, Seen> = checks.into_iter().flat_map(rows_of).collect();
        for (case, psql_saw) in cases.iter().zip(&by_psql) {
            let pgacct_saw = &by_pgacct[&case.env];
            if !psql_saw.same_as(pgacct_saw) {
                disagreements.push(format!(
                    "pg{major} {kind:?} {route} sslmode={} root={:?} host={}: psql {psql_saw:?}, \
                     pgacct {pgacct_saw:?}",
                    case.sslmode, case.root, case.host
                ));
            }
            check_known_answers(kind, route, case, psql_saw);
        }
    }
    disagreements
}

/// The cases the issue names, so that agreement is not agreement on
/// failing: what libpq does, and so pgacct must.
fn check_known_answers(kind: Kind, route: &str, case: &Case, seen: &Seen) {
    let is = |sslmode: &str, root: Root, host: &str| {
        case.sslmode == sslmode && case.root == root && case.host == host
    };
    let expected = if route == "hostnossl"
        && (is("prefer", Root::Absent, "localhost") || is("prefer", Root::HomeWrong, "localhost"))
    {
        // prefer falls back to plain text when pg_hba.conf turns TLS away.
        Some(Seen::Connected { encrypted: false })
    } else if route != "hostnossl" && is("prefer", Root::HomeWrong, "localhost") {
        // ... and when the certificate does not verify against a root
        // file that happens to exist.
        Some(if route == "host" { Seen::Connected { encrypted: false } } else { fail() })
    } else if route != "hostnossl" && is("require", Root::Gone, "localhost") {
        // A root file that does not exist: no verification.
        Some(Seen::Connected { encrypted: true })
    } else if route != "hostnossl" && is("verify-full", Root::Right, "localhost") {
        // CN-only and self-signed certificates verify as in libpq.
        Some(Seen::Connected { encrypted: true })
    } else if route != "hostnossl"
        && kind == Kind::AltName
        && is("verify-full", Root::Right, "127.0.0.1")
    {
        // The Common Name counts for an IP host with only DNS alt names.
        Some(Seen::Connected { encrypted: true })
    } else {
        None
    };
    if let Some(expected) = expected {
        assert!(
            expected.same_as(seen),
            "{kind:?} {route} {case:?}: psql saw {seen:?}, expected {expected:?}"
        );
    }
}

fn fail() -> Seen {
    Seen::Failed(String::new())
}

/// Registers one target per case, each in its own env, in one import.
fn import(
    sandbox: &Sandbox,
    pg: &Cluster,
    cases: &[&Case],
    rootcert: &dyn Fn(Root) -> Option<PathBuf>,
) {
    let mut csv = String::from("env,db,host,port,sslmode,sslrootcert,admin_user\n");
    for case in cases {
        let root = rootcert(case.root).map(|p| p.display().to_string()).unwrap_or_default();
        writeln!(
            csv,
            "{},postgres,{},{},{},{root},{SUPERUSER}",
            case.env,
            case.host,
            pg.port(),
            case.sslmode
        )
        .unwrap();
    }
    let file = sandbox.write("targets.csv", csv);
    let out = sandbox.std_command().arg("registry").arg("import").arg(&file).output().unwrap();
    assert!(out.status.success(), "import failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// Lets TCP connections from 127.0.0.1 in through one route only, and
/// waits until new sessions see it.
fn set_route(pg: &Cluster, route: &str) {
    let hba = format!("local all all trust\n{route} all all 127.0.0.1/32 trust\n");
    std::fs::write(pg.data_dir().join("pg_hba.conf"), hba).unwrap();
    let load_time = || -> String {
        pg.client_over_socket().query_one("SELECT pg_conf_load_time()::text", &[]).unwrap().get(0)
    };
    let before = load_time();
    pg.client_over_socket().batch_execute("SELECT pg_reload_conf()").unwrap();
    // A new session inherits the postmaster's reload time, which it sets
    // in the same step as it reads pg_hba.conf again.
    let deadline = Instant::now() + Duration::from_secs(10);
    while load_time() == before {
        assert!(Instant::now() < deadline, "the server did not reload its configuration");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How many psql processes run at once per cluster.
const PSQL_AT_ONCE: usize = 8;

fn run_psql<'s>(
    psql: &Path,
    pg: &Cluster,
    cases: &[Case],
    rootcert: &dyn Fn(Root) -> Option<PathBuf>,
    sandbox_of: &dyn Fn(&Case) -> &'s Sandbox,
) -> Vec<Seen> {
    let mut seen = Vec::new();
    for chunk in cases.chunks(PSQL_AT_ONCE) {
        let children: Vec<Child> = chunk
            .iter()
            .map(|case| {
                let mut conninfo = format!(
                    "host={} port={} user={SUPERUSER} dbname=postgres sslmode={}",
                    case.host,
                    pg.port(),
                    case.sslmode
                );
                if let Some(root) = rootcert(case.root) {
                    write!(conninfo, " sslrootcert={}", root.display()).unwrap();
                }
                sandbox_of(case)
                    .command(psql.to_str().unwrap())
                    .env("PGPASSWORD", pg.password())
                    .env("PGCONNECT_TIMEOUT", "10")
                    .args(["-X", "-A", "-t", "-c", ENCRYPTED, &conninfo])
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("run psql")
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            seen.push(match (out.status.success(), stdout.as_str()) {
                (true, "t") => Seen::Connected { encrypted: true },
                (true, "f") => Seen::Connected { encrypted: false },
                _ => Seen::Failed(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
            });
        }
    }
    seen
}

/// `registry check` over every env of the sandbox, started.
fn check_with_pgacct(sandbox: &Sandbox, pg: &Cluster) -> Child {
    sandbox
        .std_command()
        .args(["registry", "check", "--all-envs", "--jobs", "8", "--format", "json"])
        .env("PGACCT_ADMIN_PASSWORD", pg.password())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run pgacct")
}

/// What each case (env) of a `registry check` saw.
fn rows_of(check: Child) -> BTreeMap<String, Seen> {
    let out = check.wait_with_output().unwrap();
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap_or_else(|err| {
        panic!(
            "registry check wrote no JSON ({err}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    rows.into_iter()
        .map(|row| {
            let seen = if row["reachable"] == true {
                Seen::Connected { encrypted: row["tls"] != "no" }
            } else {
                Seen::Failed(row["error"].as_str().unwrap_or_default().to_owned())
            };
            (row["env"].as_str().unwrap().to_owned(), seen)
        })
        .collect()
}
