/*-------------------------------------------------------------------------
 *
 * planekernels.c
 *		Bit-plane sums: the i8vec coarse pass of embq_ivf scores a row's
 *		residual sign bits against a query held as a few bit planes, so
 *		one row costs a handful of AND + popcount steps per 512 dimensions
 *		instead of a byte-wise masked sum.
 *
 * With the query's values u[j] < 2^B split into B planes, the sum of u
 * over a mask's set bits is sum_b 2^b * popcount(mask AND plane_b); the
 * mask's own popcount rides in the high half of the same 64-bit result,
 * so one reduction serves both.
 *
 * No PostgreSQL header here: see kernels.h.
 *
 *-------------------------------------------------------------------------
 */
#include "kernels_impl.h"

#ifdef EMBQ_X86
#include <immintrin.h>
#endif

/* Split u into LSB-first bit planes, each zero-padded to whole 64-byte blocks. */
void
embq_bit_planes(const uint8_t *u, size_t n, int nplanes, uint8_t *planes)
{
	size_t		pbytes = EMBQ_PLANE_BYTES(n);
	size_t		j;
	int			b;

	for (j = 0; j < pbytes * (size_t) nplanes; j++)
		planes[j] = 0;
	for (b = 0; b < nplanes; b++)
		for (j = 0; j < n; j++)
			if ((u[j] >> b) & 1)
				planes[b * pbytes + (j >> 3)] |= (uint8_t) (1u << (j & 7));
}

/* Portable 64-bit load of up to 8 bytes, zero-filled past len. */
static inline uint64_t
LoadPartial64(const uint8_t *p, size_t len)
{
	uint64_t	v = 0;

	__builtin_memcpy(&v, p, len < 8 ? len : 8);
	return v;
}

/*
 * Bit-plane sums, 64 bits at a time.  Mask and plane words are loaded the
 * same way, so popcounts of their AND do not depend on byte order.  Always
 * inlined, so the AVX2 variant compiles it with the POPCNT instruction.
 */
static inline __attribute__((always_inline)) void
PlaneSums64(const uint8_t *masks, size_t stride, size_t n, size_t nbits,
			const uint8_t *planes, int nplanes, uint64_t *out)
{
	size_t		mbytes = EMBQ_BITBYTES(nbits),
				pbytes = EMBQ_PLANE_BYTES(nbits);

	for (size_t i = 0; i < n; i++)
	{
		const uint8_t *m = masks + i * stride;
		uint64_t	sum = 0,
					pop = 0;

		for (size_t w = 0; w < mbytes; w += 8)
		{
			uint64_t	x = LoadPartial64(m + w, mbytes - w);

			pop += (uint64_t) __builtin_popcountll(x);
			for (int b = 0; b < nplanes; b++)
				sum += (uint64_t) __builtin_popcountll(x & LoadPartial64(planes + b * pbytes + w, 8)) << b;
		}
		out[i] = sum + (pop << 32);
	}
}

/* Portable bit-plane sums. */
void
embq_plane_sums_portable(const uint8_t *masks, size_t stride, size_t n, size_t nbits,
						 const uint8_t *planes, int nplanes, uint64_t *out)
{
	PlaneSums64(masks, stride, n, nbits, planes, nplanes, out);
}

#ifdef EMBQ_X86

/*
 * AVX2 bit-plane sums: the scalar POPCNT instruction on 64-bit words (AVX2
 * has no vector popcount, and the shuffle method loses to POPCNT here).
 */
EMBQ_TARGET_AVX2 void
embq_plane_sums_avx2(const uint8_t *masks, size_t stride, size_t n, size_t nbits,
					 const uint8_t *planes, int nplanes, uint64_t *out)
{
	PlaneSums64(masks, stride, n, nbits, planes, nplanes, out);
}

/*
 * AVX-512 VPOPCNTDQ bit-plane sums, 512 dimensions per step; a mask's last
 * block is a masked load, so no byte past the mask is read.
 */
EMBQ_TARGET_AVX512 void
embq_plane_sums_avx512(const uint8_t *masks, size_t stride, size_t n, size_t nbits,
					   const uint8_t *planes, int nplanes, uint64_t *out)
{
	size_t		mbytes = EMBQ_BITBYTES(nbits),
				pbytes = EMBQ_PLANE_BYTES(nbits);
	size_t		full = mbytes / 64;
	__mmask64	tail = (mbytes % 64) ? ((1ULL << (mbytes % 64)) - 1) : 0;

	for (size_t i = 0; i < n; i++)
	{
		const uint8_t *m = masks + i * stride;
		__m512i		acc = _mm512_setzero_si512();
		size_t		blk;

		for (blk = 0; blk < full + (tail != 0); blk++)
		{
			__m512i		x = blk < full ? _mm512_loadu_si512((const void *) (m + 64 * blk))
				: _mm512_maskz_loadu_epi8(tail, m + 64 * blk);
			const uint8_t *p = planes + 64 * blk;

			acc = _mm512_add_epi64(acc, _mm512_slli_epi64(_mm512_popcnt_epi64(x), 32));
			for (int b = 0; b < nplanes; b++, p += pbytes)
			{
				__m512i		y = _mm512_and_si512(x, _mm512_loadu_si512((const void *) p));

				acc = _mm512_add_epi64(acc, _mm512_sllv_epi64(_mm512_popcnt_epi64(y),
															  _mm512_set1_epi64(b)));
			}
		}
		out[i] = (uint64_t) _mm512_reduce_add_epi64(acc);
	}
}

#endif							/* EMBQ_X86 */
