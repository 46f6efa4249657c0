//! The one error type a client ever sees, and the one place statuses are
//! chosen for the errors of the layers below.
//!
//! Every failure that reaches HTTP becomes an [`ApiError`], serialised as
//! `{"error":{"code":"…","message":"…","field":"…"}}`. `code` is stable and
//! machine-readable; `message` is for people and may change. The card's own
//! errors ([`CardError`]), the signature's ([`Denied`]) and the cache's
//! ([`RenderError`]) know no statuses; the `From` impls below give them.

use serde::Serialize;
use sharecard_render::error::CardError;

use crate::pool::RenderError;
use crate::signing::Denied;

/// Every `code` an error body can carry, with its status: the OpenAPI
/// document's enum (`openapi.rs`), and what the integration tests check
/// each error they see against.
pub const ERROR_CODES: &[(u16, &str)] = &[
    (400, "empty_field"),
    (400, "invalid_character"),
    (400, "invalid_download"),
    (400, "invalid_encoding"),
    (400, "invalid_enum"),
    (400, "invalid_image"),
    (400, "invalid_integer"),
    (400, "invalid_level"),
    (400, "invalid_parameter"),
    (400, "invalid_percent"),
    (400, "invalid_scale"),
    (400, "invalid_theme"),
    (400, "missing_field"),
    (400, "missing_item"),
    (400, "repeated_parameter"),
    (400, "too_few_items"),
    (400, "too_long"),
    (400, "too_many_items"),
    (400, "too_many_marks"),
    (400, "too_many_parameters"),
    (403, "signature_missing"),
    (403, "signature_malformed"),
    (403, "signature_invalid"),
    (403, "signature_expired"),
    (404, "not_found"),
    (405, "method_not_allowed"),
    (414, "uri_too_long"),
    (416, "range_not_satisfiable"),
    (422, "unsupported_characters"),
    (500, "internal"),
    (503, "overloaded"),
    (503, "render_timeout"),
    (503, "not_ready"),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) field: Option<String>,
    /// Seconds for a `Retry-After` header (only on 503).
    pub(crate) retry_after: Option<u32>,
}

impl ApiError {
    pub(crate) fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    pub(crate) fn bad_request(
        code: &'static str,
        field: Option<&str>,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            field: field.map(str::to_owned),
            ..ApiError::new(400, code, message)
        }
    }

    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(404, "not_found", message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(500, "internal", message)
    }

    pub(crate) fn unavailable(
        code: &'static str,
        message: impl Into<String>,
        retry: u32,
    ) -> ApiError {
        ApiError {
            retry_after: Some(retry),
            ..ApiError::new(503, code, message)
        }
    }

    pub(crate) fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Body<'a> {
            error: Inner<'a>,
        }
        #[derive(Serialize)]
        struct Inner<'a> {
            code: &'a str,
            message: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            field: Option<&'a str>,
        }
        serde_json::to_string(&Body {
            error: Inner {
                code: self.code,
                message: &self.message,
                field: self.field.as_deref(),
            },
        })
        .expect("serialising strings cannot fail")
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(
                f,
                "{} ({}, field `{field}`): {}",
                self.status, self.code, self.message
            ),
            None => write!(f, "{} ({}): {}", self.status, self.code, self.message),
        }
    }
}

impl std::error::Error for ApiError {}

impl From<CardError> for ApiError {
    fn from(e: CardError) -> ApiError {
        let status = match e {
            CardError::Invalid { .. } => 400,
            // Well-formed, but no loaded font draws it.
            CardError::Unsupported { .. } => 422,
        };
        ApiError {
            field: e.field().map(str::to_owned),
            ..ApiError::new(status, e.code(), e.message())
        }
    }
}

impl From<Denied> for ApiError {
    fn from(e: Denied) -> ApiError {
        ApiError {
            field: Some(e.field.to_owned()),
            ..ApiError::new(403, e.code, e.message)
        }
    }
}

impl From<RenderError> for ApiError {
    fn from(e: RenderError) -> ApiError {
        match e {
            RenderError::Saturated => ApiError::unavailable(
                "overloaded",
                "all render threads are busy; retry shortly",
                1,
            ),
            RenderError::Failed(msg) => ApiError::internal(format!("render failed: {msg}")),
        }
    }
}
