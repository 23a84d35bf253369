#!/bin/sh
# lua.sh OUT: the scripts of the shared store (the .lua files here), each
# with common.lua in front, as C strings in the header OUT, for
# ngx_http_mj_store_redis.c (run by the module's config, and by make when
# a script changes).
set -e
dir=$(dirname "$0")
out=$1
tmp=$out.tmp.$$

{
    echo "/* made by ngx_mj_module/redis/lua.sh from the .lua files beside it:"
    echo " * edit those */"
    for f in "$dir"/*.lua; do
        name=$(basename "$f" .lua)
        [ "$name" = common ] && continue
        echo
        echo "static char  ngx_http_mj_lua_$name[] ="
        cat "$dir/common.lua" "$f" \
            | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$/\\n"/'
        echo "    ;"
    done
} > "$tmp"

# unchanged: left as it is, so that nothing is compiled again for it
if cmp -s "$tmp" "$out"; then
    rm -f "$tmp"
else
    mv "$tmp" "$out"
fi
