//! Secrets for the next hop: a pgbouncer `userlist.txt` with the SCRAM
//! verifier pgacct set (a real pgbouncer in front of real servers logs a
//! client in through it), and `--secret-command`, a program that gets the
//! JSON secret on stdin and never the password in its arguments.

use std::fs;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use libtest_mimic::Trial;
use serde_json::Value;

use crate::support::cluster::{AsServer, free_port, running_as_root, server_owned_tempdir};
use crate::support::runner::{skip, test};
use crate::support::{Cluster, Run, Sandbox};

pub fn tests() -> Vec<Trial> {
    vec![
        test!(pgbouncer_logs_a_client_in_through_the_generated_userlist),
        test!(pgbouncer_format_is_refused_when_the_clusters_scram_iterations_differ),
        test!(a_secret_command_gets_the_json_and_the_password_goes_nowhere_else),
        test!(a_secret_command_that_cannot_run_is_refused_before_any_change),
        test!(a_failing_secret_command_does_not_lose_the_password),
    ]
}

/// The admin password of every cluster here, so that one run reaches all.
const ADMIN_PASSWORD: &str = "Admin-Secret-For-Every-Cluster-1";

/// A cluster with a database `db`, registered in env qa of `sandbox`.
fn cluster_with(sandbox: &Sandbox, db: &str) -> Cluster {
    register(sandbox, db, Cluster::builder().password(ADMIN_PASSWORD).start())
}

fn register(sandbox: &Sandbox, db: &str, pg: Cluster) -> Cluster {
    pg.client().batch_execute(&format!("CREATE DATABASE {db}")).unwrap();
    sandbox.register("qa", db, &pg, &[]);
    pg
}

fn pgbouncer_binary() -> PathBuf {
    let found = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer", "/usr/local/bin/pgbouncer"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    found.unwrap_or_else(|| skip("pgbouncer (apt-get install -y pgbouncer)"))
}

/// A pgbouncer in a directory of its own, stopped when dropped.
struct Pgbouncer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Pgbouncer {
    /// Starts pgbouncer with `userlist` as its SCRAM `auth_file`, each of
    /// `databases` (name, server port) pointing at a server on loopback.
    fn start(userlist: &Path, databases: &[(&str, u16)]) -> Pgbouncer {
        let binary = pgbouncer_binary();
        let dir = server_owned_tempdir();
        let port = free_port();
        let auth_file = dir.path().join("userlist.txt");
        fs::copy(userlist, &auth_file).unwrap();
        let mut ini = String::from("[databases]\n");
        for (name, server) in databases {
            ini.push_str(&format!("{name} = host=127.0.0.1 port={server} dbname={name}\n"));
        }
        ini.push_str(&format!(
            "[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
             auth_type = scram-sha-256\nauth_file = {}\npool_mode = session\n\
             ignore_startup_parameters = extra_float_digits,options\nlogfile = {}\n",
            auth_file.display(),
            dir.path().join("pgbouncer.log").display()
        ));
        let config = dir.path().join("pgbouncer.ini");
        fs::write(&config, ini).unwrap();
        if running_as_root() {
            // pgbouncer refuses to run as root; it runs as the servers do.
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success(), "chown the pgbouncer directory");
        }
        let child = Command::new(binary)
            .arg(&config)
            .as_server(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pgbouncer");
        let mut bouncer = Pgbouncer { child, port, dir };
        bouncer.wait_until_listening();
        bouncer
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            let exited = self.child.try_wait().unwrap();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "pgbouncer did not start ({exited:?}):\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
    }

    /// Logs in to `db` through pgbouncer; the port of the server reached.
    fn login(&self, db: &str, user: &str, password: &str) -> Result<i32, postgres::Error> {
        let mut client = postgres::Config::new()
            .host("127.0.0.1")
            .port(self.port)
            .user(user)
            .password(password)
            .dbname(db)
            .connect(postgres::NoTls)?;
        let row = client.query_one("SELECT inet_server_port()", &[])?;
        Ok(row.get(0))
    }
}

