SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS embq;

--
-- btree and hash operator classes: comparison, DISTINCT, GROUP BY, UNIQUE,
-- ORDER BY, hash aggregation and joins, index lookups
--

SELECT opc.opcname, am.amname, opc.opcdefault, amvalidate(opc.oid)
FROM pg_opclass opc JOIN pg_am am ON am.oid = opc.opcmethod
WHERE opc.opcname IN ('bitvec_ops', 'i8vec_ops') ORDER BY 1, 2;

-- bitvec order: bitwise lexicographic, a proper prefix first (core bit's
-- order, and the order of the 0/1 text under the C collation)
SELECT v FROM (VALUES ('1'::bitvec), ('0'), ('10'), ('01'), ('00'), ('100'), ('101'),
                      ('1000'), ('011'), ('11111111'), ('111111110'), ('111111111'),
                      ('0000000000000001')) t(v)
ORDER BY v;
SELECT '0'::bitvec < '1', '1'::bitvec < '10', '10'::bitvec < '1', '01'::bitvec < '1',
       '1000'::bitvec < '101', '101'::bitvec <= '101', '101'::bitvec = '101',
       '101'::bitvec = '1010', '101'::bitvec <> '100', '11'::bitvec >= '10', '11'::bitvec > '110';
SELECT bitvec_cmp('0', '1'), bitvec_cmp('1', '1'), bitvec_cmp('10', '1'), bitvec_cmp('1', '10');
-- i8vec order: dimensions, then scale, then codes
SELECT v, i8vec_scale(v), i8vec_codes(v)
FROM (VALUES ('[1,2,3]'::i8vec), ('[3,2,1]'), ('[1]'), ('[-1]'), ('[0,0]'), ('[2,4,6]'),
             ('[1,2]'), ('[-1,2]'), ('[2,1]'), (i8vec_from_codes('{1,2,3}'::int[])),
             (i8vec_from_codes('{-1,2}'::int[])), ('[0.5,-0.5]')) t(v)
ORDER BY v;
SELECT '[1]'::i8vec < '[1,2]', '[1,2]'::i8vec < '[2,4]', '[-1,2]'::i8vec < '[1,2]',
       '[1,2]'::i8vec = '[2,4]', '[1,2]'::i8vec = '[1,2]', '[1,2]'::i8vec <> '[1,2.01]',
       '[1,2]'::i8vec <= '[1,2]', '[3,2]'::i8vec >= '[2,3]', '[3,2]'::i8vec > '[2,3]';
SELECT i8vec_cmp('[1]', '[2]'), i8vec_cmp('[1,2]', '[1,2]'), i8vec_cmp('[1,2]', '[1]');

-- order checked independently over many values
CREATE TABLE embq_bt (id int, b bitvec, v i8vec);
INSERT INTO embq_bt
SELECT i,
       (SELECT string_agg(((i * 7 + j * 5) % 3 = 0)::int::text, '') FROM generate_series(1, 1 + i % 20) j)::bitvec,
       ARRAY(SELECT (((i % 101) * (j + 3) * 7919) % 23 - 11)::real FROM generate_series(1, 1 + (i % 101) % 4) j)::i8vec
FROM generate_series(1, 1000) i;
SELECT count(*) FILTER (WHERE r1 <> r2) AS bitvec_vs_text,
       count(*) FILTER (WHERE r1 <> r3) AS bitvec_vs_varbit
FROM (SELECT dense_rank() OVER (ORDER BY b) AS r1,
             dense_rank() OVER (ORDER BY b::text COLLATE "C") AS r2,
             dense_rank() OVER (ORDER BY b::varbit) AS r3
      FROM embq_bt) s;
SELECT count(*) FILTER (WHERE r1 <> r2) AS i8vec_vs_fields
FROM (SELECT dense_rank() OVER (ORDER BY v) AS r1,
             dense_rank() OVER (ORDER BY embq_dims(v), i8vec_scale(v), i8vec_codes(v)) AS r2
      FROM embq_bt) s;
