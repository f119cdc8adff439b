/*-------------------------------------------------------------------------
 *
 * common.cuh
 *		Shared pieces of libembq_cuda.so: error reporting, RAII holders of
 *		device and host memory, timing, the device-side code layout, and the
 *		device functions that reproduce the CPU's distance formulas.
 *
 * Error convention (embq_gpu.h): every entry point returns 0, or nonzero
 * with a one-line reason in err.  Inside the library a function that can
 * fail takes (char *err, size_t errlen), returns 0 or -1, and fills err
 * only on failure.  Device memory is held by DevBuf, whose destructor
 * frees it, so every early return leaves nothing allocated.  No C++
 * exceptions and no standard library containers are used (the library
 * must not need libstdc++ at run time).
 *
 *-------------------------------------------------------------------------
 */
#ifndef EMBQ_CUDA_COMMON_CUH
#define EMBQ_CUDA_COMMON_CUH

#ifdef EMBQ_EMULATE
/* test/gpu/emu: the same sources run on the CPU, for tests without a GPU */
#include "cuda_emu.h"
#else
#include <cuda_runtime.h>
/* kernel<<<grid, block, smem>>>(args), spelled so that the emulator can take it */
#define EMBQ_LAUNCH(kern, grid, block, smem, ...) \
	kern<<<(grid), (block), (smem)>>>(__VA_ARGS__)
/* the dynamic shared memory of a kernel */
#define EMBQ_DYN_SHARED(type, name) extern __shared__ type name[]
#endif
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "embq_gpu.h"
#include "embq_gpu_ext.h"

/* ---------------------------------------------------------------- errors */

