# The Debian packages, on this machine's own nginx: build them (make deb,
# with lintian), install them with apt, check what they put where, run
# "nginx -t" on Debian's stock nginx.conf with a gateway site, start an
# nginx from the packaged files and relay a request to the simulated
# upstream with the packaged mj, add a user with the packaged mjctl,
# upgrade them (the conffiles stay as changed), remove and purge them
# (no module link, no broken config left).  Whatever happens, the packages
# and the test's files are gone at the end.
#
# It installs packages system-wide, so it runs only as root with
# MJ_DEB_TEST=1 ("make test-deb"; .ci/run does), and only where it
# disturbs no one: nginx installed from Debian (make deps), not running as
# a service, with its stock nginx.conf, and neither package installed.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use Cwd ();
use Digest::MD5 ();
use File::Temp ();
use IO::Socket::INET;
use Time::HiRes ();

my $root = Cwd::abs_path("$FindBin::Bin/..");
my @pkgs = qw(libnginx-mod-http-mj mj-tools);
my $enabled = '/etc/nginx/modules-enabled/50-mod-http-mj.conf';
my $conf = '/etc/nginx/nginx.conf';

sub sh {
    my ($cmd) = @_;
    my $out = `$cmd 2>&1`;
    return ($? >> 8, $out);
}

sub status {
    my (undef, $st) = sh("dpkg-query -W -f='\${Status}' $_[0]");
    return $st;
}

sub installed { status($_[0]) =~ /install ok installed/ }

# installed, or its conffiles left after a remove
sub present { status($_[0]) =~ / (installed|config-files|half-\w+|unpacked)$/ }

sub slurp { open my $fh, '<', $_[0] or return undef; local $/; <$fh> }

# a process that runs: nginx's master is no child of ours, so it may stay
# a zombie until PID 1 reaps it
sub alive {
    my ($pid) = @_;
    my $st = slurp("/proc/$pid/stat") // return 0;
    return $st !~ /^\d+ \(.*\) Z/s;
}

sub wait_for {
    my ($cond) = @_;
    for (1 .. 200) { return 1 if $cond->(); Time::HiRes::sleep(0.05) }
    return 0;
}

# --- may it run here? -----------------------------------------------------

plan skip_all => 'installs packages system-wide: set MJ_DEB_TEST=1 '
    . '(make test-deb) to run it' unless $ENV{MJ_DEB_TEST};
plan skip_all => 'needs root (it runs apt-get)' if $> != 0;
plan skip_all => "nginx is not installed from Debian's package: make deps"
    unless installed('nginx');
for my $p (@pkgs) {
    plan skip_all => "$p is installed already: the test would remove it"
        if present($p);
}
if (my $pid = slurp('/run/nginx.pid')) {
    chomp $pid;
    plan skip_all => "a system nginx runs (pid $pid): installing the module "
        . 'would reload it' if $pid =~ /^\d+$/ && kill 0, $pid;
}
{
    my (undef, $cf) = sh("dpkg-query -W -f='\${Conffiles}' nginx-common");
    my ($md5) = $cf =~ m{^ \Q$conf\E (\w+)}m;
    open my $fh, '<', $conf or plan skip_all => "no $conf";
    plan skip_all => "$conf is not Debian's stock one: the test checks that"
        unless $md5 && Digest::MD5->new->addfile($fh)->hexdigest eq $md5;
    my ($rc, $out) = sh('/usr/sbin/nginx -t');
    plan skip_all => "nginx -t fails before the test:\n$out" if $rc;
}

require MJSim;
MJSim->import;