-- equal values hash alike (and the extended hash with seed 0 agrees)
SELECT count(*) FILTER (WHERE bitvec_hash(a.b) <> bitvec_hash(c.b)
                           OR bitvec_hash_extended(a.b, 7) <> bitvec_hash_extended(c.b, 7)) AS bitvec_bad,
       count(*) FILTER (WHERE i8vec_hash(a.v) <> i8vec_hash(c.v)
                           OR i8vec_hash_extended(a.v, 7) <> i8vec_hash_extended(c.v, 7)) AS i8vec_bad
FROM embq_bt a JOIN embq_bt c ON a.id < c.id AND a.b = c.b AND a.v = c.v;
SELECT count(*) FILTER (WHERE (bitvec_hash_extended(b, 0) & 4294967295) <> (bitvec_hash(b)::bigint & 4294967295)) AS bitvec_bad,
       count(*) FILTER (WHERE (i8vec_hash_extended(v, 0) & 4294967295) <> (i8vec_hash(v)::bigint & 4294967295)) AS i8vec_bad
FROM embq_bt;
SELECT count(DISTINCT bitvec_hash(b)) > 50 AS bitvec_spread, count(DISTINCT i8vec_hash(v)) > 50 AS i8vec_spread
FROM embq_bt;

-- DISTINCT and GROUP BY (sort and hash), agreeing with the text forms
SELECT count(DISTINCT b) AS b_distinct, count(DISTINCT b::text) AS b_text,
       count(DISTINCT v) AS v_distinct, count(DISTINCT v::text) AS v_text
FROM embq_bt;
SET enable_hashagg = off;
EXPLAIN (COSTS OFF) SELECT b, count(*) FROM embq_bt GROUP BY b;
SELECT count(*), sum(n) FROM (SELECT b, count(*) AS n FROM embq_bt GROUP BY b) s;
SELECT count(*), sum(n) FROM (SELECT v, count(*) AS n FROM embq_bt GROUP BY v) s;
SELECT count(*) FROM (SELECT DISTINCT b, v FROM embq_bt) s;
RESET enable_hashagg;
SET enable_sort = off;
EXPLAIN (COSTS OFF) SELECT b, count(*) FROM embq_bt GROUP BY b;
EXPLAIN (COSTS OFF) SELECT DISTINCT v FROM embq_bt;
SELECT count(*), sum(n) FROM (SELECT b, count(*) AS n FROM embq_bt GROUP BY b) s;
SELECT count(*), sum(n) FROM (SELECT v, count(*) AS n FROM embq_bt GROUP BY v) s;
SELECT count(*) FROM (SELECT DISTINCT b, v FROM embq_bt) s;
RESET enable_sort;
-- groups match grouping by the text form
SELECT count(*) AS mismatches FROM
  (SELECT b::text AS k, count(*) AS n FROM embq_bt GROUP BY b) x
  FULL JOIN (SELECT b::text AS k, count(*) AS n FROM embq_bt GROUP BY b::text) y USING (k)
WHERE x.n IS DISTINCT FROM y.n;
SELECT count(*) AS mismatches FROM
  (SELECT v::text AS k, count(*) AS n FROM embq_bt GROUP BY v) x
  FULL JOIN (SELECT v::text AS k, count(*) AS n FROM embq_bt GROUP BY v::text) y USING (k)
WHERE x.n IS DISTINCT FROM y.n;
SELECT b, count(*) FROM embq_bt WHERE embq_dims(b) <= 2 GROUP BY b ORDER BY b;
SELECT v, count(*) FROM embq_bt WHERE embq_dims(v) = 1 GROUP BY v ORDER BY v;

-- ORDER BY emb
SELECT b FROM embq_bt WHERE embq_dims(b) = 4 GROUP BY b ORDER BY b DESC;
SELECT v FROM embq_bt WHERE embq_dims(v) = 2 GROUP BY v ORDER BY v LIMIT 5;

-- hash join and merge join
SET enable_nestloop = off;
SET enable_mergejoin = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM embq_bt a JOIN embq_bt c ON a.b = c.b;
SELECT count(*) FROM embq_bt a JOIN embq_bt c ON a.b = c.b;
SELECT count(*) FROM embq_bt a JOIN embq_bt c ON a.v = c.v;
RESET enable_mergejoin;
SET enable_hashjoin = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM embq_bt a JOIN embq_bt c ON a.v = c.v;
SELECT count(*) FROM embq_bt a JOIN embq_bt c ON a.b = c.b;
SELECT count(*) FROM embq_bt a JOIN embq_bt c ON a.v = c.v;
RESET enable_hashjoin;
RESET enable_nestloop;
-- the same counts from the text forms
SELECT count(*) FROM embq_bt a JOIN embq_bt c ON a.b::text = c.b::text;
SELECT count(*) FROM embq_bt a JOIN embq_bt c ON a.v::text = c.v::text;

