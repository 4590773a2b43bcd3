//! `pgacct registry ...`: the inventory of target databases. Every change
//! goes through the change pipeline: planned against the registry as it
//! is, confirmed for protected environments, journaled and announced.

mod check;
mod import;

use super::change::{self, Done, Item, Plan, Ran};
use super::{Context, RECORD_FORMATS};
use crate::cli::{
    AddArgs, ChangeArgs, CommandOrClear, Format, ListArgs, RegistryCommand, TargetChangeArgs,
    TargetKeyArgs, TargetSelectArgs, UnsetField, UpdateArgs,
};
use crate::error::{CommandError, CommandResult, Exit};
use crate::output::{self, Column, Output, Record};
use crate::registry::inventory::{self, InventoryFormat};
use crate::registry::{
    ClearableField, Entry, Error, Label, Labels, ListFilter, RegistryStore, Target, TargetChanges,
    TargetKey,
};
use crate::store::Store;

pub fn run(command: RegistryCommand, ctx: &Context) -> CommandResult {
    match command {
        RegistryCommand::Add(args) => add(args, ctx),
        RegistryCommand::List(args) => list(&args, ctx),
        RegistryCommand::Show(args) => show(args, ctx),
        RegistryCommand::Update(args) => update(args, ctx),
        RegistryCommand::Activate(args) => set_active(args, true, ctx),
        RegistryCommand::Deactivate(args) => set_active(args, false, ctx),
        RegistryCommand::Remove(args) => remove(args, ctx),
        RegistryCommand::Import(args) => import::run(&args, ctx),
        RegistryCommand::Export => export(ctx),
        RegistryCommand::Check(args) => check::run(&args, ctx),
    }
}

impl Record for Entry {
    const COLUMNS: &'static [Column] = &[
        Column::shown("env"),
        Column::shown("db"),
        Column::shown("host"),
        Column::shown("port"),
        Column::shown("sslmode"),
        Column::wide("sslnegotiation"),
        Column::wide("sslrootcert"),
        Column::wide("sslcert"),
        Column::wide("sslkey"),
        Column::shown("admin_user"),
        Column::wide("admin_password_command"),
        Column::shown("labels"),
        Column::shown("active"),
        Column::shown("notes"),
        Column::wide("created_at"),
        Column::wide("updated_at"),
    ];
}

/// A target not (yet) stored, as `--dry-run` shows it.
impl Record for Target {
    const COLUMNS: &'static [Column] = Entry::COLUMNS.split_at(14).0;
}

impl From<TargetKeyArgs> for TargetKey {
    fn from(args: TargetKeyArgs) -> Self {
        TargetKey { env: args.env, db: args.db }
    }
}

/// The one registered target `args` names: refused when the db is on
/// several clusters of the env and `--cluster` does not pick one.
fn selected(ctx: &Context, args: TargetSelectArgs) -> Result<Entry, CommandError> {
    Ok(ctx.registry()?.one(&args.key.into(), args.cluster.as_ref())?)
}

/// A change to one registry entry, planned: `target` is the entry as it
/// will be.
struct EntryChange<'a> {
    args: &'a ChangeArgs,
    /// `add`, `update`, `activate`, `deactivate`, `remove`.
    verb: &'static str,
    target: Target,
    /// What is about to happen, for the started record.
    intent: String,
    /// What happened, for the outcome record.
    done: String,
}

