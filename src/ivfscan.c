/*-------------------------------------------------------------------------
 *
 * ivfscan.c
 *		Ordered scans of an embq_ivf index, in two stages.
 *
 * Coarse pass: rank the lists by the query's distance to their centroids,
 * then score every entry of the nearest embq.probes lists from its data
 * page item.  bitvec: the item is the code, and the score is the exact
 * distance (hamming, or the bits' inner product with a real[] query).
 * i8vec: the item holds the sign bits of the row's residual from its list's
 * centroid, scored against the query held as bit planes, a page of items
 * per kernel call (the kind's score_items): 1/7 of the bytes of the int8 codes at
 * 1024 dimensions, so the pass reads few pages.
 *
 * Rescore (i8vec): the nearest IvfRescoreBatch() candidates by coarse
 * score (10 * embq.rescore_factor, more below 1024 dimensions) are
 * rescored with their int8 codes (read from the code pages their items
 * point at) against the query (asymmetric for a real[] query) and returned
 * in exact distance order; a batch takes more rounds of candidates while
 * the last round still reaches its nearest rows (NextBatch).  When the
 * executor wants more rows, the next batch of candidates follows, again in
 * exact order within the batch.  embq.rescore_factor = 1 returns the coarse
 * order.  The coarse pass keeps only the first IVF_KEPT_BATCHES rounds;
 * past those, a second pass over the same lists collects the candidates
 * after them.
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


/*
 * A coarse-pass candidate.  An i8vec candidate's code stays on its code page
 * (blk, off): rescoring reads the few pages it needs and checks the TID.
 */
typedef struct IvfCandidate
{
	double		coarse;
	ItemPointerData tid;
	uint16		off;
	BlockNumber blk;
} IvfCandidate;

/*
 * Batchsizes of candidates a rescoring scan's first pass over a segment
 * keeps: enough for a LIMIT of a few batches (100 rows at 1024 dimensions
 * and the default factor, even when batches grow) without a second pass,
 * few enough that keeping them costs little.
 */
#define IVF_KEPT_BATCHES 8

/*
 * Candidates the first pass of an exact scan (bitvec, flat i8vec) keeps:
 * its rows come back in coarse order, which is exact, so keeping the 100
 * nearest serves a LIMIT of up to 100 from one pass with a bounded heap,
 * instead of collecting every probed row and ordering them.  A scan that
 * wants more rows scans the segment again for the rest (ProbeRest).
 */
#define IVF_EXACT_KEPT 100

/*
 * A rescoring batch serves the next IVF_BATCH_ROWS rows.  It rescores
 * candidates in rounds of half a batchsize, nearest by coarse score first:
 * two rounds (batchsize candidates), then one more at a time, up to
 * IVF_BATCH_ROUNDS rounds in all (4 batchsizes), while the last round still
 * placed a row among the batch's IVF_BATCH_ROWS nearest.  Where many rows
 * are about as near as the query's true neighbours (near-duplicates, dense
 * regions, large tables) the coarse order is least reliable, and there the
 * batch grows.
 */
#define IVF_BATCH_ROWS 10
#define IVF_BATCH_ROUNDS 8

/* A list's distance to the query, for ordering the lists. */
typedef struct IvfListRank
{
	double		rank;
	int			list;
} IvfListRank;

/* One of a batch's nearest rescored rows: its distance and its round. */
typedef struct IvfBatchBest
{
	double		distance;
	int			round;
} IvfBatchBest;

typedef struct IvfResult
{
	pairingheap_node ph;
	double		distance;
	ItemPointerData tid;
} IvfResult;

struct IvfScanOpaqueData
{
	MemoryContext ctx;			/* per-query memory, reset on rescan */
	IvfInfo		info;
	int			lists;
	bool		started;
	bool		nullquery;		/* ORDER BY col <op> NULL: any order */
	bool		rescore;
	int			batchsize;		/* candidates rescored at a time; 0: no rescoring */
	IvfQuery	query;

