//! The promises, tested as an attacker would try them: expiry end to end,
//! mistakes that fail closed, slow clients that cannot hold the service,
//! and template folders that read only themselves. Each test failed on the
//! code before its fix.

use std::time::Duration;

use hyper::StatusCode;
use sharecard::clock::{Clock, SystemClock};
use sharecard::signing::Signer;
use sharecard_render::card::query::Params;

use crate::helpers::*;

const KEY: &str = "0123456789abcdef-test-key";

fn signer() -> Signer {
    Signer::new(&[KEY]).unwrap()
}

/// The `max-age` of a `Cache-Control` value, which must also promise
/// nothing past it.
fn bounded_max_age(cache_control: &str) -> u64 {
    for banned in ["immutable", "stale-while-revalidate", "stale-if-error"] {
        assert!(!cache_control.contains(banned), "{cache_control}");
    }
    assert!(cache_control.contains("must-revalidate"), "{cache_control}");
    cache_control
        .split(',')
        .find_map(|d| d.trim().strip_prefix("max-age="))
        .unwrap_or_else(|| panic!("no max-age in {cache_control}"))
        .parse()
        .unwrap()
}

/// `exp` of a URL.
fn exp_of(url: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    Params::parse(Some(q))
        .unwrap()
        .get("exp")
        .unwrap()
        .map(str::to_owned)
}

/// Item 1: every URL a share page derives from an expiring link carries the
/// link's `exp` under a valid signature, and is fresh no longer.
#[tokio::test]
async fn a_share_page_derives_image_urls_that_expire_with_it() {
    let app = spawn_app_with(|a| a.signing.signing_keys = vec![KEY.into()]).await;
    let exp = SystemClock.now() + 60;
    let page = signed(
        "/share/report",
        &format!("role=ML%20Engineer&risk=48&tagline=Confidential%20draft&exp={exp}"),
        KEY,
    );
    let r = app.get(&page).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(bounded_max_age(r.header("cache-control")) < 60);
    let doc = Html::parse_document(std::str::from_utf8(&r.body).unwrap());
    let download = {
        let el = doc.select("a[download]").next().expect("a download link");
        el.attr("href").unwrap().to_owned()
    };
    let derived = [
        meta(&doc, "property", "og:image"),
        meta(&doc, "name", "twitter:image"),
        meta(&doc, "property", "og:url"),
        download,
    ];
    for url in derived {
        assert_eq!(exp_of(&url).as_deref(), Some(&*exp.to_string()), "{url}");
        let local = url.replace("http://localhost:8080", "");
        let r = app.get(&local).await;
        assert_eq!(r.status, StatusCode::OK, "{local}");
        assert!(bounded_max_age(r.header("cache-control")) < 60, "{local}");
        // The expiry cannot be stripped or moved.
        for forged in [
            local.replace(&format!("&exp={exp}"), ""),
            local.replace(&format!("exp={exp}"), &format!("exp={}", exp + 3600)),
        ] {
            let r = app.get(&forged).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{forged}");
        }
    }
}

/// Item 2: no response to an expiring URL is fresh past `exp`: drafts, final
/// bytes, a versioned URL (the unsigned `v` does not upgrade it), 304s.
#[tokio::test]
async fn cache_control_never_outlives_exp() {
    let app = spawn_app_with(|a| {
        a.signing.signing_keys = vec![KEY.into()];
        a.recompress = true;
    })
    .await;
    let version = app.template_version("report");
    let exp = SystemClock.now() + 15;
    let url = signed(
        "/cards/report.png",
        &format!("role=Short%20lived&risk=48&exp={exp}"),
        KEY,
    );
    for target in [url.clone(), format!("{url}&v={version}")] {
        let first = app.get(&target).await;
        assert_eq!(first.status, StatusCode::OK, "{target}");
        assert!(bounded_max_age(first.header("cache-control")) <= 14);
        let settled = app.wait_for_final(&target).await;
        assert!(bounded_max_age(settled.header("cache-control")) <= 14);
        let etag = settled.header("etag").to_owned();
        let revalidated = app
            .request(hyper::Method::GET, &target, &[("if-none-match", &etag)])
            .await;
        assert_eq!(revalidated.status, StatusCode::NOT_MODIFIED);
        assert!(bounded_max_age(revalidated.header("cache-control")) <= 14);
    }
    // Without `exp`, the long lifetimes are as they were.
    let forever = signed("/cards/report.png", "role=Long%20lived&risk=48", KEY);
    let r = app.wait_for_final(&format!("{forever}&v={version}")).await;
    assert_eq!(
        r.header("cache-control"),
        "public, max-age=31536000, immutable"
    );
}

