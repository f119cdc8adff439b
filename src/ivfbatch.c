/*-------------------------------------------------------------------------
 *
 * ivfbatch.c
 *		Batch nearest-neighbour search over an embq_ivf index:
 *		embq_knn(index, queries, k, exact).
 *
 * Index mode returns, for each query, what ORDER BY col <op> query LIMIT k
 * through the index returns at the same settings: each query is an index
 * scan of its own (ivfscan.c), but the queries of a chunk share their first
 * segment's coarse pass, which reads every list that any of them probes
 * once and scores each page for all of them while it is in cache, and no
 * query pays for a plan or an executor start.  Exact mode scores every code
 * of the index with the operator's own distance: what a sequential scan
 * returns.  Either way a row is returned only if it is visible to the
 * statement's snapshot, as an index scan checks it, and with the TID of the
 * version that is (the head of a HOT chain is not).
 *
 *-------------------------------------------------------------------------
 */
#include "ivf.h"

#include <math.h>

#include "gpu.h"
#include "access/relation.h"
#include "access/tableam.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"

/* Seconds between progress NOTICEs of a long call. */
#define IVF_BATCH_PROGRESS_SECS 10

/* The most queries whose scans a chunk holds at once. */
#define IVF_BATCH_MAX_CHUNK 1024

/*
 * The most queries a chunk of an exact search on the GPU scores against
 * each batch of codes (each batch goes to the device once per chunk).
 */
#define IVF_BATCH_MAX_CHUNK_GPU 8192

/* The batch: the index, its table, the queries, where the rows go. */
typedef struct IvfBatch
{
	Relation	heap;
	Relation	index;
	IvfInfo		info;			/* the index's scoring context */
	int			lists;
	int			k;
	Snapshot	snapshot;
	IndexFetchTableData *fetch;
	TupleTableSlot *slot;
	Tuplestorestate *out;
	TupleDesc	outdesc;

	/* the queries: column values (symmetric) or rows of floats */
	int			nqueries;
	Datum	   *values;
	bool	   *nulls;
	Oid			type;			/* the values' type */
	float	   *floats;			/* or nqueries x dims floats */

	instr_time	start;
	instr_time	last_notice;
} IvfBatch;

/* A candidate of an exact search: a code's distance and TID. */
typedef struct IvfExactHit
{
	double		distance;
	ItemPointerData tid;
} IvfExactHit;

/* Distance, then TID: the order rows come back in. */
static int
CompareHits(const void *a, const void *b)
{
	const IvfExactHit *x = a;
	const IvfExactHit *y = b;
	int			c = IvfDistanceCmp(x->distance, y->distance);

	return c != 0 ? c : ItemPointerCompare((ItemPointer) &x->tid, (ItemPointer) &y->tid);
}

/*
 * Whether a TID's row is visible to the snapshot; if so, tid becomes that of
 * the version that is.
 */
static bool
FetchVisible(IvfBatch *b, ItemPointer tid)
{
	bool		call_again = false;
	bool		all_dead = false;
	ItemPointerData t = *tid;
	bool		found;

	found = table_index_fetch_tuple(b->fetch, &t, b->snapshot, b->slot, &call_again, &all_dead);
	if (found)
		*tid = b->slot->tts_tid;
	ExecClearTuple(b->slot);
	return found;
}

/* One output row. */
static void
EmitRow(IvfBatch *b, int query, int rank, ItemPointer tid, double distance)
{
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	ItemPointer t = palloc(sizeof(ItemPointerData));

	*t = *tid;
	values[0] = Int32GetDatum(query + 1);
	values[1] = Int32GetDatum(rank);
	values[2] = PointerGetDatum(t);
	values[3] = Float8GetDatum(distance);
	tuplestore_putvalues(b->out, b->outdesc, values, nulls);
	pfree(t);
}

