# Browsers' preflights: the gateway answers OPTIONS itself and never relays
# it (204 for an endpoint of the contract, 404 for a refused path, no 500
# with proxy_pass http://$mj_upstream); with mj_cors an allowed Origin gets
# the CORS headers on the preflight and on every answer, errors included.
use Test::Nginx::Socket 'no_plan';
use FindBin;
use lib "$FindBin::Bin/lib";
use MJTest;

no_shuffle();
add_block_preprocessor(\&MJTest::defaults);

our $Loc = $MJTest::LOC;
our $Alice = "Authorization: Bearer $KEY{alice}";
our $App = "Origin: https://app.example.com";
our $Unknown = qq[{"code":3,"description":"unknown endpoint"}\n];

our $Cors = <<'_EOC_';
    location /mj/ {
        mj_gateway zone=mj;
        mj_cors https://app.example.com https://admin.example.com;
        proxy_pass http://mjsim;
    }
    location /sim/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SIM_PORT/_sim/;
    }
_EOC_

run_tests();

__DATA__

=== TEST 1: a preflight of an endpoint: 204 from the gateway, never relayed
--- config eval: $::Loc
--- request eval
["POST /sim/reset", "OPTIONS /mj/submit/imagine", "OPTIONS /mj/task/123/fetch",
 "OPTIONS /mj/submit/action", "GET /sim/seen?s=OPTIONS"]
--- error_code eval
[200, 204, 204, 204, 200]
--- response_headers eval
["", "Allow: POST, OPTIONS", "Allow: GET, OPTIONS", "Allow: POST, OPTIONS", ""]
--- response_body eval
['{"ok":true}', "", "", "", '{"seen":0}']



=== TEST 2: without mj_cors, no CORS headers
--- config eval: $::Loc
--- more_headers eval: $::App
--- request
OPTIONS /mj/submit/imagine
--- error_code: 204
--- response_headers
!Access-Control-Allow-Origin
!Access-Control-Allow-Methods



=== TEST 3: a preflight of a refused path gets the same 404 as any method
--- config eval: $::Loc
--- request eval
["OPTIONS /mj/task/list", "OPTIONS /mj/account/list", "OPTIONS /mj/nothing", "GET /sim/seen?s=OPTIONS"]
--- error_code eval
[404, 404, 404, 200]
--- response_body eval
[$::Unknown, $::Unknown, $::Unknown, '{"seen":0}']



=== TEST 4: proxy_pass http://$mj_upstream: a preflight is a 204, not a 500
--- config
    location /mj/ {
        mj_gateway zone=mj;
        proxy_pass http://$mj_upstream;
    }
--- request eval
["OPTIONS /mj/submit/imagine", "OPTIONS /mj/task/list"]
--- error_code eval
[204, 404]



=== TEST 5: mj_cors: an allowed origin's preflight
--- config eval: $::Cors
--- more_headers eval: $::App
--- request
OPTIONS /mj/submit/imagine
--- error_code: 204
--- response_headers
Allow: POST, OPTIONS
Access-Control-Allow-Origin: https://app.example.com
Access-Control-Allow-Methods: POST, OPTIONS
Access-Control-Allow-Headers: Authorization, mj-api-secret, Content-Type
Access-Control-Max-Age: 86400
Vary: Origin



=== TEST 6: another origin gets none of them
--- config eval: $::Cors
--- more_headers
Origin: https://evil.example.com
--- request
OPTIONS /mj/task/1/fetch
--- error_code: 204
--- response_headers
Allow: GET, OPTIONS
!Access-Control-Allow-Origin
!Access-Control-Allow-Methods



=== TEST 7: every answer to an allowed origin carries it: relayed, refused, unauthorized
--- config eval: $::Cors
--- more_headers eval
["$::App\r\n$::Alice", "$::App\r\n$::Alice", $::App, "Origin: https://admin.example.com\r\n$::Alice"]
--- request eval
["POST /mj/submit/imagine\n{\"prompt\":\"cors\"}", "GET /mj/task/1/fetch", "GET /mj/task/1/fetch",
 "GET /mj/task/list"]
--- error_code eval
[200, 404, 401, 404]
--- response_headers eval
["Access-Control-Allow-Origin: https://app.example.com\nAccess-Control-Expose-Headers: RateLimit, RateLimit-Policy, Retry-After\nVary: Origin",
 "Access-Control-Allow-Origin: https://app.example.com",
 "Access-Control-Allow-Origin: https://app.example.com",
 "Access-Control-Allow-Origin: https://admin.example.com"]



=== TEST 8: mj_cors *: any origin, no Vary
--- config
    location /mj/ {
        mj_gateway zone=mj;
        mj_cors *;
        proxy_pass http://mjsim;
    }
--- more_headers eval
["Origin: https://anywhere.example\r\n$::Alice", "Origin: https://anywhere.example"]
--- request eval
["GET /mj/task/1/fetch", "OPTIONS /mj/submit/blend"]
--- error_code eval
[404, 204]
--- response_headers eval
["Access-Control-Allow-Origin: *\n!Vary", "Access-Control-Allow-Origin: *\nAccess-Control-Allow-Methods: POST, OPTIONS"]



=== TEST 9: an origin with a path is a configuration error
--- config
    location /mj/ {
        mj_gateway zone=mj;
        mj_cors https://app.example.com/ui;
        proxy_pass http://mjsim;
    }
--- must_die
--- error_log
invalid origin "https://app.example.com/ui": "*" alone, or origins like "https://app.example.com"
