//! The hidden `generate-assets` command: shell completion scripts (see
//! [`crate::completion`]) and man pages, committed to the repository and
//! checked by a test.

use std::fs;
use std::io;
use std::path::Path;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::{CommandResult, Exit};

pub fn run(dir: &Path) -> CommandResult {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();

    let completions = dir.join("completions");
    replace_dir(&completions)?;
    crate::completion::write_scripts(&completions)?;

    let man = dir.join("man");
    replace_dir(&man)?;
    write_man_pages(&cmd, &["pgacct"], &man)?;
    fs::write(man.join("pgacct-config.5"), config_page())?;
    Ok(Exit::Success)
}

/// Empties `dir` (creating it if needed), so that pages of commands that no
/// longer exist do not linger.
fn replace_dir(dir: &Path) -> io::Result<()> {
    if dir.exists() {
        fs::remove_dir_all(dir)?;
    }
    fs::create_dir_all(dir)
}

/// `pgacct.1`, then one page per visible subcommand (`pgacct-registry-add.1`).
/// `path` is the command's words (`["pgacct", "registry", "add"]`).
fn write_man_pages(cmd: &clap::Command, path: &[&str], dir: &Path) -> io::Result<()> {
    for sub in cmd.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        let mut sub_path = path.to_vec();
        sub_path.push(sub.get_name());
        write_man_pages(sub, &sub_path, dir)?;
    }
    let man = clap_mangen::Man::new(cmd.clone())
        .source(format!("pgacct {}", env!("CARGO_PKG_VERSION")))
        .manual("pgacct manual");
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    if path.len() == 1 {
        // More of DESCRIPTION, after the about text clap renders.
        for text in DESCRIPTION {
            page.extend_from_slice(format!(".PP\n{}\n", roff(text)).as_bytes());
        }
    }
    man.render_options_section(&mut page)?;
    if cmd.has_subcommands() {
        man.render_subcommands_section(&mut page)?;
    }
    man.render_extra_section(&mut page)?;
    page.extend_from_slice(extra_sections(path).as_bytes());
    man.render_version_section(&mut page)?;
    fs::write(dir.join(man.get_filename()), page)
}

