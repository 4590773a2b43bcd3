//! The command-line interface: every clap type, and nothing else.
//!
//! The first line of each doc comment is the short help; the rest is the
//! long help (`--help`) and the man page.

// Doc comments here are help text for people, where backticks would show.
#![allow(clippy::doc_markdown)]
// Parsed once per run; boxing the big variants would buy nothing.
#![allow(clippy::large_enum_variant)]

use std::path::{Path, PathBuf};

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum, ValueHint};

use crate::completion;
use crate::policy::ValidFor;
use crate::registry::{
    AdminUser, CertFile, ClusterRef, DbName, EnvName, Host, Label, LabelKey, PasswordCommand,
    RootCert, SslMode, SslNegotiation,
};

/// Provision and manage PostgreSQL login roles across many databases.
///
/// pgacct keeps an inventory of target databases (the registry) and an
/// audit trail in a local SQLite file, or for a team in a shared PostgreSQL
/// database (--registry postgresql://...), and connects straight to each
/// target. Data goes to stdout; progress, warnings and errors go to stderr.
///
/// Exit codes: 0 success, 1 failure, 2 usage error or invalid input
/// (nothing was touched), 3 partial success, 130 interrupted.
#[derive(Debug, Parser)]
#[command(name = "pgacct", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Options accepted before or after any subcommand. Their own help section
/// keeps a command's own options at the top of its `--help`.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global Options")]
pub struct GlobalArgs {
    /// The registry file, or a team store's postgresql:// URL (no password in it) [default: [store] url in config.toml, else the platform data directory's pgacct/pgacct.db]
    // The value is never shown in --help: it may be a URL someone put a
    // password in.
    #[arg(
        long,
        global = true,
        env = "PGACCT_REGISTRY",
        hide_env_values = true,
        value_name = "PATH|URL"
    )]
    pub registry: Option<PathBuf>,

    /// The configuration file [default: the platform config directory's pgacct/config.toml]
    #[arg(long, global = true, env = "PGACCT_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Output format [default: table; csv for `registry export`, which also writes toml]
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,

    /// Tables: one block of `field | value` lines per record, every field shown (like psql's \x)
    #[arg(short = 'x', long, global = true, conflicts_with = "wide")]
    pub expanded: bool,

    /// Tables: show the wide columns too, however wide the table gets
    #[arg(long, global = true)]
    pub wide: bool,

    /// Print only data and errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Show the work on stderr: files, connections, statements (-vv: round trips too)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Do not use colours (also: the NO_COLOR environment variable)
    #[arg(long, global = true)]
    pub no_color: bool,
}

/// What every command that changes something takes.
#[derive(Debug, Clone, Args)]
pub struct ChangeArgs {
    /// Answer yes to confirmations
    #[arg(short = 'y', long)]
    pub yes: bool,

    /// Show the plan (the SQL each target would run), and change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// A change reference (ticket) recorded in the audit trail
    #[arg(long, value_name = "TEXT", value_parser = parse_ticket)]
    pub ticket: Option<String>,
}