/* A NOTICE every IVF_BATCH_PROGRESS_SECS seconds of a long call. */
static void
ReportProgress(IvfBatch *b, const char *mode, int done)
{
	instr_time	now;
	instr_time	since;

	INSTR_TIME_SET_CURRENT(now);
	since = now;
	INSTR_TIME_SUBTRACT(since, b->last_notice);
	if (INSTR_TIME_GET_DOUBLE(since) < IVF_BATCH_PROGRESS_SECS)
		return;
	b->last_notice = now;
	INSTR_TIME_SUBTRACT(now, b->start);
	ereport(NOTICE,
			(errmsg("embq_knn: %d of %d queries done (%s, %.0f s)",
					done, b->nqueries, mode, INSTR_TIME_GET_DOUBLE(now))));
}

/*
 * Queries per chunk, within work_mem: an index scan holds the lists' ranks
 * (about 28 bytes a list) and its candidates; an exact search its kept hits
 * and the query.  Each chunk of an exact search reads the whole index.
 */
static int
QueriesPerChunk(const IvfBatch *b, bool exact)
{
	double		per_query = exact ? 16.0 * (2.0 * b->k + 16) + 8.0 * b->info.dims + 8192
		: 28.0 * b->lists + 48.0 * Max(b->k, 100) + 16384;
	double		n = (double) work_mem * 1024 / per_query;

	return (int) Max(1, Min(IVF_BATCH_MAX_CHUNK, n));
}

/* Start query i's index scan. */
static void
StartQuery(IvfBatch *b, IvfScanOpaque so, int i)
{
	if (b->floats == NULL)
		IvfScanStart(b->index, so, b->values[i], b->type, false);
	else
	{
		ArrayType  *a = FloatsToArray(b->floats + (Size) i * b->info.dims, b->info.dims);

		IvfScanStart(b->index, so, PointerGetDatum(a), FLOAT4ARRAYOID, false);
		pfree(a);
	}
}

/* Index mode: each query as its index scan returns it, chunks sharing lists. */
static void
SearchIndex(IvfBatch *b)
{
	int			chunk = QueriesPerChunk(b, false);
	MemoryContext ctx = AllocSetContextCreate(CurrentMemoryContext, "embq_knn chunk",
											  ALLOCSET_DEFAULT_SIZES);
	IvfScanOpaque *scans = palloc(sizeof(IvfScanOpaque) * chunk);
	int		   *qnum = palloc(sizeof(int) * chunk);

	for (int q0 = 0; q0 < b->nqueries; q0 += chunk)
	{
		MemoryContext old = MemoryContextSwitchTo(ctx);
		int			n = 0;

		for (int i = q0; i < Min(b->nqueries, q0 + chunk); i++)
		{
			/* a NULL query has no nearest rows */
			if (b->nulls && b->nulls[i])
				continue;
			scans[n] = IvfScanCreate();
			StartQuery(b, scans[n], i);
			qnum[n++] = i;
			CHECK_FOR_INTERRUPTS();
		}
		IvfScanFirstSegments(b->index, scans, n);
		MemoryContextSwitchTo(old);
		for (int s = 0; s < n; s++)
		{
			ItemPointerData tid;
			double		d;
			int			rank = 0;

			while (rank < b->k && IvfScanNext(b->index, scans[s], &tid, &d))
			{
				if (FetchVisible(b, &tid))
					EmitRow(b, qnum[s], ++rank, &tid, d);
			}
			CHECK_FOR_INTERRUPTS();
		}
		MemoryContextReset(ctx);
		ReportProgress(b, "index", Min(b->nqueries, q0 + chunk));
	}
	MemoryContextDelete(ctx);
	pfree(scans);
	pfree(qnum);
}

