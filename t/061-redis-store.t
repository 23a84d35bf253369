# Several gateway nodes, one truth (ngx_http_mj_store_redis.c): two nginx
# nodes with their own prefixes, ports and zones, in front of the
# simulated upstream, sharing a redis-server of this test's own.  Task
# ownership across nodes, byte-for-byte "not found", lists, follow-ups,
# statuses; the quota and the cap under racing submits; every fault (down,
# hung, back, restarted empty, a node restarted, bad replies) in both fail
# modes; reload with two workers; mj_status; nothing secret in Redis.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use Digest::SHA qw(sha256_hex);
use File::Temp ();
use JSON::PP ();
use POSIX ();
use Time::HiRes ();
use MJTest;
use MJNginx;
use MJRedis;

plan skip_all => MJRedis::missing() if MJRedis::missing();

my $SLOW = $ENV{MJ_NGINX_VALGRIND} ? 6 : 1;
my $TIMEOUT = 1000 * $SLOW;    # redis_timeout, ms
my $JSON = JSON::PP->new->canonical;

my %alice = (Authorization => "Bearer $KEY{alice}");
my %bob = (Authorization => "Bearer $KEY{bob}");
my $base = 1750000000000000 + ($$ % 1000) * 1000;
my $seq = 0;
sub next_id { $base + ++$seq }

sim_config({queue_slots => 10000});

my $rd = MJRedis->new;
my $R = $rd->addr;

# a node: the gateway with the directives given, /status, /plain
sub node_conf {
    my ($directives) = @_;
    return mj_status_conf($directives) . <<'_EOC_';
        location = /plain { return 200 "plain\n"; }
_EOC_
}

