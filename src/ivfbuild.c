/*-------------------------------------------------------------------------
 *
 * ivfbuild.c
 *		Build an embq_ivf index: sample rows, train centroids by k-means,
 *		assign every row to its nearest list through a tuplesort (which
 *		spills to disk past maintenance_work_mem; ivfassign.c, with parallel
 *		workers in ivfparallel.c), then write each list's codes densely onto
 *		chained pages.
 *
 * Pages are built in local memory and written outside shared buffers,
 * WAL-logged in batches (ivfwrite.c), as nbtree's sorted build does.
 *
 *-------------------------------------------------------------------------
 */
#include "ivfbuild.h"

#include <math.h>

#include "access/tableam.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "executor/executor.h"
#include "gpu.h"
#include "kmeans.h"
#include "miscadmin.h"
#include "optimizer/plancat.h"
#include "pgstat.h"
#include "utils/datum.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/tuplesort.h"

#define IVF_KMEANS_ITERS 10
#define IVF_SAMPLE_PER_LIST 50


/* The column's dimensions, from its typmod. */
static int
IndexDims(Relation index, int metric)
{
	int			dims = TupleDescAttr(RelationGetDescr(index), 0)->atttypmod;
	const IvfKindOps *ops = IvfKindOf(metric, false);

	if (dims < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column does not have dimensions"),
				 errhint("Declare the column as %s(n) to index it with embq_ivf.", ops->type_name)));
	if (dims > ops->max_dims)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("column cannot have more than %d dimensions for embq_ivf index",
						ops->max_dims)));
	return dims;
}

/* The scoring context of an index being built: its metric, dimensions and layout. */
static void
IndexInfoFor(Relation index, IvfInfo *info)
{
	IvfOptions *opts = (IvfOptions *) index->rd_options;
	int			metric = IvfMetricOf(index);
	int			dims = IndexDims(index, metric);

	IvfInfoFor(metric, dims, IvfChooseFlat(metric, dims, opts ? opts->layout : IVF_LAYOUT_AUTO), info);
}

/*
 * Lists for a row count: 2 * sqrt(rows).  A scan's cost is the lists it
 * ranks plus the rows it scores, which this balances, and training (whose
 * sample grows with the lists) stays linear in the rows.  Fewer, larger
 * lists (pgvector's rows / 1000) need a larger share of the rows scanned
 * for the same recall.
 */
static int
DefaultLists(double rows)
{
	return (int) Max(1, Min(65536, 2 * sqrt(rows)));
}

/*
 * Bytes that k-means on n sample rows for k lists takes besides the sampled
 * codes.  On floats (a GPU's input, and the CPU's fallback when the GPU
 * fails): the rows and centroids as floats and the workspace.  On the codes
 * (the CPU, see TrainOnCodes): each row's scale, the centroids as floats,
 * the workspace, and for bitvec the bits as int8 training codes, about a
 * quarter as much at 1024 dimensions.  Linear in n.
 */
static Size
TrainingBytes(const IvfInfo *info, Size n, Size k, bool floats)
{
	Size		dims = info->dims;

	if (floats)
		return n * dims * sizeof(float) + k * dims * sizeof(float) +
			embq_kmeans_workspace(n, dims, k);
	return (info->ops->training_codes ? n * IvfTrainCodeSize(info) : 0) +
		n * sizeof(float) + k * dims * sizeof(float) + embq_kmeans_workspace_codes(n, dims, k);
}

/*
 * Bytes a build holds while it trains k lists on n sample rows: the sample
 * as codes, the centroids as codes, and TrainingBytes.
 */
static double
SampleAndTrainBytes(const IvfInfo *info, Size n, Size k, bool floats)
{
	return (double) (n + k) * info->codesize + (double) TrainingBytes(info, n, k, floats);
}

/*
 * Bytes that training k lists on IVF_SAMPLE_PER_LIST sample rows each
 * takes (SampleAndTrainBytes).
 */
static double
DefaultTrainingBytes(const IvfInfo *info, int k, bool floats)
{
	return SampleAndTrainBytes(info, (Size) IVF_SAMPLE_PER_LIST * k, k, floats);
}

/*
 * The most sample rows whose sampling and training for k lists fit in
 * budget bytes (SampleAndTrainBytes is linear in the rows); 0 if none.
 */
