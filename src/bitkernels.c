/*-------------------------------------------------------------------------
 *
 * bitkernels.c
 *		Popcount kernels over packed bit vectors: hamming, jaccard counts,
 *		popcount, and the float query against bits product used when
 *		rescoring binary codes.
 *
 * No PostgreSQL header here: see kernels.h.
 *
 *-------------------------------------------------------------------------
 */
#include "kernels_impl.h"

#ifdef EMBQ_X86
#include <immintrin.h>
#endif

/* Portable 64-bit load that tolerates any alignment. */
static inline uint64_t
Load64(const uint8_t *p)
{
	uint64_t	v;

	__builtin_memcpy(&v, p, 8);
	return v;
}

/* Portable hamming distance: popcount of XOR, 8 bytes at a time. */
uint64_t
embq_hamming_portable(const uint8_t *a, const uint8_t *b, size_t nbytes)
{
	uint64_t	count = 0;
	size_t		i = 0;

	for (; i + 8 <= nbytes; i += 8)
		count += __builtin_popcountll(Load64(a + i) ^ Load64(b + i));
	for (; i < nbytes; i++)
		count += __builtin_popcount(a[i] ^ b[i]);
	return count;
}

/*
 * Codes from .. k-1 against the best so far (distance best, index besti) by
 * one hamming kernel: a code wins only when strictly nearer, so ties keep
 * the lowest index.
 */
static inline int32_t
HammingNearestFrom(const uint8_t *x, const uint8_t *codes, size_t from, size_t k, size_t nbytes,
				   uint64_t (*hamming) (const uint8_t *, const uint8_t *, size_t),
				   uint64_t best, int32_t besti)
{
	for (size_t c = from; c < k; c++)
	{
		uint64_t	d = hamming(x, codes + c * nbytes, nbytes);

		if (d < best)
		{
			best = d;
			besti = (int32_t) c;
		}
	}
	return besti;
}

/* Portable nearest code by hamming distance: the lowest c on ties. */
int32_t
embq_hamming_nearest_portable(const uint8_t *x, const uint8_t *codes, size_t k, size_t nbytes)
{
	return HammingNearestFrom(x, codes, 0, k, nbytes, embq_hamming_portable, UINT64_MAX, 0);
}

/* Portable AND / OR popcounts. */
void
embq_and_or_count_portable(const uint8_t *a, const uint8_t *b, size_t nbytes,
						   uint64_t *and_count, uint64_t *or_count)
{
	uint64_t	ac = 0,
				oc = 0;
	size_t		i = 0;

	for (; i + 8 <= nbytes; i += 8)
	{
		uint64_t	x = Load64(a + i),
					y = Load64(b + i);

		ac += __builtin_popcountll(x & y);
		oc += __builtin_popcountll(x | y);
	}
	for (; i < nbytes; i++)
	{
		ac += __builtin_popcount(a[i] & b[i]);
		oc += __builtin_popcount(a[i] | b[i]);
	}
	*and_count = ac;
	*or_count = oc;
}

/* Portable popcount. */
uint64_t
embq_popcount_portable(const uint8_t *a, size_t nbytes)
{
	uint64_t	count = 0;
	size_t		i = 0;

	for (; i + 8 <= nbytes; i += 8)
		count += __builtin_popcountll(Load64(a + i));
	for (; i < nbytes; i++)
		count += __builtin_popcount(a[i]);
	return count;
}

/* Portable sum of q[j] over set bits, in the canonical lane order. */
double
embq_bits_float_dot_portable(const uint8_t *bits, const float *q, size_t dims)
{
	double		lanes[EMBQ_FLOAT_LANES] = {0};
	size_t		j;

	for (j = 0; j < dims; j++)
		if (bits[j >> 3] & (0x80 >> (j & 7)))
			lanes[j % EMBQ_FLOAT_LANES] += (double) q[j];
	return embq_reduce_lanes(lanes);
}

#ifdef EMBQ_X86

/* Nibble popcount table for the AVX2 shuffle method. */
#define EMBQ_NIBBLE_LUT \
	_mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, \
					 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4)

/* Per-64-bit-lane popcount of 32 bytes (AVX2 has no vector popcount). */
EMBQ_TARGET_AVX2 static inline __m256i
Popcount256(__m256i v)
{
	const __m256i lut = EMBQ_NIBBLE_LUT;
	const __m256i low = _mm256_set1_epi8(0x0f);
	__m256i		lo = _mm256_and_si256(v, low);
	__m256i		hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
	__m256i		cnt = _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo),
									  _mm256_shuffle_epi8(lut, hi));

	return _mm256_sad_epu8(cnt, _mm256_setzero_si256());
}

/* Horizontal sum of four 64-bit lanes. */
EMBQ_TARGET_AVX2 static inline uint64_t
Sum256Epi64(__m256i v)
{
	uint64_t	t[4];

	_mm256_storeu_si256((__m256i *) t, v);
	return t[0] + t[1] + t[2] + t[3];
}

