/*-------------------------------------------------------------------------
 *
 * gpu.c
 *		Load the GPU library (embq.gpu_library, by default
 *		$libdir/libembq_cuda.so) with dlopen on first use in a backend, never
 *		at server start or in the postmaster, and never linking the CUDA
 *		driver: a server without a GPU, a driver or the library starts and
 *		works on the CPU.  A loaded library stays loaded, with the outcome of
 *		its probe (the interface, or why not), for the life of the backend.
 *
 *		What the library returns is checked before the build uses it
 *		(EmbqGpuAssign, EmbqGpuKmeansTrain): a list number out of range or a
 *		centroid no k-means can produce is a GPU failure, never a write out
 *		of bounds or a corrupt index.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dlfcn.h>
#include <math.h>

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "gpu.h"

int			embq_gpu_mode = EMBQ_GPU_AUTO;

static const struct config_enum_entry gpu_options[] = {
	{"off", EMBQ_GPU_OFF, false},
	{"auto", EMBQ_GPU_AUTO, false},
	{"on", EMBQ_GPU_ON, false},
	{"false", EMBQ_GPU_OFF, true},
	{"true", EMBQ_GPU_ON, true},
	{NULL, 0, false}
};

/* embq.gpu_library: empty for the default */
char	   *embq_gpu_library = NULL;

/*
 * The library loaded in this backend (empty: none yet), and the outcome of
 * its probe: the interface, or why it is unusable.  It is never unloaded:
 * unloading CUDA's runtime is not safe.
 */
static char loaded_path[MAXPGPATH];
static const EmbqGpuApi *gpu_api = NULL;
static EmbqGpuDevice gpu_device;
static char gpu_reason[256];

/* The library that could not be loaded last, and why (a cache, so as not to retry it). */
static char failed_path[MAXPGPATH];
static char failed_reason[256 + MAXPGPATH];

/* Register embq.gpu and embq.gpu_library (from _PG_init). */
void
EmbqGpuInitGuc(void)
{
	DefineCustomEnumVariable("embq.gpu",
							 "Whether embq offloads index builds and exact batch searches to an NVIDIA GPU.",
							 "off: never; auto: when one is usable, else the CPU; "
							 "on: always, and an error when none is usable.",
							 &embq_gpu_mode, EMBQ_GPU_AUTO, gpu_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);

	/*
	 * Superuser only, since the backend runs the library's code.  Not
	 * PGC_POSTMASTER: embq is not in shared_preload_libraries, where alone
	 * an extension may define such a setting.  A session keeps the library
	 * it loaded first (see EmbqGpuUsable).
	 */
	DefineCustomStringVariable("embq.gpu_library",
							   "The GPU library embq loads.",
							   "Empty: $libdir/libembq_cuda.so.  A relative path is taken "
							   "relative to $libdir.  A session that has loaded a library "
							   "keeps it: a change takes effect in new sessions.",
							   &embq_gpu_library, "", PGC_SUSET, 0, NULL, NULL, NULL);
}

/*
 * The path embq.gpu_library names: the default library when empty, else the
 * setting, relative to $libdir unless absolute (a leading "$libdir/" is
 * allowed, as in dynamic_library_path).
 */
static void
LibraryPath(char *path)
{
	const char *lib = embq_gpu_library ? embq_gpu_library : "";
	char		pkglib[MAXPGPATH];

	if (strncmp(lib, "$libdir/", 8) == 0)
		lib += 8;
	if (is_absolute_path(lib))
	{
		strlcpy(path, lib, MAXPGPATH);
		return;
	}
	get_pkglib_path(my_exec_path, pkglib);
	snprintf(path, MAXPGPATH, "%s/%s", pkglib, lib[0] ? lib : "libembq_cuda.so");
}

/*
 * dlopen the library at path and probe the device.  On success the library
 * stays loaded (loaded_path), with the probe's outcome in gpu_api /
 * gpu_reason; else failed_reason says why.
 */
