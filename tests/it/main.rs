//! The integration tests: one binary, so the server and the fonts are
//! built once per module rather than once per file. The
//! rendering crate's own tests (golden images, fitting) are in
//! `crates/sharecard-render/tests/`.

mod api;
mod attacks;
mod authoring;
mod cli;
mod contract;
mod declared;
mod delivery;
mod fast_path;
mod helpers;
mod html;
mod limits;
mod operations;
mod sharing;
mod variants;
mod webp;
