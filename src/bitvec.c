/*-------------------------------------------------------------------------
 *
 * bitvec.c
 *		The bitvec type: I/O, typmod, casts to and from bit, the bytea
 *		constructor, btree and hash support.
 *
 *-------------------------------------------------------------------------
 */
#include "embq.h"

#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/varbit.h"

/* Allocate a zeroed bitvec of dim bits. */
BitVec *
InitBitVec(int dim)
{
	Size		size = BITVEC_SIZE(dim);
	BitVec	   *result = (BitVec *) palloc0(size);

	SET_VARSIZE(result, size);
	result->dim = dim;
	return result;
}

/* Error when bits past the last dimension are set. */
static void
CheckPadding(const uint8 *data, int dim)
{
	if (dim % 8 != 0 && (data[dim / 8] & (0xff >> (dim % 8))) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid bitvec padding"),
				 errdetail("Bits after dimension %d of the last byte must be zero.", dim)));
}

PG_FUNCTION_INFO_V1(bitvec_in);
/* Text input: a string of 0 and 1, dimension 0 first. */
Datum
bitvec_in(PG_FUNCTION_ARGS)
{
	char	   *lit = PG_GETARG_CSTRING(0);
	int32		typmod = PG_GETARG_INT32(2);
	size_t		len = strlen(lit);
	BitVec	   *result;

	for (size_t i = 0; i < len; i++)
		if (lit[i] != '0' && lit[i] != '1')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid input syntax for type bitvec: \"%s\"", lit),
					 errdetail("\"%.*s\" is not a valid binary digit.", pg_mblen(lit + i), lit + i)));
	CheckDim(len > BITVEC_MAX_DIM ? BITVEC_MAX_DIM + 1 : (int) len, BITVEC_MAX_DIM, "bitvec");
	CheckExpectedDim(typmod, (int) len);

	result = InitBitVec((int) len);
	for (size_t i = 0; i < len; i++)
		if (lit[i] == '1')
			result->data[i / 8] |= 0x80 >> (i % 8);
	PG_RETURN_BITVEC_P(result);
}

PG_FUNCTION_INFO_V1(bitvec_out);
/* Text output: the bit string, as core bit prints it. */
Datum
bitvec_out(PG_FUNCTION_ARGS)
{
	BitVec	   *v = PG_GETARG_BITVEC_P(0);
	char	   *buf = palloc(v->dim + 1);

	for (int i = 0; i < v->dim; i++)
		buf[i] = (v->data[i / 8] & (0x80 >> (i % 8))) ? '1' : '0';
	buf[v->dim] = '\0';
	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_CSTRING(buf);
}

PG_FUNCTION_INFO_V1(bitvec_typmod_in);
/* Parse bitvec(n). */
Datum
bitvec_typmod_in(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(EmbqTypmodIn(PG_GETARG_ARRAYTYPE_P(0), "bitvec", BITVEC_MAX_DIM));
}

PG_FUNCTION_INFO_V1(bitvec_typmod_out);
/* Print bitvec(n). */
Datum
bitvec_typmod_out(PG_FUNCTION_ARGS)
{
	int32		typmod = PG_GETARG_INT32(0);

	PG_RETURN_CSTRING(EMBQ_TYPMOD_SET(typmod) ? psprintf("(%d)", typmod) : pstrdup(""));
}

PG_FUNCTION_INFO_V1(bitvec_recv);
/* Binary input: int32 bit count, then the packed bytes (varbit's format). */
Datum
bitvec_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int32		typmod = PG_GETARG_INT32(2);
	int32		dim = pq_getmsgint(buf, sizeof(int32));
	int			left;
	BitVec	   *result;

	CheckDim(dim, BITVEC_MAX_DIM, "bitvec");
	CheckExpectedDim(typmod, dim);
	left = buf->len - buf->cursor;
	if (left != (int) EMBQ_BITBYTES(dim))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("incorrect binary data format for bitvec"),
				 errdetail("The header says %d bits, which take %d bytes, but %d bytes follow.",
						   dim, (int) EMBQ_BITBYTES(dim), left)));
	result = InitBitVec(dim);
	pq_copymsgbytes(buf, (char *) result->data, left);
	CheckPadding(result->data, dim);
	PG_RETURN_BITVEC_P(result);
}

