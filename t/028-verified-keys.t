# A worker remembers the keys it has checked, and the keyed hashes of task
# ids (ngx_http_mj_cache.c): what it remembers never outlives a reload.
# Keys used again and again before a reload (so that every worker has
# them cached) are judged by the new users file at once: revoked, changed
# or disabled users are refused.  A task id hashed for one zone is never
# taken for another zone's.
use strict;
use warnings;
use Test::More;
use Digest::SHA qw(sha256_hex);
use FindBin;
use lib "$FindBin::Bin/lib";
use MJTest;
use MJNginx;

my $fetch = '/mj/task/1712345678901234/fetch';
my $alice2 = 'mj-alice-new-0123456789abcdef';
my $long = 'mj-long-' . ('0123456789' x 10);     # longer than a cache slot

sub bearer { return {Authorization => "Bearer $_[0]"} }

# N requests with the key: the statuses seen, as "status x count"
sub statuses {
    my ($ng, $key, $n) = @_;
    my %seen;
    $seen{ $ng->get($fetch, bearer($key))->{status} }++ for 1 .. $n;
    return join ' ', map { "$_ x $seen{$_}" } sort keys %seen;
}

sub users_before {
    return mj_users_text() . "long " . sha256_hex($long) . " main\n";
}

# bob and long revoked, alice's key changed, erin disabled
sub users_after {
    my $text = mj_users_text('bob', 'alice', 'erin');
    return $text . "alice " . sha256_hex($alice2) . " main\n"
         . "erin " . sha256_hex($KEY{erin}) . " header disabled\n";
}

sub check_reload {
    my ($ng, $what, $reload) = @_;

    for my $k ($KEY{alice}, $KEY{bob}, $KEY{erin}, $long) {
        is statuses($ng, $k, 20), '404 x 20',
           "$what: a key used 20 times before the reload is let in";
    }

    mj_write_users(users_after());
    $reload->();

    is statuses($ng, $KEY{bob}, 10), '401 x 10',
       "$what: a revoked user's cached key is refused at once";
    is statuses($ng, $KEY{alice}, 10), '401 x 10',
       "$what: a user's old key, cached, is refused once the file changed it";
    is statuses($ng, $alice2, 10), '404 x 10', "$what: and the new key works";
    is statuses($ng, $KEY{erin}, 10), '401 x 10',
       "$what: a user disabled by the reload is refused though cached";
    is statuses($ng, $long, 10), '401 x 10',
       "$what: a key too long to be cached is judged the same";
}

# master and two workers: a reload starts new workers
{
    mj_write_users(users_before());
    my $ng = MJNginx->new(workers => 2, conf => <<'_EOC_');
        location /mj/ {
            mj_gateway zone=mj;
            proxy_pass http://mjsim;
        }
_EOC_

    check_reload($ng, 'workers', sub {
        my ($rc, $out) = $ng->reload;
        is $rc, 0, 'reload' or diag $out;
    });

    $ng->stop;
}

# a task id's hash is the zone's: one zone's cached hash is not another's
{
    mj_write_users();
    my $ng = MJNginx->new(http => 'mj_zone zone=other:1m state=off;',
                          conf => <<'_EOC_');
        location /mj/ {
            mj_gateway zone=mj;
            proxy_pass http://mjsim;
        }
        location /mj-fast/ {
            mj_gateway zone=other;
            proxy_pass http://mjsim;
        }
_EOC_

    my $id = '0123456789abcdef0123456789abcdef';
    my $r = $ng->post('/mj/submit/imagine',
                      {%{ bearer($KEY{alice}) }, 'X-Sim-Task-Id' => $id},
                      '{"prompt":"cached hashes"}');
    is $r->{status}, 200, 'a task with a hex id, in zone mj';

    my %seen;
    for (1 .. 10) {
        $seen{mj}{ $ng->get("/mj/task/$id/fetch", bearer($KEY{alice}))
                      ->{status} }++;
        $seen{other}{ $ng->get("/mj-fast/mj/task/$id/fetch",
                               bearer($KEY{alice}))->{status} }++;
    }
    is_deeply $seen{mj}, {200 => 10}, 'polled through its zone: 200';
    is_deeply $seen{other}, {404 => 10}, 'through the other zone: 404';

    $ng->stop;
}

mj_write_users();

done_testing;
