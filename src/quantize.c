/*-------------------------------------------------------------------------
 *
 * quantize.c
 *		SQL-callable quantization: float arrays to bitvec and i8vec, codes back
 *		to floats, and the binary_thresholds aggregate.
 *
 *-------------------------------------------------------------------------
 */
#include "embq.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(embq_quantize_binary);
/* quantize_binary(x): bit j = x[j] > 0. */
Datum
embq_quantize_binary(PG_FUNCTION_ARGS)
{
	FloatArray	x;
	BitVec	   *result;

	ArgToFloats(fcinfo, 0, "bitvec", BITVEC_MAX_DIM, &x);
	result = InitBitVec(x.dim);
	embq_kernels()->binarize(x.x, NULL, x.dim, result->data);
	FreeFloats(&x);
	PG_RETURN_BITVEC_P(result);
}

PG_FUNCTION_INFO_V1(embq_quantize_binary_thresholds);
/* quantize_binary(x, thresholds): bit j = x[j] > thresholds[j]. */
Datum
embq_quantize_binary_thresholds(PG_FUNCTION_ARGS)
{
	FloatArray	x,
				t;
	BitVec	   *result;

	ArgToFloats(fcinfo, 0, "bitvec", BITVEC_MAX_DIM, &x);
	ArgToFloats(fcinfo, 1, "thresholds", BITVEC_MAX_DIM, &t);
	CheckDims(x.dim, t.dim);
	result = InitBitVec(x.dim);
	embq_kernels()->binarize(x.x, t.x, x.dim, result->data);
	FreeFloats(&x);
	FreeFloats(&t);
	PG_RETURN_BITVEC_P(result);
}

PG_FUNCTION_INFO_V1(embq_quantize_binary_i8vec);
/* quantize_binary(i8vec), also the i8vec -> bitvec cast: bit j = code j > 0. */
Datum
embq_quantize_binary_i8vec(PG_FUNCTION_ARGS)
{
	I8Vec	   *v = PG_GETARG_I8VEC_P(0);
	BitVec	   *result = InitBitVec(v->dim);

	embq_kernels()->i8_binarize(v->x, v->dim, result->data);
	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_BITVEC_P(result);
}

PG_FUNCTION_INFO_V1(embq_quantize_int8);
/* quantize_int8(x), also the array -> i8vec casts: per-vector absmax. */
Datum
embq_quantize_int8(PG_FUNCTION_ARGS)
{
	FloatArray	x;
	I8Vec	   *result;

	ArgToFloats(fcinfo, 0, "i8vec", I8VEC_MAX_DIM, &x);
	result = QuantizeToI8Vec(x.x, x.dim);
	FreeFloats(&x);
	PG_RETURN_I8VEC_P(result);
}

PG_FUNCTION_INFO_V1(embq_dequantize_i8vec);
/* dequantize(i8vec), also the i8vec -> real[] cast: scale * code. */
Datum
embq_dequantize_i8vec(PG_FUNCTION_ARGS)
{
	I8Vec	   *v = PG_GETARG_I8VEC_P(0);
	float	   *x = palloc(sizeof(float) * v->dim);
	ArrayType  *result;

	for (int i = 0; i < v->dim; i++)
		x[i] = (float) ((double) v->scale * v->x[i]);
	result = FloatsToArray(x, v->dim);
	pfree(x);
	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_ARRAYTYPE_P(result);
}

PG_FUNCTION_INFO_V1(embq_dequantize_bitvec);
/* dequantize(bitvec): bits as 1.0 and 0.0. */
Datum
embq_dequantize_bitvec(PG_FUNCTION_ARGS)
{
	BitVec	   *v = PG_GETARG_BITVEC_P(0);
	float	   *x = palloc(sizeof(float) * v->dim);
	ArrayType  *result;

	for (int i = 0; i < v->dim; i++)
		x[i] = (v->data[i / 8] & (0x80 >> (i % 8))) ? 1.0f : 0.0f;
	result = FloatsToArray(x, v->dim);
	pfree(x);
	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_ARRAYTYPE_P(result);
}

