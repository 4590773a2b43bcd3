# Sourced by bench/wan.sh and bench/fleet_reads.sh: the latency proxy, the
# psql binaries, and the statistics both print.

# Starts bench/latency_proxy.py in front of TARGETS (comma-separated ports),
# listening on COUNT ports (default one per target; port i forwards to target
# i mod K). Sets the array proxy_ports and $proxy_control; stopped on exit.
# DELAY_MS (default 10) each way, TCP_HANDSHAKE=1 to charge new connections
# one more RTT, PROXY_TRACE=FILE to decode and record every connection,
# PROXY_PY=FILE to run another copy of the proxy (e.g. one with debug output).
proxy_start() {
    local targets=$1 count=${2:-0} ready=$work/proxy.ready line ports
    local args=(--target-port "$targets" --listen-count "$count" --delay-ms "${DELAY_MS:-10}"
                --ready-file "$ready")
    [ "${TCP_HANDSHAKE:-0}" = 1 ] && args+=(--tcp-handshake)
    [ -n "${PROXY_TRACE:-}" ] && args+=(--trace "$PROXY_TRACE")
    rm -f "$ready"
    # The proxy plays the network: as root it runs ahead of the tools it
    # measures, so a busy machine delays it less.
    local nice=()
    [ "$(id -u)" -ne 0 ] || nice=(nice -n -10)
    "${nice[@]}" python3 "${PROXY_PY:-$bench_dir/latency_proxy.py}" "${args[@]}" 2>"$work/proxy.log" &
    proxy_pid=$!
    fleet_on_exit "kill $proxy_pid 2>/dev/null"
    local _
    for _ in $(seq 200); do [ -s "$ready" ] && break; sleep 0.05; done
    [ -s "$ready" ] || { echo "the latency proxy did not start:" >&2; cat "$work/proxy.log" >&2; return 1; }
    read -r line <"$ready"
    ports=${line#listen=} ports=${ports%% *}
    IFS=, read -ra proxy_ports <<<"$ports"
    proxy_control=${line##*control=}
}

# The connections finished since the last call, as the proxy counted them:
# "connections=N round_trips=R per_connection=a,b ids=i,j peak_open=P
# failed=F late_ms_max=L".
proxy_take() {
    local answer
    exec 3<>"/dev/tcp/127.0.0.1/$proxy_control"
    echo take >&3
    read -r answer <&3
    exec 3>&-
    echo "$answer"
}

# CPU time the proxy has used so far, in milliseconds.
proxy_cpu_ms() {
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%d", ($14 + $15) * 1000 / hz }' "/proc/$proxy_pid/stat"
}

# field NAME "k=v k=v" -> v
field() { local f=" $2"; f=${f#* "$1"=}; echo "${f%% *}"; }

# Microseconds since the epoch, from bash's clock (no fork).
now_us() { local t=$EPOCHREALTIME; echo "${t/[.,]/}"; }

# Numbers on stdin -> their median (- when none).
median() { tr ' ' '\n' | awk 'NF' | sort -g |
    awk '{a[NR]=$1} END {if (!NR) {print "-"; exit} print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }
# Microseconds on stdin -> their median in milliseconds.
median_ms() { median | awk '{ if ($1 == "-") print; else printf "%.1f", $1 / 1000 }'; }
# Numbers on stdin -> "lo-hi", or one number when all are equal.
range() { tr ' ' '\n' | awk 'NF' | sort -n |
    awk 'NR==1{lo=$1} {hi=$1} END {if (!NR) print "-"; else print (lo==hi)?lo:lo"-"hi}'; }
# Numbers on stdin -> the largest.
maximum() { tr ' ' '\n' | awk 'NF' | sort -g | tail -n 1; }
# "13,13,13,5" -> "13x3,5"
squeeze() { tr ',' '\n' | awk 'NR > 1 && $0 == v {n++; next}
    NR > 1 {out = out sep v (n > 1 ? "x" n : ""); sep = ","} {v = $0; n = 1}
    END {if (NR) print out sep v (n > 1 ? "x" n : "")}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'; }

# The psql binary itself: Debian's /usr/bin/psql is a Perl wrapper that
# alone costs ~30 ms, which would flatter pgacct.
real_psql() {
    local p
    for p in "${PSQL:-}" "$(find_bindir)/psql" /usr/lib/postgresql/*/bin/psql; do
        [ -n "$p" ] && [ -x "$p" ] && { echo "$p"; return; }
    done
    echo "no psql binary: apt-get install postgresql-client, or set PSQL" >&2
    return 1
}

# A psql of major 17 or later (libpq with sslnegotiation=direct), or nothing:
# $PSQL17, else one unpacked under target/pg-majors/ (see wan.sh's header).
psql17_or_nothing() {
    local p v
    for p in "${PSQL17:-}" "$repo_dir"/target/pg-majors/*/bin/psql \
             "$repo_dir"/target/pg-majors/*/*/bin/psql "$repo_dir"/target/pg-majors/*/*/*/bin/psql; do
        [ -n "$p" ] && [ -x "$p" ] || continue
        v=$("$p" --version 2>/dev/null | awk '{print $NF}') || continue
        [ "${v%%.*}" -ge 17 ] 2>/dev/null && { echo "$p"; return; }
    done
}

bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_dir=$(dirname "$bench_dir")
source "$repo_dir/scripts/lib/throwaway-fleet.sh"
