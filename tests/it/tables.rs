//! Tables at a real terminal (issue 14): a value is never split over two
//! lines; a table wider than the terminal turns expanded, as psql's `\x`;
//! piped output is a plain table, however wide.

use libtest_mimic::Trial;

use crate::support::runner::test;
use crate::support::{Cluster, Run, Sandbox, on_a_terminal_of};

pub fn tests() -> Vec<Trial> {
    vec![test!(registry_check_never_splits_a_value_at_80_or_160_columns)]
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
        // `registry check` has more columns than even 160 hold (which of
        // them go to --wide is left to the command), so both expand.
        if columns == 80 {
            assert!(shown.contains("-[ RECORD 1 ]"), "80 columns, not expanded:\n{shown}");
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
