#!/usr/bin/env python3
"""bench_index.py: embq_ivf vs pgvector HNSW / IVFFlat on the same rows.

One run, one server (the standard PG* variables: PGHOST, PGPORT, PGUSER,
PGDATABASE), one set of rows:

  1. loads the first N rows of an fvecs file (default: the 200,000 x 1024
     real-derived set of test/bench/make_bench_data.py) by COPY BINARY into a
     staging real[] table, then into
        bix_embq (id int, e i8vec(1024))   -- quantize_int8
        bix_vec  (id int, v vector(1024))  -- pgvector
     ids are 1..N in file order; the staging table is dropped afterwards;
  2. computes the exact float top-10 by cosine (= inner product: the rows and
     queries are unit vectors) for the queries with numpy, in float64; and,
     as a cross-check of the server, the top-10 of a numpy simulation of the
     int8 codes (per-vector absmax, round to nearest);
  3. builds, one after the other, each timed by the client, all with the same
     maintenance_work_mem and max_parallel_maintenance_workers = 0 (single
     process, like for like; pgvector's parallel HNSW / IVFFlat build is
     therefore not used), after a CHECKPOINT:
        embq_ivf (e i8vec_cosine_ops)                  default lists
        hnsw     (v vector_cosine_ops) m=16, ef_construction=64
        ivfflat  (v vector_cosine_ops) lists = N / 1000
     and reports build time and pg_relation_size of each;
  4. for every setting of a sweep, measures recall@10 against the float
     ground truth and the mean client-side wall time of
        SELECT id FROM t ORDER BY col <=> $1 LIMIT 10
     (psycopg 3, server-side prepared statement, the query sent as a text
     parameter: '{...}' cast $1::real[] for embq, '[...]' cast $1::vector
     for pgvector), after pg_prewarm of the table, its TOAST and the index,
     and one untimed warm-up pass over all queries; the mean over the queries
     of each of PASSES passes, median pass reported. The two pgvector indexes
     are on one table: each is measured inside a transaction that drops the
     other (rolled back); index sweeps run with enable_seqscan = off (the
     report marks settings where the planner alone would not pick the index),
     and every setting's plan, custom and prepared/generic, is checked with
     EXPLAIN.
     Also: exact seq scans (enable_indexscan = off) of the i8vec codes with the
     float query (the recall ceiling of the int8 codes) and of the pgvector
     floats (should be recall 1.0: checks the ground truth);
  5. prints a markdown report (table + ratios at recall >= TARGET_RECALL, size
     and build ratios vs the targets) and writes it, plus the raw numbers as
     JSON, under --outdir;
  6. draws recall@10 vs mean latency (log) per method to --plot.

All queries run with max_parallel_workers_per_gather = 0 and jit = off.

Usage: bench_index.py [--rows N] [--data F.fvecs] [--queries Q.fvecs] ...
       (see --help; test/bench/bench_index.sh is a wrapper with the defaults)
"""
import argparse
import datetime
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np
import psycopg

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from load_fvecs import read_fvecs, write_binary  # noqa: E402

TARGET_RECALL = 0.95
HIGH_RECALL = 0.99      # issue 14: reachable, at a latency no worse than HNSW's
TARGET_LATENCY = 0.7    # issue 14: embq latency / HNSW latency at TARGET_RECALL <= this
TARGET_SIZE = 0.25      # embq index size / HNSW index size <= this
TARGET_BUILD = 5.0      # HNSW build time / embq build time >= this


def log(*a):
    print(time.strftime("[%H:%M:%S]"), *a, file=sys.stderr, flush=True)


def ilist(s):
    return [int(x) for x in s.split(",") if x.strip()]


# ---------------------------------------------------------------- numpy side

def topk_ip(x, q, k, chunk=20000, transform=None):
    """top-k row indices (0-based) by inner product, exact, float64."""
    q64 = q.astype(np.float64)
    best_s = np.full((q.shape[0], 0), -np.inf)
    best_i = np.zeros((q.shape[0], 0), dtype=np.int64)
    for s in range(0, x.shape[0], chunk):
        xc = x[s:s + chunk].astype(np.float64)
        if transform is not None:
            xc = transform(xc)
        sc = q64 @ xc.T
        allsc = np.concatenate([best_s, sc], axis=1)
        alli = np.concatenate([best_i, np.arange(s, s + xc.shape[0])[None, :].repeat(q.shape[0], 0)], axis=1)
        part = np.argpartition(-allsc, k - 1, axis=1)[:, :k]
        best_s = np.take_along_axis(allsc, part, 1)
        best_i = np.take_along_axis(alli, part, 1)
    order = np.argsort(-best_s, axis=1, kind="stable")
    return np.take_along_axis(best_i, order, 1), np.take_along_axis(best_s, order, 1)


