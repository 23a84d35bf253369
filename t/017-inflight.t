# A submit in flight holds a place in the zone and a place under its user's
# cap of unfinished tasks.  A worker killed mid-submit, or a crash whose last
# snapshot was taken mid-submit, must not keep them for ever: the next
# worker (or the next start) gives them back.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use MJTest;
use MJNginx;
use IO::Socket::INET;
use JSON::PP;
use File::Temp ();

my $loc = mj_status_conf('mj_limit_tasks 1; mj_quota 10;');

my $dir = File::Temp::tempdir('mj-inflight-XXXXXX', TMPDIR => 1,
                              CLEANUP => 1);
chmod 0755, $dir;
my $state = "$dir/mj.state";
my %alice = (Authorization => "Bearer $KEY{alice}");
my $ng;

END { $ng->stop if $ng }

sub zone { mj_zone_status($ng) }

# a submit the upstream answers only after "ms": its socket is kept open
sub slow_submit {
    my ($ms, $prompt) = @_;
    my $body = '{"prompt":"' . ($prompt // 'a slow heron') . '"}';
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $ng->port) or die $!;
    print {$s} "POST /mj/submit/imagine HTTP/1.1\r\nHost: gw\r\n"
        . "Authorization: Bearer $KEY{alice}\r\nX-Sim-Mode: slow:$ms\r\n"
        . "Content-Type: application/json\r\n"
        . "Content-Length: " . length($body) . "\r\n\r\n$body";
    return $s;
}

sub submit {
    return $ng->post('/mj/submit/imagine', \%alice, '{"prompt":"a heron"}');
}

# a task the gateway has seen finished counts no more against the cap
sub finish {
    my ($r) = @_;
    my $id = decode_json($r->{content})->{result};
    return MJNginx::wait_until(sub {
        my $f = $ng->get("/mj/task/$id/fetch", \%alice);
        $f->{status} == 200
            && decode_json($f->{content})->{status} eq 'SUCCESS';
    }, 10);
}

sub inode { (stat $state)[1] // 0 }

$ng = MJNginx->new(conf => $loc, state => $state,
                   zone_args => 'snapshot=1s');

# 1. a worker killed mid-submit
my $s = slow_submit(10000);
ok MJNginx::wait_until(sub { zone()->{reserved} == 1 }, 10),
   'a submit in flight holds a place in the zone';
is submit()->{status}, 429, 'and its user\'s one place under the cap';

my @old = $ng->workers;
kill 'KILL', @old;
ok MJNginx::wait_until(sub {
    my @w = $ng->workers;
    @w && !grep { my $o = $_; grep { $_ == $o } @w } @old;
}, 10), 'the master starts a new worker';
ok MJNginx::wait_until(sub { zone()->{reserved} == 0 }, 10),
   'which gives the dead worker\'s place in the zone back';
like $ng->error_log,
     qr/mj_zone "mj": 1 submits of a worker process that died were given back/,
     'and says so';
close $s;

my $r = submit();
is $r->{status}, 200, 'the user\'s place under the cap is back too'
    or diag $r->{content};
ok finish($r), 'that task finishes';

# 2. a crash whose last snapshot was taken mid-submit
$s = slow_submit(10000);
ok MJNginx::wait_until(sub { zone()->{reserved} == 1 }, 10),
   'another submit in flight';
my $before = inode();
ok MJNginx::wait_until(sub { inode() != $before }, 10),
   'a snapshot is written while it is in flight';

my @pids = ($ng->pid, $ng->children);
kill 'KILL', @pids;
MJNginx::wait_until(sub { !grep { kill 0, $_ } @pids }, 10);
unlink "$ng->{dir}/logs/nginx.pid";
close $s;

$ng = MJNginx->new(conf => $loc, state => $state);
is zone()->{reserved}, 0, 'after the restart nothing is in flight';
$r = submit();
is $r->{status}, 200, 'and the snapshot\'s submit in flight holds no place'
    or diag $r->{content};

ok finish($r), 'that task finishes';

# 3. a client that hangs up after the upstream was sent its submit
my $used = mj_user_status($ng, 'alice')->{quota}{used};
$s = slow_submit(10000, 'a heron that hangs up');
ok MJNginx::wait_until(sub { sim_seen('a heron that hangs up') }, 10),
   'the upstream is sent the submit';
close $s;
ok MJNginx::wait_until(sub { zone()->{reserved} == 0 }, 10),
   'the client hangs up: its place in the zone is given back';
is mj_user_status($ng, 'alice')->{quota}{used}, $used + 1,
   'but its unit is kept: the task may exist';
like $ng->error_log, qr/mj: user "alice" went away before the answer to a submit the upstream was sent: its units are kept/,
     'and the log says why';
$r = submit();
is $r->{status}, 200, 'its place under the cap is given back too';
ok finish($r), 'that task finishes';

# 4. a zone resized while a submit is in flight: the old worker answers it
# in the old zone, so the new zone must not count it in flight for ever
$s = slow_submit(3000, 'a heron across a resize');
ok MJNginx::wait_until(sub { zone()->{reserved} == 1 }, 10),
   'a submit in flight';
$ng->write_conf(zone_size => '2m');
my ($rc, $out) = $ng->reload;
is $rc, 0, 'a reload resizes the zone, and waits for the old worker'
    or diag $out;
close $s;
like $ng->error_log, qr/mj_zone "mj" was resized/, 'the zone was resized';
$r = submit();
is $r->{status}, 200, 'the new zone holds no place of the old one\'s submit'
    or diag $r->{content};

done_testing;