static void
Load(const char *path)
{
	void	   *handle;
	EmbqGpuApiFn fn;
	const EmbqGpuApi *api;
	char		err[256] = "";

	strlcpy(failed_path, path, sizeof(failed_path));
	handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (handle == NULL)
	{
		/* dlerror() names the path */
		snprintf(failed_reason, sizeof(failed_reason), "could not load the GPU library: %s", dlerror());
		return;
	}
	fn = (EmbqGpuApiFn) dlsym(handle, EMBQ_GPU_API_SYMBOL);
	if (fn == NULL || (api = fn()) == NULL)
	{
		snprintf(failed_reason, sizeof(failed_reason), "%s has no usable %s", path, EMBQ_GPU_API_SYMBOL);
		dlclose(handle);
		return;
	}
	if (api->abi_version != EMBQ_GPU_ABI_VERSION)
	{
		snprintf(failed_reason, sizeof(failed_reason), "%s has interface version %d, embq needs %d",
				 path, api->abi_version, EMBQ_GPU_ABI_VERSION);
		dlclose(handle);
		return;
	}
	failed_path[0] = '\0';
	strlcpy(loaded_path, path, sizeof(loaded_path));
	if (api->probe(&gpu_device, err, sizeof(err)) != 0)
	{
		err[sizeof(err) - 1] = '\0';
		snprintf(gpu_reason, sizeof(gpu_reason), "%s", err[0] ? err : "no usable GPU");
		return;
	}
	/* printed with %s: the library must not make us read past the name */
	gpu_device.name[sizeof(gpu_device.name) - 1] = '\0';
	gpu_api = api;
	elog(DEBUG1, "embq: using GPU %s from %s", gpu_device.name, path);
}

/*
 * Whether a GPU is usable; see gpu.h.  The library embq.gpu_library names is
 * loaded on first use.  Once one is loaded, the setting may name another
 * only in new sessions: this one answers "not usable", saying so, rather
 * than use a library the setting no longer names.
 */
bool
EmbqGpuUsable(const EmbqGpuDevice **dev, const char **reason)
{
	static char changed_reason[256 + 2 * MAXPGPATH];
	char		path[MAXPGPATH];

	*dev = NULL;
	if (!IsUnderPostmaster && IsPostmasterEnvironment)
	{
		*reason = "the postmaster does not load the GPU library";
		return false;
	}
	LibraryPath(path);
	if (loaded_path[0] == '\0' && strcmp(path, failed_path) != 0)
		Load(path);
	if (loaded_path[0] == '\0')
	{
		*reason = failed_reason;
		return false;
	}
	if (strcmp(path, loaded_path) != 0)
	{
		snprintf(changed_reason, sizeof(changed_reason),
				 "embq.gpu_library names %s, but this session has loaded %s; "
				 "a new library is loaded by new sessions", path, loaded_path);
		*reason = changed_reason;
		return false;
	}
	*dev = gpu_api ? &gpu_device : NULL;
	*reason = gpu_api ? NULL : gpu_reason;
	return gpu_api != NULL;
}

/* The GPU interface for this operation, if it may use one; see gpu.h. */
const EmbqGpuApi *
EmbqGpuForWork(void)
{
	const EmbqGpuDevice *dev;
	const char *reason;

	if (embq_gpu_mode == EMBQ_GPU_OFF)
		return NULL;
	if (EmbqGpuUsable(&dev, &reason))
		return gpu_api;
	if (embq_gpu_mode == EMBQ_GPU_ON)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("embq.gpu is on but no GPU is usable"),
				 reason[0] ? errdetail("%c%s.", pg_toupper((unsigned char) reason[0]), reason + 1) : 0,
				 errhint("Set embq.gpu to auto to use the CPU when no GPU is usable.")));
	return NULL;
}

