# Reloads: added and revoked users take effect, a bad reload keeps the
# running configuration, requests in flight are not dropped.
use strict;
use warnings;
use Test::More;
use POSIX ();
use FindBin;
use lib "$FindBin::Bin/lib";
use MJTest;
use MJNginx;
use MJHold;

# /held/ goes to an upstream that answers when the test says so
my $hold = MJHold->new;
my $ng = MJNginx->new(workers => 2, conf => <<"_EOC_");
        location /mj/ {
            mj_gateway zone=mj;
            proxy_pass http://mjsim;
        }
        location /held/ {
            mj_gateway zone=mj;
            rewrite ^/held(/.*)\$ \$1 break;
            proxy_pass http://127.0.0.1:${\ $hold->port};
        }
_EOC_

my %alice = (Authorization => "Bearer $KEY{alice}");
my %bob   = (Authorization => "Bearer $KEY{bob}");
my $fetch = '/mj/task/1712345678901234/fetch';

# a known user gets past the key check: 404 for a task that is not theirs
is $ng->get($fetch, \%alice)->{status}, 404, 'alice is let in';
is $ng->get($fetch, \%bob)->{status}, 404, 'bob is let in';

# a request in flight across the reload: the upstream answers it once the
# new workers run
my $pid = fork // die;
if ($pid == 0) {
    my $r = $ng->post('/held/mj/submit/imagine', \%alice, '{"prompt":"in flight"}');
    # _exit: the parent's nginx, sim and folders are not the child's to end
    POSIX::_exit($r->{status} == 200 && $r->{content} =~ /"code":\s*1/ ? 0 : 1);
}
$hold->take(10) or fail 'the request in flight never reached the upstream';

# revoke bob, add frank
require Digest::SHA;
my $frank = 'mj-frank-0123456789abcdef';
mj_write_users(mj_users_text('bob')
               . "frank " . Digest::SHA::sha256_hex($frank) . " main\n");
my ($rc, $out) = $ng->reload(sub {
    $hold->answer('{"code":1,"description":"Submitted","result":"1712345678900001"}');
});
is $rc, 0, 'reload with bob revoked and frank added' or diag $out;

is $ng->get($fetch, \%bob)->{status}, 401, 'bob is refused after the reload';
is $ng->get($fetch, {Authorization => "Bearer $frank"})->{status}, 404,
   'frank is relayed after the reload';

waitpid $pid, 0;
is $?, 0, 'the request in flight during the reload completed';

# a bad users file: `nginx -s reload` refuses at once, and a HUP sent to
# the master directly fails the reload; either way the running config stays
mj_write_users(mj_users_text() . "broken line\n");
($rc, $out) = $ng->run('-s', 'reload');
isnt $rc, 0, 'nginx -s reload with a bad users file fails';
like $out, qr/users:7: expected "NAME SHA256 UPSTREAM-KEY/,
     'and says which file and line';
kill 'HUP', $ng->pid;
MJNginx::wait_until(sub { $ng->error_log =~ /users:7: expected/ }, 10);
like $ng->error_log, qr/\[emerg\].*users:7: expected "NAME SHA256 UPSTREAM-KEY/,
     'the master logs the failed reload with file and line';
is $ng->get($fetch, {Authorization => "Bearer $frank"})->{status}, 404,
   'the running config (with frank) still serves';
is $ng->get($fetch, \%bob)->{status}, 401, 'and still refuses bob';

mj_write_users();
$ng->stop;
unlike $ng->error_log, qr/\Q$KEY{alice}\E|\Q$ENV{TEST_NGINX_MJ_UPSTREAM_KEY}\E/,
       'no key in the error log';

done_testing;
