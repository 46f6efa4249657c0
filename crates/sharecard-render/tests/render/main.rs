//! The rendering crate's tests: one binary, so the fonts are loaded once.
//! Golden images live in `tests/golden/` beside this folder.

mod fitting;
mod golden;
mod layered;
mod lines;
mod scripts;
mod support;
mod templates;
