# The kernel sources: plain C, no PostgreSQL header.  One list for the
# extension (Makefile), the kernel unit tests (test/unit) and the GPU harness
# (test/gpu), which link them on their own.
KERNEL_NAMES = bitkernels planekernels densekernels int8kernels itemkernels quantkernels \
	residualkernels dispatch kmeans
