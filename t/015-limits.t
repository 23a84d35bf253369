# Per-user limits: exact burst boundaries, polling apart from submits, the
# cap on unfinished tasks, the daily quota with costs, allowed actions,
# failed key checks per address, the headers, the status endpoint.  nginx
# runs on a frozen fake clock (t/lib/MJClock.pm), so that no bucket refills
# between two requests and the times in RateLimit are exact, however slowly
# the requests go; the UTC day never turns either.
use Test::Nginx::Socket 'no_plan';
use FindBin;
use lib "$FindBin::Bin/lib";
use MJTest;
use MJClock;
use Digest::SHA qw(sha256_hex);

no_shuffle();
our $Clock = MJClock->new('2026-06-15 12:00:00')
    or die "libfaketime is not installed: run make deps\n";
$Clock->export;
add_block_preprocessor(sub {
    my ($block) = @_;
    MJTest::defaults($block);
    $block->set_value('main_config', $Clock->main_config);
});

sim_config({queue_slots => 100000});

our $Alice = "Authorization: Bearer $KEY{alice}";
our $Bob = "Authorization: Bearer $KEY{bob}";
our $Rate = qq[{"code":23,"description":"too many requests: the rate limit is reached"}\n];
our $Tasks = qq[{"code":23,"description":"too many unfinished tasks: wait for one to finish"}\n];
our $Quota = qq[{"code":23,"description":"the daily quota is used up"}\n];
our $Action = qq[{"code":4,"description":"this action is not allowed for this key"}\n];
our $Imagine = "POST /mj/submit/imagine\n{\"prompt\":\"stuck in a limit test\"}";
our $Shorten = "POST /mj/submit/shorten\n{\"prompt\":\"a long prompt to shorten\"}";

# users with their own settings, in a users file of the block's own
our $Users = join '', map { "$_\n" }
    "alice " . sha256_hex($KEY{alice}) . " main",
    "bob " . sha256_hex($KEY{bob}) . " main rate=1r/m burst=0 actions=IMAGINE quota=5",
    "carol " . sha256_hex($KEY{carol}) . " main",
    "dave " . sha256_hex($KEY{dave}) . " main actions=IMAGINE,UPSCALE";
our $Dave = "Authorization: Bearer $KEY{dave}";

# each block has a zone of its own: in HUP mode zones (and their counters)
# live on from block to block
sub http {
    my ($zone) = @_;
    return <<"_EOC_";
    mj_users ../html/users;
    mj_upstream_keys \$TEST_NGINX_MJ_DIR/keys;
    mj_zone zone=$zone:1m state=off;
    upstream mjsim {
        server 127.0.0.1:\$TEST_NGINX_SIM_PORT;
    }
_EOC_
}

run_tests();

__DATA__

=== TEST 1: submits: exactly 1 + burst pass, then 429 with Retry-After
--- http_config eval: ::http("lim1")
--- user_files eval: [[users => $::Users]]
--- config
    location /mj/ {
        mj_gateway zone=lim1;
        mj_limit_submit rate=2r/m burst=2;
        proxy_pass http://mjsim;
    }
--- more_headers eval: $::Alice
--- request eval
[($::Imagine) x 4]
--- error_code eval
[200, 200, 200, 429]
--- response_body eval
[qr/"code":\s*1,/, qr/"code":\s*1,/, qr/"code":\s*1,/, $::Rate]
--- response_headers eval
["RateLimit-Policy: \"submit\";q=3;w=91", "", "", "Content-Type: application/json"]
--- raw_response_headers_like eval
[qr/\r\nRateLimit: "submit";r=2;t=3\d\r\n/, qr/\r\nRateLimit: "submit";r=1;t=6\d\r\n/,
 qr/\r\nRateLimit: "submit";r=0;t=9\d\r\n/,
 qr/(?=.*\r\nRetry-After: [1-9]\d*\r\n)(?=.*\r\nRateLimit: "submit";r=0;)/s]



=== TEST 2: polling has its own bucket: submits do not starve it, and back
--- http_config eval: ::http("lim2")
--- user_files eval: [[users => $::Users]]
--- config
    location /mj/ {
        mj_gateway zone=lim2;
        mj_limit_submit rate=1r/m burst=0;
        mj_limit_poll rate=1r/m burst=1;
        proxy_pass http://mjsim;
    }
--- more_headers eval: $::Alice
--- request eval
[$::Imagine, $::Imagine, "GET /mj/task/1/fetch", "GET /mj/task/2/fetch", "GET /mj/task/3/fetch", $::Imagine]
--- error_code eval
[200, 429, 404, 404, 429, 429]
--- response_body eval
[qr/"code":\s*1,/, $::Rate, qr/"code":3/, qr/"code":3/, $::Rate, $::Rate]



