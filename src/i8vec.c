/*-------------------------------------------------------------------------
 *
 * i8vec.c
 *		The i8vec type: I/O, typmod, code-level constructors and accessors,
 *		btree and hash support.
 *
 * Text forms.  A value is its scale and codes, and its text form gives both
 * back exactly (pg_dump, COPY and ::text rely on that):
 *
 *	 [x0,x1,...]		floats, quantized on input (per-vector absmax, see
 *						kernels.h).  Output uses it when quantizing the
 *						printed floats gives back the same scale and codes:
 *						every value made by quantizing floats.
 *	 s*[c0,c1,...]		the scale s and the codes c0, ... exactly (integers
 *						in [-127, 127]).  Output uses it for the other values,
 *						such as i8vec_from_codes('{1,2,3}'), printed 1*[1,2,3].
 *
 * Floats are printed as the shortest decimal that reads back as the same
 * float4.  For every finite m, (float) (m / 127) reads back to itself after
 * the print-and-parse of (float) (scale * 127), so a quantized vector's
 * float list gives back the same codes and scale.
 *
 * Canonical form: every code in [-127, 127], the scale finite, >= 0, never
 * -0, and 0 exactly when every code is 0.  Every input path (text, binary,
 * i8vec_from_codes, quantization) produces it, so one value has one stored
 * form and =, hashing and UNIQUE agree with the text users see.
 *
 *-------------------------------------------------------------------------
 */
#include "embq.h"

#include <float.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "common/shortest_dec.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "parser/scansup.h"
#include "utils/builtins.h"

/* Allocate a zeroed i8vec of dim dimensions. */
I8Vec *
InitI8Vec(int dim)
{
	Size		size = I8VEC_SIZE(dim);
	I8Vec	   *result = (I8Vec *) palloc0(size);

	SET_VARSIZE(result, size);
	result->dim = dim;
	return result;
}

/* Error unless a code is in [-127, 127] (codes are symmetric: never -128). */
static void
CheckCode(int32 c)
{
	if (c < -EMBQ_I8_MAX || c > EMBQ_I8_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("i8vec code %d is out of range", c),
				 errdetail("Codes must be between -127 and 127.")));
}

/* Error when a stored code is -128. */
void
CheckI8VecCodes(const I8Vec *v)
{
	for (int i = 0; i < v->dim; i++)
		CheckCode(v->x[i]);
}

/*
 * Error unless a scale is finite, not negative, and small enough that every
 * value scale * code is a finite float4.  sqlstate is
 * ERRCODE_INVALID_TEXT_REPRESENTATION for text input, else
 * ERRCODE_INVALID_BINARY_REPRESENTATION.
 */
static void
CheckScale(float scale, int sqlstate)
{
	if (isnan(scale) || isinf(scale) || scale < 0 ||
		isinf((float) ((double) scale * EMBQ_I8_MAX)))
		ereport(ERROR,
				(errcode(sqlstate),
				 errmsg("invalid i8vec scale %g", scale),
				 errdetail("The scale must be finite, not negative, and at most %g.",
						   (double) nextafterf(FLT_MAX / EMBQ_I8_MAX, 0.0f))));
}

/* Report malformed i8vec text. */
static void
I8VecSyntaxError(const char *lit, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type i8vec: \"%s\"", lit),
			 errdetail_internal("%s", detail)));
}

/*
 * Bring a vector made from a given scale and codes into canonical form (see
 * the top of this file): -0 and the scale of all-zero codes become 0.  A
 * scale of 0 with a nonzero code is an error, not silently the zero vector:
 * the codes would be lost.  lit is the text input, or NULL for binary input
 * and for the constructors (whose scales cannot fail these checks).
 */
