# ALTER EXTENSION embq UPDATE: a database created at 0.1.0 keeps its data,
# its indexes and its results across the upgrade to the current version,
# ends with the same objects as a new installation, and an index whose
# format this embq does not read fails with a REINDEX hint, never a crash
# or a wrong answer.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->start;

my $current = $node->safe_psql('postgres',
	q{SELECT default_version FROM pg_available_extensions WHERE name = 'embq'});
isnt($current, '0.1.0', "the default version ($current) is past 0.1.0");
is($node->safe_psql('postgres',
	q{SELECT string_agg(version, ',' ORDER BY version) FROM pg_available_extension_versions WHERE name = 'embq'}),
	"0.1.0,$current", '0.1.0 and the current version are installable');

# A database at 0.1.0, with what users keep: code columns, a btree, and
# embq_ivf indexes of both layouts (signs is the format 0.1.0 wrote).
$node->safe_psql('postgres', q{
	CREATE EXTENSION embq VERSION '0.1.0';
	CREATE TABLE docs (id int PRIMARY KEY, f real[], e i8vec(64), b bitvec(64));
	INSERT INTO docs
		SELECT i, v, quantize_int8(v), quantize_binary(v)
		FROM (SELECT i, array(SELECT sin(i * 0.37 + j * (1 + i % 7)) + cos(j * 0.11 * (i % 13))
			FROM generate_series(1, 64) j)::real[] AS v
			FROM generate_series(1, 3000) i) s;
	CREATE INDEX docs_e ON docs (e);
	CREATE INDEX docs_signs ON docs USING embq_ivf (e i8vec_l2_ops) WITH (lists = 20, layout = signs);
	CREATE INDEX docs_flat ON docs USING embq_ivf (e i8vec_cosine_ops) WITH (lists = 20);
	CREATE INDEX docs_bits ON docs USING embq_ivf (b bitvec_hamming_ops) WITH (lists = 20);
	ANALYZE docs;
});
is($node->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'embq'}),
	'0.1.0', 'installed at 0.1.0');

# The current library serves 0.1.0's definitions until the update.
is($node->safe_psql('postgres', q{SELECT lists, dims, metric FROM embq_ivf_info('docs_signs')}),
	'20|64|l2', "0.1.0's embq_ivf_info works with the current library");

my $fingerprint_sql = q{
	SELECT md5(string_agg(id || ':' || e::text || b::text, ',' ORDER BY id)) FROM docs};

# kNN through each index (the plan is checked: these must be index scans),
# by an i8vec query and a real[] query.
my @queries = (
	[ 'docs_signs', q{e <-> (SELECT e FROM docs WHERE id = 17)} ],
	[ 'docs_signs', q{e <-> (SELECT f FROM docs WHERE id = 1234)} ],
	[ 'docs_flat',  q{e <=> (SELECT e FROM docs WHERE id = 99)} ],
	[ 'docs_flat',  q{e <=> (SELECT f FROM docs WHERE id = 2500)} ],
	[ 'docs_bits',  q{b <~> (SELECT b FROM docs WHERE id = 5)} ],);

sub knn_results
{
	my ($label) = @_;
	my @out;
	for my $q (@queries)
	{
		my ($index, $order) = @$q;
		my $sql = "SET enable_seqscan = off; SET embq.probes = 4; "
		  . "SELECT id, round(($order)::numeric, 6) FROM docs ORDER BY $order, id LIMIT 10";
		my $plan = $node->safe_psql('postgres', "SET enable_seqscan = off; EXPLAIN (COSTS OFF) "
			  . "SELECT id FROM docs ORDER BY $order LIMIT 10");
		like($plan, qr/Index Scan using $index/, "$label: $index serves ORDER BY $order");
		push @out, $node->safe_psql('postgres', $sql);
	}
	return \@out;
}

my $fp_before = $node->safe_psql('postgres', $fingerprint_sql);
my $knn_before = knn_results('0.1.0');
my $btree_before = $node->safe_psql('postgres',
	q{SET enable_seqscan = off; SELECT count(*) FROM docs WHERE e = (SELECT e FROM docs WHERE id = 42)});

$node->safe_psql('postgres', 'ALTER EXTENSION embq UPDATE');
is($node->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'embq'}),
	$current, "updated to $current");

is($node->safe_psql('postgres', $fingerprint_sql), $fp_before, 'data unchanged by the update');
is_deeply(knn_results($current), $knn_before, 'every index returns what it returned before');
is($node->safe_psql('postgres',
	q{SET enable_seqscan = off; SELECT count(*) FROM docs WHERE e = (SELECT e FROM docs WHERE id = 42)}),
	$btree_before, 'the btree index still finds equal values');
