# embq_ivf under concurrency, with values stored out of line (TOAST).
#
#  1. The relcache cache of an embq_ivf index (rd_amcache) is freed when an
#     invalidation of the index's relcache entry is processed, which happens
#     whenever the backend takes a lock it did not hold, such as the TOAST
#     table's lock when it detoasts a value.  Two sessions, deterministic:
#     a. insert path: session A (enable_seqscan = off) begins, runs one index
#        scan (its query a constant: nothing detoasted yet), then updates an
#        indexed column of a row whose bitvec(64000) is out of line, after a
#        pg_sleep in the same statement; during the sleep session B inserts
#        rows and runs ANALYZE (an invalidation of the index).  The update
#        inserts into the embq_ivf index, which detoasts the value.
#     b. scan path: the same, but A's second statement is an index scan
#        whose query is a toasted value of the table (ORDER BY v <~> (SELECT
#        v FROM t WHERE id = 1)).  (The executor detoasts a run-time scan
#        key before the scan starts, so this one should pass today.)
#     c. both again on an i8vec(4000) table.
#     Each must complete without a crash and give the right answer.
#  2. A concurrent load for a bounded time (EMBQ_CONC_SECONDS, default 20):
#     pgbench clients insert rows, update vectors and other indexed columns
#     (non-HOT updates insert the out-of-line value into the index), delete
#     rows, ANALYZE, VACUUM and run index scans with toasted and constant
#     queries, on an i8vec(4000) and a bitvec(64000) table, each with an
#     embq_ivf index and a btree, while another session runs REINDEX INDEX
#     CONCURRENTLY in a loop.  No transaction fails, the server does not
#     crash, and afterwards every index, probed in full, returns exactly the
#     rows of a sequential scan, once each, in distance order.
use strict;
use warnings;
use IPC::Run;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use EmbqCrashLog;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $seconds = $ENV{EMBQ_CONC_SECONDS} // 20;

my $node = PostgreSQL::Test::Cluster->new('concurrency');
$node->init;
$node->append_conf('postgresql.conf', q{
restart_after_crash = on
autovacuum_naptime = 1s
autovacuum_vacuum_threshold = 20
autovacuum_analyze_threshold = 20
autovacuum_vacuum_scale_factor = 0.05
autovacuum_analyze_scale_factor = 0.05
lc_messages = 'C'
});
$node->start;

my $crashlog = EmbqCrashLog->new($node);

my $BITS = 64000;
my $DIMS = 4000;

# SQL for a random vector of the table's type.
sub rand_value
{
	my ($typ) = @_;
	return $typ eq 'bitvec'
	  ? "quantize_binary(array(SELECT (random() - 0.5)::real FROM generate_series(1, $BITS)))"
	  : "quantize_int8(array(SELECT (random() - 0.5)::real FROM generate_series(1, $DIMS)))";
}

my %op = (bitvec => '<~>', i8vec => '<->');
my %coltype = (bitvec => "bitvec($BITS)", i8vec => "i8vec($DIMS)");

# A constant query of the table's type (no detoasting: not from a table).
sub const_query
{
	my ($typ) = @_;
	return $typ eq 'bitvec'
	  ? "quantize_binary(array_fill(0.5::real, ARRAY[$BITS]))"
	  : "quantize_int8(array_fill(0.5::real, ARRAY[$DIMS]))";
}

$node->safe_psql('postgres', 'CREATE EXTENSION embq; SELECT setseed(0.8)');

# A table whose vectors are stored out of line, with an embq_ivf index and a
# btree on another column.
sub make_table
{
	my ($t, $typ, $rows, $lists) = @_;
	$node->safe_psql('postgres', qq{
		DROP TABLE IF EXISTS $t;
		CREATE TABLE $t (id serial PRIMARY KEY, other int NOT NULL DEFAULT 0, v $coltype{$typ});
		ALTER TABLE $t ALTER COLUMN v SET STORAGE EXTERNAL;
		INSERT INTO $t (v) SELECT @{[ rand_value($typ) ]} FROM generate_series(1, $rows) i;
		CREATE INDEX ${t}_v ON $t USING embq_ivf (v) WITH (lists = $lists);
		CREATE INDEX ${t}_other ON $t (other);
		ANALYZE $t;
	});
	# the values are out of line: one TOAST value per row
	my $toast = $node->safe_psql('postgres', "SELECT reltoastrelid::regclass FROM pg_class WHERE oid = '$t'::regclass");
	is($node->safe_psql('postgres', "SELECT count(DISTINCT chunk_id) FROM $toast"), $rows,
		"$t: the vectors are stored out of line");
}

# ------------------------------------------ 1. the rd_amcache reproducers

