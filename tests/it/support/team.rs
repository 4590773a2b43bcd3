//! A team store on a throwaway cluster, set up as its owner would: the
//! script `pgacct store init --print-sql` prints, run by the superuser.
//! Tests of the registry and the audit trail run twice, once on a local
//! file and once in team mode ([`in_team_mode`]), where each sandbox gets a
//! store database of its own on one shared cluster.

use std::cell::Cell;
use std::sync::{Mutex, OnceLock, PoisonError};

use super::{Cluster, Run, Sandbox};

/// The setup script with the default names, as pgacct prints it.
pub fn script() -> String {
    Run::new(&Sandbox::local()).args("store init --print-sql").run().stdout
}

/// A cluster of `major` with the default store set up by its superuser,
/// and `members` (name, password), each granted `pgacct_user` and nothing
/// else. Their passwords stay out of the server log.
pub fn store_with(major: u32, members: &[(&str, &str)]) -> Cluster {
    let pg = Cluster::builder().major(major).start();
    let mut su = pg.client();
    su.batch_execute(&script()).unwrap();
    su.batch_execute("SET log_statement = 'none'").unwrap();
    for (user, password) in members {
        su.batch_execute(&format!(
            "CREATE ROLE {user} LOGIN PASSWORD '{password}'; GRANT pgacct_user TO {user};"
        ))
        .unwrap();
    }
    pg
}

/// The login every sandbox in team mode connects to its store as: granted
/// `pgacct_user` and nothing else.
const MEMBER: &str = "teammate";

/// The one cluster that holds the stores of sandboxes in team mode, each
/// in a database of its own; started when first needed, on the oldest
/// major under test, and stopped by the runner at the end ([`stop_shared`]).
static SHARED: Mutex<Option<(Cluster, String)>> = Mutex::new(None);

thread_local! {
    /// Set while a test runs in team mode: its sandboxes get a team store.
    static TEAM_MODE: Cell<bool> = const { Cell::new(false) };
}

/// Runs `test` with every sandbox it makes on a team store of its own.
pub fn in_team_mode(test: fn()) {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            TEAM_MODE.set(false);
        }
    }
    TEAM_MODE.set(true);
    let _reset = Reset;
    test();
}

/// Whether sandboxes made now get a team store.
pub fn team_mode() -> bool {
    TEAM_MODE.get()
}

/// A sandbox's team store: a database of its own on the shared cluster,
/// set up as its owner would, which the sandbox reaches as [`MEMBER`].
#[derive(Debug)]
pub struct TeamDb {
    pub dbname: String,
    pub port: u16,
    member_password: String,
    superuser_password: String,
}

impl TeamDb {
    pub fn create() -> TeamDb {
        let script = cached_script();
        let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
        let (pg, member_password) = shared.get_or_insert_with(|| {
            let oldest = super::fleet::majors().into_iter().min().expect("a major under test");
            let pg = Cluster::builder().major(oldest).start();
            let password = format!("tm-{}", super::cluster::random_suffix());
            let mut su = pg.client();
            su.batch_execute("SET log_statement = 'none'").unwrap();
            su.batch_execute(&format!(
                "CREATE ROLE pgacct_user NOLOGIN;
                 CREATE ROLE {MEMBER} LOGIN PASSWORD '{password}';
                 GRANT pgacct_user TO {MEMBER};"
            ))
            .unwrap();
            (pg, password)
        });
        let dbname = format!("store_{}", super::cluster::random_suffix());
        pg.client().batch_execute(&format!("CREATE DATABASE {dbname}")).unwrap();
        pg.client_to(&dbname).batch_execute(&script).unwrap();
        TeamDb {
            dbname,
            port: pg.port(),
            member_password: member_password.clone(),
            superuser_password: pg.password().to_owned(),
        }
    }

    /// The store URL the sandbox's commands use.
    pub fn url(&self) -> String {
        format!("postgresql://{MEMBER}@127.0.0.1:{}/{}", self.port, self.dbname)
    }

    /// The `.pgpass` line that gives the member's password.
    pub fn pgpass_line(&self) -> String {
        format!("127.0.0.1:{}:{}:{MEMBER}:{}\n", self.port, self.dbname, self.member_password)
    }

    /// A session as the store's owner (the superuser), in the store's schema.
    pub fn owner(&self) -> postgres::Client {
        postgres::Config::new()
            .host("127.0.0.1")
            .port(self.port)
            .user(super::cluster::SUPERUSER)
            .password(&self.superuser_password)
            .dbname(&self.dbname)
            .options("-c search_path=pgacct")
            .connect(postgres::NoTls)
            .expect("connect to the team store as its owner")
    }
}

/// The setup script, printed once per test run.
fn cached_script() -> String {
    static SCRIPT: OnceLock<String> = OnceLock::new();
    SCRIPT.get_or_init(script).clone()
}

/// Stops the shared store cluster; the runner calls it at the end.
pub fn stop_shared() {
    SHARED.lock().unwrap_or_else(PoisonError::into_inner).take();
}
