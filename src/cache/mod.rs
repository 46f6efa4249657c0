//! The PNG cache, render coalescing and render admission.
//!
//! A card is looked up in a byte-bounded `moka` cache. On a miss, one
//! detached task renders it (concurrent requests for the same card wait on
//! that one task) and stores the result in the cache itself, so a client
//! that disconnects mid-render neither cancels the render nor causes a
//! second one: the next request finds the card cached or still in flight.
//!
//! Renders are CPU-bound and run on tokio's blocking pool, at most
//! `render_threads` at once; at most `render_queue` more may wait. Beyond
//! that a miss is refused at once with 503 (load shedding), while hits are
//! always served: admission only ever guards renders.
//!
//! Here: the cache and coalescing. [`key`]: what cards are looked up by.
//! [`targets`]: request targets already parsed. [`admission`]: render
//! threads and the queue. [`recompress`]: the background re-encoding.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use moka::future::Cache;
use moka::notification::RemovalCause;

use crate::telemetry::Metrics;
use sharecard_render::card::CardRequest;

mod admission;
mod key;
mod recompress;
mod targets;

use admission::Admission;
pub use key::{CardKey, KeyedCard};
use recompress::{RecompressQueue, recompress_worker};
use sharecard_render::render::{Png, Renderer};
pub use targets::{ParsedTarget, TargetTerms};
use targets::{TARGET_SHARE, request_bytes};

/// Why the cache has no card to give.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// Every render thread is busy and the queue is full.
    #[error("every render thread is busy and the queue is full")]
    Saturated,
    /// The render ran and failed (a broken template), or panicked.
    #[error("render failed: {0}")]
    Failed(String),
}

/// How a request was answered, for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    Hit,
    /// This request started the render.
    Miss,
    /// Another request's render was already running; this one waited on it.
    Coalesced,
}

impl CacheStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "hit",
            CacheStatus::Miss => "miss",
            CacheStatus::Coalesced => "coalesced",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Limits {
    pub cache_bytes: u64,
    pub ttl: Duration,
    pub render_threads: usize,
    pub render_queue: usize,
    pub recompress: bool,
}

/// Roughly what moka and the structs add to each cached entry.
pub(super) const ENTRY_BYTES: usize = 256;

type InFlight = Shared<BoxFuture<'static, Result<Arc<Png>, RenderError>>>;

pub struct CardCache {
    cache: Cache<CardKey, Arc<Png>>,
    /// Request targets seen before (see [`CardCache::parsed`]).
    targets: Cache<Box<str>, Arc<ParsedTarget>>,
    inflight: Mutex<HashMap<CardKey, InFlight>>,
    /// Replaced only when `--templates-dir` changes on disk (preview).
    renderer: std::sync::RwLock<Arc<Renderer>>,
    admission: Admission,
    metrics: Arc<Metrics>,
    recompress: Option<Arc<RecompressQueue>>,
    /// CPU cores: a render draws on as many threads as there are cores no
    /// other render is using.
    cores: usize,
    /// When the last render finished, for the recompression thread.
    last_render: Arc<Mutex<Instant>>,
}

impl CardCache {
    pub fn new(renderer: Arc<Renderer>, limits: &Limits, metrics: Arc<Metrics>) -> Arc<CardCache> {
        let evictions = metrics.cache_evictions.clone();
        let cache = Cache::builder()
            .max_capacity(limits.cache_bytes)
            .weigher(|_: &CardKey, v: &Arc<Png>| {
                // PNG bytes dominate; the entry's overhead is counted
                // roughly so tiny cards still weigh.
                u32::try_from(v.bytes.len() + ENTRY_BYTES).unwrap_or(u32::MAX)
            })
            .time_to_live(limits.ttl)
            .eviction_listener(move |_k, _v, cause| {
                if matches!(cause, RemovalCause::Size | RemovalCause::Expired) {
                    evictions.inc();
                }
            })
            .build();
        let targets = Cache::<Box<str>, Arc<ParsedTarget>>::builder()
            .max_capacity(limits.cache_bytes / TARGET_SHARE)
            .weigher(|k, v| {
                u32::try_from(k.len() + request_bytes(v.card.req())).unwrap_or(u32::MAX)
            })
            .time_to_live(limits.ttl)
            .build();
        let last_render = Arc::new(Mutex::new(Instant::now()));
        let recompress = limits.recompress.then(|| {
            let queue = Arc::new(RecompressQueue::default());
            let jobs = queue.clone();
            let (cache, metrics) = (cache.clone(), metrics.clone());
            let runtime = tokio::runtime::Handle::current();
            let last_render = last_render.clone();
            std::thread::Builder::new()
                .name("recompress".into())
                .spawn(move || recompress_worker(&jobs, cache, metrics, runtime, last_render))
                .expect("spawning the recompression thread");
            queue
        });
        Arc::new(CardCache {
            recompress,
            cache,
            targets,
            inflight: Mutex::new(HashMap::new()),
            renderer: std::sync::RwLock::new(renderer),
            admission: Admission::new(limits.render_threads, limits.render_queue),
            metrics,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            last_render,
        })
    }