sub node {
    my (%opt) = @_;
    my $args = "redis=$R redis_timeout=${TIMEOUT}ms " . ($opt{args} // '');
    return MJNginx->new(conf => node_conf($opt{directives}),
                        zone_args => $args, workers => $opt{workers} // 1,
                        %{ $opt{new} // {} });
}

sub submit {
    my ($ng, $who, $id, $prompt) = @_;
    my %h = (%$who);
    $h{'X-Sim-Task-Id'} = $id if defined $id;
    return $ng->post('/mj/submit/imagine', \%h,
                     '{"prompt":"' . ($prompt // "p$$") . '"}');
}

sub fetch { my ($ng, $who, $id) = @_; $ng->get("/mj/task/$id/fetch", $who) }

sub status_of { $JSON->decode($_[0]->get('/status')->{content})->{zones}[0] }
sub replies { status_of($_[0])->{redis}{replies} }

sub timed {
    my ($code) = @_;
    my $t0 = Time::HiRes::time();
    my $r = $code->();
    return ($r, Time::HiRes::time() - $t0);
}

sub wait_for {
    my ($cond, $timeout) = @_;
    return MJNginx::wait_until($cond, ($timeout // 20) * $SLOW);
}

sub send_raw { my $ng = shift; $ng->send_raw(@_) }
sub read_raw { MJNginx::read_raw(@_) }

# a user's hash tag: the first 8 bytes of SHA-256 of the name, as a number
sub tag {
    my ($name) = @_;
    return sprintf '{%016x}', unpack('Q<', substr(Digest::SHA::sha256($name), 0, 8));
}

# a user's counters gone from Redis: a test's limits start from nothing
sub fresh_user {
    my ($name) = @_;
    $rd->command('DEL', map { "mj:" . tag($name) . ":$_" } qw(q o f));
}

# every key in Redis, and what it holds, as text
sub redis_dump {
    my $keys = $rd->command('KEYS', '*') || [];
    my $text = '';
    for my $k (sort @$keys) {
        my $type = $rd->command('TYPE', $k);
        my $v = $type eq 'string' ? $rd->command('GET', $k)
              : $type eq 'hash' ? $rd->command('HGETALL', $k)
              : $type eq 'zset' ? $rd->command('ZRANGE', $k, 0, -1, 'WITHSCORES')
              : "($type)";
        $text .= "$k => " . (ref $v ? join(' ', @$v) : $v) . "\n";
    }
    return ($keys, $text);
}


# --- ownership across nodes ----------------------------------------------

my $A = node(directives => 'mj_limit_tasks 16; mj_quota 1000;');
my $B = node(directives => 'mj_limit_tasks 16; mj_quota 1000;');

my $t1 = next_id();
my $r = submit($A, \%alice, $t1);
is $r->{status}, 200, 'alice submits on A' or diag $r->{content};
like $r->{content}, qr/"result":"$t1"/, '... and gets her task id';

my ($keys) = redis_dump();
my ($tkey) = grep { /:t:$t1$/ } @$keys;
ok $tkey, "the task is in Redis as soon as the client has its id ($tkey)";
like $tkey, qr/^mj:\{[0-9a-f]{16}\}:t:$t1$/, '... under the user\'s hash tag';

$r = fetch($B, \%alice, $t1);
is $r->{status}, 200, 'alice fetches it on B, which never saw it';
like $r->{content}, qr/"id":"$t1"/, '... the task';
like $tkey, qr/^mj:\Q${\ tag('alice')}\E:/, '... the tag is alice\'s identity';

# a task whose status stays: polls that tell Redis nothing new
my $ts = next_id();
is submit($A, \%alice, $ts, 'stuck')->{status}, 200, 'a task that stays SUBMITTED';
ok sim_wait_status($ts, 'SUBMITTED', 10 * $SLOW), '... once it is';
is fetch($B, \%alice, $ts)->{status}, 200, 'B fetches it: asked for in Redis';
# what this node's requests asked of Redis (not worker 0's own looks)
sub asked {
    my $st = status_of($_[0])->{redis}{store};
    return join ' ', map { $st->{$_} } qw(lookups statuses limits commits);
}
my $before = asked($B);
fetch($B, \%alice, $ts) for 1 .. 5;
is asked($B), $before, 'the next polls on B cost no Redis round trip';

my $missing = next_id();
my $seen = sim_seen($t1);
my %answer;
for my $n (['A', $A], ['B', $B]) {
    for my $case (['bob, alice\'s task', $t1], ['a task nobody has', $missing]) {
        my $x = fetch($n->[1], \%bob, $case->[1]);
        $answer{"$n->[0]: $case->[0]"} = join "\n", $x->{status},
            $x->{headers}{'content-type'} // '',
            $x->{headers}{'content-length'} // '', $x->{content} =~ s/\d{13,}/ID/gr;
    }
}
my @answers = values %answer;
is scalar(grep { $_ eq $answers[0] } @answers), 4,
   'bob and alice\'s task, on A and on B: byte for byte a missing task'
    or diag explain \%answer;
like $answers[0], qr/^404\n/, '... a 404';
is sim_seen($t1), $seen, '... and the upstream never heard of it';

# a task made on B, a task made on A, bob's: a list on A keeps alice's
my $t2 = next_id();
is submit($B, \%alice, $t2)->{status}, 200, 'alice submits on B';
my $tb = next_id();
is submit($B, \%bob, $tb)->{status}, 200, 'bob submits on B';
my $lookups = status_of($A)->{redis}{store}{lookups};
$r = $A->post('/mj/task/list-by-condition', \%alice,
              qq({"ids":["$t2","$t1","$tb"]}));
is $r->{status}, 200, 'list-by-condition on A';
my @ids = map { $_->{id} } @{ $JSON->decode($r->{content}) };
is_deeply [sort @ids], [sort ($t1, $t2)], '... alice\'s tasks from both nodes, not bob\'s';
is status_of($A)->{redis}{store}{lookups}, $lookups + 1,
   '... the ids only B knew, asked for in one round trip';

# statuses reach Redis from any node
ok sim_wait_status($t2, 'SUCCESS', 10 * $SLOW), 'the task finishes upstream';
fetch($A, \%alice, $t2);
ok wait_for(sub { ($rd->command('GET', $tkey =~ s/$t1$/$t2/r) // '') =~ /,5,\d+$/ }),
   'a fetch on A tells Redis the status it saw (SUCCESS)';

# a follow-up goes with its parent's upstream key, on any node
my $dir2 = File::Temp::tempdir('mj-test-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $dir2;
MJTest::_write("$dir2/keys", mj_keys_text(), 0600);
MJTest::_write("$dir2/users", mj_users_text() =~ s/^(alice \S+) main/$1 header/mr, 0644);
my $C;
{
    local $ENV{TEST_NGINX_MJ_DIR} = $dir2;
    $C = node(directives => 'mj_limit_tasks 16; mj_quota 1000;');
}
ok sim_wait_status($t1, 'SUCCESS', 10 * $SLOW), 'alice\'s first task finished';
my $up = submit($C, \%alice, undef, 'on C');
is $up->{status}, 200, 'on C, alice\'s new tasks go with the key "header"';
my %last = map { lc $_->[0] => $_->[1] } @{ sim_last()->{headers} };
ok !$last{authorization} && $last{'mj-api-secret'},
   '... (the upstream saw mj-api-secret)' or diag explain \%last;
$r = $C->post('/mj/submit/action', \%alice,
              qq({"taskId":"$t1","customId":"MJ::JOB::upsample::1::h"}));
is $r->{status}, 200, 'a follow-up of a task made on A, sent to C' or diag $r->{content};
%last = map { lc $_->[0] => $_->[1] } @{ sim_last()->{headers} };
like $last{authorization} // '', qr/^Bearer /,
   '... goes with the key of its parent ("main")';
$C->stop;


# --- the quota and the cap, cluster-wide, under racing submits -----------

# n submits at once, half on each node: their statuses
sub race {
    my ($nodes, $n, $prompt, $who) = @_;
    my @socks = map {
        send_raw($nodes->[$_ % @$nodes], 'POST', '/mj/submit/imagine',
                 {%{ $who // \%alice }, 'Content-Type' => 'application/json'},
                 qq({"prompt":"$prompt"}))
    } 0 .. $n - 1;
    return map { (read_raw($_, 20 * $SLOW))[0] } @socks;
}

fresh_user('alice');
my $QA = node(directives => 'mj_quota 3;');
my $QB = node(directives => 'mj_quota 3;');
my @st = race([$QA, $QB], 12, 'quota race');
is scalar(grep { $_ == 200 } @st), 3, 'quota 3 on two nodes: 3 of 12 racing submits pass'
    or diag "@st";
is scalar(grep { $_ == 429 } @st), 9, '... the others are refused (429)';
is sim_seen('quota race'), 3, '... and only 3 reached the upstream';
$r = submit($QB, \%alice);
is $r->{status}, 429, 'the 13th too';
is $r->{headers}{'ratelimit'}, '"quota";r=0;t=' . ($r->{headers}{'retry-after'}),
   '... with the quota\'s RateLimit header';
$QA->stop;
$QB->stop;

# a modal step made on one node and confirmed on the other: nothing is
# charged until it is confirmed, then its action's cost, once
fresh_user('bob');
my $dirs = 'mj_quota 20; mj_quota_cost ZOOM=5; mj_limit_tasks 16;';
my $MA = node(directives => $dirs);
my $MB = node(directives => $dirs);
sub used_today { $rd->command('HGET', 'mj:' . tag($_[0]) . ':q', 'u') }
sub done_task {
    my ($ng, $who, $id) = @_;
    my $task;
    wait_for(sub {
        $task = eval { $JSON->decode(fetch($ng, $who, $id)->{content}) } || {};
        ($task->{status} // '') eq 'SUCCESS';
    }) or diag "task $id did not finish";
    return $task;
}
sub button {
    my ($task, $re) = @_;
    my ($b) = grep { $_->{customId} =~ $re } @{ $task->{buttons} || [] };
    return $b->{customId};
}
my $grid = $JSON->decode(submit($MA, \%bob, undef, 'a harbour')->{content})->{result};
my $upscale = $JSON->decode($MB->post('/mj/submit/action', \%bob, $JSON->encode(
    {taskId => $grid, customId => button(done_task($MB, \%bob, $grid), qr/upsample::1::/)}))
    ->{content})->{result};
ok $upscale, 'bob upscales on B a grid made on A';
is used_today('bob'), 2, '... 1 unit each, counted in Redis';
$r = $JSON->decode($MA->post('/mj/submit/action', \%bob, $JSON->encode(
    {taskId => $upscale, customId => button(done_task($MA, \%bob, $upscale), qr/CustomZoom/)}))
    ->{content});
is $r->{code}, 21, 'a zoom on A waits for its modal step';
is used_today('bob'), 2, '... and costs nothing yet';
my $mkey = 'mj:' . tag('bob') . ":t:$r->{result}";
like $rd->command('GET', $mkey), qr/^[0-9a-f]{8},\d+,3,\d+$/, '... its record says MODAL';
my $c = $JSON->decode($MB->post('/mj/submit/modal', \%bob,
                      $JSON->encode({taskId => $r->{result}, prompt => 'wider'}))->{content});
is $c->{code}, 1, 'B confirms the modal step made on A';
is $c->{result}, $r->{result}, '... the same task';
is used_today('bob'), 7, '... charged the zoom\'s 5 units, once';
unlike $rd->command('GET', $mkey), qr/,3,\d+$/, '... its record no longer says MODAL';
is done_task($MA, \%bob, $r->{result})->{status}, 'SUCCESS', 'the zoom finishes, seen on A';
$MA->stop;
$MB->stop;

fresh_user($_) for qw(alice bob);
my $KA = node(directives => 'mj_limit_tasks 2;');
my $KB = node(directives => 'mj_limit_tasks 2;');
@st = race([$KA, $KB], 8, 'stuck cap race');
is scalar(grep { $_ == 200 } @st), 2, 'a cap of 2 on two nodes: 2 of 8 racing submits pass'
    or diag "@st";
$r = submit($KA, \%alice, undef, 'stuck again');
is $r->{status}, 429, 'a third is refused while both are unfinished';
like $r->{content}, qr/too many unfinished tasks/, '... for the cap';

# a task finished, seen on the other node: the cap has room again
my $k1 = next_id();
is submit($KA, \%bob, $k1, 'bob finishes')->{status}, 200, 'bob: one task on A';
is submit($KB, \%bob, undef, 'stuck bob')->{status}, 200, 'bob: one on B';
is submit($KB, \%bob, undef, 'stuck bob')->{status}, 429, 'bob: a third is refused';
ok sim_wait_status($k1, 'SUCCESS', 10 * $SLOW), 'bob\'s task on A finishes';
is fetch($KB, \%bob, $k1)->{status}, 200, 'B sees it finished';
# B sends the status without waiting for Redis (a poll never waits for
# it): the submit on A follows once Redis has it
ok wait_for(sub { ($rd->command('GET', 'mj:' . tag('bob') . ":t:$k1") // '')
                  =~ /^[0-9a-f]{8},\d+,[5-9],\d+$/ }),
   '... and Redis has it finished';
is submit($KA, \%bob, undef, 'stuck bob')->{status}, 200,
   'A lets bob submit again: the cap saw the task finish on B';
$KA->stop;
$KB->stop;


# --- Redis down, fail=closed ----------------------------------------------

my $tlocal = next_id();
is submit($A, \%alice, $tlocal)->{status}, 200, 'a task of A';
my $tother = next_id();
is submit($B, \%alice, $tother)->{status}, 200, 'a task of B';

$rd->crash;
($r, my $secs) = timed(sub { submit($A, \%alice, undef, 'while down') });
is $r->{status}, 503, 'Redis down, fail=closed: a submit gets 503';
is_deeply $JSON->decode($r->{content}),
          {code => 9, description => 'the gateway cannot record tasks now; try again later'},
          '... in the contract\'s shape';
cmp_ok $secs, '<', $TIMEOUT / 1000 + 5 * $SLOW, '... within redis_timeout';
is sim_seen('while down'), 0, '... and the upstream never heard of it';
is fetch($A, \%alice, $tlocal)->{status}, 200, 'a task A has still answers';
$r = fetch($A, \%alice, $tother);
is $r->{status}, 404, 'a task only B knew: the usual 404';
is $r->{content}, $answer{'A: a task nobody has'} =~ s/^.*\n.*\n.*\n//r,
   '... byte for byte';
ok wait_for(sub { $A->error_log =~ /\[warn\].*redis \Q$R\E cannot be reached: submits are refused.*fail=closed/ }),
   'the outage is logged';
cmp_ok status_of($A)->{redis}{store}{fail_answers}{closed}, '>=', 2,
   'mj_status counts the fail mode\'s answers';


# --- Redis comes back (empty): no reload, the nodes publish their tasks --

$rd->start;
ok wait_for(sub { submit($A, \%alice, undef, 'back')->{status} == 200 }),
   'Redis back: submits work again, no reload';
ok wait_for(sub { $A->error_log =~ /redis answers again/ }), '"answers again" is logged';
ok wait_for(sub { fetch($B, \%alice, $tlocal)->{status} == 200 }),
   'Redis restarted empty: B finds A\'s task (A published it again)';
ok wait_for(sub { fetch($A, \%alice, $tother)->{status} == 200 }),
   '... and A finds B\'s';
like $A->error_log, qr/redis does not have this node's tasks: publishing them/,
     'A noticed Redis had lost its mark';


# --- Redis hangs -----------------------------------------------------------

my $thung = next_id();
is submit($B, \%alice, $thung)->{status}, 200, 'a task of B';
$rd->hang;
my $pend = send_raw($A, 'POST', '/mj/submit/imagine',
                    {%alice, 'Content-Type' => 'application/json'},
                    '{"prompt":"while hung"}');
my $pend2 = send_raw($A, 'GET', "/mj/task/$thung/fetch", \%alice);
($r, $secs) = timed(sub { $A->get('/plain') });
is $r->{status}, 200, 'Redis hung: a location without the gateway answers';
cmp_ok $secs, '<', 0.5 * $SLOW, '... at once';
($r, $secs) = timed(sub { fetch($A, \%alice, $tlocal) });
is $r->{status}, 200, '... and so does a poll of a task A has';
cmp_ok $secs, '<', $TIMEOUT / 1000, '... without waiting for Redis';
my ($pst) = read_raw($pend, $TIMEOUT / 1000 + 10 * $SLOW);
is $pst, 503, 'the submit gets its 503 after redis_timeout';
($pst) = read_raw($pend2, $TIMEOUT / 1000 + 10 * $SLOW);
is $pst, 404, 'a poll of a task A never saw: 404 after redis_timeout';
is sim_seen('while hung'), 0, 'the upstream never heard of the submit';
$rd->resume;
ok wait_for(sub { fetch($A, \%alice, $thung)->{status} == 200 }),
   'Redis resumes: A finds B\'s task, no reload';
cmp_ok status_of($A)->{redis}{timeouts}, '>=', 1, 'mj_status counts the time-outs';


# --- fail=open --------------------------------------------------------------

my $OA = node(args => 'fail=open', directives => 'mj_quota 1000;');
my $OB = node(args => 'fail=open', directives => 'mj_quota 1000;');
$rd->crash;
my $topen = next_id();
$r = submit($OA, \%alice, $topen);
is $r->{status}, 200, 'fail=open, Redis down: the submit is admitted on the node';
is submit($OA, \%alice)->{status}, 200, '... and the next';
is fetch($OA, \%alice, $topen)->{status}, 200, '... its task answers on that node';
my @lines = $OA->error_log =~ /(redis \S+ cannot be reached: this node admits)/g;
is scalar(@lines), 1, '... the fallback is logged once for the outage';
like $OA->error_log, qr/task "$topen" is kept by this node only until redis can take it/,
     '... and the task not in Redis said';
$rd->start;
ok wait_for(sub { fetch($OB, \%alice, $topen)->{status} == 200 }),
   'Redis back: the other node finds the task made meanwhile';
$OA->stop;
$OB->stop;


# --- a node restarts ---------------------------------------------------------

my $tr = next_id();
is submit($A, \%alice, $tr)->{status}, 200, 'a task of A';
my $tr2 = next_id();
is submit($B, \%alice, $tr2)->{status}, 200, 'a task of B';
$A->stop;
$rd->command('FLUSHALL');
$A->start;
is fetch($A, \%alice, $tr)->{status}, 200, 'A restarted: its task is back from its state file';
ok wait_for(sub { fetch($B, \%alice, $tr)->{status} == 200 }),
   '... and published again for B (Redis had lost it)';
ok wait_for(sub { fetch($A, \%alice, $tr2)->{status} == 200 }),
   'B\'s task reaches the restarted A through Redis';


# --- bad replies --------------------------------------------------------------

my $tag = tag('alice');
$rd->command('DEL', "mj:$tag:q");
$rd->command('SADD', "mj:$tag:q", 'x');
$r = submit($A, \%alice, undef, 'wrongtype');
is $r->{status}, 503, 'a WRONGTYPE error from the limits script: the fail mode\'s 503';
ok wait_for(sub { $A->error_log =~ /\[error\].*redis answered limits\.lua with an error: .*WRONGTYPE/ }),
   '... and a clear log line';
$rd->command('DEL', "mj:$tag:q");
is submit($A, \%alice)->{status}, 200, 'fixed: submits pass';

my $tg = next_id();
$rd->command('SET', "mj:$tag:t:$tg", 'not a task');
is fetch($B, \%alice, $tg)->{status}, 404, 'a task key holding something else: not found';
ok wait_for(sub { $B->error_log =~ /redis holds something else than a task under task "$tg"/ }),
   '... said in the log';

is $rd->command('SCRIPT', 'FLUSH'), 'OK', 'SCRIPT FLUSH';
is submit($A, \%alice)->{status}, 200, 'NOSCRIPT: the script is loaded again';
cmp_ok status_of($A)->{redis}{noscript}, '>=', 1, '... counted';


# --- a client that goes away while its task is recorded ------------------

my $P = node();    # no limits: a submit's only round trip is its commit
$rd->hang;
my $tc = next_id();
$pend = send_raw($P, 'POST', '/mj/submit/imagine',
                 {%alice, 'Content-Type' => 'application/json', 'X-Sim-Task-Id' => $tc},
                 '{"prompt":"gone"}');
ok wait_for(sub { sim_seen('gone') == 1 }), 'a submit reaches the upstream, Redis hung';
close $pend;
ok wait_for(sub { $P->error_log =~ /client prematurely closed connection|client closed/ }),
   '... its client goes away while the commit waits';
$rd->resume;
ok wait_for(sub { fetch($B, \%alice, $tc)->{status} == 200 }),
   'the task is recorded all the same: B finds it';

$rd->hang;
my $tc2 = next_id();
($r, $secs) = timed(sub { submit($P, \%alice, $tc2) });
is $r->{status}, 200, 'a commit that times out: the answer goes out after redis_timeout';
like $r->{content}, qr/"result":"$tc2"/, '... with the task';
cmp_ok $secs, '<', $TIMEOUT / 1000 + 5 * $SLOW, '... in time';
$rd->resume;
ok wait_for(sub { fetch($B, \%alice, $tc2)->{status} == 200 }),
   '... and the node publishes it when Redis is back';
$P->stop;


# --- reload with two workers, cluster-wide poll limits -----------------------

my $W = node(workers => 2, args => 'redis_poll_limit=cluster',
             directives => 'mj_limit_poll rate=2r/s burst=3;');
my $tw = next_id();
is submit($W, \%alice, $tw)->{status}, 200, 'two workers: a submit';
my ($rc, $out) = $W->reload;
is $rc, 0, 'reload' or diag $out;
my @ps = map { fetch($_ % 2 ? $W : $B, \%alice, $tw)->{status} } 1 .. 10;
ok scalar(grep { $_ == 429 } @ps), 'redis_poll_limit=cluster: polls on this node are limited'
    or diag "@ps";
my $rt = replies($W);
fetch($W, \%alice, $tw);
cmp_ok replies($W), '>', $rt, '... at a round trip each';
ok wait_for(sub { fetch($B, \%alice, $tw)->{status} == 200 }), 'B finds the task';


# --- mj_status, Prometheus ------------------------------------------------

my $s = status_of($A);
is $s->{redis}{connected}, 1, 'mj_status: Redis connected';
my $hist = 0;
$hist += $_ for @{ $s->{redis}{latency_us}{count} };
is $hist, $s->{redis}{replies}, '... every round trip in the latency histogram';
my $prom = $A->get('/status?format=prometheus')->{content};
like $prom, qr/^mj_redis_connected\{zone="mj"\} 1$/m, 'Prometheus: connected';
like $prom, qr/^mj_redis_round_trip_seconds_bucket\{zone="mj",le="\+Inf"\} \d+$/m,
     '... the latency histogram';
like $prom, qr/^mj_redis_fail_answers_total\{zone="mj",mode="closed"\} [1-9]/m,
     '... the fail mode\'s answers';


# --- nothing secret in Redis --------------------------------------------------

(my $all, my $text) = redis_dump();
my @secrets = (values %KEY, map({ sha256_hex($_) } values %KEY),
               $ENV{TEST_NGINX_MJ_UPSTREAM_KEY}, 'sk-refused-by-upstream-42');
is scalar(grep { index($text, $_) >= 0 } @secrets), 0,
   'no key of a user, no hash of one, no upstream key in Redis';
is scalar(grep { !/^mj:\{[0-9a-f]{16}\}:(t:\d+|q|o|f|node)$/ } @$all), 0,
   'every key carries a hash tag' or diag $text;

for my $ng ($A, $B, $W) {
    unlike $ng->error_log, qr/\[alert\]|\[emerg\]|exited on signal/, 'no crash, no alert';
}

done_testing;
