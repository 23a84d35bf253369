#!/usr/bin/env bash
# ngx_mj journal bench (make bench-journal): what the journal costs a
# submit, and what a snapshot costs the requests served while it is
# written.  Two builds are compared: "before" (a git revision, built here
# from its tree; by default the last one without the journal) and "after"
# (build/ngx_http_mj_module.so).
#
#   1. submit cost: wrk -t1 -c32 POSTs /mj/submit/imagine through one
#      worker (each answer a new task id, so each submit records a task),
#      builds and journal settings in alternating rounds; the front
#      worker's CPU time (user and system, from /proc) per submit, its
#      write syscalls per submit, and req/s.  BENCH_CALLGRIND=1 adds
#      valgrind's instruction count per submit (user space only: a
#      write()'s kernel time does not show there).
#   2. snapshot latency: a 64m zone filled until it refuses (about 1.4
#      million tasks, a 45 MB state file), snapshot=1s, then a probe,
#      wrk -t1 -c4 polling one owned task for BENCH_PROBE seconds while
#      snapshots are written: p50, p99 and max latency, and how many
#      snapshots were written meanwhile.
#
# Prints a table; nothing is pass/fail.  Everything started is stopped at
# exit.  Knobs (environment):
#   BENCH_PARTS="submit snapshot"   BENCH_BEFORE_REV=6028bea
#   BENCH_BEFORE=/path/to.so  (a built "before" module: no build)
#   BENCH_DURATION=5s  BENCH_ROUNDS=5  BENCH_PROBE=30s  BENCH_ZONE=64m
#   BENCH_CALLGRIND=0  BENCH_SNAP_BUILDS="before after after-none"  BENCH_KEEP=0
#   NGINX=/usr/sbin/nginx
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

after=$module
parts=${BENCH_PARTS:-"submit snapshot"}
rev=${BENCH_BEFORE_REV:-6028bea}
dur=${BENCH_DURATION:-5s}
rounds=${BENCH_ROUNDS:-5}
probe=${BENCH_PROBE:-30s}
zone=${BENCH_ZONE:-64m}
conns=32

bench_require wrk curl python3 git
bench_setup journal

# --- the "before" module: the revision's tree, built on its own --------------

before=${BENCH_BEFORE:-}
if [ -z "$before" ]; then
    say "building the module at $rev (before)"
    mkdir -p "$dir/before"
    git -C "$root" archive "$rev" | tar -x -C "$dir/before"
    make -C "$dir/before" "$dir/before/build/ngx_http_mj_module.so" \
        > "$dir/logs/before-build.log" 2>&1 \
        || { tail -20 "$dir/logs/before-build.log" >&2; exit 1; }
    before="$dir/before/build/ngx_http_mj_module.so"
fi

read -r up_port gw_port < <(free_ports 2)

write_upstream_conf "$up_port" 1
write_users 1

# front MODULE ZONE_ARGS: $dir/conf/front.conf, one worker ($front_main
# first: "master_process off;" under valgrind)
front_main=""
front() {
    cat > "$dir/conf/front.conf" <<CONF
$front_main
$(front_conf "$up_port" front "$1")
    mj_zone zone=mj:$2;
    server {
        listen 127.0.0.1:$gw_port backlog=4096;
        location / {
            mj_gateway zone=mj;
            $proxy
        }
    }
}
CONF
}

# front_start [WRAPPER...]: the front, $front_pid
front_pid=""
front_start() {
    start_nginx front "$dir/conf/front.conf" "$gw_port" "$@"
    front_pid=$started
}

start_nginx upstream "$dir/conf/upstream.conf" "$up_port"

gw="http://127.0.0.1:$gw_port"
auth="Authorization: Bearer $key"
results="$dir/results"
: > "$results"

# --- 1. the submit's cost -------------------------------------------------------

# submit_run LABEL MODULE ZONE_ARGS: one measured wrk run of submits: the
# front worker's user and system CPU (/proc/PID/stat) and its write
# syscalls (/proc/PID/io: the journal's, and the answers' writev()s)
submit_run() {
    local label=$1 w ua sa ub sb wa wb out
    rm -rf "$dir/state"; mkdir -p "$dir/state"
    front "$2" "128m users=16 $3"
    front_start
    w=$(front_worker "$front_pid")
    wrk -t1 -c32 -d1s -H "$auth" -s "$bench/submit.lua" "$gw/mj/submit/imagine" > /dev/null
    read -r ua sa < <(awk '{ print $14, $15 }' "/proc/$w/stat")
    wa=$(awk '/^syscw/ { print $2 }' "/proc/$w/io")
    out=$(wrk -t1 -c32 "-d$dur" -H "$auth" -s "$bench/submit.lua" "$gw/mj/submit/imagine")
    read -r ub sb < <(awk '{ print $14, $15 }' "/proc/$w/stat")
    wb=$(awk '/^syscw/ { print $2 }' "/proc/$w/io")
    stop_nginx "$front_pid"
    awk -v l="$label" -v u="$((ub - ua))" -v s="$((sb - sa))" -v w="$((wb - wa))" '
        / requests in / { n = $1 }
        /^Requests\/sec:/ { rps = $2 }
        /Non-2xx/ { bad = $NF }
        END { printf "submit %s %.0f %d %d %d %d %d\n", l, rps, n, u, s, w, bad + 0 }' \
        <<<"$out" >> "$results"
    say "  $(tail -1 "$results")"
}