/* Offer a hit to a query's kept set, a max-heap of keep (the farthest on top). */
static void
OfferHit(IvfExactHit *h, int *n, int keep, double distance, ItemPointer tid)
{
	IvfExactHit x;
	int			i;

	x.distance = distance;
	x.tid = *tid;
	if (*n < keep)
	{
		for (i = (*n)++; i > 0 && CompareHits(&h[(i - 1) / 2], &x) < 0; i = (i - 1) / 2)
			h[i] = h[(i - 1) / 2];
		h[i] = x;
		return;
	}
	if (CompareHits(&x, &h[0]) >= 0)
		return;
	for (i = 0;;)
	{
		int			child = 2 * i + 1;

		if (child >= *n)
			break;
		if (child + 1 < *n && CompareHits(&h[child + 1], &h[child]) > 0)
			child++;
		if (CompareHits(&h[child], &x) <= 0)
			break;
		h[i] = h[child];
		i = child;
	}
	h[i] = x;
}

/*
 * What a walk over every code of the index does with each page: the page
 * (share-locked through buf, which it may unlock and lock again), its
 * TIDs and its array of codes.
 */
typedef bool (*IvfCodePageFn) (void *arg, Buffer buf, Page page, ItemPointer tids, const char *codes);

/*
 * Walk every code of the index, page by page: the data pages of a flat or
 * bitvec index, the code pages of a signs one; both are arrays of codes
 * (a freed slot has an invalid TID).  Stops when fn returns false.
 */
static bool
WalkCodePages(IvfBatch *b, IvfCodePageFn fn, void *arg)
{
	IvfMetaPageData meta;
	bool		codes = b->info.ops->rescores;
	bool		ok = true;

	IvfReadMeta(b->index, &meta);
	for (int l = 0; l < meta.lists && ok; l++)
	{
		Buffer		dirbuf = ReadBuffer(b->index, IvfDirBlock(l, meta.dir_per_page));
		BlockNumber blk;

		LockBuffer(dirbuf, BUFFER_LOCK_SHARE);
		blk = *IvfChainStart(IvfDirEntry(BufferGetPage(dirbuf), l, meta.dir_per_page, meta.codesize),
							 codes);
		UnlockReleaseBuffer(dirbuf);
		while (BlockNumberIsValid(blk) && ok)
		{
			Buffer		buf = ReadBuffer(b->index, blk);
			Page		page;

			CHECK_FOR_INTERRUPTS();
			LockBuffer(buf, BUFFER_LOCK_SHARE);
			page = BufferGetPage(buf);
			ok = fn(arg, buf, page, IvfTids(page), IvfItems(page, codes ? meta.codecapacity : meta.capacity));
			blk = IvfPageGetOpaque(page)->nextblkno;
			UnlockReleaseBuffer(buf);
		}
	}
	return ok;
}

/* ScoreAllCodes' state: the queries, their kept hits, the scoring context. */
typedef struct IvfCpuScoring
{
	IvfQuery   *queries;
	int			n;
	IvfExactHit **hits;
	int		   *nhits;
	int			keep;
	IvfInfo		flat;
	double	   *scores;
} IvfCpuScoring;

/* Score a page of codes for every query, offering each code to its kept hits. */
static bool
ScoreCodePage(void *arg, Buffer buf, Page page, ItemPointer tids, const char *codes)
{
	IvfCpuScoring *cs = arg;
	int			nitems = IvfPageGetOpaque(page)->nitems;

	for (int q = 0; q < cs->n; q++)
	{
		cs->flat.ops->score_items(&cs->queries[q], codes, nitems, 0, cs->scores);
		for (int i = 0; i < nitems; i++)
			if (ItemPointerIsValid(&tids[i]))
				OfferHit(cs->hits[q], &cs->nhits[q], cs->keep, cs->scores[i], &tids[i]);
	}
	return true;
}

/*
 * Exact distances of n queries to every code of the index, each query
 * keeping its keep nearest, by the flat layout's scoring (the operator's
 * own distance).
 */
