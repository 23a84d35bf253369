# One reading of a body: what the gateway checks is what every upstream binds.
#
# Java (Jackson), Go and .NET upstreams bind body keys differently from the
# gateway's yajl: Jackson decodes over-long UTF-8 and keeps lone surrogates,
# Go folds the Kelvin sign to "k" and the long s to "s", .NET the dotless i
# to "i", and all of them keep the last copy of a key.  So the gateway
# refuses, with HTTP 400 and before anything is relayed, a body with
#   (a) invalid UTF-8 anywhere (over-long forms, encoded surrogates, code
#       points above U+10FFFF, bytes F5-FF, C0, C1, stray continuation
#       bytes, truncated sequences),
#   (b) a \u escape that is not a character (a lone or unpaired surrogate),
#   (c) an object key, at any depth, that is not printable ASCII once its
#       escapes are decoded,
#   (d) nesting deeper than 64 levels (the top-level object is level 1).
# Values may hold any valid UTF-8, and reach the upstream byte for byte.
#
# Each refusal block switches the simulated upstream to its lenient parser
# (sim/README.md, "Parser modes"), which would bind these keys the way those
# upstreams do, sends every case to every endpoint that reads a body, and
# then shows that the upstream saw none of them.  A form that is two of
# these at once is expected under the first that applies: bytes are checked
# before escapes, escapes before keys.
#
# Each form is sent to every endpoint once, with the key the gateway acts on
# and its place (a key added at the top, where upstreams keep the last
# copy; the key's value; a key at depth 3) turning from one endpoint to the next, so that over the 13 endpoints
# every form meets every key in every place.  MJ_019_FULL=1 sends every
# form with every key in every place to every endpoint instead (some ten
# times as many requests, minutes).  A failure names a request by its place
# in its block ("req N"); MJ_019_CASES=1 prints what each request is.
use Test::Nginx::Socket 'no_plan';
use FindBin;
use lib "$FindBin::Bin/lib";
use MJTest;
use Digest::SHA ();

no_shuffle();
add_block_preprocessor(\&MJTest::defaults);

# the gateway in front of the simulated upstream, and its control endpoints
our $Loc = $MJTest::LOC;
our $Alice = "Authorization: Bearer $KEY{alice}";

our %Refusal = (
    utf8   => qq[{"code":4,"description":"the body is not valid UTF-8"}\n],
    escape => qq[{"code":4,"description":"the body has a \\\\u escape that is not a valid character"}\n],
    key    => qq[{"code":4,"description":"an object key is not printable ASCII"}\n],
    depth  => qq[{"code":4,"description":"the body nests deeper than 64 levels"}\n],
);

# the simulated upstream's answer to POST /_sim/config with these changes
# (JSON text) after a reset
sim_reset();
our $Config = sim_request('GET', '/_sim/config')->{content};

sub config_answer {
    my (%set) = @_;
    my $c = $Config;
    for my $k (sort keys %set) {
        $c =~ s/"$k":(?:"[^"]*"|[^,}]*)/"$k":$set{$k}/ or die "the sim has no $k setting\n";
    }
    return $c;
}

our $Lenient = config_answer(parser => '"lenient"');

# a fresh task id per use: the simulated upstream issues each id once
my $base = 1719000000000000 + ($$ % 1000) * 1000;
my $next = 0;
sub new_id { $base + ++$next }

sub submitted {
    my ($id) = @_;
    return qq[{"code":1,"description":"Submitted","result":"$id",]
         . qq["properties":{"discordInstanceId":"1118138338562560102"}}];
}

our $IMG = 'data:image/png;base64,iVBORw0KGgo=';

# every endpoint that reads a body: its path and a valid body's members, as
# JSON text; %P is a task of alice's, %Q a task id that is not hers
our @Endpoints = (
    [imagine         => 'submit/imagine', [prompt => '"z19 a cat"']],
    [action          => 'submit/action', [taskId => '"%P"', customId => '"MJ::JOB::upsample::1::h"']],
    [blend           => 'submit/blend', [base64Array => qq(["$IMG","$IMG"])]],
    [describe        => 'submit/describe', [base64 => qq("$IMG")]],
    [modal           => 'submit/modal', [taskId => '"%P"', prompt => '"z19 more"']],
    [shorten         => 'submit/shorten', [prompt => '"z19 a long prompt"']],
    [change          => 'submit/change', [taskId => '"%P"', action => '"UPSCALE"', index => '1']],
    ['simple-change' => 'submit/simple-change', [content => '"%P U1"']],
    [edits           => 'submit/edits', [prompt => '"z19 blue"', image => qq("$IMG")]],
    [video           => 'submit/video', [prompt => '"z19 moving"']],
    [swap            => 'insight-face/swap', [sourceBase64 => qq("$IMG"), targetBase64 => qq("$IMG")]],
    [upload          => 'submit/upload-discord-images', [base64Array => qq(["$IMG"])]],
    [list            => 'task/list-by-condition', [ids => '["%P"]']],
);
our %Path = map { $_->[0] => $_->[1] } @Endpoints;