variants=(
    "before|$before|state=$dir/state/mj.state snapshot=1h"
    "after|$after|state=$dir/state/mj.state snapshot=1h"
    "after-journal-off|$after|state=$dir/state/mj.state snapshot=1h journal=off"
    "after-fsync-100ms|$after|state=$dir/state/mj.state snapshot=1h journal_fsync=100ms"
)
# BENCH_VARIANTS="1 2": only those (by index), e.g. the journal on and off
read -r -a sel <<<"${BENCH_VARIANTS:-0 1 2 3}"

# callgrind_run LABEL MODULE ZONE_ARGS N: valgrind's count of the
# instructions of the event loop (user space) for N submits, one process
callgrind_run() {
    local f=$dir/callgrind-$1-$4
    rm -rf "$dir/state"; mkdir -p "$dir/state"
    front_main="master_process off;"
    front "$2" "128m users=16 $3"
    front_main=""
    front_start valgrind --tool=callgrind "--callgrind-out-file=$f"
    python3 "$bench/client.py" "$gw_port" POST /mj/submit/imagine "$4" "$key" > /dev/null
    stop_nginx "$front_pid"
    printf 'callgrind %s %s %s\n' "$1" "$4" \
        "$(callgrind_annotate --inclusive=yes "$f" 2>/dev/null \
           | awk '/ngx_process_events_and_timers/ { gsub(",", "", $1); print $1; exit }')" \
        >> "$results"
    say "  $(tail -1 "$results")"
}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
if [[ " $parts " == *" submit "* ]]; then
    say "1. submit cost: $rounds rounds of ${dur}, alternating"
    for r in $(seq "$rounds"); do
        order=("${sel[@]}")
        if [ $((r % 2)) = 0 ]; then
            mapfile -t order < <(printf '%s\n' "${sel[@]}" | tac)
        fi
        for i in "${order[@]}"; do
            IFS='|' read -r label mod args <<<"${variants[$i]}"
            submit_run "$label" "$mod" "$args"
        done
    done
    if [ "${BENCH_CALLGRIND:-0}" = 1 ]; then
        # two counts a variant: their difference is the submits' alone
        for i in "${sel[@]}"; do
            IFS='|' read -r label mod args <<<"${variants[$i]}"
            callgrind_run "$label" "$mod" "$args" 1000
            callgrind_run "$label" "$mod" "$args" 4000
        done
    fi
fi

# --- 2. requests served while snapshots are written ----------------------------

# ms 580.12us | 1.23ms | 2.00s: milliseconds
ms() { awk -v u="$(to_us "$1")" 'BEGIN { printf "%.2f", u / 1000 }'; }

# snapshot_run LABEL MODULE SNAPSHOT
snapshot_run() {
    local label=$1 id out snaps ino last tasks size
    rm -rf "$dir/state"; mkdir -p "$dir/state"
    front "$2" "$zone state=$dir/state/mj.state snapshot=$3"
    front_start
    rm -f "$dir/ids"
    fill "$gw/" 0 "$dir/ids"
    tasks=$(grep -c . "$dir/ids" || true)
    id=$(head -1 "$dir/ids")
    # count the snapshots the probe sees: the state file's inode changes
    ( trap - EXIT INT TERM
      last=""; n=0
      while :; do
          ino=$(stat -c %i "$dir/state/mj.state" 2>/dev/null || true)
          if [ -n "$ino" ] && [ "$ino" != "$last" ]; then n=$((n + 1)); last=$ino; fi
          echo "$n" > "$dir/snaps"
          sleep 0.05
      done ) &
    local spid=$!
    pids+=("$spid")
    sleep 0.2
    snaps=$(cat "$dir/snaps")
    out=$(wrk -t1 -c4 "-d$probe" --latency -H "$auth" "$gw/mj/task/$id/fetch")
    snaps=$(( $(cat "$dir/snaps") - snaps ))
    kill "$spid" 2>/dev/null || true
    size=$(stat -c %s "$dir/state/mj.state" 2>/dev/null || echo 0)
    stop_nginx "$front_pid"
    printf 'snapshot %s %s %s %s %s %s %s %s\n' "$label" "$tasks" "$size" "$snaps" \
        "$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")" \
        "$(ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")" \
        "$(ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")" \
        "$(ms "$(awk '$1 == "Latency" { print $4; exit }' <<<"$out")")" >> "$results"
    say "  $(tail -1 "$results")"
}

