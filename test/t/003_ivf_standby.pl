# embq_ivf on a streaming standby: the index build (pages written outside
# shared buffers, WAL-logged in batches; serial and parallel; compared page
# for page with the primary's), inserts
# (new pages, chain growth, the first page of an empty list), deletes, VACUUM
# (page compaction, insert page moved back) and inserts after VACUUM, all
# replayed from WAL.  The primary runs with wal_consistency_checking =
# 'generic', so every generic WAL record carries a full image that the
# standby compares with its own replay result.  Checked: the standby returns
# the same ordered rows as the primary at the default settings, its index
# probed in full returns exactly what a sequential scan returns, its log has
# no replay error, and once promoted it takes inserts and stays consistent.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq{
wal_consistency_checking = 'generic'
autovacuum = off
});
$primary->start;

# Random vectors, made in SQL (the standby gets them through WAL).
sub rows_sql
{
	my ($table, $from, $to) = @_;
	return qq{INSERT INTO $table
		SELECT i, quantize_int8(array(SELECT (random() - 0.5)::real FROM generate_series(1, 48) WHERE i > 0)),
			quantize_binary(array(SELECT (random() - 0.5)::real FROM generate_series(1, 256) WHERE i > 0))
		FROM generate_series($from, $to) i};
}

$primary->safe_psql('postgres', qq{
	CREATE EXTENSION embq;
	SELECT setseed(0.42);
	CREATE TABLE t (id int PRIMARY KEY, e i8vec(48), b bitvec(256));
	CREATE TABLE t_empty (id int PRIMARY KEY, e i8vec(48), b bitvec(256));
	-- wide codes: 2 i8vec(3000) or 3 bitvec(20000) entries per data page,
	-- 2 or 3 directory entries per directory page
	CREATE TABLE big (id int PRIMARY KEY, e i8vec(3000), b bitvec(20000));
	INSERT INTO big SELECT i,
		quantize_int8(array(SELECT (random() - 0.5)::real FROM generate_series(1, 3000) WHERE i > 0)),
		quantize_binary(array(SELECT (random() - 0.5)::real FROM generate_series(1, 20000) WHERE i > 0))
		FROM generate_series(1, 100) i;
	@{[ rows_sql('t', 1, 4000) ]};
	INSERT INTO t VALUES (-1, NULL, NULL);
});

$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
# no query on the standby is cancelled by a replay conflict
$standby->append_conf('postgresql.conf', 'hot_standby_feedback = on');
$standby->start;

# Index builds happen after the backup: the standby replays them.  The
# three indexes on t are built by two parallel workers and the leader.  t_e
# is flat (the default at 48 dimensions), t_e_cos has the signs layout,
# whose code pages give it more pages than a build holds back.
$primary->safe_psql('postgres', q{
	ALTER TABLE t SET (parallel_workers = 2);
	SET max_parallel_maintenance_workers = 2;
	CREATE INDEX t_e ON t USING embq_ivf (e) WITH (lists = 16);
	CREATE INDEX t_b ON t USING embq_ivf (b) WITH (lists = 8);
	CREATE INDEX t_e_cos ON t USING embq_ivf (e i8vec_cosine_ops) WITH (lists = 250, layout = signs);
	RESET max_parallel_maintenance_workers;
	CREATE INDEX t_empty_e ON t_empty USING embq_ivf (e);
	CREATE INDEX big_e ON big USING embq_ivf (e) WITH (lists = 5);
	CREATE INDEX big_b ON big USING embq_ivf (b) WITH (lists = 7);
	CREATE EXTENSION pageinspect;
});

