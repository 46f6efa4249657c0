//! Logs and metrics.
//!
//! Metrics use `prometheus-client`; [`Metrics::encode`] produces the
//! Prometheus text exposition served at `/metrics`. Counters are atomics, so
//! recording on the hot path costs a few nanoseconds and never locks
//! (except label lookup in families, which is a read lock on a small map).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use std::fmt::Write as _;

use crate::config::LogFormat;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub request_duration: Family<RouteLabels, Histogram>,
    pub render_duration: Histogram,
    pub renders: Counter,
    pub render_failures: Counter,
    pub renders_in_flight: Gauge,
    pub render_queue: Gauge,
    pub shed: Counter,
    pub cache_hits: Counter,
    pub cache_misses: Counter,
    pub cache_evictions: Counter,
    pub cache_entries: Gauge,
    pub cache_bytes: Gauge,
    pub sealed_bytes: Gauge,
    pub png_bytes_served: Counter,
    pub recompressed: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("sharecard");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        let request_duration = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            // 0.1 ms … ~3.3 s
            Histogram::new(exponential_buckets(0.0001, 2.0, 16))
        });
        registry.register(
            "http_request_duration_seconds",
            "Time from request to response headers",
            request_duration.clone(),
        );
        let render_duration = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        registry.register(
            "render_duration_seconds",
            "Time to render one card (template, raster, encode)",
            render_duration.clone(),
        );
        let renders = Counter::default();
        registry.register("renders", "Cards rendered", renders.clone());
        let render_failures = Counter::default();
        registry.register(
            "render_failures",
            "Renders that failed",
            render_failures.clone(),
        );
        let renders_in_flight = Gauge::default();
        registry.register(
            "renders_in_flight",
            "Renders running now",
            renders_in_flight.clone(),
        );
        let render_queue = Gauge::default();
        registry.register(
            "render_queue_depth",
            "Renders waiting for a thread",
            render_queue.clone(),
        );
        let shed = Counter::default();
        registry.register(
            "shed_requests",
            "Requests refused with 503 because renders were saturated",
            shed.clone(),
        );
        let cache_hits = Counter::default();
        registry.register(
            "cache_hits",
            "Card requests answered from the cache",
            cache_hits.clone(),
        );
        let cache_misses = Counter::default();
        registry.register(
            "cache_misses",
            "Card requests that needed a render",
            cache_misses.clone(),
        );
        let cache_evictions = Counter::default();
        registry.register(
            "cache_evictions",
            "Cards evicted from the cache (size or TTL)",
            cache_evictions.clone(),
        );
        let cache_entries = Gauge::default();
        registry.register("cache_entries", "Cards in the cache", cache_entries.clone());
        let cache_bytes = Gauge::default();
        registry.register(
            "cache_bytes",
            "Weighted size of the cache in bytes",
            cache_bytes.clone(),
        );
        let sealed_bytes = Gauge::default();
        registry.register(
            "sealed_bytes",
            "Cached PNG bytes in the memory file they are sent from with sendfile (shared memory, outside the process's RSS)",
            sealed_bytes.clone(),
        );
        let png_bytes_served = Counter::default();
        registry.register(
            "png_bytes_served",
            "PNG body bytes sent",
            png_bytes_served.clone(),
        );
        let recompressed = Counter::default();
        registry.register(
            "recompressed",
            "Cached cards re-encoded smaller in the background",
            recompressed.clone(),
        );
        Metrics {
            recompressed,
            registry,
            requests,
            request_duration,
            render_duration,
            renders,
            render_failures,
            renders_in_flight,
            render_queue,
            shed,
            cache_hits,
            cache_misses,
            cache_evictions,
            cache_entries,
            cache_bytes,
            sealed_bytes,
            png_bytes_served,
        }
    }

    /// Prometheus text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// Sets up `tracing` once per process: level from `RUST_LOG` (default
