# Recall@10 of embq_ivf on real vectors (test/data, or $EMBQ_TEST_DATA):
#   minilm-sap: 778 x 384 sentence embeddings (cosine, unit length), every row a query
#   bigann10k:  10,000 x 128 SIFT descriptors (L2), 100 queries
# Rows are loaded as real[] and stored as quantize_int8(v) (i8vec) and
# quantize_binary(v) (bitvec).  For each operator class the index results are
# compared with
#   (a) the exact ordering by the same operator over all rows (a sequential
#       scan of the same codes), tie-aware: an index row counts as a hit when
#       its distance is at most the 10th exact distance;
#   (b) for the i8vec operator classes with float queries, the float ground
#       truth (the ivecs files, brute force in float64; the minilm file is
#       cross-checked here against a Perl computation).
# Asserted: recall@10 >= 0.95 against (a) for the i8vec operator classes: at
# the default settings (embq.probes = 80, embq.rescore_factor = 4) on SIFT
# with the default lists (2 * sqrt(10,000) = 200); with fixed, coarser layouts
# at fewer probes: 10 of 28 lists on the sentence embeddings, 20 of 100 on
# SIFT (where 10 probes give ~0.94, as a float IVF-flat of the same layout
# does: numpy 0.944-0.950).  Probing every list and rescoring every row
# (embq.rescore_factor = 1000) is exact.  Every recall figure is printed
# (probes 1, 5, 10, 20, 40, 80 up to the lists; rescore_factor 1 and 4 for
# i8vec, whose coarse pass ranks by sign bits).
use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $K = 10;
my $repo = abs_path(dirname(__FILE__) . '/../..');
my $data = $ENV{EMBQ_TEST_DATA} || "$repo/test/data";
die "002_ivf_recall: no test vectors in $data (see test/data/README.md)"
  unless -f "$data/minilm-sap/sap_fiori_minilm384_all.fvecs"
  && -f "$data/bigann10k/bigann10k_base.fvecs";

# texmex fvecs / ivecs: per row a little-endian int32 count, then the values.
sub read_vecs
{
	my ($path, $ivecs) = @_;
	open(my $fh, '<:raw', $path) or die "open $path: $!";
	local $/;
	my $bytes = <$fh>;
	close $fh;
	my @rows;
	my $off = 0;
	while ($off < length($bytes))
	{
		my $dim = unpack('l<', substr($bytes, $off, 4));
		push @rows, [ unpack(($ivecs ? 'l<' : 'f<') . $dim, substr($bytes, $off + 4, 4 * $dim)) ];
		$off += 4 + 4 * $dim;
	}
	return \@rows;
}

# real[] literal; %.9g reads back as the same float4.
sub array_literal
{
	return '{' . join(',', map { sprintf('%.9g', $_) } @{ $_[0] }) . '}';
}

# COPY rows (0-based id, real[]) into a table through a server-side file.
sub load_table
{
	my ($node, $table, $rows) = @_;
	my $file = $node->basedir . "/$table.copy";
	open(my $fh, '>', $file) or die "open $file: $!";
	print $fh "$_\t" . array_literal($rows->[$_]) . "\n" for 0 .. $#$rows;
	close $fh;
	$node->safe_psql('postgres', "COPY $table (id, v) FROM '$file'");
}

my $node = PostgreSQL::Test::Cluster->new('recall');
$node->init;
$node->append_conf('postgresql.conf', "maintenance_work_mem = 64MB\nshared_buffers = 64MB");
$node->start;

my $sap_rows = read_vecs("$data/minilm-sap/sap_fiori_minilm384_all.fvecs");
my $sap_gt = read_vecs("$data/minilm-sap/sap_fiori_minilm384_selfknn_cosine_top100_excl_self.ivecs", 1);
my $sift_rows = read_vecs("$data/bigann10k/bigann10k_base.fvecs");
my $sift_queries = read_vecs("$data/bigann10k/bigann10k_query.fvecs");
my $sift_gt = read_vecs("$data/bigann10k/bigann10k_groundtruth_l2_top100.ivecs", 1);
is(scalar(@$sap_rows), 778, 'minilm-sap: 778 rows');
is(scalar(@{ $sap_rows->[0] }), 384, 'minilm-sap: 384 dimensions');
is(scalar(@$sift_rows), 10000, 'bigann10k: 10,000 rows');
is(scalar(@$sift_queries), 100, 'bigann10k: 100 queries');

