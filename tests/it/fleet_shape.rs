//! The registry as real fleets are shaped: one database name on many
//! clusters of an env, chosen together by `--db` and one by one by
//! `--cluster`, and a registry of the previous schema carried over intact.

use libtest_mimic::Trial;
use serde_json::Value;

use crate::support::runner::test;
use crate::support::{Cluster, Run, Sandbox};

pub fn tests() -> Vec<Trial> {
    vec![
        test!(one_database_name_on_three_clusters),
        test!(a_registry_of_the_previous_schema_is_migrated_without_loss),
        test!(labels_and_clusters_select_targets),
        test!(labels_go_out_and_come_back_in_every_inventory_format),
        test!(a_fresh_machines_first_list_is_empty_and_lists_sort_naturally),
    ]
}

/// Three clusters with one admin password, each with a database `orders`
/// registered as `prod/orders`, in the order pgacct lists them (by port).
fn three_clusters(sandbox: &Sandbox) -> Vec<Cluster> {
    three_labelled_clusters(sandbox, [&[], &[], &[]])
}

/// [`three_clusters`], the first registered with the first labels, and so on.
fn three_labelled_clusters(sandbox: &Sandbox, labels: [&[&str]; 3]) -> Vec<Cluster> {
    let first = Cluster::start();
    let mut clusters = vec![first];
    for _ in 0..2 {
        clusters.push(Cluster::builder().password(clusters[0].password()).start());
    }
    for (pg, labels) in clusters.iter().zip(labels) {
        pg.client().batch_execute("CREATE DATABASE orders").unwrap();
        let extra: Vec<&str> = labels.iter().flat_map(|label| ["--label", label]).collect();
        sandbox.register("prod", "orders", pg, &extra);
    }
    clusters.sort_by_key(Cluster::port);
    clusters
}

/// `host:port` of a test cluster, as pgacct names it.
fn cluster_name(pg: &Cluster) -> String {
    format!("{}:{}", pg.host(), pg.port())
}

/// The role's settings in database `db` of `pg`.
fn settings(pg: &Cluster, role: &str, db: &str) -> Vec<String> {
    pg.client()
        .query_opt(
            "SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
               JOIN pg_database d ON d.oid = s.setdatabase
              WHERE r.rolname = $1 AND d.datname = $2",
            &[&role, &db],
        )
        .unwrap()
        .map(|r| r.get(0))
        .unwrap_or_default()
}

