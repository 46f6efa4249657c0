//! Per-stage timings of one card, the ML Engineer report card, through the
//! public stage functions of the render pipeline:
//!
//! ```text
//! query → card → fit text → template → SVG → usvg tree → raster → PNG
//! ```
//!
//! plus the card's own layer drawn from glyphs against usvg parsing it, and
//! the whole render (`Renderer::render`, warm background, on one thread and
//! on two), which includes the first encoding. The service's
//! side (the card cache, the memory file) is the root crate's `cache`
//! bench.
//!
//! `cargo bench --features bench --bench pipeline` (about a minute on 2
//! cores); `cargo bench --features bench --bench pipeline -- raster` for
//! one stage. Under
//! `cargo test --benches` each benchmark runs once, as a smoke test.
//!
//! Note that `render/end_to_end` takes the layered path for layered
//! templates (cached background + foreground layer), while `svg`, `tree`
//! and `raster` measure the whole one-pass template, so the stages need not
//! add up to the end-to-end figure.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

use sharecard_render::card::query::Params;
use sharecard_render::card::{CardRequest, LevelBands, TemplateName};
use sharecard_render::render::glyphs::layer_items;
use sharecard_render::render::{Renderer, Sources, encode_png, rasterize};
use sharecard_render::template::Layer;
use sharecard_render::text::{FitSpec, Measurer};

const TEMPLATE: &str = "report";
const QUERY: &str = "role=ML%20Engineer&tagline=AI%20helps%20build%20AI.%20But%20someone%20has%20to%20build%20the%20AI%20that%20builds%20AI.&risk=48&threat=Model%20Fine-Tuning&threat_risk=65";

/// The template's declaration, read once: a request finds it loaded.
fn schema() -> &'static Arc<sharecard_render::card::schema::Schema> {
    static SCHEMA: std::sync::OnceLock<Arc<sharecard_render::card::schema::Schema>> =
        std::sync::OnceLock::new();
    SCHEMA.get_or_init(|| sharecard_render::template::bundled_schema(TEMPLATE).expect("bundled"))
}

fn parse(query: &str) -> CardRequest {
    let params = Params::parse(Some(query)).expect("query parses");
    CardRequest::from_params(
        TemplateName::parse(TEMPLATE).expect("template name"),
        schema(),
        &params,
        &LevelBands::default(),
    )
    .expect("valid card")
}

fn renderer() -> Arc<Renderer> {
    Renderer::load(Sources {
        brand: "willaireplace.me",
        ..Default::default()
    })
    .expect("renderer builds")
}

/// The role box of `templates/report.svg`.
fn role_spec() -> FitSpec {
    FitSpec {
        width: 580.0,
        height: Some(172.0),
        size: 68.0,
        min_size: 40.0,
        max_lines: 3,
        weight: 700,
        line_height: 1.1,
    }
}

/// The tagline box of `templates/report.svg`: it starts 22 px below the
/// fitted role and ends at y = 470.
fn tagline_spec(role_height: f32) -> FitSpec {
    let top = 112.0 + role_height + 22.0;
    FitSpec {
        width: 580.0,
        height: Some(470.0 - top),
        size: 30.0,
        min_size: 22.0,
        max_lines: 4,
        weight: 400,
        line_height: 1.35,
    }
}

fn stages(c: &mut Criterion) {
    let renderer = renderer();
    let req = parse(QUERY);
    // First render draws and keeps the background layer: the benchmarks
    // below measure the steady state.
    renderer.render(&req).expect("renders");

    let mut g = c.benchmark_group("stage");

    g.bench_function("parse_query_to_card", |b| {
        b.iter(|| parse(black_box(QUERY)))
    });

    let measurer = Measurer::new(renderer.shaper());
    let role = req.card.text("role").expect("has a role");
    let tagline = req.card.text("tagline").expect("has a tagline");
    let role_fit = measurer.fit(role, &role_spec());
    let tag_spec = tagline_spec(role_fit.height);
    g.bench_function("fit_text_role_and_tagline", |b| {
        b.iter(|| {
            let r = measurer.fit(black_box(role), &role_spec());
            let t = measurer.fit(black_box(tagline), &tag_spec);
            (r, t)
        })
    });

    g.bench_function("template_to_svg", |b| {
        b.iter(|| renderer.svg(black_box(&req)).expect("svg"))
    });

    let doc = renderer.svg(&req).expect("svg");
    g.bench_function("usvg_parse", |b| {
        b.iter(|| renderer.tree(black_box(&doc.svg)).expect("tree"))
    });

    // The card's own layer as the layered path takes it: text drawn from
    // glyphs (src/render/glyphs.rs), usvg parsing the rest; against usvg parsing
    // all of it.
    let fg = renderer
        .templates()
        .render_layer(&req, renderer.brand(), Layer::Foreground)
        .expect("layer");
    let options = renderer.fonts().usvg_options();
    g.bench_function("card_layer_to_items", |b| {
        b.iter(|| {
            layer_items(
                black_box(&fg.svg),
                renderer.shaper(),
                renderer.outlines(),
                &options,
            )
            .expect("items")
            .expect("independent elements")
        })
    });
    g.bench_function("card_layer_usvg_parse", |b| {
        b.iter(|| renderer.tree(black_box(&fg.svg)).expect("tree"))
    });

    let tree = renderer.tree(&doc.svg).expect("tree");
    let scale = req.scale.get();
    g.bench_function("raster", |b| {
        b.iter(|| rasterize(black_box(&tree), scale).expect("raster"))
    });

    let pixmap = rasterize(&tree, scale).expect("raster");
    // One thread, and two (the row pieces of src/encode/fast.rs), as a render
    // uses when a core is idle.
    for threads in [1, 2] {
        g.bench_function(format!("encode_png/{threads}"), |b| {
            b.iter(|| encode_png(black_box(&pixmap), threads).expect("encode"))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("render");
    g.bench_function("end_to_end", |b| {
        b.iter(|| renderer.render(black_box(&req)).expect("render"))
    });
    // Two threads, as the server renders when a core is idle: each draws
    // a band and compresses the rows it drew, the untouched rows are the
    // background's chunks (src/encode/fast.rs).
    g.bench_function("end_to_end_2_threads", |b| {
        b.iter(|| renderer.render_on(black_box(&req), 2).expect("render"))
    });
    // At 3×, drawn and compressed in strips (src/render/strips.rs): its
    // time against the 1× one is the cost of its 9× pixels.
    let req3 = parse(&format!("{QUERY}&scale=3"));
    g.bench_function("end_to_end_3x_2_threads", |b| {
        b.iter(|| renderer.render_on(black_box(&req3), 2).expect("render"))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = stages
}
criterion_main!(benches);
