"""Client-side quantization, bit for bit what the server's quantize_int8 and
quantize_binary return (src/dispatch.c embq_quantize_i8, src/quantize.c).

quantize_int8: per vector, scale = float32(float64(max |x|) / 127) (one step
toward zero if float32(scale * 127) would be infinite), codes =
round(float64(x) / float64(scale)) rounded half away from zero, clamped to
[-127, 127]; an all-zero vector (or one whose scale underflows) has scale 0
and zero codes.  quantize_binary: bit j is x[j] > 0, packed MSB first.
"""
import numpy as np

I8_MAX = 127


def _floats(x):
    x = np.asarray(x, dtype=np.float32)
    if x.ndim not in (1, 2) or x.shape[-1] == 0:
        raise ValueError("expected a vector or a 2-D array of vectors with at least one dimension")
    if not np.isfinite(x).all():
        raise ValueError("NaN or infinity not allowed in i8vec or bitvec")
    return x


def _round_exact(x, s):
    """round(float64(x) / s) half away from zero, in float64 (x: float32 rows,
    s: float64 scales with zero replaced, one per row)."""
    y = x.astype(np.float64) / s
    t = np.trunc(y)
    # C's round(): half away from zero; y - trunc(y) is exact
    return np.where(np.abs(y - t) >= 0.5, t + np.sign(y), t)


# Rows quantized at a time: the temporaries stay in the L2 cache (64 rows of
# 1024 floats are 256 kB; 16 to 256 rows measured, 64-128 fastest).
_ROWS = 64


def _quantize_rows(x2, codes, scale, bits=None):
    """quantize_int8 of the rows of x2 (float32, n x dims) into codes (n x
    dims int8), scale (n) and, if given, quantize_binary into bits (n x
    ceil(dims / 8)): views into the caller's arrays (the COPY rows of
    copy_embeddings), each row read once while it is in cache."""
    n, d = x2.shape
    rows = min(_ROWS, n)
    y = np.empty((rows, d), dtype=np.float32)
    r = np.empty((rows, d), dtype=np.float32)
    near = np.empty((rows, d), dtype=bool)
    for a in range(0, n, rows):
        xc = x2[a:a + rows]
        k = len(xc)
        yk, rk, nk = y[:k], r[:k], near[:k]
        # max |x| per row (NaN and infinity propagate, and are refused)
        m = np.abs(xc, out=yk).max(axis=1)
        if not np.isfinite(m).all():
            raise ValueError("NaN or infinity not allowed in i8vec or bitvec")
        sc = (m.astype(np.float64) / I8_MAX).astype(np.float32)
        with np.errstate(over="ignore"):
            big = np.isinf((sc.astype(np.float64) * I8_MAX).astype(np.float32))
        if big.any():
            sc = np.where(big, np.nextafter(sc, np.float32(0)), sc).astype(np.float32)
        scale[a:a + k] = sc
        s64 = sc.astype(np.float64)
        safe = np.where(s64 == 0, 1.0, s64)
        # float32 x * (1 / s) is within 2e-5 of float64's x / s (|x| / s <=
        # 127 and float32 rounds at 2^-24 relative twice), so it rounds the
        # same way but near a half, where the exact float64 rounding decides
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            np.multiply(xc, (1.0 / safe).astype(np.float32)[:, None], out=yk)
            np.rint(yk, out=rk)
            np.subtract(yk, rk, out=yk)
        np.abs(yk, out=yk)
        # NaN (from a reciprocal that overflowed) counts as near
        np.logical_not(np.less(yk, np.float32(0.499), out=nk), out=nk)
        # flat indices: np.nonzero of a 2-D mask is 10x slower
        at = np.flatnonzero(nk)
        if len(at):
            rr, cc = np.divmod(at, d)
            rk[rr, cc] = _round_exact(xc[rr, cc], safe[rr])
        np.clip(rk, -I8_MAX, I8_MAX, out=rk)
        rk[sc == 0] = 0
        codes[a:a + k] = rk
        if bits is not None:
            bits[a:a + k] = np.packbits(np.greater(xc, 0, out=nk), axis=-1)


def quantize_int8(x):
    """Int8 codes (int8 array of x's shape) and scales (float32, one per vector)."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim not in (1, 2) or x.shape[-1] == 0:
        raise ValueError("expected a vector or a 2-D array of vectors with at least one dimension")
    x2 = x.reshape(-1, x.shape[-1])
    codes = np.empty(x2.shape, dtype=np.int8)
    scale = np.empty(len(x2), dtype=np.float32)
    _quantize_rows(x2, codes, scale)
    return codes.reshape(x.shape), scale.reshape(x.shape[:-1])


def quantize_binary(x):
    """Packed bits (uint8, ceil(dims / 8) per vector, MSB first): x[j] > 0."""
    x = _floats(x)
    return np.packbits(x > 0, axis=-1)
