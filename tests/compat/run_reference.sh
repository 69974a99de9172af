#!/usr/bin/env bash
# Proves the client-compatibility suite against a real PostgreSQL 15: starts a throwaway server
# (Debian's /usr/lib/postgresql/15/bin initdb + pg_ctl, a temporary data directory, a free port
# on 127.0.0.1, as the `postgres` system user when run as root, since initdb refuses root),
# loads reference.sql into database `kubepg`, runs every check (run.sh) against it as the login
# role kubepg, and stops the server. Exits non-zero when any check fails.
#
#   tests/compat/run_reference.sh            # run the suite, then stop
#   tests/compat/run_reference.sh --serve    # start, load, print the DSN and wait (Ctrl-C stops)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PGBIN="${PGBIN:-/usr/lib/postgresql/15/bin}"
MODE="${1:-run}"

sudo_() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

if [[ ! -x "$PGBIN/initdb" ]]; then
  echo "run_reference: installing postgresql-15" >&2
  sudo_ apt-get update -qq
  sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null
fi

# initdb and postgres refuse to run as root: run them as `postgres` (created by Debian's package).
if [[ $(id -u) -eq 0 ]]; then
  if ! id -u postgres >/dev/null 2>&1; then
    useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres
  fi
  as_pg() { runuser -u postgres -- "$@"; }
else
  as_pg() { "$@"; }
fi

WORK="$(mktemp -d /tmp/kubepg-compat-pg.XXXXXX)"
chmod 755 "$WORK"
[[ $(id -u) -eq 0 ]] && chown postgres "$WORK"
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

SLEEPER=""
cleanup() {
  [[ -n "$SLEEPER" ]] && kill "$SLEEPER" 2>/dev/null
  as_pg "$PGBIN/pg_ctl" -D "$WORK/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

as_pg "$PGBIN/initdb" -D "$WORK/data" -U postgres -E UTF8 --no-locale \
  --auth-local=trust --auth-host=scram-sha-256 >"$WORK/initdb.log" 2>&1 \
  || { cat "$WORK/initdb.log" >&2; exit 1; }
as_pg "$PGBIN/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w \
  -o "-p $PORT -k $WORK -c listen_addresses=127.0.0.1 -c TimeZone=UTC -c fsync=off -c full_page_writes=off" \
  start >/dev/null || { cat "$WORK/server.log" >&2; exit 1; }

as_pg "$PGBIN/psql" -X -q -h "$WORK" -p "$PORT" -U postgres -d postgres \
  -c 'CREATE DATABASE kubepg' >/dev/null
as_pg "$PGBIN/psql" -X -q -h "$WORK" -p "$PORT" -U postgres -d kubepg \
  -v ON_ERROR_STOP=1 -f - <"$HERE/reference.sql" >/dev/null

DSN="postgresql://kubepg:kubepg@127.0.0.1:$PORT/kubepg"
echo "run_reference: PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') at $DSN" >&2

if [[ "$MODE" == "--serve" ]]; then
  echo "$DSN"
  sleep infinity &
  SLEEPER=$!
  wait "$SLEEPER"
fi

"$HERE/run.sh" "$DSN"
