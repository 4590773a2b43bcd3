//! Inventory files: what `registry import` reads and `registry export`
//! writes, in CSV, TOML or JSON.
//!
//! CSV takes the header `env,db,host,port,active,notes` plus the optional
//! TLS, admin and `labels` (`k=v;k=v`) columns, and also the `db_name` /
//! `hostname` spellings of older inventories; other columns (a CMDB
//! export's own) are ignored and named. TOML and JSON give labels as a
//! table. Every row is validated with the same rules as
//! `registry add`, and the whole file is checked before anything is
//! imported.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::{
    AdminUser, CertFile, DEFAULT_PORT, Error, InvalidValue, Label, Labels, PasswordCommand,
    RootCert, Target, TargetKey,
};

/// File formats for import and export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InventoryFormat {
    Csv,
    Toml,
    Json,
}

impl InventoryFormat {
    /// The format named by a file's extension, else guessed from its text.
    fn detect(path: &Path, text: &str) -> Self {
        let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("csv") => return InventoryFormat::Csv,
            Some("toml") => return InventoryFormat::Toml,
            Some("json") => return InventoryFormat::Json,
            _ => {}
        }
        let start = text.trim_start();
        if start.starts_with('{')
            || start.strip_prefix('[').is_some_and(|rest| rest.trim_start().starts_with(['{', ']']))
        {
            InventoryFormat::Json
        } else if start.starts_with("[[") || start.starts_with('#') || start.contains("[[targets]]")
        {
            InventoryFormat::Toml
        } else {
            InventoryFormat::Csv
        }
    }
}

/// The columns of a CSV inventory, in the order `export` writes them.
const CSV_COLUMNS: [&str; 14] = [
    "env",
    "db",
    "host",
    "port",
    "sslmode",
    "sslnegotiation",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "admin_user",
    "admin_password_command",
    "labels",
    "active",
    "notes",
];

/// Other spellings of a column, and columns read but not used.
const CSV_ALIASES: [(&str, &str); 2] = [("db_name", "db"), ("hostname", "host")];
const CSV_IGNORED: [&str; 3] = ["id", "created_at", "updated_at"];

/// One entry of an inventory file before validation. TOML and JSON map onto
/// it directly; CSV rows are converted into it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    env: String,
    #[serde(alias = "db_name")]
    db: String,
    #[serde(alias = "hostname")]
    host: String,
    port: Option<i64>,
    sslmode: Option<String>,
    sslnegotiation: Option<String>,
    sslrootcert: Option<String>,
    sslcert: Option<String>,
    sslkey: Option<String>,
    admin_user: Option<String>,
    admin_password_command: Option<RawCommand>,
    labels: Option<RawLabels>,
    active: Option<bool>,
    notes: Option<String>,
    // Bookkeeping that `registry list --format json` prints; not imported.
    #[serde(default, rename = "id")]
    _id: Option<IgnoredAny>,
    #[serde(default, rename = "created_at")]
    _created_at: Option<IgnoredAny>,
    #[serde(default, rename = "updated_at")]
    _updated_at: Option<IgnoredAny>,
}

/// Labels as a table (TOML, JSON), or as CSV's `k=v;k=v` text.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawLabels {
    Table(std::collections::BTreeMap<String, String>),
    Text(String),
}

impl RawLabels {
    fn parse(self) -> Result<Labels, InvalidValue> {
        match self {
            RawLabels::Text(text) => Labels::parse_text(&text),
            RawLabels::Table(table) => {
                let mut labels = Labels::default();
                for (key, value) in table {
                    let label: Label = format!("{key}={value}").parse()?;
                    if label.value != value {
                        return Err(InvalidValue::new(format!("invalid value of label '{key}'")));
                    }
                    labels.insert_new(label)?;
                }
                Ok(labels)
            }
        }
    }
}

