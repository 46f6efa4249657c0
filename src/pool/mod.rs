//! The render pool: the renderer in use, render admission, coalescing and
//! recompression. It fills the card cache (`cache/`); it knows nothing of
//! requests.
//!
//! On a miss, one detached task renders the card (concurrent requests for
//! the same card wait on that one task) and stores the result in the cache
//! itself, so a client that disconnects mid-render neither cancels the
//! render nor causes a second one: the next request finds the card cached
//! or still in flight.
//!
//! Renders are CPU-bound and run on tokio's blocking pool, at most
//! `render_threads` at once; at most `render_queue` more may wait. Beyond
//! that a miss is refused at once with [`RenderError::Saturated`], while
//! hits never come here: admission only ever guards renders.
//!
//! `--templates-dir` can swap the renderer ([`RenderPool::replace_renderer`]).
//! A card is rendered by the renderer that parsed it, under a key that
//! names that renderer's template version, and a render that finishes
//! after the swap stores nothing (see `ByteCache::insert`): no request after
//! a reload is answered, or coalesced, with the old look.
//!
//! Here: rendering and coalescing. [`admission`]: render threads and the
//! queue. [`recompress`]: the background re-encoding.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use sharecard_render::render::{Encoding, Png, Renderer, webp_recompresses};

use crate::cache::{ByteCache, CardKey, Format, KeyedCard};
use crate::telemetry::Metrics;

mod admission;
mod recompress;

use admission::Admission;
use recompress::{RecompressQueue, recompress_worker};

/// Why the pool has no card to give.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// Every render thread is busy and the queue is full.
    #[error("every render thread is busy and the queue is full")]
    Saturated,
    /// The render ran and failed (a broken template), or panicked.
    #[error("render failed: {0}")]
    Failed(String),
}

/// How a request's card was found, for logs.
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

/// The pool's and the cache's sizes.
#[derive(Debug, Clone)]
pub struct Limits {
    pub cache_bytes: u64,
    pub ttl: Duration,
    pub render_threads: usize,
    pub render_queue: usize,
    pub recompress: bool,
}

type InFlight = Shared<BoxFuture<'static, Result<Arc<Png>, RenderError>>>;

pub struct RenderPool {
    cache: ByteCache,
    inflight: Mutex<HashMap<CardKey, InFlight>>,
    /// Replaced only when `--templates-dir` changes on disk.
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

impl RenderPool {
    /// A pool that renders with `renderer` into `cache`. Starts the
    /// recompression thread when `limits.recompress`.
    pub fn new(
        renderer: Arc<Renderer>,
        cache: ByteCache,
        limits: &Limits,
        metrics: Arc<Metrics>,
    ) -> Arc<RenderPool> {
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
        Arc::new(RenderPool {
            recompress,
            cache,
            inflight: Mutex::new(HashMap::new()),
            renderer: std::sync::RwLock::new(renderer),
            admission: Admission::new(limits.render_threads, limits.render_queue),
            metrics,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            last_render,
        })
    }

    /// The renderer new requests are parsed and rendered with.
    pub fn renderer(&self) -> Arc<Renderer> {
        self.renderer.read().expect("not poisoned").clone()
    }

    /// Swaps in a renderer with edited templates and empties the cache.
    pub fn replace_renderer(&self, renderer: Arc<Renderer>) {
        *self.renderer.write().expect("not poisoned") = renderer;
        self.cache.invalidate_all();
    }

    /// The cache this pool fills.
    pub fn cache(&self) -> &ByteCache {
        &self.cache
    }

