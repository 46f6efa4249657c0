//! The service's side of a card, through `RenderPool::get` on a tokio
//! runtime as the server calls it: a cold miss (admission, render on the
//! blocking pool, insert), a hit by card and by remembered request target,
//! and moving a PNG into the memory file hits are sent from. The render
//! itself, stage by stage, is `sharecard-render`'s `pipeline` bench.
//!
//! `cargo bench --features bench --bench cache` (about half a minute on 2 cores). Under
//! `cargo test --benches` each benchmark runs once, as a smoke test.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

use sharecard::cache::{ByteCache, Format, KeyedCard};
use sharecard::clock::{Clock, SystemClock};
use sharecard::config::ServeArgs;
use sharecard::http::target::{TargetTerms, Targets};
use sharecard::pool::{Limits, RenderPool};
use sharecard::telemetry::Metrics;
use sharecard_render::card::query::Params;
use sharecard_render::card::{CardRequest, LevelBands, TemplateName};
use sharecard_render::render::Renderer;

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

fn cache_benches(c: &mut Criterion) {
    let renderer = ServeArgs::for_tests()
        .card
        .load_renderer()
        .expect("renderer builds");
    renderer.render(&parse(QUERY)).expect("renders");
    cache(c, renderer);
}

/// Distinct cards that cost the same to draw as the ML Engineer card: the
/// same text, other risk and threat percentages (101 × 101 of them, then
/// the light theme for as many again).
fn variant(i: usize) -> CardRequest {
    let (risk, threat_risk, theme) = (i % 101, (i / 101) % 101, (i / (101 * 101)) % 2);
    let q = QUERY
        .replace("risk=48", &format!("risk={risk}"))
        .replace("threat_risk=65", &format!("threat_risk={threat_risk}"));
    let q = if theme == 1 { q + "&theme=light" } else { q };
    parse(&q)
}

/// Through `RenderPool::get` on a tokio runtime, as the server calls it:
/// a miss (admission, render on the blocking pool, insert) and a hit.
fn cache(c: &mut Criterion, renderer: Arc<Renderer>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let limits = Limits {
        cache_bytes: 256 * 1024 * 1024,
        ttl: Duration::from_secs(3600),
        render_threads: 1,
        render_queue: 1024,
        recompress: false,
    };
    // As the server does: with recompression off, a rendered card goes
    // into the memory file that hits are sent from.
    sharecard::zerocopy::init(limits.cache_bytes);
    let new_cache = || {
        let _guard = runtime.enter();
        let metrics = Arc::new(Metrics::new());
        let cache = ByteCache::new(limits.cache_bytes, limits.ttl, metrics.clone());
        RenderPool::new(renderer.clone(), cache, &limits, metrics)
    };
    let version = renderer
        .templates()
        .info(TEMPLATE)
        .expect("report")
        .version
        .clone();
    let keyed = |req: CardRequest| KeyedCard::new(req, &version, Format::Png);
    // Warm the light theme's background too, so no sample pays for it.
    renderer.render(&variant(101 * 101)).expect("renders");

    let mut g = c.benchmark_group("cache");
    g.bench_function("cold_miss_end_to_end", |b| {
        b.iter_custom(|iters| {
            // A fresh cache per sample, and a different card per iteration:
            // every get is a miss.
            let cache = new_cache();
            let cards: Vec<KeyedCard> = (0..iters as usize).map(|i| keyed(variant(i))).collect();
            runtime.block_on(async {
                let started = Instant::now();
                for card in &cards {
                    black_box(cache.get(&renderer, card).await.expect("renders"));
                }
                started.elapsed()
            })
        })
    });

    let cache_hot = new_cache();
    let req = keyed(parse(QUERY));
    runtime
        .block_on(cache_hot.get(&renderer, &req))
        .expect("renders");
    g.bench_function("hit_by_card", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let started = Instant::now();
                for _ in 0..iters {
                    black_box(
                        cache_hot
                            .get(&renderer, black_box(&req))
                            .await
                            .expect("hit"),
                    );
                }
                started.elapsed()
            })
        })
    });
    // What a hit on a URL seen before does: the remembered target, then
    // its card (within one second: from the target itself).
    let target = format!("/cards/{TEMPLATE}.png?{QUERY}");
    let targets = Targets::new(limits.cache_bytes, limits.ttl);
    runtime.block_on(targets.remember(&target, req.clone(), TargetTerms::PLAIN, &renderer));
    let now = SystemClock.now();
    g.bench_function("hit_by_target", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let started = Instant::now();
                for _ in 0..iters {
                    let t = targets.parsed(black_box(&target), &renderer, now).await;
                    let t = t.expect("remembered");
                    let cache = cache_hot.cache();
                    black_box(targets.get_cached(cache, &t, now).await.expect("hit"));
                }
                started.elapsed()
            })
        })
    });
    // Copying a fast PNG into the memory file and freeing its slot again:
    // what a miss pays for sending its hits with `sendfile`.
    let png = renderer.render(req.req()).expect("renders").bytes;
    g.bench_function("seal_and_release", |b| {
        b.iter(|| drop(black_box(sharecard::zerocopy::seal(black_box(png.clone())))))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = cache_benches
}
criterion_main!(benches);
