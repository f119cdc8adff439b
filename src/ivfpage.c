/*-------------------------------------------------------------------------
 *
 * ivfpage.c
 *		embq_ivf page geometry: data, code and directory pages, the
 *		metapage, and the entries on them.
 *
 *-------------------------------------------------------------------------
 */
#include "ivf.h"

#include "storage/lmgr.h"

/* Bytes usable for contents on a page with our special space. */
#define IVF_PAGE_USABLE \
	(BLCKSZ - MAXALIGN(SizeOfPageHeaderData) - MAXALIGN(sizeof(IvfPageOpaqueData)))

/* Entries per data or code page: a TID array, then an item array. */
int
IvfCapacity(int itemsize)
{
	int			cap = IVF_PAGE_USABLE / (sizeof(ItemPointerData) + itemsize);

	while (cap > 0 && MAXALIGN(sizeof(ItemPointerData) * cap) + (Size) cap * itemsize > IVF_PAGE_USABLE)
		cap--;
	return Min(cap, PG_UINT16_MAX);
}

/* Directory entries per directory page. */
int
IvfDirPerPage(int codesize)
{
	return IVF_PAGE_USABLE / IVF_LIST_SIZE(codesize);
}

/*
 * Initialize a page of one of our kinds.  Directory and data pages use their
 * whole contents area (arrays sized for the page), so pd_lower is set to
 * pd_upper: generic WAL and full-page images skip the pd_lower..pd_upper
 * "hole", which here holds live entries.
 */
void
IvfInitPage(Page page, uint16 flags)
{
	IvfPageOpaque opaque;

	PageInit(page, BLCKSZ, sizeof(IvfPageOpaqueData));
	if (flags != IVF_META)
		((PageHeader) page)->pd_lower = ((PageHeader) page)->pd_upper;
	opaque = IvfPageGetOpaque(page);
	opaque->nextblkno = InvalidBlockNumber;
	opaque->nitems = 0;
	opaque->flags = flags;
	opaque->page_id = IVF_PAGE_ID;
}

/* A new page at the end of the relation, returned exclusively locked. */
Buffer
IvfNewBuffer(Relation index, ForkNumber forknum)
{
	Buffer		buf;

	LockRelationForExtension(index, ExclusiveLock);
	buf = ReadBufferExtended(index, forknum, P_NEW, RBM_NORMAL, NULL);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	UnlockRelationForExtension(index, ExclusiveLock);
	return buf;
}

/*
 * Put one entry on a (registered, locked) page that has room: in a freed
 * slot (code pages) or after the last one.  Returns the slot.
 */
int
IvfPutEntry(Page page, int capacity, int itemsize, ItemPointer tid, const char *item)
{
	IvfPageOpaque opaque = IvfPageGetOpaque(page);
	ItemPointer tids = IvfTids(page);
	int			at = opaque->nitems;

	if (opaque->nfree > 0)
	{
		for (at = 0; at < opaque->nitems; at++)
			if (!ItemPointerIsValid(&tids[at]))
				break;
		if (at < opaque->nitems)
			opaque->nfree--;
	}
	if (at == opaque->nitems)
		opaque->nitems++;
	tids[at] = *tid;
	memcpy(IvfItems(page, capacity) + (Size) at * itemsize, item, itemsize);
	return at;
}

/* Whether a page has room for one more entry. */
bool
IvfPageHasRoom(Page page, int capacity)
{
	IvfPageOpaque opaque = IvfPageGetOpaque(page);

	return opaque->nitems < capacity || opaque->nfree > 0;
}

/* Copy the metapage, checking it is ours. */
void
IvfReadMeta(Relation index, IvfMetaPageData *meta)
{
	Buffer		buf = ReadBuffer(index, IVF_META_BLKNO);
	Page		page;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	memcpy(meta, IvfPageGetMeta(page), sizeof(IvfMetaPageData));
	UnlockReleaseBuffer(buf);
	if (meta->magic != IVF_MAGIC)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" is not a valid embq_ivf index", RelationGetRelationName(index))));
	if (meta->version != IVF_VERSION && meta->version != IVF_VERSION_FLAT)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("index \"%s\" has embq_ivf format version %u, this embq reads versions %d and %d",
						RelationGetRelationName(index), meta->version, IVF_VERSION, IVF_VERSION_FLAT),
				 errhint("Rebuild it with REINDEX.")));
}

/* Directory block holding a list. */
BlockNumber
IvfDirBlock(int list, int dir_per_page)
{
	return 1 + list / dir_per_page;
}

/* A list's entry on its (locked) directory page. */
IvfList
IvfDirEntry(Page page, int list, int dir_per_page, int codesize)
{
	return (IvfList) (PageGetContents(page) + (Size) (list % dir_per_page) * IVF_LIST_SIZE(codesize));
}
