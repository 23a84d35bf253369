#!/usr/bin/env bash
# ngx_mj speed bench (make bench): the gateway against bare proxy_pass.
#
# Starts, on 127.0.0.1 only and in a mktemp folder:
#   - an upstream: plain nginx answering GET .../fetch with a fixed ~600-byte
#     task JSON and POST /mj/submit/imagine with a new task id ($request_id);
#   - a front nginx, one worker, with two servers on the same upstream
#     (keepalive): bare proxy_pass, and the gateway (zone "mj", 64m).
# Then, with wrk -t1 -c32:
#   1. fetch of one owned task, bare vs gateway, alternating rounds
#      (a 32-hex-digit id from $request_id, which the zone keys by an HMAC,
#      and a digits-only id, midjourney-proxy's shape, kept as a number);
#   2. the zone filled to 10^3, 10^5, 10^6 tasks by submits through the
#      gateway, fetch throughput of random owned tasks at each size;
#   3. the zone filled on until it refuses submits: its capacity, and so
#      the zone's bytes per task.
# Prints a table; nothing is pass/fail.  Everything started is stopped at
# exit.  Knobs (environment):
#   BENCH_DURATION=5s      each measured wrk run        BENCH_ROUNDS=3
#   BENCH_SIZE_ROUNDS=2    rounds at each zone size     BENCH_CONNECTIONS=32
#   BENCH_SIZES="1000 100000 1000000"                   BENCH_ZONE=64m
#   BENCH_CAPACITY=1       fill the zone to capacity    BENCH_WARMUP=1s
#   BENCH_PERF=1           profile the front worker (perf) in one bare and
#                          one gateway run and print the top symbols
#   BENCH_KEEP=1           keep the temp folder (configs, logs, ids)
#   NGINX=/usr/sbin/nginx  BENCH_UPSTREAM_WORKERS=1
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bench="$root/bench"
nginx=${NGINX:-/usr/sbin/nginx}
module="$root/build/ngx_http_mj_module.so"

dur=${BENCH_DURATION:-5s}
warm=${BENCH_WARMUP:-1s}
rounds=${BENCH_ROUNDS:-3}
size_rounds=${BENCH_SIZE_ROUNDS:-2}
conns=${BENCH_CONNECTIONS:-32}
sizes=${BENCH_SIZES:-"1000 100000 1000000"}
zone=${BENCH_ZONE:-64m}
up_workers=${BENCH_UPSTREAM_WORKERS:-1}
key="mj-bench-user-key-0123456789"
numeric_id="1712345678901234"

. "$bench/lib.sh"

bench_setup
read -r up_port bare_port gw_port lim_port < <(free_ports 4)

# --- configs ----------------------------------------------------------------

write_upstream_conf
write_users

proxy='proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";'

cat > "$dir/conf/front.conf" <<CONF
load_module $module;
worker_processes 1;
error_log $dir/logs/front-error.log warn;
pid $dir/logs/front.pid;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 10000000;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;

    mj_users $dir/conf/users;
    mj_upstream_keys $dir/conf/upstream-keys;
    mj_zone zone=mj:$zone state=off users=10000;

    upstream backend {
        server 127.0.0.1:$up_port;
        keepalive 64;
        keepalive_requests 10000000;
    }

    server {                            # (a) bare proxy_pass
        listen 127.0.0.1:$bare_port backlog=4096;
        location / {
            $proxy
        }
    }

    server {                            # (b) the gateway
        listen 127.0.0.1:$gw_port backlog=4096;
        location / {
            mj_gateway zone=mj;
            $proxy
        }
    }

    server {                            # (c) the gateway with every limit on
        listen 127.0.0.1:$lim_port backlog=4096;
        location / {
            mj_gateway zone=mj;
            mj_limit_submit rate=100000r/s burst=100000;
            mj_limit_poll rate=1000000r/s burst=1000000;
            mj_limit_tasks 16;
            mj_quota 100000000;
            mj_limit_auth rate=10r/s burst=100;
            $proxy
        }
    }
}
CONF

start_nginx upstream "$dir/conf/upstream.conf" "$up_port"
start_nginx front "$dir/conf/front.conf" "$gw_port"
front_worker "${pids[-1]}"

# --- the owned tasks, and a sanity check -----------------------------------

auth="Authorization: Bearer $key"
gw="http://127.0.0.1:$gw_port"
lim="http://127.0.0.1:$lim_port"
bare="http://127.0.0.1:$bare_port"

