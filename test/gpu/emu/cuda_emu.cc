/*-------------------------------------------------------------------------
 *
 * cuda_emu.cc
 *		The runtime of the CUDA emulator (see cuda_emu.h): guard-paged
 *		"device" memory, checked copies, launches that run each block's
 *		threads as coroutines with real barriers, fault injection.
 *
 * x86-64 only: threads switch with a small assembly routine that saves the
 * callee-saved registers and the stack pointer (no signal-mask syscalls,
 * so a barrier over 256 threads costs microseconds).
 *
 * Extra exported functions for the harness (extern "C"):
 *	embq_emu_device_bytes()		bytes of "device" memory in use
 *	embq_emu_fail_after(n)		the n-th next runtime call fails (n <= 0: never)
 *	embq_emu_corrupt_after(n)	the n-th next device-to-host copy succeeds but
 *								writes 0xff bytes (int32 -1, float NaN) instead
 *								of the data: output no real GPU should return,
 *								which the library's callers must catch
 *	embq_emu_failures()			how many calls failed or were corrupted by injection
 *
 * In a PostgreSQL backend, where nothing calls those, the environment does
 * (see EmuFromEnvironment): EMBQ_EMU_FAIL_FILE names a file holding, for
 * each process that loads the library, "n" (embq_emu_fail_after(n)) or
 * "corrupt n" (embq_emu_corrupt_after(n)), and EMBQ_EMU_REPORT a file to
 * which each such process appends, as it exits, its pid, the device bytes
 * still in use (a leak unless 0) and the faults injected.
 *
 *-------------------------------------------------------------------------
 */
#include "cuda_emu.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <map>
#include <vector>

#if !defined(__x86_64__)
#error "the CUDA emulator needs x86-64"
#endif

#define EMU_TOTAL_MEM ((size_t) 16 << 30)
#define EMU_STACK_BYTES ((size_t) 256 << 10)
#define EMU_MAX_THREADS 1024
#define EMU_DEFAULT_DYN_SMEM (48 * 1024)
#define EMU_OPTIN_SMEM (227 * 1024)

/* ------------------------------------------------------------ errors */

static cudaError_t last_error = cudaSuccess;
static long fail_countdown = 0;	/* > 0: fail when it reaches 0 */
static long corrupt_countdown = 0;	/* > 0: corrupt a download when it reaches 0 */
static long failures = 0;

/* Fault injection: true when this call must fail. */
static bool
inject(void)
{
	if (fail_countdown > 0 && --fail_countdown == 0)
	{
		failures++;
		return true;
	}
	return false;
}

static cudaError_t
fail(cudaError_t e)
{
	last_error = e;
	return e;
}

extern "C" __attribute__((visibility("default"))) void
embq_emu_fail_after(long n)
{
	fail_countdown = n > 0 ? n : 0;
}

extern "C" __attribute__((visibility("default"))) void
embq_emu_corrupt_after(long n)
{
	corrupt_countdown = n > 0 ? n : 0;
}

extern "C" __attribute__((visibility("default"))) long
embq_emu_failures(void)
{
	return failures;
}

static size_t in_use = 0;		/* device bytes allocated and not freed */
static const char *report_path = NULL;

/* At exit: append "pid bytes-in-use failures" to EMBQ_EMU_REPORT. */
static void
EmuReport(void)
{
	FILE	   *f = fopen(report_path, "a");

	if (f != NULL)
	{
		fprintf(f, "%ld %zu %ld\n", (long) getpid(), in_use, failures);
		fclose(f);
	}
}

/* When the library loads: fault injection and the exit report, from the environment. */
__attribute__((constructor)) static void
EmuFromEnvironment(void)
{
	const char *fail_file = getenv("EMBQ_EMU_FAIL_FILE");

	if (fail_file != NULL)
	{
		FILE	   *f = fopen(fail_file, "r");
		long		n = 0;

		if (f != NULL)
		{
			if (fscanf(f, "%ld", &n) == 1)
				embq_emu_fail_after(n);
			else if (fscanf(f, " corrupt %ld", &n) == 1)
				embq_emu_corrupt_after(n);
			fclose(f);
		}
	}
	report_path = getenv("EMBQ_EMU_REPORT");
	if (report_path != NULL && report_path[0] != '\0')
		atexit(EmuReport);
}

cudaError_t
cudaGetLastError(void)
{
	cudaError_t e = last_error;

	last_error = cudaSuccess;
	return e;
}