/* gpu->assign, with every list it returns checked to be in [0, k); see gpu.h. */
int
EmbqGpuAssign(const EmbqGpuApi *gpu, int metric, int dims, int codesize,
			  const uint8_t *codes, size_t n, const uint8_t *centroids, size_t k,
			  int32_t *out, char *err, size_t errlen)
{
	if (gpu->assign(metric, dims, codesize, codes, n, centroids, k, out, err, errlen) != 0)
	{
		err[errlen - 1] = '\0';
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (out[i] < 0 || (size_t) out[i] >= k)
		{
			snprintf(err, errlen, "the GPU returned list %d for row %zu of a batch, not one of 0 to %zu",
					 (int) out[i], i, k - 1);
			return -1;
		}
	return 0;
}

/*
 * gpu->kmeans_train, with every centroid value it returns checked to be one
 * that k-means can produce; see gpu.h.  A centroid is the mean of rows, or a
 * row, so no value exceeds the largest |x| (spherical: 1, as centroids are
 * normalized); twice that allows for any rounding of the sums.
 */
int
EmbqGpuKmeansTrain(const EmbqGpuApi *gpu, const float *x, size_t n, size_t dim, size_t k,
				   int max_iters, int spherical, uint64_t seed, float *centroids,
				   char *err, size_t errlen)
{
	double		bound = spherical ? 1.0 : 0.0;

	if (gpu->kmeans_train(x, n, dim, k, max_iters, spherical, seed, centroids, err, errlen) != 0)
	{
		err[errlen - 1] = '\0';
		return -1;
	}
	for (size_t i = 0; i < n * dim; i++)
		bound = Max(bound, fabs((double) x[i]));
	bound *= 2;
	for (size_t i = 0; i < k * dim; i++)
		if (!(fabs((double) centroids[i]) <= bound))
		{
			snprintf(err, errlen, "the GPU returned centroid %zu with a value (%g) that no mean of the rows has",
					 i / dim, (double) centroids[i]);
			return -1;
		}
	return 0;
}

/*
 * gpu->topk, with every row it returns checked: in [0, n) for the first
 * min(k, n) of each query; see gpu.h.
 */
int
EmbqGpuTopk(const EmbqGpuApi *gpu, int metric, int asymmetric, int dims, int codesize,
			const uint8_t *codes, size_t n, const uint8_t *qcodes, const float *qfloats,
			size_t nq, int k, float *out_dist, int64_t *out_idx, char *err, size_t errlen)
{
	if (gpu->topk(metric, asymmetric, dims, codesize, codes, n, qcodes, qfloats, nq, k,
				  out_dist, out_idx, err, errlen) != 0)
	{
		err[errlen - 1] = '\0';
		return -1;
	}
	for (size_t q = 0; q < nq; q++)
		for (size_t j = 0; j < Min((size_t) k, n); j++)
		{
			int64_t		r = out_idx[q * k + j];

			if (r < 0 || (size_t) r >= n)
			{
				snprintf(err, errlen, "the GPU returned row %lld as neighbour %zu of query %zu, not one of 0 to %zu",
						 (long long) r, j, q, n - 1);
				return -1;
			}
		}
	return 0;
}

/* A GPU call failed; see gpu.h. */
void
EmbqGpuFailed(const char *what, const char *err)
{
	ereport(embq_gpu_mode == EMBQ_GPU_ON ? ERROR : WARNING,
			(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
			 errmsg("GPU %s failed: %s", what, err),
			 embq_gpu_mode == EMBQ_GPU_ON ? 0 :
			 errdetail("Continuing on the CPU.")));
}

PG_FUNCTION_INFO_V1(embq_gpu_status);
/* embq_gpu_status(): the setting, whether a GPU is usable, which, or why not. */
Datum
embq_gpu_status(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	const EmbqGpuDevice *dev;
	const char *reason;
	bool		usable;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	usable = EmbqGpuUsable(&dev, &reason);
	values[0] = CStringGetTextDatum(GetConfigOption("embq.gpu", false, false));
	values[1] = BoolGetDatum(usable);
	if (usable)
	{
		values[2] = CStringGetTextDatum(psprintf("%s (compute %d.%d, %zu MiB)", dev->name,
												 dev->cc_major, dev->cc_minor,
												 dev->total_mem >> 20));
		nulls[3] = true;
	}
	else
	{
		nulls[2] = true;
		values[3] = CStringGetTextDatum(reason);
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
