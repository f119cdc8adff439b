/*-------------------------------------------------------------------------
 *
 * gpu.c
 *		Load libembq_cuda.so with dlopen on first use in a backend, never at
 *		server start or in the postmaster, and never linking the CUDA driver:
 *		a server without a GPU, a driver or the library starts and works on
 *		the CPU.  The outcome (the interface, or why not) is cached per
 *		backend.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dlfcn.h>

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

static bool probed = false;
static const EmbqGpuApi *gpu_api = NULL;
static EmbqGpuDevice gpu_device;
static char gpu_reason[256];

/* Register embq.gpu (from _PG_init). */
void
EmbqGpuInitGuc(void)
{
	DefineCustomEnumVariable("embq.gpu",
							 "Whether embq offloads index builds to an NVIDIA GPU.",
							 "off: never; auto: when one is usable, else the CPU; "
							 "on: always, and an error when none is usable.",
							 &embq_gpu_mode, EMBQ_GPU_AUTO, gpu_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);
}

/* dlopen the library and probe the device, once per backend. */
static void
Probe(void)
{
	char		pkglib[MAXPGPATH];
	char		path[MAXPGPATH];
	const char *lib;
	void	   *handle;
	EmbqGpuApiFn fn;
	const EmbqGpuApi *api;
	char		err[256] = "";

	probed = true;
	if (!IsUnderPostmaster && IsPostmasterEnvironment)
	{
		strlcpy(gpu_reason, "the postmaster does not load the GPU library", sizeof(gpu_reason));
		return;
	}
	/*
	 * The server's environment may name another build of the library: the
	 * tests load the CPU emulation of the device (test/gpu/libembq_emu.so)
	 * this way.  Only whoever starts the server sets it.
	 */
	lib = getenv("EMBQ_GPU_LIB");
	if (lib != NULL && lib[0] != '\0')
		strlcpy(path, lib, sizeof(path));
	else
	{
		get_pkglib_path(my_exec_path, pkglib);
		snprintf(path, sizeof(path), "%s/libembq_cuda.so", pkglib);
	}
	handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (handle == NULL)
	{
		/* dlerror() names the path */
		snprintf(gpu_reason, sizeof(gpu_reason), "could not load the GPU library: %s", dlerror());
		return;
	}
	fn = (EmbqGpuApiFn) dlsym(handle, EMBQ_GPU_API_SYMBOL);
	if (fn == NULL || (api = fn()) == NULL)
	{
		snprintf(gpu_reason, sizeof(gpu_reason), "%s has no usable %s", path, EMBQ_GPU_API_SYMBOL);
		dlclose(handle);
		return;
	}
	if (api->abi_version != EMBQ_GPU_ABI_VERSION)
	{
		snprintf(gpu_reason, sizeof(gpu_reason), "%s has interface version %d, embq needs %d",
				 path, api->abi_version, EMBQ_GPU_ABI_VERSION);
		dlclose(handle);
		return;
	}
	if (api->probe(&gpu_device, err, sizeof(err)) != 0)
	{
		snprintf(gpu_reason, sizeof(gpu_reason), "%s", err[0] ? err : "no usable GPU");
		/* keep the library loaded: unloading CUDA's runtime is not safe */
		return;
	}
	gpu_api = api;
	elog(DEBUG1, "embq: using GPU %s", gpu_device.name);
}

/* Whether a GPU is usable; see gpu.h. */
bool
EmbqGpuUsable(const EmbqGpuDevice **dev, const char **reason)
{
	if (!probed)
		Probe();
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
