//! `GET|HEAD /cards/{template}.png?…` and `.webp`: the card image, in
//! stages: which
//! card the target names, whether the client already has it, the bytes
//! (cached or rendered), and the response for the range asked for.

use std::sync::Arc;

use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Request, Response, StatusCode};
use sharecard_render::card::query::Params;
use sharecard_render::render::{Png, Renderer, Timings};

use super::Outcome;
use crate::cache::{Format, KeyedCard};
use crate::http::conditional::{Range, if_none_match, range};
use crate::http::error::ApiError;
use crate::http::naming;
use crate::http::request::parse_card;
use crate::http::response::{Body, error_response};
use crate::http::state::AppState;
use crate::http::target::{ParsedTarget, TargetTerms};
use crate::pool::CacheStatus;

pub(super) async fn card<B>(
    state: &Arc<AppState>,
    req: &Request<B>,
    now: u64,
    outcome: &mut Outcome,
) -> Result<Response<Body>, ApiError> {
    let renderer = state.renderer();
    // Which card, and the request's own terms.
    let target = target_card(state, &renderer, req, now).await?;
    let terms = target.terms;
    // Every ETag names one body: the card, its template version and the
    // encoding of its bytes (see `Encoding`). A client that holds the bytes
    // this card settles in keeps them without a render: that tag is known
    // before rendering.
    let cached = state.targets.get_cached(state.cache(), &target, now).await;
    if cached.is_none() {
        let card = target.card.req();
        let webp = target.card.format() == Format::Webp;
        let recompress = state.settings.limits.recompress;
        let settled = renderer.etag(card, renderer.settled_encoding(card, webp, recompress));
        if if_none_match(req.headers(), &settled) {
            return Ok(not_modified(state, &settled, true, &terms, now));
        }
    }
    // The bytes: cached, or from the pool.
    let (png, rendered) = match cached {
        Some(png) => {
            outcome.cache = Some(CacheStatus::Hit);
            (png, None)
        }
        None => {
            let (png, status) = render(state, &renderer, &target).await?;
            outcome.cache = Some(status);
            let timings = png.timings;
            (png, Some(timings))
        }
    };
    if if_none_match(req.headers(), &png.etag) {
        return Ok(not_modified(state, &png.etag, png.is_final, &terms, now));
    }
    // The response, for the range asked for.
    let mut resp = png_body(req.headers(), &png);
    if resp.status() == StatusCode::RANGE_NOT_SATISFIABLE {
        return Ok(resp);
    }
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(png.encoding.media_type()),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if terms.attachment
        && let Ok(v) = HeaderValue::from_str(&naming::content_disposition(
            state.renderer().templates(),
            target.card.req(),
            target.card.format(),
        ))
    {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    card_headers(state, &mut resp, &png.etag, png.is_final, &terms, now);
    if let Some(t) = rendered {
        resp.headers_mut()
            .insert("server-timing", server_timing(&t));
    }
    Ok(resp)
}

/// `Server-Timing` of a response that waited for a render (W3C Server
/// Timing): a browser's devtools and a CDN's logs show where a slow miss
/// spent its time. Hits send none: the render was another request's.
fn server_timing(t: &Timings) -> HeaderValue {
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let v = format!(
        "queue;dur={:.2}, fit;dur={:.2}, render;dur={:.2}, encode;dur={:.2}",
        ms(t.queue),
        ms(t.fit),
        ms(t.render),
        ms(t.encode)
    );
    HeaderValue::from_str(&v).expect("ASCII")
}

/// 304: the client's copy is the body `etag` names, with that body's
/// freshness.
fn not_modified(
    state: &AppState,
    etag: &str,
    is_final: bool,
    terms: &TargetTerms,
    now: u64,
) -> Response<Body> {
    let mut resp = Response::new(Body::default());
    *resp.status_mut() = StatusCode::NOT_MODIFIED;
    card_headers(state, &mut resp, etag, is_final, terms, now);
    resp
}

/// The card the request target names: remembered from an earlier request
/// (which skips the parser, see `Targets::parsed`), or parsed, verified
/// and remembered now.
async fn target_card<B>(
    state: &Arc<AppState>,
    renderer: &Arc<Renderer>,
    req: &Request<B>,
    now: u64,
) -> Result<Arc<ParsedTarget>, ApiError> {
    let target = req.uri().path_and_query().map_or("", |pq| pq.as_str());
    if let Some(parsed) = state.targets.parsed(target, renderer, now).await {
        return Ok(parsed);
    }
    // The extension names the format; anything else is a template that
    // is not there, named with the PNG URLs.
    let format = Format::of_path(req.uri().path()).unwrap_or(Format::Png);
    let suffix = format!(".{}", format.as_str());
    let named = parse_card(state, renderer, req, "/cards/", &suffix, now)?;
    let version = renderer
        .templates()
        .info(named.card.template.as_str())
        .map(|info| info.version.as_str())
        .expect("parse_card checked the template");
    let v = named.params.get("v")?;
    let terms = TargetTerms {
        attachment: download(&named.params)?,
        versioned: v == Some(version),
        expires: named.expires,
    };
    let card = KeyedCard::new(named.card, version, format);
    Ok(state.targets.remember(target, card, terms, renderer).await)
}

/// The card's bytes from the pool (cached meanwhile, or rendered now by
/// the renderer that parsed it), within `--render-timeout`.
async fn render(
    state: &AppState,
    renderer: &Arc<Renderer>,
    target: &ParsedTarget,
) -> Result<(Arc<Png>, CacheStatus), ApiError> {
    let wait = state.settings.render_timeout;
    match tokio::time::timeout(wait, state.pool.get(renderer, &target.card)).await {
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
/// Ranges are served from drafts too: a draft's ETag names the draft's
/// bytes alone, so an `If-Range` with it gets the whole final body once
/// they are replaced, never a piece of other bytes.
fn png_body(headers: &HeaderMap, png: &Png) -> Response<Body> {
    let total = png.bytes.len();
    match range(headers, &png.etag, total) {
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

fn card_headers(
    state: &AppState,
    resp: &mut Response<Body>,
    etag: &str,
    is_final: bool,
    terms: &TargetTerms,
    now: u64,
) {
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        (state.settings.freshness).card(is_final, terms.versioned, terms.expires, now),
    );
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
