#!/usr/bin/env python3
"""bench_knn.py: embq_knn (batch search) against a LATERAL join of one
ORDER BY ... LIMIT k index scan per query, on the same rows and index.

One server (PGHOST, PGPORT, PGUSER, PGDATABASE), one run:
  1. loads the first N rows of an fvecs file (default: the 200,000 x 1024 set
     of make_bench_data.py) as i8vec codes with the Python client's COPY
     BINARY loader into bkn (id int, e i8vec(dim)), and Q of its rows (a seeded
     sample) as float queries into bkq (qn int, id int, f real[]);
  2. builds an embq_ivf index (cosine, default settings unless --options);
  3. computes the float ground truth (top-10 by inner product of the unit
     rows, numpy float64), so that recall counts a query's own row;
  4. for each embq.probes of the sweep, times (client wall clock, median of
     --passes, after a warm-up) both forms, with parallel workers off for
     both (one process each, like for like):
        LATERAL:  SELECT q.qn, x.id FROM bkq q,
                  LATERAL (SELECT id FROM bkn ORDER BY e <=> q.f LIMIT 10) x
        embq_knn: SELECT r.query, d.id FROM embq_knn('bkn_e', ARRAY(SELECT f
                  FROM bkq ORDER BY qn), 10) r JOIN bkn d ON d.ctid = r.ctid
     and checks that both return the same rows; also embq_knn(..., exact)
     against the LATERAL join by sequential scan (a sample of the queries).
Prints a markdown table: queries per second of each, the ratio, recall@10.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np
import psycopg

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
from embq import copy_embeddings, register_embq  # noqa: E402
from load_fvecs import read_fvecs  # noqa: E402


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def timed(conn, sql, params=None, passes=3):
    """Median wall time of passes runs (after one warm-up) and the rows."""
    times = []
    rows = None
    for i in range(passes + 1):
        t0 = time.perf_counter()
        with conn.cursor() as cur:
            cur.execute(sql, params)
            rows = cur.fetchall()
        if i > 0:
            times.append(time.perf_counter() - t0)
    return statistics.median(times), rows


def by_query(rows, nq):
    out = [[] for _ in range(nq)]
    for qn, rid in rows:
        out[qn - 1].append(rid)
    return out


def recall(found, gt, k=10):
    return float(np.mean([len(set(f[:k]) & set(g[:k])) / k for f, g in zip(found, gt)]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fvecs", nargs="?", default="/tmp/embq_bench/bench1024.fvecs")
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--probes", default="10,20,40,80")
    ap.add_argument("--options", default="", help="WITH (...) of the index, e.g. lists = 500")
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--exact-queries", type=int, default=100)
    ap.add_argument("--reload", action="store_true")
    a = ap.parse_args()

    x = read_fvecs(a.fvecs, a.rows)
    n, dim = x.shape
    rng = np.random.default_rng(7)
    qrows = np.sort(rng.choice(n, size=a.queries, replace=False))
    log(f"{n} x {dim} rows, {a.queries} queries")

    conn = psycopg.connect(autocommit=True)
    conn.execute("CREATE EXTENSION IF NOT EXISTS embq")
    register_embq(conn)
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('bkn') IS NOT NULL AND to_regclass('bkq') IS NOT NULL")
        have = cur.fetchone()[0]
        if have:
            cur.execute("SELECT (SELECT count(*) FROM bkn) = %s AND (SELECT count(*) FROM bkq) = %s",
                        (n, a.queries))
            have = cur.fetchone()[0]
        if a.reload or not have:
            cur.execute("DROP TABLE IF EXISTS bkn, bkq")
            cur.execute(f"CREATE TABLE bkn (id int, e i8vec({dim}))")
            t0 = time.perf_counter()
            copy_embeddings(conn, "bkn", x, ids=np.arange(1, n + 1), i8vec_column="e",
                            progress=False)
            log(f"loaded in {time.perf_counter() - t0:.1f} s")
            cur.execute("CREATE TABLE bkq (qn int, id int, f real[])")
            with cur.copy("COPY bkq (qn, id, f) FROM STDIN") as cp:
                for i, r in enumerate(qrows):
                    cp.write_row((i + 1, int(r) + 1, x[r].tolist()))
            cur.execute("VACUUM ANALYZE bkn")
            cur.execute("ANALYZE bkq")
        cur.execute("DROP INDEX IF EXISTS bkn_e")
        opts = f"WITH ({a.options})" if a.options else ""
        t0 = time.perf_counter()
        cur.execute("SET maintenance_work_mem = '1GB'")
        cur.execute(f"CREATE INDEX bkn_e ON bkn USING embq_ivf (e i8vec_cosine_ops) {opts}")
        log(f"index built in {time.perf_counter() - t0:.1f} s")
        cur.execute("SELECT lists, layout FROM embq_ivf_info('bkn_e')")
        lists, layout = cur.fetchone()
        cur.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        for rel in ("bkn", "bkn_e", "bkq"):
            cur.execute("SELECT pg_prewarm(%s)", (rel,))
        cur.execute("SET max_parallel_workers_per_gather = 0")
        cur.execute("SET work_mem = '64MB'")

    # float ground truth: unit rows, so cosine ranks as the inner product
    q = x[qrows].astype(np.float64)
    gt = []
    for i0 in range(0, len(q), 100):
        s = q[i0:i0 + 100] @ x.T.astype(np.float64) if n * dim < 3e8 else \
            np.concatenate([q[i0:i0 + 100] @ x[j:j + 50000].T.astype(np.float64)
                            for j in range(0, n, 50000)], axis=1)
        gt.extend((np.argsort(-s, axis=1)[:, :10] + 1).tolist())

    lateral = ("SELECT q.qn, x.id FROM bkq q, LATERAL (SELECT id FROM bkn ORDER BY e <=> q.f LIMIT 10) x "
               "ORDER BY q.qn")
    batch = ("SELECT r.query, d.id FROM embq_knn('bkn_e', ARRAY(SELECT f FROM bkq ORDER BY qn), 10) r "
             "JOIN bkn d ON d.ctid = r.ctid ORDER BY r.query, r.rank")
    print(f"\n{n} x {dim} rows, {a.queries} float queries, embq_ivf cosine {layout}, {lists} lists, "
          f"k = 10, one process each (max_parallel_workers_per_gather = 0)\n")
    print("| embq.probes | LATERAL q/s | embq_knn q/s | ratio | recall@10 | same rows |")
    print("|---|---|---|---|---|---|")
    for p in [int(v) for v in a.probes.split(",")]:
        with conn.cursor() as cur:
            cur.execute(f"SET embq.probes = {p}")
            cur.execute("SET enable_seqscan = off")
        tl, rl = timed(conn, lateral, passes=a.passes)
        tb, rb = timed(conn, batch, passes=a.passes)
        fl, fb = by_query(rl, a.queries), by_query(rb, a.queries)
        same = sum(1 for u, v in zip(fl, fb) if u == v)
        print(f"| {p} | {a.queries / tl:.0f} | {a.queries / tb:.0f} | {tl / tb:.2f} | "
              f"{recall(fb, gt):.4f} | {same}/{a.queries} |", flush=True)

    # exact mode against sequential scans, on a sample of the queries
    m = min(a.exact_queries, a.queries)
    with conn.cursor() as cur:
        cur.execute("RESET enable_seqscan")
        cur.execute("SET enable_indexscan = off")
    seq = ("SELECT q.qn, x.id FROM bkq q, LATERAL (SELECT id FROM bkn ORDER BY e <=> q.f, ctid LIMIT 10) x "
           f"WHERE q.qn <= {m} ORDER BY q.qn")
    exact = (f"SELECT r.query, d.id FROM embq_knn('bkn_e', ARRAY(SELECT f FROM bkq WHERE qn <= {m} "
             "ORDER BY qn), 10, true) r JOIN bkn d ON d.ctid = r.ctid ORDER BY r.query, r.rank")
    ts, rs = timed(conn, seq, passes=1)
    te, re_ = timed(conn, exact, passes=1)
    fs, fe = by_query(rs, m), by_query(re_, m)
    same = sum(1 for u, v in zip(fs, fe) if u == v)
    print(f"\nexact, {m} queries: sequential-scan LATERAL {m / ts:.1f} q/s, embq_knn exact "
          f"{m / te:.1f} q/s, ratio {ts / te:.2f}, recall@10 {recall(fe, gt[:m]):.4f}, same rows {same}/{m}")


if __name__ == "__main__":
    main()
