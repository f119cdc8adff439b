/*-------------------------------------------------------------------------
 *
 * kmeans.h
 *		k-means training and nearest-centroid assignment on float vectors,
 *		the batch work of an IVF index build.  Plain C (no PostgreSQL
 *		header) with a batch interface a GPU implementation can take over.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EMBQ_KMEANS_H
#define EMBQ_KMEANS_H

#include <stddef.h>
#include <stdint.h>

/* xorshift64* step: the seeded generator of sampling and k-means seeding. */
static inline uint64_t
embq_random_next(uint64_t *state)
{
	uint64_t	x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * UINT64_C(2685821657736338717);
}

/*
 * Re-seeding empty clusters, shared by the CPU k-means and the GPU
 * library's so that both pick the same rows.  Each empty cluster, in order,
 * takes a random row of the currently largest cluster, whose size then
 * counts as halved (it is split), so the next empty one splits the next
 * largest: O(k log k) for all of them, where searching the largest for each
 * made many lists over few distinct values quadratic.  offsets holds k + 1
 * bounds of the rows bucketed by cluster (row order within a cluster);
 * size and heap are k entries of scratch.
 */

/* Restore the max-heap order (by size) of the cluster ids in h below position i. */
static inline void
embq_reseed_sift(size_t *h, size_t n, size_t i, const size_t *size)
{
	size_t		x = h[i];

	for (;;)
	{
		size_t		child = 2 * i + 1;

		if (child >= n)
			break;
		if (child + 1 < n && size[h[child + 1]] > size[h[child]])
			child++;
		if (size[h[child]] <= size[x])
			break;
		h[i] = h[child];
		i = child;
	}
	h[i] = x;
}

/* Set up re-seeding: the non-empty clusters in a heap by size; returns its length. */
static inline size_t
embq_reseed_begin(const size_t *offsets, size_t k, size_t *size, size_t *heap)
{
	size_t		n = 0;

	for (size_t c = 0; c < k; c++)
	{
		size[c] = offsets[c + 1] - offsets[c];
		if (size[c] > 0)
			heap[n++] = c;
	}
	for (size_t i = n / 2; i-- > 0;)
		embq_reseed_sift(heap, n, i, size);
	return n;
}

/*
 * The position, among the bucketed rows, of the row that re-seeds the next
 * empty cluster (nheap > 0).
 */
static inline size_t
embq_reseed_next(const size_t *offsets, size_t *size, size_t *heap, size_t nheap, uint64_t *rng)
{
	size_t		largest = heap[0];
	size_t		pos = offsets[largest] +
		embq_random_next(rng) % (offsets[largest + 1] - offsets[largest]);

	size[largest] = (size[largest] + 1) / 2;
	embq_reseed_sift(heap, nheap, 0, size);
	return pos;
}

/* Bytes of workspace embq_kmeans_train needs (the caller allocates it). */
extern size_t embq_kmeans_workspace(size_t n, size_t dim, size_t k);

/*
 * Train k centroids (k x dim, row-major) on n >= k vectors x by Lloyd's
 * algorithm, starting from k distinct rows picked with seed.  With spherical
 * set, rows of x must be unit length and centroids are renormalized after
 * each update (cosine distance).  An empty cluster is re-seeded with a row
 * of the largest one, which then counts as split in two (see ReseedEmpty).  work holds embq_kmeans_workspace() bytes, 8-aligned.
 * progress, when not NULL, is called with the iteration number at its start
 * and after every few thousand rows assigned (a caller may check for
 * cancellation there).  Returns the number of iterations run.
 */
typedef void (*EmbqKmeansProgress) (void *arg, int iter);

extern int	embq_kmeans_train(const float *x, size_t n, size_t dim, size_t k,
							  int max_iters, int spherical, uint64_t seed,
							  float *centroids, void *work,
							  EmbqKmeansProgress progress, void *progress_arg);

