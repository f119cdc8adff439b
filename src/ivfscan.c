/*-------------------------------------------------------------------------
 *
 * ivfscan.c
 *		Ordered scans of an embq_ivf index, in two stages.
 *
 * Coarse pass: rank the lists by the query's distance to their centroids,
 * then score every entry of the nearest embq.probes lists code against code
 * (hamming, or int8 sums against the query's own int8 code), and sort them.
 *
 * Rescore: for a real[] query, each candidate's coarse score becomes a proven
 * lower bound of its exact distance (IvfLowerBound: the int8 query is within
 * eps of the float query, so the code-to-code distance is within eps, or
 * eps * |x|, of the exact one).  Candidates are rescored in lower-bound
 * order, embq.rescore_factor * 10 at a time, and the nearest rescored row is
 * returned only once no unrescored candidate's bound is below its exact
 * distance: rows come back in exact order of the ORDER BY operator among the
 * probed lists, while only the candidates that could compete are rescored.
 * embq.rescore_factor = 1 turns rescoring off (coarse order).  A query of the
 * column's own type has coarse = exact and needs no rescoring.
 *
 * When the probed lists run out (a WHERE clause rejects rows, or LIMIT is
 * large), the scan probes the next lists, up to embq.max_probes, instead of
 * returning fewer rows.
 *
 *-------------------------------------------------------------------------
 */
#include "ivf.h"

#include <math.h>

#include "access/relscan.h"
#include "lib/pairingheap.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/memutils.h"

/* rows worth of candidates rescored at a time */
#define IVF_RESCORE_BATCH_ROWS 10

/*
 * A coarse-pass candidate.  Its code stays on its page (copying every
 * probed code would cost more than scoring it): rescoring re-reads the few
 * pages it needs, finding the entry by blk/off and checking the TID.
 */
typedef struct IvfCandidate
{
	double		coarse;			/* when rescoring, a lower bound of the exact distance */
	ItemPointerData tid;
	uint16		off;			/* entry number on its page, when it was read */
	BlockNumber blk;
} IvfCandidate;

typedef struct IvfResult
{
	pairingheap_node ph;
	double		distance;
	ItemPointerData tid;
} IvfResult;

typedef struct IvfScanOpaqueData
{
	MemoryContext ctx;			/* per-query memory, reset on rescan */
	IvfInfo		info;
	int			lists;
	bool		started;
	bool		nullquery;		/* ORDER BY col <op> NULL: any order */
	bool		rescore;
	int			factor;
	IvfQuery	query;

	int		   *list_order;		/* lists, nearest centroid first */
	int			probed;			/* lists already scanned */
	int			max_probes;

	IvfCandidate *cands;		/* current segment: a min-heap on coarse, tid */
	int			ncands;			/* candidates left in the heap */
	int			candcap;
	IvfCandidate *batch;		/* candidates being rescored */

	pairingheap *results;		/* rescored, nearest first */
} IvfScanOpaqueData;

typedef IvfScanOpaqueData *IvfScanOpaque;

/* Min-heap order on distance, then TID for determinism. */
static int
CompareResults(const pairingheap_node *a, const pairingheap_node *b, void *arg)
{
	const IvfResult *ra = pairingheap_const_container(IvfResult, ph, a);
	const IvfResult *rb = pairingheap_const_container(IvfResult, ph, b);

	if (ra->distance != rb->distance)
		return ra->distance < rb->distance ? 1 : -1;
	return -ItemPointerCompare((ItemPointer) &ra->tid, (ItemPointer) &rb->tid);
}

/* Coarse order, then TID. */
static int
CompareCandidates(const void *a, const void *b)
{
	const IvfCandidate *ca = a;
	const IvfCandidate *cb = b;

	if (ca->coarse != cb->coarse)
		return ca->coarse < cb->coarse ? -1 : 1;
	return ItemPointerCompare((ItemPointer) &ca->tid, (ItemPointer) &cb->tid);
}

