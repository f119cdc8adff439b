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

/* Whether a GPU is usable, and the device or the reason (for embq_gpu_status). */
extern bool EmbqGpuUsable(const EmbqGpuDevice **dev, const char **reason);

#endif							/* EMBQ_GPU_LOADER_H */