# the keys the gateway acts on, each with the value a second copy would
# smuggle past it
our @Keys = qw(taskId customId content ids notifyHook accountFilter);
our %Smuggled = (
    taskId        => '"%Q"',
    customId      => '"MJ::JOB::upsample::2::h"',
    content       => '"%Q U1"',
    ids           => '["%Q"]',
    notifyHook    => '"http://169.254.169.254/latest"',
    accountFilter => '{"instanceId":"1208791133367107654"}',
);

# ---------------------------------------------------------------------------
# The forms.  Each changes the text of a key or of a string value (JSON
# source, so '\u0000' is an escape and "\xFF" a byte).

sub overlong {
    my ($c, $n) = @_;
    my $o = ord $c;
    my $tail = chr(0x80 | $o >> 6) . chr(0x80 | $o & 0x3F);
    return $n == 2 ? chr(0xC0 | $o >> 6) . chr(0x80 | $o & 0x3F)
         : $n == 3 ? "\xE0" . $tail
         :           "\xF0\x80" . $tail;
}

# the second character written over-long
sub over { my ($n) = @_; sub { substr($_[0], 0, 1) . overlong(substr($_[0], 1, 1), $n) . substr($_[0], 2) } }
# text put after the first character, first, or at the end
sub ins { my ($t) = @_; sub { substr($_[0], 0, 1) . $t . substr($_[0], 1) } }
sub pre { my ($t) = @_; sub { $t . $_[0] } }
sub app { my ($t) = @_; sub { $_[0] . $t } }

# (a) invalid UTF-8
our @Utf8 = (
    ['over-long 2-byte form (C0/C1 lead)', over(2)],
    ['over-long 3-byte form', over(3)],
    ['over-long 4-byte form', over(4)],
    ['over-long NUL C0 80', ins("\xC0\x80")],
    ['over-long slash C0 AF', ins("\xC0\xAF")],
    ['encoded high surrogate ED A0 80', ins("\xED\xA0\x80")],
    ['encoded low surrogate ED BF BF', ins("\xED\xBF\xBF")],
    ['encoded surrogate pair', ins("\xED\xA0\xBD\xED\xB8\x80")],
    ['U+110000 F4 90 80 80', ins("\xF4\x90\x80\x80")],
    ['byte F5', ins("\xF5\x80\x80\x80")],
    ['byte F8', ins("\xF8\x88\x80\x80\x80")],
    ['byte FF', ins("\xFF")],
    ['byte C1 alone', ins("\xC1")],
    ['stray continuation 80', ins("\x80")],
    ['stray continuation BF', ins("\xBF")],
    ['truncated 2-byte', ins("\xC3")],
    ['truncated 3-byte', ins("\xE4\xB8")],
    ['truncated 4-byte', ins("\xF0\x9F\x98")],
    ['truncated at the end of the string', app("\xE4\xB8")],
);

# (b) \u escapes that are not a character
our @Escape = (
    ['lone high surrogate', ins('\ud800')],
    ['lone high surrogate, upper case', ins('\uDBFF')],
    ['lone low surrogate', ins('\udc00')],
    ['lone low surrogate, upper case', ins('\uDFFF')],
    ['high surrogate then a letter', ins('\ud83dx')],
    ['high surrogate then a non-surrogate escape', ins('\ud83d\u0041')],
    ['high surrogate then another escape', ins('\ud83d\n')],
    ['two high surrogates', ins('\ud83d\ud83d')],
    ['low then high surrogate', ins('\ude00\ud83d')],
    ['high surrogate at the end of the string', app('\ud83d')],
);

# (c) keys that are not printable ASCII: characters an upstream folds into
# a key's letters, raw and escaped ...
our %LookAlike = (
    k => ['Kelvin sign', "\xE2\x84\xAA", '\u212a'],
    s => ['long s', "\xC5\xBF", '\u017f'],
    i => ['dotless i', "\xC4\xB1", '\u0131'],
);

