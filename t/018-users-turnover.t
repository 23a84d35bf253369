# Users come and go: the zone's table of users' counters must not fill up
# with users deleted from the users file.  A reload frees their records,
# except those still holding something: quota spent today (a user revoked
# and added back the same day keeps the day's count).
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use MJTest;
use MJNginx;
use Digest::SHA qw(sha256_hex);
use JSON::PP;

my $loc = mj_status_conf('mj_quota 100;');

my @u = map { sprintf 'u%02d', $_ } 1 .. 15;
my @v = map { sprintf 'v%02d', $_ } 1 .. 15;
my %key = (alice => $KEY{alice}, map { $_ => "mj-$_-0123456789abcdef" } @u, @v);

sub users { mj_write_users(join '', map { "$_ ${\ sha256_hex($key{$_})} main\n" } @_) }

my $ng;
END { $ng->stop if $ng }

sub as { return {Authorization => "Bearer $key{$_[0]}"} }
sub submit { $ng->post('/mj/submit/imagine', as($_[0]), '{"prompt":"a crowd"}') }

# a task made: the upstream took it (code 1, or 22 for queued)
sub made {
    my ($r) = @_;
    return $r->{status} == 200
        && (eval { decode_json($r->{content})->{code} } // 0) =~ /^(?:1|22)$/;
}
sub used { my $u = mj_user_status($ng, $_[0]); return $u && $u->{quota}{used} }

sim_config({queue_slots => 1000});
users('alice', @u);
$ng = MJNginx->new(conf => $loc, zone_args => 'users=16');

# 16 users fill the table: alice and u01 spend quota, the others only poll
ok made(submit('alice')), 'alice submits';
ok made(submit('u01')), 'u01 submits';
is $ng->get('/mj/task/1/fetch', as($_))->{status}, 404, "$_ polls" for @u[1 .. 14];
is mj_zone_status($ng)->{users}, 16, 'the table of 16 users is full';

# u01..u15 leave, v01..v15 come
users('alice', @v);
my ($rc, $out) = $ng->reload;
is $rc, 0, 'reload with 15 users replaced' or diag $out;
like $ng->error_log,
     qr/mj_zone "mj": the counters of 14 users no longer in the users file were freed/,
     'the 14 who spent nothing today are freed';
is mj_zone_status($ng)->{users}, 2, 'alice and u01 (quota spent today) are kept';
is used('alice'), 1, 'alice keeps her count';

my @ok = grep { made(submit($_)) } @v[0 .. 13];
is scalar(@ok), 14, 'v01..v14 get the freed places';
my $r = submit('v15');
is $r->{status}, 503, 'the 17th user finds the table full again';
like $r->{content}, qr/cannot count more users/, 'and is told so';

# u01 comes back the same day: the records moved by the frees are found
users('alice', @v[0 .. 13], 'u01');
($rc, $out) = $ng->reload;
is $rc, 0, 'reload with u01 back' or diag $out;
is used('u01'), 1, 'u01 comes back with the day\'s count';
is used('alice'), 1, 'alice too';
is used($_), 1, "$_ too" for @v[0 .. 13];

done_testing;
