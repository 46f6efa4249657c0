#!/usr/bin/env bash
# The first hour on a fresh clone, timed: the README's two commands and the
# templates guide's check, in order, from an empty target directory.
#
#   bench/first-hour.sh        # ~6 minutes on 2 cores; needs a quiet machine
#
# Clones this checkout's HEAD into a temporary directory, then times:
#   1. `cargo run` until it serves the README's example card,
#   2. `cargo test` (build and run),
#   3. `cargo run -- check`.
# Prints each time and the total next to the target (10 minutes in all).
# Port 8080 (the default `--listen`) must be free. Exit 1 over the target.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/sharecard-first-hour.XXXXXX)
RUN_PID=""
cleanup() {
  [[ -n $RUN_PID ]] && kill "$RUN_PID" 2>/dev/null
  pkill -f "$WORK/clone/target/debug/sharecard" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
git clone -q "$ROOT" "$WORK/clone"
cd "$WORK/clone"
URL='http://localhost:8080/cards/report.png?role=ML%20Engineer&tagline=AI%20helps%20build%20AI.%20But%20someone%20has%20to%20build%20the%20AI%20that%20builds%20AI.&risk=48&threat=Model%20Fine-Tuning&threat_risk=65'
now() { date +%s; }
t0=$(now)
cargo run >"$WORK/run.log" 2>&1 &
RUN_PID=$!
until curl -fsS -o "$WORK/card.png" "$URL" 2>/dev/null; do
  kill -0 "$RUN_PID" 2>/dev/null || { tail -20 "$WORK/run.log"; exit 1; }
  sleep 1
done
t1=$(now)
kill "$RUN_PID"; wait "$RUN_PID" 2>/dev/null || true; RUN_PID=""
cargo test >"$WORK/test.log" 2>&1 || { tail -40 "$WORK/test.log"; exit 1; }
t2=$(now)
cargo run -- check >"$WORK/check.log" 2>&1 || { tail -20 "$WORK/check.log"; exit 1; }
t3=$(now)
total=$((t3 - t0))
echo "commit $(git rev-parse --short HEAD); $(nproc) cores; load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '  %-44s %5d s\n' "cargo run, until the first card is served" $((t1 - t0))
printf '  %-44s %5d s\n' "cargo test (build and run)" $((t2 - t1))
printf '  %-44s %5d s\n' "cargo run -- check" $((t3 - t2))
printf '  %-44s %5d s   target <= 600 s   %s\n' "in all" "$total" "$( ((total <= 600)) && echo pass || echo FAIL)"
((total <= 600))