/* AVX2 nearest code by hamming distance: one code at a time. */
EMBQ_TARGET_AVX2 int32_t
embq_hamming_nearest_avx2(const uint8_t *x, const uint8_t *codes, size_t k, size_t nbytes)
{
	return HammingNearestFrom(x, codes, 0, k, nbytes, embq_hamming_avx2, UINT64_MAX, 0);
}

/* AVX2 hamming distance. */
EMBQ_TARGET_AVX2 uint64_t
embq_hamming_avx2(const uint8_t *a, const uint8_t *b, size_t nbytes)
{
	__m256i		acc = _mm256_setzero_si256();
	size_t		i = 0;

	for (; i + 32 <= nbytes; i += 32)
	{
		__m256i		x = _mm256_loadu_si256((const __m256i *) (a + i));
		__m256i		y = _mm256_loadu_si256((const __m256i *) (b + i));

		acc = _mm256_add_epi64(acc, Popcount256(_mm256_xor_si256(x, y)));
	}
	return Sum256Epi64(acc) + embq_hamming_portable(a + i, b + i, nbytes - i);
}

/* AVX2 AND / OR popcounts. */
EMBQ_TARGET_AVX2 void
embq_and_or_count_avx2(const uint8_t *a, const uint8_t *b, size_t nbytes,
					   uint64_t *and_count, uint64_t *or_count)
{
	__m256i		acc_and = _mm256_setzero_si256();
	__m256i		acc_or = _mm256_setzero_si256();
	uint64_t	tail_and,
				tail_or;
	size_t		i = 0;

	for (; i + 32 <= nbytes; i += 32)
	{
		__m256i		x = _mm256_loadu_si256((const __m256i *) (a + i));
		__m256i		y = _mm256_loadu_si256((const __m256i *) (b + i));

		acc_and = _mm256_add_epi64(acc_and, Popcount256(_mm256_and_si256(x, y)));
		acc_or = _mm256_add_epi64(acc_or, Popcount256(_mm256_or_si256(x, y)));
	}
	embq_and_or_count_portable(a + i, b + i, nbytes - i, &tail_and, &tail_or);
	*and_count = Sum256Epi64(acc_and) + tail_and;
	*or_count = Sum256Epi64(acc_or) + tail_or;
}

/* AVX2 popcount. */
EMBQ_TARGET_AVX2 uint64_t
embq_popcount_avx2(const uint8_t *a, size_t nbytes)
{
	__m256i		acc = _mm256_setzero_si256();
	size_t		i = 0;

	for (; i + 32 <= nbytes; i += 32)
		acc = _mm256_add_epi64(acc, Popcount256(_mm256_loadu_si256((const __m256i *) (a + i))));
	return Sum256Epi64(acc) + embq_popcount_portable(a + i, nbytes - i);
}

/*
 * AVX2 sum of q over set bits.  Unset lanes add +0.0, which leaves a lane
 * unchanged (lanes start at +0.0 and so are never -0.0): the result is the
 * portable one, bit for bit.
 */
EMBQ_TARGET_AVX2 double
embq_bits_float_dot_avx2(const uint8_t *bits, const float *q, size_t dims)
{
	double		lanes[EMBQ_FLOAT_LANES];
	__m256d		acc[4];
	size_t		full = dims / 16;
	size_t		i,
				j;

	for (i = 0; i < 4; i++)
		acc[i] = _mm256_setzero_pd();
	for (i = 0; i < full; i++)
	{
		/* two bytes: 16 dimensions, MSB first */
		unsigned	m = ((unsigned) bits[2 * i] << 8) | bits[2 * i + 1];
		int			k;

		for (k = 0; k < 4; k++)
		{
			/* lanes 4k .. 4k+3 are dimensions 16i + 4k + l, bit 15 - (4k + l) */
			unsigned	nib = (m >> (12 - 4 * k)) & 0xf;
			__m256i		sel = _mm256_setr_epi64x((nib & 8) ? -1 : 0, (nib & 4) ? -1 : 0,
												 (nib & 2) ? -1 : 0, (nib & 1) ? -1 : 0);
			__m256d		v = _mm256_cvtps_pd(_mm_loadu_ps(q + 16 * i + 4 * k));

			acc[k] = _mm256_add_pd(acc[k], _mm256_and_pd(v, _mm256_castsi256_pd(sel)));
		}
	}
	for (i = 0; i < 4; i++)
		_mm256_storeu_pd(lanes + 4 * i, acc[i]);
	for (j = full * 16; j < dims; j++)
		if (bits[j >> 3] & (0x80 >> (j & 7)))
			lanes[j % EMBQ_FLOAT_LANES] += (double) q[j];
	return embq_reduce_lanes(lanes);
}

