/*-------------------------------------------------------------------------
 *
 * embq.h
 *		On-disk layouts of bitvec and i8vec, and the checks every SQL-callable
 *		function of embq shares.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EMBQ_H
#define EMBQ_H

#include "postgres.h"

#include "fmgr.h"
#include "utils/array.h"

#include "kernels.h"

/*
 * bitvec: a bit-packed binary embedding.  The layout is core varbit's (int32
 * bit count, then the bytes, dimension 0 in the most significant bit of
 * byte 0, padding bits zero), so casts to and from bit are plain copies and
 * the binary wire format is varbit's.
 */
typedef struct BitVec
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	int32		dim;			/* number of bits */
	uint8		data[FLEXIBLE_ARRAY_MEMBER];
} BitVec;

/* A bitvec's packed bits fit on an index page. */
#define BITVEC_MAX_DIM 64000
#define BITVEC_SIZE(dim) (offsetof(BitVec, data) + EMBQ_BITBYTES(dim))
#define DatumGetBitVecP(x) ((BitVec *) PG_DETOAST_DATUM(x))
#define PG_GETARG_BITVEC_P(n) DatumGetBitVecP(PG_GETARG_DATUM(n))
#define PG_RETURN_BITVEC_P(x) PG_RETURN_POINTER(x)

/*
 * i8vec: an int8 embedding, value_j ~= scale * x[j], codes in [-127, 127],
 * scale finite, >= 0 and never -0, and 0 exactly when every code is 0 (the
 * canonical form: see i8vec.c).
 * The fields after the header are the binary wire format.
 */
typedef struct I8Vec
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	int16		dim;			/* number of dimensions */
	int16		unused;			/* reserved, always 0 */
	float4		scale;
	int8		x[FLEXIBLE_ARRAY_MEMBER];
} I8Vec;

#define I8VEC_MAX_DIM 16000
#define I8VEC_SIZE(dim) (offsetof(I8Vec, x) + (dim))
#define DatumGetI8VecP(x) ((I8Vec *) PG_DETOAST_DATUM(x))
#define PG_GETARG_I8VEC_P(n) DatumGetI8VecP(PG_GETARG_DATUM(n))
#define PG_RETURN_I8VEC_P(x) PG_RETURN_POINTER(x)

/* A float vector taken from an SQL array, validated. */
typedef struct FloatArray
{
	int			dim;
	float	   *x;				/* points into the array or a palloc'd copy */
	bool		copied;			/* whether x must be pfree'd */
	ArrayType  *detoasted;		/* a detoasted copy of the argument to pfree,
								 * or NULL */
} FloatArray;

/* bitvec.c */
extern BitVec *InitBitVec(int dim);

/* i8vec.c */
extern I8Vec *InitI8Vec(int dim);
extern I8Vec *QuantizeToI8Vec(const float *x, int dim);
extern void CheckI8VecCodes(const I8Vec *v);

/* arrayutil.c */
extern void CheckDim(int dim, int maxdim, const char *type);
extern void CheckExpectedDim(int32 typmod, int dim);
extern void CheckDims(int a, int b);
extern void CheckFinite(float value, const char *what);
extern int	ArrayDim(ArrayType *array, const char *what, int maxdim);
extern void ArrayToFloats(ArrayType *array, const char *what, int maxdim,
						  FloatArray *out);
extern void ArgToFloats(FunctionCallInfo fcinfo, int argno, const char *what,
						int maxdim, FloatArray *out);
extern void FreeFloats(FloatArray *f);
extern float *ArrayToFloatRows(ArrayType *array, const char *what, int maxdim, int *rows,
							   int *dim);
extern ArrayType *FloatsToArray(const float *x, int n);
extern int32 EmbqTypmodIn(ArrayType *ta, const char *type, int maxdim);

/*
 * Whether a typmod requires a dimension count: typmod -1 means the column
 * was declared without (n).
 */
#define EMBQ_TYPMOD_SET(typmod) ((typmod) != -1)

#endif							/* EMBQ_H */