	IvfListRank *ranks;			/* lists not yet ordered, a min-heap */
	int			nranks;
	int		   *list_order;		/* lists, nearest centroid first */
	int			nordered;		/* lists in list_order so far */
	double	   *list_dot;		/* i8vec: the query's dot product with each centroid */
	int			probed;			/* lists already scanned */
	int			probes;			/* lists a segment adds (embq.probes) */
	int			max_probes;

	IvfCandidate *cands;		/* current segment: a min-heap on coarse, tid,
								 * once heapified */
	int			ncands;			/* candidates left in the segment */
	bool		heapified;
	int			candcap;
	IvfCandidate *batch;		/* candidates being rescored */
	int			batchcap;

	/*
	 * A rescoring scan's first pass over a segment keeps only the keep
	 * nearest candidates (IVF_KEPT_BATCHES batches), in cands as a max-heap
	 * while it fills.  If the executor wants more than those, the segment's
	 * lists are scanned again for the candidates after the last of them
	 * (cut), which is rarer and dearer.
	 */
	int			keep;
	IvfCandidate cut;
	bool		rest_pending;	/* the segment has candidates after cut */
	int			seg_first;		/* the segment: list_order[seg_first..probed) */

	pairingheap *results;		/* rescored, nearest first */
	double	   *scores;			/* coarse scores of one page's items */

	/*
	 * The current batch's IVF_BATCH_ROWS nearest rescored rows so far, a
	 * max-heap on distance, each with the round that rescored it.
	 */
	IvfBatchBest best[IVF_BATCH_ROWS];
	int			nbest;
};

/* Min-heap order on distance, then TID for determinism. */
static int
CompareResults(const pairingheap_node *a, const pairingheap_node *b, void *arg)
{
	const IvfResult *ra = pairingheap_const_container(IvfResult, ph, a);
	const IvfResult *rb = pairingheap_const_container(IvfResult, ph, b);

	int			c = IvfDistanceCmp(ra->distance, rb->distance);

	if (c != 0)
		return -c;
	return -ItemPointerCompare((ItemPointer) &ra->tid, (ItemPointer) &rb->tid);
}

/* Coarse order, then TID. */
static int
CompareCandidates(const void *a, const void *b)
{
	const IvfCandidate *ca = a;
	const IvfCandidate *cb = b;

	int			c = IvfDistanceCmp(ca->coarse, cb->coarse);

	if (c != 0)
		return c;
	return ItemPointerCompare((ItemPointer) &ca->tid, (ItemPointer) &cb->tid);
}

/* Min-heap order of list ranks: rank, then list number. */
static inline bool
ListRankBefore(const IvfListRank *a, const IvfListRank *b)
{
	int			c = IvfDistanceCmp(a->rank, b->rank);

	return c < 0 || (c == 0 && a->list < b->list);
}

/* Restore the heap order of the list ranks below position i. */
static void
SiftDownRanks(IvfListRank *h, int n, int i)
{
	IvfListRank x = h[i];

	for (;;)
	{
		int			child = 2 * i + 1;

		if (child >= n)
			break;
		if (child + 1 < n && ListRankBefore(&h[child + 1], &h[child]))
			child++;
		if (!ListRankBefore(&h[child], &x))
			break;
		h[i] = h[child];
		i = child;
	}
	h[i] = x;
}

/*
 * Rank the lists by the query's distance to their centroids, as a heap:
 * a scan orders only the lists it probes (NextLists), not all of them.
 */
static void
OrderLists(IvfScanOpaque so, const IvfCache *cache)
{
	double	   *rank;

	/* the relcache may drop its cache between calls: keep what scans need */
	so->list_dot = palloc0(sizeof(double) * so->lists);
	so->ranks = palloc(sizeof(IvfListRank) * so->lists);
	so->list_order = palloc(sizeof(int) * so->lists);

	/* i8vec: one dot product per list ranks it and serves its rows' estimates */
	rank = palloc0(sizeof(double) * so->lists);
	if (!so->nullquery)
		so->info.ops->rank_lists(&so->query, cache->centroids, cache->csqnorm, so->lists,
								 so->list_dot, rank);
	for (int i = 0; i < so->lists; i++)
	{
		so->ranks[i].rank = rank[i];
		so->ranks[i].list = i;
	}
	pfree(rank);
	for (int i = so->lists / 2 - 1; i >= 0; i--)
		SiftDownRanks(so->ranks, so->lists, i);
	so->nranks = so->lists;
	so->nordered = 0;
}

