/*-------------------------------------------------------------------------
 *
 * kmeans.cu
 *		Lloyd's k-means on the device, with the semantics of
 *		embq_kmeans_train (src/kmeans.c): the same k initial rows (xorshift64*
 *		and a partial Fisher-Yates shuffle, so the initial centroids are the
 *		CPU's exactly), at most max_iters iterations, an early stop when no
 *		assignment changes, empty clusters re-seeded by splitting the largest
 *		clusters with the CPU's generator and rule (embq_reseed_next), and spherical
 *		renormalization.
 *
 * Per iteration:
 *  1. |c|^2 of every centroid (k_km_cnorm, a warp per centroid);
 *  2. assignment (k_km_argmin): a GEMM-like kernel; a 256-thread block
 *	  computes a 128-row x 128-centroid tile of x . c through shared-memory
 *	  tiles of 16 dimensions, 8 x 8 outputs per thread, turns them into
 *	  |c|^2 - 2 x.c, reduces each row over its tile (registers, then a
 *	  half-warp shuffle) to a packed key (order-preserving float bits << 32
 *	  | centroid index; ties to the lower index), and combines tiles with a
 *	  64-bit atomicMin per row.  |x|^2 is dropped as on the CPU.  The
 *	  distances are float (fused multiply-adds are used here on purpose:
 *	  k-means agrees with the CPU in meaning, not bit for bit);
 *  3. the assignments go to the host, which counts changes (stop when
 *	  none), counts cluster sizes and lists each cluster's rows in
 *	  ascending row order (a stable counting sort);
 *  4. update (k_km_sum, k_km_finalize): each cluster's rows are summed in
 *	  double in that fixed order, one block per cluster, clusters with more
 *	  than KM_SEG rows split into segments whose partial sums are then added
 *	  in segment order; centroid = float(sum / count), renormalized when
 *	  spherical.  No floating-point atomics: the result does not depend on
 *	  scheduling, so a build is reproducible for a given seed, and a
 *	  cluster of at most KM_SEG rows gets exactly the CPU's centroid for
 *	  the same members;
 *  5. empty clusters are re-seeded exactly as the CPU does (same generator
 *	  calls, same row choice), copying rows on the device.
 *
 * x must fit in device memory with the working arrays; otherwise an error
 * says how much is needed (the caller then trains on the CPU).
 *
 *-------------------------------------------------------------------------
 */
#include "common.cuh"
#include "../src/kmeans.h"		/* embq_random_next: the CPU's generator */

#define KM_BM 128				/* rows per tile */
#define KM_BN 128				/* centroids per tile */
#define KM_BK 16				/* dimensions per shared-memory step */
#define KM_T 256				/* threads per GEMM block: 16 x 16 */
#define KM_UT 256				/* threads per update block (a power of two) */
#define KM_SEG 1024				/* rows per update work item */

/* |c|^2 per centroid (float), a warp per centroid. */
__global__ void
k_km_cnorm(const float *__restrict__ c, int k, int dim, float *__restrict__ cn)
{
	const int	warp = (int) ((blockIdx.x * (size_t) blockDim.x + threadIdx.x) >> 5);
	const int	lane = threadIdx.x & 31;

	if (warp >= k)
		return;					/* whole warps leave together */
	{
		const float *row = c + (size_t) warp * dim;
		float		s = 0.f;

		for (int j = lane; j < dim; j += 32)
			s = __fmaf_rn(row[j], row[j], s);
#pragma unroll
		for (int off = 16; off > 0; off >>= 1)
			s += __shfl_xor_sync(0xffffffffu, s, off);
		if (lane == 0)
			cn[warp] = s;
	}
}

