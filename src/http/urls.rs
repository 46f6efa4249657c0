//! The URLs the service hands out for its own cards.

use sharecard_render::card::CardRequest;

use crate::signing::Signer;

/// Path and query of a card image, with the template version as `v`
/// (crawlers key caches on URLs, so a new look needs a new URL), signed
/// when signing is on.
pub(crate) fn card_url(
    signer: &Signer,
    card: &CardRequest,
    version: &str,
    download: bool,
) -> String {
    let path = format!("/cards/{}.png", card.template);
    let mut query = format!("{}&v={version}", card.canonical_query());
    if download {
        query += "&download=1";
    }
    if signer.enabled() {
        signer
            .sign_url(&path, &query)
            .expect("canonical queries parse")
    } else {
        format!("{path}?{query}")
    }
}
