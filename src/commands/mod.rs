//! Commands: each turns parsed options into a request to the library (a
//! change goes through [`change`], the one pipeline) and renders the
//! results with [`Output`].

mod audit;
mod change;
mod generate;
mod notify;
mod registry;
mod store;
mod targets;
mod user;

use std::cell::{OnceCell, RefCell};
use std::future::Future;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use futures_util::StreamExt;

use crate::cli::{ChangeArgs, Cli, Command, Format, GlobalArgs};
use crate::config::Config;
use crate::error::{CommandError, CommandResult};
use crate::output::{Layout, Messages, Output};
use crate::pg::{ConnSettings, Connections, Connector, LibpqEnv, Prompt, StoreConn};
use crate::registry::Target;
use crate::secret::Secret;
use crate::store::team::{Names, StoreSchema, TeamStore};
use crate::store::{FileStore, Store, StoreLocation};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> CommandResult {
    let messages = Messages::new(cli.global.quiet, cli.global.verbose);
    let mut ctx = Context {
        global: cli.global,
        messages,
        config: OnceCell::new(),
        runtime: OnceCell::new(),
        team: OnceCell::new(),
        reads_registry: matches!(cli.command, Command::Registry(_) | Command::User(_)),
        connections: RefCell::default(),
    };
    let result = match cli.command {
        Command::Registry(command) => registry::run(command, &ctx),
        Command::Audit(command) => audit::run(command, &ctx),
        Command::User(command) => user::run(command, &ctx),
        Command::Notify(command) => notify::run(command, &ctx),
        Command::Store(command) => store::run(command, &ctx),
        Command::GenerateAssets { dir } => generate::run(&dir),
    };
    // The team store's session ends with the others.
    drop(ctx.team.take());
    ctx.close_connections();
    result
}

/// What every command may need, each made at most once per run: the
/// global options, the configuration, the async runtime.
#[derive(Debug)]
pub(crate) struct Context {
    pub global: GlobalArgs,
    pub messages: Messages,
    config: OnceCell<Config>,
    runtime: OnceCell<Arc<tokio::runtime::Runtime>>,
    /// The team store, once connected to: one session per run.
    team: OnceCell<TeamStore>,
    /// The command reads the registry: a team store's targets are read as
    /// it is opened, in the same round trip.
    reads_registry: bool,
    /// The connection tasks of every connector made, to end cleanly.
    connections: RefCell<Vec<Connections>>,
}

impl Context {
    /// The output for a command whose default format is `default`; a
    /// format the command does not offer is refused.
    pub fn output(&self, default: Format, allowed: &[Format]) -> Result<Output, CommandError> {
        let format = self.global.format.unwrap_or(default);
        if !allowed.contains(&format) {
            let names: Vec<_> = allowed.iter().map(|f| format_name(*f)).collect();
            return Err(CommandError::usage(format!(
                "this command does not write --format {}; it writes {}",
                format_name(format),
                names.join(", ")
            )));
        }
        let layout = match (self.global.expanded, self.global.wide) {
            (true, _) => Layout::Expanded,
            (false, true) => Layout::Wide,
            (false, false) => Layout::Auto,
        };
        Ok(Output::new(format).with_layout(layout))
    }

    /// Where the store is: `--registry` (or `PGACCT_REGISTRY`), else
    /// `[store] url` in config.toml, else the default file. A URL is a
    /// team store; anything else a file.
    pub fn store_location(&self) -> Result<StoreLocation, CommandError> {
        if let Some(given) = &self.global.registry {
            return StoreLocation::parse(given.clone()).map_err(|err| {
                let hint = err.hint();
                CommandError::usage(err).hint(hint)
            });
        }
        // A file with errors is reported by `config()` itself.
        if let Some(location) = self.config()?.store.location().ok().flatten() {
            return Ok(location);
        }
        let path = crate::registry::default_path().ok_or_else(|| {
            CommandError::usage("cannot find a home directory for the default registry")
                .hint("pass --registry PATH or set PGACCT_REGISTRY")
        })?;
        Ok(StoreLocation::File(path))
    }

    /// The store for a command that reads only: a local file is never
    /// created or written (`None` when there is none yet); a team store is
    /// connected to.
    pub fn store_to_read(&self) -> Result<Option<Store>, CommandError> {
        let path = match self.store_location()? {
            StoreLocation::Team(conn) => return self.team_store(&conn).map(Some),
            StoreLocation::File(path) => path,
        };
        self.messages.detail(&format!("registry: {}", path.display()));
        FileStore::open_to_read(&path)
            .map(|store| store.map(Store::File))
            .map_err(|err| CommandError::from(err).context("cannot open the registry"))
    }

