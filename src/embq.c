/*-------------------------------------------------------------------------
 *
 * embq.c
 *		Module entry point and extension-wide SQL functions.
 *
 *-------------------------------------------------------------------------
 */
#include "embq.h"

#include "utils/builtins.h"
#include "utils/guc.h"

#include "gpu.h"
#include "ivf.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* Module load: the index's options and settings. */
void
_PG_init(void)
{
	IvfInitGucs();
	EmbqGpuInitGuc();
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
