/*-------------------------------------------------------------------------
 *
 * ivfinsert.c
 *		Insert into an embq_ivf index: the row's code goes to its nearest
 *		list, on the list's insert page or the first page after it with room;
 *		the chain grows by one page when all are full.
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

/* Put one entry on a (registered, locked) data page that has room. */
static void
PutEntry(Page page, const IvfInfo *info, ItemPointer tid, const char *code)
{
	IvfPageOpaque opaque = IvfPageGetOpaque(page);

	IvfTids(page)[opaque->nitems] = *tid;
	memcpy(IvfCodes(page, info->capacity) + (Size) opaque->nitems * info->codesize,
		   code, info->codesize);
	opaque->nitems++;
}

/* The start of a list's chain, creating its first page if it has none. */
static BlockNumber
ListInsertPage(Relation index, const IvfCache *cache, int list, ItemPointer tid,
			   const char *code, bool *done)
{
	const IvfMetaPageData *meta = &cache->meta;
	Buffer		dirbuf = ReadBuffer(index, IvfDirBlock(list, meta->dir_per_page));
	IvfList		l;
	BlockNumber blk;

	*done = false;
	LockBuffer(dirbuf, BUFFER_LOCK_SHARE);
	l = IvfDirEntry(BufferGetPage(dirbuf), list, meta->dir_per_page, meta->codesize);
	blk = l->insertpage;
	LockBuffer(dirbuf, BUFFER_LOCK_UNLOCK);

	if (blk == InvalidBlockNumber)
	{
		/* an empty list: its first page holds this entry */
		LockBuffer(dirbuf, BUFFER_LOCK_EXCLUSIVE);
		l = IvfDirEntry(BufferGetPage(dirbuf), list, meta->dir_per_page, meta->codesize);
		blk = l->insertpage;
		if (blk == InvalidBlockNumber)
		{
			Buffer		newbuf = IvfNewBuffer(index, MAIN_FORKNUM);
			GenericXLogState *state = GenericXLogStart(index);
			Page		newpage = GenericXLogRegisterBuffer(state, newbuf, GENERIC_XLOG_FULL_IMAGE);
			Page		dirpage = GenericXLogRegisterBuffer(state, dirbuf, 0);

			IvfInitPage(newpage, IVF_DATA);
			PutEntry(newpage, &cache->info, tid, code);
			l = IvfDirEntry(dirpage, list, meta->dir_per_page, meta->codesize);
			l->startpage = l->insertpage = BufferGetBlockNumber(newbuf);
			GenericXLogFinish(state);
			UnlockReleaseBuffer(newbuf);
			*done = true;
		}
		LockBuffer(dirbuf, BUFFER_LOCK_UNLOCK);
	}
	ReleaseBuffer(dirbuf);
	return blk;
}

/* Append one entry to a list. */
static void
IvfAppendEntry(Relation index, const IvfInfo *info, int list, ItemPointer tid,
			   const char *code)
{
	IvfCache   *cache = IvfGetCache(index);
	const IvfMetaPageData *meta = &cache->meta;
	bool		done;
	BlockNumber blk = ListInsertPage(index, cache, list, tid, code, &done);

	while (!done)
	{
		Buffer		buf = ReadBuffer(index, blk);
		Page		page;
		IvfPageOpaque opaque;

		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buf);
		opaque = IvfPageGetOpaque(page);

		if (opaque->nitems < info->capacity)
		{
			GenericXLogState *state = GenericXLogStart(index);

			page = GenericXLogRegisterBuffer(state, buf, 0);
			PutEntry(page, info, tid, code);
			GenericXLogFinish(state);
			done = true;
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
			IvfInitPage(newpage, IVF_DATA);
			PutEntry(newpage, info, tid, code);
			IvfPageGetOpaque(page)->nextblkno = BufferGetBlockNumber(newbuf);
			IvfDirEntry(dirpage, list, meta->dir_per_page, meta->codesize)->insertpage =
				BufferGetBlockNumber(newbuf);
			GenericXLogFinish(state);
			UnlockReleaseBuffer(dirbuf);
			UnlockReleaseBuffer(newbuf);
			done = true;
		}
		UnlockReleaseBuffer(buf);
	}
}

/* aminsert: NULLs are not indexed. */
bool
ivfinsert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid,
		  Relation heap, IndexUniqueCheck checkUnique
#if PG_VERSION_NUM >= 140000
		  ,bool indexUnchanged
#endif
		  ,IndexInfo *indexInfo)
{
	IvfCache   *cache;
	MemoryContext ctx,
				old;
	char	   *code;
	int			list;

	if (isnull[0])
		return false;

	ctx = AllocSetContextCreate(CurrentMemoryContext, "embq_ivf insert", ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(ctx);
	cache = IvfGetCache(index);
	code = palloc(cache->info.codesize);
	IvfDatumToCode(&cache->info, values[0], code);
	list = IvfNearestList(&cache->info, code, cache->centroids, cache->meta.lists);
	IvfAppendEntry(index, &cache->info, list, heap_tid, code);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(ctx);
	return false;
}
