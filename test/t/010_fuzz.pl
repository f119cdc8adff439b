# Fuzzing the types and the index: no input may crash a backend, raise an
# internal error, or lose a value; the index must agree with a sequential scan
# on extreme vectors.
#
#  1. text input: random and mutated literals of i8vec and bitvec (flipped,
#     deleted, inserted and duplicated characters, truncation, huge, tiny and
#     denormal exponents, NaN, inf, -0, hex floats, whitespace, wrong
#     brackets, very long inputs, typmods that do and do not fit).  Each one
#     parses or fails with a clean ERROR (SQLSTATE class 22, 42, 54 or 0A);
#     a parsed value v satisfies v::text::type = v.
#  2. binary input: a valid binary COPY file of each type (written by the
#     server), one tuple at a time mutated (flipped bytes, dims, reserved
#     field, scales NaN / inf / -0 / denormal / negative / huge, codes -128,
#     padding bits, field lengths) and COPYed back.  Each loads or fails
#     cleanly; every loaded value round trips through text and through
#     send/recv (binary COPY out and in again), and its distance functions
#     run.
#  3. extreme vectors (huge ~1e38, tiny, denormal, zero, all-equal, one-hot,
#     duplicates, mixed magnitudes and signs, codes from i8vec_from_codes) in
#     tables indexed by every operator class of embq_ivf, some rows inserted
#     before the index is built and some after, small and larger dims.  With
#     every list probed and rescoring covering the table (the scan is then
#     exact, see ivfscan.c) the index returns exactly the rows of a
#     sequential scan, each once, in distance order; at the default settings
#     and with rescoring off (coarse order) it returns each row at most once
#     and as many as asked for.
#  4. the server log shows no crash, PANIC or assertion failure, and the
#     server is up.
#
# The cases come from Perl's rand() seeded with EMBQ_FUZZ_SEED (default
# fixed, so CI is deterministic; EMBQ_FUZZ_SEED=random picks one); the seed
# is printed, and every failure prints a standalone SQL reproducer.
# EMBQ_FUZZ_SECONDS lengthens parts 1 and 2 (more rounds, until that many
# seconds have passed); by default they run a fixed number of rounds, cut
# short on a slow machine after about 100 seconds.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use EmbqCrashLog;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $seed = $ENV{EMBQ_FUZZ_SEED} // 7007;
$seed = int(time() * 1000) % 1000000007 if $seed eq 'random';
die "EMBQ_FUZZ_SEED must be an integer or 'random'" unless $seed =~ /^\d+$/;
my $fuzz_seconds = $ENV{EMBQ_FUZZ_SECONDS};
diag("embq fuzz seed: $seed (replay with EMBQ_FUZZ_SEED=$seed)");
srand($seed);
my $t0 = time();