const char *
cudaGetErrorString(cudaError_t e)
{
	switch (e)
	{
		case cudaSuccess:
			return "no error";
		case cudaErrorInvalidValue:
			return "invalid argument";
		case cudaErrorMemoryAllocation:
			return "out of memory";
		case cudaErrorInvalidConfiguration:
			return "invalid configuration argument";
		case cudaErrorLaunchFailure:
			return "unspecified launch failure (injected)";
		default:
			return "emulated error";
	}
}

const char *
cudaGetErrorName(cudaError_t e)
{
	switch (e)
	{
		case cudaSuccess:
			return "cudaSuccess";
		case cudaErrorInvalidValue:
			return "cudaErrorInvalidValue";
		case cudaErrorMemoryAllocation:
			return "cudaErrorMemoryAllocation";
		case cudaErrorInvalidConfiguration:
			return "cudaErrorInvalidConfiguration";
		case cudaErrorLaunchFailure:
			return "cudaErrorLaunchFailure";
		default:
			return "cudaErrorUnknown";
	}
}

/* ------------------------------------------------------------ memory */

struct Alloc
{
	void	   *base;			/* the mapping */
	size_t		map_bytes;
	size_t		bytes;			/* what was asked for */
};

static std::map<uintptr_t, Alloc> allocs;	/* by user pointer */
static size_t page_size = 0;

extern "C" __attribute__((visibility("default"))) size_t
embq_emu_device_bytes(void)
{
	return in_use;
}

/* A fresh mapping whose last 16-aligned `bytes` end at a PROT_NONE page. */
static void *
guarded_alloc(size_t bytes, Alloc *rec)
{
	size_t		data,
				pages;
	char	   *base;

	if (page_size == 0)
		page_size = (size_t) sysconf(_SC_PAGESIZE);
	data = (bytes + 15) / 16 * 16;
	if (data == 0)
		data = 16;
	pages = (data + page_size - 1) / page_size;
	base = (char *) mmap(nullptr, (pages + 1) * page_size, PROT_READ | PROT_WRITE,
						 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		return nullptr;
	if (mprotect(base + pages * page_size, page_size, PROT_NONE) != 0)
	{
		munmap(base, (pages + 1) * page_size);
		return nullptr;
	}
	rec->base = base;
	rec->map_bytes = (pages + 1) * page_size;
	rec->bytes = bytes;
	return base + pages * page_size - data;
}

/* The allocation holding [p, p + n), or nullptr. */
static const Alloc *
find_range(const void *p, size_t n, uintptr_t *start)
{
	uintptr_t	a = (uintptr_t) p;
	auto		it = allocs.upper_bound(a);

	if (it == allocs.begin())
		return nullptr;
	--it;
	if (a < it->first || a + n > it->first + it->second.bytes || a + n < a)
		return nullptr;
	*start = it->first;
	return &it->second;
}

static bool
is_device(const void *p, size_t n)
{
	uintptr_t	s;

	return find_range(p, n, &s) != nullptr;
}

cudaError_t
cudaMalloc(void **p, size_t bytes)
{
	Alloc		rec;
	void	   *q;

	*p = nullptr;
	if (inject() || bytes > EMU_TOTAL_MEM - in_use)
		return fail(cudaErrorMemoryAllocation);
	q = guarded_alloc(bytes, &rec);
	if (q == nullptr)
		return fail(cudaErrorMemoryAllocation);
	memset(q, 0xCD, bytes);		/* never-written memory reads as garbage */
	allocs[(uintptr_t) q] = rec;
	in_use += bytes;
	*p = q;
	return cudaSuccess;
}

cudaError_t
cudaFree(void *p)
{
	auto		it = allocs.find((uintptr_t) p);

	if (p == nullptr)
		return cudaSuccess;
	if (it == allocs.end())
	{
		fprintf(stderr, "emu: cudaFree of an unknown pointer %p\n", p);
		abort();
	}
	in_use -= it->second.bytes;
	munmap(it->second.base, it->second.map_bytes);
	allocs.erase(it);
	return cudaSuccess;
}

static cudaError_t
checked_copy(void *dst, const void *src, size_t n, cudaMemcpyKind kind)
{
	bool		dd = kind == cudaMemcpyDeviceToDevice || kind == cudaMemcpyHostToDevice;
	bool		sd = kind == cudaMemcpyDeviceToDevice || kind == cudaMemcpyDeviceToHost;

	if (inject())
		return fail(cudaErrorLaunchFailure);
	if (n == 0)
		return cudaSuccess;
	if ((dd && !is_device(dst, n)) || (sd && !is_device(src, n)) ||
		(!dd && is_device(dst, 1)) || (!sd && is_device(src, 1)))
	{
		fprintf(stderr, "emu: cudaMemcpy(%p, %p, %zu, kind %d) outside device allocations\n",
				dst, src, n, (int) kind);
		abort();
	}
	memmove(dst, src, n);
	if (kind == cudaMemcpyDeviceToHost && corrupt_countdown > 0 && --corrupt_countdown == 0)
	{
		memset(dst, 0xff, n);
		failures++;
	}
	return cudaSuccess;
}

cudaError_t
cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind)
{
	return checked_copy(dst, src, bytes, kind);
}

