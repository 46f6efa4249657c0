//! Signed URLs, share pages, robots.txt and Range: what the website and
//! the crawlers rely on.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use hyper::{Method, StatusCode};
use sharecard::signing::Signer;
use sharecard_render::card::query::Params;

use crate::helpers::*;

const KEY: &str = "test-key-0123456789abcdef";
const OLD_KEY: &str = "old-key-0123456789abcdef";

/// A URL answered once is remembered without its query being parsed again
/// (`Targets::parsed`); its signature must still expire on time.
#[tokio::test]
async fn a_signed_url_expires_even_after_it_was_served() {
    let clock = sharecard::clock::ManualClock::new();
    let app = spawn_app_at(Arc::new(clock.clone()), |a| {
        a.signing.signing_keys = vec![KEY.into()]
    })
    .await;
    let exp = sharecard::clock::Clock::now(&clock) + 2;
    let url = signed(
        "/cards/report.png",
        &format!("role=ML+Engineer&risk=48&exp={exp}"),
        KEY,
    );
    for _ in 0..3 {
        assert_eq!(app.get(&url).await.status.as_u16(), 200, "{url}");
    }
    clock.advance(1);
    assert_eq!(app.get(&url).await.status.as_u16(), 200, "the last second");
    clock.advance(1);
    let r = app.get(&url).await;
    assert_eq!(
        (r.status.as_u16(), r.error().0.as_str()),
        (403, "signature_expired")
    );
}

#[tokio::test]
async fn every_bad_signature_is_a_distinct_403() {
    let app = spawn_app_with(|a| a.signing.signing_keys = vec![KEY.into()]).await;
    let path = "/cards/report.png";
    let good = signed(path, "role=ML+Engineer&risk=48", KEY);
    let sig = good.rsplit_once("sig=").unwrap().1.to_owned();
    let past = signed(path, "role=ML+Engineer&risk=48&exp=1000", KEY);
    let future = signed(path, "role=ML+Engineer&risk=48&exp=99999999999", KEY);
    let cases: Vec<(String, u16, Option<&str>)> = vec![
        (good.clone(), 200, None),
        (format!("{good}&utm_source=x"), 200, None),
        (future.clone(), 200, None),
        (
            "/cards/report.png?role=ML+Engineer&risk=48".into(),
            403,
            Some("signature_missing"),
        ),
        (
            format!("{path}?role=ML+Engineer&risk=48&sig=abc"),
            403,
            Some("signature_malformed"),
        ),
        (
            format!("{path}?role=ML+Engineer&risk=48&sig={sig}&sig={sig}"),
            403,
            Some("signature_malformed"),
        ),
        (
            good.replace("risk=48", "risk=49"),
            403,
            Some("signature_invalid"),
        ),
        (
            format!("{good}&theme=light"),
            403,
            Some("signature_invalid"),
        ),
        (
            good.replace("/cards/report.png", "/share/report"),
            403,
            Some("signature_invalid"),
        ),
        (
            signed(path, "role=ML+Engineer&risk=48", "another-key-0123456789"),
            403,
            Some("signature_invalid"),
        ),
        (past.clone(), 403, Some("signature_expired")),
        (
            past.replace("exp=1000", "exp=99999999999"),
            403,
            Some("signature_invalid"),
        ),
    ];
    for (url, status, code) in cases {
        let r = app.get(&url).await;
        assert_eq!(r.status.as_u16(), status, "{url}");
        match code {
            // People get a page that names the code for the site's developers.
            Some(code) if url.starts_with("/share/") => {
                assert!(
                    std::str::from_utf8(&r.body).unwrap().contains(code),
                    "{url}"
                )
            }
            Some(code) => assert_eq!(r.error().0, code, "{url}"),
            None => {}
        }
    }
    // The share page checks its own signature too, and tells a person so.
    let r = app.get("/share/report?role=ML+Engineer&risk=48").await;
    assert_eq!(r.status.as_u16(), 403);
    assert_eq!(r.header("content-type"), "text/html; charset=utf-8");
    let page = std::str::from_utf8(&r.body).unwrap();
    assert!(
        page.contains("signature is missing") && page.contains("signature_missing"),
        "{page}"
    );
    assert_eq!(app.renders(), 1, "refused URLs never render");
}