ans=$(curl -sS -H "$auth" -H 'Content-Type: application/json' \
      -d '{"prompt":"a lighthouse at dusk"}' "$gw/mj/submit/imagine")
hex_id=$(printf '%s' "$ans" | sed -n 's/.*"result":"\([A-Za-z0-9_-]*\)".*/\1/p')
[ -n "$hex_id" ] || { say "submit through the gateway failed: $ans"; exit 1; }
ans=$(curl -sS -H "$auth" -H 'Content-Type: application/json' \
      -d '{"prompt":"a lighthouse at dusk"}' "$gw/mj-fast/mj/submit/imagine")
case $ans in *"\"$numeric_id\""*) ;; *) say "numeric submit failed: $ans"; exit 1;; esac

code() { curl -s -o /dev/null -w '%{http_code}' -H "$auth" "$1"; }
for u in "$gw/mj/task/$hex_id/fetch" "$gw/mj/task/$numeric_id/fetch" \
         "$bare/mj/task/$hex_id/fetch"; do
    c=$(code "$u")
    [ "$c" = 200 ] || { say "expected 200 from $u, got $c"; exit 1; }
done
c=$(code "$gw/mj/task/0123456789abcdef0123456789abcdef/fetch")
[ "$c" = 404 ] || { say "an unowned task gave $c, not 404"; exit 1; }

# --- wrk runs ------------------------------------------------------------------

# fill URL N IDFILE: N submits (0: until refused) through the gateway;
# sets fill_ok fill_refused fill_other fill_secs
fill() {
    local out="$dir/fill.out" done="$dir/fill.done" t0 t1 line wpid
    rm -f "$done"
    t0=$(date +%s.%N)
    BENCH_KEY=$key FILL_N=$2 FILL_IDS=$3 FILL_DONE=$done \
        wrk -t1 "-c$conns" -d900s -s "$bench/fill.lua" "$1" > "$out" 2>&1 &
    wpid=$!
    pids+=("$wpid")
    while [ ! -e "$done" ] && kill -0 "$wpid" 2>/dev/null; do
        sleep 0.1
    done
    t1=$(date +%s.%N)
    kill -INT "$wpid" 2>/dev/null || true
    wait "$wpid" || true
    line=$(grep '^FILL ' "$out") || { say "fill failed:"; cat "$out" >&2; exit 1; }
    read -r fill_ok fill_refused fill_other fill_secs < <(
        awk -v t0="$t0" -v t1="$t1" '{
            for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
            printf "%d %d %d %.1f\n", v["ok"], v["refused"], v["other"], t1 - t0 }' <<<"$line")
    if [ "$fill_ok" = 0 ]; then
        say "no submit through $1 recorded a task: $line"; exit 1
    fi
}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
say "ngx_mj bench: wrk -t1 -c$conns, $dur runs (+$warm warm-up), $(nproc) cores; temp $dir"
say "1. fetch of one owned task, $rounds alternating rounds"

for r in $(seq "$rounds"); do
    if [ $((r % 2)) = 1 ]; then
        run bare fixed "$bare/mj/task/$hex_id/fetch"
        run gateway-hex fixed "$gw/mj/task/$hex_id/fetch"
        run gateway-digits fixed "$gw/mj/task/$numeric_id/fetch"
        run gateway-limits fixed "$lim/mj/task/$numeric_id/fetch"
    else
        run gateway-limits fixed "$lim/mj/task/$numeric_id/fetch"
        run gateway-digits fixed "$gw/mj/task/$numeric_id/fetch"
        run gateway-hex fixed "$gw/mj/task/$hex_id/fetch"
        run bare fixed "$bare/mj/task/$hex_id/fetch"
    fi
done

# --- zone sizes ------------------------------------------------------------------

ids="$dir/ids"
: > "$ids"
printf '%s\n' "$hex_id" >> "$ids"
recorded=2          # the two owned tasks above
filled=0
filled_secs=0
not_recorded=0

