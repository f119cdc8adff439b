SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS embq;

--
-- COPY round trips (text, csv, binary) and binary receive errors
--
-- Server-side files under /tmp, named after this backend's pid.
SELECT '/tmp/embq_regress_io_' || pg_backend_pid() || '_data.bin' AS binfile,
       '/tmp/embq_regress_io_' || pg_backend_pid() || '_data.txt' AS txtfile,
       '/tmp/embq_regress_io_' || pg_backend_pid() || '_data.csv' AS csvfile,
       '/tmp/embq_regress_io_' || pg_backend_pid() || '_payload.bin' AS payload \gset

CREATE TABLE embq_io (id int PRIMARY KEY, b bitvec, v i8vec, b70 bitvec(70), v5 i8vec(5));
INSERT INTO embq_io
SELECT i,
       (SELECT string_agg(((i * 7 + j * 3) % 5 < 2)::int::text, '') FROM generate_series(1, 1 + i * 3) j)::bitvec,
       ARRAY(SELECT (((i * j * 37) % 101) - 50)::real / (i % 7 + 1) FROM generate_series(1, 1 + i % 50) j)::i8vec,
       (SELECT string_agg(((i + j) % 3 = 0)::int::text, '') FROM generate_series(1, 70) j)::bitvec,
       ARRAY(SELECT ((i * j) % 11 - 5)::real FROM generate_series(1, 5) j)::i8vec
FROM generate_series(1, 200) i;
INSERT INTO embq_io VALUES
  (201, NULL, NULL, NULL, NULL),
  (202, repeat('10', 32000)::bitvec, array_fill(-1.5, ARRAY[16000])::real[]::i8vec, NULL, '[0,0,0,0,0]'),
  (203, '1', '[0]', repeat('1', 70)::bitvec, i8vec_from_codes('{-127,127,0,1,-1}'::int[]));

-- binary
COPY embq_io TO :'binfile' (FORMAT binary);
CREATE TABLE embq_io_bin (LIKE embq_io);
COPY embq_io_bin FROM :'binfile' (FORMAT binary);
SELECT count(*) AS rows,
       count(*) FILTER (WHERE a.b IS DISTINCT FROM c.b OR a.v IS DISTINCT FROM c.v
                           OR a.b70 IS DISTINCT FROM c.b70 OR a.v5 IS DISTINCT FROM c.v5) AS not_equal,
       count(*) FILTER (WHERE bitvec_send(a.b) IS DISTINCT FROM bitvec_send(c.b)
                           OR i8vec_send(a.v) IS DISTINCT FROM i8vec_send(c.v)
                           OR i8vec_codes(a.v) IS DISTINCT FROM i8vec_codes(c.v)
                           OR i8vec_scale(a.v) IS DISTINCT FROM i8vec_scale(c.v)
                           OR a.v::text IS DISTINCT FROM c.v::text) AS not_identical
FROM embq_io a FULL JOIN embq_io_bin c USING (id);

-- text
COPY embq_io TO :'txtfile';
CREATE TABLE embq_io_txt (LIKE embq_io);
COPY embq_io_txt FROM :'txtfile';
SELECT count(*) AS rows,
       count(*) FILTER (WHERE a.b IS DISTINCT FROM c.b OR a.v IS DISTINCT FROM c.v
                           OR a.b70 IS DISTINCT FROM c.b70 OR a.v5 IS DISTINCT FROM c.v5) AS not_equal
FROM embq_io a FULL JOIN embq_io_txt c USING (id);

-- csv
COPY embq_io TO :'csvfile' (FORMAT csv, HEADER);
CREATE TABLE embq_io_csv (LIKE embq_io);
COPY embq_io_csv FROM :'csvfile' (FORMAT csv, HEADER);
SELECT count(*) AS rows,
       count(*) FILTER (WHERE a.b IS DISTINCT FROM c.b OR a.v IS DISTINCT FROM c.v
                           OR a.b70 IS DISTINCT FROM c.b70 OR a.v5 IS DISTINCT FROM c.v5) AS not_equal
FROM embq_io a FULL JOIN embq_io_csv c USING (id);
DROP TABLE embq_io_bin, embq_io_txt, embq_io_csv;