/// A command as a list of words (TOML, JSON), or as one line split the
/// way a shell splits it (CSV, and a string in TOML or JSON).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawCommand {
    Argv(Vec<String>),
    Line(String),
}

impl RawCommand {
    fn parse(self) -> Result<Option<PasswordCommand>, InvalidValue> {
        match self {
            RawCommand::Argv(argv) => PasswordCommand::new(argv).map(Some),
            RawCommand::Line(line) => PasswordCommand::parse_words(&line),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlFile {
    #[serde(default)]
    targets: Vec<RawEntry>,
}

/// The targets of an inventory file.
#[derive(Debug)]
pub struct Inventory {
    pub targets: Vec<Target>,
    /// Columns of a CSV header that pgacct does not know (a CMDB export's
    /// own), ignored.
    pub ignored_columns: Vec<String>,
}

/// Reads and validates every target of an inventory file. `-` reads stdin.
pub fn read(path: &Path) -> Result<Inventory, Error> {
    let io_err = |source| Error::Io { path: path.to_owned(), source };
    let (text, base) = if path == Path::new("-") {
        (std::io::read_to_string(std::io::stdin()).map_err(io_err)?, PathBuf::from("."))
    } else {
        let base = path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        (std::fs::read_to_string(path).map_err(io_err)?, base)
    };
    parse(path, &text, &base)
}

/// Validates every target of inventory `text`, read from `path`, with
/// relative certificate paths taken from `base`.
fn parse(path: &Path, text: &str, base: &Path) -> Result<Inventory, Error> {
    let invalid = |message: String| Error::Inventory { path: path.to_owned(), message };
    let mut ignored_columns = Vec::new();
    let entries: Vec<(String, RawEntry)> = match InventoryFormat::detect(path, text) {
        InventoryFormat::Csv => read_csv(text, &mut ignored_columns).map_err(invalid)?,
        InventoryFormat::Toml => {
            let file: TomlFile = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
            numbered("[[targets]] entry", file.targets)
        }
        InventoryFormat::Json => {
            let entries: Vec<RawEntry> =
                serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
            numbered("entry", entries)
        }
    };
    let mut targets = Vec::with_capacity(entries.len());
    let mut seen: HashMap<(TargetKey, String), String> = HashMap::new();
    for (location, entry) in entries {
        let target =
            entry.into_target(base).map_err(|err| invalid(format!("{location}: {err}")))?;
        if let Some(first) = seen.insert((target.key.clone(), target.cluster()), location.clone()) {
            return Err(invalid(format!(
                "{location}: {} is listed twice (also at {first})",
                target.name()
            )));
        }
        targets.push(target);
    }
    Ok(Inventory { targets, ignored_columns })
}

fn numbered(what: &str, entries: Vec<RawEntry>) -> Vec<(String, RawEntry)> {
    entries.into_iter().enumerate().map(|(i, e)| (format!("{what} {}", i + 1), e)).collect()
}

fn read_csv(text: &str, ignored: &mut Vec<String>) -> Result<Vec<(String, RawEntry)>, String> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| e.to_string())?.clone();
    let columns = csv_columns(&headers, ignored)?;
    let mut entries = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| e.to_string())?;
        let line = record.position().map_or(0, csv::Position::line);
        let location = format!("line {line}");
        let mut entry = RawEntry::default();
        for (value, column) in record.iter().zip(&columns) {
            if let Some(column) = column {
                set_csv_field(&mut entry, column, value).map_err(|e| format!("{location}: {e}"))?;
            }
        }
        entries.push((location, entry));
    }
    Ok(entries)
}

