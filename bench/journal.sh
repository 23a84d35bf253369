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

root=$(cd "$(dirname "$0")/.." && pwd)
bench="$root/bench"
nginx=${NGINX:-/usr/sbin/nginx}
after="$root/build/ngx_http_mj_module.so"
parts=${BENCH_PARTS:-"submit snapshot"}
rev=${BENCH_BEFORE_REV:-6028bea}
dur=${BENCH_DURATION:-5s}
rounds=${BENCH_ROUNDS:-5}
probe=${BENCH_PROBE:-30s}
zone=${BENCH_ZONE:-64m}
key="mj-bench-user-key-0123456789"

say() { printf '%s\n' "$*" >&2; }

for t in wrk curl python3 git; do
    command -v "$t" >/dev/null || { say "$t is missing"; exit 1; }
done
[ -f "$after" ] || make -C "$root" >/dev/null

dir=$(mktemp -d /tmp/ngx_mj-journal.XXXXXX)
chmod 755 "$dir"
mkdir -p "$dir/conf" "$dir/logs" "$dir/tmp"
pids=()

cleanup() {
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ "${BENCH_KEEP:-0}" = 1 ]; then say "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

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

read -r up_port gw_port < <(python3 - <<'PY'
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))
PY
)

printf 'bench %s main\n' "$(printf %s "$key" | sha256sum | cut -d' ' -f1)" \
    > "$dir/conf/users"
(umask 077; printf 'main sk-bench-upstream-secret upstream=backend\n' \
    > "$dir/conf/keys")

temps() { # PREFIX
    local t
    for t in client_body proxy fastcgi uwsgi scgi; do
        printf '    %s_temp_path %s/tmp/%s-%s;\n' "$t" "$dir" "$1" "$t"
    done
}

cat > "$dir/conf/upstream.conf" <<CONF
worker_processes 1;
error_log $dir/logs/upstream-error.log warn;
pid $dir/logs/upstream.pid;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 10000000;
    default_type application/json;
$(temps up)
    server {
        listen 127.0.0.1:$up_port reuseport backlog=4096;
        location = /mj/submit/imagine {
            return 200 '{"code":1,"description":"Submitted","result":"\$request_id"}';
        }
        location / {
            return 200 '{"id":"1","status":"IN_PROGRESS","progress":"42%"}';
        }
    }
}
CONF

