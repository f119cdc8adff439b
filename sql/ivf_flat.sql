SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS embq;
SET jit = off;

--
-- embq_ivf WITH (layout = 'flat'): data pages hold the rows' int8 codes
-- themselves, so the coarse pass computes the exact distance of every
-- probed row and nothing is rescored.  Whatever the probes, each segment of
-- probed lists comes back in exact distance order; with every list probed
-- the index returns exactly what a sequential scan returns.  auto (the
-- default) picks flat up to 160 dimensions and signs above.
--
-- Data are deterministic: 48-dim vectors from sin/cos of id * j; i8vec
-- distances have no ties among these rows and queries.
--

CREATE TABLE fl (id int PRIMARY KEY, e i8vec(48)) WITH (autovacuum_enabled = off);
INSERT INTO fl
SELECT i, (SELECT array_agg((sin(i * 0.517 * j + j * j * 0.11) + 0.5 * cos(i * 0.07 + j))::real ORDER BY j)
           FROM generate_series(1, 48) j)::i8vec
FROM generate_series(1, 4000) i;
CREATE TABLE fl_q WITH (autovacuum_enabled = off) AS
SELECT qid, qf, quantize_int8(qf) AS qe
FROM generate_series(1, 12) qid,
     LATERAL (SELECT array_agg((cos(qid * 1.37 * j + j * 0.29) + 0.4 * sin(qid * j))::real ORDER BY j) AS qf
              FROM generate_series(1, 48) j) a;

CREATE INDEX fl_l2 ON fl USING embq_ivf (e) WITH (lists = 30, layout = 'flat');
CREATE INDEX fl_ip ON fl USING embq_ivf (e i8vec_ip_ops) WITH (lists = 7, layout = flat);
CREATE INDEX fl_cos ON fl USING embq_ivf (e i8vec_cosine_ops) WITH (lists = 40);
SELECT c.relname, c.reloptions, i.lists, i.dims, i.metric, i.layout
FROM pg_class c, LATERAL embq_ivf_info(c.oid) i
WHERE c.relname IN ('fl_l2', 'fl_ip', 'fl_cos') ORDER BY c.relname;

-- the 60 nearest rows of every query, for each operator and query type:
-- fl_knn the plain ORDER BY ... LIMIT the index serves, fl_knn_exact the
-- reference, ties broken by ctid (views, planned at each use: a function's
-- plan may be cached across the settings that choose the scan)
CREATE VIEW fl_knn AS
SELECT 'l2 i8vec' AS kind, q.qid, k.* FROM fl_q q, LATERAL (SELECT array_agg(id) AS ids, array_agg(d) AS ds FROM (
  SELECT id, e <-> q.qe AS d FROM fl ORDER BY e <-> q.qe LIMIT 60) s) k
UNION ALL SELECT 'l2 real[]', q.qid, k.* FROM fl_q q, LATERAL (SELECT array_agg(id), array_agg(d) FROM (
  SELECT id, e <-> q.qf AS d FROM fl ORDER BY e <-> q.qf LIMIT 60) s) k
