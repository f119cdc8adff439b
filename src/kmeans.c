/*-------------------------------------------------------------------------
 *
 * kmeans.c
 *		Lloyd's k-means for the IVF index build.
 *
 * Assignment uses |x - c|^2 = |x|^2 - 2 x.c + |c|^2 with |x|^2 dropped (it
 * does not change the argmin), so it is a matrix product of rows against
 * centroids, done in cache blocks by the f32_dots kernel.  Deterministic for
 * a given seed and kernel variant: no threads, fixed order.
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <string.h>

#include "kernels.h"
#include "kmeans.h"

/* Squared norms of k rows. */
static void
RowNorms(const EmbqKernels *kern, const float *c, size_t k, size_t dim, double *out)
{
	for (size_t i = 0; i < k; i++)
		out[i] = kern->f32_sqnorm(c + i * dim, dim);
}

/*
 * Rows and centroids per block of the assignment: 64 rows and 64 centroids
 * of 1024 floats fit the L2 cache together, and their dot products (16 kB)
 * the stack.
 */
#define ASSIGN_BLOCK 64

/*
 * Nearest centroid of each row by L2, from block dot products: the
 * centroids are read once per block of rows, not once per row.
 */
void
embq_kmeans_assign(const float *x, size_t n, const float *centroids,
				   const double *cnorm, size_t k, size_t dim, int32_t *assign)
{
	const EmbqKernels *kern = embq_kernels();
	float		dots[ASSIGN_BLOCK * ASSIGN_BLOCK];
	double		best[ASSIGN_BLOCK];

	for (size_t i0 = 0; i0 < n; i0 += ASSIGN_BLOCK)
	{
		size_t		ni = n - i0 < ASSIGN_BLOCK ? n - i0 : ASSIGN_BLOCK;

		for (size_t i = 0; i < ni; i++)
		{
			best[i] = INFINITY;
			assign[i0 + i] = 0;
		}
		for (size_t c0 = 0; c0 < k; c0 += ASSIGN_BLOCK)
		{
			size_t		nc = k - c0 < ASSIGN_BLOCK ? k - c0 : ASSIGN_BLOCK;

			kern->f32_dots(x + i0 * dim, ni, centroids + c0 * dim, nc, dim, dots);
			for (size_t i = 0; i < ni; i++)
				for (size_t c = 0; c < nc; c++)
				{
					double		d = cnorm[c0 + c] - 2.0 * (double) dots[i * nc + c];

					if (d < best[i])
					{
						best[i] = d;
						assign[i0 + i] = (int32_t) (c0 + c);
					}
				}
		}
	}
}

/* Scale a row to unit length (left as is when zero). */
static void
Normalize(const EmbqKernels *kern, float *row, size_t dim)
{
	double		norm = sqrt(kern->f32_sqnorm(row, dim));

	if (norm > 0)
		for (size_t j = 0; j < dim; j++)
			row[j] = (float) (row[j] / norm);
}

/*
 * Workspace layout: sums, cnorm, counts, heap, offsets, perm (8-byte
 * items), then assign, prev.
 */
size_t
embq_kmeans_workspace(size_t n, size_t dim, size_t k)
{
	return sizeof(double) * (k * dim + k) + sizeof(size_t) * (3 * k + 1 + n) +
		sizeof(int32_t) * 2 * n;
}

/*
 * embq_kmeans_workspace, then for code rows: cmul (k doubles), a chunk's
 * dot products (int32) and the centroids as int8 codes.
 */
size_t
embq_kmeans_workspace_codes(size_t n, size_t dim, size_t k)
{
	return embq_kmeans_workspace(n, dim, k) + sizeof(double) * k +
		sizeof(int32_t) * EMBQ_KMEANS_CODE_CHUNK * k + k * dim;
}

/* Rows assigned between two calls of the progress callback, at most. */
#define KMEANS_PROGRESS_ROWS 4096


/*
 * The training rows: floats x (row i at x + i * dim), or int8 codes (row i
 * = scales[i] * codes[i * ldc .. i * ldc + dim)).
 */
typedef struct KmeansRows
{
	const float *x;
	const int8_t *codes;
	size_t		ldc;
	const float *scales;
	EmbqKmeansAssignAll assign_all; /* code rows: the caller's assignment step */
	void	   *assign_arg;
} KmeansRows;

