package Test::Nginx::Util;

# Fallback implementation of Test::Nginx::Util (openresty/test-nginx) for
# ngx_mj.  Used ONLY when the real Test::Nginx is not installed.  It keeps
# the real tool's file format, config layout, environment variables and test
# names; everything it does not implement is refused loudly.
# See t/runner/README.md.

use strict;
use warnings;

our $VERSION = '0.29_ngx_mj_fallback';
our $IsFallback = 1;

use base 'Exporter';

use POSIX qw( SIGQUIT SIGKILL SIGTERM SIGHUP SIGUSR1 WNOHANG );
use File::Spec ();
use File::Path qw( make_path remove_tree );
use File::Find ();
use File::Temp ();
use List::Util qw( shuffle );
use Time::HiRes qw( sleep time );
use IO::Socket::INET ();
use IO::Select ();
use Scalar::Util qw( looks_like_number );
use Carp qw( croak );
use Test::More ();

# the valgrind options and log checks the suite shares (t/lib)
use File::Basename ();
use lib File::Basename::dirname(__FILE__) . '/../../../lib';
use MJValgrind ();

sub refuse ($) {
    my $what = shift;
    die "Test::Nginx fallback runner (t/runner): $what is not implemented "
        . "by this runner; install the real Test::Nginx (openresty/test-nginx) "
        . "to use it.\n";
}

# ---------------------------------------------------------------------------
# testing modes we refuse up front
# ---------------------------------------------------------------------------

for my $env (qw( TEST_NGINX_CHECK_LEAK TEST_NGINX_BENCHMARK
                 TEST_NGINX_USE_STAP TEST_NGINX_USE_RR TEST_NGINX_USE_HTTP2
                 TEST_NGINX_USE_HTTP3 TEST_NGINX_NO_NGINX_MANAGER ))
{
    if ($ENV{$env}) {
        refuse("the environment $env=$ENV{$env}");
    }
}

our $Verbose        = $ENV{TEST_NGINX_VERBOSE};
our $UseHup         = $ENV{TEST_NGINX_USE_HUP};
our $UseValgrind    = $ENV{TEST_NGINX_USE_VALGRIND};
our $NoShuffle      = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $Timeout        = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $CheckAccumErrLog = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
our $EventType      = $ENV{TEST_NGINX_EVENT_TYPE};
our $PostponeOutput = $ENV{TEST_NGINX_POSTPONE_OUTPUT};
our $ReusePort      = $ENV{TEST_NGINX_REUSE_PORT};
our $LoadModules    = $ENV{TEST_NGINX_LOAD_MODULES};
our $Randomize      = $ENV{TEST_NGINX_RANDOMIZE};
our $BuildSlaveName = $ENV{TEST_NGINX_BUILDSLAVE};
our $WorkerUser     = $ENV{TEST_NGINX_WORKER_USER};

# never enabled here; kept so code written against the real module compiles
our $CheckLeak = 0;
our $Benchmark = 0;
our $BenchmarkWarmup = 0;
our $UseStap = 0;
our $NoNginxManager = 0;

if (defined $WorkerUser && $WorkerUser !~ /^\w+(?:\s+\w+)?$/) {
    die "Bad value in the env TEST_NGINX_WORKER_USER: $WorkerUser\n";
}

if ($UseHup && $UseValgrind) {
    refuse("TEST_NGINX_USE_HUP combined with TEST_NGINX_USE_VALGRIND");
}

our $ServerAddr = '127.0.0.1';
our $ServerName = 'localhost';

our $NoLongString;
our $FirstTime = 1;
our $ConfigVersion;
our $FilterHttpConfig;
our $RepeatEach = 1;
our $Workers = 1;
our $WorkerConnections = 64;
our $LogLevel = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcessEnabled = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $DaemonEnabled = 'on';
our $ServerPort = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
our $ServerPortForClient = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort || 1984;
our $NoRootLocation = 0;
our $TestNginxSleep = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $ForceRestartOnTest = defined $ENV{TEST_NGINX_FORCE_RESTART_ON_TEST}
                          ? $ENV{TEST_NGINX_FORCE_RESTART_ON_TEST} : 1;
our $ConfigPreamble = '';

our (@CleanupHandlers, @BlockPreprocessors, @EnvToNginx);
our ($RunTestHelper, $CheckErrorLog, $CheckShutdownErrorLog);
our ($NginxVersion, $NginxRawVersion, $OpenSSLVersion, $NginxConfigureArgs);
our ($PrevConfig, $PrevBlock, $ErrLogFilePos);
our ($ChildPid, $TcpServerPid, $UdpServerPid, $InSubprocess);
our @ExtraErrLogLines;       # nginx stderr lines merged into must_die checks
our $ShuffleSeed;

our $NginxBinary = $ENV{TEST_NGINX_BINARY}
                   || (can_run('nginx') ? 'nginx' : '/usr/sbin/nginx');

our @RandStrAlphabet = ('A' .. 'Z', 'a' .. 'z', '0' .. '9',
                        '#', '@', '-', '_', '^');

if ($Randomize) {
    my $port = gen_rand_port(1000);
    if (!defined $port) {
        die "Cannot find an available listening port number after 1000 attempts.\n";
    }
    $ServerPort = $ServerPortForClient = $port;
}

if ($UseValgrind) {
    $DaemonEnabled = 'off';
}

our $ServRoot;
if ($Randomize) {
    $ServRoot = File::Spec->rel2abs("t/servroot_" . $ServerPort);
} else {
    $ServRoot = $ENV{TEST_NGINX_SERVROOT} || File::Spec->rel2abs('t/servroot');
}
$ServRoot =~ s{/+$}{};
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;

