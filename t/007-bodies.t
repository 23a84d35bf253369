# Request bodies: callbacks and account choice stay with the operator, keys
# are matched the way upstreams bind them, bad bodies get a clear 400, and a
# rewritten body is what every try sends.
use Test::Nginx::Socket 'no_plan';
use FindBin;
use lib "$FindBin::Bin/lib";
use MJTest;

no_shuffle();
add_block_preprocessor(\&MJTest::defaults);

# the gateway in front of the simulated upstream, and its control endpoints
our $Loc = $MJTest::LOC;

our $Alice = "Authorization: Bearer $KEY{alice}";
our $Bob = "Authorization: Bearer $KEY{bob}";
# what the simulated upstream records of TEST 2's rebuilt body (UTF-8 as is)
our $Body2 = '"body":"{\"prompt\":\"d ' . "\xc3\xa9" . '\\\\\\"q\\\\\\"\",\"n\":12345678901234567890,'
           . '\"f\":-1.5e+300,\"a\":[true,null,{\"x\":[]}]}"';

my $base = 1710000000000000 + ($$ % 1000) * 1000;
sub id_for { $base + $_[0] }

run_tests();

__DATA__

=== TEST 1: notifyHook and accountFilter are removed, in any letter case
--- config eval: $::Loc
--- more_headers eval
["", $::Alice, $::Alice, $::Alice, "", "", ""]
--- request eval
["POST /sim/reset",
 qq(POST /mj/submit/imagine\n{"prompt":"a","notifyHook":"http://169.254.169.254/latest","state":"s1"}),
 qq(POST /mj/submit/imagine\n{"NOTIFYHOOK":"http://10.0.0.1/x","prompt":"b","AccountFilter":{"instanceId":"1"}}),
 qq(POST /mj/submit/imagine\n{"prompt":"c","notif\\u0079Hook":"http://127.0.0.1:22/"}),
 "GET /sim/seen?s=169.254.169.254", "GET /sim/seen?s=instanceId", "GET /sim/seen?s=127.0.0.1:22"]
--- response_body eval
['{"ok":true}', qr/"code":\s*1/, qr/"code":\s*1/, qr/"code":\s*1/,
 '{"seen":0}', '{"seen":0}', '{"seen":0}']



=== TEST 1b: what was removed is logged, without its value
--- config eval: $::Loc
--- more_headers eval: $::Alice
--- request
POST /mj/submit/imagine
{"prompt":"a","notifyHook":"http://169.254.169.254/latest","accountFilter":{}}
--- response_body_like: "code":\s*1
--- error_log
mj: removed notifyHook accountFilter from the body of "imagine"
--- no_error_log
169.254.169.254



=== TEST 2: the rest of a body a rewrite touched is kept, numbers exactly
--- config eval: $::Loc
--- more_headers eval
[$::Alice, ""]
--- request eval
[qq(POST /mj/submit/imagine\n{"prompt":"d \\u00e9\\"q\\"","n":12345678901234567890,"f":-1.5e+300,"a":[true,null,{"x":[]}],"notifyHook":"x"}),
 "GET /sim/last"]
--- response_body eval
[qr/"code":\s*1/, qr/\Q$::Body2\E/]



=== TEST 3: an allowed notifyHook prefix is kept, a look-alike host is not
--- config
    location /mj/ {
        mj_gateway zone=mj;
        mj_allow_notify_hook https://hooks.example.com/mj/;
        proxy_pass http://mjsim;
    }
    location /sim/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SIM_PORT/_sim/;
    }
--- more_headers eval
["", $::Alice, $::Alice, "", ""]
--- request eval
["POST /sim/reset",
 qq(POST /mj/submit/imagine\n{"prompt":"e","notifyHook":"https://hooks.example.com/mj/cb?u=1"}),
 qq(POST /mj/submit/imagine\n{"prompt":"f","notifyHook":"https://hooks.example.com.evil.net/mj/cb"}),
 "GET /sim/seen?s=https://hooks.example.com/mj/cb", "GET /sim/seen?s=evil.net"]
--- response_body eval
['{"ok":true}', qr/"code":\s*1/, qr/"code":\s*1/, '{"seen":1}', '{"seen":0}']



=== TEST 4: mj_allow_account_filter keeps accountFilter
--- config
    location /mj/ {
        mj_gateway zone=mj;
        mj_allow_account_filter on;
        proxy_pass http://mjsim;
    }
    location /sim/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SIM_PORT/_sim/;
    }
--- more_headers eval
["", $::Alice, ""]
--- request eval
["POST /sim/reset",
 qq(POST /mj/submit/imagine\n{"prompt":"g","accountFilter":{"remark":"kept-filter"}}),
 "GET /sim/seen?s=kept-filter"]
--- response_body eval
['{"ok":true}', qr/"code":\s*\d+/, '{"seen":1}']



