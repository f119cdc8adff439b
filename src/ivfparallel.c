/*-------------------------------------------------------------------------
 *
 * ivfparallel.c
 *		Parallel assignment for embq_ivf index builds: parallel workers and
 *		the leader each scan a share of the table's blocks, assign its rows
 *		to lists and sort them into a run of a shared sort, which the leader
 *		merges and writes.
 *
 * Sampling and training stay in the leader: the sample is one serial scan
 * that reads codes only, and k-means runs on the GPU or on one CPU.  What is
 * spread over the participants is the rest of the work that grows with the
 * table: the second scan, the assignment of every row and the sort.  The
 * number of workers comes from max_parallel_maintenance_workers and the
 * table, as for B-tree builds.
 *
 * Only CPU assignment goes parallel.  A GPU assigns a million rows in well
 * under a second, while each participant's run of the shared sort goes to
 * disk for the leader to merge (one in-memory sort in a serial build): at a
 * million rows of 1024 dimensions that merge costs more than the scan that
 * workers would share.
 *
 *-------------------------------------------------------------------------
 */
#include "ivfbuild.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "executor/instrument.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "pgstat.h"
#include "storage/condition_variable.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

/* shm_toc keys */
#define IVF_KEY_SHARED		UINT64CONST(0xE5B0000000000001)
#define IVF_KEY_CENTROIDS	UINT64CONST(0xE5B0000000000002)
#define IVF_KEY_COUNTS		UINT64CONST(0xE5B0000000000003)
#define IVF_KEY_TUPLESORT	UINT64CONST(0xE5B0000000000004)
#define IVF_KEY_QUERY_TEXT	UINT64CONST(0xE5B0000000000005)
#define IVF_KEY_WAL_USAGE	UINT64CONST(0xE5B0000000000006)
#define IVF_KEY_BUFFER_USAGE UINT64CONST(0xE5B0000000000007)

/* What the participants share; the parallel heap scan follows it. */
typedef struct IvfShared
{
	/* set by the leader before launching, read-only after */
	Oid			heaprelid;
	Oid			indexrelid;
	bool		isconcurrent;
	int			dims;
	int			lists;
	int			participants;	/* sort runs: workers asked for + the leader */

	/* rows assigned by every participant: progress, and the total at the end */
	pg_atomic_uint64 assigned;

	/* protected by mutex */
	slock_t		mutex;
	int			done;			/* participants finished */
	bool		brokenhotchain; /* a scan met a broken HOT chain */
	ConditionVariable donecv;	/* signalled by each participant when done */

	/* the parallel heap scan's descriptor comes next, BUFFERALIGN'ed */
} IvfShared;

#define ParallelTableScanFromIvfShared(shared) \
	(ParallelTableScanDesc) ((char *) (shared) + BUFFERALIGN(sizeof(IvfShared)))

/* The leader's handle on a parallel build. */
struct IvfLeader
{
	ParallelContext *pcxt;
	int			participants;	/* workers launched + the leader */
	IvfShared  *shared;
	int64	   *counts;			/* rows per list, one array per sort run */
	Sharedsort *sharedsort;
	Snapshot	snapshot;
	WalUsage   *walusage;
	BufferUsage *bufferusage;
};

/*
 * Assign this participant's share of the table into its run of the shared
 * sort, and add its counts to its slot (slot: the sort run it writes).
 */
