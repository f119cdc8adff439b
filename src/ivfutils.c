/*-------------------------------------------------------------------------
 *
 * ivfutils.c
 *		embq_ivf helpers: page geometry, the metapage, codes, and the
 *		distances the index ranks by.
 *
 *-------------------------------------------------------------------------
 */
#include "ivf.h"

#include <float.h>
#include <math.h>

#include "access/genam.h"
#include "catalog/pg_type.h"
#include "codedist.h"
#include "storage/lmgr.h"
#include "utils/lsyscache.h"

/* Bytes usable for contents on a page with our special space. */
#define IVF_PAGE_USABLE \
	(BLCKSZ - MAXALIGN(SizeOfPageHeaderData) - MAXALIGN(sizeof(IvfPageOpaqueData)))

/* Bytes of one code of a metric's column type. */
int
IvfCodeSize(int metric, int dims)
{
	return IVF_METRIC_IS_BIT(metric) ? (int) EMBQ_BITBYTES(dims) : (int) sizeof(float) + dims;
}

/*
 * Bytes of one data page item: the code (bitvec, flat i8vec) or an
 * IvfCoarseItem (i8vec with the signs layout).
 */
int
IvfItemSize(int metric, int dims, bool flat)
{
	if (IVF_METRIC_IS_BIT(metric) || flat)
		return IvfCodeSize(metric, dims);
	/* a multiple of 4, so that the floats of every item are aligned */
	return (int) TYPEALIGN(4, offsetof(IvfCoarseItem, mask) + EMBQ_BITBYTES(dims));
}

/* Entries per data or code page: a TID array, then an item array. */
int
IvfCapacity(int itemsize)
{
	int			cap = IVF_PAGE_USABLE / (sizeof(ItemPointerData) + itemsize);

	while (cap > 0 && MAXALIGN(sizeof(ItemPointerData) * cap) + (Size) cap * itemsize > IVF_PAGE_USABLE)
		cap--;
	return Min(cap, PG_UINT16_MAX);
}

/*
 * Whether an index of a metric and dimension stores its codes flat, from
 * its layout option: bitvec always does (signs gets a WARNING); auto
 * chooses flat for i8vec up to IVF_FLAT_MAX_AUTO_DIM dimensions.
 */
bool
IvfChooseFlat(int metric, int dims, int layout)
{
	if (IVF_METRIC_IS_BIT(metric))
	{
		/*
		 * Not an error: the option can be set by ALTER INDEX, and an error
		 * would then surface at the next TRUNCATE or REINDEX instead.
		 */
		if (layout == IVF_LAYOUT_SIGNS)
			ereport(WARNING,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("embq_ivf layout \"signs\" applies only to i8vec columns"),
					 errdetail("A bitvec index always scores the codes themselves: it is built flat.")));
		return true;
	}
	if (layout == IVF_LAYOUT_AUTO)
		return dims <= IVF_FLAT_MAX_AUTO_DIM;
	return layout == IVF_LAYOUT_FLAT;
}

/* The scoring context and page geometry of a metric, dimension and layout. */
void
IvfInfoFor(int metric, int dims, bool flat, IvfInfo *info)
{
	flat = flat || IVF_METRIC_IS_BIT(metric);
	info->metric = metric;
	info->dims = dims;
	info->codesize = IvfCodeSize(metric, dims);
	info->itemsize = IvfItemSize(metric, dims, flat);
	info->capacity = IvfCapacity(info->itemsize);
	info->codecapacity = flat ? 0 : IvfCapacity(info->codesize);
	info->kern = embq_kernels();
}

/* Directory entries per directory page. */
int
IvfDirPerPage(int codesize)
{
	return IVF_PAGE_USABLE / IVF_LIST_SIZE(codesize);
}

/* The metric the index's operator class declares (support function 1). */
int
IvfMetricOf(Relation index)
{
	FmgrInfo   *proc = index_getprocinfo(index, 1, 1);

	return DatumGetInt32(FunctionCall1(proc, PointerGetDatum(NULL)));
}

