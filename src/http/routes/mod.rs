//! HTTP routes: from a request to a response, with no I/O but the cache.
//!
//! Every response, success or error, is built here; every client mistake
//! becomes an [`ApiError`] with a JSON body. Nothing in this module panics
//! on input (the integration tests throw hostile requests at it).

mod card;
mod ops;
mod share;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, Request, Response};
use sharecard_render::card::query::Params;
use sharecard_render::card::{CardRequest, TemplateName};
use sharecard_render::render::Renderer;

use super::error::ApiError;
use super::pages;
use super::response::{
    Body, content_length, error_page_response, error_response, method_not_allowed,
};
use super::state::AppState;
use crate::cache::CacheStatus;

/// Longest request target (path and query) accepted. Card URLs are a few
/// hundred bytes; 8 KiB is what common proxies allow.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// Every route the service answers, matched once from the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// `/`: the front page.
    Home,
    Healthz,
    Readyz,
    Metrics,
    Robots,
    Favicon,
    Templates,
    OpenApi,
    Preview,
    /// `/cards/{template}.png`
    Card,
    /// `/share/{template}`
    Share,
    /// Nothing here: 404.
    Other,
}

impl Route {
    fn of(path: &str) -> Route {
        match path {
            "/" => Route::Home,
            "/healthz" => Route::Healthz,
            "/readyz" => Route::Readyz,
            "/metrics" => Route::Metrics,
            "/robots.txt" => Route::Robots,
            "/favicon.ico" => Route::Favicon,
            "/templates" => Route::Templates,
            "/openapi.json" => Route::OpenApi,
            "/preview" => Route::Preview,
            p if p.starts_with("/cards/") => Route::Card,
            p if p.starts_with("/share/") => Route::Share,
            _ => Route::Other,
        }
    }

    /// Routes people open in a browser: their errors are HTML pages in
    /// words; every other route answers errors in JSON.
    fn is_for_people(self) -> bool {
        matches!(self, Route::Home | Route::Share | Route::Preview)
    }

    /// The route's name in metrics and logs.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Route::Home => "home",
            Route::Healthz => "healthz",
            Route::Readyz => "readyz",
            Route::Metrics => "metrics",
            Route::Robots => "robots",
            Route::Favicon => "favicon",
            Route::Templates => "templates",
            Route::OpenApi => "openapi",
            Route::Preview => "preview",
            Route::Card => "card",
            Route::Share => "share",
            Route::Other => "other",
        }
    }
}

/// What the access log needs to know about a handled request.
#[derive(Debug)]
struct Outcome {
    route: Route,
    cache: Option<CacheStatus>,
}

/// Where a request came from: the connection's peer, and the port it
/// arrived on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origin {
    pub(crate) peer: SocketAddr,
    /// The `--metrics-listen` port, which answers only `/metrics`,
    /// `/healthz` and `/readyz`.
    pub(crate) ops_port: bool,
}

pub(crate) async fn handle<B>(
    state: Arc<AppState>,
    req: Request<B>,
    origin: Origin,
) -> Response<Body> {
    let started = Instant::now();
    let request_id = request_id(&state, req.headers());
    let mut outcome = Outcome {
        route: Route::Other,
        cache: None,
    };
    let mut resp = match route(&state, &req, origin, &mut outcome).await {
        Ok(resp) => resp,
        Err(err) if outcome.route.is_for_people() => {
            let page = pages::error_page(&err, state.renderer().brand(), &state.args.site.site_url);
            error_page_response(&err, page)
        }
        Err(err) => error_response(&err),
    };
    // HEAD gets GET's headers, Content-Length included; hyper drops the body.
    resp.headers_mut()
        .insert("x-request-id", request_id.clone());
    record(&state, &req, &resp, &outcome, &request_id, origin, started);
    resp
}