#[tokio::test]
async fn rotation_keeps_old_urls_working() {
    let app = spawn_app_with(|a| a.signing.signing_keys = vec![KEY.into(), OLD_KEY.into()]).await;
    let old = signed("/cards/report.png", "role=Nurse&risk=14", OLD_KEY);
    let new = signed("/cards/report.png", "role=Nurse&risk=14", KEY);
    assert_eq!(app.get(&old).await.status, StatusCode::OK);
    assert_eq!(app.get(&new).await.status, StatusCode::OK);
    let retired = spawn_app_with(|a| a.signing.signing_keys = vec![KEY.into()]).await;
    assert_eq!(retired.get(&old).await.status, StatusCode::FORBIDDEN);
}

/// The code block after `<!-- snippet:NAME -->` in the README.
fn readme_snippet(name: &str) -> String {
    let readme = include_str!("../../README.md");
    let marker = format!("<!-- snippet:{name} -->");
    let after = &readme[readme.find(&marker).expect("marker") + marker.len()..];
    let start = after.find("```").unwrap();
    let body = &after[start..];
    let body = &body[body.find('\n').unwrap() + 1..];
    body[..body.find("```").unwrap()].to_owned()
}

/// A signed URL from the README's `lang` snippet, run by `program` with
/// `driver` appended, is one the server accepts and signs the same way.
async fn snippet_signs_urls_the_server_accepts(lang: &str, program: &str, driver: &str) {
    need(program);
    let app = spawn_app_with(|a| a.signing.signing_keys = vec![KEY.into()]).await;
    let source = format!("{}\n{driver}\n", readme_snippet(lang));
    let flag = if program == "node" { "-e" } else { "-c" };
    let out = Command::new(program)
        .arg(flag)
        .arg(&source)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{lang}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let r = app.get(&url).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{lang} signed {url}: {:?}",
        String::from_utf8_lossy(&r.body)
    );
    // And it is the same signature the server itself would make.
    let q = url.split_once('?').unwrap().1;
    let ours = Signer::new(&[KEY])
        .unwrap()
        .signature(
            "/cards/report.png",
            &Params::parse(Some(q)).unwrap(),
            &sharecard::signing::report_card_params,
        )
        .unwrap();
    assert!(url.ends_with(&format!("&sig={ours}")), "{lang}: {url}");
}

/// Characters that differ between encoders: spaces, reserved and
/// non-ASCII, and a parameter that is not signed.
const SNIPPET_ROLE: &str = "R&D Lead (Quant)* — Ünïcödé! ~x";

#[tokio::test]
#[ignore = "needs python3 (apt-get install python3); .ci/run runs it"]
async fn the_python_snippet_signs_urls_the_server_accepts() {
    let driver = format!(
        "print(sign({KEY:?}, '/cards/report.png', {{'role': {SNIPPET_ROLE:?}, 'risk': 48, 'threat': 'Fine-Tuning', 'threat_risk': 65, 'utm_source': 'x y'}}))"
    );
    snippet_signs_urls_the_server_accepts("python", "python3", &driver).await;
}

#[tokio::test]
#[ignore = "needs node (apt-get install nodejs); .ci/run runs it"]
async fn the_node_snippet_signs_urls_the_server_accepts() {
    let driver = format!(
        "console.log(sign({KEY:?}, '/cards/report.png', {{role: {SNIPPET_ROLE:?}, risk: 48, threat: 'Fine-Tuning', threat_risk: 65, utm_source: 'x y'}}));"
    );
    snippet_signs_urls_the_server_accepts("node", "node", &driver).await;
}