my $node = PostgreSQL::Test::Cluster->new('fuzz');
$node->init;
$node->append_conf('postgresql.conf', q{
restart_after_crash = on
autovacuum = off
log_min_messages = warning
log_min_error_statement = panic
lc_messages = 'C'
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION embq');
my $dir = $node->basedir . '/fuzz';
mkdir $dir or die "mkdir $dir: $!";

# ---------------------------------------------------------------- helpers

# Failures by class (what failed, independent of the input): a count and
# the first few inputs with reproducers.  Each section reports one failed
# test per class, so a systematic failure reads as one line, not hundreds.
my %groups;
my @group_order;
my @failures;    # every class reported, for the summary at the end
my $crashes = 0;

my $crashlog = EmbqCrashLog->new($node);

# Run SQL; returns (status, stdout, stderr), status 'ok', 'error' or 'crash'
# (the connection was lost, or the log shows a crash since the last call).
sub run_sql
{
	my ($sql, %opt) = @_;
	my ($out, $err) = ('', '');
	my $rc = $node->psql('postgres', $sql,
		stdout => \$out, stderr => \$err, on_error_stop => 1,
		timeout => $opt{timeout} // 300);
	my @crash = $crashlog->new_lines;
	if ($rc == 2 || @crash || $err =~ /server closed the connection|connection to server was lost|terminating connection because of crash/)
	{
		$crashes++;
		note("crash:\n" . join("\n", @crash));
		$crashlog->wait_up;
		return ('crash', $out, $err . "\n" . join("\n", @crash));
	}
	return ($rc == 0 ? 'ok' : 'error', $out, $err);
}

# A failure of a class, with what the input was and a reproducer.
sub fail_with
{
	my ($class, $detail, $repro) = @_;
	push @group_order, $class unless $groups{$class};
	my $g = $groups{$class} //= { n => 0, examples => [] };
	$g->{n}++;
	push @{ $g->{examples} }, "$detail\n    reproducer: $repro" if @{ $g->{examples} } < 3;
}

# End of a section: one failed test per class of failure, or one passing test.
sub report_section
{
	my ($section) = @_;
	if (!@group_order)
	{
		pass($section);
		return;
	}
	for my $class (@group_order)
	{
		my $g = $groups{$class};
		fail("$section: $class ($g->{n} cases)");
		diag("e.g. $_") for @{ $g->{examples} };
		push @failures, "$class ($g->{n} cases), e.g. $g->{examples}[0]";
	}
	%groups = ();
	@group_order = ();
}

# SQL string literal.
sub quote_lit
{
	my ($s) = @_;
	$s =~ s/'/''/g;
	return "'$s'";
}

# An abbreviated literal for messages (reproducers keep the whole one).
sub short
{
	my ($s, $max) = @_;
	$max //= 120;
	$s =~ s/([^\x20-\x7e])/sprintf('\\x%02x', ord($1))/ge;
	return length($s) > $max ? substr($s, 0, $max - 20) . '...(' . length($s) . ' chars)' : $s;
}

# Cut the rounds short by default past this many seconds (EMBQ_FUZZ_SECONDS
# instead keeps going until then).
sub out_of_time
{
	my ($round, $rounds) = @_;
	my $elapsed = time() - $t0;
	return $elapsed >= $fuzz_seconds if defined $fuzz_seconds;
	return 1 if $round >= $rounds;
	if ($elapsed > 100)
	{
		note("fuzz rounds cut short after round $round: ${elapsed}s");
		return 1;
	}
	return 0;
}

# SQLSTATEs a bad input may raise: data exceptions, syntax and type errors,
# program limits, unsupported features, and 08P01, which PostgreSQL's own
# binary message readers raise on a short field.  Internal errors (XX),
# resource errors (53) and anything else are failures.
sub clean_sqlstate { return $_[0] =~ /^(22|42|54|0A|08P01)/; }

# Server-side checkers: each returns 'ok', 'error SQLSTATE message' (the
# input was rejected) or 'rtfail ...' (a parsed value does not round trip).
$node->safe_psql('postgres', q{
CREATE FUNCTION fuzz_text(typ text, tm text, lit text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	out text;
	same boolean;
	st text;
	msg text;
BEGIN
	BEGIN
		EXECUTE format('SELECT (%L::%s%s)::text', lit, typ, tm) INTO out;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
		RETURN 'error ' || st || ' ' || left(regexp_replace(msg, '\s+', ' ', 'g'), 150);
	END;
	BEGIN
		EXECUTE format('SELECT %L::%s = %L::%s', out, typ, lit, typ) INTO same;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
		RETURN 'rtfail the output does not parse: ' || st || ' '
			|| left(regexp_replace(msg, '\s+', ' ', 'g'), 150);
	END;
	IF same IS NOT TRUE THEN
		RETURN 'rtfail v::text::' || typ || ' <> v; v::text = ' || left(out, 150);
	END IF;
	EXECUTE format('INSERT INTO parsed_%s (lit, v) VALUES (%L, %L)', typ, lit, lit);
	RETURN 'ok';
END $$;

-- a loaded value: text round trip, and the functions in calls (an
-- expression of v) run
CREATE FUNCTION fuzz_value(v anyelement, calls text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	same boolean;
	st text;
	msg text;
BEGIN
	BEGIN
		EXECUTE format('SELECT $1::text::%s = $1', pg_typeof(v)) USING v INTO same;
		IF same IS NOT TRUE THEN
			RETURN 'rtfail v::text::' || pg_typeof(v) || ' <> v; v::text = ' || left(v::text, 150);
		END IF;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
		RETURN 'rtfail v::text does not parse: ' || st || ' ' || left(regexp_replace(msg, '\s+', ' ', 'g'), 150);
	END;
	BEGIN
		EXECUTE 'SELECT ' || calls USING v;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
		RETURN 'error ' || st || ' ' || left(regexp_replace(msg, '\s+', ' ', 'g'), 150);
	END;
	RETURN 'ok';
END $$;

CREATE FUNCTION fuzz_value_i8vec(v i8vec) RETURNS text LANGUAGE sql AS $$
	SELECT r || CASE WHEN r LIKE 'rtfail%' THEN ' codes ' || left(i8vec_codes(v)::text, 100)
			|| ' scale ' || i8vec_scale(v) ELSE '' END
	FROM fuzz_value(v, '$1 <-> $1, $1 <#> $1, $1 <=> $1, dequantize($1), quantize_binary($1),
		$1 <-> dequantize($1), $1 <=> dequantize($1), $1 <#> dequantize($1)::float8[], l2_norm($1),
		embq_dims($1)') r
$$;

CREATE FUNCTION fuzz_value_bitvec(v bitvec) RETURNS text LANGUAGE sql AS $$
	SELECT fuzz_value(v, '$1 <~> $1, $1 <%> $1, $1 <#> dequantize($1), bitvec_to_bytea($1), $1::bit varying,
		bitvec(bitvec_to_bytea($1), embq_dims($1)) = $1, bit_count($1)')
$$;

-- a binary COPY of one file into loaded_<typ>, rows tagged with the case
CREATE FUNCTION fuzz_copy(typ text, path text, id int) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	st text;
	msg text;
BEGIN
	PERFORM set_config('fuzz.case', id::text, true);
	EXECUTE format('COPY loaded_%s (v) FROM %L (FORMAT binary)', typ, path);
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
	RETURN 'error ' || st || ' ' || left(regexp_replace(msg, '\s+', ' ', 'g'), 150);
END $$;

CREATE TABLE parsed_i8vec (n serial, lit text, v i8vec);
CREATE TABLE parsed_bitvec (n serial, lit text, v bitvec);
CREATE TABLE loaded_i8vec (n serial, id int DEFAULT current_setting('fuzz.case')::int, v i8vec);
CREATE TABLE loaded_bitvec (n serial, id int DEFAULT current_setting('fuzz.case')::int, v bitvec);
CREATE TABLE cases (id int PRIMARY KEY, typ text, tm text, lit text);
});

# ------------------------------------------------------ 1. text inputs

# Numbers that are hard to parse, scale or print.
my @special = qw(NaN nan -NaN inf -inf Infinity -Infinity INF 0 -0 +0 0.0 -0.0 1 -1
  1e38 -1e38 3.4028235e38 -3.4028235e38 3.4028236e38 3.5e38 1e39 1e308 1e309 1e-38 1.17549435e-38
  1.1754942e-38 1e-40 -1e-40 1.4e-45 1.401298464e-45 7e-46 1e-45 1e-46 1e-400 1e400
  0x1p-149 0x1p-150 0x1.fffffep127 0x1p128 0x10 .5 5. +.5e-3 -.0e0 00000000001 1e+0038
  2.6789e38 1.3394e36 2.679e36 127 -127 128 1e-30 -1e-30 1e 1e+ e5 .e1 --1 +-1 1.2.3 1e5e5);

sub rand_float
{
	my $r = rand();
	return $special[ int(rand(@special)) ] if $r < 0.12;
	my $mag = (-45, -40, -38, -30, -5, -1, 0, 1, 5, 30, 36, 37, 38)[ int(rand(13)) ];
	my $x = (rand() * 2 - 1) * 10**$mag;
	my $fmt = ('%.9g', '%g', '%.3e', '%.17g', '%.1f')[ int(rand(5)) ];
	return sprintf($fmt, $x);
}

sub rand_dims
{
	my $r = rand();
	return 1 + int(rand(4)) if $r < 0.5;
	return 1 + int(rand(64)) if $r < 0.9;
	return 1 + int(rand(2000));
}

sub i8vec_literal
{
	my ($dims) = @_;
	my $kind = rand();
	my @x;
	if ($kind < 0.15)
	{
		# one magnitude for all (a scale may underflow or overflow)
		my $mag = (-45, -42, -40, -38, 0, 36, 38)[ int(rand(7)) ];
		@x = map { sprintf('%.9g', (rand() * 2 - 1) * 10**$mag) } 1 .. $dims;
	}
	elsif ($kind < 0.25)
	{
		my $c = rand_float();
		@x = ($c) x $dims;
	}
	else
	{
		@x = map { rand_float() } 1 .. $dims;
	}
	my $sep = rand() < 0.8 ? ',' : (', ', ' ,', " ,\t")[ int(rand(3)) ];
	return '[' . join($sep, @x) . ']';
}

sub bitvec_literal
{
	my ($dims) = @_;
	my $p = (0, 0.5, 0.5, 1, 0.05)[ int(rand(5)) ];
	return join('', map { rand() < $p ? '1' : '0' } 1 .. $dims);
}

my @alphabet = (split(//, '0123456789.,[]eE+- '), "\t", "\n", "\r", "\f", "\x0b", qw{( ) { } ; : x a n i f N I _ ' " \\ / 1 0 1 0},
	"\x{e9}", "\x{221e}", "\x{ff10}", "\x{a0}");

sub mutate
{
	my ($s, $typ) = @_;
	my $n = 1 + int(rand(3));
	for (1 .. $n)
	{
		my $len = length($s);
		my $pos = int(rand($len + 1));
		my $op = int(rand(11));
		if ($op == 0 && $len)
		{
			substr($s, $pos % $len, 1) = $alphabet[ int(rand(@alphabet)) ];
		}
		elsif ($op == 1 && $len)
		{
			substr($s, $pos % $len, 1) = '';
		}
		elsif ($op == 2)
		{
			substr($s, $pos, 0) = $alphabet[ int(rand(@alphabet)) ];
		}
		elsif ($op == 3)
		{
			$s = substr($s, 0, $pos);
		}
		elsif ($op == 4 && $len)
		{
			my $from = int(rand($len));
			my $piece = substr($s, $from, 1 + int(rand(20)));
			substr($s, $pos, 0) = $piece x (1 + int(rand(3)));
		}
		elsif ($op == 5 && $typ eq 'i8vec')
		{
			# replace a number by a special one
			my @parts = split /,/, $s, -1;
			my $i = int(rand(@parts || 1));
			$parts[$i] = ($i == 0 ? '[' : '') . $special[ int(rand(@special)) ]
			  . ($i == $#parts ? ']' : '') if @parts;
			$s = join(',', @parts);
		}
		elsif ($op == 6)
		{
			my $ws = (' ', "\t", "\n", "\r\n", '   ', "\f", "\x0b")[ int(rand(7)) ];
			$s = rand() < 0.5 ? "$ws$s" : "$s$ws";
		}
		elsif ($op == 7 && $typ eq 'i8vec')
		{
			# an exponent on a number
			$s =~ s/(\d)([,\]])/$1 . (('e38', 'e-38', 'e-45', 'e39', 'e-50', 'e+400', 'e')[int(rand(7))]) . $2/e;
		}
		elsif ($op == 8)
		{
			$s = $s . $s;
		}
		elsif ($op == 9 && $typ eq 'i8vec')
		{
			my %swap = ('[' => '(', ']' => ')', ',' => ';');
			my $c = ('[', ']', ',')[ int(rand(3)) ];
			$s =~ s/\Q$c\E/$swap{$c}/ if rand() < 0.5;
			$s =~ s/\Q$c\E// if rand() < 0.5;
			$s = "[$s" if rand() < 0.3;
			$s = "$s]" if rand() < 0.3;
		}
		else
		{
			$s = '-' . $s if rand() < 0.5;
		}
	}
	return $s;
}

# Fixed cases at the edges (dimension limits, very long numbers).
my @fixed = (
	[ 'i8vec', '', '' ], [ 'i8vec', '', '[]' ], [ 'i8vec', '', '[' ], [ 'i8vec', '', ']' ],
	[ 'i8vec', '', '[,]' ], [ 'i8vec', '', '[1,]' ], [ 'i8vec', '', '[,1]' ], [ 'i8vec', '', ' ' ],
	[ 'i8vec', '', '[1]]' ], [ 'i8vec', '', '[[1]]' ], [ 'i8vec', '', '[1 2]' ], [ 'i8vec', '', '{1,2}' ],
	[ 'i8vec', '', '[' . join(',', (1) x 16000) . ']' ],
	[ 'i8vec', '', '[' . join(',', (1) x 16001) . ']' ],
	[ 'i8vec', '', '[' . join(',', map { sprintf('%.9g', (rand() - 0.5) * 1e38) } 1 .. 16000) . ']' ],
	[ 'i8vec', '', '[' . join(',', map { sprintf('%.9g', (rand() - 0.5) * 1e-40) } 1 .. 3000) . ']' ],
	[ 'i8vec', '(16000)', '[' . join(',', (0) x 16000) . ']' ],
	[ 'i8vec', '', '[' . ('1' x 5000) . ']' ], [ 'i8vec', '', '[0.' . ('0' x 5000) . '1]' ],
	[ 'i8vec', '', '[1' . ('0' x 40) . ']' ], [ 'i8vec', '', '[' . ('9' x 39) . ']' ],
	[ 'i8vec', '', '[3.4028235e38,-3.4028235e38,1.4e-45]' ], [ 'i8vec', '', '[1.4e-45,-1.4e-45]' ],
	[ 'i8vec', '', '[1e-45,2e-45,3e-45]' ], [ 'i8vec', '', '[-0]' ], [ 'i8vec', '', '[-0,0,-0]' ],
	[ 'i8vec', '(0)', '[1]' ], [ 'i8vec', '(-1)', '[1]' ], [ 'i8vec', '(16001)', '[1]' ],
	[ 'i8vec', '(2147483647)', '[1]' ], [ 'i8vec', '(1)', '[1]' ], [ 'i8vec', '(2)', '[1]' ],
	[ 'bitvec', '', '' ], [ 'bitvec', '', ' ' ], [ 'bitvec', '', '0' ], [ 'bitvec', '', '2' ],
	[ 'bitvec', '', '1' x 64000 ], [ 'bitvec', '', '1' x 64001 ], [ 'bitvec', '', '0' x 64000 ],
	[ 'bitvec', '(64000)', '01' x 32000 ], [ 'bitvec', '(0)', '1' ], [ 'bitvec', '(64001)', '1' ],
	[ 'bitvec', '(-5)', '1' ], [ 'bitvec', '(7)', '1010101' ], [ 'bitvec', '(8)', '1010101' ],
	[ 'bitvec', '', "1\x{e9}" ], [ 'bitvec', '', "0\x{221e}" ], [ 'bitvec', '', 'B101' ], [ 'bitvec', '', 'x1F' ],
);

# One round: build the cases, check them in one statement; on a crash find
# the case that crashes by halving.
my $case_id = 0;
my %text_results;

sub check_text_cases
{
	my (@cases) = @_;
	return unless @cases;
	my $file = "$dir/cases.tsv";
	open(my $fh, '>:encoding(UTF-8)', $file) or die;
	my @ids;
	for my $c (@cases)
	{
		my ($typ, $tm, $lit) = @$c;
		my $id = ++$case_id;
		push @ids, $id;
		$c->[3] = $id;
		(my $esc = $lit) =~ s/([\\\t\n\r])/{ "\\" => '\\\\', "\t" => '\\t', "\n" => '\\n', "\r" => '\\r' }->{$1}/ge;
		print $fh "$id\t$typ\t$tm\t$esc\n";
	}
	close $fh;
	my ($status, $out, $err) = run_sql("TRUNCATE cases; COPY cases FROM '$file';
		SELECT id, fuzz_text(typ, tm, lit) FROM cases ORDER BY id");
	if ($status eq 'crash')
	{
		if (@cases == 1)
		{
			my ($typ, $tm, $lit) = @{ $cases[0] };
			fail_with("text input of $typ crashes the backend", "input " . short($lit),
				"SELECT " . quote_lit($lit) . "::$typ$tm;");
			return;
		}
		my $half = int(@cases / 2);
		check_text_cases(map { [ @$_[ 0 .. 2 ] ] } @cases[ 0 .. $half - 1 ]);
		check_text_cases(map { [ @$_[ 0 .. 2 ] ] } @cases[ $half .. $#cases ]);
		return;
	}
	die "text fuzz statement failed: $err" if $status ne 'ok';
	my %res = map { split /\|/, $_, 2 } split /\n/, $out;
	for my $c (@cases)
	{
		my ($typ, $tm, $lit, $id) = @$c;
		my $r = $res{$id} // 'missing';
		my $tag = $r eq 'ok' ? 'ok' : $r =~ /^error (\S+)/ ? "error $1" : $r =~ /^rtfail/ ? 'rtfail' : $r;
		$text_results{"$typ $tag"}++;
		if ($r =~ /^error (\S+)/ && !clean_sqlstate($1))
		{
			fail_with("text input of $typ: not a clean error ($1)", "$r (input " . short($lit) . ')',
				"SELECT " . quote_lit($lit) . "::$typ$tm;");
		}
		elsif ($r =~ /^rtfail/)
		{
			fail_with("text input of $typ does not round trip through text", "$r (input " . short($lit) . ')',
				"SELECT v::text, v::text::$typ = v FROM (SELECT " . quote_lit($lit) . "::$typ AS v) s;");
		}
		elsif ($r ne 'ok' && $r !~ /^error/)
		{
			fail_with("text input of $typ: unexpected result", $r, "SELECT " . quote_lit($lit) . "::$typ$tm;");
		}
	}
}

check_text_cases(@fixed);
my $round = 0;
until (out_of_time($round, 24))
{
	$round++;
	my @cases;
	for (1 .. 250)
	{
		my $typ = rand() < 0.6 ? 'i8vec' : 'bitvec';
		my $dims = rand_dims();
		my $lit = $typ eq 'i8vec' ? i8vec_literal($dims) : bitvec_literal($dims);
		$lit = mutate($lit, $typ) if rand() < 0.7;
		my $tm = '';
		if (rand() < 0.15)
		{
			my $want = (0, 1, $dims, $dims, $dims - 1, $dims + 1, 16000, 64000, 100000, -1)[ int(rand(10)) ];
			$tm = "($want)";
		}
		push @cases, [ $typ, $tm, $lit ];
	}
	check_text_cases(@cases);
}
note("text inputs: $case_id cases in $round rounds; "
	  . join(', ', map { "$_: $text_results{$_}" } sort keys %text_results));

# Parsed values round trip through send/recv: binary COPY out, in, compare.
sub check_binary_round_trip
{
	my ($table, $typ, $label) = @_;
	my $file = "$dir/$table.rt";
	my ($status, $out, $err) = run_sql(qq{
		COPY (SELECT n, v FROM $table) TO '$file' (FORMAT binary);
		CREATE TABLE rt_$table (n int, v $typ);
		COPY rt_$table FROM '$file' (FORMAT binary);
		SELECT count(*), count(r.n),
			count(*) FILTER (WHERE r.v IS NOT DISTINCT FROM p.v
				AND ${typ}_send(r.v) IS NOT DISTINCT FROM ${typ}_send(p.v)
				AND r.v::text IS NOT DISTINCT FROM p.v::text)
			FROM $table p LEFT JOIN rt_$table r USING (n);
		DROP TABLE rt_$table});
	if ($status ne 'ok')
	{
		fail_with("$label: binary COPY round trip fails", "$status: $err", "(see $table)");
		return;
	}
	my ($all, $back, $same) = split /\|/, $out;
	note("$label: $same of $all values round trip through send/recv");
	if ($same != $all || $back != $all)
	{
		my $bad = $node->safe_psql('postgres', qq{
			COPY (SELECT n, v FROM $table) TO '$file' (FORMAT binary);
			CREATE TABLE rt_$table (n int, v $typ);
			COPY rt_$table FROM '$file' (FORMAT binary);
			SELECT p.v::text FROM $table p JOIN rt_$table r USING (n)
				WHERE NOT (r.v IS NOT DISTINCT FROM p.v AND ${typ}_send(r.v) IS NOT DISTINCT FROM ${typ}_send(p.v)
					AND r.v::text IS NOT DISTINCT FROM p.v::text) LIMIT 3;
			DROP TABLE rt_$table});
		diag("$label: values that do not round trip through send/recv: $bad");
		fail_with("$label: values do not round trip through send/recv", $bad, "(see $table)");
	}
}
check_binary_round_trip('parsed_i8vec', 'i8vec', 'parsed i8vec');
check_binary_round_trip('parsed_bitvec', 'bitvec', 'parsed bitvec');
report_section("text inputs: $case_id cases parse and round trip, or fail cleanly");

# ------------------------------------------------------ 2. binary inputs

# Valid values of each type, written by the server in binary COPY format.
$node->safe_psql('postgres', qq{
	SELECT setseed(@{[ ($seed % 1999) / 1000 - 0.999 ]});
	CREATE TABLE seed_i8vec (v i8vec);
	INSERT INTO seed_i8vec VALUES ('[1,2,3]'), ('[0]'), ('[0,0,0,0]'), ('[-1e38,1e38,5]'),
		('[1e-40,-3e-41]'), ('[3.4028235e38]'), ('[1,-1,1,-1,1,-1,1,-1,1]');
	INSERT INTO seed_i8vec SELECT i8vec_from_codes(ARRAY[1, -2, 3, 0, 5]);
	INSERT INTO seed_i8vec SELECT i8vec_from_codes(array_fill(127, ARRAY[40]));
	INSERT INTO seed_i8vec SELECT quantize_int8(array(SELECT (random() - 0.5)::real FROM generate_series(1, d)))
		FROM generate_series(1, 70, 7) d;
	CREATE TABLE seed_bitvec (v bitvec);
	INSERT INTO seed_bitvec VALUES ('1'), ('0'), ('10110'), ('11111111'), ('000000001'),
		(repeat('10', 50)::bitvec), (repeat('1', 1023)::bitvec);
	COPY seed_i8vec TO '$dir/seed_i8vec.bin' (FORMAT binary);
	COPY seed_bitvec TO '$dir/seed_bitvec.bin' (FORMAT binary);
});

# Split a binary COPY file into header and tuples (one field each).
sub read_copy_file
{
	my ($path) = @_;
	open(my $fh, '<:raw', $path) or die "open $path: $!";
	local $/;
	my $data = <$fh>;
	close $fh;
	my $ext = unpack('N', substr($data, 15, 4));
	my $pos = 19 + $ext;
	my $header = substr($data, 0, $pos);
	my @fields;
	while (1)
	{
		my $nf = unpack('n!', substr($data, $pos, 2));
		$pos += 2;
		last if $nf == -1;
		die "expected one field per tuple" unless $nf == 1;
		my $len = unpack('N', substr($data, $pos, 4));
		$pos += 4;
		push @fields, substr($data, $pos, $len);
		$pos += $len;
	}
	return ($header, @fields);
}

sub rand_byte { return chr(int(rand(256))); }

# A standalone reproducer: a binary COPY of one tuple with the given field
# data (and field length), made by printf(1), into a new table, then $then.
sub copy_repro
{
	my ($typ, $field, $then, $flen) = @_;
	$flen //= length($field);
	my $file = "PGCOPY\n\377\r\n\0" . pack('N', 0) . pack('N', 0) . pack('n!', 1) . pack('N', $flen)
	  . $field . pack('n!', -1);
	my $octal = join('', map { sprintf('\\%03o', ord($_)) } split //, $file);
	return "CREATE TABLE r (v $typ); COPY r FROM PROGRAM 'printf \"$octal\"' (FORMAT binary); $then";
}

# Mutate one field's bytes (i8vec: int16 dims, int16 reserved, float4 scale,
# codes; bitvec: int32 bits, packed bytes).
sub mutate_field
{
	my ($f, $typ) = @_;
	my @scales = (pack('f>', 'NaN'), pack('f>', 'Inf'), pack('f>', '-Inf'), pack('f>', -0.0),
		pack('f>', 1e-45), pack('f>', 1e-40), pack('f>', -1), pack('f>', 3.4e38), pack('f>', 2.6789e36),
		pack('f>', 2.67e36), pack('f>', 1e30), pack('f>', 0), "\x7f\x80\x00\x01", "\xff\xff\xff\xff");
	my $n = 1 + int(rand(2));
	for (1 .. $n)
	{
		my $op = int(rand(10));
		my $len = length($f);
		my $hdr = $typ eq 'i8vec' ? 8 : 4;
		# header fields of short values are first padded out
		$f .= "\0" x ($hdr - $len), $len = $hdr if $op <= 4 && $len < $hdr;
		if ($op == 0 && $len)
		{
			substr($f, int(rand($len)), 1) = rand_byte();
		}
		elsif ($op == 1)
		{
			# the dimension field
			my $d = (0, 1, -1, 32767, -32768, 16000, 16001, 64000, 64001, 65535, 7, 8, 9)[ int(rand(13)) ];
			my $dn = unpack($typ eq 'i8vec' ? 'n!' : 'N!', $f) // 0;
			$d = $dn + (rand() < 0.5 ? 1 : -1) if rand() < 0.4;
			substr($f, 0, $typ eq 'i8vec' ? 2 : 4) = pack($typ eq 'i8vec' ? 'n!' : 'N!', $d);
		}
		elsif ($op == 2 && $typ eq 'i8vec')
		{
			substr($f, 2, 2) = pack('n!', (1, -1, 256)[ int(rand(3)) ]);
		}
		elsif (($op == 3 || $op == 4) && $typ eq 'i8vec')
		{
			substr($f, 4, 4) = $scales[ int(rand(@scales)) ];
		}
		elsif ($op == 5 && $len > $hdr)
		{
			my $at = $hdr + int(rand($len - $hdr));
			substr($f, $at, 1) = $typ eq 'i8vec' ? ("\x80", "\x7f", "\x81", "\x00")[ int(rand(4)) ]
			  : ("\xff", "\x01", "\x00")[ int(rand(3)) ];
		}
		elsif ($op == 6)
		{
			# truncate or extend
			$f = rand() < 0.5 ? substr($f, 0, int(rand($len + 1))) : $f . join('', map { rand_byte() } 1 .. 1 + int(rand(9)));
		}
		elsif ($op == 7 && $typ eq 'bitvec' && $len > $hdr)
		{
			# padding bits of the last byte
			substr($f, $len - 1, 1) = chr(ord(substr($f, $len - 1, 1)) | (1 << int(rand(8))));
		}
		elsif ($op == 8 && $len)
		{
			my $at = int(rand($len));
			substr($f, $at, 1) = chr(ord(substr($f, $at, 1)) ^ (1 << int(rand(8))));
		}
		else
		{
			$f = join('', map { rand_byte() } 1 .. int(rand(12)));
		}
	}
	return $f;
}

my %bin_results;
my $bin_cases = 0;

# COPY the files in, one statement per batch; on a crash find the file by halving.
sub check_binary_cases
{
	my ($typ, @cases) = @_;
	return unless @cases;
	my $sql = join(",\n", map { "($_->[0], fuzz_copy('$typ', '$_->[1]', $_->[0]))" } @cases);
	my ($status, $out, $err) = run_sql("SELECT c.id, r FROM (VALUES $sql) c(id, r) ORDER BY c.id");
	if ($status eq 'crash')
	{
		if (@cases == 1)
		{
			my $hex = unpack('H*', $cases[0][2]);
			fail_with("binary input of $typ crashes the backend", "field data \\x$hex",
				copy_repro($typ, $cases[0][2], '', $cases[0][3]));
			return;
		}
		my $half = int(@cases / 2);
		check_binary_cases($typ, @cases[ 0 .. $half - 1 ]);
		check_binary_cases($typ, @cases[ $half .. $#cases ]);
		return;
	}
	die "binary fuzz statement failed: $err" if $status ne 'ok';
	my %res = map { split /\|/, $_, 2 } split /\n/, $out;
	for my $c (@cases)
	{
		my $r = $res{ $c->[0] } // 'missing';
		$bin_results{"$typ " . ($r =~ /^(error \S+)/ ? $1 : $r)}++;
		if ($r ne 'ok' && !($r =~ /^error (\S+)/ && clean_sqlstate($1)))
		{
			my $hex = unpack('H*', $c->[2]);
			fail_with("binary input of $typ: not a clean error", "$r (field data \\x$hex)",
				copy_repro($typ, $c->[2], '', $c->[3]));
		}
		else
		{
			unlink $c->[1];
		}
	}
}

for my $typ ('i8vec', 'bitvec')
{
	my ($header, @fields) = read_copy_file("$dir/seed_$typ.bin");
	# the valid files load as they are
	my @cases;
	for my $f (@fields)
	{
		my $id = ++$case_id;
		my $path = "$dir/bin_$id.bin";
		open(my $fh, '>:raw', $path) or die;
		print $fh $header . pack('n!', 1) . pack('N', length($f)) . $f . pack('n!', -1);
		close $fh;
		push @cases, [ $id, $path, $f ];
	}
	check_binary_cases($typ, @cases);
	is($node->safe_psql('postgres', "SELECT count(*) FROM loaded_$typ"), scalar(@fields),
		"binary input of $typ: the unmutated tuples load");
	$round = 0;
	my $t_start = time();
	until (out_of_time($round, 12))
	{
		$round++;
		@cases = ();
		for (1 .. 150)
		{
			my $id = ++$case_id;
			my $f = mutate_field($fields[ int(rand(@fields)) ], $typ);
			my $path = "$dir/bin_$id.bin";
			open(my $fh, '>:raw', $path) or die;
			my $framing = rand();
			my $flen = length($f);
			# now and then a field length that disagrees with the data
			$flen = (0, -1, $flen + 1, $flen - 1, 0x7fffffff)[ int(rand(5)) ] if $framing < 0.05;
			print $fh $header . pack('n!', 1) . pack('N', $flen) . $f . pack('n!', -1);
			close $fh;
			push @cases, [ $id, $path, $f, $flen ];
			$bin_cases++;
		}
		check_binary_cases($typ, @cases);
	}
}
note("binary inputs: $bin_cases mutated tuples; " . join(', ', map { "$_: $bin_results{$_}" } sort keys %bin_results));
report_section("binary inputs: $bin_cases mutated tuples load or fail cleanly");

# Every loaded value round trips through text, its functions run, and it
# round trips through send/recv.
for my $typ ('i8vec', 'bitvec')
{
	# i8vec failures are told apart by the largest |code| (0: a nonzero
	# scale with all codes 0; below 127: a value text input cannot make)
	my $maxcode = $typ eq 'i8vec' ? '(SELECT max(abs(c)) FROM unnest(i8vec_codes(v)) c)' : "'-'";
	my ($status, $out, $err) = run_sql(qq{
		SELECT id, r, ${typ}_send(v), $maxcode FROM (SELECT id, v, fuzz_value_$typ(v) AS r FROM loaded_$typ) s
		WHERE r <> 'ok' ORDER BY id});
	if ($status eq 'crash')
	{
		# find the value by trying each alone
		my @ids = split /\n/, $node->safe_psql('postgres', "SELECT id FROM loaded_$typ ORDER BY id");
		for my $id (@ids)
		{
			my ($st) = run_sql("SELECT fuzz_value_$typ(v) FROM loaded_$typ WHERE id = $id");
			next unless $st eq 'crash';
			my $hex = $node->safe_psql('postgres', "SELECT ${typ}_send(v) FROM loaded_$typ WHERE id = $id");
			fail_with("a binary-loaded $typ value crashes a function", "send form $hex",
				"SELECT fuzz_value_$typ(v) for the value whose send form is $hex (see 010_fuzz.pl)");
		}
		next;
	}
	die "value check failed: $err" if $status ne 'ok';
	my $n = $node->safe_psql('postgres', "SELECT count(*) FROM loaded_$typ");
	my @bad = grep { length } split /\n/, $out;
	for my $line (@bad)
	{
		my ($id, $r, $send, $mc) = split /\|/, $line;
		if ($r =~ /^error (\S+)/ && clean_sqlstate($1))
		{
			note("loaded $typ $send: $r");
			next;
		}
		my $class = $r =~ /^rtfail/ ? "a binary-loaded $typ value does not round trip through text"
		  : "a function of a binary-loaded $typ value fails";
		$class .= $mc eq '0' ? ' (scale > 0, all codes 0)' : $mc < 127 ? ' (largest |code| below 127)'
		  : ' (largest |code| 127)' if $typ eq 'i8vec';
		(my $hex = $send) =~ s/^\\x//;
		fail_with($class, "$r (send form $send)",
			copy_repro($typ, pack('H*', $hex), "SELECT v::text, v::text::$typ = v FROM r;"));
	}
	note("binary input of $typ: $n loaded values checked (text round trip, functions)");
	check_binary_round_trip("loaded_$typ", $typ, "binary-loaded $typ");
}

# i8vec values made by i8vec_from_codes (codes below 127) round trip through text.
{
	my @cases = map { [ join(',', map { int(rand(2 * $_ + 1)) - $_ } (1 + int(rand(126))) x (1 + int(rand(8)))) ] } 1 .. 20;
	push @cases, [ '1,2,-3' ], [ '0,0,1' ], [ '127,1' ], [ '-127,0' ], [ '126' ];
	my $bad = 0;
	for my $c (@cases)
	{
		my ($status, $out, $err) = run_sql(
			"SELECT fuzz_value_i8vec(i8vec_from_codes('{$c->[0]}'::int[]))");
		next if $status eq 'ok' && $out eq 'ok';
		$bad++;
		fail_with('an i8vec_from_codes value does not round trip through text',
			"i8vec_from_codes('{$c->[0]}'): $status $out $err",
			"SELECT v::text, v::text::i8vec = v FROM (SELECT i8vec_from_codes('{$c->[0]}'::int[]) v) s;");
	}
}
report_section('binary inputs: loaded values round trip through text and send/recv, and their functions run');

# ------------------------------------------------- 3. extreme vectors, indexed

sub fmt_float { return sprintf('%.9g', $_[0]); }

# A random extreme vector of dims floats, each representable as a float4
# (a nonzero literal below the least denormal, 1.4e-45, is out of range
# for i8vec input, as for real).
sub extreme_vec
{
	return [ map { ($_ != 0 && abs($_) < 1.5e-45) ? 0 : $_ } @{ extreme_vec_raw(@_) } ];
}

# A random extreme vector of dims floats, of the given kind or a random one.
sub extreme_vec_raw
{
	my ($dims, $kind) = @_;
	$kind //= ('normal', 'huge', 'tiny', 'denormal', 'zero', 'allequal', 'onehot', 'mixed', 'maxabs', 'signs')[ int(rand(10)) ];
	my $sign = sub { rand() < 0.5 ? -1 : 1 };
	return [ map { rand() - 0.5 } 1 .. $dims ] if $kind eq 'normal';
	return [ map { $sign->() * (1e37 + rand() * 3.3e38) } 1 .. $dims ] if $kind eq 'huge';
	return [ map { $sign->() * 3.4028234e38 } 1 .. $dims ] if $kind eq 'maxabs';
	# the largest values, random signs: residuals from a centroid past FLT_MAX
	return [ map { $sign->() * 3.4e38 } 1 .. $dims ] if $kind eq 'signs';
	return [ map { (rand() - 0.5) * 1e-30 } 1 .. $dims ] if $kind eq 'tiny';
	return [ map { (rand() - 0.5) * 2e-42 } 1 .. $dims ] if $kind eq 'denormal';
	return [ (0) x $dims ] if $kind eq 'zero';
	if ($kind eq 'allequal')
	{
		my $c = $sign->() * (1e-40, 1, 3e38)[ int(rand(3)) ];
		return [ ($c) x $dims ];
	}
	if ($kind eq 'onehot')
	{
		my @x = (0) x $dims;
		$x[ int(rand($dims)) ] = $sign->() * (1e-40, 1, 3e38)[ int(rand(3)) ];
		return \@x;
	}
	return [ map { $sign->() * (1e38, 1, 1e-40, 0, 1e-20, 3.4e38)[ int(rand(6)) ] * rand() } 1 .. $dims ];
}

sub i8vec_sql
{
	my ($x) = @_;
	return "'[" . join(',', map { fmt_float($_) } @$x) . "]'::i8vec";
}

sub real_array_sql
{
	my ($x, $t) = @_;
	return "'{" . join(',', map { fmt_float($_) } @$x) . "}'::" . ($t // 'real') . '[]';
}

sub bitvec_sql
{
	my ($dims) = @_;
	my $p = (0, 1, 0.5, 0.5, 0.02, 0.98)[ int(rand(6)) ];
	return "'" . join('', map { rand() < $p ? '1' : '0' } 1 .. $dims) . "'::bitvec";
}

# Rows of a table: values (SQL), with duplicates and NULLs.
sub make_rows
{
	my ($typ, $dims, $n) = @_;
	my @rows;
	for my $i (1 .. $n)
	{
		my $r = rand();
		if ($r < 0.03) { push @rows, 'NULL'; next; }
		if ($r < 0.15 && @rows) { push @rows, $rows[ int(rand(@rows)) ]; next; }
		if ($typ eq 'bitvec') { push @rows, bitvec_sql($dims); next; }
		if ($r < 0.22)
		{
			push @rows, "i8vec_from_codes('{" . join(',', map { int(rand(9)) - 4 } 1 .. $dims) . "}'::int[])";
			next;
		}
		push @rows, i8vec_sql(extreme_vec($dims));
	}
	return @rows;
}

my $INDEX = 'SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_sort = off;';
my $SEQ = 'SET enable_indexscan = off; SET enable_bitmapscan = off;';
my $EXACT = 'SET embq.probes = 65536; SET embq.max_probes = 0; SET embq.rescore_factor = 1000;';

# Distances as numbers (NaN sorts above everything, as in PostgreSQL).
sub dnum
{
	my ($d) = @_;
	return 9**9**9 * 2 if $d eq 'NaN';
	return 9**9**9 if $d eq 'Infinity';
	return -9**9**9 if $d eq '-Infinity';
	return $d;
}

# Crashes so far of each index (table and operator): past two, its
# approximate scans are skipped (each crash costs a restart).
my %index_crashes;

# Index scan against a sequential scan for one query.
sub compare_query
{
	my ($table, $op, $q, $label) = @_;
	(my $group = $table) =~ s/^x_//;
	my $order = "SELECT id, v $op $q FROM $table WHERE v IS NOT NULL ORDER BY v $op $q";
	# the tables are random (replay with the seed); the query shortened
	my $sq = short($q, 200);
	my $sorder = "SELECT id, v $op $sq FROM $table WHERE v IS NOT NULL ORDER BY v $op $sq";
	my $repro = "$INDEX $EXACT $sorder LIMIT 100000000;  -- against: $SEQ $sorder;  (seed $seed)";
	my ($sst, $seq, $serr) = run_sql("$SEQ $order");
	my ($plst, $plan) = run_sql("$INDEX EXPLAIN (COSTS OFF) $order LIMIT 100000000");
	if ($plst eq 'ok' && $plan !~ /Index Scan using/)
	{
		fail_with("$group $op: the plan does not use the index", $label, "$INDEX EXPLAIN $sorder");
		return;
	}
	my ($ist, $idx, $ierr) = run_sql("$INDEX $EXACT $order LIMIT 100000000");
	if ($ist eq 'crash')
	{
		fail_with("$group $op: the index scan, every list probed, crashes the backend", $label, $repro);
		$index_crashes{"$table $op"}++;
		return;
	}
	if ($sst ne 'ok' || $ist ne 'ok')
	{
		# a query may be refused (out of range), but by both scans alike
		my ($se) = $serr =~ /ERROR:\s+(.*)/;
		my ($ie) = $ierr =~ /ERROR:\s+(.*)/;
		if ($sst eq $ist && ($se // '') eq ($ie // ''))
		{
			note("$label: both scans refuse the query: " . ($se // ''));
			return;
		}
		fail_with("$group $op: an index scan and a sequential scan differ in errors",
			"$label: seq scan $sst (" . ($se // '') . "), index scan $ist (" . ($ie // '') . ')', $repro);
		return;
	}
	my @s = map { [ split /\|/ ] } split /\n/, $seq;
	my @i = map { [ split /\|/ ] } split /\n/, $idx;
	my %seen;
	my @dups = grep { $seen{ $_->[0] }++ } @i;
	my $mono = 1;
	for my $k (1 .. $#i)
	{
		$mono = 0, last if dnum($i[$k][1]) < dnum($i[ $k - 1 ][1]);
	}
	my $sset = join(' ', map { "$_->[0]:$_->[1]" } sort { $a->[0] <=> $b->[0] } @s);
	my $iset = join(' ', map { "$_->[0]:$_->[1]" } sort { $a->[0] <=> $b->[0] } @i);
	my $topk = 10;
	my $stop = join(',', map { $_->[1] } @s[ 0 .. ($topk < @s ? $topk : @s) - 1 ]);
	my $itop = join(',', map { $_->[1] } @i[ 0 .. ($topk < @i ? $topk : @i) - 1 ]);
	my @problems;
	push @problems, scalar(@dups) . ' duplicate rows (ids ' . join(',', map { $_->[0] } @dups[ 0 .. ($#dups < 4 ? $#dups : 4) ]) . ')' if @dups;
	push @problems, scalar(@i) . ' rows, not ' . scalar(@s) if @i != @s;
	push @problems, 'rows differ from the sequential scan' if !@dups && @i == @s && $iset ne $sset;
	push @problems, 'not in distance order' if !$mono;
	push @problems, "top $topk distances $itop, not $stop" if $itop ne $stop;
	if (@problems)
	{
		fail_with("$group $op: the index scan, every list probed, is not exact", "$label: " . join('; ', @problems), $repro);
	}

	# Coarse order (no rescoring), the default settings, and a small
	# rescoring factor (a second coarse pass past a few batches): approximate,
	# but each row at most once, as many as asked for.
	for my $settings ('SET embq.probes = 65536; SET embq.rescore_factor = 1;', '',
		'SET embq.rescore_factor = 2; SET embq.probes = 1;')
	{
		if (($index_crashes{"$table $op"} // 0) >= 2)
		{
			note("$label: skipped (this index crashed twice already)");
			next;
		}
		# LIMIT 10 and no limit, in one statement
		my $both = join(', ', map { "(SELECT count(*) || ',' || count(DISTINCT id) FROM ($order LIMIT $_) s)" } 10, 100000000);
		my ($st, $out, $err) = run_sql("$INDEX $settings SELECT $both");
		my $want = join('|', map { my $w = $_ < @s ? $_ : @s; "$w,$w" } 10, 100000000);
		my $what = $settings =~ /= 1;/ ? 'rescoring off' : $settings ? 'rescore_factor 2, probes 1' : 'default settings';
		my $r = "$INDEX $settings SELECT count(*), count(DISTINCT id) FROM ($sorder LIMIT 10) s;  -- and without LIMIT (seed $seed)";
		if ($st ne 'ok')
		{
			fail_with("$group $op: the index scan " . ($st eq 'crash' ? 'crashes the backend' : 'fails') . " ($what)",
				"$label: " . ($err =~ /ERROR:\s+(.*)/ ? $1 : $err), $r);
			$index_crashes{"$table $op"}++ if $st eq 'crash';
		}
		elsif ($out ne $want)
		{
			fail_with("$group $op: the index scan returns wrong or duplicate rows ($what)",
				"$label: count,distinct ids with LIMIT 10|without = $out, not $want", $r);
		}
	}
}

# A table of one type and dims, rows before and after the index builds,
# every operator class, several queries each.
sub check_table
{
	my ($typ, $dims, $lists, $before, $after) = @_;
	my $t = "x_${typ}_$dims";
	my $col = "$typ($dims)";
	my @rows = make_rows($typ, $dims, $before + $after);
	my $insert = sub {
		my ($from, $to) = @_;
		return '' if $from > $to;
		return "INSERT INTO $t (v) VALUES " . join(', ', map { "($rows[$_])" } $from .. $to) . ";\n";
	};
	my @opclasses = $typ eq 'i8vec' ? ('i8vec_l2_ops', 'i8vec_ip_ops', 'i8vec_cosine_ops')
	  : ('bitvec_hamming_ops', 'bitvec_ip_ops');
	my $setup = "DROP TABLE IF EXISTS $t; CREATE TABLE $t (id serial PRIMARY KEY, v $col);\n"
	  . $insert->(0, $before - 1);
	my ($st, $out, $err) = run_sql($setup);
	die "setup of $t failed: $err" if $st ne 'ok';
	for my $oc (@opclasses)
	{
		my $sql = "CREATE INDEX ${t}_$oc ON $t USING embq_ivf (v $oc) WITH (lists = $lists)";
		($st, $out, $err) = run_sql($sql, timeout => 120);
		if ($st ne 'ok')
		{
			fail_with("$t: CREATE INDEX ... $oc fails", "$st " . ($err =~ /ERROR:\s+(.*)/ ? $1 : $err),
				"CREATE TABLE $t (id serial PRIMARY KEY, v $col); <the rows>; $sql;");
			return;
		}
	}
	# the rest, in small statements (insertions into the built index)
	for (my $i = $before; $i < $before + $after; $i += 25)
	{
		my $to = $i + 24 < $before + $after - 1 ? $i + 24 : $before + $after - 1;
		($st, $out, $err) = run_sql($insert->($i, $to));
		if ($st ne 'ok')
		{
			fail_with("$t: inserting rows after the index build fails", "rows $i..$to: $st " . ($err =~ /ERROR:\s+(.*)/ ? $1 : $err),
				"(see the rows of 010_fuzz.pl, seed $seed) " . substr($insert->($i, $to), 0, 300));
			return;
		}
	}
	my @queries;
	if ($typ eq 'i8vec')
	{
		# fewer kinds of query at many dimensions (each costs more there)
		my @kinds = $dims >= 1000 ? ('normal', 'huge', 'mixed', 'signs')
		  : ('normal', 'huge', 'tiny', 'zero', 'mixed', 'onehot', 'maxabs', 'signs');
		for my $kind (@kinds)
		{
			my $x = extreme_vec($dims, $kind);
			push @queries, [ $_, i8vec_sql($x), $kind ] for ('<->', '<#>', '<=>');
			push @queries, [ ('<->', '<#>', '<=>')[ int(rand(3)) ], real_array_sql($x), "$kind real[]" ];
			push @queries, [ ('<->', '<#>', '<=>')[ int(rand(3)) ], real_array_sql($x, 'float8'), "$kind float8[]" ]
			  if $kind eq 'huge' || $kind eq 'normal';
		}
		# a query equal to a stored row
		my @stored = grep { $_ ne 'NULL' } @rows;
		push @queries, [ $_, $stored[ int(rand(@stored)) ], 'stored' ] for ('<->', '<=>');
	}
	else
	{
		push @queries, [ '<~>', bitvec_sql($dims), 'bits' ] for 1 .. 4;
		for my $kind ('normal', 'huge', 'tiny', 'zero', 'mixed')
		{
			push @queries, [ '<#>', real_array_sql(extreme_vec($dims, $kind)), "$kind real[]" ];
		}
		push @queries, [ '<#>', real_array_sql(extreme_vec($dims, 'huge'), 'float8'), 'huge float8[]' ];
	}
	for my $q (@queries)
	{
		my ($op, $arg, $kind) = @$q;
		compare_query($t, $op, $arg, "$t $op ($kind query)");
	}
	# after deleting some rows and VACUUM, once more for one query each
	($st, $out, $err) = run_sql("DELETE FROM $t WHERE id % 3 = 0; VACUUM $t;");
	if ($st ne 'ok')
	{
		fail_with("$t: DELETE and VACUUM fail", "$st $err", "DELETE FROM $t WHERE id % 3 = 0; VACUUM $t;");
		return;
	}
	compare_query($t, $queries[0][0], $queries[0][1], "$t $queries[0][0] after DELETE and VACUUM");
	compare_query($t, $queries[-1][0], $queries[-1][1], "$t $queries[-1][0] after DELETE and VACUUM");
	run_sql("DROP TABLE $t");
}

check_table('i8vec', 3, 4, 150, 150);
# 1024 dimensions: a rescoring batch of 40 candidates at the default factor,
# so a full scan takes the second coarse pass
check_table('i8vec', 1024, 8, 300, 200);
check_table('bitvec', 5, 3, 100, 100);
check_table('bitvec', 700, 6, 200, 150);
# few rows at build time, more lists than rows
check_table('i8vec', 16, 16, 5, 60);
check_table('bitvec', 64, 16, 5, 60);

# Tables of one extreme kind only: k-means over identical, zero or huge
# points; the largest values with random signs at 1024 dimensions.
for my $k ([ 'zero', 8 ], [ 'allequal', 8 ], [ 'maxabs', 8 ], [ 'huge', 8 ], [ 'denormal', 8 ], [ 'signs', 1024 ])
{
	my ($kind, $dims) = @$k;
	my $t = "k_$kind";
	my $x = extreme_vec($dims, $kind);
	my $more = join(', ', map { '(' . i8vec_sql(extreme_vec($dims, $kind)) . ')' } 1 .. ($kind eq 'signs' ? 400 : 20));
	my ($st, $out, $err) = run_sql(qq{
		CREATE TABLE $t (id serial PRIMARY KEY, v i8vec($dims));
		INSERT INTO $t (v) SELECT @{[ i8vec_sql($x) ]} FROM generate_series(1, 200);
		INSERT INTO $t (v) VALUES $more;
		SET statement_timeout = '60s';
		CREATE INDEX ${t}_l2 ON $t USING embq_ivf (v) WITH (lists = 10);
		CREATE INDEX ${t}_cos ON $t USING embq_ivf (v i8vec_cosine_ops) WITH (lists = 10);
		CREATE INDEX ${t}_ip ON $t USING embq_ivf (v i8vec_ip_ops) WITH (lists = 10);
		INSERT INTO $t (v) SELECT @{[ i8vec_sql($x) ]} FROM generate_series(1, 20);}, timeout => 150);
	if ($st ne 'ok')
	{
		fail_with("$kind vectors only: the index build fails", "$st: " . ($err =~ /ERROR:\s+(.*)/ ? $1 : $err),
			"CREATE TABLE t (id serial, v i8vec($dims)); INSERT INTO t (v) SELECT @{[ i8vec_sql($x) ]}"
			  . " FROM generate_series(1, 200); CREATE INDEX ON t USING embq_ivf (v) WITH (lists = 10);");
		next;
	}
	my $q = extreme_vec($dims, 'normal');
	compare_query($t, $_, i8vec_sql($q), "$kind vectors only, $_") for ('<->', '<#>', '<=>');
}
report_section('extreme vectors: every index agrees with a sequential scan');

# ------------------------------------------------------------- 4. the end

my @crash_lines = $crashlog->all_lines;
is(scalar(@crash_lines), 0, 'server log: no crash') or diag(join("\n", @crash_lines[ 0 .. ($#crash_lines < 9 ? $#crash_lines : 9) ]));
is($crashes, 0, 'no statement lost its connection');
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server is up');
note(sprintf('fuzz took %.0fs', time() - $t0));
if (@failures)
{
	diag(scalar(@failures) . " classes of failure (seed $seed):");
	diag($_) for @failures;
}

$node->stop;
done_testing();
