/*-------------------------------------------------------------------------
 *
 * cuda_emu.h
 *		A CPU emulation of the part of CUDA that the cuda/ sources use, so that the
 *		library's own sources (kernels and host code alike) can be compiled
 *		with g++ and run on a machine without a GPU (make -C test/gpu emucheck).
 *
 * Semantics kept:
 *  - a launch runs every block, one after another; the threads of a
 *	  block run as coroutines on one OS thread and switch only at
 *	  __syncthreads() and warp shuffles, which are real barriers (all
 *	  threads of the block / warp that have not exited); a barrier no
 *	  thread group can pass (divergence) aborts with a message;
 *  - __shared__ variables are static (shared by the block's threads),
 *	  dynamic shared memory is a fresh buffer per block filled with 0xCD,
 *	  with a guard page after it;
 *  - "device" memory: every cudaMalloc is its own mapping, filled with
 *	  0xCD, ending at a guard page (an overrun faults at once); copies and
 *	  memsets are checked against the allocation bounds; frees of unknown
 *	  pointers fail; bytes in use are counted (leak checks);
 *  - launch configurations are validated like CUDA's (block size, grid
 *	  limits, dynamic shared memory against cudaFuncSetAttribute);
 *  - fault injection: embq_emu_fail_after(n) makes the n-th next runtime
 *	  call fail, to exercise every error path.
 * Not kept: parallel execution, memory-model subtleties, timing.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EMBQ_CUDA_EMU_H
#define EMBQ_CUDA_EMU_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmath>
#include <tuple>
#include <type_traits>
#include <utility>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __shared__ static
#define CUDART_VERSION 13000

typedef enum cudaError
{
	cudaSuccess = 0,
	cudaErrorInvalidValue = 1,
	cudaErrorMemoryAllocation = 2,
	cudaErrorInitializationError = 3,
	cudaErrorInvalidConfiguration = 9,
	cudaErrorInsufficientDriver = 35,
	cudaErrorDevicesUnavailable = 46,
	cudaErrorInvalidDeviceFunction = 98,
	cudaErrorNoDevice = 100,
	cudaErrorNoKernelImageForDevice = 209,
	cudaErrorUnsupportedPtxVersion = 222,
	cudaErrorLaunchFailure = 719,
	cudaErrorSystemDriverMismatch = 803,
	cudaErrorCompatNotSupportedOnDevice = 804
} cudaError_t;

enum cudaMemcpyKind
{
	cudaMemcpyHostToHost = 0,
	cudaMemcpyHostToDevice = 1,
	cudaMemcpyDeviceToHost = 2,
	cudaMemcpyDeviceToDevice = 3,
	cudaMemcpyDefault = 4
};

enum cudaDeviceAttr
{
	cudaDevAttrMultiProcessorCount = 16,
	cudaDevAttrMaxSharedMemoryPerBlockOptin = 97
};

enum cudaFuncAttribute
{
	cudaFuncAttributeMaxDynamicSharedMemorySize = 8
};

struct cudaDeviceProp
{
	char		name[256];
	size_t		totalGlobalMem;
	int			major;
	int			minor;
	int			multiProcessorCount;
};

struct cudaFuncAttributes
{
	int			maxThreadsPerBlock;
	size_t		sharedSizeBytes;
};

typedef struct EmuEvent *cudaEvent_t;
typedef struct EmuStream *cudaStream_t;

struct uint3
{
	unsigned int x,
				y,
				z;
};

struct dim3
{
	unsigned int x,
				y,
				z;
	dim3(unsigned int a = 1, unsigned int b = 1, unsigned int c = 1) : x(a), y(b), z(c) {}
};

struct alignas(16) uint4
{
	unsigned int x,
				y,
				z,
				w;
};

struct alignas(16) float4
{
	float		x,
				y,
				z,
				w;
};

struct alignas(16) int4
{
	int			x,
				y,
				z,
				w;
};

struct alignas(8) int2
{
	int			x,
				y;
};

static inline int4
make_int4(int a, int b, int c, int d)
{
	int4		r = {a, b, c, d};

	return r;
}

/* ------------------------------------------------------------- runtime */

cudaError_t cudaMalloc(void **p, size_t bytes);
cudaError_t cudaFree(void *p);
cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind,
							cudaStream_t s = nullptr);
cudaError_t cudaMemset(void *p, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t s = nullptr);
cudaError_t cudaDeviceSynchronize(void);
cudaError_t cudaGetLastError(void);
const char *cudaGetErrorString(cudaError_t e);
const char *cudaGetErrorName(cudaError_t e);
cudaError_t cudaGetDeviceCount(int *n);
cudaError_t cudaSetDevice(int d);
cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr a, int dev);
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int dev);
cudaError_t cudaRuntimeGetVersion(int *v);
cudaError_t cudaDriverGetVersion(int *v);
cudaError_t cudaEventCreate(cudaEvent_t *e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b);
cudaError_t cudaEventDestroy(cudaEvent_t e);

