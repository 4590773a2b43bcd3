# Sourced by bench/: starts many small throwaway PostgreSQL servers, copied
# from one initdb template, in a temporary directory that is removed
# (servers stopped) when the calling script exits. Cheap enough for 50
# servers on 2 cores: one initdb, then a copy of its data directory each.
#
#   fleet_init
#       creates $work (the caller's own directory, on disk), $fleet_root (the
#       servers' directory, in /dev/shm when it exists: copying data
#       directories there is ten times faster) and $admin_password (the
#       password of the superuser "postgres" on every server)
#   fleet_start NAME COUNT [BINDIR] [SETUP_SQL] [CONFIGURE_FN]
#       initdb a template with BINDIR's server (default: find_bindir), append
#       the settings below to its postgresql.conf, call CONFIGURE_FN DATADIR
#       (as root or the caller, before the server first starts: certificates,
#       pg_hba.conf, more settings), run SETUP_SQL in it as postgres (a
#       script: one transaction per statement), stop it,
#       then start COUNT copies on free 127.0.0.1 ports. Their ports are left
#       in the array fleet_ports and, one a line, in $fleet_root/NAME/ports.
#   fleet_on_exit CMD...
#       runs CMD (e.g. stopping a proxy) on exit, before the servers stop
#   fleet_psql PORT SQL
#       runs SQL as postgres on 127.0.0.1:PORT, unaligned, tuples only
#
# Settings: FLEET_MAX_CONNECTIONS (default 20) and FLEET_SHARED_BUFFERS
# (default 2MB). Every server runs with fsync off and no autovacuum: the
# benchmarks measure clients and the network, not this machine's disk, and
# 50 servers flushing one disk would serialize the tools being compared.
# pg_hba: local trust, host scram-sha-256 (the admin's password is needed).

source "$(dirname "${BASH_SOURCE[0]}")/throwaway-cluster.sh"

fleet_cleanup_cmds=()
fleet_on_exit() { fleet_cleanup_cmds+=("$*"); }

fleet_stop_all() {
    local cmd dir
    for cmd in "${fleet_cleanup_cmds[@]}"; do eval "$cmd" || true; done
    for dir in "$fleet_root"/*/[0-9]*/data; do
        [ -f "$dir/postmaster.pid" ] || continue
        (cd / && as_postgres "$(cat "${dir%/*/data}/bindir")/pg_ctl" -D "$dir" -m immediate stop \
            >/dev/null 2>&1) &
    done
    wait
    rm -rf "$work" "$fleet_root"
}

fleet_init() {
    local shm=/dev/shm
    [ -d "$shm" ] && [ -w "$shm" ] || shm=${TMPDIR:-/tmp}
    work=$(mktemp -d /tmp/pgacct-bench-XXXXXX)
    fleet_root=$(mktemp -d "${FLEET_ROOT:-$shm}/pgacct-fleet-XXXXXX")
    trap fleet_stop_all EXIT
    # The servers run as postgres: they may pass through, not write.
    [ "$(id -u)" -ne 0 ] || chmod 711 "$work" "$fleet_root"
    admin_password=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
}

# N distinct free ports on 127.0.0.1, one a line.
free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print("\n".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# The psql used for setup: any psql talks to any server major.
fleet_psql_bin() {
    if [ -n "${PSQL:-}" ]; then echo "$PSQL"; return; fi
    local d
    for d in "$(find_bindir)" /usr/lib/postgresql/*/bin; do
        [ -x "$d/psql" ] && { echo "$d/psql"; return; }
    done
    command -v psql
}

fleet_psql() {
    PGPASSWORD="$admin_password" "$(fleet_psql_bin)" -X -qAt -v ON_ERROR_STOP=1 -h 127.0.0.1 \
        -p "$1" -U postgres -d postgres -c "$2"
}

fleet_start() {
    local name=$1 count=$2 bin=${3:-$(find_bindir)} setup_sql=${4:-} configure=${5:-}
    local dir=$fleet_root/$name template pwfile i
    if [ ! -x "$bin/initdb" ]; then
        echo "no PostgreSQL server binaries in '$bin'" >&2
        return 1
    fi
    mkdir -p "$dir/template"
    echo "$bin" >"$dir/bindir"
    [ "$(id -u)" -ne 0 ] || chown postgres: "$dir/template"
    template=$dir/template/data
    pwfile=$dir/template/pwfile
    (umask 077 && printf '%s' "$admin_password" >"$pwfile")
    [ "$(id -u)" -ne 0 ] || chown postgres: "$pwfile"
    (cd / && as_postgres "$bin/initdb" -D "$template" -U postgres --pwfile="$pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 --no-sync --no-instructions \
        --wal-segsize=1 >"$dir/initdb.log" 2>&1) || { cat "$dir/initdb.log" >&2; return 1; }
    rm -f "$pwfile"
    cat >>"$template/postgresql.conf" <<EOF
# throwaway-fleet.sh
listen_addresses = '127.0.0.1'
max_connections = ${FLEET_MAX_CONNECTIONS:-20}
shared_buffers = ${FLEET_SHARED_BUFFERS:-2MB}
password_encryption = 'scram-sha-256'
fsync = off
full_page_writes = off
autovacuum = off
max_wal_size = 32MB
min_wal_size = 2MB
max_worker_processes = 2
max_parallel_workers = 0
logging_collector = off
# in the data directory, so an immediate stop leaves nothing in /dev/shm
dynamic_shared_memory_type = mmap
EOF
    if [ -n "$configure" ]; then
        "$configure" "$template"
        [ "$(id -u)" -ne 0 ] || chown -R postgres: "$template"
    fi
    if [ -n "$setup_sql" ]; then
        # On a socket only, so no port is taken.
        (cd / && as_postgres "$bin/pg_ctl" -D "$template" -l "$dir/template/server.log" -w \
            -o "-c listen_addresses= -k $dir/template -p 5432" start >/dev/null) ||
            { cat "$dir/template/server.log" >&2; return 1; }
        (cd / && as_postgres "$(fleet_psql_bin)" -X -q -v ON_ERROR_STOP=1 -h "$dir/template" -p 5432 \
            -U postgres -d postgres -f - <<<"$setup_sql") || return 1
        (cd / && as_postgres "$bin/pg_ctl" -D "$template" -m fast -w stop >/dev/null)
        rm -f "$template/postmaster.opts"
    fi
    mapfile -t fleet_ports < <(free_ports "$count")
    printf '%s\n' "${fleet_ports[@]}" >"$dir/ports"
    for i in $(seq "$count"); do
        mkdir "$dir/$i"
        cp -a "$template" "$dir/$i/data"
        echo "$bin" >"$dir/$i/bindir"
        [ "$(id -u)" -ne 0 ] || chown postgres: "$dir/$i"
    done
    # Started a few at a time: each start is short, 2 cores are few.
    local pids=() rc=0
    for i in $(seq "$count"); do
        (cd / && as_postgres "$bin/pg_ctl" -D "$dir/$i/data" -l "$dir/$i/server.log" -w \
            -o "-p ${fleet_ports[$((i - 1))]} -k $dir/$i" start >/dev/null) &
        pids+=($!)
        if [ "${#pids[@]}" -ge 8 ]; then
            wait "${pids[0]}" || rc=1
            pids=("${pids[@]:1}")
        fi
    done
    for i in "${pids[@]}"; do wait "$i" || rc=1; done
    if [ "$rc" -ne 0 ]; then
        echo "fleet $name: a server did not start; logs in $dir/*/server.log:" >&2
        tail -n 5 "$dir"/*/server.log >&2
        return 1
    fi
}
