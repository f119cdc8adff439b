-- embq.gpu and the build path, with or without a GPU: the output is the same
-- on a machine with a usable GPU and on one without (CI has none).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS embq;
-- load the library, so that embq.gpu is defined
SELECT embq_cpu_kernels() <> '' AS loaded;

SHOW embq.gpu;
SET embq.gpu = maybe;
SET embq.gpu = off;
SHOW embq.gpu;
SET embq.gpu = true;
SHOW embq.gpu;
RESET embq.gpu;

-- a usable GPU comes with a device and no reason; an unusable one with a reason
SELECT setting, (usable AND device IS NOT NULL AND reason IS NULL)
	OR (NOT usable AND device IS NULL AND reason IS NOT NULL) AS consistent
FROM embq_gpu_status();

CREATE TABLE gpu_t (id int, e i8vec(24), b bitvec(40));
INSERT INTO gpu_t SELECT i,
	quantize_int8(array(SELECT sin(i * j + j)::real FROM generate_series(1, 24) j)),
	quantize_binary(array(SELECT cos(i * j)::real FROM generate_series(1, 40) j))
FROM generate_series(1, 3000) i;

CREATE TEMP TABLE results (path text, id int, ids int[]);
CREATE PROCEDURE gpu_top10(path text) LANGUAGE sql AS $$
	INSERT INTO results
	SELECT path, q.id, (SELECT array_agg(id) FROM
		(SELECT t.id FROM gpu_t t ORDER BY t.e <-> q.e LIMIT 10) s)
	FROM gpu_t q WHERE q.id <= 20 $$;

-- off: everything on the CPU
SET embq.gpu = off;
CREATE INDEX gpu_cpu ON gpu_t USING embq_ivf (e) WITH (lists = 16);
SELECT lists, dims, metric, trained_on, assigned_on FROM embq_ivf_info('gpu_cpu');
SET enable_seqscan = off;
SET embq.probes = 16;
CALL gpu_top10('cpu');
RESET enable_seqscan;
DROP INDEX gpu_cpu;

-- auto: the GPU when usable, else the CPU, never an error
SET embq.gpu = auto;
CREATE INDEX gpu_auto ON gpu_t USING embq_ivf (e) WITH (lists = 16);
SELECT (i.trained_on = 'gpu') = s.usable AS trained_where_expected,
	(i.assigned_on = 'gpu') = s.usable AS assigned_where_expected
FROM embq_ivf_info('gpu_auto') i, embq_gpu_status() s;
SET enable_seqscan = off;
CALL gpu_top10('auto');
RESET enable_seqscan;
DROP INDEX gpu_auto;

-- the exact answer
SET enable_indexscan = off;
CALL gpu_top10('seqscan');
RESET enable_indexscan;

-- whichever path built it, with every list probed the index returns exactly
-- what a sequential scan returns
SELECT r.path, count(*) AS queries,
	count(*) FILTER (WHERE r.ids = x.ids) AS equal_to_seqscan
FROM results r JOIN results x ON x.path = 'seqscan' AND x.id = r.id
WHERE r.path <> 'seqscan' GROUP BY r.path ORDER BY r.path;

-- on: the GPU, or an error saying why (caught so the output does not depend on the machine)
SET embq.gpu = on;
DO $$
DECLARE
	ok boolean;
	usable boolean := (SELECT s.usable FROM embq_gpu_status() s);
BEGIN
	BEGIN
		CREATE INDEX gpu_on ON gpu_t USING embq_ivf (b) WITH (lists = 16);
		ok := (SELECT trained_on = 'gpu' AND assigned_on = 'gpu' FROM embq_ivf_info('gpu_on'));
	EXCEPTION WHEN feature_not_supported THEN
		ok := NOT usable AND SQLERRM = 'embq.gpu is on but no GPU is usable';
	END;
	RAISE WARNING 'embq.gpu = on behaves as expected: %', ok;
END $$;
RESET ALL;

-- embq.gpu_library names the library the backend loads and runs: only a
-- superuser may set it, in a session or for a role
SHOW embq.gpu_library;
CREATE ROLE regress_embq_gpu_user;
SET ROLE regress_embq_gpu_user;
SET embq.gpu_library = '/tmp/not_embq.so';
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT set_config('embq.gpu_library', '/tmp/not_embq.so', false);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
ALTER ROLE regress_embq_gpu_user SET embq.gpu_library = '/tmp/not_embq.so';
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SHOW embq.gpu_library;
RESET ROLE;

-- A superuser may.  In a new session, before any library is loaded: a
-- relative path is taken relative to $libdir, as is "$libdir/..."; a
-- library that cannot be loaded makes the GPU unusable, saying why
\c
SET embq.gpu_library = 'no_such_library.so';
SELECT s.usable, s.reason = 'could not load the GPU library: ' || c.setting ||
	'/no_such_library.so: cannot open shared object file: No such file or directory' AS reason_as_expected
FROM embq_gpu_status() s, pg_config c WHERE c.name = 'PKGLIBDIR';
SET embq.gpu_library = '$libdir/no_such_library.so';
SELECT s.usable, s.reason = 'could not load the GPU library: ' || c.setting ||
	'/no_such_library.so: cannot open shared object file: No such file or directory' AS reason_as_expected
FROM embq_gpu_status() s, pg_config c WHERE c.name = 'PKGLIBDIR';
SET embq.gpu_library = '/nonexistent/libembq_cuda.so';
SELECT usable, reason FROM embq_gpu_status();
SET embq.gpu = on;
CREATE INDEX gpu_lib ON gpu_t USING embq_ivf (e) WITH (lists = 16);
RESET ALL;
DROP ROLE regress_embq_gpu_user;

-- not an embq_ivf index
CREATE INDEX gpu_btree ON gpu_t (id);
SELECT * FROM embq_ivf_info('gpu_btree');

DROP TABLE gpu_t;
DROP PROCEDURE gpu_top10(text);
