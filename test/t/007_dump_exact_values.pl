# Every bitvec and i8vec value survives pg_dump and restore bit for bit,
# through the text form (plain dumps: COPY text; --inserts: literals) and the
# custom format, including values whose float list would not read back as
# themselves: i8vec_from_codes results, values from binary input, subnormal
# scales, and a UNIQUE column holding both i8vec_from_codes('{1,2,3}') and
# '[1,2,3]' (the same text before embq printed scale*[codes], so the restore
# failed with a duplicate key).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('exact');
$node->init;
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION embq;
	CREATE TABLE vals (id int PRIMARY KEY, u i8vec UNIQUE, v i8vec, v3 i8vec(3),
		b bitvec, b10 bitvec(10));
	-- 1 and 2 printed alike before the fix
	INSERT INTO vals (id, u) VALUES
		(1, i8vec_from_codes('{1,2,3}'::int[])),
		(2, '[1,2,3]'),
		(3, i8vec_from_codes('{0,0,0}'::int[])),
		(4, i8vec_from_codes('{-127,5}'::smallint[])),
		(5, quantize_int8('{0.12,-0.5}'::real[])),
		(6, quantize_int8('{1e-40,3e-41}'::real[])),
		(7, quantize_int8('{3e38,-1e38}'::real[]));
	-- int8 model outputs: codes of every magnitude, scale 1
	INSERT INTO vals (id, u, v, b)
		SELECT 100 + i,
			i8vec_from_codes(ARRAY(SELECT ((i * 31 + j * 17) % 255) - 127
				FROM generate_series(1, 1 + i % 40) j)),
			i8vec_from_codes(ARRAY(SELECT ((i * j) % (1 + i % 100)) - (i % 100) / 2
				FROM generate_series(1, 1 + i % 13) j)),
			(SELECT string_agg(((i * 7 + j * 3) % 5 < 2)::int::text, '')
				FROM generate_series(1, 1 + i % 70) j)::bitvec
		FROM generate_series(1, 300) i;
	-- bitvec from bit and from packed bytes
	INSERT INTO vals (id, b, b10)
		SELECT 500 + i, (i::bit(20) || B'1')::bitvec,
			bitvec(decode(lpad(to_hex(i * 64), 4, '0'), 'hex'), 10)
		FROM generate_series(0, 15) i;
});

# Binary input (i8vec_recv): scale 3 with codes 1, 2; scale 1e-45 (the
# smallest subnormal) with codes 5, -7, 1; scale 2.5 with all-zero codes.
my $bin = $node->basedir . '/payload.bin';
$node->safe_psql('postgres', 'CREATE TABLE staging (n serial, v i8vec)');
foreach my $payload ('00020000404000000102', '000300000000000105f901', '0003000040200000000000')
{
	$node->safe_psql('postgres', qq{
		COPY (SELECT '\\x$payload'::bytea) TO '$bin' (FORMAT binary);
		COPY staging (v) FROM '$bin' (FORMAT binary);
	});
}
$node->safe_psql('postgres', q{
	INSERT INTO vals (id, u, v3)
		SELECT 900 + n, CASE WHEN embq_dims(v) = 2 THEN v END, CASE WHEN embq_dims(v) = 3 THEN v END
		FROM staging;
	DROP TABLE staging;
});

# Every value's exact bytes (the binary send format: dims, scale, codes; bits).
my $fingerprint_sql = q{
	SELECT count(*) || ' ' || md5(string_agg(concat_ws('|', id, i8vec_send(u), i8vec_send(v),
		i8vec_send(v3), bitvec_send(b), bitvec_send(b10)), ',' ORDER BY id))
	FROM vals};
my $before = $node->safe_psql('postgres', $fingerprint_sql);
like($before, qr/^\d+ [0-9a-f]{32}$/, 'fingerprint computed');
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM vals WHERE u::text::i8vec IS DISTINCT FROM u OR v::text::i8vec IS DISTINCT FROM v
		OR v3::text::i8vec IS DISTINCT FROM v3 OR b::text::bitvec IS DISTINCT FROM b}),
	'0', 'every value reads back from its text form');

# Plain dump (COPY ... FROM stdin, text format), custom format, and --inserts.
my %dumps = (
	plain => [ [ 'pg_dump', '-f' ], 'psql' ],
	custom => [ [ 'pg_dump', '-Fc', '-f' ], 'pg_restore' ],
	inserts => [ [ 'pg_dump', '--inserts', '-f' ], 'psql' ]);
foreach my $kind (sort keys %dumps)
{
	my ($dumpcmd, $restore) = @{ $dumps{$kind} };
	my $file = $node->basedir . "/vals_$kind.dump";
	$node->command_ok([ @$dumpcmd, $file, '-d', $node->connstr('postgres') ], "pg_dump ($kind) succeeds");
	$node->safe_psql('postgres', "CREATE DATABASE r_$kind");
	my @restorecmd = $restore eq 'psql'
	  ? ('psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', $file, '-d', $node->connstr("r_$kind"))
	  : ('pg_restore', '--exit-on-error', '-d', $node->connstr("r_$kind"), $file);
	$node->command_ok(\@restorecmd, "restore ($kind) succeeds");
	is($node->safe_psql("r_$kind", $fingerprint_sql), $before, "restored values ($kind) are identical bit for bit");
}

$node->stop;
done_testing();