# ... and any other character outside 0x20-0x7E
our @NotAscii = (
    ['e acute, raw', ins("\xC3\xA9")],
    ['e acute, escaped', ins('\u00e9')],
    ['zero-width space, raw', ins("\xE2\x80\x8B")],
    ['zero-width space, escaped', ins('\u200b')],
    ['byte order mark first, raw', pre("\xEF\xBB\xBF")],
    ['byte order mark first, escaped', pre('\ufeff')],
    ['emoji, raw', app("\xF0\x9F\x98\x80")],
    ['emoji, a valid surrogate pair', app('\ud83d\ude00')],
    ['no-break space, raw', app("\xC2\xA0")],
    ['C1 control U+0080, escaped', app('\u0080')],
    ['NUL at the end', app('\u0000')],
    ['NUL first', pre('\u0000')],
    ['U+0001', ins('\u0001')],
    ['U+001F', ins('\u001f')],
    ['tab escape', app('\t')],
    ['newline escape', app('\n')],
    ['carriage return escape', app('\r')],
    ['backspace escape', ins('\b')],
    ['form feed escape', ins('\f')],
    ['DEL, raw', app("\x7F")],
    ['DEL, escaped', app('\u007f')],
    ['DEL, escaped upper case', ins('\u007F')],
);

# (d) nesting: 65 levels and more, under a key of no meaning and under the
# two keys whose value may be a container
sub nest {
    my ($key, $n, $open, $close) = @_;
    return ["$n levels under $key", $key, ($open x ($n - 1)) . '1' . ($close x ($n - 1))];
}

our @Deep = (
    nest('z19', 65, '[', ']'),
    nest('z19', 65, '{"a":', '}'),
    ['65 levels, the last an empty array', 'z19', ('[' x 63) . '[]' . (']' x 63)],
    nest('z19', 1000, '[', ']'),
    nest('accountFilter', 65, '{"a":', '}'),
    nest('notifyHook', 65, '[', ']'),
);

# ---------------------------------------------------------------------------
# The cases

sub body_of {
    my (@members) = @_;
    my @m;
    while (my ($k, $v) = splice @members, 0, 2) { push @m, qq("$k":$v) }
    return '{' . join(',', @m) . '}';
}

# a value's last string, changed by a form
sub in_value {
    my ($value, $form) = @_;
    $value =~ s/^(.*)"([^"]*)"/$1 . '"' . $form->($2) . '"'/se;
    return $value;
}

