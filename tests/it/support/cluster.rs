//! Throwaway PostgreSQL clusters for integration tests.
//!
//! Each [`Cluster`] is a fresh data directory (a copy of one `initdb` per
//! major and test run) in its own temporary directory, listening on a free loopback port and on a Unix socket in that
//! directory, with scram-sha-256 for host connections, trust for local
//! ones, and `log_statement = all` so tests can read what the server saw.
//! Dropping it stops the server and removes the directory, also when the
//! test panics. As root, the server runs as the `postgres` OS user.

use std::fmt::Write as _;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;
use std::{env, fs};

/// The superuser every test cluster has.
pub const SUPERUSER: &str = "postgres";

/// Where PostgreSQL's server binaries are.
#[derive(Debug, Clone)]
pub struct PgBin {
    dir: PathBuf,
}

impl PgBin {
    /// `PG_BIN_DIR`, else `pg_config --bindir`, else the newest
    /// `/usr/lib/postgresql/*/bin`; only directories that hold `initdb`.
    pub fn find() -> Option<PgBin> {
        let has_initdb = |dir: &Path| dir.join("initdb").is_file();
        if let Some(dir) = env::var_os("PG_BIN_DIR") {
            let dir = PathBuf::from(dir);
            assert!(has_initdb(&dir), "PG_BIN_DIR={} has no initdb", dir.display());
            return Some(PgBin { dir });
        }
        let from_pg_config = Command::new("pg_config")
            .arg("--bindir")
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
        if let Some(dir) = from_pg_config.filter(|dir| has_initdb(dir)) {
            return Some(PgBin { dir });
        }
        let mut installed: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let major = entry.file_name().to_str()?.parse().ok()?;
                let dir = entry.path().join("bin");
                has_initdb(&dir).then_some((major, dir))
            })
            .collect();
        installed.sort();
        installed.pop().map(|(_, dir)| PgBin { dir })
    }

    /// Binaries of PostgreSQL `major`: `PG_BIN_DIR_<major>`, else what
    /// `scripts/fetch-postgres` put in `target/pg-majors/`, else the
    /// default binaries if they are that major.
    pub fn for_major(major: u32) -> Option<PgBin> {
        if let Some(dir) = env::var_os(format!("PG_BIN_DIR_{major}")) {
            return Some(PgBin { dir: PathBuf::from(dir) });
        }
        let fetched = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("target/pg-majors/{major}/package/native/bin"));
        if fetched.join("initdb").is_file() {
            return Some(PgBin { dir: fetched });
        }
        PgBin::find().filter(|bin| bin.major() == Some(major))
    }

    fn major(&self) -> Option<u32> {
        let out = Command::new(self.path("postgres")).arg("--version").output().ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let version = text.split_whitespace().nth(2)?;
        version.split('.').next()?.parse().ok()
    }

    pub fn path(&self, program: &str) -> PathBuf {
        self.dir.join(program)
    }
}

/// How to set up a cluster before it starts.
#[derive(Debug, Default)]
pub struct ClusterBuilder {
    major: Option<u32>,
    settings: Vec<String>,
    hba: Option<String>,
    tls: Option<ServerTls>,
    password: Option<String>,
}

/// The server's TLS files.
#[derive(Debug)]
pub struct ServerTls {
    pub cert: String,
    pub key: String,
    /// CA certificates for client certificates (`ssl_ca_file`).
    pub client_ca: Option<String>,
}

impl ClusterBuilder {
    /// Runs PostgreSQL `major` instead of the default binaries.
    pub fn major(mut self, major: u32) -> Self {
        self.major = Some(major);
        self
    }

    /// Adds a line to postgresql.conf.
    pub fn setting(mut self, line: impl Into<String>) -> Self {
        self.settings.push(line.into());
        self
    }

    /// Replaces `pg_hba.conf`.
    pub fn hba(mut self, text: impl Into<String>) -> Self {
        self.hba = Some(text.into());
        self
    }

    /// Gives the superuser this password (by default, a random one).
    pub fn password(mut self, password: &str) -> Self {
        self.password = Some(password.to_owned());
        self
    }

    /// Turns on TLS with these files.
    pub fn tls(mut self, tls: ServerTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Creates and starts the cluster. When the binaries are not on this
    /// machine the test ends as ignored, or fails when `CI` is set.
    pub fn start(self) -> Cluster {
        let (bin, wanted) = match self.major {
            Some(major) => (
                PgBin::for_major(major),
                format!(
                    "PostgreSQL {major} (scripts/fetch-postgres {major}, or PG_BIN_DIR_{major})"
                ),
            ),
            None => (
                PgBin::find(),
                "PostgreSQL server binaries (apt-get install -y postgresql, or PG_BIN_DIR)".into(),
            ),
        };
        let Some(bin) = bin else { super::runner::skip(&wanted) };
        Cluster::create(bin, &self)
    }
}

/// A running throwaway cluster.
#[derive(Debug)]
pub struct Cluster {
    bin: PgBin,
    dir: tempfile::TempDir,
    port: u16,
    password: String,
}

impl Cluster {
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }

