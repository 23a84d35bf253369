#!/usr/bin/env bash
# ngx_mj speed bench (make bench): the gateway against bare proxy_pass.
#
# Starts, on 127.0.0.1 only and in a mktemp folder (bench/lib.sh):
#   - an upstream: plain nginx answering GET .../fetch with a fixed ~600-byte
#     task JSON and POST /mj/submit/imagine with a new task id ($request_id);
#   - a front nginx, one worker, with four servers on the same upstream
#     (keepalive): bare proxy_pass; the gateway (zone "mj"); the gateway on
#     zone "sub", for submits; the gateway with every limit on (zone "mix"),
#     10,000 users in the users file.
# Then, with wrk -t1 -c32:
#   1. bare and gateway in alternating rounds, each run's req/s, p50 and
#      p99 latency and the front worker's CPU time per request, for
#      - polling one owned task (a 32-hex-digit id, which the zone keys by
#        an HMAC, a digits-only id, kept as a number, and the digits id
#        with every limit on);
#      - submits, each a new task, while zone "sub" fills;
#      - a mix of 20 polls per submit with every limit on;
#   2. the zone filled to 10^3 and 10^6 tasks by submits through the
#      gateway, fetch throughput of random owned tasks at each size;
#   3. the zone filled on until it refuses submits: its capacity, and so
#      the zone's bytes per task.
# Prints a table; nothing is pass/fail.  Everything started is stopped at
# exit.  Knobs (environment):
#   BENCH_DURATION=3s      each measured wrk run        BENCH_ROUNDS=5
#   BENCH_SIZE_ROUNDS=2    rounds at each zone size     BENCH_CONNECTIONS=32
#   BENCH_SIZES="1000 1000000"                          BENCH_ZONE=64m
#   BENCH_SUBMIT_ZONE=128m the zone part 1's submits fill
#   BENCH_CAPACITY=1       fill the zone to capacity    BENCH_WARMUP=1s
#   BENCH_PERF=1           profile the front worker (perf) in bare and
#                          gateway polls and submits, print the top symbols
#   BENCH_KEEP=1           keep the temp folder (configs, logs, ids)
#   NGINX=/usr/sbin/nginx  BENCH_UPSTREAM_WORKERS=1
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

dur=${BENCH_DURATION:-3s}
warm=${BENCH_WARMUP:-1s}
rounds=${BENCH_ROUNDS:-5}
size_rounds=${BENCH_SIZE_ROUNDS:-2}
conns=${BENCH_CONNECTIONS:-32}
sizes=${BENCH_SIZES:-"1000 1000000"}
zone=${BENCH_ZONE:-64m}
sub_zone=${BENCH_SUBMIT_ZONE:-128m}
up_workers=${BENCH_UPSTREAM_WORKERS:-1}

bench_require wrk curl python3
bench_setup bench
read -r up_port bare_port gw_port sub_port lim_port < <(free_ports 5)

# --- configs ----------------------------------------------------------------

write_upstream_conf "$up_port" "$up_workers"
# 10,000 users, the size the limits issue asks about
write_users 10000

cat > "$dir/conf/front.conf" <<CONF
$(front_conf "$up_port")

    mj_zone zone=mj:$zone state=off users=10000;
    mj_zone zone=sub:$sub_zone state=off users=10000;
    mj_zone zone=mix:32m state=off users=10000;

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

    server {                            # (c) the gateway, for submits
        listen 127.0.0.1:$sub_port backlog=4096;
        location / {
            mj_gateway zone=sub;
            $proxy
        }
    }

    server {                            # (d) the gateway with every limit on
        listen 127.0.0.1:$lim_port backlog=4096;
        location / {
            mj_gateway zone=mix;
            mj_limit_submit rate=100000r/s burst=100000;
            mj_limit_poll rate=1000000r/s burst=1000000;
            # a wrk run that stops leaves a task or two never polled:
            # counted for 2 s only, or ten runs fill the cap of 16
            mj_limit_tasks 16 age=2s;
            mj_quota 100000000;
            mj_limit_auth rate=10r/s burst=100;
            $proxy
        }
    }
}
CONF

start_nginx upstream "$dir/conf/upstream.conf" "$up_port"
start_nginx front "$dir/conf/front.conf" "$gw_port"
worker=$(front_worker "$started")

# --- the owned tasks, and a sanity check -----------------------------------

auth="Authorization: Bearer $key"
bare="http://127.0.0.1:$bare_port"
gw="http://127.0.0.1:$gw_port"
sub="http://127.0.0.1:$sub_port"
lim="http://127.0.0.1:$lim_port"

# submit URL: the task id the answer gives
submit() {
    local ans id
    ans=$(curl -sS -H "$auth" -H 'Content-Type: application/json' \
          -d '{"prompt":"a lighthouse at dusk"}' "$1")
    id=$(printf '%s' "$ans" | sed -n 's/.*"result":"\([A-Za-z0-9_-]*\)".*/\1/p')
    [ -n "$id" ] || { say "submit to $1 failed: $ans"; exit 1; }
    printf '%s\n' "$id"
}
hex_id=$(submit "$gw/mj/submit/imagine")
for u in "$gw" "$lim"; do
    id=$(submit "$u/mj-fast/mj/submit/imagine")
    [ "$id" = "$numeric_id" ] || { say "numeric submit to $u gave $id"; exit 1; }
