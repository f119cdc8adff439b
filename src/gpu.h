/*-------------------------------------------------------------------------
 *
 * gpu.h
 *		Loading the GPU library (libembq_cuda.so) on first use, and the
 *		embq.gpu setting that governs when it is used.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EMBQ_GPU_LOADER_H
#define EMBQ_GPU_LOADER_H

#include "../cuda/embq_gpu.h"

typedef enum EmbqGpuMode
{
	EMBQ_GPU_OFF,
	EMBQ_GPU_AUTO,
	EMBQ_GPU_ON
} EmbqGpuMode;

extern int	embq_gpu_mode;
extern char *embq_gpu_library;

extern void EmbqGpuInitGuc(void);

/*
 * The GPU interface when this operation may use the GPU: NULL with
 * embq.gpu = off, or = auto and no usable GPU; an ERROR saying why with
 * embq.gpu = on and no usable GPU.
 */
extern const EmbqGpuApi *EmbqGpuForWork(void);

/*
 * A GPU call failed mid-operation: WARNING and go on on the CPU under auto,
 * ERROR under on.
 */
extern void EmbqGpuFailed(const char *what, const char *err);

/*
 * The calls of the GPU interface whose results index the build's arrays
 * or become the index's centroids, with the results checked: as
 * gpu->assign, but a list outside [0, k) fails the call; as
 * gpu->kmeans_train, but a centroid value that is not finite, or that no
 * mean of the rows can have, fails it.  A failure returns nonzero with the
 * reason in err (for EmbqGpuFailed).
 */
extern int	EmbqGpuAssign(const EmbqGpuApi *gpu, int metric, int dims, int codesize,
						  const uint8_t *codes, size_t n, const uint8_t *centroids, size_t k,
						  int32_t *out, char *err, size_t errlen);
extern int	EmbqGpuKmeansTrain(const EmbqGpuApi *gpu, const float *x, size_t n, size_t dim,
							   size_t k, int max_iters, int spherical, uint64_t seed,
							   float *centroids, char *err, size_t errlen);

/*
 * gpu->topk (batched top-k of queries against codes), checking the rows it
 * returns; 0, or -1 with err.
 */
extern int	EmbqGpuTopk(const EmbqGpuApi *gpu, int metric, int asymmetric, int dims, int codesize,
						const uint8_t *codes, size_t n, const uint8_t *qcodes, const float *qfloats,
						size_t nq, int k, float *out_dist, int64_t *out_idx, char *err,
						size_t errlen);

/* Whether a GPU is usable, and the device or the reason (for embq_gpu_status). */
extern bool EmbqGpuUsable(const EmbqGpuDevice **dev, const char **reason);

#endif							/* EMBQ_GPU_LOADER_H */
