SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS embq;

--
-- i8vec: text I/O, quantization semantics, accessors, typmod
--

-- text input is pgvector style and is quantized: scale = max|x| / 127 (as
-- real), code = x / scale rounded half away from zero
SELECT '[1,2,3]'::i8vec, i8vec_codes('[1,2,3]'), i8vec_scale('[1,2,3]');
SELECT '[3,4]'::i8vec, i8vec_codes('[3,4]'), i8vec_scale('[3,4]');
SELECT '[-5,2.5]'::i8vec, i8vec_codes('[-5,2.5]'), i8vec_scale('[-5,2.5]');
-- exact halves: with scale 1, 2 and 0.5 every x / scale is exact
SELECT '[127, 63.5, -63.5, 0.5, -0.5, 1.5, -2.5, 0.49]'::i8vec,
       i8vec_codes('[127, 63.5, -63.5, 0.5, -0.5, 1.5, -2.5, 0.49]'),
       i8vec_scale('[127, 63.5, -63.5, 0.5, -0.5, 1.5, -2.5, 0.49]');
SELECT i8vec_codes('[254, 127, -1, 1, 3, -5]'), i8vec_scale('[254, 127, -1, 1, 3, -5]');
SELECT i8vec_codes('[-63.5, 0.25, -0.75, 31.75, 1.25]'),
       i8vec_scale('[-63.5, 0.25, -0.75, 31.75, 1.25]');
-- the element of largest magnitude always gets code +-127
SELECT i8vec_codes('[-0.001, 0.0005, 0.00025]'), i8vec_codes('[1e30, -2e30, 5e29]');
-- all zero: scale 0, codes 0
SELECT '[0,0,0]'::i8vec, i8vec_codes('[0,-0,0]'), i8vec_scale('[0,0,0]'), l2_norm('[0,0,0]');
-- magnitudes so small that the scale underflows are the zero vector
SELECT '[1e-45, -1e-45]'::i8vec, i8vec_scale('[1e-45, -1e-45]');

-- whitespace and number forms
SELECT ' [ 1 , 2e1 ,-3.5E-1 ] '::i8vec;
SELECT E'\t[\n1,\t2 ,\r\n3\n]\n'::i8vec = '[1,2,3]'::i8vec AS same;
SELECT '[1e2, 1E-2, -2.5e+1, +4, .5, 5.]'::i8vec,
       i8vec_codes('[1e2, 1E-2, -2.5e+1, +4, .5, 5.]');
SELECT '[100,0.01,-25,4,0.5,5]'::i8vec = '[1e2, 1E-2, -2.5e+1, +4, .5, 5.]'::i8vec AS same;

-- accessors
SELECT embq_dims('[1]'::i8vec), embq_dims('[1,2,3]'::i8vec),
       embq_dims(array_fill(1, ARRAY[16000])::real[]::i8vec) AS dims_16000;
SELECT pg_typeof(i8vec_codes('[1]')), pg_typeof(i8vec_scale('[1]')),
       pg_typeof(l2_norm('[1]')), pg_typeof(embq_dims('[1]'::i8vec));
-- l2_norm = scale * sqrt(sum of code^2): the norm of the dequantized vector
SELECT round(l2_norm('[3,4]')::numeric, 12), round(l2_norm('[1,2,3]')::numeric, 12),
       l2_norm('[-127, 0, 0]'), l2_norm(i8vec_from_codes('{3,4}'::int[]));

-- i8vec_from_codes keeps the codes, with scale 1
SELECT i8vec_from_codes('{1,-2,127,-127,0}'::int[]),
       i8vec_codes(i8vec_from_codes('{1,-2,127,-127,0}'::int[])),
       i8vec_scale(i8vec_from_codes('{1,-2,127,-127,0}'::int[]));
SELECT i8vec_from_codes('{5,-6,7}'::smallint[]),
       i8vec_codes(i8vec_from_codes('{5,-6,7}'::smallint[])),
       i8vec_scale(i8vec_from_codes('{5,-6,7}'::smallint[]));
SELECT i8vec_from_codes('{5,-6,7}'::smallint[]) = i8vec_from_codes('{5,-6,7}'::int[]) AS same;
SELECT i8vec_from_codes(ARRAY[128]);
SELECT i8vec_from_codes(ARRAY[-128]::smallint[]);
SELECT embq_dims(i8vec_from_codes(array_fill(-127, ARRAY[16000])));

-- typmod on input, assignment and cast
SELECT '[1,2,3]'::i8vec(3);
SELECT '[1,2]'::i8vec(3);
SELECT ('[1,2,3]'::i8vec)::i8vec(3);
SELECT ('[1,2,3]'::i8vec)::i8vec(4);
SELECT format_type('i8vec'::regtype, 3), format_type('i8vec'::regtype, -1);
CREATE TABLE embq_i8vec_t (id int, v i8vec(3));
SELECT format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = 'embq_i8vec_t'::regclass AND attname = 'v';
INSERT INTO embq_i8vec_t VALUES (1, '[1,2,3]');
INSERT INTO embq_i8vec_t VALUES (2, '[1,2]');
INSERT INTO embq_i8vec_t VALUES (3, '[1,2,3,4]'::i8vec);
INSERT INTO embq_i8vec_t VALUES (4, i8vec_from_codes(ARRAY[1,2,3]));
INSERT INTO embq_i8vec_t VALUES (5, i8vec_from_codes(ARRAY[1,2]));
UPDATE embq_i8vec_t SET v = '[1]' WHERE id = 1;
SELECT id, v, i8vec_codes(v) FROM embq_i8vec_t ORDER BY id;
DROP TABLE embq_i8vec_t;

