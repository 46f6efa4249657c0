//! What operators see: metrics ([`metrics`]) and log lines ([`logs`]: the
//! batched writer, [`json`]: the JSON-lines format, [`text`]: the text
//! format).

pub(crate) mod access;
mod json;
mod logs;
mod metrics;
mod process;
mod text;

pub(crate) use logs::{LOG_FLUSH_EVERY, flush_logs};
pub use metrics::Metrics;
pub(crate) use metrics::{Exposition, RequestLabels, RouteLabels};

use crate::config::LogFormat;
use json::JsonLines;
use logs::BatchedStdout;
use text::TextLines;

/// Sets up `tracing` once per process: level from `RUST_LOG` (default
/// `info`), lines as text or JSON, to standard output. Safe to call more
/// than once.
///
/// When standard output is not a terminal, text lines have no colour codes,
/// and info and lower lines are written in batches ([`BatchedStdout`]);
/// warnings and errors at once.
pub(crate) fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let batched = !std::io::stdout().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        // Colours only for a terminal, not in files and log collectors.
        .with_ansi(!batched)
        .with_writer(BatchedStdout { batched });
    let installed = match format {
        LogFormat::Text => builder.event_format(TextLines).try_init(),
        LogFormat::Json => builder.event_format(JsonLines).try_init(),
    };
    if installed.is_ok() && batched {
        std::thread::Builder::new()
            .name("log-flush".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(LOG_FLUSH_EVERY);
                    flush_logs();
                }
            })
            .expect("spawning the log flusher");
    }
}
