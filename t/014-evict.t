# A full zone evicts tasks seen finished first, then the oldest past
# max_age; with neither, submits get a JSON 503 before reaching the
# upstream.  It is logged once and counted.  The gateway runs on a fake
# clock, frozen but where the test moves it: however slowly the zone
# fills, no task ages meanwhile.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use MJTest;
use MJNginx;
use MJClock;

my $loc = <<'_EOC_';
        location /mj/ {
            mj_gateway zone=mj;
            proxy_pass http://mjsim;
        }
_EOC_

my $clock = MJClock->new('2026-06-15 12:00:00')
    or die "libfaketime is not installed: run make deps\n";
sim_config({queue_slots => 100000});
my %alice = (Authorization => "Bearer $KEY{alice}");
my $base = 1790000000000000 + ($$ % 1000) * 10000;
my $n = 0;
my $full = qq[{"code":9,"description":"the gateway cannot track more tasks now; try again later"}\n];

sub submit {
    my ($ng) = @_;
    my $id = $base + ++$n;
    my $r = $ng->post('/mj/submit/imagine', {%alice, 'X-Sim-Task-Id' => $id},
                      '{"prompt":"fill"}');
    return ($r, $id);
}

my %made_at;    # id => the (fake) second its submit was answered

sub fill {
    my ($ng) = @_;
    my (@ids, $r, $id);
    for (1 .. 5000) {
        ($r, $id) = submit($ng);
        last if $r->{status} != 200;
        $made_at{$id} = int $clock->now;
        push @ids, $id;
    }
    return ($r, $id, @ids);
}

# 1. nothing finished, nothing old: 503, not relayed
my $ng = MJNginx->new(conf => $loc, clock => $clock, zone_size => '32k',
                      zone_args => 'max_age=1h state=off');
my ($r, $refused, @ids) = fill($ng);
my $cap = @ids;
cmp_ok $cap, '>', 200, "a 32k zone holds hundreds of tasks ($cap)";
is $r->{status}, 503, 'then a submit is refused with 503';
is $r->{content}, $full, 'in the contract\'s shape';
is sim_seen($refused), 0, 'and the refused submit never reached the upstream';
like $ng->error_log, qr/mj_zone "mj" is full and nothing can be evicted: submits refused/,
     'the refusal is logged';

# 2. a task seen finished goes first
my $first = $ids[0];
ok MJNginx::wait_until(sub {
    $ng->get("/mj/task/$first/fetch", \%alice)->{content} =~ /"status":\s*"SUCCESS"/;
}, 20), 'the first task is seen finished through a fetch';
($r) = submit($ng);
is $r->{status}, 200, 'a submit now evicts the finished task';
is $ng->get("/mj/task/$first/fetch", \%alice)->{status}, 404, 'the evicted task is gone';
my @warn = $ng->error_log =~ /(is full \(\d+ tasks\): evicting)/g;
is scalar @warn, 1, 'the first eviction is logged once';
($r) = submit($ng);
is $r->{status}, 503, 'with nothing else finished, the next submit is refused again';
($r) = submit($ng);
is $r->{status}, 503, 'and again';
@warn = $ng->error_log =~ /(is full \(\d+ tasks\): evicting)/g;
is scalar @warn, 1, 'still logged once';
is $ng->get("/mj/task/$ids[1]/fetch", \%alice)->{status}, 200,
   'the tasks not evicted are still there (and this one is now seen finished)';
($r) = submit($ng);
is $r->{status}, 200, 'so the next submit evicts it';
is $ng->get("/mj/task/$ids[1]/fetch", \%alice)->{status}, 404, 'and it is gone';
$ng->stop;

# 3. past max_age, the oldest go, oldest first.  (A short max_age may let
# some go while the zone is still filling: what goes is always the oldest.)
$ng = MJNginx->new(conf => $loc, clock => $clock, zone_size => '32k',
                   zone_args => 'max_age=1s state=off');
my ($r1, $oldest) = submit($ng);
is $r1->{status}, 200, 'the first task of a second zone';
$clock->advance(1);    # alone in its second
($r, $refused, @ids) = fill($ng);
is $r->{status}, 503, 'then the zone is full';
$clock->advance(1);
($r) = submit($ng);
is $r->{status}, 200, 'once the oldest is past max_age a submit evicts it';
my @made = ($oldest, @ids);
my $evicted = @made + 1 - $cap;
my @gone = grep { $ng->get("/mj/task/$made[$_]/fetch", \%alice)->{status} == 404 } 0 .. $#made;
is $gone[0], 0, 'the oldest is gone';
# the tasks of the oldest second go together, so one pass makes room for many
cmp_ok scalar @gone, '>=', $evicted, "at least as many went as had to ($evicted)";
# the zone keeps whole seconds: among tasks of one second any may go first
my %gone = map { $_ => 1 } @gone;
my ($newest_gone) = sort { $b <=> $a } map { $made_at{$made[$_]} // 0 } @gone;
my ($oldest_kept) = sort { $a <=> $b } map { $made_at{$made[$_]} } grep { !$gone{$_} } 1 .. $#made;
cmp_ok scalar @gone, '<=', $evicted + @made / 64 + 1, 'and only a few more than had to: a 64th of the zone at most';
cmp_ok $newest_gone, '<=', $oldest_kept, 'and no task went before an older one (to the second)'
    or diag "gone: " . join(' ', map { "$_:" . ($made_at{$made[$_]} // '?') } @gone) . " oldest kept $oldest_kept";
$ng->stop;

done_testing;