def int8_cosine_view(xc):
    """rows as numpy's model of quantize_int8 then dequantize, normalised
    (cosine to a unit query = inner product with this)."""
    amax = np.abs(xc).max(axis=1, keepdims=True)
    amax[amax == 0] = 1
    codes = np.clip(np.rint(xc * (127.0 / amax)), -127, 127)
    n = np.linalg.norm(codes, axis=1, keepdims=True)
    n[n == 0] = 1
    return codes / n


def recall_at(found, gt, k=10):
    return float(np.mean([len(set(f[:k]) & set(g[:k])) / k for f, g in zip(found, gt)]))


# ---------------------------------------------------------------- server side

def one(cur, sql, params=None):
    cur.execute(sql, params)
    r = cur.fetchone()
    return r[0] if r else None


def timed(conn, sql):
    t0 = time.perf_counter()
    conn.execute(sql)
    return time.perf_counter() - t0


def table_rows(cur, t):
    if one(cur, "SELECT to_regclass(%s) IS NOT NULL", (t,)):
        return one(cur, "SELECT count(*) FROM " + t)
    return -1


def load(conn, x, dim, reload):
    cur = conn.cursor()
    n = x.shape[0]
    if not reload and table_rows(cur, "bix_embq") == n and table_rows(cur, "bix_vec") == n \
            and one(cur, "SELECT obj_description('bix_vec'::regclass)") == "rows=%d dim=%d" % (n, dim):
        log("tables bix_embq / bix_vec already hold %d rows: reusing (--reload to redo)" % n)
        return None
    cur.execute("DROP TABLE IF EXISTS bix_float, bix_embq, bix_vec CASCADE")
    cur.execute("CREATE TABLE bix_float (id int, v real[])")
    t0 = time.perf_counter()
    with cur.copy("COPY bix_float (id, v) FROM STDIN WITH (FORMAT binary)") as cp:
        write_binary(x, cp)
    t_copy = time.perf_counter() - t0
    log("COPY %d rows into bix_float: %.1f s" % (n, t_copy))
    cur.execute("CREATE TABLE bix_embq (id int NOT NULL, e i8vec(%d) NOT NULL)" % dim)
    cur.execute("CREATE TABLE bix_vec (id int NOT NULL, v vector(%d) NOT NULL)" % dim)
    t_e = timed(conn, "INSERT INTO bix_embq SELECT id, quantize_int8(v) FROM bix_float ORDER BY id")
    t_v = timed(conn, "INSERT INTO bix_vec SELECT id, v::vector FROM bix_float ORDER BY id")
    log("INSERT ... SELECT: bix_embq %.1f s, bix_vec %.1f s" % (t_e, t_v))
    cur.execute("DROP TABLE bix_float")
    cur.execute("VACUUM (ANALYZE) bix_embq")
    cur.execute("VACUUM (ANALYZE) bix_vec")
    cur.execute("COMMENT ON TABLE bix_vec IS 'rows=%d dim=%d'" % (n, dim))
    return {"copy_s": t_copy, "insert_embq_s": t_e, "insert_vec_s": t_v}


def build(conn, name, sql, mwm):
    cur = conn.cursor()
    cur.execute("DROP INDEX IF EXISTS " + name)
    cur.execute("SET maintenance_work_mem = '%s'" % mwm)
    cur.execute("SET max_parallel_maintenance_workers = 0")
    cur.execute("CHECKPOINT")
    log("building %s: %s" % (name, sql))
    t = timed(conn, sql)
    size = one(cur, "SELECT pg_relation_size(%s)", (name,))
    log("  %s: %.1f s, %.1f MB" % (name, t, size / 2**20))
    return {"build_s": t, "size_bytes": size, "sql": sql}


def fmt_vec(q, kind):
    body = ",".join("%.9g" % f for f in q)
    return ("{%s}" if kind == "array" else "[%s]") % body


def prewarm(cur, table, index):
    rels = [table, index] if index else [table]
    toast = one(cur, "SELECT reltoastrelid::regclass::text FROM pg_class WHERE oid = %s::regclass "
                     "AND reltoastrelid <> 0", (table,))
    if toast:
        rels.append(toast)
    for r in rels:
        cur.execute("SELECT pg_prewarm(%s)", (r,))


