SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS embq;

--
-- bad input: a clear error, never a crash
--

-- NaN and infinities in float arrays, for every entry point
SELECT quantize_int8('{1,NaN}'::real[]);
SELECT quantize_int8('{1,Infinity}'::real[]);
SELECT quantize_int8('{-Infinity,1}'::float8[]);
SELECT quantize_int8('{NaN}'::float8[]);
SELECT quantize_int8(ARRAY[1, 'NaN']::numeric[]);
SELECT quantize_int8(ARRAY['Infinity', 1]::numeric[]);
SELECT quantize_int8(ARRAY['-Infinity']::numeric[]);
SELECT '{1,NaN}'::real[]::i8vec;
SELECT '{-Infinity}'::float8[]::i8vec;
SELECT quantize_binary('{NaN,1}'::real[]);
SELECT quantize_binary('{1,Infinity}'::float8[]);
SELECT quantize_binary('{1,2}'::real[], '{-Infinity,0}'::real[]);
SELECT quantize_binary('{1,2}'::float8[], '{0,NaN}'::float8[]);
SELECT binary_thresholds(x) FROM (VALUES ('{1,NaN}'::real[])) t(x);
SELECT binary_thresholds(x) FROM (VALUES ('{1,2}'::float8[]), ('{-Infinity,2}')) t(x);
SELECT '[1,2]'::i8vec <-> '{NaN,1}'::real[];
SELECT '[1,2]'::i8vec <#> '{1,Infinity}'::float8[];
SELECT '[1,2]'::i8vec <=> '{-Infinity,1}'::real[];
SELECT '10'::bitvec <#> '{NaN,1}'::float8[];
SELECT inner_product('10'::bitvec, '{1,Infinity}'::real[]);
-- double precision values outside real's range
SELECT quantize_int8('{1e300}'::float8[]);
SELECT quantize_binary('{1,-1e39}'::float8[]);
SELECT '[1]'::i8vec <-> '{1e39}'::float8[];
SELECT quantize_int8(ARRAY[1e39]);
SELECT quantize_int8(ARRAY[1e400]);
-- tiny double precision values underflow to zero, they are no error
SELECT quantize_int8('{1e-300,1}'::float8[]);
-- a text literal reads its numbers as real does: one that underflows to zero
-- is out of range (as '1e-50'::real), a subnormal one is fine
SELECT '[1e-50,1]'::i8vec;
SELECT '[1,-1e-46]'::i8vec;
SELECT '1e-50'::real;
SELECT '[1e-40,1]'::i8vec, '{1e-40,1}'::real[]::i8vec;

-- NaN and infinities in text literals
SELECT '[NaN]'::i8vec;
SELECT '[1,nan]'::i8vec;
SELECT '[Infinity]'::i8vec;
SELECT '[1,-Infinity]'::i8vec;
SELECT '[inf,1]'::i8vec;
SELECT '[1e39]'::i8vec;
SELECT '[1,-1e39]'::i8vec;

-- NULL elements
SELECT quantize_int8('{1,NULL}'::real[]);
SELECT quantize_int8(ARRAY[NULL, 1]::float8[]);
SELECT quantize_int8(ARRAY[1, NULL]::numeric[]);
SELECT '{NULL}'::real[]::i8vec;
SELECT quantize_binary('{1,NULL}'::real[]);
SELECT quantize_binary('{1,2}'::float8[], '{NULL,1}'::float8[]);
SELECT i8vec_from_codes('{1,NULL}'::int[]);
SELECT i8vec_from_codes('{NULL}'::smallint[]);
SELECT '[1,2]'::i8vec <-> '{1,NULL}'::real[];
SELECT '10'::bitvec <#> '{NULL,1}'::real[];
SELECT binary_thresholds(x) FROM (VALUES ('{1,NULL}'::real[])) t(x);
-- a NULL argument is a NULL result (the functions are strict)
SELECT quantize_int8(NULL::real[]) IS NULL, '[1]'::i8vec <-> NULL::i8vec IS NULL,
       i8vec_from_codes(NULL::int[]) IS NULL, bitvec(NULL::bytea, 8) IS NULL;

