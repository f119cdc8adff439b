-- embq 0.1.0: quantized embeddings for PostgreSQL

\echo Use "CREATE EXTENSION embq" to load this file. \quit

------------------------------------------------------------------------
-- bitvec: bit-packed binary embeddings
------------------------------------------------------------------------

CREATE TYPE bitvec;

CREATE FUNCTION bitvec_in(cstring, oid, integer) RETURNS bitvec
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bitvec_out(bitvec) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bitvec_typmod_in(cstring[]) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bitvec_typmod_out(integer) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bitvec_recv(internal, oid, integer) RETURNS bitvec
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bitvec_send(bitvec) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE bitvec (
	INPUT = bitvec_in,
	OUTPUT = bitvec_out,
	TYPMOD_IN = bitvec_typmod_in,
	TYPMOD_OUT = bitvec_typmod_out,
	RECEIVE = bitvec_recv,
	SEND = bitvec_send,
	INTERNALLENGTH = VARIABLE,
	ALIGNMENT = int4,
	STORAGE = external
);

------------------------------------------------------------------------
-- i8vec: int8 codes plus a per-vector scale
------------------------------------------------------------------------

CREATE TYPE i8vec;

CREATE FUNCTION i8vec_in(cstring, oid, integer) RETURNS i8vec
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION i8vec_out(i8vec) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION i8vec_typmod_in(cstring[]) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION i8vec_typmod_out(integer) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION i8vec_recv(internal, oid, integer) RETURNS i8vec
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION i8vec_send(i8vec) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE i8vec (
	INPUT = i8vec_in,
	OUTPUT = i8vec_out,
	TYPMOD_IN = i8vec_typmod_in,
	TYPMOD_OUT = i8vec_typmod_out,
	RECEIVE = i8vec_recv,
	SEND = i8vec_send,
	INTERNALLENGTH = VARIABLE,
	ALIGNMENT = int4,
	STORAGE = external
);

------------------------------------------------------------------------
-- typmod coercion and casts
------------------------------------------------------------------------

CREATE FUNCTION bitvec(bitvec, integer, boolean) RETURNS bitvec
	AS 'MODULE_PATHNAME', 'bitvec_coerce' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION i8vec(i8vec, integer, boolean) RETURNS i8vec
	AS 'MODULE_PATHNAME', 'i8vec_coerce' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE CAST (bitvec AS bitvec) WITH FUNCTION bitvec(bitvec, integer, boolean) AS IMPLICIT;
CREATE CAST (i8vec AS i8vec) WITH FUNCTION i8vec(i8vec, integer, boolean) AS IMPLICIT;

CREATE FUNCTION bit_to_bitvec(bit varying) RETURNS bitvec
	AS 'MODULE_PATHNAME', 'bitvec_from_bit' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bitvec_to_bit(bitvec) RETURNS bit
	AS 'MODULE_PATHNAME', 'bitvec_to_bit' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bitvec_to_varbit(bitvec) RETURNS bit varying
	AS 'MODULE_PATHNAME', 'bitvec_to_bit' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE CAST (bit AS bitvec) WITH FUNCTION bit_to_bitvec(bit varying) AS ASSIGNMENT;
CREATE CAST (bit varying AS bitvec) WITH FUNCTION bit_to_bitvec(bit varying) AS ASSIGNMENT;
CREATE CAST (bitvec AS bit) WITH FUNCTION bitvec_to_bit(bitvec) AS ASSIGNMENT;
CREATE CAST (bitvec AS bit varying) WITH FUNCTION bitvec_to_varbit(bitvec) AS ASSIGNMENT;

-- packed bytes made elsewhere (numpy.packbits, sentence-transformers ubinary)
CREATE FUNCTION bitvec(bytea, dims integer) RETURNS bitvec
	AS 'MODULE_PATHNAME', 'bitvec_from_bytea' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bitvec_to_bytea(bitvec) RETURNS bytea
	AS 'MODULE_PATHNAME', 'bitvec_to_bytea' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

------------------------------------------------------------------------
-- quantization
------------------------------------------------------------------------

