# Self-test of the fallback Test::Nginx runner: --- must_die and
# --- shutdown_error_log.
BEGIN { $ENV{TEST_NGINX_RANDOMIZE} //= 1 }
use Test::Nginx::Socket 'no_plan';

run_tests();

__DATA__

=== TEST 1: bad config: nginx must die; the emerg line is checked
(Debian's nginx logs config errors to stderr only)
--- config
    location = /t {
        return a b c;
    }
--- request
GET /t
--- must_die
--- error_log
invalid number of arguments in "return" directive
--- no_error_log
[alert]



=== TEST 2: must_die with the expected exit code
--- config
    location = /t { no_such_directive_here on; }
--- request
GET /t
--- must_die: 1
--- error_log eval
qr/unknown directive "no_such_directive_here"/



=== TEST 3: a good config after must_die blocks starts normally
--- config
    location = /t { return 200 "alive\n"; }
--- request
GET /t
--- response_body
alive



=== TEST 4: shutdown_error_log is checked when this nginx is stopped
--- log_level: notice
--- config
    location = /t { return 200 "bye\n"; }
--- request
GET /t
--- response_body
bye
--- shutdown_error_log eval
qr/\[notice\] .*exit/
--- no_shutdown_error_log
[alert]
