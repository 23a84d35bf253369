# mj, the user's client, through the gateway: every command, and every
# way a request can fail: no key, a bad key, an unknown task, 429 with
# Retry-After, 5xx while polling, a network error, a timeout; the submit
# codes; --json; progress as lines, and as a bar on a terminal.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use MJTest;
use MJNginx;
use MJTools;
use Digest::SHA qw(sha256_hex);
use File::Temp ();
use JSON::PP;
use HTTP::Tiny;

-x tool('mj') or BAIL_OUT(tool('mj') . " is not built: run make");

# gus may poll once a second
my $gus = 'mj-gus-0123456789abcdef';
mj_write_users(mj_users_text()
               . "gus ${\ sha256_hex($gus)} main poll_rate=1r/s poll_burst=0\n");

my $ng = MJNginx->new(conf => <<'_EOC_');
        location /mj/ {
            mj_gateway zone=mj;
            proxy_pass http://$mj_upstream;
        }
        location /r429/ {
            default_type application/json;
            add_header Retry-After 1 always;
            return 429 '{"code":9,"description":"slow down"}';
        }
        location /r500/ {
            default_type application/json;
            return 500 '{"code":9,"description":"it broke"}';
        }
_EOC_

# stop nginx before File::Temp removes its folder (and its pid file)
END { $ng->stop if $ng }

sim_config({queue_slots => 1000});
my $tmp = File::Temp::tempdir(CLEANUP => 1);

sub slurp { open my $fh, '<', $_[0] or return ''; local $/; <$fh> }

# mj as alice, unless the environment given says otherwise
sub mj {
    my ($env, @args) = ref $_[0] ? @_ : ({}, @_);
    return run_tool({MJ_BASE_URL => $ng->url, MJ_API_KEY => $KEY{alice},
                     %$env}, 'mj', '--interval', '0.05',
                     # under run_tool's 20 s: a hang says which request
                     '--timeout', '10', @args);
}

# the last request the upstream got on this path, and its JSON body
sub last_request {
    my ($path) = @_;
    my ($last) = grep { $_->{path} eq $path } reverse @{ sim_requests() };
    return $last || {};
}

sub sent { eval { decode_json(last_request($_[0])->{body}) } || {} }

sub count_log {
    my ($re) = @_;
    return scalar grep { /$re/ } split /\n/, slurp($ng->dir . '/logs/access.log');
}

# a finished grid, its upscale, and their image files
my $r = mj(qw(imagine a lighthouse --wait -o), "$tmp/grid.png");
is $r->{rc}, 0, 'imagine --wait' or diag tool_diag($r, $ng);
my ($grid) = $r->{out} =~ /^id:\s+(\d+)$/m;
like $r->{out}, qr/^image:\s+http\S+\/images\/$grid\.png$/m, 'an image URL';
like $r->{err}, qr/saved \Q$tmp\E\/grid\.png \(\d+ bytes\)/, 'the image is saved';
is substr(slurp("$tmp/grid.png"), 0, 4), "\x89PNG", 'a PNG';

# --- errors ---------------------------------------------------------------

$r = mj({MJ_API_KEY => undef}, 'fetch', $grid);
is $r->{rc}, 3, 'no key: exit 3';
like $r->{err}, qr/no API key: set MJ_API_KEY or use --key/, 'and what to do';
$r = mj({MJ_BASE_URL => undef}, 'fetch', $grid);
is $r->{rc}, 2, 'no gateway: exit 2';
like $r->{err}, qr/set MJ_BASE_URL or use --base-url/, 'and what to do';

$r = mj({MJ_API_KEY => 'mj-not-a-key'}, 'fetch', $grid);
is $r->{rc}, 3, 'a bad key: exit 3';
like $r->{err}, qr/the key was refused \(HTTP 401: .+\)/,
     'with the 401 and its description';
$r = mj({MJ_API_KEY => undef}, '--key', $KEY{bob}, 'fetch', $grid);
is $r->{rc}, 4, "--key; another user's task is not found: exit 4";