CREATE FUNCTION quantize_binary(real[]) RETURNS bitvec
	AS 'MODULE_PATHNAME', 'embq_quantize_binary' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION quantize_binary(double precision[]) RETURNS bitvec
	AS 'MODULE_PATHNAME', 'embq_quantize_binary' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION quantize_binary(real[], thresholds real[]) RETURNS bitvec
	AS 'MODULE_PATHNAME', 'embq_quantize_binary_thresholds' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION quantize_binary(double precision[], thresholds double precision[]) RETURNS bitvec
	AS 'MODULE_PATHNAME', 'embq_quantize_binary_thresholds' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION quantize_binary(i8vec) RETURNS bitvec
	AS 'MODULE_PATHNAME', 'embq_quantize_binary_i8vec' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION quantize_int8(real[]) RETURNS i8vec
	AS 'MODULE_PATHNAME', 'embq_quantize_int8' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION quantize_int8(double precision[]) RETURNS i8vec
	AS 'MODULE_PATHNAME', 'embq_quantize_int8' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION quantize_int8(numeric[]) RETURNS i8vec
	AS 'MODULE_PATHNAME', 'embq_quantize_int8' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION dequantize(i8vec) RETURNS real[]
	AS 'MODULE_PATHNAME', 'embq_dequantize_i8vec' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION dequantize(bitvec) RETURNS real[]
	AS 'MODULE_PATHNAME', 'embq_dequantize_bitvec' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION i8vec_from_codes(integer[]) RETURNS i8vec
	AS 'MODULE_PATHNAME', 'i8vec_from_codes' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION i8vec_from_codes(smallint[]) RETURNS i8vec
	AS 'MODULE_PATHNAME', 'i8vec_from_codes' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION i8vec_codes(i8vec) RETURNS integer[]
	AS 'MODULE_PATHNAME', 'i8vec_codes' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION i8vec_scale(i8vec) RETURNS real
	AS 'MODULE_PATHNAME', 'i8vec_scale' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE CAST (real[] AS i8vec) WITH FUNCTION quantize_int8(real[]) AS ASSIGNMENT;
CREATE CAST (double precision[] AS i8vec) WITH FUNCTION quantize_int8(double precision[]) AS ASSIGNMENT;
CREATE CAST (numeric[] AS i8vec) WITH FUNCTION quantize_int8(numeric[]) AS ASSIGNMENT;
CREATE CAST (i8vec AS real[]) WITH FUNCTION dequantize(i8vec) AS ASSIGNMENT;
CREATE CAST (i8vec AS bitvec) WITH FUNCTION quantize_binary(i8vec) AS ASSIGNMENT;

-- per-dimension mean of a sample, thresholds for quantize_binary(x, thresholds)
CREATE FUNCTION binary_thresholds_accum(double precision[], real[]) RETURNS double precision[]
	AS 'MODULE_PATHNAME', 'embq_binary_thresholds_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION binary_thresholds_accum(double precision[], double precision[]) RETURNS double precision[]
	AS 'MODULE_PATHNAME', 'embq_binary_thresholds_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION binary_thresholds_combine(double precision[], double precision[]) RETURNS double precision[]
	AS 'MODULE_PATHNAME', 'embq_binary_thresholds_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION binary_thresholds_final(double precision[]) RETURNS real[]
	AS 'MODULE_PATHNAME', 'embq_binary_thresholds_final' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE AGGREGATE binary_thresholds(real[]) (
	SFUNC = binary_thresholds_accum,
	STYPE = double precision[],
	FINALFUNC = binary_thresholds_final,
	COMBINEFUNC = binary_thresholds_combine,
	PARALLEL = SAFE
);
CREATE AGGREGATE binary_thresholds(double precision[]) (
	SFUNC = binary_thresholds_accum,
	STYPE = double precision[],
	FINALFUNC = binary_thresholds_final,
	COMBINEFUNC = binary_thresholds_combine,
	PARALLEL = SAFE
);

------------------------------------------------------------------------
-- distances
------------------------------------------------------------------------

