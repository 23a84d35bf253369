# Self-test of the fallback Test::Nginx runner: timeouts, the embedded TCP
# server, skips, preprocessors, env expansion and other sections.
BEGIN {
    $ENV{TEST_NGINX_RANDOMIZE} //= 1;
    $ENV{TEST_NGINX_SELFTEST_WORD} = 'expanded';
    $ENV{NGX_MJ_SELFTEST_ENV} = 'from-env';
    # --- tcp_listen is not env-expanded (also not by the real tool):
    # pick free ports here and use "--- tcp_listen eval"
    require IO::Socket::INET;
    for my $i (1 .. 3) {
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                      Proto => 'tcp', Listen => 1) or die $!;
        $ENV{"TEST_NGINX_MOCK_PORT_$i"} = $s->sockport;
    }
}
use Test::Nginx::Socket 'no_plan';

env_to_nginx("NGX_MJ_SELFTEST_ENV", "NGX_MJ_SELFTEST_SET=set in conf");

our @Seen;
add_block_preprocessor(sub {
    my $block = shift;
    # a custom section, turned into a standard one
    if (defined $block->req_header) {
        $block->set_value("more_headers", "X-Custom: " . $block->req_header);
    }
    if (!defined $block->config) {
        $block->set_value("config", <<'_EOC_');
    location = /default { return 200 "default config\n"; }
_EOC_
    }
});

run_tests();

__DATA__

=== TEST 1: --- timeout expires: client socket timed out is not a failure with --- abort
--- config
    location = /t {
        proxy_read_timeout 10s;
        proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1;
    }
--- tcp_listen eval: $ENV{TEST_NGINX_MOCK_PORT_1}
--- tcp_no_close
--- tcp_reply:
--- request
GET /t
--- timeout: 200ms
--- abort
--- ignore_response



=== TEST 2: embedded TCP server: tcp_query_len + tcp_reply (upstream mock)
--- config
    location = /t {
        proxy_http_version 1.0;
        proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT_2/up;
        proxy_set_header Host mock;
        proxy_set_header Connection "";
    }
--- tcp_listen eval: $ENV{TEST_NGINX_MOCK_PORT_2}
--- tcp_query_len: 32
--- tcp_reply eval
"HTTP/1.0 201 Created\r\nContent-Length: 5\r\nX-Up: yes\r\n\r\nmock\n"
--- request
GET /t
--- error_code: 201
--- response_headers
X-Up: yes
--- response_body
mock



=== TEST 3: exact tcp_query
--- config
    location = /t {
        proxy_http_version 1.0;
        proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT_3/up;
        proxy_set_header Host mock;
        proxy_set_header Connection "";
    }
--- tcp_listen eval: $ENV{TEST_NGINX_MOCK_PORT_3}
--- tcp_query eval
"GET /up HTTP/1.0\r\nHost: mock\r\n\r\n"
--- tcp_reply eval
sub { "HTTP/1.0 200 OK\r\n\r\nyou sent " . length($_[0]) . " bytes\n" }
--- request
GET /t
--- response_body
you sent 32 bytes



=== TEST 4: skip_eval skips the given number of subtests
--- config
    location = /t { return 500; }
--- request
GET /t
--- skip_eval: 2: 1
--- response_body
never compared



=== TEST 5: skip_nginx (nginx is newer than 0.1.0)
--- config
    location = /t { return 500; }
--- request
GET /t
--- skip_nginx: 2: > 0.1.0
--- response_body
never compared



=== TEST 6: todo
--- config
    location = /t { return 500; }
--- request
GET /t
--- todo: 2: not yet
--- response_body
never compared



=== TEST 7: SKIP meta section
--- config
    location = /t { return 500; }
--- request
GET /t
--- SKIP



=== TEST 8: preprocessor: custom section consumed + default config
--- req_header: hello
--- request
GET /default
--- response_body
default config



=== TEST 9: $TEST_NGINX_* expansion in config, http_config, main_config and user_files; env_to_nginx
--- main_config
    env NGX_MJ_SELFTEST_ENV2=$TEST_NGINX_SELFTEST_WORD;
--- http_config
    map $host $word { default "$TEST_NGINX_SELFTEST_WORD"; }
--- config
    location = /t {
        add_header X-Word $word;
        add_header X-Port $TEST_NGINX_SERVER_PORT;
        root html;
        try_files /f.txt =404;
    }
--- user_files
>>> f.txt
word=$TEST_NGINX_SELFTEST_WORD
--- request
GET /t
--- response_headers
X-Word: expanded
X-Port: $ServerPort
--- response_body
word=expanded



=== TEST 10: server_name section; init section; response_body_filters
--- server_name: example.test
--- init
our $InitRan = 1;
--- config
    location = /t { return 200 "name=$server_name\n"; }
--- request
GET /t
--- response_body_filters
uc
--- response_body
NAME=EXAMPLE.TEST



=== TEST 11: response_body_filters with code refs and md5_hex
--- config
    location = /t { return 200 "abc"; }
--- request
GET /t
--- response_body_filters eval
[sub { $_[0] . "def" }, "md5_hex"]
--- response_body eval
Digest::MD5::md5_hex("abcdef")