static void
CanonicalizeI8Vec(I8Vec *v, const char *lit)
{
	bool		allzero = true;

	CheckScale(v->scale, lit ? ERRCODE_INVALID_TEXT_REPRESENTATION
			   : ERRCODE_INVALID_BINARY_REPRESENTATION);
	for (int i = 0; i < v->dim && allzero; i++)
		allzero = v->x[i] == 0;
	if (allzero)
		v->scale = 0.0f;
	else if (v->scale == 0)
	{
		if (lit)
			I8VecSyntaxError(lit, "A vector with scale 0 must have all codes 0.");
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("incorrect binary data format for i8vec"),
				 errdetail("A vector with scale 0 must have all codes 0.")));
	}
}

/* Quantize validated floats into a new i8vec (per-vector absmax). */
I8Vec *
QuantizeToI8Vec(const float *x, int dim)
{
	I8Vec	   *result = InitI8Vec(dim);

	result->scale = embq_quantize_i8(x, dim, result->x);
	/* already canonical (scale 0 exactly for all-zero codes); cheap to make sure */
	CanonicalizeI8Vec(result, NULL);
	return result;
}

/*
 * Parse one float4 of i8vec text at *pt as float4in does: out of range when
 * it overflows or underflows to zero (subnormal values are fine).
 */
static float
ParseFloat(const char *lit, char **pt, const char *detail)
{
	char	   *end;
	float		val;

	errno = 0;
	val = strtof(*pt, &end);
	if (end == *pt)
		I8VecSyntaxError(lit, detail);
	if (errno == ERANGE && (val == 0 || isinf(val)))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("\"%.*s\" is out of range for type i8vec", (int) (end - *pt), *pt)));
	*pt = end;
	return val;
}

/* Parse one code (an integer in [-127, 127]) of i8vec text at *pt. */
static int8
ParseCode(const char *lit, char **pt)
{
	char	   *end;
	long		val;

	errno = 0;
	val = strtol(*pt, &end, 10);
	if (end == *pt || *end == '.' || *end == 'e' || *end == 'E')
		I8VecSyntaxError(lit, "Each code must be an integer.");
	if (errno == ERANGE || val < -EMBQ_I8_MAX || val > EMBQ_I8_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("i8vec code %.*s is out of range", (int) (end - *pt), *pt),
				 errdetail("Codes must be between -127 and 127.")));
	*pt = end;
	return (int8) val;
}

/*
 * Parse the bracketed list at *pt ('[' already checked): floats, or codes
 * when codes is true (stored exactly in the floats).  Returns the palloc'd
 * elements and sets *dim; *pt ends after the ']'.
 */
static float *
ParseList(const char *lit, char **pt, bool codes, int *dim)
{
	char	   *p = *pt + 1;
	int			cap = 64;
	int			n = 0;
	float	   *x = palloc(sizeof(float) * cap);

	while (scanner_isspace(*p))
		p++;
	if (*p == ']')
		CheckDim(0, I8VEC_MAX_DIM, "i8vec");

	for (;;)
	{
		float		val;

		while (scanner_isspace(*p))
			p++;
		if (*p == '\0')
			I8VecSyntaxError(lit, "Unexpected end of input.");
		if (codes)
			val = ParseCode(lit, &p);
		else
		{
			val = ParseFloat(lit, &p, "Each element must be a number.");
			CheckFinite(val, "i8vec");
		}
		if (n == I8VEC_MAX_DIM)
			CheckDim(I8VEC_MAX_DIM + 1, I8VEC_MAX_DIM, "i8vec");
		if (n == cap)
		{
			cap *= 2;
			x = repalloc(x, sizeof(float) * cap);
		}
		x[n++] = val;

		while (scanner_isspace(*p))
			p++;
		if (*p == ',')
			p++;
		else if (*p == ']')
		{
			p++;
			break;
		}
		else if (*p == '\0')
			I8VecSyntaxError(lit, "Unexpected end of input.");
		else
			I8VecSyntaxError(lit, "Elements must be separated by \",\".");
	}
	*pt = p;
	*dim = n;
	return x;
}

PG_FUNCTION_INFO_V1(i8vec_in);
/*
 * Text input: '[x0,x1,...]' quantized to codes and a scale, or
 * 's*[c0,c1,...]', a scale and codes taken exactly.
 */