/* Rank the lists by the query's distance to their centroids. */
static void
OrderLists(IvfScanOpaque so, const IvfCache *cache)
{
	IvfCandidate *tmp = palloc(sizeof(IvfCandidate) * so->lists);

	for (int i = 0; i < so->lists; i++)
	{
		const char *centroid = cache->centroids + (Size) i * cache->meta.codesize;

		tmp[i].coarse = so->nullquery ? 0 :
			so->query.asymmetric ? IvfExactDistance(&so->query, centroid)
			: IvfCoarseDistance(&so->query, centroid);
		ItemPointerSet(&tmp[i].tid, 0, i + 1);
	}
	qsort(tmp, so->lists, sizeof(IvfCandidate), CompareCandidates);
	so->list_order = palloc(sizeof(int) * so->lists);
	for (int i = 0; i < so->lists; i++)
		so->list_order[i] = ItemPointerGetOffsetNumber(&tmp[i].tid) - 1;
	pfree(tmp);
}

/* Append one candidate to the segment (made a heap once it is complete). */
static void
AddCandidate(IvfScanOpaque so, double coarse, ItemPointer tid, BlockNumber blk, int off)
{
	IvfCandidate *c;

	if (so->ncands == so->candcap)
	{
		so->candcap = so->candcap ? so->candcap * 2 : 1024;
		so->cands = so->cands ? repalloc_huge(so->cands, sizeof(IvfCandidate) * so->candcap)
			: palloc_extended(sizeof(IvfCandidate) * so->candcap, MCXT_ALLOC_HUGE);
	}
	c = &so->cands[so->ncands++];
	c->coarse = coarse;
	c->tid = *tid;
	c->blk = blk;
	c->off = (uint16) off;
}

/* Restore the heap order below position i. */
static void
SiftDown(IvfCandidate *h, int n, int i)
{
	IvfCandidate x = h[i];

	for (;;)
	{
		int			child = 2 * i + 1;

		if (child >= n)
			break;
		if (child + 1 < n && CompareCandidates(&h[child + 1], &h[child]) < 0)
			child++;
		if (CompareCandidates(&h[child], &x) >= 0)
			break;
		h[i] = h[child];
		i = child;
	}
	h[i] = x;
}

/* Remove the nearest candidate from the heap. */
static IvfCandidate
PopCandidate(IvfScanOpaque so)
{
	IvfCandidate top = so->cands[0];

	so->cands[0] = so->cands[--so->ncands];
	if (so->ncands > 0)
		SiftDown(so->cands, so->ncands, 0);
	return top;
}

/* Coarse pass over one list's chain of pages. */
static void
ScanList(IndexScanDesc scan, IvfScanOpaque so, int list, const IvfMetaPageData *meta)
{
	Buffer		dirbuf = ReadBuffer(scan->indexRelation, IvfDirBlock(list, meta->dir_per_page));
	BlockNumber blk;

	LockBuffer(dirbuf, BUFFER_LOCK_SHARE);
	blk = IvfDirEntry(BufferGetPage(dirbuf), list, meta->dir_per_page, meta->codesize)->startpage;
	UnlockReleaseBuffer(dirbuf);

	while (BlockNumberIsValid(blk))
	{
		Buffer		buf = ReadBuffer(scan->indexRelation, blk);
		Page		page;
		IvfPageOpaque opaque;
		ItemPointer tids;
		const char *codes;

		CHECK_FOR_INTERRUPTS();
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		opaque = IvfPageGetOpaque(page);
		tids = IvfTids(page);
		codes = IvfCodes(page, so->info.capacity);
		for (int i = 0; i < opaque->nitems; i++)
		{
			const char *code = codes + (Size) i * so->info.codesize;

			AddCandidate(so, so->nullquery ? 0 :
						 so->rescore ? IvfLowerBound(&so->query, code) :
						 IvfCoarseDistance(&so->query, code),
						 &tids[i], blk, i);
		}
		blk = opaque->nextblkno;
		UnlockReleaseBuffer(buf);
	}
}

