# A damaged state file keeps everything that can be read, and never loses
# a counter without a word: the file cut at every tenth and one byte
# short, and bytes flipped in its head, its trailer, a block of users'
# counters (one copy, both copies) and a block of tasks.  For each case the
# start's log line says what was lost, with counts (tasks, users, quota
# units), at "error"; what was not lost is restored.  A damaged journal
# keeps the records around the damage, and says so.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use MJTest;
use MJNginx;
use Digest::SHA qw(sha256_hex);
use File::Temp ();
use POSIX ();

my $USERS = 40;
my $EACH = 20;                         # submits a user, 1 unit each
my $TASKS = $USERS * $EACH;
my ($HEAD, $BLOCK) = (96, 16 + 4096);  # mj_state_parse.h
my $UPB = int(4096 / 344);             # users' counters in a block
my $TPB = int(4096 / 32);              # tasks in a block
my $UBLOCKS = int(($USERS + $UPB - 1) / $UPB);
my $TBLOCKS = int(($TASKS + $TPB - 1) / $TPB);

my $dir = File::Temp::tempdir('mj-damage-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $dir;
my $state = "$dir/mj.state";
my $loc = mj_status_conf('mj_quota 1000;');
my @users = map { sprintf 'dmg%02d', $_ } 0 .. $USERS - 1;
my %key = map { $_ => "mj-$_-key-0123456789" } @users;
my $day = POSIX::strftime('%Y-%m-%d', gmtime);

mj_write_users(mj_users_text()
               . join('', map { "$_ " . sha256_hex($key{$_}) . " main\n" }
                          @users));
sim_config({queue_slots => 100000});

# the state file: every user submits $EACH tasks, nginx stops and writes it
my $ng = MJNginx->new(conf => $loc, state => $state, workers => 2,
                      zone_args => 'snapshot=1h');
my @kids;
for my $k (0 .. 3) {
    my $pid = fork // die;
    if (!$pid) {
        my $bad = 0;
        for my $u (@users[grep { $_ % 4 == $k } 0 .. $#users]) {
            for (1 .. $EACH) {
                $bad++ if $ng->post('/mj/submit/imagine',
                                    {Authorization => "Bearer $key{$u}"},
                                    '{"prompt":"damage"}')->{status} != 200;
            }
        }
        POSIX::_exit($bad ? 1 : 0);
    }
    push @kids, $pid;
}
my $bad = 0;
for (@kids) { waitpid $_, 0; $bad++ if $? }
is $bad, 0, "$TASKS submits of $USERS users";
$ng->stop;

my $good = do { open my $fh, '<', $state or die; binmode $fh; local $/; <$fh> };
my $len = length $good;
is $len, 2 * $HEAD + (2 * $UBLOCKS + $TBLOCKS) * $BLOCK,
   "the file: head, $UBLOCKS blocks of users twice, $TBLOCKS of tasks, trailer";

# what a start restores from a damaged file: its log line, and the zone
sub restore {
    my ($what, $data) = @_;
    open my $fh, '>', $state or die;
    binmode $fh;
    print {$fh} $data;
    close $fh;
    unlink glob "$state.journal.*";
    $ng = MJNginx->new(conf => $loc, state => $state);
    my ($line) = $ng->error_log =~ /^(.*mj_zone "mj": (?:state file|restored).*)$/m;
    $line =~ s/^\S+ \S+ //;
    note "$what: $line";
    my $z = mj_zone_status($ng);
    my ($kept, $units) = (0, 0);
    for (@users) {
        my $used = mj_user_status($ng, $_)->{quota}{used};
        $kept++ if $used == $EACH;
        $units += $used;
    }
    $ng->stop;
    return ($line, $z->{tasks}, $kept, $units);
}

# what a file cut at $at holds, by its layout
sub whole { my ($k, $at) = @_; $HEAD + ($k + 1) * $BLOCK <= $at }

sub expect_cut {
    my ($at) = @_;
    my ($users, $tasks) = (0, 0);
    for my $i (0 .. $UBLOCKS - 1) {
        $users += ($i < $UBLOCKS - 1 ? $UPB : $USERS - $i * $UPB)
            if whole(2 * $i, $at);
    }
    for my $j (0 .. $TBLOCKS - 1) {
        $tasks += ($j < $TBLOCKS - 1 ? $TPB : $TASKS - $j * $TPB)
            if whole(2 * $UBLOCKS + $j, $at);
    }
    return ($users, $tasks);
}

my ($line, $tasks, $kept, $units) = restore('whole', $good);
like $line, qr/\[notice\] .*restored $TASKS tasks and the counters of $USERS users from/,
     'the whole file: everything, at notice';

for my $tenth (1 .. 9, 'one byte short') {
    my $at = $tenth =~ /^\d$/ ? int($len * $tenth / 10) : $len - 1;
    my $what = $tenth =~ /^\d$/ ? "cut at ${tenth}0%" : "cut one byte short";
    my ($u, $t) = expect_cut($at);
    ($line, $tasks, $kept, $units) = restore($what, substr($good, 0, $at));
    if ($u == $USERS && $t == $TASKS) {
        like $line, qr/\[warn\] .*is cut short, but nothing was lost/,
             "$what: nothing lost, and the log says so";
    } else {
        my ($lt, $lu) = ($TASKS - $t, $USERS - $u);
        my $lq = $lu * $EACH;
        like $line, qr/\[error\] .*is cut short: lost $lt of $TASKS tasks and the counters of $lu of $USERS users \($lq quota units used on $day\); restored the other $t tasks and the counters of $u users/,
             "$what: the log counts what was lost";
    }
    is $tasks, $t, "$what: $t tasks kept";
    is $kept, $u, "$what: the counters of $u users kept";
    is $units, $u * $EACH, "$what: no counter read as less than it was";
}

sub flip {
    my ($data, @at) = @_;
    substr($data, $_, 1) ^= "\x5a" for @at;
    return $data;
}

my $tail = $len - $HEAD;
my $ub1 = $HEAD + 2 * $BLOCK;               # users' block 1, first copy
my $tb2 = $HEAD + (2 * $UBLOCKS + 2) * $BLOCK;  # tasks' block 2

($line, $tasks, $kept, $units) = restore('head flipped', flip($good, 50));
like $line, qr/\[warn\] .*is damaged, but nothing was lost \(its head read from its trailer/,
     'a damaged head is read from the trailer';
is_deeply [$tasks, $kept], [$TASKS, $USERS], 'nothing is lost';

($line, $tasks, $kept, $units) = restore('trailer flipped',
                                         flip($good, $tail + 50));
like $line, qr/\[notice\] .*restored $TASKS tasks and the counters of $USERS users/,
     'a damaged trailer is not needed';

($line, $tasks, $kept, $units) = restore('head and trailer flipped',
                                         flip($good, 50, $tail + 50));
like $line, qr/\[error\] .*is damaged in its head and trailer: restored $TASKS tasks and the counters of $USERS users from its sound blocks; 0 blocks could not be read.*the zone's secret is lost/,
     'with head and trailer damaged, every sound block is read, and the log says what is unknown';
is_deeply [$tasks, $kept], [$TASKS, $USERS], 'all of them';

($line, $tasks, $kept, $units) = restore('a users block flipped',
                                         flip($good, $ub1 + 100));
like $line, qr/\[warn\] .*is damaged, but nothing was lost \(its head sound, 1 blocks of users' counters read from their copies\)/,
     'a damaged block of users\' counters is read from its copy';
is_deeply [$tasks, $kept], [$TASKS, $USERS], 'nothing is lost';

($line, $tasks, $kept, $units) = restore('both copies of a users block flipped',
                                         flip($good, $ub1 + 100,
                                              $ub1 + $BLOCK + 100));
my $lq = $UPB * $EACH;
like $line, qr/\[error\] .*is damaged: lost 0 of $TASKS tasks and the counters of $UPB of $USERS users \($lq quota units used on $day\)/,
     'with both copies damaged, the log counts the users and units lost';
is_deeply [$tasks, $kept, $units], [$TASKS, $USERS - $UPB, ($USERS - $UPB) * $EACH],
   'and only those';

for my $where ([records => 100], ['block head' => 2]) {
    ($line, $tasks, $kept, $units) = restore("a tasks block's $where->[0] flipped",
                                             flip($good, $tb2 + $where->[1]));
    like $line, qr/\[error\] .*is damaged: lost $TPB of $TASKS tasks and the counters of 0 of $USERS users/,
         "a damaged block of tasks ($where->[0]): the log counts the tasks lost";
    is_deeply [$tasks, $kept], [$TASKS - $TPB, $USERS], 'and only those';
}

# a damaged journal: the records around the damage are read
restore('whole again', $good);
$ng = MJNginx->new(conf => $loc, state => $state, zone_args => 'snapshot=1h');
for (1 .. 3) {
    is $ng->post('/mj/submit/imagine', {Authorization => "Bearer $key{dmg00}"},
                 '{"prompt":"journal"}')->{status}, 200, 'a submit after the start';
}
$ng->crash;
my ($journal) = grep { -s } glob "$state.journal.*";
my $j = do { open my $fh, '<', $journal or die; binmode $fh; local $/; <$fh> };
is length $j, 3 * (48 + 64), 'its journal: a task and its user\'s counters a submit';
open my $fh, '>', $journal or die;
binmode $fh;
print {$fh} flip($j, 112 + 20);    # the second submit's task
close $fh;
$ng = MJNginx->new(conf => $loc, state => $state);
like $ng->error_log,
     qr/\[error\] .*journal "\Q$journal\E" is damaged: 48 bytes in 1 places were not records \(the changes in them are lost\); the 5 records around them were read/,
     'the log says what of the journal was lost, and what was read';
is mj_zone_status($ng)->{tasks}, $TASKS + 2, 'the other two tasks are restored';
is mj_user_status($ng, 'dmg00')->{quota}{used}, $EACH + 3,
   'and every unit charged';

done_testing;