/* Row i as floats into out. */
static void
RowFloats(const KmeansRows *rows, size_t i, size_t dim, float *out)
{
	if (rows->x)
		memcpy(out, rows->x + i * dim, sizeof(float) * dim);
	else
	{
		const int8_t *q = rows->codes + i * rows->ldc;
		double		s = rows->scales[i];

		for (size_t j = 0; j < dim; j++)
			out[j] = (float) (s * q[j]);
	}
}

/* Add row i (its float values, as RowFloats gives them) to the sums s. */
static void
AddRow(const KmeansRows *rows, size_t i, size_t dim, double *s)
{
	if (rows->x)
	{
		const float *row = rows->x + i * dim;

		for (size_t j = 0; j < dim; j++)
			s[j] += row[j];
	}
	else
	{
		const int8_t *q = rows->codes + i * rows->ldc;
		double		sc = rows->scales[i];

		for (size_t j = 0; j < dim; j++)
			s[j] += (float) (sc * q[j]);
	}
}

/*
 * Code rows: quantize the centroids to int8 codes cq (absmax, scale t) and
 * set each one's key terms, |x - c|^2 - |x|^2 = cadd - s cmul (q . p) for a
 * row s q and a centroid t p: cadd = t^2 |p|^2, cmul = 2 t.
 */
static void
QuantizeCentroids(const EmbqKernels *kern, const float *centroids, size_t k, size_t dim,
				  int8_t *cq, double *cadd, double *cmul)
{
	for (size_t c = 0; c < k; c++)
	{
		int8_t	   *p = cq + c * dim;
		double		t = embq_quantize_i8(centroids + c * dim, dim, p);

		cadd[c] = t * t * (double) kern->i8_dot(p, p, dim);
		cmul[c] = 2 * t;
	}
}

/* Nearest centroid of each int8 code row by a key of exact dot products; see kmeans.h. */
void
embq_kmeans_assign_codes(const int8_t *codes, size_t ldc, const float *factors, size_t n,
						 const int8_t *cq, size_t ldq, const double *cadd, const double *cmul,
						 size_t k, size_t dim, int32_t *dots, int32_t *assign)
{
	const EmbqKernels *kern = embq_kernels();

	for (size_t a = 0; a < n; a += EMBQ_KMEANS_CODE_CHUNK)
	{
		size_t		m = n - a < EMBQ_KMEANS_CODE_CHUNK ? n - a : EMBQ_KMEANS_CODE_CHUNK;

		kern->i8_dots(codes + a * ldc, ldc, m, cq, ldq, k, dim, dots);
		for (size_t i = 0; i < m; i++)
			assign[a + i] = kern->nearest_key(dots + i * k, k, factors[a + i], cadd, cmul);
	}
}

/*
 * Give each empty cluster a new centroid (see embq_reseed_begin): the rows
 * bucketed by cluster in perm, in O(n + k log k) for all of them.  counts
 * serves as scratch (the caller no longer needs it).
 */
static void
ReseedEmpty(const KmeansRows *rows, size_t n, size_t dim, size_t k, const int32_t *assign,
			size_t *counts, size_t *heap, size_t *offsets, size_t *perm, uint64_t *rng,
			float *centroids)
{
	size_t		nheap;

	/* rows bucketed by cluster, in row order; heap holds each cluster's next slot first */
	offsets[0] = 0;
	for (size_t c = 0; c < k; c++)
	{
		offsets[c + 1] = offsets[c] + counts[c];
		heap[c] = offsets[c];
	}
	for (size_t i = 0; i < n; i++)
		perm[heap[assign[i]]++] = i;

	nheap = embq_reseed_begin(offsets, k, counts, heap);
	for (size_t c = 0; c < k; c++)
		if (offsets[c + 1] == offsets[c])
			RowFloats(rows, perm[embq_reseed_next(offsets, counts, heap, nheap, rng)], dim,
					  centroids + c * dim);
}

