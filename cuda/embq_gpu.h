/*-------------------------------------------------------------------------
 *
 * embq_gpu.h
 *		The C interface of libembq_cuda.so, the GPU side of embq: k-means
 *		training, nearest-centroid assignment of large batches, and batched
 *		top-k scoring of codes against many queries.
 *
 * Shared by cuda/ (which implements it) and src/ (which dlopens the library
 * on first use and calls through embq_gpu_api()).  Plain C, no PostgreSQL
 * or CUDA header.
 *
 * Conventions:
 *  - every function returns 0 on success, or nonzero with a one-line,
 *    lower-case reason in err (errlen bytes, NUL-terminated) and leaves no
 *    device memory allocated;
 *  - host pointers in, host pointers out: the library moves data to and from
 *    the device itself;
 *  - codes are in the index's code format (kernels.h, ivf.h): packed bits for
 *    bitvec (dimension 0 = MSB of byte 0), or a float4 scale followed by
 *    dims int8 codes for i8vec, codesize bytes each, packed back to back;
 *  - distances are the index's ranking distances (ivfint8.c, ivfbits.c:
 *    the code distance and exact_distance), computed from exact integer sums
 *    where the CPU computes them so, so GPU and CPU agree on assignments
 *    (ties go to the lower index).
 *
 *-------------------------------------------------------------------------
 */
#ifndef EMBQ_GPU_H
#define EMBQ_GPU_H

#include <stddef.h>
#include <stdint.h>

#define EMBQ_GPU_ABI_VERSION 1

/* metrics: the same numbers as IVF_METRIC_* in src/ivf.h */
#define EMBQ_GPU_METRIC_HAMMING	1	/* bits x bits */
#define EMBQ_GPU_METRIC_BIT_IP	2	/* float query x bits: -sum q over set bits */
#define EMBQ_GPU_METRIC_L2		3	/* i8 codes; squared L2 for ranking */
#define EMBQ_GPU_METRIC_IP		4	/* i8 codes; negative inner product */
#define EMBQ_GPU_METRIC_COSINE	5	/* i8 codes; cosine distance, NaN ranks last */

typedef struct EmbqGpuDevice
{
	int			device;			/* CUDA device ordinal in use */
	char		name[128];		/* e.g. "NVIDIA H100 80GB HBM3" */
	int			cc_major;		/* compute capability */
	int			cc_minor;
	size_t		total_mem;		/* bytes */
	size_t		free_mem;		/* bytes, when probed */
	int			runtime_version;	/* cudaRuntimeGetVersion */
	int			driver_version; /* cudaDriverGetVersion */
} EmbqGpuDevice;

typedef struct EmbqGpuApi
{
	int			abi_version;	/* EMBQ_GPU_ABI_VERSION */

	/* Is a usable device there?  Fills dev. */
	int			(*probe) (EmbqGpuDevice *dev, char *err, size_t errlen);

	/*
	 * k-means on n float vectors (n x dim, row-major) into k centroids
	 * (k x dim): Lloyd iterations from k distinct rows chosen by seed, at most
	 * max_iters, spherical renormalizes centroids (rows must be unit length).
	 * Same semantics as embq_kmeans_train (src/kmeans.h); results agree in
	 * meaning, not bit for bit.
	 */
	int			(*kmeans_train) (const float *x, size_t n, size_t dim, size_t k,
								 int max_iters, int spherical, uint64_t seed,
								 float *centroids, char *err, size_t errlen);

	/*
	 * Nearest of k centroid codes for each of n codes, by metric (HAMMING,
	 * L2, IP or COSINE); out[i] in [0, k).  Identical to the CPU's
	 * the index kind's nearest_list for every row (integer sums, the same double formula,
	 * no fused multiply-add, ties to the lower index).
	 */
	int			(*assign) (int metric, int dims, int codesize,
						   const uint8_t *codes, size_t n,
						   const uint8_t *centroids, size_t k,
						   int32_t *out, char *err, size_t errlen);

	/*
	 * Batched top-k: for each of nq queries, the k nearest of n codes,
	 * ascending by distance, ties by lower index.  Queries are codes
	 * (qcodes, nq x codesize) for HAMMING / L2 / IP / COSINE, or floats
	 * (qfloats, nq x dims) for BIT_IP and for the float-query forms of
	 * L2 / IP / COSINE (asymmetric = 1).  out_dist / out_idx are nq x k;
	 * when n < k the tail is +inf / -1.  k <= EMBQ_GPU_MAX_TOPK.
	 */
	int			(*topk) (int metric, int asymmetric, int dims, int codesize,
						 const uint8_t *codes, size_t n,
						 const uint8_t *qcodes, const float *qfloats, size_t nq,
						 int k, float *out_dist, int64_t *out_idx,
						 char *err, size_t errlen);

	/* Measured device-to-device copy bandwidth in bytes/s (for reports). */
	int			(*copy_bandwidth) (double *bytes_per_s, char *err, size_t errlen);
} EmbqGpuApi;

#define EMBQ_GPU_MAX_TOPK 1024

/* The one symbol libembq_cuda.so exports. */
typedef const EmbqGpuApi *(*EmbqGpuApiFn) (void);
#define EMBQ_GPU_API_SYMBOL "embq_gpu_api"

#endif							/* EMBQ_GPU_H */
