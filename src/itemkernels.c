/*-------------------------------------------------------------------------
 *
 * itemkernels.c
 *		A float query against a page of i8vec items (a float scale, then
 *		the int8 codes), as a flat embq_ivf index's data pages hold them:
 *		the kernels of its coarse pass, which is exact.
 *
 * Each item's result is bit-identical to the one-row kernel's
 * (f32_i8_dot, i8_dot, f32_i8_l2sq), so an index scan orders rows by the
 * very values the operators return: the same 16 canonical lanes, each
 * accumulating its dimensions in order in double, reduced in the same
 * order.  Within that order a one-row kernel is latency-bound (the
 * additions into a lane form a chain); these score four items (AVX-512) or
 * two (AVX2) at once, with a chain each, and load and widen the query once
 * for all of them.  A float times an int8 is exact in double, so a fused
 * multiply-add rounds as the one-row kernels' multiply and add do.
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "kernels_impl.h"

/* The scale of an item (unaligned) and its codes. */
static inline float
ItemScale(const uint8_t *item)
{
	float		s;

	memcpy(&s, item, sizeof(float));
	return s;
}

#define ITEM_CODES(item) ((const int8_t *) (item) + sizeof(float))

/*
 * Unroll the loops over items and accumulators, so that the accumulators
 * stay in registers.
 */
#if defined(__GNUC__) && !defined(__clang__)
#define UNROLL_PRAGMA(x) _Pragma(#x)
#define UNROLL(n) UNROLL_PRAGMA(GCC unroll n)
#elif defined(__clang__)
#define UNROLL_PRAGMA(x) _Pragma(#x)
#define UNROLL(n) UNROLL_PRAGMA(unroll n)
#else
#define UNROLL(n)
#endif

/* Portable f32_i8_dot (and, when norm is not NULL, i8_dot(c, c)) of n items. */
void
embq_f32_i8_dot_items_portable(const float *q, const uint8_t *items, size_t stride, size_t n,
							   size_t dims, double *dot, int64_t *norm)
{
	for (size_t i = 0; i < n; i++)
	{
		const int8_t *c = ITEM_CODES(items + i * stride);

		dot[i] = embq_f32_i8_dot_portable(q, c, dims);
		if (norm)
			norm[i] = embq_i8_dot_portable(c, c, dims);
	}
}

/* Portable f32_i8_l2sq of n items, each with its own scale. */
void
embq_f32_i8_l2sq_items_portable(const float *q, const uint8_t *items, size_t stride, size_t n,
								size_t dims, double *out)
{
	for (size_t i = 0; i < n; i++)
		out[i] = embq_f32_i8_l2sq_portable(q, ITEM_CODES(items + i * stride),
										   ItemScale(items + i * stride), dims);
}

#ifdef EMBQ_X86

/*
 * The two exported kernels of a variant, on its body: each use (dot, dot
 * and norms, l2) is an inlined copy with constant flags.
 */
#define ITEM_KERNELS(suffix, target, body) \
	target void \
	embq_f32_i8_dot_items_##suffix(const float *q, const uint8_t *items, size_t stride, size_t n, \
								   size_t dims, double *dot, int64_t *norm) \
	{ \
		if (norm) \
			body(q, items, stride, n, dims, dot, norm, false, true); \
		else \
			body(q, items, stride, n, dims, dot, NULL, false, false); \
	} \
	target void \
	embq_f32_i8_l2sq_items_##suffix(const float *q, const uint8_t *items, size_t stride, size_t n, \
									size_t dims, double *out) \
	{ \
		body(q, items, stride, n, dims, out, NULL, true, false); \
	}

/*
 * AVX2: two items at a time, four 4-lane accumulators each (the 16 lanes);
 * the dimensions past the last multiple of 16 go into the stored lanes one
 * at a time, as the one-row kernel does.  l2 selects f32_i8_l2sq (into dot)
 * over the dot product, norms the norms too; both are constants where it is
 * inlined, so each use compiles to its own loop.
 */