/// Item 3: a repeated `exp`, in any spelling, is refused, never ignored.
#[tokio::test]
async fn a_repeated_or_encoded_exp_is_refused() {
    let app = spawn_app_with(|a| a.signing.signing_keys = vec![KEY.into()]).await;
    let path = "/cards/report.png";
    let later = SystemClock.now() + 3600;
    for query in [
        "role=A&risk=1&exp=1&exp=2".to_owned(),
        format!("role=A&risk=1&%65xp=5&exp={later}"),
        format!("role=A&risk=1&exp={later}&e%78p=1"),
    ] {
        // Signed by the key holder (the signer's own check is below), so
        // only the verifier stands between this URL and a card.
        let params = Params::parse(Some(&query)).unwrap();
        let sig = signer()
            .signature(path, &params, &sharecard::signing::report_card_params)
            .unwrap();
        let r = app.get(&format!("{path}?{query}&sig={sig}")).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{query}");
        assert_eq!(
            r.error(),
            ("signature_malformed".to_owned(), Some("exp".to_owned())),
            "{query}"
        );
    }
    // `sign` refuses a query that already holds `exp`, however spelled.
    for query in ["role=A&risk=1&%65xp=5", "role=A&risk=1&exp=5"] {
        for extra in [&["--expires-in", "1s"][..], &[]] {
            let out = sharecard_binary()
                .args(["sign", "--signing-key", KEY])
                .args(extra)
                .arg(format!("{path}?{query}"))
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(2), "{query} {extra:?}");
            assert!(out.stdout.is_empty());
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("already holds `exp`"), "{err}");
        }
    }
    assert!(
        signer()
            .sign_url(
                path,
                "role=A&exp=1&exp=2",
                &sharecard::signing::report_card_params
            )
            .is_err()
    );
}

/// Item 4: a key setting that is present but holds no key refuses to start:
/// it never turns signing off.
#[test]
fn a_blank_signing_key_refuses_to_start() {
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: [Case; 6] = [
        (&[("SHARECARD_SIGNING_KEYS", " ")], &[]),
        (&[("SHARECARD_SIGNING_KEYS", "")], &[]),
        (&[("SHARECARD_SIGNING_KEYS", "0123456789abcdef-key,")], &[]),
        (&[("SHARECARD_SIGNING_KEY_FILE", "")], &[]),
        (&[], &["--signing-key", ""]),
        (&[], &["--signing-key", "  "]),
    ];
    for (env, args) in cases {
        let out = sharecard_binary()
            .env_remove("SHARECARD_SIGNING_KEY_FILE")
            .envs(env.iter().copied())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        // 1: the service's own refusal; 2: clap's, for an empty path.
        assert!(
            matches!(out.status.code(), Some(1 | 2)),
            "{env:?} {args:?}: {:?}",
            out.status
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            ["holds no key", "is blank", "a value is required"]
                .iter()
                .any(|why| err.contains(why)),
            "{env:?} {args:?}: {err}"
        );
    }
}

/// Item 5: the access log hides `sig` however its name is spelled: as the
/// verifier decodes it.
#[test]
fn the_log_hides_a_signature_in_any_spelling() {
    let mut child = serve_binary_with("json", &["--signing-key", KEY]);
    let lines = log_lines(&mut child);
    let listening = next_json(&lines, |v| v["message"] == "listening");
    let addr = listening["addr"].as_str().unwrap().to_owned();
    let url = signed("/cards/report.png", "role=ML%20Engineer&risk=48", KEY);
    let (path, sig) = url.rsplit_once("&sig=").unwrap();
    for spelled in ["si%67", "%73ig", "s%69%67"] {
        let target = format!("{path}&{spelled}={sig}");
        let reply = get_blocking(&addr, &target);
        assert!(reply.starts_with("HTTP/1.1 200"), "{target}: {reply:.80}");
        let logged = next_json(&lines, |v| v["message"] == "request");
        let logged_path = logged["path"].as_str().unwrap();
        assert!(!logged_path.contains(sig), "{logged_path}");
        assert!(logged_path.contains("sig=REDACTED"), "{logged_path}");
    }
    child.kill().unwrap();
    let _ = child.wait();
}

