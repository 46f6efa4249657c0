//! A site adds a card without Rust: a template set with a new template
//! whose declaration has a list, an integer, an enum and an image, given
//! through `--templates-dir` only. It is checked, served, signed, listed
//! in `/openapi.json` and the gallery, and every bad input is refused
//! with the field path.

use hyper::StatusCode;

use crate::helpers::*;

/// An 800×400 leaderboard: a title, up to three entries with a score, a
/// badge image and a style.
const PODIUM_SVG: &str = r##"{%- from "_text.svg" import textbox -%}
{%- set width = 800 -%}
{%- set height = 400 -%}
{%- set ink = {"dark": "#F8FAFC", "light": "#0F172A"}[theme] -%}
{%- set weight = 700 if card.style == "bold" else 400 -%}
{%- set title = text.fit(card.title, id="title", x=40, y=30, width=620, height=70, size=48, min_size=24, weight=weight) -%}
<svg xmlns="http://www.w3.org/2000/svg" width="{{ width }}" height="{{ height }}" viewBox="0 0 {{ width }} {{ height }}">
<rect width="{{ width }}" height="{{ height }}" fill="{{ {"dark": "#0B1120", "light": "#FFFFFF"}[theme] }}"/>
<image href="asset:{{ card.badge }}" x="690" y="30" width="64" height="64"/>
{{ textbox(title, ink) }}
{%- for e in card.entries %}
{%- set y = 130 + loop.index0 * 80 -%}
{%- set name = text.fit(e.name, id="name-" ~ loop.index0, x=40, y=y, width=460, height=60, size=34, min_size=18) -%}
{%- set score = text.fit(e.score ~ " pts", id="score-" ~ loop.index0, x=520, y=y, width=240, height=60, size=34, min_size=18, align="right") -%}
{{ textbox(name, ink) }}
{{ textbox(score, ink) }}
{%- endfor %}
</svg>
"##;

const PODIUM_JSON: &str = r#"{
  "summary": "A leaderboard, 800×400",
  "fields": [
    {"name": "title", "type": "text", "max_length": 40, "required": true, "example": "Top tasks"},
    {"name": "entries", "type": "list", "min_items": 1, "max_items": 3, "fields": [
      {"name": "name", "type": "text", "max_length": 30, "required": true},
      {"name": "score", "type": "integer", "minimum": 0, "maximum": 1000, "required": true}
    ]},
    {"name": "badge", "type": "image", "default": "logo"},
    {"name": "style", "type": "enum", "values": ["plain", "bold"], "default": "plain"}
  ],
  "share": {
    "title": "{{ card.title }}",
    "alt": "Leaderboard {{ card.title }}: {% for e in card.entries %}{{ e.name }} {{ e.score }}{% if not loop.last %}, {% endif %}{% endfor %}",
    "file_name": "{{ card.title }}"
  },
  "samples": [
    {"slug": "three", "title": "Top tasks", "entries": [
      {"name": "Scheduling", "score": 930}, {"name": "Reports", "score": 810}, {"name": "Moderation", "score": 520}]},
    {"slug": "star", "title": "Alone", "badge": "star", "style": "bold", "entries": [{"name": "One", "score": 1}]}
  ]
}"#;

const STAR_SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64"><path d="M32 4l8 20h20l-16 12 6 22-18-13-18 13 6-22L4 24h20z" fill="#FBBF24"/></svg>"##;

/// A 48×48 opaque PNG, written with the `png` crate.
fn logo_png() -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, 48, 48);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().unwrap();
    let pixels: Vec<u8> = (0..48 * 48)
        .flat_map(|i| [(i % 48 * 5) as u8, 90, 200])
        .collect();
    w.write_image_data(&pixels).unwrap();
    drop(w);
    out
}

/// A template set holding only the podium (the report cards are not in
/// it), with a PNG and an SVG asset.
fn podium_set() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("podium.svg"), PODIUM_SVG).unwrap();
    std::fs::write(dir.path().join("podium.json"), PODIUM_JSON).unwrap();
    std::fs::create_dir(dir.path().join("assets")).unwrap();
    std::fs::write(dir.path().join("assets/logo.png"), logo_png()).unwrap();
    std::fs::write(dir.path().join("assets/star.svg"), STAR_SVG).unwrap();
    dir
}

