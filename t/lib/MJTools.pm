package MJTools;

# Runs the command-line tools (build/tools/mj and mjctl) for plain
# Test::More tests, with their exit code, output and time:
#
#     my $r = run_tool({MJ_API_KEY => $key}, 'mj', 'fetch', $id);
#     is $r->{rc}, 0; like $r->{out}, qr/SUCCESS/; diag $r->{err};
#
# The environment given is added to the test's; a value of undef removes a
# variable.  A tool still running after 20 s is killed (rc 137).

use strict;
use warnings;

use Exporter 'import';
use File::Temp ();
use POSIX ();
use Time::HiRes ();
use MJSim ();

our @EXPORT = qw(tool run_tool tool_diag);

sub tool { MJSim::sim_root() . "/build/tools/$_[0]" }

sub _slurp {
    my ($fh) = @_;
    seek $fh, 0, 0;
    local $/;
    return scalar(<$fh>) // '';
}

sub run_tool {
    my ($env, $name, @args) = @_;
    my $out = File::Temp->new;
    my $err = File::Temp->new;
    my $t0 = Time::HiRes::time();

    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        for my $k (keys %{ $env || {} }) {
            if (defined $env->{$k}) { $ENV{$k} = $env->{$k} }
            else                    { delete $ENV{$k} }
        }
        open STDIN, '<', '/dev/null';
        open STDOUT, '>&', $out or POSIX::_exit(126);
        open STDERR, '>&', $err or POSIX::_exit(126);
        exec { tool($name) } $name, @args or POSIX::_exit(127);
    }

    my $deadline = $t0 + 20;
    my $rc;
    while (1) {
        if (waitpid($pid, POSIX::WNOHANG()) == $pid) {
            $rc = $? >> 8;
            last;
        }
        if (Time::HiRes::time() > $deadline) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
            $rc = 137;
            last;
        }
        Time::HiRes::sleep(0.01);
    }

    return { rc => $rc, out => _slurp($out), err => _slurp($err),
             time => Time::HiRes::time() - $t0 };
}

# what a failed run_tool check prints: exit code, time, stderr, and the
# tail of the gateway's error log when there is one
sub tool_diag {
    my ($r, $ng) = @_;
    return sprintf("rc %d after %.2fs\n%s", $r->{rc}, $r->{time}, $r->{err})
        . ($ng ? $ng->log_tail : '');
}

1;