=== TEST 3: the users file overrides the defaults per user
--- http_config eval: ::http("lim3")
--- user_files eval: [[users => $::Users]]
--- config
    location /mj/ {
        mj_gateway zone=lim3;
        mj_limit_submit rate=10r/m burst=5;
        proxy_pass http://mjsim;
    }
--- more_headers eval
[$::Bob, $::Bob, $::Alice, $::Alice]
--- request eval
[$::Imagine, $::Imagine, $::Imagine, $::Imagine]
--- error_code eval
[200, 429, 200, 200]



=== TEST 4: a user's list of allowed actions
--- http_config eval: ::http("lim4")
--- user_files eval: [[users => $::Users]]
--- config
    location /mj/ {
        mj_gateway zone=lim4;
        proxy_pass http://mjsim;
    }
--- more_headers eval
[$::Bob, $::Bob, $::Alice]
--- request eval
[$::Shorten, "POST /mj/submit/blend\n{\"base64Array\":[\"data:image/png;base64,AA==\",\"data:image/png;base64,AA==\"]}", $::Shorten]
--- error_code eval
[403, 403, 200]
--- response_body eval
[$::Action, $::Action, qr/"code":\s*1,/]



=== TEST 4b: the action is read from the endpoint's own field only
--- http_config eval: ::http("lim4b")
--- user_files eval: [[users => $::Users]]
--- config
    location /mj/ {
        mj_gateway zone=lim4b;
        proxy_pass http://mjsim;
    }
--- more_headers eval
["$::Dave\r\nX-Sim-Task-Id: 1799000000000101", $::Dave, $::Dave, $::Dave]
--- request eval
[$::Imagine,
 qq(POST /mj/submit/change\n{"taskId":"1799000000000101","action":"VARIATION","index":1,"customId":"MJ::JOB::upsample::1::x"}),
 qq(POST /mj/submit/simple-change\n{"content":"1799000000000101 V2","customId":"MJ::JOB::upsample::1::x"}),
 qq(POST /mj/submit/change\n{"taskId":"1799000000000101","action":"UPSCALE","index":1})]
--- error_code eval
[200, 403, 403, 200]
--- response_body eval
[qr/"code":\s*1,/, $::Action, $::Action, qr/"code":\s*\d+/]



=== TEST 5: the cap on unfinished tasks; a task seen finished frees its place
--- http_config eval: ::http("lim5")
--- user_files eval: [[users => $::Users]]
--- config
    location /mj/ {
        mj_gateway zone=lim5;
        mj_limit_tasks 2;
        proxy_pass http://mjsim;
    }
--- more_headers eval
["$::Alice\r\nX-Sim-Task-Id: 1799000000000001", $::Alice, $::Alice, $::Alice, $::Alice, $::Alice, $::Bob]
--- request eval
[$::Imagine, $::Imagine, $::Imagine, "POST /mj/task/1799000000000001/cancel\n{}",
 "GET /mj/task/1799000000000001/fetch", $::Imagine, $::Imagine]
--- error_code eval
[200, 200, 429, 200, 200, 200, 200]
--- response_body eval
[qr/"code":\s*1,/, qr/"code":\s*1,/, $::Tasks, qr/"code":\s*1/, qr/"status":\s*"CANCEL"/,
 qr/"code":\s*1,/, qr/"code":\s*1,/]



=== TEST 6: the daily quota with costs; refused and failed submits cost nothing
--- http_config eval: ::http("lim6")
--- user_files eval: [[users => $::Users]]
--- config
    location /mj/ {
        mj_gateway zone=lim6;
        mj_quota 3;
        mj_quota_cost IMAGINE=2 SHORTEN=1;
        proxy_pass http://mjsim;
    }
--- more_headers eval
[$::Alice, $::Alice, "$::Alice\r\nX-Sim-Mode: json500", $::Alice, $::Alice, $::Alice]
--- request eval
[$::Imagine, "POST /mj/submit/shorten\n{\"prompt\":\"some gore\"}", $::Shorten, $::Imagine, $::Shorten, $::Shorten]
--- error_code eval
[200, 200, 502, 429, 200, 429]
--- response_body eval
[qr/"code":\s*1,/, qr/"code":\s*24,/, qr/"code":9/, $::Quota, qr/"code":\s*1,/, $::Quota]
--- raw_response_headers_like eval
[qr/RateLimit-Policy: "quota";q=3;w=86400\r\nRateLimit: "quota";r=1;t=\d+\r\n/,
 qr/RateLimit: "quota";r=\d;/, qr/HTTP/, qr/Retry-After: \d+\r\n/, qr/RateLimit: "quota";r=0;/, qr/Retry-After: \d+/]



