#!/usr/bin/env bash
# Benchmark (issue 15): what team mode costs. One `user reset-password`
# made three ways, in the same run, interleaved, on loopback (RTT 0) and
# through bench/latency_proxy.py adding DELAY_MS each way (default 10 ms, so
# a 20 ms round trip to the target AND to the store):
#
#   psql           the ALTER ROLE pgacct's --dry-run prints, literal password
#   pgacct file    pgacct with its registry and trail in a local file
#   pgacct team    pgacct with its registry and trail in a team store, a
#                  PostgreSQL of its own as far away as the target
#
#   bench/team.sh [-n RUNS] [PGACCT_BINARY]   (default target/release/pgacct)
#
# Each row: median wall time, the ratio to psql, and per invocation (through
# the proxy) the round trips and connections, the store's included.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-15}
while getopts n:h opt; do
    case $opt in
        n) runs=$OPTARG ;;
        *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
pgacct=$(realpath "${1:-target/release/pgacct}")
[ -x "$pgacct" ] || { echo "team.sh: $pgacct is not an executable (build it first)" >&2; exit 2; }

source bench/lib.sh
psql=$(real_psql)

fleet_init
echo "starting 2 PostgreSQL servers (target, store) ..." >&2
member_password="Member-$RANDOM$RANDOM-pw"
fleet_start fleet 2 "" "CREATE ROLE bench_user LOGIN PASSWORD 'Bench-$RANDOM$RANDOM-pw'"
target=${fleet_ports[0]} store=${fleet_ports[1]}
proxy_start "$target,$store"
wan_target=${proxy_ports[0]} wan_store=${proxy_ports[1]}

# The store, set up as its owner would, and one member.
"$pgacct" store init --print-sql | PGPASSWORD="$admin_password" "$(fleet_psql_bin)" -X -q \
    -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$store" -U postgres -d postgres >/dev/null
fleet_psql "$store" "CREATE ROLE alice LOGIN PASSWORD '$member_password'; GRANT pgacct_user TO alice"
printf '127.0.0.1:*:postgres:alice:%s\n' "$member_password" >"$work/pgpass"
chmod 600 "$work/pgpass"
touch "$work/config.toml"
export PGACCT_CONFIG="$work/config.toml" PGACCT_ADMIN_PASSWORD="$admin_password"
export PGPASSFILE="$work/pgpass"
file_registry=$work/registry.db
team_store() { echo "postgresql://alice@127.0.0.1:$1/postgres"; }
for registry in "$file_registry" "$(team_store "$store")"; do
    PGACCT_REGISTRY=$registry "$pgacct" -q registry add --env one --db postgres \
        --host 127.0.0.1 --port "$target" --admin-user postgres
    PGACCT_REGISTRY=$registry "$pgacct" -q registry add --env wone --db postgres \
        --host 127.0.0.1 --port "$wan_target" --admin-user postgres
done
reset_sql=$(PGACCT_REGISTRY=$file_registry "$pgacct" -q user reset-password --env one \
    --db postgres bench_user --dry-run 2>/dev/null | grep -v '^--' | grep -v '^[[:space:]]*$')

invoke() {
    local tool=$1 rtt=$2 env=one p=$target s=$store pw="Bench-$RANDOM$RANDOM-pw"
    [ "$rtt" = 0 ] || env=wone p=$wan_target s=$wan_store
    case $tool in
        psql) PGPASSWORD="$admin_password" "$psql" -X -q -h 127.0.0.1 -p "$p" -U postgres \
                  -d postgres -c "${reset_sql//<redacted>/$pw}" ;;
        file) PGACCT_REGISTRY=$file_registry "$pgacct" -q user reset-password --env "$env" \
                  --db postgres bench_user --format json ;;
        team) PGACCT_REGISTRY=$(team_store "$s") "$pgacct" -q user reset-password --env "$env" \
                  --db postgres bench_user --format json ;;
    esac
}

declare -A times rts conns
run_once() {
    local tool=$1 rtt=$2 t0 t1 took
    proxy_take >/dev/null
    t0=$(now_us)
    invoke "$tool" "$rtt" >"$work/out" 2>&1 || { echo "team.sh: $tool failed:" >&2; cat "$work/out" >&2; exit 1; }
    t1=$(now_us)
    times[$rtt,$tool]+=" $((t1 - t0))"
    took=$(proxy_take)
    [ "$rtt" = 0 ] || { rts[$tool]+=" $(field round_trips "$took")"; conns[$tool]+=" $(field connections "$took")"; }
}

tools=(psql file team)
echo "one untimed pass, then $runs runs ..." >&2
for rtt in 0 wan; do for tool in "${tools[@]}"; do run_once "$tool" "$rtt"; done; done
unset times rts conns; declare -A times rts conns
for i in $(seq "$runs"); do
    for rtt in 0 wan; do
        for k in 0 1 2; do run_once "${tools[$(( (i + k) % 3 ))]}" "$rtt"; done
    done
done

rtt_ms=$(awk -v d="${DELAY_MS:-10}" 'BEGIN { print 2 * d }')
echo
echo "PostgreSQL $(fleet_psql "$target" 'SHOW server_version'), psql $psql, $(nproc) cores;" \
    "$runs runs per cell, interleaved; RTT $rtt_ms = proxy adding ${DELAY_MS:-10} ms each way"
fmt='%-12s %-4s %9s %7s  %-12s %s\n'
printf "$fmt" tool RTT ms "/psql" "round trips" connections
for rtt in 0 wan; do
    shown=0; [ "$rtt" = 0 ] || shown=$rtt_ms
    q=$(median_ms <<<"${times[$rtt,psql]}")
    for tool in "${tools[@]}"; do
        m=$(median_ms <<<"${times[$rtt,$tool]}")
        label=$tool; [ "$tool" = psql ] || label="pgacct $tool"
        r=-; c=-; [ "$rtt" = 0 ] || { r=$(range <<<"${rts[$tool]}"); c=$(range <<<"${conns[$tool]}"); }
        printf "$fmt" "$label" "$shown" "$m" "$(ratio "$m" "$q")" "$r" "$c"
    done
done
