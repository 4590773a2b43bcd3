#!/usr/bin/env bash
# Benchmark (DESIGN.md §13): one `pgacct user reset-password` and one
# `pgacct user create` against the psql binary making the same change, on
# loopback (RTT 0) and through bench/latency_proxy.py adding DELAY_MS each
# way (default 10 ms, so a 20 ms round trip), in the same run, interleaved.
#
#   bench/wan.sh [-n RUNS] [-t] [NAME=PGACCT_BINARY ...]
#
#   NAME=PGACCT_BINARY  pgacct builds to compare, e.g.
#                       before=/tmp/pgacct-before/target/release/pgacct
#                       after=target/release/pgacct
#                       (default: pgacct=target/release/pgacct). Builds nothing.
#   -n RUNS             timed runs of each tool per case (default 15; env RUNS)
#   -t                  also print, per tool and command, the messages of each
#                       round trip of its last run through the proxy
#   env DELAY_MS        one-way delay of the proxy (default 10)
#   env TCP_HANDSHAKE=1 make the proxy charge each new connection one more
#                       RTT, as a real TCP handshake would (default off)
#
# Reports per command, RTT and pgacct build: median wall time of pgacct and
# of psql, their ratio, and the round trips and connections per invocation
# that the proxy counted (a round trip = the client waiting for the server;
# the TCP handshake is not counted). Every invocation is a fresh process
# (fork + exec + connect + authenticate + change + exit), timed with bash's
# $EPOCHREALTIME. Runs rotate the order of the tools, so that each sees the
# same machine.
#
# The same change in psql:
#   reset:  ALTER ROLE bench_user PASSWORD '...'
#   create: CREATE ROLE bench_new LOGIN CONNECTION LIMIT 20 PASSWORD '...';
#           ALTER ROLE bench_new IN DATABASE postgres SET search_path TO public
# psql sends the plaintext password and the server hashes it; pgacct computes
# the SCRAM verifier itself. bench_new is dropped before every create (of
# either tool), outside the timing. pgacct also keeps its registry and audit
# trail (one SQLite file per build here).
set -euo pipefail
cd "$(dirname "$0")/.."
here=$PWD

runs=${RUNS:-15} show_trace=0
while getopts n:th opt; do
    case $opt in
        n) runs=$OPTARG ;;
        t) show_trace=1 ;;
        *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || set -- "pgacct=target/release/pgacct"

