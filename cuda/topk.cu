/*-------------------------------------------------------------------------
 *
 * topk.cu
 *		Batched top-k: for each of nq queries the k nearest of n codes,
 *		ascending by distance, ties to the lower index.
 *
 * Distances are the index kinds' exact_distance (src/ivfint8.c,
 * src/ivfbits.c), computed as the CPU computes them and then rounded to float (the output type):
 *  - HAMMING (and BIT_IP with code queries): popcount of XOR, exact;
 *  - L2 / IP / COSINE with code queries: exact integer sums by __dp4a,
 *	  then the double formula of codedist.h (embq_dev_i8_dist), sqrt for
 *	  L2, cosine NaN ranked +inf;
 *  - BIT_IP with float queries, and L2 / IP / COSINE with float queries
 *	  (asymmetric): double accumulation in 16 lanes, lane = dimension mod
 *	  16, each lane summed in ascending order, lanes reduced in
 *	  embq_reduce_lanes's fixed order, no fused multiply-add: the same
 *	  roundings as the CPU kernels, so these match the CPU bit for bit too.
 * The ranking is by that float (then by index), so "ties" are equal floats.
 *
 * Pass 1 (k_topk_score): block (query group g, chunk c) scores the codes
 * of chunk c against the QG queries of group g, one code per thread per
 * round (codes transposed: coalesced word loads; query words / floats read
 * by all threads alike).  Each query has a key array S[M] in shared memory
 * (64-bit keys: order-preserving float bits above the index): S[0..kp) is
 * the current best, S[kp..M) a buffer of candidates.  A candidate enters
 * the buffer only if its key is below the current k-th best (thr); when
 * the buffer could not take another round, S is bitonic-sorted and thr
 * updated.  The block writes its k best keys per query.
 *
 * Pass 2 (k_topk_merge): while a query has more than one list of k keys,
 * blocks select the k best of each segment of SEG keys (the same
 * machinery), shrinking the lists by SEG / k each time.
 *
 * Codes go in device batches when they do not fit; each batch's lists are
 * merged into the result on the host (earlier batches hold lower indices,
 * so ties keep going to the lower index).
 *
 *-------------------------------------------------------------------------
 */
#include "common.cuh"

#define TK_THREADS 256
#define TK_MIN_CHUNK 1024
#define TK_SMEM_BUDGET (96 * 1024)
#define TK_CAND_BUDGET ((size_t) 256 << 20)
#define TK_MAX_QBATCH 65528		/* a multiple of 8, below grid.y's 65535 */
#define TK_MAX_TARGET 8192

enum
{
	TK_HAM = 0,					/* bits x bits */
	TK_I8 = 1,					/* i8 codes x i8 codes */
	TK_BITIP = 2,				/* float query x bits */
	TK_F_L2 = 3,				/* float query x i8 codes */
	TK_F_IP = 4,
	TK_F_COS = 5
};

struct TkParams
{
	/* codes of this batch, transposed */
	const uint32_t *codesT;
	size_t		ldc;
	int			W;
	int			Wq;
	const float *cscale;
	const int  *cnorm;
	size_t		ncodes;
	size_t		chunk;
	int			nchunks;
	int			dims;
	int			metric;
	/* queries of this batch (padded to a multiple of QG) */
	const uint32_t *qwords;		/* code queries: rows of Wq words */
	const float *qscale;
	const int  *qnorm;
	const float *qf;			/* float queries: rows of dpad floats */
	int			dpad;
	const double *qq;			/* |q|^2, as the CPU computes it */
	int			nq;				/* valid queries */
	/* selection */
	int			k;
	int			kp;				/* next power of two >= k */
	int			M;				/* keys per query in shared memory */
	unsigned long long *out;	/* nq x nchunks x k keys */
};

/* ------------------------------------------------------------ selection */

/* Ascending bitonic sort of s[0..M), M a power of two; ends with a barrier. */
__device__ __forceinline__ void
bitonic_sort(unsigned long long *s, int M)
{
	for (int size = 2; size <= M; size <<= 1)
		for (int stride = size >> 1; stride > 0; stride >>= 1)
		{
			for (int t = threadIdx.x; t < (M >> 1); t += TK_THREADS)
			{
				const int	lo = 2 * t - (t & (stride - 1));
				const int	hi = lo + stride;
				const bool	up = (lo & size) == 0;
				const unsigned long long a = s[lo];
				const unsigned long long b = s[hi];

				if ((a > b) == up)
				{
					s[lo] = b;
					s[hi] = a;
				}
			}
			__syncthreads();
		}
}

