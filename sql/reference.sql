-- Results on real vectors (test/data) against numpy, computed
-- independently by test/data/gen_reference.py (run by `make testdata`).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS embq;

\getenv abs_srcdir PG_ABS_SRCDIR
\set gen :abs_srcdir '/test/data/generated/'
\set f_vectors :gen 'minilm_vectors.csv'
\set f_binary :gen 'minilm_binary.csv'
\set f_int8 :gen 'minilm_int8.csv'
\set f_pairs :gen 'minilm_pairs.csv'
\set f_sift :gen 'sift_vectors.csv'
\set f_sift_t :gen 'sift_thresholds.csv'
\set f_sift_b :gen 'sift_binary.csv'

CREATE TABLE minilm (id int PRIMARY KEY, v real[]);
CREATE TABLE minilm_binary (id int PRIMARY KEY, packed bytea);
CREATE TABLE minilm_int8 (id int PRIMARY KEY, scale real, codes int[]);
CREATE TABLE minilm_pairs (i int, j int, l2 float8, ip float8, cos float8,
	ql2 float8, qip float8, qcos float8, ham float8, jac float8, bip float8);
COPY minilm FROM :'f_vectors' (FORMAT csv);
COPY minilm_binary FROM :'f_binary' (FORMAT csv);
COPY minilm_int8 FROM :'f_int8' (FORMAT csv);
COPY minilm_pairs FROM :'f_pairs' (FORMAT csv);

-- quantize_binary equals numpy.packbits(x > 0), bit for bit
SELECT count(*) AS rows,
	count(*) FILTER (WHERE quantize_binary(m.v) = bitvec(b.packed, 384)) AS binary_equal,
	count(*) FILTER (WHERE bitvec_to_bytea(quantize_binary(m.v)) = b.packed) AS bytes_equal
FROM minilm m JOIN minilm_binary b USING (id);

-- quantize_int8 equals the numpy absmax quantization: same scale, same codes,
-- from a real[], from a double precision[] and from the text literal
SELECT count(*) AS rows,
	count(*) FILTER (WHERE i8vec_scale(quantize_int8(m.v)) = q.scale
		AND i8vec_codes(quantize_int8(m.v)) = q.codes) AS real_equal,
	count(*) FILTER (WHERE quantize_int8(m.v::float8[]) = quantize_int8(m.v)) AS float8_equal,
	count(*) FILTER (WHERE translate(m.v::text, '{}', '[]')::i8vec = quantize_int8(m.v)) AS text_equal
FROM minilm m JOIN minilm_int8 q USING (id);

-- the text form of every quantized row reads back to the same codes and scale
SELECT count(*) FILTER (WHERE quantize_int8(v)::text::i8vec = quantize_int8(v)) AS text_roundtrip
FROM minilm;

-- every distance matches numpy's float64 recomputation from the codes
CREATE TABLE minilm_q AS
	SELECT id, v, quantize_int8(v) AS e, quantize_binary(v) AS b FROM minilm;
CREATE FUNCTION close(a float8, b float8) RETURNS bool
	LANGUAGE sql IMMUTABLE AS $$ SELECT abs(a - b) <= 1e-9 * greatest(1, abs(b)) $$;
SELECT count(*) AS pairs,
	count(*) FILTER (WHERE close(a.e <-> b.e, p.l2)) AS l2,
	count(*) FILTER (WHERE close(-(a.e <#> b.e), p.ip)) AS ip,
	count(*) FILTER (WHERE close(a.e <=> b.e, p.cos)) AS cos,
	count(*) FILTER (WHERE close(a.e <-> b.v, p.ql2)) AS query_l2,
	count(*) FILTER (WHERE close(-(a.e <#> b.v), p.qip)) AS query_ip,
	count(*) FILTER (WHERE close(a.e <=> b.v, p.qcos)) AS query_cos,
	count(*) FILTER (WHERE (a.b <~> b.b) = p.ham) AS hamming,
	count(*) FILTER (WHERE close(a.b <%> b.b, p.jac)) AS jaccard,
	count(*) FILTER (WHERE close(-(a.b <#> b.v), p.bip)) AS bits_ip
FROM minilm_pairs p JOIN minilm_q a ON a.id = p.i JOIN minilm_q b ON b.id = p.j;

-- the named functions agree with the operators
SELECT count(*) FILTER (WHERE l2_distance(a.e, b.e) = (a.e <-> b.e)
	AND inner_product(a.e, b.e) = -(a.e <#> b.e)
	AND cosine_distance(a.e, b.e) = (a.e <=> b.e)
	AND l2_distance(a.e, b.v) = (a.e <-> b.v)
	AND inner_product(a.e, b.v) = -(a.e <#> b.v)
	AND cosine_distance(a.e, b.v) = (a.e <=> b.v)
	AND hamming_distance(a.b, b.b) = (a.b <~> b.b)
	AND jaccard_distance(a.b, b.b) = (a.b <%> b.b)
	AND inner_product(a.b, b.v) = -(a.b <#> b.v)) AS agree
FROM minilm_pairs p JOIN minilm_q a ON a.id = p.i JOIN minilm_q b ON b.id = p.j;

-- exact top-10 orderings agree with numpy's: by hamming (ties by id) and
-- by the asymmetric L2 of the float query against the int8 codes
\set f_top :gen 'minilm_top10.csv'
CREATE TABLE minilm_top10 (q int, hamming int[], query_l2 int[]);
COPY minilm_top10 FROM :'f_top' (FORMAT csv);
SELECT t.q,
	(SELECT array_agg(id) FROM (SELECT id FROM minilm_q
		ORDER BY b <~> (SELECT b FROM minilm_q WHERE id = t.q), id LIMIT 10) s) = t.hamming AS hamming_top10,
	(SELECT array_agg(id) FROM (SELECT id FROM minilm_q
		ORDER BY e <-> (SELECT v FROM minilm_q WHERE id = t.q) LIMIT 10) s) = t.query_l2 AS query_l2_top10
FROM minilm_top10 t ORDER BY t.q;

-- SIFT descriptors are not centred: thresholds from binary_thresholds (the
-- per-dimension mean) give numpy.packbits(x > mean), serially and in parallel
CREATE TABLE sift (id int PRIMARY KEY, v real[]);
CREATE TABLE sift_binary (id int PRIMARY KEY, packed bytea);
CREATE TABLE sift_thresholds (t real[]);
COPY sift FROM :'f_sift' (FORMAT csv);
COPY sift_binary FROM :'f_sift_b' (FORMAT csv);
COPY sift_thresholds FROM :'f_sift_t' (FORMAT csv);
SELECT binary_thresholds(v) = (SELECT t FROM sift_thresholds) AS thresholds_equal FROM sift;
SELECT count(*) AS rows,
	count(*) FILTER (WHERE quantize_binary(s.v, t.t) = bitvec(b.packed, 128)) AS binary_equal,
	count(*) FILTER (WHERE quantize_binary(s.v) = bitvec(b.packed, 128)) AS sign_binary_equal
FROM sift s JOIN sift_binary b USING (id), sift_thresholds t;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
ALTER TABLE sift SET (parallel_workers = 2);
EXPLAIN (COSTS OFF) SELECT binary_thresholds(v) FROM sift;
SELECT binary_thresholds(v) = (SELECT t FROM sift_thresholds) AS parallel_thresholds_equal FROM sift;
RESET ALL;

DROP TABLE minilm, minilm_top10, minilm_binary, minilm_int8, minilm_pairs, minilm_q, sift, sift_binary, sift_thresholds;
DROP FUNCTION close(float8, float8);