    /// A cluster with the default settings (see [`ClusterBuilder::start`]).
    pub fn start() -> Cluster {
        Self::builder().start()
    }

    fn create(bin: PgBin, builder: &ClusterBuilder) -> Cluster {
        let password =
            builder.password.clone().unwrap_or_else(|| format!("pw-{}", random_suffix()));
        let mut cluster = Cluster { bin, dir: server_owned_tempdir(), port: 0, password };
        cluster.init(&builder.settings);
        if let Some(hba) = &builder.hba {
            fs::write(cluster.data_dir().join("pg_hba.conf"), hba).expect("write pg_hba.conf");
        }
        if let Some(tls) = &builder.tls {
            cluster.install_tls(tls);
        }
        cluster.start_on_a_free_port();
        cluster.set_superuser_password();
        cluster
    }

    /// Gives the superuser this cluster's password (the template's is
    /// shared), as a verifier and unlogged, so that no test finds it in the
    /// server log.
    fn set_superuser_password(&self) {
        let verifier = postgres_protocol::password::scram_sha_256(self.password.as_bytes());
        let mut su = self.client_over_socket();
        su.batch_execute("SET log_statement = 'none'").expect("set log_statement");
        su.batch_execute(&format!("ALTER ROLE {SUPERUSER} PASSWORD '{verifier}'"))
            .expect("set the superuser's password");
    }

    /// A streaming standby of `primary`, made with `pg_basebackup -R` and
    /// started: it is in recovery. Where the binaries have no
    /// `pg_basebackup` (the fetched majors), see [`Cluster::cold_copy_of`].
    pub fn standby_of(primary: &Cluster) -> Cluster {
        let standby = Cluster {
            bin: primary.bin.clone(),
            dir: server_owned_tempdir(),
            port: 0,
            password: primary.password.clone(),
        };
        if !standby.bin.path("pg_basebackup").is_file() {
            standby.cold_copy_of(primary);
            let mut standby = standby;
            standby.start_on_a_free_port();
            return standby;
        }
        standby.run_as_server(
            Command::new(standby.bin.path("pg_basebackup"))
                .arg("--pgdata")
                .arg(standby.data_dir())
                .arg("--host")
                .arg(primary.socket_dir())
                .args(["--port", &primary.port.to_string(), "--username", SUPERUSER])
                .args(["--write-recovery-conf", "--wal-method=stream", "--no-sync"])
                // Not a spread checkpoint: a test waits for it.
                .arg("--checkpoint=fast"),
        );
        append(
            &standby.data_dir().join("postgresql.conf"),
            &format!("\nunix_socket_directories = '{}'\n", standby.socket_dir().display()),
        );
        let mut standby = standby;
        standby.start_on_a_free_port();
        standby
    }

    /// Makes this (new) cluster's data directory a standby of `primary`
    /// without `pg_basebackup`: a copy of the primary's, taken while it is
    /// cleanly stopped (a consistent base backup), with `standby.signal`
    /// and a `primary_conninfo` over the primary's socket, as `-R` writes.
    fn cold_copy_of(&self, primary: &Cluster) {
        primary.stop();
        self.run_as_server(
            Command::new("cp").arg("-a").arg(primary.data_dir()).arg(self.data_dir()),
        );
        primary.start_again();
        self.run_as_server(Command::new("touch").arg(self.data_dir().join("standby.signal")));
        append(
            &self.data_dir().join("postgresql.conf"),
            &format!(
                "\nunix_socket_directories = '{}'\nprimary_conninfo = 'host={} port={} user={SUPERUSER}'\n",
                self.socket_dir().display(),
                primary.socket_dir().display(),
                primary.port
            ),
        );
    }

    /// Promotes a standby to a primary (`pg_ctl promote`), waiting until
    /// it takes writes.
    pub fn promote(&self) {
        self.run_as_server(
            Command::new(self.bin.path("pg_ctl"))
                .arg("--pgdata")
                .arg(self.data_dir())
                .args(["--wait", "promote"]),
        );
    }

    fn install_tls(&self, tls: &ServerTls) {
        let mut conf = String::from("ssl = on\n");
        for (name, text, setting) in [
            ("server.crt", Some(&tls.cert), "ssl_cert_file"),
            ("server.key", Some(&tls.key), "ssl_key_file"),
            ("client-ca.crt", tls.client_ca.as_ref(), "ssl_ca_file"),
        ] {
            let Some(text) = text else { continue };
            let path = self.data_dir().join(name);
            fs::write(&path, text).expect("write a TLS file");
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
            if let Some(owner) = ServerUser::get() {
                std::os::unix::fs::chown(&path, Some(owner.uid), Some(owner.gid)).expect("chown");
            }
            writeln!(conf, "{setting} = '{name}'").unwrap();
        }
        append(&self.data_dir().join("postgresql.conf"), &conf);
    }

