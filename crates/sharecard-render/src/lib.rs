//! sharecard-render draws sharecard's report cards: a pure, synchronous
//! function of (templates, fonts, card) to PNG bytes.
//!
//! It knows nothing of HTTP. Raw query parameters become a typed
//! [`card::CardRequest`] once ([`card::CardRequest::from_params`]); every
//! failure is a [`error::CardError`] that says which field is wrong and
//! why, and the service decides what status that is. See ARCHITECTURE.md
//! for the code map and the rules between this crate and the service.

#![forbid(unsafe_code)]

pub mod assets;
pub mod batch;
pub mod card;
pub mod encode;
pub mod error;
mod files;
pub mod fonts;
mod parallel;
pub mod render;
pub mod samples;
pub mod template;
pub mod text;
