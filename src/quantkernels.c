/*-------------------------------------------------------------------------
 *
 * quantkernels.c
 *		Float-to-code conversion kernels: sign / threshold binarization into
 *		packed bits, absmax, and int8 encoding with round half away from
 *		zero.  All of them are element-wise, so every variant is exact.
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <string.h>

#include "kernels_impl.h"

#ifdef EMBQ_X86
#include <immintrin.h>
#endif

/* Portable binarization: bit j = x[j] > t[j] (t NULL: zero). */
void
embq_binarize_portable(const float *x, const float *t, size_t n, uint8_t *out)
{
	size_t		nbytes = EMBQ_BITBYTES(n);
	size_t		j;

	for (j = 0; j < nbytes; j++)
		out[j] = 0;
	for (j = 0; j < n; j++)
		if (x[j] > (t ? t[j] : 0.0f))
			out[j >> 3] |= (uint8_t) (0x80 >> (j & 7));
}

/* Portable int8 binarization: bit j = c[j] > 0. */
void
embq_i8_binarize_portable(const int8_t *c, size_t n, uint8_t *out)
{
	size_t		nbytes = EMBQ_BITBYTES(n);
	size_t		j;

	for (j = 0; j < nbytes; j++)
		out[j] = 0;
	for (j = 0; j < n; j++)
		if (c[j] > 0)
			out[j >> 3] |= (uint8_t) (0x80 >> (j & 7));
}

/* Exponent bits of a float4: all set means NaN or infinity. */
#define EMBQ_F32_EXP 0x7f800000u

/* Portable finiteness check, on the exponent bits. */
int
embq_all_finite_portable(const float *x, size_t n)
{
	size_t		j;

	for (j = 0; j < n; j++)
	{
		uint32_t	u;

		memcpy(&u, &x[j], sizeof(u));
		if ((u & EMBQ_F32_EXP) == EMBQ_F32_EXP)
			return 0;
	}
	return 1;
}

/* Portable max |x|. */
float
embq_absmax_portable(const float *x, size_t n)
{
	float		m = 0.0f;
	size_t		j;

	for (j = 0; j < n; j++)
	{
		float		a = fabsf(x[j]);

		if (a > m)
			m = a;
	}
	return m;
}

/* Clamp a rounded code into [-127, 127]. */
static inline int8_t
ClampCode(double r)
{
	if (r > EMBQ_I8_MAX)
		return EMBQ_I8_MAX;
	if (r < -EMBQ_I8_MAX)
		return -EMBQ_I8_MAX;
	return (int8_t) r;
}

/* Portable int8 encoding: round half away from zero of x / scale, in double. */
void
embq_i8_encode_portable(const float *x, size_t n, float scale, int8_t *codes)
{
	double		s = scale;
	size_t		j;

	for (j = 0; j < n; j++)
		codes[j] = ClampCode(round((double) x[j] / s));
}

#ifdef EMBQ_X86

/* AVX2 binarization, 8 floats to one byte. */
EMBQ_TARGET_AVX2 void
embq_binarize_avx2(const float *x, const float *t, size_t n, uint8_t *out)
{
	size_t		j = 0;

	for (; j + 8 <= n; j += 8)
	{
		__m256		v = _mm256_loadu_ps(x + j);
		__m256		th = t ? _mm256_loadu_ps(t + j) : _mm256_setzero_ps();

		out[j >> 3] = embq_rev8[_mm256_movemask_ps(_mm256_cmp_ps(v, th, _CMP_GT_OQ))];
	}
	if (j < n)
		embq_binarize_portable(x + j, t ? t + j : NULL, n - j, out + (j >> 3));
}

/* AVX2 int8 binarization, 32 codes to four bytes. */
EMBQ_TARGET_AVX2 void
embq_i8_binarize_avx2(const int8_t *c, size_t n, uint8_t *out)
{
	size_t		j = 0;

	for (; j + 32 <= n; j += 32)
	{
		__m256i		v = _mm256_loadu_si256((const __m256i *) (c + j));
		uint32_t	m = (uint32_t) _mm256_movemask_epi8(_mm256_cmpgt_epi8(v, _mm256_setzero_si256()));
		int			k;

		for (k = 0; k < 4; k++)
			out[(j >> 3) + k] = embq_rev8[(m >> (8 * k)) & 0xff];
	}
	if (j < n)
		embq_i8_binarize_portable(c + j, n - j, out + (j >> 3));
}