/*
 * Per-block top-k of QG key streams.  Protocol, for every thread of the
 * block alike: init(); then rounds of { offer() for this thread's keys
 * (at most one per query per round); end_round(false) }; then
 * end_round(true).  Afterwards S[qi * M + 0 .. k) holds query qi's k best
 * keys, ascending, EMBQ_KEY_NONE where there were fewer.
 */
template <int QG>
struct BlockSelect
{
	unsigned long long *S;
	unsigned int *nbuf;
	unsigned long long *thr;
	int			k,
				kp,
				M;

	__device__ void init()
	{
		for (int e = threadIdx.x; e < QG * M; e += TK_THREADS)
			S[e] = EMBQ_KEY_NONE;
		if (threadIdx.x < QG)
		{
			nbuf[threadIdx.x] = 0;
			thr[threadIdx.x] = EMBQ_KEY_NONE;
		}
		__syncthreads();
	}

	/* Between barriers: at most TK_THREADS offers per query per round. */
	__device__ __forceinline__ void offer(int qi, unsigned long long key)
	{
		if (key < thr[qi])
		{
			const unsigned int pos = atomicAdd(&nbuf[qi], 1u);

			S[qi * M + kp + (int) pos] = key;
		}
	}

	/* Sort query qi's keys (cnt buffered) and update its threshold. */
	__device__ void flush(int qi, unsigned int cnt)
	{
		unsigned long long *s = S + qi * M;

		for (int e = kp + (int) cnt + threadIdx.x; e < M; e += TK_THREADS)
			s[e] = EMBQ_KEY_NONE;
		__syncthreads();
		bitonic_sort(s, M);
		if (threadIdx.x == 0)
		{
			thr[qi] = s[k - 1];
			nbuf[qi] = 0;
		}
		__syncthreads();
	}

	/*
	 * After a round: flush every query whose buffer could not take another
	 * full round (M - kp >= TK_THREADS, so after a flush it always can), or,
	 * at the end, every query with anything buffered.
	 */
	__device__ void end_round(bool last)
	{
		unsigned int cnt[QG];
		const unsigned int limit = last ? 0u : (unsigned int) (M - kp - TK_THREADS);

		__syncthreads();		/* this round's offers are in */
#pragma unroll
		for (int qi = 0; qi < QG; qi++)
			cnt[qi] = nbuf[qi];
		__syncthreads();		/* all have read nbuf before a flush resets it */
#pragma unroll
		for (int qi = 0; qi < QG; qi++)
			if (cnt[qi] > limit)
				flush(qi, cnt[qi]);	/* cnt is the same in every thread */
	}
};

/* -------------------------------------------------------------- scoring */

/* Code queries: hamming (BITS) or i8 sums, QG queries against code i. */
template <int QG, bool BITS>
__device__ __forceinline__ void
score_codes(const TkParams &p, int g, size_t i, float *d)
{
	int			acc[QG];
	const uint32_t *cp = p.codesT + i;
	const uint32_t *qb = p.qwords + (size_t) g * QG * p.Wq;

#pragma unroll
	for (int qi = 0; qi < QG; qi++)
		acc[qi] = 0;
	for (int w0 = 0; w0 < p.Wq; w0 += 8)
	{
		uint32_t	x[8];

#pragma unroll
		for (int t = 0; t < 8; t++)
			x[t] = __ldg(cp + (size_t) (w0 + t) * p.ldc);
#pragma unroll
		for (int qi = 0; qi < QG; qi++)
		{
			const uint4 *qp = reinterpret_cast<const uint4 *>(qb + (size_t) qi * p.Wq + w0);
			const uint4 a = __ldg(qp);
			const uint4 b = __ldg(qp + 1);

			if (BITS)
				acc[qi] += __popc(x[0] ^ a.x) + __popc(x[1] ^ a.y) + __popc(x[2] ^ a.z) +
					__popc(x[3] ^ a.w) + __popc(x[4] ^ b.x) + __popc(x[5] ^ b.y) +
					__popc(x[6] ^ b.z) + __popc(x[7] ^ b.w);
			else
			{
				int			s = acc[qi];

				s = __dp4a((int) x[0], (int) a.x, s);
				s = __dp4a((int) x[1], (int) a.y, s);
				s = __dp4a((int) x[2], (int) a.z, s);
				s = __dp4a((int) x[3], (int) a.w, s);
				s = __dp4a((int) x[4], (int) b.x, s);
				s = __dp4a((int) x[5], (int) b.y, s);
				s = __dp4a((int) x[6], (int) b.z, s);
				s = __dp4a((int) x[7], (int) b.w, s);
				acc[qi] = s;
			}
		}
	}
	if (BITS)
	{
#pragma unroll
		for (int qi = 0; qi < QG; qi++)
			d[qi] = (float) acc[qi];
	}
	else
	{
		const float sb = p.cscale[i];
		const long long bb = p.cnorm[i];

#pragma unroll
		for (int qi = 0; qi < QG; qi++)
		{
			const int	q = g * QG + qi;
			/* exact_distance -> I8CodeDistance(query, code): a = query */
			double		dd = embq_dev_i8_dist(p.metric, p.qscale[q], (long long) p.qnorm[q],
											  sb, bb, (long long) acc[qi]);

			if (p.metric == EMBQ_GPU_METRIC_L2)
				dd = sqrt(dd);
			d[qi] = (float) dd;
		}
	}
}

