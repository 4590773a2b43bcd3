//! Integration tests: the real binary, real files, real PostgreSQL.
//!
//! One test binary (fast to link); each file is one area of the product.
#![allow(clippy::unwrap_used)]

mod audit;
mod connect;
mod generated;
mod harness;
mod lifecycle;
mod notify;
mod registry;
mod safety;
mod support;
mod tls;
mod user;

/// A test file that is not declared above would silently never run.
#[test]
fn every_test_file_is_declared() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it");
    let main = std::fs::read_to_string(dir.join("main.rs")).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        if name == "main" || (path.is_file() && path.extension().is_none_or(|e| e != "rs")) {
            continue;
        }
        assert!(
            main.contains(&format!("mod {name};")),
            "tests/it/{name} is not declared in main.rs"
        );
    }
}
