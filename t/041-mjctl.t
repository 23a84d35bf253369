# mjctl, the operator's tool, on the users file of a running gateway: add a
# user, reload, use the key with mj; rotate, disable, revoke; check files
# as nginx -t does; atomic writes; the status table.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use MJTest;
use MJNginx;
use MJTools;
use Digest::SHA qw(sha256_hex);
use File::Temp ();
use JSON::PP;
use POSIX ();

for my $t (qw(mj mjctl)) {
    -x tool($t) or BAIL_OUT(tool($t) . " is not built: run make");
}

my $status = '{"zones":[{"name":"mj","size":1048576,"capacity":24480,'
    . '"tasks":12,"finished":3,"reserved":0,"evicted":0,"refused":0}],'
    . '"users":[{"name":"alice","requests":10,"submits":3,"rejected":'
    . '{"rate":0,"tasks":0,"quota":0,"action":0},"unfinished":1,'
    . '"tracked":3,"quota":{"used":3,"limit":100,"left":97}},'
    . '{"name":"bob","requests":5,"submits":1,"rejected":{"rate":2,'
    . '"tasks":0,"quota":0,"action":1},"unfinished":0,"tracked":1,'
    . '"quota":{"used":1,"limit":null,"left":null}}]}';

my $ng = MJNginx->new(conf => <<"_EOC_");
        location /mj/ {
            mj_gateway zone=mj;
            proxy_pass http://\$mj_upstream;
        }
        location = /mj-status {
            default_type application/json;
            return 200 '$status';
        }
        location = /mj-status-live {
            mj_status zone=mj;
        }
_EOC_

# stop nginx before File::Temp removes its folder (and its pid file)
END { $ng->stop if $ng }

my $dir = mj_dir();
my $users = "$dir/users";
my @files = ('--users', $users, '--keys', "$dir/keys");
my @reload = ('--reload', '--nginx', $ng->{nginx},
              '--nginx-args', '-p ' . $ng->dir . '/ -c conf/nginx.conf');

sub slurp { open my $fh, '<', $_[0] or return undef; local $/; <$fh> }

sub ctl { run_tool({}, 'mjctl', @files, @_) }

# a change with --reload, and the gateway serving with it
sub ctl_reload {
    my @old = $ng->workers;
    my $r = ctl(@_, @reload);
    ok $ng->wait_reloaded(@old), "reloaded after mjctl @_[0..2]" if $r->{rc} == 0;
    return $r;
}

sub mj {
    my ($key, @args) = @_;
    return run_tool({MJ_BASE_URL => $ng->url, MJ_API_KEY => $key}, 'mj',
                    '--interval', '0.05',
                    # under run_tool's 20 s: a hang says which request
                    '--timeout', '10', @args);
}

# add a user, reload, and use the key
my $r = ctl_reload(qw(user add frank --upstream main));
is $r->{rc}, 0, 'user add' or diag tool_diag($r, $ng);
like $r->{out}, qr/\Amj-[A-Za-z0-9_-]{43}\n\z/, 'the key is printed, alone';
like $r->{err}, qr/nginx reloaded/, 'nginx reloaded';
chomp(my $key = $r->{out});
my $text = slurp($users);
like $text, qr/^frank ${\ sha256_hex($key)} main\n/m,
     'the users file has the hash of the key';
unlike $text, qr/\Q$key\E/, 'and never the key';
like $text, qr/^alice \S+ main$/m, 'the other users are kept';

my $out = File::Temp->new(SUFFIX => '.png');
$r = mj($key, qw(imagine a lighthouse --wait -o), "$out");
is $r->{rc}, 0, 'mj imagine --wait with the new key' or diag tool_diag($r, $ng);
like $r->{out}, qr/^status:\s+SUCCESS 100%$/m, 'the task succeeded';
like $r->{out}, qr/^buttons:\s+U1, U2, U3, U4, reroll, V1, V2, V3, V4$/m,
     'its buttons are shown';
