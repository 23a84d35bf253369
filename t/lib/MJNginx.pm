package MJNginx;

# An nginx of its own for plain Test::More tests (reloads mid-flow, killed
# workers, restarts): a prefix folder outside servroot, a free port, the
# module loaded, master process on.
#
#     my $ng = MJNginx->new(conf => $server_block_text, workers => 2);
#     my $res = $ng->get('/mj/task/1/fetch', {Authorization => 'Bearer ...'});
#     $ng->reload; $ng->stop;
#
# clock => MJClock->new(...) runs it on a fake wall clock (t/lib/MJClock.pm).
#
# With MJ_NGINX_VALGRIND=1 each nginx runs under valgrind's memcheck
# (master and workers; slow), and a stop checks its logs: an error fails
# the test.

use strict;
use warnings;

use File::Temp ();
use HTTP::Tiny;
use IO::Socket::INET;
use Time::HiRes ();
use MJSim ();
use MJValgrind ();
use MJTest ();
use Test::More ();

my $VALGRIND = $ENV{MJ_NGINX_VALGRIND};
my $SLOW = $VALGRIND ? 6 : 1;    # timeouts scale under valgrind

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, Proto => 'tcp') or die $!;
    my $p = $s->sockport;
    close $s;
    return $p;
}

sub new {
    my ($class, %opt) = @_;
    my $self = bless {
        workers => 1, http => '', main => '', zone_size => '1m',
        zone_args => '', %opt,
        port    => free_port(),
        nginx   => $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx',
        module  => MJSim::sim_root() . '/build/ngx_http_mj_module.so',
    }, $class;
    $self->{dir} = File::Temp::tempdir('mj-nginx-XXXXXX', TMPDIR => 1,
                                       CLEANUP => 1);
    mkdir "$self->{dir}/$_" for qw(conf logs);
    $self->{state} //= "$self->{dir}/state/mj.state";
    chmod 0755, $self->{dir};
    $self->write_conf;
    $self->start unless $opt{no_start};
    return $self;
}

sub dir  { $_[0]{dir} }
sub port { $_[0]{port} }
sub url  { "http://127.0.0.1:$_[0]{port}" }

sub conf_text {
    my ($self) = @_;
    my $mj = $ENV{TEST_NGINX_MJ_DIR} // '';
    my $sim = $ENV{TEST_NGINX_SIM_PORT} // 1;
    my $clock = $self->{clock} ? $self->{clock}->main_config : '';
    my $text = <<"_EOC_";
load_module $self->{module};
worker_processes $self->{workers};
error_log logs/error.log info;
pid logs/nginx.pid;
$clock
$self->{main}
events { worker_connections 256; }
http {
    access_log logs/access.log;
    client_body_temp_path logs/body;
    proxy_temp_path logs/proxy;
    mj_users $mj/users;
    mj_upstream_keys $mj/keys;
    mj_zone zone=mj:$self->{zone_size} state=$self->{state} $self->{zone_args};
    upstream mjsim {
        server 127.0.0.1:$sim;
        keepalive 4;
    }
    $self->{http}
    server {
        listen 127.0.0.1:$self->{port};
        $self->{conf}
    }
}
_EOC_
    return $text;
}

sub write_conf {
    my ($self, %opt) = @_;
    @$self{keys %opt} = values %opt;
    open my $fh, '>', "$self->{dir}/conf/nginx.conf" or die $!;
    print {$fh} $self->conf_text;
    close $fh;
}

sub run {
    my ($self, @args) = @_;
    my $vg = $VALGRIND && !@args
           ? 'valgrind ' . MJValgrind::options("$self->{dir}/logs") . ' ' : '';
    my $out = `$vg$self->{nginx} -p $self->{dir}/ -c conf/nginx.conf @args 2>&1`;
    return ($? >> 8, $out);
}

sub pid {
    my ($self) = @_;
    open my $fh, '<', "$self->{dir}/logs/nginx.pid" or return;
    my $pid = <$fh>;
    chomp $pid if defined $pid;
    return $pid;
}