our $LogDir     = File::Spec->catfile($ServRoot, 'logs');
our $ErrLogFile = File::Spec->catfile($LogDir, 'error.log');
our $AccLogFile = File::Spec->catfile($LogDir, 'access.log');
our $HtmlDir    = File::Spec->catfile($ServRoot, 'html');
our $ConfDir    = File::Spec->catfile($ServRoot, 'conf');
our $ConfFile   = File::Spec->catfile($ConfDir, 'nginx.conf');
our $PidFile    = File::Spec->catfile($LogDir, 'nginx.pid');

our @EXPORT = qw(
    env_to_nginx is_str check_accum_error_log is_running
    $NoLongString no_long_string $ServerAddr server_addr $ServerName
    server_name parse_time $UseStap verbose sleep_time bail_out
    add_cleanup_handler access_log_data error_log_data setup_server_root
    write_config_file get_canon_version get_nginx_version trim
    show_all_chars parse_headers run_tests run_test get_pid_from_pidfile
    $ServerPortForClient $ServerPort $NginxVersion $PidFile $ServRoot
    $ConfFile $RunTestHelper $CheckErrorLog $CheckShutdownErrorLog
    $FilterHttpConfig $NoNginxManager $RepeatEach $CheckLeak $Benchmark
    $BenchmarkWarmup add_block_preprocessor timeout worker_connections
    workers master_on master_off config_preamble repeat_each
    master_process_enabled log_level no_shuffle no_root_location html_dir
    server_root server_port server_port_for_client no_nginx_manager
    use_hup refuse
);

# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------

sub can_run {
    my $cmd = shift;
    if ($cmd =~ m{/}) {
        return (-f $cmd && -x $cmd) ? $cmd : undef;
    }
    for my $dir (split /:/, ($ENV{PATH} // '')) {
        next if $dir eq '';
        my $abs = "$dir/$cmd";
        return $abs if -f $abs && -x $abs;
    }
    return undef;
}

sub shq ($) {
    my $s = shift;
    $s =~ s/'/'\\''/g;
    return "'$s'";
}

# a zombie is not "running"
sub is_running ($) {
    my $pid = shift;
    return 0 if !$pid;
    return 0 if !kill(0, $pid);
    if (open my $in, '<', "/proc/$pid/stat") {
        my $st = <$in>;
        close $in;
        if (defined $st && $st =~ /^\d+ \(.*\) (\S)/s) {
            return 0 if $1 eq 'Z' || $1 eq 'X';
        }
    }
    return 1;
}

sub gen_rand_str {
    my $len = shift;
    my $s = '';
    $s .= $RandStrAlphabet[int rand @RandStrAlphabet] for 1 .. $len;
    return $s;
}

sub gen_rand_port {
    my ($tries, $used) = @_;
    $tries //= 1000;
    $used //= {};
    for (1 .. $tries) {
        my $port = int(rand 63550) + 1985;
        next if $used->{$port};
        my $sock = IO::Socket::INET->new(
            LocalAddr => $ServerAddr,
            LocalPort => $port,
            Proto     => 'tcp',
            Listen    => 1,
        );
        if ($sock) {
            close $sock;
            return $port;
        }
    }
    return undef;
}

sub parse_time ($) {
    my $tm = shift;
    if (defined $tm) {
        if ($tm =~ s/([^_a-zA-Z])ms$/$1/) {
            $tm = $tm / 1000;
        } else {
            $tm =~ s/([^_a-zA-Z])s$/$1/;
        }
    }
    return $tm;
}

sub trim ($) {
    my $s = shift;
    return undef if !defined $s;
    $s =~ s/^\s+|\s+$//g;
    $s =~ s/\n/ /gs;
    $s =~ s/\s{2,}/ /gs;
    return $s;
}

sub show_all_chars ($) {
    my $s = shift;
    $s =~ s/\n/\\n/gs;
    $s =~ s/\r/\\r/gs;
    $s =~ s/\t/\\t/gs;
    return $s;
}

# "Name: value" lines; "!Name" means the header must be absent (value undef).
# Returns an array of [key, value] in file order (the real tool uses a hash).
sub parse_headers ($) {
    my $s = shift;
    my @headers;
    my %seen;
    for my $line (split /\n/, $s // '') {
        $line =~ s/^\s+|\s+$//g;
        my ($key, $val);
        if ($line =~ s/^!\s*//) {
            $key = $line;
        } else {
            ($key, $val) = split /\s*:\s*/, $line, 2;
            $key //= '';
        }
        if ($seen{$key}++) {
            # same key twice: later wins, like a hash
            @headers = grep { $_->[0] ne $key } @headers;
        }
        push @headers, [$key, $val];
    }
    return \@headers;
}

# ---------------------------------------------------------------------------
# exported configuration functions
# ---------------------------------------------------------------------------

sub no_long_string () { $NoLongString = 1 }

sub is_str (@) {
    my ($got, $expected, $desc) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    if (ref $expected && ref $expected eq 'Regexp') {
        return Test::More::like($got, $expected, $desc);
    }
    if ($NoLongString) {
        return Test::More::is($got, $expected, $desc);
    }
    require Test::LongString;
    return Test::LongString::is_string($got, $expected, $desc);
}

sub server_addr (@) {
    if (@_) { $ServerAddr = shift } else { return $ServerAddr }
}

sub server_name (@) {
    if (@_) { $ServerName = shift } else { return $ServerName }
}

sub timeout (@) {
    if (@_) { $Timeout = shift } else { return $Timeout }
}

sub verbose { $Verbose }
sub sleep_time { $TestNginxSleep }

sub no_shuffle () { $NoShuffle = 1 }
sub no_nginx_manager () { refuse("no_nginx_manager()") }
sub use_hup () {
    refuse("use_hup() combined with TEST_NGINX_USE_VALGRIND") if $UseValgrind;
    $UseHup = 1;
}

sub env_to_nginx (@) {
    croak "env_to_nginx: no arguments specified" if !@_;
    for my $v (@_) {
        if ($v !~ /^[A-Za-z_]/ || $v =~ /\n/) {
            croak "env_to_nginx: bad argument value: $v\n";
        }
        push @EnvToNginx, $v;
    }
}

sub server_port (@) {
    if (@_) { $ServerPort = shift } else { return $ServerPort }
}

sub server_port_for_client (@) {
    if (@_) { $ServerPortForClient = shift } else { return $ServerPortForClient }
}

sub repeat_each (@) {
    if (@_) { $RepeatEach = shift }
    return $RepeatEach;
}

sub worker_connections (@) {
    if (@_) { $WorkerConnections = shift } else { return $WorkerConnections }
}

sub no_root_location () { $NoRootLocation = 1 }

sub workers (@) {
    if (@_) { $Workers = shift } else { return $Workers }
}

sub log_level (@) {
    if (@_) { $LogLevel = shift } else { return $LogLevel }
}

sub check_accum_error_log () { $CheckAccumErrLog = 1 }

sub master_on () { $MasterProcessEnabled = 'on' }
sub master_off () { $MasterProcessEnabled = 'off' }

sub master_process_enabled (@) {
    if (@_) {
        $MasterProcessEnabled = shift() ? 'on' : 'off';
    } else {
        return $MasterProcessEnabled;
    }
}

sub config_preamble ($) { $ConfigPreamble = shift }

sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift }

