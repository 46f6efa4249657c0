//! What every request shares: the settings, the clock, the render pool
//! and its cache, remembered targets, metrics, readiness, request ids, and
//! the state of `--templates-dir` reloads.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hyper::header::HeaderValue;
use sharecard_render::card::CardRequest;
use sharecard_render::render::Renderer;

use super::reload::{Installs, Reloader};
use super::settings::Settings;
use super::target::Targets;
use crate::cache::ByteCache;
use crate::clock::Clock;
use crate::pool::RenderPool;
use crate::telemetry::Metrics;

/// Shared by every request.
pub struct AppState {
    pub(crate) settings: Settings,
    /// What "now" is: the system's clock, or a test's.
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) pool: Arc<RenderPool>,
    pub(crate) targets: Targets,
    pub metrics: Arc<Metrics>,
    /// Where the start-up self-test stands; `/readyz` reads it.
    pub(super) readiness: tokio::sync::watch::Sender<Readiness>,
    pub(super) request_ids: AtomicU64,
    /// Distinguishes request ids across restarts.
    pub(super) boot: u32,
    /// `--templates-dir` reloads.
    pub(super) reloader: Arc<Reloader>,
}

impl AppState {
    /// The renderer requests are parsed and rendered with now.
    pub fn renderer(&self) -> Arc<Renderer> {
        self.pool.renderer()
    }

    /// The card cache.
    pub fn cache(&self) -> &ByteCache {
        self.pool.cache()
    }

    /// Path and query of a card image, with the template version as `v`
    /// (crawlers key caches on URLs, so a new look needs a new URL), signed
    /// when signing is on.
    pub(crate) fn card_url(
        &self,
        card: &CardRequest,
        format: crate::cache::Format,
        version: &str,
        download: bool,
        expires: u64,
    ) -> String {
        super::urls::card_url(
            &self.settings.signer,
            card,
            format,
            version,
            download,
            expires,
        )
    }

    /// With `--templates-dir`: reloads the templates if a file changed
    /// (see [`Reloader::if_changed`]); the last load error, if any.
    pub(crate) async fn reload_if_changed(&self) -> Option<String> {
        let installs = Installs {
            pool: self.pool.clone(),
            targets: self.targets.clone(),
        };
        self.reloader.if_changed(&installs).await
    }

    /// A `--templates-dir` reload that hangs, and for how long.
    pub(crate) fn stuck_reload(&self) -> Option<std::time::Duration> {
        self.reloader.stuck()
    }

    pub(crate) fn readiness(&self) -> Readiness {
        *self.readiness.borrow()
    }

    /// Waits for the start-up self-test to finish; whether it passed.
    pub async fn self_tested(&self) -> bool {
        let mut seen = self.readiness.subscribe();
        let done = seen.wait_for(|r| *r != Readiness::Starting).await;
        matches!(done.as_deref(), Ok(Readiness::Ready))
    }

    pub(crate) fn next_request_id(&self) -> HeaderValue {
        request_id(self.boot, self.request_ids.fetch_add(1, Ordering::Relaxed))
    }
}

/// Where the start-up self-test render stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Readiness {
    Starting,
    Ready,
    /// The self-test failed: the service stays unready.
    Failed,
}

/// `{boot:08x}-{n:x}`: unique per process start and request. The string
/// becomes the header value without a copy.
fn request_id(boot: u32, n: u64) -> HeaderValue {
    let id = bytes::Bytes::from(format!("{boot:08x}-{n:x}"));
    HeaderValue::from_maybe_shared(id).expect("hex digits")
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
