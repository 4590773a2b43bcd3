//! The progress bar of a fan-out at a real terminal (issue 14): its clock
//! ticks while nothing finishes, it names the clusters a fan-out has waited
//! on for more than 2 s within the terminal's width, it stays off a prompt,
//! and a pipe gets no bar at all.

use std::io::{self, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use libtest_mimic::Trial;

use crate::support::cluster::SUPERUSER;
use crate::support::runner::test;
use crate::support::{Cluster, Run, Sandbox, on_a_terminal_answering_after, on_a_terminal_of};

pub fn tests() -> Vec<Trial> {
    vec![
        test!(the_bar_names_the_slow_clusters_and_its_clock_ticks),
        test!(the_ticking_bar_stays_off_a_prompt),
        test!(a_pipe_gets_no_bar_however_slow_the_fleet),
    ]
}

/// How long a slow cluster takes to answer a new connection: long enough
/// for the bar's clock to show `3s` on a busy machine too.
const SLOW: Duration = Duration::from_secs(4);

/// A cluster that is slow to answer: a TCP port in front of a real server
/// that holds each new connection for [`SLOW`] before passing it on.
struct SlowProxy {
    port: u16,
    closed: Arc<AtomicBool>,
}

impl SlowProxy {
    fn before(pg: &Cluster) -> SlowProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (upstream, closed) = (pg.port(), Arc::new(AtomicBool::new(false)));
        let stop = Arc::clone(&closed);
        thread::spawn(move || {
            for client in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                thread::spawn(move || {
                    thread::sleep(SLOW);
                    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else { return };
                    let (client_too, server_too) =
                        (client.try_clone().unwrap(), server.try_clone().unwrap());
                    thread::spawn(move || pump(client_too, server_too));
                    pump(server, client);
                });
            }
        });
        SlowProxy { port, closed }
    }
}

impl Drop for SlowProxy {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::SeqCst);
        // Wakes the accepting thread so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Copies `from` to `to` until `from` ends, then ends `to`'s writing half.
fn pump(mut from: TcpStream, mut to: TcpStream) {
    let _ = io::copy(&mut from, &mut to);
    let _ = to.flush();
    let _ = to.shutdown(Shutdown::Write);
}

/// Registers `qa/db` on `127.0.0.1:port` (a cluster or a proxy in front of
/// one).
fn register(sandbox: &Sandbox, db: &str, port: u16) {
    Run::new(sandbox)
        .args(&format!(
            "registry add --env qa --db {db} --host 127.0.0.1 --port {port} --admin-user {SUPERUSER} -q"
        ))
        .run();
}

/// What a terminal shows as its lines: each carriage return starts the
/// line again, escape sequences take no room.
fn drawn_lines(shown: &str) -> Vec<String> {
    let mut plain = String::with_capacity(shown.len());
    let mut chars = shown.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters, ending in a letter.
            if chars.next_if_eq(&'[').is_some() {
                while chars.next().is_some_and(|c| !c.is_ascii_alphabetic()) {}
            }
            continue;
        }
        plain.push(c);
    }
    plain.split(['\r', '\n']).map(str::to_owned).collect()
}

