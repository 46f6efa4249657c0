#!/usr/bin/env bash
# End-to-end test of the nginx cache tier (deploy/nginx/sharecard.conf) in
# front of two sharecard instances, all on loopback:
#
#   (a) every distinct card requested through the tier, many times and
#       concurrently, is rendered exactly once across the tier; HEAD and
#       If-None-Match behave; a card's .webp is a cache entry of its own;
#       a declared card (tasks), share page then og:image, is one too;
#   (b) after SIGKILL of one instance every card, cached or new, is still
#       served 200;
#   (c) with both instances up again, SIGTERM to one of them under steady
#       load fails no request, and the instance exits 0 after draining;
#   (d) a new card asked for by Twitterbot: nginx stores the first (draft)
#       bytes only briefly and serves the final, small bytes within 90 s,
#       and no strong ETag ever names two different bodies;
#   (e) operations: the request id nginx sends is in the instance's access
#       log with the client's address and user agent, and a real Prometheus
#       scraping the instances' --metrics-listen ports sees them up, can
#       query the render counter and reports its type as a counter;
#   (f) SIGKILL of an instance while it recompresses cards, under load
#       through the tier: no request fails, the restarted instance is ready
#       within a second, and --warm refills its cache.
#
# Usage: deploy/test-tier.sh
#   SHARECARD_BIN      binary to test (default: target/release/sharecard in
#                      the repository; built with cargo when missing)
#   TIER_CARDS         distinct cards in (a) (default 20)
#   TIER_REPEATS       requests per card in (a) (default 5)
#   TIER_LOAD_SECONDS  length of the load in (c) (default 8)
#   TIER_TIME_LIMIT    seconds before the test gives up (default 240; the
#                      build, when needed, is not counted)
#   KEEP_WORK=1        keep the temp dir (logs, nginx config) afterwards
#
# Installs nginx, curl and prometheus with apt-get when missing. Exits non-zero on any
# failed check; prints a PASS/FAIL summary with figures.
set -euo pipefail

DEPLOY_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$DEPLOY_DIR/.." && pwd)
N_CARDS=${TIER_CARDS:-20}
REPEATS=${TIER_REPEATS:-5}
LOAD_SECONDS=${TIER_LOAD_SECONDS:-8}
TIME_LIMIT=${TIER_TIME_LIMIT:-240}
TIER_PORTS=${TIER_PORTS:-20000-31999}
[[ $TIER_PORTS =~ ^[0-9]+-[0-9]+$ ]] || { echo "TIER_PORTS must be LOW-HIGH, e.g. 20000-31999, got $TIER_PORTS" >&2; exit 2; }
T0=$(date +%s)

note() { printf '[%3ds] %s\n' "$(($(date +%s) - T0))" "$*"; }

