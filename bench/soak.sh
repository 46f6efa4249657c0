#!/usr/bin/env bash
# Soak ("Ready for production"): mixed hit/miss load held for SOAK_S seconds
# with new cards offered at MISS_FACTOR × what the machine can render, over
# every template × scale (1×–3×) × theme, and the memory bound checked.
#
#   bench/soak.sh                                    # ~11 minutes after the build
#   SOAK_S=60 SHARECARD_BIN=target/debug/sharecard bench/soak.sh   # .ci/run's short form
#
# 1. Starts a release build with production defaults (render threads =
#    cores, queue = 4 × threads, recompression on, 5 s render timeout) and
#    --cache-mb CACHE_MB.
# 2. Render capacity: new cards for 5 s with 2 × threads + 2 connections
#    (all threads busy, nothing shed) → C cards/s.
# 3. Soak: wrk paces requests (bench/soak.lua) at MISS_FACTOR × C new cards/s
#    plus hits on HOT_N cached cards, HIT_SHARE of all requests.
# 4. Reports the 503 rate, p99 of served (200) requests (server-side, from
#    the request log; wrk's client-side percentiles are over all responses),
#    RSS plus the cached cards' memory file sampled every second (its peak,
#    VmHWM, and the slope of the curve after warm-up, the first quarter),
#    against --cache-mb + 96 MiB, and errors other than 503.
#    Afterwards checks the service still answers and renders.
#
# Cards: MIX=1 (the default here) cycles template × scale × theme over
# distinct cards (mixed_path in cards.lua); MIX=0 asks for 1× report cards.
# WEBP=1 (the default) makes every other pair of rounds of the mix .webp,
# and adds one WebP frame (160 MiB, a story at 3×) to the bound.
#
# Environment: SOAK_S (600), CACHE_MB (64), MISS_FACTOR (2), HIT_SHARE (0.8),
# HOT_N (54), CONNS (64), MIX (1), WEBP (1), SKIP_BUILD=1 (use target/release/sharecard
# as it is), SHARECARD_BIN (use this binary, no build), KEEP_WORK=1.
# Exit status: 1 if any error other than 503 (HTTP status, socket error,
# client timeout) occurred, the peak passed the memory bound, the curve
# rose after warm-up (soaks of 5 minutes or more), or the service did not
# recover; else 0.

source "$(dirname "$0")/lib.sh"

SOAK_S=${SOAK_S:-600}
CACHE_MB=${CACHE_MB:-64}
MISS_FACTOR=${MISS_FACTOR:-2}
HIT_SHARE=${HIT_SHARE:-0.8}
HOT_N=${HOT_N:-54}
export MIX=${MIX:-1}
export WEBP=${WEBP:-1}
# One WebP frame on top (crates/sharecard-render/src/encode/webp.rs): a
# large card's whole frame and image-webp's copy of it, one card at a time;
# the largest, a story at 3×, is 2 × 71.2 MiB, and a 2-minute soak peaked
# 156 MiB above the PNG-only runs (bench/RESULTS.md, "WebP").
WEBP_FRAME_MB=$([[ $WEBP == 1 && $MIX == 1 ]] && echo 160 || echo 0)
BOUND_MB=$((CACHE_MB + 96 + WEBP_FRAME_MB))
CONNS=${CONNS:-64}
CAP_S=${CAP_S:-5}

need_tools wrk curl python3
build_release
machine | tee "$WORK/machine.txt" >&2

start_server soak --cache-mb "$CACHE_MB"
THREADS=$(nproc)
QUEUE=$((4 * THREADS))
note "server up: $THREADS render threads, queue $QUEUE, cache $CACHE_MB MiB; RSS $(($(proc_kb "$SERVER_PID" VmRSS) / 1024)) MiB"

# Card index ranges: capacity probe 1..99,999; hot set 200,000..; misses
# 300,000.. (all distinct; see cards.lua).
# 2 × threads + 2 connections keep every render thread busy without
# filling the queue (at exactly threads + queue, some misses get 503:
# the queue count lags a woken waiter).
PROBE_CONNS=$((2 * THREADS + 2))
note "render capacity: new cards for ${CAP_S}s, $PROBE_CONNS connections"
wrk -t1 -c"$PROBE_CONNS" -d"${CAP_S}s" --timeout 10s -s "$BENCH_DIR/cold.lua" "$BASE" -- 1 1 >"$WORK/wrk-capacity.txt"
CAP=$(wrk_rps "$WORK/wrk-capacity.txt")
cap_bad=$(awk '$1 == "STATUS" && $2 != 200 { s += $3 } END { print s + 0 }' "$WORK/wrk-capacity.txt")
note "  capacity ≈ $CAP cards/s ($cap_bad non-200 during the probe)"

