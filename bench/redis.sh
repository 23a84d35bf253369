#!/usr/bin/env bash
# ngx_mj bench of the store shared through Redis (make bench-redis): the
# gateway with "mj_zone ... redis=" against bare proxy_pass, in one run.
#
# Starts, on 127.0.0.1 only and in a mktemp folder: a redis-server (no
# persistence), the fixed-answer upstream of bench/run.sh, and two front
# nginx nodes of one worker each sharing that Redis:
#   node A  the gateway (zone "mj", redis=): it makes the task polled;
#   node B  (a) bare proxy_pass, (b) the gateway without Redis (zone
#           "local"), (c) the gateway with Redis (zone "mj", the poll rate
#           node-local), (d) the same with limits a submit checks in Redis
#           (mj_limit_submit, mj_quota: high enough never to refuse), (e)
#           a zone with redis_poll_limit=cluster and mj_limit_poll.
# Then, with wrk -t1 -c32, in alternating rounds:
#   1. polls on B of one task made on A, after B's first poll of it;
#   2. submits (POST /mj/submit/imagine, a new task each);
# with the Redis round trips each request made (from mj_status), and the
# bytes a task takes in Redis (MEMORY USAGE).  Prints a table; nothing is
# pass/fail.  Knobs (environment): BENCH_DURATION=5s BENCH_WARMUP=1s
# BENCH_ROUNDS=3 BENCH_CONNECTIONS=32 BENCH_ZONE=256m (node B's zones: a
# full one refuses submits, and the errors column shows it) BENCH_KEEP=1
# NGINX=/usr/sbin/nginx REDIS_SERVER=/usr/bin/redis-server
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bench="$root/bench"
nginx=${NGINX:-/usr/sbin/nginx}
module="$root/build/ngx_http_mj_module.so"
redis_server=${REDIS_SERVER:-/usr/bin/redis-server}

dur=${BENCH_DURATION:-5s}
warm=${BENCH_WARMUP:-1s}
rounds=${BENCH_ROUNDS:-3}
conns=${BENCH_CONNECTIONS:-32}
up_workers=1
key="mj-bench-user-key-0123456789"
numeric_id="1712345678901234"

. "$bench/lib-redis.sh"

for t in "$redis_server" redis-cli; do
    command -v "$t" >/dev/null \
        || { say "$t is missing: apt-get install redis-server redis-tools"; exit 1; }
done

bench_setup
read -r up_port redis_port a_port bare_port local_port gw_port lim_port \
    cl_port st_port < <(free_ports 9)

rcli() { redis-cli -p "$redis_port" "$@"; }

"$redis_server" --port "$redis_port" --bind 127.0.0.1 --dir "$dir/tmp" \
    --save "" --appendonly no --daemonize no > "$dir/logs/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    [ "$(rcli ping 2>/dev/null)" = PONG ] && break
    sleep 0.05
done

write_upstream_conf
write_users

proxy='proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";'

# front NAME ZONES SERVERS: a front node's config
front() {
    cat > "$dir/conf/$1.conf" <<CONF
load_module $module;
worker_processes 1;
error_log $dir/logs/$1-error.log warn;
pid $dir/logs/$1.pid;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 10000000;
    client_body_temp_path $dir/tmp/$1-body;
    proxy_temp_path $dir/tmp/$1-proxy;
    fastcgi_temp_path $dir/tmp/$1-fastcgi;
    uwsgi_temp_path $dir/tmp/$1-uwsgi;
    scgi_temp_path $dir/tmp/$1-scgi;

    mj_users $dir/conf/users;
    mj_upstream_keys $dir/conf/upstream-keys;
    $2

    upstream backend {
        server 127.0.0.1:$up_port;
        keepalive 64;
        keepalive_requests 10000000;
    }
$3
}
CONF
}

redis="redis=127.0.0.1:$redis_port redis_timeout=1s"

# the submits measured make a task each: zones with room for all of them
zone=${BENCH_ZONE:-256m}

front nodeA "mj_zone zone=mj:16m state=off users=10000 $redis;" "
    server {
        listen 127.0.0.1:$a_port backlog=4096;
        location / { mj_gateway zone=mj; $proxy }
    }"

