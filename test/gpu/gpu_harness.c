/*-------------------------------------------------------------------------
 *
 * gpu_harness.c
 *		Standalone tests of libembq_cuda.so (no PostgreSQL needed): every
 *		GPU kernel against the CPU kernels of src/ on random inputs of many
 *		shapes, plus timings against the device's copy bandwidth.
 *
 *	gpu_harness [--lib PATH] [--bench] [--small] [--only TEXT] [--verbose] [--seed N]
 *
 * The library is dlopened from --lib, else ../../cuda/libembq_cuda.so next
 * to this executable.  With no library or no usable GPU the harness prints
 * "skipped: no GPU (<reason>)" and "0 passed, 0 failed, N skipped" and
 * exits 0.
 *
 * What is checked (each a "case"):
 *  - probe and copy_bandwidth work; error paths return nonzero with a
 *	  message (bad metric, code size, k, query form, n < k);
 *  - assign == the CPU's nearest_list (re-implemented here from
 *	  src/codedist.h, as ivfint8.c needs PostgreSQL) for every row, for
 *	  hamming / bit-ip / L2 / IP / cosine, dims 1 .. 64000, shapes with
 *	  n = 1, k > n, ties (duplicate centroids, codes equal to centroids),
 *	  empty lists, zero-scale codes, equal scales, several device batches;
 *  - topk: the k nearest against a CPU reference built from the CPU
 *	  kernels (exact_distance), distances rounded to float and ranked by
 *	  (distance, index).  Integer-based distances (hamming, int8 x int8)
 *	  must match exactly, ids included; float-query distances must match
 *	  within float32 rounding (relative 1e-5) as multisets, every returned
 *	  id must be a code with that distance, ids unique, and the -1 tail
 *	  must be where the CPU has one; how many queries matched bit for bit
 *	  is reported;
 *  - kmeans: the initial centroids (max_iters = 0) equal the CPU's
 *	  exactly; after training, GPU and CPU centroids give inertia within
 *	  1% on clustered data; degenerate data (re-seeding) works.
 * Timings: each kernel on a moderate size, achieved GB/s against the
 * measured device copy bandwidth; --bench adds the big sizes (hamming
 * top-k over 10M bitvec(1024) codes for 1, 16 and 256 queries, etc.).
 *
 * The last line is "N passed, N failed" (plus ", N skipped" when
 * skipping); the exit status is 1 when a case failed.
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE

#include <dlfcn.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../src/kernels.h"
#include "../../src/codedist.h"
#include "../../src/kmeans.h"
#include "../../cuda/embq_gpu.h"
#include "../../cuda/embq_gpu_ext.h"

#define M_HAM	EMBQ_GPU_METRIC_HAMMING
#define M_BITIP EMBQ_GPU_METRIC_BIT_IP
#define M_L2	EMBQ_GPU_METRIC_L2
#define M_IP	EMBQ_GPU_METRIC_IP
#define M_COS	EMBQ_GPU_METRIC_COSINE

static const EmbqGpuApi *api;
static const EmbqGpuApiExt *ext;	/* NULL when the library has no extension */

/* Present only in the CPU emulation of the library (test/gpu/emu). */
static size_t (*emu_device_bytes) (void);
static void (*emu_fail_after) (long n);
static long (*emu_failures) (void);
static EmbqGpuDevice device;
static double copy_bw;			/* bytes/s, read + write */

static int	dry_run;			/* counting cases only (no GPU) */
static long assign_cases_with_empty;	/* assign cases where some list got no row */
static long assign_cases_full;	/* assign cases checked on every row */
static int	verbose;
static int	small_mode;			/* --small: no timed or big cases (the emulator) */
static const char *only;		/* --only S: just the cases whose name contains S */
static long n_passed,
			n_failed,
			n_skipped;
static char case_name[256];
static uint64_t base_seed = UINT64_C(0x67707568726e6573);

/* ------------------------------------------------------------- plumbing */

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *
xmalloc(size_t n)
{
	void	   *p = malloc(n ? n : 1);

	if (p == NULL)
	{
		fprintf(stderr, "out of memory (%zu bytes)\n", n);
		exit(2);
	}
	return p;
}

static void *
xcalloc(size_t n, size_t size)
{
	void	   *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
	{
		fprintf(stderr, "out of memory (%zu x %zu bytes)\n", n, size);
		exit(2);
	}
	return p;
}

/* Start a case: 0 in a dry run (the case counts as skipped). */
static int
begin_case(const char *fmt,...)
{
	va_list		ap;

	if (dry_run)
	{
		n_skipped++;
		return 0;
	}
	va_start(ap, fmt);
	vsnprintf(case_name, sizeof(case_name), fmt, ap);
	va_end(ap);
	return only == NULL || strstr(case_name, only) != NULL;
}

static void
case_pass(void)
{
	n_passed++;
	if (verbose)
		printf("ok: %s\n", case_name);
}