/* AVX2 finiteness check, 8 floats a step. */
EMBQ_TARGET_AVX2 int
embq_all_finite_avx2(const float *x, size_t n)
{
	__m256i		e = _mm256_set1_epi32((int) EMBQ_F32_EXP);
	__m256i		bad = _mm256_setzero_si256();
	size_t		j = 0;

	for (; j + 8 <= n; j += 8)
	{
		__m256i		v = _mm256_and_si256(_mm256_loadu_si256((const __m256i *) (x + j)), e);

		bad = _mm256_or_si256(bad, _mm256_cmpeq_epi32(v, e));
	}
	return _mm256_testz_si256(bad, bad) && embq_all_finite_portable(x + j, n - j);
}

/* AVX2 max |x|. */
EMBQ_TARGET_AVX2 float
embq_absmax_avx2(const float *x, size_t n)
{
	__m256		acc = _mm256_setzero_ps();
	__m256		absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
	float		t[8];
	float		m;
	size_t		j = 0;
	int			k;

	for (; j + 8 <= n; j += 8)
		acc = _mm256_max_ps(acc, _mm256_and_ps(_mm256_loadu_ps(x + j), absmask));
	_mm256_storeu_ps(t, acc);
	m = embq_absmax_portable(x + j, n - j);
	for (k = 0; k < 8; k++)
		if (t[k] > m)
			m = t[k];
	return m;
}

/*
 * AVX2 int8 encoding.  Round half away from zero as trunc plus a step when
 * the (exact) fractional part reaches one half: the same as round().
 */
EMBQ_TARGET_AVX2 void
embq_i8_encode_avx2(const float *x, size_t n, float scale, int8_t *codes)
{
	__m256d		s = _mm256_set1_pd(scale);
	__m256d		half = _mm256_set1_pd(0.5);
	__m256d		one = _mm256_set1_pd(1.0);
	__m256d		hi = _mm256_set1_pd(EMBQ_I8_MAX);
	__m256d		lo = _mm256_set1_pd(-EMBQ_I8_MAX);
	size_t		j = 0;

	for (; j + 4 <= n; j += 4)
	{
		__m256d		v = _mm256_div_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + j)), s);
		__m256d		r = _mm256_round_pd(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
		__m256d		f = _mm256_sub_pd(v, r);
		int32_t		out[4];
		int			k;

		r = _mm256_add_pd(r, _mm256_and_pd(_mm256_cmp_pd(f, half, _CMP_GE_OQ), one));
		r = _mm256_sub_pd(r, _mm256_and_pd(_mm256_cmp_pd(f, _mm256_sub_pd(_mm256_setzero_pd(), half), _CMP_LE_OQ), one));
		r = _mm256_min_pd(_mm256_max_pd(r, lo), hi);
		_mm_storeu_si128((__m128i *) out, _mm256_cvtpd_epi32(r));
		for (k = 0; k < 4; k++)
			codes[j + k] = (int8_t) out[k];
	}
	if (j < n)
		embq_i8_encode_portable(x + j, n - j, scale, codes + j);
}

/* AVX-512 binarization, 16 floats to two bytes, masked tail. */
EMBQ_TARGET_AVX512 void
embq_binarize_avx512(const float *x, const float *t, size_t n, uint8_t *out)
{
	size_t		j;

	for (j = 0; j < n; j += 16)
	{
		__mmask16	valid = n - j >= 16 ? 0xffff : (__mmask16) ((1u << (n - j)) - 1);
		__m512		v = _mm512_maskz_loadu_ps(valid, x + j);
		__m512		th = t ? _mm512_maskz_loadu_ps(valid, t + j) : _mm512_setzero_ps();
		unsigned	m = _mm512_mask_cmp_ps_mask(valid, v, th, _CMP_GT_OQ);

		out[j >> 3] = embq_rev8[m & 0xff];
		if (n - j > 8)
			out[(j >> 3) + 1] = embq_rev8[m >> 8];
	}
}

