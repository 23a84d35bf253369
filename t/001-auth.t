# Users and keys: the auth matrix, and no key crossing the gateway.
use Test::Nginx::Socket 'no_plan';
use FindBin;
use lib "$FindBin::Bin/lib";
use MJTest;

no_shuffle();
add_block_preprocessor(\&MJTest::defaults);

our $Loc = <<'_EOC_';
    location /mj/ {
        mj_gateway zone=mj;
        add_header X-MJ-User $mj_user always;
        add_header X-MJ-Action $mj_action always;
        add_header X-MJ-Task $mj_task_id always;
        proxy_pass http://mjsim;
    }
    location /sim/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SIM_PORT/_sim/;
    }
_EOC_

run_tests();

__DATA__

=== TEST 1: no key: 401 with WWW-Authenticate, the upstream is not contacted
--- config eval: $::Loc
--- request eval
["POST /sim/reset", "GET /mj/task/1712345678901234/fetch", "GET /sim/requests"]
--- error_code eval
[200, 401, 200]
--- response_body eval
['{"ok":true}',
 qq[{"code":4,"description":"missing API key: send \\"Authorization: Bearer <key>\\" or \\"mj-api-secret: <key>\\""}\n],
 '[]']
--- response_headers eval
["", "WWW-Authenticate: Bearer realm=\"mj\"\nContent-Type: application/json", ""]



=== TEST 2: unknown key: 401, same body for any unknown key
--- config eval: $::Loc
--- more_headers
Authorization: Bearer mj-nobody-0123456789abcdef
--- request
GET /mj/task/1712345678901234/fetch
--- error_code: 401
--- response_headers
Content-Type: application/json
!X-MJ-User
--- response_body
{"code":4,"description":"invalid API key"}
--- error_log
mj: unknown API key refused
--- no_error_log
mj-nobody-0123456789abcdef



=== TEST 3: disabled user: 401 like an unknown key, logged by name only
--- config eval: $::Loc
--- more_headers
Authorization: Bearer mj-carol-0123456789abcdef
--- request
GET /mj/task/1712345678901234/fetch
--- error_code: 401
--- response_body
{"code":4,"description":"invalid API key"}
--- error_log
mj: key of disabled user "carol" refused
--- no_error_log
mj-carol-0123456789abcdef



