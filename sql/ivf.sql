SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS embq;
-- enable_seqscan = off makes every plan look expensive enough to JIT
SET jit = off;

--
-- embq_ivf: the inverted-file index access method
--
-- The central check: with embq.probes >= lists (every list probed) an index
-- scan must return exactly what the sequential scan returns, for every
-- operator class and every query type.  Results are compared as arrays of
-- ids and distances (index path vs. enable_indexscan = off), printed as
-- counts.  Rows at equal distance come out of the index in heap (ctid)
-- order, so the exact reference orders by (distance, ctid).
--
-- Data are deterministic: 32-dim float vectors from sin/cos of id * j.
-- i8vec distances have no ties among these rows and queries; hamming
-- distances have many.  Tables have autovacuum off so that VACUUM, which
-- the test runs itself, sees no concurrent snapshot.
--

CREATE TABLE ivf_items (id int PRIMARY KEY, f real[], e i8vec(32), b bitvec(64)) WITH (autovacuum_enabled = off);
INSERT INTO ivf_items
SELECT i, f, quantize_int8(f), quantize_binary(f || f2)
FROM generate_series(1, 3000) i,
     LATERAL (SELECT array_agg(sin(i * 0.731 * j + j * j * 0.17)::real ORDER BY j) AS f
              FROM generate_series(1, 32) j) a,
     LATERAL (SELECT array_agg(cos(i * 0.313 * j + j * 0.5)::real ORDER BY j) AS f2
              FROM generate_series(1, 32) j) a2;
SELECT count(*), count(DISTINCT e) AS distinct_e, count(DISTINCT b) AS distinct_b FROM ivf_items;

-- queries (not rows of the table): qe i8vec, qf real[], qd double precision[]
-- for the i8vec column; qb bitvec, qbf real[], qbd double precision[] for the
-- bitvec column
CREATE TABLE ivf_queries WITH (autovacuum_enabled = off) AS
SELECT qid, qf, qf::float8[] AS qd, quantize_int8(qf) AS qe,
       qf || qf2 AS qbf, (qf || qf2)::float8[] AS qbd, quantize_binary(qf || qf2) AS qb
FROM generate_series(1, 20) qid,
     LATERAL (SELECT array_agg((cos(qid * 1.917 * j + j * 0.29) + 0.3 * sin(qid * j))::real ORDER BY j) AS qf
              FROM generate_series(1, 32) j) a,
     LATERAL (SELECT array_agg(sin(qid * 0.533 * j + j * 0.7)::real ORDER BY j) AS qf2
              FROM generate_series(1, 32) j) a2;

-- one index per operator class, with different list counts
CREATE INDEX ivf_items_l2 ON ivf_items USING embq_ivf (e) WITH (lists = 20, layout = signs);
CREATE INDEX ivf_items_ip ON ivf_items USING embq_ivf (e i8vec_ip_ops) WITH (lists = 5, layout = signs);
CREATE INDEX ivf_items_cos ON ivf_items USING embq_ivf (e i8vec_cosine_ops) WITH (lists = 50, sample_rows = 1000, layout = signs);
CREATE INDEX ivf_items_ham ON ivf_items USING embq_ivf (b) WITH (lists = 10);
CREATE INDEX ivf_items_bip ON ivf_items USING embq_ivf (b bitvec_ip_ops) WITH (lists = 20);
SELECT c.relname, opc.opcname, c.reloptions
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
     JOIN pg_am am ON am.oid = c.relam JOIN pg_opclass opc ON opc.oid = i.indclass[0]
WHERE am.amname = 'embq_ivf' AND i.indrelid = 'ivf_items'::regclass
ORDER BY c.relname;

-- the k nearest rows of every query, one row per (operator, query type, query):
-- ivf_knn is the plain ORDER BY ... LIMIT the index serves, ivf_knn_exact the
-- reference, ties broken by ctid
CREATE VIEW ivf_knn AS
SELECT 'l2 i8vec' AS kind, q.qid, k.* FROM ivf_queries q, LATERAL (SELECT array_agg(id) AS ids, array_agg(d) AS ds FROM (
  SELECT id, e <-> q.qe AS d FROM ivf_items ORDER BY e <-> q.qe LIMIT 100) s) k
UNION ALL SELECT 'l2 real[]', q.qid, k.* FROM ivf_queries q, LATERAL (SELECT array_agg(id), array_agg(d) FROM (
  SELECT id, e <-> q.qf AS d FROM ivf_items ORDER BY e <-> q.qf LIMIT 100) s) k
UNION ALL SELECT 'l2 float8[]', q.qid, k.* FROM ivf_queries q, LATERAL (SELECT array_agg(id), array_agg(d) FROM (
  SELECT id, e <-> q.qd AS d FROM ivf_items ORDER BY e <-> q.qd LIMIT 100) s) k