static void
ScoreAllCodes(IvfBatch *b, IvfQuery *queries, int n, IvfExactHit **hits, int *nhits, int keep)
{
	IvfCpuScoring cs;

	cs.queries = queries;
	cs.n = n;
	cs.hits = hits;
	cs.nhits = nhits;
	cs.keep = keep;
	IvfInfoFor(b->info.metric, b->info.dims, true, &cs.flat);
	cs.scores = palloc(sizeof(double) * cs.flat.capacity);
	WalkCodePages(b, ScoreCodePage, &cs);
	pfree(cs.scores);
}

/*
 * The k nearest visible rows among a query's kept hits, in (distance, TID)
 * order with the TID of the visible version, as a sequential scan that
 * orders by distance and ctid returns them: the hits are visited nearest
 * first until k rows are visible and the next hit is farther than the kth
 * (a HOT-updated row's version may sort otherwise among its ties), then
 * sorted again.  False if the hits ran out first and were not all the
 * codes (complete is false): the caller keeps more and retries.
 */
static bool
VisibleNearest(IvfBatch *b, IvfExactHit *hits, int nhits, bool complete,
			   IvfExactHit **visible, int *nvisible)
{
	IvfExactHit *v = palloc(sizeof(IvfExactHit) * Max(nhits, 1));
	int			n = 0;
	int			i;

	qsort(hits, nhits, sizeof(IvfExactHit), CompareHits);
	for (i = 0; i < nhits; i++)
	{
		if (n >= b->k && IvfDistanceCmp(hits[i].distance, v[b->k - 1].distance) > 0)
			break;
		v[n] = hits[i];
		if (FetchVisible(b, &v[n].tid))
		{
			n++;
			/* the kth so far, by distance: the boundary of the ties kept */
			if (n == b->k)
				qsort(v, n, sizeof(IvfExactHit), CompareHits);
		}
	}
	if (i == nhits && !complete)
	{
		pfree(v);
		return false;
	}
	qsort(v, n, sizeof(IvfExactHit), CompareHits);
	*visible = v;
	*nvisible = Min(n, b->k);
	return true;
}

/* Prepare query i for ScoreAllCodes, in the flat layout's scoring context. */
static void
PrepareExactQuery(IvfBatch *b, const IvfInfo *flat, int i, IvfQuery *q)
{
	if (b->floats == NULL)
		IvfQueryFromDatum(flat, b->values[i], b->type, q);
	else
		IvfQueryFromFloats(flat, b->floats + (Size) i * b->info.dims, b->info.dims, q);
}

/* An exact search's chunk of queries: prepared, each with its kept hits. */
typedef struct IvfExactChunk
{
	int			n;
	int			keep;
	IvfQuery   *queries;
	IvfExactHit **hits;
	int		   *nhits;
	int		   *qnum;			/* each query's number in the batch */
} IvfExactChunk;

/* Prepare the queries q0 .. q0 + m - 1 (but the NULL ones) of an exact search. */
static void
ExactChunkBegin(IvfBatch *b, const IvfInfo *flat, int q0, int m, int keep, IvfExactChunk *c)
{
	c->n = 0;
	c->keep = keep;
	c->queries = palloc0(sizeof(IvfQuery) * m);
	c->hits = palloc(sizeof(IvfExactHit *) * m);
	c->nhits = palloc0(sizeof(int) * m);
	c->qnum = palloc(sizeof(int) * m);
	for (int i = q0; i < q0 + m; i++)
	{
		if (b->nulls && b->nulls[i])
			continue;
		PrepareExactQuery(b, flat, i, &c->queries[c->n]);
		c->hits[c->n] = palloc(sizeof(IvfExactHit) * keep);
		c->qnum[c->n++] = i;
	}
}

/*
 * Return each query's k nearest visible rows.  A query whose kept hits hold
 * fewer than k visible rows, while there were more codes than it kept
 * (dead rows crowded them out), is scored again on the CPU keeping four
 * times as many.
 */
