#!/usr/bin/env python3
"""Small HTTP clients for bench/loadtest.sh and bench/soak.sh (stdlib only).

Every subcommand prints one JSON object on stdout.

  latency BASE (--cold OFFSET | --hot) -n N [--samples]
      N requests one at a time on one keep-alive connection; per-request
      wall time from sending the request to reading the last body byte.
      --cold: cards OFFSET .. OFFSET+N-1 (each new); --hot: the ML card.
      --samples: every time too (samples_ms). --scale S: the cards at
      scale S (their URLs end in &scale=S). --format webp: the same
      cards' .webp URLs. --template tasks|cost: --cold asks for those
      cards (tasks_path, cost_path) instead of report cards.
  ready BIN -n N [--args "SERVE FLAGS"]
      Starts `BIN serve` N times on a free port and times each from exec to
      the first 200 from /readyz (polled every 0.5 ms), then stops it.
  merge FILE
      Median and p99 over the samples_ms of every JSON line in FILE (blocks
      of one measurement, from latency --samples or bench/takumi.mjs),
      statuses summed.
  fill BASE --offset O -n N [--concurrency C] [--deadline S]
      Requests cards O .. O+N-1 with C keep-alive connections, stopping
      early at the deadline; "end" is one past the last card requested.
  stampede BASE PATH -n N
      N connections, opened first, then N requests for PATH released at
      once through a barrier; reports statuses and distinct body hashes.
  metric BASE NAME...
      Values of Prometheus metrics (no labels) from /metrics.
  logstats LOG [--from-line L]
      Card requests in a JSON server log (--log-format json): counts by
      status and cache outcome, server-side ms percentiles of the 200s.
"""

import argparse
import hashlib
import http.client
import json
import math
import os
import re
import shlex
import sys
import threading
import time
from urllib.parse import urlsplit

TAGLINE = (
    "AI%20helps%20build%20AI.%20But%20someone%20has%20to%20build%20the%20AI"
    "%20that%20builds%20AI."
)
ML_CARD = (
    "/cards/report.png?role=ML%20Engineer&tagline=" + TAGLINE
    + "&risk=48&threat=Model%20Fine-Tuning&threat_risk=65"
)


# The shapes of the cards people make (the first-hour report's mix): a role
# that wraps to two lines, a four-line tagline, emoji, Arabic, and cards
# with and without a tagline and threat. (role, tagline, threat), encoded.
SHAPES = [
    ('Senior%20Machine%20Learning%20Engineer',
     'AI%20helps%20build%20AI.%20But%20someone%20has%20to%20build%20the%20AI%20that%20builds%20AI.',
     'Model%20Fine-Tuning'),  # Senior Machine Learning Engineer
    ('Registered%20Nurse',
     'Charting%2C%20scheduling%20and%20prior%20authorisations%20get%20automated%20first%3B%20bedside%20care%2C%20judgement%20and%20the%20patient%20in%20front%20of%20you%20do%20not%2C%20and%20the%20handover%20still%20needs%20someone%20who%20was%20there.',
     'Clinical%20Documentation'),  # Registered Nurse
    ('Community%20Manager%20%F0%9F%9A%80',
     'Posts%20write%20themselves%20%F0%9F%A4%96%20but%20a%20community%20still%20needs%20a%20person%20%F0%9F%91%A9%E2%80%8D%F0%9F%92%BB%20who%20answers.',
     'Content%20Scheduling'),  # Community Manager 🚀
    ('%D9%85%D9%87%D9%86%D8%AF%D8%B3%20%D8%AA%D8%B9%D9%84%D9%85%20%D8%A7%D9%84%D8%A2%D9%84%D8%A9',
     '%D8%A7%D9%84%D8%B0%D9%83%D8%A7%D8%A1%20%D8%A7%D9%84%D8%A7%D8%B5%D8%B7%D9%86%D8%A7%D8%B9%D9%8A%20%D9%8A%D8%B3%D8%A7%D8%B9%D8%AF%20%D9%81%D9%8A%20%D8%A8%D9%86%D8%A7%D8%A1%20%D8%A7%D9%84%D8%B0%D9%83%D8%A7%D8%A1%20%D8%A7%D9%84%D8%A7%D8%B5%D8%B7%D9%86%D8%A7%D8%B9%D9%8A%D8%8C%20%D9%84%D9%83%D9%86%20%D8%A3%D8%AD%D8%AF%D9%8B%D8%A7%20%D9%85%D8%A7%20%D9%8A%D8%AC%D8%A8%20%D8%A3%D9%86%20%D9%8A%D8%A8%D9%86%D9%8A%D9%87.',
     None),  # مهندس تعلم الآلة
    ('Data%20Entry%20Clerk',
     None,
     None),  # Data Entry Clerk
]


