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

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
VENV=${CLIENT_VENV:-$ROOT/target/client-venv}
# The generator, and what the generated code imports (httpx, attrs).
venv "$VENV" openapi-python-client openapi-python-client==0.29.1 httpx==0.28.1 attrs==26.1.0
# shellcheck disable=SC2119 # the defaults: this script passes no flags on
start_server


echo "== generating a client from $BASE/openapi.json ($("$VENV/bin/openapi-python-client" --version))"
curl -fsS -o "$WORK/openapi.json" "$BASE/openapi.json"
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
PYTHONPATH="$WORK" PYTHONDONTWRITEBYTECODE=1 "$VENV/bin/python" "$ROOT/tests/client/cards.py" "$BASE" || rc=$?

stop_server || rc=1
[[ $rc == 0 ]] || exit "$rc"
echo "PASS: a generated client fetches every template's card"
