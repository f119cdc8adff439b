SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS embq;

--
-- distance operators and functions
--
-- Printed values are rounded to 10 decimals and were checked against an
-- independent float64 computation (Python) from the codes and scales; the
-- bulk checks below compare with the same formulas written in SQL.
--

-- the kernel variant is chosen at run time; all give identical results, so
-- only check that it is one of the known ones
SELECT embq_cpu_kernels() IN ('portable', 'avx2', 'avx512') AS known_variant;
-- embq.cpu_kernels (superuser) picks a variant; the portable one, which
-- every CPU runs, gives the same distances bit for bit
SHOW embq.cpu_kernels;
CREATE TEMP TABLE kern_q AS
SELECT i, quantize_int8(array(SELECT sin(i * 0.37 + j)::real FROM generate_series(1, 301) j)) AS e,
       array(SELECT cos(i * 0.11 + j * 1.3)::real FROM generate_series(1, 301) j) AS f
FROM generate_series(1, 50) i;
CREATE TEMP TABLE kern_auto AS
SELECT i, e <-> f AS l2, e <#> f AS ip, e <=> f AS cos, e <-> e AS self FROM kern_q;
SET embq.cpu_kernels = portable;
SELECT embq_cpu_kernels();
SELECT count(*) AS rows, count(*) FILTER (WHERE a.l2 = q.e <-> q.f AND a.ip = q.e <#> q.f
                                          AND a.cos = q.e <=> q.f) AS identical
