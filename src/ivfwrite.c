/*-------------------------------------------------------------------------
 *
 * ivfwrite.c
 *		Write a new index's pages outside shared buffers, WAL-logged in
 *		batches, as nbtree's sorted build does.
 *
 * A build of a million rows writes a gigabyte of pages.  Through shared
 * buffers each page cost a relation extension (a page of zeros written to
 * the file), a buffer to evict, and a second pass to WAL-log it; here each
 * page is built in local memory, logged with 31 others in one record, and
 * written once.
 *
 * Pages get their block numbers when they are started (a page's successor on
 * a chain must be known when the page is finished), but are finished in
 * another order: a list's data page stays open while code pages fill after
 * it, and the directory at the front is filled last.  Finished pages wait
 * until the blocks before them are written; past a bound, the missing blocks
 * are written as zeros and overwritten when their pages are finished.
 *
 * Since the pages bypass shared buffers, a checkpoint during the build cannot
 * flush them.  Each write asks the checkpointer to fsync the file at its next
 * checkpoint (an unlogged index's too, for the shutdown checkpoint), which is
 * enough when no checkpoint began during the build: a later one has its redo
 * point after our WAL records and fsyncs what was asked before it.  When one
 * did begin, its redo point may lie after some of our records while it
 * fsynced before our writes, so a logged file is fsynced here before the
 * build commits.  (A permanent index built with wal_level = minimal is not
 * logged; the commit syncs it.)
 *
 *-------------------------------------------------------------------------
 */
#include "ivfbuild.h"

#include "access/xlog.h"
#include "access/xloginsert.h"
#include "storage/bufpage.h"
#include "storage/smgr.h"
#include "utils/rel.h"

/* Pages in one WAL record, as log_newpages batches them: XLR_MAX_BLOCK_ID. */
#define IVF_WRITE_BATCH XLR_MAX_BLOCK_ID
/*
 * Finished pages held back before the blocks they wait for become zeros.
 * Pages finish nearly in order (a list's data page waits for the code pages
 * opened after it), so this is reached only by unusual interleavings; it
 * bounds the writer's memory, which counts against maintenance_work_mem.
 */
#define IVF_WRITE_HOLD 64

struct IvfWriter
{
	Relation	index;
	ForkNumber	forknum;
	bool		use_wal;
	XLogRecPtr	redo_at_start;
	BlockNumber reserved;		/* block numbers handed out */
	BlockNumber ondisk;			/* the file's length in blocks */
	BlockNumber finished;		/* pages handed over */
	int			nheld;			/* finished pages not yet written, by block */
	BlockNumber held_blk[IVF_WRITE_HOLD];
	Page		held[IVF_WRITE_HOLD];
	int			nfree;			/* written pages, for reuse */
	Page		free[IVF_WRITE_BATCH + 4];
};

/* The most bytes of pages a writer holds: held, free for reuse, and in use. */
Size
IvfWriterBytes(void)
{
	return (Size) (IVF_WRITE_HOLD + IVF_WRITE_BATCH + 4 + 2) * BLCKSZ;
}

/* Start writing a new, empty fork of an index. */
IvfWriter *
IvfWriterBegin(Relation index, ForkNumber forknum)
{
	IvfWriter  *w = palloc0(sizeof(IvfWriter));

	Assert(smgrnblocks(RelationGetSmgr(index), forknum) == 0);
	w->index = index;
	w->forknum = forknum;
	/* an unlogged index's init fork must survive a crash, like any */
	w->use_wal = RelationNeedsWAL(index) || forknum == INIT_FORKNUM;
	w->redo_at_start = GetRedoRecPtr();
	return w;
}

/* The next block number, for a page to be finished later. */
BlockNumber
IvfWriterReserve(IvfWriter *w)
{
	if (w->reserved == MaxBlockNumber)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("cannot extend index \"%s\" beyond %u blocks",
						RelationGetRelationName(w->index), MaxBlockNumber)));
	return w->reserved++;
}

/* A page to fill, zeroed, in local memory. */
Page
IvfWriterPage(IvfWriter *w)
{
	Page		page;

	if (w->nfree > 0)
		page = w->free[--w->nfree];
	else
#if PG_VERSION_NUM >= 160000
		/* aligned for direct I/O (debug_io_direct), as PostgreSQL's own builds do */
		page = (Page) palloc_aligned(BLCKSZ, PG_IO_ALIGN_SIZE, 0);
#else
		page = (Page) palloc(BLCKSZ);
#endif
	memset(page, 0, BLCKSZ);
	return page;
}

/*
 * Write held pages [0, n): WAL-log them in one record, then extend the file
 * with them or overwrite the zeros that stood in for them.
 */