-- text COPY to and from the client
COPY (SELECT id, b, v FROM embq_io WHERE id IN (1, 2, 201, 203) ORDER BY id) TO STDOUT;
COPY (SELECT id, b, v FROM embq_io WHERE id IN (1, 2, 201, 203) ORDER BY id) TO STDOUT (FORMAT csv);
CREATE TABLE embq_io_in (id int, b bitvec(5), v i8vec(3));
COPY embq_io_in FROM STDIN;
1	10110	[1,2,3]
2	00000	[ -1.5 , 0.25 , 1e1 ]
3	\N	\N
\.
SELECT id, b, v, i8vec_codes(v) FROM embq_io_in ORDER BY id;
COPY embq_io_in FROM STDIN;
4	1011	[1,2,3]
\.
COPY embq_io_in FROM STDIN;
5	10110	[1,2]
\.
COPY embq_io_in FROM STDIN;
6	10112	[1,2,3]
\.
DROP TABLE embq_io_in;

-- the binary field of a value is its send function's output: bitvec is
-- varbit's format (int32 bits, bytes); i8vec is int16 dims, int16 zero,
-- float4 scale, int8 codes
CREATE TABLE embq_io_raw (id int, raw bytea);
COPY (SELECT id, b FROM embq_io ORDER BY id) TO :'binfile' (FORMAT binary);
COPY embq_io_raw FROM :'binfile' (FORMAT binary);
SELECT count(*) FILTER (WHERE r.raw IS DISTINCT FROM bitvec_send(a.b)
                           OR r.raw IS DISTINCT FROM varbit_send(a.b::varbit)) AS mismatches
FROM embq_io a JOIN embq_io_raw r USING (id);
TRUNCATE embq_io_raw;
COPY (SELECT id, v FROM embq_io ORDER BY id) TO :'binfile' (FORMAT binary);
COPY embq_io_raw FROM :'binfile' (FORMAT binary);
SELECT count(*) FILTER (WHERE r.raw IS DISTINCT FROM i8vec_send(a.v)) AS mismatches
FROM embq_io a JOIN embq_io_raw r USING (id);
DROP TABLE embq_io_raw;
SELECT bitvec_send('101'), bitvec_send('1111111100'), i8vec_send('[1,2,3]'),
       i8vec_send('[127,-63.5]'), i8vec_send('[0,0]'), i8vec_send(i8vec_from_codes('{-127,5}'::int[]));
-- bit varying binary data reads as bitvec and the other way round
CREATE TABLE embq_io_varbit (id int, b varbit);
COPY (SELECT id, b FROM embq_io ORDER BY id) TO :'binfile' (FORMAT binary);
COPY embq_io_varbit FROM :'binfile' (FORMAT binary);
SELECT count(*) FILTER (WHERE r.b::text IS DISTINCT FROM a.b::text) AS mismatches
FROM embq_io a JOIN embq_io_varbit r USING (id);
CREATE TABLE embq_io_back (id int, b bitvec);
COPY embq_io_varbit TO :'binfile' (FORMAT binary);
COPY embq_io_back FROM :'binfile' (FORMAT binary);
SELECT count(*) FILTER (WHERE r.b IS DISTINCT FROM a.b) AS mismatches
FROM embq_io a JOIN embq_io_back r USING (id);
DROP TABLE embq_io_varbit, embq_io_back;
DROP TABLE embq_io;

--
-- binary receive: a bytea's binary COPY field is its raw bytes, so a bytea
-- written with COPY (FORMAT binary) is read back as exactly that payload
--
CREATE TABLE embq_io_bits (b bitvec);
CREATE TABLE embq_io_bits4 (b bitvec(4));
CREATE TABLE embq_io_i8 (v i8vec);
CREATE TABLE embq_io_i8_4 (v i8vec(4));

