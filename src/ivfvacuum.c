/*-------------------------------------------------------------------------
 *
 * ivfvacuum.c
 *		VACUUM of an embq_ivf index: remove dead TIDs, compacting each page
 *		in place, and point each list's insert page at its first page with
 *		room, so inserts reuse the space before the chain grows.
 *
 * Entries move only within a page, under an exclusive lock, and pages never
 * leave their chain, so a concurrent scan (which copies a page's entries
 * under a share lock) never misses or repeats an entry.
 *
 *-------------------------------------------------------------------------
 */
#include "ivf.h"

#include "commands/vacuum.h"
#include "miscadmin.h"

/*
 * Mark the entries of a page whose TIDs are dead (a freed code slot is not
 * an entry); returns how many.  One callback per TID: the second pass, under
 * generic WAL, reads the marks.
 */
static int
MarkDead(Page page, IndexBulkDeleteCallback callback, void *callback_state, bool *dead)
{
	ItemPointer tids = IvfTids(page);
	int			count = 0;

	for (int i = 0; i < IvfPageGetOpaque(page)->nitems; i++)
	{
		dead[i] = ItemPointerIsValid(&tids[i]) && callback(&tids[i], callback_state);
		count += dead[i];
	}
	return count;
}

/* Remove the dead entries of one data page; returns how many remain. */
static int
VacuumDataPage(Relation index, Buffer buf, const IvfMetaPageData *meta,
			   IndexBulkDeleteCallback callback, void *callback_state, double *removed)
{
	Page		page = BufferGetPage(buf);
	int			n = IvfPageGetOpaque(page)->nitems;
	bool		dead[BLCKSZ / sizeof(ItemPointerData)];
	ItemPointer tids;
	GenericXLogState *state;
	char	   *items;
	int			keep = 0;

	if (MarkDead(page, callback, callback_state, dead) == 0)
		return n;

	state = GenericXLogStart(index);
	page = GenericXLogRegisterBuffer(state, buf, 0);
	tids = IvfTids(page);
	items = IvfItems(page, meta->capacity);
	for (int i = 0; i < n; i++)
	{
		if (dead[i])
			continue;
		if (keep != i)
		{
			tids[keep] = tids[i];
			memmove(items + (Size) keep * meta->itemsize, items + (Size) i * meta->itemsize,
					meta->itemsize);
		}
		keep++;
	}
	IvfPageGetOpaque(page)->nitems = keep;
	GenericXLogFinish(state);
	*removed += n - keep;
	return keep;
}

/* Free the slots of dead codes on one code page; returns the slots in use. */
static int
VacuumCodePage(Relation index, Buffer buf, IndexBulkDeleteCallback callback,
			   void *callback_state)
{
	Page		page = BufferGetPage(buf);
	IvfPageOpaque opaque = IvfPageGetOpaque(page);
	int			n = opaque->nitems;
	bool		dead[BLCKSZ / sizeof(ItemPointerData)];
	ItemPointer tids;
	GenericXLogState *state;

	if (MarkDead(page, callback, callback_state, dead) == 0)
		return n - opaque->nfree;

	state = GenericXLogStart(index);
	page = GenericXLogRegisterBuffer(state, buf, 0);
	opaque = IvfPageGetOpaque(page);
	tids = IvfTids(page);
	for (int i = 0; i < n; i++)
		if (dead[i])
		{
			ItemPointerSetInvalid(&tids[i]);
			opaque->nfree++;
		}
	GenericXLogFinish(state);
	return n - opaque->nfree;
}

/*
 * Walk one chain of a list: remove dead entries (callback set) or just
 * count; then point the chain's insert page back at its first page with
 * room.  Returns the live entries.
 */