# Session A's statements run in the background; while A sleeps, B
# invalidates the index's relcache entry.  Returns A's output, and whether
# the server crashed.
sub two_sessions
{
	my ($t, $typ, $a_sql) = @_;
	$crashlog->new_lines;
	my $a = $node->background_psql('postgres', on_error_stop => 0);
	$a->query_safe('SET enable_seqscan = off');
	$a->query_safe('SET enable_bitmapscan = off');
	$a->query_safe('BEGIN');
	# one index scan: the index is open, its cache built; nothing detoasted
	$a->query_safe("SELECT id FROM $t ORDER BY v $op{$typ} @{[ const_query($typ) ]} LIMIT 1");
	# then, without waiting, the statement that sleeps before it detoasts
	$a->query_until(qr/a: sleeping/, "\\echo a: sleeping\n$a_sql\n\\echo a: done\n");
	usleep(500_000);
	# B: a few rows, and ANALYZE (which invalidates the index's relcache entry)
	my ($rc, $bout, $berr) = $node->psql('postgres',
		"INSERT INTO $t (v) SELECT @{[ rand_value($typ) ]} FROM generate_series(1, 3); ANALYZE $t;");
	note("session B: rc $rc $berr");
	# wait for A to finish (or its connection to go)
	my $out = '';
	eval { $out = $a->query_until(qr/a: done/, ''); };
	my $aerr = $a->{stderr} // '';
	eval { $a->query('COMMIT') if $aerr !~ /connection/; };
	eval { $a->quit; };
	my @crash = $crashlog->new_lines;
	my $crashed = @crash || $aerr =~ /server closed the connection|connection to server was lost/;
	if ($crashed)
	{
		diag("crash:\n" . join("\n", @crash) . "\nsession A: $aerr");
		$crashlog->wait_up;
	}
	return ($out, $aerr, $crashed);
}

for my $typ ('bitvec', 'i8vec')
{
	my $t = "amcache_$typ";
	make_table($t, $typ, 20, 2);

	# a. insert path: a non-HOT update inserts the out-of-line value
	my ($out, $err, $crashed) = two_sessions($t, $typ,
		"UPDATE $t SET other = other + 1 WHERE id = 3 AND (SELECT pg_sleep(3)) IS NOT NULL;");
	ok(!$crashed, "$t, insert path: an index insert that detoasts after a relcache invalidation does not crash")
	  or diag(qq{reproducer (two sessions):
  CREATE EXTENSION embq;
  CREATE TABLE t (id serial PRIMARY KEY, other int NOT NULL DEFAULT 0, v $coltype{$typ});
  ALTER TABLE t ALTER COLUMN v SET STORAGE EXTERNAL;
  INSERT INTO t (v) SELECT @{[ rand_value($typ) ]} FROM generate_series(1, 20);
  CREATE INDEX ON t USING embq_ivf (v) WITH (lists = 2);
  CREATE INDEX ON t (other);
  -- session A:
  SET enable_seqscan = off; BEGIN;
  SELECT id FROM t ORDER BY v $op{$typ} @{[ const_query($typ) ]} LIMIT 1;
  UPDATE t SET other = other + 1 WHERE id = 3 AND (SELECT pg_sleep(3)) IS NOT NULL;
  -- session B, during A's sleep:
  INSERT INTO t (v) SELECT @{[ rand_value($typ) ]} FROM generate_series(1, 3); ANALYZE t;});
	# a use of freed memory may also read as garbage: an error instead of a crash
	like($err, qr/^\s*$/, "$t, insert path: session A has no error") unless $crashed;
	is($node->safe_psql('postgres', "SELECT other FROM $t WHERE id = 3"), $crashed ? '0' : '1',
		"$t, insert path: the update " . ($crashed ? 'was rolled back by the crash' : 'is there'));

	# b. scan path: the scan detoasts its query value
	my $scan = "SELECT id FROM $t ORDER BY v $op{$typ} (SELECT v FROM $t WHERE id = 1) LIMIT 3;";
	($out, $err, $crashed) = two_sessions($t, $typ, "SELECT pg_sleep(3);\n$scan");
	ok(!$crashed, "$t, scan path: an index scan that detoasts its query after a relcache invalidation does not crash")
	  or diag(qq{reproducer (two sessions), the table as above:
  -- session A:
  SET enable_seqscan = off; BEGIN;
  SELECT id FROM t ORDER BY v $op{$typ} @{[ const_query($typ) ]} LIMIT 1;
  SELECT pg_sleep(3);
  SELECT id FROM t ORDER BY v $op{$typ} (SELECT v FROM t WHERE id = 1) LIMIT 3;
  -- session B, during A's sleep:
  INSERT INTO t (v) SELECT @{[ rand_value($typ) ]} FROM generate_series(1, 3); ANALYZE t;});
	unless ($crashed)
	{
		like($err, qr/^\s*$/, "$t, scan path: session A has no error");
		my @ids = grep { /^\d+$/ } split /\n/, $out;
		is($ids[0], '1', "$t, scan path: the nearest row to row 1's value is row 1");
		is(scalar(@ids), 3, "$t, scan path: three rows");
	}
}