static int
SampleRowsThatFit(const IvfInfo *info, int k, bool floats, double budget)
{
	double		fixed = SampleAndTrainBytes(info, 0, k, floats);
	double		per_row = SampleAndTrainBytes(info, 1, k, floats) - fixed;

	if (budget <= fixed)
		return 0;
	return (int) Min((budget - fixed) / per_row, (double) INT_MAX / 2);
}

/* The error for a build that cannot train k lists on n rows within maintenance_work_mem. */
static void
ReportTrainingMemory(const IvfInfo *info, int n, int k, bool floats)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("memory required to train %d embq_ivf lists is %.0f MB, maintenance_work_mem is %d MB",
					k, ceil(SampleAndTrainBytes(info, n, k, floats) / (1024 * 1024)),
					maintenance_work_mem / 1024),
			 errdetail("Training samples at least %d rows, 4 per list.", n),
			 errhint("Increase maintenance_work_mem or use fewer lists.")));
}

/*
 * Lists when the lists option is not given: DefaultLists, but no more than
 * maintenance_work_mem can train with the default sample per list (the
 * default suits 2 GB at 200,000 x 1024, not PostgreSQL's default 64 MB), so
 * that a default build neither fails nor trains on a thin sample.  report:
 * say so when the budget cuts the lists.
 */
static int
DerivedLists(const IvfInfo *info, const IvfOptions *opts, double rows, bool floats, bool report)
{
	int			want = DefaultLists(rows),
				fit;
	double		budget = (double) maintenance_work_mem * 1024;

	if (opts && opts->sample_rows > 0)
		return want;			/* the sample is the user's choice */
	fit = (int) Max(1, budget / DefaultTrainingBytes(info, 1, floats));
	if (want <= fit)
		return want;
	if (report)
		ereport(NOTICE,
				(errmsg("embq_ivf index uses %d lists instead of the default %d to train within maintenance_work_mem",
						fit, want),
				 errhint("Set maintenance_work_mem to at least %.0f MB for the default lists, or set the lists option.",
						 ceil(DefaultTrainingBytes(info, want, floats) / (1024 * 1024)))));
	return fit;
}

/* The planner's estimate of the table's rows. */
static double
EstimateRows(Relation heap)
{
	BlockNumber pages;
	double		tuples,
				allvisfrac;

	estimate_rel_size(heap, NULL, &pages, &tuples, &allvisfrac);
	return tuples;
}

/* Reservoir-sample one row's code (Vitter's algorithm R). */
static void
SampleCallback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
			   bool tupleIsAlive, void *state)
{
	IvfBuildState *bs = (IvfBuildState *) state;
	int			slot;

	if (isnull[0])
		return;
	bs->rows_seen++;
	if (bs->sample_count < bs->sample_target)
	{
		/* the reservoir grows with the table, up to its target */
		if (bs->sample_count == bs->sample_alloc)
		{
			bs->sample_alloc = (int) Min((double) bs->sample_target,
										 Max(1024.0, 2.0 * bs->sample_alloc));
			bs->sample = bs->sample == NULL
				? palloc_extended((Size) bs->sample_alloc * bs->info.codesize, MCXT_ALLOC_HUGE)
				: repalloc_huge(bs->sample, (Size) bs->sample_alloc * bs->info.codesize);
		}
		slot = bs->sample_count++;
	}
	else
	{
		uint64		r = embq_random_next(&bs->rng) % (uint64) bs->rows_seen;

		if (r >= (uint64) bs->sample_target)
			return;
		slot = (int) r;
	}
	bs->info.ops->datum_to_code(&bs->info, values[0], bs->sample + (Size) slot * bs->info.codesize);
}

/* k-means progress hook: allow cancellation between iterations. */
static void
KmeansProgress(void *arg, int iter)
{
	CHECK_FOR_INTERRUPTS();
}

/*
 * k-means on the GPU when allowed; false means the CPU must do it (no GPU,
 * or a GPU failure under embq.gpu = auto, reported as a WARNING).
 */
static bool
TrainOnGpu(IvfBuildState *bs, const float *x, int n, float *centroids)
{
	char		err[256] = "";

	if (bs->gpu == NULL)
		return false;
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, PROGRESS_IVF_PHASE_TRAIN_GPU);
	if (EmbqGpuKmeansTrain(bs->gpu, x, n, bs->info.dims, bs->lists, IVF_KMEANS_ITERS,
						   bs->info.spherical, 42, centroids,
						   err, sizeof(err)) == 0)
	{
		bs->build_path |= IVF_BUILD_GPU_TRAIN;
		return true;
	}
	EmbqGpuFailed("k-means training", err);
	bs->gpu = NULL;
	return false;
}

