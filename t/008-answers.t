# Submit answers: the task is recorded before the client sees its id, from
# chunked or split answers too; answers that cannot be read become a JSON
# 502 and record nothing; refusals record nothing.
use Test::Nginx::Socket 'no_plan';
use FindBin;
use lib "$FindBin::Bin/lib";
use MJTest;

no_shuffle();
add_block_preprocessor(\&MJTest::defaults);

# the gateway in front of the simulated upstream, and its control endpoints
our $Loc = $MJTest::LOC;

our $Alice = "Authorization: Bearer $KEY{alice}";
our $NotFound = qq[{"code":3,"description":"task not found"}\n];
our $Unreadable = qq[{"code":9,"description":"the upstream's answer could not be read"}\n];
my $base = 1720000000000000 + ($$ % 1000) * 1000;
sub id_for { $base + $_[0] }

# submit with a named id and a mode, then fetch that id at once
sub submit_then_fetch {
    my ($n, $mode) = @_;
    return ["$Alice\r\nX-Sim-Task-Id: ${\ id_for($n)}\r\nX-Sim-Mode: $mode", $Alice];
}

run_tests();

__DATA__

=== TEST 1: a chunked answer, in tiny chunks: recorded, and fetchable at once
--- config eval: $::Loc
--- more_headers eval: ::submit_then_fetch(1, 'chunked')
--- request eval
["POST /mj/submit/imagine\n{\"prompt\":\"chunked\"}", "GET /mj/task/${\ ::id_for(1)}/fetch"]
--- error_code eval
[200, 200]
--- response_body eval
[qr/^\{"code":\s*1,.*"result":\s*"${\ ::id_for(1)}"/s, qr/"id":\s*"${\ ::id_for(1)}"/]



=== TEST 2: an answer written in several pieces: recorded
--- config eval: $::Loc
--- more_headers eval: ::submit_then_fetch(2, 'split')
--- request eval
["POST /mj/submit/imagine\n{\"prompt\":\"split\"}", "GET /mj/task/${\ ::id_for(2)}/fetch"]
--- error_code eval
[200, 200]
--- response_body eval
[qr/"result":\s*"${\ ::id_for(2)}"/, qr/"id":\s*"${\ ::id_for(2)}"/]



=== TEST 3: the client's answer is the upstream's, byte for byte
--- config eval: $::Loc
--- more_headers eval
["$::Alice\r\nX-Sim-Task-Id: ${\ ::id_for(3)}"]
--- request eval
["POST /mj/submit/imagine\n{\"prompt\":\"same bytes\"}"]
--- response_body eval
[qq({"code":1,"description":"Submitted","result":"${\ ::id_for(3)}","properties":{"discordInstanceId":"1118138338562560102"}})]



=== TEST 4: garbage: JSON 502, logged, nothing recorded
--- config eval: $::Loc
--- more_headers eval: ::submit_then_fetch(4, 'garbage')
--- request eval
["POST /mj/submit/imagine\n{\"prompt\":\"garbage\"}", "GET /mj/task/${\ ::id_for(4)}/fetch"]
--- error_code eval
[502, 404]
--- response_body eval
[$::Unreadable, $::NotFound]



=== TEST 5: garbage is logged
--- config eval: $::Loc
--- more_headers eval: "$::Alice\r\nX-Sim-Mode: garbage"
--- request
POST /mj/submit/shorten
{"prompt":"garbage"}
--- error_code: 502
--- error_log
mj: the upstream's answer to "shorten" is not the JSON the contract describes; answered 502



=== TEST 6: a truncated answer: JSON 502, nothing recorded
--- config eval: $::Loc
--- more_headers eval: ::submit_then_fetch(6, 'truncated')
--- request eval
["POST /mj/submit/imagine\n{\"prompt\":\"truncated\"}", "GET /mj/task/${\ ::id_for(6)}/fetch"]
--- error_code eval
[502, 404]



=== TEST 7: the client asks for gzip; the gateway does not, and can read the answer
--- config eval: $::Loc
--- more_headers eval
["$::Alice\r\nAccept-Encoding: gzip\r\nX-Sim-Mode: gzip\r\nX-Sim-Task-Id: ${\ ::id_for(7)}", "", "$::Alice\r\nAccept-Encoding: gzip"]
--- request eval
["POST /mj/submit/imagine\n{\"prompt\":\"gzip\"}", "GET /sim/seen?s=Accept-Encoding", "GET /mj/task/${\ ::id_for(7)}/fetch"]
--- error_code eval
[200, 200, 200]
--- response_body eval
[qr/"result":\s*"${\ ::id_for(7)}"/, '{"seen":0}', qr/"id":\s*"${\ ::id_for(7)}"/]



=== TEST 8: a banned prompt (code 24) creates and records nothing
--- config eval: $::Loc
--- more_headers eval: ::submit_then_fetch(8, 'split')
--- request eval
["POST /mj/submit/imagine\n{\"prompt\":\"some gore\"}", "GET /mj/task/${\ ::id_for(8)}/fetch"]
--- error_code eval
[200, 404]
--- response_body eval
[qr/"code":\s*24/, $::NotFound]



=== TEST 9: queued (code 22) is accepted: recorded
--- config eval: $::Loc
--- more_headers eval
["Content-Type: application/json", $::Alice, "$::Alice\r\nX-Sim-Task-Id: ${\ ::id_for(9)}", $::Alice, "Content-Type: application/json"]
--- request eval
["POST /sim/config\n{\"queue_slots\":1}", "POST /mj/submit/imagine\n{\"prompt\":\"stuck\"}",
 "POST /mj/submit/imagine\n{\"prompt\":\"queued\"}",
 "GET /mj/task/${\ ::id_for(9)}/fetch", "POST /sim/reset"]
--- error_code eval
[200, 200, 200, 200, 200]
--- response_body eval
[qr/"queue_slots":\s*1/, qr/"code":\s*1/, qr/^\{"code":\s*22,.*"numberOfQueues"/s, qr/"id":\s*"${\ ::id_for(9)}"/, '{"ok":true}']



=== TEST 10: an upstream failure on a submit records nothing
--- config eval: $::Loc
--- more_headers eval: ::submit_then_fetch(10, 'json500')
--- request eval
["POST /mj/submit/imagine\n{\"prompt\":\"fails\"}", "GET /mj/task/${\ ::id_for(10)}/fetch"]
--- error_code eval
[502, 404]
