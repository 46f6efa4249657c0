//! What platforms, caches and people receive: each strong ETag names one
//! body while a card settles into its final bytes, caches get lifetimes
//! that tell the truth, og:url is canonical whatever the request looked
//! like, each crawler gets what it asks for, and people get pages.

use std::collections::HashMap;

use hyper::{Method, StatusCode};
use sharecard::signing::Signer;

use crate::helpers::*;

const KEY: &str = "test-key-0123456789abcdef";
const PUBLIC: &str = "https://cards.example.com";
const SITE: &str = "https://site.example";

fn canonical(doc: &Html) -> String {
    let found: Vec<_> = doc.select("link[rel=\"canonical\"]").collect();
    assert_eq!(found.len(), 1, "one canonical link");
    found[0].attr("href").unwrap().to_owned()
}

fn html(reply: &Reply) -> Html {
    Html::parse_document(std::str::from_utf8(&reply.body).expect("UTF-8"))
}

#[tokio::test]
async fn each_etag_names_one_body_while_a_card_settles() {
    let app = spawn_app_with(|a| a.recompress = true).await;
    let path = format!("/cards/report.png?{ML_ENGINEER}&theme=light&scale=1&utm_source=t");
    let mut bodies: HashMap<String, bytes::Bytes> = HashMap::new();
    let seen = |bodies: &mut HashMap<String, bytes::Bytes>, r: &Reply| {
        let tag = r.header("etag").to_owned();
        assert!(!tag.starts_with("W/"), "strong: {tag}");
        let first = bodies.entry(tag.clone()).or_insert_with(|| r.body.clone());
        assert!(*first == r.body, "{tag} named two bodies");
    };
    let first = app.get(&path).await;
    seen(&mut bodies, &first);
    assert_eq!(
        first.header("cache-control"),
        "public, max-age=10",
        "a draft says it is short-lived"
    );
    let mut last = first.body.clone();
    for _ in 0..3000 {
        let r = app.get(&path).await;
        seen(&mut bodies, &r);
        last = r.body.clone();
        if !r.header("etag").ends_with("-fast\"") {
            assert_eq!(
                r.header("cache-control"),
                "public, max-age=86400, stale-while-revalidate=604800"
            );
            break;
        }
        assert_eq!(r.header("cache-control"), "public, max-age=10");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(bodies.len(), 2, "a draft and the final bytes");
    assert!(last.len() <= 45 * 1024, "final {} bytes", last.len());
    assert_eq!(decode_rgba(&last), decode_rgba(&first.body), "same pixels");
    // Later requests: the final bytes, under the final tag.
    for _ in 0..3 {
        seen(&mut bodies, &app.get(&path).await);
    }
    assert_eq!(bodies.len(), 2);
}

#[tokio::test]
async fn revalidating_a_draft_brings_the_final_bytes() {
    let app = spawn_app_with(|a| a.recompress = true).await;
    let path = format!("/cards/report.png?{ML_ENGINEER}&theme=light");
    let draft = app.get(&path).await;
    let draft_tag = draft.header("etag").to_owned();
    assert!(draft_tag.ends_with("-fast\""), "{draft_tag}");
    // While it is still the draft, the draft's tag is current.
    let fin = app.wait_for_final(&path).await;
    let final_tag = fin.header("etag").to_owned();

    // A CDN revalidating its draft gets the final bytes, not a 304.
    let r = app
        .request(Method::GET, &path, &[("if-none-match", &draft_tag)])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("etag"), final_tag);
    assert!(r.body == fin.body);
    // One revalidating the final bytes keeps them, for the long lifetime.
    let r = app
        .request(
            Method::GET,
            &path,
            &[("if-none-match", &format!("\"x\", {final_tag}"))],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert!(r.body.is_empty());
    assert_eq!(r.header("etag"), final_tag);
    assert!(r.header("cache-control").contains("max-age=86400"));
    assert_eq!(app.renders(), 1);

    // A new instance (a restart, another pod) knows the final tag without
    // rendering: the edge keeps its small bytes for free.
    let other = spawn_app_with(|a| a.recompress = true).await;
    let r = other
        .request(Method::GET, &path, &[("if-none-match", &final_tag)])
        .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert_eq!(other.renders(), 0);
    // The draft's tag from another instance names the same draft bytes
    // (the fast encoding is deterministic), and they are still a draft.
    let r = other
        .request(Method::GET, &path, &[("if-none-match", &draft_tag)])
        .await;
    assert_eq!(r.header("etag"), draft_tag);
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert_eq!(r.header("cache-control"), "public, max-age=10");
}

#[tokio::test]
async fn urls_with_the_template_version_are_immutable() {
    let app = spawn_app().await;
    let page = app.get(&format!("/share/report?{ML_ENGINEER}")).await;
    let image = meta(&html(&page), "property", "og:image");
    let v = image
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("v="))
        .expect("og:image carries v")
        .to_owned();
    let base = format!("/cards/report.png?{ML_ENGINEER}");
    let cases = [
        (
            format!("{base}&v={v}"),
            "public, max-age=31536000, immutable",
        ),
        (
            format!("{base}&v=0{v}"),
            "public, max-age=86400, stale-while-revalidate=604800",
        ),
        (
            base.clone(),
            "public, max-age=86400, stale-while-revalidate=604800",
        ),
    ];
    for (path, want) in cases {
        let r = app.get(&path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.header("cache-control"), want, "{path}");
        let r = app
            .request(Method::GET, &path, &[("if-none-match", r.header("etag"))])
            .await;
        assert_eq!(r.status, StatusCode::NOT_MODIFIED);
        assert_eq!(r.header("cache-control"), want, "304 for {path}");
    }
    // Share pages keep the ordinary lifetime: their text is the card's,
    // but the page around it changes with a deploy.
    assert_eq!(
        page.header("cache-control"),
        "public, max-age=86400, stale-while-revalidate=604800"
    );
}

