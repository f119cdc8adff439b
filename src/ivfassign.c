/*-------------------------------------------------------------------------
 *
 * ivfassign.c
 *		Assign rows to their nearest lists during an embq_ivf build, in
 *		batches (on the GPU when one is in use), and feed them to the sort
 *		by list that the build writes its pages from.
 *
 * A serial build runs this over the whole table; a parallel build runs it
 * in every participant over its share of the blocks, each into its own
 * sort run, and the leader merges the runs.
 *
 *-------------------------------------------------------------------------
 */
#include "ivfbuild.h"

#include <math.h>

#include "catalog/pg_operator_d.h"
#include "catalog/pg_type_d.h"
#include "commands/progress.h"
#include "executor/executor.h"
#include "kmeans.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/memutils.h"

/*
 * Set up the blocked CPU assignment: each list's terms of the key (see
 * IvfI8AssignKeys) and the dot products' workspace.
 */
static void
PrepareCpuAssign(IvfBuildState *bs)
{
	const IvfInfo *info = &bs->info;

	bs->cadd = palloc(sizeof(double) * bs->lists);
	bs->cmul = palloc(sizeof(double) * bs->lists);
	bs->dots = palloc_extended(sizeof(int32_t) * EMBQ_KMEANS_CODE_CHUNK * bs->lists, MCXT_ALLOC_HUGE);
	for (int c = 0; c < bs->lists; c++)
		info->ops->assign_keys(info, bs->centroids + (Size) c * info->codesize,
							   &bs->cadd[c], &bs->cmul[c]);
}

/*
 * Assign a batch of codes to their nearest lists.  The CPU path scores
 * every centroid for every code, as blocked int8 matrix products; it is
 * the batch kernel the GPU path replaces.
 */
static void
AssignBatch(IvfBuildState *bs, const char *codes, int n, int32_t *out)
{
	const IvfInfo *info = &bs->info;
	Size		cs = info->codesize;

	/* chunks small enough that a cancel acts promptly with many lists */
	int			step = (int) Min(EMBQ_KMEANS_CODE_CHUNK,
								 embq_kmeans_check_rows(bs->lists, info->dims));
	/* bitvec: a hamming distance costs about a byte's worth of work a byte */
	int			bitstep = (int) Min(256, embq_kmeans_check_rows(bs->lists, info->codesize));

	if (info->ops->assign_keys == NULL)
	{
		for (int i = 0; i < n; i++)
		{
			out[i] = info->ops->nearest_list(info, codes + (Size) i * cs, bs->centroids, bs->lists);
			if ((i + 1) % bitstep == 0)
				CHECK_FOR_INTERRUPTS();
		}
		return;
	}
	if (bs->cadd == NULL)
		PrepareCpuAssign(bs);	/* first CPU batch */
	for (int i0 = 0; i0 < n; i0 += step)
	{
		int			m = Min(step, n - i0);
		float		factors[EMBQ_KMEANS_CODE_CHUNK];

		for (int i = 0; i < m; i++)
			factors[i] = info->ops->assign_factor(info, CodeScale(codes + (Size) (i0 + i) * cs));
		embq_kmeans_assign_codes(CodeInt8(codes + (Size) i0 * cs), cs, factors, m,
								 CodeInt8(bs->centroids), cs, bs->cadd, bs->cmul, bs->lists,
								 info->dims, bs->dots, out + i0);
		CHECK_FOR_INTERRUPTS();
	}
}

/* Assign the waiting batch and queue its rows, sorted by list, for writing. */
static void
FlushBatch(IvfBuildState *bs)
{
	const IvfInfo *info = &bs->info;
	uint64		done;

	if (bs->gpu != NULL)
	{
		char		err[256] = "";

		if (EmbqGpuAssign(bs->gpu, info->metric, info->dims, info->codesize,
						  (const uint8_t *) bs->batch_codes, bs->batch_count,
						  (const uint8_t *) bs->centroids, bs->lists,
						  bs->batch_lists, err, sizeof(err)) == 0)
			bs->build_path |= IVF_BUILD_GPU_ASSIGN;
		else
		{
			EmbqGpuFailed("assignment", err);
			bs->gpu = NULL;
			pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, PROGRESS_IVF_PHASE_ASSIGN);
		}
	}
	if (bs->gpu == NULL)
		AssignBatch(bs, bs->batch_codes, bs->batch_count, bs->batch_lists);
	for (int i = 0; i < bs->batch_count; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(bs->tmpctx);
		bytea	   *code = palloc(VARHDRSZ + info->codesize);

		SET_VARSIZE(code, VARHDRSZ + info->codesize);
		memcpy(VARDATA(code), bs->batch_codes + (Size) i * info->codesize, info->codesize);
		ExecClearTuple(bs->slot);
		bs->slot->tts_values[0] = Int32GetDatum(bs->batch_lists[i]);
		bs->slot->tts_isnull[0] = false;
		bs->slot->tts_values[1] = PointerGetDatum(&bs->batch_tids[i]);
		bs->slot->tts_isnull[1] = false;
		bs->slot->tts_values[2] = PointerGetDatum(code);
		bs->slot->tts_isnull[2] = false;
		ExecStoreVirtualTuple(bs->slot);
		tuplesort_puttupleslot(bs->sort, bs->slot);
		bs->list_counts[bs->batch_lists[i]]++;
		MemoryContextSwitchTo(old);
		MemoryContextReset(bs->tmpctx);
	}
	bs->rows_assigned += bs->batch_count;
	if (bs->shared_assigned)
		done = pg_atomic_add_fetch_u64(bs->shared_assigned, bs->batch_count);
	else
		done = (uint64) bs->rows_assigned;
	bs->batch_count = 0;
	if (bs->report_progress)
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64) done);
}