UNION ALL SELECT 'ip i8vec', q.qid, k.* FROM fl_q q, LATERAL (SELECT array_agg(id), array_agg(d) FROM (
  SELECT id, e <#> q.qe AS d FROM fl ORDER BY e <#> q.qe LIMIT 60) s) k
UNION ALL SELECT 'ip real[]', q.qid, k.* FROM fl_q q, LATERAL (SELECT array_agg(id), array_agg(d) FROM (
  SELECT id, e <#> q.qf AS d FROM fl ORDER BY e <#> q.qf LIMIT 60) s) k
UNION ALL SELECT 'cos i8vec', q.qid, k.* FROM fl_q q, LATERAL (SELECT array_agg(id), array_agg(d) FROM (
  SELECT id, e <=> q.qe AS d FROM fl ORDER BY e <=> q.qe LIMIT 60) s) k
UNION ALL SELECT 'cos real[]', q.qid, k.* FROM fl_q q, LATERAL (SELECT array_agg(id), array_agg(d) FROM (
  SELECT id, e <=> q.qf AS d FROM fl ORDER BY e <=> q.qf LIMIT 60) s) k;
CREATE VIEW fl_knn_exact AS
SELECT 'l2 i8vec' AS kind, q.qid, k.* FROM fl_q q, LATERAL (SELECT array_agg(id) AS ids, array_agg(d) AS ds FROM (
  SELECT id, e <-> q.qe AS d FROM fl ORDER BY e <-> q.qe, ctid LIMIT 60) s) k
UNION ALL SELECT 'l2 real[]', q.qid, k.* FROM fl_q q, LATERAL (SELECT array_agg(id), array_agg(d) FROM (
  SELECT id, e <-> q.qf AS d FROM fl ORDER BY e <-> q.qf, ctid LIMIT 60) s) k
UNION ALL SELECT 'ip i8vec', q.qid, k.* FROM fl_q q, LATERAL (SELECT array_agg(id), array_agg(d) FROM (
  SELECT id, e <#> q.qe AS d FROM fl ORDER BY e <#> q.qe, ctid LIMIT 60) s) k
UNION ALL SELECT 'ip real[]', q.qid, k.* FROM fl_q q, LATERAL (SELECT array_agg(id), array_agg(d) FROM (
  SELECT id, e <#> q.qf AS d FROM fl ORDER BY e <#> q.qf, ctid LIMIT 60) s) k
UNION ALL SELECT 'cos i8vec', q.qid, k.* FROM fl_q q, LATERAL (SELECT array_agg(id), array_agg(d) FROM (
  SELECT id, e <=> q.qe AS d FROM fl ORDER BY e <=> q.qe, ctid LIMIT 60) s) k
UNION ALL SELECT 'cos real[]', q.qid, k.* FROM fl_q q, LATERAL (SELECT array_agg(id), array_agg(d) FROM (
  SELECT id, e <=> q.qf AS d FROM fl ORDER BY e <=> q.qf, ctid LIMIT 60) s) k;
-- the index serves the plain queries
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM fl ORDER BY e <=> (SELECT qf FROM fl_q WHERE qid = 1) LIMIT 60;
RESET enable_seqscan;

SET enable_indexscan = off;
CREATE TABLE fl_ref AS SELECT * FROM fl_knn_exact;
RESET enable_indexscan;
CREATE TABLE fl_res (LIKE fl_ref);
CREATE VIEW fl_compare AS
SELECT r.kind, count(*) AS queries,
       count(*) FILTER (WHERE i.ids = r.ids) AS same_ids,
       count(*) FILTER (WHERE i.ds = r.ds) AS same_distances,
       count(*) FILTER (WHERE EXISTS (SELECT FROM generate_subscripts(i.ds, 1) n
                                      WHERE n > 1 AND i.ds[n] < i.ds[n - 1])) AS unordered,
       sum((SELECT count(*) FROM unnest(i.ids[1:10]) x WHERE x = ANY (r.ids[1:10]))) AS top10_found
FROM fl_ref r JOIN fl_res i USING (kind, qid)
GROUP BY r.kind ORDER BY r.kind;

-- every list probed: exactly the sequential scan, ids and distances
SET enable_seqscan = off;
SET embq.probes = 40;
-- (fl_knn's six scans are index scans, none a sequential scan of fl)
CREATE FUNCTION fl_plan_scans(OUT index_scans int, OUT seq_scans_of_fl int) AS $$
DECLARE
    l text;
BEGIN
    index_scans := 0;
    seq_scans_of_fl := 0;
    FOR l IN EXECUTE 'EXPLAIN (COSTS OFF) SELECT * FROM fl_knn' LOOP
        IF l ~ 'Index Scan using fl_(l2|ip|cos) on fl\M' THEN
            index_scans := index_scans + 1;
        END IF;
        IF l ~ 'Seq Scan on fl\M' THEN
            seq_scans_of_fl := seq_scans_of_fl + 1;
        END IF;
    END LOOP;
END
$$ LANGUAGE plpgsql;
SELECT * FROM fl_plan_scans();
INSERT INTO fl_res SELECT * FROM fl_knn;
SELECT * FROM fl_compare;
-- the portable kernels (as on a CPU without AVX2) give the same rows
SET embq.cpu_kernels = portable;
TRUNCATE fl_res;
INSERT INTO fl_res SELECT * FROM fl_knn;
SELECT * FROM fl_compare;
RESET embq.cpu_kernels;
-- nothing is rescored: the rescoring factor changes nothing
SET embq.rescore_factor = 1;
TRUNCATE fl_res;
INSERT INTO fl_res SELECT * FROM fl_knn;
SELECT * FROM fl_compare;
RESET embq.rescore_factor;

-- a few lists probed: the rows of the probed lists come back in exact
-- order (unordered = 0), with part of the exact top 10 (of 120) among them
SET embq.probes = 4;
TRUNCATE fl_res;
INSERT INTO fl_res SELECT * FROM fl_knn;
SELECT kind, queries, unordered, top10_found, top10_found < 120 AS approximate FROM fl_compare;

-- one list probed: the scan goes on to the next lists when the executor
-- wants more rows (a filter, a LIMIT past the list, no LIMIT), each row once
SET embq.probes = 1;
SELECT count(*), count(DISTINCT id), bool_and(id % 10 = 0) AS all_match
FROM (SELECT id FROM fl WHERE id % 10 = 0
      ORDER BY e <-> (SELECT qe FROM fl_q WHERE qid = 1) LIMIT 20) s;
SELECT count(*), count(DISTINCT id), bool_and(id % 10 = 0) AS all_match
FROM (SELECT id FROM fl WHERE id % 10 = 0
      ORDER BY e <=> (SELECT qf FROM fl_q WHERE qid = 2) LIMIT 20) s;
SELECT count(*), count(DISTINCT id)
FROM (SELECT id FROM fl ORDER BY e <#> (SELECT qf FROM fl_q WHERE qid = 3)) s;
SELECT count(*) FROM (SELECT id FROM fl WHERE id < 0
      ORDER BY e <-> (SELECT qe FROM fl_q WHERE qid = 1) LIMIT 20) s;
-- and the first list's rows are the exact nearest rows of that list:
-- a row is its own nearest neighbour with one probe
SELECT count(*) FILTER (WHERE (SELECT id FROM fl f2 ORDER BY f2.e <-> f1.e LIMIT 1) = f1.id) AS l2_self,
       count(*) FILTER (WHERE (SELECT id FROM fl f2 ORDER BY f2.e <=> f1.e LIMIT 1) = f1.id) AS cos_self
FROM fl f1 WHERE id % 100 = 0;

-- inserts after the build, then deletes and VACUUM: still exactly the
-- sequential scan with every list probed
INSERT INTO fl
SELECT 4000 + i, (SELECT array_agg((cos(i * 0.91 * j) + 0.3 * sin(i + j * 0.5))::real ORDER BY j)
                  FROM generate_series(1, 48) j)::i8vec
FROM generate_series(1, 1000) i;
DELETE FROM fl WHERE id % 3 = 0;
VACUUM fl;
INSERT INTO fl
SELECT 6000 + i, (SELECT array_agg(sin(i * 1.3 + j * 0.21)::real ORDER BY j) FROM generate_series(1, 48) j)::i8vec
FROM generate_series(1, 300) i;
RESET enable_seqscan;
SET enable_indexscan = off;
TRUNCATE fl_ref;
INSERT INTO fl_ref SELECT * FROM fl_knn_exact;
RESET enable_indexscan;
SET enable_seqscan = off;
SET embq.probes = 40;
TRUNCATE fl_res;
INSERT INTO fl_res SELECT * FROM fl_knn;
SELECT * FROM fl_compare;
-- the new rows are found: each is its own nearest row
SET embq.probes = 1;
SELECT count(*) FILTER (WHERE (SELECT id FROM fl f2 ORDER BY f2.e <-> f1.e LIMIT 1) = f1.id) AS self
FROM fl f1 WHERE id > 6000 AND id % 10 = 0;
RESET embq.probes;
RESET enable_seqscan;

-- auto: flat up to 160 dimensions, signs above; signs can be asked for at
-- any size, flat up to the largest i8vec an index takes
CREATE TABLE fl_dims (a i8vec(160), b i8vec(161), c i8vec(1024), d bitvec(64));
INSERT INTO fl_dims
SELECT (SELECT array_agg(sin(i + j)::real) FROM generate_series(1, 160) j),
       (SELECT array_agg(sin(i + j)::real) FROM generate_series(1, 161) j),
       (SELECT array_agg(sin(i + j)::real) FROM generate_series(1, 1024) j),
       quantize_binary((SELECT array_agg(sin(i + j)::real) FROM generate_series(1, 64) j))
FROM generate_series(1, 50) i;
CREATE INDEX fl_dims_a ON fl_dims USING embq_ivf (a) WITH (lists = 2);
CREATE INDEX fl_dims_b ON fl_dims USING embq_ivf (b) WITH (lists = 2);
CREATE INDEX fl_dims_c ON fl_dims USING embq_ivf (c) WITH (lists = 2, layout = auto);
CREATE INDEX fl_dims_c_flat ON fl_dims USING embq_ivf (c) WITH (lists = 2, layout = flat);
CREATE INDEX fl_dims_a_signs ON fl_dims USING embq_ivf (a) WITH (lists = 2, layout = signs);
CREATE INDEX fl_dims_d ON fl_dims USING embq_ivf (d) WITH (lists = 2, layout = flat);
SELECT c.relname, i.dims, i.layout, i.rows_per_page
FROM pg_class c, LATERAL embq_ivf_info(c.oid) i
WHERE c.relname LIKE 'fl_dims_%' ORDER BY c.relname;
-- a layout bitvec has not: a WARNING, and the index is flat (an error
-- would surface only at the next TRUNCATE or REINDEX after an ALTER INDEX)
CREATE INDEX fl_dims_d_signs ON fl_dims USING embq_ivf (d) WITH (lists = 2, layout = signs);
SELECT layout FROM embq_ivf_info('fl_dims_d_signs');
-- a layout that does not exist: an error
CREATE INDEX ON fl_dims USING embq_ivf (a) WITH (layout = 'tiered');
-- the option is fixed at build time: changing it needs a REINDEX
ALTER INDEX fl_dims_a SET (layout = signs);
SELECT layout FROM embq_ivf_info('fl_dims_a');
REINDEX INDEX fl_dims_a;
SELECT layout FROM embq_ivf_info('fl_dims_a');

-- the expression-index route: a table that keeps only its floats (as a
-- pgvector table keeps a vector column, through its cast to real[]) indexed
-- on their codes; a query that repeats the expression uses the index, which
-- holds the codes, so it needs no code column
CREATE TABLE fl_float (id int PRIMARY KEY, f real[]) WITH (autovacuum_enabled = off);
INSERT INTO fl_float
SELECT i, array(SELECT (sin(i * 0.517 * j + j * j * 0.11) + 0.5 * cos(i * 0.07 + j))::real
                FROM generate_series(1, 48) j)
FROM generate_series(1, 2000) i;
CREATE INDEX fl_float_expr ON fl_float
  USING embq_ivf ((quantize_int8(f)::i8vec(48)) i8vec_cosine_ops) WITH (lists = 20);
SELECT layout, dims, metric FROM embq_ivf_info('fl_float_expr');
SET enable_seqscan = off;
SET embq.probes = 20;
EXPLAIN (COSTS OFF) SELECT id FROM fl_float
  ORDER BY quantize_int8(f)::i8vec(48) <=> (SELECT qf FROM fl_q WHERE qid = 1) LIMIT 10;
CREATE TEMP TABLE fl_expr_idx AS
SELECT qid, ARRAY(SELECT id FROM fl_float ORDER BY quantize_int8(f)::i8vec(48) <=> q.qf LIMIT 20) AS ids
FROM fl_q q;
RESET enable_seqscan;
SET enable_indexscan = off;
-- every list probed: the same rows in the same order as the sequential scan
SELECT count(*) AS queries,
       count(*) FILTER (WHERE i.ids = ARRAY(SELECT id FROM fl_float
                                            ORDER BY quantize_int8(f)::i8vec(48) <=> q.qf, ctid
                                            LIMIT 20)) AS same
FROM fl_q q JOIN fl_expr_idx i USING (qid);
RESET enable_indexscan;
RESET embq.probes;
DROP TABLE fl_float;

DROP TABLE fl, fl_q, fl_ref, fl_res, fl_dims CASCADE;
DROP FUNCTION fl_plan_scans;
