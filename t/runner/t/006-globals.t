# Self-test of the fallback Test::Nginx runner: file-level settings.
BEGIN { $ENV{TEST_NGINX_RANDOMIZE} //= 1 }
use Test::Nginx::Socket;

repeat_each(2);
plan tests => repeat_each() * 3 * blocks();

no_shuffle();
no_root_location();
workers(2);
master_on();
log_level('info');
check_accum_error_log();
no_long_string();
no_diff();

run_tests();

__DATA__

=== TEST 1: no_root_location: the test may define "location /"
--- config
    location / { return 200 "my root\n"; }
--- request
GET /
--- response_body
my root
--- no_error_log
[debug]



=== TEST 2: a block without --- config reuses the running server
--- request
GET /anything
--- response_body
my root
--- no_error_log
[warn]



=== TEST 3: master + 2 workers are running; check_accum_error_log sees
all repetitions (info level "client ... closed" lines are not needed)
--- config
    location = /t { return 200 "w\n"; }
--- request
GET /t
--- response_body
w
--- grep_error_log eval
qr/\[debug\]/
--- grep_error_log_out eval
["", ""]