fn one_database_name_on_three_clusters() {
    let sandbox = Sandbox::new();
    let clusters = three_clusters(&sandbox);
    let names: Vec<String> = clusters.iter().map(cluster_name).collect();
    let listed = Run::new(&sandbox).args("registry list --env prod").rows();
    assert_eq!(listed.len(), 3, "{listed:?}");

    // --db names every target of the env with that name, on any cluster.
    let rows = Run::new(&sandbox)
        .env("PGACCT_ADMIN_PASSWORD", clusters[0].password())
        .args("user create-vm --env prod --db orders --server web01 --service-port 8080")
        .rows();
    let mut reached: Vec<&str> = rows.iter().map(|r| r["cluster"].as_str().unwrap()).collect();
    reached.sort_unstable();
    let mut expected: Vec<&str> = names.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(reached, expected, "one row per cluster: {rows:?}");
    let password = rows[0]["password"].as_str().unwrap();
    for row in &rows {
        let pg = &clusters[names.iter().position(|n| *n == row["cluster"]).unwrap()];
        assert_eq!(row["status"], "user created", "{row}");
        assert_eq!(settings(pg, "web01_8080", "orders"), ["search_path=public"]);
        pg.login("orders", "web01_8080", password).expect("the role logs in on every cluster");
    }
    let audited = Run::new(&sandbox).args("audit show --operation user --db orders").rows();
    let mut audited: Vec<&str> = audited.iter().map(|r| r["cluster"].as_str().unwrap()).collect();
    audited.sort_unstable();
    assert_eq!(audited, expected, "the trail names each cluster");

    // A command about one target refuses the ambiguous name, listing it.
    let list = names.join(", ");
    for line in [
        "registry show --env prod --db orders",
        "registry update --env prod --db orders --notes x",
        "registry deactivate --env prod --db orders",
        "registry remove --env prod --db orders",
    ] {
        Run::new(&sandbox)
            .args(line)
            .expect(2)
            .stderr_contains(&format!("error: env 'prod' has db 'orders' on 3 clusters: {list}"))
            .stderr_contains(&format!(
                "hint: pick one with --cluster, e.g. `--env prod --db orders --cluster {}`",
                names[0]
            ))
            .run();
    }

    // --cluster picks one; the others are left as they were.
    Run::new(&sandbox)
        .args(&format!(
            "registry update --env prod --db orders --cluster {} --notes us-east",
            names[1]
        ))
        .stderr_is(&format!("updated prod/orders ({})\n", names[1]))
        .run();
    let shown = Run::new(&sandbox)
        .args(&format!("registry show --env prod --db orders --cluster {}", names[1]))
        .json();
    assert_eq!(shown["notes"], "us-east");
    let notes: Vec<Value> = Run::new(&sandbox)
        .args("registry list --env prod")
        .rows()
        .iter()
        .map(|r| r["notes"].clone())
        .collect();
    assert_eq!(notes.iter().filter(|n| **n == "us-east").count(), 1, "{notes:?}");
    let updated = Run::new(&sandbox).args("audit show --operation registry.update").rows();
    assert_eq!(updated[0]["cluster"], names[1].as_str());

    // A cluster that does not have it, and adding it twice on one cluster.
    Run::new(&sandbox)
        .args("registry show --env prod --db orders --cluster 127.0.0.1:1")
        .expect(2)
        .stderr_contains("no registry entry for env 'prod' db 'orders' on cluster 127.0.0.1:1")
        .run();
    Run::new(&sandbox)
        .args(&format!(
            "registry add --env prod --db orders --host 127.0.0.1 --port {}",
            clusters[2].port()
        ))
        .expect(2)
        .stderr_contains(&format!("error: prod/orders ({}) is already registered", names[2]))
        .run();

    // A deactivated one drops out of --db; the others stay selected.
    Run::new(&sandbox)
        .args(&format!("registry deactivate --env prod --db orders --cluster {}", names[0]))
        .any_stderr()
        .run();
    let rows = Run::new(&sandbox)
        .env("PGACCT_ADMIN_PASSWORD", clusters[0].password())
        .args("user list --env prod --db orders --name web01_8080")
        .rows();
    let mut listed: Vec<&str> = rows.iter().map(|r| r["cluster"].as_str().unwrap()).collect();
    listed.sort_unstable();
    let mut active = vec![names[1].as_str(), names[2].as_str()];
    active.sort_unstable();
    assert_eq!(listed, active, "{rows:?}");
}

/// Every row of `table` (of targets, the columns of schema 3), as text.
fn dump(conn: &rusqlite::Connection, table: &str) -> Vec<String> {
    let columns = if table == "targets" { COLUMNS_OF_SCHEMA_3 } else { "*" };
    let mut stmt =
        conn.prepare(&format!("SELECT {columns} FROM {table} ORDER BY 1, 2, 3")).unwrap();
    let columns = stmt.column_count();
    stmt.query_map([], |row| {
        (0..columns)
            .map(|i| row.get::<_, rusqlite::types::Value>(i).map(|v| format!("{v:?}")))
            .collect::<rusqlite::Result<Vec<_>>>()
            .map(|values| values.join("|"))
    })
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}

const COLUMNS_OF_SCHEMA_3: &str = "env, db, host, port, sslmode, sslrootcert, sslcert, sslkey, \
                                   admin_user, active, notes, created_at, updated_at";