/// Maps each header to its canonical column; `None` for ignored columns,
/// and the unknown ones are added to `unknown`.
fn csv_columns(
    headers: &csv::StringRecord,
    unknown: &mut Vec<String>,
) -> Result<Vec<Option<&'static str>>, String> {
    let mut columns = Vec::with_capacity(headers.len());
    for header in headers {
        let name = header.to_ascii_lowercase();
        let alias = CSV_ALIASES.iter().find(|(alias, _)| *alias == name).map(|(_, c)| *c);
        let column = alias.or_else(|| CSV_COLUMNS.iter().copied().find(|c| *c == name));
        match column {
            Some(column) if columns.contains(&Some(column)) => {
                return Err(format!("the header names column '{column}' twice"));
            }
            Some(column) => columns.push(Some(column)),
            None => {
                if !CSV_IGNORED.contains(&name.as_str()) {
                    unknown.push(header.to_owned());
                }
                columns.push(None);
            }
        }
    }
    for required in ["env", "db", "host"] {
        if !columns.contains(&Some(required)) {
            let also = CSV_ALIASES.iter().find(|(_, c)| *c == required).map(|(a, _)| *a);
            let unknown = if unknown.is_empty() {
                String::new()
            } else {
                format!(" (columns not known: {})", unknown.join(", "))
            };
            return Err(format!(
                "the header has no '{required}' column{}; expected at least env,db,host{unknown}",
                also.map(|a| format!(" (or '{a}')")).unwrap_or_default()
            ));
        }
    }
    Ok(columns)
}

fn set_csv_field(entry: &mut RawEntry, column: &str, value: &str) -> Result<(), String> {
    let optional = || (!value.is_empty()).then(|| value.to_owned());
    match column {
        "env" => value.clone_into(&mut entry.env),
        "db" => value.clone_into(&mut entry.db),
        "host" => value.clone_into(&mut entry.host),
        "port" if value.is_empty() => entry.port = None,
        "port" => {
            entry.port = Some(value.parse().map_err(|_| format!("invalid port '{value}'"))?);
        }
        "active" => entry.active = parse_bool(value)?,
        "sslmode" => entry.sslmode = optional(),
        "sslnegotiation" => entry.sslnegotiation = optional(),
        "sslrootcert" => entry.sslrootcert = optional(),
        "sslcert" => entry.sslcert = optional(),
        "sslkey" => entry.sslkey = optional(),
        "admin_user" => entry.admin_user = optional(),
        "admin_password_command" => {
            entry.admin_password_command = optional().map(RawCommand::Line);
        }
        "labels" => entry.labels = optional().map(RawLabels::Text),
        "notes" => entry.notes = optional(),
        _ => unreachable!("csv_columns only yields known columns"),
    }
    Ok(())
}

/// The spellings of a boolean that inventories exported from SQLite,
/// PostgreSQL and spreadsheets use. Empty means "not given".
fn parse_bool(value: &str) -> Result<Option<bool>, String> {
    match value.to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "true" | "t" | "yes" | "y" | "on" | "1" => Ok(Some(true)),
        "false" | "f" | "no" | "n" | "off" | "0" => Ok(Some(false)),
        _ => Err(format!("invalid active value '{value}': use true or false")),
    }
}

impl RawEntry {
    fn into_target(self, base: &Path) -> Result<Target, InvalidValue> {
        let port = match self.port {
            None => DEFAULT_PORT,
            Some(port) => u16::try_from(port)
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| InvalidValue::new(format!("invalid port {port}: use 1 to 65535")))?,
        };
        let target = Target {
            key: TargetKey { env: self.env.parse()?, db: self.db.parse()? },
            host: self.host.parse()?,
            port,
            sslmode: self.sslmode.as_deref().map(str::parse).transpose()?,
            sslnegotiation: self.sslnegotiation.as_deref().map(str::parse).transpose()?,
            sslrootcert: self.sslrootcert.map(|s| RootCert::parse_in(&s, base)).transpose()?,
            sslcert: self.sslcert.map(|s| CertFile::parse_in("sslcert", &s, base)).transpose()?,
            sslkey: self.sslkey.map(|s| CertFile::parse_in("sslkey", &s, base)).transpose()?,
            admin_user: self.admin_user.as_deref().map(str::parse::<AdminUser>).transpose()?,
            admin_password_command: self
                .admin_password_command
                .map(RawCommand::parse)
                .transpose()?
                .flatten(),
            labels: self.labels.map(RawLabels::parse).transpose()?.unwrap_or_default(),
            active: self.active.unwrap_or(true),
            notes: self.notes.filter(|n| !n.is_empty()),
        };
        target.check()?;
        Ok(target)
    }
}

