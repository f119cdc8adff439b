/*-------------------------------------------------------------------------
 *
 * assign.cu
 *		Nearest of k centroid codes for each of n codes, identical to the
 *		CPU's nearest_list (src/ivfint8.c, src/ivfbits.c): exact integer
 *		sums (__popc over 32-bit words, __dp4a over int8x4), then
 *		I8CodeDistance's
 *		double formula (embq_dev_i8_dist), scanned in ascending centroid
 *		order with a strict "<" starting from +inf / index 0, so ties go to
 *		the lower index and a row whose distances are all +inf goes to 0.
 *
 * Kernel: one thread per code.  Codes are in the transposed layout, so a
 * warp's loads of one word of 32 codes are one coalesced 128-byte read.
 * Centroids go through shared memory in tiles of AS_TC centroids by AS_WC
 * words; every thread reads the same shared word (a broadcast) and keeps
 * AS_TC integer accumulators in registers.  When there are too few codes
 * to fill the device, the centroid tiles are split over gridDim.y slices;
 * each slice keeps its own best (double distance, index), and a second
 * kernel combines the slices in ascending order with the same strict "<",
 * which is exactly the CPU's scan.
 *
 * Codes go in device batches (all of them when they fit); each batch is
 * uploaded, repacked, assigned and copied back before the next.
 *
 *-------------------------------------------------------------------------
 */
#include "common.cuh"

#define AS_THREADS 128
#define AS_TC 32				/* centroids per shared tile */
#define AS_WC 64				/* words per shared tile (a multiple of 8) */
#define AS_MAX_SLICES 64

template <bool BITS>
__global__ void __launch_bounds__(AS_THREADS)
k_assign(const uint32_t *__restrict__ codesT, size_t ldc, size_t ncodes, int Wq,
		 const float *__restrict__ scale, const int *__restrict__ norm,
		 const uint32_t *__restrict__ crows, const float *__restrict__ cscale,
		 const int *__restrict__ cnorm, int k, int tiles_per_slice, int metric,
		 double *__restrict__ out_d, int *__restrict__ out_i)
{
	__shared__ __align__(16) uint32_t sm[AS_TC][AS_WC];
	const size_t i = (size_t) blockIdx.x * AS_THREADS + threadIdx.x;
	const bool	valid = i < ncodes;
	const int	ntiles = (k + AS_TC - 1) / AS_TC;
	const int	t0 = (int) blockIdx.y * tiles_per_slice;
	const int	t1 = min(ntiles, t0 + tiles_per_slice);
	float		sa = 0;
	long long	aa = 0;
	double		best = __longlong_as_double(0x7ff0000000000000ll);	/* +inf */
	int			besti = 0;

	if (!BITS && valid)
	{
		sa = scale[i];
		aa = norm[i];
	}

	/* loop bounds are the same for every thread: the barriers are uniform */
	for (int t = t0; t < t1; t++)
	{
		const int	c0 = t * AS_TC;
		int			acc[AS_TC];

#pragma unroll
		for (int r = 0; r < AS_TC; r++)
			acc[r] = 0;

		for (int w0 = 0; w0 < Wq; w0 += AS_WC)
		{
			const int	wn = min(AS_WC, Wq - w0);	/* a multiple of 8 */

			__syncthreads();	/* the previous tile is no longer read */
			for (int e = threadIdx.x; e < AS_TC * AS_WC; e += AS_THREADS)
			{
				const int	r = e / AS_WC;
				const int	ww = e - r * AS_WC;
				const int	c = c0 + r;

				sm[r][ww] = (c < k && ww < wn) ? crows[(size_t) c * Wq + w0 + ww] : 0u;
			}
			__syncthreads();
			if (valid)
			{
				const uint32_t *cp = codesT + (size_t) w0 * ldc + i;

				for (int ww = 0; ww < wn; ww += 4)
				{
					const uint32_t x0 = cp[(size_t) (ww + 0) * ldc];
					const uint32_t x1 = cp[(size_t) (ww + 1) * ldc];
					const uint32_t x2 = cp[(size_t) (ww + 2) * ldc];
					const uint32_t x3 = cp[(size_t) (ww + 3) * ldc];

#pragma unroll
					for (int r = 0; r < AS_TC; r++)
					{
						const uint4 v = *reinterpret_cast<const uint4 *>(&sm[r][ww]);

						if (BITS)
							acc[r] += __popc(x0 ^ v.x) + __popc(x1 ^ v.y) +
								__popc(x2 ^ v.z) + __popc(x3 ^ v.w);
						else
						{
							acc[r] = __dp4a((int) x0, (int) v.x, acc[r]);
							acc[r] = __dp4a((int) x1, (int) v.y, acc[r]);
							acc[r] = __dp4a((int) x2, (int) v.z, acc[r]);
							acc[r] = __dp4a((int) x3, (int) v.w, acc[r]);
						}
					}
				}
			}
		}
		if (valid)
		{
#pragma unroll
			for (int r = 0; r < AS_TC; r++)
			{
				const int	c = c0 + r;

				if (c < k)
				{
					/* the index kind's nearest_list: a = the code, b = the centroid */
					const double d = BITS ? (double) acc[r] :
						embq_dev_i8_dist(metric, sa, aa, cscale[c], (long long) cnorm[c],
										 (long long) acc[r]);

					if (d < best)
					{
						best = d;
						besti = c;
					}
				}
			}
		}
	}
	if (valid)
	{
		out_d[(size_t) blockIdx.y * ncodes + i] = best;
		out_i[(size_t) blockIdx.y * ncodes + i] = besti;
	}
}

