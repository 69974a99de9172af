#!/usr/bin/env bash
# Runs the client-compatibility suite against kubepg: starts `kubepg serve` over the suite's
# snapshot (snapshot/kind-a.yaml and kind-b.yaml, two clusters) on a free loopback port,
# checks that reference.sql still describes what kubepg serves (make_reference.py renders it
# again; a difference fails), runs every check (run.sh), and stops the server. Exits non-zero
# when the reference is stale, when a check fails that known_failures.txt does not list, or
# when a listed one passes. scripts/test runs it after run_reference.sh.
#
#   tests/compat/run_kubepg.sh                 # KUBEPG=path/to/kubepg, else the debug build
#   tests/compat/run_kubepg.sh --write-reference   # render reference.sql from kubepg instead
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KUBEPG="${KUBEPG:-${CARGO_TARGET_DIR:-$HOME/.cache/kubepg/target}/debug/kubepg}"
MODE="${1:-run}"
[[ -x "$KUBEPG" ]] || { echo "run_kubepg: no kubepg binary at $KUBEPG (cargo build first)" >&2; exit 1; }

WORK="$(mktemp -d /tmp/kubepg-compat-kubepg.XXXXXX)"
PID=""
cleanup() {
  [[ -n "$PID" ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
# Its own discovery cache directory, so that nothing of the machine's leaks in.
KUBEPG_LOG=warn "$KUBEPG" serve --listen "127.0.0.1:$PORT" --health-listen off \
  --cache-dir "$WORK/cache" \
  --snapshot "$HERE/snapshot/kind-a.yaml" --snapshot "$HERE/snapshot/kind-b.yaml" \
  >"$WORK/serve.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do
  grep -q "listening on" "$WORK/serve.log" && break
  kill -0 "$PID" 2>/dev/null || { cat "$WORK/serve.log" >&2; exit 1; }
  sleep 0.1
done
DSN="postgresql://kubepg:kubepg@127.0.0.1:$PORT/kubepg"
echo "run_kubepg: kubepg at $DSN" >&2

# run.sh makes the virtualenv make_reference.py needs; the subset named "none" runs no check.
COMPAT_ONLY=none "$HERE/run.sh" "$DSN" >/dev/null
PYTHON="${COMPAT_PYTHON:-${KUBEPG_CACHE:-$HOME/.cache/kubepg}/compat-venv/bin/python}"
"$PYTHON" "$HERE/make_reference.py" "$DSN" >"$WORK/reference.sql"
if [[ "$MODE" == "--write-reference" ]]; then
  cp "$WORK/reference.sql" "$HERE/reference.sql"
  echo "run_kubepg: wrote $HERE/reference.sql" >&2
  exit 0
fi
if ! diff -u "$HERE/reference.sql" "$WORK/reference.sql" >&2; then
  echo "run_kubepg: reference.sql no longer describes what kubepg serves (above: - file, + kubepg);" \
    "tests/compat/run_kubepg.sh --write-reference renders it again" >&2
  exit 1
fi

"$HERE/run.sh" "$DSN" | tee "$WORK/checks.log" || true
python3 - "$HERE/known_failures.txt" "$WORK/checks.log" <<'PY'
import sys

known = {}
for line in open(sys.argv[1]):
    if line.strip() and not line.startswith("#"):
        name, _, why = line.rstrip("\n").partition(" | ")
        known[name] = why
passed, failed = set(), {}
for line in open(sys.argv[2]):
    line = line.rstrip("\n")
    if line.startswith("ok "):
        passed.add(line[3:])
    elif line.startswith("FAIL "):
        name, _, why = line[5:].partition(": ")
        failed[name] = why
unexpected = sorted(set(failed) - set(known))
fixed = sorted(set(known) & passed)
for name in unexpected:
    print(f"run_kubepg: failed, not in known_failures.txt: {name}: {failed[name]}", file=sys.stderr)
for name in fixed:
    print(f"run_kubepg: passed, but known_failures.txt lists it (take it off): {name}", file=sys.stderr)
print(f"run_kubepg: {len(passed)} passed, {len(failed)} failed ({len(set(failed) & set(known))} of them known)", file=sys.stderr)
sys.exit(1 if unexpected or fixed else 0)
PY
