/*-------------------------------------------------------------------------
 *
 * ivf.h
 *		embq_ivf: an inverted-file index over bitvec and i8vec codes.
 *
 * Layout of the index relation:
 *   block 0            metapage (IvfMetaPageData)
 *   blocks 1..ndir     list directory: one IvfListData per list, holding its
 *                      centroid (in the column's code format) and the first
 *                      and insert pages of its chains
 *   other blocks       data pages, chained per list; each holds a dense array
 *                      of heap TIDs followed by a dense array of fixed-size
 *                      items, so a scan streams them straight through the
 *                      kernels; and, for i8vec, code pages (same shape)
 *
 * A "code" is what the column stores, without varlena header: for bitvec the
 * packed bits, for i8vec a float4 scale followed by the int8 codes.
 *
 * bitvec: a data page item is the code; the coarse pass is exact.
 * i8vec: a data page item is an IvfCoarseItem (the sign bits of the codes,
 * two floats that turn a sign-bit score into a distance estimate, and where
 * the full code is), 1/7 of the code's size at 1024 dimensions; the codes
 * live on a second chain of code pages, read only to rescore candidates.
 * Code slots never move (VACUUM marks them free with an invalid TID, inserts
 * reuse them), so a coarse item's address stays valid; a scan checks the TID
 * at the address and skips a slot that was freed or reused meanwhile.
 *
 * Every page change goes through generic WAL.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EMBQ_IVF_H
#define EMBQ_IVF_H

#include "postgres.h"

#include <math.h>

#include "access/amapi.h"
#include "access/generic_xlog.h"
#include "access/reloptions.h"
#include "nodes/execnodes.h"
#include "nodes/pathnodes.h"
#include "storage/bufmgr.h"
#include "utils/relcache.h"

#include "embq.h"

#define IVF_MAGIC			0x45495646	/* "EIVF" */
/*
 * Format versions: 2 for bitvec and i8vec signs indexes, 3 for i8vec flat
 * ones, so that an embq from before the flat layout, which would read codes
 * as sign-bit items, refuses them instead (it reads 2 only).
 */
#define IVF_VERSION			2
#define IVF_VERSION_FLAT	3
#define IVF_PAGE_ID			0xEB51
#define IVF_META_BLKNO		0

/* page kinds, in IvfPageOpaqueData.flags */
#define IVF_META			1
#define IVF_DIR				2
#define IVF_DATA			3
#define IVF_CODE			4

/* metrics, chosen by the operator class's support function 1 */
#define IVF_METRIC_HAMMING	1	/* bitvec <~> bitvec */
#define IVF_METRIC_BIT_IP	2	/* bitvec <#> real[] */
#define IVF_METRIC_L2		3	/* i8vec <-> */
#define IVF_METRIC_IP		4	/* i8vec <#> */
#define IVF_METRIC_COSINE	5	/* i8vec <=> */

#define IVF_METRIC_IS_BIT(m) ((m) == IVF_METRIC_HAMMING || (m) == IVF_METRIC_BIT_IP)

/* i8vec columns: a code (scale + codes) and its TID must fit on a data page */
#define IVF_I8_MAX_DIM		8000

/* build phases reported in pg_stat_progress_create_index */
#define PROGRESS_IVF_PHASE_SAMPLE	2
#define PROGRESS_IVF_PHASE_TRAIN	3
#define PROGRESS_IVF_PHASE_ASSIGN	4
#define PROGRESS_IVF_PHASE_WRITE	5
#define PROGRESS_IVF_PHASE_TRAIN_GPU	6
#define PROGRESS_IVF_PHASE_ASSIGN_GPU	7

/*
 * Layouts of an i8vec index (WITH (layout = ...)).  signs: a data page item
 * is an IvfCoarseItem and the codes sit on code pages, rescored; flat: a
 * data page item is the code itself, so the coarse pass is exact (as for
 * bitvec, which is always flat).  The metapage tells them apart by
 * codecapacity (0: flat), so indexes built before the option read as before.
 */
#define IVF_LAYOUT_AUTO		0
#define IVF_LAYOUT_SIGNS	1
#define IVF_LAYOUT_FLAT		2