/* Scale a row to unit length (cosine ranks by direction); a zero row stays. */
static void
UnitLength(const IvfInfo *info, float *row)
{
	double		norm = sqrt(info->kern->f32_sqnorm(row, info->dims));

	if (norm > 0)
		for (int j = 0; j < info->dims; j++)
			row[j] = (float) (row[j] / norm);
}

/*
 * A power of two that brings the largest |x[i]| of n floats into [0.5, 1):
 * f32_dots accumulates in float, where products of values near 1e20 would
 * overflow, and scaling by a power of two changes no rounding.
 */
static double
UnitScale(const IvfInfo *info, const float *x, Size n)
{
	float		m = info->kern->absmax(x, n);
	int			e;

	if (!(m > 0) || !isfinite(m))
		return 1.0;
	(void) frexp(m, &e);
	return ldexp(1.0, -e);
}

/* x[i] *= scale for n floats. */
static void
ScaleFloats(float *x, Size n, double scale)
{
	if (scale != 1.0)
		for (Size i = 0; i < n; i++)
			x[i] = (float) (x[i] * scale);
}

/*
 * Replace the first n sampled codes by training codes, where the kind's
 * codes are not (bitvec: the bits as 0/1 int8 values).
 */
static void
MakeTrainingCodes(IvfBuildState *bs, int n)
{
	const IvfInfo *info = &bs->info;
	char	   *codes;

	if (info->ops->training_codes == NULL)
		return;
	codes = palloc_extended((Size) n * IvfTrainCodeSize(info), MCXT_ALLOC_HUGE);
	info->ops->training_codes(info, bs->sample, n, codes);
	pfree(bs->sample);
	bs->sample = codes;
}

/*
 * k-means on the first n sampled codes themselves (training codes: i8vec
 * codes, or bitvec codes turned into them), on the CPU: no float copy of
 * the sample, and exact int8 dot products in the assignment steps
 * (embq_kmeans_train_codes).  Cosine trains on unit-length rows.  Int8
 * products cannot overflow and the keys are doubles, so unlike the float
 * path this needs no unit scale.
 */
static void
TrainOnCodes(IvfBuildState *bs, int n, float *cf)
{
	const IvfInfo *info = &bs->info;
	Size		tcs = IvfTrainCodeSize(info);
	float	   *scales = palloc(sizeof(float) * n);
	void	   *work;
	const char *codes;
	bool		shared;

	MakeTrainingCodes(bs, n);
	for (int i = 0; i < n; i++)
	{
		const char *code = bs->sample + (Size) i * tcs;

		if (info->spherical)
		{
			double		sq = (double) info->kern->i8_dot(CodeInt8(code), CodeInt8(code), info->dims);

			scales[i] = sq > 0 && CodeScale(code) != 0 ? (float) (1 / sqrt(sq)) : 0;
		}
		else
			scales[i] = CodeScale(code);
	}
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, PROGRESS_IVF_PHASE_TRAIN);
	/* in a parallel build the workers share each assignment step, from a shared copy */
	codes = bs->leader ? IvfParallelTrainBegin(bs->leader, bs->sample, scales, n) : NULL;
	shared = codes != NULL;
	if (shared)
	{
		pfree(bs->sample);
		bs->sample = NULL;
	}
	else
		codes = bs->sample;
	work = palloc_extended(embq_kmeans_workspace_codes(n, info->dims, bs->lists), MCXT_ALLOC_HUGE);
	embq_kmeans_train_codes(CodeInt8(codes), tcs, scales, n, info->dims,
							bs->lists, IVF_KMEANS_ITERS, info->spherical, 42,
							cf, work, KmeansProgress, NULL,
							shared ? IvfParallelTrainAssign : NULL, bs->leader);
	pfree(work);
	pfree(scales);
}

/*
 * Move a uniform random keep of the sample's rows to its first slots (a
 * partial Fisher-Yates shuffle): the first slots of a reservoir hold the
 * table's first rows more often than its later ones.
 */