def card_path(n: int) -> str:
    """Card n (n = 0, 1, 2, ...): a distinct report card of shape n % 5,
    numbered in its role (n // 5). Same as card_path() in cards.lua."""
    role, tagline, threat = SHAPES[n % 5]
    path = f"/cards/report.png?role={role}%20{n // 5}"
    if tagline:
        path += f"&tagline={tagline}"
    path += f"&risk={n * 37 % 101}"
    if threat:
        path += f"&threat={threat}&threat_risk={n * 53 % 101}"
    return path


TASKS = ["Data%20Preprocessing%20Pipelines", "ML%20Pipeline%20Code",
         "Model%20Serving%20%26%20Deployment", "Model%20Fine-Tuning",
         "Model%20Evaluation%20%26%20Testing", "Research%20Paper%20Implementation"]


def tasks_path(n: int) -> str:
    """Same as tasks_path() in cards.lua: a role of every shape in turn and
    3 to 6 of the seed page's tasks, each with its own percentage."""
    path = f"/cards/tasks.png?role={SHAPES[n % 5][0]}%20{n // 5}"
    for i in range(3 + n % 4):
        path += f"&tasks.{i}.name={TASKS[i]}&tasks.{i}.risk={(n * 37 + i * 11) % 101}"
    return path


def cost_path(n: int) -> str:
    """Same as cost_path() in cards.lua."""
    return (f"/cards/cost.png?role={SHAPES[n % 5][0]}%20{n // 5}&region=USA"
            f"&salary={60000 + n * 137 % 200000}&entry_salary={30000 + n * 71 % 90000}")


def mixed_path(n: int) -> str:
    """Same as mixed_path() in cards.lua: every template x scale x theme,
    each round of 30 a card_path() card (of every shape in turn) or a
    tasks_path() / cost_path() one, with WEBP=1 every other pair of rounds
    as WebP."""
    template = ("report", "square", "story", "tasks", "cost")[n % 5]
    scale = n // 5 % 3 + 1
    theme = ("dark", "light")[n // 15 % 2]
    r = n // 30
    if template == "tasks":
        base = tasks_path(r)
    elif template == "cost":
        base = cost_path(r)
    else:
        base = card_path(r).replace("/cards/report.png", f"/cards/{template}.png", 1)
    if os.environ.get("WEBP") == "1" and n // 60 % 2 == 1:
        base = base.replace(f"/cards/{template}.png", f"/cards/{template}.webp", 1)
    return f"{base}&scale={scale}&theme={theme}"


def path_of(n: int) -> str:
    """card_path, or mixed_path when MIX=1 (as cards.lua)."""
    return mixed_path(n) if os.environ.get("MIX") == "1" else card_path(n)


def percentile(sorted_values, p):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def connect(base):
    u = urlsplit(base)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=30)


def fetch(conn, path):
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    return r.status, body


