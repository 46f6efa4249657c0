#!/usr/bin/env bash
# Load test of a release build on loopback, each figure next to its target.
#
#   bench/loadtest.sh            # ~5 minutes on 2 cores
#
# Builds `sharecard` in release mode, installs wrk, nginx and Node.js with
# apt-get if missing (and takumi from npm), and runs, each against a fresh
# server on a free loopback port:
#
#   A  defaults (render threads = cores, recompression on):
#      hot-card bytes, cache hits vs nginx (same PNG as a static file, same
#      wrk settings) and vs bare hyper serving the same bytes
#      (examples/hyper_floor.rs: the floor of the HTTP stack), client
#      overhead, cold-card latency next to takumi rendering a card like it
#      (bench/takumi.mjs; the two alternate in blocks), stampede
#   A'' RUST_LOG=warn: cache hits without the per-request log line (info)
#   A' --recompress false: cold latency (informational)
#   B1/B2  --render-threads 1 / 2, --recompress false: cold-card throughput
#      (every request a new card); B2 then prefills as many cards as fit in
#      PREFILL_S seconds and measures hit throughput over 10, 1,000 and all
#      prefilled cards (100,000 would take ~20 min of rendering on 2 cores)
#   C  --cache-mb 64: RSS after 10,000 distinct cards
#
# Environment: COLD_N (200), HIT_SECONDS (10), COLD_SECONDS (10), PREFILL_S (30), RSS_CARDS
# (10000), SKIP_BUILD=1 (use target/release/sharecard as it is), KEEP_WORK=1
# (keep the temp dir: server logs, wrk output).
# SHARECARD_* variables reach every server (flags given here win).
# Exit status: 0 when every figure meets its target, 1 otherwise.

source "$(dirname "$0")/lib.sh"

COLD_N=${COLD_N:-200}
HIT_SECONDS=${HIT_SECONDS:-10}
PREFILL_S=${PREFILL_S:-30}
RSS_CARDS=${RSS_CARDS:-10000}
COLD_SECONDS=${COLD_SECONDS:-10}
ML=$("$PY" -c "import sys; sys.path.insert(0, '$BENCH_DIR'); import client; print(client.ML_CARD)")

ROWS=()
FAILED=0
# row FIGURE MEASURED TARGET VERDICT(pass|FAIL|info)
row() {
  ROWS+=("$1|$2|$3|$4")
  [[ $4 == FAIL ]] && FAILED=1
  printf '  %-44s %-28s target %-22s %s\n' "$1" "$2" "$3" "$4" >&2
}

need_tools wrk nginx curl python3 node
build_release
machine | tee "$WORK/machine.txt" >&2

# ---------------------------------------------------------------- server A
note "server A: defaults"
start_server a
A_PID=$SERVER_PID A_BASE=$BASE

note "hot card bytes (fetch, sleep 3 s for background recompression, fetch again)"
first=$(curl -fsS -o "$WORK/first.png" -w '%{size_download}' "$A_BASE$ML")
sleep 3
hot=$(curl -fsS -o "$WORK/card.png" -w '%{size_download}' "$A_BASE$ML")
row "hot card bytes (ML Engineer, after 3 s)" "$hot B (first response $first B)" "<= 45 KB (45000 B)" "$(verdict "$hot <= 45000")"

