# 100,000 users: the users file is checked in one pass (repeated names and
# key hashes found through tables, not by comparing every pair of lines),
# so `nginx -t`, a start and a reload take about a second, not minutes;
# a repeat on the last line is still found, and named with its line.
use strict;
use warnings;
use Test::More;
use Digest::SHA qw(sha256_hex);
use Time::HiRes ();
use FindBin;
use lib "$FindBin::Bin/lib";
use MJTest;
use MJNginx;

my $n = 100_000;
my $many = join '', map { sprintf "user%06d %s main\n", $_, sha256_hex("k$_") }
                        1 .. $n;
my $users = mj_users_text() . $many;
my $last = () = $users =~ /\n/g;

mj_write_users($users);

my $ng = MJNginx->new(no_start => 1, conf => <<'_EOC_');
        location /mj/ {
            mj_gateway zone=mj;
            proxy_pass http://mjsim;
        }
_EOC_

my $t0 = Time::HiRes::time();
my ($rc, $out) = $ng->run('-t');
my $took = Time::HiRes::time() - $t0;
is $rc, 0, "nginx -t with $n users" or diag $out;
cmp_ok $took, '<', 15, "in well under the minute a pairwise check took ("
                       . sprintf('%.1f s', $took) . ')';

$ng->start;
is $ng->get('/mj/task/1712345678901234/fetch',
            {Authorization => "Bearer $KEY{alice}"})->{status}, 404,
   'a user is let in';
is $ng->get('/mj/task/1712345678901234/fetch',
            {Authorization => "Bearer k$n"})->{status}, 404,
   'so is the last of them';
is $ng->get('/mj/task/1712345678901234/fetch',
            {Authorization => "Bearer k0"})->{status}, 401,
   'an unknown key is not';

# the last line repeats the first made-up user's name, then its key hash
mj_write_users($users . sprintf("user%06d %s main\n", 1, sha256_hex('new')));
($rc, $out) = $ng->run('-t');
isnt $rc, 0, 'a repeated name on the last line fails';
like $out, qr/users:@{[ $last + 1 ]}: duplicate user "user000001"/,
     'and is named with its line';

mj_write_users($users . "newuser " . sha256_hex("k$n") . " main\n");
($rc, $out) = $ng->run('-t');
like $out, qr/users:@{[ $last + 1 ]}: user "newuser" has the same key hash/,
     'a repeated key hash on the last line too';

mj_write_users($users);
my ($rl, $rout) = $ng->reload;
is $rl, 0, 'a reload with them' or diag $rout;

$ng->stop;
mj_write_users();

done_testing;
