# mj(1), mjctl(8) and the bash completions against the tools themselves:
# every command and option that --help lists is in the man page and is
# completed; the exit codes are documented; mjctl's completion offers the
# users of the users file that mjctl would use.  No nginx, no sim.
use strict;
use warnings;
use Test::More;
use FindBin;
use File::Temp ();

my $root = "$FindBin::Bin/..";
my $tools = "$root/build/tools";
for my $t (qw(mj mjctl)) {
    -x "$tools/$t" or BAIL_OUT("$tools/$t is not built: run make");
}

my $tmp = File::Temp::tempdir(CLEANUP => 1);

# the words --help lists: commands (the first word of a line under
# "commands:"), and long options (on the lines that start with one)
sub help_words {
    my ($tool) = @_;
    my $help = `$tools/$tool --help`;
    my ($cmds) = $help =~ /^commands:\n(.*?)\n\n/ms;
    my %cmd = map { /^  (\S+)/ ? ($1 => 1) : () } split /\n/, $cmds;
    my %opt = map { $_ => 1 } map { /(?<![\w-])(--[a-z][a-z-]+)/g }
              grep { /^  -/ } split /\n/, $help;
    return ([sort keys %cmd], [sort keys %opt]);
}

# --- man pages ------------------------------------------------------------

SKIP: {
    skip 'scdoc is not installed (make deps)', 1
        unless grep { -x "$_/scdoc" } split /:/, $ENV{PATH};
    skip 'man is not installed', 1
        unless grep { -x "$_/man" } split /:/, $ENV{PATH};

    my $out = `make -s -C $root/tools OUT=$tmp man 2>&1`;
    is $?, 0, 'make -C tools man' or diag $out;

    # what make install puts where (the package installs the same)
    $out = `make -s -C $root/tools OUT=$tmp DESTDIR=$tmp/dest install 2>&1`;
    is $?, 0, 'make -C tools install' or diag $out;
    my @files = map { "$tmp/dest/usr/$_" } qw(bin/mj bin/mjctl
        share/man/man1/mj.1 share/man/man8/mjctl.8
        share/bash-completion/completions/mj
        share/bash-completion/completions/mjctl);
    is_deeply [grep { !-f } @files], [],
        'installs the tools, their man pages and completions';

    for my $page (qw(mj.1 mjctl.8)) {
        my ($tool) = $page =~ /^(\w+)/;
        # wide enough that nothing is hyphenated
        my $text = `MANWIDTH=400 man -l $tmp/man/$page 2>&1`;
        is $?, 0, "man -l $page";
        my ($cmds, $opts) = help_words($tool);
        my @missing = grep { $text !~ /^\s+(user )?\Q$_\E\b/m } @$cmds;
        is_deeply \@missing, [], "$page: every command of $tool --help"
            . ' has an entry';
        @missing = grep { $text !~ /(?<![\w-])\Q$_\E\b/ } @$opts;
        is_deeply \@missing, [], "$page: every option of $tool --help";
        my ($exit) = $text =~ /^EXIT STATUS\n(.*?)\n(?=\S)/ms;
        my $codes = $tool eq 'mj' ? 8 : 2;
        is_deeply [grep { ($exit // '') !~ /^\s+$_\n/m } 0 .. $codes], [],
            "$page: exit codes 0 to $codes";
        like $text, qr/^EXAMPLES\n.*\$ $tool /ms, "$page: an example session";
    }
}

# --- bash completion ------------------------------------------------------

# what the completion function offers for the command line (the last word
# is the one completed)
sub complete {
    my ($tool, @words) = @_;
    my $script = "$tmp/complete.sh";
    open my $fh, '>', $script or die $!;
    print {$fh} "source '$root/tools/completion/$tool'\n",
        'COMP_WORDS=(', join(' ', map { "'$_'" } $tool, @words), ")\n",
        'COMP_CWORD=', scalar(@words), "\n",
        "_$tool\n",
        'printf "%s\n" "${COMPREPLY[@]}"', "\n";
    close $fh;
    return [sort split /\n/, `bash $script`];
}

for my $tool (qw(mj mjctl)) {
    my ($cmds, $opts) = help_words($tool);
    my @first = $tool eq 'mjctl' ? qw(check status user) : @$cmds;
    is_deeply complete($tool, ''), [sort @first], "$tool: the commands";
    my %got = map { $_ => 1 } @{ complete($tool, '--') };
    is_deeply [grep { !$got{$_} } @$opts], [], "$tool: every long option";
}

is_deeply complete('mj', '--wait', 'sim'), ['simple-change'],
    'mj: a command after an option';
is_deeply complete('mj', 'change', '1712345678901234', ''),
    [qw(REROLL UPSCALE VARIATION)], 'mj change: the actions';
is_deeply complete('mj', 'change', '1712345678901234', 'upscale', ''),
    [1 .. 4], 'and the index';
is_deeply complete('mj', 'simple-change', '1712345678901234', 'V'),
    [qw(V1 V2 V3 V4)], 'mj simple-change: the changes';
is_deeply complete('mj', '--bot', ''), [qw(MID_JOURNEY NIJI_JOURNEY)],
    'mj --bot: the bots';
is_deeply complete('mj', 'imagine', '--', '--a'), [],
    'no options after --';
open my $img, '>', "$tmp/fox.png"; close $img;
is_deeply complete('mj', 'swap', "$tmp/fo"), ["$tmp/fox.png"],
    'mj swap: files';

my $users = "$tmp/users";
open my $fh, '>', $users or die $!;
print {$fh} "# name hash key\nalice 0 main\n\nbob 1 main disabled\n";
close $fh;
is_deeply complete('mjctl', 'user', ''),
    [qw(add disable enable list revoke rotate)], 'mjctl user: the commands';
is_deeply complete('mjctl', '--users', $users, 'user', 'revoke', ''),
    [qw(alice bob)], 'mjctl user revoke: the users of --users FILE';
is_deeply complete('mjctl', "--users=$users", 'user', 'rotate', 'b'),
    ['bob'], 'and of --users=FILE';
is_deeply complete('mjctl', '--users', "$tmp/none", 'user', 'revoke', ''),
    [], 'none for a file that is missing';

# the completion reads the users file mjctl reads by default
my ($default) = `$tools/mjctl --help` =~ /--users FILE\s.*\((\S+)\)/;
open my $c, '<', "$root/tools/completion/mjctl" or die $!;
like do { local $/; <$c> }, qr/^\s+users=\Q$default\E$/m,
     "mjctl's completion defaults to $default too";

done_testing;