=== TEST 4: Bearer key: relayed with the upstream key, user and action known
--- config eval: $::Loc
--- more_headers
Authorization: Bearer mj-alice-0123456789abcdef
--- request
POST /mj/submit/imagine
{"prompt": "a lighthouse at dusk"}
--- error_code: 200
--- response_headers
X-MJ-User: alice
X-MJ-Action: imagine
Content-Type: application/json; charset=utf-8
--- response_body_like chomp
^\{"code":\s*1,.*"result":\s*"\d{16}"
--- no_error_log
[error]



=== TEST 5: mj-api-secret key
--- config eval: $::Loc
--- more_headers
mj-api-secret: mj-bob-0123456789abcdef
--- request
GET /mj/task/1712345678901234/fetch
--- response_headers
X-MJ-User: bob
X-MJ-Action: fetch
X-MJ-Task: 1712345678901234
--- error_code: 404



=== TEST 6: Authorization "midjourney-proxy" placeholder falls back to mj-api-secret
--- config eval: $::Loc
--- more_headers
Authorization: midjourney-proxy
mj-api-secret: mj-bob-0123456789abcdef
--- request
POST /mj/submit/shorten
{"prompt": "a very long prompt about a cat on a mat"}
--- error_code: 200
--- response_headers
X-MJ-User: bob



=== TEST 7: Basic credentials in Authorization (for auth_basic) fall back to mj-api-secret
--- config eval: $::Loc
--- more_headers
Authorization: Basic dXNlcjpwYXNz
mj-api-secret: mj-alice-0123456789abcdef
--- request
POST /mj/submit/imagine
{"prompt": "basic"}
--- error_code: 200
--- response_headers
X-MJ-User: alice



=== TEST 8: two mj-api-secret headers are refused
--- config eval: $::Loc
--- more_headers
mj-api-secret: mj-alice-0123456789abcdef
mj-api-secret: mj-bob-0123456789abcdef
--- request
GET /mj/task/1712345678901234/fetch
--- error_code: 400
--- response_body
{"code":4,"description":"more than one mj-api-secret header"}



=== TEST 9: no client key ever reaches the upstream; the upstream key does
--- config eval: $::Loc
--- more_headers eval
["", "Authorization: Bearer mj-alice-0123456789abcdef\r\nmj-api-secret: mj-bob-0123456789abcdef",
 "Authorization: midjourney-proxy\r\nmj-api-secret: mj-bob-0123456789abcdef",
 "", "", "", ""]
--- request eval
["POST /sim/reset",
 "POST /mj/submit/imagine\n{\"prompt\":\"one\"}",
 "POST /mj/submit/imagine\n{\"prompt\":\"two\"}",
 "GET /sim/seen?s=mj-alice-0123456789abcdef",
 "GET /sim/seen?s=mj-bob-0123456789abcdef",
 "GET /sim/seen?s=midjourney-proxy",
 "GET /sim/seen?s=Bearer%20$ENV{TEST_NGINX_MJ_UPSTREAM_KEY}"]
--- response_body eval
['{"ok":true}', qr/"code":\s*1/, qr/"code":\s*1/,
 '{"seen":0}', '{"seen":0}', '{"seen":0}', '{"seen":2}']
--- no_error_log eval
[$ENV{TEST_NGINX_MJ_UPSTREAM_KEY}, "mj-alice-0123456789abcdef",
 "mj-bob-0123456789abcdef"]



=== TEST 10: upstream key in mj-api-secret style
--- config eval: $::Loc
--- more_headers eval
["", "Authorization: Bearer mj-erin-0123456789abcdef", "", ""]
--- request eval
["POST /sim/reset",
 "POST /mj/submit/imagine\n{\"prompt\":\"three\"}",
 "GET /sim/seen?s=mj-api-secret:%20$ENV{TEST_NGINX_MJ_UPSTREAM_KEY}",
 "GET /sim/seen?s=Authorization"]
--- response_body eval
['{"ok":true}', qr/"code":\s*1/, '{"seen":1}', '{"seen":0}']



=== TEST 11: the upstream refuses the operator's key: JSON 502, its body (quoting the key) never reaches the client
--- config eval: $::Loc
--- more_headers
Authorization: Bearer mj-dave-0123456789abcdef
--- request
POST /mj/submit/imagine
{"prompt": "refused"}
--- error_code: 502
--- response_headers
Content-Type: application/json
!WWW-Authenticate
--- response_body
{"code":9,"description":"the upstream refused the gateway's credentials"}
--- error_log
mj: the upstream refused the upstream key "refused" with status 401
--- no_error_log
sk-refused-by-upstream-42



=== TEST 12: forced upstream 403 quoting the key is hidden too
--- config eval: $::Loc
--- more_headers
Authorization: Bearer mj-alice-0123456789abcdef
X-Sim-Mode: 403
--- request
POST /mj/submit/imagine
{"prompt": "forbidden"}
--- error_code: 502
--- response_body
{"code":9,"description":"the upstream refused the gateway's credentials"}
--- error_log
with status 403



=== TEST 13: what nginx itself writes at info: a malformed header line, key and all
(the docs say so; the gateway's own lines never quote a key at any level)
--- config eval: $::Loc
--- more_headers
Authorization: Bearer mj-alice-0123456789abcdef
Authorization: Bearer mj-bob-0123456789abcdef
--- request
GET /mj/task/1/fetch
--- error_code: 400
--- error_log
client sent duplicate header line: "Authorization: Bearer mj-bob-0123456789abcdef"



=== TEST 14: the gateway's server at error_log notice: no key in the log at all
--- config eval: $::Loc
--- log_level: notice
--- more_headers
Authorization: Bearer mj-alice-0123456789abcdef
Authorization: Bearer mj-bob-0123456789abcdef
--- request
GET /mj/task/1/fetch
--- error_code: 400
--- no_error_log
mj-alice-0123456789abcdef
mj-bob-0123456789abcdef
