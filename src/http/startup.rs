//! Start-up work done in the background once the server listens: the
//! self-test render that gates `/readyz` (every stage, at a small size:
//! `Renderer::self_test`), and `--warm`.

use std::sync::Arc;

use sharecard_render::card::LevelBands;

use super::state::{AppState, Readiness};
use crate::cache::KeyedCard;
use crate::pool::RenderError;

pub(super) async fn self_test(state: Arc<AppState>) {
    let renderer = state.renderer();
    // One thread a template: the checks are independent, and an instance
    // started on a node whose cores are busy rendering gets ready sooner
    // with its work on more than one thread (`bench/loadtest.sh`, exec to
    // `/readyz` while both cores render).
    let result = tokio::task::spawn_blocking(move || {
        let check = |info: &sharecard_render::template::TemplateInfo| -> Option<String> {
            let sample = &info.schema.samples[0];
            let req = match renderer.templates().sample_request(
                &info.name,
                sample,
                "",
                &LevelBands::default(),
            ) {
                Ok(req) => req,
                Err(e) => return Some(format!("{}: sample {}: {e}", info.name, sample.slug)),
            };
            renderer
                .self_test(&req)
                .err()
                .map(|e| format!("{}: {e:#}", info.name))
        };
        std::thread::scope(|s| {
            let checks: Vec<_> = renderer
                .templates()
                .infos()
                .map(|info| (&info.name, s.spawn(move || check(info))))
                .collect();
            checks
                .into_iter()
                .filter_map(|(name, c)| {
                    c.join()
                        .unwrap_or_else(|_| Some(format!("{name}: the self-test render panicked")))
                })
                .collect::<Vec<String>>()
        })
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
    let list = &state.settings.warm;
    // Counted as `sharecard warm` counts the same file: lines that are not
    // cards are failures too.
    let (mut ok, mut failed) = (0, list.bad_lines);
    for (card, format) in list.cards.iter().cloned() {
        let renderer = state.renderer();
        let Some(info) = renderer.templates().info(card.template.as_str()) else {
            tracing::warn!(template = %card.template, "warming a card failed: no such template");
            failed += 1;
            continue;
        };
        if let Err(e) = renderer.check_coverage(&card.card) {
            tracing::warn!(error = %e, "warming a card failed");
            failed += 1;
            continue;
        }
        let keyed = KeyedCard::new(card, &info.version, format);
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
    tracing::info!(
        cards = ok,
        failed,
        paths_skipped = list.paths,
        took = ?started.elapsed(),
        "cache warmed"
    );
}