$node->safe_psql('postgres', q{
	CREATE EXTENSION embq;
	CREATE TABLE sap (id int PRIMARY KEY, v real[], e i8vec(384), b bitvec(384));
	CREATE TABLE sift (id int PRIMARY KEY, v real[], e i8vec(128), b bitvec(128));
	CREATE TABLE sift_q (id int PRIMARY KEY, v real[]);
});
load_table($node, 'sap', $sap_rows);
load_table($node, 'sift', $sift_rows);
load_table($node, 'sift_q', $sift_queries);
$node->safe_psql('postgres', q{
	UPDATE sap SET e = quantize_int8(v), b = quantize_binary(v);
	UPDATE sift SET e = quantize_int8(v), b = quantize_binary(v);
	VACUUM ANALYZE sap;
	VACUUM ANALYZE sift;
	VACUUM ANALYZE sift_q;
});
is($node->safe_psql('postgres', 'SELECT count(*) FROM sap WHERE e IS NOT NULL AND b IS NOT NULL'),
	'778', 'minilm-sap loaded');
is($node->safe_psql('postgres', 'SELECT count(*) FROM sift WHERE e IS NOT NULL'), '10000', 'bigann10k loaded');

# The index builds.  lists: about sqrt(rows) (28 for 778 rows, 100 for 10,000),
# coarser than the default 2 * sqrt(rows), so that 10 probes visit a third of
# the lists on minilm and 20 a fifth on SIFT.
$node->safe_psql('postgres', q{
	CREATE INDEX sap_cos ON sap USING embq_ivf (e i8vec_cosine_ops) WITH (lists = 28);
	CREATE INDEX sap_ip ON sap USING embq_ivf (e i8vec_ip_ops) WITH (lists = 28);
	CREATE INDEX sap_bip ON sap USING embq_ivf (b bitvec_ip_ops) WITH (lists = 28);
	CREATE INDEX sap_ham ON sap USING embq_ivf (b bitvec_hamming_ops) WITH (lists = 28);
	CREATE INDEX sift_l2 ON sift USING embq_ivf (e i8vec_l2_ops) WITH (lists = 100);
});

# Each case: the index, the table, the query relation and expression, and the
# ORDER BY expression (t = table row, q = query row).
my @cases = (
	{ name => 'sift i8vec_l2_ops, real[] queries', index => 'sift_l2', table => 'sift',
	  queries => 'sift_q', order => 't.e <-> q.v', lists => 100, floatgt => 'sift', asym => 1,
	  bar_probes => 20 },
	{ name => 'sift i8vec_l2_ops, i8vec queries', index => 'sift_l2', table => 'sift',
	  queries => 'sift_q', order => 't.e <-> quantize_int8(q.v)', lists => 100, floatgt => 'sift',
	  bar_probes => 20 },
	# the default lists (2 * sqrt(rows) = 200) at the default 80 probes
	{ name => 'sift i8vec_l2_ops (default lists), real[]', index => 'sift_l2_default', table => 'sift',
	  queries => 'sift_q', order => 't.e <-> q.v', lists => 200, floatgt => 'sift', asym => 1,
	  setup => 'DROP INDEX sift_l2; CREATE INDEX sift_l2_default ON sift USING embq_ivf (e)' },
	{ name => 'minilm i8vec_cosine_ops, real[] queries', index => 'sap_cos', table => 'sap',
	  queries => 'sap', order => 't.e <=> q.v', lists => 28, floatgt => 'sap', asym => 1,
	  bar_probes => 10 },
	{ name => 'minilm i8vec_ip_ops, real[] queries', index => 'sap_ip', table => 'sap',
	  queries => 'sap', order => 't.e <#> q.v', lists => 28, floatgt => 'sap', asym => 1,
	  bar_probes => 10 },
	{ name => 'minilm bitvec_ip_ops, real[] queries', index => 'sap_bip', table => 'sap',
	  queries => 'sap', order => 't.b <#> q.v', lists => 28, floatgt => 'sap', bit => 1, asym => 1 },
	{ name => 'minilm bitvec_hamming_ops, bitvec queries', index => 'sap_ham', table => 'sap',
	  queries => 'sap', order => 't.b <~> q.b', lists => 28, floatgt => 'sap', bit => 1 },
);

