# embq_ivf crash recovery.  Several psql sessions insert rows in many small
# transactions into a table with embq_ivf indexes (i8vec and bitvec) while
# another deletes and VACUUMs, and the server crashes in the middle: first a
# SIGKILL of one inserting backend (the postmaster reinitializes and replays
# WAL), then an immediate shutdown (SIGQUIT), then a SIGKILL of the
# postmaster itself.  wal_consistency_checking = 'generic' makes every replayed
# generic WAL record check its result against a full page image.
# After each recovery: every row whose COMMIT the client saw is there; the
# indexes probed in full return exactly the rows of a sequential scan, in
# distance order; a full index scan returns every non-null row once.
# The i8vec column has two indexes, one per layout: L2 flat (the default
# at 48 dimensions), cosine with the signs layout (code pages).
# Also: an UNLOGGED table's embq_ivf index is reset to its init fork by the
# crash and works afterwards; a build during which a checkpoint begins fsyncs
# its index (its pages bypass shared buffers) and the index survives a crash.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf('postgresql.conf', qq{
wal_consistency_checking = 'generic'
restart_after_crash = on
autovacuum = off
});
$node->start;

my $DIMS = 48;
my $BITS = 192;

sub rows_sql
{
	my ($table, $from, $to) = @_;
	return qq{INSERT INTO $table
		SELECT i, quantize_int8(array(SELECT (random() - 0.5)::real FROM generate_series(1, $DIMS) WHERE i > 0)),
			quantize_binary(array(SELECT (random() - 0.5)::real FROM generate_series(1, $BITS) WHERE i > 0))
		FROM generate_series($from, $to) i};
}

$node->safe_psql('postgres', qq{
	CREATE EXTENSION embq;
	SELECT setseed(0.3);
	CREATE TABLE t (id bigint PRIMARY KEY, e i8vec($DIMS), b bitvec($BITS));
	@{[ rows_sql('t', 1, 3000) ]};
	INSERT INTO t VALUES (-1, NULL, NULL);
	CREATE INDEX t_e ON t USING embq_ivf (e) WITH (lists = 20);
	CREATE INDEX t_e_cos ON t USING embq_ivf (e i8vec_cosine_ops) WITH (lists = 20, layout = signs);
	CREATE INDEX t_b ON t USING embq_ivf (b) WITH (lists = 300);
	CREATE UNLOGGED TABLE u (id bigint PRIMARY KEY, e i8vec($DIMS), b bitvec($BITS));
	CREATE INDEX u_e ON u USING embq_ivf (e);
	@{[ rows_sql('u', 1, 500) ]};
});

my $psql = $node->installed_command('psql');
my $basedir = $node->basedir;

# An inserting session: rows $from .. $from + $rows - 1 in transactions of 1
# to 3 rows; after each COMMIT it prints the ids it committed.
sub start_inserter
{
	my ($name, $from, $rows) = @_;
	my $script = "$basedir/$name.sql";
	open(my $fh, '>', $script) or die "open $script: $!";
	print $fh "SELECT setseed(" . (($from % 1000) / 1000) . ");\n";
	my $id = $from;
	while ($id < $from + $rows)
	{
		my $last = $id + int(rand(3));
		print $fh "BEGIN;\n" . rows_sql('t', $id, $last) . ";\nCOMMIT;\n\\echo committed $id $last\n";
		$id = $last + 1;
	}
	close $fh;
	my $out = "$basedir/$name.out";
	my $h = IPC::Run::start(
		[ $psql, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', $script,
		  '-d', $node->connstr('postgres') . " application_name=$name" ],
		'>', $out, '2>', "$basedir/$name.err");
	return { name => $name, h => $h, out => $out, rows => $rows };
}

