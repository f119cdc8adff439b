/*-------------------------------------------------------------------------
 *
 * ivfint8.c
 *		embq_ivf over i8vec codes: what both i8vec layouts share (codes,
 *		exact distances, list ranking, training and assignment), and the
 *		flat layout, whose data pages hold the codes themselves.
 *
 * The metrics (l2, ip, cosine) differ only here and in ivfsigns.c.
 *
 *-------------------------------------------------------------------------
 */
#include "ivf.h"

#include <math.h>

#include "codedist.h"

/* NaN (cosine with a zero vector) ranks last. */
static inline double
RankValue(double d)
{
	return isnan(d) ? INFINITY : d;
}

/* Bytes of an i8vec code: its scale, then the int8 values. */
int
IvfI8CodeSize(int dims)
{
	return (int) sizeof(float) + dims;
}

/* An i8vec datum in code format. */
void
IvfI8DatumToCode(const IvfInfo *info, Datum value, char *code)
{
	I8Vec	   *v = DatumGetI8VecP(value);

	CheckExpectedDim(info->dims, v->dim);
	memcpy(code, &v->scale, sizeof(float));
	memcpy(code + sizeof(float), v->x, v->dim);
	if ((Pointer) v != DatumGetPointer(value))
		pfree(v);
}

/* A float query's int8 code, as quantize_int8 makes it. */
void
IvfI8QueryCode(const IvfInfo *info, const float *x, char *code)
{
	float		scale = embq_quantize_i8(x, info->dims, (int8_t *) (code + sizeof(float)));

	memcpy(code, &scale, sizeof(float));
}

/*
 * Distance between two codes, in the metric's ranking sense (smaller is
 * closer; L2 squared): what assigns rows to lists and scores an i8vec
 * query against a flat index.
 */
static double
I8CodeDistance(const IvfInfo *info, const char *a, const char *b)
{
	const EmbqKernels *k = info->kern;
	int			n = info->dims;

	switch (info->metric)
	{
		case IVF_METRIC_L2:
			return embq_i8_l2sq(k, CodeScale(a), CodeInt8(a), CodeScale(b), CodeInt8(b), n);
		case IVF_METRIC_IP:
			return -embq_i8_ip(k, CodeScale(a), CodeInt8(a), CodeScale(b), CodeInt8(b), n);
		case IVF_METRIC_COSINE:
			return RankValue(embq_i8_cosine(k, CodeScale(a), CodeInt8(a), CodeScale(b), CodeInt8(b), n));
	}
	elog(ERROR, "unknown embq_ivf i8vec metric %d", info->metric);
	return 0;
}

/*
 * Exact distance of the query to a stored code: the value the ORDER BY
 * operator returns for the row.
 */
double
IvfI8ExactDistance(const IvfQuery *q, const char *code)
{
	const IvfInfo *info = q->info;
	const EmbqKernels *k = info->kern;
	int			n = info->dims;

	if (!q->asymmetric)
	{
		double		d = I8CodeDistance(info, q->code, code);

		return info->metric == IVF_METRIC_L2 ? sqrt(d) : d;
	}
	switch (info->metric)
	{
		case IVF_METRIC_L2:
			return sqrt(k->f32_i8_l2sq(q->floats, CodeInt8(code), CodeScale(code), n));
		case IVF_METRIC_IP:
			return -(double) CodeScale(code) * k->f32_i8_dot(q->floats, CodeInt8(code), n);
		case IVF_METRIC_COSINE:
			return RankValue(embq_query_i8_cosine(k, q->floats, q->qq, CodeScale(code),
												  CodeInt8(code), n));
	}
	elog(ERROR, "unknown embq_ivf i8vec metric %d", info->metric);
	return 0;
}

/*
 * Rank the lists for a query (smaller is nearer) from its dot product q . c
 * with each centroid, which is also the per-list term of the signs layout's
 * estimate (list_dot), and the centroid's squared norm: L2 drops the
 * constant |q|^2, cosine the constant 1 / |q|.
 */
void
IvfI8RankLists(const IvfQuery *q, const char *centroids, const double *csqnorm, int lists,
			   double *list_dot, double *rank)
{
	const IvfInfo *info = q->info;
	int32	   *dots = palloc(sizeof(int32) * lists);

	/*
	 * A real[] query uses its int8 code too: ranking hundreds of lists with
	 * integer dot products (one blocked kernel call for all of them) is
	 * several times cheaper than float against int8, and the per-list term
	 * of a coarse estimate needs no more precision than the query's code
	 * gives its per-row term.
	 */
	info->kern->i8_dots(CodeInt8(q->code), info->codesize, 1, CodeInt8(centroids), info->codesize,
						lists, info->dims, dots);
	for (int i = 0; i < lists; i++)
	{
		double		dot = (double) CodeScale(q->code) *
			CodeScale(centroids + (Size) i * info->codesize) * (double) dots[i];

		list_dot[i] = dot;
		switch (info->metric)
		{
			case IVF_METRIC_L2:
				rank[i] = csqnorm[i] - 2 * dot;
				break;
			case IVF_METRIC_IP:
				rank[i] = -dot;
				break;
			default:
				rank[i] = csqnorm[i] > 0 ? -dot / sqrt(csqnorm[i]) : INFINITY;
				break;
		}
	}
	pfree(dots);
}

/* The list whose centroid (packed codesize apart) is nearest to a code. */
int
IvfI8NearestList(const IvfInfo *info, const char *code, const char *centroids, int lists)
{
	double		best = INFINITY;
	int			besti = 0;

	for (int i = 0; i < lists; i++)
	{
		double		d = I8CodeDistance(info, code, centroids + (Size) i * info->codesize);

		if (d < best)
		{
			best = d;
			besti = i;
		}
	}
	return besti;
}

