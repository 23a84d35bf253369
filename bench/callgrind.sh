#!/usr/bin/env bash
# ngx_mj: instructions per request of the front nginx, bare proxy_pass
# against the gateway, counted by valgrind's callgrind (make bench-callgrind).
#
# Counts of instructions do not move with the machine's load, unlike req/s
# and CPU time on a shared 2-core box: a change's effect shows in one run.
#
# Starts, on 127.0.0.1 only and in a mktemp folder (bench/lib.sh):
#   - the upstream of bench/run.sh: plain nginx (not under valgrind) with
#     fixed answers: a ~660-byte task to every fetch (SUCCESS under
#     /mj-relax/), a new 32-hex-digit task id to every submit;
#   - a front nginx under callgrind, "master_process off" (the process that
#     answers is the one counted), with three servers: bare proxy_pass, the
#     gateway, the gateway with every limit on; 10,000 users (poll-users:
#     started again with CG_USERS users).
# For each case a client sends CG_WARMUP requests, the counters are zeroed
# (callgrind_control), it sends CG_REQUESTS requests one after another on
# one keepalive connection, and the counters are dumped.  Prints
# instructions per request (Ir / requests) and the ratio to bare; with
# CG_TOP=N, for each case the top N functions by their own instructions,
# the instructions by object, and the module's functions inclusive.
#
# Knobs (environment):
#   CG_REQUESTS=2000   requests counted per case   CG_WARMUP=200
#   CG_TOP=12          (0: the table only)
#   CG_CASES="poll-bare poll-gw poll-digits poll-limits mix-bare mix-limits
#             submit-bare submit-gw"; also poll-users.  The mix is 20 polls
#             a submit, through the server with every limit on; it runs
#             before the submits, which fill the user's cap on unfinished
#             tasks.
#   CG_USERS=100000    users for poll-users
#   BENCH_KEEP=1       keep the temp folder (configs, logs, callgrind.out.*)
#   NGINX=/usr/sbin/nginx
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

requests=${CG_REQUESTS:-2000}
warmup=${CG_WARMUP:-200}
top=${CG_TOP:-12}
cases=${CG_CASES:-"poll-bare poll-gw poll-digits poll-limits mix-bare mix-limits submit-bare submit-gw"}
nusers=${CG_USERS:-100000}

bench_require valgrind callgrind_control callgrind_annotate python3
bench_setup callgrind
read -r up_port bare_port gw_port lim_port < <(free_ports 4)

write_upstream_conf "$up_port" 1
start_nginx upstream "$dir/conf/upstream.conf" "$up_port"

# the front's config, with USERS users; "master_process off": the process
# that answers is the one callgrind counts
front_config() {
    write_users "$1"
    cat <<CONF
master_process off;
$(front_conf "$up_port")
    mj_zone zone=mj:64m state=off users=10000;

    server {
        listen 127.0.0.1:$bare_port;
        location / {
            $proxy
        }
    }

    server {
        listen 127.0.0.1:$gw_port;
        location / {
            mj_gateway zone=mj;
            $proxy
        }
    }

    server {
        listen 127.0.0.1:$lim_port;
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
}

# the client: N requests on one keepalive connection (bench/client.py)
client() { python3 "$bench/client.py" "$@" "$key"; }

# start_front NAME USERS: the front under callgrind
start_front() {
    front_config "$2" > "$dir/conf/front-$1.conf"
    start_nginx "front-$1" "$dir/conf/front-$1.conf" "$gw_port" \
        valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out.$1" --dump-instr=no
    front=$started
}

results="$dir/results"
: > "$results"

# measure CASE PORT METHOD PATH
measure() {
    local c=$1 out ir
    client "$2" "$3" "$4" "$warmup" > /dev/null
    callgrind_control -z "$front" > /dev/null
    client "$2" "$3" "$4" "$requests" > /dev/null
    callgrind_control -d "$c" "$front" > /dev/null
    out=$(ls -t "$dir"/callgrind.out.*."$c"* 2>/dev/null | head -1 || true)
    [ -n "$out" ] || out=$(ls -t "$dir"/callgrind.out.* | head -1)
    ir=$(awk '/^(summary|totals):/ { print $2; exit }' "$out")
    printf '%s %s %s\n' "$c" "$ir" "$out" >> "$results"
    say "  $(printf '%-14s %12s Ir  %8.0f Ir/request' "$c" "$ir" \
        "$(awk -v a="$ir" -v n="$requests" 'BEGIN { print a / n }')")"
}

say "ngx_mj callgrind: $requests requests a case (+$warmup warm-up); temp $dir"

start_front main 10000

# the owned tasks: a hex id and the digits id
hex_id=$(client "$gw_port" POST /mj/submit/imagine 1 \
         | sed -n 's/.*"result":"\([A-Za-z0-9_-]*\)".*/\1/p')
[ -n "$hex_id" ] || { say "a submit through the gateway failed"; exit 1; }
client "$gw_port" POST /mj-fast/mj/submit/imagine 1 > /dev/null

for c in $cases; do
    case $c in
    poll-bare)     measure "$c" "$bare_port" GET "/mj/task/$hex_id/fetch" ;;
    poll-gw)       measure "$c" "$gw_port" GET "/mj/task/$hex_id/fetch" ;;
    poll-digits)   measure "$c" "$gw_port" GET "/mj/task/$numeric_id/fetch" ;;
    poll-limits)   measure "$c" "$lim_port" GET "/mj/task/$numeric_id/fetch" ;;
    submit-bare)   measure "$c" "$bare_port" POST /mj/submit/imagine ;;
    submit-gw)     measure "$c" "$gw_port" POST /mj/submit/imagine ;;
    mix-bare)      measure "$c" "$bare_port" MIX - ;;
    mix-limits)    measure "$c" "$lim_port" MIX - ;;
    esac
