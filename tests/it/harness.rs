//! The throwaway-cluster harness itself: it serves real scram logins and
//! cleans up after itself, also after a panic.

use libtest_mimic::Trial;

use crate::support::runner::test;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::support::Cluster;
use crate::support::cluster::SUPERUSER;

pub fn tests() -> Vec<Trial> {
    vec![
        test!(tokio_postgres_logs_in_with_scram_and_reads_the_version),
        test!(a_wrong_password_is_refused),
        test!(dropping_a_cluster_stops_the_server_and_removes_its_files),
        test!(a_panicking_test_leaves_nothing_behind),
    ]
}

fn tokio_postgres_logs_in_with_scram_and_reads_the_version() {
    let pg = Cluster::start();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let version: String = runtime.block_on(async {
        let mut config = tokio_postgres::Config::new();
        config
            .host(pg.host())
            .port(pg.port())
            .user(SUPERUSER)
            .password(pg.password())
            .dbname("postgres");
        let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
        let connection = tokio::spawn(connection);
        let row = client.query_one("SELECT version()", &[]).await.unwrap();
        drop(client);
        connection.await.unwrap().unwrap();
        row.get(0)
    });
    assert!(version.starts_with("PostgreSQL "), "{version}");

    let log = pg.log();
    assert!(log.contains("method=scram-sha-256"), "no scram login in the server log:\n{log}");
    let logged =
        log.lines().any(|l| l.contains("LOG:  execute ") && l.ends_with(": SELECT version()"));
    assert!(logged, "log_statement = all is not on:\n{log}");
}

fn a_wrong_password_is_refused() {
    let pg = Cluster::start();
    let Err(err) = pg.config("postgres").password("not-the-password").connect(postgres::NoTls)
    else {
        panic!("logged in with a wrong password");
    };
    let cause = err.as_db_error().expect("a server error");
    assert!(cause.message().contains("password authentication failed"), "{cause}");
}

/// True while `pid` is a live process. A zombie is dead: where PID 1 does
/// not reap orphans (some VMs and containers), the stopped postmaster
/// lingers as one.
fn is_running(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the parenthesised command name.
    let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next());
    !matches!(state, Some("Z" | "X"))
}

fn dropping_a_cluster_stops_the_server_and_removes_its_files() {
    let pg = Cluster::start();
    let pid = pg.pid().unwrap();
    let dir = pg.data_dir();
    assert!(is_running(pid));
    let one: i32 = pg.client().query_one("SELECT 1", &[]).unwrap().get(0);
    assert_eq!(one, 1);
    drop(pg);
    assert!(!is_running(pid), "postmaster {pid} is still running");
    assert!(!dir.exists(), "{} is still there", dir.display());
}

fn a_panicking_test_leaves_nothing_behind() {
    let seen: Mutex<Option<(u32, PathBuf)>> = Mutex::new(None);
    let result = std::panic::catch_unwind(|| {
        let pg = Cluster::start();
        *seen.lock().unwrap() = Some((pg.pid().unwrap(), pg.data_dir()));
        panic!("a test failing while its cluster runs");
    });
    let Err(payload) = result;
    // No cluster seen: it could not start (or was skipped); pass that on.
    let Some((pid, dir)) = seen.into_inner().unwrap() else { std::panic::resume_unwind(payload) };
    assert!(!is_running(pid), "postmaster {pid} survived the panic");
    assert!(!dir.exists(), "{} survived the panic", dir.display());
}