static void
Participate(IvfBuildState *bs, IvfShared *shared, int64 *counts, int slot,
			Sharedsort *sharedsort, int sortmem)
{
	SortCoordinate coordinate = palloc0(sizeof(SortCoordinateData));
	IndexInfo  *indexInfo = BuildIndexInfo(bs->index);
	TableScanDesc scan;

	coordinate->isWorker = true;
	coordinate->nParticipants = -1;
	coordinate->sharedsort = sharedsort;
	indexInfo->ii_Concurrent = shared->isconcurrent;
	bs->shared_assigned = &shared->assigned;

	IvfAssignBegin(bs, sortmem, coordinate);
	scan = table_beginscan_parallel(bs->heap, ParallelTableScanFromIvfShared(shared));
	table_index_build_scan(bs->heap, bs->index, indexInfo, true, bs->report_progress,
						   IvfAssignCallback, bs, scan);
	IvfAssignEnd(bs);
	tuplesort_performsort(bs->sort);
	tuplesort_end(bs->sort);
	bs->sort = NULL;

	memcpy(counts + (Size) slot * shared->lists, bs->list_counts, sizeof(int64) * shared->lists);
	SpinLockAcquire(&shared->mutex);
	shared->done++;
	shared->brokenhotchain |= indexInfo->ii_BrokenHotChain;
	SpinLockRelease(&shared->mutex);
	ConditionVariableSignal(&shared->donecv);
}

/*
 * Start a parallel assignment on the CPU when the planner allows workers for
 * this table (max_parallel_maintenance_workers, the table's size or its
 * parallel_workers option, maintenance_work_mem); NULL for a serial one:
 * on a GPU, or when no worker could be launched.  The centroids must be
 * trained.
 */
IvfLeader *
IvfBeginParallel(IvfBuildState *bs, IndexInfo *indexInfo)
{
	int			request = bs->gpu ? 0 : plan_create_index_workers(RelationGetRelid(bs->heap),
																  RelationGetRelid(bs->index));
	int			participants = request + 1;
	Size		codebytes = (Size) bs->lists * bs->info.codesize;
	Size		countbytes = mul_size(mul_size(sizeof(int64), bs->lists), participants);
	Size		estshared,
				estsort;
	ParallelContext *pcxt;
	Snapshot	snapshot;
	IvfShared  *shared;
	IvfLeader  *leader;
	char	   *p;

	if (request <= 0)
		return NULL;

	EnterParallelMode();
	pcxt = CreateParallelContext("embq", "IvfParallelBuildMain", request);

	/* a concurrent build scans with an MVCC snapshot, as B-tree builds do */
	snapshot = indexInfo->ii_Concurrent ? RegisterSnapshot(GetTransactionSnapshot()) : SnapshotAny;

	estshared = add_size(BUFFERALIGN(sizeof(IvfShared)), table_parallelscan_estimate(bs->heap, snapshot));
	estsort = tuplesort_estimate_shared(participants);
	shm_toc_estimate_chunk(&pcxt->estimator, estshared);
	shm_toc_estimate_chunk(&pcxt->estimator, codebytes);
	shm_toc_estimate_chunk(&pcxt->estimator, countbytes);
	shm_toc_estimate_chunk(&pcxt->estimator, estsort);
	shm_toc_estimate_chunk(&pcxt->estimator, mul_size(sizeof(WalUsage), pcxt->nworkers));
	shm_toc_estimate_chunk(&pcxt->estimator, mul_size(sizeof(BufferUsage), pcxt->nworkers));
	shm_toc_estimate_keys(&pcxt->estimator, 6);
	if (debug_query_string)
	{
		shm_toc_estimate_chunk(&pcxt->estimator, strlen(debug_query_string) + 1);
		shm_toc_estimate_keys(&pcxt->estimator, 1);
	}
	InitializeParallelDSM(pcxt);
	if (pcxt->seg == NULL)
	{
		/* no dynamic shared memory to be had: build serially */
		if (IsMVCCSnapshot(snapshot))
			UnregisterSnapshot(snapshot);
		DestroyParallelContext(pcxt);
		ExitParallelMode();
		return NULL;
	}

	shared = shm_toc_allocate(pcxt->toc, estshared);
	memset(shared, 0, sizeof(IvfShared));
	shared->heaprelid = RelationGetRelid(bs->heap);
	shared->indexrelid = RelationGetRelid(bs->index);
	shared->isconcurrent = indexInfo->ii_Concurrent;
	shared->dims = bs->info.dims;
	shared->lists = bs->lists;
	shared->participants = participants;
	pg_atomic_init_u64(&shared->assigned, 0);
	SpinLockInit(&shared->mutex);
	ConditionVariableInit(&shared->donecv);
	table_parallelscan_initialize(bs->heap, ParallelTableScanFromIvfShared(shared), snapshot);
	shm_toc_insert(pcxt->toc, IVF_KEY_SHARED, shared);

	p = shm_toc_allocate(pcxt->toc, codebytes);
	memcpy(p, bs->centroids, codebytes);
	shm_toc_insert(pcxt->toc, IVF_KEY_CENTROIDS, p);

	leader = palloc0(sizeof(IvfLeader));
	leader->counts = shm_toc_allocate(pcxt->toc, countbytes);
	memset(leader->counts, 0, countbytes);
	shm_toc_insert(pcxt->toc, IVF_KEY_COUNTS, leader->counts);

	leader->sharedsort = shm_toc_allocate(pcxt->toc, estsort);
	tuplesort_initialize_shared(leader->sharedsort, participants, pcxt->seg);
	shm_toc_insert(pcxt->toc, IVF_KEY_TUPLESORT, leader->sharedsort);

	if (debug_query_string)
	{
		p = shm_toc_allocate(pcxt->toc, strlen(debug_query_string) + 1);
		strcpy(p, debug_query_string);
		shm_toc_insert(pcxt->toc, IVF_KEY_QUERY_TEXT, p);
	}
	leader->walusage = shm_toc_allocate(pcxt->toc, mul_size(sizeof(WalUsage), pcxt->nworkers));
	shm_toc_insert(pcxt->toc, IVF_KEY_WAL_USAGE, leader->walusage);
	leader->bufferusage = shm_toc_allocate(pcxt->toc, mul_size(sizeof(BufferUsage), pcxt->nworkers));
	shm_toc_insert(pcxt->toc, IVF_KEY_BUFFER_USAGE, leader->bufferusage);

	LaunchParallelWorkers(pcxt);
	leader->pcxt = pcxt;
	leader->shared = shared;
	leader->snapshot = snapshot;
	if (pcxt->nworkers_launched == 0)
	{
		IvfEndParallel(leader);
		pfree(leader);
		return NULL;
	}
	leader->participants = pcxt->nworkers_launched + 1;

	/* know every worker started before waiting on all of them */
	WaitForParallelWorkersToAttach(pcxt);
	return leader;
}

