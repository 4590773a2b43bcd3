#!/usr/bin/env bash
# Benchmark (DESIGN.md §13, issue 13): pgacct against the psql binary making
# the same change, in the same run, interleaved, on loopback (RTT 0) and
# through bench/latency_proxy.py adding DELAY_MS each way (default 10 ms, so
# a 20 ms round trip):
#
#   reset           one `user reset-password`; psql: the ALTER ROLE that
#                   pgacct's --dry-run prints, with a literal password
#   create-vm       one `user create-vm` on a cluster with two registered
#                   databases; psql: the statements --dry-run prints, in one -c
#   create readonly one `user create --type readonly` on a database with an
#                   application schema (20 tables); psql: the statements
#                   --dry-run prints (the create and its grants), in one -c,
#                   which leaves out the catalog read that finds them
#   check           `registry check` of one target; psql: a connection and one
#                   query reading the same facts
#   reset x10, x50  `user reset-password --all` over 10 and 50 clusters (real
#                   servers, each behind its own proxy port); psql: a fully
#                   parallel loop, one psql per cluster in the background
#   TLS reset       one reset against a PostgreSQL 17 server with TLS
#                   (sslmode=verify-full; certificates made with openssl):
#                   pgacct and psql both negotiating as usual (SSLRequest);
#                   pgacct with sslnegotiation=direct against psql's default;
#                   and against psql 17 with sslnegotiation=direct (reference)
#
#   bench/wan.sh [-n RUNS] [-f FANOUT_RUNS] [-t] [NAME=PGACCT_BINARY ...]
#
#   NAME=PGACCT_BINARY  pgacct builds to compare, e.g.
#                       before=/tmp/pgacct-before/target/release/pgacct
#                       after=target/release/pgacct
#                       (default: pgacct=target/release/pgacct). Builds nothing.
#   -n RUNS             timed runs of each tool per case (default 15; env RUNS)
#   -f FANOUT_RUNS      timed runs of the 10- and 50-cluster fan-outs
#                       (default 5; env FANOUT_RUNS)
#   -t                  also print, per tool and case, the messages of each
#                       round trip of its last run through the proxy
#   env DELAY_MS        one-way delay of the proxy (default 10)
#   env TCP_HANDSHAKE=1 make the proxy charge each new connection one more
#                       RTT, as a real TCP handshake would (default off)
#   env JOBS=N          pass --jobs N to pgacct's fan-outs (default: its own)
#   env PG17_BIN_DIR    PostgreSQL 17+ server binaries for the TLS cases
#                       (default target/pg-majors/17/package/native/bin)
#   env PSQL17          a psql 17+ for the reference row (default: one found
#                       under target/pg-majors/, which bench/fetch_psql17.sh
#                       puts there)
#
# Each row: median wall time of pgacct and of psql, their ratio, and per
# invocation (through the proxy) the round trips (a round trip = the client
# waiting for the server; the TCP handshake is not counted), the connections,
# and how many were open at once (a fan-out that runs in waves shows it).
# Every invocation is a fresh process (fork + exec + connect + authenticate +
# change + exit), timed with bash's $EPOCHREALTIME. Runs rotate the order of
# the tools, so that each sees the same machine. psql sends the plaintext
# password and the server hashes it; pgacct computes the SCRAM verifier and
# keeps its registry and audit trail (one SQLite file per build, on disk).
# The servers (50 PostgreSQL of the machine's major plus one 17) run from
# /dev/shm with fsync off (scripts/lib/throwaway-fleet.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-15} fanout_runs=${FANOUT_RUNS:-5} show_trace=0
while getopts n:f:th opt; do
    case $opt in
        n) runs=$OPTARG ;;
        f) fanout_runs=$OPTARG ;;
        t) show_trace=1 ;;
        *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || set -- "pgacct=target/release/pgacct"

source bench/lib.sh