static void
ExactChunkEnd(IvfBatch *b, MemoryContext ctx, IvfExactChunk *c)
{
	for (int s = 0; s < c->n; s++)
	{
		int			keep = c->keep;
		int			nvisible;
		IvfExactHit *visible;

		while (!VisibleNearest(b, c->hits[s], c->nhits[s], c->nhits[s] < keep, &visible, &nvisible))
		{
			MemoryContext old = MemoryContextSwitchTo(ctx);

			keep = keep > INT_MAX / 8 ? INT_MAX / 2 : keep * 4;
			c->hits[s] = repalloc_huge(c->hits[s], sizeof(IvfExactHit) * keep);
			c->nhits[s] = 0;
			ScoreAllCodes(b, &c->queries[s], 1, &c->hits[s], &c->nhits[s], keep);
			MemoryContextSwitchTo(old);
		}
		for (int i = 0; i < nvisible; i++)
			EmitRow(b, c->qnum[s], i + 1, &visible[i].tid, visible[i].distance);
		pfree(visible);
		CHECK_FOR_INTERRUPTS();
	}
}

/* The GPU's rows of one batch of codes: the codes, in TID order, and their TIDs. */
typedef struct IvfGpuBatch
{
	int			cap;
	int			n;
	char	   *codes;
	ItemPointerData *tids;
	char	   *sorted;
	int		   *order;
	float	   *dist;
	int64_t    *idx;
} IvfGpuBatch;

/* TID order of a batch's rows, for qsort_arg. */
static int
CompareRowTids(const void *a, const void *b, void *arg)
{
	const ItemPointerData *tids = arg;

	return ItemPointerCompare((ItemPointer) &tids[*(const int *) a],
							  (ItemPointer) &tids[*(const int *) b]);
}

/*
 * Score a batch of codes for every query of the chunk on the GPU: its
 * top-keep by the GPU's float distances, then the exact distance (the CPU's,
 * the operator's value) of those rows, offered to the query's kept hits.
 * The rows go to the device in TID order, so that the GPU's ties (to the
 * lower row) fall as the CPU's (to the lower TID); keep's margin over k
 * absorbs the rounding of the GPU's floats.  False, with err, if it failed.
 */
static bool
FlushGpuBatch(IvfBatch *b, const EmbqGpuApi *gpu, const IvfInfo *flat, IvfExactChunk *c,
			  IvfGpuBatch *g, const char *qcodes, const float *qfloats, char *err, size_t errlen)
{
	int			cs = b->info.codesize;
	int			kb = Min(c->keep, g->n);
	bool		asym = qfloats != NULL;
	int			metric = b->info.metric == IVF_METRIC_BIT_IP && !asym ? IVF_METRIC_HAMMING : b->info.metric;
	ItemPointerData *sortedtids;

	if (g->n == 0 || c->n == 0)
		return true;
	for (int i = 0; i < g->n; i++)
		g->order[i] = i;
	qsort_arg(g->order, g->n, sizeof(int), CompareRowTids, g->tids);
	for (int i = 0; i < g->n; i++)
		memcpy(g->sorted + (Size) i * cs, g->codes + (Size) g->order[i] * cs, cs);
	if (EmbqGpuTopk(gpu, metric, asym, b->info.dims, cs, (const uint8_t *) g->sorted, g->n,
					(const uint8_t *) qcodes, qfloats, c->n, kb, g->dist, g->idx, err, errlen) != 0)
		return false;
	sortedtids = palloc(sizeof(ItemPointerData) * g->n);
	for (int i = 0; i < g->n; i++)
		sortedtids[i] = g->tids[g->order[i]];
	for (int q = 0; q < c->n; q++)
		for (int j = 0; j < kb; j++)
		{
			int64_t		r = g->idx[(Size) q * kb + j];

			OfferHit(c->hits[q], &c->nhits[q], c->keep,
					 flat->ops->exact_distance(&c->queries[q], g->sorted + (Size) r * cs),
					 &sortedtids[r]);
		}
	pfree(sortedtids);
	g->n = 0;
	CHECK_FOR_INTERRUPTS();
	return true;
}

