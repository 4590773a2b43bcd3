//! Where the admin password comes from, beyond the variables and the
//! password file (see connect.rs): an `admin_password_command` (per env in
//! config.toml, per target in the registry) run as a real program, and the
//! prompt, asked once per host set.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use libtest_mimic::Trial;

use crate::support::runner::test;
use crate::support::{Cluster, Run, Sandbox, on_a_terminal};

pub fn tests() -> Vec<Trial> {
    vec![
        test!(the_registry_keeps_a_command_as_its_words),
        test!(a_command_gives_the_password_once_per_run_and_a_targets_own_wins),
        test!(the_variables_win_over_a_command),
        test!(a_failing_command_touches_nothing_and_never_shows_its_output),
        test!(commands_that_give_no_password_are_named),
        test!(clusters_on_one_host_prompt_once_and_the_progress_bar_stays_off_the_prompt),
    ]
}

/// Every test cluster's superuser has this password here, so that one
/// command serves several clusters.
const PASSWORD: &str = "Adm1n-from-the-vault";

fn cluster() -> Cluster {
    Cluster::builder().password(PASSWORD).start()
}

/// A script in the sandbox that counts its runs in `<name>.count` and then
/// runs `body`; returns its path.
fn script(sandbox: &Sandbox, name: &str, body: &str) -> PathBuf {
    let count = sandbox.path().join(format!("{name}.count"));
    let text = format!("#!/bin/sh\necho run >> '{}'\n{body}\n", count.display());
    let path = sandbox.write(name, text);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
    path
}

/// How many times the script `name` ran.
fn runs(sandbox: &Sandbox, name: &str) -> usize {
    std::fs::read_to_string(sandbox.path().join(format!("{name}.count")))
        .map_or(0, |text| text.lines().count())
}

/// `[env.qa]` with this command.
fn env_command(sandbox: &Sandbox, argv: &[&Path]) {
    let words: Vec<String> =
        argv.iter().map(|p| format!("{:?}", p.display().to_string())).collect();
    sandbox.write_config(&format!("[env.qa]\nadmin_password_command = [{}]\n", words.join(", ")));
}

fn the_registry_keeps_a_command_as_its_words() {
    let sandbox = Sandbox::new();
    Run::new(&sandbox)
        .args("registry add --env qa --db app --host db1")
        .arg("--admin-password-command")
        .arg(r#"vault read -field=password "secret/pg admin" $HOME"#)
        .stderr_is("added qa/app (db1:5432)\n")
        .run();
    let shown = Run::new(&sandbox).args("registry show --env qa --db app").json();
    assert_eq!(
        shown["admin_password_command"],
        serde_json::json!(["vault", "read", "-field=password", "secret/pg admin", "$HOME"])
    );

    // Each format of export reads back the same words.
    for format in ["csv", "toml", "json"] {
        let exported = Run::new(&sandbox).args(&format!("registry export --format {format}")).run();
        let other = Sandbox::new();
        let file = other.write(&format!("inventory.{format}"), &exported.stdout);
        Run::new(&other).arg("registry").arg("import").arg(&file).arg("-q").run();
        let back = Run::new(&other).args("registry show --env qa --db app").json();
        assert_eq!(back["admin_password_command"], shown["admin_password_command"], "{format}");
    }
    let csv = Run::new(&sandbox).args("registry export").run().stdout;
    assert!(csv.contains(r"vault read '-field=password' 'secret/pg admin' '$HOME'"), "{csv}");

    // '' clears it; a quote left open is refused before anything is written.
    Run::new(&sandbox)
        .args("registry update --env qa --db app --admin-password-command")
        .arg("vault 'read")
        .expect(2)
        .stderr_contains("invalid admin_password_command")
        .stderr_contains("a quote is not closed")
        .run();
    Run::new(&sandbox)
        .args("registry add --env qa --db other --host db1 --admin-password-command")
        .arg("")
        .expect(2)
        .stderr_contains("admin_password_command names no program")
        .run();
    Run::new(&sandbox)
        .args("registry update --env qa --db app --admin-password-command")
        .arg("")
        .stderr_is("updated qa/app (db1:5432)\n")
        .run();
    let shown = Run::new(&sandbox).args("registry show --env qa --db app").json();
    assert_eq!(shown["admin_password_command"], serde_json::Value::Null);
    let audit = Run::new(&sandbox).args("audit show --operation registry.update").rows();
    assert_eq!(audit[0]["status"], "target updated: unset admin-password-command", "{audit:?}");
}

fn a_command_gives_the_password_once_per_run_and_a_targets_own_wins() {
    let (one, two) = (cluster(), cluster());
    let sandbox = Sandbox::new();
    let vault = script(&sandbox, "vault", &format!("echo '{PASSWORD}'"));
    env_command(&sandbox, &[&vault]);
    one.client().batch_execute("CREATE DATABASE billing").unwrap();
    sandbox.register("qa", "postgres", &one, &[]);
    sandbox.register("qa", "billing", &one, &[]);
    sandbox.register("qa", "postgres", &two, &[]);

    let rows = Run::new(&sandbox).args("registry check").rows();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r["reachable"] == true), "{rows:?}");
    assert_eq!(runs(&sandbox, "vault"), 1, "one run for three targets on two clusters");

    // A change: planned and applied on both clusters with that one run.
    let ran = Run::new(&sandbox).args("user create --env qa --all --type devqa carol").run();
    assert_eq!(runs(&sandbox, "vault"), 2);
    assert!(one.can_login("carol") == Some(true) && two.can_login("carol") == Some(true));
    let audit = Run::new(&sandbox).args("audit show --limit 0 --format json").run().stdout;
    for place in [&ran.stdout, &ran.stderr, &audit, &one.log(), &two.log()] {
        assert!(!place.contains(PASSWORD), "the admin password leaked:\n{place}");
    }

    // The target's own command wins over its env's, which now fails.
    let own = script(&sandbox, "own", &format!("printf '%s\\n' '{PASSWORD}'"));
    let broken = script(&sandbox, "broken", "exit 1");
    env_command(&sandbox, &[&broken]);
    Run::new(&sandbox)
        .args(&format!("registry update --env qa --db postgres --cluster 127.0.0.1:{}", two.port()))
        .arg("--admin-password-command")
        .arg(&own)
        .arg("-q")
        .run();
    let rows = Run::new(&sandbox)
        .args(&format!("registry check --cluster 127.0.0.1:{}", two.port()))
        .rows();
    assert_eq!(rows[0]["reachable"], true, "{rows:?}");
    assert_eq!((runs(&sandbox, "own"), runs(&sandbox, "broken")), (1, 0));
}

