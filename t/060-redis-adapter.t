# The workers' connection to Redis (ngx_http_mj_redis.c), through the
# diagnostic location mj_redis_ping: the redis parameters of mj_zone at
# config time, a ping, pipelining, SELECT, a password good and bad, Redis
# hung (the worker still serves other locations), down, back without a
# reload, restarted empty (NOSCRIPT), reload with two workers, a client
# that hangs up while its command waits.  Starts its own redis-server.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use IO::Select;
use IO::Socket::INET;
use JSON::PP ();
use Time::HiRes ();
use MJTest;
use MJNginx;
use MJRedis;

plan skip_all => MJRedis::missing() if MJRedis::missing();

my $SLOW = $ENV{MJ_NGINX_VALGRIND} ? 6 : 1;
my $TIMEOUT = 1000 * $SLOW;    # redis_timeout, ms
my $JSON = JSON::PP->new;

my $r1 = MJRedis->new;
my $R1 = $r1->addr;

my $LOCATIONS = <<'_EOC_';
        location = /redis/ping { mj_redis_ping zone=mj; }
        location = /redis/eval { mj_redis_ping zone=mj 'eval=return ARGV[1]' hello; }
        location = /redis/set { mj_redis_ping zone=mj SET mjtest:k v1; }
        location = /redis/bad { mj_redis_ping zone=mj NOSUCHCOMMAND; }
        location = /plain { return 200 "plain\n"; }
_EOC_

