#!/usr/bin/env bash
# bench_quantize.sh: embq vs pgvector, quantization throughput and exact
# top-10 hamming seq-scan latency, on 200k x 1024 real-derived vectors.
#
# Usage:  bench_quantize.sh [DATA.fvecs] [QUERIES.fvecs]
#   defaults: /tmp/embq_bench/bench1024.fvecs and .../bench1024_queries.fvecs
#   (made by test/bench/make_bench_data.py).
#
# Connects with the standard PG* variables (PGHOST, PGPORT, PGUSER,
# PGDATABASE). Needs extensions vector (pgvector) and embq installed on the
# server; if embq is not installed, the pgvector half runs and embq cells
# read "n/a". Run it as a role that may CREATE EXTENSION.
#
# Environment knobs:
#   REPS=3        repetitions of each quantization statement (median reported)
#   NQ=20         queries for the top-10 scans (mean over them; 3 passes, median pass)
#   RELOAD=0      1 = drop and reload bench_float / bench_vec even if present
#   JIT=off       session jit setting for every timed statement
#   OUTMD=/tmp/embq_bench/results.md   the markdown report is also written here
#   DATASET_DESC  one line describing the data set for the report
#   KEEP=0        1 = keep the result tables (bq_*) afterwards
#
# Timings come from psql's \timing (client-side wall time over a Unix socket;
# includes parse/plan, negligible next to these statements). Quantization is
# timed as CREATE TABLE ... AS (logged table, so it includes writing the new
# heap and its WAL) and, separately, as SELECT count(f(v)) (function cost plus
# scan/detoast, no writes). Everything runs with max_parallel_workers_per_gather
# = 0 (single core, like for like) and again with the server's default.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
DATA=${1:-/tmp/embq_bench/bench1024.fvecs}
QUERIES=${2:-${DATA%.fvecs}_queries.fvecs}
REPS=${REPS:-3}
NQ=${NQ:-20}
RELOAD=${RELOAD:-0}
JIT=${JIT:-off}
OUTMD=${OUTMD:-/tmp/embq_bench/results.md}
KEEP=${KEEP:-0}
DATASET_DESC=${DATASET_DESC:-"200,000 x 1024 float32, L2-normalised: 50,000 all-MiniLM-L6-v2 embeddings (384-d) of unique Debian bookworm package-description paragraphs, mean-centred, lifted to 1024-d by a seeded Gaussian projection; rows 50,001-200,000 are copies of those plus seeded Gaussian noise (0.2x row RMS). Queries: 100 held-out paragraphs, same pipeline, no noise (test/bench/make_bench_data.py)"}

export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
PSQL=(psql -X -q -v ON_ERROR_STOP=1)
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
sql() { "${PSQL[@]}" -At -c "$1"; }

for f in "$DATA" "$QUERIES"; do
	[ -r "$f" ] || { echo "missing $f (run test/bench/make_bench_data.py)" >&2; exit 1; }
done
DIM=$(python3 -c "import numpy as np,sys; print(int(np.fromfile(sys.argv[1], dtype='<i4', count=1)[0]))" "$DATA")
NROWS=$(( $(stat -c %s "$DATA") / (4 * (DIM + 1)) ))
log "data $DATA: $NROWS x $DIM"

SOFILE=$(pg_config --pkglibdir 2>/dev/null)/embq.so
so_md5() { [ -e "$SOFILE" ] && md5sum "$SOFILE" | cut -c1-12 || echo none; }
SO_MD5_START=$(so_md5)

# ---------------------------------------------------------------- setup
sql "CREATE EXTENSION IF NOT EXISTS vector" >/dev/null
HAVE_EMBQ=0
if [ "$(sql "SELECT count(*) FROM pg_available_extensions WHERE name = 'embq'")" = 1 ]; then
	sql "CREATE EXTENSION IF NOT EXISTS embq" >/dev/null
	HAVE_EMBQ=1
	EMBQ_VER=$(sql "SELECT extversion FROM pg_extension WHERE extname = 'embq'")
else
	log "embq is not installed on this server: running the pgvector half only"
	EMBQ_VER="not installed"
fi
PGV_VER=$(sql "SELECT extversion FROM pg_extension WHERE extname = 'vector'")

