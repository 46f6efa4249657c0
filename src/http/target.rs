//! A card request's own facts: the card its target names (under which
//! template version and format), whether it is a download, whether its
//! URL is versioned, and when its signature expires. Targets already
//! parsed are remembered: a repeated card URL skips the query parser, and
//! within a second its card is taken from the target itself.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use moka::future::Cache;
use sharecard_render::card::CardRequest;
use sharecard_render::render::{Png, Renderer};

use crate::cache::{ByteCache, ENTRY_BYTES, KeyedCard};

/// A `/cards/…` request target (path and query, as sent) that parsed into a
/// card and passed the signature check: what answering it again needs,
/// without parsing it again.
#[derive(Debug)]
pub struct ParsedTarget {
    pub(crate) card: KeyedCard,
    pub(crate) terms: TargetTerms,
    /// The renderer whose templates and fonts accepted the card. A `Weak`,
    /// so its address cannot be reused by a later renderer while this
    /// entry lives.
    renderer: Weak<Renderer>,
    /// The card's cached PNG as last found in the card cache, and the
    /// second (Unix time) it was found in (see [`Targets::get_cached`]).
    found: Mutex<(Weak<Png>, u64)>,
}

/// What a target asks for beyond its card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetTerms {
    /// `download=1`: served as an attachment.
    pub attachment: bool,
    /// Its `v` is the version of the template that accepted it: what the
    /// target shows cannot change while this renderer serves it.
    pub versioned: bool,
    /// Unix seconds at which the target's signature expires (its `exp`);
    /// `u64::MAX` when it never does.
    pub expires: u64,
}

impl TargetTerms {
    /// A target with none of the above.
    pub const PLAIN: TargetTerms = TargetTerms {
        attachment: false,
        versioned: false,
        expires: u64::MAX,
    };
}

/// What a [`ParsedTarget`]'s `Weak<Png>` keeps allocated after the card
/// has left the cache: the `Arc`'s counts and the `Png` struct (its bytes
/// go with the card).
const FOUND_BYTES: usize = std::mem::size_of::<Png>() + 2 * std::mem::size_of::<usize>();

/// Roughly what a card request costs in memory: its texts, plus what moka
/// and the structs add.
fn request_bytes(k: &CardRequest) -> usize {
    let card = &k.card;
    ENTRY_BYTES + FOUND_BYTES + card.texts().iter().map(|(_, t)| t.len()).sum::<usize>()
}

/// Request targets are kept for at most this share of the card budget:
/// a fraction, since each is a few hundred bytes beside a card's tens of
/// kilobytes.
const TARGET_SHARE: u64 = 32;

/// Request targets seen before, bounded beside the card cache. Clones
/// share the targets.
#[derive(Clone)]
pub struct Targets {
    targets: Cache<Box<str>, Arc<ParsedTarget>>,
}

impl Targets {
    /// Room for `cache_bytes / 32` of targets, each kept at most `ttl`.
    pub fn new(cache_bytes: u64, ttl: Duration) -> Targets {
        Targets {
            targets: Cache::<Box<str>, Arc<ParsedTarget>>::builder()
                .max_capacity(cache_bytes / TARGET_SHARE)
                .weigher(|k, v| {
                    u32::try_from(k.len() + request_bytes(v.card.req())).unwrap_or(u32::MAX)
                })
                .time_to_live(ttl)
                .build(),
        }
    }