fn parse_ticket(s: &str) -> Result<String, String> {
    if s.trim().is_empty() || s.chars().count() > 200 || s.chars().any(char::is_control) {
        return Err("a ticket is 1 to 200 characters, without control characters".into());
    }
    Ok(s.to_owned())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table for people
    Table,
    /// One JSON document, with stable snake_case field names
    Json,
    /// CSV with a header row
    Csv,
    /// TOML (`registry export` only)
    #[value(hide = true)]
    Toml,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage the inventory of target databases
    #[command(subcommand)]
    Registry(RegistryCommand),

    /// Create and change PostgreSQL login roles on registered targets
    #[command(subcommand)]
    User(UserCommand),

    /// Read and check the audit trail
    #[command(subcommand)]
    Audit(AuditCommand),

    /// Check the notification channels of config.toml
    #[command(subcommand)]
    Notify(NotifyCommand),

    /// Set up a shared PostgreSQL store for a team, and move a registry into it (team mode)
    #[command(subcommand)]
    Store(StoreCommand),

    /// Write the shell completions and man pages into a directory
    #[command(hide = true)]
    GenerateAssets {
        /// The directory that receives completions/ and man/
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a VM service account, named {server}_{service_port}
    ///
    /// The server name is spelt as a role name: lower-cased, each run of
    /// other characters than a-z, 0-9 and _ one _ (web-01.example.com
    /// becomes web_01_example_com; with server_name = "short" in
    /// [types.vm] of config.toml, web_01).
    ///
    /// Example: pgacct user create-vm --env prod --all --server web-01 --service-port 8080
    CreateVm(CreateVmArgs),

    /// Create a Kubernetes service account, named {prefix}_{service}
    ///
    /// The prefix defaults per environment: dev dv, qa qa, uat ua, prod pd,
    /// any other the env name; [env.NAME] k8s_prefix in config.toml or
    /// --prefix change it. The prefix and service are spelt as a role name:
    /// lower-cased, each run of other characters than a-z, 0-9 and _ one _
    /// (gear-service becomes gear_service).
    ///
    /// Example: pgacct user create-k8s --env qa --db orders --service gear-service
    CreateK8s(CreateK8sArgs),

    /// Create an account of a type: devqa, devlead, readonly, readwrite, dba,
    /// or one from config.toml
    ///
    /// Example: pgacct user create --env dev --all --type readonly reporting
    Create(CreateArgs),

    /// Give an existing role a new password, and renew its VALID UNTIL
    ///
    /// VALID UNTIL becomes now plus --valid-for, else plus the valid_for_days
    /// of the role's type: the one --type names, else the one in the marker
    /// pgacct left on the role when it created it (COMMENT ON ROLE). A role
    /// without a marker, or whose type sets no valid_for_days, keeps its
    /// VALID UNTIL, and the result says so. The new VALID UNTIL goes in
    /// the same ALTER ROLE as the password.
    ///
    /// Example: pgacct user reset-password --env prod --all web01_8080 --valid-for 90d
    ResetPassword(ResetPasswordArgs),

    /// Set an existing role's search_path in each target database
    ///
    /// Example: pgacct user set-search-path --env qa --all app_user app public
    SetSearchPath(SetSearchPathArgs),

    /// List the roles on the targets' clusters
    ///
    /// One row per role and cluster, with the targets that cluster serves:
    /// whether it can log in, connection limit, VALID UNTIL, attributes,
    /// memberships, search_path in each target database, and how its
    /// password is stored (scram, md5, none, or unknown when the admin may
    /// not read pg_authid).
    ///
    /// Example: pgacct user list --env prod --all --name 'web*'
    List(ListUsersArgs),

    /// Show one role in detail: also what it owns, per database, and its sessions
    Show(UserNameArgs),

    /// Bring existing roles back to their type's policy, never touching the password
    ///
    /// Repairs the connection limit, CREATEDB and CREATEROLE, memberships
    /// (the type's roles and groups), search_path and
    /// default_transaction_read_only in each target database, the data
    /// access of readonly and readwrite types (USAGE, privileges and
    /// default privileges in each target database), and a VALID UNTIL
    /// later than valid_for_days allows. A locked role stays locked. The
    /// type is --type, else the one in the role's pgacct marker. The plan
    /// is shown, protected environments ask first, and every repair is in
    /// the audit trail. --check only reports: exit 1 when anything would
    /// change, 0 when nothing would (a CI drift gate).
    ///
    /// Example: pgacct user sync --env prod --all --type readonly --check
    Sync(SyncArgs),

    /// Report the credentials of every role on the targets' clusters, for a review
    ///
    /// One row per role and cluster: how its password is stored (scram,
    /// md5, none, or unknown when the admin may not read pg_authid), VALID
    /// UNTIL and the days left, the password's age (when pgacct last set it
    /// there, from the audit trail; unknown when it never did), the account
    /// type of pgacct's marker (no for a role pgacct did not create), login,
    /// connection limit and its type's, and SUPERUSER, CREATEROLE and
    /// BYPASSRLS. The problems column says what is wrong: md5, expired,
    /// expiring, old, unmanaged, limit differs from its type.
    ///
    /// Filters show only the roles with a problem they name; given several,
    /// a role with any of them. With --fail-if-any, a match exits 1, so cron
    /// and monitoring can alert.
    ///
    /// Example: pgacct user report --all-envs --md5 --expiring-within 14d --older-than 90d --fail-if-any
    Report(ReportArgs),

    /// Give new passwords to the roles a selection finds, one file per role in --secret-dir
    ///
    /// The selection is read first, on every cluster: the roles named, else
    /// those whose marker is of --type, whose password pgacct set longer ago
    /// than --older-than (a role whose age the audit trail does not know is
    /// left out, and counted), and with --md5 every role whose password is
    /// stored as md5. Superusers and the admin role are never rotated. The
    /// plan (each role and its clusters) is shown, and confirmed where an
    /// env is protected (--yes for scripts). Then each role in turn is reset
    /// as reset-password resets it (one new password on all its clusters,
    /// VALID UNTIL renewed, one audit operation), and its password written
    /// to DIR/ROLE.FORMAT (mode 0600; DIR made 0700 if missing). Every file
    /// is checked before anything changes: an existing one is refused
    /// without --force. Ctrl-C stops between roles.
    ///
    /// Example: pgacct user rotate --env prod --all --older-than 90d --secret-dir /run/rotated --secret-format json
    Rotate(RotateArgs),

    /// Stop a role from logging in (NOLOGIN)
    Lock(LockArgs),

    /// Let a locked role log in again (LOGIN)
    Unlock(UnlockArgs),

    /// Make a role a member of a group role (GRANT GROUP TO NAME)
    ///
    /// The plan refuses, before anything changes, a group that does not
    /// exist, one with powers beyond data (a superuser, REPLICATION,
    /// BYPASSRLS, the server's files or programs, or a member of such a
    /// role: grant those by hand as a superuser), and one the admin may not
    /// grant (from PostgreSQL 16 it needs ADMIN OPTION on the group). A role
    /// that is a member already is left as it is. Protected environments
    /// ask first, and the grant is in the audit trail.
    ///
    /// Example: pgacct user grant-role --env qa --db orders alice orders_ro
    GrantRole(MembershipArgs),

    /// End a role's membership in a group role (REVOKE GROUP FROM NAME)
    ///
    /// From PostgreSQL 16 a role may be a member by several grants, one per
    /// grantor: each is revoked (REVOKE ... GRANTED BY the grantor), and
    /// the plan refuses, before anything changes, a grant the admin may not
    /// revoke (another grantor's, for a CREATEROLE admin). A role that is
    /// not a member is left as it is.
    ///
    /// Example: pgacct user revoke-role --env qa --db orders alice orders_ro
    RevokeRole(MembershipArgs),

    /// Remove a role from the targets' clusters
    ///
    /// First a plan on each cluster: what the role owns and holds in each
    /// database, its sessions and memberships, shown and confirmed (--yes
    /// for scripts). The plan refuses, before anything changes, a heir that
    /// does not exist, a database that holds something of the role and
    /// cannot be connected to, and privileges the admin could not revoke.
    /// Then: NOLOGIN, its sessions ended, in each database that holds
    /// something of it REASSIGN OWNED BY it TO the heir (--reassign-to,
    /// default the admin role) and DROP OWNED BY it, and DROP ROLE. If a
    /// step still fails, the role stays NOLOGIN, the memberships the admin
    /// gave itself are taken back, and the report names the database.
    /// pgacct never drops the admin role it connects as, or a superuser.
    Drop(DropArgs),
}

#[derive(Debug, Args)]
pub struct ListUsersArgs {
    #[command(flatten)]
    pub targets: TargetArgs,

    /// Only roles whose name matches (psql-style: * and ?)
    #[arg(long, value_name = "PATTERN")]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("problem").multiple(true)
    .args(["expiring_within", "older_than", "md5", "unmanaged"])))]
