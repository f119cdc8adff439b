/*-------------------------------------------------------------------------
 *
 * int8kernels.c
 *		Dot-product kernels over int8 codes, and the asymmetric kernels that
 *		score a float query against int8 codes.
 *
 * Integer kernels are exact in any order.  Float kernels accumulate in
 * double over EMBQ_FLOAT_LANES lanes (lane = index mod EMBQ_FLOAT_LANES) and
 * reduce them with embq_reduce_lanes, so every variant rounds identically:
 * a float times an int8, or a float times a float, is exact in double, so
 * the only roundings are the lane additions (and, for L2, the difference and
 * its square), done in the same order everywhere.
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <string.h>

#include "kernels_impl.h"

#ifdef EMBQ_X86
#include <immintrin.h>
#endif

/* Portable int8 dot product. */
int64_t
embq_i8_dot_portable(const int8_t *a, const int8_t *b, size_t n)
{
	int64_t		sum = 0;
	size_t		i;

	for (i = 0; i < n; i++)
		sum += (int32_t) a[i] * b[i];
	return sum;
}

/* Portable a.a, b.b and a.b. */
void
embq_i8_dot3_portable(const int8_t *a, const int8_t *b, size_t n,
					  int64_t *aa, int64_t *bb, int64_t *ab)
{
	int64_t		saa = 0,
				sbb = 0,
				sab = 0;
	size_t		i;

	for (i = 0; i < n; i++)
	{
		saa += (int32_t) a[i] * a[i];
		sbb += (int32_t) b[i] * b[i];
		sab += (int32_t) a[i] * b[i];
	}
	*aa = saa;
	*bb = sbb;
	*ab = sab;
}

/* Portable float query dot int8 codes. */
double
embq_f32_i8_dot_portable(const float *q, const int8_t *c, size_t n)
{
	double		lanes[EMBQ_FLOAT_LANES] = {0};
	size_t		j;

	for (j = 0; j < n; j++)
		lanes[j % EMBQ_FLOAT_LANES] += (double) q[j] * (double) c[j];
	return embq_reduce_lanes(lanes);
}

/* Portable squared L2 distance between a float query and scale * codes. */
double
embq_f32_i8_l2sq_portable(const float *q, const int8_t *c, float scale, size_t n)
{
	double		lanes[EMBQ_FLOAT_LANES] = {0};
	double		s = scale;
	size_t		j;

	for (j = 0; j < n; j++)
	{
		double		d = (double) q[j] - s * (double) c[j];

		lanes[j % EMBQ_FLOAT_LANES] += d * d;
	}
	return embq_reduce_lanes(lanes);
}

/* Portable squared norm of a float vector. */
double
embq_f32_sqnorm_portable(const float *q, size_t n)
{
	double		lanes[EMBQ_FLOAT_LANES] = {0};
	size_t		j;

	for (j = 0; j < n; j++)
		lanes[j % EMBQ_FLOAT_LANES] += (double) q[j] * (double) q[j];
	return embq_reduce_lanes(lanes);
}

/* Portable float dot product. */
double
embq_f32_dot_portable(const float *a, const float *b, size_t n)
{
	double		lanes[EMBQ_FLOAT_LANES] = {0};
	size_t		j;

	for (j = 0; j < n; j++)
		lanes[j % EMBQ_FLOAT_LANES] += (double) a[j] * (double) b[j];
	return embq_reduce_lanes(lanes);
}

#ifdef EMBQ_X86

/* AVX2 int8 dot product: widen to int16, multiply-add pairs into int32. */
EMBQ_TARGET_AVX2 int64_t
embq_i8_dot_avx2(const int8_t *a, const int8_t *b, size_t n)
{
	int64_t		sum = 0;
	size_t		i = 0;

	while (n - i >= 16)
	{
		size_t		end = i + EMBQ_I8_BLOCK < n ? i + EMBQ_I8_BLOCK : n;
		__m256i		acc = _mm256_setzero_si256();

		for (; i + 16 <= end; i += 16)
		{
			__m256i		x = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (a + i)));
			__m256i		y = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (b + i)));

			acc = _mm256_add_epi32(acc, _mm256_madd_epi16(x, y));
		}
		sum += EmbqSum256Epi32(acc);
	}
	return sum + embq_i8_dot_portable(a + i, b + i, n - i);
}

