#!/usr/bin/env bash
# In-PostgreSQL GPU test for the lent GPU machine, which has CUDA and Python
# but no PostgreSQL and no package registry.
#
#   bash test/gpu/pg_carry.sh prepare   here (Debian 12, build machine): build
#       embq, download Debian's PostgreSQL 15 server and the shared libraries
#       it needs, and put them with embq's files and test vectors (from
#       test/data) in .pgcarry/ (git-ignored; carry it with the device tool:
#       carry [".pgcarry"])
#   bash test/gpu/pg_carry.sh run       there (as root): unpack PostgreSQL into
#       /tmp/pgroot, install embq into it, initdb a throwaway cluster as an
#       unprivileged user, build the same index with embq.gpu = on and = off,
#       and check that the GPU build took the GPU path and answers with the
#       same recall as the CPU build, and that embq_knn's exact mode answers
#       on the GPU what it answers on the CPU.  Ends with `N passed, N failed`.
#   bash test/gpu/pg_carry.sh bench [ARGS]   there: the same cluster, then
#       test/gpu/build_bench.py ARGS (default 1M x 1024 rows): the index
#       build timed on the GPU and on the CPU, with recall; the table for
#       docs/BENCHMARKS.md goes to stdout and $OUT.  Needs python3 + numpy.
#
# `run` also works on a machine without a GPU (it then checks the CPU path
# and that embq.gpu = on fails with a reason), which is how it is tried here.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
CARRY=.pgcarry
PGMAJOR=15

prepare() {
    make -s
    rm -rf "$CARRY"
    mkdir -p "$CARRY/debs" "$CARRY/embq" "$CARRY/data"
    # the server, psql, and every library they load except libc and the
    # compiler runtime (the target's newer ones serve)
    local pkgs
    pkgs=$(for b in postgres initdb pg_ctl psql; do ldd "/usr/lib/postgresql/$PGMAJOR/bin/$b"; done |
        awk '/=>/ {print $3}' | sort -u | while read -r f; do
            p=$(dpkg -S "$f" 2>/dev/null || dpkg -S "${f#/usr}" 2>/dev/null || dpkg -S "/usr$f" 2>/dev/null || true)
            echo "${p%%:*}"
        done | sort -u | grep -vxE 'libc6|libgcc-s1|libstdc\+\+6|' || true)
    (cd "$CARRY/debs" && apt-get download -q "postgresql-$PGMAJOR" "postgresql-client-$PGMAJOR" $pkgs)
    cp embq.so embq.control sql/embq--*.sql "$CARRY/embq/"
    if [ -f cuda/libembq_cuda.so ]; then cp cuda/libembq_cuda.so "$CARRY/embq/"; fi
    cp test/data/minilm-sap/sap_fiori_minilm384_all.fvecs "$CARRY/data/"
    bench_base "$CARRY/data/base.npz"
    du -sh "$CARRY"
}

# The benchmark's source rows as int8 (18 MB): the MiniLM embeddings of
# Debian descriptions when make_bench_data.py has them cached (embedding
# them anew takes sentence-transformers and ten minutes), else the pixels
# of Debian's Fashion-MNIST package.
bench_base() {
    local cache=${EMBQ_BENCH_DIR:-/tmp/embq_bench}
    if [ -f "$cache/minilm_debian_50000.npz" ]; then
        python3 test/bench/make_bench_data.py "$cache/bench1024.fvecs" --export-base "$1"
    else
        python3 test/bench/make_bench_data.py "$cache/bench1024.fvecs" --source fashion-mnist --export-base "$1"
    fi
}

