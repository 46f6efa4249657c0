//! `/cards/{template}.webp`: the PNG's card, pixel for pixel, in fewer
//! bytes, with the PNG's parameters, signing, errors, validators, ranges
//! and caching, and the share page's `<picture>`. Each WebP is decoded by
//! a decoder other than its encoder's: image-webp's first encoding by
//! libwebp, libwebp's small one by image-webp.

use hyper::{Method, StatusCode};
use sharecard::cache::{Format, KeyedCard};

use crate::helpers::*;

const KEY: &str = "test-key-0123456789abcdef";

/// A card with right-to-left text (Arabic role and threat) and emoji
/// sequences (ZWJ, keycaps, flags, skin tones) in its tagline.
const RTL_AND_EMOJI: &str = "role=%D9%85%D9%87%D9%86%D8%AF%D8%B3%20%D8%AA%D8%B9%D9%84%D9%85%20%D8%A7%D9%84%D8%A2%D9%84%D8%A9&tagline=Keycap%201%EF%B8%8F%E2%83%A3%20%E2%9D%A4%EF%B8%8F%20%F0%9F%91%8B%F0%9F%8F%BD%20%F0%9F%91%A9%E2%80%8D%F0%9F%92%BB%20%F0%9F%87%A7%F0%9F%87%B7&risk=48&threat=%D8%B6%D8%A8%D8%B7%20%D8%A7%D9%84%D9%86%D9%85%D8%A7%D8%B0%D8%AC&threat_risk=65";

/// Straight RGBA pixels of a WebP, decoded by the decoder that did not
/// write it (the ETag names the encoder).
fn decode_webp(bytes: &[u8], etag: &str) -> (u32, u32, Vec<u8>) {
    assert_eq!(&bytes[..4], b"RIFF", "a WebP");
    assert_eq!(&bytes[8..12], b"WEBP", "a WebP");
    if etag.ends_with("-webp-z3\"") {
        // libwebp wrote it: image-webp reads it.
        let mut d = image_webp::WebPDecoder::new(std::io::Cursor::new(bytes)).expect("WebP");
        assert!(!d.is_lossy(), "lossless");
        let (w, h) = d.dimensions();
        let mut buf = vec![0; d.output_buffer_size().expect("size")];
        d.read_image(&mut buf).expect("decodes");
        (w, h, rgba(buf, d.has_alpha()))
    } else {
        assert!(etag.ends_with("-webp-iw\""), "image-webp's: {etag}");
        // image-webp wrote it: libwebp reads it.
        let image = webp::Decoder::new(bytes)
            .decode()
            .expect("libwebp decodes it");
        let (w, h, alpha) = (image.width(), image.height(), image.is_alpha());
        (w, h, rgba(image.to_vec(), alpha))
    }
}

fn rgba(buf: Vec<u8>, alpha: bool) -> Vec<u8> {
    if alpha {
        buf
    } else {
        buf.chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect()
    }
}

