-- embq_ivf on extreme but valid values: i8vec accepts scales up to
-- FLT_MAX / 127, so squared norms and residuals overflow float.  Every scan
-- must return each row once, in an order no worse than a total one, and
-- never crash (scores were NaN, and the candidate selection ran off its
-- array).
SET client_min_messages = warning;
CREATE TABLE ext (id int PRIMARY KEY, v i8vec(16));
-- one row of +-3e38 before the index exists, ordinary rows after
INSERT INTO ext VALUES (0, ('[' || array_to_string(array(
    SELECT CASE WHEN j % 2 = 0 THEN '3e38' ELSE '-3e38' END
    FROM generate_series(1, 16) j), ',') || ']')::i8vec);
CREATE INDEX ext_l2 ON ext USING embq_ivf (v i8vec_l2_ops) WITH (lists = 4);
CREATE INDEX ext_ip ON ext USING embq_ivf (v i8vec_ip_ops) WITH (lists = 4);
CREATE INDEX ext_cos ON ext USING embq_ivf (v i8vec_cosine_ops) WITH (lists = 4);
INSERT INTO ext SELECT i, quantize_int8(array(
    SELECT sin(i * 7 + j * 13)::real FROM generate_series(1, 16) j))
  FROM generate_series(1, 3000) i;
-- and huge rows inserted into the built index
INSERT INTO ext SELECT 10000 + i, ('[' || array_to_string(array(
    SELECT (sin(i * 3 + j * 5) * 3e38)::real::text FROM generate_series(1, 16) j), ',') || ']')::i8vec
  FROM generate_series(1, 200) i;
-- a rebuild trains on them too
REINDEX INDEX ext_l2;

SET enable_seqscan = off;
SET embq.probes = 65536;
-- every row exactly once, for each operator class and a huge or ordinary query
CREATE FUNCTION ext_scan_ok(q i8vec) RETURNS TABLE (op text, n bigint, ids bigint) AS $$
    SELECT '<->', count(*), count(DISTINCT id) FROM (SELECT id FROM ext ORDER BY v <-> q) s
    UNION ALL
    SELECT '<#>', count(*), count(DISTINCT id) FROM (SELECT id FROM ext ORDER BY v <#> q) s
    UNION ALL
    SELECT '<=>', count(*), count(DISTINCT id) FROM (SELECT id FROM ext ORDER BY v <=> q) s
$$ LANGUAGE sql;
SELECT * FROM ext_scan_ok('[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]');
SELECT * FROM ext_scan_ok((SELECT v FROM ext WHERE id = 0));
SELECT * FROM ext_scan_ok((SELECT v FROM ext WHERE id = 10007));
EXPLAIN (COSTS OFF) SELECT id FROM ext ORDER BY v <-> '[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]' LIMIT 3;
-- a huge row is its own nearest neighbour by L2
SELECT count(*) FILTER (WHERE (SELECT e2.id FROM ext e2 ORDER BY e2.v <-> e1.v LIMIT 1) = e1.id) AS l2_self,
       count(*)
  FROM ext e1 WHERE id = 0 OR id > 10000;
-- the index's first rows are the sequential scan's, by distance, for every
-- operator class (compared as distances: ties may come in any order)
CREATE FUNCTION ext_top(q i8vec, op text, k int) RETURNS float8[] AS $$
DECLARE
    r float8[];
BEGIN
    EXECUTE format('SELECT array_agg(d) FROM (SELECT v %s $1 AS d FROM ext ORDER BY v %s $1 LIMIT $2) s', op, op)
        INTO r USING q, k;
    RETURN r;
END
$$ LANGUAGE plpgsql;
-- the top 5 of sample rows by the index (as the session's settings give
-- it), then by a sequential scan: per operator, how many agree
CREATE FUNCTION ext_compare() RETURNS TABLE (op text, queries bigint, equal bigint) AS $$
BEGIN
    CREATE TEMP TABLE idx AS
      SELECT e.id, o.op, ext_top(e.v, o.op, 5) AS top
        FROM ext e, (VALUES ('<->'), ('<#>'), ('<=>')) o(op)
       WHERE e.id % 50 = 0 OR e.id > 10190;
    PERFORM set_config('enable_seqscan', 'on', true);
    PERFORM set_config('enable_indexscan', 'off', true);
    RETURN QUERY SELECT i.op, count(*), count(*) FILTER (WHERE i.top = ext_top(e.v, i.op, 5))
      FROM idx i JOIN ext e USING (id) GROUP BY i.op ORDER BY i.op;
    DROP TABLE idx;
END
$$ LANGUAGE plpgsql SET enable_seqscan = off;
SELECT * FROM ext_compare();
RESET enable_seqscan;

-- the same with the signs layout (sign-bit items rescored from the codes,
-- whose scores were NaN here); at 16 dimensions auto chose flat above
SELECT c.relname, i.layout FROM pg_class c, LATERAL embq_ivf_info(c.oid) i
 WHERE c.relname LIKE 'ext\_%' AND c.relam <> 403 ORDER BY 1;
ALTER INDEX ext_l2 SET (layout = signs);
ALTER INDEX ext_ip SET (layout = signs);
ALTER INDEX ext_cos SET (layout = signs);
REINDEX TABLE ext;
SELECT c.relname, i.layout FROM pg_class c, LATERAL embq_ivf_info(c.oid) i
 WHERE c.relname LIKE 'ext\_%' AND c.relam <> 403 ORDER BY 1;
SET enable_seqscan = off;
SELECT * FROM ext_scan_ok('[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]');
SELECT * FROM ext_scan_ok((SELECT v FROM ext WHERE id = 0));
SELECT * FROM ext_scan_ok((SELECT v FROM ext WHERE id = 10007));
SELECT count(*) FILTER (WHERE (SELECT e2.id FROM ext e2 ORDER BY e2.v <-> e1.v LIMIT 1) = e1.id) AS l2_self,
       count(*)
  FROM ext e1 WHERE id = 0 OR id > 10000;
-- every candidate rescored, so the first rows must be exact whatever the
-- sign bits of such rows estimate
SET embq.rescore_factor = 1000;
SELECT * FROM ext_compare();
RESET enable_seqscan;
RESET embq.rescore_factor;

-- bitvec <#> real[] with huge query values: the float sums may overflow
CREATE TABLE extb (id int, b bitvec(64));
INSERT INTO extb SELECT i, quantize_binary(array(
    SELECT sin(i * 11 + j)::real FROM generate_series(1, 64) j)) FROM generate_series(1, 500) i;
CREATE INDEX ON extb USING embq_ivf (b bitvec_ip_ops) WITH (lists = 4);
SET enable_seqscan = off;
SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM extb ORDER BY b <#> array(
    SELECT CASE WHEN j % 3 = 0 THEN -3e38 ELSE 3e38 END FROM generate_series(1, 64) j)::real[]) s;
RESET enable_seqscan;
DROP TABLE ext, extb;
DROP FUNCTION ext_scan_ok(i8vec), ext_top(i8vec, text, int);