say "2. ownership check at zone sizes: $sizes (zone $zone)"
for n in $(tr ' ' '\n' <<<"$sizes" | sort -n); do
    need=$((n - recorded))
    if [ "$need" -gt 0 ]; then
        fill "$gw/" "$need" "$ids"
        recorded=$((recorded + fill_ok)); filled=$((filled + fill_ok))
        filled_secs=$(awk -v a="$filled_secs" -v b="$fill_secs" 'BEGIN { print a + b }')
        not_recorded=$((not_recorded + fill_other + fill_refused))
        say "  filled $fill_ok tasks in ${fill_secs}s (refused $fill_refused," \
            "other $fill_other): $recorded recorded"
    fi
    g="size-$n"
    echo "$g recorded $recorded" >> "$dir/sizes"
    for r in $(seq "$size_rounds"); do
        if [ $((r % 2)) = 1 ]; then
            BENCH_KEY=$key FETCH_IDS=$ids run bare "$g" "$bare/" "$bench/fetch-random.lua"
            BENCH_KEY=$key FETCH_IDS=$ids run gateway-random "$g" "$gw/" "$bench/fetch-random.lua"
        else
            BENCH_KEY=$key FETCH_IDS=$ids run gateway-random "$g" "$gw/" "$bench/fetch-random.lua"
            BENCH_KEY=$key FETCH_IDS=$ids run bare "$g" "$bare/" "$bench/fetch-random.lua"
        fi
    done
    run gateway-hex "$g" "$gw/mj/task/$hex_id/fetch"
done

# --- capacity ------------------------------------------------------------------------

bytes() { # 64m, 512k, 1g -> bytes
    awk -v v="$1" 'BEGIN { n = v + 0; u = tolower(substr(v, length(v)))
        m = u == "k" ? 1024 : u == "m" ? 1048576 : u == "g" ? 1073741824 : 1
        printf "%.0f", n * m }'
}
zone_bytes=$(bytes "$zone")
capacity=0

if [ "${BENCH_CAPACITY:-1}" = 1 ]; then
    say "3. zone capacity: filling zone \"mj\" ($zone) on until it refuses"
    fill "$gw/" 0 ""
    capacity=$((recorded + fill_ok))
    say "  $fill_ok more tasks recorded ($capacity in all), then refused" \
        "($fill_refused refusals seen, other $fill_other) after ${fill_secs}s"
fi

# --- profile ---------------------------------------------------------------------------

if [ "${BENCH_PERF:-0}" = 1 ]; then
    if ! command -v perf >/dev/null; then
        say "perf is missing: no profile"
    else
        for what in bare gateway; do
            url="$bare/mj/task/$hex_id/fetch"
            [ "$what" = gateway ] && url="$gw/mj/task/$hex_id/fetch"
            say "profiling the front worker ($worker), $what fetch"
            # Debian builds without frame pointers: unwind with DWARF
            perf record -q --call-graph dwarf,16384 -F 999 -o "$dir/perf-$what.data" \
                -p "$worker" -- sleep 3 > "$dir/perf-$what.log" 2>&1 &
            perf_pid=$!
            pids+=("$perf_pid")
            wrk -t1 "-c$conns" -d4s -H "$auth" "$url" > /dev/null
            wait "$perf_pid" || true
            {
                echo "perf, front worker, $what fetch of one task"
                echo "  self time by object:"
                perf report -i "$dir/perf-$what.data" --no-children -g none \
                    --sort dso --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -8 || true
                if [ "$what" = gateway ]; then
                    echo "  the module's functions and the library calls under them"
                    echo "  (inclusive: % of the worker's time spent in it and its callees):"
                    perf report -i "$dir/perf-$what.data" --children -g none \
                        --sort symbol --stdio 2>/dev/null | grep -E '^ +[0-9]' \
                        | grep -E 'ngx_http_mj_|HMAC|EVP_Q_|EVP_MD_fetch|EVP_MAC_fetch|SHA256 |yajl_(alloc|free|parse)' \
                        | awk '$1 + 0 >= 0.3 && !seen[$4]++ { printf "    %7s  %s\n", $1, $4 }' \
                        | head -20 || true
                fi
            } > "$dir/perf-$what.txt"
        done
    fi
fi

# --- the table -----------------------------------------------------------------------------

