//! What a request names: the request target's limit, and the card a
//! `/cards/…` or `/share/…` target names, parsed once and verified. Routes
//! call down into this module; nothing here knows a route.

use hyper::Request;
use sharecard_render::card::query::Params;
use sharecard_render::card::{CardRequest, TemplateName};
use sharecard_render::render::Renderer;

use super::error::ApiError;
use super::state::AppState;

/// Longest request target (path and query) accepted. Card URLs are a few
/// hundred bytes; 8 KiB is what common proxies allow.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// What a `/cards/…` or `/share/…` request names.
pub(crate) struct Named {
    pub(crate) card: CardRequest,
    pub(crate) params: Params,
    /// When its signature expires ([`crate::signing::Signer::verify`]).
    pub(crate) expires: u64,
}

/// The card a `/cards/…` or `/share/…` request names: template from the
/// path, card from the query, signature checked first when signing is on.
pub(crate) fn parse_card<B>(
    state: &AppState,
    renderer: &Renderer,
    req: &Request<B>,
    prefix: &str,
    suffix: &str,
    now: u64,
) -> Result<Named, ApiError> {
    let path = req.uri().path();
    let name = path
        .get(prefix.len()..)
        .unwrap_or("")
        .strip_suffix(suffix)
        .and_then(TemplateName::parse)
        .filter(|n| renderer.templates().info(n.as_str()).is_some())
        .ok_or_else(|| {
            let names: Vec<String> = renderer
                .templates()
                .infos()
                .map(|t| format!("{prefix}{}{suffix}", t.name.as_str()))
                .collect();
            ApiError::not_found(format!(
                "no card template at {path}; the templates are at {}",
                names.join(", ")
            ))
        })?;
    let params = Params::parse(req.uri().query())?;
    let schema = &renderer
        .templates()
        .info(name.as_str())
        .expect("the template was found above")
        .schema;
    let expires = state
        .settings
        .signer
        .verify(path, &params, &|p| schema.is_param(p), now)?;
    let card = renderer
        .templates()
        .card_request(name, &params, &state.settings.level_bands)
        .expect("the template was found above")?;
    renderer.check_coverage(&card.card)?;
    Ok(Named {
        card,
        params,
        expires,
    })
}
