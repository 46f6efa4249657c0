//! The HTTP server: start-up, the accept loop, connection limits and
//! graceful shutdown.
//!
//! [`Application::build`] does everything that can fail (reading fonts and
//! templates, binding the port) before any request is accepted;
//! [`Application::run_until`] serves until a shutdown signal and then
//! drains. Tests build an `Application` on port 0 and talk HTTP to it.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::bounds::{Bounds, Guarded, Tracked, Watch, watchdog};
use super::reload::Reloader;
use super::routes::Origin;
use super::settings::Settings;
use super::state::{AppState, Readiness};
use super::target::Targets;
use crate::cache::ByteCache;
use crate::clock::{Clock, SystemClock};
use crate::config::ServeArgs;
use crate::pool::RenderPool;
use crate::telemetry::Metrics;

/// A bound, configured server that has not yet accepted a connection.
pub struct Application {
    listener: TcpListener,
    /// `--metrics-listen`: metrics, health and readiness only.
    ops_listener: Option<TcpListener>,
    state: Arc<AppState>,
}

impl Application {
    pub async fn build(args: ServeArgs) -> anyhow::Result<Application> {
        Application::build_with_clock(args, Arc::new(SystemClock)).await
    }

    /// [`build`](Self::build), telling time by `clock` (tests move it).
    pub async fn build_with_clock(
        args: ServeArgs,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Application> {
        // The ports first: a busy one is the likeliest start-up failure,
        // and its error should not come after unrelated warnings.
        let listener = bind(args.listen, "--listen (SHARECARD_LISTEN)").await?;
        let ops_listener = match args.metrics_listen {
            Some(addr) => Some(bind(addr, "--metrics-listen (SHARECARD_METRICS_LISTEN)").await?),
            None => None,
        };
        let mut settings = Settings::from_args(args)?;
        let renderer = settings.renderer.load()?;
        if let Some(file) = &settings.warm_file {
            settings.warm =
                super::settings::WarmList::parse(file, renderer.templates(), &settings.level_bands);
        }
        crate::sys::release_free_heap();
        let metrics = Arc::new(Metrics::new());
        let limits = &settings.limits;
        if let Some(slots) = crate::zerocopy::init(limits.cache_bytes) {
            tracing::debug!(slots, "cached cards are sent with sendfile");
        }
        let cache = ByteCache::new(limits.cache_bytes, limits.ttl, metrics.clone());
        let pool = RenderPool::new(renderer, cache, limits, metrics.clone());
        let targets = Targets::new(limits.cache_bytes, limits.ttl);
        if settings.site.public_url == crate::config::DEFAULT_PUBLIC_URL {
            tracing::warn!(
                public_url = crate::config::DEFAULT_PUBLIC_URL,
                "--public-url is left at its default: share pages' og:image, twitter:image, \
                 og:url and canonical link point at localhost, so no platform can unfurl a \
                 card (people who open a page still see its card and can download it); set \
                 --public-url (SHARECARD_PUBLIC_URL) to the address people reach this service at"
            );
        }
        if settings.signer.enabled() {
            tracing::info!(keys = settings.keys, "signed URLs required");
        } else {
            tracing::warn!("no signing keys: serving unsigned URLs (development mode)");
        }
        let reloader = Reloader::new(&settings.renderer);
        let boot = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() ^ d.as_secs() as u32);
        let state = Arc::new(AppState {
            settings,
            clock,
            pool,
            targets,
            reloader,
            metrics,
            readiness: tokio::sync::watch::channel(Readiness::Starting).0,
            request_ids: AtomicU64::new(0),
            boot,
        });
        Ok(Application {
            listener,
            ops_listener,
            state,
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

    /// The `--metrics-listen` address, once bound.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.ops_listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// What every request shares, for tests to look into.
    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets
    /// in-flight requests finish within `--shutdown-grace`, and returns.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let Application {
            listener,
            ops_listener,
            state,
        } = self;
        let settings = &state.settings;
        tracing::info!(
            addr = %listener.local_addr()?,
            metrics_addr = ops_listener.as_ref().and_then(|l| l.local_addr().ok()).map(|a| a.to_string()),
            render_threads = settings.limits.render_threads,
            render_queue = settings.limits.render_queue,
            cache_mb = settings.limits.cache_bytes / (1024 * 1024),
            templates = ?state.renderer().templates().infos().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            "listening"
        );
        // Readiness: a real render through the whole pipeline, in the
        // background so liveness answers at once.
        tokio::spawn(super::startup::self_test(state.clone()));
        if settings.warm.cards.len() + settings.warm.bad_lines > 0 {
            tokio::spawn(super::startup::warm_cache(state.clone()));
        }
        let builder = connection_builder(&settings.bounds);
        let graceful = GracefulShutdown::new();
        let ops = ops_listener.map(|l| tokio::spawn(serve_ops(l, builder.clone(), state.clone())));
        let connections = Arc::new(Semaphore::new(settings.max_connections));
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
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let origin = Origin {
                peer,
                ops_port: false,
            };
            serve_connection(&builder, graceful.watcher(), &state, stream, origin, permit);
        }
        drop(listener);
        if let Some(ops) = ops {
            ops.abort();
        }
        drain(graceful, settings.shutdown_grace).await;
        Ok(())
    }
}