pub struct ReportArgs {
    #[command(flatten)]
    pub targets: TargetArgs,

    /// Only roles whose name matches (psql-style: * and ?)
    #[arg(long, value_name = "PATTERN")]
    pub name: Option<String>,

    /// Roles whose VALID UNTIL is within this span, or past (e.g. 14d)
    #[arg(long, value_name = "SPAN", value_parser = parse_span)]
    pub expiring_within: Option<jiff::SignedDuration>,

    /// Roles whose password pgacct set longer ago than this span (e.g. 90d)
    #[arg(long, value_name = "SPAN", value_parser = parse_span)]
    pub older_than: Option<jiff::SignedDuration>,

    /// Roles whose password is stored as an md5 hash
    #[arg(long)]
    pub md5: bool,

    /// Roles pgacct did not create (no marker)
    #[arg(long)]
    pub unmanaged: bool,

    /// Exit 1 when a role matches the filters
    #[arg(long, requires = "problem")]
    pub fail_if_any: bool,
}

/// A span such as `14d`, `90d`, `12h`, `2w`.
fn parse_span(s: &str) -> Result<jiff::SignedDuration, String> {
    crate::time::span(s)
        .ok_or_else(|| format!("invalid span '{s}': give a number and a unit, e.g. 14d, 12h, 2w"))
}

#[derive(Debug, Args)]
pub struct UserNameArgs {
    #[command(flatten)]
    pub targets: TargetArgs,

    /// The role
    pub name: String,
}

#[derive(Debug, Args)]
pub struct LockArgs {
    #[command(flatten)]
    pub targets: ChangeTargetArgs,

    /// The role
    pub name: String,

    /// Also end the role's current sessions
    #[arg(long)]
    pub terminate: bool,

    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Args)]
pub struct UnlockArgs {
    #[command(flatten)]
    pub targets: ChangeTargetArgs,

    /// The role
    pub name: String,

    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Args)]
pub struct MembershipArgs {
    #[command(flatten)]
    pub targets: ChangeTargetArgs,

    /// The role
    pub name: String,

    /// The group role
    pub group: String,

    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Args)]
pub struct DropArgs {
    #[command(flatten)]
    pub targets: ChangeTargetArgs,

    /// The role
    pub name: String,

    /// The role that gets what it owns [default: the admin role]
    #[arg(long, value_name = "ROLE", value_parser = parse_role_reference)]
    pub reassign_to: Option<String>,

    #[command(flatten)]
    pub change: ChangeArgs,
}

/// An existing role named on the command line: any name PostgreSQL allows.
fn parse_role_reference(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > 63 || s.contains('\0') {
        return Err("a role name is 1 to 63 bytes, without NUL".into());
    }
    Ok(s.to_owned())
}

/// The targets a change works on: those of TargetArgs, or the ones where
/// an earlier operation did not succeed.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("selection").required(true).multiple(true)
    .args(["dbs", "clusters", "wheres", "all", "retry"])))]
pub struct ChangeTargetArgs {
    /// Environment of the targets
    #[arg(long, value_name = "ENV", required_unless_present = "retry", add = completion::envs())]
    pub env: Option<EnvName>,

    /// Every target with this database name, on any cluster (repeatable)
    #[arg(long = "db", value_name = "DB", conflicts_with_all = ["all", "retry"],
          add = completion::dbs())]
    pub dbs: Vec<DbName>,

    /// The targets on this cluster, HOST or HOST:PORT (repeatable)
    #[arg(long = "cluster", value_name = "HOST[:PORT]", conflicts_with_all = ["all", "retry"],
          add = completion::clusters())]
    pub clusters: Vec<ClusterRef>,

    /// The targets with this label, KEY=VALUE (repeatable: all must match)
    #[arg(long = "where", value_name = "KEY=VALUE", conflicts_with_all = ["all", "retry"],
          add = completion::labels())]
    pub wheres: Vec<Label>,

    /// Every active database of the environment
    #[arg(long, conflicts_with = "retry")]
    pub all: bool,

    /// The targets where operation ID did not succeed (the id of any of its
    /// records, as `audit show` and a partial result's hint give it)
    #[arg(long, value_name = "ID")]
    pub retry: Option<i64>,

    #[command(flatten)]
    pub jobs: JobsArgs,
}