exists_rel() { [ "$(sql "SELECT to_regclass('$1') IS NOT NULL")" = t ]; }
have_rows() { if exists_rel "$1"; then sql "SELECT count(*) FROM $1"; else echo -1; fi; }

if [ "$RELOAD" = 1 ] || [ "$(have_rows bench_float)" != "$NROWS" ]; then
	log "loading bench_float (id int, v real[]) via COPY BINARY"
	sql "DROP TABLE IF EXISTS bench_float, bench_vec CASCADE; CREATE TABLE bench_float (id int PRIMARY KEY, v real[] NOT NULL)"
	t0=$(date +%s.%N)
	python3 "$HERE/load_fvecs.py" "$DATA" | "${PSQL[@]}" -c "COPY bench_float (id, v) FROM STDIN WITH (FORMAT binary)"
	log "  loaded in $(python3 -c "print(round($(date +%s.%N) - $t0, 1))") s"
fi
if [ "$RELOAD" = 1 ] || [ "$(have_rows bench_vec)" != "$NROWS" ]; then
	log "building bench_vec (id int, v vector($DIM)) from bench_float"
	sql "DROP TABLE IF EXISTS bench_vec; CREATE TABLE bench_vec AS SELECT id, v::vector($DIM) AS v FROM bench_float ORDER BY id; ALTER TABLE bench_vec ADD PRIMARY KEY (id)"
fi
log "loading $NQ queries"
sql "DROP TABLE IF EXISTS bench_q, bench_qv; CREATE TABLE bench_q (id int PRIMARY KEY, v real[] NOT NULL)"
python3 "$HERE/load_fvecs.py" "$QUERIES" --limit "$NQ" | "${PSQL[@]}" -c "COPY bench_q (id, v) FROM STDIN WITH (FORMAT binary)"
sql "CREATE TABLE bench_qv AS SELECT id, v::vector($DIM) AS v FROM bench_q"
log "VACUUM ANALYZE"
for t in bench_float bench_vec bench_q bench_qv; do sql "VACUUM (ANALYZE) $t"; done

DEFAULT_PAR=$(sql "SELECT boot_val FROM pg_settings WHERE name = 'max_parallel_workers_per_gather'")
CUR_PAR=$(sql "SHOW max_parallel_workers_per_gather")

