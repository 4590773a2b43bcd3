//! Completions that know the fleet (issue 14): the committed scripts,
//! loaded into the real shells, complete envs, dbs, clusters, labels and
//! account types from a real registry and config.toml, and a TAB never
//! writes, prompts or prints anything but candidates.

use std::path::{Path, PathBuf};
use std::process::Command;

use libtest_mimic::Trial;

use crate::support::runner::{skip, test};
use crate::support::{PGACCT, Run, Sandbox};

pub fn tests() -> Vec<Trial> {
    vec![
        test!(bash_completes_envs_and_the_dbs_and_clusters_of_the_env_on_the_line),
        test!(bash_completes_label_keys_then_values_and_clusters_across_colons),
        test!(bash_completes_built_in_and_config_account_types),
        test!(bash_does_not_offer_the_hidden_command),
        test!(without_a_registry_completion_offers_nothing_and_creates_nothing),
        test!(a_broken_registry_or_config_gives_no_candidates_and_no_message),
        test!(a_stray_complete_variable_does_not_stop_pgacct),
        test!(fish_completes_from_the_registry),
        test!(zsh_completes_from_the_registry_with_the_script_in_fpath),
    ]
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("completions").join(name)
}

/// `program` in the sandbox's environment, with the binary under test
/// first on PATH, as `pgacct`.
fn shell(sandbox: &Sandbox, program: &str) -> Command {
    let bin_dir = Path::new(PGACCT).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let mut command = sandbox.command(program);
    command.env("PATH", path);
    command
}

/// What bash's completion puts in `COMPREPLY` for `line` (cursor at its
/// end), with the committed script loaded: `COMP_WORDS` split as bash splits
/// them, at blanks and at each `=` and `:` (`COMP_WORDBREAKS`).
fn bash_completes(sandbox: &Sandbox, line: &str) -> Vec<String> {
    bash_completes_with(sandbox, line, &[]).0
}

/// [`bash_completes`] with more environment variables, and whether the
/// script told bash to put no space after the word.
fn bash_completes_with(
    sandbox: &Sandbox,
    line: &str,
    vars: &[(&str, &str)],
) -> (Vec<String>, bool) {
    let mut words: Vec<String> = Vec::new();
    for token in line.split_whitespace() {
        let mut piece = String::new();
        for c in token.chars() {
            if c == '=' || c == ':' {
                if !piece.is_empty() {
                    words.push(std::mem::take(&mut piece));
                }
                words.push(c.to_string());
            } else {
                piece.push(c);
            }
        }
        if !piece.is_empty() {
            words.push(piece);
        }
    }
    if line.ends_with(' ') {
        words.push(String::new());
    }
    // Bash's $2: the text from the last word break to the cursor.
    let last = words.last().cloned().unwrap_or_default();
    let cur = if last == "=" || last == ":" { String::new() } else { last };
    let prev = words.len().checked_sub(2).map(|i| words[i].clone()).unwrap_or_default();
    let ran = Run::of(shell(sandbox, "bash"))
        .arg("-c")
        .arg(
            r#"source "$1"; COMP_LINE=$2; COMP_POINT=${#COMP_LINE}; cur=$3 prev=$4; shift 4
               COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
               compopt() { [[ "$*" == "-o nospace" ]] && nospace=1; }
               _pgacct pgacct "$cur" "$prev"
               printf '%s\n' "${COMPREPLY[@]}"
               [[ -z $nospace ]] || echo "(no space)""#,
        )
        .arg("bash")
        .arg(script("pgacct.bash"))
        .arg(line)
        .arg(cur)
        .arg(prev)
        .arg_list(&words);
    let ran = vars.iter().fold(ran, |run, (k, v)| run.env(k, v)).run();
    let mut words: Vec<String> =
        ran.stdout.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect();
    let no_space = words.last().is_some_and(|w| w == "(no space)");
    if no_space {
        words.pop();
    }
    (words, no_space)
}

/// A registry of two envs: qa has orders on two clusters and billing on
/// one; prod has m2, m10 and orders.
fn fleet(sandbox: &Sandbox) {
    for (env, db, host, port, labels) in [
        ("qa", "orders", "db1.example.com", "5432", "--label team=core --label region=eu"),
        ("qa", "billing", "db1.example.com", "5432", "--label team=web"),
        ("qa", "orders", "db2.example.com", "5433", ""),
        ("prod", "orders", "pdb1.example.com", "5432", "--label team=ops"),
        ("prod", "m10", "pdb1.example.com", "5432", ""),
        ("prod", "m2", "pdb1.example.com", "5432", ""),
    ] {
        Run::new(sandbox)
            .args(&format!("registry add --env {env} --db {db} --host {host} --port {port}"))
            .args(labels)
            .stderr_contains(&format!("added {env}/{db}"))
            .run();
    }
}