/// `info`), lines as text or JSON, to standard output. Safe to call more
/// than once.
///
/// When standard output is not a terminal, text lines have no colour codes,
/// and info and lower lines are written in batches ([`BatchedStdout`]);
/// warnings and errors at once.
pub fn init_logging(format: LogFormat) {
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
        LogFormat::Text => builder.try_init(),
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

/// How long a log line may wait in its thread's batch.
pub const LOG_FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// A thread's batch is written out once it holds this much.
const LOG_BATCH_BYTES: usize = 32 * 1024;

/// Standard output for log lines. With `batched`, a line at info level or
/// below goes into its thread's batch, which is written out when it is full,
/// every [`LOG_FLUSH_EVERY`] and at [`flush_logs`]; a warning or an error
/// first writes out its thread's batch, then itself, at once.
///
/// Every request logs a line, and a `write` call per line was the largest
/// cost of the log line (a sixth of a cache hit's CPU). Batching is what
/// nginx's `access_log … buffer=` does. Each thread has its own batch, so
/// lines never wait on another thread and each thread's lines stay in
/// order; lines of different threads may be up to [`LOG_FLUSH_EVERY`] out
/// of timestamp order, and a process that is killed (not stopped) loses at
/// most that much of its info lines.
pub struct BatchedStdout {
    batched: bool,
}

type Batch = std::sync::Arc<std::sync::Mutex<Vec<u8>>>;

/// Every thread's batch, for the flusher.
static BATCHES: std::sync::Mutex<Vec<Batch>> = std::sync::Mutex::new(Vec::new());

thread_local! {
    static BATCH: Batch = {
        let batch = Batch::default();
        lock(&BATCHES).push(batch.clone());
        batch
    };
}

/// A log mutex even if a thread panicked holding it: a half-written batch
/// is still worth writing, and logging must not panic in turn.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Writes out every thread's batch: by the flusher thread, and on shutdown.
pub fn flush_logs() {
    let batches = lock(&BATCHES).clone();
    for batch in &batches {
        write_out(&mut lock(batch));
    }
    drop(batches);
    // Threads that have ended (tokio's blocking pool comes and goes) leave
    // a batch that only this list still holds, written out above.
    lock(&BATCHES)
        .retain(|b| std::sync::Arc::strong_count(b) > 1 || !b.lock().is_ok_and(|v| v.is_empty()));
}

fn write_out(batch: &mut Vec<u8>) {
    use std::io::Write;
    if !batch.is_empty() {
        // Nowhere to report a failed log write; a full disk must not stop
        // the service.
        let _ = std::io::stdout().lock().write_all(batch);
        batch.clear();
    }
}

pub enum LogLine {
    Direct,
    Batched,
}

impl std::io::Write for LogLine {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        match self {
            LogLine::Direct => {
                let _ = BATCH.try_with(|b| write_out(&mut lock(b)));
                std::io::stdout().lock().write_all(line)?;
            }
            LogLine::Batched => {
                let queued = BATCH.try_with(|b| {
                    let mut batch = lock(b);
                    batch.extend_from_slice(line);
                    if batch.len() >= LOG_BATCH_BYTES {
                        write_out(&mut batch);
                    }
                });
                // A thread being torn down has no batch: write at once.
                if queued.is_err() {
                    std::io::stdout().lock().write_all(line)?;
                }
            }
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchedStdout {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        if self.batched {
            LogLine::Batched
        } else {
            LogLine::Direct
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> LogLine {
        // tracing orders levels by verbosity: WARN and ERROR are the least.
        if *meta.level() <= tracing::Level::WARN {
            LogLine::Direct
        } else {
            self.make_writer()
        }
    }
}

/// One JSON object per event: `timestamp` (RFC 3339, UTC, µs), `level`,
/// then the event's fields in order (`message` first), then `spans` (the
/// names of the spans the event is in, outermost first) if there are any.
///
/// The same shape as tracing-subscriber's JSON format with
/// `flatten_event(true)`, written directly into the line buffer: that
/// formatter builds each line through serde's map serializer and a visitor
/// per field, which was a sixth of the CPU of a cache hit (the access log
/// writes one line per request).
pub struct JsonLines;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for JsonLines
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut w: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        w.write_str("{\"timestamp\":\"")?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let stamp = timestamp(now.as_secs(), now.subsec_micros());
        w.write_str(std::str::from_utf8(&stamp).expect("ASCII"))?;
        w.write_str("\",\"level\":\"")?;
        w.write_str(event.metadata().level().as_str())?;
        w.write_char('"')?;
        let mut fields = JsonFields {
            out: &mut w,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        if let Some(scope) = ctx.event_scope() {
            let mut sep = ",\"spans\":[";
            for span in scope.from_root() {
                w.write_str(sep)?;
                sep = ",";
                json_str(&mut w, span.name())?;
            }
            if sep == "," {
                w.write_char(']')?;
            }
        }
        w.write_str("}\n")
    }
}

/// `1970-01-01T00:00:00.000000Z`: RFC 3339 in UTC with microseconds, the
/// form tracing-subscriber writes. The date is computed once per second per
/// thread; going through `fmt` for its seven numbers cost a tenth of a log
/// line.
fn timestamp(secs: u64, micros: u32) -> [u8; 27] {
    thread_local! {
        static DAY_TIME: std::cell::Cell<(u64, [u8; 19])> =
            const { std::cell::Cell::new((u64::MAX, [0; 19])) };
    }
    let mut out = [0u8; 27];
    let date_time = DAY_TIME.with(|cached| {
        let (at, text) = cached.get();
        if at == secs {
            return text;
        }
        let text = date_time(secs);
        cached.set((secs, text));
        text
    });
    out[..19].copy_from_slice(&date_time);
    out[19] = b'.';
    digits(&mut out[20..26], u64::from(micros));
    out[26] = b'Z';
    out
}

/// `YYYY-MM-DDTHH:MM:SS` for Unix seconds (proleptic Gregorian calendar;
/// days to civil date after Howard Hinnant's `civil_from_days`).
fn date_time(secs: u64) -> [u8; 19] {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    let mut out = *b"0000-00-00T00:00:00";
    digits(&mut out[0..4], year.min(9999));
    digits(&mut out[5..7], month);
    digits(&mut out[8..10], day);
    digits(&mut out[11..13], rem / 3_600);
    digits(&mut out[14..16], rem / 60 % 60);
    digits(&mut out[17..19], rem % 60);
    out
}

/// `n` in decimal, zero-padded to fill `out`.
fn digits(out: &mut [u8], mut n: u64) {
    for b in out.iter_mut().rev() {
        *b = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// Writes each field as `,"name":value`: numbers and booleans as JSON
/// numbers and booleans (non-finite floats as `null`), everything else as a
/// string.
struct JsonFields<'a, W> {
    out: &'a mut W,
    result: std::fmt::Result,
}

impl<W: std::fmt::Write> JsonFields<'_, W> {
    fn field(
        &mut self,
        field: &tracing::field::Field,
        value: impl FnOnce(&mut W) -> std::fmt::Result,
    ) {
        if self.result.is_ok() {
            self.result = (|| {
                self.out.write_char(',')?;
                json_str(self.out, field.name())?;
                self.out.write_char(':')?;
                value(self.out)
            })();
        }
    }
}

impl<W: std::fmt::Write> tracing::field::Visit for JsonFields<'_, W> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.field(field, |w| json_str(w, value));
    }

    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.field(field, |w| write!(w, "{value}"));
    }

    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.field(field, |w| write!(w, "{value}"));
    }

    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.field(field, |w| w.write_str(if value { "true" } else { "false" }));
    }

    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.field(field, |w| {
            if value.is_finite() {
                write!(w, "{value}")
            } else {
                w.write_str("null")
            }
        });
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.field(field, |w| {
            w.write_char('"')?;
            write!(JsonEscape(w), "{value:?}")?;
            w.write_char('"')
        });
    }
}

