//! Templates, themes, scales, downloads, scripts without fonts, and the
//! preview gallery.

use hyper::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn templates_endpoint_lists_every_template() {
    let app = spawn_app().await;
    let r = app.get("/templates").await;
    assert_eq!(r.status, StatusCode::OK);
    let j = r.json();
    let list = j["templates"].as_array().unwrap();
    let names: Vec<&str> = list.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"report"), "{names:?}");
    for t in list {
        let name = t["name"].as_str().unwrap();
        // Report cards here; the others' own samples are drawn by
        // `sharecard check` and the gallery test.
        if !["report", "square", "story"].contains(&name) {
            continue;
        }
        let (w, h) = (
            t["width"].as_u64().unwrap() as u32,
            t["height"].as_u64().unwrap() as u32,
        );
        assert_eq!(t["themes"], serde_json::json!(["dark", "light"]));
        let fields: Vec<&str> = t["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        assert!(
            fields.contains(&"role") && fields.contains(&"risk"),
            "{name}: {fields:?}"
        );
        // Every listed template serves at every scale and theme, at the
        // size it declares.
        for scale in 1..=3u32 {
            for theme in ["dark", "light"] {
                let r = app
                    .get(&format!(
                        "/cards/{name}.png?{ML_ENGINEER}&scale={scale}&theme={theme}"
                    ))
                    .await;
                assert_eq!(r.status, StatusCode::OK, "{name} {scale} {theme}");
                assert_eq!(
                    png_size(&r.body),
                    (w * scale, h * scale),
                    "{name} {scale} {theme}"
                );
            }
        }
    }
    if names.contains(&"square") {
        assert_eq!(
            list.iter().find(|t| t["name"] == "square").unwrap()["width"],
            1080
        );
    }
}

#[tokio::test]
async fn scale_and_theme_are_part_of_the_cache_key_and_etag() {
    let app = spawn_app().await;
    let base = format!("/cards/report.png?{ML_ENGINEER}");
    let mut etags = Vec::new();
    for extra in [
        "",
        "&scale=2",
        "&scale=3",
        "&theme=light",
        "&theme=light&scale=2",
    ] {
        let r = app.get(&format!("{base}{extra}")).await;
        assert_eq!(r.status, StatusCode::OK);
        etags.push(r.header("etag").to_owned());
    }
    let unique: std::collections::HashSet<_> = etags.iter().collect();
    assert_eq!(unique.len(), etags.len(), "{etags:?}");
    assert_eq!(app.renders(), 5);
    // Explicit defaults are the same card.
    let r = app.get(&format!("{base}&scale=1&theme=dark")).await;
    assert_eq!(r.header("etag"), etags[0]);
    assert_eq!(app.renders(), 5);
}

#[tokio::test]
async fn downloads_have_a_proper_file_name() {
    let app = spawn_app().await;
    let cases = [
        (
            format!("/cards/report.png?{ML_ENGINEER}&download=1"),
            "attachment; filename=\"ml-engineer-report.png\"",
        ),
        (
            format!("/cards/report.png?{ML_ENGINEER}&download=1&scale=2"),
            "attachment; filename=\"ml-engineer-report@2x.png\"",
        ),
        (
            "/cards/report.png?role=Ing%C3%A9nieure%20d%27%C3%A9tudes&risk=29&download=1"
                .to_owned(),
            "attachment; filename=\"ingenieure-d-etudes-report.png\"; filename*=UTF-8''ing%C3%A9nieure-d-%C3%A9tudes-report.png",
        ),
    ];
    for (path, want) in cases {
        let r = app.get(&path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.header("content-disposition"), want, "{path}");
    }
    let r = app.get(&format!("/cards/report.png?{ML_ENGINEER}")).await;
    assert!(!r.headers.contains_key("content-disposition"));
    let r = app
        .get(&format!("/cards/report.png?{ML_ENGINEER}&download=yes"))
        .await;
    assert_eq!(
        r.error(),
        ("invalid_download".into(), Some("download".into()))
    );
}