/* Extend list_order to its first upto lists, nearest first. */
static void
NextLists(IvfScanOpaque so, int upto)
{
	while (so->nordered < upto && so->nranks > 0)
	{
		so->list_order[so->nordered++] = so->ranks[0].list;
		so->ranks[0] = so->ranks[--so->nranks];
		SiftDownRanks(so->ranks, so->nranks, 0);
	}
}

/* Room for one more candidate in the segment, which holds at most limit. */
static void
GrowCandidates(IvfScanOpaque so, int limit)
{
	if (so->ncands < so->candcap)
		return;
	so->candcap = Min(limit, so->candcap ? so->candcap * 2 : 1024);
	so->cands = so->cands ? repalloc_huge(so->cands, sizeof(IvfCandidate) * so->candcap)
		: palloc_extended(sizeof(IvfCandidate) * so->candcap, MCXT_ALLOC_HUGE);
}

/* Append one candidate to the segment (made a heap once it is complete). */
static void
AddCandidate(IvfScanOpaque so, const IvfCandidate *c)
{
	GrowCandidates(so, INT_MAX);
	so->cands[so->ncands++] = *c;
}

/*
 * Restore the heap order below position i: a min-heap on coarse order, or
 * with sign -1 a max-heap.
 */
static void
SiftDown(IvfCandidate *h, int n, int i, int sign)
{
	IvfCandidate x = h[i];

	for (;;)
	{
		int			child = 2 * i + 1;

		if (child >= n)
			break;
		if (child + 1 < n && sign * CompareCandidates(&h[child + 1], &h[child]) < 0)
			child++;
		if (sign * CompareCandidates(&h[child], &x) >= 0)
			break;
		h[i] = h[child];
		i = child;
	}
	h[i] = x;
}

/*
 * Offer a candidate to a first pass: keep it if it is among the keep
 * nearest so far (cands is a max-heap, the farthest kept on top).
 */
static inline void
OfferTop(IvfScanOpaque so, const IvfCandidate *c)
{
	if (so->ncands < so->keep)
	{
		int			i;

		GrowCandidates(so, so->keep);
		/* sift up */
		i = so->ncands++;
		while (i > 0 && CompareCandidates(&so->cands[(i - 1) / 2], c) < 0)
		{
			so->cands[i] = so->cands[(i - 1) / 2];
			i = (i - 1) / 2;
		}
		so->cands[i] = *c;
	}
	else if (CompareCandidates(c, &so->cands[0]) < 0)
	{
		so->cands[0] = *c;
		SiftDown(so->cands, so->ncands, 0, -1);
	}
}

/* Remove the nearest candidate from the heap. */
static IvfCandidate
PopCandidate(IvfScanOpaque so)
{
	IvfCandidate top = so->cands[0];

	so->cands[0] = so->cands[--so->ncands];
	if (so->ncands > 0)
		SiftDown(so->cands, so->ncands, 0, 1);
	return top;
}

/* What ScanList does with each entry. */
typedef enum IvfScanMode
{
	IVF_SCAN_ALL,				/* add every entry to the segment */
	IVF_SCAN_TOP,				/* keep the keep nearest (first pass) */
	IVF_SCAN_REST,				/* add the entries after cut (second pass) */
	IVF_SCAN_FIRST				/* a first pass: TOP, or ALL when keep is 0 */
} IvfScanMode;