/// Escapes text for roff: backslashes, hyphens (so that `--env` stays two
/// ASCII hyphens), and a leading dot or quote that would read as a request.
fn roff(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// A section of tagged paragraphs: (term, text).
fn tagged(title: &str, items: &[(&str, &str)]) -> String {
    let mut out = format!(".SH {title}\n");
    for (term, text) in items {
        out.push_str(&format!(".TP\n\\fB{}\\fR\n{}\n", roff(term), roff(text)));
    }
    out
}

/// Examples as literal blocks, one command line each.
fn examples(lines: &[&str]) -> String {
    let mut out = String::from(".SH EXAMPLES\n");
    for line in lines {
        out.push_str(&format!(".PP\n.nf\n.RS 4\n{}\n.RE\n.fi\n", roff(line)));
    }
    out
}

const ENVIRONMENT: &[(&str, &str)] = &[
    ("PGACCT_REGISTRY", "The registry file, as --registry."),
    ("PGACCT_CONFIG", "The configuration file, as --config; see pgacct-config(5)."),
    (
        "PGACCT_ADMIN_USER, PG_ADMIN_USER, PGUSER",
        "The admin user, first found, when the target's registry entry names none; else your OS user.",
    ),
    (
        "PGACCT_ADMIN_PASSWORD_<ENV>",
        "The admin password for environment ENV (upper-cased, - as _: PGACCT_ADMIN_PASSWORD_PROD).",
    ),
    ("PGACCT_ADMIN_PASSWORD, PG_ADMIN_PASS, PGPASSWORD", "The admin password, in this order."),
    ("PGPASSFILE", "The password file [default: ~/.pgpass]."),
    (
        "PGSSLMODE",
        "TLS mode when the registry entry sets none, with libpq's meaning [default: prefer].",
    ),
    (
        "PGSSLNEGOTIATION",
        "postgres (the default) or direct (PostgreSQL 17 and later), as libpq 17.",
    ),
    ("PGSSLROOTCERT", "Root certificate file, or system [default: ~/.postgresql/root.crt]."),
    ("PGSSLCERT", "Client certificate file [default: ~/.postgresql/postgresql.crt]."),
    ("PGSSLKEY", "Client key file, mode 0600 [default: ~/.postgresql/postgresql.key]."),
    ("PGCONNECT_TIMEOUT", "Seconds to connect, TLS and authentication included [default: 10]."),
    ("PGAPPNAME", "application_name of pgacct's sessions."),
    (
        "PGACCT_AUDIT_KEY",
        "The audit key (HMAC-SHA-256 of each audit record); wins over [audit] key_file.",
    ),
    ("NO_COLOR", "Do not use colours, as --no-color."),
    ("HOME", "Where ~/.pgpass and ~/.postgresql/ are."),
];

const PASSWORD_ORDER: &str = "The admin password is the first found of: PGACCT_ADMIN_PASSWORD_<ENV>, PGACCT_ADMIN_PASSWORD, PG_ADMIN_PASS, PGPASSWORD, the admin_password_command of the registry entry or of config.toml's environment, the password file. Only if the server asks for a password and none was found does pgacct prompt, and only when stdin is a terminal; otherwise it fails and lists every place it looked. Settings come from the registry entry, then the environment, then libpq's defaults.";

const FILES: &[(&str, &str)] = &[
    (
        "the platform data directory's pgacct/pgacct.db (~/.local/share/pgacct/pgacct.db on Linux)",
        "The registry: targets and the audit trail (SQLite). --registry or PGACCT_REGISTRY chooses another.",
    ),
    (
        "the platform config directory's pgacct/config.toml (~/.config/pgacct/config.toml on Linux)",
        "Policy, environments, connection and notification settings; see pgacct-config(5).",
    ),
    (
        "~/.pgpass",
        "libpq's password file (or PGPASSFILE); ignored with a warning when others can read it.",
    ),
    (
        "~/.postgresql/",
        "root.crt, postgresql.crt and postgresql.key: libpq's default root certificate, client certificate and key.",
    ),
];

const EXIT_STATUS: &[(&str, &str)] = &[
    ("0", "Every target succeeded (an idempotent \"already exists\" is success)."),
    ("1", "The operation failed (nothing succeeded), or audit verify found a break."),
    (
        "2",
        "Usage error, invalid input, an unknown or ambiguous target, or a plan check that failed: detected before anything was touched.",
    ),
    ("3", "Partial: some targets succeeded, some failed (each listed; --retry ID retries them)."),
    ("130", "Interrupted."),
];

const DESCRIPTION: &[&str] = &[
    "pgacct provisions PostgreSQL login roles across many databases. It keeps an inventory of target databases (the registry) and an audit trail in a local SQLite file, and connects straight to each target with libpq's conventions: the same environment variables, password file and certificate files as psql.",
    "Data goes to stdout (a table, or --format json or csv); progress, warnings and errors go to stderr. No password is ever shown in argv, output, the audit trail, errors or the server log.",
];

/// Examples for a page, by the command's words after `pgacct`.
fn examples_for(path: &[&str]) -> &'static [&'static str] {
    match path {
        [] => &[
            "export PGACCT_ADMIN_PASSWORD_QA=...        # or ~/.pgpass, or a prompt",
            "pgacct registry add --env qa --db orders --host qa-db1.example.com --admin-user dba",
            "pgacct registry check --env qa",
            "pgacct user create-vm --env qa --all --server web01 --service-port 8080 --ticket CHG-1234",
            "pgacct user reset-password --env qa --all web01_8080",
            "pgacct audit show --env qa",
        ],
        ["registry", ..] => &[
            "pgacct registry add --env qa --db orders --host qa-db1.example.com --admin-user dba",
            "pgacct registry list --env qa",
            "pgacct registry check --env qa",
        ],
        ["user", ..] => &[
            "pgacct user create-vm --env qa --all --server web01 --service-port 8080 --ticket CHG-1234",
            "pgacct user create-k8s --env qa --db orders --service gearservice --secret-file gearservice.yaml --secret-format k8s-secret",
            "pgacct user list --env qa --all",
            "pgacct user reset-password --env qa --all web01_8080",
        ],
        ["audit", ..] => &["pgacct audit show --env qa", "pgacct audit verify"],
        ["notify", ..] => &["pgacct notify test"],
        _ => &[],
    }
}

