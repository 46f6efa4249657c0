//! `GET|HEAD /cards/{template}.png?…`: the card image, in stages: which
//! card the target names, whether the client already has it, the bytes
//! (cached or rendered), and the response for the range asked for.

use std::sync::Arc;

use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Request, Response, StatusCode};
use sharecard_render::card::query::Params;
use sharecard_render::render::{Png, Renderer};

use super::{Outcome, parse_card};
use crate::cache::{CacheStatus, ParsedTarget};
use crate::http::conditional::{Range, if_none_match, range};
use crate::http::error::ApiError;
use crate::http::pages;
use crate::http::response::{Body, error_response};
use crate::http::state::AppState;
use crate::signing::unix_now;

pub(super) async fn card<B>(
    state: &Arc<AppState>,
    req: &Request<B>,
    outcome: &mut Outcome,
) -> Result<Response<Body>, ApiError> {
    let renderer = state.renderer();
    let now = unix_now();
    let parsed = target_card(state, &renderer, req, now).await?;

    // The ETag names the card and the template version, not the bytes: it
    // is known before rendering, so a revalidation never renders. A cached
    // card carries it, computed when it was rendered.
    let cached = state.cache.get_cached(&parsed, now).await;
    let etag = match &cached {
        Some(png) => png.etag.clone(),
        None => renderer.etag(parsed.card.req()).into(),
    };
    if if_none_match(req.headers(), &etag) {
        let mut resp = Response::new(Body::default());
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        card_headers(state, &mut resp, &etag);
        return Ok(resp);
    }
    let (png, status) = match cached {
        Some(png) => (png, CacheStatus::Hit),
        None => render(state, &parsed).await?,
    };
    outcome.cache = Some(status);
    let mut resp = png_body(req.headers(), &png, &etag);
    if resp.status() == StatusCode::RANGE_NOT_SATISFIABLE {
        return Ok(resp);
    }
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if parsed.attachment
        && let Ok(v) = HeaderValue::from_str(&pages::content_disposition(parsed.card.req()))
    {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    card_headers(state, &mut resp, &etag);
    Ok(resp)
}

/// The card the request target names: remembered from an earlier request
/// (which skips the parser, see `CardCache::parsed`), or parsed, verified
/// and remembered now.
async fn target_card<B>(
    state: &Arc<AppState>,
    renderer: &Arc<Renderer>,
    req: &Request<B>,
    now: u64,
) -> Result<Arc<ParsedTarget>, ApiError> {
    let target = req.uri().path_and_query().map_or("", |pq| pq.as_str());
    if let Some(parsed) = state.cache.parsed(target, renderer, now).await {
        return Ok(parsed);
    }
    let named = parse_card(state, renderer, req, "/cards/", ".png")?;
    let attachment = download(&named.params)?;
    Ok((state.cache)
        .remember(target, named.card, attachment, named.expires, renderer)
        .await)
}

/// The card's bytes from the cache, rendered now if need be, within
/// `--render-timeout`.
async fn render(
    state: &AppState,
    parsed: &ParsedTarget,
) -> Result<(Arc<Png>, CacheStatus), ApiError> {
    match tokio::time::timeout(state.args.render_timeout, state.cache.get(&parsed.card)).await {
        Ok(got) => Ok(got?),
        // The render goes on and lands in the cache for the next try.
        Err(_) => Err(ApiError::unavailable(
            "render_timeout",
            "the card took too long to render; retry shortly",
            1,
        )),
    }
}

/// The whole body, or the one range asked for, or the finished 416.
fn png_body(headers: &HeaderMap, png: &Png, etag: &str) -> Response<Body> {
    let total = png.bytes.len();
    // Ranges only from the bytes a card keeps (see `Png::is_final`).
    let range = if png.is_final {
        range(headers, etag, total)
    } else {
        Range::Full
    };
    match range {
        Range::Full => {
            let mut r = Response::new(Body::new(png.bytes.clone()));
            // Room for every header a card carries, so inserting them never
            // grows the map.
            *r.headers_mut() = HeaderMap::with_capacity(16);
            r.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(total));
            r
        }
        Range::Part(start, end) => {
            let mut r = Response::new(Body::new(png.bytes.slice(start..=end)));
            *r.status_mut() = StatusCode::PARTIAL_CONTENT;
            let h = r.headers_mut();
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start + 1));
            h.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes {start}-{end}/{total}")).expect("ascii"),
            );
            r
        }
        Range::Unsatisfiable => {
            let mut r = error_response(&ApiError::new(
                416,
                "range_not_satisfiable",
                format!("the image has {total} bytes"),
            ));
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{total}")).expect("ascii"),
            );
            r
        }
    }
}

/// `download=1` asks for the card as an attachment.
fn download(params: &Params) -> Result<bool, ApiError> {
    match params.get("download")? {
        None | Some("0" | "false") => Ok(false),
        Some("1" | "true") => Ok(true),
        Some(other) => Err(ApiError::bad_request(
            "invalid_download",
            Some("download"),
            format!("`download` must be 1 or 0, got {other:?}"),
        )),
    }
}

fn card_headers(state: &AppState, resp: &mut Response<Body>, etag: &str) {
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, state.cache_control.clone());
    // Crawlers and <img> on other origins both fetch cards.
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
}
