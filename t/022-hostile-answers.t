# Upstream answers that must not reach a client as they are: any answer,
# whatever its status, that quotes the upstream key in its body or in a
# header, and answers cut short or broken in every way HTTP allows, become
# the JSON 502 and record nothing.  The upstream's cookies are dropped
# unless the operator passes them.
use Test::Nginx::Socket 'no_plan';
use FindBin;
use lib "$FindBin::Bin/lib";
use MJTest;

no_shuffle();
add_block_preprocessor(\&MJTest::defaults);

our $Loc = $MJTest::LOC;
our $Alice = "Authorization: Bearer $KEY{alice}";
our $NotFound = qq[{"code":3,"description":"task not found"}\n];
our $Unreadable = qq[{"code":9,"description":"the upstream's answer could not be read"}\n];

my $base = 1730000000000000 + ($$ % 1000) * 1000;
sub id_for { $base + $_[0] }

# a task of alice's, made first, for the endpoints that name one
sub own { "POST /mj/submit/imagine\n{\"prompt\":\"stuck owned\"}" }
sub own_headers { "$Alice\r\nX-Sim-Task-Id: ${\ id_for($_[0])}" }

# each endpoint the gateway relays, as a request for task n
sub endpoints {
    my ($n) = @_;
    my $id = id_for($n);
    return (
        "POST /mj/submit/imagine\n{\"prompt\":\"a fox\"}",
        "GET /mj/task/$id/fetch",
        "POST /mj/task/list-by-condition\n{\"ids\":[\"$id\"]}",
        "POST /mj/task/$id/cancel",
        "POST /mj/submit/upload-discord-images\n{\"base64Array\":[\"data:image/png;base64,AA==\"]}",
    );
}

# the matrix: every endpoint, under every mode given, after making task n
sub matrix {
    my ($n, @modes) = @_;
    my (@req, @hdr);
    for my $m (@modes) {
        push @req, own();
        push @hdr, own_headers($n);
        for my $r (endpoints($n)) {
            push @req, $r;
            push @hdr, "$Alice\r\nX-Sim-Mode: $m";
        }
        $n++;
    }
    return (\@req, \@hdr);
}

# statuses: 200 for the owned task, then 502 for each endpoint
sub codes { my ($k) = @_; [map { (200, (502) x 5) } 1 .. $k] }
sub bodies { my ($k) = @_; [map { (qr/"code":\s*1,/, ($Unreadable) x 5) } 1 .. $k] }

our @Quote = matrix(1, 'quote-key', 'quote-key,status:400',
                    'quote-key,status:404', 'quote-key,status:429');
our @Header = matrix(11, 'quote-key-header:Location',
                     'quote-key-header:Set-Cookie', 'quote-key-header:X-Debug',
                     'quote-key-header:Link');
our @Cut = matrix(21, 'truncated', 'chunked,truncated', 'cut', 'badchunk',
                  'headers-only');

run_tests();

__DATA__

=== TEST 1: an answer that quotes the upstream key in its body, at any status
--- config eval: $::Loc
--- more_headers eval: $::Quote[1]
--- request eval: $::Quote[0]
--- error_code eval: ::codes(4)
--- response_body eval: ::bodies(4)
--- no_error_log eval
[qr/\Q$ENV{TEST_NGINX_MJ_UPSTREAM_KEY}\E/]



=== TEST 2: a submit refused that way records nothing
--- config eval: $::Loc
--- more_headers eval
["$::Alice\r\nX-Sim-Task-Id: ${\ ::id_for(9)}\r\nX-Sim-Mode: quote-key", $::Alice, ""]
--- request eval
["POST /mj/submit/imagine\n{\"prompt\":\"quoted\"}", "GET /mj/task/${\ ::id_for(9)}/fetch",
 "GET /sim/seen?s=quoted"]
--- error_code eval
[502, 404, 200]
--- response_body eval
[$::Unreadable, $::NotFound, '{"seen":1}']



