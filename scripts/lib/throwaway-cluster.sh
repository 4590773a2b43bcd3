# Sourced by scripts/demo and bench/: starts a throwaway PostgreSQL cluster
# from this machine's server binaries, in a temporary directory that is
# removed (server stopped) when the calling script exits.
#
# After `start_throwaway_cluster`:
#   $work                 the temporary directory, the caller's own (pgacct
#                         refuses a registry in a directory another user owns)
#   $pgdir                the server's directory inside it (data, socket, log)
#   $port                 the server's port on 127.0.0.1 (scram-sha-256)
#   $admin_password       the password of the superuser "postgres"
#   $bindir               the server binaries used
#   as_postgres CMD...    runs a command as the server's OS user

find_bindir() {
    if [ -n "${PG_BIN_DIR:-}" ]; then echo "$PG_BIN_DIR"; return; fi
    if command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ]; then
        pg_config --bindir; return
    fi
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

stop_throwaway_cluster() {
    (cd "$pgdir" && as_postgres "$bindir/pg_ctl" -D "$pgdir/data" -m fast stop >/dev/null 2>&1) || true
    rm -rf "$work"
}

start_throwaway_cluster() {
    bindir=$(find_bindir)
    if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
        echo "no PostgreSQL server binaries found: apt-get install postgresql, or set PG_BIN_DIR" >&2
        exit 1
    fi
    work=$(mktemp -d /tmp/pgacct-cluster-XXXXXX)
    pgdir=$work/pg
    trap stop_throwaway_cluster EXIT
    mkdir -m 700 "$pgdir"
    if [ "$(id -u)" -eq 0 ]; then
        # The server runs as postgres: it may pass through $work, not write it.
        chmod 711 "$work"
        chown postgres: "$pgdir"
    fi
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    admin_password=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
    (umask 077 && printf '%s' "$admin_password" > "$pgdir/pwfile")
    [ "$(id -u)" -ne 0 ] || chown postgres: "$pgdir/pwfile"
    (cd "$pgdir" && as_postgres "$bindir/initdb" -D "$pgdir/data" -U postgres --pwfile="$pgdir/pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 --no-sync >/dev/null)
    rm -f "$pgdir/pwfile"
    (cd "$pgdir" && as_postgres "$bindir/pg_ctl" -D "$pgdir/data" -l "$pgdir/server.log" -w \
        -o "-p $port -k $pgdir -c listen_addresses=127.0.0.1" start >/dev/null)
}