# a password file, written whole (MJTest's writer), 0600 unless told
sub write_file {
    my ($path, $text, $mode) = @_;
    MJTest::_write($path, $text, $mode // 0600);
}

# GET a location: status, decoded JSON, seconds taken
sub call {
    my ($ng, $path) = @_;
    my $t0 = Time::HiRes::time();
    my $r = $ng->get($path);
    my $j = eval { $JSON->decode($r->{content}) };
    return ($r->{status}, $j, Time::HiRes::time() - $t0, $r->{content});
}

sub stats { my ($ng) = @_; (call($ng, '/redis/ping'))[1]->{redis} }

# poll until a location answers 200, for what needs no reload to recover
sub wait_ok {
    my ($ng, $path, $timeout) = @_;
    return MJNginx::wait_until(sub { (call($ng, $path))[0] == 200 },
                               $timeout // 20 * $SLOW);
}

sub wait_log {
    my ($ng, $re, $timeout) = @_;
    return MJNginx::wait_until(sub { $ng->error_log =~ $re },
                               $timeout // 10 * $SLOW);
}

# a request on a socket of its own, answered later
sub send_raw { my ($ng, $path) = @_; $ng->send_raw('GET', $path) }
sub read_raw { MJNginx::read_raw(@_) }

sub conf_line {
    my ($ng, $re) = @_;
    my $n = 0;
    for (split /\n/, $ng->conf_text) { $n++; return $n if /$re/ }
}


# --- nginx -t: the parameters, with file and line; Redis need not be up

my $dead = MJNginx::free_port();
my $t = MJNginx->new(no_start => 1, conf => $LOCATIONS);
my $tconf = $t->dir . '/conf/nginx.conf';
my $pwfile = $t->dir . '/conf/redis-password';
write_file($pwfile, "pw-good-0123456789\n");

my ($rc, $out);
for my $args ("redis=127.0.0.1:$dead", "redis=127.0.0.1:$dead redis_db=3 "
              . "redis_prefix=gw1: redis_timeout=250ms fail=open "
              . "redis_password_file=$pwfile",
              "redis=unix:/nonexistent/redis.sock") {
    $t->write_conf(zone_args => $args);
    ($rc, $out) = $t->run('-t');
    is $rc, 0, "nginx -t passes with nothing listening ($args)" or diag $out;
}

my $zline = conf_line($t, qr/mj_zone/);
for my $case (
    ["redis=", qr/invalid parameter "redis="|no host/],
    ["redis=127.0.0.1:99999", qr/invalid port|not an address/],
    ["redis=127.0.0.1 redis_db=x", qr/invalid parameter "redis_db=x"/],
    ["redis=127.0.0.1 redis_timeout=0", qr/invalid parameter "redis_timeout=0"/],
    ["redis=127.0.0.1 fail=maybe", qr/invalid parameter "fail=maybe"/],
    ["redis=127.0.0.1 redis_prefix=", qr/invalid parameter "redis_prefix="/],
    ["redis=127.0.0.1 'redis_prefix=mj:{x}:'", qr/invalid parameter "redis_prefix=mj:\{x\}:"/],
    ["redis=127.0.0.1 redis=127.0.0.2", qr/duplicate parameter "redis=127.0.0.2"/],
    ["redis_db=2", qr/the redis parameters of mj_zone "mj" need "redis=ADDRESS"/],
    ["fail=open", qr/need "redis=ADDRESS"/],
    ["redis=127.0.0.1 redis_password_file=/nonexistent/pw", qr{open\(\) "/nonexistent/pw" failed}],
) {
    my ($args, $re) = @$case;
    $t->write_conf(zone_args => $args);
    ($rc, $out) = $t->run('-t');
    isnt $rc, 0, "nginx -t fails: $args";
    like $out, $re, "... and says why";
    like $out, qr/in \Q$tconf\E:$zline\b/, '... with the file and line';
}

write_file($pwfile, "\n");
$t->write_conf(zone_args => "redis=127.0.0.1 redis_password_file=$pwfile");
($rc, $out) = $t->run('-t');
like $out, qr/must hold one line/, 'an empty password file is refused';

write_file($pwfile, "pw-good-0123456789\n", 0644);
($rc, $out) = $t->run('-t');
is $rc, 0, 'a password file others can read is accepted...';
like $out, qr/redis password file "\Q$pwfile\E" is readable by others than its owner; chmod 600 it/,
     '... with a warning';
($rc, $out) = $t->run('-T');
is $rc, 0, 'nginx -T';
like $out, qr/redis_password_file=\Q$pwfile\E/, 'nginx -T shows the file name';
unlike $out, qr/pw-good-0123456789/, '... never the password';

$t->write_conf(zone_args => '',
               conf => "location = /p { mj_redis_ping zone=mj; }\n");
($rc, $out) = $t->run('-t');
like $out, qr/no "mj_zone zone=mj:\.\.\. redis=\.\.\." before this "mj_redis_ping"/,
     'mj_redis_ping needs a zone with redis=';


# --- connected: ping, a command, a script, an error reply, pipelining

my $ng = MJNginx->new(conf => $LOCATIONS,
                      zone_args => "redis=$R1 redis_db=2 redis_timeout=${TIMEOUT}ms");

my ($st, $j, $secs, $raw) = call($ng, '/redis/ping');
is $st, 200, 'ping' or diag $raw;
is $j->{reply}, 'PONG', 'PONG';
ok MJNginx::wait_until(sub { stats($ng)->{connected} == 1 }, 10 * $SLOW),
   'the worker counts as connected';

($st, $j) = call($ng, '/redis/set');
is_deeply [$st, $j->{reply}], [200, 'OK'], 'a command of the configuration';
my (undef, $v) = $r1->pipeline(['SELECT', 2], ['GET', 'mjtest:k']);
is $v, 'v1', 'it ran in redis_db=2 (SELECT in the handshake)';
is $r1->command('GET', 'mjtest:k'), '', 'not in db 0';

($st, $j) = call($ng, '/redis/eval');
is_deeply [$st, $j->{reply}], [200, 'hello'], 'a script (EVALSHA)';

($st, $j, undef, $raw) = call($ng, '/redis/bad');
is $st, 502, 'an error reply is a 502';
like $j->{reply}{error}, qr/^ERR unknown command/, '... with the error';

my @socks = map { send_raw($ng, '/redis/ping') } 1 .. 40;
my @got = map { (read_raw($_, 10 * $SLOW))[0] } @socks;
is scalar(grep { $_ == 200 } @got), 40, '40 pings at once, pipelined, all answered';

my $s0 = stats($ng);
cmp_ok $s0->{replies}, '>=', 44, 'round trips counted';
is $s0->{errors}, 1, 'the error reply counted';
my $n = 0;
$n += $_ for @{$s0->{latency_us}{count}};
is $n, $s0->{replies}, 'every round trip in the latency histogram';


# --- Redis hangs: a JSON 503 within redis_timeout, the worker serves on

$r1->hang;
my $t0 = Time::HiRes::time();
my $pending = send_raw($ng, '/redis/ping');
($st, undef, $secs) = call($ng, '/plain');
is $st, 200, 'a location without Redis answers while Redis hangs';
cmp_ok $secs, '<', $TIMEOUT / 1000, '... at once, not after redis_timeout';
ok !IO::Select->new($pending)->can_read(0), '... while the ping still waits';

my ($pst, $pbody) = read_raw($pending, $TIMEOUT / 1000 + 10 * $SLOW);
my $waited = Time::HiRes::time() - $t0;
is $pst, 503, 'the ping gets a 503';
like $pbody, qr/"code":9,"description":"redis did not answer in time"/, '... in JSON';
cmp_ok $waited, '>=', 0.8 * $TIMEOUT / 1000, '... after redis_timeout';
cmp_ok $waited, '<', $TIMEOUT / 1000 + 5 * $SLOW, '... not much later';
# (worker 0 of a zone with redis= also looks for its node's mark now and
# then: a look sent during the hang fails with the ping)
ok wait_log($ng, qr/\[error\].*mj_zone "mj": redis \Q$R1\E: no answer within ${TIMEOUT}ms, [12] commands failed; next attempt in/),
   'the time-out is logged as an error';

($st, $j, $secs) = call($ng, '/redis/ping');
is $st, 503, 'still hung: 503';
cmp_ok $secs, '<', $TIMEOUT / 1000 + 5 * $SLOW, '... within redis_timeout';

$r1->resume;
ok wait_ok($ng, '/redis/ping'), 'Redis resumes: ping works again, no reload';
ok wait_log($ng, qr/\[notice\].*mj_zone "mj": redis \Q$R1\E is back/), '"is back" is logged';
cmp_ok stats($ng)->{timeouts}, '>=', 1, 'time-outs counted';


# --- Redis down, then restarted empty: the script is loaded again

$r1->crash;
($st, $j, $secs) = call($ng, '/redis/ping');
is $st, 503, 'Redis down: 503';
cmp_ok $secs, '<', $TIMEOUT / 1000 + 5 * $SLOW, '... within redis_timeout';
like $j->{description}, qr/^redis (is not reachable|did not answer in time)$/,
     '... saying so';

$r1->start;
ok wait_ok($ng, '/redis/ping'), 'Redis back (empty): ping works, no reload';
($st, $j) = call($ng, '/redis/eval');
is_deeply [$st, $j->{reply}], [200, 'hello'], 'the script runs on the new Redis';

my $before = stats($ng)->{noscript};
is $r1->command('SCRIPT', 'FLUSH'), 'OK', 'SCRIPT FLUSH';
($st, $j) = call($ng, '/redis/eval');
is_deeply [$st, $j->{reply}], [200, 'hello'], 'NOSCRIPT: loaded again and retried';
is stats($ng)->{noscript}, $before + 1, '... once, counted';


# --- a client that hangs up while its command waits

my $worker = ($ng->workers)[0];

$r1->hang;
$pending = send_raw($ng, '/redis/ping');
# the request reaches the worker and its command is sent: nothing to poll
Time::HiRes::sleep(0.3 * $SLOW);
close $pending;
ok wait_log($ng, qr/client prematurely closed connection/),
   'the client hung up while its command waited';
$r1->resume;    # the reply comes for a request that is gone
ok wait_ok($ng, '/redis/ping'), 'the next ping works';

$r1->hang;
$pending = send_raw($ng, '/redis/ping');
Time::HiRes::sleep(0.3 * $SLOW);
close $pending;
ok wait_log($ng, qr/no answer within/), 'a hung-up request\'s command times out';
$r1->resume;
ok wait_ok($ng, '/redis/ping'), 'the next ping works';
is_deeply [$ng->workers], [$worker], 'the worker never died';
unlike $ng->error_log, qr/exited on signal|\[alert\]/, 'no crash, no alert';
$ng->stop;


# --- reload with two workers

my $ng2 = MJNginx->new(workers => 2, conf => $LOCATIONS,
                       zone_args => "redis=$R1 redis_timeout=${TIMEOUT}ms");
ok MJNginx::wait_until(sub { stats($ng2)->{connected} == 2 }, 20 * $SLOW),
   'two workers, two connections';
my @st = map { (call($ng2, '/redis/ping'))[0] } 1 .. 20;
is scalar(grep { $_ == 200 } @st), 20, 'pings on both workers';
my $commands = stats($ng2)->{commands};

my ($rrc, $rout) = $ng2->reload;
is $rrc, 0, 'reload' or diag $rout;
ok MJNginx::wait_until(sub { stats($ng2)->{connected} == 2 }, 20 * $SLOW),
   'the new workers connected, the old ones left';
@st = map { (call($ng2, '/redis/ping'))[0] } 1 .. 20;
is scalar(grep { $_ == 200 } @st), 20, 'pings after the reload';
cmp_ok stats($ng2)->{commands}, '>', $commands, 'the counters survive the reload';

# a reload while a command waits on a hung Redis: the old worker answers
# it at its deadline, then exits (no timer of its own keeps it)
$r1->hang;
$pending = send_raw($ng2, '/redis/ping');
Time::HiRes::sleep(0.3 * $SLOW);
($rrc, $rout) = $ng2->reload;
is $rrc, 0, 'a reload while a command waits on a hung Redis: the old workers exit'
    or diag $rout;
($pst, $pbody) = read_raw($pending, $TIMEOUT / 1000 + 10 * $SLOW);
is $pst, 503, '... after answering it (503)';
$r1->resume;
ok wait_ok($ng2, '/redis/ping'), 'the new workers serve';
$ng2->stop;
unlike $ng2->error_log, qr/open socket|\[alert\]|\[emerg\]/,
       'workers exit cleanly with their connections';


# --- a password

my $pw = 'pw-sesame-' . join('', map { ('a' .. 'z')[rand 26] } 1 .. 16);
my $r2 = MJRedis->new(password => $pw);
my $R2 = $r2->addr;
my $ng3 = MJNginx->new(no_start => 1, conf => $LOCATIONS);
my $pwf = $ng3->dir . '/conf/redis-password';
write_file($pwf, "$pw\n");
$ng3->write_conf(zone_args => "redis=$R2 redis_password_file=$pwf "
                              . "redis_timeout=${TIMEOUT}ms");
$ng3->start;
($st, $j) = call($ng3, '/redis/ping');
is_deeply [$st, $j->{reply}], [200, 'PONG'], 'the right password: AUTH, then PONG';

write_file($pwf, "pw-wrong-0123456789\n");
($rrc, $rout) = $ng3->reload;
is $rrc, 0, 'reload with a wrong password' or diag $rout;
($st, $j) = call($ng3, '/redis/ping');
is $st, 503, 'a wrong password: 503';
ok wait_log($ng3, qr/\[error\].*mj_zone "mj": redis \Q$R2\E: AUTH refused: WRONGPASS/),
   'AUTH refused is logged';

$ng3->write_conf(zone_args => "redis=$R2 redis_timeout=${TIMEOUT}ms");
($rrc, $rout) = $ng3->reload;
is $rrc, 0, 'reload without a password';
($st, $j) = call($ng3, '/redis/ping');
is $st, 503, "no password for a Redis that wants one: 503" or diag explain $j;
ok wait_log($ng3, qr/refused: NOAUTH Authentication required/), '... logged';
$ng3->stop;
unlike $ng3->error_log, qr/\Q$pw\E|pw-wrong-0123456789/, 'no password in the log';



# --- a unix socket

my $r3 = MJRedis->new(unixsocket => 1);
my $ng4 = MJNginx->new(conf => $LOCATIONS,
                       zone_args => 'redis=unix:' . $r3->socket_path
                                    . " redis_timeout=${TIMEOUT}ms");
($st, $j) = call($ng4, '/redis/eval');
is_deeply [$st, $j->{reply}], [200, 'hello'], 'redis=unix:PATH';
$ng4->stop;

done_testing;