done
mix_seed=$(submit "$lim/mj-relax/mj/submit/imagine")
submit "$sub/mj/submit/imagine" > /dev/null
submit "$bare/mj/submit/imagine" > /dev/null

code() { curl -s -o /dev/null -w '%{http_code}' -H "$auth" "$1"; }
for u in "$gw/mj/task/$hex_id/fetch" "$gw/mj/task/$numeric_id/fetch" \
         "$lim/mj/task/$numeric_id/fetch" "$lim/mj-relax/mj/task/$mix_seed/fetch" \
         "$bare/mj/task/$hex_id/fetch"; do
    c=$(code "$u")
    [ "$c" = 200 ] || { say "expected 200 from $u, got $c"; exit 1; }
done
c=$(code "$gw/mj/task/0123456789abcdef0123456789abcdef/fetch")
[ "$c" = 404 ] || { say "an unowned task gave $c, not 404"; exit 1; }

# --- wrk runs ------------------------------------------------------------------

export BENCH_KEY=$key MIX_SEED=$mix_seed
results="$dir/results"
: > "$results"

load0=$(cut -d' ' -f1-3 /proc/loadavg)
say "ngx_mj bench: wrk -t1 -c$conns, $dur runs (+$warm warm-up), $(nproc) cores; temp $dir"
say "1. bare and gateway, $rounds alternating rounds: polls, submits, the mix"