    /// What `target` parsed to when it was last seen, if `renderer` is the
    /// one that accepted it and its signature has not expired at `now`.
    ///
    /// Cache hits are mostly the same URLs again (crawlers, browsers, CDNs
    /// revalidating), and parsing the query into a card is a good part of a
    /// hit's CPU (`stage/parse_query_to_card` in the pipeline bench against
    /// `cache/hit_by_target`). Only targets that parsed and verified are remembered, so
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
        (now < parsed.terms.expires
            && std::ptr::eq(parsed.renderer.as_ptr(), Arc::as_ptr(renderer)))
        .then_some(parsed)
    }

    /// Remembers that `target` parsed to `card` under `renderer`.
    pub async fn remember(
        &self,
        target: &str,
        card: KeyedCard,
        terms: TargetTerms,
        renderer: &Arc<Renderer>,
    ) -> Arc<ParsedTarget> {
        let parsed = Arc::new(ParsedTarget {
            card,
            terms,
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
    /// moka (the target, then its card), and over many cycled cards moka's
    /// lookups miss the CPU's caches: one lookup instead of two is what
    /// `bench/loadtest.sh`'s hits over 1,000 cards and `cache/hit_by_target`
    /// in the `cache` bench measure.
    ///
    /// What this gives up, for one second at most: the cache sees one use
    /// a second per target (for its eviction order and its admission
    /// counts), and a card evicted, expired or replaced by its recompressed
    /// bytes is still served from the target if something else (a response
    /// being sent) still holds it. The `Weak` never keeps a card alive.
    pub async fn get_cached(
        &self,
        cache: &ByteCache,
        target: &ParsedTarget,
        now: u64,
    ) -> Option<Arc<Png>> {
        {
            let found = target.found.lock().expect("not poisoned");
            if found.1 == now
                && let Some(png) = found.0.upgrade()
            {
                cache.count_hit();
                return Some(png);
            }
        }
        let png = cache.get(&target.card.key()).await;
        *target.found.lock().expect("not poisoned") =
            (png.as_ref().map_or_else(Weak::new, Arc::downgrade), now);
        png
    }

    /// Forgets every target (new templates, under which each must be
    /// parsed again).
    pub fn invalidate_all(&self) {
        self.targets.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::Format;
    use crate::cache::tests::{card, key, png};
    use crate::telemetry::Metrics;
    use crate::test_support::renderer;

    fn keyed(i: usize) -> KeyedCard {
        KeyedCard::new(card(i), "v1", Format::Png)
    }

    #[tokio::test]
    async fn a_remembered_target_holds_for_its_renderer_until_it_expires() {
        let (renderer, other) = (renderer(), renderer());
        let cache = Targets::new(1 << 20, Duration::from_secs(60));
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
        cache.remember(t, keyed(0), terms, &renderer).await;
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
        cache.invalidate_all();
        assert!(cache.parsed(t, &renderer, 100).await.is_none());
    }

    #[tokio::test]
    async fn a_target_asks_the_cache_for_its_card_once_a_second() {
        let renderer = renderer();
        let targets = Targets::new(1 << 20, Duration::from_secs(60));
        let cache = ByteCache::new(1 << 20, Duration::from_secs(60), Arc::new(Metrics::new()));
        let target = targets
            .remember(
                "/cards/report.png?role=R0&risk=50",
                keyed(0),
                TargetTerms::PLAIN,
                &renderer,
            )
            .await;
        let found = |got: Option<Arc<Png>>| got.map(|p| p.etag.to_string());
        let fresh = cache.generation();
        assert_eq!(found(targets.get_cached(&cache, &target, 100).await), None);

        let (first, second) = (png("first"), png("second"));
        cache.insert(fresh, key(0), first.clone()).await;
        assert_eq!(
            found(targets.get_cached(&cache, &target, 100).await).as_deref(),
            Some("first")
        );
        // Recompressed within the same second, while a response still
        // holds the first bytes: the target keeps them until the second
        // is over, then asks the cache.
        cache.insert(fresh, key(0), second.clone()).await;
        assert_eq!(
            found(targets.get_cached(&cache, &target, 100).await).as_deref(),
            Some("first")
        );
        assert_eq!(
            found(targets.get_cached(&cache, &target, 101).await).as_deref(),
            Some("second")
        );
        // Evicted: once nothing else holds the card, not even the same
        // second finds it.
        drop((first, second));
        cache.invalidate(&key(0)).await;
        assert_eq!(found(targets.get_cached(&cache, &target, 101).await), None);
        // Evicted while a response still holds it: served until the second
        // is over, never after.
        let third = png("third");
        cache.insert(fresh, key(0), third.clone()).await;
        assert_eq!(
            found(targets.get_cached(&cache, &target, 102).await).as_deref(),
            Some("third")
        );
        cache.invalidate(&key(0)).await;
        assert_eq!(
            found(targets.get_cached(&cache, &target, 102).await).as_deref(),
            Some("third")
        );
        assert_eq!(found(targets.get_cached(&cache, &target, 103).await), None);
        assert_eq!(
            found(targets.get_cached(&cache, &target, 102).await),
            None,
            "the clock went back"
        );
        drop(third);
    }
}
