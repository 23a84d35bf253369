# The README's first command: `make run` starts the demo gateway, and every
# curl line it prints works exactly as printed.  Ctrl-C stops everything.
# The same for `make run NODES=2`: two nodes sharing Redis.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes ();
use FindBin;
use lib "$FindBin::Bin/lib";
use MJNginx;
use MJRedis ();

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

# make run ARGS with the environment given, until it says it is ready: its
# output, its curl lines, its process group
sub demo {
    my ($env, @args) = @_;
    pipe(my $r, my $w) or die $!;
    my $pid = fork // die;
    if ($pid == 0) {
        POSIX::setpgid(0, 0);
        close $r;
        open STDOUT, '>&', $w or die;
        open STDERR, '>&', $w or die;
        @ENV{keys %$env} = values %$env;
        chdir $root;
        exec 'make', '--no-print-directory', 'run', @args;
    }
    close $w;

    my ($out, @curl) = ('');
    my $deadline = time + 120;
    while (time < $deadline && defined(my $line = <$r>)) {
        $out .= $line;
        push @curl, $line =~ s/\s+$//r if $line =~ /^curl /;
        last if $line =~ /^ready/;
    }
    return ($out, \@curl, $pid);
}

# each curl line as printed, and what it must answer
sub check {
    my ($curl, @want) = @_;
    for my $i (0 .. $#$curl) {
        my $got = `$curl->[$i]`;
        like $got, $want[$i][0], $want[$i][1] or diag "$curl->[$i]\n$got";
    }
}

# Ctrl-C stops the gateways and what the demo started
sub stop {
    my ($pid, @ports) = @_;
    kill 'INT', -$pid;
    waitpid $pid, 0;
    ok MJNginx::wait_until(sub {
        !grep { IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $_) }
             @ports;
    }, 10), "after Ctrl-C nothing listens on @ports";
}

my ($out, $curl, $pid) = demo(\%env);
like $out, qr/^ready/m, 'the demo says it is ready' or diag $out;
is scalar @$curl, 4, 'it prints four curl lines' or diag $out;

check($curl,
    [qr/^\{"code":\s*1,.*"result":\s*"\d+"/, 'imagine is accepted'],
    [qr/^\{"id":\s*"\d+",.*"status":/s, 'the task submitted at start-up is fetched'],
    [qr/^\{"code":\s*1,/, 'bob shortens a prompt with mj-api-secret'],
    [qr/^\{"code":4,"description":"missing API key/, 'no key: refused'],
);

my ($port) = $out =~ m{gateway on http://127\.0\.0\.1:(\d+)};
stop($pid, $port);

SKIP: {
    skip MJRedis::missing(), 1 if MJRedis::missing();

    like $readme, qr/^make run NODES=2$/m, 'the README gives `make run NODES=2`';

    my %env2 = (MJ_DEMO_NODES => 2,
                MJ_DEMO_DIR => File::Temp::tempdir('mj-demo-XXXXXX', TMPDIR => 1,
                                                   CLEANUP => 1));
    $env2{$_} = MJNginx::free_port()
        for qw(MJ_DEMO_PORT MJ_DEMO_SIM_PORT MJ_DEMO_PORT2 MJ_DEMO_REDIS_PORT);

    ($out, $curl, $pid) = demo(\%env2, 'NODES=2');
    like $out, qr/^ready/m, 'NODES=2: the demo says it is ready' or diag $out;
    like $out, qr/two gateway nodes sharing Redis/, '... two nodes';
    is scalar @$curl, 4, '... it prints four curl lines' or diag $out;
    like $curl->[1], qr/:$env2{MJ_DEMO_PORT2}\//, '... the fetch is sent to node B';

    check($curl,
        [qr/^\{"code":\s*1,.*"result":\s*"\d+"/, 'imagine is accepted on node A'],
        [qr/^\{"id":\s*"\d+",.*"status":/s,
         'node B fetches the task submitted on node A'],
        [qr/^\{"code":3,"description":"task not found"\}$/,
         'bob on node B: not found'],
        [qr/"redis":\{"connected":2,/, 'node B\'s status: both workers connected'],
    );

    stop($pid, @env2{qw(MJ_DEMO_PORT MJ_DEMO_PORT2 MJ_DEMO_SIM_PORT MJ_DEMO_REDIS_PORT)});
}

done_testing;