cudaError_t
cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t)
{
	return checked_copy(dst, src, bytes, kind);
}

cudaError_t
cudaMemset(void *p, int value, size_t bytes)
{
	if (inject())
		return fail(cudaErrorLaunchFailure);
	if (bytes == 0)
		return cudaSuccess;
	if (!is_device(p, bytes))
	{
		fprintf(stderr, "emu: cudaMemset(%p, %zu) outside device allocations\n", p, bytes);
		abort();
	}
	memset(p, value, bytes);
	return cudaSuccess;
}

cudaError_t
cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t)
{
	return cudaMemset(p, value, bytes);
}

cudaError_t
cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes)
{
	if (inject())
		return fail(cudaErrorLaunchFailure);
	*free_bytes = EMU_TOTAL_MEM - in_use;
	*total_bytes = EMU_TOTAL_MEM;
	return cudaSuccess;
}

/* ------------------------------------------------------------ device */

static int
emu_sms(void)
{
	const char *s = getenv("EMBQ_EMU_SMS");
	int			v = s ? atoi(s) : 2;

	return v > 0 ? v : 2;
}

cudaError_t
cudaGetDeviceCount(int *n)
{
	*n = 0;
	if (inject())
		return fail(cudaErrorInsufficientDriver);
	*n = 1;
	return cudaSuccess;
}

cudaError_t
cudaSetDevice(int d)
{
	if (inject() || d != 0)
		return fail(cudaErrorInvalidValue);
	return cudaSuccess;
}

cudaError_t
cudaDeviceGetAttribute(int *v, cudaDeviceAttr a, int)
{
	if (inject())
		return fail(cudaErrorInvalidValue);
	switch (a)
	{
		case cudaDevAttrMultiProcessorCount:
			*v = emu_sms();
			return cudaSuccess;
		case cudaDevAttrMaxSharedMemoryPerBlockOptin:
			*v = EMU_OPTIN_SMEM;
			return cudaSuccess;
	}
	return fail(cudaErrorInvalidValue);
}

cudaError_t
cudaGetDeviceProperties(cudaDeviceProp *p, int)
{
	if (inject())
		return fail(cudaErrorInvalidValue);
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "embq CPU emulator");
	p->totalGlobalMem = EMU_TOTAL_MEM;
	p->major = 9;
	p->minor = 0;
	p->multiProcessorCount = emu_sms();
	return cudaSuccess;
}

cudaError_t
cudaRuntimeGetVersion(int *v)
{
	*v = CUDART_VERSION;
	return cudaSuccess;
}

cudaError_t
cudaDriverGetVersion(int *v)
{
	*v = CUDART_VERSION;
	return cudaSuccess;
}

cudaError_t
cudaDeviceSynchronize(void)
{
	if (inject())
		return fail(cudaErrorLaunchFailure);
	return cudaSuccess;
}

struct EmuEvent
{
	double		t;
};

cudaError_t
cudaEventCreate(cudaEvent_t *e)
{
	if (inject())
		return fail(cudaErrorMemoryAllocation);
	*e = new EmuEvent{0};
	return cudaSuccess;
}

cudaError_t
cudaEventRecord(cudaEvent_t e, cudaStream_t)
{
	struct timespec ts;

	if (inject())
		return fail(cudaErrorLaunchFailure);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	e->t = ts.tv_sec + ts.tv_nsec * 1e-9;
	return cudaSuccess;
}

cudaError_t
cudaEventSynchronize(cudaEvent_t)
{
	if (inject())
		return fail(cudaErrorLaunchFailure);
	return cudaSuccess;
}

cudaError_t
cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b)
{
	*ms = (float) ((b->t - a->t) * 1e3);
	if (*ms <= 0)
		*ms = 1e-3f;
	return cudaSuccess;
}

cudaError_t
cudaEventDestroy(cudaEvent_t e)
{
	delete e;
	return cudaSuccess;
}

/* ------------------------------------------------------------ kernels */

