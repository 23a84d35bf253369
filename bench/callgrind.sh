#!/usr/bin/env bash
# ngx_mj: instructions per request of the front nginx, bare proxy_pass
# against the gateway, counted by valgrind's callgrind (make bench-callgrind).
#
# Counts of instructions do not move with the machine's load, unlike req/s
# and CPU time on a shared 2-core box: a change's effect shows in one run.
#
# Starts, on 127.0.0.1 only and in a mktemp folder:
#   - an upstream: plain nginx (not under valgrind) with fixed answers, as
#     bench/run.sh has them: a ~660-byte task to every fetch, a new
#     32-hex-digit task id to every submit;
#   - a front nginx under callgrind, "master_process off" (the process that
#     answers is the one counted), with four servers: bare proxy_pass, the
#     gateway, the gateway with every limit on, and, on its own users file
#     of CG_USERS users, the gateway again.
# For each case a client sends CG_WARMUP requests, the counters are zeroed
# (callgrind_control), it sends CG_REQUESTS requests one after another on
# one keepalive connection, and the counters are dumped.  Prints
# instructions per request (Ir / requests), the ratio to bare, and, with
# CG_TOP=N, the top N functions of each dump by their own instructions.
#
# Knobs (environment):
#   CG_REQUESTS=2000   requests counted per case   CG_WARMUP=200
#   CG_TOP=12          top functions of each case (0: none)
#   CG_CASES="poll-bare poll-gw poll-digits poll-limits submit-bare
#             mix-bare mix-limits submit-bare submit-gw" (poll-users:
#             CG_USERS users; the mix before the submits, which fill the
#             cap on unfinished tasks)
#            mix: 20 polls a submit, through the server with every limit on
#   CG_USERS=100000    users in the fourth server's file
#   CG_KEEP=1          keep the temp folder (configs, logs, callgrind.out.*)
#   NGINX=/usr/sbin/nginx
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
nginx=${NGINX:-/usr/sbin/nginx}
module="$root/build/ngx_http_mj_module.so"
requests=${CG_REQUESTS:-2000}
warmup=${CG_WARMUP:-200}
top=${CG_TOP:-12}
cases=${CG_CASES:-"poll-bare poll-gw poll-digits poll-limits mix-bare mix-limits submit-bare submit-gw"}
nusers=${CG_USERS:-100000}
key="mj-bench-user-key-0123456789"
numeric_id="1712345678901234"

say() { printf '%s\n' "$*" >&2; }

for t in valgrind callgrind_control callgrind_annotate python3; do
    command -v "$t" >/dev/null || { say "$t is missing (apt-get install valgrind python3)"; exit 1; }
done
[ -f "$module" ] || make -C "$root" >/dev/null

dir=$(mktemp -d /tmp/ngx_mj-callgrind.XXXXXX)
chmod 755 "$dir"
mkdir -p "$dir/conf" "$dir/logs" "$dir/tmp"

pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    if [ "${CG_KEEP:-0}" = 1 ]; then
        say "kept $dir"
    else
        rm -rf "$dir"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

read -r up_port bare_port gw_port lim_port many_port < <(python3 - <<'PY'
import socket
socks = []
for _ in range(5):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
)

sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

task_json='{"id":"1712345678901234","action":"IMAGINE","status":"IN_PROGRESS","prompt":"a lighthouse at dusk, oil on canvas --ar 3:2","promptEn":"a lighthouse at dusk, oil on canvas --ar 3:2","description":"Submit success","state":"","submitTime":1712345678901,"startTime":1712345679432,"finishTime":null,"progress":"42%","imageUrl":"https://cdn.example.com/attachments/1199/1234567890/bench_grid_0.webp","failReason":null,"botType":"MID_JOURNEY","mode":"FAST","properties":{"finalPrompt":"a lighthouse at dusk, oil on canvas --ar 3:2","messageId":"1234567890123456789","nonce":"9876543210987654321","discordInstanceId":"1118138338562560102","notifyHook":null},"buttons":[]}'

# the same task, finished: what the mix's polls see
task_done_json=${task_json/\"IN_PROGRESS\"/\"SUCCESS\"}

temp_paths() {
    local t
    for t in client_body proxy fastcgi uwsgi scgi; do
        printf '    %s_temp_path %s/tmp/%s%s;\n' "$t" "$dir" "$1" "$t"
    done
}

cat > "$dir/conf/upstream.conf" <<CONF
worker_processes 1;
error_log $dir/logs/upstream-error.log warn;
pid $dir/logs/upstream.pid;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 10000000;
$(temp_paths up-)
    default_type application/json;
    server {
        listen 127.0.0.1:$up_port;
        location ~ ^/mj/task/[A-Za-z0-9_-]+/fetch\$ {
            return 200 '$task_json';
        }
        location ~ ^/mj-relax/mj/task/[A-Za-z0-9_-]+/fetch\$ {
            return 200 '$task_done_json';
        }
        location ~ ^(/mj-relax)?/mj/submit/imagine\$ {
            return 200 '{"code":1,"description":"Submitted","result":"\$request_id"}';
        }
        location = /mj-fast/mj/submit/imagine {
            return 200 '{"code":1,"description":"Submitted","result":"$numeric_id"}';
        }
        location / {
            return 404 '{"code":4,"description":"not found"}';
        }
    }
}
CONF

# the users file of the first three servers: "bench" and 9,999 made-up
# users; the fourth's: CG_USERS of them
python3 - "$dir/conf" "$(sha "$key")" "$nusers" <<'PY'
import hashlib, sys
d, digest, many = sys.argv[1], sys.argv[2], int(sys.argv[3])
for name, n in (("users", 10000), ("users-many", many)):
    with open("%s/%s" % (d, name), "w") as f:
        f.write("bench %s main\n" % digest)
        for i in range(1, n):
            f.write("user%06d %s main\n"
                    % (i, hashlib.sha256(b"k%d" % i).hexdigest()))
