# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_pgacct_global_optspecs
    string join \n registry= config= format= x/expanded wide q/quiet v/verbose no-color h/help V/version
end

function __fish_pgacct_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_pgacct_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_pgacct_using_subcommand
    set -l cmd (__fish_pgacct_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c pgacct -n "__fish_pgacct_needs_command" -l registry -d 'The registry file [default: the platform data directory\'s pgacct/pgacct.db]' -r -F
complete -c pgacct -n "__fish_pgacct_needs_command" -l config -d 'The configuration file [default: the platform config directory\'s pgacct/config.toml]' -r -F
complete -c pgacct -n "__fish_pgacct_needs_command" -l format -d 'Output format [default: table; csv for `registry export`, which also writes toml]' -r -f -a "table\t'A table for people'
json\t'One JSON document, with stable snake_case field names'
csv\t'CSV with a header row'"
complete -c pgacct -n "__fish_pgacct_needs_command" -s x -l expanded -d 'Tables: one block of `field | value` lines per record, every field shown (like psql\'s \\x)'
complete -c pgacct -n "__fish_pgacct_needs_command" -l wide -d 'Tables: show the wide columns too, however wide the table gets'
complete -c pgacct -n "__fish_pgacct_needs_command" -s q -l quiet -d 'Print only data and errors'
complete -c pgacct -n "__fish_pgacct_needs_command" -s v -l verbose -d 'Show the work on stderr: files, connections, statements (-vv: round trips too)'
complete -c pgacct -n "__fish_pgacct_needs_command" -l no-color -d 'Do not use colours (also: the NO_COLOR environment variable)'
complete -c pgacct -n "__fish_pgacct_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pgacct -n "__fish_pgacct_needs_command" -s V -l version -d 'Print version'
complete -c pgacct -n "__fish_pgacct_needs_command" -f -a "registry" -d 'Manage the inventory of target databases'
complete -c pgacct -n "__fish_pgacct_needs_command" -f -a "user" -d 'Create and change PostgreSQL login roles on registered targets'
complete -c pgacct -n "__fish_pgacct_needs_command" -f -a "audit" -d 'Read and check the audit trail'
complete -c pgacct -n "__fish_pgacct_needs_command" -f -a "notify" -d 'Check the notification channels of config.toml'
complete -c pgacct -n "__fish_pgacct_needs_command" -f -a "generate-assets" -d 'Write the shell completions and man pages into a directory'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and not __fish_seen_subcommand_from add list show update activate deactivate remove import export check" -l registry -d 'The registry file [default: the platform data directory\'s pgacct/pgacct.db]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and not __fish_seen_subcommand_from add list show update activate deactivate remove import export check" -l config -d 'The configuration file [default: the platform config directory\'s pgacct/config.toml]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and not __fish_seen_subcommand_from add list show update activate deactivate remove import export check" -l format -d 'Output format [default: table; csv for `registry export`, which also writes toml]' -r -f -a "table\t'A table for people'
json\t'One JSON document, with stable snake_case field names'
csv\t'CSV with a header row'"
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and not __fish_seen_subcommand_from add list show update activate deactivate remove import export check" -s x -l expanded -d 'Tables: one block of `field | value` lines per record, every field shown (like psql\'s \\x)'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and not __fish_seen_subcommand_from add list show update activate deactivate remove import export check" -l wide -d 'Tables: show the wide columns too, however wide the table gets'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and not __fish_seen_subcommand_from add list show update activate deactivate remove import export check" -s q -l quiet -d 'Print only data and errors'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and not __fish_seen_subcommand_from add list show update activate deactivate remove import export check" -s v -l verbose -d 'Show the work on stderr: files, connections, statements (-vv: round trips too)'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and not __fish_seen_subcommand_from add list show update activate deactivate remove import export check" -l no-color -d 'Do not use colours (also: the NO_COLOR environment variable)'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and not __fish_seen_subcommand_from add list show update activate deactivate remove import export check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and not __fish_seen_subcommand_from add list show update activate deactivate remove import export check" -s V -l version -d 'Print version'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and not __fish_seen_subcommand_from add list show update activate deactivate remove import export check" -f -a "add" -d 'Register a target database'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and not __fish_seen_subcommand_from add list show update activate deactivate remove import export check" -f -a "list" -d 'List registered targets'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and not __fish_seen_subcommand_from add list show update activate deactivate remove import export check" -f -a "show" -d 'Show one target'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and not __fish_seen_subcommand_from add list show update activate deactivate remove import export check" -f -a "update" -d 'Change a target\'s settings'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and not __fish_seen_subcommand_from add list show update activate deactivate remove import export check" -f -a "activate" -d 'Mark a target active again'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and not __fish_seen_subcommand_from add list show update activate deactivate remove import export check" -f -a "deactivate" -d 'Mark a target inactive: kept, but skipped by `--all`'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and not __fish_seen_subcommand_from add list show update activate deactivate remove import export check" -f -a "remove" -d 'Remove a target from the registry (nothing on the server changes)'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and not __fish_seen_subcommand_from add list show update activate deactivate remove import export check" -f -a "import" -d 'Add the targets of a CSV, TOML or JSON file, or sync with it'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and not __fish_seen_subcommand_from add list show update activate deactivate remove import export check" -f -a "export" -d 'Print every target in a form `registry import` reads back'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and not __fish_seen_subcommand_from add list show update activate deactivate remove import export check" -f -a "check" -d 'Connect to targets and report what pgacct finds there'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from add" -l env -d 'Environment name, e.g. dev, qa, prod' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from add" -l db -d 'Database name on the server' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from add" -l host -d 'Host name, IP address, Unix-socket directory (starting with /), or a list of them' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from add" -l port -d 'Port' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from add" -l sslmode -d 'libpq sslmode [default: $PGSSLMODE, else prefer]' -r -f -a "disable\t''
allow\t''
prefer\t''
require\t''
verify-ca\t''
verify-full\t''"
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from add" -l sslnegotiation -d 'How TLS starts: postgres, or direct (PostgreSQL 17+, needs sslmode require or stronger) [default: $PGSSLNEGOTIATION, else postgres]' -r -f -a "postgres\t''
direct\t''"
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from add" -l sslrootcert -d 'CA certificates (PEM file) to verify the server with, or `system`' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from add" -l sslcert -d 'Client certificate (PEM file), with --sslkey' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from add" -l sslkey -d 'Client private key (PEM file), with --sslcert' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from add" -l admin-user -d 'Role pgacct logs in as [default: $PGACCT_ADMIN_USER, $PG_ADMIN_USER, $PGUSER, the OS user]' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from add" -l admin-password-command -d 'A program that prints the admin password, \'PROGRAM ARGS...\' [default: [env.ENV] admin_password_command in config.toml]' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from add" -l label -d 'A label, KEY=VALUE, for --where to select by (repeatable)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from add" -l notes -d 'Free text kept with the entry' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from add" -l ticket -d 'A change reference (ticket) recorded in the audit trail' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from add" -l registry -d 'The registry file [default: the platform data directory\'s pgacct/pgacct.db]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from add" -l config -d 'The configuration file [default: the platform config directory\'s pgacct/config.toml]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from add" -l format -d 'Output format [default: table; csv for `registry export`, which also writes toml]' -r -f -a "table\t'A table for people'
json\t'One JSON document, with stable snake_case field names'
csv\t'CSV with a header row'"
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from add" -l inactive -d 'Register the target as inactive'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from add" -s y -l yes -d 'Answer yes to confirmations'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from add" -l dry-run -d 'Show the plan (the SQL each target would run), and change nothing'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from add" -s x -l expanded -d 'Tables: one block of `field | value` lines per record, every field shown (like psql\'s \\x)'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from add" -l wide -d 'Tables: show the wide columns too, however wide the table gets'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from add" -s q -l quiet -d 'Print only data and errors'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from add" -s v -l verbose -d 'Show the work on stderr: files, connections, statements (-vv: round trips too)'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from add" -l no-color -d 'Do not use colours (also: the NO_COLOR environment variable)'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from add" -s V -l version -d 'Print version'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from list" -l env -d 'Only this environment' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from list" -l where -d 'Only targets with this label, KEY=VALUE (repeatable: all must match)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from list" -l registry -d 'The registry file [default: the platform data directory\'s pgacct/pgacct.db]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from list" -l config -d 'The configuration file [default: the platform config directory\'s pgacct/config.toml]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from list" -l format -d 'Output format [default: table; csv for `registry export`, which also writes toml]' -r -f -a "table\t'A table for people'
json\t'One JSON document, with stable snake_case field names'
csv\t'CSV with a header row'"
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from list" -l active-only -d 'Only active targets'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from list" -s x -l expanded -d 'Tables: one block of `field | value` lines per record, every field shown (like psql\'s \\x)'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from list" -l wide -d 'Tables: show the wide columns too, however wide the table gets'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Print only data and errors'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from list" -s v -l verbose -d 'Show the work on stderr: files, connections, statements (-vv: round trips too)'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from list" -l no-color -d 'Do not use colours (also: the NO_COLOR environment variable)'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from show" -l env -d 'Environment name, e.g. dev, qa, prod' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from show" -l db -d 'Database name on the server' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from show" -l cluster -d 'The cluster, HOST or HOST:PORT, when the env has the db on several' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from show" -l registry -d 'The registry file [default: the platform data directory\'s pgacct/pgacct.db]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from show" -l config -d 'The configuration file [default: the platform config directory\'s pgacct/config.toml]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from show" -l format -d 'Output format [default: table; csv for `registry export`, which also writes toml]' -r -f -a "table\t'A table for people'
json\t'One JSON document, with stable snake_case field names'
csv\t'CSV with a header row'"
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from show" -s x -l expanded -d 'Tables: one block of `field | value` lines per record, every field shown (like psql\'s \\x)'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from show" -l wide -d 'Tables: show the wide columns too, however wide the table gets'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from show" -s q -l quiet -d 'Print only data and errors'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from show" -s v -l verbose -d 'Show the work on stderr: files, connections, statements (-vv: round trips too)'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from show" -l no-color -d 'Do not use colours (also: the NO_COLOR environment variable)'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from update" -l env -d 'Environment name, e.g. dev, qa, prod' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from update" -l db -d 'Database name on the server' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from update" -l cluster -d 'The cluster, HOST or HOST:PORT, when the env has the db on several' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from update" -l host -d 'New host name, IP address, Unix-socket directory, or a list of them (db1,db2:5433)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from update" -l port -d 'New port' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from update" -l sslmode -d 'libpq sslmode [default: $PGSSLMODE, else prefer]' -r -f -a "disable\t''
allow\t''
prefer\t''
require\t''
verify-ca\t''
verify-full\t''"
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from update" -l sslnegotiation -d 'How TLS starts: postgres, or direct (PostgreSQL 17+, needs sslmode require or stronger) [default: $PGSSLNEGOTIATION, else postgres]' -r -f -a "postgres\t''
direct\t''"
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from update" -l sslrootcert -d 'CA certificates (PEM file) to verify the server with, or `system`' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from update" -l sslcert -d 'Client certificate (PEM file), with --sslkey' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from update" -l sslkey -d 'Client private key (PEM file), with --sslcert' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from update" -l admin-user -d 'New admin role' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from update" -l admin-password-command -d 'New program that prints the admin password, \'PROGRAM ARGS...\'; \'\' clears it' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from update" -l notes -d 'New notes' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from update" -l unset -d 'Clear an optional setting (repeatable)' -r -f -a "sslmode\t''
sslnegotiation\t''
sslrootcert\t''
sslcert\t''
sslkey\t''
admin-user\t''
admin-password-command\t''
notes\t''"
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from update" -l label -d 'Set a label, KEY=VALUE (repeatable)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from update" -l unset-label -d 'Remove a label (repeatable)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from update" -l ticket -d 'A change reference (ticket) recorded in the audit trail' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from update" -l registry -d 'The registry file [default: the platform data directory\'s pgacct/pgacct.db]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from update" -l config -d 'The configuration file [default: the platform config directory\'s pgacct/config.toml]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from update" -l format -d 'Output format [default: table; csv for `registry export`, which also writes toml]' -r -f -a "table\t'A table for people'
json\t'One JSON document, with stable snake_case field names'
csv\t'CSV with a header row'"
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from update" -s y -l yes -d 'Answer yes to confirmations'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from update" -l dry-run -d 'Show the plan (the SQL each target would run), and change nothing'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from update" -s x -l expanded -d 'Tables: one block of `field | value` lines per record, every field shown (like psql\'s \\x)'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from update" -l wide -d 'Tables: show the wide columns too, however wide the table gets'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from update" -s q -l quiet -d 'Print only data and errors'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from update" -s v -l verbose -d 'Show the work on stderr: files, connections, statements (-vv: round trips too)'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from update" -l no-color -d 'Do not use colours (also: the NO_COLOR environment variable)'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from update" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from update" -s V -l version -d 'Print version'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from activate" -l env -d 'Environment name, e.g. dev, qa, prod' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from activate" -l db -d 'Database name on the server' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from activate" -l cluster -d 'The cluster, HOST or HOST:PORT, when the env has the db on several' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from activate" -l ticket -d 'A change reference (ticket) recorded in the audit trail' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from activate" -l registry -d 'The registry file [default: the platform data directory\'s pgacct/pgacct.db]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from activate" -l config -d 'The configuration file [default: the platform config directory\'s pgacct/config.toml]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from activate" -l format -d 'Output format [default: table; csv for `registry export`, which also writes toml]' -r -f -a "table\t'A table for people'
json\t'One JSON document, with stable snake_case field names'
csv\t'CSV with a header row'"
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from activate" -s y -l yes -d 'Answer yes to confirmations'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from activate" -l dry-run -d 'Show the plan (the SQL each target would run), and change nothing'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from activate" -s x -l expanded -d 'Tables: one block of `field | value` lines per record, every field shown (like psql\'s \\x)'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from activate" -l wide -d 'Tables: show the wide columns too, however wide the table gets'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from activate" -s q -l quiet -d 'Print only data and errors'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from activate" -s v -l verbose -d 'Show the work on stderr: files, connections, statements (-vv: round trips too)'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from activate" -l no-color -d 'Do not use colours (also: the NO_COLOR environment variable)'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from activate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from activate" -s V -l version -d 'Print version'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from deactivate" -l env -d 'Environment name, e.g. dev, qa, prod' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from deactivate" -l db -d 'Database name on the server' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from deactivate" -l cluster -d 'The cluster, HOST or HOST:PORT, when the env has the db on several' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from deactivate" -l ticket -d 'A change reference (ticket) recorded in the audit trail' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from deactivate" -l registry -d 'The registry file [default: the platform data directory\'s pgacct/pgacct.db]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from deactivate" -l config -d 'The configuration file [default: the platform config directory\'s pgacct/config.toml]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from deactivate" -l format -d 'Output format [default: table; csv for `registry export`, which also writes toml]' -r -f -a "table\t'A table for people'
json\t'One JSON document, with stable snake_case field names'
csv\t'CSV with a header row'"
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from deactivate" -s y -l yes -d 'Answer yes to confirmations'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from deactivate" -l dry-run -d 'Show the plan (the SQL each target would run), and change nothing'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from deactivate" -s x -l expanded -d 'Tables: one block of `field | value` lines per record, every field shown (like psql\'s \\x)'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from deactivate" -l wide -d 'Tables: show the wide columns too, however wide the table gets'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from deactivate" -s q -l quiet -d 'Print only data and errors'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from deactivate" -s v -l verbose -d 'Show the work on stderr: files, connections, statements (-vv: round trips too)'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from deactivate" -l no-color -d 'Do not use colours (also: the NO_COLOR environment variable)'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from deactivate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from deactivate" -s V -l version -d 'Print version'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from remove" -l env -d 'Environment name, e.g. dev, qa, prod' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from remove" -l db -d 'Database name on the server' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from remove" -l cluster -d 'The cluster, HOST or HOST:PORT, when the env has the db on several' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from remove" -l ticket -d 'A change reference (ticket) recorded in the audit trail' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from remove" -l registry -d 'The registry file [default: the platform data directory\'s pgacct/pgacct.db]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from remove" -l config -d 'The configuration file [default: the platform config directory\'s pgacct/config.toml]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from remove" -l format -d 'Output format [default: table; csv for `registry export`, which also writes toml]' -r -f -a "table\t'A table for people'
json\t'One JSON document, with stable snake_case field names'
csv\t'CSV with a header row'"
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from remove" -s y -l yes -d 'Answer yes to confirmations'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from remove" -l dry-run -d 'Show the plan (the SQL each target would run), and change nothing'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from remove" -s x -l expanded -d 'Tables: one block of `field | value` lines per record, every field shown (like psql\'s \\x)'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from remove" -l wide -d 'Tables: show the wide columns too, however wide the table gets'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from remove" -s q -l quiet -d 'Print only data and errors'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from remove" -s v -l verbose -d 'Show the work on stderr: files, connections, statements (-vv: round trips too)'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from remove" -l no-color -d 'Do not use colours (also: the NO_COLOR environment variable)'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from remove" -s V -l version -d 'Print version'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from import" -l env -d 'With --sync: only this environment; the file\'s other rows are left out' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from import" -l ticket -d 'A change reference (ticket) recorded in the audit trail' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from import" -l registry -d 'The registry file [default: the platform data directory\'s pgacct/pgacct.db]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from import" -l config -d 'The configuration file [default: the platform config directory\'s pgacct/config.toml]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from import" -l format -d 'Output format [default: table; csv for `registry export`, which also writes toml]' -r -f -a "table\t'A table for people'
json\t'One JSON document, with stable snake_case field names'
csv\t'CSV with a header row'"
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from import" -l sync -d 'Make the registry match the file: add, update, and deactivate the targets it does not list'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from import" -s y -l yes -d 'Answer yes to confirmations'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from import" -l dry-run -d 'Show the plan (the SQL each target would run), and change nothing'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from import" -s x -l expanded -d 'Tables: one block of `field | value` lines per record, every field shown (like psql\'s \\x)'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from import" -l wide -d 'Tables: show the wide columns too, however wide the table gets'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from import" -s q -l quiet -d 'Print only data and errors'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from import" -s v -l verbose -d 'Show the work on stderr: files, connections, statements (-vv: round trips too)'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from import" -l no-color -d 'Do not use colours (also: the NO_COLOR environment variable)'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from import" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from import" -s V -l version -d 'Print version'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from export" -l registry -d 'The registry file [default: the platform data directory\'s pgacct/pgacct.db]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from export" -l config -d 'The configuration file [default: the platform config directory\'s pgacct/config.toml]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from export" -l format -d 'Output format [default: table; csv for `registry export`, which also writes toml]' -r -f -a "table\t'A table for people'
json\t'One JSON document, with stable snake_case field names'
csv\t'CSV with a header row'"
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from export" -s x -l expanded -d 'Tables: one block of `field | value` lines per record, every field shown (like psql\'s \\x)'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from export" -l wide -d 'Tables: show the wide columns too, however wide the table gets'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from export" -s q -l quiet -d 'Print only data and errors'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from export" -s v -l verbose -d 'Show the work on stderr: files, connections, statements (-vv: round trips too)'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from export" -l no-color -d 'Do not use colours (also: the NO_COLOR environment variable)'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from export" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from export" -s V -l version -d 'Print version'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from check" -l env -d 'Only this environment [default: every environment]' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from check" -l db -d 'Only targets with this database name, on any cluster (repeatable)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from check" -l cluster -d 'Only the targets on this cluster, HOST or HOST:PORT (repeatable)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from check" -l where -d 'Only targets with this label, KEY=VALUE (repeatable: all must match)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from check" -s j -l jobs -d 'Work on at most N clusters at once (one session each; registry check: at most 4 per cluster)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from check" -l registry -d 'The registry file [default: the platform data directory\'s pgacct/pgacct.db]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from check" -l config -d 'The configuration file [default: the platform config directory\'s pgacct/config.toml]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from check" -l format -d 'Output format [default: table; csv for `registry export`, which also writes toml]' -r -f -a "table\t'A table for people'
json\t'One JSON document, with stable snake_case field names'
csv\t'CSV with a header row'"
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from check" -l all-envs -d 'Every environment (the default)'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from check" -s x -l expanded -d 'Tables: one block of `field | value` lines per record, every field shown (like psql\'s \\x)'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from check" -l wide -d 'Tables: show the wide columns too, however wide the table gets'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from check" -s q -l quiet -d 'Print only data and errors'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from check" -s v -l verbose -d 'Show the work on stderr: files, connections, statements (-vv: round trips too)'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from check" -l no-color -d 'Do not use colours (also: the NO_COLOR environment variable)'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pgacct -n "__fish_pgacct_using_subcommand registry; and __fish_seen_subcommand_from check" -s V -l version -d 'Print version'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and not __fish_seen_subcommand_from create-vm create-k8s create reset-password set-search-path list show lock unlock drop" -l registry -d 'The registry file [default: the platform data directory\'s pgacct/pgacct.db]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and not __fish_seen_subcommand_from create-vm create-k8s create reset-password set-search-path list show lock unlock drop" -l config -d 'The configuration file [default: the platform config directory\'s pgacct/config.toml]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and not __fish_seen_subcommand_from create-vm create-k8s create reset-password set-search-path list show lock unlock drop" -l format -d 'Output format [default: table; csv for `registry export`, which also writes toml]' -r -f -a "table\t'A table for people'
json\t'One JSON document, with stable snake_case field names'
csv\t'CSV with a header row'"
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and not __fish_seen_subcommand_from create-vm create-k8s create reset-password set-search-path list show lock unlock drop" -s x -l expanded -d 'Tables: one block of `field | value` lines per record, every field shown (like psql\'s \\x)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and not __fish_seen_subcommand_from create-vm create-k8s create reset-password set-search-path list show lock unlock drop" -l wide -d 'Tables: show the wide columns too, however wide the table gets'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and not __fish_seen_subcommand_from create-vm create-k8s create reset-password set-search-path list show lock unlock drop" -s q -l quiet -d 'Print only data and errors'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and not __fish_seen_subcommand_from create-vm create-k8s create reset-password set-search-path list show lock unlock drop" -s v -l verbose -d 'Show the work on stderr: files, connections, statements (-vv: round trips too)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and not __fish_seen_subcommand_from create-vm create-k8s create reset-password set-search-path list show lock unlock drop" -l no-color -d 'Do not use colours (also: the NO_COLOR environment variable)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and not __fish_seen_subcommand_from create-vm create-k8s create reset-password set-search-path list show lock unlock drop" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and not __fish_seen_subcommand_from create-vm create-k8s create reset-password set-search-path list show lock unlock drop" -s V -l version -d 'Print version'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and not __fish_seen_subcommand_from create-vm create-k8s create reset-password set-search-path list show lock unlock drop" -f -a "create-vm" -d 'Create a VM service account, named {server}_{service_port}'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and not __fish_seen_subcommand_from create-vm create-k8s create reset-password set-search-path list show lock unlock drop" -f -a "create-k8s" -d 'Create a Kubernetes service account, named {prefix}_{service}'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and not __fish_seen_subcommand_from create-vm create-k8s create reset-password set-search-path list show lock unlock drop" -f -a "create" -d 'Create an account of a type: devqa, devlead, readonly, dba, or one from config.toml'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and not __fish_seen_subcommand_from create-vm create-k8s create reset-password set-search-path list show lock unlock drop" -f -a "reset-password" -d 'Give an existing role a new password'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and not __fish_seen_subcommand_from create-vm create-k8s create reset-password set-search-path list show lock unlock drop" -f -a "set-search-path" -d 'Set an existing role\'s search_path in each target database'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and not __fish_seen_subcommand_from create-vm create-k8s create reset-password set-search-path list show lock unlock drop" -f -a "list" -d 'List the roles on the targets\' clusters'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and not __fish_seen_subcommand_from create-vm create-k8s create reset-password set-search-path list show lock unlock drop" -f -a "show" -d 'Show one role in detail: also what it owns, per database, and its sessions'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and not __fish_seen_subcommand_from create-vm create-k8s create reset-password set-search-path list show lock unlock drop" -f -a "lock" -d 'Stop a role from logging in (NOLOGIN)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and not __fish_seen_subcommand_from create-vm create-k8s create reset-password set-search-path list show lock unlock drop" -f -a "unlock" -d 'Let a locked role log in again (LOGIN)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and not __fish_seen_subcommand_from create-vm create-k8s create reset-password set-search-path list show lock unlock drop" -f -a "drop" -d 'Remove a role from the targets\' clusters'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-vm" -l env -d 'Environment of the targets' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-vm" -l db -d 'Every target with this database name, on any cluster (repeatable)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-vm" -l cluster -d 'The targets on this cluster, HOST or HOST:PORT (repeatable)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-vm" -l where -d 'The targets with this label, KEY=VALUE (repeatable: all must match)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-vm" -l retry -d 'The targets where operation ID did not succeed (the id of any of its records, as `audit show` and a partial result\'s hint give it)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-vm" -s j -l jobs -d 'Work on at most N clusters at once (one session each; registry check: at most 4 per cluster)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-vm" -l server -d 'The server the service runs on (host name or IP address)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-vm" -l service-port -d 'The port the service listens on' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-vm" -l password-from -d 'Take the password from a secret file pgacct wrote earlier (any --secret-format)' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-vm" -l secret-file -d 'Write the password to this file (mode 0600) instead of showing it' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-vm" -l secret-format -d 'Format of the secret file' -r -f -a "env\t'NAME=value lines: PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD, DATABASE_URL (one target)'
json\t'One JSON document: user, password, and the targets with their URLs'
pgpass\t'Password-file lines (host:port:database:user:password)'
url\t'One postgresql:// URL per target'
k8s-secret\t'A Kubernetes Secret manifest (stringData) per target'"
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-vm" -l ticket -d 'A change reference (ticket) recorded in the audit trail' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-vm" -l registry -d 'The registry file [default: the platform data directory\'s pgacct/pgacct.db]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-vm" -l config -d 'The configuration file [default: the platform config directory\'s pgacct/config.toml]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-vm" -l format -d 'Output format [default: table; csv for `registry export`, which also writes toml]' -r -f -a "table\t'A table for people'
json\t'One JSON document, with stable snake_case field names'
csv\t'CSV with a header row'"
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-vm" -l all -d 'Every active database of the environment'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-vm" -l password-stdin -d 'Read the password from stdin instead of generating one (one line; on a terminal, asked twice)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-vm" -l force -d 'Replace an existing secret file'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-vm" -s y -l yes -d 'Answer yes to confirmations'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-vm" -l dry-run -d 'Show the plan (the SQL each target would run), and change nothing'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-vm" -s x -l expanded -d 'Tables: one block of `field | value` lines per record, every field shown (like psql\'s \\x)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-vm" -l wide -d 'Tables: show the wide columns too, however wide the table gets'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-vm" -s q -l quiet -d 'Print only data and errors'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-vm" -s v -l verbose -d 'Show the work on stderr: files, connections, statements (-vv: round trips too)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-vm" -l no-color -d 'Do not use colours (also: the NO_COLOR environment variable)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-vm" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-vm" -s V -l version -d 'Print version'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-k8s" -l env -d 'Environment of the targets' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-k8s" -l db -d 'Every target with this database name, on any cluster (repeatable)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-k8s" -l cluster -d 'The targets on this cluster, HOST or HOST:PORT (repeatable)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-k8s" -l where -d 'The targets with this label, KEY=VALUE (repeatable: all must match)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-k8s" -l retry -d 'The targets where operation ID did not succeed (the id of any of its records, as `audit show` and a partial result\'s hint give it)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-k8s" -s j -l jobs -d 'Work on at most N clusters at once (one session each; registry check: at most 4 per cluster)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-k8s" -l service -d 'The service\'s name' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-k8s" -l prefix -d 'The name prefix [default: per environment]' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-k8s" -l password-from -d 'Take the password from a secret file pgacct wrote earlier (any --secret-format)' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-k8s" -l secret-file -d 'Write the password to this file (mode 0600) instead of showing it' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-k8s" -l secret-format -d 'Format of the secret file' -r -f -a "env\t'NAME=value lines: PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD, DATABASE_URL (one target)'
json\t'One JSON document: user, password, and the targets with their URLs'
pgpass\t'Password-file lines (host:port:database:user:password)'
url\t'One postgresql:// URL per target'
k8s-secret\t'A Kubernetes Secret manifest (stringData) per target'"
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-k8s" -l ticket -d 'A change reference (ticket) recorded in the audit trail' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-k8s" -l registry -d 'The registry file [default: the platform data directory\'s pgacct/pgacct.db]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-k8s" -l config -d 'The configuration file [default: the platform config directory\'s pgacct/config.toml]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-k8s" -l format -d 'Output format [default: table; csv for `registry export`, which also writes toml]' -r -f -a "table\t'A table for people'
json\t'One JSON document, with stable snake_case field names'
csv\t'CSV with a header row'"
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-k8s" -l all -d 'Every active database of the environment'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-k8s" -l password-stdin -d 'Read the password from stdin instead of generating one (one line; on a terminal, asked twice)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-k8s" -l force -d 'Replace an existing secret file'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-k8s" -s y -l yes -d 'Answer yes to confirmations'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-k8s" -l dry-run -d 'Show the plan (the SQL each target would run), and change nothing'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-k8s" -s x -l expanded -d 'Tables: one block of `field | value` lines per record, every field shown (like psql\'s \\x)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-k8s" -l wide -d 'Tables: show the wide columns too, however wide the table gets'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-k8s" -s q -l quiet -d 'Print only data and errors'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-k8s" -s v -l verbose -d 'Show the work on stderr: files, connections, statements (-vv: round trips too)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-k8s" -l no-color -d 'Do not use colours (also: the NO_COLOR environment variable)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-k8s" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create-k8s" -s V -l version -d 'Print version'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create" -l env -d 'Environment of the targets' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create" -l db -d 'Every target with this database name, on any cluster (repeatable)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create" -l cluster -d 'The targets on this cluster, HOST or HOST:PORT (repeatable)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create" -l where -d 'The targets with this label, KEY=VALUE (repeatable: all must match)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create" -l retry -d 'The targets where operation ID did not succeed (the id of any of its records, as `audit show` and a partial result\'s hint give it)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create" -s j -l jobs -d 'Work on at most N clusters at once (one session each; registry check: at most 4 per cluster)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create" -l type -d 'The account type' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create" -l password-from -d 'Take the password from a secret file pgacct wrote earlier (any --secret-format)' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create" -l secret-file -d 'Write the password to this file (mode 0600) instead of showing it' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create" -l secret-format -d 'Format of the secret file' -r -f -a "env\t'NAME=value lines: PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD, DATABASE_URL (one target)'
json\t'One JSON document: user, password, and the targets with their URLs'
pgpass\t'Password-file lines (host:port:database:user:password)'
url\t'One postgresql:// URL per target'
k8s-secret\t'A Kubernetes Secret manifest (stringData) per target'"
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create" -l ticket -d 'A change reference (ticket) recorded in the audit trail' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create" -l registry -d 'The registry file [default: the platform data directory\'s pgacct/pgacct.db]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create" -l config -d 'The configuration file [default: the platform config directory\'s pgacct/config.toml]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create" -l format -d 'Output format [default: table; csv for `registry export`, which also writes toml]' -r -f -a "table\t'A table for people'
json\t'One JSON document, with stable snake_case field names'
csv\t'CSV with a header row'"
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create" -l all -d 'Every active database of the environment'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create" -l password-stdin -d 'Read the password from stdin instead of generating one (one line; on a terminal, asked twice)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create" -l force -d 'Replace an existing secret file'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create" -s y -l yes -d 'Answer yes to confirmations'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create" -l dry-run -d 'Show the plan (the SQL each target would run), and change nothing'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create" -s x -l expanded -d 'Tables: one block of `field | value` lines per record, every field shown (like psql\'s \\x)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create" -l wide -d 'Tables: show the wide columns too, however wide the table gets'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create" -s q -l quiet -d 'Print only data and errors'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create" -s v -l verbose -d 'Show the work on stderr: files, connections, statements (-vv: round trips too)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create" -l no-color -d 'Do not use colours (also: the NO_COLOR environment variable)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from create" -s V -l version -d 'Print version'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from reset-password" -l env -d 'Environment of the targets' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from reset-password" -l db -d 'Every target with this database name, on any cluster (repeatable)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from reset-password" -l cluster -d 'The targets on this cluster, HOST or HOST:PORT (repeatable)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from reset-password" -l where -d 'The targets with this label, KEY=VALUE (repeatable: all must match)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from reset-password" -l retry -d 'The targets where operation ID did not succeed (the id of any of its records, as `audit show` and a partial result\'s hint give it)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from reset-password" -s j -l jobs -d 'Work on at most N clusters at once (one session each; registry check: at most 4 per cluster)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from reset-password" -l password-from -d 'Take the password from a secret file pgacct wrote earlier (any --secret-format)' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from reset-password" -l secret-file -d 'Write the password to this file (mode 0600) instead of showing it' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from reset-password" -l secret-format -d 'Format of the secret file' -r -f -a "env\t'NAME=value lines: PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD, DATABASE_URL (one target)'
json\t'One JSON document: user, password, and the targets with their URLs'
pgpass\t'Password-file lines (host:port:database:user:password)'
url\t'One postgresql:// URL per target'
k8s-secret\t'A Kubernetes Secret manifest (stringData) per target'"
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from reset-password" -l ticket -d 'A change reference (ticket) recorded in the audit trail' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from reset-password" -l registry -d 'The registry file [default: the platform data directory\'s pgacct/pgacct.db]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from reset-password" -l config -d 'The configuration file [default: the platform config directory\'s pgacct/config.toml]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from reset-password" -l format -d 'Output format [default: table; csv for `registry export`, which also writes toml]' -r -f -a "table\t'A table for people'
json\t'One JSON document, with stable snake_case field names'
csv\t'CSV with a header row'"
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from reset-password" -l all -d 'Every active database of the environment'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from reset-password" -l password-stdin -d 'Read the password from stdin instead of generating one (one line; on a terminal, asked twice)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from reset-password" -l force -d 'Replace an existing secret file'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from reset-password" -s y -l yes -d 'Answer yes to confirmations'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from reset-password" -l dry-run -d 'Show the plan (the SQL each target would run), and change nothing'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from reset-password" -s x -l expanded -d 'Tables: one block of `field | value` lines per record, every field shown (like psql\'s \\x)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from reset-password" -l wide -d 'Tables: show the wide columns too, however wide the table gets'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from reset-password" -s q -l quiet -d 'Print only data and errors'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from reset-password" -s v -l verbose -d 'Show the work on stderr: files, connections, statements (-vv: round trips too)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from reset-password" -l no-color -d 'Do not use colours (also: the NO_COLOR environment variable)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from reset-password" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from reset-password" -s V -l version -d 'Print version'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from set-search-path" -l env -d 'Environment of the targets' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from set-search-path" -l db -d 'Every target with this database name, on any cluster (repeatable)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from set-search-path" -l cluster -d 'The targets on this cluster, HOST or HOST:PORT (repeatable)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from set-search-path" -l where -d 'The targets with this label, KEY=VALUE (repeatable: all must match)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from set-search-path" -l retry -d 'The targets where operation ID did not succeed (the id of any of its records, as `audit show` and a partial result\'s hint give it)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from set-search-path" -s j -l jobs -d 'Work on at most N clusters at once (one session each; registry check: at most 4 per cluster)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from set-search-path" -l ticket -d 'A change reference (ticket) recorded in the audit trail' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from set-search-path" -l registry -d 'The registry file [default: the platform data directory\'s pgacct/pgacct.db]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from set-search-path" -l config -d 'The configuration file [default: the platform config directory\'s pgacct/config.toml]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from set-search-path" -l format -d 'Output format [default: table; csv for `registry export`, which also writes toml]' -r -f -a "table\t'A table for people'
json\t'One JSON document, with stable snake_case field names'
csv\t'CSV with a header row'"
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from set-search-path" -l all -d 'Every active database of the environment'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from set-search-path" -s y -l yes -d 'Answer yes to confirmations'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from set-search-path" -l dry-run -d 'Show the plan (the SQL each target would run), and change nothing'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from set-search-path" -s x -l expanded -d 'Tables: one block of `field | value` lines per record, every field shown (like psql\'s \\x)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from set-search-path" -l wide -d 'Tables: show the wide columns too, however wide the table gets'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from set-search-path" -s q -l quiet -d 'Print only data and errors'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from set-search-path" -s v -l verbose -d 'Show the work on stderr: files, connections, statements (-vv: round trips too)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from set-search-path" -l no-color -d 'Do not use colours (also: the NO_COLOR environment variable)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from set-search-path" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from set-search-path" -s V -l version -d 'Print version'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from list" -l env -d 'Environment of the targets' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from list" -l db -d 'Every target with this database name, on any cluster (repeatable)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from list" -l cluster -d 'The targets on this cluster, HOST or HOST:PORT (repeatable)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from list" -l where -d 'The targets with this label, KEY=VALUE (repeatable: all must match)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from list" -s j -l jobs -d 'Work on at most N clusters at once (one session each; registry check: at most 4 per cluster)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from list" -l name -d 'Only roles whose name matches (psql-style: * and ?)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from list" -l registry -d 'The registry file [default: the platform data directory\'s pgacct/pgacct.db]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from list" -l config -d 'The configuration file [default: the platform config directory\'s pgacct/config.toml]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from list" -l format -d 'Output format [default: table; csv for `registry export`, which also writes toml]' -r -f -a "table\t'A table for people'
json\t'One JSON document, with stable snake_case field names'
csv\t'CSV with a header row'"
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from list" -l all-envs -d 'Every environment'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from list" -l all -d 'Every active database of the environment'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from list" -s x -l expanded -d 'Tables: one block of `field | value` lines per record, every field shown (like psql\'s \\x)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from list" -l wide -d 'Tables: show the wide columns too, however wide the table gets'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Print only data and errors'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from list" -s v -l verbose -d 'Show the work on stderr: files, connections, statements (-vv: round trips too)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from list" -l no-color -d 'Do not use colours (also: the NO_COLOR environment variable)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from show" -l env -d 'Environment of the targets' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from show" -l db -d 'Every target with this database name, on any cluster (repeatable)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from show" -l cluster -d 'The targets on this cluster, HOST or HOST:PORT (repeatable)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from show" -l where -d 'The targets with this label, KEY=VALUE (repeatable: all must match)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from show" -s j -l jobs -d 'Work on at most N clusters at once (one session each; registry check: at most 4 per cluster)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from show" -l registry -d 'The registry file [default: the platform data directory\'s pgacct/pgacct.db]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from show" -l config -d 'The configuration file [default: the platform config directory\'s pgacct/config.toml]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from show" -l format -d 'Output format [default: table; csv for `registry export`, which also writes toml]' -r -f -a "table\t'A table for people'
json\t'One JSON document, with stable snake_case field names'
csv\t'CSV with a header row'"
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from show" -l all-envs -d 'Every environment'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from show" -l all -d 'Every active database of the environment'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from show" -s x -l expanded -d 'Tables: one block of `field | value` lines per record, every field shown (like psql\'s \\x)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from show" -l wide -d 'Tables: show the wide columns too, however wide the table gets'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from show" -s q -l quiet -d 'Print only data and errors'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from show" -s v -l verbose -d 'Show the work on stderr: files, connections, statements (-vv: round trips too)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from show" -l no-color -d 'Do not use colours (also: the NO_COLOR environment variable)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from lock" -l env -d 'Environment of the targets' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from lock" -l db -d 'Every target with this database name, on any cluster (repeatable)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from lock" -l cluster -d 'The targets on this cluster, HOST or HOST:PORT (repeatable)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from lock" -l where -d 'The targets with this label, KEY=VALUE (repeatable: all must match)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from lock" -l retry -d 'The targets where operation ID did not succeed (the id of any of its records, as `audit show` and a partial result\'s hint give it)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from lock" -s j -l jobs -d 'Work on at most N clusters at once (one session each; registry check: at most 4 per cluster)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from lock" -l ticket -d 'A change reference (ticket) recorded in the audit trail' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from lock" -l registry -d 'The registry file [default: the platform data directory\'s pgacct/pgacct.db]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from lock" -l config -d 'The configuration file [default: the platform config directory\'s pgacct/config.toml]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from lock" -l format -d 'Output format [default: table; csv for `registry export`, which also writes toml]' -r -f -a "table\t'A table for people'
json\t'One JSON document, with stable snake_case field names'
csv\t'CSV with a header row'"
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from lock" -l all -d 'Every active database of the environment'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from lock" -l terminate -d 'Also end the role\'s current sessions'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from lock" -s y -l yes -d 'Answer yes to confirmations'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from lock" -l dry-run -d 'Show the plan (the SQL each target would run), and change nothing'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from lock" -s x -l expanded -d 'Tables: one block of `field | value` lines per record, every field shown (like psql\'s \\x)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from lock" -l wide -d 'Tables: show the wide columns too, however wide the table gets'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from lock" -s q -l quiet -d 'Print only data and errors'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from lock" -s v -l verbose -d 'Show the work on stderr: files, connections, statements (-vv: round trips too)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from lock" -l no-color -d 'Do not use colours (also: the NO_COLOR environment variable)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from lock" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from lock" -s V -l version -d 'Print version'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from unlock" -l env -d 'Environment of the targets' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from unlock" -l db -d 'Every target with this database name, on any cluster (repeatable)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from unlock" -l cluster -d 'The targets on this cluster, HOST or HOST:PORT (repeatable)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from unlock" -l where -d 'The targets with this label, KEY=VALUE (repeatable: all must match)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from unlock" -l retry -d 'The targets where operation ID did not succeed (the id of any of its records, as `audit show` and a partial result\'s hint give it)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from unlock" -s j -l jobs -d 'Work on at most N clusters at once (one session each; registry check: at most 4 per cluster)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from unlock" -l ticket -d 'A change reference (ticket) recorded in the audit trail' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from unlock" -l registry -d 'The registry file [default: the platform data directory\'s pgacct/pgacct.db]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from unlock" -l config -d 'The configuration file [default: the platform config directory\'s pgacct/config.toml]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from unlock" -l format -d 'Output format [default: table; csv for `registry export`, which also writes toml]' -r -f -a "table\t'A table for people'
json\t'One JSON document, with stable snake_case field names'
csv\t'CSV with a header row'"
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from unlock" -l all -d 'Every active database of the environment'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from unlock" -s y -l yes -d 'Answer yes to confirmations'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from unlock" -l dry-run -d 'Show the plan (the SQL each target would run), and change nothing'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from unlock" -s x -l expanded -d 'Tables: one block of `field | value` lines per record, every field shown (like psql\'s \\x)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from unlock" -l wide -d 'Tables: show the wide columns too, however wide the table gets'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from unlock" -s q -l quiet -d 'Print only data and errors'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from unlock" -s v -l verbose -d 'Show the work on stderr: files, connections, statements (-vv: round trips too)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from unlock" -l no-color -d 'Do not use colours (also: the NO_COLOR environment variable)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from unlock" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from unlock" -s V -l version -d 'Print version'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from drop" -l env -d 'Environment of the targets' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from drop" -l db -d 'Every target with this database name, on any cluster (repeatable)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from drop" -l cluster -d 'The targets on this cluster, HOST or HOST:PORT (repeatable)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from drop" -l where -d 'The targets with this label, KEY=VALUE (repeatable: all must match)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from drop" -l retry -d 'The targets where operation ID did not succeed (the id of any of its records, as `audit show` and a partial result\'s hint give it)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from drop" -s j -l jobs -d 'Work on at most N clusters at once (one session each; registry check: at most 4 per cluster)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from drop" -l reassign-to -d 'The role that gets what it owns [default: the admin role]' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from drop" -l ticket -d 'A change reference (ticket) recorded in the audit trail' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from drop" -l registry -d 'The registry file [default: the platform data directory\'s pgacct/pgacct.db]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from drop" -l config -d 'The configuration file [default: the platform config directory\'s pgacct/config.toml]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from drop" -l format -d 'Output format [default: table; csv for `registry export`, which also writes toml]' -r -f -a "table\t'A table for people'
json\t'One JSON document, with stable snake_case field names'
csv\t'CSV with a header row'"
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from drop" -l all -d 'Every active database of the environment'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from drop" -s y -l yes -d 'Answer yes to confirmations'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from drop" -l dry-run -d 'Show the plan (the SQL each target would run), and change nothing'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from drop" -s x -l expanded -d 'Tables: one block of `field | value` lines per record, every field shown (like psql\'s \\x)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from drop" -l wide -d 'Tables: show the wide columns too, however wide the table gets'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from drop" -s q -l quiet -d 'Print only data and errors'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from drop" -s v -l verbose -d 'Show the work on stderr: files, connections, statements (-vv: round trips too)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from drop" -l no-color -d 'Do not use colours (also: the NO_COLOR environment variable)'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from drop" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pgacct -n "__fish_pgacct_using_subcommand user; and __fish_seen_subcommand_from drop" -s V -l version -d 'Print version'
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and not __fish_seen_subcommand_from show verify seal" -l registry -d 'The registry file [default: the platform data directory\'s pgacct/pgacct.db]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and not __fish_seen_subcommand_from show verify seal" -l config -d 'The configuration file [default: the platform config directory\'s pgacct/config.toml]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and not __fish_seen_subcommand_from show verify seal" -l format -d 'Output format [default: table; csv for `registry export`, which also writes toml]' -r -f -a "table\t'A table for people'
json\t'One JSON document, with stable snake_case field names'
csv\t'CSV with a header row'"
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and not __fish_seen_subcommand_from show verify seal" -s x -l expanded -d 'Tables: one block of `field | value` lines per record, every field shown (like psql\'s \\x)'
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and not __fish_seen_subcommand_from show verify seal" -l wide -d 'Tables: show the wide columns too, however wide the table gets'
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and not __fish_seen_subcommand_from show verify seal" -s q -l quiet -d 'Print only data and errors'
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and not __fish_seen_subcommand_from show verify seal" -s v -l verbose -d 'Show the work on stderr: files, connections, statements (-vv: round trips too)'
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and not __fish_seen_subcommand_from show verify seal" -l no-color -d 'Do not use colours (also: the NO_COLOR environment variable)'
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and not __fish_seen_subcommand_from show verify seal" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and not __fish_seen_subcommand_from show verify seal" -s V -l version -d 'Print version'
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and not __fish_seen_subcommand_from show verify seal" -f -a "show" -d 'Show operations, newest first'
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and not __fish_seen_subcommand_from show verify seal" -f -a "verify" -d 'Check that the trail is intact'
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and not __fish_seen_subcommand_from show verify seal" -f -a "seal" -d 'Seal the trail: from the next record on, every record must be made with the audit key'
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from show" -l env -d 'Only this environment' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from show" -l db -d 'Only this database' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from show" -l user -d 'Only operations on this PostgreSQL role' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from show" -l actor -d 'Only operations run by this OS user' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from show" -l operation -d 'Only this operation, or a group of them (e.g. registry, registry.add)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from show" -l since -d 'From this time: RFC 3339, a date (UTC), or a span before now (24h, 7d)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from show" -l until -d 'Up to this time (a date includes the whole day)' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from show" -l limit -d 'Show at most N operations; 0 shows all' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from show" -l registry -d 'The registry file [default: the platform data directory\'s pgacct/pgacct.db]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from show" -l config -d 'The configuration file [default: the platform config directory\'s pgacct/config.toml]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from show" -l format -d 'Output format [default: table; csv for `registry export`, which also writes toml]' -r -f -a "table\t'A table for people'
json\t'One JSON document, with stable snake_case field names'
csv\t'CSV with a header row'"
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from show" -l all-envs -d 'Every environment (the default)'
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from show" -l failed -d 'Only failed operations'
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from show" -l incomplete -d 'Only operations without an outcome (killed, or still running)'
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from show" -s x -l expanded -d 'Tables: one block of `field | value` lines per record, every field shown (like psql\'s \\x)'
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from show" -l wide -d 'Tables: show the wide columns too, however wide the table gets'
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from show" -s q -l quiet -d 'Print only data and errors'
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from show" -s v -l verbose -d 'Show the work on stderr: files, connections, statements (-vv: round trips too)'
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from show" -l no-color -d 'Do not use colours (also: the NO_COLOR environment variable)'
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from verify" -l expect -d 'A head noted earlier (ID:HASH, as `audit verify` prints it) that must still be in the trail, unchanged' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from verify" -l registry -d 'The registry file [default: the platform data directory\'s pgacct/pgacct.db]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from verify" -l config -d 'The configuration file [default: the platform config directory\'s pgacct/config.toml]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from verify" -l format -d 'Output format [default: table; csv for `registry export`, which also writes toml]' -r -f -a "table\t'A table for people'
json\t'One JSON document, with stable snake_case field names'
csv\t'CSV with a header row'"
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from verify" -s x -l expanded -d 'Tables: one block of `field | value` lines per record, every field shown (like psql\'s \\x)'
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from verify" -l wide -d 'Tables: show the wide columns too, however wide the table gets'
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from verify" -s q -l quiet -d 'Print only data and errors'
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from verify" -s v -l verbose -d 'Show the work on stderr: files, connections, statements (-vv: round trips too)'
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from verify" -l no-color -d 'Do not use colours (also: the NO_COLOR environment variable)'
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from verify" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from verify" -s V -l version -d 'Print version'
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from seal" -l ticket -d 'A change reference (ticket) recorded in the audit trail' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from seal" -l registry -d 'The registry file [default: the platform data directory\'s pgacct/pgacct.db]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from seal" -l config -d 'The configuration file [default: the platform config directory\'s pgacct/config.toml]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from seal" -l format -d 'Output format [default: table; csv for `registry export`, which also writes toml]' -r -f -a "table\t'A table for people'
json\t'One JSON document, with stable snake_case field names'
csv\t'CSV with a header row'"
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from seal" -s y -l yes -d 'Answer yes to confirmations'
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from seal" -l dry-run -d 'Show the plan (the SQL each target would run), and change nothing'
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from seal" -s x -l expanded -d 'Tables: one block of `field | value` lines per record, every field shown (like psql\'s \\x)'
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from seal" -l wide -d 'Tables: show the wide columns too, however wide the table gets'
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from seal" -s q -l quiet -d 'Print only data and errors'
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from seal" -s v -l verbose -d 'Show the work on stderr: files, connections, statements (-vv: round trips too)'
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from seal" -l no-color -d 'Do not use colours (also: the NO_COLOR environment variable)'
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from seal" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pgacct -n "__fish_pgacct_using_subcommand audit; and __fish_seen_subcommand_from seal" -s V -l version -d 'Print version'
complete -c pgacct -n "__fish_pgacct_using_subcommand notify; and not __fish_seen_subcommand_from test" -l registry -d 'The registry file [default: the platform data directory\'s pgacct/pgacct.db]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand notify; and not __fish_seen_subcommand_from test" -l config -d 'The configuration file [default: the platform config directory\'s pgacct/config.toml]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand notify; and not __fish_seen_subcommand_from test" -l format -d 'Output format [default: table; csv for `registry export`, which also writes toml]' -r -f -a "table\t'A table for people'
json\t'One JSON document, with stable snake_case field names'
csv\t'CSV with a header row'"
complete -c pgacct -n "__fish_pgacct_using_subcommand notify; and not __fish_seen_subcommand_from test" -s x -l expanded -d 'Tables: one block of `field | value` lines per record, every field shown (like psql\'s \\x)'
complete -c pgacct -n "__fish_pgacct_using_subcommand notify; and not __fish_seen_subcommand_from test" -l wide -d 'Tables: show the wide columns too, however wide the table gets'
complete -c pgacct -n "__fish_pgacct_using_subcommand notify; and not __fish_seen_subcommand_from test" -s q -l quiet -d 'Print only data and errors'
complete -c pgacct -n "__fish_pgacct_using_subcommand notify; and not __fish_seen_subcommand_from test" -s v -l verbose -d 'Show the work on stderr: files, connections, statements (-vv: round trips too)'
complete -c pgacct -n "__fish_pgacct_using_subcommand notify; and not __fish_seen_subcommand_from test" -l no-color -d 'Do not use colours (also: the NO_COLOR environment variable)'
complete -c pgacct -n "__fish_pgacct_using_subcommand notify; and not __fish_seen_subcommand_from test" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pgacct -n "__fish_pgacct_using_subcommand notify; and not __fish_seen_subcommand_from test" -s V -l version -d 'Print version'
complete -c pgacct -n "__fish_pgacct_using_subcommand notify; and not __fish_seen_subcommand_from test" -f -a "test" -d 'Send a test event through the configured channels and report each result'
complete -c pgacct -n "__fish_pgacct_using_subcommand notify; and __fish_seen_subcommand_from test" -l kind -d 'Only channels of this kind' -r -f -a "slack\t''
webex\t''
webhook\t''
command\t''
email\t''"
complete -c pgacct -n "__fish_pgacct_using_subcommand notify; and __fish_seen_subcommand_from test" -l ticket -d 'A change reference (ticket) recorded in the audit trail' -r
complete -c pgacct -n "__fish_pgacct_using_subcommand notify; and __fish_seen_subcommand_from test" -l registry -d 'The registry file [default: the platform data directory\'s pgacct/pgacct.db]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand notify; and __fish_seen_subcommand_from test" -l config -d 'The configuration file [default: the platform config directory\'s pgacct/config.toml]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand notify; and __fish_seen_subcommand_from test" -l format -d 'Output format [default: table; csv for `registry export`, which also writes toml]' -r -f -a "table\t'A table for people'
json\t'One JSON document, with stable snake_case field names'
csv\t'CSV with a header row'"
complete -c pgacct -n "__fish_pgacct_using_subcommand notify; and __fish_seen_subcommand_from test" -s y -l yes -d 'Answer yes to confirmations'
complete -c pgacct -n "__fish_pgacct_using_subcommand notify; and __fish_seen_subcommand_from test" -l dry-run -d 'Show the plan (the SQL each target would run), and change nothing'
complete -c pgacct -n "__fish_pgacct_using_subcommand notify; and __fish_seen_subcommand_from test" -s x -l expanded -d 'Tables: one block of `field | value` lines per record, every field shown (like psql\'s \\x)'
complete -c pgacct -n "__fish_pgacct_using_subcommand notify; and __fish_seen_subcommand_from test" -l wide -d 'Tables: show the wide columns too, however wide the table gets'
complete -c pgacct -n "__fish_pgacct_using_subcommand notify; and __fish_seen_subcommand_from test" -s q -l quiet -d 'Print only data and errors'
complete -c pgacct -n "__fish_pgacct_using_subcommand notify; and __fish_seen_subcommand_from test" -s v -l verbose -d 'Show the work on stderr: files, connections, statements (-vv: round trips too)'
complete -c pgacct -n "__fish_pgacct_using_subcommand notify; and __fish_seen_subcommand_from test" -l no-color -d 'Do not use colours (also: the NO_COLOR environment variable)'
complete -c pgacct -n "__fish_pgacct_using_subcommand notify; and __fish_seen_subcommand_from test" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pgacct -n "__fish_pgacct_using_subcommand notify; and __fish_seen_subcommand_from test" -s V -l version -d 'Print version'
complete -c pgacct -n "__fish_pgacct_using_subcommand generate-assets" -l registry -d 'The registry file [default: the platform data directory\'s pgacct/pgacct.db]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand generate-assets" -l config -d 'The configuration file [default: the platform config directory\'s pgacct/config.toml]' -r -F
complete -c pgacct -n "__fish_pgacct_using_subcommand generate-assets" -l format -d 'Output format [default: table; csv for `registry export`, which also writes toml]' -r -f -a "table\t'A table for people'
json\t'One JSON document, with stable snake_case field names'
csv\t'CSV with a header row'"
complete -c pgacct -n "__fish_pgacct_using_subcommand generate-assets" -s x -l expanded -d 'Tables: one block of `field | value` lines per record, every field shown (like psql\'s \\x)'
complete -c pgacct -n "__fish_pgacct_using_subcommand generate-assets" -l wide -d 'Tables: show the wide columns too, however wide the table gets'
complete -c pgacct -n "__fish_pgacct_using_subcommand generate-assets" -s q -l quiet -d 'Print only data and errors'
complete -c pgacct -n "__fish_pgacct_using_subcommand generate-assets" -s v -l verbose -d 'Show the work on stderr: files, connections, statements (-vv: round trips too)'
complete -c pgacct -n "__fish_pgacct_using_subcommand generate-assets" -l no-color -d 'Do not use colours (also: the NO_COLOR environment variable)'
complete -c pgacct -n "__fish_pgacct_using_subcommand generate-assets" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pgacct -n "__fish_pgacct_using_subcommand generate-assets" -s V -l version -d 'Print version'