/// The databases a reading user command works on.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("selection").required(true).multiple(true)
    .args(["dbs", "clusters", "wheres", "all"])))]
pub struct TargetArgs {
    /// Environment of the targets
    #[arg(long, value_name = "ENV", required_unless_present = "all_envs", add = completion::envs())]
    pub env: Option<EnvName>,

    /// Every environment
    #[arg(long, conflicts_with = "env")]
    pub all_envs: bool,

    /// Every target with this database name, on any cluster (repeatable)
    #[arg(long = "db", value_name = "DB", conflicts_with = "all", add = completion::dbs())]
    pub dbs: Vec<DbName>,

    /// The targets on this cluster, HOST or HOST:PORT (repeatable)
    #[arg(long = "cluster", value_name = "HOST[:PORT]", conflicts_with = "all",
          add = completion::clusters())]
    pub clusters: Vec<ClusterRef>,

    /// The targets with this label, KEY=VALUE (repeatable: all must match)
    #[arg(long = "where", value_name = "KEY=VALUE", conflicts_with = "all",
          add = completion::labels())]
    pub wheres: Vec<Label>,

    /// Every active database of the environment
    #[arg(long)]
    pub all: bool,

    #[command(flatten)]
    pub jobs: JobsArgs,
}

/// Where a new password comes from and where it goes.
#[derive(Debug, Args)]
pub struct PasswordArgs {
    /// Read the password from stdin instead of generating one (one line; on a terminal, asked twice)
    #[arg(long, conflicts_with = "password_from")]
    pub password_stdin: bool,

    /// Take the password from a secret file pgacct wrote earlier (any --secret-format)
    #[arg(long, value_name = "PATH", value_hint = ValueHint::FilePath)]
    pub password_from: Option<PathBuf>,

    /// Write the password to this file (mode 0600) instead of showing it
    #[arg(long, value_name = "PATH", value_hint = ValueHint::FilePath)]
    pub secret_file: Option<PathBuf>,

    /// Format of the secret file
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        default_value = "env",
        requires = "secret_file"
    )]
    pub secret_format: SecretFormatArg,

    /// Replace an existing secret file
    #[arg(long, requires = "secret_file")]
    pub force: bool,

    /// Pipe the password to the program given after -- (the json format's document on stdin)
    ///
    /// The program and its arguments follow a `--` at the end of the command line, e.g.
    /// `--secret-command -- vault kv put secret/app -`; nothing after `--` is read as an option
    /// of pgacct's. It is run without a shell, with pgacct's environment less the admin
    /// passwords and the audit key, its stdout discarded; it must exit with status 0 within 60 s.
    /// pgacct checks that the program exists and is executable before anything changes; when it
    /// fails afterwards, the document is printed on stdout (unless a --secret-file holds the
    /// password) and the exit code is 1. The password is never in its arguments.
    #[arg(long, requires = "secret_argv")]
    pub secret_command: bool,

    /// The --secret-command program and its arguments
    #[arg(last = true, value_name = "PROGRAM [ARGS]", requires = "secret_command",
          value_hint = ValueHint::CommandWithArguments)]
    pub secret_argv: Vec<std::ffi::OsString>,
}

/// How long the new password is valid, for one run.
#[derive(Debug, Args)]
pub struct ExpiryArgs {
    /// VALID UNTIL now plus this span (30d, 12h, 2w) or never, instead of the type's valid_for_days
    #[arg(long, value_name = "SPAN", value_parser = ValidFor::parse)]
    pub valid_for: Option<ValidFor>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SecretFormatArg {
    /// NAME=value lines: PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD, DATABASE_URL (one target)
    Env,
    /// One JSON document: user, password, and the targets with their URLs
    Json,
    /// Password-file lines (host:port:database:user:password)
    Pgpass,
    /// One postgresql:// URL per target
    Url,
    /// A Kubernetes Secret manifest (stringData) per target
    K8sSecret,
    /// A pgbouncer userlist.txt line: "role" "SCRAM-SHA-256$..." (the verifier set, never the password)
    Pgbouncer,
}

#[derive(Debug, Args)]
pub struct CreateVmArgs {
    #[command(flatten)]
    pub targets: ChangeTargetArgs,

    /// The server the service runs on (host name or IP address)
    #[arg(long, value_name = "NAME")]
    pub server: String,

    /// The port the service listens on
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub service_port: u16,

    #[command(flatten)]
    pub password: PasswordArgs,

    #[command(flatten)]
    pub expiry: ExpiryArgs,

    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Args)]
pub struct CreateK8sArgs {
    #[command(flatten)]
    pub targets: ChangeTargetArgs,

    /// The service's name
    #[arg(long, value_name = "NAME")]
    pub service: String,

    /// The name prefix [default: per environment]
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,

    #[command(flatten)]
    pub password: PasswordArgs,

    #[command(flatten)]
    pub expiry: ExpiryArgs,

    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub targets: ChangeTargetArgs,

    /// The account type
    #[arg(long = "type", value_name = "TYPE", add = completion::account_types())]
    pub kind: String,

    /// The role name, exactly as it is to be (a-z, 0-9, _)
    pub name: String,

    #[command(flatten)]
    pub password: PasswordArgs,