/// Writes `targets` in a form `read` accepts.
pub fn write(
    targets: &[Target],
    format: InventoryFormat,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    match format {
        InventoryFormat::Csv => {
            let mut writer = csv::Writer::from_writer(out);
            writer.write_record(CSV_COLUMNS).map_err(csv_to_io)?;
            for t in targets {
                writer
                    .write_record([
                        t.key.env.as_str(),
                        t.key.db.as_str(),
                        t.host.as_str(),
                        &t.port.to_string(),
                        t.sslmode.map_or("", |m| m.as_str()),
                        t.sslnegotiation.map_or("", |n| n.as_str()),
                        &t.sslrootcert.as_ref().map(ToString::to_string).unwrap_or_default(),
                        &t.sslcert.as_ref().map(ToString::to_string).unwrap_or_default(),
                        &t.sslkey.as_ref().map(ToString::to_string).unwrap_or_default(),
                        t.admin_user.as_ref().map_or("", AdminUser::as_str),
                        &t.admin_password_command
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_default(),
                        &t.labels.to_text(),
                        if t.active { "true" } else { "false" },
                        t.notes.as_deref().unwrap_or(""),
                    ])
                    .map_err(csv_to_io)?;
            }
            writer.flush()?;
        }
        InventoryFormat::Toml => {
            #[derive(serde::Serialize)]
            struct File<'a> {
                targets: &'a [Target],
            }
            let text = toml::to_string(&File { targets }).map_err(std::io::Error::other)?;
            out.write_all(text.as_bytes())?;
        }
        InventoryFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, targets)?;
            writeln!(out)?;
        }
    }
    Ok(())
}

