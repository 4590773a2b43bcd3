#!/usr/bin/env bash
# Benchmark: a TAB on a registry of 10,000 targets (DESIGN.md §13: < 50 ms),
# with a release build, against `pgacct --version` (start-up alone) in the
# same run, interleaved. No PostgreSQL needed. Medians of RUNS runs each:
#   --env           the envs                     (4 candidates)
#   --env qa --db   the dbs of one env           (2,500)
#   --db            every env's dbs              (10,000)
#   --where team=   one label key's values
#   bash TAB        --env qa --db through the committed bash script, as a
#                   shell runs it (the script, a fork, the binary)
#
#   bench/completion.sh [-n RUNS] [BINARY]      (default target/release/pgacct)
set -euo pipefail
cd "$(dirname "$0")/.."
bench_dir=$PWD/bench
runs=20
if [ "${1:-}" = -n ]; then runs=$2; shift 2; fi
pgacct=$(realpath "${1:-target/release/pgacct}")
[ -x "$pgacct" ] || { echo "no $pgacct: cargo build --release first" >&2; exit 1; }
# shellcheck source=bench/lib.sh
source "$bench_dir/lib.sh"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME="$work" PGACCT_REGISTRY="$work/registry.db" PGACCT_CONFIG="$work/config.toml"
touch "$PGACCT_CONFIG"
mkdir "$work/bin"
ln -s "$pgacct" "$work/bin/pgacct"
export PATH="$work/bin:$PATH"

# 10,000 targets: 4 envs of 2,500 databases on 100 clusters, two labels each.
awk 'BEGIN {
    print "env,db,host,port,labels"
    envs[0] = "dev"; envs[1] = "qa"; envs[2] = "uat"; envs[3] = "prod"
    for (i = 0; i < 10000; i++)
        printf "%s,db%05d,pg%02d.example.com,5432,team=t%d;tier=gold\n",
            envs[i % 4], i, i % 100, i % 20
}' >"$work/fleet.csv"
pgacct -q registry import "$work/fleet.csv" >/dev/null

# NAME INDEX WORDS...: one completion, as the scripts ask for it.
declare -A cases=(
    [env]="4 pgacct user list --env ''"
    [db_of_env]="6 pgacct user list --env qa --db ''"
    [db_all]="4 pgacct user list --db ''"
    [where]="6 pgacct user list --env qa --where team="
)
order=(env db_of_env db_all where)

complete_once() { # INDEX WORDS...
    local index=$1
    shift
    eval "set -- $*"
    COMPLETE=bash _PGACCT_INDEX=$index pgacct -- "$@"
}

# The bash script's function, as a TAB runs it.
bash_tab() {
    bash -c '
        source "$1"
        COMP_LINE="pgacct user list --env qa --db "; COMP_POINT=${#COMP_LINE}
        COMP_WORDS=(pgacct user list --env qa --db ""); COMP_CWORD=6
        for ((i = 0; i < $2; i++)); do
            start=${EPOCHREALTIME/[.,]/}
            _pgacct pgacct "" --db
            end=${EPOCHREALTIME/[.,]/}
            echo "$((end - start)) ${#COMPREPLY[@]}"
        done' bash "$PWD/completions/pgacct.bash" "$1"
}

declare -A samples counts
for name in "${order[@]}"; do
    counts[$name]=$(complete_once ${cases[$name]} | wc -l)
done
for _ in $(seq "$runs"); do
    start=$(now_us); pgacct --version >/dev/null; end=$(now_us)
    samples[version]+=" $((end - start))"
    for name in "${order[@]}"; do
        start=$(now_us); complete_once ${cases[$name]} >/dev/null; end=$(now_us)
        samples[$name]+=" $((end - start))"
    done
done
tab=$(bash_tab "$runs")
samples[bash_tab]=$(awk '{print $1}' <<<"$tab")
counts[bash_tab]=$(awk 'END {print $2}' <<<"$tab")

echo "pgacct completion on a registry of 10,000 targets ($runs runs each, interleaved)"
printf '%-40s %10s %11s\n' case "median ms" candidates
printf '%-40s %10s %11s\n' "pgacct --version (start-up)" "$(median_ms <<<"${samples[version]}")" -
for name in "${order[@]}"; do
    printf '%-40s %10s %11s\n' "${cases[$name]#* }" "$(median_ms <<<"${samples[$name]}")" \
        "${counts[$name]}"
done
printf '%-40s %10s %11s\n' "bash TAB: --env qa --db" "$(median_ms <<<"${samples[bash_tab]}")" \
    "${counts[bash_tab]}"