Datum
i8vec_in(PG_FUNCTION_ARGS)
{
	char	   *lit = PG_GETARG_CSTRING(0);
	int32		typmod = PG_GETARG_INT32(2);
	char	   *pt = lit;
	int			dim;
	float	   *x;
	I8Vec	   *result;

	while (scanner_isspace(*pt))
		pt++;
	if (*pt == '[')
	{
		x = ParseList(lit, &pt, false, &dim);
		result = QuantizeToI8Vec(x, dim);
	}
	else
	{
		const char *detail = "Vector contents must start with \"[\" or with a scale and \"*\".";
		float		scale = ParseFloat(lit, &pt, detail);

		while (scanner_isspace(*pt))
			pt++;
		if (*pt != '*')
			I8VecSyntaxError(lit, detail);
		pt++;
		while (scanner_isspace(*pt))
			pt++;
		if (*pt != '[')
			I8VecSyntaxError(lit, "The codes after \"*\" must start with \"[\".");
		x = ParseList(lit, &pt, true, &dim);
		result = InitI8Vec(dim);
		result->scale = scale;
		for (int i = 0; i < dim; i++)
			result->x[i] = (int8) x[i];
		CanonicalizeI8Vec(result, lit);
	}
	pfree(x);
	while (scanner_isspace(*pt))
		pt++;
	if (*pt != '\0')
		I8VecSyntaxError(lit, "Junk after closing right bracket.");
	CheckExpectedDim(typmod, dim);
	PG_RETURN_I8VEC_P(result);
}

/*
 * Whether the float list form of v reads back as v: quantizing its values
 * (exactly the floats output prints) gives back the same scale and codes.
 * x receives the values; codes is scratch space of v->dim bytes.
 */
static bool
FloatFormIsExact(const I8Vec *v, float *x, int8 *codes)
{
	for (int i = 0; i < v->dim; i++)
		x[i] = (float) ((double) v->scale * v->x[i]);
	return embq_quantize_i8(x, v->dim, codes) == v->scale &&
		memcmp(codes, v->x, v->dim) == 0;
}

PG_FUNCTION_INFO_V1(i8vec_out);
/*
 * Text output: the dequantized values where they read back as the same
 * value, else the scale and the codes (see the top of this file).
 */
Datum
i8vec_out(PG_FUNCTION_ARGS)
{
	I8Vec	   *v = PG_GETARG_I8VEC_P(0);
	float	   *x = palloc(sizeof(float) * v->dim);
	int8	   *codes = palloc(v->dim);
	bool		floats = FloatFormIsExact(v, x, codes);

	/* a float, or a code and its sign, per element; the scale; "*[", "]" */
	char	   *buf = palloc((v->dim + 1) * (FLOAT_SHORTEST_DECIMAL_LEN + 1) + 4);
	char	   *p = buf;

	if (!floats)
	{
		p += float_to_shortest_decimal_bufn(v->scale, p);
		*p++ = '*';
	}
	*p++ = '[';
	for (int i = 0; i < v->dim; i++)
	{
		if (i > 0)
			*p++ = ',';
		if (floats)
			p += float_to_shortest_decimal_bufn(x[i], p);
		else
			p += sprintf(p, "%d", (int) v->x[i]);
	}
	*p++ = ']';
	*p = '\0';
	pfree(x);
	pfree(codes);
	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_CSTRING(buf);
}

PG_FUNCTION_INFO_V1(i8vec_typmod_in);
/* Parse i8vec(n). */
Datum
i8vec_typmod_in(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(EmbqTypmodIn(PG_GETARG_ARRAYTYPE_P(0), "i8vec", I8VEC_MAX_DIM));
}

PG_FUNCTION_INFO_V1(i8vec_typmod_out);
/* Print i8vec(n). */
Datum
i8vec_typmod_out(PG_FUNCTION_ARGS)
{
	int32		typmod = PG_GETARG_INT32(0);

	PG_RETURN_CSTRING(EMBQ_TYPMOD_SET(typmod) ? psprintf("(%d)", typmod) : pstrdup(""));
}

