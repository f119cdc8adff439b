#!/usr/bin/env python3
"""Tests of the Python client (python/embq) against a server with embq,
chosen by the PG* variables: client-side quantization bit for bit equal to
the server's on the real vectors in test/data and on edge cases, the psycopg
adapters in text and binary, and the COPY BINARY loader.  EMBQ_CLIENT_FROM
names a folder to import embq from instead of the tree (a pip install).  Ends with the line
`N passed, N failed`; exit status 1 on any failure."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "test", "bench"))
# the package from the tree, or as pip installed it (EMBQ_CLIENT_FROM: where)
sys.path.insert(0, os.environ.get("EMBQ_CLIENT_FROM") or os.path.join(ROOT, "python"))

import numpy as np  # noqa: E402
import psycopg  # noqa: E402

import embq  # noqa: E402
from load_fvecs import read_fvecs, write_binary  # noqa: E402

DATA = os.environ.get("EMBQ_TEST_DATA") or os.path.join(ROOT, "test", "data")
passed = failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)


def load_floats(cur, table, x):
    cur.execute("DROP TABLE IF EXISTS %s" % table)
    cur.execute("CREATE TABLE %s (id int, v real[])" % table)
    with cur.copy("COPY %s (id, v) FROM STDIN WITH (FORMAT binary)" % table) as cp:
        write_binary(x, cp)


def main():
    conn = psycopg.connect("", autocommit=True)
    conn.execute("SET client_min_messages = warning")
    conn.execute("CREATE EXTENSION IF NOT EXISTS embq")
    # a cursor copies the connection's adapters when it is made: register first
    embq.register_embq(conn)
    cur = conn.cursor()

    sets = {
        "minilm": read_fvecs(os.path.join(DATA, "minilm-sap", "sap_fiori_minilm384_all.fvecs")),
        "sift": read_fvecs(os.path.join(DATA, "bigann10k", "bigann10k_base.fvecs"), 2000),
    }
    f32 = np.finfo(np.float32)
    # rows of exact halves of their scale (max |x| = 127 s): the rounding of
    # every code is decided at a half, where the client's float32 shortcut
    # has to defer to the exact float64 rounding
    rng = np.random.default_rng(7)
    s = 0.37
    halves = (rng.integers(-126, 126, (300, 64)) + 0.5) * s
    halves[:, 0] = 127 * s
    sets["halves"] = halves.astype(np.float32)
    edge = np.array([
        [0.0, 0.0, 0.0, 0.0],
        [1e-40, -1e-41, 0.0, 1e-45],            # denormals
        [3e38, -3.4e38, 1.0, f32.max],           # near the float limit
        [-f32.max, f32.max, f32.max, -f32.max],
        [127.0, 0.5, -0.5, 1.5],                 # halves round away from zero
        [254.0, 1.0, -3.0, 127.0],
        [1.0, 2.0, 3.0, -1e-30],
        [0.1, 0.2, 0.30000001, -0.4],
    ], dtype=np.float32)
    for name, x in list(sets.items()) + [("edge", edge)]:
        load_floats(cur, "pyt_f", x)
        # the server's codes, as binary results through the loaders
        srv = cur.execute("SELECT id, quantize_int8(v), quantize_binary(v) FROM pyt_f ORDER BY id",
                          binary=True).fetchall()
        codes, scales = embq.quantize_int8(x)
        bits = embq.quantize_binary(x)
        bad_i8 = [i for i, (_, e, _) in enumerate(srv) if not (np.array_equal(e.codes, codes[i]) and
                                                               e.scale.tobytes() == scales[i].tobytes())]
        bad_b = [i for i, (_, _, b) in enumerate(srv) if not np.array_equal(b.bits, bits[i])]
        check(len(srv) == len(x), "%s: %d rows back" % (name, len(srv)))
        check(not bad_i8, "%s: quantize_int8 differs from the server on rows %s" % (name, bad_i8[:5]))
        check(not bad_b, "%s: quantize_binary differs from the server on rows %s" % (name, bad_b[:5]))
        # text results too
        txt = cur.execute("SELECT quantize_int8(v), quantize_binary(v) FROM pyt_f ORDER BY id").fetchall()
        check(all(t[0] == s[1] and t[1] == s[2] for t, s in zip(txt, srv)),
              "%s: text results load as the binary ones" % name)

    # parameters, sent in binary (%b) and text (%t): the server sees exactly these values
    x = sets["minilm"][:50]
    load_floats(cur, "pyt_f", x)
    for fmt in ("%b", "%t"):
        cur.execute("DROP TABLE IF EXISTS pyt_p")
        cur.execute("CREATE TABLE pyt_p (id int, e i8vec(384), b bitvec(384))")
        with conn.transaction():
            for i, v in enumerate(x, 1):
                cur.execute("INSERT INTO pyt_p VALUES (%%s, %s, %s)" % (fmt, fmt),
                            (i, embq.I8Vec.from_floats(v), embq.BitVec.from_floats(v)))
        same = cur.execute("SELECT count(*) FROM pyt_p p JOIN pyt_f f USING (id) "
                           "WHERE p.e = quantize_int8(f.v) AND p.b = quantize_binary(f.v)").fetchone()[0]
        check(same == 50, "parameters %s: %d of 50 rows equal the server's quantization" % (fmt, same))
    # a value the floats do not give (codes below 127) goes through text exactly
    v = embq.I8Vec(np.array([1, 2, 3], dtype=np.int8), 0.5)
    back = cur.execute("SELECT %t::i8vec, %b::i8vec, %t::i8vec::text", (v, v, v)).fetchone()
    check(back[0] == v and back[1] == v, "i8vec with small codes: %r" % (back[:2],))
    check(embq.I8Vec.from_text(back[2]) == v, "i8vec text form %r" % back[2])
    b = embq.BitVec.from_text("10110")
    check(cur.execute("SELECT %b::bitvec::text", (b,)).fetchone()[0] == "10110", "bitvec of 5 bits")
    check(np.allclose(v.to_numpy(), [0.5, 1.0, 1.5]), "I8Vec.to_numpy")

    # the bulk loader: every row equals the server's quantization of its floats
    x = sets["minilm"]
    load_floats(cur, "pyt_f", x)
    cur.execute("DROP TABLE IF EXISTS pyt_c")
    cur.execute("CREATE TABLE pyt_c (id bigint, e i8vec(384), b bitvec(384))")
    n = embq.copy_embeddings(conn, "pyt_c", x, i8vec_column="e", bitvec_column="b")
    same = cur.execute("SELECT count(*) FROM pyt_c c JOIN pyt_f f USING (id) "
                       "WHERE c.e = quantize_int8(f.v) AND c.b = quantize_binary(f.v)").fetchone()[0]
    check(n == len(x) and same == len(x), "copy_embeddings: %d of %d rows equal" % (same, len(x)))
    cur.execute("DROP TABLE IF EXISTS pyt_c2, pyt_c3")
    cur.execute("CREATE TABLE pyt_c2 (id int, e i8vec(384))")
    embq.copy_embeddings(conn, "pyt_c2", x[:100], ids=np.arange(1000, 1100), i8vec_column="e", batch_size=7)
    check(cur.execute("SELECT min(id), max(id), count(*) FROM pyt_c2").fetchone() == (1000, 1099, 100),
          "copy_embeddings with ids, int4, small batches")
    # errors: the wrong dimensions, NaN
    cur.execute("CREATE TABLE pyt_c3 (id int, e i8vec(100))")
    try:
        embq.copy_embeddings(conn, "pyt_c3", x[:3], i8vec_column="e")
        check(False, "copy into i8vec(100) of 384-d rows is refused")
    except TypeError:
        check(True, "")
    try:
        embq.quantize_int8(np.array([1.0, np.nan], dtype=np.float32))
        check(False, "NaN is refused")
    except ValueError:
        check(True, "")
    # the loader on the edge rows and the exact halves (both columns), and
    # bits alone
    for name in ("edge", "halves"):
        x = edge if name == "edge" else sets["halves"]
        d = x.shape[1]
        load_floats(cur, "pyt_f", x)
        cur.execute("DROP TABLE IF EXISTS pyt_c4, pyt_c5")
        cur.execute("CREATE TABLE pyt_c4 (id int, e i8vec(%d), b bitvec(%d))" % (d, d))
        cur.execute("CREATE TABLE pyt_c5 (id int, b bitvec(%d))" % d)
        embq.copy_embeddings(conn, "pyt_c4", x, i8vec_column="e", bitvec_column="b", batch_size=5)
        seen = []
        embq.copy_embeddings(conn, "pyt_c5", x, bitvec_column="b", batch_size=3,
                             progress=lambda done, total: seen.append((done, total)))
        check(seen and seen[-1] == (len(x), len(x)) and len(seen) == (len(x) + 2) // 3,
              "copy_embeddings reports progress per batch: %r" % seen[-2:])
        same = cur.execute("SELECT count(*) FROM pyt_c4 c JOIN pyt_f f USING (id) JOIN pyt_c5 c5 USING (id) "
                           "WHERE c.e = quantize_int8(f.v) AND c.b = quantize_binary(f.v) "
                           "AND c5.b = c.b").fetchone()[0]
        check(same == len(x), "copy_embeddings of the %s rows: %d of %d equal the server's" % (name, same, len(x)))
    try:
        bad = np.ones((3, sets["halves"].shape[1]), dtype=np.float32)
        bad[2, 5] = np.inf
        embq.copy_embeddings(conn, "pyt_c4", bad, i8vec_column="e")
        check(False, "the loader refuses infinity")
    except ValueError:
        check(True, "")
    cur.execute("DROP TABLE pyt_f, pyt_p, pyt_c, pyt_c2, pyt_c3, pyt_c4, pyt_c5")
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