# --- tools -----------------------------------------------------------------
find_nginx() {
  command -v nginx 2>/dev/null || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; } || true
}
missing=()
[[ -n $(find_nginx) ]] || missing+=(nginx)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
if ((${#missing[@]})); then
  note "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
NGINX=$(find_nginx)

SHARECARD_BIN=${SHARECARD_BIN:-target/release/sharecard}
[[ $SHARECARD_BIN == /* ]] || SHARECARD_BIN="$ROOT/$SHARECARD_BIN"
if [[ ! -x $SHARECARD_BIN ]]; then
  note "building the release binary (cargo build --release --bin sharecard)"
  (cd "$ROOT" && cargo build --release --bin sharecard --quiet)
  SHARECARD_BIN="$ROOT/target/release/sharecard"
fi

# --- work dir, processes, clean-up ------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sharecard-tier.XXXXXX")
# nginx workers run as an unprivileged user when the test runs as root: they
# must be able to reach the cache and temp dirs nginx creates (and chowns)
# under here.
chmod 755 "$WORK"
# A copy: someone rebuilding target/ during the test changes nothing.
BIN="$WORK/sharecard"
cp "$SHARECARD_BIN" "$BIN"

declare -A SC_PID=() SC_PORT=() SC_MPORT=()
NGINX_PID=""
PROM_PID=""
load_pids=()
WATCHDOG_PID=""
FAILED=()

cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  [[ -n $WATCHDOG_PID ]] && kill "$WATCHDOG_PID" 2>/dev/null
  for pid in "${load_pids[@]}" "${SC_PID[@]}" $NGINX_PID $PROM_PID; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${load_pids[@]}" "${SC_PID[@]}" $NGINX_PID $PROM_PID; do
    wait "$pid" 2>/dev/null || true
  done
  if ((rc != 0)) && [[ -d $WORK ]]; then
    for f in "$WORK"/sc-*.log "$WORK"/nginx/error.log "$WORK"/prometheus.log; do
      [[ -s $f ]] || continue
      echo "--- last lines of ${f#"$WORK"/}"
      tail -n 15 "$f"
    done
  fi
  if [[ -n ${KEEP_WORK:-} ]]; then
    echo "work dir kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "interrupted"; exit 130' INT
trap 'echo "FAIL: time limit of ${TIME_LIMIT}s reached"; exit 124' TERM

# Bounded in time: the watchdog TERMs this script, whose trap cleans up (and
# stops the watchdog, which stops its sleep).
(
  trap 'kill "$s" 2>/dev/null; exit 0' TERM
  sleep "$TIME_LIMIT" &
  s=$!
  wait "$s" && kill -TERM $$
) 2>/dev/null &
WATCHDOG_PID=$!

die() {
  echo "FAIL: $*"
  exit 1
}
check() { # check DESCRIPTION COMMAND...: records a failed check, goes on
  local what=$1
  shift
  if "$@"; then
    echo "  ok: $what"
  else
    echo "  FAILED: $what"
    FAILED+=("$what")
  fi
}

# --- helpers ---------------------------------------------------------------
declare -A USED_PORTS=()
FREE_PORT=""
# TIER_PORTS=LOW-HIGH: where to look (below the ephemeral range by default).
PORT_LOW=${TIER_PORTS%-*}
PORT_HIGH=${TIER_PORTS#*-}
free_port() { # sets FREE_PORT: a loopback port nothing listens on, in TIER_PORTS
  local p i
  for i in $(seq 1 200); do
    p=$((PORT_LOW + RANDOM % (PORT_HIGH - PORT_LOW + 1)))
    [[ -z ${USED_PORTS[$p]:-} ]] || continue
    if command -v ss >/dev/null 2>&1; then
      [[ -z $(ss -Htan "( sport = :$p )" 2>/dev/null) ]] || continue
    fi
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      USED_PORTS[$p]=1
      FREE_PORT=$p
      return
    fi
  done
  die "no free loopback port found"
}

# --render-queue 64: (a) sends every miss at once; with the default queue
# (4 x render threads) one instance could shed part of the burst with 503.
# nginx would retry those on the other instance (still one render per card),
# but the test wants the one-render property without that noise.
# Metrics on a port of their own, as deploy/kubernetes does; nginx on
# loopback is the trusted proxy.
start_instance() { # start_instance NAME PORT METRICS_PORT
  local name=$1 port=$2 mport=$3
  "$BIN" serve --listen "127.0.0.1:$port" --metrics-listen "127.0.0.1:$mport" \
    --trusted-proxy 127.0.0.1 --cache-mb 64 --render-queue 64 \
    --shutdown-grace 10s --log-format text >>"$WORK/sc-$name.log" 2>&1 &
  SC_PID[$name]=$!
  SC_PORT[$name]=$port
  SC_MPORT[$name]=$mport
}

wait_ready() { # wait_ready NAME: until /readyz answers 200 (15s at most)
  local name=$1 i
  for i in $(seq 1 150); do
    if curl -fsS --max-time 1 -o /dev/null "http://127.0.0.1:${SC_PORT[$name]}/readyz" 2>/dev/null; then
      return 0
    fi
    kill -0 "${SC_PID[$name]}" 2>/dev/null || die "instance $name exited during start-up (see below)"
    sleep 0.1
  done
  die "instance $name not ready after 15s"
}

renders() { # renders NAME: sharecard_renders_total of a running instance
  curl -fsS --max-time 5 "http://127.0.0.1:${SC_MPORT[$1]}/metrics" |
    awk '$1 == "sharecard_renders_total" { print $2 }'
}

card() { # card LABEL N [SCALE]: path and query of a distinct card
  local label=$1 n=$2 scale=${3:-1}
  printf '/cards/report.png?role=%s%%20%s&risk=%d&threat=Task%%20%s&threat_risk=%d&scale=%d' \
    "$label" "$n" $((n % 101)) "$n" $(((n * 7 + 13) % 101)) "$scale"
}

# fetch OUT URL...: GETs the paths through the tier, all at once (without
# --parallel-immediate, curl would wait for a first response before opening
# more HTTP/1.1 connections); one line per request in OUT:
# "status cache-status URL" (status 000: no response).
fetch() { fetch_from "$TIER" "$@"; }
fetch_from() { # fetch_from BASE OUT URL...: the same, from BASE
  local base=$1 out=$2 u
  shift 2
  local args=()
  for u in "$@"; do
    args+=(-o /dev/null "$base$u")
  done
  curl -s --no-progress-meter --parallel --parallel-immediate --parallel-max 100 --max-time 20 \
    -w '%{http_code} %header{x-cache-status} %{url_effective}\n' "${args[@]}" >>"$out" 2>/dev/null || true
}

count() { # count FILE REGEX: lines matching
  grep -cE "$2" "$1" || true
}

# --- start the tier ----------------------------------------------------------
note "binary: $SHARECARD_BIN ($("$BIN" --version))"
note "nginx: $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'), curl: $(curl --version | head -n1 | cut -d' ' -f2)"
free_port
a_port=$FREE_PORT
free_port
start_instance A "$a_port" "$FREE_PORT"
free_port
b_port=$FREE_PORT
free_port
start_instance B "$b_port" "$FREE_PORT"
wait_ready A
wait_ready B
note "instances ready: A on 127.0.0.1:${SC_PORT[A]} (pid ${SC_PID[A]}), B on 127.0.0.1:${SC_PORT[B]} (pid ${SC_PID[B]})"
for name in A B; do
  [[ $(renders $name) == 0 ]] || die "instance $name counted its start-up self-test as a render"
done

# The Dockerfile's HEALTHCHECK, as written there, against instance A: exit 0
# when ready, non-zero when nothing listens.
hc_cmd=$(sed -n 's/^ *CMD \[\(.*\)\]$/\1/p' "$DEPLOY_DIR/Dockerfile" | grep -F warm || true)
hc_file=$(sed -n "s/.*printf '\([^']*\)' > \/out\/healthcheck.paths.*/\1/p" "$DEPLOY_DIR/Dockerfile")
[[ -n $hc_cmd && -n $hc_file ]] || die "cannot find the HEALTHCHECK command in deploy/Dockerfile"
printf '%b' "$hc_file" >"$WORK/healthcheck.paths"
healthcheck() { # healthcheck PORT: runs the HEALTHCHECK command against PORT
  local part args=()
  IFS=',' read -ra parts <<<"$hc_cmd"
  for part in "${parts[@]}"; do
    part=${part# }
    part=${part#\"}
    part=${part%\"}
    case $part in
      */sharecard) part=$BIN ;;
      http://127.0.0.1:8080) part="http://127.0.0.1:$1" ;;
      /etc/sharecard/healthcheck.paths) part=$WORK/healthcheck.paths ;;
    esac
    args+=("$part")
  done
  timeout 10 "${args[@]}" >/dev/null 2>&1
}
free_port
hc_dead=0
healthcheck "$FREE_PORT" || hc_dead=$?
hc_live=0
healthcheck "${SC_PORT[A]}" || hc_live=$?
echo "  Dockerfile HEALTHCHECK ($(printf '%b' "$hc_file" | tr -d '\n')): exit $hc_live against a ready instance, $hc_dead against a closed port"
check "the Dockerfile's HEALTHCHECK passes on a ready instance" test "$hc_live" -eq 0
check "and fails when nothing listens" test "$hc_dead" -ne 0

free_port
TIER_PORT=$FREE_PORT
TIER="http://127.0.0.1:$TIER_PORT"
mkdir -p "$WORK/nginx"
sed -e "s|\${SHARECARD_UPSTREAM_1}|127.0.0.1:${SC_PORT[A]}|g" \
  -e "s|\${SHARECARD_UPSTREAM_2}|127.0.0.1:${SC_PORT[B]}|g" \
  -e "s|\${SHARECARD_TIER_LISTEN}|127.0.0.1:$TIER_PORT|g" \
  -e "s|\${SHARECARD_CACHE_DIR}|$WORK/nginx/cache|g" \
  "$DEPLOY_DIR/nginx/sharecard.conf" >"$WORK/nginx/sharecard.conf"
if grep -nF "\${SHARECARD_" "$WORK/nginx/sharecard.conf"; then
  die "placeholders left in the nginx config"
fi
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 2;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 1024; }
http {
    log_format tier '\$status \$upstream_cache_status "\$upstream_addr" "\$upstream_status" \$request_method \$request_uri';
    access_log $WORK/nginx/access.log tier;
    client_body_temp_path $WORK/nginx/tmp/body;
    proxy_temp_path $WORK/nginx/tmp/proxy;
    fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
    scgi_temp_path $WORK/nginx/tmp/scgi;
    include $WORK/nginx/sharecard.conf;
}
EOF
mkdir -p "$WORK/nginx/tmp"
chmod 755 "$WORK/nginx" "$WORK/nginx/tmp"
NGX=("$NGINX" -p "$WORK/nginx" -e "$WORK/nginx/error.log" -c "$WORK/nginx/nginx.conf")
"${NGX[@]}" -t -q || die "nginx -t rejected the config"
"${NGX[@]}" -g 'daemon off;' &
NGINX_PID=$!
for i in $(seq 1 50); do
  curl -s --max-time 1 -o /dev/null "$TIER/healthz" && break
  kill -0 "$NGINX_PID" 2>/dev/null || die "nginx exited at start-up"
  sleep 0.1
done
note "nginx on $TIER (pid $NGINX_PID), cache in a fresh temp dir"

# Prometheus scrapes both instances' metrics ports from now on; (e) asks it
# what it saw.
free_port
PROM="http://127.0.0.1:$FREE_PORT"
cat >"$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: sharecard
    static_configs:
      - targets: ["127.0.0.1:${SC_MPORT[A]}", "127.0.0.1:${SC_MPORT[B]}"]
EOF
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prometheus-data" \
  --web.listen-address="127.0.0.1:$FREE_PORT" --log.level=warn >"$WORK/prometheus.log" 2>&1 &
PROM_PID=$!
note "prometheus $(prometheus --version 2>&1 | head -n1 | awk '{print $3}') on $PROM, scraping 127.0.0.1:${SC_MPORT[A]} and 127.0.0.1:${SC_MPORT[B]} every second"

# --- (a) one render per card -------------------------------------------------
echo
note "(a) $N_CARDS distinct cards x $REPEATS requests, all at once, through the tier"
urls=()
for _ in $(seq 1 "$REPEATS"); do
  for n in $(seq 1 "$N_CARDS"); do
    urls+=("$(card Tier "$n")")
  done
done
fetch "$WORK/a.txt" "${urls[@]}"
a_total=$(wc -l <"$WORK/a.txt")
a_ok=$(count "$WORK/a.txt" '^200 ')
a_hit=$(count "$WORK/a.txt" '^200 HIT ')
a_miss=$(count "$WORK/a.txt" '^200 MISS ')
ra=$(renders A)
rb=$(renders B)
echo "  $a_ok/$a_total answered 200 ($a_miss MISS, $a_hit HIT); renders: A $ra + B $rb = $((ra + rb)) for $N_CARDS distinct cards"
check "every request answered 200" test "$a_ok" -eq $((N_CARDS * REPEATS))
check "each distinct card rendered exactly once across the tier" test $((ra + rb)) -eq "$N_CARDS"
check "the hash spreads cards over both instances" test "$ra" -gt 0 -a "$rb" -gt 0

# Again, one by one: all from nginx's cache.
: >"$WORK/a2.txt"
for n in $(seq 1 "$N_CARDS"); do fetch "$WORK/a2.txt" "$(card Tier "$n")"; done
a2_hit=$(count "$WORK/a2.txt" '^200 HIT ')
check "a later request for each card is a cache HIT ($a2_hit/$N_CARDS)" test "$a2_hit" -eq "$N_CARDS"
check "and renders nothing" test $(($(renders A) + $(renders B))) -eq "$N_CARDS"

# HEAD through the tier: converted to GET upstream, so it renders and fills
# the cache once; GET and HEAD then share the entry.
head_url="$TIER$(card Head 1)"
head_hdr=$(curl -sS --max-time 20 -I "$head_url")
get_hdr=$(curl -sS --max-time 20 -o /dev/null -D - "$head_url")
hdr() { printf '%s\n' "$1" | tr -d '\r' | awk -v h="$2" 'tolower($1) == h":" { print $2 }'; }
echo "  HEAD: $(printf '%s' "$head_hdr" | head -n1 | tr -d '\r'), X-Cache-Status $(hdr "$head_hdr" x-cache-status), Content-Length $(hdr "$head_hdr" content-length); GET after it: X-Cache-Status $(hdr "$get_hdr" x-cache-status)"
check "HEAD miss answers 200 with the card's Content-Length" \
  test "$(printf '%s' "$head_hdr" | head -n1 | awk '{print $2}')" = 200 -a "$(hdr "$head_hdr" content-length)" = "$(hdr "$get_hdr" content-length)"
check "HEAD miss filled the cache (GET after it is a HIT)" test "$(hdr "$get_hdr" x-cache-status)" = HIT
check "HEAD + GET rendered the card once" test $(($(renders A) + $(renders B))) -eq $((N_CARDS + 1))
etag=$(hdr "$get_hdr" etag)
inm=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$head_url")
check "If-None-Match with the ETag gets 304 from the tier ($inm)" test "$inm" = 304
# The same card as WebP: an entry of its own beside the PNG's (the cache
# key is the request URI, extension and all), one render, its own ETag.
webp_url="${head_url/.png?/.webp?}"
w1=$(curl -sS --max-time 20 -o /dev/null -D - "$webp_url")
w2=$(curl -sS --max-time 20 -o /dev/null -D - "$webp_url")
p2=$(curl -sS --max-time 20 -o /dev/null -D - "$head_url")
echo "  WebP of that card: X-Cache-Status $(hdr "$w1" x-cache-status) then $(hdr "$w2" x-cache-status), $(hdr "$w1" content-type), ETag $(hdr "$w1" etag); the PNG after it: $(hdr "$p2" x-cache-status), $(hdr "$p2" content-type), ETag $(hdr "$p2" etag)"
check "the WebP URL is a cache entry of its own (MISS, then HIT)" \
  test "$(hdr "$w1" x-cache-status)" = MISS -a "$(hdr "$w2" x-cache-status)" = HIT
check "served as image/webp under an ETag other than the PNG's" \
  test "$(hdr "$w1" content-type)" = image/webp -a "$(hdr "$w1" etag)" != "$(hdr "$p2" etag)"
check "the PNG's entry is untouched (HIT, image/png)" \
  test "$(hdr "$p2" x-cache-status)" = HIT -a "$(hdr "$p2" content-type)" = image/png
check "the WebP rendered once" test $(($(renders A) + $(renders B))) -eq $((N_CARDS + 2))
# A card declared in data (templates/tasks.json), list parameters and all,
# as a crawler meets it: its share page through the tier, then the image
# its og:image names, twice: one entry and one render like any card, then
# a HIT, a 1200x630 PNG.
tasks_share='/share/tasks?role=Tier%20Tasks&tasks.0.name=Triage&tasks.0.risk=72&tasks.1.name=Weekly%20Reports&tasks.1.risk=40&tasks.2.name=Scheduling&tasks.2.risk=15'
tasks_og=$(curl -sS --max-time 20 "$TIER$tasks_share" | python3 -c 'import html, re, sys
m = re.search(r"<meta property=\"og:image\" content=\"([^\"]*)\"", sys.stdin.read())
u = html.unescape(m.group(1)) if m else ""
print(u[u.find("/cards/"):] if "/cards/" in u else "")')
renders_before=$(($(renders A) + $(renders B)))
t1=$(curl -sS --max-time 20 -o "$WORK/tasks.png" -D - "$TIER$tasks_og")
t2=$(curl -sS --max-time 20 -o /dev/null -D - "$TIER$tasks_og")
tasks_renders=$(($(renders A) + $(renders B) - renders_before))
tasks_size=$(python3 -c 'import struct,sys; d=open(sys.argv[1],"rb").read(24); print("%dx%d" % struct.unpack(">II", d[16:24]) if d[:8] == b"\x89PNG\r\n\x1a\n" else "not a PNG")' "$WORK/tasks.png")
echo "  tasks card: the share page's og:image ${tasks_og:-none}: $(hdr "$t1" x-cache-status) then $(hdr "$t2" x-cache-status), $(hdr "$t1" content-type), $tasks_size, $tasks_renders render(s)"
check "a declared card's share page names its PNG in og:image" test "${tasks_og%%\?*}" = /cards/tasks.png
check "that card is a cache entry like any (MISS, then HIT)" \
  test "$(hdr "$t1" x-cache-status)" = MISS -a "$(hdr "$t2" x-cache-status)" = HIT
check "served as a 1200x630 PNG ($tasks_size), rendered once ($tasks_renders)" \
  test "$(hdr "$t1" content-type)" = image/png -a "$tasks_size" = 1200x630 -a "$tasks_renders" -eq 1
# A URL with `exp` is never stored by the tier: nginx could serve a stored
# copy stale (proxy_cache_use_stale) after the service would refuse it.
exp_at=$(($(date +%s) + 3600))
exp_url="$TIER$(card Expiring 1)&exp=$exp_at"
exp_status=""
for _ in 1 2; do
  exp_status+="$(curl -s --max-time 20 -o /dev/null -D - "$exp_url" | tr -d '\r' | awk 'tolower($1) == "x-cache-status:" { print $2 }') "
done
encoded_url="$TIER$(card Expiring 2)&%65xp=$exp_at"
exp_status+="$(curl -s --max-time 20 -o /dev/null -D - "$encoded_url" | tr -d '\r' | awk 'tolower($1) == "x-cache-status:" { print $2 }')"
echo "  a URL with exp, twice, then with %65xp: X-Cache-Status $exp_status"
check "URLs with exp bypass the tier's cache ($exp_status)" test "$exp_status" = "BYPASS BYPASS BYPASS"
RENDERED_A=$(($(renders A) + $(renders B)))

# --- (b) SIGKILL one instance --------------------------------------------------
echo
n_new=10
note "(b) SIGKILL instance A (pid ${SC_PID[A]}), then the $N_CARDS cached cards and $n_new new ones"
kill -KILL "${SC_PID[A]}"
wait "${SC_PID[A]}" 2>/dev/null || true
unset 'SC_PID[A]'
rb_before=$(renders B)
urls=()
for n in $(seq 1 "$N_CARDS"); do urls+=("$(card Tier "$n")"); done
for n in $(seq 1 $n_new); do urls+=("$(card Killed "$n")"); done
fetch "$WORK/b.txt" "${urls[@]}"
b_total=$(wc -l <"$WORK/b.txt")
b_ok=$(count "$WORK/b.txt" '^200 ')
b_cached_hit=$(count "$WORK/b.txt" '^200 HIT .*role=Tier')
b_new_ok=$(count "$WORK/b.txt" '^200 MISS .*role=Killed')
rb_after=$(renders B)
failed_over=$(grep -cE "\"127.0.0.1:${SC_PORT[A]}, 127.0.0.1:${SC_PORT[B]}\".*role=Killed" "$WORK/nginx/access.log" || true)
echo "  $b_ok/$b_total answered 200: $b_cached_hit/$N_CARDS cached cards from nginx's cache, $b_new_ok/$n_new new cards rendered by B ($failed_over of them tried dead A first and were retried on B)"
echo "  renders on B: $rb_before -> $rb_after"
check "every card answered 200 with one instance killed" test "$b_ok" -eq "$b_total" -a "$b_total" -eq $((N_CARDS + n_new))
check "cached cards served from the tier's cache" test "$b_cached_hit" -eq "$N_CARDS"
check "each new card rendered once, by the survivor" test $((rb_after - rb_before)) -eq "$n_new"

# --- (c) SIGTERM under load ------------------------------------------------------
echo
note "(c) restart A, then SIGTERM B under ${LOAD_SECONDS}s of load"
start_instance A "${SC_PORT[A]}" "${SC_MPORT[A]}"
wait_ready A
# nginx retries A once its fail_timeout (10s) is over; wait until it does,
# so that both instances carry traffic when B is stopped.
back=""
for i in $(seq 1 60); do
  fetch "$WORK/c-probe.txt" "$(card Probe "$i")"
  if [[ $(renders A) -gt 0 ]]; then
    back=$i
    break
  fi
  sleep 0.25
done
[[ -n $back ]] || die "nginx did not send traffic to the restarted instance A"
note "A is back in the ring (after $back probe requests); load: 4 clients, cached and new cards (1x and 2x)"

load_worker() { # load_worker ID END: batches of 8 requests until END
  local w=$1 end=$2 i=0 k urls
  while (($(date +%s) < end)); do
    urls=()
    for k in 1 2 3 4 5; do urls+=("$(card Tier $(((i * 5 + k + w) % N_CARDS + 1)))"); done
    urls+=("$(card "Load$w" "$i" 1)" "$(card "Load$w" "$i" 2)" "$(card Killed $(((i + w) % n_new + 1)))")
    local args=()
    for k in "${urls[@]}"; do args+=(-o /dev/null "$TIER$k"); done
    curl -s --no-progress-meter --max-time 20 \
      -w '%{http_code} %header{x-cache-status} %{url_effective}\n' \
      "${args[@]}" >>"$WORK/c-load.$w" 2>/dev/null || true
    i=$((i + 1))
  done
}
start_load() { # start_load SECONDS: 4 load workers into c-load.*, pids in load_pids
  local end=$(($(date +%s) + $1)) w
  load_pids=()
  for w in 1 2 3 4; do
    : >"$WORK/c-load.$w"
    load_worker "$w" "$end" &
    load_pids+=($!)
  done
}
start_load "$LOAD_SECONDS"
sleep $((LOAD_SECONDS / 3))
before_term=$(cat "$WORK"/c-load.* | wc -l)
# Make sure B has work in flight when the signal comes: 3x cards (a few
# hundred ms each) requested from B directly, where no proxy retries for us.
n_drain=4
drain_urls=()
for k in $(seq 1 $n_drain); do drain_urls+=("$(card Drain "$k" 3)"); done
fetch_from "http://127.0.0.1:${SC_PORT[B]}" "$WORK/c-direct.txt" "${drain_urls[@]}" &
load_pids+=($!)
sleep 0.2
b_pid=${SC_PID[B]}
term_at=$(date +%s%N)
kill -TERM "$b_pid"
b_rc=0
wait "$b_pid" || b_rc=$?
exit_ms=$((($(date +%s%N) - term_at) / 1000000))
unset 'SC_PID[B]'
# Drain time from B's own log: "SIGTERM received" to "all connections closed".
log_ms() { # log_ms PATTERN: milliseconds of day of the first matching line of B's log
  # awk reads to the end: a reader that stops at the first match (grep -m1)
  # makes the writer before it die of SIGPIPE, which pipefail and set -e
  # turn into the script's exit status 141 once the log is long enough.
  sed 's/\x1b\[[0-9;]*m//g' "$WORK/sc-B.log" | awk -v pat="$1" '
    !found && $0 ~ pat && substr($0, 11, 1) == "T" {
      found = 1
      print ((substr($0, 12, 2) * 60 + substr($0, 15, 2)) * 60 + substr($0, 18, 2)) * 1000 + substr($0, 21, 3)
    }'
}
drained=$(sed 's/\x1b\[[0-9;]*m//g' "$WORK/sc-B.log" | grep -cE 'all connections closed' || true)
t_term=$(log_ms 'SIGTERM received')
t_done=$(log_ms 'all connections closed|grace period over')
drain_ms=$((${t_done:-0} - ${t_term:-0}))
note "B drained in ${drain_ms} ms and exited with status $b_rc, ${exit_ms} ms after SIGTERM"
for pid in "${load_pids[@]}"; do wait "$pid" || true; done
d_ok=$(count "$WORK/c-direct.txt" '^200 ')
d_after=$(sed 's/\x1b\[[0-9;]*m//g' "$WORK/sc-B.log" | sed -n '/SIGTERM received/,$p' | grep -c 'status=200' || true)
cat "$WORK"/c-load.* >"$WORK/c.txt"
c_total=$(wc -l <"$WORK/c.txt")
c_ok=$(count "$WORK/c.txt" '^200 ')
c_bad=$((c_total - c_ok))
after_term=$((c_total - before_term))
retried=$(grep -cE "\"127.0.0.1:[0-9]+, 127.0.0.1:[0-9]+\"" "$WORK/nginx/access.log" || true)
echo "  $c_total requests ($before_term before SIGTERM, $after_term after), $c_ok answered 200, $c_bad did not"
if ((c_bad > 0)); then
  echo "  non-200 answers (status cache-status path):"
  grep -vE '^200 ' "$WORK/c.txt" | sort | uniq -c | sort -rn | head -n 10
fi
echo "  B answered $d_after requests after SIGTERM; of the $n_drain 3x cards asked of B directly, $d_ok answered 200"
echo "  nginx retried $retried requests on the other instance in the whole run (access log)"
grep -E 'draining|connections closed|grace period' "$WORK/sc-B.log" | sed 's/\x1b\[[0-9;]*m//g; s/^/  B: /' || true
check "no request failed while B drained" test "$c_bad" -eq 0
check "load kept flowing after SIGTERM ($after_term requests)" test "$after_term" -gt 20
check "B exited 0 after SIGTERM" test "$b_rc" -eq 0
check "B finished the requests in flight at SIGTERM ($d_ok/$n_drain direct ones 200, $d_after answered while draining)" test "$d_ok" -eq "$n_drain" -a "$d_after" -gt 0
check "B closed every connection itself, within its 10s grace ($drain_ms ms)" test "$drained" -eq 1 -a "$drain_ms" -lt 10000
# After the drain the process waits for its recompression thread (lowest CPU
# priority) to be scheduled to exit: seconds on a busy machine.
check "B's process was gone within 20s ($exit_ms ms)" test "$exit_ms" -lt 20000

# --- (d) what a crawler and the edge end up with -------------------------------------
echo
# The ML Engineer card, new to the tier, exactly as the share page names it
# for a crawler. A (restarted in (c)) is the one instance up: nginx skips B.
ml_path='/cards/report.png?role=ML%20Engineer&tagline=AI%20helps%20build%20AI.%20But%20someone%20has%20to%20build%20the%20AI%20that%20builds%20AI.&risk=48&threat=Model%20Fine-Tuning&threat_risk=65'
d_limit=90
d_final_max=$((45 * 1024))
note "(d) the ML Engineer card through the tier as Twitterbot/1.0, every 0.5s until nginx serves its final bytes (<= $d_final_max B) or ${d_limit}s pass"
: >"$WORK/d.txt"
d_start=$(date +%s%N)
d_final_after=""
d_first_cc=""
while (($(date +%s%N) - d_start < d_limit * 1000000000)); do
  curl -sS --max-time 20 -A 'Twitterbot/1.0' -D "$WORK/d.hdr" -o "$WORK/d.body" "$TIER$ml_path" || true
  d_status=$(head -n1 "$WORK/d.hdr" | awk '{print $2}')
  d_etag=$(hdr "$(cat "$WORK/d.hdr")" etag)
  d_cc=$(tr -d '\r' <"$WORK/d.hdr" | awk 'tolower($1) == "cache-control:" { $1 = ""; sub(/^ /, ""); print }')
  d_cs=$(hdr "$(cat "$WORK/d.hdr")" x-cache-status)
  d_size=$(stat -c %s "$WORK/d.body")
  d_sha=$(sha256sum "$WORK/d.body" | cut -c1-16)
  d_ms=$((($(date +%s%N) - d_start) / 1000000))
  [[ -n $d_first_cc ]] || d_first_cc=$d_cc
  echo "$d_ms $d_status $d_etag $d_sha $d_size ${d_cs:--} $d_cc" >>"$WORK/d.txt"
  if [[ $d_status == 200 && $d_size -le $d_final_max && $d_etag != *-fast\" ]]; then
    d_final_after=$d_ms
    break
  fi
  sleep 0.5
done
# Each strong ETag, and the bodies it named (one line per distinct pair).
awk '{ print $3, $4, $5 }' "$WORK/d.txt" | sort -u >"$WORK/d-pairs.txt"
d_tags=$(awk '{ print $1 }' "$WORK/d-pairs.txt" | sort -u | wc -l)
d_pairs=$(wc -l <"$WORK/d-pairs.txt")
d_first=$(head -n1 "$WORK/d.txt")
echo "  first response: $(echo "$d_first" | awk '{ print $2, $5 " B", "ETag " $3, "X-Cache-Status " $6 }'), Cache-Control: $d_first_cc"
echo "  $(wc -l <"$WORK/d.txt") requests; ETag -> body (sha256 prefix, bytes):"
sed 's/^/    /' "$WORK/d-pairs.txt"
if [[ -n $d_final_after ]]; then
  echo "  nginx served the final $(tail -n1 "$WORK/d.txt" | awk '{ print $5 }') B after ${d_final_after} ms ($(tail -n1 "$WORK/d.txt" | awk '{ print $6 }')), target <= ${d_limit}000 ms"
else
  echo "  nginx still served $(tail -n1 "$WORK/d.txt" | awk '{ print $5 }') B after ${d_limit}s"
fi
d_max_age=$(echo "$d_first_cc" | sed -nE 's/.*max-age=([0-9]+).*/\1/p')
check "the first response is a draft with a short lifetime (max-age=${d_max_age:-none} <= 60)" test "${d_max_age:-99999}" -le 60
check "nginx serves the final bytes (<= $d_final_max B) within ${d_limit}s" test -n "$d_final_after"
check "no strong ETag named two bodies ($d_pairs ETag/body pairs, $d_tags ETags)" test "$d_pairs" -eq "$d_tags"
d_after=$(curl -sS --max-time 10 -A 'Twitterbot/1.0' -o "$WORK/d.body2" -w '%{http_code} %header{x-cache-status} %{size_download}' "$TIER$ml_path")
echo "  the next request: $d_after"
check "then the final bytes are a HIT at the edge" test "${d_after% *}" = "200 HIT" -a "${d_after##* }" -le "$d_final_max"

# --- (e) operations: request ids, access log, Prometheus ---------------------------
echo
note "(e) what an operator sees: the access log behind nginx, and Prometheus"
e_hdr=$(curl -sS --max-time 10 -A 'Slackbot-LinkExpanding 1.0' -o /dev/null -D - "$TIER$(card Ops 1)" | tr -d '\r')
e_id=$(hdr "$e_hdr" x-request-id)
sleep 0.3 # info lines are batched for at most 100 ms
e_line=$(sed 's/\x1b\[[0-9;]*m//g' "$WORK"/sc-*.log | grep -F "request_id=\"$e_id\"" | grep -F 'role=Ops' | tail -n1 || true)
echo "  nginx answered with X-Request-Id: ${e_id:-(none)}; the instance logged:"
echo "    ${e_line:-(no line with that id)}"
check "nginx sends a request id, and the instance logs it" test -n "$e_id" -a -n "$e_line"
names_client() { # names_client LINE: client, user agent and a body size
  [[ $1 == *'client="127.0.0.1"'* && $1 == *'user_agent="Slackbot-LinkExpanding 1.0"'* && $1 =~ bytes=[1-9][0-9]* ]]
}
check "the log line names the client, its user agent and the bytes sent" names_client "$e_line"
e_public=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:${SC_PORT[A]}/metrics")
check "the public port does not serve /metrics ($e_public)" test "$e_public" = 404

prom_json() { # prom_json PATH PYTHON-EXPR: evaluates EXPR on the JSON at PATH (as `j`)
  curl -fsS --max-time 5 "$PROM$1" 2>/dev/null | python3 -c "import json, sys; j = json.load(sys.stdin); print($2)" 2>/dev/null || true
}
a_target="instance%3D%22127.0.0.1%3A${SC_MPORT[A]}%22"
e_up=""
for _ in $(seq 1 100); do
  e_up=$(prom_json "/api/v1/query?query=up%7B$a_target%7D" "j['data']['result'][0]['value'][1]")
  [[ $e_up == 1 ]] && break
  sleep 0.2
done
e_renders=$(prom_json "/api/v1/query?query=sharecard_renders_total%7B$a_target%7D" "j['data']['result'][0]['value'][1]")
e_type=$(prom_json "/api/v1/metadata" "','.join(sorted(set(m['type'] for k in ('sharecard_renders', 'sharecard_renders_total') for m in j['data'].get(k, []))))")
e_build=$(prom_json "/api/v1/query?query=sharecard_build_info" "j['data']['result'][0]['metric'].get('version', '')")
e_rss=$(prom_json "/api/v1/query?query=process_resident_memory_bytes%7B$a_target%7D" "int(float(j['data']['result'][0]['value'][1]) / 1048576)")
echo "  Prometheus: up{A} = ${e_up:-?}, sharecard_renders_total{A} = ${e_renders:-?}, its metadata type: ${e_type:-?}, build_info version ${e_build:-?}, A's resident memory ${e_rss:-?} MiB"
check "Prometheus scrapes the instance (up == 1)" test "$e_up" = 1
check "the render counter is queryable through PromQL" test "${e_renders:-0}" -gt 0
check "Prometheus's metadata API reports it as a counter" test "$e_type" = counter
check "sharecard_build_info and the process metrics arrive too" test -n "$e_build" -a "${e_rss:-0}" -gt 0

# --- (f) SIGKILL mid-recompression, restart with --warm ------------------------
echo
note "(f) B back, load through the tier, SIGKILL B while it recompresses, restart it with --warm"
metric_of() { # metric_of NAME METRIC: an unlabelled metric of a running instance
  curl -fsS --max-time 5 "http://127.0.0.1:${SC_MPORT[$1]}/metrics" | awk -v m="$2" '$1 == m { print int($2) }'
}
start_instance B "${SC_PORT[B]}" "${SC_MPORT[B]}"
wait_ready B
for i in $(seq 1 60); do
  fetch "$WORK/f-probe.txt" "$(card ProbeF "$i")"
  [[ $(renders B) -gt 0 ]] && break
  sleep 0.25
done
start_load 6
# New 3x cards straight to B: each is recompressed in the background after
# it is served, a few hundred ms apiece, so B is killed with that work
# queued or under way.
f_urls=()
for k in $(seq 1 6); do f_urls+=("$(card Recompress "$k" 3)"); done
fetch_from "http://127.0.0.1:${SC_PORT[B]}" "$WORK/f-direct.txt" "${f_urls[@]}"
f_rendered=$(renders B)
f_recompressed=$(metric_of B sharecard_recompressed_total)
kill -KILL "${SC_PID[B]}"
wait "${SC_PID[B]}" 2>/dev/null || true
note "B killed after $f_rendered renders, $f_recompressed recompressed"
# The warm list: the (a) cards, as JSON lines.
: >"$WORK/warm.jsonl"
for n in $(seq 1 "$N_CARDS"); do
  printf '{"role": "Tier %d", "risk": %d, "threat": {"task": "Task %d", "risk": %d}}\n' \
    "$n" $((n % 101)) "$n" $(((n * 7 + 13) % 101)) >>"$WORK/warm.jsonl"
done
restart_at=$(date +%s%N)
"$BIN" serve --listen "127.0.0.1:${SC_PORT[B]}" --metrics-listen "127.0.0.1:${SC_MPORT[B]}" \
  --trusted-proxy 127.0.0.1 --cache-mb 64 --render-queue 64 --warm "$WORK/warm.jsonl" \
  --shutdown-grace 10s --log-format text >>"$WORK/sc-B.log" 2>&1 &
SC_PID[B]=$!
f_ready_ms=""
for i in $(seq 1 500); do
  if curl -fsS --max-time 1 -o /dev/null "http://127.0.0.1:${SC_PORT[B]}/readyz" 2>/dev/null; then
    f_ready_ms=$((($(date +%s%N) - restart_at) / 1000000))
    break
  fi
  sleep 0.01
done
for pid in "${load_pids[@]}"; do wait "$pid" || true; done
cat "$WORK"/c-load.* >"$WORK/f.txt"
f_total=$(wc -l <"$WORK/f.txt")
f_ok=$(count "$WORK/f.txt" '^200 ')
f_entries=0
for i in $(seq 1 100); do
  f_entries=$(metric_of B sharecard_cache_entries)
  ((${f_entries:-0} >= N_CARDS)) && break
  sleep 0.2
done
echo "  B killed with $((f_rendered - f_recompressed)) of its cards not yet recompressed; tier load meanwhile: $f_ok/$f_total answered 200"
echo "  B restarted: ready ${f_ready_ms:-(never)} ms after exec; --warm put ${f_entries:-0} cards in its cache ($N_CARDS listed)"
check "B was killed mid-recompression" test "$f_recompressed" -lt "$f_rendered"
check "the tier kept serving through the kill ($f_ok/$f_total)" test "$f_ok" -eq "$f_total" -a "$f_total" -gt 0
check "the restarted instance is ready within a second" test -n "$f_ready_ms" -a "${f_ready_ms:-9999}" -lt 1000
check "--warm refills its cache" test "${f_entries:-0}" -ge "$N_CARDS"

# --- summary -------------------------------------------------------------------
echo
echo "summary:"
echo "  (a) $N_CARDS cards x $REPEATS requests: $a_ok/$a_total 200, $RENDERED_A renders incl. the HEAD card, its WebP, the tasks card and two expiring cards (expected $((N_CARDS + 5)))"
echo "  (b) A killed: $b_ok/$b_total 200 ($N_CARDS cached, $n_new new; $failed_over failed over)"
echo "  (c) B terminated under load: $c_ok/$c_total 200, drained in ${drain_ms} ms, exit status $b_rc after ${exit_ms} ms"
echo "  (d) Twitterbot's new card: final bytes at the edge after ${d_final_after:-(never)} ms; $d_pairs ETag/body pairs for $d_tags ETags"
echo "  (e) request id ${e_id:-(none)} in the instance's log; Prometheus: up ${e_up:-?}, renders ${e_renders:-?}, type ${e_type:-?}"
echo "  (f) B killed mid-recompression: $f_ok/$f_total 200 meanwhile; restarted ready in ${f_ready_ms:-?} ms, $f_entries cards warmed"
echo "  took $(($(date +%s) - T0))s"
if ((${#FAILED[@]})); then
  echo "FAIL: ${#FAILED[@]} check(s) failed: ${FAILED[*]}"
  exit 1
fi
echo "PASS: tier test"