def measure(conn, m, setting, gucs, qtexts, gt, passes, expect):
    """one sweep point: returns dict with recall, latencies."""
    cur = conn.cursor()
    for g, v in gucs.items():
        cur.execute("SET %s = %s" % (g, v))
    sql = "SELECT id FROM %s ORDER BY %s %s %%s::%s LIMIT 10" % (m["table"], m["col"], m["op"], m["cast"])
    explain = "EXPLAIN (COSTS OFF) SELECT id FROM %s ORDER BY %s %s '%s'::%s LIMIT 10" % (
        m["table"], m["col"], m["op"], qtexts[0], m["cast"])
    # would the planner pick the index on its own? (recorded, then forced)
    planner_picks = expect in "\n".join(r[0] for r in cur.execute(explain).fetchall())
    if "enable_indexscan" not in gucs:
        cur.execute("SET enable_seqscan = off")
    plan = "\n".join(r[0] for r in cur.execute(explain).fetchall())
    if expect not in plan:
        raise SystemExit("%s %s: plan does not use %r:\n%s" % (m["name"], setting, expect, plan[:300]))
    # warm-up pass (also makes psycopg prepare the statement: prepare=True)
    for qt in qtexts:
        cur.execute(sql, (qt,), prepare=True)
        cur.fetchall()
    pass_means, results = [], None
    for _ in range(passes):
        times, res = [], []
        for qt in qtexts:
            t0 = time.perf_counter()
            cur.execute(sql, (qt,), prepare=True)
            rows = cur.fetchall()
            times.append(time.perf_counter() - t0)
            res.append([r[0] for r in rows])
        pass_means.append(1000.0 * sum(times) / len(times))
        if results is None:
            results = res
        elif res != results:
            log("  note: %s %s returned different rows in different passes" % (m["name"], setting))
    found = [[i - 1 for i in r] for r in results]
    short = sum(1 for r in results if len(r) < 10)
    rec = recall_at(found, gt)
    # generic-plan check: after >5 executions the prepared statement may use a
    # generic plan; make sure it still is an index scan (or seq scan as meant)
    cur.execute("PREPARE bix_chk(%s) AS %s" % (m["cast"], sql.replace("%s::" + m["cast"], "$1")))
    for _ in range(6):
        cur.execute("EXECUTE bix_chk('%s')" % qtexts[0]).fetchall()
    gplan = "\n".join(r[0] for r in cur.execute("EXPLAIN (COSTS OFF) EXECUTE bix_chk('%s')" % qtexts[0]).fetchall())
    cur.execute("DEALLOCATE bix_chk")
    for g in list(gucs) + ["enable_seqscan"]:
        cur.execute("RESET %s" % g)
    if expect not in gplan:
        raise SystemExit("%s %s: prepared plan does not use %r:\n%s" % (m["name"], setting, expect, gplan[:300]))
    r = {"method": m["name"], "setting": setting, "gucs": gucs, "recall": rec, "planner_picks": planner_picks,
         "lat_ms": statistics.median(pass_means), "pass_ms": pass_means, "short": short,
         "plan": plan.splitlines()[1].strip() if len(plan.splitlines()) > 1 else plan}
    log("  %-28s %-26s recall@10 %.3f  mean %.3f ms  (passes %s)%s%s" % (
        m["name"], setting, rec, r["lat_ms"], ", ".join("%.3f" % p for p in pass_means),
        ("  %d queries got <10 rows" % short) if short else "",
        "" if planner_picks else "  [planner alone would not use %s]" % expect))
    return r


def param_baseline(conn, qtexts, passes):
    """round trip + parameter parse only: SELECT $1::type IS NOT NULL."""
    out = {}
    cur = conn.cursor()
    for kind, cast, qs in (("real[]", "real[]", qtexts["array"]), ("vector", "vector", qtexts["vector"])):
        sql = "SELECT %%s::%s IS NOT NULL" % cast
        for qt in qs:
            cur.execute(sql, (qt,), prepare=True).fetchall()
        means = []
        for _ in range(passes):
            t0 = time.perf_counter()
            for qt in qs:
                cur.execute(sql, (qt,), prepare=True).fetchall()
            means.append(1000.0 * (time.perf_counter() - t0) / len(qs))
        out[kind] = statistics.median(means)
    return out


# ---------------------------------------------------------------- analysis