note "cache hits: sharecard vs nginx, wrk -t2 -c64 -d${HIT_SECONDS}s"
mkdir -p "$WORK/www" "$WORK/nginx"
cp "$WORK/card.png" "$WORK/www/card.png"
# nginx workers run as www-data: let them reach the file (mktemp made 0700).
chmod 711 "$WORK"
chmod 755 "$WORK/www"
NGINX_PORT=$(free_port)
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes auto;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    # nginx closes a keep-alive connection after 1,000 requests by default;
    # sharecard does not. Raised so that wrk measures serving, not reconnects.
    keepalive_requests 1000000;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    types { image/png png; }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $WORK/www;
        location / { try_files /card.png =404; }
    }
}
EOF
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" >"$WORK/nginx/stdout.log" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
for _ in $(seq 1 50); do curl -fsS -o /dev/null "http://127.0.0.1:$NGINX_PORT$ML" 2>/dev/null && break; sleep 0.1; done
cmp -s "$WORK/card.png" <(curl -fsS "http://127.0.0.1:$NGINX_PORT$ML") || { echo "nginx does not serve the card" >&2; exit 1; }
TCK=$(getconf CLK_TCK)
hits_before=$(metric "$A_BASE" sharecard_cache_hits_total)
c0=$(cpu_ticks "$A_PID")
wrk -t2 -c64 -d"${HIT_SECONDS}s" --latency "$A_BASE$ML" >"$WORK/wrk-hits-sharecard.txt"
c1=$(cpu_ticks "$A_PID")
hits_after=$(metric "$A_BASE" sharecard_cache_hits_total)
NGINX_ALL=("$NGINX_PID" $(cat /proc/"$NGINX_PID"/task/*/children))
n0=$(cpu_ticks "${NGINX_ALL[@]}")
wrk -t2 -c64 -d"${HIT_SECONDS}s" --latency "http://127.0.0.1:$NGINX_PORT$ML" >"$WORK/wrk-hits-nginx.txt"
n1=$(cpu_ticks "${NGINX_ALL[@]}")
stop_server "$NGINX_PID"
floor_rps=""
if [[ -n $FLOOR_BIN ]]; then
  FLOOR_PORT=$(free_port)
  "$FLOOR_BIN" "$WORK/card.png" "127.0.0.1:$FLOOR_PORT" >"$WORK/hyper_floor.log" 2>&1 &
  FLOOR_PID=$!
  PIDS+=("$FLOOR_PID")
  for _ in $(seq 1 50); do curl -fsS -o /dev/null "http://127.0.0.1:$FLOOR_PORT/" 2>/dev/null && break; sleep 0.1; done
  f0=$(cpu_ticks "$FLOOR_PID")
  wrk -t2 -c64 -d"${HIT_SECONDS}s" "http://127.0.0.1:$FLOOR_PORT$ML" >"$WORK/wrk-hits-floor.txt"
  f1=$(cpu_ticks "$FLOOR_PID")
  stop_server "$FLOOR_PID"
  floor_rps=$(wrk_rps "$WORK/wrk-hits-floor.txt")
  floor_us=$(calc "round(($f1 - $f0) * 1e6 / $TCK / $(wrk_requests "$WORK/wrk-hits-floor.txt"), 1)")
fi
sc_us=$(calc "round(($c1 - $c0) * 1e6 / $TCK / $(wrk_requests "$WORK/wrk-hits-sharecard.txt"), 1)")
ng_us=$(calc "round(($n1 - $n0) * 1e6 / $TCK / $(wrk_requests "$WORK/wrk-hits-nginx.txt"), 1)")
sc_rps=$(wrk_rps "$WORK/wrk-hits-sharecard.txt")
ng_rps=$(wrk_rps "$WORK/wrk-hits-nginx.txt")
ratio=$(calc "round($sc_rps / $ng_rps, 2)")
grep -E 'Non-2xx|Socket errors' "$WORK/wrk-hits-sharecard.txt" >&2 || true
row "cache hits req/s (1 card, wrk -t2 -c64)" "$sc_rps vs nginx $ng_rps = ${ratio}x" ">= 0.9x nginx" "$(verdict "$ratio >= 0.9")"
row "server CPU per hit (info)" "sharecard $sc_us us, nginx $ng_us us" "(info)" info
if [[ -n $floor_rps ]]; then
  row "bare hyper, same bytes (examples/hyper_floor)" "$floor_rps = $(calc "round($floor_rps / $ng_rps, 2)")x nginx, $floor_us us CPU/request" "(stack floor, info)" info
fi
note "  (sharecard counted $(calc "int($hits_after - $hits_before)") hits; wrk p99: sharecard $(awk '$1=="99%"{print $2}' "$WORK/wrk-hits-sharecard.txt"), nginx $(awk '$1=="99%"{print $2}' "$WORK/wrk-hits-nginx.txt"))"

note "client overhead: the cached ML card, $COLD_N requests one at a time"
over=$("$PY" "$CLIENT" latency "$A_BASE" --hot -n "$COLD_N")
over_ms=$(jget "$over" 'round(d["median_ms"], 3)')
row "client+hit round trip (cached card)" "median ${over_ms} ms, p99 $(jget "$over" 'round(d["p99_ms"], 3)') ms" "(overhead, info)" info

# Cold cards and takumi alternate in blocks, so that a change in this VM's
# speed during the run (it drifts by tens of percent within minutes) weighs
# on both sides of the ratio alike.
BLOCKS=4
PER_BLOCK=$((COLD_N / BLOCKS))
note "cold cards vs takumi $TAKUMI_VERSION (the issue's fastest renderer, cards like the report card, in process): $BLOCKS alternating blocks of $PER_BLOCK new cards each, one at a time"
log_from=$(wc -l <"$LOG")
: >"$WORK/cold.jsonl"
: >"$WORK/takumi.jsonl"
TAKUMI_OK=1
for b in $(seq 0 $((BLOCKS - 1))); do
  "$PY" "$CLIENT" latency "$A_BASE" --cold $((b * PER_BLOCK)) -n "$PER_BLOCK" --samples >>"$WORK/cold.jsonl"
  if ((TAKUMI_OK)); then
    takumi_bench "$PER_BLOCK" $((b * PER_BLOCK)) >>"$WORK/takumi.jsonl" || TAKUMI_OK=0
  fi
done
cold=$("$PY" "$CLIENT" merge "$WORK/cold.jsonl")
cold_med=$(jget "$cold" 'round(d["median_ms"], 2)')
cold_p99=$(jget "$cold" 'round(d["p99_ms"], 2)')
cold_n=$(jget "$cold" 'd["n"]')
[[ $(jget "$cold" 'd["statuses"]') == "{'200': $cold_n}" ]] || { echo "cold requests not all 200: $cold" >&2; FAILED=1; }
# Server-side time of the same requests, from the request log.
srv=$("$PY" "$CLIENT" logstats "$LOG" --from-line "$log_from")
srv_med=$(jget "$srv" 'd["rendered_p50_ms"]')
row "cold card median (HTTP, end to end)" "$cold_med ms (server-side $srv_med ms)" "<= 6 ms" "$(verdict "$cold_med <= 6")"
row "cold card p99" "$cold_p99 ms = $(calc "round($cold_p99 / $cold_med, 2)")x median" "<= 3x median" "$(verdict "$cold_p99 <= 3 * $cold_med")"
if ((TAKUMI_OK)); then
  tk=$("$PY" "$CLIENT" merge "$WORK/takumi.jsonl")
  tk_med=$(jget "$tk" 'round(d["median_ms"], 2)')
  row "cold card vs takumi (same run, alternating)" "$cold_med ms vs takumi $tk_med ms = $(calc "round($cold_med / $tk_med, 2)")x" "<= 0.5x (half of takumi)" "$(verdict "$cold_med <= 0.5 * $tk_med")"
else
  row "cold card vs takumi (same run)" "skipped: takumi not installed" "<= 0.5x (half of takumi)" info
fi

note "stampede: 100 concurrent requests for one new card"
STAMPEDE=$("$PY" -c "import sys; sys.path.insert(0, '$BENCH_DIR'); import client; print(client.card_path(1_000_000))")
r0=$(metric "$A_BASE" sharecard_renders_total)
st=$("$PY" "$CLIENT" stampede "$A_BASE" "$STAMPEDE" -n 100)
sleep 0.5
r1=$(metric "$A_BASE" sharecard_renders_total)
renders=$(calc "int($r1 - $r0)")
row "stampede: renders for 100 requests" "$renders" "exactly 1" "$(verdict "$renders == 1")"
ok200=$(jget "$st" 'd["statuses"].get("200", 0)')
distinct=$(jget "$st" 'd["distinct_bodies"]')
row "stampede: identical 200 bodies" "$ok200/100 are 200, $distinct distinct body" "100 x 200, 1 body" "$(verdict "$ok200 == 100 and $distinct == 1")"
stop_server "$A_PID"

# --------------------------------------------------------------- server A'
# How much of the gap to nginx is the per-request log line (nginx runs
# with access_log off; sharecard logs every request at info by default).
note "server A'': RUST_LOG=warn (no request log), cache hits (informational)"
export RUST_LOG=warn
start_server a3
unset RUST_LOG
curl -fsS -o /dev/null "$BASE$ML"
sleep 3
c0=$(cpu_ticks "$SERVER_PID")
wrk -t2 -c64 -d"${HIT_SECONDS}s" "$BASE$ML" >"$WORK/wrk-hits-nolog.txt"
c1=$(cpu_ticks "$SERVER_PID")
nolog_rps=$(wrk_rps "$WORK/wrk-hits-nolog.txt")
nolog_us=$(calc "round(($c1 - $c0) * 1e6 / $TCK / $(wrk_requests "$WORK/wrk-hits-nolog.txt"), 1)")
row "cache hits req/s, RUST_LOG=warn (info)" "$nolog_rps = $(calc "round($nolog_rps / $ng_rps, 2)")x nginx, $nolog_us us CPU/hit" "(info)" info
stop_server "$SERVER_PID"

note "server A': --recompress false, cold latency (informational)"
start_server a2 --recompress false
cold2=$("$PY" "$CLIENT" latency "$BASE" --cold 0 -n "$((COLD_N / 2))")
row "cold card, --recompress false (info)" "median $(jget "$cold2" 'round(d["median_ms"], 2)') ms, p99 $(jget "$cold2" 'round(d["p99_ms"], 2)') ms" "(info)" info
stop_server "$SERVER_PID"

# ------------------------------------------------------------ servers B1/B2
# cold_run NAME: COLD_SECONDS of new cards from one wrk thread with 16 connections.
cold_run() {
  wrk -t1 -c16 -d"${COLD_SECONDS}s" --timeout 10s -s "$BENCH_DIR/cold.lua" "$BASE" -- 0 1 >"$WORK/wrk-cold-$1.txt"
  COLD_RPS=$(wrk_rps "$WORK/wrk-cold-$1.txt")
  COLD_END=$(awk '$1 == "END" { print $2 }' "$WORK/wrk-cold-$1.txt")
  local bad
  bad=$(awk '$1 == "STATUS" && $2 != 200 { printf "%s×%s ", $3, $2 }' "$WORK/wrk-cold-$1.txt")
  [[ -z $bad ]] || note "  non-200 responses in cold run $1: $bad"
}
note "server B1: --render-threads 1, cold throughput"
start_server b1 --render-threads 1 --render-queue 256 --cache-mb 4096 --recompress false
cold_run b1
rps1=$COLD_RPS
stop_server "$SERVER_PID"

note "server B2: --render-threads 2, cold throughput"
start_server b2 --render-threads 2 --render-queue 256 --cache-mb 4096 --recompress false
cold_run b2
rps2=$COLD_RPS
row "cold cards/s, 1 render thread" "$rps1" "scale with work (info)" info
row "cold cards/s, 2 render threads" "$rps2 = $(calc "round($rps2 / $rps1, 2)")x 1 thread" "scale with work (info)" info

note "prefill: new cards for up to ${PREFILL_S}s (8 connections)"
# wrk may build a last request it never sends: start a few cards back (the
# ones already cached are hits).
fill=$("$PY" "$CLIENT" fill "$BASE" --offset "$((COLD_END > 17 ? COLD_END - 16 : 1))" -n 100000 --concurrency 8 --deadline "$PREFILL_S")
CACHED=$(jget "$fill" 'd["end"]')
note "  $fill"
[[ $(jget "$fill" 'sorted(d["statuses"]) == ["200"] and d["errors"] == 0') == True ]] || note "  prefill had failures; some cycled cards may miss"
sleep 1
# wrk calls request() once before the run to check the script, so card 0
# was never sent: cycle over cards 1 .. n.
for n in 10 1000 "$((CACHED - 1))"; do
  m0=$(metric "$BASE" sharecard_cache_misses_total)
  wrk -t2 -c64 -d"${HIT_SECONDS}s" -s "$BENCH_DIR/cycle.lua" "$BASE" -- 1 "$n" >"$WORK/wrk-cycle-$n.txt"
  m1=$(metric "$BASE" sharecard_cache_misses_total)
  r=$(wrk_rps "$WORK/wrk-cycle-$n.txt")
  [[ $n == 10 ]] && r10=$r
  label="hit req/s over $n cached cards"
  [[ $n == "$((CACHED - 1))" ]] && label="hit req/s over $n cards (all prefilled)"
  row "$label" "$r ($(calc "round($r / $r10, 2)")x 10 cards, $(calc "int($m1 - $m0)") misses)" "flat (info)" info
done
note "  cache holds $(metric "$BASE" sharecard_cache_entries) cards, $(calc "round($(metric "$BASE" sharecard_cache_bytes) / 1048576, 1)") MiB; 100,000 cards would need ~$(calc "round(100000 / $(jget "$fill" 'd["per_s"]') / 60, 1)") min of rendering here"
stop_server "$SERVER_PID"

# ---------------------------------------------------------------- server C
note "server C: --cache-mb 64, $RSS_CARDS distinct cards"
start_server c --cache-mb 64
rss0=$(proc_kb "$SERVER_PID" VmRSS)
fillc=$("$PY" "$CLIENT" fill "$BASE" --offset 0 -n "$RSS_CARDS" --concurrency 4)
note "  $fillc"
sleep 2
hwm=$(proc_kb "$SERVER_PID" VmHWM)
rss=$(proc_kb "$SERVER_PID" VmRSS)
cache_mib=$(calc "round($(metric "$BASE" sharecard_cache_bytes) / 1048576, 1)")
row "peak RSS (VmHWM) after $RSS_CARDS cards, 64 MiB cache" "$(calc "round($hwm / 1024, 1)") MiB (VmRSS $(calc "round($rss / 1024, 1)") MiB, cache $cache_mib MiB)" "<= 114 MiB (64 + 50)" "$(verdict "$hwm / 1024 <= 114")"
row "RSS after start-up (ready, before any card)" "$(calc "round($rss0 / 1024, 1)") MiB" "(info)" info
stop_server "$SERVER_PID"

# ------------------------------------------------------------------ report
echo
cat "$WORK/machine.txt"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg) (other work on this machine skews every figure)"
echo "run time: $(($(date +%s) - T0)) s; $(date -u +%FT%TZ); commit $(cd "$ROOT" && git rev-parse --short HEAD)$(cd "$ROOT" && git diff --quiet || echo ' + uncommitted changes')"
echo
{
  echo "figure|measured|target|result"
  echo "------|--------|------|------"
  printf '%s\n' "${ROWS[@]}"
} | column -t -s '|'
echo
echo "notes: every load generator shares the machine's cores with the server. Cold"
echo "throughput and hits over N cards ran with --recompress false (cards all in the"
echo "same fast encoding); 100,000 cached cards take too long to render here, so the"
echo "largest N is what ${PREFILL_S} s of prefill cached."
exit "$FAILED"