=== TEST 3: an answer that quotes the upstream key in any header
--- config eval: $::Loc
--- more_headers eval: $::Header[1]
--- request eval: $::Header[0]
--- error_code eval: ::codes(4)
--- response_body eval: ::bodies(4)
--- no_error_log eval
[qr/\Q$ENV{TEST_NGINX_MJ_UPSTREAM_KEY}\E/]



=== TEST 3b: each is logged, by its reason and without the key
--- config eval: $::Loc
--- more_headers eval
"$::Alice\r\nX-Sim-Mode: quote-key-header:Location"
--- request
POST /mj/submit/imagine
{"prompt":"logged"}
--- error_code: 502
--- error_log
mj: the upstream's answer to "imagine" quotes the upstream key in a header; answered 502
--- no_error_log eval
[qr/\Q$ENV{TEST_NGINX_MJ_UPSTREAM_KEY}\E/]



=== TEST 3c: in the body too
--- config eval: $::Loc
--- more_headers eval
"$::Alice\r\nX-Sim-Mode: quote-key,status:404"
--- request
POST /mj/submit/upload-discord-images
{"base64Array":["data:image/png;base64,AA=="]}
--- error_code: 502
--- error_log
mj: the upstream's answer to "upload-discord-images" quotes the upstream key; answered 502
--- no_error_log eval
[qr/\Q$ENV{TEST_NGINX_MJ_UPSTREAM_KEY}\E/]



=== TEST 4: the upstream's cookies are dropped
--- config eval: $::Loc
--- more_headers eval
["$::Alice\r\nX-Sim-Mode: set-cookie", "$::Alice\r\nX-Sim-Mode: set-cookie,status:404"]
--- request eval
["POST /mj/submit/imagine\n{\"prompt\":\"cookie\"}", "GET /mj/task/1/fetch"]
--- error_code eval
[200, 404]
--- response_headers eval
["!Set-Cookie", "!Set-Cookie"]



=== TEST 5: unless the operator passes them
--- config
    location /mj/ {
        mj_gateway zone=mj;
        mj_pass_set_cookie on;
        proxy_pass http://mjsim;
    }
--- more_headers eval
"$::Alice\r\nX-Sim-Mode: set-cookie"
--- request
POST /mj/submit/imagine
{"prompt":"cookie"}
--- error_code: 200
--- response_headers
Set-Cookie: simsession=s1; Path=/; HttpOnly



=== TEST 6: answers cut short, in every way: a 502, never a truncated 200
--- config eval: $::Loc
--- more_headers eval: $::Cut[1]
--- request eval: $::Cut[0]
--- error_code eval: ::codes(5)
--- response_body eval: ::bodies(5)



=== TEST 7: a cut submit records nothing, whatever the cut
--- config eval: $::Loc
--- more_headers eval
[(map { "$::Alice\r\nX-Sim-Task-Id: ${\ ::id_for(40 + $_)}\r\nX-Sim-Mode: " . ('truncated', 'chunked,truncated', 'cut', 'badchunk', 'headers-only', 'early-end')[$_] } 0 .. 5),
 ($::Alice) x 6]
--- request eval
[("POST /mj/submit/imagine\n{\"prompt\":\"cut\"}") x 6,
 map { "GET /mj/task/${\ ::id_for(40 + $_)}/fetch" } 0 .. 5]
--- error_code eval
[(502) x 6, (404) x 6]
--- response_body eval
[($::Unreadable) x 6, ($::NotFound) x 6]



=== TEST 8: a list answer whose JSON ends early in a complete HTTP answer
--- config eval: $::Loc
--- more_headers eval
[::own_headers(50), "$::Alice\r\nX-Sim-Mode: early-end"]
--- request eval
[::own(), "POST /mj/task/list-by-condition\n{\"ids\":[\"${\ ::id_for(50)}\"]}"]
--- error_code eval
[200, 502]
--- response_body eval
[qr/"code":\s*1,/, $::Unreadable]