static void
case_fail(const char *fmt,...)
{
	va_list		ap;

	n_failed++;
	printf("FAIL: %s: ", case_name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* After every call: its timing, and (emulator) that no device memory is left. */
static void
last_timing(EmbqGpuTiming *t)
{
	memset(t, 0, sizeof(*t));
	if (ext != NULL)
		ext->last_timing(t);
	if (emu_device_bytes != NULL && emu_device_bytes() != 0)
		case_fail("%zu bytes of device memory left allocated after the call",
				  emu_device_bytes());
}

/* One timing line: kernel time, GB/s of kernel_bytes, share of the copy bandwidth. */
static void
print_timing(const char *what, const EmbqGpuTiming *t, double extra_rate, const char *rate_unit)
{
	double		gbs = t->kernel_s > 0 ? (double) t->kernel_bytes / t->kernel_s / 1e9 : 0;

	printf("time: %-58s total %9.3f ms, kernels %9.3f ms (upload %8.3f, prep %7.3f, "
		   "host %7.3f), %8.1f GB/s = %5.1f%% of copy bw",
		   what, t->total_s * 1e3, t->kernel_s * 1e3, t->upload_s * 1e3, t->prep_s * 1e3,
		   t->host_s * 1e3, gbs, copy_bw > 0 ? 100.0 * gbs * 1e9 / copy_bw : 0);
	if (extra_rate > 0)
		printf(", %.1f %s", extra_rate, rate_unit);
	printf("\n");
	fflush(stdout);
}

/* ------------------------------------------------------------------ data */

static uint64_t
rnd(uint64_t *s)
{
	uint64_t	z = (*s += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/*
 * Roughly normal: (sum of four 16-bit uniforms - 2) * sqrt(3), one
 * generator step per value (test data only needs the shape).
 */
static double
rnd_gauss(uint64_t *s)
{
	uint64_t	v = rnd(s);
	double		u = 0;

	for (int i = 0; i < 4; i++)
		u += ((v >> (16 * i)) & 0xFFFF) * (1.0 / 65536.0);
	return (u - 2.0) * 1.7320508075688772;
}

static int
is_bit_metric(int metric)
{
	return metric == M_HAM || metric == M_BITIP;
}

static int
code_size(int metric, int dims)
{
	return is_bit_metric(metric) ? (dims + 7) / 8 : 4 + dims;
}

static float
code_scale(const uint8_t *c)
{
	float		s;

	memcpy(&s, c, sizeof(s));
	return s;
}

/* Clear the padding bits of a packed bit code. */
static void
fix_bit_padding(uint8_t *c, int dims)
{
	if (dims % 8)
		c[dims / 8] &= (uint8_t) (0xFF << (8 - dims % 8));
}

/* A float vector as a code (bits: x > 0; i8: absmax quantization). */
static void
floats_to_code(int metric, int dims, const float *x, uint8_t *code)
{
	if (is_bit_metric(metric))
		embq_kernels()->binarize(x, NULL, dims, code);
	else
	{
		float		s = embq_quantize_i8(x, dims, (int8_t *) (code + 4));

		memcpy(code, &s, 4);
	}
}

static void
rnd_floats(uint64_t *s, float *x, int dims)
{
	for (int j = 0; j < dims; j++)
		x[j] = (float) rnd_gauss(s);
}

/*
 * n codes of a flavor:
 *	0 random: independent random vectors;
 *	1 clustered: noisy copies of nc centers (given as floats);
 *	2 equal scales (i8): random int8 codes, every scale 0.0125;
 *	3 with zeros: like clustered, every 7th code the zero vector (scale 0).
 */
static void
gen_codes(int metric, int dims, int flavor, size_t n, const float *centers, int nc,
		  uint64_t *s, uint8_t *out)
{
	int			cs = code_size(metric, dims);
	float	   *x = xmalloc(sizeof(float) * dims);

	for (size_t i = 0; i < n; i++)
	{
		uint8_t    *c = out + i * cs;

		if (flavor == 2 && !is_bit_metric(metric))
		{
			float		sc = 0.0125f;

			memcpy(c, &sc, 4);
			for (int j = 0; j < dims; j++)
				c[4 + j] = (uint8_t) (int8_t) ((int) (rnd(s) % 255) - 127);
			continue;
		}
		if (flavor == 0 && is_bit_metric(metric))
		{
			for (int j = 0; j < cs; j++)
				c[j] = (uint8_t) rnd(s);
			fix_bit_padding(c, dims);
			continue;
		}
		if (flavor == 3 && i % 7 == 3)
		{
			memset(c, 0, cs);
			continue;
		}
		if ((flavor == 1 || flavor == 3) && nc > 0)
		{
			const float *ctr = centers + (rnd(s) % nc) * dims;

			for (int j = 0; j < dims; j++)
				x[j] = ctr[j] + 0.35f * (float) rnd_gauss(s);
		}
		else
			rnd_floats(s, x, dims);
		floats_to_code(metric, dims, x, c);
		if (is_bit_metric(metric))
			fix_bit_padding(c, dims);
	}
	free(x);
}

/* ---------------------------------------------------- CPU reference */

/* I8CodeDistance (src/ivfint8.c) */
static double
cpu_code_dist(int metric, int dims, int cs, const uint8_t *a, const uint8_t *b)
{
	const EmbqKernels *k = embq_kernels();
	const int8_t *ca = (const int8_t *) (a + 4),
			   *cb = (const int8_t *) (b + 4);
	double		d;

	switch (metric)
	{
		case M_HAM:
		case M_BITIP:
			return (double) k->hamming(a, b, cs);
		case M_L2:
			return embq_i8_l2sq(k, code_scale(a), ca, code_scale(b), cb, dims);
		case M_IP:
			return -embq_i8_ip(k, code_scale(a), ca, code_scale(b), cb, dims);
		case M_COS:
			d = embq_i8_cosine(k, code_scale(a), ca, code_scale(b), cb, dims);
			return isnan(d) ? INFINITY : d;
	}
	abort();
}

/* the index kind's nearest_list */
static int32_t
cpu_nearest(int metric, int dims, int cs, const uint8_t *code, const uint8_t *cents, size_t k)
{
	double		best = INFINITY;
	int32_t		besti = 0;

	for (size_t i = 0; i < k; i++)
	{
		double		d = cpu_code_dist(metric, dims, cs, code, cents + i * cs);

		if (d < best)
		{
			best = d;
			besti = (int32_t) i;
		}
	}
	return besti;
}

/* exact_distance: code query (qf NULL) or float query */
static double
cpu_exact(int metric, int dims, int cs, const uint8_t *qcode, const float *qf, double qq,
		  const uint8_t *code)
{
	const EmbqKernels *k = embq_kernels();
	const int8_t *c = (const int8_t *) (code + 4);
	double		d;

	if (qf == NULL)
	{
		d = cpu_code_dist(metric, dims, cs, qcode, code);
		return metric == M_L2 ? sqrt(d) : d;
	}
	switch (metric)
	{
		case M_BITIP:
			return -k->bits_float_dot(code, qf, dims);
		case M_L2:
			return sqrt(k->f32_i8_l2sq(qf, c, code_scale(code), dims));
		case M_IP:
			return -(double) code_scale(code) * k->f32_i8_dot(qf, c, dims);
		case M_COS:
			d = embq_query_i8_cosine(k, qf, qq, code_scale(code), c, dims);
			return isnan(d) ? INFINITY : d;
	}
	abort();
}

/* The float the GPU reports: rounded, NaN as +inf, -0 as +0. */
static float
as_result(double d)
{
	float		f = (float) d;

	if (isnan(f))
		f = INFINITY;
	if (f == 0)
		f = 0.0f;
	return f;
}

typedef struct
{
	float		d;
	int64_t		i;
} Hit;

static int
hit_cmp(const void *a, const void *b)
{
	const Hit  *x = a,
			   *y = b;

	if (x->d != y->d)
		return x->d < y->d ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* ---------------------------------------------------------------- errors */

static void
test_errors(void)
{
	char		err[256];
	int32_t		out[4];
	float		od[4];
	int64_t		oi[4];
	uint8_t		codes[64] = {0};
	EmbqGpuTiming t;
	float		x[16] = {0};
	float		cents[16];
	int			rc;

	if (begin_case("error: unknown metric"))
	{
		err[0] = 0;
		rc = api->assign(9, 8, 1, codes, 2, codes, 1, out, err, sizeof(err));
		last_timing(&t);
		if (rc != 0 && err[0])
			case_pass();
		else
			case_fail("rc %d, err '%s'", rc, err);
	}
	if (begin_case("error: code size does not match dims"))
	{
		err[0] = 0;
		rc = api->assign(M_L2, 8, 8, codes, 2, codes, 1, out, err, sizeof(err));
		last_timing(&t);
		if (rc != 0 && err[0])
			case_pass();
		else
			case_fail("rc %d, err '%s'", rc, err);
	}
	if (begin_case("error: topk k out of range"))
	{
		int			ok = 1;

		err[0] = 0;
		rc = api->topk(M_HAM, 0, 8, 1, codes, 4, codes, NULL, 1, 0, od, oi, err, sizeof(err));
		last_timing(&t);
		ok &= rc != 0 && err[0];
		err[0] = 0;
		rc = api->topk(M_HAM, 0, 8, 1, codes, 4, codes, NULL, 1, EMBQ_GPU_MAX_TOPK + 1, od, oi,
					   err, sizeof(err));
		last_timing(&t);
		ok &= rc != 0 && err[0];
		if (ok)
			case_pass();
		else
			case_fail("k = 0 or k > max accepted");
	}
	if (begin_case("error: hamming with float queries, L2 without float queries"))
	{
		int			ok = 1;

		err[0] = 0;
		rc = api->topk(M_HAM, 1, 8, 1, codes, 4, NULL, x, 1, 1, od, oi, err, sizeof(err));
		last_timing(&t);
		ok &= rc != 0 && err[0];
		err[0] = 0;
		rc = api->topk(M_L2, 1, 8, 12, codes, 4, codes, NULL, 1, 1, od, oi, err, sizeof(err));
		last_timing(&t);
		ok &= rc != 0 && err[0];
		if (ok)
			case_pass();
		else
			case_fail("accepted a wrong query form");
	}
	if (begin_case("error: kmeans with n < k"))
	{
		err[0] = 0;
		rc = api->kmeans_train(x, 2, 4, 3, 5, 0, 1, cents, err, sizeof(err));
		last_timing(&t);
		if (rc != 0 && err[0])
			case_pass();
		else
			case_fail("rc %d, err '%s'", rc, err);
	}
}

/* ---------------------------------------------------------------- assign */

static const char *
metric_name(int m)
{
	switch (m)
	{
		case M_HAM:
			return "hamming";
		case M_BITIP:
			return "bit_ip";
		case M_L2:
			return "l2";
		case M_IP:
			return "ip";
		case M_COS:
			return "cosine";
	}
	return "?";
}

static const char *flavor_names[] = {"random", "clustered", "equal-scales", "zeros"};

/*
 * One assign case.  Centroids: nc cluster centers, then duplicates of some
 * (ties), codes copied verbatim (distance-0 ties), far random codes
 * (lists nobody is nearest to), a zero code for the zero flavor.
 */
static void
case_assign(int metric, int dims, size_t n, size_t k, int flavor, size_t max_batch,
			int sample, int timed)
{
	uint64_t	s = base_seed ^ (uint64_t) (metric * 1000003 + dims * 7919 + n * 31 + k + flavor * 17);
	int			cs = code_size(metric, dims);
	int			nc = (int) (k / 3 > 0 ? k / 3 : 1);
	float	   *centers;
	uint8_t    *codes,
			   *cents;
	int32_t    *gpu;
	char		err[256] = "";
	size_t		checked = 0,
				bad = 0,
				empty = 0,
				first_bad = 0;
	char		batch_env[32];
	int			rc;
	size_t	   *used;
	EmbqGpuTiming t;

	if (flavor == 2 && is_bit_metric(metric))
		flavor = 0;
	if (small_mode && (timed || sample))
		return;
	if (!begin_case("assign %s dims=%d n=%zu k=%zu %s%s", metric_name(metric), dims, n, k,
					flavor_names[flavor], max_batch ? " (small batches)" : ""))
		return;
	centers = xmalloc(sizeof(float) * (size_t) nc * dims);
	for (int c = 0; c < nc; c++)
		rnd_floats(&s, centers + (size_t) c * dims, dims);
	codes = xmalloc((size_t) n * cs);
	cents = xmalloc((size_t) k * cs);
	gpu = xmalloc(sizeof(int32_t) * n);
	gen_codes(metric, dims, flavor, n, centers, nc, &s, codes);
	for (size_t c = 0; c < k; c++)
	{
		uint8_t    *dst = cents + c * cs;

		if (c < (size_t) nc)
			floats_to_code(metric, dims, centers + c * dims, dst);
		else if (c % 4 == 0)
			memcpy(dst, cents + (rnd(&s) % nc) * cs, cs);	/* duplicate centroid */
		else if (c % 4 == 1)
			memcpy(dst, codes + (rnd(&s) % n) * cs, cs);	/* a code itself */
		else if (c % 4 == 2 && flavor == 3)
			memset(dst, 0, cs);
		else
			gen_codes(metric, dims, 0, 1, NULL, 0, &s, dst);	/* far away */
		if (is_bit_metric(metric))
			fix_bit_padding(dst, dims);
	}

	if (max_batch)
	{
		snprintf(batch_env, sizeof(batch_env), "%zu", max_batch);
		setenv(EMBQ_GPU_ENV_MAX_BATCH, batch_env, 1);
	}
	memset(gpu, 0xAB, sizeof(int32_t) * n);
	rc = api->assign(metric, dims, cs, codes, n, cents, k, gpu, err, sizeof(err));
	last_timing(&t);
	if (max_batch)
		unsetenv(EMBQ_GPU_ENV_MAX_BATCH);
	if (rc != 0)
	{
		case_fail("assign failed: %s", err);
		goto done;
	}
	used = xcalloc(k, sizeof(size_t));
	for (size_t i = 0; i < n; i++)
	{
		size_t		row = sample ? (size_t) (rnd(&s) % n) : i;
		int32_t		want;

		if (sample && checked >= (size_t) sample)
			break;
		want = cpu_nearest(metric, dims, cs, codes + row * cs, cents, k);
		checked++;
		if (gpu[row] != want)
		{
			if (bad++ == 0)
				first_bad = row;
		}
		if (!sample && gpu[row] >= 0 && (size_t) gpu[row] < k)
			used[gpu[row]]++;
	}
	if (!sample)
		for (size_t c = 0; c < k; c++)
			empty += used[c] == 0;
	if (empty > 0)
		assign_cases_with_empty++;
	if (!sample)
		assign_cases_full++;
	free(used);
	if (bad)
		case_fail("%zu of %zu rows differ; first row %zu: gpu %d, cpu %d", bad, checked,
				  first_bad, gpu[first_bad],
				  cpu_nearest(metric, dims, cs, codes + first_bad * cs, cents, k));
	else
	{
		case_pass();
		if (verbose && !sample)
			printf("     %zu rows equal, %zu of %zu lists empty, %d batch(es)\n", checked, empty,
				   k, t.batches);
	}
	if (timed)
	{
		char		what[160];

		snprintf(what, sizeof(what), "assign %s dims=%d n=%zu k=%zu", metric_name(metric),
				 dims, n, k);
		print_timing(what, &t, t.kernel_s > 0 ? n / t.kernel_s / 1e6 : 0, "M rows/s");
	}
done:
	free(centers);
	free(codes);
	free(cents);
	free(gpu);
}

static void
test_assign(int bench)
{
	static const int bit_dims[] = {1, 7, 31, 33, 100, 383, 1023, 1024, 1025, 8191};
	static const int i8_dims[] = {1, 7, 31, 33, 100, 383, 1023, 1024, 1025};
	static const int metrics[] = {M_HAM, M_BITIP, M_L2, M_IP, M_COS};

	for (int mi = 0; mi < 5; mi++)
	{
		int			m = metrics[mi];
		int			bits = is_bit_metric(m);
		const int  *dl = bits ? bit_dims : i8_dims;
		int			nd = bits ? 10 : 9;

		for (int di = 0; di < nd; di++)
		{
			int			d = dl[di];

			case_assign(m, d, 1, 1, 0, 0, 0, 0);
			case_assign(m, d, 1, 40, 1, 0, 0, 0);
			case_assign(m, d, 5, 37, 1, 0, 0, 0);	/* k > n */
			case_assign(m, d, 1500, 60, 1, 0, 0, 0);
			case_assign(m, d, 700, 33, bits ? 0 : 2, 0, 0, 0);
			if (!bits)
				case_assign(m, d, 700, 45, 3, 0, 0, 0);
		}
		case_assign(m, bits ? 64000 : 8000, 300, 20, 1, 0, 0, 0);
		case_assign(m, bits ? 100 : 33, 5000, 129, 1, 777, 0, 0);	/* several batches */
	}
	if (assign_cases_full > 0)
		printf("assign: %ld of %ld cases had lists that no row is nearest to\n",
			   assign_cases_with_empty, assign_cases_full);
	/* timed: an index build's batch */
	case_assign(M_L2, 1024, 65536, 1024, 1, 0, 1000, 1);
	case_assign(M_HAM, 1024, 65536, 1024, 1, 0, 1000, 1);
	if (bench)
	{
		case_assign(M_L2, 1024, 1000000, 4096, 1, 0, 300, 1);
		case_assign(M_COS, 768, 1000000, 4096, 1, 0, 300, 1);
		case_assign(M_HAM, 1024, 4000000, 4096, 1, 0, 300, 1);
	}
}

/* ------------------------------------------------------------------ topk */

/* What kind of query a case sends. */
enum
{
	Q_CODES,					/* code queries (asymmetric = 0) */
	Q_FLOATS					/* float queries (BIT_IP, or asymmetric = 1) */
};

/*
 * Check one query's GPU top-k against the CPU's full distance list.
 * exact: ids and distances must be equal; else the tolerant rules.
 * Returns 1 when acceptable; *bitexact says whether it was exact.
 */
static int
check_query(const float *gd, const int64_t *gi, const Hit *ref, size_t n, int k,
			const float *alld, int exact, int *bitexact, char *why, size_t whylen)
{
	int			same = 1;
	double		mag = 0;
	int64_t    *ids;
	int			nid = 0;

	for (int t = 0; t < k; t++)
	{
		float		cd = t < (int) n ? ref[t].d : INFINITY;
		int64_t		ci = t < (int) n ? ref[t].i : -1;

		if (gi[t] != ci || !(gd[t] == cd || (isinf(gd[t]) && isinf(cd) && gd[t] == cd)))
		{
			same = 0;
			if (exact)
			{
				snprintf(why, whylen, "rank %d: gpu (%.9g, %lld), cpu (%.9g, %lld)", t,
						 gd[t], (long long) gi[t], cd, (long long) ci);
				*bitexact = 0;
				return 0;
			}
		}
	}
	*bitexact = same;
	if (same)
		return 1;

	/* tolerant: distances within float32 rounding, ids legitimate */
	for (size_t i = 0; i < n; i++)
		if (isfinite(alld[i]) && fabs(alld[i]) > mag)
			mag = fabs(alld[i]);
	ids = xmalloc(sizeof(int64_t) * k);
	for (int t = 0; t < k; t++)
	{
		float		cd = t < (int) n ? ref[t].d : INFINITY;
		int64_t		ci = t < (int) n ? ref[t].i : -1;
		double		tol = 1e-5 * (fabs(cd) + fabs(gd[t])) / 2 + 1e-7 * mag;

		if ((gi[t] < 0) != (ci < 0))
		{
			snprintf(why, whylen, "rank %d: gpu id %lld, cpu id %lld", t, (long long) gi[t],
					 (long long) ci);
			free(ids);
			return 0;
		}
		if (gi[t] < 0)
			continue;
		if (gi[t] >= (int64_t) n)
		{
			snprintf(why, whylen, "rank %d: id %lld out of range", t, (long long) gi[t]);
			free(ids);
			return 0;
		}
		if (!(isinf(cd) && isinf(gd[t]) && cd == gd[t]) && !(fabs((double) gd[t] - cd) <= tol))
		{
			snprintf(why, whylen, "rank %d: gpu distance %.9g, cpu %.9g", t, gd[t], cd);
			free(ids);
			return 0;
		}
		{
			float		own = alld[gi[t]];

			if (!(isinf(own) && isinf(gd[t]) && own == gd[t]) &&
				!(fabs((double) gd[t] - own) <= tol))
			{
				snprintf(why, whylen, "rank %d: id %lld has cpu distance %.9g, gpu says %.9g",
						 t, (long long) gi[t], own, gd[t]);
				free(ids);
				return 0;
			}
		}
		for (int u = 0; u < nid; u++)
			if (ids[u] == gi[t])
			{
				snprintf(why, whylen, "id %lld returned twice", (long long) gi[t]);
				free(ids);
				return 0;
			}
		ids[nid++] = gi[t];
	}
	free(ids);
	return 1;
}

/*
 * One topk case.  qmode: Q_CODES or Q_FLOATS.  Some queries are copies of
 * codes (distance-0 ties), one float query is zero for cosine.  verify_q:
 * how many queries to check on the CPU (0: all).
 */
static void
case_topk(int metric, int qmode, int dims, size_t n, size_t nq, int k, int flavor,
		  size_t max_batch, int verify_q, int timed, const uint8_t *given_codes)
{
	uint64_t	s = base_seed ^ (uint64_t) (metric * 7 + qmode * 1000003 + dims * 131 + n * 17 +
										  nq * 3 + k * 101 + flavor);
	int			cs = code_size(metric, dims);
	int			asym = qmode == Q_FLOATS;
	int			exact_required = qmode == Q_CODES;
	int			nc = 16;
	float	   *centers,
			   *qf = NULL,
			   *alld = NULL,
			   *gd;
	uint8_t    *codes,
			   *qc = NULL;
	int64_t    *gi;
	Hit		   *ref = NULL;
	char		err[256] = "",
				why[256] = "",
				batch_env[32];
	int			rc,
				bad = 0,
				exact_count = 0,
				checked = 0;
	EmbqGpuTiming t;

	if (small_mode && (timed || verify_q || given_codes))
		return;
	if (!begin_case("topk %s %s dims=%d n=%zu nq=%zu k=%d %s%s", metric_name(metric),
					qmode == Q_CODES ? "codes" : "floats", dims, n, nq, k, flavor_names[flavor],
					max_batch ? " (small batches)" : ""))
		return;
	centers = xmalloc(sizeof(float) * nc * dims);
	for (int c = 0; c < nc; c++)
		rnd_floats(&s, centers + (size_t) c * dims, dims);
	if (given_codes)
		codes = (uint8_t *) given_codes;
	else
	{
		codes = xmalloc(n * cs + 1);
		gen_codes(metric, dims, flavor, n, centers, nc, &s, codes);
	}
	if (qmode == Q_CODES)
	{
		qc = xmalloc(nq * cs);
		for (size_t q = 0; q < nq; q++)
		{
			if (n > 0 && q % 3 == 1)
				memcpy(qc + q * cs, codes + (rnd(&s) % n) * cs, cs);
			else
				gen_codes(metric, dims, flavor == 2 ? 2 : 1, 1, centers, nc, &s, qc + q * cs);
		}
	}
	else
	{
		qf = xmalloc(sizeof(float) * nq * dims);
		for (size_t q = 0; q < nq; q++)
		{
			float	   *x = qf + q * dims;
			const float *ctr = centers + (rnd(&s) % nc) * dims;

			for (int j = 0; j < dims; j++)
				x[j] = ctr[j] + 0.35f * (float) rnd_gauss(&s);
			if (q == 2 && metric == M_COS)
				memset(x, 0, sizeof(float) * dims);	/* zero query: all NaN -> +inf */
		}
	}
	gd = xmalloc(sizeof(float) * nq * k);
	gi = xmalloc(sizeof(int64_t) * nq * k);

	if (max_batch)
	{
		snprintf(batch_env, sizeof(batch_env), "%zu", max_batch);
		setenv(EMBQ_GPU_ENV_MAX_BATCH, batch_env, 1);
	}
	rc = api->topk(metric, asym, dims, cs, codes, n, qc, qf, nq, k, gd, gi, err, sizeof(err));
	last_timing(&t);
	if (max_batch)
		unsetenv(EMBQ_GPU_ENV_MAX_BATCH);
	if (rc != 0)
	{
		case_fail("topk failed: %s", err);
		goto done;
	}

	ref = xmalloc(sizeof(Hit) * (n ? n : 1));
	alld = xmalloc(sizeof(float) * (n ? n : 1));
	for (size_t qi = 0; qi < nq; qi++)
	{
		size_t		q = verify_q ? (qi * 7919) % nq : qi;
		const float *qv = qf ? qf + q * dims : NULL;
		double		qq = qv ? embq_kernels()->f32_sqnorm(qv, dims) : 0;
		int			be = 0;

		if (verify_q && checked >= verify_q)
			break;
		for (size_t i = 0; i < n; i++)
		{
			alld[i] = as_result(cpu_exact(metric, dims, cs, qc ? qc + q * cs : NULL, qv, qq,
										  codes + i * cs));
			ref[i].d = alld[i];
			ref[i].i = (int64_t) i;
		}
		qsort(ref, n, sizeof(Hit), hit_cmp);
		checked++;
		if (!check_query(gd + q * k, gi + q * k, ref, n, k, alld, exact_required, &be,
						 why, sizeof(why)))
		{
			if (bad++ == 0)
				case_fail("query %zu: %s", q, why);
		}
		exact_count += be;
	}
	if (!bad)
		case_pass();
	if (verbose || (!exact_required && exact_count < checked))
		printf("     %s: %d of %d queries bit-exact, %d pass(es), %d batch(es)\n", case_name,
			   exact_count, checked, t.passes, t.batches);
	if (timed)
	{
		char		what[160];

		snprintf(what, sizeof(what), "topk %s %s dims=%d n=%zu nq=%zu k=%d", metric_name(metric),
				 qmode == Q_CODES ? "codes" : "floats", dims, n, nq, k);
		print_timing(what, &t, t.kernel_s > 0 ? nq / t.kernel_s : 0, "queries/s (kernels)");
		printf("      end to end %.1f queries/s; upload %.3f ms for %.1f MB, %d selection pass(es)\n",
			   t.total_s > 0 ? nq / t.total_s : 0, t.upload_s * 1e3, t.upload_bytes / 1e6,
			   t.passes);
	}
done:
	free(centers);
	if (!given_codes)
		free(codes);
	free(qc);
	free(qf);
	free(gd);
	free(gi);
	free(ref);
	free(alld);
}

static void
test_topk(int bench)
{
	static const int dims_list[] = {1, 7, 31, 33, 100, 383, 1023, 1024, 1025};
	struct
	{
		int			metric;
		int			qmode;
	}			forms[] = {
		{M_HAM, Q_CODES}, {M_BITIP, Q_FLOATS}, {M_BITIP, Q_CODES},
		{M_L2, Q_CODES}, {M_IP, Q_CODES}, {M_COS, Q_CODES},
		{M_L2, Q_FLOATS}, {M_IP, Q_FLOATS}, {M_COS, Q_FLOATS},
	};

	for (int f = 0; f < 9; f++)
	{
		int			m = forms[f].metric,
					qm = forms[f].qmode;
		int			bits = is_bit_metric(m);

		for (int di = 0; di < 9; di++)
		{
			int			d = dims_list[di];

			case_topk(m, qm, d, 0, 3, 5, 0, 0, 0, 0, NULL);	/* n == 0 */
			case_topk(m, qm, d, 1, 1, 1, 0, 0, 0, 0, NULL);	/* n == 1 */
			case_topk(m, qm, d, 6, 3, 10, 1, 0, 0, 0, NULL);	/* n < k */
			case_topk(m, qm, d, 3000, 5, 10, 1, 0, 0, 0, NULL);
			case_topk(m, qm, d, 2000, 17, 100, bits ? 1 : 3, 0, 0, 0, NULL);
		}
		/* big k, multiple chunks and merge passes, batches, big dims */
		case_topk(m, qm, 100, 5000, 4, 1024, 1, 0, 0, 0, NULL);
		case_topk(m, qm, 64, 40000, 9, EMBQ_GPU_MAX_TOPK, 1, 0, 0, 0, NULL);
		case_topk(m, qm, 33, 70000, 2, 7, 1, 0, 0, 0, NULL);
		case_topk(m, qm, 33, 9000, 3, 20, 1, 2500, 0, 0, NULL);
		case_topk(m, qm, bits ? 64000 : 8000, 500, 3, 10, 1, 0, 0, 0, NULL);
		if (!bits && qm == Q_CODES)
			case_topk(m, qm, 100, 3000, 6, 10, 2, 0, 0, 0, NULL);	/* equal scales */
	}
	/* many queries: several query groups */
	case_topk(M_HAM, Q_CODES, 256, 20000, 70, 10, 1, 0, 0, 0, NULL);
	case_topk(M_L2, Q_CODES, 96, 20000, 33, 10, 1, 0, 0, 0, NULL);

	/* timed, moderate sizes */
	case_topk(M_HAM, Q_CODES, 1024, 1000000, 16, 10, 0, 0, 2, 1, NULL);
	case_topk(M_L2, Q_FLOATS, 1024, 200000, 16, 10, 1, 0, 2, 1, NULL);
	case_topk(M_COS, Q_CODES, 768, 200000, 16, 10, 1, 0, 2, 1, NULL);

	if (bench)
	{
		/* hamming over 10M bitvec(1024) codes: 1, 16 and 256 queries */
		const size_t n = 10000000;
		const int	cs = 128;
		uint8_t    *codes = dry_run ? NULL : xmalloc(n * cs);
		uint64_t	s = base_seed ^ 0x10;

		if (!dry_run)
			for (size_t i = 0; i < n * cs / 8; i++)
			{
				uint64_t	v = rnd(&s);

				memcpy(codes + i * 8, &v, 8);
			}
		for (int r = 0; r < 2; r++)
		{
			/* the first round warms up (and is checked); the second is reported */
			case_topk(M_HAM, Q_CODES, 1024, n, 1, 10, 0, 0, 1, r, codes);
			case_topk(M_HAM, Q_CODES, 1024, n, 16, 10, 0, 0, 2, r, codes);
			case_topk(M_HAM, Q_CODES, 1024, n, 256, 10, 0, 0, 2, r, codes);
		}
		free(codes);
		case_topk(M_L2, Q_FLOATS, 1024, 1000000, 16, 10, 1, 0, 1, 1, NULL);
		case_topk(M_IP, Q_CODES, 1024, 1000000, 64, 100, 1, 0, 1, 1, NULL);
	}
}

/* ---------------------------------------------------------------- kmeans */

static double
inertia(const float *x, size_t n, size_t dim, const float *c, size_t k)
{
	double		total = 0;

	for (size_t i = 0; i < n; i++)
	{
		double		best = INFINITY;

		for (size_t j = 0; j < k; j++)
		{
			double		d = 0;

			for (size_t t = 0; t < dim; t++)
			{
				double		e = (double) x[i * dim + t] - c[j * dim + t];

				d += e * e;
			}
			if (d < best)
				best = d;
		}
		total += best;
	}
	return total;
}

/*
 * One k-means case: data from `clusters` gaussian blobs (unit rows when
 * spherical); distinct < 0 means only -distinct distinct rows (re-seeding).
 */
static void
case_kmeans(size_t n, size_t dim, size_t k, int iters, int spherical, int clusters,
			int timed, int cpu_check)
{
	uint64_t	s = base_seed ^ (uint64_t) (n * 31 + dim * 7 + k * 3 + iters + spherical * 1000);
	float	   *x,
			   *centers,
			   *cc,
			   *gc;
	void	   *work;
	char		err[256] = "";
	int			rc;
	EmbqGpuTiming t;
	int			distinct = clusters < 0 ? -clusters : 0;
	int			nclust = clusters < 0 ? -clusters : clusters;

	if (small_mode && (timed || !cpu_check))
		return;
	if (!begin_case("kmeans n=%zu dim=%zu k=%zu iters=%d%s%s", n, dim, k, iters,
					spherical ? " spherical" : "", distinct ? " degenerate" : ""))
		return;
	x = xmalloc(sizeof(float) * n * dim);
	centers = xmalloc(sizeof(float) * nclust * dim);
	cc = xmalloc(sizeof(float) * k * dim);
	gc = xmalloc(sizeof(float) * k * dim);
	for (int c = 0; c < nclust; c++)
		for (size_t j = 0; j < dim; j++)
			centers[c * dim + j] = (float) (3.0 * rnd_gauss(&s));
	for (size_t i = 0; i < n; i++)
	{
		float	   *row = x + i * dim;
		const float *ctr = centers + (rnd(&s) % nclust) * dim;

		for (size_t j = 0; j < dim; j++)
			row[j] = distinct ? ctr[j] : ctr[j] + (float) rnd_gauss(&s);
		if (spherical)
		{
			double		nn = sqrt(embq_kernels()->f32_sqnorm(row, dim));

			if (nn > 0)
				for (size_t j = 0; j < dim; j++)
					row[j] = (float) (row[j] / nn);
		}
	}

	rc = api->kmeans_train(x, n, dim, k, iters, spherical, 42, gc, err, sizeof(err));
	last_timing(&t);
	if (rc != 0)
	{
		case_fail("kmeans failed: %s", err);
		goto done;
	}
	for (size_t e = 0; e < k * dim; e++)
		if (!isfinite(gc[e]))
		{
			case_fail("centroid value %zu is not finite", e);
			goto done;
		}
	if (cpu_check)
	{
		work = xmalloc(embq_kmeans_workspace(n, dim, k));
		embq_kmeans_train(x, n, dim, k, iters, spherical, 42, cc, work, NULL, NULL);
		free(work);
		if (iters == 0)
		{
			if (memcmp(cc, gc, sizeof(float) * k * dim) != 0)
				case_fail("initial centroids differ from the cpu's");
			else
				case_pass();
		}
		else
		{
			double		ic = inertia(x, n, dim, cc, k),
						ig = inertia(x, n, dim, gc, k);

			if (fabs(ig - ic) <= 0.01 * ic + 1e-6 * n)
				case_pass();
			else
				case_fail("inertia gpu %.6g, cpu %.6g (%.2f%%)", ig, ic,
						  ic > 0 ? 100.0 * (ig - ic) / ic : 0);
			if (verbose)
				printf("     inertia gpu %.6g cpu %.6g, %d iterations on the gpu\n", ig, ic,
					   t.iterations);
		}
	}
	else
		case_pass();
	if (timed)
	{
		char		what[160];

		snprintf(what, sizeof(what), "kmeans n=%zu dim=%zu k=%zu (%d iterations)", n, dim, k,
				 t.iterations);
		print_timing(what, &t, t.kernel_s > 0 ?
					 2.0 * n * dim * k * t.iterations / t.kernel_s / 1e9 : 0,
					 "GFLOP/s (assignment GEMM)");
	}
done:
	free(x);
	free(centers);
	free(cc);
	free(gc);
}

static void
test_kmeans(int bench)
{
	static const size_t dims[] = {1, 7, 33, 100, 383, 1025};

	for (int di = 0; di < 6; di++)
	{
		size_t		d = dims[di];

		case_kmeans(500, d, 10, 0, 0, 10, 0, 1);	/* initial rows: exact */
		case_kmeans(3000, d, 12, 20, 0, 12, 0, 1);
		case_kmeans(3000, d, 12, 20, 1, 12, 0, 1);
	}
	case_kmeans(40, 9, 40, 10, 0, 5, 0, 1);	/* n == k */
	case_kmeans(1000, 16, 1, 10, 0, 3, 0, 1);	/* k == 1 */
	case_kmeans(2000, 20, 10, 10, 0, -3, 0, 1);	/* 3 distinct rows: re-seeding */
	case_kmeans(5000, 64, 200, 15, 1, 200, 0, 1);
	case_kmeans(6000, 24, 3, 20, 0, 3, 0, 1);	/* ~2000 rows a list: split sums */
	case_kmeans(20000, 128, 128, 10, 1, 128, 1, 1);
	if (bench)
	{
		case_kmeans(200000, 256, 1024, 20, 1, 1024, 1, 0);
		/* the largest sample an index build makes: 50 x 65536 rows x 1024 (13 GB) */
		case_kmeans(3276800, 1024, 65536, 1, 1, 4096, 1, 0);
	}
}


/* ------------------------------------------------------- fault injection */

/*
 * Emulator only: make the 1st, 2nd, ... runtime call of a scenario fail,
 * until the scenario runs through.  Every injected failure must come back
 * as a nonzero return with a message, and leave no device memory behind.
 */
static int
fault_call(int scenario, char *err, size_t errlen)
{
	static uint8_t *codes,
			   *qc;
	static float *qf,
			   *x;
	static int32_t out[3000];
	static float od[9 * 1024],
				cent[3 * 24];
	static int64_t oi[9 * 1024];
	uint64_t	s = 99;

	if (codes == NULL)
	{
		codes = xmalloc(5000 * 37);
		qc = xmalloc(9 * 37);
		qf = xmalloc(sizeof(float) * 9 * 33);
		x = xmalloc(sizeof(float) * 3000 * 24);
		gen_codes(M_L2, 33, 1, 3000, NULL, 0, &s, codes);
		gen_codes(M_L2, 33, 0, 9, NULL, 0, &s, qc);
		rnd_floats(&s, qf, 9 * 33);
		for (int i = 0; i < 3000 * 24; i++)
			x[i] = (float) rnd_gauss(&s) + (i / 24 % 3) * 5.0f;
	}
	switch (scenario)
	{
		case 0:
			return api->probe(&device, err, errlen);
		case 1:
			{
				double		bw;

				return api->copy_bandwidth(&bw, err, errlen);
			}
		case 2:
			setenv(EMBQ_GPU_ENV_MAX_BATCH, "700", 1);
			return api->assign(M_L2, 33, 37, codes, 3000, codes, 50, out, err, errlen);
		case 3:
			/* bits: 33 dims in 5 bytes; k = 1024 needs the merge passes */
			setenv(EMBQ_GPU_ENV_MAX_BATCH, "2000", 1);
			return api->topk(M_HAM, 0, 33, 5, codes, 5000, qc, NULL, 9, 1024, od, oi,
							 err, errlen);
		case 4:
			setenv(EMBQ_GPU_ENV_MAX_BATCH, "1000", 1);
			return api->topk(M_COS, 1, 33, 37, codes, 3000, NULL, qf, 3, 10, od, oi,
							 err, errlen);
		case 5:
			return api->kmeans_train(x, 3000, 24, 3, 5, 0, 7, cent, err, errlen);
	}
	return 0;
}

static void
test_faults(void)
{
	static const char *names[] = {"probe", "copy_bandwidth", "assign (batches)",
	"topk hamming k=1024 (batches, merge passes)", "topk cosine floats (batches)",
	"kmeans (split sums)"};

	if (emu_fail_after == NULL)
		return;
	for (int sc = 0; sc < 6; sc++)
	{
		int			points = 0,
					bad = 0;

		if (!begin_case("fault injection: %s", names[sc]))
			continue;
		for (long nth = 1; nth < 100000; nth++)
		{
			char		err[256] = "";
			long		before = emu_failures();
			int			rc;
			EmbqGpuTiming t;

			emu_fail_after(nth);
			rc = fault_call(sc, err, sizeof(err));
			emu_fail_after(0);
			unsetenv(EMBQ_GPU_ENV_MAX_BATCH);
			if (emu_failures() == before)
			{
				if (rc != 0)
				{
					case_fail("failed without an injected fault: %s", err);
					bad++;
				}
				break;			/* ran through: every call point was tried */
			}
			points++;
			if (rc == 0)
			{
				case_fail("call %ld failed, but the function returned success", nth);
				bad++;
				break;
			}
			if (err[0] == '\0' || strchr(err, '\n') != NULL)
			{
				case_fail("call %ld failed, but the message is '%s'", nth, err);
				bad++;
				break;
			}
			if (verbose)
				printf("     injected at call %ld: %s\n", nth, err);
			last_timing(&t);	/* leak check */
			if (emu_device_bytes() != 0)
			{
				bad++;
				break;
			}
		}
		if (!bad)
		{
			case_pass();
			printf("fault injection: %s: %d failure points, all reported, nothing leaked\n",
				   names[sc], points);
		}
	}
}

/* ---------------------------------------------------------------- main */

static void
test_device(void)
{
	char		err[256] = "";

	if (begin_case("probe"))
	{
		EmbqGpuDevice d;

		if (api->probe(&d, err, sizeof(err)) == 0 && d.name[0] && d.total_mem > 0)
			case_pass();
		else
			case_fail("probe: %s", err);
	}
	if (begin_case("copy_bandwidth"))
	{
		double		bw = 0;

		if (api->copy_bandwidth(&bw, err, sizeof(err)) == 0 && bw > 0)
		{
			copy_bw = bw;
			case_pass();
			printf("device: %s, compute %d.%d, %zu MiB (%zu free), runtime %d, driver %d\n",
				   device.name, device.cc_major, device.cc_minor, device.total_mem >> 20,
				   device.free_mem >> 20, device.runtime_version, device.driver_version);
			printf("copy bandwidth (device to device, read + write): %.1f GB/s\n", bw / 1e9);
		}
		else
			case_fail("copy_bandwidth: %s", err);
	}
}

static void
run_plan(int bench)
{
	test_device();
	test_errors();
	test_assign(bench);
	test_topk(bench);
	test_kmeans(bench);
	test_faults();
}

/* The library next to this executable: ../../cuda/libembq_cuda.so. */
static void
default_lib(char *buf, size_t len)
{
	char		exe[2048];
	ssize_t		r = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char	   *slash;

	if (r <= 0)
	{
		snprintf(buf, len, "../../cuda/libembq_cuda.so");
		return;
	}
	exe[r] = '\0';
	slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	snprintf(buf, len, "%s/../../cuda/libembq_cuda.so", exe);
}

static int
skip_all(const char *reason, int bench)
{
	printf("skipped: no GPU (%s)\n", reason);
	dry_run = 1;
	run_plan(bench);
	printf("0 passed, 0 failed, %ld skipped\n", n_skipped);
	return 0;
}

int
main(int argc, char **argv)
{
	char		lib[4096] = "";
	char		err[256] = "";
	char		reason[512];
	int			bench = 0;
	void	   *h;
	EmbqGpuApiFn fn;
	double		t0;

	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--lib") == 0 && i + 1 < argc)
			snprintf(lib, sizeof(lib), "%s", argv[++i]);
		else if (strcmp(argv[i], "--bench") == 0)
			bench = 1;
		else if (strcmp(argv[i], "--small") == 0)
			small_mode = 1;
		else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
			only = argv[++i];
		else if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0)
			verbose = 1;
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			base_seed = strtoull(argv[++i], NULL, 0);
		else
		{
			fprintf(stderr, "usage: %s [--lib PATH] [--bench] [--small] [--only TEXT] [--verbose] [--seed N]\n", argv[0]);
			return 2;
		}
	}
	if (!lib[0])
		default_lib(lib, sizeof(lib));
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("cpu kernels: %s; library: %s\n", embq_kernels()->name, lib);

	h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL)
	{
		snprintf(reason, sizeof(reason), "could not load the library: %s", dlerror());
		return skip_all(reason, bench);
	}
	fn = (EmbqGpuApiFn) dlsym(h, EMBQ_GPU_API_SYMBOL);
	if (fn == NULL || (api = fn()) == NULL)
	{
		snprintf(reason, sizeof(reason), "%s has no usable %s", lib, EMBQ_GPU_API_SYMBOL);
		return skip_all(reason, bench);
	}
	if (api->abi_version != EMBQ_GPU_ABI_VERSION)
	{
		snprintf(reason, sizeof(reason), "interface version %d, the harness needs %d",
				 api->abi_version, EMBQ_GPU_ABI_VERSION);
		return skip_all(reason, bench);
	}
	emu_device_bytes = (size_t (*) (void)) dlsym(h, "embq_emu_device_bytes");
	emu_fail_after = (void (*) (long)) dlsym(h, "embq_emu_fail_after");
	emu_failures = (long (*) (void)) dlsym(h, "embq_emu_failures");
	if (emu_device_bytes == NULL || emu_fail_after == NULL || emu_failures == NULL)
		emu_device_bytes = NULL, emu_fail_after = NULL, emu_failures = NULL;
	else
		printf("library is the CPU emulation: leak checks and fault injection on\n");
	ext = (const EmbqGpuApiExt *) api;
	if (ext->ext_magic != EMBQ_GPU_EXT_MAGIC || ext->ext_size < sizeof(EmbqGpuApiExt))
		ext = NULL;
	if (api->probe(&device, err, sizeof(err)) != 0)
		return skip_all(err[0] ? err : "probe failed", bench);
	if (ext == NULL)
		printf("note: the library has no timing extension; timings will read 0\n");

	t0 = now_s();
	run_plan(bench);
	printf("elapsed %.1f s\n", now_s() - t0);
	printf("%ld passed, %ld failed\n", n_passed, n_failed);
	return n_failed ? 1 : 0;
}
