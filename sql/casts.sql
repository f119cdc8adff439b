SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS embq;

--
-- casts between embq types, float arrays and bit strings
--

-- the casts and their contexts (i = implicit, a = assignment)
SELECT c.castsource::regtype, c.casttarget::regtype, p.proname, c.castcontext
FROM pg_cast c JOIN pg_proc p ON p.oid = c.castfunc
WHERE c.castsource IN ('bitvec'::regtype, 'i8vec'::regtype)
   OR c.casttarget IN ('bitvec'::regtype, 'i8vec'::regtype)
ORDER BY c.castsource::regtype::text, c.casttarget::regtype::text;

-- real[], double precision[], numeric[] -> i8vec: quantize_int8
SELECT '{1,2,3}'::real[]::i8vec, '{1,2,3}'::float8[]::i8vec, '{1,2,3}'::numeric[]::i8vec;
SELECT ARRAY[0.5, -0.25, 1]::i8vec = quantize_int8(ARRAY[0.5, -0.25, 1]) AS numeric_cast,
       ARRAY[0.5, -0.25, 1]::real[]::i8vec = '[0.5,-0.25,1]'::i8vec AS real_cast,
       ARRAY[0.5, -0.25, 1]::float8[]::i8vec = '[0.5,-0.25,1]'::i8vec AS float8_cast;
SELECT i8vec_codes(ARRAY[0.5, -0.25, 1]::i8vec), i8vec_scale(ARRAY[0.5, -0.25, 1]::i8vec);
-- typmod enforced on the cast
SELECT '{1,2,3}'::real[]::i8vec(3);
SELECT '{1,2,3}'::real[]::i8vec(2);
SELECT '{1,2,3}'::float8[]::i8vec(4);
SELECT '{1,2,3}'::numeric[]::i8vec(1);

-- assignment: INSERT and UPDATE into i8vec(3) from float arrays
CREATE TABLE embq_casts_i8 (id int, v i8vec(3));
INSERT INTO embq_casts_i8 VALUES (1, '{1,2,3}'::real[]);
INSERT INTO embq_casts_i8 VALUES (2, '{1,2,3.5}'::float8[]);
INSERT INTO embq_casts_i8 VALUES (3, ARRAY[-1, 0.5, 0.25]);
INSERT INTO embq_casts_i8 VALUES (4, '{1,2}'::real[]);
INSERT INTO embq_casts_i8 VALUES (5, '{1,2,3,4}'::float8[]);
INSERT INTO embq_casts_i8 VALUES (6, ARRAY[1.0]);
INSERT INTO embq_casts_i8 SELECT 7, ARRAY[i, -i, 2 * i]::real[] FROM generate_series(1, 1) i;
UPDATE embq_casts_i8 SET v = '{3,2,1}'::real[] WHERE id = 1;
UPDATE embq_casts_i8 SET v = '{3,2}'::real[] WHERE id = 1;
SELECT id, v, i8vec_codes(v), i8vec_scale(v) FROM embq_casts_i8 ORDER BY id;
DROP TABLE embq_casts_i8;

-- i8vec -> real[]: dequantize, explicit and on assignment
SELECT '[1,2,3]'::i8vec::real[], '[127, 63.5, -63.5, 0.5]'::i8vec::real[];
SELECT '[1,2,3]'::i8vec::real[] = dequantize('[1,2,3]'::i8vec) AS same;
CREATE TABLE embq_casts_real (r real[]);
INSERT INTO embq_casts_real VALUES ('[-5,2.5]'::i8vec), (i8vec_from_codes('{1,-2,3}'::int[]));
SELECT r FROM embq_casts_real ORDER BY r;
DROP TABLE embq_casts_real;
-- quantize -> dequantize -> quantize is stable
SELECT count(*) FILTER (WHERE v::real[]::i8vec <> v) AS mismatches
FROM (SELECT ARRAY(SELECT (((i * j * 37) % 101) - 50)::real / 7 FROM generate_series(1, 1 + i % 40) j)::i8vec AS v
      FROM generate_series(1, 500) i) s;

-- i8vec -> bitvec: quantize_binary, bit j = code j > 0
SELECT '[1,-2,0,0.001,3]'::i8vec::bitvec, i8vec_codes('[1,-2,0,0.001,3]'::i8vec);
SELECT '[1,-2,0]'::i8vec::bitvec(3);
SELECT '[1,-2,0]'::i8vec::bitvec(4);
CREATE TABLE embq_casts_bits (b bitvec(3));
INSERT INTO embq_casts_bits VALUES ('[1,2,-3]'::i8vec), (i8vec_from_codes('{0,5,-5}'::int[]));
INSERT INTO embq_casts_bits VALUES ('[1,2]'::i8vec);
SELECT b FROM embq_casts_bits ORDER BY b;
DROP TABLE embq_casts_bits;
SELECT count(*) FILTER (WHERE v::bitvec <> quantize_binary(v)) AS mismatches
FROM (SELECT ARRAY(SELECT (((i * j * 37) % 101) - 50)::real / 7 FROM generate_series(1, 1 + i % 70) j)::i8vec AS v
      FROM generate_series(1, 300) i) s;

-- bit and bit varying <-> bitvec
SELECT B'1101'::bitvec, B'1101'::varbit::bitvec, '1101'::bitvec::bit(4), '1101'::bitvec::varbit;
SELECT B'1101'::bitvec(4);
SELECT B'1101'::bitvec(5);
SELECT B'1101'::varbit::bitvec(3);
CREATE TABLE embq_casts_bit (b bitvec(4), raw bit(4));
INSERT INTO embq_casts_bit VALUES (B'1101', '0110'::bitvec);
INSERT INTO embq_casts_bit (b) VALUES (B'11011');
INSERT INTO embq_casts_bit (raw) VALUES ('11011'::bitvec);
SELECT b, raw, b::bit(4) = raw::bit(4) AS equal FROM embq_casts_bit;
DROP TABLE embq_casts_bit;

-- bitvec -> bitvec(n) and i8vec -> i8vec(n)
SELECT '1101'::bitvec::bitvec(4), '[1,2]'::i8vec::i8vec(2);
SELECT '1101'::bitvec::bitvec(3);
SELECT '[1,2]'::i8vec::i8vec(3);

-- no other casts: these need an explicit path
SELECT '[1,2,3]'::i8vec::float8[];
SELECT '101'::bitvec::i8vec;
SELECT '{1,0,1}'::real[]::bitvec;
