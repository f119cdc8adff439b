#!/usr/bin/env python3
"""bench_load.py: load float32 embeddings into i8vec(d) + bitvec(d) columns
four ways, timed by the client, each into a fresh table (issue 16, item 3):

  client   embq.copy_embeddings: quantized here, codes sent by COPY BINARY
  server   COPY BINARY of the floats as real[] into a staging table, then
           INSERT ... SELECT quantize_int8(v), quantize_binary(v)
  execmany the README's former executemany of quantize_int8(%s::real[]) and
           quantize_binary(%s::real[]), floats as text (on --execmany-rows
           rows, scaled to all of them)
  pgvector pgvector-python's COPY BINARY into vector(d) (the float baseline;
           skipped without the pgvector package)
  pgv-numpy the same COPY BINARY of vector(d) rows packed by numpy instead of
           pgvector-python's per-row write_row: the floats' floor

Usage: bench_load.py [DATA.fvecs] [--rows N] [--execmany-rows N]; PG* variables.
"""
import argparse
import os
import sys
import time

import numpy as np
import psycopg

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
sys.path.insert(0, HERE)
import embq  # noqa: E402
from load_fvecs import read_fvecs, write_binary, write_copy_rows  # noqa: E402


def timed(f):
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data", nargs="?", default="/tmp/embq_bench/bench1024.fvecs")
    ap.add_argument("--rows", type=int, default=None)
    ap.add_argument("--execmany-rows", type=int, default=5000)
    a = ap.parse_args()
    x = read_fvecs(a.data, a.rows)
    n, d = x.shape
    conn = psycopg.connect("", autocommit=True)
    conn.execute("CREATE EXTENSION IF NOT EXISTS embq")
    embq.register_embq(conn)
    cur = conn.cursor()

    def fresh(t, cols):
        cur.execute("DROP TABLE IF EXISTS %s" % t)
        cur.execute("CREATE TABLE %s (%s)" % (t, cols))

    codes = "id int, emb i8vec(%d), sig bitvec(%d)" % (d, d)
    res = {}
    fresh("bl_client", codes)
    res["client"] = timed(lambda: embq.copy_embeddings(conn, "bl_client", x, i8vec_column="emb",
                                                       bitvec_column="sig"))

    def server():
        fresh("bl_stage", "id int, v real[]")
        with cur.copy("COPY bl_stage (id, v) FROM STDIN WITH (FORMAT binary)") as cp:
            write_binary(x, cp)
        cur.execute("INSERT INTO bl_server SELECT id, quantize_int8(v), quantize_binary(v) FROM bl_stage")
        cur.execute("DROP TABLE bl_stage")
    fresh("bl_server", codes)
    res["server"] = timed(server)

    m = min(n, a.execmany_rows)
    fresh("bl_exec", codes)

    def execmany():
        with conn.transaction():
            cur.executemany("INSERT INTO bl_exec VALUES (%s, quantize_int8(%s::real[]), quantize_binary(%s::real[]))",
                            [(i + 1, v.tolist(), v.tolist()) for i, v in enumerate(x[:m])])
    res["execmany"] = timed(execmany) * n / m
    same = cur.execute("SELECT count(*) FROM bl_client c JOIN bl_server s USING (id) "
                       "WHERE c.emb = s.emb AND c.sig = s.sig").fetchone()[0]
    try:
        from pgvector.psycopg import register_vector
        cur.execute("CREATE EXTENSION IF NOT EXISTS vector")
        register_vector(conn)
        fresh("bl_vec", "id int, v vector(%d)" % d)

        def pgv():
            with conn.cursor().copy("COPY bl_vec (id, v) FROM STDIN WITH (FORMAT BINARY)") as cp:
                cp.set_types(["int4", "vector"])
                for i, v in enumerate(x):
                    cp.write_row((i + 1, v))
        res["pgvector"] = timed(pgv)
        fresh("bl_vec", "id int, v vector(%d)" % d)

        def pgv_numpy():
            # the floats' floor: the same COPY rows packed by numpy, no
            # per-row Python (vector's binary form: int16 dims, int16 0,
            # big-endian float4s)
            row = np.dtype([("nf", ">i2"), ("il", ">i4"), ("id", ">i4"), ("vl", ">i4"),
                            ("dim", ">i2"), ("unused", ">i2"), ("v", ">f4", (d,))])

            def fill(r, s, e):
                r["nf"], r["il"], r["id"], r["vl"] = 2, 4, np.arange(s + 1, e + 1), 4 + 4 * d
                r["dim"], r["v"] = d, x[s:e]
            with conn.cursor().copy("COPY bl_vec (id, v) FROM STDIN WITH (FORMAT BINARY)") as cp:
                write_copy_rows(cp, n, row, fill, 10000)
        res["pgv-numpy"] = timed(pgv_numpy)
        ok = cur.execute("SELECT count(*) FROM bl_vec WHERE id = 1 AND v = %s::vector",
                         (str(x[0].tolist()),)).fetchone()[0]
        if ok != 1:
            sys.exit("the numpy-packed vectors differ from the embeddings")
    except ImportError:
        pass
    print("%d x %d rows; client and server codes equal on %d rows" % (n, d, same))
    for k, t in res.items():
        print("%-9s %7.1f s  %9.0f rows/s  %.2fx the client loader's time%s" % (
            k, t, n / t, t / res["client"], " (scaled from %d rows)" % m if k == "execmany" else ""))
    for t in ("bl_client", "bl_server", "bl_exec", "bl_vec"):
        cur.execute("DROP TABLE IF EXISTS %s" % t)


if __name__ == "__main__":
    main()