impl Drop for Pgbouncer {
    fn drop(&mut self) {
        // runuser passes the signal on to pgbouncer.
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

fn pgbouncer_logs_a_client_in_through_the_generated_userlist() {
    let sandbox = Sandbox::new();
    let one = cluster_with(&sandbox, "orders");
    let two = cluster_with(&sandbox, "billing");
    let rows = Run::new(&sandbox)
        .args("user create --env qa --all --type devqa alice")
        .args("--secret-file userlist.txt --secret-format pgbouncer")
        .env("PGACCT_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .stderr_contains("verifier for alice written to userlist.txt")
        .rows();
    assert!(rows.iter().all(|r| r["outcome"] == "ok"), "{rows:?}");
    // The file holds no password, so the result shows it.
    let password = rows[0]["password"].as_str().expect("the password is shown").to_owned();
    assert_eq!(rows[1]["password"], password.as_str());
    let path = sandbox.path().join("userlist.txt");
    assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    let userlist = fs::read_to_string(&path).unwrap();
    assert!(!userlist.contains(&password), "the plaintext is in the userlist");
    let verifier = one.verifier("alice").unwrap();
    assert_eq!(two.verifier("alice").unwrap(), verifier, "one verifier on every server");
    assert_eq!(userlist, format!("\"alice\" \"{verifier}\"\n"));
    assert!(!one.log().contains(&password) && !two.log().contains(&password));

    let bouncer = Pgbouncer::start(&path, &[("orders", one.port()), ("billing", two.port())]);
    // SCRAM from the client to pgbouncer, and on to each server with the
    // keys the client's proof gives pgbouncer: no plaintext anywhere.
    let reached = |db: &str| {
        bouncer.login(db, "alice", &password).unwrap_or_else(|err| {
            panic!("login to {db} through pgbouncer: {err:?}\n{}", bouncer.log())
        })
    };
    assert_eq!(reached("orders"), i32::from(one.port()));
    assert_eq!(reached("billing"), i32::from(two.port()));
    assert!(bouncer.login("orders", "alice", "not-the-password").is_err(), "a wrong password");

    // A pgbouncer file is no source of a password for a retry.
    Run::new(&sandbox)
        .args("user reset-password --env qa --db orders alice --password-from userlist.txt")
        .env("PGACCT_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .expect(2)
        .stderr_contains("is a pgbouncer userlist: it holds SCRAM verifiers, not a password")
        .run();
}

fn pgbouncer_format_is_refused_when_the_clusters_scram_iterations_differ() {
    let sandbox = Sandbox::new();
    let usual = cluster_with(&sandbox, "orders");
    let stronger = Cluster::builder()
        .major(16)
        .setting("scram_iterations = 10000")
        .password(ADMIN_PASSWORD)
        .start();
    let stronger = register(&sandbox, "billing", stronger);
    let ran = Run::new(&sandbox)
        .args("user create --env qa --all --type devqa alice")
        .args("--secret-file userlist.txt --secret-format pgbouncer")
        .env("PGACCT_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .expect(2)
        .stderr_contains("the clusters' scram_iterations differ (4096, 10000)")
        .stderr_contains("nothing was changed")
        .run();
    assert!(ran.stdout.is_empty(), "{}", ran.stdout);
    assert_eq!(usual.can_login("alice"), None, "no role was created");
    assert_eq!(stronger.can_login("alice"), None, "no role was created");
    assert!(!sandbox.path().join("userlist.txt").exists());
}

/// A script that records its arguments and its stdin in the sandbox, then
/// exits with `status` after saying something on stderr.
fn recorder(sandbox: &Sandbox, status: i32) -> PathBuf {
    let dir = sandbox.path();
    let script = sandbox.write(
        "record.sh",
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{args}'\ncat > '{input}'\n\
             echo 'recorder says hello' >&2\nexit {status}\n",
            args = dir.join("argv").display(),
            input = dir.join("stdin.json").display(),
        ),
    );
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    script
}

fn a_secret_command_gets_the_json_and_the_password_goes_nowhere_else() {
    let sandbox = Sandbox::new();
    let pg = cluster_with(&sandbox, "orders");
    recorder(&sandbox, 0);
    let ran = Run::new(&sandbox)
        .args("user create --env qa --db orders --type devqa alice")
        .args("--secret-command -- ./record.sh put secret/alice -")
        .env("PGACCT_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .stderr_contains("password for alice piped to ./record.sh")
        .run();
    let document: Value =
        serde_json::from_str(&fs::read_to_string(sandbox.path().join("stdin.json")).unwrap())
            .unwrap();
    assert_eq!(document["user"], "alice");
    let password = document["password"].as_str().unwrap();
    let target = &document["targets"][0];
    assert_eq!((&target["env"], &target["db"]), (&"qa".into(), &"orders".into()));
    assert_eq!(target["port"], pg.port());
    assert!(target["url"].as_str().unwrap().starts_with("postgresql://alice:"), "{target}");
    pg.login("orders", "alice", password).expect("the piped password logs in");
    let argv = fs::read_to_string(sandbox.path().join("argv")).unwrap();
    assert_eq!(argv, "put\nsecret/alice\n-\n", "the arguments as given, and nothing else");
    for (place, text) in
        [("stdout", &ran.stdout), ("stderr", &ran.stderr), ("the server log", &pg.log())]
    {
        assert!(!text.contains(password), "the password is in {place}");
    }
    // The result shows no password: the command has it.
    // (Options go before the `--`: what follows it is the program's.)
    let rows = Run::new(&sandbox)
        .args("user reset-password --env qa --db orders alice --format json")
        .args("--secret-command -- ./record.sh")
        .env("PGACCT_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .any_stderr()
        .run()
        .rows();
    assert_eq!(rows[0]["password"], Value::Null, "{rows:?}");
    let again: Value =
        serde_json::from_str(&fs::read_to_string(sandbox.path().join("stdin.json")).unwrap())
            .unwrap();
    assert_ne!(again["password"], password);
    pg.login("orders", "alice", again["password"].as_str().unwrap()).expect("the new one logs in");
}

fn a_secret_command_that_cannot_run_is_refused_before_any_change() {
    let sandbox = Sandbox::new();
    let pg = cluster_with(&sandbox, "orders");
    let records = || Run::new(&sandbox).args("audit show --limit 0").rows().len();
    let before = records();
    let plain = sandbox.write("not-executable.sh", "#!/bin/sh\ncat > /dev/null\n");
    fs::set_permissions(&plain, fs::Permissions::from_mode(0o644)).unwrap();
    for (program, says) in [
        (
            "no-such-program-pgacct",
            "the --secret-command program no-such-program-pgacct was not found on PATH",
        ),
        (
            "./not-executable.sh",
            "the --secret-command program ./not-executable.sh (./not-executable.sh) is not an executable file",
        ),
    ] {
        Run::new(&sandbox)
            .args("user create --env qa --db orders --type devqa alice --secret-command --")
            .arg(program)
            .env("PGACCT_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .expect(2)
            .stderr_contains(says)
            .run();
    }
    assert_eq!(pg.can_login("alice"), None, "no role was created");
    pg.client().batch_execute("CREATE ROLE bob LOGIN PASSWORD 'Old-Bob-Password-1'").unwrap();
    let verifier = pg.verifier("bob");
    Run::new(&sandbox)
        .args("user reset-password --env qa --db orders bob --secret-command -- no-such-program-pgacct")
        .env("PGACCT_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .expect(2)
        .stderr_contains("was not found on PATH")
        .run();
    assert_eq!(pg.verifier("bob"), verifier, "the password was not reset");
    assert_eq!(records(), before, "nothing was recorded");
    // Without a program after --, clap says what is missing.
    Run::new(&sandbox)
        .args("user create --env qa --db orders --type devqa alice --secret-command")
        .expect(2)
        .stderr_contains("<PROGRAM [ARGS]>")
        .run();
}

/// The JSON document pgacct printed on stdout before its result table.
fn printed_document(stdout: &str) -> Value {
    let end = stdout.find("\n}\n").expect("a JSON document on stdout") + 2;
    serde_json::from_str(&stdout[..end]).unwrap()
}

fn a_failing_secret_command_does_not_lose_the_password() {
    let sandbox = Sandbox::new();
    let pg = cluster_with(&sandbox, "orders");
    recorder(&sandbox, 3);
    // Nothing else holds it: it is printed, and the exit code says failure.
    let ran = Run::new(&sandbox)
        .args("user create --env qa --db orders --type devqa alice --secret-command -- ./record.sh")
        .env("PGACCT_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .expect(1)
        .stderr_contains("the password was set, and the secret command failed")
        .stderr_contains("the --secret-command program ./record.sh failed: exit status 3")
        .stderr_contains("recorder says hello")
        .run();
    let document = printed_document(&ran.stdout);
    let password = document["password"].as_str().unwrap();
    pg.login("orders", "alice", password).expect("the printed password logs in");
    assert!(!ran.stderr.contains(password), "the password is in stderr");

    // A secret file that holds it: the file has it, stdout does not.
    let ran = Run::new(&sandbox)
        .args("user reset-password --env qa --db orders alice --secret-file alice.env")
        .args("--secret-command -- ./record.sh")
        .env("PGACCT_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .expect(1)
        .stderr_contains("the secret file holds it")
        .run();
    let password = crate::support::read_password_from(&sandbox.path().join("alice.env"));
    assert!(!ran.stdout.contains(&password), "{}", ran.stdout);
    pg.login("orders", "alice", &password).expect("the file's password logs in");
}
