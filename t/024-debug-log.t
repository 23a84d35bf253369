# The gateway's decisions at error_log debug: each step of a request's path
# says what it decided, in "mj: ..." lines, and none of those lines quotes a
# key, a user's or the upstream's (nginx's own debug lines quote request
# headers: those are not the gateway's).
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use MJTest;
use MJNginx;

my %alice = (Authorization => "Bearer $KEY{alice}");
my %bob = (Authorization => "Bearer $KEY{bob}");
my $ng = MJNginx->new(conf => $MJTest::LOC =~ s/\$TEST_NGINX_SIM_PORT/$ENV{TEST_NGINX_SIM_PORT}/gr,
                      main => 'error_log logs/debug.log debug;');

my $id = 1760000000000000 + ($$ % 1000) * 1000 + 1;

my @steps = (
    [POST => '/mj/submit/imagine', {%alice, 'X-Sim-Task-Id' => $id},
     '{"prompt":"debug","notifyHook":"http://10.0.0.9/"}', 200],
    [GET => "/mj/task/$id/fetch", {%alice}, undef, 200],
    [GET => "/mj/task/$id/fetch", {%bob}, undef, 404],
    [POST => '/mj/task/list-by-condition', {%alice}, qq({"ids":["$id"]}), 200],
    [POST => '/mj/submit/action', {%alice},
     qq({"taskId":"$id","customId":"MJ::JOB::upsample::1::x"}), 200],
    [GET => '/mj/task/1/fetch', {Authorization => 'Bearer not-a-key-4242'},
     undef, 401],
);

for my $s (@steps) {
    my ($method, $path, $h, $body, $want) = @$s;
    my $r = $ng->request($method, $path, $h, $body);
    is $r->{status}, $want, "$method $path: $want" or diag $r->{content};
}

open my $fh, '<', $ng->dir . '/logs/debug.log' or die $!;
my @mj = grep { /\] \d+#\d+: \*\d+ mj: / } <$fh>;
close $fh;

my $all = join '', @mj;
for my $want (
    qr/mj: the key of user "alice"/,
    qr/mj: endpoint "imagine", flags/,
    qr/mj: body of "imagine": \d+ bytes, 1 parses/,
    qr/mj: gateway request "\/mj\/submit\/imagine"/,
    qr/mj: admit "imagine": the user's, 0 tasks named/,
    qr/mj: limits of "alice": passed/,
    qr/mj: "imagine" relayed with the key "main"/,
    qr/mj: submit "imagine" answered with code 1/,
    qr/mj: admit "fetch": the user's, 1 tasks named/,
    qr/mj: fetch answer: status \d+, was \d+/,
    qr/mj: admit "fetch": not the user's, 1 tasks named/,
    qr/mj: admit "list-by-condition": the user's, 1 tasks named/,
    qr/mj: follow-up relayed with the key "main" of its task/,
    qr/mj: removed notifyHook from the body of "imagine"/,
    qr/mj: unknown API key refused/,
) {
    like $all, $want, "the debug log says $want";
}

my @secrets = (values %KEY, $ENV{TEST_NGINX_MJ_UPSTREAM_KEY}, 'not-a-key-4242');
my @leaks = grep { my $l = $_; grep { index($l, $_) >= 0 } @secrets } @mj;
is scalar(@leaks), 0, 'no "mj:" line quotes a key, at any level'
    or diag @leaks;
cmp_ok scalar(@mj), '>', 20, 'and there are lines to check (' . scalar(@mj) . ')';

$ng->stop;
done_testing;
