//! Behaviour under pressure and hostile input: size limits, slow clients,
//! load shedding, deadlines, disconnects, readiness and metrics.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

#[tokio::test]
async fn oversized_requests_get_414_and_431() {
    let app = spawn_app().await;
    let long = format!("/cards/report.png?role=a&risk=1&pad={}", "x".repeat(9000));
    let r = app.get(&long).await;
    assert_eq!(r.status, StatusCode::URI_TOO_LONG);
    assert_eq!(r.error().0, "uri_too_long");

    // Too many header fields.
    let mut req = String::from("GET /healthz HTTP/1.1\r\nHost: x\r\n");
    for i in 0..200 {
        req += &format!("X-H{i}: v\r\n");
    }
    req += "Connection: close\r\n\r\n";
    let resp = raw(app.addr, req.as_bytes(), Duration::from_secs(5)).await;
    assert!(resp.starts_with("HTTP/1.1 431"), "{resp}");

    // Header block larger than the read buffer.
    let req = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "y".repeat(100 * 1024)
    );
    let resp = raw(app.addr, req.as_bytes(), Duration::from_secs(5)).await;
    assert!(resp.starts_with("HTTP/1.1 431"), "{resp}");
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
}

/// Reads until the peer closes; returns how long that took, or `None` if it
/// stayed open past `limit`.
async fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((start + limit).into(), s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn slow_and_silent_clients_are_dropped() {
    let app = spawn_app_with(|a| a.header_timeout = Duration::from_millis(600)).await;

    // Connects and says nothing.
    let mut silent = TcpStream::connect(app.addr).await.unwrap();
    let took = closed_within(&mut silent, Duration::from_secs(5)).await;
    assert!(took.is_some_and(|t| t < Duration::from_secs(3)), "{took:?}");

    // Slowloris: a header line every 200 ms, never finishing.
    let mut slow = TcpStream::connect(app.addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let dripper = tokio::spawn(async move {
        for i in 0..30 {
            if slow
                .write_all(format!("X-{i}: y\r\n").as_bytes())
                .await
                .is_err()
            {
                return Some(i);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        None
    });
    let stopped_at = dripper.await.unwrap();
    assert!(
        stopped_at.is_some_and(|i| i < 15),
        "server kept a slowloris open: {stopped_at:?}"
    );

    // An idle keep-alive connection is closed too.
    let mut idle = TcpStream::connect(app.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let took = closed_within(&mut idle, Duration::from_secs(5)).await;
    assert!(took.is_some_and(|t| t < Duration::from_secs(3)), "{took:?}");

    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
}

#[tokio::test]
async fn saturated_renders_shed_with_503_but_hits_are_served() {
    let app = Arc::new(
        spawn_app_with(|a| {
            a.render_threads = Some(1);
            a.render_queue = Some(0);
        })
        .await,
    );
    let cached = "/cards/report.png?role=Cached&risk=10";
    assert_eq!(app.get(cached).await.status, StatusCode::OK);

    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                app.get(&format!("/cards/report.png?role=Miss+{i}&risk=50"))
                    .await
            })
        })
        .collect();
    // While those compete for the single render thread, the cached card
    // is served.
    let hit = app.get(cached).await;
    assert_eq!(hit.status, StatusCode::OK);
    let mut statuses = HashMap::new();
    for t in tasks {
        let r = t.await.unwrap();
        if r.status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(r.header("retry-after"), "1");
            assert_eq!(r.error().0, "overloaded");
        }
        *statuses.entry(r.status.as_u16()).or_insert(0) += 1;
    }
    assert!(statuses.get(&503).copied().unwrap_or(0) > 0, "{statuses:?}");
    assert!(statuses.get(&200).copied().unwrap_or(0) > 0, "{statuses:?}");
    assert_eq!(
        statuses.keys().filter(|s| **s != 200 && **s != 503).count(),
        0,
        "{statuses:?}"
    );
    assert!(app.state.metrics.shed.get() > 0);
}

#[tokio::test]
async fn a_render_past_its_deadline_is_503_and_still_lands_in_the_cache() {
    let app = spawn_app_with(|a| a.render_timeout = Duration::from_millis(1)).await;
    let path = "/cards/report.png?role=Slowpoke&risk=33";
    let r = app.get(path).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.error().0, "render_timeout");
    assert!(r.headers.contains_key("retry-after"));
    // The render goes on and lands in the cache.
    while app.state.cache().entry_count().await == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let r = app.get(path).await;
    assert_eq!(r.status, StatusCode::OK, "served from the cache");
    assert_eq!(app.renders(), 1);
}