cudaError_t emu_func_get_attributes(cudaFuncAttributes *a, const void *f);
cudaError_t emu_func_set_attribute(const void *f, cudaFuncAttribute a, int v);
cudaError_t emu_occupancy(int *blocks, const void *f, int threads, size_t smem);

template <typename F>
static inline cudaError_t
cudaFuncGetAttributes(cudaFuncAttributes *a, F f)
{
	return emu_func_get_attributes(a, reinterpret_cast<const void *>(f));
}

template <typename F>
static inline cudaError_t
cudaFuncSetAttribute(F f, cudaFuncAttribute a, int v)
{
	return emu_func_set_attribute(reinterpret_cast<const void *>(f), a, v);
}

template <typename F>
static inline cudaError_t
cudaOccupancyMaxActiveBlocksPerMultiprocessor(int *blocks, F f, int threads, size_t smem)
{
	return emu_occupancy(blocks, reinterpret_cast<const void *>(f), threads, smem);
}

/* ------------------------------------------------------ device side */

extern uint3 emu_blockIdx;
extern dim3 emu_blockDim;
extern dim3 emu_gridDim;
uint3		emu_thread_idx(void);
void		emu_syncthreads(void);
uint64_t	emu_shfl_xor(uint64_t v, int lane_mask);
void	   *emu_dyn_smem(void);

#define threadIdx (emu_thread_idx())
#define blockIdx emu_blockIdx
#define blockDim emu_blockDim
#define gridDim emu_gridDim

static inline void
__syncthreads(void)
{
	emu_syncthreads();
}

template <typename T>
static inline T
__shfl_xor_sync(unsigned int mask, T v, int lane_mask)
{
	uint64_t	bits = 0;
	T			r;

	static_assert(sizeof(T) <= 8, "shuffle of at most 8 bytes");
	(void) mask;
	memcpy(&bits, &v, sizeof(T));
	bits = emu_shfl_xor(bits, lane_mask);
	memcpy(&r, &bits, sizeof(T));
	return r;
}

static inline int
__popc(unsigned int x)
{
	return __builtin_popcount(x);
}

/* Signed int8x4 dot product plus c (wrapping like the hardware). */
static inline int
__dp4a(int a, int b, int c)
{
	uint32_t	s = (uint32_t) c;

	for (int i = 0; i < 4; i++)
		s += (uint32_t) ((int) (int8_t) (uint8_t) ((uint32_t) a >> (8 * i)) *
						 (int) (int8_t) (uint8_t) ((uint32_t) b >> (8 * i)));
	return (int) s;
}

template <typename T>
static inline T
__ldg(const T *p)
{
	return *p;
}

static inline unsigned int
__float_as_uint(float f)
{
	unsigned int u;

	memcpy(&u, &f, sizeof(u));
	return u;
}

static inline float
__uint_as_float(unsigned int u)
{
	float		f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

static inline double
__longlong_as_double(long long v)
{
	double		d;

	memcpy(&d, &v, sizeof(d));
	return d;
}

static inline float
__fmaf_rn(float a, float b, float c)
{
	return fmaf(a, b, c);
}

/* One OS thread runs a block: read-modify-write is atomic already. */
static inline unsigned int
atomicAdd(unsigned int *p, unsigned int v)
{
	unsigned int old = *p;

	*p = old + v;
	return old;
}

static inline unsigned long long
atomicMin(unsigned long long *p, unsigned long long v)
{
	unsigned long long old = *p;

	if (v < old)
		*p = v;
	return old;
}

static inline int
min(int a, int b)
{
	return a < b ? a : b;
}

/* ------------------------------------------------------------- launch */

void		emu_run_grid(const void *kernel, dim3 grid, dim3 block, size_t smem,
						 void (*body) (void *), void *ctx);

template <typename... P>
struct EmuLaunch
{
	void		(*k) (P...);
	std::tuple<std::decay_t<P>...> args;

	static void run(void *c)
	{
		EmuLaunch  *l = static_cast<EmuLaunch *>(c);

		std::apply(l->k, l->args);
	}
};

/* kernel<<<grid, block, smem>>>(args...): arguments converted once, as CUDA does */
template <typename... P, typename... A>
static inline void
emu_launch(void (*k) (P...), dim3 grid, dim3 block, size_t smem, A &&...a)
{
	EmuLaunch<P...> l{k, std::tuple<std::decay_t<P>...>(std::forward<A>(a)...)};

	emu_run_grid(reinterpret_cast<const void *>(k), grid, block, smem,
				 &EmuLaunch<P...>::run, &l);
}

#define EMBQ_LAUNCH(kern, grid, block, smem, ...) \
	emu_launch((kern), dim3(grid), dim3(block), (size_t) (smem), __VA_ARGS__)
#define EMBQ_DYN_SHARED(type, name) type *name = static_cast<type *>(emu_dyn_smem())

#endif							/* EMBQ_CUDA_EMU_H */
