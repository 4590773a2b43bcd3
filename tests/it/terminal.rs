//! Text that reaches a terminal: stored values (notes, names, statuses,
//! errors) may hold control characters that would drive the terminal
//! (ESC, OSC, BEL, CR). Tables and messages show them escaped; JSON and
//! CSV stay faithful.

use libtest_mimic::Trial;

use crate::support::runner::test;
use crate::support::{Run, Sandbox};

pub fn tests() -> Vec<Trial> {
    vec![
        test!(tables_escape_control_characters_and_machine_formats_keep_them),
        test!(messages_escape_control_characters),
    ]
}

/// A note that would set the terminal's title, ring its bell and overwrite
/// its line; and a database name that would clear the screen.
const NOTE: &str = "evil\u{1b}]0;pwned\u{7}\rhidden";
const DB: &str = "o\u{1b}[2Jx";

fn has_raw_controls(text: &str) -> bool {
    text.contains(|c: char| c.is_control() && c != '\n')
}

fn tables_escape_control_characters_and_machine_formats_keep_them() {
    let sandbox = Sandbox::new();
    Run::new(&sandbox)
        .args("registry add --env qa --host 127.0.0.1 --port 1 --db")
        .arg(DB)
        .arg("--notes")
        .arg(NOTE)
        .stderr_contains(r"added qa/o\u{1b}[2Jx (127.0.0.1:1)")
        .run();
    // A change that fails (nothing listens on port 1) leaves audit records.
    Run::new(&sandbox)
        .args("user create --env qa --type devqa bob --db")
        .arg(DB)
        .env("PGACCT_ADMIN_PASSWORD", "x")
        .expect(1)
        .any_stderr()
        .run();

    for args in ["registry list", "audit show", "registry show --env qa --db"] {
        let mut run = Run::new(&sandbox).args(args);
        if args.ends_with("--db") {
            run = run.arg(DB);
        }
        let table = run.run().stdout;
        assert!(!has_raw_controls(&table), "{args}: {table:?}");
        assert!(table.contains(r"o\u{1b}[2Jx"), "{args}: {table}");
        if args.starts_with("registry") {
            assert!(table.contains(r"evil\u{1b}]0;pwned\u{7}\rhidden"), "{args}: {table}");
        }
    }

    let rows = Run::new(&sandbox).args("registry list").rows();
    assert_eq!(rows[0]["db"], DB);
    assert_eq!(rows[0]["notes"], NOTE);
    let csv = Run::new(&sandbox).args("registry list --format csv").run().stdout;
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let notes = reader.headers().unwrap().iter().position(|h| h == "notes").unwrap();
    let record = reader.records().next().unwrap().unwrap();
    assert_eq!(&record[notes], NOTE, "CSV keeps the value as stored");
    let audit = Run::new(&sandbox).args("audit show").rows();
    assert!(audit.iter().all(|r| r["db"] == DB), "{audit:?}");
}

fn messages_escape_control_characters() {
    let sandbox = Sandbox::new();
    Run::new(&sandbox)
        .args("registry add --env qa --db orders --host h")
        .stderr_contains("added qa/orders")
        .run();
    // An error that quotes what was asked for.
    let out = Run::new(&sandbox)
        .args("registry show --env qa --db")
        .arg(DB)
        .expect(2)
        .stderr_contains(r"no registry entry for env 'qa' db 'o\u{1b}[2Jx'")
        .run();
    assert!(!has_raw_controls(&out.stderr), "{:?}", out.stderr);
    // A usage error from the argument parser that quotes the value.
    let out = Run::new(&sandbox)
        .args("registry add --env qa --db other --host")
        .arg("h\u{1b}]0;pwned\u{7}")
        .expect(2)
        .stderr_contains("invalid host")
        .run();
    assert!(!has_raw_controls(&out.stderr), "{:?}", out.stderr);
}
