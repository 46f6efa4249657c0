//! Request targets already parsed: a repeated card URL skips the query
//! parser, and within a second its card is taken from the target itself.

use std::sync::{Arc, Mutex, Weak};

use sharecard_render::card::CardRequest;
use sharecard_render::render::{Png, Renderer};

use super::key::KeyedCard;
use super::{CardCache, ENTRY_BYTES};

/// A `/cards/…` request target (path and query, as sent) that parsed into a
/// card and passed the signature check: what answering it again needs,
/// without parsing it again.
#[derive(Debug)]
pub struct ParsedTarget {
    pub card: KeyedCard,
    pub terms: TargetTerms,
    /// The renderer whose templates and fonts accepted the card. A `Weak`,
    /// so its address cannot be reused by a later renderer while this
    /// entry lives.
    pub(super) renderer: Weak<Renderer>,
    /// The card's cached PNG as last found in the card cache, and the
    /// second (Unix time) it was found in (see [`CardCache::get_cached`]).
    pub(super) found: Mutex<(Weak<Png>, u64)>,
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
pub(super) fn request_bytes(k: &CardRequest) -> usize {
    let card = &k.card;
    ENTRY_BYTES
        + FOUND_BYTES
        + card.role.as_str().len()
        + card.tagline.as_ref().map_or(0, |t| t.as_str().len())
        + card.threat.as_ref().map_or(0, |t| t.task.as_str().len())
}

/// Request targets are kept for at most this share of the card budget:
/// a fraction, since each is a few hundred bytes beside a card's ~35 KB.
pub(super) const TARGET_SHARE: u64 = 32;

impl CardCache {
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
        (now < parsed.terms.expires
            && std::ptr::eq(parsed.renderer.as_ptr(), Arc::as_ptr(renderer)))
        .then_some(parsed)
    }

    /// Remembers that `target` parsed to `card` under `renderer`.
    pub async fn remember(
        &self,
        target: &str,
        card: CardRequest,
        terms: TargetTerms,
        renderer: &Arc<Renderer>,
    ) -> Arc<ParsedTarget> {
        let parsed = Arc::new(ParsedTarget {
            card: KeyedCard::new(card),
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
    /// lookups miss the CPU's caches: one lookup instead of two took a
    /// sixth off a hit's user CPU over 1,000 cards (`bench/loadtest.sh`,
    /// hits over 1,000 cards; `cache/hit_by_target` in the `cache` bench).
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
}
