/*-------------------------------------------------------------------------
 *
 * ivfbuild.h
 *		The state of an embq_ivf index build, shared by the build itself
 *		(ivfbuild.c), the assignment of rows to lists (ivfassign.c) and the
 *		parallel workers that assign part of the table each (ivfparallel.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef EMBQ_IVFBUILD_H
#define EMBQ_IVFBUILD_H

#include "ivf.h"

#include "access/parallel.h"
#include "executor/tuptable.h"
#include "gpu.h"
#include "port/atomics.h"
#include "utils/tuplesort.h"

/* Rows assigned to lists in one batch: the unit a GPU takes over. */
#define IVF_ASSIGN_BATCH 4096
#define IVF_ASSIGN_BATCH_GPU 65536

typedef struct IvfLeader IvfLeader;

typedef struct IvfBuildState
{
	Relation	heap;
	Relation	index;
	IvfInfo		info;
	int			lists;

	/* sampling: a reservoir of codes */
	char	   *sample;
	int			sample_target;
	int			sample_count;
	int			sample_alloc;	/* rows the reservoir has room for */
	double		rows_seen;
	uint64_t	rng;

	/* assigning */
	char	   *centroids;		/* lists codes, packed */
	double	   *cadd;			/* i8vec on the CPU: the rank key of each */
	double	   *cmul;			/* centroid (see PrepareCpuAssign) */
	int32_t    *dots;			/* a chunk of rows' dot products with them */
	TupleDesc	sortdesc;
	TupleTableSlot *slot;		/* rows going into the sort */
	Tuplesortstate *sort;
	int			batch_count;	/* rows waiting in the batch */
	ItemPointerData *batch_tids;
	char	   *batch_codes;
	int32_t    *batch_lists;
	double		rows_assigned;
	int64	   *list_counts;

	/*
	 * Rows assigned by every participant of a parallel build, and whether
	 * this process reports them as the build's progress (the leader, or a
	 * serial build, where the counter is NULL and rows_assigned counts)
	 */
	pg_atomic_uint64 *shared_assigned;
	bool		report_progress;

	const EmbqGpuApi *gpu;		/* NULL: the CPU path */
	uint32		build_path;		/* IVF_BUILD_GPU_* bits that ran */
	int			build_workers;	/* parallel workers besides the leader */
	IvfLeader  *leader;			/* a parallel build's, else NULL */
	int			batch_size;

	MemoryContext tmpctx;
} IvfBuildState;

/*
 * Bytes of one k-means training row: an i8vec code (scale, then int8
 * values).  A bitvec index trains on its bits as such codes, 0 or 1 at
 * scale 1 (see TrainCentroids).
 */
static inline int
IvfTrainCodeSize(const IvfInfo *info)
{
	return IvfI8CodeSize(info->dims);
}

/* ivfassign.c */
extern void IvfAssignBegin(IvfBuildState *bs, int sortmem, SortCoordinate coordinate);
extern void IvfAssignCallback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
							  bool tupleIsAlive, void *state);
extern void IvfAssignEnd(IvfBuildState *bs);
extern Tuplesortstate *IvfSortBegin(TupleDesc desc, int sortmem, SortCoordinate coordinate);
extern int	IvfSortMemory(const IvfBuildState *bs, int share, Size beside);

/* ivfwrite.c */
typedef struct IvfWriter IvfWriter;
extern IvfWriter *IvfWriterBegin(Relation index, ForkNumber forknum);
extern BlockNumber IvfWriterReserve(IvfWriter *w);
extern Page IvfWriterPage(IvfWriter *w);
extern void IvfWriterFinish(IvfWriter *w, BlockNumber blkno, Page page);
extern void IvfWriterEnd(IvfWriter *w);
extern Size IvfWriterBytes(void);

/* ivfparallel.c */
extern bool IvfParallelTrains(const IvfBuildState *bs, double spare);
extern IvfLeader *IvfBeginParallel(IvfBuildState *bs, IndexInfo *indexInfo, bool train);
extern const char *IvfParallelTrainBegin(IvfLeader *leader, const char *codes,
										 const float *factors, int n);
extern void IvfParallelTrainAssign(void *arg, const int8_t *cq, const double *cadd,
								   const double *cmul, size_t k, int32_t *assign);
extern void IvfParallelAssign(IvfLeader *leader, IvfBuildState *bs, IndexInfo *indexInfo);
extern void IvfEndParallel(IvfLeader *leader);
extern PGDLLEXPORT void IvfParallelBuildMain(dsm_segment *seg, shm_toc *toc);

#endif							/* EMBQ_IVFBUILD_H */
