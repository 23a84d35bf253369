#!/usr/bin/env bash
# Run the whole ngx_mj suite with prove.  Uses the real Test::Nginx when it
# is installed, and the project's runner for the same format (t/runner)
# only when it is not.  Extra arguments go to prove (e.g. t/001-auth.t).
set -euo pipefail
cd "$(dirname "$0")/.."

export TEST_NGINX_BINARY=${TEST_NGINX_BINARY:-/usr/sbin/nginx}
export TEST_NGINX_LOAD_MODULES="$PWD/build/ngx_http_mj_module.so"

inc=(-I t/lib)
tests=(t/*.t)
if ! perl -MTest::Nginx::Socket -e1 2>/dev/null; then
    echo "# Test::Nginx is not installed: using the project's runner (t/runner)"
    inc+=(-I t/runner)
    tests+=(t/runner/t/*.t)
fi
[ $# -gt 0 ] && tests=("$@")

echo "# nginx: $($TEST_NGINX_BINARY -v 2>&1); TEST_NGINX_USE_HUP=${TEST_NGINX_USE_HUP:-0}"
exec prove "${inc[@]}" "${tests[@]}"
