//! The access log: one line per request, and the request counters.
//!
//! Every request logs this line, so its fields are plain strings and
//! numbers: tracing records those directly, where `%`/`?` fields go
//! through the formatting machinery (the costliest part of a cache hit
//! once, `bench/loadtest.sh`). `ms` is rounded to 10 µs.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, Uri};
use sharecard_render::card::query::is_named;

use super::{Metrics, RequestLabels, RouteLabels};

/// One answered request, as the log and the counters see it.
pub(crate) struct Served<'a> {
    pub(crate) method: &'a Method,
    pub(crate) uri: &'a Uri,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) peer: SocketAddr,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub(crate) trusted: &'a [ipnet::IpNet],
    /// The route's name in metrics and logs.
    pub(crate) route: &'static str,
    /// Whether the body is a card image (counted as PNG bytes served).
    pub(crate) card: bool,
    pub(crate) status: u16,
    /// The body's length as sent (none for HEAD and 304).
    pub(crate) bytes: u64,
    pub(crate) elapsed: Duration,
    /// `hit`, `miss`, `coalesced` or `-`.
    pub(crate) cache: &'static str,
    pub(crate) request_id: &'a HeaderValue,
}

/// Counts `r` in `metrics` and writes its access log line.
pub(crate) fn record(metrics: &Metrics, r: &Served<'_>) {
    let (route, status) = (r.route, r.status);
    metrics
        .requests
        .get_or_create(&RequestLabels { route, status })
        .inc();
    metrics
        .request_duration
        .get_or_create(&RouteLabels { route })
        .observe(r.elapsed.as_secs_f64());
    if r.card && matches!(status, 200 | 206) {
        metrics.png_served_bytes.inc_by(r.bytes);
    }
    let path = log_path(r.uri);
    let client = client_addr(r.peer, r.headers, r.trusted);
    let mut client_buf = [0u8; 46];
    tracing::info!(
        client = fmt_ip(client, &mut client_buf),
        method = r.method.as_str(),
        path = &*path,
        status,
        bytes = r.bytes,
        ms = (r.elapsed.as_secs_f64() * 100_000.0).round() / 100.0,
        cache = r.cache,
        user_agent = r
            .headers
            .get(hyper::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-"),
        request_id = r.request_id.to_str().unwrap_or("-"),
        "request"
    );
}

/// The client's address: the peer, or when the peer is a trusted proxy,
/// the last address in `X-Forwarded-For` that is not one (each proxy
/// appends the address it saw; only the ones we trust cannot lie).
fn client_addr(peer: SocketAddr, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = peer.ip().to_canonical();
    if !is_trusted(&client) {
        return client;
    }
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect::<Vec<_>>();
    for hop in hops.into_iter().rev() {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            break; // not an address: trust nothing before it
        };
        client = ip.to_canonical();
        if !is_trusted(&client) {
            break;
        }
    }
    client
}

/// `ip` as text, without allocating (an access log line per request).
fn fmt_ip(ip: IpAddr, buf: &mut [u8; 46]) -> &str {
    use std::io::Write;
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    let _ = write!(cursor, "{ip}");
    let len = usize::try_from(cursor.position()).unwrap_or(0);
    std::str::from_utf8(&buf[..len]).unwrap_or("-")
}

/// The path and query for logs, without a `sig` parameter's value: a
/// signature in a log is a credential in a log. A parameter is `sig` as the
/// verifier reads it, by its decoded name, so `si%67=…` is hidden too.
fn log_path(uri: &hyper::Uri) -> std::borrow::Cow<'_, str> {
    let path = uri.path();
    match uri.query() {
        // Most requests carry no signature: logged as they came, uncopied.
        None => path.into(),
        Some(q) if !q.split('&').any(|p| is_named(p, "sig")) => {
            uri.path_and_query().map_or(path, |pq| pq.as_str()).into()
        }
        Some(q) => {
            let q: Vec<&str> = q
                .split('&')
                .map(|p| {
                    if is_named(p, "sig") {
                        "sig=REDACTED"
                    } else {
                        p
                    }
                })
                .collect();
            format!("{path}?{}", q.join("&")).into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_is_the_peer_unless_a_trusted_proxy_forwarded_it() {
        let trusted: Vec<ipnet::IpNet> = ["10.0.0.0/8", "127.0.0.1"]
            .iter()
            .map(|n| crate::config::parse_net(n).unwrap())
            .collect();
        let xff = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert("x-forwarded-for", v.parse().unwrap());
            h
        };
        let peer = |ip: &str| SocketAddr::new(ip.parse().unwrap(), 40000);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        for (from, headers, want) in [
            // An untrusted peer's header is ignored.
            ("203.0.113.9", xff("198.51.100.1"), "203.0.113.9"),
            ("127.0.0.1", HeaderMap::new(), "127.0.0.1"),
            ("127.0.0.1", xff("198.51.100.1"), "198.51.100.1"),
            // A client cannot prepend a fake: the last untrusted hop wins.
            (
                "127.0.0.1",
                xff("1.2.3.4, 198.51.100.1, 10.1.2.3"),
                "198.51.100.1",
            ),
            ("127.0.0.1", xff("garbage, 10.1.2.3"), "10.1.2.3"),
            ("::ffff:127.0.0.1", xff("2001:db8::1"), "2001:db8::1"),
        ] {
            assert_eq!(
                client_addr(peer(from), &headers, &trusted),
                ip(want),
                "{from} {headers:?}"
            );
        }
        let mut buf = [0u8; 46];
        let v6 = ip("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255");
        assert_eq!(fmt_ip(v6, &mut buf), v6.to_string());
    }

    #[test]
    fn log_path_redacts_signatures() {
        for (uri, logged) in [
            ("/healthz", "/healthz"),
            (
                "/cards/report.png?role=a&risk=1",
                "/cards/report.png?role=a&risk=1",
            ),
            (
                "/cards/report.png?role=a&sig=SECRET&risk=1",
                "/cards/report.png?role=a&sig=REDACTED&risk=1",
            ),
            ("/c?sig=", "/c?sig=REDACTED"),
            // Spelled as the verifier decodes it.
            ("/c?si%67=SECRET&a=1", "/c?sig=REDACTED&a=1"),
            ("/c?%73%69%67=SECRET", "/c?sig=REDACTED"),
            ("/c?si%6=SECRET", "/c?sig=REDACTED"),
            ("/c?a%20b=1&sig+=2", "/c?a%20b=1&sig+=2"),
            ("/c?design=sig=1&xsig=2", "/c?design=sig=1&xsig=2"),
        ] {
            let uri: hyper::Uri = uri.parse().unwrap();
            assert_eq!(log_path(&uri), logged);
        }
    }
}