fn bash_completes_envs_and_the_dbs_and_clusters_of_the_env_on_the_line() {
    let sandbox = Sandbox::new();
    fleet(&sandbox);
    Run::new(&sandbox)
        .args("registry add --env qa --host db3.example.com --db")
        .arg("sales eu")
        .stderr_contains("added qa/sales eu")
        .run();
    sandbox.write_config("[env.uat]\nprotected = true\n");
    let before = std::fs::read(sandbox.registry()).unwrap();

    // Registered envs, and the one only config.toml knows.
    assert_eq!(bash_completes(&sandbox, "pgacct user list --env "), ["prod", "qa", "uat"]);
    assert_eq!(bash_completes(&sandbox, "pgacct registry list --env q"), ["qa"]);
    assert_eq!(bash_completes(&sandbox, "pgacct user list --env=p"), ["prod"]);
    // --db narrows to the env on the line, wherever it is; m2 before m10.
    assert_eq!(
        bash_completes(&sandbox, "pgacct user list --env qa --db "),
        ["billing", "orders", "sales\\ eu"]
    );
    assert_eq!(bash_completes(&sandbox, "pgacct user show --env prod --db m"), ["m2", "m10"]);
    assert_eq!(
        bash_completes(&sandbox, "pgacct user list --db "),
        ["billing", "m2", "m10", "orders", "sales\\ eu"],
        "without --env, every env's"
    );
    assert_eq!(
        bash_completes(&sandbox, "pgacct registry show --env=qa --db o"),
        ["orders"],
        "--env=qa counts too"
    );
    assert_eq!(
        bash_completes(&sandbox, "pgacct user list --env qa --cluster "),
        ["db1.example.com:5432", "db2.example.com:5433", "db3.example.com:5432"]
    );
    // --registry on the line wins over PGACCT_REGISTRY.
    let elsewhere = sandbox.path().join("elsewhere.db");
    assert_eq!(
        bash_completes(
            &sandbox,
            &format!("pgacct --registry {} user list --env ", elsewhere.display())
        ),
        ["uat"]
    );

    // A name the shell would split is given to bash quoted.
    assert_eq!(bash_completes(&sandbox, "pgacct user list --env qa --db s"), ["sales\\ eu"]);

    assert!(std::fs::read(sandbox.registry()).unwrap() == before, "completion wrote the registry");
    assert!(!elsewhere.exists(), "completion created {}", elsewhere.display());
}

fn bash_completes_label_keys_then_values_and_clusters_across_colons() {
    let sandbox = Sandbox::new();
    fleet(&sandbox);
    // Keys first (no space after `team=`), then values: bash replaces only
    // what follows the `=`, so that is what it is given.
    assert_eq!(
        bash_completes(&sandbox, "pgacct user list --env qa --where "),
        ["region=", "team="]
    );
    assert_eq!(
        bash_completes_with(&sandbox, "pgacct user list --env qa --where te", &[]),
        (vec!["team=".to_owned()], true)
    );
    assert_eq!(
        bash_completes(&sandbox, "pgacct user list --env qa --where team="),
        ["core", "web"]
    );
    assert_eq!(
        bash_completes_with(&sandbox, "pgacct user list --env qa --where team=c", &[]),
        (vec!["core".to_owned()], false)
    );
    assert_eq!(bash_completes(&sandbox, "pgacct user list --where team="), ["core", "ops", "web"]);
    assert_eq!(bash_completes(&sandbox, "pgacct registry list --where=team=o"), ["ops"]);
    assert_eq!(bash_completes(&sandbox, "pgacct registry update --unset-label r"), ["region"]);
    // After `host:`, only the port is bash's to replace.
    assert_eq!(
        bash_completes(&sandbox, "pgacct user list --env qa --cluster db2.example.com:"),
        ["5433"]
    );
    assert_eq!(
        bash_completes(&sandbox, "pgacct user list --env qa --cluster db2"),
        ["db2.example.com:5433"]
    );
}