/* AVX2 a.a, b.b and a.b. */
EMBQ_TARGET_AVX2 void
embq_i8_dot3_avx2(const int8_t *a, const int8_t *b, size_t n,
				  int64_t *aa, int64_t *bb, int64_t *ab)
{
	int64_t		saa = 0,
				sbb = 0,
				sab = 0,
				taa,
				tbb,
				tab;
	size_t		i = 0;

	while (n - i >= 16)
	{
		size_t		end = i + EMBQ_I8_BLOCK < n ? i + EMBQ_I8_BLOCK : n;
		__m256i		acc_aa = _mm256_setzero_si256();
		__m256i		acc_bb = _mm256_setzero_si256();
		__m256i		acc_ab = _mm256_setzero_si256();

		for (; i + 16 <= end; i += 16)
		{
			__m256i		x = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (a + i)));
			__m256i		y = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (b + i)));

			acc_aa = _mm256_add_epi32(acc_aa, _mm256_madd_epi16(x, x));
			acc_bb = _mm256_add_epi32(acc_bb, _mm256_madd_epi16(y, y));
			acc_ab = _mm256_add_epi32(acc_ab, _mm256_madd_epi16(x, y));
		}
		saa += EmbqSum256Epi32(acc_aa);
		sbb += EmbqSum256Epi32(acc_bb);
		sab += EmbqSum256Epi32(acc_ab);
	}
	embq_i8_dot3_portable(a + i, b + i, n - i, &taa, &tbb, &tab);
	*aa = saa + taa;
	*bb = sbb + tbb;
	*ab = sab + tab;
}

/* Store four 4-lane double accumulators as the 16 canonical lanes. */
EMBQ_TARGET_AVX2 static inline void
StoreLanes256(double *lanes, const __m256d *acc)
{
	int			k;

	for (k = 0; k < 4; k++)
		_mm256_storeu_pd(lanes + 4 * k, acc[k]);
}

/* AVX2 float query dot int8 codes. */
EMBQ_TARGET_AVX2 double
embq_f32_i8_dot_avx2(const float *q, const int8_t *c, size_t n)
{
	double		lanes[EMBQ_FLOAT_LANES];
	__m256d		acc[4];
	size_t		j = 0;
	int			k;

	for (k = 0; k < 4; k++)
		acc[k] = _mm256_setzero_pd();
	for (; j + 16 <= n; j += 16)
		for (k = 0; k < 4; k++)
		{
			__m256d		v = _mm256_cvtps_pd(_mm_loadu_ps(q + j + 4 * k));

			acc[k] = _mm256_add_pd(acc[k], _mm256_mul_pd(v, EmbqCodes4ToPd(c + j + 4 * k)));
		}
	StoreLanes256(lanes, acc);
	for (; j < n; j++)
		lanes[j % EMBQ_FLOAT_LANES] += (double) q[j] * (double) c[j];
	return EmbqReduceLanes256(lanes);
}

/* AVX2 squared L2 between a float query and scale * codes. */
EMBQ_TARGET_AVX2 double
embq_f32_i8_l2sq_avx2(const float *q, const int8_t *c, float scale, size_t n)
{
	double		lanes[EMBQ_FLOAT_LANES];
	__m256d		acc[4];
	__m256d		s = _mm256_set1_pd(scale);
	size_t		j = 0;
	int			k;

	for (k = 0; k < 4; k++)
		acc[k] = _mm256_setzero_pd();
	for (; j + 16 <= n; j += 16)
		for (k = 0; k < 4; k++)
		{
			__m256d		v = _mm256_cvtps_pd(_mm_loadu_ps(q + j + 4 * k));
			__m256d		d = _mm256_sub_pd(v, _mm256_mul_pd(s, EmbqCodes4ToPd(c + j + 4 * k)));

			acc[k] = _mm256_add_pd(acc[k], _mm256_mul_pd(d, d));
		}
	StoreLanes256(lanes, acc);
	for (; j < n; j++)
	{
		double		d = (double) q[j] - (double) scale * (double) c[j];

		lanes[j % EMBQ_FLOAT_LANES] += d * d;
	}
	return EmbqReduceLanes256(lanes);
}

/* AVX2 squared norm of a float vector. */
EMBQ_TARGET_AVX2 double
embq_f32_sqnorm_avx2(const float *q, size_t n)
{
	double		lanes[EMBQ_FLOAT_LANES];
	__m256d		acc[4];
	size_t		j = 0;
	int			k;

	for (k = 0; k < 4; k++)
		acc[k] = _mm256_setzero_pd();
	for (; j + 16 <= n; j += 16)
		for (k = 0; k < 4; k++)
		{
			__m256d		v = _mm256_cvtps_pd(_mm_loadu_ps(q + j + 4 * k));

			acc[k] = _mm256_add_pd(acc[k], _mm256_mul_pd(v, v));
		}
	StoreLanes256(lanes, acc);
	for (; j < n; j++)
		lanes[j % EMBQ_FLOAT_LANES] += (double) q[j] * (double) q[j];
	return EmbqReduceLanes256(lanes);
}

