//! HTTP routes: from a request to a response, with no I/O but the cache.
//!
//! Every response, success or error, is built here; every client mistake
//! becomes an [`ApiError`] with a JSON body (an HTML page for the routes
//! people open). Nothing in this module panics on input (the integration
//! tests throw hostile requests at it). What a request names is parsed in
//! `http::request`; the access log is `telemetry::access`.

mod card;
mod ops;
mod share;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, Request, Response};

use super::error::ApiError;
use super::pages;
use super::reload;
use super::request::MAX_URI_BYTES;
use super::response::{
    Body, content_length, error_page_response, error_response, method_not_allowed,
};
use super::route::Route;
use super::state::AppState;
use crate::pool::CacheStatus;
use crate::telemetry::access::{Served, record};

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
    // The one reading of the clock a request makes: expiry, freshness and
    // remembered targets all answer for this second.
    let now = state.clock.now();
    let request_id = request_id(&state, req.headers());
    let mut outcome = Outcome {
        route: Route::Other,
        cache: None,
    };
    let mut resp = match route(&state, &req, origin, now, &mut outcome).await {
        Ok(resp) => resp,
        Err(err) if outcome.route.is_for_people() => {
            let page = pages::error_page(
                &err,
                state.renderer().brand(),
                &state.settings.site.site_url,
            );
            error_page_response(&err, page)
        }
        Err(err) => error_response(&err),
    };
    // HEAD gets GET's headers, Content-Length included; hyper drops the body.
    resp.headers_mut()
        .insert("x-request-id", request_id.clone());
    record(
        &state.metrics,
        &Served {
            method: req.method(),
            uri: req.uri(),
            headers: req.headers(),
            peer: origin.peer,
            trusted: &state.settings.trusted_proxies,
            route: outcome.route.as_str(),
            card: outcome.route == Route::Card,
            status: resp.status().as_u16(),
            // What hyper writes: nothing for HEAD and 304, else
            // Content-Length.
            bytes: if req.method() == Method::HEAD {
                0
            } else {
                content_length(&resp)
            },
            elapsed: started.elapsed(),
            cache: outcome.cache.map_or("-", |c| c.as_str()),
            request_id: &request_id,
        },
    );
    resp
}

async fn route<B>(
    state: &Arc<AppState>,
    req: &Request<B>,
    origin: Origin,
    now: u64,
    outcome: &mut Outcome,
) -> Result<Response<Body>, ApiError> {
    let uri = req.uri();
    // With --metrics-listen, metrics are on that port only, and that port
    // answers nothing but operations.
    let route = match (Route::of(uri.path()), origin.ops_port) {
        (r @ (Route::Healthz | Route::Readyz | Route::Metrics), true) => r,
        (_, true) => Route::Other,
        (Route::Metrics, false) if state.settings.ops_listen.is_some() => Route::Other,
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
    // --templates-dir (a development aid): the answer after an edit uses
    // the edited templates, or says why they do not load. A stat of the
    // folder's files per request; nothing without the flag.
    let reload_error = if state.settings.reloads_templates() && reload::applies_to(route) {
        state.reload_if_changed().await
    } else {
        None
    };
    match route {
        Route::Home => Ok(ops::home(state)),
        Route::Healthz => Ok(ops::healthz()),
        Route::Readyz => ops::readyz(state),
        Route::Metrics => Ok(ops::metrics(state, req).await),
        Route::Robots => Ok(ops::robots()),
        Route::Favicon => Ok(ops::favicon()),
        Route::Templates => Ok(ops::templates(state, reload_error)),
        Route::OpenApi => Ok(ops::openapi(state)),
        Route::Preview => Ok(share::preview(state, reload_error)),
        Route::Share => share::share(state, req, now),
        Route::Card => card::card(state, req, now, outcome).await,
        Route::Other => unreachable!("answered above"),
    }
}

/// What a 404 lists.
const ROUTES: &str = "/, /cards/{template}.png, /cards/{template}.webp, /share/{template}, /templates, /openapi.json, /preview, \
                      /robots.txt, /favicon.ico, /healthz, /readyz and /metrics";

/// A known route written with a trailing slash (`/cards/report.png/`):
/// a permanent redirect to it without, the query kept. The `Location` is a
/// path: the request's host never goes into a response.
fn without_trailing_slash(uri: &hyper::Uri, origin: Origin) -> Option<Response<Body>> {
    let path = uri.path();
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() || trimmed.len() == path.len() || origin.ops_port {
        return None;
    }
    // `/share/` is the share pages' own folder, answered in place.
    if Route::of(trimmed) == Route::Other || trimmed == "/share" {
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
