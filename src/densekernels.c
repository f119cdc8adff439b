/*-------------------------------------------------------------------------
 *
 * densekernels.c
 *		Dense kernels for k-means and the index build's assignment: dot
 *		products of a block of rows against a block of centroids, in float
 *		(f32_dots) and exactly on int8 codes (i8_dots).
 *
 * k-means assignment is a matrix product, and computing it one dot product
 * at a time reloads every centroid for every row.  These kernels work on
 * tiles of rows x centroids held in registers, over blocks of centroids
 * that stay in the L2 cache, and accumulate in float with fused
 * multiply-add.  Unlike the other kernels their variants may differ in the
 * last bits: k-means does not need them equal, and a tie between two
 * centroids may go either way.
 *
 * No PostgreSQL header here: see kernels.h.
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>

#include "kernels_impl.h"

#ifdef EMBQ_X86
#include <immintrin.h>
#endif

/* Centroids per cache block: 64 x 1024 floats = 256 kB, within L2. */
#define DENSE_CBLOCK 64

/* Portable block dot products, one pair at a time. */
void
embq_f32_dots_portable(const float *x, size_t nx, const float *c, size_t nc, size_t dim,
					   float *out)
{
	for (size_t i = 0; i < nx; i++)
		for (size_t j = 0; j < nc; j++)
		{
			const float *a = x + i * dim,
					   *b = c + j * dim;
			float		s = 0;

			for (size_t d = 0; d < dim; d++)
				s += a[d] * b[d];
			out[i * nc + j] = s;
		}
}

/* Portable int8 block dot products, one pair at a time. */
void
embq_i8_dots_portable(const int8_t *x, size_t ldx, size_t nx, const int8_t *c, size_t ldc,
					  size_t nc, size_t dim, int32_t *out)
{
	for (size_t i = 0; i < nx; i++)
		for (size_t j = 0; j < nc; j++)
		{
			const int8_t *a = x + i * ldx,
					   *b = c + j * ldc;
			int32_t		s = 0;

			for (size_t d = 0; d < dim; d++)
				s += (int32_t) a[d] * b[d];
			out[i * nc + j] = s;
		}
}

/*
 * Go on with a scan for the nearest key from centroid c0, the lowest key
 * so far best (at besti).
 */
static int32_t
NearestFrom(const int32_t *dots, size_t c0, size_t k, double f, const double *cadd,
			const double *cmul, double best, int32_t besti)
{
	for (size_t c = c0; c < k; c++)
	{
		double		key = cadd[c] - f * cmul[c] * dots[c];

		if (key < best)
		{
			best = key;
			besti = (int32_t) c;
		}
	}
	return besti;
}

/* Portable nearest key, one centroid at a time. */
int32_t
embq_nearest_key_portable(const int32_t *dots, size_t k, double f, const double *cadd,
						  const double *cmul)
{
	return NearestFrom(dots, 0, k, f, cadd, cmul, INFINITY, 0);
}

/*
 * The winner among per-lane winners: lane l saw the centroids c = l mod
 * lanes in order, so the first of the lowest keys overall is the lowest
 * index among the lanes holding the lowest key.
 */
static int32_t
NearestOfLanes(const double *best, const int64_t *idx, int lanes)
{
	double		b = INFINITY;
	int64_t		bi = 0;

	for (int l = 0; l < lanes; l++)
		if (best[l] < b || (best[l] == b && b < INFINITY && idx[l] < bi))
		{
			b = best[l];
			bi = idx[l];
		}
	return (int32_t) bi;
}

#ifdef EMBQ_X86

/*
 * Rows of a tile: R rows from i on, the last one repeated past nx (its
 * results are not stored), so the tile code has no edge cases.
 */
#define TILE_POINTERS(p, base, first, count, total, dim) \
	for (int t_ = 0; t_ < (count); t_++) \
		(p)[t_] = (base) + ((first) + t_ < (total) ? (first) + t_ : (total) - 1) * (dim)

