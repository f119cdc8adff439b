#!/usr/bin/env python3
"""embq_ivf index build on the GPU against the CPU path, in one PostgreSQL
server on one host (the GPU benchmark of docs/BENCHMARKS.md).

Run by `bash test/gpu/pg_carry.sh bench` on the GPU machine, which starts
the server; needs numpy only (no psycopg: it drives psql).

  1. Data: the carried source rows (.pgcarry/data/base.npz, real MiniLM
     embeddings of Debian package descriptions saved as int8 by
     make_bench_data.py --export-base) lifted to --dim dims and --rows rows
     by make_bench_data.py's recipe (lifted_rows), quantized per row to
     i8vec and loaded with COPY BINARY.  The float top-10 of each query is
     computed on the way, in float64 from the float rows.
  2. For each path in --paths (default gpu, cpu, cpu-par): CREATE INDEX ...
     USING embq_ivf (e i8vec_cosine_ops) with the default lists under
     embq.gpu = on (gpu) or off (cpu, cpu-par), serial but for cpu-par,
     which asks for --workers parallel workers (default: one per CPU
     besides the leader's), timed by psql's \\timing, while a
     second connection samples pg_stat_progress_create_index every 50 ms
     for the time spent in each phase.  Then recall@10 and mean latency of
     the queries through that index at the default embq.probes.
  3. embq_knn(exact) timed on the GPU (--knn-queries rows of t as queries)
     and on the CPU (--knn-cpu-queries of them, and the GPU again on those,
     whose answers must be identical), against the last index built.
  4. A markdown table on stdout and in OUT/build_bench.md, JSON in
     OUT/build_bench.json.

Where embq.gpu = on fails (no usable GPU) the gpu row says why and the run
goes on, so the script also runs on machines without a GPU.
"""
import argparse
import json
import os
import re
import struct
import subprocess
import sys
import threading
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
from make_bench_data import lifted_rows, load_exported_base, quantize_rows  # noqa: E402

K = 10


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


