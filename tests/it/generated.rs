//! The committed completions and man pages are what the binary generates.

use libtest_mimic::Trial;

use crate::support::runner::test;
use std::collections::BTreeMap;
use std::path::Path;

use crate::support::{Run, Sandbox};

pub fn tests() -> Vec<Trial> {
    vec![
        test!(completions_and_man_pages_are_up_to_date),
        test!(man_pages_have_the_sections_a_dba_reads),
        test!(help_lists_global_options_after_the_commands_own),
    ]
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
    Run::new(&sandbox).arg("generate-assets").arg(&out).run();

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

fn man_pages_have_the_sections_a_dba_reads() {
    let man = files_under(&Path::new(env!("CARGO_MANIFEST_DIR")).join("man"));
    let sections = |page: &str| -> Vec<String> {
        let text = man.get(page).unwrap_or_else(|| panic!("no man page {page}"));
        text.lines()
            .filter_map(|l| l.strip_prefix(".SH "))
            .map(|s| s.trim_matches('"').to_owned())
            .collect()
    };
    let top = sections("pgacct.1");
    for section in
        ["DESCRIPTION", "OPTIONS", "ENVIRONMENT", "FILES", "EXIT STATUS", "EXAMPLES", "SEE ALSO"]
    {
        assert!(top.iter().any(|s| s == section), "pgacct.1 has no {section}: {top:?}");
    }
    let page = &man["pgacct.1"];
    for text in [
        "PGACCT_ADMIN_PASSWORD_<ENV>",
        "PGPASSFILE",
        "PGSSLROOTCERT",
        "PGACCT_AUDIT_KEY",
        "~/.pgpass",
        "~/.postgresql/",
        "psql(1)",
    ] {
        assert!(page.contains(&text.replace('-', "\\-")), "pgacct.1 does not mention {text}");
    }
    // The password resolution order, in that order.
    let order = "PGACCT_ADMIN_PASSWORD_<ENV>, PGACCT_ADMIN_PASSWORD, PG_ADMIN_PASS, PGPASSWORD, the admin_password_command";
    assert!(page.contains(order), "pgacct.1 lacks the password order");
    for sub in ["pgacct-user-reset-password.1", "pgacct-registry-add.1", "pgacct-audit-verify.1"] {
        let found = sections(sub);
        for section in ["ENVIRONMENT", "FILES", "EXIT STATUS", "SEE ALSO"] {
            assert!(found.iter().any(|s| s == section), "{sub} has no {section}: {found:?}");
        }
    }
    // A page that connects explains the password; one that only reads the
    // registry does not list libpq's variables.
    assert!(man["pgacct-user-reset-password.1"].contains("PGPASSFILE"));
    assert!(!man["pgacct-audit-verify.1"].contains("PGSSLMODE"));
    assert!(man["pgacct-audit-verify.1"].contains("PGACCT_AUDIT_KEY"));

    // pgacct-config(5) documents every table and key of config.toml.
    let config = man.get("pgacct-config.5").expect("no man page pgacct-config.5");
    assert!(page.contains("pgacct\\-config(5)"), "pgacct.1 does not point to pgacct-config(5)");
    for key in [
        "[connection]",
        "connect_timeout",
        "lock_timeout",
        "statement_timeout",
        "admin_password_command_timeout",
        "[types.NAME]",
        "template",
        "connection_limit",
        "attributes",
        "member_of",
        "search_path",
        "search_path_all_databases",
        "valid_for_days",
        "password_length",
        "access",
        "read_scope",
        "group",
        "password",
        "auth",
        "read_only",
        "confirm",
        "allow_privileged",
        "server_name",
        "[env.NAME]",
        "k8s_prefix",
        "protected",
        "admin_password_command",
        "[[notify]]",
        "kind",
        "name",
        "envs",
        "operations",
        "timeout",
        "url",
        "headers",
        "headers_from_env",
        "room_id",
        "token_env",
        "program",
        "args",
        "host",
        "port",
        "starttls",
        "from",
        "to",
        "user",
        "password_env",
        "[audit]",
        "key_file",
    ] {
        let tag = format!("\\fB{key}\\fR");
        let heading = format!(".SH \"{key}\"");
        assert!(config.contains(&tag) || config.contains(&heading), "pgacct-config.5 lacks {key}");
    }
    assert!(config.contains("262143") && config.contains("1s to 10min"), "bounds are missing");
}

fn help_lists_global_options_after_the_commands_own() {
    let sandbox = Sandbox::new();
    let help = Run::new(&sandbox).args("user reset-password --help").run().stdout;
    let own = help.find("\nOptions:").expect("an Options section");
    let global = help.find("\nGlobal Options:").expect("a Global Options section");
    assert!(own < global, "global options come first:\n{help}");
    for flag in ["--registry", "--config", "--format", "--quiet", "--verbose", "--no-color"] {
        let at = help.find(flag).unwrap_or_else(|| panic!("no {flag} in:\n{help}"));
        assert!(at > global, "{flag} is not under Global Options:\n{help}");
    }
    let at = help.find("--password-stdin").expect("--password-stdin");
    assert!(own < at && at < global, "--password-stdin is not under Options:\n{help}");
}