/*
 * binary_thresholds state: a float8[] of 1 + dim elements, the row count
 * then the per-dimension sums.  Created in the aggregate's memory context
 * and updated in place, so a row costs no allocation.
 */
static ArrayType *
NewThresholdState(int dim, MemoryContext aggcontext)
{
	MemoryContext old = MemoryContextSwitchTo(aggcontext);
	Datum	   *zeros = palloc(sizeof(Datum) * (dim + 1));
	ArrayType  *state;

	for (int i = 0; i <= dim; i++)
		zeros[i] = Float8GetDatum(0.0);
	state = construct_array(zeros, dim + 1, FLOAT8OID, sizeof(float8),
							FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	pfree(zeros);
	MemoryContextSwitchTo(old);
	return state;
}

/* The dimension count of a threshold state. */
static int
ThresholdStateDim(ArrayType *state)
{
	if (ARR_NDIM(state) != 1 || ARR_HASNULL(state) ||
		ARR_ELEMTYPE(state) != FLOAT8OID || ARR_DIMS(state)[0] < 2)
		elog(ERROR, "binary_thresholds: corrupt transition state");
	return ARR_DIMS(state)[0] - 1;
}

PG_FUNCTION_INFO_V1(embq_binary_thresholds_accum);
/* binary_thresholds transition: add one row's values to the sums. */
Datum
embq_binary_thresholds_accum(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	ArrayType  *state;
	FloatArray	x;
	float8	   *sums;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "binary_thresholds_accum called in non-aggregate context");
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}

	ArgToFloats(fcinfo, 1, "binary_thresholds input", BITVEC_MAX_DIM, &x);
	state = PG_ARGISNULL(0) ? NewThresholdState(x.dim, aggcontext)
		: PG_GETARG_ARRAYTYPE_P(0);
	CheckDims(ThresholdStateDim(state), x.dim);

	sums = (float8 *) ARR_DATA_PTR(state);
	sums[0] += 1;
	for (int i = 0; i < x.dim; i++)
		sums[i + 1] += x.x[i];
	FreeFloats(&x);
	PG_RETURN_ARRAYTYPE_P(state);
}

PG_FUNCTION_INFO_V1(embq_binary_thresholds_combine);
/* binary_thresholds combine: add two partial states (parallel aggregation). */
Datum
embq_binary_thresholds_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	ArrayType  *a,
			   *b,
			   *state;
	float8	   *sa,
			   *sb;
	int			dim;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "binary_thresholds_combine called in non-aggregate context");
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	b = PG_GETARG_ARRAYTYPE_P(1);
	dim = ThresholdStateDim(b);
	if (PG_ARGISNULL(0))
	{
		/* copy into the aggregate context: b belongs to another state */
		state = NewThresholdState(dim, aggcontext);
		a = state;
	}
	else
	{
		a = PG_GETARG_ARRAYTYPE_P(0);
		CheckDims(ThresholdStateDim(a), dim);
	}
	sa = (float8 *) ARR_DATA_PTR(a);
	sb = (float8 *) ARR_DATA_PTR(b);
	for (int i = 0; i <= dim; i++)
		sa[i] += sb[i];
	PG_FREE_IF_COPY(b, 1);
	PG_RETURN_ARRAYTYPE_P(a);
}

PG_FUNCTION_INFO_V1(embq_binary_thresholds_final);
/* binary_thresholds final: the per-dimension means as real[]. */
Datum
embq_binary_thresholds_final(PG_FUNCTION_ARGS)
{
	ArrayType  *state;
	float8	   *sums;
	float	   *means;
	int			dim;
	ArrayType  *result;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	state = PG_GETARG_ARRAYTYPE_P(0);
	dim = ThresholdStateDim(state);
	sums = (float8 *) ARR_DATA_PTR(state);
	means = palloc(sizeof(float) * dim);
	for (int i = 0; i < dim; i++)
		means[i] = (float) (sums[i + 1] / sums[0]);
	result = FloatsToArray(means, dim);
	pfree(means);
	PG_RETURN_ARRAYTYPE_P(result);
}
