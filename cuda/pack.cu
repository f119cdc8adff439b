/*-------------------------------------------------------------------------
 *
 * pack.cu
 *		Moving codes from the host format (codesize bytes per code,
 *		unaligned, an i8 code's scale first) into the device layouts of
 *		common.cuh: transposed columns for the codes being scored, rows for
 *		centroids and query codes; scales and exact squared norms beside.
 *
 * The raw bytes go up through a staging buffer in pieces of at most
 * STAGE_BYTES and are repacked on the device, byte by byte, so any
 * codesize and any alignment work.
 *
 *-------------------------------------------------------------------------
 */
#include "common.cuh"

#define STAGE_BYTES ((size_t) 64 << 20)
#define PACK_THREADS 256

/* Assemble payload word w of a raw code (bytes past the payload read as 0). */
__device__ __forceinline__ unsigned int
raw_word(const uint8_t *__restrict__ code, int off, int nbytes, int w)
{
	unsigned int v = 0;
	int			b0 = 4 * w;

#pragma unroll
	for (int b = 0; b < 4; b++)
		if (b0 + b < nbytes)
			v |= (unsigned int) code[off + b0 + b] << (8 * b);
	return v;
}

/* The float4 scale at the start of a raw i8 code (stored unaligned, host order). */
__device__ __forceinline__ float
raw_scale(const uint8_t *__restrict__ code)
{
	unsigned int v = (unsigned int) code[0] | ((unsigned int) code[1] << 8) |
		((unsigned int) code[2] << 16) | ((unsigned int) code[3] << 24);

	return __uint_as_float(v);
}

/* cnt raw codes -> words 0..W-1 of columns col0.. of codesT (and scales). */
__global__ void
k_pack_cols(const uint8_t *__restrict__ raw, size_t cnt, int codesize, int off,
			int nbytes, int W, uint32_t *__restrict__ codesT, size_t ldc,
			size_t col0, float *__restrict__ scale)
{
	size_t		total = (size_t) W * cnt;

	for (size_t e = (size_t) blockIdx.x * blockDim.x + threadIdx.x; e < total;
		 e += (size_t) gridDim.x * blockDim.x)
	{
		size_t		w = e / cnt;
		size_t		i = e - w * cnt;
		const uint8_t *code = raw + i * (size_t) codesize;

		codesT[w * ldc + col0 + i] = raw_word(code, off, nbytes, (int) w);
		if (scale != nullptr && w == 0)
			scale[col0 + i] = raw_scale(code);
	}
}

/* Exact sum of c_j^2 of columns col0 .. col0+cnt-1 (i8 only). */
__global__ void
k_norms_cols(const uint32_t *__restrict__ codesT, size_t ldc, int W, size_t col0,
			 size_t cnt, int *__restrict__ norms)
{
	for (size_t i = (size_t) blockIdx.x * blockDim.x + threadIdx.x; i < cnt;
		 i += (size_t) gridDim.x * blockDim.x)
	{
		int			s = 0;

		for (int w = 0; w < W; w++)
		{
			int			v = (int) codesT[(size_t) w * ldc + col0 + i];

			s = __dp4a(v, v, s);
		}
		norms[col0 + i] = s;
	}
}

/* cnt raw codes -> rows r0.. of Wq words (zero padded past W), and scales. */
__global__ void
k_pack_rows(const uint8_t *__restrict__ raw, size_t cnt, int codesize, int off,
			int nbytes, int W, int Wq, uint32_t *__restrict__ rows, size_t r0,
			float *__restrict__ scale)
{
	size_t		total = (size_t) Wq * cnt;

	for (size_t e = (size_t) blockIdx.x * blockDim.x + threadIdx.x; e < total;
		 e += (size_t) gridDim.x * blockDim.x)
	{
		size_t		r = e / (size_t) Wq;
		int			w = (int) (e - r * (size_t) Wq);
		const uint8_t *code = raw + r * (size_t) codesize;

		rows[(r0 + r) * (size_t) Wq + w] = w < W ? raw_word(code, off, nbytes, w) : 0u;
		if (scale != nullptr && w == 0)
			scale[r0 + r] = raw_scale(code);
	}
}

/* Exact sum of c_j^2 of rows (i8 only). */
__global__ void
k_norms_rows(const uint32_t *__restrict__ rows, int Wq, size_t cnt, int *__restrict__ norms)
{
	for (size_t r = (size_t) blockIdx.x * blockDim.x + threadIdx.x; r < cnt;
		 r += (size_t) gridDim.x * blockDim.x)
	{
		int			s = 0;

		for (int w = 0; w < Wq; w++)
		{
			int			v = (int) rows[r * (size_t) Wq + w];

			s = __dp4a(v, v, s);
		}
		norms[r] = s;
	}
}