/* Collect one row's code into the assignment batch. */
void
IvfAssignCallback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
				  bool tupleIsAlive, void *state)
{
	IvfBuildState *bs = (IvfBuildState *) state;
	MemoryContext old;

	if (isnull[0])
		return;
	old = MemoryContextSwitchTo(bs->tmpctx);
	bs->info.ops->datum_to_code(&bs->info, values[0],
				   bs->batch_codes + (Size) bs->batch_count * bs->info.codesize);
	MemoryContextSwitchTo(old);
	MemoryContextReset(bs->tmpctx);
	bs->batch_tids[bs->batch_count++] = *tid;
	if (bs->batch_count == bs->batch_size)
		FlushBatch(bs);
}

/* The sort's rows: (list, tid, code), sorted by list. */
static TupleDesc
SortDesc(void)
{
	TupleDesc	desc = CreateTemplateTupleDesc(3);

	TupleDescInitEntry(desc, (AttrNumber) 1, "list", INT4OID, -1, 0);
	TupleDescInitEntry(desc, (AttrNumber) 2, "tid", TIDOID, -1, 0);
	TupleDescInitEntry(desc, (AttrNumber) 3, "code", BYTEAOID, -1, 0);
	return desc;
}

/*
 * A sort by list of SortDesc rows (bs->sortdesc), spilling past sortmem kB: a whole
 * sort, a participant's run of a parallel one, or the leader's merge of the
 * runs, as coordinate says.
 */
Tuplesortstate *
IvfSortBegin(TupleDesc desc, int sortmem, SortCoordinate coordinate)
{
	AttrNumber	attnum = 1;
	Oid			sortop = Int4LessOperator;
	Oid			collation = InvalidOid;
	bool		nullsfirst = false;

	return tuplesort_begin_heap(desc, 1, &attnum, &sortop, &collation,
								&nullsfirst, sortmem, coordinate,
#if PG_VERSION_NUM >= 150000
								TUPLESORT_NONE
#else
								false
#endif
		);
}

/*
 * kB of a sort that leaves room, in a share of maintenance_work_mem (kB),
 * for what a build holds beside it: beside bytes, the centroids, the counts
 * per list, and the pages it writes (the serial build and a parallel
 * build's leader write from their sort).  At least 64 kB, tuplesort's least.
 */
int
IvfSortMemory(const IvfBuildState *bs, int share, Size beside)
{
	double		held = (double) beside + (double) bs->lists * (bs->info.codesize + sizeof(int64)) +
		(double) IvfWriterBytes();

	return (int) Max(64.0, share - held / 1024);
}

/*
 * Start assigning, within sortmem kB (a share of maintenance_work_mem):
 * the batch (at most a quarter of the share), what the CPU assignment
 * holds, and the sort by list (see IvfSortBegin) in what is left; the
 * counts per list.  The centroids must be trained.
 */
void
IvfAssignBegin(IvfBuildState *bs, int sortmem, SortCoordinate coordinate)
{
	Size		per_row = bs->info.codesize + sizeof(ItemPointerData) + sizeof(int32_t);
	Size		keys = bs->info.ops->assign_keys == NULL ? 0 :
		(Size) bs->lists * (2 * sizeof(double) + EMBQ_KMEANS_CODE_CHUNK * sizeof(int32_t));

	bs->batch_size = bs->gpu ? IVF_ASSIGN_BATCH_GPU : IVF_ASSIGN_BATCH;
	while (bs->batch_size > EMBQ_KMEANS_CODE_CHUNK &&
		   (double) bs->batch_size * per_row > sortmem * 1024.0 / 4)
		bs->batch_size /= 2;
	bs->list_counts = palloc0(sizeof(int64) * bs->lists);
	bs->sortdesc = SortDesc();
	bs->slot = MakeSingleTupleTableSlot(bs->sortdesc, &TTSOpsVirtual);
	bs->sort = IvfSortBegin(bs->sortdesc,
							IvfSortMemory(bs, sortmem, keys + (Size) bs->batch_size * per_row),
							coordinate);
	bs->batch_tids = palloc(sizeof(ItemPointerData) * bs->batch_size);
	bs->batch_codes = palloc_extended((Size) bs->batch_size * bs->info.codesize, MCXT_ALLOC_HUGE);
	bs->batch_lists = palloc(sizeof(int32_t) * bs->batch_size);
}

/* Assign the last batch and free what assigning took; the sort stays open. */
void
IvfAssignEnd(IvfBuildState *bs)
{
	FlushBatch(bs);
	if (bs->cadd)
	{
		pfree(bs->cadd);
		pfree(bs->cmul);
		pfree(bs->dots);
		bs->cadd = bs->cmul = NULL;
		bs->dots = NULL;
	}
	pfree(bs->batch_tids);
	pfree(bs->batch_codes);
	pfree(bs->batch_lists);
	ExecDropSingleTupleTableSlot(bs->slot);
	bs->slot = NULL;
}
