//! Files that are not what they seem, and secrets handed to other
//! programs: a registry path that is a FIFO, a device or a directory, or
//! that another user could write or replace; reading commands that must
//! create and write nothing; `--secret-file --force` over something that is
//! not a regular file; the environment of a command hook; the names of
//! Kubernetes Secrets.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use libtest_mimic::Trial;

use crate::support::runner::{skip, test};
use crate::support::{Cluster, PGACCT, Run, Sandbox};

pub fn tests() -> Vec<Trial> {
    vec![
        test!(a_registry_that_is_not_a_file_is_refused_without_hanging),
        test!(a_registry_others_could_write_or_replace_is_refused_and_left_alone),
        test!(a_registry_owned_by_another_user_is_refused),
        test!(reading_commands_create_and_write_nothing),
        test!(reading_works_in_a_read_only_directory),
        test!(sqlite_side_files_are_private_while_pgacct_has_them_open),
        test!(secret_file_force_replaces_nothing_but_a_regular_file),
        test!(command_hooks_get_no_secret_in_their_environment),
        test!(k8s_secrets_of_look_alike_databases_get_distinct_valid_names),
    ]
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn add(sandbox: &Sandbox, registry: &Path, db: &str) {
    Run::new(sandbox)
        .arg("--registry")
        .arg(registry)
        .args(&format!("-q registry add --env qa --db {db} --host 127.0.0.1 --port 1"))
        .run();
}

/// The names in `dir`, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// pgacct under `timeout`, so that a run that blocks (on a FIFO) ends as a
/// failure with exit 124 instead of hanging the suite.
fn guarded(sandbox: &Sandbox) -> Run {
    let mut command = sandbox.command("timeout");
    command.args(["60", PGACCT]);
    Run::of(command)
}

/// The reading commands, as a user types them.
const READING: [&str; 7] = [
    "registry list",
    "registry export",
    "registry show --env qa --db orders",
    "audit show",
    "audit verify",
    "user list --env qa --all",
    "registry check --env qa",
];

fn a_registry_that_is_not_a_file_is_refused_without_hanging() {
    let sandbox = Sandbox::new();
    let fifo = sandbox.path().join("fifo.db");
    rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
    let dir = sandbox.path().join("dir.db");
    fs::create_dir(&dir).unwrap();
    let dangling = sandbox.path().join("dangling.db");
    std::os::unix::fs::symlink("nowhere.db", &dangling).unwrap();
    let before = names_in(sandbox.path());
    for (path, what) in [
        (fifo.as_path(), "is refused: it is a FIFO (named pipe), not a regular file"),
        (dir.as_path(), "is refused: it is a directory, not a regular file"),
        (Path::new("/dev/null"), "is refused: it is a device, not a regular file"),
        (
            dangling.as_path(),
            "is refused: it is a symbolic link to nowhere.db which does not exist",
        ),
    ] {
        for command in READING.iter().chain(&["registry add --env qa --db orders --host h"]) {
            guarded(&sandbox)
                .arg("--registry")
                .arg(path)
                .args(command)
                .env("PGACCT_ADMIN_PASSWORD", "unused")
                .expect(2)
                .stderr_contains(&format!("registry {} {what}", path.display()))
                .stderr_contains("hint: point --registry (PGACCT_REGISTRY) at a registry file")
                .run();
        }
    }
    assert_eq!(names_in(sandbox.path()), before);
    assert_eq!(names_in(&dir), Vec::<String>::new());
    assert_eq!(fs::metadata("/dev/null").unwrap().len(), 0);
}

fn a_registry_others_could_write_or_replace_is_refused_and_left_alone() {
    let sandbox = Sandbox::new();
    let home = sandbox.path().join("reg");
    let registry = home.join("r.db");
    add(&sandbox, &registry, "orders");
    let original = fs::read(&registry).unwrap();
    let list = |registry: &Path| Run::new(&sandbox).arg("--registry").arg(registry);
    let refused = |registry: &Path, problem: &str, hint: &str| {
        for command in ["registry list", "audit verify", "registry add --env qa --db b --host h"] {
            list(registry)
                .args(command)
                .expect(2)
                .stderr_contains(&format!("registry {} is refused: {problem}", registry.display()))
                .stderr_contains(&format!("hint: {hint}"))
                .run();
        }
    };

    chmod(&registry, 0o664);
    refused(
        &registry,
        "other users can write it (mode 0664)",
        &format!("chmod 600 {}", registry.display()),
    );
    chmod(&registry, 0o600);

    chmod(&home, 0o775);
    refused(
        &registry,
        &format!("other users can write {} (mode 0775, without the sticky bit)", home.display()),
        &format!("chmod 700 {}", home.display()),
    );
    // A sticky directory, as /tmp: others can add files, not replace ours.
    chmod(&home, 0o1777);
    let rows = list(&registry).args("registry list").rows();
    assert_eq!(rows.len(), 1);
    chmod(&home, 0o700);
    assert_eq!(fs::read(&registry).unwrap(), original);

    // A symbolic link is followed, and where it leads is judged.
    let link = sandbox.path().join("link.db");
    std::os::unix::fs::symlink(&registry, &link).unwrap();
    assert_eq!(list(&link).args("registry list").rows().len(), 1);
    chmod(&home, 0o777);
    list(&link)
        .args("registry list")
        .expect(2)
        .stderr_contains(&format!("other users can write {} (mode 0777", home.display()))
        .run();

    // A new registry is not created where others could replace it.
    let shared = sandbox.path().join("shared");
    fs::create_dir(&shared).unwrap();
    chmod(&shared, 0o777);
    let new = shared.join("sub/r.db");
    list(&new)
        .args("registry add --env qa --db a --host h")
        .expect(2)
        .stderr_contains(&format!("other users can write {} (mode 0777", shared.display()))
        .run();
    assert_eq!(names_in(&shared), Vec::<String>::new());
}

/// A planted registry (another user's file in our directory) would point
/// pgacct, and the admin password, at the planter's servers.
fn a_registry_owned_by_another_user_is_refused() {
    if !rustix::process::geteuid().is_root() {
        skip("root, to give a file to another user");
    }
    let sandbox = Sandbox::new();
    add(&sandbox, &sandbox.registry(), "orders");
    let original = fs::read(sandbox.registry()).unwrap();
    std::os::unix::fs::chown(sandbox.registry(), Some(65534), None).unwrap();
    for command in
        ["registry list", "user list --env qa --all", "registry add --env qa --db b --host h"]
    {
        Run::new(&sandbox)
            .args(command)
            .expect(2)
            .stderr_contains("is refused: it belongs to uid 65534, not to you (uid 0)")
            .run();
    }
    // A directory of another user's on the way, even one that is not
    // writable by others: its owner can rename anything in it.
    std::os::unix::fs::chown(sandbox.registry(), Some(0), None).unwrap();
    let theirs = sandbox.path().join("theirs");
    fs::create_dir(&theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(65534), None).unwrap();
    let mine = theirs.join("mine");
    fs::create_dir(&mine).unwrap();
    fs::rename(sandbox.registry(), mine.join("r.db")).unwrap();
    Run::new(&sandbox)
        .arg("--registry")
        .arg(mine.join("r.db"))
        .args("registry list")
        .expect(2)
        .stderr_contains(&format!("{} on its way belongs to uid 65534", theirs.display()))
        .run();
    assert_eq!(fs::read(mine.join("r.db")).unwrap(), original);
}

fn reading_commands_create_and_write_nothing() {
    let sandbox = Sandbox::new();
    let read = |registry: &Path, command: &str| {
        Run::new(&sandbox)
            .arg("--registry")
            .arg(registry)
            .args(command)
            .env("PGACCT_ADMIN_PASSWORD", "unused")
    };

    // A registry: read, byte for byte unchanged, with no -wal or -shm left.
    let registry = sandbox.path().join("reg/r.db");
    add(&sandbox, &registry, "orders");
    let dir = registry.parent().unwrap();
    let (original, files) = (fs::read(&registry).unwrap(), names_in(dir));
    assert_eq!(files, ["r.db"]);
    for command in READING {
        // The connecting commands fail on port 1; they read all the same.
        let connects = command.starts_with("user") || command.contains("check");
        let code = i32::from(connects);
        read(&registry, command).expect(code).any_stderr().run();
        assert_eq!(names_in(dir), files, "after {command}");
        assert_eq!(fs::read(&registry).unwrap(), original, "after {command}");
    }

    // No registry: the message says so (`registry list` shows an empty
    // registry), and nothing is created.
    let missing = sandbox.path().join("sub/r.db");
    for command in READING {
        if command == "registry list" {
            read(&missing, command).stderr_contains("the registry is empty").run();
            continue;
        }
        read(&missing, command).expect(1).stderr_contains("sub/r.db does not exist").run();
    }
    assert!(!missing.parent().unwrap().exists());

    // An empty file is reported, and stays empty.
    let empty = sandbox.path().join("empty.db");
    fs::write(&empty, "").unwrap();
    chmod(&empty, 0o600);
    for command in READING {
        if command == "registry list" {
            read(&empty, command).stderr_contains("the registry is empty").run();
            continue;
        }
        read(&empty, command).expect(1).stderr_contains("empty.db is empty").run();
    }
    assert_eq!(fs::metadata(&empty).unwrap().len(), 0);
}

/// SQLite in WAL mode wants to create `-wal` and `-shm` files beside the
/// database; a reader in a directory it cannot write must still read.
fn reading_works_in_a_read_only_directory() {
    let sandbox = Sandbox::new();
    let dir = tempfile::Builder::new().prefix("pgacct-ro-").tempdir().unwrap();
    let registry = dir.path().join("r.db");
    add(&sandbox, &registry, "orders");
    // Root may write anywhere: run as another user, whose directory it is.
    let as_root = rustix::process::geteuid().is_root();
    if as_root {
        for path in [dir.path(), registry.as_path()] {
            std::os::unix::fs::chown(path, Some(65534), Some(65534)).unwrap();
        }
    }
    chmod(dir.path(), 0o555);
    let reader = || {
        let mut command = Command::new(PGACCT);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("PGACCT_REGISTRY", &registry)
            .current_dir(dir.path());
        if as_root {
            command.uid(65534).gid(65534);
        }
        Run::of(command)
    };
    let rows = reader().args("registry list").rows();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["db"], "orders");
    let out = reader().args("audit verify").run();
    assert!(out.stdout.starts_with("audit trail intact"), "{}", out.stdout);
    reader().args("audit show").run();
    assert_eq!(names_in(dir.path()), ["r.db"]);
    chmod(dir.path(), 0o700);
}