/*
 * Dimensions 16b .. 16b+15 of a float query against i8 code i: lane t gets
 * dimension 16b + t, as the CPU's lane j % 16.  TAIL: skip dims >= p.dims.
 */
template <int KIND, bool TAIL>
__device__ __forceinline__ void
f_block16(const TkParams &p, const uint32_t *cp, const float *q, int b, double s, double *lane)
{
	uint32_t	x[4];
	float		qv[16];
	const float4 *q4 = reinterpret_cast<const float4 *>(q + 16 * b);

#pragma unroll
	for (int u = 0; u < 4; u++)
	{
		const float4 v = __ldg(q4 + u);

		x[u] = __ldg(cp + (size_t) (4 * b + u) * p.ldc);
		qv[4 * u + 0] = v.x;
		qv[4 * u + 1] = v.y;
		qv[4 * u + 2] = v.z;
		qv[4 * u + 3] = v.w;
	}
#pragma unroll
	for (int t = 0; t < 16; t++)
		if (!TAIL || 16 * b + t < p.dims)
		{
			const double qd = (double) qv[t];
			const double cd = (double) embq_byte_s8(x[t >> 2], t & 3);

			if (KIND == TK_F_L2)
			{
				/* embq_f32_i8_l2sq: d = q - s * c; lane += d * d */
				const double df = qd - s * cd;

				lane[t] = lane[t] + df * df;
			}
			else
				lane[t] = lane[t] + qd * cd;	/* embq_f32_i8_dot */
		}
}

/* Float query g against code i: BIT_IP, or asymmetric L2 / IP / COSINE. */
template <int KIND>
__device__ __forceinline__ void
score_float(const TkParams &p, int g, size_t i, float *d)
{
	double		lane[16];
	const uint32_t *cp = p.codesT + i;
	const float *q = p.qf + (size_t) g * p.dpad;
	double		dd;

#pragma unroll
	for (int t = 0; t < 16; t++)
		lane[t] = 0.0;

	if constexpr (KIND == TK_BITIP)
	{
		/* embq_bits_float_dot: lane j % 16 += q[j] where bit j is set */
		for (int w = 0; w < p.W; w++)
		{
			const uint32_t x = __ldg(cp + (size_t) w * p.ldc);
			const float4 *q4 = reinterpret_cast<const float4 *>(q + 32 * w);

#pragma unroll
			for (int h = 0; h < 2; h++)
			{
				float		qv[16];

#pragma unroll
				for (int u = 0; u < 4; u++)
				{
					const float4 v = __ldg(q4 + 4 * h + u);

					qv[4 * u + 0] = v.x;
					qv[4 * u + 1] = v.y;
					qv[4 * u + 2] = v.z;
					qv[4 * u + 3] = v.w;
				}
#pragma unroll
				for (int t = 0; t < 16; t++)
				{
					/* dimension 32w + tt is bit 8 (tt / 8) + 7 - tt % 8 of the word */
					const int	tt = 16 * h + t;
					const int	bit = 8 * (tt >> 3) + 7 - (tt & 7);

					if ((x >> bit) & 1u)
						lane[t] = lane[t] + (double) qv[t];
				}
			}
		}
		dd = -embq_dev_reduce_lanes(lane);
	}
	else
	{
		const float scale = p.cscale[i];
		const double s = (double) scale;
		const int	nfull = p.dims >> 4;
		double		sum;

		for (int b = 0; b < nfull; b++)
			f_block16<KIND, false>(p, cp, q, b, s, lane);
		if (p.dims & 15)
			f_block16<KIND, true>(p, cp, q, nfull, s, lane);
		sum = embq_dev_reduce_lanes(lane);
		if constexpr (KIND == TK_F_L2)
			dd = sqrt(sum);
		else if constexpr (KIND == TK_F_IP)
			dd = -(double) scale * sum;
		else
		{
			/* embq_query_i8_cosine, then RankValue */
			dd = embq_dev_cosine_from_sums(sum, scale == 0 ? 0 : (double) p.cnorm[i], p.qq[g]);
			if (isnan(dd))
				dd = __longlong_as_double(0x7ff0000000000000ll);
		}
	}
	d[0] = (float) dd;
}