/*
 * Initialize a page of one of our kinds.  Directory and data pages use their
 * whole contents area (arrays sized for the page), so pd_lower is set to
 * pd_upper: generic WAL and full-page images skip the pd_lower..pd_upper
 * "hole", which here holds live entries.
 */
void
IvfInitPage(Page page, uint16 flags)
{
	IvfPageOpaque opaque;

	PageInit(page, BLCKSZ, sizeof(IvfPageOpaqueData));
	if (flags != IVF_META)
		((PageHeader) page)->pd_lower = ((PageHeader) page)->pd_upper;
	opaque = IvfPageGetOpaque(page);
	opaque->nextblkno = InvalidBlockNumber;
	opaque->nitems = 0;
	opaque->flags = flags;
	opaque->page_id = IVF_PAGE_ID;
}

/* A new page at the end of the relation, returned exclusively locked. */
Buffer
IvfNewBuffer(Relation index, ForkNumber forknum)
{
	Buffer		buf;

	LockRelationForExtension(index, ExclusiveLock);
	buf = ReadBufferExtended(index, forknum, P_NEW, RBM_NORMAL, NULL);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	UnlockRelationForExtension(index, ExclusiveLock);
	return buf;
}

/*
 * Put one entry on a (registered, locked) page that has room: in a freed
 * slot (code pages) or after the last one.  Returns the slot.
 */
int
IvfPutEntry(Page page, int capacity, int itemsize, ItemPointer tid, const char *item)
{
	IvfPageOpaque opaque = IvfPageGetOpaque(page);
	ItemPointer tids = IvfTids(page);
	int			at = opaque->nitems;

	if (opaque->nfree > 0)
	{
		for (at = 0; at < opaque->nitems; at++)
			if (!ItemPointerIsValid(&tids[at]))
				break;
		if (at < opaque->nitems)
			opaque->nfree--;
	}
	if (at == opaque->nitems)
		opaque->nitems++;
	tids[at] = *tid;
	memcpy(IvfItems(page, capacity) + (Size) at * itemsize, item, itemsize);
	return at;
}

/* Whether a page has room for one more entry. */
bool
IvfPageHasRoom(Page page, int capacity)
{
	IvfPageOpaque opaque = IvfPageGetOpaque(page);

	return opaque->nitems < capacity || opaque->nfree > 0;
}

/* Copy the metapage, checking it is ours. */
void
IvfReadMeta(Relation index, IvfMetaPageData *meta)
{
	Buffer		buf = ReadBuffer(index, IVF_META_BLKNO);
	Page		page;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	memcpy(meta, IvfPageGetMeta(page), sizeof(IvfMetaPageData));
	UnlockReleaseBuffer(buf);
	if (meta->magic != IVF_MAGIC)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" is not a valid embq_ivf index", RelationGetRelationName(index))));
	if (meta->version != IVF_VERSION && meta->version != IVF_VERSION_FLAT)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("index \"%s\" has embq_ivf format version %u, this embq reads versions %d and %d",
						RelationGetRelationName(index), meta->version, IVF_VERSION, IVF_VERSION_FLAT),
				 errhint("Rebuild it with REINDEX.")));
}

/* The scoring context of an index. */
static void
IvfInfoFromMeta(const IvfMetaPageData *meta, IvfInfo *info)
{
	info->metric = meta->metric;
	info->dims = meta->dims;
	info->codesize = meta->codesize;
	info->itemsize = meta->itemsize;
	info->capacity = meta->capacity;
	info->codecapacity = meta->codecapacity;
	info->kern = embq_kernels();
}