# A session that deletes the rows with id % 10 = 0 and VACUUMs, in a loop.
sub start_vacuumer
{
	my ($name) = @_;
	my $script = "$basedir/$name.sql";
	open(my $fh, '>', $script) or die "open $script: $!";
	print $fh "DELETE FROM t WHERE id % 10 = 0;\nVACUUM t;\nSELECT pg_sleep(0.02);\n" for 1 .. 500;
	close $fh;
	my $h = IPC::Run::start(
		[ $psql, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', $script,
		  '-d', $node->connstr('postgres') . " application_name=$name" ],
		'>', "$basedir/$name.out", '2>', "$basedir/$name.err");
	return { name => $name, h => $h };
}

# Wait for a session to end (it fails once the server is gone).
sub reap
{
	my ($s) = @_;
	eval { $s->{h}->finish; };
	if ($@) { $s->{h}->kill_kill; }
}

# Ids whose COMMIT a session saw.
sub committed_ids
{
	my ($s) = @_;
	my @ids;
	open(my $fh, '<', $s->{out}) or die "open $s->{out}: $!";
	while (<$fh>)
	{
		push @ids, $1 .. $2 if /^committed (\d+) (\d+)$/;
	}
	close $fh;
	return @ids;
}

my $INDEX = 'SET enable_seqscan = off; SET enable_bitmapscan = off;';
my $EXACT = 'SET enable_indexscan = off; SET enable_bitmapscan = off;';

sub ordered
{
	my ($settings, $table, $col, $op, $arg, $limit) = @_;
	my $sql = "SELECT id, $col $op $arg FROM $table WHERE $col IS NOT NULL ORDER BY $col $op $arg LIMIT $limit";
	# a query meant for the index must get it
	die "no index scan for: $sql"
	  if $settings =~ /enable_seqscan = off/
	  && $node->safe_psql('postgres', "$settings EXPLAIN (COSTS OFF) $sql") !~ /Index Scan using ${table}_$col/;
	my $out = $node->safe_psql('postgres', "$settings $sql");
	return [ map { [ split /\|/ ] } split /\n/, $out ];
}

sub as_text { return join(' ', map { "$_->[0]:$_->[1]" } @{ $_[0] }); }

# psql output lines in one order, for comparing row sets.
sub sorted_lines { return join(' ', sort { $a cmp $b } split /\n/, $_[0]); }

srand(4004);
sub randvec
{
	return 'ARRAY[' . join(',', map { sprintf('%.6f', rand() - 0.5) } 1 .. $_[0]) . ']::real[]';
}

# Index (every list probed: exact) against a sequential scan.
sub check_index
{
	my ($label, $table) = @_;
	$table //= 't';
	my $ok = 1;
	my @qs = ((map { [ 'e', '<->', 'quantize_int8(' . randvec($DIMS) . ')' ] } 1 .. 3),
		[ 'e', '<=>', randvec($DIMS) ],
		[ 'e', '<->', randvec($DIMS) ],
		(map { [ 'b', '<~>', 'quantize_binary(' . randvec($BITS) . ')' ] } 1 .. 2));
	@qs = grep { $_->[0] eq 'e' && $_->[1] ne '<=>' } @qs if $table eq 'u';
	for my $q (@qs)
	{
		my ($col, $op, $arg) = @$q;
		like($node->safe_psql('postgres', qq{$INDEX
			EXPLAIN (COSTS OFF) SELECT id FROM $table ORDER BY $col $op $arg LIMIT 10}),
			qr/Index Scan using ${table}_$col/, "$label: $table.$col $op plan uses the index")
		  if $q == $qs[0] || $q == $qs[-1];
		my $got = ordered("$INDEX SET embq.probes = 65536; SET embq.rescore_factor = 1000;", $table, $col, $op, $arg, 10000000);
		my $want = ordered($EXACT, $table, $col, $op, $arg, 10000000);
		my $monotone = 1;
		for my $i (1 .. $#$got)
		{
			$monotone = 0 if $got->[$i][1] < $got->[ $i - 1 ][1];
		}
		ok($monotone, "$label: $table.$col $op index returns rows in distance order");
		my @g = sort { $a->[1] <=> $b->[1] || $a->[0] <=> $b->[0] } @$got;
		my @w = sort { $a->[1] <=> $b->[1] || $a->[0] <=> $b->[0] } @$want;
		is(scalar(@g), scalar(@w), "$label: $table.$col $op index returns as many rows as a sequential scan");
		is(as_text(\@g), as_text(\@w), "$label: $table.$col $op index returns exactly the rows of a sequential scan");
		# the top 10 at the default settings are well formed too
		my $top = ordered($INDEX, $table, $col, $op, $arg, 10);
		is(scalar(@$top), 10, "$label: $table.$col $op LIMIT 10 at default settings returns 10 rows");
	}
	for my $col ($table eq 'u' ? ('e') : ('e', 'b'))
	{
		my $arg = $col eq 'e' ? 'quantize_int8(' . randvec($DIMS) . ')' : 'quantize_binary(' . randvec($BITS) . ')';
		my $op = $col eq 'e' ? '<->' : '<~>';
		is($node->safe_psql('postgres', qq{$INDEX
			SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM $table ORDER BY $col $op $arg LIMIT 10000000) s}),
			$node->safe_psql('postgres', "SELECT count(*), count(*) FROM $table WHERE $col IS NOT NULL"),
			"$label: full scan of the $table.$col index returns every non-null row once");
	}
}