/*
 * auto picks flat up to this many dimensions.  A flat row costs in
 * proportion to its bytes (about 50 ns at 128 dimensions, 110 at 256 on
 * the benchmark machine, where a scan is bound by memory), a signs row far
 * less but for the rescoring, whose share grows as dimensions shrink: at
 * recall 0.95 flat was 1.4x and 1.9x faster at 128 dimensions (two data
 * sets), signs 1.9x faster at 256 and 2.2x at 384; the crossover,
 * log-interpolated, near 160 (docs/BENCHMARKS.md).
 */
#define IVF_FLAT_MAX_AUTO_DIM	160

/* IvfMetaPageData.build_path bits: which steps ran on the GPU */
#define IVF_BUILD_GPU_TRAIN		1
#define IVF_BUILD_GPU_ASSIGN	2

typedef struct IvfPageOpaqueData
{
	BlockNumber nextblkno;		/* data pages: next page of the list */
	uint16		nitems;			/* data pages: entries on the page; code pages:
								 * slots in use or freed */
	uint16		flags;			/* IVF_META, IVF_DIR, IVF_DATA or IVF_CODE */
	uint16		nfree;			/* code pages: freed slots below nitems */
	uint16		page_id;		/* IVF_PAGE_ID, for pg_filedump */
} IvfPageOpaqueData;

typedef IvfPageOpaqueData *IvfPageOpaque;

#define IvfPageGetOpaque(page) ((IvfPageOpaque) PageGetSpecialPointer(page))

typedef struct IvfMetaPageData
{
	uint32		magic;
	uint32		version;
	int32		dims;
	int32		metric;
	int32		lists;
	int32		codesize;		/* bytes of one code */
	int32		itemsize;		/* bytes of one data page item */
	int32		capacity;		/* entries per data page */
	int32		codecapacity;	/* codes per code page; 0 for bitvec */
	int32		dir_per_page;	/* directory entries per directory page */
	BlockNumber ndirpages;		/* directory pages, blocks 1 .. ndirpages */
	uint32		build_path;		/* IVF_BUILD_GPU_* bits; 0 = all on the CPU */
	int32		build_workers;	/* parallel workers that assigned rows */
} IvfMetaPageData;

typedef IvfMetaPageData *IvfMetaPage;

#define IvfPageGetMeta(page) ((IvfMetaPage) PageGetContents(page))

/* One list in the directory; the centroid's code follows (codesize bytes). */
typedef struct IvfListData
{
	BlockNumber startpage;		/* first data page, or InvalidBlockNumber */
	BlockNumber insertpage;		/* where inserts start looking for room */
	BlockNumber codestart;		/* the same two for the code pages (i8vec) */
	BlockNumber codeinsert;
	int64		count;			/* live entries, as of the last build/vacuum */
	char		centroid[FLEXIBLE_ARRAY_MEMBER];
} IvfListData;

typedef IvfListData *IvfList;

/* A list's chain of data pages or (codes = true) of code pages. */
#define IvfChainStart(l, codes) ((codes) ? &(l)->codestart : &(l)->startpage)
#define IvfChainInsert(l, codes) ((codes) ? &(l)->codeinsert : &(l)->insertpage)

/*
 * An i8vec data page item.  With x the row's vector (for cosine, scaled to
 * unit length), c its list's centroid, s the sign vector of the residual
 * r = x - c (+1 where positive, -1 elsewhere) and alpha = |r|^2 / sum |r_j|
 * (see SignsCoarseItem in ivfsigns.c), q . x is estimated by q . c + alpha * (q . s),
 * and the coarse pass estimates the distance
 * as a * (q . s) + w * (q . c) + b, with q . c computed once per list:
 * L2 (squared, |q|^2 dropped) a = -2 alpha, w = -2, b = |x|^2; inner
 * product a = -alpha, w = -1, b = 0; cosine (|q| dropped) a = -alpha,
 * w = -1, b = 0, or a = w = 0, b = infinity for a zero vector, which ranks
 * last.  Residuals make the bits say where a row sits within its list,
 * whatever the data's offset (a non-negative vector has no sign to keep).
 */
typedef struct IvfCoarseItem
{
	BlockNumber codeblk;		/* the code page holding the row's code */
	uint16		codeoff;		/* its slot there */
	uint16		pad;
	float		a;
	float		w;
	float		b;
	uint8		mask[FLEXIBLE_ARRAY_MEMBER];	/* residual sign bits, LSB-first */
} IvfCoarseItem;

