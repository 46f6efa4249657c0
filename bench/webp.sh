#!/usr/bin/env bash
# WebP against PNG over HTTP, side by side in one run against a release
# build, each figure next to its target (issue 35):
#
# - bytes: for the report card (ML Engineer), the square (ML Engineer) and
#   the story (a long role, light), the .webp caches keep against the
#   final .png (≤ 0.65 ×), and the first .webp response's bytes;
# - cold latency: ROUNDS rounds, each a block of 40 new .png cards then 40
#   new .webp cards one at a time (bench/client.py latency --cold, other
#   cards each block), the median of each block; ≤ 3 × over the rounds'
#   medians;
# - hits: the median of 400 hits on the cached .webp and .png.
#
#   bench/webp.sh       # ~1 minute after the build; ROUNDS (5), SKIP_BUILD=1
#
# Exits 1 when a figure misses its target.
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_tools curl python3
ROUNDS=${ROUNDS:-5}
build_release
start_server webp
FAILED=0
verdict() { # verdict OK?: PASS or FAIL (and remember)
  if [[ $1 == 1 ]]; then echo PASS; else
    FAILED=1
    echo FAIL
  fi
}

# final PATH: the bytes a card settles in (no draft's short lifetime).
final() {
  for _ in $(seq 1 300); do
    if ! curl -fsS -o "$WORK/body" -D - "$BASE$1" | tr -d '\r' | grep -qi '^cache-control: public, max-age=10$'; then
      stat -c %s "$WORK/body"
      return 0
    fi
    sleep 0.1
  done
  echo "still a draft after 30 s: $1" >&2
  exit 1
}

TAGLINE='AI%20helps%20build%20AI.%20But%20someone%20has%20to%20build%20the%20AI%20that%20builds%20AI.'
ML="role=ML%20Engineer&tagline=$TAGLINE&risk=48&threat=Model%20Fine-Tuning&threat_risk=65"
LONG="role=Senior%20Principal%20Cloud%20Infrastructure%20Security%20and%20Compliance%20Engineer&tagline=$TAGLINE&risk=48&threat=Model%20Fine-Tuning&threat_risk=65&theme=light"
echo "bytes: the .webp caches keep against the final .png (target ≤ 0.65 ×)"
for card in "report $ML" "square $ML" "story $LONG"; do
  template=${card%% *}
  query=${card#* }
  first=$(curl -fsS -o /dev/null -w '%{size_download}' "$BASE/cards/$template.webp?$query")
  png=$(final "/cards/$template.png?$query")
  webp=$(final "/cards/$template.webp?$query")
  ratio=$(awk -v w="$webp" -v p="$png" 'BEGIN { printf "%.3f", w / p }')
  ok=$(awk -v r="$ratio" 'BEGIN { print (r <= 0.65) ? 1 : 0 }')
  printf '  %-7s png %7d B  webp %7d B = %s × (first .webp %d B)  %s\n' "$template" "$png" "$webp" "$ratio" "$first" "$(verdict "$ok")"
done

echo "cold latency, median of 40 new cards per block, blocks alternating .png / .webp (target .webp ≤ 3 × .png)"
offset=700000
pngs="" webps=""
for round in $(seq 1 "$ROUNDS"); do
  for format in png webp; do
    m=$("$PY" "$CLIENT" latency "$BASE" --cold "$offset" -n 40 --format "$format" | "$PY" -c 'import json,sys; d=json.load(sys.stdin); assert d["statuses"] == {"200": 40}, d; print(round(d["median_ms"], 2))')
    offset=$((offset + 40))
    if [[ $format == png ]]; then pngs+="$m "; else webps+="$m "; fi
  done
  echo "  round $round: png $(echo "$pngs" | awk '{ print $NF }') ms, webp $(echo "$webps" | awk '{ print $NF }') ms"
done
med() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
mp=$(med <<<"$pngs")
mw=$(med <<<"$webps")
ratio=$(awk -v w="$mw" -v p="$mp" 'BEGIN { printf "%.2f", w / p }')
ok=$(awk -v r="$ratio" 'BEGIN { print (r <= 3) ? 1 : 0 }')
echo "  median of the rounds: png $mp ms, webp $mw ms = $ratio ×  $(verdict "$ok")"

hp=$("$PY" "$CLIENT" latency "$BASE" --hot -n 400 | "$PY" -c 'import json,sys; print(round(json.load(sys.stdin)["median_ms"], 3))')
hw=$("$PY" "$CLIENT" latency "$BASE" --hot -n 400 --format webp | "$PY" -c 'import json,sys; print(round(json.load(sys.stdin)["median_ms"], 3))')
echo "hits, median of 400: png $hp ms, webp $hw ms"
stop_server "$SERVER_PID"
exit "$FAILED"