PG_FUNCTION_INFO_V1(i8vec_recv);
/* Binary input: int16 dims, int16 reserved (0), float4 scale, int8 codes. */
Datum
i8vec_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int32		typmod = PG_GETARG_INT32(2);
	int16		dim = pq_getmsgint(buf, sizeof(int16));
	int16		unused = pq_getmsgint(buf, sizeof(int16));
	float4		scale = pq_getmsgfloat4(buf);
	int			left;
	I8Vec	   *result;

	CheckDim(dim, I8VEC_MAX_DIM, "i8vec");
	CheckExpectedDim(typmod, dim);
	if (unused != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("incorrect binary data format for i8vec"),
				 errdetail("The reserved field must be zero, not %d.", unused)));
	CheckScale(scale, ERRCODE_INVALID_BINARY_REPRESENTATION);
	left = buf->len - buf->cursor;
	if (left != dim)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("incorrect binary data format for i8vec"),
				 errdetail("The header says %d dimensions, but %d code bytes follow.", dim, left)));
	result = InitI8Vec(dim);
	result->scale = scale;
	pq_copymsgbytes(buf, (char *) result->x, dim);
	CheckI8VecCodes(result);
	CanonicalizeI8Vec(result, NULL);
	PG_RETURN_I8VEC_P(result);
}

PG_FUNCTION_INFO_V1(i8vec_send);
/* Binary output, the layout i8vec_recv reads. */
Datum
i8vec_send(PG_FUNCTION_ARGS)
{
	I8Vec	   *v = PG_GETARG_I8VEC_P(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint16(&buf, v->dim);
	pq_sendint16(&buf, 0);
	pq_sendfloat4(&buf, v->scale);
	pq_sendbytes(&buf, (char *) v->x, v->dim);
	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PG_FUNCTION_INFO_V1(i8vec_coerce);
/* Typmod coercion: i8vec to i8vec(n) on assignment and cast. */
Datum
i8vec_coerce(PG_FUNCTION_ARGS)
{
	I8Vec	   *v = PG_GETARG_I8VEC_P(0);

	CheckExpectedDim(PG_GETARG_INT32(1), v->dim);
	PG_RETURN_I8VEC_P(v);
}

PG_FUNCTION_INFO_V1(i8vec_from_codes);
/*
 * i8vec_from_codes(integer[] or smallint[]): keep the codes exactly, scale 1
 * (0 for all-zero codes: the zero vector), for models that emit int8
 * embeddings themselves.
 */
Datum
i8vec_from_codes(PG_FUNCTION_ARGS)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);
	Oid			elemtype = ARR_ELEMTYPE(a);
	int			n = ArrayDim(a, "i8vec", I8VEC_MAX_DIM);
	I8Vec	   *result;

	result = InitI8Vec(n);
	result->scale = 1.0f;
	for (int i = 0; i < n; i++)
	{
		int32		c = elemtype == INT2OID ? ((int16 *) ARR_DATA_PTR(a))[i]
			: ((int32 *) ARR_DATA_PTR(a))[i];

		CheckCode(c);
		result->x[i] = (int8) c;
	}
	CanonicalizeI8Vec(result, NULL);
	PG_FREE_IF_COPY(a, 0);
	PG_RETURN_I8VEC_P(result);
}

PG_FUNCTION_INFO_V1(i8vec_codes);
/* The int8 codes as integer[]. */
Datum
i8vec_codes(PG_FUNCTION_ARGS)
{
	I8Vec	   *v = PG_GETARG_I8VEC_P(0);
	Datum	   *elems = palloc(sizeof(Datum) * v->dim);

	ArrayType  *result;

	for (int i = 0; i < v->dim; i++)
		elems[i] = Int32GetDatum(v->x[i]);
	result = construct_array(elems, v->dim, INT4OID, sizeof(int32), true, TYPALIGN_INT);
	pfree(elems);
	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_ARRAYTYPE_P(result);
}

