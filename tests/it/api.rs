//! The HTTP contract, spoken over real sockets to the real server.

use std::time::Duration;

use hyper::{Method, StatusCode};

use crate::helpers::*;

#[tokio::test]
async fn serves_the_report_card_as_a_1200x630_png() {
    let app = spawn_app().await;
    let r = app.get(&format!("/cards/report.png?{ML_ENGINEER}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), "image/png");
    assert_eq!(r.header("content-length"), r.body.len().to_string());
    assert_eq!(
        r.header("cache-control"),
        "public, max-age=86400, stale-while-revalidate=604800"
    );
    let etag = r.header("etag");
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 10,
        "strong ETag {etag}"
    );
    assert_eq!(png_size(&r.body), (1200, 630));
    assert!(r.body.len() < 5 * 1024 * 1024, "under X's 5 MB limit");
}

#[tokio::test]
async fn etag_revalidates_with_304_and_no_render() {
    let app = spawn_app().await;
    let path = format!("/cards/report.png?{ML_ENGINEER}");
    let first = app.get(&path).await;
    let etag = first.header("etag").to_owned();
    assert_eq!(app.renders(), 1);
    for inm in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"other\", {etag}"),
        "*".into(),
    ] {
        let r = app
            .request(Method::GET, &path, &[("if-none-match", &inm)])
            .await;
        assert_eq!(r.status, StatusCode::NOT_MODIFIED, "{inm}");
        assert!(r.body.is_empty());
        assert_eq!(r.header("etag"), etag);
        assert!(r.headers.contains_key("cache-control"));
    }
    let r = app
        .request(Method::GET, &path, &[("if-none-match", "\"stale\"")])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, first.body);
    assert_eq!(app.renders(), 1, "revalidation never renders");

    // A 304 is answered without rendering even for a card not yet cached.
    let other = "/cards/report.png?role=Never+Rendered&risk=3";
    let etag = app.get(other).await.header("etag").to_owned();
    let fresh = spawn_app().await;
    let r = fresh
        .request(Method::GET, other, &[("if-none-match", &etag)])
        .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_MODIFIED,
        "ETags are stable across instances"
    );
    assert_eq!(fresh.renders(), 0);
}

#[tokio::test]
async fn head_answers_like_get_without_a_body() {
    let app = spawn_app().await;
    let path = format!("/cards/report.png?{ML_ENGINEER}");
    let head = app.request(Method::HEAD, &path, &[]).await;
    let get = app.get(&path).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    for h in ["content-type", "content-length", "etag", "cache-control"] {
        assert_eq!(head.header(h), get.header(h), "{h}");
    }
    assert_eq!(head.header("content-length"), get.body.len().to_string());
    // Errors too.
    let head = app
        .request(Method::HEAD, "/cards/report.png?role=x", &[])
        .await;
    assert_eq!(head.status, StatusCode::BAD_REQUEST);
    assert!(head.body.is_empty());
}

