//! A cluster with registered databases and an admin of either shape, for
//! tests of the account lifecycle and of the change pipeline's safety.

use super::cluster::SUPERUSER;
use super::{Cluster, Run, Sandbox};

/// Who pgacct logs in as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admin {
    Superuser,
    /// LOGIN CREATEROLE CREATEDB, with `pg_signal_backend`, and on 16+ ADMIN
    /// OPTION on `pg_read_all_data`, as a cloud's admin role has.
    CreateRole,
}

pub const ADMIN_ROLE: &str = "pgacct_admin";
pub const ADMIN_PASSWORD: &str = "admin-Pw-4711";

/// A cluster (of `major`, or the system's), with databases registered as
/// `qa/<db>`, and pgacct set to log in as `admin`.
pub struct Fleet {
    pub pg: Cluster,
    pub sandbox: Sandbox,
    pub admin: Admin,
}

impl Fleet {
    pub fn new(admin: Admin, major: Option<u32>, dbs: &[&str]) -> Fleet {
        let builder = Cluster::builder();
        let pg = match major {
            Some(major) => builder.major(major),
            None => builder,
        }
        .start();
        let sandbox = Sandbox::new();
        let mut su = pg.client();
        for db in dbs.iter().filter(|db| **db != "postgres") {
            su.batch_execute(&format!("CREATE DATABASE {db}")).unwrap();
        }
        let admin_user = match admin {
            Admin::Superuser => SUPERUSER,
            Admin::CreateRole => {
                su.batch_execute(&format!(
                    "CREATE ROLE {ADMIN_ROLE} LOGIN CREATEROLE CREATEDB PASSWORD '{ADMIN_PASSWORD}';
                     GRANT pg_signal_backend TO {ADMIN_ROLE};"
                ))
                .unwrap();
                if version(&pg) >= 160_000 {
                    // May grant it, without holding its power itself.
                    su.batch_execute(&format!(
                        "GRANT pg_read_all_data TO {ADMIN_ROLE} WITH ADMIN TRUE, INHERIT FALSE, SET FALSE"
                    ))
                    .unwrap();
                }
                ADMIN_ROLE
            }
        };
        for db in dbs {
            sandbox.register("qa", db, &pg, &["--admin-user", admin_user]);
        }
        Fleet { pg, sandbox, admin }
    }

    pub fn password(&self) -> &str {
        match self.admin {
            Admin::Superuser => self.pg.password(),
            Admin::CreateRole => ADMIN_PASSWORD,
        }
    }

    pub fn admin_role(&self) -> &str {
        match self.admin {
            Admin::Superuser => SUPERUSER,
            Admin::CreateRole => ADMIN_ROLE,
        }
    }

    /// pgacct, logging in as this fleet's admin.
    pub fn pgacct(&self) -> Run {
        Run::new(&self.sandbox).env("PGACCT_ADMIN_PASSWORD", self.password())
    }

    /// Creates a devqa account on qa/orders through pgacct, as this admin
    /// (quietly: other databases of the cluster are not the point); its
    /// password.
    pub fn create(&self, name: &str) -> String {
        let rows = self
            .pgacct()
            .args(&format!("user create --env qa --db orders --type devqa {name} -q"))
            .rows();
        rows[0]["password"].as_str().unwrap().to_owned()
    }

    pub fn login(
        &self,
        db: &str,
        user: &str,
        password: &str,
    ) -> Result<postgres::Client, postgres::Error> {
        self.pg.login(db, user, password)
    }
}

pub fn version(pg: &Cluster) -> i32 {
    pg.client()
        .query_one("SHOW server_version_num", &[])
        .unwrap()
        .get::<_, String>(0)
        .parse()
        .unwrap()
}

/// Every supported major, 12 to 18 (`scripts/fetch-postgres` brings them;
/// without `CI`, a missing one is reported as ignored), with each admin
/// shape. `PGACCT_TEST_MAJORS=15,17` names fewer, for a quick local run.
pub fn every_setup() -> Vec<(Admin, u32)> {
    majors()
        .into_iter()
        .flat_map(|major| [(Admin::Superuser, major), (Admin::CreateRole, major)])
        .collect()
}

/// Every supported major, 12 to 18, or those `PGACCT_TEST_MAJORS` names.
pub fn majors() -> Vec<u32> {
    match std::env::var("PGACCT_TEST_MAJORS") {
        Ok(list) => list.split(',').map(|m| m.trim().parse().expect("a major version")).collect(),
        Err(_) => (12..=18).collect(),
    }
}