PG_FUNCTION_INFO_V1(i8vec_scale);
/* The per-vector scale. */
Datum
i8vec_scale(PG_FUNCTION_ARGS)
{
	I8Vec	   *v = PG_GETARG_I8VEC_P(0);
	float4		scale = v->scale;

	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_FLOAT4(scale);
}

PG_FUNCTION_INFO_V1(i8vec_dims);
/* Number of dimensions. */
Datum
i8vec_dims(PG_FUNCTION_ARGS)
{
	I8Vec	   *v = PG_GETARG_I8VEC_P(0);
	int32		dim = v->dim;

	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_INT32(dim);
}

PG_FUNCTION_INFO_V1(i8vec_l2_norm);
/* Euclidean norm of the dequantized vector. */
Datum
i8vec_l2_norm(PG_FUNCTION_ARGS)
{
	I8Vec	   *v = PG_GETARG_I8VEC_P(0);
	int64		ss = embq_kernels()->i8_dot(v->x, v->x, v->dim);
	double		norm = (double) v->scale * sqrt((double) ss);

	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_FLOAT8(norm);
}

/* Total order: dimensions, then scale, then codes. */
static int
I8VecCmp(const I8Vec *a, const I8Vec *b)
{
	if (a->dim != b->dim)
		return a->dim < b->dim ? -1 : 1;
	if (a->scale != b->scale)
		return a->scale < b->scale ? -1 : 1;
	for (int i = 0; i < a->dim; i++)
		if (a->x[i] != b->x[i])
			return a->x[i] < b->x[i] ? -1 : 1;
	return 0;
}

/* Compare two i8vec arguments, freeing detoasted copies (see BitVecCmpArgs). */
static int
I8VecCmpArgs(FunctionCallInfo fcinfo)
{
	I8Vec	   *a = PG_GETARG_I8VEC_P(0);
	I8Vec	   *b = PG_GETARG_I8VEC_P(1);
	int			c = I8VecCmp(a, b);

	PG_FREE_IF_COPY(a, 0);
	PG_FREE_IF_COPY(b, 1);
	return c;
}

#define I8VEC_CMP_FUNC(name, test) \
PG_FUNCTION_INFO_V1(name); \
Datum \
name(PG_FUNCTION_ARGS) \
{ \
	int			c = I8VecCmpArgs(fcinfo); \
	PG_RETURN_BOOL(test); \
}

I8VEC_CMP_FUNC(i8vec_lt, c < 0)
I8VEC_CMP_FUNC(i8vec_le, c <= 0)
I8VEC_CMP_FUNC(i8vec_eq, c == 0)
I8VEC_CMP_FUNC(i8vec_ne, c != 0)
I8VEC_CMP_FUNC(i8vec_ge, c >= 0)
I8VEC_CMP_FUNC(i8vec_gt, c > 0)

PG_FUNCTION_INFO_V1(i8vec_cmp);
/* btree support function 1. */
Datum
i8vec_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(I8VecCmpArgs(fcinfo));
}

PG_FUNCTION_INFO_V1(i8vec_hash);
/* hash support function 1: over dims, scale and codes (never -0 scale). */
Datum
i8vec_hash(PG_FUNCTION_ARGS)
{
	I8Vec	   *v = PG_GETARG_I8VEC_P(0);
	Datum		h = hash_any((unsigned char *) &v->dim,
							 VARSIZE(v) - offsetof(I8Vec, dim));

	PG_FREE_IF_COPY(v, 0);
	return h;
}

PG_FUNCTION_INFO_V1(i8vec_hash_extended);
/* hash support function 2: seeded 64-bit hash. */
Datum
i8vec_hash_extended(PG_FUNCTION_ARGS)
{
	I8Vec	   *v = PG_GETARG_I8VEC_P(0);
	Datum		h = hash_any_extended((unsigned char *) &v->dim,
									  VARSIZE(v) - offsetof(I8Vec, dim),
									  PG_GETARG_INT64(1));

	PG_FREE_IF_COPY(v, 0);
	return h;
}