# group label url script: one line each; odd rounds run them in this
# order, even rounds backwards.  Each gateway run is next to, or one away
# from, the bare run it is compared with, and the figures are the medians
# of the ratios in each round: load that drifts over minutes cancels out
plan=(
    "poll gateway-hex $gw/mj/task/$hex_id/fetch -"
    "poll bare $bare/mj/task/$hex_id/fetch -"
    "poll gateway-digits $gw/mj/task/$numeric_id/fetch -"
    "poll gateway-limits $lim/mj/task/$numeric_id/fetch -"
    "submit bare $bare/mj/submit/imagine $bench/submit.lua"
    "submit gateway $sub/mj/submit/imagine $bench/submit.lua"
    "mix bare $bare/ $bench/mix.lua"
    "mix gateway-limits $lim/ $bench/mix.lua"
)
for r in $(seq "$rounds"); do
    order=$(seq 0 $((${#plan[@]} - 1)))
    [ $((r % 2)) = 0 ] && order=$(tac <<<"$order")
    for i in $order; do
        read -r g l u s <<<"${plan[$i]}"
        [ "$s" = - ] && s=""
        run "$g" "$l" "$r" "$u" "$s"
    done
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
            FETCH_IDS=$ids run "$g" bare "$r" "$bare/" "$bench/fetch-random.lua"
            FETCH_IDS=$ids run "$g" gateway-random "$r" "$gw/" "$bench/fetch-random.lua"
        else
            FETCH_IDS=$ids run "$g" gateway-random "$r" "$gw/" "$bench/fetch-random.lua"
            FETCH_IDS=$ids run "$g" bare "$r" "$bare/" "$bench/fetch-random.lua"
        fi
    done
    run "$g" gateway-hex 1 "$gw/mj/task/$hex_id/fetch"
done

# --- capacity ------------------------------------------------------------------------

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
        for what in "poll bare $bare/mj/task/$hex_id/fetch" \
                    "poll gateway $gw/mj/task/$hex_id/fetch" \
                    "submit bare $bare/mj/submit/imagine" \
                    "submit gateway $sub/mj/submit/imagine"; do
            read -r kind path url <<<"$what"
            script=()
            [ "$kind" = submit ] && script=(-s "$bench/submit.lua")
            say "profiling the front worker ($worker), $path $kind"
            f="$dir/perf-$kind-$path"
            # Debian builds without frame pointers: unwind with DWARF
            perf record -q --call-graph dwarf,16384 -F 999 -o "$f.data" \
                -p "$worker" -- sleep 3 > "$f.log" 2>&1 &
            perf_pid=$!
            pids+=("$perf_pid")
            wrk -t1 "-c$conns" -d4s -H "$auth" "${script[@]}" "$url" > /dev/null
            wait "$perf_pid" || true
            {
                echo "perf, front worker, $path: $kind"
                echo "  self time by object:"
                perf report -i "$f.data" --no-children -g none \
                    --sort dso --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -8 || true
                if [ "$path" = gateway ]; then
                    echo "  the module's functions and the library calls under them"
                    echo "  (inclusive: % of the worker's time spent in it and its callees):"
                    perf report -i "$f.data" --children -g none \
                        --sort symbol --stdio 2>/dev/null | grep -E '^ +[0-9]' \
                        | grep -E 'ngx_http_mj_|mj_body_|HMAC|EVP_Q_|EVP_MD_fetch|EVP_MAC_fetch|SHA256 |yajl_(alloc|free|parse)' \
                        | awk '$1 + 0 >= 0.3 && !seen[$4]++ { printf "    %7s  %s\n", $1, $4 }' \
                        | head -20 || true
                fi
            } > "$f.txt"
        done
    fi
fi

# --- the table -----------------------------------------------------------------------------

# row NAME GROUP LABEL: one workload, gateway LABEL against bare; "x bare"
# is the median of the rounds' ratios
row() {
    local g=$2 l=$3
    printf '   %-18s %7s %8s %7s %8s %8s %7s %6s %6s %7s %6s %6s\n' "$1" \
        "$(col "$g" bare 4)" "$(col "$g" "$l" 4)" "$(per_round "$g" "$l" bare 4 | median 3)" \
        "$(col "$g" bare 9 1)" "$(col "$g" "$l" 9 1)" "$(per_round "$g" "$l" bare 9 | median 3)" \
        "$(col "$g" bare 6)" "$(col "$g" "$l" 6)" "$(col "$g" bare 7)" "$(col "$g" "$l" 7)" \
        "$(( $(sum "$g" bare 8) + $(sum "$g" "$l" 8) ))"
}

rows=(
    "poll,_hex_id poll gateway-hex"
    "poll,_digits_id poll gateway-digits"
    "poll,_limits_on poll gateway-limits"
    "submit submit gateway"
    "mix_20:1,_limits mix gateway-limits"
)

{
    echo
    echo "ngx_mj bench  $(date -u '+%Y-%m-%d %H:%M UTC')  $(machine)"
    echo "front: 1 worker; upstream: nginx, $up_workers worker(s), fixed ${#task_json}-byte task JSON"
    echo "wrk -t1 -c$conns -d$dur, medians of $rounds rounds, bare and gateway alternating"
    echo "load average at start: $load0; at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    echo "1. the gateway against bare proxy_pass (x bare: gateway / bare, the median"
    echo "   of the rounds' ratios; req/s, CPU, p50, p99: medians of the rounds)"
    printf '   %-18s %24s %25s %13s %14s\n' "" "req/s" "worker CPU us/req" "p50 us" "p99 us"
    printf '   %-18s %7s %8s %7s %8s %8s %7s %6s %6s %7s %6s %6s\n' workload bare gateway \
        "x bare" bare gateway "x bare" bare gw bare gw errors
    for x in "${rows[@]}"; do
        read -r name g l <<<"$x"
        row "${name//_/ }" "$g" "$l"
    done
    echo "   per round, x bare, req/s | worker CPU:"
    for x in "${rows[@]}"; do
        read -r name g l <<<"$x"
        printf '   %-18s%s |%s\n' "${name//_/ }" \
            "$(per_round "$g" "$l" bare 4 | awk '{ printf " %.2f", $1 }')" \
            "$(per_round "$g" "$l" bare 9 | awk '{ printf " %.2f", $1 }')"
    done
    echo "   poll: GET /mj/task/{id}/fetch of one owned task; limits on: every limit, 10,000 users"
    echo "   submit: POST /mj/submit/imagine, a new task each; the gateway recorded" \
         "$(sum submit gateway 10) tasks into zone \"sub\" ($sub_zone) in the measured runs"
    echo "   mix: 20 polls of the tasks just submitted per submit, every limit on, 10,000 users"
    echo "   errors: non-2xx answers and socket errors, bare + gateway, all rounds"
    echo "   issue 12's goals: poll CPU <= 1.05 x bare and req/s >= 0.95 x bare;"
    echo "   submit CPU <= 1.11 x and req/s >= 0.90 x; the mix req/s >= 0.93 x"
    echo
    echo "2. ownership check by tasks in the zone (zone $zone): each request fetches"
    echo "   a random one of the recorded tasks (wrk builds it in Lua, for bare too);"
    echo "   'same' polls one task with plain wrk; cpu: front-worker us per request"
    printf '   %-9s %8s %8s %7s %7s %9s %9s %9s %7s\n' tasks "bare" "gateway" "x bare" \
        "gw p99" "bare cpu" "gw cpu" "same cpu" errors
    for n in $(tr ' ' '\n' <<<"$sizes" | sort -n); do
        g="size-$n"
        rec=$(awk -v g="$g" '$1 == g { print $3 }' "$dir/sizes")
        b=$(col "$g" bare 4); gr=$(col "$g" gateway-random 4)
        e=$(( $(sum "$g" bare 8) + $(sum "$g" gateway-random 8) + $(sum "$g" gateway-hex 8) ))
        printf '   %-9s %8s %8s %7s %7s %9s %9s %9s %7s\n' "$rec" "$b" "$gr" \
            "$(ratio "$gr" "$b")" "$(col "$g" gateway-random 7)" "$(col "$g" bare 9 1)" \
            "$(col "$g" gateway-random 9 1)" "$(col "$g" gateway-hex 9 1)" "$e"
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
    for f in "$dir"/perf-*.txt; do
        [ -f "$f" ] && { echo; cat "$f"; }
    done
    echo
} | tee "$dir/table.txt"

# the capacity fill logs "is full" by design
show_errors "$dir/logs/front-error.log" "$dir/logs/upstream-error.log"