/* Nearest centroid of every row, as packed keys combined by atomicMin. */
__global__ void __launch_bounds__(KM_T)
k_km_argmin(const float *__restrict__ x, int n, const float *__restrict__ c,
			const float *__restrict__ cn, int k, int dim, int nrb,
			unsigned long long *__restrict__ best)
{
	__shared__ float As[KM_BK][KM_BM + 4];	/* As[d][row] */
	__shared__ float Bs[KM_BK][KM_BN + 4];	/* Bs[d][centroid] */
	const int	tid = threadIdx.x;
	const int	tx = tid & 15;	/* centroids tx + 16 j */
	const int	ty = tid >> 4;	/* rows ty + 16 i; lanes 0-15 / 16-31 share a ty */
	const int	colBase = blockIdx.x * KM_BN;
	float		cnv[8];

#pragma unroll
	for (int j = 0; j < 8; j++)
	{
		const int	col = colBase + tx + 16 * j;

		cnv[j] = col < k ? cn[col] : 0.f;
	}

	/* row blocks beyond gridDim.y's limit: same trip count in every thread */
	for (int rb = blockIdx.y; rb < nrb; rb += gridDim.y)
	{
		const size_t rowBase = (size_t) rb * KM_BM;
		float		acc[8][8];

#pragma unroll
		for (int i = 0; i < 8; i++)
#pragma unroll
			for (int j = 0; j < 8; j++)
				acc[i][j] = 0.f;

		for (int k0 = 0; k0 < dim; k0 += KM_BK)
		{
			/* 128 x 16 of each operand: 2048 floats, 8 per thread, dims fastest */
#pragma unroll
			for (int p = 0; p < 8; p++)
			{
				const int	e = tid + KM_T * p;
				const int	r = e >> 4;
				const int	kk = e & 15;
				const int	d = k0 + kk;
				const size_t row = rowBase + r;
				const size_t col = (size_t) colBase + r;

				As[kk][r] = (row < (size_t) n && d < dim) ? x[row * dim + d] : 0.f;
				Bs[kk][r] = (col < (size_t) k && d < dim) ? c[col * dim + d] : 0.f;
			}
			__syncthreads();
#pragma unroll
			for (int kk = 0; kk < KM_BK; kk++)
			{
				float		a[8],
							b[8];

#pragma unroll
				for (int i = 0; i < 8; i++)
					a[i] = As[kk][ty + 16 * i];
#pragma unroll
				for (int j = 0; j < 8; j++)
					b[j] = Bs[kk][tx + 16 * j];
#pragma unroll
				for (int i = 0; i < 8; i++)
#pragma unroll
					for (int j = 0; j < 8; j++)
						acc[i][j] = __fmaf_rn(a[i], b[j], acc[i][j]);
			}
			__syncthreads();
		}

#pragma unroll
		for (int i = 0; i < 8; i++)
		{
			const size_t row = rowBase + ty + 16 * i;
			unsigned long long key = EMBQ_KEY_NONE;

#pragma unroll
			for (int j = 0; j < 8; j++)
			{
				const int	col = colBase + tx + 16 * j;

				if (col < k)
				{
					const unsigned long long kj =
						embq_make_key(cnv[j] - 2.0f * acc[i][j], (unsigned int) col);

					key = kj < key ? kj : key;
				}
			}
			/* the 16 threads of this row set are one half-warp */
#pragma unroll
			for (int off = 8; off > 0; off >>= 1)
			{
				const unsigned long long o = __shfl_xor_sync(0xffffffffu, key, off);

				key = o < key ? o : key;
			}
			if (tx == 0 && row < (size_t) n && key != EMBQ_KEY_NONE)
				atomicMin(&best[row], key);
		}
	}
}

/* Keys to centroid indices. */
__global__ void
k_km_extract(const unsigned long long *__restrict__ best, int n, int32_t *__restrict__ assign)
{
	for (size_t i = (size_t) blockIdx.x * blockDim.x + threadIdx.x; i < (size_t) n;
		 i += (size_t) gridDim.x * blockDim.x)
	{
		const unsigned long long b = best[i];

		assign[i] = b == EMBQ_KEY_NONE ? 0 : (int32_t) (b & 0xffffffffull);
	}
}

/* Scale a centroid to unit length (left as is when zero); the whole block. */
__device__ void
km_normalize(float *row, int dim)
{
	__shared__ double red[KM_UT];
	double		ss = 0;
	double		norm;

	for (int j = threadIdx.x; j < dim; j += KM_UT)
	{
		const double v = row[j];

		ss += v * v;
	}
	red[threadIdx.x] = ss;
	__syncthreads();
	for (int s = KM_UT / 2; s > 0; s >>= 1)
	{
		if ((int) threadIdx.x < s)
			red[threadIdx.x] += red[threadIdx.x + s];
		__syncthreads();
	}
	norm = sqrt(red[0]);
	if (norm > 0)
		for (int j = threadIdx.x; j < dim; j += KM_UT)
			row[j] = (float) (row[j] / norm);
}

/*
 * Work item (cluster, begin, end, slot): sum rows members[begin..end) in
 * order.  slot < 0: the whole cluster; write the centroid.  Otherwise write
 * the partial sums to partial[slot].
 */
