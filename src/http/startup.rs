//! Start-up work done in the background once the server listens: the
//! self-test render that gates `/readyz` (every stage, at a small size:
//! `Renderer::self_test`), and `--warm`.

use std::sync::Arc;

use sharecard_render::card::{CardRequest, Scale, TemplateName, Theme};

use super::state::{AppState, Readiness};
use crate::cache::{Format, KeyedCard};
use crate::pool::RenderError;

pub(super) async fn self_test(state: Arc<AppState>) {
    let renderer = state.renderer();
    let result = tokio::task::spawn_blocking(move || {
        let mut failures = Vec::new();
        for info in renderer.templates().infos() {
            let req = CardRequest {
                template: TemplateName::parse(&info.name).expect("validated at load"),
                theme: Theme::Dark,
                scale: Scale::ONE,
                card: sharecard_render::template::sample_card(),
            };
            if let Err(e) = renderer.self_test(&req) {
                failures.push(format!("{}: {e:#}", info.name));
            }
        }
        failures
    })
    .await;
    let readiness = match result {
        Ok(failures) if failures.is_empty() => {
            tracing::info!("self-test render passed; ready");
            Readiness::Ready
        }
        Ok(failures) => {
            tracing::error!(?failures, "self-test render failed; staying unready");
            Readiness::Failed
        }
        Err(e) => {
            tracing::error!(error = %e, "self-test render panicked; staying unready");
            Readiness::Failed
        }
    };
    state.readiness.send_replace(readiness);
}

/// Renders `cards` into the cache one at a time, so warming never takes
/// more than one render thread from live traffic; when renders are
/// saturated it waits and tries again rather than competing.
pub(super) async fn warm_cache(state: Arc<AppState>) {
    let started = std::time::Instant::now();
    let (mut ok, mut failed) = (0, 0);
    for card in state.settings.warm.iter().cloned() {
        let renderer = state.renderer();
        let Some(info) = renderer.templates().info(card.template.as_str()) else {
            failed += 1;
            continue;
        };
        if renderer.check_coverage(&card.card).is_err() {
            failed += 1;
            continue;
        }
        let keyed = KeyedCard::new(card, &info.version, Format::Png);
        loop {
            match state.pool.get(&renderer, &keyed).await {
                Ok(_) => ok += 1,
                Err(RenderError::Saturated) => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
                Err(RenderError::Failed(e)) => {
                    tracing::warn!(error = %e, "warming a card failed");
                    failed += 1;
                }
            }
            break;
        }
    }
    tracing::info!(ok, failed, took = ?started.elapsed(), "cache warmed");
}
