/*-------------------------------------------------------------------------
 *
 * kernels.h
 *		Pure C kernels for embq: popcount, int8 dot products, asymmetric
 *		float-against-code scoring and float-to-code conversion.
 *
 * Nothing here includes a PostgreSQL header, so the kernels can be unit
 * tested on their own and reused by the index and by the CUDA side.
 *
 * Every kernel exists in several variants (portable C, AVX2, AVX-512) that
 * are chosen at run time.  All variants but those of f32_dots (see there)
 * return bit-identical results: the integer kernels trivially, the
 * floating-point ones because they all accumulate in double precision over
 * EMBQ_FLOAT_LANES lanes (lane = element index mod EMBQ_FLOAT_LANES) and
 * reduce the lanes in one fixed order, with no fused multiply-add (see
 * embq_reduce_lanes).
 *
 * Bit order: dimension j is bit (7 - j % 8) of byte j / 8, i.e. dimension
 * 0 is the most significant bit of byte 0 (numpy.packbits order).  Padding
 * bits after the last dimension are always zero.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EMBQ_KERNELS_H
#define EMBQ_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#define EMBQ_FLOAT_LANES 16

/* int8 codes are in [-EMBQ_I8_MAX, EMBQ_I8_MAX]; -128 is never produced */
#define EMBQ_I8_MAX 127

typedef struct EmbqKernels
{
	const char *name;			/* "portable", "avx2", "avx512" */

	/* popcount(a XOR b) over nbytes bytes */
	uint64_t	(*hamming) (const uint8_t *a, const uint8_t *b, size_t nbytes);
	/* popcount(a AND b) and popcount(a OR b), for jaccard */
	void		(*and_or_count) (const uint8_t *a, const uint8_t *b, size_t nbytes,
								 uint64_t *and_count, uint64_t *or_count);
	/* popcount(a) */
	uint64_t	(*popcount) (const uint8_t *a, size_t nbytes);

	/*
	 * The c < k whose bit code (at codes + c * nbytes) is nearest to x by
	 * hamming distance, the lowest c on ties (0 when k is 0): the nearest
	 * list of a bitvec row.
	 */
	int32_t		(*hamming_nearest) (const uint8_t *x, const uint8_t *codes, size_t k,
									size_t nbytes);
	/* sum of q[j] over the set bits j < dims of a packed bit vector */
	double		(*bits_float_dot) (const uint8_t *bits, const float *q, size_t dims);

	/* sum a[j] * b[j] over int8 codes */
	int64_t		(*i8_dot) (const int8_t *a, const int8_t *b, size_t n);

	/*
	 * Bit-plane sums of n LSB-first masks of nbits bits (dimension j is bit
	 * j % 8 of byte j / 8, not the MSB-first order of bitvec), mask i at masks +
	 * i * stride: out[i] = sum over b < nplanes of popcount(mask AND plane
	 * b) << b, plus popcount(mask) << 32.  That is, with u[j] the value whose
	 * bit b is in plane b, the sum of u over the mask's set bits (low 32
	 * bits) and the number of set bits (high 32).  planes holds nplanes
	 * planes of EMBQ_PLANE_BYTES(nbits) bytes, LSB-first, zero past nbits;
	 * nplanes <= 8 and nbits < 2^23, so the low half cannot overflow.
	 */
	void		(*plane_sums) (const uint8_t *masks, size_t stride, size_t n, size_t nbits,
							   const uint8_t *planes, int nplanes, uint64_t *out);
	/* sum a*a, b*b and a*b in one pass */
	void		(*i8_dot3) (const int8_t *a, const int8_t *b, size_t n,
							int64_t *aa, int64_t *bb, int64_t *ab);
	/* sum q[j] * c[j] in double, float query against int8 codes */
	double		(*f32_i8_dot) (const float *q, const int8_t *c, size_t n);
	/* sum (q[j] - scale * c[j])^2 in double */
	double		(*f32_i8_l2sq) (const float *q, const int8_t *c, float scale, size_t n);

	/*
	 * The same two for n items at items + i * stride, each a float scale
	 * (unaligned) followed by dims int8 codes, as a flat index's data page
	 * holds them: dot[i] = f32_i8_dot(q, codes_i) and, when norm is not NULL,
	 * norm[i] = i8_dot(codes_i, codes_i); out[i] = f32_i8_l2sq(q, codes_i,
	 * scale_i).  Bit-identical to the one-row kernels, without a call per row.
	 */
	void		(*f32_i8_dot_items) (const float *q, const uint8_t *items, size_t stride, size_t n,
									 size_t dims, double *dot, int64_t *norm);
	void		(*f32_i8_l2sq_items) (const float *q, const uint8_t *items, size_t stride, size_t n,
									  size_t dims, double *out);
	/* sum q[j]^2 in double */
	double		(*f32_sqnorm) (const float *q, size_t n);
	/* sum a[j] * b[j] in double, two float vectors */
	double		(*f32_dot) (const float *a, const float *b, size_t n);
	/*
	 * out[i * nc + j] = x_i . c_j for nx rows and nc centroids of dim
	 * floats, accumulated in float: the one kernel whose variants may differ
	 * in the last bits (k-means assignment, where ties are immaterial)
	 */
	void		(*f32_dots) (const float *x, size_t nx, const float *c, size_t nc, size_t dim,
							 float *out);

	/*
	 * out[i * nc + j] = x_i . c_j for nx int8 code rows (row i at x + i *
	 * ldx) and nc centroid codes (c + j * ldc) of dim codes in [-127, 127],
	 * exact in int32 (dim <= 16000): the index build's assignment of rows to
	 * lists, as blocked matrix products
	 */
	void		(*i8_dots) (const int8_t *x, size_t ldx, size_t nx, const int8_t *c,
							size_t ldc, size_t nc, size_t dim, int32_t *out);

	/*
	 * The c < k minimising the key cadd[c] - f * cmul[c] * dots[c], in
	 * double and in that order (no fused multiply-add, so every variant
	 * agrees): ties go to the lower c, a NaN key never wins, and 0 when
	 * no key is below infinity.  The nearest list of a row from its
	 * i8_dots products with the centroids.
	 */
	int32_t		(*nearest_key) (const int32_t *dots, size_t k, double f, const double *cadd,
								const double *cmul);

	/*
	 * Pack bit j = (x[j] > t[j]) into out (ceil(n/8) bytes, padding zero);
	 * t == NULL means thresholds of zero.
	 */
	void		(*binarize) (const float *x, const float *t, size_t n, uint8_t *out);
	/* pack bit j = (c[j] > 0) into out */
	void		(*i8_binarize) (const int8_t *c, size_t n, uint8_t *out);
	/* 1 if every x[j] is finite (no NaN, no infinity), else 0 */
	int			(*all_finite) (const float *x, size_t n);
	/* max |x[j]|, 0 for n == 0 */
	float		(*absmax) (const float *x, size_t n);
	/* codes[j] = round_half_away(x[j] / scale) clamped to +-127, scale > 0 */
	void		(*i8_encode) (const float *x, size_t n, float scale, int8_t *codes);

	/*
	 * The residual r[j] = (float) (a * x[j] - b * y[j]) of int8 codes x from
	 * y (a row from its centroid), computed in double: its LSB-first sign
	 * mask (bit j % 8 of byte j / 8 is r[j] > 0, padding bits zero; the masks
	 * plane_sums takes), l1 = sum |r[j]| and l2 = sum r[j]^2 over the lanes
	 */
	void		(*i8_residual) (const int8_t *x, double a, const int8_t *y, double b, size_t n,
								uint8_t *mask, double *l1, double *l2);
} EmbqKernels;