sub wait_until {
    my ($cond, $timeout) = @_;
    my $deadline = Time::HiRes::time() + ($timeout // 10);
    while (Time::HiRes::time() < $deadline) {
        return 1 if $cond->();
        Time::HiRes::sleep(0.02);
    }
    return 0;
}

# is the process there, and not a zombie?  A master that exits is reaped
# by PID 1, which some machines do a second or two late; its ports, shared
# memory and files are closed already.
sub running {
    my ($pid) = @_;
    return 0 unless $pid && kill 0, $pid;
    open my $fh, '<', "/proc/$pid/stat" or return 1;
    my $st = <$fh> // return 1;
    return $st =~ /^\d+ \(.*\) [ZX] /s ? 0 : 1;
}

# every master this test file started, stopped at the end even when an
# object is never destroyed (and before File::Temp removes the folders)
my %MASTERS;

END {
    local $?;
    my @pids = grep { running($_) } keys %MASTERS;
    kill 'TERM', @pids;
    wait_until(sub { !grep { running($_) } @pids }, 10 * $SLOW) if @pids;
    _valgrind_check($_) for values %MASTERS;
}

sub _valgrind_check {
    my ($dir) = @_;
    _leak_check($dir);
    return unless $VALGRIND && -d "$dir/logs";
    Test::More::fail("valgrind: $_") for MJValgrind::errors("$dir/logs");
}

# every log this nginx wrote keeps the keys out, as the docs promise
sub _leak_check {
    my ($dir) = @_;
    for my $f (glob "$dir/logs/*.log") {
        open my $fh, '<', $f or next;
        local $/;
        my $text = <$fh>;
        Test::More::fail("a key in $f: $_") for MJTest::mj_key_leaks($text);
    }
}

sub start {
    my ($self) = @_;
    my ($rc, $out) = do {
        local %ENV = (%ENV, $self->{clock} ? $self->{clock}->env : ());
        $self->run();
    };
    die "nginx did not start: $out" if $rc;
    wait_until(sub { $self->pid }, 10 * $SLOW);
    $MASTERS{$self->pid} = $self->{dir} if $self->pid;
    wait_until(sub {
        IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                              PeerPort => $self->{port});
    }, 10 * $SLOW) or die "nginx does not listen on $self->{port}";
}

# worker pids, from the master's children
sub workers {
    my ($self) = @_;
    my $master = $self->pid or return ();
    my @w;
    for my $f (glob "/proc/[0-9]*/stat") {
        open my $fh, '<', $f or next;
        my $st = <$fh> // next;
        my ($pid, $ppid) = $st =~ /^(\d+) \(.*?\) \S (\d+)/ or next;
        push @w, $pid if $ppid == $master;
    }
    return sort { $a <=> $b } @w;
}

# reload and wait until the old workers are gone and new ones serve.
# $serving, if given, is called as soon as a new worker runs (the new
# configuration and its zones are made), before the wait for the old
# workers, which end once they have answered the requests they hold.
sub reload {
    my ($self, $serving) = @_;
    my @old = $self->workers;
    my ($rc, $out) = $self->run('-s', 'reload');
    return ($rc, $out) if $rc;
    if ($serving) {
        my %old = map { $_ => 1 } @old;
        wait_until(sub { grep { !$old{$_} } $self->workers }, 20 * $SLOW)
            or return (1, "no new worker started");
        $serving->();
    }
    $self->wait_reloaded(@old) or return (1, "old workers still running");
    return (0, $out);
}

# wait until none of the workers given is left and new ones serve
sub wait_reloaded {
    my ($self, @old) = @_;
    my %old = map { $_ => 1 } @old;
    return wait_until(sub {
        my @w = $self->workers;
        @w && !grep { $old{$_} } @w;
    }, 20 * $SLOW);
}

# wait until the state file holds a snapshot begun after this call: the
# second file written from now on (the first may have been begun before)
sub wait_snapshot {
    my ($self, $timeout) = @_;
    my $version = sub {
        my @st = Time::HiRes::stat($self->{state});
        return @st ? "$st[1] $st[9]" : '';    # inode, mtime (ns)
    };
    my $deadline = Time::HiRes::time() + ($timeout // 10) * $SLOW;
    for (1 .. 2) {
        my $was = $version->();
        wait_until(sub { my $v = $version->(); $v ne '' && $v ne $was },
                   $deadline - Time::HiRes::time()) or return 0;
    }
    return 1;
}

sub stop {
    my ($self) = @_;
    my $pid = $self->pid or return;
    $self->run('-s', 'stop');
    kill 'TERM', $pid;
    wait_until(sub { !running($pid) }, 10 * $SLOW);
    delete $MASTERS{$pid};
    _valgrind_check($self->{dir});
}

sub error_log {
    my ($self) = @_;
    open my $fh, '<', "$self->{dir}/logs/error.log" or return '';
    local $/;
    return <$fh>;
}

# the last lines of the error log, for a failed test's diag
sub log_tail {
    my ($self, $n) = @_;
    my @l = split /\n/, $self->error_log;
    splice @l, 0, @l - ($n // 15) if @l > ($n // 15);
    return join '', map { "error.log: $_\n" } @l;
}

sub request {
    my ($self, $method, $path, $headers, $body) = @_;
    my %opt = (headers => $headers || {});
    $opt{content} = $body if defined $body;
    return HTTP::Tiny->new(timeout => 10, keep_alive => 0)
        ->request($method, $self->url . $path, \%opt);
}

sub get  { my $s = shift; $s->request('GET', @_) }
sub post { my ($s, $p, $h, $b) = @_; $s->request('POST', $p, $h, $b) }

sub DESTROY {
    my ($self) = @_;
    local $?;
    $self->stop if $self->{dir} && -d $self->{dir};
}

1;
