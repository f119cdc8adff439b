# embq_ivf under concurrent load: pgbench clients mix inserts, updates,
# deletes, VACUUM and index-ordered queries (i8vec and real[] queries on an
# i8vec index, bitvec queries on a bitvec index, with random probes and
# rescore factors, some with a WHERE filter that makes the scan probe more
# lists) on one table.  Checked: every transaction succeeds (no error,
# deadlock or crash), and afterwards the indexes probed in full return
# exactly the rows of a sequential scan, in distance order, each live row once.
# The i8vec column has an index of each layout: L2 flat (the default at 32
# dimensions), cosine with the signs layout.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('pgbench');
$node->init;
$node->append_conf('postgresql.conf', qq{
wal_consistency_checking = 'generic'
autovacuum_naptime = 1s
autovacuum_vacuum_threshold = 50
autovacuum_vacuum_scale_factor = 0.05
log_statement = none
});
$node->start;

my $DIMS = 32;
my $BITS = 128;
my $vec = "array(SELECT (random() - 0.5)::real FROM generate_series(1, $DIMS))";
my $bits = "array(SELECT (random() - 0.5)::real FROM generate_series(1, $BITS))";

$node->safe_psql('postgres', qq{
	CREATE EXTENSION embq;
	SELECT setseed(0.5);
	CREATE TABLE t (id bigserial PRIMARY KEY, e i8vec($DIMS), b bitvec($BITS));
	INSERT INTO t (e, b)
		SELECT quantize_int8(array(SELECT (random() - 0.5)::real FROM generate_series(1, $DIMS) WHERE i > 0)),
			quantize_binary(array(SELECT (random() - 0.5)::real FROM generate_series(1, $BITS) WHERE i > 0))
		FROM generate_series(1, 2000) i;
	INSERT INTO t (e, b) VALUES (NULL, NULL);
	CREATE INDEX t_e ON t USING embq_ivf (e) WITH (lists = 20);
	CREATE INDEX t_b ON t USING embq_ivf (b) WITH (lists = 10);
	CREATE INDEX t_e_cos ON t USING embq_ivf (e i8vec_cosine_ops) WITH (lists = 200, layout = signs);
	ANALYZE t;
});

# The ORDER BY argument is an initplan: the index scan takes it as a parameter.
like($node->safe_psql('postgres', qq{SET enable_seqscan = off;
	EXPLAIN (COSTS OFF) SELECT id FROM t ORDER BY e <-> quantize_int8($vec) LIMIT 10}),
	qr/Index Scan using t_e /, 'ORDER BY with a computed query uses the index');

# One statement, one snapshot: the index probed in full (a) against a scan
# that cannot use it (b).  Under concurrent writes the two must still agree
# exactly, and the index must return its rows in distance order.
sub consistency_sql
{
	my ($col, $op, $arg) = @_;
	return qq{WITH q AS MATERIALIZED (SELECT $arg AS q),
a AS MATERIALIZED (SELECT id, $col $op (SELECT q FROM q) AS d FROM t WHERE $col IS NOT NULL
	ORDER BY $col $op (SELECT q FROM q) LIMIT 100000000),
b AS MATERIALIZED (SELECT id, $col $op (SELECT q FROM q) AS d FROM t WHERE $col IS NOT NULL
	ORDER BY ($col $op (SELECT q FROM q)) + 0 LIMIT 100000000),
ao AS (SELECT d, lag(d) OVER () AS prev FROM a)
SELECT ((SELECT count(*) FROM a) = (SELECT count(*) FROM b)
	AND (SELECT string_agg(id || '/' || d, ',' ORDER BY d, id) FROM a)
		IS NOT DISTINCT FROM (SELECT string_agg(id || '/' || d, ',' ORDER BY d, id) FROM b)
	AND (SELECT coalesce(bool_and(prev IS NULL OR d >= prev), true) FROM ao))::int AS ok};
}

for my $q ([ 'e', '<->', "quantize_int8($vec)", 't_e' ], [ 'e', '<=>', "quantize_int8($vec)", 't_e_cos' ],
	[ 'b', '<~>', "quantize_binary($bits)", 't_b' ])
{
	my $plan = $node->safe_psql('postgres', "SET enable_seqscan = off; EXPLAIN (COSTS OFF) "
		  . consistency_sql(@$q[ 0 .. 2 ]));
	my @ivf = $plan =~ /Index Scan using (t_e|t_b|t_e_cos) /g;
	is(join(',', @ivf), $q->[3], "consistency check of $q->[3]: one side uses the index, the other does not");
	is($node->safe_psql('postgres', "SET enable_seqscan = off; SET embq.probes = 65536; SET embq.rescore_factor = 1000; "
		  . consistency_sql(@$q[ 0 .. 2 ])), '1', "consistency check of $q->[3] passes before the load");
}