CREATE FUNCTION hamming_distance(bitvec, bitvec) RETURNS float8
	AS 'MODULE_PATHNAME', 'bitvec_hamming_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION jaccard_distance(bitvec, bitvec) RETURNS float8
	AS 'MODULE_PATHNAME', 'bitvec_jaccard_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION inner_product(bitvec, real[]) RETURNS float8
	AS 'MODULE_PATHNAME', 'bitvec_query_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION inner_product(bitvec, double precision[]) RETURNS float8
	AS 'MODULE_PATHNAME', 'bitvec_query_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bitvec_negative_inner_product(bitvec, real[]) RETURNS float8
	AS 'MODULE_PATHNAME', 'bitvec_query_negative_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bitvec_negative_inner_product(bitvec, double precision[]) RETURNS float8
	AS 'MODULE_PATHNAME', 'bitvec_query_negative_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION l2_distance(i8vec, i8vec) RETURNS float8
	AS 'MODULE_PATHNAME', 'i8vec_l2_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION inner_product(i8vec, i8vec) RETURNS float8
	AS 'MODULE_PATHNAME', 'i8vec_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION i8vec_negative_inner_product(i8vec, i8vec) RETURNS float8
	AS 'MODULE_PATHNAME', 'i8vec_negative_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION cosine_distance(i8vec, i8vec) RETURNS float8
	AS 'MODULE_PATHNAME', 'i8vec_cosine_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION l2_distance(i8vec, real[]) RETURNS float8
	AS 'MODULE_PATHNAME', 'i8vec_query_l2_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION l2_distance(i8vec, double precision[]) RETURNS float8
	AS 'MODULE_PATHNAME', 'i8vec_query_l2_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION inner_product(i8vec, real[]) RETURNS float8
	AS 'MODULE_PATHNAME', 'i8vec_query_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION inner_product(i8vec, double precision[]) RETURNS float8
	AS 'MODULE_PATHNAME', 'i8vec_query_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION i8vec_negative_inner_product(i8vec, real[]) RETURNS float8
	AS 'MODULE_PATHNAME', 'i8vec_query_negative_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION i8vec_negative_inner_product(i8vec, double precision[]) RETURNS float8
	AS 'MODULE_PATHNAME', 'i8vec_query_negative_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION cosine_distance(i8vec, real[]) RETURNS float8
	AS 'MODULE_PATHNAME', 'i8vec_query_cosine_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION cosine_distance(i8vec, double precision[]) RETURNS float8
	AS 'MODULE_PATHNAME', 'i8vec_query_cosine_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR <~> (LEFTARG = bitvec, RIGHTARG = bitvec, FUNCTION = hamming_distance, COMMUTATOR = '<~>');
CREATE OPERATOR <%> (LEFTARG = bitvec, RIGHTARG = bitvec, FUNCTION = jaccard_distance, COMMUTATOR = '<%>');
CREATE OPERATOR <#> (LEFTARG = bitvec, RIGHTARG = real[], FUNCTION = bitvec_negative_inner_product);
CREATE OPERATOR <#> (LEFTARG = bitvec, RIGHTARG = double precision[], FUNCTION = bitvec_negative_inner_product);

CREATE OPERATOR <-> (LEFTARG = i8vec, RIGHTARG = i8vec, FUNCTION = l2_distance, COMMUTATOR = '<->');
CREATE OPERATOR <#> (LEFTARG = i8vec, RIGHTARG = i8vec, FUNCTION = i8vec_negative_inner_product, COMMUTATOR = '<#>');
CREATE OPERATOR <=> (LEFTARG = i8vec, RIGHTARG = i8vec, FUNCTION = cosine_distance, COMMUTATOR = '<=>');
CREATE OPERATOR <-> (LEFTARG = i8vec, RIGHTARG = real[], FUNCTION = l2_distance);
CREATE OPERATOR <-> (LEFTARG = i8vec, RIGHTARG = double precision[], FUNCTION = l2_distance);
CREATE OPERATOR <#> (LEFTARG = i8vec, RIGHTARG = real[], FUNCTION = i8vec_negative_inner_product);
CREATE OPERATOR <#> (LEFTARG = i8vec, RIGHTARG = double precision[], FUNCTION = i8vec_negative_inner_product);
CREATE OPERATOR <=> (LEFTARG = i8vec, RIGHTARG = real[], FUNCTION = cosine_distance);
CREATE OPERATOR <=> (LEFTARG = i8vec, RIGHTARG = double precision[], FUNCTION = cosine_distance);

------------------------------------------------------------------------
-- accessors
------------------------------------------------------------------------

CREATE FUNCTION embq_dims(bitvec) RETURNS integer
	AS 'MODULE_PATHNAME', 'bitvec_dims' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embq_dims(i8vec) RETURNS integer
	AS 'MODULE_PATHNAME', 'i8vec_dims' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION l2_norm(i8vec) RETURNS float8
	AS 'MODULE_PATHNAME', 'i8vec_l2_norm' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bit_count(bitvec) RETURNS bigint
	AS 'MODULE_PATHNAME', 'bitvec_bit_count' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- which CPU kernel variant this server runs (portable, avx2, avx512)
