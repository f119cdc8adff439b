/*-------------------------------------------------------------------------
 *
 * test_kernels.c
 *		Standalone unit tests for the embq kernels declared in
 *		src/kernels.h.  No PostgreSQL header is needed.
 *
 * What is checked:
 *
 * 1. The portable variant (embq_kernel_variants[0]) against naive
 *	  per-bit / per-element reference code written here: the integer
 *	  kernels exactly, the floating-point sums within 1e-12 of the sum of
 *	  absolute terms (long double reference) and also exactly against the
 *	  "lane model" the header promises (double lanes, lane = j mod
 *	  EMBQ_FLOAT_LANES, reduced by embq_reduce_lanes).
 * 2. Every other variant this CPU runs gives results bit-identical to the
 *	  portable one, on many lengths, patterns and misaligned buffers.
 *	  Input buffers end exactly at the end of their allocation so that
 *	  AddressSanitizer sees any over-read; output buffers are guarded by
 *	  canary bytes on both sides.
 * 3. i8_dot / i8_dot3 do not overflow for n = 5,000,000 extreme codes.
 *	  plane_sums (strided masks against bit planes, 1 to 8 planes)
 *	  against a per-bit reference, the planes from embq_bit_planes and the
 *	  LSB-first residual sign masks and norms of i8_residual in every variant,
 *	  with zero padding.
 *	  f32_dots (block dot products, float accumulation) within float
 *	  rounding of a long double reference, on awkward shapes.
 *	  i8_dots exactly, and nearest_key (ties, NaN, infinities, signed
 *	  zeros) and hamming_nearest (ties, code sizes around 64-byte chunks,
 *	  bytes past the codes) exactly against a reference argmin.
 * 4. Variant selection: embq_kernels, embq_kernels_force,
 *	  embq_reduce_lanes.
 * 5. The float text round-trip property used by the SQL type.
 *
 * The random generator has a fixed seed, so every run is identical; each
 * failure prints the case (variant, length, pattern, offsets, seed).
 * The last line is "N passed, N failed"; the exit status is 1 when any
 * check failed.
 *
 *-------------------------------------------------------------------------
 */
#define _POSIX_C_SOURCE 200112L

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../src/kernels.h"
#include "../../src/kmeans.h"

#define BASE_SEED		UINT64_C(0x656d62715f746573)
#define MAX_PRINTED		200
#define GUARD_BYTES		32
#define GUARD_VALUE		0xA5
#define MAX_VARIANTS	16
#define LARGE_N			5000000

/* numbers of input patterns per kernel family (see the generators) */
#define N_BYTE_PATTERNS		5
#define N_I8_PATTERNS		7
#define N_FLOAT_MODES		6
#define N_BITDIM_COMBOS		7
#define N_SCALES			6

static long long n_passed = 0;
static long long n_failed = 0;

/* variants this CPU runs, portable first */
static const EmbqKernels *tested[MAX_VARIANTS];
static int	n_tested = 0;

/* the lengths every kernel is run on (filled by init_lengths) */
static size_t lengths[700];
static int	n_lengths = 0;


/* ---------------------------------------------------------------------
 * Reporting
 * ---------------------------------------------------------------------
 */