static std::map<const void *, int> dyn_smem_limit;	/* cudaFuncSetAttribute */

cudaError_t
emu_func_get_attributes(cudaFuncAttributes *a, const void *)
{
	if (inject())
		return fail(cudaErrorNoKernelImageForDevice);
	a->maxThreadsPerBlock = EMU_MAX_THREADS;
	a->sharedSizeBytes = 0;
	return cudaSuccess;
}

cudaError_t
emu_func_set_attribute(const void *f, cudaFuncAttribute a, int v)
{
	if (inject())
		return fail(cudaErrorInvalidValue);
	if (a != cudaFuncAttributeMaxDynamicSharedMemorySize || v < 0 || v > EMU_OPTIN_SMEM)
		return fail(cudaErrorInvalidValue);
	dyn_smem_limit[f] = v;
	return cudaSuccess;
}

cudaError_t
emu_occupancy(int *blocks, const void *, int, size_t)
{
	if (inject())
		return fail(cudaErrorInvalidValue);
	*blocks = 1;
	return cudaSuccess;
}

/* Coroutine switch: save callee-saved registers and rsp in *from, load to. */
extern "C" void emu_switch(void **from, void *to);
__asm__(
		".text\n"
		".globl emu_switch\n"
		".hidden emu_switch\n"
		".type emu_switch,@function\n"
		"emu_switch:\n"
		"	pushq %rbp\n"
		"	pushq %rbx\n"
		"	pushq %r12\n"
		"	pushq %r13\n"
		"	pushq %r14\n"
		"	pushq %r15\n"
		"	movq %rsp, (%rdi)\n"
		"	movq %rsi, %rsp\n"
		"	popq %r15\n"
		"	popq %r14\n"
		"	popq %r13\n"
		"	popq %r12\n"
		"	popq %rbx\n"
		"	popq %rbp\n"
		"	ret\n"
		".size emu_switch, .-emu_switch\n");

enum
{
	T_RUN,						/* may run */
	T_BAR,						/* waiting in __syncthreads */
	T_WARP,						/* waiting in a warp shuffle */
	T_DONE
};

struct EmuThread
{
	void	   *sp;
	int			state;
};

uint3		emu_blockIdx;
dim3		emu_blockDim;
dim3		emu_gridDim;

static std::vector<char *> stacks;	/* one per thread slot, reused */
static EmuThread threads[EMU_MAX_THREADS];
static int	nthreads;
static int	cur;				/* the running thread */
static void *sched_sp;
static void (*cur_body) (void *);
static void *cur_ctx;
static char *dyn_smem;
static uint64_t warp_slots[EMU_MAX_THREADS];
static const void *cur_kernel;

uint3
emu_thread_idx(void)
{
	uint3		r = {(unsigned int) cur, 0, 0};

	return r;
}

void	   *
emu_dyn_smem(void)
{
	return dyn_smem;
}

static void
yield(int state)
{
	threads[cur].state = state;
	emu_switch(&threads[cur].sp, sched_sp);
}

void
emu_syncthreads(void)
{
	yield(T_BAR);
}

uint64_t
emu_shfl_xor(uint64_t v, int lane_mask)
{
	int			me = cur;
	int			partner = (me & ~31) | ((me & 31) ^ (lane_mask & 31));
	uint64_t	r;

	warp_slots[me] = v;
	yield(T_WARP);				/* every lane has written */
	if (partner >= nthreads || threads[partner].state == T_DONE)
	{
		fprintf(stderr, "emu: shuffle with an exited or missing lane (%d <- %d)\n", me, partner);
		abort();
	}
	r = warp_slots[partner];
	yield(T_WARP);				/* every lane has read */
	return r;
}

/* First code a new thread runs (entered by emu_switch's ret). */
static void
trampoline(void)
{
	cur_body(cur_ctx);
	threads[cur].state = T_DONE;
	emu_switch(&threads[cur].sp, sched_sp);
	abort();					/* never resumed */
}

/* Initial stack of thread t: six zero registers, then trampoline as the return address. */
static void
prepare(int t)
{
	uintptr_t	top = ((uintptr_t) stacks[t] + EMU_STACK_BYTES) & ~(uintptr_t) 15;
	void	  **sp = (void **) (top - 64);

	for (int i = 0; i < 6; i++)
		sp[i] = nullptr;		/* r15 r14 r13 r12 rbx rbp */
	sp[6] = (void *) trampoline;	/* popped by ret: rsp = top - 8, as after a call */
	sp[7] = nullptr;			/* the trampoline never returns */
	threads[t].sp = sp;
	threads[t].state = T_RUN;
}

