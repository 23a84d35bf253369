package Test::Nginx::Socket;

# Fallback implementation of Test::Nginx::Socket (openresty/test-nginx) for
# ngx_mj, used ONLY when the real module is not installed (the Makefile adds
# -I t/runner to prove in that case).  Test files must run unchanged under
# the real tool, so this implements the real tool's documented behaviour,
# test names and subtest counts, and refuses (dies naming the block) on any
# section, section filter or mode it does not implement.
# See t/runner/README.md.

use strict;
use warnings;

use Test::Base -base;
use Test::Base::Filter ();

our $VERSION = '0.29_ngx_mj_fallback';

use POSIX qw( EAGAIN EINTR EWOULDBLOCK WNOHANG );
use Encode ();
use Time::HiRes qw( sleep time );
use List::Util qw( min );
use IO::Select ();
use IO::Socket::INET ();
use IO::Socket::UNIX ();
use Socket qw( SOCK_STREAM SOCK_DGRAM );
use File::Temp ();
use Digest::MD5 ();
use Digest::SHA ();
use HTTP::Response ();
use Test::LongString qw( is_string );

use Test::Nginx::Util;

our @EXPORT = qw( env_to_nginx is_str plan run_tests run_test
  repeat_each config_preamble worker_connections
  master_process_enabled
  no_long_string workers master_on master_off
  log_level no_shuffle no_root_location use_hup
  server_name
  server_addr server_root html_dir server_port server_port_for_client
  timeout no_nginx_manager check_accum_error_log
  add_block_preprocessor bail_out add_cleanup_handler
  add_response_body_check
);

$RunTestHelper = \&run_test_helper;
$CheckErrorLog = \&check_error_log;
$CheckShutdownErrorLog = \&check_shutdown_error_log;

our @ResponseBodyChecks;

sub add_response_body_check ($) {
    push @ResponseBodyChecks, shift;
}

sub set_http_config_filter ($) {
    $FilterHttpConfig = shift;
}

# ---------------------------------------------------------------------------
# what this runner understands
# ---------------------------------------------------------------------------

our %KnownSections = map { $_ => 1 } qw(
    config http_config main_config post_main_config server_name
    error_log_file log_level user_files init

    request request_eval raw_request pipelined_requests more_headers
    raw_request_middle_delay timeout abort shutdown server_addr_for_client

    error_code error_code_like response_body response_body_eval
    response_body_like response_body_unlike response_body_filters charset
    response_headers response_headers_like raw_response_headers_like
    raw_response_headers_unlike ignore_response http09

    error_log no_error_log grep_error_log grep_error_log_out access_log
    no_access_log shutdown_error_log no_shutdown_error_log wait

    must_die reload_fails no_check_leak

    skip_nginx skip_nginx2 skip_eval skip_openssl skip_slave todo todo_nginx

    ONLY SKIP LAST

    tcp_listen tcp_reply tcp_reply_delay tcp_query tcp_query_len
    tcp_no_close tcp_shutdown tcp_shutdown_delay
);

our %RefusedSections = (
    stap            => 'systemtap tracing',
    stap_out        => 'systemtap tracing',
    stap_out_like   => 'systemtap tracing',
    stap_out_unlike => 'systemtap tracing',
    http2           => 'HTTP/2 requests (via curl)',
    http3           => 'HTTP/3 requests (via curl)',
    quic_max_idle_timeout => 'HTTP/3 requests (via curl)',
    curl            => 'curl command generation',
    curl_options    => 'HTTP/2 and HTTP/3 requests via curl',
    curl_protocol   => 'HTTP/2 and HTTP/3 requests via curl',
    curl_error      => 'HTTP/2 and HTTP/3 requests via curl',
    udp_listen      => 'the embedded UDP server',
    udp_reply       => 'the embedded UDP server',
    udp_reply_delay => 'the embedded UDP server',
    udp_query       => 'the embedded UDP server',
);

# block object keys that are not sections
our %BlockInternal = map { $_ => 1 } qw(
    name description seq_num is_filtered blocks_object original_values
);

# Test::Base filters ("--- section FILTER ...") we implement
our %KnownFilters = map { $_ => 1 } qw( norm trim chomp chop eval );

sub runner_die ($$) {
    my ($name, $msg) = @_;
    $msg = "$name - $msg (Test::Nginx fallback runner, t/runner)";
    Test::More::fail($msg);
    die "$msg\n";
}

sub check_filters () {
    my $obj = Test::Base::default_object();
    my @global = (@{ $obj->_filters }, map { ref $_ ? @$_ : $_ }
                  values %{ $obj->_filters_map });
    for my $block (@{ $obj->block_list }) {
        my $name = "$0 " . $block->name;
        my $map = $block->{_section_map} ? $block->{_section_map}[0] : {};
        for my $sec (sort keys %$map) {
            my $str = $map->{$sec}{filters} // '';
            for my $f (@global, split /\s+/, $str) {
                next if !defined $f || $f eq '';
                (my $base = $f) =~ s/^[-+]//;
                $base =~ s/=.*//s;
                next if $KnownFilters{$base};
                no strict 'refs';
                next if defined &{"main::$base"};
                runner_die($name, "--- $sec: section filter/option \"$f\" "
                           . "is not supported; supported: "
                           . join(' ', sort keys %KnownFilters)
                           . " (or a filter function defined in the test file)");
            }
        }
    }
}

{
    # hash tie used while block preprocessors run, to learn which custom
    # sections they consume
    package Test::Nginx::Socket::TrackHash;

    sub TIEHASH  { my ($c, $data, $read) = @_; bless { d => $data, r => $read }, $c }
    sub FETCH    { $_[0]{r}{$_[1]} = 1; $_[0]{d}{$_[1]} }
    sub STORE    { $_[0]{d}{$_[1]} = $_[2] }
    sub EXISTS   { $_[0]{r}{$_[1]} = 1; exists $_[0]{d}{$_[1]} }
    sub DELETE   { delete $_[0]{d}{$_[1]} }
    sub CLEAR    { %{ $_[0]{d} } = () }
    sub FIRSTKEY { my $a = keys %{ $_[0]{d} }; each %{ $_[0]{d} } }
    sub NEXTKEY  { each %{ $_[0]{d} } }
    sub SCALAR   { scalar %{ $_[0]{d} } }
}

sub run_preprocessors ($) {
    my $block = shift;
    my %read;
    $block->{__tn_consumed} = \%read;
    return if !@Test::Nginx::Util::BlockPreprocessors;

    my %data = %$block;
    tie %$block, 'Test::Nginx::Socket::TrackHash', \%data, \%read;
    my $ok = eval {
        for my $hdl (@Test::Nginx::Util::BlockPreprocessors) {
            $hdl->($block);
        }
        1;
    };
    my $err = $@;
    untie %$block;
    %$block = %data;
    $block->{__tn_consumed} = \%read;
    die $err if !$ok;
}

sub value_of ($$) {
    my ($block, $sec) = @_;
    return undef if !exists $block->{$sec};
    my @v = @{ $block->{$sec} || [] };
    return $v[0];
}