static void
KeepRandomSlots(IvfBuildState *bs, int keep)
{
	Size		cs = bs->info.codesize;
	char	   *tmp = palloc(cs);

	for (int i = 0; i < keep; i++)
	{
		int			j = i + (int) (embq_random_next(&bs->rng) % (uint64) (bs->sample_count - i));

		if (j == i)
			continue;
		memcpy(tmp, bs->sample + (Size) i * cs, cs);
		memcpy(bs->sample + (Size) i * cs, bs->sample + (Size) j * cs, cs);
		memcpy(bs->sample + (Size) j * cs, tmp, cs);
	}
	pfree(tmp);
}

/*
 * Keep only as many sample rows as training the lists can take within
 * maintenance_work_mem (the lists may have grown with the real row count
 * since the reservoir was sized), but at least 4 per list, else fail.
 */
static void
FitSample(IvfBuildState *bs)
{
	bool		floats = bs->gpu != NULL;
	int			fit = SampleRowsThatFit(&bs->info, bs->lists, floats,
										(double) maintenance_work_mem * 1024);

	if (bs->sample_count <= fit)
		return;
	if (fit < Min(bs->sample_count, 4 * bs->lists))
		ReportTrainingMemory(&bs->info, Min(bs->sample_count, 4 * bs->lists), bs->lists, floats);
	KeepRandomSlots(bs, fit);
	bs->sample_count = bs->sample_alloc = fit;
	bs->sample = repalloc_huge(bs->sample, (Size) fit * bs->info.codesize);
}

/*
 * Train the centroids on the sample (FitSample made it fit
 * maintenance_work_mem), on floats for a GPU, else on the codes.
 */
static void
TrainCentroids(IvfBuildState *bs)
{
	const IvfInfo *info = &bs->info;
	int			n = bs->sample_count;
	int			k = bs->lists;
	Size		dims = info->dims;
	float	   *x,
			   *cf;
	void	   *work;
	double		scale;

	bs->centroids = palloc_extended((Size) k * info->codesize, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	if (n == 0)
		return;					/* no rows: zero centroids, every row to list 0 */

	cf = palloc_extended((Size) k * dims * sizeof(float), MCXT_ALLOC_HUGE);
	if (bs->gpu == NULL)
		TrainOnCodes(bs, n, cf);
	else
	{
		x = palloc_extended((Size) n * dims * sizeof(float), MCXT_ALLOC_HUGE);
		for (int i = 0; i < n; i++)
		{
			float	   *row = x + (Size) i * dims;

			info->ops->code_to_floats(info, bs->sample + (Size) i * info->codesize, row);
			if (info->spherical)
				UnitLength(info, row);
		}
		/* k-means is scale-equivariant: train at unit scale, scale back */
		scale = UnitScale(info, x, (Size) n * dims);
		ScaleFloats(x, (Size) n * dims, scale);
		if (!TrainOnGpu(bs, x, n, cf))
		{
			pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, PROGRESS_IVF_PHASE_TRAIN);
			work = palloc_extended(embq_kmeans_workspace(n, dims, k), MCXT_ALLOC_HUGE);
			embq_kmeans_train(x, n, dims, k, IVF_KMEANS_ITERS,
							  info->spherical, 42, cf, work,
							  KmeansProgress, NULL);
			pfree(work);
		}
		ScaleFloats(cf, (Size) k * dims, 1.0 / scale);
		pfree(x);
	}
	for (int c = 0; c < k; c++)
		info->ops->floats_to_centroid(info, cf + (Size) c * dims, bs->centroids + (Size) c * info->codesize);
	pfree(cf);
}

/* Where each list's two chains start and end, as the build writes them. */
typedef struct IvfChains
{
	BlockNumber *start;
	BlockNumber *last;
	BlockNumber *codestart;
	BlockNumber *codelast;
} IvfChains;

/*
 * Reserve blocks 0 .. ndir for the metapage and the directory, so that the
 * directory sits at fixed blocks before any list's pages.  They are written
 * last, when the chains are known.
 */
static void
ReserveMetaAndDirectory(IvfWriter *w, int lists, int dir_per_page)
{
	/* the last list's directory block is the directory's last */
	while (IvfWriterReserve(w) < IvfDirBlock(lists - 1, dir_per_page))
		;
}

/*
 * Write the metapage and the directory: each list's centroid, chains and
 * count (no chains and no counts: every list empty).
 */