-- multi-dimensional arrays
SELECT quantize_int8('{{1,2},{3,4}}'::real[]);
SELECT quantize_int8('{{1},{2}}'::float8[]);
SELECT '{{1,2}}'::numeric[]::i8vec;
SELECT quantize_binary('{{1,2},{3,4}}'::real[]);
SELECT quantize_binary('{1,2}'::real[], '{{1,2}}'::real[]);
SELECT i8vec_from_codes('{{1,2},{3,4}}'::int[]);
SELECT '[1,2]'::i8vec <=> '{{1,2}}'::real[];
SELECT '10'::bitvec <#> '{{1,2}}'::float8[];
SELECT binary_thresholds(x) FROM (VALUES ('{{1,2}}'::real[])) t(x);
-- a 1-D array with other bounds is fine
SELECT quantize_int8('[0:2]={1,2,3}'::real[]), quantize_binary('[5:6]={1,-1}'::float8[]);

-- zero dimensions: empty arrays, '[]', ''
SELECT quantize_int8('{}'::real[]);
SELECT quantize_int8('{}'::float8[]);
SELECT quantize_int8('{}'::numeric[]);
SELECT quantize_binary('{}'::real[]);
SELECT quantize_binary('{}'::float8[], '{}'::float8[]);
SELECT i8vec_from_codes('{}'::int[]);
SELECT '[1]'::i8vec <-> '{}'::real[];
SELECT '1'::bitvec <#> '{}'::real[];
SELECT '[]'::i8vec;
SELECT ' [ ] '::i8vec;
SELECT ''::bitvec;
SELECT bitvec('\x'::bytea, 0);

-- too many dimensions: more than 16000 for i8vec, 64000 for bitvec
SELECT embq_dims(array_fill(1, ARRAY[16000])::real[]::i8vec);
SELECT array_fill(1, ARRAY[16001])::real[]::i8vec;
SELECT quantize_int8(array_fill(1, ARRAY[16001])::float8[]);
SELECT ('[' || array_to_string(array_fill(1, ARRAY[16001]), ',') || ']')::i8vec;
SELECT embq_dims(('[' || array_to_string(array_fill(1, ARRAY[16000]), ',') || ']')::i8vec);
SELECT i8vec_from_codes(array_fill(1, ARRAY[16001]));
SELECT embq_dims(repeat('1', 64000)::bitvec);
SELECT repeat('1', 64001)::bitvec;
SELECT repeat('0', 100000)::bitvec;
SELECT quantize_binary(array_fill(1, ARRAY[64001])::real[]);
SELECT bitvec(decode(repeat('ff', 8001), 'hex'), 64008);
SELECT repeat('1', 64001)::varbit::bitvec;