    fn init(&self, settings: &[String]) {
        // A copy of this major's pristine initdb: initdb is the slow part.
        let template = template_for(&self.bin);
        self.run_as_server(Command::new("cp").arg("-a").arg(template).arg(self.data_dir()));

        let mut conf = format!(
            "\n# pgacct test cluster\n\
             listen_addresses = '127.0.0.1'\n\
             unix_socket_directories = '{}'\n\
             password_encryption = 'scram-sha-256'\n\
             log_statement = 'all'\n\
             log_connections = on\n\
             log_line_prefix = '%m [%p] %q%u@%d '\n\
             fsync = off\n\
             synchronous_commit = off\n\
             full_page_writes = off\n\
             shared_buffers = 16MB\n\
             max_connections = 60\n",
            self.socket_dir().display()
        );
        for line in settings {
            conf.push_str(line);
            conf.push('\n');
        }
        append(&self.data_dir().join("postgresql.conf"), &conf);
    }

    fn start_on_a_free_port(&mut self) {
        // Another test may take the port between our probe and the server's
        // bind; then try the next one.
        for _ in 0..5 {
            self.port = free_port();
            if self.pg_ctl_start().status.success() {
                return;
            }
        }
        panic!("could not start a test cluster; server log:\n{}", self.log());
    }

    fn pg_ctl_start(&self) -> Output {
        Command::new(self.bin.path("pg_ctl"))
            .arg("--pgdata")
            .arg(self.data_dir())
            .arg("--log")
            .arg(self.log_path())
            .args(["--wait", "--timeout=60", "-o"])
            .arg(format!("-p {}", self.port))
            .arg("start")
            .as_server(self.dir.path())
            .output()
            .expect("run pg_ctl")
    }

    /// Stops the server (fast shutdown); the data directory stays.
    pub fn stop(&self) {
        assert!(self.pg_ctl_stop("fast"), "pg_ctl stop failed: {}", self.log());
    }

    /// Starts a stopped server again, on the same port.
    pub fn start_again(&self) {
        let out = self.pg_ctl_start();
        assert!(out.status.success(), "pg_ctl start failed: {}", self.log());
    }

    fn pg_ctl_stop(&self, mode: &str) -> bool {
        Command::new(self.bin.path("pg_ctl"))
            .arg("--pgdata")
            .arg(self.data_dir())
            .args(["--mode", mode, "--wait", "stop"])
            .as_server(self.dir.path())
            .output()
            .is_ok_and(|out| out.status.success())
    }