static void
WriteMetaAndDirectory(IvfWriter *w, const IvfInfo *info, int lists, int dir_per_page,
					  uint32 build_path, int build_workers, const char *centroids,
					  const IvfChains *chains, const int64 *counts)
{
	Page		page = IvfWriterPage(w);
	IvfMetaPage meta;

	IvfInitPage(page, IVF_META);
	meta = IvfPageGetMeta(page);
	meta->magic = IVF_MAGIC;
	meta->version = info->ops->version;
	meta->dims = info->dims;
	meta->metric = info->metric;
	meta->lists = lists;
	meta->codesize = info->codesize;
	meta->itemsize = info->itemsize;
	meta->capacity = info->capacity;
	meta->codecapacity = info->codecapacity;
	meta->dir_per_page = dir_per_page;
	meta->ndirpages = IvfDirBlock(lists - 1, dir_per_page) - IVF_META_BLKNO;
	meta->build_path = build_path;
	meta->build_workers = build_workers;
	((PageHeader) page)->pd_lower = ((char *) meta + sizeof(IvfMetaPageData)) - (char *) page;
	IvfWriterFinish(w, IVF_META_BLKNO, page);

	for (int first = 0; first < lists; first += dir_per_page)
	{
		int			count = Min(dir_per_page, lists - first);

		page = IvfWriterPage(w);
		IvfInitPage(page, IVF_DIR);
		for (int i = first; i < first + count; i++)
		{
			IvfList		l = IvfDirEntry(page, i, dir_per_page, info->codesize);

			l->startpage = chains ? chains->start[i] : InvalidBlockNumber;
			l->insertpage = chains ? chains->last[i] : InvalidBlockNumber;
			l->codestart = chains ? chains->codestart[i] : InvalidBlockNumber;
			l->codeinsert = chains ? chains->codelast[i] : InvalidBlockNumber;
			l->count = counts ? counts[i] : 0;
			memcpy(l->centroid, centroids + (Size) i * info->codesize, info->codesize);
		}
		IvfPageGetOpaque(page)->nitems = count;
		IvfWriterFinish(w, IvfDirBlock(first, dir_per_page), page);
	}
}

/*
 * A build's open page on one chain: the next entry goes here, or on a new
 * page linked after it when it is full.
 */
typedef struct IvfOpenPage
{
	Page		page;
	BlockNumber blkno;
	int			list;
} IvfOpenPage;

/* Hand an open page over to be written. */
static void
ClosePage(IvfWriter *w, IvfOpenPage *op)
{
	if (op->page)
		IvfWriterFinish(w, op->blkno, op->page);
	op->page = NULL;
}

/*
 * The page of a list's chain with room for one more entry: the open page,
 * or a new one linked after it (or starting the list's chain).
 */
static Page
PageWithRoom(IvfWriter *w, IvfOpenPage *op, int list, uint16 flags, int capacity,
			 BlockNumber *start, BlockNumber *last)
{
	BlockNumber next;

	if (op->page && op->list == list && IvfPageHasRoom(op->page, capacity))
		return op->page;
	next = IvfWriterReserve(w);
	if (op->page && op->list == list)
		IvfPageGetOpaque(op->page)->nextblkno = next;
	ClosePage(w, op);
	op->page = IvfWriterPage(w);
	op->blkno = next;
	op->list = list;
	IvfInitPage(op->page, flags);
	if (start[list] == InvalidBlockNumber)
		start[list] = next;
	last[list] = next;
	return op->page;
}

/*
 * Write the sorted (list, tid, code) stream as chained, densely packed
 * pages, then the directory.  For i8vec each code goes to the list's code
 * chain first, then its coarse item (with the code's address) to the data
 * chain.
 */