EMBQ_TARGET_AVX2 static inline __attribute__((always_inline)) void
ItemsAvx2(const float *q, const uint8_t *items, size_t stride, size_t n, size_t dims,
		  double *dot, int64_t *norm, bool l2, bool norms)
{
	const size_t full = dims & ~(size_t) 15;

	for (size_t i = 0; i < n; i += 2)
	{
		int			rows = n - i >= 2 ? 2 : 1;
		const int8_t *c[2];
		__m256d		s[2];
		__m256d		acc[2][4];
		__m256i		nacc[2];

		for (int r = 0; r < 2; r++)
		{
			/* a lone last item is scored twice, and kept once */
			const uint8_t *it = items + (i + (r < rows ? r : 0)) * stride;

			c[r] = ITEM_CODES(it);
			s[r] = _mm256_set1_pd(ItemScale(it));
			nacc[r] = _mm256_setzero_si256();
			for (int k = 0; k < 4; k++)
				acc[r][k] = _mm256_setzero_pd();
		}
		/* fetch the group after next while this one is scored (see AVX-512) */
		if (i + 4 < n)
			for (size_t off = 0; off < 2 * stride; off += 64)
				_mm_prefetch((const char *) items + (i + 4) * stride + off, _MM_HINT_T0);
		for (size_t j = 0; j < full; j += 16)
		{
			UNROLL(4)
			for (int k = 0; k < 4; k++)
			{
				__m256d		qv = _mm256_cvtps_pd(_mm_loadu_ps(q + j + 4 * k));

				UNROLL(2)
				for (int r = 0; r < 2; r++)
				{
					__m256d		cv = EmbqCodes4ToPd(c[r] + j + 4 * k);

					if (l2)
					{
						__m256d		d = _mm256_sub_pd(qv, _mm256_mul_pd(s[r], cv));

						acc[r][k] = _mm256_add_pd(acc[r][k], _mm256_mul_pd(d, d));
					}
					else
						acc[r][k] = _mm256_fmadd_pd(qv, cv, acc[r][k]);
				}
			}
			if (norms)
				UNROLL(2)
				for (int r = 0; r < 2; r++)
				{
					__m256i		x = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (c[r] + j)));

					nacc[r] = _mm256_add_epi32(nacc[r], _mm256_madd_epi16(x, x));
				}
		}
		for (int r = 0; r < rows; r++)
		{
			double		lanes[EMBQ_FLOAT_LANES];
			double		sc = _mm256_cvtsd_f64(s[r]);
			int64_t		nn = EmbqSum256Epi32(nacc[r]);

			for (int k = 0; k < 4; k++)
				_mm256_storeu_pd(lanes + 4 * k, acc[r][k]);
			for (size_t j = full; j < dims; j++)
			{
				if (l2)
				{
					double		d = (double) q[j] - sc * (double) c[r][j];

					lanes[j % EMBQ_FLOAT_LANES] += d * d;
				}
				else
				{
					lanes[j % EMBQ_FLOAT_LANES] += (double) q[j] * (double) c[r][j];
					nn += (int64_t) c[r][j] * c[r][j];
				}
			}
			dot[i + r] = EmbqReduceLanes256(lanes);
			if (norms)
				norm[i + r] = nn;
		}
	}
}

ITEM_KERNELS(avx2, EMBQ_TARGET_AVX2, ItemsAvx2)

/*
 * One item's step over 16 dimensions (AVX-512): its two accumulators (lanes
 * 0-7 and 8-15) and its norm.  Inlined with constant flags, its arguments
 * stay in registers.
 */
EMBQ_TARGET_AVX512 static inline __attribute__((always_inline)) void
Step512(__m512d q0, __m512d q1, const int8_t *c, __mmask16 m, __m512d s, __m512d *a0, __m512d *a1,
		__m128i *nacc, bool l2, bool norms)
{
	__m128i		cb = _mm_maskz_loadu_epi8(m, c);
	__m512i		ci = _mm512_cvtepi8_epi32(cb);
	__m512d		c0 = _mm512_cvtepi32_pd(_mm512_castsi512_si256(ci));
	__m512d		c1 = _mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(ci, 1));

	if (l2)
	{
		__m512d		d0 = _mm512_sub_pd(q0, _mm512_mul_pd(s, c0));
		__m512d		d1 = _mm512_sub_pd(q1, _mm512_mul_pd(s, c1));

		*a0 = _mm512_add_pd(*a0, _mm512_mul_pd(d0, d0));
		*a1 = _mm512_add_pd(*a1, _mm512_mul_pd(d1, d1));
	}
	else
	{
		*a0 = _mm512_fmadd_pd(q0, c0, *a0);
		*a1 = _mm512_fmadd_pd(q1, c1, *a1);
	}
	/* c . c as |c| . |c|, one VNNI step (|c| <= 127 is also signed) */
	if (norms)
	{
		__m128i		a = _mm_abs_epi8(cb);

		*nacc = _mm_dpbusd_epi32(*nacc, a, a);
	}
}