fn bash_completes_built_in_and_config_account_types() {
    let sandbox = Sandbox::new();
    fleet(&sandbox);
    sandbox.write_config("[types.app]\ntemplate = \"app_{name}\"\n");
    let types = bash_completes(&sandbox, "pgacct user create --env qa --all --type ");
    for kind in ["app", "dba", "devlead", "devqa", "readonly", "readwrite"] {
        assert!(types.iter().any(|t| t == kind), "--type does not offer {kind}: {types:?}");
    }
    assert!(!types.iter().any(|t| t.contains('.')), "file names offered: {types:?}");
    assert_eq!(bash_completes(&sandbox, "pgacct user create --type ap"), ["app"]);
    // --config on the line is the one read.
    let other = sandbox.write("other.toml", "[types.reporting]\n");
    let line = format!("pgacct --config {} user create --type re", other.display());
    assert_eq!(bash_completes(&sandbox, &line), ["readonly", "readwrite", "reporting"]);
}

fn bash_does_not_offer_the_hidden_command() {
    let sandbox = Sandbox::new();
    let commands = bash_completes(&sandbox, "pgacct ");
    for command in ["registry", "user", "audit", "notify"] {
        assert!(commands.iter().any(|c| c == command), "no {command} in {commands:?}");
    }
    assert!(!commands.iter().any(|c| c.contains("generate")), "{commands:?}");
    assert_eq!(bash_completes(&sandbox, "pgacct g"), Vec::<String>::new());
    assert_eq!(bash_completes(&sandbox, "pgacct generate-a"), Vec::<String>::new());
    assert_eq!(bash_completes(&sandbox, "pgacct user cr"), ["create-vm", "create-k8s", "create"]);
}

fn without_a_registry_completion_offers_nothing_and_creates_nothing() {
    let sandbox = Sandbox::new();
    let missing = sandbox.path().join("sub/registry.db");
    let vars = [("PGACCT_REGISTRY", missing.to_str().unwrap())];
    for line in [
        "pgacct user list --env ",
        "pgacct user list --env qa --db ",
        "pgacct user list --cluster ",
        "pgacct user list --where ",
    ] {
        assert_eq!(bash_completes_with(&sandbox, line, &vars).0, Vec::<String>::new(), "{line}");
    }
    // The binary itself prints nothing, on stdout or stderr, and exits 0.
    let ran = Run::new(&sandbox)
        .env("COMPLETE", "bash")
        .env("_PGACCT_INDEX", "4")
        .env("PGACCT_REGISTRY", &missing)
        .args("-- pgacct user list --env")
        .arg("")
        .run();
    assert_eq!(ran.stdout, "");
    assert!(!missing.parent().unwrap().exists(), "completion created {}", missing.display());

    // The default registry (under HOME) is not created either.
    let ran = Run::new(&sandbox)
        .env("COMPLETE", "bash")
        .env("_PGACCT_INDEX", "4")
        .env_remove("PGACCT_REGISTRY")
        .args("-- pgacct user list --env")
        .arg("")
        .run();
    assert_eq!(ran.stdout, "");
    let home = sandbox.path().join("home");
    assert_eq!(std::fs::read_dir(&home).unwrap().count(), 0, "completion wrote under HOME");
}

fn a_broken_registry_or_config_gives_no_candidates_and_no_message() {
    let sandbox = Sandbox::new();
    let not_a_registry = sandbox.write("notes.txt", "not a registry\n");
    let before = std::fs::read(&not_a_registry).unwrap();
    sandbox.write_config("[types.app\nthis is not toml");
    let complete = |args: &str| {
        Run::new(&sandbox)
            .env("COMPLETE", "bash")
            .env("_PGACCT_INDEX", "6")
            .env("PGACCT_REGISTRY", &not_a_registry)
            .args(args)
            .arg("")
            .run()
            .stdout
    };
    assert_eq!(complete("-- pgacct user create --env qa --db"), "");
    // The built-in types, as if there were no config.toml.
    let types = complete("-- pgacct user create --env qa --type");
    assert!(types.lines().any(|t| t == "dba") && !types.contains("app"), "{types}");
    // An engine error (a word it cannot place) is silent too, exit 1.
    let ran = Run::new(&sandbox)
        .env("COMPLETE", "bash")
        .env("_PGACCT_INDEX", "9")
        .args("-- pgacct user")
        .expect(1)
        .run();
    assert_eq!(ran.stdout, "");
    assert!(
        std::fs::read(&not_a_registry).unwrap() == before,
        "completion wrote {}",
        not_a_registry.display()
    );
}

