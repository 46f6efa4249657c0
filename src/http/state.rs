//! What every request shares: configuration, the cache, the signer,
//! metrics, readiness, request ids, and the template reload of the
//! development aid `--templates-dir`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use hyper::header::HeaderValue;
use sharecard_render::card::CardRequest;
use sharecard_render::render::Renderer;

use crate::cache::CardCache;
use crate::config::ServeArgs;
use crate::signing::Signer;
use crate::telemetry::Metrics;

/// Shared by every request.
pub struct AppState {
    pub(crate) args: ServeArgs,
    pub cache: Arc<CardCache>,
    pub(crate) signer: Signer,
    pub metrics: Arc<Metrics>,
    pub(crate) freshness: super::freshness::Freshness,
    pub(super) ready: AtomicBool,
    pub(super) request_ids: AtomicU64,
    /// Distinguishes request ids across restarts.
    pub(super) boot: u32,
    /// `--templates-dir` contents last loaded (see [`TemplatesSeen`]).
    pub(super) templates_seen: tokio::sync::Mutex<TemplatesSeen>,
}

impl AppState {
    pub fn renderer(&self) -> Arc<Renderer> {
        self.cache.renderer()
    }

    /// Path and query of a card image, with the template version as `v`
    /// (crawlers key caches on URLs, so a new look needs a new URL), signed
    /// when signing is on.
    pub(crate) fn card_url(&self, card: &CardRequest, version: &str, download: bool) -> String {
        super::urls::card_url(&self.signer, card, version, download)
    }

    /// Development aid for `--templates-dir`: reloads the templates when a
    /// file there changed, so the preview gallery shows edits on reload.
    /// Returns the last load error, if the current files do not load.
    pub(crate) async fn reload_templates_if_changed(self: &Arc<Self>) -> Option<String> {
        let dir = self.args.card.templates_dir.clone()?;
        let mut seen = self.templates_seen.lock().await;
        let stamp = dir_stamp(&dir);
        if stamp == seen.stamp {
            return seen.error.clone();
        }
        let card = self.args.card.clone();
        let loaded = tokio::task::spawn_blocking(move || card.load_renderer()).await;
        seen.stamp = stamp;
        seen.error = match loaded {
            Ok(Ok(renderer)) => {
                tracing::info!(dir = %dir.display(), "templates reloaded");
                self.cache.replace_renderer(renderer);
                None
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %format!("{e:#}"), "templates failed to reload; keeping the previous ones");
                Some(format!("{e:#}"))
            }
            Err(e) => Some(format!("reload panicked: {e}")),
        };
        seen.error.clone()
    }

    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub(crate) fn next_request_id(&self) -> HeaderValue {
        request_id(self.boot, self.request_ids.fetch_add(1, Ordering::Relaxed))
    }
}

/// `{boot:08x}-{n:x}`: unique per process start and request. The string
/// becomes the header value without a copy.
fn request_id(boot: u32, n: u64) -> HeaderValue {
    let id = bytes::Bytes::from(format!("{boot:08x}-{n:x}"));
    HeaderValue::from_maybe_shared(id).expect("hex digits")
}

/// `--templates-dir` contents last loaded, and the error of that load.
#[derive(Debug, Default)]
pub(super) struct TemplatesSeen {
    pub(super) stamp: String,
    pub(super) error: Option<String>,
}

/// Names, sizes and modification times of the files in `dir`: changes
/// when a template is edited, added or removed.
pub(super) fn dir_stamp(dir: &std::path::Path) -> String {
    let mut entries: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            let t = m
                .modified()
                .ok()?
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?;
            Some(format!("{:?}:{}:{}", e.file_name(), m.len(), t.as_nanos()))
        })
        .collect();
    entries.sort();
    entries.join("|")
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_boot_and_counter_in_hex() {
        for (boot, n, want) in [
            (0, 0, "00000000-0"),
            (0x4bbc896c, 15, "4bbc896c-f"),
            (0x4bbc896c, 16, "4bbc896c-10"),
            (u32::MAX, 0x34224, "ffffffff-34224"),
            (1, u64::MAX, "00000001-ffffffffffffffff"),
        ] {
            assert_eq!(super::request_id(boot, n), want, "{boot:x} {n}");
            assert_eq!(format!("{boot:08x}-{n:x}"), want);
        }
    }
}