    #[command(flatten)]
    pub expiry: ExpiryArgs,

    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Args)]
pub struct ResetPasswordArgs {
    #[command(flatten)]
    pub targets: ChangeTargetArgs,

    /// The role
    pub name: String,

    /// The role's account type, for its valid_for_days and password length [default: the one in the role's marker]
    #[arg(long = "type", value_name = "TYPE", add = completion::account_types())]
    pub kind: Option<String>,

    #[command(flatten)]
    pub password: PasswordArgs,

    #[command(flatten)]
    pub expiry: ExpiryArgs,

    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("selector").required(true).multiple(true)
    .args(["names", "kind", "older_than", "md5"])))]
pub struct RotateArgs {
    #[command(flatten)]
    pub targets: ChangeTargetArgs,

    /// The roles to rotate [default: those the options below select]
    #[arg(value_name = "NAME", conflicts_with_all = ["kind", "older_than", "md5"])]
    pub names: Vec<String>,

    /// Roles whose pgacct marker is of this account type
    #[arg(long = "type", value_name = "TYPE", add = completion::account_types())]
    pub kind: Option<String>,

    /// Roles whose password pgacct set longer ago than this span (e.g. 90d)
    #[arg(long, value_name = "SPAN", value_parser = parse_span)]
    pub older_than: Option<jiff::SignedDuration>,

    /// Also every role whose password is stored as an md5 hash
    #[arg(long)]
    pub md5: bool,

    /// The directory for the secret files, one per role (made, mode 0700, if missing)
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub secret_dir: PathBuf,

    /// Format of the secret files (env only for roles on one target)
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "json")]
    pub secret_format: SecretFormatArg,

    /// Replace existing secret files
    #[arg(long)]
    pub force: bool,

    #[command(flatten)]
    pub expiry: ExpiryArgs,

    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub targets: ChangeTargetArgs,

    /// The roles to sync [default: every role whose marker is of --type]
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,

    /// The account type to bring them to [default: the one in each role's marker]
    #[arg(long = "type", value_name = "TYPE", add = completion::account_types())]
    pub kind: Option<String>,

    /// Only report: exit 1 when anything would change, 0 when nothing would
    #[arg(long, conflicts_with_all = ["dry_run", "yes"])]
    pub check: bool,

    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Args)]
pub struct SetSearchPathArgs {
    #[command(flatten)]
    pub targets: ChangeTargetArgs,

    /// The role
    pub name: String,

    /// Schemas, in order ($user allowed)
    #[arg(required = true, value_name = "SCHEMA")]
    pub schemas: Vec<String>,

    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Send a test event through the configured channels and report each result
    ///
    /// Filters (envs, operations) are ignored: every channel (of --kind)
    /// gets the test. Exit 0 when all succeed, 3 when some do, 1 when none.
    Test(NotifyTestArgs),
}

#[derive(Debug, Args)]
pub struct NotifyTestArgs {
    /// Only channels of this kind
    #[arg(long, value_enum)]
    pub kind: Option<NotifyKindArg>,

    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NotifyKindArg {
    Slack,
    Webex,
    Webhook,
    Command,
    Email,
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Create or upgrade a team store: a schema in a shared PostgreSQL database
    ///
    /// The store holds the registry and an audit trail whose time, writer
    /// and chain hash the server sets; pgacct's users may only append to
    /// it. Its owner runs the setup once (again after upgrading pgacct),
    /// and grants the users' role to each person or CI role.
    ///
    /// Example: pgacct store init --registry postgresql://owner@db/pgacct
    ///
    /// Or review the script and run it yourself: pgacct store init
    /// --print-sql | psql -v ON_ERROR_STOP=1 -d postgresql://owner@db/pgacct
    ///
    /// Then, in that database: GRANT pgacct_user TO alice;
    ///
    /// The store's URL comes from --registry, PGACCT_REGISTRY or [store]
    /// url in config.toml; its password from PGPASSWORD, [store]
    /// password_command, ~/.pgpass, or a prompt, never from the URL. The
    /// setup runs in one transaction; running it again applies only what
    /// the store lacks, and a store from a newer pgacct is left untouched.
    /// Every command then works on the store as on a registry file.
    Init(StoreInitArgs),

    /// Move a local registry and its audit trail into the team store
    ///
    /// Copies the targets of the registry file FILE and its whole audit
    /// trail into the team store named by --registry, PGACCT_REGISTRY or
    /// [store] url, in one transaction: all of it, or nothing. The file's
    /// hash chain is checked first (with the audit key when one is set; a
    /// trail sealed with a key needs it), and a broken chain is refused,
    /// naming the first bad record.
    ///
    /// Records keep their times, actors, hosts and pids; the store chains
    /// them after its own and marks them as imported, with their id and hash
    /// in the file (`audit show` has an imported_id column): the server
    /// chains them, it does not attest them. The move itself is recorded in
    /// the store's trail as the database user who ran it.
    ///
    /// Run it as the store's owner: pgacct's users may not import. Running
    /// it again moves only what the file gained since, and refuses a file
    /// whose records differ from the ones moved in before. A target the
    /// store has already is left as it is; a warning names those whose
    /// settings differ.
    ///
    /// Example: pgacct store migrate --from ~/.local/share/pgacct/pgacct.db
    /// --registry postgresql://owner@db/pgacct
    Migrate(StoreMigrateArgs),
}

#[derive(Debug, Args)]
pub struct StoreMigrateArgs {
    /// The local registry file to move in (read only; never changed)
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub from: PathBuf,