sub add_cleanup_handler ($) { unshift @CleanupHandlers, shift }

sub html_dir () { $HtmlDir }
sub server_root () { $ServRoot }

sub bail_out (@) {
    cleanup();
    Test::More::BAIL_OUT(join '', @_);
}

# ---------------------------------------------------------------------------
# processes
# ---------------------------------------------------------------------------

sub wait_gone ($$) {
    my ($pid, $secs) = @_;
    my $deadline = time + $secs;
    my $step = 0.002;
    while (time < $deadline) {
        waitpid($pid, WNOHANG);
        return 1 if !is_running($pid);
        sleep $step;
        $step *= 1.5 if $step < 0.05;
    }
    waitpid($pid, WNOHANG);
    return !is_running($pid);
}

sub kill_process ($$$) {
    my ($pid, $wait, $name) = @_;
    return if !$pid;
    if ($wait) {
        kill SIGQUIT, $pid;
        return if wait_gone($pid, timeout());
        warn "$name - timeout when waiting for the process $pid to exit\n";
    }
    kill SIGTERM, $pid;
    return if wait_gone($pid, 1);
    warn "$name - WARNING: killing the child process $pid with force...\n";
    kill SIGKILL, $pid;
    wait_gone($pid, 5);
}

sub cleanup () {
    for my $hdl (@CleanupHandlers) {
        $hdl->();
    }
    for my $ref (\$UdpServerPid, \$TcpServerPid) {
        if (defined $$ref) {
            kill SIGKILL, $$ref;
            waitpid($$ref, 0);
            undef $$ref;
        }
    }
    if (defined $ChildPid) {
        kill_process($ChildPid, 1, "cleanup");
        undef $ChildPid;
    }
}

sub get_pid_from_pidfile ($) {
    my ($name) = @_;
    open my $in, '<', $PidFile
        or bail_out("$name - Failed to open the pid file $PidFile for reading: $!");
    my $pid = do { local $/; <$in> } // '';
    close $in;
    $pid =~ s/\s+//g;
    return $pid;
}

sub read_pid_if_any () {
    return undef if !-f $PidFile;
    open my $in, '<', $PidFile or return undef;
    my $pid = do { local $/; <$in> } // '';
    close $in;
    $pid =~ s/\s+//g;
    return $pid =~ /^\d+$/ ? $pid : undef;
}

sub child_pids ($) {
    my $ppid = shift;
    my @kids;
    opendir my $dh, '/proc' or return ();
    for my $d (readdir $dh) {
        next unless $d =~ /^\d+$/;
        open my $in, '<', "/proc/$d/stat" or next;
        my $st = <$in>;
        close $in;
        next unless defined $st && $st =~ /^\d+ \(.*\) \S (\d+)/s;
        push @kids, $d if $1 == $ppid;
    }
    closedir $dh;
    return @kids;
}

sub proc_title ($) {
    my $pid = shift;
    open my $in, '<', "/proc/$pid/cmdline" or return '';
    my $t = do { local $/; <$in> } // '';
    close $in;
    $t =~ s/\0+/ /g;
    return $t;
}

# is anything LISTENing on the TCP port?  (reads /proc, does not connect,
# so it leaves no trace in nginx's error log)
sub port_listening ($) {
    my $port = shift;
    my $hex = sprintf '%04X', $port;
    for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $in, '<', $f or next;
        while (<$in>) {
            my @f = split ' ';
            next unless @f > 3;
            if ($f[1] =~ /:$hex$/ && $f[3] eq '0A') {
                close $in;
                return 1;
            }
        }
        close $in;
    }
    return 0;
}

# ---------------------------------------------------------------------------
# logs
# ---------------------------------------------------------------------------

sub error_log_data () {
    # for logging in the log phase, after the server closed the connection
    sleep $TestNginxSleep * 3;

    my @lines;
    if (@ExtraErrLogLines) {
        push @lines, @ExtraErrLogLines;
        @ExtraErrLogLines = ();
    }

    open my $in, '<', $ErrLogFile or return \@lines;
    $ErrLogFilePos //= 0;
    if (!$CheckAccumErrLog && $ErrLogFilePos > 0) {
        seek $in, $ErrLogFilePos, 0;
    }
    push @lines, <$in>;
    if (!$CheckAccumErrLog) {
        $ErrLogFilePos = tell($in);
    }
    close $in;
    return \@lines;
}

