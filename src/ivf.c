/*-------------------------------------------------------------------------
 *
 * ivf.c
 *		embq_ivf access method handler: the AM routine, index options, cost
 *		estimate, settings, and the operator classes' metric functions.
 *
 *-------------------------------------------------------------------------
 */
#include "ivf.h"

#include <float.h>
#include <math.h>

#include "access/relscan.h"
#include "access/relation.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "commands/defrem.h"
#include "funcapi.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "commands/vacuum.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "utils/rel.h"
#include "utils/selfuncs.h"

int			embq_ivf_probes = 80;
int			embq_ivf_max_probes = 0;
int			embq_ivf_rescore_factor = 4;

static relopt_kind ivf_relopt_kind;

static relopt_enum_elt_def ivf_layout_values[] = {
	{"auto", IVF_LAYOUT_AUTO},
	{"signs", IVF_LAYOUT_SIGNS},
	{"flat", IVF_LAYOUT_FLAT},
	{(const char *) NULL}
};

/* Register the reloptions and GUCs (from _PG_init). */
void
IvfInitGucs(void)
{
	ivf_relopt_kind = add_reloption_kind();
	add_int_reloption(ivf_relopt_kind, "lists",
					  "Number of inverted lists (0: derived from the row count)",
					  0, 0, 65536, AccessExclusiveLock);
	add_int_reloption(ivf_relopt_kind, "sample_rows",
					  "Rows sampled to train the centroids (0: 50 per list)",
					  0, 0, INT_MAX, AccessExclusiveLock);
	add_enum_reloption(ivf_relopt_kind, "layout",
					   "How data pages hold i8vec codes: flat (the codes, scored exactly), "
					   "signs (residual sign bits, rescored from the codes), or auto",
					   ivf_layout_values, IVF_LAYOUT_AUTO,
					   "Valid values are \"auto\", \"flat\" and \"signs\".",
					   AccessExclusiveLock);

	DefineCustomIntVariable("embq.probes", "Lists an embq_ivf scan probes first.",
							"More probes give better recall and slower scans.",
							&embq_ivf_probes, 80, 1, 65536, PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("embq.max_probes",
							"Lists an embq_ivf scan may probe when the executor wants more rows "
							"than the first probes gave (0: all lists).",
							NULL, &embq_ivf_max_probes, 0, 0, 65536, PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("embq.rescore_factor",
							"Candidates per wanted row that the coarse pass keeps for exact rescoring "
							"(1: no rescoring).",
							NULL, &embq_ivf_rescore_factor, 4, 1, 1000, PGC_USERSET, 0,
							NULL, NULL, NULL);
}

/* Parse WITH (lists = ..., sample_rows = ..., layout = ...). */
static bytea *
ivfoptions(Datum reloptions, bool validate)
{
	static const relopt_parse_elt tab[] = {
		{"lists", RELOPT_TYPE_INT, offsetof(IvfOptions, lists)},
		{"sample_rows", RELOPT_TYPE_INT, offsetof(IvfOptions, sample_rows)},
		{"layout", RELOPT_TYPE_ENUM, offsetof(IvfOptions, layout)},
	};

	return (bytea *) build_reloptions(reloptions, validate, ivf_relopt_kind,
									  sizeof(IvfOptions), tab, lengthof(tab));
}

/*
 * Cost: the data pages of the probed fraction of the index, plus (i8vec)
 * one code page per rescored candidate, all of it spent before the first
 * row (the scan ranks every probed entry first).  Without ORDER BY the
 * index cannot help at all.
 */
static void
ivfcostestimate(PlannerInfo *root, IndexPath *path, double loop_count,
				Cost *indexStartupCost, Cost *indexTotalCost,
				Selectivity *indexSelectivity, double *indexCorrelation,
				double *indexPages)
{
	GenericCosts costs;
	Relation	index;
	IvfMetaPageData meta;
	double		ratio,
				entries,
				rescored;

	if (path->indexorderbys == NIL)
	{
		*indexStartupCost = get_float8_infinity();
		*indexTotalCost = get_float8_infinity();
		*indexSelectivity = 0;
		*indexCorrelation = 0;
		*indexPages = 0;
		return;
	}

	index = index_open(path->indexinfo->indexoid, NoLock);
	IvfReadMeta(index, &meta);
	index_close(index, NoLock);

	MemSet(&costs, 0, sizeof(costs));
	genericcostestimate(root, path, loop_count, &costs);
	ratio = meta.lists > 0 ? Min(1.0, (double) embq_ivf_probes / meta.lists) : 1.0;
	entries = path->indexinfo->tuples * ratio;
	/* candidates sit in the probed lists: at most their code pages */
	rescored = Min((double) IvfRescoreBatch(meta.dims, meta.codecapacity, embq_ivf_rescore_factor),
				   meta.codecapacity > 0 ? ceil(entries / meta.codecapacity) : 0);
	costs.numIndexPages = Max(1.0, ceil(entries / Max(1, meta.capacity))) + rescored;

	/*
	 * A build writes each list's pages one after another, so a probed list
	 * reads like a sequential scan; its entries are scored in bulk by the
	 * kernels, one operator cost each.  Rescoring reads code pages at random.
	 */
	costs.indexTotalCost = (costs.numIndexPages - rescored) * seq_page_cost +
		rescored * random_page_cost + entries * cpu_operator_cost;
	*indexStartupCost = costs.indexTotalCost;
	*indexTotalCost = costs.indexTotalCost;
	*indexSelectivity = costs.indexSelectivity;
	*indexCorrelation = 0;
	*indexPages = costs.numIndexPages;
}

/* Operator classes are checked when they are created; nothing more here. */
static bool
ivfvalidate(Oid opclassoid)
{
	return true;
}

/* Names of the build phases for pg_stat_progress_create_index. */
static char *
ivfbuildphasename(int64 phasenum)
{
	switch (phasenum)
	{
		case PROGRESS_CREATEIDX_SUBPHASE_INITIALIZE:
			return "initializing";
		case PROGRESS_IVF_PHASE_SAMPLE:
			return "sampling rows";
		case PROGRESS_IVF_PHASE_TRAIN:
			return "training centroids (CPU)";
		case PROGRESS_IVF_PHASE_ASSIGN:
			return "assigning rows to lists (CPU)";
		case PROGRESS_IVF_PHASE_WRITE:
			return "writing lists";
		case PROGRESS_IVF_PHASE_TRAIN_GPU:
			return "training centroids (GPU)";
		case PROGRESS_IVF_PHASE_ASSIGN_GPU:
			return "assigning rows to lists (GPU)";
		default:
			return NULL;
	}
}

PG_FUNCTION_INFO_V1(embq_ivf_handler);
/* The access method handler. */
Datum
embq_ivf_handler(PG_FUNCTION_ARGS)
{
	IndexAmRoutine *amroutine = makeNode(IndexAmRoutine);

	amroutine->amstrategies = 0;
	amroutine->amsupport = 1;
#if PG_VERSION_NUM >= 130000
	amroutine->amoptsprocnum = 0;
#endif
	amroutine->amcanorder = false;
	amroutine->amcanorderbyop = true;
	amroutine->amcanbackward = false;
	amroutine->amcanunique = false;
	amroutine->amcanmulticol = false;
	amroutine->amoptionalkey = true;
	amroutine->amsearcharray = false;
	amroutine->amsearchnulls = false;
	amroutine->amstorage = false;
	amroutine->amclusterable = false;
	amroutine->ampredlocks = false;
	amroutine->amcanparallel = false;
#if PG_VERSION_NUM >= 170000
	amroutine->amcanbuildparallel = false;
#endif
	amroutine->amcaninclude = false;
#if PG_VERSION_NUM >= 130000
	amroutine->amusemaintenanceworkmem = true;
	amroutine->amparallelvacuumoptions = VACUUM_OPTION_PARALLEL_BULKDEL;
#endif
#if PG_VERSION_NUM >= 160000
	amroutine->amsummarizing = false;
#endif
	amroutine->amkeytype = InvalidOid;

	amroutine->ambuild = ivfbuild;
	amroutine->ambuildempty = ivfbuildempty;
	amroutine->aminsert = ivfinsert;
#if PG_VERSION_NUM >= 170000
	amroutine->aminsertcleanup = NULL;
#endif
	amroutine->ambulkdelete = ivfbulkdelete;
	amroutine->amvacuumcleanup = ivfvacuumcleanup;
	amroutine->amcanreturn = NULL;
	amroutine->amcostestimate = ivfcostestimate;
	amroutine->amoptions = ivfoptions;
	amroutine->amproperty = NULL;
	amroutine->ambuildphasename = ivfbuildphasename;
	amroutine->amvalidate = ivfvalidate;
#if PG_VERSION_NUM >= 140000
	amroutine->amadjustmembers = NULL;
#endif
	amroutine->ambeginscan = ivfbeginscan;
	amroutine->amrescan = ivfrescan;
	amroutine->amgettuple = ivfgettuple;
	amroutine->amgetbitmap = NULL;
	amroutine->amendscan = ivfendscan;
	amroutine->ammarkpos = NULL;
	amroutine->amrestrpos = NULL;
	amroutine->amestimateparallelscan = NULL;
	amroutine->aminitparallelscan = NULL;
	amroutine->amparallelrescan = NULL;

	PG_RETURN_POINTER(amroutine);
}

#define IVF_METRIC_FUNC(name, metric) \
PG_FUNCTION_INFO_V1(name); \
Datum \
name(PG_FUNCTION_ARGS) \
{ \
	PG_RETURN_INT32(metric); \
}

/* Support function 1 of each operator class: which metric it ranks by. */
IVF_METRIC_FUNC(embq_ivf_hamming_metric, IVF_METRIC_HAMMING)
IVF_METRIC_FUNC(embq_ivf_bit_ip_metric, IVF_METRIC_BIT_IP)
IVF_METRIC_FUNC(embq_ivf_l2_metric, IVF_METRIC_L2)
IVF_METRIC_FUNC(embq_ivf_ip_metric, IVF_METRIC_IP)
IVF_METRIC_FUNC(embq_ivf_cosine_metric, IVF_METRIC_COSINE)

/*
 * Error unless the current user may read an index's metadata: the owner of
 * its table, or a role with privileges of pg_read_all_stats or
 * pg_stat_scan_tables (what pgstattuple's pgstatindex asks for), whatever
 * EXECUTE grants say.
 */
static void
CheckIvfInfoPrivilege(Relation index)
{
	Oid			relid = index->rd_index->indrelid;
	Oid			user = GetUserId();

#if PG_VERSION_NUM >= 160000
	if (object_ownercheck(RelationRelationId, relid, user))
		return;
#else
	if (pg_class_ownercheck(relid, user))
		return;
#endif
	if (has_privs_of_role(user, ROLE_PG_READ_ALL_STATS) ||
		has_privs_of_role(user, ROLE_PG_STAT_SCAN_TABLES))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for index %s", RelationGetRelationName(index)),
			 errdetail("Only the owner of the index's table and roles with privileges of the \"pg_read_all_stats\" or \"pg_stat_scan_tables\" role may read its metadata.")));
}