#[tokio::test]
async fn characters_no_font_covers_are_422_not_tofu() {
    let app = spawn_app().await;
    // Emoji are drawn (bundled Twemoji)…
    let r = app
        .get("/cards/report.png?role=Community%20Manager%20%F0%9F%9A%80&risk=61")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // …up to Emoji 15.0: U+1FAE9 (Emoji 16.0) has no glyph.
    let r = app
        .get("/cards/report.png?role=Community%20Manager%20%F0%9F%AB%A9&risk=61")
        .await;
    assert_eq!(r.status.as_u16(), 422);
    let (code, field) = r.error();
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("unsupported_characters", Some("role"))
    );
    let msg = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(msg.contains("U+1FAE9"), "{msg}");
    let r = app
        .get("/cards/report.png?role=a&risk=1&threat=%E0%B8%81&threat_risk=1")
        .await;
    assert_eq!(
        r.error(),
        ("unsupported_characters".into(), Some("threat".into()))
    );
    // Each character has a glyph, but not in one font: an Arabic letter
    // carrying a Devanagari nukta would be drawn as a tofu box.
    let r = app
        .get("/cards/report.png?role=a&risk=1&tagline=%D8%A9%E0%A4%BC")
        .await;
    assert_eq!(r.status.as_u16(), 422);
    assert_eq!(
        r.error(),
        ("unsupported_characters".into(), Some("tagline".into()))
    );
    let msg = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(msg.contains("U+0629 U+093C"), "{msg}");
    // Latin with a combining accent run into Arabic: usvg's per-line font
    // fallback would leave a tofu box, however the line is wrapped.
    let r = app
        .get("/cards/report.png?role=a&risk=1&threat=yyy%CC%81%DA%AD&threat_risk=0")
        .await;
    assert_eq!(
        r.error(),
        ("unsupported_characters".into(), Some("threat".into()))
    );
    assert_eq!(app.renders(), 1);
}

/// The sample, on the page template authors look at: every
/// template and theme of "Community Manager 🚀" is listed and served.
#[tokio::test]
async fn the_emoji_sample_renders_on_preview() {
    let app = spawn_app().await;
    let page = app.get("/preview").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = std::str::from_utf8(&page.body).unwrap();
    let doc = Html::parse_document(html);
    let srcs: Vec<String> = doc
        .select("figure img")
        .filter_map(|i| i.attr("src"))
        .filter(|s| s.contains("Community%20Manager%20%F0%9F%9A%80"))
        .map(str::to_owned)
        .collect();
    let templates = app.state.renderer().templates().infos().count();
    assert_eq!(srcs.len(), templates * 2, "{srcs:#?}");
    for src in srcs {
        let r = app.get(&src).await;
        assert_eq!(r.status, StatusCode::OK, "{src}");
        assert_eq!(&r.body[1..4], b"PNG", "{src}");
    }
}

#[tokio::test]
#[ignore = "needs chromium (apt-get install chromium); .ci/run runs it"]
async fn gallery_images_all_load_at_their_declared_size_in_chromium() {
    let app = spawn_app().await;
    let dom = chromium_dom(app.url("/preview"), 1400, 20000, 120000).await;
    let doc = Html::parse_document(&dom);
    let imgs: Vec<_> = doc.select("figure img").collect();
    let templates = app.state.renderer().templates().infos().count();
    assert!(
        imgs.len() >= templates * 2 * 10,
        "{} images in {dom:.500}",
        imgs.len()
    );
    let bad: Vec<String> = imgs
        .iter()
        .filter(|i| i.attr("data-status") != Some("ok"))
        .map(|i| format!("{:?} {:?}", i.attr("src"), i.attr("data-status")))
        .collect();
    assert!(
        bad.is_empty(),
        "{} of {} images not ok: {bad:#?}",
        bad.len(),
        imgs.len()
    );
    // Each image's URL is one click away (open, or copy), with @2x and a
    // download beside it, and no long URL is printed under it.
    assert_eq!(doc.select("figcaption button.copy").count(), imgs.len());
    assert_eq!(doc.select("figcaption a").count(), imgs.len() * 3);
    for (img, button) in imgs.iter().zip(doc.select("figcaption button.copy")) {
        assert_eq!(img.attr("src"), button.attr("data-url"));
    }
    assert_eq!(doc.select("figcaption code").count(), 0);
    // A grid a person can scan: at 1,400 px wide the page was ~21,500 px
    // tall as one column of large thumbnails with URLs under them.
    let height: u32 = doc
        .select("body")
        .next()
        .and_then(|b| b.attr("data-height"))
        .and_then(|h| h.parse().ok())
        .expect("the page reports its height once loaded");
    assert!(
        height <= 6_000,
        "the gallery is {height} px tall at 1,400 px wide"
    );
    let text = doc.text();
    assert!(
        text.contains("422") || text.contains("Not rendered"),
        "stress cases without fonts are explained"
    );
}

#[tokio::test]
async fn gallery_reflects_template_edits_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("templates");
    for f in ["_text.svg", "report.svg"] {
        std::fs::copy(root.join(f), dir.path().join(f)).unwrap();
    }
    let path = dir.path().to_path_buf();
    let app = spawn_app_with(move |a| a.card.templates_dir = Some(path)).await;
    let first = app.get("/preview").await;
    assert_eq!(first.status, StatusCode::OK);
    let version = |body: &[u8]| -> String {
        let html = std::str::from_utf8(body).unwrap();
        let i = html.find("&amp;v=").expect("versioned image URLs") + 7;
        html[i..i + 12].to_owned()
    };
    let v1 = version(&first.body);
    let card = format!("/cards/report.png?{ML_ENGINEER}");
    let before = app.get(&card).await;

    // Edit the template: a different eyebrow text.
    let src = std::fs::read_to_string(dir.path().join("report.svg")).unwrap();
    let edited = src.replace("AI Automation Risk Assessment", "Edited Eyebrow");
    // Another length, so the folder's stamp changes whatever the file
    // system's timestamp resolution.
    assert_ne!(src.len(), edited.len());
    std::fs::write(dir.path().join("report.svg"), edited).unwrap();
    let second = app.get("/preview").await;
    assert_ne!(version(&second.body), v1, "new template version");
    let after = app.get(&card).await;
    assert_ne!(after.header("etag"), before.header("etag"));
    assert_ne!(after.body, before.body, "the card shows the edit");

    // A broken edit keeps the last good templates and says why.
    std::fs::write(dir.path().join("report.svg"), "{% if %}").unwrap();
    let third = app.get("/preview").await;
    let html = std::str::from_utf8(&third.body).unwrap();
    assert!(html.contains("failed to reload"), "{html:.300}");
    assert_eq!(app.get(&card).await.status, StatusCode::OK);
}

