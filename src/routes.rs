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
use crate::card::{CardRequest, TemplateName};
use crate::error::ApiError;
use crate::fonts::hex;
use crate::query::Params;
use crate::server::AppState;

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
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    let m = &state.metrics;
    m.requests
        .get_or_create(&crate::telemetry::RequestLabels { route: outcome.route, status })
        .inc();
    m.request_duration
        .get_or_create(&crate::telemetry::RouteLabels { route: outcome.route })
        .observe(elapsed.as_secs_f64());
    if status == 200 && outcome.route == "card" && method == Method::GET {
        m.png_bytes_served.inc_by(content_length(&resp));
    }
    tracing::info!(
        method = %method,
        path = %log_path(req.uri()),
        status,
        ms = format_args!("{:.2}", elapsed.as_secs_f64() * 1000.0),
        cache = outcome.cache.map_or("-", |c| c.as_str()),
        request_id = %request_id,
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
        p if p.starts_with("/cards/") => ("card", &[Method::GET, Method::HEAD]),
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
        _ => card(state, req, outcome).await,
    }
}

/// `GET|HEAD /cards/{template}.png?…`
async fn card<B>(
    state: &Arc<AppState>,
    req: &Request<B>,
    outcome: &mut Outcome,
) -> Result<Response<Body>, ApiError> {
    let renderer = state.cache.renderer();
    let name = req.uri().path()["/cards/".len()..]
        .strip_suffix(".png")
        .and_then(TemplateName::parse)
        .filter(|n| renderer.templates().info(n.as_str()).is_some())
        .ok_or_else(|| ApiError::not_found(format!("no card template at {}", req.uri().path())))?;
    let params = Params::parse(req.uri().query())?;
    let card = CardRequest::from_params(name, &params, &state.args.card.level_bands)?;
    renderer.check_coverage(&card.card)?;

    // The ETag names the card and the template version, not the bytes: it
    // is known before rendering, so a revalidation never renders.
    let etag = etag(state, &card);
    if if_none_match(req.headers(), &etag) {
        let mut resp = Response::new(Body::default());
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        card_headers(state, &mut resp, &etag);
        return Ok(resp);
    }

    let got = tokio::time::timeout(state.args.render_timeout, state.cache.get(&card)).await;
    let (png, status) = match got {
        Ok(r) => r?,
        Err(_) => {
            // The render goes on and lands in the cache for the next try.
            return Err(ApiError::unavailable(
                "render_timeout",
                "the card took too long to render; retry shortly",
                1,
            ));
        }
    };
    outcome.cache = Some(status);
    let len = png.bytes.len();
    let mut resp = Response::new(Body::new(png.bytes));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    card_headers(state, &mut resp, &etag);
    Ok(resp)
}

fn card_headers(state: &AppState, resp: &mut Response<Body>, etag: &str) {
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, state.cache_control.clone());
    // Crawlers and <img> on other origins both fetch cards.
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
}

/// Strong validator: template version (template source, fonts, renderer
/// epoch), brand and the canonical card.
pub fn etag(state: &AppState, card: &CardRequest) -> String {
    use sha2::Digest;
    let renderer = state.cache.renderer();
    let version = renderer
        .templates()
        .info(card.template.as_str())
        .map_or("", |i| i.version.as_str());
    let mut h = sha2::Sha256::new();
    for part in [
        version,
        renderer.brand(),
        card.template.as_str(),
        &card.canonical_query(),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    format!("\"{}\"", hex(&h.finalize()[..12]))
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
    let len = body.len();
    let mut resp = Response::new(Body::new(Bytes::from(body)));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    no_store(&mut resp);
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
fn request_id(state: &AppState, headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| state.next_request_id())
}

/// The path and query for logs, without a `sig` parameter's value: a
/// signature in a log is a credential in a log.
fn log_path(uri: &hyper::Uri) -> String {
    let path = uri.path();
    match uri.query() {
        None => path.to_owned(),
        Some(q) => {
            let q: Vec<&str> = q
                .split('&')
                .map(|p| if p.starts_with("sig=") { "sig=REDACTED" } else { p })
                .collect();
            format!("{path}?{}", q.join("&"))
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
    fn log_path_redacts_signatures() {
        let uri: hyper::Uri = "/cards/report.png?role=a&sig=SECRET&risk=1".parse().unwrap();
        assert_eq!(log_path(&uri), "/cards/report.png?role=a&sig=REDACTED&risk=1");
    }
}