/* Horizontal sum of sixteen int32 lanes into int64 (the int32 sum could overflow). */
EMBQ_TARGET_AVX512 static inline int64_t
Sum512Epi32(__m512i v)
{
	return _mm512_reduce_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(v))) +
		_mm512_reduce_add_epi64(_mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(v, 1)));
}

/* AVX2 float dot product. */
EMBQ_TARGET_AVX2 double
embq_f32_dot_avx2(const float *a, const float *b, size_t n)
{
	double		lanes[EMBQ_FLOAT_LANES];
	__m256d		acc[4];
	size_t		j = 0;
	int			k;

	for (k = 0; k < 4; k++)
		acc[k] = _mm256_setzero_pd();
	for (; j + 16 <= n; j += 16)
		for (k = 0; k < 4; k++)
		{
			__m256d		x = _mm256_cvtps_pd(_mm_loadu_ps(a + j + 4 * k));
			__m256d		y = _mm256_cvtps_pd(_mm_loadu_ps(b + j + 4 * k));

			acc[k] = _mm256_add_pd(acc[k], _mm256_mul_pd(x, y));
		}
	StoreLanes256(lanes, acc);
	for (; j < n; j++)
		lanes[j % EMBQ_FLOAT_LANES] += (double) a[j] * (double) b[j];
	return EmbqReduceLanes256(lanes);
}

/* Mask selecting the first len (< 32) bytes. */
#define EMBQ_BYTEMASK32(len) ((__mmask32) ((1u << (len)) - 1))

/* AVX-512 VNNI int8 dot product: widen to int16, vpdpwssd into int32. */
EMBQ_TARGET_AVX512 int64_t
embq_i8_dot_avx512(const int8_t *a, const int8_t *b, size_t n)
{
	int64_t		sum = 0;
	size_t		i = 0;

	while (i < n)
	{
		size_t		end = i + EMBQ_I8_BLOCK < n ? i + EMBQ_I8_BLOCK : n;
		__m512i		acc = _mm512_setzero_si512();

		while (i < end)
		{
			size_t		len = end - i < 32 ? end - i : 32;
			__mmask32	m = len == 32 ? ~0u : EMBQ_BYTEMASK32(len);
			__m512i		x = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(m, a + i));
			__m512i		y = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(m, b + i));

			acc = _mm512_dpwssd_epi32(acc, x, y);
			i += len;
		}
		sum += Sum512Epi32(acc);
	}
	return sum;
}

/* AVX-512 VNNI a.a, b.b and a.b. */
EMBQ_TARGET_AVX512 void
embq_i8_dot3_avx512(const int8_t *a, const int8_t *b, size_t n,
					int64_t *aa, int64_t *bb, int64_t *ab)
{
	int64_t		saa = 0,
				sbb = 0,
				sab = 0;
	size_t		i = 0;

	while (i < n)
	{
		size_t		end = i + EMBQ_I8_BLOCK < n ? i + EMBQ_I8_BLOCK : n;
		__m512i		acc_aa = _mm512_setzero_si512();
		__m512i		acc_bb = _mm512_setzero_si512();
		__m512i		acc_ab = _mm512_setzero_si512();

		while (i < end)
		{
			size_t		len = end - i < 32 ? end - i : 32;
			__mmask32	m = len == 32 ? ~0u : EMBQ_BYTEMASK32(len);
			__m512i		x = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(m, a + i));
			__m512i		y = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(m, b + i));

			acc_aa = _mm512_dpwssd_epi32(acc_aa, x, x);
			acc_bb = _mm512_dpwssd_epi32(acc_bb, y, y);
			acc_ab = _mm512_dpwssd_epi32(acc_ab, x, y);
			i += len;
		}
		saa += Sum512Epi32(acc_aa);
		sbb += Sum512Epi32(acc_bb);
		sab += Sum512Epi32(acc_ab);
	}
	*aa = saa;
	*bb = sbb;
	*ab = sab;
}

/*
 * Load up to 16 floats and their int8 codes as two 8-lane double vectors
 * (lanes 0-7 and 8-15); lanes at or past len read as zero.
 */
