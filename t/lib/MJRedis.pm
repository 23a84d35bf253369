package MJRedis;

# A Redis server of its own for a test file: Debian's redis-server on a
# free loopback port, with its own temp folder, no persistence, stopped at
# the end.  It can be hung (SIGSTOP), resumed, killed and started again
# (empty: nothing is saved).
#
#     plan skip_all => MJRedis::missing() if MJRedis::missing();
#     my $rd = MJRedis->new(password => 'secret');   # started
#     MJRedis->new(unixsocket => 1)->socket_path;     # and a unix socket
#     $rd->port; $rd->command('SCRIPT', 'FLUSH');    # a RESP client
#     my (undef, $v) = $rd->pipeline(['SELECT', 2], ['GET', 'k']);
#     $rd->hang; $rd->resume; $rd->crash; $rd->start; $rd->restart;

use strict;
use warnings;

use File::Temp ();
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use MJNginx ();    # free_port, wait_until

my $SERVER = $ENV{MJ_REDIS_SERVER} || '/usr/bin/redis-server';
my %STARTED;    # pid => 1, every server this file started

# why the tests cannot run, or undef when they can
sub missing {
    return -x $SERVER ? undef
         : "$SERVER is not installed (apt-get install redis-server, "
           . "or make deps)";
}

sub new {
    my ($class, %opt) = @_;
    my $self = bless { %opt }, $class;
    $self->{port} //= MJNginx::free_port();
    $self->{dir} = File::Temp::tempdir('mj-redis-XXXXXX', TMPDIR => 1,
                                       CLEANUP => 1);
    chmod 0755, $self->{dir};
    $self->start unless $opt{no_start};
    return $self;
}

sub port { $_[0]{port} }
sub pid  { $_[0]{pid} }
sub addr { "127.0.0.1:$_[0]{port}" }
sub socket_path { "$_[0]{dir}/redis.sock" }    # with unixsocket => 1

sub start {
    my ($self) = @_;
    die "redis-server already runs\n" if $self->{pid};
    my @cmd = ($SERVER, '--port', $self->{port}, '--bind', '127.0.0.1',
               '--dir', $self->{dir}, '--save', '', '--appendonly', 'no',
               '--daemonize', 'no');
    push @cmd, '--requirepass', $self->{password} if defined $self->{password};
    # workers run as another user than the tests: a socket all may use
    push @cmd, '--unixsocket', $self->socket_path, '--unixsocketperm', '777'
        if $self->{unixsocket};
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$self->{dir}/redis.log";
        open STDERR, '>&', \*STDOUT;
        exec @cmd or POSIX::_exit(127);
    }
    $self->{pid} = $pid;
    $STARTED{$pid} = 1;
    MJNginx::wait_until(sub { defined $self->command('PING') }, 20)
        or die "redis-server did not start on port $self->{port}: "
               . $self->log_text;
    return $self;
}

# SIGSTOP: it accepts connections (the kernel does) but answers nothing
sub hang   { kill 'STOP', $_[0]{pid} }
sub resume { kill 'CONT', $_[0]{pid} }

# SIGKILL (or another signal), and wait for it
sub crash {
    my ($self, $sig) = @_;
    my $pid = delete $self->{pid} or return;
    kill 'CONT', $pid;
    kill $sig // 'KILL', $pid;
    waitpid $pid, 0;
    delete $STARTED{$pid};
}

sub stop    { $_[0]->crash('TERM') }
sub restart { my ($self) = @_; $self->crash; $self->start }

sub log_text {
    my ($self) = @_;
    open my $fh, '<', "$self->{dir}/redis.log" or return '';
    local $/;
    return <$fh>;
}

# One command on a connection of its own, AUTH first when the server has
# a password.  Returns the reply (an array ref for an array, "ERR ..." as
# {error => ...}), or undef when the server does not answer in time.
sub command {
    my ($self, @args) = @_;
    return ($self->pipeline([@args]))[-1];
}

# Several commands on one connection (SELECT then GET, say): their replies
sub pipeline {
    my ($self, @cmds) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $self->{port},
                                  Timeout => 2) or return undef;
    unshift @cmds, ['AUTH', $self->{password}] if defined $self->{password};
    print {$s} map { _resp(@$_) } @cmds;
    my $buf = '';
    my @replies;
    for (@cmds) {
        my $reply = _read_reply($s, \$buf);
        return undef unless defined $reply;
        push @replies, $reply;
    }
    close $s;
    shift @replies if defined $self->{password};
    return @replies;
}

sub _resp {
    my @a = @_;
    return join '', "*" . @a . "\r\n", map { '$' . length($_) . "\r\n$_\r\n" } @a;
}

sub _line {
    my ($s, $buf) = @_;
    my $sel = IO::Select->new($s);
    while ($$buf !~ /\r\n/) {
        return undef unless $sel->can_read(2);
        sysread($s, $$buf, 4096, length $$buf) or return undef;
    }
    $$buf =~ s/^(.*?)\r\n//s;
    return $1;
}

sub _read_reply {
    my ($s, $buf) = @_;
    my $line = _line($s, $buf) // return undef;
    my ($t, $v) = (substr($line, 0, 1), substr($line, 1));
    return $v if $t eq '+' || $t eq ':';
    return { error => $v } if $t eq '-';
    if ($t eq '$') {
        return '' if $v < 0;    # nil, as an empty string
        my $sel = IO::Select->new($s);
        while (length $$buf < $v + 2) {
            return undef unless $sel->can_read(2);
            sysread($s, $$buf, 4096, length $$buf) or return undef;
        }
        my $str = substr($$buf, 0, $v);
        substr($$buf, 0, $v + 2) = '';
        return $str;
    }
    if ($t eq '*') {
        my @a;
        for (1 .. $v) {
            my $r = _read_reply($s, $buf);
            return undef unless defined $r;
            push @a, $r;
        }
        return \@a;
    }
    return undef;
}

END {
    local $?;
    for my $pid (keys %STARTED) {
        kill 'CONT', $pid;
        kill 'KILL', $pid;
        waitpid $pid, 0;
    }
}

1;
