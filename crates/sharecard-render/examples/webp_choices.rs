//! The figures behind the WebP encoders' choices (`src/encode/webp.rs`):
//! for the report card (ML Engineer), the square (ML Engineer) and the
//! story (a long role, light) at 1×, the bytes and single-thread time of
//! image-webp's lossless encoder and of libwebp's lossless presets 0–9
//! (`cwebp -z N`), against the card's final PNG and its fast first PNG.
//!
//! `cargo run --release -p sharecard-render --example webp_choices`
//! (about a minute, most of it preset 9). Times are the best of 5 runs.

use std::time::Instant;

use sharecard_render::card::query::Params;
use sharecard_render::card::{CardRequest, LevelBands, TemplateName};
use sharecard_render::render::{Renderer, Sources, recompress};

const TAGLINE: &str = "tagline=AI%20helps%20build%20AI.%20But%20someone%20has%20to%20build%20the%20AI%20that%20builds%20AI.";

/// `WebPConfigLosslessPreset`'s (method, quality) by level.
const PRESETS: [(i32, f32); 10] = [
    (0, 0.0),
    (1, 20.0),
    (2, 25.0),
    (3, 30.0),
    (3, 50.0),
    (4, 50.0),
    (4, 75.0),
    (4, 90.0),
    (5, 90.0),
    (6, 100.0),
];

fn best_of(f: impl Fn() -> usize) -> (usize, f64) {
    let mut best = f64::MAX;
    let mut bytes = 0;
    for _ in 0..5 {
        let t = Instant::now();
        bytes = f();
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
    }
    (bytes, best)
}

fn main() {
    let renderer = Renderer::load(Sources {
        brand: "willaireplace.me",
        ..Sources::default()
    })
    .expect("renderer");
    let cards = [
        (
            "report",
            format!(
                "role=ML%20Engineer&{TAGLINE}&risk=48&threat=Model%20Fine-Tuning&threat_risk=65"
            ),
        ),
        (
            "square",
            format!(
                "role=ML%20Engineer&{TAGLINE}&risk=48&threat=Model%20Fine-Tuning&threat_risk=65"
            ),
        ),
        (
            "story",
            format!(
                "role=Senior%20Principal%20Cloud%20Infrastructure%20Security%20and%20Compliance%20Engineer&{TAGLINE}&risk=48&threat=Model%20Fine-Tuning&threat_risk=65&theme=light"
            ),
        ),
    ];
    for (template, query) in cards {
        let params = Params::parse(Some(&query)).expect("query parses");
        let req = CardRequest::from_params(
            TemplateName::parse(template).expect("template"),
            &sharecard_render::template::bundled_schema(template).expect("bundled"),
            &params,
            &LevelBands::default(),
        )
        .expect("card");
        let (first, render_ms) = {
            let t = Instant::now();
            let png = renderer.render(&req).expect("renders");
            (png, t.elapsed().as_secs_f64() * 1e3)
        };
        let final_png = recompress(&first).expect("recompresses").len();
        let pixels = renderer.pixmap(&req).expect("draws");
        let (w, h) = (pixels.width(), pixels.height());
        // Opaque: premultiplied is straight.
        let rgba = pixels.data();
        println!(
            "{template} {w}×{h}: first PNG {} B (render {render_ms:.1} ms), final PNG {final_png} B",
            first.bytes.len()
        );
        let (bytes, ms) = best_of(|| {
            let mut out = Vec::new();
            image_webp::WebPEncoder::new(&mut out)
                .encode(rgba, w, h, image_webp::ColorType::Rgba8)
                .expect("encodes");
            out.len()
        });
        println!(
            "  image-webp      {bytes:>8} B  {:.3} × final PNG  {ms:7.1} ms",
            bytes as f64 / final_png as f64
        );
        for (level, (method, quality)) in PRESETS.into_iter().enumerate() {
            let (bytes, ms) = best_of(|| {
                let mut config = webp::WebPConfig::new().expect("config");
                config.lossless = 1;
                config.method = method;
                config.quality = quality;
                config.exact = 1;
                webp::Encoder::from_rgba(rgba, w, h)
                    .encode_advanced(&config)
                    .expect("encodes")
                    .len()
            });
            println!(
                "  libwebp -z {level}    {bytes:>8} B  {:.3} × final PNG  {ms:7.1} ms",
                bytes as f64 / final_png as f64
            );
        }
    }
}