/// The targets table of schema 3, keyed by (env, db).
const TARGETS_OF_SCHEMA_3: &str = "CREATE TABLE targets (
        env         TEXT    NOT NULL,
        db          TEXT    NOT NULL,
        host        TEXT    NOT NULL,
        port        INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
        sslmode     TEXT    CHECK (sslmode IN
                        ('disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full')),
        sslrootcert TEXT,
        sslcert     TEXT,
        sslkey      TEXT,
        admin_user  TEXT,
        active      INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
        notes       TEXT,
        created_at  TEXT    NOT NULL,
        updated_at  TEXT    NOT NULL,
        PRIMARY KEY (env, db)
    ) STRICT;";

/// A registry as the previous pgacct left it: targets keyed by (env, db)
/// at schema 3, and its real, chained audit trail.
fn a_registry_of_the_previous_schema_is_migrated_without_loss() {
    let sandbox = Sandbox::new();
    let quietly = |line: &str| Run::new(&sandbox).args(line).arg("-q").run();
    quietly("registry add --env prod --db orders --host db1 --sslmode require --notes eu");
    quietly("registry add --env qa --db app --host /run/pg --port 6432 --inactive");
    quietly("registry update --env prod --db orders --admin-user dba --ticket CHG-9");
    let path = sandbox.registry();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(&format!(
        "BEGIN;
         ALTER TABLE targets RENAME TO targets_now;
         {TARGETS_OF_SCHEMA_3}
         INSERT INTO targets SELECT {COLUMNS_OF_SCHEMA_3} FROM targets_now;
         DROP TABLE targets_now;
         PRAGMA user_version = 3;
         COMMIT;"
    ))
    .unwrap();
    let (targets, audit) = (dump(&conn, "targets"), dump(&conn, "audit"));
    assert_eq!((targets.len(), audit.len()), (2, 6));
    drop(conn);

    // Reading commands read it as it is, without migrating it.
    let before = std::fs::read(&path).unwrap();
    let listed = Run::new(&sandbox).args("registry list").rows();
    assert_eq!(listed.len(), 2);
    Run::new(&sandbox).args("audit verify").run();
    assert_eq!(std::fs::read(&path).unwrap(), before, "reading wrote nothing");

    // The first change migrates it; the same db on another cluster now fits.
    Run::new(&sandbox)
        .args("registry add --env prod --db orders --host db2")
        .stderr_is("added prod/orders (db2:5432)\n")
        .run();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert!(version > 3, "migrated to {version}");
    let now = dump(&conn, "targets");
    for row in &targets {
        assert!(now.contains(row), "{row} was kept as it was: {now:#?}");
    }
    assert_eq!(now.len(), 3);
    let trail = dump(&conn, "audit");
    assert_eq!(trail[..audit.len()], audit[..], "every audit record is as it was");
    assert_eq!(trail.len(), audit.len() + 2, "and the add appended its two");
    let verified = Run::new(&sandbox).args("audit verify").json();
    assert_eq!(verified["records"], 8, "{verified}");
}

fn role_exists(pg: &Cluster, role: &str) -> bool {
    pg.client().query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role]).unwrap().is_some()
}

