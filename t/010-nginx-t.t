# `nginx -t` reports configuration mistakes with file and line, warns
# about an upstream keys file others can read, and `nginx -T` never prints
# an upstream secret.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use MJTest;
use MJNginx;

my $ng = MJNginx->new(no_start => 1, conf => <<'_EOC_');
        location /mj/ {
            mj_gateway zone=mj;
            proxy_pass http://mjsim;
        }
_EOC_
my $dir = $ng->dir;
my $conf = "$dir/conf/nginx.conf";

sub write_file {
    my ($path, $text, $mode) = @_;
    open my $fh, '>', $path or die $!;
    print {$fh} $text;
    close $fh;
    chmod $mode // 0644, $path;
}

sub with_users {
    my ($users, $keys, $mode) = @_;
    write_file("$dir/conf/users", $users);
    write_file("$dir/conf/keys", $keys // "main sk-x upstream=mjsim\n", $mode // 0600);
    $ng->{http} = '';
    my $text = $ng->conf_text;
    $text =~ s{mj_users \S+;}{mj_users users;};
    $text =~ s{mj_upstream_keys \S+;}{mj_upstream_keys keys;};
    write_file($conf, $text);
    return $ng->run('-t');
}

my $h = '2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90';
my $line = sub { my $n = 0; for (split /\n/, $ng->conf_text) { $n++; return $n if /mj_users/ } };
my $mj_users_line = $line->();

my ($rc, $out) = with_users("alice $h main\nbob 12345 main\n");
isnt $rc, 0, 'malformed hash fails nginx -t';
like $out, qr{\Q$dir/conf/users\E:2: malformed key hash for user "bob"}, 'names the users file and line';
like $out, qr{in \Q$conf\E:\d+}, 'and the nginx.conf place';
unlike $out, qr/\Q$h\E/, 'no hash echoed';

($rc, $out) = with_users("alice $h main\n# c\nalice $h main\n");
isnt $rc, 0, 'duplicate user fails';
like $out, qr{users:3: duplicate user "alice"}, 'duplicate user with line';

($rc, $out) = with_users("alice $h main\nbob ${\ ('a' x 64)} gone\n");
isnt $rc, 0, 'unknown upstream key name fails';
like $out, qr{users:2: unknown upstream key name "gone"}, 'unknown key name with line';

($rc, $out) = with_users("alice $h main\nbob ${\ ('b' x 64)} main\n", "main sk-x\nmain sk-y\n");
isnt $rc, 0, 'duplicate upstream key fails';
like $out, qr{keys:2: duplicate upstream key "main"}, 'duplicate upstream key with line';
unlike $out, qr/sk-[xy]/, 'secrets never quoted';

($rc, $out) = with_users("alice $h main\n", "main sk-very-secret upstream=mjsim\n", 0644);
is $rc, 0, 'world-readable keys file still loads';
like $out, qr/upstream keys file .* is readable by others/, 'but nginx -t warns';

($rc, $out) = with_users("alice $h main\n", "main sk-very-secret upstream=mjsim\n");
is $rc, 0, 'good files pass nginx -t';
($rc, $out) = $ng->run('-T');
is $rc, 0, 'nginx -T runs';
like $out, qr/mj_upstream_keys keys;/, 'nginx -T shows the directive';
unlike $out, qr/sk-very-secret/, 'but never the upstream secret';

# a state file in the folder of the keys: nginx would give it to the workers
($rc, $out) = with_users("alice $h main\n", "main sk-very-secret upstream=mjsim\n");
my $text = do { open my $fh, '<', $conf or die; local $/; <$fh> };
$text =~ s{mj_zone zone=mj:\S+ state=\S+}{mj_zone zone=mj:1m state=$dir/conf/mj.state};
write_file($conf, $text);
($rc, $out) = $ng->run('-t');
isnt $rc, 0, 'a state file beside the keys file fails nginx -t';
like $out, qr/the state file of mj_zone "mj" must be in a folder of its own/, 'and says why';

# a state folder nginx cannot make is reported by nginx -t
$text =~ s{mj_zone zone=mj:\S+ state=\S+}{mj_zone zone=mj:1m state=/nonexistent-mj/state/mj.state};
write_file($conf, $text);
($rc, $out) = $ng->run('-t');
isnt $rc, 0, 'a state folder that cannot be made fails nginx -t';
like $out, qr{mkdir\(\) "/nonexistent-mj/state" failed}, 'and names it';

# a gateway location must name its ownership zone
$text = $ng->conf_text;
$text =~ s{mj_gateway zone=mj;}{mj_gateway on;};
write_file($conf, $text);
($rc, $out) = $ng->run('-t');
isnt $rc, 0, 'mj_gateway without a zone fails nginx -t';
like $out, qr/"mj_gateway" takes "zone=NAME" \(an "mj_zone" that records task owners\) or "off", not "on" in \S+:\d+/,
     'and says so, with file and line';
$text = $ng->conf_text;
$text =~ s{mj_gateway zone=mj;}{mj_gateway zone=nosuchzone;};
write_file($conf, $text);
($rc, $out) = $ng->run('-t');
isnt $rc, 0, 'an unknown zone fails nginx -t';
like $out, qr/unknown mj_zone "nosuchzone"/, 'and names it';

# mj_gateway without mj_users names the problem
write_file($conf, join "\n", grep { !/mj_users|mj_upstream_keys/ } split /\n/, $ng->conf_text);
($rc, $out) = $ng->run('-t');
isnt $rc, 0, 'mj_gateway without mj_users fails';
like $out, qr/"mj_gateway" is on but no "mj_users" file is configured/, 'and says why';

done_testing;
