package MJTest;

# Shared fixtures of the ngx_mj suite: a users file and an upstream keys
# file with fixed demo users, written once per test file into a folder
# outside servroot, and defaults for Test::Nginx blocks.
#
#     use Test::Nginx::Socket 'no_plan';
#     use lib 't/lib';
#     use MJTest;
#     add_block_preprocessor(\&MJTest::defaults);
#
# Config sections then use $TEST_NGINX_MJ_DIR (users, keys, state/), the
# ownership zone "mj", the upstream
# "mjsim" (the simulated upstream, started by MJSim) and the keys below.

use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use File::Temp ();
use Exporter 'import';
use JSON::PP ();
use MJSim;

# MJTest's own helpers, and MJSim's passed on
our @EXPORT = (qw(%KEY mj_write_users mj_users_text mj_keys_text mj_dir
                  mj_module mj_status_conf mj_zone_status mj_user_status
                  mj_key_leaks),
              @MJSim::EXPORT);

# client keys of the demo users
our %KEY = (
    alice => 'mj-alice-0123456789abcdef',
    bob   => 'mj-bob-0123456789abcdef',
    carol => 'mj-carol-0123456789abcdef',   # disabled
    dave  => 'mj-dave-0123456789abcdef',    # upstream key the sim refuses
    erin  => 'mj-erin-0123456789abcdef',    # upstream key as mj-api-secret
);

# a loopback port nothing listens on, for "upstream down"
$ENV{TEST_NGINX_DEAD_PORT} //= do {
    require IO::Socket::INET;
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0) or die $!;
    my $p = $s->sockport;
    close $s;
    $p;
};

our $DIR = File::Temp::tempdir('mj-test-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $DIR;
$ENV{TEST_NGINX_MJ_DIR} = $DIR;

sub mj_dir { $DIR }

sub mj_module {
    my ($root) = MJSim::sim_root();
    return "$root/build/ngx_http_mj_module.so";
}

sub mj_users_text {
    my (@skip) = @_;
    my %skip = map { $_ => 1 } @skip;
    my @lines = ("# name  sha256(key)  upstream-key  [settings]");
    push @lines, "alice " . sha256_hex($KEY{alice}) . " main" unless $skip{alice};
    push @lines, "bob "   . sha256_hex($KEY{bob})   . " main" unless $skip{bob};
    push @lines, "carol " . sha256_hex($KEY{carol}) . " main disabled"
        unless $skip{carol};
    push @lines, "dave "  . sha256_hex($KEY{dave})  . " refused" unless $skip{dave};
    push @lines, "erin "  . sha256_hex($KEY{erin})  . " header" unless $skip{erin};
    return join("\n", @lines) . "\n";
}

sub mj_keys_text {
    my $up = $ENV{TEST_NGINX_MJ_UPSTREAM_KEY};
    return "main $up upstream=mjsim\n"
         . "refused sk-refused-by-upstream-42 upstream=mjsim\n"
         . "header $up header=mj-api-secret upstream=mjsim\n";
}

sub _write {
    my ($path, $text, $mode) = @_;
    my $tmp = "$path.tmp$$";
    open my $fh, '>', $tmp or die "$tmp: $!";
    print {$fh} $text;
    close $fh or die "$tmp: $!";
    chmod $mode, $tmp;
    rename $tmp, $path or die "rename $tmp: $!";
}

sub mj_write_users {
    my ($text) = @_;
    _write("$DIR/users", $text // mj_users_text(), 0644);
}

_write("$DIR/keys", mj_keys_text(), 0600);
mj_write_users();

our $HTTP_CONFIG = <<'_EOC_';
    mj_users $TEST_NGINX_MJ_DIR/users;
    mj_upstream_keys $TEST_NGINX_MJ_DIR/keys;
    mj_zone zone=mj:1m state=$TEST_NGINX_MJ_DIR/state/mj.state;

    upstream mjsim {
        server 127.0.0.1:$TEST_NGINX_SIM_PORT;
        keepalive 4;
    }
_EOC_

# a gateway location in front of "mjsim", and /sim/ for the simulated
# upstream's control endpoints (reset, seen, last, requests, mode, config)
our $LOC = <<'_EOC_';
    location /mj/ {
        mj_gateway zone=mj;
        proxy_pass http://mjsim;
    }
    location /sim/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SIM_PORT/_sim/;
    }
_EOC_

# for MJNginx: a gateway location in front of "mjsim" with the directives
# given, and /status with the zone's counters (the same directives, so that
# the limits it shows are the gateway's)
sub mj_status_conf {
    my ($directives) = @_;
    $directives //= '';
    return <<"_EOC_";
        location /mj/ {
            mj_gateway zone=mj;
            $directives
            proxy_pass http://mjsim;
        }
        location = /status {
            mj_gateway off;
            $directives
            mj_status zone=mj;
        }
_EOC_
}

# what /status of mj_status_conf says of the zone, or of one user
sub mj_zone_status {
    my ($ng) = @_;
    return JSON::PP::decode_json($ng->get('/status')->{content})->{zones}[0];
}

sub mj_user_status {
    my ($ng, $name) = @_;
    my $all = JSON::PP::decode_json($ng->get('/status')->{content});
    my ($u) = grep { $_->{name} eq $name } @{ $all->{users} };
    return $u;
}

# Every key the suite uses: the users', the upstream's.  What the docs
# promise (docs/operator-guide.md, Logging): none of them in any line at
# info or above, but for nginx's own "client sent ..." lines at info, which
# quote a malformed request header whole.
our @SECRETS = (values %KEY, $ENV{TEST_NGINX_MJ_UPSTREAM_KEY},
                'sk-refused-by-upstream-42');

our $LEAK = do {
    my $keys = join '|', map { quotemeta } @SECRETS;
    qr/^(?!.*\[info\][ ]\d+\#\d+:[ ](?:\*\d+[ ])?client[ ]sent[ ])
       .*\[(?:info|notice|warn|error|crit|alert|emerg)\]
       .*(?:$keys)/x;
};

# the lines of a log text that break that promise
sub mj_key_leaks {
    my ($text) = @_;
    return grep { /$LEAK/ } split /\n/, $text // '';
}

# Blocks get the users, keys and the "mjsim" upstream unless they say
# otherwise, and log at info: nginx logs request headers (keys included)
# at debug, which the leak checks must not see.  Every block that starts
# nginx checks its log for keys.
sub defaults {
    my ($block) = @_;

    if (!defined $block->http_config) {
        $block->set_value('http_config', $HTTP_CONFIG);
    }

    if (!defined $block->log_level) {
        $block->set_value('log_level', 'info');
    }

    if (!defined $block->must_die) {
        my $pats = $block->no_error_log;
        my @pats = ref $pats eq 'ARRAY' ? @$pats
                 : defined $pats ? grep { length } split /\n/, $pats
                 : ();
        $block->set_value('no_error_log', [@pats, $LEAK]);
    }
}

1;