/*
 * The leader's part of a parallel assignment: its own share of the table,
 * then, once every participant is done, the merge of their runs into
 * bs->sort (to be sorted with tuplesort_performsort), with the counts per
 * list and rows of them all, and whether a scan met a broken HOT chain
 * (indexInfo->ii_BrokenHotChain, as a serial scan reports it).
 */
void
IvfParallelAssign(IvfLeader *leader, IvfBuildState *bs, IndexInfo *indexInfo)
{
	IvfShared  *shared = leader->shared;
	SortCoordinate coordinate;

	/*
	 * The leader's run is the last slot (workers take slots 0 .. nworkers-1);
	 * its share of maintenance_work_mem counts the workers that started.
	 */
	Participate(bs, shared, leader->counts, shared->participants - 1, leader->sharedsort,
				maintenance_work_mem / leader->participants);

	for (;;)
	{
		int			done;

		SpinLockAcquire(&shared->mutex);
		done = shared->done;
		SpinLockRelease(&shared->mutex);
		if (done == leader->participants)
			break;
		/* wake now and then to report the workers' progress */
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE,
									 (int64) pg_atomic_read_u64(&shared->assigned));
		(void) ConditionVariableTimedSleep(&shared->donecv, 200,
										   WAIT_EVENT_PARALLEL_CREATE_INDEX_SCAN);
	}
	ConditionVariableCancelSleep();
	bs->rows_assigned = (double) pg_atomic_read_u64(&shared->assigned);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64) bs->rows_assigned);
	if (shared->brokenhotchain)
		indexInfo->ii_BrokenHotChain = true;
	bs->shared_assigned = NULL; /* in shared memory that goes at the end */

	memset(bs->list_counts, 0, sizeof(int64) * bs->lists);
	for (int s = 0; s < shared->participants; s++)
		for (int i = 0; i < bs->lists; i++)
			bs->list_counts[i] += leader->counts[(Size) s * bs->lists + i];
	bs->build_workers = leader->participants - 1;

	coordinate = palloc0(sizeof(SortCoordinateData));
	coordinate->isWorker = false;
	coordinate->nParticipants = leader->participants;
	coordinate->sharedsort = leader->sharedsort;
	bs->sort = IvfSortBegin(bs->sortdesc, maintenance_work_mem, coordinate);
}