# Run inserters and a vacuumer, crash once enough rows are in, recover, check.
sub crash_cycle
{
	my ($cycle, $how) = @_;
	my $before = $node->safe_psql('postgres', 'SELECT count(*) FROM t');
	my @sessions = map { start_inserter("c${cycle}_w$_", $cycle * 1000000 + $_ * 100000, 6000) } 1 .. 3;
	my $vac = start_vacuumer("c${cycle}_vac");

	# crash when about a sixth of the rows are in (polled from one session)
	my $target = $before + 3000;
	my $poll = $node->background_psql('postgres');
	my $deadline = time() + 120;
	while (time() < $deadline)
	{
		last if $poll->query_safe('SELECT count(*) FROM t') >= $target;
		usleep(20_000);
	}
	$poll->quit;

	if ($how eq 'backend')
	{
		my $pid = $node->safe_psql('postgres',
			"SELECT pid FROM pg_stat_activity WHERE application_name = 'c${cycle}_w1'");
		ok($pid =~ /^\d+$/, "cycle $cycle: inserting backend found");
		note("cycle $cycle: SIGKILL of backend $pid");
		kill 'KILL', $pid;
		# the postmaster kills the other backends, replays WAL, accepts connections
		reap($_) for @sessions, $vac;
		$node->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
		  or die "server did not come back after the backend crash";
	}
	elsif ($how eq 'immediate')
	{
		$node->stop('immediate');
		reap($_) for @sessions, $vac;
		$node->start;
	}
	else
	{
		# SIGKILL of the postmaster: its children (backends and auxiliary
		# processes, all in pg_stat_activity) exit when they notice; start
		# again once they are gone
		my @children = split /\n/, $node->safe_psql('postgres', 'SELECT pid FROM pg_stat_activity');
		$node->kill9;
		reap($_) for @sessions, $vac;
		my $deadline = time() + 60;
		usleep(100_000) while time() < $deadline && grep { kill(0, $_) } @children;
		ok(!(grep { kill(0, $_) } @children), "cycle $cycle: the postmaster's children exited");
		$node->start;
	}

	my @ids;
	my $unfinished = 0;
	for my $s (@sessions)
	{
		my @mine = committed_ids($s);
		$unfinished++ if @mine < $s->{rows};
		push @ids, @mine;
	}
	note("cycle $cycle ($how): " . scalar(@ids) . " rows committed, $unfinished sessions cut off");
	ok($unfinished > 0, "cycle $cycle: the crash came while sessions were inserting");

	# committed rows (bar those the vacuumer deleted) are all there
	my @expect = grep { $_ % 10 != 0 } @ids;
	my $idfile = "$basedir/c${cycle}_ids.copy";
	open(my $fh, '>', $idfile) or die;
	print $fh "$_\n" for @expect;
	close $fh;
	is($node->safe_psql('postgres', qq{
		CREATE TEMP TABLE acked (id bigint);
		COPY acked FROM '$idfile';
		SELECT count(*) FROM acked a WHERE NOT EXISTS (SELECT 1 FROM t WHERE t.id = a.id)}),
		'0', "cycle $cycle ($how): all " . scalar(@expect) . " committed rows are there");

	check_index("cycle $cycle ($how)");
}