/* Dot products of up to 4 rows x 4 centroids, into res[row][centroid]. */
typedef void (*DenseTile) (const float *const *r, const float *const *k, size_t dim,
						   float res[4][4]);

/*
 * Block dot products by tiles of rows x 4 centroids, over blocks of
 * centroids that stay in the L2 cache.
 */
static void
DotsByTiles(const float *x, size_t nx, const float *c, size_t nc, size_t dim, float *out,
			int rows, DenseTile tile)
{
	for (size_t jb = 0; jb < nc; jb += DENSE_CBLOCK)
	{
		size_t		jend = jb + DENSE_CBLOCK < nc ? jb + DENSE_CBLOCK : nc;

		for (size_t i = 0; i < nx; i += rows)
			for (size_t j = jb; j < jend; j += 4)
			{
				const float *r[4],
						   *k[4];
				float		res[4][4];

				TILE_POINTERS(r, x, i, rows, nx, dim);
				TILE_POINTERS(k, c, j, 4, jend, dim);
				tile(r, k, dim, res);
				for (int a = 0; a < rows && i + a < nx; a++)
					for (int b = 0; b < 4 && j + b < jend; b++)
						out[(i + a) * nc + j + b] = res[a][b];
			}
	}
}

/* Horizontal sum of an AVX2 float vector. */
EMBQ_TARGET_AVX2 static inline float
Sum256Ps(__m256 v)
{
	__m128		s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/* AVX2 dot products of a 2 x 4 tile (rows 0 and 1 of res), 8 floats per step. */
EMBQ_TARGET_AVX2 static void
Tile2x4(const float *const *r, const float *const *k, size_t dim, float res[4][4])
{
	size_t		full = dim - dim % 8;
	__m256		acc[2][4];
	float		tail[2][4] = {{0}};

	for (int a = 0; a < 2; a++)
		for (int b = 0; b < 4; b++)
			acc[a][b] = _mm256_setzero_ps();
	for (size_t d = 0; d < full; d += 8)
	{
		__m256		x0 = _mm256_loadu_ps(r[0] + d),
					x1 = _mm256_loadu_ps(r[1] + d);

		for (int b = 0; b < 4; b++)
		{
			__m256		y = _mm256_loadu_ps(k[b] + d);

			acc[0][b] = _mm256_fmadd_ps(x0, y, acc[0][b]);
			acc[1][b] = _mm256_fmadd_ps(x1, y, acc[1][b]);
		}
	}
	for (size_t d = full; d < dim; d++)
		for (int a = 0; a < 2; a++)
			for (int b = 0; b < 4; b++)
				tail[a][b] += r[a][d] * k[b][d];
	for (int a = 0; a < 2; a++)
		for (int b = 0; b < 4; b++)
			res[a][b] = Sum256Ps(acc[a][b]) + tail[a][b];
}

/* AVX2 block dot products: 2 x 4 tiles. */
EMBQ_TARGET_AVX2 void
embq_f32_dots_avx2(const float *x, size_t nx, const float *c, size_t nc, size_t dim,
				   float *out)
{
	DotsByTiles(x, nx, c, nc, dim, out, 2, Tile2x4);
}

/*
 * An AVX-512 4 x 4 tile over dimensions [0, dim): the sixteen accumulators
 * are named so that they stay in registers.
 */
#define DENSE_COLUMN(kp, c0, c1, c2, c3, d, m) \
	do { \
		__m512 y_ = _mm512_maskz_loadu_ps((m), (kp) + (d)); \
		c0 = _mm512_fmadd_ps(x0_, y_, c0); \
		c1 = _mm512_fmadd_ps(x1_, y_, c1); \
		c2 = _mm512_fmadd_ps(x2_, y_, c2); \
		c3 = _mm512_fmadd_ps(x3_, y_, c3); \
	} while (0)
#define DENSE_STEP4(d, m) \
	do { \
		__m512 x0_ = _mm512_maskz_loadu_ps((m), r0 + (d)), \
			   x1_ = _mm512_maskz_loadu_ps((m), r1 + (d)), \
			   x2_ = _mm512_maskz_loadu_ps((m), r2 + (d)), \
			   x3_ = _mm512_maskz_loadu_ps((m), r3 + (d)); \
		DENSE_COLUMN(k0, a00, a10, a20, a30, d, m); \
		DENSE_COLUMN(k1, a01, a11, a21, a31, d, m); \
		DENSE_COLUMN(k2, a02, a12, a22, a32, d, m); \
		DENSE_COLUMN(k3, a03, a13, a23, a33, d, m); \
	} while (0)

/* AVX-512 dot products of one 4 x 4 tile, into res[row][centroid]. */
EMBQ_TARGET_AVX512 static void
Tile4x4(const float *const *r, const float *const *k, size_t dim, float res[4][4])
{
	const float *r0 = r[0], *r1 = r[1], *r2 = r[2], *r3 = r[3];
	const float *k0 = k[0], *k1 = k[1], *k2 = k[2], *k3 = k[3];
	__m512		a00 = _mm512_setzero_ps(), a01 = a00, a02 = a00, a03 = a00,
				a10 = a00, a11 = a00, a12 = a00, a13 = a00,
				a20 = a00, a21 = a00, a22 = a00, a23 = a00,
				a30 = a00, a31 = a00, a32 = a00, a33 = a00;
	size_t		full = dim - dim % 16;

	for (size_t d = 0; d < full; d += 16)
		DENSE_STEP4(d, (__mmask16) 0xFFFF);
	if (dim % 16)
		DENSE_STEP4(full, (__mmask16) ((1u << (dim % 16)) - 1));
	{
		__m512		all[4][4] = {{a00, a01, a02, a03}, {a10, a11, a12, a13},
								 {a20, a21, a22, a23}, {a30, a31, a32, a33}};

		for (int a = 0; a < 4; a++)
			for (int b = 0; b < 4; b++)
				res[a][b] = _mm512_reduce_add_ps(all[a][b]);
	}
}

/* AVX-512 block dot products: 4 x 4 tiles. */
EMBQ_TARGET_AVX512 void
embq_f32_dots_avx512(const float *x, size_t nx, const float *c, size_t nc, size_t dim,
					 float *out)
{
	DotsByTiles(x, nx, c, nc, dim, out, 4, Tile4x4);
}

/*
 * Centroid codes per cache block of i8_dots: 256 x 1024 bytes = 256 kB,
 * within L2.
 */
#define I8_CBLOCK 256

/* Int8 dot products of up to 4 rows x 4 centroids, into res[row][centroid]. */
typedef void (*I8Tile) (const int8_t *const *r, const int8_t *const *k, size_t dim,
						int32_t res[4][4]);

/* 128 times the sum of each of n int8 codes of dim bytes (row j at c + j * ldc). */
typedef void (*I8Excess) (const int8_t *c, size_t ldc, size_t n, size_t dim, int32_t *out);

/*
 * Int8 block dot products by tiles of rows x 4 centroids, over blocks of
 * centroids that stay in the L2 cache.  A tile that multiplies the rows
 * offset by +128 (unsigned, for VNNI) returns x.c + 128 sum(c): such a
 * variant passes excess, which gives that term for a block of centroids,
 * and it is subtracted.
 */
static void
I8DotsByTiles(const int8_t *x, size_t ldx, size_t nx, const int8_t *c, size_t ldc, size_t nc,
			  size_t dim, int32_t *out, int rows, I8Tile tile, I8Excess excess_of)
{
	int32_t		excess[I8_CBLOCK] = {0};

	for (size_t jb = 0; jb < nc; jb += I8_CBLOCK)
	{
		size_t		jend = jb + I8_CBLOCK < nc ? jb + I8_CBLOCK : nc;

		if (excess_of)
			excess_of(c + jb * ldc, ldc, jend - jb, dim, excess);
		for (size_t i = 0; i < nx; i += rows)
			for (size_t j = jb; j < jend; j += 4)
			{
				const int8_t *r[4],
						   *k[4];
				int32_t		res[4][4];

				TILE_POINTERS(r, x, i, rows, nx, ldx);
				TILE_POINTERS(k, c, j, 4, jend, ldc);
				tile(r, k, dim, res);
				for (int a = 0; a < rows && i + a < nx; a++)
					for (int b = 0; b < 4 && j + b < jend; b++)
						out[(i + a) * nc + j + b] = res[a][b] - excess[j + b - jb];
			}
	}
}

/* Horizontal sum of eight int32 lanes (the caller bounds it within int32). */
EMBQ_TARGET_AVX2 static inline int32_t
HsumEpi32(__m256i v)
{
	__m128i		s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));

	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
	return _mm_cvtsi128_si32(s);
}