/* Lloyd's algorithm on float or code rows; see embq_kmeans_train. */
static int
Train(const KmeansRows *rows, size_t n, size_t dim, size_t k, int max_iters, int spherical,
	  uint64_t seed, float *centroids, void *work, EmbqKmeansProgress progress,
	  void *progress_arg)
{
	const EmbqKernels *kern = embq_kernels();
	uint64_t	rng = seed ? seed : UINT64_C(0x9E3779B97F4A7C15);
	double	   *sums = (double *) work;
	double	   *cnorm = sums + k * dim;
	size_t	   *counts = (size_t *) (cnorm + k);
	size_t	   *heap = counts + k;
	size_t	   *offsets = heap + k;
	size_t	   *perm = offsets + k + 1;
	int32_t    *assign = (int32_t *) (perm + n);
	int32_t    *prev = assign + n;

	/* code rows only: cnorm serves as cadd */
	double	   *cmul = (double *) (prev + n);	/* 8-aligned: 2n int32 before */
	int32_t    *dots = (int32_t *) (cmul + k);
	int8_t	   *cq = (int8_t *) (dots + EMBQ_KMEANS_CODE_CHUNK * k);
	int			iter;

	/* k distinct rows, by a partial Fisher-Yates shuffle */
	for (size_t i = 0; i < n; i++)
		perm[i] = i;
	for (size_t i = 0; i < k; i++)
	{
		size_t		j = i + embq_random_next(&rng) % (n - i);
		size_t		t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
		RowFloats(rows, perm[i], dim, centroids + i * dim);
	}

	for (iter = 0; iter < max_iters; iter++)
	{
		size_t		changed = 0,
					empty;

		if (progress)
			progress(progress_arg, iter);
		if (rows->x)
			RowNorms(kern, centroids, k, dim, cnorm);
		else
			QuantizeCentroids(kern, centroids, k, dim, cq, cnorm, cmul);
		if (rows->assign_all)
			rows->assign_all(rows->assign_arg, cq, cnorm, cmul, k, assign);
		else
		{
			size_t		step = embq_kmeans_check_rows(k, dim);

			if (step > KMEANS_PROGRESS_ROWS)
				step = KMEANS_PROGRESS_ROWS;
			for (size_t i0 = 0; i0 < n; i0 += step)
			{
				size_t		m = n - i0 < step ? n - i0 : step;

				if (rows->x)
					embq_kmeans_assign(rows->x + i0 * dim, m, centroids, cnorm, k, dim, assign + i0);
				else
					embq_kmeans_assign_codes(rows->codes + i0 * rows->ldc, rows->ldc,
											 rows->scales + i0, m, cq, dim, cnorm, cmul, k, dim,
											 dots, assign + i0);
				/* an iteration can take minutes with many lists: report within it */
				if (progress)
					progress(progress_arg, iter);
			}
		}
		if (iter > 0)
			for (size_t i = 0; i < n; i++)
				changed += assign[i] != prev[i];
		memcpy(prev, assign, sizeof(int32_t) * n);
		if (iter > 0 && changed == 0)
			break;

		memset(sums, 0, sizeof(double) * k * dim);
		memset(counts, 0, sizeof(size_t) * k);
		for (size_t i = 0; i < n; i++)
		{
			counts[assign[i]]++;
			AddRow(rows, i, dim, sums + (size_t) assign[i] * dim);
			if (progress && i % KMEANS_PROGRESS_ROWS == KMEANS_PROGRESS_ROWS - 1)
				progress(progress_arg, iter);
		}
		empty = 0;
		for (size_t c = 0; c < k; c++)
		{
			if (counts[c] == 0)
			{
				empty++;
				continue;
			}
			for (size_t j = 0; j < dim; j++)
				centroids[c * dim + j] = (float) (sums[c * dim + j] / counts[c]);
			if (spherical)
				Normalize(kern, centroids + c * dim, dim);
		}
		if (empty > 0)
			ReseedEmpty(rows, n, dim, k, assign, counts, heap, offsets, perm, &rng, centroids);
	}

	return iter;
}

/* Train k centroids on float rows; see kmeans.h. */
int
embq_kmeans_train(const float *x, size_t n, size_t dim, size_t k,
				  int max_iters, int spherical, uint64_t seed, float *centroids,
				  void *work, EmbqKmeansProgress progress, void *progress_arg)
{
	KmeansRows	rows = {x, NULL, 0, NULL, NULL, NULL};

	return Train(&rows, n, dim, k, max_iters, spherical, seed, centroids, work,
				 progress, progress_arg);
}

/* Train k centroids on int8 code rows; see kmeans.h. */
int
embq_kmeans_train_codes(const int8_t *codes, size_t ldc, const float *scales, size_t n,
						size_t dim, size_t k, int max_iters, int spherical, uint64_t seed,
						float *centroids, void *work, EmbqKmeansProgress progress,
						void *progress_arg, EmbqKmeansAssignAll assign_all, void *assign_arg)
{
	KmeansRows	rows = {NULL, codes, ldc, scales, assign_all, assign_arg};

	return Train(&rows, n, dim, k, max_iters, spherical, seed, centroids, work,
				 progress, progress_arg);
}