/* Write a one-line reason into err (when there is room), always NUL-terminated. */
void		embq_seterr(char *err, size_t errlen, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

/* A CUDA call failed: "<what>: <cuda's description>"; returns -1. */
int			embq_cuda_fail(char *err, size_t errlen, const char *what, cudaError_t e);

/* Evaluate a CUDA call; on failure fill err and return -1 from the caller. */
#define CUDA_TRY(what, call) \
	do { \
		cudaError_t e_ = (call); \
		if (e_ != cudaSuccess) \
			return embq_cuda_fail(err, errlen, (what), e_); \
	} while (0)

/* After a kernel launch: configuration errors show up here. */
#define LAUNCH_CHECK(what) CUDA_TRY(what, cudaGetLastError())

/* Propagate a failure of a library function (it has filled err). */
#define TRY(call) \
	do { \
		if ((call) != 0) \
			return -1; \
	} while (0)

/*
 * Make device 0 current, clearing any stale non-sticky error a previous
 * call may have left; maps "no driver" / "no device" to clear reasons.
 * Fills *sms with the multiprocessor count when sms is not NULL.
 */
int			embq_ensure_device(int *sms, char *err, size_t errlen);

/* Free device memory in bytes (after embq_ensure_device). */
int			embq_free_mem(size_t *free_bytes, char *err, size_t errlen);

/* The EMBQ_GPU_MAX_BATCH override, or 0. */
size_t		embq_env_max_batch(void);

/* ---------------------------------------------------------------- memory */

/* Device memory, freed by the destructor; no copies. */
template <typename T>
struct DevBuf
{
	T		   *p = nullptr;
	size_t		count = 0;

	DevBuf() = default;
	DevBuf(const DevBuf &) = delete;
	DevBuf &operator=(const DevBuf &) = delete;
	~DevBuf() { release(); }

	void release()
	{
		if (p)
			cudaFree(p);
		p = nullptr;
		count = 0;
	}

	/* Allocate count elements (at least one), replacing what was held. */
	cudaError_t alloc(size_t n)
	{
		void	   *q = nullptr;
		size_t		want = n ? n : 1;
		cudaError_t e;

		release();
		if (want > SIZE_MAX / sizeof(T))
			return cudaErrorMemoryAllocation;
		e = cudaMalloc(&q, want * sizeof(T));
		if (e != cudaSuccess)
			return e;
		p = (T *) q;
		count = want;
		return cudaSuccess;
	}
};

/* Allocate a DevBuf, with a message naming what and how much on failure. */
template <typename T>
static inline int
dev_alloc(DevBuf<T> &b, size_t n, const char *what, char *err, size_t errlen)
{
	cudaError_t e = b.alloc(n);

	if (e != cudaSuccess)
	{
		/* clear the (non-sticky) allocation error so later calls do not see it */
		cudaGetLastError();
		embq_seterr(err, errlen, "could not allocate %zu MiB of GPU memory for %s: %s",
					(n * sizeof(T) + (1 << 20) - 1) >> 20, what, cudaGetErrorString(e));
		return -1;
	}
	return 0;
}

/* Host memory (malloc), freed by the destructor. */
template <typename T>
struct HostBuf
{
	T		   *p = nullptr;

	HostBuf() = default;
	HostBuf(const HostBuf &) = delete;
	HostBuf &operator=(const HostBuf &) = delete;
	~HostBuf() { free(p); }

	int alloc(size_t n, const char *what, char *err, size_t errlen)
	{
		size_t		want = n ? n : 1;

		free(p);
		p = nullptr;
		if (want > SIZE_MAX / sizeof(T) || (p = (T *) malloc(want * sizeof(T))) == nullptr)
		{
			embq_seterr(err, errlen, "out of host memory allocating %zu MiB for %s",
						(n * sizeof(T)) >> 20, what);
			return -1;
		}
		return 0;
	}
	void reset() { free(p); p = nullptr; }
	T &operator[](size_t i) { return p[i]; }
	const T &operator[](size_t i) const { return p[i]; }
};

/* ---------------------------------------------------------------- timing */

extern EmbqGpuTiming embq_timing;	/* of the call in progress / the last call */

static inline double
embq_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Accumulates wall time into one field of embq_timing. */
struct PhaseTimer
{
	double		t0;
	PhaseTimer() : t0(embq_now()) {}
	void		restart() { t0 = embq_now(); }
	void		add(double *field) { double t = embq_now(); *field += t - t0; t0 = t; }
};

/* cudaMemcpy host-to-device, timed and counted. */
int			embq_upload(void *dst, const void *src, size_t bytes, const char *what,
						char *err, size_t errlen);
/* cudaMemcpy device-to-host, timed and counted. */
int			embq_download(void *dst, const void *src, size_t bytes, const char *what,
						  char *err, size_t errlen);
/* Wait for the device; the time goes into *field. */
int			embq_sync(double *field, PhaseTimer &t, const char *what, char *err, size_t errlen);

/* Grid size for a grid-stride loop over total items. */
static inline unsigned int
grid_for(size_t total, unsigned int threads)
{
	size_t		b = (total + threads - 1) / threads;

	if (b < 1)
		b = 1;
	if (b > (1u << 20))
		b = 1u << 20;
	return (unsigned int) b;
}

static inline size_t
round_up(size_t x, size_t m)
{
	return (x + m - 1) / m * m;
}

static inline size_t
ceil_div(size_t x, size_t m)
{
	return (x + m - 1) / m;
}

/* ---------------------------------------------------------------- codes */

/*
 * Device layout of codes.  The host format is codesize bytes per code:
 * packed bits (bitvec), or a float4 scale then dims int8 codes (i8vec),
 * unaligned.  On the device the payload (bits, or the int8 codes without
 * the scale) is split into 32-bit little-endian words, W of them, zero
 * padded to Wq = round_up(W, 8) words, and stored either
 *  - transposed ("columns"): word w of code i at codesT[w * ldc + i], so
 *	  that a warp reading word w of 32 consecutive codes reads 128
 *	  consecutive bytes; used for the codes being scored; or
 *  - as rows: word w of row r at rows[r * Wq + w]; used for centroids and
 *	  query codes, which are read by every thread alike.
 * Scales go to a float array, and for i8 the exact squared norm sum c_j^2
 * (an int: at most 127^2 * 16000 < 2^31) to an int array.
 *
 * Byte b of word w is payload byte 4w + b, so for i8 the byte lanes of a
 * word are codes 4w .. 4w+3 (as __dp4a pairs them), and for bits
 * dimension 32w + t is bit 8 * (t / 8) + 7 - t % 8 of word w.
 */
struct CodeLayout
{
	int			bits;			/* 1: packed bits; 0: scale + int8 */
	int			dims;
	int			codesize;		/* bytes per code in the host format */
	int			off;			/* payload offset in a host code: 0 or 4 */
	int			nbytes;			/* payload bytes: codesize or dims */
	int			W;				/* payload words */
	int			Wq;				/* padded words, a multiple of 8 */
};

/* The layout for a metric's codes; fails when codesize does not match dims. */
int			embq_code_layout(int metric, int dims, int codesize, CodeLayout *L,
							 char *err, size_t errlen);

/*
 * Reusable staging buffer for raw host codes on their way to a device
 * layout (the repacking kernels read raw bytes from it).
 */
struct Staging
{
	DevBuf<uint8_t> raw;
};

/*
 * Upload cnt host codes into columns col0 .. col0+cnt-1 of a transposed
 * buffer (Wq rows of ldc words), with scales and (i8, when norms != NULL)
 * norms into scale[col0..] / norms[col0..].  The padding rows W..Wq-1 must
 * have been zeroed by the caller (embq_zero_pad_rows).
 */
int			embq_upload_columns(const uint8_t *host, size_t cnt, const CodeLayout &L,
								uint32_t *codesT, size_t ldc, size_t col0,
								float *scale, int *norms, Staging &st,
								char *err, size_t errlen);

/* Zero rows W .. Wq-1 of a transposed buffer. */
int			embq_zero_pad_rows(const CodeLayout &L, uint32_t *codesT, size_t ldc,
							   char *err, size_t errlen);

/*
 * Upload cnt host codes as rows (Wq words each, zero padded), scales and
 * (i8, when norms != NULL) norms.
 */
int			embq_upload_rows(const uint8_t *host, size_t cnt, const CodeLayout &L,
							 uint32_t *rows, float *scale, int *norms, Staging &st,
							 char *err, size_t errlen);

/* ------------------------------------------------- device-side distances */

#define EMBQ_KEY_NONE 0xFFFFFFFFFFFFFFFFull

/*
 * A 64-bit key that orders (distance, index) pairs: the float's bits made
 * order-preserving as an unsigned int, above the index.  NaN ranks as +inf
 * and -0 as +0, so equal distances tie and go to the lower index.
 */
__device__ __forceinline__ unsigned long long
embq_make_key(float d, unsigned int idx)
{
	unsigned int u = __float_as_uint(d);

	if ((u & 0x7fffffffu) > 0x7f800000u)
		u = 0x7f800000u;		/* NaN: +inf */
	if ((u << 1) == 0)
		u = 0;					/* -0: +0 */
	u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
	return ((unsigned long long) u << 32) | idx;
}

/* The distance of a key (host side). */
static inline float
embq_key_dist(unsigned long long key)
{
	unsigned int u = (unsigned int) (key >> 32);
	float		f;

	u = (u & 0x80000000u) ? (u & 0x7fffffffu) : ~u;
	memcpy(&f, &u, sizeof(f));
	return f;
}

/* embq_cosine_from_sums (src/codedist.h): 1 - cos clamped, NaN for a zero norm. */
__device__ __forceinline__ double
embq_dev_cosine_from_sums(double dot, double na, double nb)
{
	double		sim;

	if (na == 0 || nb == 0)
		return __longlong_as_double(0x7ff8000000000000ll);
	sim = dot / (sqrt(na) * sqrt(nb));
	if (sim > 1)
		sim = 1;
	else if (sim < -1)
		sim = -1;
	return 1.0 - sim;
}

/*
 * I8CodeDistance (src/ivfint8.c) for i8 metrics from the exact integer
 * sums aa = a.a, bb = b.b, ab = a.b of code a (scale sa) and code b (scale
 * sb): embq_i8_l2sq, -embq_i8_ip, RankValue(embq_i8_cosine), written
 * operation for operation as src/codedist.h so that, compiled without
 * fused multiply-add (--fmad=false), every double rounds as on the CPU.
 * (CUDA's double +, -, *, / and sqrt are IEEE round-to-nearest.)
 */
__device__ __forceinline__ double
embq_dev_i8_dist(int metric, float sa, long long aa, float sb, long long bb, long long ab)
{
	if (metric == EMBQ_GPU_METRIC_L2)
	{
		double		d;

		if (sa == sb)
			return (double) sa * (double) sa * (double) (aa + bb - 2 * ab);
		d = (double) sa * sa * (double) aa + (double) sb * sb * (double) bb -
			2.0 * (double) sa * (double) sb * (double) ab;
		return d > 0 ? d : 0;
	}
	if (metric == EMBQ_GPU_METRIC_IP)
		return -((double) sa * (double) sb * (double) ab);
	/* cosine: the scales cancel; a zero scale means the zero vector */
	{
		double		r = embq_dev_cosine_from_sums((double) ab, sa == 0 ? 0 : (double) aa,
											  sb == 0 ? 0 : (double) bb);

		return isnan(r) ? __longlong_as_double(0x7ff0000000000000ll) : r;
	}
}

/*
 * embq_reduce_lanes (src/dispatch.c): the one fixed pairwise order,
 * t[i] = t[i] + t[i + w] for w = 8, 4, 2, 1 (written out so that the lanes
 * stay in registers).
 */
__device__ __forceinline__ double
embq_dev_reduce_lanes(double *t)
{
#define EMBQ_R(w) \
	for (int i = 0; i < (w); i++) \
		t[i] = t[i] + t[i + (w)];
#pragma unroll
	EMBQ_R(8)
#pragma unroll
	EMBQ_R(4)
#pragma unroll
	EMBQ_R(2)
	t[0] = t[0] + t[1];
#undef EMBQ_R
	return t[0];
}

/* Sign-extend byte b (0..3) of a word. */
__device__ __forceinline__ int
embq_byte_s8(unsigned int w, int b)
{
	return (int) (signed char) (unsigned char) (w >> (8 * b));
}

/* ------------------------------------------------------- entry points */

int			embq_impl_probe(EmbqGpuDevice *dev, char *err, size_t errlen);
int			embq_impl_copy_bandwidth(double *bytes_per_s, char *err, size_t errlen);
int			embq_impl_kmeans(const float *x, size_t n, size_t dim, size_t k,
							 int max_iters, int spherical, uint64_t seed,
							 float *centroids, char *err, size_t errlen);
int			embq_impl_assign(int metric, int dims, int codesize,
							 const uint8_t *codes, size_t n,
							 const uint8_t *centroids, size_t k,
							 int32_t *out, char *err, size_t errlen);
int			embq_impl_topk(int metric, int asymmetric, int dims, int codesize,
						   const uint8_t *codes, size_t n,
						   const uint8_t *qcodes, const float *qfloats, size_t nq,
						   int k, float *out_dist, int64_t *out_idx,
						   char *err, size_t errlen);

#endif							/* EMBQ_CUDA_COMMON_CUH */