/// Unwraps the I/O error inside a CSV error, so that a closed pipe stays
/// recognisable as one.
pub fn csv_to_io(err: csv::Error) -> std::io::Error {
    match err.into_kind() {
        csv::ErrorKind::Io(err) => err,
        other => std::io::Error::other(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_text(name: &str, text: &str) -> Result<Vec<Target>, Error> {
        read_inventory(name, text).map(|inventory| inventory.targets)
    }

    fn read_inventory(name: &str, text: &str) -> Result<Inventory, Error> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        read(&path)
    }

    #[test]
    fn csv_accepts_both_spellings_of_the_columns() {
        let new =
            read_text("a.csv", "env,db,host,port,active,notes\nqa,app,h1,5433,1,x\n").unwrap();
        let old =
            read_text("b.csv", "ENV,db_name,hostname,port,active,notes\nqa,app,h1,5433,t,x\n")
                .unwrap();
        assert_eq!(new, old);
        assert_eq!(new[0].port, 5433);
        assert!(new[0].active);
    }

    #[test]
    fn csv_errors_name_the_line() {
        let err = read_text("a.csv", "env,db,host\nqa,app,h1\nQA,app2,h1\n").unwrap_err();
        assert!(err.to_string().contains("line 3: invalid env name 'QA'"), "{err}");
        let err = read_text("a.csv", "env,database,host\n").unwrap_err();
        assert!(err.to_string().contains("no 'db' column (or 'db_name')"), "{err}");
        let err = read_text("a.csv", "env,db,hostname,host\n").unwrap_err();
        assert!(err.to_string().contains("column 'host' twice"), "{err}");
        let err = read_text("a.csv", "env,db,host,port\nqa,a,h,70000\n").unwrap_err();
        assert!(err.to_string().contains("invalid port 70000"), "{err}");
    }

    #[test]
    fn csv_columns_of_a_cmdb_export_are_ignored_and_named() {
        let inventory = read_inventory(
            "cmdb.csv",
            "id,Owner,env,db_name,hostname,cost centre,port\n7,ann,qa,app,h1,42,5433\n",
        )
        .unwrap();
        assert_eq!(inventory.ignored_columns, ["Owner", "cost centre"]);
        assert_eq!(inventory.targets[0].port, 5433);
        let plain = read_inventory("a.csv", "env,db,host\nqa,app,h1\n").unwrap();
        assert!(plain.ignored_columns.is_empty());
    }

    #[test]
    fn duplicates_within_a_file_are_refused() {
        let err = read_text("a.csv", "env,db,host\nqa,app,h1\nqa,app,h1\n").unwrap_err();
        assert!(
            err.to_string().contains("line 3: qa/app (h1:5432) is listed twice (also at line 2)"),
            "{err}"
        );
        let same_name = read_text("a.csv", "env,db,host\nqa,app,h1\nqa,app,h2\n").unwrap();
        assert_eq!(same_name.len(), 2, "one db name on two clusters");
    }

    #[test]
    fn the_format_is_guessed_when_the_name_does_not_say() {
        let detect = |text| InventoryFormat::detect(Path::new("inventory"), text);
        assert_eq!(detect("[{\"env\": \"qa\"}]"), InventoryFormat::Json);
        assert_eq!(detect("[]"), InventoryFormat::Json);
        assert_eq!(detect("[[targets]]\nenv = 'qa'"), InventoryFormat::Toml);
        assert_eq!(detect("env,db,host\n"), InventoryFormat::Csv);
    }

    #[test]
    fn every_format_round_trips() {
        let targets = read_text(
            "a.csv",
            "env,db,host,port,sslmode,active,notes,admin_user,sslnegotiation,admin_password_command\n\
             qa,app,h1,5433,require,false,\"a, b\",dba,direct,\"vault read 'secret/pg admin'\"\n\
             prod,orders,/var/run/postgresql,5432,,true,,,,\n",
        )
        .unwrap();
        for (format, name) in [
            (InventoryFormat::Csv, "x.csv"),
            (InventoryFormat::Toml, "x.toml"),
            (InventoryFormat::Json, "x.json"),
        ] {
            let mut out = Vec::new();
            write(&targets, format, &mut out).unwrap();
            let back = read_text(name, std::str::from_utf8(&out).unwrap()).unwrap();
            assert_eq!(back, targets, "{format:?}");
        }
        let command = targets[0].admin_password_command.as_ref().unwrap();
        assert_eq!(
            (command.program(), command.args()),
            ("vault", &["read".to_owned(), "secret/pg admin".to_owned()][..])
        );
    }

    #[test]
    fn a_command_is_a_list_or_a_line_and_direct_needs_a_strong_sslmode() {
        let toml = read_text(
            "a.toml",
            "[[targets]]\nenv = 'qa'\ndb = 'app'\nhost = 'h1'\nsslmode = 'verify-full'\n\
             sslnegotiation = 'direct'\nadmin_password_command = ['pass', 'show', 'pg admin']\n",
        )
        .unwrap();
        let json = read_text(
            "a.json",
            r#"[{"env": "qa", "db": "app", "host": "h1", "sslmode": "verify-full",
                 "sslnegotiation": "direct", "admin_password_command": "pass show 'pg admin'"}]"#,
        )
        .unwrap();
        assert_eq!(toml, json);
        assert_eq!(
            toml[0].admin_password_command.as_ref().unwrap().to_string(),
            "pass show 'pg admin'"
        );

        let err = read_text("a.csv", "env,db,host,sslnegotiation\nqa,app,h1,direct\n").unwrap_err();
        assert!(
            err.to_string().contains("line 2: sslnegotiation direct needs sslmode require"),
            "{err}"
        );
        let err =
            read_text("a.csv", "env,db,host,sslmode,sslnegotiation\nqa,app,h1,prefer,direct\n")
                .unwrap_err();
        assert!(
            err.to_string()
                .contains(r#"weak sslmode "prefer" may not be used with sslnegotiation=direct"#),
            "{err}"
        );
        let err = read_text("a.csv", "env,db,host,sslnegotiation\nqa,app,h1,tls\n").unwrap_err();
        assert!(err.to_string().contains("invalid sslnegotiation 'tls'"), "{err}");
        let err = read_text("a.csv", "env,db,host,admin_password_command\nqa,app,h1,vault 'read\n")
            .unwrap_err();
        assert!(err.to_string().contains("a quote is not closed"), "{err}");
        let err = read_text(
            "a.json",
            r#"[{"env": "qa", "db": "app", "host": "h1", "admin_password_command": []}]"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("names no program"), "{err}");
    }
}

/// Property tests: no input makes import panic, and what export writes,
/// import reads back as the same targets, in every format.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::registry::{SslMode, SslNegotiation};

    const FORMATS: [(InventoryFormat, &str); 3] = [
        (InventoryFormat::Csv, "x.csv"),
        (InventoryFormat::Toml, "x.toml"),
        (InventoryFormat::Json, "x.json"),
    ];

    /// Existing files for the certificate columns, shared by every case.
    fn cert_files() -> &'static (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
        static FILES: std::sync::OnceLock<(tempfile::TempDir, PathBuf, PathBuf, PathBuf)> =
            std::sync::OnceLock::new();
        FILES.get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let file = |name: &str| {
                let path = dir.path().join(name);
                std::fs::write(&path, "x").unwrap();
                path
            };
            let (ca, cert, key) = (file("ca.pem"), file("client.crt"), file("client.key"));
            (dir, ca, cert, key)
        })
    }

    /// Text without NUL bytes, up to `max` bytes.
    fn text(max: usize) -> impl Strategy<Value = String> {
        any::<String>()
            .prop_map(|s| s.replace('\0', ""))
            .prop_filter("length", move |s| !s.is_empty() && s.len() <= max)
    }

    fn target() -> impl Strategy<Value = Target> {
        let host = proptest::collection::vec(
            any::<char>().prop_filter("host", |c| {
                !c.is_whitespace() && !c.is_control() && !",/".contains(*c)
            }),
            1..30,
        )
        .prop_flat_map(|chars| (Just(chars), any::<bool>()))
        // A `/` makes a socket directory, which must be absolute.
        .prop_map(|(chars, socket)| {
            let host: String = chars.into_iter().collect();
            if socket { format!("/{host}") } else { host }
        });
        let admin = text(63).prop_filter("admin user", |s| !s.chars().any(char::is_control));
        (
            ("[a-z0-9][a-z0-9_-]{0,31}", text(63), host, 1..=u16::MAX),
            (
                proptest::option::of(proptest::sample::select(SslMode::ALL.to_vec())),
                0..3u8,
                any::<bool>(),
            ),
            (proptest::option::of(admin), any::<bool>(), proptest::option::of(text(200))),
            proptest::collection::btree_map("[a-z0-9][a-z0-9_.-]{0,10}", "[^;\\p{Cc}]{0,12}", 0..3),
            (any::<bool>(), proptest::option::of(proptest::collection::vec(text(20), 1..4))),
        )
            .prop_map(
                |(
                    (env, db, host, port),
                    (sslmode, tls_files, with_client_cert),
                    (admin, active, notes),
                    label_map,
                    (direct, argv),
                )| {
                    let mut labels = Labels::default();
                    for (key, value) in label_map {
                        labels.set(&format!("{key}={value}").parse().unwrap());
                    }
                    let (_, ca, cert, key) = cert_files();
                    Target {
                        key: TargetKey { env: env.parse().unwrap(), db: db.parse().unwrap() },
                        host: host.parse().unwrap(),
                        port,
                        sslmode,
                        // Direct negotiation only where the rules allow it.
                        sslnegotiation: sslmode.map(|mode| {
                            if direct && mode.insists_on_tls() {
                                SslNegotiation::Direct
                            } else {
                                SslNegotiation::Postgres
                            }
                        }),
                        sslrootcert: match tls_files {
                            0 => None,
                            1 => Some(RootCert::System),
                            _ => Some(RootCert::File(ca.clone())),
                        },
                        sslcert: with_client_cert.then(|| CertFile::stored(cert.clone())),
                        sslkey: with_client_cert.then(|| CertFile::stored(key.clone())),
                        admin_user: admin.map(|a| a.parse().unwrap()),
                        admin_password_command: argv
                            .map(|argv| PasswordCommand::new(argv).unwrap()),
                        labels,
                        active,
                        notes,
                    }
                },
            )
    }

    /// Targets with distinct keys, as a registry holds them.
    fn targets() -> impl Strategy<Value = Vec<Target>> {
        proptest::collection::vec(target(), 0..6).prop_map(|mut targets| {
            let mut seen = std::collections::HashSet::new();
            targets.retain(|t| seen.insert((t.key.clone(), t.cluster())));
            targets
        })
    }

    fn has_edge_whitespace(t: &Target) -> bool {
        let edged = |s: &str| s.trim() != s;
        edged(t.key.db.as_str())
            || edged(t.host.as_str())
            || t.admin_user.as_ref().is_some_and(|a| edged(a.as_str()))
            || t.notes.as_deref().is_some_and(edged)
            || edged(&t.labels.to_text())
            || t.admin_password_command.as_ref().is_some_and(|c| edged(&c.to_string()))
    }

    proptest! {
        #[test]
        fn export_then_import_gives_the_same_targets(targets in targets()) {
            for (format, name) in FORMATS {
                // CSV import trims every field (hand-written files say
                // `qa, app, h1`), so values with edge whitespace cannot
                // come back from CSV: reported, not hidden.
                if format == InventoryFormat::Csv && targets.iter().any(has_edge_whitespace) {
                    continue;
                }
                let mut out = Vec::new();
                write(&targets, format, &mut out).unwrap();
                let text = String::from_utf8(out).unwrap();
                let back = parse(Path::new(name), &text, Path::new(".")).map(|i| i.targets);
                prop_assert_eq!(back.as_ref().ok(), Some(&targets), "{:?}:\n{}\n{:?}", format, text, back);
            }
        }

        #[test]
        fn no_text_makes_import_panic(text in any::<String>()) {
            for (_, name) in FORMATS {
                let _ = parse(Path::new(name), &text, Path::new("."));
            }
            let _ = parse(Path::new("inventory"), &text, Path::new("."));
        }

        #[test]
        fn no_csv_shaped_text_makes_import_panic(
            rows in proptest::collection::vec(
                proptest::collection::vec("[a-z_ ]{0,8}|\"[^\"]{0,8}\"|[0-9-]{0,7}|", 0..12), 0..5)
        ) {
            let mut text = String::from("env,db,host,port,sslmode,active,notes,admin_user,id\n");
            for row in rows {
                text.push_str(&row.join(","));
                text.push('\n');
            }
            let _ = parse(Path::new("x.csv"), &text, Path::new("."));
        }

        #[test]
        fn no_json_or_toml_shaped_text_makes_import_panic(
            port in any::<i64>(), value in any::<String>(), active in any::<bool>()
        ) {
            let json = serde_json::json!([{"env": "qa", "db": value, "host": value, "port": port,
                "active": active, "sslmode": value, "admin_user": value, "notes": value}]);
            let _ = parse(Path::new("x.json"), &json.to_string(), Path::new("."));
            let toml = format!("[[targets]]\nenv = 'qa'\ndb = {value:?}\nhost = {value:?}\nport = {port}\n");
            let _ = parse(Path::new("x.toml"), &toml, Path::new("."));
        }
    }
}
