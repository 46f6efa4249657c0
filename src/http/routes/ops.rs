//! What operators and crawlers' housekeeping ask for: health, readiness,
//! metrics, robots.txt, the favicon and the template list.

use bytes::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use crate::http::error::ApiError;
use crate::http::pages;
use crate::http::response::{Body, json, no_store, text};
use crate::http::state::{AppState, Readiness};
use crate::telemetry::Exposition;

/// `/healthz`: the process answers.
pub(super) fn healthz() -> Response<Body> {
    json(StatusCode::OK, r#"{"status":"ok"}"#.to_owned())
}

/// `/readyz`: the start-up self-test render passed.
/// Not ready either while a `--templates-dir` reload hangs: the service
/// still answers with the last good templates, but cannot take edits.
pub(super) fn readyz(state: &AppState) -> Result<Response<Body>, ApiError> {
    match state.readiness() {
        Readiness::Ready => {}
        Readiness::Starting => return Err(ApiError::unavailable("not_ready", "starting up", 1)),
        Readiness::Failed => {
            return Err(ApiError::unavailable(
                "not_ready",
                "the start-up self-test render failed (the log says why); fix the templates \
                 or fonts and restart",
                30,
            ));
        }
    }
    if let Some(running) = state.stuck_reload() {
        return Err(ApiError::unavailable(
            "not_ready",
            format!(
                "a --templates-dir reload has not finished after {} s; requests get the last \
                 templates that loaded",
                running.as_secs()
            ),
            5,
        ));
    }
    Ok(json(StatusCode::OK, r#"{"status":"ready"}"#.to_owned()))
}

/// `/metrics`: OpenMetrics for scrapers that ask for it, else the
/// Prometheus text format.
pub(super) async fn metrics<B>(state: &AppState, req: &hyper::Request<B>) -> Response<Body> {
    state.cache().sync_metrics().await;
    let renderer = state.renderer();
    state.metrics.set_templates(
        renderer
            .templates()
            .infos()
            .map(|t| (t.name.as_str(), t.version.as_str())),
    );
    let format = Exposition::negotiate(
        req.headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok()),
    );
    let mut resp = Response::new(Body::new(Bytes::from(state.metrics.encode(format))));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    resp.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("accept"));
    no_store(&mut resp);
    resp
}

/// `/`: the front page, for people who open the service's address.
pub(super) fn home(state: &AppState) -> Response<Body> {
    let mut resp = text(
        pages::home(
            &state.renderer(),
            &state.settings.signer,
            &state.settings.level_bands,
        ),
        "text/html; charset=utf-8",
    );
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    resp
}

/// `/robots.txt`: crawlers may fetch share pages and cards.
pub(super) fn robots() -> Response<Body> {
    let mut resp = text(pages::ROBOTS_TXT.to_owned(), "text/plain; charset=utf-8");
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    resp
}

/// `/favicon.ico`: browsers ask for it with every share page. The card's
/// risk ring, 32×32, a PNG in an ICO container (478 bytes).
pub(super) fn favicon() -> Response<Body> {
    const ICON: &[u8] = include_bytes!("../pages/favicon.ico");
    let mut resp = Response::new(Body::new(Bytes::from_static(ICON)));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("image/vnd.microsoft.icon"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(ICON.len()));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=604800"),
    );
    resp
}

/// `/templates`: each template's size, fields and version; with
/// `--templates-dir`, why the files do not load, if they do not (the
/// gallery polls this to refresh itself).
pub(super) fn templates(state: &AppState, reload_error: Option<String>) -> Response<Body> {
    let renderer = state.renderer();
    let bands = &state.settings.level_bands;
    let list: Vec<serde_json::Value> = renderer
        .templates()
        .infos()
        .map(|info| {
            let mut t = serde_json::to_value(info).expect("serialisable");
            let mut parameters = crate::http::openapi::card_parameters(&info.schema);
            parameters["download"] = crate::http::openapi::download_schema();
            t["summary"] = info.schema.summary.clone().into();
            t["description"] = info.schema.description.clone().into();
            t["parameters"] = parameters;
            // Its first sample, as a URL the service would hand out.
            if let Some(req) = info.schema.samples.first().and_then(|s| {
                renderer
                    .templates()
                    .sample_request(&info.name, s, "", bands)
                    .ok()
            }) {
                t["example"] = crate::http::urls::card_url(
                    &state.settings.signer,
                    &req,
                    crate::cache::Format::Png,
                    &info.version,
                    false,
                    u64::MAX,
                )
                .into();
            }
            t
        })
        .collect();
    // The report card's parameters, as before templates had their own.
    let parameters = list
        .iter()
        .find(|t| t["name"] == "report")
        .or(list.first())
        .map(|t| t["parameters"].clone())
        .unwrap_or_default();
    let mut doc = serde_json::json!({
        "templates": list,
        "formats": crate::http::openapi::card_formats(),
        "parameters": parameters,
    });
    if let Some(error) = reload_error {
        doc["reload_error"] = error.into();
    }
    let body = serde_json::to_string(&doc).expect("serialisable");
    json(StatusCode::OK, body)
}

/// `/openapi.json`: the API in OpenAPI 3.1, for the templates loaded now.
pub(super) fn openapi(state: &AppState) -> Response<Body> {
    let doc = crate::http::openapi::document(&state.renderer(), &state.settings.site.public_url);
    json(
        StatusCode::OK,
        serde_json::to_string_pretty(&doc).expect("serialisable"),
    )
}
