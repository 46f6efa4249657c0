//! sharecard: renders social share cards (AI automation risk report cards)
//! as PNG images. See ARCHITECTURE.md for the code map.

pub mod card;
pub mod error;
pub mod fonts;
pub mod query;
pub mod render;
pub mod template;
pub mod text;