int
embq_code_layout(int metric, int dims, int codesize, CodeLayout *L, char *err, size_t errlen)
{
	memset(L, 0, sizeof(*L));
	switch (metric)
	{
		case EMBQ_GPU_METRIC_HAMMING:
		case EMBQ_GPU_METRIC_BIT_IP:
			if (dims < 1 || dims > 64000)
			{
				embq_seterr(err, errlen, "bit dimensions %d out of range 1..64000", dims);
				return -1;
			}
			L->bits = 1;
			L->off = 0;
			L->nbytes = (dims + 7) / 8;
			break;
		case EMBQ_GPU_METRIC_L2:
		case EMBQ_GPU_METRIC_IP:
		case EMBQ_GPU_METRIC_COSINE:
			/* 16000: the i8vec limit; norms stay below 127^2 * 16000 < 2^31 */
			if (dims < 1 || dims > 16000)
			{
				embq_seterr(err, errlen, "int8 dimensions %d out of range 1..16000", dims);
				return -1;
			}
			L->bits = 0;
			L->off = (int) sizeof(float);
			L->nbytes = dims;
			break;
		default:
			embq_seterr(err, errlen, "unknown metric %d", metric);
			return -1;
	}
	if (codesize != L->off + L->nbytes)
	{
		embq_seterr(err, errlen, "code size %d does not match %d dimensions (expected %d)",
					codesize, dims, L->off + L->nbytes);
		return -1;
	}
	L->dims = dims;
	L->codesize = codesize;
	L->W = (L->nbytes + 3) / 4;
	L->Wq = (int) round_up((size_t) L->W, 8);
	return 0;
}

/* Make sure the staging buffer holds at least bytes. */
static int
stage_reserve(Staging &st, size_t bytes, char *err, size_t errlen)
{
	if (st.raw.p != nullptr && st.raw.count >= bytes)
		return 0;
	return dev_alloc(st.raw, bytes, "staging codes", err, errlen);
}

/* Codes per staging piece. */
static size_t
stage_codes(size_t cnt, int codesize)
{
	size_t		per = STAGE_BYTES / (size_t) codesize;

	if (per < 1)
		per = 1;
	return per < cnt ? per : cnt;
}

int
embq_zero_pad_rows(const CodeLayout &L, uint32_t *codesT, size_t ldc, char *err, size_t errlen)
{
	if (L.Wq > L.W)
		CUDA_TRY("zeroing code padding",
				 cudaMemset(codesT + (size_t) L.W * ldc, 0,
							sizeof(uint32_t) * (size_t) (L.Wq - L.W) * ldc));
	return 0;
}

int
embq_upload_columns(const uint8_t *host, size_t cnt, const CodeLayout &L,
					uint32_t *codesT, size_t ldc, size_t col0,
					float *scale, int *norms, Staging &st, char *err, size_t errlen)
{
	size_t		per = stage_codes(cnt, L.codesize);
	PhaseTimer	t;

	if (cnt == 0)
		return 0;
	TRY(stage_reserve(st, per * (size_t) L.codesize, err, errlen));
	for (size_t done = 0; done < cnt; done += per)
	{
		size_t		m = cnt - done < per ? cnt - done : per;

		/* the copy is synchronous, so the previous piece's kernel has run */
		TRY(embq_upload(st.raw.p, host + done * (size_t) L.codesize, m * (size_t) L.codesize,
						"uploading codes", err, errlen));
		t.restart();
		EMBQ_LAUNCH(k_pack_cols, grid_for((size_t) L.W * m, PACK_THREADS), PACK_THREADS, 0,
					(const uint8_t *) st.raw.p, m, L.codesize, L.off, L.nbytes, L.W, codesT,
					ldc, col0 + done, L.bits ? nullptr : scale);
		LAUNCH_CHECK("launching the code repacking kernel");
		TRY(embq_sync(&embq_timing.prep_s, t, "repacking codes", err, errlen));
	}
	if (norms != nullptr && !L.bits)
	{
		t.restart();
		EMBQ_LAUNCH(k_norms_cols, grid_for(cnt, PACK_THREADS), PACK_THREADS, 0,
					(const uint32_t *) codesT, ldc, L.W, col0, cnt, norms);
		LAUNCH_CHECK("launching the code norm kernel");
		TRY(embq_sync(&embq_timing.prep_s, t, "computing code norms", err, errlen));
	}
	return 0;
}

int
embq_upload_rows(const uint8_t *host, size_t cnt, const CodeLayout &L,
				 uint32_t *rows, float *scale, int *norms, Staging &st,
				 char *err, size_t errlen)
{
	size_t		per = stage_codes(cnt, L.codesize);
	PhaseTimer	t;

	if (cnt == 0)
		return 0;
	TRY(stage_reserve(st, per * (size_t) L.codesize, err, errlen));
	for (size_t done = 0; done < cnt; done += per)
	{
		size_t		m = cnt - done < per ? cnt - done : per;

		TRY(embq_upload(st.raw.p, host + done * (size_t) L.codesize, m * (size_t) L.codesize,
						"uploading codes", err, errlen));
		t.restart();
		EMBQ_LAUNCH(k_pack_rows, grid_for((size_t) L.Wq * m, PACK_THREADS), PACK_THREADS, 0,
					(const uint8_t *) st.raw.p, m, L.codesize, L.off, L.nbytes, L.W, L.Wq,
					rows, done, L.bits ? nullptr : scale);
		LAUNCH_CHECK("launching the row repacking kernel");
		TRY(embq_sync(&embq_timing.prep_s, t, "repacking rows", err, errlen));
	}
	if (norms != nullptr && !L.bits)
	{
		t.restart();
		EMBQ_LAUNCH(k_norms_rows, grid_for(cnt, PACK_THREADS), PACK_THREADS, 0,
					(const uint32_t *) rows, L.Wq, cnt, norms);
		LAUNCH_CHECK("launching the row norm kernel");
		TRY(embq_sync(&embq_timing.prep_s, t, "computing row norms", err, errlen));
	}
	return 0;
}
