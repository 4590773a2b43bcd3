//! Integration tests: the real binary, real files, real PostgreSQL.
//!
//! One test binary (fast to link); each file is one area of the product
//! and lists its tests in `tests()`. The runner ([`support::runner`])
//! reports a test whose PostgreSQL is missing as ignored, never as passed.
#![allow(clippy::unwrap_used)]

mod accounts;
mod audit;
mod audit_key;
mod completion;
mod connect;
mod credentials;
mod expiry;
mod files;
mod fleet_shape;
mod generated;
mod ha;
mod harness;
mod lifecycle;
mod memberships;
mod messages;
mod names;
mod notify;
mod parity;
mod passwordless;
mod pgpass;
mod policy_input;
mod progress;
mod readme;
mod registry;
mod report;
mod results;
mod rotate;
mod safety;
mod secrets;
mod sslnegotiation;
mod support;
mod sync;
mod tables;
mod team_init;
mod team_migrate;
mod team_show;
mod team_store;
mod team_use;
mod team_verify;
mod terminal;
mod tls;
mod user;
mod user_sync;
mod verbose;
mod versions;

use support::runner::test;

fn main() {
    let tests = [
        vec![test!(every_test_file_is_declared)],
        accounts::tests(),
        audit::tests(),
        audit_key::tests(),
        completion::tests(),
        connect::tests(),
        credentials::tests(),
        expiry::tests(),
        files::tests(),
        fleet_shape::tests(),
        generated::tests(),
        ha::tests(),
        harness::tests(),
        lifecycle::tests(),
        memberships::tests(),
        messages::tests(),
        names::tests(),
        notify::tests(),
        parity::tests(),
        passwordless::tests(),
        pgpass::tests(),
        policy_input::tests(),
        progress::tests(),
        readme::tests(),
        registry::tests(),
        report::tests(),
        rotate::tests(),
        results::tests(),
        safety::tests(),
        secrets::tests(),
        sslnegotiation::tests(),
        sync::tests(),
        tables::tests(),
        team_init::tests(),
        team_migrate::tests(),
        team_show::tests(),
        team_store::tests(),
        team_use::tests(),
        team_verify::tests(),
        terminal::tests(),
        tls::tests(),
        user::tests(),
        user_sync::tests(),
        verbose::tests(),
        versions::tests(),
    ];
    support::runner::main(tests.into_iter().flatten().collect());
}

/// A test file that is not declared and listed above would silently never
/// run.
fn every_test_file_is_declared() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it");
    let main = std::fs::read_to_string(dir.join("main.rs")).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        if name == "main" || name == "support" {
            continue;
        }
        assert!(
            main.contains(&format!("mod {name};")) && main.contains(&format!("{name}::tests(),")),
            "tests/it/{name}.rs is not declared and listed in main.rs"
        );
    }
}