EMBQ_TARGET_AVX512 static inline void
Load16(const float *q, const int8_t *c, size_t len, __m512d *qv, __m512d *cv)
{
	__mmask16	m = len >= 16 ? 0xffff : (__mmask16) ((1u << len) - 1);
	__m512		qf = _mm512_maskz_loadu_ps(m, q);
	__m512i		ci = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, c));

	qv[0] = _mm512_cvtps_pd(_mm512_castps512_ps256(qf));
	qv[1] = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(qf), 1)));
	cv[0] = _mm512_cvtepi32_pd(_mm512_castsi512_si256(ci));
	cv[1] = _mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(ci, 1));
}

/* Reduce two 8-lane accumulators, the 16 canonical lanes. */
EMBQ_TARGET_AVX512 static inline double
ReduceAcc512(const __m512d *acc)
{
	return EmbqReduce512(acc[0], acc[1]);
}

/*
 * AVX-512 float query dot int8 codes.  Tail lanes add 0.0 * 0 = +0.0, which
 * leaves a lane unchanged, so the tail matches the portable loop.
 */
EMBQ_TARGET_AVX512 double
embq_f32_i8_dot_avx512(const float *q, const int8_t *c, size_t n)
{
	__m512d		acc[2] = {_mm512_setzero_pd(), _mm512_setzero_pd()};
	size_t		j;

	for (j = 0; j < n; j += 16)
	{
		__m512d		qv[2],
					cv[2];
		int			k;

		Load16(q + j, c + j, n - j, qv, cv);
		for (k = 0; k < 2; k++)
			acc[k] = _mm512_add_pd(acc[k], _mm512_mul_pd(qv[k], cv[k]));
	}
	return ReduceAcc512(acc);
}

/* AVX-512 squared L2 between a float query and scale * codes. */
EMBQ_TARGET_AVX512 double
embq_f32_i8_l2sq_avx512(const float *q, const int8_t *c, float scale, size_t n)
{
	__m512d		acc[2] = {_mm512_setzero_pd(), _mm512_setzero_pd()};
	__m512d		s = _mm512_set1_pd(scale);
	size_t		j;

	for (j = 0; j < n; j += 16)
	{
		__m512d		qv[2],
					cv[2];
		int			k;

		Load16(q + j, c + j, n - j, qv, cv);
		for (k = 0; k < 2; k++)
		{
			__m512d		d = _mm512_sub_pd(qv[k], _mm512_mul_pd(s, cv[k]));

			acc[k] = _mm512_add_pd(acc[k], _mm512_mul_pd(d, d));
		}
	}
	return ReduceAcc512(acc);
}

/* AVX-512 squared norm of a float vector. */
EMBQ_TARGET_AVX512 double
embq_f32_sqnorm_avx512(const float *q, size_t n)
{
	__m512d		acc[2] = {_mm512_setzero_pd(), _mm512_setzero_pd()};
	size_t		j;

	for (j = 0; j < n; j += 16)
	{
		__mmask16	m = n - j >= 16 ? 0xffff : (__mmask16) ((1u << (n - j)) - 1);
		__m512		qf = _mm512_maskz_loadu_ps(m, q + j);
		__m512d		lo = _mm512_cvtps_pd(_mm512_castps512_ps256(qf));
		__m512d		hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(qf), 1)));

		acc[0] = _mm512_add_pd(acc[0], _mm512_mul_pd(lo, lo));
		acc[1] = _mm512_add_pd(acc[1], _mm512_mul_pd(hi, hi));
	}
	return ReduceAcc512(acc);
}

/* Load up to 16 floats as two 8-lane double vectors; lanes past len are zero. */
EMBQ_TARGET_AVX512 static inline void
LoadF16(const float *p, size_t len, __m512d *v)
{
	__mmask16	m = len >= 16 ? 0xffff : (__mmask16) ((1u << len) - 1);
	__m512		f = _mm512_maskz_loadu_ps(m, p);

	v[0] = _mm512_cvtps_pd(_mm512_castps512_ps256(f));
	v[1] = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f), 1)));
}

/* AVX-512 float dot product. */
EMBQ_TARGET_AVX512 double
embq_f32_dot_avx512(const float *a, const float *b, size_t n)
{
	__m512d		acc[2] = {_mm512_setzero_pd(), _mm512_setzero_pd()};
	size_t		j;

	for (j = 0; j < n; j += 16)
	{
		__m512d		x[2],
					y[2];
		int			k;

		LoadF16(a + j, n - j, x);
		LoadF16(b + j, n - j, y);
		for (k = 0; k < 2; k++)
			acc[k] = _mm512_add_pd(acc[k], _mm512_mul_pd(x[k], y[k]));
	}
	return ReduceAcc512(acc);
}

#endif							/* EMBQ_X86 */
