/*-------------------------------------------------------------------------
 *
 * embq.c
 *		Module entry point and extension-wide SQL functions.
 *
 *-------------------------------------------------------------------------
 */
#include "embq.h"

#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "gpu.h"
#include "ivf.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

static char *embq_cpu_kernels_setting = NULL;

/* embq.cpu_kernels must be auto or a variant this CPU supports. */
static bool
CheckCpuKernels(char **newval, void **extra, GucSource source)
{
	StringInfoData names;

	if (strcmp(*newval, "auto") == 0 || embq_kernels_find(*newval) != NULL)
		return true;
	initStringInfo(&names);
	for (int i = 0; embq_kernel_variants[i] != NULL; i++)
		if (embq_kernels_supported(embq_kernel_variants[i]))
			appendStringInfo(&names, ", \"%s\"", embq_kernel_variants[i]->name);
	GUC_check_errdetail("Valid values on this CPU are \"auto\"%s.", names.data);
	return false;
}

/* Switch the kernel variant every later scan, insert and build uses. */
static void
AssignCpuKernels(const char *newval, void *extra)
{
	if (strcmp(newval, "auto") == 0)
		embq_kernels_choose();
	else
		embq_kernels_force(newval);
}

/* Module load: the index's options and settings. */
void
_PG_init(void)
{
	IvfInitGucs();
	EmbqGpuInitGuc();
	DefineCustomStringVariable("embq.cpu_kernels",
							   "Kernel variant embq runs on the CPU: auto (the best this CPU "
							   "supports), avx512, avx2 or portable.",
							   "Every variant returns the same results; this is for comparing "
							   "them and for ruling one out.",
							   &embq_cpu_kernels_setting, "auto", PGC_SUSET, 0,
							   CheckCpuKernels, AssignCpuKernels, NULL);
	/* after every embq.* setting is defined: others are typos */
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("embq");
#else
	EmitWarningsOnPlaceholders("embq");
#endif
}

PG_FUNCTION_INFO_V1(embq_cpu_kernels);
/* embq_cpu_kernels(): which kernel variant this server's CPU runs. */
Datum
embq_cpu_kernels(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(embq_kernels()->name));
}
