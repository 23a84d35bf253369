# What reading a body costs the gateway: one parse of the whole body a
# pass, whatever its size or its longest string (a body is never fed to the
# parser in pieces, which made one long string cost the square of its
# length); a body in a temp file is mapped, not copied, and a rewrite of it
# goes to a temp file of its own.  A user over the submit rate is refused
# before a byte of the body is read.  Deep nesting is a clear 400.
use strict;
use warnings;
use Test::More;
use Digest::SHA qw(sha256_hex);
use HTTP::Tiny;
use IO::Select;
use IO::Socket::INET;
use FindBin;
use lib "$FindBin::Bin/lib";
use MJTest;
use MJNginx;

my %alice = (Authorization => "Bearer $KEY{alice}");
my $loc = <<'_EOC_';
        client_max_body_size 80m;
        client_body_timeout 300s;
        location /mj/ {
            mj_gateway zone=mj;
            mj_limit_submit rate=1r/m burst=0;
            proxy_pass http://mjsim;
        }
        location /mj-free/ {
            mj_gateway zone=mj;
            rewrite ^/mj-free(/.*)$ $1 break;
            proxy_pass http://mjsim;
        }
_EOC_

sim_config({queue_slots => 100000});
my $ng = MJNginx->new(conf => $loc, main => 'error_log logs/debug.log debug;');

# big bodies take their time on a busy machine: a deadline that only a hang
# reaches
sub post_big {
    my ($path, $body) = @_;
    return HTTP::Tiny->new(timeout => 300, keep_alive => 0)
        ->request('POST', $ng->url . $path,
                  {headers => {%alice}, content => $body});
}

sub debug_log {
    open my $fh, '<', $ng->dir . '/logs/debug.log' or return '';
    local $/;
    return <$fh>;
}

# the cost line the last body of this size left in the debug log
sub cost_of {
    my ($bytes) = @_;
    my @l = debug_log() =~ /mj: body of "imagine": $bytes bytes( in a file|), (\d+) parses, (\d+) bytes copied/g;
    return @l ? [@l[-3 .. -1]] : undef;
}

# 1. one long string: one parse, nothing copied, at every size
for my $mb (1, 16, 64) {
    my $body = '{"prompt":"' . ('a' x ($mb << 20)) . '"}';
    my $r = post_big('/mj-free/mj/submit/imagine', $body);
    is $r->{status}, 200, "a $mb MB prompt is relayed"
        or diag $r->{content}, $ng->log_tail;
    my $c = cost_of(length $body);
    ok $c, "$mb MB: the cost is logged" or next;
    is $c->[0], ' in a file', "$mb MB: the body was in a temp file";
    is $c->[1], 1, "$mb MB: parsed in one call";
    is $c->[2], 0, "$mb MB: not copied (mapped)";
    is sim_last()->{body_length}, length $body, "$mb MB: the upstream got it whole";
}

# 2. a rewrite of a 16 MB body: a temp file of its own, the rest kept
{
    my $prompt = 'b' x (16 << 20);
    my $keep = qq({"prompt":"$prompt","state":"s"});
    my $body = qq({"prompt":"$prompt","notifyHook":"http://10.0.0.1/x","state":"s"});
    my $r = post_big('/mj-free/mj/submit/imagine', $body);
    is $r->{status}, 200, 'a 16 MB body with a notifyHook is relayed'
        or diag $r->{content}, $ng->log_tail;
    is_deeply cost_of(length $body), [' in a file', 1, 0], 'read once';
    my @w = debug_log() =~ /mj: body of "imagine" written anew: (\d+) bytes( in a file|), (\d+) parses in all, (\d+) bytes copied/g;
    is_deeply [@w[-4 .. -1]], [length $keep, ' in a file', 2, 0],
              'written once, into a file, copied never';
    my $last = sim_last();
    is $last->{body_length}, length $keep, 'the upstream got the body without the hook';
    is $last->{body_sha256}, sha256_hex($keep), 'and every other byte of it';
    is sim_seen('10.0.0.1'), 0, 'the hook never reached it';
}

# 3. escapes to decode all along a long string: still one parse
{
    my $body = '{"prompt":"' . ('c\\n' x (4 << 20)) . '"}';
    my $r = post_big('/mj-free/mj/submit/imagine', $body);
    is $r->{status}, 200, 'a 12 MB prompt of escapes is relayed';
    my $c = cost_of(length $body);
    is_deeply $c, [' in a file', 1, 0], 'one parse, nothing copied';
}

# 4. a small body in memory
{
    my $body = '{"prompt":"small"}';
    my $r = post_big('/mj-free/mj/submit/imagine', $body);
    is $r->{status}, 200, 'a small body is relayed'
        or diag $r->{content}, $ng->log_tail;
    is_deeply cost_of(length $body), ['', 1, 0], 'in memory: one parse, no copy';
}

# 5. over the submit rate: refused before the body is read
{
    my $r = $ng->post('/mj/submit/imagine', \%alice, '{"prompt":"first"}');
    is $r->{status}, 200, 'the first submit passes the rate';

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $ng->port) or die $!;
    print {$s} "POST /mj/submit/imagine HTTP/1.1\r\nHost: x\r\n"
             . "Authorization: Bearer $KEY{alice}\r\n"
             . "Content-Type: application/json\r\n"
             . "Content-Length: 50000000\r\nConnection: close\r\n\r\n"
             . '{"prompt":"never sent whole';
    # client_body_timeout is 300 s: an answer now is one that did not wait
    # for the body
    my $answer = '';
    my $sel = IO::Select->new($s);
    while ($sel->can_read(120)) {
        my $n = sysread $s, my $buf, 65536;
        last unless $n;
        $answer .= $buf;
    }
    like $answer, qr{^HTTP/1\.1 429 }, 'the second gets its 429 with 50 MB unsent';
    like $answer, qr/"description":"too many requests: the rate limit is reached"/,
         'in the contract\'s shape';
    like $answer, qr/\r\nRetry-After: \d+\r\n/, 'with Retry-After';
    is sim_seen('never sent whole'), 0, 'nothing of it reached the upstream';
}

# 6. nesting: 64 levels pass, 65 do not, and 127 with a key to strip is a
#    400 too (yajl_gen stops at 128: it once was a 500)
{
    my $nest = sub { my ($n) = @_; ('[' x $n) . (']' x $n) };
    my $r = $ng->post('/mj-free/mj/submit/imagine', \%alice,
                      '{"prompt":"deep","x":' . $nest->(63) . '}');
    is $r->{status}, 200, '64 levels (the object and 63 arrays) pass';

    for my $n (64, 126) {
        $r = $ng->post('/mj-free/mj/submit/imagine', \%alice,
                       '{"prompt":"deeper","notifyHook":"http://10.0.0.2/",'
                       . '"x":' . $nest->($n) . '}');
        is $r->{status}, 400, ($n + 1) . ' levels with a hook to strip: 400';
        is $r->{content},
           qq[{"code":4,"description":"the body nests deeper than 64 levels"}\n],
           'which says why';
    }
    is sim_seen('deeper'), 0, 'none of them reached the upstream';
}

$ng->stop;
done_testing;
