/*-------------------------------------------------------------------------
 *
 * arrayutil.c
 *		Validation shared by all of embq's SQL functions: dimension counts,
 *		typmods, and turning SQL float arrays into C float vectors.
 *
 *-------------------------------------------------------------------------
 */
#include "embq.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"

/* Error unless 1 <= dim <= maxdim. */
void
CheckDim(int dim, int maxdim, const char *type)
{
	if (dim < 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s must have at least 1 dimension", type)));
	if (dim > maxdim)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s cannot have more than %d dimensions", type, maxdim)));
}

/* Error unless dim matches a declared typmod (n). */
void
CheckExpectedDim(int32 typmod, int dim)
{
	if (EMBQ_TYPMOD_SET(typmod) && typmod != dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected %d dimensions, not %d", typmod, dim)));
}

/* Error unless two operands have the same number of dimensions. */
void
CheckDims(int a, int b)
{
	if (a != b)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("different vector dimensions %d and %d", a, b)));
}

/* Error on NaN or infinity; what names the value ("i8vec", "query vector"). */
void
CheckFinite(float value, const char *what)
{
	if (isnan(value))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("NaN not allowed in %s", what)));
	if (isinf(value))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("infinite value not allowed in %s", what)));
}

/* Convert one double to float4, erroring where it does not fit. */
static float
DoubleToFloat(double d, const char *what)
{
	float		f;

	if (isnan(d) || isinf(d))
		CheckFinite((float) d, what);
	f = (float) d;
	if (isinf(f))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("value %g in %s is out of range for type real", d, what)));
	return f;
}

/*
 * The length of an embedding given as an SQL array: one-dimensional, no
 * NULLs, 1 to maxdim elements.
 */
int
ArrayDim(ArrayType *array, const char *what, int maxdim)
{
	int			ndim = ARR_NDIM(array);
	int			n;

	if (ndim > 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("array must be 1-D"),
				 errdetail("The array has %d dimensions; an embedding is a flat list of numbers.", ndim)));
	if (array_contains_nulls(array))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("array must not contain nulls")));

	n = ndim == 0 ? 0 : ARR_DIMS(array)[0];
	CheckDim(n, maxdim, what);
	return n;
}

/*
 * Validate a one-dimensional real[], double precision[] or numeric[] array
 * and expose it as floats.  A real[] without NULLs is used in place.
 */
void
ArrayToFloats(ArrayType *array, const char *what, int maxdim, FloatArray *out)
{
	Oid			elemtype = ARR_ELEMTYPE(array);
	int			n = ArrayDim(array, what, maxdim);

	out->dim = n;
	out->detoasted = NULL;

	if (elemtype == FLOAT4OID)
	{
		out->x = (float *) ARR_DATA_PTR(array);
		out->copied = false;
		/* one vector pass; find the culprit only to report it */
		if (!embq_kernels()->all_finite(out->x, n))
			for (int i = 0; i < n; i++)
				CheckFinite(out->x[i], what);
		return;
	}

	out->x = palloc(sizeof(float) * n);
	out->copied = true;
	if (elemtype == FLOAT8OID)
	{
		float8	   *d = (float8 *) ARR_DATA_PTR(array);

		for (int i = 0; i < n; i++)
			out->x[i] = DoubleToFloat(d[i], what);
	}
	else if (elemtype == NUMERICOID)
	{
		Datum	   *elems;
		int			nelems;

		deconstruct_array(array, NUMERICOID, -1, false, TYPALIGN_INT,
						  &elems, NULL, &nelems);
		for (int i = 0; i < n; i++)
			out->x[i] = DoubleToFloat(DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
																		 elems[i])),
									  what);
		pfree(elems);
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("unsupported array type %s", format_type_be(ARR_ELEMTYPE(array))),
				 errhint("Use real[], double precision[] or numeric[].")));
}

/*
 * The rows of a batch of embeddings given as one SQL array: a real[] or
 * double precision[] of two dimensions (one row per embedding) or of one (a
 * single embedding), without NULLs, rows of 1 to maxdim finite values.  A
 * palloc'd copy, rows * dim floats.
 */
float *
ArrayToFloatRows(ArrayType *array, const char *what, int maxdim, int *rows, int *dim)
{
	int			ndim = ARR_NDIM(array);
	Oid			elemtype = ARR_ELEMTYPE(array);
	Size		n;
	float	   *x;

	if (elemtype != FLOAT4OID && elemtype != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("unsupported array type %s", format_type_be(elemtype)),
				 errhint("Use real[] or double precision[], one row per embedding.")));
	if (ndim < 1 || ndim > 2)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("array of embeddings must have one or two dimensions"),
				 errdetail("The array has %d dimensions; a batch has one row per %s.", ndim, what)));
	if (array_contains_nulls(array))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("array must not contain nulls")));
	*rows = ndim == 2 ? ARR_DIMS(array)[0] : 1;
	*dim = ARR_DIMS(array)[ndim - 1];
	CheckDim(*dim, maxdim, what);
	n = (Size) *rows * *dim;
	x = palloc_extended(sizeof(float) * n, MCXT_ALLOC_HUGE);
	if (elemtype == FLOAT4OID)
	{
		memcpy(x, ARR_DATA_PTR(array), sizeof(float) * n);
		if (!embq_kernels()->all_finite(x, n))
			for (Size i = 0; i < n; i++)
				CheckFinite(x[i], what);
	}
	else
	{
		float8	   *d = (float8 *) ARR_DATA_PTR(array);

		for (Size i = 0; i < n; i++)
			x[i] = DoubleToFloat(d[i], what);
	}
	return x;
}

/*
 * ArrayToFloats on argument argno of a SQL-callable function; FreeFloats
 * then also frees the detoasted copy of the argument (as PG_FREE_IF_COPY),
 * since these functions run once per row or per comparison.
 */
void
ArgToFloats(FunctionCallInfo fcinfo, int argno, const char *what, int maxdim,
			FloatArray *out)
{
	ArrayType  *array = PG_GETARG_ARRAYTYPE_P(argno);

	ArrayToFloats(array, what, maxdim, out);
	if ((Pointer) array != PG_GETARG_POINTER(argno))
		out->detoasted = array;
}

/* Release what ArrayToFloats or ArgToFloats allocated. */
void
FreeFloats(FloatArray *f)
{
	if (f->copied)
		pfree(f->x);
	if (f->detoasted)
		pfree(f->detoasted);
}

/* Build a real[] from floats. */
ArrayType *
FloatsToArray(const float *x, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * n);
	ArrayType  *result;

	for (int i = 0; i < n; i++)
		elems[i] = Float4GetDatum(x[i]);
	result = construct_array(elems, n, FLOAT4OID, sizeof(float4), true, TYPALIGN_INT);
	pfree(elems);
	return result;
}

/* Parse the (n) of bitvec(n) or i8vec(n). */
int32
EmbqTypmodIn(ArrayType *ta, const char *type, int maxdim)
{
	int32	   *tl;
	int			n;

	tl = ArrayGetIntegerTypmods(ta, &n);
	if (n != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid type modifier"),
				 errdetail("Type %s takes one modifier, its number of dimensions.", type)));
	if (*tl < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimensions for type %s must be at least 1", type)));
	if (*tl > maxdim)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimensions for type %s cannot exceed %d", type, maxdim)));
	return *tl;
}