/* Probe the next lists: a new segment of candidates in coarse order. */
static bool
ProbeMore(IndexScanDesc scan, IvfScanOpaque so)
{
	IvfMetaPageData meta;
	int			upto;

	if (so->probed >= so->max_probes)
		return false;
	IvfReadMeta(scan->indexRelation, &meta);
	upto = Min(so->max_probes, so->probed + Max(1, embq_ivf_probes));
	so->ncands = 0;
	for (; so->probed < upto; so->probed++)
		ScanList(scan, so, so->list_order[so->probed], &meta);
	pgstat_count_index_scan(scan->indexRelation);
	/* a heap, not a sort: only the candidates that compete are ever popped */
	for (int i = so->ncands / 2 - 1; i >= 0; i--)
		SiftDown(so->cands, so->ncands, i);
	return true;
}

/* Block order, for rescoring a batch page by page. */
static int
CompareByPage(const void *a, const void *b)
{
	const IvfCandidate *ca = a;
	const IvfCandidate *cb = b;

	if (ca->blk != cb->blk)
		return ca->blk < cb->blk ? -1 : 1;
	return (int) ca->off - (int) cb->off;
}

/* Queue one row for amgettuple. */
static void
AddResult(IvfScanOpaque so, double distance, ItemPointer tid)
{
	IvfResult  *r = palloc(sizeof(IvfResult));

	r->distance = distance;
	r->tid = *tid;
	pairingheap_add(so->results, &r->ph);
}

/*
 * Move the nearest count candidates into the result heap, rescoring them
 * (exact distance from their code, read back from the page) when asked to.
 * VACUUM may have compacted a page since the coarse pass: the entry is then
 * found by its TID, and one that is gone was dead and is skipped.
 */
static void
Rescore(IndexScanDesc scan, IvfScanOpaque so, int count)
{
	int			n = 0;
	Buffer		buf = InvalidBuffer;

	while (n < count && so->ncands > 0)
		so->batch[n++] = PopCandidate(so);
	if (!so->rescore)
	{
		for (int i = 0; i < n; i++)
			AddResult(so, so->batch[i].coarse, &so->batch[i].tid);
		return;
	}

	qsort(so->batch, n, sizeof(IvfCandidate), CompareByPage);
	for (int i = 0; i < n; i++)
	{
		IvfCandidate *c = &so->batch[i];
		Page		page;
		IvfPageOpaque opaque;
		ItemPointer tids;
		int			at = -1;

		if (!BufferIsValid(buf) || BufferGetBlockNumber(buf) != c->blk)
		{
			if (BufferIsValid(buf))
				UnlockReleaseBuffer(buf);
			buf = ReadBuffer(scan->indexRelation, c->blk);
			LockBuffer(buf, BUFFER_LOCK_SHARE);
		}
		page = BufferGetPage(buf);
		opaque = IvfPageGetOpaque(page);
		tids = IvfTids(page);
		if (c->off < opaque->nitems && ItemPointerEquals(&tids[c->off], &c->tid))
			at = c->off;
		else
			for (int j = 0; j < opaque->nitems && at < 0; j++)
				if (ItemPointerEquals(&tids[j], &c->tid))
					at = j;
		if (at >= 0)
			AddResult(so, IvfExactDistance(&so->query, IvfCodes(page, so->info.capacity) +
										   (Size) at * so->info.codesize),
					  &c->tid);
	}
	if (BufferIsValid(buf))
		UnlockReleaseBuffer(buf);
}

/* ambeginscan */
IndexScanDesc
ivfbeginscan(Relation index, int nkeys, int norderbys)
{
	IndexScanDesc scan = RelationGetIndexScan(index, nkeys, norderbys);
	IvfScanOpaque so = palloc0(sizeof(IvfScanOpaqueData));

	so->ctx = AllocSetContextCreate(CurrentMemoryContext, "embq_ivf scan",
									ALLOCSET_DEFAULT_SIZES);
	scan->opaque = so;
	return scan;
}