/// `GET target` on a new connection, the whole reply as text.
fn get_blocking(addr: &str, target: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// Item 6: a client that asks and never reads, over pipelined HTTP/1.1 with a
/// tiny receive window, holds no slot past the send timeout: with every
/// connection slot taken by one, a fresh client is served.
#[tokio::test]
async fn pipelined_requests_never_read_do_not_hold_the_service() {
    let app = slow_client_app().await;
    let mut attackers = Vec::new();
    for conn in 0..8 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(1024).unwrap();
        let mut stream = socket.connect(app.addr).await.unwrap();
        let mut pipelined = String::new();
        // One card per connection, so the sockets' buffers fill with cache
        // hits and the test times the send timeout, not 300 renders
        // (`bench/slow-clients.sh` asks for distinct cards).
        for _ in 0..40 {
            pipelined += &format!(
                "GET /cards/story.png?role=Slow%20reader%20{conn}&risk=48&scale=3 HTTP/1.1\r\nHost: x\r\n\r\n"
            );
        }
        tokio::io::AsyncWriteExt::write_all(&mut stream, pipelined.as_bytes())
            .await
            .unwrap();
        attackers.push(stream);
    }
    let waited = fresh_client_waits(&app).await;
    // The send timeout (1 s here), the renders that filled the sockets'
    // buffers, and the watchdog's tick, with room for a loaded machine:
    // under the idle limit (30 s), which must not be what frees them.
    assert!(waited < Duration::from_secs(20), "waited {waited:?}");
    drop(attackers);
}

/// Item 6: the same over HTTP/2: a client that shuts its flow-control window
/// (`INITIAL_WINDOW_SIZE=0`) and answers pings holds no slot either.
#[tokio::test]
async fn h2_clients_with_a_shut_window_do_not_hold_the_service() {
    let app = slow_client_app().await;
    let mut attackers = Vec::new();
    for conn in 0..8 {
        let tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        let (client, connection) = h2::client::Builder::new()
            .initial_window_size(0)
            .handshake::<_, bytes::Bytes>(tcp)
            .await
            .unwrap();
        // The connection task answers pings and settings, as the attack's
        // client does; it never opens the window.
        attackers.push(tokio::spawn(async move {
            let _ = connection.await;
        }));
        let mut client = client.ready().await.unwrap();
        for i in 0..10 {
            let req = hyper::Request::get(format!(
                "http://x/cards/story.png?role=Shut%20window%20{conn}%20{i}&risk=48&scale=3"
            ))
            .body(())
            .unwrap();
            let Ok((resp, _)) = client.send_request(req, true) else {
                break;
            };
            attackers.push(tokio::spawn(async move {
                let _ = resp.await;
            }));
            client = match client.ready().await {
                Ok(c) => c,
                Err(_) => break,
            };
        }
    }
    let waited = fresh_client_waits(&app).await;
    assert!(waited < Duration::from_secs(20), "waited {waited:?}");
    for a in attackers {
        a.abort();
    }
}

/// Eight connection slots, a one-second send timeout, and an idle limit
/// far longer, so that only the send timeout can free a slot in time.
async fn slow_client_app() -> TestApp {
    spawn_app_with(|a| {
        a.max_connections = 8;
        a.send_timeout = Duration::from_secs(1);
        a.header_timeout = Duration::from_secs(30);
    })
    .await
}

/// How long a fresh client waits for `/healthz`, trying on a new
/// connection every 2 s, for up to 60 s.
async fn fresh_client_waits(app: &TestApp) -> Duration {
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        let attempt = tokio::time::timeout(Duration::from_secs(2), async {
            raw(
                app.addr,
                b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                Duration::from_secs(2),
            )
            .await
        })
        .await;
        if let Ok(reply) = attempt
            && reply.starts_with("HTTP/1.1 200")
        {
            return started.elapsed();
        }
    }
    panic!("no fresh client was served within 60 s");
}

