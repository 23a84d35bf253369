# Relaying through nginx upstreams: failures become the contract's JSON,
# large bodies pass, retries work.
use Test::Nginx::Socket 'no_plan';
use FindBin;
use lib "$FindBin::Bin/lib";
use MJTest;

no_shuffle();
add_block_preprocessor(\&MJTest::defaults);

# a blend of five ~6 MB base64 images: about 30 MB of JSON
our $Big = do {
    my $img = 'data:image/png;base64,' . ('QUJD' x (6_000_000 / 4));
    '{"base64Array":["' . join('","', ($img) x 5) . '"]}';
};
our $BigLen = length $Big;

run_tests();

__DATA__

=== TEST 1: upstream down: JSON 502
--- config
    location /mj/ {
        mj_gateway zone=mj;
        proxy_pass http://127.0.0.1:$TEST_NGINX_DEAD_PORT;
    }
--- more_headers
Authorization: Bearer mj-alice-0123456789abcdef
--- request
POST /mj/submit/imagine
{"prompt":"nobody home"}
--- error_code: 502
--- response_headers
Content-Type: application/json
--- response_body
{"code":9,"description":"upstream unavailable"}
--- error_log
connect() failed (111: Connection refused)



=== TEST 2: upstream timeout: JSON 504
--- config
    location /mj/ {
        mj_gateway zone=mj;
        proxy_read_timeout 300ms;
        proxy_pass http://mjsim;
    }
--- more_headers
Authorization: Bearer mj-alice-0123456789abcdef
X-Sim-Mode: slow:3000
--- request
POST /mj/submit/imagine
{"prompt":"x"}
--- error_code: 504
--- response_body
{"code":9,"description":"upstream timed out"}
--- error_log
upstream timed out



=== TEST 3: upstream HTML 500: JSON 502
--- config
    location /mj/ {
        mj_gateway zone=mj;
        proxy_pass http://mjsim;
    }
--- more_headers
Authorization: Bearer mj-alice-0123456789abcdef
X-Sim-Mode: html500
--- request
POST /mj/submit/imagine
{"prompt":"x"}
--- error_code: 502
--- response_headers
Content-Type: application/json
--- response_body
{"code":9,"description":"the upstream failed"}
--- error_log
mj: the upstream answered with status 500



=== TEST 4: upstream JSON 500 and 503: JSON 502
--- config
    location /mj/ {
        mj_gateway zone=mj;
        proxy_pass http://mjsim;
    }
--- more_headers eval
["Authorization: Bearer mj-alice-0123456789abcdef\r\nX-Sim-Mode: json500",
 "Authorization: Bearer mj-alice-0123456789abcdef\r\nX-Sim-Mode: 503"]
--- request eval
["POST /mj/submit/imagine\n{\"prompt\":\"x\"}", "POST /mj/submit/imagine\n{\"prompt\":\"x\"}"]
--- error_code eval
[502, 502]
--- response_body eval
[qq[{"code":9,"description":"the upstream failed"}\n], qq[{"code":9,"description":"the upstream failed"}\n]]



=== TEST 5: upstream answer that is not JSON: JSON 502
--- config
    location /mj/ {
        mj_gateway zone=mj;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/html/;
    }
    location /html/ {
        default_type text/html;
        return 200 "<html>a login page</html>";
    }
--- more_headers
Authorization: Bearer mj-alice-0123456789abcdef
--- request
POST /mj/submit/shorten
{"prompt":"x"}
--- error_code: 502
--- response_body
{"code":9,"description":"the upstream's answer is not JSON"}
--- error_log
not JSON



=== TEST 6: the upstream's own refusals in the contract's shape pass as they are
--- config
    location /mj/ {
        mj_gateway zone=mj;
        proxy_pass http://mjsim;
    }
--- more_headers
Authorization: Bearer mj-alice-0123456789abcdef
--- request
POST /mj/submit/imagine
{"prompt":"a bannedword here"}
--- error_code: 200
--- response_headers
Content-Type: application/json; charset=utf-8
--- response_body_like chomp
^\{"code":\s*24,.*"bannedWord":\s*"bannedword"



=== TEST 7: body over client_max_body_size: JSON 413
--- config
    location /mj/ {
        mj_gateway zone=mj;
        client_max_body_size 1k;
        proxy_pass http://mjsim;
    }
--- more_headers
Authorization: Bearer mj-alice-0123456789abcdef
--- request eval
"POST /mj/submit/imagine\n" . '{"prompt":"' . ("x" x 2000) . '"}'
--- error_code: 413
--- response_headers
Content-Type: application/json
--- response_body
{"code":4,"description":"request body too large"}



=== TEST 8: a 30 MB blend passes whole, through a temp file
--- config
    location /mj/ {
        mj_gateway zone=mj;
        client_max_body_size 40m;
        client_body_buffer_size 16k;
        proxy_pass http://mjsim;
    }
    location /sim/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SIM_PORT/_sim/;
    }
--- more_headers
Authorization: Bearer mj-alice-0123456789abcdef
--- request eval
"POST /mj/submit/blend\n$::Big"
--- timeout: 30
--- response_body_like eval
qr/^\{"code":\s*1,/
--- error_log
a client request body is buffered to a temporary file



=== TEST 8b: the simulated upstream got all of it
--- config
    location /sim/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SIM_PORT/_sim/;
    }
--- request
GET /sim/last
--- response_body_like eval
qr/"body_length":\s*$::BigLen\b/



=== TEST 9: proxy_next_upstream retries on the next server
--- config
    location /mj/ {
        mj_gateway zone=mj;
        proxy_next_upstream error timeout;
        proxy_pass http://pair;
    }
--- http_config
    mj_users $TEST_NGINX_MJ_DIR/users;
    mj_upstream_keys $TEST_NGINX_MJ_DIR/keys;
    mj_zone zone=mj:1m state=off;
    upstream pair {
        server 127.0.0.1:$TEST_NGINX_DEAD_PORT;
        server 127.0.0.1:$TEST_NGINX_SIM_PORT;
    }
--- more_headers
Authorization: Bearer mj-alice-0123456789abcdef
--- request
POST /mj/submit/imagine
{"prompt":"retry me"}
--- error_code: 200
--- response_body_like chomp
^\{"code":\s*1,



=== TEST 10: a bad request line in a gateway server is JSON too
--- config
    mj_gateway zone=mj;
    location /mj/ {
        proxy_pass http://mjsim;
    }
--- raw_request eval
"GET /mj/task/1/fetch HTTP/1.1\r\nHost: localhost\r\nContent-Length: x\r\n\r\n"
--- error_code: 400
--- response_body
{"code":4,"description":"bad request"}



=== TEST 11: upstream keepalive: the key swap works on reused connections
--- config
    location /mj/ {
        mj_gateway zone=mj;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_pass http://mjsim;
    }
--- more_headers
Authorization: Bearer mj-alice-0123456789abcdef
--- request eval
["POST /mj/submit/imagine\n{\"prompt\":\"1\"}", "POST /mj/submit/imagine\n{\"prompt\":\"2\"}",
 "POST /mj/submit/imagine\n{\"prompt\":\"3\"}"]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[qr/"code":\s*1/, qr/"code":\s*1/, qr/"code":\s*1/]
