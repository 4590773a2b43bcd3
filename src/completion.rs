//! Shell completion that knows the fleet. The scripts in completions/ call
//! the binary on each TAB (`COMPLETE=bash pgacct -- WORDS`): clap's
//! dynamic engine completes commands and options from [`crate::cli`], and
//! the completers here offer the registry's envs, dbs, clusters and labels
//! and the account types of config.toml.
//!
//! A TAB must be quick and harmless: the registry is opened only to read
//! (never created or written), nothing prompts or connects to PostgreSQL,
//! and nothing but candidates is printed: any failure means no candidates.

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::CompleteEnv;
use clap_complete::engine::{self, ArgValueCompleter, CompletionCandidate};
use clap_complete::env::{Elvish, EnvCompleter, Fish, Powershell, Shells};

use crate::cli::Cli;
use crate::config::Config;
use crate::registry::{EnvName, Labels, RegistryStore, natural_cmp};
use crate::store::FileStore;

/// The variable that asks the binary for completions (`COMPLETE=bash`).
const VAR: &str = "COMPLETE";

/// bash and zsh get scripts of ours (see [`Bash`], [`Zsh`]); the other
/// shells clap's.
const SHELLS: Shells<'static> = Shells(&[&Bash, &Zsh, &Fish, &Powershell, &Elvish]);

/// The committed scripts: file name in completions/, and the shell.
const SCRIPTS: [(&str, &str); 5] = [
    ("pgacct.bash", "bash"),
    ("_pgacct", "zsh"),
    ("pgacct.fish", "fish"),
    ("_pgacct.ps1", "powershell"),
    ("pgacct.elv", "elvish"),
];

/// Answers the shell when `COMPLETE` names one (the scripts set it), and
/// returns how to exit; `None` on a normal run, also when `COMPLETE` holds
/// something else, so that a stray variable cannot stop pgacct from working.
pub fn run_if_asked() -> Option<ExitCode> {
    let shell = PathBuf::from(std::env::var_os(VAR)?);
    let name = shell.file_stem()?.to_str()?;
    SHELLS.completer(name)?;
    let current_dir = std::env::current_dir().ok();
    let answered = CompleteEnv::with_factory(command)
        .var(VAR)
        .shells(SHELLS)
        .try_complete(std::env::args_os(), current_dir.as_deref());
    match answered {
        Ok(true) => Some(ExitCode::SUCCESS),
        Ok(false) => None,
        // Silent: whatever went wrong, the shell shows no candidates.
        Err(_) => Some(ExitCode::FAILURE),
    }
}

/// Writes the completion scripts into `dir`: what `COMPLETE=SHELL pgacct`
/// prints.
pub fn write_scripts(dir: &Path) -> io::Result<()> {
    for (file, shell) in SCRIPTS {
        let shell = SHELLS.completer(shell).expect("every shell of SCRIPTS is in SHELLS");
        let mut script = Vec::new();
        shell.write_registration(VAR, "pgacct", "pgacct", "pgacct", &mut script)?;
        std::fs::write(dir.join(file), script)?;
    }
    Ok(())
}

/// The command line as completion offers it: without the hidden commands
/// (so that no prefix completes to one) and without a `help` subcommand.
fn command() -> clap::Command {
    let cli = Cli::command();
    let visible = cli.get_subcommands().filter(|sub| !sub.is_hide_set()).cloned();
    clap::Command::new("pgacct")
        .version(env!("CARGO_PKG_VERSION"))
        .disable_help_subcommand(true)
        .args(cli.get_arguments().cloned())
        .subcommands(visible.collect::<Vec<_>>())
}

/// The candidates for the word at `index` of `args` (`pgacct ...`).
fn complete(
    cmd: &mut clap::Command,
    mut args: Vec<OsString>,
    index: usize,
    current_dir: Option<&Path>,
) -> io::Result<Vec<CompletionCandidate>> {
    if args.len() == index {
        args.push(OsString::new());
    }
    engine::complete(cmd, args, index, current_dir)
}

