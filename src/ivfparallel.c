/*-------------------------------------------------------------------------
 *
 * ivfparallel.c
 *		Parallel embq_ivf index builds: parallel workers help the leader
 *		train the centroids (each k-means assignment step is shared out in
 *		chunks of sample rows), then the workers and the
 *		leader each scan a share of the table's blocks, assign its rows to
 *		lists and sort them into a run of a shared sort, which the leader
 *		merges and writes.
 *
 * Sampling stays in the leader (one serial scan that reads codes only), and
 * so do k-means' updates of the centroids; the workers only assign sample
 * rows, exactly as the leader would, so the centroids and the index are the
 * same as a serial build's.  The number of workers comes from
 * max_parallel_maintenance_workers and the table, as for B-tree builds.
 *
 * Only CPU builds go parallel.  A GPU trains and assigns a million rows in
 * well under a second, while each participant's run of the shared sort
 * goes to disk for the leader to merge (one in-memory sort in a serial
 * build): at a million rows of 1024 dimensions that merge costs more than
 * the scan that workers would share.
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
#include "kmeans.h"
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
#define IVF_KEY_TRAIN		UINT64CONST(0xE5B0000000000008)

/* Sample rows a participant claims at a time in a k-means assignment step. */
#define IVF_TRAIN_CHUNK		256

/* What the participants share; the parallel heap scan follows it. */
typedef struct IvfShared
{
	/* set by the leader before launching, read-only after */
	Oid			heaprelid;
	Oid			indexrelid;
	bool		isconcurrent;
	int			dims;
	bool		flat;			/* the index's layout (IvfInfo) */
	int			lists;
	int			participants;	/* sort runs: workers asked for + the leader */
	int			train_rows_max; /* sample rows the training area holds */

	/* rows assigned by every participant: progress, and the total at the end */
	pg_atomic_uint64 assigned;

	/* training: one k-means assignment step at a time (see TrainStep) */
	int			train_rows;		/* sample rows trained on, set before step 1 */
	pg_atomic_uint32 train_next;	/* the step's next chunk to claim */
	pg_atomic_uint32 train_done;	/* the step's rows assigned */
	ConditionVariable stepcv;	/* broadcast: a step began, or training ended */
	ConditionVariable stepdonecv;	/* signalled when a step's last row is done */

	/* protected by mutex */
	slock_t		mutex;
	int			done;			/* participants finished */
	bool		brokenhotchain; /* a scan met a broken HOT chain */
	uint32		train_steps;	/* assignment steps begun */
	bool		trained;		/* the centroids are set: on to the table */
	ConditionVariable donecv;	/* signalled by each participant when done */

	/* the parallel heap scan's descriptor comes next, BUFFERALIGN'ed */
} IvfShared;

#define ParallelTableScanFromIvfShared(shared) \
	(ParallelTableScanDesc) ((char *) (shared) + BUFFERALIGN(sizeof(IvfShared)))

/*
 * What k-means' assignment steps share, in one chunk of shared memory: the
 * sample (codes and factors, written once) and each step's centroid codes
 * and key terms (written by the leader), and the rows' lists (by whoever
 * assigns them).  The sample rows are training codes (IvfTrainCodeSize;
 * a bitvec index's bits as int8 0 and 1).
 */
typedef struct IvfTrainArea
{
	double	   *cadd;
	double	   *cmul;
	int32_t    *assign;
	float	   *factors;
	int8_t	   *cq;
	char	   *codes;
} IvfTrainArea;

/*
 * The most shared memory training takes: where the sample would need more,
 * training stays in the leader.  Past 1 GB, PostgreSQL's fallback to
 * private memory (no segment to be had) could not allocate it.
 */
#define IVF_TRAIN_AREA_MAX	((Size) 512 * 1024 * 1024)