-- valid payloads
COPY (SELECT '\x00000003a0'::bytea) TO :'payload' (FORMAT binary);
COPY embq_io_bits FROM :'payload' (FORMAT binary);
COPY (SELECT '\x0000000affc0'::bytea) TO :'payload' (FORMAT binary);
COPY embq_io_bits FROM :'payload' (FORMAT binary);
SELECT b, embq_dims(b) FROM embq_io_bits ORDER BY b;
-- 3 dimensions, scale 1.0, codes 1, -2, 127
COPY (SELECT '\x000300003f80000001fe7f'::bytea) TO :'payload' (FORMAT binary);
COPY embq_io_i8 FROM :'payload' (FORMAT binary);
-- 2 dimensions, scale 0.5, codes -127, 0
COPY (SELECT '\x000200003f0000008100'::bytea) TO :'payload' (FORMAT binary);
COPY embq_io_i8 FROM :'payload' (FORMAT binary);
-- a scale of -0 reads as 0: the zero vector, equal to and hashing as '[0,0]'
COPY (SELECT '\x00020000800000000000'::bytea) TO :'payload' (FORMAT binary);
COPY embq_io_i8 FROM :'payload' (FORMAT binary);
SELECT v, i8vec_codes(v), i8vec_scale(v) FROM embq_io_i8 ORDER BY embq_dims(v) DESC, v;
SELECT v = '[0,0]'::i8vec AS equal, i8vec_hash(v) = i8vec_hash('[0,0]') AS same_hash,
       i8vec_send(v) = i8vec_send('[0,0]') AS same_bytes
FROM embq_io_i8 WHERE i8vec_scale(v) = 0;
TRUNCATE embq_io_bits, embq_io_i8;

-- bitvec: fewer bytes than the header says
COPY (SELECT '\x0000000aff'::bytea) TO :'payload' (FORMAT binary);
COPY embq_io_bits FROM :'payload' (FORMAT binary);
-- more bytes than the header says
COPY (SELECT '\x00000008ffff'::bytea) TO :'payload' (FORMAT binary);
COPY embq_io_bits FROM :'payload' (FORMAT binary);
COPY (SELECT '\x00000001'::bytea) TO :'payload' (FORMAT binary);
COPY embq_io_bits FROM :'payload' (FORMAT binary);
-- nonzero padding bits
COPY (SELECT '\x00000003b0'::bytea) TO :'payload' (FORMAT binary);
COPY embq_io_bits FROM :'payload' (FORMAT binary);
COPY (SELECT '\x0000000affc1'::bytea) TO :'payload' (FORMAT binary);
COPY embq_io_bits FROM :'payload' (FORMAT binary);
-- zero, negative and too many dimensions
COPY (SELECT '\x00000000'::bytea) TO :'payload' (FORMAT binary);
COPY embq_io_bits FROM :'payload' (FORMAT binary);
COPY (SELECT '\xffffffff00'::bytea) TO :'payload' (FORMAT binary);
COPY embq_io_bits FROM :'payload' (FORMAT binary);
COPY (SELECT '\x0000fa01'::bytea || decode(repeat('00', 8001), 'hex')) TO :'payload' (FORMAT binary);
COPY embq_io_bits FROM :'payload' (FORMAT binary);
-- a header cut short
COPY (SELECT '\x0000'::bytea) TO :'payload' (FORMAT binary);
COPY embq_io_bits FROM :'payload' (FORMAT binary);
-- typmod: 3 bits into bitvec(4)
COPY (SELECT '\x00000003a0'::bytea) TO :'payload' (FORMAT binary);
COPY embq_io_bits4 FROM :'payload' (FORMAT binary);
SELECT count(*) FROM embq_io_bits;