    pub fn renderer(&self) -> Arc<Renderer> {
        self.renderer.read().expect("not poisoned").clone()
    }

    /// Swaps in a renderer with edited templates and forgets every cached
    /// card (their ETags change with the template version anyway).
    pub fn replace_renderer(&self, renderer: Arc<Renderer>) {
        *self.renderer.write().expect("not poisoned") = renderer;
        self.cache.invalidate_all();
        self.targets.invalidate_all();
    }

    /// The PNG for `req`, from the cache or rendered once.
    pub async fn get(
        self: &Arc<Self>,
        card: &KeyedCard,
    ) -> Result<(Arc<Png>, CacheStatus), RenderError> {
        let key = card.key;
        loop {
            if let Some(png) = self.cache.get(&key).await {
                self.metrics.cache_hits.inc();
                return Ok((png, CacheStatus::Hit));
            }
            let (fut, status) = {
                let mut inflight = self.inflight.lock().expect("not poisoned");
                if let Some(f) = inflight.get(&key) {
                    (f.clone(), CacheStatus::Coalesced)
                } else if self.cache.contains_key(&key) {
                    // The render finished between our lookup and the lock.
                    continue;
                } else {
                    let f = self.spawn_render(card.clone());
                    inflight.insert(key, f.clone());
                    (f, CacheStatus::Miss)
                }
            };
            if status == CacheStatus::Miss {
                self.metrics.cache_misses.inc();
            }
            return fut.await.map(|png| (png, status));
        }
    }

    /// Starts the one render of `req` on a detached task. The task stores
    /// the PNG in the cache before it leaves the in-flight map, so there is
    /// no moment at which the card is in neither.
    fn spawn_render(self: &Arc<Self>, card: KeyedCard) -> InFlight {
        let this = self.clone();
        let handle = tokio::spawn(async move {
            let key = card.key;
            let result = this.render(card.req).await.map(|mut png| {
                png.is_final = this.recompress.is_none();
                Arc::new(png)
            });
            if let Ok(png) = &result {
                this.cache.insert(key, png.clone()).await;
                if let Some(queue) = &this.recompress {
                    queue.push(key);
                }
            }
            this.inflight.lock().expect("not poisoned").remove(&key);
            result
        });
        async move {
            handle
                .await
                .unwrap_or_else(|e| Err(RenderError::Failed(format!("render task died: {e}"))))
        }
        .boxed()
        .shared()
    }

