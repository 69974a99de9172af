#!/usr/bin/env bash
# Runs every check of the client-compatibility suite against one PostgreSQL endpoint (kubepg or
# a real PostgreSQL), each client's file in turn, and prints their lines (`ok NAME` /
# `FAIL NAME: why`), each file's `CLIENT: N passed, N failed`, and a total. Exits non-zero when
# any check failed.
#
#   tests/compat/run.sh postgresql://kubepg:kubepg@127.0.0.1:5432/kubepg
#   COMPAT_DSN=postgresql://... tests/compat/run.sh
#   COMPAT_ONLY="sqlalchemy psql" tests/compat/run.sh DSN    # a subset, by client name
#
# What it needs, and sets up when missing:
#   * Python: $COMPAT_PYTHON, else a virtualenv at ${KUBEPG_CACHE:-~/.cache/kubepg}/compat-venv
#     made from requirements.txt (re-made when requirements.txt changes);
#   * pgjdbc: $PGJDBC_JAR, else /usr/share/java/postgresql.jar (apt: libpostgresql-jdbc-java);
#     Java 17+ (`java File.java` runs each single-file check);
#   * psql 15: $PSQL, else /usr/lib/postgresql/15/bin/psql (apt: postgresql-client-15);
#   * Node 18+ and node_modules here from package-lock.json (npm ci).
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DSN="${1:-${COMPAT_DSN:-}}"
if [[ -z "$DSN" ]]; then
  echo "usage: $0 postgresql://user:password@host:port/dbname   (or set COMPAT_DSN)" >&2
  exit 2
fi
export COMPAT_DSN="$DSN"

sudo_() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  echo "run.sh: installing $*" >&2
  sudo_ apt-get update -qq
  sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# ---- tools ------------------------------------------------------------------------------------
if [[ -z "${COMPAT_PYTHON:-}" ]]; then
  VENV="${KUBEPG_CACHE:-$HOME/.cache/kubepg}/compat-venv"
  STAMP="$VENV/compat-requirements.sha256"
  WANT="$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)"
  if [[ ! -x "$VENV/bin/python" || "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]]; then
    if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then apt_install python3-venv; fi
    echo "run.sh: installing requirements.txt into $VENV" >&2
    rm -rf "$VENV"
    python3 -m venv "$VENV" && "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$HERE/requirements.txt" >&2 \
      || { echo "run.sh: could not install requirements.txt" >&2; exit 1; }
    echo "$WANT" >"$STAMP"
  fi
  COMPAT_PYTHON="$VENV/bin/python"
fi

PGJDBC_JAR="${PGJDBC_JAR:-/usr/share/java/postgresql.jar}"
[[ -f "$PGJDBC_JAR" ]] || apt_install libpostgresql-jdbc-java
# `java File.java` (the source launcher) needs the JDK's compiler module, not only a JRE
java --list-modules 2>/dev/null | grep -q '^jdk.compiler' || apt_install openjdk-17-jdk-headless

export PSQL="${PSQL:-/usr/lib/postgresql/15/bin/psql}"
[[ -x "$PSQL" ]] || apt_install postgresql-client-15

command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
if [[ ! -d "$HERE/node_modules/pg" || ! -d "$HERE/node_modules/pg-cursor" \
      || "$HERE/package-lock.json" -nt "$HERE/node_modules/.package-lock.json" ]]; then
  echo "run.sh: npm ci" >&2
  (cd "$HERE" && npm ci --silent --no-audit --no-fund >&2) || { echo "run.sh: npm ci failed" >&2; exit 1; }
fi

# ---- checks -----------------------------------------------------------------------------------
# name, then the command (run from $HERE with the DSN as its last argument)
CHECKS=(
  "sqlalchemy|$COMPAT_PYTHON sqlalchemy_check.py"
  "superset|$COMPAT_PYTHON superset_check.py"
  "grafana|$COMPAT_PYTHON grafana_check.py"
  "asyncpg|$COMPAT_PYTHON asyncpg_check.py"
  "pgcli|$COMPAT_PYTHON pgcli_check.py"
  "psql|$COMPAT_PYTHON psql_check.py"
  "pgjdbc|java -cp $PGJDBC_JAR JdbcMetadataCheck.java"
  "dbeaver|java -cp $PGJDBC_JAR DbeaverCheck.java"
  "metabase|java -cp $PGJDBC_JAR MetabaseCheck.java"
  "node-postgres|node node_check.mjs"
)

cd "$HERE" || exit 1
export PYTHONDONTWRITEBYTECODE=1
total_ok=0 total_fail=0 bad_files=()
start=$SECONDS
for entry in "${CHECKS[@]}"; do
  name="${entry%%|*}" cmd="${entry#*|}"
  if [[ -n "${COMPAT_ONLY:-}" && " $COMPAT_ONLY " != *" $name "* ]]; then continue; fi
  out="$(mktemp)"
  # shellcheck disable=SC2086
  timeout 300 $cmd "$DSN" 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  ok=$(grep -c '^ok ' "$out") fail=$(grep -c '^FAIL ' "$out")
  rm -f "$out"
  total_ok=$((total_ok + ok)) total_fail=$((total_fail + fail))
  if [[ $rc -ne 0 ]]; then
    bad_files+=("$name")
    # a file that died before reporting its checks counts as one failure
    if [[ $fail -eq 0 ]]; then
      total_fail=$((total_fail + 1))
      echo "FAIL $name: exited $rc without reporting a failed check"
    fi
  fi
done

echo "compat: ${total_ok} passed, ${total_fail} failed"
echo "run.sh: $((SECONDS - start)) s${bad_files[*]:+; failing: ${bad_files[*]}}" >&2
[[ $total_fail -eq 0 && ${#bad_files[@]} -eq 0 ]]
