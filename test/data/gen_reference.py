#!/usr/bin/env python3
"""Independent reference results for the `reference` regression test.

Reads the real vectors shipped in test/data (see README.md there; or the
folder $EMBQ_TEST_DATA names) and writes,
with numpy alone, what embq must compute for them:

  minilm_vectors.csv   id, the float32 vector as a real[] literal
  minilm_binary.csv    id, numpy.packbits(x > 0) as a bytea literal
  minilm_int8.csv      id, scale, codes (per-vector absmax int8)
  minilm_pairs.csv     i, j, float64 recomputations of every distance
  minilm_top10.csv     exact top-10 ids of a few query rows
  sift_vectors.csv     id, vector (BIGANN SIFT: non-negative, not centred)
  sift_thresholds.csv  the per-dimension mean, as float32
  sift_binary.csv      id, numpy.packbits(x > mean)

Nothing here calls embq: the SQL test compares the two.
"""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def test_data():
    """The test vectors: the repository's own (this folder), or $EMBQ_TEST_DATA."""
    path = os.environ.get("EMBQ_TEST_DATA") or HERE
    if not os.path.isfile(os.path.join(path, "minilm-sap", "sap_fiori_minilm384_all.fvecs")):
        sys.exit(f"gen_reference.py: no test vectors in {path} (see test/data/README.md)")
    return path


def read_fvecs(path, limit=None):
    """Read a texmex .fvecs file into a float32 matrix."""
    raw = np.fromfile(path, dtype=np.int32)
    dim = int(raw[0])
    rows = raw.reshape(-1, dim + 1)
    if not (rows[:, 0] == dim).all():
        sys.exit(f"{path}: rows of differing dimension")
    x = rows[:, 1:].copy().view(np.float32)
    return x[:limit] if limit else x


def real_literal(v):
    """A real[] literal that reads back to exactly these float32 values."""
    return "{" + ",".join(repr(float(f)) for f in v.astype(np.float32)) + "}"


def int_literal(v):
    return "{" + ",".join(str(int(c)) for c in v) + "}"


def bytea_literal(b):
    return "\\x" + b.tobytes().hex()


def quantize_int8(x):
    """Per-vector absmax: scale = float32(max|x| / 127), codes rounded half away from zero."""
    m = np.abs(x).max(axis=1).astype(np.float64)
    scale = (m / 127.0).astype(np.float32)
    s = scale.astype(np.float64)[:, None]
    safe = np.where(s == 0, 1.0, s)
    v = x.astype(np.float64) / safe
    t = np.trunc(v)
    f = v - t
    codes = t + (f >= 0.5) - (f <= -0.5)
    codes = np.clip(codes, -127, 127).astype(np.int64)
    codes[scale == 0] = 0
    return scale, codes


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "generated")
    os.makedirs(out, exist_ok=True)
    data = test_data()

    x = read_fvecs(os.path.join(data, "minilm-sap", "sap_fiori_minilm384_all.fvecs"))
    n = x.shape[0]
    bits = np.packbits(x > 0, axis=1)
    scale, codes = quantize_int8(x)

    with open(os.path.join(out, "minilm_vectors.csv"), "w") as f:
        for i in range(n):
            f.write(f'{i},"{real_literal(x[i])}"\n')
    with open(os.path.join(out, "minilm_binary.csv"), "w") as f:
        for i in range(n):
            f.write(f"{i},{bytea_literal(bits[i])}\n")
    with open(os.path.join(out, "minilm_int8.csv"), "w") as f:
        for i in range(n):
            f.write(f'{i},{repr(float(scale[i]))},"{int_literal(codes[i])}"\n')

    # Every row against the next one (and the last against the first), in float64.
    deq = scale.astype(np.float64)[:, None] * codes.astype(np.float64)
    xd = x.astype(np.float64)
    ub = np.unpackbits(bits, axis=1)[:, : x.shape[1]].astype(np.float64)
    with open(os.path.join(out, "minilm_pairs.csv"), "w") as f:
        for i in range(n):
            j = (i + 1) % n
            l2 = np.sqrt(((deq[i] - deq[j]) ** 2).sum())
            ip = (deq[i] * deq[j]).sum()
            cc = codes[i].astype(np.float64), codes[j].astype(np.float64)
            cos = 1.0 - (cc[0] @ cc[1]) / (np.sqrt(cc[0] @ cc[0]) * np.sqrt(cc[1] @ cc[1]))
            q = xd[j]
            ql2 = np.sqrt(((q - deq[i]) ** 2).sum())
            qip = (q * deq[i]).sum()
            qcos = 1.0 - (q @ deq[i]) / (np.sqrt(q @ q) * np.sqrt(deq[i] @ deq[i]))
            ham = np.unpackbits(bits[i] ^ bits[j]).sum()
            both = np.unpackbits(bits[i] & bits[j]).sum()
            either = np.unpackbits(bits[i] | bits[j]).sum()
            jac = 1.0 - both / either if either else 1.0
            bip = (q * ub[i]).sum()
            f.write(",".join([str(i), str(j)] + [repr(float(v)) for v in
                                                 (l2, ip, cos, ql2, qip, qcos, ham, jac, bip)]) + "\n")

    # Exact top-10 for a few query rows: hamming (ties by id), and the float
    # query against the dequantized int8 codes by L2.
    with open(os.path.join(out, "minilm_top10.csv"), "w") as f:
        for qi in (0, 7, 100, 777):
            ham = np.unpackbits(bits ^ bits[qi], axis=1).sum(axis=1)
            top_h = np.lexsort((np.arange(n), ham))[:10]
            ql2 = np.sqrt(((xd[qi] - deq) ** 2).sum(axis=1))
            top_l = np.argsort(ql2, kind="stable")[:10]
            f.write(f'{qi},"{int_literal(top_h)}","{int_literal(top_l)}"\n')

    s = read_fvecs(os.path.join(data, "bigann10k", "bigann10k_base.fvecs"), limit=2000)
    mean = s.astype(np.float64).mean(axis=0).astype(np.float32)
    sbits = np.packbits(s > mean, axis=1)
    with open(os.path.join(out, "sift_vectors.csv"), "w") as f:
        for i in range(s.shape[0]):
            f.write(f'{i},"{real_literal(s[i])}"\n')
    with open(os.path.join(out, "sift_thresholds.csv"), "w") as f:
        f.write(f'"{real_literal(mean)}"\n')
    with open(os.path.join(out, "sift_binary.csv"), "w") as f:
        for i in range(s.shape[0]):
            f.write(f"{i},{bytea_literal(sbits[i])}\n")


if __name__ == "__main__":
    main()