static void
run_block(void)
{
	for (int t = 0; t < nthreads; t++)
		prepare(t);
	for (;;)
	{
		int			done = 0,
					released = 0;

		for (int t = 0; t < nthreads; t++)
			if (threads[t].state == T_RUN)
			{
				cur = t;
				emu_switch(&sched_sp, threads[t].sp);
			}
		for (int t = 0; t < nthreads; t++)
			done += threads[t].state == T_DONE;
		if (done == nthreads)
			return;
		/* warps whose live lanes all wait in a shuffle go on */
		for (int w = 0; w < nthreads; w += 32)
		{
			int			live = 0,
						waiting = 0;

			for (int t = w; t < w + 32 && t < nthreads; t++)
				if (threads[t].state != T_DONE)
				{
					live++;
					waiting += threads[t].state == T_WARP;
				}
			if (live > 0 && waiting == live)
			{
				for (int t = w; t < w + 32 && t < nthreads; t++)
					if (threads[t].state == T_WARP)
						threads[t].state = T_RUN;
				released = 1;
			}
		}
		if (released)
			continue;
		/* the block barrier, once every live thread is there */
		{
			int			at_bar = 0;

			for (int t = 0; t < nthreads; t++)
				at_bar += threads[t].state == T_BAR;
			if (at_bar == nthreads - done)
			{
				for (int t = 0; t < nthreads; t++)
					if (threads[t].state == T_BAR)
						threads[t].state = T_RUN;
				continue;
			}
		}
		fprintf(stderr, "emu: barrier divergence in kernel %p, block (%u,%u,%u): ",
				cur_kernel, emu_blockIdx.x, emu_blockIdx.y, emu_blockIdx.z);
		for (int t = 0; t < nthreads; t++)
			if (threads[t].state != T_DONE)
				fprintf(stderr, "%d:%s ", t, threads[t].state == T_BAR ? "bar" : "warp");
		fprintf(stderr, "\n");
		abort();
	}
}

void
emu_run_grid(const void *kernel, dim3 grid, dim3 block, size_t smem,
			 void (*body) (void *), void *ctx)
{
	size_t		nt = (size_t) block.x * block.y * block.z;
	int			limit = EMU_DEFAULT_DYN_SMEM;
	Alloc		smem_rec = {nullptr, 0, 0};
	auto		it = dyn_smem_limit.find(kernel);

	if (inject())
	{
		fail(cudaErrorLaunchFailure);
		return;
	}
	if (it != dyn_smem_limit.end())
		limit = it->second;
	if (nt < 1 || nt > EMU_MAX_THREADS || block.y != 1 || block.z != 1 || nt % 32 != 0 ||
		grid.x < 1 || grid.y < 1 || grid.z < 1 || grid.x > 2147483647u ||
		grid.y > 65535 || grid.z > 65535)
	{
		fprintf(stderr, "emu: bad launch configuration grid (%u,%u,%u) block (%u,%u,%u)\n",
				grid.x, grid.y, grid.z, block.x, block.y, block.z);
		fail(cudaErrorInvalidConfiguration);
		return;
	}
	if (smem > (size_t) limit)
	{
		fprintf(stderr, "emu: %zu bytes of dynamic shared memory, the kernel allows %d\n",
				smem, limit);
		fail(cudaErrorInvalidValue);
		return;
	}
	while (stacks.size() < nt)
	{
		char	   *s = (char *) mmap(nullptr, EMU_STACK_BYTES, PROT_READ | PROT_WRITE,
									  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (s == MAP_FAILED)
		{
			perror("emu: stack");
			abort();
		}
		stacks.push_back(s);
	}
	if (smem > 0)
		dyn_smem = (char *) guarded_alloc(smem, &smem_rec);
	else
		dyn_smem = nullptr;
	nthreads = (int) nt;
	cur_body = body;
	cur_ctx = ctx;
	cur_kernel = kernel;
	emu_blockDim = block;
	emu_gridDim = grid;
	for (unsigned int z = 0; z < grid.z; z++)
		for (unsigned int y = 0; y < grid.y; y++)
			for (unsigned int x = 0; x < grid.x; x++)
			{
				emu_blockIdx.x = x;
				emu_blockIdx.y = y;
				emu_blockIdx.z = z;
				if (dyn_smem)
					memset(dyn_smem, 0xCD, smem);
				run_block();
			}
	if (smem_rec.base)
		munmap(smem_rec.base, smem_rec.map_bytes);
	dyn_smem = nullptr;
}