impl EntryChange<'_> {
    /// Runs the change through the pipeline; `apply` makes it in the store.
    fn run(
        self,
        ctx: &Context,
        out: &Output,
        apply: impl FnOnce(&mut Store) -> Result<Entry, Error>,
    ) -> CommandResult {
        let key = &self.target.key;
        let plan = Plan {
            operation: format!("registry.{}", self.verb),
            items: vec![Item {
                env: Some(key.env.as_str().into()),
                db: Some(key.db.as_str().into()),
                cluster: Some(self.target.cluster()),
                intent: self.intent.clone(),
                endpoint: None,
            }],
            announce: true,
            ..protected_plan(ctx, self.args, std::slice::from_ref(&self.target), self.verb)?
        };
        let mut changed = None;
        let ran = change::run(ctx, &plan, self.args, None, None, |store, _| {
            let result = apply(store);
            let done = match &result {
                Ok(_) => Done::ok(&self.done),
                Err(err) => {
                    Done::failed(format!("target not {}", past_tense(self.verb)), err.to_string())
                }
            };
            changed = Some(result);
            vec![done]
        })?;
        let target = &self.target;
        match (ran, changed) {
            (Ran::DryRun, _) => {
                ctx.messages.status(&format!(
                    "would {} {}; nothing written (--dry-run)",
                    self.verb,
                    target.name()
                ));
                if out.is_machine_readable() {
                    out.one(target)?;
                }
                Ok(Exit::Success)
            }
            (Ran::Applied(applied), Some(Ok(entry))) => {
                ctx.messages.status(&format!("{} {}", past_tense(self.verb), entry.target.name()));
                if out.is_machine_readable() {
                    output::unless_closed(out.one(&entry))?;
                }
                Ok(applied.exit())
            }
            (Ran::Applied(_), Some(Err(err))) => Err(CommandError::from(err)
                .context(format!("{} failed; the audit trail records it", self.verb))),
            (Ran::Applied(_), None) => Err(CommandError::failure("the change was not applied")),
        }
    }
}

/// A plan whose confirmation covers the protected environments of `targets`.
fn protected_plan(
    ctx: &Context,
    args: &ChangeArgs,
    targets: &[Target],
    verb: &str,
) -> Result<Plan, CommandError> {
    let policy = ctx.config()?.policy();
    let protected: Vec<String> = targets
        .iter()
        .filter(|t| policy.is_protected(t.key.env.as_str()))
        .map(Target::name)
        .collect();
    let mut plan = Plan::default();
    if !protected.is_empty() {
        let list = output::and_list(&protected);
        plan.question = format!("{} the registry entry of {list}?", capitalized(verb));
        let verb = if protected.len() == 1 { "is" } else { "are" };
        plan.confirm_because.push(format!("{list} {verb} protected"));
    }
    change::ensure_confirmable(args, &plan.confirm_because)?;
    Ok(plan)
}

