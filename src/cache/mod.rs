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

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use moka::future::Cache;
use moka::notification::RemovalCause;
use tokio::sync::Semaphore;

use crate::telemetry::Metrics;
use sharecard_render::card::CardRequest;
use sharecard_render::render::{Png, Renderer};

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

/// Cards waiting for recompression. Past this, the oldest waiting card is
/// dropped and keeps its fast encoding (and stays on the heap, copied into
/// each response). 1,024 keys are a few hundred KiB; the idle thread works
/// through them in ~20 s once a burst of new cards is over.
const RECOMPRESS_QUEUE: usize = 1024;

/// The recompression queue: keys, newest first. Under a stream of new cards
/// the newest are the likeliest to be asked for again (and to still be
/// cached), and the older ones get their turn when renders are idle. It
/// holds keys, not PNGs: most queued cards are evicted before their turn
/// under such a stream, and queued bytes would be memory the cache budget
/// does not see (64 fast PNGs held 9 MiB past `--cache-mb`).
#[derive(Default)]
struct RecompressQueue {
    state: Mutex<QueueState>,
    wake: std::sync::Condvar,
}

#[derive(Default)]
struct QueueState {
    keys: std::collections::VecDeque<CardKey>,
    closed: bool,
}

impl RecompressQueue {
    fn push(&self, key: CardKey) {
        let mut state = self.state.lock().expect("not poisoned");
        if state.keys.len() == RECOMPRESS_QUEUE {
            state.keys.pop_front();
        }
        state.keys.push_back(key);
        self.wake.notify_one();
    }

    /// The newest waiting card; `None` once the cache is gone.
    fn pop(&self) -> Option<CardKey> {
        let mut state = self.state.lock().expect("not poisoned");
        loop {
            if state.closed {
                return None;
            }
            if let Some(key) = state.keys.pop_back() {
                return Some(key);
            }
            state = self.wake.wait(state).expect("not poisoned");
        }
    }

    fn close(&self) {
        self.state.lock().expect("not poisoned").closed = true;
        self.wake.notify_one();
    }
}

type InFlight = Shared<BoxFuture<'static, Result<Arc<Png>, RenderError>>>;

/// What cached cards are looked up by: the first 16 bytes of a SHA-256 of
/// the card's canonical form. Hashing and comparing a `CardRequest` meant
/// reading its texts, each in an allocation of its own, on every hit; a
/// digest sits inline in the remembered target and in moka's entry. Over
/// 1,000 cycled cards (none of them in the CPU's caches), `perf` put the
/// server's own code and libc at 4.3 µs a hit with `CardRequest` keys and
/// 3.6 µs with digests (2026-11-29). Two cards share a key only if
/// SHA-256 collides in 128 bits, which no one can arrange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CardKey([u8; 16]);

/// A card request and its [`CardKey`], computed once, together.
#[derive(Debug, Clone)]
pub struct KeyedCard {
    req: CardRequest,
    key: CardKey,
}

impl KeyedCard {
    pub fn new(req: CardRequest) -> KeyedCard {
        use sha2::Digest;
        // `canonical_query` is one-to-one with a card of a given template
        // (it parses back to the same card), and template names never
        // contain NUL.
        let mut h = sha2::Sha256::new();
        h.update(req.template.as_str().as_bytes());
        h.update([0]);
        h.update(req.canonical_query().as_bytes());
        let mut key = [0; 16];
        key.copy_from_slice(&h.finalize()[..16]);
        KeyedCard {
            req,
            key: CardKey(key),
        }
    }

    pub fn req(&self) -> &CardRequest {
        &self.req
    }

    pub fn key(&self) -> CardKey {
        self.key
    }
}

/// A `/cards/…` request target (path and query, as sent) that parsed into a
/// card and passed the signature check: what answering it again needs,
/// without parsing it again.
#[derive(Debug)]
pub struct ParsedTarget {
    pub card: KeyedCard,
    /// `download=1`: served as an attachment.
    pub attachment: bool,
    /// Unix seconds at which the target's signature expires (its `exp`);
    /// `u64::MAX` when it never does.
    pub expires: u64,
    /// The renderer whose templates and fonts accepted the card. A `Weak`,
    /// so its address cannot be reused by a later renderer while this
    /// entry lives.
    renderer: Weak<Renderer>,
    /// The card's cached PNG as last found in the card cache, and the
    /// second (Unix time) it was found in (see [`CardCache::get_cached`]).
    found: Mutex<(Weak<Png>, u64)>,
}

/// Roughly what moka and the structs add to each cached entry.
const ENTRY_BYTES: usize = 256;

/// What a [`ParsedTarget`]'s `Weak<Png>` keeps allocated after the card
/// has left the cache: the `Arc`'s counts and the `Png` struct (its bytes
/// go with the card).
const FOUND_BYTES: usize = std::mem::size_of::<Png>() + 2 * std::mem::size_of::<usize>();