crash_cycle(1, 'backend');
is($node->safe_psql('postgres', 'SELECT count(*) FROM u'), '0', 'unlogged table is empty after the crash');
$node->safe_psql('postgres', rows_sql('u', 1, 800));
check_index('unlogged table after the crash', 'u');

crash_cycle(2, 'immediate');
crash_cycle(3, 'postmaster');

# After all that, the indexes take more inserts and a VACUUM.
$node->safe_psql('postgres', qq{
	@{[ rows_sql('t', 5000000, 5002000) ]};
	DELETE FROM t WHERE id % 4 = 0;
	VACUUM t;
});
check_index('after the crashes, more inserts and VACUUM');

# A checkpoint that begins while a build writes its pages cannot flush them
# (they bypass shared buffers) and may have its redo point after their WAL:
# the build must then fsync the index itself.  Builds run (at wal_level =
# replica: at minimal a new index is not logged but synced at commit) while
# another session checkpoints in a loop, until one reports that it did
# (DEBUG1); the index must then come through a crash whole.
{
	my $ck = PostgreSQL::Test::Cluster->new('checkpoints');
	$ck->init(allows_streaming => 1);
	$ck->append_conf('postgresql.conf', 'autovacuum = off');
	$ck->start;
	$ck->safe_psql('postgres', q{
		CREATE EXTENSION embq;
		SELECT setseed(0.77);
		CREATE TABLE w (id bigint PRIMARY KEY, e i8vec(1024));
		INSERT INTO w SELECT i, quantize_int8(array(SELECT (random() - 0.5)::real
			FROM generate_series(1, 1024) WHERE i > 0)) FROM generate_series(1, 6000) i;
	});
	my $script = $ck->basedir . '/checkpoints.sql';
	open(my $fh, '>', $script) or die;
	print $fh "CHECKPOINT;\n" x 100000;
	close $fh;
	my $loop = IPC::Run::start([ $psql, '-X', '-q', '-d', $ck->connstr('postgres'), '-f', $script ],
		'>', '/dev/null', '2>', '/dev/null');
	my $synced = 0;
	for my $try (1 .. 40)
	{
		my ($ret, $out, $err) = $ck->psql('postgres', q{
			SET client_min_messages = debug1;
			DROP INDEX IF EXISTS w_e;
			CREATE INDEX w_e ON w USING embq_ivf (e) WITH (lists = 40);});
		die "build failed: $err" if $ret != 0;
		$synced = $try, last if $err =~ /index "w_e" fsynced: a checkpoint began while it was written/;
	}
	$loop->kill_kill;
	ok($synced, "a build during which a checkpoint began fsynced its index (try $synced)");
	$ck->stop('immediate');
	$ck->start;
	my $q = 'quantize_int8(' . randvec(1024) . ')';
	my $sql = "SELECT id, e <-> $q FROM w ORDER BY e <-> $q LIMIT 100000";
	like($ck->safe_psql('postgres', "$INDEX EXPLAIN (COSTS OFF) $sql"), qr/Index Scan using w_e/,
		'index built beside checkpoints: the plan uses it');
	my $got = $ck->safe_psql('postgres', "$INDEX SET embq.probes = 65536; SET embq.rescore_factor = 1000; $sql");
	is(sorted_lines($got), sorted_lines($ck->safe_psql('postgres', "$EXACT $sql")),
		'index built beside checkpoints: after a crash it returns exactly the rows of a sequential scan');
	is(scalar(split /\n/, $got), 6000, 'index built beside checkpoints: every row is in it');
	$ck->stop;
}