# ------------------------------------------------------ 2. concurrent load

make_table('ci', 'i8vec', 150, 4);
make_table('cb', 'bitvec', 150, 4);

my %scripts;
for my $c ([ 'ci', 'i8vec' ], [ 'cb', 'bitvec' ])
{
	my ($t, $typ) = @$c;
	my $op = $op{$typ};
	%scripts = (%scripts,
		"008_${t}_insert\@4" => "INSERT INTO $t (other, v) SELECT (random() * 100)::int, @{[ rand_value($typ) ]};\n",
		"008_${t}_update_v\@2" => "\\set id random(1, 400)\nUPDATE $t SET v = @{[ rand_value($typ) ]} WHERE id = :id;\n",
		# a non-HOT update: the same out-of-line value inserted into the index again
		"008_${t}_update_other\@3" => "\\set id random(1, 400)\nUPDATE $t SET other = other + 1 WHERE id = :id;\n",
		"008_${t}_delete\@1" => "\\set id random(1, 400)\nDELETE FROM $t WHERE id = :id;\n",
		"008_${t}_analyze\@1" => "ANALYZE $t;\n",
		"008_${t}_vacuum\@1" => "VACUUM $t;\n",
		"008_${t}_scan_toasted\@4" => "\\set id random(1, 400)\nSET enable_seqscan = off;\n"
		  . "SELECT id FROM $t ORDER BY v $op (SELECT v FROM $t WHERE id = :id) LIMIT 5;\n",
		"008_${t}_scan_const\@2" => "SET enable_seqscan = off;\nSELECT id FROM $t ORDER BY v $op @{[ const_query($typ) ]} LIMIT 5;\n",
		# a transaction: a scan, then an update that pauses once it has
		# opened the index (for an invalidation from ANALYZE, VACUUM or
		# REINDEX to arrive) and then inserts an out-of-line value into it
		"008_${t}_scan_update\@2" => "\\set id random(1, 400)\nSET enable_seqscan = off;\nBEGIN;\n"
		  . "SELECT id FROM $t ORDER BY v $op @{[ const_query($typ) ]} LIMIT 1;\n"
		  . "UPDATE $t SET other = other + 1 WHERE id = :id AND (SELECT pg_sleep(0.05)) IS NOT NULL;\nCOMMIT;\n",
	);
}
my $files = '';
my $basedir = $node->basedir;
for my $name (sort keys %scripts)
{
	my ($file, $weight) = split /\@/, $name;
	my $path = "$basedir/$file.sql";
	open(my $fh, '>', $path) or die "open $path: $!";
	print $fh $scripts{$name};
	close $fh;
	$files .= " -f $path\@$weight";
}

# REINDEX CONCURRENTLY in a loop beside the load, until told to stop.
my $stop = "$basedir/stop_reindex";
my $reindex_sql = "$basedir/reindex.sql";
open(my $fh, '>', $reindex_sql) or die;
for (1 .. 1000)
{
	print $fh "REINDEX INDEX CONCURRENTLY ci_v;\nREINDEX INDEX CONCURRENTLY cb_v;\nSELECT pg_sleep(0.2);\n"
	  . "SELECT (pg_stat_file('$stop', true)).size IS NOT NULL AS stop \\gset\n\\if :stop\n\\quit\n\\endif\n";
}
close $fh;
$crashlog->new_lines;
my ($rout, $rerr) = ('', '');
# A REINDEX CONCURRENTLY waits for the transactions older than it, and an
# ANALYZE or VACUUM of the load may wait for the lock it holds: PostgreSQL
# then breaks the deadlock by cancelling one of them.  That is PostgreSQL's
# behaviour, not embq's, so the loop goes on past a deadlock (pgbench retries
# its transactions) and only other errors fail the test.
my $reindex = IPC::Run::start(
	[ $node->installed_command('psql'), '-X', '-q', '-f', $reindex_sql,
	  '-d', $node->connstr('postgres') ],
	'>', \$rout, '2>', \$rerr);

my ($pout, $perr) = ('', '');
my @pgbench = ($node->installed_command('pgbench'), '--no-vacuum', '--client=4', '--jobs=2', '--random-seed=8008',
	'--max-tries=20',
	"--time=$seconds", '--protocol=extended', split(' ', $files), $node->connstr('postgres'));
