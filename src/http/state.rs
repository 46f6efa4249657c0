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
    pub(super) templates_seen: std::sync::Mutex<TemplatesSeen>,
}

impl AppState {
    pub fn renderer(&self) -> Arc<Renderer> {
        self.cache.renderer()
    }

    /// Path and query of a card image, with the template version as `v`
    /// (crawlers key caches on URLs, so a new look needs a new URL), signed
    /// when signing is on.
    pub(crate) fn card_url(
        &self,
        card: &CardRequest,
        version: &str,
        download: bool,
        expires: u64,
    ) -> String {
        super::urls::card_url(&self.signer, card, version, download, expires)
    }

    /// Development aid for `--templates-dir`: reloads the templates when a
    /// file there changed, so the preview gallery shows edits on reload.
    /// Returns the last load error, if the current files do not load.
    ///
    /// The load runs on a blocking thread and never holds up requests for
    /// long: a request waits for a load at most [`RELOAD_WAIT`] after it
    /// began (so the request after an edit sees the edit), and otherwise
    /// goes on with the last good set. A load that never ends (a file
    /// system that hangs) fails `/readyz` after [`RELOAD_STUCK`].
    pub(crate) async fn reload_templates_if_changed(self: &Arc<Self>) -> Option<String> {
        let dir = self.args.card.templates_dir.clone()?;
        let stamp = dir_stamp(&dir);
        let (mut done, started) = {
            let mut seen = self.templates();
            if let Some(loading) = &seen.loading {
                (loading.done.clone(), loading.started)
            } else if stamp == seen.stamp {
                return seen.error.clone();
            } else {
                let (tx, rx) = tokio::sync::watch::channel(false);
                let started = std::time::Instant::now();
                seen.loading = Some(Loading {
                    started,
                    done: rx.clone(),
                });
                tokio::spawn(self.clone().load_templates(dir, stamp, tx));
                (rx, started)
            }
        };
        if let Some(left) = RELOAD_WAIT.checked_sub(started.elapsed()) {
            let _ = tokio::time::timeout(left, done.wait_for(|d| *d)).await;
        }
        self.templates().error.clone()
    }

    /// Loads the templates of `dir`, whose files had `stamp`, and installs
    /// them if they load; tells `done` when it has finished.
    async fn load_templates(
        self: Arc<Self>,
        dir: std::path::PathBuf,
        stamp: String,
        done: tokio::sync::watch::Sender<bool>,
    ) {
        let card = self.args.card.clone();
        let loaded = tokio::task::spawn_blocking(move || card.load_renderer()).await;
        let mut seen = self.templates();
        seen.stamp = stamp;
        seen.loading = None;
        seen.error = match loaded {
            Ok(Ok(renderer)) => {
                tracing::info!(dir = %dir.display(), "templates reloaded");
                self.cache.replace_renderer(renderer);
                None
            }
            Ok(Err(e)) => {
                tracing::warn!(dir = %dir.display(), error = %format!("{e:#}"), "templates failed to reload; keeping the previous ones");
                Some(without_path(&format!("{e:#}"), &dir))
            }
            Err(e) => Some(format!("the reload failed: {e}")),
        };
        drop(seen);
        let _ = done.send(true);
    }

    /// A template reload that has run for longer than [`RELOAD_STUCK`]:
    /// how long, for `/readyz`.
    pub(crate) fn stuck_reload(&self) -> Option<std::time::Duration> {
        let seen = self.templates();
        let running = seen.loading.as_ref()?.started.elapsed();
        (running >= RELOAD_STUCK).then_some(running)
    }

    fn templates(&self) -> std::sync::MutexGuard<'_, TemplatesSeen> {
        // Nothing panics while holding it.
        self.templates_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
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

/// How long a request waits for a template reload that began before it.
pub(crate) const RELOAD_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// A template reload running this long has hung: `/readyz` says so.
pub(crate) const RELOAD_STUCK: std::time::Duration = std::time::Duration::from_secs(10);

/// `--templates-dir` contents last loaded, the error of that load, and the
/// load under way.
#[derive(Debug, Default)]
pub(super) struct TemplatesSeen {
    pub(super) stamp: String,
    pub(super) error: Option<String>,
    pub(super) loading: Option<Loading>,
}

/// A template reload under way.
#[derive(Debug)]
pub(super) struct Loading {
    started: std::time::Instant,
    /// Becomes `true` when it has finished.
    done: tokio::sync::watch::Receiver<bool>,
}

/// `message` without the templates directory's path: load errors reach
/// the gallery, which anyone may open, and should name the template and
/// its line, not where this machine keeps it.
fn without_path(message: &str, dir: &std::path::Path) -> String {
    let mut out = message.to_owned();
    for form in [dir.canonicalize().ok(), Some(dir.to_path_buf())]
        .into_iter()
        .flatten()
    {
        let text = form.display().to_string();
        if !text.is_empty() && text != "." {
            out = out
                .replace(&format!("{text}/"), "")
                .replace(&text, "--templates-dir");
        }
    }
    out
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
