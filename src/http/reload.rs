//! `--templates-dir`, a development aid: templates reload when a file in
//! the folder changes. One policy, here: which routes look for changes
//! ([`applies_to`]), how long a request waits for a reload ([`RELOAD_WAIT`])
//! and when a reload counts as hung ([`RELOAD_STUCK`]).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::route::Route;
use super::settings::RendererSource;
use super::target::Targets;
use crate::pool::RenderPool;

/// Routes whose answer depends on the templates look for edits first:
/// cards, share pages, the gallery and the template list (which the
/// gallery polls to refresh itself). Operations never do.
pub(super) fn applies_to(route: Route) -> bool {
    matches!(
        route,
        Route::Card | Route::Share | Route::Preview | Route::Templates
    )
}

/// The reloads of one `--templates-dir` (none without the flag): what
/// was loaded last, and the load under way.
pub(crate) struct Reloader {
    /// Where templates come from; `None` without `--templates-dir`.
    source: Option<RendererSource>,
    seen: Mutex<TemplatesSeen>,
}

/// What a reload swaps: the pool's renderer, and the targets parsed with
/// the old one.
#[derive(Clone)]
pub(crate) struct Installs {
    pub(crate) pool: Arc<RenderPool>,
    pub(crate) targets: Targets,
}

impl Reloader {
    /// Reloads for `source` when it names a templates folder, whose files
    /// as they are now are the ones loaded at start-up.
    pub(crate) fn new(source: &RendererSource) -> Arc<Reloader> {
        let dir = source.templates_dir.as_deref();
        Arc::new(Reloader {
            source: dir.is_some().then(|| source.clone()),
            seen: Mutex::new(TemplatesSeen {
                stamp: dir.map(dir_stamp).unwrap_or_default(),
                error: None,
                loading: None,
            }),
        })
    }

    /// Reloads the templates when a file in the folder changed, so the
    /// next card or page after an edit uses it. Returns the last load
    /// error, if the current files do not load.
    ///
    /// The load runs on a blocking thread and never holds up requests for
    /// long: a request waits for a load at most [`RELOAD_WAIT`] after it
    /// began (so the request after an edit sees the edit), and otherwise
    /// goes on with the last good set. A load that never ends (a file
    /// system that hangs) fails `/readyz` after [`RELOAD_STUCK`].
    pub(crate) async fn if_changed(self: &Arc<Self>, installs: &Installs) -> Option<String> {
        let source = self.source.as_ref()?;
        let dir = source.templates_dir.clone()?;
        let stamp = dir_stamp(&dir);
        let (mut done, started) = {
            let mut seen = self.seen();
            if let Some(loading) = &seen.loading {
                (loading.done.clone(), loading.started)
            } else if stamp == seen.stamp {
                return seen.error.clone();
            } else {
                let (tx, rx) = tokio::sync::watch::channel(false);
                let started = Instant::now();
                seen.loading = Some(Loading {
                    started,
                    done: rx.clone(),
                });
                tokio::spawn(self.clone().load(installs.clone(), dir, stamp, tx));
                (rx, started)
            }
        };
        if let Some(left) = RELOAD_WAIT.checked_sub(started.elapsed()) {
            let _ = tokio::time::timeout(left, done.wait_for(|d| *d)).await;
        }
        self.seen().error.clone()
    }

    /// Loads the templates of `dir`, whose files had `stamp`, and installs
    /// them if they load; tells `done` when it has finished.
    async fn load(
        self: Arc<Self>,
        installs: Installs,
        dir: PathBuf,
        stamp: String,
        done: tokio::sync::watch::Sender<bool>,
    ) {
        let source = self.source.clone().expect("only a folder reloads");
        let loaded = tokio::task::spawn_blocking(move || source.load()).await;
        let mut seen = self.seen();
        seen.stamp = stamp;
        seen.loading = None;
        seen.error = match loaded {
            Ok(Ok(renderer)) => {
                tracing::info!(dir = %dir.display(), "templates reloaded");
                installs.pool.replace_renderer(renderer);
                installs.targets.invalidate_all();
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

    /// A reload that has run for longer than [`RELOAD_STUCK`]: how long,
    /// for `/readyz`.
    pub(crate) fn stuck(&self) -> Option<Duration> {
        let seen = self.seen();
        let running = seen.loading.as_ref()?.started.elapsed();
        (running >= RELOAD_STUCK).then_some(running)
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, TemplatesSeen> {
        // Nothing panics while holding it.
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// How long a request waits for a template reload that began before it.
pub(crate) const RELOAD_WAIT: Duration = Duration::from_secs(2);

/// A template reload running this long has hung: `/readyz` says so.
pub(crate) const RELOAD_STUCK: Duration = Duration::from_secs(10);

/// `--templates-dir` contents last loaded, the error of that load, and the
/// load under way.
#[derive(Debug, Default)]
struct TemplatesSeen {
    stamp: String,
    error: Option<String>,
    loading: Option<Loading>,
}

/// A template reload under way.
#[derive(Debug)]
struct Loading {
    started: Instant,
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
fn dir_stamp(dir: &std::path::Path) -> String {
    // The folder's files and its assets/: an asset edit is a template edit.
    let mut entries: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .chain(std::fs::read_dir(dir.join("assets")))
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
