//! What can be wrong with a card, in the card's own terms.
//!
//! The rendering crate never chooses an HTTP status: the service maps
//! [`CardError::Invalid`] to 400 and [`CardError::Unsupported`] to 422
//! (`src/http/error.rs`). `code` is stable and machine-readable; `message`
//! is for people and may change.

/// A card that cannot be made or drawn, naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    /// Malformed or out of range: the client sent something no card can be.
    #[error("{message}")]
    Invalid {
        /// The parameter at fault, when one is (a bad parameter *name* has none).
        field: Option<String>,
        code: &'static str,
        message: String,
    },
    /// Well-formed, but the loaded fonts cannot draw it.
    #[error("{message}")]
    Unsupported {
        field: String,
        code: &'static str,
        message: String,
    },
}

impl CardError {
    pub(crate) fn invalid(
        code: &'static str,
        field: Option<&str>,
        message: impl Into<String>,
    ) -> CardError {
        CardError::Invalid {
            field: field.map(str::to_owned),
            code,
            message: message.into(),
        }
    }

    pub(crate) fn unsupported(field: &str, message: impl Into<String>) -> CardError {
        CardError::Unsupported {
            field: field.to_owned(),
            code: "unsupported_characters",
            message: message.into(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            CardError::Invalid { code, .. } | CardError::Unsupported { code, .. } => code,
        }
    }

    pub fn field(&self) -> Option<&str> {
        match self {
            CardError::Invalid { field, .. } => field.as_deref(),
            CardError::Unsupported { field, .. } => Some(field),
        }
    }

    pub fn message(&self) -> &str {
        match self {
            CardError::Invalid { message, .. } | CardError::Unsupported { message, .. } => message,
        }
    }
}
