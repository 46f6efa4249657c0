#!/usr/bin/env bash
# Two builds side by side over HTTP, alternating in one sitting: a
# refactor that must not cost speed. For each of ROUNDS rounds and each
# build in turn (A, then B): the median of 40 new cards one at a time
# (bench/client.py latency --cold, a fresh offset each time), the median of
# 400 hits on the ML Engineer card, and hits per second with
# `wrk -t2 -c64 -d5s` on it, with the default logging on.
#
#   bench/ab-http.sh OLD_BINARY NEW_BINARY     # ~2 minutes; ROUNDS (3)
#
# Prints one line per build and round, then the medians over the rounds
# and B/A.
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_tools wrk curl python3
A=${1:?usage: bench/ab-http.sh OLD_BINARY NEW_BINARY}
B=${2:?usage: bench/ab-http.sh OLD_BINARY NEW_BINARY}
ROUNDS=${ROUNDS:-3}
cp "$A" "$WORK/a"
cp "$B" "$WORK/b"
offset=500000
declare -A cold hot rps
for round in $(seq 1 "$ROUNDS"); do
  for side in a b; do
    BIN="$WORK/$side" # read by start_server (lib.sh)
    start_server "$side$round" --recompress false
    c=$("$PY" "$CLIENT" latency "$BASE" --cold "$offset" -n 40 | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["median_ms"])')
    offset=$((offset + 40))
    h=$("$PY" "$CLIENT" latency "$BASE" --hot -n 400 | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["median_ms"])')
    r=$(wrk -t2 -c64 -d5s "$BASE/cards/report.png?role=ML%20Engineer&tagline=AI%20helps%20build%20AI.%20But%20someone%20has%20to%20build%20the%20AI%20that%20builds%20AI.&risk=48&threat=Model%20Fine-Tuning&threat_risk=65" | awk '/Requests\/sec/ { print $2 }')
    stop_server "$SERVER_PID"
    cold[$side]+="$c "
    hot[$side]+="$h "
    rps[$side]+="$r "
    echo "round $round ${side^^}: cold median ${c} ms, hit median ${h} ms, hits ${r}/s"
  done
done
med() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
summary() { # summary NAME A_VALUES B_VALUES
  local va vb
  va=$(med <<<"$2")
  vb=$(med <<<"$3")
  echo "$1: A $va, B $vb, B/A $(awk -v x="$va" -v y="$vb" 'BEGIN { printf "%.3f", y / x }')"
}
summary "cold median ms" "${cold[a]}" "${cold[b]}"
summary "hit median ms" "${hot[a]}" "${hot[b]}"
summary "hits/s (wrk)" "${rps[a]}" "${rps[b]}"