/* Bytes of an IvfTrainArea for up to n sample rows. */
static Size
TrainAreaBytes(const IvfBuildState *bs, int n)
{
	Size		keys = mul_size(MAXALIGN(sizeof(double) * bs->lists), 2);
	Size		rows = add_size(MAXALIGN(sizeof(int32_t) * n), MAXALIGN(sizeof(float) * n));
	Size		cq = MAXALIGN(mul_size(bs->lists, bs->info.dims));

	return add_size(add_size(keys, rows), add_size(cq, mul_size(n, IvfTrainCodeSize(&bs->info))));
}

/*
 * Whether workers can help train: an index trained on the CPU, with a
 * sample that fits IVF_TRAIN_AREA_MAX as training codes, and spare bytes
 * of maintenance_work_mem for that shared copy of it.
 */
bool
IvfParallelTrains(const IvfBuildState *bs, double spare)
{
	return bs->gpu == NULL && bs->sample_count > 0 &&
		TrainAreaBytes(bs, bs->sample_count) <= IVF_TRAIN_AREA_MAX &&
		(double) TrainAreaBytes(bs, bs->sample_count) <= spare;
}

/* Lay an IvfTrainArea for n rows out from base. */
static void
TrainAreaAt(char *base, const IvfBuildState *bs, int n, IvfTrainArea *area)
{
	area->cadd = (double *) base;
	area->cmul = (double *) (base += MAXALIGN(sizeof(double) * bs->lists));
	area->assign = (int32_t *) (base += MAXALIGN(sizeof(double) * bs->lists));
	area->factors = (float *) (base += MAXALIGN(sizeof(int32_t) * n));
	area->cq = (int8_t *) (base += MAXALIGN(sizeof(float) * n));
	area->codes = base + MAXALIGN((Size) bs->lists * bs->info.dims);
}