    /// Check the file and the store, say what would be moved, and change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// A change reference (ticket) recorded with the move in the store's trail
    #[arg(long, value_name = "TEXT", value_parser = parse_ticket)]
    pub ticket: Option<String>,
}

#[derive(Debug, Args)]
pub struct StoreInitArgs {
    /// Print the setup script (SQL) to stdout instead of running it; connects to nothing
    #[arg(long)]
    pub print_sql: bool,

    /// Connect and read the store's version, print the SQL the setup would run, and change nothing
    #[arg(long, conflicts_with = "print_sql")]
    pub dry_run: bool,

    /// The schema that holds the store [default: [store] schema in config.toml, else pgacct]
    #[arg(long, value_name = "NAME")]
    pub schema: Option<crate::store::team::StoreSchema>,

    /// The NOLOGIN role granted to pgacct's users (created when missing)
    #[arg(long, value_name = "NAME", default_value = crate::store::team::DEFAULT_ROLE)]
    pub role: crate::policy::RoleName,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Show operations, newest first
    ///
    /// One row per operation: its outcome (ok, failed, or incomplete when
    /// the process ended before recording one), what it concerned, what
    /// happened, who ran it, where and under which ticket. Times are UTC.
    ///
    /// With a team store (--registry postgresql://...), shows the shared
    /// trail with the same filters and columns, as any user granted the
    /// store's role; the actor there is the database user who wrote the
    /// record, as the server recorded it.
    ///
    /// Example: pgacct audit show --env prod --since 7d --failed
    Show(AuditShowArgs),

    /// Check that the trail is intact
    ///
    /// Walks the hash chain from the first record to the last. Exit 0 and
    /// the number of records and the head (last id and hash) when intact;
    /// exit 1 naming the first record that was edited, deleted, inserted or
    /// re-ordered. Note the head somewhere else and pass it to a later
    /// `--expect` to detect a trail that was cut short or rewritten.
    ///
    /// With the audit key (PGACCT_AUDIT_KEY or [audit] key_file), also
    /// checks every keyed record's HMAC, and fails on a trail with no keyed
    /// record. Without it, keyed records' HMACs are not checked (it says so).
    ///
    /// With a team store (--registry postgresql://...), checks the shared
    /// trail as the server wrote it, from any machine, as any user granted
    /// the store's role; the audit key does not apply there.
    Verify(AuditVerifyArgs),

    /// Seal the trail: from the next record on, every record must be made
    /// with the audit key
    ///
    /// Writes one record with the key (PGACCT_AUDIT_KEY or [audit]
    /// key_file). Any change made with the key seals the trail as well;
    /// this does it now, and tells the notification channels the head.
    Seal(AuditSealArgs),
}

#[derive(Debug, Args)]
pub struct AuditSealArgs {
    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Args)]
pub struct AuditShowArgs {
    /// Only this environment
    #[arg(long, value_name = "ENV", add = completion::envs())]
    pub env: Option<EnvName>,

    /// Every environment (the default)
    #[arg(long, conflicts_with = "env")]
    pub all_envs: bool,

    /// Only this database
    #[arg(long, value_name = "DB", add = completion::dbs())]
    pub db: Option<DbName>,

    /// Only operations on this PostgreSQL role
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,

    /// Only operations run by this OS user (with a team store: this database user)
    #[arg(long, value_name = "NAME")]
    pub actor: Option<String>,

    /// Only this operation, or a group of them (e.g. registry, registry.add)
    #[arg(long, value_name = "OP")]
    pub operation: Option<String>,

    /// From this time: RFC 3339, a date (UTC), or a span before now (24h, 7d)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,

    /// Up to this time (a date includes the whole day)
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,

    /// Only failed operations
    #[arg(long, conflicts_with = "incomplete")]
    pub failed: bool,

    /// Only operations without an outcome (killed, or still running)
    #[arg(long)]
    pub incomplete: bool,

    /// Show at most N operations; 0 shows all
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: u32,
}

#[derive(Debug, Args)]
pub struct AuditVerifyArgs {
    /// A head noted earlier (ID:HASH, as `audit verify` prints it) that must
    /// still be in the trail, unchanged
    #[arg(long, value_name = "ID:HASH")]
    pub expect: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Register a target database
    ///
    /// Example: pgacct registry add --env prod --db orders --host db1.example.com --sslmode verify-full --sslrootcert /etc/ssl/pg-ca.pem
    Add(AddArgs),

    /// List registered targets
    List(ListArgs),

    /// Show one target
    Show(TargetSelectArgs),

    /// Change a target's settings
    ///
    /// Only the options given change. `--unset FIELD` clears an optional
    /// setting.
    Update(UpdateArgs),

    /// Mark a target active again
    Activate(TargetChangeArgs),

    /// Mark a target inactive: kept, but skipped by `--all`
    Deactivate(TargetChangeArgs),

    /// Remove a target from the registry (nothing on the server changes)
    Remove(TargetChangeArgs),