front nodeB "mj_zone zone=mj:$zone state=off users=10000 $redis;
    mj_zone zone=local:$zone state=off users=10000;
    mj_zone zone=mjc:16m state=off users=10000 $redis redis_poll_limit=cluster;" "
    server {                            # (a) bare proxy_pass
        listen 127.0.0.1:$bare_port backlog=4096;
        location / { $proxy }
    }
    server {                            # (b) the gateway, no Redis
        listen 127.0.0.1:$local_port backlog=4096;
        location / { mj_gateway zone=local; $proxy }
    }
    server {                            # (c) the gateway with Redis
        listen 127.0.0.1:$gw_port backlog=4096;
        location / { mj_gateway zone=mj; $proxy }
    }
    server {                            # (d) ... and limits kept in Redis
        listen 127.0.0.1:$lim_port backlog=4096;
        location / {
            mj_gateway zone=mj;
            mj_limit_submit rate=100000r/s burst=100000;
            mj_quota 100000000;
            $proxy
        }
    }
    server {                            # (e) the poll rate cluster-wide
        listen 127.0.0.1:$cl_port backlog=4096;
        location / {
            mj_gateway zone=mjc;
            mj_limit_poll rate=1000000r/s burst=1000000;
            $proxy
        }
    }
    server {
        listen 127.0.0.1:$st_port;
        location = /mj { mj_status zone=mj; }
        location = /mjc { mj_status zone=mjc; }
    }"

start_nginx upstream "$dir/conf/upstream.conf" "$up_port"
start_nginx nodeA "$dir/conf/nodeA.conf" "$a_port"
start_nginx nodeB "$dir/conf/nodeB.conf" "$bare_port"
front_worker "${pids[-1]}"

# --- the task polled, and a sanity check ---------------------------------------

auth="Authorization: Bearer $key"
url() { printf 'http://127.0.0.1:%s' "$1"; }

submit_to() {
    curl -sS -H "$auth" -H 'Content-Type: application/json' \
        -d '{"prompt":"a lighthouse at dusk"}' "$(url "$1")/mj/submit/imagine" \
        | sed -n 's/.*"result":"\([A-Za-z0-9_-]*\)".*/\1/p'
}
code() { curl -s -o /dev/null -w '%{http_code}' -H "$auth" "$1"; }

task=$(submit_to "$a_port")
local_task=$(submit_to "$local_port")
[ -n "$task" ] && [ -n "$local_task" ] || { say "a submit failed"; exit 1; }
for u in "$(url "$gw_port")/mj/task/$task/fetch" "$(url "$cl_port")/mj/task/$task/fetch" \
         "$(url "$local_port")/mj/task/$local_task/fetch" "$(url "$bare_port")/mj/task/$task/fetch"; do
    c=$(code "$u")
    [ "$c" = 200 ] || { say "expected 200 from $u, got $c"; exit 1; }
done

# replies ZONE: the round trips the zone's Redis answered so far
replies() {
    curl -s "$(url "$st_port")/$1" \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["zones"][0]["redis"]["replies"])'
}

# rtrun LABEL GROUP ZONE URL [SCRIPT]: a run, and its round trips a request
rtrun() {
    trips_zone=$3
    run_hook=trips_hook run "$1" "$2" "$4" "${5:-}"
    awk -v d="$((trips_end - trips_start))" -v n="$last_requests" -v l="$1" \
        -v g="$2" 'BEGIN { if (n > 0) printf "%s %s %.3f\n", g, l, d / n }' \
        >> "$dir/trips"
}
trips_hook() { eval "trips_$1=\$(replies \"\$trips_zone\")"; }
: > "$dir/trips"
trips() { awk -v g="$1" -v l="$2" '$1 == g && $2 == l { print $3 }' "$dir/trips" | tail -1; }

load0=$(cut -d' ' -f1-3 /proc/loadavg)
say "ngx_mj Redis bench: wrk -t1 -c$conns, $dur runs (+$warm warm-up), $(nproc) cores; temp $dir"

say "1. polls on B of a task made on A"
for r in $(seq "$rounds"); do
    order="bare local redis cluster"
    [ $((r % 2)) = 0 ] && order="cluster redis local bare"
    for w in $order; do
        case $w in
        bare)    run bare poll "$(url "$bare_port")/mj/task/$task/fetch" ;;
        local)   run gateway poll "$(url "$local_port")/mj/task/$local_task/fetch" ;;
        redis)   rtrun gateway-redis poll mj "$(url "$gw_port")/mj/task/$task/fetch" ;;
        cluster) rtrun redis-cluster poll mjc "$(url "$cl_port")/mj/task/$task/fetch" ;;
        esac
    done
done

