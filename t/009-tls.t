# A hosted provider over https: the certificate is verified and SNI sent,
# as the README's example configures it.
use Test::Nginx::Socket 'no_plan';
use FindBin;
use lib "$FindBin::Bin/lib";
use MJTest;
use MJNginx;

no_shuffle();
add_block_preprocessor(\&MJTest::defaults);

# a provider of our own: a TLS server for "mj.test" in front of the sim
my $tls = mj_dir() . "/tls";
mkdir $tls;
system('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
       '-subj', '/CN=mj.test', '-addext', 'subjectAltName=DNS:mj.test',
       '-keyout', "$tls/mj.key", '-out', "$tls/mj.crt") == 0
    or die "openssl failed";
system("openssl x509 -in $tls/mj.crt -noout >/dev/null 2>&1") == 0 or die;
$ENV{TEST_NGINX_TLS_PORT} = MJNginx::free_port();

our $Http = $MJTest::HTTP_CONFIG . <<'_EOC_';
    upstream provider {
        server 127.0.0.1:$TEST_NGINX_TLS_PORT;
        keepalive 4;
    }

    server {
        listen 127.0.0.1:$TEST_NGINX_TLS_PORT ssl;
        server_name mj.test;
        ssl_certificate $TEST_NGINX_MJ_DIR/tls/mj.crt;
        ssl_certificate_key $TEST_NGINX_MJ_DIR/tls/mj.key;

        location / {
            proxy_pass http://mjsim;
        }
    }
_EOC_

run_tests();

__DATA__

=== TEST 1: relayed over verified TLS with SNI and keepalive
--- http_config eval: $::Http
--- config
    location /mj/ {
        mj_gateway zone=mj;
        proxy_pass https://provider;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_ssl_verify on;
        proxy_ssl_trusted_certificate $TEST_NGINX_MJ_DIR/tls/mj.crt;
        proxy_ssl_server_name on;
        proxy_ssl_name mj.test;
    }
--- more_headers eval
["Authorization: Bearer $MJTest::KEY{alice}", "Authorization: Bearer $MJTest::KEY{alice}"]
--- request eval
["POST /mj/submit/imagine\n{\"prompt\":\"over tls\"}", "POST /mj/submit/imagine\n{\"prompt\":\"again\"}"]
--- error_code eval
[200, 200]
--- response_body eval
[qr/^\{"code":\s*1,/, qr/^\{"code":\s*1,/]
--- no_error_log
[error]



=== TEST 2: a certificate for another name is refused: JSON 502, logged
--- http_config eval: $::Http
--- config
    location /mj/ {
        mj_gateway zone=mj;
        proxy_pass https://provider;
        proxy_ssl_verify on;
        proxy_ssl_trusted_certificate $TEST_NGINX_MJ_DIR/tls/mj.crt;
        proxy_ssl_server_name on;
        proxy_ssl_name provider.example;
    }
--- more_headers eval: "Authorization: Bearer $MJTest::KEY{alice}"
--- request
POST /mj/submit/imagine
{"prompt":"wrong name"}
--- error_code: 502
--- response_body
{"code":9,"description":"upstream unavailable"}
--- error_log
upstream SSL certificate does not match "provider.example"