#define IVF_LIST_SIZE(codesize) MAXALIGN(offsetof(IvfListData, centroid) + (codesize))

/* Index options (WITH (...)) */
typedef struct IvfOptions
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	int			lists;			/* 0 = derived from the row count */
	int			sample_rows;	/* 0 = 50 per list */
	int			layout;			/* IVF_LAYOUT_* */
} IvfOptions;

/* GUCs */
extern int	embq_ivf_probes;
extern int	embq_ivf_max_probes;
extern int	embq_ivf_rescore_factor;

/* What the index needs to know about its column and metric. */
typedef struct IvfKindOps IvfKindOps;

typedef struct IvfInfo
{
	const IvfKindOps *ops;		/* the index kind's operations */
	int			metric;
	bool		spherical;		/* cosine: rows rank by direction, and k-means
								 * trains on them at unit length */
	int			dims;
	int			codesize;
	int			itemsize;		/* data page item: the code, or an IvfCoarseItem */
	int			capacity;
	int			codecapacity;	/* 0: no code pages (bitvec, flat i8vec): the
								 * coarse pass is exact */
	const EmbqKernels *kern;
} IvfInfo;

/*
 * A query, prepared once per scan: the query's own code (for bitvec queries
 * and for the i8vec coarse pass) and, for a real[] query, the floats for the
 * exact rescoring.
 */
typedef struct IvfQuery
{
	const IvfInfo *info;
	bool		asymmetric;		/* real[] query against codes */
	char	   *code;			/* the query in code format (codesize bytes) */
	float	   *floats;			/* asymmetric only: the float query */
	double		qq;				/* asymmetric only: |q|^2 */
	/*
	 * i8vec: the query's int8 code approximated as lo + step * u[j] with
	 * u[j] < 2^IVF_QUERY_PLANES, held as bit planes for the coarse pass, and
	 * the sum of that approximation over all dimensions
	 */
	uint8	   *planes;
	double		lo;
	double		step;
	double		total;
	uint64	   *sums;			/* plane_sums output, one page's items */
	/* flat i8vec, real[] query: kernel outputs, one page's items */
	double	   *dots;
	int64_t    *norms;			/* the kernels' type (int64 may differ) */
} IvfQuery;

/*
 * Metapage and centroids, cached in the relcache entry (rd_amcache).  The
 * relcache frees rd_amcache whenever it processes an invalidation of the
 * index, which any lock acquisition or catalog lookup can do: detoasting a
 * value (it opens the toast relation), a syscache miss, opening a relation.
 * So a pointer from IvfGetCache is good only until the next such call:
 * copy what must live longer (meta, info) and call IvfGetCache again after
 * any of them.
 */
typedef struct IvfCache
{
	IvfMetaPageData meta;
	IvfInfo		info;
	char	   *centroids;		/* meta.lists codes, packed */
	double	   *csqnorm;		/* i8vec: |centroid|^2 of each list */
} IvfCache;

/*
 * Total order on distances and scores, NaN last (as float8 sorts): a
 * comparator that is not total lets a selection or heap run off its array.
 */
static inline int
IvfDistanceCmp(double a, double b)
{
	if (a < b)
		return -1;
	if (a > b)
		return 1;
	if (a == b)
		return 0;
	return isnan(a) ? (isnan(b) ? 0 : 1) : -1;
}

/* Scale of an i8vec code (stored unaligned before the codes). */
static inline float
CodeScale(const char *code)
{
	float		s;

	memcpy(&s, code, sizeof(float));
	return s;
}

/* The int8 codes of an i8vec code, after its scale. */
#define CodeInt8(code) ((const int8_t *) ((code) + sizeof(float)))

/*
 * What differs between the kinds of embq_ivf index, chosen once where an
 * index's IvfInfo is filled in (IvfInfoFor for a build, IvfGetCache for an
 * index on disk): the build, insert, scan and vacuum call through it and
 * never test the kind.  Three kinds: bitvec (data pages hold the codes; the
 * coarse pass is exact), i8vec flat (the same, scored by the item kernels)
 * and i8vec signs (data pages hold IvfCoarseItems, the codes a second
 * chain of code pages; candidates are rescored).  What differs between the
 * metrics of a kind stays in its file.
 */
