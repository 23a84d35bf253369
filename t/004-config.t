# Configuration mistakes stop nginx from starting.  (What `nginx -t` says,
# file and line, is checked in 010-nginx-t.t.)
use Test::Nginx::Socket 'no_plan';
use FindBin;
use lib "$FindBin::Bin/lib";
use MJTest;

no_shuffle();
add_block_preprocessor(\&MJTest::defaults);

run_tests();

__DATA__

=== TEST 1: mj_gateway without mj_users
--- http_config
    mj_zone zone=mj:1m state=off;
--- config
    location /mj/ {
        mj_gateway zone=mj;
        proxy_pass http://127.0.0.1:$TEST_NGINX_DEAD_PORT;
    }
--- must_die



=== TEST 2: users file that does not exist
--- http_config
    mj_users /nonexistent/mj-users;
    mj_zone zone=mj:1m state=off;
--- config
    location /mj/ {
        mj_gateway zone=mj;
        proxy_pass http://127.0.0.1:$TEST_NGINX_DEAD_PORT;
    }
--- must_die



=== TEST 3: malformed key hash
--- http_config
    mj_users ../html/users;
    mj_upstream_keys $TEST_NGINX_MJ_DIR/keys;
    mj_zone zone=mj:1m state=off;
--- user_files
>>> users
alice 0123456789abcdef main
--- config
    location /mj/ {
        mj_gateway zone=mj;
        proxy_pass http://127.0.0.1:$TEST_NGINX_DEAD_PORT;
    }
--- must_die



=== TEST 4: unknown upstream key name
--- http_config
    mj_users ../html/users;
    mj_upstream_keys $TEST_NGINX_MJ_DIR/keys;
    mj_zone zone=mj:1m state=off;
--- user_files
>>> users
alice 2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90 nosuchkey
--- config
    location /mj/ {
        mj_gateway zone=mj;
        proxy_pass http://127.0.0.1:$TEST_NGINX_DEAD_PORT;
    }
--- must_die



=== TEST 5: duplicate user
--- http_config
    mj_users ../html/users;
    mj_upstream_keys $TEST_NGINX_MJ_DIR/keys;
    mj_zone zone=mj:1m state=off;
--- user_files
>>> users
alice 2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90 main
alice 81b637d8fcd2c6da6359e6963113a1170de795e4b725b84d1e0b4cfd9ec58ce9 main
--- config
    location /mj/ {
        mj_gateway zone=mj;
        proxy_pass http://127.0.0.1:$TEST_NGINX_DEAD_PORT;
    }
--- must_die



=== TEST 6: unknown user setting
--- http_config
    mj_users ../html/users;
    mj_upstream_keys $TEST_NGINX_MJ_DIR/keys;
    mj_zone zone=mj:1m state=off;
--- user_files
>>> users
alice 2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90 main admin=yes
--- config
    location /mj/ {
        mj_gateway zone=mj;
        proxy_pass http://127.0.0.1:$TEST_NGINX_DEAD_PORT;
    }
--- must_die



=== TEST 7: bad upstream keys file setting
--- http_config
    mj_users ../html/users;
    mj_upstream_keys ../html/keys;
    mj_zone zone=mj:1m state=off;
--- user_files
>>> users
alice 2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90 main
>>> keys
main sk-secret header=x-api-key
--- config
    location /mj/ {
        mj_gateway zone=mj;
        proxy_pass http://127.0.0.1:$TEST_NGINX_DEAD_PORT;
    }
--- must_die



=== TEST 8: a users file with comments, blank lines and CRLF loads
--- http_config
    mj_users ../html/users;
    mj_upstream_keys $TEST_NGINX_MJ_DIR/keys;
    mj_zone zone=mj:1m state=off;
--- user_files eval
[[ "users" => "# comment\r\n\r\nalice 2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90 main  # trailing\r\n" ]]
--- config
    location /mj/ {
        mj_gateway zone=mj;
        proxy_pass http://127.0.0.1:$TEST_NGINX_DEAD_PORT;
    }
--- request
GET /mj/task/1/fetch
--- error_code: 401