#[tokio::test]
async fn client_mistakes_get_json_errors_naming_the_field() {
    let app = spawn_app().await;
    let cases: &[(&str, u16, &str, Option<&str>)] = &[
        ("/cards/report.png", 400, "missing_field", Some("role")),
        (
            "/cards/report.png?risk=48",
            400,
            "missing_field",
            Some("role"),
        ),
        (
            "/cards/report.png?role=A",
            400,
            "missing_field",
            Some("risk"),
        ),
        (
            "/cards/report.png?role=A&risk=101",
            400,
            "invalid_percent",
            Some("risk"),
        ),
        (
            "/cards/report.png?role=A&risk=4.5",
            400,
            "invalid_percent",
            Some("risk"),
        ),
        (
            "/cards/report.png?role=A&risk=-3",
            400,
            "invalid_percent",
            Some("risk"),
        ),
        (
            "/cards/report.png?role=A&risk=NaN",
            400,
            "invalid_percent",
            Some("risk"),
        ),
        (
            "/cards/report.png?role=A&risk=1&level=doomed",
            400,
            "invalid_level",
            Some("level"),
        ),
        (
            "/cards/report.png?role=A&risk=1&threat=X",
            400,
            "missing_field",
            Some("threat_risk"),
        ),
        (
            "/cards/report.png?role=A&risk=1&threat=X&threat_risk=200",
            400,
            "invalid_percent",
            Some("threat_risk"),
        ),
        (
            "/cards/report.png?role=%zz&risk=1",
            400,
            "invalid_encoding",
            Some("role"),
        ),
        (
            "/cards/report.png?role=%FF%FE&risk=1",
            400,
            "invalid_encoding",
            Some("role"),
        ),
        (
            "/cards/report.png?role=%C0%AF&risk=1",
            400,
            "invalid_encoding",
            Some("role"),
        ),
        (
            "/cards/report.png?role=a%00b&risk=1",
            400,
            "invalid_character",
            Some("role"),
        ),
        (
            "/cards/report.png?role=a%1Bb&risk=1",
            400,
            "invalid_character",
            Some("role"),
        ),
        (
            "/cards/report.png?role=a&risk=1&tagline=x%E2%80%AEy",
            400,
            "invalid_character",
            Some("tagline"),
        ),
        (
            "/cards/report.png?role=a&role=b&risk=1",
            400,
            "repeated_parameter",
            Some("role"),
        ),
        (
            "/cards/report.png?role=a&risk=1&scale=9",
            400,
            "invalid_scale",
            Some("scale"),
        ),
        ("/cards/nope.png?role=a&risk=1", 404, "not_found", None),
        ("/cards/REPORT.png?role=a&risk=1", 404, "not_found", None),
        ("/cards/report.jpg?role=a&risk=1", 404, "not_found", None),
        ("/cards/../report.png?role=a&risk=1", 404, "not_found", None),
        ("/nothing-here", 404, "not_found", None),
    ];
    for (path, status, code, field) in cases {
        let r = app.get(path).await;
        assert_eq!(r.status.as_u16(), *status, "{path}");
        assert_eq!(
            r.header("content-type"),
            "application/json; charset=utf-8",
            "{path}"
        );
        let (got_code, got_field) = r.error();
        assert_eq!(got_code, *code, "{path}");
        assert_eq!(got_field.as_deref(), *field, "{path}");
    }
    let long = format!("/cards/report.png?role={}&risk=1", "x".repeat(81));
    let r = app.get(&long).await;
    assert_eq!((r.status.as_u16(), r.error().0.as_str()), (400, "too_long"));
    assert_eq!(app.renders(), 0, "no mistake ever renders");
}

#[tokio::test]
async fn other_methods_get_405_with_allow() {
    let app = spawn_app().await;
    for method in [
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
    ] {
        for path in ["/cards/report.png?role=a&risk=1", "/healthz"] {
            let r = app.request(method.clone(), path, &[]).await;
            assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert_eq!(r.header("allow"), "GET, HEAD");
            assert_eq!(r.error().0, "method_not_allowed");
        }
    }
}

#[tokio::test]
async fn invalid_utf8_and_raw_bytes_in_the_target_are_400_not_500() {
    let app = spawn_app().await;
    // Bytes hyper accepts in a request target but that decode to nonsense.
    for target in [
        "/cards/report.png?role=%E2%82&risk=1",
        "/cards/report.png?role=%ED%A0%80&risk=1",
        "/cards/report.png?ro%ZZle=a&risk=1",
    ] {
        let req = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let resp = raw(app.addr, req.as_bytes(), Duration::from_secs(5)).await;
        assert!(resp.starts_with("HTTP/1.1 400"), "{target}: {resp}");
        assert!(resp.contains("\"invalid_encoding\""), "{target}: {resp}");
    }
    // The server is still fine.
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_parameters_share_one_cache_entry() {
    let app = spawn_app().await;
    let a = app.get("/cards/report.png?role=Paralegal&risk=67").await;
    let b = app
        .get("/cards/report.png?utm_source=x&risk=67&cb=123&role=Paralegal&level=elevated")
        .await;
    let c = app
        .get("/cards/report.png?role=+Paralegal+&risk=67&fbclid=abc")
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.header("etag"), b.header("etag"));
    assert_eq!(a.header("etag"), c.header("etag"));
    assert_eq!(a.body, b.body);
    assert_eq!(app.renders(), 1);
    // A different card is a different entry.
    let d = app.get("/cards/report.png?role=Paralegal&risk=68").await;
    assert_ne!(a.header("etag"), d.header("etag"));
    assert_eq!(app.renders(), 2);
}

