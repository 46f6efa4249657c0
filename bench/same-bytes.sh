#!/usr/bin/env bash
# Do two builds draw the same bytes? Renders bench/same-bytes.jsonl (4 cards
# shaped like real ones: the seed's ML Engineer, emoji, Arabic, a two-line
# role with a long threat; every template, theme and scale, 72 PNGs) with
# each binary and compares every file with cmp. For a refactor that must
# not change what is drawn.
#
#   bench/same-bytes.sh OLD_BINARY NEW_BINARY
set -euo pipefail
old=${1:?usage: bench/same-bytes.sh OLD_BINARY NEW_BINARY}
new=${2:?usage: bench/same-bytes.sh OLD_BINARY NEW_BINARY}
list="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/same-bytes.jsonl"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for side in old new; do
  bin=$old
  [ "$side" = new ] && bin=$new
  "$bin" render --batch "$list" --out-dir "$work/$side" >/dev/null
done
total=0 same=0
for f in "$work"/old/*.png; do
  total=$((total + 1))
  if cmp -s "$f" "$work/new/$(basename "$f")"; then
    same=$((same + 1))
  else
    echo "differs: $(basename "$f")"
  fi
done
echo "$same of $total PNGs byte-identical"
[ "$total" -gt 0 ] && [ "$same" -eq "$total" ]