--
-- quantization checked against an independent computation in SQL over many
-- deterministic vectors: scale = (max|x| / 127)::real, code = x / scale
-- rounded half away from zero (trunc, then a step when the exact fraction
-- reaches one half)
--
CREATE TABLE embq_i8vec_gen AS
SELECT i, ARRAY(SELECT ((((i * j * 7919) % 20011) - 10005) * power(10, (i % 21) - 13))::real
                FROM generate_series(1, 1 + i % 67) j) AS x
FROM generate_series(1, 2000) i;
INSERT INTO embq_i8vec_gen VALUES
  (2001, '{127,63.5,-63.5,0.5,-0.5}'), (2002, '{1e-38,-1e-37}'), (2003, '{3e38,-1e38}'),
  (2004, '{1e-40,3e-41}'), (2005, '{0,0,0}'), (2006, '{-1}'), (2007, '{0.1,0.2,0.3}');
CREATE TABLE embq_i8vec_expect AS
SELECT i, x, s AS scale,
       ARRAY(SELECT CASE WHEN s = 0 THEN 0
                         ELSE greatest(-127, least(127,
                                trunc(q) + CASE WHEN abs(q - trunc(q)) >= 0.5 THEN sign(q) ELSE 0 END))
                    END::int
             FROM (SELECT e::float8 / nullif(s, 0)::float8 AS q, n
                   FROM unnest(x) WITH ORDINALITY u(e, n)) u ORDER BY n) AS codes
FROM (SELECT i, x, ((SELECT max(abs(e)) FROM unnest(x) e)::float8 / 127)::real AS s
      FROM embq_i8vec_gen) g;
SELECT count(*) AS vectors,
       count(*) FILTER (WHERE i8vec_scale(x::i8vec) <> scale) AS bad_scale,
       count(*) FILTER (WHERE i8vec_codes(x::i8vec) <> codes) AS bad_codes,
       count(*) FILTER (WHERE i8vec_codes(quantize_int8(x)) <> codes
                           OR i8vec_scale(quantize_int8(x)) <> scale) AS bad_function,
       count(*) FILTER (WHERE translate(x::text, '{}', '[]')::i8vec <> x::i8vec) AS bad_text_input
FROM embq_i8vec_expect;
-- codes are never -128 and the largest magnitude gets +-127
SELECT min(c), max(c) FROM embq_i8vec_expect, unnest(i8vec_codes(x::i8vec)) c;
SELECT count(*) FILTER (WHERE (SELECT max(abs(c)) FROM unnest(i8vec_codes(x::i8vec)) c) <> 127)
FROM embq_i8vec_expect WHERE scale >= 1e-37;
-- dequantize gives (scale * code)::real, within half a step of the input
SELECT count(*) FILTER (WHERE d <> (scale::float8 * c)::real) AS bad_value,
       count(*) FILTER (WHERE abs(d::float8 - e::float8)
                              > scale::float8 * 0.5 + abs(e::float8) * 1e-6) AS too_far
FROM embq_i8vec_expect, unnest(x, dequantize(x::i8vec), codes) u(e, d, c);

-- output then input gives back the same codes and scale
SELECT count(*) AS vectors,
       count(*) FILTER (WHERE v::text::i8vec <> v) AS not_equal,
       count(*) FILTER (WHERE i8vec_codes(v::text::i8vec) <> i8vec_codes(v)
                           OR i8vec_scale(v::text::i8vec) <> i8vec_scale(v)) AS bad_codes,
       count(*) FILTER (WHERE v::text::i8vec::text <> v::text) AS bad_text
FROM (SELECT x::i8vec AS v FROM embq_i8vec_gen) s;
-- the text form prints scale * code as the shortest real
SELECT count(*) FILTER (WHERE translate(v::text, '[]', '{}')::real[] <> dequantize(v)) AS mismatches
FROM (SELECT x::i8vec AS v FROM embq_i8vec_gen) s;
DROP TABLE embq_i8vec_gen, embq_i8vec_expect;

-- the largest float4: the scale steps down one ulp so that every value stays
-- finite, and the text form reads back to the same codes and scale
SELECT '[3.4028235e38,-1]'::i8vec AS v, i8vec_codes('[3.4028235e38,-1]'), i8vec_scale('[3.4028235e38,-1]');
SELECT '[3.4028235e38]'::i8vec::text::i8vec = '[3.4028235e38]'::i8vec AS roundtrip,
	dequantize('[3.4028235e38]'::i8vec) AS dequantized;