/// A templates directory holding the bundled report card.
fn template_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("report.svg"),
        include_str!("../../templates/report.svg"),
    )
    .unwrap();
    dir
}

/// A template that draws the text of `_leak.svg` on the card.
const LEAKY: &str = r#"{%- set width = 600 -%}{%- set height = 315 -%}{%- set fields = ["role"] -%}
{%- set t = text.fit(card.role, id="role", x=20, y=20, width=560, height=100, size=40, min_size=20) -%}
<svg xmlns="http://www.w3.org/2000/svg" width="600" height="315"><text x="10" y="200" font-size="20">{% include "_leak.svg" %}</text></svg>
"#;

/// Item 7: a symlinked partial that leaves the folder is refused at start-up
/// and by `check`; one that stays inside is read as before.
#[test]
fn a_symlink_out_of_the_templates_folder_is_refused() {
    let secret = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret.path(), "TOP SECRET 4242").unwrap();
    let dir = template_dir();
    std::fs::write(dir.path().join("leaky.svg"), LEAKY).unwrap();
    std::os::unix::fs::symlink(secret.path(), dir.path().join("_leak.svg")).unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    for args in [
        vec!["check", "--templates-dir", dir_arg],
        vec![
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--templates-dir",
            dir_arg,
        ],
    ] {
        let out = sharecard_binary().args(&args).output().unwrap();
        assert_ne!(out.status.code(), Some(0), "{args:?}");
        let text = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("_leak.svg") && text.contains("leaves the templates directory"),
            "{args:?}: {text}"
        );
        assert!(!text.contains("TOP SECRET"), "{text}");
    }
    // A FIFO or a directory named like a template is not a file to read.
    std::fs::remove_file(dir.path().join("_leak.svg")).unwrap();
    std::fs::remove_file(dir.path().join("leaky.svg")).unwrap();
    std::fs::create_dir(dir.path().join("odd.svg")).unwrap();
    let out = sharecard(&["check", "--templates-dir", dir_arg]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("odd.svg") && text.contains("not a regular file"),
        "{text}"
    );
    // Inside the folder, a symlink is fine.
    std::fs::remove_dir(dir.path().join("odd.svg")).unwrap();
    std::fs::write(dir.path().join("_real.svg"), "role").unwrap();
    std::os::unix::fs::symlink(dir.path().join("_real.svg"), dir.path().join("_leak.svg")).unwrap();
    std::fs::write(dir.path().join("leaky.svg"), LEAKY).unwrap();
    let out = sharecard(&["check", "--templates-dir", dir_arg]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("leaky dark"), "the set loads: {text}");
    assert!(!text.contains("leaves the templates directory"), "{text}");
}

/// Items 8 and 9: a FIFO in `--templates-dir` never blocks a request: cards,
/// pages and the gallery answer with the last good templates, the gallery
/// says what is wrong by the template's name, and no page shows where the
/// templates live on this machine.
#[tokio::test]
async fn a_fifo_in_the_templates_folder_blocks_nothing() {
    let dir = template_dir();
    let app = spawn_app_with(|a| a.card.templates_dir = Some(dir.path().to_owned())).await;
    let card = "/cards/report.png?role=Nurse&risk=17";
    assert_eq!(app.get(card).await.status, StatusCode::OK);
    let fifo = dir.path().join("hang.svg");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    for path in [
        card,
        "/cards/report.png?role=Nurse&risk=18",
        "/share/report?role=Nurse&risk=17",
        "/preview",
        "/templates",
        "/readyz",
    ] {
        let r = tokio::time::timeout(Duration::from_secs(10), app.get(path))
            .await
            .unwrap_or_else(|_| panic!("{path} hung"));
        assert_eq!(r.status, StatusCode::OK, "{path}");
        let body = String::from_utf8_lossy(&r.body);
        let shown = dir.path().to_str().unwrap();
        assert!(!body.contains(shown), "{path} shows the directory");
        if path == "/preview" || path == "/templates" {
            assert!(
                body.contains("hang.svg") && body.contains("not a regular file"),
                "{path}: {body}"
            );
        }
    }
}
