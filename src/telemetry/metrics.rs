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
use prometheus_client::registry::Registry;

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