# ---------------------------------------------------------------- timing helpers
# time_ms PAR SQL: run SQL once in a fresh session with the given
# max_parallel_workers_per_gather ('default' = RESET), print milliseconds.
time_ms() {
	local par=$1 stmt=$2 setpar
	if [ "$par" = default ]; then setpar="RESET max_parallel_workers_per_gather;"; else setpar="SET max_parallel_workers_per_gather = $par;"; fi
	"${PSQL[@]}" -At <<-EOF | awk '/^Time: /{t=$2} END{print t}'
	SET jit = $JIT;
	$setpar
	\\timing on
	$stmt
	EOF
}
median() { python3 -c "import statistics,sys; print('%.3f' % statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }
ratio() { python3 -c "import sys; a,b=sys.argv[1:]; print('n/a' if 'n/a' in (a,b) else '%.2f' % (float(a)/float(b)))" "$1" "$2"; }
# sub A B: A - B in ms, or n/a
sub() { python3 -c "import sys; a,b=sys.argv[1:]; print('n/a' if 'n/a' in (a,b) else '%.3f' % (float(a)-float(b)))" "$1" "$2"; }
fmt_s() { [ "$1" = n/a ] && echo n/a || python3 -c "import sys; print('%.2f s' % (float(sys.argv[1]) / 1000))" "$1"; }
fmt_ms() { [ "$1" = n/a ] && echo n/a || python3 -c "import sys; print('%.1f ms' % float(sys.argv[1]))" "$1"; }

declare -A R   # R[key,par] = median ms

# bench_stmt KEY PAR PRE SQL: REPS runs, median into R[KEY,PAR]
run_reps() {
	local key=$1 par=$2 pre=$3 stmt=$4 i ts=()
	for ((i = 1; i <= REPS; i++)); do
		[ -n "$pre" ] && sql "$pre" >/dev/null
		ts+=("$(time_ms "$par" "$stmt")")
	done
	R[$key,$par]=$(median "${ts[@]}")
	log "  $key par=$par: ${ts[*]} ms -> median ${R[$key,$par]}"
}

# Quantization cases: key | source table | expression | result table
CASES=(
	"pgv_bin|bench_vec|binary_quantize(v)::bit($DIM)|bq_pgv_bin"
	"pgv_half|bench_vec|v::halfvec($DIM)|bq_pgv_half"
)
if [ "$HAVE_EMBQ" = 1 ]; then
	CASES=(
		"embq_bin|bench_float|quantize_binary(v)|bq_embq_bin"
		"${CASES[0]}"
		"embq_i8|bench_float|quantize_int8(v)|bq_embq_i8"
		"${CASES[1]}"
	)
fi
READS=(
	"read_float|SELECT sum(array_length(v, 1)) FROM bench_float"
	"read_vec|SELECT sum(vector_dims(v)) FROM bench_vec"
)

# warm the caches (one untimed pass over each source table)
for r in "${READS[@]}"; do sql "${r#*|}" >/dev/null; done

for par in 0 default; do
	log "quantization, max_parallel_workers_per_gather=$par"
	for r in "${READS[@]}"; do run_reps "${r%%|*}" "$par" "" "${r#*|}"; done
	for c in "${CASES[@]}"; do
		IFS='|' read -r key src expr dst <<<"$c"
		run_reps "cnt_$key" "$par" "" "SELECT count($expr) FROM $src"
		run_reps "ctas_$key" "$par" "DROP TABLE IF EXISTS $dst" \
			"CREATE TABLE $dst AS SELECT id, $expr AS b FROM $src"
	done
done

# ---------------------------------------------------------------- top-10 scans
log "preparing quantized tables for the scans"
for c in "${CASES[@]}"; do
	IFS='|' read -r key src expr dst <<<"$c"
	sql "VACUUM (ANALYZE) $dst"
done
sql "DROP TABLE IF EXISTS bq_pgv_q; CREATE TABLE bq_pgv_q AS SELECT id, binary_quantize(v)::bit($DIM) AS b FROM bench_qv"
SCANS=("pgv|bq_pgv_bin|bq_pgv_q")
if [ "$HAVE_EMBQ" = 1 ]; then
	sql "DROP TABLE IF EXISTS bq_embq_q; CREATE TABLE bq_embq_q AS SELECT id, quantize_binary(v) AS b FROM bench_q"
	SCANS=("embq|bq_embq_bin|bq_embq_q" "${SCANS[@]}")
fi
QIDS=$(sql "SELECT string_agg(id::text, ' ' ORDER BY id) FROM bench_q")

# scan_mean PAR TABLE QTABLE: one pass over all queries, mean ms per query
scan_mean() {
	local par=$1 t=$2 qt=$3 setpar q
	if [ "$par" = default ]; then setpar="RESET max_parallel_workers_per_gather;"; else setpar="SET max_parallel_workers_per_gather = $par;"; fi
	{
		echo "SET jit = $JIT; $setpar"
		echo "\\timing on"
		for q in $QIDS; do
			echo "SELECT id FROM $t ORDER BY b <~> (SELECT b FROM $qt WHERE id = $q) LIMIT 10;"
		done
	} | "${PSQL[@]}" -At | awk '/^Time: /{s+=$2; n++} END{printf "%.3f\n", s/n}'
}
plan_of() {
	local par=$1 t=$2 qt=$3 setpar
	if [ "$par" = default ]; then setpar="RESET max_parallel_workers_per_gather;"; else setpar="SET max_parallel_workers_per_gather = $par;"; fi
	"${PSQL[@]}" -At -c "SET jit = $JIT; $setpar EXPLAIN (COSTS OFF) SELECT id FROM $t ORDER BY b <~> (SELECT b FROM $qt WHERE id = 1) LIMIT 10" |
		grep -oE 'Gather( Merge)?|Workers Planned: [0-9]+' | paste -sd' ' || true
}
declare -A PLAN
for par in 0 default; do
	log "top-10 scans, max_parallel_workers_per_gather=$par"
	for s in "${SCANS[@]}"; do
		IFS='|' read -r key t qt <<<"$s"
		scan_mean "$par" "$t" "$qt" >/dev/null   # warm-up pass
		ts=()
		for ((i = 1; i <= 3; i++)); do ts+=("$(scan_mean "$par" "$t" "$qt")"); done
		R[scan_$key,$par]=$(median "${ts[@]}")
		p=$(plan_of "$par" "$t" "$qt"); PLAN[$key,$par]=${p:-serial}
		log "  $key: pass means ${ts[*]} ms -> ${R[scan_$key,$par]} ms (plan: ${PLAN[$key,$par]})"
	done
done

# ---------------------------------------------------------------- cross-checks
CHECK_BITS="n/a"; CHECK_TOP="n/a"
if [ "$HAVE_EMBQ" = 1 ]; then
	CHECK_BITS=$(sql "SELECT count(*) FILTER (WHERE e.b::bit($DIM) IS DISTINCT FROM p.b) || ' of ' || count(*) FROM bq_embq_bin e JOIN bq_pgv_bin p USING (id)" 2>/dev/null || echo "cast bitvec->bit failed")
	same=0
	for q in $QIDS; do
		a=$(sql "SELECT string_agg(d::text, ',') FROM (SELECT (b <~> (SELECT b FROM bq_embq_q WHERE id = $q))::float8 AS d FROM bq_embq_bin ORDER BY 1 LIMIT 10) s")
		b=$(sql "SELECT string_agg(d::text, ',') FROM (SELECT (b <~> (SELECT b FROM bq_pgv_q WHERE id = $q))::float8 AS d FROM bq_pgv_bin ORDER BY 1 LIMIT 10) s")
		[ "$a" = "$b" ] && same=$((same + 1))
	done
	CHECK_TOP="$same of $(wc -w <<<"$QIDS")"
fi
size_mb() { if exists_rel "$1"; then sql "SELECT round(pg_total_relation_size('$1') / 1048576.0, 1) || ' MB'"; else echo n/a; fi; }

# ---------------------------------------------------------------- report
get() { echo "${R[$1]:-n/a}"; }
SO_MD5_END=$(so_md5)
CPU=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
NCPU=$(nproc)
PGVERSION=$(sql "SELECT version()")
SB=$(sql "SHOW shared_buffers")
{
	echo "### embq vs pgvector: quantization and binary top-10 scan ($(date -u +%Y-%m-%d))"
	echo
	echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "- Machine: $CPU, $NCPU CPUs, $(grep -qw avx512_vpopcntdq /proc/cpuinfo && echo "AVX-512 VPOPCNTDQ" || echo "no AVX-512 VPOPCNTDQ"), $(free -g | awk '/^Mem:/{print $2}') GiB RAM"
	echo "- Server: $PGVERSION; shared_buffers $SB; jit $JIT; max_parallel_workers_per_gather default $CUR_PAR (boot $DEFAULT_PAR)"
	echo "- Extensions: embq $EMBQ_VER$([ -e "$SOFILE" ] && echo " (embq.so installed $(date -u -r "$SOFILE" '+%Y-%m-%d %H:%M UTC'), md5 $SO_MD5_END)"), pgvector $PGV_VER"
	[ "$SO_MD5_START" = "$SO_MD5_END" ] || echo "- **WARNING: embq.so changed during this run (md5 $SO_MD5_START at start, $SO_MD5_END at end): the embq numbers mix builds; run again.**"
	echo "- Data: $DATASET_DESC"
	echo "- Method: median of $REPS runs per quantization statement; scans: mean over $NQ queries, median of 3 passes after one warm-up pass; psql \\timing wall time."
	echo
	echo "| operation ($NROWS x $DIM) | workers per gather | embq | pgvector | embq / pgvector |"
	echo "|---|---|---|---|---|"
	for par in 0 default; do
		w=$([ "$par" = 0 ] && echo "0 (serial)" || echo "default ($CUR_PAR)")
		echo "| (a) read source only | $w | $(fmt_s "$(get read_float,$par)") | $(fmt_s "$(get read_vec,$par)") | $(ratio "$(get read_float,$par)" "$(get read_vec,$par)") |"
		echo "| (b) binary quantize, count | $w | $(fmt_s "$(get cnt_embq_bin,$par)") | $(fmt_s "$(get cnt_pgv_bin,$par)") | **$(ratio "$(get cnt_embq_bin,$par)" "$(get cnt_pgv_bin,$par)")** |"
		de=$(sub "$(get cnt_embq_bin,$par)" "$(get read_float,$par)"); dp=$(sub "$(get cnt_pgv_bin,$par)" "$(get read_vec,$par)")
		echo "| (b) - (a): binary quantize beyond reading the input | $w | $(fmt_s "$de") | $(fmt_s "$dp") | $(ratio "$de" "$dp") |"
		echo "| (c) binary quantize, CREATE TABLE AS | $w | $(fmt_s "$(get ctas_embq_bin,$par)") | $(fmt_s "$(get ctas_pgv_bin,$par)") | **$(ratio "$(get ctas_embq_bin,$par)" "$(get ctas_pgv_bin,$par)")** |"
		echo "| (d) int8 quantize, count (pgvector: halfvec cast, reference only) | $w | $(fmt_s "$(get cnt_embq_i8,$par)") | $(fmt_s "$(get cnt_pgv_half,$par)") | ($(ratio "$(get cnt_embq_i8,$par)" "$(get cnt_pgv_half,$par)")) |"
		de=$(sub "$(get cnt_embq_i8,$par)" "$(get read_float,$par)"); dp=$(sub "$(get cnt_pgv_half,$par)" "$(get read_vec,$par)")
		echo "| (d) - (a): int8 quantize beyond reading the input (pgvector: halfvec cast) | $w | $(fmt_s "$de") | $(fmt_s "$dp") | ($(ratio "$de" "$dp")) |"
		echo "| (e) int8 quantize, CREATE TABLE AS (pgvector: halfvec cast, reference only) | $w | $(fmt_s "$(get ctas_embq_i8,$par)") | $(fmt_s "$(get ctas_pgv_half,$par)") | ($(ratio "$(get ctas_embq_i8,$par)" "$(get ctas_pgv_half,$par)")) |"
		echo "| (f) exact top-10 hamming seq scan, per query [plan] | $w | $(fmt_ms "$(get scan_embq,$par)") [${PLAN[embq,$par]:-n/a}] | $(fmt_ms "$(get scan_pgv,$par)") [${PLAN[pgv,$par]:-n/a}] | **$(ratio "$(get scan_embq,$par)" "$(get scan_pgv,$par)")** |"
	done
	echo
	echo "(a) \`SELECT sum(array_length(v, 1)) FROM bench_float\` (real[]) vs \`SELECT sum(vector_dims(v)) FROM bench_vec\` (vector): the cost of reading and detoasting the inputs, included in (b)-(e); the (b) - (a) and (d) - (a) rows subtract it (differences of medians, so noisy: small values mean little)."
	echo "(b) \`SELECT count(quantize_binary(v)) FROM bench_float\` vs \`SELECT count(binary_quantize(v)::bit($DIM)) FROM bench_vec\`."
	echo "(c) \`CREATE TABLE t AS SELECT id, quantize_binary(v) AS b FROM bench_float\` vs \`... binary_quantize(v)::bit($DIM) ... FROM bench_vec\` (logged table: includes heap + WAL writes)."
	echo "(d), (e) the same with \`quantize_int8(v)\`; pgvector has no int8 type, so its column is \`v::halfvec($DIM)\` (its nearest scalar quantization), shown for scale only."
	echo "(f) \`SELECT id FROM t ORDER BY b <~> (SELECT b FROM q WHERE id = k) LIMIT 10\` on the tables from (c), bitvec($DIM) vs bit($DIM); mean over $NQ held-out queries."
	echo
	echo "Sizes (pg_total_relation_size): bench_float $(size_mb bench_float), bench_vec $(size_mb bench_vec), bitvec table $(size_mb bq_embq_bin), pgvector bit table $(size_mb bq_pgv_bin), i8vec table $(size_mb bq_embq_i8), halfvec table $(size_mb bq_pgv_half)."
	echo
	echo "Cross-checks: rows whose embq bits (cast to bit) differ from pgvector's: $CHECK_BITS; queries with identical top-10 hamming distance lists: $CHECK_TOP."
} | tee "$OUTMD"

if [ "$KEEP" != 1 ]; then
	sql "DROP TABLE IF EXISTS bq_embq_bin, bq_embq_i8, bq_pgv_bin, bq_pgv_half, bq_embq_q, bq_pgv_q" >/dev/null
fi
log "report written to $OUTMD"
if [ "$SO_MD5_START" != "$SO_MD5_END" ]; then log "embq.so changed during the run"; exit 3; fi