/*
 * AVX2 int8 dot products of a 2 x 4 tile: codes widened to int16 and
 * multiplied in pairs into int32 (vpmaddwd), 16 codes per step.
 */
EMBQ_TARGET_AVX2 static void
I8Tile2x4(const int8_t *const *r, const int8_t *const *k, size_t dim, int32_t res[4][4])
{
	size_t		full = dim - dim % 16;
	__m256i		acc[2][4];
	int32_t		tail[2][4] = {{0}};

	for (int a = 0; a < 2; a++)
		for (int b = 0; b < 4; b++)
			acc[a][b] = _mm256_setzero_si256();
	for (size_t d = 0; d < full; d += 16)
	{
		__m256i		x0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (r[0] + d))),
					x1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (r[1] + d)));

		for (int b = 0; b < 4; b++)
		{
			__m256i		y = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (k[b] + d)));

			acc[0][b] = _mm256_add_epi32(acc[0][b], _mm256_madd_epi16(x0, y));
			acc[1][b] = _mm256_add_epi32(acc[1][b], _mm256_madd_epi16(x1, y));
		}
	}
	for (size_t d = full; d < dim; d++)
		for (int a = 0; a < 2; a++)
			for (int b = 0; b < 4; b++)
				tail[a][b] += (int32_t) r[a][d] * k[b][d];
	for (int a = 0; a < 2; a++)
		for (int b = 0; b < 4; b++)
			res[a][b] = HsumEpi32(acc[a][b]) + tail[a][b];
}