#[tokio::test]
async fn og_url_is_one_canonical_url_however_the_card_is_spelled() {
    let app = spawn_app_with(|a| a.site.public_url = PUBLIC.into()).await;
    let spellings = [
        "/share/report?role=ML+Engineer&risk=48",
        "/share/report?risk=48&role=ML%20Engineer",
        "/share/report?role=ML%20Engineer&risk=48&level=elevated",
        "/share/report?role=ML+Engineer&risk=48&utm_source=x&utm_medium=social&utm_campaign=c&fbclid=IwAR0&gclid=1&ref=hn",
        "/share/report?role=ML+Engineer&risk=48&scale=2",
        "/share/report?role=ML+Engineer&risk=48&theme=dark&v=anything",
    ];
    let mut urls = Vec::new();
    for s in spellings {
        let r = app.get(s).await;
        assert_eq!(r.status, StatusCode::OK, "{s}");
        let doc = html(&r);
        let og = meta(&doc, "property", "og:url");
        assert_eq!(canonical(&doc), og, "{s}");
        urls.push(og);
    }
    let og = &urls[0];
    assert!(urls.iter().all(|u| u == og), "{urls:#?}");
    assert_eq!(
        og,
        &format!("{PUBLIC}/share/report?role=ML%20Engineer&risk=48&level=elevated")
    );
    // og:url is a page that answers with itself.
    let own = app.get(og.strip_prefix(PUBLIC).unwrap()).await;
    assert_eq!(meta(&html(&own), "property", "og:url"), *og);

    // Over HTTP/2 the request target is a whole URI: it never reaches the
    // page.
    let h2 = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let resp = h2
        .get(app.url(spellings[3]).parse().unwrap())
        .await
        .unwrap();
    assert_eq!(resp.version(), hyper::Version::HTTP_2);
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    let page = String::from_utf8(body.to_vec()).unwrap();
    let doc = Html::parse_document(&page);
    assert_eq!(meta(&doc, "property", "og:url"), *og);
    assert!(!page.contains("127.0.0.1"), "{page}");

    // Nor does a host in an absolute-form request line or a Host header.
    let resp = raw(
        app.addr,
        format!(
            "GET http://evil.example{} HTTP/1.1\r\nhost: evil.example\r\nconnection: close\r\n\r\n",
            spellings[1]
        )
        .as_bytes(),
        std::time::Duration::from_secs(5),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(!resp.contains("evil.example"), "{resp}");
    let body = &resp[resp.find("\r\n\r\n").unwrap() + 4..];
    assert_eq!(meta(&Html::parse_document(body), "property", "og:url"), *og);
}

#[tokio::test]
async fn signed_og_url_is_canonical_and_opens() {
    let app = spawn_app_with(|a| {
        a.signing.signing_keys = vec![KEY.into()];
        a.site.public_url = PUBLIC.into();
    })
    .await;
    let a = signed("/share/report", "role=ML+Engineer&risk=48", KEY);
    let b = signed("/share/report", "risk=48&role=ML%20Engineer&scale=2", KEY);
    let mut seen = Vec::new();
    for path in [a.clone(), format!("{a}&utm_source=x&fbclid=y"), b] {
        let r = app.get(&path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        seen.push(meta(&html(&r), "property", "og:url"));
    }
    assert!(seen.iter().all(|u| *u == seen[0]), "{seen:#?}");
    let og = &seen[0];
    assert!(og.contains("&sig="), "{og}");
    assert!(!og.contains("utm_") && !og.contains("fbclid"), "{og}");
    let r = app.get(og.strip_prefix(PUBLIC).unwrap()).await;
    assert_eq!(r.status, StatusCode::OK, "a crawler following og:url");
}

#[tokio::test]
async fn people_get_pages_in_words_and_clients_get_json() {
    let app = spawn_app_with(|a| a.site.site_url = SITE.into()).await;
    let cases = [
        ("/share/report?risk=48", 400, "role"),
        ("/share/report?role=ML+Engineer&risk=abc", 400, "risk"),
        ("/share/banner?role=ML+Engineer&risk=48", 404, "banner"),
        (
            "/share/report?role=a&risk=1&threat=%E0%B8%81&threat_risk=1",
            422,
            "U+0E01",
        ),
    ];
    for (path, status, words) in cases {
        let r = app
            .request(Method::GET, path, &[("accept", "text/html")])
            .await;
        assert_eq!(r.status.as_u16(), status, "{path}");
        assert_eq!(r.header("content-type"), "text/html; charset=utf-8");
        assert_eq!(r.header("cache-control"), "no-store");
        let page = std::str::from_utf8(&r.body).unwrap();
        let doc = Html::parse_document(page);
        assert!(doc.errors.is_empty(), "{path}: {:?}", doc.errors);
        assert!(page.contains(words), "{path}: {page}");
        assert!(
            doc.select("a")
                .any(|l| l.attr("href").is_some_and(|h| h.starts_with(SITE))),
            "{path}: a way back to the site: {page}"
        );
        assert!(!page.trim_start().starts_with('{'), "{path}");
        // The same mistake on the API is JSON naming the field.
        let api = path.replace("/share/report", "/cards/report.png");
        if api != path {
            let r = app.get(&api).await;
            assert_eq!(r.status.as_u16(), status, "{api}");
            assert!(r.header("content-type").starts_with("application/json"));
            r.error();
        }
    }

    let signed = spawn_app_with(|a| {
        a.signing.signing_keys = vec![KEY.into()];
        a.site.site_url = SITE.into();
    })
    .await;
    let r = signed.get("/share/report?role=ML+Engineer&risk=48").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.header("content-type"), "text/html; charset=utf-8");
    let page = std::str::from_utf8(&r.body).unwrap();
    assert!(page.contains("signature"), "{page}");

    // A browser asks for a favicon with every page.
    let r = app.get("/favicon.ico").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), "image/vnd.microsoft.icon");
    assert_eq!(&r.body[..4], &[0, 0, 1, 0], "an ICO header");
}