/* First data page of a list, from the directory. */
static BlockNumber
ListStart(Relation index, int list, const IvfMetaPageData *meta)
{
	Buffer		dirbuf = ReadBuffer(index, IvfDirBlock(list, meta->dir_per_page));
	BlockNumber blk;

	LockBuffer(dirbuf, BUFFER_LOCK_SHARE);
	blk = IvfDirEntry(BufferGetPage(dirbuf), list, meta->dir_per_page, meta->codesize)->startpage;
	UnlockReleaseBuffer(dirbuf);
	return blk;
}

/* Score the entries of one of a list's data pages and offer them as candidates. */
static void
ScorePage(IvfScanOpaque so, Page page, int list, IvfScanMode mode)
{
	bool		twotier = so->info.ops->rescores;
	IvfPageOpaque opaque = IvfPageGetOpaque(page);
	ItemPointer tids = IvfTids(page);
	const char *items = IvfItems(page, so->info.capacity);
	double		qc = twotier && !so->nullquery ? so->list_dot[list] : 0;

	if (so->nullquery)
		memset(so->scores, 0, sizeof(double) * opaque->nitems);
	else
		so->info.ops->score_items(&so->query, items, opaque->nitems, qc, so->scores);
	for (int i = 0; i < opaque->nitems; i++)
	{
		const IvfCoarseItem *ci = (const IvfCoarseItem *) (items + (Size) i * so->info.itemsize);
		IvfCandidate c;

		/* the common case of a first pass, decided on the score alone */
		if (mode == IVF_SCAN_TOP && so->ncands == so->keep &&
			IvfDistanceCmp(so->scores[i], so->cands[0].coarse) > 0)
			continue;
		c.coarse = so->scores[i];
		c.tid = tids[i];
		c.blk = twotier ? ci->codeblk : InvalidBlockNumber;
		c.off = twotier ? ci->codeoff : 0;
		if (mode == IVF_SCAN_TOP)
			OfferTop(so, &c);
		else if (mode == IVF_SCAN_ALL || CompareCandidates(&c, &so->cut) > 0)
			AddCandidate(so, &c);
	}
}

/*
 * Coarse pass of n scans over one list's chain of data pages, from its
 * first page: each page is read once and scored for every scan while it is
 * in cache.
 */
static void
ScanList(Relation index, IvfScanOpaque *scans, int n, int list, BlockNumber blk, IvfScanMode mode)
{
	while (BlockNumberIsValid(blk))
	{
		Buffer		buf = ReadBuffer(index, blk);
		Page		page;

		CHECK_FOR_INTERRUPTS();
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		for (int i = 0; i < n; i++)
		{
			IvfScanOpaque so = scans[i];
			MemoryContext old = MemoryContextSwitchTo(so->ctx);

			ScorePage(so, page, list, mode != IVF_SCAN_FIRST ? mode :
					  so->keep > 0 ? IVF_SCAN_TOP : IVF_SCAN_ALL);
			MemoryContextSwitchTo(old);
		}
		blk = IvfPageGetOpaque(page)->nextblkno;
		UnlockReleaseBuffer(buf);
	}
}

/* Coarse pass over the lists list_order[from..upto). */
static void
ScanLists(Relation index, IvfScanOpaque so, int from, int upto, IvfScanMode mode)
{
	IvfMetaPageData meta;

	if (from >= upto)
		return;
	IvfReadMeta(index, &meta);
	for (int i = from; i < upto; i++)
		ScanList(index, &so, 1, so->list_order[i], ListStart(index, so->list_order[i], &meta), mode);
}

/* Start a segment: the next embq.probes lists, in list_order. */
static void
SegmentBegin(IvfScanOpaque so)
{
	so->ncands = 0;
	so->seg_first = so->probed;
	so->probed = Min(so->max_probes, so->probed + Max(1, so->probes));
	NextLists(so, so->probed);
}

/* After a segment's coarse pass: whether candidates were left out of it. */
static void
SegmentEnd(Relation index, IvfScanOpaque so)
{
	pgstat_count_index_scan(index);
	so->rest_pending = so->keep > 0 && so->ncands == so->keep;
	if (so->rest_pending)
		so->cut = so->cands[0];
	/* a min-heap when first needed: a first batch is only selected */
	so->heapified = false;
}

