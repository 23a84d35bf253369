# ngx_mj bench: what the bench scripts (run.sh, bodies.sh, callgrind.sh,
# journal.sh, redis.sh) share.  Sourced, not run.  Sets $root, $bench,
# $nginx, $module, $key; bench_setup makes the temp folder $dir and stops,
# at exit, every process in $pids.
# shellcheck shell=bash disable=SC2034,SC2016,SC2154

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench="$root/bench"
nginx=${NGINX:-/usr/sbin/nginx}
module="$root/build/ngx_http_mj_module.so"
key="mj-bench-user-key-0123456789"
numeric_id="1712345678901234"

say() { printf '%s\n' "$*" >&2; }

# --- prerequisites -----------------------------------------------------------

# bench_require TOOL...: wrk is installed when missing and run as root; the
# module is built when missing
bench_require() {
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null && continue
        if [ "$t" = wrk ] && [ "$(id -u)" -eq 0 ]; then
            say "installing wrk"
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null \
                || { apt-get update -q >/dev/null \
                     && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null; }
        elif [ "$t" = wrk ]; then
            say "wrk is missing: apt-get install wrk (as root)"; exit 1
        else
            say "$t is missing"; exit 1
        fi
    done
    if [ ! -f "$module" ]; then
        say "building the module"
        make -C "$root" >/dev/null
    fi
}

# --- temp folder, cleanup, ports ------------------------------------------------

pids=()

bench_cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        say "kept $dir"
    else
        rm -rf "$dir"
    fi
}

