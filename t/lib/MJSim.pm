package MJSim;

# Starts ONE simulated Midjourney-proxy upstream (sim/mjsim.py) per test file
# and exports small helpers to talk to it.  Works under Test::Nginx and plain
# Test::More:
#
#     use lib 't/lib';          # or: use FindBin; use lib "$FindBin::Bin/lib";
#     use MJSim;
#
# On load it sets $ENV{TEST_NGINX_SIM_PORT} (usable as $TEST_NGINX_SIM_PORT in
# Test::Nginx config sections) and $ENV{TEST_NGINX_MJ_UPSTREAM_KEY}.  If
# TEST_NGINX_SIM_PORT is already set and a sim answers there, that sim is used
# and left alone; otherwise a new one is started on a free loopback port and
# killed in an END block.
#
# Environment knobs: MJSIM_PYTHON (default python3), MJSIM_ARGS (extra sim
# flags, split on spaces), MJSIM_TIME_SCALE (default 0.01).

use strict;
use warnings;

use Carp ();
use Cwd ();
use Exporter 'import';
use File::Basename ();
use HTTP::Tiny;
use IO::Select;
use IO::Socket::INET;
use JSON::PP ();
use POSIX ();
use Time::HiRes ();

our @EXPORT = qw(
    sim_port sim_url sim_key sim_root
    sim_get sim_post sim_request
    sim_reset sim_requests sim_last sim_seen
    sim_task sim_wait_status sim_mode sim_config
);

our $ROOT;
our $SIM_PID;
our $OWNER_PID = $$;
our $PORT;
our $LAST_TASK;    # last task view seen by sim_wait_status

my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;
my $HTTP;

$ROOT = Cwd::abs_path(File::Basename::dirname(Cwd::abs_path(__FILE__)) . '/../..');

$ENV{TEST_NGINX_MJ_UPSTREAM_KEY} //= 'sk-upstream-secret-0123456789';

_init();