/* Count one failed check and print its description (up to MAX_PRINTED). */
static void
fail(const char *fmt,...)
{
	va_list		ap;

	n_failed++;
	if (n_failed > MAX_PRINTED)
	{
		if (n_failed == MAX_PRINTED + 1)
			printf("FAIL: ... further failures are counted but not printed\n");
		return;
	}
	printf("FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* Count one check, printing the description when it fails. */
#define CHECK(cond, ...) \
	do { \
		if (cond) \
			n_passed++; \
		else \
			fail(__VA_ARGS__); \
	} while (0)

/* Check two unsigned 64-bit results for equality. */
static void
check_u64(const char *what, const char *ctx, uint64_t got, uint64_t exp)
{
	CHECK(got == exp, "%s: %s: expected %llu, got %llu",
		  what, ctx, (unsigned long long) exp, (unsigned long long) got);
}

/* Check two signed 64-bit results for equality. */
static void
check_i64(const char *what, const char *ctx, int64_t got, int64_t exp)
{
	CHECK(got == exp, "%s: %s: expected %lld, got %lld",
		  what, ctx, (long long) exp, (long long) got);
}

/* Check that two doubles are bit-identical (memcmp). */
static void
check_double_same(const char *what, const char *ctx, double got, double exp)
{
	CHECK(memcmp(&got, &exp, sizeof(double)) == 0,
		  "%s: %s: expected %.17g (%a), got %.17g (%a), not bit-identical",
		  what, ctx, exp, exp, got, got);
}

/* Check that two floats are bit-identical (memcmp). */
static void
check_float_same(const char *what, const char *ctx, float got, float exp)
{
	CHECK(memcmp(&got, &exp, sizeof(float)) == 0,
		  "%s: %s: expected %.9g (%a), got %.9g (%a), not bit-identical",
		  what, ctx, (double) exp, (double) exp, (double) got, (double) got);
}

/* Check a double against a long double reference within 1e-12 * sumabs. */
static void
check_double_tol(const char *what, const char *ctx, double got,
				 long double exp, long double sumabs)
{
	long double err = fabsl((long double) got - exp);
	int			ok;

	if (sumabs == 0)
		ok = (got == 0);
	else
		ok = isfinite(got) && err <= 1e-12L * sumabs;
	CHECK(ok, "%s: %s: expected %.21Lg, got %.17g (%a), |err| %.3Lg > 1e-12 * %.6Lg",
		  what, ctx, exp, got, got, err, sumabs);
}

/*
 * Check two memory areas of n elements of elemsize bytes for equality;
 * returns the first differing element index, or -1.
 */
static long
check_mem(const char *what, const char *ctx, const void *got,
		  const void *exp, size_t n, size_t elemsize)
{
	const unsigned char *g = got;
	const unsigned char *e = exp;
	size_t		i;

	if (n == 0 || memcmp(g, e, n * elemsize) == 0)
	{
		n_passed++;
		return -1;
	}
	for (i = 0; i < n * elemsize; i++)
		if (g[i] != e[i])
			break;
	i /= elemsize;
	if (elemsize == 1)
		fail("%s: %s: first difference at element %zu of %zu: expected 0x%02x (%d), got 0x%02x (%d)",
			 what, ctx, i, n, e[i], (int) (int8_t) e[i], g[i], (int) (int8_t) g[i]);
	else
		fail("%s: %s: first difference at element %zu of %zu",
			 what, ctx, i, n);
	return (long) i;
}


/* ---------------------------------------------------------------------
 * Random numbers: xorshift64*, fixed seeds
 * ---------------------------------------------------------------------
 */

typedef struct Rng
{
	uint64_t	s;
} Rng;

/* Mix a 64-bit value (splitmix64 finalizer); used to derive case seeds. */
static uint64_t
mix64(uint64_t z)
{
	z += UINT64_C(0x9e3779b97f4a7c15);
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Seed a generator; the state is never zero. */
static void
rng_seed(Rng *r, uint64_t seed)
{
	r->s = mix64(seed);
	if (r->s == 0)
		r->s = 1;
}

/* Next 64 random bits (xorshift64*). */
static uint64_t
rng_next(Rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * UINT64_C(0x2545F4914F6CDD1D);
}

/* Uniform integer in [0, n). */
static uint32_t
rng_below(Rng *r, uint32_t n)
{
	return (uint32_t) (((rng_next(r) >> 32) * (uint64_t) n) >> 32);
}

/* Uniform double in [0, 1). */
static double
rng_unit(Rng *r)
{
	return (double) (rng_next(r) >> 11) * 0x1.0p-53;
}

/* The seed of one test case, derived from its family, length and pattern. */
static uint64_t
case_seed(int family, size_t n, int pattern)
{
	return mix64(BASE_SEED ^ ((uint64_t) family << 56) ^
				 ((uint64_t) n << 8) ^ (uint64_t) pattern);
}


/* ---------------------------------------------------------------------
 * Input generators
 * ---------------------------------------------------------------------
 */

static const char *const byte_pattern_names[N_BYTE_PATTERNS] = {
	"random/random", "zero/zero", "ones/ones", "ones/random", "sparse/random"
};

/* Fill n bytes with one pattern: 0 random, 1 zero, 2 all-one, 3 sparse. */
static void
fill_bytes(Rng *r, uint8_t *p, size_t n, int kind)
{
	size_t		i;

	for (i = 0; i < n; i++)
	{
		switch (kind)
		{
			case 0:
				p[i] = (uint8_t) rng_next(r);
				break;
			case 1:
				p[i] = 0;
				break;
			case 2:
				p[i] = 0xFF;
				break;
			default:
				/* about one bit in sixteen set */
				p[i] = (uint8_t) (rng_next(r) & rng_next(r) & rng_next(r) & rng_next(r));
				break;
		}
	}
}

/* Fill two byte vectors a and b following byte pattern p. */
static void
gen_byte_pair(Rng *r, uint8_t *a, uint8_t *b, size_t n, int p)
{
	static const int ka[N_BYTE_PATTERNS] = {0, 1, 2, 2, 3};
	static const int kb[N_BYTE_PATTERNS] = {0, 1, 2, 0, 0};

	fill_bytes(r, a, n, ka[p]);
	fill_bytes(r, b, n, kb[p]);
}

static const char *const i8_pattern_names[N_I8_PATTERNS] = {
	"random/random", "127/127", "-127/127", "-127/-127",
	"random+-127/random+-127", "zero/random", "small/small"
};

/* One random int8 code in [-127, 127]. */
static int8_t
rand_code(Rng *r)
{
	return (int8_t) ((int) rng_below(r, 255) - 127);
}

/* Fill two int8 code vectors a and b following int8 pattern p. */
static void
gen_i8_pair(Rng *r, int8_t *a, int8_t *b, size_t n, int p)
{
	size_t		i;

	for (i = 0; i < n; i++)
	{
		switch (p)
		{
			case 0:
				a[i] = rand_code(r);
				b[i] = rand_code(r);
				break;
			case 1:
				a[i] = 127;
				b[i] = 127;
				break;
			case 2:
				a[i] = -127;
				b[i] = 127;
				break;
			case 3:
				a[i] = -127;
				b[i] = -127;
				break;
			case 4:
				a[i] = (rng_next(r) & 1) ? 127 : -127;
				b[i] = (rng_next(r) & 1) ? 127 : -127;
				break;
			case 5:
				a[i] = 0;
				b[i] = rand_code(r);
				break;
			default:
				a[i] = (int8_t) ((int) rng_below(r, 7) - 3);
				b[i] = (int8_t) ((int) rng_below(r, 7) - 3);
				break;
		}
	}
}

static const char *const float_mode_names[N_FLOAT_MODES] = {
	"unit", "wild", "large", "tiny", "zeros", "mixed"
};

/*
 * One random finite float of a given mode: 0 uniform in [-1,1]; 1 any
 * finite bit pattern (subnormal to FLT_MAX, both signs); 2 uniform in
 * [-1e30,1e30]; 3 tiny, mostly subnormal; 4 mostly +-0.0 and +-1;
 * 5 each element of a random other mode.
 */
static float
rand_float(Rng *r, int mode)
{
	switch (mode)
	{
		case 0:
			return (float) (2.0 * rng_unit(r) - 1.0);
		case 1:
			{
				uint32_t	bits;
				float		f;

				bits = (uint32_t) (rng_next(r) >> 41);	/* 23 mantissa bits */
				bits |= rng_below(r, 255) << 23;	/* exponent field 0..254 */
				if (rng_next(r) & 1)
					bits |= UINT32_C(0x80000000);
				memcpy(&f, &bits, sizeof(f));
				return f;
			}
		case 2:
			return (float) ((2.0 * rng_unit(r) - 1.0) * 1e30);
		case 3:
			return (float) ((2.0 * rng_unit(r) - 1.0) *
							ldexp(1.0, -120 - (int) rng_below(r, 30)));
		case 4:
			switch (rng_below(r, 5))
			{
				case 0:
					return 0.0f;
				case 1:
					return -0.0f;
				case 2:
					return 1.0f;
				case 3:
					return -1.0f;
				default:
					return (float) (2.0 * rng_unit(r) - 1.0);
			}
		default:
			return rand_float(r, (int) rng_below(r, 5));
	}
}

/* Fill n floats of one mode. */
static void
fill_floats(Rng *r, float *x, size_t n, int mode)
{
	size_t		i;

	for (i = 0; i < n; i++)
		x[i] = rand_float(r, mode);
}


/* ---------------------------------------------------------------------
 * Buffers: inputs end exactly at the end of their allocation (so ASan
 * sees over-reads), outputs are surrounded by guard bytes.
 * ---------------------------------------------------------------------
 */

typedef struct Buf
{
	unsigned char *base;
	unsigned char *p;
	size_t		off;
	size_t		size;
	int			guarded;
} Buf;

/* Allocate size + extra bytes 64-byte aligned, aborting on failure. */
static unsigned char *
alloc_aligned(size_t size)
{
	void	   *p;

	if (size == 0)
		size = 1;
	if (posix_memalign(&p, 64, size) != 0)
	{
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	return p;
}

/* Copy size bytes of src to off bytes past a 64-byte boundary, ending the allocation. */
static void
buf_in(Buf *b, const void *src, size_t size, size_t off)
{
	b->base = alloc_aligned(off + size);
	memset(b->base, 0, off);
	b->p = b->base + off;
	b->off = off;
	b->size = size;
	b->guarded = 0;
	if (size > 0)
		memcpy(b->p, src, size);
}

/* An output area of size bytes at off bytes past a 64-byte boundary, guarded. */
static void
buf_out(Buf *b, size_t size, size_t off)
{
	b->base = alloc_aligned(off + size + GUARD_BYTES);
	memset(b->base, GUARD_VALUE, off + size + GUARD_BYTES);
	b->p = b->base + off;
	b->off = off;
	b->size = size;
	b->guarded = 1;
}

/* Check that nothing was written outside an output area. */
static void
check_guard(const char *what, const char *ctx, const Buf *b)
{
	size_t		i;
	long		bad = -1;

	for (i = 0; i < b->off + b->size + GUARD_BYTES; i++)
	{
		if (i >= b->off && i < b->off + b->size)
			continue;
		if (b->base[i] != GUARD_VALUE)
		{
			bad = (long) i - (long) b->off;
			break;
		}
	}
	CHECK(bad < 0, "%s: %s: wrote outside its output (byte %ld relative to out, size %zu)",
		  what, ctx, bad, b->size);
}

/* Free a buffer. */
static void
buf_free(Buf *b)
{
	free(b->base);
	b->base = b->p = NULL;
}

/* malloc that aborts on failure. */
static void *
xmalloc(size_t size)
{
	void	   *p = malloc(size ? size : 1);

	if (p == NULL)
	{
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	return p;
}


/* ---------------------------------------------------------------------
 * Naive references
 * ---------------------------------------------------------------------
 */

/* Bit j of a packed vector: bit (7 - j % 8) of byte j / 8. */
static int
ref_bit(const uint8_t *v, size_t j)
{
	return (v[j / 8] >> (7 - j % 8)) & 1;
}

/* Hamming distance, one bit at a time. */
static uint64_t
ref_hamming(const uint8_t *a, const uint8_t *b, size_t nbytes)
{
	uint64_t	c = 0;
	size_t		j;

	for (j = 0; j < nbytes * 8; j++)
		c += ref_bit(a, j) ^ ref_bit(b, j);
	return c;
}

/* popcount(a AND b) and popcount(a OR b), one bit at a time. */
static void
ref_and_or(const uint8_t *a, const uint8_t *b, size_t nbytes,
		   uint64_t *and_count, uint64_t *or_count)
{
	size_t		j;

	*and_count = *or_count = 0;
	for (j = 0; j < nbytes * 8; j++)
	{
		*and_count += ref_bit(a, j) & ref_bit(b, j);
		*or_count += ref_bit(a, j) | ref_bit(b, j);
	}
}

/* popcount, one bit at a time. */
static uint64_t
ref_popcount(const uint8_t *a, size_t nbytes)
{
	uint64_t	c = 0;
	size_t		j;

	for (j = 0; j < nbytes * 8; j++)
		c += ref_bit(a, j);
	return c;
}

/* Sum of q[j] over set bits j < dims, in long double; also sum of |terms|. */
static long double
ref_bits_float_dot(const uint8_t *bits, const float *q, size_t dims,
				   long double *sumabs)
{
	long double s = 0;
	size_t		j;

	*sumabs = 0;
	for (j = 0; j < dims; j++)
	{
		if (ref_bit(bits, j))
		{
			s += (long double) q[j];
			*sumabs += fabsl((long double) q[j]);
		}
	}
	return s;
}

/* Sum a[j] * b[j]. */
static int64_t
ref_i8_dot(const int8_t *a, const int8_t *b, size_t n)
{
	int64_t		s = 0;
	size_t		j;

	for (j = 0; j < n; j++)
		s += (int64_t) a[j] * b[j];
	return s;
}

/* Sums of a*a, b*b, a*b. */
static void
ref_i8_dot3(const int8_t *a, const int8_t *b, size_t n,
			int64_t *aa, int64_t *bb, int64_t *ab)
{
	size_t		j;

	*aa = *bb = *ab = 0;
	for (j = 0; j < n; j++)
	{
		*aa += (int64_t) a[j] * a[j];
		*bb += (int64_t) b[j] * b[j];
		*ab += (int64_t) a[j] * b[j];
	}
}

/* Sum q[j] * c[j] in long double; also sum of |terms|. */
static long double
ref_f32_i8_dot(const float *q, const int8_t *c, size_t n, long double *sumabs)
{
	long double s = 0;
	size_t		j;

	*sumabs = 0;
	for (j = 0; j < n; j++)
	{
		long double t = (long double) q[j] * c[j];

		s += t;
		*sumabs += fabsl(t);
	}
	return s;
}

/* Sum (q[j] - scale * c[j])^2 in long double; also sum of |terms|. */
static long double
ref_f32_i8_l2sq(const float *q, const int8_t *c, float scale, size_t n,
				long double *sumabs)
{
	long double s = 0;
	size_t		j;

	for (j = 0; j < n; j++)
	{
		long double d = (long double) q[j] - (long double) scale * c[j];

		s += d * d;
	}
	*sumabs = s;
	return s;
}

/* Sum q[j]^2 in long double; also sum of |terms|. */
static long double
ref_f32_sqnorm(const float *q, size_t n, long double *sumabs)
{
	long double s = 0;
	size_t		j;

	for (j = 0; j < n; j++)
		s += (long double) q[j] * q[j];
	*sumabs = s;
	return s;
}

/*
 * The lane model of the header: double lanes, lane = j % EMBQ_FLOAT_LANES,
 * each lane summed in index order, reduced by embq_reduce_lanes.
 * term_kind: 0 bits_float_dot, 1 f32_i8_dot, 2 f32_i8_l2sq, 3 f32_sqnorm.
 */
static double
lane_model(int term_kind, const uint8_t *bits, const float *q,
		   const int8_t *c, float scale, size_t n)
{
	double		lanes[EMBQ_FLOAT_LANES];
	size_t		j;

	memset(lanes, 0, sizeof(lanes));
	for (j = 0; j < n; j++)
	{
		double		t;

		switch (term_kind)
		{
			case 0:
				if (!ref_bit(bits, j))
					continue;
				t = (double) q[j];
				break;
			case 1:
				t = (double) q[j] * (double) c[j];
				break;
			case 2:
				{
					double		d = (double) q[j] - (double) scale * (double) c[j];

					t = d * d;
				}
				break;
			default:
				t = (double) q[j] * (double) q[j];
				break;
		}
		lanes[j % EMBQ_FLOAT_LANES] += t;
	}
	return embq_reduce_lanes(lanes);
}

/* Pack bit j = (x[j] > t[j]) (t NULL: 0), padding bits zero. */
static void
ref_binarize(const float *x, const float *t, size_t n, uint8_t *out)
{
	size_t		j;

	memset(out, 0, EMBQ_BITBYTES(n));
	for (j = 0; j < n; j++)
		if (x[j] > (t ? t[j] : 0.0f))
			out[j / 8] |= (uint8_t) (0x80 >> (j % 8));
}

/* Pack bit j = (c[j] > 0), padding bits zero. */
static void
ref_i8_binarize(const int8_t *c, size_t n, uint8_t *out)
{
	size_t		j;

	memset(out, 0, EMBQ_BITBYTES(n));
	for (j = 0; j < n; j++)
		if (c[j] > 0)
			out[j / 8] |= (uint8_t) (0x80 >> (j % 8));
}

/* max |x[j]|, 0 for n == 0. */
static float
ref_absmax(const float *x, size_t n)
{
	float		m = 0.0f;
	size_t		j;

	for (j = 0; j < n; j++)
		if (fabsf(x[j]) > m)
			m = fabsf(x[j]);
	return m;
}

/* round_half_away((double) x / (double) scale), clamped to +-127. */
static int8_t
ref_encode_one(float x, float scale)
{
	double		r = round((double) x / (double) scale);

	if (r > EMBQ_I8_MAX)
		r = EMBQ_I8_MAX;
	if (r < -EMBQ_I8_MAX)
		r = -EMBQ_I8_MAX;
	return (int8_t) r;
}

/* i8_encode reference over n elements. */
static void
ref_encode(const float *x, size_t n, float scale, int8_t *codes)
{
	size_t		j;

	for (j = 0; j < n; j++)
		codes[j] = ref_encode_one(x[j], scale);
}


/* ---------------------------------------------------------------------
 * Setup: variants and lengths
 * ---------------------------------------------------------------------
 */

/* Collect the variants this CPU runs and print what is tested or skipped. */
static void
init_variants(void)
{
	static const char *const known[] = {"portable", "avx2", "avx512"};
	int			i;
	size_t		k;

	printf("variants compiled in:");
	for (i = 0; embq_kernel_variants[i] != NULL; i++)
		printf(" %s", embq_kernel_variants[i]->name);
	printf("\n");

	CHECK(embq_kernel_variants[0] != NULL &&
		  strcmp(embq_kernel_variants[0]->name, "portable") == 0,
		  "embq_kernel_variants[0] is not the portable variant");
	if (embq_kernel_variants[0] == NULL)
	{
		printf("no variants, giving up\n");
		exit(1);
	}

	for (i = 0; embq_kernel_variants[i] != NULL; i++)
	{
		const EmbqKernels *k = embq_kernel_variants[i];

		CHECK(k->name && k->hamming && k->and_or_count && k->popcount &&
			  k->bits_float_dot && k->i8_dot && k->plane_sums && k->i8_dot3 &&
			  k->f32_i8_dot && k->f32_i8_l2sq && k->f32_sqnorm && k->f32_dots && k->i8_dots &&
			  k->f32_i8_dot_items && k->f32_i8_l2sq_items &&
			  k->binarize && k->i8_binarize && k->absmax && k->i8_encode,
			  "variant %d (%s) has a NULL member", i, k->name ? k->name : "?");
		if (embq_kernels_supported(k))
		{
			if (n_tested < MAX_VARIANTS)
				tested[n_tested++] = k;
		}
		else
			printf("skipped: %s (not supported by this CPU)\n", k->name);
	}
	CHECK(n_tested > 0 && tested[0] == embq_kernel_variants[0],
		  "the portable variant is not reported as supported");

	for (k = 0; k < sizeof(known) / sizeof(known[0]); k++)
	{
		int			found = 0;

		for (i = 0; embq_kernel_variants[i] != NULL; i++)
			if (strcmp(embq_kernel_variants[i]->name, known[k]) == 0)
				found = 1;
		if (!found)
			printf("skipped: %s (not compiled in)\n", known[k]);
	}

	printf("tested:");
	for (i = 0; i < n_tested; i++)
		printf(" %s", tested[i]->name);
	printf("\n");
	fflush(stdout);
}

/* Lengths: every n in 0..600 plus a few around powers of two and large. */
static void
init_lengths(void)
{
	static const size_t extra[] = {1023, 1024, 1025, 4095, 4096, 4097, 16000, 64000};
	size_t		i;

	for (i = 0; i <= 600; i++)
		lengths[n_lengths++] = i;
	for (i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
		lengths[n_lengths++] = extra[i];
}


/* ---------------------------------------------------------------------
 * 4. Dispatch and embq_reduce_lanes
 * ---------------------------------------------------------------------
 */

/* embq_kernels, embq_kernels_supported and embq_kernels_force. */
static void
test_dispatch(void)
{
	const EmbqKernels *best = embq_kernels();
	const EmbqKernels *portable = embq_kernel_variants[0];
	int			i;
	int			listed = 0;

	CHECK(best != NULL, "embq_kernels() returned NULL");
	if (best == NULL)
		return;
	printf("embq_kernels() chose: %s\n", best->name);
	for (i = 0; embq_kernel_variants[i] != NULL; i++)
		if (embq_kernel_variants[i] == best)
			listed = 1;
	CHECK(listed, "embq_kernels() returned a variant not in embq_kernel_variants");
	CHECK(embq_kernels_supported(best),
		  "embq_kernels() returned %s, which is not supported", best->name);
	CHECK(embq_kernels() == best, "embq_kernels() is not stable");
	if (n_tested > 1)
		CHECK(best != portable,
			  "embq_kernels() chose portable although %s is supported",
			  tested[n_tested - 1]->name);

	CHECK(embq_kernels_force("portable") != 0,
		  "embq_kernels_force(\"portable\") failed");
	CHECK(embq_kernels() == portable,
		  "after forcing portable, embq_kernels() returned %s",
		  embq_kernels()->name);

	CHECK(embq_kernels_force("no-such-variant") == 0,
		  "embq_kernels_force of an unknown name did not return 0");
	CHECK(embq_kernels() == portable,
		  "a failed force changed embq_kernels() to %s", embq_kernels()->name);
	CHECK(embq_kernels_force("") == 0,
		  "embq_kernels_force(\"\") did not return 0");
	CHECK(embq_kernels_force("PORTABLEX") == 0,
		  "embq_kernels_force(\"PORTABLEX\") did not return 0");

	for (i = 0; embq_kernel_variants[i] != NULL; i++)
	{
		const EmbqKernels *k = embq_kernel_variants[i];
		int			ok = embq_kernels_force(k->name);

		if (embq_kernels_supported(k))
		{
			CHECK(ok != 0, "embq_kernels_force(\"%s\") failed on a supported variant",
				  k->name);
			CHECK(embq_kernels() == k, "after forcing %s, embq_kernels() returned %s",
				  k->name, embq_kernels()->name);
		}
		else
		{
			CHECK(ok == 0, "embq_kernels_force(\"%s\") succeeded on an unsupported variant",
				  k->name);
			CHECK(embq_kernels() != k, "unsupported %s became current", k->name);
		}
	}

	/* back to the automatic choice */
	CHECK(embq_kernels_force(best->name) != 0, "cannot force %s back", best->name);
	CHECK(embq_kernels() == best, "embq_kernels() is not %s after restoring", best->name);
}

/* embq_reduce_lanes: deterministic, exact on exact sums, input untouched. */
static void
test_reduce_lanes(void)
{
	Rng			r;
	int			iter,
				i;

	rng_seed(&r, case_seed(1, 0, 0));
	for (iter = 0; iter < 200; iter++)
	{
		double		lanes[EMBQ_FLOAT_LANES];
		double		copy[EMBQ_FLOAT_LANES];
		double		r1,
					r2;
		char		ctx[64];

		/* mixed magnitudes so that the order of additions matters */
		for (i = 0; i < EMBQ_FLOAT_LANES; i++)
			lanes[i] = (2.0 * rng_unit(&r) - 1.0) * ldexp(1.0, (int) rng_below(&r, 120) - 60);
		memcpy(copy, lanes, sizeof(lanes));
		snprintf(ctx, sizeof(ctx), "iteration %d", iter);
		r1 = embq_reduce_lanes(lanes);
		CHECK(memcmp(copy, lanes, sizeof(lanes)) == 0,
			  "embq_reduce_lanes: %s: modified its input", ctx);
		r2 = embq_reduce_lanes(lanes);
		check_double_same("embq_reduce_lanes repeated", ctx, r2, r1);
		CHECK(isfinite(r1), "embq_reduce_lanes: %s: result not finite", ctx);
	}

	/* exactly representable sums must come out exact */
	for (iter = 0; iter < 100; iter++)
	{
		double		lanes[EMBQ_FLOAT_LANES];
		int64_t		exact = 0;
		char		ctx[64];

		for (i = 0; i < EMBQ_FLOAT_LANES; i++)
		{
			int64_t		v = (int64_t) rng_below(&r, 2000001) - 1000000;

			lanes[i] = (double) v;
			exact += v;
		}
		snprintf(ctx, sizeof(ctx), "integer lanes %d", iter);
		check_double_same("embq_reduce_lanes exact", ctx,
						  embq_reduce_lanes(lanes), (double) exact);
	}

	/* zeros give +0.0 */
	{
		double		lanes[EMBQ_FLOAT_LANES];

		memset(lanes, 0, sizeof(lanes));
		check_double_same("embq_reduce_lanes", "all zero", embq_reduce_lanes(lanes), 0.0);
	}

	/* one order-sensitive input, reported for information */
	{
		double		lanes[EMBQ_FLOAT_LANES];
		double		r1;

		for (i = 0; i < EMBQ_FLOAT_LANES; i++)
			lanes[i] = 1.0;
		lanes[0] = 1e16;
		lanes[EMBQ_FLOAT_LANES - 1] = -1e16;
		r1 = embq_reduce_lanes(lanes);
		check_double_same("embq_reduce_lanes repeated", "1e16, 1 x 14, -1e16",
						  embq_reduce_lanes(lanes), r1);
		printf("embq_reduce_lanes({1e16, 1 x 14, -1e16}) = %.17g\n", r1);
	}
}


/* ---------------------------------------------------------------------
 * 1 + 2. Byte kernels: hamming, and_or_count, popcount (length = bytes)
 * ---------------------------------------------------------------------
 */

/* One length and byte pattern: reference on portable, identity elsewhere. */
static void
test_bytes_case(size_t nbytes, int pat)
{
	Rng			r;
	uint64_t	seed = case_seed(2, nbytes, pat);
	uint8_t    *a = xmalloc(nbytes);
	uint8_t    *b = xmalloc(nbytes);
	uint64_t	p_ham = 0,
				p_and = 0,
				p_or = 0,
				p_pop = 0;
	int			vi;

	rng_seed(&r, seed);
	gen_byte_pair(&r, a, b, nbytes, pat);

	for (vi = 0; vi < n_tested; vi++)
	{
		const EmbqKernels *k = tested[vi];
		size_t		oa = (nbytes + pat + vi) % 8;
		size_t		ob = (nbytes + 3 * pat + 5 * vi + 1) % 8;
		Buf			ba,
					bb;
		uint64_t	ham,
					and_c = 0,
					or_c = 0,
					pop;
		char		ctx[200];

		snprintf(ctx, sizeof(ctx), "variant=%s nbytes=%zu pattern=%s offsets=%zu/%zu seed=0x%016llx",
				 k->name, nbytes, byte_pattern_names[pat], oa, ob,
				 (unsigned long long) seed);
		buf_in(&ba, a, nbytes, oa);
		buf_in(&bb, b, nbytes, ob);
		ham = k->hamming(ba.p, bb.p, nbytes);
		k->and_or_count(ba.p, bb.p, nbytes, &and_c, &or_c);
		pop = k->popcount(ba.p, nbytes);
		buf_free(&ba);
		buf_free(&bb);

		if (vi == 0)
		{
			uint64_t	e_and,
						e_or;

			check_u64("hamming vs reference", ctx, ham, ref_hamming(a, b, nbytes));
			ref_and_or(a, b, nbytes, &e_and, &e_or);
			check_u64("and_or_count(and) vs reference", ctx, and_c, e_and);
			check_u64("and_or_count(or) vs reference", ctx, or_c, e_or);
			check_u64("popcount vs reference", ctx, pop, ref_popcount(a, nbytes));
			p_ham = ham;
			p_and = and_c;
			p_or = or_c;
			p_pop = pop;
		}
		else
		{
			check_u64("hamming vs portable", ctx, ham, p_ham);
			check_u64("and_or_count(and) vs portable", ctx, and_c, p_and);
			check_u64("and_or_count(or) vs portable", ctx, or_c, p_or);
			check_u64("popcount vs portable", ctx, pop, p_pop);
		}
	}
	free(a);
	free(b);
}

/* Byte kernels over all lengths and patterns. */
static void
test_bytes(void)
{
	int			li,
				p;

	for (li = 0; li < n_lengths; li++)
		for (p = 0; p < N_BYTE_PATTERNS; p++)
			test_bytes_case(lengths[li], p);
}


/* ---------------------------------------------------------------------
 * 1 + 2. Bit-dimension kernels: bits_float_dot, binarize, i8_binarize
 * ---------------------------------------------------------------------
 */

/* bit pattern and float mode of each bits_float_dot combination */
static const int bitdim_bits[N_BITDIM_COMBOS] = {0, 2, 1, 0, 3, 2, 0};
static const int bitdim_fmode[N_BITDIM_COMBOS] = {0, 5, 0, 1, 2, 3, 4};
static const char *const bit_kind_names[4] = {"random", "zero", "ones", "sparse"};

/* bits_float_dot for one length and combination. */
static void
test_bits_float_dot_case(size_t dims, int combo)
{
	Rng			r;
	uint64_t	seed = case_seed(3, dims, combo);
	size_t		nb = EMBQ_BITBYTES(dims);
	uint8_t    *bits = xmalloc(nb);
	float	   *q = xmalloc(dims * sizeof(float));
	double		p_res = 0;
	int			vi;

	rng_seed(&r, seed);
	fill_bytes(&r, bits, nb, bitdim_bits[combo]);
	if (dims % 8)
		bits[nb - 1] &= (uint8_t) (0xFF << (8 - dims % 8));	/* padding zero */
	fill_floats(&r, q, dims, bitdim_fmode[combo]);

	for (vi = 0; vi < n_tested; vi++)
	{
		const EmbqKernels *k = tested[vi];
		size_t		ob = (dims + combo + vi) % 8;
		size_t		oq = (dims + 2 * combo + 3 * vi + 1) % 8;
		Buf			bb,
					bq;
		double		res;
		char		ctx[200];

		snprintf(ctx, sizeof(ctx), "variant=%s dims=%zu bits=%s q=%s offsets=%zu bytes/%zu floats seed=0x%016llx",
				 k->name, dims, bit_kind_names[bitdim_bits[combo]],
				 float_mode_names[bitdim_fmode[combo]], ob, oq,
				 (unsigned long long) seed);
		buf_in(&bb, bits, nb, ob);
		buf_in(&bq, q, dims * sizeof(float), oq * sizeof(float));
		res = k->bits_float_dot(bb.p, (const float *) bq.p, dims);

		if (vi == 0)
		{
			long double sumabs;
			long double e = ref_bits_float_dot(bits, q, dims, &sumabs);

			check_double_tol("bits_float_dot vs reference", ctx, res, e, sumabs);
			check_double_same("bits_float_dot vs lane model", ctx, res,
							  lane_model(0, bits, q, NULL, 0, dims));
			p_res = res;
		}
		else
			check_double_same("bits_float_dot vs portable", ctx, res, p_res);

		/* set padding bits: only bits j < dims may count */
		if (dims % 8)
		{
			bb.p[nb - 1] |= (uint8_t) (0xFF >> (dims % 8));
			check_double_same("bits_float_dot with padding bits set", ctx,
							  k->bits_float_dot(bb.p, (const float *) bq.p, dims), res);
		}
		buf_free(&bb);
		buf_free(&bq);
	}
	free(bits);
	free(q);
}

static const char *const threshold_names[2] = {"t=NULL", "t=mixed(equal,random,+-0)"};

/* binarize for one length, float mode and threshold kind. */
static void
test_binarize_case(size_t n, int mode, int with_t)
{
	Rng			r;
	uint64_t	seed = case_seed(4, n, mode * 2 + with_t);
	size_t		nb = EMBQ_BITBYTES(n);
	float	   *x = xmalloc(n * sizeof(float));
	float	   *t = xmalloc(n * sizeof(float));
	uint8_t    *exp = xmalloc(nb);
	uint8_t    *p_out = xmalloc(nb);
	size_t		j;
	int			vi;

	rng_seed(&r, seed);
	fill_floats(&r, x, n, mode);
	for (j = 0; j < n; j++)
	{
		switch (rng_below(&r, 4))
		{
			case 0:
				t[j] = x[j];	/* x == t must give 0 */
				break;
			case 1:
				t[j] = rand_float(&r, mode);
				break;
			case 2:
				t[j] = (rng_next(&r) & 1) ? 0.0f : -0.0f;
				break;
			default:
				t[j] = nextafterf(x[j], (rng_next(&r) & 1) ? FLT_MAX : -FLT_MAX);
				break;
		}
	}
	ref_binarize(x, with_t ? t : NULL, n, exp);

	for (vi = 0; vi < n_tested; vi++)
	{
		const EmbqKernels *k = tested[vi];
		size_t		ox = (n + mode + with_t + vi) % 8;
		size_t		ot = (n + 3 * mode + 2 * vi + 1) % 8;
		size_t		oo = (n + mode + 5 * vi + 3) % 8;
		Buf			bx,
					bt,
					bo;
		char		ctx[200];
		long		bad;

		snprintf(ctx, sizeof(ctx), "variant=%s n=%zu x=%s %s offsets=%zu/%zu floats out+%zu seed=0x%016llx",
				 k->name, n, float_mode_names[mode], threshold_names[with_t],
				 ox, ot, oo, (unsigned long long) seed);
		buf_in(&bx, x, n * sizeof(float), ox * sizeof(float));
		buf_in(&bt, t, n * sizeof(float), ot * sizeof(float));
		buf_out(&bo, nb, oo);
		k->binarize((const float *) bx.p, with_t ? (const float *) bt.p : NULL, n, bo.p);
		check_guard("binarize", ctx, &bo);

		if (vi == 0)
		{
			bad = check_mem("binarize vs reference", ctx, bo.p, exp, nb, 1);
			if (bad >= 0)
			{
				size_t		d;

				for (d = (size_t) bad * 8; d < (size_t) bad * 8 + 8 && d < n; d++)
					printf("      dim %zu: x=%a t=%a expected bit %d got %d\n", d,
						   (double) x[d], with_t ? (double) t[d] : 0.0,
						   ref_bit(exp, d), ref_bit(bo.p, d));
				if ((size_t) bad == nb - 1 && n % 8)
					printf("      (last byte: padding bits must be zero)\n");
			}
			memcpy(p_out, bo.p, nb);
		}
		else
			check_mem("binarize vs portable", ctx, bo.p, p_out, nb, 1);
		buf_free(&bx);
		buf_free(&bt);
		buf_free(&bo);
	}
	free(x);
	free(t);
	free(exp);
	free(p_out);
}

/* i8_binarize for one length and int8 pattern. */
static void
test_i8_binarize_case(size_t n, int pat)
{
	Rng			r;
	uint64_t	seed = case_seed(5, n, pat);
	size_t		nb = EMBQ_BITBYTES(n);
	int8_t	   *a = xmalloc(n);
	int8_t	   *b = xmalloc(n);
	uint8_t    *exp = xmalloc(nb);
	uint8_t    *p_out = xmalloc(nb);
	int			vi;

	rng_seed(&r, seed);
	gen_i8_pair(&r, a, b, n, pat);
	/* use b for "zero/random" so that zeros and positives both occur */
	if (pat == 5)
	{
		size_t		j;

		for (j = 0; j < n; j++)
			if (rng_next(&r) & 1)
				b[j] = 0;
	}
	ref_i8_binarize(pat == 5 ? b : a, n, exp);

	for (vi = 0; vi < n_tested; vi++)
	{
		const EmbqKernels *k = tested[vi];
		size_t		oc = (n + pat + vi) % 8;
		size_t		oo = (n + 2 * pat + 3 * vi + 1) % 8;
		Buf			bc,
					bo;
		char		ctx[200];

		snprintf(ctx, sizeof(ctx), "variant=%s n=%zu codes=%s offsets=%zu/%zu seed=0x%016llx",
				 k->name, n, i8_pattern_names[pat], oc, oo,
				 (unsigned long long) seed);
		buf_in(&bc, pat == 5 ? b : a, n, oc);
		buf_out(&bo, nb, oo);
		k->i8_binarize((const int8_t *) bc.p, n, bo.p);
		check_guard("i8_binarize", ctx, &bo);
		if (vi == 0)
		{
			check_mem("i8_binarize vs reference", ctx, bo.p, exp, nb, 1);
			memcpy(p_out, bo.p, nb);
		}
		else
			check_mem("i8_binarize vs portable", ctx, bo.p, p_out, nb, 1);
		buf_free(&bc);
		buf_free(&bo);
	}
	free(a);
	free(b);
	free(exp);
	free(p_out);
}

/* Bit-dimension kernels over all lengths and patterns. */
static void
test_bitdims(void)
{
	int			li,
				p;

	for (li = 0; li < n_lengths; li++)
	{
		size_t		n = lengths[li];

		for (p = 0; p < N_BITDIM_COMBOS; p++)
			test_bits_float_dot_case(n, p);
		for (p = 0; p < N_FLOAT_MODES; p++)
		{
			test_binarize_case(n, p, 0);
			test_binarize_case(n, p, 1);
		}
		for (p = 0; p < N_I8_PATTERNS; p++)
			test_i8_binarize_case(n, p);
	}
}


/* ---------------------------------------------------------------------
 * 1 + 2. Integer dot products: i8_dot, i8_dot3
 * ---------------------------------------------------------------------
 */

/* i8_dot and i8_dot3 for one length and int8 pattern. */
static void
test_i8_case(size_t n, int pat)
{
	Rng			r;
	uint64_t	seed = case_seed(6, n, pat);
	int8_t	   *a = xmalloc(n);
	int8_t	   *b = xmalloc(n);
	int64_t		p_dot = 0,
				p_aa = 0,
				p_bb = 0,
				p_ab = 0;
	int			vi;

	rng_seed(&r, seed);
	gen_i8_pair(&r, a, b, n, pat);

	for (vi = 0; vi < n_tested; vi++)
	{
		const EmbqKernels *k = tested[vi];
		size_t		oa = (n + pat + vi) % 8;
		size_t		ob = (n + 3 * pat + 5 * vi + 1) % 8;
		Buf			ba,
					bb;
		int64_t		dot,
					aa = 0,
					bbs = 0,
					ab = 0;
		char		ctx[200];

		snprintf(ctx, sizeof(ctx), "variant=%s n=%zu pattern=%s offsets=%zu/%zu seed=0x%016llx",
				 k->name, n, i8_pattern_names[pat], oa, ob,
				 (unsigned long long) seed);
		buf_in(&ba, a, n, oa);
		buf_in(&bb, b, n, ob);
		dot = k->i8_dot((const int8_t *) ba.p, (const int8_t *) bb.p, n);
		k->i8_dot3((const int8_t *) ba.p, (const int8_t *) bb.p, n, &aa, &bbs, &ab);
		buf_free(&ba);
		buf_free(&bb);

		if (vi == 0)
		{
			int64_t		e_aa,
						e_bb,
						e_ab;

			check_i64("i8_dot vs reference", ctx, dot, ref_i8_dot(a, b, n));
			ref_i8_dot3(a, b, n, &e_aa, &e_bb, &e_ab);
			check_i64("i8_dot3(aa) vs reference", ctx, aa, e_aa);
			check_i64("i8_dot3(bb) vs reference", ctx, bbs, e_bb);
			check_i64("i8_dot3(ab) vs reference", ctx, ab, e_ab);
			p_dot = dot;
			p_aa = aa;
			p_bb = bbs;
			p_ab = ab;
		}
		else
		{
			check_i64("i8_dot vs portable", ctx, dot, p_dot);
			check_i64("i8_dot3(aa) vs portable", ctx, aa, p_aa);
			check_i64("i8_dot3(bb) vs portable", ctx, bbs, p_bb);
			check_i64("i8_dot3(ab) vs portable", ctx, ab, p_ab);
		}
	}
	free(a);
	free(b);
}

/* Integer dot products over all lengths and patterns. */
static void
test_i8(void)
{
	int			li,
				p;

	for (li = 0; li < n_lengths; li++)
		for (p = 0; p < N_I8_PATTERNS; p++)
			test_i8_case(lengths[li], p);
}

/* ---------------------------------------------------------------------
 * 1 + 2. plane_sums, embq_bit_planes and i8_residual
 * ---------------------------------------------------------------------
 */

/* Masks of one item per kind of mask; sums of three strided items. */
#define PLANE_ITEMS 3

/*
 * plane_sums with masks of several kinds and 1 to 8 planes, bit_planes, and
 * i8_residual, for one length and int8 pattern.
 */
static void
test_masked_case(size_t n, int pat)
{
	Rng			r;
	uint64_t	seed = case_seed(9, n, pat);
	size_t		nbytes = EMBQ_BITBYTES(n);
	int8_t	   *a = xmalloc(n);
	int8_t	   *b = xmalloc(n);
	int			kind,
				vi;
	size_t		i;

	rng_seed(&r, seed);
	gen_i8_pair(&r, a, b, n, pat);

	/*
	 * the residual of a from b, in every variant: the sign bits of the floats
	 * as written, padding zero, nothing written past the mask; the norms bit
	 * for bit as 16 lanes reduced by embq_reduce_lanes, and within double
	 * rounding of the exact sums.  Mask offsets 0-3 and odd scales.
	 */
	{
		const double sa = 0.013 + 0.001 * (double) pat,
					sb = pat % 2 ? 0.0071 : 0.013 + 0.001 * (double) pat;
		uint8_t    *want = xmalloc(nbytes + 1);
		long double e1 = 0,
					e2 = 0;
		double		lane1[EMBQ_FLOAT_LANES] = {0},
					lane2[EMBQ_FLOAT_LANES] = {0};
		char		ctx[200];
		int			vi2;

		memset(want, 0, nbytes + 1);
		for (i = 0; i < n; i++)
		{
			float		v = (float) (sa * a[i] - sb * b[i]);

			want[i / 8] |= (uint8_t) ((v > 0) << (i % 8));
			lane1[i % EMBQ_FLOAT_LANES] += fabs(v);
			lane2[i % EMBQ_FLOAT_LANES] += (double) v * v;
			e1 += fabsl((long double) v);
			e2 += (long double) v * v;
		}
		for (vi2 = 0; vi2 < n_tested; vi2++)
		{
			Buf			bm;
			double		l1 = -1,
						l2 = -1;

			snprintf(ctx, sizeof(ctx), "%s: n=%zu pattern=%s", tested[vi2]->name, n,
					 i8_pattern_names[pat]);
			buf_out(&bm, nbytes, (n + (size_t) vi2) % 4);
			tested[vi2]->i8_residual(a, sa, b, sb, n, bm.p, &l1, &l2);
			check_guard("i8_residual", ctx, &bm);
			CHECK(nbytes == 0 || memcmp(bm.p, want, nbytes) == 0,
				  "i8_residual: %s: wrong sign bit or nonzero padding", ctx);
			CHECK(l1 == embq_reduce_lanes(lane1) && l2 == embq_reduce_lanes(lane2),
				  "i8_residual: %s: norms %.17g %.17g not the lane sums", ctx, l1, l2);
			CHECK(fabsl(l1 - e1) <= 1e-12L * e1 && fabsl(l2 - e2) <= 1e-12L * e2,
				  "i8_residual: %s: norms %.17g %.17g, expected %.17Lg %.17Lg",
				  ctx, l1, l2, e1, e2);
			buf_free(&bm);
		}
		free(want);
	}

	for (kind = 0; kind < 4; kind++)
	{
		static const int planecounts[] = {1, 3, 4, 8};
		size_t		stride = nbytes + 20;	/* an index item's mask sits behind 20 bytes */
		size_t		total = (PLANE_ITEMS - 1) * stride + nbytes;
		unsigned char *masks = xmalloc(total);
		size_t		j;
		int			it,
					pc;

		/* random, all set, none set, the sign mask of the other vector */
		memset(masks, 0xA5, total);
		for (it = 0; it < PLANE_ITEMS; it++)
		{
			unsigned char *m = masks + it * stride;

			for (j = 0; j < nbytes; j++)
				m[j] = kind == 0 ? (uint8_t) rng_next(&r) : kind == 1 ? 0xff : 0;
			if (kind == 3)
			{
				double		l1,
							l2;

				embq_kernel_variants[0]->i8_residual(it == 1 ? a : b, 1, a, 0, n, m, &l1, &l2);
			}
			else if (n % 8)
				m[nbytes - 1] &= (uint8_t) ((1u << (n % 8)) - 1);
		}

		for (pc = 0; pc < (int) (sizeof(planecounts) / sizeof(planecounts[0])); pc++)
		{
			int			nplanes = planecounts[pc];
			size_t		pbytes = EMBQ_PLANE_BYTES(n);
			uint8_t    *u = xmalloc(n);
			uint8_t    *planes = xmalloc(pbytes * nplanes);
			uint64_t	expect[PLANE_ITEMS];
			int			bad = 0;

			for (j = 0; j < n; j++)
				u[j] = (uint8_t) ((uint8_t) (b[j] + 128) >> (8 - nplanes));
			embq_bit_planes(u, n, nplanes, planes);
			for (j = 0; j < pbytes * 8 * nplanes; j++)
			{
				size_t		dim = j % (pbytes * 8);
				int			plane = (int) (j / (pbytes * 8));
				int			got = (planes[j / 8] >> (j % 8)) & 1;

				if (got != (dim < n && ((u[dim] >> plane) & 1)))
					bad = 1;
			}
			CHECK(!bad, "bit_planes: n=%zu planes=%d: wrong bit or nonzero padding", n, nplanes);

			for (it = 0; it < PLANE_ITEMS; it++)
			{
				const unsigned char *m = masks + it * stride;
				uint64_t	sum = 0,
							pop = 0;

				for (j = 0; j < n; j++)
					if ((m[j / 8] >> (j % 8)) & 1)
					{
						sum += u[j];
						pop++;
					}
				expect[it] = sum + (pop << 32);
			}

			for (vi = 0; vi < n_tested; vi++)
			{
				const EmbqKernels *k = tested[vi];
				size_t		om = (n + pat + kind + vi) % 8;
				Buf			bm,
							bp,
							bo;
				char		ctx[200];

				snprintf(ctx, sizeof(ctx), "variant=%s n=%zu pattern=%s mask=%d planes=%d offset=%zu seed=0x%016llx",
						 k->name, n, i8_pattern_names[pat], kind, nplanes, om,
						 (unsigned long long) seed);
				/* the last mask ends where its buffer does: ASan sees over-reads */
				buf_in(&bm, masks, total, om);
				buf_in(&bp, planes, pbytes * nplanes, 0);
				buf_out(&bo, sizeof(uint64_t) * PLANE_ITEMS, 0);
				k->plane_sums(bm.p, stride, PLANE_ITEMS, n, bp.p, nplanes, (uint64_t *) bo.p);
				check_guard("plane_sums", ctx, &bo);
				for (it = 0; it < PLANE_ITEMS; it++)
				{
					uint64_t	got;

					memcpy(&got, bo.p + it * sizeof(uint64_t), sizeof(got));
					check_i64("plane_sums vs reference", ctx, (int64_t) got, (int64_t) expect[it]);
				}
				buf_free(&bm);
				buf_free(&bp);
				buf_free(&bo);
			}
			free(u);
			free(planes);
		}
		free(masks);
	}
	free(a);
	free(b);
}

/* Plane sums and sign masks over all lengths and patterns. */
static void
test_masked(void)
{
	int			li,
				p;

	for (li = 0; li < n_lengths; li++)
		for (p = 0; p < N_I8_PATTERNS; p++)
			test_masked_case(lengths[li], p);
}

/* 3. i8_dot / i8_dot3 on 5,000,000 extreme codes must not overflow. */
static void
test_large_n(void)
{
	static const size_t ns[] = {LARGE_N, LARGE_N + 37};
	size_t		ni;

	for (ni = 0; ni < sizeof(ns) / sizeof(ns[0]); ni++)
	{
		size_t		n = ns[ni];
		int8_t	   *a = xmalloc(n);
		int8_t	   *b = xmalloc(n);
		int			pat;

		for (pat = 0; pat < 4; pat++)
		{
			/* 127/127, -127/127, -127/-127, random+-127 */
			static const int pats[4] = {1, 2, 3, 4};
			Rng			r;
			int64_t		e_dot,
						e_aa,
						e_bb,
						e_ab;
			int			vi;

			rng_seed(&r, case_seed(7, n, pat));
			gen_i8_pair(&r, a, b, n, pats[pat]);
			ref_i8_dot3(a, b, n, &e_aa, &e_bb, &e_ab);
			e_dot = ref_i8_dot(a, b, n);
			if (pats[pat] != 4)
			{
				/* closed forms, as a check of the reference itself */
				int64_t		sq = (int64_t) n * 127 * 127;

				CHECK(e_aa == sq && e_bb == sq &&
					  e_ab == (pats[pat] == 2 ? -sq : sq) && e_dot == e_ab,
					  "large-n reference closed form mismatch (test bug)");
			}

			for (vi = 0; vi < n_tested; vi++)
			{
				const EmbqKernels *k = tested[vi];
				Buf			ba,
							bb;
				int64_t		aa = 0,
							bbs = 0,
							ab = 0;
				char		ctx[200];

				snprintf(ctx, sizeof(ctx), "variant=%s n=%zu pattern=%s (large n)",
						 k->name, n, i8_pattern_names[pats[pat]]);
				buf_in(&ba, a, n, 3);
				buf_in(&bb, b, n, 5);
				check_i64("i8_dot", ctx,
						  k->i8_dot((const int8_t *) ba.p, (const int8_t *) bb.p, n), e_dot);
				k->i8_dot3((const int8_t *) ba.p, (const int8_t *) bb.p, n, &aa, &bbs, &ab);
				check_i64("i8_dot3(aa)", ctx, aa, e_aa);
				check_i64("i8_dot3(bb)", ctx, bbs, e_bb);
				check_i64("i8_dot3(ab)", ctx, ab, e_ab);
				buf_free(&ba);
				buf_free(&bb);
			}
		}
		free(a);
		free(b);
	}
}


/* ---------------------------------------------------------------------
 * 1 + 2. Float kernels: f32_i8_dot, f32_i8_l2sq, f32_sqnorm, absmax,
 * i8_encode
 * ---------------------------------------------------------------------
 */

/* code pattern used with each float mode */
static const int float_code_pat[N_FLOAT_MODES] = {0, 4, 1, 2, 6, 0};

static const char *const scale_names[N_SCALES] = {
	"absmax/127", "power-of-two", "random", "subnormal", "1e30", "one-or-zero"
};

/*
 * The scale of kind s for vector x: absmax/127 as quantization would use,
 * a power of two, a random one, a subnormal one, a huge one, and 1 (for
 * i8_encode, which needs scale > 0) or 0 (for f32_i8_l2sq).
 */
static float
pick_scale(Rng *r, const float *x, size_t n, int s, int for_encode)
{
	float		m;

	switch (s)
	{
		case 0:
			m = (float) ((double) ref_absmax(x, n) / 127.0);
			return (m > 0 || !for_encode) ? m : 1.0f;
		case 1:
			return (float) ldexp(1.0, (int) rng_below(r, 41) - 20);
		case 2:
			return (float) (0.001 + 10.0 * rng_unit(r));
		case 3:
			return 1e-40f;
		case 4:
			return 1e30f;
		default:
			return for_encode ? 1.0f : 0.0f;
	}
}

/* The float kernels for one length and float mode. */
static void
test_float_case(size_t n, int mode)
{
	Rng			r;
	uint64_t	seed = case_seed(8, n, mode);
	int			cpat = float_code_pat[mode];
	float	   *q = xmalloc(n * sizeof(float));
	int8_t	   *c = xmalloc(n);
	int8_t	   *c2 = xmalloc(n);
	float		l2_scale[N_SCALES];
	float		enc_scale[N_SCALES];
	double		p_dot = 0,
				p_sqn = 0,
				p_l2[N_SCALES];
	float		p_amax = 0;
	int8_t	   *p_codes[N_SCALES];
	int8_t	   *e_codes = xmalloc(n);
	int			s,
				vi;

	rng_seed(&r, seed);
	fill_floats(&r, q, n, mode);
	gen_i8_pair(&r, c, c2, n, cpat);
	for (s = 0; s < N_SCALES; s++)
	{
		l2_scale[s] = pick_scale(&r, q, n, s, 0);
		enc_scale[s] = pick_scale(&r, q, n, s, 1);
		p_codes[s] = xmalloc(n);
	}

	for (vi = 0; vi < n_tested; vi++)
	{
		const EmbqKernels *k = tested[vi];
		size_t		oq = (n + mode + vi) % 8;
		size_t		oc = (n + 3 * mode + 5 * vi + 1) % 8;
		Buf			bq,
					bc;
		double		dot,
					sqn;
		float		amax;
		char		ctx[240];
		long double sumabs,
					e;

		snprintf(ctx, sizeof(ctx), "variant=%s n=%zu q=%s codes=%s offsets=%zu floats/%zu bytes seed=0x%016llx",
				 k->name, n, float_mode_names[mode], i8_pattern_names[cpat],
				 oq, oc, (unsigned long long) seed);
		buf_in(&bq, q, n * sizeof(float), oq * sizeof(float));
		buf_in(&bc, c, n, oc);

		dot = k->f32_i8_dot((const float *) bq.p, (const int8_t *) bc.p, n);
		sqn = k->f32_sqnorm((const float *) bq.p, n);
		amax = k->absmax((const float *) bq.p, n);
		if (vi == 0)
		{
			e = ref_f32_i8_dot(q, c, n, &sumabs);
			check_double_tol("f32_i8_dot vs reference", ctx, dot, e, sumabs);
			check_double_same("f32_i8_dot vs lane model", ctx, dot,
							  lane_model(1, NULL, q, c, 0, n));
			e = ref_f32_sqnorm(q, n, &sumabs);
			check_double_tol("f32_sqnorm vs reference", ctx, sqn, e, sumabs);
			check_double_same("f32_sqnorm vs lane model", ctx, sqn,
							  lane_model(3, NULL, q, NULL, 0, n));
			CHECK(amax == ref_absmax(q, n),
				  "absmax vs reference: %s: expected %a, got %a",
				  ctx, (double) ref_absmax(q, n), (double) amax);
			p_dot = dot;
			p_sqn = sqn;
			p_amax = amax;
		}
		else
		{
			check_double_same("f32_i8_dot vs portable", ctx, dot, p_dot);
			check_double_same("f32_sqnorm vs portable", ctx, sqn, p_sqn);
			check_float_same("absmax vs portable", ctx, amax, p_amax);
		}

		for (s = 0; s < N_SCALES; s++)
		{
			char		sctx[300];
			double		l2;
			Buf			bo;
			size_t		oo = (n + s + 3 * vi + 2) % 8;

			snprintf(sctx, sizeof(sctx), "%s l2 scale=%s(%a) encode scale=%s(%a) out+%zu",
					 ctx, scale_names[s], (double) l2_scale[s],
					 scale_names[s], (double) enc_scale[s], oo);
			l2 = k->f32_i8_l2sq((const float *) bq.p, (const int8_t *) bc.p,
								l2_scale[s], n);
			buf_out(&bo, n, oo);
			k->i8_encode((const float *) bq.p, n, enc_scale[s], (int8_t *) bo.p);
			check_guard("i8_encode", sctx, &bo);

			if (vi == 0)
			{
				long		bad;

				e = ref_f32_i8_l2sq(q, c, l2_scale[s], n, &sumabs);
				check_double_tol("f32_i8_l2sq vs reference", sctx, l2, e, sumabs);
				check_double_same("f32_i8_l2sq vs lane model", sctx, l2,
								  lane_model(2, NULL, q, c, l2_scale[s], n));
				if (l2_scale[s] == 0)
					check_double_same("f32_i8_l2sq(scale 0) vs f32_sqnorm", sctx, l2, sqn);
				p_l2[s] = l2;

				ref_encode(q, n, enc_scale[s], e_codes);
				bad = check_mem("i8_encode vs reference", sctx, bo.p, e_codes, n, 1);
				if (bad >= 0)
					printf("      x[%ld]=%.9g (%a), x/scale=%.17g\n", bad,
						   (double) q[bad], (double) q[bad],
						   (double) q[bad] / (double) enc_scale[s]);
				memcpy(p_codes[s], bo.p, n);
			}
			else
			{
				long		bad;

				check_double_same("f32_i8_l2sq vs portable", sctx, l2, p_l2[s]);
				bad = check_mem("i8_encode vs portable", sctx, bo.p, p_codes[s], n, 1);
				if (bad >= 0)
					printf("      x[%ld]=%.9g (%a), x/scale=%.17g\n", bad,
						   (double) q[bad], (double) q[bad],
						   (double) q[bad] / (double) enc_scale[s]);
			}
			buf_free(&bo);
		}
		buf_free(&bq);
		buf_free(&bc);
	}

	for (s = 0; s < N_SCALES; s++)
		free(p_codes[s]);
	free(q);
	free(c);
	free(c2);
	free(e_codes);
}

/* Float kernels over all lengths and float modes. */
static void
test_float(void)
{
	int			li,
				m;

	for (li = 0; li < n_lengths; li++)
		for (m = 0; m < N_FLOAT_MODES; m++)
			test_float_case(lengths[li], m);
}

/*
 * i8_encode at exact and near .5 quotients: with a power-of-two scale,
 * x = (m + 0.5) * scale is exact and must round away from zero; with other
 * scales x = (float) ((m + 0.5) * scale) makes x/scale land within a float
 * rounding of .5, where only the double quotient gives the right answer.
 */
static void
test_encode_halves(void)
{
	Rng			r;
	int			iter;

	rng_seed(&r, case_seed(9, 0, 0));
	for (iter = 0; iter < 64; iter++)
	{
		float		scale;
		float		x[4 * 261 + 8];
		int8_t		e[4 * 261 + 8];
		size_t		n = 0;
		int			m,
					vi;

		if (iter < 40)
			scale = (float) ldexp(1.0, iter - 20);
		else if (iter < 62)
			scale = (float) (0.001 + 100.0 * rng_unit(&r));
		else
			scale = (iter == 62) ? 1e-40f : 3.0f;

		for (m = -130; m <= 130; m++)
		{
			float		h = (float) (((double) m + 0.5) * (double) scale);

			x[n++] = h;
			x[n++] = nextafterf(h, FLT_MAX);
			x[n++] = nextafterf(h, -FLT_MAX);
			x[n++] = (float) ((double) m * (double) scale);
		}
		x[n++] = 0.0f;
		x[n++] = -0.0f;
		x[n++] = FLT_MAX;
		x[n++] = -FLT_MAX;
		x[n++] = FLT_MIN;
		x[n++] = -FLT_MIN;
		x[n++] = 1e-45f;
		x[n++] = -1e-45f;
		ref_encode(x, n, scale, e);

		/* spot-check the reference on exact halves (scale a power of two) */
		if (iter < 40)
		{
			CHECK(ref_encode_one(2.5f * scale, scale) == 3 &&
				  ref_encode_one(-2.5f * scale, scale) == -3 &&
				  ref_encode_one(0.5f * scale, scale) == 1 &&
				  ref_encode_one(-0.5f * scale, scale) == -1 &&
				  ref_encode_one(126.5f * scale, scale) == 127 &&
				  ref_encode_one(-127.5f * scale, scale) == -127,
				  "reference round-half-away self check (test bug), scale %a",
				  (double) scale);
		}

		for (vi = 0; vi < n_tested; vi++)
		{
			const EmbqKernels *k = tested[vi];
			size_t		ox = (size_t) (iter + vi) % 8;
			Buf			bx,
						bo;
			char		ctx[160];
			long		bad;

			snprintf(ctx, sizeof(ctx), "variant=%s scale=%.9g (%a) halves iteration %d",
					 k->name, (double) scale, (double) scale, iter);
			buf_in(&bx, x, n * sizeof(float), ox * sizeof(float));
			buf_out(&bo, n, (size_t) (iter + 3 * vi) % 8);
			k->i8_encode((const float *) bx.p, n, scale, (int8_t *) bo.p);
			check_guard("i8_encode", ctx, &bo);
			bad = check_mem("i8_encode halves vs reference", ctx, bo.p, e, n, 1);
			if (bad >= 0)
				printf("      x=%.9g (%a), (double)x/scale=%.17g, float x/scale=%.9g\n",
					   (double) x[bad], (double) x[bad],
					   (double) x[bad] / (double) scale, (double) (x[bad] / scale));
			buf_free(&bx);
			buf_free(&bo);
		}
	}
}


/* ---------------------------------------------------------------------
 * embq_quantize_i8 under every variant
 * ---------------------------------------------------------------------
 */

/* embq_quantize_i8 for one vector, under every tested variant. */
static void
test_quantize_vec(const float *x, size_t n, const char *what)
{
	float		maxabs = ref_absmax(x, n);
	float		e_scale = (float) ((double) maxabs / 127.0);
	int8_t	   *e = xmalloc(n);
	int8_t	   *p_codes = xmalloc(n);
	float		p_scale = 0;
	size_t		j;
	int			vi;

	/* documented exception: one step down where scale * 127 overflows float */
	if (isinf((float) ((double) e_scale * 127.0)))
		e_scale = nextafterf(e_scale, 0.0f);

	if (e_scale > 0)
		ref_encode(x, n, e_scale, e);
	else if (maxabs == 0)
		memset(e, 0, n);

	for (vi = 0; vi < n_tested; vi++)
	{
		const EmbqKernels *k = tested[vi];
		size_t		ox = (n + vi) % 8;
		Buf			bx,
					bo;
		float		scale;
		char		ctx[200];

		snprintf(ctx, sizeof(ctx), "variant=%s n=%zu %s maxabs=%a offset=%zu floats",
				 k->name, n, what, (double) maxabs, ox);
		if (!embq_kernels_force(k->name))
		{
			fail("embq_kernels_force(\"%s\") failed", k->name);
			continue;
		}
		buf_in(&bx, x, n * sizeof(float), ox * sizeof(float));
		buf_out(&bo, n, (n + 2 * vi + 1) % 8);
		scale = embq_quantize_i8((const float *) bx.p, n, (int8_t *) bo.p);
		check_guard("embq_quantize_i8", ctx, &bo);

		if (vi == 0)
		{
			CHECK(scale == e_scale, "embq_quantize_i8 scale: %s: expected %a, got %a",
				  ctx, (double) e_scale, (double) scale);
			if (e_scale > 0 || maxabs == 0)
			{
				long		bad = check_mem("embq_quantize_i8 codes vs reference", ctx,
											bo.p, e, n, 1);

				if (bad >= 0)
					printf("      x[%ld]=%a\n", bad, (double) x[bad]);
			}
			else
			{
				/*
				 * The scale underflowed to 0 for a nonzero vector: a zero
				 * scale must still come with zero codes (the zero vector).
				 */
				int			all_zero = 1;

				for (j = 0; j < n; j++)
					if (((int8_t *) bo.p)[j] != 0)
						all_zero = 0;
				CHECK(all_zero, "embq_quantize_i8: %s: scale 0 with nonzero codes", ctx);
			}
			/* the largest elements get +-127 whenever the scale is normal */
			if (e_scale >= FLT_MIN)
			{
				int			ok = 1;

				for (j = 0; j < n; j++)
					if (fabsf(x[j]) == maxabs &&
						((int8_t *) bo.p)[j] != (x[j] > 0 ? 127 : -127))
						ok = 0;
				CHECK(ok, "embq_quantize_i8: %s: a max-magnitude element is not +-127", ctx);
			}
			p_scale = scale;
			memcpy(p_codes, bo.p, n);
		}
		else
		{
			check_float_same("embq_quantize_i8 scale vs portable", ctx, scale, p_scale);
			check_mem("embq_quantize_i8 codes vs portable", ctx, bo.p, p_codes, n, 1);
		}
		buf_free(&bx);
		buf_free(&bo);
	}
	embq_kernels_force(embq_kernel_variants[0]->name);
	free(e);
	free(p_codes);
}

/* embq_quantize_i8: random vectors of all lengths, zeros, extremes. */
static void
test_quantize(void)
{
	const EmbqKernels *best = embq_kernels();
	int			li,
				m;
	size_t		j;

	for (li = 0; li < n_lengths; li++)
	{
		size_t		n = lengths[li];
		float	   *x = xmalloc(n * sizeof(float));

		for (m = 0; m < N_FLOAT_MODES; m++)
		{
			Rng			r;
			char		what[64];

			rng_seed(&r, case_seed(10, n, m));
			fill_floats(&r, x, n, m);
			snprintf(what, sizeof(what), "x=%s", float_mode_names[m]);
			test_quantize_vec(x, n, what);
		}

		/* all zero, with both signs of zero */
		for (j = 0; j < n; j++)
			x[j] = (j % 3 == 1) ? -0.0f : 0.0f;
		test_quantize_vec(x, n, "x=all-zero");
		free(x);
	}

	/* a few special vectors */
	{
		float		x[40];
		int			i;

		for (i = 0; i < 40; i++)
			x[i] = (float) (i - 20) * 0.25f;
		x[7] = -1000.0f;
		x[30] = 1000.0f;		/* two maxima of opposite sign */
		test_quantize_vec(x, 40, "x=two-maxima");
		x[30] = FLT_MAX;
		x[7] = -FLT_MAX;
		test_quantize_vec(x, 40, "x=+-FLT_MAX");
		for (i = 0; i < 40; i++)
			x[i] = (i % 2) ? 1e-45f : -3e-45f;	/* scale underflows to 0 */
		test_quantize_vec(x, 40, "x=subnormal(scale 0)");
		for (i = 0; i < 40; i++)
			x[i] = (float) ldexp((double) (i - 20), -130);	/* subnormal scale */
		test_quantize_vec(x, 40, "x=subnormal(scale subnormal)");
		x[0] = 127.0f * FLT_MIN;	/* smallest maxabs with a normal scale */
		test_quantize_vec(x, 1, "x=127*FLT_MIN");
	}

	embq_kernels_force(best->name);
}


/* ---------------------------------------------------------------------
 * 5. Text round-trip property of the scale
 * ---------------------------------------------------------------------
 */

/*
 * For m > 0: s = (float) (m / 127) is recovered from the printed maximum
 * (float) (s * 127): (float) ((double) (float) ((double) s * 127) / 127) == s.
 * Returns 1 when it holds.
 */
static int
roundtrip_ok(float m)
{
	float		s = (float) ((double) m / 127.0);
	float		t = (float) ((double) s * 127.0);
	float		s2 = (float) ((double) t / 127.0);

	return memcmp(&s, &s2, sizeof(float)) == 0;
}

/* The float with a given bit pattern. */
static float
float_from_bits(uint32_t bits)
{
	float		f;

	memcpy(&f, &bits, sizeof(f));
	return f;
}

/*
 * Round-trip for every subnormal, a strided sample and random mantissas of
 * every binade, and random positive finite floats; FLT_MAX separately.
 */
static void
test_roundtrip(void)
{
	Rng			r;
	uint32_t	bits,
				e;
	int			i,
				blk;

	rng_seed(&r, case_seed(11, 0, 0));

	/* every positive subnormal */
	{
		uint32_t	bad = 0;

		for (bits = 1; bits < (UINT32_C(1) << 23); bits++)
			if (!roundtrip_ok(float_from_bits(bits)))
			{
				bad = bits;
				break;
			}
		CHECK(bad == 0, "text round-trip fails for subnormal m = %a (bits 0x%08x)",
			  (double) float_from_bits(bad), bad);
	}

	/* each normal binade: stride 997 through the mantissas plus 2000 random */
	for (e = 1; e <= 254; e++)
	{
		uint32_t	bad = 0;
		uint32_t	mant;

		for (mant = 0; mant < (UINT32_C(1) << 23) && bad == 0; mant += 997)
		{
			bits = (e << 23) | mant;
			if (bits != UINT32_C(0x7F7FFFFF) && !roundtrip_ok(float_from_bits(bits)))
				bad = bits;
		}
		for (i = 0; i < 2000 && bad == 0; i++)
		{
			bits = (e << 23) | (uint32_t) (rng_next(&r) >> 41);
			if (bits != UINT32_C(0x7F7FFFFF) && !roundtrip_ok(float_from_bits(bits)))
				bad = bits;
		}
		/* the last mantissas of each binade too */
		for (mant = (UINT32_C(1) << 23) - 64; mant < (UINT32_C(1) << 23) && bad == 0; mant++)
		{
			bits = (e << 23) | mant;
			if (bits != UINT32_C(0x7F7FFFFF) && !roundtrip_ok(float_from_bits(bits)))
				bad = bits;
		}
		CHECK(bad == 0, "text round-trip fails for m = %.9g (%a, bits 0x%08x)",
			  (double) float_from_bits(bad), (double) float_from_bits(bad), bad);
	}

	/* random positive finite bit patterns, in blocks of 100000 */
	for (blk = 0; blk < 10; blk++)
	{
		uint32_t	bad = 0;

		for (i = 0; i < 100000 && bad == 0; i++)
		{
			bits = (uint32_t) (rng_next(&r) >> 33);
			if (bits == 0 || bits >= UINT32_C(0x7F7FFFFF))
				continue;
			if (!roundtrip_ok(float_from_bits(bits)))
				bad = bits;
		}
		CHECK(bad == 0, "text round-trip fails for random m = %a (bits 0x%08x)",
			  (double) float_from_bits(bad), bad);
	}

	/*
	 * FLT_MAX: (float) (FLT_MAX / 127) * 127 rounds up to infinity, so
	 * embq_quantize_i8 steps the scale down once; the largest value must then
	 * print finite and round-trip.
	 */
	{
		float		x[2] = {FLT_MAX, -1.0f};
		int8_t		codes[2];
		float		s = embq_quantize_i8(x, 2, codes);
		float		top = (float) ((double) s * 127.0);

		CHECK(!isinf(top) && codes[0] == 127 && roundtrip_ok(top),
			  "FLT_MAX: scale %a gives top value %g, code %d", (double) s, (double) top, codes[0]);
	}
}




/* all_finite: NaN or infinity anywhere (including the tail) is found by every variant. */
static void
test_all_finite(void)
{
	static const float bad[] = {NAN, -NAN, INFINITY, -INFINITY};
	int			li,
				vi;

	for (li = 0; li < n_lengths; li++)
	{
		size_t		n = lengths[li];
		float	   *x;
		Rng			r;
		char		ctx[96];
		size_t		pos;

		if (n == 0 || n > 5000)
			continue;
		x = xmalloc(n * sizeof(float));
		rng_seed(&r, case_seed(22, n, 0));
		fill_floats(&r, x, n, (int) (n % N_FLOAT_MODES));
		for (vi = 0; vi < n_tested; vi++)
		{
			snprintf(ctx, sizeof(ctx), "variant=%s n=%zu", tested[vi]->name, n);
			CHECK(tested[vi]->all_finite(x, n) == 1, "all_finite: %s: finite input reported bad", ctx);
		}
		/* a bad value at the start, the end and a random place */
		for (pos = 0; pos < 3; pos++)
		{
			size_t		at = pos == 0 ? 0 : pos == 1 ? n - 1 : rng_below(&r, (uint32_t) n);
			float		keep = x[at];

			x[at] = bad[(li + pos) % 4];
			for (vi = 0; vi < n_tested; vi++)
				CHECK(tested[vi]->all_finite(x, n) == 0, "all_finite: variant=%s n=%zu: %g at %zu missed",
					  tested[vi]->name, n, (double) x[at], at);
			x[at] = keep;
		}
		free(x);
	}
}

/* ---------------------------------------------------------------------
 * f32_dot and k-means
 * ---------------------------------------------------------------------
 */

/* f32_dot: against a long-double reference and bit-identical across variants. */
static void
test_f32_dot(void)
{
	int			li,
				m,
				vi;

	for (li = 0; li < n_lengths; li++)
	{
		size_t		n = lengths[li];

		if (n > 20000)
			continue;
		for (m = 0; m < N_FLOAT_MODES; m++)
		{
			Rng			r;
			float	   *a = xmalloc((n + 1) * sizeof(float));
			float	   *b = xmalloc((n + 1) * sizeof(float));
			long double ref = 0,
						sumabs = 0;
			double		p_res = 0;
			char		ctx[128];
			size_t		j;

			rng_seed(&r, case_seed(20, n, m));
			fill_floats(&r, a, n, m);
			fill_floats(&r, b, n, (m + 1) % N_FLOAT_MODES);
			for (j = 0; j < n; j++)
			{
				long double t = (long double) a[j] * (long double) b[j];

				ref += t;
				sumabs += t < 0 ? -t : t;
			}
			snprintf(ctx, sizeof(ctx), "n=%zu mode=%d", n, m);
			for (vi = 0; vi < n_tested; vi++)
			{
				double		res = tested[vi]->f32_dot(a, b, n);

				if (vi == 0)
				{
					p_res = res;
					if (isfinite((double) ref) && isfinite((double) sumabs))
						check_double_tol("f32_dot vs reference", ctx, res, (double) ref, (double) sumabs);
				}
				else
					check_double_same("f32_dot vs portable", ctx, res, p_res);
			}
			free(a);
			free(b);
		}
	}
}

/*
 * f32_dots: every variant within float rounding of a long double reference
 * (1e-5 of the sum of |products|, float accumulation over up to 4097
 * terms), on shapes that are not multiples of the tiles (rows, centroids)
 * or of the vector width (dimensions), including one row and one centroid.
 */
static void
test_f32_dots(void)
{
	static const size_t nxs[] = {1, 3, 4, 5, 9, 64};
	static const size_t ncs[] = {1, 2, 4, 7, 63, 64, 65, 130};
	static const size_t dims[] = {1, 7, 15, 16, 17, 33, 100, 384, 1024, 4097};
	Rng			r;

	rng_seed(&r, case_seed(11, 0, 0));
	for (size_t di = 0; di < sizeof(dims) / sizeof(dims[0]); di++)
		for (size_t xi = 0; xi < sizeof(nxs) / sizeof(nxs[0]); xi++)
			for (size_t ci = 0; ci < sizeof(ncs) / sizeof(ncs[0]); ci++)
			{
				size_t		d = dims[di],
							nx = nxs[xi],
							nc = ncs[ci];
				float	   *x = xmalloc(sizeof(float) * nx * d);
				float	   *c = xmalloc(sizeof(float) * nc * d);

				for (size_t i = 0; i < nx * d; i++)
					x[i] = (float) (2.0 * rng_unit(&r) - 1.0);
				for (size_t i = 0; i < nc * d; i++)
					c[i] = (float) (2.0 * rng_unit(&r) - 1.0);
				for (int vi = 0; vi < n_tested; vi++)
				{
					const EmbqKernels *k = tested[vi];
					Buf			bo;
					int			bad = 0;
					char		ctx[160];

					snprintf(ctx, sizeof(ctx), "variant=%s rows=%zu centroids=%zu dim=%zu",
							 k->name, nx, nc, d);
					buf_out(&bo, sizeof(float) * nx * nc, 4);
					k->f32_dots(x, nx, c, nc, d, (float *) bo.p);
					check_guard("f32_dots", ctx, &bo);
					for (size_t i = 0; i < nx && !bad; i++)
						for (size_t j = 0; j < nc && !bad; j++)
						{
							long double ref = 0,
										mag = 0;
							float		got;

							for (size_t t = 0; t < d; t++)
							{
								ref += (long double) x[i * d + t] * c[j * d + t];
								mag += fabsl((long double) x[i * d + t] * c[j * d + t]);
							}
							memcpy(&got, bo.p + (i * nc + j) * sizeof(float), sizeof(got));
							if (!(fabsl((long double) got - ref) <= 1e-5L * mag + 1e-30L))
							{
								bad = 1;
								CHECK(0, "f32_dots: %s: row %zu centroid %zu: expected %Lg, got %g",
									  ctx, i, j, ref, (double) got);
							}
						}
					if (!bad)
						CHECK(1, "f32_dots");
					buf_free(&bo);
				}
				free(x);
				free(c);
			}
}

/*
 * f32_i8_dot_items / f32_i8_l2sq_items: for every variant, each item's
 * result bit-identical to the portable one-row kernels (f32_i8_dot, i8_dot,
 * f32_i8_l2sq with the item's own scale), on items of a float scale and
 * dims codes packed at strides that leave them unaligned, with random and
 * extreme codes, zero and huge scales, and every float mode of the query.
 */
static void
test_f32_i8_items(void)
{
	static const size_t dims[] = {1, 7, 15, 16, 17, 31, 32, 33, 64, 100, 128, 255, 384, 1000, 1024, 4097};
	static const size_t ns[] = {1, 2, 5, 31};
	const EmbqKernels *p = embq_kernel_variants[0];
	Rng			r;

	rng_seed(&r, case_seed(12, 0, 0));
	for (size_t di = 0; di < sizeof(dims) / sizeof(dims[0]); di++)
		for (size_t ni = 0; ni < sizeof(ns) / sizeof(ns[0]); ni++)
			for (int m = 0; m < N_FLOAT_MODES; m++)
			{
				size_t		d = dims[di],
							n = ns[ni],
							stride = 4 + d + (di + ni + m) % 4;
				uint8_t    *items = xmalloc(stride * n + 1);
				float	   *q = xmalloc(sizeof(float) * d);
				double	   *dot = xmalloc(sizeof(double) * n);
				double	   *l2 = xmalloc(sizeof(double) * n);
				int64_t    *norm = xmalloc(sizeof(int64_t) * n);
				char		ctx[128];

				fill_floats(&r, q, d, m);
				for (size_t i = 0; i < n; i++)
				{
					uint8_t    *it = items + 1 + i * stride;
					float		s = i % 5 == 0 ? 0.0f : i % 5 == 1 ? 3e38f / 127 : (float) rng_unit(&r);

					memcpy(it, &s, sizeof(float));
					for (size_t j = 0; j < d; j++)
						((int8_t *) it)[4 + j] = i % 3 == 2 ? (j % 2 ? 127 : -127) : rand_code(&r);
				}
				for (int vi = 0; vi < n_tested; vi++)
				{
					const EmbqKernels *k = tested[vi];

					k->f32_i8_dot_items(q, items + 1, stride, n, d, dot, norm);
					k->f32_i8_l2sq_items(q, items + 1, stride, n, d, l2);
					for (size_t i = 0; i < n; i++)
					{
						const uint8_t *it = items + 1 + i * stride;
						const int8_t *c = (const int8_t *) it + 4;
						float		s;

						memcpy(&s, it, sizeof(float));
						snprintf(ctx, sizeof(ctx), "%s dims=%zu n=%zu mode=%d item %zu",
								 k->name, d, n, m, i);
						check_double_same("f32_i8_dot_items", ctx, dot[i], p->f32_i8_dot(q, c, d));
						check_i64("f32_i8_dot_items norm", ctx, norm[i], p->i8_dot(c, c, d));
						check_double_same("f32_i8_l2sq_items", ctx, l2[i], p->f32_i8_l2sq(q, c, s, d));
					}
					/* without norms, the dots alone */
					k->f32_i8_dot_items(q, items + 1, stride, n, d, dot, NULL);
					check_double_same("f32_i8_dot_items (no norm)", ctx, dot[n - 1],
									  p->f32_i8_dot(q, (const int8_t *) items + 1 + (n - 1) * stride + 4, d));
				}
				free(items);
				free(q);
				free(dot);
				free(l2);
				free(norm);
			}
}

/*
 * i8_dots: every variant exactly equal to an int64 reference, on row and
 * centroid strides wider than dim (codes inside i8vec values), unaligned,
 * with random codes and with all +-127 (the largest sums).
 */
static void
test_i8_dots(void)
{
	static const size_t nxs[] = {1, 3, 4, 5, 9, 64};
	static const size_t ncs[] = {1, 2, 4, 7, 63, 64, 65, 257, 300};
	static const size_t dims[] = {1, 7, 15, 16, 17, 63, 64, 65, 100, 384, 1024, 4097, 16000};
	Rng			r;

	rng_seed(&r, case_seed(12, 0, 0));
	for (size_t di = 0; di < sizeof(dims) / sizeof(dims[0]); di++)
		for (size_t xi = 0; xi < sizeof(nxs) / sizeof(nxs[0]); xi++)
			for (size_t ci = 0; ci < sizeof(ncs) / sizeof(ncs[0]); ci++)
				for (int extreme = 0; extreme < 2; extreme++)
				{
					size_t		d = dims[di],
								nx = nxs[xi],
								nc = ncs[ci],
								ldx = d + 5,
								ldc = d + 4 + (d % 3);
					int8_t	   *xb,
							   *cb;
					const int8_t *x,
							   *c;

					if (d == 16000 && (nx > 5 || nc > 7))
						continue;	/* the longest rows on small blocks only */
					xb = xmalloc(nx * ldx + 1);
					cb = xmalloc(nc * ldc + 1);
					x = xb + 1;	/* unaligned */
					c = cb;
					/* extreme: rows all 127, centroids all +-127, every sum as large as it gets */
					for (size_t i = 0; i < nx * ldx + 1; i++)
						xb[i] = extreme ? 127 : (int8_t) ((int) (rng_next(&r) % 255) - 127);
					for (size_t i = 0; i < nc * ldc + 1; i++)
						cb[i] = extreme ? (int8_t) ((i / ldc) % 2 ? -127 : 127)
							: (int8_t) ((int) (rng_next(&r) % 255) - 127);
					for (int vi = 0; vi < n_tested; vi++)
					{
						const EmbqKernels *k = tested[vi];
						Buf			bo;
						int			bad = 0;
						char		ctx[200];

						snprintf(ctx, sizeof(ctx), "variant=%s rows=%zu centroids=%zu dim=%zu%s",
								 k->name, nx, nc, d, extreme ? " extreme" : "");
						buf_out(&bo, sizeof(int32_t) * nx * nc, 4);
						k->i8_dots(x, ldx, nx, c, ldc, nc, d, (int32_t *) bo.p);
						check_guard("i8_dots", ctx, &bo);
						for (size_t i = 0; i < nx && !bad; i++)
							for (size_t j = 0; j < nc && !bad; j++)
							{
								int64_t		ref = 0;
								int32_t		got;

								for (size_t t = 0; t < d; t++)
									ref += (int64_t) x[i * ldx + t] * c[j * ldc + t];
								memcpy(&got, bo.p + (i * nc + j) * sizeof(int32_t), sizeof(got));
								if (got != ref)
								{
									bad = 1;
									CHECK(0, "i8_dots: %s: row %zu centroid %zu: expected %lld, got %d",
										  ctx, i, j, (long long) ref, got);
								}
							}
						if (!bad)
							CHECK(1, "i8_dots");
						buf_free(&bo);
					}
					free(xb);
					free(cb);
				}
}

/* The first c < k with the lowest key below infinity (NaN never): the reference of nearest_key. */
static int32_t
ref_nearest_key(const int32_t *dots, size_t k, double f, const double *cadd, const double *cmul)
{
	double		best = INFINITY;
	int32_t		besti = 0;

	for (size_t c = 0; c < k; c++)
	{
		double		key = cadd[c] - f * cmul[c] * (double) dots[c];

		if (key < best)
		{
			best = key;
			besti = (int32_t) c;
		}
	}
	return besti;
}

/*
 * nearest_key: every variant exactly equal to the reference on lengths
 * around the vector widths, with random keys, many ties (only a few
 * distinct values), NaN keys, infinities, signed zeros and NaN or zero
 * factors.
 */
static void
test_nearest_key(void)
{
	static const size_t ks[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 257, 1000, 2001};
	Rng			r;

	rng_seed(&r, case_seed(23, 0, 0));
	for (size_t ki = 0; ki < sizeof(ks) / sizeof(ks[0]); ki++)
		for (int pattern = 0; pattern < 8; pattern++)
			for (int rep = 0; rep < 20; rep++)
			{
				size_t		k = ks[ki];
				int32_t    *dots = xmalloc(sizeof(int32_t) * k);
				double	   *cadd = xmalloc(sizeof(double) * k);
				double	   *cmul = xmalloc(sizeof(double) * k);
				double		f = rep % 7 == 6 ? 0.0 : 0.5 + rng_unit(&r);
				int32_t		want;

				for (size_t c = 0; c < k; c++)
				{
					/* pattern 1: three values only, ties everywhere */
					dots[c] = pattern == 1 ? (int32_t) rng_below(&r, 3) * 1000
						: (int32_t) rng_below(&r, 2000000) - 1000000;
					cadd[c] = pattern == 1 ? 1000.0 : rng_unit(&r) * 1e6;
					cmul[c] = pattern == 1 ? 1.0 : 0.5 + rng_unit(&r);
					if (pattern == 2 && rng_below(&r, 3) == 0)
						cmul[c] = NAN;	/* NaN keys among the others */
					if (pattern == 3)
						cmul[c] = NAN;	/* every key NaN: 0 */
					if (pattern == 4 && rng_below(&r, 2) == 0)
						cadd[c] = INFINITY; /* keys of +infinity never win */
					if (pattern == 5)
						cadd[c] = rng_below(&r, 4) == 0 ? -INFINITY : INFINITY;
					if (pattern == 6)
					{
						/* +0 and -0 keys tie */
						cadd[c] = rng_below(&r, 2) ? 0.0 : -0.0;
						dots[c] = 0;
					}
				}
				if (pattern == 7)
					f = NAN;
				want = ref_nearest_key(dots, k, f, cadd, cmul);
				for (int vi = 0; vi < n_tested; vi++)
				{
					int32_t		got = tested[vi]->nearest_key(dots, k, f, cadd, cmul);

					CHECK(got == want, "nearest_key: variant=%s k=%zu pattern=%d rep=%d: expected %d, got %d",
						  tested[vi]->name, k, pattern, rep, want, got);
				}
				free(dots);
				free(cadd);
				free(cmul);
			}
}

/* Reference hamming_nearest: bit by bit, the lowest index on ties. */
static int32_t
ref_hamming_nearest(const uint8_t *x, const uint8_t *codes, size_t k, size_t nbytes)
{
	uint64_t	best = UINT64_MAX;
	int32_t		besti = 0;

	for (size_t c = 0; c < k; c++)
	{
		uint64_t	d = 0;

		for (size_t b = 0; b < nbytes * 8; b++)
			d += ((x[b >> 3] ^ codes[c * nbytes + (b >> 3)]) >> (b & 7)) & 1;
		if (d < best)
		{
			best = d;
			besti = (int32_t) c;
		}
	}
	return besti;
}

/*
 * hamming_nearest against the reference on code sizes around the 64-byte
 * chunks (and past the 256 bytes the AVX-512 variant keeps in registers),
 * numbers of codes around its steps of 8, and codes that tie: drawn from a
 * few values, all equal, or equal to the row.  The bytes past the row and
 * past each code but the last differ, which a tail mask must ignore; the
 * codes end where their allocation does (AddressSanitizer sees over-reads).
 */
static void
test_hamming_nearest(void)
{
	static const size_t sizes[] = {1, 2, 7, 8, 9, 25, 63, 64, 65, 127, 128, 129, 191, 192, 255, 256, 257, 300, 520};
	static const size_t ks[] = {0, 1, 2, 7, 8, 9, 15, 16, 17, 33, 100, 257};
	Rng			r;

	rng_seed(&r, case_seed(29, 0, 0));
	for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++)
		for (size_t ki = 0; ki < sizeof(ks) / sizeof(ks[0]); ki++)
			for (int pattern = 0; pattern < 5; pattern++)
			{
				size_t		nbytes = sizes[si],
							k = ks[ki];
				uint8_t    *x = xmalloc(nbytes + 64);
				uint8_t    *codes = xmalloc(k * nbytes);
				uint8_t		few[3];
				int32_t		want;

				for (int v = 0; v < 3; v++)
					few[v] = (uint8_t) rng_below(&r, 256);
				for (size_t b = 0; b < nbytes + 64; b++)
					x[b] = (uint8_t) rng_below(&r, 256);
				for (size_t b = 0; b < k * nbytes; b++)
				{
					/* pattern 1: bytes from three values, many equal distances */
					codes[b] = pattern == 1 ? few[rng_below(&r, 3)] : (uint8_t) rng_below(&r, 256);
					/* pattern 2: every code the same */
					if (pattern == 2)
						codes[b] = few[b % nbytes % 3];
				}
				/* pattern 3: the row itself among the codes, twice */
				if (pattern == 3 && k > 0)
				{
					memcpy(codes + (k / 2) * nbytes, x, nbytes);
					memcpy(codes + (k - 1) * nbytes, x, nbytes);
				}
				/* pattern 4: one code at distance 1, late */
				if (pattern == 4 && k > 0)
				{
					memcpy(codes + (k - 1) * nbytes, x, nbytes);
					codes[(k - 1) * nbytes + nbytes - 1] ^= 0x80;
				}
				want = ref_hamming_nearest(x, codes, k, nbytes);
				for (int vi = 0; vi < n_tested; vi++)
				{
					int32_t		got = tested[vi]->hamming_nearest(x, codes, k, nbytes);

					CHECK(got == want, "hamming_nearest: variant=%s nbytes=%zu k=%zu pattern=%d: expected %d, got %d",
						  tested[vi]->name, nbytes, k, pattern, want, got);
				}
				free(x);
				free(codes);
			}
}

/* The training rows of a caller's assignment step (see ReverseAssignAll). */
typedef struct ReverseAssign
{
	const int8_t *codes;
	size_t		ldc;
	const float *factors;
	size_t		n;
	size_t		dim;
	int			calls;
} ReverseAssign;

/*
 * An EmbqKmeansAssignAll that assigns the rows in chunks of 7, last chunk
 * first, as parallel workers may finish them in any order.
 */
static void
ReverseAssignAll(void *arg, const int8_t *cq, const double *cadd, const double *cmul,
				 size_t k, int32_t *assign)
{
	ReverseAssign *ra = arg;
	int32_t    *dots = xmalloc(sizeof(int32_t) * EMBQ_KMEANS_CODE_CHUNK * k);

	for (size_t a = (ra->n - 1) / 7 * 7;; a -= 7)
	{
		size_t		m = ra->n - a < 7 ? ra->n - a : 7;

		embq_kmeans_assign_codes(ra->codes + a * ra->ldc, ra->ldc, ra->factors + a, m, cq,
								 ra->dim, cadd, cmul, k, ra->dim, dots, assign + a);
		if (a == 0)
			break;
	}
	ra->calls++;
	free(dots);
}

/*
 * k-means on well-separated clusters: every cluster is recovered (each
 * centroid within 0.1 of a true centre, each row assigned with its cluster),
 * runs are deterministic for a seed, spherical centroids are unit length,
 * and n == k works.
 */
/* Every one of k true centres has a trained centroid within 0.1. */
static void
CheckCentres(const char *what, const float *trained, const float *centres, int k, int dim)
{
	for (int c = 0; c < k; c++)
	{
		double		best = 1e30;

		for (int d = 0; d < k; d++)
		{
			double		s = 0;

			for (int j = 0; j < dim; j++)
			{
				double		t = (double) trained[d * dim + j] - centres[c * dim + j];

				s += t * t;
			}
			if (s < best)
				best = s;
		}
		CHECK(sqrt(best) < 0.1, "%s: centre %d recovered only to %g", what, c, sqrt(best));
	}
}

static void
test_kmeans(void)
{
	enum
	{
		K = 8, PER = 50, DIM = 37, N = K * PER
	};
	float	   *centres = xmalloc(sizeof(float) * K * DIM);
	float	   *x = xmalloc(sizeof(float) * N * DIM);
	float	   *c1 = xmalloc(sizeof(float) * K * DIM);
	float	   *c2 = xmalloc(sizeof(float) * K * DIM);
	double	   *cnorm = xmalloc(sizeof(double) * K);
	int32_t    *assign = xmalloc(sizeof(int32_t) * N);
	void	   *work = xmalloc(embq_kmeans_workspace(N, DIM, K));
	Rng			r;
	int			i,
				j,
				c;

	rng_seed(&r, case_seed(21, 0, 0));
	for (c = 0; c < K; c++)
		for (j = 0; j < DIM; j++)
			centres[c * DIM + j] = (j == c) ? 10.0f : 0.0f;
	for (i = 0; i < N; i++)
		for (j = 0; j < DIM; j++)
			x[i * DIM + j] = centres[(i % K) * DIM + j] + (float) (rng_unit(&r) - 0.5) * 0.2f;

	embq_kmeans_train(x, N, DIM, K, 50, 0, 7, c1, work, NULL, NULL);
	embq_kmeans_train(x, N, DIM, K, 50, 0, 7, c2, work, NULL, NULL);
	CHECK(memcmp(c1, c2, sizeof(float) * K * DIM) == 0, "kmeans: two runs with one seed differ");

	/* every true centre has a trained centroid within 0.1 */
	CheckCentres("kmeans", c1, centres, K, DIM);

	/* rows of one true cluster share one assignment, different clusters differ */
	for (c = 0; c < K; c++)
		cnorm[c] = embq_kernels()->f32_sqnorm(c1 + c * DIM, DIM);
	embq_kmeans_assign(x, N, c1, cnorm, K, DIM, assign);
	for (i = K; i < N; i++)
		CHECK(assign[i] == assign[i % K], "kmeans: row %d assigned %d, its cluster %d", i,
			  assign[i], assign[i % K]);
	for (c = 1; c < K; c++)
		CHECK(assign[c] != assign[0], "kmeans: clusters 0 and %d merged", c);

	/* spherical: unit-length rows give unit-length centroids */
	for (i = 0; i < N; i++)
	{
		double		s = sqrt(embq_kernels()->f32_sqnorm(x + i * DIM, DIM));

		for (j = 0; j < DIM; j++)
			x[i * DIM + j] = (float) (x[i * DIM + j] / s);
	}
	embq_kmeans_train(x, N, DIM, K, 50, 1, 7, c1, work, NULL, NULL);
	for (c = 0; c < K; c++)
	{
		double		s = sqrt(embq_kernels()->f32_sqnorm(c1 + c * DIM, DIM));

		CHECK(fabs(s - 1.0) < 1e-5, "kmeans spherical: centroid %d has norm %g", c, s);
	}

	/*
	 * code rows (embq_kmeans_train_codes): the rows quantized to int8, and
	 * xq their float values as the code path sees them.  Same initial rows
	 * as the float path on xq; on these separated clusters the same
	 * partition, so bit for bit the same centroids; deterministic; unit
	 * centroids when spherical
	 */
	{
		size_t		ldc = DIM + 3;
		int8_t	   *codes = xmalloc(N * ldc);
		float	   *scales = xmalloc(sizeof(float) * N);
		float	   *xq = xmalloc(sizeof(float) * N * DIM);
		float	   *c3 = xmalloc(sizeof(float) * K * DIM);
		void	   *cwork = xmalloc(embq_kmeans_workspace_codes(N, DIM, K));

		for (i = 0; i < N; i++)
		{
			/* back to the unnormalized rows: centre plus noise */
			for (j = 0; j < DIM; j++)
				x[i * DIM + j] = centres[(i % K) * DIM + j] + (float) (rng_unit(&r) - 0.5) * 0.2f;
			scales[i] = embq_quantize_i8(x + i * DIM, DIM, codes + i * ldc);
			for (j = 0; j < DIM; j++)
				xq[i * DIM + j] = (float) ((double) scales[i] * codes[i * ldc + j]);
		}
		embq_kmeans_train(xq, N, DIM, K, 0, 0, 11, c1, work, NULL, NULL);
		embq_kmeans_train_codes(codes, ldc, scales, N, DIM, K, 0, 0, 11, c3, cwork, NULL, NULL,
								NULL, NULL);
		CHECK(memcmp(c1, c3, sizeof(float) * K * DIM) == 0,
			  "kmeans codes: initial rows differ from the float path's");
		embq_kmeans_train(xq, N, DIM, K, 50, 0, 11, c1, work, NULL, NULL);
		embq_kmeans_train_codes(codes, ldc, scales, N, DIM, K, 50, 0, 11, c3, cwork, NULL, NULL,
								NULL, NULL);
		CHECK(memcmp(c1, c3, sizeof(float) * K * DIM) == 0,
			  "kmeans codes: centroids differ from the float path's on separated clusters");
		embq_kmeans_train_codes(codes, ldc, scales, N, DIM, K, 50, 0, 11, c2, cwork, NULL, NULL,
								NULL, NULL);
		CHECK(memcmp(c2, c3, sizeof(float) * K * DIM) == 0, "kmeans codes: two runs differ");
		{
			/* an assignment step of the caller's, in another order: the same run */
			ReverseAssign ra = {codes, ldc, scales, N, DIM, 0};

			embq_kmeans_train_codes(codes, ldc, scales, N, DIM, K, 50, 0, 11, c2, cwork, NULL, NULL,
									ReverseAssignAll, &ra);
			CHECK(ra.calls > 1 && memcmp(c2, c3, sizeof(float) * K * DIM) == 0,
				  "kmeans codes: a caller's assignment step changed the result (%d calls)", ra.calls);
		}
		CheckCentres("kmeans codes", c3, centres, K, DIM);

		/* spherical: scales that make the rows unit length */
		for (i = 0; i < N; i++)
			scales[i] = (float) (1.0 / sqrt((double) embq_kernels()->i8_dot(codes + i * ldc,
																			   codes + i * ldc, DIM)));
		embq_kmeans_train_codes(codes, ldc, scales, N, DIM, K, 50, 1, 7, c3, cwork, NULL, NULL,
								NULL, NULL);
		for (c = 0; c < K; c++)
		{
			double		s2 = sqrt(embq_kernels()->f32_sqnorm(c3 + c * DIM, DIM));

			CHECK(fabs(s2 - 1.0) < 1e-5, "kmeans codes spherical: centroid %d has norm %g", c, s2);
		}

		/* three distinct rows for K lists: empty clusters are re-seeded with rows */
		for (i = 0; i < N; i++)
		{
			memcpy(codes + i * ldc, codes + (i % 3) * ldc, DIM);
			scales[i] = scales[i % 3];
		}
		embq_kmeans_train_codes(codes, ldc, scales, N, DIM, K, 10, 0, 5, c3, cwork, NULL, NULL,
								NULL, NULL);
		for (c = 0; c < K; c++)
		{
			int			match = 0;

			for (int t = 0; t < 3; t++)
			{
				int			same = 1;

				for (j = 0; j < DIM; j++)
					same &= c3[c * DIM + j] == (float) ((double) scales[t] * codes[t * ldc + j]);
				match |= same;
			}
			CHECK(match, "kmeans codes: centroid %d of three distinct rows is none of them", c);
		}
		free(codes);
		free(scales);
		free(xq);
		free(c3);
		free(cwork);
	}

	/*
	 * embq_kmeans_assign_codes against a direct argmin of its key, across
	 * two chunks of rows, with ties (equal centroids) going to the lower
	 * index and a NaN factor sending its row to centroid 0
	 */
	{
		enum
		{
			AN = EMBQ_KMEANS_CODE_CHUNK + 9, AK = 11, AD = 29, LDC = AD + 2, LDQ = AD + 5
		};
		int8_t	   *rows = xmalloc(AN * LDC);
		int8_t	   *cq = xmalloc(AK * LDQ);
		float		factors[AN];
		double		cadd[AK],
					cmul[AK];
		int32_t    *dots = xmalloc(sizeof(int32_t) * EMBQ_KMEANS_CODE_CHUNK * AK);
		int32_t		got[AN];
		int			bad = 0;

		for (i = 0; i < AN * LDC; i++)
			rows[i] = (int8_t) ((int) (rng_next(&r) % 255) - 127);
		for (i = 0; i < AK * LDQ; i++)
			cq[i] = (int8_t) ((int) (rng_next(&r) % 255) - 127);
		memcpy(cq + 7 * LDQ, cq + 3 * LDQ, AD);	/* centroid 7 ties with 3 */
		for (c = 0; c < AK; c++)
		{
			cadd[c] = rng_unit(&r) * 1000;
			cmul[c] = 0.5 + rng_unit(&r);
		}
		cadd[7] = cadd[3];
		cmul[7] = cmul[3];
		for (i = 0; i < AN; i++)
			factors[i] = (float) (0.1 + rng_unit(&r));
		factors[5] = NAN;
		embq_kmeans_assign_codes(rows, LDC, factors, AN, cq, LDQ, cadd, cmul, AK, AD, dots, got);
		for (i = 0; i < AN; i++)
		{
			double		best = INFINITY;
			int			besti = 0;

			for (c = 0; c < AK; c++)
			{
				int64_t		dot = 0;
				double		key;

				for (j = 0; j < AD; j++)
					dot += (int64_t) rows[i * LDC + j] * cq[c * LDQ + j];
				key = cadd[c] - (double) factors[i] * cmul[c] * (double) dot;
				if (key < best)
				{
					best = key;
					besti = c;
				}
			}
			if (got[i] != besti || got[i] == 7)
				bad = 1;
		}
		CHECK(!bad && got[5] == 0, "kmeans assign_codes: assignments differ from the argmin of the key");
		free(rows);
		free(cq);
		free(dots);
	}

	/* n == k: every row becomes a centroid */
	embq_kmeans_train(x, K, DIM, K, 10, 0, 3, c2, work, NULL, NULL);
	for (c = 0; c < K; c++)
		cnorm[c] = embq_kernels()->f32_sqnorm(c2 + c * DIM, DIM);
	embq_kmeans_assign(x, K, c2, cnorm, K, DIM, assign);
	for (i = 0; i < K; i++)
		for (j = i + 1; j < K; j++)
			CHECK(assign[i] != assign[j], "kmeans n == k: rows %d and %d share a list", i, j);

	free(centres);
	free(x);
	free(c1);
	free(c2);
	free(cnorm);
	free(assign);
	free(work);
}

/* ---------------------------------------------------------------------
 * Main
 * ---------------------------------------------------------------------
 */

/* Run one group of tests and print how long it took and its counts. */
static void
run_group(const char *name, void (*fn) (void))
{
	clock_t		t0 = clock();
	long long	p0 = n_passed;
	long long	f0 = n_failed;

	fn();
	printf("%-28s %9lld passed %6lld failed  %6.2f s\n", name,
		   n_passed - p0, n_failed - f0,
		   (double) (clock() - t0) / CLOCKS_PER_SEC);
	fflush(stdout);
}

/* Run every test; exit status 1 when any check failed. */
int
main(void)
{
	init_variants();
	init_lengths();

	run_group("dispatch", test_dispatch);
	run_group("reduce_lanes", test_reduce_lanes);
	run_group("hamming/and_or/popcount", test_bytes);
	run_group("bits_float_dot/binarize", test_bitdims);
	run_group("i8_dot/i8_dot3", test_i8);
	run_group("plane_sums/bit_planes/i8_residual", test_masked);
	run_group("i8 large n", test_large_n);
	run_group("f32 kernels/i8_encode", test_float);
	run_group("i8_encode halves", test_encode_halves);
	run_group("embq_quantize_i8", test_quantize);
	run_group("text round-trip", test_roundtrip);
	run_group("all_finite", test_all_finite);
	run_group("f32_dot", test_f32_dot);
	run_group("f32_dots", test_f32_dots);
	run_group("f32_i8 items", test_f32_i8_items);
	run_group("i8_dots", test_i8_dots);
	run_group("nearest_key", test_nearest_key);
	run_group("hamming_nearest", test_hamming_nearest);
	run_group("kmeans", test_kmeans);

	printf("%lld passed, %lld failed\n", n_passed, n_failed);
	return n_failed ? 1 : 0;
}
