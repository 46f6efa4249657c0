#!/usr/bin/env bash
# Lints the repository's openapi.json (the served document, which a test
# keeps equal to it) with spectral's `spectral:oas` ruleset. Fails on any
# warning or error; infos and hints are printed but pass.
#
# Usage: tests/openapi_lint.sh [DOCUMENT]   (default: openapi.json)
#
# spectral is installed from the npm registry (pinned below) with
# `npm install --prefix` into target/openapi-lint on first use, and reused
# afterwards (OPENAPI_LINT_DIR overrides the place).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PACKAGE=@stoplight/spectral-cli@6.16.3
TOOLS=${OPENAPI_LINT_DIR:-$ROOT/target/openapi-lint}
DOC=$(realpath "${1:-$ROOT/openapi.json}")
SPECTRAL="$TOOLS/node_modules/.bin/spectral"

stamp="$TOOLS/.package"
if [[ ! -x $SPECTRAL || $(cat "$stamp" 2>/dev/null) != "$PACKAGE" ]]; then
  echo "installing $PACKAGE into $TOOLS"
  mkdir -p "$TOOLS"
  npm install --prefix "$TOOLS" --no-audit --no-fund --no-update-notifier --loglevel=error "$PACKAGE"
  echo "$PACKAGE" >"$stamp"
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# The ruleset alone, in a directory of its own: no .spectral.* of the
# checkout's (or a parent's) can change what is checked.
printf 'extends: ["spectral:oas"]\n' >"$WORK/.spectral.yaml"

echo "== spectral $("$SPECTRAL" --version) (spectral:oas) on ${DOC#"$ROOT"/}"
# --fail-severity=warn: a warning fails as an error does; results of every
# severity are shown.
(cd "$WORK" && "$SPECTRAL" lint --ruleset "$WORK/.spectral.yaml" --fail-severity=warn --format=stylish "$DOC")
echo "PASS: no spectral:oas warning or error in ${DOC#"$ROOT"/}"
