#!/usr/bin/env bash
# ngx_mj body-inspection bench (make bench-bodies): what reading a big
# submit body costs the gateway, against bare proxy_pass.
#
# POST /mj/submit/imagine with JSON bodies of 1 to 64 MB, in four shapes:
#   long        one long base64 string (a base64Array entry), the rest tiny
#   short       the same size in 64-byte base64 strings (base64Array)
#   hook long   "long" with "notifyHook":"http://x/" first: the gateway
#               removes it, so it rewrites the body, into a temp file
#   hook short  "short" with the notifyHook
# through the gateway, and "long" through bare proxy_pass on the same
# nginx.  The upstream is the bench's plain nginx (bench/lib.sh), which
# reads and drops the body and answers a fixed submit JSON.  Both nginx
# take bodies up to 80 MB.
#
# Each request gets a fresh front nginx (one worker, after one small
# submit), so that the worker's memory figures are its own: the worker's CPU time (from /proc) over the
# request, its peak RSS (VmHWM) less its RSS before, and the peak of its
# anonymous memory (RssAnon, sampled every 2 ms while the request runs;
# VmHWM also counts the pages of a mapped temp file, RssFile).  Sizes in
# turn; at each size the shapes alternate, the order flipped each
# repetition.  Medians of the repetitions (the memory: the largest).
# Prints a table; nothing is pass/fail.  Everything started is stopped at
# exit.  Knobs (environment):
#   BODIES_SIZES="1 2 4 8 16 32 64"   megabytes (MiB)
#   BODIES_REPS=5                      requests per size and shape
#   BENCH_KEEP=1                       keep the temp folder
#   NGINX=/usr/sbin/nginx
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

sizes=${BODIES_SIZES:-"1 2 4 8 16 32 64"}
reps=${BODIES_REPS:-5}

bench_require curl python3
bench_setup bodies
read -r up_port bare_port gw_port < <(free_ports 3)

write_upstream_conf "$up_port" 1
write_users 1

cat > "$dir/conf/front.conf" <<CONF
$(front_conf "$up_port")
    client_max_body_size 80m;

    mj_zone zone=mj:8m state=off;

    server {                            # bare proxy_pass
        listen 127.0.0.1:$bare_port;
        location / {
            $proxy
        }
    }

    server {                            # the gateway
        listen 127.0.0.1:$gw_port;
        location / {
            mj_gateway zone=mj;
            $proxy
        }
    }
}
CONF

start_nginx upstream "$dir/conf/upstream.conf" "$up_port"

# bodies SIZE: $dir/body-{long,short,hooklong,hookshort}, SIZE MiB each
bodies() {
    python3 - "$dir" "$1" <<'PY'
import base64, os, sys
d, mib = sys.argv[1], int(sys.argv[2])
size = mib << 20
b64 = base64.b64encode(os.urandom(size)).decode()   # more than enough
head = '{"prompt":"a lighthouse at dusk, oil on canvas --ar 3:2","base64Array":['
tail = ']}'
def write(name, pieces):
    with open("%s/body-%s" % (d, name), "w") as f:
        for p in pieces:
            f.write(p)
        assert f.tell() == size, (name, f.tell(), size)
def short(h):
    # strings of 64 characters, "...", comma-separated, and a shorter last one
    room = size - len(h) - len(tail)
    k = (room - 2) // 67
    m = room - 67 * k - 2
    yield h
    for j in range(k):
        yield '"' + b64[j * 64:(j + 1) * 64] + '",'
    yield '"' + b64[k * 64:k * 64 + m] + '"' + tail
for hook in ("", '"notifyHook":"http://x/",'):
    h = "{" + hook + head[1:]
    # one string: "data:image/png;base64,..." filling the body
    room = size - len(h) - len(tail) - 2 - len("data:image/png;base64,")
    name = "hook" if hook else ""
    write(name + "long", (h, '"data:image/png;base64,', b64[:room], '"', tail))
    write(name + "short", short(h))
PY
}

# sample PID OUT CMD...: runs CMD while sampling PID's RssAnon every 2 ms;
# writes "anon-before anon-peak" (kB) to OUT
sample() {
    python3 - "$@" <<'PY'
import subprocess, sys, threading, time
pid, out, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
def anon():
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0
before = peak = anon()
done = threading.Event()
def watch():
    global peak
    while not done.is_set():
        peak = max(peak, anon())
        time.sleep(0.002)
t = threading.Thread(target=watch)
t.start()
rc = subprocess.call(cmd, stdin=subprocess.DEVNULL)
done.set()
t.join()
peak = max(peak, anon())
with open(out, "w") as f:
    f.write("%d %d\n" % (before, peak))
sys.exit(rc)
PY
}

kb() { awk -v k="$2" '$1 == k ":" { print $2 }' "/proc/$1/status"; }

results="$dir/results"
: > "$results"
errors=0
bare="http://127.0.0.1:$bare_port/mj/submit/imagine"
gw="http://127.0.0.1:$gw_port/mj/submit/imagine"

