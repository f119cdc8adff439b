/*-------------------------------------------------------------------------
 *
 * ivfsigns.c
 *		embq_ivf over i8vec codes, signs layout: a data page item holds the
 *		sign bits of a row's residual from its centroid and the terms of a
 *		distance estimate (IvfCoarseItem); the codes live on code pages,
 *		read to rescore the candidates the estimate ranks nearest.
 *
 *-------------------------------------------------------------------------
 */
#include "ivf.h"

#include <float.h>
#include <math.h>

/* A data page item: an IvfCoarseItem. */
static int
SignsItemSize(int dims)
{
	/* a multiple of 4, so that the floats of every item are aligned */
	return (int) TYPEALIGN(4, offsetof(IvfCoarseItem, mask) + EMBQ_BITBYTES(dims));
}

/*
 * Bits per dimension of the query in the i8vec coarse pass.  Four keep the
 * estimate's error far below that of the rows' one-bit residuals (RaBitQ
 * shows a few bits suffice; on the 1024-dimension benchmark recall was the
 * same with four as with the exact eight, two lost 0.02), at half the
 * popcounts of eight.
 */
#define IVF_QUERY_PLANES 4

/*
 * Hold the query's int8 code as bit planes for SignsScoreItems: u[j] =
 * round((q[j] - lo) / step) over the code's range [lo, hi].
 */
static void
SignsPrepareQuery(IvfQuery *q)
{
	const IvfInfo *info = q->info;
	const int8 *c = CodeInt8(q->code);
	int			n = info->dims;
	int			levels = (1 << IVF_QUERY_PLANES) - 1;
	int			lo = 127,
				hi = -128;
	uint64		usum = 0;
	uint8	   *u = palloc(n);

	for (int j = 0; j < n; j++)
	{
		lo = Min(lo, c[j]);
		hi = Max(hi, c[j]);
	}
	q->lo = lo;
	q->step = hi > lo ? (double) (hi - lo) / levels : 1.0;
	for (int j = 0; j < n; j++)
	{
		u[j] = (uint8) rint((c[j] - lo) / q->step);
		usum += u[j];
	}
	q->total = q->lo * n + q->step * (double) usum;
	q->planes = palloc(EMBQ_PLANE_BYTES(n) * IVF_QUERY_PLANES);
	embq_bit_planes(u, n, IVF_QUERY_PLANES, q->planes);
	q->sums = palloc(sizeof(uint64) * info->capacity);
	pfree(u);
}

/*
 * 1, or for m beyond 2^64 a power of two that brings it near 1: ordinary
 * values are never rescaled.
 */
static double
IvfUnitPower(double m)
{
	int			e;

	if (!(m > 1e19) || !isfinite(m))
		return 1.0;
	(void) frexp(m, &e);
	return ldexp(1.0, e);
}

/* A double as a float, clamped to float's finite range (NaN stays NaN). */
static float
IvfFiniteFloat(double d)
{
	if (d > FLT_MAX)
		return FLT_MAX;
	if (d < -FLT_MAX)
		return -FLT_MAX;
	return (float) d;
}

/*
 * The data page item of an i8vec code stored at codeblk/codeoff in the list
 * of the given centroid: its residual sign bits and the three floats of its
 * distance estimate (see IvfCoarseItem).
 */
