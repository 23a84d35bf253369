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
use MJHold;
use IO::Socket::INET;
use JSON::PP;
use File::Temp ();

# submits in flight go through /held/ to an upstream that answers when
# the test says so (t/lib/MJHold.pm), or never
my $limits = 'mj_limit_tasks 1; mj_quota 10;';
my $hold = MJHold->new;
my $loc = mj_status_conf($limits) . <<"_EOC_";
        location /held/ {
            mj_gateway zone=mj;
            $limits
            rewrite ^/held(/.*)\$ \$1 break;
            proxy_pass http://127.0.0.1:${\ $hold->port};
        }
_EOC_

my $dir = File::Temp::tempdir('mj-inflight-XXXXXX', TMPDIR => 1,
                              CLEANUP => 1);
chmod 0755, $dir;
my $state = "$dir/mj.state";
my %alice = (Authorization => "Bearer $KEY{alice}");
my $ng;

END { $ng->stop if $ng }

sub zone { mj_zone_status($ng) }

# a submit the upstream holds: its socket is kept open; once the upstream
# has it, $hold answers it, or drops it, when the test says
sub held_submit {
    my ($prompt) = @_;
    my $body = '{"prompt":"' . ($prompt // 'a slow heron') . '"}';
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $ng->port) or die $!;
    print {$s} "POST /held/mj/submit/imagine HTTP/1.1\r\nHost: gw\r\n"
        . "Authorization: Bearer $KEY{alice}\r\n"
        . "Content-Type: application/json\r\n"
        . "Content-Length: " . length($body) . "\r\n\r\n$body";
    $hold->take(10) or diag 'the held submit never reached the upstream';
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

$ng = MJNginx->new(conf => $loc, state => $state,
                   zone_args => 'snapshot=1s');

# 1. a worker killed mid-submit
my $s = held_submit();
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
$s = held_submit();
ok MJNginx::wait_until(sub { zone()->{reserved} == 1 }, 10),
   'another submit in flight';
ok $ng->wait_snapshot(10), 'a snapshot is written while it is in flight';

my @pids = ($ng->pid, $ng->workers);
kill 'KILL', @pids;
MJNginx::wait_until(sub { !grep { MJNginx::running($_) } @pids }, 10);
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
$s = held_submit('a heron that hangs up');
like $hold->request // '', qr/a heron that hangs up/,
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
$s = held_submit('a heron across a resize');
ok MJNginx::wait_until(sub { zone()->{reserved} == 1 }, 10),
   'a submit in flight';
$ng->write_conf(zone_size => '2m');
my ($rc, $out) = $ng->reload(sub {
    $hold->answer('{"code":1,"description":"Submitted","result":"1798000000000001"}');
});
is $rc, 0, 'a reload resizes the zone, and waits for the old worker'
    or diag $out;
close $s;
like $ng->error_log, qr/mj_zone "mj" was resized/, 'the zone was resized';
$r = submit();
is $r->{status}, 200, 'the new zone holds no place of the old one\'s submit'
    or diag $r->{content};

done_testing;
