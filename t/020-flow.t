# Whole flows through the gateway, as a client runs them: imagine and poll,
# upscale, a zoom that needs a modal step, change, simple-change, list,
# seed, cancel; follow-ups go with the upstream key that made the parent.
use strict;
use warnings;
use Test::More;
use JSON::PP;
use FindBin;
use lib "$FindBin::Bin/lib";
use MJTest;
use MJNginx;
use Digest::SHA qw(sha256_hex);

my $json = JSON::PP->new;
my $ng = MJNginx->new(conf => <<'_EOC_');
        location /mj/ {
            mj_gateway zone=mj;
            add_header X-MJ-Key $mj_upstream_key always;
            proxy_pass http://$mj_upstream;
        }
_EOC_

sim_config({queue_slots => 1000});
my %alice = (Authorization => "Bearer $KEY{alice}");
my %bob = ('mj-api-secret' => $KEY{bob});

sub call {
    my ($method, $path, $who, $body) = @_;
    my $r = $ng->request($method, $path, $who,
                         defined $body ? $json->encode($body) : undef);
    my $data = eval { $json->decode($r->{content}) };
    return ($r->{status}, $data, $r->{content});
}

sub wait_done {
    my ($id, $who) = @_;
    my $task;
    MJNginx::wait_until(sub {
        (undef, $task) = call(GET => "/mj/task/$id/fetch", $who);
        $task && ($task->{status} // '') =~ /^(SUCCESS|FAILURE)$/;
    }, 20);
    return $task;
}

sub button {
    my ($task, $re) = @_;
    my ($b) = grep { $_->{customId} =~ $re } @{ $task->{buttons} || [] };
    return $b ? $b->{customId} : undef;
}

# imagine and poll
my ($st, $res) = call(POST => '/mj/submit/imagine', \%alice, {prompt => 'a lighthouse'});
is $st, 200, 'imagine';
is $res->{code}, 1, 'accepted';
my $grid = $res->{result};
my $task = wait_done($grid, \%alice);
is $task->{status}, 'SUCCESS', 'the grid finished, seen through polling';
like $task->{imageUrl}, qr{/images/$grid\.png$}, 'with an image';

# the image is a real PNG, served by the simulated upstream
my $png = HTTP::Tiny->new->get($task->{imageUrl});
is substr($png->{content}, 0, 8), "\x89PNG\r\n\x1a\n", 'the image is a PNG';

# upscale U1
my $u1 = button($task, qr/upsample::1::/);
($st, $res) = call(POST => '/mj/submit/action', \%alice, {taskId => $grid, customId => $u1});
is $res->{code}, 1, 'U1 accepted';
my $up = $res->{result};
$task = wait_done($up, \%alice);
is $task->{status}, 'SUCCESS', 'the upscale finished';

# custom zoom: code 21 makes a task in MODAL, which the caller owns
my $zoom = button($task, qr/CustomZoom/);
ok $zoom, 'the upscale offers a custom zoom';
($st, $res) = call(POST => '/mj/submit/action', \%alice, {taskId => $up, customId => $zoom});
is $res->{code}, 21, 'the zoom needs a modal step (code 21)';
my $modal = $res->{result};
($st, $task) = call(GET => "/mj/task/$modal/fetch", \%alice);
is $task->{status}, 'MODAL', 'the modal task is alice\'s to fetch';
($st) = call(GET => "/mj/task/$modal/fetch", \%bob);
is $st, 404, 'and not bob\'s';
($st, $res) = call(POST => '/mj/submit/modal', \%bob, {taskId => $modal, prompt => 'wider'});
is $st, 404, 'bob cannot confirm it';
($st, $res) = call(POST => '/mj/submit/modal', \%alice, {taskId => $modal, prompt => 'wider'});
is $res->{code}, 1, 'alice confirms it';
is $res->{result}, $modal, 'with the same task id';
is wait_done($modal, \%alice)->{status}, 'SUCCESS', 'the zoom finished';

# change and simple-change on the grid
($st, $res) = call(POST => '/mj/submit/change', \%alice, {taskId => $grid, action => 'VARIATION', index => 2});
is $res->{code}, 1, 'change VARIATION 2';
my $var = $res->{result};
($st, $res) = call(POST => '/mj/submit/simple-change', \%alice, {content => "$grid U3"});
is $res->{code}, 1, 'simple-change U3';
my $u3 = $res->{result};
($st) = call(POST => '/mj/submit/simple-change', \%bob, {content => "$grid U4"});
is $st, 404, 'bob cannot simple-change alice\'s grid';

# list-by-condition, seed
($st, $res) = call(POST => '/mj/task/list-by-condition', \%alice, {ids => [$grid, $up, $var, $u3, 'none']});
is $st, 200, 'list';
is_deeply [sort map { $_->{id} } @$res], [sort $grid, $up, $var, $u3], 'alice lists her four tasks';
($st, $res) = call(POST => '/mj/task/list-by-condition', \%bob, {ids => [$grid, $up]});
is_deeply $res, [], 'bob lists none of them';
($st, $res) = call(GET => "/mj/task/$grid/image-seed", \%alice);
is $res->{code}, 1, 'image-seed of the grid';
like $res->{result}, qr/^\d+$/, 'a seed';

# cancel a task that would never finish
($st, $res) = call(POST => '/mj/submit/imagine', \%alice, {prompt => 'stuck forever'});
my $stuck = $res->{result};
($st) = call(POST => "/mj/task/$stuck/cancel", \%bob, {});
is $st, 404, 'bob cannot cancel it';
($st, $res) = call(POST => "/mj/task/$stuck/cancel", \%alice, {});
is $res->{code}, 1, 'alice cancels it';
($st, $task) = call(GET => "/mj/task/$stuck/fetch", \%alice);
is $task->{status}, 'CANCEL', 'it is cancelled';

# a failing prompt ends in FAILURE, seen through the gateway
($st, $res) = call(POST => '/mj/submit/imagine', \%alice, {prompt => 'this will fail'});
is wait_done($res->{result}, \%alice)->{status}, 'FAILURE', 'a failing task ends in FAILURE';

# follow-ups go with the key that made the parent: move alice to the
# mj-api-secret-style key and check what the upstream gets for her old task
mj_write_users(join("\n", map { s/^(alice \S+) main$/$1 header/r } split /\n/, mj_users_text()) . "\n");
my ($rc, $out) = $ng->reload;
is $rc, 0, 'alice now maps to another upstream key' or diag $out;
sim_post('/_sim/reset');
my $fr = $ng->get("/mj/task/$grid/fetch", \%alice);
is $fr->{headers}{'x-mj-key'}, 'main', '$mj_upstream_key names the key the follow-up goes with';
my $last = sim_last();
my %h = map { lc $_->[0] => $_->[1] } @{ $last->{headers} };
is $h{authorization}, "Bearer $ENV{TEST_NGINX_MJ_UPSTREAM_KEY}",
   'a fetch of her old task goes with the key that created it';
ok !exists $h{'mj-api-secret'}, 'not with her new one';
my $nr = $ng->post('/mj/submit/imagine', \%alice, '{"prompt":"new key"}');
is $nr->{headers}{'x-mj-key'}, 'header', 'and her new submits go with her new key';
%h = map { lc $_->[0] => $_->[1] } @{ sim_last()->{headers} };
is $h{'mj-api-secret'}, $ENV{TEST_NGINX_MJ_UPSTREAM_KEY}, 'her new submits use her new key';
mj_write_users();

done_testing;
