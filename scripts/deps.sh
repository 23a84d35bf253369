#!/usr/bin/env bash
# Install the Debian 12 packages ngx_mj needs to build, run and test, when
# they are missing. As root it runs apt-get; otherwise it prints the command.
set -euo pipefail

pkgs=(nginx nginx-dev libyajl-dev libssl-dev libcurl4-openssl-dev gcc make
      python3 perl libtest-base-perl libtext-diff-perl libtest-longstring-perl
      libwww-perl libhttp-message-perl libipc-run-perl liburi-perl
      liblist-moreutils-perl libnginx-mod-http-echo curl
      libfaketime valgrind wrk openssl clang libclang-rt-14-dev zlib1g-dev
      scdoc man-db libhiredis-dev redis-server redis-tools)

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$p")
done

[ ${#missing[@]} -eq 0 ] && exit 0

cmd="apt-get update && apt-get install -y ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages; run as root:" >&2
    echo "  $cmd" >&2
    exit 1
fi

echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# Debian's nginx package starts a system nginx on port 80; that one is not
# ours, and policy-rc.d keeps it from starting during the install.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