/// Counts the request in metrics and writes its access log line.
fn record<B>(
    state: &AppState,
    req: &Request<B>,
    resp: &Response<Body>,
    outcome: &Outcome,
    request_id: &HeaderValue,
    origin: Origin,
    started: Instant,
) {
    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    let route = outcome.route.as_str();
    let m = &state.metrics;
    m.requests
        .get_or_create(&crate::telemetry::RequestLabels { route, status })
        .inc();
    m.request_duration
        .get_or_create(&crate::telemetry::RouteLabels { route })
        .observe(elapsed.as_secs_f64());
    // What hyper writes: nothing for HEAD and 304, else Content-Length.
    let bytes = if req.method() == Method::HEAD {
        0
    } else {
        content_length(resp)
    };
    if outcome.route == Route::Card && matches!(status, 200 | 206) {
        m.png_served_bytes.inc_by(bytes);
    }
    // Every request logs this line, so its fields are plain strings and
    // numbers: tracing records those directly, where `%`/`?` fields go
    // through the formatting machinery (the costliest part of a cache hit
    // once, `bench/loadtest.sh`). `ms` is rounded to 10 µs.
    let path = log_path(req.uri());
    let client = client_addr(origin.peer, req.headers(), &state.args.trusted_proxies);
    let mut client_buf = [0u8; 46];
    tracing::info!(
        client = fmt_ip(client, &mut client_buf),
        method = req.method().as_str(),
        path = &*path,
        status,
        bytes,
        ms = (elapsed.as_secs_f64() * 100_000.0).round() / 100.0,
        cache = outcome.cache.map_or("-", |c| c.as_str()),
        user_agent = req
            .headers()
            .get(hyper::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-"),
        request_id = request_id.to_str().unwrap_or("-"),
        "request"
    );
}

async fn route<B>(
    state: &Arc<AppState>,
    req: &Request<B>,
    origin: Origin,
    outcome: &mut Outcome,
) -> Result<Response<Body>, ApiError> {
    let uri = req.uri();
    // With --metrics-listen, metrics are on that port only, and that port
    // answers nothing but operations.
    let route = match (Route::of(uri.path()), origin.ops_port) {
        (r @ (Route::Healthz | Route::Readyz | Route::Metrics), true) => r,
        (_, true) => Route::Other,
        (Route::Metrics, false) if state.args.metrics_listen.is_some() => Route::Other,
        (r, false) => r,
    };
    outcome.route = route;
    if uri.path_and_query().map_or(0, |pq| pq.as_str().len()) > MAX_URI_BYTES {
        return Err(ApiError::new(
            414,
            "uri_too_long",
            format!("the request target may be at most {MAX_URI_BYTES} bytes"),
        ));
    }
    if let Some(resp) = without_trailing_slash(uri, origin) {
        return Ok(resp);
    }
    if route == Route::Other {
        return Err(ApiError::not_found(format!(
            "no route for {}; this service answers {ROUTES}",
            uri.path()
        )));
    }
    // Every route is read-only.
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return Err(method_not_allowed());
    }
    // --templates-dir (a development aid): the next card, page or list
    // after an edit uses the edited templates. A stat of the directory's
    // files per request; nothing without the flag.
    if state.args.card.templates_dir.is_some() && matches!(route, Route::Card | Route::Share) {
        state.reload_templates_if_changed().await;
    }
    match route {
        Route::Home => Ok(ops::home(state)),
        Route::Healthz => Ok(ops::healthz()),
        Route::Readyz => ops::readyz(state),
        Route::Metrics => Ok(ops::metrics(state, req).await),
        Route::Robots => Ok(ops::robots()),
        Route::Favicon => Ok(ops::favicon()),
        Route::Templates => Ok(ops::templates(state).await),
        Route::OpenApi => Ok(ops::openapi(state)),
        Route::Preview => Ok(share::preview(state).await),
        Route::Share => share::share(state, req),
        Route::Card => card::card(state, req, outcome).await,
        Route::Other => unreachable!("answered above"),
    }
}

/// What a 404 lists.
const ROUTES: &str = "/, /cards/{template}.png, /share/{template}, /templates, /openapi.json, /preview, \
                      /robots.txt, /healthz, /readyz and /metrics";

/// A known route written with a trailing slash (`/cards/report.png/`):
/// a permanent redirect to it without, the query kept. The `Location` is a
/// path: the request's host never goes into a response.
fn without_trailing_slash(uri: &hyper::Uri, origin: Origin) -> Option<Response<Body>> {
    let path = uri.path();
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() || trimmed.len() == path.len() || origin.ops_port {
        return None;
    }
    if Route::of(trimmed) == Route::Other {
        return None;
    }
    let target = match uri.query() {
        Some(q) => format!("{trimmed}?{q}"),
        None => trimmed.to_owned(),
    };
    let mut resp = Response::new(Body::default());
    *resp.status_mut() = hyper::StatusCode::PERMANENT_REDIRECT;
    resp.headers_mut().insert(
        hyper::header::LOCATION,
        HeaderValue::from_str(&target).ok()?,
    );
    Some(resp)
}

/// What a `/cards/…` or `/share/…` request names.
pub(super) struct Named {
    pub(super) card: CardRequest,
    pub(super) params: Params,
    /// When its signature expires ([`crate::signing::Signer::verify`]).
    pub(super) expires: u64,
}