/* A column value (bitvec or i8vec datum) in code format. */
void
IvfDatumToCode(const IvfInfo *info, Datum value, char *code)
{
	if (IVF_METRIC_IS_BIT(info->metric))
	{
		BitVec	   *v = DatumGetBitVecP(value);

		CheckExpectedDim(info->dims, v->dim);
		memcpy(code, v->data, info->codesize);
		if ((Pointer) v != DatumGetPointer(value))
			pfree(v);
	}
	else
	{
		I8Vec	   *v = DatumGetI8VecP(value);

		CheckExpectedDim(info->dims, v->dim);
		memcpy(code, &v->scale, sizeof(float));
		memcpy(code + sizeof(float), v->x, v->dim);
		if ((Pointer) v != DatumGetPointer(value))
			pfree(v);
	}
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
 * Hold the query's int8 code as bit planes for IvfScoreItems: u[j] =
 * round((q[j] - lo) / step) over the code's range [lo, hi].
 */
static void
IvfQueryPlanes(IvfQuery *q)
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
 * Prepare an ORDER BY argument: a value of the column's type, or a real[] /
 * double precision[] query for the asymmetric operators.
 */
void
IvfQueryFromDatum(const IvfInfo *info, Datum value, Oid type, IvfQuery *q)
{
	q->info = info;
	q->code = palloc(info->codesize);
	q->floats = NULL;
	q->qq = 0;
	q->asymmetric = type_is_array(type);

	if (!q->asymmetric)
		IvfDatumToCode(info, value, q->code);
	else
	{
		FloatArray	f;

		ArrayToFloats(DatumGetArrayTypeP(value), "query vector",
					  IVF_METRIC_IS_BIT(info->metric) ? BITVEC_MAX_DIM : I8VEC_MAX_DIM, &f);
		CheckDims(info->dims, f.dim);
		q->floats = palloc(sizeof(float) * f.dim);
		memcpy(q->floats, f.x, sizeof(float) * f.dim);
		FreeFloats(&f);
		q->qq = info->kern->f32_sqnorm(q->floats, info->dims);

		/* the query's own code, for the coarse pass */
		if (IVF_METRIC_IS_BIT(info->metric))
			info->kern->binarize(q->floats, NULL, info->dims, (uint8_t *) q->code);
		else
		{
			float		scale = embq_quantize_i8(q->floats, info->dims,
												 (int8_t *) (q->code + sizeof(float)));

			memcpy(q->code, &scale, sizeof(float));
		}
	}
	/* the bit planes score sign-bit items; a flat index scores codes */
	if (!IvfIsFlat(info))
		IvfQueryPlanes(q);
	else if (q->asymmetric && !IVF_METRIC_IS_BIT(info->metric))
	{
		q->dots = palloc(sizeof(double) * info->capacity);
		q->norms = palloc(sizeof(int64_t) * info->capacity);
	}
}

/* NaN (cosine with a zero vector) ranks last. */
static inline double
RankValue(double d)
{
	return isnan(d) ? INFINITY : d;
}

/*
 * Distance between two codes, in the metric's ranking sense (smaller is
 * closer): used to assign rows to lists and for the coarse pass.
 */
static double
IvfCodeDistance(const IvfInfo *info, const char *a, const char *b)
{
	const EmbqKernels *k = info->kern;
	int			n = info->dims;

	switch (info->metric)
	{
		case IVF_METRIC_HAMMING:
		case IVF_METRIC_BIT_IP:
			return (double) k->hamming((const uint8_t *) a, (const uint8_t *) b, info->codesize);
		case IVF_METRIC_L2:
			return embq_i8_l2sq(k, CodeScale(a), CodeInt8(a), CodeScale(b), CodeInt8(b), n);
		case IVF_METRIC_IP:
			return -embq_i8_ip(k, CodeScale(a), CodeInt8(a), CodeScale(b), CodeInt8(b), n);
		case IVF_METRIC_COSINE:
			return RankValue(embq_i8_cosine(k, CodeScale(a), CodeInt8(a), CodeScale(b), CodeInt8(b), n));
	}
	elog(ERROR, "unknown embq_ivf metric %d", info->metric);
	return 0;
}

/* Coarse distance of the query to a stored code: code against code. */
double
IvfCoarseDistance(const IvfQuery *q, const char *code)
{
	return IvfCodeDistance(q->info, q->code, code);
}

/*
 * Exact distance of the query to a stored code: the value the ORDER BY
 * operator returns for the row.
 */
double
IvfExactDistance(const IvfQuery *q, const char *code)
{
	const IvfInfo *info = q->info;
	const EmbqKernels *k = info->kern;
	int			n = info->dims;

	if (!q->asymmetric)
	{
		double		d = IvfCodeDistance(info, q->code, code);

		return info->metric == IVF_METRIC_L2 ? sqrt(d) : d;
	}
	switch (info->metric)
	{
		case IVF_METRIC_BIT_IP:
			return -k->bits_float_dot((const uint8_t *) code, q->floats, n);
		case IVF_METRIC_L2:
			return sqrt(k->f32_i8_l2sq(q->floats, CodeInt8(code), CodeScale(code), n));
		case IVF_METRIC_IP:
			return -(double) CodeScale(code) * k->f32_i8_dot(q->floats, CodeInt8(code), n);
		case IVF_METRIC_COSINE:
			return RankValue(embq_query_i8_cosine(k, q->floats, q->qq, CodeScale(code),
												  CodeInt8(code), n));
	}
	elog(ERROR, "embq_ivf metric %d takes no real[] query", info->metric);
	return 0;
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
void
IvfCoarseItemFor(const IvfInfo *info, const char *code, const char *centroid,
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
 * q . c for each of the lists centroids (i8vec codes, packed): what ranks
 * the lists, and the per-list term of the signs layout's estimate.
 */
void
IvfQueryCentroidDots(const IvfQuery *q, const char *centroids, int lists, double *out)
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
		out[i] = (double) CodeScale(q->code) * CodeScale(centroids + (Size) i * info->codesize) *
			(double) dots[i];
	pfree(dots);
}

/*
 * Rank of an i8vec list for a query (smaller is nearer), from the query's
 * dot product with its centroid and the centroid's squared norm: L2 drops
 * the constant |q|^2, cosine the constant 1 / |q|.
 */
double
IvfCentroidRank(const IvfInfo *info, double dot, double csqnorm)
{
	switch (info->metric)
	{
		case IVF_METRIC_L2:
			return csqnorm - 2 * dot;
		case IVF_METRIC_IP:
			return -dot;
		default:
			return csqnorm > 0 ? -dot / sqrt(csqnorm) : INFINITY;
	}
}

/*
 * IvfExactDistance of a real[] query to n consecutive i8vec codes (the
 * items of a flat index), a page at a time through the item kernels, which
 * give the one-row kernels' values bit for bit.
 */
static void
IvfScoreCodes(const IvfQuery *q, const char *items, int n, double *out)
{
	const IvfInfo *info = q->info;
	const EmbqKernels *k = info->kern;
	const uint8_t *u = (const uint8_t *) items;

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

/*
 * Coarse distances of the query to n consecutive data page items, in
 * ranking order: bitvec, the distance to the code (exact); i8vec, the
 * estimate a * (q' . s) + w * qc + b, where q' is the query's int8 code, s
 * the row's residual signs as +-1, qc the query's dot product with the
 * list's centroid, and q' . s = scale * (2 * (sum of q' over the set bits)
 * - sum of q'), with q' as its bit planes approximate it.
 */
void
IvfScoreItems(const IvfQuery *q, const char *items, int n, double qc, double *out)
{
	const IvfInfo *info = q->info;
	double		scale;

	if (IvfIsFlat(info))
	{
		if (q->asymmetric && !IVF_METRIC_IS_BIT(info->metric))
			IvfScoreCodes(q, items, n, out);
		else
			for (int i = 0; i < n; i++)
			{
				const char *item = items + (Size) i * info->itemsize;

				out[i] = q->asymmetric ? IvfExactDistance(q, item) : IvfCoarseDistance(q, item);
			}
		return;
	}
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

/*
 * Candidates an i8vec scan rescores at a time: 10 rows' worth at the
 * given factor, times ceil(1024 / dims) below 1024 dimensions, where the
 * sign bits tell less apart; 0 when the index does not rescore (bitvec,
 * whose coarse pass is exact, or factor 1).
 */
int
IvfRescoreBatch(int dims, int codecapacity, int factor)
{
	if (codecapacity == 0 || factor <= 1)
		return 0;
	return 10 * factor * Max(1, (1024 + dims - 1) / dims);
}

/* Directory block holding a list. */
BlockNumber
IvfDirBlock(int list, int dir_per_page)
{
	return 1 + list / dir_per_page;
}

/* A list's entry on its (locked) directory page. */
IvfList
IvfDirEntry(Page page, int list, int dir_per_page, int codesize)
{
	return (IvfList) (PageGetContents(page) + (Size) (list % dir_per_page) * IVF_LIST_SIZE(codesize));
}

/* The list whose centroid (packed codesize apart) is nearest to a code. */
int
IvfNearestList(const IvfInfo *info, const char *code, const char *centroids, int lists)
{
	double		best = INFINITY;
	int			besti = 0;

	/* both bit metrics rank lists by hamming distance to their centroids */
	if (IVF_METRIC_IS_BIT(info->metric))
		return info->kern->hamming_nearest((const uint8_t *) code, (const uint8_t *) centroids,
										   lists, info->codesize);

	for (int i = 0; i < lists; i++)
	{
		double		d = IvfCodeDistance(info, code, centroids + (Size) i * info->codesize);

		if (d < best)
		{
			best = d;
			besti = i;
		}
	}
	return besti;
}

/*
 * The metapage and all centroids, read once per relcache entry.  Centroids
 * change only when the index is rebuilt, which gives it a new relfilenode
 * and so a fresh relcache entry.
 */
IvfCache *
IvfGetCache(Relation index)
{
	IvfCache   *cache = (IvfCache *) index->rd_amcache;

	if (cache == NULL)
	{
		IvfMetaPageData meta;
		char	   *centroids;

		IvfReadMeta(index, &meta);
		/* one chunk: the relcache frees rd_amcache with a single pfree */
		cache = MemoryContextAllocExtended(index->rd_indexcxt,
										   MAXALIGN(sizeof(IvfCache)) +
										   MAXALIGN((Size) meta.lists * sizeof(double)) +
										   (Size) meta.lists * meta.codesize,
										   MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
		cache->csqnorm = (double *) ((char *) cache + MAXALIGN(sizeof(IvfCache)));
		centroids = (char *) cache->csqnorm + MAXALIGN((Size) meta.lists * sizeof(double));
		for (BlockNumber b = 0; b < meta.ndirpages; b++)
		{
			Buffer		buf = ReadBuffer(index, 1 + b);
			Page		page;
			int			first = b * meta.dir_per_page;

			LockBuffer(buf, BUFFER_LOCK_SHARE);
			page = BufferGetPage(buf);
			for (int i = first; i < Min(meta.lists, first + meta.dir_per_page); i++)
				memcpy(centroids + (Size) i * meta.codesize,
					   IvfDirEntry(page, i, meta.dir_per_page, meta.codesize)->centroid,
					   meta.codesize);
			UnlockReleaseBuffer(buf);
		}
		cache->meta = meta;
		IvfInfoFromMeta(&meta, &cache->info);
		cache->centroids = centroids;
		if (!IVF_METRIC_IS_BIT(meta.metric))
			for (int i = 0; i < meta.lists; i++)
			{
				const char *c = centroids + (Size) i * meta.codesize;
				double		scale = CodeScale(c);

				cache->csqnorm[i] = scale * scale *
					(double) cache->info.kern->i8_dot(CodeInt8(c), CodeInt8(c), meta.dims);
			}
		index->rd_amcache = cache;
	}
	return cache;
}