fn labels_and_clusters_select_targets() {
    let sandbox = Sandbox::new();
    let clusters = three_labelled_clusters(
        &sandbox,
        [&["region=eu", "tier=gold"], &["region=us", "tier=gold"], &["region=us"]],
    );
    // Which cluster got which labels: registration order is not port order.
    let shown = |pg: &Cluster| {
        Run::new(&sandbox)
            .args(&format!("registry show --env prod --db orders --cluster {}", cluster_name(pg)))
            .json()["labels"]
            .clone()
    };
    let eu: Vec<&Cluster> = clusters.iter().filter(|pg| shown(pg)["region"] == "eu").collect();
    assert_eq!(eu.len(), 1);
    let eu = eu[0];
    let pgacct = || Run::new(&sandbox).env("PGACCT_ADMIN_PASSWORD", eu.password());

    // --where region=eu selects the one cluster with that label.
    let rows = pgacct()
        .args("user create-vm --env prod --where region=eu --server web01 --service-port 80")
        .rows();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["cluster"], cluster_name(eu));
    for pg in &clusters {
        assert_eq!(role_exists(pg, "web01_80"), std::ptr::eq(pg, eu), "only on the eu cluster");
    }
    // Every --where must match.
    let gold_us = pgacct().args("user list --env prod --where region=us --where tier=gold").rows();
    let reached: Vec<&str> = gold_us.iter().map(|r| r["cluster"].as_str().unwrap()).collect();
    assert!(!reached.is_empty() && reached.iter().all(|c| *c == reached[0]), "{gold_us:?}");
    let gold_us_cluster = reached[0].to_owned();
    assert_ne!(gold_us_cluster, cluster_name(eu));
    assert_eq!(Run::new(&sandbox).args("registry list --where region=us").rows().len(), 2);
    assert_eq!(
        Run::new(&sandbox).args("registry list --where region=us --where tier=gold").rows().len(),
        1
    );

    // --cluster (repeatable) picks clusters; with --db, both must hold.
    let two = format!(
        "--cluster {} --cluster {}",
        cluster_name(&clusters[0]),
        cluster_name(&clusters[2])
    );
    let rows = pgacct()
        .args(&format!(
            "user create-vm --env prod {two} --db orders --server web02 --service-port 80"
        ))
        .rows();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(role_exists(&clusters[0], "web02_80") && role_exists(&clusters[2], "web02_80"));
    assert!(!role_exists(&clusters[1], "web02_80"));

    // Nothing matches, an unknown cluster, a bad label: refused, nothing touched.
    pgacct()
        .args("user create-vm --env prod --where region=mars --server web03 --service-port 80")
        .expect(2)
        .stderr_contains("error: no active targets in env 'prod' match")
        .run();
    pgacct()
        .args("user create-vm --env prod --cluster 127.0.0.1:1 --server web03 --service-port 80")
        .expect(2)
        .stderr_contains("error: no target in env 'prod' is on cluster 127.0.0.1:1")
        .run();
    for (line, error) in [
        ("registry list --where Region=eu", "invalid label key 'Region'"),
        ("registry list --where region", "invalid label 'region': use KEY=VALUE"),
        ("user list --env prod", "the following required arguments were not provided"),
        ("user list --env prod --all --where region=eu", "cannot be used with"),
    ] {
        Run::new(&sandbox).args(line).expect(2).stderr_contains(error).run();
    }
    assert!(clusters.iter().all(|pg| !role_exists(pg, "web03_80")));

    // registry update sets and removes labels, and the audit trail says so.
    Run::new(&sandbox)
        .args(&format!(
            "registry update --env prod --db orders --cluster {gold_us_cluster} \
             --label tier=silver --label owner=shop --unset-label region"
        ))
        .any_stderr()
        .run();
    let updated = Run::new(&sandbox)
        .args(&format!("registry show --env prod --db orders --cluster {gold_us_cluster}"))
        .json();
    assert_eq!(updated["labels"], serde_json::json!({"owner": "shop", "tier": "silver"}));
    let audited =
        Run::new(&sandbox).args("audit show --operation registry.update --all-envs").rows();
    assert_eq!(
        audited[0]["status"],
        "target updated: label tier=silver, label owner=shop, unset label region"
    );

    // --all-envs reads across environments.
    let other = Cluster::builder().password(eu.password()).start();
    other.client().batch_execute("CREATE DATABASE orders").unwrap();
    sandbox.register("qa", "orders", &other, &["--label", "region=eu"]);
    pgacct()
        .args("user create-vm --env qa --where region=eu --server web01 --service-port 80")
        .rows();
    let everywhere = pgacct().args("user list --all-envs --where region=eu --name web01_80").rows();
    let mut targets: Vec<&str> =
        everywhere.iter().map(|r| r["targets"][0].as_str().unwrap()).collect();
    targets.sort_unstable();
    assert_eq!(targets, ["prod/orders", "qa/orders"], "{everywhere:?}");
    let checked = pgacct().args("registry check --all-envs --where region=eu").rows();
    assert_eq!(checked.len(), 2, "{checked:?}");
}