fn the_variables_win_over_a_command() {
    let pg = cluster();
    let sandbox = Sandbox::new();
    let vault = script(&sandbox, "vault", "echo wrong");
    env_command(&sandbox, &[&vault]);
    sandbox.register("qa", "postgres", &pg, &[]);
    for variable in
        ["PGACCT_ADMIN_PASSWORD_QA", "PGACCT_ADMIN_PASSWORD", "PG_ADMIN_PASS", "PGPASSWORD"]
    {
        let rows = Run::new(&sandbox).args("registry check").env(variable, PASSWORD).rows();
        assert_eq!(rows[0]["reachable"], true, "{variable}: {rows:?}");
    }
    assert_eq!(runs(&sandbox, "vault"), 0);
    // And a command wins over the password file.
    let pgpass = sandbox.write("home/.pgpass", format!("*:*:*:*:{PASSWORD}\n"));
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let rows = Run::new(&sandbox)
        .args("registry check")
        .expect(1)
        .stderr_contains(&format!(
            "hint: qa/postgres: the password came from admin_password_command {}",
            vault.display()
        ))
        .rows();
    assert!(rows[0]["error"].as_str().unwrap().contains("password authentication failed"));
}

/// The command fails, saying why on its stderr and printing the real
/// password on stdout before it does: the change stops before any
/// statement, and neither the output nor the password shows anywhere.
fn a_failing_command_touches_nothing_and_never_shows_its_output() {
    let (one, two) = (cluster(), cluster());
    let sandbox = Sandbox::new();
    let vault = script(
        &sandbox,
        "vault",
        &format!("echo '{PASSWORD}'; echo 'vault: permission denied' >&2; exit 3"),
    );
    env_command(&sandbox, &[&vault]);
    sandbox.register("qa", "postgres", &one, &[]);
    sandbox.register("qa", "postgres", &two, &[]);
    let failure = format!("admin_password_command {} failed with exit status 3", vault.display());
    let ran = Run::new(&sandbox)
        .args("user create --env qa --all --type devqa dave")
        .expect(1)
        .stderr_contains("vault: permission denied")
        .stderr_contains("run the command yourself to see what it says")
        .run();
    assert!(ran.stdout.contains(&failure), "{}", ran.stdout);
    assert_eq!(runs(&sandbox, "vault"), 1, "once, for both clusters");
    assert_eq!((one.can_login("dave"), two.can_login("dave")), (None, None));
    let audit = Run::new(&sandbox).args("audit show --operation user.create --limit 0").rows();
    assert!(!audit.is_empty() && audit.iter().all(|r| r["outcome"] == "failed"), "{audit:?}");
    assert!(audit.iter().all(|r| r["sql"].is_null() || r["sql"] == ""), "{audit:?}");
    assert!(audit.iter().all(|r| r["error"].as_str().unwrap().contains(&failure)), "{audit:?}");
    let trail = Run::new(&sandbox).args("audit show --limit 0 --format json").run().stdout;
    for place in [&ran.stdout, &ran.stderr, &trail, &one.log(), &two.log()] {
        assert!(!place.contains(PASSWORD), "the command's output leaked:\n{place}");
    }
    for pg in [&one, &two] {
        assert!(!pg.log().contains("CREATE ROLE"), "a statement ran:\n{}", pg.log());
    }
}

