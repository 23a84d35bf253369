# A crash of the whole of nginx (kill -9 of the master and every other
# process) loses nothing a client was told: every task whose id a client
# got is its owner's again after the next start, every quota unit charged
# is still charged, the statuses the gateway saw stay seen and the
# task-cap slots come back as they were.  The journal does it, with
# snapshots written under way and without; a journal whose last write was
# torn keeps everything before it.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use MJTest;
use MJNginx;
use JSON::PP;
use POSIX ();
use File::Temp ();

my $loc = mj_status_conf('mj_limit_tasks 16; mj_quota 100000;');

my $dir = File::Temp::tempdir('mj-journal-XXXXXX', TMPDIR => 1,
                              CLEANUP => 1);
chmod 0755, $dir;
my $state = "$dir/mj.state";
my %who = (alice => {Authorization => "Bearer $KEY{alice}"},
           bob   => {Authorization => "Bearer $KEY{bob}"},
           erin  => {Authorization => "Bearer $KEY{erin}"});
my %other = (alice => 'bob', bob => 'erin', erin => 'alice');
my $json = JSON::PP->new;
my $ng;

sim_config({queue_slots => 100000});

sub start {
    my (%opt) = @_;
    $ng = MJNginx->new(conf => $loc, state => $state, workers => 2, %opt);
}

# a client submitting (and now and then polling) as "user" until killed;
# each id it gets is appended to "file" as "user id", in one write
sub stream {
    my ($user, $file) = @_;
    my $pid = fork // die;
    return $pid if $pid;
    open my $fh, '>>', $file or die;
    my @mine;
    for (my $i = 0; ; $i++) {
        my $r = $ng->post('/mj/submit/imagine', $who{$user},
                          '{"prompt":"a stream of herons"}');
        my $id = $r->{status} == 200
                 ? eval { $json->decode($r->{content})->{result} } : undef;
        if ($id) {
            syswrite $fh, "$user $id\n";
            push @mine, $id;
        }
        $ng->get("/mj/task/$mine[$i % @mine]/fetch", $who{$user}) if @mine;
    }
}

sub received {
    my ($file) = @_;
    open my $fh, '<', $file or return ();
    return map { [split] } <$fh>;
}

sub status_of {
    my %s;
    for my $u (keys %who) {
        my $st = mj_user_status($ng, $u) or next;
        $s{$u} = {used => $st->{quota}{used}, unfinished => $st->{unfinished},
                  tracked => $st->{tracked}, submits => $st->{submits}};
    }
    my $z = mj_zone_status($ng);
    $s{zone} = {tasks => $z->{tasks}, finished => $z->{finished}};
    return \%s;
}

# every id a client got: its owner's, and no one else's
sub owned {
    my ($what, @got) = @_;
    my ($mine, $theirs) = (0, 0);
    for (@got) {
        my ($user, $id) = @$_;
        $mine++ if $ng->get("/mj/task/$id/fetch", $who{$user})->{status} == 200;
        $theirs++ if $ng->get("/mj/task/$id/fetch",
                              $who{$other{$user}})->{status} == 404;
    }
    is $mine, scalar @got, "$what: each of the " . @got
                           . " tasks a client got is its owner's";
    is $theirs, scalar @got, "$what: and no other user's";
}

# 1. a crash under a steady stream of submits, snapshots written meanwhile
start(zone_args => 'snapshot=1s');
my $ids = "$dir/ids";
my @clients = map { stream($_, $ids) } sort keys %who;
my $before = (stat $state)[1] // 0;
ok MJNginx::wait_until(sub { received($ids) >= 60 }, 60),
   'the clients got 60 task ids' or diag $ng->log_tail;
ok MJNginx::wait_until(sub { ((stat $state)[1] // 0) != $before }, 20),
   'a snapshot was written meanwhile';
ok MJNginx::wait_until(sub { received($ids) >= 90 }, 60),
   'and more after it';

# a reload under way: old and new workers append to the same journal
my ($rc, $out) = $ng->reload;
is $rc, 0, 'a reload under way' or diag $out;
ok MJNginx::wait_until(sub { received($ids) >= 120 }, 60),
   'the clients go on getting ids';
$ng->crash;
kill 'KILL', @clients;
waitpid $_, 0 for @clients;
my @got = received($ids);

start(zone_args => 'snapshot=1s');
like $ng->error_log, qr/\[notice\].*replayed \d+ journal records/,
     'the next start replays the journal';
unlike $ng->error_log, qr/\[(error|alert|crit)\]/, 'and finds nothing wrong';
owned('after a crash under way', @got);
my %got;
$got{$_->[0]}++ for @got;
for my $u (sort keys %who) {
    my $st = mj_user_status($ng, $u);
    cmp_ok $st->{quota}{used}, '>=', $got{$u} // 0,
           "$u: every unit charged for an id she got is still charged";
    is $st->{quota}{used}, $st->{tracked},
       "$u: and no other unit: one a task recorded ($st->{tracked})";
}

# 2. a quiet crash between snapshots: the counters come back exactly,
# statuses seen finished included
$ng->stop;
ok !(grep { -s } glob "$state.journal.*"),
   'a clean stop leaves everything in the state file, no journal';
start(zone_args => 'snapshot=1h');
my @quiet;
for my $u (sort keys %who) {
    for (1 .. 4) {
        my $r = $ng->post('/mj/submit/imagine', $who{$u}, '{"prompt":"quiet"}');
        is $r->{status}, 200, "$u submits" or diag $r->{content};
        push @quiet, [$u, $json->decode($r->{content})->{result}];
    }
}
# the gateway sees half of them finish
for my $t (@quiet[0 .. 5]) {
    ok MJNginx::wait_until(sub {
        my $r = $ng->get("/mj/task/$t->[1]/fetch", $who{$t->[0]});
        $r->{status} == 200
            && $json->decode($r->{content})->{status} eq 'SUCCESS';
    }, 20), "the gateway sees $t->[0]'s task $t->[1] finish";
}
my $was = status_of();
cmp_ok $was->{zone}{finished}, '>=', 6, 'six tasks seen finished';
$ng->crash;

start(zone_args => 'snapshot=1h');
is_deeply status_of(), $was,
   'after the crash: quota used, unfinished and tracked tasks, submits, '
   . 'tasks seen finished, all as they were'
   or diag explain [status_of(), $was];
owned('after a quiet crash', @quiet);

# 3. the last write torn by the crash: everything before it is kept
my $r = $ng->post('/mj/submit/imagine', $who{alice}, '{"prompt":"torn"}');
is $r->{status}, 200, 'one more submit';
push @quiet, ['alice', $json->decode($r->{content})->{result}];
$was = status_of();
$ng->crash;
my ($last) = sort { (-s $b) <=> (-s $a) || $b cmp $a }
             grep { -s } glob "$state.journal.*";
ok $last, 'a journal holds the records since the last start';
{
    open my $fh, '>>', $last or die;
    binmode $fh;
    print {$fh} "\x00" x 4, "J\x01\x30\x00", "\x07" x 21;    # a head, cut
}
start(zone_args => 'snapshot=1h');
like $ng->error_log,
     qr/\[warn\].*journal "\Q$last\E" ends in 29 bytes that are no whole record \(a write torn by a crash\): ignored/,
     'the torn record is ignored, and the log says so';
is_deeply status_of(), $was, 'everything before it is kept';
owned('after a torn write', @quiet);

done_testing;
