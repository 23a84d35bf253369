# Self-test of the fallback Test::Nginx runner: basic request/response
# sections against a stock nginx (no third-party modules).
BEGIN { $ENV{TEST_NGINX_RANDOMIZE} //= 1 }
use Test::Nginx::Socket;

repeat_each(2);
plan tests => repeat_each() * (3 * blocks() + 7);

run_tests();

__DATA__

=== TEST 1: return + exact body
--- config
    location = /t { return 200 "hello\n"; }
--- request
GET /t
--- response_body
hello
--- no_error_log
[error]



=== TEST 2: chomp filter, explicit HTTP/1.0, comment lines before the request
--- config
    location = /t { return 200 "hi"; }
--- request
# a comment
    GET /t HTTP/1.0
--- response_body chomp
hi
--- raw_response_headers_like: ^HTTP/1\.1 200 OK\r\n



=== TEST 3: response_headers: exact, absent (!), empty (Name:)
--- config
    location = /t {
        add_header X-Foo "bar baz";
        add_header X-Port $server_port;
        return 200 "ok\n";
    }
--- request
GET /t
--- response_headers
X-Foo: bar baz
!X-Absent
X-Also-Absent:
X-Port: $ServerPort
--- response_body
ok



=== TEST 4: error_code + response_body_like + response_headers_like
--- config
    location = /t { add_header X-Id "abc-123" always; return 404; }
--- request
GET /t
--- error_code: 404
--- response_headers_like
X-Id: abc-\d+
Content-Type: text/html
--- response_body_like: <title>404 Not Found</title>



=== TEST 5: error_code_like + response_body_unlike + raw_response_headers_unlike
--- config
    location = /t { return 302 /elsewhere; }
--- request
GET /t
--- error_code_like: ^30[12]$
--- raw_response_headers_unlike: X-Powered-By
--- response_body_unlike: ^hello



=== TEST 6: user_files, default root location, nested dirs and eval
--- config
    location /static/ { root html; }
--- user_files
>>> static/a.txt
file A
>>> static/sub/b.txt
file B
--- request eval
["GET /static/a.txt", "GET /static/sub/b.txt", "GET /index.html"]
--- response_body eval
["file A\n", "file B\n",
"<html><head><title>It works!</title></head><body>It works!</body></html>"]
--- error_code eval
[200, 200, 200]



=== TEST 7: user_files eval with a date, more_headers, response_body eval
--- config
    location /f/ {
        alias html/;
        add_header X-Got "$http_x_foo|$http_user_agent";
    }
--- user_files eval
[["dated.txt", "d\0ta", 199801171935.33]]
--- more_headers
X-Foo: 42
User-Agent: tester
--- request
GET /f/dated.txt
--- response_headers
X-Got: 42|tester
Last-Modified: Sat, 17 Jan 1998 19:35:33 GMT
--- response_body eval
"d\0ta"



=== TEST 8: request body goes through (Content-Length, trimmed like the real tool)
--- config
    location = /t {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
        proxy_set_header X-Body $request_body;
    }
    location = /echo {
        return 200 "[$http_x_body] $http_content_length\n";
    }
--- request
POST /t

hello world

--- response_body
[hello world] 11



=== TEST 9: HEAD request (no body expected)
--- config
    location = /t { return 200 "hello\n"; }
--- request
HEAD /t
--- response_body
--- response_headers
Content-Length: 6