fn commands_that_give_no_password_are_named() {
    let pg = cluster();
    let sandbox = Sandbox::new();
    sandbox.register("qa", "postgres", &pg, &[]);
    let silent = script(&sandbox, "silent", "true");
    let newline = script(&sandbox, "newline", "echo");
    let nul = script(&sandbox, "nul", "printf 'a\\000b\\n'");
    let slow = script(&sandbox, "slow", "exec sleep 30");
    let missing = sandbox.path().join("not-installed");
    let not_executable = sandbox.write("not-executable", "#!/bin/sh\necho pw\n");
    for (argv, problem) in [
        (&silent, "printed no password"),
        (&newline, "printed no password"),
        (&nul, "printed a NUL byte"),
        (&missing, "was not found (is it installed and on PATH?)"),
        (&not_executable, "cannot be run: permission denied"),
        (&slow, "did not finish in time and was killed"),
    ] {
        env_command(&sandbox, &[argv]);
        if argv == &slow {
            sandbox.write_config(&format!(
                "[connection]\nadmin_password_command_timeout = \"1s\"\n\
                 [env.qa]\nadmin_password_command = [{:?}]\n",
                slow.display().to_string()
            ));
        }
        let rows = Run::new(&sandbox)
            .args("registry check")
            .expect(1)
            .stderr_contains("hint: qa/postgres: run the command yourself")
            .rows();
        let error = rows[0]["error"].as_str().unwrap();
        let expected = format!("admin_password_command {} {problem}", argv.display());
        assert!(error.starts_with(&expected), "{error}");
    }
    // Arguments are given as they are, with no shell to expand them.
    let printf: PathBuf = ["/usr/bin/printf"].iter().collect();
    sandbox.write_config(&format!(
        "[env.qa]\nadmin_password_command = [{:?}, \"%s\", \"{PASSWORD}\"]\n",
        printf.display().to_string()
    ));
    let rows = Run::new(&sandbox).args("registry check").rows();
    assert_eq!(rows[0]["reachable"], true, "{rows:?}");
    assert!(!pg.log().contains(PASSWORD));
}

/// Two clusters on one host (two ports) need one answer. The progress bar
/// of the fan-out, drawn once a socket target (no password) is done, is
/// off the screen while the question is asked.
fn clusters_on_one_host_prompt_once_and_the_progress_bar_stays_off_the_prompt() {
    let (one, two) = (cluster(), cluster());
    let sandbox = Sandbox::new();
    // Socket directories sort first: with one job, it is done before any prompt.
    Run::new(&sandbox)
        .args("registry add --env qa --db postgres --admin-user postgres --host")
        .arg(one.socket_dir())
        .args(&format!("--port {} -q", one.port()))
        .run();
    sandbox.register("qa", "postgres", &one, &[]);
    sandbox.register("qa", "postgres", &two, &[]);
    let (shown, code) = on_a_terminal(
        &sandbox,
        "registry check --jobs 1 --format json",
        &[("TERM", "xterm")],
        "Password for",
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(code, 0, "{shown}");
    // dialoguer shows the question, then the question with `[hidden]`.
    assert_eq!(shown.matches("[hidden]").count(), 1, "asked more than once:\n{shown}");
    assert!(!shown.contains(PASSWORD), "the password was echoed:\n{shown}");
    assert!(shown.contains("targets"), "no progress bar was drawn:\n{shown:?}");
    // The prompt's line as the terminal shows it: a carriage return only
    // moves the cursor, an erase (ESC [2K) clears what was drawn before.
    let at = shown.find("Password for").unwrap();
    let line_start = shown[..at].rfind('\n').map_or(0, |i| i + 1);
    let before = &shown[line_start..at];
    let before = before.rfind("\u{1b}[2K").map_or(before, |i| &before[i..]);
    let after = &shown[at..shown[at..].find('\n').map_or(shown.len(), |i| at + i)];
    assert!(!before.contains("targets"), "the bar is on the prompt's line: {shown:?}");
    assert!(!after.contains("targets"), "the bar drew over the prompt: {shown:?}");
    assert_eq!(shown.matches(r#""reachable": true"#).count(), 3, "all reachable:\n{shown}");
}