/* ---------------------------------------------------------------- kernels */

template <int KIND, int QG>
__global__ void __launch_bounds__(TK_THREADS)
k_topk_score(const TkParams p)
{
	EMBQ_DYN_SHARED(unsigned long long, tk_keys);
	__shared__ unsigned int nbuf[QG];
	__shared__ unsigned long long thr[QG];
	BlockSelect<QG> sel{tk_keys, nbuf, thr, p.k, p.kp, p.M};
	const int	g = blockIdx.x;
	const int	chunk = blockIdx.y;
	const size_t c0 = (size_t) chunk * p.chunk;
	const size_t c1 = c0 + p.chunk < p.ncodes ? c0 + p.chunk : p.ncodes;

	sel.init();
	/* the same number of rounds in every thread: barriers are uniform */
	for (size_t base = c0; base < c1; base += TK_THREADS)
	{
		const size_t i = base + threadIdx.x;

		if (i < c1)
		{
			float		d[QG];

			if constexpr (KIND == TK_HAM)
				score_codes<QG, true>(p, g, i, d);
			else if constexpr (KIND == TK_I8)
				score_codes<QG, false>(p, g, i, d);
			else
				score_float<KIND>(p, g, i, d);
#pragma unroll
			for (int qi = 0; qi < QG; qi++)
				sel.offer(qi, embq_make_key(d[qi], (unsigned int) i));
		}
		sel.end_round(false);
	}
	sel.end_round(true);

#pragma unroll
	for (int qi = 0; qi < QG; qi++)
	{
		const int	q = g * QG + qi;

		if (q < p.nq)
		{
			unsigned long long *o = p.out + ((size_t) q * p.nchunks + chunk) * p.k;

			for (int t = threadIdx.x; t < p.k; t += TK_THREADS)
				o[t] = tk_keys[qi * p.M + t];
		}
	}
}

/* k best keys of each segment of seg keys, per query (row of m keys). */
__global__ void __launch_bounds__(TK_THREADS)
k_topk_merge(const unsigned long long *__restrict__ in, size_t m, size_t seg, int nseg,
			 int k, int kp, int M, unsigned long long *__restrict__ out)
{
	EMBQ_DYN_SHARED(unsigned long long, tk_keys);
	__shared__ unsigned int nbuf[1];
	__shared__ unsigned long long thr[1];
	BlockSelect<1> sel{tk_keys, nbuf, thr, k, kp, M};
	const int	s = blockIdx.x;
	const int	q = blockIdx.y;
	const unsigned long long *row = in + (size_t) q * m;
	const size_t e0 = (size_t) s * seg;
	const size_t e1 = e0 + seg < m ? e0 + seg : m;
	unsigned long long *o = out + ((size_t) q * nseg + s) * k;

	sel.init();
	for (size_t base = e0; base < e1; base += TK_THREADS)
	{
		const size_t e = base + threadIdx.x;

		if (e < e1)
			sel.offer(0, row[e]);
		sel.end_round(false);
	}
	sel.end_round(true);
	for (int t = threadIdx.x; t < k; t += TK_THREADS)
		o[t] = tk_keys[t];
}

typedef void (*TkKernel) (const TkParams);