my $settings = q{
\set p random(1, 25)
\set f random(1, 8)
SET enable_seqscan = off;
SELECT set_config('embq.probes', :p, false), set_config('embq.rescore_factor', :f, false);
};

my %scripts = (
	'005_insert@10' => qq{
INSERT INTO t (e, b) SELECT quantize_int8(v), quantize_binary(v || v || v || v) FROM (SELECT $vec AS v) s;
INSERT INTO t (e, b) SELECT quantize_int8($vec), quantize_binary($bits) FROM generate_series(1, 5);
},
	'005_update@2' => q{
\set id random(1, 2000)
UPDATE t SET e = quantize_int8(array(SELECT (random() - 0.5)::real FROM generate_series(1, } . $DIMS . q{))) WHERE id = :id;
},
	'005_delete@2' => q{
\set id random(1, 10000)
DELETE FROM t WHERE id BETWEEN :id AND :id + 3;
},
	'005_vacuum@1' => q{
VACUUM t;
},
	'005_query_code@5' => $settings . qq{
SELECT id FROM t ORDER BY e <-> quantize_int8($vec) LIMIT 10;
SELECT id FROM t ORDER BY e <=> quantize_int8($vec) LIMIT 5;
},
	'005_query_float@5' => $settings . qq{
SELECT id FROM t ORDER BY e <-> ($vec)::real[] LIMIT 10;
SELECT id FROM t ORDER BY e <=> ($vec)::real[] LIMIT 20;
SELECT id FROM t WHERE id % 7 = 0 ORDER BY e <-> ($vec)::real[] LIMIT 10;
},
	'005_check@2' => qq{
SET enable_seqscan = off;
SET embq.probes = 65536; SET embq.rescore_factor = 1000;
\\set c random(1, 3)
\\if :c = 1
@{[ consistency_sql('e', '<->', "quantize_int8($vec)") ]} \\gset
\\elif :c = 2
@{[ consistency_sql('e', '<=>', "quantize_int8($vec)") ]} \\gset
\\else
@{[ consistency_sql('b', '<~>', "quantize_binary($bits)") ]} \\gset
\\endif
\\if :ok = 0
DO \$\$ BEGIN RAISE EXCEPTION 'embq_ivf index scan differs from a sequential scan in one snapshot'; END \$\$;
\\endif
},
	'005_query_bits@3' => $settings . qq{
SELECT id FROM t ORDER BY b <~> quantize_binary($bits) LIMIT 10;
SELECT id FROM t WHERE id % 5 = 1 ORDER BY b <~> quantize_binary($bits) LIMIT 10;
},
);

# Phase 1: a fixed number of transactions.
$node->pgbench(
	'--no-vacuum --client=4 --jobs=2 --transactions=300 --protocol=extended',
	0,
	[ qr{processed: 1200/1200}, qr{number of failed transactions: 0} ],
	[ qr{^$} ],
	'pgbench: concurrent inserts, updates, deletes, VACUUM and index scans',
	{ map { ("$_" =~ s/^005_/005_p1_/r) => $scripts{$_} } keys %scripts });

# Phase 2: for a while, with the indexes rebuilt concurrently beside the load
# (REINDEX CONCURRENTLY builds a new index, then validate_index walks it
# with ambulkdelete and inserts the rows it lacks).
my $reindex_sql = $node->basedir . '/reindex.sql';
open(my $fh, '>', $reindex_sql) or die;
print $fh "SELECT pg_sleep(0.5);\nREINDEX INDEX CONCURRENTLY t_e;\nREINDEX INDEX CONCURRENTLY t_b;\n"
  . "CREATE INDEX CONCURRENTLY t_e_ip ON t USING embq_ivf (e i8vec_ip_ops) WITH (lists = 5);\n"
  . "DROP INDEX CONCURRENTLY t_e_ip;\n" for 1 .. 2;
close $fh;
my ($rout, $rerr) = ('', '');
my $reindex = IPC::Run::start(
	[ $node->installed_command('psql'), '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', $reindex_sql,
	  '-d', $node->connstr('postgres') ],
	'>', \$rout, '2>', \$rerr);
$node->pgbench(
	'--no-vacuum --client=4 --jobs=2 --time=8 --protocol=extended',
	0,
	[ qr{number of failed transactions: 0} ],
	[ qr{^$} ],
	'pgbench: the same load for 8 seconds, beside REINDEX CONCURRENTLY',
	{ map { ("$_" =~ s/^005_/005_p2_/r) => $scripts{$_} } keys %scripts });
