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

use hyper::header::HeaderValue;

use crate::config::ServeArgs;

/// The `Cache-Control` values, parsed once at start-up.
#[derive(Debug, Clone)]
pub(crate) struct Freshness {
    draft: HeaderValue,
    final_bytes: HeaderValue,
    versioned: HeaderValue,
}

impl Freshness {
    pub(crate) fn new(args: &ServeArgs) -> anyhow::Result<Freshness> {
        let value = |flag: &str, v: &str| {
            HeaderValue::from_str(v)
                .map_err(|_| anyhow::anyhow!("{flag} is not a valid header value: {v:?}"))
        };
        let final_bytes = value("--cache-control", &args.cache_control)?;
        let versioned = match args.versioned_cache_control.trim() {
            "" => final_bytes.clone(),
            v => value("--versioned-cache-control", v)?,
        };
        Ok(Freshness {
            draft: value(
                "--draft-max-age",
                &draft(&args.cache_control, args.draft_max_age),
            )?,
            final_bytes,
            versioned,
        })
    }

    /// For a card's bytes: `is_final` as [`Png::is_final`], `versioned`
    /// when the URL names the current template version.
    ///
    /// [`Png::is_final`]: sharecard_render::render::Png::is_final
    pub(crate) fn card(&self, is_final: bool, versioned: bool) -> &HeaderValue {
        match (is_final, versioned) {
            (false, _) => &self.draft,
            (true, false) => &self.final_bytes,
            (true, true) => &self.versioned,
        }
    }

    /// For a share page.
    pub(crate) fn page(&self) -> &HeaderValue {
        &self.final_bytes
    }
}

/// A draft's `Cache-Control`: as shareable as the final bytes (a private or
/// no-store policy stays one), fresh for `max_age`.
fn draft(final_policy: &str, max_age: std::time::Duration) -> String {
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
    use std::time::Duration;

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
        let args = ServeArgs::for_tests();
        let f = Freshness::new(&args).unwrap();
        assert_eq!(f.card(false, true), "public, max-age=10");
        assert_eq!(f.card(false, false), "public, max-age=10");
        assert_eq!(
            f.card(true, false),
            "public, max-age=86400, stale-while-revalidate=604800"
        );
        assert_eq!(f.card(true, true), "public, max-age=31536000, immutable");
        assert_eq!(f.page(), f.card(true, false));
        let mut args = ServeArgs::for_tests();
        args.versioned_cache_control = String::new();
        let f = Freshness::new(&args).unwrap();
        assert_eq!(f.card(true, true), f.card(true, false));
        args.cache_control = "bad\nvalue".into();
        assert!(Freshness::new(&args).is_err());
    }
}
