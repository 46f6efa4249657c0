//! How long caches may keep a card (RFC 9111): the caching contract that
//! the README's "Behind a CDN" section writes down.
//!
//! - A card's first response may be a *draft*: the fast encoding, which
//!   recompression replaces with smaller bytes moments later. A draft has
//!   its own strong ETag (`"…-fast"`) and a short lifetime
//!   (`--draft-max-age`), so a CDN comes back for the final bytes and gets
//!   them as a 200 with their own ETag, never a 304 that would keep the
//!   draft.
//! - The final bytes get `--cache-control`, or `--versioned-cache-control`
//!   (immutable by default) when the URL's `v` is the template's current
//!   version: what such a URL shows can only change with a new `v`.
//! - Share pages get `--cache-control`.
//! - A response to a URL with `exp` is never fresh past it (RFC 9111
//!   §4.2): its `max-age` (and `s-maxage`) are cut to the seconds left,
//!   `immutable`, `stale-while-revalidate` and `stale-if-error` are
//!   dropped, and `must-revalidate` forbids serving it stale, so no cache
//!   answers for the URL after the origin would refuse it. This holds for
//!   drafts, final bytes, versioned URLs (an unsigned `v` cannot upgrade
//!   it) and share pages alike.

use std::time::Duration;

use hyper::header::HeaderValue;

/// The `Cache-Control` values, parsed once at start-up.
#[derive(Debug, Clone)]
pub(crate) struct Freshness {
    draft: HeaderValue,
    final_bytes: HeaderValue,
    versioned: HeaderValue,
}

impl Freshness {
    /// From `--cache-control`, `--versioned-cache-control` (empty: the
    /// same) and `--draft-max-age`.
    pub(crate) fn new(
        cache_control: &str,
        versioned_cache_control: &str,
        draft_max_age: Duration,
    ) -> anyhow::Result<Freshness> {
        let value = |flag: &str, v: &str| {
            HeaderValue::from_str(v)
                .map_err(|_| anyhow::anyhow!("{flag} is not a valid header value: {v:?}"))
        };
        let final_bytes = value("--cache-control", cache_control)?;
        let versioned = match versioned_cache_control.trim() {
            "" => final_bytes.clone(),
            v => value("--versioned-cache-control", v)?,
        };
        Ok(Freshness {
            draft: value("--draft-max-age", &draft(cache_control, draft_max_age))?,
            final_bytes,
            versioned,
        })
    }

    /// For a card's bytes: `is_final` as [`Png::is_final`], `versioned`
    /// when the URL names the current template version, `expires` the
    /// URL's `exp` (`u64::MAX` for none) and `now` Unix seconds.
    ///
    /// [`Png::is_final`]: sharecard_render::render::Png::is_final
    pub(crate) fn card(
        &self,
        is_final: bool,
        versioned: bool,
        expires: u64,
        now: u64,
    ) -> HeaderValue {
        let policy = match (is_final, versioned) {
            (false, _) => &self.draft,
            (true, false) => &self.final_bytes,
            (true, true) => &self.versioned,
        };
        until(policy, expires, now)
    }

    /// For a share page (see [`card`](Self::card) for `expires`).
    pub(crate) fn page(&self, expires: u64, now: u64) -> HeaderValue {
        until(&self.final_bytes, expires, now)
    }
}

/// `policy`, cut so that no cache holds the response as fresh at or after
/// `expires` (Unix seconds), when the verifier starts refusing the URL.
/// `now` is whole seconds, so the true time may be up to a second later:
/// the lifetime left is `expires - now - 1`.
fn until(policy: &HeaderValue, expires: u64, now: u64) -> HeaderValue {
    if expires == u64::MAX {
        return policy.clone();
    }
    let left = expires.saturating_sub(now.saturating_add(1));
    let text = policy.to_str().unwrap_or("");
    let mut out: Vec<String> = Vec::new();
    let mut has_max_age = false;
    for directive in text.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let (name, value) = directive.split_once('=').unwrap_or((directive, ""));
        let lower = name.trim().to_ascii_lowercase();
        match lower.as_str() {
            // Nothing stored: nothing to bound.
            "no-store" => return policy.clone(),
            "immutable" | "stale-while-revalidate" | "stale-if-error" | "must-revalidate" => {}
            "max-age" | "s-maxage" => {
                let secs = value.trim().trim_matches('"').parse::<u64>().unwrap_or(0);
                has_max_age |= lower == "max-age";
                out.push(format!("{lower}={}", secs.min(left)));
            }
            _ => out.push(directive.to_owned()),
        }
    }
    if !has_max_age {
        out.push(format!("max-age={left}"));
    }
    out.push("must-revalidate".to_owned());
    HeaderValue::from_str(&out.join(", ")).unwrap_or_else(|_| HeaderValue::from_static("no-store"))
}

