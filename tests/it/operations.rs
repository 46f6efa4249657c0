//! What operators see and set: metrics in the format their header names,
//! a separate metrics port, Server-Timing on misses, access log lines with
//! the client, signing keys from a file, and a configuration table in the
//! README that matches `--help`.

use std::io::{Read, Write};
use std::time::Duration;

use hyper::{Method, StatusCode};

use crate::helpers::*;

#[tokio::test]
async fn metrics_are_in_the_format_their_content_type_names() {
    let app = spawn_app().await;
    app.get("/cards/report.png?role=Metrics&risk=5").await;
    let om = app
        .request(
            Method::GET,
            "/metrics",
            &[(
                "accept",
                "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
            )],
        )
        .await;
    assert_eq!(
        om.header("content-type"),
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let body = std::str::from_utf8(&om.body).unwrap();
    assert!(body.ends_with("# EOF\n"));
    assert!(
        body.contains("# TYPE sharecard_renders counter\n"),
        "{body}"
    );
    assert!(body.contains("\nsharecard_renders_total 1\n"), "{body}");

    let text = app.get("/metrics").await;
    assert_eq!(
        text.header("content-type"),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let body = std::str::from_utf8(&text.body).unwrap();
    assert!(!body.contains("# EOF") && !body.contains("# UNIT"));
    for want in [
        "# TYPE sharecard_renders_total counter\n",
        "# TYPE sharecard_png_served_bytes_total counter\n",
        "# TYPE sharecard_http_request_duration_seconds histogram\n",
        "sharecard_build_info{version=\"",
        "sharecard_template_info{template=\"report\",version=\"",
    ] {
        assert!(body.contains(want), "{want} in {body}");
    }
    #[cfg(target_os = "linux")]
    {
        let m = metrics(body);
        assert!(m["process_resident_memory_bytes"] > 10e6);
        assert!(m["process_cpu_seconds_total"] > 0.0);
        assert!(m["process_open_fds"] >= 3.0);
        assert!(m["process_max_fds"] >= m["process_open_fds"]);
        let now = sharecard::clock::Clock::now(&sharecard::clock::SystemClock) as f64;
        let started = m["process_start_time_seconds"];
        assert!(started <= now + 1.0 && started > now - 3600.0, "{started}");
    }
}

#[tokio::test]
async fn metrics_listen_moves_metrics_off_the_public_port() {
    let app = spawn_app_with(|a| a.metrics_listen = Some("127.0.0.1:0".parse().unwrap())).await;
    let ops = app.metrics_addr.expect("bound");
    assert_eq!(app.get("/metrics").await.status, StatusCode::NOT_FOUND);
    let get = |path: &str| {
        let path = path.to_owned();
        async move {
            raw(
                ops,
                format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes(),
                Duration::from_secs(5),
            )
            .await
        }
    };
    let m = get("/metrics").await;
    assert!(m.starts_with("HTTP/1.1 200"), "{m}");
    assert!(m.contains("sharecard_renders_total"));
    assert!(get("/healthz").await.starts_with("HTTP/1.1 200"));
    assert!(!get("/readyz").await.starts_with("HTTP/1.1 404"));
    for path in [
        "/cards/report.png?role=A&risk=1",
        "/share/report?role=A&risk=1",
        "/",
    ] {
        let r = get(path).await;
        assert!(
            r.starts_with("HTTP/1.1 404"),
            "{path} on the metrics port: {r}"
        );
    }
    assert_eq!(app.renders(), 0);
}

#[tokio::test]
async fn a_miss_says_where_its_time_went() {
    let app = spawn_app().await;
    let path = "/cards/report.png?role=Timing&risk=5";
    let miss = app.get(path).await;
    let timing = miss.header("server-timing").to_owned();
    let mut total = 0.0;
    for (metric, name) in timing.split(", ").zip(["queue", "fit", "render", "encode"]) {
        let (n, dur) = metric.split_once(";dur=").expect("name;dur=ms");
        assert_eq!(n, name, "{timing}");
        let ms: f64 = dur.parse().unwrap();
        assert!(ms >= 0.0, "{timing}");
        total += ms;
    }
    assert!(total > 0.0 && total < 5000.0, "{timing}");
    let hit = app.get(path).await;
    assert!(
        hit.headers.get("server-timing").is_none(),
        "a hit renders nothing"
    );
    let etag = hit.header("etag").to_owned();
    let not_modified = app
        .request(Method::GET, path, &[("if-none-match", &etag)])
        .await;
    assert!(not_modified.headers.get("server-timing").is_none());
}

/// The access log line of one request sent with `headers` to a binary
/// started with `args`.
fn logged_request(args: &[&str], headers: &str) -> (serde_json::Value, String) {
    let mut child = serve_binary_with("json", args);
    let lines = log_lines(&mut child);
    let listening = next_json(&lines, |v| v["message"] == "listening");
    assert_eq!(
        listening["templates"],
        serde_json::json!(["cost", "report", "square", "story", "tasks"]),
        "a list is a JSON array"
    );
    let addr = listening["addr"].as_str().unwrap().to_owned();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "GET /cards/report.png?role=Logged&risk=5 HTTP/1.1\r\nhost: x\r\n{headers}connection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let head =
        String::from_utf8_lossy(&resp[..resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap()])
            .to_lowercase();
    let line = next_json(&lines, |v| v["message"] == "request");
    child.kill().unwrap();
    child.wait().unwrap();
    (line, head)
}

#[test]
fn access_log_lines_name_the_client_agent_bytes_and_cache() {
    let headers = "user-agent: Twitterbot/1.0\r\nx-forwarded-for: 203.0.113.50, 198.51.100.7\r\nx-request-id: tier-abc-123\r\n";
    let (line, head) = logged_request(&["--trusted-proxy", "127.0.0.0/8,10.0.0.0/8"], headers);
    let length: u64 = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(line["client"], "198.51.100.7", "{line}");
    assert_eq!(line["user_agent"], "Twitterbot/1.0");
    assert_eq!(line["bytes"], serde_json::json!(length), "{line}");
    assert_eq!(line["status"], 200);
    assert_eq!(line["cache"], "miss");
    assert_eq!(line["request_id"], "tier-abc-123");
    assert!(head.contains("x-request-id: tier-abc-123"), "{head}");
    assert!(line["ms"].is_f64());

    // From a peer that is not a trusted proxy, the header is ignored.
    let (line, _) = logged_request(&[], headers);
    assert_eq!(line["client"], "127.0.0.1", "{line}");
}

#[tokio::test]
async fn signing_keys_come_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys");
    const NEW: &str = "new-key-0123456789abcdef";
    const OLD: &str = "old-key-0123456789abcdef";
    std::fs::write(
        &file,
        format!("# rotated in December\n\n{NEW}\n  {OLD}  \n"),
    )
    .unwrap();
    let app = spawn_app_with(|a| a.signing.signing_key_file = Some(file.clone())).await;
    let query = "role=Secret&risk=5";
    for key in [NEW, OLD] {
        let url = signed("/cards/report.png", query, key);
        assert_eq!(app.get(&url).await.status, StatusCode::OK, "{key}");
    }
    let unsigned = app.get(&format!("/cards/report.png?{query}")).await;
    assert_eq!(unsigned.status, StatusCode::FORBIDDEN);

    // `sign` signs with the file's first key.
    let out = sharecard_binary()
        .args(["sign", "--signing-key-file"])
        .arg(&file)
        .arg(format!("/cards/report.png?{query}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let url = String::from_utf8(out.stdout).unwrap();
    let want = signed("/cards/report.png", query, NEW);
    assert_eq!(url.trim(), want);

    // A file with no key, a missing file, or a file and a key: refused.
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "# nothing yet\n").unwrap();
    for args in [
        vec!["--signing-key-file".to_owned(), empty.display().to_string()],
        vec![
            "--signing-key-file".to_owned(),
            dir.path().join("absent").display().to_string(),
        ],
        vec![
            "--signing-key-file".to_owned(),
            file.display().to_string(),
            "--signing-key".to_owned(),
            NEW.to_owned(),
        ],
    ] {
        let out = sharecard_binary()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("signing-key"), "{args:?}: {err}");
    }
}

/// The README's configuration table, row by row: flag, environment
/// variable, default.
fn readme_configuration() -> Vec<(String, String, String)> {
    let readme = include_str!("../../README.md");
    let section = &readme[readme.find("\n## Configuration").expect("section")..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let cell = |c: &str| c.trim().trim_matches('`').to_owned();
    section
        .lines()
        .filter(|l| l.starts_with("| `--"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").collect();
            (cell(cells[0]), cell(cells[1]), cells[2].trim().to_owned())
        })
        .collect()
}

#[test]
fn the_readme_configuration_table_matches_serve_help() {
    use clap::CommandFactory;
    let cli = sharecard::config::Cli::command();
    let mut from_help: Vec<(String, String, Option<String>)> = cli
        .get_arguments()
        .filter_map(|a| {
            let long = a.get_long()?;
            if matches!(long, "help" | "version") {
                return None;
            }
            let env = a.get_env()?.to_string_lossy().into_owned();
            let default = a
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect::<Vec<_>>();
            Some((
                format!("--{long}"),
                env,
                (!default.is_empty()).then(|| default.join(",")),
            ))
        })
        .collect();
    from_help.sort();
    let mut readme = readme_configuration();
    readme.sort();
    let flags = |v: &[(String, String)]| v.to_vec();
    assert_eq!(
        flags(
            &readme
                .iter()
                .map(|(f, e, _)| (f.clone(), e.clone()))
                .collect::<Vec<_>>()
        ),
        flags(
            &from_help
                .iter()
                .map(|(f, e, _)| (f.clone(), e.clone()))
                .collect::<Vec<_>>()
        ),
        "README's configuration table against `sharecard serve --help`"
    );
    for ((flag, _, readme_default), (_, _, default)) in readme.iter().zip(&from_help) {
        if let Some(default) = default {
            assert_eq!(
                readme_default,
                &format!("`{default}`"),
                "the default of {flag}"
            );
        }
    }
}
