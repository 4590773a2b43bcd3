#!/usr/bin/env bash
# Benchmark (issue 16, DESIGN.md §13): `pgacct user report` over 50 clusters
# of 1,000 roles each, on loopback: under 3 s, and a cost that grows
# linearly. Every server holds roles app_1 to app_1000 (each with a
# password and a VALID UNTIL); the report runs over 10, 25 and 50 clusters
# of all of them, and over 50 clusters of 90 (`--name 'app_??'`) and 900
# (`app_???`), and prints the median wall time, per cluster and per row.
#
#   bench/report.sh [-n RUNS] [PGACCT_BINARY]   (default target/release/pgacct)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
while getopts n:h opt; do
    case $opt in
        n) runs=$OPTARG ;;
        *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
pgacct=$(realpath "${1:-target/release/pgacct}")
[ -x "$pgacct" ] || { echo "report.sh: $pgacct is not an executable (build it first)" >&2; exit 2; }

source bench/lib.sh
fleet_init
echo "starting 50 PostgreSQL servers with 1,000 roles each ..." >&2
roles_sql="SELECT format('CREATE ROLE %I LOGIN PASSWORD %L VALID UNTIL %L', 'app_' || g, 'pw-' || g,
                         now() + g * interval '1 hour')
             FROM generate_series(1, 1000) g \\gexec"
FLEET_MAX_CONNECTIONS=10 fleet_start fleet 50 "" "$roles_sql"
touch "$work/config.toml"
export PGACCT_CONFIG="$work/config.toml" PGACCT_ADMIN_PASSWORD="$admin_password"
export PGACCT_REGISTRY="$work/registry.db"
{
    echo "env,db,host,port,admin_user"
    for i in $(seq 0 49); do
        for n in 10 25 50; do
            [ "$i" -lt "$n" ] && echo "c$n,postgres,127.0.0.1,${fleet_ports[$i]},postgres"
        done
    done
} >"$work/inventory.csv"
"$pgacct" -q registry import "$work/inventory.csv" >/dev/null

# One report: CLUSTERS clusters, roles matching PATTERN.
run() {
    local clusters=$1 pattern=$2 t0 t1
    t0=$(now_us)
    "$pgacct" -q user report --env "c$clusters" --all --name "$pattern" --format json >"$work/out"
    t1=$(now_us)
    echo $((t1 - t0))
}
count_rows() { python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$work/out"; }

declare -A times rows
cases=("10 app_*" "25 app_*" "50 app_*" "50 app_??" "50 app_???")
run 50 'app_*' >/dev/null   # warm up
for i in $(seq "$runs"); do
    for c in "${cases[@]}"; do
        read -r n p <<<"$c"
        times[$c]+=" $(run "$n" "$p")"
        rows[$c]=$(count_rows)
    done
done

echo
echo "PostgreSQL $(fleet_psql "${fleet_ports[0]}" 'SHOW server_version'), $(nproc) cores, $runs runs per row, loopback"
fmt='%-10s %-12s %9s %12s %12s\n'
printf "$fmt" clusters roles "ms" "ms/cluster" "us/row"
for c in "${cases[@]}"; do
    read -r n p <<<"$c"
    m=$(median <<<"${times[$c]}")
    r=${rows[$c]}
    printf "$fmt" "$n" "$((r / n)) ($p)" "$(awk -v m="$m" 'BEGIN{printf "%.1f", m/1000}')" \
        "$(awk -v m="$m" -v n="$n" 'BEGIN{printf "%.1f", m/1000/n}')" \
        "$(awk -v m="$m" -v r="$r" 'BEGIN{printf "%.1f", m/r}')"
done