sub access_log_data () {
    sleep $TestNginxSleep * 3;
    open my $in, '<', $AccLogFile or die "open $AccLogFile failed: $!\n";
    my @lines = <$in>;
    close $in;
    return \@lines;
}

sub tail_file ($$) {
    my ($file, $n) = @_;
    open my $in, '<', $file or return "(cannot open $file: $!)\n";
    my @lines = <$in>;
    close $in;
    splice @lines, 0, @lines - $n if @lines > $n;
    return join '', @lines;
}

# ---------------------------------------------------------------------------
# nginx version and build
# ---------------------------------------------------------------------------

sub get_canon_version (@) {
    sprintf "%d.%03d%03d", $_[0], $_[1], $_[2];
}

sub get_canon_version_for_OpenSSL (@) {
    if (defined $_[3]) {
        return sprintf "%d.%03d%03d%03d", $_[0], $_[1], $_[2],
                       ord($_[3]) - ord('a');
    }
    get_canon_version(@_);
}

sub get_nginx_version () {
    my $out = `$NginxBinary -V 2>&1`;
    if (!defined $out || $? != 0) {
        $out //= '';
        bail_out("Failed to get the version of the Nginx ($NginxBinary): $out");
    }
    if ($out =~ m{built with OpenSSL (\d+)\.(\d+)\.(\d+)([a-z])?}s) {
        $OpenSSLVersion = get_canon_version_for_OpenSSL($1, $2, $3, $4);
    }
    $NginxConfigureArgs = $out =~ /^configure arguments: (.*)$/m ? $1 : '';
    if ($out =~ m{(?:nginx|openresty)[^/]*/(\d+)\.(\d+)\.(\d+)}s
        || $out =~ m{\w+/(\d+)\.(\d+)\.(\d+)}s)
    {
        $NginxRawVersion = "$1.$2.$3";
        return get_canon_version($1, $2, $3);
    }
    bail_out("Failed to parse the output of \"nginx -V\": $out\n");
}

# ---------------------------------------------------------------------------
# servroot and config
# ---------------------------------------------------------------------------

sub expand_env_in_text ($$$) {
    my ($text, $name, $rand_ports) = @_;
    return undef if !defined $text;
    return $text if ref $text;

    my %used = ($ServerPort => 1, map { $_ => 1 } values %$rand_ports);

    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        my $val;
        if ($var =~ /^TEST_NGINX_RAND_PORT_[0-9]+$/) {
            if (!defined $rand_ports->{$var}) {
                my $p = gen_rand_port(1000, \%used);
                bail_out("$name - Cannot find an available listening port number for $var.\n")
                    if !defined $p;
                $rand_ports->{$var} = $p;
                $used{$p} = 1;
            }
            $val = $rand_ports->{$var};
        } else {
            if (!defined $ENV{$var}) {
                bail_out("$name - No environment $var defined.\n");
            }
            $val = $ENV{$var};
        }
        $val;
    }ge;

    return $text;
}

sub setup_server_root ($) {
    my $first_time = shift;

    if (-d $ServRoot) {
        # only remove what we create ourselves, so a mis-set
        # TEST_NGINX_SERVROOT cannot wipe real data
        remove_tree($ConfDir, glob("$ServRoot/*_cache"), glob("$ServRoot/*_temp"));

        if ($UseHup) {
            File::Find::find({ bydepth => 1, no_chdir => 1, wanted => sub {
                return if -d $_;
                if (/(?:\bnginx\.pid|\.sock|\.crt|\.key)$/) {
                    return unless $first_time;
                }
                unlink $_ or warn "Failed to remove $_: $!\n";
            }}, $ServRoot);

        } else {
            remove_tree($HtmlDir, $LogDir);
            rmdir $ServRoot
                or bail_out("Can't remove $ServRoot (not empty?): $!");
        }
    }

    for my $d ($ServRoot, $LogDir, $HtmlDir) {
        if (!-d $d) {
            mkdir $d or bail_out("Failed to do mkdir $d: $!\n");
        }
    }

    my $index_file = "$HtmlDir/index.html";
    open my $out, '>', $index_file
        or bail_out("Can't open $index_file for writing: $!\n");
    print $out '<html><head><title>It works!</title></head><body>It works!</body></html>';
    close $out;

    mkdir $ConfDir or bail_out("Failed to do mkdir $ConfDir: $!\n");
}

sub write_user_files ($$) {
    my ($block, $rand_ports) = @_;
    my $name = $block->name;
    my $files = $block->user_files;
    return if !$files;

    if (!ref $files) {
        my @list;
        my ($fname, $body, $date);
        for my $line (split /^/m, $files) {
            # NB: unanchored, exactly like the real tool
            if ($line =~ />>> (\S+)(?:\s+(.+))?/) {
                push @list, [$fname, $body, $date] if $fname;
                ($fname, $date) = ($1, $2);
                undef $body;
            } else {
                $body .= $line;
            }
        }
        push @list, [$fname, $body, $date] if $fname;
        $files = \@list;

    } elsif (ref $files ne 'ARRAY') {
        die "$name - --- user_files: wrong value type: " . ref($files)
            . ", only scalar or ARRAY are accepted\n";
    }

    for my $file (@$files) {
        if (ref $file ne 'ARRAY') {
            die "$name - --- user_files eval: each entry must be an ARRAY "
                . "[name, body, date]\n";
        }
        my ($fname, $body, $date) = @$file;
        $body //= '';
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        if ($path =~ m{(.*)/}) {
            my $dir = $1;
            make_path($dir) if !-d $dir;
            -d $dir or bail_out("$name - Cannot create directory $dir");
        }
        $body = expand_env_in_text($body, $name, $rand_ports);
        open my $out, '>', $path
            or bail_out("$name - Cannot open $path for writing: $!\n");
        binmode $out;
        print $out $body;
        close $out;
        if ($date) {
            my $cmd = "TZ=GMT touch -t " . shq($date) . " " . shq($path);
            system($cmd) == 0
                or bail_out("Failed to run shell command: $cmd\n");
        }
    }
}

