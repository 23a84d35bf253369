#!/usr/bin/env bash
# The demo gateway: nginx with ngx_mj on 127.0.0.1:$MJ_DEMO_PORT in front of
# the project's simulated Midjourney upstream, with two demo users.  Runs in
# the foreground; Ctrl-C stops both.  Works offline.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
port=${MJ_DEMO_PORT:-8080}
sim_port=${MJ_DEMO_SIM_PORT:-8081}
dir=${MJ_DEMO_DIR:-/tmp/ngx_mj-demo}
nginx=${NGINX:-/usr/sbin/nginx}
module="$root/build/ngx_http_mj_module.so"
upkey="sk-demo-upstream-key"
alice="mj-demo-alice-key"
bob="mj-demo-bob-key"

[ -f "$module" ] || { echo "build first: make" >&2; exit 1; }

rm -rf "$dir"
mkdir -p "$dir/conf" "$dir/logs"
chmod 755 "$dir"

sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

cat > "$dir/conf/users" <<USERS
# name   sha256 of the user's key                                          upstream key
alice    $(sha "$alice")  sim
bob      $(sha "$bob")  sim
USERS

(umask 077; printf 'sim %s upstream=mjsim\n' "$upkey" > "$dir/conf/upstream-keys")

cat > "$dir/conf/nginx.conf" <<CONF
load_module $module;
worker_processes 2;
error_log $dir/logs/error.log info;
pid $dir/logs/nginx.pid;
events { worker_connections 256; }
http {
    access_log $dir/logs/access.log;
    log_format mj '\$remote_addr \$mj_user \$mj_action \$mj_task_id "\$request" \$status';
    mj_users $dir/conf/users;
    mj_upstream_keys $dir/conf/upstream-keys;
    mj_zone zone=mj:16m state=$dir/state/mj.state;

    upstream mjsim {
        server 127.0.0.1:$sim_port;
        keepalive 16;
    }

    server {
        listen 127.0.0.1:$port;
        access_log $dir/logs/mj.log mj;

        location /mj/ {
            mj_gateway zone=mj;
            proxy_pass http://\$mj_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }

        # images are served by the simulated upstream itself
        location /images/ {
            proxy_pass http://mjsim;
        }
    }
}
CONF

cleanup() {
    [ -f "$dir/logs/nginx.pid" ] && kill "$(cat "$dir/logs/nginx.pid")" 2>/dev/null || true
    [ -n "${sim_pid:-}" ] && kill "$sim_pid" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 0' INT TERM

python3 "$root/sim/mjsim.py" --listen "127.0.0.1:$sim_port" --key "$upkey" \
    --time-scale "${MJ_DEMO_TIME_SCALE:-0.3}" \
    --public-url "http://127.0.0.1:$port" > "$dir/logs/sim.log" 2>&1 &
sim_pid=$!

# waits that end when what they wait for is there, or after 30 s: a busy
# machine starts python slowly
deadline=$((SECONDS + 30))
until grep -q "listening" "$dir/logs/sim.log" 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "the simulated upstream did not start" >&2; exit 1; }
    kill -0 "$sim_pid" 2>/dev/null || { cat "$dir/logs/sim.log" >&2; exit 1; }
    sleep 0.05
done

"$nginx" -p "$dir" -c "$dir/conf/nginx.conf" -g 'daemon on;'

base="http://127.0.0.1:$port"
id=""
deadline=$((SECONDS + 30))
while [ "$SECONDS" -lt "$deadline" ]; do
    out=$(curl -s -H "Authorization: Bearer $alice" \
          -d '{"prompt":"a lighthouse at dusk"}' "$base/mj/submit/imagine" || true)
    id=$(printf '%s' "$out" | sed -n 's/.*"result": *"\([0-9]*\)".*/\1/p')
    [ -n "$id" ] && break
    sleep 0.05
done
[ -n "$id" ] || { echo "the gateway did not answer: $out" >&2; exit 1; }

cat <<TXT
ngx_mj demo gateway on $base (simulated upstream on 127.0.0.1:$sim_port)
users: alice (key $alice), bob (key $bob); config and logs in $dir

Submit a prompt as alice:
curl -s -H 'Authorization: Bearer $alice' -d '{"prompt":"a red fox in snow"}' $base/mj/submit/imagine
Poll the task alice submitted at start-up:
curl -s -H 'Authorization: Bearer $alice' $base/mj/task/$id/fetch
Bob sends his key the midjourney-proxy way:
curl -s -H 'mj-api-secret: $bob' -d '{"prompt":"a very long prompt about a quiet harbour at dawn"}' $base/mj/submit/shorten
No key:
curl -s $base/mj/task/$id/fetch
ready; Ctrl-C stops the gateway and the simulated upstream
TXT

wait "$sim_pid"