static void
WriteLists(IvfBuildState *bs, IvfWriter *w, int dir_per_page)
{
	const IvfInfo *info = &bs->info;
	bool		twotier = info->ops->rescores;
	TupleTableSlot *sorted = MakeSingleTupleTableSlot(bs->sortdesc, &TTSOpsMinimalTuple);
	IvfChains	chains;
	IvfOpenPage data = {NULL, InvalidBlockNumber, -1};
	IvfOpenPage codes = {NULL, InvalidBlockNumber, -1};
	char	   *item = palloc(info->itemsize);
	int64		written = 0;

	chains.start = palloc(sizeof(BlockNumber) * bs->lists);
	chains.last = palloc(sizeof(BlockNumber) * bs->lists);
	chains.codestart = palloc(sizeof(BlockNumber) * bs->lists);
	chains.codelast = palloc(sizeof(BlockNumber) * bs->lists);
	for (int i = 0; i < bs->lists; i++)
		chains.start[i] = chains.last[i] = chains.codestart[i] = chains.codelast[i] =
			InvalidBlockNumber;

	ReserveMetaAndDirectory(w, bs->lists, dir_per_page);
	while (tuplesort_gettupleslot(bs->sort, true, false, sorted, NULL))
	{
		bool		isnull;
		int			list = DatumGetInt32(slot_getattr(sorted, 1, &isnull));
		ItemPointer tid = (ItemPointer) DatumGetPointer(slot_getattr(sorted, 2, &isnull));
		bytea	   *code = DatumGetByteaPP(slot_getattr(sorted, 3, &isnull));
		Page		page;

		CHECK_FOR_INTERRUPTS();
		if (twotier)
		{
			int			off;

			page = PageWithRoom(w, &codes, list, IVF_CODE, info->codecapacity,
								chains.codestart, chains.codelast);
			off = IvfPutEntry(page, info->codecapacity, info->codesize, tid, VARDATA_ANY(code));
			info->ops->coarse_item(info, VARDATA_ANY(code), bs->centroids + (Size) list * info->codesize,
								   codes.blkno, off, item);
		}
		else
			memcpy(item, VARDATA_ANY(code), info->codesize);
		page = PageWithRoom(w, &data, list, IVF_DATA, info->capacity,
							chains.start, chains.last);
		IvfPutEntry(page, info->capacity, info->itemsize, tid, item);
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, ++written);
	}
	ClosePage(w, &data);
	ClosePage(w, &codes);
	ExecDropSingleTupleTableSlot(sorted);

	WriteMetaAndDirectory(w, info, bs->lists, dir_per_page, bs->build_path, bs->build_workers,
						  bs->centroids, &chains, bs->list_counts);
}