    /// Admission, then one render on the blocking pool.
    async fn render(&self, req: CardRequest) -> Result<Png, RenderError> {
        let queued = Instant::now();
        let permit = self.admission.admit(&self.metrics).await?;
        let queue = queued.elapsed();
        let renderer = self.renderer();
        let metrics = self.metrics.clone();
        metrics.renders_in_flight.inc();
        // Idle cores cut this card's latency; when every core renders, one
        // thread each. (A render that starts a moment later may briefly
        // share a core with this one.)
        let others = usize::try_from(metrics.renders_in_flight.get() - 1).unwrap_or(0);
        let threads = self.cores.saturating_sub(others).max(1);
        // Bytes the card keeps go into the memory file hits are sent from
        // (~55 µs for a fast PNG, `cache/seal_and_release` in
        // benches/cache.rs); with recompression on, that happens when
        // they are recompressed, off this card's path.
        let seal = self.recompress.is_none();
        let result = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let r = renderer.render_on(&req, threads);
            drop(permit);
            let took = started.elapsed();
            let r = r.map(|mut png| {
                png.timings.queue = queue;
                if seal {
                    let bytes = crate::zerocopy::seal(png.bytes);
                    Png { bytes, ..png }
                } else {
                    png
                }
            });
            (r, took)
        })
        .await;
        *self.last_render.lock().expect("not poisoned") = Instant::now();
        metrics.renders_in_flight.dec();
        match result {
            Ok((Ok(png), took)) => {
                metrics.renders.inc();
                metrics.render_duration.observe(took.as_secs_f64());
                Ok(png)
            }
            Ok((Err(e), _)) => {
                metrics.render_failures.inc();
                tracing::error!(error = %format!("{e:#}"), "render failed");
                Err(RenderError::Failed(format!("{e:#}")))
            }
            Err(e) => {
                metrics.render_failures.inc();
                tracing::error!(error = %e, "render panicked");
                Err(RenderError::Failed("the renderer panicked".into()))
            }
        }
    }

    /// Brings the cache's own counters up to date and copies them into the
    /// metrics (moka evicts lazily, moka#543).
    pub async fn sync_metrics(&self) {
        self.cache.run_pending_tasks().await;
        self.metrics
            .cache_entries
            .set(self.cache.entry_count() as i64);
        self.metrics
            .cache_bytes
            .set(self.cache.weighted_size() as i64);
        self.metrics
            .sealed_bytes
            .set(crate::zerocopy::sealed_bytes() as i64);
    }

    pub async fn weighted_size(&self) -> u64 {
        self.cache.run_pending_tasks().await;
        self.cache.weighted_size()
    }
}

