# Ownership survives reloads (users added and reordered) and restarts (the
# state file); a damaged state file is restored up to the damage; a crash
# loses at most one snapshot interval; nginx -t writes nothing.
use strict;
use warnings;
use Test::More;
use POSIX ();
use FindBin;
use lib "$FindBin::Bin/lib";
use MJTest;
use MJNginx;
use Digest::SHA qw(sha256_hex);
use File::Temp ();

my $loc = <<'_EOC_';
        location /mj/ {
            mj_gateway zone=mj;
            proxy_pass http://mjsim;
        }
_EOC_

my $dir = File::Temp::tempdir('mj-state-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $dir;
my $state = "$dir/mj.state";
my $base = 1730000000000000 + ($$ % 1000) * 1000;
my %alice = (Authorization => "Bearer $KEY{alice}");
my %bob = (Authorization => "Bearer $KEY{bob}");
my $n = 0;

sub submit {
    my ($ng, $who) = @_;
    my $id = $base + ++$n;
    my $r = $ng->post('/mj/submit/imagine', {%$who, 'X-Sim-Task-Id' => $id},
                      '{"prompt":"state"}');
    is $r->{status}, 200, "task $id submitted" or diag $r->{content};
    return $id;
}

sub fetch_status {
    my ($ng, $who, $id) = @_;
    return $ng->get("/mj/task/$id/fetch", $who)->{status};
}

# 1. restart: the master writes the state file at exit, the next start reads it
my $ng = MJNginx->new(conf => $loc, state => $state, workers => 2);
my @a = map { submit($ng, \%alice) } 1 .. 3;
my $b1 = submit($ng, \%bob);

# 2. reload with users reordered and one added keeps every owner
my $frank = 'mj-frank-0123456789abcdef';
mj_write_users("frank " . sha256_hex($frank) . " main\n"
               . join("\n", reverse split /\n/, mj_users_text()) . "\n");
my ($rc, $out) = $ng->reload;
is $rc, 0, 'reload with users reordered and added' or diag $out;
is fetch_status($ng, \%alice, $a[0]), 200, 'after the reload alice still owns her task';
is fetch_status($ng, \%bob, $a[0]), 404, 'and bob still cannot see it';

$ng->stop;
ok -s $state, 'the state file was written at stop';
ok !glob("$state.tmp*"), 'no temp file is left behind';

$ng = MJNginx->new(conf => $loc, state => $state);
like $ng->error_log, qr/restored 4 tasks from "\Q$state\E"/, 'the restart restored 4 tasks';
is fetch_status($ng, \%alice, $_), 200, "alice owns $_ after the restart" for @a;
is fetch_status($ng, \%bob, $a[0]), 404, "bob does not";
is fetch_status($ng, \%bob, $b1), 200, "bob owns his";
is fetch_status($ng, \%alice, $b1), 404, "alice does not";
$ng->stop;
mj_write_users();

# 2b. a reload that resizes the zone carries every task over (the state
# file is older than the tasks: it is not what they come from)
$ng = MJNginx->new(conf => $loc, state => $state, zone_size => '1m');
my $late = submit($ng, \%alice);
$ng->write_conf(zone_size => '2m');
($rc, $out) = $ng->reload;
is $rc, 0, 'reload with a bigger zone' or diag $out;
like $ng->error_log, qr/mj_zone "mj" was resized: \d+ tasks carried over, 0 did not fit/,
     'the resize is logged';
is fetch_status($ng, \%alice, $late), 200, 'a task made just before the resize is still hers';
is fetch_status($ng, \%alice, $a[0]), 200, 'and the older ones';
is fetch_status($ng, \%bob, $late), 404, 'and not bob\'s';
$ng->stop;

# 3. a damaged file: the records after the header are corrupted
sub patch_state {
    my ($how) = @_;
    open my $fh, '+<', $state or die $!;
    binmode $fh;
    local $/;
    my $data = <$fh>;
    $data = $how->($data);
    seek $fh, 0, 0;
    truncate $fh, 0;
    print {$fh} $data;
    close $fh;
}

my $good = do { open my $fh, '<', $state or die; binmode $fh; local $/; <$fh> };

patch_state(sub { my $d = shift; substr($d, 60, 1) ^= "\x55"; $d });
$ng = MJNginx->new(conf => $loc, state => $state);
like $ng->error_log, qr/state file "\Q$state\E" is corrupt; restored the 0 tasks before the damage/,
     'a corrupt block is reported and skipped';
is fetch_status($ng, \%alice, $a[0]), 404, 'its tasks are gone';
my $after = submit($ng, \%alice);
is fetch_status($ng, \%alice, $after), 200, 'and the zone works';
$ng->stop;

# 4. a truncated file
{ open my $fh, '>', $state or die; binmode $fh; print {$fh} substr($good, 0, length($good) - 20); }
$ng = MJNginx->new(conf => $loc, state => $state);
like $ng->error_log, qr/is truncated; restored the \d+ tasks before the damage/, 'truncated is reported';
$ng->stop;

# 5. something that is not a state file at all
{ open my $fh, '>', $state or die; print {$fh} "hello, I am not a state file\n" x 10; }
$ng = MJNginx->new(conf => $loc, state => $state);
like $ng->error_log, qr/is not an ngx_mj state file; restored the 0 tasks/, 'a foreign file is reported';
is $ng->get("/mj/task/$a[0]/fetch", \%alice)->{status}, 404, 'and nginx runs, empty';
$ng->stop;

# 6. the good file again restores everything it holds
{ open my $fh, '>', $state or die; binmode $fh; print {$fh} $good; }

# 7. nginx -t reads the state but never writes it
my $mtime = (stat $state)[9];
my $t = MJNginx->new(conf => $loc, state => $state, no_start => 1);
($rc, $out) = $t->run('-t');
is $rc, 0, 'nginx -t passes' or diag $out;
is((stat $state)[9], $mtime, 'nginx -t did not write the state file');
is $good, do { open my $fh, '<', $state or die; binmode $fh; local $/; <$fh> },
   'the state file is unchanged';

# 8. a crash (every nginx process killed) loses at most one snapshot
unlink $state;
$ng = MJNginx->new(conf => $loc, state => $state, zone_args => 'snapshot=1s');
like $ng->error_log, qr/no state file .* yet, starting empty/, 'a missing file is a notice';
my $crash = submit($ng, \%alice);
ok $ng->wait_snapshot(10), 'worker 0 wrote a snapshot within the interval';
my @pids = ($ng->pid, $ng->workers);
kill 'KILL', @pids;
MJNginx::wait_until(sub { !grep { MJNginx::running($_) } @pids }, 10);
unlink "$ng->{dir}/logs/nginx.pid";
$ng = MJNginx->new(conf => $loc, state => $state);
is fetch_status($ng, \%alice, $crash), 200, 'the task from before the crash is restored';
$ng->stop;

done_testing;
