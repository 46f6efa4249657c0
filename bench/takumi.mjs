// Reference renderer for bench/loadtest.sh: takumi (the fastest renderer in
// the comparison) drawing a card like the report card, 1200×630
// PNG, with the same Inter fonts. Prints one JSON object: median and p99
// render time in ms over N distinct cards, one at a time, in process (no
// HTTP, so the comparison favours takumi).
//
//   node bench/takumi.mjs MODULE_DIR FONTS_DIR N [FIRST]
//
// Cards are numbered from FIRST (default 0), so that blocks of a run draw
// different cards.
// MODULE_DIR holds node_modules/@takumi-rs/core (loadtest.sh installs it).
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const [moduleDir, fontsDir, n = "100", first = "0"] = process.argv.slice(2);
const require = createRequire(join(moduleDir, "package.json"));
const { Renderer } = require("@takumi-rs/core");

const fonts = ["Inter-Regular.otf", "Inter-Bold.otf"].map((f) => readFileSync(join(fontsDir, f)));
const renderer = new Renderer();
for (const f of fonts) await renderer.registerFont(f);

const text = (text, style) => ({ type: "text", text, style });
const box = (style, children) => ({ type: "container", style, children });

function card(i) {
  const risk = 10 + (i % 80);
  return box(
    {
      width: "100%", height: "100%", display: "flex", flexDirection: "column",
      padding: "64px 72px", fontFamily: "Inter", color: "#f8fafc",
      backgroundImage: "linear-gradient(135deg, #0b1220 0%, #111a2e 55%, #1a1530 100%)",
    },
    [
      box({ display: "flex", flexDirection: "row", flexGrow: 1 }, [
        box({ display: "flex", flexDirection: "column", width: 640 }, [
          text("AI Automation Risk Assessment", { fontSize: 22, color: "#94a3b8" }),
          text(`ML Engineer ${i}`, { fontSize: 64, fontWeight: 700, marginTop: 24 }),
          text("AI helps build AI. But someone has to build the AI that builds AI.", {
            fontSize: 28, color: "#cbd5e1", marginTop: 20, lineHeight: 1.35,
          }),
        ]),
        box({
          width: 320, height: 320, marginLeft: "auto", borderRadius: 160,
          border: "24px solid #fbbf24", display: "flex", flexDirection: "column",
          alignItems: "center", justifyContent: "center",
        }, [
          text(`${risk}%`, { fontSize: 96, fontWeight: 700, color: "#fbbf24" }),
          text("elevated risk", { fontSize: 24, color: "#cbd5e1" }),
        ]),
      ]),
      box({ height: 1, backgroundColor: "#1e293b", marginTop: 24, marginBottom: 32 }, []),
      box({ display: "flex", flexDirection: "row", justifyContent: "space-between" }, [
        text("Primary threat: Model Fine-Tuning — 65% automated", { fontSize: 24, color: "#94a3b8" }),
        text("willaireplace.me", { fontSize: 24, fontWeight: 700, color: "#fbbf24" }),
      ]),
    ],
  );
}

// Warm up (font loading, first-use allocations), as sharecard's self-test does.
for (let i = 0; i < 5; i++) await renderer.render(card(-1 - i), { width: 1200, height: 630, format: "png" });
const times = [];
let bytes = 0;
for (let i = 0; i < Number(n); i++) {
  const t = process.hrtime.bigint();
  const png = await renderer.render(card(Number(first) + i), { width: 1200, height: 630, format: "png" });
  times.push(Number(process.hrtime.bigint() - t) / 1e6);
  bytes = png.length;
}
const samples_ms = [...times];
times.sort((a, b) => a - b);
const at = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
console.log(JSON.stringify({ n: times.length, median_ms: at(0.5), p99_ms: at(0.99), bytes, samples_ms }));
