#!/usr/bin/env python3
"""bench_expr_index.py: an embq_ivf expression index on a pgvector column
against an index on an i8vec code column: build time, index and table size,
latency and rows of the same 100 float queries (issue 16, item 5).

Usage: bench_expr_index.py [DATA.fvecs]   (default: the MiniLM 384 set of
bench_shapes.sh; queries from DATA with _queries); needs pgvector, embq and
pg_prewarm on the server of the PG* variables, psycopg 3 and numpy.
"""
import sys
import time

import psycopg
sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(__file__)))
from load_fvecs import read_fvecs, write_binary
data = sys.argv[1] if len(sys.argv) > 1 else "/tmp/embq_bench/real384.fvecs"
x = read_fvecs(data)
q = read_fvecs(data[:-len(".fvecs")] + "_queries.fvecs")
n, d = x.shape
c = psycopg.connect("", autocommit=True)
cur = c.cursor()
cur.execute("CREATE EXTENSION IF NOT EXISTS vector")
cur.execute("DROP TABLE IF EXISTS xf, xv, xc")
cur.execute("CREATE TABLE xf (id int, v real[])")
with cur.copy("COPY xf (id, v) FROM STDIN WITH (FORMAT binary)") as cp: write_binary(x, cp)
cur.execute(f"CREATE TABLE xv AS SELECT id, v::vector({d}) v FROM xf")
cur.execute(f"CREATE TABLE xc AS SELECT id, v::vector({d}) v, quantize_int8(v)::i8vec({d}) e FROM xf")
cur.execute("DROP TABLE xf"); cur.execute("VACUUM ANALYZE xv"); cur.execute("VACUUM ANALYZE xc")
cur.execute("SET maintenance_work_mem = '2GB'"); cur.execute("SET max_parallel_maintenance_workers = 0")
t = time.perf_counter(); cur.execute(f"CREATE INDEX xv_expr ON xv USING embq_ivf ((quantize_int8(v::real[])::i8vec({d})) i8vec_cosine_ops)"); te = time.perf_counter() - t
t = time.perf_counter(); cur.execute("CREATE INDEX xc_e ON xc USING embq_ivf (e i8vec_cosine_ops)"); tc = time.perf_counter() - t


def mb(sql):
    return cur.execute(sql).fetchone()[0] / 2**20


print("build expr %.1f s, column %.1f s" % (te, tc))
print("index MB expr %.1f, column %.1f; table MB xv %.1f, xc %.1f" % (
    mb("SELECT pg_relation_size('xv_expr')"), mb("SELECT pg_relation_size('xc_e')"),
    mb("SELECT pg_table_size('xv')"), mb("SELECT pg_table_size('xc')")))
cur.execute("SET enable_seqscan = off"); cur.execute("SET embq.probes = 128")
qs = ["{" + ",".join("%.9g" % f for f in v) + "}" for v in q]
for r in ("xv", "xv_expr", "xc", "xc_e"):
    cur.execute("SELECT pg_prewarm(%s)", (r,))
sqls = {"expr": f"SELECT id FROM xv ORDER BY quantize_int8(v::real[])::i8vec({d}) <=> %s::real[] LIMIT 10",
        "column": "SELECT id FROM xc ORDER BY e <=> %s::real[] LIMIT 10"}
for rnd in range(3):
    for k, s in sqls.items():
        for qq in qs: cur.execute(s, (qq,), prepare=True).fetchall()
        t = time.perf_counter(); res = []
        for qq in qs: res.append([r[0] for r in cur.execute(s, (qq,), prepare=True).fetchall()])
        print("round %d %-6s %.3f ms per query; rows digest %d" % (
            rnd, k, 1000 * (time.perf_counter() - t) / len(qs), hash(str(res)) % 10000))
plan = cur.execute("EXPLAIN (COSTS OFF) " + sqls["expr"].replace("%s", "'" + qs[0] + "'")).fetchall()
print("plan:", plan[1][0].strip())
cur.execute("DROP TABLE xv, xc")
