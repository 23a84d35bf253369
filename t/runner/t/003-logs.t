# Self-test of the fallback Test::Nginx runner: error/access log checks.
BEGIN { $ENV{TEST_NGINX_RANDOMIZE} //= 1 }
use Test::Nginx::Socket 'no_plan';

repeat_each(2);
run_tests();

__DATA__

=== TEST 1: error_log / no_error_log, plain and eval (qr//)
--- config
    location = /t {
        return 403;
    }
    location = /miss { root html; }
--- request eval
["GET /miss/nothing-here", "GET /t"]
--- error_code eval
[404, 403]
--- response_body_like eval
["404 Not Found", "403 Forbidden"]
--- error_log eval
[qr/\[(?:error|debug)\]/, "http"]
--- no_error_log
[alert]
[emerg]



=== TEST 2: each check sees only the lines logged since the previous check
(with accumulated logs the second grep would see two request lines)
--- config
    location = /b { return 200 "b\n"; }
--- request eval
["GET /b", "GET /b"]
--- response_body eval
["b\n", "b\n"]
--- grep_error_log eval
qr/request line: "GET \/b[^"]*"/
--- grep_error_log_out
request line: "GET /b HTTP/1.1"
--- no_error_log
[error]



=== TEST 3: grep_error_log / grep_error_log_out
--- config
    location = /t {
        error_log logs/error.log info;
        root html;
    }
--- request
GET /t
--- error_code: 404
--- response_body_like: 404
--- grep_error_log eval
qr/open\(\) "[^"]+" failed/
--- grep_error_log_out eval
qr/^open\(\) "\S+\/html\/t" failed\n$/



=== TEST 4: log_level section + access_log / no_access_log
--- log_level: warn
--- http_config
    log_format mine '$request|$status';
--- config
    location = /t {
        access_log logs/access.log mine;
        return 200 "ok\n";
    }
--- request
GET /t?x=1
--- response_body
ok
--- no_error_log
http request line: "GET /t
[info]
--- access_log
GET /t?x=1 HTTP/1.1|200
--- no_access_log
|500



=== TEST 5: wait before the log checks
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok
--- wait: 0.05
--- error_log
http finalize request
