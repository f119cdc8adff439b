SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS embq;

--
-- quantize_binary, quantize_int8, dequantize, binary_thresholds
--

-- quantize_binary(x): bit j = x[j] > 0, strictly (0 and -0 give 0)
SELECT quantize_binary('{1,-1,0,0.5,-0.0,1e-45,-1e-45,3e38}'::real[]);
SELECT quantize_binary('{1,-1,0,0.5,-0.0,1e-300,-1e-300,1e30}'::float8[]);
SELECT quantize_binary('{1,1e300}'::float8[]);
SELECT quantize_binary(ARRAY[0.25, -2, 0]::float8[]), pg_typeof(quantize_binary(ARRAY[1]::real[]));
SELECT embq_dims(quantize_binary(array_fill(1, ARRAY[64000])::real[])),
       bit_count(quantize_binary(array_fill(1, ARRAY[64000])::real[]));
-- thresholds: bit j = x[j] > t[j], strictly
SELECT quantize_binary('{1,2,3,-1}'::real[], '{1,1,4,-2}'::real[]);
SELECT quantize_binary('{1,2,3,-1}'::float8[], '{1,1,4,-2}'::float8[]);
SELECT quantize_binary('{0.5,0.5}'::real[], '{0.49999997,0.50000006}'::real[]);
SELECT quantize_binary('{1,2,3}'::real[], '{0,0}'::real[]);
SELECT quantize_binary('{1,2}'::float8[], '{0,0,0}'::float8[]);
SELECT quantize_binary('{1,2}'::real[], '{0,NULL}'::real[]);
SELECT quantize_binary('{1,2}'::real[], '{0,NaN}'::real[]);

-- checked against SQL over many lengths (1 to 150 dimensions, both sides of
-- every SIMD block size) and values
CREATE TABLE embq_quantize_gen AS
SELECT i,
       ARRAY(SELECT ((((i * 7 + j * 13) % 11) - 5) / 4.0)::real FROM generate_series(1, i) j) AS x,
       ARRAY(SELECT ((((i * 3 + j * 5) % 7) - 3) / 4.0)::real FROM generate_series(1, i) j) AS t
FROM generate_series(1, 150) i;
SELECT count(*) AS vectors,
       count(*) FILTER (WHERE quantize_binary(x)::text <>
                              (SELECT string_agg((e > 0)::int::text, '' ORDER BY n)
                               FROM unnest(x) WITH ORDINALITY u(e, n))) AS bad_sign,
       count(*) FILTER (WHERE quantize_binary(x, t)::text <>
                              (SELECT string_agg((e > th)::int::text, '' ORDER BY n)
                               FROM unnest(x, t) WITH ORDINALITY u(e, th, n))) AS bad_thresholds,
       count(*) FILTER (WHERE quantize_binary(x::float8[]) <> quantize_binary(x)
                           OR quantize_binary(x::float8[], t::float8[]) <> quantize_binary(x, t))
         AS bad_float8,
       count(*) FILTER (WHERE quantize_binary(x, array_fill(0, ARRAY[i])::real[])
                              <> quantize_binary(x)) AS bad_zero_thresholds
FROM embq_quantize_gen;

-- quantize_binary(i8vec): bit j = code j > 0
SELECT quantize_binary('[1,-1,0,0.001,0.004,-0.004]'::i8vec),
       i8vec_codes('[1,-1,0,0.001,0.004,-0.004]'::i8vec);
SELECT quantize_binary(i8vec_from_codes('{0,1,-1,127,-127}'::int[]));
SELECT count(*) FILTER (WHERE quantize_binary(x::i8vec)::text <>
                              (SELECT string_agg((c > 0)::int::text, '' ORDER BY n)
                               FROM unnest(i8vec_codes(x::i8vec)) WITH ORDINALITY u(c, n)))
         AS mismatches
FROM embq_quantize_gen WHERE x <> array_fill(0, ARRAY[i])::real[];

-- quantize_int8 over real[], double precision[] and numeric[]: elements are
-- rounded to real first, then quantized as the i8vec text input does
SELECT quantize_int8('{1,2,3}'::real[]), quantize_int8('{1,2,3}'::float8[]),
       quantize_int8('{1,2,3}'::numeric[]);
SELECT quantize_int8(ARRAY[0.1, -0.2, 0.3]) = '[0.1,-0.2,0.3]'::i8vec AS numeric_same,
       quantize_int8(ARRAY[0.1, -0.2, 0.3]::float8[]) = '[0.1,-0.2,0.3]'::i8vec AS float8_same,
       quantize_int8(ARRAY[0.1, -0.2, 0.3]::real[]) = '[0.1,-0.2,0.3]'::i8vec AS real_same;
SELECT i8vec_codes(quantize_int8('{1.5,-0.5,3}'::numeric[])),
       i8vec_scale(quantize_int8('{1.5,-0.5,3}'::numeric[]));
SELECT count(*) FILTER (WHERE quantize_int8(x) <> quantize_int8(x::float8[])
                           OR quantize_int8(x) <> quantize_int8(x::numeric[])) AS mismatches