/* AVX2 nearest key, four centroids a step. */
EMBQ_TARGET_AVX2 int32_t
embq_nearest_key_avx2(const int32_t *dots, size_t k, double f, const double *cadd,
					  const double *cmul)
{
	const __m256d vf = _mm256_set1_pd(f);
	__m256d		best = _mm256_set1_pd(INFINITY);
	__m256i		idx = _mm256_setzero_si256(),
				cur = _mm256_setr_epi64x(0, 1, 2, 3);
	const __m256i step = _mm256_set1_epi64x(4);
	size_t		full = k - k % 4;
	double		lb[4],
				b = INFINITY;
	int64_t		li[4];
	int32_t		besti;

	for (size_t c = 0; c < full; c += 4)
	{
		__m256d		d = _mm256_cvtepi32_pd(_mm_loadu_si128((const __m128i *) (dots + c)));
		__m256d		key = _mm256_sub_pd(_mm256_loadu_pd(cadd + c),
										_mm256_mul_pd(_mm256_mul_pd(vf, _mm256_loadu_pd(cmul + c)), d));
		__m256d		lt = _mm256_cmp_pd(key, best, _CMP_LT_OQ);

		best = _mm256_blendv_pd(best, key, lt);
		idx = _mm256_blendv_epi8(idx, cur, _mm256_castpd_si256(lt));
		cur = _mm256_add_epi64(cur, step);
	}
	_mm256_storeu_pd(lb, best);
	_mm256_storeu_si256((__m256i *) li, idx);
	besti = NearestOfLanes(lb, li, 4);
	/* the last k % 4 centroids come after every lane's */
	for (int l = 0; l < 4; l++)
		b = lb[l] < b ? lb[l] : b;
	return NearestFrom(dots, full, k, f, cadd, cmul, b, besti);
}