    /// Add the targets of a CSV, TOML or JSON file, or sync with it
    ///
    /// CSV needs the header columns env, db and host, and may have port,
    /// active, notes, sslmode, sslrootcert, sslcert, sslkey, admin_user and
    /// labels (k=v;k=v); older inventories' db_name and hostname are accepted
    /// too, and other columns (a CMDB export's own) are ignored with a
    /// warning. TOML has one [[targets]] table per target. Targets already
    /// registered are skipped and reported; the rest are added in one
    /// transaction. With --sync, the registry is made to match the file for
    /// the environments it lists (or --env): new targets are added, changed
    /// ones updated (every difference is listed), and active ones the file
    /// does not list are deactivated, never removed. A target is the same
    /// when its env, host, port and db are. The whole file is checked first:
    /// one bad row and nothing is imported. The audit trail records each
    /// change, and one summary.
    Import(ImportArgs),

    /// Print every target in a form `registry import` reads back
    ///
    /// --format csv (the default), json or toml.
    Export,

    /// Connect to targets and report what pgacct finds there
    ///
    /// For each selected active target (all of them by default): reachable,
    /// latency, server version, TLS in use, whether it is in recovery, the
    /// admin role's powers, password_encryption and scram_iterations.
    /// Targets are checked concurrently. Exit 0 when all are reachable, 3
    /// when some are, 1 when none.
    Check(CheckArgs),
}

/// Which registry entry.
#[derive(Debug, Args)]
pub struct TargetKeyArgs {
    /// Environment name, e.g. dev, qa, prod
    #[arg(long, value_name = "ENV", add = completion::envs())]
    pub env: EnvName,

    /// Database name on the server
    #[arg(long, value_name = "DB", add = completion::dbs())]
    pub db: DbName,
}

/// One registry entry: its env and db, and its cluster when the db is on
/// several clusters of the env.
#[derive(Debug, Args)]
pub struct TargetSelectArgs {
    #[command(flatten)]
    pub key: TargetKeyArgs,

    /// The cluster, HOST or HOST:PORT, when the env has the db on several
    #[arg(long, value_name = "HOST[:PORT]", add = completion::clusters())]
    pub cluster: Option<ClusterRef>,
}

/// One registry entry, to change.
#[derive(Debug, Args)]
pub struct TargetChangeArgs {
    #[command(flatten)]
    pub target: TargetSelectArgs,

    #[command(flatten)]
    pub change: ChangeArgs,
}

/// TLS settings, as libpq names them.
#[derive(Debug, Args)]
pub struct TlsArgs {
    /// libpq sslmode [default: $PGSSLMODE, else prefer]
    #[arg(long, value_name = "MODE", value_parser = sslmode_parser())]
    pub sslmode: Option<SslMode>,

    /// How TLS starts: postgres, or direct (PostgreSQL 17+, needs sslmode require or stronger) [default: $PGSSLNEGOTIATION, else postgres]
    ///
    /// direct starts the TLS handshake at once instead of asking the server
    /// first, one round trip fewer. A server before PostgreSQL 17 does not
    /// understand it, so, as in libpq, it is refused with an sslmode that
    /// could fall back to an unencrypted connection.
    #[arg(long, value_name = "HOW", value_parser = sslnegotiation_parser())]
    pub sslnegotiation: Option<SslNegotiation>,

    /// CA certificates (PEM file) to verify the server with, or `system`
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub sslrootcert: Option<RootCert>,

    /// Client certificate (PEM file), with --sslkey
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath,
          value_parser = |s: &str| CertFile::parse_in("sslcert", s, Path::new(".")))]
    pub sslcert: Option<CertFile>,

    /// Client private key (PEM file), with --sslcert
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath,
          value_parser = |s: &str| CertFile::parse_in("sslkey", s, Path::new(".")))]
    pub sslkey: Option<CertFile>,
}

fn sslmode_parser() -> impl TypedValueParser<Value = SslMode> {
    PossibleValuesParser::new(SslMode::ALL.map(SslMode::as_str)).try_map(|s| s.parse::<SslMode>())
}

fn sslnegotiation_parser() -> impl TypedValueParser<Value = SslNegotiation> {
    PossibleValuesParser::new(SslNegotiation::ALL.map(SslNegotiation::as_str))
        .try_map(|s| s.parse::<SslNegotiation>())
}

/// `--admin-password-command` of `registry update`: a command, or `None`
/// (given as `''`) to clear it.
#[derive(Debug, Clone)]
pub struct CommandOrClear(pub Option<PasswordCommand>);

#[derive(Debug, Args)]
pub struct AddArgs {
    #[command(flatten)]
    pub key: TargetKeyArgs,

    /// Host name, IP address, Unix-socket directory (starting with /), or a list of them
    ///
    /// A list (db1,db2:5433, as libpq takes it; an entry without a port
    /// uses --port) is one cluster: pgacct works on whichever of its hosts
    /// is the read-write primary, so a failover needs no registry change.
    #[arg(long, value_name = "HOST")]
    pub host: Host,

    /// Port
    #[arg(long, default_value_t = crate::registry::DEFAULT_PORT,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,

    #[command(flatten)]
    pub tls: TlsArgs,

    /// Role pgacct logs in as [default: $PGACCT_ADMIN_USER, $PG_ADMIN_USER, $PGUSER, the OS user]
    #[arg(long, value_name = "ROLE")]
    pub admin_user: Option<AdminUser>,