say "2. submits, a new task each"
for r in $(seq "$rounds"); do
    order="bare local redis limits"
    [ $((r % 2)) = 0 ] && order="limits redis local bare"
    for w in $order; do
        case $w in
        bare)   run bare submit "$(url "$bare_port")/mj/submit/imagine" "$bench/submit.lua" ;;
        local)  run gateway submit "$(url "$local_port")/mj/submit/imagine" "$bench/submit.lua" ;;
        redis)  rtrun gateway-redis submit mj "$(url "$gw_port")/mj/submit/imagine" \
                    "$bench/submit.lua" ;;
        limits) rtrun redis-limits submit mj "$(url "$lim_port")/mj/submit/imagine" \
                    "$bench/submit.lua" ;;
        esac
    done
done

# --- Redis memory ----------------------------------------------------------------

say "3. Redis memory"
tasks=$(rcli --scan --pattern 'mj:*:t:*' | wc -l)
usage=$(rcli --scan --pattern 'mj:*:t:*' | awk 'NR <= 200' \
    | while read -r k; do rcli memory usage "$k"; done \
    | awk '{ s += $1; n++ } END { if (n) printf "%.0f", s / n; else print 0 }')
sample=$(rcli --scan --pattern 'mj:*:t:*' | awk 'NR == 1')
used=$(rcli info memory | awk -F: '/^used_memory:/ { print $2 + 0 }')
keys=$(rcli dbsize)
# Redis's own time a command, as it counts it
cmdstats=$(rcli info commandstats | tr -d '\r' \
    | awk -F'[:,=]' '/^cmdstat_(evalsha|mget)/ { printf "%s %s calls, %s us each; ",
                                                  substr($1, 9), $3, $7 }')

# --- the table -----------------------------------------------------------------------

{
    echo
    echo "ngx_mj Redis bench  $(date -u '+%Y-%m-%d %H:%M UTC')  $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
    echo "nginx $("$nginx" -v 2>&1 | sed 's/.*nginx\///'), redis $("$redis_server" --version | sed -n 's/.*v=\([0-9.]*\).*/\1/p'); node B: 1 worker; fixed-answer upstream"
    echo "wrk -t1 -c$conns -d$dur, medians of $rounds rounds; latency in microseconds"
    echo "load average at start: $load0; at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    for g in poll submit; do
        echo
        if [ "$g" = poll ]; then
            echo "1. GET /mj/task/{id}/fetch on node B of a task made on node A"
        else
            echo "2. POST /mj/submit/imagine, a new task each"
        fi
        printf '   %-15s %8s %7s %7s %7s %7s %8s %9s %7s\n' path "req/s" avg p50 p99 \
            "x bare" "cpu/req" "trips/req" errors
        b=$(col "$g" bare 3)
        for l in bare gateway gateway-redis redis-cluster redis-limits; do
            rps=$(col "$g" "$l" 3)
            [ "$rps" = 0 ] && continue
            t=$(trips "$g" "$l")
            printf '   %-15s %8s %7s %7s %7s %7s %8s %9s %7s\n' "$l" "$rps" \
                "$(col "$g" "$l" 4)" "$(col "$g" "$l" 5)" "$(col "$g" "$l" 6)" \
                "$(ratio "$rps" "$b")" "$(colf "$g" "$l" 8)" "${t:-0}" "$(errs "$g" "$l")"
        done
    done
    echo
    echo "   gateway: no redis=; gateway-redis: redis=, the poll rate per node;"
    echo "   redis-cluster: redis_poll_limit=cluster with mj_limit_poll;"
    echo "   redis-limits: mj_limit_submit and mj_quota, checked in Redis"
    echo "   trips/req: Redis round trips a request (mj_status replies / requests)"
    echo
    echo "3. Redis: $tasks task records, $keys keys, used_memory $used bytes"
    echo "   MEMORY USAGE of a task record: $usage bytes (mean of up to 200)," \
         "e.g. $sample = \"$(rcli get "$sample")\""
    echo "   used_memory / task records: $(awk -v u="$used" -v n="$tasks" 'BEGIN { if (n) printf "%.0f", u / n }') bytes"
    echo "   Redis's time a command: $cmdstats"
    echo
} | tee "$dir/table.txt"

if grep -q . "$dir"/logs/node*-error.log 2>/dev/null; then
    say "front error logs (last 5 lines):"
    tail -q -n 5 "$dir"/logs/node*-error.log >&2
fi