__global__ void __launch_bounds__(KM_UT)
k_km_sum(const float *__restrict__ x, int dim, const int *__restrict__ members,
		 const int4 *__restrict__ work, const int *__restrict__ counts,
		 double *__restrict__ partial, float *__restrict__ cent, int spherical)
{
	const int4	w = work[blockIdx.x];
	float	   *crow = cent + (size_t) w.x * dim;

	for (int j = threadIdx.x; j < dim; j += KM_UT)
	{
		double		s = 0;

		for (int r = w.y; r < w.z; r++)
			s += (double) x[(size_t) members[r] * dim + j];
		if (w.w < 0)
			crow[j] = (float) (s / (double) counts[w.x]);
		else
			partial[(size_t) w.w * dim + j] = s;
	}
	if (w.w < 0 && spherical)	/* the same for the whole block */
		km_normalize(crow, dim);
}

/* Split clusters (cluster, first slot, slots, count): add the partial sums in order. */
__global__ void __launch_bounds__(KM_UT)
k_km_finalize(const int4 *__restrict__ multi, const double *__restrict__ partial,
			  float *__restrict__ cent, int dim, int spherical)
{
	const int4	m = multi[blockIdx.x];
	float	   *crow = cent + (size_t) m.x * dim;

	for (int j = threadIdx.x; j < dim; j += KM_UT)
	{
		double		s = 0;

		for (int t = 0; t < m.z; t++)
			s += partial[(size_t) (m.y + t) * dim + j];
		crow[j] = (float) (s / (double) m.w);
	}
	if (spherical)
		km_normalize(crow, dim);
}

/* Re-seed: copy row pairs[p].y of x into centroid pairs[p].x. */
__global__ void
k_km_reseed(const float *__restrict__ x, const int2 *__restrict__ pairs, int dim,
			float *__restrict__ cent)
{
	const int2	pr = pairs[blockIdx.x];

	for (int j = threadIdx.x; j < dim; j += blockDim.x)
		cent[(size_t) pr.x * dim + j] = x[(size_t) pr.y * dim + j];
}