/*
 * Probe the next lists: a new segment of candidates.  The scan keeps only
 * the keep nearest of them (all when keep is 0), and notes whether there
 * were more.
 */
static bool
ProbeMore(Relation index, IvfScanOpaque so)
{
	if (so->probed >= so->max_probes)
		return false;
	SegmentBegin(so);
	ScanLists(index, so, so->seg_first, so->probed, IVF_SCAN_FIRST);
	SegmentEnd(index, so);
	return true;
}

/*
 * Scan the segment's lists again for every candidate after those the first
 * pass kept.  Coarse scores are a function of the entry and the query, and the
 * cut compares (score, TID), so pages changed in between (VACUUM, inserts
 * the snapshot cannot see) do not matter.
 */
static void
ProbeRest(Relation index, IvfScanOpaque so)
{
	so->ncands = 0;
	ScanLists(index, so, so->seg_first, so->probed, IVF_SCAN_REST);
	so->heapified = false;
	so->rest_pending = false;

	/*
	 * An exact scan that wanted more than its kept candidates (a selective
	 * WHERE, a large LIMIT) would pay two passes over every later segment
	 * too: from now on it keeps them all.
	 */
	if (!so->rescore)
		so->keep = 0;
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

/* Make the segment a heap: only the candidates that compete are ever popped. */
static void
Heapify(IvfScanOpaque so)
{
	for (int i = so->ncands / 2 - 1; i >= 0; i--)
		SiftDown(so->cands, so->ncands, i, 1);
	so->heapified = true;
}

static inline void
SwapCandidates(IvfCandidate *a, IvfCandidate *b)
{
	IvfCandidate t = *a;

	*a = *b;
	*b = t;
}

/*
 * Move the count nearest candidates of an unordered segment to its end
 * (quickselect, average linear time) and take them off it: a query that
 * wants one batch never pays for ordering the whole segment.
 */
static void
SelectNearest(IvfScanOpaque so, int count, IvfCandidate *out)
{
	IvfCandidate *a = so->cands;
	int			lo = 0,
				hi = so->ncands - 1,
				k = so->ncands - count;	/* a[k..] will be the count nearest */

	/* order is descending here, so the nearest end up at the tail */
	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;
		IvfCandidate pivot;
		int			i = lo,
					j = hi;

		/* median of three as the pivot */
		if (CompareCandidates(&a[mid], &a[lo]) > 0)
			SwapCandidates(&a[mid], &a[lo]);
		if (CompareCandidates(&a[hi], &a[lo]) > 0)
			SwapCandidates(&a[hi], &a[lo]);
		if (CompareCandidates(&a[mid], &a[hi]) > 0)
			SwapCandidates(&a[mid], &a[hi]);
		pivot = a[hi];
		while (i <= j)
		{
			while (CompareCandidates(&a[i], &pivot) > 0)
				i++;
			while (CompareCandidates(&a[j], &pivot) < 0)
				j--;
			if (i <= j)
			{
				SwapCandidates(&a[i], &a[j]);
				i++;
				j--;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			break;
	}
	memcpy(out, a + k, sizeof(IvfCandidate) * count);
	so->ncands = k;
}

/* Room for count candidates in batch. */
static void
EnsureBatch(IvfScanOpaque so, int count)
{
	if (count > so->batchcap)
	{
		so->batchcap = count;
		so->batch = palloc_extended(sizeof(IvfCandidate) * so->batchcap, MCXT_ALLOC_HUGE);
	}
}

/*
 * Offer a rescored row's distance to the batch's IVF_BATCH_ROWS nearest
 * (a max-heap, the farthest on top).
 */
static void
OfferBest(IvfScanOpaque so, double distance, int round)
{
	IvfBatchBest *h = so->best;
	IvfBatchBest x = {distance, round};
	int			i;

	if (so->nbest < IVF_BATCH_ROWS)
	{
		/* sift up */
		for (i = so->nbest++; i > 0 && IvfDistanceCmp(h[(i - 1) / 2].distance, distance) < 0;
			 i = (i - 1) / 2)
			h[i] = h[(i - 1) / 2];
		h[i] = x;
		return;
	}
	if (IvfDistanceCmp(distance, h[0].distance) >= 0)
		return;
	/* replace the farthest and sift down */
	for (i = 0;;)
	{
		int			child = 2 * i + 1;

		if (child >= so->nbest)
			break;
		if (child + 1 < so->nbest && IvfDistanceCmp(h[child + 1].distance, h[child].distance) > 0)
			child++;
		if (IvfDistanceCmp(h[child].distance, distance) <= 0)
			break;
		h[i] = h[child];
		i = child;
	}
	h[i] = x;
}

/* Whether a round placed a row among the batch's nearest, or they are too few. */
static bool
RoundReached(IvfScanOpaque so, int round)
{
	if (so->nbest < IVF_BATCH_ROWS)
		return true;
	for (int i = 0; i < so->nbest; i++)
		if (so->best[i].round == round)
			return true;
	return false;
}

/*
 * Rescore the n candidates in batch: exact distance from their code, read
 * from its code page, into the result heap.  A slot whose TID is no longer
 * the candidate's was freed by VACUUM (the row is dead) and maybe reused:
 * the candidate is skipped.
 */
static void
RescoreBatch(Relation index, IvfScanOpaque so, int n, int round)
{
	Buffer		buf = InvalidBuffer;

	qsort(so->batch, n, sizeof(IvfCandidate), CompareByPage);
	for (int i = 0; i < n; i++)
	{
		IvfCandidate *c = &so->batch[i];
		Page		page;

		if (!BufferIsValid(buf) || BufferGetBlockNumber(buf) != c->blk)
		{
			if (BufferIsValid(buf))
				UnlockReleaseBuffer(buf);
			buf = ReadBuffer(index, c->blk);
			LockBuffer(buf, BUFFER_LOCK_SHARE);
		}
		page = BufferGetPage(buf);
		if (IvfPageGetOpaque(page)->flags == IVF_CODE &&
			c->off < IvfPageGetOpaque(page)->nitems &&
			ItemPointerEquals(&IvfTids(page)[c->off], &c->tid))
		{
			double		d = so->info.ops->exact_distance(&so->query, IvfItems(page, so->info.codecapacity) +
											 (Size) c->off * so->info.codesize);

			AddResult(so, d, &c->tid);
			OfferBest(so, d, round);
		}
	}
	if (BufferIsValid(buf))
		UnlockReleaseBuffer(buf);
}

/*
 * Move the nearest count candidates of the segment into the result heap,
 * rescoring them (as the given round of a batch) when asked to.
 */
static void
Rescore(Relation index, IvfScanOpaque so, int count, int round)
{
	int			n = 0;

	EnsureBatch(so, Min(count, so->ncands));
	if (!so->heapified && count > 1 && count < so->ncands / 4)
	{
		SelectNearest(so, count, so->batch);
		n = count;
	}
	else
	{
		if (!so->heapified)
			Heapify(so);
		while (n < count && so->ncands > 0)
			so->batch[n++] = PopCandidate(so);
	}
	if (!so->rescore)
	{
		for (int i = 0; i < n; i++)
			AddResult(so, so->batch[i].coarse, &so->batch[i].tid);
		return;
	}
	RescoreBatch(index, so, n, round);
}

/*
 * The next batch: rounds of half a batchsize candidates rescored, two and
 * then more while the last round still reached the batch's nearest rows
 * (see IVF_BATCH_ROUNDS).  Every row of the batch is in the result heap
 * before the first is returned, so a batch comes back in exact distance
 * order.
 */
static void
NextBatch(Relation index, IvfScanOpaque so)
{
	int			half = Max(1, so->batchsize / 2);

	so->nbest = 0;
	for (int round = 0; round < IVF_BATCH_ROUNDS && so->ncands > 0; round++)
	{
		/* past the first batchsize, pop from a heap instead of selecting again */
		if (round == 2 && !so->heapified)
			Heapify(so);
		Rescore(index, so, round == 1 ? so->batchsize - half : half, round);
		if (round >= 1 && !RoundReached(so, round))
			break;
	}
}

/*
 * A scan of an index outside an index scan node (a batch search, see
 * ivfbatch.c), or inside one: its memory lives in a context of its own
 * under the current one.
 */
IvfScanOpaque
IvfScanCreate(void)
{
	IvfScanOpaque so = palloc0(sizeof(IvfScanOpaqueData));

	so->ctx = AllocSetContextCreate(CurrentMemoryContext, "embq_ivf scan",
									ALLOCSET_DEFAULT_SIZES);
	return so;
}

/* Free a scan and all it holds. */
void
IvfScanFree(IvfScanOpaque so)
{
	MemoryContextDelete(so->ctx);
	pfree(so);
}

/*
 * Set up a query: its ORDER BY argument (NULL: any order), of the given type.
 * The settings (embq.probes and the rest) are read here, once per query.
 */
void
IvfScanStart(Relation index, IvfScanOpaque so, Datum arg, Oid type, bool isnull)
{
	MemoryContext old;
	IvfCache   *cache;

	MemoryContextReset(so->ctx);
	old = MemoryContextSwitchTo(so->ctx);
	so->cands = NULL;
	so->ncands = so->candcap = 0;

	/*
	 * Preparing the query may detoast it and look up its type, either of
	 * which can free the cache: keep a copy of the scoring context, and get
	 * the cache again for the centroids.
	 */
	cache = IvfGetCache(index);
	so->info = cache->info;
	so->info.kern = embq_kernels();	/* as embq.cpu_kernels now says */
	so->lists = cache->meta.lists;
	so->nullquery = isnull;
	if (!so->nullquery)
		IvfQueryFromDatum(&so->info, arg, type, &so->query);
	else
		so->query.asymmetric = false;
	so->batchsize = so->nullquery ? 0 : IvfRescoreBatch(so->info.dims, so->info.codecapacity,
																	 embq_ivf_rescore_factor);
	so->rescore = so->batchsize > 0;
	so->probes = embq_ivf_probes;
	so->max_probes = embq_ivf_max_probes > 0 ? Min(so->lists, Max(embq_ivf_max_probes, embq_ivf_probes))
		: so->lists;
	so->probed = 0;
	so->scores = palloc(sizeof(double) * so->info.capacity);
	OrderLists(so, IvfGetCache(index));
	so->results = pairingheap_allocate(CompareResults, NULL);
	so->batch = NULL;
	so->batchcap = 0;
	/* a scan in any order (NULL query) keeps everything: its scores tie */
	so->keep = so->rescore ? IVF_KEPT_BATCHES * so->batchsize : so->nullquery ? 0 : IVF_EXACT_KEPT;
	so->rest_pending = false;
	so->started = true;
	MemoryContextSwitchTo(old);
}

/*
 * The next row in distance order, and its distance (the ORDER BY operator's
 * value, for an exact or rescored row; the coarse score when
 * embq.rescore_factor = 1); false when the lists up to embq.max_probes are
 * used up.
 */
bool
IvfScanNext(Relation index, IvfScanOpaque so, ItemPointer tid, double *distance)
{
	MemoryContext old = MemoryContextSwitchTo(so->ctx);
	bool		found = false;

	for (;;)
	{
		if (!pairingheap_is_empty(so->results))
		{
			IvfResult  *r = pairingheap_container(IvfResult, ph,
												  pairingheap_remove_first(so->results));

			*tid = r->tid;
			if (distance)
				*distance = r->distance;
			pfree(r);
			found = true;
			break;
		}
		/* the next batch; without rescoring the coarse order is the order */
		if (so->ncands > 0)
		{
			if (so->rescore)
				NextBatch(index, so);
			else
				Rescore(index, so, 1, 0);
			continue;
		}
		/* the kept candidates used up: the rest of their segment */
		if (so->rest_pending)
		{
			ProbeRest(index, so);
			continue;
		}
		/* candidates used up: probe further lists */
		if (!ProbeMore(index, so))
			break;
	}
	MemoryContextSwitchTo(old);
	return found;
}

/* The list numbers and count of a scan's first segment, once it is started. */
static int
FirstSegmentLists(IvfScanOpaque so, const int **lists)
{
	*lists = so->list_order + so->seg_first;
	return so->probed - so->seg_first;
}

/*
 * The first segment of n started scans at once, each as ProbeMore would
 * scan it: every list that any of them probes is read once, and each of its
 * pages is scored for every scan that probes it while the page is in cache.
 * Candidates are kept by (score, TID), a total order, so the order in which
 * lists are visited changes nothing a scan returns.
 */
void
IvfScanFirstSegments(Relation index, IvfScanOpaque *scans, int n)
{
	IvfMetaPageData meta;
	int		   *count;
	int		   *start;
	IvfScanOpaque *members;
	int			total = 0;

	IvfReadMeta(index, &meta);
	count = palloc0(sizeof(int) * (meta.lists + 1));
	for (int s = 0; s < n; s++)
	{
		const int  *lists;
		int			m;

		Assert(scans[s]->started && scans[s]->probed == 0);
		SegmentBegin(scans[s]);
		m = FirstSegmentLists(scans[s], &lists);
		for (int i = 0; i < m; i++)
			count[lists[i]]++;
		total += m;
	}
	/* the scans probing each list, grouped by list (a counting sort) */
	start = palloc(sizeof(int) * (meta.lists + 1));
	start[0] = 0;
	for (int l = 0; l < meta.lists; l++)
		start[l + 1] = start[l] + count[l];
	members = palloc(sizeof(IvfScanOpaque) * Max(total, 1));
	memset(count, 0, sizeof(int) * meta.lists);
	for (int s = 0; s < n; s++)
	{
		const int  *lists;
		int			m = FirstSegmentLists(scans[s], &lists);

		for (int i = 0; i < m; i++)
			members[start[lists[i]] + count[lists[i]]++] = scans[s];
	}
	for (int l = 0; l < meta.lists; l++)
		if (start[l + 1] > start[l])
			ScanList(index, members + start[l], start[l + 1] - start[l], l,
					 ListStart(index, l, &meta), IVF_SCAN_FIRST);
	for (int s = 0; s < n; s++)
		SegmentEnd(index, scans[s]);
	pfree(members);
	pfree(start);
	pfree(count);
}

/* ambeginscan */
IndexScanDesc
ivfbeginscan(Relation index, int nkeys, int norderbys)
{
	IndexScanDesc scan = RelationGetIndexScan(index, nkeys, norderbys);

	scan->opaque = IvfScanCreate();
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

/* amgettuple: the next row in distance order. */
bool
ivfgettuple(IndexScanDesc scan, ScanDirection dir)
{
	IvfScanOpaque so = (IvfScanOpaque) scan->opaque;

	if (!so->started)
	{
		ScanKey		orderby;

		if (scan->numberOfOrderBys == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot scan embq_ivf index without order"),
					 errhint("Use ORDER BY column <operator> query LIMIT k.")));
		orderby = &scan->orderByData[0];
		IvfScanStart(scan->indexRelation, so, orderby->sk_argument, orderby->sk_subtype,
					 (orderby->sk_flags & SK_ISNULL) != 0);
	}
	scan->xs_recheck = false;
	scan->xs_recheckorderby = false;
	return IvfScanNext(scan->indexRelation, so, &scan->xs_heaptid, NULL);
}

/* amendscan */
void
ivfendscan(IndexScanDesc scan)
{
	IvfScanFree((IvfScanOpaque) scan->opaque);
	scan->opaque = NULL;
}