impl Drop for CardCache {
    fn drop(&mut self) {
        // Ends the recompression thread.
        if let Some(queue) = &self.recompress {
            queue.close();
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use sharecard_render::card::query::Params;
    use sharecard_render::card::{LevelBands, TemplateName};

    fn card(i: usize) -> CardRequest {
        CardRequest::from_params(
            TemplateName::parse("report").unwrap(),
            &Params::parse(Some(&format!("role=R{i}&risk=50"))).unwrap(),
            &LevelBands::default(),
        )
        .unwrap()
    }

    pub(super) fn key(i: usize) -> CardKey {
        KeyedCard::new(card(i)).key()
    }

    fn renderer() -> Arc<Renderer> {
        crate::config::ServeArgs::for_tests()
            .card
            .load_renderer()
            .unwrap()
    }

    /// A 1 MiB cache with one render thread and recompression off.
    fn small_cache(renderer: &Arc<Renderer>) -> Arc<CardCache> {
        let limits = Limits {
            cache_bytes: 1 << 20,
            ttl: Duration::from_secs(60),
            render_threads: 1,
            render_queue: 1,
            recompress: false,
        };
        CardCache::new(renderer.clone(), &limits, Arc::new(Metrics::new()))
    }

    #[test]
    fn a_card_key_names_exactly_the_card() {
        let keyed = |template: &str, query: &str| {
            KeyedCard::new(
                CardRequest::from_params(
                    TemplateName::parse(template).unwrap(),
                    &Params::parse(Some(query)).unwrap(),
                    &LevelBands::default(),
                )
                .unwrap(),
            )
        };
        let base = keyed("report", "role=R&tagline=T&risk=50&threat=X&threat_risk=9");
        // (template, query, same card as `base`)
        let cases = [
            (
                "report",
                "risk=50&threat_risk=9&threat=X&tagline=T&role=R",
                true,
            ),
            (
                "report",
                "role=R&tagline=T&risk=50&threat=X&threat_risk=9&utm_source=x",
                true,
            ),
            (
                "report",
                "role=R&tagline=T&risk=50&level=elevated&threat=X&threat_risk=9",
                true,
            ),
            (
                "square",
                "role=R&tagline=T&risk=50&threat=X&threat_risk=9",
                false,
            ),
            (
                "report",
                "role=R&tagline=T&risk=50&threat=X&threat_risk=9&theme=light",
                false,
            ),
            (
                "report",
                "role=R&tagline=T&risk=50&threat=X&threat_risk=9&scale=2",
                false,
            ),
            ("report", "role=R&risk=50&threat=X&threat_risk=9", false),
            ("report", "role=R&tagline=T&risk=50", false),
            (
                "report",
                "role=R&tagline=T&risk=51&threat=X&threat_risk=9",
                false,
            ),
            (
                "report",
                "role=R&tagline=T&risk=50&level=high&threat=X&threat_risk=9",
                false,
            ),
            (
                "report",
                "role=R&tagline=T&risk=50&threat=X&threat_risk=8",
                false,
            ),
            // A role whose text spells out the tagline parameter.
            (
                "report",
                "role=R%26tagline%3DT&risk=50&threat=X&threat_risk=9",
                false,
            ),
            (
                "report",
                "role=R%20&tagline=T&risk=50&threat=X&threat_risk=9",
                true,
            ),
        ];
        for (template, query, same) in cases {
            let other = keyed(template, query);
            assert_eq!(other.req() == base.req(), same, "{template}?{query}");
            assert_eq!(other.key() == base.key(), same, "{template}?{query}");
        }
    }

    #[tokio::test]
    async fn a_remembered_target_holds_for_its_renderer_until_it_expires() {
        let (renderer, other) = (renderer(), renderer());
        let cache = small_cache(&renderer);
        let t = "/cards/report.png?role=R0&risk=50";
        assert!(
            cache.parsed(t, &renderer, 100).await.is_none(),
            "not seen yet"
        );
        let terms = TargetTerms {
            attachment: true,
            versioned: true,
            expires: 200,
        };
        cache.remember(t, card(0), terms, &renderer).await;
        // (target, renderer, now, found)
        let cases = [
            (t, &renderer, 100, true),
            (t, &renderer, 199, true),
            (t, &renderer, 200, false),
            (t, &other, 100, false),
            ("/cards/report.png?role=R0&risk=50&x", &renderer, 100, false),
        ];
        for (target, r, now, found) in cases {
            let got = cache.parsed(target, r, now).await;
            assert_eq!(got.is_some(), found, "{target} at {now}");
            if let Some(p) = got {
                assert!(p.card.req() == &card(0) && p.terms == terms);
                assert_eq!(p.card.key(), key(0));
            }
        }
        // New templates: every target is parsed again.
        cache.replace_renderer(other.clone());
        cache
            .remember(t, card(0), TargetTerms::PLAIN, &renderer)
            .await;
        assert!(cache.parsed(t, &other, 100).await.is_none());
    }

    #[tokio::test]
    async fn a_target_asks_the_cache_for_its_card_once_a_second() {
        let renderer = renderer();
        let cache = small_cache(&renderer);
        let target = cache
            .remember(
                "/cards/report.png?role=R0&risk=50",
                card(0),
                TargetTerms::PLAIN,
                &renderer,
            )
            .await;
        let png = |etag: &str| {
            Arc::new(Png {
                bytes: bytes::Bytes::from_static(b"png"),
                width: 1,
                height: 1,
                is_final: true,
                opaque: true,
                encoding: sharecard_render::render::Encoding::Small,
                etag: etag.into(),
                timings: Default::default(),
            })
        };
        let found = |got: Option<Arc<Png>>| got.map(|p| p.etag.to_string());
        assert_eq!(found(cache.get_cached(&target, 100).await), None);

        let (first, second) = (png("first"), png("second"));
        cache.cache.insert(key(0), first.clone()).await;
        assert_eq!(
            found(cache.get_cached(&target, 100).await).as_deref(),
            Some("first")
        );
        // Recompressed within the same second, while a response still
        // holds the first bytes: the target keeps them until the second
        // is over, then asks the cache.
        cache.cache.insert(key(0), second.clone()).await;
        assert_eq!(
            found(cache.get_cached(&target, 100).await).as_deref(),
            Some("first")
        );
        assert_eq!(
            found(cache.get_cached(&target, 101).await).as_deref(),
            Some("second")
        );
        // Evicted: once nothing else holds the card, not even the same
        // second finds it.
        drop((first, second));
        cache.cache.invalidate(&key(0)).await;
        // (moka lets go of a removed value when it next does its
        // housekeeping)
        cache.cache.run_pending_tasks().await;
        assert_eq!(found(cache.get_cached(&target, 101).await), None);
        // Evicted while a response still holds it: served until the second
        // is over, never after.
        let third = png("third");
        cache.cache.insert(key(0), third.clone()).await;
        assert_eq!(
            found(cache.get_cached(&target, 102).await).as_deref(),
            Some("third")
        );
        cache.cache.invalidate(&key(0)).await;
        assert_eq!(
            found(cache.get_cached(&target, 102).await).as_deref(),
            Some("third")
        );
        assert_eq!(found(cache.get_cached(&target, 103).await), None);
        assert_eq!(
            found(cache.get_cached(&target, 102).await),
            None,
            "the clock went back"
        );
        drop(third);
    }
}