builds=()
declare -A bin direct_ok
for arg in "$@"; do
    name=${arg%%=*} path=${arg#*=}
    if [ "$name" = "$arg" ] || [ -z "$name" ] || [[ "$name" = psql* ]]; then
        echo "wan.sh: expected NAME=PGACCT_BINARY (NAME not psql...), got '$arg'" >&2; exit 2
    fi
    [ -x "$path" ] || { echo "wan.sh: $path is not an executable (build it first)" >&2; exit 2; }
    builds+=("$name") bin[$name]=$(cd "$(dirname "$path")" && pwd)/$(basename "$path")
    # Feature detection: builds from before sslnegotiation skip its cases.
    direct_ok[$name]=0
    "${bin[$name]}" registry add --help 2>/dev/null | grep -q -- --sslnegotiation && direct_ok[$name]=1
done
psql=$(real_psql)
notes=()

fleet_init
echo "starting 50 PostgreSQL servers ..." >&2
fleet_start fleet 50 "" "CREATE ROLE bench_user LOGIN PASSWORD 'Bench-$RANDOM$RANDOM-pw'"
cluster_ports=("${fleet_ports[@]}")
one=${cluster_ports[0]}
fleet_psql "$one" "CREATE DATABASE bench_db2"
fleet_psql "$one" "CREATE ROLE app_owner; CREATE SCHEMA app AUTHORIZATION app_owner;
    SET ROLE app_owner; DO \$\$BEGIN FOR i IN 1..20 LOOP
        EXECUTE format('CREATE TABLE app.t%s (id serial)', i); END LOOP; END\$\$"

# The TLS server: PostgreSQL 17 (direct TLS needs 17), hostssl only.
pg17=${PG17_BIN_DIR:-$repo_dir/target/pg-majors/17/package/native/bin}
tls_port=
make_certs() {
    local d=$work/certs
    mkdir -p "$d"
    openssl req -x509 -new -nodes -days 2 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -keyout "$d/ca.key" -out "$d/ca.crt" -subj "/CN=pgacct bench CA" 2>/dev/null
    openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -keyout "$d/server.key" -out "$d/server.csr" -subj "/CN=127.0.0.1" 2>/dev/null
    printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
        "keyUsage=digitalSignature" "extendedKeyUsage=serverAuth" >"$d/server.ext"
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
        -days 2 -extfile "$d/server.ext" -out "$d/server.crt" 2>/dev/null
}
configure_tls() {
    cp "$work/certs/server.crt" "$work/certs/server.key" "$1/"
    chmod 600 "$1/server.key"
    printf '%s\n' "ssl = on" "ssl_cert_file = 'server.crt'" "ssl_key_file = 'server.key'" \
        >>"$1/postgresql.conf"
    sed -i 's/^host /hostssl /' "$1/pg_hba.conf"
}
if [ -x "$pg17/postgres" ] && "$pg17/postgres" --version | grep -qE ' (1[7-9]|[2-9][0-9])\.'; then
    make_certs
    fleet_start tls 1 "$pg17" "CREATE ROLE bench_user LOGIN PASSWORD 'Bench-$RANDOM$RANDOM-pw'" \
        configure_tls
    tls_port=${fleet_ports[0]}
else
    notes+=("TLS cases skipped: no PostgreSQL 17+ server in $pg17 (set PG17_BIN_DIR)")
fi
psql17=$(psql17_or_nothing)
if [ -n "$tls_port" ] && [ -z "$psql17" ]; then
    notes+=("psql 17 reference skipped: no psql 17+ (bench/fetch_psql17.sh, or set PSQL17)")
fi

# One proxy port in front of each server.
targets=$(IFS=,; echo "${cluster_ports[*]}${tls_port:+,$tls_port}")
[ "$show_trace" = 1 ] && export PROXY_TRACE=$work/proxy-trace.jsonl
proxy_start "$targets"
wan_ports=("${proxy_ports[@]:0:50}")
wan_tls_port=${proxy_ports[50]:-}

# The registry of each build. RTT 0 envs reach the servers, w* envs the
# proxy: one/wone (2 databases on cluster 1), ten/wten, fifty/wfifty,
# tls/wtls (PostgreSQL 17, verify-full), tlsd/wtlsd (the same, direct TLS).
touch "$work/config.toml"
export PGACCT_CONFIG="$work/config.toml" PGACCT_ADMIN_PASSWORD="$admin_password"
{
    echo "env,db,host,port,admin_user,sslmode,sslrootcert"
    for w in "" w; do
        if [ -z "$w" ]; then ports=("${cluster_ports[@]}") tp=$tls_port; else ports=("${wan_ports[@]}") tp=$wan_tls_port; fi
        echo "${w}one,postgres,127.0.0.1,${ports[0]},postgres,prefer,"
        echo "${w}one,bench_db2,127.0.0.1,${ports[0]},postgres,prefer,"
        for i in $(seq 0 9); do echo "${w}ten,postgres,127.0.0.1,${ports[$i]},postgres,prefer,"; done
        for i in $(seq 0 49); do echo "${w}fifty,postgres,127.0.0.1,${ports[$i]},postgres,prefer,"; done
        [ -z "$tp" ] || echo "${w}tls,postgres,127.0.0.1,$tp,postgres,verify-full,$work/certs/ca.crt"
    done
} >"$work/inventory.csv"
for b in "${builds[@]}"; do
    export PGACCT_REGISTRY="$work/registry-$b.db"
    "${bin[$b]}" -q registry import "$work/inventory.csv" >/dev/null
    if [ -n "$tls_port" ] && [ "${direct_ok[$b]}" = 1 ]; then
        for w in "" w; do
            tp=$tls_port; [ -z "$w" ] || tp=$wan_tls_port
            "${bin[$b]}" -q registry add --env "${w}tlsd" --db postgres --host 127.0.0.1 --port "$tp" \
                --admin-user postgres --sslmode verify-full --sslrootcert "$work/certs/ca.crt" \
                --sslnegotiation direct >/dev/null
        done
    elif [ -n "$tls_port" ]; then
        notes+=("$b: TLS direct cases skipped: its \`registry add --help\` has no --sslnegotiation")
    fi
done
unset PGACCT_REGISTRY

# psql's statements: what pgacct's --dry-run prints (stdout, minus comments),
# each secret a literal password.
dry_run_sql() {
    PGACCT_REGISTRY="$work/registry-${builds[0]}.db" "${bin[${builds[0]}]}" -q "$@" --dry-run \
        2>/dev/null | grep -v '^--' | grep -v '^[[:space:]]*$' || true
}
reset_sql=$(dry_run_sql user reset-password --env one --db postgres bench_user)
create_sql=$(dry_run_sql user create-vm --env one --all --server bench --service-port 8080)
create_ro_sql=$(dry_run_sql user create --env one --db postgres --type readonly bench_ro)
[ -n "$reset_sql" ] || reset_sql="ALTER ROLE bench_user PASSWORD '<redacted>';"
[ -n "$create_sql" ] || create_sql="CREATE ROLE bench_8080 LOGIN CONNECTION LIMIT 200 PASSWORD '<redacted>';
ALTER ROLE bench_8080 IN DATABASE bench_db2 SET search_path TO public;
ALTER ROLE bench_8080 IN DATABASE postgres SET search_path TO public;"
# registry check's facts, in one query (the same kind as pgacct's).
check_sql="SELECT current_setting('server_version_num')::int4, current_setting('server_version'),
       pg_is_in_recovery(), r.rolsuper, r.rolcreaterole, r.rolcreatedb,
       current_setting('password_encryption'), current_setting('scram_iterations', true), s.version
  FROM pg_roles r LEFT JOIN pg_stat_ssl s ON s.pid = pg_backend_pid() AND s.ssl
 WHERE r.rolname = current_user"

# Cases, their tools, and the rows of the table (case|pgacct series|psql series).
cases=(reset create createro check reset10 reset50)
declare -A case_tools
for c in "${cases[@]}"; do case_tools[$c]="psql ${builds[*]}"; done
rows=("reset|reset|reset" "create-vm (2 dbs)|create|create"
      "create readonly (20 tables)|createro|createro" "registry check|check|check"
      "reset x10 clusters|reset10|reset10" "reset x50 clusters|reset50|reset50")
if [ -n "$tls_port" ]; then
    cases+=(tls) case_tools[tls]="psql ${builds[*]}"
    rows+=("TLS reset|tls|tls")
    direct_builds=()
    for b in "${builds[@]}"; do [ "${direct_ok[$b]}" = 0 ] || direct_builds+=("$b"); done
    if [ -n "$psql17" ]; then case_tools[tls]+=" psql17d"; fi
    if [ "${#direct_builds[@]}" -gt 0 ]; then
        cases+=(tlsd) case_tools[tlsd]="${direct_builds[*]}"
        rows+=("TLS reset, pgacct direct|tlsd|tls")
        [ -z "$psql17" ] || rows+=("TLS reset, both direct (psql 17)|tlsd|psql17d:tls")
    fi
    # Builds without direct TLS still get the reference row.
    [ -z "$psql17" ] || rows+=("TLS reset vs psql 17 direct|tls|psql17d:tls")
fi

# One invocation of TOOL doing CASE at RTT (0|wan). Output goes to $work/out.
pgacct_run() {
    local tool=$1; shift
    PGACCT_REGISTRY="$work/registry-$tool.db" "${bin[$tool]}" -q "$@" --format json
}
psql_run() {  # psql_run PORT SQL [env assignments...]
    local port=$1 sql=$2; shift 2
    env PGPASSWORD="$admin_password" "$@" "$psql" -X -q -h 127.0.0.1 -p "$port" -U postgres \
        -d postgres -c "$sql"
}
psql_fanout() {  # psql_fanout COUNT RTT SQL: one psql per cluster, all at once
    local n=$1 rtt=$2 sql=$3 i pids=() rc=0 p
    for i in $(seq 0 $((n - 1))); do
        p=${cluster_ports[$i]}; [ "$rtt" = 0 ] || p=${wan_ports[$i]}
        psql_run "$p" "$sql" &
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i" || rc=1; done
    return "$rc"
}
invoke() {
    local tool=$1 c=$2 rtt=$3 w="" p=$one tp=$tls_port pw="Bench-$RANDOM$RANDOM-pw" jobs=()
    [ "$rtt" = 0 ] || w=w p=${wan_ports[0]} tp=$wan_tls_port
    [ -z "${JOBS:-}" ] || jobs=(--jobs "$JOBS")
    local reset=${reset_sql//<redacted>/$pw} create=${create_sql//<redacted>/$pw}
    local create_ro=${create_ro_sql//<redacted>/$pw}
    local tls_env=(PGSSLMODE=verify-full PGSSLROOTCERT="$work/certs/ca.crt")
    case $tool,$c in
        psql,reset) psql_run "$p" "$reset" ;;
        psql,create) psql_run "$p" "$create" ;;
        psql,createro) psql_run "$p" "$create_ro" ;;
        psql,check) psql_run "$p" "$check_sql" ;;
        psql,reset10) psql_fanout 10 "$rtt" "$reset" ;;
        psql,reset50) psql_fanout 50 "$rtt" "$reset" ;;
        psql,tls) psql_run "$tp" "$reset" "${tls_env[@]}" ;;
        psql17d,tls) psql=$psql17 psql_run "$tp" "$reset" "${tls_env[@]}" \
                         PGSSLNEGOTIATION=direct ;;
        *,reset) pgacct_run "$tool" user reset-password --env "${w}one" --db postgres bench_user ;;
        *,create) pgacct_run "$tool" user create-vm --env "${w}one" --all --server bench \
                      --service-port 8080 ;;
        *,createro) pgacct_run "$tool" user create --env "${w}one" --db postgres --type readonly \
                        bench_ro ;;
        *,check) pgacct_run "$tool" registry check --env "${w}one" --db postgres ;;
        *,reset10) pgacct_run "$tool" user reset-password --env "${w}ten" --all "${jobs[@]}" bench_user ;;
        *,reset50) pgacct_run "$tool" user reset-password --env "${w}fifty" --all "${jobs[@]}" bench_user ;;
        *,tls) pgacct_run "$tool" user reset-password --env "${w}tls" --db postgres bench_user ;;
        *,tlsd) pgacct_run "$tool" user reset-password --env "${w}tlsd" --db postgres bench_user ;;
    esac
}

