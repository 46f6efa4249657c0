#!/usr/bin/env bash
# First-response bytes of every sample card at 1x, per template, next to
# their targets (report and square <= 60 KB, story <= 90 KB), with each
# template's cold time beside them.
#
#   bench/first-bytes.sh           # about a minute after the release build
#
# SHARECARD_BIN=path uses that binary instead of building one; SKIP_BUILD=1
# uses target/release/sharecard as it is. Exit status 1 when a named card
# (ML Engineer; for the story also the long-word sample in light) is over
# its target; the largest of all samples is printed for information.
source "$(dirname "$0")/lib.sh"

need_tools curl python3
build_release
note "server: defaults (the first response is the fast encoding)"
start_server first
"$PY" "$BENCH_DIR/first_bytes.py" "$BASE" "$ROOT/templates/samples.json"