/* AVX2 int8 block dot products: 2 x 4 tiles. */
EMBQ_TARGET_AVX2 void
embq_i8_dots_avx2(const int8_t *x, size_t ldx, size_t nx, const int8_t *c, size_t ldc,
				  size_t nc, size_t dim, int32_t *out)
{
	I8DotsByTiles(x, ldx, nx, c, ldc, nc, dim, out, 2, I8Tile2x4, NULL);
}

/*
 * An AVX-512 VNNI 4 x 4 int8 tile: vpdpbusd multiplies unsigned by signed
 * bytes, so the rows go in offset by +128 (XOR 0x80) and I8DotsByTiles
 * takes 128 sum(c) off.  Masked-off bytes load as 0 in the centroids, so
 * the rows' 0x80 there adds nothing.  An int32 lane gains at most
 * 4 * 255 * 127 per 64 codes: below 2^31 for any dim <= 16000.
 */
#define I8_COLUMN(kp, c0, c1, c2, c3, d, m) \
	do { \
		__m512i y_ = _mm512_maskz_loadu_epi8((m), (kp) + (d)); \
		c0 = _mm512_dpbusd_epi32(c0, x0_, y_); \
		c1 = _mm512_dpbusd_epi32(c1, x1_, y_); \
		c2 = _mm512_dpbusd_epi32(c2, x2_, y_); \
		c3 = _mm512_dpbusd_epi32(c3, x3_, y_); \
	} while (0)
#define I8_STEP4(d, m) \
	do { \
		__m512i x0_ = _mm512_xor_si512(_mm512_maskz_loadu_epi8((m), r0 + (d)), flip), \
				x1_ = _mm512_xor_si512(_mm512_maskz_loadu_epi8((m), r1 + (d)), flip), \
				x2_ = _mm512_xor_si512(_mm512_maskz_loadu_epi8((m), r2 + (d)), flip), \
				x3_ = _mm512_xor_si512(_mm512_maskz_loadu_epi8((m), r3 + (d)), flip); \
		I8_COLUMN(k0, a00, a10, a20, a30, d, m); \
		I8_COLUMN(k1, a01, a11, a21, a31, d, m); \
		I8_COLUMN(k2, a02, a12, a22, a32, d, m); \
		I8_COLUMN(k3, a03, a13, a23, a33, d, m); \
	} while (0)

/*
 * The lane sums of 16 vectors, as lane i of one vector: a transposing
 * tree of 15 adds (pairs of 32-bit lanes, then 64-bit lanes, then 128-bit
 * quarters twice), where 16 separate horizontal sums take about a third
 * as long as the tile's products at 1024 dims.
 */