PG_FUNCTION_INFO_V1(bitvec_send);
/* Binary output: int32 bit count, then the packed bytes. */
Datum
bitvec_send(PG_FUNCTION_ARGS)
{
	BitVec	   *v = PG_GETARG_BITVEC_P(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, v->dim);
	pq_sendbytes(&buf, (char *) v->data, EMBQ_BITBYTES(v->dim));
	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PG_FUNCTION_INFO_V1(bitvec_coerce);
/* Typmod coercion: bitvec to bitvec(n) on assignment and cast. */
Datum
bitvec_coerce(PG_FUNCTION_ARGS)
{
	BitVec	   *v = PG_GETARG_BITVEC_P(0);

	CheckExpectedDim(PG_GETARG_INT32(1), v->dim);
	PG_RETURN_BITVEC_P(v);
}

PG_FUNCTION_INFO_V1(bitvec_from_bit);
/* Cast bit and bit varying to bitvec: the same layout, copied. */
Datum
bitvec_from_bit(PG_FUNCTION_ARGS)
{
	VarBit	   *b = PG_GETARG_VARBIT_P(0);
	BitVec	   *result;

	CheckDim(VARBITLEN(b), BITVEC_MAX_DIM, "bitvec");
	result = InitBitVec(VARBITLEN(b));
	memcpy(result->data, VARBITS(b), VARBITBYTES(b));
	/* bit's padding is zero already; make sure, so equal values compare equal */
	if (result->dim % 8 != 0)
		result->data[result->dim / 8] &= (uint8) (0xff << (8 - result->dim % 8));
	PG_FREE_IF_COPY(b, 0);
	PG_RETURN_BITVEC_P(result);
}

PG_FUNCTION_INFO_V1(bitvec_to_bit);
/* Cast bitvec to bit and bit varying. */
Datum
bitvec_to_bit(PG_FUNCTION_ARGS)
{
	BitVec	   *v = PG_GETARG_BITVEC_P(0);
	Size		size = VARBITTOTALLEN(v->dim);
	VarBit	   *result = (VarBit *) palloc0(size);

	SET_VARSIZE(result, size);
	VARBITLEN(result) = v->dim;
	memcpy(VARBITS(result), v->data, EMBQ_BITBYTES(v->dim));
	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_VARBIT_P(result);
}

PG_FUNCTION_INFO_V1(bitvec_from_bytea);
/*
 * bitvec(bytea, dims): packed bytes made elsewhere, such as numpy.packbits
 * or sentence-transformers' ubinary output.
 */
Datum
bitvec_from_bytea(PG_FUNCTION_ARGS)
{
	bytea	   *bytes = PG_GETARG_BYTEA_PP(0);
	int32		dim = PG_GETARG_INT32(1);
	int			len = VARSIZE_ANY_EXHDR(bytes);
	BitVec	   *result;

	CheckDim(dim, BITVEC_MAX_DIM, "bitvec");
	if (len != (int) EMBQ_BITBYTES(dim))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%d bytes cannot hold a bitvec of %d dimensions", len, dim),
				 errdetail("%d dimensions pack into %d bytes.", dim, (int) EMBQ_BITBYTES(dim))));
	result = InitBitVec(dim);
	memcpy(result->data, VARDATA_ANY(bytes), len);
	CheckPadding(result->data, dim);
	PG_FREE_IF_COPY(bytes, 0);
	PG_RETURN_BITVEC_P(result);
}

PG_FUNCTION_INFO_V1(bitvec_to_bytea);
/* The packed bytes of a bitvec, for clients that unpack them themselves. */
Datum
bitvec_to_bytea(PG_FUNCTION_ARGS)
{
	BitVec	   *v = PG_GETARG_BITVEC_P(0);
	int			len = EMBQ_BITBYTES(v->dim);
	bytea	   *result = (bytea *) palloc(VARHDRSZ + len);

	SET_VARSIZE(result, VARHDRSZ + len);
	memcpy(VARDATA(result), v->data, len);
	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_BYTEA_P(result);
}

