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

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
EXAMPLES=${CONTRACT_EXAMPLES:-100}
SEED=${CONTRACT_SEED:-1}
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,negative_data_rejection
VENV=${CONTRACT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/sharecard/contract-venv}
venv "$VENV" schemathesis schemathesis==4.32.5

# run NAME [SERVE FLAGS...]: one server, one schemathesis run against it.
# schemathesis keeps state in ./.schemathesis: it runs in WORK, not in the
# checkout.
run() {
  local name=$1
  shift
  start_server "$@"
  echo "== schemathesis against $name ($BASE), $EXAMPLES examples per operation, seed $SEED"
  local rc=0
  (cd "$WORK" && "$VENV/bin/schemathesis" run "$BASE/openapi.json" --url "$BASE" --checks "$CHECKS" \
    --max-examples "$EXAMPLES" --seed "$SEED" --generation-database none \
    --request-timeout 10 --no-color) || rc=$?
  stop_server || rc=1
  return "$rc"
}

run "an unsigned server"
run "a signed server" --signing-key contract-test-key-0123456789
echo "PASS: the API conforms to its OpenAPI document"