    fn run_as_server(&self, command: &mut Command) {
        let out = command.as_server(self.dir.path()).output().expect("run a server program");
        assert!(
            out.status.success(),
            "{:?} failed:\n{}{}",
            command,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[allow(clippy::unused_self)] // a method, so tests read `pg.host()` like `pg.port()`
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory of the server's Unix socket.
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The superuser's password.
    pub fn password(&self) -> &str {
        &self.password
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// Everything the server has logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The postmaster's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        let pidfile = fs::read_to_string(self.data_dir().join("postmaster.pid")).ok()?;
        pidfile.lines().next()?.trim().parse().ok()
    }

    /// Connection settings for the superuser over TCP (scram).
    pub fn config(&self, dbname: &str) -> postgres::Config {
        let mut config = postgres::Config::new();
        config
            .host(self.host())
            .port(self.port)
            .user(SUPERUSER)
            .password(&self.password)
            .dbname(dbname)
            .connect_timeout(Duration::from_secs(10));
        config
    }

    /// A superuser session on database `postgres`.
    pub fn client(&self) -> postgres::Client {
        self.client_to("postgres")
    }

    pub fn client_to(&self, dbname: &str) -> postgres::Client {
        self.config(dbname).connect(postgres::NoTls).expect("connect to the test cluster")
    }

    /// Logs in to `dbname` as `user` with `password`, over TCP (scram).
    pub fn login(
        &self,
        dbname: &str,
        user: &str,
        password: &str,
    ) -> Result<postgres::Client, postgres::Error> {
        self.config(dbname).user(user).password(password).connect(postgres::NoTls)
    }

    /// The role's stored password (its SCRAM verifier), if it has one.
    pub fn verifier(&self, role: &str) -> Option<String> {
        self.client()
            .query_opt("SELECT rolpassword FROM pg_authid WHERE rolname = $1", &[&role])
            .expect("read pg_authid")
            .and_then(|row| row.get(0))
    }

    /// Whether the role may log in; `None` when it does not exist.
    pub fn can_login(&self, role: &str) -> Option<bool> {
        self.client()
            .query_opt("SELECT rolcanlogin FROM pg_roles WHERE rolname = $1", &[&role])
            .expect("read pg_roles")
            .map(|row| row.get(0))
    }

    /// A superuser session over the Unix socket (trust), for clusters whose
    /// `pg_hba.conf` turns plain TCP away.
    pub fn client_over_socket(&self) -> postgres::Client {
        let mut config = postgres::Config::new();
        config.host_path(self.socket_dir()).port(self.port).user(SUPERUSER).dbname("postgres");
        config.connect(postgres::NoTls).expect("connect over the socket")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Never panic here: this may run while a failed test unwinds.
        if self.pid().is_some()
            && !self.pg_ctl_stop("immediate")
            && let Some(pid) = self.pid()
        {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        }
    }
}

/// The OS user that runs servers when the tests run as root.
struct ServerUser {
    uid: u32,
    gid: u32,
}

impl ServerUser {
    fn get() -> Option<ServerUser> {
        if !running_as_root() {
            return None;
        }
        let id = |flag: &str| -> u32 {
            let out = Command::new("id").args([flag, "postgres"]).output().expect("run id");
            assert!(
                out.status.success(),
                "tests run as root need a 'postgres' OS user to run the server"
            );
            String::from_utf8_lossy(&out.stdout).trim().parse().expect("numeric id")
        };
        Some(ServerUser { uid: id("-u"), gid: id("-g") })
    }
}

pub fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

pub trait AsServer {
    /// Runs the command as the server's OS user, from `dir`.
    fn as_server(&mut self, dir: &Path) -> &mut Self;
}

impl AsServer for Command {
    fn as_server(&mut self, dir: &Path) -> &mut Self {
        if running_as_root() {
            let program = self.get_program().to_owned();
            let args: Vec<_> = self.get_args().map(ToOwned::to_owned).collect();
            *self = Command::new("runuser");
            self.args(["-u", "postgres", "--"]).arg(program).args(args);
        }
        self.current_dir(dir).env("LC_ALL", "C")
    }
}

/// Pristine data directories, one per set of server binaries, made by
/// `initdb` once per test run and copied for each cluster.
static TEMPLATES: Mutex<Vec<(PathBuf, Arc<OnceLock<tempfile::TempDir>>)>> = Mutex::new(Vec::new());

/// The data directory of a fresh `initdb` by `bin`.
fn template_for(bin: &PgBin) -> PathBuf {
    let slot = {
        let mut templates = TEMPLATES.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, slot)) = templates.iter().find(|(dir, _)| *dir == bin.dir) {
            Arc::clone(slot)
        } else {
            let slot = Arc::new(OnceLock::new());
            templates.push((bin.dir.clone(), Arc::clone(&slot)));
            slot
        }
    };
    // Other tests wanting the same major wait here while one runs initdb.
    let dir = slot.get_or_init(|| {
        let dir = server_owned_tempdir();
        let pwfile = dir.path().join("pwfile");
        fs::write(&pwfile, random_suffix()).expect("write pwfile");
        let data = dir.path().join("data");
        let mut initdb = Command::new(bin.path("initdb"));
        initdb
            .arg("--pgdata")
            .arg(&data)
            .args(["--username", SUPERUSER, "--auth-local=trust", "--auth-host=scram-sha-256"])
            .args(["--encoding=UTF8", "--locale=C", "--no-sync"])
            .arg(format!("--pwfile={}", pwfile.display()));
        let out = initdb.as_server(dir.path()).output().expect("run initdb");
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        fs::remove_file(&pwfile).expect("remove pwfile");
        dir
    });
    dir.path().join("data")
}

/// Removes the template data directories; the runner calls it at the end.
pub fn remove_templates() {
    TEMPLATES.lock().unwrap_or_else(PoisonError::into_inner).clear();
}

/// A temporary directory the server's OS user owns.
pub fn server_owned_tempdir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("pgacct-pg-").tempdir().expect("temp dir");
    if let Some(owner) = ServerUser::get() {
        std::os::unix::fs::chown(dir.path(), Some(owner.uid), Some(owner.gid))
            .expect("chown the cluster directory to postgres");
    }
    dir
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut file = fs::OpenOptions::new().append(true).open(path).expect("open for append");
    file.write_all(text.as_bytes()).expect("append");
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

/// Enough randomness for test passwords and names; not for real secrets.
pub fn random_suffix() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher as _};
    // Each RandomState is seeded afresh, so each call gives another value.
    format!("{:016x}", RandomState::new().build_hasher().finish())
}