PY
(umask 077; printf 'main sk-bench-upstream-secret upstream=backend\n' \
    > "$dir/conf/upstream-keys")

proxy='proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";'

front_conf() { # USERS-FILE PORTS...: the front's config
    cat <<CONF
load_module $module;
master_process off;
daemon off;
error_log $dir/logs/front-error.log warn;
pid $dir/logs/front-$2.pid;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 10000000;
$(temp_paths "$2-")
    mj_users $1;
    mj_upstream_keys $dir/conf/upstream-keys;
    mj_zone zone=mj:64m state=off users=10000;

    upstream backend {
        server 127.0.0.1:$up_port;
        keepalive 16;
        keepalive_requests 10000000;
    }

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

wait_port() { # PORT PID
    local i
    for i in $(seq 600); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            return 0
        fi
        kill -0 "$2" 2>/dev/null || break
        sleep 0.1
    done
    say "nginx did not start:"; cat "$dir"/logs/*.out "$dir"/logs/*error.log >&2
    exit 1
}

"$nginx" -p "$dir/" -c "$dir/conf/upstream.conf" -g 'daemon off;' \
    > "$dir/logs/upstream.out" 2>&1 &
pids+=($!)
wait_port "$up_port" "${pids[-1]}"

# the client: N requests on one keepalive connection, each answered 200;
# "mix": each 21st a submit to /mj-relax/ (its task answers SUCCESS), the
# others polls of the task the last submit made
cat > "$dir/client.py" <<'PY'
import http.client, re, sys
port, method, path, n, key = (int(sys.argv[1]), sys.argv[2], sys.argv[3],
                              int(sys.argv[4]), sys.argv[5])
body = b'{"prompt":"a lighthouse at dusk, oil on canvas --ar 3:2"}'
c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
auth = {"Authorization": "Bearer " + key}
post = dict(auth, **{"Content-Type": "application/json"})
last = b""
task = None
for i in range(n):
    if method == "MIX":
        if i % 21 == 0 or task is None:
            c.request("POST", "/mj-relax/mj/submit/imagine", body, post)
        else:
            c.request("GET", "/mj-relax/mj/task/%s/fetch" % task, None, auth)
    else:
        c.request(method, path, body if method == "POST" else None,
                  post if method == "POST" else auth)
    r = c.getresponse()
    last = r.read()
    if r.status != 200:
        sys.exit("%s %s: %d %s" % (method, path, r.status, last[:200]))
    m = re.match(rb'{"code":1,.*"result":"([A-Za-z0-9_-]+)"', last)
    if m:
        task = m.group(1).decode()
sys.stdout.write(last.decode())
PY

client() { python3 "$dir/client.py" "$@" "$key"; }

# start_front NAME USERS-FILE: the front under callgrind, counting nothing
# until a case zeroes the counters
start_front() {
    front_conf "$2" "$1" > "$dir/conf/front-$1.conf"
    valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out.$1" \
        --dump-instr=no --separate-threads=no \
        "$nginx" -p "$dir/" -c "$dir/conf/front-$1.conf" \
        > "$dir/logs/front-$1.out" 2>&1 &
    front=$!
    pids+=("$front")
    wait_port "$gw_port" "$front"
}

stop_front() {
    kill -QUIT "$front" 2>/dev/null || true
    wait "$front" 2>/dev/null || true
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

start_front main "$dir/conf/users"

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
    stop_front
    start_front many "$dir/conf/users-many"
    hex_id=$(client "$gw_port" POST /mj/submit/imagine 1 \
             | sed -n 's/.*"result":"\([A-Za-z0-9_-]*\)".*/\1/p')
    measure poll-users "$gw_port" GET "/mj/task/$hex_id/fetch"
fi

stop_front

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
            callgrind_annotate --inclusive=no --threshold=100 "$out" 2>/dev/null \
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
            callgrind_annotate --inclusive=no --threshold=100 "$out" 2>/dev/null \
                | awk -v n="$requests" '
                    /file:function/ { on = 1; next }
                    on && /^ *[0-9,]+ \( *[0-9.]+%\)/ {
                        ir = $1; gsub(",", "", ir)
                        pct = $0; sub(/^[^(]*\( */, "", pct); pct += 0
                        if (pct >= 99) next
                        obj = $NF; gsub(/[][]/, "", obj); sub(/.*\//, "", obj)
                        sum[obj] += ir }
                    END { for (o in sum) printf "   %9.1f  %s\n", sum[o] / n, o }' \
                | sort -rn | head -8
            case $c in *-bare) continue ;; esac
            echo "   $c: the module's functions, inclusive (Ir per request)"
            callgrind_annotate --inclusive=yes --threshold=100 "$out" 2>/dev/null \
                | awk -v n="$requests" -v top="$top" '
                    /file:function/ { on = 1; next }
                    on && /ngx_http_mj_|mj_answer|mj_body|yajl_|EVP_/ && shown < 2 * top {
                        ir = $1; gsub(",", "", ir)
                        fn = $0; sub(/^ *[0-9,]+ +\([ 0-9.%]+\) +/, "", fn)
                        sub(/^[^:]*\/ngx_mj_module\//, "", fn)
                        sub(/^\?\?\?:/, "", fn); sub(/ \[.*/, "", fn)
                        printf "   %9.1f  %s\n", ir / n, fn; shown++ }'
        done < "$results"
    fi
    echo
} | tee "$dir/table.txt"
