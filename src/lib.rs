//! sharecard: renders social share cards (AI automation risk report cards)
//! as PNG images. See ARCHITECTURE.md for the code map.

pub mod batch;
pub mod cache;
pub mod card;
pub mod cli;
pub mod config;
pub mod error;
pub mod fastpng;
pub mod fonts;
pub mod glyphs;
pub mod pages;
pub mod parallel;
pub mod query;
pub mod render;
pub mod routes;
pub mod samples;
pub mod server;
pub mod signing;
pub mod telemetry;
pub mod template;
pub mod text;
pub mod zerocopy;

/// `sharecard serve`: builds the application and serves until SIGTERM or
/// SIGINT.
pub fn run_server(args: config::ServeArgs) -> anyhow::Result<()> {
    telemetry::init_logging(args.log_format);
    server::tune_allocator();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(async move {
        let app = server::Application::build(args).await?;
        app.run_until(server::shutdown_signal()).await
    });
    // Connections are drained; do not wait on background work (a
    // low-priority recompression) before exiting.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    telemetry::flush_logs();
    result
}