builds=()
declare -A bin
for arg in "$@"; do
    name=${arg%%=*} path=${arg#*=}
    if [ "$name" = "$arg" ] || [ -z "$name" ] || [ "$name" = psql ]; then
        echo "wan.sh: expected NAME=PGACCT_BINARY (NAME not psql), got '$arg'" >&2; exit 2
    fi
    [ -x "$path" ] || { echo "wan.sh: $path is not an executable (build it first)" >&2; exit 2; }
    builds+=("$name") bin[$name]=$(cd "$(dirname "$path")" && pwd)/$(basename "$path")
done
tools=(psql "${builds[@]}")

source scripts/lib/throwaway-cluster.sh
start_throwaway_cluster
# The psql binary itself: Debian's /usr/bin/psql is a Perl wrapper that
# alone costs ~30 ms, which would flatter pgacct.
psql=$bindir/psql
[ -x "$psql" ] || { echo "wan.sh: no $psql" >&2; exit 1; }

# The proxy, in front of the server; stopped before the cluster on exit.
proxy_args=(--target-port "$port" --delay-ms "${DELAY_MS:-10}" --ready-file "$work/proxy.ready"
            --trace "$work/proxy-trace.jsonl")
[ "${TCP_HANDSHAKE:-0}" = 1 ] && proxy_args+=(--tcp-handshake)
python3 "$here/bench/latency_proxy.py" "${proxy_args[@]}" 2>"$work/proxy.log" &
proxy_pid=$!
trap 'kill "$proxy_pid" 2>/dev/null || true; stop_throwaway_cluster' EXIT
for _ in $(seq 100); do [ -s "$work/proxy.ready" ] && break; sleep 0.05; done
read -r proxy_ports <"$work/proxy.ready"
proxy_port=${proxy_ports#listen=} proxy_port=${proxy_port%% *} control_port=${proxy_ports##*control=}

# Asks the proxy for the connections finished since the last call:
# "connections=N round_trips=R per_connection=a,b ids=i,j".
proxy_take() {
    local answer
    exec 3<>"/dev/tcp/127.0.0.1/$control_port"
    echo take >&3
    read -r answer <&3
    exec 3>&-
    echo "$answer"
}
field() { local f=" $2"; f=${f#* $1=}; echo "${f%% *}"; }   # field NAME "k=v k=v"

# Superuser SQL straight to the server (setup and drops, never timed).
admin_sql() {
    PGPASSWORD="$admin_password" "$psql" -X -qAt -h 127.0.0.1 -p "$port" -U postgres -d postgres -c "$1"
}
admin_sql "CREATE ROLE bench_user LOGIN PASSWORD 'Bench-$RANDOM$RANDOM-pw'"
drop_new() {
    admin_sql "DO \$\$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_new') THEN
                 DROP OWNED BY bench_new; DROP ROLE bench_new; END IF; END \$\$"
}

# Each build gets its own registry; env "bench" is the server itself, env
# "wan" the same database through the proxy.
touch "$work/config.toml"
export PGACCT_CONFIG="$work/config.toml" PGACCT_ADMIN_PASSWORD="$admin_password"
for b in "${builds[@]}"; do
    PGACCT_REGISTRY="$work/registry-$b.db" "${bin[$b]}" -q registry add --env bench --db postgres \
        --host 127.0.0.1 --port "$port" --admin-user postgres
    PGACCT_REGISTRY="$work/registry-$b.db" "${bin[$b]}" -q registry add --env wan --db postgres \
        --host 127.0.0.1 --port "$proxy_port" --admin-user postgres
done
proxy_take >/dev/null

# One invocation of TOOL doing COMMAND (reset|create) at RTT (0|wan), as the
# command line the timing wraps. Output goes to $work/out, kept on failure.
invoke() {
    local tool=$1 cmd=$2 rtt=$3 pw="Bench-$RANDOM$RANDOM-pw" p=$port env=bench
    [ "$rtt" = 0 ] || p=$proxy_port env=wan
    if [ "$tool" = psql ]; then
        local sql="ALTER ROLE bench_user PASSWORD '$pw'"
        [ "$cmd" = reset ] || sql="CREATE ROLE bench_new LOGIN CONNECTION LIMIT 20 PASSWORD '$pw';
            ALTER ROLE bench_new IN DATABASE postgres SET search_path TO public"
        PGPASSWORD="$admin_password" "$psql" -h 127.0.0.1 -p "$p" -U postgres -d postgres -c "$sql"
    elif [ "$cmd" = reset ]; then
        PGACCT_REGISTRY="$work/registry-$tool.db" "${bin[$tool]}" -q user reset-password \
            --env "$env" --db postgres bench_user --format json
    else
        PGACCT_REGISTRY="$work/registry-$tool.db" "${bin[$tool]}" -q user create \
            --env "$env" --db postgres --type devqa bench_new --format json
    fi
}

declare -A times rts conns shape last_ids
# One timed run; appends microseconds to times[cmd,rtt,tool] and, through
# the proxy, what it counted.
run_once() {
    local tool=$1 cmd=$2 rtt=$3 t0 t1 rc=0 took
    [ "$cmd" = reset ] || drop_new
    proxy_take >/dev/null
    t0=$EPOCHREALTIME
    invoke "$tool" "$cmd" "$rtt" >"$work/out" 2>&1 || rc=$?
    t1=$EPOCHREALTIME
    if [ "$rc" -ne 0 ]; then
        echo "wan.sh: $tool $cmd (RTT $rtt) exited $rc:" >&2; cat "$work/out" >&2; exit 1
    fi
    times[$cmd,$rtt,$tool]+=" $(( ${t1/[.,]/} - ${t0/[.,]/} ))"
    took=$(proxy_take)
    if [ "$rtt" = 0 ]; then
        [ "$(field connections "$took")" = 0 ] ||
            echo "wan.sh: warning: $tool $cmd on loopback went through the proxy: $took" >&2
    else
        rts[$cmd,$tool]+=" $(field round_trips "$took")"
        conns[$cmd,$tool]+=" $(field connections "$took")"
        shape[$cmd,$tool]=$(field per_connection "$took")
        last_ids[$cmd,$tool]=$(field ids "$took")
    fi
}

median_ms() { tr ' ' '\n' | awk 'NF' | sort -n |
    awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m/1000}'; }
# "12 12 13" -> "12-13"; "5 5" -> "5"
range() { tr ' ' '\n' | awk 'NF' | sort -n | awk 'NR==1{lo=$1} {hi=$1} END {print (lo==hi)?lo:lo"-"hi}'; }

# One untimed pass (warms caches, checks every command works), then the runs.
for cmd in reset create; do for rtt in 0 wan; do for tool in "${tools[@]}"; do
    run_once "$tool" "$cmd" "$rtt"
done; done; done
unset times rts conns; declare -A times rts conns
for i in $(seq "$runs"); do
    for cmd in reset create; do
        for rtt in 0 wan; do
            n=${#tools[@]}
            for k in $(seq 0 $((n - 1))); do
                run_once "${tools[$(( (i + k) % n ))]}" "$cmd" "$rtt"
            done
        done
    done
done

# Report.
rtt_ms=$(awk -v d="${DELAY_MS:-10}" 'BEGIN { print 2 * d }')
echo "PostgreSQL $(admin_sql 'SHOW server_version'), psql $psql, $(nproc) cores"
handshake=; [ "${TCP_HANDSHAKE:-0}" = 1 ] && handshake=" + 1 RTT per new connection"
echo "$runs runs per cell, interleaved; RTT $rtt_ms = proxy adding ${DELAY_MS:-10} ms each way$handshake"
echo "round trips and connections per invocation as the proxy counted them (same at RTT 0)"
echo
printf '%-15s %-4s %-8s %10s %9s %7s   %-19s %s\n' command RTT pgacct "pgacct ms" "psql ms" ratio \
    "round trips (psql)" "conns (psql)"
for cmd in reset create; do
    label=reset-password; [ "$cmd" = reset ] || label=create
    for rtt in 0 wan; do
        shown=0; [ "$rtt" = 0 ] || shown=$rtt_ms
        p=$(median_ms <<<"${times[$cmd,$rtt,psql]}")
        for b in "${builds[@]}"; do
            m=$(median_ms <<<"${times[$cmd,$rtt,$b]}")
            printf '%-15s %-4s %-8s %10s %9s %7s   %-19s %s\n' "$label" "$shown" "$b" "$m" "$p" \
                "$(awk -v a="$m" -v b="$p" 'BEGIN { printf "%.2f", a / b }')" \
                "$(range <<<"${rts[$cmd,$b]}") ($(range <<<"${rts[$cmd,psql]}"))" \
                "$(range <<<"${conns[$cmd,$b]}") ($(range <<<"${conns[$cmd,psql]}"))"
        done
    done
done
echo
echo "round trips per connection, last run through the proxy:"
for cmd in reset create; do
    for tool in "${tools[@]}"; do
        printf '  %-6s %-8s %s\n' "$cmd" "$tool" "${shape[$cmd,$tool]}"
    done
done
if [ "$show_trace" = 1 ]; then
    for cmd in reset create; do
        for tool in "${tools[@]}"; do
            echo
            echo "$tool $cmd, last run through the proxy:"
            python3 "$here/bench/latency_proxy.py" --trace "$work/proxy-trace.jsonl" \
                --show "${last_ids[$cmd,$tool]}"
        done
    done
fi
