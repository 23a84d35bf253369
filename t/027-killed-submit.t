# A worker killed in the middle of a submit (SIGKILL after the upstream was
# sent it, before its answer was read): the client never gets a task id,
# so the user is not charged for it.  The worker started in its place gives
# the units back, and says at "error" which user's submit of what time was
# lost, for the operator to reconcile with the upstream, which may have
# made the task.  A crash of nginx afterwards keeps it that way.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use MJTest;
use MJNginx;
use IO::Socket::INET;
use POSIX ();
use File::Temp ();

my $dir = File::Temp::tempdir('mj-killed-XXXXXX', TMPDIR => 1,
                              CLEANUP => 1);
chmod 0755, $dir;
my $state = "$dir/mj.state";
my $loc = mj_status_conf('mj_quota 10; mj_quota_cost IMAGINE=3;');
my %alice = (Authorization => "Bearer $KEY{alice}");
my $id = 1750000000000000 + ($$ % 1000) * 1000;
my $ng = MJNginx->new(conf => $loc, state => $state,
                      zone_args => 'snapshot=1h');

sub used { mj_user_status($ng, 'alice')->{quota}{used} }

my $r = $ng->post('/mj/submit/imagine', {%alice, 'X-Sim-Task-Id' => $id + 1},
                  '{"prompt":"a heron that lands"}');
is $r->{status}, 200, 'a submit is answered';
is used(), 3, 'and charged its 3 units';

# a submit the upstream answers after 10 s: its socket stays open
my $body = '{"prompt":"a heron in flight"}';
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $ng->port)
    or die $!;
print {$s} "POST /mj/submit/imagine HTTP/1.1\r\nHost: gw\r\n"
    . "Authorization: Bearer $KEY{alice}\r\nX-Sim-Mode: slow:10000\r\n"
    . "X-Sim-Task-Id: " . ($id + 2) . "\r\n"
    . "Content-Type: application/json\r\n"
    . "Content-Length: " . length($body) . "\r\n\r\n$body";

ok MJNginx::wait_until(sub { sim_seen('a heron in flight') }, 10),
   'the upstream is sent the second submit';
is used(), 6, 'which holds its 3 units while it waits for its answer';

my $t0 = time;
my @old = $ng->workers;
kill 'KILL', @old;
ok MJNginx::wait_until(sub {
    my @w = $ng->workers;
    @w && !grep { my $o = $_; grep { $_ == $o } @w } @old;
}, 10), 'its worker is killed, and the master starts another';
ok MJNginx::wait_until(sub { used() == 3 }, 10),
   'which gives the 3 units of the submit whose answer it never read back'
   or diag 'used: ' . used();

my ($line) = $ng->error_log =~ /^(.*a submit of user "alice" admitted at .*)$/m;
like $line,
     qr/\[error\].*mj_zone "mj": a submit of user "alice" admitted at (\S+) was in flight in a worker process that died: its answer was never read, 3 quota units were given back; the upstream may have made its task/,
     'the log names the user and the time, for the operator to reconcile';
my ($when) = ($line // '') =~ /admitted at (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)/;
my $t1 = POSIX::strftime('%Y-%m-%dT%H:%M:%SZ', gmtime($t0 - 15));
my $t2 = POSIX::strftime('%Y-%m-%dT%H:%M:%SZ', gmtime(time));
ok $when && $when ge $t1 && $when le $t2, "a time in UTC ($when)";
close $s;

is $ng->get("/mj/task/" . ($id + 2) . "/fetch", \%alice)->{status}, 404,
   'the task the upstream may have made is no one\'s in the gateway';
is $ng->get("/mj/task/" . ($id + 1) . "/fetch", \%alice)->{status}, 200,
   'the answered one is hers';

# a crash now: the journal never held the lost submit's units
$ng->crash;
$ng = MJNginx->new(conf => $loc, state => $state);
is used(), 3, 'after a crash of nginx the units stay given back';
is $ng->get("/mj/task/" . ($id + 1) . "/fetch", \%alice)->{status}, 200,
   'and the answered task stays hers';

done_testing;