# bench_setup NAME: $dir, a mktemp folder under /tmp with conf/ logs/ tmp/
bench_setup() {
    dir=$(mktemp -d "/tmp/ngx_mj-$1.XXXXXX")
    chmod 755 "$dir"
    mkdir -p "$dir/conf" "$dir/logs" "$dir/tmp"
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

# free_ports N: N free loopback ports on one line
free_ports() {
    python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

# --- configs ----------------------------------------------------------------------

# ~600 bytes, shaped like a midjourney-proxy task; "status" comes early, as
# it does there, and the gateway's peek stops at it
task_json='{"id":"1712345678901234","action":"IMAGINE","status":"IN_PROGRESS","prompt":"a lighthouse at dusk, oil on canvas --ar 3:2","promptEn":"a lighthouse at dusk, oil on canvas --ar 3:2","description":"Submit success","state":"","submitTime":1712345678901,"startTime":1712345679432,"finishTime":null,"progress":"42%","imageUrl":"https://cdn.example.com/attachments/1199/1234567890/bench_grid_0.webp","failReason":null,"botType":"MID_JOURNEY","mode":"FAST","properties":{"finalPrompt":"a lighthouse at dusk, oil on canvas --ar 3:2","messageId":"1234567890123456789","nonce":"9876543210987654321","discordInstanceId":"1118138338562560102","notifyHook":null},"buttons":[]}'
# the same task, finished
task_done_json=${task_json/\"IN_PROGRESS\"/\"SUCCESS\"}
task_done_json=${task_done_json/\"42%\"/\"100%\"}

# conf_head NAME WORKERS: an nginx config up to the first lines of http{}:
# logs as $dir/logs/NAME-error.log, temp folders as $dir/tmp/NAME-*, no
# access log, connections kept open
conf_head() {
    local t
    printf 'worker_processes %s;\nerror_log %s/logs/%s-error.log warn;\n' "$2" "$dir" "$1"
    printf 'pid %s/logs/%s.pid;\nevents { worker_connections 4096; }\nhttp {\n' "$dir" "$1"
    printf '    access_log off;\n    keepalive_requests 10000000;\n'
    for t in client_body proxy fastcgi uwsgi scgi; do
        printf '    %s_temp_path %s/tmp/%s-%s;\n' "$t" "$dir" "$1" "$t"
    done
}

# write_upstream_conf PORT WORKERS: $dir/conf/upstream.conf, a plain nginx
# (no module) that reads and drops request bodies up to 80 MB and answers
#   GET  /mj/task/{id}/fetch            the task above, IN_PROGRESS
#   POST /mj/submit/imagine             a new 32-hex-digit task id each time
#   POST /mj-fast/mj/submit/imagine     the fixed all-digits id
#   GET  /mj-relax/mj/task/{id}/fetch   the task above, SUCCESS
#   POST /mj-relax/mj/submit/imagine    a new id, as /mj/submit/imagine
write_upstream_conf() {
    local submit='{"code":1,"description":"Submitted","result":"$request_id"}'
    cat > "$dir/conf/upstream.conf" <<CONF
$(conf_head upstream "$2")
    client_max_body_size 80m;
    default_type application/json;
    server {
        listen 127.0.0.1:$1 reuseport backlog=4096;
        location ~ ^/mj/task/[A-Za-z0-9_-]+/fetch\$ {
            return 200 '$task_json';
        }
        location ~ ^/mj-relax/mj/task/[A-Za-z0-9_-]+/fetch\$ {
            return 200 '$task_done_json';
        }
        location = /mj/submit/imagine {
            return 200 '$submit';
        }
        location = /mj-relax/mj/submit/imagine {
            return 200 '$submit';
        }
        # a fixed all-digits id, the shape a real upstream gives
        location = /mj-fast/mj/submit/imagine {
            return 200 '{"code":1,"description":"Submitted","result":"$numeric_id"}';
        }
        location / {
            return 404 '{"code":4,"description":"not found"}';
        }
    }
}
CONF
}

# write_users N: $dir/conf/users with the user "bench" (key $key) and N-1
# made-up users who never send a request; $dir/conf/upstream-keys
write_users() {
    printf 'bench    %s  main\n' "$(sha "$key")" > "$dir/conf/users"
    python3 - "$dir/conf/users" "$1" <<'PY'
import hashlib, sys
with open(sys.argv[1], "a") as f:
    for i in range(1, int(sys.argv[2])):
        f.write("user%05d %s main\n" % (i, hashlib.sha256(b"k%d" % i).hexdigest()))
PY
    (umask 077; printf 'main sk-bench-upstream-secret upstream=backend\n' \
        > "$dir/conf/upstream-keys")
}

# front_conf UPSTREAM_PORT [NAME [MODULE]]: a front nginx's config up to the
# servers (one worker, the module, the users, the upstream; its logs and
# temp folders named NAME, "front" by default); the caller adds the zones
# and servers, and closes http{}
front_conf() {
    cat <<CONF
load_module ${3:-$module};
$(conf_head "${2:-front}" 1)
    mj_users $dir/conf/users;
    mj_upstream_keys $dir/conf/upstream-keys;

    upstream backend {
        server 127.0.0.1:$1;
        keepalive 64;
        keepalive_requests 10000000;
    }
CONF
}

# what a location relays with
proxy='proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";'

# --- nginx processes ------------------------------------------------------------------

# start_nginx NAME CONF PORT [WRAPPER...]: runs nginx in the foreground (in
# $pids), under WRAPPER when given (valgrind ...), until PORT answers; sets
# $started to its pid
start_nginx() {
    local name=$1 conf=$2 port=$3
    shift 3
    "$@" "$nginx" -p "$dir/" -c "$conf" -g 'daemon off;' \
        > "$dir/logs/$name.out" 2>&1 &
    started=$!
    pids+=("$started")
    local i
    # a minute at most: valgrind starts slowly
    for i in $(seq 1200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        kill -0 "$started" 2>/dev/null || break
        sleep 0.05
    done
    say "$name nginx did not start:"; cat "$dir/logs/$name.out" "$dir"/logs/*error.log >&2
    exit 1
}

# stop_nginx PID: stops an nginx start_nginx started, and forgets it
stop_nginx() {
    local p keep=()
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    for p in "${pids[@]}"; do
        [ "$p" = "$1" ] || keep+=("$p")
    done
    pids=("${keep[@]}")
}

# show_errors LOG...: the last lines of the error logs beyond the "is full"
# a zone filled to capacity logs by design, if there are any
show_errors() {
    if grep -hv 'is full and nothing can be evicted' "$@" 2>/dev/null | grep -q .; then
        say "error logs, beyond the expected \"is full\" lines (last 5):"
        grep -hv 'is full and nothing can be evicted' "$@" | tail -5 >&2
    fi
}

# front_worker MASTER: the pid of the master's (one) worker, not its cache
# manager (a zone with state= has one)
front_worker() {
    local w
    for _ in $(seq 50); do
        for w in $(pgrep -P "$1"); do
            grep -qa 'worker process' "/proc/$w/cmdline" 2>/dev/null \
                && { echo "$w"; return 0; }
        done
        sleep 0.1
    done
    say "no worker of nginx $1 found"; exit 1
}

# cpu_us PID: microseconds of CPU the process has used (user + system):
# the kernel's running total in /proc/PID/schedstat (nanoseconds; the main
# thread's, and a worker here runs no thread pool), else utime + stime from
# /proc/PID/stat (the same total, in clock ticks)
clk_tck=$(getconf CLK_TCK)
cpu_us() {
    if [ -r "/proc/$1/schedstat" ]; then
        awk '{ printf "%.0f\n", $1 / 1000 }' "/proc/$1/schedstat"
    else
        awk -v hz="$clk_tck" '{ printf "%.0f\n", ($14 + $15) * 1000000 / hz }' "/proc/$1/stat"
    fi
}

# --- numbers -----------------------------------------------------------------------------

# median [DECIMALS]: the median of the numbers on stdin (0 when none)
median() {
    sort -g | awk -v d="${1:-0}" '{ a[NR] = $1 } END {
        if (NR == 0) m = 0; else if (NR % 2) m = a[(NR + 1) / 2]
        else m = (a[NR/2] + a[NR/2 + 1]) / 2
        printf "%.*f\n", d, m }'
}

# ratio A B [DECIMALS]: A / B, "-" when B is 0
ratio() {
    awk -v a="$1" -v b="$2" -v d="${3:-3}" \
        'BEGIN { if (b > 0) printf "%.*f\n", d, a / b; else print "-" }'
}

to_us() { # 580.12us | 1.23ms | 2.00s -> microseconds
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) m = 1; else if (v ~ /ms$/) m = 1000;
        else if (v ~ /m$/) m = 60000000; else if (v ~ /s$/) m = 1000000; else m = 1
        printf "%.0f", n * m }'
}

bytes() { # 64m, 512k, 1g -> bytes
    awk -v v="$1" 'BEGIN { n = v + 0; u = tolower(substr(v, length(v)))
        m = u == "k" ? 1024 : u == "m" ? 1048576 : u == "g" ? 1073741824 : 1
        printf "%.0f", n * m }'
}

# machine: one line about this machine and the load on it
machine() {
    printf '%s cores, %s; nginx %s\n' "$(nproc)" \
        "$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)" \
        "$("$nginx" -v 2>&1 | sed 's/.*nginx\///')"
}

# --- wrk runs --------------------------------------------------------------------------

# run GROUP LABEL ROUND URL [SCRIPT]: one measured wrk run (wrk -t1
# -c$conns -d$dur, after a -d$warm warm-up, the header $auth) and the CPU
# of the front worker $worker meanwhile; one line in the file $results:
#   group label round req/s avg p50 p99 errors cpu-us/req requests
# "$run_hook start" and "$run_hook end", when run_hook is set, run right
# around the measured part
run() {
    local group=$1 label=$2 round=$3 url=$4 script=${5:-} out args
    args=(-t1 "-c$conns" --latency -H "$auth")
    [ -n "$script" ] && args+=(-s "$script")
    wrk "${args[@]}" "-d$warm" "$url" > /dev/null
    local c0 c1 cpu
    [ -z "${run_hook:-}" ] || "$run_hook" start
    c0=$(cpu_us "$worker")
    out=$(wrk "${args[@]}" "-d$dur" "$url")
    c1=$(cpu_us "$worker")
    [ -z "${run_hook:-}" ] || "$run_hook" end
    local rps avg p50 p99 bad err n
    rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
    avg=$(to_us "$(awk '$1 == "Latency" { print $2; exit }' <<<"$out")")
    p50=$(to_us "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
    p99=$(to_us "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
    bad=$(awk '/Non-2xx/ { print $NF }' <<<"$out"); bad=${bad:-0}
    err=$(awk '/Socket errors/ { gsub(",", ""); print $4 + $6 + $8 + $10 }' <<<"$out")
    err=${err:-0}
    n=$(awk '/ requests in / { print $1 }' <<<"$out"); n=${n:-0}
    # microseconds of front-worker CPU per request: steadier than req/s
    # when other processes share the cores
    cpu=$(ratio "$((c1 - c0))" "$n" 1)
    printf '%s %s %s %s %s %s %s %s %s %s\n' "$group" "$label" "$round" "$rps" "$avg" \
        "$p50" "$p99" "$((bad + err))" "$cpu" "$n" >> "$results"
    say "  $(printf '%-12s %-15s %7s req/s  p50 %5s us  p99 %5s us  worker %5s us/req  errors %s' \
        "$group" "$label" "$rps" "$p50" "$p99" "$cpu" "$((bad + err))")"
}

# fill URL N IDFILE: N submits (0: until refused) through the gateway
# (bench/fill.lua, -c$conns), the ids recorded appended to IDFILE ("": not
# kept); sets fill_ok fill_refused fill_other fill_secs
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

# what a caller of run reads from $results:
# col GROUP LABEL FIELD [DECIMALS]: the median over the rounds
#   fields: 4 req/s, 5 avg, 6 p50, 7 p99, 8 errors, 9 cpu, 10 requests
col() { awk -v g="$1" -v l="$2" -v f="$3" '$1 == g && $2 == l { print $f }' "$results" \
        | median "${4:-0}"; }
# sum GROUP LABEL FIELD: the sum over the rounds
sum() { awk -v g="$1" -v l="$2" -v f="$3" '$1 == g && $2 == l { s += $f } END { print s + 0 }' \
        "$results"; }
# per_round GROUP LABEL BASE-LABEL FIELD: LABEL / BASE-LABEL in each round,
# one a line
per_round() {
    awk -v g="$1" -v l="$2" -v b="$3" -v f="$4" '
        $1 == g && $2 == l { a[$3] = $f } $1 == g && $2 == b { d[$3] = $f }
        END { for (r = 1; r in a; r++) if (d[r] > 0) printf "%.4f\n", a[r] / d[r] }' "$results"
}
