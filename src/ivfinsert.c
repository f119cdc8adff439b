/*-------------------------------------------------------------------------
 *
 * ivfinsert.c
 *		Insert into an embq_ivf index: the row goes to its nearest list, on
 *		the chain's insert page or the first page after it with room; the
 *		chain grows by one page when all are full.  An i8vec row's code goes
 *		to the list's code chain first (a freed slot or a new one), then its
 *		coarse item, which points at the code, to the data chain: a scan that
 *		sees the item finds the code.  A crash in between leaves a code slot
 *		no item points at, whose TID is dead (its transaction never
 *		committed), so VACUUM frees it.
 *
 * Locks: a directory page is only ever locked after any data page lock,
 * and is never held while waiting for a data page, so inserts, scans and
 * VACUUM cannot deadlock.
 *
 *-------------------------------------------------------------------------
 */
#include "ivf.h"

#include "miscadmin.h"
#include "utils/memutils.h"

/*
 * Where to start looking for room on a list's chain; creates the chain's
 * first page, holding this entry, if it has none (then *slot >= 0).
 */
static BlockNumber
ChainInsertPage(Relation index, const IvfMetaPageData *meta, const IvfInfo *info, int list,
				bool codes, ItemPointer tid, const char *item, int *slot)
{
	Buffer		dirbuf = ReadBuffer(index, IvfDirBlock(list, meta->dir_per_page));
	IvfList		l;
	BlockNumber blk;

	*slot = -1;
	LockBuffer(dirbuf, BUFFER_LOCK_SHARE);
	l = IvfDirEntry(BufferGetPage(dirbuf), list, meta->dir_per_page, meta->codesize);
	blk = *IvfChainInsert(l, codes);
	LockBuffer(dirbuf, BUFFER_LOCK_UNLOCK);

	if (blk == InvalidBlockNumber)
	{
		/* an empty chain: its first page holds this entry */
		LockBuffer(dirbuf, BUFFER_LOCK_EXCLUSIVE);
		l = IvfDirEntry(BufferGetPage(dirbuf), list, meta->dir_per_page, meta->codesize);
		blk = *IvfChainInsert(l, codes);
		if (blk == InvalidBlockNumber)
		{
			Buffer		newbuf = IvfNewBuffer(index, MAIN_FORKNUM);
			GenericXLogState *state = GenericXLogStart(index);
			Page		newpage = GenericXLogRegisterBuffer(state, newbuf, GENERIC_XLOG_FULL_IMAGE);
			Page		dirpage = GenericXLogRegisterBuffer(state, dirbuf, 0);

			IvfInitPage(newpage, codes ? IVF_CODE : IVF_DATA);
			*slot = IvfPutEntry(newpage, IvfChainCapacity(info, codes),
								IvfChainItemSize(info, codes), tid, item);
			l = IvfDirEntry(dirpage, list, meta->dir_per_page, meta->codesize);
			blk = BufferGetBlockNumber(newbuf);
			*IvfChainStart(l, codes) = *IvfChainInsert(l, codes) = blk;
			GenericXLogFinish(state);
			UnlockReleaseBuffer(newbuf);
		}
		LockBuffer(dirbuf, BUFFER_LOCK_UNLOCK);
	}
	ReleaseBuffer(dirbuf);
	return blk;
}

/*
 * Add one entry to a list's data chain or code chain; returns the block
 * and (in *slot) the slot it went to.
 */
