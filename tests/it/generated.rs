//! The committed completions and man pages are what the binary generates.

use libtest_mimic::Trial;

use crate::support::runner::test;
use std::collections::BTreeMap;
use std::path::Path;

use crate::support::Sandbox;

pub fn tests() -> Vec<Trial> {
    vec![test!(completions_and_man_pages_are_up_to_date)]
}

fn files_under(dir: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        files.insert(name, std::fs::read_to_string(&path).unwrap());
    }
    files
}

fn completions_and_man_pages_are_up_to_date() {
    let sandbox = Sandbox::new();
    let out = sandbox.path().join("generated");
    sandbox.pgacct().arg("generate-assets").arg(&out).assert().success();

    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    for sub in ["completions", "man"] {
        let expected = files_under(&out.join(sub));
        let committed = files_under(&repo.join(sub));
        let names = |m: &BTreeMap<String, String>| m.keys().cloned().collect::<Vec<_>>();
        assert_eq!(
            names(&committed),
            names(&expected),
            "{sub}/ is out of date: run `cargo run -- generate-assets .` and commit the result"
        );
        for (name, text) in &expected {
            assert!(
                committed[name] == *text,
                "{sub}/{name} is out of date: run `cargo run -- generate-assets .` and commit the result"
            );
        }
    }
    let man = files_under(&out.join("man"));
    for page in
        ["pgacct.1", "pgacct-registry.1", "pgacct-registry-add.1", "pgacct-registry-import.1"]
    {
        assert!(man.contains_key(page), "no man page {page}");
    }
    assert!(!man.contains_key("pgacct-generate-assets.1"), "the hidden command got a man page");
}
