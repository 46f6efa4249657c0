//! The integration tests: one binary, so the server and the fonts are
//! built once per module rather than once per file.

mod api;
mod fast_path;
mod fitting;
mod golden;
mod helpers;
mod limits;
mod scripts;
mod sharing;
mod templates;
mod variants;