#[tokio::test]
async fn share_page_has_every_tag_crawlers_need() {
    let app = spawn_app_with(|a| {
        a.signing.signing_keys = vec![KEY.into()];
        a.site.public_url = "https://cards.example.com".into();
        a.site.site_url = "https://site.example".into();
        a.site.role_path = "/jobs/{slug}/".into();
    })
    .await;
    let url = signed("/share/report", ML_ENGINEER, KEY);
    let pages: Vec<Reply> = {
        let mut v = Vec::new();
        for ua in [
            "Twitterbot/1.0",
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            "LinkedInBot/1.0",
            "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
            "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
            "Mozilla/5.0 (iPhone) facebookexternalhit/1.1 Facebot Twitterbot/1.0",
            "curl/8",
        ] {
            v.push(app.request(Method::GET, &url, &[("user-agent", ua)]).await);
        }
        v
    };
    for p in &pages {
        assert_eq!(p.status, StatusCode::OK);
        assert_eq!(p.body, pages[0].body, "same HTML for every user agent");
    }
    let page = &pages[0];
    assert_eq!(page.header("content-type"), "text/html; charset=utf-8");
    assert!(
        page.body.len() < 16 * 1024,
        "small: {} bytes",
        page.body.len()
    );
    let doc = Html::parse_document(std::str::from_utf8(&page.body).unwrap());
    assert!(doc.errors.is_empty(), "well-formed: {:?}", doc.errors);

    let title = meta(&doc, "property", "og:title");
    assert!(
        title.contains("ML Engineer") && title.contains("48%"),
        "{title}"
    );
    assert!(meta(&doc, "property", "og:description").contains("AI helps build AI"));
    assert_eq!(meta(&doc, "property", "og:type"), "website");
    assert_eq!(meta(&doc, "property", "og:site_name"), "willaireplace.me");
    assert!(
        meta(&doc, "property", "og:url").starts_with("https://cards.example.com/share/report?")
    );
    let image = meta(&doc, "property", "og:image");
    assert!(
        image.starts_with("https://cards.example.com/cards/report.png?"),
        "{image}"
    );
    assert_eq!(meta(&doc, "property", "og:image:width"), "1200");
    assert_eq!(meta(&doc, "property", "og:image:height"), "630");
    assert_eq!(meta(&doc, "property", "og:image:type"), "image/png");
    assert!(meta(&doc, "property", "og:image:alt").contains("Model Fine-Tuning"));
    assert_eq!(meta(&doc, "name", "twitter:card"), "summary_large_image");
    assert_eq!(meta(&doc, "name", "twitter:title"), title);
    assert_eq!(meta(&doc, "name", "twitter:image"), image);
    assert!(!meta(&doc, "name", "twitter:description").is_empty());
    assert!(!meta(&doc, "name", "twitter:image:alt").is_empty());

    // The image URL is signed, versioned, and serves the card.
    let path = image.strip_prefix("https://cards.example.com").unwrap();
    assert!(path.contains("&v=") && path.contains("&sig="), "{path}");
    let img = app.get(path).await;
    assert_eq!(img.status, StatusCode::OK);
    assert_eq!(png_size(&img.body), (1200, 630));

    // People see the card, a download button and a link to the role page.
    let links: Vec<_> = doc.select("a").filter_map(|l| l.attr("href")).collect();
    let download = links
        .iter()
        .find(|l| l.contains("download=1"))
        .expect("download link");
    // A path: it works on whatever address the page was reached at.
    assert!(download.starts_with("/cards/report.png?"), "{download}");
    let dl = app.get(download).await;
    assert_eq!(dl.status, StatusCode::OK);
    assert_eq!(png_size(&dl.body), (2400, 1260), "@2x download");
    assert_eq!(
        dl.header("content-disposition"),
        "attachment; filename=\"ml-engineer-report@2x.png\""
    );
    assert!(
        links.contains(&"https://site.example/jobs/ml-engineer/"),
        "{links:?}"
    );
    assert_eq!(
        doc.select("img").next().unwrap().attr("src"),
        image.strip_prefix("https://cards.example.com"),
        "the card people see is og:image's path"
    );
}

