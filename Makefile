# embq: quantized embeddings for PostgreSQL (PGXS build)

EXTENSION = embq
EXTVERSION = 0.2.0

MODULE_big = embq
# The first release's script and one upgrade script per release after it:
# CREATE EXTENSION runs them in turn (see sql/embq--0.1.0--0.2.0.sql).
DATA = $(sort $(wildcard sql/embq--*.sql))

# Kernels: plain C, no PostgreSQL header (unit-tested on their own).
include $(dir $(lastword $(MAKEFILE_LIST)))src/kernels.mk
KERNEL_OBJS = $(addprefix src/,$(addsuffix .o,$(KERNEL_NAMES)))
# PostgreSQL glue: types, functions, operators.
GLUE_OBJS = src/embq.o src/gpu.o src/bitvec.o src/i8vec.o src/quantize.o src/distance.o \
	src/arrayutil.o
# The embq_ivf index access method.
IVF_OBJS = src/ivf.o src/ivfinfo.o src/ivfpage.o src/ivfbits.o src/ivfint8.o src/ivfsigns.o src/ivfbatch.o src/ivfbuild.o src/ivfassign.o src/ivfparallel.o \
	src/ivfinsert.o src/ivfscan.o src/ivfvacuum.o src/ivfwrite.o
OBJS = $(KERNEL_OBJS) $(GLUE_OBJS) $(IVF_OBJS)

HEADERS = src/kernels.h cuda/embq_gpu.h

REGRESS = bitvec i8vec quantize distance casts io errors btree reference memory ivf ivf_flat ivf_parallel ivf_extreme knn gpu

# TAP tests run by `make prove_installcheck` (not by installcheck).
PROVE_TESTS = test/t/*.pl

# No fused multiply-add: every kernel variant must round identically.
PG_CFLAGS = -ffp-contract=off -std=gnu99

EXTRA_CLEAN = results regression.diffs regression.out test/data/generated tmp_check

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# A server built with a newer compiler (PostgreSQL 18 from PyPI, say) passes
# warning flags an older gcc rejects: drop the ones this compiler lacks.
UNKNOWN_CFLAGS := $(foreach f,-Wmissing-variable-declarations,$(if $(shell $(CC) -Werror $(f) -E -x c /dev/null >/dev/null 2>&1 || echo no),$(f)))
override CFLAGS := $(filter-out $(UNKNOWN_CFLAGS),$(CFLAGS))

# The GPU library (cuda/): built where nvcc exists, unless NO_CUDA=1; loaded
# by the extension at run time only, so a build without it works on the CPU.
NVCC ?= $(firstword $(wildcard /usr/local/cuda/bin/nvcc) $(shell command -v nvcc 2>/dev/null))
ifeq ($(NO_CUDA),)
ifneq ($(NVCC),)
ifneq ($(wildcard cuda/Makefile),)
CUDA_LIB = cuda/libembq_cuda.so
endif
endif
endif

.PHONY: cuda install-cuda gputest
all: cuda
install: install-cuda

cuda:
ifneq ($(CUDA_LIB),)
	$(MAKE) -C cuda NVCC=$(NVCC)
else
	@echo "skipped: CUDA library (nvcc not found or NO_CUDA set)"
endif

install-cuda:
ifneq ($(CUDA_LIB),)
	$(INSTALL_SHLIB) $(CUDA_LIB) '$(DESTDIR)$(pkglibdir)/libembq_cuda.so'
endif

# GPU kernels against the CPU ones, no PostgreSQL needed; skips without a GPU.
gputest: cuda
	$(MAKE) -C test/gpu check

# PGXS tracks no header dependencies; every object depends on every header.
$(OBJS): $(wildcard src/*.h)

.PHONY: unittest testdata prove_installcheck

# C unit tests of the kernels (no server needed), plain and under ASan/UBSan.
unittest:
	$(MAKE) -C test/unit check check-sanitize

# Reference results computed independently (numpy) from the vectors in test/data.
# (Not PYTHON: PGXS defines that, empty where the server was built without it.)
EMBQ_PYTHON ?= $(shell for p in /usr/bin/python3 python3; do $$p -c 'import numpy' 2>/dev/null && echo $$p && break; done)
testdata:
	@test -n "$(EMBQ_PYTHON)" || { echo "numpy is needed for the reference tests (apt-get install python3-numpy)"; exit 1; }
	$(EMBQ_PYTHON) test/data/gen_reference.py test/data/generated

installcheck: testdata

# TAP tests (PostgreSQL::Test::Cluster): clusters of their own, as the
# installed extension.  TESTDIR places their files in this tree for the test
# modules of PostgreSQL 15 and 16, which the runs against 18 borrow (see
# test/run_tests.sh); 17's and later modules take TESTDATADIR, which PGXS sets.
prove_installcheck: export TESTDIR = $(CURDIR)
prove_installcheck:
	rm -rf $(CURDIR)/tmp_check
	$(prove_installcheck)