-- malformed literals: 22P02 with a DETAIL
SELECT ''::i8vec;
SELECT '1,2'::i8vec;
SELECT '{1,2}'::i8vec;
SELECT '['::i8vec;
SELECT '[1,2'::i8vec;
SELECT '[1,,2]'::i8vec;
SELECT '[,1]'::i8vec;
SELECT '[1,]'::i8vec;
SELECT '[1 2]'::i8vec;
SELECT '[1;2]'::i8vec;
SELECT '[1,2]x'::i8vec;
SELECT '[1,2]]'::i8vec;
SELECT '[a]'::i8vec;
SELECT '[1e]'::i8vec;
SELECT '[--1]'::i8vec;
-- the exact form, scale*[codes]: malformed (22P02)
SELECT '1'::i8vec;
SELECT '1*'::i8vec;
SELECT '1 [1]'::i8vec;
SELECT '*[1]'::i8vec;
SELECT '1*[]'::i8vec;
SELECT '1*[1,2'::i8vec;
SELECT '1*[1]x'::i8vec;
SELECT '1*[a]'::i8vec;
SELECT '1*[1.5]'::i8vec;
SELECT '1*[1e2]'::i8vec;
SELECT '1*[1 2]'::i8vec;
-- codes outside [-127, 127] (22003)
SELECT '1*[128]'::i8vec;
SELECT '1*[0,-128]'::i8vec;
SELECT '1*[99999999999999999999]'::i8vec;
-- scales that are negative, not finite or too large (22P02), out of real's
-- range (22003), or 0 with nonzero codes (a second zero vector)
SELECT '-1*[1]'::i8vec;
SELECT 'NaN*[1]'::i8vec;
SELECT 'Infinity*[1]'::i8vec;
SELECT '3e36*[1]'::i8vec;
SELECT '1e39*[1]'::i8vec;
SELECT '1e-50*[1]'::i8vec;
SELECT '0*[1,0]'::i8vec;
SELECT '1*[1,2]'::i8vec(3);
-- bits other than 0 and 1
SELECT '102'::bitvec;
SELECT '1x'::bitvec;
SELECT ' 101'::bitvec;
SELECT '101 '::bitvec;
SELECT '1,0'::bitvec;
SELECT B'101'::bitvec <~> '2';

-- codes outside [-127, 127]
SELECT i8vec_from_codes('{1,128}'::int[]);
SELECT i8vec_from_codes('{-128}'::int[]);
SELECT i8vec_from_codes('{2147483647}'::int[]);
SELECT i8vec_from_codes('{0,-32768}'::smallint[]);
SELECT i8vec_from_codes('{300}'::smallint[]);
SELECT i8vec_codes(i8vec_from_codes('{127,-127}'::int[]));

-- typmod errors
SELECT '[1]'::i8vec(0);
SELECT '[1]'::i8vec(-5);
SELECT '[1]'::i8vec(16001);
SELECT '[1]'::i8vec(1, 2);
SELECT '1'::bitvec(0);
SELECT '1'::bitvec(64001);
SELECT '1'::bitvec(1, 2);
CREATE TABLE embq_errors_t (v i8vec(0));
CREATE TABLE embq_errors_t (v bitvec(64001));
SELECT format_type('i8vec'::regtype, 16000), format_type('bitvec'::regtype, 64000);
-- typmod mismatches on input, assignment and cast
SELECT '[1,2]'::i8vec(3);
SELECT '101'::bitvec(2);
SELECT '{1,2}'::real[]::i8vec(1);
SELECT '[1,2]'::i8vec::bitvec(3);
CREATE TABLE embq_errors_t (v i8vec(2), b bitvec(2));
INSERT INTO embq_errors_t (v) VALUES ('[1,2,3]');
INSERT INTO embq_errors_t (v) VALUES ('{1}'::float8[]);
INSERT INTO embq_errors_t (b) VALUES ('1');
INSERT INTO embq_errors_t (b) VALUES (B'111');
SELECT count(*) FROM embq_errors_t;
DROP TABLE embq_errors_t;

