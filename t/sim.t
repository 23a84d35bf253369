#!/usr/bin/perl
# Tests for the simulated upstream sim/mjsim.py (no nginx needed).
#   prove -v t/sim.t
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use MJSim;

use Test::More;
use JSON::PP ();
use IO::Socket::INET;
use IO::Select;
use Digest::SHA qw(sha256_hex);
use Compress::Zlib ();
use IO::Uncompress::Gunzip qw(gunzip $GunzipError);
use POSIX ();
use Time::HiRes qw(time sleep);
use HTTP::Tiny;

my $J   = JSON::PP->new->utf8->canonical->allow_nonref;
my $KEY = sim_key();
my $PORT = sim_port();
ok($PORT, "sim started on port $PORT");
is($ENV{TEST_NGINX_SIM_PORT}, $PORT, 'TEST_NGINX_SIM_PORT set');
is($KEY, $ENV{TEST_NGINX_MJ_UPSTREAM_KEY}, 'TEST_NGINX_MJ_UPSTREAM_KEY set');

my $IMG = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

# --------------------------------------------------------------------------
# raw HTTP helpers (for things HTTP::Tiny hides)

sub connect_sim {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $PORT, Proto => 'tcp', Timeout => 5)
        or die "connect: $!";
    $s->autoflush(1);
    return $s;
}