def at_recall(points, target):
    """points: list of (recall, latency, setting). Returns (cheapest setting
    reaching target or None, interpolated latency at target or None)."""
    ok = [p for p in points if p[0] >= target]
    cheapest = min(ok, key=lambda p: p[1]) if ok else None
    # interpolate along the Pareto frontier (latency ascending, recall ascending)
    pts = sorted(points, key=lambda p: p[1])
    front, best = [], -1.0
    for p in pts:
        if p[0] > best:
            front.append(p)
            best = p[0]
    interp = None
    for a, b in zip(front, front[1:]):
        if a[0] < target <= b[0]:
            f = (target - a[0]) / (b[0] - a[0])
            interp = float(np.exp(np.log(a[1]) + f * (np.log(b[1]) - np.log(a[1]))))
            break
    if interp is None and front and front[0][0] >= target:
        interp = front[0][1]  # the cheapest point is already above target: no extrapolation
    return cheapest, interp


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception:
        return ""


def so_md5(cur):
    path = os.path.join(sh("pg_config --pkglibdir"), "embq.so")
    try:
        with open(path, "rb") as f:
            return hashlib.md5(f.read()).hexdigest()[:12], time.strftime(
                "%Y-%m-%d %H:%M UTC", time.gmtime(os.path.getmtime(path)))
    except OSError:
        return "unknown", "?"


def report(meta, builds, rows, base, ratios):
    L = []
    L.append("- Date: %s" % meta["date"])
    L.append("- Machine: %s" % meta["machine"])
    L.append("- Server: %s" % meta["server"])
    L.append("- Extensions: embq %s (embq.so %s, md5 %s; kernels %s), pgvector %s" % (
        meta["embq_ver"], meta["so_mtime"], meta["so_md5"], meta.get("cpu_kernels", "?"), meta["pgv_ver"]))
    L.append("- Data: first %d rows x %d of `%s`; %d queries from `%s`" % (
        meta["rows"], meta["dim"], meta["data"], meta["nq"], meta["queries"]))
    L.append("- Tables: bix_embq %.1f MB, bix_vec %.1f MB (pg_total_relation_size, before indexes)" % (
        meta["size_embq_table"] / 2**20, meta["size_vec_table"] / 2**20))
    L.append("- Builds: maintenance_work_mem %s, max_parallel_maintenance_workers 0, CHECKPOINT before each" % meta["mwm"])
    L.append("- embq_ivf: %s" % meta["embq_info"])
    L.append("- Queries: %d per pass, %d timed passes after one warm-up pass (median pass), "
             "max_parallel_workers_per_gather 0, plan_cache_mode auto; index sweeps with enable_seqscan off" % (meta["nq"], meta["passes"]))
    L.append("")
    L.append("| method | setting | recall@10 | mean latency ms | build s | index MB |")
    L.append("|---|---|---|---|---|---|")
    for r in rows:
        b = builds.get(r["index"]) if r.get("index") else None
        L.append("| %s | %s%s | %.3f | %.2f | %s | %s |" % (
            r["method"], r["setting"], "" if r["planner_picks"] else " (*)", r["recall"], r["lat_ms"],
            "%.1f" % b["build_s"] if b else "-", "%.1f" % (b["size_bytes"] / 2**20) if b else "-"))
    if any(not r["planner_picks"] for r in rows):
        L.append("")
        L.append("(*) with default settings the planner would not use this index here (it picks a seq scan + sort); "
                 "all index rows are measured with enable_seqscan = off, the plan checked by EXPLAIN.")
    L.append("")
    L.append("Round trip + parameter parse only (`SELECT $1::real[] IS NOT NULL`, `SELECT $1::vector IS NOT NULL`): "
             "real[] %.3f ms, vector %.3f ms per query (included in every latency above)." % (
                 base["real[]"], base["vector"]))
    L.append("")
    L.append("Ratios (targets from issues 3 and 14):")
    L.append("")
    for line in ratios:
        L.append("- " + line)
    return "\n".join(L)


def plot(rows, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(9, 6), dpi=120)
    plot_ax(ax, rows, title)
    fig.tight_layout()
    fig.savefig(path)
    log("plot written to %s" % path)


