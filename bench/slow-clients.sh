#!/usr/bin/env bash
# Slow-reader attacks: can a few clients that request cards and never read
# the answers lock everybody else out? Runs bench/slow_clients.py (HTTP/1.1
# pipelining into a tiny receive buffer; h2c with INITIAL_WINDOW_SIZE 0)
# and prints, per attack, how long until a fresh client gets /healthz,
# against TARGET_S.
#
#   SHARECARD_BIN=target/debug/sharecard bash bench/slow-clients.sh
#   SHARECARD_BIN=... SERVE_FLAGS='--max-connections 8 --header-timeout 5s' bash bench/slow-clients.sh
#   BASE=http://127.0.0.1:8080 bash bench/slow-clients.sh   # a server already running
#
# With SHARECARD_BIN the server is started on a free loopback port
# (unsigned: SHARECARD_SIGNING_KEYS/_KEY_FILE unset) with SERVE_FLAGS, and
# stopped on exit. Environment: CONNS (8), LIMIT_S (60), TARGET_S (30 s:
# the default --send-timeout of 15 s, plus the renders that fill the attack
# sockets' buffers before they are held up), PYTHON (python3). Exit
# status: 0 if every attack passed, else non-zero. The proof for the
# defaults and for a full connection table is both of:
#
#   SHARECARD_BIN=target/release/sharecard bash bench/slow-clients.sh
#   SHARECARD_BIN=target/release/sharecard SERVE_FLAGS='--max-connections 8' bash bench/slow-clients.sh

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=${PYTHON:-python3}
LIMIT_S=${LIMIT_S:-60}
export CONNS=${CONNS:-8} LIMIT_S TARGET_S=${TARGET_S:-30}
SERVER_PID=""
WORK=""

cleanup() {
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [[ -n $WORK ]]; then
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! "$PY" -c 'import h2' 2>/dev/null; then
  "$PY" -m pip install --quiet h2
fi

if [[ -n ${BASE:-} ]]; then
  echo "server: already running at $BASE (its flags unknown here)"
elif [[ -n ${SHARECARD_BIN:-} ]]; then
  read -r -a flags <<<"${SERVE_FLAGS:-}"
  port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  BASE="http://127.0.0.1:$port"
  WORK=$(mktemp -d /tmp/sharecard-slow.XXXXXX)
  cmd=("$SHARECARD_BIN" serve --listen "127.0.0.1:$port" "${flags[@]}")
  env -u SHARECARD_SIGNING_KEYS -u SHARECARD_SIGNING_KEY_FILE "${cmd[@]}" >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  echo "server: ${cmd[*]}"
  echo "server flags: ${flags[*]:-(defaults)}"
  ready=""
  for _ in $(seq 1 120); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "server exited during start-up; log:" >&2
      cat "$WORK/server.log" >&2
      exit 1
    fi
    if [[ $(curl -s -m 2 -o /dev/null -w '%{http_code}' "$BASE/readyz" || true) == 200 ]]; then
      ready=1
      break
    fi
    sleep 0.5
  done
  if [[ -z $ready ]]; then
    echo "server not ready (/readyz) after 60 s; log tail:" >&2
    tail -20 "$WORK/server.log" >&2
    exit 1
  fi
else
  echo "set SHARECARD_BIN (a sharecard binary to start) or BASE (a running server)" >&2
  exit 2
fi

echo "attacks: CONNS=$CONNS LIMIT_S=$LIMIT_S TARGET_S=$TARGET_S"
# Bounded: two attacks, each at most a recovery wait, set-up, LIMIT_S and a drain.
timeout --kill-after=5 "$((4 * LIMIT_S + 120))" "$PY" "$BENCH_DIR/slow_clients.py" "$BASE"