declare -A times rts conns peaks last_ids shape
late=()
# One timed run: appends microseconds to times[case,rtt,tool] and, through
# the proxy, what it counted.
run_once() {
    local tool=$1 c=$2 rtt=$3 t0 t1 rc=0 took
    [ "$c" != create ] || fleet_psql "$one" "SET client_min_messages = warning;
        DROP ROLE IF EXISTS bench_8080"
    [ "$c" != createro ] || fleet_psql "$one" "SET client_min_messages = warning;
        DO \$\$BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_ro') THEN
            DROP OWNED BY bench_ro; DROP ROLE bench_ro; END IF; END\$\$"
    proxy_take >/dev/null
    t0=$(now_us)
    invoke "$tool" "$c" "$rtt" >"$work/out" 2>&1 || rc=$?
    t1=$(now_us)
    if [ "$rc" -ne 0 ]; then
        echo "wan.sh: $tool $c (RTT $rtt) exited $rc:" >&2; cat "$work/out" >&2; exit 1
    fi
    times[$c,$rtt,$tool]+=" $((t1 - t0))"
    took=$(proxy_take)
    if [ "$rtt" = 0 ]; then
        [ "$(field connections "$took")" = 0 ] ||
            echo "wan.sh: warning: $tool $c on loopback went through the proxy: $took" >&2
    else
        rts[$c,$tool]+=" $(field round_trips "$took")"
        conns[$c,$tool]+=" $(field connections "$took")"
        peaks[$c,$tool]+=" $(field peak_open "$took")"
        shape[$c,$tool]=$(field per_connection "$took")
        last_ids[$c,$tool]=$(field ids "$took")
        late+=("$(field late_ms_max "$took")")
    fi
}

