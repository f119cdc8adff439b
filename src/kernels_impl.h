/*-------------------------------------------------------------------------
 *
 * kernels_impl.h
 *		Declarations of every kernel variant, shared by the kernel files and
 *		dispatch.c.  Internal to the kernels: include kernels.h elsewhere.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EMBQ_KERNELS_IMPL_H
#define EMBQ_KERNELS_IMPL_H

#include "kernels.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define EMBQ_X86 1
#define EMBQ_TARGET_AVX2 __attribute__((target("avx2,fma,popcnt")))
#define EMBQ_TARGET_AVX512 \
	__attribute__((target("avx2,fma,popcnt,avx512f,avx512bw,avx512vl,avx512dq,avx512vpopcntdq,avx512vnni")))
#endif

#ifdef EMBQ_X86
#include <immintrin.h>

/*
 * embq_reduce_lanes in registers, for the kernels that accumulate the 16
 * canonical lanes in vectors: the same pairwise additions (lane i + lane
 * i + w, for w = 8, 4, 2, 1) in the same order, so the same result, without
 * a call.  From memory (AVX2), or from two 8-lane vectors holding lanes 0-7
 * and 8-15 (AVX-512).
 */
/* The steps w = 2, 1 of the reduction, on the four lanes left after w = 4. */
EMBQ_TARGET_AVX2 static inline double
EmbqReduce4(__m256d s4)
{
	__m128d		s2 = _mm_add_pd(_mm256_castpd256_pd128(s4), _mm256_extractf128_pd(s4, 1));

	return _mm_cvtsd_f64(_mm_add_sd(s2, _mm_unpackhi_pd(s2, s2)));
}

EMBQ_TARGET_AVX2 static inline double
EmbqReduceLanes256(const double *lanes)
{
	__m256d		lo = _mm256_add_pd(_mm256_loadu_pd(lanes), _mm256_loadu_pd(lanes + 8));
	__m256d		hi = _mm256_add_pd(_mm256_loadu_pd(lanes + 4), _mm256_loadu_pd(lanes + 12));

	return EmbqReduce4(_mm256_add_pd(lo, hi));
}

EMBQ_TARGET_AVX512 static inline double
EmbqReduce512(__m512d lanes0, __m512d lanes8)
{
	__m512d		s8 = _mm512_add_pd(lanes0, lanes8);

	return EmbqReduce4(_mm256_add_pd(_mm512_castpd512_pd256(s8), _mm512_extractf64x4_pd(s8, 1)));
}

/* Horizontal sum of eight int32 lanes into int64. */
EMBQ_TARGET_AVX2 static inline int64_t
EmbqSum256Epi32(__m256i v)
{
	int32_t		t[8];
	int64_t		s = 0;

	_mm256_storeu_si256((__m256i *) t, v);
	for (int i = 0; i < 8; i++)
		s += t[i];
	return s;
}

/* Widen 4 int8 codes at p to 4 doubles. */
EMBQ_TARGET_AVX2 static inline __m256d
EmbqCodes4ToPd(const int8_t *p)
{
	int32_t		w;

	__builtin_memcpy(&w, p, 4);
	return _mm256_cvtepi32_pd(_mm_cvtepi8_epi32(_mm_cvtsi32_si128(w)));
}
#endif

/* Bit-reversal of a byte: maps a lane mask (bit l = lane l) to MSB-first order. */
extern const uint8_t embq_rev8[256];

#define EMBQ_DECLARE_VARIANT(suffix) \
	uint64_t embq_hamming_##suffix(const uint8_t *a, const uint8_t *b, size_t nbytes); \
	void embq_and_or_count_##suffix(const uint8_t *a, const uint8_t *b, size_t nbytes, \
									uint64_t *and_count, uint64_t *or_count); \
	uint64_t embq_popcount_##suffix(const uint8_t *a, size_t nbytes); \
	int32_t embq_hamming_nearest_##suffix(const uint8_t *x, const uint8_t *codes, size_t k, \
										  size_t nbytes); \
	double embq_bits_float_dot_##suffix(const uint8_t *bits, const float *q, size_t dims); \
	int64_t embq_i8_dot_##suffix(const int8_t *a, const int8_t *b, size_t n); \
	void embq_plane_sums_##suffix(const uint8_t *masks, size_t stride, size_t n, size_t nbits, \
								  const uint8_t *planes, int nplanes, uint64_t *out); \
	void embq_i8_dot3_##suffix(const int8_t *a, const int8_t *b, size_t n, \
							   int64_t *aa, int64_t *bb, int64_t *ab); \
	double embq_f32_i8_dot_##suffix(const float *q, const int8_t *c, size_t n); \
	double embq_f32_i8_l2sq_##suffix(const float *q, const int8_t *c, float scale, size_t n); \
	void embq_f32_i8_dot_items_##suffix(const float *q, const uint8_t *items, size_t stride, \
										size_t n, size_t dims, double *dot, int64_t *norm); \
	void embq_f32_i8_l2sq_items_##suffix(const float *q, const uint8_t *items, size_t stride, \
										 size_t n, size_t dims, double *out); \
	double embq_f32_sqnorm_##suffix(const float *q, size_t n); \
	double embq_f32_dot_##suffix(const float *a, const float *b, size_t n); \
	void embq_f32_dots_##suffix(const float *x, size_t nx, const float *c, size_t nc, \
								size_t dim, float *out); \
	void embq_i8_dots_##suffix(const int8_t *x, size_t ldx, size_t nx, const int8_t *c, \
							   size_t ldc, size_t nc, size_t dim, int32_t *out); \
	int32_t embq_nearest_key_##suffix(const int32_t *dots, size_t k, double f, \
									  const double *cadd, const double *cmul); \
	void embq_binarize_##suffix(const float *x, const float *t, size_t n, uint8_t *out); \
	void embq_i8_binarize_##suffix(const int8_t *c, size_t n, uint8_t *out); \
	int embq_all_finite_##suffix(const float *x, size_t n); \
	float embq_absmax_##suffix(const float *x, size_t n); \
	void embq_i8_encode_##suffix(const float *x, size_t n, float scale, int8_t *codes); \
	void embq_i8_residual_##suffix(const int8_t *x, double a, const int8_t *y, double b, size_t n, \
								   uint8_t *mask, double *l1, double *l2)

EMBQ_DECLARE_VARIANT(portable);
#ifdef EMBQ_X86
EMBQ_DECLARE_VARIANT(avx2);
EMBQ_DECLARE_VARIANT(avx512);
#endif

/*
 * Elements per int32-accumulator block of the SIMD int8 dot products.  An
 * int32 lane gains at most 2 * 127^2 = 32258 per step and sees at most one
 * step per 16 elements (AVX2; AVX-512 sees one per 32), so 2^19 elements
 * give at most 32768 * 32258 < 2^31 before the block is flushed to int64.
 */
#define EMBQ_I8_BLOCK ((size_t) 1 << 19)

#endif							/* EMBQ_KERNELS_IMPL_H */