/// A script with the variable, the command it completes and the program
/// that answers (as the shell reads them) in place of `@VAR@`, `@BIN@`
/// and `@COMPLETER@`.
fn fill(script: &str, var: &str, bin: &str, completer: &str) -> String {
    script
        .replace("@VAR@", var)
        .replace("@BIN@", &shell_words::quote(bin))
        .replace("@COMPLETER@", &shell_words::quote(completer))
}

fn index_from_env() -> usize {
    std::env::var("_PGACCT_INDEX").ok().and_then(|i| i.parse().ok()).unwrap_or_default()
}

/// bash, with a script of ours: bash splits the word under the cursor at
/// `=` and `:` (`COMP_WORDBREAKS`), which clap's script passes on as they
/// are, so `--where team=` and `--cluster db1:` would complete nothing.
struct Bash;

impl EnvCompleter for Bash {
    fn name(&self) -> &'static str {
        "bash"
    }

    fn is(&self, name: &str) -> bool {
        name == "bash"
    }

    fn write_registration(
        &self,
        var: &str,
        _name: &str,
        bin: &str,
        completer: &str,
        buf: &mut dyn io::Write,
    ) -> io::Result<()> {
        buf.write_all(fill(BASH_SCRIPT, var, bin, completer).as_bytes())
    }

    /// One candidate a line, the value only.
    fn write_complete(
        &self,
        cmd: &mut clap::Command,
        args: Vec<OsString>,
        current_dir: Option<&Path>,
        buf: &mut dyn io::Write,
    ) -> io::Result<()> {
        for candidate in complete(cmd, args, index_from_env(), current_dir)? {
            writeln!(buf, "{}", candidate.get_value().to_string_lossy())?;
        }
        Ok(())
    }
}