/*
 * Total order: bitwise lexicographic, a proper prefix first (core bit's
 * order; the bytes are MSB first and zero-padded, so memcmp gives it).
 */
static int
BitVecCmp(const BitVec *a, const BitVec *b)
{
	int			minbytes = EMBQ_BITBYTES(Min(a->dim, b->dim));
	int			c = memcmp(a->data, b->data, minbytes);

	if (c != 0)
		return c < 0 ? -1 : 1;
	if (a->dim != b->dim)
		return a->dim < b->dim ? -1 : 1;
	return 0;
}

/*
 * Compare two bitvec arguments, freeing detoasted copies: comparators run
 * once per comparison in sorts, outside any per-row memory reset.
 */
static int
BitVecCmpArgs(FunctionCallInfo fcinfo)
{
	BitVec	   *a = PG_GETARG_BITVEC_P(0);
	BitVec	   *b = PG_GETARG_BITVEC_P(1);
	int			c = BitVecCmp(a, b);

	PG_FREE_IF_COPY(a, 0);
	PG_FREE_IF_COPY(b, 1);
	return c;
}

#define BITVEC_CMP_FUNC(name, test) \
PG_FUNCTION_INFO_V1(name); \
Datum \
name(PG_FUNCTION_ARGS) \
{ \
	int			c = BitVecCmpArgs(fcinfo); \
	PG_RETURN_BOOL(test); \
}

BITVEC_CMP_FUNC(bitvec_lt, c < 0)
BITVEC_CMP_FUNC(bitvec_le, c <= 0)
BITVEC_CMP_FUNC(bitvec_eq, c == 0)
BITVEC_CMP_FUNC(bitvec_ne, c != 0)
BITVEC_CMP_FUNC(bitvec_ge, c >= 0)
BITVEC_CMP_FUNC(bitvec_gt, c > 0)

PG_FUNCTION_INFO_V1(bitvec_cmp);
/* btree support function 1. */
Datum
bitvec_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(BitVecCmpArgs(fcinfo));
}

PG_FUNCTION_INFO_V1(bitvec_hash);
/* hash support function 1: over the bit count and the bytes. */
Datum
bitvec_hash(PG_FUNCTION_ARGS)
{
	BitVec	   *v = PG_GETARG_BITVEC_P(0);
	Datum		h = hash_any((unsigned char *) &v->dim,
							 sizeof(int32) + EMBQ_BITBYTES(v->dim));

	PG_FREE_IF_COPY(v, 0);
	return h;
}

PG_FUNCTION_INFO_V1(bitvec_hash_extended);
/* hash support function 2: seeded 64-bit hash. */
Datum
bitvec_hash_extended(PG_FUNCTION_ARGS)
{
	BitVec	   *v = PG_GETARG_BITVEC_P(0);
	Datum		h = hash_any_extended((unsigned char *) &v->dim,
									  sizeof(int32) + EMBQ_BITBYTES(v->dim),
									  PG_GETARG_INT64(1));

	PG_FREE_IF_COPY(v, 0);
	return h;
}

PG_FUNCTION_INFO_V1(bitvec_dims);
/* Number of dimensions (bits). */
Datum
bitvec_dims(PG_FUNCTION_ARGS)
{
	BitVec	   *v = PG_GETARG_BITVEC_P(0);
	int32		dim = v->dim;

	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_INT32(dim);
}

PG_FUNCTION_INFO_V1(bitvec_bit_count);
/* Number of set bits. */
Datum
bitvec_bit_count(PG_FUNCTION_ARGS)
{
	BitVec	   *v = PG_GETARG_BITVEC_P(0);
	int64		count = (int64) embq_kernels()->popcount(v->data, EMBQ_BITBYTES(v->dim));

	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_INT64(count);
}