    /// The store for a command that reads only, which needs one to exist.
    pub fn registry(&self) -> Result<Store, CommandError> {
        match self.store_to_read()? {
            Some(store) => Ok(store),
            None => Err(crate::store::Error::absent(self.store_file()?).into()),
        }
    }

    /// The store a change plans from, which must exist: open for writing
    /// unless `args` asks for a dry run (which opens nothing for writing),
    /// so that the pipeline records through the same connection. A team
    /// store that cannot be reached refuses the change here, before any
    /// target is touched.
    pub fn registry_to_change(&self, args: &ChangeArgs) -> Result<Store, CommandError> {
        if args.dry_run {
            return self.registry();
        }
        let path = match self.store_location()? {
            StoreLocation::Team(conn) => return self.team_store(&conn),
            StoreLocation::File(path) => path,
        };
        self.messages.detail(&format!("registry: {}", path.display()));
        match FileStore::open_existing_to_write(&path) {
            Ok(Some(store)) => Ok(Store::File(store)),
            Ok(None) => Err(crate::store::Error::absent(path).into()),
            Err(err) => Err(CommandError::from(err).context("cannot open the registry")),
        }
    }

    /// The store for writing, created if needed: only the change pipeline
    /// asks for it, once a change is about to be made.
    pub fn store_to_write(&self) -> Result<Store, CommandError> {
        let path = match self.store_location()? {
            StoreLocation::Team(conn) => return self.team_store(&conn),
            StoreLocation::File(path) => path,
        };
        self.messages.detail(&format!("registry: {}", path.display()));
        FileStore::open_to_write(&path)
            .map(Store::File)
            .map_err(|err| CommandError::from(err).context("cannot open the registry"))
    }

    /// The registry file's path, for messages about it.
    fn store_file(&self) -> Result<PathBuf, CommandError> {
        match self.store_location()? {
            StoreLocation::File(path) => Ok(path),
            StoreLocation::Team(_) => Err(CommandError::failure("the team store is not a file")),
        }
    }

    /// The team store's names: its schema from `schema` (`store init
    /// --schema`), else `[store] schema` in config.toml, else `pgacct`.
    pub fn store_names(&self, schema: Option<StoreSchema>) -> Result<Names, CommandError> {
        let schema = match schema {
            Some(schema) => schema,
            // A file with errors is reported by `config()` itself.
            None => self.config()?.store.schema().map_err(CommandError::usage)?,
        };
        Ok(Names { schema, ..Names::default() })
    }

    /// The team store at `conn`, connected to once per run and shared by
    /// every use of it. Every command opens it before it touches a target,
    /// so a store out of reach stops a change before anything changed.
    fn team_store(&self, conn: &StoreConn) -> Result<Store, CommandError> {
        if let Some(store) = self.team.get() {
            return Ok(Store::Team(store.clone()));
        }
        let (connector, settings) = self.store_connector(conn)?;
        let runtime = self.shared_runtime()?;
        let session = runtime.block_on(connector.connect_with(&settings)).map_err(|err| {
            CommandError::from(err).context("cannot reach the team store; nothing was done")
        })?;
        let store = TeamStore::open(runtime, session, self.store_names(None)?, self.reads_registry)
            .map_err(|err| CommandError::from(crate::store::Error::from(err)))?;
        Ok(Store::Team(self.team.get_or_init(|| store).clone()))
    }

    /// The configuration: `--config`, else the default file if it exists,
    /// else the built-in defaults.
    pub fn config(&self) -> Result<&Config, CommandError> {
        if let Some(config) = self.config.get() {
            return Ok(config);
        }
        let (path, named) = match &self.global.config {
            Some(path) => (path.clone(), true),
            None => match crate::config::default_path() {
                Some(path) => (path, false),
                None => return Ok(self.config.get_or_init(Config::default)),
            },
        };
        self.messages.detail(&format!("config: {}", path.display()));
        let config = Config::load(&path, named)?;
        Ok(self.config.get_or_init(|| config))
    }

    /// The runtime every connection of this run lives on.
    pub fn runtime(&self) -> Result<&tokio::runtime::Runtime, CommandError> {
        if let Some(runtime) = self.runtime.get() {
            return Ok(runtime);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| CommandError::from(err).context("cannot start the async runtime"))?;
        raise_open_file_limit();
        Ok(self.runtime.get_or_init(|| Arc::new(runtime)))
    }

    /// The runtime, for what keeps it beyond a borrow (the team store).
    fn shared_runtime(&self) -> Result<Arc<tokio::runtime::Runtime>, CommandError> {
        self.runtime()?;
        Ok(self.runtime.get().expect("the runtime was just made").clone())
    }

