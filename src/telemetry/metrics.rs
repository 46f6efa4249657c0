//! The service's metrics.
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
use prometheus_client::registry::{Metric, Registry};

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
        let r = &mut registry;
        // Fields are evaluated, and so registered and exposed, in order.
        Metrics {
            requests: registered(
                r,
                "http_requests",
                "HTTP requests by route and status",
                Family::default(),
            ),
            request_duration: registered(
                r,
                "http_request_duration_seconds",
                "Time from request to response headers",
                // 0.1 ms … ~3.3 s
                Family::new_with_constructor(|| {
                    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
                }),
            ),
            render_duration: registered(
                r,
                "render_duration_seconds",
                "Time to render one card (template, raster, encode)",
                Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
            ),
            renders: registered(r, "renders", "Cards rendered", Counter::default()),
            render_failures: registered(
                r,
                "render_failures",
                "Renders that failed",
                Counter::default(),
            ),
            renders_in_flight: registered(
                r,
                "renders_in_flight",
                "Renders running now",
                Gauge::default(),
            ),
            render_queue: registered(
                r,
                "render_queue_depth",
                "Renders waiting for a thread",
                Gauge::default(),
            ),
            shed: registered(
                r,
                "shed_requests",
                "Requests refused with 503 because renders were saturated",
                Counter::default(),
            ),
            cache_hits: registered(
                r,
                "cache_hits",
                "Card requests answered from the cache",
                Counter::default(),
            ),
            cache_misses: registered(
                r,
                "cache_misses",
                "Card requests that needed a render",
                Counter::default(),
            ),
            cache_evictions: registered(
                r,
                "cache_evictions",
                "Cards evicted from the cache (size or TTL)",
                Counter::default(),
            ),
            cache_entries: registered(r, "cache_entries", "Cards in the cache", Gauge::default()),
            cache_bytes: registered(
                r,
                "cache_bytes",
                "Weighted size of the cache in bytes",
                Gauge::default(),
            ),
            sealed_bytes: registered(
                r,
                "sealed_bytes",
                "Cached PNG bytes in the memory file they are sent from with sendfile \
                 (shared memory, outside the process's RSS)",
                Gauge::default(),
            ),
            png_bytes_served: registered(
                r,
                "png_bytes_served",
                "PNG body bytes sent",
                Counter::default(),
            ),
            recompressed: registered(
                r,
                "recompressed",
                "Cached cards re-encoded smaller in the background",
                Counter::default(),
            ),
            registry,
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

/// Registers `metric` and returns it: a metric is a handle to shared
/// atomics, so the copy returned records into the one registered.
fn registered<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M {
    registry.register(name, help, metric.clone());
    metric
}