#[tokio::test]
async fn a_client_that_disconnects_mid_render_costs_one_render() {
    let app = spawn_app().await;
    let path = "/cards/report.png?role=Gone+Away&risk=61";
    for _ in 0..5 {
        let mut s = TcpStream::connect(app.addr).await.unwrap();
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        drop(s);
    }
    for _ in 0..200 {
        if app.renders() >= 1 && app.state.metrics.renders_in_flight.get() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let r = app.get(path).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        app.renders(),
        1,
        "one render despite five abandoned requests"
    );
}

#[tokio::test]
async fn readiness_waits_for_a_good_self_test() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
    assert!(app.self_tested().await);
    assert_eq!(app.get("/readyz").await.status, StatusCode::OK);

    // A template that compiles but produces an SVG usvg cannot parse: the
    // process is alive but never ready.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("broken.svg"),
        r#"{%- set width = 100 -%}{%- set height = 100 -%}{%- set fields = [] -%}<svg xmlns="http://www.w3.org/2000/svg"><rect"#,
    )
    .unwrap();
    let path = dir.path().to_path_buf();
    let app = spawn_app_with(move |a| a.card.templates_dir = Some(path)).await;
    assert!(!app.self_tested().await, "the self-test failed");
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
    let r = app.get("/readyz").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.error().0, "not_ready");
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("self-test")
    );
}