    /// A program that prints the admin password, 'PROGRAM ARGS...' [default: [env.ENV] admin_password_command in config.toml]
    ///
    /// The words are split as a shell splits them (quotes, backslashes),
    /// but no shell runs: nothing is expanded. The program runs at most
    /// once per pgacct run, with stdin from /dev/null and its stderr on
    /// yours; its stdout, less one trailing newline, is the password, and
    /// is never shown or logged. The admin password is the first found of:
    /// $PGACCT_ADMIN_PASSWORD_<ENV>, $PGACCT_ADMIN_PASSWORD, $PG_ADMIN_PASS,
    /// $PGPASSWORD, this command (or the env's), the password file
    /// ($PGPASSFILE or ~/.pgpass), and a prompt on a terminal.
    #[arg(long, value_name = "COMMAND")]
    pub admin_password_command: Option<PasswordCommand>,

    /// A label, KEY=VALUE, for --where to select by (repeatable)
    #[arg(long = "label", value_name = "KEY=VALUE", add = completion::labels())]
    pub labels: Vec<Label>,

    /// Free text kept with the entry
    #[arg(long, value_name = "TEXT")]
    pub notes: Option<String>,

    /// Register the target as inactive
    #[arg(long)]
    pub inactive: bool,

    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub target: TargetSelectArgs,

    /// New host name, IP address, Unix-socket directory, or a list of them (db1,db2:5433)
    #[arg(long, value_name = "HOST")]
    pub host: Option<Host>,

    /// New port
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,

    #[command(flatten)]
    pub tls: TlsArgs,

    /// New admin role
    #[arg(long, value_name = "ROLE")]
    pub admin_user: Option<AdminUser>,

    /// New program that prints the admin password, 'PROGRAM ARGS...'; '' clears it
    ///
    /// Split into words as a shell splits them, and run without one (see
    /// `registry add --help`).
    #[arg(long, value_name = "COMMAND",
          value_parser = |s: &str| PasswordCommand::parse_words(s).map(CommandOrClear))]
    pub admin_password_command: Option<CommandOrClear>,

    /// New notes
    #[arg(long, value_name = "TEXT")]
    pub notes: Option<String>,

    /// Clear an optional setting (repeatable)
    #[arg(long, value_enum, value_name = "FIELD")]
    pub unset: Vec<UnsetField>,

    /// Set a label, KEY=VALUE (repeatable)
    #[arg(long = "label", value_name = "KEY=VALUE", add = completion::labels())]
    pub labels: Vec<Label>,

    /// Remove a label (repeatable)
    #[arg(long = "unset-label", value_name = "KEY", add = completion::label_key_names())]
    pub unset_labels: Vec<LabelKey>,

    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UnsetField {
    Sslmode,
    Sslnegotiation,
    Sslrootcert,
    Sslcert,
    Sslkey,
    AdminUser,
    AdminPasswordCommand,
    Notes,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this environment
    #[arg(long, value_name = "ENV", add = completion::envs())]
    pub env: Option<EnvName>,

    /// Only active targets
    #[arg(long)]
    pub active_only: bool,

    /// Only targets with this label, KEY=VALUE (repeatable: all must match)
    #[arg(long = "where", value_name = "KEY=VALUE", add = completion::labels())]
    pub wheres: Vec<Label>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Only this environment [default: every environment]
    #[arg(long, value_name = "ENV", add = completion::envs())]
    pub env: Option<EnvName>,

    /// Every environment (the default)
    #[arg(long, conflicts_with = "env")]
    pub all_envs: bool,

    /// Only targets with this database name, on any cluster (repeatable)
    #[arg(long = "db", value_name = "DB", add = completion::dbs())]
    pub dbs: Vec<DbName>,

    /// Only the targets on this cluster, HOST or HOST:PORT (repeatable)
    #[arg(long = "cluster", value_name = "HOST[:PORT]", add = completion::clusters())]
    pub clusters: Vec<ClusterRef>,

    /// Only targets with this label, KEY=VALUE (repeatable: all must match)
    #[arg(long = "where", value_name = "KEY=VALUE", add = completion::labels())]
    pub wheres: Vec<Label>,

    #[command(flatten)]
    pub jobs: JobsArgs,
}

/// How many clusters to work on at once by default: enough that a fan-out
/// over a fleet of a hundred clusters runs in one wave (one session per
/// cluster is nothing to its server), while memory (about 30 KiB per
/// session) and file descriptors stay bounded for any fleet. Measured in
/// bench/fleet_reads.sh: over 500 clusters at 20 ms RTT, 8 jobs took 9.8 s,
/// 64 took 5.0 s, 128 3.9 s and 256 3.5 s (2 cores, CPU-bound beyond 128).
pub const DEFAULT_JOBS: u16 = 128;

/// How many targets to work on at once.
#[derive(Debug, Args)]
pub struct JobsArgs {
    /// Work on at most N clusters at once (one session each; registry check: at most 4 per cluster)
    #[arg(short = 'j', long = "jobs", value_name = "N", default_value_t = DEFAULT_JOBS,
          value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub jobs: u16,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The inventory file (.csv, .toml or .json; `-` for stdin)
    #[arg(value_hint = ValueHint::FilePath)]
    pub file: PathBuf,

    /// Make the registry match the file: add, update, and deactivate the
    /// targets it does not list
    #[arg(long)]
    pub sync: bool,

    /// With --sync: only this environment; the file's other rows are left out
    #[arg(long, value_name = "ENV", requires = "sync", add = completion::envs())]
    pub env: Option<EnvName>,

    #[command(flatten)]
    pub change: ChangeArgs,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_interface_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
