//! HTTP routes: from a request to a response, with no I/O but the cache.
//!
//! Every response, success or error, is built here; every client mistake
//! becomes an [`ApiError`] with a JSON body. Nothing in this module panics
//! on input (the integration tests throw hostile requests at it).

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::cache::CacheStatus;
use crate::card::{CardRequest, Scale, TemplateName};
use crate::error::ApiError;
use crate::pages;
use crate::query::{Params, encode_component};
use crate::render::Renderer;
use crate::server::AppState;
use crate::signing::unix_now;

pub type Body = Full<Bytes>;

/// Longest request target (path and query) accepted. Card URLs are a few
/// hundred bytes; 8 KiB is what common proxies allow.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// What the access log needs to know about a handled request.
#[derive(Debug, Default)]
pub struct Outcome {
    pub route: &'static str,
    pub cache: Option<CacheStatus>,
}

pub async fn handle<B>(state: Arc<AppState>, req: Request<B>) -> Response<Body> {
    let started = Instant::now();
    let request_id = request_id(&state, req.headers());
    let method = req.method().clone();
    let mut outcome = Outcome::default();
    let mut resp = match route(&state, &req, &mut outcome).await {
        Ok(resp) => resp,
        Err(err) => error_response(&err),
    };
    // HEAD gets GET's headers, Content-Length included; hyper drops the body.
    resp.headers_mut()
        .insert("x-request-id", request_id.clone());
    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    let m = &state.metrics;
    m.requests
        .get_or_create(&crate::telemetry::RequestLabels {
            route: outcome.route,
            status,
        })
        .inc();
    m.request_duration
        .get_or_create(&crate::telemetry::RouteLabels {
            route: outcome.route,
        })
        .observe(elapsed.as_secs_f64());
    if status == 200 && outcome.route == "card" && method == Method::GET {
        m.png_bytes_served.inc_by(content_length(&resp));
    }
    // Every request logs this line, so its fields are plain strings and
    // numbers: tracing records those directly, where `%`/`?` fields go
    // through the formatting machinery (a quarter of a cache hit's cost
    // was this line). `ms` is rounded to 10 µs.
    let path = log_path(req.uri());
    tracing::info!(
        method = method.as_str(),
        path = &*path,
        status,
        ms = (elapsed.as_secs_f64() * 100_000.0).round() / 100.0,
        cache = outcome.cache.map_or("-", |c| c.as_str()),
        request_id = request_id.to_str().unwrap_or("-"),
        "request"
    );
    resp
}

