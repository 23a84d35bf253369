package MJValgrind;

# What the suite's valgrind runs share: memcheck's options (with the
# project's valgrind.suppress and the stock nginx core's exit-time leaks),
# and reading its logs for errors.  Used by the project's Test::Nginx runner
# (TEST_NGINX_USE_VALGRIND=1) and by MJNginx (MJ_NGINX_VALGRIND=1).
#
#     my $cmd = "valgrind " . MJValgrind::options("$dir/logs") . " nginx ...";
#     fail "valgrind: $_" for MJValgrind::errors("$dir/logs");

use strict;
use warnings;

use File::Basename ();
use File::Spec ();

my $ROOT = File::Spec->rel2abs(
    File::Basename::dirname(__FILE__) . '/../..');

# exit-time "leaks" of the stock nginx core (memory nginx never frees
# because the process exits); without these a distro nginx fails every run.
# Only allocations made by nginx's own code match (the frame calling
# ngx_alloc must be in the nginx binary), not a module's.
our $BUILTIN = <<'_EOS_';
{
   ngx_mj_core_set_environment
   Memcheck:Leak
   match-leak-kinds: definite
   fun:malloc
   fun:ngx_alloc
   fun:ngx_set_environment
}
{
   ngx_mj_core_single_process_init
   Memcheck:Leak
   match-leak-kinds: definite
   fun:malloc
   fun:ngx_alloc
   obj:*/nginx
   fun:ngx_single_process_cycle
}
{
   ngx_mj_core_worker_process_init
   Memcheck:Leak
   match-leak-kinds: definite
   fun:malloc
   fun:ngx_alloc
   obj:*/nginx
   ...
   fun:ngx_worker_process_cycle
}
{
   ngx_mj_core_spawned_process_init
   Memcheck:Leak
   match-leak-kinds: definite
   fun:malloc
   fun:ngx_alloc
   obj:*/nginx
   ...
   fun:ngx_spawn_process
}
_EOS_

our @ERRORS = (
    qr/Invalid (?:read|write|free)/,
    qr/uninitialised value/,
    qr/Conditional jump or move depends on uninitialised/,
    qr/definitely lost/,
    qr/Mismatched free/,
    qr/Syscall param/,
    qr/Source and destination overlap/,
    qr/Process terminating with default action/,
    qr/Argument '\w+' of function \w+ has a fishy/,
);

sub _shq { my ($s) = @_; $s =~ s/'/'\\''/g; return "'$s'" }

# memcheck's options, logging to LOGDIR/valgrind.PID.log
sub options {
    my ($logdir) = @_;
    my $builtin = "$logdir/ngx-mj-core.supp";
    open my $out, '>', $builtin or die "cannot write $builtin: $!";
    print {$out} $BUILTIN;
    close $out;
    my $opts = '--num-callers=100 -q --tool=memcheck --leak-check=full '
             . '--show-possibly-lost=no --gen-suppressions=all '
             . '--suppressions=' . _shq($builtin);
    $opts .= ' --suppressions=' . _shq("$ROOT/valgrind.suppress")
        if -f "$ROOT/valgrind.suppress";
    return $opts . ' --log-file=' . _shq("$logdir/valgrind.%p.log");
}

# prints the logs (each then removed) to stderr, and returns the first
# error line of those with errors
sub errors {
    my ($logdir) = @_;
    my @found;
    for my $f (sort glob("$logdir/valgrind.*.log")) {
        open my $fh, '<', $f or next;
        my $text = do { local $/; <$fh> } // '';
        close $fh;
        unlink $f;
        next if $text !~ /\S/;
        print STDERR $text;
        next unless grep { $text =~ $_ } @ERRORS;
        my ($first) = $text =~ /^(==\d+==\s+\S.*)$/m;
        push @found, $first // $f;
    }
    return @found;
}

1;
