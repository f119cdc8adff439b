#!/usr/bin/env bash
# embq quick start:
#
#   bash scripts/quickstart.sh
#
# Installs the build dependencies (Debian 12, PostgreSQL 15), builds and installs embq,
# starts a throwaway PostgreSQL cluster in /tmp/embq-quickstart (unix socket only, port 5499
# or the next free one), creates database embq_demo, runs CREATE EXTENSION embq and
# scripts/example.sql, then prints how to connect and how to stop the cluster.
# Re-running stops and re-creates the throwaway cluster.
#
# As root, the server runs as an unprivileged system user (EMBQ_USER, default embq; created if
# missing) because PostgreSQL refuses to run as root. As a normal user, the server runs as you
# and sudo is used only for apt-get and make install.
#
# Knobs: EMBQ_QUICKSTART_DIR (default /tmp/embq-quickstart), EMBQ_QUICKSTART_PORT (default 5499),
#        EMBQ_PG_MAJOR (default 15), PG_CONFIG, EMBQ_USER, EMBQ_NO_APT=1.

set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
PG_MAJOR="${EMBQ_PG_MAJOR:-15}"
QS_DIR="${EMBQ_QUICKSTART_DIR:-/tmp/embq-quickstart}"
BASE_PORT="${EMBQ_QUICKSTART_PORT:-5499}"
DB=embq_demo
PKGS=(build-essential "postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR" libipc-run-perl python3-numpy)

say() { printf '\n==> %s\n' "$*"; }
die() { printf 'quickstart: %s\n' "$*" >&2; exit 1; }

case "$QS_DIR" in
    /tmp/?*|/var/tmp/?*) ;;
    *) [ -n "${EMBQ_QUICKSTART_DIR:-}" ] || die "unexpected QS_DIR $QS_DIR" ;;
esac

if [ "$(id -u)" -eq 0 ]; then
    IS_ROOT=1
    SERVER_USER="${EMBQ_USER:-embq}"
else
    IS_ROOT=0
    SERVER_USER="$(id -un)"
fi

as_root() { if [ "$IS_ROOT" = 1 ]; then "$@"; else sudo "$@"; fi; }

# run a command as the given OS user (the server's owner)
as_owner() {
    local who="$1"; shift
    if [ "$who" = "$(id -un)" ]; then
        "$@"
    elif [ "$IS_ROOT" = 1 ]; then
        runuser -u "$who" -- "$@"
    else
        sudo -u "$who" -- "$@"
    fi
}

# ---------------------------------------------------------------- 1. dependencies
say "checking packages: ${PKGS[*]}"
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    [ "${EMBQ_NO_APT:-0}" != 1 ] || die "missing packages: ${missing[*]}"
    say "installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

PG_CONFIG="${PG_CONFIG:-/usr/lib/postgresql/$PG_MAJOR/bin/pg_config}"
[ -x "$PG_CONFIG" ] || die "no pg_config at $PG_CONFIG"
PGBIN="$("$PG_CONFIG" --bindir)"

# ---------------------------------------------------------------- 2. build + install
say "building embq ($("$PG_CONFIG" --version))"
make -C "$REPO" PG_CONFIG="$PG_CONFIG" -j"$(nproc 2>/dev/null || echo 2)"
say "installing embq into $("$PG_CONFIG" --pkglibdir)"
as_root make -C "$REPO" PG_CONFIG="$PG_CONFIG" install

# ---------------------------------------------------------------- 3. throwaway cluster
if [ "$IS_ROOT" = 1 ] && ! id -u "$SERVER_USER" >/dev/null 2>&1; then
    say "creating system user $SERVER_USER to run the server"
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin "$SERVER_USER"
fi
[ "$(id -u "$SERVER_USER")" -ne 0 ] || die "EMBQ_USER must not be root"

