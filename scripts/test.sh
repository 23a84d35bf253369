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

# prove's output is kept, so that a failure ends with what explains it: a
# CI log is often read from its tail, and diag lines scroll away above the
# summary
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
prove "${inc[@]}" "${tests[@]}" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
[ "$rc" -eq 0 ] && exit 0

echo "# ---- failure digest (TMPDIR=${TMPDIR:-unset}, $(nproc) cpus," \
     "proxy vars: $(env | grep -ci '_proxy=' || true))"
for f in $(awk '/^Test Summary Report/ { s = 1 }
                s && /^t\/.*\.t / { print $1 }' "$log"); do
    echo "# $f, run again verbosely:"
    prove -v "${inc[@]}" "$f" 2>&1 | grep -E '^(not ok|#)|^Result' | head -20 || true
done
echo "# diag lines of the failed run:"
grep -E '^#' "$log" | grep -vE '^# (nginx:|Test::Nginx is not)' | tail -40 || true
exit "$rc"