#[tokio::test]
async fn webp_cards_have_the_png_pixels_for_every_template_theme_and_scale() {
    let app = spawn_app_with(|a| a.recompress = true).await;
    let mut checked = 0;
    for template in ["report", "square", "story"] {
        for theme in ["dark", "light"] {
            for scale in 1..=3 {
                let query = format!("{RTL_AND_EMOJI}&theme={theme}&scale={scale}");
                let card = format!("{template} {theme} {scale}×");
                let png = app
                    .wait_for_final(&format!("/cards/{template}.png?{query}"))
                    .await;
                assert_eq!(png.header("content-type"), "image/png", "{card}");
                let (w, h, pixels) = decode_rgba(&png.body);
                // Opaque cards: straight and premultiplied alpha agree.
                assert!(pixels.chunks_exact(4).all(|p| p[3] == 255), "{card}");
                let path = format!("/cards/{template}.webp?{query}");
                let first = app.get(&path).await;
                let last = app.wait_for_final(&path).await;
                for r in [&first, &last] {
                    assert_eq!(r.status, StatusCode::OK, "{card}");
                    assert_eq!(r.header("content-type"), "image/webp", "{card}");
                    let etag = r.header("etag");
                    let (ww, wh, webp) = decode_webp(&r.body, etag);
                    assert_eq!((ww, wh), (w, h), "{card}");
                    assert!(
                        webp == pixels,
                        "{card} {etag}: pixels differ from the PNG's"
                    );
                }
                // Every template at 1× settles in libwebp's bytes, smaller
                // than the final PNG; larger cards keep the first.
                if scale == 1 {
                    assert!(last.header("etag").ends_with("-webp-z3\""), "{card}");
                    assert!(
                        last.body.len() * 100 <= png.body.len() * 65,
                        "{card}: WebP {} vs PNG {} bytes",
                        last.body.len(),
                        png.body.len()
                    );
                } else {
                    assert_eq!(last.header("etag"), first.header("etag"), "{card}");
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 18);
}

#[tokio::test]
async fn a_webp_url_answers_as_its_png_does() {
    let app = spawn_app_with(|a| a.recompress = true).await;
    let query = format!("{ML_ENGINEER}&utm_source=x");
    let (png_path, webp_path) = (
        format!("/cards/report.png?{query}"),
        format!("/cards/report.webp?{query}"),
    );
    // The bytes it settles in are known before rendering: 304, no render.
    let version = app.template_version("report");
    let renderer = app.state.renderer();
    let req = request("report", ML_ENGINEER);
    let settled = renderer.etag(&req, renderer.settled_encoding(&req, true, true));
    let r = app
        .request(Method::GET, &webp_path, &[("if-none-match", &settled)])
        .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert_eq!(app.renders(), 0);

    let png = app.wait_for_final(&png_path).await;
    let draft = app.get(&webp_path).await;
    assert_eq!(
        draft.header("cache-control"),
        "public, max-age=10",
        "a draft"
    );
    let webp = app.wait_for_final(&webp_path).await;
    assert_eq!(webp.header("etag"), settled);
    assert_eq!(
        webp.header("cache-control"),
        "public, max-age=86400, stale-while-revalidate=604800"
    );
    // One strong ETag per body: each encoding has its own.
    let tags = [
        png.header("etag"),
        draft.header("etag"),
        webp.header("etag"),
    ];
    assert!(
        tags[0] != tags[1] && tags[1] != tags[2] && tags[0] != tags[2],
        "{tags:?}"
    );
    assert!(tags.iter().all(|t| !t.starts_with("W/")));
    // The format is in the URL: no `Vary` on either.
    assert!(png.headers.get("vary").is_none() && webp.headers.get("vary").is_none());
    for h in [
        "access-control-allow-origin",
        "x-content-type-options",
        "accept-ranges",
    ] {
        assert_eq!(png.header(h), webp.header(h), "{h}");
    }
    // Conditional, HEAD, ranges.
    let r = app
        .request(Method::GET, &webp_path, &[("if-none-match", tags[2])])
        .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    let r = app
        .request(Method::GET, &webp_path, &[("if-none-match", tags[0])])
        .await;
    assert_eq!(r.status, StatusCode::OK, "the PNG's tag is not the WebP's");
    let head = app.request(Method::HEAD, &webp_path, &[]).await;
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-length"), webp.body.len().to_string());
    assert_eq!(head.header("content-type"), "image/webp");
    let part = app
        .request(Method::GET, &webp_path, &[("range", "bytes=10-109")])
        .await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert!(part.body == webp.body[10..110]);
    let stale = app
        .request(
            Method::GET,
            &webp_path,
            &[("range", "bytes=10-109"), ("if-range", tags[1])],
        )
        .await;
    assert_eq!(stale.status, StatusCode::OK, "never a piece of other bytes");
    assert!(stale.body == webp.body);
    let past = format!("bytes={}-", webp.body.len());
    let r = app
        .request(Method::GET, &webp_path, &[("range", &past)])
        .await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    // Downloads are named for their format.
    let r = app.get(&format!("{webp_path}&download=1")).await;
    assert_eq!(
        r.header("content-disposition"),
        "attachment; filename=\"ml-engineer-report.webp\""
    );
    // A versioned URL is immutable in either format.
    let r = app.get(&format!("{webp_path}&v={version}")).await;
    assert_eq!(
        r.header("cache-control"),
        "public, max-age=31536000, immutable"
    );
    // Errors are the PNG's.
    for (q, status) in [
        ("role=R", 400),
        ("role=R&risk=101", 400),
        ("role=R&risk=1&theme=x", 400),
    ] {
        let a = app.get(&format!("/cards/report.png?{q}")).await;
        let b = app.get(&format!("/cards/report.webp?{q}")).await;
        assert_eq!(
            (a.status.as_u16(), b.status.as_u16()),
            (status, status),
            "{q}"
        );
        assert_eq!(a.error(), b.error(), "{q}");
    }
    let r = app.get("/cards/nope.webp?role=R&risk=1").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(
        std::str::from_utf8(&r.body)
            .unwrap()
            .contains("/cards/report.webp")
    );
    assert_eq!(
        app.get("/cards/report.gif?role=R&risk=1").await.status,
        StatusCode::NOT_FOUND
    );

    // Cached under its own key, counted in the cache's bytes.
    let renders = app.renders();
    assert!(app.get(&webp_path).await.body == webp.body);
    assert_eq!(app.renders(), renders, "a hit");
    let keyed = |f| KeyedCard::new(req.clone(), &version, f);
    let cache = app.state.cache();
    let cached = cache.get(&keyed(Format::Webp).key()).await.expect("cached");
    assert!(cached.bytes == webp.body);
    assert!(cache.get(&keyed(Format::Png).key()).await.unwrap().bytes == png.body);
    assert!(
        cache.weighted_size().await >= (png.body.len() + webp.body.len()) as u64,
        "both count in the budget"
    );
    // Kept in the memory file hits are sent from, as PNGs are.
    #[cfg(target_os = "linux")]
    assert!(sharecard::zerocopy::sealed_bytes() >= webp.body.len());
}

#[tokio::test]
async fn a_webp_url_is_signed_on_its_own() {
    let app = spawn_app_with(|a| a.signing.signing_keys = vec![KEY.into()]).await;
    let png = signed("/cards/report.png", ML_ENGINEER, KEY);
    let webp = signed("/cards/report.webp", ML_ENGINEER, KEY);
    assert_eq!(app.get(&png).await.status, StatusCode::OK);
    let r = app.get(&webp).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), "image/webp");
    // The PNG's signature covers its path: it does not open the WebP.
    let swapped = png.replacen(".png", ".webp", 1);
    let r = app.get(&swapped).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.error().0, "signature_invalid");
}

