# bench/lib.sh: what the benches share (run.sh, redis.sh): prerequisites,
# a temp folder and the processes stopped at exit, free ports, the fixed
# upstream and the bench users, an nginx started and its worker's CPU, a
# measured wrk run and the medians of the results.  Sourced after the
# caller set root, bench, nginx, module, dur, warm, conns, key, numeric_id
# and up_workers.

say() { printf '%s\n' "$*" >&2; }

# wrk, curl, python3 and the module; then the temp folder ($dir), $results,
# and every process in $pids stopped at exit
bench_setup() {
    if ! command -v wrk >/dev/null; then
        if [ "$(id -u)" -eq 0 ]; then
            say "installing wrk"
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null \
                || { apt-get update -q >/dev/null \
                     && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null; }
        else
            say "wrk is missing: apt-get install wrk (as root)"; exit 1
        fi
    fi
    for t in curl python3; do
        command -v "$t" >/dev/null || { say "$t is missing"; exit 1; }
    done
    if [ ! -f "$module" ]; then
        say "building the module"
        make -C "$root" >/dev/null
    fi

    dir=$(mktemp -d /tmp/ngx_mj-bench.XXXXXX)
    chmod 755 "$dir"
    mkdir -p "$dir/conf" "$dir/logs" "$dir/tmp"

    pids=()

    results="$dir/results"
    : > "$results"

    pids=()
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}