$r = mj(qw(fetch 1234567890123));
is $r->{rc}, 4, 'an unknown task: exit 4';
like $r->{err}, qr/task 1234567890123: not found \(HTTP 404: task not found\)/,
     'with the description';
$r = mj(qw(fetch ../../x));
is $r->{rc}, 2, 'a malformed task id is refused before any request';

# 429: Retry-After honoured, a bounded number of times
my $t0 = count_log(qr{/r429/});
$r = mj('--base-url', $ng->url . '/r429', qw(fetch 1234 --retries 2));
is $r->{rc}, 5, 'always 429: exit 5';
like $r->{err}, qr/HTTP 429, retry 1 of 2 in 1 s/,
     'the first retry waits Retry-After';
like $r->{err}, qr/HTTP 429, retry 2 of 2 in 1 s/, 'and the second';
like $r->{err},
     qr/too many requests \(HTTP 429: slow down\), still after 2 retries/,
     'then it gives up';
ok $r->{time} >= 2 && $r->{time} < 10, sprintf('after 2 s (%.1f s)', $r->{time});
is count_log(qr{/r429/}) - $t0, 3, 'three requests';

# 429 then success: the gateway lets gus poll once a second, and says
# when to come back; the task takes 0.6 s, so the second poll is refused
sim_config({queue_slots => 1000, time_scale => 0.1});
$r = mj({MJ_API_KEY => $gus}, qw(imagine a slow fox --wait));
sim_config({queue_slots => 1000, time_scale => 0.01});
is $r->{rc}, 0, "imagine through the gateway's poll limit" or diag tool_diag($r, $ng);
like $r->{err}, qr/HTTP 429, retry 1 of 5 in 1 s/, 'a poll waited out a 429';
like $r->{out}, qr/^status:\s+SUCCESS/m, 'and the task finished';
ok $r->{time} >= 1, sprintf('after 1 s at least (%.1f s)', $r->{time});

# 5xx: a submit is not retried (it may have made a task), a poll is
$t0 = count_log(qr{/r500/});
$r = mj('--base-url', $ng->url . '/r500', qw(imagine a broken fox));
is $r->{rc}, 6, 'a 500: exit 6';
like $r->{err}, qr/imagine: HTTP 500: it broke/, 'with the description';
is count_log(qr{/r500/}) - $t0, 1, 'a submit is not retried';

sim_mode('503', 2, '/fetch');
$r = mj(qw(imagine a patient fox --wait));
sim_mode();
is $r->{rc}, 0, 'imagine --wait through two 503s' or diag tool_diag($r, $ng);
is scalar(() = $r->{err} =~ /HTTP 5\d\d, retry \d of 5/g), 2, 'two polls retried';
like $r->{out}, qr/^status:\s+SUCCESS/m, 'then the task finished';

