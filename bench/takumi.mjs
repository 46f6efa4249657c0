// Reference renderer for bench/loadtest.sh: takumi (the fastest renderer in
// the comparison) drawing cards like the report cards of the load
// test's mix (card_path(): two-line roles, four-line taglines, emoji,
// Arabic, with and without a threat), 1200×630 PNG, with the same fonts. Prints one JSON object: median and p99
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

// Every face sharecard draws the mix with: Latin, Arabic and colour emoji.
const fonts = [
  "Inter-Regular.otf", "Inter-Bold.otf", "NotoSansArabic-Regular.ttf", "NotoSansArabic-Bold.ttf",
  "TwemojiMozilla.ttf",
].map((f) => readFileSync(join(fontsDir, f)));
const renderer = new Renderer();
for (const f of fonts) await renderer.registerFont(f);

const text = (text, style) => ({ type: "text", text, style });
const box = (style, children) => ({ type: "container", style, children });

// The cards of card_path() in bench/client.py and bench/cards.lua: shape
// i % 5, numbered in its role. [role, tagline, threat]
const SHAPES = [
  ["Senior Machine Learning Engineer", "AI helps build AI. But someone has to build the AI that builds AI.", "Model Fine-Tuning"],
  ["Registered Nurse", "Charting, scheduling and prior authorisations get automated first; bedside care, judgement and the patient in front of you do not, and the handover still needs someone who was there.", "Clinical Documentation"],
  ["Community Manager 🚀", "Posts write themselves 🤖 but a community still needs a person 👩‍💻 who answers.", "Content Scheduling"],
  ["مهندس تعلم الآلة", "الذكاء الاصطناعي يساعد في بناء الذكاء الاصطناعي، لكن أحدًا ما يجب أن يبنيه.", null],
  ["Data Entry Clerk", null, null],
];
const level = (r) => (r < 30 ? "stable" : r < 75 ? "elevated" : r < 90 ? "high" : "critical");

function card(i) {
  const n = Math.abs(i);
  const [role, tagline, threat] = SHAPES[n % 5];
  const risk = (n * 37) % 101;
  const threatRisk = (n * 53) % 101;
  const family = "Inter, Noto Sans Arabic, Twemoji Mozilla";
  return box(
    {
      width: "100%", height: "100%", display: "flex", flexDirection: "column",
      padding: "64px 72px", fontFamily: family, color: "#f8fafc",
      backgroundImage: "linear-gradient(135deg, #0b1220 0%, #111a2e 55%, #1a1530 100%)",
    },
    [
      box({ display: "flex", flexDirection: "row", flexGrow: 1 }, [
        box({ display: "flex", flexDirection: "column", width: 640 }, [
          text("AI Automation Risk Assessment", { fontSize: 22, color: "#94a3b8" }),
          text(`${role} ${Math.floor(n / 5)}`, { fontSize: 64, fontWeight: 700, marginTop: 24, lineHeight: 1.1 }),
          ...(tagline ? [text(tagline, { fontSize: 28, color: "#cbd5e1", marginTop: 20, lineHeight: 1.35 })] : []),
        ]),
        box({
          width: 320, height: 320, marginLeft: "auto", borderRadius: 160,
          border: "24px solid #fbbf24", display: "flex", flexDirection: "column",
          alignItems: "center", justifyContent: "center",
        }, [
          text(`${risk}%`, { fontSize: 96, fontWeight: 700, color: "#fbbf24" }),
          text(`${level(risk)} risk`, { fontSize: 24, color: "#cbd5e1" }),
        ]),
      ]),
      box({ height: 1, backgroundColor: "#1e293b", marginTop: 24, marginBottom: 32 }, []),
      box({ display: "flex", flexDirection: "row", justifyContent: "space-between" }, [
        text(threat ? `Primary threat: ${threat} — ${threatRisk}% automated` : "", { fontSize: 24, color: "#94a3b8" }),
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
