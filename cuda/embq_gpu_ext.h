/*-------------------------------------------------------------------------
 *
 * embq_gpu_ext.h
 *		An optional extension of the EmbqGpuApi table of libembq_cuda.so,
 *		for tests and benchmarks only: where the last call spent its time.
 *
 * embq_gpu_api() returns a pointer to the first member of an EmbqGpuApiExt,
 * so callers that know only embq_gpu.h see a plain EmbqGpuApi and are not
 * affected.  A caller that knows this header may look past the EmbqGpuApi
 * (after checking abi_version) and use the extension when ext_magic and
 * ext_size say it is there.  No symbol besides embq_gpu_api is exported.
 *
 * Plain C, no CUDA header.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EMBQ_GPU_EXT_H
#define EMBQ_GPU_EXT_H

#include <stdint.h>

#include "embq_gpu.h"

#define EMBQ_GPU_EXT_MAGIC 0x45584231u	/* "EXB1" */

/* Where the last call (of any of the API functions) spent its time. */
typedef struct EmbqGpuTiming
{
	double		total_s;		/* the whole call, wall clock */
	double		upload_s;		/* host-to-device copies */
	double		prep_s;			/* repacking kernels: code layout, norms */
	double		kernel_s;		/* compute kernels: scoring, selection, GEMM, update */
	double		download_s;		/* device-to-host copies */
	double		host_s;			/* host work in between (merges, k-means bookkeeping) */
	uint64_t	upload_bytes;
	uint64_t	download_bytes;
	uint64_t	kernel_bytes;	/* bytes the compute kernels had to read at least
								 * once: codes (topk, assign), x per iteration
								 * (k-means) */
	int			batches;		/* device batches of codes */
	int			passes;			/* topk: selection passes per query batch */
	int			iterations;		/* k-means: Lloyd iterations run */
} EmbqGpuTiming;

typedef struct EmbqGpuApiExt
{
	EmbqGpuApi	api;			/* must stay first */
	uint32_t	ext_magic;		/* EMBQ_GPU_EXT_MAGIC */
	uint32_t	ext_size;		/* sizeof(EmbqGpuApiExt) */
	void		(*last_timing) (EmbqGpuTiming *out);
} EmbqGpuApiExt;

/*
 * Environment knob for tests: EMBQ_GPU_MAX_BATCH=N caps the codes per device
 * batch of assign and topk (default: as many as fit), so that small inputs
 * exercise the batching paths.
 */
#define EMBQ_GPU_ENV_MAX_BATCH "EMBQ_GPU_MAX_BATCH"

#endif							/* EMBQ_GPU_EXT_H */
