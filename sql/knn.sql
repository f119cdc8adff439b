-- embq_knn: batch nearest-neighbour search.  Index mode must return what one
-- ORDER BY ... LIMIT k index scan per query returns at the same settings,
-- exact mode what a sequential scan returns; both only visible rows.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS embq;
SET jit = off;
CREATE TABLE kd (id int PRIMARY KEY, note text, f real[], e i8vec(64), b bitvec(64), h i8vec(256),
	h2 i8vec(256));
INSERT INTO kd
	SELECT i, NULL, v, quantize_int8(v), quantize_binary(v), w, w
	FROM (SELECT i, v, quantize_int8(array(SELECT sin(i * 0.013 * j) + cos(j + i % 11)
		FROM generate_series(1, 256) j)::real[]) AS w
	FROM (SELECT i, array(SELECT sin(i * 0.37 + j * (1 + i % 7)) + cos(j * 0.11 * (i % 13))
		FROM generate_series(1, 64) j)::real[] AS v
		FROM generate_series(1, 2000) i) s) t;
CREATE INDEX kd_flat_l2 ON kd USING embq_ivf (e i8vec_l2_ops) WITH (lists = 16);
CREATE INDEX kd_signs_cos ON kd USING embq_ivf (e i8vec_cosine_ops) WITH (lists = 16, layout = signs);
CREATE INDEX kd_signs_ip ON kd USING embq_ivf (h i8vec_ip_ops) WITH (lists = 12);
CREATE INDEX kd_flat_ip ON kd USING embq_ivf (h2 i8vec_ip_ops) WITH (lists = 12, layout = flat);
CREATE INDEX kd_ham ON kd USING embq_ivf (b bitvec_hamming_ops) WITH (lists = 16);
CREATE INDEX kd_bip ON kd USING embq_ivf (b bitvec_ip_ops) WITH (lists = 16);
ANALYZE kd;
SELECT c::text, (embq_ivf_info(c)).layout FROM unnest('{kd_flat_l2,kd_signs_cos,kd_signs_ip,kd_flat_ip,kd_ham,kd_bip}'::regclass[]) c;

-- queries: 40 rows of the table, numbered 1..40 in id order
CREATE TABLE kq AS SELECT row_number() OVER (ORDER BY id)::int AS qn, id, f, e, b, h
	FROM kd WHERE id % 50 = 7;

