package MJHold;

# An upstream that answers when the test says so, for "a request in
# flight" that must stay in flight until the test is done with it (a
# worker killed, a crash, a reload): a slow upstream (X-Sim-Mode: slow:MS)
# answers after MS milliseconds whether the test is done or not, which
# only a fast machine wins.  It lives in the test's own process, one
# request at a time:
#
#     my $hold = MJHold->new;        # listening now: $hold->port
#     # a location with proxy_pass http://127.0.0.1:<port>, a request to it
#     my $req = $hold->take(10)      # the request, whole, once it is here
#         or fail 'it never came';
#     $hold->answer('{"code":1,"description":"Submitted","result":"1"}');
#
# take() drops the request taken before, if nothing answered it.

use strict;
use warnings;

use IO::Select;
use IO::Socket::INET;
use Time::HiRes ();

sub new {
    my ($class) = @_;
    my $l = IO::Socket::INET->new(Listen => 16, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, Proto => 'tcp',
                                  ReuseAddr => 1)
        or die "MJHold: cannot listen: $!\n";
    return bless { listen => $l }, $class;
}

sub port    { $_[0]{listen}->sockport }
sub request { $_[0]{request} }

# waits for the next request and reads it whole; undef if none came in time
sub take {
    my ($self, $timeout) = @_;
    $self->drop;
    my $deadline = Time::HiRes::time() + ($timeout // 10);
    my $left = sub { my $l = $deadline - Time::HiRes::time(); $l > 0 ? $l : 0 };
    IO::Select->new($self->{listen})->can_read($left->()) or return undef;
    my $c = $self->{listen}->accept or return undef;
    my $sel = IO::Select->new($c);
    my $buf = '';
    while (1) {
        if ($buf =~ /\r\n\r\n/) {
            my ($head, $body) = split /\r\n\r\n/, $buf, 2;
            my ($len) = $head =~ /^Content-Length:\s*(\d+)/mi;
            last if length($body) >= ($len // 0);
        }
        $sel->can_read($left->()) or return undef;
        sysread($c, $buf, 65536, length $buf) or return undef;
    }
    $self->{conn} = $c;
    return $self->{request} = $buf;
}

# answers the request taken, with a JSON body (status 200 unless given)
sub answer {
    my ($self, $body, $status) = @_;
    my $c = delete $self->{conn} or return;
    $status //= 200;
    local $SIG{PIPE} = 'IGNORE';    # nginx may have gone meanwhile
    print {$c} "HTTP/1.1 $status Held\r\n"
        . "Content-Type: application/json; charset=utf-8\r\n"
        . "Content-Length: " . length($body) . "\r\n"
        . "Connection: close\r\n\r\n$body";
    close $c;
}

# closes the request taken, unanswered
sub drop {
    my ($self) = @_;
    my $c = delete $self->{conn} or return;
    close $c;
}

1;