-- i8vec: fewer code bytes than the header says
COPY (SELECT '\x000300003f8000000102'::bytea) TO :'payload' (FORMAT binary);
COPY embq_io_i8 FROM :'payload' (FORMAT binary);
-- more code bytes than the header says
COPY (SELECT '\x000300003f80000001020304'::bytea) TO :'payload' (FORMAT binary);
COPY embq_io_i8 FROM :'payload' (FORMAT binary);
-- nonzero reserved field
COPY (SELECT '\x000300013f800000010203'::bytea) TO :'payload' (FORMAT binary);
COPY embq_io_i8 FROM :'payload' (FORMAT binary);
-- negative, NaN and infinite scale
COPY (SELECT '\x00030000bf800000010203'::bytea) TO :'payload' (FORMAT binary);
COPY embq_io_i8 FROM :'payload' (FORMAT binary);
COPY (SELECT '\x000300007fc00000010203'::bytea) TO :'payload' (FORMAT binary);
COPY embq_io_i8 FROM :'payload' (FORMAT binary);
COPY (SELECT '\x000300007f800000010203'::bytea) TO :'payload' (FORMAT binary);
COPY embq_io_i8 FROM :'payload' (FORMAT binary);
-- a scale so large that scale * 127 overflows float4 (dequantized values would be infinite)
COPY (SELECT '\x000100007f7fffff7f'::bytea) TO :'payload' (FORMAT binary);
COPY embq_io_i8 FROM :'payload' (FORMAT binary);
-- scale 0 with nonzero codes (a second, unequal form of the zero vector)
COPY (SELECT '\x000200000000000005fb'::bytea) TO :'payload' (FORMAT binary);
COPY embq_io_i8 FROM :'payload' (FORMAT binary);
-- code -128
COPY (SELECT '\x000300003f800000018003'::bytea) TO :'payload' (FORMAT binary);
COPY embq_io_i8 FROM :'payload' (FORMAT binary);
-- zero, negative and too many dimensions
COPY (SELECT '\x000000003f800000'::bytea) TO :'payload' (FORMAT binary);
COPY embq_io_i8 FROM :'payload' (FORMAT binary);
COPY (SELECT '\xffff00003f80000001'::bytea) TO :'payload' (FORMAT binary);
COPY embq_io_i8 FROM :'payload' (FORMAT binary);
COPY (SELECT '\x3e8100003f800000'::bytea || decode(repeat('01', 16001), 'hex')) TO :'payload' (FORMAT binary);
COPY embq_io_i8 FROM :'payload' (FORMAT binary);
-- a header cut short
COPY (SELECT '\x00030000'::bytea) TO :'payload' (FORMAT binary);
COPY embq_io_i8 FROM :'payload' (FORMAT binary);
-- typmod: 3 dimensions into i8vec(4)
COPY (SELECT '\x000300003f80000001fe7f'::bytea) TO :'payload' (FORMAT binary);
COPY embq_io_i8_4 FROM :'payload' (FORMAT binary);
SELECT count(*) FROM embq_io_i8;

DROP TABLE embq_io_bits, embq_io_bits4, embq_io_i8, embq_io_i8_4;

--
-- text output reads back as the same value, bit for bit: pg_dump's default
-- format, COPY text and csv, ::text.  A value prints as the float list where
-- quantizing those floats gives back its scale and codes, else as
-- scale*[codes] (values from i8vec_from_codes, binary input, int8 models).
--
CREATE TABLE embq_io_exact (id int PRIMARY KEY, v i8vec);
INSERT INTO embq_io_exact VALUES
  (1, i8vec_from_codes('{1,2,3}'::int[])),
  (2, '[1,2,3]'),
  (3, i8vec_from_codes('{0,0,0}'::int[])),
  (4, '[0,0,0]'),
  (5, i8vec_from_codes('{-127,5}'::smallint[])),
  (6, '0.25*[1,-2,3,-4]'),
  (7, '1e-45*[1,-1]'),
  (8, '2.6793e36*[127,-126]'),
  (9, '[0.12,-0.5]'),
  (10, '[1e-40,3e-41]'),
  (11, '[3e38,-1e38]'),
  (12, ' 0.5 * [ 127 , -3 ] '),
  (13, '7*[0,0,0]'),
  (14, '-0*[0,0,0]');
-- binary input: scale 3 with codes 1, 2 (not what quantizing [3,6] gives),
-- scale 2.5 with all-zero codes (the zero vector: stored with scale 0), and
-- scale 0.1 with codes 127, 64 (what quantizing its floats gives)
COPY (SELECT '\x00020000404000000102'::bytea) TO :'payload' (FORMAT binary);
CREATE TEMP TABLE embq_io_recv (v i8vec);
COPY embq_io_recv FROM :'payload' (FORMAT binary);
COPY (SELECT '\x0003000040200000000000'::bytea) TO :'payload' (FORMAT binary);
COPY embq_io_recv FROM :'payload' (FORMAT binary);
COPY (SELECT '\x000200003dcccccd7f40'::bytea) TO :'payload' (FORMAT binary);
COPY embq_io_recv FROM :'payload' (FORMAT binary);
INSERT INTO embq_io_exact SELECT 100 + row_number() OVER (), v FROM embq_io_recv;
SELECT id, v, i8vec_scale(v), i8vec_codes(v), i8vec_send(v) FROM embq_io_exact ORDER BY id;
-- ::text::i8vec gives back every value exactly
SELECT count(*) AS vals,
       count(*) FILTER (WHERE v::text::i8vec IS DISTINCT FROM v
                           OR i8vec_send(v::text::i8vec) IS DISTINCT FROM i8vec_send(v)) AS changed