/*
 * An assignment step of embq_kmeans_train_codes done by the caller: set
 * assign[i] for every row i of the training rows as embq_kmeans_assign_codes
 * does with these centroid codes (cq, k x dim) and key terms (cadd, cmul).
 * The index build spreads it over parallel workers.
 */
typedef void (*EmbqKmeansAssignAll) (void *arg, const int8_t *cq, const double *cadd,
									 const double *cmul, size_t k, int32_t *assign);

/* Bytes of workspace embq_kmeans_train_codes needs. */
extern size_t embq_kmeans_workspace_codes(size_t n, size_t dim, size_t k);

/*
 * embq_kmeans_train on rows given as int8 codes: row i is scales[i] times
 * the dim codes (in [-127, 127]) at codes + i * ldc.  Initial rows,
 * updates and re-seeding work on the rows' float values as above; each
 * assignment step quantizes the centroids to int8 (per-centroid absmax
 * scale) and ranks them by exact int8 dot products (the i8_dots kernel),
 * about twice as fast as the float products, and the same geometry as
 * the index uses once the centroids are stored as codes.  With spherical
 * set, scales[i] must make row i unit length (or be 0 for a zero row).
 * work holds embq_kmeans_workspace_codes() bytes, 8-aligned.  assign_all,
 * when not NULL, does each assignment step instead (with assign_arg); the
 * result is the same as long as it assigns as embq_kmeans_assign_codes.
 */
extern int	embq_kmeans_train_codes(const int8_t *codes, size_t ldc, const float *scales,
									size_t n, size_t dim, size_t k, int max_iters,
									int spherical, uint64_t seed, float *centroids,
									void *work, EmbqKmeansProgress progress,
									void *progress_arg, EmbqKmeansAssignAll assign_all,
									void *assign_arg);

/* Code rows whose dot products with every centroid are taken at a time. */
#define EMBQ_KMEANS_CODE_CHUNK 64

/*
 * Multiply-adds of an assignment between two interrupt checks: some
 * milliseconds on one core, so a cancel acts within a fraction of a second
 * whatever the lists and dimensions.
 */
#define EMBQ_KMEANS_CHECK_WORK ((size_t) 1 << 26)

/* Rows to assign to k centroids of dim dimensions between interrupt checks (>= 1). */
static inline size_t
embq_kmeans_check_rows(size_t k, size_t dim)
{
	size_t		per_row = k * dim > 0 ? k * dim : 1;

	return EMBQ_KMEANS_CHECK_WORK / per_row > 0 ? EMBQ_KMEANS_CHECK_WORK / per_row : 1;
}

/*
 * For each of n int8 code rows (row i at codes + i * ldc) with factors[i],
 * the index of the centroid code c (at cq + c * ldq, dim codes) minimising
 * cadd[c] - factors[i] * cmul[c] * (row . centroid), the dot products exact
 * from the i8_dots kernel; ties go to the lower index, and a NaN factor
 * makes every key NaN, so the row goes to centroid 0.  Distances of scaled
 * codes take this form once the terms equal for every centroid are
 * dropped (the callers set cadd, cmul and the factors per metric).  dots
 * holds EMBQ_KMEANS_CODE_CHUNK * k int32.
 */
extern void embq_kmeans_assign_codes(const int8_t *codes, size_t ldc, const float *factors,
									 size_t n, const int8_t *cq, size_t ldq,
									 const double *cadd, const double *cmul, size_t k,
									 size_t dim, int32_t *dots, int32_t *assign);

/*
 * For each of n vectors x, the index of the centroid c minimising
 * cnorm[c] - 2 x . c (ties to the lower index, up to float rounding): the
 * nearest by L2 when cnorm holds the centroids' squared norms; other
 * biases give other rankings (the index passes 0 for inner product).
 */
extern void embq_kmeans_assign(const float *x, size_t n, const float *centroids,
							   const double *cnorm, size_t k, size_t dim,
							   int32_t *assign);

#endif							/* EMBQ_KMEANS_H */
