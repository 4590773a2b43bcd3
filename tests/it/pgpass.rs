//! The password file against libpq itself: the real `psql` and pgacct read
//! the same `.pgpass` files for the same connections and must pick the same
//! line. Each candidate line carries its own password; the role is given
//! one candidate's password at a time, so exactly the runs that picked that
//! line log in. And a `--secret-format pgpass` file must log psql in.

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use libtest_mimic::Trial;

use crate::support::runner::{skip, test};
use crate::support::{Cluster, Run, Sandbox, cluster};

pub fn tests() -> Vec<Trial> {
    vec![
        test!(psql_and_pgacct_pick_the_same_line),
        test!(the_default_socket_directory_is_looked_up_as_localhost),
        test!(a_pgpass_secret_file_logs_psql_in_through_a_socket_directory),
    ]
}

/// libpq's psql, not Debian's perl wrapper in /usr/bin.
const PSQL: &str = "/usr/lib/postgresql/15/bin/psql";

/// The role whose password the tests move from line to line.
const ROLE: &str = "pp_user";

/// Password authentication for everyone but the superuser, also over the
/// socket, so that a socket connection shows which password it sent.
const HBA: &str = "local all postgres trust\n\
                   local all all scram-sha-256\n\
                   host all all 127.0.0.1/32 scram-sha-256\n\
                   host all all ::1/128 scram-sha-256\n";

/// One password file and the connection that reads it.
struct Case {
    name: &'static str,
    /// What psql gets as `-h` and pgacct as `--host`.
    host: String,
    /// `None`: no port given, so 5432 (psql's default, pgacct's default).
    port: Option<u16>,
    db: &'static str,
    /// The file: lines that are candidates, and lines that are not.
    lines: Vec<Line>,
    /// The candidate libpq picks (stated, and checked against psql too).
    picks: Option<usize>,
}

enum Line {
    /// Bytes written as they are (with their own line ending, if any),
    /// and the password libpq takes from them if it picks this line.
    Candidate(Vec<u8>, Vec<u8>),
    Other(Vec<u8>),
}

/// A candidate `prefix` + `password` + `\n`, where the written password is
/// the one libpq takes.
fn plain(prefix: &str, password: &str) -> Line {
    Line::Candidate(format!("{prefix}{password}\n").into_bytes(), password.as_bytes().to_vec())
}

fn other(text: &[u8]) -> Line {
    Line::Other(text.to_vec())
}

fn candidate(written: &[u8], password: &[u8]) -> Line {
    Line::Candidate(written.to_vec(), password.to_vec())
}

impl Case {
    fn file(&self) -> Vec<u8> {
        self.lines
            .iter()
            .flat_map(|line| match line {
                Line::Candidate(bytes, _) | Line::Other(bytes) => bytes.clone(),
            })
            .collect()
    }

    fn passwords(&self) -> Vec<&[u8]> {
        self.lines
            .iter()
            .filter_map(|line| match line {
                Line::Candidate(_, password) => Some(password.as_slice()),
                Line::Other(_) => None,
            })
            .collect()
    }
}

/// How one run ended.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    LoggedIn,
    Refused,
}

fn psql_available() {
    if !Path::new(PSQL).is_file() {
        skip(&format!("{PSQL} (apt-get install postgresql-client-15)"));
    }
}

fn start_cluster() -> Cluster {
    let pg = Cluster::builder().hba(HBA).start();
    pg.client().batch_execute(&format!("CREATE ROLE {ROLE} LOGIN")).unwrap();
    pg
}

/// Gives the role `password` (bytes: SCRAM takes a password that is not
/// UTF-8 as it is, on both sides).
fn set_password(pg: &Cluster, password: &[u8]) {
    let verifier = postgres_protocol::password::scram_sha_256(password);
    pg.client().batch_execute(&format!("ALTER ROLE {ROLE} PASSWORD '{verifier}'")).unwrap();
}

