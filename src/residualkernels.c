/*-------------------------------------------------------------------------
 *
 * residualkernels.c
 *		The residual sign kernel of the index build: the sign mask of a
 *		scaled int8 code minus its scaled centroid, and the residual's norms.
 *
 * Every i8vec row of an embq_ivf index carries these bits, so a build runs
 * this kernel once per row over every dimension; at a million rows of 1024
 * dimensions it was a third of the time a build spends outside k-means and
 * assignment.  All variants do the same double-precision steps per element,
 * (float) (a * x - b * y), then |v| and v * v summed over
 * EMBQ_FLOAT_LANES lanes, so they agree bit for bit.
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>

#include "kernels_impl.h"

#ifdef EMBQ_X86
#include <immintrin.h>
#endif

/*
 * Elements from through n - 1 (from a multiple of 8) one at a time, into
 * the lane sums s1, s2 and the mask: the portable kernel, and the tail of
 * AVX2's.
 */
static inline void
ResidualElements(const int8_t *x, double a, const int8_t *y, double b, size_t from, size_t n,
				 uint8_t *mask, double *s1, double *s2)
{
	/* branch-free: the signs of residuals are coin flips to a predictor */
	for (size_t i = from; i < n; i += 8)
	{
		unsigned	bits = 0;

		for (size_t j = i; j < i + 8 && j < n; j++)
		{
			float		v = (float) (a * x[j] - b * y[j]);

			s1[j % EMBQ_FLOAT_LANES] += fabs(v);
			s2[j % EMBQ_FLOAT_LANES] += (double) v * v;
			bits |= (unsigned) (v > 0) << (j - i);
		}
		mask[i >> 3] = (uint8_t) bits;
	}
}

/* Portable residual sign mask and norms. */
void
embq_i8_residual_portable(const int8_t *x, double a, const int8_t *y, double b, size_t n,
						  uint8_t *mask, double *l1, double *l2)
{
	double		s1[EMBQ_FLOAT_LANES] = {0};
	double		s2[EMBQ_FLOAT_LANES] = {0};

	ResidualElements(x, a, y, b, 0, n, mask, s1, s2);
	*l1 = embq_reduce_lanes(s1);
	*l2 = embq_reduce_lanes(s2);
}

#ifdef EMBQ_X86

/* AVX2 residual sign mask and norms: 16 elements (two mask bytes) a step. */
EMBQ_TARGET_AVX2 void
embq_i8_residual_avx2(const int8_t *x, double a, const int8_t *y, double b, size_t n,
					  uint8_t *mask, double *l1, double *l2)
{
	__m256d		va = _mm256_set1_pd(a),
				vb = _mm256_set1_pd(b),
				zero = _mm256_setzero_pd(),
				signbit = _mm256_set1_pd(-0.0);
	__m256d		s1[4],
				s2[4];
	double		t1[EMBQ_FLOAT_LANES],
				t2[EMBQ_FLOAT_LANES];
	size_t		j = 0;
	int			k;

	for (k = 0; k < 4; k++)
		s1[k] = s2[k] = _mm256_setzero_pd();
	for (; j + 16 <= n; j += 16)
	{
		unsigned	bits = 0;

		for (k = 0; k < 4; k++)
		{
			__m256d		d = _mm256_sub_pd(_mm256_mul_pd(va, EmbqCodes4ToPd(x + j + 4 * k)),
										  _mm256_mul_pd(vb, EmbqCodes4ToPd(y + j + 4 * k)));
			__m256d		v = _mm256_cvtps_pd(_mm256_cvtpd_ps(d));	/* round to float */

			s1[k] = _mm256_add_pd(s1[k], _mm256_andnot_pd(signbit, v));
			s2[k] = _mm256_add_pd(s2[k], _mm256_mul_pd(v, v));
			bits |= (unsigned) _mm256_movemask_pd(_mm256_cmp_pd(v, zero, _CMP_GT_OQ)) << (4 * k);
		}
		mask[j >> 3] = (uint8_t) bits;
		mask[(j >> 3) + 1] = (uint8_t) (bits >> 8);
	}
	for (k = 0; k < 4; k++)
	{
		_mm256_storeu_pd(t1 + 4 * k, s1[k]);
		_mm256_storeu_pd(t2 + 4 * k, s2[k]);
	}
	ResidualElements(x, a, y, b, j, n, mask, t1, t2);	/* the tail */
	*l1 = embq_reduce_lanes(t1);
	*l2 = embq_reduce_lanes(t2);
}

/*
 * AVX-512 residual sign mask and norms: 16 elements a step, the tail by
 * masked loads.  Lanes past n are 0 - 0 = +0.0: they add nothing to the
 * norms and clear their mask bits, the zero padding.
 */
EMBQ_TARGET_AVX512 void
embq_i8_residual_avx512(const int8_t *x, double a, const int8_t *y, double b, size_t n,
						uint8_t *mask, double *l1, double *l2)
{
	__m512d		va = _mm512_set1_pd(a),
				vb = _mm512_set1_pd(b),
				zero = _mm512_setzero_pd();
	__m512d		s1[2] = {_mm512_setzero_pd(), _mm512_setzero_pd()},
				s2[2] = {_mm512_setzero_pd(), _mm512_setzero_pd()};
	double		t1[EMBQ_FLOAT_LANES],
				t2[EMBQ_FLOAT_LANES];
	size_t		j;

	for (j = 0; j < n; j += 16)
	{
		__mmask16	m = n - j >= 16 ? 0xffff : (__mmask16) ((1u << (n - j)) - 1);
		__m512i		xi = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, x + j));
		__m512i		yi = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, y + j));
		unsigned	bits = 0;

		for (int k = 0; k < 2; k++)
		{
			__m256i		xh = k == 0 ? _mm512_castsi512_si256(xi) : _mm512_extracti64x4_epi64(xi, 1);
			__m256i		yh = k == 0 ? _mm512_castsi512_si256(yi) : _mm512_extracti64x4_epi64(yi, 1);
			__m512d		d = _mm512_sub_pd(_mm512_mul_pd(va, _mm512_cvtepi32_pd(xh)),
										  _mm512_mul_pd(vb, _mm512_cvtepi32_pd(yh)));
			__m512d		v = _mm512_cvtps_pd(_mm512_cvtpd_ps(d));	/* round to float */

			s1[k] = _mm512_add_pd(s1[k], _mm512_abs_pd(v));
			s2[k] = _mm512_add_pd(s2[k], _mm512_mul_pd(v, v));
			bits |= (unsigned) _mm512_cmp_pd_mask(v, zero, _CMP_GT_OQ) << (8 * k);
		}
		mask[j >> 3] = (uint8_t) bits;
		if (j + 8 < n)
			mask[(j >> 3) + 1] = (uint8_t) (bits >> 8);
	}
	_mm512_storeu_pd(t1, s1[0]);
	_mm512_storeu_pd(t1 + 8, s1[1]);
	_mm512_storeu_pd(t2, s2[0]);
	_mm512_storeu_pd(t2 + 8, s2[1]);
	*l1 = embq_reduce_lanes(t1);
	*l2 = embq_reduce_lanes(t2);
}

#endif							/* EMBQ_X86 */