/// The card a `/cards/…` or `/share/…` request names: template from the
/// path, card from the query, signature checked first when signing is on.
pub(super) fn parse_card<B>(
    state: &AppState,
    renderer: &Renderer,
    req: &Request<B>,
    prefix: &str,
    suffix: &str,
    now: u64,
) -> Result<Named, ApiError> {
    let path = req.uri().path();
    let name = path[prefix.len()..]
        .strip_suffix(suffix)
        .and_then(TemplateName::parse)
        .filter(|n| renderer.templates().info(n.as_str()).is_some())
        .ok_or_else(|| {
            let names: Vec<String> = renderer
                .templates()
                .infos()
                .map(|t| format!("{prefix}{}{suffix}", t.name.as_str()))
                .collect();
            ApiError::not_found(format!(
                "no card template at {path}; the templates are at {}",
                names.join(", ")
            ))
        })?;
    let params = Params::parse(req.uri().query())?;
    let expires = state.signer.verify(path, &params, now)?;
    let card = CardRequest::from_params(name, &params, &state.args.card.level_bands)?;
    renderer.check_coverage(&card.card)?;
    Ok(Named {
        card,
        params,
        expires,
    })
}

/// The client's address: the peer, or when the peer is a trusted proxy,
/// the last address in `X-Forwarded-For` that is not one (each proxy
/// appends the address it saw; only the ones we trust cannot lie).
fn client_addr(peer: SocketAddr, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = peer.ip().to_canonical();
    if !is_trusted(&client) {
        return client;
    }
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect::<Vec<_>>();
    for hop in hops.into_iter().rev() {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            break; // not an address: trust nothing before it
        };
        client = ip.to_canonical();
        if !is_trusted(&client) {
            break;
        }
    }
    client
}

/// `ip` as text, without allocating (an access log line per request).
fn fmt_ip(ip: IpAddr, buf: &mut [u8; 46]) -> &str {
    use std::io::Write;
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    let _ = write!(cursor, "{ip}");
    let len = usize::try_from(cursor.position()).unwrap_or(0);
    std::str::from_utf8(&buf[..len]).unwrap_or("-")
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
/// signature in a log is a credential in a log. A parameter is `sig` as the
/// verifier reads it, by its decoded name, so `si%67=…` is hidden too.
fn log_path(uri: &hyper::Uri) -> std::borrow::Cow<'_, str> {
    use crate::signing::is_param;
    let path = uri.path();
    match uri.query() {
        // Most requests carry no signature: logged as they came, uncopied.
        None => path.into(),
        Some(q) if !q.split('&').any(|p| is_param(p, "sig")) => {
            uri.path_and_query().map_or(path, |pq| pq.as_str()).into()
        }
        Some(q) => {
            let q: Vec<&str> = q
                .split('&')
                .map(|p| {
                    if is_param(p, "sig") {
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
    fn the_client_is_the_peer_unless_a_trusted_proxy_forwarded_it() {
        let trusted: Vec<ipnet::IpNet> = ["10.0.0.0/8", "127.0.0.1"]
            .iter()
            .map(|n| crate::config::parse_net(n).unwrap())
            .collect();
        let xff = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert("x-forwarded-for", v.parse().unwrap());
            h
        };
        let peer = |ip: &str| SocketAddr::new(ip.parse().unwrap(), 40000);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        for (from, headers, want) in [
            // An untrusted peer's header is ignored.
            ("203.0.113.9", xff("198.51.100.1"), "203.0.113.9"),
            ("127.0.0.1", HeaderMap::new(), "127.0.0.1"),
            ("127.0.0.1", xff("198.51.100.1"), "198.51.100.1"),
            // A client cannot prepend a fake: the last untrusted hop wins.
            (
                "127.0.0.1",
                xff("1.2.3.4, 198.51.100.1, 10.1.2.3"),
                "198.51.100.1",
            ),
            ("127.0.0.1", xff("garbage, 10.1.2.3"), "10.1.2.3"),
            ("::ffff:127.0.0.1", xff("2001:db8::1"), "2001:db8::1"),
        ] {
            assert_eq!(
                client_addr(peer(from), &headers, &trusted),
                ip(want),
                "{from} {headers:?}"
            );
        }
        let mut buf = [0u8; 46];
        let v6 = ip("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255");
        assert_eq!(fmt_ip(v6, &mut buf), v6.to_string());
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
            // Spelled as the verifier decodes it.
            ("/c?si%67=SECRET&a=1", "/c?sig=REDACTED&a=1"),
            ("/c?%73%69%67=SECRET", "/c?sig=REDACTED"),
            ("/c?si%6=SECRET", "/c?sig=REDACTED"),
            ("/c?a%20b=1&sig+=2", "/c?a%20b=1&sig+=2"),
            ("/c?design=sig=1&xsig=2", "/c?design=sig=1&xsig=2"),
        ] {
            let uri: hyper::Uri = uri.parse().unwrap();
            assert_eq!(log_path(&uri), logged);
        }
    }
}