# The builds write their pages outside shared buffers and WAL-log them in
# batches: the standby's replayed pages must be the bytes the primary wrote,
# page for page (the checksum field aside, which is set as pages go to disk).
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
my $pages_sql = q{
	SELECT string_agg(c.relname || ':' || b || ':'
		|| md5(substr(get_raw_page(c.relname, b::int), 1, 8) || substr(get_raw_page(c.relname, b::int), 11)),
		',' ORDER BY c.relname, b)
	FROM pg_class c, generate_series(0, pg_relation_size(c.oid) / 8192 - 1) b
	WHERE c.relname IN ('t_e', 't_b', 't_e_cos', 't_empty_e', 'big_e', 'big_b')};
my $primary_pages = $primary->safe_psql('postgres', $pages_sql);
is($standby->safe_psql('postgres', $pages_sql), $primary_pages,
	'built indexes: the standby has the pages the primary wrote');
cmp_ok(scalar(() = $primary_pages =~ /t_e_cos:/g), '>', 256,
	't_e_cos has more pages than a build holds back');

# Inserts that grow the chains, deletes, VACUUM, inserts into the freed room,
# updates (new tuples), and the first rows of an index built empty.
$primary->safe_psql('postgres', qq{
	SELECT setseed(0.17);
	@{[ rows_sql('t', 4001, 5500) ]};
	@{[ rows_sql('t', 5501, 7000) ]};
	DELETE FROM t WHERE id % 3 = 0 OR id BETWEEN 6000 AND 6400;
	VACUUM t;
	@{[ rows_sql('t', 7001, 8500) ]};
	UPDATE t SET e = quantize_int8(array(SELECT (random() - 0.5)::real FROM generate_series(1, 48) WHERE id > 0))
		WHERE id % 7 = 1;
	@{[ rows_sql('t_empty', 1, 1200) ]};
	DELETE FROM t WHERE id % 5 = 0;
	VACUUM t;
	VACUUM t_empty;
	@{[ rows_sql('t', 8501, 9000) ]};
	INSERT INTO big SELECT i,
		quantize_int8(array(SELECT (random() - 0.5)::real FROM generate_series(1, 3000) WHERE i > 0)),
		quantize_binary(array(SELECT (random() - 0.5)::real FROM generate_series(1, 20000) WHERE i > 0))
		FROM generate_series(101, 250) i;
	DELETE FROM big WHERE id % 4 = 0;
	VACUUM big;
	INSERT INTO big SELECT i,
		quantize_int8(array(SELECT (random() - 0.5)::real FROM generate_series(1, 3000) WHERE i > 0)),
		quantize_binary(array(SELECT (random() - 0.5)::real FROM generate_series(1, 20000) WHERE i > 0))
		FROM generate_series(251, 300) i;
});
is($primary->safe_psql('postgres', q{
	SELECT string_agg((build_workers > 0)::text, ',' ORDER BY i)
	FROM unnest(ARRAY['t_e', 't_b', 't_e_cos']) WITH ORDINALITY AS n(idx, i),
		LATERAL embq_ivf_info(idx::regclass)}), 'true,true,true',
	'the indexes on t were built in parallel');
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));

my $live = $primary->safe_psql('postgres', 'SELECT count(*) FROM t WHERE e IS NOT NULL');
is($standby->safe_psql('postgres', 'SELECT count(*) FROM t WHERE e IS NOT NULL'), $live,
	'standby has the same rows');

# Query vectors, fixed.
srand(20240501);
sub randvec
{
	my ($dims) = @_;
	return 'ARRAY[' . join(',', map { sprintf('%.6f', rand() - 0.5) } 1 .. $dims) . ']::real[]';
}
my @queries;
for my $i (1 .. 6)
{
	my $v = randvec(48);
	my $bits = randvec(256);
	push @queries,
	  [ 't', 'e', '<->', "quantize_int8($v)" ],
	  [ 't', 'e', '<->', $v ],
	  [ 't', 'e', '<=>', $v ],
	  [ 't', 'e', '<=>', "quantize_int8($v)" ],
	  [ 't', 'b', '<~>', "quantize_binary($bits)" ],
	  [ 't_empty', 'e', '<->', "quantize_int8($v)" ];
}
for my $i (1 .. 2)
{
	push @queries,
	  [ 'big', 'e', '<->', 'quantize_int8(' . randvec(3000) . ')' ],
	  [ 'big', 'b', '<~>', 'quantize_binary(' . randvec(20000) . ')' ];
}