# Top k of every query: { query id => [ [id, distance], ... ] }, one statement.
sub topk
{
	my ($case, $settings, $k) = @_;
	$k //= $K;
	my $out = $node->safe_psql('postgres', qq{
		$settings
		SELECT q.id, string_agg(x.id || ':' || x.d, ' ')
		FROM $case->{queries} q CROSS JOIN LATERAL
			(SELECT t.id, $case->{order} AS d FROM $case->{table} t
			 ORDER BY $case->{order} LIMIT $k) x
		GROUP BY q.id});
	my %res;
	for my $line (split /\n/, $out)
	{
		my ($qid, $list) = split /\|/, $line;
		$res{$qid} = [ map { [ split /:/ ] } split / /, $list ];
	}
	return \%res;
}

my $INDEX = 'SET enable_seqscan = off; SET enable_bitmapscan = off;';
my $EXACT = 'SET enable_indexscan = off; SET enable_bitmapscan = off;';

# Tie-aware recall: index rows whose distance is at most the k-th exact one.
sub recall_vs_exact
{
	my ($got, $exact) = @_;
	my ($hits, $total) = (0, 0);
	for my $qid (keys %$exact)
	{
		my @ex = @{ $exact->{$qid} };
		my $kth = $ex[-1][1];
		my $h = grep { $_->[1] <= $kth } @{ $got->{$qid} || [] };
		$hits += $h > @ex ? @ex : $h;
		$total += @ex;
	}
	return $hits / $total;
}