    /// A connector for this run's `targets`, with a password prompt when
    /// stdin is a terminal. Settings libpq would refuse are refused here,
    /// before any connection; problems with the password sources are
    /// shown once, here.
    pub fn connector(&self, targets: &[Target]) -> Result<Connector, CommandError> {
        let env = LibpqEnv::from_process()?;
        let config = self.config()?;
        let prompt =
            std::io::stdin().is_terminal().then(|| Arc::new(TerminalPrompt) as Arc<dyn Prompt>);
        let mut connector = Connector::new(env, config.connection(), prompt);
        if let Some(log) = crate::output::WireLog::for_verbosity(self.global.verbose) {
            connector.observe(Arc::new(log));
        }
        connector.check(targets).map_err(|err| {
            CommandError::from(err).hint(
                "give the target sslmode require or stronger (pgacct registry update ... \
                 --sslmode require), or unset PGSSLNEGOTIATION",
            )
        })?;
        self.connections.borrow_mut().push(connector.connections());
        for warning in connector.warnings() {
            self.messages.warn(&warning);
        }
        Ok(connector)
    }

    /// A connector and the settings of the team store `conn`: the
    /// password from `PGPASSWORD`, `[store] password_command`, the password
    /// file, then a prompt when stdin is a terminal.
    pub fn store_connector(
        &self,
        conn: &StoreConn,
    ) -> Result<(Connector, ConnSettings), CommandError> {
        let env = LibpqEnv::from_process()?;
        let config = self.config()?;
        let settings = ConnSettings::for_store(
            conn,
            &env,
            &config.connection(),
            config.store.password_command.clone(),
        );
        settings.check().map_err(|err| {
            CommandError::from(err)
                .hint("use sslmode=require or stronger in the store URL, or unset PGSSLNEGOTIATION")
        })?;
        let connector = self.connector(&[])?;
        self.messages.detail(&format!(
            "team store: database {} on {} as {}",
            settings.dbname,
            settings.cluster(),
            settings.user
        ));
        Ok((connector, settings))
    }

    /// Lets the connections of sessions that were dropped say goodbye
    /// (Terminate, TLS `close_notify`) before the runtime goes away: on a
    /// current-thread runtime their tasks run only inside `block_on`.
    fn close_connections(&self) {
        let Some(runtime) = self.runtime.get() else { return };
        for connections in self.connections.take() {
            runtime.block_on(connections.close_all());
        }
    }
}

/// Runs `work` on every item, at most `jobs` at a time, and returns the
/// results in the items' order.
pub(crate) async fn fan_out<I, F, Fut>(jobs: u16, items: I, work: F) -> Vec<Fut::Output>
where
    I: IntoIterator,
    F: FnMut(I::Item) -> Fut,
    Fut: Future,
{
    futures_util::stream::iter(items.into_iter().map(work))
        .buffered(usize::from(jobs))
        .collect()
        .await
}

/// Most open files the run asks for: two per cluster (its socket, and a
/// spare) for far more clusters than a fleet has.
const OPEN_FILES_WANTED: u64 = 16_384;

/// Raises the soft limit on open files towards the hard one, as far as
/// [`OPEN_FILES_WANTED`]: a change keeps one session per cluster open from
/// its plan to its end, and the usual soft limit (1,024) would end a
/// change over a thousand clusters midway. Where that is not allowed, the
/// limit stays, and a run that exceeds it says so per target.
fn raise_open_file_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let Some(current) = limit.current else { return };
    let wanted = limit.maximum.map_or(OPEN_FILES_WANTED, |max| max.min(OPEN_FILES_WANTED));
    if wanted > current {
        let _ = setrlimit(Resource::Nofile, Rlimit { current: Some(wanted), ..limit });
    }
}

/// A prompt that did not get an answer: Ctrl-C is an interruption (exit
/// 130), anything else an error.
pub(crate) fn prompt_failed(err: dialoguer::Error, what: &'static str) -> CommandError {
    let dialoguer::Error::IO(io) = err;
    if io.kind() == std::io::ErrorKind::Interrupted {
        CommandError::interrupted()
    } else {
        CommandError::from(io).context(what)
    }
}

/// Asks for a password on the terminal (stderr), without echo, with the
/// progress bar off the screen meanwhile.
struct TerminalPrompt;

impl Prompt for TerminalPrompt {
    fn password(&self, question: &str) -> Option<Secret> {
        crate::output::without_progress(|| {
            dialoguer::Password::new()
                .with_prompt(crate::output::for_terminal(question))
                .interact()
                .ok()
                .map(Secret::new)
        })
    }
}

/// Formats for commands that print records.
pub(crate) const RECORD_FORMATS: &[Format] = &[Format::Table, Format::Json, Format::Csv];

fn format_name(format: Format) -> &'static str {
    match format {
        Format::Table => "table",
        Format::Json => "json",
        Format::Csv => "csv",
        Format::Toml => "toml",
    }
}
