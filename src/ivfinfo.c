/*-------------------------------------------------------------------------
 *
 * ivfinfo.c
 *		What an embq_ivf index is: its kind and scoring context, its cached
 *		metapage and centroids, and a query prepared for it.
 *
 *-------------------------------------------------------------------------
 */
#include "ivf.h"

#include "access/genam.h"
#include "utils/lsyscache.h"

/* The operations of an index kind: its column type's metric and its layout. */
const IvfKindOps *
IvfKindOf(int metric, bool flat)
{
	if (IVF_METRIC_IS_BIT(metric))
		return &IvfBitOps;
	return flat ? &IvfI8FlatOps : &IvfI8SignsOps;
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
	const IvfKindOps *ops = IvfKindOf(metric, flat);

	info->ops = ops;
	info->metric = metric;
	info->spherical = metric == IVF_METRIC_COSINE;
	info->dims = dims;
	info->codesize = ops->code_size(dims);
	info->itemsize = ops->item_size(dims);
	info->capacity = IvfCapacity(info->itemsize);
	info->codecapacity = ops->rescores ? IvfCapacity(info->codesize) : 0;
	info->kern = embq_kernels();
}

/* The metric the index's operator class declares (support function 1). */
int
IvfMetricOf(Relation index)
{
	FmgrInfo   *proc = index_getprocinfo(index, 1, 1);

	return DatumGetInt32(FunctionCall1(proc, PointerGetDatum(NULL)));
}

/* The scoring context of an index. */
static void
IvfInfoFromMeta(const IvfMetaPageData *meta, IvfInfo *info)
{
	info->ops = IvfKindOf(meta->metric, meta->codecapacity == 0);
	info->metric = meta->metric;
	info->spherical = meta->metric == IVF_METRIC_COSINE;
	info->dims = meta->dims;
	info->codesize = meta->codesize;
	info->itemsize = meta->itemsize;
	info->capacity = meta->capacity;
	info->codecapacity = meta->codecapacity;
	info->kern = embq_kernels();
}

/*
 * Prepare an ORDER BY argument: a value of the column's type, or a real[] /
 * double precision[] query for the asymmetric operators.
 */
void
IvfQueryFromDatum(const IvfInfo *info, Datum value, Oid type, IvfQuery *q)
{
	if (type_is_array(type))
	{
		FloatArray	f;

		ArrayToFloats(DatumGetArrayTypeP(value), "query vector", info->ops->max_query_dim, &f);
		IvfQueryFromFloats(info, f.x, f.dim, q);
		FreeFloats(&f);
		return;
	}
	memset(q, 0, sizeof(IvfQuery));
	q->info = info;
	q->code = palloc(info->codesize);
	q->asymmetric = false;
	info->ops->datum_to_code(info, value, q->code);
	info->ops->prepare_query(q);
}

/*
 * Prepare a real[] query given as dim floats (checked finite), for the
 * asymmetric operators.
 */
void
IvfQueryFromFloats(const IvfInfo *info, const float *x, int dim, IvfQuery *q)
{
	CheckDims(info->dims, dim);
	memset(q, 0, sizeof(IvfQuery));
	q->info = info;
	q->code = palloc(info->codesize);
	q->asymmetric = true;
	q->floats = palloc(sizeof(float) * dim);
	memcpy(q->floats, x, sizeof(float) * dim);
	q->qq = info->kern->f32_sqnorm(q->floats, info->dims);
	info->ops->query_code(info, q->floats, q->code);
	info->ops->prepare_query(q);
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
		if (cache->info.ops->centroid_norms)
			cache->info.ops->centroid_norms(&cache->info, centroids, meta.lists, cache->csqnorm);
		index->rd_amcache = cache;
	}
	return cache;
}