FROM kern_auto a JOIN kern_q q USING (i);
-- (the DETAIL lists this CPU's variants, so it is not shown)
\set VERBOSITY terse
SET embq.cpu_kernels = 'sse9';
\set VERBOSITY default
RESET embq.cpu_kernels;
SELECT embq_cpu_kernels() IN ('portable', 'avx2', 'avx512') AS known_variant;

-- bitvec <~> bitvec: hamming; <%>: jaccard (1 when no bit is set in either)
SELECT a, b, a::bitvec <~> b::bitvec AS hamming, hamming_distance(a::bitvec, b::bitvec),
       round((a::bitvec <%> b::bitvec)::numeric, 10) AS jaccard,
       round(jaccard_distance(a::bitvec, b::bitvec)::numeric, 10) AS jaccard_fn
FROM (VALUES ('10110', '01100'), ('10110', '10110'), ('00000', '00000'), ('00000', '10000'),
             ('11111', '00000'), ('1111111111', '1010101010')) t(a, b);
SELECT pg_typeof('1'::bitvec <~> '1'), pg_typeof('1'::bitvec <%> '1');
SELECT '101'::bitvec <~> '1010';
SELECT '101'::bitvec <%> '1010';
SELECT hamming_distance('1', '10');
SELECT jaccard_distance('1', '10');
-- checked against core bit string operators over many lengths
SELECT count(*) AS pairs,
       count(*) FILTER (WHERE a <~> b <> length(replace((a::varbit # b::varbit)::text, '0', '')))
         AS bad_hamming,
       count(*) FILTER (WHERE a <%> b <> CASE WHEN bit_count((a::varbit | b::varbit)::bitvec) = 0 THEN 1
                        ELSE 1 - bit_count((a::varbit & b::varbit)::bitvec)::float8
                               / bit_count((a::varbit | b::varbit)::bitvec) END) AS bad_jaccard,
       count(*) FILTER (WHERE a <~> b <> b <~> a OR a <%> b <> b <%> a) AS not_symmetric
FROM (SELECT (SELECT string_agg(((i * 7 + j * 13) % 5 < 2)::int::text, '') FROM generate_series(1, i) j)::bitvec AS a,
             (SELECT string_agg(((i * 3 + j * 11) % 7 < 3)::int::text, '') FROM generate_series(1, i) j)::bitvec AS b
      FROM generate_series(1, 300) i) s;

-- bitvec <#> real[] / double precision[]: minus the sum of the query over set bits
SELECT '101'::bitvec <#> '{1.5,-2,0.25}'::real[] AS neg_ip,
       '101'::bitvec <#> '{1.5,-2,0.25}'::float8[] AS neg_ip_float8,
       inner_product('101'::bitvec, '{1.5,-2,0.25}'::real[]) AS ip,
       inner_product('101'::bitvec, '{1.5,-2,0.25}'::float8[]) AS ip_float8,
       bitvec_negative_inner_product('111'::bitvec, '{1.5,-2,0.25}'::real[]) AS neg_ip_111,
       bitvec_negative_inner_product('000'::bitvec, '{1.5,-2,0.25}'::float8[]) AS neg_ip_000;
-- a double precision query is rounded to real first
SELECT round(inner_product('011'::bitvec, '{0.1,0.2,0.3}'::float8[])::numeric, 10);
SELECT '101'::bitvec <#> '{1,2}'::real[];
SELECT '101'::bitvec <#> '{1,2,3,4}'::float8[];
SELECT inner_product('101'::bitvec, '{1}'::real[]);
SELECT bitvec_negative_inner_product('101'::bitvec, '{1}'::float8[]);

-- i8vec x i8vec: <-> L2, <#> negative inner product, <=> cosine distance
CREATE TABLE embq_dist (name text, v i8vec);
INSERT INTO embq_dist VALUES
  ('a', '[1,2,3]'), ('b', '[-1,0.5,4]'), ('z', '[0,0,0]'),
  ('f', i8vec_from_codes('{10,-20,30}'::int[]));
SELECT x.name || y.name AS pair,
       round((x.v <-> y.v)::numeric, 10) AS l2,
       round(l2_distance(x.v, y.v)::numeric, 10) AS l2_fn,
       round((x.v <#> y.v)::numeric, 10) AS neg_ip,
       round(i8vec_negative_inner_product(x.v, y.v)::numeric, 10) AS neg_ip_fn,
       round(inner_product(x.v, y.v)::numeric, 10) AS ip,
       round((x.v <=> y.v)::numeric, 10) AS cosine,
       round(cosine_distance(x.v, y.v)::numeric, 10) AS cosine_fn
FROM embq_dist x, embq_dist y
WHERE x.name || y.name IN ('ab', 'ba', 'aa', 'af', 'az', 'zz', 'fb')
ORDER BY pair;
-- cosine distance is NaN when either vector is zero
SELECT '[0,0]'::i8vec <=> '[1,2]', cosine_distance('[0,0]'::i8vec, '[0,0]'::i8vec);
SELECT pg_typeof('[1]'::i8vec <-> '[1]'), pg_typeof('[1]'::i8vec <#> '[1]'), pg_typeof('[1]'::i8vec <=> '[1]');
-- opposite and identical directions clamp to exactly 2 and 0
SELECT '[1,2,3]'::i8vec <=> '[-1,-2,-3]', '[1,2,3]'::i8vec <=> '[2,4,6]', '[0.3,0.1]'::i8vec <=> '[0.3,0.1]';
SELECT '[1,2,3]'::i8vec <-> '[1,2]';
SELECT '[1,2,3]'::i8vec <#> '[1,2]';
SELECT '[1,2,3]'::i8vec <=> '[1,2]';
SELECT l2_distance('[1]'::i8vec, '[1,2]'::i8vec);
SELECT inner_product('[1]'::i8vec, '[1,2]'::i8vec);
SELECT i8vec_negative_inner_product('[1]'::i8vec, '[1,2]'::i8vec);
SELECT cosine_distance('[1]'::i8vec, '[1,2]'::i8vec);

-- i8vec x real[] / double precision[]: a float query against the
-- dequantized codes, <-> = sqrt(sum (q_j - scale * c_j)^2)
SELECT name,
       round((v <-> '{0.5,-1,2}'::real[])::numeric, 10) AS l2,
       round(l2_distance(v, '{0.5,-1,2}'::float8[])::numeric, 10) AS l2_float8,
       round((v <#> '{0.5,-1,2}'::real[])::numeric, 10) AS neg_ip,
       round((v <#> '{0.5,-1,2}'::float8[])::numeric, 10) AS neg_ip_float8,
       round(inner_product(v, '{0.5,-1,2}'::real[])::numeric, 10) AS ip,
       round(inner_product(v, '{0.5,-1,2}'::float8[])::numeric, 10) AS ip_float8,
       round(i8vec_negative_inner_product(v, '{0.5,-1,2}'::real[])::numeric, 10) AS neg_ip_fn,
       round((v <=> '{0.5,-1,2}'::real[])::numeric, 10) AS cosine,
       round(cosine_distance(v, '{0.5,-1,2}'::float8[])::numeric, 10) AS cosine_float8
FROM embq_dist ORDER BY name;
SELECT name,
       round((v <-> '{0,0,0}'::real[])::numeric, 10) AS l2,
       round((v <#> '{0,0,0}'::float8[])::numeric, 10) AS neg_ip,
       v <=> '{0,0,0}'::real[] AS cosine
FROM embq_dist ORDER BY name;
-- a double precision query is rounded to real first
SELECT round(('[1,2,3]'::i8vec <-> '{0.1,0.2,0.3}'::float8[])::numeric, 10) AS l2,
       round(inner_product('[1,2,3]'::i8vec, '{0.1,0.2,0.3}'::float8[])::numeric, 10) AS ip,
       round(('[1,2,3]'::i8vec <=> '{0.1,0.2,0.3}'::float8[])::numeric, 10) AS cosine,
       ('[1,2,3]'::i8vec <-> '{0.1,0.2,0.3}'::float8[]) = ('[1,2,3]'::i8vec <-> '{0.1,0.2,0.3}'::real[]) AS same;
SELECT '[1,2,3]'::i8vec <-> '{1,2}'::real[];
SELECT '[1,2,3]'::i8vec <-> '{1,2,3,4}'::float8[];
SELECT '[1,2,3]'::i8vec <#> '{1,2}'::real[];
SELECT '[1,2,3]'::i8vec <#> '{1,2}'::float8[];
SELECT '[1,2,3]'::i8vec <=> '{1,2}'::real[];
SELECT '[1,2,3]'::i8vec <=> '{1,2}'::float8[];
SELECT l2_distance('[1,2]'::i8vec, '{1}'::real[]);
SELECT inner_product('[1,2]'::i8vec, '{1}'::float8[]);
SELECT i8vec_negative_inner_product('[1,2]'::i8vec, '{1}'::real[]);
SELECT cosine_distance('[1,2]'::i8vec, '{1}'::float8[]);
DROP TABLE embq_dist;

-- 100 dimensions, every operator (values checked in Python; 8 decimals, as
-- float8 to numeric keeps 15 significant digits)
CREATE TABLE embq_dist100 AS
SELECT i, ARRAY(SELECT ((((i * j * 7919) % 2003) - 1001) / 100.0)::real
                FROM generate_series(1, 100) j) AS x
FROM generate_series(1, 2) i;
SELECT round((a.x::i8vec <-> b.x::i8vec)::numeric, 8) AS l2,
       round(inner_product(a.x::i8vec, b.x::i8vec)::numeric, 8) AS ip,
       round((a.x::i8vec <=> b.x::i8vec)::numeric, 8) AS cosine,
       round((a.x::i8vec <-> b.x)::numeric, 8) AS q_l2,
       round(inner_product(a.x::i8vec, b.x)::numeric, 8) AS q_ip,
       round((a.x::i8vec <=> b.x)::numeric, 8) AS q_cosine
FROM embq_dist100 a, embq_dist100 b WHERE a.i = 1 AND b.i = 2;
SELECT quantize_binary(a.x) <~> quantize_binary(b.x) AS hamming,
       round((quantize_binary(a.x) <%> quantize_binary(b.x))::numeric, 8) AS jaccard,
       round(inner_product(quantize_binary(a.x), b.x)::numeric, 8) AS bits_ip
FROM embq_dist100 a, embq_dist100 b WHERE a.i = 1 AND b.i = 2;
DROP TABLE embq_dist100;

--
-- bulk check against the formulas in SQL, from i8vec_codes and i8vec_scale:
-- 1 to 100 dimensions, 4 vectors each, every ordered pair
--
CREATE TABLE embq_distgen AS
SELECT n, k, x, x::i8vec AS v, i8vec_codes(x::i8vec) AS c, i8vec_scale(x::i8vec)::float8 AS s
FROM (SELECT n, k, ARRAY(SELECT ((((n * 31 + k * 17)::bigint * j * 7919 % 2003) - 1001) / (10.0 ^ (k % 3)))::real
                         FROM generate_series(1, n) j) AS x
      FROM generate_series(1, 100) n, generate_series(1, 4) k) g;
CREATE TABLE embq_distpairs AS
SELECT a.n, a.v AS av, b.v AS bv, b.x AS q,
       (SELECT sum((a.s * ca - b.s * cb) ^ 2) FROM unnest(a.c, b.c) u(ca, cb)) AS l2sq,
       a.s * b.s * (SELECT sum(ca::bigint * cb) FROM unnest(a.c, b.c) u(ca, cb)) AS ip,
       (SELECT sum(ca::bigint * cb)::float8 / (sqrt(sum(ca::bigint * ca)) * sqrt(sum(cb::bigint * cb)))
        FROM unnest(a.c, b.c) u(ca, cb)) AS cos_sim,
       a.s * a.s * (SELECT sum(ca::bigint * ca) FROM unnest(a.c) ca) + b.s * b.s * (SELECT sum(cb::bigint * cb) FROM unnest(b.c) cb) AS norms,
       (SELECT sum((qj::float8 - a.s * ca) ^ 2) FROM unnest(b.x, a.c) u(qj, ca)) AS q_l2sq,
       a.s * (SELECT sum(qj::float8 * ca) FROM unnest(b.x, a.c) u(qj, ca)) AS q_ip,
       (SELECT sum(qj::float8 * ca) / (sqrt(sum(ca::bigint * ca)) * sqrt(sum(qj::float8 * qj)))
        FROM unnest(b.x, a.c) u(qj, ca)) AS q_cos_sim
FROM embq_distgen a JOIN embq_distgen b ON a.n = b.n;
SELECT count(*) AS pairs,
       count(*) FILTER (WHERE abs((av <-> bv) ^ 2 - l2sq) > 1e-12 * norms) AS bad_l2,
       count(*) FILTER (WHERE abs((av <#> bv) + ip) > 1e-12 * norms) AS bad_neg_ip,
       count(*) FILTER (WHERE abs(inner_product(av, bv) - ip) > 1e-12 * norms) AS bad_ip,
       count(*) FILTER (WHERE abs((av <=> bv) - (1 - greatest(-1, least(1, cos_sim)))) > 1e-12) AS bad_cosine,
       count(*) FILTER (WHERE abs((av <-> q) - sqrt(q_l2sq)) > 1e-9 * greatest(1, sqrt(q_l2sq))) AS bad_q_l2,
       count(*) FILTER (WHERE abs((av <#> q) + q_ip) > 1e-9 * greatest(1, abs(q_ip))) AS bad_q_neg_ip,
       count(*) FILTER (WHERE abs((av <#> q::float8[]) + q_ip) > 1e-9 * greatest(1, abs(q_ip))) AS bad_q_float8,
       count(*) FILTER (WHERE abs((av <=> q) - (1 - greatest(-1, least(1, q_cos_sim)))) > 1e-12) AS bad_q_cosine,
       count(*) FILTER (WHERE av <-> bv <> bv <-> av OR av <#> bv <> bv <#> av
                           OR av <=> bv <> bv <=> av) AS not_symmetric
FROM embq_distpairs;
DROP TABLE embq_distpairs, embq_distgen;

-- nearest neighbours by each operator: ORDER BY emb <op> query LIMIT k
CREATE TABLE embq_items (id int, emb i8vec(3), bits bitvec(8));
INSERT INTO embq_items VALUES
  (1, '[1,0,0]', '10000000'), (2, '[0,1,0]', '11000000'), (3, '[0,0,1]', '11100000'),
  (4, '[1,1,0]', '11110000'), (5, '[0.5,0.5,0.5]', '00001111'), (6, '[-1,-1,-1]', '01111111'),
  (7, '[2,0,0]', '00000000'), (8, '[0.9,0.1,0]', '11111111');
SELECT id, round((emb <-> '[1,0.2,0]')::numeric, 6) AS dist FROM embq_items ORDER BY emb <-> '[1,0.2,0]', id LIMIT 4;
SELECT id, round((emb <#> '[1,0.2,0]')::numeric, 6) AS dist FROM embq_items ORDER BY emb <#> '[1,0.2,0]', id LIMIT 4;
SELECT id, round((emb <=> '[1,0.2,0]')::numeric, 6) AS dist FROM embq_items ORDER BY emb <=> '[1,0.2,0]', id LIMIT 4;
SELECT id, round((emb <-> '{1,0.2,0}'::real[])::numeric, 6) AS dist FROM embq_items ORDER BY emb <-> '{1,0.2,0}'::real[], id LIMIT 4;
SELECT id, round((emb <#> '{1,0.2,0}'::float8[])::numeric, 6) AS dist FROM embq_items ORDER BY emb <#> '{1,0.2,0}'::float8[], id LIMIT 4;
SELECT id, round((emb <=> '{1,0.2,0}'::real[])::numeric, 6) AS dist FROM embq_items ORDER BY emb <=> '{1,0.2,0}'::real[], id LIMIT 4;
SELECT id, bits <~> '11000000' AS dist FROM embq_items ORDER BY bits <~> '11000000', id LIMIT 4;
SELECT id, round((bits <%> '11000000')::numeric, 6) AS dist FROM embq_items ORDER BY bits <%> '11000000', id LIMIT 4;
SELECT id, bits <#> '{1,2,3,4,-1,-2,-3,-4}'::real[] AS dist FROM embq_items ORDER BY bits <#> '{1,2,3,4,-1,-2,-3,-4}'::real[], id LIMIT 4;
DROP TABLE embq_items;