struct IvfKindOps
{
	const char *type_name;		/* the column type */
	const char *layout;			/* as embq_ivf_info shows it */
	uint32		version;		/* the format version it writes */
	bool		rescores;		/* code pages, a coarse item per row */
	int			max_dims;		/* the most dimensions it indexes */
	int			max_query_dim;	/* a real[] query's limit, the type's */
	/* bytes of a code, and of a data page item */
	int			(*code_size) (int dims);
	int			(*item_size) (int dims);
	/* a column value (a datum of the column's type) as a code */
	void		(*datum_to_code) (const IvfInfo *info, Datum value, char *code);
	/* a real[] query's own code, for the coarse pass */
	void		(*query_code) (const IvfInfo *info, const float *x, char *code);
	/* per-scan state of the item scoring */
	void		(*prepare_query) (IvfQuery *q);
	/*
	 * each list's rank for a query (smaller is nearer) and the term of its
	 * rows' estimate that is the same for the whole list (list_dot)
	 */
	void		(*rank_lists) (const IvfQuery *q, const char *centroids, const double *csqnorm,
							   int lists, double *list_dot, double *rank);
	/* coarse distances of n consecutive data page items, in ranking order */
	void		(*score_items) (const IvfQuery *q, const char *items, int n, double qc, double *out);
	/* the value the ORDER BY operator returns for a stored code */
	double		(*exact_distance) (const IvfQuery *q, const char *code);
	/* the data page item of a code in a list, when items are not codes */
	void		(*coarse_item) (const IvfInfo *info, const char *code, const char *centroid,
								BlockNumber codeblk, int codeoff, char *item);
	/* the list whose centroid is nearest to a code: where a row goes */
	int			(*nearest_list) (const IvfInfo *info, const char *code, const char *centroids,
								 int lists);
	/* |centroid|^2 of each list, for rank_lists; NULL when it needs none */
	void		(*centroid_norms) (const IvfInfo *info, const char *centroids, int lists,
								   double *out);

	/*
	 * Training and assignment.  k-means runs on training codes (i8vec codes,
	 * IvfTrainCodeSize): training_codes makes them from n codes, NULL when the
	 * codes already are.  assign_keys gives a list's terms of the blocked
	 * assignment (see ivfassign.c) and assign_factor a row's; NULL: rows are
	 * assigned one at a time by nearest_list.
	 */
	void		(*training_codes) (const IvfInfo *info, const char *codes, int n, char *out);
	void		(*code_to_floats) (const IvfInfo *info, const char *code, float *out);
	void		(*floats_to_centroid) (const IvfInfo *info, const float *x, char *code);
	void		(*assign_keys) (const IvfInfo *info, const char *centroid, double *cadd,
								double *cmul);
	float		(*assign_factor) (const IvfInfo *info, float rowscale);
};

/* Whether an index's coarse pass scores the codes themselves (no rescoring). */
#define IvfIsFlat(info) (!(info)->ops->rescores)

/* ivfinfo.c */
extern const IvfKindOps *IvfKindOf(int metric, bool flat);
extern IvfCache *IvfGetCache(Relation index);
extern void IvfInfoFor(int metric, int dims, bool flat, IvfInfo *info);
extern bool IvfChooseFlat(int metric, int dims, int layout);
extern int	IvfMetricOf(Relation index);
extern void IvfQueryFromDatum(const IvfInfo *info, Datum value, Oid type, IvfQuery *q);
extern void IvfQueryFromFloats(const IvfInfo *info, const float *x, int dim, IvfQuery *q);
extern int	IvfRescoreBatch(int dims, int codecapacity, int factor);

/* ivfpage.c */
extern int	IvfCapacity(int itemsize);
extern int	IvfDirPerPage(int codesize);
extern void IvfInitPage(Page page, uint16 flags);
extern Buffer IvfNewBuffer(Relation index, ForkNumber forknum);
extern int	IvfPutEntry(Page page, int capacity, int itemsize, ItemPointer tid, const char *item);
extern bool IvfPageHasRoom(Page page, int capacity);
extern void IvfReadMeta(Relation index, IvfMetaPageData *meta);
extern BlockNumber IvfDirBlock(int list, int dir_per_page);
extern IvfList IvfDirEntry(Page page, int list, int dir_per_page, int codesize);