/* amrescan: a new query; the work happens on the first amgettuple. */
void
ivfrescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys, int norderbys)
{
	IvfScanOpaque so = (IvfScanOpaque) scan->opaque;

	if (keys && scan->numberOfKeys > 0)
		memmove(scan->keyData, keys, scan->numberOfKeys * sizeof(ScanKeyData));
	if (orderbys && scan->numberOfOrderBys > 0)
		memmove(scan->orderByData, orderbys, scan->numberOfOrderBys * sizeof(ScanKeyData));
	MemoryContextReset(so->ctx);
	so->started = false;
	so->cands = NULL;
	so->ncands = so->candcap = 0;
}

/* Set up a query on the first amgettuple after a rescan. */
static void
StartScan(IndexScanDesc scan, IvfScanOpaque so)
{
	IvfCache   *cache = IvfGetCache(scan->indexRelation);
	ScanKey		orderby;

	if (scan->numberOfOrderBys == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot scan embq_ivf index without order"),
				 errhint("Use ORDER BY column <operator> query LIMIT k.")));
	orderby = &scan->orderByData[0];

	so->info = cache->info;
	so->lists = cache->meta.lists;
	so->nullquery = (orderby->sk_flags & SK_ISNULL) != 0;
	if (!so->nullquery)
		IvfQueryFromDatum(&so->info, orderby->sk_argument, orderby->sk_subtype, &so->query);
	else
		so->query.asymmetric = false;
	so->factor = embq_ivf_rescore_factor;
	so->rescore = so->query.asymmetric && so->factor > 1;
	so->max_probes = embq_ivf_max_probes > 0 ? Min(so->lists, Max(embq_ivf_max_probes, embq_ivf_probes))
		: so->lists;
	so->probed = 0;
	OrderLists(so, cache);
	so->results = pairingheap_allocate(CompareResults, NULL);
	so->batch = palloc(sizeof(IvfCandidate) * IVF_RESCORE_BATCH_ROWS * Max(1, so->factor));
	so->started = true;
	ProbeMore(scan, so);
}

/* amgettuple: the next row in distance order. */
bool
ivfgettuple(IndexScanDesc scan, ScanDirection dir)
{
	IvfScanOpaque so = (IvfScanOpaque) scan->opaque;
	MemoryContext old = MemoryContextSwitchTo(so->ctx);
	bool		found = false;

	if (!so->started)
		StartScan(scan, so);

	for (;;)
	{
		if (so->rescore)
		{
			/*
			 * Candidates are in lower-bound order: the best rescored row is
			 * the next in exact order once no candidate left can be nearer
			 * (or as near: ties go in TID order).
			 */
			if (so->ncands > 0 &&
				(pairingheap_is_empty(so->results) ||
				 pairingheap_container(IvfResult, ph,
									   pairingheap_first(so->results))->distance >=
				 so->cands[0].coarse))
			{
				Rescore(scan, so, IVF_RESCORE_BATCH_ROWS * so->factor);
				continue;
			}
		}
		else if (so->ncands > 0 && pairingheap_is_empty(so->results))
		{
			/* coarse order is the order: one candidate per row returned */
			Rescore(scan, so, 1);
			continue;
		}
		if (!pairingheap_is_empty(so->results))
		{
			IvfResult  *r = pairingheap_container(IvfResult, ph,
												  pairingheap_remove_first(so->results));

			scan->xs_heaptid = r->tid;
			scan->xs_recheck = false;
			scan->xs_recheckorderby = false;
			pfree(r);
			found = true;
			break;
		}
		/* segment and pool both used up: probe further lists */
		if (!ProbeMore(scan, so))
			break;
	}
	MemoryContextSwitchTo(old);
	return found;
}

/* amendscan */
void
ivfendscan(IndexScanDesc scan)
{
	IvfScanOpaque so = (IvfScanOpaque) scan->opaque;

	MemoryContextDelete(so->ctx);
	pfree(so);
	scan->opaque = NULL;
}
