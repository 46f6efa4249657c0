//! What the unit tests of several modules build the same way.

use std::sync::Arc;

use sharecard_render::card::query::Params;
use sharecard_render::card::{CardRequest, LevelBands, TemplateName};
use sharecard_render::render::Renderer;

/// The bundled renderer, as `serve` loads it by default.
pub(crate) fn renderer() -> Arc<Renderer> {
    crate::config::ServeArgs::for_tests()
        .card
        .load_renderer()
        .unwrap()
}

/// The report card `query` names.
pub(crate) fn report(query: &str) -> CardRequest {
    CardRequest::from_params(
        TemplateName::parse("report").unwrap(),
        &sharecard_render::template::bundled_schema("report").unwrap(),
        &Params::parse(Some(query)).unwrap(),
        &LevelBands::default(),
    )
    .unwrap()
}