FROM embq_quantize_gen;
SELECT quantize_int8('{0,0}'::numeric[]), i8vec_scale(quantize_int8('{0,0}'::numeric[]));
SELECT quantize_int8(ARRAY[1e-300, 1]::float8[]);
SELECT quantize_int8(ARRAY[1e300]::float8[]);
SELECT quantize_int8(ARRAY[1e39]::numeric[]);
SELECT quantize_int8(ARRAY[1e400]::numeric[]);
SELECT quantize_int8(ARRAY[1, 'NaN']::numeric[]);

-- dequantize: scale * code as real[]; bits as 1 and 0
SELECT dequantize('[127, 63.5, -63.5, 0.5]'::i8vec), dequantize('[3,4]'::i8vec),
       dequantize('[0,0]'::i8vec);
SELECT dequantize(i8vec_from_codes('{-127,0,5}'::int[])), pg_typeof(dequantize('[1]'::i8vec));
SELECT dequantize('1011000001'::bitvec), pg_typeof(dequantize('1'::bitvec));
SELECT count(*) FILTER (WHERE dequantize(quantize_binary(x)) <>
                              ARRAY(SELECT (e > 0)::int::real
                                    FROM unnest(x) WITH ORDINALITY u(e, n) ORDER BY n)) AS mismatches
FROM embq_quantize_gen;
SELECT pg_typeof(x), pg_typeof(t) FROM embq_quantize_gen LIMIT 1;
DROP TABLE embq_quantize_gen;

--
-- binary_thresholds: per-dimension mean of a sample (means of real values
-- that are multiples of 1/4, so every sum is exact in any order)
--
CREATE TABLE embq_thresholds (id int, grp int, x real[], d float8[]);
INSERT INTO embq_thresholds
SELECT i, i % 3,
       ARRAY[(i % 8)::real / 4, ((i * 5) % 13 - 6)::real / 4, -(i % 2)::real, 1.75],
       ARRAY[(i % 8)::float8 / 4, ((i * 5) % 13 - 6)::float8 / 4, -(i % 2)::float8, 1.75]
FROM generate_series(1, 3000) i;
INSERT INTO embq_thresholds VALUES (0, 0, NULL, NULL), (-1, 1, NULL, NULL);
SELECT binary_thresholds(x) FROM embq_thresholds;
SELECT binary_thresholds(d), pg_typeof(binary_thresholds(d)) FROM embq_thresholds;
-- the same means computed by core avg(), per dimension
SELECT array_agg(m ORDER BY n) FROM
  (SELECT n, avg(e::float8)::real AS m
   FROM embq_thresholds, unnest(x) WITH ORDINALITY u(e, n) GROUP BY n) s;
SELECT grp, binary_thresholds(x), count(x) FROM embq_thresholds GROUP BY grp ORDER BY grp;
-- small cases checked by hand
SELECT binary_thresholds(x) FROM (VALUES ('{1,2}'::real[]), ('{3,4}'), (NULL), ('{0.5,-6}')) t(x);
SELECT binary_thresholds(x) FROM (VALUES ('{0.1}'::float8[]), ('{0.2}')) t(x);
SELECT i, binary_thresholds(x) OVER (ORDER BY i), x
FROM (VALUES (1, '{1,2}'::real[]), (2, '{3,4}'), (3, NULL), (4, '{0.5,-6}')) t(i, x);
-- empty input and all-NULL input give NULL
SELECT binary_thresholds(x) IS NULL AS empty FROM embq_thresholds WHERE id > 5000;
SELECT binary_thresholds(x) IS NULL AS all_null FROM embq_thresholds WHERE x IS NULL;
SELECT binary_thresholds(NULL::float8[]) IS NULL AS null_input;
-- errors
SELECT binary_thresholds(x) FROM (VALUES ('{1,2}'::real[]), ('{3,4,5}')) t(x);
SELECT binary_thresholds(x) FROM (VALUES ('{1,2}'::real[]), ('{3,NULL}')) t(x);
SELECT binary_thresholds(x) FROM (VALUES ('{1,2}'::float8[]), ('{3,Infinity}')) t(x);
SELECT binary_thresholds(x) FROM (VALUES ('{}'::real[])) t(x);
-- thresholds in use: quantize against the means
SELECT quantize_binary('{1,0,0,2}'::real[], (SELECT binary_thresholds(x) FROM embq_thresholds));

-- parallel aggregation uses the combine function and gives the same result
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT binary_thresholds(x) FROM embq_thresholds;
SELECT binary_thresholds(x) AS parallel FROM embq_thresholds;
SELECT binary_thresholds(d) AS parallel FROM embq_thresholds;
CREATE TEMP TABLE embq_parallel_result AS SELECT binary_thresholds(x) AS t FROM embq_thresholds;
SET parallel_leader_participation = off;
SELECT binary_thresholds(x) = (SELECT t FROM embq_parallel_result) AS same_without_leader
FROM embq_thresholds;
RESET parallel_leader_participation;
RESET max_parallel_workers_per_gather;
RESET min_parallel_table_scan_size;
RESET parallel_tuple_cost;
RESET parallel_setup_cost;
SET max_parallel_workers_per_gather = 0;
EXPLAIN (COSTS OFF) SELECT binary_thresholds(x) FROM embq_thresholds;
SELECT binary_thresholds(x) = (SELECT t FROM embq_parallel_result) AS same_serial
FROM embq_thresholds;
RESET max_parallel_workers_per_gather;
DROP TABLE embq_parallel_result;
DROP TABLE embq_thresholds;
