//! `spawn_app`: the real server on port 0, and an HTTP client for it.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sharecard::config::ServeArgs;
use sharecard::http::{AppState, Application};
use tokio::sync::oneshot;

pub use crate::html::Html;

pub struct TestApp {
    pub addr: SocketAddr,
    /// The `--metrics-listen` address, when the test set one.
    pub metrics_addr: Option<SocketAddr>,
    pub state: Arc<AppState>,
    client: Client<HttpConnector, Empty<Bytes>>,
    stop: Option<oneshot::Sender<()>>,
    pub server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// `(code, field)` of a JSON error body.
    pub fn error(&self) -> (String, Option<String>) {
        let j = self.json();
        let e = &j["error"];
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{j}");
        // Every code a test sees is one the OpenAPI document lists, with
        // its status.
        let code = e["code"].as_str().unwrap_or_default();
        assert!(
            sharecard::http::error::ERROR_CODES.contains(&(self.status.as_u16(), code)),
            "{} {code} is not in ERROR_CODES",
            self.status
        );
        (
            e["code"].as_str().expect("code").to_owned(),
            e["field"].as_str().map(str::to_owned),
        )
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut ServeArgs)) -> TestApp {
    spawn_app_at(
        std::sync::Arc::new(sharecard::clock::SystemClock),
        configure,
    )
    .await
}

/// [`spawn_app_with`], telling time by `clock`: a test moves a
/// `ManualClock` instead of sleeping until an `exp` passes.
pub async fn spawn_app_at(
    clock: Arc<dyn sharecard::clock::Clock>,
    configure: impl FnOnce(&mut ServeArgs),
) -> TestApp {
    let mut args = ServeArgs::for_tests();
    configure(&mut args);
    let app = Application::build_with_clock(args, clock)
        .await
        .expect("app builds");
    let addr = app.local_addr();
    let metrics_addr = app.metrics_addr();
    let state = app.state();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let client = Client::builder(TokioExecutor::new()).build_http();
    TestApp {
        addr,
        metrics_addr,
        state,
        client,
        stop: Some(stop),
        server: Some(server),
    }
}

impl TestApp {
    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{}", self.addr, path_and_query)
    }

    pub async fn request(&self, method: Method, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut b = Request::builder().method(method).uri(self.url(path));
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let resp = self
            .client
            .request(b.body(Empty::new()).unwrap())
            .await
            .expect("request succeeds");
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.request(Method::GET, path, &[]).await
    }

    /// GETs `path` until the response is the card's final bytes (not a
    /// draft's short lifetime), for up to 30 s: the recompression
    /// worker runs at the lowest priority while other tests keep both cores
    /// busy.
    pub async fn wait_for_final(&self, path: &str) -> Reply {
        for _ in 0..3000 {
            let r = self.get(path).await;
            assert_eq!(r.status, StatusCode::OK, "{path}");
            if r.header("cache-control") != "public, max-age=10" {
                return r;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("{path} still a draft after 30 s");
    }

    /// Waits for the start-up self-test; whether the service is ready.
    pub async fn self_tested(&self) -> bool {
        self.state.self_tested().await
    }

    /// The loaded template's version, as `/templates` gives it.
    pub fn template_version(&self, template: &str) -> String {
        self.state
            .renderer()
            .templates()
            .info(template)
            .unwrap_or_else(|| panic!("no template {template}"))
            .version
            .clone()
    }

    pub fn renders(&self) -> u64 {
        self.state.metrics.renders.get()
    }

    /// Signals shutdown and waits for the server to drain and return.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.server
            .take()
            .expect("running")
            .await
            .expect("server task")
    }
}

