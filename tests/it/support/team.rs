//! A team store on a throwaway cluster, set up as its owner would: the
//! script `pgacct store init --print-sql` prints, run by the superuser.

use super::{Cluster, Run, Sandbox};

/// The setup script with the default names, as pgacct prints it.
pub fn script() -> String {
    Run::new(&Sandbox::new()).args("store init --print-sql").run().stdout
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