fn json_str(w: &mut impl std::fmt::Write, s: &str) -> std::fmt::Result {
    w.write_char('"')?;
    JsonEscape(w).write_str(s)?;
    w.write_char('"')
}

/// Escapes what it is given for the inside of a JSON string (RFC 8259 §7):
/// quote, backslash and control characters; everything else as it is.
struct JsonEscape<'a, W>(&'a mut W);

impl<W: std::fmt::Write> std::fmt::Write for JsonEscape<'_, W> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let mut start = 0;
        for (i, b) in s.bytes().enumerate() {
            let esc = match b {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0..=0x1f | 0x7f => "",
                _ => continue,
            };
            self.0.write_str(&s[start..i])?;
            if esc.is_empty() {
                write!(self.0, "\\u{:04x}", b)?;
            } else {
                self.0.write_str(esc)?;
            }
            start = i + 1;
        }
        self.0.write_str(&s[start..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Runs `f` under a JSON-lines subscriber; returns the lines it logged.
    fn capture(f: impl FnOnce()) -> Vec<String> {
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let out = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || out.clone())
            .with_max_level(tracing::Level::TRACE)
            .event_format(JsonLines)
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert!(text.ends_with('\n'), "{text:?}");
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn timestamps() {
        for (secs, micros, want) in [
            (0, 0, "1970-01-01T00:00:00.000000Z"),
            (951_782_400, 1, "2000-02-29T00:00:00.000001Z"),
            (951_868_799, 999_999, "2000-02-29T23:59:59.999999Z"),
            (1_709_164_800, 42, "2024-02-29T00:00:00.000042Z"),
            (1_795_953_600, 795_922, "2026-11-29T12:00:00.795922Z"),
            (4_102_444_800, 500_000, "2100-01-01T00:00:00.500000Z"),
        ] {
            // Twice: the second comes from the per-second cache.
            for _ in 0..2 {
                assert_eq!(std::str::from_utf8(&timestamp(secs, micros)).unwrap(), want);
            }
        }
    }

    #[test]
    fn json_lines_are_json_with_the_fields_as_given() {
        let nasty = "quote\" back\\ nl\n cr\r tab\t nul\0 esc\x1b del\x7f é 🦀 \u{2028}";
        let raw = capture(|| {
            tracing::info!(
                path = nasty,
                status = 200u16,
                delta = -3i64,
                ms = 0.25,
                nan = f64::NAN,
                ok = true,
                list = ?["a\"b"],
                shown = %"x\ny",
                "request {}", "done\""
            );
            tracing::warn!("bare");
            let span = tracing::info_span!("outer");
            let _g = span.enter();
            tracing::error!(inner = 1u8, "in a span");
        });
        assert_eq!(raw.len(), 3);
        // Fixed keys first, in this order (serde_json's map sorts keys).
        assert!(raw[0].starts_with("{\"timestamp\":\""), "{}", raw[0]);
        assert!(
            raw[0][41..].starts_with("\",\"level\":\"INFO\",\"message\":"),
            "{}",
            raw[0]
        );
        let lines: Vec<serde_json::Value> = raw
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        let first = lines[0].as_object().unwrap();
        let want = serde_json::json!({
            "level": "INFO",
            "message": "request done\"",
            "path": nasty,
            "status": 200,
            "delta": -3,
            "ms": 0.25,
            "nan": null,
            "ok": true,
            "list": "[\"a\\\"b\"]",
            "shown": "x\ny",
        });
        for (k, v) in want.as_object().unwrap() {
            assert_eq!(&first[k], v, "{k}");
        }
        let ts = first["timestamp"].as_str().unwrap();
        assert!(
            ts.len() == 27 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T',
            "{ts}"
        );
        assert_eq!(
            lines[1],
            serde_json::json!({"timestamp": lines[1]["timestamp"], "level": "WARN", "message": "bare"})
        );
        assert_eq!(lines[2]["spans"], serde_json::json!(["outer"]));
        assert_eq!(lines[2]["inner"], 1);
    }
}