#[tokio::test]
async fn fifty_concurrent_requests_for_a_new_card_render_once() {
    let app = std::sync::Arc::new(spawn_app().await);
    let path = "/cards/report.png?role=Stampede+Engineer&risk=77&threat=Herding&threat_risk=99";
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { app.get(path).await })
        })
        .collect();
    let mut bodies = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, StatusCode::OK);
        bodies.push(r.body);
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "same bytes for all"
    );
    assert_eq!(app.renders(), 1);
}

#[tokio::test]
async fn markup_in_fields_is_text_not_markup() {
    let app = spawn_app().await;
    let q = "role=R%26D%20%3CLead%3E%20%22Quant%22&tagline=%3C%2Ftext%3E%3Csvg%20onload%3D1%3E%26amp%3B&risk=100&threat=%3Cscript%3Ealert(1)%3C%2Fscript%3E&threat_risk=0";
    let r = app.get(&format!("/cards/report.png?{q}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(png_size(&r.body), (1200, 630));
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let r = app.get("/healthz").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["status"], "ok");
    // Ready once the self-test render finished.
    assert!(app.self_tested().await);
    assert_eq!(
        app.get("/readyz").await.status,
        StatusCode::OK,
        "/readyz turns 200 after the self-test"
    );
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    let mut app = spawn_app().await;
    let url = format!("/cards/report.png?{ML_ENGINEER}&risk_note=drain");
    let addr = app.addr;
    // Start a request, then ask the server to stop while it renders.
    let pending = tokio::spawn(async move {
        let req = format!("GET {url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        raw(addr, req.as_bytes(), Duration::from_secs(10)).await
    });
    // Wait until the server has the request (its render started).
    while app.state.metrics.cache_misses.get() == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    app.stop().await.expect("clean exit");
    let resp = pending.await.unwrap();
    assert!(
        resp.starts_with("HTTP/1.1 200"),
        "{}",
        &resp[..resp.len().min(200)]
    );
    // And no new connections are accepted.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn sample_cards_over_the_limits_are_refused_clearly() {
    let app = spawn_app().await;
    let long = samples()
        .into_iter()
        .find(|s| s.slug == "long-title")
        .unwrap();
    let r = app
        .get(&format!("/cards/report.png?{}", long.raw_query))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error(), ("too_long".into(), Some("threat".into())));
    let r = app.get(&format!("/cards/report.png?{}", long.query)).await;
    assert_eq!(r.status, StatusCode::OK);
}

/// The real binary, as deployed (stdout a pipe, JSON lines): request lines
/// are batched per thread, so this checks that they still arrive within the
/// flush interval rather than when a batch fills, that every line is one
/// JSON object, and that SIGTERM writes out what is left.
#[test]
fn the_binary_logs_json_lines_promptly_and_flushes_on_sigterm() {
    use std::io::{Read, Write};

    let mut child = serve_binary("json");
    let lines = log_lines(&mut child);
    let next_until = |want: &dyn Fn(&serde_json::Value) -> bool| next_json(&lines, want);
    let listening = next_until(&|v| v["message"] == "listening");
    let addr = listening["addr"].as_str().unwrap().to_owned();

    // Three requests, far from filling a batch.
    for n in 0..3 {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        write!(
            s,
            "GET /healthz?n={n} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
        )
        .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    }
    // Lines from different worker threads may arrive in either order.
    let mut paths: Vec<String> = (0..3)
        .map(|_| {
            let line = next_until(&|v| v["message"] == "request");
            assert_eq!(line["status"], 200);
            assert!(line["ms"].is_number() && line["request_id"].is_string());
            line["path"].as_str().unwrap().to_owned()
        })
        .collect();
    paths.sort();
    assert_eq!(paths, ["/healthz?n=0", "/healthz?n=1", "/healthz?n=2"]);

    // SIGTERM: the shutdown lines are written out before the process ends.
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill(1) runs");
    assert!(killed.success());
    next_until(&|v| v["message"] == "all connections closed");
    assert!(child.wait().unwrap().success());
}

#[tokio::test]
async fn request_ids_are_echoed_when_sane_and_ours_otherwise() {
    let app = spawn_app().await;
    let ours = |id: &str| {
        let (boot, n) = id.split_once('-').unwrap_or_else(|| panic!("{id}"));
        boot.len() == 8
            && !n.is_empty()
            && (boot.to_owned() + n).bytes().all(|b| b.is_ascii_hexdigit())
    };
    let long = "x".repeat(65);
    // (client's X-Request-Id, echoed)
    let cases: [(Option<&str>, bool); 5] = [
        (None, false),
        (Some("abc-123"), true),
        (Some(&long[1..]), true),
        (Some(&long), false),
        (Some("has space"), false),
    ];
    let mut seen = std::collections::HashSet::new();
    for (sent, echoed) in cases {
        let headers: Vec<(&str, &str)> = sent.map(|v| ("x-request-id", v)).into_iter().collect();
        let r = app.request(Method::GET, "/healthz", &headers).await;
        let id = r.header("x-request-id").to_owned();
        if echoed {
            assert_eq!(Some(id.as_str()), sent);
        } else {
            assert!(ours(&id), "{sent:?} → {id}");
            assert!(seen.insert(id.clone()), "{id} given twice");
        }
    }
}

/// Text logs (the default format) to a pipe or file carry no colour codes.
#[test]
fn text_logs_to_a_pipe_have_no_colour_codes() {
    use std::io::{BufRead, BufReader};
    let mut child = serve_binary("text");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // The first two lines: the unsigned-mode warning and `listening`.
    for _ in 0..2 {
        let line = lines.next().expect("a line").unwrap();
        assert!(!line.contains('\x1b'), "{line:?}");
        assert!(
            line.contains("WARN") || line.contains("listening"),
            "{line}"
        );
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// The `src` of the front page's example card image.
fn example_card(doc: &Html) -> String {
    doc.select("img")
        .filter_map(|i| i.attr("src"))
        .find(|t| t.starts_with("/cards/"))
        .expect("an example card image")
        .to_owned()
}

#[tokio::test]
async fn the_front_door_says_what_exists() {
    let app = spawn_app().await;
    let home = app.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert_eq!(home.header("content-type"), "text/html; charset=utf-8");
    let page = std::str::from_utf8(&home.body).unwrap();
    let doc = Html::parse_document(page);
    assert!(doc.errors.is_empty(), "{:?}", doc.errors);
    for link in [
        "href=\"/preview\"",
        "href=\"/templates\"",
        "href=\"/openapi.json\"",
    ] {
        assert!(page.contains(link), "{link} in {page}");
    }
    for name in ["report", "square", "story"] {
        assert!(page.contains(&format!("<code>{name}</code>")), "{name}");
    }
    // Its example is shown: an image of a card that renders.
    let example = example_card(&doc);
    let r = app.get(&example).await;
    assert_eq!(r.status, StatusCode::OK, "{example}");
    assert_eq!(&r.body[1..4], b"PNG");

    // With signing on, the page signs its example, so it still shows.
    let signed =
        spawn_app_with(|a| a.signing.signing_keys = vec!["test-key-0123456789abcdef".into()]).await;
    let page = String::from_utf8(signed.get("/").await.body.to_vec()).unwrap();
    let example = example_card(&Html::parse_document(&page));
    assert!(example.contains("sig="), "{example}");
    assert_eq!(
        signed.get(&example).await.status,
        StatusCode::OK,
        "{example}"
    );

    // 404s name what exists.
    let r = app.get("/nothing-here").await;
    let msg = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        msg.contains("/cards/{template}.png") && msg.contains("/preview"),
        "{msg}"
    );
    let r = app.get("/cards/banner.png?role=a&risk=1").await;
    let msg = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        msg.contains("/cards/report.png, /cards/square.png, /cards/story.png"),
        "{msg}"
    );

    // A trailing slash on a route that exists is a redirect to it, query
    // kept, host never echoed.
    for (path, to) in [
        (
            "/cards/report.png/?role=a&risk=1",
            "/cards/report.png?role=a&risk=1",
        ),
        (
            "/share/report//?role=a&risk=1",
            "/share/report?role=a&risk=1",
        ),
        ("/preview/", "/preview"),
    ] {
        let r = app
            .request(Method::GET, path, &[("host", "evil.example")])
            .await;
        assert_eq!(r.status, StatusCode::PERMANENT_REDIRECT, "{path}");
        assert_eq!(r.header("location"), to, "{path}");
    }
    assert_eq!(app.get("/nothing/").await.status, StatusCode::NOT_FOUND);
}