/* ivfbits.c, ivfint8.c, ivfsigns.c: the kinds */
extern const IvfKindOps IvfBitOps;
extern const IvfKindOps IvfI8FlatOps;
extern const IvfKindOps IvfI8SignsOps;

/* ivfint8.c: what the two i8vec kinds share, and their tables' entries for it */
extern int	IvfI8CodeSize(int dims);
extern void IvfI8DatumToCode(const IvfInfo *info, Datum value, char *code);
extern void IvfI8QueryCode(const IvfInfo *info, const float *x, char *code);
extern void IvfI8RankLists(const IvfQuery *q, const char *centroids, const double *csqnorm,
						   int lists, double *list_dot, double *rank);
extern double IvfI8ExactDistance(const IvfQuery *q, const char *code);
extern int	IvfI8NearestList(const IvfInfo *info, const char *code, const char *centroids, int lists);
extern void IvfI8CentroidNorms(const IvfInfo *info, const char *centroids, int lists, double *out);
extern void IvfI8CodeToFloats(const IvfInfo *info, const char *code, float *out);
extern void IvfI8FloatsToCentroid(const IvfInfo *info, const float *x, char *code);
extern void IvfI8AssignKeys(const IvfInfo *info, const char *centroid, double *cadd, double *cmul);
extern float IvfI8AssignFactor(const IvfInfo *info, float rowscale);

#define IVF_I8_COMMON_OPS \
	.type_name = "i8vec", \
	.max_dims = IVF_I8_MAX_DIM, \
	.max_query_dim = I8VEC_MAX_DIM, \
	.code_size = IvfI8CodeSize, \
	.datum_to_code = IvfI8DatumToCode, \
	.query_code = IvfI8QueryCode, \
	.rank_lists = IvfI8RankLists, \
	.exact_distance = IvfI8ExactDistance, \
	.nearest_list = IvfI8NearestList, \
	.centroid_norms = IvfI8CentroidNorms, \
	.training_codes = NULL, \
	.code_to_floats = IvfI8CodeToFloats, \
	.floats_to_centroid = IvfI8FloatsToCentroid, \
	.assign_keys = IvfI8AssignKeys, \
	.assign_factor = IvfI8AssignFactor

#define IvfTids(page) ((ItemPointer) PageGetContents(page))
#define IvfItems(page, capacity) \
	((char *) PageGetContents(page) + MAXALIGN(sizeof(ItemPointerData) * (capacity)))

/* Item size and capacity of a data page (codes = false) or code page. */
#define IvfChainItemSize(info, codes) ((codes) ? (info)->codesize : (info)->itemsize)
#define IvfChainCapacity(info, codes) ((codes) ? (info)->codecapacity : (info)->capacity)

/* ivfbuild.c */
extern IndexBuildResult *ivfbuild(Relation heap, Relation index, IndexInfo *indexInfo);
extern void ivfbuildempty(Relation index);

/* ivfinsert.c */
extern bool ivfinsert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid,
					  Relation heap, IndexUniqueCheck checkUnique
#if PG_VERSION_NUM >= 140000
					  ,bool indexUnchanged
#endif
					  ,IndexInfo *indexInfo);

/* ivfscan.c */
typedef struct IvfScanOpaqueData IvfScanOpaqueData;
typedef IvfScanOpaqueData *IvfScanOpaque;
extern IvfScanOpaque IvfScanCreate(void);
extern void IvfScanFree(IvfScanOpaque so);
extern void IvfScanStart(Relation index, IvfScanOpaque so, Datum arg, Oid type, bool isnull);
extern bool IvfScanNext(Relation index, IvfScanOpaque so, ItemPointer tid, double *distance);
extern void IvfScanFirstSegments(Relation index, IvfScanOpaque *scans, int n);
extern IndexScanDesc ivfbeginscan(Relation index, int nkeys, int norderbys);
extern void ivfrescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys, int norderbys);
extern bool ivfgettuple(IndexScanDesc scan, ScanDirection dir);
extern void ivfendscan(IndexScanDesc scan);

/* ivfvacuum.c */
extern IndexBulkDeleteResult *ivfbulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
											IndexBulkDeleteCallback callback, void *callback_state);
extern IndexBulkDeleteResult *ivfvacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats);

/* ivf.c */
extern void IvfInitGucs(void);

#endif							/* EMBQ_IVF_H */
