//! The HTTP server: start-up, the accept loop, connection limits and
//! graceful shutdown.
//!
//! [`Application::build`] does everything that can fail (reading fonts and
//! templates, a self-test render, binding the port) before any request is
//! accepted; [`Application::run_until`] serves until a shutdown signal and
//! then drains. Tests build an `Application` on port 0 and talk HTTP to it.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use anyhow::Context;
use hyper::header::HeaderValue;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::cache::{CardCache, Limits};
use crate::config::ServeArgs;
use crate::fonts::Fonts;
use crate::render::Renderer;
use crate::signing::Signer;
use crate::telemetry::Metrics;
use crate::template::Templates;

/// Shared by every request.
pub struct AppState {
    pub args: ServeArgs,
    pub cache: Arc<CardCache>,
    pub signer: Signer,
    pub metrics: Arc<Metrics>,
    pub cache_control: HeaderValue,
    ready: AtomicBool,
    request_ids: AtomicU64,
    /// Distinguishes request ids across restarts.
    boot: u32,
    /// `--templates-dir` contents last loaded, and the last load error.
    templates_seen: tokio::sync::Mutex<(String, Option<String>)>,
}

impl AppState {
    pub fn renderer(&self) -> Arc<Renderer> {
        self.cache.renderer()
    }

    /// Path and query of a card image, with the template version as `v`
    /// (crawlers key caches on URLs, so a new look needs a new URL), signed
    /// when signing is on.
    pub fn card_url(
        &self,
        card: &crate::card::CardRequest,
        version: &str,
        download: bool,
    ) -> String {
        let path = format!("/cards/{}.png", card.template);
        let mut query = format!("{}&v={version}", card.canonical_query());
        if download {
            query += "&download=1";
        }
        if self.signer.enabled() {
            self.signer
                .sign_url(&path, &query)
                .expect("canonical queries parse")
        } else {
            format!("{path}?{query}")
        }
    }

    /// Development aid for `--templates-dir`: reloads the templates when a
    /// file there changed, so the preview gallery shows edits on reload.
    /// Returns the last load error, if the current files do not load.
    pub async fn reload_templates_if_changed(self: &Arc<Self>) -> Option<String> {
        let dir = self.args.card.templates_dir.clone()?;
        let mut seen = self.templates_seen.lock().await;
        let stamp = dir_stamp(&dir);
        if stamp == seen.0 {
            return seen.1.clone();
        }
        let card = self.args.card.clone();
        let loaded = tokio::task::spawn_blocking(move || build_renderer(&card)).await;
        seen.0 = stamp;
        seen.1 = match loaded {
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
        seen.1.clone()
    }
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn next_request_id(&self) -> hyper::header::HeaderValue {
        request_id(self.boot, self.request_ids.fetch_add(1, Ordering::Relaxed))
    }
}

/// `{boot:08x}-{n:x}`: unique per process start and request. The string
/// becomes the header value without a copy.
fn request_id(boot: u32, n: u64) -> hyper::header::HeaderValue {
    let id = bytes::Bytes::from(format!("{boot:08x}-{n:x}"));
    hyper::header::HeaderValue::from_maybe_shared(id).expect("hex digits")
}

pub struct Application {
    listener: TcpListener,
    state: Arc<AppState>,
    warm: Vec<crate::card::CardRequest>,
}

/// Keeps the process's memory near what the cache budget accounts for.
/// glibc's defaults suit short-lived processes, not a server that churns
/// through PNGs of 30–150 KB and pixel buffers of MiBs on many threads:
/// * up to 8 arenas per core, each keeping freed memory of its own, so
///   two arenas are plenty (renders are CPU-bound, at most one per core);
/// * a dynamic mmap threshold that soon rises to the largest freed block
///   (MiBs), after which freed pixel and PNG buffers stay in the heap as
///   fragments; a fixed 64 KiB threshold gives them back to the kernel
///   when freed (a spare-buffer pool in the renderer avoids re-faulting
///   the largest ones).
///
/// Measured with `bench/loadtest.sh` (peak RSS after 10,000 cards); see the
/// README's Performance section.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called
    // before the runtime starts any thread.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 * 1024);
    }
}

/// Loads fonts and templates and builds the renderer: the only place that
/// reads files.
pub fn build_renderer(card: &crate::config::CardArgs) -> anyhow::Result<Arc<Renderer>> {
    let fonts = Arc::new(Fonts::load(card.fonts_dir.as_deref())?);
    let templates = Templates::load(card.templates_dir.as_deref(), fonts)?;
    Ok(Arc::new(Renderer::new(templates, &card.brand)?))
}