static void
SignsCoarseItem(const IvfInfo *info, const char *code, const char *centroid,
				BlockNumber codeblk, int codeoff, char *item)
{
	IvfCoarseItem *ci = (IvfCoarseItem *) item;
	const int8_t *c = CodeInt8(code);
	const int8_t *cc = CodeInt8(centroid);
	double		scale = CodeScale(code),
				cscale = CodeScale(centroid),
				norm = scale * sqrt((double) info->kern->i8_dot(c, c, info->dims)),
				unit,
				l1,
				l2,
				alpha;

	/* cosine ranks by direction: the residual of the unit vector */
	if (info->metric == IVF_METRIC_COSINE && norm > 0)
		scale /= norm;

	/*
	 * The kernel rounds each residual to float, which overflows for values
	 * near float's limit (i8vec accepts up to 3.4e38): take the residual of
	 * x / unit, with unit a power of two (exact, so ordinary values keep
	 * their bits), and scale its norms back.  alpha is a ratio of norms of
	 * degree one.
	 */
	unit = IvfUnitPower(127.0 * (fabs(scale) + fabs(cscale)));
	memset(item, 0, info->itemsize);
	info->kern->i8_residual(c, scale / unit, cc, cscale / unit, info->dims, ci->mask, &l1, &l2);
	l1 *= unit;
	l2 *= unit * unit;

	/*
	 * q . r estimated as alpha * (q . s) with alpha = |r|^2 / sum |r_j|, not
	 * the least-squares sum |r_j| / dims: the estimate of q . (r / |r|) is
	 * (q . s / sqrt(dims)) / <s / sqrt(dims), r / |r|>, which is unbiased
	 * (the RaBitQ estimator), where least squares shrinks every residual's
	 * share (by ~pi/2 for Gaussian residuals) and so over-weights the
	 * centroid term, ranking rows of far lists too low.
	 */
	alpha = l1 > 0 ? l2 / l1 : 0;

	ci->codeblk = codeblk;
	ci->codeoff = (uint16) codeoff;
	/*
	 * The estimate's terms are stored as floats, finite: |x|^2 of a row
	 * beyond 1.8e19 in norm is clamped to FLT_MAX, which only makes such
	 * rows look nearer to the coarse pass; rescoring uses exact distances.
	 * An infinite term would turn scores into NaN.
	 */
	switch (info->metric)
	{
		case IVF_METRIC_L2:
			ci->a = IvfFiniteFloat(-2.0 * alpha);
			ci->w = -2.0f;
			ci->b = IvfFiniteFloat(norm * norm);
			break;
		case IVF_METRIC_IP:
			ci->a = IvfFiniteFloat(-alpha);
			ci->w = -1.0f;
			ci->b = 0;
			break;
		default:
			ci->a = norm > 0 ? (float) -alpha : 0;
			ci->w = norm > 0 ? -1.0f : 0;
			ci->b = norm > 0 ? 0 : INFINITY;
			break;
	}
}

/*
 * Coarse distances of the query to n consecutive data page items, in
 * ranking order: the estimate a * (q' . s) + w * qc + b, where q' is the query's int8 code, s
 * the row's residual signs as +-1, qc the query's dot product with the
 * list's centroid, and q' . s = scale * (2 * (sum of q' over the set bits)
 * - sum of q'), with q' as its bit planes approximate it.
 */
static void
SignsScoreItems(const IvfQuery *q, const char *items, int n, double qc, double *out)
{
	const IvfInfo *info = q->info;
	double		scale;

	info->kern->plane_sums((const uint8_t *) items + offsetof(IvfCoarseItem, mask), info->itemsize,
						   n, info->dims, q->planes, IVF_QUERY_PLANES, q->sums);
	scale = CodeScale(q->code);
	for (int i = 0; i < n; i++)
	{
		const IvfCoarseItem *ci = (const IvfCoarseItem *) (items + (Size) i * info->itemsize);
		double		masked = q->lo * (double) (q->sums[i] >> 32) +
			q->step * (double) (q->sums[i] & 0xFFFFFFFF);

		out[i] = (double) ci->a * scale * (2 * masked - q->total) + (double) ci->w * qc + ci->b;
	}
}

const IvfKindOps IvfI8SignsOps = {
	IVF_I8_COMMON_OPS,
	.layout = "signs",
	.version = IVF_VERSION,
	.rescores = true,
	.item_size = SignsItemSize,
	.prepare_query = SignsPrepareQuery,
	.score_items = SignsScoreItems,
	.coarse_item = SignsCoarseItem,
};