/// Three slow clusters and a fast one: past 2 s the bar names the slow
/// ones (never the fast one), as many as fit, and its clock reaches `3s`
/// although no target finishes meanwhile; for a reading command per
/// target, one per cluster, and a change's plan.
fn the_bar_names_the_slow_clusters_and_its_clock_ticks() {
    let pg = Cluster::start();
    let sandbox = Sandbox::new();
    let proxies = [SlowProxy::before(&pg), SlowProxy::before(&pg), SlowProxy::before(&pg)];
    register(&sandbox, "postgres", pg.port());
    for proxy in &proxies {
        register(&sandbox, "postgres", proxy.port);
    }
    let fast = format!("127.0.0.1:{}", pg.port());
    let slow: Vec<String> = proxies.iter().map(|p| format!("127.0.0.1:{}", p.port)).collect();
    let vars = [("PGACCT_ADMIN_PASSWORD", pg.password()), ("TERM", "xterm")];

    for (columns, args, bar) in [
        (80, "registry check --format json", "pgacct ["),
        (160, "user list --env qa --all --format json", "pgacct ["),
        (120, "user create --env qa --all --type devqa slowpoke --format json", "planning ["),
    ] {
        let (shown, code) = on_a_terminal_of(columns, &sandbox, args, &vars, "]", "");
        assert_eq!(code, 0, "{args}:\n{shown}");
        assert!(shown.contains(bar), "{args}: no bar {bar:?}:\n{shown:?}");
        assert!(shown.contains("/4 targets 3s"), "{args}: the clock stood still:\n{shown:?}");
        assert!(shown.contains("waiting for 127.0.0.1:"), "{args}: no cluster named:\n{shown:?}");
        assert!(
            !shown.contains(&format!("waiting for {fast}")),
            "{args}: the fast one:\n{shown:?}"
        );
        assert!(!shown.contains(&format!("{fast},")), "{args}: the fast one:\n{shown:?}");
        // The bar's lines, not the JSON on stdout (whose SQL may be long).
        let json = |line: &str| line.trim_start().starts_with(['"', '{', '}', '[', ']']);
        for line in drawn_lines(&shown).into_iter().filter(|line| !json(line)) {
            let width = line.chars().count();
            assert!(width <= usize::from(columns), "{args}: {width} > {columns}: {line:?}");
        }
        let all_named = format!("waiting for {}, {} and {}", slow[0], slow[1], slow[2]);
        let mut sorted = slow.clone();
        sorted.sort();
        if columns == 80 {
            // Three names do not fit beside the bar in 80 columns.
            assert!(
                shown.contains(" more") || shown.contains("waiting for 3 clusters"),
                "{args}: not counted:\n{shown:?}"
            );
        } else {
            // The order they started in; all three fit.
            let named = drawn_lines(&shown).into_iter().any(|line| {
                let mut seen: Vec<String> =
                    slow.iter().filter(|s| line.contains(s.as_str())).cloned().collect();
                seen.sort();
                seen == sorted && line.contains("waiting for ") && line.contains(" and ")
            });
            assert!(named, "{args}: not all named ({all_named}):\n{shown:?}");
        }
    }
}

/// A password prompt during a fan-out whose bar ticks: the bar, drawn
/// while a slow cluster is waited for, leaves the screen for the question,
/// and no tick draws it again before the answer, however long it takes.
fn the_ticking_bar_stays_off_a_prompt() {
    let pg = Cluster::start();
    let sandbox = Sandbox::new();
    let proxy = SlowProxy::before(&pg);
    // With one job, `postgres` (slow, its password in .pgpass) comes before
    // `template1` (fast, its password asked for).
    register(&sandbox, "postgres", proxy.port);
    register(&sandbox, "template1", pg.port());
    let pgpass = sandbox.path().join("home/.pgpass");
    std::fs::write(&pgpass, format!("127.0.0.1:{}:*:{SUPERUSER}:{}\n", proxy.port, pg.password()))
        .unwrap();
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();

    let (shown, code) = on_a_terminal_answering_after(
        Duration::from_millis(1500),
        100,
        &sandbox,
        "registry check --jobs 1 --format json",
        &[("TERM", "xterm")],
        "Password for",
        &format!("{}\n", pg.password()),
    );
    assert_eq!(code, 0, "{shown}");
    let at = shown.find("Password for").unwrap();
    let (before, after) = shown.split_at(at);
    assert!(
        before.contains(&format!("waiting for 127.0.0.1:{}", proxy.port)),
        "the bar was not on the screen before the prompt:\n{shown:?}"
    );
    let answered = after.find("[hidden]").expect("dialoguer shows the answer as [hidden]");
    assert!(
        !after[..answered].contains("targets"),
        "the bar drew over the prompt before it was answered:\n{shown:?}"
    );
    assert_eq!(shown.matches(r#""reachable": true"#).count(), 2, "all reachable:\n{shown}");
}

/// On a pipe, stderr stays empty, however long the fan-out waits.
fn a_pipe_gets_no_bar_however_slow_the_fleet() {
    let pg = Cluster::start();
    let sandbox = Sandbox::new();
    let proxy = SlowProxy::before(&pg);
    register(&sandbox, "postgres", pg.port());
    register(&sandbox, "postgres", proxy.port);
    let ran = Run::new(&sandbox)
        .args("registry check --format json")
        .env("PGACCT_ADMIN_PASSWORD", pg.password())
        .env("TERM", "xterm")
        .run();
    assert_eq!(ran.stderr, "");
    assert_eq!(ran.stdout.matches(r#""reachable": true"#).count(), 2, "{}", ran.stdout);
}