async fn route<B>(
    state: &Arc<AppState>,
    req: &Request<B>,
    outcome: &mut Outcome,
) -> Result<Response<Body>, ApiError> {
    let uri = req.uri();
    if uri.path_and_query().map_or(0, |pq| pq.as_str().len()) > MAX_URI_BYTES {
        outcome.route = "other";
        return Err(ApiError::new(
            414,
            "uri_too_long",
            format!("the request target may be at most {MAX_URI_BYTES} bytes"),
        ));
    }
    let path = uri.path();
    let (route, allowed): (&'static str, &[Method]) = match path {
        "/healthz" => ("healthz", &[Method::GET, Method::HEAD]),
        "/readyz" => ("readyz", &[Method::GET, Method::HEAD]),
        "/metrics" => ("metrics", &[Method::GET, Method::HEAD]),
        "/robots.txt" => ("robots", &[Method::GET, Method::HEAD]),
        "/templates" => ("templates", &[Method::GET, Method::HEAD]),
        "/preview" => ("preview", &[Method::GET, Method::HEAD]),
        p if p.starts_with("/cards/") => ("card", &[Method::GET, Method::HEAD]),
        p if p.starts_with("/share/") => ("share", &[Method::GET, Method::HEAD]),
        _ => ("other", &[]),
    };
    outcome.route = route;
    if allowed.is_empty() {
        return Err(ApiError::not_found(format!("no route for {path}")));
    }
    if !allowed.contains(req.method()) {
        return Err(method_not_allowed());
    }
    match route {
        "healthz" => Ok(json(StatusCode::OK, r#"{"status":"ok"}"#.to_owned())),
        "readyz" => {
            if state.is_ready() {
                Ok(json(StatusCode::OK, r#"{"status":"ready"}"#.to_owned()))
            } else {
                Err(ApiError::unavailable("not_ready", "starting up", 1))
            }
        }
        "metrics" => {
            state.cache.sync_metrics().await;
            let mut resp = Response::new(Body::new(Bytes::from(state.metrics.encode())));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            no_store(&mut resp);
            Ok(resp)
        }
        "robots" => {
            let mut resp = text(pages::ROBOTS_TXT.to_owned(), "text/plain; charset=utf-8");
            resp.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            );
            Ok(resp)
        }
        "templates" => {
            let renderer = state.renderer();
            let list: Vec<_> = renderer.templates().infos().collect();
            let body = serde_json::to_string(&serde_json::json!({ "templates": list }))
                .expect("serialisable");
            Ok(json(StatusCode::OK, body))
        }
        "preview" => preview(state, req).await,
        "share" => share(state, req),
        _ => card(state, req, outcome).await,
    }
}

/// What a `/cards/…` or `/share/…` request names.
struct Named {
    card: CardRequest,
    params: Params,
    /// When its signature expires ([`crate::signing::Signer::verify`]).
    expires: u64,
}

/// The card a `/cards/…` or `/share/…` request names: template from the
/// path, card from the query, signature checked first when signing is on.
fn parse_card<B>(
    state: &AppState,
    renderer: &Renderer,
    req: &Request<B>,
    prefix: &str,
    suffix: &str,
) -> Result<Named, ApiError> {
    let path = req.uri().path();
    let name = path[prefix.len()..]
        .strip_suffix(suffix)
        .and_then(TemplateName::parse)
        .filter(|n| renderer.templates().info(n.as_str()).is_some())
        .ok_or_else(|| ApiError::not_found(format!("no card template at {path}")))?;
    let params = Params::parse(req.uri().query())?;
    let expires = state.signer.verify(path, &params, unix_now())?;
    let card = CardRequest::from_params(name, &params, &state.args.card.level_bands)?;
    renderer.check_coverage(&card.card)?;
    Ok(Named {
        card,
        params,
        expires,
    })
}

/// `GET|HEAD /share/{template}?…`: the page a shared link points to.
fn share<B>(state: &Arc<AppState>, req: &Request<B>) -> Result<Response<Body>, ApiError> {
    let renderer = state.renderer();
    let card = parse_card(state, &renderer, req, "/share/", "")?.card;
    let info = renderer
        .templates()
        .info(card.template.as_str())
        .expect("parse_card checked the template");
    let site = &state.args.site;
    let base = site.public_url.trim_end_matches('/');
    let (title, description, alt) = pages::describe(&card);
    // The image at 1x, with the template version in the URL: crawlers key
    // their caches on the URL, so a new look must be a new URL.
    let image = CardRequest {
        scale: Scale::ONE,
        ..card.clone()
    };
    let image_url = format!("{base}{}", state.card_url(&image, &info.version, false));
    let hidpi = Scale::new(2).expect("2 is a scale");
    let download = CardRequest {
        scale: hidpi,
        ..card.clone()
    };
    let download_url = format!("{base}{}", state.card_url(&download, &info.version, true));
    let page = pages::SharePage {
        title,
        description,
        alt,
        site_name: renderer.brand().to_owned(),
        page_url: format!("{base}{}", req.uri()),
        image_url,
        download_url,
        hidpi: true,
        file_name: pages::download_name(&download).0,
        role_url: format!(
            "{}{}",
            site.site_url.trim_end_matches('/'),
            site.role_path.replace(
                "{slug}",
                &encode_component(&pages::slug(card.card.role.as_str()))
            )
        ),
        width: info.width,
        height: info.height,
    };
    let mut resp = text(page.render(), "text/html; charset=utf-8");
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, state.cache_control.clone());
    Ok(resp)
}

/// `GET /preview`: every template × theme for the sample cards.
async fn preview<B>(state: &Arc<AppState>, _req: &Request<B>) -> Result<Response<Body>, ApiError> {
    let reload_error = state.reload_templates_if_changed().await;
    let html = pages::preview(state, reload_error);
    let mut resp = text(html, "text/html; charset=utf-8");
    no_store(&mut resp);
    Ok(resp)
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

/// `GET|HEAD /cards/{template}.png?…`
async fn card<B>(
    state: &Arc<AppState>,
    req: &Request<B>,
    outcome: &mut Outcome,
) -> Result<Response<Body>, ApiError> {
    // A target seen before skips the parser (see `CardCache::parsed`).
    let target = req.uri().path_and_query().map_or("", |pq| pq.as_str());
    let renderer = state.renderer();
    let now = unix_now();
    let parsed = match state.cache.parsed(target, &renderer, now).await {
        Some(parsed) => parsed,
        None => {
            let named = parse_card(state, &renderer, req, "/cards/", ".png")?;
            let attachment = download(&named.params)?;
            (state.cache)
                .remember(target, named.card, attachment, named.expires, &renderer)
                .await
        }
    };
    let (keyed, attachment) = (&parsed.card, parsed.attachment);
    let card = keyed.req();

    // The ETag names the card and the template version, not the bytes: it
    // is known before rendering, so a revalidation never renders. A cached
    // card carries it, computed when it was rendered.
    let cached = state.cache.get_cached(&parsed, now).await;
    let etag = match &cached {
        Some(png) => png.etag.clone(),
        None => renderer.etag(card).into(),
    };
    if if_none_match(req.headers(), &etag) {
        let mut resp = Response::new(Body::default());
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        card_headers(state, &mut resp, &etag);
        return Ok(resp);
    }

    let (png, status) = match cached {
        Some(png) => (png, CacheStatus::Hit),
        None => {
            let got = tokio::time::timeout(state.args.render_timeout, state.cache.get(keyed)).await;
            match got {
                Ok(r) => r?,
                Err(_) => {
                    // The render goes on and lands in the cache for the next
                    // try.
                    return Err(ApiError::unavailable(
                        "render_timeout",
                        "the card took too long to render; retry shortly",
                        1,
                    ));
                }
            }
        }
    };
    outcome.cache = Some(status);
    let total = png.bytes.len();
    // Ranges only from the bytes a card keeps (see `Png::is_final`).
    let range = if png.is_final {
        range(req.headers(), &etag, total)
    } else {
        Range::Full
    };
    let mut resp = match range {
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
            return Ok(r);
        }
    };
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
    resp.headers_mut()
        .insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if attachment && let Ok(v) = HeaderValue::from_str(&pages::content_disposition(card)) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    card_headers(state, &mut resp, &etag);
    Ok(resp)
}

#[derive(Debug, PartialEq, Eq)]
enum Range {
    Full,
    /// Inclusive byte offsets.
    Part(usize, usize),
    Unsatisfiable,
}

/// RFC 9110 §14: one `bytes=` range is served as 206; several ranges,
/// other units, a syntax error or a stale `If-Range` get the whole body
/// (which the RFC allows); a range past the end is 416.
fn range(headers: &HeaderMap, etag: &str, total: usize) -> Range {
    let Some(spec) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Range::Full;
    };
    if let Some(if_range) = headers.get(header::IF_RANGE)
        && if_range.to_str().ok() != Some(etag)
    {
        return Range::Full;
    }
    let Some(spec) = spec.trim().strip_prefix("bytes=") else {
        return Range::Full;
    };
    if spec.contains(',') {
        return Range::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Range::Full;
    };
    let num = |s: &str| -> Option<usize> {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())).then(|| s.parse().ok())?
    };
    match (a.trim(), b.trim()) {
        ("", suffix) => match num(suffix) {
            Some(0) => Range::Unsatisfiable,
            Some(n) if total > 0 => Range::Part(total.saturating_sub(n), total - 1),
            Some(_) => Range::Unsatisfiable,
            None => Range::Full,
        },
        (start, "") => match num(start) {
            Some(s) if s < total => Range::Part(s, total - 1),
            Some(_) => Range::Unsatisfiable,
            None => Range::Full,
        },
        (start, end) => match (num(start), num(end)) {
            (Some(s), Some(e)) if s <= e && s < total => Range::Part(s, e.min(total - 1)),
            (Some(s), Some(e)) if s <= e => Range::Unsatisfiable,
            _ => Range::Full,
        },
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

/// RFC 9110 §13.1.2: `If-None-Match` uses weak comparison, `*` matches any.
fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.trim_start_matches("W/") == etag)
}

