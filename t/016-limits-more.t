# Limits where Test::Nginx's format falls short: a fake clock (libfaketime)
# for the UTC day rollover and task ageing; counters kept across reload and
# restart; several workers sharing one limit; a modal step charged only
# when it is confirmed.
use strict;
use warnings;
use Test::More;
use JSON::PP;
use POSIX ();
use FindBin;
use lib "$FindBin::Bin/lib";
use MJTest;
use MJNginx;
use MJClock;

my %alice = (Authorization => "Bearer $KEY{alice}");
my %bob = (Authorization => "Bearer $KEY{bob}");
my $json = JSON::PP->new;
sim_config({queue_slots => 100000});

sub submit {
    my ($ng, $who, $prompt, $path) = @_;
    return $ng->post($path // '/mj/submit/imagine', $who,
                     $json->encode({prompt => $prompt // 'stuck in a test'}));
}

sub status_of {
    my ($ng, $name) = @_;
    my $st = $json->decode($ng->get('/mj-status')->{content});
    my ($u) = grep { $_->{name} eq $name } @{ $st->{users} };
    return $u;
}

my $status_loc = <<'_EOC_';
        location = /mj-status {
            mj_quota 3;
            mj_status zone=mj;
        }
_EOC_

# 1. the UTC day rollover and task ageing, on a fake clock: frozen, so
# that the seconds to midnight are exactly those set however slowly the
# requests go
SKIP: {
    my $clock = MJClock->new('2026-11-27 23:59:40');
    skip "libfaketime is not installed", 9 unless $clock;

    my $ng = MJNginx->new(clock => $clock, conf => <<'_EOC_');
        location /mj/ {
            mj_gateway zone=mj;
            mj_quota 2;
            proxy_pass http://mjsim;
        }
        location /tasks/ {
            mj_gateway zone=mj;
            mj_limit_tasks 1 age=10m;
            rewrite ^/tasks(/.*)$ $1 break;
            proxy_pass http://mjsim;
        }
_EOC_

    is submit($ng, \%alice)->{status}, 200, 'first submit of the day';
    is submit($ng, \%alice)->{status}, 200, 'second';
    my $r = submit($ng, \%alice);
    is $r->{status}, 429, 'the quota of 2 is used up';
    is $r->{headers}{'retry-after'}, 20, 'Retry-After: the 20 seconds to UTC midnight';
    $clock->set('2026-11-28 00:00:05');
    is submit($ng, \%alice)->{status}, 200, 'after midnight UTC the quota is new';

    is submit($ng, \%bob, undef, '/tasks/mj/submit/imagine')->{status}, 200, 'bob: one unfinished task';
    $r = submit($ng, \%bob, undef, '/tasks/mj/submit/imagine');
    is $r->{status}, 429, 'the cap of 1 is reached';
    is $r->{headers}{'retry-after'}, 600, 'Retry-After: when the task stops counting';
    $clock->set('2026-11-28 00:10:06');
    is submit($ng, \%bob, undef, '/tasks/mj/submit/imagine')->{status}, 200,
       'after age=10m the task counts no more';
    $ng->stop;
}

# 2. counters survive reload and restart
my $state = mj_dir() . "/state-limits/mj.state";
my $conf = <<"_EOC_";
        location /mj/ {
            mj_gateway zone=mj;
            mj_quota 3;
            proxy_pass http://mjsim;
        }
$status_loc
_EOC_
my $ng = MJNginx->new(workers => 2, state => $state, conf => $conf);
is submit($ng, \%alice)->{status}, 200, 'submit 1';
is submit($ng, \%alice)->{status}, 200, 'submit 2';
is status_of($ng, 'alice')->{quota}{used}, 2, 'the status shows 2 units used';
my ($rc, $out) = $ng->reload;
is $rc, 0, 'reload' or diag $out;
is status_of($ng, 'alice')->{quota}{used}, 2, 'a reload keeps the count';
$ng->stop;
$ng = MJNginx->new(workers => 2, state => $state, conf => $conf);
my $st = status_of($ng, 'alice');
is $st->{quota}{used}, 2, 'a restart keeps the daily count';
is $st->{submits}, 2, 'and the other counters';
is submit($ng, \%alice)->{status}, 200, 'one unit is left';
is submit($ng, \%alice)->{status}, 429, 'then the quota is used up';
$ng->stop;

# 3. two workers share one limit: 1 + burst of 10 concurrent submits pass
$ng = MJNginx->new(workers => 2, conf => <<"_EOC_");
        location /mj/ {
            mj_gateway zone=mj;
            mj_limit_submit rate=1r/m burst=3;
            proxy_pass http://mjsim;
        }
$status_loc
_EOC_
my @kids;
for my $i (1 .. 10) {
    my $pid = fork // die;
    if (!$pid) {
        my $r = submit($ng, \%alice);
        POSIX::_exit($r->{status} == 200 ? 0 : $r->{status} == 429 ? 1 : 2);
    }
    push @kids, $pid;
}
my %res;
for (@kids) { waitpid $_, 0; $res{$? >> 8}++ }
is $res{0}, 4, 'exactly 4 passed';
is $res{1}, 6, 'and 6 were refused, across both workers';
my %pids = map { $_ => 1 } $ng->workers;
is scalar keys %pids, 2, 'two workers served';
$ng->stop;

# 3b. concurrent submits cannot pass the cap on unfinished tasks: those
# not answered yet count too
$ng = MJNginx->new(workers => 2, conf => <<"_EOC_");
        location /mj/ {
            mj_gateway zone=mj;
            mj_limit_tasks 2;
            proxy_pass http://mjsim;
        }
_EOC_
@kids = ();
for my $i (1 .. 8) {
    my $pid = fork // die;
    if (!$pid) {
        my $r = $ng->post('/mj/submit/imagine', {%alice, 'X-Sim-Mode' => 'slow:300'},
                          $json->encode({prompt => 'stuck at once'}));
        POSIX::_exit($r->{status} == 200 ? 0 : $r->{status} == 429 ? 1 : 2);
    }
    push @kids, $pid;
}
%res = ();
for (@kids) { waitpid $_, 0; $res{$? >> 8}++ }
is $res{0}, 2, 'exactly the cap of 2 passed of 8 concurrent submits';
is $res{1}, 6, 'the others were refused';
$ng->stop;

# 4. a modal step costs nothing until it is confirmed, then its action's cost
$ng = MJNginx->new(conf => <<"_EOC_");
        location /mj/ {
            mj_gateway zone=mj;
            mj_quota 20;
            mj_quota_cost ZOOM=5;
            proxy_pass http://mjsim;
        }
        location = /mj-status {
            mj_quota 20;
            mj_status zone=mj;
        }
_EOC_
my $grid = $json->decode(submit($ng, \%bob, 'a quiet harbour')->{content})->{result};
my $task;
MJNginx::wait_until(sub {
    $task = $json->decode($ng->get("/mj/task/$grid/fetch", \%bob)->{content});
    $task->{status} eq 'SUCCESS';
}, 20) or fail 'the grid did not finish';
my ($u1) = map { $_->{customId} } grep { $_->{label} eq 'U1' } @{ $task->{buttons} };
my $up = $json->decode($ng->post('/mj/submit/action', \%bob,
                       $json->encode({taskId => $grid, customId => $u1}))->{content})->{result};
MJNginx::wait_until(sub {
    $task = $json->decode($ng->get("/mj/task/$up/fetch", \%bob)->{content});
    $task->{status} eq 'SUCCESS';
}, 20) or fail 'the upscale did not finish';
my $used = status_of($ng, 'bob')->{quota}{used};
is $used, 2, 'imagine and upscale cost 1 each';
my ($zoom) = map { $_->{customId} } grep { $_->{customId} =~ /CustomZoom/ } @{ $task->{buttons} };
my $res = $json->decode($ng->post('/mj/submit/action', \%bob,
                        $json->encode({taskId => $up, customId => $zoom}))->{content});
is $res->{code}, 21, 'the zoom waits for its modal step';
is status_of($ng, 'bob')->{quota}{used}, 2, 'and costs nothing yet';
$res = $json->decode($ng->post('/mj/submit/modal', \%bob,
                     $json->encode({taskId => $res->{result}, prompt => 'wider'}))->{content});
is $res->{code}, 1, 'the modal step is confirmed';
is status_of($ng, 'bob')->{quota}{used}, 7, 'and charged at the zoom\'s cost, 5';
$ng->stop;

done_testing;
