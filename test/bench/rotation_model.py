#!/usr/bin/env python3
"""rotation_model.py: would a random rotation before the residual signs help
the signs layout?  A numpy model of an embq_ivf signs scan on a real set
(bench_shapes.sh's data): spherical k-means lists, the nearest P lists
probed, every probed row estimated as q . c + alpha * (q . s) with s the
signs of its residual (alpha = |r|^2 / |r|_1, as SignsCoarseItem), with and
without a random orthogonal rotation of residuals and query; prints the
share of the exact top-10 found in the probed lists that the best T
estimates hold, for T from 40 to 640 (a signs batch is 10 * 4 *
ceil(1024 / dims) candidates, up to 4 times that).

Usage: rotation_model.py NAME LISTS PROBES   (reads /tmp/embq_bench/NAME.fvecs)
"""
import numpy as np, sys, time
sys.path.insert(0, "/work/main/test/bench")
from load_fvecs import read_fvecs
name = sys.argv[1]; L = int(sys.argv[2]); P = int(sys.argv[3])
x = read_fvecs(f"/tmp/embq_bench/{name}.fvecs").astype(np.float32)
q = read_fvecs(f"/tmp/embq_bench/{name}_queries.fvecs").astype(np.float32)
n, d = x.shape
rng = np.random.default_rng(0)
# k-means (spherical), 8 iterations on a 40k sample, then assign all
samp = x[rng.choice(n, min(n, 40000), replace=False)]
C = samp[rng.choice(len(samp), L, replace=False)].copy()
for it in range(8):
    a = np.argmax(samp @ C.T, axis=1)
    for j in range(L):
        m = samp[a == j]
        if len(m): C[j] = m.mean(0)
    C /= np.linalg.norm(C, axis=1, keepdims=True) + 1e-12
assign = np.concatenate([np.argmax(x[i:i+20000] @ C.T, axis=1) for i in range(0, n, 20000)])
gt = np.argsort(-(q @ x.T), axis=1)[:, :10]
# random orthogonal rotation (QR of Gaussian)
R, _ = np.linalg.qr(rng.standard_normal((d, d)))
R = R.astype(np.float32)
r = x - C[assign]
res = {}
for rot in (False, True):
    rr = r @ R if rot else r
    s = np.where(rr > 0, 1.0, -1.0).astype(np.float32)
    alpha = (rr * rr).sum(1) / np.abs(rr).sum(1)
    found = {T: 0 for T in (40, 160, 320, 640)}
    tot = 0
    for qi in range(len(q)):
        qq = q[qi]; qr = qq @ R if rot else qq
        lists = np.argsort(-(C @ qq))[:P]
        cand = np.nonzero(np.isin(assign, lists))[0]
        est = (C[assign[cand]] @ qq) + alpha[cand] * (s[cand] @ qr)
        order = cand[np.argsort(-est)]
        truth = set(gt[qi]) & set(cand)
        tot += len(truth)
        for T in found:
            found[T] += len(truth & set(order[:T]))
    res[rot] = {T: found[T] / tot for T in found}
    print(name, "rotated" if rot else "plain  ", "lists", L, "probes", P, {T: round(v, 4) for T, v in res[rot].items()}, flush=True)