/* Combine the slices in ascending centroid order, as the CPU's scan would. */
__global__ void
k_assign_combine(const double *__restrict__ d, const int *__restrict__ idx, size_t n,
				 int slices, int32_t *__restrict__ out)
{
	for (size_t i = (size_t) blockIdx.x * blockDim.x + threadIdx.x; i < n;
		 i += (size_t) gridDim.x * blockDim.x)
	{
		double		best = __longlong_as_double(0x7ff0000000000000ll);
		int			besti = 0;

		for (int s = 0; s < slices; s++)
		{
			const double v = d[(size_t) s * n + i];

			if (v < best)
			{
				best = v;
				besti = idx[(size_t) s * n + i];
			}
		}
		out[i] = besti;
	}
}

int
embq_impl_assign(int metric, int dims, int codesize, const uint8_t *codes, size_t n,
				 const uint8_t *centroids, size_t k, int32_t *out, char *err, size_t errlen)
{
	CodeLayout	L;
	int			sms = 1;
	size_t		freeb = 0;
	size_t		nb,
				ldc,
				per_code,
				budget;
	int			ntiles,
				slices,
				tiles_per_slice;
	const int	bits = metric == EMBQ_GPU_METRIC_HAMMING || metric == EMBQ_GPU_METRIC_BIT_IP;
	DevBuf<uint32_t> crows,
				codesT;
	DevBuf<float> cscale,
				scale;
	DevBuf<int> cnorm,
				norm,
				best_i;
	DevBuf<double> best_d;
	DevBuf<int32_t> dout;
	Staging		st;
	PhaseTimer	t;

	/* BIT_IP indexes assign by hamming, as IvfCodeDistance does */
	TRY(embq_code_layout(metric, dims, codesize, &L, err, errlen));
	if (n == 0)
		return 0;
	if (codes == nullptr || out == nullptr || (k > 0 && centroids == nullptr))
	{
		embq_seterr(err, errlen, "assign got a null pointer");
		return -1;
	}
	if (k == 0)
	{
		/* the index kind's nearest_list with no lists: every row to 0 */
		memset(out, 0, sizeof(int32_t) * n);
		return 0;
	}
	if (k > (size_t) INT32_MAX - AS_TC)
	{
		embq_seterr(err, errlen, "too many centroids for the gpu: %zu", k);
		return -1;
	}
	TRY(embq_ensure_device(&sms, err, errlen));

	/* centroids: rows, scales, norms */
	TRY(dev_alloc(crows, k * (size_t) L.Wq, "centroids", err, errlen));
	if (!bits)
	{
		TRY(dev_alloc(cscale, k, "centroid scales", err, errlen));
		TRY(dev_alloc(cnorm, k, "centroid norms", err, errlen));
	}
	TRY(embq_upload_rows(centroids, k, L, crows.p, cscale.p, bits ? nullptr : cnorm.p, st,
						 err, errlen));

	/* batch size: what fits in half the free memory, at most 1 GiB of codes */
	ntiles = (int) ceil_div(k, AS_TC);
	TRY(embq_free_mem(&freeb, err, errlen));
	per_code = (size_t) L.Wq * 4 + 8 + 4 + (size_t) AS_MAX_SLICES * 12;
	budget = freeb / 2;
	if (budget > ((size_t) 1 << 30))
		budget = (size_t) 1 << 30;
	nb = budget / per_code;
	if (nb < 1024)
		nb = 1024;
	if (embq_env_max_batch() > 0 && embq_env_max_batch() < nb)
		nb = embq_env_max_batch();
	if (nb > n)
		nb = n;
	if (nb > (size_t) INT32_MAX)
		nb = INT32_MAX;
	ldc = round_up(nb, 32);

	/* enough blocks for the device: split the centroids over slices */
	{
		size_t		blocks = ceil_div(nb, AS_THREADS);
		size_t		want = ceil_div((size_t) sms * 8, blocks);

		slices = (int) (want < 1 ? 1 : want > AS_MAX_SLICES ? AS_MAX_SLICES : want);
		if (slices > ntiles)
			slices = ntiles;
		tiles_per_slice = (int) ceil_div((size_t) ntiles, (size_t) slices);
		slices = (int) ceil_div((size_t) ntiles, (size_t) tiles_per_slice);
	}

	TRY(dev_alloc(codesT, (size_t) L.Wq * ldc, "codes", err, errlen));
	TRY(embq_zero_pad_rows(L, codesT.p, ldc, err, errlen));
	if (!bits)
	{
		TRY(dev_alloc(scale, nb, "code scales", err, errlen));
		TRY(dev_alloc(norm, nb, "code norms", err, errlen));
	}
	TRY(dev_alloc(best_d, (size_t) slices * nb, "assignment candidates", err, errlen));
	TRY(dev_alloc(best_i, (size_t) slices * nb, "assignment candidates", err, errlen));
	TRY(dev_alloc(dout, nb, "assignments", err, errlen));

	for (size_t b0 = 0; b0 < n; b0 += nb)
	{
		const size_t m = n - b0 < nb ? n - b0 : nb;
		dim3		grid((unsigned int) ceil_div(m, AS_THREADS), (unsigned int) slices);

		embq_timing.batches++;
		TRY(embq_upload_columns(codes + b0 * (size_t) codesize, m, L, codesT.p, ldc, 0,
								scale.p, bits ? nullptr : norm.p, st, err, errlen));
		t.restart();
		if (bits)
			EMBQ_LAUNCH(k_assign<true>, grid, AS_THREADS, 0,
						codesT.p, ldc, m, L.Wq, nullptr, nullptr, crows.p, nullptr, nullptr,
						(int) k, tiles_per_slice, metric, best_d.p, best_i.p);
		else
			EMBQ_LAUNCH(k_assign<false>, grid, AS_THREADS, 0,
						codesT.p, ldc, m, L.Wq, scale.p, norm.p, crows.p, cscale.p, cnorm.p,
						(int) k, tiles_per_slice, metric, best_d.p, best_i.p);
		LAUNCH_CHECK("launching the assignment kernel");
		EMBQ_LAUNCH(k_assign_combine, grid_for(m, 256), 256, 0,
					best_d.p, best_i.p, m, slices, dout.p);
		LAUNCH_CHECK("launching the assignment combine kernel");
		TRY(embq_sync(&embq_timing.kernel_s, t, "assigning codes", err, errlen));
		embq_timing.kernel_bytes += (uint64_t) m * (uint64_t) codesize;
		TRY(embq_download(out + b0, dout.p, sizeof(int32_t) * m, "downloading assignments",
						  err, errlen));
	}
	return 0;
}