# temp paths: a distro nginx (e.g. Debian's) is built with absolute
# /var/lib/nginx/* temp paths; point them into servroot (as "*_temp", which
# setup_server_root removes) unless the test sets them itself.
sub temp_path_config ($) {
    my $http_config = shift;
    my $out = '';
    my $args = $NginxConfigureArgs // '';
    for my $t (qw( client_body proxy fastcgi uwsgi scgi )) {
        (my $opt = $t) =~ s/_/-/g;
        next unless $args =~ /--http-$opt-temp-path=\//;
        next if $http_config =~ /\b${t}_temp_path\b/;
        $out .= "    ${t}_temp_path $ServRoot/${t}_temp;\n";
    }
    return $out;
}

sub write_config_file ($$$) {
    my ($block, $config, $rand_ports) = @_;

    my $name = $block->name;
    my $http_config = $block->http_config;
    my $main_config = $block->main_config;
    my $post_main_config = $block->post_main_config;
    my $err_log_file = $block->error_log_file;
    my $server_name = $block->server_name;

    if ($UseHup) {
        master_on();    # config reload is buggy when master is off
    }

    $http_config = expand_env_in_text($http_config, $name, $rand_ports);
    $config //= '';
    $http_config //= '';

    if ($FilterHttpConfig) {
        $http_config = $FilterHttpConfig->($http_config);
    }

    my $postpone = $PostponeOutput;
    undef $postpone if $http_config =~ /\bpostpone_output\b/;

    my $extra_http_config = '';
    if (defined $postpone) {
        if ($postpone !~ /^\d+$/) {
            bail_out("Bad TEST_NGINX_POSTPONE_OUTPUT value: $postpone\n");
        }
        $extra_http_config .= "\n    postpone_output $postpone;\n";
    }

    $main_config //= '';
    if ($LoadModules) {
        my @modules = map { "load_module $_;" } grep { $_ } split /\s+/, $LoadModules;
        $main_config .= join " ", @modules if @modules;
    }
    $main_config = expand_env_in_text($main_config, $name, $rand_ports);

    $post_main_config = expand_env_in_text($post_main_config // '', $name, $rand_ports);

    $err_log_file ||= $ErrLogFile;
    $server_name //= $ServerName;

    my $listen_opts = $ReusePort ? ' reuseport' : '';
    my $temp_paths = temp_path_config($http_config);

    my $conf = <<_EOC_;
worker_processes  $Workers;
daemon $DaemonEnabled;
master_process $MasterProcessEnabled;
error_log $err_log_file $LogLevel;
pid       $PidFile;
env MOCKEAGAIN_VERBOSE;
env MOCKEAGAIN;
env MOCKEAGAIN_WRITE_TIMEOUT_PATTERN;
env LD_PRELOAD;
env LD_LIBRARY_PATH;
env DYLD_INSERT_LIBRARIES;
env DYLD_FORCE_FLAT_NAMESPACE;
_EOC_

    for my $v (@EnvToNginx) {
        my $e = $v =~ /\s/ ? "'$v'" : $v;
        $conf .= "env $e;\n";
    }

    $conf .= <<_EOC_;
#env LUA_PATH;
#env LUA_CPATH;

$main_config

http {
    access_log $AccLogFile;
    #access_log off;

    default_type text/plain;
    keepalive_timeout  68;
$temp_paths
$http_config

    server {
        listen          $ServerPort$listen_opts;
        server_name     '$server_name';

        client_max_body_size 30M;
        #client_body_buffer_size 4k;

        # Begin preamble config...
$ConfigPreamble
        # End preamble config...

        # Begin test case config...
$config
        # End test case config.

_EOC_

    if (!$NoRootLocation) {
        $conf .= <<_EOC_;
        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
_EOC_
    }

    $conf .= "    }\n";

    if ($UseHup) {
        $conf .= <<_EOC_;
    server {
        listen          $ServerPort$listen_opts;
        server_name     'Test-Nginx';

        location = /ver {
            return 200 '$ConfigVersion';
        }
    }
_EOC_
    }

    $conf .= <<_EOC_;
$extra_http_config
}

$post_main_config

#timer_resolution 100ms;

events {
    accept_mutex off;

    worker_connections  $WorkerConnections;
_EOC_

    $conf .= "    use $EventType;\n" if $EventType;
    $conf .= "}\n";
    $conf .= <<_EOC_;
env ASAN_OPTIONS;
env MOCKNOEAGAIN_VERBOSE;
env MOCKNOEAGAIN;
_EOC_

    if (defined $WorkerUser) {
        $conf .= "user $WorkerUser;\n";
    } elsif ($> == 0) {
        $conf .= "user root;\n";
    }

    open my $out, '>', $ConfFile
        or bail_out("Can't open $ConfFile for writing: $!\n");
    print $out $conf;
    close $out;
}

# ---------------------------------------------------------------------------
# starting / reloading / stopping nginx
# ---------------------------------------------------------------------------

sub nginx_cmd () {
    return "$NginxBinary -p " . shq("$ServRoot/") . " -c " . shq($ConfFile);
}

sub slurp ($) {
    my $f = shift;
    open my $in, '<', $f or return '';
    local $/;
    my $s = <$in> // '';
    close $in;
    return $s;
}

# returns ($status, $stderr_text)
sub run_nginx_once () {
    my ($fh, $errfile) = File::Temp::tempfile('ngx-stderr-XXXXXXXX',
                                             TMPDIR => 1, UNLINK => 1);
    close $fh;
    my $cmd = nginx_cmd() . " > /dev/null 2> " . shq($errfile);
    warn "running: $cmd\n" if $Verbose;
    system($cmd);
    my $status = $?;
    my $err = slurp($errfile);
    unlink $errfile;
    return ($status, $err);
}

sub wait_pid_file ($) {
    my $secs = shift;
    my $deadline = time + $secs;
    my $step = 0.001;
    while (time < $deadline) {
        my $pid = read_pid_if_any();
        return $pid if $pid && is_running($pid);
        sleep $step;
        $step *= 1.5 if $step < 0.05;
    }
    return undef;
}

sub start_failure ($$$) {
    my ($name, $why, $stderr) = @_;
    my $msg = "$name - nginx failed to start: $why";
    Test::More::fail($msg);
    my $diag = '';
    $diag .= "nginx stderr:\n$stderr" if defined $stderr && $stderr ne '';
    $diag .= "last lines of $ErrLogFile:\n" . tail_file($ErrLogFile, 20)
        if -f $ErrLogFile;
    Test::More::diag($diag) if $diag ne '';
}

sub start_valgrind_nginx ($) {
    my $name = shift;
    my $opts = $UseValgrind =~ /^\d+$/ ? MJValgrind::options($LogDir)
             : "-q $UseValgrind --log-file="
               . shq("$LogDir/valgrind.%p.log");
    my $cmd = "exec valgrind $opts " . nginx_cmd() . " > /dev/null";
    warn "$name\n";
    my $pid = fork();
    bail_out("$name - fork() failed: $!") if !defined $pid;
    if ($pid == 0) {
        setpgrp;
        $InSubprocess = 1;
        exec '/bin/sh', '-c', $cmd or POSIX::_exit(127);
    }
    $ChildPid = $pid;

    # nginx under valgrind is slow to start: wait until the port listens
    my $deadline = time + 60;
    my $step = 0.01;
    while (time < $deadline) {
        return 1 if port_listening($ServerPort);
        if (waitpid($pid, WNOHANG) == $pid) {
            undef $ChildPid;
            start_failure($name, "nginx under valgrind exited with status $?", '');
            report_valgrind($name);
            return 0;
        }
        sleep $step;
        $step *= 1.5 if $step < 0.2;
    }
    start_failure($name, "nginx under valgrind did not listen on port "
                  . "$ServerPort within 60 s", '');
    return 0;
}

sub report_valgrind ($) {
    my $name = shift;
    Test::More::fail("$name - valgrind reported errors: $_")
        for MJValgrind::errors($LogDir);
}

sub stop_valgrind_nginx ($) {
    my $name = shift;
    return if !defined $ChildPid;
    my $pid = $ChildPid;
    kill SIGQUIT, $pid;
    my $deadline = time + ($Timeout > 10 ? $Timeout : 10) * 3;
    while (time < $deadline) {
        last if waitpid($pid, WNOHANG) == $pid;
        sleep 0.02;
    }
    if (kill 0, $pid) {
        warn "$name - nginx under valgrind did not exit, killing it\n";
        kill SIGKILL, -$pid;
        waitpid($pid, 0);
    }
    undef $ChildPid;
    unlink $PidFile if -f $PidFile;
    report_valgrind($name);
}

sub http_get_ver ($) {
    my $timeout = shift;
    my $sock = IO::Socket::INET->new(
        PeerAddr => $ServerAddr,
        PeerPort => $ServerPortForClient,
        Proto    => 'tcp',
        Timeout  => $timeout,
    ) or return undef;
    binmode $sock;
    print $sock "GET /ver HTTP/1.0\r\nHost: Test-Nginx\r\nConnection: close\r\n\r\n";
    my $resp = '';
    my $sel = IO::Select->new($sock);
    while ($sel->can_read($timeout)) {
        my $n = sysread $sock, my $buf, 4096;
        last if !$n;
        $resp .= $buf;
    }
    close $sock;
    return $resp =~ /\r\n\r\n(.*)\z/s ? $1 : undef;
}

sub log_has ($$) {
    my ($file, $re) = @_;
    open my $in, '<', $file or return undef;
    while (my $l = <$in>) {
        if ($l =~ $re) {
            close $in;
            return $l;
        }
    }
    close $in;
    return undef;
}

# HUP reload; returns 1 when the new configuration is in effect (or, with
# --- reload_fails, when nginx has logged the failed reload).  Never a blind
# sleep: polls observable state.
sub hup_reload ($$) {
    my ($pid, $block) = @_;
    my $name = $block->name;
    my $deadline_secs = $Timeout > 10 ? $Timeout : 10;

    my @old = child_pids($pid);

    # setup_server_root() deleted the logs: USR1 makes nginx reopen
    # (recreate) them, so this block gets a fresh error.log
    kill SIGUSR1, $pid or do {
        warn "$name - Failed to send USR1 signal to $pid\n";
        return undef;
    };
    my $deadline = time + $deadline_secs;
    my $step = 0.001;
    while (!-e $ErrLogFile && time < $deadline) {
        sleep $step;
        $step *= 1.5 if $step < 0.05;
    }
    if (!-e $ErrLogFile) {
        warn "$name - nginx did not reopen $ErrLogFile after USR1\n";
    }

    kill SIGHUP, $pid or do {
        warn "$name - Failed to send HUP signal to $pid\n";
        return undef;
    };

    $deadline = time + $deadline_secs;
    $step = 0.002;

    if (defined $block->reload_fails) {
        while (time < $deadline) {
            return 1 if log_has($ErrLogFile, qr/\[emerg\]/);
            sleep $step;
            $step *= 1.5 if $step < 0.05;
        }
        Test::More::fail("$name - --- reload_fails: nginx did not log a "
                         . "failed reload within $deadline_secs s");
        return 1;
    }

    my $ok;
    while (time < $deadline) {
        if (my $emerg = log_has($ErrLogFile, qr/\[emerg\]/)) {
            Test::More::fail("$name - HUP reload failed: $emerg");
            return 0;
        }
        my $ver = http_get_ver(0.5);
        if (defined $ver && $ver eq $ConfigVersion) {
            $ok = 1;
            last;
        }
        sleep $step;
        $step *= 1.5 if $step < 0.05;
    }

    if (!$ok) {
        Test::More::fail("$name - failed to reload configuration within "
                         . "$deadline_secs s");
        return 0;
    }

    # the new generation answers; now make sure no old worker can still
    # accept connections (they close their listeners on QUIT)
    for my $w (@old) {
        while (time < $deadline) {
            last if !is_running($w);
            my $t = proc_title($w);
            last if $t eq '' || $t =~ /shutting down/;
            sleep $step;
            $step *= 1.5 if $step < 0.05;
        }
    }

    return 1;
}

sub stop_nginx_if_running ($) {
    my $name = shift;
    my $pid = read_pid_if_any();
    if ($pid && is_running($pid)) {
        kill_process($pid, 1, $name);
    }
    unlink $PidFile if -f $PidFile;
}

# ---------------------------------------------------------------------------
# running the blocks
# ---------------------------------------------------------------------------

sub check_prev_block_shutdown_error_log () {
    my $block = $PrevBlock;
    return if !defined $block;
    return if !defined $block->shutdown_error_log;
    my $dry_run;
    $dry_run = "the HUP reload mode" if $UseHup;
    $dry_run = "TEST_NGINX_NO_CLEAN" if $ENV{TEST_NGINX_NO_CLEAN};
    $CheckShutdownErrorLog->($block, $dry_run);
}

sub run_tests () {
    $NginxVersion = get_nginx_version();

    if (!defined $ENV{TEST_NGINX_SERVER_PORT}) {
        $ENV{TEST_NGINX_SERVER_PORT} = $ServerPort;
    }

    if (!can_run($NginxBinary) && $NginxBinary !~ /\s/) {
        bail_out("Cannot find the nginx executable $NginxBinary");
    }

    Test::Nginx::Socket::check_filters();

    my @blocks = Test::Base::blocks();
    if (!$NoShuffle) {
        $ShuffleSeed = $ENV{TEST_NGINX_SHUFFLE_SEED}
                       // ((($$ << 15) ^ int(time * 1000)) & 0x7fffffff);
        srand($ShuffleSeed);
        @blocks = shuffle @blocks;
        srand();
        Test::More::note("Test::Nginx fallback runner: blocks shuffled with "
                         . "seed $ShuffleSeed (TEST_NGINX_SHUFFLE_SEED="
                         . "$ShuffleSeed reproduces the order)");
    }

    for my $block (@blocks) {
        Test::Nginx::Socket::run_preprocessors($block);
        $block->set_value("name", $0 . " " . $block->name);
        Test::Nginx::Socket::check_block($block);
        run_test($block);
        $PrevBlock = $block;
    }

    cleanup();
}

sub run_test ($) {
    my $block = shift;

    return if defined $block->SKIP;

    my $name = $block->name;

    my $first_time;
    if ($FirstTime) {
        $first_time = 1;
        undef $FirstTime;
    }

    my $rand_ports = {};
    my $config = expand_env_in_text($block->config, $name, $rand_ports);

    my $dry_run = 0;
    my ($should_restart, $should_reconfig) = (1, 1);

    local $LogLevel = $block->log_level ? $block->log_level : $LogLevel;

    my $must_die = $block->must_die;
    local $UseHup = defined $must_die ? undef : $UseHup;
    local $UseValgrind = defined $must_die ? undef : $UseValgrind;
    local $DaemonEnabled = $UseValgrind ? 'off' : 'on';

    if (!defined $config) {
        if (!defined $PrevConfig) {
            die "$name - No '--- config' section specified and could not "
                . "get previous one.\n";
        }
        # re-use the running server as it is (real behaviour)
        $should_restart = $should_reconfig = 0;

    } else {
        $should_reconfig = (!defined $PrevConfig || $config ne $PrevConfig) ? 1 : 0;
        $should_restart = ($should_reconfig || $ForceRestartOnTest) ? 1 : 0;
    }

    my ($tests_to_skip, $should_skip, $skip_reason)
        = Test::Nginx::Socket::compute_skip($block);
    my ($should_todo, $todo_reason, $todo_count)
        = Test::Nginx::Socket::compute_todo($block);
    $tests_to_skip = $todo_count if $should_todo && defined $todo_count;

    if (!$should_skip && $should_restart) {
        $ConfigVersion = gen_rand_str(10) if $UseHup;
        $PrevConfig = $config if $should_reconfig;

        my $pid = read_pid_if_any();

        if ($pid && is_running($pid)) {
            if ($UseHup && !$first_time) {
                setup_server_root($first_time);
                write_user_files($block, $rand_ports);
                write_config_file($block, $config, $rand_ports);
                my $ok = hup_reload($pid, $block);
                if (defined $ok) {
                    check_prev_block_shutdown_error_log();
                    if (!$ok) {
                        undef $PrevConfig;
                        return;
                    }
                    goto REQUEST;
                }
            }
            kill_process($pid, 1, $name);

        } elsif (-f $PidFile) {
            unlink $PidFile
                or warn "WARNING: failed to remove pid file $PidFile\n";
        }

        check_prev_block_shutdown_error_log();

        setup_server_root($first_time);
        write_user_files($block, $rand_ports);
        write_config_file($block, $config, $rand_ports);

        if ($UseValgrind) {
            $ErrLogFilePos = 0;
            if (!start_valgrind_nginx($name)) {
                undef $PrevConfig;
                return;
            }

        } else {
            my $i = 0;
            my $waited = 0;
            $ErrLogFilePos = 0;

          RUN_AGAIN:
            my ($status, $stderr) = run_nginx_once();
            print STDERR $stderr if $stderr ne '' && !defined $must_die;

            if (defined $must_die) {
                print STDERR $stderr if $stderr ne '';
                my ($exec_failed, $coredump, $exit_code);
                if ($status == -1 || ($status >> 8) == 127) {
                    $exec_failed = 1;
                } else {
                    $exit_code = $status >> 8;
                    $coredump = $status & 128;
                }

                if ($exec_failed) {
                    Test::More::fail("$name - failed to execute the nginx command line");
                } elsif ($coredump) {
                    Test::More::fail("$name - nginx core dumped");
                } elsif (looks_like_number($must_die)) {
                    Test::More::is($must_die, $exit_code,
                                   "$name - die with the expected exit code");
                } else {
                    Test::More::isnt($status, 0, "$name - die as expected");
                }

                # a distro nginx logs config errors to stderr only (its
                # compiled-in error log is "stderr"), an OpenResty build to
                # logs/error.log: check both
                @ExtraErrLogLines = map { "$_\n" } split /\n/, $stderr;
                $CheckErrorLog->($block, undef, $dry_run, $i, 0);
                @ExtraErrLogLines = ();

                if ($status == 0) {
                    warn "WARNING: $name - nginx must die but it does not; "
                         . "killing it (req $i)\n";
                    my $p = wait_pid_file(2);
                    kill_process($p, 1, $name) if $p;
                }

                goto RUN_AGAIN if ++$i < $RepeatEach;
                undef $PrevConfig;
                return;
            }

            if ($status != 0) {
                my $directive;
                if ($ENV{TEST_NGINX_IGNORE_MISSING_DIRECTIVES}
                    && ($stderr . slurp($ErrLogFile))
                           =~ /\[emerg\] \S+?: unknown directive "([^"]+)"/)
                {
                    $directive = $1;
                }

                if (defined $directive) {
                    $dry_run = "the lack of directive $directive";

                } elsif (($stderr . slurp($ErrLogFile)) =~ /Address already in use/
                         && $waited < 30)
                {
                    $i++;
                    my $delay = 0.1 * $i;
                    $delay = 1 if $delay > 1;
                    sleep $delay;
                    $waited += $delay;
                    goto RUN_AGAIN;

                } else {
                    start_failure($name, "command \"" . nginx_cmd()
                                  . "\" exited with status " . ($status >> 8),
                                  $stderr);
                    undef $PrevConfig;
                    return;
                }

            } elsif (!wait_pid_file($Timeout)) {
                start_failure($name, "no running nginx in pid file $PidFile "
                              . "after start", $stderr);
                undef $PrevConfig;
                return;
            }
        }
    }

  REQUEST:

    if (defined $block->init) {
        eval $block->init;
        if ($@) {
            die "$name - --- init failed: $@";
        }
    }

    my $i = 0;
    $ErrLogFilePos = 0;
    while ($i++ < $RepeatEach) {
        my $servers = Test::Nginx::Socket::start_mock_servers($block);

        if ($i > 1) {
            write_user_files($block, $rand_ports);
        }

        if ($should_skip && defined $tests_to_skip) {
            SKIP: {
                Test::More::skip("$name - $skip_reason", $tests_to_skip);
            }

        } elsif ($should_todo) {
            TODO: {
                Test::More::todo_skip("$name - $todo_reason", $tests_to_skip);
            }

        } else {
            # (a skip condition without a count runs, as in the real tool)
            $RunTestHelper->($block, $dry_run, $i - 1);
            Test::Nginx::Socket::finish_mock_servers($block, $servers);
        }

        Test::Nginx::Socket::stop_mock_servers($servers);
    }

    if (my $total_errlog = $ENV{TEST_NGINX_ERROR_LOG}) {
        if (-s $ErrLogFile) {
            if (open my $out, '>>', $total_errlog) {
                print $out "\n=== $0 $name\n", slurp($ErrLogFile);
                close $out;
            }
        }
    }

    if ($UseValgrind && !$UseHup && !$should_skip) {
        stop_valgrind_nginx($name);
    }
}

END {
    return if $InSubprocess;
    my $exit = $?;

    cleanup();

    if ($UseValgrind || !$ENV{TEST_NGINX_NO_CLEAN}) {
        stop_nginx_if_running("END");
    }

    check_prev_block_shutdown_error_log() if $CheckShutdownErrorLog;

    if (defined $ShuffleSeed && !Test::More->builder->is_passing) {
        Test::More::diag("blocks were shuffled with seed $ShuffleSeed; "
                         . "rerun with TEST_NGINX_SHUFFLE_SEED=$ShuffleSeed "
                         . "to get the same order");
    }

    if ($Randomize && !$ENV{TEST_NGINX_NO_CLEAN} && defined $ServRoot && -d $ServRoot
        && $ServRoot =~ m{/t/servroot_\d+$})
    {
        remove_tree($ServRoot);
    }

    $? = $exit;
}

1;