/// A draft's `Cache-Control`: as shareable as the final bytes (a private or
/// no-store policy stays one), fresh for `max_age`.
fn draft(final_policy: &str, max_age: Duration) -> String {
    let has = |d: &str| {
        final_policy
            .split(',')
            .any(|p| p.trim().eq_ignore_ascii_case(d))
    };
    if has("no-store") {
        "no-store".to_owned()
    } else if has("private") {
        format!("private, max-age={}", max_age.as_secs())
    } else {
        format!("public, max-age={}", max_age.as_secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FINAL: &str = "public, max-age=86400, stale-while-revalidate=604800";
    const VERSIONED: &str = "public, max-age=31536000, immutable";
    const TEN: Duration = Duration::from_secs(10);

    /// The defaults of the flags.
    fn defaults() -> Freshness {
        Freshness::new(FINAL, VERSIONED, TEN).unwrap()
    }

    #[test]
    fn drafts_keep_the_policy_and_shorten_the_lifetime() {
        let ten = Duration::from_secs(10);
        for (policy, want) in [
            (
                "public, max-age=86400, stale-while-revalidate=604800",
                "public, max-age=10",
            ),
            ("private, max-age=600", "private, max-age=10"),
            ("no-store", "no-store"),
            ("max-age=60", "public, max-age=10"),
        ] {
            assert_eq!(draft(policy, ten), want, "{policy}");
        }
    }

    #[test]
    fn each_kind_of_response_gets_its_lifetime() {
        let f = defaults();
        const NEVER: u64 = u64::MAX;
        assert_eq!(f.card(false, true, NEVER, 0), "public, max-age=10");
        assert_eq!(f.card(false, false, NEVER, 0), "public, max-age=10");
        assert_eq!(
            f.card(true, false, NEVER, 0),
            "public, max-age=86400, stale-while-revalidate=604800"
        );
        assert_eq!(
            f.card(true, true, NEVER, 0),
            "public, max-age=31536000, immutable"
        );
        assert_eq!(f.page(NEVER, 0), f.card(true, false, NEVER, 0));
        let f = Freshness::new(FINAL, "", TEN).unwrap();
        assert_eq!(f.card(true, true, NEVER, 0), f.card(true, false, NEVER, 0));
        assert!(Freshness::new("bad\nvalue", VERSIONED, TEN).is_err());
    }

    #[test]
    fn nothing_is_fresh_past_exp() {
        let f = defaults();
        // 15 s left at whole second 1000: fresh for 14, the second that
        // `now` may already be into subtracted.
        for (is_final, versioned, want) in [
            (false, false, "public, max-age=10, must-revalidate"),
            (true, false, "public, max-age=14, must-revalidate"),
            (true, true, "public, max-age=14, must-revalidate"),
        ] {
            assert_eq!(f.card(is_final, versioned, 1015, 1000), want);
        }
        assert_eq!(f.page(1015, 1000), "public, max-age=14, must-revalidate");
        // At the last second, and past it (the verifier refuses those).
        assert_eq!(f.page(1001, 1000), "public, max-age=0, must-revalidate");
        assert_eq!(f.page(900, 1000), "public, max-age=0, must-revalidate");
        // Operators' policies keep their other directives.
        for (policy, want) in [
            ("no-store", "no-store"),
            (
                "private, max-age=600",
                "private, max-age=5, must-revalidate",
            ),
            (
                "public, s-maxage=3600, max-age=60, stale-if-error=99",
                "public, s-maxage=5, max-age=5, must-revalidate",
            ),
            ("public", "public, max-age=5, must-revalidate"),
            ("public, max-age=2", "public, max-age=2, must-revalidate"),
        ] {
            let v = HeaderValue::from_str(policy).unwrap();
            assert_eq!(until(&v, 106, 100), want, "{policy}");
        }
    }
}