# read exactly what a deadline allows; returns bytes read until EOF (or timeout)
sub read_all {
    my ($s, $timeout) = @_;
    my $sel = IO::Select->new($s);
    my $buf = '';
    my $deadline = time + ($timeout // 5);
    while (time < $deadline) {
        last unless $sel->can_read($deadline - time);
        my $n = sysread($s, $buf, 65536, length $buf);
        last unless $n;
    }
    return $buf;
}

# read one response from a keep-alive connection
sub read_response {
    my ($s) = @_;
    my $sel = IO::Select->new($s);
    my $buf = '';
    my $deadline = time + 5;
    my $fill = sub {
        die "timeout" unless $sel->can_read($deadline - time);
        my $n = sysread($s, $buf, 65536, length $buf);
        die "eof" unless $n;
    };
    $fill->() until $buf =~ /\r\n\r\n/;
    my ($head, $rest) = split /\r\n\r\n/, $buf, 2;
    $buf = $rest;
    my ($status) = $head =~ m{^HTTP/1\.1 (\d+)};
    my %h;
    for (split /\r\n/, $head) { $h{lc $1} = $2 if /^([^:]+):\s*(.*)$/ }
    my $body = '';
    if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        my $chunks = 0;
        while (1) {
            $fill->() until $buf =~ /\r\n/;
            $buf =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n// or die "bad chunk: $buf";
            my $n = hex $1;
            if ($n == 0) { $fill->() until $buf =~ /^\r\n/; $buf =~ s/^\r\n//; last }
            $fill->() while length($buf) < $n + 2;
            $body .= substr($buf, 0, $n);
            $buf = substr($buf, $n + 2);
            $chunks++;
        }
        $h{'x-chunks'} = $chunks;
    } else {
        my $len = $h{'content-length'} // 0;
        $fill->() while length($buf) < $len;
        $body = substr($buf, 0, $len);
    }
    return ($status, \%h, $body);
}

sub api_req {
    my ($path, $body, %opt) = @_;
    my $method = $opt{method} // (defined $body ? 'POST' : 'GET');
    my $len = defined $body ? length $body : 0;
    my $req = "$method $path HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer $KEY\r\n";
    $req .= "$_\r\n" for @{ $opt{headers} || [] };
    $req .= "Content-Type: application/json\r\nContent-Length: $len\r\n" if defined $body;
    return $req . "\r\n" . ($body // '');
}

sub submit {
    my ($what, $body, $headers) = @_;
    return sim_post("/mj/submit/$what", $body, $headers);
}

sub fetch_api {
    my ($id) = @_;
    my ($t, $res) = sim_get("/mj/task/$id/fetch");
    return wantarray ? ($t, $res) : $t;
}

# poll the real fetch endpoint until the status is final; returns (task, [statuses seen])
sub poll_fetch {
    my ($id, $timeout) = @_;
    my $deadline = time + ($timeout // 10);
    my @seen;
    while (time < $deadline) {
        my $t = fetch_api($id);
        push @seen, $t->{status} unless @seen && $seen[-1] eq $t->{status};
        return ($t, \@seen) if $t->{status} =~ /^(SUCCESS|FAILURE|CANCEL)$/;
        sleep 0.005;
    }
    return (undef, \@seen);
}

sub done_task {
    my ($prompt) = @_;
    my $r = submit('imagine', { prompt => $prompt // 'a quiet lake' });
    is($r->{code}, 1, "imagine '$prompt' accepted") or diag explain $r;
    my $t = sim_wait_status($r->{result}, 'SUCCESS', 5);
    ok($t, "task $r->{result} reached SUCCESS");
    return $t;
}

sub button {
    my ($t, $re) = @_;
    my ($b) = grep { $_->{customId} =~ $re } @{ $t->{buttons} };
    return $b && $b->{customId};
}

# --------------------------------------------------------------------------
subtest 'control endpoints' => sub {
    is(sim_request('GET', '/_sim/health')->{content}, '{"ok":true}', 'health');
    is_deeply(sim_reset(), { ok => JSON::PP::true }, 'reset');
    is_deeply(sim_requests(), [], 'no requests recorded after reset (control calls are not recorded)');
    is(sim_last(), undef, 'last is null when nothing recorded');
    my $res = sim_request('GET', '/_sim/nope');
    is($res->{status}, 404, 'unknown control endpoint 404');
    is(sim_get('/_sim/seen')->{error}, 'missing s', 'seen without s');
};

subtest 'auth' => sub {
    sim_reset();
    my $res = sim_request('GET', '/mj/task/1/fetch', undef, { Authorization => 'Bearer sk-wrong-key-777' });
    is($res->{status}, 401, 'wrong bearer key -> 401');
    like($res->{content}, qr/sk-wrong-key-777/, '401 body quotes the key it was given');
    is($J->decode($res->{content})->{code}, 401, '401 body is JSON');
    $res = sim_request('GET', '/mj/task/1/fetch', undef, { 'mj-api-secret' => 'sk-other-888' });
    is($res->{status}, 401, 'wrong mj-api-secret -> 401');
    like($res->{content}, qr/sk-other-888/, 'quotes mj-api-secret');
    $res = sim_request('GET', '/mj/task/1/fetch', undef, { 'X-Nothing' => 1, Authorization => undef });
    is($res->{status}, 401, 'missing key -> 401');
    $res = sim_request('GET', '/mj/task/1/fetch', undef, { 'mj-api-secret' => $KEY });
    is($res->{status}, 404, 'mj-api-secret accepted under --auth either (unknown task -> 404)');
    $res = sim_request('GET', '/mj/task/1/fetch', undef,
                       { Authorization => 'midjourney-proxy', 'mj-api-secret' => $KEY });
    is($res->{status}, 404, 'literal "midjourney-proxy" Authorization + secret accepted');
    $res = sim_request('GET', '/mj/task/1/fetch');
    is($res->{status}, 404, 'bearer accepted');

    sim_config({ auth => 'bearer' });
    $res = sim_request('GET', '/mj/task/1/fetch', undef, { 'mj-api-secret' => $KEY });
    is($res->{status}, 401, 'auth=bearer refuses mj-api-secret');
    sim_config({ auth => 'mj-api-secret' });
    is(sim_request('GET', '/mj/task/1/fetch')->{status}, 401, 'auth=mj-api-secret refuses bearer');
    is(sim_request('GET', '/mj/task/1/fetch', undef, { 'mj-api-secret' => $KEY })->{status}, 404,
       'auth=mj-api-secret accepts the secret header');
    sim_reset();
    is(sim_config()->{auth}, 'either', 'reset restores the command-line config');
    is(sim_request('GET', '/images/999.png', undef, { Authorization => 'Bearer nope' })->{status}, 404,
       'images need no key (unknown image -> 404, not 401)');
};

subtest 'imagine lifecycle' => sub {
    sim_reset();
    # 3 s total: NOT_START and SUBMITTED last 0.25 s each, so that the
    # poller sees each of them even when a busy machine answers it late
    sim_config({ time_scale => 0.5 });
    my $r = submit('imagine', { prompt => 'a red fox', state => 'st-1', botType => 'MID_JOURNEY',
                                notifyHook => 'http://hook.invalid/cb' });
    is($r->{code}, 1, 'code 1');
    is($r->{description}, 'Submitted', 'description');
    like($r->{result}, qr/^\d{16}$/, 'task id = ms timestamp + 3 digits');
    ok($r->{properties}{discordInstanceId}, 'discordInstanceId');
    my $id = $r->{result};
    my $t0 = fetch_api($id);
    is($t0->{status}, 'NOT_START', 'starts NOT_START');
    is($t0->{progress}, '0%', 'progress 0%');
    is_deeply($t0->{buttons}, [], 'no buttons yet');

    my @seen = ($t0->{status});
    my ($inprog, $t);
    my $deadline = time + 10;
    while (time < $deadline) {
        $t = fetch_api($id);
        push @seen, $t->{status} unless @seen && $seen[-1] eq $t->{status};
        $inprog = $t if $t->{status} eq 'IN_PROGRESS' && !$inprog;
        last if $t->{status} eq 'SUCCESS';
        sleep 0.01;
    }
    is_deeply(\@seen, [qw(NOT_START SUBMITTED IN_PROGRESS SUCCESS)], 'status sequence') or diag "@seen";
    like($inprog->{imageUrl}, qr{/images/${id}_preview\.png$}, 'preview imageUrl while running');
    like($inprog->{progress}, qr/^\d+%$/, 'progress while running');
    ok($inprog->{startTime}, 'startTime set when running');
    is($inprog->{finishTime}, undef, 'no finishTime while running');

    for my $f (qw(id action status prompt promptEn description state submitTime startTime finishTime
                  progress imageUrl failReason properties buttons)) {
        ok(exists $t->{$f}, "task has $f");
    }
    for my $f (qw(finalPrompt finalZhPrompt messageId messageHash flags nonce discordInstanceId notifyHook)) {
        ok(exists $t->{properties}{$f}, "properties has $f");
    }
    is($t->{action}, 'IMAGINE', 'action');
    is($t->{state}, 'st-1', 'state echoed');
    is($t->{progress}, '100%', 'progress 100%');
    is($t->{properties}{notifyHook}, 'http://hook.invalid/cb', 'notifyHook kept in properties');
    ok($t->{submitTime} <= $t->{startTime} && $t->{startTime} <= $t->{finishTime}, 'times ordered');
    is("http://127.0.0.1:$PORT/images/$id.png", $t->{imageUrl}, 'imageUrl is the grid');
    my @labels = map { $_->{label} } @{ $t->{buttons} };
    is_deeply([grep { /^[UV]\d$/ } @labels], [qw(U1 U2 U3 U4 V1 V2 V3 V4)], 'U1-U4 V1-V4 buttons');
    ok(button($t, qr/^MJ::JOB::reroll::0::[0-9a-f-]+::SOLO$/), 'reroll button');
    is(button($t, qr/upsample::1::/), "MJ::JOB::upsample::1::$t->{properties}{messageHash}", 'U1 customId shape');
    ok(!(grep { $_->{type} != 2 || $_->{style} != 2 } @{ $t->{buttons} }), 'buttons type 2 style 2');
    sim_reset();
};

subtest 'actions and modal' => sub {
    sim_reset();
    my $grid = done_task('a castle');
    my $u1 = button($grid, qr/upsample::1::/);
    my $r = sim_post('/mj/submit/action', { taskId => $grid->{id}, customId => $u1, state => 'a1' });
    is($r->{code}, 1, 'U1 accepted') or diag explain $r;
    my ($up) = poll_fetch($r->{result});
    is($up->{status}, 'SUCCESS', 'upscale finished');
    is($up->{action}, 'UPSCALE', 'action UPSCALE');
    is($up->{state}, 'a1', 'state');
    my $h = $up->{properties}{messageHash};
    for my $re (qr/^MJ::JOB::low_variation::1::\Q$h\E::SOLO$/, qr/^MJ::JOB::high_variation::1::\Q$h\E::SOLO$/,
                qr/^MJ::Outpaint::50::1::\Q$h\E::SOLO$/, qr/^MJ::CustomZoom::\Q$h\E$/,
                qr/^MJ::JOB::pan_left::1::\Q$h\E::SOLO$/, qr/^MJ::Inpaint::1::\Q$h\E::SOLO$/) {
        ok(button($up, $re), "upscale has button $re");
    }

    $r = sim_post('/mj/submit/action', { taskId => $grid->{id}, customId => 'MJ::JOB::upsample::1::bogus' });
    is($r->{code}, 4, 'unknown customId -> 4');
    $r = sim_post('/mj/submit/action', { taskId => $grid->{id} });
    is($r->{code}, 4, 'missing customId -> 4');
    my ($nf, $res) = sim_post('/mj/submit/action', { taskId => '1700000000000999', customId => $u1 });
    is($nf->{code}, 3, 'unknown parent -> 3');
    is($res->{status}, 404, 'code 3 answered with HTTP 404 by default');
    my $stuck = submit('imagine', { prompt => 'a truck stuck in mud' });
    ok(sim_wait_status($stuck->{result}, 'SUBMITTED', 5), 'stuck task stays SUBMITTED');
    $r = sim_post('/mj/submit/action', { taskId => $stuck->{result}, customId => $u1 });
    is($r->{code}, 4, 'parent not finished -> 4');
    like($r->{description}, qr/not finished/, 'description says why');
    sim_post("/mj/task/$stuck->{result}/cancel");

    # CustomZoom -> 21 -> MODAL -> /submit/modal -> same id runs
    my $cz = button($up, qr/^MJ::CustomZoom::/);
    $r = sim_post('/mj/submit/action', { taskId => $up->{id}, customId => $cz });
    is($r->{code}, 21, 'CustomZoom -> code 21') or diag explain $r;
    ok(exists $r->{properties}{finalPrompt}, 'code 21 has properties.finalPrompt');
    ok(exists $r->{properties}{remix}, 'code 21 has properties.remix');
    my $mid = $r->{result};
    my $m = fetch_api($mid);
    is($m->{status}, 'MODAL', 'new task is MODAL');
    is($m->{action}, 'ZOOM', 'action ZOOM');
    sleep 0.1;
    is(fetch_api($mid)->{status}, 'MODAL', 'MODAL does not advance by itself');
    $r = sim_post('/mj/submit/modal', { taskId => $mid, prompt => 'a castle, wide --zoom 1.8' });
    is($r->{code}, 1, 'modal submit code 1');
    is($r->{result}, $mid, 'modal submit keeps the SAME task id');
    my ($z) = poll_fetch($mid);
    is($z->{status}, 'SUCCESS', 'zoom task finished');
    is($z->{prompt}, 'a castle, wide --zoom 1.8', 'modal prompt used');
    $r = sim_post('/mj/submit/modal', { taskId => $mid, prompt => 'again' });
    is($r->{code}, 4, 'modal on a non-MODAL task -> 4');
    ($r, $res) = sim_post('/mj/submit/modal', { taskId => '1700000000000998' });
    is($r->{code}, 3, 'modal on unknown task -> 3');

    # Inpaint with mask
    my $ip = button($up, qr/^MJ::Inpaint::/);
    $r = sim_post('/mj/submit/action', { taskId => $up->{id}, customId => $ip });
    is($r->{code}, 21, 'Inpaint -> 21');
    $r = sim_post('/mj/submit/modal', { taskId => $r->{result}, prompt => 'a door', maskBase64 => $IMG });
    is($r->{code}, 1, 'Inpaint modal with mask -> 1');

    # remix
    my $v1 = button($grid, qr/variation::1::/);
    $r = sim_post('/mj/submit/action', { taskId => $grid->{id}, customId => $v1, enableRemix => JSON::PP::true });
    is($r->{code}, 21, 'enableRemix -> 21');
    is($r->{properties}{remix}, JSON::PP::true, 'remix true');
    $r = sim_post('/mj/submit/modal', { taskId => $r->{result}, prompt => 'bannedword castle' });
    is($r->{code}, 24, 'banned prompt in modal -> 24');

    # change / simple-change
    $r = sim_post('/mj/submit/change', { taskId => $grid->{id}, action => 'UPSCALE', index => 2 });
    is($r->{code}, 1, 'change UPSCALE 2');
    is(sim_wait_status($r->{result}, 'SUCCESS', 5)->{action}, 'UPSCALE', 'change made an upscale');
    $r = sim_post('/mj/submit/change', { taskId => $grid->{id}, action => 'REROLL' });
    is($r->{code}, 1, 'change REROLL');
    $r = sim_post('/mj/submit/change', { taskId => $grid->{id}, action => 'UPSCALE', index => 5 });
    is($r->{code}, 4, 'change index 5 -> 4');
    $r = sim_post('/mj/submit/simple-change', { content => "$grid->{id} V3" });
    is($r->{code}, 1, 'simple-change V3');
    is(sim_wait_status($r->{result}, 'SUCCESS', 5)->{action}, 'VARIATION', 'simple-change made a variation');
    $r = sim_post('/mj/submit/simple-change', { content => "$grid->{id} X9" });
    is($r->{code}, 4, 'bad simple-change -> 4');
};

subtest 'queueing (22/23)' => sub {
    sim_reset();
    sim_config({ queue_slots => 1, time_scale => 1 });
    my $a = submit('imagine', { prompt => 'one' });
    my $b = submit('imagine', { prompt => 'two' });
    my $c = submit('imagine', { prompt => 'three' });
    is($a->{code}, 1, 'first runs');
    is($b->{code}, 22, 'second queued: code 22');
    is($b->{properties}{numberOfQueues}, 1, 'numberOfQueues');
    like($b->{result}, qr/^\d+$/, 'queued task has an id');
    is($c->{code}, 23, 'third: queue full, code 23');
    is($c->{result}, undef, 'no id for code 23');
    is(fetch_api($b->{result})->{status}, 'NOT_START', 'queued task waits in NOT_START');
    my $q = sim_get('/mj/task/queue');
    is_deeply([sort map { $_->{id} } @$q], [sort $a->{result}, $b->{result}], '/mj/task/queue lists unfinished tasks');

    # cancel
    my $r = sim_post("/mj/task/$a->{result}/cancel");
    is($r->{code}, 1, 'cancel running task');
    is(fetch_api($a->{result})->{status}, 'CANCEL', 'status CANCEL');
    is(sim_post("/mj/task/$a->{result}/cancel")->{code}, 4, 'cancel twice -> 4');
    is(sim_post("/mj/task/$b->{result}/cancel")->{code}, 1, 'cancel queued task');
    my ($nf, $res) = sim_post('/mj/task/1700000000000997/cancel');
    is($nf->{code}, 3, 'cancel unknown -> 3');
    is(submit('imagine', { prompt => 'four' })->{code}, 1, 'slots free again after cancel');
    sim_reset();
};

subtest 'banned, failure, validation' => sub {
    sim_reset();
    for my $w (qw(bannedword gore)) {
        my $r = submit('imagine', { prompt => "a picture with \U$w\E inside" });
        is($r->{code}, 24, "banned word $w -> 24");
        is($r->{properties}{bannedWord}, $w, 'bannedWord');
        ok(defined $r->{properties}{promptEn}, 'promptEn');
    }
    is(submit('imagine', { prompt => 'gorgeous goretex' })->{code}, 1, 'whole words only');
    is(submit('shorten', { prompt => 'nsfw thing' })->{code}, 24, 'shorten checks banned words');

    my $r = submit('imagine', { prompt => 'this one will fail' });
    my ($t) = poll_fetch($r->{result});
    is($t->{status}, 'FAILURE', 'prompt with "fail" ends in FAILURE');
    ok($t->{failReason}, 'failReason set');
    is_deeply($t->{buttons}, [], 'no buttons on failure');

    is(submit('imagine', {})->{code}, 4, 'missing prompt -> 4');
    is(submit('imagine', { prompt => 'x', base64Array => [('data:x') x 1] })->{code}, 4, 'bad data URL -> 4');
    is(submit('imagine', { prompt => 'x', base64Array => [($IMG) x 6] })->{code}, 4, '6 images -> 4');
    is(submit('imagine', { prompt => 'x', base64Array => [$IMG] })->{code}, 1, 'imagine with image');
    is(submit('imagine', { prompt => 'x', botType => 'OTHER' })->{code}, 4, 'bad botType -> 4');
    is(submit('imagine', { prompt => 'x', accountFilter => { instanceId => '42' } })->{code}, 3,
       'accountFilter with unknown instance -> 3 (no account)');
    is(submit('blend', { base64Array => [$IMG] })->{code}, 4, 'blend with 1 image -> 4');
    is(submit('blend', { base64Array => [($IMG) x 6] })->{code}, 4, 'blend with 6 images -> 4');
    is(submit('blend', { base64Array => [$IMG, 'notadataurl'] })->{code}, 4, 'blend with a non data URL -> 4');
    is(submit('blend', { base64Array => [$IMG, $IMG], dimensions => 'ROUND' })->{code}, 4, 'bad dimensions -> 4');
    $r = submit('blend', { base64Array => [$IMG, $IMG, $IMG], dimensions => 'PORTRAIT' });
    is($r->{code}, 1, 'blend of 3 accepted');
    is(sim_wait_status($r->{result}, 'SUCCESS', 5)->{action}, 'BLEND', 'blend task');
    my ($bad, $res) = sim_post('/mj/submit/imagine', '{not json');
    is($res->{status}, 400, 'malformed JSON -> HTTP 400');
    is($bad->{code}, 4, 'malformed JSON -> code 4');
    ($bad, $res) = sim_post('/mj/submit/imagine', '{"prompt":"deep","z":' . ('[' x 5000) . (']' x 5000) . '}');
    is($res->{status}, 400, 'JSON nested too deep for Python -> HTTP 400');
    is($bad->{code}, 4, 'and code 4');
};

subtest 'describe, shorten, other submits' => sub {
    sim_reset();
    my $r = submit('describe', { base64 => $IMG });
    is($r->{code}, 1, 'describe accepted');
    my $t = sim_wait_status($r->{result}, 'SUCCESS', 5);
    is($t->{action}, 'DESCRIBE', 'DESCRIBE');
    like($t->{properties}{finalPrompt}, qr/simulated description 1/, 'describe text in properties.finalPrompt');
    $r = sim_post('/mj/submit/action', { taskId => $t->{id}, customId => 'MJ::Job::PicReader::2' });
    is($r->{code}, 21, 'PicReader button -> 21');
    is(submit('describe', { link => 'https://example.invalid/a.png' })->{code}, 1, 'describe by link');
    is(submit('describe', {})->{code}, 4, 'describe without image -> 4');

    $r = submit('shorten', { prompt => 'a very long prompt about many things in a city at night' });
    $t = sim_wait_status($r->{result}, 'SUCCESS', 5);
    like($t->{properties}{finalPrompt}, qr/SHORTENED PROMPTS/, 'shorten analysis in finalPrompt');

    $r = sim_post('/mj/submit/upload-discord-images', { base64Array => [$IMG, $IMG] });
    is($r->{code}, 1, 'upload');
    is(ref $r->{result}, 'ARRAY', 'upload result is an array');
    is(scalar @{ $r->{result} }, 2, 'two URLs');
    my ($path) = $r->{result}[0] =~ m{^http://127\.0\.0\.1:\d+(/images/\w+\.png)$};
    is(sim_request('GET', $path)->{status}, 200, 'uploaded URL is served');

    $r = sim_post('/mj/insight-face/swap', { sourceBase64 => $IMG, targetBase64 => $IMG });
    is($r->{code}, 1, 'swap');
    is(sim_wait_status($r->{result}, 'SUCCESS', 5)->{action}, 'SWAP_FACE', 'SWAP_FACE');
    is(sim_post('/mj/insight-face/swap', { sourceBase64 => $IMG })->{code}, 4, 'swap without target -> 4');
    $r = submit('edits', { prompt => 'make it blue', image => $IMG });
    is(sim_wait_status($r->{result}, 'SUCCESS', 5)->{action}, 'EDIT', 'EDIT');
    $r = submit('video', { prompt => 'make it move', image => $IMG });
    is(sim_wait_status($r->{result}, 'SUCCESS', 5)->{action}, 'VIDEO', 'VIDEO');
};

subtest 'fetch, list-by-condition, image-seed, lists' => sub {
    sim_reset();
    my $a = done_task('alpha');
    my $b = done_task('beta');
    my ($nf, $res) = fetch_api('1700000000000996');
    is($res->{status}, 404, 'unknown fetch -> 404');
    is($nf->{code}, 3, 'unknown fetch -> code 3');
    sim_config({ notfound_status => 200 });
    ($nf, $res) = fetch_api('1700000000000996');
    is($res->{status}, 200, 'notfound_status 200 -> HTTP 200');
    is($nf->{code}, 3, 'still code 3');
    sim_config({ notfound_status => 404 });

    my $l = sim_post('/mj/task/list-by-condition', { ids => [$b->{id}, '1700000000000995', $a->{id}] });
    is_deeply([map { $_->{id} } @$l], [$b->{id}, $a->{id}], 'list-by-condition leaves unknown ids out');
    is_deeply(scalar sim_post('/mj/task/list-by-condition', { ids => [] }), [], '[] for none');
    is_deeply(scalar sim_post('/mj/task/list-by-condition', { ids => ['1'] }), [], '[] for unknown');
    is_deeply(scalar sim_post('/mj/task/list-by-condition', {}), [], '[] without ids');

    my $s = sim_get("/mj/task/$a->{id}/image-seed");
    is($s->{code}, 1, 'image-seed code 1');
    like($s->{result}, qr/^\d+$/, 'seed digits');
    is(sim_get("/mj/task/$a->{id}/image-seed")->{result}, $s->{result}, 'seed stable');
    my $st = submit('imagine', { prompt => 'stuck forever' });
    is(sim_get("/mj/task/$st->{result}/image-seed")->{code}, 4, 'image-seed on unfinished -> 4');
    is(sim_post("/mj/task/$st->{result}/cancel")->{code}, 1, 'cancel the stuck task');
    ($nf, $res) = sim_get('/mj/task/1700000000000994/image-seed');
    is($nf->{code}, 3, 'image-seed unknown -> 3');

    my $all = sim_get('/mj/task/list');
    is(scalar @$all, 3, '/mj/task/list returns every task');
    my $acc = sim_get('/mj/account/list');
    ok($acc->[0]{userToken}, '/mj/account/list returns accounts with userToken');

    my $f = sim_post('/mj-fast/mj/submit/imagine', { prompt => 'fast one' });
    is($f->{code}, 1, '/mj-fast prefix');
    is(sim_last()->{mode}, 'fast', 'request record has the mode');
    is(fetch_api($f->{result})->{mode}, 'FAST', 'task records the speed mode');
    is(sim_post('/mj-relax/mj/submit/imagine', { prompt => 'slow one' })->{code}, 1, '/mj-relax');
    is(sim_post('/mj-turbo/mj/submit/imagine', { prompt => 'turbo one' })->{code}, 1, '/mj-turbo');

    $res = sim_request('GET', '/mj/nothing/here');
    is($res->{status}, 404, 'unknown path 404');
    ok(eval { $J->decode($res->{content}) }, 'unknown path answer is JSON');
    is(sim_request('GET', '/mj/submit/imagine')->{status}, 405, 'wrong method 405');
};

subtest 'PNG images' => sub {
    sim_reset();
    my $t = done_task('an image');
    my ($path) = $t->{imageUrl} =~ m{^http://127\.0\.0\.1:\d+(/.*)$};
    my $res = sim_request('GET', $path, undef, { Authorization => undef });
    is($res->{status}, 200, 'image served without key');
    is($res->{headers}{'content-type'}, 'image/png', 'content-type');
    my $png = $res->{content};
    is(substr($png, 0, 8), "\x89PNG\r\n\x1a\n", 'PNG signature');
    my ($len, $type) = unpack('N a4', substr($png, 8, 8));
    is($type, 'IHDR', 'IHDR first');
    my ($w, $h, $depth, $ctype) = unpack('N N C C', substr($png, 16, 10));
    is("$w x $h", '128 x 128', 'dimensions');
    is($depth, 8, 'bit depth');
    is($ctype, 2, 'RGB');
    # walk chunks, check CRCs and inflate IDAT
    my ($pos, $idat, @types) = (8, '');
    while ($pos < length $png) {
        my ($l, $ty) = unpack('N a4', substr($png, $pos, 8));
        my $data = substr($png, $pos + 8, $l);
        my $crc = unpack('N', substr($png, $pos + 8 + $l, 4));
        is($crc, Compress::Zlib::crc32($ty . $data), "CRC of $ty");
        $idat .= $data if $ty eq 'IDAT';
        push @types, $ty;
        $pos += 12 + $l;
    }
    is($types[-1], 'IEND', 'ends with IEND');
    my $raw = Compress::Zlib::uncompress($idat);
    is(length $raw, $h * (1 + 3 * $w), 'IDAT inflates to the right size');
    is(sim_request('GET', "/images/$t->{id}_preview.png")->{status}, 200, 'preview image served');
    is(sim_request('GET', '/images/1700000000000993.png')->{status}, 404, 'unknown image 404');
};

subtest 'recording and /_sim/seen' => sub {
    sim_reset();
    my $marker = 'sk-user-leak-check-' . int(rand(1e9));
    sim_request('GET', '/mj/task/1/fetch', undef, { 'X-Client-Secret' => $marker });
    is(sim_seen($marker), 1, 'seen finds a header value');
    is(sim_seen('never-sent-string-xyz'), 0, 'seen 0 for absent string');
    sim_post('/mj/submit/imagine', { prompt => "with $marker in body & more" });
    is(sim_seen($marker), 2, 'seen finds body text');
    is(sim_seen("$marker in body & more"), 1, 'seen URL-decodes its argument (spaces, &)');
    is(sim_get('/_sim/seen?s=Bearer%20' . $KEY)->{seen}, 2, 'seen finds the upstream key in Authorization');
    my $reqs = sim_requests();
    is(scalar @$reqs, 2, 'two recorded');
    my $r = $reqs->[1];
    is($r->{method}, 'POST', 'method');
    is($r->{path}, '/mj/submit/imagine', 'path');
    is(ref $r->{headers}, 'ARRAY', 'headers list');
    is(ref $r->{headers}[0], 'ARRAY', 'headers are [name, value] pairs');
    is($r->{body_length}, length($r->{body}), 'body length');
    is($r->{body_sha256}, sha256_hex($r->{body}), 'body sha256');
    is_deeply(sim_last(), $r, '/_sim/last');
    sim_request('GET', '/mj/task/2/fetch?x=1');
    is(sim_last()->{query}, 'x=1', 'query recorded');
};

subtest 'X-Sim-Mode failure modes' => sub {
    sim_reset();
    my $t = done_task('mode target');
    my $path = "/mj/task/$t->{id}/fetch";
    my $mode = sub { sim_request('GET', $path, undef, { 'X-Sim-Mode' => $_[0], %{ $_[1] || {} } }) };

    my $res = $mode->('garbage');
    is($res->{status}, 200, 'garbage: 200');
    like($res->{headers}{'content-type'}, qr{application/json}, 'garbage: JSON content type');
    ok(!eval { $J->decode($res->{content}); 1 }, 'garbage: body is not JSON');
    $res = $mode->('html500');
    is($res->{status}, 500, 'html500: 500');
    like($res->{headers}{'content-type'}, qr{text/html}, 'html500: text/html');
    $res = $mode->('json500');
    is($res->{status}, 500, 'json500: 500');
    is($J->decode($res->{content})->{code}, 9, 'json500: JSON body');
    is($mode->('502')->{status}, 502, 'mode 502');
    $res = $mode->('503');
    is($res->{status}, 503, 'mode 503');
    ok($J->decode($res->{content}), '503 body JSON');
    $res = $mode->('401');
    is($res->{status}, 401, 'forced 401');
    like($res->{content}, qr/\Q$KEY\E/, 'forced 401 quotes the (valid) key it was given');
    $res = $mode->('403');
    is($res->{status}, 403, 'mode 403');
    like($res->{content}, qr/\Q$KEY\E/, '403 quotes the key');
    my $t0 = time;
    $res = $mode->('slow:300');
    ok(time - $t0 >= 0.29, 'slow:300 waits');
    is($J->decode($res->{content})->{id}, $t->{id}, 'slow answers normally');
    $res = $mode->('split');
    is($J->decode($res->{content})->{id}, $t->{id}, 'split: normal answer');
    is($res->{headers}{'content-length'}, length $res->{content}, 'split: Content-Length answer');
    $res = $mode->('gzip', { 'Accept-Encoding' => 'gzip' });
    is($res->{headers}{'content-encoding'}, 'gzip', 'gzip: Content-Encoding');
    my $plain;
    gunzip(\$res->{content} => \$plain) or die $GunzipError;
    is($J->decode($plain)->{id}, $t->{id}, 'gzip body inflates to the task');
    $res = $mode->('gzip');
    ok(!$res->{headers}{'content-encoding'}, 'gzip without Accept-Encoding: plain');
    is($J->decode($res->{content})->{id}, $t->{id}, 'plain body');
    $res = $mode->('gzip', { 'Accept-Encoding' => 'gzip;q=0, identity' });
    ok(!$res->{headers}{'content-encoding'}, 'gzip;q=0: plain');
    $res = $mode->('nonsense');
    is($res->{status}, 400, 'unknown mode -> 400');

    # raw-socket modes
    my $s = connect_sim();
    print {$s} api_req($path, undef, headers => ['X-Sim-Mode: chunked']);
    my ($st, $h, $body) = read_response($s);
    is($h->{'transfer-encoding'}, 'chunked', 'chunked: Transfer-Encoding');
    ok($h->{'x-chunks'} > 10, "chunked: many chunks ($h->{'x-chunks'})");
    is($J->decode($body)->{id}, $t->{id}, 'chunked: body reassembles');
    $t0 = time;
    print {$s} api_req($path, undef, headers => ['X-Sim-Mode: chunked,slow:50']);
    ($st, $h, $body) = read_response($s);
    ok(time - $t0 >= 0.049 && $h->{'transfer-encoding'} eq 'chunked', 'chunked,slow:50 combined');
    is($J->decode($body)->{id}, $t->{id}, 'combined body');
    close $s;

    $s = connect_sim();
    print {$s} api_req($path, undef, headers => ['X-Sim-Mode: close']);
    is(read_all($s, 3), '', 'close: connection closed without an answer');
    close $s;

    $s = connect_sim();
    print {$s} api_req($path, undef, headers => ['X-Sim-Mode: truncated']);
    my $raw = read_all($s, 3);
    my ($hd, $bd) = split /\r\n\r\n/, $raw, 2;
    my ($cl) = $hd =~ /Content-Length: (\d+)/i;
    ok($cl && length($bd) < $cl, "truncated: got " . length($bd) . " of $cl bytes then EOF");
    close $s;

    my $n = scalar @{ sim_get('/_sim/tasks') };
    $s = connect_sim();
    print {$s} api_req('/mj/submit/imagine', '{"prompt":"processed then dropped"}',
                       headers => ['X-Sim-Mode: close-after']);
    is(read_all($s, 3), '', 'close-after: no answer');
    close $s;
    is(scalar @{ sim_get('/_sim/tasks') }, $n + 1, 'close-after: the request was processed');

    # sticky modes for gateways that do not forward X-Sim-Mode
    sim_mode('json500', 1, '/fetch');
    is(sim_request('GET', '/mj/task/list')->{status}, 200, 'sticky rule only for matching paths');
    is(sim_request('GET', $path)->{status}, 500, 'sticky json500 applied once');
    is(sim_request('GET', $path)->{status}, 200, 'then normal again');
    sim_mode('503');
    is(sim_request('GET', $path)->{status}, 503, 'sticky rule without count');
    is(sim_request('GET', $path)->{status}, 503, 'still applies');
    sim_mode();
    is(sim_request('GET', $path)->{status}, 200, 'cleared');
};

subtest 'request bodies: chunked, 40 MB, keep-alive' => sub {
    sim_reset();
    # chunked request body
    my $json = '{"prompt":"chunked request body","state":"c1"}';
    my $s = connect_sim();
    my $req = "POST /mj/submit/imagine HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $KEY\r\n"
            . "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (my $i = 0; $i < length $json; $i += 5) {
        my $p = substr($json, $i, 5);
        $req .= sprintf("%x\r\n%s\r\n", length $p, $p);
    }
    $req .= "0\r\n\r\n";
    print {$s} $req;
    my ($st, $h, $body) = read_response($s);
    is($st, 200, 'chunked request answered');
    is($J->decode($body)->{code}, 1, 'chunked body parsed');
    is(sim_last()->{body_sha256}, sha256_hex($json), 'sha256 over the de-chunked body');

    # keep-alive: two more requests on the same connection
    print {$s} api_req('/mj/task/list-by-condition', '{"ids":[]}');
    ($st, $h, $body) = read_response($s);
    is($body, '[]', 'second request on the same connection');
    print {$s} api_req('/mj/task/queue', undef);
    ($st, $h, $body) = read_response($s);
    is($st, 200, 'third request on the same connection');
    close $s;
    my $reqs = sim_requests();
    is(scalar(keys %{ { map { $_->{conn} => 1 } @$reqs } }), 1, 'all three recorded on one connection');
    is_deeply([map { $_->{conn_request} } @$reqs], [1, 2, 3], 'conn_request counts');

    # 40 MB blend body (still JSON, must be parsed)
    my $part = 'data:image/png;base64,' . ('A' x (20 * 1024 * 1024));
    my $big = '{"base64Array":["' . $part . '","' . $part . '"],"dimensions":"LANDSCAPE"}';
    ok(length($big) > 40 * 1024 * 1024, 'body is > 40 MB');
    my $t0 = time;
    my ($r, $res) = sim_post('/mj/submit/blend', $big);
    is($res->{status}, 200, '40 MB blend answered');
    is($r->{code}, 1, '40 MB blend accepted') or diag $res->{content};
    my $last = sim_last();
    is($last->{body_length}, length $big, 'recorded length');
    is($last->{body_sha256}, sha256_hex($big), 'recorded sha256');
    is(length $last->{body}, 65536, 'only the first 64 KiB kept');
    ok($last->{body_truncated}, 'body_truncated');
    diag(sprintf '40 MB round trip %.2fs', time - $t0);
    undef $big;
    undef $part;
};

# --------------------------------------------------------------------------
# Parser modes.  "lenient" binds body keys the way Jackson and Go upstreams
# do; these bodies show what an upstream would do with a body a gateway let
# through.  Bodies are byte strings, sent as they are.

# the raw JSON text of an answer (JSON::PP refuses lone surrogates)
sub raw_post {
    my ($path, $body) = @_;
    my $res = sim_request('POST', $path, $body);
    return ($res->{status}, $res->{content});
}

subtest 'parser modes: the switch' => sub {
    sim_reset();
    is(sim_config()->{parser}, 'strict', 'strict by default');
    is(sim_config({ parser => 'lenient' })->{parser}, 'lenient', 'POST /_sim/config {"parser":"lenient"}');
    my $res = sim_request('POST', '/_sim/config', '{"parser":"loose"}');
    is($res->{status}, 400, 'an unknown parser -> 400');
    is(sim_config()->{parser}, 'lenient', 'and changes nothing');
    submit('imagine', { prompt => 'recorded' });
    is(sim_last()->{parser}, 'lenient', 'the request record names the parser');
    sim_reset();
    is(sim_config()->{parser}, 'strict', 'reset restores the command line parser');

    my ($pid, $r, $line) = spawn_sim('--parser', 'lenient');
    my ($port) = $line =~ /:(\d+)$/m;
    my $http = HTTP::Tiny->new(proxy => undef, http_proxy => undef);
    my $get = sub { $J->decode($http->request($_[0], "http://127.0.0.1:$port$_[1]")->{content}) };
    is($get->('GET', '/_sim/config')->{parser}, 'lenient', '--parser lenient');
    $get->('POST', '/_sim/reset');
    is($get->('GET', '/_sim/config')->{parser}, 'lenient', 'and a reset keeps it');
    kill 'TERM', $pid;
    waitpid($pid, 0);
    my $python = $ENV{MJSIM_PYTHON} || 'python3';
    my $out = `$python ${\ sim_root()}/sim/mjsim.py --key k --parser loose 2>&1`;
    isnt($? >> 8, 0, '--parser loose is refused');
    like($out, qr/invalid choice: 'loose'/, 'with a usage message');
};

subtest 'parser modes: taskId spelled the way Jackson and Go bind it' => sub {
    sim_reset();
    sim_config({ queue_slots => 100 });    # the accepted actions all run at once
    my $grid = done_task('a parser parent');
    my $id = $grid->{id};
    my $u1 = button($grid, qr/upsample::1::/);
    # [what, the key's bytes in the body, the key as the lenient parser decodes it]
    my @spellings = (
        ['over-long 2-byte I', "task\xC1\x89d", 'taskId'],
        ['over-long 3-byte I', "task\xE0\x81\x89d", 'taskId'],
        ['over-long 4-byte I', "task\xF0\x80\x81\x89d", 'taskId'],
        ['Kelvin sign, raw', "tas\xE2\x84\xAAId", "tas\x{212A}Id"],
        ['Kelvin sign, \u escape', 'tas\u212AId', "tas\x{212A}Id"],
        ['long s, raw', "ta\xC5\xBFkId", "ta\x{17F}kId"],
        ['long s, \u escape', 'ta\u017fkId', "ta\x{17F}kId"],
        ['dotless i, raw', "task\xC4\xB1d", "task\x{131}d"],
        ['upper case', 'TASKID', 'TASKID'],
    );
    sim_config({ parser => 'lenient' });
    for (@spellings) {
        my ($what, $key, $decoded) = @$_;
        my $r = sim_post('/mj/submit/action', qq({"$key":"$id","customId":"$u1"}));
        is($r->{code}, 1, "lenient, $what: taskId bound, the action accepted") or diag explain $r;
        my $last = sim_last();
        is($last->{bound}{taskId}, $id, "lenient, $what: the record has the bound taskId");
        is($last->{bound_keys}{taskId}, $decoded, "lenient, $what: and the key it came from");
    }
    sim_config({ parser => 'strict' });
    for (@spellings) {
        my ($what, $key) = @$_;
        my ($r, $res) = sim_post('/mj/submit/action', qq({"$key":"$id","customId":"$u1"}));
        my $last = sim_last();
        if ($key =~ /[\xC0-\xFF]/ && $what =~ /over-long/) {
            is($res->{status}, 400, "strict, $what: refused, HTTP 400");
            is($r->{code}, 4, "strict, $what: code 4");
            is($last->{bound}, undef, "strict, $what: nothing bound");
        } else {
            is($r->{description}, 'taskId is required', "strict, $what: taskId not bound");
            is_deeply($last->{bound}, { customId => $u1 }, "strict, $what: only customId bound");
        }
    }
};

subtest 'parser modes: the last duplicate wins' => sub {
    sim_reset();
    my $grid = done_task('a duplicate parent');
    my ($id, $other) = ($grid->{id}, '1700000000000990');
    my $u1 = button($grid, qr/upsample::1::/);
    my $action = sub { my ($mode, $json) = @_; sim_config({ parser => $mode }); sim_post('/mj/submit/action', $json) };

    my $r = $action->('lenient', qq({"taskId":"$id","customId":"$u1","ta\\u017fkId":"$other"}));
    is($r->{code}, 3, 'lenient: a later long-s copy wins over taskId (its task is unknown)');
    is(sim_last()->{bound}{taskId}, $other, 'lenient: the record has the later copy');
    $r = $action->('strict', qq({"taskId":"$id","customId":"$u1","ta\\u017fkId":"$other"}));
    is($r->{code}, 1, 'strict: the long-s copy is another key');
    is(sim_last()->{bound}{taskId}, $id, 'strict: the record has taskId');

    $r = $action->('lenient', qq({"tas\xE2\x84\xAAId":"$other","TASKID":"$other","taskId":"$id","customId":"$u1"}));
    is($r->{code}, 1, 'lenient: the exact spelling wins when it comes last');
    is(sim_last()->{bound_keys}{taskId}, 'taskId', 'lenient: the record names the key that won');
    $r = $action->('lenient', qq({"taskId":"$id","customId":"$u1","task\xC1\x89d":"$other"}));
    is($r->{code}, 3, 'lenient: a later over-long copy wins');
    $r = $action->('strict', qq({"taskId":"$other","customId":"$u1","taskId":"$id"}));
    is($r->{code}, 1, 'strict: the last of two exact copies wins, as today');
};

subtest 'parser modes: the other keys a gateway acts on' => sub {
    sim_reset();
    sim_config({ queue_slots => 100 });
    my $grid = done_task('a keys parent');
    my $id = $grid->{id};
    my $acct2 = '1208791133367107654';
    for my $mode (qw(lenient strict)) {
        my $len = $mode eq 'lenient';
        sim_config({ parser => $mode });

        my $r = submit('imagine', qq({"prompt":"hook","notifyHoo\\u212a":"http://169.254.169.254/x"}));
        is(sim_task($r->{result})->{properties}{notifyHook}, $len ? 'http://169.254.169.254/x' : undef,
           "$mode: notifyHoo\\u212a " . ($len ? 'bound: the upstream would call it' : 'not bound'));
        is(sim_last()->{bound}{notifyHook}, $len ? 'http://169.254.169.254/x' : undef, "$mode: the record says so");

        $r = submit('imagine', qq({"prompt":"acct","accountF\xC4\xB1lter":{"instanceId":"$acct2"}}));
        is($r->{properties}{discordInstanceId}, $len ? $acct2 : '1118138338562560102',
           "$mode: accountFilter with a dotless i " . ($len ? 'bound' : 'not bound'));
        $r = submit('imagine', qq({"prompt":"acct","accountFilter":{"INSTANCEID":"$acct2"}}));
        is($r->{properties}{discordInstanceId}, $len ? $acct2 : '1118138338562560102',
           "$mode: keys of nested objects " . ($len ? 'bound too' : 'exact'));

        my $l = sim_post('/mj/task/list-by-condition', qq({"ID\\u017f":["$id"]}));
        is_deeply([map { $_->{id} } @$l], $len ? [$id] : [], "$mode: ID\\u017f as ids");

        my ($res);
        ($r, $res) = sim_post('/mj/submit/simple-change', qq({"c\xC1\xAFntent":"$id U1"}));
        is($len ? $r->{code} : $res->{status}, $len ? 1 : 400, "$mode: an over-long o in content");
        ($r, $res) = sim_post('/mj/submit/action', qq({"taskId":"$id","customI\xC1\xA4":"MJ::JOB::reroll::0::$grid->{properties}{messageHash}::SOLO"}));
        is($len ? $r->{code} : $res->{status}, $len ? 1 : 400, "$mode: an over-long d in customId");
    }
};

subtest 'parser modes: lenient UTF-8 and escapes' => sub {
    sim_reset();
    for my $mode (qw(lenient strict)) {
        sim_config({ parser => $mode });
        my ($st, $body) = raw_post('/mj/submit/imagine', qq({"prompt":"lone \\ud800 high"}));
        is($st, 200, "$mode: a lone surrogate escape is kept (Python's json keeps it)");
        my ($id) = $body =~ /"result":"(\d+)"/;
        like(sim_request('GET', "/_sim/task/$id")->{content}, qr/"prompt":"lone \\ud800 high"/,
             "$mode: and written back as an escape");
    }
    sim_config({ parser => 'lenient' });
    my ($st, $body) = raw_post('/mj/submit/imagine', qq({"prompt":"encoded \xED\xA0\x80 surrogate"}));
    is($st, 200, 'lenient: a UTF-8-encoded surrogate decodes');
    like(sim_request('GET', '/_sim/last')->{content}, qr/"bound":\{"prompt":"encoded \\ud800 surrogate"\}/,
         'lenient: to the lone surrogate, in the record');
    my $r = submit('imagine', qq({"prompt":"say \xC0\xA2hi\xC0\xA2"}));
    is(sim_task($r->{result})->{prompt}, 'say "hi"', 'lenient: an over-long quote inside a string is a quote character');
    ($r, my $res) = sim_post('/mj/submit/imagine', qq({"prompt":"x"\xC0\xAC"state":"y"}));
    is($res->{status}, 400, 'lenient: an over-long comma between members is a syntax error, as in Jackson');
    $r = submit('imagine', qq({"prompt":"a\xFFb\x80c\xF4\x90\x80\x80d"}));
    is(sim_task($r->{result})->{prompt}, "a\x{FFFD}b\x{FFFD}c\x{FFFD}\x{FFFD}\x{FFFD}\x{FFFD}d",
       'lenient: other bad bytes become U+FFFD, as in Go');
    sim_config({ parser => 'strict' });
    for (["\xED\xA0\x80", 'an encoded surrogate'], ["\xC0\xA2", 'an over-long quote'], ["\xFF", 'FF']) {
        ($r, $res) = sim_post('/mj/submit/imagine', qq({"prompt":"$_->[0]"}));
        is($res->{status}, 400, "strict: $_->[1] is refused, as today");
    }
    sim_reset();
};

# a second sim with these flags: (pid, its stdout, the line it printed)
sub spawn_sim {
    my (@flags) = @_;
    pipe(my $r, my $w) or die;
    my $pid = fork // die;
    if (!$pid) {
        close $r;
        open STDOUT, '>&', $w;
        open STDIN, '<', '/dev/null';
        exec $ENV{MJSIM_PYTHON} || 'python3', sim_root() . '/sim/mjsim.py', '--listen', '127.0.0.1:0', '--key', 'k2', @flags
            or POSIX::_exit(127);
    }
    close $w;
    my $sel = IO::Select->new($r);
    my $line = '';
    my $deadline = time + 10;
    while ($line !~ /\n/ && time < $deadline) {
        next unless $sel->can_read(0.2);
        last unless sysread($r, $line, 256, length $line);
    }
    return ($pid, $r, $line);
}

subtest 'SIGTERM and startup line' => sub {
    my ($pid, $r, $line) = spawn_sim();
    like($line, qr/^mjsim listening on 127\.0\.0\.1:\d+\n$/, 'prints exactly the listening line');
    kill 'TERM', $pid;
    my $rest = read_all($r, 5);
    waitpid($pid, 0);
    is($? >> 8, 0, 'exit 0 on SIGTERM');
    is($? & 127, 0, 'not killed by the signal');
    is($rest, '', 'nothing else on stdout');
};

done_testing();