/* AVX-512 VPOPCNTDQ hamming distance; the tail uses masked loads. */
EMBQ_TARGET_AVX512 uint64_t
embq_hamming_avx512(const uint8_t *a, const uint8_t *b, size_t nbytes)
{
	__m512i		acc = _mm512_setzero_si512();
	size_t		i = 0;

	for (; i + 64 <= nbytes; i += 64)
	{
		__m512i		x = _mm512_loadu_si512((const void *) (a + i));
		__m512i		y = _mm512_loadu_si512((const void *) (b + i));

		acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(_mm512_xor_si512(x, y)));
	}
	if (i < nbytes)
	{
		__mmask64	m = ((1ULL << (nbytes - i)) - 1);
		__m512i		x = _mm512_maskz_loadu_epi8(m, a + i);
		__m512i		y = _mm512_maskz_loadu_epi8(m, b + i);

		acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(_mm512_xor_si512(x, y)));
	}
	return (uint64_t) _mm512_reduce_add_epi64(acc);
}

/*
 * The sums of the 8 lanes of each of d[0..7], as lane j of one vector: a
 * transposing tree of adds (exact in integers, so any order does).
 */
EMBQ_TARGET_AVX512 static inline __m512i
Sum8Epi64(const __m512i *d)
{
	__m512i		t[4],
				u[2];

	for (int i = 0; i < 4; i++)
		t[i] = _mm512_add_epi64(_mm512_unpacklo_epi64(d[2 * i], d[2 * i + 1]),
								_mm512_unpackhi_epi64(d[2 * i], d[2 * i + 1]));
	for (int i = 0; i < 2; i++)
		u[i] = _mm512_add_epi64(_mm512_shuffle_i64x2(t[2 * i], t[2 * i + 1], 0x88),
								_mm512_shuffle_i64x2(t[2 * i], t[2 * i + 1], 0xDD));
	return _mm512_add_epi64(_mm512_shuffle_i64x2(u[0], u[1], 0x88),
							_mm512_shuffle_i64x2(u[0], u[1], 0xDD));
}

/* Up to this many 64-byte chunks of x stay in registers (2048 bits). */
#define HAMMING_NEAREST_CHUNKS 4

/*
 * The tiles of embq_hamming_nearest_avx512 for codes of nchunks 64-byte
 * chunks (a constant once inlined, so that x stays in registers), from code
 * 0 to the last multiple of 8: lane j keeps the least distance of codes j,
 * j + 8, ... and the first code at it.
 */
EMBQ_TARGET_AVX512 static inline __attribute__((always_inline)) void
HammingNearestTiles(const uint8_t *x, const uint8_t *codes, size_t k, size_t nbytes,
					size_t nchunks, __mmask64 tail, __m512i *best, __m512i *bestc)
{
	__m512i		q[HAMMING_NEAREST_CHUNKS];
	__m512i		lanec = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);

	for (size_t ch = 0; ch < nchunks; ch++)
		q[ch] = _mm512_maskz_loadu_epi8(ch + 1 == nchunks ? tail : ~0ULL, x + ch * 64);
	for (size_t c = 0; c + 8 <= k; c += 8)
	{
		__m512i		d[8];
		__mmask8	lt;

		for (int j = 0; j < 8; j++)
		{
			const uint8_t *p = codes + (c + j) * nbytes;

			d[j] = _mm512_popcnt_epi64(_mm512_xor_si512(q[0], _mm512_maskz_loadu_epi8(nchunks == 1 ? tail : ~0ULL, p)));
			for (size_t ch = 1; ch < nchunks; ch++)
				d[j] = _mm512_add_epi64(d[j], _mm512_popcnt_epi64(_mm512_xor_si512(q[ch],
																				   _mm512_maskz_loadu_epi8(ch + 1 == nchunks ? tail : ~0ULL, p + ch * 64))));
		}
		d[0] = Sum8Epi64(d);
		lt = _mm512_cmplt_epu64_mask(d[0], *best);
		*best = _mm512_mask_mov_epi64(*best, lt, d[0]);
		*bestc = _mm512_mask_mov_epi64(*bestc, lt, lanec);
		lanec = _mm512_add_epi64(lanec, _mm512_set1_epi64(8));
	}
}

/*
 * AVX-512 VPOPCNTDQ nearest code by hamming distance: x stays in registers
 * (codes up to 2048 bits), and 8 codes a step are reduced together
 * (Sum8Epi64); the lowest index among the lanes at the minimum is the first
 * minimum overall.
 */