/* ScoreAllCodesGpu's state, for its page callback. */
typedef struct IvfGpuScoring
{
	IvfBatch   *b;
	const EmbqGpuApi *gpu;
	const IvfInfo *flat;
	IvfExactChunk *c;
	IvfGpuBatch g;
	char	   *qcodes;
	float	   *qfloats;
	char	   *err;
	size_t		errlen;
} IvfGpuScoring;

/* Add a page's codes to the GPU batch, sending the batch when it is full. */
static bool
GatherCodePage(void *arg, Buffer buf, Page page, ItemPointer tids, const char *codes)
{
	IvfGpuScoring *gs = arg;
	IvfGpuBatch *g = &gs->g;
	int			cs = gs->b->info.codesize;

	for (int i = 0; i < IvfPageGetOpaque(page)->nitems; i++)
	{
		if (!ItemPointerIsValid(&tids[i]))
			continue;
		g->tids[g->n] = tids[i];
		memcpy(g->codes + (Size) g->n * cs, codes + (Size) i * cs, cs);
		if (++g->n == g->cap)
		{
			bool		ok;

			/* not under the buffer lock: a GPU call takes a while */
			LockBuffer(buf, BUFFER_LOCK_UNLOCK);
			ok = FlushGpuBatch(gs->b, gs->gpu, gs->flat, gs->c, g, gs->qcodes, gs->qfloats,
							   gs->err, gs->errlen);
			LockBuffer(buf, BUFFER_LOCK_SHARE);
			if (!ok)
				return false;
		}
	}
	return true;
}

/*
 * ScoreAllCodes on the GPU: the codes go to the device in batches of
 * work_mem bytes (each batch once per chunk of queries), and the device
 * scores all of the chunk's queries against them with the top-k kernels.
 * False, with err, if the GPU failed (nothing is left on the device; the
 * caller scores the chunk again on the CPU).
 */
static bool
ScoreAllCodesGpu(IvfBatch *b, const EmbqGpuApi *gpu, const IvfInfo *flat, IvfExactChunk *c,
				 char *err, size_t errlen)
{
	int			cs = b->info.codesize;
	bool		asym = c->n > 0 && c->queries[0].asymmetric;
	IvfGpuScoring gs;
	IvfGpuBatch *g = &gs.g;
	bool		ok;

	gs.b = b;
	gs.gpu = gpu;
	gs.flat = flat;
	gs.c = c;
	gs.err = err;
	gs.errlen = errlen;
	gs.qcodes = NULL;
	gs.qfloats = NULL;
	/* the queries, as the GPU takes them: codes, or floats (real[] queries) */
	if (asym)
	{
		gs.qfloats = palloc_extended(sizeof(float) * b->info.dims * Max(c->n, 1), MCXT_ALLOC_HUGE);
		for (int q = 0; q < c->n; q++)
			memcpy(gs.qfloats + (Size) q * b->info.dims, c->queries[q].floats,
				   sizeof(float) * b->info.dims);
	}
	else
	{
		gs.qcodes = palloc_extended((Size) cs * Max(c->n, 1), MCXT_ALLOC_HUGE);
		for (int q = 0; q < c->n; q++)
			memcpy(gs.qcodes + (Size) q * cs, c->queries[q].code, cs);
	}
	g->cap = (int) Max(c->keep, Min((double) INT_MAX / 2,
									(double) work_mem * 1024 / (2.0 * cs + sizeof(ItemPointerData) + sizeof(int))));
	g->n = 0;
	g->codes = palloc_extended((Size) g->cap * cs, MCXT_ALLOC_HUGE);
	g->sorted = palloc_extended((Size) g->cap * cs, MCXT_ALLOC_HUGE);
	g->tids = palloc_extended(sizeof(ItemPointerData) * g->cap, MCXT_ALLOC_HUGE);
	g->order = palloc_extended(sizeof(int) * g->cap, MCXT_ALLOC_HUGE);
	g->dist = palloc_extended(sizeof(float) * c->keep * Max(c->n, 1), MCXT_ALLOC_HUGE);
	g->idx = palloc_extended(sizeof(int64_t) * c->keep * Max(c->n, 1), MCXT_ALLOC_HUGE);

	ok = WalkCodePages(b, GatherCodePage, &gs) &&
		FlushGpuBatch(b, gpu, flat, c, g, gs.qcodes, gs.qfloats, err, errlen);
	pfree(g->codes);
	pfree(g->sorted);
	pfree(g->tids);
	pfree(g->order);
	pfree(g->dist);
	pfree(g->idx);
	return ok;
}

