# Every endpoint of the contract is relayed; everything else is refused
# before the upstream is contacted.
use Test::Nginx::Socket 'no_plan';
use FindBin;
use lib "$FindBin::Bin/lib";
use MJTest;

no_shuffle();
add_block_preprocessor(\&MJTest::defaults);

# the endpoints that name a task are relayed in 006-ownership.t (the
# caller's own column) and run their whole flows in 020-flow.t
our $Img = 'data:image/png;base64,iVBORw0KGgo=';

our $Loc = <<'_EOC_';
    location /mj/ {
        mj_gateway zone=mj;
        add_header X-MJ-Action $mj_action always;
        add_header X-MJ-Task $mj_task_id always;
        proxy_pass http://mjsim;
    }
    location ~ ^/mj-(fast|relax|turbo)/mj/ {
        mj_gateway zone=mj;
        add_header X-MJ-Action $mj_action always;
        proxy_pass http://mjsim;
    }
    location /strip/ {
        mj_gateway zone=mj;
        rewrite ^/strip/mj-(?:fast|relax|turbo)(/mj/.*)$ $1 break;
        proxy_pass http://mjsim;
    }
    location /sim/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SIM_PORT/_sim/;
    }
_EOC_

sub relay {
    my ($method, $path, $body) = @_;
    my $req = "$method $path";
    $req .= "\n$body" if defined $body;
    return [$req, "GET /sim/last"];
}

run_tests();

__DATA__