if [[ " $parts " == *" snapshot "* ]]; then
    say "2. snapshots of a full $zone zone every second, a ${probe} probe"
    for b in ${BENCH_SNAP_BUILDS:-before after after-none}; do
        case $b in
        before) snapshot_run before "$before" 1s ;;
        after) snapshot_run after "$after" 1s ;;
        # the same probe with no snapshot in it: what this machine gives
        after-none) snapshot_run after-none "$after" 1h ;;
        esac
    done
fi

# --- the table -------------------------------------------------------------------

{
    echo
    echo "ngx_mj journal bench  $(date -u '+%Y-%m-%d %H:%M UTC')  $(machine)"
    echo "before: $rev ($before); after: $after"
    echo "load average at start: $load0; at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    if [[ " $parts " == *" submit "* ]]; then
        echo
        echo "1. POST /mj/submit/imagine, each a new task; wrk -t1 -c32 -d$dur, $rounds rounds,"
        echo "   the front worker's CPU summed over the rounds, per submit; req/s: median"
        printf '   %-20s %8s %9s %8s %8s %8s %9s %7s\n' variant "req/s" "cpu us" user sys \
            "x base" "writes" errors
        base=before
        grep -q '^submit before ' "$results" || base="after-journal-off"
        cpu() { awk -v v="$1" -v hz="$clk_tck" -v f="$2" '$1 == "submit" && $2 == v {
                    n += $4; u += $5; s += $6; w += $7 }
                END { if (n == 0) { print 0; exit }
                      if (f == "u") printf "%.2f", u * 1e6 / hz / n
                      else if (f == "s") printf "%.2f", s * 1e6 / hz / n
                      else if (f == "w") printf "%.3f", w / n
                      else printf "%.2f", (u + s) * 1e6 / hz / n }' "$results"; }
        b=$(cpu "$base" t)
        for v in before after after-journal-off after-fsync-100ms; do
            grep -q "^submit $v " "$results" || continue
            c=$(cpu "$v" t)
            printf '   %-20s %8s %9s %8s %8s %8s %9s %7s\n' "$v" \
                "$(awk -v v="$v" '$1 == "submit" && $2 == v { print $3 }' "$results" | median)" \
                "$c" "$(cpu "$v" u)" "$(cpu "$v" s)" \
                "$(awk -v a="$c" -v b="$b" 'BEGIN { printf "%.3f", a / b }')" \
                "$(cpu "$v" w)" \
                "$(awk -v v="$v" '$1 == "submit" && $2 == v { s += $8 } END { print s + 0 }' "$results")"
        done
        echo "   writes: write syscalls of the worker a submit (the answer's writev(), the journal's write())"
        if grep -q '^callgrind' "$results"; then
            echo "   valgrind (callgrind), instructions of the event loop a submit, user space"
            echo "   (4000 submits less 1000, one process, one client):"
            for v in before after after-journal-off after-fsync-100ms; do
                grep -q "^callgrind $v " "$results" || continue
                awk -v v="$v" '$1 == "callgrind" && $2 == v { i[$3] = $4 }
                    END { printf "     %-20s %8.0f\n", v, (i[4000] - i[1000]) / 3000 }' "$results"
            done
        fi
    fi
    if [[ " $parts " == *" snapshot "* ]]; then
        echo
        echo "2. polling one task (wrk -t1 -c4 -d$probe) while a full $zone zone is snapshotted every 1s"
        echo "   (after-none: snapshot=1h, no snapshot during the probe)"
        printf '   %-10s %9s %10s %6s %8s %8s %8s %9s\n' build tasks "file MB" snaps "req/s" "p50 ms" "p99 ms" "max ms"
        awk '$1 == "snapshot" { printf "   %-10s %9s %10.1f %6s %8s %8s %8s %9s\n", $2, $3, $4 / 1048576, $5, $6, $7, $8, $9 }' "$results"
    fi
    echo
} | tee "$dir/table.txt"

# the fills log "is full" by design
show_errors "$dir/logs/front-error.log" "$dir/logs/upstream-error.log"