/*
 * Exact mode: every query against every code, on the GPU when embq.gpu
 * allows and one is usable (a failure: a WARNING and the CPU under auto, an
 * error under on), else on the CPU.  A query keeps a few more than its k
 * nearest codes, for rows its snapshot cannot see.
 */
static void
SearchExact(IvfBatch *b)
{
	int			keep = 2 * b->k + 16;
	const EmbqGpuApi *gpu = keep <= EMBQ_GPU_MAX_TOPK ? EmbqGpuForWork() : NULL;
	int			chunk = gpu ? IVF_BATCH_MAX_CHUNK_GPU : QueriesPerChunk(b, true);
	MemoryContext ctx = AllocSetContextCreate(CurrentMemoryContext, "embq_knn chunk",
											  ALLOCSET_DEFAULT_SIZES);
	IvfInfo		flat;

	IvfInfoFor(b->info.metric, b->info.dims, true, &flat);
	for (int q0 = 0; q0 < b->nqueries; q0 += chunk)
	{
		MemoryContext old = MemoryContextSwitchTo(ctx);
		int			m = Min(b->nqueries, q0 + chunk) - q0;
		IvfExactChunk c;
		char		err[256] = "";

		ExactChunkBegin(b, &flat, q0, m, keep, &c);
		if (gpu && !ScoreAllCodesGpu(b, gpu, &flat, &c, err, sizeof(err)))
		{
			EmbqGpuFailed("batch search", err);
			gpu = NULL;
			for (int s = 0; s < c.n; s++)
				c.nhits[s] = 0;
		}
		if (gpu)
			elog(DEBUG1, "embq_knn: %d queries scored on the GPU", c.n);
		else
			ScoreAllCodes(b, c.queries, c.n, c.hits, c.nhits, keep);
		MemoryContextSwitchTo(old);
		ExactChunkEnd(b, ctx, &c);
		MemoryContextReset(ctx);
		ReportProgress(b, gpu ? "exact, GPU" : "exact", q0 + m);
	}
	MemoryContextDelete(ctx);
}

/*
 * The queries: an array of the index column's type, or of real / double
 * precision with one row per query (a real[] query of the asymmetric
 * operators).
 */