/// Each crawler as `../shared/platforms.md` describes it, against a signed
/// deployment with a public URL: the page, then the image its tags name.
/// For the report card, and for `tasks`, a card declared in data (its
/// share wording and signed parameters come from `templates/tasks.json`).
#[tokio::test]
async fn each_crawler_gets_the_tags_and_an_image_it_accepts() {
    let app = spawn_app_with(|a| {
        a.signing.signing_keys = vec![KEY.into()];
        a.site.public_url = PUBLIC.into();
    })
    .await;
    let renderer = app.state.renderer();
    let templates = renderer.templates();
    let tasks = templates.info("tasks").expect("the bundled tasks card");
    let tasks_query = templates
        .sample_request(
            "tasks",
            &tasks.schema.samples[0],
            "",
            &sharecard_render::card::LevelBands::default(),
        )
        .unwrap()
        .canonical_query();
    let tasks_params = |p: &str| tasks.schema.is_param(p);
    // Both cards are the ML Engineer's.
    for (template, query, is_param) in [
        (
            "report",
            ML_ENGINEER.to_owned(),
            &sharecard::signing::report_card_params as sharecard::signing::IsParam<'_>,
        ),
        ("tasks", tasks_query, &tasks_params),
    ] {
        let page_path = Signer::new(&[KEY])
            .unwrap()
            .sign_url(&format!("/share/{template}"), &query, is_param)
            .unwrap();
        crawlers_fetch(&app, template, &page_path).await;
    }
}

