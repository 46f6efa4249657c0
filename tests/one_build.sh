#!/usr/bin/env bash
# `cargo run` and `cargo test` share one build only while the test-only
# dependencies turn on no feature of a dependency the service already has:
# a changed feature set rebuilds that crate and everything above it. scraper
# once did this to `syn` and `memchr`, and `cargo test` recompiled every proc
# macro after `cargo run` (bench/first-hour.sh: about 150 s of 616).
#
#   bash tests/one_build.sh      # exit 1, naming the crates, if they differ
set -euo pipefail
cd "$(dirname "$0")/.."
features() {
  cargo tree --workspace "$@" -f '{p} {f}' --prefix none |
    sed 's/ (\*)$//; s/ (proc-macro)$//' | sort -u
}
build=$(features -e normal,build)
tests=$(features -e normal,build,dev)
# Crates only tests use are fine; a crate both use must be built alike.
changed=$(comm -13 <(echo "$build") <(echo "$tests") |
  while read -r name version _; do
    if grep -q "^$name $version\( \|$\)" <<<"$build"; then echo "$name $version"; fi
  done)
if [[ -n $changed ]]; then
  echo "dev-dependencies change the features of crates the service builds:" >&2
  while read -r line; do echo "  $line"; done <<<"$changed" >&2
  echo "so cargo test rebuilds them after cargo run; see Cargo.toml's dev-dependencies" >&2
  exit 1
fi
echo "ok: dev-dependencies add crates but change no feature the service builds with"
