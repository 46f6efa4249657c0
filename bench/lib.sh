# Shared by bench/loadtest.sh and bench/soak.sh (sourced, not run).
#
# Provides: ROOT, BENCH_DIR, WORK (temp dir, removed on exit), BIN (a copy
# of the release binary, so a rebuild by someone else mid-run changes
# nothing), start_server/stop_server, metric, wrk_rps, note, and an EXIT
# trap that stops every process these scripts started (by pid).

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
export BENCH_DIR
WORK=$(mktemp -d /tmp/sharecard-bench.XXXXXX)
PIDS=()
PY=${PYTHON:-python3}
CLIENT="$BENCH_DIR/client.py"
T0=$(date +%s)

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
    fi
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [[ -n "${KEEP_WORK:-}" ]]; then
    echo "work dir kept: $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

note() { printf '[%4ds] %s\n' "$(($(date +%s) - T0))" "$*" >&2; }

need_tools() {
  local missing=()
  local tool
  for tool in "$@"; do
    case $tool in
      wrk) command -v wrk >/dev/null || missing+=(wrk) ;;
      nginx) command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx-light) ;;
      curl) command -v curl >/dev/null || missing+=(curl) ;;
      python3) command -v "$PY" >/dev/null || missing+=(python3) ;;
      node) command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm) ;;
    esac
  done
  if ((${#missing[@]})); then
    note "installing ${missing[*]} (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# takumi_bench N [FIRST]: takumi's times for N cards from card FIRST (bench/takumi.mjs),
# installed from the npm registry into the work dir; fails (after saying
# why) when it cannot be installed.
TAKUMI_VERSION=2.16.3
takumi_bench() {
  if [[ ! -d $WORK/takumi/node_modules/@takumi-rs/core ]]; then
    mkdir -p "$WORK/takumi"
    echo '{"private": true}' >"$WORK/takumi/package.json"
    (cd "$WORK/takumi" && npm install --silent --no-audit --no-fund "@takumi-rs/core@$TAKUMI_VERSION" >&2) || {
      note "  could not install @takumi-rs/core@$TAKUMI_VERSION from npm"
      return 1
    }
  fi
  node "$BENCH_DIR/takumi.mjs" "$WORK/takumi" "$ROOT/fonts" "$1" "${2:-0}"
}

build_release() {
  if [[ -n "${SHARECARD_BIN:-}" ]]; then
    # A binary given (.ci/run passes the debug build it already has).
    note "SHARECARD_BIN: using $SHARECARD_BIN"
    BIN="$WORK/sharecard"
    cp "$SHARECARD_BIN" "$BIN"
    FLOOR_BIN=""
    return 0
  fi
  if [[ -n "${SKIP_BUILD:-}" ]]; then
    note "SKIP_BUILD: using target/release/sharecard as built $(date -r "$ROOT/target/release/sharecard" +%T)"
  else
    note "building the release binary"
    (cd "$ROOT" && cargo build --release --bin sharecard --example hyper_floor --quiet)
  fi
  BIN="$WORK/sharecard"
  cp "$ROOT/target/release/sharecard" "$BIN"
  FLOOR_BIN=""
  if [[ -x $ROOT/target/release/examples/hyper_floor ]]; then
    FLOOR_BIN="$WORK/hyper_floor"
    cp "$ROOT/target/release/examples/hyper_floor" "$FLOOR_BIN"
  fi
}

free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_server NAME [sharecard serve flags…]: sets SERVER_PID, BASE, LOG.
# The log is JSON (client.py reads server-side times from it) unless
# LOG_FORMAT says otherwise: text is the default a deployment runs with.
start_server() {
  local name=$1
  shift
  local port
  port=$(free_port)
  LOG="$WORK/$name.log"
  "$BIN" serve --listen "127.0.0.1:$port" --shutdown-grace 1s --log-format "${LOG_FORMAT:-json}" "$@" >"$LOG" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  BASE="http://127.0.0.1:$port"
  local i
  for i in $(seq 1 300); do
    if curl -fsS -o /dev/null "$BASE/readyz" 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "server $name exited during start-up; log:" >&2
      cat "$LOG" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "server $name not ready after 30 s; log:" >&2
  tail -20 "$LOG" >&2
  exit 1
}

stop_server() {
  local pid=${1:-$SERVER_PID}
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# metric BASE NAME: one unlabelled metric value from /metrics.
metric() {
  curl -fsS "$1/metrics" | awk -v n="$2" '$1 == n { print $2; found=1 } END { if (!found) print "nan" }'
}

# proc_kb PID FIELD: VmRSS / VmHWM in kB.
proc_kb() {
  awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

# cpu_ticks PID…: user + system CPU time of the processes, in clock ticks.
cpu_ticks() {
  local p t=0
  for p in "$@"; do
    t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
  done
  echo "$t"
}

# cpu_split PID…: user and system CPU time of the processes, in clock
# ticks, as "USER SYS".
cpu_split() {
  local p u=0 s=0 a b
  for p in "$@"; do
    read -r a b < <(awk '{ print $14, $15 }' "/proc/$p/stat")
    u=$((u + a))
    s=$((s + b))
  done
  echo "$u $s"
}

# us_per_request "U0 S0" "U1 S1" REQUESTS TICKS_PER_S: CPU µs per request
# between two cpu_split readings, as "user U + system S us".
us_per_request() {
  local a=($1) b=($2)
  echo "user $(calc "round((${b[0]} - ${a[0]}) * 1e6 / $4 / $3, 1)") + system $(calc "round((${b[1]} - ${a[1]}) * 1e6 / $4 / $3, 1)") us"
}

# wrk_requests FILE: completed requests from wrk output.
wrk_requests() {
  awk '/ requests in / { print $1 }' "$1"
}

# wrk_rps FILE: Requests/sec from wrk output.
wrk_rps() {
  awk '/^Requests\/sec:/ { print $2 }' "$1"
}

# Python one-liner helpers on JSON from client.py.
jget() { "$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); v=eval(sys.argv[2], {}, {"d": d}); print(v)' "$1" "$2"; }
calc() { "$PY" -c "print($*)"; }
# verdict EXPR: pass/FAIL for a Python expression.
verdict() { if "$PY" -c "import sys; sys.exit(0 if ($1) else 1)"; then echo pass; else echo FAIL; fi; }

machine() {
  local cpu
  cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  echo "machine: $(nproc) CPUs ($cpu), $(awk '/MemTotal/ { printf "%.1f GiB", $2/1048576 }' /proc/meminfo) RAM, load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
}
