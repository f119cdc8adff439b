/*-------------------------------------------------------------------------
 *
 * ivfutils.c
 *		embq_ivf helpers: page geometry, the metapage, codes, and the
 *		distances the index ranks by.
 *
 *-------------------------------------------------------------------------
 */
#include "ivf.h"

#include <math.h>

#include "access/genam.h"
#include "catalog/pg_type.h"
#include "codedist.h"
#include "storage/lmgr.h"
#include "utils/lsyscache.h"

/* Bytes usable for contents on a page with our special space. */
#define IVF_PAGE_USABLE \
	(BLCKSZ - MAXALIGN(SizeOfPageHeaderData) - MAXALIGN(sizeof(IvfPageOpaqueData)))

/* Scale of an i8vec code (stored unaligned before the codes). */
static inline float
CodeScale(const char *code)
{
	float		s;

	memcpy(&s, code, sizeof(float));
	return s;
}

#define CodeInt8(code) ((const int8_t *) ((code) + sizeof(float)))

/* Bytes of one code of a metric's column type. */
int
IvfCodeSize(int metric, int dims)
{
	return IVF_METRIC_IS_BIT(metric) ? (int) EMBQ_BITBYTES(dims) : (int) sizeof(float) + dims;
}

/* Entries per data page: a TID array, then a code array. */
int
IvfCapacity(int codesize)
{
	int			cap = IVF_PAGE_USABLE / (sizeof(ItemPointerData) + codesize);

	while (cap > 0 && MAXALIGN(sizeof(ItemPointerData) * cap) + (Size) cap * codesize > IVF_PAGE_USABLE)
		cap--;
	return cap;
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
	if (meta->magic != IVF_MAGIC || meta->version != IVF_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" is not a valid embq_ivf index", RelationGetRelationName(index))));
}

/* The scoring context of an index. */
static void
IvfInfoFromMeta(const IvfMetaPageData *meta, IvfInfo *info)
{
	info->metric = meta->metric;
	info->dims = meta->dims;
	info->codesize = meta->codesize;
	info->capacity = meta->capacity;
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
 * How far a float query is from its own int8 code, the bound that makes the
 * code-to-code distance a lower bound of the exact one (IvfLowerBound).
 */
static double
QueryCodeError(const IvfInfo *info, const IvfQuery *q, float scale)
{
	const int8_t *c = CodeInt8(q->code);
	double		err = 0,
				qn = sqrt(q->qq),
				cn = 0;

	for (int j = 0; j < info->dims; j++)
		cn += (double) c[j] * c[j];
	cn = sqrt(cn) * scale;
	for (int j = 0; j < info->dims; j++)
	{
		double		x = q->floats[j],
					y = (double) scale * c[j];
		double		d;

		if (info->metric == IVF_METRIC_COSINE)
			d = (qn > 0 ? x / qn : 0) - (cn > 0 ? y / cn : 0);
		else
			d = x - y;
		err += d * d;
	}
	return sqrt(err);
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
	{
		IvfDatumToCode(info, value, q->code);
		return;
	}
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
			q->eps = QueryCodeError(info, q, scale);
		}
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
 * For a real[] query, a lower bound of IvfExactDistance(q, code) computed
 * from the codes: candidates rescored in lower-bound order come out in exact
 * order as soon as the best rescored one is no farther than the next bound.
 *
 * With q' the query's own code (dequantized), x a stored vector and
 * eps = |q - q'|: L2 |q - x| >= |q' - x| - eps; inner product
 * -q.x >= -q'.x - eps |x|; cosine (eps between the unit vectors)
 * d(q, x) >= d(q', x) - eps.  Hamming bounds bit inner products too loosely
 * to be worth it: those get their exact distance at once.
 */
double
IvfLowerBound(const IvfQuery *q, const char *code)
{
	const IvfInfo *info = q->info;
	const EmbqKernels *k = info->kern;
	int			n = info->dims;
	float		qs,
				s;
	const int8_t *qc,
			   *c;
	int64_t		aa,
				bb,
				ab;
	double		lb;

	if (info->metric == IVF_METRIC_BIT_IP)
		return IvfExactDistance(q, code) - 1e-9;	/* ties: rescore them all */
	qs = CodeScale(q->code);
	s = CodeScale(code);
	qc = CodeInt8(q->code);
	c = CodeInt8(code);
	switch (info->metric)
	{
		case IVF_METRIC_L2:
			lb = sqrt(embq_i8_l2sq(k, qs, qc, s, c, n)) - q->eps;
			break;
		case IVF_METRIC_IP:
			k->i8_dot3(qc, c, n, &aa, &bb, &ab);
			lb = -(double) qs * (double) s * (double) ab - q->eps * (double) s * sqrt((double) bb);
			break;
		case IVF_METRIC_COSINE:
			if (s == 0)
				return INFINITY;	/* a zero vector: NaN, ranked last */
			if (qs == 0)
				return 0;		/* no direction in the query's code */
			lb = embq_i8_cosine(k, qs, qc, s, c, n) - q->eps;
			break;
		default:
			elog(ERROR, "embq_ivf metric %d takes no real[] query", info->metric);
	}
	/* room for rounding in either computation */
	return lb - 1e-9 * (fabs(lb) + 1.0);
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
										   (Size) meta.lists * meta.codesize,
										   MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
		centroids = (char *) cache + MAXALIGN(sizeof(IvfCache));
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
		index->rd_amcache = cache;
	}
	return cache;
}