EMBQ_TARGET_AVX512 int32_t
embq_hamming_nearest_avx512(const uint8_t *x, const uint8_t *codes, size_t k, size_t nbytes)
{
	size_t		nchunks = (nbytes + 63) / 64;
	__mmask64	tail = nbytes % 64 ? (1ULL << (nbytes % 64)) - 1 : ~0ULL;
	__m512i		best = _mm512_set1_epi64(-1);
	__m512i		bestc = _mm512_setzero_si512();
	uint64_t	bests[8],
				bestcs[8];
	uint64_t	bd = UINT64_MAX;
	int32_t		besti = 0;
	size_t		c = k & ~(size_t) 7;

	switch (nchunks)
	{
		case 1:
			HammingNearestTiles(x, codes, k, nbytes, 1, tail, &best, &bestc);
			break;
		case 2:
			HammingNearestTiles(x, codes, k, nbytes, 2, tail, &best, &bestc);
			break;
		case 3:
			HammingNearestTiles(x, codes, k, nbytes, 3, tail, &best, &bestc);
			break;
		case 4:
			HammingNearestTiles(x, codes, k, nbytes, 4, tail, &best, &bestc);
			break;
		default:
			return HammingNearestFrom(x, codes, 0, k, nbytes, embq_hamming_avx512, UINT64_MAX, 0);
	}
	_mm512_storeu_si512((void *) bests, best);
	_mm512_storeu_si512((void *) bestcs, bestc);
	for (int j = 0; j < 8 && c >= 8; j++)
		if (bests[j] < bd || (bests[j] == bd && (int32_t) bestcs[j] < besti))
		{
			bd = bests[j];
			besti = (int32_t) bestcs[j];
		}
	/* the last k % 8 codes come after every lane's: only a smaller distance wins */
	return HammingNearestFrom(x, codes, c, k, nbytes, embq_hamming_avx512, bd, besti);
}

/* AVX-512 VPOPCNTDQ AND / OR popcounts. */
EMBQ_TARGET_AVX512 void
embq_and_or_count_avx512(const uint8_t *a, const uint8_t *b, size_t nbytes,
						 uint64_t *and_count, uint64_t *or_count)
{
	__m512i		acc_and = _mm512_setzero_si512();
	__m512i		acc_or = _mm512_setzero_si512();
	size_t		i = 0;

	while (i < nbytes)
	{
		size_t		len = nbytes - i < 64 ? nbytes - i : 64;
		__mmask64	m = len == 64 ? ~0ULL : ((1ULL << (len)) - 1);
		__m512i		x = _mm512_maskz_loadu_epi8(m, a + i);
		__m512i		y = _mm512_maskz_loadu_epi8(m, b + i);

		acc_and = _mm512_add_epi64(acc_and, _mm512_popcnt_epi64(_mm512_and_si512(x, y)));
		acc_or = _mm512_add_epi64(acc_or, _mm512_popcnt_epi64(_mm512_or_si512(x, y)));
		i += len;
	}
	*and_count = (uint64_t) _mm512_reduce_add_epi64(acc_and);
	*or_count = (uint64_t) _mm512_reduce_add_epi64(acc_or);
}

/* AVX-512 VPOPCNTDQ popcount. */
EMBQ_TARGET_AVX512 uint64_t
embq_popcount_avx512(const uint8_t *a, size_t nbytes)
{
	__m512i		acc = _mm512_setzero_si512();
	size_t		i = 0;

	while (i < nbytes)
	{
		size_t		len = nbytes - i < 64 ? nbytes - i : 64;
		__mmask64	m = len == 64 ? ~0ULL : ((1ULL << (len)) - 1);

		acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(_mm512_maskz_loadu_epi8(m, a + i)));
		i += len;
	}
	return (uint64_t) _mm512_reduce_add_epi64(acc);
}

/*
 * AVX-512 sum of q over set bits: each byte is a lane mask (bit-reversed,
 * since dimension 0 is the MSB) for a masked add of 8 widened floats.
 */
EMBQ_TARGET_AVX512 double
embq_bits_float_dot_avx512(const uint8_t *bits, const float *q, size_t dims)
{
	double		lanes[EMBQ_FLOAT_LANES];
	__m512d		acc[2] = {_mm512_setzero_pd(), _mm512_setzero_pd()};
	size_t		nbytes = EMBQ_BITBYTES(dims);
	size_t		b;

	for (b = 0; b < nbytes; b++)
	{
		size_t		j = b * 8;
		__mmask8	valid = dims - j >= 8 ? 0xff : (__mmask8) ((1u << (dims - j)) - 1);
		__mmask8	m = embq_rev8[bits[b]] & valid;
		__m512d		v;

		if (m == 0)
			continue;
		v = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(valid, q + j));
		acc[b & 1] = _mm512_mask_add_pd(acc[b & 1], m, acc[b & 1], v);
	}
	_mm512_storeu_pd(lanes, acc[0]);
	_mm512_storeu_pd(lanes + 8, acc[1]);
	return embq_reduce_lanes(lanes);
}

#endif							/* EMBQ_X86 */