# wal_level = minimal: an index built in the transaction that created its
# table skips WAL (the relation is WAL-logged or synced at commit, by
# wal_skip_threshold), and so do the generic WAL records of inserts in that
# transaction.  Committed rows and index entries must survive a crash, by
# either path.
for my $threshold ('0', '64MB')
{
	my $min = PostgreSQL::Test::Cluster->new("minimal_$threshold");
	$min->init;
	$min->append_conf('postgresql.conf', qq{
wal_level = minimal
max_wal_senders = 0
wal_skip_threshold = '$threshold'
autovacuum = off
});
	$min->start;
	$min->safe_psql('postgres', qq{
		CREATE EXTENSION embq;
		BEGIN;
		CREATE TABLE m (id bigint PRIMARY KEY, e i8vec($DIMS), b bitvec($BITS));
		@{[ rows_sql('m', 1, 2000) ]};
		CREATE INDEX m_e ON m USING embq_ivf (e) WITH (lists = 10);
		CREATE INDEX m_b ON m USING embq_ivf (b) WITH (lists = 4);
		@{[ rows_sql('m', 2001, 3000) ]};
		DELETE FROM m WHERE id % 9 = 0;
		COMMIT;
		@{[ rows_sql('m', 3001, 3500) ]};
		BEGIN;
		TRUNCATE m;
		@{[ rows_sql('m', 5001, 6500) ]};
		COMMIT;
		@{[ rows_sql('m', 6501, 7000) ]};
	});
	$min->stop('immediate');
	$min->start;
	is($min->safe_psql('postgres', 'SELECT count(*), min(id), max(id) FROM m'), '2000|5001|7000',
		"wal_level = minimal, wal_skip_threshold = $threshold: rows survive a crash");
	for my $q ([ 'e', '<->', 'quantize_int8(' . randvec($DIMS) . ')' ],
		[ 'b', '<~>', 'quantize_binary(' . randvec($BITS) . ')' ])
	{
		my ($col, $op, $arg) = @$q;
		my $sql = "SELECT id, $col $op $arg FROM m ORDER BY $col $op $arg LIMIT 100000";
		like($min->safe_psql('postgres', "$INDEX EXPLAIN (COSTS OFF) $sql"), qr/Index Scan using m_$col/,
			"wal_level = minimal, wal_skip_threshold = $threshold: m.$col $op plan uses the index");
		my $got = $min->safe_psql('postgres', "$INDEX SET embq.probes = 65536; SET embq.rescore_factor = 1000; $sql");
		my $want = $min->safe_psql('postgres', "$EXACT $sql");
		is(sorted_lines($got), sorted_lines($want),
			"wal_level = minimal, wal_skip_threshold = $threshold: m.$col $op index matches a sequential scan after the crash");
	}
	$min->stop;
}

my $log = slurp_file($node->logfile);
my @bad = grep { /PANIC|TRAP:|inconsistent page|invalid page|could not (read|find|open)/ } split /\n/, $log;
is(join("\n", @bad), '', 'server log: no replay error, no inconsistent page');
like($log, qr/was terminated by signal 9.*\n(.*\n)*.*all server processes terminated; reinitializing/,
	'server log: the backend crash happened and the server reinitialized');
my $redo = () = $log =~ /redo done at/g;
cmp_ok($redo, '>=', 3, "server log: crash recovery replayed WAL ($redo times)");

$node->stop;
done_testing();