def plot_panels(jsons, path):
    """One panel per results.json (one data shape each), side by side."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ncols = min(3, len(jsons))
    nrows = (len(jsons) + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.5 * ncols, 5.5 * nrows), dpi=100, squeeze=False)
    for ax in axes.flat[len(jsons):]:
        ax.axis("off")
    for ax, jp in zip(axes.flat, jsons):
        j = json.load(open(jp))
        m = j["meta"]
        plot_ax(ax, j["rows"], "%d x %d (%s), %d queries, %s" % (
            m["rows"], m["dim"], m.get("label", "?"), m["nq"], m["date"][:10]))
    fig.tight_layout()
    fig.savefig(path)
    log("plot written to %s" % path)


def plot_ax(ax, rows, title):
    styles = {"embq_ivf flat": ("tab:blue", "o", "probes"), "embq_ivf signs": ("tab:purple", "D", "probes"),
              "embq_ivf signs rescore_factor=1": ("tab:cyan", "v", "probes"),
              "pgvector HNSW": ("tab:red", "s", "ef_search"), "pgvector IVFFlat": ("tab:green", "^", "probes")}
    for name in sorted({r["method"] for r in rows}):
        if name not in styles and not name.startswith("exact"):
            styles[name] = ("tab:olive", "P", "probes")
    for name, (color, marker, knob) in styles.items():
        pts = [r for r in rows if r["method"] == name]
        if not pts:
            continue
        ax.plot([p["recall"] for p in pts], [p["lat_ms"] for p in pts], marker=marker, color=color,
                label="%s (labels: %s)" % (name, knob), linestyle="--" if "rescore" in name else "-")
        for p in pts:
            ax.annotate(p["label"], (p["recall"], p["lat_ms"]), textcoords="offset points",
                        xytext=(4, -11) if "rescore" in name else (4, 4), fontsize=7, color=color)
    for r in rows:
        if r["method"].startswith("exact"):
            ax.plot([r["recall"]], [r["lat_ms"]], marker="x", color="black" if "i8vec" in r["method"] else "gray",
                    linestyle="none", label=r["method"])
    ax.axvline(TARGET_RECALL, color="lightgray", linestyle=":", zorder=0)
    ax.set_yscale("log")
    ax.set_xlabel("recall@10 (vs exact float top-10)")
    ax.set_ylabel("mean latency per query, ms (client wall time, log scale)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.axvline(HIGH_RECALL, color="lightgray", linestyle=":", zorder=0)
    ax.legend(fontsize=8, loc="upper left")


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="/tmp/embq_bench/bench1024.fvecs")
    ap.add_argument("--queries", default=None, help="default: DATA with _queries.fvecs")
    ap.add_argument("--rows", type=int, default=None, help="first N rows (default all)")
    ap.add_argument("--nq", type=int, default=100, help="queries used (default 100)")
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--exact-passes", type=int, default=1, help="timed passes for the exact seq scans")
    ap.add_argument("--mwm", default="2GB", help="maintenance_work_mem for every build")
    ap.add_argument("--embq-layouts", default="flat,signs",
                    help="embq_ivf indexes to build, one per WITH (layout = ...) value")
    ap.add_argument("--embq-probes", default="8,16,32,48,64,80,96,128")
    ap.add_argument("--embq-flat-probes", default=None, help="probes for layout flat (default --embq-probes)")
    ap.add_argument("--embq-rf1-probes", default="", help="probes also run with rescore_factor 1 (signs)")
    ap.add_argument("--signs-factors", default="", help="further embq.rescore_factor values swept for signs")
    ap.add_argument("--embq-options", default="", help="more embq_ivf index options, e.g. 'lists = 1400'")
    ap.add_argument("--hnsw-ef", default="10,20,40,80,120,160")
    ap.add_argument("--no-ivfflat", action="store_true", help="skip pgvector IVFFlat")
    ap.add_argument("--label", default="MiniLM-derived", help="what the data are, for the plot title")
    ap.add_argument("--cpu-kernels", default=None, help="SET embq.cpu_kernels (e.g. avx2) for every query")
    ap.add_argument("--ivf-probes", default="1,2,4,8,16,32,64")
    ap.add_argument("--ivfflat-lists", type=int, default=None, help="default rows/1000")
    ap.add_argument("--no-exact-vector", action="store_true", help="skip the pgvector exact seq scan")
    ap.add_argument("--reload", action="store_true", help="reload tables even if they look right")
    ap.add_argument("--skip-build", action="store_true", help="reuse existing indexes (timings from --outdir JSON)")
    ap.add_argument("--keep", action="store_true", help="keep tables and indexes afterwards")
    ap.add_argument("--outdir", default="/tmp/embq_idxbench")
    ap.add_argument("--plot", default=os.path.join(HERE, "..", "..", "docs", "index_recall_latency.png"))
    ap.add_argument("--replot", metavar="RESULTS.json", help="only redraw --plot from a previous run's JSON")
    ap.add_argument("--panels", metavar="A.json,B.json", help="only draw --plot with one panel per results JSON")
    a = ap.parse_args()
    if a.panels:
        plot_panels(a.panels.split(","), a.plot)
        return
    if a.replot:
        j = json.load(open(a.replot))
        plot(j["rows"], a.plot, "recall@10 vs latency, %d x %d (%s), %d queries, 1 backend, %s" % (
            j["meta"]["rows"], j["meta"]["dim"], j["meta"].get("label", a.label), j["meta"]["nq"],
            j["meta"]["date"][:10]))
        return
    qpath = a.queries or a.data[:-len(".fvecs")] + "_queries.fvecs"
    os.makedirs(a.outdir, exist_ok=True)

    x = read_fvecs(a.data, a.rows)
    q = read_fvecs(qpath)[:a.nq]
    n, dim = x.shape
    log("data %s: %d x %d; queries %s: %d" % (a.data, n, dim, qpath, q.shape[0]))
    norms = np.linalg.norm(x[:1000], axis=1)
    if not np.allclose(norms, 1, atol=1e-3) or not np.allclose(np.linalg.norm(q, axis=1), 1, atol=1e-3):
        log("warning: rows are not unit vectors; cosine ground truth is computed as inner product anyway")

    log("ground truth: exact float top-10 (numpy, float64)")
    t0 = time.perf_counter()
    gt, gts = topk_ip(x, q, 10)
    gt_i8, _ = topk_ip(x, q, 10, transform=int8_cosine_view)
    sim_i8 = recall_at(gt_i8, gt)
    log("  done in %.1f s; numpy model of the int8 codes: recall@10 %.3f" % (time.perf_counter() - t0, sim_i8))

    conn = psycopg.connect("", autocommit=True)
    cur = conn.cursor()
    cur.execute("SET client_min_messages = warning")
    cur.execute("SET jit = off")
    cur.execute("SET max_parallel_workers_per_gather = 0")
    for ext in ("vector", "embq", "pg_prewarm"):
        cur.execute("CREATE EXTENSION IF NOT EXISTS " + ext)
    cur.execute("LOAD 'embq'")
    if a.cpu_kernels:
        cur.execute("SET embq.cpu_kernels = %s" % a.cpu_kernels)
    md5_start = so_md5(cur)

    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": "%s, %s CPUs, %s RAM; load average at start %s" % (
            sh("lscpu | sed -n 's/^Model name:[[:space:]]*//p'") or platform.processor(), os.cpu_count(),
            sh("free -g | awk '/Mem:/{print $2\" GiB\"}'"), sh("cut -d' ' -f1-3 /proc/loadavg")),
        "server": "%s; shared_buffers %s; jit off" % (one(cur, "SELECT version()"), one(cur, "SHOW shared_buffers")),
        "embq_ver": one(cur, "SELECT extversion FROM pg_extension WHERE extname='embq'"),
        "pgv_ver": one(cur, "SELECT extversion FROM pg_extension WHERE extname='vector'"),
        "so_md5": md5_start[0], "so_mtime": md5_start[1],
        "rows": n, "dim": dim, "data": a.data, "queries": qpath, "nq": q.shape[0],
        "passes": a.passes, "mwm": a.mwm, "numpy_int8_recall": sim_i8, "label": a.label,
        "cpu_kernels": one(cur, "SELECT embq_cpu_kernels()"),
    }

    meta["load"] = load(conn, x, dim, a.reload)
    meta["size_embq_table"] = one(cur, "SELECT pg_total_relation_size('bix_embq')")
    meta["size_vec_table"] = one(cur, "SELECT pg_total_relation_size('bix_vec')")

    lists = a.ivfflat_lists or max(1, n // 1000)
    layouts = [s for s in a.embq_layouts.split(",") if s]
    embq_idx = {"bix_embq_" + lo: lo for lo in layouts}
    idx = {name: "CREATE INDEX %s ON bix_embq USING embq_ivf (e i8vec_cosine_ops) WITH (layout = %s%s)" % (
        name, lo, ", " + a.embq_options if a.embq_options else "") for name, lo in embq_idx.items()}
    idx["bix_vec_hnsw"] = ("CREATE INDEX bix_vec_hnsw ON bix_vec USING hnsw (v vector_cosine_ops) "
                           "WITH (m = 16, ef_construction = 64)")
    if not a.no_ivfflat:
        idx["bix_vec_ivfflat"] = ("CREATE INDEX bix_vec_ivfflat ON bix_vec USING ivfflat (v vector_cosine_ops) "
                                  "WITH (lists = %d)" % lists)
    jpath = os.path.join(a.outdir, "results.json")
    if a.skip_build:
        builds = json.load(open(jpath))["builds"]
        log("reusing indexes and build numbers from %s" % jpath)
    else:
        builds = {name: build(conn, name, sql, a.mwm) for name, sql in idx.items()}
    infos = []
    for name in embq_idx:
        info = cur.execute("SELECT * FROM embq_ivf_info(%s)", (name,)).fetchone()
        cols = [d.name for d in cur.description]
        infos.append("%s: %s" % (name, ", ".join("%s %s" % (c, v) for c, v in zip(cols, info))))
    meta["embq_info"] = "; ".join(infos)
    log("embq_ivf_info: %s" % meta["embq_info"])

    qtexts = {"array": [fmt_vec(v, "array") for v in q], "vector": [fmt_vec(v, "vector") for v in q]}
    M = {
        "embq": {"name": "embq_ivf", "table": "bix_embq", "col": "e", "op": "<=>", "cast": "real[]", "qt": "array"},
        "vec": {"name": "pgvector", "table": "bix_vec", "col": "v", "op": "<=>", "cast": "vector", "qt": "vector"},
    }
    rows = []

    def run_points(mkey, name, index, drop, points, expect, label_fmt):
        m = dict(M[mkey], name=name)
        with conn.transaction(force_rollback=True):
            if drop:
                for d in drop:
                    cur.execute("DROP INDEX %s" % d)
            prewarm(cur, m["table"], index)
            for label, gucs, passes in points:
                r = measure(conn, m, label_fmt(gucs), gucs, qtexts[m["qt"]], gt, passes, expect)
                r["index"] = index
                r["label"] = label
                rows.append(r)

    P = a.passes
    log("sweeps")
    for name, lo in embq_idx.items():
        others = [o for o in embq_idx if o != name]
        probes = a.embq_flat_probes if lo == "flat" and a.embq_flat_probes else a.embq_probes
        run_points("embq", "embq_ivf " + lo, name, others,
                   [(str(p), {"embq.probes": p, "embq.rescore_factor": 4}, P) for p in ilist(probes)],
                   name, lambda g: "probes=%d" % g["embq.probes"])
        for f in ilist(a.signs_factors) if lo == "signs" else []:
            run_points("embq", "embq_ivf signs rescore_factor=%d" % f, name, others,
                       [(str(p), {"embq.probes": p, "embq.rescore_factor": f}, P) for p in ilist(probes)],
                       name, lambda g: "probes=%d, rescore_factor=%d" % (g["embq.probes"], g["embq.rescore_factor"]))
        if a.embq_rf1_probes and lo == "signs":
            run_points("embq", "embq_ivf signs rescore_factor=1", name, others,
                       [(str(p), {"embq.probes": p, "embq.rescore_factor": 1}, P) for p in ilist(a.embq_rf1_probes)],
                       name, lambda g: "probes=%d, rescore_factor=1" % g["embq.probes"])
    run_points("vec", "pgvector HNSW", "bix_vec_hnsw", [] if a.no_ivfflat else ["bix_vec_ivfflat"],
               [(str(e), {"hnsw.ef_search": e}, P) for e in ilist(a.hnsw_ef)],
               "bix_vec_hnsw", lambda g: "ef_search=%d" % g["hnsw.ef_search"])
    if not a.no_ivfflat:
        run_points("vec", "pgvector IVFFlat", "bix_vec_ivfflat", ["bix_vec_hnsw"],
                   [(str(p), {"ivfflat.probes": p}, P) for p in ilist(a.ivf_probes)],
                   "bix_vec_ivfflat", lambda g: "probes=%d" % g["ivfflat.probes"])
    log("exact seq scans")
    run_points("embq", "exact seq scan, i8vec codes x float query", None, list(embq_idx),
               [("exact", {"enable_indexscan": "off", "enable_bitmapscan": "off"}, a.exact_passes)],
               "Seq Scan", lambda g: "enable_indexscan=off")
    if not a.no_exact_vector:
        run_points("vec", "exact seq scan, pgvector float", None, list(idx.keys() - embq_idx.keys()),
                   [("exact", {"enable_indexscan": "off", "enable_bitmapscan": "off"}, a.exact_passes)],
                   "Seq Scan", lambda g: "enable_indexscan=off")
    base = param_baseline(conn, qtexts, P)

    # ---- ratios
    def pts(name):
        return [(r["recall"], r["lat_ms"], r["setting"]) for r in rows if r["method"] == name]

    ratios = []

    def desc(ch, it, target):
        if not ch:
            return "never reaches recall %.2f in this sweep" % target
        return "cheapest setting reaching it: %s (recall %.3f, %.2f ms); interpolated latency at %.2f: %s" % (
            ch[2], ch[0], ch[1], target, "%.2f ms" % it if it else "-")

    lat = {}
    size_r = build_r = None
    bh = builds["bix_vec_hnsw"]
    for target in (TARGET_RECALL, HIGH_RECALL):
        ch_h, in_h = at_recall(pts("pgvector HNSW"), target)
        ratios.append("recall >= %.2f: pgvector HNSW %s" % (target, desc(ch_h, in_h, target)))
        for name, lo in embq_idx.items():
            ch_e, in_e = at_recall(pts("embq_ivf " + lo), target)
            ratios.append("recall >= %.2f: embq_ivf %s %s" % (target, lo, desc(ch_e, in_e, target)))
            if ch_e and ch_h:
                r = {"cheapest": ch_e[1] / ch_h[1], "interp": in_e / in_h if in_e and in_h else None}
                lat["%s@%.2f" % (lo, target)] = r
                goal = TARGET_LATENCY if target == TARGET_RECALL else 1.0
                ratios.append("**latency at recall >= %.2f, embq_ivf %s / HNSW: %.2fx (cheapest settings), %s "
                              "(interpolated); target <= %.1fx: %s**" % (
                                  target, lo, r["cheapest"], "%.2fx" % r["interp"] if r["interp"] else "-", goal,
                                  "MET" if (r["interp"] or r["cheapest"]) <= goal else "NOT MET"))
        if not a.no_ivfflat:
            ch_i, in_i = at_recall(pts("pgvector IVFFlat"), target)
            ratios.append("recall >= %.2f: pgvector IVFFlat %s" % (target, desc(ch_i, in_i, target)))
    for name, lo in embq_idx.items():
        be = builds[name]
        size_r = be["size_bytes"] / bh["size_bytes"]
        build_r = bh["build_s"] / be["build_s"]
        ratios.append("**index size, embq_ivf %s / HNSW: %.3f (%.1f MB / %.1f MB); target <= %.2f: %s**" % (
            lo, size_r, be["size_bytes"] / 2**20, bh["size_bytes"] / 2**20, TARGET_SIZE,
            "MET" if size_r <= TARGET_SIZE else "NOT MET (by %.1f%%)" % (100 * (size_r / TARGET_SIZE - 1))))
        ratios.append("**build time, HNSW / embq_ivf %s: %.2fx (%.1f s / %.1f s); target >= %.1fx: %s**" % (
            lo, build_r, bh["build_s"], be["build_s"], TARGET_BUILD,
            "MET" if build_r >= TARGET_BUILD else "NOT MET (%.0f%% of target)" % (100 * build_r / TARGET_BUILD)))
    ex = [r for r in rows if r["method"].startswith("exact seq scan, i8vec")]
    if ex:
        ratios.append("recall ceiling of the int8 codes (exact seq scan): %.3f (numpy model of the codes: %.3f)" % (
            ex[0]["recall"], sim_i8))

    md5_end = so_md5(cur)
    rep = report(meta, builds, rows, base, ratios)
    if md5_end[0] != md5_start[0]:
        rep += "\n\n**WARNING: embq.so changed during the run (%s -> %s); numbers mix builds.**" % (
            md5_start[0], md5_end[0])
    print(rep)
    with open(os.path.join(a.outdir, "results.md"), "w") as f:
        f.write(rep + "\n")
    with open(jpath, "w") as f:
        json.dump({"meta": meta, "builds": builds, "rows": rows, "param_baseline_ms": base,
                   "ratios": ratios, "latency_ratio": lat, "size_ratio": size_r, "build_ratio": build_r}, f, indent=1)
    log("report: %s, raw: %s" % (os.path.join(a.outdir, "results.md"), jpath))
    if a.plot:
        plot(rows, a.plot, "recall@10 vs latency, %d x %d (%s), %d queries, 1 backend, %s" % (
            n, dim, a.label, q.shape[0], meta["date"][:10]))
    if not a.keep:
        cur.execute("DROP TABLE IF EXISTS bix_embq, bix_vec CASCADE")
    conn.close()
    if md5_end[0] != md5_start[0]:
        sys.exit(3)


if __name__ == "__main__":
    main()