/* The variants compiled in, portable first; NULL-terminated. */
extern const EmbqKernels *const embq_kernel_variants[];

/* Whether this CPU (and OS) can run a variant. */
extern int	embq_kernels_supported(const EmbqKernels *k);

/* The variant in use, once chosen. */
extern const EmbqKernels *embq_kernels_chosen;

/* Choose the best variant this CPU can run (first call of embq_kernels). */
extern const EmbqKernels *embq_kernels_choose(void);

/* The best variant this CPU can run; chosen once, an inline load afterwards. */
static inline const EmbqKernels *
embq_kernels(void)
{
	return embq_kernels_chosen ? embq_kernels_chosen : embq_kernels_choose();
}

/* Force a variant by name ("portable", "avx2", "avx512"); 0 if unknown or unsupported. */
extern int	embq_kernels_force(const char *name);
extern const EmbqKernels *embq_kernels_find(const char *name);

/* Reduce EMBQ_FLOAT_LANES partial sums in the one fixed order all variants use. */
extern double embq_reduce_lanes(const double *lanes);

/*
 * Per-vector absmax int8 quantization: scale = (float) (max|x| / 127),
 * codes = round_half_away(x / scale).  All-zero input gives scale 0 and zero
 * codes.  Where scale * 127 would round up to infinity in float (max|x| near
 * FLT_MAX) the scale is one step smaller, so dequantized values stay finite.
 * x must be finite.  Returns the scale.
 */
extern float embq_quantize_i8(const float *x, size_t n, int8_t *codes);

/*
 * Split u[0..n) (values below 2^nplanes) into the bit planes plane_sums
 * takes: plane b holds bit b of every u[j], LSB-first, zero-padded to
 * EMBQ_PLANE_BYTES(n) bytes.
 */
extern void embq_bit_planes(const uint8_t *u, size_t n, int nplanes, uint8_t *planes);

/* Bytes of one bit plane of n bits: whole 64-byte blocks, for SIMD loads. */
#define EMBQ_PLANE_BYTES(n) ((((size_t) (n) + 511) / 512) * 64)

/* Number of bytes that hold n packed bits. */
#define EMBQ_BITBYTES(n) (((size_t) (n) + 7) / 8)

#endif							/* EMBQ_KERNELS_H */