/// A card with emoji is a page and an image like any other (it was a 422
/// on both): the page carries the emoji in its tags, the image is drawn,
/// and the download name leaves it out, as it leaves out punctuation.
#[tokio::test]
async fn share_page_and_card_with_emoji() {
    let app = spawn_app().await;
    let query = "role=Community%20Manager%20%F0%9F%9A%80&risk=61&tagline=Vibes%20%F0%9F%93%88";
    let r = app.get(&format!("/share/report?{query}")).await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = Html::parse_document(std::str::from_utf8(&r.body).unwrap());
    let title = meta(&doc, "property", "og:title");
    assert!(title.starts_with("Community Manager 🚀"), "{title}");
    let image = meta(&doc, "property", "og:image");
    let path = &image[image.find("/cards/").expect("a card URL")..];
    let png = app.get(path).await;
    assert_eq!(png.status, StatusCode::OK, "{path}");
    assert_eq!(png.header("content-type"), "image/png");
    let dl = app
        .get(&format!("/cards/report.png?{query}&download=1"))
        .await;
    assert_eq!(
        dl.header("content-disposition"),
        "attachment; filename=\"community-manager-report.png\""
    );
}

#[tokio::test]
async fn share_page_escapes_card_text() {
    let app = spawn_app().await;
    let r = app
        .get("/share/report?role=%3Cscript%3Ealert(1)%3C%2Fscript%3E&risk=5&tagline=%22%3E%3Cimg%20src%3Dx%3E")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let html = std::str::from_utf8(&r.body).unwrap();
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(!html.contains("<img src=x>"));
    let doc = Html::parse_document(html);
    assert_eq!(
        meta(&doc, "property", "og:title").split(':').next(),
        Some("<script>alert(1)</script>")
    );
    assert_eq!(doc.select("script").count(), 0);
    // Unknown template and bad cards are the same errors as for images,
    // as pages (the `delivery` tests read them).
    assert_eq!(
        app.get("/share/nope?role=a&risk=1").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/share/report?role=a").await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn robots_txt_lets_crawlers_fetch_cards_and_pages() {
    let app = spawn_app().await;
    let r = app.get("/robots.txt").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("content-type").starts_with("text/plain"));
    let text = std::str::from_utf8(&r.body).unwrap();
    assert!(text.contains("User-agent: *"));
    assert!(text.contains("Allow: /cards/") && text.contains("Allow: /share/"));
    for line in text.lines() {
        if let Some(path) = line.strip_prefix("Disallow:") {
            let path = path.trim();
            assert!(
                !path.is_empty() && !"/cards/".starts_with(path) && !"/share/".starts_with(path),
                "{line}"
            );
        }
    }
}

#[tokio::test]
async fn range_requests() {
    let app = spawn_app().await;
    let path = format!("/cards/report.png?{ML_ENGINEER}");
    let full = app.get(&path).await;
    assert_eq!(full.header("accept-ranges"), "bytes");
    let len = full.body.len();
    // What Facebook sends: larger than the image, so all of it as 206.
    let r = app
        .request(Method::GET, &path, &[("range", "bytes=0-524288")])
        .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.body, full.body);
    assert_eq!(
        r.header("content-range"),
        format!("bytes 0-{}/{len}", len - 1)
    );
    let r = app
        .request(Method::GET, &path, &[("range", "bytes=100-199")])
        .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.header("content-length"), "100");
    assert_eq!(&r.body[..], &full.body[100..200]);
    assert_eq!(r.header("etag"), full.header("etag"));
    let r = app
        .request(Method::GET, &path, &[("range", "bytes=-10")])
        .await;
    assert_eq!(&r.body[..], &full.body[len - 10..]);
    // Unsatisfiable.
    let r = app
        .request(Method::GET, &path, &[("range", &format!("bytes={len}-"))])
        .await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.header("content-range"), format!("bytes */{len}"));
    // A stale If-Range gets the whole, current image.
    let r = app
        .request(
            Method::GET,
            &path,
            &[("range", "bytes=0-9"), ("if-range", "\"old\"")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body.len(), len);
}

