/*-------------------------------------------------------------------------
 *
 * api.cu
 *		The one exported symbol, embq_gpu_api(), its function table, the
 *		device probe, the copy-bandwidth measurement, and the helpers every
 *		entry point shares (errors, device selection, timed copies).
 *
 * The library uses CUDA device 0 (CUDA_VISIBLE_DEVICES chooses which
 * physical GPU that is), never resets it, and keeps no device memory
 * between calls.  CUDA's runtime is linked statically; it loads the
 * driver (libcuda.so.1) itself on the first call, so a machine without a
 * driver loads this library fine and gets a reason from probe().
 *
 *-------------------------------------------------------------------------
 */
#include "common.cuh"

EmbqGpuTiming embq_timing;

void
embq_seterr(char *err, size_t errlen, const char *fmt,...)
{
	va_list		ap;

	if (err == nullptr || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	/* one line */
	for (char *p = err; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
}

int
embq_cuda_fail(char *err, size_t errlen, const char *what, cudaError_t e)
{
	embq_seterr(err, errlen, "%s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
	return -1;
}

/* A clear reason for a failure to initialize CUDA. */
static int
init_fail(cudaError_t e, char *err, size_t errlen)
{
	int			drv = 0;

	switch (e)
	{
		case cudaErrorNoDevice:
			embq_seterr(err, errlen, "no cuda device found (cudaErrorNoDevice)");
			break;
		case cudaErrorInsufficientDriver:
			cudaDriverGetVersion(&drv);
			if (drv == 0)
				embq_seterr(err, errlen,
							"no nvidia driver found (libcuda.so.1 could not be loaded)");
			else
				embq_seterr(err, errlen,
							"the nvidia driver supports cuda %d.%d, this library needs %d.%d or later",
							drv / 1000, (drv % 1000) / 10,
							CUDART_VERSION / 1000, (CUDART_VERSION % 1000) / 10);
			break;
		case cudaErrorSystemDriverMismatch:
		case cudaErrorCompatNotSupportedOnDevice:
			embq_seterr(err, errlen, "nvidia driver and kernel module do not match: %s (%s)",
						cudaGetErrorString(e), cudaGetErrorName(e));
			break;
		case cudaErrorDevicesUnavailable:
			embq_seterr(err, errlen, "the cuda device is busy or unavailable (exclusive mode?): %s",
						cudaGetErrorName(e));
			break;
		default:
			embq_seterr(err, errlen, "cuda initialization failed: %s (%s)",
						cudaGetErrorString(e), cudaGetErrorName(e));
			break;
	}
	cudaGetLastError();
	return -1;
}

int
embq_ensure_device(int *sms, char *err, size_t errlen)
{
	int			count = 0;
	cudaError_t e;

	/* clear a stale non-sticky error left by an earlier call */
	cudaGetLastError();
	e = cudaGetDeviceCount(&count);
	if (e != cudaSuccess)
		return init_fail(e, err, errlen);
	if (count == 0)
		return init_fail(cudaErrorNoDevice, err, errlen);
	e = cudaSetDevice(0);
	if (e != cudaSuccess)
		return init_fail(e, err, errlen);
	if (sms != nullptr)
	{
		CUDA_TRY("querying the multiprocessor count",
				 cudaDeviceGetAttribute(sms, cudaDevAttrMultiProcessorCount, 0));
		if (*sms < 1)
			*sms = 1;
	}
	return 0;
}

int
embq_free_mem(size_t *free_bytes, char *err, size_t errlen)
{
	size_t		total = 0;

	CUDA_TRY("querying free GPU memory", cudaMemGetInfo(free_bytes, &total));
	return 0;
}

size_t
embq_env_max_batch(void)
{
	const char *s = getenv(EMBQ_GPU_ENV_MAX_BATCH);
	char	   *end = nullptr;
	unsigned long long v;

	if (s == nullptr || *s == '\0')
		return 0;
	v = strtoull(s, &end, 10);
	if (end == s || *end != '\0')
		return 0;
	return (size_t) v;
}

int
embq_upload(void *dst, const void *src, size_t bytes, const char *what, char *err, size_t errlen)
{
	PhaseTimer	t;

	if (bytes == 0)
		return 0;
	CUDA_TRY(what, cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
	t.add(&embq_timing.upload_s);
	embq_timing.upload_bytes += bytes;
	return 0;
}

int
embq_download(void *dst, const void *src, size_t bytes, const char *what, char *err, size_t errlen)
{
	PhaseTimer	t;

	if (bytes == 0)
		return 0;
	CUDA_TRY(what, cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
	t.add(&embq_timing.download_s);
	embq_timing.download_bytes += bytes;
	return 0;
}

int
embq_sync(double *field, PhaseTimer &t, const char *what, char *err, size_t errlen)
{
	CUDA_TRY(what, cudaDeviceSynchronize());
	t.add(field);
	return 0;
}

/* ---------------------------------------------------------------- probe */

/* Proves that a kernel image for this device exists and runs. */
__global__ void
k_probe(int *out)
{
	if (threadIdx.x == 0 && blockIdx.x == 0)
		*out = 0x454d4251;
}

int
embq_impl_probe(EmbqGpuDevice *dev, char *err, size_t errlen)
{
	cudaDeviceProp prop;
	cudaFuncAttributes attr;
	DevBuf<int> d;
	int			h = 0;
	cudaError_t e;

	if (dev == nullptr)
	{
		embq_seterr(err, errlen, "probe needs a device struct");
		return -1;
	}
	memset(dev, 0, sizeof(*dev));
	TRY(embq_ensure_device(nullptr, err, errlen));
	CUDA_TRY("reading device properties", cudaGetDeviceProperties(&prop, 0));
	dev->device = 0;
	strncpy(dev->name, prop.name, sizeof(dev->name) - 1);
	dev->name[sizeof(dev->name) - 1] = '\0';
	dev->cc_major = prop.major;
	dev->cc_minor = prop.minor;
	dev->total_mem = prop.totalGlobalMem;
	cudaRuntimeGetVersion(&dev->runtime_version);
	cudaDriverGetVersion(&dev->driver_version);

	/* built for sm_90 (SASS) and compute_90 (PTX): 9.0 or later only */
	e = cudaFuncGetAttributes(&attr, k_probe);
	if (e != cudaSuccess)
	{
		cudaGetLastError();
		if (e == cudaErrorNoKernelImageForDevice || e == cudaErrorInvalidDeviceFunction ||
			e == cudaErrorUnsupportedPtxVersion)
			embq_seterr(err, errlen,
						"%s (compute capability %d.%d) cannot run this build, made for "
						"compute capability 9.0 and later: %s",
						prop.name, prop.major, prop.minor, cudaGetErrorName(e));
		else
			embq_cuda_fail(err, errlen, "loading the kernels", e);
		return -1;
	}
	TRY(dev_alloc(d, 1, "the probe", err, errlen));
	EMBQ_LAUNCH(k_probe, 1, 32, 0, d.p);
	LAUNCH_CHECK("launching the probe kernel");
	CUDA_TRY("reading the probe result", cudaMemcpy(&h, d.p, sizeof(int), cudaMemcpyDeviceToHost));
	if (h != 0x454d4251)
	{
		embq_seterr(err, errlen, "the probe kernel did not run correctly");
		return -1;
	}
	d.release();
	CUDA_TRY("querying GPU memory", cudaMemGetInfo(&dev->free_mem, &dev->total_mem));
	return 0;
}

/* ------------------------------------------------------ copy bandwidth */

int
embq_impl_copy_bandwidth(double *bytes_per_s, char *err, size_t errlen)
{
	const int	reps = 5;
	size_t		freeb = 0;
	size_t		bytes = (size_t) 1 << 30;
	DevBuf<uint8_t> a,
				b;
	cudaEvent_t ev0 = nullptr,
				ev1 = nullptr;
	float		ms = 0;
	cudaError_t e;

	if (bytes_per_s == nullptr)
	{
		embq_seterr(err, errlen, "copy_bandwidth needs a result pointer");
		return -1;
	}
	*bytes_per_s = 0;
	TRY(embq_ensure_device(nullptr, err, errlen));
	TRY(embq_free_mem(&freeb, err, errlen));
	while (bytes > ((size_t) 64 << 20) && 2 * bytes > freeb / 10 * 8)
		bytes /= 2;
	TRY(dev_alloc(a, bytes, "the bandwidth test", err, errlen));
	TRY(dev_alloc(b, bytes, "the bandwidth test", err, errlen));
	CUDA_TRY("initializing the bandwidth test", cudaMemset(a.p, 1, bytes));
	CUDA_TRY("warming up the bandwidth test",
			 cudaMemcpy(b.p, a.p, bytes, cudaMemcpyDeviceToDevice));
	CUDA_TRY("creating an event", cudaEventCreate(&ev0));
	e = cudaEventCreate(&ev1);
	if (e == cudaSuccess)
		e = cudaEventRecord(ev0);
	for (int r = 0; r < reps && e == cudaSuccess; r++)
		e = cudaMemcpyAsync((r & 1) ? a.p : b.p, (r & 1) ? b.p : a.p, bytes,
							cudaMemcpyDeviceToDevice, 0);
	if (e == cudaSuccess)
		e = cudaEventRecord(ev1);
	if (e == cudaSuccess)
		e = cudaEventSynchronize(ev1);
	if (e == cudaSuccess)
		e = cudaEventElapsedTime(&ms, ev0, ev1);
	cudaEventDestroy(ev0);
	if (ev1)
		cudaEventDestroy(ev1);
	if (e != cudaSuccess)
		return embq_cuda_fail(err, errlen, "timing device-to-device copies", e);
	if (ms <= 0)
	{
		embq_seterr(err, errlen, "device-to-device copies took no measurable time");
		return -1;
	}
	/* every byte copied is read once and written once */
	*bytes_per_s = 2.0 * (double) bytes * reps / (ms * 1e-3);
	embq_timing.kernel_s = ms * 1e-3;
	embq_timing.kernel_bytes = 2 * (uint64_t) bytes * reps;
	return 0;
}

/* ---------------------------------------------------------------- table */

static double call_t0;

static void
begin_call(char *err, size_t errlen)
{
	memset(&embq_timing, 0, sizeof(embq_timing));
	if (err != nullptr && errlen > 0)
		err[0] = '\0';
	call_t0 = embq_now();
}

static int
end_call(int rc, char *err, size_t errlen)
{
	embq_timing.total_s = embq_now() - call_t0;
	if (rc != 0)
	{
		if (err != nullptr && errlen > 0 && err[0] == '\0')
			embq_seterr(err, errlen, "unknown gpu error");
		return rc < 0 ? rc : -1;
	}
	return 0;
}

static int
api_probe(EmbqGpuDevice *dev, char *err, size_t errlen)
{
	begin_call(err, errlen);
	return end_call(embq_impl_probe(dev, err, errlen), err, errlen);
}

static int
api_kmeans(const float *x, size_t n, size_t dim, size_t k, int max_iters, int spherical,
		   uint64_t seed, float *centroids, char *err, size_t errlen)
{
	begin_call(err, errlen);
	return end_call(embq_impl_kmeans(x, n, dim, k, max_iters, spherical, seed, centroids,
									 err, errlen), err, errlen);
}

static int
api_assign(int metric, int dims, int codesize, const uint8_t *codes, size_t n,
		   const uint8_t *centroids, size_t k, int32_t *out, char *err, size_t errlen)
{
	begin_call(err, errlen);
	return end_call(embq_impl_assign(metric, dims, codesize, codes, n, centroids, k, out,
									 err, errlen), err, errlen);
}

static int
api_topk(int metric, int asymmetric, int dims, int codesize, const uint8_t *codes, size_t n,
		 const uint8_t *qcodes, const float *qfloats, size_t nq, int k,
		 float *out_dist, int64_t *out_idx, char *err, size_t errlen)
{
	begin_call(err, errlen);
	return end_call(embq_impl_topk(metric, asymmetric, dims, codesize, codes, n, qcodes,
								   qfloats, nq, k, out_dist, out_idx, err, errlen),
					err, errlen);
}

static int
api_copy_bandwidth(double *bytes_per_s, char *err, size_t errlen)
{
	begin_call(err, errlen);
	return end_call(embq_impl_copy_bandwidth(bytes_per_s, err, errlen), err, errlen);
}

static void
api_last_timing(EmbqGpuTiming *out)
{
	if (out != nullptr)
		*out = embq_timing;
}

static const EmbqGpuApiExt embq_api_table = {
	{
		EMBQ_GPU_ABI_VERSION,
		api_probe,
		api_kmeans,
		api_assign,
		api_topk,
		api_copy_bandwidth,
	},
	EMBQ_GPU_EXT_MAGIC,
	(uint32_t) sizeof(EmbqGpuApiExt),
	api_last_timing,
};

extern "C" __attribute__((visibility("default"))) const EmbqGpuApi *
embq_gpu_api(void)
{
	return &embq_api_table.api;
}