my ($grid) = $r->{out} =~ /^id:\s+(\d+)$/m;
ok $grid, "task id $grid";
is substr(slurp("$out") // '', 0, 8), "\x89PNG\r\n\x1a\n", '-o saved a PNG';

$r = mj($key, 'action', $grid, 'U1', '--wait');
is $r->{rc}, 0, 'mj action U1 --wait' or diag tool_diag($r, $ng);
like $r->{out}, qr/^action:\s+UPSCALE$/m, 'an upscale';
like $r->{out}, qr/^status:\s+SUCCESS/m, 'that succeeded';

# rotate: the old key is refused, the new one works and keeps the tasks
$r = ctl_reload(qw(user rotate frank));
is $r->{rc}, 0, 'user rotate' or diag tool_diag($r, $ng);
chomp(my $new = $r->{out});
like $new, qr/\Amj-[A-Za-z0-9_-]{43}\z/, 'a new key is printed';
isnt $new, $key, 'another key';
like slurp($users), qr/^frank ${\ sha256_hex($new)} main$/m, 'its hash is stored';
$r = mj($key, 'fetch', $grid);
is $r->{rc}, 3, 'the old key is refused (exit 3)';
like $r->{err}, qr/HTTP 401/, 'with a 401';
$r = mj($new, 'fetch', $grid);
is $r->{rc}, 0, 'the new key works, and frank keeps his tasks' or diag tool_diag($r, $ng);

# disable, enable
$r = ctl_reload(qw(user disable frank));
is $r->{rc}, 0, 'user disable';
like slurp($users), qr/^frank \S+ main disabled$/m, 'the line says disabled';
is mj($new, 'fetch', $grid)->{rc}, 3, 'a disabled user is refused';
$r = ctl(qw(user disable frank));
like $r->{err}, qr/disabled already/, 'disabling twice says so';
$r = ctl_reload(qw(user enable frank));
is $r->{rc}, 0, 'user enable';
is mj($new, 'fetch', $grid)->{rc}, 0, 'an enabled user works again';

# revoke
$r = ctl_reload(qw(user revoke frank));
is $r->{rc}, 0, 'user revoke' or diag tool_diag($r, $ng);
unlike slurp($users), qr/^frank /m, 'the line is gone';
$r = mj($new, 'fetch', $grid);
is $r->{rc}, 3, 'a revoked user is refused (exit 3)';
like $r->{err}, qr/HTTP 401/, 'with a 401';
$r = ctl(qw(user revoke frank));
is $r->{rc}, 1, 'revoking an unknown user fails';
like $r->{err}, qr/no user "frank"/, 'and says so';

# duplicates, bad settings, unknown upstream keys
$text = slurp($users);
$r = ctl(qw(user add alice --upstream main));
is $r->{rc}, 1, 'a duplicate user is refused';
like $r->{err}, qr/user "alice" exists already \(\Q$users\E:2\)/, 'with its line';
is $r->{out}, '', 'and no key is printed';
$r = ctl(qw(user add gina --upstream main --rate 5x));
is $r->{rc}, 2, 'a bad setting is refused';
like $r->{err}, qr/invalid user setting "rate=5x"/, 'the parser says which';
$r = ctl(qw(user add gina --upstream nope));
is $r->{rc}, 1, 'an unknown upstream key is refused';
like $r->{err}, qr/no upstream key "nope"/, 'and named';
$r = ctl(qw(user add gina));
is $r->{rc}, 1, 'with several upstream keys, --upstream is needed';
is slurp($users), $text, 'the users file is unchanged by all of these';

# settings, as the users file spells them; list shows them, no keys
my $gina = join ' ', 'gina [0-9a-f]{64} main rate=10r/m burst=2 poll_rate=2r/s',
                    'tasks=4 quota=50 actions=IMAGINE,UPSCALE disabled';
$gina = qr/^$gina$/m;
$r = ctl(qw(user add gina --upstream main --rate 10r/m --burst 2),
         qw(--poll-rate 120r/m --tasks 4 --quota 50 --disabled),
         '--actions', 'imagine,upscale');
is $r->{rc}, 0, 'user add with settings' or diag tool_diag($r, $ng);
like slurp($users), $gina,
     'the settings are written';
$r = ctl(qw(user rotate gina));
like slurp($users), $gina,
     'and kept by a rotation';
$r = ctl(qw(user list));
is $r->{rc}, 0, 'user list';
like $r->{out}, qr/^NAME\s+UPSTREAM\s+SETTINGS$/m, 'a table';
like $r->{out}, qr/^gina\s+main\s+rate=10r\/m burst=2 .* disabled$/m,
     'with the settings';
like $r->{out}, qr/^alice\s+main\s+-$/m, 'and users without settings';
unlike $r->{out}, qr/[0-9a-f]{64}/, 'and no hashes';
my $n = () = slurp($users) =~ /^gina /mg;
is $n, 1, 'gina has one line';
$r = ctl(qw(user revoke gina));

# atomic writes: mode and owner kept, no temp file left, no lost update,
# and a reader never sees a partial file
chmod 0640, $users;
chown 65534, 65534, $users if $> == 0;
my @st = stat $users;
my $pid = fork // die;
if ($pid == 0) {
    my $bad = 0;
    my $deadline = time + 15;
    until (-e "$dir/stop" || time > $deadline) {
        my $t = slurp($users) // next;
        $bad++ unless $t =~ /\n\z/
            && !grep { !/^(#.*|\S+ [0-9a-f]{64} \S+( \S+)*)$/ } split /\n/, $t;
    }
    POSIX::_exit($bad ? 1 : 0);
}
my @kids;
for my $i (1 .. 6) {
    my $k = fork // die;
    if ($k == 0) {
        my $x = ctl('user', 'add', "conc$i", '--upstream', 'main');
        POSIX::_exit($x->{rc});
    }
    push @kids, $k;
}
my $fails = 0;
for my $k (@kids) { waitpid $k, 0; $fails++ if $? }
ctl('user', 'revoke', "conc$_") for 1 .. 6;
open my $stop, '>', "$dir/stop"; close $stop;
waitpid $pid, 0;
is $?, 0, 'a reader never saw a partial users file';
unlink "$dir/stop";
is $fails, 0, 'six concurrent adds succeeded';
$text = slurp($users);
is scalar(() = $text =~ /^conc\d /mg), 0, 'and the six revokes';
my @st2 = stat $users;
is sprintf('%04o', $st2[2] & 07777), '0640', 'the mode is kept';
is "$st2[4]:$st2[5]", "$st[4]:$st[5]", 'the owner is kept';
opendir(my $dh, $dir) or die $!;
is_deeply [grep { /^\.users\./ } readdir $dh], [], 'no temp file is left';
chown 0, 0, $users if $> == 0;

# check: good files
$r = ctl(qw(check));
is $r->{rc}, 0, 'check: the files are good' or diag tool_diag($r, $ng);
like $r->{out}, qr/^\Q$users\E: \d+ users, ok$/m, 'users ok';
like $r->{out}, qr/^\Q$dir\E\/keys: 3 upstream keys, ok$/m, 'keys ok';

# check: broken files, with FILE:LINE like nginx -t, never a secret
my $bad = File::Temp::tempdir(CLEANUP => 1);
my $h = sha256_hex('x');
my %cases = (
    "# c\nann $h main\nann ${\ sha256_hex('y')} main\n"
        => qr/^\Q$bad\E\/users:3: duplicate user "ann"$/m,
    "ann 1234 main\n"
        => qr/^\Q$bad\E\/users:1: malformed key hash for user "ann"/m,
    "ann $h main\n\nbob ${\ sha256_hex('z')} nope\n"
        => qr/^\Q$bad\E\/users:3: unknown upstream key name "nope"$/m,
    "ann $h main rate=fast\n"
        => qr/^\Q$bad\E\/users:1: unknown or invalid user setting "rate=fast"$/m,
);
open my $kf, '>', "$bad/keys"; print {$kf} "main sk-good-secret\n"; close $kf;
chmod 0600, "$bad/keys";
for my $t (sort keys %cases) {
    open my $fh, '>', "$bad/users"; print {$fh} $t; close $fh;
    $r = run_tool({}, 'mjctl', 'check', '--users', "$bad/users",
                  '--keys', "$bad/keys");
    is $r->{rc}, 1, 'check fails: ' . (split /\n/, $t)[-1];
    like $r->{err}, $cases{$t}, 'with FILE:LINE: message';
}
open my $fh, '>', "$bad/users"; print {$fh} "ann $h main\n"; close $fh;
open $kf, '>', "$bad/keys";
print {$kf} "main sk-good-secret\nmain2 sk-very-secret-42 header=basic\n";
close $kf;
chmod 0644, "$bad/keys";
$r = run_tool({}, 'mjctl', 'check', '--users', "$bad/users", '--keys', "$bad/keys");
is $r->{rc}, 1, 'check fails on a broken keys file';
like $r->{err}, qr/^\Q$bad\E\/keys:2: invalid key setting "header=basic"$/m,
     'with FILE:LINE';
unlike "$r->{out}$r->{err}", qr/sk-very-secret|sk-good-secret/, 'and no secret';
open $kf, '>', "$bad/keys"; print {$kf} "main sk-good-secret\n"; close $kf;
$r = run_tool({}, 'mjctl', 'check', '--users', "$bad/users", '--keys', "$bad/keys");
is $r->{rc}, 0, 'a keys file open to others passes';
like $r->{err}, qr/warning: .*keys is open to others.*chmod 600/, 'with a warning';
$r = run_tool({}, 'mjctl', 'check', '--users', "$bad/none", '--keys', "$bad/keys");
is $r->{rc}, 1, 'a missing users file fails';
like $r->{err}, qr/none: No such file/, 'and says so';

# --reload that fails is reported
$r = ctl(qw(user add hank --upstream main --reload --nginx /bin/false));
is $r->{rc}, 1, 'a failed reload is an error';
like $r->{err}, qr{/bin/false -t failed}, 'and says which command failed';
like $r->{out}, qr/\Amj-/, 'the key of the saved user is printed still';
ctl(qw(user revoke hank));

# status: the gateway's counters as tables
$r = run_tool({}, 'mjctl', 'status', '--url', $ng->url . '/mj-status');
is $r->{rc}, 0, 'status' or diag tool_diag($r, $ng);
like $r->{out},
     qr/^ZONE\s+SIZE\s+CAPACITY\s+TASKS\s+FINISHED\s+RESERVED\s+EVICTED\s+REFUSED$/m,
     'the zones table';
like $r->{out}, qr/^mj\s+1048576\s+24480\s+12\s+3\s+0\s+0\s+0$/m, 'a zone';
like $r->{out}, qr/^alice\s+10\s+3\s+0\s+0\s+0\s+0\s+1\s+3\s+3\s+100\s+97$/m,
     'a user with a quota';
like $r->{out}, qr/^bob\s+5\s+1\s+2\s+0\s+0\s+1\s+0\s+1\s+1\s+-\s+-$/m,
     'a user without one';
$r = run_tool({}, 'mjctl', 'status', '--json', '--url', $ng->url . '/mj-status');
is_deeply decode_json($r->{out}), decode_json($status), 'status --json';
$r = run_tool({}, 'mjctl', 'status', '--url', $ng->url . '/nothing');
is $r->{rc}, 1, 'status of a wrong URL fails';
like $r->{err}, qr/HTTP 404/, 'with the HTTP status';
$r = run_tool({}, 'mjctl', 'status', '--url',
              "http://127.0.0.1:$ENV{TEST_NGINX_DEAD_PORT}/mj-status");
is $r->{rc}, 1, 'status of nothing listening fails';
like $r->{err}, qr/cannot reach/, 'and says so';

# the module's own status endpoint
$r = run_tool({}, 'mjctl', 'status', '--url', $ng->url . '/mj-status-live');
is $r->{rc}, 0, 'status of the gateway' or diag tool_diag($r, $ng);
like $r->{out}, qr/^mj\s+1048576\s+\d+\s+[1-9]\d*\s/m, 'its zone, with tasks';
like $r->{out}, qr/^alice(\s+\d+){9}\s+-\s+-$/m, 'its users';

# usage
is ctl(qw(user frob x))->{rc}, 2, 'an unknown command is a usage error';
is ctl(qw(user revoke alice --rate 1r/s))->{rc}, 2, 'settings only go with add';

mj_write_users();
done_testing;