note "hot set: $HOT_N cards"
hotfill=$("$PY" "$CLIENT" fill "$BASE" --offset 200000 -n "$HOT_N" --concurrency 2)
[[ $(jget "$hotfill" 'd["ok"]') == "$HOT_N" ]] || { echo "hot set prefill failed: $hotfill" >&2; exit 1; }
sleep 1

MISS_RATE=$(calc "round($MISS_FACTOR * $CAP, 1)")
HIT_RATE=$(calc "round($MISS_RATE * $HIT_SHARE / (1 - $HIT_SHARE), 1)")
note "soak: ${SOAK_S}s, offering $MISS_RATE new cards/s + $HIT_RATE hits/s over $CONNS connections"
log_from=$(wc -l <"$LOG")
shed0=$(metric "$BASE" sharecard_shed_requests_total)
renders0=$(metric "$BASE" sharecard_renders_total)
# RSS timeline, once a second, in the background, with the bytes of the
# memory file cached cards are sent from (shared memory, outside RSS).
(
  while kill -0 "$SERVER_PID" 2>/dev/null; do
    echo "$(date +%s) $(proc_kb "$SERVER_PID" VmRSS) $(proc_kb "$SERVER_PID" VmHWM) $(metric "$BASE" sharecard_sealed_bytes)"
    sleep 1
  done
) >"$WORK/rss.txt" 2>/dev/null &
PIDS+=("$!")
wrk -t2 -c"$CONNS" -d"${SOAK_S}s" --timeout 10s -s "$BENCH_DIR/soak.lua" "$BASE" \
  -- 300000 "$MISS_RATE" "$HIT_RATE" 200000 "$HOT_N" 2 >"$WORK/wrk-soak.txt"
