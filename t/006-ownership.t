# Task ownership: every task endpoint x {own, other's, missing, malformed}.
# Another user's task and a missing one get the same answer, byte for
# byte, and the upstream is never contacted for either.
use Test::Nginx::Socket 'no_plan';
use FindBin;
use lib "$FindBin::Bin/lib";
use MJTest;

no_shuffle();
add_block_preprocessor(\&MJTest::defaults);

# the matrix's tasks never finish ("stuck"): let the upstream queue them all
sim_config({queue_slots => 100000});

# the gateway in front of the simulated upstream, and its control endpoints
our $Loc = $MJTest::LOC;

our $NotFound = qq[{"code":3,"description":"task not found"}\n];
our $BadId = qq[{"code":4,"description":"invalid task id: 1 to 64 characters of A-Z, a-z, 0-9, \\"_\\" and \\"-\\""}\n];
our $Alice = "Authorization: Bearer $KEY{alice}";
our $Bob = "mj-api-secret: $KEY{bob}";

# a fresh task id per block: the simulated upstream issues each id once
my $base = 1700000000000000 + ($$ % 1000) * 1000;
my %used;
sub id_for { my ($n) = @_; $used{$n} //= $base + $n }

my %request = (
    fetch    => sub { "GET /mj/task/$_[0]/fetch" },
    seed     => sub { "GET /mj/task/$_[0]/image-seed" },
    cancel   => sub { "POST /mj/task/$_[0]/cancel\n" },
    action   => sub { qq(POST /mj/submit/action\n{"taskId":"$_[0]","customId":"MJ::JOB::upsample::1::h"}) },
    modal    => sub { qq(POST /mj/submit/modal\n{"taskId":"$_[0]","prompt":"more"}) },
    change   => sub { qq(POST /mj/submit/change\n{"taskId":"$_[0]","action":"UPSCALE","index":1}) },
    simple   => sub { qq(POST /mj/submit/simple-change\n{"content":"$_[0] U1"}) },
    list     => sub { qq(POST /mj/task/list-by-condition\n{"ids":["$_[0]"]}) },
);

# requests: alice makes task X; alice uses it; bob uses it; alice and bob
# name a missing task; alice names a malformed id; then: did the upstream
# see X in any request but the two of alice?
sub matrix_requests {
    my ($ep, $n) = @_;
    my $x = id_for($n);
    my $missing = $x + 500;
    my $r = $request{$ep};
    return ["POST /mj/submit/imagine\n{\"prompt\":\"matrix stuck $n\"}",
            $r->($x), $r->($x), $r->($missing), $r->($missing),
            $r->('bad.id!'), "GET /sim/seen?s=$x", "GET /sim/seen?s=$missing"];
}

sub matrix_headers {
    my ($n) = @_;
    my $x = id_for($n);
    return ["$Alice\r\nX-Sim-Task-Id: $x", $Alice, $Bob, $Alice, $Bob, $Alice, "", ""];
}

sub matrix_codes {
    my ($ep, $own) = @_;
    my ($nf, $bad) = $ep eq 'list' ? (200, 400) : (404, 400);
    return [200, $own, $nf, $nf, $nf, $bad, 200, 200];
}

sub matrix_bodies {
    my ($ep, $own) = @_;
    my $nf = $ep eq 'list' ? '[]' : $NotFound;
    my $bad = $ep eq 'list'
        ? qq[{"code":4,"description":"invalid task id in ids"}\n] : $BadId;
    return [qr/^\{"code":\s*1,/, $own, $nf, $nf, $nf, $bad,
            '{"seen":2}', '{"seen":0}'];
}

run_tests();

__DATA__

=== TEST 1: fetch
--- config eval: $::Loc
--- more_headers eval: ::matrix_headers(1)
--- request eval: ::matrix_requests('fetch', 1)
--- error_code eval: ::matrix_codes('fetch', 200)
--- response_body eval: ::matrix_bodies('fetch', qr/"id":\s*"${\ ::id_for(1)}"/)



=== TEST 2: image-seed (the simulated upstream has no seed before SUCCESS)
--- config eval: $::Loc
--- more_headers eval: ::matrix_headers(2)
--- request eval: ::matrix_requests('seed', 2)
--- error_code eval: ::matrix_codes('seed', 200)
--- response_body eval: ::matrix_bodies('seed', qr/"code":\s*\d/)



=== TEST 3: cancel
--- config eval: $::Loc
--- more_headers eval: ::matrix_headers(3)
--- request eval: ::matrix_requests('cancel', 3)
--- error_code eval: ::matrix_codes('cancel', 200)
--- response_body eval: ::matrix_bodies('cancel', qr/"code":\s*1/)



=== TEST 4: action (taskId in the body)
--- config eval: $::Loc
--- more_headers eval: ::matrix_headers(4)
--- request eval: ::matrix_requests('action', 4)
--- error_code eval: ::matrix_codes('action', 200)
--- response_body eval: ::matrix_bodies('action', qr/"code":\s*4/)



=== TEST 5: modal
--- config eval: $::Loc
--- more_headers eval: ::matrix_headers(5)
--- request eval: ::matrix_requests('modal', 5)
--- error_code eval: ::matrix_codes('modal', 200)
--- response_body eval: ::matrix_bodies('modal', qr/"code":\s*4/)



=== TEST 6: change
--- config eval: $::Loc
--- more_headers eval: ::matrix_headers(6)
--- request eval: ::matrix_requests('change', 6)
--- error_code eval: ::matrix_codes('change', 200)
--- response_body eval: ::matrix_bodies('change', qr/"code":\s*\d/)



=== TEST 7: simple-change (the id inside content)
--- config eval: $::Loc
--- more_headers eval: ::matrix_headers(7)
--- request eval: ::matrix_requests('simple', 7)
--- error_code eval: ::matrix_codes('simple', 200)
--- response_body eval: ::matrix_bodies('simple', qr/"code":\s*\d/)



=== TEST 8: list-by-condition: none of the caller's ids is answered [] locally
--- config eval: $::Loc
--- more_headers eval: ::matrix_headers(8)
--- request eval: ::matrix_requests('list', 8)
--- error_code eval: ::matrix_codes('list', 200)
--- response_body eval: ::matrix_bodies('list', qr/^\[\{.*"id":\s*"${\ ::id_for(8)}"/s)



=== TEST 9: list-by-condition: the ids are cut to the caller's before relaying
--- config eval: $::Loc
--- more_headers eval
["$::Alice\r\nX-Sim-Task-Id: ${\ ::id_for(9)}", "$::Bob\r\nX-Sim-Task-Id: ${\ ::id_for(10)}",
 $::Alice, "", ""]
--- request eval
["POST /mj/submit/imagine\n{\"prompt\":\"mine\"}", "POST /mj/submit/imagine\n{\"prompt\":\"his\"}",
 qq(POST /mj/task/list-by-condition\n{"ids":["${\ ::id_for(10)}","${\ ::id_for(9)}","1"],"other":[1,{"a":null}]}),
 "GET /sim/last", "GET /sim/seen?s=${\ ::id_for(10)}"]
--- response_body_like eval
[qr/"code":\s*1/, qr/"code":\s*1/,
 qr/^\[\{"id":\s*"${\ ::id_for(9)}".*\}\]$/s,
 qr/"body":\s*"\{\\"ids\\":\[\\"${\ ::id_for(9)}\\"\],\\"other\\":\[1,\{\\"a\\":null\}\]\}"/,
 qr/^\{"seen":1\}$/]



=== TEST 10: a task recorded for alice stays hers in later blocks (state carried on)
--- config eval: $::Loc
--- more_headers eval
[$::Alice, $::Bob]
--- request eval
["GET /mj/task/${\ ::id_for(1)}/fetch", "GET /mj/task/${\ ::id_for(1)}/fetch"]
--- error_code eval
[200, 404]
--- response_body eval
[qr/"id":\s*"${\ ::id_for(1)}"/, $::NotFound]
