//! Messages that catch a typo or say that nothing needed doing (issue 14):
//! each asserts its text and exit code, and that nothing was written.

use libtest_mimic::Trial;

use crate::support::runner::test;
use crate::support::{Run, Sandbox};

pub fn tests() -> Vec<Trial> {
    vec![
        test!(a_mistyped_account_type_suggests_the_nearest),
        test!(an_unknown_audit_operation_is_refused_listing_the_valid_ones),
        test!(a_relative_socket_directory_is_refused),
        test!(an_update_that_changes_nothing_says_so_and_is_not_audited),
        test!(deactivating_an_inactive_target_says_it_already_was),
        test!(a_user_command_without_databases_asks_for_db_or_all),
        test!(protected_targets_are_listed_as_a_sentence),
    ]
}

fn add(sandbox: &Sandbox, env: &str, db: &str, host: &str) {
    Run::new(sandbox)
        .args(&format!("registry add --env {env} --db {db} --host {host}"))
        .stderr_contains(&format!("added {env}/{db}"))
        .run();
}

fn audit_records(sandbox: &Sandbox) -> usize {
    Run::new(sandbox).args("audit show").json().as_array().unwrap().len()
}

fn a_mistyped_account_type_suggests_the_nearest() {
    let sandbox = Sandbox::new();
    add(&sandbox, "qa", "app", "h1");
    let records = audit_records(&sandbox);
    let ran = Run::new(&sandbox)
        .args("user create --env qa --all --type dbaa bob")
        .expect(2)
        .stderr_contains("error: unknown account type 'dbaa'; known types: dba, devlead, devqa")
        .stderr_contains("hint: did you mean `dba`?")
        .run();
    assert_eq!(ran.stdout, "");
    // Nothing near: no guess, the list is enough.
    Run::new(&sandbox)
        .args("user create --env qa --all --type superuser bob")
        .expect(2)
        .stderr_is(
            "error: unknown account type 'superuser'; known types: dba, devlead, devqa, k8s, \
             readonly, readwrite, vm\n",
        )
        .run();
    assert_eq!(audit_records(&sandbox), records);
}

fn an_unknown_audit_operation_is_refused_listing_the_valid_ones() {
    let sandbox = Sandbox::new();
    add(&sandbox, "qa", "app", "h1");
    let ran = Run::new(&sandbox)
        .args("audit show --operation usr")
        .expect(2)
        .stderr_contains("error: no operation is called 'usr'")
        .stderr_contains("hint: --operation takes one of: audit, audit.seal,")
        .stderr_contains(" registry.add,")
        .stderr_contains(" user.reset-password,")
        .run();
    assert_eq!(ran.stdout, "");
    // Both a group and a single operation still filter.
    for operation in ["registry", "registry.add"] {
        let rows = Run::new(&sandbox).args(&format!("audit show --operation {operation}")).json();
        assert_eq!(rows.as_array().unwrap().len(), 1, "{operation}");
    }
    let none = Run::new(&sandbox).args("audit show --operation user.lock").json();
    assert_eq!(none.as_array().unwrap().len(), 0);
}

fn a_relative_socket_directory_is_refused() {
    let sandbox = Sandbox::new();
    for host in ["relative/path", "db1,run/pg"] {
        Run::new(&sandbox)
            .args(&format!("registry add --env qa --db app --host {host}"))
            .expect(2)
            .stderr_contains("a Unix-socket directory must be an absolute path")
            .run();
    }
    assert!(!sandbox.registry().exists(), "a refused add created the registry");
    add(&sandbox, "qa", "app", "/var/run/postgresql");
    Run::new(&sandbox)
        .args("registry update --env qa --db app --host ./sockets")
        .expect(2)
        .stderr_contains(
            "invalid host './sockets': a Unix-socket directory must be an absolute path",
        )
        .run();
}

fn an_update_that_changes_nothing_says_so_and_is_not_audited() {
    let sandbox = Sandbox::new();
    add(&sandbox, "qa", "app", "h1");
    let records = audit_records(&sandbox);
    Run::new(&sandbox)
        .args("registry update --env qa --db app --host h1 --port 5432")
        .stderr_is("qa/app (h1:5432) already has host=h1, port=5432; nothing to update\n")
        .run();
    let entry = Run::new(&sandbox)
        .args("registry update --env qa --db app --host h1")
        .stderr_contains("nothing to update")
        .json();
    assert_eq!(entry["host"], "h1");
    assert_eq!(audit_records(&sandbox), records, "an update that changed nothing was audited");
    Run::new(&sandbox)
        .args("registry update --env qa --db app --port 6432")
        .stderr_is("updated qa/app (h1:6432)\n")
        .run();
    assert_eq!(audit_records(&sandbox), records + 1);
}

fn deactivating_an_inactive_target_says_it_already_was() {
    let sandbox = Sandbox::new();
    add(&sandbox, "qa", "app", "h1");
    Run::new(&sandbox)
        .args("registry activate --env qa --db app")
        .stderr_is("qa/app (h1:5432) is already active; nothing to activate\n")
        .run();
    Run::new(&sandbox)
        .args("registry deactivate --env qa --db app")
        .stderr_is("deactivated qa/app (h1:5432)\n")
        .run();
    let records = audit_records(&sandbox);
    Run::new(&sandbox)
        .args("registry deactivate --env qa --db app")
        .stderr_is("qa/app (h1:5432) is already inactive; nothing to deactivate\n")
        .run();
    assert_eq!(audit_records(&sandbox), records);
    let entry = Run::new(&sandbox).args("registry show --env qa --db app").json();
    assert_eq!(entry["active"], false);
}

fn a_user_command_without_databases_asks_for_db_or_all() {
    let sandbox = Sandbox::new();
    add(&sandbox, "qa", "app", "h1");
    let ran = Run::new(&sandbox)
        .args("user list --env qa")
        .expect(2)
        .stderr_contains("hint: say which databases: --db D or --all")
        .run();
    assert_eq!(ran.stdout, "");
}

/// Refused before any server is asked: the hosts need not exist.
fn protected_targets_are_listed_as_a_sentence() {
    let sandbox = Sandbox::new();
    add(&sandbox, "uat", "billing", "h1");
    add(&sandbox, "uat", "orders", "h1");
    add(&sandbox, "uat", "shop", "h2");
    sandbox.write_config("[env.uat]\nprotected = true\n");
    let create = |selection: &str| {
        Run::new(&sandbox).args(&format!("user create --env uat {selection} --type devqa kim"))
    };
    create("--db billing --db orders")
        .expect(2)
        .stderr_contains(
            "error: uat/billing and uat/orders are protected, and there is no terminal",
        )
        .run();
    create("--all")
        .expect(2)
        .stderr_contains("error: uat/billing, uat/orders and uat/shop are protected")
        .run();
    create("--db shop").expect(2).stderr_contains("error: uat/shop is protected, and").run();
}
