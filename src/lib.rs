//! sharecard: the HTTP service that serves social share cards (AI
//! automation risk report cards) drawn by `sharecard-render`. See
//! ARCHITECTURE.md for the code map and the rules between modules.
//!
//! Public here is what the binary, the integration tests and the benches
//! use; everything else is `pub(crate)`.

pub mod cache;
pub mod cli;
pub mod clock;
pub mod config;
pub mod http;
pub mod pool;
pub mod signing;
mod sys;
pub mod telemetry;
#[cfg(test)]
mod test_support;
pub mod zerocopy;

/// `sharecard serve`: builds the application and serves until SIGTERM or
/// SIGINT.
pub fn run_server(args: config::ServeArgs) -> anyhow::Result<()> {
    telemetry::init_logging(args.log_format);
    sys::tune_allocator();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(async move {
        let app = http::Application::build(args).await?;
        app.run_until(http::shutdown_signal()).await
    });
    // Connections are drained; do not wait on background work (a
    // low-priority recompression) before exiting.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    telemetry::flush_logs();
    result
}