UNION ALL SELECT 'ip i8vec', q.qid, k.* FROM ivf_queries q, LATERAL (SELECT array_agg(id), array_agg(d) FROM (
  SELECT id, e <#> q.qe AS d FROM ivf_items ORDER BY e <#> q.qe LIMIT 100) s) k
UNION ALL SELECT 'ip real[]', q.qid, k.* FROM ivf_queries q, LATERAL (SELECT array_agg(id), array_agg(d) FROM (
  SELECT id, e <#> q.qf AS d FROM ivf_items ORDER BY e <#> q.qf LIMIT 100) s) k
UNION ALL SELECT 'ip float8[]', q.qid, k.* FROM ivf_queries q, LATERAL (SELECT array_agg(id), array_agg(d) FROM (
  SELECT id, e <#> q.qd AS d FROM ivf_items ORDER BY e <#> q.qd LIMIT 100) s) k
UNION ALL SELECT 'cos i8vec', q.qid, k.* FROM ivf_queries q, LATERAL (SELECT array_agg(id), array_agg(d) FROM (
  SELECT id, e <=> q.qe AS d FROM ivf_items ORDER BY e <=> q.qe LIMIT 100) s) k
UNION ALL SELECT 'cos real[]', q.qid, k.* FROM ivf_queries q, LATERAL (SELECT array_agg(id), array_agg(d) FROM (
  SELECT id, e <=> q.qf AS d FROM ivf_items ORDER BY e <=> q.qf LIMIT 100) s) k
UNION ALL SELECT 'cos float8[]', q.qid, k.* FROM ivf_queries q, LATERAL (SELECT array_agg(id), array_agg(d) FROM (
  SELECT id, e <=> q.qd AS d FROM ivf_items ORDER BY e <=> q.qd LIMIT 100) s) k
UNION ALL SELECT 'hamming bitvec', q.qid, k.* FROM ivf_queries q, LATERAL (SELECT array_agg(id), array_agg(d) FROM (
  SELECT id, b <~> q.qb AS d FROM ivf_items ORDER BY b <~> q.qb LIMIT 100) s) k
UNION ALL SELECT 'bit ip real[]', q.qid, k.* FROM ivf_queries q, LATERAL (SELECT array_agg(id), array_agg(d) FROM (
  SELECT id, b <#> q.qbf AS d FROM ivf_items ORDER BY b <#> q.qbf LIMIT 100) s) k
UNION ALL SELECT 'bit ip float8[]', q.qid, k.* FROM ivf_queries q, LATERAL (SELECT array_agg(id), array_agg(d) FROM (
  SELECT id, b <#> q.qbd AS d FROM ivf_items ORDER BY b <#> q.qbd LIMIT 100) s) k;

CREATE VIEW ivf_knn_exact AS
SELECT 'l2 i8vec' AS kind, q.qid, k.* FROM ivf_queries q, LATERAL (SELECT array_agg(id) AS ids, array_agg(d) AS ds FROM (
  SELECT id, e <-> q.qe AS d FROM ivf_items ORDER BY e <-> q.qe, ctid LIMIT 100) s) k
UNION ALL SELECT 'l2 real[]', q.qid, k.* FROM ivf_queries q, LATERAL (SELECT array_agg(id), array_agg(d) FROM (
  SELECT id, e <-> q.qf AS d FROM ivf_items ORDER BY e <-> q.qf, ctid LIMIT 100) s) k
UNION ALL SELECT 'l2 float8[]', q.qid, k.* FROM ivf_queries q, LATERAL (SELECT array_agg(id), array_agg(d) FROM (
  SELECT id, e <-> q.qd AS d FROM ivf_items ORDER BY e <-> q.qd, ctid LIMIT 100) s) k
UNION ALL SELECT 'ip i8vec', q.qid, k.* FROM ivf_queries q, LATERAL (SELECT array_agg(id), array_agg(d) FROM (
  SELECT id, e <#> q.qe AS d FROM ivf_items ORDER BY e <#> q.qe, ctid LIMIT 100) s) k
UNION ALL SELECT 'ip real[]', q.qid, k.* FROM ivf_queries q, LATERAL (SELECT array_agg(id), array_agg(d) FROM (
  SELECT id, e <#> q.qf AS d FROM ivf_items ORDER BY e <#> q.qf, ctid LIMIT 100) s) k
UNION ALL SELECT 'ip float8[]', q.qid, k.* FROM ivf_queries q, LATERAL (SELECT array_agg(id), array_agg(d) FROM (
  SELECT id, e <#> q.qd AS d FROM ivf_items ORDER BY e <#> q.qd, ctid LIMIT 100) s) k
UNION ALL SELECT 'cos i8vec', q.qid, k.* FROM ivf_queries q, LATERAL (SELECT array_agg(id), array_agg(d) FROM (
  SELECT id, e <=> q.qe AS d FROM ivf_items ORDER BY e <=> q.qe, ctid LIMIT 100) s) k
UNION ALL SELECT 'cos real[]', q.qid, k.* FROM ivf_queries q, LATERAL (SELECT array_agg(id), array_agg(d) FROM (
  SELECT id, e <=> q.qf AS d FROM ivf_items ORDER BY e <=> q.qf, ctid LIMIT 100) s) k
UNION ALL SELECT 'cos float8[]', q.qid, k.* FROM ivf_queries q, LATERAL (SELECT array_agg(id), array_agg(d) FROM (
  SELECT id, e <=> q.qd AS d FROM ivf_items ORDER BY e <=> q.qd, ctid LIMIT 100) s) k
UNION ALL SELECT 'hamming bitvec', q.qid, k.* FROM ivf_queries q, LATERAL (SELECT array_agg(id), array_agg(d) FROM (
  SELECT id, b <~> q.qb AS d FROM ivf_items ORDER BY b <~> q.qb, ctid LIMIT 100) s) k
UNION ALL SELECT 'bit ip real[]', q.qid, k.* FROM ivf_queries q, LATERAL (SELECT array_agg(id), array_agg(d) FROM (
  SELECT id, b <#> q.qbf AS d FROM ivf_items ORDER BY b <#> q.qbf, ctid LIMIT 100) s) k
UNION ALL SELECT 'bit ip float8[]', q.qid, k.* FROM ivf_queries q, LATERAL (SELECT array_agg(id), array_agg(d) FROM (
  SELECT id, b <#> q.qbd AS d FROM ivf_items ORDER BY b <#> q.qbd, ctid LIMIT 100) s) k;

-- the reference (ivf_ref) is computed by sequential scans, the index
-- results (ivf_index_result) with enable_seqscan = off
CREATE TABLE ivf_ref WITH (autovacuum_enabled = off) AS SELECT * FROM ivf_knn_exact WITH NO DATA;
CREATE TABLE ivf_index_result WITH (autovacuum_enabled = off) AS SELECT * FROM ivf_knn WITH NO DATA;
SET enable_indexscan = off;
INSERT INTO ivf_ref SELECT * FROM ivf_knn_exact;
RESET enable_indexscan;

-- index vs. reference, per kind: how many of the 20 queries agree on the
-- top 10 ids, the top 100 ids and the top 100 distances, and how many
-- index results are not in ascending distance order (must be 0)
CREATE VIEW ivf_compare AS
SELECT r.kind, count(*) AS queries,
       count(*) FILTER (WHERE i.ids[1:10] = r.ids[1:10]) AS same_top10,
       count(*) FILTER (WHERE i.ids = r.ids) AS same_top100,
       count(*) FILTER (WHERE i.ds = r.ds) AS same_distances,
       count(*) FILTER (WHERE EXISTS (SELECT FROM generate_subscripts(i.ds, 1) n
                                      WHERE n > 1 AND i.ds[n] < i.ds[n - 1])) AS unordered
FROM ivf_ref r JOIN ivf_index_result i USING (kind, qid)
GROUP BY r.kind ORDER BY r.kind;

-- every operator class, every query type: the index serves ORDER BY ... LIMIT
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT q.qid, k.id FROM ivf_queries q,
  LATERAL (SELECT id FROM ivf_items ORDER BY e <-> q.qe LIMIT 3) k;
EXPLAIN (COSTS OFF) SELECT q.qid, k.id FROM ivf_queries q,
  LATERAL (SELECT id FROM ivf_items ORDER BY e <-> q.qf LIMIT 3) k;
EXPLAIN (COSTS OFF) SELECT q.qid, k.id FROM ivf_queries q,
  LATERAL (SELECT id FROM ivf_items ORDER BY e <-> q.qd LIMIT 3) k;
EXPLAIN (COSTS OFF) SELECT q.qid, k.id FROM ivf_queries q,
  LATERAL (SELECT id FROM ivf_items ORDER BY e <#> q.qe LIMIT 3) k;
EXPLAIN (COSTS OFF) SELECT q.qid, k.id FROM ivf_queries q,
  LATERAL (SELECT id FROM ivf_items ORDER BY e <#> q.qf LIMIT 3) k;
EXPLAIN (COSTS OFF) SELECT q.qid, k.id FROM ivf_queries q,
  LATERAL (SELECT id FROM ivf_items ORDER BY e <#> q.qd LIMIT 3) k;
EXPLAIN (COSTS OFF) SELECT q.qid, k.id FROM ivf_queries q,
  LATERAL (SELECT id FROM ivf_items ORDER BY e <=> q.qe LIMIT 3) k;
EXPLAIN (COSTS OFF) SELECT q.qid, k.id FROM ivf_queries q,
  LATERAL (SELECT id FROM ivf_items ORDER BY e <=> q.qf LIMIT 3) k;
EXPLAIN (COSTS OFF) SELECT q.qid, k.id FROM ivf_queries q,
  LATERAL (SELECT id FROM ivf_items ORDER BY e <=> q.qd LIMIT 3) k;
EXPLAIN (COSTS OFF) SELECT q.qid, k.id FROM ivf_queries q,
  LATERAL (SELECT id FROM ivf_items ORDER BY b <~> q.qb LIMIT 3) k;
EXPLAIN (COSTS OFF) SELECT q.qid, k.id FROM ivf_queries q,
  LATERAL (SELECT id FROM ivf_items ORDER BY b <#> q.qbf LIMIT 3) k;
EXPLAIN (COSTS OFF) SELECT q.qid, k.id FROM ivf_queries q,
  LATERAL (SELECT id FROM ivf_items ORDER BY b <#> q.qbd LIMIT 3) k;

-- every list probed (50 >= the lists of every index) and every probed row
-- rescored (factor 1000 rescores 10 * 1000 * ceil(1024 / 32) candidates at
-- a time, more than the table holds): the index returns exactly the
-- sequential scan's rows; the tests below keep this factor unless they say
SHOW embq.probes;
SHOW embq.max_probes;
SHOW embq.rescore_factor;
SET embq.probes = 50;
SET embq.rescore_factor = 1000;
INSERT INTO ivf_index_result SELECT * FROM ivf_knn;
SELECT * FROM ivf_compare;
-- the top 5 of the first query, checked independently (numpy)
SELECT kind, ids[1:5] FROM ivf_index_result WHERE qid = 1 ORDER BY kind;

-- rescoring off (factor 1): bitvec results stay exact (their coarse pass
-- is); i8vec rows come in the order of the sign-bit estimate, which on
-- 32-dim rows finds few of the exact top 10; every query still returns its
-- 100 rows
SET embq.rescore_factor = 1;
TRUNCATE ivf_index_result;
INSERT INTO ivf_index_result SELECT * FROM ivf_knn;
SELECT * FROM ivf_compare;
SELECT kind, count(*) AS queries, count(*) FILTER (WHERE cardinality(ids) = 100) AS full_results
FROM ivf_index_result GROUP BY kind ORDER BY kind;

-- the default factor 4: i8vec scans rescore the best 10 * 4 * ceil(1024 / 32)
-- = 1280 candidates by sign bits at a time, so the first 10 rows come in
-- exact distance order, and here are (almost all) the exact top 10
RESET embq.rescore_factor;
TRUNCATE ivf_index_result;
INSERT INTO ivf_index_result SELECT * FROM ivf_knn;
CREATE VIEW ivf_top10 AS
SELECT r.kind, count(*) AS queries,
       sum((SELECT count(*) FROM unnest(i.ids[1:10]) x WHERE x = ANY (r.ids[1:10]))) AS top10_found,
       count(*) FILTER (WHERE EXISTS (SELECT FROM generate_series(2, 10) n
                                      WHERE i.ds[n] < i.ds[n - 1])) AS unordered_top10
FROM ivf_ref r JOIN ivf_index_result i USING (kind, qid)
GROUP BY r.kind ORDER BY r.kind;
SELECT * FROM ivf_top10;
-- factor 2: a batch of 640 of the 3000 candidates; still exact order within
-- the first 10 rows
SET embq.rescore_factor = 2;
TRUNCATE ivf_index_result;
INSERT INTO ivf_index_result SELECT * FROM ivf_knn;
SELECT * FROM ivf_top10 WHERE kind NOT LIKE '%bit%' AND kind NOT LIKE 'hamming%';
-- factor 2 with every list probed and LIMIT 3000 (the whole table): a
-- batch rescores 640 candidates, then 320 more at a time while the last
-- 320 still reach its 10 nearest rows, so the order may break only where a
-- round of 320 ends.  Every row comes back exactly once, and in exact order
-- within each batch.
SELECT op, count(*) AS n, count(DISTINCT id) AS distinct_ids,
       count(*) FILTER (WHERE (rn - 1) % 320 <> 0 AND d < prev) AS unordered_in_batch
FROM (SELECT '<-> real[]' AS op, id, d, row_number() OVER () AS rn, lag(d) OVER () AS prev
      FROM ivf_queries q,
      LATERAL (SELECT id, e <-> q.qf AS d FROM ivf_items ORDER BY e <-> q.qf LIMIT 3000) k
      WHERE q.qid = 1
      UNION ALL
      SELECT '<=> i8vec', id, d, row_number() OVER (), lag(d) OVER ()
      FROM ivf_queries q,
      LATERAL (SELECT id, e <=> q.qe AS d FROM ivf_items ORDER BY e <=> q.qe LIMIT 3000) k
      WHERE q.qid = 1
      UNION ALL
      SELECT '<#> real[]', id, d, row_number() OVER (), lag(d) OVER ()
      FROM ivf_queries q,
      LATERAL (SELECT id, e <#> q.qf AS d FROM ivf_items ORDER BY e <#> q.qf LIMIT 3000) k
      WHERE q.qid = 1) t
GROUP BY op ORDER BY op;
-- 1024 dimensions, one list per segment: at factor 2 a batch is 20 rows and
-- the first pass keeps 160 (8 batches), fewer than a list holds, so
-- every segment of a whole-table scan takes a first and a second pass:
-- still every row once
CREATE TABLE ivf_wide (id int, e i8vec(1024));
INSERT INTO ivf_wide
SELECT i, (SELECT array_agg(sin(i * 7.1 + j * 0.37 + (i % 7) * j * 0.01)::real) FROM generate_series(1, 1024) j)
FROM generate_series(1, 600) i;
CREATE INDEX ivf_wide_l2 ON ivf_wide USING embq_ivf (e) WITH (lists = 2);
SET embq.probes = 1;
SET embq.rescore_factor = 2;
-- the lists the two queries below probe first hold more than 160 rows
SET embq.max_probes = 1;
SELECT (SELECT count(*) FROM (SELECT id FROM ivf_wide
        ORDER BY e <-> (SELECT e FROM ivf_wide WHERE id = 1) LIMIT 600) s) > 160 AS first_list,
       (SELECT count(*) FROM (SELECT id FROM ivf_wide
        ORDER BY e <-> (SELECT array_agg(cos(j * 0.5)::real) FROM generate_series(1, 1024) j)
        LIMIT 600) s) > 160 AS second_list;
RESET embq.max_probes;
EXPLAIN (COSTS OFF) SELECT id FROM ivf_wide ORDER BY e <-> (SELECT e FROM ivf_wide WHERE id = 1) LIMIT 600;
SELECT count(*) AS n, count(DISTINCT id) AS distinct_ids
FROM (SELECT id FROM ivf_wide ORDER BY e <-> (SELECT e FROM ivf_wide WHERE id = 1) LIMIT 600) s;
SELECT count(*) AS n, count(DISTINCT id) AS distinct_ids
FROM (SELECT id FROM ivf_wide
      ORDER BY e <-> (SELECT array_agg(cos(j * 0.5)::real) FROM generate_series(1, 1024) j)
      LIMIT 600) s;
SET embq.probes = 50;
-- a batch grows where the sign-bit order is least reliable: 10 clusters of
-- 100 near-duplicates (1024 dimensions, one list, so that no k-means enters)
-- and a query beside each; coordinates are hashes scaled to [-0.5, 0.5), the
-- same on every platform.  Among near-duplicates the order of the sign-bit
-- estimates is close to random: a fixed batch of 10 * factor candidates
-- found 23, 52 and 85 of the 100 rows of the exact top 10s at factors 2, 4
-- and 8; rescoring more, half a batch at a time (up to 4 batches), while
-- the last half still reaches the batch's 10 nearest rows finds 68, 99 and
-- 100, the exact order kept within the top 10
CREATE FUNCTION ivf_unit_hash(k bigint) RETURNS float8 IMMUTABLE LANGUAGE sql
  AS $$ SELECT hashint8(k)::float8 / 4294967296.0 $$;
CREATE TABLE ivf_dup (id int, e i8vec(1024));
INSERT INTO ivf_dup
SELECT (b - 1) * 100 + c,
       (SELECT array_agg((ivf_unit_hash(b * 4096 + j)
                          + 0.2 * ivf_unit_hash(100000000 + ((b - 1) * 100 + c) * 4096 + j))::real
                         ORDER BY j)
        FROM generate_series(1, 1024) j)
FROM generate_series(1, 10) b, generate_series(1, 100) c;
CREATE TABLE ivf_dup_q AS
SELECT b AS qid,
       (SELECT array_agg((ivf_unit_hash(b * 4096 + j)
                          + 0.3 * ivf_unit_hash(900000000 + b * 4096 + j))::real ORDER BY j)
        FROM generate_series(1, 1024) j) AS q
FROM generate_series(1, 10) b;
CREATE INDEX ivf_dup_cos ON ivf_dup USING embq_ivf (e i8vec_cosine_ops) WITH (lists = 1);
-- the reference by a sequential scan: with both scans disabled, PostgreSQL
-- 18 (which counts disabled nodes rather than adding to their cost) may
-- take the index
SET enable_seqscan = on;
SET enable_indexscan = off;
CREATE TABLE ivf_dup_exact AS
SELECT qid, ARRAY(SELECT id FROM ivf_dup ORDER BY e <=> q, id LIMIT 10) AS ids FROM ivf_dup_q;
RESET enable_indexscan;
SET enable_seqscan = off;
CREATE VIEW ivf_dup_found AS
SELECT current_setting('embq.rescore_factor') AS factor,
       sum((SELECT count(*) FROM unnest(r.ids) i WHERE i = ANY (x.ids))) AS top10_found,
       count(*) FILTER (WHERE EXISTS (SELECT FROM generate_series(2, 10) n
                                      WHERE r.ds[n] < r.ds[n - 1])) AS unordered_top10
FROM ivf_dup_q q JOIN ivf_dup_exact x USING (qid),
     LATERAL (SELECT array_agg(id) AS ids, array_agg(d) AS ds
              FROM (SELECT id, e <=> q.q AS d FROM ivf_dup ORDER BY e <=> q.q LIMIT 10) s) r;
SET embq.rescore_factor = 2;
SELECT * FROM ivf_dup_found;
SET embq.rescore_factor = 4;
SELECT * FROM ivf_dup_found;
SET embq.rescore_factor = 8;
SELECT * FROM ivf_dup_found;
DROP TABLE ivf_dup, ivf_dup_q, ivf_dup_exact CASCADE;
DROP FUNCTION ivf_unit_hash;
SET embq.rescore_factor = 2;
-- without the lists option, lists default to 2 * sqrt(rows) = 48 here, but
-- no more than maintenance_work_mem can train on 50 sample rows each
SET maintenance_work_mem = '1MB';
SET client_min_messages = notice;
CREATE INDEX ivf_wide_small ON ivf_wide USING embq_ivf (e);
SET client_min_messages = warning;
SELECT lists FROM embq_ivf_info('ivf_wide_small');
RESET maintenance_work_mem;
CREATE INDEX ivf_wide_default ON ivf_wide USING embq_ivf (e);
SELECT lists FROM embq_ivf_info('ivf_wide_default');
DROP TABLE ivf_wide;
-- k-means and the assignment accumulate in float, at unit scale: rows
-- scaled by 2^80 (whose products would overflow float) partition exactly
-- as the same rows unscaled, so the nearest list of each query (all that
-- one probe with no further probes returns) holds as many rows in both
CREATE TABLE ivf_scale (id int, small i8vec(64), big i8vec(64));
INSERT INTO ivf_scale
SELECT i, v::i8vec(64), (SELECT array_agg(x * 2.0::real ^ 80) FROM unnest(v) x)::i8vec(64)
FROM (SELECT i, (SELECT array_agg(sin(i * 3.3 + j)::real) FROM generate_series(1, 64) j) v
      FROM generate_series(1, 2000) i) s;
CREATE INDEX ivf_scale_small ON ivf_scale USING embq_ivf (small) WITH (lists = 10);
CREATE INDEX ivf_scale_big ON ivf_scale USING embq_ivf (big) WITH (lists = 10);
SET embq.probes = 1;
SET embq.max_probes = 1;
SELECT q,
       (SELECT count(*) FROM (SELECT id FROM ivf_scale
        ORDER BY small <-> (SELECT small FROM ivf_scale WHERE id = q) LIMIT 2000) s) AS small_list,
       (SELECT count(*) FROM (SELECT id FROM ivf_scale
        ORDER BY big <-> (SELECT big FROM ivf_scale WHERE id = q) LIMIT 2000) s) AS big_list
FROM generate_series(1, 5) q;
RESET embq.max_probes;
SET embq.probes = 50;
DROP TABLE ivf_scale;
SET embq.rescore_factor = 1000;

--
-- one list probed: the scan probes further lists when the executor wants
-- more rows than the probed lists hold (a filter, a large LIMIT)
--
SET embq.probes = 1;
-- a filter rejecting 90% of the rows: LIMIT 20 still gets 20 rows
EXPLAIN (COSTS OFF) SELECT id FROM ivf_items WHERE id % 10 = 0
  ORDER BY e <-> (SELECT qe FROM ivf_queries WHERE qid = 1) LIMIT 20;
SELECT count(*), count(DISTINCT id), bool_and(id % 10 = 0) AS all_match
FROM (SELECT id FROM ivf_items WHERE id % 10 = 0
      ORDER BY e <-> (SELECT qe FROM ivf_queries WHERE qid = 1) LIMIT 20) s;
SELECT count(*), count(DISTINCT id), bool_and(id % 10 = 0) AS all_match
FROM (SELECT id FROM ivf_items WHERE id % 10 = 0
      ORDER BY e <#> (SELECT qf FROM ivf_queries WHERE qid = 2) LIMIT 20) s;
SELECT count(*), count(DISTINCT id), bool_and(id % 10 = 0) AS all_match
FROM (SELECT id FROM ivf_items WHERE id % 10 = 0
      ORDER BY e <=> (SELECT qd FROM ivf_queries WHERE qid = 3) LIMIT 20) s;
SELECT count(*), count(DISTINCT id), bool_and(id % 10 = 0) AS all_match
FROM (SELECT id FROM ivf_items WHERE id % 10 = 0
      ORDER BY b <~> (SELECT qb FROM ivf_queries WHERE qid = 4) LIMIT 20) s;
SELECT count(*), count(DISTINCT id), bool_and(id % 10 = 0) AS all_match
FROM (SELECT id FROM ivf_items WHERE id % 10 = 0
      ORDER BY b <#> (SELECT qbf FROM ivf_queries WHERE qid = 5) LIMIT 20) s;
-- a filter no row passes: the scan probes every list, then ends
SELECT count(*) FROM (SELECT id FROM ivf_items WHERE id < 0
      ORDER BY e <-> (SELECT qe FROM ivf_queries WHERE qid = 1) LIMIT 20) s;
-- a LIMIT larger than one list, and no LIMIT at all: every row exactly once
SELECT count(*), count(DISTINCT id)
FROM (SELECT id FROM ivf_items ORDER BY e <-> (SELECT qe FROM ivf_queries WHERE qid = 1) LIMIT 2000) s;
SELECT count(*), count(DISTINCT id)
FROM (SELECT id FROM ivf_items ORDER BY b <#> (SELECT qbf FROM ivf_queries WHERE qid = 1) LIMIT 2000) s;
EXPLAIN (COSTS OFF) SELECT count(*), count(DISTINCT id)
FROM (SELECT id FROM ivf_items ORDER BY e <=> (SELECT qf FROM ivf_queries WHERE qid = 1)) s;
SELECT count(*), count(DISTINCT id)
FROM (SELECT id FROM ivf_items ORDER BY e <=> (SELECT qf FROM ivf_queries WHERE qid = 1)) s;
SELECT count(*), count(DISTINCT id)
FROM (SELECT id FROM ivf_items ORDER BY e <#> (SELECT qe FROM ivf_queries WHERE qid = 1)) s;
SELECT count(*), count(DISTINCT id)
FROM (SELECT id FROM ivf_items ORDER BY b <~> (SELECT qb FROM ivf_queries WHERE qid = 1)) s;
-- embq.max_probes caps the probing: one list of 20 cannot hold 2000 of the
-- 3000 rows (nor 20 of the 60 rows with id % 50 = 0)
SET embq.max_probes = 1;
SELECT count(*) < 2000 AS capped
FROM (SELECT id FROM ivf_items ORDER BY e <-> (SELECT qe FROM ivf_queries WHERE qid = 1) LIMIT 2000) s;
SELECT count(*) < 20 AS capped
FROM (SELECT id FROM ivf_items WHERE id % 50 = 0
      ORDER BY e <-> (SELECT qe FROM ivf_queries WHERE qid = 1) LIMIT 20) s;
SET embq.max_probes = 3;
SELECT count(*) < 2000 AS capped
FROM (SELECT id FROM ivf_items ORDER BY b <~> (SELECT qb FROM ivf_queries WHERE qid = 1) LIMIT 2000) s;
-- max_probes below probes: probes wins
SET embq.probes = 50;
SELECT count(*) FROM (SELECT id FROM ivf_items WHERE id % 50 = 0
      ORDER BY e <-> (SELECT qe FROM ivf_queries WHERE qid = 1) LIMIT 20) s;
RESET embq.max_probes;
-- probing is by nearest centroid: a row is found with one probe when the
-- query is the row itself
SET embq.probes = 1;
SELECT count(*) FILTER (WHERE (SELECT id FROM ivf_items i2 ORDER BY i2.e <-> i1.e LIMIT 1) = i1.id) AS l2_self,
       count(*) FILTER (WHERE (SELECT i2.b <~> i1.b FROM ivf_items i2 ORDER BY i2.b <~> i1.b LIMIT 1) = 0) AS hamming_self
FROM ivf_items i1 WHERE id % 100 = 0;

--
-- inserts after the build: new rows are found, results stay exact
--
INSERT INTO ivf_items
SELECT i, f, quantize_int8(f), quantize_binary(f || f2)
FROM generate_series(3001, 3400) i,
     LATERAL (SELECT array_agg(sin(i * 0.419 * j + j * 0.11)::real ORDER BY j) AS f
              FROM generate_series(1, 32) j) a,
     LATERAL (SELECT array_agg(cos(i * 0.277 * j + j * 0.3)::real ORDER BY j) AS f2
              FROM generate_series(1, 32) j) a2;
SELECT count(*), count(DISTINCT e) AS distinct_e FROM ivf_items;
SET embq.probes = 1;
SELECT count(*) FILTER (WHERE (SELECT id FROM ivf_items i2 ORDER BY i2.e <-> i1.e LIMIT 1) = i1.id) AS l2_self,
       count(*) FILTER (WHERE (SELECT i2.b <~> i1.b FROM ivf_items i2 ORDER BY i2.b <~> i1.b LIMIT 1) = 0) AS hamming_self
FROM ivf_items i1 WHERE id > 3000;
SET embq.probes = 50;
SET enable_seqscan = on;
SET enable_indexscan = off;
TRUNCATE ivf_ref;
INSERT INTO ivf_ref SELECT * FROM ivf_knn_exact;
SET enable_seqscan = off;
SET enable_indexscan = on;
TRUNCATE ivf_index_result;
INSERT INTO ivf_index_result SELECT * FROM ivf_knn;
SELECT * FROM ivf_compare;
-- how many of the new rows are in the results
SELECT count(DISTINCT id) FILTER (WHERE id > 3000) > 0 AS new_rows_found
FROM ivf_index_result, unnest(ids) id;

--
-- DELETE and VACUUM: deleted rows never come back, the index counts the
-- live rows, and re-inserting as many rows reuses the freed space
--
DELETE FROM ivf_items WHERE id % 3 = 0;
SELECT count(*) AS live FROM ivf_items;
-- before VACUUM the heap hides the deleted rows
SET embq.probes = 1;
SELECT count(*), count(DISTINCT id), count(*) FILTER (WHERE id % 3 = 0) AS deleted
FROM (SELECT id FROM ivf_items ORDER BY e <-> (SELECT qe FROM ivf_queries WHERE qid = 1)) s;
VACUUM ivf_items;
SELECT c.relname, c.reltuples FROM pg_class c JOIN pg_am am ON am.oid = c.relam
WHERE am.amname = 'embq_ivf' AND c.relname LIKE 'ivf_items_%' ORDER BY c.relname;
SELECT count(*), count(DISTINCT id), count(*) FILTER (WHERE id % 3 = 0) AS deleted
FROM (SELECT id FROM ivf_items ORDER BY e <-> (SELECT qe FROM ivf_queries WHERE qid = 1)) s;
SELECT count(*), count(DISTINCT id), count(*) FILTER (WHERE id % 3 = 0) AS deleted
FROM (SELECT id FROM ivf_items ORDER BY e <#> (SELECT qf FROM ivf_queries WHERE qid = 1)) s;
SELECT count(*), count(DISTINCT id), count(*) FILTER (WHERE id % 3 = 0) AS deleted
FROM (SELECT id FROM ivf_items ORDER BY e <=> (SELECT qe FROM ivf_queries WHERE qid = 1)) s;
SELECT count(*), count(DISTINCT id), count(*) FILTER (WHERE id % 3 = 0) AS deleted
FROM (SELECT id FROM ivf_items ORDER BY b <~> (SELECT qb FROM ivf_queries WHERE qid = 1)) s;
SELECT count(*), count(DISTINCT id), count(*) FILTER (WHERE id % 3 = 0) AS deleted
FROM (SELECT id FROM ivf_items ORDER BY b <#> (SELECT qbd FROM ivf_queries WHERE qid = 1)) s;
SET embq.probes = 50;
SET enable_seqscan = on;
SET enable_indexscan = off;
TRUNCATE ivf_ref;
INSERT INTO ivf_ref SELECT * FROM ivf_knn_exact;
SET enable_seqscan = off;
SET enable_indexscan = on;
TRUNCATE ivf_index_result;
INSERT INTO ivf_index_result SELECT * FROM ivf_knn;
SELECT * FROM ivf_compare;
-- re-insert the deleted rows (the same vectors, so the same lists): no index grows
CREATE TABLE ivf_sizes WITH (autovacuum_enabled = off) AS
SELECT c.relname, pg_relation_size(c.oid) AS size FROM pg_class c JOIN pg_am am ON am.oid = c.relam
WHERE am.amname = 'embq_ivf' AND c.relname LIKE 'ivf_items_%';
INSERT INTO ivf_items
SELECT i, f, quantize_int8(f), quantize_binary(f || f2)
FROM generate_series(3, 3000, 3) i,
     LATERAL (SELECT array_agg(sin(i * 0.731 * j + j * j * 0.17)::real ORDER BY j) AS f
              FROM generate_series(1, 32) j) a,
     LATERAL (SELECT array_agg(cos(i * 0.313 * j + j * 0.5)::real ORDER BY j) AS f2
              FROM generate_series(1, 32) j) a2;
INSERT INTO ivf_items
SELECT i, f, quantize_int8(f), quantize_binary(f || f2)
FROM generate_series(3003, 3400, 3) i,
     LATERAL (SELECT array_agg(sin(i * 0.419 * j + j * 0.11)::real ORDER BY j) AS f
              FROM generate_series(1, 32) j) a,
     LATERAL (SELECT array_agg(cos(i * 0.277 * j + j * 0.3)::real ORDER BY j) AS f2
              FROM generate_series(1, 32) j) a2;
SELECT count(*) FROM ivf_items;
SELECT s.relname, pg_relation_size(s.relname::regclass) = s.size AS same_size
FROM ivf_sizes s ORDER BY s.relname;
-- and the results are those of the table as first loaded (plus the inserts)
SET enable_seqscan = on;
SET enable_indexscan = off;
TRUNCATE ivf_ref;
INSERT INTO ivf_ref SELECT * FROM ivf_knn_exact;
SET enable_seqscan = off;
SET enable_indexscan = on;
TRUNCATE ivf_index_result;
INSERT INTO ivf_index_result SELECT * FROM ivf_knn;
SELECT * FROM ivf_compare;

--
-- the planner uses the index only for ORDER BY distance (ascending)
--
EXPLAIN (COSTS OFF) SELECT id FROM ivf_items WHERE e IS NOT NULL;
EXPLAIN (COSTS OFF) SELECT id FROM ivf_items WHERE (e <-> (SELECT qe FROM ivf_queries WHERE qid = 1)) < 1;
EXPLAIN (COSTS OFF) SELECT id FROM ivf_items WHERE b = (SELECT qb FROM ivf_queries WHERE qid = 1);
EXPLAIN (COSTS OFF) SELECT id FROM ivf_items ORDER BY e <-> (SELECT qe FROM ivf_queries WHERE qid = 1) DESC LIMIT 5;
-- a distance the operator classes do not have (jaccard)
EXPLAIN (COSTS OFF) SELECT id FROM ivf_items ORDER BY b <%> (SELECT qb FROM ivf_queries WHERE qid = 1) LIMIT 5;

--
-- ORDER BY col <op> NULL: every distance is NULL, so any order is right;
-- the index returns every row once (as the sequential scan does)
--
EXPLAIN (COSTS OFF) SELECT id FROM ivf_items ORDER BY e <-> NULL::i8vec LIMIT 5;
SET plan_cache_mode = force_generic_plan;
PREPARE ivf_null_e(i8vec) AS SELECT count(*), count(DISTINCT id), count(d) AS nonnull
  FROM (SELECT id, e <-> $1 AS d FROM ivf_items ORDER BY e <-> $1 LIMIT 5) s;
PREPARE ivf_null_f(real[]) AS SELECT count(*), count(DISTINCT id), count(d) AS nonnull
  FROM (SELECT id, e <=> $1 AS d FROM ivf_items ORDER BY e <=> $1) s;
PREPARE ivf_null_b(bitvec) AS SELECT count(*), count(DISTINCT id), count(d) AS nonnull
  FROM (SELECT id, b <~> $1 AS d FROM ivf_items ORDER BY b <~> $1) s;
PREPARE ivf_null_bf(float8[]) AS SELECT count(*), count(DISTINCT id), count(d) AS nonnull
  FROM (SELECT id, b <#> $1 AS d FROM ivf_items ORDER BY b <#> $1 LIMIT 50) s;
EXPLAIN (COSTS OFF) EXECUTE ivf_null_e(NULL);
EXECUTE ivf_null_e(NULL);
EXECUTE ivf_null_f(NULL);
EXECUTE ivf_null_b(NULL);
EXECUTE ivf_null_bf(NULL);
-- the same prepared statements with a query
EXECUTE ivf_null_e(quantize_int8(array_fill(1::real, ARRAY[32])));
EXECUTE ivf_null_bf(array_fill(1::float8, ARRAY[64]));
EXECUTE ivf_null_bf('{1,2}');
DEALLOCATE ALL;
RESET plan_cache_mode;

--
-- wrong dimensions in the query
--
SELECT id FROM ivf_items ORDER BY e <-> '[1,2,3]'::i8vec LIMIT 1;
SELECT id FROM ivf_items ORDER BY e <-> '{1,2,3}'::real[] LIMIT 1;
SELECT id FROM ivf_items ORDER BY e <#> '{1,2,3}'::float8[] LIMIT 1;
SELECT id FROM ivf_items ORDER BY e <=> '[1,2,3]'::i8vec LIMIT 1;
SELECT id FROM ivf_items ORDER BY b <~> '101'::bitvec LIMIT 1;
SELECT id FROM ivf_items ORDER BY b <#> '{1,2,3}'::real[] LIMIT 1;
-- bad query values are rejected as the operators reject them
SELECT id FROM ivf_items ORDER BY e <-> array_fill('NaN'::real, ARRAY[32]) LIMIT 1;
SELECT id FROM ivf_items ORDER BY b <#> '{{1,2},{3,4}}'::real[] LIMIT 1;
SELECT id FROM ivf_items ORDER BY e <-> array_fill(NULL::real, ARRAY[32]) LIMIT 1;
RESET enable_seqscan;

--
-- REINDEX and CREATE INDEX CONCURRENTLY
--
REINDEX INDEX ivf_items_l2;
REINDEX TABLE ivf_items;
DROP INDEX ivf_items_ham;
CREATE INDEX CONCURRENTLY ivf_items_ham ON ivf_items USING embq_ivf (b) WITH (lists = 10);
SELECT indisvalid, indisready FROM pg_index WHERE indexrelid = 'ivf_items_ham'::regclass;
DROP INDEX ivf_items_cos;
CREATE INDEX CONCURRENTLY ivf_items_cos ON ivf_items USING embq_ivf (e i8vec_cosine_ops) WITH (lists = 50, layout = signs);
SELECT indisvalid, indisready FROM pg_index WHERE indexrelid = 'ivf_items_cos'::regclass;
REINDEX INDEX CONCURRENTLY ivf_items_bip;
SET enable_seqscan = off;
SET embq.probes = 50;
TRUNCATE ivf_index_result;
INSERT INTO ivf_index_result SELECT * FROM ivf_knn;
SELECT * FROM ivf_compare;
RESET enable_seqscan;

--
-- empty table: the index builds, scans return nothing, inserts work
--
CREATE TABLE ivf_empty (id int, e i8vec(16), b bitvec(16)) WITH (autovacuum_enabled = off);
CREATE INDEX ivf_empty_l2 ON ivf_empty USING embq_ivf (e) WITH (lists = 10);
CREATE INDEX ivf_empty_cos ON ivf_empty USING embq_ivf (e i8vec_cosine_ops);
CREATE INDEX ivf_empty_ham ON ivf_empty USING embq_ivf (b);
SET enable_seqscan = off;
SELECT id FROM ivf_empty ORDER BY e <-> '[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]' LIMIT 5;
SELECT id FROM ivf_empty ORDER BY e <=> array_fill(1::real, ARRAY[16]) LIMIT 5;
SELECT id FROM ivf_empty ORDER BY b <~> '1010101010101010' LIMIT 5;
INSERT INTO ivf_empty
SELECT i, quantize_int8(f), quantize_binary(f)
FROM generate_series(1, 500) i,
     LATERAL (SELECT array_agg(sin(i * 1.37 * j + j)::real ORDER BY j) AS f FROM generate_series(1, 16) j) a;
SELECT count(*) FROM (SELECT id FROM ivf_empty ORDER BY e <-> '[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]') s;
SELECT (SELECT array_agg(id) FROM (SELECT id FROM ivf_empty
          ORDER BY e <-> '[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]' LIMIT 10) s) AS l2,
       (SELECT array_agg(id) FROM (SELECT id FROM ivf_empty
          ORDER BY e <=> '{1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1}'::real[] LIMIT 10) s) AS cos,
       (SELECT array_agg(id) FROM (SELECT id FROM ivf_empty
          ORDER BY b <~> '1010101010101010', id LIMIT 10) s) AS hamming;
RESET enable_seqscan;
SET enable_indexscan = off;
SELECT (SELECT array_agg(id) FROM (SELECT id FROM ivf_empty
          ORDER BY e <-> '[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]' LIMIT 10) s) AS l2,
       (SELECT array_agg(id) FROM (SELECT id FROM ivf_empty
          ORDER BY e <=> '{1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1}'::real[] LIMIT 10) s) AS cos,
       (SELECT array_agg(id) FROM (SELECT id FROM ivf_empty
          ORDER BY b <~> '1010101010101010', id LIMIT 10) s) AS hamming;
RESET enable_indexscan;

--
-- tiny tables: one row; fewer rows than lists (lists are capped, with a notice)
--
SET client_min_messages = notice;
CREATE TABLE ivf_one (id int, e i8vec(3), b bitvec(3)) WITH (autovacuum_enabled = off);
INSERT INTO ivf_one VALUES (1, '[1,2,3]', '101');
CREATE INDEX ivf_one_l2 ON ivf_one USING embq_ivf (e) WITH (lists = 10);
CREATE INDEX ivf_one_ham ON ivf_one USING embq_ivf (b);
SET enable_seqscan = off;
SELECT id, e <-> '[3,2,1]' AS d FROM ivf_one ORDER BY e <-> '[3,2,1]' LIMIT 5;
SELECT id, e <-> '{3,2,1}'::real[] AS d FROM ivf_one ORDER BY e <-> '{3,2,1}'::real[] LIMIT 5;
SELECT id, b <~> '011' AS d FROM ivf_one ORDER BY b <~> '011' LIMIT 5;
INSERT INTO ivf_one VALUES (2, '[3,2,1]', '011');
SELECT id, e <-> '[3,2,1]' AS d FROM ivf_one ORDER BY e <-> '[3,2,1]' LIMIT 5;
SELECT id, b <~> '011' AS d FROM ivf_one ORDER BY b <~> '011' LIMIT 5;
RESET enable_seqscan;
CREATE TABLE ivf_few (id int, e i8vec(2)) WITH (autovacuum_enabled = off);
INSERT INTO ivf_few VALUES (1, '[1,0]'), (2, '[0,1]'), (3, '[-1,0]'), (4, '[0,-1]'), (5, '[1,1]');
CREATE INDEX ivf_few_l2 ON ivf_few USING embq_ivf (e) WITH (lists = 100);
SET client_min_messages = warning;
SET enable_seqscan = off;
SET embq.probes = 1;
SELECT id, round((e <-> '[0.9,0.2]')::numeric, 6) AS d FROM ivf_few ORDER BY e <-> '[0.9,0.2]';
-- every row deleted and vacuumed: nothing is returned; new rows are
DELETE FROM ivf_few;
VACUUM ivf_few;
SELECT relname, reltuples FROM pg_class WHERE relname = 'ivf_few_l2';
SELECT id FROM ivf_few ORDER BY e <-> '[0.9,0.2]';
SELECT pg_relation_size('ivf_few_l2') AS few_size \gset
INSERT INTO ivf_few VALUES (6, '[0.5,0.5]'), (7, '[-0.5,0.5]');
SELECT id FROM ivf_few ORDER BY e <-> '[0.9,0.2]';
SELECT pg_relation_size('ivf_few_l2') = :few_size AS same_size;
RESET enable_seqscan;

--
-- NULLs are not indexed and not returned by index scans
--
CREATE TABLE ivf_nulls (id int, e i8vec(16), b bitvec(16)) WITH (autovacuum_enabled = off);
INSERT INTO ivf_nulls
SELECT i, CASE WHEN i % 3 <> 0 THEN quantize_int8(f) END, CASE WHEN i % 4 <> 0 THEN quantize_binary(f) END
FROM generate_series(1, 300) i,
     LATERAL (SELECT array_agg(cos(i * 0.91 * j + j)::real ORDER BY j) AS f FROM generate_series(1, 16) j) a;
CREATE INDEX ivf_nulls_l2 ON ivf_nulls USING embq_ivf (e) WITH (lists = 4);
CREATE INDEX ivf_nulls_ham ON ivf_nulls USING embq_ivf (b) WITH (lists = 4);
INSERT INTO ivf_nulls VALUES (301, NULL, NULL), (302, '[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]', '1111000011110000');
SET enable_seqscan = off;
SELECT count(*), count(e) AS nonnull FROM (SELECT id, e FROM ivf_nulls
  ORDER BY e <-> '[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]') s;
SELECT count(*), count(b) AS nonnull FROM (SELECT id, b FROM ivf_nulls ORDER BY b <~> '1111000011110000') s;
SELECT id FROM ivf_nulls ORDER BY e <-> '[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]' LIMIT 1;
RESET enable_seqscan;
-- a sequential scan returns the NULL rows last
SET enable_indexscan = off;
SELECT count(*), count(e) AS nonnull FROM (SELECT id, e FROM ivf_nulls
  ORDER BY e <-> '[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]') s;
RESET enable_indexscan;
VACUUM ivf_nulls;
SELECT relname, reltuples FROM pg_class WHERE relname IN ('ivf_nulls_l2', 'ivf_nulls_ham') ORDER BY 1;

--
-- zero vectors: cosine distance is NaN, which sorts last, as in a sort
--
CREATE TABLE ivf_zero (id int, e i8vec(4)) WITH (autovacuum_enabled = off);
INSERT INTO ivf_zero VALUES (1, '[0,0,0,0]'), (2, '[1,2,3,4]'), (3, '[4,3,2,1]'), (4, '[0,0,0,0]'), (5, '[1,1,1,1]');
CREATE INDEX ivf_zero_cos ON ivf_zero USING embq_ivf (e i8vec_cosine_ops) WITH (lists = 2);
SET enable_seqscan = off;
SET embq.probes = 2;
SELECT id, round((e <=> '[1,2,3,5]')::numeric, 6) AS d FROM ivf_zero ORDER BY e <=> '[1,2,3,5]';
SELECT id, round((e <=> '{1,2,3,5}'::real[])::numeric, 6) AS d FROM ivf_zero ORDER BY e <=> '{1,2,3,5}'::real[];
RESET enable_seqscan;

--
-- unlogged table; TRUNCATE; TRUNCATE in the transaction that built the index
--
CREATE UNLOGGED TABLE ivf_unlogged WITH (autovacuum_enabled = off) AS SELECT id, e, b FROM ivf_items WHERE id <= 1000;
CREATE INDEX ivf_unlogged_l2 ON ivf_unlogged USING embq_ivf (e) WITH (lists = 10);
CREATE INDEX ivf_unlogged_ham ON ivf_unlogged USING embq_ivf (b) WITH (lists = 10);
SET enable_seqscan = off;
SET embq.probes = 10;
SELECT count(*) FROM (SELECT id FROM ivf_unlogged ORDER BY e <-> (SELECT qe FROM ivf_queries WHERE qid = 1)) s;
TRUNCATE ivf_unlogged;
SELECT count(*) FROM (SELECT id FROM ivf_unlogged ORDER BY e <-> (SELECT qe FROM ivf_queries WHERE qid = 1)) s;
SELECT count(*) FROM (SELECT id FROM ivf_unlogged ORDER BY b <~> (SELECT qb FROM ivf_queries WHERE qid = 1)) s;
INSERT INTO ivf_unlogged SELECT id, e, b FROM ivf_items WHERE id <= 300;
SELECT count(*) FROM (SELECT id FROM ivf_unlogged ORDER BY b <~> (SELECT qb FROM ivf_queries WHERE qid = 1)) s;
CREATE TABLE ivf_unlogged_index WITH (autovacuum_enabled = off) AS
SELECT q.qid, (SELECT array_agg(id) FROM (SELECT id FROM ivf_unlogged ORDER BY e <-> q.qe LIMIT 10) s) AS l2,
       (SELECT array_agg(id) FROM (SELECT id FROM ivf_unlogged ORDER BY b <~> q.qb LIMIT 10) s) AS hamming
FROM ivf_queries q;
RESET enable_seqscan;
SET enable_indexscan = off;
SELECT count(*) FILTER (WHERE u.l2 = x.l2) AS same_l2, count(*) FILTER (WHERE u.hamming = x.hamming) AS same_hamming
FROM ivf_unlogged_index u JOIN (
  SELECT q.qid, (SELECT array_agg(id) FROM (SELECT id FROM ivf_unlogged ORDER BY e <-> q.qe, ctid LIMIT 10) s) AS l2,
         (SELECT array_agg(id) FROM (SELECT id FROM ivf_unlogged ORDER BY b <~> q.qb, ctid LIMIT 10) s) AS hamming
  FROM ivf_queries q) x USING (qid);
RESET enable_indexscan;
REINDEX TABLE ivf_unlogged;
SET enable_seqscan = off;
SELECT count(*) FROM (SELECT id FROM ivf_unlogged ORDER BY e <-> (SELECT qe FROM ivf_queries WHERE qid = 1)) s;
RESET enable_seqscan;
-- TRUNCATE of a table created in the same transaction truncates the index in
-- place (same relfilenode): the rebuilt index has fewer lists
BEGIN;
CREATE TABLE ivf_tx (id int, e i8vec(32)) WITH (autovacuum_enabled = off);
INSERT INTO ivf_tx SELECT id, e FROM ivf_items;
CREATE INDEX ivf_tx_l2 ON ivf_tx USING embq_ivf (e) WITH (lists = 40);
SET LOCAL enable_seqscan = off;
SET LOCAL embq.probes = 1;
SELECT count(*) FROM (SELECT id FROM ivf_tx ORDER BY e <-> (SELECT qe FROM ivf_queries WHERE qid = 1) LIMIT 5) s;
TRUNCATE ivf_tx;
INSERT INTO ivf_tx SELECT id, e FROM ivf_items WHERE id <= 100;
SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM ivf_tx ORDER BY e <-> (SELECT qe FROM ivf_queries WHERE qid = 1)) s;
COMMIT;

--
-- large dimensions: i8vec up to 8000 (a code must fit on a page), bitvec up to 64000
--
CREATE TABLE ivf_wide (id int, e i8vec(8000), e2 i8vec(8001), b bitvec(64000)) WITH (autovacuum_enabled = off);
CREATE INDEX ivf_wide_e2 ON ivf_wide USING embq_ivf (e2);
INSERT INTO ivf_wide
SELECT i, quantize_int8(f), NULL, quantize_binary(f || f || f || f || f || f || f || f)
FROM generate_series(1, 3) i,
     LATERAL (SELECT array_agg(sin(i * j * 0.01)::real ORDER BY j) AS f FROM generate_series(1, 8000) j) a;
CREATE INDEX ivf_wide_e ON ivf_wide USING embq_ivf (e) WITH (lists = 2);
CREATE INDEX ivf_wide_b ON ivf_wide USING embq_ivf (b) WITH (lists = 2);
INSERT INTO ivf_wide
SELECT 4, quantize_int8(f), NULL, quantize_binary(f || f || f || f || f || f || f || f)
FROM (SELECT array_agg(cos(j * 0.01)::real ORDER BY j) AS f FROM generate_series(1, 8000) j) a;
SET enable_seqscan = off;
SET embq.probes = 2;
SELECT id, e <-> (SELECT e FROM ivf_wide WHERE id = 2) = 0 AS self
FROM ivf_wide ORDER BY e <-> (SELECT e FROM ivf_wide WHERE id = 2) LIMIT 4;
SELECT id FROM ivf_wide ORDER BY e <#> dequantize((SELECT e FROM ivf_wide WHERE id = 4)) LIMIT 1;
SELECT id, b <~> (SELECT b FROM ivf_wide WHERE id = 3) AS d
FROM ivf_wide ORDER BY b <~> (SELECT b FROM ivf_wide WHERE id = 3) LIMIT 1;
RESET enable_seqscan;

--
-- errors
--
-- no dimensions in the column's type
CREATE TABLE ivf_notypmod (e i8vec, b bitvec);
CREATE INDEX ON ivf_notypmod USING embq_ivf (e);
CREATE INDEX ON ivf_notypmod USING embq_ivf (b);
CREATE INDEX ON ivf_notypmod USING embq_ivf (e i8vec_cosine_ops);
-- an expression index needs dimensions too, which a cast gives
CREATE INDEX ON ivf_items USING embq_ivf (quantize_int8(f));
CREATE INDEX ivf_items_expr ON ivf_items USING embq_ivf ((quantize_int8(f)::i8vec(32))) WITH (lists = 4);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM ivf_items
  ORDER BY quantize_int8(f)::i8vec(32) <-> (SELECT qe FROM ivf_queries WHERE qid = 1) LIMIT 5;
RESET enable_seqscan;
DROP INDEX ivf_items_expr;
-- options
CREATE INDEX ON ivf_items USING embq_ivf (e) WITH (lists = -1);
CREATE INDEX ON ivf_items USING embq_ivf (e) WITH (lists = 100000);
CREATE INDEX ON ivf_items USING embq_ivf (e) WITH (lists = 65537);
CREATE INDEX ON ivf_items USING embq_ivf (e) WITH (sample_rows = -1);
CREATE INDEX ON ivf_items USING embq_ivf (e) WITH (lists = 'many');
CREATE INDEX ON ivf_items USING embq_ivf (e) WITH (probes = 4);
CREATE INDEX ON ivf_items USING embq_ivf (e) WITH (lists = 4, lists = 5);
-- settings
SET embq.probes = 0;
SET embq.rescore_factor = 0;
SET embq.max_probes = -1;
SET embq.no_such_setting = 1;
-- what the access method does not do
CREATE INDEX ON ivf_items USING embq_ivf (e, b);
CREATE UNIQUE INDEX ON ivf_items USING embq_ivf (e);
CREATE INDEX ON ivf_items USING embq_ivf (e) INCLUDE (id);
CREATE INDEX ON ivf_items USING embq_ivf (f);
CREATE INDEX ON ivf_items USING embq_ivf (e bitvec_hamming_ops);
CREATE INDEX ON ivf_items USING embq_ivf (b i8vec_l2_ops);
CREATE INDEX ON ivf_items USING embq_ivf (id);

DROP VIEW ivf_top10;
DROP TABLE ivf_items, ivf_queries, ivf_ref, ivf_index_result, ivf_sizes, ivf_empty, ivf_one, ivf_few,
  ivf_nulls, ivf_zero, ivf_unlogged, ivf_unlogged_index, ivf_tx, ivf_wide, ivf_notypmod CASCADE;
RESET ALL;

-- sampling and training stay within maintenance_work_mem: fewer sampled
-- rows with a NOTICE when 4 rows per list still fit, else a clear error.
-- On the CPU an i8vec index trains on its sampled codes (2004 bytes a row
-- at 2000 dimensions, and 20 bytes of workspace): 20 lists need 0.54 MB
-- besides (centroids and workspace), leaving room for 238 of the 1000 rows
-- wanted; 30 lists (0.81 MB) leave room for 98 rows, fewer than 4 per
-- list.  A bitvec index trains on its bits as int8 codes, 8004 bytes
-- a row at 8000 bits besides the 1000-byte sample row: 4 lists (0.4 MB)
-- leave room for 69 of the 200 rows wanted.
CREATE TABLE ivf_mem (e i8vec(2000));
INSERT INTO ivf_mem SELECT quantize_int8(array(SELECT sin(i * j)::real FROM generate_series(1, 2000) j))
FROM generate_series(1, 3000) i;
SET client_min_messages = notice;
SET maintenance_work_mem = '1MB';
CREATE INDEX ivf_mem_small ON ivf_mem USING embq_ivf (e) WITH (lists = 20);
SELECT lists FROM embq_ivf_info('ivf_mem_small');
CREATE INDEX ivf_mem_fail ON ivf_mem USING embq_ivf (e) WITH (lists = 30);
CREATE TABLE ivf_memb (b bitvec(8000));
INSERT INTO ivf_memb SELECT quantize_binary(array(SELECT sin(i * j + j)::real FROM generate_series(1, 8000) j))
FROM generate_series(1, 400) i;
CREATE INDEX ivf_memb_small ON ivf_memb USING embq_ivf (b) WITH (lists = 4);
SELECT lists FROM embq_ivf_info('ivf_memb_small');
RESET maintenance_work_mem;
RESET client_min_messages;
DROP TABLE ivf_mem, ivf_memb;

-- the planner picks the index by cost alone when probes cover a fraction of
-- the lists, and a sequential scan when a query has no ORDER BY to serve
CREATE TABLE ivf_plan (id int, e i8vec(64));
INSERT INTO ivf_plan SELECT i, quantize_int8(array(SELECT sin(i * j + j)::real FROM generate_series(1, 64) j))
FROM generate_series(1, 20000) i;
CREATE INDEX ivf_plan_e ON ivf_plan USING embq_ivf (e) WITH (lists = 100);
ANALYZE ivf_plan;
EXPLAIN (COSTS OFF) SELECT id FROM ivf_plan ORDER BY e <-> (SELECT e FROM ivf_plan WHERE id = 1) LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM ivf_plan ORDER BY e <-> array_fill(0.5, ARRAY[64])::real[] LIMIT 10;
EXPLAIN (COSTS OFF) SELECT count(*) FROM ivf_plan WHERE e IS NOT NULL;
DROP TABLE ivf_plan;