=== TEST 5: a repeated key the gateway acts on is refused, in any case or spelling
--- config eval: $::Loc
--- more_headers eval
[$::Alice, $::Alice, $::Alice, $::Alice, $::Alice]
--- request eval
[qq(POST /mj/submit/action\n{"taskId":"1","customId":"c","TaskId":"2"}),
 qq(POST /mj/submit/action\n{"taskId":"1","customId":"c","customid":"d"}),
 qq(POST /mj/submit/imagine\n{"prompt":"h","notifyHook":"a","NotifyHook":"b"}),
 qq(POST /mj/task/list-by-condition\n{"ids":["1"],"IDS":["2"]}),
 qq(POST /mj/submit/simple-change\n{"content":"1 U1","c\\u006fntent":"2 U1"})]
--- error_code eval
[400, 400, 400, 400, 400]
--- response_body eval
[(qq[{"code":4,"description":"the body repeats a key the gateway acts on"}\n]) x 5]



=== TEST 6: taskId bound case-insensitively and after unescaping, as upstreams bind it
--- config eval: $::Loc
--- more_headers eval
["$::Alice\r\nX-Sim-Task-Id: ${\ ::id_for(1)}", $::Bob, $::Bob, $::Alice, ""]
--- request eval
["POST /mj/submit/imagine\n{\"prompt\":\"owned by alice\"}",
 qq(POST /mj/submit/action\n{"TASKID":"${\ ::id_for(1)}","customId":"MJ::JOB::upsample::1::h"}),
 qq(POST /mj/submit/action\n{"task\\u0049d":"${\ ::id_for(1)}","customId":"MJ::JOB::upsample::1::h"}),
 qq(POST /mj/submit/action\n{"TaskId":"${\ ::id_for(1)}","customId":"MJ::JOB::upsample::1::h"}),
 "GET /sim/seen?s=${\ ::id_for(1)}"]
--- error_code eval
[200, 404, 404, 200, 200]
--- response_body eval
[qr/"code":\s*1/, qq[{"code":3,"description":"task not found"}\n],
 qq[{"code":3,"description":"task not found"}\n], qr/"code":\s*\d/, '{"seen":2}']



=== TEST 7: bad bodies get a clear 400 and create nothing
--- config eval: $::Loc
--- more_headers eval
[($::Alice) x 11, ""]
--- request eval
["POST /sim/reset",
 "POST /mj/submit/imagine\n{\"prompt\": \"unterminated",
 "POST /mj/submit/imagine\n[\"an\", \"array\"]",
 "POST /mj/submit/imagine\n{\"prompt\":\"x\"} {\"prompt\":\"y\"}",
 "POST /mj/submit/action\n{\"taskId\":12,\"customId\":\"c\"}",
 "POST /mj/submit/action\n{\"customId\":\"c\"}",
 "POST /mj/task/list-by-condition\n{\"ids\":\"1\"}",
 "POST /mj/task/list-by-condition\n{\"ids\":[1]}",
 "POST /mj/submit/modal\n{\"taskId\":\"" . ("9" x 65) . "\"}",
 "POST /mj/submit/simple-change\n{\"content\":\"\"}",
 "POST /mj/submit/imagine",
 "GET /sim/requests"]
--- error_code eval
[200, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 200]
--- response_body eval
['{"ok":true}',
 qq[{"code":4,"description":"the body is not JSON"}\n],
 qq[{"code":4,"description":"the body must be a JSON object"}\n],
 qq[{"code":4,"description":"the body is not JSON"}\n],
 qq[{"code":4,"description":"taskId must be a string"}\n],
 qq[{"code":4,"description":"taskId is required"}\n],
 qq[{"code":4,"description":"ids must be an array of strings"}\n],
 qq[{"code":4,"description":"ids must be an array of strings"}\n],
 qq[{"code":4,"description":"invalid task id: 1 to 64 characters of A-Z, a-z, 0-9, \\"_\\" and \\"-\\""}\n],
 qq[{"code":4,"description":"invalid task id: 1 to 64 characters of A-Z, a-z, 0-9, \\"_\\" and \\"-\\""}\n],
 qq[{"code":4,"description":"a JSON body is required"}\n],
 '[]']



=== TEST 8: a rewritten body is what the retry to the next server sends
--- http_config
    mj_users $TEST_NGINX_MJ_DIR/users;
    mj_upstream_keys $TEST_NGINX_MJ_DIR/keys;
    mj_zone zone=mj:1m state=$TEST_NGINX_MJ_DIR/state/mj.state;
    upstream twice {
        server 127.0.0.1:$TEST_NGINX_SIM_PORT;
        server 127.0.0.1:$TEST_NGINX_SIM_PORT;
    }
--- config
    location /mj/ {
        mj_gateway zone=mj;
        proxy_next_upstream error timeout non_idempotent;
        proxy_pass http://twice;
    }
    location /sim/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SIM_PORT/_sim/;
    }
--- more_headers eval
["", "Content-Type: application/json", $::Alice, ""]
--- request eval
["POST /sim/reset", "POST /sim/mode\n{\"mode\":\"close\",\"count\":1}",
 qq(POST /mj/submit/imagine\n{"prompt":"retry","notifyHook":"http://internal/"}),
 "GET /sim/requests"]
--- response_body eval
['{"ok":true}', qr/"ok":\s*true/, qr/"code":\s*1/,
 qr/^\[\{.*"body":"\{\\"prompt\\":\\"retry\\"\}".*\},\{.*"body":"\{\\"prompt\\":\\"retry\\"\}".*\}\]$/s]