/// Roughly what a card request costs in memory: its texts, plus what moka
/// and the structs add.
fn request_bytes(k: &CardRequest) -> usize {
    let card = &k.card;
    ENTRY_BYTES
        + FOUND_BYTES
        + card.role.as_str().len()
        + card.tagline.as_ref().map_or(0, |t| t.as_str().len())
        + card.threat.as_ref().map_or(0, |t| t.task.as_str().len())
}

/// Request targets are kept for at most this share of the card budget:
/// a fraction, since each is a few hundred bytes beside a card's ~35 KB.
const TARGET_SHARE: u64 = 32;

pub struct CardCache {
    cache: Cache<CardKey, Arc<Png>>,
    /// Request targets seen before (see [`CardCache::parsed`]).
    targets: Cache<Box<str>, Arc<ParsedTarget>>,
    inflight: Mutex<HashMap<CardKey, InFlight>>,
    /// Replaced only when `--templates-dir` changes on disk (preview).
    renderer: std::sync::RwLock<Arc<Renderer>>,
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
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
            permits: Arc::new(Semaphore::new(limits.render_threads.max(1))),
            waiting: AtomicUsize::new(0),
            max_waiting: limits.render_queue,
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

    /// What `target` parsed to when it was last seen, if `renderer` is the
    /// one that accepted it and its signature has not expired at `now`.
    ///
    /// Cache hits are mostly the same URLs again (crawlers, browsers, CDNs
    /// revalidating), and parsing the query into a card was a tenth of a
    /// hit's CPU. Only targets that parsed and verified are remembered, so
    /// every client mistake still gets its full answer. A target's card
    /// depends only on the target itself, start-up configuration (signing
    /// keys, level bands), the renderer (checked here) and the time (its
    /// `exp`, checked here).
    pub async fn parsed(
        &self,
        target: &str,
        renderer: &Arc<Renderer>,
        now: u64,
    ) -> Option<Arc<ParsedTarget>> {
        let parsed = self.targets.get(target).await?;
        (now < parsed.expires && std::ptr::eq(parsed.renderer.as_ptr(), Arc::as_ptr(renderer)))
            .then_some(parsed)
    }

    /// Remembers that `target` parsed to `card` under `renderer`.
    pub async fn remember(
        &self,
        target: &str,
        card: CardRequest,
        attachment: bool,
        expires: u64,
        renderer: &Arc<Renderer>,
    ) -> Arc<ParsedTarget> {
        let parsed = Arc::new(ParsedTarget {
            card: KeyedCard::new(card),
            attachment,
            expires,
            renderer: Arc::downgrade(renderer),
            found: Mutex::new((Weak::new(), 0)),
        });
        self.targets.insert(target.into(), parsed.clone()).await;
        parsed
    }