int
embq_impl_kmeans(const float *x, size_t n, size_t dim, size_t k, int max_iters,
				 int spherical, uint64_t seed, float *centroids, char *err, size_t errlen)
{
	uint64_t	rng = seed ? seed : UINT64_C(0x9E3779B97F4A7C15);
	size_t		freeb = 0,
				need,
				maxslots,
				maxwork;
	int			nrb,
				iter;
	HostBuf<size_t> perm;
	HostBuf<int32_t> assign,
				prev,
				members;
	HostBuf<int> counts,
				cursor;
	HostBuf<size_t> offsets,
				rsize,
				rheap;
	HostBuf<int4> work,
				multi;
	HostBuf<int2> pairs;
	DevBuf<float> dx,
				dc,
				dcn;
	DevBuf<unsigned long long> dbest;
	DevBuf<int32_t> dassign;
	DevBuf<int> dmembers,
				dcounts;
	DevBuf<int4> dwork,
				dmulti;
	DevBuf<int2> dpairs;
	DevBuf<double> dpartial;
	PhaseTimer	t;

	if (x == nullptr || centroids == nullptr)
	{
		embq_seterr(err, errlen, "k-means got a null pointer");
		return -1;
	}
	if (k < 1 || dim < 1)
	{
		embq_seterr(err, errlen, "k-means needs k >= 1 and dim >= 1 (k = %zu, dim = %zu)", k, dim);
		return -1;
	}
	if (n < k)
	{
		embq_seterr(err, errlen, "k-means needs at least k rows (%zu rows, k = %zu)", n, k);
		return -1;
	}
	if (n > (size_t) INT32_MAX - KM_BM || dim > (size_t) INT32_MAX / 2 ||
		k > (size_t) INT32_MAX - KM_BN)
	{
		embq_seterr(err, errlen, "k-means input too large for the gpu (n = %zu, dim = %zu, k = %zu)",
					n, dim, k);
		return -1;
	}

	/* k distinct rows, by the CPU's partial Fisher-Yates shuffle */
	TRY(perm.alloc(n, "k-means seeding", err, errlen));
	for (size_t i = 0; i < n; i++)
		perm[i] = i;
	for (size_t i = 0; i < k; i++)
	{
		size_t		j = i + embq_random_next(&rng) % (n - i);
		size_t		tmp = perm[i];

		perm[i] = perm[j];
		perm[j] = tmp;
		memcpy(centroids + i * dim, x + perm[i] * dim, sizeof(float) * dim);
	}
	perm.reset();				/* give the memory back */
	if (max_iters <= 0)
		return 0;

	TRY(embq_ensure_device(nullptr, err, errlen));

	/* device memory: all of x plus the working arrays */
	maxslots = 2 * n / KM_SEG + 1;
	maxwork = k + maxslots;
	need = sizeof(float) * (n * dim + k * dim + k) + sizeof(unsigned long long) * n +
		sizeof(int32_t) * n * 2 + sizeof(int) * k + sizeof(int4) * (maxwork + k) +
		sizeof(int2) * k + sizeof(double) * maxslots * dim;
	TRY(embq_free_mem(&freeb, err, errlen));
	if (need + ((size_t) 256 << 20) > freeb)
	{
		embq_seterr(err, errlen,
					"k-means on %zu x %zu needs %zu MiB of gpu memory, %zu MiB are free",
					n, dim, (need >> 20) + 256, freeb >> 20);
		return -1;
	}
	TRY(dev_alloc(dx, n * dim, "k-means rows", err, errlen));
	TRY(dev_alloc(dc, k * dim, "centroids", err, errlen));
	TRY(dev_alloc(dcn, k, "centroid norms", err, errlen));
	TRY(dev_alloc(dbest, n, "k-means assignment keys", err, errlen));
	TRY(dev_alloc(dassign, n, "k-means assignments", err, errlen));
	TRY(dev_alloc(dmembers, n, "cluster members", err, errlen));
	TRY(dev_alloc(dcounts, k, "cluster sizes", err, errlen));
	TRY(dev_alloc(dwork, maxwork, "k-means work items", err, errlen));
	TRY(dev_alloc(dmulti, k, "k-means work items", err, errlen));
	TRY(dev_alloc(dpairs, k, "k-means re-seeding", err, errlen));
	TRY(dev_alloc(dpartial, maxslots * dim, "partial sums", err, errlen));

	TRY(assign.alloc(n, "k-means assignments", err, errlen));
	TRY(prev.alloc(n, "k-means assignments", err, errlen));
	TRY(members.alloc(n, "cluster members", err, errlen));
	TRY(counts.alloc(k, "cluster sizes", err, errlen));
	TRY(offsets.alloc(k + 1, "cluster offsets", err, errlen));
	TRY(cursor.alloc(k, "cluster offsets", err, errlen));
	TRY(rsize.alloc(k, "re-seeding sizes", err, errlen));
	TRY(rheap.alloc(k, "re-seeding heap", err, errlen));
	TRY(work.alloc(maxwork, "k-means work items", err, errlen));
	TRY(multi.alloc(k, "k-means work items", err, errlen));
	TRY(pairs.alloc(k, "k-means re-seeding", err, errlen));

	TRY(embq_upload(dx.p, x, sizeof(float) * n * dim, "uploading k-means rows", err, errlen));
	TRY(embq_upload(dc.p, centroids, sizeof(float) * k * dim, "uploading centroids", err, errlen));

	nrb = (int) ceil_div(n, KM_BM);
	for (iter = 0; iter < max_iters; iter++)
	{
		size_t		changed = 0;
		int			nwork = 0,
					nmulti = 0,
					npairs = 0,
					slot = 0,
					nheap;
		dim3		grid((unsigned int) ceil_div(k, KM_BN), (unsigned int) (nrb < 65535 ? nrb : 65535));

		/* 1-2: assignment */
		t.restart();
		EMBQ_LAUNCH(k_km_cnorm, (unsigned int) ceil_div(k * 32, 256), 256, 0,
					dc.p, (int) k, (int) dim, dcn.p);
		LAUNCH_CHECK("launching the centroid norm kernel");
		CUDA_TRY("clearing assignment keys",
				 cudaMemsetAsync(dbest.p, 0xff, sizeof(unsigned long long) * n, 0));
		EMBQ_LAUNCH(k_km_argmin, grid, KM_T, 0,
					dx.p, (int) n, dc.p, dcn.p, (int) k, (int) dim, nrb, dbest.p);
		LAUNCH_CHECK("launching the k-means assignment kernel");
		EMBQ_LAUNCH(k_km_extract, grid_for(n, 256), 256, 0, dbest.p, (int) n, dassign.p);
		LAUNCH_CHECK("launching the k-means extract kernel");
		TRY(embq_sync(&embq_timing.kernel_s, t, "k-means assignment", err, errlen));
		embq_timing.kernel_bytes += (uint64_t) n * dim * sizeof(float);
		TRY(embq_download(assign.p, dassign.p, sizeof(int32_t) * n,
						  "downloading k-means assignments", err, errlen));

		/* 3: changes, sizes, members in row order */
		t.restart();
		if (iter > 0)
			for (size_t i = 0; i < n; i++)
				changed += assign[i] != prev[i];
		memcpy(prev.p, assign.p, sizeof(int32_t) * n);
		embq_timing.iterations = iter + 1;
		if (iter > 0 && changed == 0)
		{
			t.add(&embq_timing.host_s);
			break;
		}
		memset(counts.p, 0, sizeof(int) * k);
		for (size_t i = 0; i < n; i++)
		{
			if (assign[i] < 0 || (size_t) assign[i] >= k)
			{
				embq_seterr(err, errlen, "k-means assignment out of range: %d", (int) assign[i]);
				return -1;
			}
			counts[assign[i]]++;
		}
		offsets[0] = 0;
		for (size_t c = 0; c < k; c++)
		{
			offsets[c + 1] = offsets[c] + counts[c];
			cursor[c] = offsets[c];
		}
		for (size_t i = 0; i < n; i++)
			members[cursor[assign[i]]++] = (int32_t) i;
		nheap = embq_reseed_begin(offsets.p, k, rsize.p, rheap.p);
		for (size_t c = 0; c < k; c++)
		{
			const int	cnt = counts[c];

			if (cnt == 0)
			{
				/* re-seed by splitting the largest clusters, as the CPU does */
				pairs[npairs].x = (int) c;
				pairs[npairs].y = members[embq_reseed_next(offsets.p, rsize.p, rheap.p, nheap, &rng)];
				npairs++;
				continue;
			}
			if (cnt <= KM_SEG)
				work[nwork++] = make_int4((int) c, (int) offsets[c], (int) offsets[c] + cnt, -1);
			else
			{
				const int	nseg = (int) ceil_div((size_t) cnt, KM_SEG);

				multi[nmulti++] = make_int4((int) c, slot, nseg, cnt);
				for (int s = 0; s < nseg; s++)
				{
					const int	b = (int) offsets[c] + s * KM_SEG;
					const int	e = s + 1 < nseg ? b + KM_SEG : (int) offsets[c] + cnt;

					work[nwork++] = make_int4((int) c, b, e, slot++);
				}
			}
		}
		t.add(&embq_timing.host_s);

		/* 4-5: update and re-seed */
		TRY(embq_upload(dmembers.p, members.p, sizeof(int32_t) * n, "uploading cluster members",
						err, errlen));
		TRY(embq_upload(dcounts.p, counts.p, sizeof(int) * k, "uploading cluster sizes",
						err, errlen));
		TRY(embq_upload(dwork.p, work.p, sizeof(int4) * nwork, "uploading k-means work",
						err, errlen));
		TRY(embq_upload(dmulti.p, multi.p, sizeof(int4) * nmulti, "uploading k-means work",
						err, errlen));
		TRY(embq_upload(dpairs.p, pairs.p, sizeof(int2) * npairs, "uploading k-means re-seeding",
						err, errlen));
		t.restart();
		if (nwork > 0)
		{
			EMBQ_LAUNCH(k_km_sum, nwork, KM_UT, 0, dx.p, (int) dim, dmembers.p, dwork.p,
						dcounts.p, dpartial.p, dc.p, spherical);
			LAUNCH_CHECK("launching the k-means update kernel");
		}
		if (nmulti > 0)
		{
			EMBQ_LAUNCH(k_km_finalize, nmulti, KM_UT, 0,
						dmulti.p, dpartial.p, dc.p, (int) dim, spherical);
			LAUNCH_CHECK("launching the k-means finalize kernel");
		}
		if (npairs > 0)
		{
			EMBQ_LAUNCH(k_km_reseed, npairs, 256, 0, dx.p, dpairs.p, (int) dim, dc.p);
			LAUNCH_CHECK("launching the k-means re-seed kernel");
		}
		TRY(embq_sync(&embq_timing.kernel_s, t, "k-means update", err, errlen));
		embq_timing.kernel_bytes += (uint64_t) n * dim * sizeof(float);
	}

	TRY(embq_download(centroids, dc.p, sizeof(float) * k * dim, "downloading centroids",
					  err, errlen));
	return 0;
}