fn method_not_allowed() -> ApiError {
    ApiError::new(405, "method_not_allowed", "use GET or HEAD")
}

pub fn error_response(err: &ApiError) -> Response<Body> {
    let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = json(status, err.to_json());
    if err.status == 405 {
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    }
    if let Some(secs) = err.retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

fn json(status: StatusCode, body: String) -> Response<Body> {
    let mut resp = text(body, "application/json; charset=utf-8");
    *resp.status_mut() = status;
    no_store(&mut resp);
    resp
}

fn text(body: String, content_type: &'static str) -> Response<Body> {
    let len = body.len();
    let mut resp = Response::new(Body::new(Bytes::from(body)));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    resp
}

fn no_store(resp: &mut Response<Body>) {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn content_length(resp: &Response<Body>) -> u64 {
    resp.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A client's `X-Request-Id` if it is short and printable, else our own.
fn request_id(state: &AppState, headers: &HeaderMap) -> HeaderValue {
    headers
        .get("x-request-id")
        .filter(|v| {
            let v = v.as_bytes();
            !v.is_empty() && v.len() <= 64 && v.iter().all(|b| b.is_ascii_graphic())
        })
        .cloned()
        .unwrap_or_else(|| state.next_request_id())
}

/// The path and query for logs, without a `sig` parameter's value: a
/// signature in a log is a credential in a log.
fn log_path(uri: &hyper::Uri) -> std::borrow::Cow<'_, str> {
    let path = uri.path();
    match uri.query() {
        // Most requests carry no signature: logged as they came, uncopied.
        None => path.into(),
        Some(q) if !q.split('&').any(|p| p.starts_with("sig=")) => {
            uri.path_and_query().map_or(path, |pq| pq.as_str()).into()
        }
        Some(q) => {
            let q: Vec<&str> = q
                .split('&')
                .map(|p| {
                    if p.starts_with("sig=") {
                        "sig=REDACTED"
                    } else {
                        p
                    }
                })
                .collect();
            format!("{path}?{}", q.join("&")).into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_forms() {
        let etag = "\"abc\"";
        let cases: &[(&[&str], bool)] = &[
            (&[], false),
            (&["\"abc\""], true),
            (&["W/\"abc\""], true),
            (&["\"x\", \"abc\""], true),
            (&["\"x\"", "\"abc\""], true),
            (&["*"], true),
            (&["\"abcd\""], false),
            (&["abc"], false),
        ];
        for (values, want) in cases {
            let mut h = HeaderMap::new();
            for v in *values {
                h.append(header::IF_NONE_MATCH, HeaderValue::from_str(v).unwrap());
            }
            assert_eq!(if_none_match(&h, etag), *want, "{values:?}");
        }
    }

    #[test]
    fn ranges() {
        let cases: &[(&str, Option<&str>, Range)] = &[
            ("bytes=0-99", None, Range::Part(0, 99)),
            ("bytes=0-524288", None, Range::Part(0, 999)),
            ("bytes=500-", None, Range::Part(500, 999)),
            ("bytes=-100", None, Range::Part(900, 999)),
            ("bytes=-5000", None, Range::Part(0, 999)),
            ("bytes=999-999", None, Range::Part(999, 999)),
            ("bytes=1000-", None, Range::Unsatisfiable),
            ("bytes=1000-2000", None, Range::Unsatisfiable),
            ("bytes=-0", None, Range::Unsatisfiable),
            ("bytes=5-1", None, Range::Full),
            ("bytes=0-1,5-9", None, Range::Full),
            ("items=0-1", None, Range::Full),
            ("bytes=a-b", None, Range::Full),
            ("bytes=0-99", Some("\"e\""), Range::Part(0, 99)),
            ("bytes=0-99", Some("\"old\""), Range::Full),
        ];
        for (spec, if_range, want) in cases {
            let mut h = HeaderMap::new();
            h.insert(header::RANGE, HeaderValue::from_str(spec).unwrap());
            if let Some(v) = if_range {
                h.insert(header::IF_RANGE, HeaderValue::from_str(v).unwrap());
            }
            assert_eq!(&range(&h, "\"e\"", 1000), want, "{spec} {if_range:?}");
        }
        assert_eq!(range(&HeaderMap::new(), "\"e\"", 1000), Range::Full);
    }

    #[test]
    fn log_path_redacts_signatures() {
        for (uri, logged) in [
            ("/healthz", "/healthz"),
            (
                "/cards/report.png?role=a&risk=1",
                "/cards/report.png?role=a&risk=1",
            ),
            (
                "/cards/report.png?role=a&sig=SECRET&risk=1",
                "/cards/report.png?role=a&sig=REDACTED&risk=1",
            ),
            ("/c?sig=", "/c?sig=REDACTED"),
            ("/c?design=sig=1&xsig=2", "/c?design=sig=1&xsig=2"),
        ] {
            let uri: hyper::Uri = uri.parse().unwrap();
            assert_eq!(log_path(&uri), logged);
        }
    }
}