/// `added`, `removed`: the registry's verbs are regular.
fn past_tense(verb: &str) -> String {
    if verb.ends_with('e') { format!("{verb}d") } else { format!("{verb}ed") }
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

fn add(args: AddArgs, ctx: &Context) -> CommandResult {
    let out = ctx.output(Format::Table, RECORD_FORMATS)?;
    let target = Target {
        key: args.key.into(),
        host: args.host,
        port: args.port,
        sslmode: args.tls.sslmode,
        sslnegotiation: args.tls.sslnegotiation,
        sslrootcert: args.tls.sslrootcert,
        sslcert: args.tls.sslcert,
        sslkey: args.tls.sslkey,
        admin_user: args.admin_user,
        admin_password_command: args.admin_password_command,
        labels: labels_of(args.labels)?,
        active: !args.inactive,
        notes: args.notes.filter(|n| !n.is_empty()),
    };
    target.check()?;
    if let Some(store) = ctx.store_to_read()?
        && store.entry_of(&target)?.is_some()
    {
        return Err(Error::AlreadyExists(Box::new(target)).into());
    }
    let change = EntryChange {
        args: &args.change,
        verb: "add",
        target: target.clone(),
        intent: "add target".into(),
        done: "target added".into(),
    };
    change.run(ctx, &out, |store| store.add(&target))
}

fn list(args: &ListArgs, ctx: &Context) -> CommandResult {
    let out = ctx.output(Format::Table, RECORD_FORMATS)?;
    let filter = ListFilter {
        env: args.env.clone(),
        active_only: args.active_only,
        labels: args.wheres.clone(),
    };
    // No registry yet (a fresh machine): an empty one, and nothing created.
    let entries = match ctx.store_to_read()? {
        Some(store) => store.list(&filter)?,
        None => Vec::new(),
    };
    let mut asked: Vec<String> =
        filter.env.iter().map(|env| format!("--env {}", env.as_str())).collect();
    asked.extend(filter.labels.iter().map(|label| format!("--where {label}")));
    if filter.active_only {
        asked.push("--active-only".into());
    }
    let nothing = if asked.is_empty() {
        "the registry is empty: register a target with `pgacct registry add`".to_owned()
    } else {
        format!("no targets match {}", asked.join(" "))
    };
    out.list_or_say(&entries, &ctx.messages, &nothing)?;
    Ok(Exit::Success)
}

fn show(args: TargetSelectArgs, ctx: &Context) -> CommandResult {
    let out = ctx.output(Format::Table, RECORD_FORMATS)?;
    let entry = selected(ctx, args)?;
    out.one(&entry)?;
    Ok(Exit::Success)
}

fn update(args: UpdateArgs, ctx: &Context) -> CommandResult {
    let out = ctx.output(Format::Table, RECORD_FORMATS)?;
    let mut clear: Vec<ClearableField> = args.unset.iter().map(|f| clearable(*f)).collect();
    // `--admin-password-command ''` clears it.
    let admin_password_command = match args.admin_password_command {
        Some(CommandOrClear(None)) => {
            clear.push(ClearableField::AdminPasswordCommand);
            None
        }
        Some(CommandOrClear(command)) => command,
        None => None,
    };
    let changes = TargetChanges {
        host: args.host,
        port: args.port,
        sslmode: args.tls.sslmode,
        sslnegotiation: args.tls.sslnegotiation,
        sslrootcert: args.tls.sslrootcert,
        sslcert: args.tls.sslcert,
        sslkey: args.tls.sslkey,
        admin_user: args.admin_user,
        admin_password_command,
        notes: args.notes,
        clear,
        set_labels: args.labels,
        unset_labels: args.unset_labels,
    };
    check_changes(&changes)?;
    let entry = selected(ctx, args.target)?;
    let registered = entry.target.clone();
    let mut target = registered.clone();
    changes.apply(&mut target)?;
    let summary = describe(&changes);
    if target == registered {
        return unchanged(ctx, &out, &entry, &format!("already has {summary}; nothing to update"));
    }
    let change = EntryChange {
        args: &args.change,
        verb: "update",
        target,
        intent: format!("update {summary}"),
        done: format!("target updated: {summary}"),
    };
    change.run(ctx, &out, |store| store.update(&registered, &changes))
}

fn set_active(args: TargetChangeArgs, active: bool, ctx: &Context) -> CommandResult {
    let out = ctx.output(Format::Table, RECORD_FORMATS)?;
    let entry = selected(ctx, args.target)?;
    let registered = entry.target.clone();
    let verb = if active { "activate" } else { "deactivate" };
    if registered.active == active {
        let state = if active { "active" } else { "inactive" };
        return unchanged(ctx, &out, &entry, &format!("is already {state}; nothing to {verb}"));
    }
    let target = Target { active, ..registered.clone() };
    let change = EntryChange {
        args: &args.change,
        verb,
        target,
        intent: verb.into(),
        done: format!("target {verb}d"),
    };
    change.run(ctx, &out, |store| store.set_active(&registered, active))
}

/// A change that would change nothing: said so, and not written to the
/// registry or the audit trail (a record would claim a change).
fn unchanged(ctx: &Context, out: &Output, entry: &Entry, why: &str) -> CommandResult {
    ctx.messages.status(&format!("{} {why}", entry.target.name()));
    if out.is_machine_readable() {
        output::unless_closed(out.one(entry))?;
    }
    Ok(Exit::Success)
}

fn remove(args: TargetChangeArgs, ctx: &Context) -> CommandResult {
    let out = ctx.output(Format::Table, RECORD_FORMATS)?;
    let target = selected(ctx, args.target)?.target;
    let change = EntryChange {
        args: &args.change,
        verb: "remove",
        target: target.clone(),
        intent: "remove target".into(),
        done: "target removed".into(),
    };
    change.run(ctx, &out, |store| store.remove(&target))
}

/// The changes, as the audit trail words them: `port=6432, unset notes`.
fn describe(changes: &TargetChanges) -> String {
    let mut parts = Vec::new();
    let mut set = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            parts.push(format!("{name}={value}"));
        }
    };
    set("host", changes.host.as_ref().map(|h| h.as_str().to_owned()));
    set("port", changes.port.map(|p| p.to_string()));
    set("sslmode", changes.sslmode.map(|m| m.to_string()));
    set("sslnegotiation", changes.sslnegotiation.map(|n| n.to_string()));
    set("sslrootcert", changes.sslrootcert.as_ref().map(ToString::to_string));
    set("sslcert", changes.sslcert.as_ref().map(ToString::to_string));
    set("sslkey", changes.sslkey.as_ref().map(ToString::to_string));
    set("admin_user", changes.admin_user.as_ref().map(|u| u.as_str().to_owned()));
    set("admin_password_command", changes.admin_password_command.as_ref().map(ToString::to_string));
    set("notes", changes.notes.as_ref().map(|n| format!("{n:?}")));
    parts.extend(changes.clear.iter().map(|field| format!("unset {}", option_name(*field))));
    parts.extend(changes.set_labels.iter().map(|label| format!("label {label}")));
    parts.extend(changes.unset_labels.iter().map(|key| format!("unset label {}", key.as_str())));
    parts.join(", ")
}

