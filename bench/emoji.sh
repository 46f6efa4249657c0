#!/usr/bin/env bash
# What bundled emoji cost (issue #21's budgets), each figure next to its
# target: binary size, exec → /readyz, resident memory once ready and
# after 200 emoji cards, and a cold emoji card against a cold plain one.
#
#   bash bench/emoji.sh                    # builds the release binary
#   SKIP_BUILD=1 bash bench/emoji.sh       # uses target/release/sharecard
#   BASELINE=/path/to/old/sharecard bash bench/emoji.sh   # adds "before"
#
# Cold cards: 200 distinct cards of each kind, one at a time on one
# connection (curl's time_total), alternating blocks of 50 so that drift
# hits both kinds alike; medians.
source "$(dirname "$0")/lib.sh"
build_release

cards() { # KIND OFFSET N: N distinct card paths
  "$PY" - "$1" "$2" "$3" <<'EOF'
import sys, urllib.parse as u
kind, off, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
emoji = ["🚀", "👩\u200d💻", "👍🏽", "🇧🇷", "1\ufe0f\u20e3", "❤\ufe0f", "🤖", "📈"]
for i in range(off, off + n):
    if kind == "emoji":
        role = f"Community Manager {emoji[i % 8]} {i}"
        tag = f"Vibes-based engagement {emoji[(i + 3) % 8]} meets automated scheduling {emoji[(i + 5) % 8]}"
    else:
        role = f"Community Manager {i}"
        tag = "Vibes-based engagement meets automated scheduling"
    q = u.urlencode({"role": role, "tagline": tag, "risk": 61, "threat": "Post Scheduling", "threat_risk": 93}, quote_via=u.quote)
    print(f"/cards/report.png?{q}")
EOF
}

median_ms() { # BASE FILE: median time_total of the paths in FILE, ms
  local base=$1 file=$2
  while read -r p; do
    curl -fsS -o /dev/null -w '%{time_total}\n' "$base$p"
  done <"$file" | sort -n | awk '{ a[NR] = $1 } END { printf "%.2f", a[int((NR + 1) / 2)] * 1000 }'
}

measure() { # NAME BIN: prints the figures of one binary
  local name=$1 bin=$2
  local size ready rss0 anon0 rss1 emoji plain
  size=$(stat -c %s "$bin")
  ready=$("$PY" "$CLIENT" ready "$bin" -n 9 | "$PY" -c 'import json,sys; print(round(json.load(sys.stdin)["median_ms"], 1))')
  BIN=$bin start_server "$name"
  rss0=$(proc_kb "$SERVER_PID" VmRSS)
  anon0=$(proc_kb "$SERVER_PID" RssAnon)
  cards emoji 0 200 >"$WORK/emoji.txt"
  cards plain 0 200 >"$WORK/plain.txt"
  local e=() p=() i
  for i in 0 50 100 150; do
    sed -n "$((i + 1)),$((i + 50))p" "$WORK/emoji.txt" >"$WORK/e.txt"
    sed -n "$((i + 1)),$((i + 50))p" "$WORK/plain.txt" >"$WORK/p.txt"
    # The binary before emoji answers 422 to emoji cards.
    if [[ $name == now ]]; then
      e+=("$(median_ms "$BASE" "$WORK/e.txt")")
    else
      e+=(0)
    fi
    p+=("$(median_ms "$BASE" "$WORK/p.txt")")
  done
  rss1=$(proc_kb "$SERVER_PID" VmRSS)
  stop_server
  emoji=$(printf '%s\n' "${e[@]}" | sort -n | awk '{ a[NR] = $1 } END { print (a[2] + a[3]) / 2 }')
  plain=$(printf '%s\n' "${p[@]}" | sort -n | awk '{ a[NR] = $1 } END { print (a[2] + a[3]) / 2 }')
  echo "$name $size $ready $rss0 $anon0 $rss1 $emoji $plain"
}

# Not in a subshell: the servers it starts must stay in this shell's PIDS,
# which the EXIT trap stops if a step fails.
measure now "$BIN" >"$WORK/now.txt"
read -r _ size ready rss0 anon0 rss1 emoji plain <"$WORK/now.txt"
if [[ -n "${BASELINE:-}" ]]; then
  cp "$BASELINE" "$WORK/baseline"
  measure before "$WORK/baseline" >"$WORK/before.txt"
  read -r _ bsize bready brss0 banon0 _ _ bplain <"$WORK/before.txt"
  printf '%-34s %12s %12s %s\n' figure before now target
  printf '%-34s %12s %12s %s\n' "binary, bytes" "$bsize" "$size" "+ ≤ 2 MiB: $(verdict "$size - $bsize <= 2 * 1048576")"
  printf '%-34s %12s %12s %s\n' "exec → /readyz, ms (median of 9)" "$bready" "$ready" "≤ 50: $(verdict "$ready <= 50")"
  printf '%-34s %12s %12s %s\n' "RSS when ready, KiB" "$brss0" "$rss0" "+ ≤ 4096: $(verdict "$rss0 - $brss0 <= 4096")"
  printf '%-34s %12s %12s %s\n' "  of which anonymous, KiB" "$banon0" "$anon0" "(file-backed pages are reclaimable)"
  printf '%-34s %12s %12s %s\n' "cold plain card, ms (median)" "$bplain" "$plain" "≤ 1.1× before: $(verdict "$plain <= 1.1 * $bplain")"
else
  printf '%-34s %12s %s\n' figure now target
  printf '%-34s %12s %s\n' "binary, bytes" "$size" "(BASELINE= for the difference)"
  printf '%-34s %12s %s\n' "exec → /readyz, ms (median of 9)" "$ready" "≤ 50: $(verdict "$ready <= 50")"
  printf '%-34s %12s %s\n' "RSS when ready, KiB" "$rss0" ""
  printf '%-34s %12s %s\n' "  of which anonymous, KiB" "$anon0" ""
fi
printf '%-34s %12s %s\n' "RSS after 400 cold cards, KiB" "$rss1" "(cache included)"
printf '%-34s %12s %s\n' "cold emoji card, ms (median)" "$emoji" "≤ 2× plain ($plain): $(verdict "$emoji <= 2 * $plain")"