/*
 * Wait for the workers to exit, count their WAL and buffer use as the
 * leader's, and leave parallel mode.  After the merged sort has ended: its
 * runs live in the shared memory this detaches.
 */
void
IvfEndParallel(IvfLeader *leader)
{
	WaitForParallelWorkersToFinish(leader->pcxt);
	for (int i = 0; i < leader->pcxt->nworkers_launched; i++)
		InstrAccumParallelQuery(&leader->bufferusage[i], &leader->walusage[i]);
	if (IsMVCCSnapshot(leader->snapshot))
		UnregisterSnapshot(leader->snapshot);
	DestroyParallelContext(leader->pcxt);
	ExitParallelMode();
}

/* Entry point of a parallel worker of an embq_ivf build. */
void
IvfParallelBuildMain(dsm_segment *seg, shm_toc *toc)
{
	IvfShared  *shared = shm_toc_lookup(toc, IVF_KEY_SHARED, false);
	Sharedsort *sharedsort = shm_toc_lookup(toc, IVF_KEY_TUPLESORT, false);
	WalUsage   *walusage = shm_toc_lookup(toc, IVF_KEY_WAL_USAGE, false);
	BufferUsage *bufferusage = shm_toc_lookup(toc, IVF_KEY_BUFFER_USAGE, false);
	LOCKMODE	heapLockmode = shared->isconcurrent ? ShareUpdateExclusiveLock : ShareLock;
	LOCKMODE	indexLockmode = shared->isconcurrent ? RowExclusiveLock : AccessExclusiveLock;
	IvfBuildState bs;

	debug_query_string = shm_toc_lookup(toc, IVF_KEY_QUERY_TEXT, true);
	pgstat_report_activity(STATE_RUNNING, debug_query_string);

	/* the leader holds the same locks: a lock group, so no waiting */
	memset(&bs, 0, sizeof(bs));
	bs.heap = table_open(shared->heaprelid, heapLockmode);
	bs.index = index_open(shared->indexrelid, indexLockmode);
	tuplesort_attach_shared(sharedsort, seg);

	IvfInfoFor(IvfMetricOf(bs.index), shared->dims, &bs.info);
	bs.lists = shared->lists;
	bs.centroids = shm_toc_lookup(toc, IVF_KEY_CENTROIDS, false);
	bs.gpu = NULL;				/* workers assign on the CPU only */
	bs.tmpctx = AllocSetContextCreate(CurrentMemoryContext, "embq_ivf build row",
									  ALLOCSET_DEFAULT_SIZES);

	InstrStartParallelQuery();
	Participate(&bs, shared, shm_toc_lookup(toc, IVF_KEY_COUNTS, false), ParallelWorkerNumber,
				sharedsort, maintenance_work_mem / shared->participants);
	InstrEndParallelQuery(&bufferusage[ParallelWorkerNumber], &walusage[ParallelWorkerNumber]);

	MemoryContextDelete(bs.tmpctx);
	index_close(bs.index, indexLockmode);
	table_close(bs.heap, heapLockmode);
}
