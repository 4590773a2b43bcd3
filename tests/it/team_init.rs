//! `pgacct store init` run against a real store: by a superuser and by a
//! CREATEROLE owner on every supported major, the catalogs it leaves, a
//! second run that changes nothing, a newer store left alone, privileges
//! that are missing named, `--dry-run`, the store password from the
//! password file and from `[store] password_command` (and nowhere else),
//! a URL with a password refused before any connection, and the other
//! commands refusing a team store instead of taking its URL for a file.

use libtest_mimic::Trial;

use crate::support::cluster::SUPERUSER;
use crate::support::fleet::majors;
use crate::support::runner::{test, trial};
use crate::support::{Cluster, Run, Sandbox, on_a_terminal};

pub fn tests() -> Vec<Trial> {
    [
        per_major(
            "a_superuser_sets_it_up_and_a_second_run_changes_nothing",
            a_superuser_sets_it_up_and_a_second_run_changes_nothing,
        ),
        per_major(
            "an_owner_with_createrole_sets_it_up_with_the_password_file",
            an_owner_with_createrole_sets_it_up_with_the_password_file,
        ),
        vec![
            test!(a_newer_store_is_refused_and_left_alone),
            test!(missing_privileges_are_named_and_nothing_is_left_behind),
            test!(dry_run_prints_the_sql_and_changes_nothing),
            test!(the_password_comes_from_the_store_password_command),
            test!(without_a_password_the_places_are_named_and_a_terminal_prompts),
            test!(a_url_with_a_password_is_refused_before_connecting),
            test!(a_store_out_of_reach_is_named_and_no_file_is_created),
            test!(store_init_needs_a_team_store),
        ],
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn per_major(name: &str, run: fn(u32)) -> Vec<Trial> {
    majors()
        .into_iter()
        .map(|major| trial(module_path!(), &format!("{name}::pg{major}"), move || run(major)))
        .collect()
}

const OWNER: (&str, &str) = ("store_owner", "owner-Pw-3x");

/// The store URL for `user` on `pg`'s database `postgres`.
fn url(pg: &Cluster, user: &str) -> String {
    format!("postgresql://{user}@{}:{}/postgres", pg.host(), pg.port())
}

/// Runs `sql` without logging it: it holds a password.
fn unlogged(pg: &Cluster, sql: &str) {
    let mut su = pg.client();
    su.batch_execute("SET log_statement = 'none'").unwrap();
    su.batch_execute(sql).unwrap();
}

/// A role that may set up the store without being a superuser.
fn add_owner(pg: &Cluster) {
    let (user, password) = OWNER;
    unlogged(
        pg,
        &format!(
            "CREATE ROLE {user} LOGIN CREATEROLE PASSWORD '{password}';
             GRANT CREATE ON DATABASE postgres TO {user};"
        ),
    );
}

/// A password file in the sandbox, mode 0600, with one line.
fn pgpass(sandbox: &Sandbox, line: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = sandbox.write("pgpass", format!("{line}\n"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// What the store holds, as text: to see that a run changed nothing.
fn snapshot(pg: &Cluster) -> String {
    pg.client()
        .query_one(
            "SELECT coalesce((SELECT string_agg(v::text, ';' ORDER BY v.version)
                              FROM pgacct.schema_version v), '')
                 || '|' || (SELECT string_agg(relname || '=' || coalesce(relacl::text, ''), ';'
                                              ORDER BY relname)
                            FROM pg_class WHERE relnamespace = 'pgacct'::regnamespace)
                 || '|' || (SELECT string_agg(proname || '=' || coalesce(proacl::text, ''), ';'
                                              ORDER BY proname)
                            FROM pg_proc WHERE pronamespace = 'pgacct'::regnamespace)",
            &[],
        )
        .unwrap()
        .get(0)
}

/// What the server logged from `from` on.
fn logged_since(pg: &Cluster, from: usize) -> String {
    pg.log()[from..].to_owned()
}

/// The statements the store's setup runs that change something.
const CHANGES: &[&str] = &["BEGIN", "CREATE", "GRANT", "REVOKE", "INSERT", "ALTER"];

fn assert_changed_nothing(log: &str) {
    for word in CHANGES {
        let statements: Vec<&str> = log
            .lines()
            .filter(|line| line.contains("statement: ") && line.contains(word))
            .collect();
        assert!(statements.is_empty(), "{word} in {statements:#?}");
    }
}

fn a_superuser_sets_it_up_and_a_second_run_changes_nothing(major: u32) {
    let pg = Cluster::builder().major(major).start();
    let sandbox = Sandbox::new();
    let store = url(&pg, SUPERUSER);
    let ran = Run::new(&sandbox)
        .args("store init --registry")
        .arg(&store)
        .env("PGPASSWORD", pg.password())
        .stderr_contains(&format!(
            "created store schema pgacct (version 2) in database postgres on {}:{}; role \
             pgacct_user created",
            pg.host(),
            pg.port()
        ))
        .stderr_contains("hint: let each person or CI role use it: GRANT \"pgacct_user\" TO alice;")
        .run();
    assert_eq!(ran.stdout, "");

    let mut su = pg.client();
    let catalog = su
        .query_one(
            "SELECT (SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'pgacct'),
                    (SELECT string_agg(relname::text, ',' ORDER BY relname) FROM pg_class
                      WHERE relnamespace = 'pgacct'::regnamespace AND relkind = 'r'),
                    (SELECT prosecdef FROM pg_proc WHERE oid = 'pgacct.append_audit'::regproc),
                    (SELECT rolcanlogin FROM pg_roles WHERE rolname = 'pgacct_user'),
                    (SELECT string_agg(version::text || ':' || applied_by, ',' ORDER BY version)
                       FROM pgacct.schema_version)",
            &[],
        )
        .unwrap();
    assert_eq!(catalog.get::<_, String>(0), SUPERUSER);
    assert_eq!(catalog.get::<_, String>(1), "audit,schema_version,targets");
    assert!(catalog.get::<_, bool>(2), "append_audit is SECURITY DEFINER");
    assert!(!catalog.get::<_, bool>(3), "pgacct_user is NOLOGIN");
    assert_eq!(catalog.get::<_, String>(4), format!("1:{SUPERUSER},2:{SUPERUSER}"));
    let privileges: Vec<String> = su
        .query(
            "SELECT table_name || ':' || string_agg(privilege_type, ',' ORDER BY privilege_type)
             FROM information_schema.role_table_grants
             WHERE grantee = 'pgacct_user' GROUP BY table_name ORDER BY table_name",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(
        privileges,
        ["audit:SELECT", "schema_version:SELECT", "targets:DELETE,INSERT,SELECT,UPDATE"]
    );
    let executes: bool = su
        .query_one(
            "SELECT has_function_privilege('pgacct_user', 'pgacct.append_audit'::regproc, 'EXECUTE')",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(executes);

    let before = snapshot(&pg);
    let log_from = pg.log().len();
    Run::new(&sandbox)
        .args("store init --registry")
        .arg(&store)
        .env("PGPASSWORD", pg.password())
        .stderr_is("store schema pgacct is already at version 2: nothing to do\n")
        .run();
    assert_eq!(snapshot(&pg), before);
    let log = logged_since(&pg, log_from);
    assert!(log.contains("pgacct.schema_version"), "the second run read the version: {log}");
    assert_changed_nothing(&log);
    assert!(!pg.log().contains(pg.password()), "the password is not in the server log");
}

fn an_owner_with_createrole_sets_it_up_with_the_password_file(major: u32) {
    let pg = Cluster::builder().major(major).start();
    add_owner(&pg);
    unlogged(&pg, "CREATE ROLE alice LOGIN PASSWORD 'alice-Pw-1'");
    let sandbox = Sandbox::new();
    let (user, password) = OWNER;
    let passfile =
        pgpass(&sandbox, &format!("{}:{}:postgres:{user}:{password}", pg.host(), pg.port()));
    let ran = Run::new(&sandbox)
        .args("store init --registry")
        .arg(url(&pg, user))
        .env("PGPASSFILE", &passfile)
        .stderr_contains("created store schema pgacct (version 2) in database postgres")
        .stderr_contains("GRANT \"pgacct_user\" TO alice;")
        .run();
    for text in [&ran.stdout, &ran.stderr, &pg.log()] {
        assert!(!text.contains(password), "the password leaked: {text}");
    }
    let owner_of_append: String = pg
        .client()
        .query_one(
            "SELECT proowner::regrole::text FROM pg_proc WHERE oid = 'pgacct.append_audit'::regproc",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(owner_of_append, user);

    // The hint's next step works for this owner, and alice may then append.
    let mut owner = pg.login("postgres", user, password).unwrap();
    owner.batch_execute("GRANT pgacct_user TO alice").unwrap();
    let mut alice = pg.login("postgres", "alice", "alice-Pw-1").unwrap();
    let id: i64 = alice
        .query_one(
            "SELECT id FROM pgacct.append_audit('ok', NULL, 'os', 'h', 1, NULL, NULL,
                 'registry.add', 'qa', 'orders', 'db1:5432', NULL, 'added', NULL, 1, NULL)",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(id, 1);
}

fn a_newer_store_is_refused_and_left_alone() {
    let pg = Cluster::start();
    let sandbox = Sandbox::new();
    let store = url(&pg, SUPERUSER);
    let init = || {
        Run::new(&sandbox)
            .args("store init --registry")
            .arg(&store)
            .env("PGPASSWORD", pg.password())
    };
    init().any_stderr().run();
    pg.client()
        .batch_execute(
            "INSERT INTO pgacct.schema_version (version)
             SELECT max(version) + 1 FROM pgacct.schema_version;
             REVOKE ALL ON pgacct.targets FROM pgacct_user;",
        )
        .unwrap();
    let before = snapshot(&pg);
    let log_from = pg.log().len();
    for run in [init(), init().args("--dry-run")] {
        let ran = run
            .expect(2)
            .stderr_contains("has schema version 3, but this pgacct knows only up to 2")
            .stderr_contains("hint: a newer pgacct set up this store; upgrade pgacct")
            .run();
        assert_eq!(ran.stdout, "");
    }
    assert_eq!(snapshot(&pg), before, "not even the grants were repaired");
    assert_changed_nothing(&logged_since(&pg, log_from));
}

fn missing_privileges_are_named_and_nothing_is_left_behind() {
    let pg = Cluster::start();
    unlogged(
        &pg,
        "CREATE ROLE nobody LOGIN PASSWORD 'nobody-Pw-4';
         CREATE ROLE creator LOGIN PASSWORD 'creator-Pw-5';
         GRANT CREATE ON DATABASE postgres TO creator;",
    );
    let sandbox = Sandbox::new();
    // No CREATE on the database.
    Run::new(&sandbox)
        .args("store init --registry")
        .arg(url(&pg, "nobody"))
        .env("PGPASSWORD", "nobody-Pw-4")
        .expect(1)
        .stderr_contains("the setup was refused by the server, and nothing was changed")
        .stderr_contains("permission denied for database postgres")
        .stderr_contains("CREATE on the database (GRANT CREATE ON DATABASE \"postgres\" TO owner)")
        .stderr_contains("CREATEROLE unless role pgacct_user exists")
        .run();
    // CREATE on the database but no CREATEROLE: the schema made before the
    // role was refused is rolled back with it.
    Run::new(&sandbox)
        .args("store init --registry")
        .arg(url(&pg, "creator"))
        .env("PGPASSWORD", "creator-Pw-5")
        .expect(1)
        .stderr_contains("permission denied to create role")
        .stderr_contains("CREATEROLE")
        .run();
    let left: i64 = pg
        .client()
        .query_one(
            "SELECT (SELECT count(*) FROM pg_namespace WHERE nspname = 'pgacct')
                  + (SELECT count(*) FROM pg_roles WHERE rolname = 'pgacct_user')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}

fn dry_run_prints_the_sql_and_changes_nothing() {
    let pg = Cluster::start();
    let sandbox = Sandbox::new();
    let log_from = pg.log().len();
    let ran = Run::new(&sandbox)
        .args("store init --dry-run --registry")
        .arg(url(&pg, SUPERUSER))
        .env("PGPASSWORD", pg.password())
        .stderr_is(&format!(
            "dry run: would create store schema pgacct (version 2) in database postgres on {}:{}; \
             would create role pgacct_user; nothing was changed\n",
            pg.host(),
            pg.port()
        ))
        .run();
    let script = Run::new(&sandbox).args("store init --print-sql").run().stdout;
    assert_eq!(ran.stdout, script);
    // libpq's key=value form names the same store.
    let key_value = Run::new(&sandbox)
        .args("store init --dry-run --registry")
        .arg(format!("host={} port={} user={SUPERUSER} dbname=postgres", pg.host(), pg.port()))
        .env("PGPASSWORD", pg.password())
        .stderr_contains("dry run: would create store schema pgacct")
        .run();
    assert_eq!(key_value.stdout, script);
    let left: i64 = pg
        .client()
        .query_one(
            "SELECT (SELECT count(*) FROM pg_namespace WHERE nspname = 'pgacct')
                  + (SELECT count(*) FROM pg_roles WHERE rolname = 'pgacct_user')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    assert_changed_nothing(&logged_since(&pg, log_from));
}

fn the_password_comes_from_the_store_password_command() {
    let pg = Cluster::start();
    add_owner(&pg);
    let sandbox = Sandbox::new();
    let (user, password) = OWNER;
    let secret = sandbox.write("store-password", password);
    // The store from config.toml; the program reads the password from a
    // file, so that it is in no argv.
    sandbox.write_config(&format!(
        "[store]\nurl = \"{}\"\npassword_command = [\"/bin/cat\", \"{}\"]\n",
        url(&pg, user),
        secret.display()
    ));
    let ran = Run::new(&sandbox)
        .env_remove("PGACCT_REGISTRY")
        .args("store init")
        .stderr_contains("created store schema pgacct (version 2) in database postgres")
        .run();
    for text in [&ran.stdout, &ran.stderr, &pg.log()] {
        assert!(!text.contains(password), "the password leaked: {text}");
    }
    let owner: String = pg
        .client()
        .query_one("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'pgacct'", &[])
        .unwrap()
        .get(0);
    assert_eq!(owner, user);

    // PGPASSWORD comes first; the command is named when it fails.
    sandbox.write_config(&format!(
        "[store]\nurl = \"{}\"\npassword_command = [\"/bin/false\"]\n",
        url(&pg, user)
    ));
    Run::new(&sandbox)
        .env_remove("PGACCT_REGISTRY")
        .env("PGPASSWORD", password)
        .args("store init")
        .stderr_contains("nothing to do")
        .run();
    Run::new(&sandbox)
        .env_remove("PGACCT_REGISTRY")
        .args("store init")
        .expect(1)
        .stderr_contains("[store] password_command /bin/false failed with exit status 1")
        .stderr_contains("hint: run the command yourself")
        .run();
}

fn without_a_password_the_places_are_named_and_a_terminal_prompts() {
    let pg = Cluster::start();
    add_owner(&pg);
    let sandbox = Sandbox::new();
    let (user, password) = OWNER;
    let store = url(&pg, user);
    // Admin passwords are not the store's.
    let ran = Run::new(&sandbox)
        .args("store init --registry")
        .arg(&store)
        .env("PGACCT_ADMIN_PASSWORD", password)
        .env("PG_ADMIN_PASS", password)
        .expect(1)
        .stderr_contains(&format!(
            "cannot connect to the team store ({}:{}) as {user}: no password found (looked at \
             $PGPASSWORD, [store] password_command (none in config.toml),",
            pg.host(),
            pg.port()
        ))
        .stderr_contains("no terminal to prompt on")
        .stderr_contains("hint: set PGPASSWORD, a [store] password_command in config.toml")
        .run();
    assert!(!ran.stderr.contains(password));
    // A wrong password from the password file is named as its source.
    let passfile = pgpass(&sandbox, &format!("*:*:*:{user}:not-it"));
    Run::new(&sandbox)
        .args("store init --registry")
        .arg(&store)
        .env("PGPASSFILE", &passfile)
        .expect(1)
        .stderr_contains("password authentication failed")
        .stderr_contains(&format!(
            "hint: the password came from the password file {}",
            passfile.display()
        ))
        .run();
    let (shown, code) = on_a_terminal(
        &sandbox,
        &format!("store init --registry {store}"),
        &[],
        "Password for store_owner@",
        &format!("{password}\n"),
    );
    assert_eq!(code, 0, "{shown}");
    assert!(
        shown.contains(&format!(
            "Password for {user}@{}:{} (the team store)",
            pg.host(),
            pg.port()
        )),
        "{shown}"
    );
    assert!(shown.contains("created store schema pgacct"), "{shown}");
    assert!(!shown.contains(password), "no echo: {shown}");
    assert!(!pg.log().contains(password));
}

fn a_url_with_a_password_is_refused_before_connecting() {
    let sandbox = Sandbox::new();
    // Nothing listens on port 1: a connection attempt would fail otherwise.
    let with_password = "postgresql://owner:s3cret-Pw@127.0.0.1:1/postgres";
    let refused = |run: Run| {
        let ran = run
            .expect(2)
            .stderr_contains("the store URL holds a password; pgacct refuses it")
            .stderr_contains("~/.pgpass (PGPASSFILE), PGPASSWORD or a [store] password_command")
            .run();
        assert!(!ran.stderr.contains("s3cret"), "{}", ran.stderr);
        assert_eq!(ran.stdout, "");
    };
    refused(Run::new(&sandbox).args("store init --registry").arg(with_password));
    refused(Run::new(&sandbox).env("PGACCT_REGISTRY", with_password).args("store init"));
    refused(
        Run::new(&sandbox)
            .args("store init --registry")
            .arg("postgres://127.0.0.1:1/postgres?password=s3cret-Pw"),
    );
    refused(Run::new(&sandbox).env("PGACCT_REGISTRY", with_password).args("registry list"));
    // Nor does --help show it.
    for help in ["--help", "registry list --help", "store init --help"] {
        let shown = Run::new(&sandbox).env("PGACCT_REGISTRY", with_password).args(help).run();
        assert!(shown.stdout.contains("PGACCT_REGISTRY"), "{}", shown.stdout);
        assert!(!shown.stdout.contains("s3cret"), "{}", shown.stdout);
    }
    sandbox.write_config(&format!("[store]\nurl = \"{with_password}\"\n"));
    let ran = Run::new(&sandbox)
        .env_remove("PGACCT_REGISTRY")
        .args("store init")
        .expect(2)
        .stderr_contains("[store] url: the store URL holds a password")
        .run();
    assert!(!ran.stderr.contains("s3cret"), "{}", ran.stderr);
}

fn a_store_out_of_reach_is_named_and_no_file_is_created() {
    let sandbox = Sandbox::new();
    let store = "postgresql://alice@127.0.0.1:1/postgres";
    let changing = |run: Run| {
        run.expect(1)
            .stderr_contains("error: cannot reach the team store; nothing was done")
            .stderr_contains("cannot connect to the team store (127.0.0.1:1) as alice")
            .run();
    };
    changing(
        Run::new(&sandbox)
            .env("PGACCT_REGISTRY", store)
            .args("registry add --env qa --db orders --host db1"),
    );
    changing(
        Run::new(&sandbox)
            .env("PGACCT_REGISTRY", "host=127.0.0.1 port=1 dbname=postgres user=alice")
            .args("registry add --env qa --db orders --host db1"),
    );
    sandbox.write_config(&format!("[store]\nurl = \"{store}\"\n"));
    changing(
        Run::new(&sandbox)
            .env_remove("PGACCT_REGISTRY")
            .args("user create-vm --env qa --all --server web01 --service-port 8080"),
    );
    for reading in ["user list --env qa --all", "registry list", "audit show"] {
        let ran = Run::new(&sandbox)
            .env_remove("PGACCT_REGISTRY")
            .args(reading)
            .expect(1)
            .any_stderr()
            .run();
        assert!(
            ran.stderr.starts_with("error: cannot reach the team store; nothing was done\n"),
            "{}",
            ran.stderr
        );
    }
    // Not taken for a relative file name: nothing appeared where pgacct ran.
    let entries: Vec<String> = std::fs::read_dir(sandbox.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("postgres") || name.starts_with("host"))
        .collect();
    assert_eq!(entries, Vec::<String>::new());
}

fn store_init_needs_a_team_store() {
    let sandbox = Sandbox::new();
    Run::new(&sandbox)
        .args("store init")
        .expect(2)
        .stderr_contains("store init sets up a team store, and the registry is a file")
        .stderr_contains("--registry postgresql://owner@host/dbname")
        .run();
    assert!(!sandbox.registry().exists());
}
