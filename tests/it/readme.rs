//! The README's first command: `scripts/demo` runs the main job end to end
//! on a throwaway cluster, with the binary under test.

use std::process::Command;

use libtest_mimic::Trial;

use crate::support::cluster::PgBin;
use crate::support::runner::{skip, test};
use crate::support::{PGACCT, Run};

pub fn tests() -> Vec<Trial> {
    vec![test!(the_demo_runs_the_main_job_end_to_end)]
}

fn the_demo_runs_the_main_job_end_to_end() {
    let Some(bin) = PgBin::find() else {
        skip("PostgreSQL server binaries (apt-get install -y postgresql, or PG_BIN_DIR)")
    };
    let root = env!("CARGO_MANIFEST_DIR");
    let mut demo = Command::new(format!("{root}/scripts/demo"));
    demo.env("PGACCT", PGACCT).env("PG_BIN_DIR", bin.path("")).current_dir(root);
    let out = Run::of(demo).any_stderr().run();
    for shown in ["user created", "password reset", "audit trail intact: 18 records"] {
        assert!(out.stdout.contains(shown), "{shown:?} is missing:\n{}", out.stdout);
    }
    assert!(out.stderr.contains("$ pgacct user create-k8s"), "{}", out.stderr);
    // It says what it is doing before the slow steps (here the binary is
    // given, so nothing is built, and it says nothing about building).
    assert!(
        out.stderr.starts_with("==> starting a throwaway PostgreSQL cluster"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("building pgacct"), "{}", out.stderr);
}
