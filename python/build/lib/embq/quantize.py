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


# Rows quantized at a time: the temporaries stay in cache.
_ROWS = 256


def quantize_int8(x):
    """Int8 codes (int8 array of x's shape) and scales (float32, one per vector)."""
    x = _floats(x)
    m = np.abs(x).max(axis=-1)
    scale = (m.astype(np.float64) / I8_MAX).astype(np.float32)
    with np.errstate(over="ignore"):
        big = np.isinf((scale.astype(np.float64) * I8_MAX).astype(np.float32))
    scale = np.where(big, np.nextafter(scale, np.float32(0)), scale).astype(np.float32)
    s = scale.astype(np.float64)
    safe = np.where(s == 0, 1.0, s)
    x2 = x.reshape(-1, x.shape[-1])
    safe2 = safe.reshape(-1, 1)
    codes = np.empty(x2.shape, dtype=np.int8)
    for a in range(0, len(x2), _ROWS):
        xc, sc = x2[a:a + _ROWS], safe2[a:a + _ROWS]
        # In float32 the quotient is within 1e-5 of float64's (|x| / s <= 127
        # and float32 rounds at 2^-24 relative), so it rounds the same way
        # but near a half, where the exact float64 rounding decides.
        with np.errstate(over="ignore", under="ignore"):
            y = xc / sc.astype(np.float32)
        r = np.rint(y)
        near = np.abs(np.abs(y - np.trunc(y)) - np.float32(0.5)) < np.float32(1e-3)
        near |= ~np.isfinite(y)
        if near.any():
            rows, cols = np.nonzero(near)
            r[rows, cols] = _round_exact(xc[rows, cols], sc[rows, 0])
        codes[a:a + _ROWS] = np.clip(r, -I8_MAX, I8_MAX)
    codes = codes.reshape(x.shape)
    codes[s == 0] = 0
    return codes, scale


def quantize_binary(x):
    """Packed bits (uint8, ceil(dims / 8) per vector, MSB first): x[j] > 0."""
    x = _floats(x)
    return np.packbits(x > 0, axis=-1)
