#!/usr/bin/env bash
# The API contract, tested from outside: schemathesis (PyPI) reads the
# running server's /openapi.json and throws generated requests at every
# operation, valid and schema-violating. It fails on any 5xx, any response
# whose status, media type, headers or body the document does not allow,
# and any schema-violating request that is not refused.
#
# Runs twice: unsigned (every card is reachable) and with a signing key
# (every unsigned card request must be a documented 403).
#
# Usage: tests/contract.sh
#   SHARECARD_BIN    binary to test (default target/debug/sharecard; built
#                    with cargo when missing)
#   CONTRACT_EXAMPLES  examples per operation in the fuzzing phase (default 100)
#   CONTRACT_SEED    the generator's seed (default 1: CI is reproducible;
#                    set another to explore)
#
# schemathesis is installed from PyPI (pinned below) into a virtualenv under
# ${XDG_CACHE_HOME:-~/.cache}, made on first use (CONTRACT_VENV overrides).
# "Schema-valid requests are accepted" is not checked: the document cannot
# say that `threat` needs `threat_risk`, nor which characters the fonts
# draw (422).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REQUIREMENTS=(schemathesis==4.32.5)
VENV=${CONTRACT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/sharecard/contract-venv}
EXAMPLES=${CONTRACT_EXAMPLES:-100}
SEED=${CONTRACT_SEED:-1}
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,negative_data_rejection

stamp="$VENV/.requirements"
if [[ ! -x $VENV/bin/schemathesis || $(cat "$stamp" 2>/dev/null) != "${REQUIREMENTS[*]}" ]]; then
  echo "installing ${REQUIREMENTS[*]} into $VENV"
  python3 -m venv --clear "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "${REQUIREMENTS[@]}"
  echo "${REQUIREMENTS[*]}" >"$stamp"
fi

SHARECARD_BIN=${SHARECARD_BIN:-target/debug/sharecard}
[[ $SHARECARD_BIN == /* ]] || SHARECARD_BIN="$ROOT/$SHARECARD_BIN"
if [[ ! -x $SHARECARD_BIN ]]; then
  (cd "$ROOT" && cargo build --bin sharecard --quiet)
  SHARECARD_BIN="$ROOT/target/debug/sharecard"
fi

PID=""
# schemathesis keeps state in ./.schemathesis: run it in here, not in the
# checkout.
WORK=$(mktemp -d)
LOG="$WORK/server.log"
cleanup() {
  [[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

# run NAME [SERVE FLAGS...]: one server, one schemathesis run against it.
run() {
  local name=$1 port
  shift
  port=$((20000 + RANDOM % 10000))
  "$SHARECARD_BIN" serve --listen "127.0.0.1:$port" --public-url "http://127.0.0.1:$port" \
    --log-format json "$@" >"$LOG" 2>&1 &
  PID=$!
  local base="http://127.0.0.1:$port"
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "$base/readyz" 2>/dev/null && break
    kill -0 "$PID" 2>/dev/null || { echo "FAIL: the server did not start"; cat "$LOG"; exit 1; }
    sleep 0.1
  done
  local before
  before=$(wc -l <"$LOG") # the readiness polls above may be 503s
  echo "== schemathesis against $name ($base), $EXAMPLES examples per operation, seed $SEED"
  local rc=0
  (cd "$WORK" && "$VENV/bin/schemathesis" run "$base/openapi.json" --url "$base" --checks "$CHECKS" \
    --max-examples "$EXAMPLES" --seed "$SEED" --generation-database none \
    --request-timeout 10 --no-color) || rc=$?
  # Stopped first: SIGTERM flushes the batched access log.
  kill "$PID"
  wait "$PID" 2>/dev/null || true
  PID=""
  if tail -n "+$((before + 1))" "$LOG" | grep -q '"status":5'; then
    tail -n "+$((before + 1))" "$LOG" | grep '"status":5' | head -n 5
    echo "FAIL: the server logged a 5xx"
    rc=1
  fi
  return "$rc"
}

run "an unsigned server"
run "a signed server" --signing-key contract-test-key-0123456789
echo "PASS: the API conforms to its OpenAPI document"
