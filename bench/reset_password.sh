#!/usr/bin/env bash
# Benchmark: `pgacct user reset-password` against one psql invocation doing
# the same ALTER ROLE ... PASSWORD, on the same throwaway local cluster, in
# the same run. Reports medians and their ratio.
#
# pgacct does more than psql here, and the figures say what that costs: it
# opens the registry, writes two audit records (each a durable SQLite
# commit), reads the server's facts, takes an advisory lock, checks the role
# exists, and computes the SCRAM verifier itself (psql sends the plaintext
# password and the server hashes it).
#
#   bench/reset_password.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/throwaway-cluster.sh
runs=${1:-30}

cargo build --quiet --release
pgacct=$PWD/target/release/pgacct

start_throwaway_cluster
# The psql binary itself: Debian's /usr/bin/psql is a Perl wrapper that
# alone costs ~30 ms, which would flatter pgacct.
psql=$bindir/psql
[ -x "$psql" ] || psql=$(command -v psql)
export PGACCT_REGISTRY="$work/registry.db" PGACCT_CONFIG="$work/config.toml"
export PGACCT_ADMIN_PASSWORD="$admin_password"
touch "$PGACCT_CONFIG"
"$pgacct" -q registry add --env bench --db postgres --host 127.0.0.1 --port "$port" --admin-user postgres
"$pgacct" -q user create --env bench --db postgres --type devqa bench_user --format json >/dev/null

# One run of a command, in milliseconds.
time_ms() {
    local start end
    start=$(date +%s%N)
    "$@" >/dev/null
    end=$(date +%s%N)
    echo $(( (end - start) / 1000 ))
}
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.2f", m/1000}'; }

psql_reset() {
    PGPASSWORD="$admin_password" "$psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qAt \
        -c "ALTER ROLE bench_user PASSWORD 'Bench-$RANDOM$RANDOM-pw'"
}
pgacct_reset() {
    "$pgacct" -q user reset-password --env bench --db postgres bench_user --format json
}

psql_times=() pgacct_times=()
for _ in $(seq "$runs"); do
    # Interleaved, so that both see the same machine.
    psql_times+=("$(time_ms psql_reset)")
    pgacct_times+=("$(time_ms pgacct_reset)")
done
psql_ms=$(printf '%s\n' "${psql_times[@]}" | median)
pgacct_ms=$(printf '%s\n' "${pgacct_times[@]}" | median)
echo "psql:                         $psql"
echo "runs:                         $runs each, interleaved"
echo "psql ALTER ROLE ... PASSWORD: ${psql_ms} ms (median)"
echo "pgacct user reset-password:   ${pgacct_ms} ms (median)"
awk -v a="$pgacct_ms" -v b="$psql_ms" 'BEGIN { printf "ratio pgacct / psql:          %.2f\n", a / b }'
"$pgacct" audit verify | head -1