# one SIZE SHAPE URL BODY: one request through a fresh front nginx, one line
# in $results: size shape seconds cpu-us rss-growth-kB anon-growth-kB
one() {
    local size=$1 shape=$2 url=$3 body=$4 master worker c0 c1 rss0 hwm code secs
    start_nginx front "$dir/conf/front.conf" "$gw_port"
    master=$started
    worker=$(front_worker "$master")
    # a small submit first: the worker's first request sets up what every
    # request after it reuses (the upstream connection, the temp folders)
    curl -sS -o /dev/null -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
        -d '{"prompt":"a lighthouse at dusk"}' "$url"
    rss0=$(kb "$worker" VmRSS)
    c0=$(cpu_us "$worker")
    sample "$worker" "$dir/anon" curl -sS -o "$dir/answer" -H 'Expect:' \
        -w '%{http_code} %{time_total}\n' -H "Authorization: Bearer $key" \
        -H 'Content-Type: application/json' --data-binary "@$body" "$url" > "$dir/curl.out" \
        || true
    c1=$(cpu_us "$worker")
    hwm=$(kb "$worker" VmHWM)
    stop_nginx "$master"
    read -r code secs < "$dir/curl.out" || true
    if [ "${code:-}" != 200 ] || ! grep -q '"code":1' "$dir/answer"; then
        say "  $shape $size MB: HTTP ${code:-none}: $(head -c 200 "$dir/answer")"
        errors=$((errors + 1))
        return 0
    fi
    printf '%s %s %s %s %s %s\n' "$size" "$shape" "$secs" "$((c1 - c0))" \
        "$((hwm - rss0))" "$(awk '{ print $2 - $1 }' "$dir/anon")" >> "$results"
}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
say "ngx_mj body bench: $sizes MB, $reps requests each; temp $dir"
shapes=("bare $bare long" "long $gw long" "short $gw short"
        "hook-long $gw hooklong" "hook-short $gw hookshort")
for size in $sizes; do
    bodies "$size"
    for r in $(seq "$reps"); do
        order=$(seq 0 $((${#shapes[@]} - 1)))
        [ $((r % 2)) = 0 ] && order=$(tac <<<"$order")
        for i in $order; do
            read -r shape url body <<<"${shapes[$i]}"
            one "$size" "$shape" "$url" "$dir/body-$body"
        done
    done
    say "  $size MB, median seconds: $(for x in "${shapes[@]}"; do
        read -r shape _ <<<"$x"
        printf '%s %s  ' "$shape" "$(awk -v s="$size" -v k="$shape" \
            '$1 == s && $2 == k { print $3 }' "$results" | median 3)"; done)"
done
rm -f "$dir"/body-*

# cell SIZE SHAPE WHAT: one figure, over the repetitions
#   mbs: MiB/s at the median time; cpu: median ms of worker CPU per MiB;
#   rss, anon: the largest growth, in MiB
cell() {
    local v
    case $3 in
        mbs) v=$(awk -v s="$1" -v k="$2" '$1 == s && $2 == k { print $3 }' "$results" | median 6)
             ratio "$1" "$v" 0 ;;
        cpu) awk -v s="$1" -v k="$2" '$1 == s && $2 == k { print $4 / 1000 / s }' "$results" \
                 | median 2 ;;
        rss|anon)
             awk -v s="$1" -v k="$2" -v f="$([ "$3" = rss ] && echo 5 || echo 6)" '
                 $1 == s && $2 == k { if (!n++ || $f > m) m = $f }
                 END { if (n) printf "%.1f\n", m / 1024; else print "-" }' "$results" ;;
    esac
}

table() { # TITLE WHAT
    echo "$1"
    printf '   %6s %9s %9s %9s %11s %11s\n' MB bare long short "hook long" "hook short"
    local size
    for size in $sizes; do
        printf '   %6s %9s %9s %9s %11s %11s\n' "$size" "$(cell "$size" bare "$2")" \
            "$(cell "$size" long "$2")" "$(cell "$size" short "$2")" \
            "$(cell "$size" hook-long "$2")" "$(cell "$size" hook-short "$2")"
    done
}

# cpu_growth SHAPE: worker CPU at the largest size ($big) / at the size a
# quarter of it (4.0 is linear)
cpu_growth() {
    local small=$((big / 4))
    ratio "$(awk -v s="$big" -v k="$1" '$1 == s && $2 == k { print $4 }' "$results" | median)" \
          "$(awk -v s="$small" -v k="$1" '$1 == s && $2 == k { print $4 }' "$results" | median)" 2
}

{
    echo
    echo "ngx_mj body bench  $(date -u '+%Y-%m-%d %H:%M UTC')  $(machine)"
    echo "POST /mj/submit/imagine, curl, one request at a time, a fresh front nginx"
    echo "(1 worker) for each; $reps requests per size and shape, shapes alternating"
    echo "load average at start: $load0; at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    table "MiB per second (size / median time_total of curl)" mbs
    echo
    table "front worker's CPU, ms per MiB (median)" cpu
    echo
    table "front worker's peak RSS growth (VmHWM - VmRSS before), MiB, largest" rss
    echo
    table "front worker's peak anonymous memory growth (RssAnon, sampled), MiB, largest" anon
    echo
    big=$(tr ' ' '\n' <<<"$sizes" | sort -n | tail -1)
    if grep -qx "$((big / 4))" <(tr ' ' '\n' <<<"$sizes"); then
        echo "   worker CPU at $big MB / at $((big / 4)) MB (4.00 is linear):" \
             "bare $(cpu_growth bare), long $(cpu_growth long), short $(cpu_growth short)," \
             "hook long $(cpu_growth hook-long), hook short $(cpu_growth hook-short)"
    fi
    echo "   long: one base64 string; short: 64-byte strings; hook: with a notifyHook,"
    echo "   which the gateway removes, rewriting the body into a temp file; bare: long"
    echo "   through proxy_pass; requests that failed: $errors"
    echo
} | tee "$dir/table.txt"

# nginx notes every body it buffers to a temp file (at warn); anything else
# is worth a look
expected='a client request body is buffered to a temporary file'
if cat "$dir/logs/front-error.log" "$dir/logs/upstream-error.log" 2>/dev/null \
        | grep -v "$expected" | grep -q .; then
    say "error logs, beyond the expected \"$expected\" lines (last 5):"
    cat "$dir/logs/front-error.log" "$dir/logs/upstream-error.log" | grep -v "$expected" \
        | tail -5 >&2
fi