static void
ReadQueries(IvfBatch *b, ArrayType *queries)
{
	Oid			coltype = TupleDescAttr(RelationGetDescr(b->index), 0)->atttypid;
	Oid			elemtype = ARR_ELEMTYPE(queries);

	if (elemtype == coltype)
	{
		int16		typlen;
		bool		typbyval;
		char		typalign;

		get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
		deconstruct_array(queries, elemtype, typlen, typbyval, typalign,
						  &b->values, &b->nulls, &b->nqueries);
		b->type = elemtype;
		b->floats = NULL;
		if (ARR_NDIM(queries) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("array of queries must be one-dimensional")));
		return;
	}
	if (elemtype != FLOAT4OID && elemtype != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("queries of type %s cannot search index \"%s\"",
						format_type_be(get_array_type(elemtype)), RelationGetRelationName(b->index)),
				 errhint("Pass an array of %s, or a real[] with one row per query.",
						 format_type_be(coltype))));
	if (b->info.metric == IVF_METRIC_HAMMING)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("index \"%s\" (hamming distance) takes bitvec queries only",
						RelationGetRelationName(b->index)),
				 errhint("Pass bitvec[], or index with bitvec_ip_ops for real[] queries.")));
	if (ARR_NDIM(queries) == 0)
	{
		b->nqueries = 0;
		b->floats = palloc(sizeof(float));
		return;
	}
	{
		int			dim;

		b->floats = ArrayToFloatRows(queries, "query vector", b->info.ops->max_query_dim,
									 &b->nqueries, &dim);
		CheckDims(b->info.dims, dim);
	}
	b->values = NULL;
	b->nulls = NULL;
}

/*
 * Open the index and its table for the caller, who must be allowed to read
 * the table: the rows' TIDs and distances tell about its contents.  Row-level
 * security cannot be applied to them, so a table under it is refused.
 */
static void
OpenIndex(IvfBatch *b, Oid indexoid)
{
	Oid			heapoid;
	AclResult	acl;

	b->index = try_relation_open(indexoid, AccessShareLock);
	if (b->index == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", indexoid)));
	if (b->index->rd_rel->relkind != RELKIND_INDEX ||
		b->index->rd_rel->relam != get_index_am_oid("embq_ivf", false))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an embq_ivf index", RelationGetRelationName(b->index))));
	if (!b->index->rd_index->indisvalid)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("index \"%s\" is not valid", RelationGetRelationName(b->index)),
				 errhint("REINDEX it, or wait for CREATE INDEX CONCURRENTLY to finish.")));
	heapoid = b->index->rd_index->indrelid;
	b->heap = relation_open(heapoid, AccessShareLock);
	acl = pg_class_aclcheck(heapoid, GetUserId(), ACL_SELECT);
	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_TABLE, RelationGetRelationName(b->heap));
	if (check_enable_rls(heapoid, InvalidOid, false) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("embq_knn cannot search table \"%s\", which has row-level security",
						RelationGetRelationName(b->heap)),
				 errhint("Use ORDER BY ... LIMIT queries, to which its policies apply.")));
}

PG_FUNCTION_INFO_V1(embq_knn);
/*
 * embq_knn(index, queries, k, exact): the k nearest rows of the index's
 * table for each query, as (query, rank, ctid, distance); query numbers the
 * queries from 1 in array order.
 */
Datum
embq_knn(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	IvfBatch	b;
	IvfCache   *cache;
	ArrayType  *queries;

	memset(&b, 0, sizeof(b));
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("embq_knn arguments must not be null")));
	b.k = PG_GETARG_INT32(2);
	if (b.k < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be at least 1")));
	InitMaterializedSRF(fcinfo, 0);
	b.out = rsinfo->setResult;
	b.outdesc = rsinfo->setDesc;
	OpenIndex(&b, PG_GETARG_OID(0));
	queries = PG_GETARG_ARRAYTYPE_P(1);

	cache = IvfGetCache(b.index);
	b.info = cache->info;
	b.info.kern = embq_kernels();
	b.lists = cache->meta.lists;
	ReadQueries(&b, queries);

	b.snapshot = GetActiveSnapshot();
	b.fetch = table_index_fetch_begin(b.heap);
	b.slot = table_slot_create(b.heap, NULL);
	INSTR_TIME_SET_CURRENT(b.start);
	b.last_notice = b.start;
	if (PG_GETARG_BOOL(3))
		SearchExact(&b);
	else
		SearchIndex(&b);
	ExecDropSingleTupleTableSlot(b.slot);
	table_index_fetch_end(b.fetch);
	relation_close(b.index, AccessShareLock);
	relation_close(b.heap, AccessShareLock);
	return (Datum) 0;
}