my $INDEX = 'SET enable_seqscan = off; SET enable_bitmapscan = off;';
my $EXACT = 'SET enable_indexscan = off; SET enable_bitmapscan = off;';

# Rows in the order a query returns them: [ [id, distance], ... ]
sub ordered
{
	my ($node, $settings, $q, $limit) = @_;
	my ($table, $col, $op, $arg) = @$q;
	my $sql = "SELECT id, $col $op $arg FROM $table WHERE $col IS NOT NULL ORDER BY $col $op $arg LIMIT $limit";
	# a query meant for the index must get it
	die "no index scan for: $sql"
	  if $settings =~ /enable_seqscan = off/
	  && $node->safe_psql('postgres', "$settings EXPLAIN (COSTS OFF) $sql") !~ /Index Scan using ${table}_$col/;
	my $out = $node->safe_psql('postgres', "$settings $sql");
	return [ map { [ split /\|/ ] } split /\n/, $out ];
}

sub as_text { return join(' ', map { "$_->[0]:$_->[1]" } @{ $_[0] }); }

# The index probed in full, rescoring every row (factor 1000 rescores more
# candidates at a time than the tables hold), must return every non-null
# row, in distance order, with the same (distance, id) multiset as a
# sequential scan.
sub check_exact
{
	my ($node, $q, $name) = @_;
	my $all = 'SET embq.probes = 65536; SET embq.rescore_factor = 1000;';
	my $got = ordered($node, "$INDEX $all", $q, 1000000);
	my $want = ordered($node, $EXACT, $q, 1000000);
	my $monotone = 1;
	for my $i (1 .. $#$got)
	{
		$monotone = 0 if $got->[$i][1] < $got->[ $i - 1 ][1];
	}
	ok($monotone, "$name: index returns rows in distance order");
	my @sorted = sort { $a->[1] <=> $b->[1] || $a->[0] <=> $b->[0] } @$got;
	my @want_sorted = sort { $a->[1] <=> $b->[1] || $a->[0] <=> $b->[0] } @$want;
	is(as_text(\@sorted), as_text(\@want_sorted), "$name: index returns exactly the rows of a sequential scan");
}

# The plans use the indexes.
for my $q ([ 't', 'e', '<->', 'quantize_int8(' . randvec(48) . ')' ],
	[ 't', 'b', '<~>', 'quantize_binary(' . randvec(256) . ')' ],
	[ 't', 'e', '<=>', randvec(48) ],
	[ 't_empty', 'e', '<->', 'quantize_int8(' . randvec(48) . ')' ])
{
	my ($table, $col, $op, $arg) = @$q;
	for my $node ($primary, $standby)
	{
		like($node->safe_psql('postgres', qq{$INDEX
			EXPLAIN (COSTS OFF) SELECT id FROM $table ORDER BY $col $op $arg LIMIT 10}),
			qr/Index Scan using ${table}_${col}/, $node->name . ": $table.$col $op uses the index");
	}
}

my $n = 0;
for my $q (@queries)
{
	$n++;
	my $name = "query $n ($q->[0].$q->[1] $q->[2]"
	  . ($q->[3] =~ /^quantize/ ? ' code' : ' real[]') . ')';
	# default settings (probes 10, rescore 4): approximate, but the same pages
	# must give the same rows in the same order
	for my $limit (10, 100)
	{
		my $p = ordered($primary, $INDEX, $q, $limit);
		my $s = ordered($standby, $INDEX, $q, $limit);
		ok(@$p == $limit, "$name: primary returns $limit rows");
		is(as_text($s), as_text($p), "$name: standby returns the same $limit rows as the primary");
	}
	check_exact($standby, $q, "standby $name");
}

# Every live row is reachable through each index on the standby.
for my $idx ([ 't', 'e', '<->', 'quantize_int8(' . randvec(48) . ')' ],
	[ 't', 'b', '<~>', 'quantize_binary(' . randvec(256) . ')' ],
	[ 't', 'e', '<=>', randvec(48) ],
	[ 't_empty', 'e', '<->', 'quantize_int8(' . randvec(48) . ')' ])
{
	my ($table, $col, $op, $arg) = @$idx;
	is($standby->safe_psql('postgres', qq{$INDEX
		SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM $table ORDER BY $col $op $arg LIMIT 1000000) s}),
		$standby->safe_psql('postgres', "SELECT count(*), count(*) FROM $table WHERE $col IS NOT NULL"),
		"standby: a full scan of the $table.$col $op index returns every non-null row once");
}

