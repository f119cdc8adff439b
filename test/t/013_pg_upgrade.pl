# pg_upgrade of a cluster with embq data and indexes to a newer PostgreSQL:
# the schema comes across through pg_dump's binary-upgrade mode (the types,
# operator classes and the access method of the extension), the heap and
# index files as they are, and every index answers as before.
#
# Needs two servers: EMBQ_UPGRADE_FROM is the bin directory of the older one
# (embq installed there too); the newer one is the server under test.
# test/run_tests.sh sets it in its PostgreSQL 18 pass, to Debian's 15.
use strict;
use warnings;
use File::Basename qw(dirname);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $oldbin = $ENV{EMBQ_UPGRADE_FROM};
plan skip_all => 'EMBQ_UPGRADE_FROM (the bin directory of an older server with embq) is not set'
  unless $oldbin && -x "$oldbin/postgres";

my $old = PostgreSQL::Test::Cluster->new('old', install_path => dirname($oldbin));
my $new = PostgreSQL::Test::Cluster->new('new');
my $newbin = `pg_config --bindir`;
chomp $newbin;
plan skip_all => "the server under test is not newer than $oldbin"
  unless $new->pg_version > $old->pg_version;
note('upgrading from ' . $old->pg_version . ' to ' . $new->pg_version);

$old->init;
$old->start;
$old->safe_psql('postgres', q{
	CREATE EXTENSION embq;
	CREATE TABLE docs (id int PRIMARY KEY, f real[], e i8vec(64), b bitvec(64), big i8vec(1500));
	INSERT INTO docs
		SELECT i, v, quantize_int8(v), quantize_binary(v),
			quantize_int8(array(SELECT sin(i + j * 0.01)::real FROM generate_series(1, 1500) j))
		FROM (SELECT i, array(SELECT sin(i * 0.37 + j * (1 + i % 7)) + cos(j * 0.11 * (i % 13))
			FROM generate_series(1, 64) j)::real[] AS v
			FROM generate_series(1, 3000) i) s;
	CREATE INDEX docs_e ON docs (e);
	CREATE INDEX docs_signs ON docs USING embq_ivf (e i8vec_l2_ops) WITH (lists = 20, layout = signs);
	CREATE INDEX docs_flat ON docs USING embq_ivf (e i8vec_cosine_ops) WITH (lists = 20);
	CREATE INDEX docs_bits ON docs USING embq_ivf (b bitvec_hamming_ops) WITH (lists = 20);
	CREATE INDEX docs_big ON docs USING embq_ivf (big i8vec_ip_ops) WITH (lists = 10);
	ANALYZE docs;
});

my $fingerprint_sql = q{
	SELECT md5(string_agg(id || ':' || e::text || b::text || big::text, ',' ORDER BY id)) FROM docs};
my @queries = (
	[ 'docs_signs', q{e <-> (SELECT f FROM docs WHERE id = 1234)} ],
	[ 'docs_flat',  q{e <=> (SELECT e FROM docs WHERE id = 99)} ],
	[ 'docs_bits',  q{b <~> (SELECT b FROM docs WHERE id = 5)} ],
	[ 'docs_big',   q{big <#> (SELECT big FROM docs WHERE id = 77)} ],);

sub answers
{
	my ($node) = @_;
	my @out = ($node->safe_psql('postgres', $fingerprint_sql),
		$node->safe_psql('postgres', q{SET enable_seqscan = off;
			SELECT count(*) FROM docs WHERE e = (SELECT e FROM docs WHERE id = 42)}));
	for my $q (@queries)
	{
		my ($index, $order) = @$q;
		like($node->safe_psql('postgres', "SET enable_seqscan = off; EXPLAIN (COSTS OFF) "
				  . "SELECT id FROM docs ORDER BY $order LIMIT 10"),
			qr/Index Scan using $index/, "PostgreSQL " . $node->pg_version . ": $index serves the query");
		# ORDER BY the distance alone: a second key would let the planner of
		# one version sort every row the index returns (so probe every list)
		# and that of another stop early (an incremental sort)
		push @out, $node->safe_psql('postgres', "SET enable_seqscan = off; SET embq.probes = 4; "
			  . "SELECT id, round(d::numeric, 6) FROM (SELECT id, $order AS d FROM docs "
			  . "ORDER BY $order LIMIT 10) s ORDER BY d, id");
	}
	return \@out;
}

my $before = answers($old);
my $version = $old->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'embq'});

# Debian 12's PostgreSQL 15.20 stamps every new column with an attribute
# option "pg_attver" (whatever its table, embq's or not), which a stock 18
# rejects when pg_upgrade restores the schema ('unrecognized parameter
# "pg_attver"'): nothing embq can change, so the test drops the stamp, and
# only that, from the old cluster's columns first.
$old->safe_psql('postgres', q{
	UPDATE pg_attribute
	SET attoptions = nullif(array(SELECT o FROM unnest(attoptions) o WHERE o NOT LIKE 'pg_attver=%'), '{}')
	WHERE attrelid >= 16384 AND attoptions::text LIKE '%pg_attver=%'});
$old->stop;

# pg_upgrade wants the same checksum setting on both sides (18's initdb
# enables checksums by default, 15's does not).
$new->init(extra => [ $new->pg_version >= 18 ? '--no-data-checksums' : () ]);

# pg_upgrade writes its reports into the current directory on older versions
chdir($new->basedir) or die "chdir: $!";
command_ok(
	[
		'pg_upgrade', '--no-sync',
		'-d', $old->data_dir, '-D', $new->data_dir,
		'-b', $oldbin, '-B', $newbin,
		'-s', $new->host, '-p', $old->port, '-P', $new->port,
		'--copy'
	],
	'pg_upgrade succeeds');

$new->start;
is($new->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'embq'}),
	$version, 'the extension comes across at its version');
is_deeply(answers($new), $before, 'data, the btree and every embq_ivf index answer as before');

# The upgraded indexes take inserts, and VACUUM and REINDEX work on them.
$new->safe_psql('postgres', q{
	INSERT INTO docs SELECT 5000 + id, f, e, b, big FROM docs WHERE id <= 50;
	DELETE FROM docs WHERE id BETWEEN 100 AND 200;
	VACUUM docs;});
is($new->safe_psql('postgres', q{SET enable_seqscan = off; SET embq.probes = 20;
	SELECT string_agg(id::text, ',' ORDER BY id) FROM
	(SELECT id FROM docs ORDER BY e <-> (SELECT e FROM docs WHERE id = 30) LIMIT 2) s}),
	'30,5030', 'a row inserted after the upgrade is found');
$new->safe_psql('postgres', 'REINDEX TABLE docs');
my $knn = q{SELECT id, round((e <=> (SELECT f FROM docs WHERE id = 2500))::numeric, 6) FROM docs
	ORDER BY e <=> (SELECT f FROM docs WHERE id = 2500), id LIMIT 10};
is($new->safe_psql('postgres', "SET enable_seqscan = off; SET embq.probes = 20; $knn"),
	$new->safe_psql('postgres', "SET enable_indexscan = off; SET enable_bitmapscan = off; $knn"),
	'REINDEX rebuilds them: probing every list of the flat index gives the exact answer');

$new->stop;
done_testing();