=== TEST 7: the refusal status is configurable, as limit_req_status is
--- http_config eval: ::http("lim7")
--- user_files eval: [[users => $::Users]]
--- config
    location /mj/ {
        mj_gateway zone=lim7;
        mj_limit_submit rate=1r/m;
        mj_limit_status 503;
        proxy_pass http://mjsim;
    }
--- more_headers eval: $::Alice
--- request eval
[$::Imagine, $::Imagine]
--- error_code eval
[200, 503]
--- response_body eval
[qr/"code":\s*1,/, $::Rate]



=== TEST 8: guessing keys: failures per address are limited, then even a good key waits
--- http_config eval: ::http("lim8")
--- user_files eval: [[users => $::Users]]
--- config
    location /mj/ {
        mj_gateway zone=lim8;
        mj_limit_auth rate=1r/m burst=2;
        mj_auth_log_level warn;
        proxy_pass http://mjsim;
    }
--- more_headers eval
["Authorization: Bearer guess-1", "Authorization: Bearer guess-2", "Authorization: Bearer guess-3",
 "Authorization: Bearer guess-4", $::Alice]
--- request eval
[("GET /mj/task/1/fetch") x 5]
--- error_code eval
[401, 401, 401, 429, 429]
--- response_body eval
[(qq[{"code":4,"description":"invalid API key"}\n]) x 3,
 (qq[{"code":23,"description":"too many failed key checks: try again later"}\n]) x 2]
--- no_error_log
guess-



=== TEST 8b: each address has a counter of its own, even two whose slots once were one
(127.0.0.54 and 127.0.0.102 share the low byte of their text's CRC-32, which
was the slot of a table keyed by a hash: a failure from one reset the other)
--- http_config eval: ::http("lim8b")
--- user_files eval: [[users => $::Users]]
--- config
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Real-IP;
    location /mj/ {
        mj_gateway zone=lim8b;
        mj_limit_auth rate=1r/m burst=2;
        proxy_pass http://mjsim;
    }
--- more_headers eval
[(map { "X-Real-IP: 127.0.0.54\r\nAuthorization: Bearer guess-$_" } 1 .. 4),
 "X-Real-IP: 127.0.0.102\r\nAuthorization: Bearer guess-5",
 "X-Real-IP: 127.0.0.54\r\nAuthorization: Bearer guess-6",
 "X-Real-IP: 127.0.0.102\r\nAuthorization: Bearer guess-7",
 "X-Real-IP: ::ffff:127.0.0.54\r\nAuthorization: Bearer guess-8",
 "X-Real-IP: 2001:db8::54\r\nAuthorization: Bearer guess-9"]
--- request eval
[("GET /mj/task/1/fetch") x 9]
--- error_code eval
[401, 401, 401, 429, 401, 429, 401, 429, 401]



=== TEST 9: failed key checks are logged at the level the operator chooses
--- http_config eval: ::http("lim9")
--- user_files eval: [[users => $::Users]]
--- config
    location /mj/ {
        mj_gateway zone=lim9;
        mj_auth_log_level warn;
        proxy_pass http://mjsim;
    }
--- more_headers
Authorization: Bearer guess-5
--- request
GET /mj/task/1/fetch
--- error_code: 401
--- error_log
[warn]
mj: unknown API key refused
--- no_error_log
guess-5



=== TEST 10: the status endpoint: JSON and Prometheus
--- http_config eval: ::http("lim10")
--- user_files eval: [[users => $::Users]]
--- config
    location /mj/ {
        mj_gateway zone=lim10;
        mj_limit_submit rate=1r/m;
        proxy_pass http://mjsim;
    }
    location = /mj-status {
        allow 127.0.0.1;
        deny all;
        mj_quota 100;
        mj_status zone=lim10;
    }
--- more_headers eval
[$::Alice, $::Alice, "", ""]
--- request eval
[$::Imagine, $::Imagine, "GET /mj-status", "GET /mj-status?format=prometheus"]
--- error_code eval
[200, 429, 200, 200]
--- response_body eval
[qr/"code":\s*1,/, $::Rate,
 qr/^\{"zones":\[\{"name":"lim10","size":1048576,"capacity":\d+,"tasks":1,"finished":0,"reserved":0,"evicted":0,"refused":0,"users":\d+\}\],"users":\[\{"name":"alice","requests":2,"submits":1,"rejected":\{"rate":1,"tasks":0,"quota":0,"action":0\},"unfinished":1,"tracked":1,"quota":\{"used":0,"limit":100,"left":100\}\},\{"name":"bob",.*\{"name":"carol","requests":0,.*"quota":\{"used":0,"limit":100,"left":100\}\}\]\}$/s,
 qr/mj_zone_tasks\{zone="lim10"\} 1\n.*mj_user_requests_total\{user="alice"\} 2\n.*mj_user_rejected_total\{user="alice",cause="rate"\} 1\n.*mj_user_quota_left\{user="alice"\} 100\n/s]
