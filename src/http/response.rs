//! Response builders shared by every route: JSON, text, errors.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use super::error::ApiError;

pub(crate) type Body = Full<Bytes>;

pub(super) fn method_not_allowed() -> ApiError {
    ApiError::new(405, "method_not_allowed", "use GET or HEAD")
}

/// An error for API clients: the JSON body.
pub(super) fn error_response(err: &ApiError) -> Response<Body> {
    error_with_body(err, err.to_json(), "application/json; charset=utf-8")
}

/// An error for people: `page`, an HTML page that says it in words.
pub(super) fn error_page_response(err: &ApiError, page: String) -> Response<Body> {
    error_with_body(err, page, "text/html; charset=utf-8")
}

fn error_with_body(err: &ApiError, body: String, content_type: &'static str) -> Response<Body> {
    let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = text(body, content_type);
    *resp.status_mut() = status;
    no_store(&mut resp);
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

pub(super) fn json(status: StatusCode, body: String) -> Response<Body> {
    let mut resp = text(body, "application/json; charset=utf-8");
    *resp.status_mut() = status;
    no_store(&mut resp);
    resp
}

pub(super) fn text(body: String, content_type: &'static str) -> Response<Body> {
    let len = body.len();
    let mut resp = Response::new(Body::new(Bytes::from(body)));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    resp
}

pub(super) fn no_store(resp: &mut Response<Body>) {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

pub(super) fn content_length(resp: &Response<Body>) -> u64 {
    resp.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        // Bodies whose length hyper writes itself.
        .or_else(|| hyper::body::Body::size_hint(resp.body()).exact())
        .unwrap_or(0)
}