/* The leader's handle on a parallel build. */
struct IvfLeader
{
	ParallelContext *pcxt;
	int			participants;	/* workers launched + the leader */
	IvfShared  *shared;
	IvfInfo		info;
	IvfTrainArea train;			/* cadd NULL: training stays serial */
	char	   *centroids;		/* the trained centroids, for the workers */
	int64	   *counts;			/* rows per list, one array per sort run */
	int32_t    *dots;			/* the leader's dot products in a training step */
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
 * Assign chunks of the sample to their nearest centroids until none is
 * left in this step.  The leader begins a step only once every row of the
 * last one is done, after it has written the step's centroids and reset
 * the counters, so any chunk claimed goes with the centroids in place.
 */
static void
TrainStep(IvfShared *shared, const IvfTrainArea *area, const IvfInfo *info, int lists,
		  int32_t **dots)
{
	int			n = shared->train_rows;
	uint32		chunks = (n + IVF_TRAIN_CHUNK - 1) / IVF_TRAIN_CHUNK;
	int			step = (int) Min(IVF_TRAIN_CHUNK, embq_kmeans_check_rows(lists, info->dims));

	for (;;)
	{
		uint32		c = pg_atomic_fetch_add_u32(&shared->train_next, 1);
		int			a,
					m;

		if (c >= chunks)
			break;
		a = (int) c * IVF_TRAIN_CHUNK;
		m = Min(IVF_TRAIN_CHUNK, n - a);
		if (*dots == NULL)
			*dots = palloc_extended(sizeof(int32_t) * EMBQ_KMEANS_CODE_CHUNK * lists,
									MCXT_ALLOC_HUGE);
		/* in pieces small enough that a cancel acts promptly with many lists */
		for (int i = a; i < a + m; i += step)
		{
			embq_kmeans_assign_codes(CodeInt8(area->codes + (Size) i * IvfTrainCodeSize(info)),
									 IvfTrainCodeSize(info),
									 area->factors + i, Min(step, a + m - i), area->cq,
									 info->dims, area->cadd, area->cmul, lists, info->dims,
									 *dots, area->assign + i);
			CHECK_FOR_INTERRUPTS();
		}
		if (pg_atomic_add_fetch_u32(&shared->train_done, m) == (uint32) n)
			ConditionVariableSignal(&shared->stepdonecv);
	}
}

/*
 * A worker's part of training: each assignment step the leader begins,
 * until the centroids are set.
 */
static void
TrainAsWorker(IvfShared *shared, const IvfTrainArea *area, const IvfInfo *info, int lists)
{
	int32_t    *dots = NULL;
	uint32		seen = 0;

	for (;;)
	{
		uint32		steps;
		bool		trained;

		SpinLockAcquire(&shared->mutex);
		steps = shared->train_steps;
		trained = shared->trained;
		SpinLockRelease(&shared->mutex);
		if (trained)
			break;
		if (steps != seen)
		{
			seen = steps;
			TrainStep(shared, area, info, lists, &dots);
		}
		else
			ConditionVariableSleep(&shared->stepcv, PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
	if (dots)
		pfree(dots);
}

/*
 * Start a parallel build on the CPU when the planner allows workers for this
 * table (max_parallel_maintenance_workers, the table's size or its
 * parallel_workers option, maintenance_work_mem); NULL for a serial one:
 * on a GPU, or when no worker could be launched.  With train (see
 * IvfParallelTrains), after sampling with the number of lists set: the
 * workers help train (IvfParallelTrainBegin, IvfParallelTrainAssign);
 * either way they wait until IvfParallelAssign hands them the centroids.
 */
IvfLeader *
IvfBeginParallel(IvfBuildState *bs, IndexInfo *indexInfo, bool train)
{
	int			request = bs->gpu ? 0 : plan_create_index_workers(RelationGetRelid(bs->heap),
																  RelationGetRelid(bs->index));
	int			participants = request + 1;
	Size		codebytes = (Size) bs->lists * bs->info.codesize;
	Size		countbytes = mul_size(mul_size(sizeof(int64), bs->lists), participants);
	Size		trainbytes = train ? TrainAreaBytes(bs, bs->sample_count) : 0;
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
	if (trainbytes > 0)
	{
		shm_toc_estimate_chunk(&pcxt->estimator, trainbytes);
		shm_toc_estimate_keys(&pcxt->estimator, 1);
	}
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
	shared->flat = IvfIsFlat(&bs->info);
	shared->lists = bs->lists;
	shared->participants = participants;
	shared->train_rows_max = train ? bs->sample_count : 0;
	pg_atomic_init_u64(&shared->assigned, 0);
	pg_atomic_init_u32(&shared->train_next, 0);
	pg_atomic_init_u32(&shared->train_done, 0);
	SpinLockInit(&shared->mutex);
	ConditionVariableInit(&shared->donecv);
	ConditionVariableInit(&shared->stepcv);
	ConditionVariableInit(&shared->stepdonecv);
	table_parallelscan_initialize(bs->heap, ParallelTableScanFromIvfShared(shared), snapshot);
	shm_toc_insert(pcxt->toc, IVF_KEY_SHARED, shared);

	leader = palloc0(sizeof(IvfLeader));
	leader->centroids = shm_toc_allocate(pcxt->toc, codebytes);
	shm_toc_insert(pcxt->toc, IVF_KEY_CENTROIDS, leader->centroids);
	if (trainbytes > 0)
	{
		p = shm_toc_allocate(pcxt->toc, trainbytes);
		TrainAreaAt(p, bs, bs->sample_count, &leader->train);
		shm_toc_insert(pcxt->toc, IVF_KEY_TRAIN, p);
	}

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
	leader->info = bs->info;
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
 * Put the first n sample codes, each with its factor, where the workers
 * read them, and return that copy of the codes (the caller trains on it
 * and may free its own); NULL when the workers do not help train.
 */
const char *
IvfParallelTrainBegin(IvfLeader *leader, const char *codes, const float *factors, int n)
{
	if (leader->train.cadd == NULL || n > leader->shared->train_rows_max)
		return NULL;
	memcpy(leader->train.codes, codes, (Size) n * IvfTrainCodeSize(&leader->info));
	memcpy(leader->train.factors, factors, sizeof(float) * n);
	leader->shared->train_rows = n;
	return leader->train.codes;
}

/*
 * k-means' assignment step over every participant (an EmbqKmeansAssignAll,
 * arg the IvfLeader): publish the step's centroids, take a share of the
 * chunks, and wait for the rest.
 */
void
IvfParallelTrainAssign(void *arg, const int8_t *cq, const double *cadd, const double *cmul,
					   size_t k, int32_t *assign)
{
	IvfLeader  *leader = (IvfLeader *) arg;
	IvfShared  *shared = leader->shared;
	int			n = shared->train_rows;

	Assert(k == (size_t) shared->lists && n > 0);
	memcpy(leader->train.cq, cq, k * shared->dims);
	memcpy(leader->train.cadd, cadd, sizeof(double) * k);
	memcpy(leader->train.cmul, cmul, sizeof(double) * k);
	/* the step's counters start over; its first claim follows these writes */
	pg_atomic_write_u32(&shared->train_done, 0);
	(void) pg_atomic_exchange_u32(&shared->train_next, 0);
	SpinLockAcquire(&shared->mutex);
	shared->train_steps++;
	SpinLockRelease(&shared->mutex);
	ConditionVariableBroadcast(&shared->stepcv);

	/* with parallel_leader_participation off the workers do every chunk */
	if (parallel_leader_participation)
		TrainStep(shared, &leader->train, &leader->info, (int) k, &leader->dots);
	while (pg_atomic_read_u32(&shared->train_done) < (uint32) n)
		ConditionVariableSleep(&shared->stepdonecv, PG_WAIT_EXTENSION);
	ConditionVariableCancelSleep();
	pg_read_barrier();
	memcpy(assign, leader->train.assign, sizeof(int32_t) * n);
}

/* Training is over: hand the workers the centroids and send them on to the table. */
static void
HandOverCentroids(IvfLeader *leader, const IvfBuildState *bs)
{
	memcpy(leader->centroids, bs->centroids, (Size) bs->lists * bs->info.codesize);
	if (leader->dots)
	{
		pfree(leader->dots);
		leader->dots = NULL;
	}
	SpinLockAcquire(&leader->shared->mutex);
	leader->shared->trained = true;
	SpinLockRelease(&leader->shared->mutex);
	ConditionVariableBroadcast(&leader->shared->stepcv);
}

/*
 * The leader's part of a parallel assignment, once the centroids are
 * trained: hand them to the workers, assign its own share of the table,
 * then, once every participant is done, merge their runs into
 * bs->sort (to be sorted with tuplesort_performsort), with the counts per
 * list and rows of them all, and whether a scan met a broken HOT chain
 * (indexInfo->ii_BrokenHotChain, as a serial scan reports it).
 */
void
IvfParallelAssign(IvfLeader *leader, IvfBuildState *bs, IndexInfo *indexInfo)
{
	IvfShared  *shared = leader->shared;
	SortCoordinate coordinate;

	HandOverCentroids(leader, bs);

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
	bs->sort = IvfSortBegin(bs->sortdesc, IvfSortMemory(bs, maintenance_work_mem, 0), coordinate);
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
	char	   *area;
	IvfTrainArea train = {0};

	debug_query_string = shm_toc_lookup(toc, IVF_KEY_QUERY_TEXT, true);
	pgstat_report_activity(STATE_RUNNING, debug_query_string);

	/* the leader holds the same locks: a lock group, so no waiting */
	memset(&bs, 0, sizeof(bs));
	bs.heap = table_open(shared->heaprelid, heapLockmode);
	bs.index = index_open(shared->indexrelid, indexLockmode);
	tuplesort_attach_shared(sharedsort, seg);

	IvfInfoFor(IvfMetricOf(bs.index), shared->dims, shared->flat, &bs.info);
	bs.lists = shared->lists;
	area = shm_toc_lookup(toc, IVF_KEY_TRAIN, true);
	if (area)
		TrainAreaAt(area, &bs, shared->train_rows_max, &train);
	TrainAsWorker(shared, &train, &bs.info, bs.lists);
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
