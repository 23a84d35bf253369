# Self-test of the fallback Test::Nginx runner: everything it does not
# implement must make the run fail loudly, and wrong expectations must fail.
# Each case is a tiny generated .t run in a subprocess.
use strict;
use warnings;
use Test::More;
use File::Temp qw( tempdir );
use File::Spec;
use Cwd qw( abs_path );
use IO::Socket::INET;

my $runner_dir = abs_path(File::Spec->catdir((File::Spec->splitpath(abs_path(__FILE__)))[1], '..'));
my $tmp = tempdir('ngx-runner-selftest-XXXXXX', TMPDIR => 1, CLEANUP => 1);
mkdir "$tmp/t" or die "mkdir: $!";

my $n = 0;

sub run_case {
    my (%c) = @_;
    my $file = "$tmp/t/case" . ++$n . ".t";
    open my $out, '>', $file or die "$file: $!";
    print $out $c{code};
    close $out;
    local %ENV = %ENV;
    delete @ENV{ grep { /^TEST_NGINX_/ } keys %ENV };
    $ENV{TEST_NGINX_RANDOMIZE} = 1;
    %ENV = (%ENV, %{ $c{env} || {} });
    my $cmd = "cd '$tmp' && '$^X' -I '$runner_dir' '$file' 2>&1";
    my $output = `$cmd`;
    my $status = $? >> 8;
    return ($status, $output);
}

sub refused {
    my ($desc, $code, $re, %opt) = @_;
    my ($status, $output) = run_case(code => $code, %opt);
    ok($status != 0, "$desc: non-zero exit ($status)")
        or diag($output);
    like($output, $re, "$desc: message") or diag($output);
    like($output, qr/^not ok |^Bail out!/m, "$desc: a failing TAP line")
        if !$opt{no_tap};
}

my $head = "use Test::Nginx::Socket 'no_plan';\nrun_tests();\n__DATA__\n\n";
my $ok_block = <<'_EOC_';
=== TEST 1: t1
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
_EOC_

# -- unimplemented or unknown things -------------------------------------

refused("unknown section", $head . $ok_block . "--- response_body\nok\n--- foo\nbar\n",
        qr/TEST 1: t1 - unknown section "--- foo"/);

refused("unknown *_like section with eval", $head . $ok_block
        . "--- bar_like eval\nqr/x/\n",
        qr/TEST 1: t1 - unknown section "--- bar_like"/);

refused("unsupported filter", $head . $ok_block
        . "--- response_body base64_decode\nb2sK\n",
        qr/TEST 1: t1 - --- response_body: section filter\/option "base64_decode" is not supported/);

refused("eval filter error", $head . $ok_block
        . "--- response_body eval\n\"unterminated\n",
        qr/TEST 1: t1 - the "eval" filter failed/);

refused("conflicting sections", $head . $ok_block
        . "--- response_body\nok\n--- response_body_like: ok\n",
        qr/both "--- response_body" and "--- response_body_like" are given/);

refused("no_shutdown_error_log alone", $head . $ok_block
        . "--- response_body\nok\n--- no_shutdown_error_log\n[alert]\n",
        qr/"--- no_shutdown_error_log" without "--- shutdown_error_log"/);

refused("response checks under must_die", $head . $ok_block
        . "--- must_die\n--- response_body\nok\n",
        qr/"--- response_body" is ignored by the real Test::Nginx in a --- must_die block/);

refused("stap section", $head . $ok_block . "--- stap\nF(x) {}\n",
        qr/section "--- stap" \(systemtap tracing\) is not supported/);

refused("udp_listen section", $head . $ok_block
        . "--- udp_listen: 12345\n--- udp_reply: x\n",
        qr/section "--- udp_listen" \(the embedded UDP server\) is not supported/);

refused("TEST_NGINX_CHECK_LEAK", $head . $ok_block,
        qr/TEST_NGINX_CHECK_LEAK=1 is not implemented/,
        env => { TEST_NGINX_CHECK_LEAK => 1 }, no_tap => 1);

refused("no_nginx_manager()", "use Test::Nginx::Socket 'no_plan';\n"
        . "no_nginx_manager();\nrun_tests();\n__DATA__\n\n" . $ok_block,
        qr/no_nginx_manager\(\) is not implemented/, no_tap => 1);

refused("unknown exported function", "use Test::Nginx::Socket 'no_plan';\n"
        . "use_http3_please();\nrun_tests();\n__DATA__\n\n" . $ok_block,
        qr/Undefined subroutine &main::use_http3_please/, no_tap => 1);

refused("array of requests needs array expectations", $head . <<'_EOC_',
=== TEST 1: t1
--- config
    location = /t { return 200 "ok\n"; }
--- request eval
["GET /t", "GET /t"]
--- response_body
ok
_EOC_
        qr/You asked for many requests, the expected results should be arrays/);

# -- wrong expectations fail ---------------------------------------------

refused("wrong response_body", $head . $ok_block . "--- response_body\nnope\n",
        qr/^not ok 2 - .*TEST 1: t1 - response_body - response is expected/m);

refused("wrong status", $head . $ok_block . "--- error_code: 201\n",
        qr/^not ok 1 - .*TEST 1: t1 - status code ok/m);

refused("missing error_log line", $head . $ok_block
        . "--- error_log\nno such line anywhere\n",
        qr/pattern "no such line anywhere" should match a line in error\.log/);

refused("no_error_log line present", $head . $ok_block
        . "--- no_error_log\nhttp request line\n",
        qr/pattern "http request line" should not match any line in error\.log/);

refused("client timeout without --- abort", $head . <<'_EOC_',
=== TEST 1: t1
--- config
    location = /t { proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/slow; }
    location = /slow { limit_rate 1; return 200 "slow body"; }
--- request
GET /t
--- timeout: 150ms
--- ignore_response
_EOC_
        qr/ERROR: client socket timed out - .*TEST 1: t1/);

refused("nginx fails to start", $head . <<'_EOC_',
=== TEST 1: t1
--- config
    location = /t { bogus_directive 1; }
--- request
GET /t
--- response_body
x
_EOC_
        qr/TEST 1: t1 - nginx failed to start.*unknown directive "bogus_directive"/s);

refused("TEST_NGINX_LOAD_MODULES becomes load_module lines", $head . $ok_block
        . "--- response_body\nok\n",
        qr{nginx failed to start.*/nonexistent/ngx_x_module\.so}s,
        env => { TEST_NGINX_LOAD_MODULES => "/nonexistent/ngx_x_module.so" });

# -- servroot that is not ours -------------------------------------------

{
    my $sr = "$tmp/servroot-foreign";
    mkdir $sr or die;
    open my $f, '>', "$sr/precious.state" or die;
    print $f "data\n";
    close $f;
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', Listen => 1) or die $!;
    my $port = $s->sockport;
    close $s;
    refused("servroot with foreign files", $head . $ok_block,
            qr/Bail out!\s+Can't remove \Q$sr\E \(not empty\?\)/,
            env => { TEST_NGINX_RANDOMIZE => 0, TEST_NGINX_SERVROOT => $sr,
                     TEST_NGINX_PORT => $port });
    ok(-f "$sr/precious.state", "foreign file left alone");
}

# -- and a correct file passes --------------------------------------------

{
    my ($status, $output) = run_case(code => $head . $ok_block
                                     . "--- response_body\nok\n");
    is($status, 0, "a correct test file passes") or diag($output);
    like($output, qr/^1\.\.2$/m, "two subtests");
}

done_testing();