    /// The PNG for `target`'s card if it is cached (counted as a hit),
    /// without rendering; `now` is Unix time in seconds.
    ///
    /// Within the second a target's card was last found in the cache,
    /// further hits on that target take the card from the target itself
    /// instead of asking the cache again. A hit used to make two lookups in
    /// moka (the target, then its card), and over 1,000 cycled cards
    /// moka's share grew from 0.35 to 1.9 µs a hit, mostly cache misses on
    /// its entries and its access-order bookkeeping. With one lookup, user
    /// CPU a hit over those cards went from 8.2 to 6.8 µs (A/B, 3 rounds,
    /// 2026-11-29).
    ///
    /// What this gives up, for one second at most: the cache sees one use
    /// a second per target (for its eviction order and its admission
    /// counts), and a card evicted, expired or replaced by its recompressed
    /// bytes is still served from the target if something else (a response
    /// being sent) still holds it. The `Weak` never keeps a card alive.
    pub async fn get_cached(&self, target: &ParsedTarget, now: u64) -> Option<Arc<Png>> {
        {
            let found = target.found.lock().expect("not poisoned");
            if found.1 == now
                && let Some(png) = found.0.upgrade()
            {
                self.metrics.cache_hits.inc();
                return Some(png);
            }
        }
        let png = self.cache.get(&target.card.key).await;
        *target.found.lock().expect("not poisoned") =
            (png.as_ref().map_or_else(Weak::new, Arc::downgrade), now);
        if png.is_some() {
            self.metrics.cache_hits.inc();
        }
        png
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
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    self.metrics.shed.inc();
                    return Err(RenderError::Saturated);
                }
                self.metrics.render_queue.inc();
                let p = self.permits.clone().acquire_owned().await;
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                self.metrics.render_queue.dec();
                p.expect("the semaphore is never closed")
            }
        };
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
        // benches/pipeline.rs); with recompression on, that happens when
        // they are recompressed, off this card's path.
        let seal = self.recompress.is_none();
        let result = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let r = renderer.render_on(&req, threads);
            drop(permit);
            let took = started.elapsed();
            let r = r.map(|png| {
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

/// How long renders must have been idle before a recompression starts.
/// Started between two renders of a steady stream of new cards, a
/// recompression slowed each by over a millisecond even at idle priority
/// (shared caches and memory bandwidth; measured with oxipng, which took
/// ~150 ms). One that has started pauses between rows while renders run.
const RECOMPRESS_AFTER_IDLE: Duration = Duration::from_millis(25);

/// Longest a recompression waits for renders to go idle: under unbroken
/// load, cards still get small, one at a time, at idle priority.
const RECOMPRESS_PATIENCE: Duration = Duration::from_secs(2);

/// Re-encodes freshly rendered cards smaller and swaps them into the cache.
/// Runs on its own thread at idle CPU priority, and only once renders have
/// been idle for a moment (or after [`RECOMPRESS_PATIENCE`]), so it does not
/// delay foreground renders. The ETag does not change: it names the card,
/// and the pixels are the same.
fn recompress_worker(
    jobs: &RecompressQueue,
    cache: Cache<CardKey, Arc<Png>>,
    metrics: Arc<Metrics>,
    runtime: tokio::runtime::Handle,
    last_render: Arc<Mutex<Instant>>,
) {
    crate::sys::lower_thread_priority();
    while let Some(key) = jobs.pop() {
        let patience = Instant::now() + RECOMPRESS_PATIENCE;
        while Instant::now() < patience
            && (metrics.renders_in_flight.get() > 0
                || last_render.lock().expect("not poisoned").elapsed() < RECOMPRESS_AFTER_IDLE)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        let Some(png) = runtime.block_on(cache.get(&key)) else {
            continue; // evicted meanwhile
        };
        if png.is_final {
            continue;
        }
        // A render that starts meanwhile has the cores to itself: this
        // one waits between rows (one row is ~20 µs of the ~13–40 ms), up
        // to the same patience. Without this, a recompression running when
        // a burst of new cards began made each of its first cards ~15 %
        // slower (`loadtest.sh`: cold median 3.06 ms with recompression
        // on, 2.65 ms off).
        let pause = || {
            while Instant::now() < patience && metrics.renders_in_flight.get() > 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        };
        match sharecard_render::render::recompress_pausing(&png, pause) {
            Ok(small) => {
                let smaller = small.len() < png.bytes.len();
                let png = Png {
                    bytes: crate::zerocopy::seal(if smaller {
                        small.into()
                    } else {
                        png.bytes.clone()
                    }),
                    is_final: true,
                    ..Png::clone(&png)
                };
                runtime.block_on(cache.insert(key, Arc::new(png)));
                metrics.recompressed.inc();
            }
            Err(e) => tracing::warn!(error = %e, "recompression failed; keeping the fast encoding"),
        }
    }
}

#[cfg(test)]
mod tests {
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

    fn key(i: usize) -> CardKey {
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

    #[test]
    fn the_recompression_queue_keeps_the_newest_cards_and_takes_them_first() {
        // (cards pushed, cards popped in order, as indices)
        let cases: [(usize, Vec<usize>); 3] = [
            (1, vec![0]),
            (RECOMPRESS_QUEUE, (0..RECOMPRESS_QUEUE).rev().collect()),
            (
                RECOMPRESS_QUEUE + 10,
                (10..RECOMPRESS_QUEUE + 10).rev().collect(),
            ),
        ];
        for (pushed, popped) in cases {
            let queue = RecompressQueue::default();
            for i in 0..pushed {
                queue.push(key(i));
            }
            let got: Vec<CardKey> = popped.iter().map(|_| queue.pop().unwrap()).collect();
            let want: Vec<CardKey> = popped.iter().map(|&i| key(i)).collect();
            assert!(got == want, "{pushed} pushed");
            assert!(
                queue.state.lock().unwrap().keys.is_empty(),
                "{pushed} pushed"
            );
        }
    }

    #[test]
    fn a_closed_recompression_queue_ends_its_worker() {
        let queue = Arc::new(RecompressQueue::default());
        queue.push(key(0));
        let worker = {
            let queue = queue.clone();
            std::thread::spawn(move || {
                let mut popped = 0;
                while queue.pop().is_some() {
                    popped += 1;
                }
                popped
            })
        };
        // The worker takes the one card, then waits until the queue closes.
        while !queue.state.lock().unwrap().keys.is_empty() {
            std::thread::sleep(Duration::from_millis(1));
        }
        queue.close();
        assert_eq!(worker.join().unwrap(), 1);
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
        cache.remember(t, card(0), true, 200, &renderer).await;
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
                assert!(p.card.req() == &card(0) && p.attachment);
                assert_eq!(p.card.key(), key(0));
            }
        }
        // New templates: every target is parsed again.
        cache.replace_renderer(other.clone());
        cache.remember(t, card(0), false, u64::MAX, &renderer).await;
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
                false,
                u64::MAX,
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
                etag: etag.into(),
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