fn labels_go_out_and_come_back_in_every_inventory_format() {
    let sandbox = Sandbox::new();
    Run::new(&sandbox)
        .args("registry add --env prod --db orders --host db1 --label region=eu --label tier=gold")
        .any_stderr()
        .run();
    Run::new(&sandbox).args("registry add --env prod --db orders --host db2").any_stderr().run();
    let csv = Run::new(&sandbox).args("registry export").run().stdout;
    let header = csv.lines().next().unwrap();
    assert!(header.split(',').any(|c| c == "labels"), "{csv}");
    assert!(csv.contains(",region=eu;tier=gold,"), "{csv}");
    let toml = Run::new(&sandbox).args("registry export --format toml").run().stdout;
    assert!(toml.contains("[targets.labels]") || toml.contains("labels = {"), "{toml}");
    let json = Run::new(&sandbox).args("registry export --format json").run().stdout;
    for (name, text) in [("i.csv", &csv), ("i.toml", &toml), ("i.json", &json)] {
        let other = Sandbox::new();
        let file = other.write(name, text);
        Run::new(&other).args("registry import -q").arg(&file).run();
        let listed = Run::new(&other).args("registry list").rows();
        assert_eq!(listed.len(), 2, "{name}");
        assert_eq!(
            listed[0]["labels"],
            serde_json::json!({"region": "eu", "tier": "gold"}),
            "{name}"
        );
        assert_eq!(listed[1]["labels"], serde_json::json!({}), "{name}");
    }
    let bad = sandbox.write("bad.csv", "env,db,host,labels\nqa,app,h1,Region=eu\n");
    Run::new(&sandbox)
        .args("registry import")
        .arg(&bad)
        .expect(2)
        .stderr_contains("line 2: invalid label key 'Region'")
        .run();
}

fn a_fresh_machines_first_list_is_empty_and_lists_sort_naturally() {
    let sandbox = Sandbox::new();
    let home = sandbox.path().join("home");
    let before: Vec<_> = std::fs::read_dir(&home).unwrap().collect();
    assert!(before.is_empty());
    // The default location, on a machine where pgacct never ran.
    let fresh = || Run::new(&sandbox).env_remove("PGACCT_REGISTRY");
    let table = fresh()
        .args("registry list")
        .stderr_is("the registry is empty: register a target with `pgacct registry add`\n")
        .run();
    assert!(table.stdout.lines().count() <= 2, "{}", table.stdout);
    assert_eq!(fresh().args("registry list -q").json(), serde_json::json!([]));
    assert_eq!(std::fs::read_dir(&home).unwrap().count(), 0, "nothing was created");

    for (db, host) in [("m10", "db10"), ("m2", "db2"), ("m1", "db1"), ("m2", "db10"), ("m2", "db9")]
    {
        Run::new(&sandbox).args(&format!("registry add --env qa --db {db} --host {host} -q")).run();
    }
    let listed = Run::new(&sandbox).args("registry list").rows();
    let order: Vec<String> = listed
        .iter()
        .map(|r| format!("{}@{}", r["db"].as_str().unwrap(), r["host"].as_str().unwrap()))
        .collect();
    assert_eq!(order, ["m1@db1", "m2@db2", "m2@db9", "m2@db10", "m10@db10"]);
    let table = Run::new(&sandbox).args("registry list").run().stdout;
    let m2 = table.find(" m2 ").unwrap();
    let m10 = table.find(" m10 ").unwrap();
    assert!(m2 < m10, "{table}");
}