/* Sum of four int32 lanes. */
EMBQ_TARGET_AVX512 static inline int64_t
SumEpi32x4(__m128i v)
{
	return (int64_t) _mm_extract_epi32(v, 0) + _mm_extract_epi32(v, 1) +
		_mm_extract_epi32(v, 2) + _mm_extract_epi32(v, 3);
}

/*
 * AVX-512: four items at a time, two 8-lane accumulators each (lanes 0-7
 * and 8-15); masked loads read the tail's missing lanes as zero, which add
 * +0.0 and leave a lane as it is, as in the one-row kernel.
 */
EMBQ_TARGET_AVX512 static inline __attribute__((always_inline)) void
ItemsAvx512(const float *q, const uint8_t *items, size_t stride, size_t n, size_t dims,
			double *dot, int64_t *norm, bool l2, bool norms)
{
	for (size_t i = 0; i < n; i += 4)
	{
		int			rows = n - i >= 4 ? 4 : (int) (n - i);

		/* past the last item, score the last again and keep it once */
		const uint8_t *it0 = items + i * stride,
				   *it1 = items + (i + (rows > 1 ? 1 : 0)) * stride,
				   *it2 = items + (i + (rows > 2 ? 2 : 0)) * stride,
				   *it3 = items + (i + (rows > 3 ? 3 : 0)) * stride;
		const int8_t *c0 = ITEM_CODES(it0),
				   *c1 = ITEM_CODES(it1),
				   *c2 = ITEM_CODES(it2),
				   *c3 = ITEM_CODES(it3);
		__m512d		s0 = _mm512_set1_pd(ItemScale(it0)),
					s1 = _mm512_set1_pd(ItemScale(it1)),
					s2 = _mm512_set1_pd(ItemScale(it2)),
					s3 = _mm512_set1_pd(ItemScale(it3));
		__m512d		a00 = _mm512_setzero_pd(),
					a01 = a00,
					a10 = a00,
					a11 = a00,
					a20 = a00,
					a21 = a00,
					a30 = a00,
					a31 = a00;
		__m128i		n0 = _mm_setzero_si128(),
					n1 = n0,
					n2 = n0,
					n3 = n0;
		double		d[4];
		int64_t		nn[4];

		/*
		 * The page's items stream through once, and the first load of each
		 * group stalled on memory: fetch the group after next meanwhile.
		 */
		if (i + 8 < n)
			for (size_t off = 0; off < 4 * stride; off += 64)
				_mm_prefetch((const char *) items + (i + 8) * stride + off, _MM_HINT_T0);
		for (size_t j = 0; j < dims; j += 16)
		{
			size_t		len = dims - j;
			__mmask16	m = len >= 16 ? 0xffff : (__mmask16) ((1u << len) - 1);
			__m512		qf = _mm512_maskz_loadu_ps(m, q + j);
			__m512d		q0 = _mm512_cvtps_pd(_mm512_castps512_ps256(qf));
			__m512d		q1 = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(qf), 1)));

			Step512(q0, q1, c0 + j, m, s0, &a00, &a01, &n0, l2, norms);
			Step512(q0, q1, c1 + j, m, s1, &a10, &a11, &n1, l2, norms);
			Step512(q0, q1, c2 + j, m, s2, &a20, &a21, &n2, l2, norms);
			Step512(q0, q1, c3 + j, m, s3, &a30, &a31, &n3, l2, norms);
		}
		d[0] = EmbqReduce512(a00, a01);
		d[1] = EmbqReduce512(a10, a11);
		d[2] = EmbqReduce512(a20, a21);
		d[3] = EmbqReduce512(a30, a31);
		nn[0] = SumEpi32x4(n0);
		nn[1] = SumEpi32x4(n1);
		nn[2] = SumEpi32x4(n2);
		nn[3] = SumEpi32x4(n3);
		for (int r = 0; r < rows; r++)
		{
			dot[i + r] = d[r];
			if (norms)
				norm[i + r] = nn[r];
		}
	}
}

ITEM_KERNELS(avx512, EMBQ_TARGET_AVX512, ItemsAvx512)

#endif							/* EMBQ_X86 */
