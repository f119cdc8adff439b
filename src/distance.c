/*-------------------------------------------------------------------------
 *
 * distance.c
 *		Distance functions behind embq's operators: hamming and jaccard on
 *		bitvec, L2 / inner product / cosine on i8vec, and the asymmetric
 *		ones that score a float query against stored codes (rescoring).
 *
 * All return float8, computed by codedist.h so that the index agrees.
 * Detoasted copies are freed: these run once per row in scans and sorts.
 *
 *-------------------------------------------------------------------------
 */
#include "embq.h"

#include <math.h>

#include "codedist.h"

/*
 * The query array of an asymmetric operator, validated against dim; the
 * caller frees it with FreeFloats.
 */
static void
GetQuery(FunctionCallInfo fcinfo, int argno, int dim, int maxdim, FloatArray *q)
{
	ArgToFloats(fcinfo, argno, "query vector", maxdim, q);
	CheckDims(dim, q->dim);
}

PG_FUNCTION_INFO_V1(bitvec_hamming_distance);
/* Number of differing bits. */
Datum
bitvec_hamming_distance(PG_FUNCTION_ARGS)
{
	BitVec	   *a = PG_GETARG_BITVEC_P(0);
	BitVec	   *b = PG_GETARG_BITVEC_P(1);
	uint64		d;

	CheckDims(a->dim, b->dim);
	d = embq_kernels()->hamming(a->data, b->data, EMBQ_BITBYTES(a->dim));
	PG_FREE_IF_COPY(a, 0);
	PG_FREE_IF_COPY(b, 1);
	PG_RETURN_FLOAT8((double) d);
}

PG_FUNCTION_INFO_V1(bitvec_jaccard_distance);
/* 1 - |a AND b| / |a OR b|; 1 when no bit is set in either (as pgvector). */
Datum
bitvec_jaccard_distance(PG_FUNCTION_ARGS)
{
	BitVec	   *a = PG_GETARG_BITVEC_P(0);
	BitVec	   *b = PG_GETARG_BITVEC_P(1);
	uint64		and_count,
				or_count;

	CheckDims(a->dim, b->dim);
	embq_kernels()->and_or_count(a->data, b->data, EMBQ_BITBYTES(a->dim),
								 &and_count, &or_count);
	PG_FREE_IF_COPY(a, 0);
	PG_FREE_IF_COPY(b, 1);
	if (or_count == 0)
		PG_RETURN_FLOAT8(1.0);
	PG_RETURN_FLOAT8(1.0 - (double) and_count / (double) or_count);
}

/* Inner product of the float query with the bits taken as 0/1. */
static double
BitVecQueryDot(FunctionCallInfo fcinfo)
{
	BitVec	   *a = PG_GETARG_BITVEC_P(0);
	FloatArray	q;
	double		dot;

	GetQuery(fcinfo, 1, a->dim, BITVEC_MAX_DIM, &q);
	dot = embq_kernels()->bits_float_dot(a->data, q.x, a->dim);
	FreeFloats(&q);
	PG_FREE_IF_COPY(a, 0);
	return dot;
}

PG_FUNCTION_INFO_V1(bitvec_query_inner_product);
/* inner_product(bitvec, real[]). */
Datum
bitvec_query_inner_product(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(BitVecQueryDot(fcinfo));
}

PG_FUNCTION_INFO_V1(bitvec_query_negative_inner_product);
/* bitvec <#> real[]: negative inner product, smaller is closer. */
Datum
bitvec_query_negative_inner_product(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(-BitVecQueryDot(fcinfo));
}

PG_FUNCTION_INFO_V1(i8vec_l2_distance);
/* Euclidean distance between the dequantized vectors. */
Datum
i8vec_l2_distance(PG_FUNCTION_ARGS)
{
	I8Vec	   *a = PG_GETARG_I8VEC_P(0);
	I8Vec	   *b = PG_GETARG_I8VEC_P(1);
	double		d;

	CheckDims(a->dim, b->dim);
	d = sqrt(embq_i8_l2sq(embq_kernels(), a->scale, a->x, b->scale, b->x, a->dim));
	PG_FREE_IF_COPY(a, 0);
	PG_FREE_IF_COPY(b, 1);
	PG_RETURN_FLOAT8(d);
}

