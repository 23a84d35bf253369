#!/usr/bin/env bash
# ngx_mj bench of the store shared through Redis (make bench-redis): the
# gateway with "mj_zone ... redis=" against bare proxy_pass, in one run.
#
# Starts, on 127.0.0.1 only and in a mktemp folder (bench/lib.sh): a redis-server (no
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

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

redis_server=${REDIS_SERVER:-/usr/bin/redis-server}
dur=${BENCH_DURATION:-5s}
warm=${BENCH_WARMUP:-1s}
rounds=${BENCH_ROUNDS:-3}
conns=${BENCH_CONNECTIONS:-32}
# the submits measured make a task each: zones with room for all of them
zone=${BENCH_ZONE:-256m}

bench_require wrk curl python3
for t in "$redis_server" redis-cli; do
    command -v "$t" >/dev/null \
        || { say "$t is missing: apt-get install redis-server redis-tools"; exit 1; }
done

bench_setup redis
read -r up_port redis_port a_port bare_port local_port gw_port lim_port \
    cl_port st_port < <(free_ports 9)

rcli() { redis-cli -p "$redis_port" "$@"; }

"$redis_server" --port "$redis_port" --bind 127.0.0.1 --dir "$dir/tmp" \
    --save "" --appendonly no --daemonize no > "$dir/logs/redis.log" 2>&1 &
pids+=("$!")
for _ in $(seq 100); do
    [ "$(rcli ping 2>/dev/null)" = PONG ] && break
    sleep 0.05
done

write_upstream_conf "$up_port" 1
# 10,000 users, as bench/run.sh
write_users 10000

# front NAME ZONES SERVERS: a front node's config, $dir/conf/NAME.conf
front() {
    cat > "$dir/conf/$1.conf" <<CONF
$(front_conf "$up_port" "$1")
    $2
$3
}
CONF
}

redis="redis=127.0.0.1:$redis_port redis_timeout=1s"

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
worker=$(front_worker "$started")

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
if [ -z "$task" ] || [ -z "$local_task" ]; then say "a submit failed"; exit 1; fi
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

results="$dir/results"
: > "$results" "$dir/trips"

# rtrun GROUP LABEL ROUND ZONE URL [SCRIPT]: a run (bench/lib.sh), and the
# Redis round trips a request it made, a line in $dir/trips
rtrun() {
    trips_zone=$4
    run_hook=trips_hook run "$1" "$2" "$3" "$5" "${6:-}"
    awk -v d="$((trips_end - trips_start))" -v n="$(tail -1 "$results" | cut -d' ' -f10)" \
        -v g="$1" -v l="$2" 'BEGIN { if (n > 0) printf "%s %s %.3f\n", g, l, d / n }' \
        >> "$dir/trips"
}
trips_hook() {
    if [ "$1" = start ]; then
        trips_start=$(replies "$trips_zone")
    else
        trips_end=$(replies "$trips_zone")
    fi
}
# trips GROUP LABEL: round trips a request, the median over the rounds
trips() { awk -v g="$1" -v l="$2" '$1 == g && $2 == l { print $3 }' "$dir/trips" | median 3; }

load0=$(cut -d' ' -f1-3 /proc/loadavg)
say "ngx_mj Redis bench: wrk -t1 -c$conns, $dur runs (+$warm warm-up), $(nproc) cores; temp $dir"

say "1. polls on B of a task made on A"
for r in $(seq "$rounds"); do
    order="bare local redis cluster"
    [ $((r % 2)) = 0 ] && order="cluster redis local bare"
    for w in $order; do
        case $w in
        bare)    run poll bare "$r" "$(url "$bare_port")/mj/task/$task/fetch" ;;
        local)   run poll gateway "$r" "$(url "$local_port")/mj/task/$local_task/fetch" ;;
        redis)   rtrun poll gateway-redis "$r" mj "$(url "$gw_port")/mj/task/$task/fetch" ;;
        cluster) rtrun poll redis-cluster "$r" mjc "$(url "$cl_port")/mj/task/$task/fetch" ;;
        esac
    done
done

say "2. submits, a new task each"
for r in $(seq "$rounds"); do
    order="bare local redis limits"
    [ $((r % 2)) = 0 ] && order="limits redis local bare"
    for w in $order; do
        case $w in
        bare)   run submit bare "$r" "$(url "$bare_port")/mj/submit/imagine" "$bench/submit.lua" ;;
        local)  run submit gateway "$r" "$(url "$local_port")/mj/submit/imagine" \
                    "$bench/submit.lua" ;;
        redis)  rtrun submit gateway-redis "$r" mj "$(url "$gw_port")/mj/submit/imagine" \
                    "$bench/submit.lua" ;;
        limits) rtrun submit redis-limits "$r" mj "$(url "$lim_port")/mj/submit/imagine" \
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
    echo "ngx_mj Redis bench  $(date -u '+%Y-%m-%d %H:%M UTC')  $(machine)"
    echo "redis $("$redis_server" --version | sed -n 's/.*v=\([0-9.]*\).*/\1/p'); node B: 1 worker; fixed-answer upstream"
    echo "wrk -t1 -c$conns -d$dur, medians of $rounds rounds, the paths alternating;"
    echo "x bare: the median of the rounds' gateway / bare; latency in microseconds"
    echo "load average at start: $load0; at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    for g in poll submit; do
        echo
        if [ "$g" = poll ]; then
            echo "1. GET /mj/task/{id}/fetch on node B of a task made on node A"
        else
            echo "2. POST /mj/submit/imagine, a new task each"
        fi
        printf '   %-15s %8s %7s %8s %7s %7s %7s %9s %7s\n' path "req/s" "x bare" \
            "cpu/req" "x bare" p50 p99 "trips/req" errors
        for l in bare gateway gateway-redis redis-cluster redis-limits; do
            [ "$(col "$g" "$l" 4)" = 0 ] && continue
            printf '   %-15s %8s %7s %8s %7s %7s %7s %9s %7s\n' "$l" "$(col "$g" "$l" 4)" \
                "$(per_round "$g" "$l" bare 4 | median 3)" "$(col "$g" "$l" 9 1)" \
                "$(per_round "$g" "$l" bare 9 | median 3)" "$(col "$g" "$l" 6)" \
                "$(col "$g" "$l" 7)" "$(trips "$g" "$l")" "$(sum "$g" "$l" 8)"
        done
        echo "   per round, x bare, req/s | cpu/req:"
        for l in gateway gateway-redis redis-cluster redis-limits; do
            [ "$(col "$g" "$l" 4)" = 0 ] && continue
            printf '   %-15s%s |%s\n' "$l" \
                "$(per_round "$g" "$l" bare 4 | awk '{ printf " %.2f", $1 }')" \
                "$(per_round "$g" "$l" bare 9 | awk '{ printf " %.2f", $1 }')"
        done
    done
    echo
    echo "   gateway: no redis=; gateway-redis: redis=, the poll rate per node;"
    echo "   redis-cluster: redis_poll_limit=cluster with mj_limit_poll;"
    echo "   redis-limits: mj_limit_submit and mj_quota, checked in Redis"
    echo "   cpu/req: node B's worker, us of CPU a request; trips/req: Redis round"
    echo "   trips a request (mj_status replies / requests); errors: non-2xx and"
    echo "   socket errors, all rounds"
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