$reindex->finish;
is($? >> 8, 0, 'REINDEX CONCURRENTLY and CREATE INDEX CONCURRENTLY succeed beside the load');
is($rerr, '', 'REINDEX CONCURRENTLY: no error');
is($node->safe_psql('postgres', q{SELECT string_agg(c.relname || ':' || i.indisvalid, ',' ORDER BY c.relname)
	FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 't'::regclass}),
	't_b:true,t_e:true,t_e_cos:true,t_pkey:true', 'indexes are valid after REINDEX CONCURRENTLY');

my $INDEX = 'SET enable_seqscan = off; SET enable_bitmapscan = off;';
my $EXACT = 'SET enable_indexscan = off; SET enable_bitmapscan = off;';

sub ordered
{
	my ($settings, $col, $op, $arg, $limit) = @_;
	my $sql = "SELECT id, $col $op $arg FROM t WHERE $col IS NOT NULL ORDER BY $col $op $arg LIMIT $limit";
	# a query meant for the index must get it
	die "no index scan for: $sql"
	  if $settings =~ /enable_seqscan = off/
	  && $node->safe_psql('postgres', "$settings EXPLAIN (COSTS OFF) $sql") !~ /Index Scan using t_$col/;
	my $out = $node->safe_psql('postgres', "$settings $sql");
	return [ map { [ split /\|/ ] } split /\n/, $out ];
}

sub as_text { return join(' ', map { "$_->[0]:$_->[1]" } @{ $_[0] }); }

srand(5005);
sub randvec
{
	return 'ARRAY[' . join(',', map { sprintf('%.6f', rand() - 0.5) } 1 .. $_[0]) . ']::real[]';
}

my @qs = ((map { [ 'e', '<->', 'quantize_int8(' . randvec($DIMS) . ')' ] } 1 .. 3),
	[ 'e', '<->', randvec($DIMS) ],
	[ 'e', '<=>', 'quantize_int8(' . randvec($DIMS) . ')' ],
	[ 'e', '<=>', randvec($DIMS) ],
	(map { [ 'b', '<~>', 'quantize_binary(' . randvec($BITS) . ')' ] } 1 .. 2));
for my $q (@qs)
{
	my ($col, $op, $arg) = @$q;
	my $got = ordered("$INDEX SET embq.probes = 65536; SET embq.rescore_factor = 1000;", $col, $op, $arg, 10000000);
	my $want = ordered($EXACT, $col, $op, $arg, 10000000);
	my $monotone = 1;
	for my $i (1 .. $#$got)
	{
		$monotone = 0 if $got->[$i][1] < $got->[ $i - 1 ][1];
	}
	ok($monotone, "t.$col $op: index returns rows in distance order");
	my @g = sort { $a->[1] <=> $b->[1] || $a->[0] <=> $b->[0] } @$got;
	my @w = sort { $a->[1] <=> $b->[1] || $a->[0] <=> $b->[0] } @$want;
	is(scalar(@g), scalar(@w), "t.$col $op: index returns as many rows as a sequential scan");
	is(as_text(\@g), as_text(\@w), "t.$col $op: index returns exactly the rows of a sequential scan");
}

for my $q ([ 'e', '<->', 'quantize_int8(' . randvec($DIMS) . ')' ],
	[ 'e', '<=>', randvec($DIMS) ],
	[ 'b', '<~>', 'quantize_binary(' . randvec($BITS) . ')' ])
{
	my ($col, $op, $arg) = @$q;
	is($node->safe_psql('postgres', qq{$INDEX
		SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM t ORDER BY $col $op $arg LIMIT 10000000) s}),
		$node->safe_psql('postgres', "SELECT count(*), count(*) FROM t WHERE $col IS NOT NULL"),
		"t.$col $op: a full index scan returns every non-null row once");
}

# The table grew and shrank; VACUUM ran (by the clients and autovacuum).
my ($rows, $vacuums) = split /\|/, $node->safe_psql('postgres',
	"SELECT n_live_tup, vacuum_count + autovacuum_count FROM pg_stat_user_tables WHERE relname = 't'");
note("after pgbench: $rows live rows, $vacuums vacuums");
cmp_ok($vacuums, '>', 0, 'VACUUM ran during the load');

my @bad = grep { /PANIC|TRAP:|ERROR|deadlock|inconsistent page/ && !/canceling autovacuum task/ }
  split /\n/, slurp_file($node->logfile);
is(join("\n", @bad), '', 'server log: no error, deadlock or crash');

$node->stop;
done_testing();