# network errors and timeouts
my $dead = "http://127.0.0.1:$ENV{TEST_NGINX_DEAD_PORT}";
$r = mj('--base-url', $dead, 'fetch', $grid);
is $r->{rc}, 7, 'connection refused: exit 7';
like $r->{err},
     qr/cannot reach \Q$dead\E\/mj\/task\/$grid\/fetch: .*(refused|couldn't connect)/i,
     'and why';
$r = mj('--base-url', $dead, qw(--retries 1 --wait fetch), $grid);
is $r->{rc}, 7, 'a poll retries a network error, then gives up';
like $r->{err}, qr/retry 1 of 1/, 'once';

sim_mode('slow:3000', 1, '/fetch');
$r = mj(qw(--timeout 1 fetch), $grid);
sim_mode();
is $r->{rc}, 8, 'a timeout: exit 8';
like $r->{err}, qr/no answer within 1 s \(--timeout\)/, 'and says so';
ok $r->{time} < 2.5, sprintf('after 1 s (%.1f s)', $r->{time});

# --- submit codes ---------------------------------------------------------

$r = mj(qw(imagine a nsfw fox));
is $r->{rc}, 1, 'a banned prompt: exit 1';
like $r->{err}, qr/refused \(code 24: .*; banned word "nsfw"\)/,
     'code 24 and the word';

sim_config({queue_slots => 1});
my @q = map { mj('imagine', "stuck fox $_") } 1 .. 3;
is $q[0]{rc}, 0, 'a task runs';
is $q[1]{rc}, 0, 'the next one is queued';
like $q[1]{err}, qr/task \d+ is queued \(position 1\)/, 'code 22 says so';
like $q[1]{out}, qr/\A\d+\n\z/, 'and prints the id';
is $q[2]{rc}, 1, 'the queue is full: exit 1';
like $q[2]{err}, qr/refused \(code 23: /, 'code 23';
for my $t (@q[0, 1]) {
    chomp(my $id = $t->{out});
    $ng->post("/mj/task/$id/cancel", {Authorization => "Bearer $KEY{alice}"}, '{}');
}
sim_config({queue_slots => 1000});

# --wait-max: a task that never ends is given up, with the way back
$r = mj(qw(imagine a stuck owl --wait --wait-max 0.3));
is $r->{rc}, 8, '--wait-max: a stuck task is given up (exit 8)';
like $r->{err}, qr/task (\d+) is still SUBMITTED after 0\.3 s \(--wait-max\): mj fetch \1 --wait$/m,
     'saying how to wait again';
cmp_ok $r->{time}, '<', 5, 'soon';
my ($stuck) = $r->{err} =~ /task (\d+) is still/;

# cancel: the stuck task, then again, then another user's task
$r = mj('cancel', $stuck // 1);
is $r->{rc}, 0, 'cancel a task not finished' or diag tool_diag($r, $ng);
is $r->{out}, ($stuck // '') . "\n", 'prints its id';
like mj('fetch', $stuck // 1)->{out}, qr/^status:\s+CANCEL\b/m, 'it is canceled';
$r = mj('cancel', $stuck // 1);
is $r->{rc}, 1, 'a finished task cannot be canceled: exit 1';
like $r->{err}, qr/refused \(code 4: .*finished/, 'code 4, and why';
$r = mj({MJ_API_KEY => $KEY{bob}}, 'cancel', $grid);
is $r->{rc}, 4, "another user's task is not found: exit 4";
is mj(qw(fetch 1 --wait-max 0))->{rc}, 2, '--wait-max 0 is a usage error';

$r = mj('action', $grid, 'MJ::JOB::upsample::9::nohash');
is $r->{rc}, 1, 'a customId that is no button: exit 1';
like $r->{err}, qr/refused \(code 4: /, 'code 4';
$r = mj('action', $grid, 'U9');
is $r->{rc}, 2, 'a label that is no button: exit 2';
like $r->{err},
     qr/no button "U9"; its buttons: U1, U2, U3, U4, reroll, V1, V2, V3, V4/,
     'with the buttons there are';
$r = mj(qw(action 1234567890123 U1));
is $r->{rc}, 4, 'an action on an unknown task: exit 4';

# U1, then a custom zoom that needs a modal step (code 21)
$r = mj('action', $grid, 'u1', '--wait');
is $r->{rc}, 0, 'action u1 --wait (labels match in any case)' or diag tool_diag($r, $ng);
my ($upscale) = $r->{out} =~ /^id:\s+(\d+)$/m;
like $r->{out}, qr/^buttons:\s+Vary \(Subtle\), .*Custom Zoom, pan_left/m,
     'an upscale has its own buttons';
$r = mj('action', $upscale, 'Custom Zoom', '--wait');
is $r->{rc}, 0, 'a custom zoom';
my ($modal) = $r->{out} =~ /\A(\d+)\n\z/;
ok $modal, 'prints the modal task id, without waiting';
like $r->{err}, qr/task $modal needs a modal step: mj modal $modal \[PROMPT\]/,
     'and says what to do';
$r = mj('modal', $modal, 'a', 'wider', 'view', '--wait');
is $r->{rc}, 0, 'modal --wait' or diag tool_diag($r, $ng);
like $r->{out}, qr/^action:\s+ZOOM$/m, 'a zoom';
like $r->{out}, qr/^status:\s+SUCCESS/m, 'that finished';

# --- the other commands ---------------------------------------------------

$r = mj('blend', "$tmp/grid.png", "$tmp/grid.png", '--dimensions', 'PORTRAIT',
        '--wait');
is $r->{rc}, 0, 'blend --wait' or diag tool_diag($r, $ng);
like $r->{out}, qr/^action:\s+BLEND$/m, 'a blend';
$r = mj('blend', "$tmp/grid.png");
is $r->{rc}, 2, 'blend needs two images';
like $r->{err}, qr/usage: mj blend IMG1 IMG2/, 'says the usage';
open my $fh, '>', "$tmp/text.png"; print {$fh} "not an image\n"; close $fh;
$r = mj('describe', "$tmp/text.png");
is $r->{rc}, 2, 'describe: a file that is no image is refused';
like $r->{err}, qr/not a PNG, JPEG, GIF or WebP image/, 'and says so';
$r = mj('describe', "$tmp/grid.png", '--wait');
is $r->{rc}, 0, 'describe --wait' or diag tool_diag($r, $ng);
like $r->{out}, qr/^text:\s+\S/m, 'shows the text';
$r = mj(qw(shorten a very long and winding prompt --wait));
is $r->{rc}, 0, 'shorten --wait' or diag tool_diag($r, $ng);
like $r->{out}, qr/^text:\s+\S/m, 'shows the text';
$r = mj('imagine', 'a', 'fox', '--image', "$tmp/grid.png", '--bot', 'NIJI_JOURNEY');
is $r->{rc}, 0, 'imagine --image --bot' or diag tool_diag($r, $ng);
$r = mj(qw(imagine -- a fox --ar 16:9));
is $r->{rc}, 0, 'imagine -- PROMPT with parameters' or diag tool_diag($r, $ng);
like sim_last()->{body}, qr/"prompt":"a fox --ar 16:9"/, 'sends them in the prompt';
$r = mj(qw(imagine a fox --ar 16:9));
is $r->{rc}, 2, 'without --, they are options mj does not know';
$r = mj('seed', $grid);
is $r->{rc}, 0, 'seed';
like $r->{out}, qr/\A\d+\n\z/, 'a seed';
$r = mj('list', $grid, $upscale, '1234567890123');
is $r->{rc}, 4, 'list with an unknown id: exit 4';
like $r->{out}, qr/^ID\s+ACTION\s+STATUS\s+PROGRESS\s+IMAGE$/m, 'a table';
like $r->{out}, qr/^$grid\s+IMAGINE\s+SUCCESS\s+100%\s+http/m, 'the grid';
like $r->{out}, qr/^$upscale\s+UPSCALE\s+SUCCESS/m, 'the upscale';
like $r->{err}, qr/task 1234567890123: not found/, 'the unknown one';
$r = mj('fetch', $grid, '-o', "$tmp/again.png");
is $r->{rc}, 0, 'fetch -o';
is slurp("$tmp/again.png"), slurp("$tmp/grid.png"), 'saves the same image';

# --- change, simple-change, swap, edits, video, upload -------------------

$r = mj('change', $grid, 'upscale', '2', '--wait');
is $r->{rc}, 0, 'change UPSCALE 2 --wait' or diag tool_diag($r, $ng);
like $r->{out}, qr/^action:\s+UPSCALE$/m, 'an upscale';
like $r->{out}, qr/^status:\s+SUCCESS/m, 'that finished';
my ($changed) = $r->{out} =~ /^id:\s+(\d+)$/m;
like sim_task($changed // 1)->{properties}{customId} // '',
     qr/^MJ::JOB::upsample::2::/, 'of the second image';
$r = mj('change', $grid, 'REROLL');
is $r->{rc}, 0, 'change REROLL' or diag tool_diag($r, $ng);
like $r->{out}, qr/\A\d+\n\z/, 'prints the id';
is_deeply sent('/mj/submit/change'),
    {taskId => $grid, action => 'REROLL'}, 'sends no index for a reroll';
$r = mj('change', $grid, 'variation', '3');
is_deeply sent('/mj/submit/change'),
    {taskId => $grid, action => 'VARIATION', index => 3},
    'the index is a number';
is mj('change', $grid, 'upscale')->{rc}, 2, 'change UPSCALE needs an index';
is mj('change', $grid, 'upscale', '5')->{rc}, 2, 'from 1 to 4';
$r = mj('change', $grid, 'zoom', '1');
is $r->{rc}, 2, 'change ZOOM is a usage error';
like $r->{err}, qr/"zoom" is not UPSCALE, VARIATION or REROLL/, 'and says so';
$r = mj(qw(change 1234567890123 upscale 1));
is $r->{rc}, 4, 'change of an unknown task: exit 4';
like $r->{err}, qr/change: not found/, 'not found';
$r = mj({MJ_API_KEY => $KEY{bob}}, 'change', $grid, 'upscale', '1');
is $r->{rc}, 4, "change of another user's task: exit 4";

$r = mj('simple-change', $grid, 'v3', '--wait');
is $r->{rc}, 0, 'simple-change v3 --wait' or diag tool_diag($r, $ng);
like $r->{out}, qr/^action:\s+VARIATION$/m, 'a variation';
is_deeply sent('/mj/submit/simple-change'), {content => "$grid v3"},
    'sent as content "TASK v3"';
$r = mj('simple-change', $grid, 'R');
is $r->{rc}, 0, 'simple-change R';
is_deeply sent('/mj/submit/simple-change'), {content => "$grid R"},
    'sent as content "TASK R"';
$r = mj('simple-change', $grid, 'U9');
is $r->{rc}, 2, 'simple-change U9 is a usage error';
like $r->{err}, qr/"U9" is not U1-U4, V1-V4 or R/, 'and says so';
is mj('simple-change', '../x', 'U1')->{rc}, 2, 'a malformed task id';
$r = mj(qw(simple-change 1234567890123 U1));
is $r->{rc}, 4, 'simple-change of an unknown task: exit 4';

$r = mj('swap', "$tmp/grid.png", "$tmp/grid.png", '--wait', '-o',
        "$tmp/swap.png");
is $r->{rc}, 0, 'swap --wait -o' or diag tool_diag($r, $ng);
like $r->{out}, qr/^action:\s+SWAP_FACE$/m, 'a face swap';
is substr(slurp("$tmp/swap.png"), 0, 4), "\x89PNG", 'its image is saved';
# two images in base64: the recorded body is cut at 64 KiB
my $sw = last_request('/mj/insight-face/swap');
like $sw->{body} // '', qr/^\{"sourceBase64":"data:image\/png;base64,/,
     'the face as a data URL';
cmp_ok $sw->{body_length} // 0, '>', 2 * (-s "$tmp/grid.png"),
       'and the target';
$r = mj('swap', "$tmp/grid.png", "$tmp/text.png");
is $r->{rc}, 2, 'swap: a file that is no image';
like $r->{err}, qr/text\.png: not a PNG/, 'is named';
is mj('swap', "$tmp/grid.png")->{rc}, 2, 'swap needs two images';

$r = mj('edits', 'a', 'red', 'hat', '--image', "$tmp/grid.png", '--wait');
is $r->{rc}, 0, 'edits --image --wait' or diag tool_diag($r, $ng);
like $r->{out}, qr/^action:\s+EDIT$/m, 'an edit';
like $r->{out}, qr/^prompt:\s+a red hat$/m, 'of the prompt';
$r = mj(qw(edits a nsfw hat));
is $r->{rc}, 1, 'edits: a banned prompt: exit 1';
like $r->{err}, qr/edits: refused \(code 24: .*; banned word "nsfw"\)/,
     'code 24';
is mj('edits')->{rc}, 2, 'edits needs a prompt';
$r = mj('edits', 'x', '--image', "$tmp/grid.png", '--image', "$tmp/grid.png");
is $r->{rc}, 2, 'edits: one --image at most';

my $url = "http://127.0.0.1:$ENV{TEST_NGINX_SIM_PORT}/images/$grid.png";
$r = mj('video', '--image', $url, '--wait');
is $r->{rc}, 0, 'video --image URL --wait' or diag tool_diag($r, $ng);
like $r->{out}, qr/^action:\s+VIDEO$/m, 'a video';
is sent('/mj/submit/video')->{image}, $url,
   'the URL is sent as it is';
$r = mj(qw(video a fox running));
is $r->{rc}, 0, 'video PROMPT';
$r = mj('video');
is $r->{rc}, 2, 'video without a prompt or an image';
like $r->{err}, qr/video: give a prompt, an --image, or both/, 'says so';

$r = mj('upload', "$tmp/grid.png", "$tmp/swap.png");
is $r->{rc}, 0, 'upload' or diag tool_diag($r, $ng);
my @urls = split /\n/, $r->{out};
is scalar @urls, 2, 'prints two URLs';
my $png = HTTP::Tiny->new->get($urls[0] // 'http://127.0.0.1:1/');
is substr($png->{content}, 0, 4), "\x89PNG", 'that serve the images';
$r = mj('--json', 'upload', "$tmp/grid.png");
is eval { decode_json($r->{out})->{code} }, 1, 'upload --json';
$r = mj('upload', "$tmp/text.png");
is $r->{rc}, 2, 'upload: a file that is no image';
is mj('upload', ("$tmp/grid.png") x 11)->{rc}, 2, 'upload: 10 images at most';

# --- --json ---------------------------------------------------------------

$r = mj(qw(--json imagine a json fox));
is $r->{rc}, 0, 'imagine --json';
my $j = eval { decode_json($r->{out}) };
is $j->{code}, 1, 'prints the submit answer';
$r = mj('--json', 'fetch', $j->{result}, '--wait');
my @lines = split /\n/, $r->{out};
is scalar @lines, 1, 'fetch --json --wait prints one answer';
is eval { decode_json($lines[0])->{status} }, 'SUCCESS', 'the finished task';
$r = mj(qw(--json fetch 1234567890123));
is $r->{rc}, 4, 'an error with --json';
is eval { decode_json($r->{out})->{code} }, 3, 'prints the error answer too';
$r = mj('--json', 'list', $grid);
is eval { decode_json($r->{out})->[0]{id} }, $grid, 'list --json';
$r = mj('--json', 'seed', $grid);
is eval { decode_json($r->{out})->{code} }, 1, 'seed --json';

# --- progress -------------------------------------------------------------

# a task of 1.2 s: NOT_START and SUBMITTED for 0.1 s each, so that the
# first poll sees one of them even when a busy machine answers it late
sim_config({queue_slots => 1000, time_scale => 0.2});
$r = mj(qw(imagine a slow fox --wait --interval 0.02));
my @st = $r->{err} =~ /^\d+: (\w+) \d+%$/mg;
ok @st >= 3, "not on a terminal: a line a status (@st)";
is_deeply [grep { $st[$_] eq $st[$_ - 1] } 1 .. $#st], [], 'one line per change';
is $st[-1], 'SUCCESS', 'ending with SUCCESS';
unlike $r->{err}, qr/\r/, 'no bar';

SKIP: {
    skip 'no script(1) for a terminal', 3 unless -x '/usr/bin/script';
    my $cmd = join ' ', map { "'$_'" } tool('mj'),
        qw(--interval 0.02 --wait imagine a tty fox);
    local $ENV{MJ_BASE_URL} = $ng->url;
    local $ENV{MJ_API_KEY} = $KEY{alice};
    my $out = `/usr/bin/script -qec "$cmd" /dev/null 2>&1`;
    is $? >> 8, 0, 'on a terminal';
    like $out, qr/\r\e\[K\[#* *\]\s+\d+%  IN_PROGRESS  \d+/, 'a progress bar';
    like $out, qr/\r\e\[K\[#{24}\] 100%  SUCCESS  \d+/, 'filled at the end';
}
sim_config({queue_slots => 1000, time_scale => 0.01});

mj_write_users();
done_testing;