impl Application {
    pub async fn build(args: ServeArgs) -> anyhow::Result<Application> {
        let renderer = build_renderer(&args.card)?;
        let metrics = Arc::new(Metrics::new());
        let limits = Limits {
            cache_bytes: args.cache_mb.saturating_mul(1024 * 1024),
            ttl: args.cache_ttl,
            render_threads: args.render_threads(),
            render_queue: args.render_queue(),
            recompress: args.recompress,
        };
        if let Some(slots) = crate::zerocopy::init(limits.cache_bytes) {
            tracing::debug!(slots, "cached cards are sent with sendfile");
        }
        let cache = CardCache::new(renderer, &limits, metrics.clone());
        let cache_control = HeaderValue::from_str(&args.cache_control)
            .context("--cache-control is not a valid header value")?;
        let signer = Signer::new(&args.signing.signing_keys).map_err(anyhow::Error::msg)?;
        if signer.enabled() {
            tracing::info!(
                keys = args.signing.signing_keys.len(),
                "signed URLs required"
            );
        } else {
            tracing::warn!("no signing keys: serving unsigned URLs (development mode)");
        }
        let templates_seen = args
            .card
            .templates_dir
            .as_deref()
            .map(dir_stamp)
            .unwrap_or_default();
        // `--warm`: read and parse now (start-up is the only time files are
        // read), render later in the background.
        let mut warm = Vec::new();
        if let Some(file) = &args.warm {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading --warm file {}", file.display()))?;
            let (cards, bad) = crate::batch::parse(&text, "report", &args.card.level_bands);
            for b in bad {
                tracing::warn!(file = %file.display(), "{b}");
            }
            warm = cards.into_iter().map(|c| c.request).collect();
        }
        let listener = TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        let boot = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() ^ d.as_secs() as u32);
        let state = Arc::new(AppState {
            args,
            cache,
            signer,
            templates_seen: tokio::sync::Mutex::new((templates_seen, None)),
            metrics,
            cache_control,
            ready: AtomicBool::new(false),
            request_ids: AtomicU64::new(0),
            boot,
        });
        Ok(Application {
            listener,
            state,
            warm,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets
    /// in-flight requests finish within `--shutdown-grace`, and returns.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let Application {
            listener,
            state,
            warm,
        } = self;
        let args = &state.args;
        tracing::info!(
            addr = %listener.local_addr()?,
            render_threads = args.render_threads(),
            render_queue = args.render_queue(),
            cache_mb = args.cache_mb,
            templates = ?state.renderer().templates().infos().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            "listening"
        );
        // Readiness: a real render through the whole pipeline, in the
        // background so liveness answers at once.
        tokio::spawn(self_test(state.clone()));
        if !warm.is_empty() {
            tokio::spawn(warm_cache(state.clone(), warm));
        }

        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(args.header_timeout)
            .max_buf_size(64 * 1024);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(64)
            .max_header_list_size(32 * 1024)
            .keep_alive_interval(Some(args.header_timeout))
            .keep_alive_timeout(args.header_timeout);

        let graceful = GracefulShutdown::new();
        let connections = Arc::new(Semaphore::new(args.max_connections.max(1)));
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                p = connections.clone().acquire_owned() => p.expect("never closed"),
                () = &mut shutdown => break,
            };
            let (stream, peer) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file descriptors and the like: back off
                        // rather than spin.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let st = state.clone();
            let seen_request = Arc::new(AtomicBool::new(false));
            let seen = seen_request.clone();
            let svc = service_fn(move |req| {
                seen.store(true, Ordering::Relaxed);
                let st = st.clone();
                async move { Ok::<_, std::convert::Infallible>(crate::routes::handle(st, req).await) }
            });
            let conn = builder
                .serve_connection(crate::zerocopy::Connection::new(stream), svc)
                .into_owned();
            let conn = graceful.watch(conn);
            let first_request_deadline = args.header_timeout;
            tokio::spawn(async move {
                let _permit = permit;
                tokio::pin!(conn);
                // hyper-util's HTTP version sniffing has no timeout of its
                // own, and header_read_timeout starts only after it: a client
                // that connects and sends nothing (or a few bytes) would hold
                // the connection forever. Drop it if no request arrived in
                // time.
                let deadline = async {
                    tokio::time::sleep(first_request_deadline).await;
                    if seen_request.load(Ordering::Relaxed) {
                        std::future::pending::<()>().await;
                    }
                };
                let result = tokio::select! {
                    r = &mut conn => r,
                    () = deadline => {
                        tracing::debug!(%peer, "no request in time; closing");
                        return;
                    }
                };
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
            });
        }
        drop(listener);
        tracing::info!("shutting down: draining connections");
        tokio::select! {
            () = graceful.shutdown() => tracing::info!("all connections closed"),
            () = tokio::time::sleep(args.shutdown_grace) => {
                tracing::warn!(grace = ?args.shutdown_grace, "grace period over; closing remaining connections");
            }
        }
        Ok(())
    }
}

/// Names, sizes and modification times of the files in `dir`: changes
/// when a template is edited, added or removed.
fn dir_stamp(dir: &std::path::Path) -> String {
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

async fn self_test(state: Arc<AppState>) {
    let renderer = state.renderer();
    let result = tokio::task::spawn_blocking(move || {
        let mut failures = Vec::new();
        for info in renderer.templates().infos() {
            let req = crate::card::CardRequest {
                template: crate::card::TemplateName::parse(&info.name).expect("validated at load"),
                theme: crate::card::Theme::Dark,
                scale: crate::card::Scale::ONE,
                card: crate::template::sample_card(),
            };
            if let Err(e) = renderer.render(&req) {
                failures.push(format!("{}: {e:#}", info.name));
            }
        }
        // Backgrounds are drawn again on first use: templates nobody asks
        // for should not hold MiBs of pixels.
        renderer.forget_backgrounds();
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
async fn warm_cache(state: Arc<AppState>, cards: Vec<crate::card::CardRequest>) {
    let started = std::time::Instant::now();
    let (mut ok, mut failed) = (0, 0);
    for card in cards {
        if state.renderer().check_coverage(&card.card).is_err() {
            failed += 1;
            continue;
        }
        let keyed = crate::cache::KeyedCard::new(card);
        loop {
            match state.cache.get(&keyed).await {
                Ok(_) => ok += 1,
                Err(crate::cache::RenderError::Saturated) => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
                Err(crate::cache::RenderError::Failed(e)) => {
                    tracing::warn!(error = %e, "warming a card failed");
                    failed += 1;
                }
            }
            break;
        }
    }
    tracing::info!(ok, failed, took = ?started.elapsed(), "cache warmed");
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received"),
        () = term => tracing::info!("SIGTERM received"),
    }
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
