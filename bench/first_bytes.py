"""First-response bytes and cold latency of every sample card (bench/first-bytes.sh).

Each sample of templates/samples.json, in each template and theme at 1x,
is fetched once from a fresh server (a cold render: the bytes a crawler or
a person downloading it keeps) and its size and time are noted. Prints,
per template, the median and largest first response and the median cold
time, next to the targets of the 1x first response.
"""

import json
import statistics
import sys
import time
import urllib.parse

sys.path.insert(0, __import__("os").path.dirname(__file__))
import client  # noqa: E402

TARGETS = {"report": 60_000, "square": 60_000, "story": 90_000}
# The cards the targets are for (the first-hour report's): ML Engineer, and
# for the story also a long role in light.
NAMED = {
    "report": [("ml-engineer", "dark")],
    "square": [("ml-engineer", "dark")],
    "story": [("ml-engineer", "dark"), ("long-word", "light")],
}


def query(card, theme):
    q = {"role": card["role"], "risk": card["risk"], "theme": theme}
    for k in ("tagline", "level"):
        if card.get(k):
            q[k] = card[k]
    if card.get("threat"):
        q["threat"] = card["threat"]["task"]
        q["threat_risk"] = card["threat"]["risk"]
    return urllib.parse.urlencode(q, quote_via=urllib.parse.quote)


def main():
    base, samples = sys.argv[1], sys.argv[2]
    cards = json.load(open(samples))["cards"]
    conn = client.connect(base)
    failed = False
    for template in ("report", "square", "story"):
        sizes, times, named = [], [], {}
        for card in cards:
            for theme in ("dark", "light"):
                path = f"/cards/{template}.png?{query(card, theme)}"
                t0 = time.perf_counter()
                status, body = client.fetch(conn, path)
                took = time.perf_counter() - t0
                if status != 200:
                    continue  # a stress sample the bundled fonts cannot draw (422)
                sizes.append(len(body))
                times.append(took * 1000)
                if (card["slug"], theme) in NAMED[template]:
                    named[f"{card['slug']} {theme}"] = len(body)
        target = TARGETS[template]
        biggest = max(sizes)
        for name, size in named.items():
            verdict = "pass" if size <= target else "FAIL"
            failed |= verdict == "FAIL"
            print(f"  {template:7} {name:22} {size:>8,} B   target <= {target:,} B   {verdict}")
        print(
            f"  {template:7} {len(sizes)} cards: median {statistics.median(sizes):,.0f} B, "
            f"largest {biggest:,} B ({sum(s > target for s in sizes)} over {target:,}); "
            f"cold median {statistics.median(times):.1f} ms   (info)"
        )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