my $tmp = File::Temp::tempdir('mj-deb-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $tmp;
my $site = "/etc/nginx/sites-enabled/zz-ngx-mj-test-$$";
my $zone = 'mjdebtest';
my $state = "/var/lib/nginx/mj/$zone.state";
my $policy;
my $pidfile = "$tmp/nginx.pid";

# everything the test may leave: removed at its end, whatever happened
# (END runs after a skip too: then there is nothing to do)
my $armed = 1;

sub cleanup {
    return unless $armed;
    $armed = 0;
    if (my $pid = slurp($pidfile)) {
        chomp $pid;
        kill 'TERM', $pid if $pid =~ /^\d+$/;
        wait_for(sub { !alive($pid) });
    }
    unlink $site;
    my @left = grep { present($_) } @pkgs;
    sh("DEBIAN_FRONTEND=noninteractive apt-get purge -y -q @left") if @left;
    unlink '/usr/sbin/policy-rc.d' if $policy;
}
END { local $?; cleanup() }    # backticks in it must not set the exit code
$SIG{INT} = $SIG{TERM} = sub { cleanup(); exit 1 };

# Debian's nginx package would start or reload a system nginx (the
# module's postinst triggers a reload): policy-rc.d forbids it, as in
# scripts/deps.sh
unless (-e '/usr/sbin/policy-rc.d') {
    open my $fh, '>', '/usr/sbin/policy-rc.d' or die $!;
    print {$fh} "#!/bin/sh\nexit 101\n";
    close $fh;
    chmod 0755, '/usr/sbin/policy-rc.d';
    $policy = 1;
}
$ENV{DEBIAN_FRONTEND} = 'noninteractive';

# --- build: make deb, lintian ---------------------------------------------

my ($rc, $out) = sh("bash $root/scripts/deb.sh");
is $rc, 0, 'make deb: dpkg-buildpackage and lintian' or diag $out;
like $out, qr/^# lintian: no error and no warning/m, 'lintian is clean';
unlike $out, qr/^[EW]: /m, 'no E: or W: line';
my %deb = map { my ($f) = glob("$root/build/deb/${_}_*_*.deb"); ($_ => $f) }
          @pkgs;
ok -f $deb{$_}, "$_ is built" for @pkgs;
BAIL_OUT("no packages:\n$out") if grep { !$deb{$_} || !-f $deb{$_} } @pkgs;

# --- install ----------------------------------------------------------------

($rc, $out) = sh("apt-get install -y -q --no-install-recommends "
                 . "$deb{'libnginx-mod-http-mj'} $deb{'mj-tools'}");
is $rc, 0, 'apt-get install ./libnginx-mod-http-mj_*.deb ./mj-tools_*.deb'
    or diag $out;
ok installed($_), "$_ is installed" for @pkgs;

(undef, $out) = sh("dpkg-query -W -f='\${Depends}' libnginx-mod-http-mj");
my (undef, $abi) = sh("dpkg-query -W -f='\${Provides}' nginx");
my ($nginx_abi) = $abi =~ /(nginx-abi-[\w.+~-]+)/;
like $out, qr/(^|, )\Q$nginx_abi\E(,|$)/,
     "the module depends on the nginx ABI ($nginx_abi)";

ok -f '/usr/lib/nginx/modules/ngx_http_mj_module.so', 'the module';
is readlink($enabled), '/usr/share/nginx/modules-available/mod-http-mj.conf',
   "enabled: $enabled";
is slurp($enabled), "load_module modules/ngx_http_mj_module.so;\n",
   'which loads it';

sub mode_owner {
    my @st = stat $_[0] or return 'missing';
    return sprintf '%04o %s:%s', $st[2] & 07777, scalar getpwuid($st[4]),
                   scalar getgrgid($st[5]);
}
is mode_owner('/etc/nginx/mj'), '0755 root:root', '/etc/nginx/mj';
is mode_owner('/etc/nginx/mj/users'), '0644 root:root', 'its users file';
is mode_owner('/etc/nginx/mj/upstream-keys'), '0600 root:root',
   'its upstream keys file, 0600';
unlike slurp('/etc/nginx/mj/upstream-keys'), qr/^[^#\s]/m, 'with no key';
is mode_owner('/var/lib/nginx/mj'), '0700 www-data:www-data',
   "the state folder is the workers'";
(undef, $out) = sh("dpkg-query -W -f='\${Conffiles}' libnginx-mod-http-mj");
like $out, qr{^ /etc/nginx/mj/users \w+$}m, 'the users file is a conffile';
like $out, qr{^ /etc/nginx/mj/upstream-keys \w+$}m, 'so is the keys file';

ok -x '/usr/bin/mj' && -x '/usr/bin/mjctl', 'mj and mjctl';
for my $page (qw(mj mjctl)) {
    ($rc, $out) = sh("MANWIDTH=100 man $page | head -5");
    like $out, qr/^NAME\n\s+$page - /m, "man $page";
}
for my $c (qw(mj mjctl)) {
    ($rc, $out) = sh("bash -c 'source /usr/share/bash-completion/completions/"
                     . "$c; complete -p $c'");
    like $out, qr/complete -F _$c $c/, "the bash completion of $c";
}

# --- nginx -t on the stock nginx.conf, with a gateway site ----------------

my $port = do {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0) or die $!;
    my $p = $s->sockport;
    close $s;
    $p;
};
my $sim_port = sim_port();
open my $sf, '>', $site or die "$site: $!";
print {$sf} <<"_EOC_";
# written by ngx_mj's t/050-deb.t, removed at its end
mj_users         /etc/nginx/mj/users;
mj_upstream_keys /etc/nginx/mj/upstream-keys;
mj_zone          zone=$zone:1m;

upstream mjsim_debtest {
    server 127.0.0.1:$sim_port;
}

server {
    listen 127.0.0.1:$port;

    location /mj/ {
        mj_gateway zone=$zone;
        proxy_pass http://\$mj_upstream;
    }
}
_EOC_
close $sf;

# the operator's key at the sim, the way an operator adds it
open my $kf, '>>', '/etc/nginx/mj/upstream-keys' or die $!;
print {$kf} 'sim ' . sim_key() . " upstream=mjsim_debtest\n";
close $kf;

# mjctl on the packaged paths (its defaults)
my $key = `/usr/bin/mjctl user add debtest 2>$tmp/mjctl.err`;
is $? >> 8, 0, 'mjctl user add, on /etc/nginx/mj'
    or diag slurp("$tmp/mjctl.err");
chomp $key;
like $key, qr/\Amj-[A-Za-z0-9_-]{43}\z/, 'prints the key';
like slurp('/etc/nginx/mj/users'), qr/^debtest [0-9a-f]{64} sim$/m,
     'the users file has the user';
is mode_owner('/etc/nginx/mj/users'), '0644 root:root', 'and its mode';
($rc, $out) = sh('/usr/bin/mjctl check');
is $rc, 0, 'mjctl check' or diag $out;
like $out, qr{^/etc/nginx/mj/users: 1 users, ok$}m, 'the users';
like $out, qr{^/etc/nginx/mj/upstream-keys: 1 upstream keys, ok$}m,
     'the keys';

($rc, $out) = sh('/usr/sbin/nginx -t');
is $rc, 0, "nginx -t: the stock $conf, the module, the site" or diag $out;
like $out, qr/test is successful/, 'test is successful';
unlike $out, qr/\[(warn|emerg)\]/, 'without a warning';

# --- an nginx from the packaged files relays to the sim -------------------

# the stock nginx.conf (its user, modules-enabled, conf.d, ...), but with
# this site alone, and its pid and logs in the test's folder: a port 80
# of the machine's own is not touched
my $stock = slurp($conf);
my %subst = (
    qr{^pid /run/nginx\.pid;$}m                  => "pid $pidfile;",
    qr{^error_log /var/log/nginx/error\.log;$}m => "error_log $tmp/error.log notice;",
    qr{^\s*access_log /var/log/nginx/access\.log;$}m
        => "access_log $tmp/access.log;",
    qr{^\s*include /etc/nginx/sites-enabled/\*;$}m => "include $site;",
);
for my $re (keys %subst) {
    ok $stock =~ s/$re/$subst{$re}/, "the stock nginx.conf has $re";
}
open my $cf, '>', "$tmp/nginx.conf" or die $!;
print {$cf} $stock;
close $cf;

($rc, $out) = sh("/usr/sbin/nginx -c $tmp/nginx.conf");
is $rc, 0, 'nginx starts' or diag $out, slurp("$tmp/error.log");
ok wait_for(sub { IO::Socket::INET->new("127.0.0.1:$port") }),
   "it listens on 127.0.0.1:$port";
my $pid = slurp($pidfile) // 0;
chomp $pid;
# the master listens before it starts its workers
ok wait_for(sub { (sh("ps -o user= --ppid $pid"))[1] =~ /^www-data$/m }),
   'its workers run as www-data';

my %env = (MJ_BASE_URL => "http://127.0.0.1:$port", MJ_API_KEY => $key);
my $env = join ' ', map { "$_='$env{$_}'" } sort keys %env;
($rc, $out) = sh("env $env /usr/bin/mj --interval 0.05 --timeout 10 "
                 . "imagine a packaged fox --wait");
is $rc, 0, 'the packaged mj: imagine --wait through the gateway'
    or diag $out, slurp("$tmp/error.log");
like $out, qr/^status:\s+SUCCESS 100%$/m, 'the task succeeded';
my ($task) = $out =~ /^id:\s+(\d+)$/m;
ok $task && sim_task($task), 'the sim made it';
is sim_seen($key), 0, "the user's key never reached the sim";
($rc, $out) = sh("env MJ_BASE_URL='$env{MJ_BASE_URL}' MJ_API_KEY=mj-wrong "
                 . "/usr/bin/mj fetch " . ($task // 1));
is $rc, 3, 'a wrong key is refused (exit 3)';

# the master writes the state file after it removed its pid file: wait
# for the process itself
kill 'QUIT', $pid if $pid;
ok wait_for(sub { !alive($pid) }), 'nginx stops'
    or diag slurp("$tmp/error.log");
ok -s $state, "its state file is written in the packaged folder: $state"
    or diag mode_owner($state), slurp("$tmp/error.log");

# --- an upgrade keeps the changed conffiles -------------------------------

# the same packages as version +upgradetest: a real upgrade through dpkg
my @new;
for my $p (@pkgs) {
    my $d = "$tmp/repack-$p";
    sh("dpkg-deb -R $deb{$p} $d");
    my $ctl = slurp("$d/DEBIAN/control");
    $ctl =~ s/^Version: (\S+)$/Version: $1+upgradetest/m;
    open my $fh, '>', "$d/DEBIAN/control" or die $!;
    print {$fh} $ctl;
    close $fh;
    ($rc, $out) = sh("dpkg-deb -b $d $tmp/${p}_upgradetest.deb");
    is $rc, 0, "$p repacked as a newer version" or diag $out;
    push @new, "$tmp/${p}_upgradetest.deb";
}
my $users = slurp('/etc/nginx/mj/users');
my $keys = slurp('/etc/nginx/mj/upstream-keys');
($rc, $out) = sh("apt-get install -y -q @new");
is $rc, 0, 'apt-get install of the newer packages' or diag $out;
(undef, $out) = sh("dpkg-query -W -f='\${Version}' libnginx-mod-http-mj");
like $out, qr/\+upgradetest$/, 'upgraded';
is slurp('/etc/nginx/mj/users'), $users, 'the users file is kept';
is slurp('/etc/nginx/mj/upstream-keys'), $keys, 'so is the keys file';
is mode_owner('/etc/nginx/mj/upstream-keys'), '0600 root:root',
   'and its mode';
ok -l $enabled, 'the module stays enabled';
($rc, $out) = sh('/usr/sbin/nginx -t');
is $rc, 0, 'nginx -t after the upgrade' or diag $out;

# --- remove, then purge ---------------------------------------------------

unlink $site;
($rc, $out) = sh("apt-get remove -y -q @pkgs");
is $rc, 0, 'apt-get remove' or diag $out;
ok !-e $enabled && !-l $enabled, "no $enabled";
ok !-e '/usr/lib/nginx/modules/ngx_http_mj_module.so', 'no module';
ok !-e '/usr/bin/mj' && !-e '/usr/bin/mjctl', 'no tools';
ok -f '/etc/nginx/mj/users', 'the conffiles stay until a purge';
($rc, $out) = sh('/usr/sbin/nginx -t');
is $rc, 0, 'nginx -t after the remove' or diag $out;

($rc, $out) = sh("apt-get purge -y -q @pkgs");
is $rc, 0, 'apt-get purge' or diag $out;
is_deeply [glob('/etc/nginx/modules-enabled/*mod-http-mj*')], [],
    'no module link left, not even a .removed one';
ok !-e '/etc/nginx/mj', 'no /etc/nginx/mj';
ok !-e '/var/lib/nginx/mj', 'no /var/lib/nginx/mj';
ok !installed($_), "$_ is gone" for @pkgs;
($rc, $out) = sh('/usr/sbin/nginx -t');
is $rc, 0, 'nginx -t after the purge' or diag $out;

done_testing;
