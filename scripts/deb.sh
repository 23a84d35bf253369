#!/usr/bin/env bash
# "make deb": ngx_mj's Debian packages, libnginx-mod-http-mj and mj-tools,
# built with dpkg-buildpackage from a copy of this tree (so that nothing is
# written beside it, as dpkg-buildpackage does) and put in build/deb/ with
# their .changes.  lintian then checks them: an error or a warning fails
# (debian/*.lintian-overrides say why the ones left are right); LINTIAN=0
# skips it.  As root, the build dependencies (apt-get build-dep) and
# lintian are installed first when missing; otherwise the command is shown.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/build/deb"
work="$root/build/deb-src"
src="$work/ngx-mj"

rm -rf "$work"
mkdir -p "$src"

# the tree as it is: tracked files and new ones that git does not ignore
cd "$root"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z -co --exclude-standard \
        | while IFS= read -r -d '' f; do
              if [ -e "$f" ]; then printf '%s\0' "$f"; fi
          done \
        | tar --null -T - -cf - | tar -C "$src" -xf -
else
    tar --exclude=./build --exclude=./.git -cf - . | tar -C "$src" -xf -
fi

cd "$src"
missing=
dpkg-checkbuilddeps >/dev/null 2>&1 || missing=build-dep
[ "${LINTIAN:-1}" = 0 ] || command -v lintian >/dev/null || missing+=" lintian"
if [ -n "$missing" ]; then
    cmd="apt-get update && apt-get build-dep -y $root"
    cmd+=" && apt-get install -y lintian"
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing build packages ($missing); run as root:" >&2
        echo "  $cmd" >&2
        exit 1
    fi
    echo "installing the build packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    # nginx-dev brings nginx, whose package would start a system nginx on
    # port 80: policy-rc.d keeps it from starting (as in scripts/deps.sh)
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get build-dep -y -q "$src" >/dev/null
    [ "${LINTIAN:-1}" = 0 ] \
        || apt-get install -y -q --no-install-recommends lintian >/dev/null
fi

echo "# dpkg-buildpackage -us -uc -b (log: build/deb-src/build.log)"
if ! dpkg-buildpackage -us -uc -b > "$work/build.log" 2>&1; then
    tail -40 "$work/build.log" >&2
    echo "dpkg-buildpackage failed; the whole log is $work/build.log" >&2
    exit 1
fi

rm -rf "$out"
mkdir -p "$out"
mv "$work"/*.deb "$work"/*.changes "$work"/*.buildinfo "$out/"

if [ "${LINTIAN:-1}" != 0 ]; then
    echo "# lintian"
    lintian --fail-on error,warning --info "$out"/*.changes
    echo "# lintian: no error and no warning" \
         "(overrides: debian/*.lintian-overrides)"
fi

echo "# the packages, in build/deb/:"
ls -1 "$out"/*.deb