CREATE FUNCTION embq_cpu_kernels() RETURNS text
	AS 'MODULE_PATHNAME', 'embq_cpu_kernels' LANGUAGE C STABLE STRICT PARALLEL SAFE;

------------------------------------------------------------------------
-- btree and hash support (DISTINCT, GROUP BY, UNIQUE, ORDER BY)
------------------------------------------------------------------------

CREATE FUNCTION bitvec_lt(bitvec, bitvec) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bitvec_le(bitvec, bitvec) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bitvec_eq(bitvec, bitvec) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bitvec_ne(bitvec, bitvec) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bitvec_ge(bitvec, bitvec) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bitvec_gt(bitvec, bitvec) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bitvec_cmp(bitvec, bitvec) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bitvec_hash(bitvec) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bitvec_hash_extended(bitvec, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR < (LEFTARG = bitvec, RIGHTARG = bitvec, FUNCTION = bitvec_lt,
	COMMUTATOR = >, NEGATOR = >=, RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR <= (LEFTARG = bitvec, RIGHTARG = bitvec, FUNCTION = bitvec_le,
	COMMUTATOR = >=, NEGATOR = >, RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR = (LEFTARG = bitvec, RIGHTARG = bitvec, FUNCTION = bitvec_eq,
	COMMUTATOR = =, NEGATOR = <>, RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES);
CREATE OPERATOR <> (LEFTARG = bitvec, RIGHTARG = bitvec, FUNCTION = bitvec_ne,
	COMMUTATOR = <>, NEGATOR = =, RESTRICT = neqsel, JOIN = neqjoinsel);
CREATE OPERATOR >= (LEFTARG = bitvec, RIGHTARG = bitvec, FUNCTION = bitvec_ge,
	COMMUTATOR = <=, NEGATOR = <, RESTRICT = scalargesel, JOIN = scalargejoinsel);
CREATE OPERATOR > (LEFTARG = bitvec, RIGHTARG = bitvec, FUNCTION = bitvec_gt,
	COMMUTATOR = <, NEGATOR = <=, RESTRICT = scalargtsel, JOIN = scalargtjoinsel);

CREATE OPERATOR CLASS bitvec_ops
	DEFAULT FOR TYPE bitvec USING btree AS
	OPERATOR 1 <,
	OPERATOR 2 <=,
	OPERATOR 3 =,
	OPERATOR 4 >=,
	OPERATOR 5 >,
	FUNCTION 1 bitvec_cmp(bitvec, bitvec);

CREATE OPERATOR CLASS bitvec_ops
	DEFAULT FOR TYPE bitvec USING hash AS
	OPERATOR 1 =,
	FUNCTION 1 bitvec_hash(bitvec),
	FUNCTION 2 bitvec_hash_extended(bitvec, bigint);

CREATE FUNCTION i8vec_lt(i8vec, i8vec) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION i8vec_le(i8vec, i8vec) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION i8vec_eq(i8vec, i8vec) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION i8vec_ne(i8vec, i8vec) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION i8vec_ge(i8vec, i8vec) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION i8vec_gt(i8vec, i8vec) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION i8vec_cmp(i8vec, i8vec) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION i8vec_hash(i8vec) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION i8vec_hash_extended(i8vec, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR < (LEFTARG = i8vec, RIGHTARG = i8vec, FUNCTION = i8vec_lt,
	COMMUTATOR = >, NEGATOR = >=, RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR <= (LEFTARG = i8vec, RIGHTARG = i8vec, FUNCTION = i8vec_le,
	COMMUTATOR = >=, NEGATOR = >, RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR = (LEFTARG = i8vec, RIGHTARG = i8vec, FUNCTION = i8vec_eq,
	COMMUTATOR = =, NEGATOR = <>, RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES);
CREATE OPERATOR <> (LEFTARG = i8vec, RIGHTARG = i8vec, FUNCTION = i8vec_ne,
	COMMUTATOR = <>, NEGATOR = =, RESTRICT = neqsel, JOIN = neqjoinsel);
CREATE OPERATOR >= (LEFTARG = i8vec, RIGHTARG = i8vec, FUNCTION = i8vec_ge,
	COMMUTATOR = <=, NEGATOR = <, RESTRICT = scalargesel, JOIN = scalargejoinsel);
CREATE OPERATOR > (LEFTARG = i8vec, RIGHTARG = i8vec, FUNCTION = i8vec_gt,
	COMMUTATOR = <, NEGATOR = <=, RESTRICT = scalargtsel, JOIN = scalargtjoinsel);

CREATE OPERATOR CLASS i8vec_ops
	DEFAULT FOR TYPE i8vec USING btree AS
	OPERATOR 1 <,
	OPERATOR 2 <=,
	OPERATOR 3 =,
	OPERATOR 4 >=,
	OPERATOR 5 >,
	FUNCTION 1 i8vec_cmp(i8vec, i8vec);

CREATE OPERATOR CLASS i8vec_ops
	DEFAULT FOR TYPE i8vec USING hash AS
	OPERATOR 1 =,
	FUNCTION 1 i8vec_hash(i8vec),
	FUNCTION 2 i8vec_hash_extended(i8vec, bigint);

------------------------------------------------------------------------
-- embq_ivf: inverted-file index over the codes, rescoring inside the index
------------------------------------------------------------------------

CREATE FUNCTION embq_ivf_handler(internal) RETURNS index_am_handler
	AS 'MODULE_PATHNAME' LANGUAGE C;
CREATE ACCESS METHOD embq_ivf TYPE INDEX HANDLER embq_ivf_handler;
COMMENT ON ACCESS METHOD embq_ivf IS 'inverted-file index over bitvec and i8vec codes';

-- support function 1 of each operator class: the metric it ranks by
CREATE FUNCTION embq_ivf_hamming_metric(internal) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embq_ivf_bit_ip_metric(internal) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embq_ivf_l2_metric(internal) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embq_ivf_ip_metric(internal) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embq_ivf_cosine_metric(internal) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR CLASS bitvec_hamming_ops
	DEFAULT FOR TYPE bitvec USING embq_ivf AS
	OPERATOR 1 <~> (bitvec, bitvec) FOR ORDER BY float_ops,
	FUNCTION 1 embq_ivf_hamming_metric(internal);

CREATE OPERATOR CLASS bitvec_ip_ops
	FOR TYPE bitvec USING embq_ivf AS
	OPERATOR 1 <#> (bitvec, real[]) FOR ORDER BY float_ops,
	OPERATOR 2 <#> (bitvec, double precision[]) FOR ORDER BY float_ops,
	FUNCTION 1 embq_ivf_bit_ip_metric(internal);

CREATE OPERATOR CLASS i8vec_l2_ops
	DEFAULT FOR TYPE i8vec USING embq_ivf AS
	OPERATOR 1 <-> (i8vec, i8vec) FOR ORDER BY float_ops,
	OPERATOR 2 <-> (i8vec, real[]) FOR ORDER BY float_ops,
	OPERATOR 3 <-> (i8vec, double precision[]) FOR ORDER BY float_ops,
	FUNCTION 1 embq_ivf_l2_metric(internal);

CREATE OPERATOR CLASS i8vec_ip_ops
	FOR TYPE i8vec USING embq_ivf AS
	OPERATOR 1 <#> (i8vec, i8vec) FOR ORDER BY float_ops,
	OPERATOR 2 <#> (i8vec, real[]) FOR ORDER BY float_ops,
	OPERATOR 3 <#> (i8vec, double precision[]) FOR ORDER BY float_ops,
	FUNCTION 1 embq_ivf_ip_metric(internal);

CREATE OPERATOR CLASS i8vec_cosine_ops
	FOR TYPE i8vec USING embq_ivf AS
	OPERATOR 1 <=> (i8vec, i8vec) FOR ORDER BY float_ops,
	OPERATOR 2 <=> (i8vec, real[]) FOR ORDER BY float_ops,
	OPERATOR 3 <=> (i8vec, double precision[]) FOR ORDER BY float_ops,
	FUNCTION 1 embq_ivf_cosine_metric(internal);

-- what an embq_ivf index holds, which path (cpu or gpu) built it, and with
-- how many parallel workers
CREATE FUNCTION embq_ivf_info(index regclass,
	OUT lists integer, OUT dims integer, OUT metric text, OUT rows_per_page integer,
	OUT trained_on text, OUT assigned_on text, OUT build_workers integer)
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
-- the function itself requires the owner of the index's table or privileges
-- of pg_read_all_stats / pg_stat_scan_tables (what pgstattuple's pgstatindex
-- asks), so owners may call it without a grant

------------------------------------------------------------------------
-- GPU offload (libembq_cuda.so, loaded on first use)
------------------------------------------------------------------------

-- embq.gpu, whether a GPU is usable in this session, which one, or why not
CREATE FUNCTION embq_gpu_status(OUT setting text, OUT usable boolean, OUT device text, OUT reason text)
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;
