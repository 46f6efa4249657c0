//! The card cache: encoded cards in memory, bounded in bytes, with a TTL.
//!
//! A plain map from [`CardKey`] (the card, its template's version and its
//! format) to the card's bytes. It renders nothing and knows nothing of
//! requests: the render pool (`pool/`) fills it, the HTTP edge reads it.
//! Because the template version is part of the key, a card drawn with
//! templates that have since been replaced can never answer for the new
//! ones; [`ByteCache::invalidate_all`] also drops it, and an insert that
//! races with that drops itself (see [`ByteCache::insert`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moka::future::Cache;
use moka::notification::RemovalCause;
use sharecard_render::render::Png;

use crate::telemetry::Metrics;

mod key;

pub use key::{CardKey, Format, KeyedCard};

/// Roughly what moka and the structs add to each cached entry.
pub(crate) const ENTRY_BYTES: usize = 256;

/// The cache's contents as of one [`ByteCache::generation`]: what an
/// insert checks against, so that nothing from before an
/// [`invalidate_all`](ByteCache::invalidate_all) survives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(u64);

/// Encoded cards by key. Clones share the cache.
#[derive(Clone)]
pub struct ByteCache {
    cache: Cache<CardKey, Arc<Png>>,
    generation: Arc<AtomicU64>,
    metrics: Arc<Metrics>,
}

impl ByteCache {
    /// A cache of at most `bytes` (PNG bytes plus [`ENTRY_BYTES`] an
    /// entry), each entry kept at most `ttl`.
    pub fn new(bytes: u64, ttl: Duration, metrics: Arc<Metrics>) -> ByteCache {
        let evictions = metrics.cache_evictions.clone();
        let cache = Cache::builder()
            .max_capacity(bytes)
            .weigher(|_: &CardKey, v: &Arc<Png>| {
                // PNG bytes dominate; the entry's overhead is counted
                // roughly so tiny cards still weigh.
                u32::try_from(v.bytes.len() + ENTRY_BYTES).unwrap_or(u32::MAX)
            })
            .time_to_live(ttl)
            .eviction_listener(move |_k, _v, cause| {
                if matches!(cause, RemovalCause::Size | RemovalCause::Expired) {
                    evictions.inc();
                }
            })
            .build();
        ByteCache {
            cache,
            generation: Arc::new(AtomicU64::new(0)),
            metrics,
        }
    }

    /// The card under `key`, counted as a hit when found.
    pub async fn get(&self, key: &CardKey) -> Option<Arc<Png>> {
        let png = self.cache.get(key).await;
        if png.is_some() {
            self.metrics.cache_hits.inc();
        }
        png
    }

    /// Counts a hit served without a lookup (see `http::target`).
    pub(crate) fn count_hit(&self) {
        self.metrics.cache_hits.inc();
    }

    /// The card under `key`, not counted as a hit (for the cache's own
    /// housekeeping, such as recompression).
    pub(crate) async fn peek(&self, key: &CardKey) -> Option<Arc<Png>> {
        self.cache.get(key).await
    }

    /// Whether `key` is cached, without counting a hit.
    pub(crate) fn contains(&self, key: &CardKey) -> bool {
        self.cache.contains_key(key)
    }

    /// The contents' generation now: take it before starting work whose
    /// result [`insert`](Self::insert) will store.
    pub fn generation(&self) -> Generation {
        Generation(self.generation.load(Ordering::SeqCst))
    }

    /// Stores `png` under `key`, unless the cache was emptied since `seen`:
    /// then the work started before the change, and its result is dropped
    /// (if the emptying came between the insert and the check, the check
    /// removes it again). Returns whether it stayed.
    pub async fn insert(&self, seen: Generation, key: CardKey, png: Arc<Png>) -> bool {
        if self.generation() != seen {
            return false;
        }
        self.cache.insert(key, png).await;
        if self.generation() != seen {
            self.cache.invalidate(&key).await;
            return false;
        }
        true
    }

    /// Forgets the card under `key`, at once.
    #[cfg(test)]
    pub(crate) async fn invalidate(&self, key: &CardKey) {
        self.cache.invalidate(key).await;
        // moka lets go of a removed value when it next does its
        // housekeeping.
        self.cache.run_pending_tasks().await;
    }

    /// Forgets every card (new templates): later inserts of work started
    /// before this are dropped.
    pub fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.cache.invalidate_all();
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

    /// Bytes held, after moka's pending housekeeping.
    pub async fn weighted_size(&self) -> u64 {
        self.cache.run_pending_tasks().await;
        self.cache.weighted_size()
    }

    /// Entries held, after moka's pending housekeeping.
    pub async fn entry_count(&self) -> u64 {
        self.cache.run_pending_tasks().await;
        self.cache.entry_count()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use sharecard_render::card::CardRequest;

    pub(crate) fn card(i: usize) -> CardRequest {
        crate::test_support::report(&format!("role=R{i}&risk=50"))
    }

    pub(crate) fn key(i: usize) -> CardKey {
        KeyedCard::new(card(i), "v1", Format::Png).key()
    }

    pub(crate) fn png(etag: &str) -> Arc<Png> {
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
    }

    #[tokio::test]
    async fn nothing_started_before_an_invalidation_survives_it() {
        let cache = ByteCache::new(1 << 20, Duration::from_secs(60), Arc::new(Metrics::new()));
        let before = cache.generation();
        assert!(cache.insert(before, key(0), png("a")).await);
        cache.invalidate_all();
        assert!(cache.get(&key(0)).await.is_none());
        // Work that began before the invalidation lands after it: dropped.
        assert!(!cache.insert(before, key(1), png("b")).await);
        assert!(cache.get(&key(1)).await.is_none());
        assert_eq!(cache.entry_count().await, 0);
        assert!(cache.insert(cache.generation(), key(1), png("c")).await);
        assert_eq!(cache.get(&key(1)).await.unwrap().etag.as_ref(), "c");
    }
}