# Queries on the standby while it replays inserts, deletes and VACUUM: in one
# statement (one snapshot), the index probed in full and a scan that cannot
# use it must return the same rows, the index's in distance order.
sub consistency_sql
{
	my ($table, $col, $op, $arg) = @_;
	return qq{SET enable_seqscan = off; SET enable_bitmapscan = off; SET embq.probes = 65536; SET embq.rescore_factor = 1000;
WITH q AS MATERIALIZED (SELECT $arg AS q),
a AS MATERIALIZED (SELECT id, $col $op (SELECT q FROM q) AS d FROM $table WHERE $col IS NOT NULL
	ORDER BY $col $op (SELECT q FROM q) LIMIT 100000000),
b AS MATERIALIZED (SELECT id, $col $op (SELECT q FROM q) AS d FROM $table WHERE $col IS NOT NULL
	ORDER BY ($col $op (SELECT q FROM q)) + 0 LIMIT 100000000),
ao AS (SELECT d, lag(d) OVER () AS prev FROM a)
SELECT (SELECT count(*) FROM a) = (SELECT count(*) FROM b),
	(SELECT string_agg(id || '/' || d, ',' ORDER BY d, id) FROM a)
		IS NOT DISTINCT FROM (SELECT string_agg(id || '/' || d, ',' ORDER BY d, id) FROM b),
	(SELECT coalesce(bool_and(prev IS NULL OR d >= prev), true) FROM ao),
	(SELECT count(*) FROM a)};
}
{
	my @checks = ([ 't', 'e', '<->', 'quantize_int8(' . randvec(48) . ')', 't_e' ],
		[ 't', 'b', '<~>', 'quantize_binary(' . randvec(256) . ')', 't_b' ],
		[ 't', 'e', '<=>', 'quantize_int8(' . randvec(48) . ')', 't_e_cos' ]);
	for my $c (@checks)
	{
		my $plan = $standby->safe_psql('postgres', 'SET enable_seqscan = off; EXPLAIN (COSTS OFF) '
			  . (consistency_sql(@$c[ 0 .. 3 ]) =~ s/^SET .*?\n//r));
		my @ivf = $plan =~ /Index Scan using (t_e|t_b|t_e_cos) /g;
		is(join(',', @ivf), $c->[4], "standby consistency check of $c->[4]: one side uses the index");
	}

	my $load = $primary->basedir . '/load.sql';
	open(my $fh, '>', $load) or die;
	print $fh "SELECT setseed(0.25);\n";
	for my $i (0 .. 59)
	{
		my $from = 30000 + $i * 40;
		print $fh rows_sql('t', $from, $from + 39) . ";\nSELECT pg_sleep(0.05);\n";
		print $fh "DELETE FROM t WHERE id BETWEEN " . ($from - 200) . " AND " . ($from - 170) . ";\nVACUUM t;\n"
		  if $i % 10 == 9;
	}
	close $fh;
	my $h = IPC::Run::start(
		[ $primary->installed_command('psql'), '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', $load,
		  '-d', $primary->connstr('postgres') ],
		'>', $primary->basedir . '/load.out', '2>', $primary->basedir . '/load.err');
	my ($runs, @failed) = (0);
	my $deadline = time() + 60;
	while (($runs < 15 || $h->pumpable) && time() < $deadline)
	{
		my $c = $checks[ $runs % @checks ];
		my $r = $standby->safe_psql('postgres', consistency_sql(@$c[ 0 .. 3 ]));
		push @failed, "$c->[4]: $r" unless $r =~ /^t\|t\|t\|\d+$/;
		$runs++;
	}
	$h->finish;
	is($? >> 8, 0, 'primary load beside the standby queries succeeded');
	is(join('; ', @failed), '', "standby: $runs index/heap checks during replay, all consistent");
	$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
	for my $c (@checks)
	{
		like($standby->safe_psql('postgres', consistency_sql(@$c[ 0 .. 3 ])), qr/^t\|t\|t\|\d+$/,
			"standby after catching up: $c->[4] consistent");
	}
}

# A standby session that has the index's metapage and centroids cached sees
# a REINDEX on the primary (new relfilenode, new centroids) through replay.
{
	my $q = [ 't', 'e', '<->', 'quantize_int8(' . randvec(48) . ')' ];
	my ($table, $col, $op, $arg) = @$q;
	my $sql = "SELECT id, $col $op $arg FROM $table WHERE $col IS NOT NULL ORDER BY $col $op $arg LIMIT 20";
	my $session = $standby->background_psql('postgres');
	$session->query_safe($INDEX);
	my $before = $session->query_safe($sql);
	is($before, join("\n", map { "$_->[0]|$_->[1]" } @{ ordered($primary, $INDEX, $q, 20) }),
		'standby session: same rows as the primary before REINDEX');
	$primary->safe_psql('postgres', qq{
		SELECT setseed(0.9);
		REINDEX INDEX t_e;
		@{[ rows_sql('t', 20001, 21000) ]};
	});
	$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
	is($session->query_safe($sql), join("\n", map { "$_->[0]|$_->[1]" } @{ ordered($primary, $INDEX, $q, 20) }),
		'standby session: same rows as the primary after REINDEX and inserts');
	$session->quit;
	check_exact($standby, $q, 'standby after REINDEX');
}

my @bad = grep { /PANIC|FATAL|ERROR|TRAP:|inconsistent page/ } split /\n/, slurp_file($standby->logfile);
is(join("\n", @bad), '', 'standby log has no replay error');

# Promote the standby; the replayed index takes inserts and VACUUM.
$standby->promote;
$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
  or die 'standby was not promoted';
$standby->safe_psql('postgres', qq{
	@{[ rows_sql('t', 9001, 10000) ]};
	DELETE FROM t WHERE id % 11 = 0;
	VACUUM t;
	@{[ rows_sql('t', 10001, 10500) ]};
	@{[ rows_sql('t_empty', 1201, 2000) ]};
});
check_exact($standby, [ 't', 'e', '<->', 'quantize_int8(' . randvec(48) . ')' ], 'promoted standby t.e <->');
check_exact($standby, [ 't', 'b', '<~>', 'quantize_binary(' . randvec(256) . ')' ], 'promoted standby t.b <~>');
check_exact($standby, [ 't', 'e', '<=>', 'quantize_int8(' . randvec(48) . ')' ], 'promoted standby t.e <=>');
check_exact($standby, [ 't_empty', 'e', '<->', 'quantize_int8(' . randvec(48) . ')' ], 'promoted standby t_empty.e <->');

@bad = grep { /PANIC|TRAP:/ } split /\n/, slurp_file($primary->logfile);
is(join("\n", @bad), '', 'primary log has no PANIC');

$standby->stop;
$primary->stop;
done_testing();
