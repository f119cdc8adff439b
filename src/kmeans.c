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

/* Workspace layout: sums, cnorm, counts, perm (8-byte items), then assign, prev. */
size_t
embq_kmeans_workspace(size_t n, size_t dim, size_t k)
{
	return sizeof(double) * (k * dim + k) + sizeof(size_t) * (k + n) +
		sizeof(int32_t) * 2 * n;
}

/* Rows assigned between two calls of the progress callback. */
#define KMEANS_PROGRESS_ROWS 4096

/* Train k centroids; see kmeans.h. */
int
embq_kmeans_train(const float *x, size_t n, size_t dim, size_t k,
				  int max_iters, int spherical, uint64_t seed, float *centroids,
				  void *work, EmbqKmeansProgress progress, void *progress_arg)
{
	const EmbqKernels *kern = embq_kernels();
	uint64_t	rng = seed ? seed : UINT64_C(0x9E3779B97F4A7C15);
	double	   *sums = (double *) work;
	double	   *cnorm = sums + k * dim;
	size_t	   *counts = (size_t *) (cnorm + k);
	size_t	   *perm = counts + k;
	int32_t    *assign = (int32_t *) (perm + n);
	int32_t    *prev = assign + n;
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
		memcpy(centroids + i * dim, x + perm[i] * dim, sizeof(float) * dim);
	}

	for (iter = 0; iter < max_iters; iter++)
	{
		size_t		changed = 0;

		if (progress)
			progress(progress_arg, iter);
		RowNorms(kern, centroids, k, dim, cnorm);
		for (size_t i0 = 0; i0 < n; i0 += KMEANS_PROGRESS_ROWS)
		{
			embq_kmeans_assign(x + i0 * dim, n - i0 < KMEANS_PROGRESS_ROWS ? n - i0 : KMEANS_PROGRESS_ROWS,
							   centroids, cnorm, k, dim, assign + i0);
			/* an iteration can take minutes with many lists: report within it */
			if (progress)
				progress(progress_arg, iter);
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
			double	   *s = sums + (size_t) assign[i] * dim;
			const float *row = x + i * dim;

			counts[assign[i]]++;
			for (size_t j = 0; j < dim; j++)
				s[j] += row[j];
		}
		for (size_t c = 0; c < k; c++)
		{
			if (counts[c] == 0)
			{
				/* re-seed from a random row of the largest cluster */
				size_t		largest = 0,
							pick,
							seen = 0;

				for (size_t d = 1; d < k; d++)
					if (counts[d] > counts[largest])
						largest = d;
				pick = embq_random_next(&rng) % (counts[largest] ? counts[largest] : 1);
				for (size_t i = 0; i < n; i++)
					if ((size_t) assign[i] == largest && seen++ == pick)
					{
						memcpy(centroids + c * dim, x + i * dim, sizeof(float) * dim);
						break;
					}
				continue;
			}
			for (size_t j = 0; j < dim; j++)
				centroids[c * dim + j] = (float) (sums[c * dim + j] / counts[c]);
			if (spherical)
				Normalize(kern, centroids + c * dim, dim);
		}
	}

	return iter;
}
