//! The service's metrics.
//!
//! Metrics use `prometheus-client`; [`Metrics::encode`] writes the
//! OpenMetrics text that `/metrics` serves to scrapers that ask for it, or
//! the Prometheus text format 0.0.4 for everyone else. Counters are
//! atomics, so recording on the hot path costs a few nanoseconds and never
//! locks (except label lookup in families, which is a read lock on a small
//! map). Names carry their unit as a suffix (`_seconds`, `_bytes`) and
//! counters end in `_total`; the `process_*` metrics are the standard ones
//! every Prometheus client library exports.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Metric, Registry};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub(crate) route: &'static str,
    pub(crate) status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouteLabels {
    pub(crate) route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    revision: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TemplateLabels {
    template: String,
    version: String,
}

/// The exposition formats `/metrics` speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exposition {
    OpenMetrics,
    /// Prometheus text format 0.0.4.
    Prometheus,
}

impl Exposition {
    /// OpenMetrics when the scraper lists it in `Accept` (Prometheus does),
    /// else the older text format every scraper reads.
    pub(crate) fn negotiate(accept: Option<&str>) -> Exposition {
        let wants_openmetrics = accept.is_some_and(|a| {
            a.split(',').any(|range| {
                let mut parts = range.split(';').map(str::trim);
                let ty = parts.next().unwrap_or("");
                let refused = parts.any(|p| {
                    p.strip_prefix("q=")
                        .and_then(|q| q.parse::<f32>().ok())
                        .is_some_and(|q| q == 0.0)
                });
                ty.eq_ignore_ascii_case("application/openmetrics-text") && !refused
            })
        });
        if wants_openmetrics {
            Exposition::OpenMetrics
        } else {
            Exposition::Prometheus
        }
    }

    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Exposition::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Exposition::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

/// The service's metrics. Public are the counters the integration tests
/// read; the rest is the registry's business.
pub struct Metrics {
    registry: Registry,
    pub(crate) requests: Family<RequestLabels, Counter>,
    pub(crate) request_duration: Family<RouteLabels, Histogram>,
    pub(crate) render_duration: Histogram,
    pub renders: Counter,
    pub(crate) render_failures: Counter,
    pub renders_in_flight: Gauge,
    pub(crate) render_queue: Gauge,
    pub shed: Counter,
    pub(crate) cache_hits: Counter,
    pub cache_misses: Counter,
    pub cache_evictions: Counter,
    pub(crate) cache_entries: Gauge,
    pub(crate) cache_bytes: Gauge,
    pub(crate) sealed_bytes: Gauge,
    pub(crate) png_served_bytes: Counter,
    pub(crate) recompressed: Counter,
    templates: Family<TemplateLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(super::process::ProcessCollector::new()));
        let r = registry.sub_registry_with_prefix("sharecard");
        let build: Family<BuildLabels, Gauge> = registered(
            r,
            "build_info",
            "Always 1: the version and git revision of this build",
            Family::default(),
        );
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
                revision: env!("SHARECARD_GIT_REVISION"),
            })
            .set(1);
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
                "Cached card bytes (PNG and WebP) in the memory file they are sent from with sendfile \
                 (shared memory, outside the process's RSS)",
                Gauge::default(),
            ),
            png_served_bytes: registered(
                r,
                "png_served_bytes",
                "Card body bytes sent, PNG and WebP (HEAD and 304 send none)",
                Counter::default(),
            ),
            recompressed: registered(
                r,
                "recompressed",
                "Cached cards re-encoded smaller in the background",
                Counter::default(),
            ),
            templates: registered(
                r,
                "template_info",
                "Always 1: each loaded template and its version (the v= in card URLs)",
                Family::default(),
            ),
            registry,
        }
    }

    /// Sets `sharecard_template_info` to the templates loaded now (they
    /// change when --templates-dir is reloaded).
    pub(crate) fn set_templates<'a>(&self, templates: impl Iterator<Item = (&'a str, &'a str)>) {
        self.templates.clear();
        for (template, version) in templates {
            self.templates
                .get_or_create(&TemplateLabels {
                    template: template.to_owned(),
                    version: version.to_owned(),
                })
                .set(1);
        }
    }

    /// The exposition in `format`.
    pub(crate) fn encode(&self, format: Exposition) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        match format {
            Exposition::OpenMetrics => out,
            Exposition::Prometheus => openmetrics_to_prometheus(&out),
        }
    }
}

/// The Prometheus text format 0.0.4 from OpenMetrics text: a counter's
/// family is named with its `_total` (as its samples are), and `# UNIT` and
/// `# EOF` go (0.0.4 has neither). prometheus-client writes only OpenMetrics.
fn openmetrics_to_prometheus(om: &str) -> String {
    let counters: std::collections::HashSet<&str> = om
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(om.len() + 16 * counters.len());
    for line in om.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|p| line.strip_prefix(p).map(|rest| (p, rest)));
        match meta {
            Some((p, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                out.push_str(p);
                out.push_str(name);
                if counters.contains(name) {
                    out.push_str("_total");
                }
                out.push(' ');
                out.push_str(tail);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Registers `metric` and returns it: a metric is a handle to shared
/// atomics, so the copy returned records into the one registered.
fn registered<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M {
    registry.register(name, help, metric.clone());
    metric
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_chooses_the_format() {
        for (accept, want) in [
            (None, Exposition::Prometheus),
            (Some("*/*"), Exposition::Prometheus),
            (Some("text/plain"), Exposition::Prometheus),
            // What Prometheus 2.x sends.
            (
                Some(
                    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
                ),
                Exposition::OpenMetrics,
            ),
            (
                Some("application/openmetrics-text; q=0"),
                Exposition::Prometheus,
            ),
        ] {
            assert_eq!(Exposition::negotiate(accept), want, "{accept:?}");
        }
    }

    #[test]
    fn each_format_is_what_its_content_type_says() {
        let m = Metrics::new();
        m.renders.inc();
        m.set_templates([("report", "abc123")].into_iter());
        let om = m.encode(Exposition::OpenMetrics);
        assert!(om.ends_with("# EOF\n"));
        assert!(om.contains("# TYPE sharecard_renders counter\nsharecard_renders_total 1\n"));
        assert!(om.contains("sharecard_template_info{template=\"report\",version=\"abc123\"} 1"));
        assert!(om.contains("sharecard_build_info{version=\""));
        let prom = m.encode(Exposition::Prometheus);
        assert!(!prom.contains("# EOF") && !prom.contains("# UNIT"));
        // Every sample belongs to the family its # TYPE line names.
        let mut families = std::collections::HashMap::new();
        for line in prom.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                families.insert(name.to_owned(), kind.to_owned());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| {
                        name.strip_suffix(s)
                            .filter(|f| families.get(*f).is_some_and(|k| k == "histogram"))
                    })
                    .unwrap_or(name);
                assert!(
                    families.contains_key(family),
                    "{name} has no # TYPE: {prom}"
                );
            }
        }
        assert_eq!(families["sharecard_renders_total"], "counter");
        assert_eq!(families["sharecard_png_served_bytes_total"], "counter");
    }
}
