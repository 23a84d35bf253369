# Every endpoint of the contract is relayed; everything else is refused
# before the upstream is contacted.
use Test::Nginx::Socket 'no_plan';
use FindBin;
use lib "$FindBin::Bin/lib";
use MJTest;

no_shuffle();
add_block_preprocessor(\&MJTest::defaults);

# tasks made directly on the simulated upstream, for follow-ups
my $img = 'data:image/png;base64,iVBORw0KGgo=';
our $Parent = sim_post('/mj/submit/imagine', {prompt => 'parent'})->{result};
sim_wait_status($Parent, 'SUCCESS', 20) or die "parent did not finish";
our ($U1) = map { $_->{customId} } grep { $_->{label} eq 'U1' }
            @{ sim_get("/mj/task/$Parent/fetch")->{buttons} };
our $Cancel = sim_post('/mj/submit/imagine', {prompt => 'to cancel'})->{result};
our $Img = $img;

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



=== TEST 2: action on a finished task
--- config eval: $::Loc
--- more_headers eval
["Authorization: Bearer mj-alice-0123456789abcdef", ""]
--- request eval
::relay(POST => "/mj/submit/action", qq({"taskId":"$::Parent","customId":"$::U1"}))
--- response_body_like eval
[qr/^\{"code":\s*1,/, qr{"path":\s*"/mj/submit/action"}]
--- response_headers eval
["X-MJ-Action: action", ""]



=== TEST 3: blend
--- config eval: $::Loc
--- more_headers eval
["Authorization: Bearer mj-alice-0123456789abcdef", ""]
--- request eval
::relay(POST => "/mj/submit/blend", qq({"base64Array":["$::Img","$::Img"],"dimensions":"SQUARE"}))
--- response_body_like eval
[qr/^\{"code":\s*1,/, qr{"path":\s*"/mj/submit/blend"}]



=== TEST 4: describe
--- config eval: $::Loc
--- more_headers eval
["Authorization: Bearer mj-alice-0123456789abcdef", ""]
--- request eval
::relay(POST => "/mj/submit/describe", qq({"base64":"$::Img"}))
--- response_body_like eval
[qr/^\{"code":\s*1,/, qr{"path":\s*"/mj/submit/describe"}]



=== TEST 5: modal (relayed; the simulated upstream says the task is not in MODAL)
--- config eval: $::Loc
--- more_headers eval
["Authorization: Bearer mj-alice-0123456789abcdef", ""]
--- request eval
::relay(POST => "/mj/submit/modal", qq({"taskId":"$::Parent","prompt":"more"}))
--- response_body_like eval
[qr/"code":\s*4/, qr{"path":\s*"/mj/submit/modal"}]



=== TEST 6: shorten
--- config eval: $::Loc
--- more_headers eval
["Authorization: Bearer mj-alice-0123456789abcdef", ""]
--- request eval
::relay(POST => "/mj/submit/shorten", '{"prompt":"a long prompt about a harbour at dawn"}')
--- response_body_like eval
[qr/^\{"code":\s*1,/, qr{"path":\s*"/mj/submit/shorten"}]



=== TEST 7: change
--- config eval: $::Loc
--- more_headers eval
["Authorization: Bearer mj-alice-0123456789abcdef", ""]
--- request eval
::relay(POST => "/mj/submit/change", qq({"taskId":"$::Parent","action":"UPSCALE","index":2}))
--- response_body_like eval
[qr/^\{"code":\s*1,/, qr{"path":\s*"/mj/submit/change"}]



=== TEST 8: simple-change
--- config eval: $::Loc
--- more_headers eval
["Authorization: Bearer mj-alice-0123456789abcdef", ""]
--- request eval
::relay(POST => "/mj/submit/simple-change", qq({"content":"$::Parent U3"}))
--- response_body_like eval
[qr/^\{"code":\s*1,/, qr{"path":\s*"/mj/submit/simple-change"}]



=== TEST 9: upload-discord-images
--- config eval: $::Loc
--- more_headers eval
["Authorization: Bearer mj-alice-0123456789abcdef", ""]
--- request eval
::relay(POST => "/mj/submit/upload-discord-images", qq({"base64Array":["$::Img"]}))
--- response_body_like eval
[qr/^\{"code":\s*1,.*"result":\s*\[/s, qr{"path":\s*"/mj/submit/upload-discord-images"}]



=== TEST 10: insight-face swap
--- config eval: $::Loc
--- more_headers eval
["Authorization: Bearer mj-alice-0123456789abcdef", ""]
--- request eval
::relay(POST => "/mj/insight-face/swap", qq({"sourceBase64":"$::Img","targetBase64":"$::Img"}))
--- response_body_like eval
[qr/^\{"code":\s*1,/, qr{"path":\s*"/mj/insight-face/swap"}]
--- response_headers eval
["X-MJ-Action: swap", ""]



=== TEST 11: edits
--- config eval: $::Loc
--- more_headers eval
["Authorization: Bearer mj-alice-0123456789abcdef", ""]
--- request eval
::relay(POST => "/mj/submit/edits", qq({"prompt":"make it blue","image":"$::Img"}))
--- response_body_like eval
[qr/^\{"code":\s*1,/, qr{"path":\s*"/mj/submit/edits"}]



=== TEST 12: video
--- config eval: $::Loc
--- more_headers eval
["Authorization: Bearer mj-alice-0123456789abcdef", ""]
--- request eval
::relay(POST => "/mj/submit/video", qq({"prompt":"waves","image":"$::Img"}))
--- response_body_like eval
[qr/^\{"code":\s*1,/, qr{"path":\s*"/mj/submit/video"}]



=== TEST 13: fetch
--- config eval: $::Loc
--- more_headers eval
["Authorization: Bearer mj-alice-0123456789abcdef", ""]
--- request eval
::relay(GET => "/mj/task/$::Parent/fetch")
--- response_body_like eval
[qr/"id":\s*"$::Parent".*"status":\s*"SUCCESS"/s, qr{"path":\s*"/mj/task/$::Parent/fetch"}]
--- response_headers eval
["X-MJ-Action: fetch\nX-MJ-Task: $::Parent", ""]



=== TEST 14: list-by-condition
--- config eval: $::Loc
--- more_headers eval
["Authorization: Bearer mj-alice-0123456789abcdef", ""]
--- request eval
::relay(POST => "/mj/task/list-by-condition", qq({"ids":["$::Parent","404"]}))
--- response_body_like eval
[qr/^\[\{.*"id":\s*"$::Parent"/s, qr{"path":\s*"/mj/task/list-by-condition"}]



=== TEST 15: image-seed
--- config eval: $::Loc
--- more_headers eval
["Authorization: Bearer mj-alice-0123456789abcdef", ""]
--- request eval
::relay(GET => "/mj/task/$::Parent/image-seed")
--- response_body_like eval
[qr/^\{"code":\s*1,.*"result":\s*"\d+"/s, qr{"path":\s*"/mj/task/$::Parent/image-seed"}]



=== TEST 16: cancel
--- config eval: $::Loc
--- more_headers eval
["Authorization: Bearer mj-alice-0123456789abcdef", ""]
--- request eval
::relay(POST => "/mj/task/$::Cancel/cancel", "")
--- response_body_like eval
[qr/"code":\s*1/, qr{"path":\s*"/mj/task/$::Cancel/cancel"}]
--- response_headers eval
["X-MJ-Action: cancel\nX-MJ-Task: $::Cancel", ""]



=== TEST 17: speed-mode prefix forwarded as it is
--- config eval: $::Loc
--- more_headers eval
["Authorization: Bearer mj-alice-0123456789abcdef", ""]
--- request eval
::relay(POST => "/mj-relax/mj/submit/imagine", '{"prompt":"slow"}')
--- response_body_like eval
[qr/^\{"code":\s*1,/, qr{"path":\s*"/mj-relax/mj/submit/imagine"}]
--- response_headers eval
["X-MJ-Action: imagine", ""]



=== TEST 18: speed-mode prefix stripped by the operator's rewrite
--- config eval: $::Loc
--- more_headers eval
["Authorization: Bearer mj-alice-0123456789abcdef", ""]
--- request eval
::relay(GET => "/strip/mj-turbo/mj/task/$::Parent/fetch")
--- response_body_like eval
[qr/"status":\s*"SUCCESS"/, qr{"path":\s*"/mj/task/$::Parent/fetch"}]



=== TEST 19: the normalized path is relayed, not the raw request line
--- config eval: $::Loc
--- more_headers eval
["Authorization: Bearer mj-alice-0123456789abcdef", ""]
--- request eval
::relay(GET => "/mj//task/./$::Parent/fetch")
--- response_body_like eval
[qr/"status":\s*"SUCCESS"/, qr{"path":\s*"/mj/task/$::Parent/fetch"}]



=== TEST 20: every user's tasks and the accounts are refused without contacting the upstream
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



=== TEST 21: paths outside the contract are refused
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



=== TEST 22: wrong methods get 405 with Allow
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



=== TEST 23: malformed task ids get 400
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



=== TEST 24: a 64-character id is fine
--- config eval: $::Loc
--- more_headers
Authorization: Bearer mj-alice-0123456789abcdef
--- request eval
"GET /mj/task/" . ("A_-9" x 16) . "/fetch"
--- error_code: 404
--- response_body_like chomp
"code":\s*3



=== TEST 25: OPTIONS goes on to the location's own handling (CORS preflight), keyless
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