static int64
VacuumChain(Relation index, const IvfMetaPageData *meta, int list, bool codes,
			IndexBulkDeleteResult *stats, IndexBulkDeleteCallback callback,
			void *callback_state)
{
	Buffer		dirbuf = ReadBuffer(index, IvfDirBlock(list, meta->dir_per_page));
	int			capacity = codes ? meta->codecapacity : meta->capacity;
	IvfList		l;
	BlockNumber blk,
				insertpage,
				firstroom = InvalidBlockNumber;
	int64		live = 0;

	LockBuffer(dirbuf, BUFFER_LOCK_SHARE);
	l = IvfDirEntry(BufferGetPage(dirbuf), list, meta->dir_per_page, meta->codesize);
	blk = *IvfChainStart(l, codes);
	insertpage = *IvfChainInsert(l, codes);
	LockBuffer(dirbuf, BUFFER_LOCK_UNLOCK);

	while (BlockNumberIsValid(blk))
	{
		Buffer		buf = ReadBuffer(index, blk);
		IvfPageOpaque opaque;
		int			n;

#if PG_VERSION_NUM >= 180000
		vacuum_delay_point(false);
#else
		vacuum_delay_point();
#endif
		LockBuffer(buf, callback ? BUFFER_LOCK_EXCLUSIVE : BUFFER_LOCK_SHARE);
		opaque = IvfPageGetOpaque(BufferGetPage(buf));
		if (!callback)
			n = opaque->nitems - opaque->nfree;
		else if (codes)
			n = VacuumCodePage(index, buf, callback, callback_state);
		else
			n = VacuumDataPage(index, buf, meta, callback, callback_state,
							   &stats->tuples_removed);
		live += n;
		if (n < capacity && firstroom == InvalidBlockNumber)
			firstroom = blk;
		/* pages before the insert page may now have room; later ones are new */
		if (blk == insertpage && firstroom == InvalidBlockNumber)
			firstroom = blk;
		blk = opaque->nextblkno;
		UnlockReleaseBuffer(buf);
	}

	if (callback)
	{
		GenericXLogState *state;
		Page		dirpage;

		LockBuffer(dirbuf, BUFFER_LOCK_EXCLUSIVE);
		state = GenericXLogStart(index);
		dirpage = GenericXLogRegisterBuffer(state, dirbuf, 0);
		l = IvfDirEntry(dirpage, list, meta->dir_per_page, meta->codesize);
		if (!codes)
			l->count = live;
		/* only move the insert page back, and only if it is still where we found it */
		if (firstroom != InvalidBlockNumber && *IvfChainInsert(l, codes) == insertpage)
			*IvfChainInsert(l, codes) = firstroom;
		GenericXLogFinish(state);
		LockBuffer(dirbuf, BUFFER_LOCK_UNLOCK);
	}
	ReleaseBuffer(dirbuf);
	return live;
}

/* Walk every list: remove dead entries (callback set) or just count. */
static void
WalkLists(Relation index, IndexBulkDeleteResult *stats,
		  IndexBulkDeleteCallback callback, void *callback_state)
{
	IvfMetaPageData meta;

	IvfReadMeta(index, &meta);
	for (int list = 0; list < meta.lists; list++)
	{
		stats->num_index_tuples += VacuumChain(index, &meta, list, false, stats,
											   callback, callback_state);
		/* codes only need their slots freed; counting them tells nothing new */
		if (meta.codecapacity > 0 && callback)
			VacuumChain(index, &meta, list, true, stats, callback, callback_state);
	}
}

/* ambulkdelete */
IndexBulkDeleteResult *
ivfbulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
			  IndexBulkDeleteCallback callback, void *callback_state)
{
	if (stats == NULL)
		stats = (IndexBulkDeleteResult *) palloc0(sizeof(IndexBulkDeleteResult));
	stats->num_index_tuples = 0;
	WalkLists(info->index, stats, callback, callback_state);
	stats->num_pages = RelationGetNumberOfBlocks(info->index);
	return stats;
}

/* amvacuumcleanup: statistics; count the entries if bulkdelete did not run. */
IndexBulkDeleteResult *
ivfvacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	if (info->analyze_only)
		return stats;
	if (stats == NULL)
	{
		stats = (IndexBulkDeleteResult *) palloc0(sizeof(IndexBulkDeleteResult));
		WalkLists(info->index, stats, NULL, NULL);
	}
	stats->num_pages = RelationGetNumberOfBlocks(info->index);
	return stats;
}