/// The share page of `query` and its `<picture>`'s two URLs.
async fn share_page(app: &TestApp, query: &str) -> (Html, String, String) {
    let r = app.get(&format!("/share/report?{query}")).await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = Html::parse_document(std::str::from_utf8(&r.body).unwrap());
    let webp = doc
        .select("picture > source[type=\"image/webp\"]")
        .next()
        .expect("a WebP <source>");
    let img = doc.select("picture > img").next().expect("the PNG <img>");
    let (webp, png) = (
        webp.attr("srcset").unwrap().to_owned(),
        img.attr("src").unwrap().to_owned(),
    );
    (doc, webp, png)
}

#[tokio::test]
async fn share_pages_show_webp_to_people_and_png_to_crawlers() {
    let app = spawn_app_with(|a| {
        a.signing.signing_keys = vec![KEY.into()];
        a.site.public_url = "https://cards.example".into();
    })
    .await;
    let page = signed("/share/report", ML_ENGINEER, KEY);
    let (doc, webp, png) = share_page(&app, page.strip_prefix("/share/report?").unwrap()).await;
    assert!(
        webp.starts_with("/cards/report.webp?") && webp.contains("&sig="),
        "{webp}"
    );
    assert!(
        png.starts_with("/cards/report.png?") && png.contains("&sig="),
        "{png}"
    );
    assert_eq!(
        webp.replacen(".webp", ".png", 1).split("&sig=").next(),
        png.split("&sig=").next()
    );
    let r = app.get(&webp).await;
    assert_eq!(
        (r.status, r.header("content-type")),
        (StatusCode::OK, "image/webp")
    );
    assert_eq!(app.get(&png).await.status, StatusCode::OK);
    // Crawlers: PNG, and said so (LinkedIn takes no WebP).
    let og = meta(&doc, "property", "og:image");
    assert!(
        og.starts_with("https://cards.example/cards/report.png?"),
        "{og}"
    );
    assert_eq!(meta(&doc, "property", "og:image:type"), "image/png");
    assert_eq!(meta(&doc, "name", "twitter:image"), og);
}

#[tokio::test]
#[ignore = "needs chromium (apt-get install chromium); .ci/run runs it"]
async fn chromium_shows_the_share_page_card_as_webp() {
    let app = spawn_app().await;
    let (_, webp, png) = share_page(&app, ML_ENGINEER).await;
    let url = app.url(&format!("/share/report?{ML_ENGINEER}"));
    let dom = chromium_dom(url, 1300, 900, 30000).await;
    assert!(dom.contains("<picture>"), "{dom:.500}");
    // Which source it loaded: the card it asked the server for.
    let version = app.template_version("report");
    let req = request("report", ML_ENGINEER);
    let cache = app.state.cache();
    let loaded = |f| {
        let key = KeyedCard::new(req.clone(), &version, f).key();
        let cache = cache.clone();
        async move { cache.get(&key).await.is_some() }
    };
    // The render a request started lands in the cache even if Chromium
    // is gone; give it a moment.
    let mut got_webp = false;
    for _ in 0..500 {
        got_webp = loaded(Format::Webp).await;
        if got_webp {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(got_webp, "Chromium did not load {webp}: {dom:.2000}");
    assert!(
        !loaded(Format::Png).await,
        "Chromium loaded the PNG {png} too"
    );
}
