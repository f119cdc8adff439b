#!/usr/bin/env bash
# bench_index.sh: embq_ivf vs pgvector HNSW / IVFFlat, recall@10 and latency
# on the same rows, index build time and size (issue 3). A thin wrapper around
# bench_index.py (see its docstring for what is measured and how).
#
# Usage:  bench_index.sh [bench_index.py options]   e.g. --rows 100000
#   defaults: /tmp/embq_bench/bench1024.fvecs (all 200,000 rows) and
#   /tmp/embq_bench/bench1024_queries.fvecs (100 queries), both made by
#   test/bench/make_bench_data.py; report and raw JSON in /tmp/embq_idxbench,
#   plot in docs/index_recall_latency.png.
#
# Connects with the standard PG* variables (PGHOST, PGPORT, PGUSER,
# PGDATABASE) as a role that may CREATE EXTENSION (vector, embq, pg_prewarm)
# and CHECKPOINT. Needs python3 with numpy, psycopg (3) and matplotlib
# (pip install 'psycopg[binary]' matplotlib).
#
# A throwaway cluster like the one used for docs/BENCHMARKS.md:
#   initdb -D /tmp/embq_idxbench/data -U postgres --auth=trust
#   printf '%s\n' "port = 5460" "unix_socket_directories = '/tmp/embq_idxbench'" \
#     "shared_buffers = 2GB" "jit = off" "max_wal_size = 10GB" >> /tmp/embq_idxbench/data/postgresql.conf
#   pg_ctl -D /tmp/embq_idxbench/data -l /tmp/embq_idxbench/server.log start
#   createdb -h /tmp/embq_idxbench -p 5460 -U postgres bench
#   PGHOST=/tmp/embq_idxbench PGPORT=5460 PGUSER=postgres PGDATABASE=bench test/bench/bench_index.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
python3 -c "import numpy, psycopg, matplotlib" 2>/dev/null || {
	echo "bench_index.sh: needs python3 modules numpy, psycopg (3), matplotlib" >&2; exit 1; }
exec python3 "$HERE/bench_index.py" "$@"