is($node->safe_psql('postgres',
	q{SELECT string_agg(c::text || ':' || (embq_ivf_info(c)).layout, ',' ORDER BY c::text)
	  FROM unnest(array['docs_signs', 'docs_flat', 'docs_bits']::regclass[]) c}),
	'docs_bits:flat,docs_flat:flat,docs_signs:signs', 'embq_ivf_info reports each layout after the update');

# What 0.2.0 added works on the indexes 0.1.0 built.
is($node->safe_psql('postgres', q{SET embq.probes = 4;
	SELECT count(*) FROM embq_knn('docs_signs', ARRAY(SELECT e FROM docs WHERE id <= 5), 3) r
	JOIN docs d ON d.ctid = r.ctid}), '15', 'embq_knn searches an index built at 0.1.0');

# An upgraded database defines exactly what a new installation does.
my $objects_sql = q{
	SELECT string_agg(d, E'\n' ORDER BY d) FROM (
		SELECT pg_describe_object(dep.classid, dep.objid, 0)
			|| coalesce(' (' || pg_get_function_arguments(p.oid) || ') -> '
				|| pg_get_function_result(p.oid) || ' ' || p.provolatile::text
				|| p.proparallel::text || p.proisstrict::text || ' ' || p.prosrc, '') AS d
		FROM pg_depend dep
		LEFT JOIN pg_proc p ON dep.classid = 'pg_proc'::regclass AND p.oid = dep.objid
		WHERE dep.refclassid = 'pg_extension'::regclass AND dep.deptype = 'e'
		  AND dep.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'embq')) s};
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION embq');
my $upgraded = $node->safe_psql('postgres', $objects_sql);
my $fresh = $node->safe_psql('fresh', $objects_sql);
ok(length($fresh) > 1000, 'the extension has members to compare');
is($upgraded, $fresh, 'an upgraded database has the objects of a new installation');

# An index in a format this embq does not read (a newer embq's, or a
# damaged metapage) is refused with a REINDEX hint.  The version is the
# second word of the metapage contents (after the 24-byte page header and
# the magic number).
my $checksums = $node->safe_psql('postgres', 'SHOW data_checksums');
SKIP:
{
	skip 'data checksums are on: the metapage cannot be patched in place', 4 if $checksums eq 'on';
	my $path = $node->data_dir . '/'
	  . $node->safe_psql('postgres', q{SELECT pg_relation_filepath('docs_flat')});
	$node->stop;
	open(my $fh, '+<:raw', $path) or die "open $path: $!";
	seek($fh, 24, 0);
	read($fh, my $head, 8);
	my ($magic, $version) = unpack('VV', $head);
	is(sprintf('%08x', $magic), '45495646', 'the metapage starts with the embq_ivf magic number');
	seek($fh, 28, 0);
	print $fh pack('V', 99);
	close($fh);
	$node->start;
	my ($ret, $stdout, $stderr) = $node->psql('postgres',
		q{SET enable_seqscan = off; SELECT id FROM docs ORDER BY e <=> (SELECT e FROM docs WHERE id = 99) LIMIT 3});
	like($stderr, qr/index "docs_flat" has embq_ivf format version 99.*HINT:\s+Rebuild it with REINDEX/s,
		'an unreadable format is an error with a REINDEX hint');
	$node->safe_psql('postgres', 'REINDEX INDEX docs_flat');
	is($node->safe_psql('postgres', q{SELECT (embq_ivf_info('docs_flat')).layout}), 'flat',
		'REINDEX rebuilds it');
	is($node->safe_psql('postgres', q{SET enable_seqscan = off; SET embq.probes = 4;
		SELECT id, round((e <=> (SELECT f FROM docs WHERE id = 2500))::numeric, 6) FROM docs
		ORDER BY e <=> (SELECT f FROM docs WHERE id = 2500), id LIMIT 10}),
		$knn_before->[3], 'and the rebuilt index returns what it did');
}

# The indexes keep taking inserts, and find them.
$node->safe_psql('postgres', q{
	INSERT INTO docs SELECT 5000 + id, f, e, b FROM docs WHERE id <= 50});
is($node->safe_psql('postgres', q{SET enable_seqscan = off; SET embq.probes = 20;
	SELECT string_agg(id::text, ',' ORDER BY id) FROM
	(SELECT id FROM docs ORDER BY e <-> (SELECT e FROM docs WHERE id = 30) LIMIT 2) s}),
	'30,5030', 'a row inserted after the update is found through the 0.1.0 index');

$node->stop;
done_testing();