sub check_block ($) {
    my $block = shift;
    my $name = $block->name;
    my $consumed = delete $block->{__tn_consumed} || {};

    for my $sec (sort keys %$block) {
        next if $sec =~ /^_/ || $BlockInternal{$sec};
        if (my $what = $RefusedSections{$sec}) {
            runner_die($name, "section \"--- $sec\" ($what) is not supported");
        }
        next if $KnownSections{$sec};
        next if $consumed->{$sec};
        runner_die($name, "unknown section \"--- $sec\": not implemented "
                   . "(and not consumed by a block preprocessor)");
    }

    my $has = sub { defined value_of($block, $_[0]) };

    # combinations where the real tool silently ignores one side
    my @pairs = (
        [qw(response_body response_body_like)],
        [qw(response_body response_body_unlike)],
        [qw(response_body_eval response_body_like)],
        [qw(response_body_eval response_body_unlike)],
        [qw(response_body response_body_eval)],
        [qw(response_body_like response_body_unlike)],
        [qw(response_headers response_headers_like)],
        [qw(error_code error_code_like)],
        [qw(raw_request request)],
        [qw(raw_request pipelined_requests)],
        [qw(raw_request more_headers)],
        [qw(pipelined_requests request)],
        [qw(request_eval request)],
        [qw(skip_nginx skip_nginx2)],
    );
    for my $p (@pairs) {
        if ($has->($p->[0]) && $has->($p->[1])) {
            runner_die($name, "both \"--- $p->[0]\" and \"--- $p->[1]\" are "
                       . "given; the real Test::Nginx silently ignores one of them");
        }
    }

    if (defined value_of($block, 'no_shutdown_error_log')
        && !defined value_of($block, 'shutdown_error_log'))
    {
        runner_die($name, "\"--- no_shutdown_error_log\" without "
                   . "\"--- shutdown_error_log\" is silently ignored by the real "
                   . "Test::Nginx; add a --- shutdown_error_log section");
    }

    if (defined value_of($block, 'grep_error_log_out')
        && !defined value_of($block, 'grep_error_log'))
    {
        runner_die($name, "--- grep_error_log_out without --- grep_error_log");
    }
    if (defined value_of($block, 'grep_error_log')
        && !defined value_of($block, 'grep_error_log_out'))
    {
        runner_die($name, "--- grep_error_log without --- grep_error_log_out");
    }

    my @response_checks = qw(
        error_code error_code_like response_body response_body_eval
        response_body_like response_body_unlike response_headers
        response_headers_like raw_response_headers_like
        raw_response_headers_unlike response_body_filters charset
        access_log no_access_log
    );

    if (exists $block->{must_die}) {
        for my $sec (@response_checks, qw(pipelined_requests raw_request
                     timeout abort wait init shutdown_error_log
                     tcp_listen))
        {
            if (exists $block->{$sec}) {
                runner_die($name, "\"--- $sec\" is ignored by the real "
                           . "Test::Nginx in a --- must_die block");
            }
        }
    }

    if (exists $block->{ignore_response}) {
        for my $sec (@response_checks) {
            next if $sec eq 'access_log' || $sec eq 'no_access_log';
            if (exists $block->{$sec}) {
                runner_die($name, "\"--- $sec\" is ignored by the real "
                           . "Test::Nginx together with --- ignore_response");
            }
        }
    }

    if (exists $block->{tcp_listen}
        && !exists $block->{tcp_reply} && !exists $block->{tcp_shutdown})
    {
        runner_die($name, "no --- tcp_reply specified but --- tcp_listen is specified");
    }
    for my $sec (qw(tcp_reply tcp_query tcp_query_len tcp_reply_delay tcp_no_close
                    tcp_shutdown tcp_shutdown_delay))
    {
        if (exists $block->{$sec} && !exists $block->{tcp_listen}) {
            runner_die($name, "--- $sec without --- tcp_listen");
        }
    }

    # value types
    my %scalar_only = map { $_ => 1 } qw(
        config http_config main_config post_main_config server_name
        error_log_file log_level init timeout raw_request_middle_delay
        server_addr_for_client must_die wait charset skip_nginx skip_nginx2
        skip_eval skip_openssl skip_slave todo todo_nginx tcp_listen
        tcp_reply_delay tcp_query_len
        tcp_shutdown tcp_shutdown_delay request_eval
    );
    my %may_be_array = map { $_ => 1 } qw(
        request raw_request more_headers error_code error_code_like
        response_body_like response_body_unlike response_headers
        response_headers_like raw_response_headers_like
        raw_response_headers_unlike grep_error_log grep_error_log_out
        response_body_eval user_files
    );
    my %may_be_regex_or_array = map { $_ => 1 } qw(
        response_body error_log no_error_log access_log no_access_log
        shutdown_error_log no_shutdown_error_log grep_error_log
        grep_error_log_out response_body_like response_body_unlike
        tcp_query
    );

    for my $sec (sort keys %$block) {
        next if $sec =~ /^_/ || $BlockInternal{$sec} || !$KnownSections{$sec};
        my $v = value_of($block, $sec);
        next if !ref $v;
        my $r = ref $v;
        next if $r eq 'ARRAY' && ($may_be_array{$sec} || $may_be_regex_or_array{$sec});
        next if $r eq 'Regexp' && $may_be_regex_or_array{$sec};
        next if $sec eq 'pipelined_requests' && $r eq 'ARRAY';
        next if $sec eq 'response_body_filters' && ($r eq 'ARRAY' || $r eq 'CODE');
        next if $sec eq 'tcp_reply'
                && ($r eq 'ARRAY' || $r eq 'CODE');
        runner_die($name, "--- $sec: a $r value is not supported for this section");
    }

    # the real tool expands $TEST_NGINX_* only in config, http_config,
    # main_config, post_main_config and user_files
    for my $sec (qw(request raw_request pipelined_requests more_headers
                    response_body response_body_like response_body_unlike
                    response_headers response_headers_like error_log
                    no_error_log grep_error_log_out))
    {
        my $v = value_of($block, $sec);
        next if !defined $v;
        for my $x (ref $v eq 'ARRAY' ? @$v : ($v)) {
            next if !defined $x || ref $x;
            if ($x =~ /(\$TEST_NGINX_[A-Z0-9_]+)/) {
                warn "WARNING: $name - --- $sec contains $1, which Test::Nginx "
                     . "does not expand in this section (only in config, "
                     . "http_config, main_config, post_main_config, user_files)\n";
                last;
            }
        }
    }

    if (exists $block->{pipelined_requests}
        && ref value_of($block, 'pipelined_requests') ne 'ARRAY')
    {
        runner_die($name, "invalid entries in --- pipelined_requests "
                   . "(must be an ARRAY, use --- pipelined_requests eval)");
    }

    if (defined(my $t = value_of($block, 'timeout'))) {
        my $tt = parse_time($t);
        if ($tt !~ /^\s*\d+(?:\.\d*)?\s*$/ && $tt !~ /^\s*\.\d+\s*$/) {
            runner_die($name, "--- timeout: bad value \"$t\"");
        }
    }
}

# ---------------------------------------------------------------------------
# Test::Base filter class: the real "eval" filter silently turns a Perl
# error into the section value; here it fails loudly.
# ---------------------------------------------------------------------------

{
    package Test::Base::Filter;
    # compiled under strict/warnings in Test::Base::Filter, as the real one
    sub _ngx_mj_fallback_eval { return CORE::eval($_[0]) }
}