# The float ground truth, by id: top 10 of each query.
my %float_gt;
$float_gt{sift} = { map { $_ => [ @{ $sift_gt->[$_] }[ 0 .. $K - 1 ] ] } 0 .. $#$sift_gt };
# minilm: the file excludes the row itself.
$float_gt{sap} = { map { $_ => [ @{ $sap_gt->[$_] }[ 0 .. $K - 1 ] ] } 0 .. $#$sap_gt };

# Cross-check the minilm ground truth file on some rows with float64 cosine in Perl.
{
	my @norm = map { my $s = 0; $s += $_ * $_ for @$_; sqrt($s) } @$sap_rows;
	my $agree = 0;
	my $checked = 0;
	for (my $qi = 0; $qi < @$sap_rows; $qi += 37)
	{
		my $q = $sap_rows->[$qi];
		my @d;
		for my $j (0 .. $#$sap_rows)
		{
			next if $j == $qi;
			my $r = $sap_rows->[$j];
			my $dot = 0;
			$dot += $q->[$_] * $r->[$_] for 0 .. $#$q;
			push @d, [ $j, 1 - $dot / ($norm[$qi] * $norm[$j]) ];
		}
		my @top = map { $_->[0] } (sort { $a->[1] <=> $b->[1] || $a->[0] <=> $b->[0] } @d)[ 0 .. $K - 1 ];
		my %in = map { $_ => 1 } @{ $float_gt{sap}{$qi} };
		$agree += grep { $in{$_} } @top;
		$checked += $K;
	}
	cmp_ok($agree / $checked, '>=', 0.98,
		sprintf('minilm ground truth file agrees with a Perl float64 computation (%d/%d)', $agree, $checked));
}

# Recall against the float ground truth, by id.  minilm queries are rows of
# the table: ask for one more and drop the query row itself.
sub recall_vs_float
{
	my ($case, $got) = @_;
	my ($hits, $total) = (0, 0);
	my $gt = $float_gt{ $case->{floatgt} };
	for my $qid (keys %$gt)
	{
		my @ids = map { $_->[0] } @{ $got->{$qid} || [] };
		if ($case->{floatgt} eq 'sap')
		{
			my @other = grep { $_ != $qid } @ids;
			@ids = @other[ 0 .. ($#other < $K - 1 ? $#other : $K - 1) ];
		}
		my %in = map { $_ => 1 } @{ $gt->{$qid} };
		$hits += grep { $in{$_} } @ids;
		$total += @{ $gt->{$qid} };
	}
	return $hits / $total;
}

my @summary;
for my $case (@cases)
{
	my $name = $case->{name};

	$node->safe_psql('postgres', $case->{setup}) if $case->{setup};

	# the plan uses the index
	my $plan = $node->safe_psql('postgres', qq{
		$INDEX
		EXPLAIN (COSTS OFF) SELECT q.id, x.id
		FROM $case->{queries} q CROSS JOIN LATERAL
			(SELECT t.id FROM $case->{table} t ORDER BY $case->{order} LIMIT $K) x});
	like($plan, qr/Index Scan using $case->{index} /, "$name: ORDER BY uses the index");

	my $exact = topk($case, $EXACT);
	my $k_float = $case->{floatgt} eq 'sap' ? $K + 1 : $K;

	# default settings
	my $def = topk($case, $INDEX);
	my $r_def = recall_vs_exact($def, $exact);
	my $line = sprintf('%-45s default (probes 80, rescore 4): recall@10 vs exact %.4f', $name, $r_def);
	if (!$case->{bit})
	{
		my $at = $case->{bar_probes} ? "embq.probes = $case->{bar_probes}" : 'default settings';
		my $r_bar = $case->{bar_probes}
		  ? recall_vs_exact(topk($case, "$INDEX SET embq.probes = $case->{bar_probes};"), $exact)
		  : $r_def;
		cmp_ok($r_bar, '>=', 0.95, "$name: recall\@10 against exact search at $at >= 0.95");
	}
	else
	{
		cmp_ok($r_def, '>=', 0.5, "$name: recall\@10 against exact search at default settings is sane");
	}
	if ($case->{floatgt})
	{
		my $fgot = $k_float == $K ? $def : topk($case, $INDEX, $k_float);
		my $fexact = $k_float == $K ? $exact : topk($case, $EXACT, $k_float);
		$line .= sprintf(', vs float ground truth %.4f (exact search on the codes: %.4f)',
			recall_vs_float($case, $fgot), recall_vs_float($case, $fexact));
	}
	push @summary, $line;

	# probes and rescore_factor
	for my $rescore ($case->{bit} ? (4) : (1, 4))
	{
		my @parts;
		for my $probes ((grep { $_ < $case->{lists} } 1, 5, 10, 20, 40, 80), $case->{lists})
		{
			my $settings = "$INDEX SET embq.probes = $probes; SET embq.rescore_factor = $rescore;";
			my $got = topk($case, $settings);
			my $r = recall_vs_exact($got, $exact);
			my $part = sprintf('probes %d: %.4f', $probes, $r);
			if ($case->{floatgt} && !$case->{bit})
			{
				my $fgot = $k_float == $K ? $got : topk($case, $settings, $k_float);
				$part .= sprintf(' (float %.4f)', recall_vs_float($case, $fgot));
			}
			push @parts, $part;
			# every list probed, every row rescored: the index is exact
			if ($probes == $case->{lists} && $rescore == 4)
			{
				my $all = topk($case, "$INDEX SET embq.probes = $probes; SET embq.rescore_factor = 1000;");
				is(recall_vs_exact($all, $exact), 1,
					"$name: probing every list and rescoring every row is exact");
			}
		}
		push @summary, sprintf('%-45s rescore_factor %d: %s', $name, $rescore, join(', ', @parts));
	}
}

diag("recall\@10 (vs exact = same operator over all rows; float = float ground truth):");
diag($_) for @summary;

$node->stop;
done_testing();
