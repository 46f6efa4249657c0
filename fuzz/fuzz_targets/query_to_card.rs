//! Raw query bytes → `Params::parse` → `CardRequest::from_params`.
//!
//! Properties checked on every input:
//! * nothing panics, whatever the bytes (parse errors are fine);
//! * `Params` re-encoded with `encode_component` parses back to the same
//!   `Params` (the encoder and the strict decoder agree);
//! * on `Ok(card)`, `card.canonical_query()` is URL-safe, parses again to an
//!   equal `CardRequest`, and is a fixed point (canonicalising twice gives
//!   the same string): the cache key and the ETag depend on that.
//!
//! The input is tried twice: whole, as the query of `/cards/report.png`,
//! and split at its first `?` into a template name and a query, the way a
//! request path `/cards/<name>.png?<query>` arrives (`tasks?tasks.0.name=…`
//! reaches the list parser).

#![no_main]

use libfuzzer_sys::fuzz_target;
use sharecard_render::card::{CardRequest, LevelBands, TemplateName};
use sharecard_render::card::query::{Params, encode_component};

fuzz_target!(|data: &[u8]| {
    // Hyper hands the service a `&str` query; non-UTF-8 bytes cannot arrive
    // raw, only %-escaped. Lossy conversion still exercises every shape.
    let text = String::from_utf8_lossy(data);
    let report = TemplateName::parse("report").expect("valid name");
    check(&report, &text);
    if let Some((name, query)) = text.split_once('?') {
        // A bad name is a 404 before the query is looked at.
        if let Some(template) = TemplateName::parse(name) {
            check(&template, query);
        }
    }
});

fn check(template: &TemplateName, query: &str) {
    let bands = LevelBands::default();
    let Ok(params) = Params::parse(Some(query)) else {
        return;
    };

    // Encoder/decoder agreement on whatever decoded.
    let reencoded = params
        .iter()
        .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
        .collect::<Vec<_>>()
        .join("&");
    let again = Params::parse(Some(&reencoded))
        .unwrap_or_else(|e| panic!("re-encoded params {reencoded:?} do not parse: {e:?}"));
    assert_eq!(again, params, "re-encoded params differ: {reencoded:?}");

    // A template the bundled set lacks is a 404 before the query is read.
    let Ok(schema) = sharecard_render::template::bundled_schema(template.as_str()) else {
        return;
    };
    let Ok(card) = CardRequest::from_params(template.clone(), &schema, &params, &bands) else {
        return;
    };

    let canonical = card.canonical_query();
    assert!(
        canonical.bytes().all(|b| b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~' | b'%' | b'&' | b'=')),
        "canonical query is not URL-safe: {canonical:?}"
    );
    let params2 = Params::parse(Some(&canonical))
        .unwrap_or_else(|e| panic!("canonical {canonical:?} of {query:?} does not parse: {e:?}"));
    let card2 = CardRequest::from_params(template.clone(), &schema, &params2, &bands).unwrap_or_else(|e| {
        panic!("canonical {canonical:?} of {query:?} is rejected: {e:?}")
    });
    assert_eq!(
        card2, card,
        "round trip changed the card: {query:?} → {canonical:?}"
    );
    assert_eq!(
        card2.canonical_query(),
        canonical,
        "canonical query is not a fixed point"
    );
}
