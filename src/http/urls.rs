//! The URLs the service hands out for its own cards.

use sharecard_render::card::CardRequest;

use crate::cache::Format;
use crate::signing::Signer;

/// Path and query of a card image in `format`, with the template version as `v`
/// (crawlers key caches on URLs, so a new look needs a new URL), signed
/// when signing is on. `expires` is the `exp` of the URL this one is
/// derived from (`u64::MAX` for none): an image a share page derives from
/// an expiring link expires with it, or the page's expiry would mean
/// nothing for the image it shows.
pub(crate) fn card_url(
    signer: &Signer,
    card: &CardRequest,
    format: Format,
    version: &str,
    download: bool,
    expires: u64,
) -> String {
    // The signature covers the path, so each format's URL is signed on
    // its own.
    let path = format!("/cards/{}.{}", card.template, format.as_str());
    let mut query = format!("{}&v={version}", card.canonical_query());
    if download {
        query += "&download=1";
    }
    if expires != u64::MAX {
        query += &format!("&exp={expires}");
    }
    signer
        .url(&path, &query, &|p| card.card.schema().is_param(p))
        .expect("canonical queries parse")
}

/// Path and query of a card's share page, as og:url and canonical give
/// it: the card's canonical query at 1x (the page is the same for every
/// scale), so every spelling of one card, with or without tracking
/// parameters, has one URL. An `exp` the request carried is kept, and the
/// URL signed when signing is on: a crawler that follows og:url must be
/// let in.
pub(crate) fn share_url(signer: &Signer, card: &CardRequest, expires: u64) -> String {
    let path = format!("/share/{}", card.template);
    let page = CardRequest {
        scale: sharecard_render::card::Scale::ONE,
        ..card.clone()
    };
    let mut query = page.canonical_query();
    if expires != u64::MAX {
        query += &format!("&exp={expires}");
    }
    signer
        .url(&path, &query, &|p| card.card.schema().is_param(p))
        .expect("canonical queries parse")
}