/* AVX-512 int8 binarization, 64 codes to eight bytes, masked tail. */
EMBQ_TARGET_AVX512 void
embq_i8_binarize_avx512(const int8_t *c, size_t n, uint8_t *out)
{
	size_t		j;

	for (j = 0; j < n; j += 64)
	{
		size_t		len = n - j < 64 ? n - j : 64;
		__mmask64	valid = len == 64 ? ~0ULL : ((1ULL << (len)) - 1);
		__m512i		v = _mm512_maskz_loadu_epi8(valid, c + j);
		uint64_t	m = _mm512_cmpgt_epi8_mask(v, _mm512_setzero_si512());
		size_t		k;

		for (k = 0; k < EMBQ_BITBYTES(len); k++)
			out[(j >> 3) + k] = embq_rev8[(m >> (8 * k)) & 0xff];
	}
}

/* AVX-512 finiteness check, 16 floats a step, masked tail. */
EMBQ_TARGET_AVX512 int
embq_all_finite_avx512(const float *x, size_t n)
{
	__m512i		e = _mm512_set1_epi32((int) EMBQ_F32_EXP);
	size_t		j;

	for (j = 0; j < n; j += 16)
	{
		__mmask16	valid = n - j >= 16 ? 0xffff : (__mmask16) ((1u << (n - j)) - 1);
		__m512i		v = _mm512_and_si512(_mm512_maskz_loadu_epi32(valid, x + j), e);

		if (_mm512_mask_cmpeq_epi32_mask(valid, v, e))
			return 0;
	}
	return 1;
}

/* AVX-512 max |x|. */
EMBQ_TARGET_AVX512 float
embq_absmax_avx512(const float *x, size_t n)
{
	__m512		acc = _mm512_setzero_ps();
	size_t		j;

	for (j = 0; j < n; j += 16)
	{
		__mmask16	valid = n - j >= 16 ? 0xffff : (__mmask16) ((1u << (n - j)) - 1);

		acc = _mm512_max_ps(acc, _mm512_abs_ps(_mm512_maskz_loadu_ps(valid, x + j)));
	}
	return _mm512_reduce_max_ps(acc);
}

/* AVX-512 int8 encoding, 8 codes a step, masked tail. */
EMBQ_TARGET_AVX512 void
embq_i8_encode_avx512(const float *x, size_t n, float scale, int8_t *codes)
{
	__m512d		s = _mm512_set1_pd(scale);
	__m512d		half = _mm512_set1_pd(0.5);
	__m512d		mhalf = _mm512_set1_pd(-0.5);
	__m512d		one = _mm512_set1_pd(1.0);
	__m512d		hi = _mm512_set1_pd(EMBQ_I8_MAX);
	__m512d		lo = _mm512_set1_pd(-EMBQ_I8_MAX);
	size_t		j;

	for (j = 0; j < n; j += 8)
	{
		__mmask8	valid = n - j >= 8 ? 0xff : (__mmask8) ((1u << (n - j)) - 1);
		__m512d		v = _mm512_div_pd(_mm512_cvtps_pd(_mm256_maskz_loadu_ps(valid, x + j)), s);
		__m512d		r = _mm512_roundscale_pd(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
		__m512d		f = _mm512_sub_pd(v, r);

		r = _mm512_mask_add_pd(r, _mm512_cmp_pd_mask(f, half, _CMP_GE_OQ), r, one);
		r = _mm512_mask_sub_pd(r, _mm512_cmp_pd_mask(f, mhalf, _CMP_LE_OQ), r, one);
		r = _mm512_min_pd(_mm512_max_pd(r, lo), hi);
		_mm256_mask_storeu_epi8(codes + j, (__mmask32) valid,
								_mm256_castsi128_si256(_mm512_cvtepi32_epi8(_mm512_castsi256_si512(_mm512_cvtpd_epi32(r)))));
	}
}

#endif							/* EMBQ_X86 */
