# A fetch answer's status is its top-level "status": read the quick way
# when the answer is plain up to it, by yajl otherwise (ngx_http_mj_filter.c,
# mj_answer_parse.c).  Seen through the cap on unfinished tasks
# (mj_limit_tasks 1): a second submit passes only once the first task was
# seen finished.  Answers from a fixed upstream: a "status" nested before
# the top-level one never counts, whatever it says; an escaped key or value
# reads as what it decodes to.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use MJTest;
use MJNginx;

my $up = MJNginx::free_port();
my ($A, $B, $C) = map { "171234567890100$_" } 1 .. 3;

sub answer { return "default_type application/json; return 200 '$_[0]';" }

my %fetch = (
    # nested "status" SUCCESS (in an object, in an array) before the
    # top-level IN_PROGRESS, numbers and literals on the way
    "/mj/task/$A/fetch" => qq({"id":"$A","n":-1.5e3,"ok":true,"x":null,)
        . q("properties":{"status":"SUCCESS"},"l":[{"status":"SUCCESS"}],)
        . q("status":"IN_PROGRESS","progress":"10%"}),
    # plain up to a top-level IN_PROGRESS: read without yajl
    "/mj-fast/mj/task/$A/fetch" => qq({"id":"$A","status":"IN_PROGRESS",)
        . q("properties":{"status":"SUCCESS"}}),
    # a "status" that is not a string, then the real one
    "/mj-turbo/mj/task/$A/fetch" => qq({"id":"$A","status":7,)
        . q("status":"IN_PROGRESS"}),
    # the top-level SUCCESS after a nested IN_PROGRESS
    "/mj-relax/mj/task/$A/fetch" => qq({"id":"$A",)
        . q("properties":{"status":"IN_PROGRESS"},"status":"SUCCESS"}),
    # escapes in the key and the value: "status", "SUCCESS"
    "/mj/task/$B/fetch" => qq({"id":"$B","st\\\\u0061tus":"SUC\\\\u0043ESS"}),
);

my $locations = join "\n", map {
    "        location = $_ { " . answer($fetch{$_}) . " }"
} sort keys %fetch;

my $ng = MJNginx->new(http => <<"_EOC_", conf => <<"_EOC_");
    server {
        listen 127.0.0.1:$up;
        location = /mj/submit/imagine {
            @{[ answer(qq({"code":1,"description":"Submitted","result":"$A"})) ]}
        }
        location = /mj-fast/mj/submit/imagine {
            @{[ answer(qq({"code":1,"description":"Submitted","result":"$B"})) ]}
        }
        location = /mj-relax/mj/submit/imagine {
            @{[ answer(qq({"code":1,"description":"Submitted","result":"$C"})) ]}
        }
$locations
    }
_EOC_
        location / {
            mj_gateway zone=mj;
            mj_limit_tasks 1;
            proxy_pass http://127.0.0.1:$up;
        }
_EOC_

my %alice = (Authorization => "Bearer $KEY{alice}");
my $body = '{"prompt":"a status"}';

sub submit { return $ng->post("$_[0]/mj/submit/imagine", \%alice, $body)->{status} }
sub fetch  { return $ng->get($_[0], \%alice)->{status} }

is submit(''), 200, 'the first task';
is submit('/mj-fast'), 429, 'a second submit waits for the first to finish';

is fetch("/mj/task/$A/fetch"), 200, 'polled: SUCCESS nested, IN_PROGRESS on top';
is fetch("/mj-fast/mj/task/$A/fetch"), 200, 'polled: IN_PROGRESS first, plain';
is fetch("/mj-turbo/mj/task/$A/fetch"), 200, 'polled: a status that is no string';
is submit('/mj-fast'), 429, 'the task is still running: no nested status counted';

is fetch("/mj-relax/mj/task/$A/fetch"), 200, 'polled: SUCCESS on top';
is submit('/mj-fast'), 200, 'now the first task is finished';

is fetch("/mj/task/$B/fetch"), 200, 'polled: an escaped key and value';
is submit('/mj-relax'), 200, 'they read as "status": "SUCCESS"';

$ng->stop;
unlike $ng->error_log, qr/\[(alert|crit|emerg)\]/, 'nothing alarming logged';

done_testing;