EMBQ_TARGET_AVX512 static inline __m512i
Sum16Epi32(const __m512i *v)
{
	__m512i		s[8],
				t[4],
				u[2];

	for (int i = 0; i < 8; i++)
		s[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(v[2 * i], v[2 * i + 1]),
								_mm512_unpackhi_epi32(v[2 * i], v[2 * i + 1]));
	for (int i = 0; i < 4; i++)
		t[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(s[2 * i], s[2 * i + 1]),
								_mm512_unpackhi_epi64(s[2 * i], s[2 * i + 1]));
	for (int i = 0; i < 2; i++)
		u[i] = _mm512_add_epi32(_mm512_shuffle_i32x4(t[2 * i], t[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
								_mm512_shuffle_i32x4(t[2 * i], t[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
	return _mm512_add_epi32(_mm512_shuffle_i32x4(u[0], u[1], _MM_SHUFFLE(2, 0, 2, 0)),
							_mm512_shuffle_i32x4(u[0], u[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

/* AVX-512 VNNI int8 dot products of one 4 x 4 tile, rows offset by +128. */
EMBQ_TARGET_AVX512 static void
I8Tile4x4(const int8_t *const *r, const int8_t *const *k, size_t dim, int32_t res[4][4])
{
	const int8_t *r0 = r[0], *r1 = r[1], *r2 = r[2], *r3 = r[3];
	const int8_t *k0 = k[0], *k1 = k[1], *k2 = k[2], *k3 = k[3];
	const __m512i flip = _mm512_set1_epi8((char) 0x80);
	__m512i		a00 = _mm512_setzero_si512(), a01 = a00, a02 = a00, a03 = a00,
				a10 = a00, a11 = a00, a12 = a00, a13 = a00,
				a20 = a00, a21 = a00, a22 = a00, a23 = a00,
				a30 = a00, a31 = a00, a32 = a00, a33 = a00;
	size_t		full = dim - dim % 64;

	for (size_t d = 0; d < full; d += 64)
		I8_STEP4(d, (__mmask64) ~0ULL);
	if (dim % 64)
		I8_STEP4(full, (__mmask64) ((1ULL << (dim % 64)) - 1));
	{
		__m512i		all[16] = {a00, a01, a02, a03, a10, a11, a12, a13,
							   a20, a21, a22, a23, a30, a31, a32, a33};

		_mm512_storeu_si512(res, Sum16Epi32(all));
	}
}

/*
 * 128 sum(c) of each centroid code, by vpdpbusd against bytes of 1: the
 * sums are taken for every block of every call, and a scalar loop here
 * cost as much as the tiles themselves at 64 rows a call.
 */
EMBQ_TARGET_AVX512 static void
I8Excess512(const int8_t *c, size_t ldc, size_t n, size_t dim, int32_t *out)
{
	const __m512i ones = _mm512_set1_epi8(1);
	size_t		full = dim - dim % 64;

	for (size_t j = 0; j < n; j++)
	{
		const int8_t *p = c + j * ldc;
		__m512i		acc = _mm512_setzero_si512();

		for (size_t d = 0; d < full; d += 64)
			acc = _mm512_dpbusd_epi32(acc, ones, _mm512_loadu_si512(p + d));
		if (dim % 64)
			acc = _mm512_dpbusd_epi32(acc, ones,
									  _mm512_maskz_loadu_epi8((__mmask64) ((1ULL << (dim % 64)) - 1),
															  p + full));
		out[j] = 128 * _mm512_reduce_add_epi32(acc);
	}
}

/* AVX-512 nearest key, eight centroids a step, the last ones masked. */
EMBQ_TARGET_AVX512 int32_t
embq_nearest_key_avx512(const int32_t *dots, size_t k, double f, const double *cadd,
						const double *cmul)
{
	const __m512d vf = _mm512_set1_pd(f);
	__m512d		best = _mm512_set1_pd(INFINITY);
	__m512i		idx = _mm512_setzero_si512(),
				cur = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
	const __m512i step = _mm512_set1_epi64(8);
	double		lb[8];
	int64_t		li[8];

	for (size_t c = 0; c < k; c += 8)
	{
		__mmask8	m = k - c >= 8 ? (__mmask8) 0xFF : (__mmask8) ((1u << (k - c)) - 1);
		__m512d		d = _mm512_cvtepi32_pd(_mm256_maskz_loadu_epi32(m, dots + c));
		__m512d		key = _mm512_sub_pd(_mm512_maskz_loadu_pd(m, cadd + c),
										_mm512_mul_pd(_mm512_mul_pd(vf, _mm512_maskz_loadu_pd(m, cmul + c)), d));
		__mmask8	lt = _mm512_mask_cmp_pd_mask(m, key, best, _CMP_LT_OQ);

		best = _mm512_mask_mov_pd(best, lt, key);
		idx = _mm512_mask_mov_epi64(idx, lt, cur);
		cur = _mm512_add_epi64(cur, step);
	}
	_mm512_storeu_pd(lb, best);
	_mm512_storeu_si512(li, idx);
	return NearestOfLanes(lb, li, 8);
}

/* AVX-512 VNNI int8 block dot products: 4 x 4 tiles. */
EMBQ_TARGET_AVX512 void
embq_i8_dots_avx512(const int8_t *x, size_t ldx, size_t nx, const int8_t *c, size_t ldc,
					size_t nc, size_t dim, int32_t *out)
{
	I8DotsByTiles(x, ldx, nx, c, ldc, nc, dim, out, 4, I8Tile4x4, I8Excess512);
}

#endif							/* EMBQ_X86 */
