#!/usr/bin/env bash
# A client generated from the served /openapi.json builds a valid card URL
# for every template: openapi-python-client (PyPI) generates a Python client
# from the running server's document, and tests/client/cards.py, written
# against the generated operations, fetches each template's PNG with the
# values of its /templates example (200, image/png, a PNG of the template's
# size) and sends one out-of-range integer (400, the generated Error naming
# the parameter).
#
# Usage: tests/client.sh
#   SHARECARD_BIN  binary to test (default target/debug/sharecard; built
#                  with cargo when missing)
#
# The generator is installed from PyPI (pinned below) into a virtualenv under
# target/client-venv, made on first use (CLIENT_VENV overrides). The
# generated client, and the server, live in a temporary directory.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The generator, and what the generated code imports (httpx, attrs).
REQUIREMENTS=(openapi-python-client==0.29.1 httpx==0.28.1 attrs==26.1.0)
VENV=${CLIENT_VENV:-$ROOT/target/client-venv}

stamp="$VENV/.requirements"
if [[ ! -x $VENV/bin/openapi-python-client || $(cat "$stamp" 2>/dev/null) != "${REQUIREMENTS[*]}" ]]; then
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
WORK=$(mktemp -d)
LOG="$WORK/server.log"
cleanup() {
  [[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

port=$((20000 + RANDOM % 10000))
base="http://127.0.0.1:$port"
"$SHARECARD_BIN" serve --listen "127.0.0.1:$port" --public-url "$base" --log-format json >"$LOG" 2>&1 &
PID=$!
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "$base/readyz" 2>/dev/null && break
  kill -0 "$PID" 2>/dev/null || { echo "FAIL: the server did not start"; cat "$LOG"; exit 1; }
  sleep 0.1
done
curl -fsS -o /dev/null "$base/readyz" || { echo "FAIL: the server is not ready"; cat "$LOG"; exit 1; }
before=$(wc -l <"$LOG") # the readiness polls above may be 503s

echo "== generating a client from $base/openapi.json ($("$VENV/bin/openapi-python-client" --version))"
curl -fsS -o "$WORK/openapi.json" "$base/openapi.json"
# The generator runs ruff (installed with it) over what it wrote.
PATH="$VENV/bin:$PATH" "$VENV/bin/openapi-python-client" generate --path "$WORK/openapi.json" \
  --config "$ROOT/tests/client/config.yaml" --meta none --output-path "$WORK/sharecard_client" \
  >"$WORK/generate.log" 2>&1 || { cat "$WORK/generate.log"; echo "FAIL: the generator failed"; exit 1; }
# What it could not generate (a warning each) is shown; an operation it left
# out fails below, when cards.py looks for it.
grep -v '^Generating ' "$WORK/generate.log" || true
echo "generated $(find "$WORK/sharecard_client/api" -name '*.py' ! -name '__init__.py' | wc -l) operations" \
  "and $(find "$WORK/sharecard_client/models" -name '*.py' ! -name '__init__.py' | wc -l) models"

echo "== every template's card through the generated client"
rc=0
PYTHONPATH="$WORK" PYTHONDONTWRITEBYTECODE=1 "$VENV/bin/python" "$ROOT/tests/client/cards.py" "$base" || rc=$?

# Stopped first: SIGTERM flushes the batched access log.
kill "$PID"
wait "$PID" 2>/dev/null || true
PID=""
if tail -n "+$((before + 1))" "$LOG" | grep -q '"status":5'; then
  tail -n "+$((before + 1))" "$LOG" | grep '"status":5' | head -n 5
  echo "FAIL: the server logged a 5xx"
  rc=1
fi
[[ $rc == 0 ]] || exit "$rc"
echo "PASS: a generated client fetches every template's card"