if [ -e "$QS_DIR" ]; then
    say "removing the previous throwaway cluster in $QS_DIR"
    old_owner="$(stat -c %U "$QS_DIR")"   # the server user of the previous run
    # (checked as that user: the directory is mode 700)
    if as_owner "$old_owner" test -f "$QS_DIR/data/postmaster.pid"; then
        as_owner "$old_owner" "$PGBIN/pg_ctl" -D "$QS_DIR/data" -m fast -w -t 60 stop ||
            as_owner "$old_owner" "$PGBIN/pg_ctl" -D "$QS_DIR/data" -m immediate -w stop || true
    fi
    if [ "$old_owner" = "$(id -un)" ] || [ "$IS_ROOT" = 1 ]; then
        rm -rf "$QS_DIR"
    else
        sudo rm -rf "$QS_DIR"
    fi
fi

port_free() {
    [ -e "/tmp/.s.PGSQL.$1" ] && return 1
    [ -e "/var/run/postgresql/.s.PGSQL.$1" ] && return 1
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 1; fi
    return 0
}
PORT=""
for p in $(seq "$BASE_PORT" $((BASE_PORT + 100))); do
    if port_free "$p"; then PORT="$p"; break; fi
done
[ -n "$PORT" ] || die "no free port in $BASE_PORT-$((BASE_PORT + 100))"

say "creating cluster in $QS_DIR/data (server user $SERVER_USER, port $PORT)"
mkdir -p "$QS_DIR"
chmod 700 "$QS_DIR"
[ "$IS_ROOT" = 0 ] || chown "$SERVER_USER:" "$QS_DIR"
as_owner "$SERVER_USER" "$PGBIN/initdb" -D "$QS_DIR/data" -U "$SERVER_USER" -A trust \
    -E UTF8 --locale=C.UTF-8 >"$QS_DIR/initdb.log" 2>&1 ||
    { cat "$QS_DIR/initdb.log"; die "initdb failed"; }
cat >>"$QS_DIR/data/postgresql.conf" <<EOF

# embq quick start (scripts/quickstart.sh): throwaway cluster, unix socket only
port = $PORT
listen_addresses = ''
unix_socket_directories = '$QS_DIR'
EOF
if ! as_owner "$SERVER_USER" "$PGBIN/pg_ctl" -D "$QS_DIR/data" -l "$QS_DIR/server.log" -w -t 60 start; then
    tail -n 30 "$QS_DIR/server.log" || true
    die "server did not start"
fi

export PGHOST="$QS_DIR" PGPORT="$PORT" PGUSER="$SERVER_USER"
"$PGBIN/createdb" "$DB"

# ---------------------------------------------------------------- 4. example
say "CREATE EXTENSION embq;"
"$PGBIN/psql" -X -v ON_ERROR_STOP=1 -d "$DB" -c 'CREATE EXTENSION embq;' \
    -c "SELECT extname, extversion FROM pg_extension WHERE extname = 'embq';"
say "running scripts/example.sql"
if ! "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -a -d "$DB" -f "$REPO/scripts/example.sql"; then
    tail -n 20 "$QS_DIR/server.log" || true
    die "example.sql failed (cluster left running; see the stop command below)"
fi

# ---------------------------------------------------------------- 5. how to use it
if [ "$SERVER_USER" = "$(id -un)" ]; then
    STOP="$PGBIN/pg_ctl -D $QS_DIR/data stop"
elif [ "$IS_ROOT" = 1 ]; then
    STOP="runuser -u $SERVER_USER -- $PGBIN/pg_ctl -D $QS_DIR/data stop"
else
    STOP="sudo -u $SERVER_USER $PGBIN/pg_ctl -D $QS_DIR/data stop"
fi
cat <<EOF

==> embq is installed and the demo cluster is running.
    connect:  psql -h $QS_DIR -p $PORT -U $SERVER_USER $DB
    stop:     $STOP
    remove:   rm -rf $QS_DIR   (after stopping; re-running this script also re-creates it)
    logs:     $QS_DIR/server.log
EOF
