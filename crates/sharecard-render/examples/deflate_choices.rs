//! The figures behind the first encoding's choices (`src/encode/fast.rs`):
//! for the ML Engineer report card, the bytes and single-thread time of
//! each zlib level and row filter over the whole card, and over only the
//! rows its layer draws on when the untouched rows are background chunks
//! compressed once, for several chunk heights.
//!
//! `cargo run --release -p sharecard-render --example deflate_choices`
//! (a few seconds). Times are the best of 20 runs.

use std::time::Instant;

use flate2::{Compress, Compression, FlushCompress};
use resvg::tiny_skia;
use sharecard_render::card::query::Params;
use sharecard_render::card::{CardRequest, LevelBands, TemplateName};
use sharecard_render::render::{Renderer, Sources, rasterize};
use sharecard_render::template::Layer;

const QUERY: &str = "role=ML%20Engineer&tagline=AI%20helps%20build%20AI.%20But%20someone%20has%20to%20build%20the%20AI%20that%20builds%20AI.&risk=48&threat=Model%20Fine-Tuning&threat_risk=65";

fn deflate(data: &[u8], level: u32) -> usize {
    let mut c = Compress::new(Compression::new(level), false);
    let mut out = Vec::with_capacity(data.len() + 1024);
    c.compress_vec(data, &mut out, FlushCompress::Sync)
        .expect("deflate");
    assert_eq!(c.total_in() as usize, data.len());
    out.len()
}

/// Rows with their filter byte: Sub, or none.
fn filtered(rows: &[u8], stride: usize, sub: bool) -> Vec<u8> {
    let mut v = Vec::with_capacity(rows.len() + rows.len() / stride);
    for r in rows.chunks(stride) {
        v.push(u8::from(sub));
        if sub {
            v.extend_from_slice(&r[..4]);
            v.extend(r[4..].iter().zip(r).map(|(x, left)| x.wrapping_sub(*left)));
        } else {
            v.extend_from_slice(r);
        }
    }
    v
}

fn best_of(f: impl Fn() -> usize) -> (usize, f64) {
    let mut best = f64::MAX;
    let mut bytes = 0;
    for _ in 0..20 {
        let t = Instant::now();
        bytes = f();
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
    }
    (bytes, best)
}

fn main() {
    let params = Params::parse(Some(QUERY)).expect("query parses");
    let req = CardRequest::from_params(
        TemplateName::parse("report").expect("template"),
        &sharecard_render::template::bundled_schema("report").expect("bundled"),
        &params,
        &LevelBands::default(),
    )
    .expect("card");
    let renderer = Renderer::load(Sources {
        brand: "willaireplace.me",
        ..Default::default()
    })
    .expect("renderer");
    let card: tiny_skia::Pixmap = renderer.pixmap(&req).expect("card");
    let layer = renderer
        .templates()
        .render_layer(&req, renderer.brand(), Layer::Background)
        .expect("background layer");
    let background = rasterize(&renderer.tree(&layer.svg).expect("tree"), 1).expect("raster");
    let (card, background) = (card.data(), background.data());
    let stride = 1200 * 4;
    let height = card.len() / stride;

    println!("whole card ({height} rows), one stream:");
    for sub in [false, true] {
        for level in [1, 2, 3, 6] {
            let data = filtered(card, stride, sub);
            let (bytes, ms) = best_of(|| deflate(&data, level));
            let filter = if sub { "Sub " } else { "none" };
            println!("  {filter} level {level}: {bytes:>7} B  {ms:5.2} ms");
        }
    }
    println!("drawn rows fresh (Sub), untouched chunks kept (none, level 9):");
    for chunk in [8, 16, 32, 64] {
        let (mut kept, mut kept_bytes, mut drawn) = (0, 0, Vec::new());
        for top in (0..height).step_by(chunk) {
            let rows = top * stride..(top + chunk).min(height) * stride;
            if card[rows.clone()] == background[rows.clone()] {
                kept += 1;
                kept_bytes += deflate(&filtered(&background[rows], stride, false), 9);
            } else {
                drawn.extend_from_slice(&card[rows]);
            }
        }
        let data = filtered(&drawn, stride, true);
        for level in [1, 2, 3] {
            let (bytes, ms) = best_of(|| deflate(&data, level));
            println!(
                "  chunks of {chunk:>2}: {kept:>2} kept ({kept_bytes:>5} B) + {:>3} rows at level {level}: {bytes:>6} B {ms:5.2} ms = {:>6} B",
                drawn.len() / stride,
                kept_bytes + bytes
            );
        }
    }
}