# front MODULE ZONE_ARGS: the front's config, one worker
front_main=""
front_conf() {
    cat > "$dir/conf/front.conf" <<CONF
load_module $1;
$front_main
worker_processes 1;
error_log $dir/logs/front-error.log notice;
pid $dir/logs/front.pid;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 10000000;
$(temps front)
    mj_users $dir/conf/users;
    mj_upstream_keys $dir/conf/keys;
    mj_zone zone=mj:$2;
    upstream backend {
        server 127.0.0.1:$up_port;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$gw_port backlog=4096;
        location / {
            mj_gateway zone=mj;
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
CONF
}

wait_port() {
    local i
    for i in $(seq 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

front_pid=""
front_start() { # VALGRIND...
    "$@" "$nginx" -p "$dir/" -c "$dir/conf/front.conf" -g 'daemon off;' \
        > "$dir/logs/front.out" 2>&1 &
    front_pid=$!
    pids+=("$front_pid")
    wait_port "$gw_port" || { cat "$dir/logs/front.out" "$dir/logs/front-error.log" >&2; exit 1; }
}

front_stop() {
    kill -QUIT "$front_pid" 2>/dev/null || true
    wait "$front_pid" 2>/dev/null || true
}

front_worker() {
    local w
    for w in $(pgrep -P "$front_pid"); do
        grep -q 'worker process' "/proc/$w/cmdline" 2>/dev/null && { echo "$w"; return; }
    done
    pgrep -P "$front_pid" | head -1
}

"$nginx" -p "$dir/" -c "$dir/conf/upstream.conf" -g 'daemon off;' \
    > "$dir/logs/upstream.out" 2>&1 &
pids+=($!)
wait_port "$up_port" || { say "the upstream did not start"; exit 1; }

clk_tck=$(getconf CLK_TCK)
gw="http://127.0.0.1:$gw_port"
auth="Authorization: Bearer $key"
results="$dir/results"
: > "$results"

cat > "$dir/submit.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"prompt":"a lighthouse at dusk, oil on canvas --ar 3:2"}'
LUA

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print 0;
    else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f", (a[NR/2] + a[NR/2 + 1]) / 2 }'; }

# --- 1. the submit's cost -------------------------------------------------------

# submit_run LABEL MODULE ZONE_ARGS: one measured wrk run of submits: the
# front worker's user and system CPU (/proc/PID/stat) and its write
# syscalls (/proc/PID/io: the journal's, and the answers' writev()s)
submit_run() {
    local label=$1 w ua sa ub sb wa wb out
    rm -rf "$dir/state"; mkdir -p "$dir/state"
    front_conf "$2" "128m users=16 $3"
    front_start
    w=$(front_worker)
    wrk -t1 -c32 -d1s -H "$auth" -s "$dir/submit.lua" "$gw/mj/submit/imagine" > /dev/null
    read -r ua sa < <(awk '{ print $14, $15 }' "/proc/$w/stat")
    wa=$(awk '/^syscw/ { print $2 }' "/proc/$w/io")
    out=$(wrk -t1 -c32 "-d$dur" -H "$auth" -s "$dir/submit.lua" "$gw/mj/submit/imagine")
    read -r ub sb < <(awk '{ print $14, $15 }' "/proc/$w/stat")
    wb=$(awk '/^syscw/ { print $2 }' "/proc/$w/io")
    front_stop
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
sel=(${BENCH_VARIANTS:-0 1 2 3})

# callgrind_run LABEL MODULE ZONE_ARGS N: valgrind's count of the
# instructions of the event loop (user space) for N submits, one process
callgrind_run() {
    local f=$dir/callgrind-$1-$4
    rm -rf "$dir/state"; mkdir -p "$dir/state"
    front_main="master_process off;"
    front_conf "$2" "128m users=16 $3"
    front_main=""
    front_start valgrind --tool=callgrind "--callgrind-out-file=$f"
    python3 - "$gw_port" "$key" "$4" <<'PY'
import socket, sys
port, key, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
body = b'{"prompt":"a lighthouse at dusk"}'
req = (b"POST /mj/submit/imagine HTTP/1.1\r\nHost: bench\r\n"
       b"Authorization: Bearer " + key.encode() + b"\r\n"
       b"Content-Type: application/json\r\n"
       b"Content-Length: %d\r\n\r\n" % len(body)) + body
s = socket.create_connection(("127.0.0.1", port))
f = s.makefile("rb")
for _ in range(n):
    s.sendall(req)                      # one segment: the same path each time
    assert b" 200 " in f.readline()
    length = 0
    while True:
        h = f.readline()
        if h in (b"\r\n", b""):
            break
        if h.lower().startswith(b"content-length:"):
            length = int(h.split(b":")[1])
    f.read(length)
PY
    front_stop
    printf 'callgrind %s %s %s\n' "$1" "$4" \
        "$(callgrind_annotate --inclusive=yes "$f" 2>/dev/null \
           | awk '/ngx_process_events_and_timers/ { gsub(",", "", $1); print $1; exit }')" \
        >> "$results"
    say "  $(tail -1 "$results")"
}

if [[ " $parts " == *" submit "* ]]; then
    say "1. submit cost: $rounds rounds of ${dur}, alternating"
    for r in $(seq "$rounds"); do
        order=("${sel[@]}")
        if [ $((r % 2)) = 0 ]; then
            order=($(printf '%s\n' "${sel[@]}" | tac))
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

# fill_zone: submits until the zone refuses them; the ids in $dir/ids
fill_zone() {
    local done="$dir/fill.done" wpid
    rm -f "$done" "$dir/ids"
    BENCH_KEY=$key FILL_N=0 FILL_IDS="$dir/ids" FILL_DONE=$done \
        wrk -t1 -c32 -d900s -s "$bench/fill.lua" "$gw/" > "$dir/fill.out" 2>&1 &
    wpid=$!
    pids+=("$wpid")
    while [ ! -e "$done" ] && kill -0 "$wpid" 2>/dev/null; do sleep 0.2; done
    kill -INT "$wpid" 2>/dev/null || true
    wait "$wpid" || true
}

to_ms() { # 580.12us | 1.23ms | 2.00s -> milliseconds
    awk -v v="$1" 'BEGIN { n = v + 0
        if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n *= 1; else if (v ~ /s$/) n *= 1000
        printf "%.2f", n }'
}

# snapshot_run LABEL MODULE SNAPSHOT
snapshot_run() {
    local label=$1 id out snaps ino last tasks size
    rm -rf "$dir/state"; mkdir -p "$dir/state"
    front_conf "$2" "$zone state=$dir/state/mj.state snapshot=$3"
    front_start
    fill_zone
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
    front_stop
    printf 'snapshot %s %s %s %s %s %s %s %s\n' "$label" "$tasks" "$size" "$snaps" \
        "$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")" \
        "$(to_ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")" \
        "$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")" \
        "$(to_ms "$(awk '$1 == "Latency" { print $4; exit }' <<<"$out")")" >> "$results"
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
    echo "ngx_mj journal bench  $(date -u '+%Y-%m-%d %H:%M UTC')  $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
    echo "before: $rev ($before); after: $after"
    echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    if [[ " $parts " == *" submit "* ]]; then
        echo
        echo "1. POST /mj/submit/imagine, each a new task; wrk -t1 -c32 -d$dur, $rounds rounds,"
        echo "   the front worker's CPU summed over the rounds, per submit; req/s: median"
        printf '   %-20s %8s %9s %8s %8s %8s %9s %7s\n' variant "req/s" "cpu us" user sys \
            "x base" "writes" errors
        base=before
        grep -q '^submit before ' "$results" || base=after-journal-off
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