/// DESCRIPTION (top page), ENVIRONMENT, FILES, EXIT STATUS, EXAMPLES and SEE
/// ALSO. Subcommand pages get what concerns them: registry and audit pages do
/// not connect (except registry check), so they skip the libpq variables.
fn extra_sections(path: &[&str]) -> String {
    let words = &path[1..];
    let mut out = String::new();
    let connects = matches!(words, [] | ["user", ..] | ["registry"] | ["registry", "check"]);
    let env: Vec<(&str, &str)> = ENVIRONMENT
        .iter()
        .copied()
        .filter(|(name, _)| {
            connects
                || name.starts_with("PGACCT_REGISTRY")
                || name.starts_with("PGACCT_CONFIG")
                || name.starts_with("NO_COLOR")
                || (name.starts_with("PGACCT_AUDIT_KEY") && matches!(words, ["audit", ..]))
        })
        .collect();
    out.push_str(&tagged("ENVIRONMENT", &env));
    if connects {
        out.push_str(&format!(".PP\n{}\n", roff(PASSWORD_ORDER)));
    }
    let files: Vec<(&str, &str)> =
        FILES.iter().copied().filter(|(name, _)| connects || !name.starts_with('~')).collect();
    out.push_str(&tagged("FILES", &files));
    out.push_str(&tagged("EXIT STATUS", EXIT_STATUS));
    let lines = examples_for(words);
    if !lines.is_empty() {
        out.push_str(&examples(lines));
    }
    let mut see_also = vec!["pgacct-config(5)".to_owned(), "psql(1)".to_owned()];
    if !words.is_empty() {
        see_also.insert(0, format!("{}(1)", path[..path.len() - 1].join("-")));
    }
    out.push_str(&format!(".SH \"SEE ALSO\"\n{}\n", roff(&see_also.join(", "))));
    out
}