-- SQLSTATE of each kind of error
CREATE FUNCTION embq_errors_state(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE;
END $$;
SELECT kind, embq_errors_state(q) AS sqlstate FROM (VALUES
  ('malformed i8vec literal',  $q$SELECT '[1,,2]'::i8vec$q$),
  ('malformed bitvec literal', $q$SELECT '102'::bitvec$q$),
  ('NaN in a literal',         $q$SELECT '[NaN]'::i8vec$q$),
  ('literal out of range',     $q$SELECT '[1e39]'::i8vec$q$),
  ('literal underflow',        $q$SELECT '[1e-50]'::i8vec$q$),
  ('malformed exact form',     $q$SELECT '1*[1.5]'::i8vec$q$),
  ('exact code out of range',  $q$SELECT '1*[128]'::i8vec$q$),
  ('exact scale invalid',      $q$SELECT '-1*[1]'::i8vec$q$),
  ('NaN in an array',          $q$SELECT quantize_int8('{NaN}'::real[])$q$),
  ('infinity in an array',     $q$SELECT quantize_binary('{Infinity}'::float8[])$q$),
  ('float8 out of real range', $q$SELECT quantize_int8('{1e300}'::float8[])$q$),
  ('NULL element',             $q$SELECT quantize_int8('{NULL}'::real[])$q$),
  ('multi-dimensional array',  $q$SELECT quantize_int8('{{1}}'::real[])$q$),
  ('zero dimensions',          $q$SELECT '[]'::i8vec$q$),
  ('too many dimensions',      $q$SELECT repeat('1', 64001)::bitvec$q$),
  ('code out of range',        $q$SELECT i8vec_from_codes('{128}'::int[])$q$),
  ('bad padding',              $q$SELECT bitvec('\x81'::bytea, 7)$q$),
  ('wrong byte count',         $q$SELECT bitvec('\x81'::bytea, 9)$q$),
  ('typmod out of range',      $q$SELECT '[1]'::i8vec(0)$q$),
  ('typmod mismatch',          $q$SELECT '[1]'::i8vec(2)$q$),
  ('dimension mismatch',       $q$SELECT '[1]'::i8vec <-> '[1,2]'$q$)
) t(kind, q);
DROP FUNCTION embq_errors_state(text);

--
-- embq_ivf_info: only for embq_ivf indexes, and only for the owner of the
-- index's table or roles with privileges of pg_read_all_stats or
-- pg_stat_scan_tables, as pgstattuple's pgstatindex (42501 otherwise)
--
CREATE TABLE embq_info_t (id int PRIMARY KEY, e i8vec(4));
INSERT INTO embq_info_t SELECT i, ARRAY[i, -i, i % 3, 1]::real[] FROM generate_series(1, 50) i;
CREATE INDEX embq_info_ivf ON embq_info_t USING embq_ivf (e) WITH (lists = 2);
SELECT lists, dims, metric FROM embq_ivf_info('embq_info_ivf');
SELECT * FROM embq_ivf_info('embq_info_t_pkey');
SELECT * FROM embq_ivf_info('embq_info_t');
SELECT * FROM embq_ivf_info(0);
SELECT * FROM embq_ivf_info(4294967295);
-- a role with no privileges on the table
DROP ROLE IF EXISTS regress_embq_reader;
CREATE ROLE regress_embq_reader;
SET ROLE regress_embq_reader;
SELECT * FROM embq_ivf_info('embq_info_ivf');
DO $$
BEGIN
  PERFORM embq_ivf_info('embq_info_ivf');
EXCEPTION WHEN OTHERS THEN
  RAISE WARNING 'SQLSTATE %', SQLSTATE;
END $$;
RESET ROLE;
-- with privileges of pg_stat_scan_tables or pg_read_all_stats, or as the
-- table's owner
GRANT pg_stat_scan_tables TO regress_embq_reader;
SET ROLE regress_embq_reader;
SELECT lists, dims, metric FROM embq_ivf_info('embq_info_ivf');
RESET ROLE;
REVOKE pg_stat_scan_tables FROM regress_embq_reader;
GRANT pg_read_all_stats TO regress_embq_reader;
SET ROLE regress_embq_reader;
SELECT lists, dims, metric FROM embq_ivf_info('embq_info_ivf');
RESET ROLE;
REVOKE pg_read_all_stats FROM regress_embq_reader;
ALTER TABLE embq_info_t OWNER TO regress_embq_reader;
SET ROLE regress_embq_reader;
SELECT lists, dims, metric FROM embq_ivf_info('embq_info_ivf');
RESET ROLE;
ALTER TABLE embq_info_t OWNER TO CURRENT_USER;
DROP TABLE embq_info_t;
DROP ROLE regress_embq_reader;