/* Inner product of the dequantized vectors. */
static double
I8VecDot(FunctionCallInfo fcinfo)
{
	I8Vec	   *a = PG_GETARG_I8VEC_P(0);
	I8Vec	   *b = PG_GETARG_I8VEC_P(1);
	double		dot;

	CheckDims(a->dim, b->dim);
	dot = embq_i8_ip(embq_kernels(), a->scale, a->x, b->scale, b->x, a->dim);
	PG_FREE_IF_COPY(a, 0);
	PG_FREE_IF_COPY(b, 1);
	return dot;
}

PG_FUNCTION_INFO_V1(i8vec_inner_product);
/* inner_product(i8vec, i8vec). */
Datum
i8vec_inner_product(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(I8VecDot(fcinfo));
}

PG_FUNCTION_INFO_V1(i8vec_negative_inner_product);
/* i8vec <#> i8vec. */
Datum
i8vec_negative_inner_product(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(-I8VecDot(fcinfo));
}

PG_FUNCTION_INFO_V1(i8vec_cosine_distance);
/* Cosine distance; the scales cancel, so it is computed on the codes. */
Datum
i8vec_cosine_distance(PG_FUNCTION_ARGS)
{
	I8Vec	   *a = PG_GETARG_I8VEC_P(0);
	I8Vec	   *b = PG_GETARG_I8VEC_P(1);
	double		d;

	CheckDims(a->dim, b->dim);
	d = embq_i8_cosine(embq_kernels(), a->scale, a->x, b->scale, b->x, a->dim);
	PG_FREE_IF_COPY(a, 0);
	PG_FREE_IF_COPY(b, 1);
	PG_RETURN_FLOAT8(d);
}

PG_FUNCTION_INFO_V1(i8vec_query_l2_distance);
/* l2_distance(i8vec, real[]): float query against the dequantized codes. */
Datum
i8vec_query_l2_distance(PG_FUNCTION_ARGS)
{
	I8Vec	   *a = PG_GETARG_I8VEC_P(0);
	FloatArray	q;
	double		d;

	GetQuery(fcinfo, 1, a->dim, I8VEC_MAX_DIM, &q);
	d = sqrt(embq_kernels()->f32_i8_l2sq(q.x, a->x, a->scale, a->dim));
	FreeFloats(&q);
	PG_FREE_IF_COPY(a, 0);
	PG_RETURN_FLOAT8(d);
}

/* Inner product of a float query with the dequantized codes. */
static double
I8VecQueryDot(FunctionCallInfo fcinfo)
{
	I8Vec	   *a = PG_GETARG_I8VEC_P(0);
	FloatArray	q;
	double		dot;

	GetQuery(fcinfo, 1, a->dim, I8VEC_MAX_DIM, &q);
	dot = (double) a->scale * embq_kernels()->f32_i8_dot(q.x, a->x, a->dim);
	FreeFloats(&q);
	PG_FREE_IF_COPY(a, 0);
	return dot;
}

PG_FUNCTION_INFO_V1(i8vec_query_inner_product);
/* inner_product(i8vec, real[]). */
Datum
i8vec_query_inner_product(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(I8VecQueryDot(fcinfo));
}

PG_FUNCTION_INFO_V1(i8vec_query_negative_inner_product);
/* i8vec <#> real[]. */
Datum
i8vec_query_negative_inner_product(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(-I8VecQueryDot(fcinfo));
}

PG_FUNCTION_INFO_V1(i8vec_query_cosine_distance);
/* cosine_distance(i8vec, real[]); the stored scale cancels. */
Datum
i8vec_query_cosine_distance(PG_FUNCTION_ARGS)
{
	I8Vec	   *a = PG_GETARG_I8VEC_P(0);
	const EmbqKernels *k = embq_kernels();
	FloatArray	q;
	double		d;

	GetQuery(fcinfo, 1, a->dim, I8VEC_MAX_DIM, &q);
	d = embq_query_i8_cosine(k, q.x, k->f32_sqnorm(q.x, q.dim), a->scale, a->x, a->dim);
	FreeFloats(&q);
	PG_FREE_IF_COPY(a, 0);
	PG_RETURN_FLOAT8(d);
}