/// Binds `addr`, saying which flag to change when it cannot.
async fn bind(addr: SocketAddr, flag: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::AddrInUse => {
                format!("something else (another sharecard?) listens there; choose another address with {flag}")
            }
            std::io::ErrorKind::PermissionDenied => {
                format!("ports below 1024 need privileges; choose another address with {flag}")
            }
            std::io::ErrorKind::AddrNotAvailable => {
                format!("no interface of this machine has that address; set {flag}")
            }
            _ => format!("set another address with {flag}"),
        };
        anyhow::anyhow!("cannot listen on {addr}: {e}; {hint}")
    })
}

/// HTTP/1 and HTTP/2 with the limits every connection gets.
fn connection_builder(bounds: &Bounds) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(bounds.idle_timeout)
        .max_buf_size(64 * 1024);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(64)
        .max_header_list_size(32 * 1024)
        .keep_alive_interval(Some(bounds.idle_timeout))
        .keep_alive_timeout(bounds.idle_timeout);
    builder
}

/// The `--metrics-listen` port: a few connections at a time (scrapers and
/// probes). Aborted at shutdown, which drops `graceful` and so closes its
/// connections gracefully.
async fn serve_ops(
    listener: TcpListener,
    builder: auto::Builder<TokioExecutor>,
    state: Arc<AppState>,
) {
    let graceful = GracefulShutdown::new();
    let connections = Arc::new(Semaphore::new(16));
    loop {
        let permit = connections
            .clone()
            .acquire_owned()
            .await
            .expect("never closed");
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed on --metrics-listen");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let origin = Origin {
            peer,
            ops_port: true,
        };
        serve_connection(&builder, graceful.watcher(), &state, stream, origin, permit);
    }
}

/// Serves one accepted connection on its own task, holding `permit` (the
/// connection cap) until it ends, within the settings' bounds (see
/// `bounds.rs`).
fn serve_connection(
    builder: &auto::Builder<TokioExecutor>,
    watcher: Watcher,
    state: &Arc<AppState>,
    stream: TcpStream,
    origin: Origin,
    permit: OwnedSemaphorePermit,
) {
    let peer = origin.peer;
    let _ = stream.set_nodelay(true);
    let st = state.clone();
    let watch = Watch::new(state.settings.bounds);
    let requests = watch.clone();
    let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let st = st.clone();
        let watch = requests.clone();
        async move {
            let active = watch.begin();
            // No new work while this connection's earlier responses wait
            // for a client that does not read them.
            watch.wait_until_sent().await;
            let http2 = req.version() == hyper::Version::HTTP_2;
            let resp = super::routes::handle(st, req, origin).await;
            Ok::<_, std::convert::Infallible>(resp.map(|body| Tracked::new(body, active, http2)))
        }
    });
    let io = Guarded::new(crate::zerocopy::Connection::new(stream), watch.clone());
    let conn = builder.serve_connection(io, svc).into_owned();
    let conn = watcher.watch(conn);
    tokio::spawn(async move {
        let _permit = permit;
        tokio::pin!(conn);
        // hyper-util's HTTP version sniffing has no timeout of its own, and
        // HTTP/2 clients can keep an idle connection with pings: the
        // watchdog closes a connection with no request in progress for
        // --header-timeout, and one whose response waits on a client that
        // does not read.
        let result = tokio::select! {
            r = &mut conn => r,
            verdict = watchdog(watch) => {
                tracing::debug!(%peer, reason = verdict.as_str(), "closing the connection");
                return;
            }
        };
        if let Err(e) = result {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
    });
}

/// Lets in-flight requests finish, for at most `grace`.
async fn drain(graceful: GracefulShutdown, grace: Duration) {
    tracing::info!("shutting down: draining connections");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(grace) => {
            tracing::warn!(?grace, "grace period over; closing remaining connections");
        }
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub(crate) async fn shutdown_signal() {
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