#[tokio::test]
#[ignore = "needs fonts-noto-cjk (apt-get install fonts-noto-cjk); .ci/run runs it"]
async fn cjk_renders_with_fonts_added_by_the_operator() {
    // Debian's fonts-noto-cjk, as README documents.
    let system = std::path::Path::new("/usr/share/fonts/opentype/noto");
    let files = ["NotoSansCJK-Regular.ttc", "NotoSansCJK-Bold.ttc"];
    assert!(
        files.iter().all(|f| system.join(f).exists()),
        "this test needs Debian's CJK fonts: apt-get install fonts-noto-cjk (.ci/run installs them)"
    );
    let dir = tempfile::tempdir().unwrap();
    for f in files {
        std::os::unix::fs::symlink(system.join(f), dir.path().join(f)).unwrap();
    }
    let japanese = samples()
        .into_iter()
        .find(|s| s.slug == "japanese")
        .unwrap();

    // Without the fonts: a clear 422, never tofu.
    let plain = spawn_app().await;
    let r = plain
        .get(&format!("/cards/report.png?{}", japanese.query))
        .await;
    assert_eq!(r.status.as_u16(), 422);

    let path = dir.path().to_path_buf();
    let app = spawn_app_with(move |a| a.card.fonts_dir = Some(path)).await;
    let r = app
        .get(&format!("/cards/report.png?{}", japanese.query))
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{:?}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(png_size(&r.body), (1200, 630));

    // And the text is drawn with real glyphs, inside its boxes.
    let renderer = app.state.renderer();
    let req = request("report", &japanese.query);
    let doc = renderer.svg(&req).unwrap();
    let tree = renderer.tree(&doc.svg).unwrap();
    let problems = sharecard_render::render::text_violations(&doc, &tree);
    assert!(problems.is_empty(), "{problems:#?}");
}

/// `--templates-dir` needs only its own cards (the bundled partials fill
/// in), and the next card after an edit is drawn from the edited file.
#[tokio::test]
async fn templates_dir_edits_reach_the_next_card_without_a_page_reload() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("templates");
    let report = dir.path().join("report.svg");
    std::fs::copy(root.join("report.svg"), &report).unwrap();
    let path = dir.path().to_path_buf();
    let app = spawn_app_with(move |a| a.card.templates_dir = Some(path)).await;
    let card = format!("/cards/report.png?{ML_ENGINEER}");
    let before = app.get(&card).await;
    assert_eq!(
        before.status,
        StatusCode::OK,
        "no _text.svg in the directory"
    );
    let listed: serde_json::Value = app.get("/templates").await.json();
    assert_eq!(listed["templates"].as_array().unwrap().len(), 1);

    // An edit that changes pixels: the accent colour.
    let src = std::fs::read_to_string(&report).unwrap();
    let edited = src.replacen(
        "</svg>",
        "<rect x=\"0\" y=\"0\" width=\"40\" height=\"40\" fill=\"#ff00ff\"/></svg>",
        1,
    );
    assert_ne!(edited, src);
    std::fs::write(&report, edited).unwrap();
    let after = app.get(&card).await;
    assert_eq!(after.status, StatusCode::OK);
    assert_ne!(after.header("etag"), before.header("etag"), "a new version");
    let (_, _, px) = decode_rgba(&after.body);
    assert_eq!(&px[..4], &[255, 0, 255, 255], "drawn from the edited file");

    // A broken edit keeps the last good templates, and /templates says why
    // (the gallery polls it to refresh itself).
    std::fs::write(&report, "{% if %}").unwrap();
    assert_eq!(app.get(&card).await.status, StatusCode::OK);
    let listed: serde_json::Value = app.get("/templates").await.json();
    assert!(
        listed["reload_error"]
            .as_str()
            .is_some_and(|e| e.contains("report.svg")),
        "{listed}"
    );
    let gallery = app.get("/preview").await;
    let html = std::str::from_utf8(&gallery.body).unwrap();
    assert!(
        html.contains("location.reload()"),
        "the gallery refreshes itself"
    );
}
