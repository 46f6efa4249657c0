//! People's pages: `/share/{template}`, the page a shared link points to,
//! and `/preview`, the template authors' gallery.

use std::sync::Arc;

use hyper::header;
use hyper::{Request, Response};
use sharecard_render::card::naming::slug;
use sharecard_render::card::query::encode_component;
use sharecard_render::card::{CardRequest, Scale};

use crate::cache::Format;
use crate::http::error::ApiError;
use crate::http::pages;
use crate::http::request::parse_card;
use crate::http::response::{Body, no_store, text};
use crate::http::state::AppState;
use crate::http::urls;

/// `GET|HEAD /share/{template}?…`: the page a shared link points to.
pub(super) fn share<B>(
    state: &Arc<AppState>,
    req: &Request<B>,
    now: u64,
) -> Result<Response<Body>, ApiError> {
    let renderer = state.renderer();
    let named = parse_card(state, &renderer, req, "/share/", "", now)?;
    let card = named.card;
    let info = renderer
        .templates()
        .info(card.template.as_str())
        .expect("parse_card checked the template");
    let site = &state.settings.site;
    let base = &site.public_url;
    let words = renderer
        .templates()
        .describe(&card)
        .map_err(|e| ApiError::internal(format!("the card's wording failed: {e:#}")))?;
    // The image at 1x, with the template version in the URL: crawlers key
    // their caches on the URL, so a new look must be a new URL.
    let image = CardRequest {
        scale: Scale::ONE,
        ..card.clone()
    };
    let image_path = state.card_url(&image, Format::Png, &info.version, false, named.expires);
    let webp_path = state.card_url(&image, Format::Webp, &info.version, false, named.expires);
    let hidpi = Scale::new(2).expect("2 is a scale");
    let download = CardRequest {
        scale: hidpi,
        ..card.clone()
    };
    let download_path = state.card_url(&download, Format::Png, &info.version, true, named.expires);
    let page = pages::SharePage {
        title: words.title,
        description: words.summary,
        alt: words.alt,
        site_name: renderer.brand().to_owned(),
        // Never the request target: over HTTP/2 or in absolute form it
        // carries a scheme and host, and it keeps tracking parameters.
        page_url: format!(
            "{base}{}",
            urls::share_url(&state.settings.signer, &card, named.expires)
        ),
        image_url: format!("{base}{image_path}"),
        image_path,
        webp_path,
        download_path,
        hidpi: true,
        file_name: renderer.templates().file_name(&download).ascii,
        // The site's page for the card's role, when the card has one.
        role_url: match card.card.text("role") {
            Some(role) => format!(
                "{}{}",
                site.site_url.trim_end_matches('/'),
                site.role_path
                    .replace("{slug}", &encode_component(&slug(role)))
            ),
            None => site.site_url.clone(),
        },
        width: info.width,
        height: info.height,
    };
    let mut resp = text(page.render(), "text/html; charset=utf-8");
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        state.settings.freshness.page(named.expires, now),
    );
    Ok(resp)
}

/// `GET /preview`: every template × theme for the sample cards, and why
/// the templates of `--templates-dir` do not load, if they do not.
pub(super) fn preview(state: &Arc<AppState>, reload_error: Option<String>) -> Response<Body> {
    let html = pages::preview(
        &state.renderer(),
        &state.settings.signer,
        state.settings.reloads_templates(),
        reload_error,
    );
    let mut resp = text(html, "text/html; charset=utf-8");
    no_store(&mut resp);
    resp
}