cleanup() {
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

# free_ports N: N free loopback ports, on one line
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

# ~600 bytes, shaped like a midjourney-proxy task; "status" comes early, as
# it does there, and the gateway's peek stops at it
task_json='{"id":"1712345678901234","action":"IMAGINE","status":"IN_PROGRESS","prompt":"a lighthouse at dusk, oil on canvas --ar 3:2","promptEn":"a lighthouse at dusk, oil on canvas --ar 3:2","description":"Submit success","state":"","submitTime":1712345678901,"startTime":1712345679432,"finishTime":null,"progress":"42%","imageUrl":"https://cdn.example.com/attachments/1199/1234567890/bench_grid_0.webp","failReason":null,"botType":"MID_JOURNEY","mode":"FAST","properties":{"finalPrompt":"a lighthouse at dusk, oil on canvas --ar 3:2","messageId":"1234567890123456789","nonce":"9876543210987654321","discordInstanceId":"1118138338562560102","notifyHook":null},"buttons":[]}'

# the upstream: a plain nginx with fixed answers, on $up_port
write_upstream_conf() {
cat > "$dir/conf/upstream.conf" <<CONF
worker_processes $up_workers;
error_log $dir/logs/upstream-error.log warn;
pid $dir/logs/upstream.pid;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 10000000;
    client_body_temp_path $dir/tmp/up-body;
    proxy_temp_path $dir/tmp/up-proxy;
    fastcgi_temp_path $dir/tmp/up-fastcgi;
    uwsgi_temp_path $dir/tmp/up-uwsgi;
    scgi_temp_path $dir/tmp/up-scgi;
    default_type application/json;
    server {
        listen 127.0.0.1:$up_port reuseport backlog=4096;
        location ~ ^/mj/task/[A-Za-z0-9_-]+/fetch\$ {
            return 200 '$task_json';
        }
        location = /mj/submit/imagine {
            return 200 '{"code":1,"description":"Submitted","result":"\$request_id"}';
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

# the user "bench" (key $key) and 9,999 more; the upstream key "main"
write_users() {
cat > "$dir/conf/users" <<USERS
bench    $(sha "$key")  main
USERS
# 9,999 more users (10,000 in all), the size the limits issue asks about;
# their keys' hashes are made up: they never send a request
python3 - "$dir/conf/users" <<'PY'
import hashlib, sys
with open(sys.argv[1], "a") as f:
    for i in range(1, 10000):
        f.write("user%05d %s main\n" % (i, hashlib.sha256(b"k%d" % i).hexdigest()))
PY
(umask 077; printf 'main sk-bench-upstream-secret upstream=backend\n' \
    > "$dir/conf/upstream-keys")
}

start_nginx() { # name conf port
    "$nginx" -p "$dir/" -c "$2" -g 'daemon off;' \
        > "$dir/logs/$1.out" 2>&1 &
    pids+=($!)
    local i
    for i in $(seq 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$3") 2>/dev/null; then
            return 0
        fi
        kill -0 "${pids[-1]}" 2>/dev/null || break
        sleep 0.05
    done
    say "$1 nginx did not start:"; cat "$dir/logs/$1.out" "$dir"/logs/*error.log >&2
    exit 1
}

# front_worker MASTER: its (one) worker, whose CPU worker_cpu reads
front_worker() {
    local i
    worker=""
    for i in $(seq 50); do
        worker=$(pgrep -P "$1" | head -1) && break
        sleep 0.1
    done
    [ -n "$worker" ] || { say "no front worker found"; exit 1; }
    clk_tck=$(getconf CLK_TCK)
}

# the front worker's CPU time (user + system), in clock ticks
worker_cpu() { awk '{ print $14 + $15 }' "/proc/$worker/stat"; }

to_us() { # 580.12us | 1.23ms | 2.00s -> microseconds
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) m = 1; else if (v ~ /ms$/) m = 1000;
        else if (v ~ /m$/) m = 60000000; else if (v ~ /s$/) m = 1000000; else m = 1
        printf "%.0f", n * m }'
}

# run LABEL GROUP URL [SCRIPT]: one measured wrk run, one line in $results;
# "$run_hook start" and "$run_hook end", when set, run around the measured
# part (after the warm-up)
run() {
    local label=$1 group=$2 url=$3 script=${4:-} out args
    args=(-t1 "-c$conns" --latency -H "$auth")
    [ -n "$script" ] && args+=(-s "$script")
    wrk "${args[@]}" "-d$warm" "$url" > /dev/null
    local c0 c1 cpu
    [ -z "${run_hook:-}" ] || "$run_hook" start
    c0=$(worker_cpu)
    out=$(wrk "${args[@]}" "-d$dur" "$url")
    c1=$(worker_cpu)
    [ -z "${run_hook:-}" ] || "$run_hook" end
    local rps avg p50 p99 bad err
    rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
    avg=$(to_us "$(awk '$1 == "Latency" { print $2; exit }' <<<"$out")")
    p50=$(to_us "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
    p99=$(to_us "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
    bad=$(awk '/Non-2xx/ { print $NF }' <<<"$out"); bad=${bad:-0}
    err=$(awk '/Socket errors/ { gsub(",", ""); print $4 + $6 + $8 + $10 }' <<<"$out")
    err=${err:-0}
    # microseconds of front-worker CPU per request: steadier than req/s
    # when other processes share the cores
    cpu=$(awk -v t="$((c1 - c0))" -v hz="$clk_tck" \
          '/ requests in / { if ($1 > 0) printf "%.1f", t * 1000000 / hz / $1 }' <<<"$out")
    # the requests answered, for a caller that counts per request
    last_requests=$(awk '/ requests in / { print $1 }' <<<"$out")
    printf '%s %s %s %s %s %s %s %s\n' "$group" "$label" "$rps" "$avg" "$p50" \
        "$p99" "$((bad + err))" "${cpu:-0}" >> "$results"
    say "  $(printf '%-12s %-15s %7s req/s  avg %5s us  p99 %5s us  worker %5s us/req  errors %s' \
        "$group" "$label" "$rps" "$avg" "$p99" "${cpu:-0}" "$((bad + err))")"
}

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print 0;
    else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.0f", (a[NR/2] + a[NR/2 + 1]) / 2 }'; }

# col GROUP LABEL FIELD(3 rps, 4 avg, 5 p50, 6 p99, 7 errors, 8 cpu): median
col() { awk -v g="$1" -v l="$2" -v f="$3" '$1 == g && $2 == l { print $f }' "$results" | median; }
colf() { awk -v g="$1" -v l="$2" -v f="$3" '$1 == g && $2 == l { print $f }' "$results" \
    | sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print a[(NR + 1) / 2];
                      else printf "%.1f", (a[NR/2] + a[NR/2 + 1]) / 2 }'; }
errs() { awk -v g="$1" -v l="$2" '$1 == g && $2 == l { s += $7 } END { print s + 0 }' "$results"; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }'; }