-- (qn, rank, id, distance) of embq_knn and of the reference, compared: the
-- number of rows of each and of those that differ
CREATE FUNCTION knn_diff(got text, want text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	n_got bigint;
	n_want bigint;
	n_diff bigint;
BEGIN
	EXECUTE 'SELECT count(*) FROM (' || got || ') s' INTO n_got;
	EXECUTE 'SELECT count(*) FROM (' || want || ') s' INTO n_want;
	EXECUTE 'SELECT count(*) FROM ((' || got || ' EXCEPT ' || want || ') UNION ALL ('
		|| want || ' EXCEPT ' || got || ')) s' INTO n_diff;
	RETURN format('%s rows, reference %s, differing %s', n_got, n_want, n_diff);
END $$;

-- embq_knn over queries of a column of kq, joined back to kd
-- (ranks are compared unless unranked: past its first segment an index scan
-- returns each further segment after the rows before it, even nearer ones)
CREATE FUNCTION knn_got(idx text, col text, k int, exact bool, unranked bool DEFAULT false)
RETURNS text LANGUAGE sql AS $$
	SELECT format('SELECT r.query, CASE WHEN %L THEN 0 ELSE r.rank END, d.id, r.distance FROM embq_knn(%L, '
		'ARRAY(SELECT %I FROM kq ORDER BY qn), %s, %L) r JOIN kd d ON d.ctid = r.ctid',
		unranked, idx, col, k, exact)
$$;
-- one ORDER BY ... LIMIT k per query; exact: by sequential scan, ties by ctid
CREATE FUNCTION knn_want(expr text, col text, k int, exact bool, unranked bool DEFAULT false)
RETURNS text LANGUAGE sql AS $$
	SELECT format('SELECT q.qn, CASE WHEN %L THEN 0 ELSE (row_number() OVER (PARTITION BY q.qn '
		'ORDER BY x.d, x.ctid))::int END, x.id, x.d '
		'FROM kq q, LATERAL (SELECT id, ctid, %s AS d FROM kd ORDER BY %s %s LIMIT %s) x',
		unranked, replace(expr, '$q', 'q.' || col), replace(expr, '$q', 'q.' || col),
		CASE WHEN exact THEN ', ctid' ELSE '' END, k)
$$;

CREATE TABLE cases (idx text, expr text, col text);
INSERT INTO cases VALUES
	('kd_flat_l2', 'e <-> $q', 'e'), ('kd_flat_l2', 'e <-> $q', 'f'),
	('kd_signs_cos', 'e <=> $q', 'e'), ('kd_signs_cos', 'e <=> $q', 'f'),
	('kd_signs_ip', 'h <#> $q', 'h'), ('kd_flat_ip', 'h2 <#> $q', 'h'),
	('kd_ham', 'b <~> $q', 'b'), ('kd_bip', 'b <#> $q', 'f');

-- index mode at a few probes (approximate: the reference is the index scan)
SET embq.probes = 3;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT idx, col, knn_diff(knn_got(idx, col, 10, false), knn_want(expr, col, 10, false)) FROM cases;
-- a LIMIT past the first segment: scans probe more lists as they go
SELECT idx, col, knn_diff(knn_got(idx, col, 300, false, true), knn_want(expr, col, 300, false, true))
	FROM cases WHERE col <> 'b';
SET embq.probes = 80;
SELECT idx, col, knn_diff(knn_got(idx, col, 10, false), knn_want(expr, col, 10, false)) FROM cases;

-- exact mode against sequential scans
RESET enable_seqscan;
SET enable_indexscan = off;
SET embq.probes = 1;
SELECT idx, col, knn_diff(knn_got(idx, col, 7, true), knn_want(expr, col, 7, true)) FROM cases;
RESET enable_indexscan;

-- rows the snapshot cannot see are skipped; an updated row comes back with
-- the ctid of its new version (a HOT update: note is not indexed)
DELETE FROM kd WHERE id % 50 = 8;
UPDATE kd SET note = 'hot' WHERE id % 50 = 9;
SET embq.probes = 3;
SET enable_seqscan = off;
SELECT idx, col, knn_diff(knn_got(idx, col, 10, false), knn_want(expr, col, 10, false)) FROM cases;
RESET enable_seqscan;
SET enable_indexscan = off;
SELECT idx, col, knn_diff(knn_got(idx, col, 10, true), knn_want(expr, col, 10, true)) FROM cases;
RESET enable_indexscan;
SELECT count(*) AS updated_rows_found FROM embq_knn('kd_flat_l2', ARRAY(SELECT e FROM kd WHERE id % 50 = 9 ORDER BY id), 1, true) r
	JOIN kd d ON d.ctid = r.ctid AND d.note = 'hot';

-- queries joined back by their own key; NULL queries have no rows
SELECT q.ids[r.query] AS query_id, r.rank, d.id, round(r.distance::numeric, 4) AS distance
FROM (SELECT array_agg(id ORDER BY id) AS ids, array_agg(e ORDER BY id) AS es FROM kd WHERE id IN (10, 20)) q,
	embq_knn('kd_flat_l2', q.es, 2, true) r JOIN kd d ON d.ctid = r.ctid
ORDER BY 1, 2;
SELECT query, rank FROM embq_knn('kd_flat_l2', ARRAY[NULL, (SELECT e FROM kd WHERE id = 10)]::i8vec[], 2, true);
SELECT count(*) FROM embq_knn('kd_flat_l2', '{}'::i8vec[], 5);
SELECT count(*) FROM embq_knn('kd_flat_l2', '{}'::real[], 5);
-- one query as a flat real[]
SELECT count(*) FROM embq_knn('kd_flat_l2', (SELECT f FROM kd WHERE id = 10), 5);
SELECT count(*) FROM embq_knn('kd_flat_l2', ARRAY(SELECT e FROM kd WHERE id = 10), 5, NULL);
-- k larger than the table
SELECT count(*) FROM embq_knn('kd_ham', ARRAY(SELECT b FROM kd WHERE id = 10), 5000, true);
SELECT count(*) FROM embq_knn('kd_ham', ARRAY(SELECT b FROM kd WHERE id = 10), 5000);

-- errors
SELECT * FROM embq_knn('kd_pkey', ARRAY(SELECT e FROM kd LIMIT 1), 5);
SELECT * FROM embq_knn('kd_flat_l2', ARRAY(SELECT e FROM kd LIMIT 1), 0);
SELECT * FROM embq_knn('kd_flat_l2', ARRAY(SELECT b FROM kd LIMIT 1), 5);
SELECT * FROM embq_knn('kd_ham', ARRAY(SELECT f FROM kd LIMIT 1), 5);
SELECT * FROM embq_knn('kd_flat_l2', ARRAY[[1, 2], [3, 4]]::real[], 5);
SELECT * FROM embq_knn('kd_flat_l2', ARRAY[ARRAY[1, NULL]]::real[], 5);
SELECT * FROM embq_knn('kd_flat_l2', ARRAY['[1,2]'::i8vec], 5);
SELECT * FROM embq_knn('kd_flat_l2', '{{{1}}}'::real[], 5);
SELECT * FROM embq_knn('kd_flat_l2', '{1,2}'::text[], 5);
CREATE ROLE knn_reader;
SET ROLE knn_reader;
SELECT * FROM embq_knn('kd_flat_l2', ARRAY['[1,2]'::i8vec], 5);
RESET ROLE;
ALTER TABLE kd ENABLE ROW LEVEL SECURITY;
GRANT SELECT ON kd TO knn_reader;
SET ROLE knn_reader;
SELECT * FROM embq_knn('kd_flat_l2', ARRAY['[1,2]'::i8vec], 5);
RESET ROLE;
ALTER TABLE kd DISABLE ROW LEVEL SECURITY;
REVOKE SELECT ON kd FROM knn_reader;
DROP ROLE knn_reader;

-- a cancel (here a statement timeout) stops a long call: 100,000 exact
-- queries over 1,960 rows take seconds
SET statement_timeout = '100ms';
SELECT count(*) FROM embq_knn('kd_ham', ARRAY(SELECT b FROM kd, generate_series(1, 50)), 10, true);
RESET statement_timeout;

DROP TABLE kd, kq, cases;
DROP FUNCTION knn_diff(text, text), knn_got(text, text, int, bool, bool), knn_want(text, text, int, bool, bool);
