#!/usr/bin/env bash
# Benchmark: `pgacct registry import --sync` of a 10,000-target CSV, with a
# release build, in a registry of its own (no PostgreSQL needed). Times:
#   1. the first sync into an empty registry (10,000 adds),
#   2. a re-sync of the same file (a no-op: one summary record),
#   3. a sync with 1,000 updates, 500 removals (deactivations) and 500 adds,
# and counts the audit records each wrote (started + outcome per change and
# per summary). Reports the median of RUNS runs of each.
#
#   bench/import_sync.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}

cargo build --quiet --release
pgacct=$PWD/target/release/pgacct
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME="$work" PGACCT_CONFIG="$work/config.toml"
touch "$PGACCT_CONFIG"

# 10,000 targets over 4 envs and 100 clusters; `changed` = 1 rewrites the
# first 1,000 (sslmode and a label), drops rows 1000-1499 and adds 500 new.
inventory() {
    local changed=$1
    awk -v changed="$changed" 'BEGIN {
        print "env,db,host,port,sslmode,labels,notes,owner"
        envs[0] = "dev"; envs[1] = "qa"; envs[2] = "uat"; envs[3] = "prod"
        for (i = 0; i < 10000; i++) {
            if (changed && i >= 1000 && i < 1500) continue
            mode = (changed && i < 1000) ? "verify-full" : "prefer"
            labels = (changed && i < 1000) ? "region=eu;tier=gold" : "tier=gold"
            printf "%s,db%05d,pg%02d.example.com,5432,%s,%s,row %d,team%d\n",
                envs[i % 4], i, i % 100, mode, labels, i, i % 7
        }
        if (changed) for (i = 10000; i < 10500; i++)
            printf "%s,db%05d,pg%02d.example.com,5432,prefer,tier=gold,new %d,team1\n",
                envs[i % 4], i, i % 100, i
    }'
}
inventory 0 >"$work/base.csv"
inventory 1 >"$work/changed.csv"

records() { sqlite3 "$PGACCT_REGISTRY" 'SELECT count(*) FROM audit' 2>/dev/null || echo 0; }

# One run, in milliseconds, of `registry import --sync FILE`; prints
# "ms records-written".
sync_ms() {
    local before after start end
    before=$(records)
    start=$(date +%s%N)
    "$pgacct" -q registry import --sync "$1" >/dev/null 2>"$work/stderr" || { cat "$work/stderr"; exit 1; }
    end=$(date +%s%N)
    after=$(records)
    echo "$(( (end - start) / 1000000 )) $(( after - before ))"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }

declare -A times records_of
for _ in $(seq "$runs"); do
    export PGACCT_REGISTRY="$work/registry-$RANDOM.db"
    read -r ms n < <(sync_ms "$work/base.csv");    times[first]+="$ms "; records_of[first]=$n
    read -r ms n < <(sync_ms "$work/base.csv");    times[noop]+="$ms ";  records_of[noop]=$n
    read -r ms n < <(sync_ms "$work/changed.csv"); times[mixed]+="$ms "; records_of[mixed]=$n
    rm -f "$PGACCT_REGISTRY"*
done

printf '%-46s %10s %16s\n' "sync of a 10,000-target CSV ($runs runs)" "median ms" "audit records"
for case in first noop mixed; do
    case $case in
        first) what="first sync (10,000 adds)" ;;
        noop) what="re-sync of the same file (no-op)" ;;
        mixed) what="1,000 updates + 500 deactivations + 500 adds" ;;
    esac
    printf '%-46s %10s %16s\n' "$what" "$(tr ' ' '\n' <<<"${times[$case]}" | grep . | median)" \
        "${records_of[$case]}"
done