class Psql:
    """psql against one database; every call is a new session."""

    def __init__(self, exe, host, port, db):
        self.base = [exe, "-X", "-q", "-h", host, "-p", str(port), "-U", "postgres", "-d", db,
                     "-v", "ON_ERROR_STOP=1"]

    def run(self, sql, check=True):
        p = subprocess.run(self.base + ["-At"], input=sql.encode(), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        out = p.stdout.decode()
        if check and p.returncode != 0:
            sys.exit("psql failed:\n%s\n%s" % (sql, out))
        return p.returncode, out

    def copy_in(self, copy_sql, chunks):
        p = subprocess.Popen(self.base + ["-c", copy_sql], stdin=subprocess.PIPE)
        for c in chunks:
            p.stdin.write(c)
        p.stdin.close()
        if p.wait() != 0:
            sys.exit("COPY failed")


def i8vec_copy_stream(rows_iter, dim):
    """COPY BINARY of (id int4, e i8vec): i8vec_recv reads int16 dims,
    int16 0, float4 scale, then the int8 codes."""
    yield b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
    row = np.dtype([("nf", ">i2"), ("idlen", ">i4"), ("id", ">i4"), ("elen", ">i4"),
                    ("dim", ">i2"), ("zero", ">i2"), ("scale", ">f4"), ("codes", "i1", (dim,))])
    for start, blk in rows_iter:
        codes, scales = quantize_rows(blk)
        r = np.zeros(len(blk), dtype=row)
        r["nf"] = 2
        r["idlen"] = 4
        r["id"] = np.arange(start, start + len(blk))
        r["elen"] = 8 + dim
        r["dim"] = dim
        r["scale"] = scales
        r["codes"] = codes
        yield r.tobytes()
    yield struct.pack(">h", -1)


def load(psql, base_npz, rows, dim):
    """Create and fill t (id, e i8vec(dim)) and q (id, f real[], truth int[])."""
    base, queries, source = load_exported_base(base_npz)
    log("source rows: %s, %d x %d; lifting to %d x %d" % (source, len(base), base.shape[1], rows, dim))
    lq, blocks, _ = lifted_rows(base, queries, rows, dim, chunk=20_000)
    lq64 = lq.astype(np.float64)
    best_s = np.full((len(lq), K), -np.inf)
    best_i = np.zeros((len(lq), K), dtype=np.int64)

    def with_truth():
        nonlocal best_s, best_i
        for start, blk in blocks:
            s = lq64 @ blk.astype(np.float64).T         # cosine: every row is unit length
            cs = np.concatenate([best_s, s], axis=1)
            ci = np.concatenate([best_i, np.broadcast_to(np.arange(start, start + len(blk)), s.shape)], axis=1)
            top = np.argpartition(-cs, K - 1, axis=1)[:, :K]
            best_s = np.take_along_axis(cs, top, axis=1)
            best_i = np.take_along_axis(ci, top, axis=1)
            if start % 200_000 == 0:
                log("loaded %d rows" % start)
            yield start, blk

    psql.run("DROP TABLE IF EXISTS t, q; CREATE TABLE t (id int, e i8vec(%d));" % dim)
    t0 = time.time()
    psql.copy_in("COPY t (id, e) FROM STDIN (FORMAT binary)", i8vec_copy_stream(with_truth(), dim))
    log("loaded %d rows in %.1f s" % (rows, time.time() - t0))
    order = np.argsort(-best_s, axis=1, kind="stable")
    truth = np.take_along_axis(best_i, order, axis=1)
    lines = []
    for i, (f, ids) in enumerate(zip(lq, truth)):
        lines.append("%d\t{%s}\t{%s}\n" % (i, ",".join(repr(float(x)) for x in f),
                                           ",".join(str(int(x)) for x in ids)))
    psql.run("CREATE TABLE q (id int, f real[], truth int[]);")
    psql.copy_in("COPY q FROM STDIN", [("".join(lines)).encode()])
    psql.run("VACUUM ANALYZE t; VACUUM ANALYZE q; CREATE EXTENSION IF NOT EXISTS pg_prewarm;"
             "SELECT pg_prewarm('t');")
    return source


MEASURE = """
CREATE OR REPLACE FUNCTION measure(OUT recall float8, OUT ms float8) LANGUAGE plpgsql AS $$
DECLARE
	r record;
	hits bigint := 0;
	n int := 0;
	t0 timestamptz;
BEGIN
	SET LOCAL enable_seqscan = off;
	-- one untimed pass warms the index pages
	PERFORM (SELECT array(SELECT t.id FROM t ORDER BY t.e <=> q.f LIMIT 10)) FROM q;
	t0 := clock_timestamp();
	FOR r IN SELECT q.truth, array(SELECT t.id FROM t ORDER BY t.e <=> q.f LIMIT 10) AS got
			FROM q ORDER BY q.id LOOP
		hits := hits + (SELECT count(*) FROM unnest(r.got) g(id) WHERE g.id = ANY (r.truth));
		n := n + 1;
	END LOOP;
	ms := extract(epoch FROM clock_timestamp() - t0) * 1000 / n;
	recall := hits / (10.0 * n);
END $$;
"""


class PhaseSampler(threading.Thread):
    """Samples the build's phase every 50 ms; seconds spent in each."""

    def __init__(self, psql):
        super().__init__(daemon=True)
        self.psql, self.stop, self.spent = psql, threading.Event(), {}

    def run(self):
        last = time.time()
        while not self.stop.is_set():
            _, out = self.psql.run("SELECT phase FROM pg_stat_progress_create_index LIMIT 1", check=False)
            now = time.time()
            phase = out.strip().replace("building index: ", "")
            if phase:
                self.spent[phase] = self.spent.get(phase, 0.0) + (now - last)
            last = now
            self.stop.wait(0.05)


def build(psql, path, mwm, workers):
    """CREATE INDEX under embq.gpu = on (gpu) or off (cpu, cpu-par); its figures."""
    psql.run("DROP INDEX IF EXISTS ti; CHECKPOINT;")
    sampler = PhaseSampler(psql)
    sampler.start()
    # the table's parallel_workers: the planner's own count stops near 5 at 1 GB
    par = path == "cpu-par"
    rc, out = psql.run("ALTER TABLE t %s;\n"
                       "SET maintenance_work_mem = '%s'; SET embq.gpu = %s;\n"
                       "SET max_parallel_maintenance_workers = %d;\n\\timing on\n"
                       "CREATE INDEX ti ON t USING embq_ivf (e i8vec_cosine_ops);\n"
                       % ("SET (parallel_workers = %d)" % workers if par else "RESET (parallel_workers)",
                          mwm, "on" if path == "gpu" else "off", workers if par else 0), check=False)
    sampler.stop.set()
    sampler.join()
    res = {"path": path, "phases_s": {k: round(v, 2) for k, v in sampler.spent.items()}}
    if rc != 0:
        errs = [l for l in out.splitlines() if "ERROR:" in l]
        res["error"] = errs[-1].split("ERROR:", 1)[1].strip() if errs else "psql exited %d" % rc
        log("%s build failed: %s" % (path, res["error"]))
        return res
    res["build_s"] = float(re.findall(r"Time: ([0-9.]+) ms", out)[-1]) / 1000
    _, info = psql.run("SELECT lists, trained_on, assigned_on, build_workers, pg_relation_size('ti') "
                       "FROM embq_ivf_info('ti')")
    lists, trained, assigned, nworkers, size = info.strip().split("|")
    res.update(lists=int(lists), trained_on=trained, assigned_on=assigned, workers=int(nworkers),
               index_mb=int(size) / 2**20)
    _, m = psql.run(MEASURE + "SELECT * FROM measure();")
    rec, ms = m.strip().splitlines()[-1].split("|")
    res.update(recall=float(rec), query_ms=float(ms))
    log("%s: %s" % (path, json.dumps(res)))
    return res


def knn(psql, gpu, nq, work_mem):
    """embq_knn exact, top-10 of the first nq rows of t against all of t, on the
    GPU or the CPU: seconds (psql's \\timing), rows returned, and a digest."""
    rc, out = psql.run("SET embq.gpu = %s; SET work_mem = '%s';\n\\timing on\n"
                       "SELECT count(*), md5(string_agg(query || ':' || rank || ':' || ctid, ',' "
                       "ORDER BY query, rank)) FROM embq_knn('ti', ARRAY(SELECT e FROM t WHERE id <= %d), "
                       "10, true);\n" % ("on" if gpu else "off", work_mem, nq), check=False)
    if rc != 0:
        errs = [l for l in out.splitlines() if "ERROR:" in l]
        return {"error": errs[-1].split("ERROR:", 1)[1].strip() if errs else "psql exited %d" % rc}
    rows, digest = [l for l in out.splitlines() if "|" in l][-1].split("|")
    return {"s": float(re.findall(r"Time: ([0-9.]+) ms", out)[-1]) / 1000, "rows": int(rows),
            "digest": digest.strip(), "queries": nq}


def cpu_model():
    """The host's processor and its count of online CPUs."""
    model = ""
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return "%s x %d" % (model, os.cpu_count())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--psql", required=True)
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--db", default="postgres")
    ap.add_argument("--base", required=True, help="NPZ from make_bench_data.py --export-base")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=1024)
    ap.add_argument("--paths", default="gpu,cpu,cpu-par")
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1),
                    help="parallel workers of the cpu-par build")
    ap.add_argument("--maintenance-work-mem", default="8GB")
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--knn-queries", type=int, default=10_000,
                    help="embq_knn exact on the GPU: this many rows of t as queries (0: skip)")
    ap.add_argument("--knn-cpu-queries", type=int, default=100,
                    help="the same on the CPU, on this many (its time scales with the queries)")
    a = ap.parse_args()
    psql = Psql(a.psql, a.host, a.port, a.db)

    psql.run("CREATE EXTENSION IF NOT EXISTS embq;")
    _, st = psql.run("SELECT usable, coalesce(device, ''), coalesce(reason, '') FROM embq_gpu_status();")
    usable, device, reason = st.strip().split("|")
    log("GPU: usable=%s device=%s reason=%s" % (usable, device, reason))
    source = load(psql, a.base, a.rows, a.dim)
    results = [build(psql, p, a.maintenance_work_mem, a.workers) for p in a.paths.split(",")]

    meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "rows": a.rows, "dim": a.dim,
            "source": source, "gpu": device or "none (%s)" % reason,
            "cpu": cpu_model(),
            "maintenance_work_mem": a.maintenance_work_mem}
    md = ["embq_ivf build, %d x %d i8vec (%s rows lifted), cosine, default lists; %s; GPU: %s; CPU: %s"
          % (a.rows, a.dim, source, meta["date"], meta["gpu"], meta["cpu"]), "",
          "| path | build s | trained on | assigned on | workers | lists | index MB | recall@10 | query ms | phases (s) |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        if "error" in r:
            md.append("| %s | failed: %s | | | | | | | | |" % (r["path"], r["error"]))
            continue
        md.append("| %s | %.1f | %s | %s | %d | %d | %.0f | %.3f | %.2f | %s |" % (
            r["path"], r["build_s"], r["trained_on"], r["assigned_on"], r["workers"], r["lists"], r["index_mb"],
            r["recall"], r["query_ms"], ", ".join("%s %.1f" % kv for kv in r["phases_s"].items())))
    ok = {r["path"]: r for r in results if "error" not in r}
    for cpu in ("cpu", "cpu-par"):
        if "gpu" in ok and cpu in ok:
            md += ["", "%s / gpu build time: %.1fx; recall gpu - %s: %+.3f"
                   % (cpu, ok[cpu]["build_s"] / ok["gpu"]["build_s"], cpu,
                      ok["gpu"]["recall"] - ok[cpu]["recall"])]
    if a.knn_queries and ok:
        g = knn(psql, True, a.knn_queries, "4GB")
        c = knn(psql, False, a.knn_cpu_queries, "4GB")
        gs = knn(psql, True, a.knn_cpu_queries, "4GB")
        meta["knn"] = {"gpu": g, "cpu": c, "gpu_same_queries": gs}
        md += ["", "embq_knn(exact), top-10 of i8vec queries (rows of t) against all %d rows:" % a.rows]
        for name, r in (("gpu", g), ("cpu", c), ("gpu, the CPU's queries", gs)):
            md.append("- %s: %s" % (name, r["error"] if "error" in r else "%d queries in %.2f s (%.0f q/s)"
                                    % (r["queries"], r["s"], r["queries"] / r["s"])))
        if "error" not in c and "error" not in gs:
            md.append("- GPU and CPU answers on the CPU's %d queries: %s" % (
                c["queries"], "identical" if c["digest"] == gs["digest"] else "DIFFERENT"))
    text = "\n".join(md) + "\n"
    print(text)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "build_bench.md"), "w") as fh:
        fh.write(text)
    with open(os.path.join(a.out, "build_bench.json"), "w") as fh:
        json.dump({"meta": meta, "results": results}, fh, indent=1)


if __name__ == "__main__":
    main()