=== TEST 1: imagine
--- config eval: $::Loc
--- more_headers eval
["Authorization: Bearer mj-alice-0123456789abcdef", ""]
--- request eval
::relay(POST => "/mj/submit/imagine", '{"prompt":"a red fox"}')
--- response_body_like eval
[qr/^\{"code":\s*1,.*"result":\s*"\d+"/s, qr{"method":\s*"POST".*"path":\s*"/mj/submit/imagine"}s]
--- response_headers eval
["X-MJ-Action: imagine", ""]



=== TEST 2: blend
--- config eval: $::Loc
--- more_headers eval
["Authorization: Bearer mj-alice-0123456789abcdef", ""]
--- request eval
::relay(POST => "/mj/submit/blend", qq({"base64Array":["$::Img","$::Img"],"dimensions":"SQUARE"}))
--- response_body_like eval
[qr/^\{"code":\s*1,/, qr{"path":\s*"/mj/submit/blend"}]



=== TEST 3: describe
--- config eval: $::Loc
--- more_headers eval
["Authorization: Bearer mj-alice-0123456789abcdef", ""]
--- request eval
::relay(POST => "/mj/submit/describe", qq({"base64":"$::Img"}))
--- response_body_like eval
[qr/^\{"code":\s*1,/, qr{"path":\s*"/mj/submit/describe"}]



=== TEST 4: shorten
--- config eval: $::Loc
--- more_headers eval
["Authorization: Bearer mj-alice-0123456789abcdef", ""]
--- request eval
::relay(POST => "/mj/submit/shorten", '{"prompt":"a long prompt about a harbour at dawn"}')
--- response_body_like eval
[qr/^\{"code":\s*1,/, qr{"path":\s*"/mj/submit/shorten"}]



=== TEST 5: upload-discord-images
--- config eval: $::Loc
--- more_headers eval
["Authorization: Bearer mj-alice-0123456789abcdef", ""]
--- request eval
::relay(POST => "/mj/submit/upload-discord-images", qq({"base64Array":["$::Img"]}))
--- response_body_like eval
[qr/^\{"code":\s*1,.*"result":\s*\[/s, qr{"path":\s*"/mj/submit/upload-discord-images"}]



=== TEST 6: insight-face swap
--- config eval: $::Loc
--- more_headers eval
["Authorization: Bearer mj-alice-0123456789abcdef", ""]
--- request eval
::relay(POST => "/mj/insight-face/swap", qq({"sourceBase64":"$::Img","targetBase64":"$::Img"}))
--- response_body_like eval
[qr/^\{"code":\s*1,/, qr{"path":\s*"/mj/insight-face/swap"}]
--- response_headers eval
["X-MJ-Action: swap", ""]



=== TEST 7: edits
--- config eval: $::Loc
--- more_headers eval
["Authorization: Bearer mj-alice-0123456789abcdef", ""]
--- request eval
::relay(POST => "/mj/submit/edits", qq({"prompt":"make it blue","image":"$::Img"}))
--- response_body_like eval
[qr/^\{"code":\s*1,/, qr{"path":\s*"/mj/submit/edits"}]



=== TEST 8: video
--- config eval: $::Loc
--- more_headers eval
["Authorization: Bearer mj-alice-0123456789abcdef", ""]
--- request eval
::relay(POST => "/mj/submit/video", qq({"prompt":"waves","image":"$::Img"}))
--- response_body_like eval
[qr/^\{"code":\s*1,/, qr{"path":\s*"/mj/submit/video"}]



=== TEST 9: speed-mode prefix forwarded as it is
--- config eval: $::Loc
--- more_headers eval
["Authorization: Bearer mj-alice-0123456789abcdef", ""]
--- request eval
::relay(POST => "/mj-relax/mj/submit/imagine", '{"prompt":"slow"}')
--- response_body_like eval
[qr/^\{"code":\s*1,/, qr{"path":\s*"/mj-relax/mj/submit/imagine"}]
--- response_headers eval
["X-MJ-Action: imagine", ""]



=== TEST 10: speed-mode prefix stripped by the operator's rewrite
--- config eval: $::Loc
--- more_headers eval
["Authorization: Bearer mj-alice-0123456789abcdef", ""]
--- request eval
::relay(POST => "/strip/mj-turbo/mj/submit/imagine", '{"prompt":"turbo"}')
--- response_body_like eval
[qr/^\{"code":\s*1,/, qr{"path":\s*"/mj/submit/imagine"}]



=== TEST 11: the normalized path is relayed, not the raw request line
--- config eval: $::Loc
--- more_headers eval
["Authorization: Bearer mj-alice-0123456789abcdef", ""]
--- request eval
::relay(POST => "/mj//submit/./imagine", '{"prompt":"dots"}')
--- response_body_like eval
[qr/^\{"code":\s*1,/, qr{"path":\s*"/mj/submit/imagine"}]



=== TEST 12: every user's tasks and the accounts are refused without contacting the upstream
--- config eval: $::Loc
--- more_headers eval
["", "Authorization: Bearer mj-alice-0123456789abcdef",
 "Authorization: Bearer mj-alice-0123456789abcdef",
 "Authorization: Bearer mj-alice-0123456789abcdef",
 "Authorization: Bearer mj-alice-0123456789abcdef", ""]
--- request eval
["POST /sim/reset", "GET /mj/task/list", "GET /mj/task/queue",
 "GET /mj/account/list", "GET /mj-fast/mj/account/list", "GET /sim/requests"]
--- error_code eval
[200, 404, 404, 404, 404, 200]
--- response_body eval
['{"ok":true}',
 qq[{"code":3,"description":"unknown endpoint"}\n],
 qq[{"code":3,"description":"unknown endpoint"}\n],
 qq[{"code":3,"description":"unknown endpoint"}\n],
 qq[{"code":3,"description":"unknown endpoint"}\n],
 '[]']



=== TEST 13: paths outside the contract are refused
--- config eval: $::Loc
--- more_headers
Authorization: Bearer mj-alice-0123456789abcdef
--- request eval
["GET /mj/", "GET /mj/submit", "POST /mj/submit/imagine/x", "GET /mj/task/123/status",
 "POST /mj/insight-face/other", "GET /mj/task/123/fetch/more", "POST /mj/submit/IMAGINE"]
--- error_code eval
[404, 404, 404, 404, 404, 404, 404]
--- response_body eval
[(qq[{"code":3,"description":"unknown endpoint"}\n]) x 7]



=== TEST 14: wrong methods get 405 with Allow
--- config eval: $::Loc
--- more_headers
Authorization: Bearer mj-alice-0123456789abcdef
--- request eval
["GET /mj/submit/imagine", "POST /mj/task/123/fetch", "DELETE /mj/task/123/fetch",
 "GET /mj/task/123/cancel", "PUT /mj/task/list-by-condition"]
--- error_code eval
[405, 405, 405, 405, 405]
--- response_headers eval
["Allow: POST, OPTIONS", "Allow: GET, OPTIONS", "Allow: GET, OPTIONS",
 "Allow: POST, OPTIONS", "Allow: POST, OPTIONS"]
--- response_body eval
[(qq[{"code":4,"description":"method not allowed for this endpoint"}\n]) x 5]



=== TEST 15: malformed task ids get 400
--- config eval: $::Loc
--- more_headers
Authorization: Bearer mj-alice-0123456789abcdef
--- request eval
["GET /mj/task/" . ("1" x 65) . "/fetch", "GET /mj/task/a.b/fetch",
 "GET /mj/task/a%20b/image-seed", "POST /mj/task/%C3%A9/cancel", "GET /mj/task//fetch"]
--- error_code eval
[400, 400, 400, 400, 404]
--- response_body eval
[(qq[{"code":4,"description":"invalid task id: 1 to 64 characters of A-Z, a-z, 0-9, \\"_\\" and \\"-\\""}\n]) x 4,
 qq[{"code":3,"description":"unknown endpoint"}\n]]



=== TEST 16: a 64-character id is fine
--- config eval: $::Loc
--- more_headers
Authorization: Bearer mj-alice-0123456789abcdef
--- request eval
"GET /mj/task/" . ("A_-9" x 16) . "/fetch"
--- error_code: 404
--- response_body_like chomp
"code":\s*3



=== TEST 17: OPTIONS goes on to the location's own handling (CORS preflight), keyless
--- config
    location /mj/ {
        mj_gateway zone=mj;
        if ($request_method = OPTIONS) {
            add_header Access-Control-Allow-Origin "*";
            add_header Access-Control-Allow-Headers "Authorization, mj-api-secret, Content-Type";
            return 204;
        }
        proxy_pass http://mjsim;
    }
--- request
OPTIONS /mj/submit/imagine
--- error_code: 204
--- response_headers
Access-Control-Allow-Origin: *
