SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS embq;
SET jit = off;

--
-- Parallel builds of embq_ivf.  With parallel workers, CREATE INDEX
-- assigns rows to lists in the workers and the leader, each over its share
-- of the table into its own sort run, and the leader merges the runs.  The
-- centroids come from the same serial sample either way (the workers help
-- train, assigning sample rows as the leader would, while the leader
-- updates the centroids), so a parallel build must put every row in the
-- list a serial build puts it in: the same list sizes and the same nearest
-- rows with one list probed, and every row exactly once.
--
-- The table's parallel_workers option asks for two workers whatever its
-- size; max_parallel_maintenance_workers = 0 gives the serial build.
--

CREATE TABLE par_items (id int, e i8vec(48), b bitvec(96))
	WITH (autovacuum_enabled = off, parallel_workers = 2);
INSERT INTO par_items
SELECT i, quantize_int8(f), quantize_binary(f || f)
FROM generate_series(1, 20000) i,
     LATERAL (SELECT array_agg(sin(i * 0.377 * j + j * j * 0.11)::real ORDER BY j) AS f
              FROM generate_series(1, 48) j) a;
CREATE TABLE par_queries AS SELECT id AS q, e, b FROM par_items WHERE id % 977 = 13;
SELECT count(*) FROM par_queries;

SET maintenance_work_mem = '256MB';
SET embq.probes = 1;
SET embq.max_probes = 1;

-- per query: the rows of its nearest list, and its 10 nearest rows there
CREATE VIEW par_l2_lists AS
SELECT q,
       (SELECT count(*) FROM (SELECT id FROM par_items ORDER BY e <-> p.e LIMIT 100000) s) AS n,
       (SELECT array_agg(id) FROM (SELECT id FROM par_items ORDER BY e <-> p.e LIMIT 10) s) AS ids
FROM par_queries p;
CREATE VIEW par_ham_lists AS
SELECT q,
       (SELECT count(*) FROM (SELECT id FROM par_items ORDER BY b <~> p.b LIMIT 100000) s) AS n
FROM par_queries p;

-- serial builds: the reference
SET max_parallel_maintenance_workers = 0;
SET enable_seqscan = off;
CREATE INDEX par_l2 ON par_items USING embq_ivf (e) WITH (lists = 40);
CREATE INDEX par_ham ON par_items USING embq_ivf (b) WITH (lists = 25);
SELECT lists, assigned_on, build_workers FROM embq_ivf_info('par_l2');
SELECT lists, assigned_on, build_workers FROM embq_ivf_info('par_ham');
CREATE TABLE serial_l2 AS SELECT * FROM par_l2_lists;
CREATE TABLE serial_ham AS SELECT * FROM par_ham_lists;
-- the nearest lists are not all alike (else the comparison proves little)
SELECT count(DISTINCT n) > 3 AS varied, sum(n) > 0 AS nonempty FROM serial_l2;
DROP INDEX par_l2, par_ham;

-- parallel builds: the same lists, nearest rows and list sizes
SET max_parallel_maintenance_workers = 2;
CREATE INDEX par_l2 ON par_items USING embq_ivf (e) WITH (lists = 40);
CREATE INDEX par_ham ON par_items USING embq_ivf (b) WITH (lists = 25);
SELECT lists, assigned_on, build_workers > 0 AS parallel FROM embq_ivf_info('par_l2');
SELECT lists, assigned_on, build_workers > 0 AS parallel FROM embq_ivf_info('par_ham');
SELECT count(*) AS queries, count(*) FILTER (WHERE s.n = p.n AND s.ids = p.ids) AS same
FROM serial_l2 s JOIN par_l2_lists p USING (q);
SELECT count(*) AS queries, count(*) FILTER (WHERE s.n = p.n) AS same
FROM serial_ham s JOIN par_ham_lists p USING (q);

-- every row exactly once: all lists probed, everything returned
SET embq.probes = 40;
SET embq.max_probes = 40;
SELECT count(*) AS rows, count(DISTINCT id) AS distinct_rows
FROM (SELECT id FROM par_items ORDER BY e <-> (SELECT e FROM par_items WHERE id = 1) LIMIT 100000) s;
SET embq.probes = 1;
SET embq.max_probes = 1;