/// Every crawler's fetch of the share page at `page_path`, then of the
/// image its tags name, `template`'s card of the ML Engineer.
async fn crawlers_fetch(app: &TestApp, template: &str, page_path: &str) {
    struct Crawler {
        ua: &'static str,
        range: Option<&'static str>,
        head_first: bool,
        twitter_tags: bool,
        limit: usize,
    }
    let fb_range = Some("bytes=0-524287");
    let crawlers = [
        Crawler {
            ua: "Twitterbot/1.0",
            range: None,
            head_first: false,
            twitter_tags: true,
            limit: 5_000_000,
        },
        Crawler {
            ua: "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            range: fb_range,
            head_first: false,
            twitter_tags: false,
            limit: 8_000_000,
        },
        Crawler {
            ua: "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
            range: None,
            head_first: false,
            twitter_tags: false,
            limit: 5_000_000,
        },
        Crawler {
            ua: "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
            range: Some("bytes=0-32767"),
            head_first: true,
            twitter_tags: false,
            limit: 5_000_000,
        },
        Crawler {
            ua: "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
            range: None,
            head_first: false,
            twitter_tags: true,
            limit: 8_000_000,
        },
        Crawler {
            ua: "Mozilla/5.0 (Macintosh) AppleWebKit/601.2.4 (KHTML, like Gecko) Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0",
            range: None,
            head_first: false,
            twitter_tags: true,
            limit: 5_000_000,
        },
    ];
    let mut pages = Vec::new();
    for c in &crawlers {
        let mut headers = vec![("user-agent", c.ua)];
        if let Some(r) = c.range {
            headers.push(("range", r));
        }
        let page = app.request(Method::GET, page_path, &headers).await;
        assert!(
            page.status == StatusCode::OK || page.status == StatusCode::PARTIAL_CONTENT,
            "{} {page_path}: {}",
            c.ua,
            page.status
        );
        let doc = html(&page);
        assert!(
            meta(&doc, "property", "og:title").contains("ML Engineer"),
            "{page_path}"
        );
        for tag in [
            "og:title",
            "og:description",
            "og:url",
            "og:type",
            "og:site_name",
            "og:image",
            "og:image:width",
            "og:image:height",
            "og:image:type",
            "og:image:alt",
        ] {
            assert!(!meta(&doc, "property", tag).is_empty(), "{}: {tag}", c.ua);
        }
        if c.twitter_tags {
            assert_eq!(meta(&doc, "name", "twitter:card"), "summary_large_image");
            assert!(!meta(&doc, "name", "twitter:image").is_empty());
        }
        let image = meta(&doc, "property", "og:image");
        let path = image
            .strip_prefix(PUBLIC)
            .unwrap_or_else(|| panic!("{}: og:image {image} is not absolute", c.ua));
        assert!(
            path.starts_with(&format!("/cards/{template}.png?")),
            "{path}"
        );
        if c.head_first {
            let head = app
                .request(Method::HEAD, path, &[("user-agent", c.ua)])
                .await;
            assert_eq!(head.status, StatusCode::OK, "{}: HEAD", c.ua);
            assert_eq!(head.header("content-type"), "image/png");
            assert!(head.body.is_empty());
        }
        let img = app.request(Method::GET, path, &headers).await;
        assert!(
            img.status == StatusCode::OK || img.status == StatusCode::PARTIAL_CONTENT,
            "{}: {}",
            c.ua,
            img.status
        );
        assert_eq!(img.header("content-type"), "image/png", "{}", c.ua);
        let whole = app.get(path).await;
        if img.status == StatusCode::PARTIAL_CONTENT {
            let want = format!("bytes 0-{}/{}", img.body.len() - 1, whole.body.len());
            assert_eq!(img.header("content-range"), want, "{}", c.ua);
            assert!(whole.body.starts_with(&img.body));
        } else {
            assert!(img.body == whole.body);
        }
        assert_eq!(
            img.header("content-length"),
            img.body.len().to_string(),
            "{}",
            c.ua
        );
        assert!(whole.body.len() < c.limit, "{}", c.ua);
        assert_eq!(png_size(&whole.body), (1200, 630), "{}", c.ua);
        pages.push(page.body);
    }
    assert!(
        pages.iter().all(|p| *p == pages[0]),
        "the same HTML for every crawler"
    );
}

/// Left at its default, `--public-url` points every og:image at
/// localhost: the server says so when it starts.
#[test]
fn the_server_warns_when_public_url_is_left_at_its_default() {
    use std::io::{BufRead, BufReader};
    let read_until_listening = |mut child: std::process::Child| {
        let mut seen = Vec::new();
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            let line = line.unwrap();
            let done = line.contains("listening");
            seen.push(line);
            if done {
                break;
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        seen
    };
    let lines = read_until_listening(serve_binary("text"));
    assert!(
        lines
            .iter()
            .any(|l| l.contains("WARN") && l.contains("--public-url")),
        "{lines:#?}"
    );
    let lines = read_until_listening(serve_binary_with("text", &["--public-url", PUBLIC]));
    assert!(
        !lines.iter().any(|l| l.contains("--public-url")),
        "{lines:#?}"
    );
}
