# Data in bitvec and i8vec columns survives pg_dump / pg_restore, binary COPY
# between servers, and a crash (WAL replay of the heap and TOAST pages).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('primary');
$node->init;
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION embq;
	CREATE TABLE items (id int PRIMARY KEY, e i8vec(64), b bitvec(200), big i8vec(3000));
	INSERT INTO items
		SELECT i,
			quantize_int8(array(SELECT sin(i * j)::real FROM generate_series(1, 64) j)),
			quantize_binary(array(SELECT cos(i + j)::real FROM generate_series(1, 200) j)),
			quantize_int8(array(SELECT sin(i + j * 0.01)::real FROM generate_series(1, 3000) j))
		FROM generate_series(1, 500) i;
	CREATE INDEX ON items (e);
});

# A fingerprint of every value's exact codes, scale and bits.
my $fingerprint_sql = q{
	SELECT md5(string_agg(id || ':' || i8vec_codes(e)::text || i8vec_scale(e)::text
		|| b::text || i8vec_codes(big)::text || i8vec_scale(big)::text, ',' ORDER BY id))
	FROM items};
my $before = $node->safe_psql('postgres', $fingerprint_sql);
ok(length($before) == 32, 'fingerprint computed');

# pg_dump in custom format, restore into a fresh database.
my $dump = $node->basedir . '/items.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('postgres') ],
	'pg_dump succeeds');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '-d', $node->connstr('restored'), $dump ],
	'pg_restore succeeds');
is($node->safe_psql('restored', $fingerprint_sql), $before, 'restored values are identical');
is($node->safe_psql('restored', q{SELECT format_type(atttypid, atttypmod) FROM pg_attribute
	WHERE attrelid = 'items'::regclass AND attname = 'e'}), 'i8vec(64)', 'typmod survives the dump');

# Plain-text dump with INSERT statements exercises the text output and input.
my $sql = $node->basedir . '/items.sql';
$node->command_ok([ 'pg_dump', '--inserts', '-f', $sql, '-d', $node->connstr('postgres') ],
	'pg_dump --inserts succeeds');
$node->safe_psql('postgres', 'CREATE DATABASE from_text');
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', $sql, '-d', $node->connstr('from_text') ],
	'text dump restores');
is($node->safe_psql('from_text', $fingerprint_sql), $before, 'text round trip keeps codes and scales');

# Binary COPY from one server into another.
my $second = PostgreSQL::Test::Cluster->new('second');
$second->init;
$second->start;
$second->safe_psql('postgres', q{
	CREATE EXTENSION embq;
	CREATE TABLE items (id int PRIMARY KEY, e i8vec(64), b bitvec(200), big i8vec(3000));
});
my $bin = $node->basedir . '/items.bin';
$node->safe_psql('postgres', "COPY items TO '$bin' (FORMAT binary)");
$second->safe_psql('postgres', "COPY items FROM '$bin' (FORMAT binary)");
is($second->safe_psql('postgres', $fingerprint_sql), $before, 'binary COPY between servers keeps every value');

# Crash: committed rows, TOASTed values included, come back from WAL.
$node->safe_psql('postgres', q{
	INSERT INTO items
		SELECT i, quantize_int8(array(SELECT sin(i * j)::real FROM generate_series(1, 64) j)),
			quantize_binary(array(SELECT cos(i + j)::real FROM generate_series(1, 200) j)),
			quantize_int8(array(SELECT sin(i + j * 0.01)::real FROM generate_series(1, 3000) j))
		FROM generate_series(501, 700) i});
my $after_insert = $node->safe_psql('postgres', $fingerprint_sql);
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', $fingerprint_sql), $after_insert, 'values survive a crash');
is($node->safe_psql('postgres', 'SET enable_seqscan = off; SELECT count(*) FROM items WHERE e = e'), '700',
	'btree index on i8vec is consistent after recovery');

$second->stop;
$node->stop;
done_testing();
