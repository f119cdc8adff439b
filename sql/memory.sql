-- Comparators free what they detoast: a sort over out-of-line (TOASTed)
-- values runs in bounded memory.  pgvector 0.8.6 leaks one detoasted copy per
-- comparison and runs out of memory on count(DISTINCT embedding) over 200,000
-- 1024-dim rows.  i8vec(3000) rows are ~3 kB and so stored out of line; 5,000
-- of them take ~60,000 comparisons, which would leak ~370 MB without the
-- frees (measured: a 580 MB peak).  The backend's peak resident size (VmHWM) must stay far below that.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS embq;

CREATE FUNCTION backend_peak_kb() RETURNS bigint LANGUAGE sql AS $$
	SELECT (regexp_match(pg_read_file('/proc/self/status'), 'VmHWM:\s+(\d+)'))[1]::bigint
$$;

CREATE TABLE toasted (id int, e i8vec(3000), b bitvec(40000));
INSERT INTO toasted
	SELECT i,
		i8vec_from_codes(array_fill(((i * 7919) % 255) - 127, ARRAY[2998]) || ARRAY[i % 127, (i / 127) % 127]),
		(repeat('01', 19990) || lpad((i::bit(20))::text, 20, '0'))::bitvec
	FROM generate_series(1, 5000) i;

-- the values really are stored out of line (TOAST), so each comparison detoasts:
-- the table's own heap is small and its TOAST relation holds the ~40 MB
SELECT pg_relation_size(oid) < 1024 * 1024 AS heap_small,
	pg_relation_size(reltoastrelid) > 30 * 1024 * 1024 AS values_in_toast
FROM pg_class WHERE relname = 'toasted';

SELECT backend_peak_kb() AS before_kb \gset
SET work_mem = '64MB';
SELECT count(DISTINCT e) AS distinct_e, count(DISTINCT b) AS distinct_b FROM toasted;
SELECT count(*) FROM (SELECT e FROM toasted GROUP BY e) s;
SELECT id FROM toasted ORDER BY e, id LIMIT 3;
SELECT id FROM toasted ORDER BY b DESC, id LIMIT 3;
SELECT backend_peak_kb() - :before_kb < 100 * 1024 AS peak_grew_under_100mb;

DROP TABLE toasted;
DROP FUNCTION backend_peak_kb();