static TkKernel
pick_kernel(int kind, int qg)
{
#define TK_QG_CASES(K) \
	switch (qg) \
	{ \
		case 1: return k_topk_score<K, 1>; \
		case 2: return k_topk_score<K, 2>; \
		case 4: return k_topk_score<K, 4>; \
		case 8: return k_topk_score<K, 8>; \
	} \
	return nullptr
	switch (kind)
	{
		case TK_HAM:
			TK_QG_CASES(TK_HAM);
		case TK_I8:
			TK_QG_CASES(TK_I8);
		case TK_BITIP:
			return qg == 1 ? k_topk_score<TK_BITIP, 1> : nullptr;
		case TK_F_L2:
			return qg == 1 ? k_topk_score<TK_F_L2, 1> : nullptr;
		case TK_F_IP:
			return qg == 1 ? k_topk_score<TK_F_IP, 1> : nullptr;
		case TK_F_COS:
			return qg == 1 ? k_topk_score<TK_F_COS, 1> : nullptr;
	}
	return nullptr;
#undef TK_QG_CASES
}

/* ------------------------------------------------------------------ host */

static int
next_pow2(int x)
{
	int			p = 1;

	while (p < x)
		p <<= 1;
	return p;
}

/* Grow a key buffer to at least n keys. */
static int
ensure_keys(DevBuf<unsigned long long> &b, size_t n, char *err, size_t errlen)
{
	if (b.p != nullptr && b.count >= n)
		return 0;
	return dev_alloc(b, n, "top-k candidates", err, errlen);
}

/* embq_f32_sqnorm, as the CPU computes it (16 double lanes, fixed reduction). */
static double
host_sqnorm(const float *q, int n)
{
	double		t[16] = {0};

	for (int j = 0; j < n; j++)
		t[j % 16] += (double) q[j] * (double) q[j];
	for (int w = 8; w >= 1; w /= 2)
		for (int i = 0; i < w; i++)
			t[i] = t[i] + t[i + w];
	return t[0];
}

/* Result order: by distance, then index; the -1 entries last. */
static inline bool
res_less(float da, int64_t ia, float db, int64_t ib)
{
	if (ia < 0)
		return false;
	if (ib < 0)
		return true;
	if (da != db)
		return da < db;
	return ia < ib;
}

/* Chunks for pass 1: enough blocks to fill the device, at least TK_MIN_CHUNK codes each. */
static void
plan_chunks(size_t m, int ngroups, int target, size_t *chunk, int *nchunks)
{
	size_t		want = ceil_div((size_t) target, (size_t) ngroups);
	size_t		maxc = ceil_div(m, TK_MIN_CHUNK);
	size_t		c;

	if (maxc > 65535)
		maxc = 65535;
	if (want > maxc)
		want = maxc;
	if (want < 1)
		want = 1;
	c = round_up(ceil_div(m, want), TK_THREADS);
	*chunk = c;
	*nchunks = (int) ceil_div(m, c);
}