static BlockNumber
IvfAddEntry(Relation index, const IvfMetaPageData *meta, const IvfInfo *info, int list,
			bool codes, ItemPointer tid, const char *item, int *slot)
{
	int			capacity = IvfChainCapacity(info, codes);
	int			itemsize = IvfChainItemSize(info, codes);
	BlockNumber blk = ChainInsertPage(index, meta, info, list, codes, tid, item, slot);

	while (*slot < 0)
	{
		Buffer		buf = ReadBuffer(index, blk);
		Page		page;
		IvfPageOpaque opaque;

		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buf);
		opaque = IvfPageGetOpaque(page);

		if (IvfPageHasRoom(page, capacity))
		{
			GenericXLogState *state = GenericXLogStart(index);

			page = GenericXLogRegisterBuffer(state, buf, 0);
			*slot = IvfPutEntry(page, capacity, itemsize, tid, item);
			GenericXLogFinish(state);
		}
		else if (opaque->nextblkno != InvalidBlockNumber)
			blk = opaque->nextblkno;
		else
		{
			/* the chain is full: link a new last page and make it the insert page */
			Buffer		newbuf = IvfNewBuffer(index, MAIN_FORKNUM);
			Buffer		dirbuf = ReadBuffer(index, IvfDirBlock(list, meta->dir_per_page));
			GenericXLogState *state;
			Page		newpage,
						dirpage;

			LockBuffer(dirbuf, BUFFER_LOCK_EXCLUSIVE);
			state = GenericXLogStart(index);
			page = GenericXLogRegisterBuffer(state, buf, 0);
			newpage = GenericXLogRegisterBuffer(state, newbuf, GENERIC_XLOG_FULL_IMAGE);
			dirpage = GenericXLogRegisterBuffer(state, dirbuf, 0);
			IvfInitPage(newpage, codes ? IVF_CODE : IVF_DATA);
			*slot = IvfPutEntry(newpage, capacity, itemsize, tid, item);
			blk = BufferGetBlockNumber(newbuf);
			IvfPageGetOpaque(page)->nextblkno = blk;
			*IvfChainInsert(IvfDirEntry(dirpage, list, meta->dir_per_page, meta->codesize),
							codes) = blk;
			GenericXLogFinish(state);
			UnlockReleaseBuffer(dirbuf);
			UnlockReleaseBuffer(newbuf);
		}
		UnlockReleaseBuffer(buf);
	}
	return blk;
}

/*
 * aminsert: NULLs are not indexed.  The value is detoasted before the
 * cache is read, and nothing after that can free the cache before the
 * centroids are done with (see IvfCache); the pages are then written from
 * copies of the metapage and scoring context.
 */
bool
ivfinsert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid,
		  Relation heap, IndexUniqueCheck checkUnique
#if PG_VERSION_NUM >= 140000
		  ,bool indexUnchanged
#endif
		  ,IndexInfo *indexInfo)
{
	IvfCache   *cache;
	IvfMetaPageData meta;
	IvfInfo		info;
	MemoryContext ctx,
				old;
	Datum		value;
	char	   *code,
			   *item = NULL;
	int			list,
				slot;

	if (isnull[0])
		return false;

	ctx = AllocSetContextCreate(CurrentMemoryContext, "embq_ivf insert", ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(ctx);
	value = PointerGetDatum(PG_DETOAST_DATUM(values[0]));
	cache = IvfGetCache(index);
	meta = cache->meta;
	info = cache->info;
	info.kern = embq_kernels();
	code = palloc(info.codesize);
	info.ops->datum_to_code(&info, value, code);
	list = info.ops->nearest_list(&info, code, cache->centroids, meta.lists);
	if (info.ops->rescores)
	{
		/* the item's code address is filled in once the code has a slot */
		item = palloc(info.itemsize);
		info.ops->coarse_item(&info, code, cache->centroids + (Size) list * info.codesize,
						 InvalidBlockNumber, 0, item);
	}
	cache = NULL;

	if (item != NULL)
	{
		IvfCoarseItem *ci = (IvfCoarseItem *) item;

		ci->codeblk = IvfAddEntry(index, &meta, &info, list, true, heap_tid, code, &slot);
		ci->codeoff = (uint16) slot;
		IvfAddEntry(index, &meta, &info, list, false, heap_tid, item, &slot);
	}
	else
		IvfAddEntry(index, &meta, &info, list, false, heap_tid, code, &slot);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(ctx);
	return false;
}