/// One table of `config.toml`: its heading, what it is for, and its keys
/// (key, meaning with default and bounds).
type ConfigTable = (&'static str, &'static str, &'static [(&'static str, &'static str)]);

/// Every key of `config.toml` (src/config.rs, src/policy.rs,
/// src/notify/channel.rs, src/audit/key.rs). Durations are written
/// "500ms", "5s", "2min" or "1h".
const CONFIG_TABLES: &[ConfigTable] = &[
    (
        "[connection]",
        "How pgacct connects, and what every session sets.",
        &[
            (
                "connect_timeout",
                "Time to connect, TLS and authentication included; PGCONNECT_TIMEOUT overrides it [default: 10s; 1s to 1h].",
            ),
            (
                "lock_timeout",
                "lock_timeout of every session, so a DDL never queues behind a lock [default: 5s; 1ms to 24h].",
            ),
            ("statement_timeout", "statement_timeout of every session [default: 30s; 1s to 24h]."),
            (
                "admin_password_command_timeout",
                "Time an admin_password_command may take before it is killed [default: 30s; 1s to 10min].",
            ),
        ],
    ),
    (
        "[types.NAME]",
        "An account type: a built-in one (vm, k8s, devqa, devlead, readonly, readwrite, dba) changed key by key, or a new one (whose keys default as below). pgacct user create --type NAME uses it.",
        &[
            (
                "template",
                "The role name: text with {server} {service_port} {service} {prefix} {env} {name} [default: {server}_{service_port} for vm, {prefix}_{service} for k8s, else {name}].",
            ),
            (
                "connection_limit",
                "CONNECTION LIMIT [default: 200 for vm and k8s, else 20; -1 (no limit) to 262143].",
            ),
            (
                "attributes",
                "A list of LOGIN CREATEDB CREATEROLE INHERIT NOINHERIT REPLICATION BYPASSRLS [default: [\"LOGIN\"]; LOGIN CREATEDB CREATEROLE for dba]; REPLICATION and BYPASSRLS need allow_privileged.",
            ),
            (
                "member_of",
                "Roles the new role joins [default: none]. postgres, rds_superuser, cloudsqlsuperuser, azure_pg_admin and pg_execute_server_program, pg_read_server_files, pg_write_server_files need allow_privileged.",
            ),
            ("search_path", "The role's search_path, a list of schemas [default: [\"public\"]]."),
            (
                "search_path_all_databases",
                "Set search_path for every database, not only the targets [default: false; true for dba].",
            ),
            (
                "valid_for_days",
                "VALID UNTIL, this many days from creation, renewed at every reset-password (the role's type known from --type or the marker pgacct leaves on the roles it creates) [default: none, never expires; 1 to 3650]. --valid-for overrides it for one run.",
            ),
            ("password_length", "Length of a generated password [default: 22; 16 to 256]."),
            (
                "access",
                "Data access: \"none\", \"read\" (USAGE on schemas, SELECT on tables and sequences; default_transaction_read_only = on as a safety net) or \"readwrite\" (also INSERT, UPDATE, DELETE and USAGE on sequences); never CREATE [default: \"none\"; \"read\" for readonly, \"readwrite\" for readwrite].",
            ),
            (
                "read_scope",
                "Where access reaches: \"targets\" (grants in each target database, with default privileges FOR ROLE every role that owns or may create objects in its schemas) or \"cluster\" (pg_read_all_data / pg_write_all_data, every database of the cluster; PostgreSQL 14+) [default: \"targets\"].",
            ),
            (
                "group",
                "A NOLOGIN group per target database that holds the grants, its name a template with {db} (and {env}), e.g. \"{db}_ro\"; made once, logins join it [default: none, grants go to the role]. Needs access and read_scope = \"targets\".",
            ),
            ("read_only", "The old spelling of access = \"read\" (true) or \"none\" (false)."),
            (
                "password",
                "false: the role never gets a password; pgacct makes, reads and delivers none, reset-password refuses it and rotate leaves it out. Needs auth [default: true].",
            ),
            (
                "auth",
                "How a role without a password logs in, with password = false: \"iam-rds\" (joins rds_iam: RDS and Aurora accept IAM tokens), \"cert\" (a client certificate; needs a pg_hba.conf line such as hostssl all NAME 0.0.0.0/0 cert) or \"external\" (LDAP, Kerberos, ...; pgacct sets nothing) [default: none].",
            ),
            ("confirm", "Ask before creating one [default: false; true for dba]."),
            (
                "allow_privileged",
                "The type may join a privileged role (a superuser, a role with REPLICATION or BYPASSRLS, a file or program access role) and give REPLICATION or BYPASSRLS [default: false].",
            ),
            (
                "server_name",
                "How {server} takes a host name: \"full\" (web-01.example.com gives web_01_example_com) or \"short\" (web_01) [default: \"full\"].",
            ),
        ],
    ),
    (
        "[env.NAME]",
        "Settings of one environment.",
        &[
            (
                "k8s_prefix",
                "The prefix of k8s account names [default: dv for dev, qa for qa, ua for uat, pd for prod, else the env name]; not empty.",
            ),
            (
                "protected",
                "Every change in this environment asks for confirmation [default: false].",
            ),
            (
                "admin_password_command",
                "A program that prints the admin password, as [\"program\", \"arg\", ...]; no shell runs. A target's own (registry --admin-password-command) wins.",
            ),
        ],
    ),
    (
        "[[notify]]",
        "A notification channel, one entry each; one event per command. A channel that fails only causes a warning.",
        &[
            ("kind", "slack, webex, webhook, command or email (required)."),
            (
                "name",
                "How messages and the audit trail name it [default: the kind and its number].",
            ),
            ("envs", "Only events in these environments [default: all]."),
            (
                "operations",
                "Only these operations, or groups of them (user, user.create) [default: all].",
            ),
            ("timeout", "How long a delivery may take [default: 5s; 100ms to 10min]."),
            (
                "url",
                "slack: the incoming-webhook URL; webhook: where to POST; webex: the messages API [default: https://webexapis.com/v1/messages].",
            ),
            ("headers", "webhook: extra headers, a table of name = value."),
            (
                "headers_from_env",
                "webhook: extra headers whose values are in environment variables, a table of name = VARIABLE.",
            ),
            ("room_id", "webex: the room to post in."),
            ("token_env", "webex: the environment variable that holds the bot's token."),
            ("program", "command: the program, given the event as JSON on stdin."),
            ("args", "command: its arguments."),
            ("host", "email: the SMTP server."),
            ("port", "email: its port, 1 to 65535 [default: 587 with STARTTLS, else 25]."),
            ("starttls", "email: upgrade the connection with STARTTLS [default: true]."),
            ("from", "email: the sender."),
            ("to", "email: the recipients."),
            ("user", "email: the SMTP user."),
            ("password_env", "email: the environment variable that holds the SMTP password."),
        ],
    ),
    (
        "[store]",
        "A team store: the registry and the audit trail in a schema of a shared PostgreSQL database (see pgacct-store-init(1)).",
        &[
            (
                "url",
                "The store's postgresql:// URL (libpq's syntax, without a password), used when neither --registry nor PGACCT_REGISTRY is given.",
            ),
            (
                "password_command",
                "A program that prints the store password, as [\"program\", \"arg\", ...]; no shell runs. PGPASSWORD wins over it; ~/.pgpass comes after it.",
            ),
            (
                "schema",
                "The schema that holds the store, as given to pgacct store init --schema [default: pgacct].",
            ),
        ],
    ),
    (
        "[audit]",
        "The audit key.",
        &[(
            "key_file",
            "The file that holds the audit key: an absolute path to a regular file, mode 0600 or 0400. PGACCT_AUDIT_KEY wins over it.",
        )],
    ),
];

/// `pgacct-config(5)`: the configuration file.
fn config_page() -> String {
    let version = env!("CARGO_PKG_VERSION");
    let mut out = format!(
        ".TH pgacct\\-config 5  \"pgacct {version}\" \"pgacct manual\"\n\
         .SH NAME\npgacct\\-config \\- the pgacct configuration file, config.toml\n\
         .SH SYNOPSIS\n{}\n",
        roff(
            "~/.config/pgacct/config.toml on Linux (the platform config directory's pgacct/config.toml), or --config PATH, or PGACCT_CONFIG."
        ),
    );
    out.push_str(&format!(
        ".SH DESCRIPTION\n{}\n.PP\n{}\n",
        roff("A TOML file. An absent file means the built-in defaults. Unknown keys are errors, so a typo is never silently ignored: a mistake, a number or duration out of range included, is reported with its line and key, exit 2, before pgacct connects anywhere."),
        roff("Durations are written \"500ms\", \"5s\", \"2min\" or \"1h\"."),
    ));
    for (heading, about, keys) in CONFIG_TABLES {
        out.push_str(&format!(".SH \"{}\"\n{}\n", roff(heading), roff(about)));
        for (key, text) in *keys {
            out.push_str(&format!(".TP\n\\fB{}\\fR\n{}\n", roff(key), roff(text)));
        }
    }
    out.push_str(".SH EXAMPLE\n.nf\n.RS 4\n");
    for line in [
        "[connection]",
        "lock_timeout = \"2s\"",
        "",
        "[types.app]",
        "template = \"app_{env}_{name}\"",
        "connection_limit = 50",
        "member_of = [\"app_readers\"]",
        "",
        "[env.prod]",
        "protected = true",
        "admin_password_command = [\"vault\", \"read\", \"-field=password\", \"secret/pg/prod\"]",
        "",
        "[[notify]]",
        "kind = \"slack\"",
        "url = \"https://hooks.slack.com/services/T000/B000/XXXX\"",
        "envs = [\"prod\"]",
    ] {
        out.push_str(&roff(line));
        out.push('\n');
    }
    out.push_str(".RE\n.fi\n");
    out.push_str(".SH \"SEE ALSO\"\npgacct(1)\n");
    out
}
