# The README's first command: `make run` starts the demo gateway, and every
# curl line it prints works exactly as printed.  Ctrl-C stops everything.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes ();
use FindBin;
use lib "$FindBin::Bin/lib";
use MJNginx;

my $root = "$FindBin::Bin/..";
my $readme = do { open my $fh, '<', "$root/README.md" or die; local $/; <$fh> };
like $readme, qr/^make run$/m, 'the README gives `make run`';

# the demo's default ports, unless something here already holds them
my %env;
for ([MJ_DEMO_PORT => 8080], [MJ_DEMO_SIM_PORT => 8081]) {
    my ($var, $port) = @$_;
    my $busy = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port);
    $env{$var} = MJNginx::free_port() if $busy;
}
$env{MJ_DEMO_DIR} = File::Temp::tempdir('mj-demo-XXXXXX', TMPDIR => 1, CLEANUP => 1);

pipe(my $r, my $w) or die $!;
my $pid = fork // die;
if ($pid == 0) {
    POSIX::setpgid(0, 0);
    close $r;
    open STDOUT, '>&', $w or die;
    open STDERR, '>&', $w or die;
    @ENV{keys %env} = values %env;
    chdir $root;
    exec 'make', '--no-print-directory', 'run';
}
close $w;

my ($out, @curl) = ('');
my $deadline = time + 120;
while (time < $deadline && defined(my $line = <$r>)) {
    $out .= $line;
    push @curl, $line =~ s/\s+$//r if $line =~ /^curl /;
    last if $line =~ /^ready/;
}
like $out, qr/^ready/m, 'the demo says it is ready' or diag $out;
is scalar @curl, 4, 'it prints four curl lines' or diag $out;

my @want = (
    [qr/^\{"code":\s*1,.*"result":\s*"\d+"/, 'imagine is accepted'],
    [qr/^\{"id":\s*"\d+",.*"status":/s, 'the task submitted at start-up is fetched'],
    [qr/^\{"code":\s*1,/, 'bob shortens a prompt with mj-api-secret'],
    [qr/^\{"code":4,"description":"missing API key/, 'no key: refused'],
);
for my $i (0 .. $#curl) {
    my $got = `$curl[$i]`;
    like $got, $want[$i][0], $want[$i][1] or diag "$curl[$i]\n$got";
}

# Ctrl-C stops the gateway and the simulated upstream
my ($port) = $out =~ m{gateway on http://127\.0\.0\.1:(\d+)};
kill 'INT', -$pid;
waitpid $pid, 0;
ok MJNginx::wait_until(sub {
    !IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port);
}, 10), 'after Ctrl-C nothing listens on the gateway port';

done_testing;
