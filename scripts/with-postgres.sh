#!/usr/bin/env bash
# Run a command against a throw-away PostgreSQL cluster:
#
#   bash scripts/with-postgres.sh npx vitest run
#
# Installs Debian's postgresql when missing (as root, non-interactive), starts a private cluster in a temp
# folder on a free loopback port (fsync off: test data only), creates a superuser role for the tests, exports
#   LATCHKEY_TEST_DATABASE_URL=postgres://latchkey:…@127.0.0.1:PORT/postgres   (the admin URL)
#   LATCHKEY_TEST_PG_BIN=/usr/lib/postgresql/N/bin, LATCHKEY_TEST_PG_OS_USER=postgres (when run as root)
# runs the command, then always stops the cluster and deletes the folder. Exits with the command's status.
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi

say() { echo "with-postgres: $*" >&2; }

pg_bindir() {
  # The newest installed server; /usr/local/bin/pg_ctl may be a wrapper or link, so go to the real folder.
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; fi
}

PGBIN=$(pg_bindir)
if [ -z "$PGBIN" ]; then
  if [ "$(id -u)" != 0 ]; then
    say "PostgreSQL is not installed and we are not root; install the Debian package 'postgresql' first"
    exit 1
  fi
  say "installing PostgreSQL (apt-get install postgresql)"
  export DEBIAN_FRONTEND=noninteractive
  apt_install() { apt-get install -y -q -o DPkg::Lock::Timeout=300 --no-install-recommends postgresql </dev/null >&2; }
  if ! apt_install; then
    apt-get update -q -o DPkg::Lock::Timeout=300 </dev/null >&2
    apt_install
  fi
  PGBIN=$(pg_bindir)
  if [ -z "$PGBIN" ]; then
    say "postgresql installed but no server binaries under /usr/lib/postgresql/*/bin"
    exit 1
  fi
fi

# initdb refuses to run as root: as root the cluster belongs to the 'postgres' OS user (the package creates it).
if [ "$(id -u)" = 0 ]; then
  if ! id postgres >/dev/null 2>&1; then
    say "no 'postgres' OS user to own the cluster (is the postgresql package fully installed?)"
    exit 1
  fi
  if command -v runuser >/dev/null 2>&1; then
    as_pg() { runuser -u postgres -- "$@"; }
  else
    as_pg() { su -s /bin/sh postgres -c "$(printf '%q ' "$@")"; }
  fi
else
  as_pg() { "$@"; }
fi

free_port() {
  node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

# /tmp rather than $TMPDIR: the postgres user must be able to reach the folder.
TMP=$(mktemp -d /tmp/latchkey-pg.XXXXXX)
[ "$(id -u)" = 0 ] && chown postgres: "$TMP"
chmod 700 "$TMP"
PGDATA_DIR="$TMP/data"
LOG="$TMP/postgres.log"
STARTED=0

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "$STARTED" = 1 ]; then
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$TMP"
  exit "$rc"
}
CHILD=
on_signal() {
  # Stop the command first (a background job ignores SIGINT, so it always gets TERM), then clean up.
  if [ -n "$CHILD" ]; then
    kill -TERM "$CHILD" 2>/dev/null || true
    wait "$CHILD" 2>/dev/null || true
  fi
  exit "$1"
}
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

start_ms=$(date +%s%3N)
as_pg "$PGBIN/initdb" -D "$PGDATA_DIR" -U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C --no-sync >"$TMP/initdb.log" 2>&1 || {
  cat "$TMP/initdb.log" >&2
  say "initdb failed"
  exit 1
}

# A free port can be taken between probing and binding: try a few.
PORT=
for _ in 1 2 3 4 5; do
  p=$(free_port)
  # Test data only: no fsync, no waiting for WAL flushes.
  if as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$LOG" -w -t 60 start -o "-c listen_addresses=127.0.0.1 -c port=$p -c unix_socket_directories=$TMP -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" >/dev/null 2>&1; then
    PORT=$p
    STARTED=1
    break
  fi
  # Stop a half-started server before retrying on another port.
  as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m immediate -w stop >/dev/null 2>&1 || true
done
if [ -z "$PORT" ]; then
  cat "$LOG" >&2 || true
  say "PostgreSQL did not start"
  exit 1
fi

PASSWORD=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$TMP" -p "$PORT" -U postgres -d postgres \
  -c "CREATE ROLE latchkey LOGIN SUPERUSER PASSWORD '$PASSWORD'" >/dev/null

export LATCHKEY_TEST_DATABASE_URL="postgres://latchkey:$PASSWORD@127.0.0.1:$PORT/postgres"
# For tests that stop and start PostgreSQL itself (test/reliability/crash.test.ts): they start a private cluster of
# their own with these binaries (as this OS user), so restarting it does not break the tests running beside them.
export LATCHKEY_TEST_PG_BIN="$PGBIN"
if [ "$(id -u)" = 0 ]; then export LATCHKEY_TEST_PG_OS_USER=postgres; fi
say "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT, ready in $(( $(date +%s%3N) - start_ms )) ms"

# In the background so that a TERM to this script reaches the command and the cluster is still torn down;
# stdin is passed through explicitly (a background job would otherwise read /dev/null).
set +e
"$@" <&0 &
CHILD=$!
wait "$CHILD"
rc=$?
CHILD=
set -e
exit "$rc"