/* ambuild */
IndexBuildResult *
ivfbuild(Relation heap, Relation index, IndexInfo *indexInfo)
{
	IndexBuildResult *result;
	IvfBuildState bs;
	IvfOptions *opts = (IvfOptions *) index->rd_options;
	int			dir_per_page;
	double		estimated;
	int			wanted;
	IvfWriter  *writer;

	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data", RelationGetRelationName(index));

	memset(&bs, 0, sizeof(bs));
	bs.heap = heap;
	bs.index = index;
	IndexInfoFor(index, &bs.info);
	bs.rng = UINT64CONST(0x9E3779B97F4A7C15);
	/* the GPU, if embq.gpu allows and one is usable (errors when on and none is) */
	bs.gpu = EmbqGpuForWork();
	bs.tmpctx = AllocSetContextCreate(CurrentMemoryContext, "embq_ivf build row",
									  ALLOCSET_DEFAULT_SIZES);
	dir_per_page = IvfDirPerPage(bs.info.codesize);

	/* lists and sample size, from the options or the estimated row count */
	estimated = EstimateRows(heap);
	bs.lists = opts && opts->lists > 0 ? opts->lists : DerivedLists(&bs.info, opts, estimated, bs.gpu != NULL, false);
	bs.sample_target = opts && opts->sample_rows > 0 ? opts->sample_rows
		: (int) Min((double) INT_MAX / 2, (double) IVF_SAMPLE_PER_LIST * bs.lists);
	bs.sample_target = Max(bs.sample_target, bs.lists);
	wanted = bs.sample_target;
	{
		/* the reservoir never outgrows what training can take */
		int			fit = SampleRowsThatFit(&bs.info, bs.lists, bs.gpu != NULL,
											(double) maintenance_work_mem * 1024);

		if (fit < Min(bs.sample_target, 4 * bs.lists) && fit < estimated)
			ReportTrainingMemory(&bs.info, Min(bs.sample_target, 4 * bs.lists), bs.lists,
								 bs.gpu != NULL);
		bs.sample_target = Max(1, Min(bs.sample_target, fit));
	}
	bs.sample = NULL;
	bs.sample_alloc = 0;

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, PROGRESS_IVF_PHASE_SAMPLE);
	table_index_build_scan(heap, index, indexInfo, true, true, SampleCallback, &bs, NULL);

	/* never more lists than rows; derived lists follow the real count */
	if (!(opts && opts->lists > 0))
		bs.lists = DerivedLists(&bs.info, opts, bs.rows_seen, bs.gpu != NULL, true);
	bs.lists = (int) Max(1, Min((double) bs.lists, bs.rows_seen));
	/* the lists asked for need 4 sample rows each, which the memory cap may have cut */
	if (opts && opts->lists > 0 && bs.sample_count < Min((double) wanted, bs.rows_seen) &&
		bs.sample_count < Min(bs.rows_seen, 4.0 * bs.lists))
		ReportTrainingMemory(&bs.info, (int) Min(bs.rows_seen, 4.0 * bs.lists), bs.lists,
							 bs.gpu != NULL);
	/* k-means needs at least one sample row per list */
	if (bs.sample_count > 0)
		bs.lists = Min(bs.lists, bs.sample_count);
	if (bs.sample_count > 0 && bs.rows_seen < (double) bs.lists * 10)
		ereport(NOTICE,
				(errmsg("embq_ivf index created with little data"),
				 errdetail("%.0f rows for %d lists.", bs.rows_seen, bs.lists),
				 errhint("Recall is best when the index is built after the table is loaded.")));

	FitSample(&bs);
	if (bs.sample_count < Min((double) wanted, bs.rows_seen))
		ereport(NOTICE,
				(errmsg("embq_ivf trains on %d sample rows instead of %.0f to stay within maintenance_work_mem",
						bs.sample_count, Min((double) wanted, bs.rows_seen))));

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE,
								 bs.gpu ? PROGRESS_IVF_PHASE_TRAIN_GPU : PROGRESS_IVF_PHASE_TRAIN);
	/* parallel workers (CPU only) help train, then assign their share of the table */
	bs.leader = IvfParallelTrains(&bs, (double) maintenance_work_mem * 1024 -
								  SampleAndTrainBytes(&bs.info, bs.sample_count, bs.lists, false))
		? IvfBeginParallel(&bs, indexInfo, true) : NULL;
	TrainCentroids(&bs);
	if (bs.sample)
		pfree(bs.sample);
	bs.sample = NULL;
	/* else start them now (a sample too large to share, a GPU that failed) */
	if (bs.leader == NULL)
		bs.leader = IvfBeginParallel(&bs, indexInfo, false);

	/* assign every row to its list, sorted by list (spills past maintenance_work_mem) */
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE,
								 bs.gpu ? PROGRESS_IVF_PHASE_ASSIGN_GPU : PROGRESS_IVF_PHASE_ASSIGN);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL, (int64) bs.rows_seen);
	bs.report_progress = true;
	if (bs.leader)
		IvfParallelAssign(bs.leader, &bs, indexInfo);
	else
	{
		IvfAssignBegin(&bs, maintenance_work_mem, NULL);
		table_index_build_scan(heap, index, indexInfo, true, true, IvfAssignCallback, &bs, NULL);
		IvfAssignEnd(&bs);
	}
	tuplesort_performsort(bs.sort);

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, PROGRESS_IVF_PHASE_WRITE);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, 0);
	writer = IvfWriterBegin(index, MAIN_FORKNUM);
	WriteLists(&bs, writer, dir_per_page);
	IvfWriterEnd(writer);
	tuplesort_end(bs.sort);
	if (bs.leader)
		IvfEndParallel(bs.leader);

	result = (IndexBuildResult *) palloc(sizeof(IndexBuildResult));
	result->heap_tuples = bs.rows_seen;
	result->index_tuples = bs.rows_assigned;
	MemoryContextDelete(bs.tmpctx);
	return result;
}

/* ambuildempty: the init fork of an unlogged index, one list, zero centroid. */
void
ivfbuildempty(Relation index)
{
	IvfInfo		info;
	int			dir_per_page;
	IvfWriter  *writer;
	char	   *centroid;

	IndexInfoFor(index, &info);
	dir_per_page = IvfDirPerPage(info.codesize);
	centroid = palloc0(info.codesize);

	writer = IvfWriterBegin(index, INIT_FORKNUM);
	ReserveMetaAndDirectory(writer, 1, dir_per_page);
	WriteMetaAndDirectory(writer, &info, 1, dir_per_page, 0, 0, centroid, NULL, NULL);
	IvfWriterEnd(writer);
	pfree(centroid);
}