/// Sends raw bytes and returns everything the server answers until it
/// closes the connection or `wait` passes.
pub async fn raw(addr: SocketAddr, request: &[u8], wait: std::time::Duration) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(wait, s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// Width, height and RGBA pixels of a PNG (RGB is widened to RGBA).
pub fn decode_rgba(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .expect("PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("frame");
    buf.truncate(info.buffer_size());
    // Normalise to RGBA.
    let rgba = match info.color_type {
        png::ColorType::Rgba => buf,
        png::ColorType::Rgb => buf
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect(),
        other => panic!("unexpected colour type {other:?}"),
    };
    (info.width, info.height, rgba)
}

pub fn png_size(bytes: &[u8]) -> (u32, u32) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let reader = decoder.read_info().expect("a PNG");
    let info = reader.info();
    (info.width, info.height)
}

/// The sample cards from templates/samples.json, as query strings.
pub struct Sample {
    pub slug: String,
    /// Exactly as in the fixture. Some stress samples exceed the field
    /// limits on purpose (the long-title threat has 82 characters).
    pub raw_query: String,
    /// With each field cut to its limit, so layout tests can use every
    /// sample.
    pub query: String,
}

pub fn samples() -> Vec<Sample> {
    sharecard_render::samples::all()
        .into_iter()
        .map(|s| Sample {
            raw_query: s.raw_query(),
            query: s.query(),
            slug: s.slug,
        })
        .collect()
}

/// The card `query` names on `template`, parsed as the server parses it.
pub fn request(template: &str, query: &str) -> sharecard_render::card::CardRequest {
    use sharecard_render::card::query::Params;
    use sharecard_render::card::{CardRequest, LevelBands, TemplateName};
    let params = Params::parse(Some(query)).expect("query parses");
    CardRequest::from_params(
        TemplateName::parse(template).expect("template name"),
        &sharecard_render::template::bundled_schema(template).expect("a bundled template"),
        &params,
        &LevelBands::default(),
    )
    .expect("valid card")
}

pub const ML_ENGINEER: &str = "role=ML%20Engineer&tagline=AI%20helps%20build%20AI.%20But%20someone%20has%20to%20build%20the%20AI%20that%20builds%20AI.&risk=48&threat=Model%20Fine-Tuning&threat_risk=65";

/// The `sharecard` binary, unsigned whatever this machine's environment
/// says.
pub fn sharecard_binary() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sharecard"));
    cmd.env_remove("SHARECARD_SIGNING_KEYS");
    cmd
}

/// `sharecard serve` on a free port, logging at info in `log_format` to a
/// pipe (as when deployed), stderr discarded.
pub fn serve_binary(log_format: &str) -> std::process::Child {
    serve_binary_with(log_format, &[])
}

/// [`serve_binary`] with more `serve` flags.
pub fn serve_binary_with(log_format: &str, args: &[&str]) -> std::process::Child {
    sharecard_binary()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            log_format,
        ])
        .args(args)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("binary runs")
}

/// `name{labels} value` lines of a Prometheus exposition.
pub fn metrics(text: &str) -> std::collections::HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect()
}

/// Panics with the install command unless `program --version` runs: for
/// tests marked `#[ignore]` that need it (`.ci/run` installs it and runs
/// them).
pub fn need(program: &str) {
    let runs = std::process::Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let package = match program {
        "node" => "nodejs",
        p => p,
    };
    assert!(
        runs,
        "this test needs {program}: apt-get install {package} (.ci/run installs it)"
    );
}

/// The DOM headless Chromium shows for `url` in a `width`×`height`
/// window, after `budget_ms` of virtual time (its images loaded and its
/// scripts run). Panics with the install command without Chromium.
pub async fn chromium_dom(url: String, width: u32, height: u32, budget_ms: u32) -> String {
    let browser = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            std::process::Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .unwrap_or_else(|| {
            panic!("this test needs chromium: apt-get install chromium (.ci/run installs it)")
        });
    let profile = tempfile::tempdir().unwrap();
    let profile_arg = format!("--user-data-dir={}", profile.path().display());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                &format!("--window-size={width},{height}"),
                &format!("--virtual-time-budget={budget_ms}"),
                &profile_arg,
                "--dump-dom",
                &url,
            ])
            .output()
            .expect("chromium runs")
    })
    .await
    .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `sharecard ARGS…`, run to the end.
pub fn sharecard(args: &[&str]) -> std::process::Output {
    sharecard_binary().args(args).output().expect("binary runs")
}

/// `path?query` signed with `key` over the report card's parameters, as
/// the site signs card and share-page URLs.
pub fn signed(path: &str, query: &str, key: &str) -> String {
    sharecard::signing::Signer::new(&[key])
        .unwrap()
        .sign_url(path, query, &sharecard::signing::report_card_params)
        .unwrap()
}

/// The `content` of the one `<meta {attr}="{name}">` in `doc`.
pub fn meta(doc: &Html, attr: &str, name: &str) -> String {
    let mut found = doc.select(&format!("meta[{attr}=\"{name}\"]"));
    let el = found.next().unwrap_or_else(|| panic!("no {name} meta tag"));
    assert!(found.next().is_none(), "one {name} tag");
    el.attr("content").unwrap().to_owned()
}

/// The lines a `serve_binary` child writes to stdout, on a channel.
pub fn log_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// JSON log lines from `lines` until one satisfies `want`, each waited for
/// at most 10 s.
pub fn next_json(
    lines: &std::sync::mpsc::Receiver<String>,
    want: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    loop {
        let line = lines
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the line arrives within 10 s");
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if want(&v) {
            return v;
        }
    }
}
