package MJClock;

# A fake wall clock for the nginx a test starts (libfaketime): frozen at
# the time set and moved only by the test, so that nothing counted in
# seconds (rate buckets, Retry-After, the UTC day, task ages, max_age)
# depends on how fast the machine runs.  nginx's timers run on the
# monotonic clock, which stays real.  Times are UTC.
#
#     my $clock = MJClock->new('2026-11-27 23:59:40')
#         or plan skip_all => 'libfaketime is not installed';
#     my $ng = MJNginx->new(clock => $clock, conf => ...);
#     $clock->set('2026-11-28 00:00:05');  $clock->advance(2);  $clock->now;
#
# A Test::Nginx file calls $clock->export before run_tests(): every
# process it starts from then on (its nginx) runs on the clock, and its
# blocks need $clock->main_config in their main_config.

use strict;
use warnings;

use File::Temp ();
use POSIX ();
use Time::Local ();

our $LIB = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';

sub available { -e $LIB }

sub new {
    my ($class, $when) = @_;
    return undef unless available();
    my $dir = File::Temp::tempdir('mj-clock-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    chmod 0755, $dir;
    my $self = bless { file => "$dir/clock" }, $class;
    $self->set($when // '2026-06-15 12:00:00');
    return $self;
}

# the fake time, in seconds since the epoch
sub now { $_[0]{now} }

# set('YYYY-MM-DD hh:mm:ss[.frac]') in UTC, or seconds since the epoch
sub set {
    my ($self, $when) = @_;
    my $t = $when;
    if ($when =~ /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(\.\d+)?$/) {
        $t = Time::Local::timegm($6, $5, $4, $3, $2 - 1, $1) + ($7 // 0);
    }
    die "MJClock: bad time '$when'\n" unless $t =~ /^\d+(?:\.\d+)?$/;
    my $frac = sprintf '%.6f', $t - int $t;
    $frac =~ s/^0//;
    # written whole, then renamed: nginx never reads half a file
    my $tmp = "$self->{file}.tmp";
    open my $fh, '>', $tmp or die "MJClock: $tmp: $!\n";
    print {$fh} POSIX::strftime('%Y-%m-%d %H:%M:%S', gmtime int $t), $frac, "\n";
    close $fh or die "MJClock: $tmp: $!\n";
    rename $tmp, $self->{file} or die "MJClock: rename $tmp: $!\n";
    $self->{now} = $t;
    return $t;
}

sub advance { my ($self, $s) = @_; return $self->set($self->{now} + $s) }

# the environment of a process on this clock
sub env {
    my ($self) = @_;
    return (LD_PRELOAD => $LIB, FAKETIME_TIMESTAMP_FILE => $self->{file},
            FAKETIME_NO_CACHE => 1, FAKETIME_DONT_FAKE_MONOTONIC => 1,
            TZ => 'UTC');
}

# nginx keeps only TZ for its workers: the rest goes by "env"
sub main_config {
    my ($self) = @_;
    my %env = $self->env;
    return join(' ', map { "env $_;" } sort grep { $_ ne 'TZ' } keys %env) . "\n";
}

# every process started from now on runs on this clock
sub export {
    my ($self) = @_;
    my %env = $self->env;
    @ENV{keys %env} = values %env;
    return $self;
}

1;