done

if [[ " $cases " == *" poll-users "* ]]; then
    stop_nginx "$front"
    start_front many "$nusers"
    hex_id=$(client "$gw_port" POST /mj/submit/imagine 1 \
             | sed -n 's/.*"result":"\([A-Za-z0-9_-]*\)".*/\1/p')
    measure poll-users "$gw_port" GET "/mj/task/$hex_id/fetch"
fi

stop_nginx "$front"

# --- the table ---------------------------------------------------------------

per() { awk -v c="$1" -v n="$requests" '$1 == c { printf "%.0f", $2 / n }' "$results"; }
bare_of() { case $1 in poll-*) per poll-bare ;; submit-*) per submit-bare ;;
                       mix-*) per mix-bare ;; esac; }

{
    echo
    echo "ngx_mj callgrind  $(date -u '+%Y-%m-%d %H:%M UTC')  $(git -C "$root" describe --always --dirty 2>/dev/null || echo '?')"
    echo "front nginx $("$nginx" -v 2>&1 | sed 's/.*nginx\///'), master_process off, under callgrind;" \
         "$requests requests a case, one keepalive connection"
    echo
    printf '   %-14s %10s %8s %9s\n' case "Ir/req" "x bare" "+Ir/req"
    while read -r c ir out; do
        b=$(bare_of "$c")
        p=$(per "$c")
        printf '   %-14s %10s %8s %9s\n' "$c" "$p" \
            "$(awk -v a="$p" -v b="${b:-0}" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }')" \
            "$(awk -v a="$p" -v b="${b:-0}" 'BEGIN { if (b > 0) printf "%+d", a - b; else print "-" }')"
    done < "$results"
    if [ "$top" -gt 0 ]; then
        while read -r c ir out; do
            echo
            echo "   $c: top functions by their own instructions (Ir per request)"
            callgrind_annotate --inclusive=no --auto=no --threshold=100 "$out" 2>/dev/null \
                | awk -v n="$requests" -v top="$top" '
                    /file:function/ { on = 1; next }
                    # what is on the stack when the counters are zeroed
                    # and dumped shows whole: main and below
                    on && /^ *[0-9,]+ \( *[0-9.]+%\)/ && shown < top {
                        ir = $1; gsub(",", "", ir)
                        pct = $0; sub(/^[^(]*\( */, "", pct); pct += 0
                        if (pct >= 99) next
                        fn = $0; sub(/^ *[0-9,]+ +\([ 0-9.%]+\) +/, "", fn)
                        sub(/^[^:]*\/ngx_mj_module\//, "", fn)
                        sub(/^\?\?\?:/, "", fn)
                        printf "   %9.1f  %s\n", ir / n, fn; shown++ }'
        done < "$results"
        while read -r c ir out; do
            echo
            echo "   $c: own instructions by object (Ir per request)"
            callgrind_annotate --inclusive=no --auto=no --threshold=100 "$out" 2>/dev/null \
                | awk -v n="$requests" '
                    /file:function/ { on = 1; next }
                    on && /^ *[0-9,]+ \( *[0-9.]+%\)/ {
                        ir = $1; gsub(",", "", ir)
                        pct = $0; sub(/^[^(]*\( */, "", pct); pct += 0
                        if (pct >= 99) next
                        obj = $NF; gsub(/[][]/, "", obj); sub(/.*\//, "", obj)
                        # lines of inlined code name no object
                        if ($0 !~ /\[/) obj = "(inlined)"
                        sum[obj] += ir }
                    END { for (o in sum) printf "   %9.1f  %s\n", sum[o] / n, o }' \
                | sort -rn | head -8
            case $c in *-bare) continue ;; esac
            echo "   $c: the module's functions, inclusive (Ir per request)"
            callgrind_annotate --inclusive=yes --auto=no --threshold=100 "$out" 2>/dev/null \
                | awk -v n="$requests" -v top="$top" '
                    /file:function/ { on = 1; next }
                    on && /ngx_http_mj_|mj_answer|mj_body|yajl_|EVP_/ && shown < 2 * top {
                        ir = $1; gsub(",", "", ir)
                        fn = $0; sub(/^ *[0-9,]+ +\([ 0-9.%]+\) +/, "", fn)
                        sub(/^[^:]*\/ngx_mj_module\//, "", fn)
                        sub(/^\?\?\?:/, "", fn); sub(/ \[.*/, "", fn)
                        # a function inlined elsewhere shows twice
                        name = fn; sub(/.*:/, "", name)
                        if (seen[name]++) next
                        printf "   %9.1f  %s\n", ir / n, fn; shown++ }'
        done < "$results"
    fi
    echo
} | tee "$dir/table.txt"