fn write_passfile(sandbox: &Sandbox, name: &str, bytes: &[u8]) -> PathBuf {
    let path = sandbox.write(name, bytes);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// psql as `user` to database `postgres`, never prompting.
fn psql(
    sandbox: &Sandbox,
    passfile: &Path,
    (host, port, db): (&str, Option<u16>, &str),
    user: &str,
) -> Outcome {
    let mut cmd = sandbox.command(PSQL);
    cmd.args(["-X", "-w", "-At", "-c", "SELECT 1", "-h", host, "-U", user, "-d", db])
        .env("PGPASSFILE", passfile)
        .env("PGCONNECT_TIMEOUT", "10");
    if let Some(port) = port {
        cmd.args(["-p", &port.to_string()]);
    }
    outcome(&mut cmd, "1\n")
}

/// `pgacct registry check` of target `env`/`db`, with no password
/// variable set: the password file is the only source.
fn pgacct(sandbox: &Sandbox, passfile: &Path, env: &str, db: &str) -> Outcome {
    let mut cmd = sandbox.std_command();
    cmd.args(["registry", "check", "--env", env, "--db", db, "--format", "json"])
        .env("PGPASSFILE", passfile);
    outcome(&mut cmd, "\"reachable\": true")
}

/// Logged in, or refused for its password; anything else fails the test.
fn outcome(cmd: &mut Command, success: &str) -> Outcome {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() && stdout.contains(success) {
        return Outcome::LoggedIn;
    }
    let refused = ["password authentication failed", "no password supplied", "no password found"];
    assert!(
        refused.iter().any(|r| stdout.contains(r) || stderr.contains(r)),
        "{cmd:?} failed for another reason than its password:\n{stdout}\n{stderr}"
    );
    Outcome::Refused
}

/// For each case and each of its candidates: the role gets that
/// candidate's password, then psql and pgacct try. Returns the cases where
/// psql did not pick the stated line or pgacct did not do as psql did.
fn differences(pg: &Cluster, sandbox: &Sandbox, cases: &[Case]) -> String {
    let mut report = String::new();
    for (n, case) in cases.iter().enumerate() {
        let env = format!("c{n}");
        let mut add = Run::new(sandbox)
            .args(&format!("registry add --env {env} --admin-user {ROLE} --db"))
            .arg(case.db)
            .arg("--host")
            .arg(&case.host);
        if let Some(port) = case.port {
            add = add.arg("--port").arg(port.to_string());
        }
        add.stderr_contains("added").run();
        let file = case.file();
        let passfile = write_passfile(sandbox, &format!("pgpass-{n}"), &file);
        for (i, password) in case.passwords().into_iter().enumerate() {
            set_password(pg, password);
            let expected = if case.picks == Some(i) { Outcome::LoggedIn } else { Outcome::Refused };
            let by_psql = psql(sandbox, &passfile, (&case.host, case.port, case.db), ROLE);
            let by_pgacct = pgacct(sandbox, &passfile, &env, case.db);
            if by_psql != expected || by_pgacct != by_psql {
                writeln!(
                    report,
                    "{}: with candidate {i}'s password, psql {by_psql:?}, pgacct {by_pgacct:?} \
                     (expected {expected:?}); file:\n{}",
                    case.name,
                    String::from_utf8_lossy(&file).escape_debug()
                )
                .unwrap();
            }
        }
    }
    report
}

fn psql_and_pgacct_pick_the_same_line() {
    psql_available();
    let pg = start_cluster();
    let sandbox = Sandbox::new();
    let port = pg.port();
    let socket = pg.socket_dir().to_str().unwrap().to_owned();
    // The server's socket under the name of the default port, so that a
    // connection without a port reaches it over the socket.
    std::os::unix::fs::symlink(
        pg.socket_dir().join(format!(".s.PGSQL.{port}")),
        pg.socket_dir().join(".s.PGSQL.5432"),
    )
    .unwrap();
    pg.client().batch_execute("CREATE DATABASE \"a:b\"").unwrap();
    let cases = cases(port, &socket);
    let report = differences(&pg, &sandbox, &cases);
    assert!(report.is_empty(), "psql and pgacct disagree:\n{report}");
}

/// The files, connections and the line libpq picks, for a cluster on
/// `port` with its socket in `socket`.
#[allow(clippy::too_many_lines)] // a table
fn cases(port: u16, socket: &str) -> Vec<Case> {
    let tcp = |host: &str| format!("{host}:{port}:postgres:{ROLE}:");
    vec![
        Case {
            name: "TCP by name",
            host: "localhost".into(),
            port: Some(port),
            db: "postgres",
            lines: vec![
                plain(&tcp("127.0.0.1"), "by-address"),
                plain(&tcp("localhost"), "by-name"),
                plain("*:*:*:*:", "fallback"),
            ],
            picks: Some(1),
        },
        Case {
            name: "TCP by IP address",
            host: "127.0.0.1".into(),
            port: Some(port),
            db: "postgres",
            lines: vec![
                plain(&tcp("localhost"), "by-name"),
                plain(&tcp("127.0.0.1"), "by-address"),
            ],
            picks: Some(1),
        },
        Case {
            name: "a socket directory that is not the default one",
            host: socket.to_owned(),
            port: Some(port),
            db: "postgres",
            lines: vec![plain(&tcp("localhost"), "as-localhost"), plain(&tcp(socket), "as-itself")],
            picks: Some(1),
        },
        Case {
            name: "a socket directory named with a trailing slash",
            host: format!("{socket}/"),
            port: Some(port),
            db: "postgres",
            lines: vec![plain(&tcp(socket), "without"), plain(&tcp(&format!("{socket}/")), "with")],
            picks: Some(1),
        },
        Case {
            name: "no port: the default port, 5432",
            host: socket.to_owned(),
            port: None,
            db: "postgres",
            lines: vec![
                plain(&format!("{socket}:{port}:*:*:"), "real-port"),
                plain(&format!("{socket}:5432:*:*:"), "default-port"),
            ],
            picks: Some(1),
        },
        Case {
            name: "wildcards",
            host: "127.0.0.1".into(),
            port: Some(port),
            db: "postgres",
            lines: vec![
                plain("*:*:other_db:*:", "other-db"),
                plain("*x:*:*:*:", "star-x-host"),
                plain("\\*:*:*:*:", "escaped-star"),
                plain(&format!("*:{port}:*:{ROLE}:"), "wildcards"),
            ],
            picks: Some(3),
        },
        Case {
            name: "escapes in every field and in the password",
            host: "127.0.0.1".into(),
            port: Some(port),
            db: "postgres",
            lines: vec![
                plain(&format!("127.0.0.1:{port}:postgres:{ROLE}\\:x:"), "user-with-colon"),
                candidate(
                    format!("1\\27.0.0.1:\\{port}:post\\gres:pp\\_user:a\\:b\\\\c\\d\\\n")
                        .as_bytes(),
                    b"a:b\\cd\\",
                ),
            ],
            picks: Some(1),
        },
        Case {
            name: "unescaped colons",
            host: "127.0.0.1".into(),
            port: Some(port),
            db: "postgres",
            lines: vec![
                plain(&format!("127.0.0.1:{port}:post:gres:{ROLE}:"), "colon-in-db"),
                candidate(
                    format!("127.0.0.1:{port}:postgres:{ROLE}:first:second:third\n").as_bytes(),
                    b"first",
                ),
            ],
            picks: Some(1),
        },
        Case {
            name: "an unescaped colon matching a colon in the database name",
            host: "127.0.0.1".into(),
            port: Some(port),
            db: "a:b",
            lines: vec![
                plain(&format!("127.0.0.1:{port}:a\\:c:{ROLE}:"), "other-db"),
                plain(&format!("127.0.0.1:{port}:a:b:{ROLE}:"), "unescaped"),
            ],
            picks: Some(1),
        },
        Case {
            name: "a line that is not UTF-8, before the one that matches",
            host: "127.0.0.1".into(),
            port: Some(port),
            db: "postgres",
            lines: vec![
                candidate(
                    &[format!("127.0.0.1:{port}:").as_bytes(), b"d\xe9j\xe0:*:wrong-db\n"].concat(),
                    b"wrong-db",
                ),
                candidate(b"caf\xe9:*:*:*:latin1-host\n", b"latin1-host"),
                plain(&tcp("127.0.0.1"), "after-latin1"),
            ],
            picks: Some(2),
        },
        Case {
            name: "a password that is not UTF-8",
            host: "127.0.0.1".into(),
            port: Some(port),
            db: "postgres",
            lines: vec![candidate(
                &[tcp("127.0.0.1").as_bytes(), b"pass\xff\xfeword\n"].concat(),
                b"pass\xff\xfeword",
            )],
            picks: Some(0),
        },
        Case {
            name: "comments and blank lines",
            host: "127.0.0.1".into(),
            port: Some(port),
            db: "postgres",
            lines: vec![
                plain(&format!("#127.0.0.1:{port}:*:*:"), "commented"),
                other(b"\n"),
                other(b"   \n"),
                other(b"\r\n"),
                plain(&format!(" #127.0.0.1:{port}:*:*:"), "not-a-comment"),
                plain(&tcp("127.0.0.1"), "real"),
            ],
            picks: Some(2),
        },
        Case {
            name: "CRLF line endings",
            host: "127.0.0.1".into(),
            port: Some(port),
            db: "postgres",
            lines: vec![
                candidate(format!("127.0.0.1:{port}:nope:*:x\r\n").as_bytes(), b"x"),
                candidate(format!("127.0.0.1:{port}:*:*:crlf\r\r\n").as_bytes(), b"crlf"),
            ],
            picks: Some(1),
        },
        Case {
            name: "a NUL byte joins what is before it to the next line",
            host: "127.0.0.1".into(),
            port: Some(port),
            db: "postgres",
            lines: vec![
                candidate(
                    format!("127.0.0.1:{port}:*:pp_us\0junk\ner:joined\n").as_bytes(),
                    b"joined",
                ),
                plain(&tcp("127.0.0.1"), "after"),
            ],
            picks: Some(0),
        },
        Case {
            name: "a last line without a newline",
            host: "127.0.0.1".into(),
            port: Some(port),
            db: "postgres",
            lines: vec![
                plain(&format!("127.0.0.1:{port}:nope:*:"), "other"),
                candidate(format!("127.0.0.1:{port}:*:*:last").as_bytes(), b"last"),
            ],
            picks: Some(1),
        },
        Case {
            name: "a last line without a newline that fills libpq's first read",
            host: "127.0.0.1".into(),
            port: Some(port),
            db: "postgres",
            lines: {
                let prefix = format!("127.0.0.1:{port}:*:*:");
                let password = "p".repeat(255 - prefix.len());
                vec![candidate(format!("{prefix}{password}").as_bytes(), password.as_bytes())]
            },
            picks: None,
        },
        Case {
            name: "a last line without a newline, one byte shorter",
            host: "127.0.0.1".into(),
            port: Some(port),
            db: "postgres",
            lines: {
                let prefix = format!("127.0.0.1:{port}:*:*:");
                let password = "q".repeat(254 - prefix.len());
                vec![candidate(format!("{prefix}{password}").as_bytes(), password.as_bytes())]
            },
            picks: Some(0),
        },
    ]
}

/// libpq's compiled-in socket directory (Debian's).
const DEFAULT_SOCKET_DIR: &str = "/var/run/postgresql";

/// A link to the cluster's socket in the default socket directory,
/// removed again when dropped.
struct DefaultSocketLink(PathBuf);

impl DefaultSocketLink {
    fn new(pg: &Cluster) -> DefaultSocketLink {
        if !Path::new(DEFAULT_SOCKET_DIR).is_dir() {
            skip(&format!("{DEFAULT_SOCKET_DIR} (apt-get install postgresql)"));
        }
        let name = format!(".s.PGSQL.{}", pg.port());
        let link = Path::new(DEFAULT_SOCKET_DIR).join(&name);
        std::os::unix::fs::symlink(pg.socket_dir().join(&name), &link)
            .unwrap_or_else(|e| skip(&format!("write access to {DEFAULT_SOCKET_DIR} ({e})")));
        DefaultSocketLink(link)
    }
}

impl Drop for DefaultSocketLink {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn the_default_socket_directory_is_looked_up_as_localhost() {
    psql_available();
    let pg = start_cluster();
    let _link = DefaultSocketLink::new(&pg);
    let sandbox = Sandbox::new();
    let port = pg.port();
    let cases = vec![Case {
        name: "the default socket directory",
        host: DEFAULT_SOCKET_DIR.into(),
        port: Some(port),
        db: "postgres",
        lines: vec![
            plain(&format!("{DEFAULT_SOCKET_DIR}:{port}:*:*:"), "as-itself"),
            plain(&format!("localhost:{port}:*:*:"), "as-localhost"),
        ],
        picks: Some(1),
    }];
    let report = differences(&pg, &sandbox, &cases);
    assert!(report.is_empty(), "psql and pgacct disagree:\n{report}");

    // And a pgpass secret file for a target there logs psql in.
    let sandbox = Sandbox::new();
    let secret = create_with_pgpass_secret(&sandbox, &pg, DEFAULT_SOCKET_DIR, "dflt");
    assert!(String::from_utf8_lossy(&secret).starts_with("localhost:"));
    let passfile = write_passfile(&sandbox, "dflt.pgpass", &secret);
    assert_eq!(
        psql(&sandbox, &passfile, (DEFAULT_SOCKET_DIR, Some(port), "postgres"), "alice"),
        Outcome::LoggedIn
    );
}

/// Registers `host` (the cluster's port) as env `env`, administered as the
/// superuser over the socket (trust), creates `alice` with her password
/// written as a pgpass secret file, and returns the file.
fn create_with_pgpass_secret(sandbox: &Sandbox, pg: &Cluster, host: &str, env: &str) -> Vec<u8> {
    Run::new(sandbox)
        .args(&format!(
            "registry add --env {env} --db postgres --admin-user {}",
            cluster::SUPERUSER
        ))
        .args(&format!("--port {}", pg.port()))
        .arg("--host")
        .arg(host)
        .stderr_contains("added")
        .run();
    let secret = sandbox.path().join(format!("{env}.secret"));
    Run::new(sandbox)
        .args(&format!("user create --env {env} --db postgres --type devqa alice --yes"))
        .args("--secret-format pgpass --secret-file")
        .arg(&secret)
        .stderr_contains("password for alice written to")
        .run();
    std::fs::read(&secret).unwrap()
}

fn a_pgpass_secret_file_logs_psql_in_through_a_socket_directory() {
    psql_available();
    let pg = start_cluster();
    let sandbox = Sandbox::new();
    let socket = pg.socket_dir().to_str().unwrap().to_owned();
    let secret = create_with_pgpass_secret(&sandbox, &pg, &socket, "qa");
    let passfile = write_passfile(&sandbox, "qa.pgpass", &secret);
    assert_eq!(
        psql(&sandbox, &passfile, (&socket, Some(pg.port()), "postgres"), "alice"),
        Outcome::LoggedIn,
        "psql did not log in with the pgpass file pgacct wrote:\n{}",
        String::from_utf8_lossy(&secret)
    );
}
