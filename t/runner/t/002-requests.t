# Self-test of the fallback Test::Nginx runner: request forms.
BEGIN { $ENV{TEST_NGINX_RANDOMIZE} //= 1 }
use Test::Nginx::Socket 'no_plan';

run_tests();

__DATA__

=== TEST 1: request split into packets with delay_before
--- config
    location = /t {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
        proxy_set_header X-Body $request_body;
    }
    location = /echo { return 200 "[$http_x_body]\n"; }
--- request eval
[["POST /t\nhel", {value => "lo, ", delay_before => 0.05}, "world"]]
--- response_body eval
["[hello, world]\n"]



=== TEST 2: several requests with per-request more_headers
--- config
    location = /t { return 200 "$http_x_n\n"; }
--- more_headers eval
["X-N: 1", "X-N: 2"]
--- request eval
["GET /t", "GET /t"]
--- response_body eval
["1\n", "2\n"]



=== TEST 3: raw_request string
--- config
    location = /t { return 200 "raw $http_x_a\n"; }
--- raw_request eval
"GET /t HTTP/1.1\r
Host: localhost\r
X-A: b\r
Connection: close\r
\r
"
--- response_body
raw b



=== TEST 4: raw_request chunks with raw_request_middle_delay
--- config
    location = /t { return 200 "ok $http_x_a\n"; }
--- raw_request eval
["GET /t HT", "TP/1.1\r\nHost: localhost\r\nX-", "A: split\r\nConnection: close\r\n\r\n"]
--- raw_request_middle_delay: 0.02
--- response_body
ok split



=== TEST 5: pipelined requests on one keep-alive connection
--- config
    location = /a { return 200 "A\n"; }
    location = /b { return 201 "B\n"; }
--- pipelined_requests eval
["GET /a", "GET /b"]
--- error_code eval
[200, 201]
--- response_body eval
["A\n", "B\n"]



=== TEST 6: chunked response is decoded
--- config
    location = /t {
        sub_filter_types text/plain;
        sub_filter 'world' 'there';
        return 200 "hello world\n";
    }
--- request
GET /t
--- raw_response_headers_like: Transfer-Encoding: chunked\r\n
--- response_body
hello there



=== TEST 7: chunked request body (Transfer-Encoding in more_headers)
--- config
    location = /t {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
        proxy_set_header X-Body $request_body;
    }
    location = /echo { return 200 "[$http_x_body]\n"; }
--- more_headers
Transfer-Encoding: chunked
--- request eval
"POST /t
5\r
hello\r
0\r
\r
"
--- response_body
[hello]



=== TEST 8: HTTP/0.9 response (http09)
--- config
    location = /t { return 200 "nine\n"; }
--- raw_request eval
"GET /t\r\n"
--- http09
--- response_body
nine



=== TEST 9: --- shutdown closes our write side after sending
--- config
    location = /t { return 200 "shut\n"; }
--- request
GET /t
--- shutdown: 1
--- response_body
shut



=== TEST 10: request without uri defaults to /
--- config
--- request
GET
--- response_body_like: It works!