const BASH_SCRIPT: &str = r#"# bash completion for pgacct: its commands and options, and the envs, dbs,
# clusters and labels of your registry and the account types of config.toml
# (pgacct is asked on each TAB). Generated: `COMPLETE=bash pgacct` prints it.
#
# Install: copy to ~/.local/share/bash-completion/completions/pgacct, or
# source it from ~/.bashrc.
_pgacct() {
    # Bash splits the line at COMP_WORDBREAKS too (= and : among them), so
    # `--where team=co` arrives as team, =, co: glue the pieces no blank
    # separates back into the words pgacct sees.
    local words=() index=0 at=0 i piece start glued
    for ((i = 0; i < ${#COMP_WORDS[@]}; i++)); do
        piece=${COMP_WORDS[i]}
        start=$at
        while [[ ${COMP_LINE:start:1} == [[:space:]] ]]; do start=$((start + 1)); done
        glued=$((i > 0 && start == at))
        at=$((start + ${#piece}))
        if ((i == COMP_CWORD)); then
            # The word under the cursor counts up to the cursor.
            if ((COMP_POINT >= start)); then
                piece=${COMP_LINE:start:COMP_POINT-start}
            else
                piece= glued=0 at=$COMP_POINT
            fi
        elif ((i > COMP_CWORD && glued && index == ${#words[@]} - 1)); then
            continue # the rest of the word under the cursor
        fi
        if ((glued)); then
            words[${#words[@]} - 1]+=$piece
        else
            words+=("$piece")
        fi
        ((i == COMP_CWORD)) && index=$((${#words[@]} - 1))
    done

    # Bash replaces only the last piece ($2); candidates are whole words.
    local keep=${words[index]%"$2"} out line
    out=$(_PGACCT_INDEX=$index @VAR@=bash @COMPLETER@ -- "${words[@]}" 2>/dev/null) || return 0
    COMPREPLY=()
    # No space after `team=` or a directory. (Regular expressions: a glob
    # like *[=/]* takes bash milliseconds on thousands of lines.)
    [[ $out =~ [=/]($|$'\n') ]] && compopt -o nospace 2>/dev/null
    local plain=$'^[-A-Za-z0-9_./:=@%+,\n]*$'
    if [[ -z $keep && $out =~ $plain ]]; then
        # Whole words that need no quoting: split at once, fast for thousands.
        local IFS=$'\n' noglob=$-
        set -f
        COMPREPLY=($out)
        [[ $noglob == *f* ]] || set +f
        return 0
    fi
    while IFS= read -r line; do
        [[ -n $line && $line == "$keep"* ]] || continue
        line=${line#"$keep"}
        [[ $line == *[!A-Za-z0-9_./:=@%+,-]* ]] && printf -v line '%q' "$line"
        COMPREPLY+=("$line")
    done <<<"$out"
    return 0
}
if [[ ${BASH_VERSINFO[0]} -eq 4 && ${BASH_VERSINFO[1]} -ge 4 || ${BASH_VERSINFO[0]} -gt 4 ]]; then
    complete -o nosort -F _pgacct @BIN@
else
    complete -F _pgacct @BIN@
fi
"#;

/// zsh, with a script of ours: it also works from `$fpath` (clap's only
/// when sourced), and `team=` or a directory takes no space after it.
struct Zsh;

impl EnvCompleter for Zsh {
    fn name(&self) -> &'static str {
        "zsh"
    }

    fn is(&self, name: &str) -> bool {
        name == "zsh"
    }

    fn write_registration(
        &self,
        var: &str,
        _name: &str,
        bin: &str,
        completer: &str,
        buf: &mut dyn io::Write,
    ) -> io::Result<()> {
        buf.write_all(fill(ZSH_SCRIPT, var, bin, completer).as_bytes())
    }

    /// One candidate a line: `s` when a space may follow it, `n` when not
    /// (`team=`, `dir/`), then `value:help` as `_describe` reads it.
    fn write_complete(
        &self,
        cmd: &mut clap::Command,
        args: Vec<OsString>,
        current_dir: Option<&Path>,
        buf: &mut dyn io::Write,
    ) -> io::Result<()> {
        for candidate in complete(cmd, args, index_from_env(), current_dir)? {
            let value = candidate.get_value().to_string_lossy();
            let space = if value.ends_with('=') || value.ends_with('/') { 'n' } else { 's' };
            write!(buf, "{space}{}", value.replace('\\', "\\\\").replace(':', "\\:"))?;
            if let Some(help) = candidate.get_help() {
                let help = help.to_string();
                write!(buf, ":{}", help.lines().next().unwrap_or_default())?;
            }
            writeln!(buf)?;
        }
        Ok(())
    }
}

const ZSH_SCRIPT: &str = r#"#compdef @BIN@
# zsh completion for pgacct: its commands and options, and the envs, dbs,
# clusters and labels of your registry and the account types of config.toml
# (pgacct is asked on each TAB). Generated: `COMPLETE=zsh pgacct` prints it.
#
# Install: copy to a directory of $fpath as _pgacct, or source it from
# ~/.zshrc (after compinit).
_pgacct() {
    local -a lines spaced open
    local line
    lines=("${(@f)$(_PGACCT_INDEX=$((CURRENT - 1)) @VAR@=zsh @COMPLETER@ -- "${words[@]}" 2>/dev/null)}")
    for line in $lines; do
        case $line in
        s*) spaced+=("${line#s}") ;;
        n*) open+=("${line#n}") ;;
        esac
    done
    (( $#spaced )) && _describe -V values spaced
    (( $#open )) && _describe -V values open -S ''
    return 0
}
if [[ $funcstack[1] == _pgacct ]]; then
    _pgacct "$@"
else
    compdef _pgacct @BIN@
fi
"#;

// Completers of values, named in cli.rs. The rest of the command line
// (`--env`, `--registry`, `--config`) is in the process's arguments, after
// the `--` the scripts put before it.

/// `--env`: the registry's envs and config.toml's `[env.NAME]`.
pub fn envs() -> ArgValueCompleter {
    ArgValueCompleter::new(|current: &OsStr| {
        let line = Line::of_this_process();
        let mut names: Vec<(String, Option<String>)> = line
            .registry()
            .and_then(|store| store.env_names().ok())
            .unwrap_or_default()
            .into_iter()
            .map(|(env, count)| (env.as_str().to_owned(), Some(targets(count))))
            .collect();
        for env in line.config().env.keys() {
            if !names.iter().any(|(name, _)| name == env) {
                names.push((env.clone(), Some("in config.toml".to_owned())));
            }
        }
        candidates(current, names)
    })
}

/// `--db`: the database names, of the `--env` on the line if there is one.
pub fn dbs() -> ArgValueCompleter {
    ArgValueCompleter::new(|current: &OsStr| {
        let line = Line::of_this_process();
        let names = line
            .registry()
            .and_then(|store| store.db_names(line.env().as_ref()).ok())
            .unwrap_or_default()
            .into_iter()
            .map(|(db, count)| (db.as_str().to_owned(), Some(targets(count))));
        candidates(current, names.collect())
    })
}

/// `--cluster`: HOST:PORT of the clusters, of the `--env` on the line if
/// there is one.
pub fn clusters() -> ArgValueCompleter {
    ArgValueCompleter::new(|current: &OsStr| {
        let line = Line::of_this_process();
        let names = line
            .registry()
            .and_then(|store| store.clusters(line.env().as_ref()).ok())
            .unwrap_or_default()
            .into_iter()
            .map(|(cluster, count)| (cluster.to_string(), Some(targets(count))));
        candidates(current, names.collect())
    })
}

/// `--where` and `--label`: `KEY=` for each label key, then, once a key
/// and `=` are typed, `KEY=VALUE` for its values (of the `--env` on the
/// line if there is one).
pub fn labels() -> ArgValueCompleter {
    ArgValueCompleter::new(|current: &OsStr| {
        let line = Line::of_this_process();
        let sets = line.label_sets();
        let typed = current.to_string_lossy();
        let names = match typed.split_once('=') {
            None => label_keys(&sets).into_iter().map(|key| format!("{key}=")).collect::<Vec<_>>(),
            Some((key, _)) => {
                let mut pairs: Vec<String> = sets
                    .iter()
                    .flat_map(Labels::iter)
                    .filter(|(k, _)| k.as_str() == key)
                    .map(|(k, v)| format!("{}={v}", k.as_str()))
                    .collect();
                pairs.sort();
                pairs.dedup();
                pairs
            }
        };
        candidates(current, names.into_iter().map(|name| (name, None)).collect())
    })
}

/// `--unset-label`: the label keys.
pub fn label_key_names() -> ArgValueCompleter {
    ArgValueCompleter::new(|current: &OsStr| {
        let sets = Line::of_this_process().label_sets();
        candidates(current, label_keys(&sets).into_iter().map(|key| (key, None)).collect())
    })
}

/// `--type`: the built-in account types and config.toml's.
pub fn account_types() -> ArgValueCompleter {
    ArgValueCompleter::new(|current: &OsStr| {
        let policy = Line::of_this_process().config().policy();
        candidates(current, policy.type_names().map(|name| (name.to_owned(), None)).collect())
    })
}

fn label_keys(sets: &[Labels]) -> Vec<String> {
    let mut keys: Vec<String> =
        sets.iter().flat_map(Labels::iter).map(|(key, _)| key.as_str().to_owned()).collect();
    keys.sort();
    keys.dedup();
    keys
}

fn targets(count: u32) -> String {
    if count == 1 { "1 target".to_owned() } else { format!("{count} targets") }
}

/// The names that start with what is typed, in natural order (`m2` before `m10`).
fn candidates(
    current: &OsStr,
    mut names: Vec<(String, Option<String>)>,
) -> Vec<CompletionCandidate> {
    let typed = current.to_string_lossy();
    names.retain(|(name, _)| name.starts_with(typed.as_ref()));
    names.sort_by(|(a, _), (b, _)| natural_cmp(a, b));
    names
        .into_iter()
        .map(|(name, help)| CompletionCandidate::new(name).help(help.map(Into::into)))
        .collect()
}

/// The words of the command line being completed.
struct Line {
    words: Vec<OsString>,
}

impl Line {
    /// `pgacct -- pgacct WORDS...`: the words after the first `--`.
    fn of_this_process() -> Line {
        let words = std::env::args_os().skip_while(|arg| arg != "--").skip(1).collect();
        Line { words }
    }

    /// The value of the last `--NAME VALUE` or `--NAME=VALUE` on the line.
    fn option(&self, name: &str) -> Option<OsString> {
        let flag = format!("--{name}");
        let mut value = None;
        let mut words = self.words.iter();
        while let Some(word) = words.next() {
            if word == flag.as_str() {
                value = words.next().cloned();
            } else if let Some(rest) =
                word.to_str().and_then(|w| w.strip_prefix(&flag)?.strip_prefix('='))
            {
                value = Some(rest.into());
            }
        }
        value
    }

    /// `--env` on the line, when it names a valid env.
    fn env(&self) -> Option<EnvName> {
        self.option("env")?.to_str()?.parse().ok()
    }

    /// The option `--NAME`, else the variable `var`, else `default`; a
    /// leading `~/` is the home directory, as the shell would have it.
    fn path(&self, name: &str, var: &str, default: Option<PathBuf>) -> Option<PathBuf> {
        let given = self.option(name).or_else(|| std::env::var_os(var)).filter(|v| !v.is_empty());
        let Some(given) = given else { return default };
        let path = PathBuf::from(given);
        match (path.strip_prefix("~"), std::env::var_os("HOME")) {
            (Ok(rest), Some(home)) => Some(PathBuf::from(home).join(rest)),
            _ => Some(path),
        }
    }

    /// The registry, opened to read (never created, never written); `None`
    /// when there is none or it cannot be read.
    fn registry(&self) -> Option<FileStore> {
        let path = self.path("registry", "PGACCT_REGISTRY", crate::registry::default_path())?;
        // A team store's URL is no file; completion reads no team store.
        if path.to_str().is_some_and(crate::store::StoreLocation::is_url) {
            return None;
        }
        FileStore::open_to_read(&path).ok().flatten()
    }

    /// config.toml; the built-in defaults when it is absent or invalid.
    fn config(&self) -> Config {
        self.path("config", "PGACCT_CONFIG", crate::config::default_path())
            .and_then(|path| Config::load(&path, false).ok())
            .unwrap_or_default()
    }

    fn label_sets(&self) -> Vec<Labels> {
        self.registry()
            .and_then(|store| store.label_sets(self.env().as_ref()).ok())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(words: &str) -> Line {
        Line { words: words.split(' ').map(OsString::from).collect() }
    }

    #[test]
    fn options_are_read_from_the_line_in_both_spellings_the_last_one_winning() {
        let l = line("pgacct user list --env qa --registry=/r.db --db x --env=prod --envelope y");
        assert_eq!(l.option("env"), Some("prod".into()));
        assert_eq!(l.option("registry"), Some("/r.db".into()));
        assert_eq!(l.option("config"), None);
        assert_eq!(line("pgacct --env").option("env"), None);
        assert_eq!(line("pgacct --env bad/name --db x").env(), None);
    }

    #[test]
    fn candidates_match_what_is_typed_in_natural_order() {
        let names = ["m10", "m2", "x1", "m1"].map(|n| (n.to_owned(), None)).to_vec();
        let values: Vec<_> = candidates(OsStr::new("m"), names)
            .iter()
            .map(|c| c.get_value().to_string_lossy().into_owned())
            .collect();
        assert_eq!(values, ["m1", "m2", "m10"]);
    }

    #[test]
    fn the_hidden_command_is_not_in_what_completion_sees() {
        let cmd = command();
        assert!(cmd.find_subcommand("generate-assets").is_none());
        assert!(cmd.find_subcommand("registry").is_some());
        assert!(cmd.get_arguments().any(|arg| arg.get_long() == Some("registry")));
    }
}