hwm_kb=$(proc_kb "$SERVER_PID" VmHWM)
rss_kb=$(proc_kb "$SERVER_PID" VmRSS)
shed1=$(metric "$BASE" sharecard_shed_requests_total)
renders1=$(metric "$BASE" sharecard_renders_total)
cache_bytes=$(metric "$BASE" sharecard_cache_bytes)
sealed_kb=$(awk '$4 + 0 > m { m = $4 + 0 } END { print int(m / 1024) }' "$WORK/rss.txt")
# Per second: RSS + memory file, MiB. The peak is the larger of the sampled
# sums and VmHWM + the file's largest size (a peak between samples).
awk 'NR == 1 { t0 = $1 } $4 + 0 == $4 { printf "%d %.2f\n", $1 - t0, $2 / 1024 + $4 / 1048576 }' "$WORK/rss.txt" >"$WORK/sum.txt"
peak_sum=$(awk -v hwm="$hwm_kb" -v file="$sealed_kb" '$2 > m { m = $2 } END { b = (hwm + file) / 1024; printf "%.1f", (b > m ? b : m) }' "$WORK/sum.txt")
bound_verdict=$(verdict "$peak_sum <= $BOUND_MB")
# Least-squares slope of the sum after the first quarter (warm-up: the
# cache and the backgrounds filling), in MiB a minute.
warm_s=$((SOAK_S / 4))
read -r slope slope_n < <(awk -v w="$warm_s" '$1 >= w { n++; sx += $1; sy += $2; sxx += $1 * $1; sxy += $1 * $2 }
  END { d = n * sxx - sx * sx; if (n < 3 || d == 0) print "0 " n + 0; else printf "%.3f %d\n", 60 * (n * sxy - sx * sy) / d, n }' "$WORK/sum.txt")
if ((SOAK_S >= 300)); then
  slope_verdict=$(verdict "$slope <= 0.5")
else
  slope_verdict="info (shorter than 5 minutes)"
fi

# Recovery: the service answers and renders a new card at once.
sleep 1
health=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/healthz" || echo 000)
after=$("$PY" "$CLIENT" latency "$BASE" --cold 900000 -n 5)

W="$WORK/wrk-soak.txt"
field() { awk -v k="$1" '$1 == k { print $2 }' "$W"; }
total=$(awk '$1 == "STATUS" { s += $3 } END { print s + 0 }' "$W")
ok=$(awk '$1 == "STATUS" && $2 == 200 { print $3 }' "$W")
ok=${ok:-0}
s503=$(awk '$1 == "STATUS" && $2 == 503 { print $3 }' "$W")
s503=${s503:-0}
other_status=$(awk '$1 == "STATUS" && $2 != 200 && $2 != 503 { s += $3 } END { print s + 0 }' "$W")
other_detail=$(awk '$1 == "STATUS" && $2 != 200 && $2 != 503 { printf "%s×%s ", $3, $2 }' "$W")
read -r e_connect e_read e_write e_timeout < <(awk '$1 == "SOCKET_ERRORS" { print $2, $3, $4, $5 }' "$W")
socket_errors=$((e_connect + e_read + e_write + e_timeout))
dur=$(field DURATION_S)
sent_m=$(field SENT_MISSES)
sent_h=$(field SENT_HITS)
kinds=$(awk '$1 == "KIND503" { printf "%s %s, ", $2, $3 }' "$W")
srv=$("$PY" "$CLIENT" logstats "$LOG" --from-line "$log_from")
wrk_p99=$(awk '$1 == "LATENCY_MS" && $2 == 99 { print $3 }' "$W")
wrk_max=$(awk '$1 == "LATENCY_MS" && $2 == "max" { print $3 }' "$W")

echo
cat "$WORK/machine.txt"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg) (other work on this machine skews every figure)"
echo "run time: $(($(date +%s) - T0)) s; $(date -u +%FT%TZ); commit $(cd "$ROOT" && git rev-parse --short HEAD)$(cd "$ROOT" && git diff --quiet || echo ' + uncommitted changes')"
echo "config: $THREADS render threads, queue $QUEUE, --cache-mb $CACHE_MB, recompression on; wrk -t2 -c$CONNS, ${SOAK_S}s; cards: $([[ $MIX == 1 ]] && echo 'every template x scale x theme' || echo '1x report')$([[ $WEBP == 1 && $MIX == 1 ]] && echo ', PNG and WebP')"
echo
{
  echo "figure|measured|reference"
  echo "------|--------|---------"
  echo "render capacity (new cards, ${CAP_S}s probe)|$CAP cards/s|"
  echo "offered new cards|$(calc "round($sent_m / $dur, 1)")/s (target $MISS_RATE/s = ${MISS_FACTOR}x capacity)|"
  echo "offered hits|$(calc "round($sent_h / $dur, 1)")/s (target $HIT_RATE/s)|"
  echo "responses|$total in ${dur}s: $ok × 200, $s503 × 503${other_detail:+, $other_detail}|"
  echo "renders during soak|$(calc "int($renders1 - $renders0)") ($(calc "round(($renders1 - $renders0) / $dur, 1)")/s)|capacity $CAP/s"
  echo "503 rate|$(calc "round(100 * $s503 / max($total, 1), 2)")% of all, $(calc "round(100 * $s503 / max($sent_m, 1), 1)")% of new cards (${kinds%, })|shedding expected: misses offered at ${MISS_FACTOR}x capacity"
  echo "served (200) p99, server-side|$(jget "$srv" 'd["served_p99_ms"]') ms (p50 $(jget "$srv" 'd["served_p50_ms"]'), max $(jget "$srv" 'd["served_max_ms"]'); rendered p99 $(jget "$srv" 'd["rendered_p99_ms"]'), hits p99 $(jget "$srv" 'd["hit_p99_ms"]'))|render timeout 5000 ms"
  echo "all responses p99, client-side (wrk)|$wrk_p99 ms (max $wrk_max ms)|"
  echo "peak RSS + memory file (sampled 1/s)|$peak_sum MiB (VmHWM $(calc "round($hwm_kb / 1024, 1)"), file at most $(calc "round($sealed_kb / 1024, 1)"); VmRSS now $(calc "round($rss_kb / 1024, 1)"), cache $(calc "round($cache_bytes / 1048576, 1)") MiB)|<= $BOUND_MB MiB (--cache-mb + 96$([[ $WEBP_FRAME_MB != 0 ]] && echo " + one WebP frame, $WEBP_FRAME_MB")): $bound_verdict"
  echo "RSS + memory file after warm-up|slope $slope MiB/min over $slope_n samples (from ${warm_s}s)|flat (<= 0.5 MiB/min): $slope_verdict"
  echo "errors other than 503|$((other_status + socket_errors)) (statuses $other_status; connect $e_connect, read $e_read, write $e_write, timeout $e_timeout)|0 ($( ((other_status + socket_errors == 0)) && echo pass || echo FAIL))"
  echo "after the soak|healthz $health; new cards $(jget "$after" 'd["statuses"]') median $(jget "$after" 'round(d["median_ms"], 1)') ms|200s"
} | column -t -s '|'
echo
echo "RSS + memory file timeline (s:MiB, every 10 s): $(awk 'NR % 10 == 1 { printf "%d:%.0f ", $1, $2 }' "$WORK/sum.txt" | fold -s -w 100)"

status=0
((other_status + socket_errors == 0)) || status=1
[[ $bound_verdict == pass ]] || status=1
[[ $slope_verdict != FAIL ]] || status=1
[[ $health == 200 && $(jget "$after" 'd["statuses"]') == "{'200': 5}" ]] || status=1
exit "$status"