/* |c|^2 of each centroid, for IvfI8RankLists. */
void
IvfI8CentroidNorms(const IvfInfo *info, const char *centroids, int lists, double *out)
{
	for (int i = 0; i < lists; i++)
	{
		const char *c = centroids + (Size) i * info->codesize;
		double		scale = CodeScale(c);

		out[i] = scale * scale * (double) info->kern->i8_dot(CodeInt8(c), CodeInt8(c), info->dims);
	}
}

/* An i8vec code as floats: scale * code. */
void
IvfI8CodeToFloats(const IvfInfo *info, const char *code, float *out)
{
	double		scale = CodeScale(code);
	const int8_t *c = CodeInt8(code);

	for (int j = 0; j < info->dims; j++)
		out[j] = (float) (scale * c[j]);
}

/* A trained centroid (floats) as an i8vec code. */
void
IvfI8FloatsToCentroid(const IvfInfo *info, const float *x, char *code)
{
	IvfI8QueryCode(info, x, code);
}

/*
 * A list's terms of the blocked CPU assignment.  The int8 dot product x.c
 * of a row with each centroid is exact (embq_kmeans_assign_codes), and the
 * nearest list is the one with the least key cadd - f(x) cmul x.c (f(x):
 * IvfI8AssignFactor), the operator class's own distance up to terms that
 * are equal for every list (so the same lists as IvfI8NearestList, which
 * inserts use, up to rounding in ties):
 *   L2:      |sx x - sc c|^2 - sx^2 |x|^2 = sc^2 |c|^2 - sx (2 sc) x.c
 *   IP:      -sx sc x.c ranks as -sc x.c
 *   cosine:  1 - x.c / (|x| |c|) ranks as -x.c / |c|; a zero centroid,
 *            whose distance is NaN, is never nearest.
 */
void
IvfI8AssignKeys(const IvfInfo *info, const char *centroid, double *cadd, double *cmul)
{
	const int8_t *cc = CodeInt8(centroid);
	double		sc = CodeScale(centroid),
				cc2 = (double) info->kern->i8_dot(cc, cc, info->dims);

	switch (info->metric)
	{
		case IVF_METRIC_L2:
			*cadd = sc * sc * cc2;
			*cmul = 2 * sc;
			break;
		case IVF_METRIC_IP:
			*cadd = 0;
			*cmul = sc;
			break;
		default:
			*cadd = sc == 0 || cc2 == 0 ? INFINITY : 0;
			*cmul = sc == 0 || cc2 == 0 ? 0 : 1 / sqrt(cc2);
			break;
	}
}

/*
 * A row's factor f(x) in the assignment key (see IvfI8AssignKeys): its
 * scale for L2, else 1; NaN for a zero row by cosine, which is at NaN from
 * every centroid and so goes to list 0, as inserts put it.
 */
float
IvfI8AssignFactor(const IvfInfo *info, float rowscale)
{
	if (info->metric == IVF_METRIC_L2)
		return rowscale;
	return info->metric == IVF_METRIC_COSINE && rowscale == 0 ? NAN : 1;
}

/* Flat layout: a data page item is the code. */
static int
I8FlatItemSize(int dims)
{
	return IvfI8CodeSize(dims);
}

/* Flat layout: a real[] query's kernel outputs, one page's items. */
static void
I8FlatPrepareQuery(IvfQuery *q)
{
	if (q->asymmetric)
	{
		q->dots = palloc(sizeof(double) * q->info->capacity);
		q->norms = palloc(sizeof(int64_t) * q->info->capacity);
	}
}

/*
 * Flat layout: exact distances of the query to n consecutive codes, the
 * ORDER BY operator's values (real[] queries a page at a time through the
 * item kernels, which give the one-row kernels' values bit for bit).
 */
static void
I8FlatScoreItems(const IvfQuery *q, const char *items, int n, double qc, double *out)
{
	const IvfInfo *info = q->info;
	const EmbqKernels *k = info->kern;
	const uint8_t *u = (const uint8_t *) items;

	if (!q->asymmetric)
	{
		for (int i = 0; i < n; i++)
			out[i] = IvfI8ExactDistance(q, items + (Size) i * info->itemsize);
		return;
	}
	if (info->metric == IVF_METRIC_L2)
	{
		k->f32_i8_l2sq_items(q->floats, u, info->itemsize, n, info->dims, out);
		for (int i = 0; i < n; i++)
			out[i] = sqrt(out[i]);
		return;
	}
	k->f32_i8_dot_items(q->floats, u, info->itemsize, n, info->dims, q->dots,
						info->metric == IVF_METRIC_COSINE ? q->norms : NULL);
	for (int i = 0; i < n; i++)
	{
		double		scale = CodeScale(items + (Size) i * info->itemsize);

		if (info->metric == IVF_METRIC_IP)
			out[i] = -scale * q->dots[i];
		else
			out[i] = RankValue(embq_cosine_from_sums(q->dots[i], scale == 0 ? 0 : (double) q->norms[i],
													 q->qq));
	}
}

const IvfKindOps IvfI8FlatOps = {
	IVF_I8_COMMON_OPS,
	.layout = "flat",
	.version = IVF_VERSION_FLAT,
	.rescores = false,
	.item_size = I8FlatItemSize,
	.prepare_query = I8FlatPrepareQuery,
	.score_items = I8FlatScoreItems,
	.coarse_item = NULL,
};
