/*-------------------------------------------------------------------------
 *
 * dispatch.c
 *		Run-time choice among the kernel variants, and the pieces every
 *		variant shares (lane reduction, bit-reversal table).
 *
 * The variant is picked once from CPUID and the OS's saved-state mask
 * (XCR0): a CPU may support AVX-512 while the kernel does not save its
 * registers, and then the AVX-512 variant must not run.
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <string.h>

#include "kernels_impl.h"

#ifdef EMBQ_X86
#include <cpuid.h>
#endif

/* Bit-reversal of every byte value. */
const uint8_t embq_rev8[256] = {
#define R2(n) n, n + 2 * 64, n + 1 * 64, n + 3 * 64
#define R4(n) R2(n), R2(n + 2 * 16), R2(n + 1 * 16), R2(n + 3 * 16)
#define R6(n) R4(n), R4(n + 2 * 4), R4(n + 1 * 4), R4(n + 3 * 4)
	R6(0), R6(2), R6(1), R6(3)
#undef R2
#undef R4
#undef R6
};

/* Pairwise reduction of the canonical lanes, in one fixed order. */
double
embq_reduce_lanes(const double *lanes)
{
	double		t[EMBQ_FLOAT_LANES];
	int			w,
				i;

	memcpy(t, lanes, sizeof(t));
	for (w = EMBQ_FLOAT_LANES / 2; w >= 1; w /= 2)
		for (i = 0; i < w; i++)
			t[i] = t[i] + t[i + w];
	return t[0];
}

#define EMBQ_VARIANT_TABLE(label, suffix) \
	{ \
		.name = label, \
		.hamming = embq_hamming_##suffix, \
		.and_or_count = embq_and_or_count_##suffix, \
		.popcount = embq_popcount_##suffix, \
		.hamming_nearest = embq_hamming_nearest_##suffix, \
		.bits_float_dot = embq_bits_float_dot_##suffix, \
		.i8_dot = embq_i8_dot_##suffix, \
		.plane_sums = embq_plane_sums_##suffix, \
		.i8_dot3 = embq_i8_dot3_##suffix, \
		.f32_i8_dot = embq_f32_i8_dot_##suffix, \
		.f32_i8_l2sq = embq_f32_i8_l2sq_##suffix, \
		.f32_i8_dot_items = embq_f32_i8_dot_items_##suffix, \
		.f32_i8_l2sq_items = embq_f32_i8_l2sq_items_##suffix, \
		.f32_sqnorm = embq_f32_sqnorm_##suffix, \
		.f32_dot = embq_f32_dot_##suffix, \
		.f32_dots = embq_f32_dots_##suffix, \
		.i8_dots = embq_i8_dots_##suffix, \
		.nearest_key = embq_nearest_key_##suffix, \
		.binarize = embq_binarize_##suffix, \
		.i8_binarize = embq_i8_binarize_##suffix, \
		.all_finite = embq_all_finite_##suffix, \
		.absmax = embq_absmax_##suffix, \
		.i8_encode = embq_i8_encode_##suffix, \
		.i8_residual = embq_i8_residual_##suffix, \
	}

static const EmbqKernels portable_kernels = EMBQ_VARIANT_TABLE("portable", portable);
#ifdef EMBQ_X86
static const EmbqKernels avx2_kernels = EMBQ_VARIANT_TABLE("avx2", avx2);
static const EmbqKernels avx512_kernels = EMBQ_VARIANT_TABLE("avx512", avx512);
#endif

const EmbqKernels *const embq_kernel_variants[] = {
	&portable_kernels,
#ifdef EMBQ_X86
	&avx2_kernels,
	&avx512_kernels,
#endif
	NULL
};

const EmbqKernels *embq_kernels_chosen = NULL;

#ifdef EMBQ_X86
/* The OS's enabled-state mask, or 0 where XSAVE is not enabled. */
static uint64_t
ReadXcr0(void)
{
	unsigned int eax,
				ebx,
				ecx,
				edx;

	if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & bit_OSXSAVE))
		return 0;
	__asm__ volatile ("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
	return ((uint64_t) edx << 32) | eax;
}
#endif

/* Whether this CPU and OS can run a variant. */
int
embq_kernels_supported(const EmbqKernels *k)
{
	if (k == &portable_kernels)
		return 1;
#ifdef EMBQ_X86
	{
		uint64_t	xcr0 = ReadXcr0();
		int			avx_os = (xcr0 & 0x6) == 0x6;
		int			avx512_os = avx_os && (xcr0 & 0xe0) == 0xe0;

		__builtin_cpu_init();
		if (k == &avx2_kernels)
			return avx_os && __builtin_cpu_supports("avx2") &&
				__builtin_cpu_supports("fma") && __builtin_cpu_supports("popcnt");
		if (k == &avx512_kernels)
			return avx512_os && __builtin_cpu_supports("avx2") &&
				__builtin_cpu_supports("popcnt") &&
				__builtin_cpu_supports("avx512f") &&
				__builtin_cpu_supports("avx512bw") &&
				__builtin_cpu_supports("avx512vl") &&
				__builtin_cpu_supports("avx512dq") &&
				__builtin_cpu_supports("avx512vpopcntdq") &&
				__builtin_cpu_supports("avx512vnni");
	}
#endif
	return 0;
}

/* Choose the best supported variant (the first embq_kernels() call). */
const EmbqKernels *
embq_kernels_choose(void)
{
	const EmbqKernels *best = &portable_kernels;
	int			i;

	for (i = 0; embq_kernel_variants[i] != NULL; i++)
		if (embq_kernels_supported(embq_kernel_variants[i]))
			best = embq_kernel_variants[i];
	embq_kernels_chosen = best;
	return best;
}

/* The variant of a name, if this CPU supports it, else NULL. */
const EmbqKernels *
embq_kernels_find(const char *name)
{
	int			i;

	for (i = 0; embq_kernel_variants[i] != NULL; i++)
		if (strcmp(embq_kernel_variants[i]->name, name) == 0 &&
			embq_kernels_supported(embq_kernel_variants[i]))
			return embq_kernel_variants[i];
	return NULL;
}

/* Force a variant by name, for tests and for users who must rule one out. */
int
embq_kernels_force(const char *name)
{
	const EmbqKernels *k = embq_kernels_find(name);

	if (k == NULL)
		return 0;
	embq_kernels_chosen = k;
	return 1;
}

/* Per-vector absmax int8 quantization; see kernels.h. */
float
embq_quantize_i8(const float *x, size_t n, int8_t *codes)
{
	const EmbqKernels *k = embq_kernels();
	float		m = k->absmax(x, n);
	float		scale = (float) ((double) m / EMBQ_I8_MAX);

	if (scale == 0.0f)
	{
		/* all zero, or so small that the scale underflows: the zero vector */
		memset(codes, 0, n);
		return 0.0f;
	}
	/*
	 * Near FLT_MAX, scale * 127 can round up to infinity; one step down keeps
	 * every dequantized value finite (the largest code is still 127).
	 */
	if (isinf((float) ((double) scale * EMBQ_I8_MAX)))
		scale = nextafterf(scale, 0.0f);
	k->i8_encode(x, n, scale, codes);
	return scale;
}