/// The labels of `--label` options, each key once.
fn labels_of(given: Vec<Label>) -> Result<Labels, CommandError> {
    let mut labels = Labels::default();
    for label in given {
        labels.insert_new(label)?;
    }
    Ok(labels)
}

fn clearable(field: UnsetField) -> ClearableField {
    match field {
        UnsetField::Sslmode => ClearableField::Sslmode,
        UnsetField::Sslnegotiation => ClearableField::Sslnegotiation,
        UnsetField::Sslrootcert => ClearableField::Sslrootcert,
        UnsetField::Sslcert => ClearableField::Sslcert,
        UnsetField::Sslkey => ClearableField::Sslkey,
        UnsetField::AdminUser => ClearableField::AdminUser,
        UnsetField::AdminPasswordCommand => ClearableField::AdminPasswordCommand,
        UnsetField::Notes => ClearableField::Notes,
    }
}

fn check_changes(changes: &TargetChanges) -> Result<(), CommandError> {
    if changes.is_empty() {
        return Err(CommandError::usage("nothing to update").hint(
            "give at least one of --host, --port, --sslmode, --sslnegotiation, --sslrootcert, \
             --sslcert, --sslkey, --admin-user, --admin-password-command, --notes, --label, \
             --unset FIELD or --unset-label KEY",
        ));
    }
    let set_and_cleared = changes.clear.iter().find(|field| match field {
        ClearableField::Sslmode => changes.sslmode.is_some(),
        ClearableField::Sslnegotiation => changes.sslnegotiation.is_some(),
        ClearableField::Sslrootcert => changes.sslrootcert.is_some(),
        ClearableField::Sslcert => changes.sslcert.is_some(),
        ClearableField::Sslkey => changes.sslkey.is_some(),
        ClearableField::AdminUser => changes.admin_user.is_some(),
        ClearableField::AdminPasswordCommand => changes.admin_password_command.is_some(),
        ClearableField::Notes => changes.notes.is_some(),
    });
    if let Some(label) =
        changes.set_labels.iter().find(|label| changes.unset_labels.contains(&label.key))
    {
        let key = label.key.as_str();
        return Err(CommandError::usage(format!(
            "--label {key}=... and --unset-label {key} contradict each other"
        )));
    }
    match set_and_cleared {
        Some(field) => {
            let name = option_name(*field);
            Err(CommandError::usage(format!("--{name} and --unset {name} contradict each other")))
        }
        None => Ok(()),
    }
}

fn option_name(field: ClearableField) -> &'static str {
    match field {
        ClearableField::Sslmode => "sslmode",
        ClearableField::Sslnegotiation => "sslnegotiation",
        ClearableField::Sslrootcert => "sslrootcert",
        ClearableField::Sslcert => "sslcert",
        ClearableField::Sslkey => "sslkey",
        ClearableField::AdminUser => "admin-user",
        ClearableField::AdminPasswordCommand => "admin-password-command",
        ClearableField::Notes => "notes",
    }
}

fn export(ctx: &Context) -> CommandResult {
    let out = ctx.output(Format::Csv, &[Format::Csv, Format::Json, Format::Toml])?;
    let format = match out.format() {
        Format::Json => InventoryFormat::Json,
        Format::Toml => InventoryFormat::Toml,
        Format::Csv | Format::Table => InventoryFormat::Csv,
    };
    let entries = ctx.registry()?.list(&ListFilter::default())?;
    let targets: Vec<Target> = entries.into_iter().map(|e| e.target).collect();
    inventory::write(&targets, format, &mut std::io::stdout().lock())?;
    Ok(Exit::Success)
}