/// Runs `pgacct args` on a pseudo-terminal (through `script`); once the
/// terminal shows `prompt`, calls `meanwhile`, then types `keys`.
fn at_a_prompt(
    sandbox: &Sandbox,
    args: &str,
    prompt: &str,
    meanwhile: impl FnOnce(),
    keys: &str,
) -> (String, i32) {
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    let mut child = sandbox
        .command("script")
        .args(["-qec", &format!("{PGACCT} {args}"), "/dev/null"])
        .env("TERM", "dumb")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let shown = Arc::new(Mutex::new(Vec::new()));
    let mut stdout = child.stdout.take().unwrap();
    let reader = {
        let shown = Arc::clone(&shown);
        std::thread::spawn(move || {
            let mut buf = [0; 4096];
            while let Ok(n @ 1..) = stdout.read(&mut buf) {
                shown.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    // A bound only against a prompt that never comes.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !String::from_utf8_lossy(&shown.lock().unwrap()).contains(prompt) {
        assert!(Instant::now() < deadline, "the prompt {prompt:?} never appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
    meanwhile();
    child.stdin.as_mut().unwrap().write_all(keys.as_bytes()).unwrap();
    let status = child.wait().unwrap();
    reader.join().unwrap();
    let shown = String::from_utf8_lossy(&shown.lock().unwrap()).into_owned();
    (shown, status.code().unwrap_or(-1))
}

/// The `-wal` and `-shm` files exist only while a connection is open: look
/// at them while pgacct waits at the admin password prompt, holding the
/// registry it is about to record the change in.
fn sqlite_side_files_are_private_while_pgacct_has_them_open() {
    let pg = Cluster::start();
    pg.client().batch_execute("CREATE DATABASE orders").unwrap();
    let sandbox = Sandbox::new();
    sandbox.register("qa", "orders", &pg, &[]);
    let side = |suffix: &str| PathBuf::from(format!("{}{suffix}", sandbox.registry().display()));
    assert!(!side("-wal").exists() && !side("-shm").exists());
    let mut seen = Vec::new();
    let (shown, code) = at_a_prompt(
        &sandbox,
        "user create --env qa --db orders --type devqa alice",
        "Password for",
        || {
            for suffix in ["-wal", "-shm"] {
                let mode = fs::metadata(side(suffix)).map(|m| m.permissions().mode() & 0o7777);
                seen.push((suffix, mode.ok()));
            }
        },
        &format!("{}\r", pg.password()),
    );
    assert_eq!(code, 0, "{shown}");
    assert_eq!(seen, [("-wal", Some(0o600)), ("-shm", Some(0o600))]);
    assert_eq!(pg.can_login("alice"), Some(true));
}

fn secret_file_force_replaces_nothing_but_a_regular_file() {
    let pg = Cluster::start();
    pg.client().batch_execute("CREATE DATABASE orders").unwrap();
    let sandbox = Sandbox::new();
    sandbox.register("qa", "orders", &pg, &[]);
    let audit_rows = || Run::new(&sandbox).args("audit show --limit 0").rows().len();
    let records = audit_rows();
    let fifo = sandbox.path().join("fifo.env");
    rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
    let victim = sandbox.write("victim", "theirs\n");
    let link = sandbox.path().join("link.env");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let dir = sandbox.path().join("adir");
    fs::create_dir(&dir).unwrap();
    let files = names_in(sandbox.path());
    for (path, what) in [
        (fifo.as_path(), "a FIFO (named pipe)"),
        (Path::new("/dev/null"), "a device"),
        (link.as_path(), "a symbolic link"),
        (dir.as_path(), "a directory"),
    ] {
        guarded(&sandbox)
            .args("user create --env qa --db orders --type devqa alice --force --secret-file")
            .arg(path)
            .env("PGACCT_ADMIN_PASSWORD", pg.password())
            .expect(2)
            .stderr_contains(&format!(
                "{} is {what}; a secret file is a regular file",
                path.display()
            ))
            .run();
    }
    assert_eq!(pg.can_login("alice"), None, "no role was created");
    assert_eq!(audit_rows(), records, "nothing was recorded");
    assert_eq!(names_in(sandbox.path()), files);
    assert_eq!(fs::read_to_string(&victim).unwrap(), "theirs\n");
}

fn command_hooks_get_no_secret_in_their_environment() {
    let pg = Cluster::start();
    pg.client().batch_execute("CREATE DATABASE orders").unwrap();
    let sandbox = Sandbox::new();
    sandbox.register("qa", "orders", &pg, &[]);
    let dump = sandbox.path().join("hook-env");
    sandbox.write_config(&format!(
        "[[notify]]\nkind = \"command\"\nprogram = \"sh\"\nargs = [\"-c\", \"env > '{}'\"]\n",
        dump.display()
    ));
    let secrets = [
        ("PGACCT_ADMIN_PASSWORD_QA", pg.password().to_owned()),
        ("PGACCT_ADMIN_PASSWORD", "Generic-Admin-Secret-1".to_owned()),
        ("PGACCT_ADMIN_PASSWORD_PROD", "Prod-Admin-Secret-2".to_owned()),
        ("PG_ADMIN_PASS", "Legacy-Admin-Secret-3".to_owned()),
        ("PGPASSWORD", "Libpq-Secret-4".to_owned()),
        ("PGACCT_AUDIT_KEY", "Audit-Key-Secret-5-0123456789abcdefghij".to_owned()),
    ];
    let mut run = Run::new(&sandbox)
        .args("user create --env qa --db orders --type devqa alice")
        .env("PGACCT_HOOK_MARKER", "visible");
    for (name, value) in &secrets {
        run = run.env(name, value);
    }
    let rows = run.rows();
    let password = rows[0]["password"].as_str().unwrap();
    let env = fs::read_to_string(&dump).unwrap();
    assert!(env.contains("PGACCT_HOOK_MARKER=visible\n"), "the hook ran, with an environment");
    for (name, value) in &secrets {
        assert!(!env.contains(name), "{name} reached the hook:\n{env}");
        assert!(!env.contains(value.as_str()), "the value of {name} reached the hook");
    }
    assert!(!env.contains(password), "the new password reached the hook");
}

fn k8s_secrets_of_look_alike_databases_get_distinct_valid_names() {
    let pg = Cluster::start();
    pg.client().batch_execute("CREATE DATABASE \"my db\"").unwrap();
    pg.client().batch_execute("CREATE DATABASE my_db").unwrap();
    let sandbox = Sandbox::new();
    sandbox.register("qa", "my db", &pg, &[]);
    sandbox.register("qa", "my_db", &pg, &[]);
    Run::new(&sandbox)
        .args("user create --env qa --all --type devqa alice --secret-format k8s-secret")
        .args("--secret-file alice.yaml")
        .env("PGACCT_ADMIN_PASSWORD", pg.password())
        .stderr_contains("password for alice written to alice.yaml")
        .run();
    let manifest = fs::read_to_string(sandbox.path().join("alice.yaml")).unwrap();
    let names: Vec<&str> = manifest.lines().filter_map(|l| l.strip_prefix("  name: ")).collect();
    assert_eq!(names.len(), 2, "{manifest}");
    assert_ne!(names[0], names[1], "{manifest}");
    for name in &names {
        let valid = name.len() <= 63
            && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && name.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        assert!(valid, "{name} is not a DNS-1123 label");
        assert!(name.starts_with("alice-qa-my-db-"), "{name}");
    }
    // The same target gets the same name again.
    Run::new(&sandbox)
        .args("user reset-password --env qa --db my_db alice --secret-format k8s-secret")
        .args("--secret-file again.yaml")
        .env("PGACCT_ADMIN_PASSWORD", pg.password())
        .any_stderr()
        .run();
    let again = fs::read_to_string(sandbox.path().join("again.yaml")).unwrap();
    let name: Vec<&str> = again.lines().filter_map(|l| l.strip_prefix("  name: ")).collect();
    assert!(names.contains(&name[0]), "{again}");
}