    /// `card`'s bytes from the cache, or rendered once by `renderer` (the
    /// one that parsed it, whose template version its key names).
    pub async fn get(
        self: &Arc<Self>,
        renderer: &Arc<Renderer>,
        card: &KeyedCard,
    ) -> Result<(Arc<Png>, CacheStatus), RenderError> {
        let key = card.key();
        loop {
            if let Some(png) = self.cache.get(&key).await {
                return Ok((png, CacheStatus::Hit));
            }
            let (fut, status) = {
                let mut inflight = self.inflight.lock().expect("not poisoned");
                if let Some(f) = inflight.get(&key) {
                    (f.clone(), CacheStatus::Coalesced)
                } else if self.cache.contains(&key) {
                    // The render finished between our lookup and the lock.
                    continue;
                } else {
                    let f = self.spawn_render(renderer.clone(), card.clone());
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

    /// Starts the one render of `card` on a detached task. The task stores
    /// the PNG in the cache before it leaves the in-flight map, so there is
    /// no moment at which the card is in neither.
    fn spawn_render(self: &Arc<Self>, renderer: Arc<Renderer>, card: KeyedCard) -> InFlight {
        let this = self.clone();
        let generation = self.cache.generation();
        let handle = tokio::spawn(async move {
            let key = card.key();
            let result = this.render(renderer, card).await.map(Arc::new);
            if let Ok(png) = &result
                && this.cache.insert(generation, key, png.clone()).await
                && !png.is_final
                && let Some(queue) = &this.recompress
            {
                queue.push(key);
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
    async fn render(&self, renderer: Arc<Renderer>, card: KeyedCard) -> Result<Png, RenderError> {
        let queued = Instant::now();
        let permit = self.admission.admit(&self.metrics).await?;
        let queue = queued.elapsed();
        let metrics = self.metrics.clone();
        metrics.renders_in_flight.inc();
        // Idle cores cut this card's latency; when every core renders, one
        // thread each. (A render that starts a moment later may briefly
        // share a core with this one.)
        let others = usize::try_from(metrics.renders_in_flight.get() - 1).unwrap_or(0);
        let threads = self.cores.saturating_sub(others).max(1);
        // Bytes the card keeps go into the memory file hits are sent from
        // (`cache/seal_and_release` in benches/cache.rs measures the copy);
        // with recompression on, that happens when they are recompressed,
        // off this card's path. A WebP too large for libwebp keeps its
        // first encoding.
        let recompress = self.recompress.is_some();
        let result = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let r = match card.format() {
                Format::Png => renderer.render_on(card.req(), threads),
                Format::Webp => renderer.render_webp_on(card.req(), threads),
            };
            drop(permit);
            let took = started.elapsed();
            let r = r.map(|mut png| {
                png.timings.queue = queue;
                png.is_final = !recompress
                    || (png.encoding == Encoding::WebpFast
                        && !webp_recompresses(png.width, png.height));
                if png.is_final {
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
}

impl Drop for RenderPool {
    fn drop(&mut self) {
        // Ends the recompression thread.
        if let Some(queue) = &self.recompress {
            queue.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::Format;
    use crate::cache::tests::card;
    use crate::test_support::renderer;

    fn keyed(renderer: &Renderer, i: usize) -> KeyedCard {
        let version = &renderer.templates().info("report").unwrap().version;
        KeyedCard::new(card(i), version, Format::Png)
    }

    /// A render in flight while the templates change: requests after the
    /// change render the new look (never coalesce onto the old render),
    /// and the old render leaves nothing in the cache.
    #[tokio::test]
    async fn a_reload_during_a_render_leaves_no_old_card() {
        let old = renderer();
        // Edited templates: another version of the report card.
        let dir = tempfile::tempdir().unwrap();
        let edited =
            include_str!("../../templates/report.svg").replace("</svg>", "<!-- edited --></svg>");
        std::fs::write(dir.path().join("report.svg"), edited).unwrap();
        let new = sharecard_render::render::Renderer::load(sharecard_render::render::Sources {
            fonts_dir: None,
            templates_dir: Some(dir.path()),
            brand: "willaireplace.me",
        })
        .unwrap();
        let (old_card, new_card) = (keyed(&old, 0), keyed(&new, 0));
        assert_ne!(old_card.key(), new_card.key());
        let cache = ByteCache::new(1 << 24, Duration::from_secs(60), Arc::new(Metrics::new()));
        let limits = Limits {
            cache_bytes: 1 << 24,
            ttl: Duration::from_secs(60),
            render_threads: 2,
            render_queue: 2,
            recompress: false,
        };
        let pool = RenderPool::new(
            old.clone(),
            cache.clone(),
            &limits,
            Arc::new(Metrics::new()),
        );
        let in_flight = {
            let (pool, old, card) = (pool.clone(), old.clone(), old_card.clone());
            tokio::spawn(async move { pool.get(&old, &card).await })
        };
        // The render has begun (it takes milliseconds, this microseconds).
        while pool.inflight.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
        pool.replace_renderer(new.clone());
        let (fresh, status) = pool.get(&new, &new_card).await.unwrap();
        assert_eq!(
            status,
            CacheStatus::Miss,
            "not coalesced onto the old render"
        );
        let (stale, _) = in_flight.await.unwrap().unwrap();
        assert_ne!(fresh.etag, stale.etag);
        assert!(
            cache.get(&old_card.key()).await.is_none(),
            "the old card is not kept"
        );
        assert_eq!(cache.entry_count().await, 1);
        let (again, status) = pool.get(&new, &new_card).await.unwrap();
        assert_eq!(
            (again.etag.clone(), status),
            (fresh.etag.clone(), CacheStatus::Hit)
        );
    }
}