fn check(dir: &std::path::Path) -> (bool, String) {
    let out = sharecard_binary()
        .args(["check", "--templates-dir", dir.to_str().unwrap()])
        .output()
        .expect("sharecard runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const KEY: &str = "declared-test-key-0123456789";
const GOOD: &str = "title=Top%20tasks&entries.0.name=Scheduling&entries.0.score=930&entries.1.name=Reports&entries.1.score=810";

#[test]
fn a_declared_template_passes_check_and_its_cases() {
    let dir = podium_set();
    let (ok, err) = check(dir.path());
    assert!(ok, "{err}");
    // The two samples and the cases the declaration implies, two themes.
    assert!(err.contains("ok: 1 templates"), "{err}");
}

#[tokio::test]
async fn a_declared_template_is_served_listed_and_refuses_bad_input() {
    let dir = podium_set();
    let path = dir.path().to_path_buf();
    let app = spawn_app_with(move |a| a.card.templates_dir = Some(path)).await;

    let r = app
        .get(&format!("/cards/podium.png?{GOOD}&utm_source=x"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(png_size(&r.body), (800, 400));
    let r = app
        .get(&format!(
            "/cards/podium.webp?{GOOD}&badge=star&style=bold&scale=2"
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), "image/webp");

    // Its own operations and parameters in the document, item by item.
    let doc = app.get("/openapi.json").await.json();
    let op = &doc["paths"]["/cards/podium.png"]["get"];
    assert_eq!(op["operationId"], "getPodiumPng");
    let params: Vec<&str> = op["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for p in [
        "title",
        "entries.0.name",
        "entries.2.score",
        "badge",
        "style",
    ] {
        assert!(params.contains(&p), "{p}: {params:?}");
    }
    assert!(!params.contains(&"entries.3.name"), "{params:?}");
    let param = |name: &str| {
        op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no parameter {name}"))
            .clone()
    };
    let badge = param("badge");
    assert_eq!(badge["schema"]["enum"], serde_json::json!(["logo", "star"]));
    let score = param("entries.0.score");
    assert_eq!(
        (
            score["schema"]["minimum"].as_i64(),
            score["schema"]["maximum"].as_i64()
        ),
        (Some(0), Some(1000))
    );
    assert_eq!(score["required"], true, "min_items is 1");

    // /templates: its parameters and an example URL that serves.
    let t = app.get("/templates").await.json();
    let podium = t["templates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "podium")
        .unwrap()
        .clone();
    assert!(
        podium["parameters"]["entries.1.name"]["maxLength"] == 30,
        "{podium}"
    );
    let example = podium["example"].as_str().unwrap();
    assert_eq!(app.get(example).await.status, StatusCode::OK, "{example}");

    // The gallery shows its samples; the share page says its wording.
    let gallery = String::from_utf8(app.get("/preview").await.body.to_vec()).unwrap();
    assert!(gallery.contains("podium-three") && gallery.contains("podium-star"));
    let page = String::from_utf8(
        app.get(&format!("/share/podium?{GOOD}"))
            .await
            .body
            .to_vec(),
    )
    .unwrap();
    assert!(
        page.contains("Leaderboard Top tasks: Scheduling 930, Reports 810"),
        "{page}"
    );
    let download = app
        .get(&format!("/cards/podium.png?{GOOD}&download=1"))
        .await;
    assert!(
        download
            .header("content-disposition")
            .contains("top-tasks-podium.png")
    );

    // One canonical URL: defaults left out, whatever order.
    let a = app
        .get(&format!("/cards/podium.png?style=plain&badge=logo&{GOOD}"))
        .await;
    let b = app.get(&format!("/cards/podium.png?{GOOD}")).await;
    assert_eq!(a.header("etag"), b.header("etag"));

    for (q, code, field) in [
        // A list that is too long.
        (
            format!("{GOOD}&entries.3.name=X&entries.3.score=1"),
            "too_many_items",
            "entries",
        ),
        // A missing item field.
        (
            "title=T&entries.0.name=X".to_owned(),
            "missing_field",
            "entries.0.score",
        ),
        // A wrong type.
        (
            "title=T&entries.0.name=X&entries.0.score=lots".to_owned(),
            "invalid_integer",
            "entries.0.score",
        ),
        (
            "title=T&entries.0.name=X&entries.0.score=1001".to_owned(),
            "invalid_integer",
            "entries.0.score",
        ),
        // A duplicate index.
        (
            format!("{GOOD}&entries.1.score=5"),
            "repeated_parameter",
            "entries.1.score",
        ),
        (
            "title=T&entries.0.name=X&entries.00.name=Y&entries.0.score=1".to_owned(),
            "invalid_parameter",
            "entries.00.name",
        ),
        // A missing index.
        (
            "title=T&entries.0.name=X&entries.0.score=1&entries.2.name=Z&entries.2.score=2"
                .to_owned(),
            "missing_item",
            "entries.1",
        ),
        // Too few items, an unknown member.
        ("title=T".to_owned(), "too_few_items", "entries"),
        (
            format!("{GOOD}&entries.0.colour=red"),
            "invalid_parameter",
            "entries.0.colour",
        ),
        // An image only by a declared asset name, an enum only by its words.
        (
            format!("{GOOD}&badge=..%2Fpodium.json"),
            "invalid_image",
            "badge",
        ),
        (
            format!("{GOOD}&badge=https%3A%2F%2Fexample.com%2Fx.png"),
            "invalid_image",
            "badge",
        ),
        (format!("{GOOD}&style=Bold"), "invalid_enum", "style"),
        (
            "title=&entries.0.name=X&entries.0.score=1".to_owned(),
            "empty_field",
            "title",
        ),
    ] {
        let r = app.get(&format!("/cards/podium.png?{q}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
        assert_eq!(r.error(), (code.to_owned(), Some(field.to_owned())), "{q}");
    }
}

#[tokio::test]
async fn a_declared_template_is_signed_by_its_own_fields() {
    let dir = podium_set();
    let path = dir.path().to_path_buf();
    let signed = sharecard_binary()
        .args([
            "sign",
            "--templates-dir",
            dir.path().to_str().unwrap(),
            "--signing-key",
            KEY,
            &format!("/cards/podium.png?{GOOD}&badge=star"),
        ])
        .output()
        .unwrap();
    assert!(
        signed.status.success(),
        "{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    let url = String::from_utf8(signed.stdout).unwrap().trim().to_owned();
    let app = spawn_app_with(move |a| {
        a.card.templates_dir = Some(path);
        a.signing.signing_keys = vec![KEY.into()];
    })
    .await;
    assert_eq!(app.get(&url).await.status, StatusCode::OK, "{url}");
    // A tracking tag is not signed; every declared field is.
    assert_eq!(
        app.get(&format!("{url}&fbclid=1")).await.status,
        StatusCode::OK
    );
    for (from, to) in [
        ("entries.1.score=810", "entries.1.score=811"),
        ("badge=star", "badge=logo"),
    ] {
        let tampered = url.replace(from, to);
        assert_eq!(
            app.get(&tampered).await.status,
            StatusCode::FORBIDDEN,
            "{tampered}"
        );
    }
    let unsigned = app.get(&format!("/cards/podium.png?{GOOD}")).await;
    assert_eq!(unsigned.status, StatusCode::FORBIDDEN);
}

#[test]
fn a_wrong_declaration_or_template_fails_check_naming_the_file_and_line() {
    for (file, from, to, words) in [
        (
            "podium.json",
            "\"type\": \"integer\"",
            "\"type\": \"number\"",
            "podium.json line 7: `score`: unknown type \"number\"",
        ),
        (
            "podium.json",
            "\"default\": \"plain\"",
            "\"default\": \"loud\"",
            "podium.json line 10: `style`: default \"loud\"",
        ),
        (
            "podium.json",
            "\"default\": \"logo\"",
            "\"default\": \"logo\", \"values\": [\"logo\", \"shield\"]",
            "no asset named \"shield\"",
        ),
        (
            "podium.json",
            "    {\"name\": \"style\", \"type\": \"enum\", \"values\": [\"plain\", \"bold\"], \"default\": \"plain\"}\n",
            "    {\"name\": \"style\", \"type\": \"enum\", \"values\": [\"plain\", \"bold\"], \"default\": \"plain\"},\n    {\"name\": \"unused\", \"type\": \"percent\"}\n",
            "declares `unused`, which podium.svg never uses",
        ),
        (
            "podium.json",
            "\"title\": \"{{ card.title }}\"",
            "\"title\": \"{{ card.title }}: {{ card.entries[2].name }}\"",
            "share wording: undefined value",
        ),
        (
            "podium.svg",
            "{{ textbox(title, ink) }}",
            "{{ textbox(title, ink) }}{{ card.subtitle }}",
            "uses `card.subtitle`, which podium.json does not declare",
        ),
        (
            "podium.svg",
            "{{ textbox(title, ink) }}",
            "{{ textbox(title, ink) }}<image href=\"file:///etc/passwd\" width=\"9\" height=\"9\"/>",
            "an href to \"file:///etc/passwd\"",
        ),
    ] {
        let dir = podium_set();
        let p = dir.path().join(file);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(from), "{from}");
        std::fs::write(&p, text.replace(from, to)).unwrap();
        let (ok, err) = check(dir.path());
        assert!(!ok && err.contains(words), "{words}: {err}");
    }
}

/// A template that can fail on a valid card fails `check`: the banner of
/// the issue reads `card.threat.task` without a guard, and every sample
/// has a threat, but `check` also draws the card without one.
#[test]
fn an_unguarded_optional_field_fails_check() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("banner.svg"),
        r##"{%- from "_text.svg" import textbox -%}
{%- set width = 600 -%}{%- set height = 200 -%}
{%- set t = text.fit(card.role ~ " " ~ card.threat.task, id="t", x=20, y=20, width=560, height=160, size=40, min_size=12, lines=3) -%}
<svg xmlns="http://www.w3.org/2000/svg" width="600" height="200" viewBox="0 0 600 200">{{ textbox(t, "#000") }}</svg>
"##,
    )
    .unwrap();
    let (ok, err) = check(dir.path());
    assert!(!ok, "{err}");
    assert!(
        err.contains("banner dark without-threat") && err.contains("undefined"),
        "{err}"
    );
}

/// With `--templates-dir`, a bad edit of a declaration keeps the last good
/// set serving and says why, and an asset's edit reaches the next card.
#[tokio::test]
async fn a_bad_declaration_edit_keeps_the_last_good_set() {
    let dir = podium_set();
    let path = dir.path().to_path_buf();
    let app = spawn_app_with(move |a| a.card.templates_dir = Some(path)).await;
    let card = format!("/cards/podium.png?{GOOD}&badge=star");
    let before = app.get(&card).await;
    assert_eq!(before.status, StatusCode::OK);

    // A new star: a new version, so a new ETag.
    std::fs::write(
        dir.path().join("assets/star.svg"),
        STAR_SVG.replace("#FBBF24", "#F87171"),
    )
    .unwrap();
    let after = app.get(&card).await;
    assert_eq!(after.status, StatusCode::OK);
    assert_ne!(after.header("etag"), before.header("etag"), "an asset edit");

    let json = dir.path().join("podium.json");
    let good = std::fs::read_to_string(&json).unwrap();
    std::fs::write(&json, good.replace("\"maximum\": 1000", "\"maximum\": -5")).unwrap();
    assert_eq!(app.get(&card).await.status, StatusCode::OK, "still serving");
    let listed = app.get("/templates").await.json();
    let why = listed["reload_error"].as_str().unwrap_or_default();
    assert!(
        why.contains("podium.json line 7") && why.contains("`score`"),
        "{listed}"
    );
    let gallery = String::from_utf8(app.get("/preview").await.body.to_vec()).unwrap();
    assert!(
        gallery.contains("podium.json line 7"),
        "the gallery shows why"
    );
}
