# Self-test of the fallback Test::Nginx runner: big request and response
# bodies (client_max_body_size is 30M in the generated nginx.conf).
BEGIN { $ENV{TEST_NGINX_RANDOMIZE} //= 1 }
use Test::Nginx::Socket 'no_plan';

no_long_string();
log_level('info');
run_tests();

__DATA__

=== TEST 1: a 30 MiB request body is sent completely
--- config
    location = /t {
        client_body_buffer_size 1m;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/len;
    }
    location = /len { return 200 "got $http_content_length\n"; }
--- request eval
"POST /t\n" . ("x" x (30 * 1024 * 1024))
--- response_body
got 31457280
--- timeout: 20



=== TEST 2: one byte over client_max_body_size: 413, answered early
--- config
    location = /t { return 200 "unreachable\n"; }
--- request eval
"POST /t\n" . ("y" x (30 * 1024 * 1024 + 1))
--- error_code: 413
--- response_body_like: 413 Request Entity Too Large
--- timeout: 20



=== TEST 3: a big static response
--- config
    location /big/ { alias html/; }
--- user_files eval
[["big.bin", "0123456789abcdef" x (512 * 1024)]]
--- request
GET /big/big.bin
--- response_headers
Content-Length: 8388608
--- response_body_filters
length
--- response_body chomp
8388608



=== TEST 4: a big chunked response is decoded
--- config
    location /big/ {
        alias html/;
        sub_filter_types *;
        sub_filter 'zzz' 'y';
    }
--- user_files eval
[["big.txt", "abcdefgh\n" x (300 * 1024)]]
--- request
GET /big/big.txt
--- raw_response_headers_like: Transfer-Encoding: chunked
--- response_body_filters
md5_hex
--- response_body eval
Digest::MD5::md5_hex("abcdefgh\n" x (300 * 1024))