# Unpack the carried PostgreSQL, install embq into it and start a throwaway
# cluster as an unprivileged user, with extra server options "$@".
start_cluster() {
    # globals: the EXIT trap and the callers need them
    root=/tmp/pgroot data=/tmp/pgroot-data user=embqgpu port=5477
    bindir="$root/usr/lib/postgresql/$PGMAJOR/bin"
    # a cluster left by an earlier run goes first
    if [ -f "$data/db/postmaster.pid" ]; then
        kill -QUIT "$(head -1 "$data/db/postmaster.pid")" 2>/dev/null || true
        sleep 1
    fi
    rm -rf "$root" "$data"
    mkdir -p "$root"
    for d in "$CARRY"/debs/*.deb; do dpkg -x "$d" "$root"; done
    export LD_LIBRARY_PATH="$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    # PostgreSQL finds lib/ and share/ relative to its binaries
    cp "$CARRY"/embq/*.so "$root/usr/lib/postgresql/$PGMAJOR/lib/"
    cp "$CARRY"/embq/embq.control "$CARRY"/embq/*.sql "$root/usr/share/postgresql/$PGMAJOR/extension/"
    id "$user" >/dev/null 2>&1 || useradd -M -r "$user"
    mkdir -p "$data" && chown "$user" "$data"
    run_as() { if [ "$(id -u)" -eq 0 ]; then su "$user" -s /bin/bash -c "export LD_LIBRARY_PATH='$LD_LIBRARY_PATH'; $*"; else bash -c "$*"; fi; }
    run_as "'$bindir/initdb' -D '$data/db' -A trust -U postgres --no-locale -E UTF8 >'$data/initdb.log'"
    run_as "'$bindir/pg_ctl' -D '$data/db' -o \"-p $port -k $data -c fsync=off -c listen_addresses='' $*\" -l '$data/server.log' -w start >/dev/null"
    stop_cluster() { run_as "'$bindir/pg_ctl' -D '$data/db' -m immediate stop" >/dev/null 2>&1 || true; }
    trap 'rc=$?; stop_cluster; exit $rc' EXIT
}

# The index build benchmark: big buffers so that the table stays in memory.
bench() {
    start_cluster -c shared_buffers=8GB -c max_wal_size=32GB -c checkpoint_timeout=1h \
        -c max_worker_processes=32 -c max_parallel_workers=32
    python3 test/gpu/build_bench.py --psql "$bindir/psql" --host "$data" --port "$port" \
        --base "$CARRY/data/base.npz" "$@"
}

run() {
    start_cluster

    # the real MiniLM vectors as a real[] CSV
    python3 - "$CARRY/data/sap_fiori_minilm384_all.fvecs" "$data/vectors.csv" <<'PY'
import sys, struct
raw = open(sys.argv[1], 'rb').read()
out = open(sys.argv[2], 'w')
off, i = 0, 0
while off < len(raw):
    d = struct.unpack_from('<i', raw, off)[0]
    v = struct.unpack_from('<%df' % d, raw, off + 4)
    out.write('%d,"{%s}"\n' % (i, ','.join(repr(x) for x in v)))
    off += 4 + 4 * d
    i += 1
PY
    chmod a+r "$data/vectors.csv"
    "$bindir/psql" -X -q -h "$data" -p "$port" -U postgres -v ON_ERROR_STOP=1 -v csv="$data/vectors.csv" \
        >"$data/test.out" 2>&1 <<'SQL' || { cat "$data/test.out"; echo "0 passed, 1 failed"; exit 1; }
CREATE EXTENSION embq;
SELECT * FROM embq_gpu_status();
CREATE TABLE v (id int, f real[]);
COPY v FROM :'csv' (FORMAT csv);
-- three vectors in four, 20 times each with deterministic perturbations (11,680
-- rows); the fourth are the queries, so no query has copies of itself to find
-- and recall at few probes depends on how good the lists are (0.74 on the CPU)
CREATE TABLE t AS SELECT g * 1000 + id AS id,
	quantize_int8(array(SELECT x + 0.03 * sin(g * 31 + n * 7 + id) FROM unnest(f) WITH ORDINALITY AS u(x, n))::real[])::i8vec(384) AS e
	FROM v, generate_series(0, 19) g WHERE id % 4 <> 0;
CREATE TABLE q AS SELECT id, f FROM v WHERE id % 4 = 0;
CREATE TABLE exact AS SELECT q.id, array(SELECT t.id FROM t ORDER BY t.e <=> q.f LIMIT 10) AS ids FROM q;
CREATE TABLE recall (path text, value float8, trained text, assigned text);
CREATE PROCEDURE measure(path text) LANGUAGE plpgsql AS $$
BEGIN
	SET LOCAL enable_seqscan = off;
	-- few probes, so that recall depends on how the lists were built
	SET LOCAL embq.probes = 4;
	INSERT INTO recall SELECT path,
		avg((SELECT count(*) FROM unnest(array(SELECT t.id FROM t ORDER BY t.e <=> q.f LIMIT 10)) g(id)
			WHERE g.id = ANY (x.ids)) / 10.0),
		(SELECT trained_on FROM embq_ivf_info('ti')), (SELECT assigned_on FROM embq_ivf_info('ti'))
	FROM q JOIN exact x USING (id);
END $$;
SET embq.gpu = off;
CREATE INDEX ti ON t USING embq_ivf (e i8vec_cosine_ops) WITH (lists = 64);
CALL measure('cpu');
DROP INDEX ti;
SET embq.gpu = on;
DO $$ BEGIN
	CREATE INDEX ti ON t USING embq_ivf (e i8vec_cosine_ops) WITH (lists = 64);
	CALL measure('gpu');
	DROP INDEX ti;
EXCEPTION WHEN feature_not_supported THEN
	RAISE NOTICE 'embq.gpu = on: %', SQLERRM;
END $$;
SELECT * FROM recall;
\copy recall TO STDOUT (FORMAT csv)
-- embq_knn's exact mode on the GPU returns what it returns on the CPU
SET embq.gpu = off;
CREATE INDEX tk ON t USING embq_ivf (e i8vec_cosine_ops) WITH (lists = 64);
SET work_mem = '64MB';
CREATE TABLE knn AS SELECT 'knn-cpu' AS path, count(*) AS n, md5(string_agg(query || ':' || rank || ':' || ctid || ':' || distance, ','
	ORDER BY query, rank)) AS digest FROM embq_knn('tk', ARRAY(SELECT f FROM q ORDER BY id), 10, true);
SET embq.gpu = on;
DO $$ BEGIN
	INSERT INTO knn SELECT 'knn-gpu', count(*), md5(string_agg(query || ':' || rank || ':' || ctid || ':' || distance, ','
		ORDER BY query, rank)) FROM embq_knn('tk', ARRAY(SELECT f FROM q ORDER BY id), 10, true);
EXCEPTION WHEN feature_not_supported THEN
	RAISE NOTICE 'embq.gpu = on: %', SQLERRM;
END $$;
\copy knn TO STDOUT (FORMAT csv)
SQL
    cat "$data/test.out"
    evaluate "$data/test.out"
}

# Checks on the output of run: the CPU build; the GPU build or its refusal.
evaluate() {
    local out="$1" passed=0 failed=0 cpu gpu
    check() { if eval "$2"; then passed=$((passed + 1)); echo "ok: $1"; else failed=$((failed + 1)); echo "FAIL: $1"; fi; }
    cpu=$(grep -E '^cpu,' "$out" || true)
    gpu=$(grep -E '^gpu,' "$out" || true)
    check "the CPU build trained and assigned on the CPU" '[[ "$cpu" == cpu,*,cpu,cpu ]]'
    check "CPU build recall@10 at 4 of 64 lists >= 0.6" "awk -F, '{exit !(\$2 >= 0.6)}' <<<\"$cpu\""
    if grep -q 'embq.gpu = on: embq.gpu is on but no GPU is usable' "$out"; then
        echo "skipped: no GPU ($(grep -oE '\| f +\| +\| .*' "$out" | head -1 | sed 's/^| f *| *| //'))"
    else
        check "the GPU build trained and assigned on the GPU" '[[ "$gpu" == gpu,*,gpu,gpu ]]'
        # CPU builds from other samples differ by up to 0.01 at 4 probes, and by
        # 0.03 at 2; the emulated GPU build was 0.008 from the CPU's
        check "GPU and CPU builds have the same recall within 0.03" \
            "awk -F, -v c=\"\${cpu#cpu,}\" '{split(c, a, \",\"); d = \$2 - a[1]; exit !(d <= 0.03 && d >= -0.03)}' <<<\"$gpu\""
        check "embq_knn exact on the GPU returns what the CPU returns" \
            '[ -n "$(grep -E "^knn-cpu," "$out")" ] && [ "$(grep -E "^knn-gpu," "$out" | cut -d, -f2-)" = "$(grep -E "^knn-cpu," "$out" | cut -d, -f2-)" ]'
    fi
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

case "${1:-}" in
    prepare) prepare ;;
    run) run ;;
    bench) shift; bench "$@" ;;
    *) echo "usage: $0 prepare|run|bench [build_bench.py options]" >&2; exit 2 ;;
esac
