//! Tables at a real terminal (issue 14): a value is never split over two
//! lines; a table wider than the terminal turns expanded, as psql's `\x`;
//! piped output is a plain table, however wide.

use libtest_mimic::Trial;

use crate::support::runner::test;
use crate::support::{Cluster, Run, Sandbox, on_a_terminal_of};

pub fn tests() -> Vec<Trial> {
    vec![
        test!(registry_check_never_splits_a_value_at_80_or_160_columns),
        test!(the_readme_screen_of_user_list_is_real),
    ]
}

fn registry_check_never_splits_a_value_at_80_or_160_columns() {
    let pg = Cluster::start();
    let sandbox = Sandbox::new();
    sandbox.register("qa", "postgres", &pg, &[]);
    let cluster = format!("127.0.0.1:{}", pg.port());
    let vars = [("PGPASSWORD", pg.password())];

    for columns in [80, 160] {
        let (shown, code) =
            on_a_terminal_of(columns, &sandbox, "registry check", &vars, &cluster, "");
        assert_eq!(code, 0, "{shown}");
        assert!(shown.lines().any(|l| l.contains(&cluster)), "{columns} columns:\n{shown}");
        for line in shown.lines() {
            let width = line.trim_end_matches('\r').chars().count();
            assert!(width <= usize::from(columns), "{columns} columns, too wide:\n{shown}");
        }
        // The common question fits 160 columns; 80 hold only the
        // expanded layout.
        if columns == 80 {
            assert!(shown.contains("-[ RECORD 1 ]"), "80 columns, not expanded:\n{shown}");
        } else {
            assert!(!shown.contains("RECORD"), "160 columns, expanded:\n{shown}");
            let header = shown.lines().find(|l| l.contains("reachable")).unwrap_or_default();
            for column in ["server_version", "in_recovery", "superuser", "createrole", "createdb"] {
                assert!(header.contains(column), "no {column} at 160 columns:\n{shown}");
            }
        }
    }
    let (shown, _) = on_a_terminal_of(160, &sandbox, "registry check -x", &vars, &cluster, "");
    assert!(shown.contains("-[ RECORD 1 ]"), "--expanded:\n{shown}");

    // Piped: one table line per target, never expanded, never wrapped.
    let piped = Run::new(&sandbox).args("registry check").env("PGPASSWORD", pg.password()).run();
    assert!(!piped.stdout.contains("RECORD"), "{}", piped.stdout);
    assert_eq!(
        piped.stdout.lines().filter(|l| l.contains(&cluster)).count(),
        1,
        "{}",
        piped.stdout
    );
}

/// The README shows `user list` on an 80-column terminal: this makes that
/// screen again, on a fresh cluster, and compares.
fn the_readme_screen_of_user_list_is_real() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let marker = "<!-- user list at 80 columns: tables::the_readme_screen_of_user_list_is_real -->";
    let block = readme.split(marker).nth(1).expect("the README has the screen");
    let screen: String =
        block.split("```").nth(1).expect("in a code block").trim_start_matches('\n').to_owned();

    let pg = Cluster::start();
    let sandbox = Sandbox::new();
    let mut admin = pg.client();
    for db in ["orders", "billing"] {
        admin.batch_execute(&format!("CREATE DATABASE {db}")).unwrap();
        sandbox.register("qa", db, &pg, &[]);
    }
    let pgacct = |args: &str| Run::new(&sandbox).env("PGPASSWORD", pg.password()).args(args).run();
    pgacct("user create-vm --env qa --all --server web01 --service-port 8080");
    pgacct("user create-vm --env qa --all --server web02 --service-port 8080");
    pgacct("user lock --env qa --all web02_8080");

    let vars = [("PGPASSWORD", pg.password())];
    let args = "user list --env qa --all --name 'web*'";
    let (shown, code) = on_a_terminal_of(80, &sandbox, args, &vars, "web02_8080", "");
    assert_eq!(code, 0, "{shown}");
    // The README's port, of the same width, for this run's.
    let port = pg.port().to_string();
    assert_eq!(port.len(), 5, "a port of another width moves the columns");
    let shown = shown.replace('\r', "").replace(&format!("127.0.0.1:{port}"), "127.0.0.1:54321");
    let table: String = shown
        .lines()
        .skip_while(|l| !l.starts_with(" cluster"))
        .fold(String::new(), |table, line| table + line + "\n");
    assert_eq!(table, screen, "the README's screen differs from what pgacct shows:\n{shown}");

    // Without --name, the superuser's attributes do not fit: expanded.
    let (shown, _) =
        on_a_terminal_of(80, &sandbox, "user list --env qa --all", &vars, "web02_8080", "");
    assert!(shown.contains("-[ RECORD 1 ]"), "{shown}");
    assert!(shown.contains("attributes       | SUPERUSER, CREATEDB"), "{shown}");
}