sub _health {
    my ($port, $timeout) = @_;
    my $sock = IO::Socket::INET->new(
        PeerAddr => '127.0.0.1',
        PeerPort => $port,
        Proto    => 'tcp',
        Timeout  => $timeout // 1,
    ) or return 0;
    $sock->autoflush(1);
    print {$sock} "GET /_sim/health HTTP/1.0\r\nHost: 127.0.0.1:$port\r\n\r\n";
    my $sel = IO::Select->new($sock);
    my $buf = '';
    my $deadline = Time::HiRes::time() + ($timeout // 1);
    while (Time::HiRes::time() < $deadline) {
        last unless $sel->can_read($deadline - Time::HiRes::time());
        my $n = sysread($sock, $buf, 4096, length $buf);
        last unless $n;
    }
    close $sock;
    return $buf =~ m{^HTTP/1\.[01] 200 } && $buf =~ /"ok":\s*true/ ? 1 : 0;
}

sub _init {
    my $want = $ENV{TEST_NGINX_SIM_PORT};
    if (defined $want && $want =~ /^\d+$/ && _health($want, 1)) {
        $PORT = $want;
        return;
    }
    _start();
}

sub _start {
    my $script = "$ROOT/sim/mjsim.py";
    die "MJSim: $script not found\n" unless -f $script;
    my $python = $ENV{MJSIM_PYTHON} || 'python3';
    my $scale  = $ENV{MJSIM_TIME_SCALE} // '0.01';
    my @extra  = grep { length } split ' ', ($ENV{MJSIM_ARGS} // '');
    my @cmd = ($python, $script, '--listen', '127.0.0.1:0',
               '--key', $ENV{TEST_NGINX_MJ_UPSTREAM_KEY},
               '--time-scale', $scale, '--exit-with-parent', @extra);

    pipe(my $r, my $w) or die "MJSim: pipe: $!\n";
    my $pid = fork();
    die "MJSim: fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        close $r;
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>&', $w) or POSIX::_exit(127);
        exec(@cmd) or do {
            print STDERR "MJSim: cannot exec $python: $!\n";
            POSIX::_exit(127);
        };
    }
    close $w;
    $SIM_PID = $pid;

    # the sim prints exactly one line: "mjsim listening on 127.0.0.1:PORT"
    my $deadline = Time::HiRes::time() + 20;
    my $sel = IO::Select->new($r);
    my $line = '';
    while ($line !~ /\n/ && Time::HiRes::time() < $deadline) {
        next unless $sel->can_read(0.2);
        my $n = sysread($r, $line, 512, length $line);
        last unless $n;
    }
    close $r;
    my ($port) = $line =~ /^mjsim listening on 127\.0\.0\.1:(\d+)$/m;
    unless ($port) {
        _stop();
        die "MJSim: the simulator did not start (got: '$line')\n";
    }
    while (!_health($port, 1)) {
        if (Time::HiRes::time() > $deadline) {
            _stop();
            die "MJSim: the simulator on port $port does not answer /_sim/health\n";
        }
        Time::HiRes::sleep(0.02);
    }
    $PORT = $port;
    $ENV{TEST_NGINX_SIM_PORT} = $port;
}

sub _stop {
    return unless $SIM_PID && $$ == $OWNER_PID;
    my $pid = $SIM_PID;
    undef $SIM_PID;
    kill 'TERM', $pid;
    my $deadline = Time::HiRes::time() + 5;
    while (Time::HiRes::time() < $deadline) {
        return if waitpid($pid, POSIX::WNOHANG()) != 0;
        Time::HiRes::sleep(0.02);
    }
    kill 'KILL', $pid;
    waitpid($pid, 0);
}

END {
    local $?;    # keep the test's exit status
    _stop();
}

# ---------------------------------------------------------------------------
# helpers

sub sim_root { $ROOT }
sub sim_port { $PORT }
sub sim_url  { "http://127.0.0.1:$PORT" }
sub sim_key  { $ENV{TEST_NGINX_MJ_UPSTREAM_KEY} }

sub _http {
    $HTTP ||= HTTP::Tiny->new(
        timeout     => 30,
        keep_alive  => 1,
        agent       => 'MJSim.pm/1',
        proxy       => undef,
        http_proxy  => undef,
        https_proxy => undef,
    );
    return $HTTP;
}

# sim_request($method, $path, $content, \%headers) -> HTTP::Tiny response.
# $content may be a reference (sent as JSON) or a string.  /mj paths get
# "Authorization: Bearer <upstream key>" unless the headers name a key already
# (pass Authorization => undef to send no key at all).
sub sim_request {
    my ($method, $path, $content, $headers) = @_;
    my %h = %{ $headers || {} };
    if ($path !~ m{^/_sim/} && !grep { /^(?:authorization|mj-api-secret)$/i } keys %h) {
        $h{Authorization} = 'Bearer ' . sim_key();
    }
    delete $h{$_} for grep { !defined $h{$_} } keys %h;    # Authorization => undef: send no key
    my %opt = (headers => \%h);
    if (defined $content) {
        $opt{content} = ref $content ? $JSON->encode($content) : $content;
        $h{'Content-Type'} //= 'application/json';
    }
    return _http()->request($method, sim_url() . $path, \%opt);
}

sub _decode {
    my ($res) = @_;
    my $data = eval { $JSON->decode($res->{content}) };
    return wantarray ? ($data, $res) : $data;
}

# sim_get($path [, \%headers]) / sim_post($path, $json [, \%headers]) -> decoded JSON
# (in list context: (decoded, HTTP::Tiny response)).
sub sim_get {
    my ($path, $headers) = @_;
    return _decode(sim_request('GET', $path, undef, $headers));
}

sub sim_post {
    my ($path, $content, $headers) = @_;
    return _decode(sim_request('POST', $path, $content // '', $headers));
}

sub sim_reset    { scalar sim_post('/_sim/reset') }
sub sim_requests { scalar sim_get('/_sim/requests') }
sub sim_last     { scalar sim_get('/_sim/last') }

sub _uri_escape {
    my ($s) = @_;
    utf8::encode($s) if utf8::is_utf8($s);
    $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

# number of recorded upstream requests whose request line, headers or body contain $s
sub sim_seen {
    my ($s) = @_;
    my $r = sim_get('/_sim/seen?s=' . _uri_escape($s));
    die "MJSim: /_sim/seen failed\n" unless ref $r eq 'HASH' && defined $r->{seen};
    return $r->{seen};
}

# the task as the sim sees it (not recorded, no key needed); undef if unknown
sub sim_task {
    my ($id) = @_;
    Carp::croak('sim_task: no task id') unless defined $id && length $id;
    my $res = sim_request('GET', '/_sim/task/' . _uri_escape($id));
    return undef unless $res->{status} == 200;
    return scalar _decode($res);
}

# sim_wait_status($task_id, $status_or_arrayref, $timeout_seconds = 10)
# polls the sim directly; returns the task view once its status matches,
# undef on timeout (the last view seen is in $MJSim::LAST_TASK).
sub sim_wait_status {
    my ($id, $status, $timeout) = @_;
    Carp::croak('sim_wait_status: no task id') unless defined $id && length $id;
    my %want = map { $_ => 1 } (ref $status ? @$status : ($status));
    my $deadline = Time::HiRes::time() + ($timeout // 10);
    while (1) {
        my $t = sim_task($id);
        $LAST_TASK = $t;
        return $t if $t && $want{ $t->{status} // '' };
        return undef if Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.01);
    }
}

# sim_mode($mode [, $count [, $path_substring]]): failure mode(s) applied to the
# next $count (default: all) upstream requests whose path contains $path_substring,
# for gateways that do not forward X-Sim-Mode.  sim_mode() clears the rules.
sub sim_mode {
    my ($mode, $count, $path) = @_;
    return scalar sim_post('/_sim/mode', { clear => JSON::PP::true }) unless defined $mode;
    my %b = (mode => $mode);
    $b{count} = $count + 0 if defined $count;
    $b{path}  = $path      if defined $path;
    return scalar sim_post('/_sim/mode', \%b);
}

# sim_config({time_scale => 1, queue_slots => 1, notfound_status => 200, auth => 'bearer', key => ...,
#             parser => 'lenient'})
# changes the running sim until the next sim_reset; returns the resulting config.
sub sim_config {
    my ($cfg) = @_;
    return $cfg ? scalar sim_post('/_sim/config', $cfg) : scalar sim_get('/_sim/config');
}

1;
