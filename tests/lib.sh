# shellcheck shell=bash
# Shared by the shell tests that run the server and a Python tool against
# it (tests/contract.sh, tests/client.sh). Source it after `set -euo
# pipefail`; it sets ROOT, SHARECARD_BIN and WORK (a temporary directory,
# removed on exit with any server still running).

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# venv DIR TOOL REQUIREMENT...: a virtualenv at DIR holding exactly these
# pinned requirements (remade when the pins change); TOOL is the script in
# it that shows the install is there.
venv() {
  local dir=$1 tool=$2
  shift 2
  local stamp="$dir/.requirements"
  if [[ ! -x $dir/bin/$tool || $(cat "$stamp" 2>/dev/null) != "$*" ]]; then
    echo "installing $* into $dir"
    python3 -m venv --clear "$dir"
    "$dir/bin/pip" install -q --disable-pip-version-check "$@"
    echo "$*" >"$stamp"
  fi
}

SHARECARD_BIN=${SHARECARD_BIN:-target/debug/sharecard}
[[ $SHARECARD_BIN == /* ]] || SHARECARD_BIN="$ROOT/$SHARECARD_BIN"
if [[ ! -x $SHARECARD_BIN ]]; then
  (cd "$ROOT" && cargo build --bin sharecard --quiet)
  SHARECARD_BIN="$ROOT/target/debug/sharecard"
fi

PID=""
WORK=$(mktemp -d)
LOG="$WORK/server.log"
cleanup() {
  [[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

# start_server [SERVE FLAGS...]: a server on a free port, logging JSON to
# LOG; sets PID and BASE once it is ready, and LOG_FROM, the first log line
# after the readiness polls (those may be 503s).
start_server() {
  local port=$((20000 + RANDOM % 10000))
  BASE="http://127.0.0.1:$port"
  "$SHARECARD_BIN" serve --listen "127.0.0.1:$port" --public-url "$BASE" \
    --log-format json "$@" >"$LOG" 2>&1 &
  PID=$!
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "$BASE/readyz" 2>/dev/null && break
    kill -0 "$PID" 2>/dev/null || { echo "FAIL: the server did not start"; cat "$LOG"; exit 1; }
    sleep 0.1
  done
  curl -fsS -o /dev/null "$BASE/readyz" || { echo "FAIL: the server is not ready"; cat "$LOG"; exit 1; }
  LOG_FROM=$(($(wc -l <"$LOG") + 1))
}

# stop_server: stops it (SIGTERM flushes the batched access log) and fails,
# showing them, if it logged a 5xx since it was ready.
stop_server() {
  kill "$PID"
  wait "$PID" 2>/dev/null || true
  PID=""
  if tail -n "+$LOG_FROM" "$LOG" | grep -q '"status":5'; then
    tail -n "+$LOG_FROM" "$LOG" | grep '"status":5' | head -n 5
    echo "FAIL: the server logged a 5xx"
    return 1
  fi
}
