# The gateway cannot be bypassed by other access configuration.
use Test::Nginx::Socket 'no_plan';
use FindBin;
use lib "$FindBin::Bin/lib";
use MJTest;

no_shuffle();
add_block_preprocessor(\&MJTest::defaults);

run_tests();

__DATA__

=== TEST 1: satisfy any with allow: still no key, no relay
--- config
    location /mj/ {
        satisfy any;
        allow 127.0.0.1;
        deny all;
        mj_gateway zone=mj;
        proxy_pass http://mjsim;
    }
--- request
GET /mj/task/1712345678901234/fetch
--- error_code: 401
--- response_body_like chomp
missing API key



=== TEST 2: satisfy any with auth_basic and allow: a wrong gateway key is refused
--- config
    location /mj/ {
        satisfy any;
        allow 127.0.0.1;
        auth_basic "mj";
        auth_basic_user_file /nonexistent;
        mj_gateway zone=mj;
        proxy_pass http://mjsim;
    }
--- more_headers
mj-api-secret: mj-wrong-0123456789abcdef
--- request
GET /mj/task/1712345678901234/fetch
--- error_code: 401
--- response_body
{"code":4,"description":"invalid API key"}



=== TEST 3: auth_basic in front (satisfy all) and the gateway both apply
--- config
    location /mj/ {
        auth_basic "mj";
        auth_basic_user_file ../html/htpasswd;
        mj_gateway zone=mj;
        proxy_pass http://mjsim;
    }
--- user_files
>>> htpasswd
user:{PLAIN}pass
--- more_headers
Authorization: Basic dXNlcjpwYXNz
mj-api-secret: mj-alice-0123456789abcdef
--- request
POST /mj/submit/imagine
{"prompt":"behind basic auth"}
--- error_code: 200
--- response_body_like chomp
^\{"code":\s*1,



=== TEST 4: a subrequest into a gateway location is refused
--- config
    location /mj/ {
        mj_gateway zone=mj;
        proxy_pass http://mjsim;
    }
    location = /probe.txt {
        auth_request /mj/task/1712345678901234/fetch;
        root html;
    }
--- user_files
>>> probe.txt
passed
--- more_headers
Authorization: Bearer mj-alice-0123456789abcdef
--- request
GET /probe.txt
--- error_code: 403
--- error_log
mj: subrequest to a gateway location refused