#[test]
fn sign_command_prints_a_url_the_signer_accepts() {
    let out = sharecard(&[
        "sign",
        "--signing-key",
        KEY,
        "/cards/report.png?role=ML%20Engineer&risk=48",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        url.trim(),
        signed("/cards/report.png", "role=ML%20Engineer&risk=48", KEY)
    );
    let out = sharecard(&[
        "sign",
        "--signing-key",
        KEY,
        "--expires-in",
        "1h",
        "--public-url",
        "https://c.example/",
        "/share/report?role=A&risk=1",
    ]);
    let url = String::from_utf8(out.stdout).unwrap();
    assert!(
        url.starts_with("https://c.example/share/report?role=A&risk=1&exp="),
        "{url}"
    );
    let q = url.trim().split_once('?').unwrap().1;
    let signer = Signer::new(&[KEY]).unwrap();
    assert!(
        signer
            .verify(
                "/share/report",
                &Params::parse(Some(q)).unwrap(),
                &sharecard::signing::report_card_params,
                sharecard::clock::Clock::now(&sharecard::clock::SystemClock)
            )
            .is_ok()
    );
    let out = sharecard(&["sign", "/x?a=1"]);
    assert!(!out.status.success(), "no key is an error");
}

#[test]
fn render_command_single_and_batch() {
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("one.png");
    let out = sharecard(&[
        "render",
        "--role",
        "ML Engineer",
        "--risk",
        "48",
        "--threat",
        "Fine-Tuning",
        "--threat-risk",
        "65",
        "--scale",
        "2",
        "-o",
        out_file.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(png_size(&std::fs::read(&out_file).unwrap()), (2400, 1260));
    let out = sharecard(&["render", "--role", "x", "--risk", "500"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--risk"));

    let batch = dir.path().join("cards.jsonl");
    std::fs::write(
        &batch,
        [
            r#"{"role": "ML Engineer", "risk": 48, "threat": {"task": "Fine-Tuning", "risk": 65}}"#,
            r#"{"role": "Nurse", "risk": 14, "theme": "light", "name": "nurse"}"#,
            r#"{"role": "Broken", "risk": "lots"}"#,
            r#"{"role": "Electrician", "risk": 6, "scale": 2}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let run = || {
        sharecard(&[
            "render",
            "--batch",
            batch.to_str().unwrap(),
            "--out-dir",
            out_dir.to_str().unwrap(),
            "--jobs",
            "2",
        ])
    };
    let out = run();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a bad line fails the batch: {stderr}"
    );
    assert!(
        stderr.contains("line 3:") && stderr.contains("`risk`"),
        "{stderr}"
    );
    assert!(stderr.contains("3 rendered"), "{stderr}");
    for (name, size) in [
        ("ml-engineer-report.png", (1200, 630)),
        ("nurse.png", (1200, 630)),
        ("electrician-report@2x.png", (2400, 1260)),
    ] {
        let bytes = std::fs::read(out_dir.join(name)).unwrap_or_else(|_| panic!("{name}"));
        assert_eq!(png_size(&bytes), size, "{name}");
    }
    // Existing files are skipped unless --force.
    let out = run();
    assert!(String::from_utf8_lossy(&out.stderr).contains("0 rendered, 3 already there"));
}

#[test]
fn check_command_passes_bundled_templates_and_fails_broken_ones() {
    let out = sharecard(&["check"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("all text inside its boxes"));

    // A template whose text box is too small for its own text.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("_text.svg"),
        include_str!("../../templates/_text.svg"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("tiny.svg"),
        r##"{%- from "_text.svg" import textbox -%}{%- set width = 300 -%}{%- set height = 100 -%}{%- set fields = ["role"] -%}
{%- set r = text.fit(card.role, id="role", x=10, y=10, width=200, height=20, size=16) -%}
<svg xmlns="http://www.w3.org/2000/svg" width="300" height="100"><rect width="300" height="100" fill="#fff"/>
<text id="role" x="10" y="60" font-size="40">{{ card.role }}</text></svg>"##,
    )
    .unwrap();
    let out = sharecard(&["check", "--templates-dir", dir.path().to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("leaves its box"), "{stderr}");

    // A template that does not compile.
    std::fs::write(dir.path().join("tiny.svg"), "{% if %}").unwrap();
    let out = sharecard(&["check", "--templates-dir", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tiny.svg"));
}

#[tokio::test]
async fn warm_command_and_serve_warm_fill_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("warm.jsonl");
    std::fs::write(
        &list,
        "{\"role\": \"Paralegal\", \"risk\": 67}\n/cards/report.png?role=Translator&risk=73\nnot a card\n{\"role\": \"Nurse\", \"risk\": 14, \"template\": \"report\"}\n/cards/report.webp?role=Welder&risk=20\n",
    )
    .unwrap();

    // `sharecard warm` against a running service.
    let app = spawn_app().await;
    let target = format!("http://{}", app.addr);
    let list_arg = list.to_str().unwrap().to_owned();
    let out =
        tokio::task::spawn_blocking(move || sharecard(&["warm", "--target", &target, &list_arg]))
            .await
            .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the bad line is reported: {stderr}"
    );
    assert!(
        stderr.contains("line 3:") && stderr.contains("4 cards warmed"),
        "{stderr}"
    );
    assert_eq!(app.renders(), 4);
    let before = app.renders();
    assert_eq!(
        app.get("/cards/report.png?role=Paralegal&risk=67")
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(app.renders(), before, "warmed cards are hits");

    // `serve --warm`: ready at once, cards land in the cache afterwards.
    let app = spawn_app_with(|a| a.warm = Some(list.clone())).await;
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
    for _ in 0..200 {
        if app.renders() >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        app.renders(),
        4,
        "the cards `warm` counted: two JSON lines and two card paths"
    );
    let before = app.renders();
    app.get("/cards/report.png?role=Nurse&risk=14").await;
    app.get("/cards/report.webp?role=Welder&risk=20").await;
    assert_eq!(app.renders(), before, "a .webp path line is warmed as WebP");
}

/// Served on another address than `--public-url` (here its default, with
/// the server on a random port): the card people see and the download
/// button work on the address the page was reached at, while the tags
/// crawlers read keep the public URL and never take the `Host` header.
#[tokio::test]
async fn a_share_page_works_on_whatever_address_it_was_reached_at() {
    let app = spawn_app().await;
    let page = app
        .request(
            Method::GET,
            "/share/report?role=ML%20Engineer&risk=48",
            &[("host", "evil.example")],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let html = std::str::from_utf8(&page.body).unwrap();
    let doc = Html::parse_document(html);
    assert!(meta(&doc, "property", "og:image").starts_with("http://localhost:8080/cards/"));
    assert!(
        !html.contains("evil.example"),
        "the Host header never reaches a page"
    );
    let src = doc.select("img").next().unwrap().attr("src").unwrap();
    let href = doc
        .select("a[download]")
        .next()
        .unwrap()
        .attr("href")
        .unwrap();
    for (path, size) in [(src, (1200, 630)), (href, (2400, 1260))] {
        assert!(path.starts_with("/cards/report.png?"), "{path}");
        let r = app.get(&path.replace("&amp;", "&")).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(png_size(&r.body), size, "{path}");
    }
}

/// `/share` and `/share/` both answer people with the page in words that
/// lists the share pages, never JSON.
#[tokio::test]
async fn a_trimmed_share_link_gets_a_page_in_words() {
    let app = spawn_app().await;
    for path in ["/share", "/share/", "/share?role=A&risk=1"] {
        let r = app.get(path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert!(r.header("content-type").starts_with("text/html"), "{path}");
        let doc = Html::parse_document(std::str::from_utf8(&r.body).unwrap());
        let words = doc.text();
        assert!(words.contains("/share/report"), "{path}: {words}");
    }
}