PG_FUNCTION_INFO_V1(embq_ivf_info);
/*
 * embq_ivf_info(index): what an embq_ivf index holds and how it was built
 * (from its metapage).
 */
Datum
embq_ivf_info(PG_FUNCTION_ARGS)
{
	Oid			indexoid = PG_GETARG_OID(0);
	Relation	index = try_relation_open(indexoid, AccessShareLock);
	IvfMetaPageData meta;
	TupleDesc	tupdesc;
	Datum		values[8];
	bool		nulls[8] = {false};
	static const char *const metrics[] = {"", "hamming", "bit_ip", "l2", "ip", "cosine"};

	if (index == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", indexoid)));
	if (index->rd_rel->relkind != RELKIND_INDEX ||
		index->rd_rel->relam != get_index_am_oid("embq_ivf", false))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an embq_ivf index", RelationGetRelationName(index))));
	CheckIvfInfoPrivilege(index);
	IvfReadMeta(index, &meta);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = Int32GetDatum(meta.lists);
	values[1] = Int32GetDatum(meta.dims);
	values[2] = CStringGetTextDatum(meta.metric >= 1 && meta.metric <= 5 ? metrics[meta.metric] : "?");
	values[3] = Int32GetDatum(meta.capacity);
	values[4] = CStringGetTextDatum((meta.build_path & IVF_BUILD_GPU_TRAIN) ? "gpu" : "cpu");
	values[5] = CStringGetTextDatum((meta.build_path & IVF_BUILD_GPU_ASSIGN) ? "gpu" : "cpu");
	values[6] = Int32GetDatum(meta.build_workers);
	values[7] = CStringGetTextDatum(IvfKindOf(meta.metric, meta.codecapacity == 0)->layout);
	relation_close(index, AccessShareLock);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