static void
WriteHeld(IvfWriter *w, int n)
{
	SMgrRelation smgr = RelationGetSmgr(w->index);

	Assert(n > 0 && n <= IVF_WRITE_BATCH);
	if (w->use_wal)
#if PG_VERSION_NUM >= 160000
		log_newpages(&w->index->rd_locator, w->forknum, n, w->held_blk, w->held, true);
#else
		log_newpages(&w->index->rd_node, w->forknum, n, w->held_blk, w->held, true);
#endif
	for (int i = 0; i < n; i++)
	{
		BlockNumber blk = w->held_blk[i];

		PageSetChecksumInplace(w->held[i], blk);
		/* each write asks the checkpointer for an fsync (see above) */
		if (blk < w->ondisk)
			smgrwrite(smgr, w->forknum, blk, (char *) w->held[i], false);
		else
		{
			Assert(blk == w->ondisk);
			smgrextend(smgr, w->forknum, blk, (char *) w->held[i], false);
			w->ondisk++;
		}
		if (w->nfree < lengthof(w->free))
			w->free[w->nfree++] = w->held[i];
		else
			pfree(w->held[i]);
	}
	w->nheld -= n;
	memmove(w->held_blk, w->held_blk + n, sizeof(BlockNumber) * w->nheld);
	memmove(w->held, w->held + n, sizeof(Page) * w->nheld);
}

/*
 * How many of the first held pages can be written now: those that overwrite
 * zeros, then those that extend the file without a gap.
 */
static int
WritableRun(const IvfWriter *w)
{
	BlockNumber next = w->ondisk;
	int			n = 0;

	while (n < w->nheld && n < IVF_WRITE_BATCH)
	{
		if (w->held_blk[n] < w->ondisk)
			n++;
		else if (w->held_blk[n] == next)
		{
			n++;
			next++;
		}
		else
			break;
	}
	return n;
}

/*
 * Write what can be written in full batches; with force, everything held,
 * writing zeros for the blocks still missing below it.
 */
static void
Drain(IvfWriter *w, bool force)
{
#if PG_VERSION_NUM >= 160000
	static const PGIOAlignedBlock zeros;
#else
	static const PGAlignedBlock zeros;
#endif

	while (w->nheld > 0)
	{
		int			n = WritableRun(w);

		if (n == IVF_WRITE_BATCH || (force && n > 0))
			WriteHeld(w, n);
		else if (force)
		{
			/* blocks reserved for pages not finished yet: zeros until they are */
			while (w->ondisk < w->held_blk[0])
				smgrextend(RelationGetSmgr(w->index), w->forknum, w->ondisk++,
						   (char *) zeros.data, true);
		}
		else
			break;
	}
}

/*
 * Hand over a finished page for its reserved block; the writer owns it from
 * now on.
 */
void
IvfWriterFinish(IvfWriter *w, BlockNumber blkno, Page page)
{
	int			at = w->nheld;

	Assert(blkno < w->reserved);
	/* keep them ordered by block: pages come nearly in order, so few move */
	while (at > 0 && w->held_blk[at - 1] > blkno)
	{
		w->held_blk[at] = w->held_blk[at - 1];
		w->held[at] = w->held[at - 1];
		at--;
	}
	Assert(at == 0 || w->held_blk[at - 1] != blkno);
	w->held_blk[at] = blkno;
	w->held[at] = page;
	w->nheld++;
	w->finished++;
	Drain(w, w->nheld == IVF_WRITE_HOLD);
}

/*
 * Write every page held and make the fork durable.  Every reserved block
 * must have been finished.
 */
void
IvfWriterEnd(IvfWriter *w)
{
	SMgrRelation smgr;

	/* a reserved block never finished would stay a page of zeros */
	if (w->finished != w->reserved)
		elog(ERROR, "index \"%s\": %u blocks reserved but %u finished",
			 RelationGetRelationName(w->index), w->reserved, w->finished);
	Drain(w, true);
	Assert(w->ondisk == w->reserved);
	smgr = RelationGetSmgr(w->index);

	/*
	 * A checkpoint that began during the build may have its redo point after
	 * some of our records and have fsynced before our writes.  The init fork
	 * is always synced (nothing else would), as ambuildempty's callers expect.
	 */
	if (w->use_wal && w->forknum == INIT_FORKNUM)
		smgrimmedsync(smgr, w->forknum);
	else if (w->use_wal && GetRedoRecPtr() != w->redo_at_start)
	{
		smgrimmedsync(smgr, w->forknum);
		elog(DEBUG1, "index \"%s\" fsynced: a checkpoint began while it was written",
			 RelationGetRelationName(w->index));
	}
	for (int i = 0; i < w->nfree; i++)
		pfree(w->free[i]);
	pfree(w);
}