{
    echo
    echo "ngx_mj bench  $(date -u '+%Y-%m-%d %H:%M UTC')  $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
    echo "nginx $("$nginx" -v 2>&1 | sed 's/.*nginx\///'), front: 1 worker; upstream: nginx, $up_workers worker(s), fixed ${#task_json}-byte task JSON"
    echo "wrk -t1 -c$conns -d$dur, medians of the rounds; latency in microseconds"
    echo "load average at start: $load0; at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    echo "1. GET /mj/task/{id}/fetch of one owned task ($rounds rounds, alternating)"
    printf '   %-15s %8s %7s %7s %7s %7s %8s %7s\n' path "req/s" "avg" "p50" "p99" "x bare" \
        "cpu/req" errors
    bare_rps=$(col fixed bare 3)
    for l in bare gateway-hex gateway-digits gateway-limits; do
        rps=$(col fixed "$l" 3)
        printf '   %-15s %8s %7s %7s %7s %7s %8s %7s\n' "$l" "$rps" "$(col fixed "$l" 4)" \
            "$(col fixed "$l" 5)" "$(col fixed "$l" 6)" "$(ratio "$rps" "$bare_rps")" \
            "$(colf fixed "$l" 8)" "$(errs fixed "$l")"
    done
    echo "   cpu/req: microseconds of front-worker CPU (user+system) per request"
    printf '   per round gateway-hex/bare:'
    paste <(awk '$1 == "fixed" && $2 == "gateway-hex" { print $3 }' "$results") \
          <(awk '$1 == "fixed" && $2 == "bare" { print $3 }' "$results") \
        | while read -r a b; do printf ' %s' "$(ratio "$a" "$b")"; done
    echo
    echo "   gateway/bare = $(ratio "$(col fixed gateway-hex 3)" "$bare_rps") (hex id)," \
         "$(ratio "$(col fixed gateway-digits 3)" "$bare_rps") (digits id); target >= 0.95"
    echo "   with every limit on, 10,000 users configured (digits id):" \
         "$(ratio "$(col fixed gateway-limits 3)" "$bare_rps") of bare," \
         "$(ratio "$(col fixed gateway-limits 3)" "$(col fixed gateway-digits 3)") of the gateway without limits"
    echo
    echo "2. ownership check by tasks in the zone (zone $zone): each request fetches"
    echo "   a random one of the recorded tasks (wrk builds it in Lua, for bare too);"
    echo "   'same' polls one task with plain wrk; cpu: front-worker us per request"
    printf '   %-9s %8s %8s %7s %7s %9s %9s %9s %7s\n' tasks "bare" "gateway" "x bare" \
        "gw p99" "bare cpu" "gw cpu" "same cpu" errors
    for n in $(tr ' ' '\n' <<<"$sizes" | sort -n); do
        g="size-$n"
        rec=$(awk -v g="$g" '$1 == g { print $3 }' "$dir/sizes")
        b=$(col "$g" bare 3); gr=$(col "$g" gateway-random 3)
        e=$(( $(errs "$g" bare) + $(errs "$g" gateway-random) + $(errs "$g" gateway-hex) ))
        printf '   %-9s %8s %8s %7s %7s %9s %9s %9s %7s\n' "$rec" "$b" "$gr" \
            "$(ratio "$gr" "$b")" "$(col "$g" gateway-random 6)" "$(colf "$g" bare 8)" \
            "$(colf "$g" gateway-random 8)" "$(colf "$g" gateway-hex 8)" "$e"
    done
    if [ "$filled" -gt 0 ]; then
        echo "   filled by $filled submits through the gateway in ${filled_secs}s" \
             "($(awk -v n="$filled" -v s="$filled_secs" 'BEGIN { printf "%.0f", n / s }') submits/s" \
             "with wrk's Lua body parsing), not recorded: $not_recorded"
    fi
    echo
    echo "3. zone memory (zone \"mj\" $zone = $zone_bytes bytes)"
    if [ "$capacity" -gt 0 ]; then
        echo "   held $capacity tasks, then refused submits (nothing evictable):" \
             "$(awk -v b="$zone_bytes" -v n="$capacity" 'BEGIN { printf "%.1f", b / n }')" \
             "bytes of zone per task"
    fi
    echo "   at the largest size above: $recorded tasks recorded (counted from" \
         "the submits answered 200 with a task id)"
    echo "   task table alone: 32-byte records, at most 3/4 full = 42.7 bytes a task"
    for what in bare gateway; do
        [ -f "$dir/perf-$what.txt" ] && { echo; cat "$dir/perf-$what.txt"; }
    done
    echo
} | tee "$dir/table.txt"

# the capacity fill logs "is full" by design; anything else is worth a look
if grep -v 'is full and nothing can be evicted' "$dir/logs/front-error.log" \
        "$dir/logs/upstream-error.log" 2>/dev/null | grep -q .; then
    say "error logs, beyond the expected \"is full\" lines (last 5):"
    grep -hv 'is full and nothing can be evicted' "$dir/logs/front-error.log" \
        "$dir/logs/upstream-error.log" | tail -5 >&2
fi