/// Only a shell's name in `COMPLETE` asks for completions: any other value
/// is a normal run, not a silent exit.
fn a_stray_complete_variable_does_not_stop_pgacct() {
    let sandbox = Sandbox::new();
    fleet(&sandbox);
    for value in ["1", "yes", ""] {
        let ran = Run::new(&sandbox).env("COMPLETE", value).args("registry list --env prod").run();
        assert!(ran.stdout.contains("m10"), "COMPLETE={value}: {}", ran.stdout);
    }
}

fn fish_completes_from_the_registry() {
    if Command::new("fish").arg("--version").output().is_err() {
        skip("fish (apt-get install fish)");
    }
    let sandbox = Sandbox::new();
    fleet(&sandbox);
    let complete = |line: &str| -> Vec<String> {
        let ran = Run::of(shell(&sandbox, "fish"))
            .arg("--no-config")
            .arg("-c")
            .arg("source $argv[1]; complete --do-complete=$argv[2]")
            .arg(script("pgacct.fish"))
            .arg(line)
            .run();
        ran.stdout.lines().map(|l| l.split('\t').next().unwrap().to_owned()).collect()
    };
    assert_eq!(complete("pgacct user list --env "), ["prod", "qa"]);
    assert_eq!(complete("pgacct user list --env qa --db "), ["billing", "orders"]);
    assert_eq!(complete("pgacct user list --env qa --where team="), ["team=core", "team=web"]);
    let commands = complete("pgacct ");
    assert!(commands.iter().any(|c| c == "registry"), "{commands:?}");
    assert!(!commands.iter().any(|c| c.contains("generate")), "{commands:?}");
}

/// Drives an interactive zsh in a pseudo-terminal (zpty) with the script
/// in `$fpath`: types `$2` and a TAB, and prints what the completion system
/// offers, as `compadd` is asked to add it.
const ZSH_CAPTURE: &str = r#"
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PROMPT=''; fpath=(${(q)1} \$fpath); autoload -U compinit; compinit -u -D"
zpty -w z 'compadd() { local -a h; builtin compadd -O h "$@"; (( $#h )) && print -rl -- "<hit>"${^h}; builtin compadd "$@" }'
zpty -w z "zstyle ':completion:*' menu no; print '<ready>'"
read_until() {
    local line tries=0
    while (( tries++ < 400 )); do
        if zpty -r -t z line; then
            [[ $line == *"<$1>"* && $line != *print* ]] && return 0
            [[ $line == *'<hit>'* && $1 == done ]] && print -r -- "${${line#*<hit>}%%$'\r'*}"
        else
            sleep 0.05
        fi
    done
    print -u2 "zsh did not answer"; return 1
}
read_until ready || exit 1
zpty -w -n z "$2"$'\t'
zpty -w z $'\C-u'"print '<done>'"
read_until done
"#;

fn zsh_completes_from_the_registry_with_the_script_in_fpath() {
    if Command::new("zsh").arg("--version").output().is_err() {
        skip("zsh (apt-get install zsh)");
    }
    let sandbox = Sandbox::new();
    fleet(&sandbox);
    let fpath = sandbox.path().join("zfunc");
    std::fs::create_dir(&fpath).unwrap();
    std::fs::copy(script("_pgacct"), fpath.join("_pgacct")).unwrap();
    let capture = sandbox.write("capture.zsh", ZSH_CAPTURE);
    let complete = |line: &str| -> Vec<String> {
        let ran =
            Run::of(shell(&sandbox, "zsh")).arg("-f").arg(&capture).arg(&fpath).arg(line).run();
        let mut offered: Vec<String> = Vec::new();
        for word in ran.stdout.lines() {
            if !offered.iter().any(|w| w == word) {
                offered.push(word.to_owned());
            }
        }
        offered
    };
    assert_eq!(complete("pgacct user list --env "), ["prod", "qa"]);
    assert_eq!(complete("pgacct user list --env qa --db "), ["billing", "orders"]);
    assert_eq!(complete("pgacct user list --env qa --where team="), ["team=core", "team=web"]);
    assert_eq!(
        complete("pgacct user list --env qa --cluster db"),
        ["db1.example.com:5432", "db2.example.com:5433"]
    );
    let commands = complete("pgacct ");
    assert!(commands.iter().any(|c| c == "registry"), "{commands:?}");
    assert!(!commands.iter().any(|c| c.contains("generate")), "{commands:?}");
}
