//! `-v` shows the work on stderr: each connection (target, host:port, TLS,
//! the authentication the server asked for, how long) and each statement,
//! secrets redacted, with its duration; `-vv` adds the protocol round
//! trips. Never a password or a verifier; without `-v`, none of it.

use libtest_mimic::Trial;

use crate::support::cluster::ServerTls;
use crate::support::runner::test;
use crate::support::tls::TestCa;
use crate::support::{Cluster, Ran, Run, Sandbox};

pub fn tests() -> Vec<Trial> {
    vec![
        test!(a_reset_shows_its_connection_and_its_statements_redacted),
        test!(vv_counts_the_round_trips_of_a_reset),
        test!(list_and_check_show_their_connections_and_reads),
        test!(a_tls_connection_shows_its_protocol_and_the_handshake_round_trip),
        test!(the_admin_password_from_a_command_is_never_shown),
        test!(a_failed_connection_says_why),
        test!(the_method_shown_is_the_one_the_server_asked_for),
    ]
}

const CHOSEN: &str = "Chosen-Passw0rd-for-verbose";

fn pgacct(sandbox: &Sandbox, pg: &Cluster) -> Run {
    Run::new(sandbox).env("PGACCT_ADMIN_PASSWORD", pg.password())
}

/// A cluster with role `carol`, registered as qa/postgres.
fn setup() -> (Cluster, Sandbox) {
    let pg = Cluster::start();
    pg.client().batch_execute("CREATE ROLE carol LOGIN").unwrap();
    let sandbox = Sandbox::new();
    sandbox.register("qa", "postgres", &pg, &[]);
    (pg, sandbox)
}

/// `user reset-password` of carol to [`CHOSEN`], with `verbosity` (`-v`,
/// `-vv` or nothing).
fn reset(pg: &Cluster, sandbox: &Sandbox, verbosity: &str) -> Ran {
    pgacct(sandbox, pg)
        .args("user reset-password --env qa --db postgres carol --password-stdin")
        .args(verbosity)
        .stdin(format!("{CHOSEN}\n"))
        .any_stderr()
        .run()
}

/// The lines of `text` that start with `prefix`.
fn lines<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines().filter(|line| line.starts_with(prefix)).collect()
}

/// `line` up to its duration (`4.1 ms`, the one number that varies), and
/// what follows it.
fn without_duration(line: &str) -> (String, String) {
    let words: Vec<&str> = line.split(' ').collect();
    let at = words
        .windows(2)
        .position(|pair| matches!(pair[1], "ms" | "ms:") && is_duration(pair[0]))
        .unwrap_or_else(|| panic!("no duration in {line:?}"));
    (words[..at].join(" "), words[at + 2..].join(" "))
}

/// `4.1`: milliseconds with one decimal.
fn is_duration(word: &str) -> bool {
    word.split_once('.').is_some_and(|(whole, tenth)| {
        !whole.is_empty()
            && whole.bytes().all(|b| b.is_ascii_digit())
            && tenth.len() == 1
            && tenth.bytes().all(|b| b.is_ascii_digit())
    })
}

/// Neither the password, nor the verifier or any of its parts (salt, keys),
/// nor the admin password, is in `ran`'s output.
fn assert_no_secret(ran: &Ran, pg: &Cluster, role: &str) {
    let verifier = pg.verifier(role).expect("the role has a password");
    assert!(verifier.starts_with("SCRAM-SHA-256$"), "{verifier}");
    let parts = verifier.split(['$', ':']).filter(|part| part.len() >= 16);
    for secret in [CHOSEN, verifier.as_str(), pg.password()].into_iter().chain(parts) {
        assert!(!ran.stderr.contains(secret), "{secret:?} in stderr:\n{}", ran.stderr);
        assert!(!ran.stdout.contains(secret), "{secret:?} in stdout:\n{}", ran.stdout);
    }
}