{
    package Test::Nginx::Socket::Filter;
    our @ISA = ('Test::Base::Filter');

    sub eval {
        my $self = shift;
        $self->assert_scalar(@_);
        my @ret = Test::Base::Filter::_ngx_mj_fallback_eval($_[0]);
        if ($@) {
            my $err = $@;
            my $block = $self->current_block;
            my $name = $block ? "$0 " . $block->name : $0;
            (my $code = $_[0] // '') =~ s/\s+/ /g;
            $code = substr($code, 0, 60) . '...' if length $code > 60;
            Test::Nginx::Socket::runner_die($name,
                "the \"eval\" filter failed on \"$code\": $err");
        }
        return @ret;
    }
}

# ---------------------------------------------------------------------------
# skip / todo
# ---------------------------------------------------------------------------

sub version_cmp_ok ($$$) {
    my ($have, $op, $want) = @_;
    return $op eq '<'  ? $have <  $want
         : $op eq '<=' ? $have <= $want
         : $op eq '>'  ? $have >  $want
         : $op eq '>=' ? $have >= $want
         : die "bad version operator $op\n";
}

sub compute_skip ($) {
    my $block = shift;
    my $name = $block->name;
    my ($n, $skip, $reason);

    if (defined(my $se = $block->skip_eval)) {
        if ($se =~ /^\s*(\d+)\s*:\s*(.*)/s) {
            ($n, $reason) = ($1, 'skip_eval');
            my $code = $2;
            $skip = eval $code;
            runner_die($name, "skip_eval - failed to eval the Perl code "
                       . "\"$code\": $@") if $@;
        } else {
            runner_die($name, "Invalid --- skip_eval spec: $se");
        }
    }

    if (defined(my $sn = $block->skip_nginx)) {
        if ($sn =~ m{^ \s* (\d+) \s* : \s* ([<>]=?) \s* (\d+)\.(\d+)\.(\d+)
                     (?: \s* : \s* (.*) )? \s*$}x)
        {
            $n = $1;
            my ($op, $ver) = ($2, get_canon_version($3, $4, $5));
            $reason = $6 || "nginx version $2 $3.$4.$5";
            $skip = 1 if version_cmp_ok($NginxVersion, $op, $ver);
        } else {
            runner_die($name, "Invalid --- skip_nginx spec: $sn");
        }

    } elsif (defined(my $sn2 = $block->skip_nginx2)) {
        if ($sn2 =~ m{^ \s* (\d+) \s* : \s*
                      ([<>]=?) \s* (\d+)\.(\d+)\.(\d+) \s* (or|and) \s*
                      ([<>]=?) \s* (\d+)\.(\d+)\.(\d+)
                      (?: \s* : \s* (.*) )? \s*$}x)
        {
            $n = $1;
            my $a = version_cmp_ok($NginxVersion, $2, get_canon_version($3, $4, $5));
            my $b = version_cmp_ok($NginxVersion, $7, get_canon_version($8, $9, $10));
            $reason = $11;
            $skip = 1 if ($6 eq 'or' ? ($a || $b) : ($a && $b));
        } else {
            runner_die($name, "Invalid --- skip_nginx2 spec: $sn2");
        }

    } elsif (defined(my $ss = $block->skip_slave)) {
        if ($ss =~ m{^ \s* (\d+) \s* : \s* (\w+) \s* (?: (\w+) \s* )?
                     (?: (\w+) \s* )? (?: \s* : \s* (.*) )? \s*$}x)
        {
            if (defined $Test::Nginx::Util::BuildSlaveName) {
                my $me = $Test::Nginx::Util::BuildSlaveName;
                $n = $1;
                $reason = $5;
                $skip = 1 if grep { defined $_ && ($_ eq 'all' || $_ eq $me) }
                                  ($2, $3, $4);
            }
        } else {
            runner_die($name, "Invalid --- skip_slave spec: $ss");
        }
    }

    if (defined(my $so = $block->skip_openssl)) {
        if ($so =~ m{^ \s* (\d+) \s* : \s* ([<>]=?) \s*
                     (\d+)\.(\d+)\.(\d+)([a-z])? (?: \s* : \s* (.*) )? \s*$}x)
        {
            $n = $1;
            my $op = $2;
            my $ver = Test::Nginx::Util::get_canon_version_for_OpenSSL($3, $4, $5, $6);
            my $ossl = $Test::Nginx::Util::OpenSSLVersion;
            $reason = $7 || (defined $ossl
                             ? "OpenSSL version $op $3.$4.$5" . ($6 // '')
                             : "Not built with OpenSSL");
            $skip = 1 if !defined $ossl || version_cmp_ok($ossl, $op, $ver);
        } else {
            runner_die($name, "Invalid --- skip_openssl spec: $so");
        }
    }

    $reason //= "various reasons";
    return ($n, $skip, $reason);
}

sub compute_todo ($) {
    my $block = shift;
    my $name = $block->name;
    my ($todo, $reason, $n);

    if (defined(my $tn = $block->todo_nginx)) {
        if ($tn =~ m{^ \s* ([<>]=?) \s* (\d+)\.(\d+)\.(\d+)
                     (?: \s* : \s* (.*) )? \s*$}x)
        {
            $reason = $5;
            $todo = 1 if version_cmp_ok($NginxVersion, $1,
                                        get_canon_version($2, $3, $4));
        } else {
            runner_die($name, "Invalid --- todo_nginx spec: $tn");
        }
    }

    if (defined(my $t = $block->todo)) {
        if ($t =~ /^\s*(\d+)\s*:\s*(.*)/s) {
            ($todo, $n, $reason) = (1, $1, $2);
        } else {
            runner_die($name, "Invalid --- todo spec: $t");
        }
    }

    if ($todo && !defined $n) {
        runner_die($name, "--- todo_nginx needs a --- todo or --- skip_* "
                   . "count (the real tool would todo_skip an undefined count)")
            if !defined $block->todo;
    }

    $reason //= "various reasons";
    return ($todo, $reason, $n);
}

# ---------------------------------------------------------------------------
# embedded TCP server (tcp_listen)
# ---------------------------------------------------------------------------

sub start_mock_servers ($) {
    my $block = shift;
    my $name = $block->name;
    my %s;

    if (defined(my $target = $block->tcp_listen)) {
        my $req_len = $block->tcp_query_len;
        if (defined $block->tcp_query || defined $req_len) {
            $req_len //= length $block->tcp_query;
            (undef, $s{tcp_query_file}) = File::Temp::tempfile(
                'ngx-tcpq-XXXXXXXX', TMPDIR => 1, UNLINK => 1);
        }

        my $sock;
        my $deadline = time + 10;
        while (1) {
            if ($target =~ /^\d+$/) {
                $sock = IO::Socket::INET->new(
                    LocalHost => '127.0.0.1', LocalPort => $target,
                    Proto => 'tcp', ReuseAddr => 1, Listen => 5);
            } elsif ($target =~ /\S+\.sock$/) {
                unlink $target if -e $target;
                $sock = IO::Socket::UNIX->new(
                    Local => $target, Type => SOCK_STREAM, Listen => 5);
            } else {
                runner_die($name, "bad tcp_listen target: $target");
            }
            last if $sock;
            last if $! !~ /address already in use/i || time > $deadline;
            sleep 0.1;
        }
        $sock or die "$name - failed to create the tcp listening socket "
                     . "on $target: $!\n";
        $s{tcp_socket} = $sock;
        $s{tcp_target} = $target;

        my $pid = fork();
        die "$name - fork() failed: $!\n" if !defined $pid;
        if ($pid == 0) {
            $Test::Nginx::Util::InSubprocess = 1;
            tcp_server_child($block, $sock, $req_len, $s{tcp_query_file});
            POSIX::_exit(0);
        }
        $Test::Nginx::Util::TcpServerPid = $s{tcp_pid} = $pid;
    }

    return \%s;
}

sub reply_list ($$$) {
    my ($name, $reply, $query) = @_;
    if (ref $reply eq 'CODE') {
        $reply = $reply->($query);
    }
    return () if !defined $reply;
    return @$reply if ref $reply eq 'ARRAY';
    die "$name - bad reply value: " . ref($reply) . "\n" if ref $reply;
    return ($reply);
}

sub tcp_server_child ($$$$) {
    my ($block, $sock, $req_len, $qfile) = @_;
    my $name = $block->name;
    my $client;
    while (!($client = $sock->accept())) {
        sleep 0.01;
    }
    my ($no_read, $no_write);
    if (defined(my $how = $block->tcp_shutdown)) {
        if (my $d = parse_time($block->tcp_shutdown_delay)) {
            sleep $d;
        }
        shutdown($client, $how);
        if ($how == 0 || $how == 2) { $no_read = 1 }
        if ($how == 1 || $how == 2) { $no_write = 1 }
    }

    my $buf = '';
    unless ($no_read) {
        while (1) {
            my $n = sysread $client, my $b, 65536;
            last if !$n;
            $buf .= $b;
            if ($qfile && open my $out, '>', $qfile) {
                binmode $out;
                print $out $buf;
                close $out;
            }
            last if !$req_len || length($buf) >= $req_len;
        }
    }

    if (my $d = parse_time($block->tcp_reply_delay)) {
        sleep $d;
    }

    unless ($no_write) {
        local $SIG{PIPE} = 'IGNORE';
        for my $r (reply_list($name, $block->tcp_reply, $buf)) {
            my $off = 0;
            while ($off < length $r) {
                my $w = syswrite $client, $r, length($r) - $off, $off;
                last if !defined $w;
                $off += $w;
            }
        }
    }

    if (defined $block->tcp_no_close) {
        sleep 1 while 1;
    }
    close $client;
}

sub finish_mock_servers ($$) {
    my ($block, $s) = @_;
    my $name = $block->name;
    return if !$s;

    if ($s->{tcp_socket}) {
        my $buf = '';
        if ($s->{tcp_query_file}) {
            $buf = Test::Nginx::Util::slurp($s->{tcp_query_file});
        }
        if (defined $block->tcp_query) {
            is_str($buf, $block->tcp_query, "$name - tcp_query ok");
        }
        if (defined $block->tcp_query_len) {
            Test::More::is(length($buf), $block->tcp_query_len,
                           "$name - TCP query length ok");
        }
    }

}

sub stop_mock_servers ($) {
    my $s = shift;
    return if !$s;
    for my $k (qw(tcp_pid)) {
        if (my $pid = $s->{$k}) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
        }
    }
    undef $Test::Nginx::Util::TcpServerPid;
    close $s->{tcp_socket} if $s->{tcp_socket};
    unlink $s->{tcp_target} if $s->{tcp_target} && $s->{tcp_target} =~ /\.sock$/;
    unlink $s->{tcp_query_file} if $s->{tcp_query_file};
}

# ---------------------------------------------------------------------------
# building requests
# ---------------------------------------------------------------------------

sub parse_more_headers ($) {
    my $in = shift // '';
    my $out = '';
    my $is_chunked;
    for my $header (split /\n+/, $in) {
        next if $header =~ /^\s*#/;
        my ($key, $val) = split /:\s*/, $header, 2;
        $val //= '';
        if (lc($key) eq 'transfer-encoding' && $val eq 'chunked') {
            $is_chunked = 1;
        }
        $out .= "$key: $val\r\n";
    }
    return ($out, $is_chunked);
}

sub rtrim_ws_inplace {
    my $e = length $_[0];
    $e-- while $e > 0 && substr($_[0], $e - 1, 1) =~ /\s/;
    substr($_[0], $e) = '' if $e < length $_[0];
}

# Turns "METH [URI [VER]]\n[body]" (split into packets) into a full HTTP/1.x
# request: Host and Connection headers are added unless given, the body is
# trimmed and gets a Content-Length unless chunked or given.  Packet
# boundaries are kept (shifted by the inserted/removed text).
sub build_request ($$$$$) {
    my ($name, $hdr, $is_chunked, $conn, $packets) = @_;

    my $orig = join '', map { $_ // '' } @$packets;
    my $nl = index $orig, "\n";
    my $first = $nl < 0 ? $orig : substr($orig, 0, $nl + 1);
    if ($first eq '') {
        runner_die($name, "Request line should be non-empty");
    }
    my ($lead, $meth, $url, $ver);
    if ($first =~ /^(\s*)(\S+)( *)((\S+)( *))?((\S+)( *))?(\s*)$/) {
        ($lead, $meth, $url, $ver) = (length $1, $2, $5, $8);
    } else {
        runner_die($name, "Request line is not valid. Should be 'meth [url "
                   . "[version]]' but got \"$first\".");
    }
    $url //= '/';
    $ver //= 'HTTP/1.1';
    my $L = length $first;

    my $body = $L < length $orig ? substr($orig, $L) : '';
    my $len_header = '';
    if (!$is_chunked && $body ne '' && $hdr !~ /(?:^|\n)Content-Length:/) {
        $body =~ s/^\s+//;
        rtrim_ws_inplace($body);
        $len_header = "Content-Length: " . length($body) . "\r\n";
    }

    $hdr =~ s/(?<!\r)\n/\r\n/g;
    my $headers = '';
    $headers .= "Host: $ServerName\r\n" if $hdr !~ /(?:^|\n)Host:/i;
    $headers .= "Connection: $conn\r\n" if $hdr !~ /(?:^|\n)Connection/i;
    $headers .= "$hdr$len_header\r\n";

    my $reqline = "$meth $url $ver\r\n";
    my $head = $reqline . $headers;

    if (@$packets <= 1) {
        return [$head . $body];
    }

    my @bounds;
    my $acc = 0;
    for my $i (0 .. $#$packets - 1) {
        $acc += length($packets->[$i] // '');
        my $b;
        if ($acc < $L) {
            $b = $acc - $lead;
            $b = 0 if $b < 0;
            $b = length($reqline) if $b > length($reqline);
        } else {
            $b = length($head) + min($acc - $L, length $body);
        }
        $b = $bounds[-1] if @bounds && $b < $bounds[-1];
        push @bounds, $b;
    }

    my $all = $head . $body;
    my @out;
    my $prev = 0;
    for my $b (@bounds, length $all) {
        push @out, substr($all, $prev, $b - $prev);
        $prev = $b;
    }
    return \@out;
}

sub headers_for ($$$) {
    my ($name, $more_headers, $i) = @_;
    if (ref $more_headers eq 'ARRAY') {
        my $h = $more_headers->[$i];
        runner_die($name, "--- more_headers lacks data for the ${i}th request")
            if !defined $h;
        return parse_more_headers($h);
    }
    return parse_more_headers($more_headers);
}

# returns [ request, ... ]; each request is [ {value => .., delay_before => ..}, ... ]
sub get_req_from_block ($) {
    my $block = shift;
    my $name = $block->name;
    my @reqs;

    if (defined(my $raw = $block->raw_request)) {
        if (ref $raw eq 'ARRAY') {
            for my $e (@$raw) {
                runner_die($name, "--- raw_request eval: array elements must be strings")
                    if ref $e;
            }
            push @reqs, [ map { { value => $_ } } @$raw ];
        } else {
            push @reqs, [ { value => $raw } ];
        }
        return \@reqs;
    }

    my $request;
    if (defined $block->request_eval) {
        Test::More::diag("$name - request_eval DEPRECATED. Use request eval instead.");
        $request = eval $block->request_eval;
        runner_die($name, "--- request_eval failed: $@") if $@;
    } else {
        $request = $block->request;
        if (defined $request && !ref $request) {
            # leading comment lines and blanks (anchored: cheap on 30 MB)
            1 while $request =~ s/\A(?:\s*\#[^\n]+\s+|\s+)//;
        }
    }

    my $more_headers = $block->more_headers || '';

    if (my $reqs = $block->pipelined_requests) {
        my $prq = '';
        for my $i (0 .. $#$reqs) {
            my $conn = $i == $#$reqs ? 'close' : 'keep-alive';
            my ($hdr, $chunked) = headers_for($name, $more_headers, $i);
            my $r = build_request($name, $hdr, $chunked, $conn, [ $reqs->[$i] ]);
            $prq .= $r->[0];
        }
        push @reqs, [ { value => $prq } ];
        return \@reqs;
    }

    if (!defined $request) {
        runner_die($name, "no --- request, --- raw_request or "
                   . "--- pipelined_requests section");
    }

    if (!ref $request) {
        my ($hdr, $chunked) = headers_for($name, $more_headers, 0);
        my $r = build_request($name, $hdr, $chunked, 'close', [ $request ]);
        push @reqs, [ { value => $r->[0] } ];

    } elsif (ref $request eq 'ARRAY') {
        my $i = 0;
        for my $one (@$request) {
            my ($hdr, $chunked) = headers_for($name, $more_headers, $i);
            if (!ref $one) {
                my $r = build_request($name, $hdr, $chunked, 'close', [ $one ]);
                push @reqs, [ { value => $r->[0] } ];

            } elsif (ref $one eq 'ARRAY') {
                my @packets;
                for my $p (@$one) {
                    if (!ref $p) {
                        push @packets, { value => $p };
                    } elsif (ref $p eq 'HASH') {
                        for my $k (keys %$p) {
                            runner_die($name, "request packet key \"$k\" not "
                                       . "supported (value, delay_before)")
                                if $k ne 'value' && $k ne 'delay_before';
                        }
                        push @packets, { %$p };
                    } else {
                        runner_die($name, "Invalid syntax. $p should be a "
                                   . "string or hash with value.");
                    }
                }
                my $t = build_request($name, $hdr, $chunked, 'close',
                                      [ map { $_->{value} } @packets ]);
                for my $k (0 .. $#packets) {
                    $packets[$k]{value} = $t->[$k];
                }
                push @reqs, \@packets;

            } else {
                runner_die($name, "Invalid syntax. $one should be a string "
                           . "or an array of packets.");
            }
            $i++;
        }

    } else {
        runner_die($name, "invalid --- request: MUST be string or array of requests");
    }

    return \@reqs;
}

# ---------------------------------------------------------------------------
# the HTTP client
# ---------------------------------------------------------------------------

our $TotalConnectingTimeouts = 0;

sub send_request ($$$$) {
    my ($req, $middle_delay, $timeout, $block) = @_;
    my $name = $block->name;

    my @bits = @$req;
    my $prefix = '';
    for my $b (@bits) {
        $prefix .= substr($b->{value} // '', 0, 16);
        last if length $prefix >= 16;
    }
    my $head_req = $prefix =~ /^\s*HEAD\s+/ ? 1 : 0;

    my $addr = $block->server_addr_for_client // $ServerAddr;
    my $port = $ServerPortForClient;

    my $sock;
    my $tries = 0;
    my $total_tries = $TotalConnectingTimeouts ? 20 : 50;
    while (1) {
        $sock = IO::Socket::INET->new(
            PeerAddr => $addr,
            PeerPort => $port,
            Proto    => 'tcp',
            Timeout  => $timeout,
        );
        last if $sock;
        my $err = "$!";
        $tries++;
        my $child_gone;
        if (defined $Test::Nginx::Util::ChildPid) {
            $child_gone = waitpid($Test::Nginx::Util::ChildPid, WNOHANG) != 0;
        } elsif ($addr eq $ServerAddr && $port == $ServerPort) {
            # a daemonized nginx listens before its start command returns:
            # if it is gone, retrying cannot help
            my $pid = Test::Nginx::Util::read_pid_if_any();
            $child_gone = !$pid || !is_running($pid);
        }
        if ($tries > $total_tries || $child_gone) {
            $TotalConnectingTimeouts++;
            Test::More::fail("$name - Can't connect to $addr:$port: $err (aborted)\n");
            if ($child_gone) {
                Test::More::diag(Test::Nginx::Util::tail_file(
                    $Test::Nginx::Util::ErrLogFile, 20));
            }
            return (undef, $head_req);
        }
        my $s = sleep_time();
        my $wait = ($s + $s * $tries) * $tries / 2;
        $wait = 1 if $wait > 1;
        if ($wait >= 0.6) {
            warn "$name - Can't connect to $addr:$port: $err\n"
                 . "\tRetry connecting after $wait sec\n";
        }
        sleep $wait;
    }

    $sock->blocking(0);
    binmode $sock;
    local $SIG{PIPE} = 'IGNORE';

    my $resp = '';
    my $write_err;
    my $cur = shift @bits;
    my $buf = $cur->{value} // '';
    my $off = 0;
    my $writing = 1;

    my $sel_r = IO::Select->new($sock);
    my $sel_w = IO::Select->new($sock);

    my $finish_write = sub {
        $writing = 0;
        if (defined(my $how = $block->shutdown)) {
            $how = 1 if $how =~ /^\s*$/s;
            shutdown($sock, $how);
        }
    };

  LOOP:
    while (1) {
        $! = 0;
        my ($r, $w) = IO::Select->select($sel_r, $writing ? $sel_w : undef,
                                         undef, $timeout);
        if (!$r && !$w) {
            next LOOP if $! == EINTR;
            close $sock;
            if (!defined $block->abort) {
                Test::More::fail("ERROR: client socket timed out - $name\n");
            } else {
                sleep 0.005;
            }
            last LOOP;
        }

        if ($r && @$r) {
            while (1) {
                my $n = sysread $sock, my $chunk, 1 << 20;
                if (!defined $n) {
                    last if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
                    warn "WARNING: $name - HTTP response read failure: $!\n";
                    close $sock;
                    last LOOP;
                }
                if ($n == 0) {
                    close $sock;
                    last LOOP;
                }
                $resp .= $chunk;
            }
        }

        if ($writing && $w && @$w) {
          WRITE:
            while (1) {
                my $rest = length($buf) - $off;
                if ($rest > 0) {
                    my $n = syswrite $sock, $buf, ($rest > (1 << 20) ? 1 << 20 : $rest), $off;
                    if (!defined $n) {
                        last WRITE if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
                        $write_err = "write failed: $!";
                        warn "$write_err\n";
                        # keep reading: the server may have answered early
                        $writing = 0;
                        last WRITE;
                    }
                    $off += $n;
                    next WRITE;
                }
                $cur = shift @bits;
                if (!defined $cur) {
                    $finish_write->();
                    last WRITE;
                }
                $buf = $cur->{value} // '';
                $off = 0;
                my $wait = defined $cur->{delay_before} ? $cur->{delay_before}
                                                        : $middle_delay;
                sleep $wait if $wait;
            }
        }
    }

    if ($resp eq '' && defined $write_err) {
        $resp = $write_err;
    }

    return ($resp, $head_req);
}

# ---------------------------------------------------------------------------
# responses
# ---------------------------------------------------------------------------

sub parse_response ($$$) {
    my ($name, $raw, $head_req) = @_;

    my ($left, $raw_headers) = (undef, '');
    if ($raw =~ /(.*?\r\n)\r\n/s) {
        $raw_headers = $1;
    }

    my ($head, $body);
    if ($raw =~ /\r?\n\r?\n/g) {
        my $e = pos $raw;
        $head = substr($raw, 0, $e);
        $body = substr($raw, $e);
    } else {
        ($head, $body) = ($raw, '');
    }

    my $res = HTTP::Response->parse($head);
    $res->content($body);

    my $code = $res->code;
    if (defined $code && $code !~ /^\d+$/) {
        undef $code;
        $res->code(undef);
    }

    if ($code && ($code == 304 || $code == 101)) {
        return ($res, $raw_headers);
    }

    my $enc = $res->header('Transfer-Encoding');
    my $len = $res->header('Content-Length');

    if (defined $enc && $enc eq 'chunked') {
        my $decoded = '';
        pos($body) = 0;
        while (1) {
            if ($body =~ /\G0[ \t]*\r\n\r\n/gc) {
                if ($body =~ /\G(.+)/gcs) {
                    $left = $1;
                }
                last;
            }
            if ($body =~ /\G[ \t]*([A-Fa-f0-9]+)[ \t]*\r\n/gc) {
                my $size = hex $1;
                my $p = pos $body;
                if (length($body) - $p < $size) {
                    Test::More::fail("$name - invalid chunked data received "
                                     . "(not enought octets for the data section)");
                    return;
                }
                $decoded .= substr($body, $p, $size);
                pos($body) = $p + $size;
                if ($body !~ /\G\r\n/gc) {
                    Test::More::fail("$name - invalid chunked data received (expected CRLF).");
                    return;
                }
            } elsif ($body =~ /\G(.+)/gcs) {
                Test::More::fail("$name - invalid chunked body received: $1");
                return;
            } else {
                Test::More::fail("$name - no last chunk found - $body");
                return;
            }
        }
        $res->content($decoded);

    } elsif (defined $len && $len ne '' && $len =~ /^\d+$/) {
        if (length $body < $len) {
            if (!$head_req) {
                warn "WARNING: $name - response body truncated: $len expected, "
                     . "but got " . length($body) . "\n";
            }
        } elsif (length $body > $len) {
            $left = substr($body, $len);
            $res->content(substr($body, 0, $len));
        }
    }

    return ($res, $raw_headers, $left);
}

sub get_indexed_value ($$$$) {
    my ($name, $value, $req_idx, $need_array) = @_;
    if ($need_array) {
        if (ref $value && ref $value eq 'ARRAY') {
            return $value->[$req_idx];
        }
        runner_die($name, "You asked for many requests, the expected results "
                   . "should be arrays as well.");
    }
    if (ref $value && ref $value eq 'ARRAY') {
        return $value->[0];
    }
    return $value;
}

sub skipped ($$) {
    my ($msg, $dry_run) = @_;
    SKIP: {
        Test::More::skip("$msg - tests skipped due to $dry_run", 1);
    }
}

sub check_error_code ($$$$$) {
    my ($block, $res, $dry_run, $req_idx, $need_array) = @_;
    my $name = $block->name;
    return skipped($name, $dry_run) if $dry_run;

    my $got = ($res && $res->code) || '';
    if (defined $block->error_code_like) {
        my $val = get_indexed_value($name, $block->error_code_like, $req_idx, $need_array);
        Test::More::like($got, qr/$val/sm, "$name - status code ok");
    } elsif (defined $block->error_code) {
        Test::More::is($got, get_indexed_value($name, $block->error_code,
                                               $req_idx, $need_array),
                       "$name - status code ok");
    } else {
        Test::More::is($got, 200, "$name - status code ok");
    }
}

sub check_raw_response_headers ($$$$$) {
    my ($block, $raw_headers, $dry_run, $req_idx, $need_array) = @_;
    my $name = $block->name;
    if (defined $block->raw_response_headers_like) {
        if ($dry_run) {
            skipped("$name - raw_response_headers_like", $dry_run);
        } else {
            my $e = get_indexed_value($name, $block->raw_response_headers_like,
                                      $req_idx, $need_array);
            Test::More::like($raw_headers, qr/$e/s, "$name - raw resp headers like");
        }
    }
    if (defined $block->raw_response_headers_unlike) {
        if ($dry_run) {
            skipped("$name - raw_response_headers_unlike", $dry_run);
        } else {
            my $e = get_indexed_value($name, $block->raw_response_headers_unlike,
                                      $req_idx, $need_array);
            Test::More::unlike($raw_headers, qr/$e/s, "$name - raw resp headers unlike");
        }
    }
}

sub check_response_headers ($$$$$$) {
    my ($block, $res, $raw_headers, $dry_run, $req_idx, $need_array) = @_;
    my $name = $block->name;

    if (defined $block->response_headers) {
        my $headers = parse_headers(get_indexed_value(
            $name, $block->response_headers, $req_idx, $need_array));
        for my $kv (@$headers) {
            my ($key, $val) = @$kv;
            if (!defined $val) {
                if ($dry_run) {
                    skipped("$name - response_headers", $dry_run);
                } else {
                    Test::More::unlike($raw_headers, qr/^\s*\Q$key\E\s*:/ms,
                                       "$name - header $key not present in the raw headers");
                }
                next;
            }
            $val =~ s/\$ServerPort\b/$ServerPort/g;
            $val =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            my $actual = $res ? $res->header($key) : undef;
            $actual //= '';
            if ($dry_run) {
                skipped("$name - response_headers", $dry_run);
            } else {
                Test::More::is($actual, $val, "$name - header $key ok");
            }
        }

    } elsif (defined $block->response_headers_like) {
        my $headers = parse_headers(get_indexed_value(
            $name, $block->response_headers_like, $req_idx, $need_array));
        for my $kv (@$headers) {
            my ($key, $val) = @$kv;
            $val //= '';
            my $actual = $res ? $res->header($key) : undef;
            $actual //= '';
            if ($dry_run) {
                skipped("$name - response_headers_like", $dry_run);
            } else {
                Test::More::like($actual, qr/^$val$/, "$name - header $key like ok");
            }
        }
    }
}

sub run_filter_helper ($$$) {
    my ($block, $filter, $content) = @_;
    my $name = $block->name;
    if (ref $filter eq 'CODE') {
        return $filter->($content);
    }
    if (!ref $filter) {
        return Digest::MD5::md5_hex($content) if $filter eq 'md5_hex';
        return Digest::SHA::sha1_hex($content) if $filter eq 'sha1_hex';
        return uc $content if $filter eq 'uc';
        return lc $content if $filter eq 'lc';
        return ucfirst $content if $filter eq 'ucfirst';
        return lcfirst $content if $filter eq 'lcfirst';
        return length $content if $filter eq 'length';
        runner_die($name, "unknown filter, \"$filter\", specified in the "
                   . "--- response_body_filters section");
    }
    runner_die($name, "the --- response_body_filters section only supports "
               . "subroutine reference values and string values");
}

sub transform_response_body ($$$) {
    my ($block, $res, $req_idx) = @_;
    return if !defined $res;
    my $content = $res->content;
    return if !defined $content;
    my $name = $block->name;
    my $filters = $block->response_body_filters;
    return if !defined $filters;

    if (!ref $filters) {
        $filters =~ s/^\s+|\s+$//gs;
        $filters = [ split /\s+/, $filters ];
    } elsif (ref $filters ne 'ARRAY') {
        $filters = [ $filters ];
    }

    my $filter = $filters;
    if (ref $filters->[0] eq 'ARRAY') {
        for my $e (@$filters) {
            runner_die($name, "the --- response_body_filters two-dimensional "
                       . "array only be like [[uc], [lc]] not [[uc], lc]")
                if ref $e ne 'ARRAY';
        }
        $filter = $filters->[$req_idx];
        runner_die($name, "the ---response_body_filters two-dimensional array "
                   . "unmatch the specified request($req_idx)") if !defined $filter;
    }

    my $new = $content;
    for my $f (ref $filter eq 'ARRAY' ? @$filter : ($filter)) {
        $new = run_filter_helper($block, $f, $new);
    }
    $res->content($new);
}

sub check_response_body ($$$$$$) {
    my ($block, $res, $dry_run, $req_idx, $repeated_req_idx, $need_array) = @_;
    my $name = $block->name;

    if (defined $block->response_body || defined $block->response_body_eval) {
        my $content = $res ? $res->content : undef;
        if (defined $content) {
            $content =~ s/^TE: deflate,gzip;q=0\.3\r\n//gms;
            $content =~ s/^Connection: TE, close\r\n//gms;
        }

        my $expected;
        if (defined $block->response_body_eval) {
            Test::More::diag("$name - response_body_eval is DEPRECATED. Use "
                             . "response_body eval instead.");
            $expected = eval get_indexed_value($name, $block->response_body_eval,
                                               $req_idx, $need_array);
            runner_die($name, "--- response_body_eval failed: $@") if $@;
        } else {
            $expected = get_indexed_value($name, $block->response_body,
                                          $req_idx, $need_array);
        }

        if (my $cs = $block->charset) {
            Encode::from_to($expected, 'UTF-8', $cs) if defined $expected && !ref $expected;
        }

        if (defined $expected && !ref $expected) {
            $expected =~ s/\$ServerPort\b/$ServerPort/g;
            $expected =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
        }

        if ($dry_run) {
            skipped("$name - response_body", $dry_run);
        } elsif (ref $expected) {
            Test::More::like($content, $expected,
                "$name - response_body - like (repeated req $repeated_req_idx, req $req_idx)");
        } elsif ($NoLongString) {
            Test::Base::is($content, $expected,
                "$name - response_body - response is expected (repeated req $repeated_req_idx, req $req_idx)");
        } else {
            is_string($content, $expected,
                "$name - response_body - response is expected (repeated req $repeated_req_idx, req $req_idx)");
        }

    } elsif (defined $block->response_body_like || defined $block->response_body_unlike) {
        my ($patterns, $type, $cmp);
        if (defined $block->response_body_like) {
            ($patterns, $type, $cmp) = ($block->response_body_like, 'like', \&Test::More::like);
        } else {
            ($patterns, $type, $cmp) = ($block->response_body_unlike, 'unlike', \&Test::More::unlike);
        }
        my $content = $res ? $res->content : undef;
        if (defined $content) {
            $content =~ s/^TE: deflate,gzip;q=0\.3\r\n//gms;
            $content =~ s/^Connection: TE, close\r\n//gms;
        }
        my $pat = get_indexed_value($name, $patterns, $req_idx, $need_array);
        if (!ref $pat) {
            $pat =~ s/\$ServerPort\b/$ServerPort/g;
            $pat =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
        }
        my $summary = trim($content) // '';
        if ($dry_run) {
            skipped("$name - response_body_$type", $dry_run);
        } else {
            $cmp->($content, qr/$pat/s,
                   "$name - response_body_$type - response is expected ($summary)");
        }
    }

    for my $check (@ResponseBodyChecks) {
        $check->($block, $res ? $res->content : undef, $req_idx,
                 $repeated_req_idx, $dry_run);
    }
}

# ---------------------------------------------------------------------------
# log checks
# ---------------------------------------------------------------------------

sub value_contains ($$);
sub value_contains ($$) {
    my ($val, $pat) = @_;
    if (!ref $val || ref $val eq 'Regexp') {
        return $val =~ /\Q$pat\E/;
    }
    if (ref $val eq 'ARRAY') {
        for my $v (@$val) {
            return 1 if value_contains($v, $pat);
        }
    }
    return undef;
}

sub fmt_str ($) {
    my $s = shift;
    chomp $s;
    $s =~ s/"/\\"/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;
    return $s;
}

sub pattern_list ($) {
    my $pats = shift;
    if (!ref $pats) {
        chomp $pats;
        return [ split /\n+/, $pats ];
    }
    return [ $pats ] if ref $pats eq 'Regexp';
    return [ @$pats ];
}

sub line_matches ($$) {
    my ($line, $pat) = @_;
    return (ref $pat && $line =~ /$pat/) || $line =~ /\Q$pat\E/;
}

# must-appear patterns: one subtest per pattern
sub check_must_match ($$$$$) {
    my ($name, $pats, $lines, $dry_run, $what) = @_;
    my ($file, $suffix) = @$what;
    $pats = pattern_list($pats);
    for my $line (@$lines) {
        for my $pat (@$pats) {
            next if !defined $pat;
            if (line_matches($line, $pat)) {
                if ($dry_run) {
                    skipped("$name - $file", $dry_run);
                } else {
                    Test::More::pass("$name - pattern \"$pat\" matches a line in $file$suffix");
                }
                undef $pat;
            }
        }
    }
    for my $pat (@$pats) {
        next if !defined $pat;
        if ($dry_run) {
            skipped("$name - $file", $dry_run);
        } else {
            Test::More::fail("$name - pattern \"$pat\" should match a line in $file$suffix");
        }
    }
}

# must-not-appear patterns: one subtest per pattern (the real tool emits one
# failure per matching line; here all matching lines go into one failure)
sub check_must_not_match ($$$$$) {
    my ($name, $pats, $lines, $dry_run, $what) = @_;
    my ($file, $suffix) = @$what;
    $pats = pattern_list($pats);
    for my $pat (@$pats) {
        next if !defined $pat;
        my @hits;
        for my $i (0 .. $#$lines) {
            push @hits, $i if line_matches($lines->[$i], $pat);
        }
        my $p = fmt_str($pat);
        if ($dry_run) {
            skipped("$name - no_$file", $dry_run);
        } elsif (@hits) {
            my $i = $hits[0];
            my $ln = fmt_str($lines->[$i]);
            my @more = @$lines[$i + 1 .. min($i + 9, $#$lines)];
            Test::More::fail("$name - pattern \"$p\" should not match any line in "
                             . "$file but matches line \"$ln\"$suffix\n" . join '', @more);
            if (@hits > 1) {
                Test::More::diag(scalar(@hits) . " lines matched \"$p\":\n"
                                 . join '', map { $lines->[$_] } @hits[0 .. min(19, $#hits)]);
            }
        } else {
            Test::More::pass("$name - pattern \"$p\" does not match a line in $file$suffix");
        }
    }
}

sub check_error_log ($$$$$) {
    my ($block, $res, $dry_run, $repeated_req_idx, $need_array) = @_;
    my $name = $block->name;
    my $lines;
    my %warn_for = ('[alert]' => 1, '[crit]' => 1, '[emerg]' => 1);

    my $grep_pats = $block->grep_error_log;
    if (defined $grep_pats) {
        my $grep_pat = ref $grep_pats eq 'ARRAY' ? $grep_pats->[$repeated_req_idx]
                                                 : $grep_pats;
        if (defined $grep_pat) {
            my $expected = $block->grep_error_log_out;
            if (ref $expected eq 'ARRAY') {
                $expected = $expected->[$repeated_req_idx];
            }
            if ($dry_run) {
                skipped("$name - error_log", $dry_run);
            } else {
                $lines ||= error_log_data();
                my $matched = '';
                for my $line (@$lines) {
                    if ((ref $grep_pat && $line =~ /$grep_pat/) || $line =~ /\Q$grep_pat\E/) {
                        my $m = $&;
                        $matched .= "$m\n" if $m !~ /\n/;
                    }
                }
                my $desc = "$name - grep_error_log_out (req $repeated_req_idx)";
                if (ref $expected eq 'Regexp') {
                    Test::More::like($matched, $expected, $desc);
                } elsif ($NoLongString) {
                    Test::Base::is($matched, $expected, $desc);
                } else {
                    is_string($matched, $expected, $desc);
                }
            }
        }
    }

    if (defined(my $pats = $block->error_log)) {
        for my $k (keys %warn_for) {
            delete $warn_for{$k} if value_contains($pats, substr($k, 0, -1));
        }
        $lines ||= error_log_data();
        check_must_match($name, $pats, $lines, $dry_run,
                         [ 'error.log', " (req $repeated_req_idx)" ]);
    }

    if (defined(my $pats = $block->no_error_log)) {
        for my $k (keys %warn_for) {
            delete $warn_for{$k} if value_contains($pats, substr($k, 0, -1));
        }
        $lines ||= error_log_data();
        check_must_not_match($name, $pats, $lines, $dry_run,
                             [ 'error.log', " (req $repeated_req_idx)" ]);
    }

    if (!$dry_run && %warn_for) {
        $lines ||= error_log_data();
        for my $line (@$lines) {
            for my $k (sort keys %warn_for) {
                if (index($line, $k) >= 0) {
                    warn "WARNING: $name - " . fmt_str($line) . "\n";
                    last;
                }
            }
        }
    }

    for my $line (@{ $lines || [] }) {
        if ($line =~ /\bAssertion .*?failed\b/) {
            (my $l = $line) =~ s/\n\z//;
            Test::More::fail("$name - $l\n");
        }
    }
}

sub check_access_log ($$$) {
    my ($block, $dry_run, $repeated_req_idx) = @_;
    my $name = $block->name;
    my $lines;
    if (defined(my $pats = $block->access_log)) {
        $lines ||= access_log_data();
        check_must_match($name, $pats, $lines, $dry_run,
                         [ 'access.log', " (req $repeated_req_idx)" ]);
    }
    if (defined(my $pats = $block->no_access_log)) {
        $lines ||= access_log_data();
        check_must_not_match($name, $pats, $lines, $dry_run,
                             [ 'access.log', " (req $repeated_req_idx)" ]);
    }
}

sub check_shutdown_error_log ($$) {
    my ($block, $dry_run) = @_;
    my $name = $block->name;
    my $lines;

    if (defined(my $pats = $block->no_shutdown_error_log)) {
        $lines ||= error_log_data();
        check_must_not_match($name, $pats, $lines, $dry_run, [ 'error.log', '' ]);
    }

    $lines ||= error_log_data();
    check_must_match($name, $block->shutdown_error_log, $lines, $dry_run,
                     [ 'error.log', '' ]);

    for my $line (@$lines) {
        if ($line =~ /\bAssertion .*? failed\.$/) {
            (my $l = $line) =~ s/\n\z//;
            Test::More::fail("$name - $l");
        }
    }
}

# ---------------------------------------------------------------------------
# one repetition of one block
# ---------------------------------------------------------------------------

sub run_test_helper ($$$) {
    my ($block, $dry_run, $repeated_req_idx) = @_;
    my $name = $block->name;

    my $reqs = get_req_from_block($block);
    runner_die($name, "request empty") if !@$reqs;

    my $timeout = parse_time($block->timeout);
    $timeout = timeout() if !defined $timeout;

    my $middle_delay = parse_time($block->raw_request_middle_delay);
    my $wait = parse_time($block->wait);

    my ($res, $n, $need_array);
    my $req_idx = 0;

    for my $one_req (@$reqs) {
        my ($raw_resp, $head_req);
        if ($dry_run) {
            $raw_resp = "200 OK HTTP/1.0\r\nContent-Length: 0\r\n\r\n";
        } else {
            ($raw_resp, $head_req) = send_request($one_req, $middle_delay,
                                                  $timeout, $block);
        }

        if ($block->pipelined_requests) {
            $n = @{ $block->pipelined_requests };
            $need_array = 1;
        } else {
            $need_array = @$reqs > 1;
        }

      AGAIN: {
            $raw_resp //= '';
            my ($raw_headers, $left);

            if (!defined $block->ignore_response) {
                if (defined $block->http09) {
                    $res = HTTP::Response->new(200, "OK", [], $raw_resp);
                    $raw_headers = '';
                } else {
                    ($res, $raw_headers, $left) = parse_response($name, $raw_resp, $head_req);
                }
            }

            if (!$n) {
                if (defined $left && length $left) {
                    (my $l = $left) =~ s/([\0-\037\200-\377])/sprintf('\x{%02x}', ord $1)/eg;
                    warn "WARNING: $name - unexpected extra bytes after last "
                         . "chunk in response: \"$l\"\n";
                }
            } else {
                $raw_resp = $left;
                $n--;
            }

            if (!defined $block->ignore_response) {
                check_error_code($block, $res, $dry_run, $req_idx, $need_array);
                check_raw_response_headers($block, $raw_headers, $dry_run,
                                           $req_idx, $need_array);
                check_response_headers($block, $res, $raw_headers, $dry_run,
                                       $req_idx, $need_array);
                transform_response_body($block, $res, $req_idx);
                check_response_body($block, $res, $dry_run, $req_idx,
                                    $repeated_req_idx, $need_array);
            }

            if ($n || $req_idx < @$reqs - 1) {
                sleep $wait if $wait;
                check_error_log($block, $res, $dry_run, $repeated_req_idx, $need_array);
                if (!defined $block->ignore_response) {
                    check_access_log($block, $dry_run, $repeated_req_idx);
                }
            }

            $req_idx++;
            redo AGAIN if $n;
        }
    }

    sleep $wait if $wait;

    check_error_log($block, $res, $dry_run, $repeated_req_idx, $need_array);
    if (!defined $block->ignore_response) {
        check_access_log($block, $dry_run, $repeated_req_idx);
    }
}

1;
__END__

=head1 NAME

Test::Nginx::Socket - ngx_mj's fallback implementation of openresty's
Test::Nginx::Socket data-driven test format (see t/runner/README.md)

=cut
