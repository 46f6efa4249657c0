#!/usr/bin/env bash
# Declared cards against the report card, over HTTP, side by side in one
# run against a release build (issue 34):
#
# - cold: ROUNDS rounds, each a block of 40 new report cards, then 40 new
#   tasks cards, then 40 new cost cards, one at a time (bench/client.py
#   latency --cold --template …: two-line roles, emoji and Arabic among
#   them; tasks with 3 to 6 items), the median of each block; a tasks
#   card's median over the rounds at most 1.5 × the report card's;
# - bytes: the first response of each kind's first card.
#
#   bench/declared.sh       # ~1 minute after the build; ROUNDS (5), SKIP_BUILD=1
#
# Exits 1 when a figure misses its target.
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_tools curl python3
ROUNDS=${ROUNDS:-5}
build_release
start_server declared
FAILED=0

echo "cold latency, median of 40 new cards per block, blocks alternating report / tasks / cost (target tasks ≤ 1.5 × report)"
offset=900000
declare -A meds
for round in $(seq 1 "$ROUNDS"); do
  line="  round $round:"
  for template in report tasks cost; do
    m=$("$PY" "$CLIENT" latency "$BASE" --cold "$offset" -n 40 --template "$template" | "$PY" -c 'import json,sys; d=json.load(sys.stdin); assert d["statuses"] == {"200": 40}, d; print(round(d["median_ms"], 2), d["median_bytes"])')
    meds[$template]+="${m% *} "
    line+=" $template ${m% *} ms (${m#* } B)"
  done
  offset=$((offset + 40))
  echo "$line"
done
med() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
report=$(med <<<"${meds[report]}")
tasks=$(med <<<"${meds[tasks]}")
cost=$(med <<<"${meds[cost]}")
ratio=$(awk -v t="$tasks" -v r="$report" 'BEGIN { printf "%.2f", t / r }')
cratio=$(awk -v t="$cost" -v r="$report" 'BEGIN { printf "%.2f", t / r }')
ok=$(awk -v r="$ratio" 'BEGIN { print (r <= 1.5) ? 1 : 0 }')
[[ $ok == 1 ]] || FAILED=1
echo "  median of the rounds: report $report ms, tasks $tasks ms = $ratio × ($([[ $ok == 1 ]] && echo PASS || echo FAIL)), cost $cost ms = $cratio ×"
stop_server "$SERVER_PID"
exit "$FAILED"