fn a_reset_shows_its_connection_and_its_statements_redacted() {
    let (pg, sandbox) = setup();
    let ran = reset(&pg, &sandbox, "-v");
    assert!(pg.login("postgres", "carol", CHOSEN).is_ok(), "the password was set");
    assert_no_secret(&ran, &pg, "carol");

    let connects = lines(&ran.stderr, "connect ");
    assert_eq!(connects.len(), 1, "{}", ran.stderr);
    let (connect, after) = without_duration(connects[0]);
    assert_eq!(
        connect,
        format!(
            "connect qa/postgres 127.0.0.1:{} user=postgres tls=none auth=scram-sha-256",
            pg.port()
        )
    );
    assert_eq!(after, "", "-v counts no round trips: {}", connects[0]);

    let statements: Vec<(String, String)> =
        lines(&ran.stderr, "  qa/postgres: ").into_iter().map(without_duration).collect();
    let shown: Vec<&str> = statements.iter().map(|(statement, _)| statement.as_str()).collect();
    assert_eq!(
        shown,
        [
            "  qa/postgres: BEGIN",
            "  qa/postgres: SELECT pg_advisory_xact_lock(hashtextextended('pgacct role carol', 0))",
            "  qa/postgres: ALTER ROLE \"carol\" WITH PASSWORD '<redacted>'",
            "  qa/postgres: COMMIT",
        ],
        "{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("round trip"), "{}", ran.stderr);

    // Without -v, none of it.
    let quiet = reset(&pg, &sandbox, "");
    assert!(pg.login("postgres", "carol", CHOSEN).is_ok());
    assert!(lines(&quiet.stderr, "connect ").is_empty(), "{}", quiet.stderr);
    assert!(!quiet.stderr.contains("qa/postgres:"), "{}", quiet.stderr);
    assert!(!quiet.stderr.contains(" ms"), "{}", quiet.stderr);
}

/// On PostgreSQL 15 without TLS, a lean reset takes 5 round trips, as
/// psql's does (bench/README.md): the `SSLRequest` (answered `N`), the
/// startup, the two SCRAM steps, and the one transaction, sent at once.
fn vv_counts_the_round_trips_of_a_reset() {
    let (pg, sandbox) = setup();
    let ran = reset(&pg, &sandbox, "-vv");
    assert_no_secret(&ran, &pg, "carol");
    let connects = lines(&ran.stderr, "connect ");
    assert_eq!(connects.len(), 1, "{}", ran.stderr);
    assert_eq!(without_duration(connects[0]).1, "(4 round trips)", "{}", connects[0]);
    let statements = lines(&ran.stderr, "  qa/postgres: ");
    assert_eq!(statements.len(), 4, "{}", ran.stderr);
    for statement in statements {
        assert_eq!(without_duration(statement).1, "(round trip 5)", "{statement}");
    }
    let closes = lines(&ran.stderr, "close ");
    assert_eq!(closes.len(), 1, "{}", ran.stderr);
    let (close, after) = without_duration(closes[0]);
    assert_eq!(close, format!("close qa/postgres 127.0.0.1:{} after", pg.port()));
    assert_eq!(after, "(5 round trips in all)");
}

fn list_and_check_show_their_connections_and_reads() {
    let (pg, sandbox) = setup();
    let connect = format!(
        "connect qa/postgres 127.0.0.1:{} user=postgres tls=none auth=scram-sha-256",
        pg.port()
    );
    for (command, read) in [
        ("user list --env qa --all", "FROM pg_roles r WHERE r.rolname !~ '^pg_'"),
        ("registry check --env qa", "LEFT JOIN pg_stat_ssl s ON s.pid = pg_backend_pid()"),
    ] {
        let ran = pgacct(&sandbox, &pg).args(command).arg("-v").any_stderr().run();
        let connects = lines(&ran.stderr, "connect ");
        assert_eq!(connects.len(), 1, "{command}: {}", ran.stderr);
        assert_eq!(without_duration(connects[0]).0, connect, "{command}");
        let reads = lines(&ran.stderr, "  qa/postgres: SELECT ");
        assert!(reads.iter().any(|line| line.contains(read)), "{command}: {}", ran.stderr);
        for line in reads {
            without_duration(line);
        }
        assert!(!ran.stdout.contains("connect "), "stdout carries data only: {}", ran.stdout);

        let quiet = pgacct(&sandbox, &pg).args(command).run();
        assert!(lines(&quiet.stderr, "connect ").is_empty(), "{command}: {}", quiet.stderr);
        assert!(!quiet.stderr.contains("qa/postgres:"), "{command}: {}", quiet.stderr);
        assert_eq!(quiet.stdout.lines().count(), ran.stdout.lines().count(), "{command}");
    }
}

/// Only TLS from TCP clients.
const TLS_HBA: &str = "\
local    all  all                trust
hostssl  all  all  127.0.0.1/32  scram-sha-256
";

/// The authentication request is read inside TLS; the handshake costs one
/// round trip (TLS 1.3) after the `SSLRequest`.
fn a_tls_connection_shows_its_protocol_and_the_handshake_round_trip() {
    let ca = TestCa::new("pgacct test CA");
    let server = ca.server(&["localhost"]);
    let tls = ServerTls { cert: server.cert, key: server.key, client_ca: None };
    let pg = Cluster::builder().hba(TLS_HBA).tls(tls).start();
    let sandbox = Sandbox::new();
    sandbox.write("ca.pem", ca.cert_pem());
    Run::new(&sandbox)
        .args(&format!(
            "registry add --env tls --db postgres --host localhost --port {}",
            pg.port()
        ))
        .args("--admin-user postgres --sslmode verify-full --sslrootcert ca.pem -q")
        .run();
    let ran = pgacct(&sandbox, &pg).args("registry check --env tls -vv").any_stderr().run();
    // Where localhost is ::1 too, that address is tried first, and refused.
    let connects: Vec<&str> = lines(&ran.stderr, "connect ")
        .into_iter()
        .filter(|line| !line.contains("(::1)") || !line.contains(" failed after "))
        .collect();
    assert_eq!(connects.len(), 1, "{}", ran.stderr);
    let (connect, after) = without_duration(connects[0]);
    assert_eq!(
        connect,
        format!(
            "connect tls/postgres localhost:{} (127.0.0.1) user=postgres tls=TLSv1.3 \
             sslnegotiation=postgres auth=scram-sha-256",
            pg.port()
        )
    );
    assert_eq!(after, "(5 round trips)");
    let closes = lines(&ran.stderr, "close ");
    assert_eq!(closes.len(), 1, "{}", ran.stderr);
    assert_eq!(without_duration(closes[0]).1, "(6 round trips in all)");
}

/// An `admin_password_command`'s output (the admin password) is in no
/// line of `-vv`, nor is a created role's password, which only the result
/// on stdout shows.
fn the_admin_password_from_a_command_is_never_shown() {
    let (pg, sandbox) = setup();
    sandbox.write_config(&format!(
        "[env.qa]\nadmin_password_command = [\"/bin/echo\", \"{}\"]\n",
        pg.password()
    ));
    let ran = Run::new(&sandbox)
        .args("user create --env qa --all --type devqa dora -vv --format json")
        .any_stderr()
        .run();
    let password = ran.rows()[0]["password"].as_str().unwrap().to_owned();
    assert!(pg.login("postgres", "dora", &password).is_ok());
    assert!(!ran.stderr.contains(&password), "{}", ran.stderr);
    assert!(!ran.stderr.contains(pg.password()), "{}", ran.stderr);
    let verifier = pg.verifier("dora").unwrap();
    for part in verifier.split(['$', ':']).filter(|part| part.len() >= 16) {
        assert!(!ran.stderr.contains(part), "{part:?} in {}", ran.stderr);
    }
    assert!(
        ran.stderr.contains(
            "  qa/postgres: CREATE ROLE \"dora\" WITH LOGIN CONNECTION LIMIT 20 PASSWORD \
             '<redacted>' "
        ),
        "{}",
        ran.stderr
    );
    assert_eq!(lines(&ran.stderr, "connect ").len(), 1, "{}", ran.stderr);
}

/// An attempt that fails is a line too, saying why.
fn a_failed_connection_says_why() {
    let sandbox = Sandbox::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    Run::new(&sandbox)
        .args(&format!("registry add --env qa --db gone --host 127.0.0.1 --port {port} -q"))
        .args("--admin-user postgres")
        .run();
    let ran = Run::new(&sandbox)
        .args("registry check --env qa -v")
        .env("PGACCT_ADMIN_PASSWORD", "unused")
        .expect(1)
        .any_stderr()
        .run();
    let connects = lines(&ran.stderr, "connect ");
    assert_eq!(connects.len(), 1, "{}", ran.stderr);
    let (connect, after) = without_duration(connects[0]);
    assert_eq!(
        connect,
        format!("connect qa/gone 127.0.0.1:{port} user=postgres tls=none failed after")
    );
    assert_eq!(after, "connection refused");
}

/// One admin per method, each let in by its own `pg_hba.conf` line.
const METHODS_HBA: &str = "\
local  all  all                  trust
host   all  md5_admin   127.0.0.1/32  md5
host   all  pw_admin    127.0.0.1/32  password
host   all  trust_admin 127.0.0.1/32  trust
host   all  all         127.0.0.1/32  scram-sha-256
";

/// md5, cleartext `password` and trust are named as `pg_hba.conf` names
/// them, read from the server's request (or its absence).
fn the_method_shown_is_the_one_the_server_asked_for() {
    let pg = Cluster::builder().hba(METHODS_HBA).start();
    let password = pg.password().to_owned();
    let mut su = pg.client_over_socket();
    su.batch_execute(&format!(
        "SET password_encryption = 'md5';
         CREATE ROLE md5_admin SUPERUSER LOGIN PASSWORD '{password}';
         RESET password_encryption;
         CREATE ROLE pw_admin SUPERUSER LOGIN PASSWORD '{password}';
         CREATE ROLE trust_admin SUPERUSER LOGIN;"
    ))
    .unwrap();
    let sandbox = Sandbox::new();
    for (env, admin) in [("md5", "md5_admin"), ("pw", "pw_admin"), ("trust", "trust_admin")] {
        sandbox.register(env, "postgres", &pg, &["--admin-user", admin]);
    }
    for (env, admin, method) in [
        ("md5", "md5_admin", "md5"),
        ("pw", "pw_admin", "password"),
        ("trust", "trust_admin", "trust"),
    ] {
        let ran = pgacct(&sandbox, &pg)
            .arg("registry")
            .arg("check")
            .args(&format!("--env {env} -v"))
            .any_stderr()
            .run();
        let connects = lines(&ran.stderr, "connect ");
        assert_eq!(connects.len(), 1, "{}", ran.stderr);
        assert_eq!(
            without_duration(connects[0]).0,
            format!(
                "connect {env}/postgres 127.0.0.1:{} user={admin} tls=none auth={method}",
                pg.port()
            ),
        );
        assert!(!ran.stderr.contains(&password), "{}", ran.stderr);
    }
}