int
embq_impl_topk(int metric, int asymmetric, int dims, int codesize,
			   const uint8_t *codes, size_t n,
			   const uint8_t *qcodes, const float *qfloats, size_t nq,
			   int k, float *out_dist, int64_t *out_idx, char *err, size_t errlen)
{
	CodeLayout	L;
	int			kind;
	int			sms = 1;
	int			qg,
				kp,
				M,
				dpad,
				bps = 0,
				target,
				smem_optin = 0;
	size_t		smem,
				merge_smem,
				freeb = 0,
				nb,
				ldc,
				nqb_max,
				nq_pad,
				seg;
	bool		code_queries,
				need_scale,
				need_norm;
	TkKernel	kern;
	DevBuf<uint32_t> codesT,
				qwords;
	DevBuf<float> cscale,
				qscale,
				qf;
	DevBuf<int> cnorm,
				qnorm;
	DevBuf<double> qq;
	DevBuf<unsigned long long> cand,
				cand2;
	HostBuf<unsigned long long> hkeys;
	HostBuf<float> hqf,
				tmp_d;
	HostBuf<double> hqq;
	HostBuf<int64_t> tmp_i;
	Staging		st;
	PhaseTimer	t;

	TRY(embq_code_layout(metric, dims, codesize, &L, err, errlen));
	if (k < 1 || k > EMBQ_GPU_MAX_TOPK)
	{
		embq_seterr(err, errlen, "k = %d out of range 1..%d", k, EMBQ_GPU_MAX_TOPK);
		return -1;
	}
	if (nq == 0)
		return 0;
	if (out_dist == nullptr || out_idx == nullptr || (n > 0 && codes == nullptr))
	{
		embq_seterr(err, errlen, "topk got a null pointer");
		return -1;
	}
	if (nq > SIZE_MAX / (size_t) EMBQ_GPU_MAX_TOPK / sizeof(int64_t))
	{
		embq_seterr(err, errlen, "too many queries: %zu", nq);
		return -1;
	}

	/* which kernel: the query form decides, as in exact_distance */
	switch (metric)
	{
		case EMBQ_GPU_METRIC_HAMMING:
			if (asymmetric)
			{
				embq_seterr(err, errlen, "hamming takes code queries, not floats");
				return -1;
			}
			kind = TK_HAM;
			break;
		case EMBQ_GPU_METRIC_BIT_IP:
			/* floats: -sum q over set bits; code queries: hamming (IvfCodeDistance) */
			kind = qfloats != nullptr ? TK_BITIP : TK_HAM;
			break;
		case EMBQ_GPU_METRIC_L2:
			kind = asymmetric ? TK_F_L2 : TK_I8;
			break;
		case EMBQ_GPU_METRIC_IP:
			kind = asymmetric ? TK_F_IP : TK_I8;
			break;
		default:
			kind = asymmetric ? TK_F_COS : TK_I8;
			break;
	}
	code_queries = kind == TK_HAM || kind == TK_I8;
	if (code_queries ? qcodes == nullptr : qfloats == nullptr)
	{
		embq_seterr(err, errlen, "topk needs %s queries for this metric",
					code_queries ? "code" : "float");
		return -1;
	}
	need_scale = !L.bits;
	need_norm = kind == TK_I8 || kind == TK_F_COS;

	for (size_t e = 0; e < nq * (size_t) k; e++)
	{
		out_dist[e] = INFINITY;
		out_idx[e] = -1;
	}
	if (n == 0)
		return 0;
	if (n > ((size_t) 1 << 40))
	{
		embq_seterr(err, errlen, "too many codes: %zu", n);
		return -1;
	}
	TRY(embq_ensure_device(&sms, err, errlen));

	/* selection geometry: M - kp >= TK_THREADS, so one round always fits */
	kp = next_pow2(k);
	M = next_pow2(kp + TK_THREADS);
	qg = 1;
	if (code_queries)
	{
		qg = 8;
		while (qg > 1 && (size_t) qg / 2 >= nq)
			qg /= 2;
		while (qg > 1 && (size_t) qg * M * 8 > TK_SMEM_BUDGET)
			qg /= 2;
	}
	smem = (size_t) qg * M * 8;
	merge_smem = (size_t) M * 8;
	kern = pick_kernel(kind, qg);
	if (kern == nullptr)
	{
		embq_seterr(err, errlen, "no top-k kernel for kind %d, group %d", kind, qg);
		return -1;
	}
	CUDA_TRY("querying shared memory", cudaDeviceGetAttribute(&smem_optin,
															  cudaDevAttrMaxSharedMemoryPerBlockOptin, 0));
	if (smem > (size_t) smem_optin)
	{
		embq_seterr(err, errlen, "top-k needs %zu bytes of shared memory, the device has %d",
					smem, smem_optin);
		return -1;
	}
	CUDA_TRY("configuring the top-k kernel",
			 cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int) smem));
	CUDA_TRY("configuring the top-k merge kernel",
			 cudaFuncSetAttribute(k_topk_merge, cudaFuncAttributeMaxDynamicSharedMemorySize,
								  (int) merge_smem));
	CUDA_TRY("querying occupancy",
			 cudaOccupancyMaxActiveBlocksPerMultiprocessor(&bps, kern, TK_THREADS, smem));
	if (bps < 1)
		bps = 1;
	target = 2 * sms * bps;
	if (target > TK_MAX_TARGET)
		target = TK_MAX_TARGET;
	seg = (size_t) 8 * kp;
	if (seg < 8192)
		seg = 8192;

	/* code batch: what fits in 40% of the free memory, at most 16 GiB */
	TRY(embq_free_mem(&freeb, err, errlen));
	{
		size_t		budget = freeb / 10 * 4;
		size_t		per_code = (size_t) L.Wq * 4 + 8;

		if (budget > ((size_t) 16 << 30))
			budget = (size_t) 16 << 30;
		nb = budget / per_code;
		if (nb < TK_MIN_CHUNK)
			nb = TK_MIN_CHUNK;
		if (embq_env_max_batch() > 0 && embq_env_max_batch() < nb)
			nb = embq_env_max_batch();
		if (nb > n)
			nb = n;
		if (nb > (size_t) INT32_MAX)
			nb = INT32_MAX;
	}
	ldc = round_up(nb, 32);

	/* query batch: bounded by grid.y of the merge and by the candidate budget */
	nqb_max = nq < TK_MAX_QBATCH ? nq : TK_MAX_QBATCH;
	for (;;)
	{
		size_t		chunk;
		int			nchunks;

		plan_chunks(nb, (int) ceil_div(nqb_max, (size_t) qg), target, &chunk, &nchunks);
		if (nqb_max <= (size_t) qg ||
			nqb_max * (size_t) nchunks * (size_t) k * 8 <= TK_CAND_BUDGET)
			break;
		nqb_max = round_up(nqb_max / 2, (size_t) qg);
	}
	nq_pad = round_up(nqb_max, (size_t) qg);
	dpad = (int) round_up((size_t) dims, 32);

	/* device buffers */
	TRY(dev_alloc(codesT, (size_t) L.Wq * ldc, "codes", err, errlen));
	TRY(embq_zero_pad_rows(L, codesT.p, ldc, err, errlen));
	if (need_scale)
		TRY(dev_alloc(cscale, nb, "code scales", err, errlen));
	if (need_norm)
		TRY(dev_alloc(cnorm, nb, "code norms", err, errlen));
	if (code_queries)
	{
		TRY(dev_alloc(qwords, nq_pad * (size_t) L.Wq, "query codes", err, errlen));
		if (!L.bits)
		{
			TRY(dev_alloc(qscale, nq_pad, "query scales", err, errlen));
			TRY(dev_alloc(qnorm, nq_pad, "query norms", err, errlen));
		}
	}
	else
	{
		TRY(dev_alloc(qf, nq_pad * (size_t) dpad, "float queries", err, errlen));
		TRY(hqf.alloc(nq_pad * (size_t) dpad, "float queries", err, errlen));
		if (kind == TK_F_COS)
		{
			TRY(dev_alloc(qq, nq_pad, "query norms", err, errlen));
			TRY(hqq.alloc(nq_pad, "query norms", err, errlen));
		}
	}
	TRY(hkeys.alloc(nqb_max * (size_t) k, "top-k results", err, errlen));
	TRY(tmp_d.alloc((size_t) k, "top-k merge", err, errlen));
	TRY(tmp_i.alloc((size_t) k, "top-k merge", err, errlen));

	for (size_t b0 = 0; b0 < n; b0 += nb)
	{
		const size_t m = n - b0 < nb ? n - b0 : nb;

		embq_timing.batches++;
		TRY(embq_upload_columns(codes + b0 * (size_t) codesize, m, L, codesT.p, ldc, 0,
								cscale.p, need_norm ? cnorm.p : nullptr, st, err, errlen));

		for (size_t q0 = 0; q0 < nq; q0 += nqb_max)
		{
			const size_t nqb = nq - q0 < nqb_max ? nq - q0 : nqb_max;
			const int	ngroups = (int) ceil_div(nqb, (size_t) qg);
			const size_t npad = (size_t) ngroups * qg;
			TkParams	p;
			size_t		chunk,
						mm;
			int			nchunks,
						passes = 1;
			unsigned long long *cur,
					   *other;

			/* queries, padded with zeros to whole groups */
			if (code_queries)
			{
				CUDA_TRY("clearing query codes",
						 cudaMemset(qwords.p, 0, npad * (size_t) L.Wq * sizeof(uint32_t)));
				if (!L.bits)
				{
					CUDA_TRY("clearing query scales", cudaMemset(qscale.p, 0, npad * sizeof(float)));
					CUDA_TRY("clearing query norms", cudaMemset(qnorm.p, 0, npad * sizeof(int)));
				}
				TRY(embq_upload_rows(qcodes + q0 * (size_t) codesize, nqb, L, qwords.p,
									 qscale.p, L.bits ? nullptr : qnorm.p, st, err, errlen));
			}
			else
			{
				t.restart();
				memset(hqf.p, 0, npad * (size_t) dpad * sizeof(float));
				for (size_t q = 0; q < nqb; q++)
				{
					const float *src = qfloats + (q0 + q) * (size_t) dims;

					memcpy(hqf.p + q * (size_t) dpad, src, sizeof(float) * (size_t) dims);
					if (kind == TK_F_COS)
						hqq[q] = host_sqnorm(src, dims);
				}
				if (kind == TK_F_COS)
					for (size_t q = nqb; q < npad; q++)
						hqq[q] = 0;
				t.add(&embq_timing.host_s);
				TRY(embq_upload(qf.p, hqf.p, npad * (size_t) dpad * sizeof(float),
								"uploading float queries", err, errlen));
				if (kind == TK_F_COS)
					TRY(embq_upload(qq.p, hqq.p, npad * sizeof(double),
									"uploading query norms", err, errlen));
			}

			/* pass 1 */
			plan_chunks(m, ngroups, target, &chunk, &nchunks);
			TRY(ensure_keys(cand, nqb * (size_t) nchunks * (size_t) k, err, errlen));
			p.codesT = codesT.p;
			p.ldc = ldc;
			p.W = L.W;
			p.Wq = L.Wq;
			p.cscale = cscale.p;
			p.cnorm = cnorm.p;
			p.ncodes = m;
			p.chunk = chunk;
			p.nchunks = nchunks;
			p.dims = dims;
			p.metric = metric;
			p.qwords = qwords.p;
			p.qscale = qscale.p;
			p.qnorm = qnorm.p;
			p.qf = qf.p;
			p.dpad = dpad;
			p.qq = qq.p;
			p.nq = (int) nqb;
			p.k = k;
			p.kp = kp;
			p.M = M;
			p.out = cand.p;
			t.restart();
			EMBQ_LAUNCH(kern, dim3((unsigned int) ngroups, (unsigned int) nchunks), TK_THREADS,
						smem, p);
			LAUNCH_CHECK("launching the top-k scoring kernel");

			/* pass 2: until one list of k per query */
			cur = cand.p;
			mm = (size_t) nchunks * k;
			if (mm > (size_t) k)
			{
				size_t		nseg1 = ceil_div(mm, seg);

				TRY(ensure_keys(cand2, nqb * nseg1 * (size_t) k, err, errlen));
			}
			other = cand2.p;
			while (mm > (size_t) k)
			{
				const size_t nseg = ceil_div(mm, seg);

				EMBQ_LAUNCH(k_topk_merge, dim3((unsigned int) nseg, (unsigned int) nqb),
							TK_THREADS, merge_smem, (const unsigned long long *) cur, mm, seg,
							(int) nseg, k, kp, M, other);
				LAUNCH_CHECK("launching the top-k merge kernel");
				{
					unsigned long long *sw = cur;

					cur = other;
					other = sw;
				}
				mm = nseg * k;
				passes++;
			}
			TRY(embq_sync(&embq_timing.kernel_s, t, "selecting the top k", err, errlen));
			embq_timing.kernel_bytes += (uint64_t) m * (uint64_t) codesize;
			if (passes > embq_timing.passes)
				embq_timing.passes = passes;
			TRY(embq_download(hkeys.p, cur, nqb * (size_t) k * sizeof(unsigned long long),
							  "downloading top-k results", err, errlen));

			/* merge into the results: earlier batches hold the lower indices */
			t.restart();
			for (size_t q = 0; q < nqb; q++)
			{
				const unsigned long long *kk = hkeys.p + q * (size_t) k;
				float	   *od = out_dist + (q0 + q) * (size_t) k;
				int64_t    *oi = out_idx + (q0 + q) * (size_t) k;
				int			a = 0,
							b = 0;

				for (int r = 0; r < k; r++)
				{
					const float bd = kk[b] == EMBQ_KEY_NONE ? INFINITY : embq_key_dist(kk[b]);
					const int64_t bi = kk[b] == EMBQ_KEY_NONE ? -1 :
						(int64_t) (b0 + (kk[b] & 0xffffffffull));

					if (res_less(bd, bi, od[a], oi[a]))
					{
						tmp_d[r] = bd;
						tmp_i[r] = bi;
						b++;
					}
					else
					{
						tmp_d[r] = od[a];
						tmp_i[r] = oi[a];
						a++;
					}
				}
				memcpy(od, tmp_d.p, sizeof(float) * (size_t) k);
				memcpy(oi, tmp_i.p, sizeof(int64_t) * (size_t) k);
			}
			t.add(&embq_timing.host_s);
		}
	}
	return 0;
}
