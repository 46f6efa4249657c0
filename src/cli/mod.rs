//! The subcommands other than `serve`: `sign`, `render`, `check`, `warm`,
//! one module each.
//!
//! Each returns the process exit code; messages go to stderr, results
//! (URLs, file names) to stdout so they can be piped.

mod check;
mod render;
mod sign;
mod warm;

pub use check::check;
pub use render::render;
pub use sign::sign;
pub use warm::warm;
