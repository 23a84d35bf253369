# Several workers share one zone; a worker killed with SIGKILL in the middle
# of traffic leaves the zone usable.
use strict;
use warnings;
use Test::More;
use POSIX ();
use FindBin;
use lib "$FindBin::Bin/lib";
use MJTest;
use MJNginx;

my $ng = MJNginx->new(workers => 2, conf => <<'_EOC_');
        location /mj/ {
            mj_gateway zone=mj;
            proxy_pass http://mjsim;
        }
_EOC_

my %alice = (Authorization => "Bearer $KEY{alice}");
my %bob = (Authorization => "Bearer $KEY{bob}");
sim_config({queue_slots => 10000});    # no "queue full" from the upstream here
my $base = 1740000000000000 + ($$ % 1000) * 1000;

# traffic from a child: submits and fetches on fresh connections, so both
# workers take part
sub traffic {
    my ($from, $count) = @_;
    my $pid = fork // die;
    return $pid if $pid;
    my $bad = 0;
    for my $i ($from .. $from + $count - 1) {
        my $id = $base + $i;
        my $r = $ng->post('/mj/submit/imagine', {%alice, 'X-Sim-Task-Id' => $id},
                          '{"prompt":"busy"}');
        next if $r->{status} == 599;    # the killed worker's connection
        if ($r->{status} != 200 || $r->{content} !~ /"code":\s*1\b/) {
            print STDERR "# submit $id: $r->{status} $r->{content}\n";
            $bad++;
            next;
        }
        $r = $ng->get("/mj/task/$id/fetch", \%alice);
        next if $r->{status} == 599;
        if ($r->{status} != 200) {
            print STDERR "# fetch $id: $r->{status} $r->{content}\n";
            $bad++;
        }
    }
    POSIX::_exit($bad ? 1 : 0);
}

my @workers = $ng->workers;
is scalar @workers, 2, 'two workers';

my $child = traffic(1, 150);
MJNginx::wait_until(sub { sim_seen('busy') >= 20 }, 20) or diag 'traffic slow to start';
kill 'KILL', $workers[0];
ok MJNginx::wait_until(sub {
    my @w = $ng->workers;
    @w == 2 && !grep { $_ == $workers[0] } @w;
}, 10), 'the master replaced the killed worker';
waitpid $child, 0;
is $? >> 8, 0, 'every answered request during the kill was right';

like $ng->error_log, qr/worker process $workers[0] exited on signal 9/, 'the kill is logged';

# the zone after the crash: every recorded task still answers its owner
my ($ok, $total) = (0, 0);
for my $i (1 .. 150) {
    my $id = $base + $i;
    next unless sim_get("/_sim/task/$id");    # made upstream
    $total++;
    $ok++ if $ng->get("/mj/task/$id/fetch", \%alice)->{status} == 200;
}
cmp_ok $total, '>', 100, "most submits reached the upstream ($total)";
cmp_ok $total - $ok, '<=', 1, "every task but at most the one in flight at the kill is recorded ($ok of $total)";

# and new work goes on in both workers
my $child2 = traffic(200, 40);
waitpid $child2, 0;
is $? >> 8, 0, 'traffic after the crash is served';
is $ng->get("/mj/task/" . ($base + 210) . "/fetch", \%bob)->{status}, 404,
   "other users still cannot see alice's tasks";

done_testing;