FROM embq_io_exact;
-- every zero vector is one value: equal, one hash, one byte string, one text
SELECT count(*) AS zero_vectors, count(DISTINCT v) AS vals, count(DISTINCT i8vec_hash(v)) AS hashes,
       count(DISTINCT i8vec_send(v)) AS byte_strings, count(DISTINCT v::text) AS texts
FROM embq_io_exact WHERE i8vec_codes(v) = '{0,0,0}';
-- values that print alike are equal, and the other way round
SELECT count(*) AS pairs_disagreeing
FROM embq_io_exact a JOIN embq_io_exact b ON a.id < b.id
WHERE (a.v = b.v) <> (a.v::text = b.v::text)
   OR (a.v = b.v) <> (i8vec_hash(a.v) = i8vec_hash(b.v));
COPY (SELECT id, v FROM embq_io_exact WHERE id IN (1, 2, 5, 6, 9, 101) ORDER BY id) TO STDOUT;
COPY (SELECT id, v FROM embq_io_exact WHERE id IN (1, 2, 5, 6, 9, 101) ORDER BY id) TO STDOUT (FORMAT csv);

-- a UNIQUE column holding i8vec_from_codes('{1,2,3}') and '[1,2,3]' (two
-- values) survives COPY text and csv into another UNIQUE column unchanged
CREATE TABLE embq_io_unique (id int, v i8vec UNIQUE);
INSERT INTO embq_io_unique SELECT id, v FROM embq_io_exact WHERE id NOT IN (3, 13, 14, 102);
COPY embq_io_unique TO :'txtfile';
CREATE TABLE embq_io_unique_txt (LIKE embq_io_unique INCLUDING INDEXES);
COPY embq_io_unique_txt FROM :'txtfile';
COPY embq_io_unique TO :'csvfile' (FORMAT csv);
CREATE TABLE embq_io_unique_csv (LIKE embq_io_unique INCLUDING INDEXES);
COPY embq_io_unique_csv FROM :'csvfile' (FORMAT csv);
SELECT count(*) AS vals,
       count(*) FILTER (WHERE i8vec_send(a.v) IS DISTINCT FROM i8vec_send(t.v)) AS text_changed,
       count(*) FILTER (WHERE i8vec_send(a.v) IS DISTINCT FROM i8vec_send(c.v)) AS csv_changed
FROM embq_io_unique a FULL JOIN embq_io_unique_txt t USING (id) FULL JOIN embq_io_unique_csv c USING (id);
DROP TABLE embq_io_exact, embq_io_unique, embq_io_unique_txt, embq_io_unique_csv;

-- random scales (subnormal to large) and codes: the text form reads back
-- exactly, and quantized random floats always print as a float list
SELECT setseed(0.5);
CREATE TEMP TABLE embq_io_random AS
SELECT g, ((2 ^ (random() * 250 - 145))::real::text || '*[' ||
           (SELECT string_agg((floor(random() * 255) - 127)::int::text, ',')
            FROM generate_series(1, 1 + g % 20) j WHERE g > 0) || ']')::i8vec AS v,
       ARRAY(SELECT ((random() - 0.5) * 10 ^ (random() * 70 - 35))::real
             FROM generate_series(1, 1 + g % 30) j WHERE g > 0)::i8vec AS q
FROM generate_series(1, 5000) g;
SELECT count(*) AS vals,
       count(*) FILTER (WHERE i8vec_send(v::text::i8vec) <> i8vec_send(v)) AS exact_changed,
       count(*) FILTER (WHERE i8vec_send(q::text::i8vec) <> i8vec_send(q)) AS quantized_changed,
       count(*) FILTER (WHERE q::text LIKE '%*%') AS quantized_not_float_list,
       count(*) FILTER (WHERE i8vec_scale(v) < 1.17549435e-38 AND i8vec_scale(v) > 0) > 0 AS has_subnormal_scales
FROM embq_io_random;
DROP TABLE embq_io_random;
-- remove the files
SELECT format('rm -f %s %s %s %s', :'binfile', :'txtfile', :'csvfile', :'payload') AS rmcmd \gset
COPY (SELECT WHERE false) TO PROGRAM :'rmcmd';