def cmd_latency(a):
    conn = connect(a.base)
    cold = {"report": card_path, "tasks": tasks_path, "cost": cost_path}[a.template]
    paths = [ML_CARD] * a.n if a.hot else [cold(a.cold + i) for i in range(a.n)]
    if a.scale != 1:
        paths = [f"{p}&scale={a.scale}" for p in paths]
    if a.format != "png":
        paths = [p.replace(".png?", f".{a.format}?", 1) for p in paths]
    if a.hot:
        fetch(conn, paths[0])  # make sure it is cached and the connection is up
    else:
        fetch(conn, "/healthz")
    times, statuses, sizes = [], {}, []
    for p in paths:
        t0 = time.perf_counter()
        status, body = fetch(conn, p)
        times.append((time.perf_counter() - t0) * 1000)
        statuses[status] = statuses.get(status, 0) + 1
        sizes.append(len(body))
    s = sorted(times)
    out = {
        "n": len(s),
        "median_ms": percentile(s, 50),
        "p99_ms": percentile(s, 99),
        "max_ms": s[-1],
        "min_ms": s[0],
        "statuses": statuses,
        "median_bytes": sorted(sizes)[len(sizes) // 2],
    }
    if a.samples:
        out["samples_ms"] = times
    print(json.dumps(out))


def cmd_fill(a):
    lock = threading.Lock()
    state = {"next": a.offset, "statuses": {}, "errors": 0}
    stop_at = a.offset + a.n
    deadline = time.monotonic() + a.deadline if a.deadline else None

    def worker():
        conn = connect(a.base)
        while True:
            with lock:
                if state["next"] >= stop_at or (deadline and time.monotonic() > deadline):
                    return
                n = state["next"]
                state["next"] += 1
            try:
                status, _ = fetch(conn, path_of(n))
            except Exception:  # noqa: BLE001 - counted and reported
                with lock:
                    state["errors"] += 1
                conn.close()
                conn = connect(a.base)
                continue
            with lock:
                state["statuses"][status] = state["statuses"].get(status, 0) + 1

    t0 = time.monotonic()
    workers = [threading.Thread(target=worker) for _ in range(a.concurrency)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.monotonic() - t0
    ok = state["statuses"].get(200, 0)
    print(json.dumps({
        "end": state["next"],
        "ok": ok,
        "statuses": state["statuses"],
        "errors": state["errors"],
        "elapsed_s": elapsed,
        "per_s": ok / elapsed if elapsed else 0,
    }))


def cmd_stampede(a):
    conns = [connect(a.base) for _ in range(a.n)]
    for c in conns:
        c.connect()
    barrier = threading.Barrier(a.n)
    results = [None] * a.n

    def worker(i):
        barrier.wait()
        try:
            status, body = fetch(conns[i], a.path)
            results[i] = (status, hashlib.sha256(body).hexdigest(), len(body))
        except Exception as e:  # noqa: BLE001 - reported
            results[i] = ("error: " + type(e).__name__, "", 0)

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(a.n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = {}
    for s, _, _ in results:
        statuses[str(s)] = statuses.get(str(s), 0) + 1
    print(json.dumps({
        "statuses": statuses,
        "distinct_bodies": len({h for s, h, _ in results if s == 200}),
        "bytes": sorted({n for _, _, n in results}),
        "elapsed_ms": (time.monotonic() - t0) * 1000,
    }))


def scrape(base):
    conn = connect(base)
    _, body = fetch(conn, "/metrics")
    return body.decode()


def cmd_metric(a):
    text = scrape(a.base)
    out = {}
    for name in a.names:
        m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
        out[name] = float(m.group(1)) if m else None
    print(json.dumps(out))


def cmd_logstats(a):
    by_status, by_cache, ms_200, ms_hit, ms_miss = {}, {}, [], [], []
    with open(a.log, encoding="utf-8", errors="replace") as f:
        for i, line in enumerate(f):
            if i < a.from_line or not line.startswith("{"):
                continue
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if e.get("message") != "request" or not str(e.get("path", "")).startswith("/cards/"):
                continue
            status = int(e["status"])
            cache = e.get("cache", "-")
            ms = float(e["ms"])
            by_status[status] = by_status.get(status, 0) + 1
            by_cache[cache] = by_cache.get(cache, 0) + 1
            if status == 200:
                ms_200.append(ms)
                (ms_hit if cache == "hit" else ms_miss).append(ms)
    ms_200.sort()
    ms_hit.sort()
    ms_miss.sort()
    print(json.dumps({
        "by_status": by_status,
        "by_cache": by_cache,
        "served_p50_ms": percentile(ms_200, 50),
        "served_p99_ms": percentile(ms_200, 99),
        "served_max_ms": ms_200[-1] if ms_200 else None,
        "hit_p99_ms": percentile(ms_hit, 99),
        "rendered_p50_ms": percentile(ms_miss, 50),
        "rendered_p99_ms": percentile(ms_miss, 99),
    }))


def cmd_merge(a):
    samples, statuses = [], {}
    with open(a.file) as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                samples += d["samples_ms"]
                for k, v in d.get("statuses", {}).items():
                    statuses[k] = statuses.get(k, 0) + v
    s = sorted(samples)
    print(json.dumps({
        "n": len(s),
        "median_ms": percentile(s, 50),
        "p99_ms": percentile(s, 99),
        "statuses": statuses,
    }))


def cmd_ready(a):
    import socket
    import subprocess
    times = []
    for _ in range(a.n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [a.bin, "serve", "--listen", f"127.0.0.1:{port}",
             *shlex.split(a.args)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                    status, _ = fetch(conn, "/readyz")
                    conn.close()
                    if status == 200:
                        break
                except OSError:
                    pass
                if proc.poll() is not None:
                    sys.exit(f"{a.bin} exited with {proc.returncode} before it was ready")
                if time.perf_counter() - t0 > 30:
                    sys.exit("not ready after 30 s")
                time.sleep(0.0005)
            times.append((time.perf_counter() - t0) * 1000)
        finally:
            proc.terminate()
            proc.wait()
    s = sorted(times)
    print(json.dumps({"n": len(s), "median_ms": percentile(s, 50), "max_ms": s[-1],
                      "samples_ms": times}))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("latency")
    s.add_argument("base")
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--cold", type=int, metavar="OFFSET")
    g.add_argument("--hot", action="store_true")
    s.add_argument("-n", type=int, default=200)
    s.add_argument("--samples", action="store_true", help="also print every time (samples_ms)")
    s.add_argument("--scale", type=int, default=1)
    s.add_argument("--format", choices=["png", "webp"], default="png")
    s.add_argument("--template", choices=["report", "tasks", "cost"], default="report",
                   help="--cold: which card kind (card_path, tasks_path, cost_path)")
    s = sub.add_parser("ready")
    s.add_argument("bin")
    s.add_argument("-n", type=int, default=10)
    s.add_argument("--args", default="", help="more `serve` flags, one string")
    s = sub.add_parser("fill")
    s.add_argument("base")
    s.add_argument("--offset", type=int, default=0)
    s.add_argument("-n", type=int, required=True)
    s.add_argument("--concurrency", type=int, default=8)
    s.add_argument("--deadline", type=float, default=0)
    s = sub.add_parser("stampede")
    s.add_argument("base")
    s.add_argument("path")
    s.add_argument("-n", type=int, default=100)
    s = sub.add_parser("metric")
    s.add_argument("base")
    s.add_argument("names", nargs="+")
    s = sub.add_parser("merge")
    s.add_argument("file")
    s = sub.add_parser("logstats")
    s.add_argument("log")
    s.add_argument("--from-line", type=int, default=0)
    a = p.parse_args()
    {"latency": cmd_latency, "fill": cmd_fill, "stampede": cmd_stampede,
     "metric": cmd_metric, "logstats": cmd_logstats, "merge": cmd_merge,
     "ready": cmd_ready}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