# One untimed pass (warms caches, checks every command works), then the runs.
echo "one untimed pass, then $runs runs ($fanout_runs of the fan-outs) ..." >&2
for c in "${cases[@]}"; do for rtt in 0 wan; do for tool in ${case_tools[$c]}; do
    run_once "$tool" "$c" "$rtt"
done; done; done
unset times rts conns peaks; declare -A times rts conns peaks
late=()
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(now_us)
for i in $(seq "$runs"); do
    for c in "${cases[@]}"; do
        [[ "$c" != reset?0 ]] || [ "$i" -le "$fanout_runs" ] || continue
        read -ra ts <<<"${case_tools[$c]}"
        n=${#ts[@]}
        for rtt in 0 wan; do
            for k in $(seq 0 $((n - 1))); do
                run_once "${ts[$(( (i + k) % n ))]}" "$c" "$rtt"
            done
        done
    done
done
took_s=$(( ($(now_us) - started) / 1000000 ))

# Report.
rtt_ms=$(awk -v d="${DELAY_MS:-10}" 'BEGIN { print 2 * d }')
echo
echo "PostgreSQL $(fleet_psql "$one" 'SHOW server_version')${tls_port:+ (TLS: $(fleet_psql "$tls_port" 'SHOW server_version'))}," \
    "psql $psql${psql17:+ (and $psql17)}, $(nproc) cores, load $load_before, ${took_s} s"
handshake=; [ "${TCP_HANDSHAKE:-0}" = 1 ] && handshake=" + 1 RTT per new connection"
echo "$runs runs per cell ($fanout_runs for the fan-outs), interleaved; RTT $rtt_ms =" \
    "proxy adding ${DELAY_MS:-10} ms each way$handshake; pgacct fan-outs: ${JOBS:+--jobs $JOBS}${JOBS:-default --jobs}"
echo "round trips, connections and connections open at once: per invocation, through the proxy"
echo
fmt='%-34s %-4s %-7s %9s %9s %6s  %-15s %-11s %s\n'
printf "$fmt" case RTT pgacct "pgacct ms" "psql ms" ratio "round trips" connections "at once"
printf "$fmt" "" "" "" "" "" "" "pgacct/psql" "pgacct/psql" "pgacct/psql"
for row in "${rows[@]}"; do
    IFS='|' read -r label pc qc <<<"$row"
    qtool=psql
    if [[ "$qc" = *:* ]]; then qtool=${qc%%:*} qc=${qc#*:}; fi
    for rtt in 0 wan; do
        shown=0; [ "$rtt" = 0 ] || shown=$rtt_ms
        q=$(median_ms <<<"${times[$qc,$rtt,$qtool]:-}")
        for b in "${builds[@]}"; do
            [ -n "${times[$pc,$rtt,$b]:-}" ] || continue
            m=$(median_ms <<<"${times[$pc,$rtt,$b]}")
            printf "$fmt" "$label" "$shown" "$b" "$m" "$q" "$(ratio "$m" "$q")" \
                "$(range <<<"${rts[$pc,$b]:-}")/$(range <<<"${rts[$qc,$qtool]:-}")" \
                "$(range <<<"${conns[$pc,$b]:-}")/$(range <<<"${conns[$qc,$qtool]:-}")" \
                "$(range <<<"${peaks[$pc,$b]:-}")/$(range <<<"${peaks[$qc,$qtool]:-}")"
        done
    done
done
echo
echo "the proxy delivered every chunk at most $(maximum <<<"${late[*]}") ms after it was due" \
    "(median of the runs' worst: $(printf '%s\n' "${late[@]}" | awk '{print $1*1000}' | median_ms) ms)"
for note in "${notes[@]}"; do echo "note: $note"; done
echo
echo "round trips per connection, last run through the proxy:"
for c in "${cases[@]}"; do
    for tool in ${case_tools[$c]}; do
        printf '  %-8s %-8s %s\n' "$c" "$tool" "$(squeeze <<<"${shape[$c,$tool]}")"
    done
done
if [ "$show_trace" = 1 ]; then
    for c in "${cases[@]}"; do
        for tool in ${case_tools[$c]}; do
            echo
            echo "$tool $c, last run through the proxy:"
            python3 bench/latency_proxy.py --trace "$PROXY_TRACE" --show "${last_ids[$c,$tool]}"
        done
    done
fi