note("pgbench: @pgbench");
IPC::Run::run(\@pgbench, '>', \$pout, '2>', \$perr,
	IPC::Run::timeout($seconds + 180));
my $pgbench_rc = $? >> 8;
open($fh, '>', $stop) or die;
close $fh;
eval { $reindex->finish; };
my $reindex_rc = $? >> 8;
note("pgbench output:\n$pout\n$perr");

my @crash = $crashlog->new_lines;
ok(!@crash, "concurrent load for ${seconds}s: the server does not crash")
  or diag(join("\n", @crash[ 0 .. ($#crash < 9 ? $#crash : 9) ]));
$crashlog->wait_up if @crash;
is($pgbench_rc, 0, 'concurrent load: pgbench succeeds');
like($pout, qr/number of failed transactions: 0/, 'concurrent load: no transaction fails');
my @errors = grep { /ERROR|FATAL|abort/ } split /\n/, $perr;
is(join("\n", @errors[ 0 .. ($#errors < 9 ? $#errors : 9) ]), '', 'concurrent load: no client error');
my ($processed) = $pout =~ /number of transactions actually processed: (\d+)/;
note("concurrent load: " . ($processed // 0) . " transactions");
is($reindex_rc, 0, 'the REINDEX INDEX CONCURRENTLY loop beside the load ran to its end') or diag($rerr);
my @rerrors = grep { /ERROR/ && !/deadlock detected/ } split /\n/, $rerr;
is(join("\n", @rerrors), '', 'REINDEX INDEX CONCURRENTLY beside the load fails only where PostgreSQL breaks a deadlock');
note('REINDEX deadlocks broken by PostgreSQL: ' . scalar(grep { /deadlock detected/ } split /\n/, $rerr));
is($node->safe_psql('postgres', q{SELECT string_agg(c.relname || ':' || i.indisvalid, ',' ORDER BY c.relname)
	FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
	WHERE c.relname IN ('ci_v', 'cb_v', 'ci_other', 'cb_other')}),
	'cb_other:true,cb_v:true,ci_other:true,ci_v:true', 'the indexes are valid after the load');

# Afterwards: the index probed in full (exact, see ivfscan.c) against a
# sequential scan.
my $INDEX = 'SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_sort = off;'
  . ' SET embq.probes = 65536; SET embq.max_probes = 0; SET embq.rescore_factor = 1000;';
my $SEQ = 'SET enable_indexscan = off; SET enable_bitmapscan = off;';
for my $c ([ 'ci', 'i8vec' ], [ 'cb', 'bitvec' ])
{
	my ($t, $typ) = @$c;
	my $op = $op{$typ};
	my $some = $node->safe_psql('postgres', "SELECT min(id) FROM $t");
	for my $q ("(SELECT v FROM $t WHERE id = $some)", const_query($typ))
	{
		my $sql = "SELECT id, v $op $q FROM $t WHERE v IS NOT NULL ORDER BY v $op $q LIMIT 100000000";
		like($node->safe_psql('postgres', "$INDEX EXPLAIN (COSTS OFF) $sql"), qr/Index Scan using ${t}_v/,
			"$t $op after the load: the plan uses the index");
		my @i = map { [ split /\|/ ] } split /\n/, $node->safe_psql('postgres', "$INDEX $sql");
		my @s = map { [ split /\|/ ] } split /\n/, $node->safe_psql('postgres', "$SEQ $sql");
		my %seen;
		my @dups = grep { $seen{ $_->[0] }++ } @i;
		is(scalar(@dups), 0, "$t $op after the load: each row once");
		is(scalar(@i), scalar(@s), "$t $op after the load: as many rows as a sequential scan");
		my $disorder = '';
		for my $k (1 .. $#i)
		{
			$disorder ||= "row $k (id $i[$k][0], distance $i[$k][1]) after id $i[$k - 1][0], distance $i[$k - 1][1]"
			  if $i[$k][1] < $i[ $k - 1 ][1];
		}
		is($disorder, '', "$t $op after the load: in distance order");
		is(join(' ', map { "$_->[0]:$_->[1]" } sort { $a->[0] <=> $b->[0] } @i),
			join(' ', map { "$_->[0]:$_->[1]" } sort { $a->[0] <=> $b->[0] } @s),
			"$t $op after the load: exactly the rows of a sequential scan");
	}
}

my @bad = $crashlog->all_lines;
is(scalar(@bad), 0, 'server log: no crash') or diag(join("\n", @bad[ 0 .. ($#bad < 9 ? $#bad : 9) ]));
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server is up');

$node->stop;
done_testing();