#[tokio::test]
async fn metrics_count_what_happens() {
    let app = spawn_app().await;
    let get_metrics = || async {
        let r = app.get("/metrics").await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.header("content-type").starts_with("text/plain"));
        metrics(std::str::from_utf8(&r.body).unwrap())
    };
    let before = get_metrics().await;
    let card = app.get(&format!("/cards/report.png?{ML_ENGINEER}")).await;
    app.get(&format!("/cards/report.png?{ML_ENGINEER}")).await;
    app.get("/cards/report.png?role=x").await;
    let after = get_metrics().await;
    let delta =
        |k: &str| after.get(k).copied().unwrap_or(0.0) - before.get(k).copied().unwrap_or(0.0);
    assert_eq!(delta("sharecard_renders_total"), 1.0);
    assert_eq!(delta("sharecard_cache_misses_total"), 1.0);
    assert_eq!(delta("sharecard_cache_hits_total"), 1.0);
    assert_eq!(
        delta(r#"sharecard_http_requests_total{route="card",status="200"}"#),
        2.0
    );
    assert_eq!(
        delta(r#"sharecard_http_requests_total{route="card",status="400"}"#),
        1.0
    );
    assert_eq!(
        delta("sharecard_png_served_bytes_total"),
        2.0 * card.body.len() as f64
    );
    assert_eq!(after["sharecard_cache_entries"], 1.0);
    assert!(after["sharecard_cache_bytes"] >= card.body.len() as f64);
    assert_eq!(delta("sharecard_render_duration_seconds_count"), 1.0);
    assert!(after.contains_key(r#"sharecard_http_request_duration_seconds_count{route="card"}"#));
    for k in [
        "sharecard_renders_in_flight",
        "sharecard_render_queue_depth",
        "sharecard_shed_requests_total",
        "sharecard_cache_evictions_total",
    ] {
        assert!(after.contains_key(k), "{k} exported");
    }
}

#[tokio::test]
async fn the_cache_stays_within_its_byte_budget() {
    let app = spawn_app_with(|a| a.cache_mb = 1).await;
    // ~30 KB a card: 80 distinct cards are well over 1 MiB.
    for i in 0..80 {
        let r = app
            .get(&format!("/cards/report.png?role=Budget+{i}&risk={i}"))
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let size = app.state.cache().weighted_size().await;
    assert!(
        size <= 1024 * 1024,
        "weighted size {size} over the 1 MiB budget"
    );
    app.state.cache().sync_metrics().await;
    assert!(
        app.state.metrics.cache_evictions.get() > 0,
        "evictions happened"
    );
}

#[tokio::test]
async fn hostile_inputs_get_clear_4xx_never_5xx() {
    let app = spawn_app().await;
    let ten_kb = "A".repeat(10 * 1024);
    let many = (0..10_000)
        .map(|i| format!("p{i}=1"))
        .collect::<Vec<_>>()
        .join("&");
    let few_many = (0..100)
        .map(|i| format!("p{i}=1"))
        .collect::<Vec<_>>()
        .join("&");
    let markup = "%3C%2Fsvg%3E%3Cimage%20href%3D%22file%3A%2F%2F%2Fetc%2Fpasswd%22%2F%3E%26lt%3B%26%23x41%3B%3C!ENTITY%20x%20SYSTEM%20%22file%3A%2F%2F%2F%22%3E";
    let cases: Vec<(String, &[u16])> = vec![
        (
            format!("role={markup}&risk=1&tagline={markup}&threat={markup}&threat_risk=1"),
            &[200],
        ),
        (format!("role=a&risk=1&level={markup}"), &[400]),
        ("role=a%00b&risk=1".into(), &[400]),
        ("role=a%7Fb&risk=1".into(), &[400]),
        ("role=a%E2%80%8Fb&risk=1".into(), &[200]), // RLM is a mark, allowed
        ("role=a%E2%80%AEb&risk=1".into(), &[400]), // RLO override
        ("role=a%E2%81%A7b&risk=1".into(), &[400]), // FSI isolate
        (format!("role={ten_kb}&risk=1"), &[414]),
        (
            format!("role=a&risk=1&tagline={}", "B".repeat(5000)),
            &[400],
        ),
        (format!("role=a&risk=1&{many}"), &[414]),
        (format!("role=a&risk=1&{few_many}"), &[400]),
        ("role=a&role=a&risk=1".into(), &[400]),
        ("role=a&risk=1&risk=1".into(), &[400]),
        ("role=%&risk=1".into(), &[400]),
        ("role=%G1&risk=1".into(), &[400]),
        ("role=%C0%80&risk=1".into(), &[400]), // overlong NUL
        ("role=%E0%80%AF&risk=1".into(), &[400]), // overlong '/'
        ("role=%F4%90%80%80&risk=1".into(), &[400]), // past U+10FFFF
        ("role=%80&risk=1".into(), &[400]),
        ("role=a&risk=NaN".into(), &[400]),
        ("role=a&risk=-5".into(), &[400]),
        ("role=a&risk=5.0".into(), &[400]),
        ("role=a&risk=1e1".into(), &[400]),
        ("role=a&risk=99999999999999999999".into(), &[400]),
        ("role=a&risk=%20%2048".into(), &[400]),
        ("role=a&risk=1&threat=x&threat_risk=Infinity".into(), &[400]),
        ("role=a&risk=1&scale=1000000".into(), &[400]),
        ("role=a&risk=1&scale=-1".into(), &[400]),
        ("role=%F0%9F%98%80&risk=1".into(), &[200]), // emoji: bundled Twemoji
        ("role=%F0%9F%AB%A9&risk=1".into(), &[422]), // Emoji 16.0: not in Twemoji 15
        ("role=%EE%80%80x&risk=1".into(), &[200, 422]), // private use
        ("=&&&=&role=a&risk=1".into(), &[200]),
    ];
    for (q, want) in &cases {
        if q.len() > 60_000 {
            // Beyond what the `http` crate lets a client build: send raw.
            let req = format!(
                "GET /cards/report.png?{q} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            );
            let resp = raw(app.addr, req.as_bytes(), Duration::from_secs(5)).await;
            assert!(
                resp.starts_with("HTTP/1.1 414") || resp.starts_with("HTTP/1.1 431"),
                "{resp:.200}"
            );
            continue;
        }
        let r = app.get(&format!("/cards/report.png?{q}")).await;
        let status = r.status.as_u16();
        assert!(
            want.contains(&status),
            "{q:.80}: got {status}, want {want:?}"
        );
        if status >= 400 {
            let (code, _) = r.error();
            assert!(!code.is_empty());
        }
        let r = app.get(&format!("/share/report?{q}")).await;
        assert!(r.status.as_u16() < 500, "share {q:.80}: {}", r.status);
    }
    // Raw bytes hyper passes through in the request target.
    for target in [
        "/cards/report.png?role=%FF&risk=1",
        "/cards/%FF.png?role=a&risk=1",
        "/cards/.png?role=a&risk=1",
        "/cards/report.png.png?role=a&risk=1",
    ] {
        let req = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let resp = raw(app.addr, req.as_bytes(), Duration::from_secs(5)).await;
        let status: u16 = resp.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        assert!((400..500).contains(&status), "{target}: {resp:.200}");
    }
    assert_eq!(
        app.get("/healthz").await.status,
        StatusCode::OK,
        "still alive"
    );
}