-- CREATE INDEX CONCURRENTLY scans with an MVCC snapshot in every participant
DROP INDEX par_l2;
CREATE INDEX CONCURRENTLY par_l2 ON par_items USING embq_ivf (e) WITH (lists = 40);
SELECT lists, build_workers > 0 AS parallel FROM embq_ivf_info('par_l2');
SELECT count(*) AS queries, count(*) FILTER (WHERE s.n = p.n AND s.ids = p.ids) AS same
FROM serial_l2 s JOIN par_l2_lists p USING (q);

-- the workers share k-means' assignment steps too.  With
-- parallel_leader_participation off the leader leaves every step to them,
-- so these centroids come from the workers' assignments alone: still the
-- serial build's lists, for L2, for bitvec (bits trained as int8 0 and 1)
-- and for cosine (unit-length training rows)
SET parallel_leader_participation = off;
DROP INDEX par_l2, par_ham;
CREATE INDEX par_l2 ON par_items USING embq_ivf (e) WITH (lists = 40);
SELECT lists, build_workers > 0 AS parallel FROM embq_ivf_info('par_l2');
SELECT count(*) AS queries, count(*) FILTER (WHERE s.n = p.n AND s.ids = p.ids) AS same
FROM serial_l2 s JOIN par_l2_lists p USING (q);
CREATE INDEX par_ham ON par_items USING embq_ivf (b) WITH (lists = 25);
SELECT lists, build_workers > 0 AS parallel FROM embq_ivf_info('par_ham');
SELECT count(*) AS queries, count(*) FILTER (WHERE s.n = p.n) AS same
FROM serial_ham s JOIN par_ham_lists p USING (q);
SELECT count(DISTINCT n) > 3 AS varied FROM serial_ham;
DROP INDEX par_ham;
CREATE VIEW par_cos_lists AS
SELECT q,
       (SELECT count(*) FROM (SELECT id FROM par_items ORDER BY e <=> p.e LIMIT 100000) s) AS n,
       (SELECT array_agg(id) FROM (SELECT id FROM par_items ORDER BY e <=> p.e LIMIT 10) s) AS ids
FROM par_queries p;
SET max_parallel_maintenance_workers = 0;
CREATE INDEX par_cos ON par_items USING embq_ivf (e i8vec_cosine_ops) WITH (lists = 40);
CREATE TABLE serial_cos AS SELECT * FROM par_cos_lists;
SELECT count(DISTINCT n) > 3 AS varied FROM serial_cos;
DROP INDEX par_cos;
SET max_parallel_maintenance_workers = 2;
CREATE INDEX par_cos ON par_items USING embq_ivf (e i8vec_cosine_ops) WITH (lists = 40);
SELECT lists, build_workers > 0 AS parallel FROM embq_ivf_info('par_cos');
SELECT count(*) AS queries, count(*) FILTER (WHERE s.n = p.n AND s.ids = p.ids) AS same
FROM serial_cos s JOIN par_cos_lists p USING (q);
DROP INDEX par_cos;
RESET parallel_leader_participation;

-- deleted rows a plain build still indexes (dead to no one yet) and rows
-- inserted after: a parallel build and inserts agree with a serial build
DELETE FROM par_items WHERE id % 7 = 0;
INSERT INTO par_items SELECT id + 20000, e, b FROM par_items WHERE id <= 700;
DROP INDEX par_l2;
CREATE INDEX par_l2 ON par_items USING embq_ivf (e) WITH (lists = 40);
CREATE TABLE par_l2_after AS SELECT * FROM par_l2_lists;
DROP INDEX par_l2;
SET max_parallel_maintenance_workers = 0;
CREATE INDEX par_l2 ON par_items USING embq_ivf (e) WITH (lists = 40);
SELECT count(*) AS queries, count(*) FILTER (WHERE s.n = p.n AND s.ids = p.ids) AS same
FROM par_l2_after s JOIN par_l2_lists p USING (q);

RESET enable_seqscan;
RESET embq.probes;
RESET embq.max_probes;
RESET max_parallel_maintenance_workers;
RESET maintenance_work_mem;
DROP VIEW par_l2_lists, par_ham_lists, par_cos_lists;
DROP TABLE par_items, par_queries, serial_l2, serial_ham, serial_cos, par_l2_after;