# [what, body]: a valid body with key $k changed by $form in $place: a key
# added after the body's members (where a second copy of a key is the one
# upstreams keep), its value, or a key at depth 3
sub one_case {
    my ($base, $smuggled, $k, $place, $what, $form) = @_;
    if ($place eq 'key') {
        return ["$k: $what, in a key at the top", body_of(@$base, $form->($k) => $smuggled->{$k})];
    }
    if ($place eq 'deep') {
        return ["$k: $what, in a key at depth 3",
                body_of(@$base, z19 => '[{"' . $form->($k) . qq(":$smuggled->{$k}}]))];
    }
    my @m = @$base;
    my $own = grep { $_ eq $k } @m[grep { $_ % 2 == 0 } 0 .. $#m];
    for (my $i = 0; $i < @m; $i += 2) { $m[$i + 1] = in_value($m[$i + 1], $form) if $m[$i] eq $k }
    push @m, $k => in_value($smuggled->{$k}, $form) unless $own;
    return ["$k: $what, in its value", body_of(@m)];
}

# [[keys], [what, form]] of a category; look-alikes are per key
sub forms {
    my ($cat) = @_;
    my %list = (utf8 => \@Utf8, escape => \@Escape, key => \@NotAscii);
    return map { [\@Keys, $_] } @{ $list{$cat} } if $list{$cat};
    my @f;
    for my $k (@Keys) {
        for my $l (sort keys %LookAlike) {
            next unless $k =~ /\Q$l\E/i;
            my $at = $-[0];
            my ($name, @spellings) = @{ $LookAlike{$l} };
            for my $s (0, 1) {
                my $t = $spellings[$s];
                push @f, [[$k], ["$name for '" . substr($k, $at, 1) . "', " . ('raw', 'escaped')[$s],
                                 sub { substr($_[0], 0, $at) . $t . substr($_[0], $at + 1) }]];
            }
        }
    }
    return @f;
}

# [what, body] of what endpoint number $e is sent in a category: each form
# once, its key and place turning with $e (all of them with MJ_019_FULL)
sub cases {
    my ($e, $cat, $p, $q) = @_;
    my $fill = sub { $_[0] =~ s/%P/$p/gr =~ s/%Q/$q/gr };
    my @base = map { $fill->($_) } @{ $Endpoints[$e][2] };
    my %smuggled = map { $_ => $fill->($Smuggled{$_}) } @Keys;
    return map { [$_->[0], body_of(@base, $_->[1] => $_->[2])] } @Deep if $cat eq 'depth';

    my @places = $cat eq 'utf8' || $cat eq 'escape' ? ('key', 'value') : ('key', 'deep');
    my @forms = forms($cat);
    my @c;
    for my $i (0 .. $#forms) {
        my ($keys, $form) = @{ $forms[$i] };
        my @all = map { my $k = $_; map { [$k, $_] } @places } @$keys;
        my @pick = $ENV{MJ_019_FULL} ? @all : $all[($i + $e) % @all];
        push @c, one_case(\@base, \%smuggled, @$_, @$form) for @pick;
    }
    if ($cat eq 'utf8') {
        my $b = body_of(@base);
        push @c, ['FF after "{"', "{\xFF" . substr($b, 1)],
                 ['over-long NUL before the last "}"', substr($b, 0, -1) . "\xC0\x80}"],
                 ['an encoded surrogate after the body', "$b\xED\xA0\x80"],
                 ['half a byte order mark before the body', "\xEF\xBB$b"];
    }
    return @c;
}

# A refusal block: reset the simulated upstream and make it lenient, make a
# task of alice's, send every case to every endpoint, then ask the upstream
# how many requests it saw: only the one that made the task.
our %Block;

sub block {
    my ($cat) = @_;
    return $Block{$cat} //= do {
        my $p = new_id();
        my (@req, @what);
        for my $e (0 .. $#Endpoints) {
            my ($ep, $path) = @{ $Endpoints[$e] };
            for (cases($e, $cat, $p, $p + 500)) {
                push @what, "$ep: $_->[0]";
                push @req, "POST /mj/$path\n$_->[1]";
            }
        }
        if ($ENV{MJ_019_CASES}) {
            Test::More::diag("$cat: req " . ($_ + 3) . ": $what[$_]") for 0 .. $#what;
        }
        my $refusal = $Refusal{$cat eq 'fold' ? 'key' : $cat};
        {
            request => ["POST /sim/reset", qq(POST /sim/config\n{"parser":"lenient"}),
                        qq(POST /mj/submit/imagine\n{"prompt":"z19 parent"}), @req,
                        "GET /sim/seen?s=/mj/"],
            headers => ["", "", "$Alice\r\nX-Sim-Task-Id: $p", ($Alice) x @req, ""],
            codes   => [200, 200, 200, (400) x @req, 200],
            bodies  => ['{"ok":true}', $Lenient, submitted($p), ($refusal) x @req, '{"seen":1}'],
        };
    };
}

# ---------------------------------------------------------------------------
# Bodies that are relayed: valid UTF-8 in values, printable ASCII keys, 64
# levels.  Each reaches the upstream byte for byte: the answer names the task
# made for it, and the upstream's record has the body's length and sha256.
# The upstream's strict parser would refuse a body that is not valid UTF-8,
# and its queue takes every task.

our @Valid = (
    [imagine => '{"prompt":"' . "\xE4\xB8\x80\xE5\x8F\xAA\xE7\x8C\xAB" . ' z19, Chinese, raw"}'],
    [imagine => '{"prompt":"\u4e00\u53ea\u732b z19, Chinese, escaped"}'],
    [imagine => '{"prompt":"z19 emoji, raw ' . "\xF0\x9F\x98\x80" . '"}'],
    [imagine => '{"prompt":"z19 emoji, a surrogate pair \ud83d\ude00"}'],
    [imagine => '{"prompt":"z19 emoji, a surrogate pair in upper case \uD83D\uDE00"}'],
    [imagine => '{"prompt":"z19 U+10FFFF ' . "\xF4\x8F\xBF\xBF" . ' \udbff\udfff, U+FFFF ' . "\xEF\xBF\xBF" . '"}'],
    [imagine => '{"prompt":"z19 ' . "\xC3\xA9 \xD0\xAF \xCE\xA9 \xD8\xB9 \xE2\x84\xAA \xC5\xBF \xC4\xB1" . '"}'],
    [imagine => '{"prompt":"z19 escaped controls \u0000 \t \u001f \u007f \u0080"}'],
    [imagine => '{"prompt":"z19 printable keys"," !#$%&\'()*+,-./:;<=>?@[]^_`{|}~":1,"\u0020\u007e\"\\\\":2}'],
    [imagine => '{"prompt":"z19 nested","z19":[{"k":"' . "\xE7\x8C\xAB" . '","l":["\u732b\ud83d\ude00"]}]}'],
    [imagine => '{"prompt":"z19 64 levels","z19":' . ('[' x 63) . '1' . (']' x 63) . '}'],
    [imagine => '{"prompt":"z19 64 levels","z19":' . ('{"a":' x 63) . '1' . ('}' x 63) . '}'],
    [shorten => '{"prompt":"z19 ' . "\xE4\xB8\x80\xE5\x8F\xAA\xE7\x8C\xAB \xF0\x9F\x98\x80" . '"}'],
    [edits => qq({"prompt":"z19 \\u732b \xF0\x9F\x98\x80","image":"$IMG"})],
    [video => qq({"prompt":"z19 \\ud83d\\ude00 \xE7\x8C\xAB"})],
    [describe => qq({"base64":"$IMG","state":"z19 \xE7\x8C\xAB \\ud83d\\ude00"})],
    [blend => qq({"base64Array":["$IMG","$IMG"],"state":"z19 \xE7\x8C\xAB"})],
    [swap => qq({"sourceBase64":"$IMG","targetBase64":"$IMG","state":"\\u732b z19"})],
);

our $Valid;

sub valid {
    return $Valid //= do {
        my (@req, @hdr, @code, @body);
        for (@Valid) {
            my ($ep, $json) = @$_;
            my $id = new_id();
            my ($len, $sha) = (length $json, Digest::SHA::sha256_hex($json));
            push @req, "POST /mj/$Path{$ep}\n$json", "GET /sim/last";
            push @hdr, "$Alice\r\nX-Sim-Task-Id: $id", "";
            push @code, 200, 200;
            push @body, submitted($id), qr/"body_length":$len,"body_sha256":"$sha",/;
        }
        {
            request => ["POST /sim/reset", qq(POST /sim/config\n{"queue_slots":100000}), @req],
            headers => ["", "", @hdr],
            codes   => [200, 200, @code],
            bodies  => ['{"ok":true}', config_answer(queue_slots => 100000), @body],
        };
    };
}

run_tests();

__DATA__

=== TEST 1: valid UTF-8 in values, printable ASCII keys and 64 levels are relayed byte for byte
--- config eval: $::Loc
--- more_headers eval: ::valid()->{headers}
--- request eval: ::valid()->{request}
--- error_code eval: ::valid()->{codes}
--- response_body eval: ::valid()->{bodies}



=== TEST 2: (a) invalid UTF-8, in keys, in values and around the body, in every endpoint
--- config eval: $::Loc
--- more_headers eval: ::block('utf8')->{headers}
--- request eval: ::block('utf8')->{request}
--- error_code eval: ::block('utf8')->{codes}
--- response_body eval: ::block('utf8')->{bodies}



=== TEST 3: (b) \u escapes that are not a character, in keys and values, in every endpoint
--- config eval: $::Loc
--- more_headers eval: ::block('escape')->{headers}
--- request eval: ::block('escape')->{request}
--- error_code eval: ::block('escape')->{codes}
--- response_body eval: ::block('escape')->{bodies}



=== TEST 4: (c) keys spelled with characters that Go and .NET fold into their letters
--- config eval: $::Loc
--- more_headers eval: ::block('fold')->{headers}
--- request eval: ::block('fold')->{request}
--- error_code eval: ::block('fold')->{codes}
--- response_body eval: ::block('fold')->{bodies}



=== TEST 5: (c) keys with any other character that is not printable ASCII, at any depth
--- config eval: $::Loc
--- more_headers eval: ::block('key')->{headers}
--- request eval: ::block('key')->{request}
--- error_code eval: ::block('key')->{codes}
--- response_body eval: ::block('key')->{bodies}



=== TEST 6: (d) more than 64 levels, in every endpoint
--- config eval: $::Loc
--- more_headers eval: ::block('depth')->{headers}
--- request eval: ::block('depth')->{request}
--- error_code eval: ::block('depth')->{codes}
--- response_body eval: ::block('depth')->{bodies}