-- btree and hash indexes for equality lookups
CREATE INDEX embq_bt_b ON embq_bt (b);
CREATE INDEX embq_bt_v ON embq_bt (v);
CREATE INDEX embq_bt_bh ON embq_bt USING hash (b);
CREATE INDEX embq_bt_vh ON embq_bt USING hash (v);
ANALYZE embq_bt;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
DROP INDEX embq_bt_bh, embq_bt_vh;
EXPLAIN (COSTS OFF) SELECT id FROM embq_bt WHERE b = '1001';
SELECT array_agg(id ORDER BY id) FROM embq_bt WHERE b = '1001';
SELECT array_agg(id ORDER BY id) FROM embq_bt WHERE b::text = '1001';
EXPLAIN (COSTS OFF) SELECT id FROM embq_bt WHERE v = '[1.007874,4]';
SELECT array_agg(id ORDER BY id) FROM embq_bt WHERE v = '[1.007874,4]';
SELECT array_agg(id ORDER BY id) FROM embq_bt WHERE v::text = '[1.007874,4]';
EXPLAIN (COSTS OFF) SELECT b FROM embq_bt WHERE b >= '01' AND b < '1' ORDER BY b;
SELECT b, count(*) FROM embq_bt WHERE b >= '01' AND b < '1' GROUP BY b ORDER BY b;
SELECT b::text, count(*) FROM embq_bt WHERE b::text COLLATE "C" >= '01' AND b::text COLLATE "C" < '1'
GROUP BY b::text ORDER BY b::text COLLATE "C";
EXPLAIN (COSTS OFF) SELECT v FROM embq_bt WHERE v > '[1,2]' AND v < '[1,2,3]' ORDER BY v;
SELECT count(*), count(DISTINCT v), min(embq_dims(v)), max(embq_dims(v))
FROM embq_bt WHERE v > '[1,2]' AND v < '[1,2,3]';
CREATE INDEX embq_bt_bh ON embq_bt USING hash (b);
CREATE INDEX embq_bt_vh ON embq_bt USING hash (v);
DROP INDEX embq_bt_b, embq_bt_v;
EXPLAIN (COSTS OFF) SELECT id FROM embq_bt WHERE b = '1001';
SELECT array_agg(id ORDER BY id) FROM embq_bt WHERE b = '1001';
EXPLAIN (COSTS OFF) SELECT id FROM embq_bt WHERE v = '[1.007874,4]';
SELECT array_agg(id ORDER BY id) FROM embq_bt WHERE v = '[1.007874,4]';
RESET enable_bitmapscan;
RESET enable_seqscan;
DROP TABLE embq_bt;

-- UNIQUE rejects duplicates
CREATE TABLE embq_bt_unique (b bitvec UNIQUE, v i8vec UNIQUE);
INSERT INTO embq_bt_unique VALUES ('101', '[1,2,3]');
INSERT INTO embq_bt_unique VALUES ('1010', '[1,2]');
INSERT INTO embq_bt_unique VALUES ('101', '[3,2,1]');
INSERT INTO embq_bt_unique VALUES ('111', '[2,4,6]');
INSERT INTO embq_bt_unique VALUES ('111', '[1,2,3]');
-- values that read back as the same codes and scale are duplicates
INSERT INTO embq_bt_unique VALUES ('110', '[1,2.001,3]');
INSERT INTO embq_bt_unique VALUES ('1', '[0.992126,2.007874,3]');
INSERT INTO embq_bt_unique VALUES (B'10100', ARRAY[0.5, -1]);
INSERT INTO embq_bt_unique VALUES (B'10100'::varbit, '[0.5,-1]');
SELECT b, v FROM embq_bt_unique ORDER BY b;
DROP TABLE embq_bt_unique;
