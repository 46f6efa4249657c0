//! Start-up work done in the background once the server listens: the
//! self-test render that gates `/readyz` (every stage, at a small size:
//! `Renderer::self_test`), and `--warm`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use sharecard_render::card::{CardRequest, Scale, TemplateName, Theme};

use super::state::AppState;
use crate::cache::{KeyedCard, RenderError};

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
    match result {
        Ok(failures) if failures.is_empty() => {
            state.ready.store(true, Ordering::Release);
            tracing::info!("self-test render passed; ready");
        }
        Ok(failures) => tracing::error!(?failures, "self-test render failed; staying unready"),
        Err(e) => tracing::error!(error = %e, "self-test render panicked; staying unready"),
    }
}

/// Renders `cards` into the cache one at a time, so warming never takes
/// more than one render thread from live traffic; when renders are
/// saturated it waits and tries again rather than competing.
pub(super) async fn warm_cache(state: Arc<AppState>, cards: Vec<CardRequest>) {
    let started = std::time::Instant::now();
    let (mut ok, mut failed) = (0, 0);
    for card in cards {
        if state.renderer().check_coverage(&card.card).is_err() {
            failed += 1;
            continue;
        }
        let keyed = KeyedCard::new(card);
        loop {
            match state.cache.get(&keyed).await {
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
