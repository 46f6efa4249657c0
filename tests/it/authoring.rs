//! A newcomer can add a template by following `templates/README.md` alone:
//! a new card written only with what that guide documents passes
//! `sharecard check` and is served, listed and drawn at its size.

use hyper::StatusCode;

use crate::helpers::*;

/// The template authors' guide.
const GUIDE: &str = include_str!("../../templates/README.md");

/// A 1500×500 banner: the role, fitted, on the left; the risk, its level
/// and a bar on the right and along the bottom. Layered, with the palette
/// and the macro import as the guide shows them.
const BANNER: &str = r##"{%- from "_text.svg" import textbox -%}
{%- set layered = true -%}
{%- set width = 1500 -%}
{%- set height = 500 -%}
{%- set palettes = {
  "dark": {"bg0": "#0B1120", "ink": "#F8FAFC", "muted": "#94A3B8", "track": "#1E293B",
           "stable": "#34D399", "elevated": "#FBBF24", "high": "#FB923C", "critical": "#F87171"},
  "light": {"bg0": "#FFFFFF", "ink": "#0F172A", "muted": "#64748B", "track": "#E2E8F0",
            "stable": "#047857", "elevated": "#A16207", "high": "#C2410C", "critical": "#B91C1C"},
} -%}
{%- set p = palettes[theme] -%}
{%- set accent = p[card.level] -%}
{%- set pad = 80 -%}
{%- set eyebrow = text.fit("AI Automation Risk", id="eyebrow", x=pad, y=56, width=700, height=40, size=28, min_size=20) -%}
{%- set role = text.fit(card.role, id="role", x=pad, y=120, width=860, height=250, size=84, min_size=44, lines=2, weight=700, line_height=1.1, valign="middle") -%}
{%- set percent = text.fit(card.risk ~ "%", id="risk", x=1040, y=110, width=380, height=170, size=150, min_size=80, weight=700, align="end", valign="bottom") -%}
{%- set level = text.fit(card.level ~ " risk", id="level", x=1040, y=290, width=380, height=50, size=36, min_size=24, align="end", valign="middle") -%}
{%- set bar_w = width - 2 * pad -%}
<svg xmlns="http://www.w3.org/2000/svg" width="{{ width }}" height="{{ height }}" viewBox="0 0 {{ width }} {{ height }}">
{%- if layer != "foreground" %}
<rect width="{{ width }}" height="{{ height }}" fill="{{ p.bg0 }}"/>
{{ textbox(eyebrow, p.muted) }}
<rect x="{{ pad }}" y="410" width="{{ bar_w }}" height="16" fill="{{ p.track }}"/>
{%- endif %}
{%- if layer != "background" %}
{{ textbox(role, p.ink) }}
{{ textbox(percent, accent) }}
{{ textbox(level, p.muted) }}
{%- if card.risk > 0 %}
<rect x="{{ pad }}" y="410" width="{{ bar_w * card.risk / 100 }}" height="16" fill="{{ accent }}"/>
{%- endif %}
{%- endif %}
</svg>
"##;

/// Every construct the banner uses, each of which the guide must show.
const CONSTRUCTS: &[&str] = &[
    r#"{%- from "_text.svg" import textbox -%}"#,
    "{%- set layered = true -%}",
    "{%- set width = ",
    "{%- set height = ",
    "{%- set palettes = {",
    "{%- set p = palettes[theme] -%}",
    "{%- set accent = p[card.level] -%}",
    "text.fit(",
    "text.fit(card.role, id=",
    "card.risk ~ \"%\"",
    "card.level ~ \" risk\"",
    "id=",
    "x=",
    "y=",
    "width=",
    "height=",
    "size=",
    "min_size=",
    "lines=",
    "weight=700",
    "line_height=",
    "align=\"end\"",
    "valign=\"bottom\"",
    "valign=\"middle\"",
    "{%- if layer != \"foreground\" %}",
    "{%- if layer != \"background\" %}",
    "{%- if card.risk > 0 %}",
    "{%- endif %}",
    "{{ textbox(",
    "p.ink",
    "p.muted",
    "p.bg0",
    "{{ accent }}",
    "{{ width }}",
    "{{ height }}",
    "card.risk / 100",
    r#"<svg xmlns="http://www.w3.org/2000/svg" width="{{ width }}" height="{{ height }}" viewBox="0 0 {{ width }} {{ height }}">"#,
];

/// The bundled templates copied into a fresh directory, plus the banner.
fn templates_with_banner() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let bundled = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/templates"));
    for entry in std::fs::read_dir(bundled).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    let assets = dir.path().join("assets");
    std::fs::create_dir(&assets).unwrap();
    for entry in std::fs::read_dir(bundled.join("assets")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, assets.join(path.file_name().unwrap())).unwrap();
    }
    std::fs::write(dir.path().join("banner.svg"), BANNER).unwrap();
    dir
}

#[test]
fn the_banner_uses_only_what_the_guide_documents() {
    for c in CONSTRUCTS {
        assert!(BANNER.contains(c), "the banner should use {c:?}");
        assert!(GUIDE.contains(c), "templates/README.md does not show {c:?}");
    }
    // Every option of `text.fit` the banner passes is in the guide's
    // section on it.
    let fit = GUIDE
        .split_once("### `text.fit(")
        .and_then(|(_, rest)| rest.split_once("### `text.probe("))
        .expect("the guide has a text.fit section")
        .0;
    for option in [
        "id",
        "x",
        "y",
        "width",
        "height",
        "size",
        "min_size",
        "lines",
        "weight",
        "line_height",
        "align",
        "valign",
    ] {
        assert!(
            BANNER.contains(&format!(" {option}=")),
            "the banner should pass {option}"
        );
        assert!(
            fit.contains(&format!("`{option}`")),
            "templates/README.md does not document text.fit's {option}"
        );
    }
    // And what the test does next is what the guide says to do.
    for step in [
        "sharecard check",
        "--templates-dir",
        "cargo run -- serve --templates-dir templates",
        "/preview",
        "GET /templates",
        "/cards/NAME.png",
    ] {
        assert!(GUIDE.contains(step), "templates/README.md: {step:?}");
    }
}

#[test]
fn a_new_template_passes_sharecard_check() {
    let dir = templates_with_banner();
    let out = sharecard_binary()
        .args(["check", "--templates-dir", dir.path().to_str().unwrap()])
        .output()
        .expect("sharecard runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("ok: 6 templates"), "{stderr}");
    assert!(stderr.contains("all text inside its boxes"), "{stderr}");
}

/// The self-test checks every template (one thread each since the
/// start-up work went parallel): one that draws nothing keeps the service
/// unready, and says so in `/readyz`, while the others still pass.
#[tokio::test]
async fn a_template_that_draws_nothing_keeps_the_service_unready() {
    let dir = templates_with_banner();
    std::fs::write(
        dir.path().join("blank.svg"),
        "{%- set width = 1200 -%}{%- set height = 630 -%}\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"1200\" height=\"630\"></svg>",
    )
    .unwrap();
    let path = dir.path().to_path_buf();
    let app = spawn_app_with(move |a| a.card.templates_dir = Some(path)).await;

    assert!(
        !app.self_tested().await,
        "a blank template passed the self-test"
    );
    let r = app.get("/readyz").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.error().0, "not_ready");
    let message = r.json()["error"]["message"].to_string();
    assert!(message.contains("self-test render failed"), "{message}");
}

#[tokio::test]
async fn a_new_template_is_served_and_listed() {
    let dir = templates_with_banner();
    let path = dir.path().to_path_buf();
    let app = spawn_app_with(move |a| a.card.templates_dir = Some(path)).await;

    let r = app
        .get("/cards/banner.png?role=ML%20Engineer&risk=48")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), "image/png");
    assert_eq!(png_size(&r.body), (1500, 500));
    for q in [
        "role=ML%20Engineer&risk=48&theme=light&scale=2",
        "role=Senior%20Principal%20Cloud%20Infrastructure%20Security%20and%20Compliance%20Engineer&risk=0",
        "role=Paralegal&risk=100",
    ] {
        let r = app.get(&format!("/cards/banner.png?{q}")).await;
        assert_eq!(r.status, StatusCode::OK, "{q}");
        let (w, h) = png_size(&r.body);
        let s = if q.contains("scale=2") { 2 } else { 1 };
        assert_eq!((w, h), (1500 * s, 500 * s), "{q}");
    }

    let j = app.get("/templates").await.json();
    let list = j["templates"].as_array().unwrap();
    let banner = list
        .iter()
        .find(|t| t["name"] == "banner")
        .unwrap_or_else(|| panic!("banner is not listed: {j}"));
    assert_eq!(banner["width"], 1500);
    assert_eq!(banner["height"], 500);
    assert_eq!(
        banner["fields"],
        // No banner.json: a template without a declaration draws report
        // cards, whatever of them it shows.
        serde_json::json!(["role", "tagline", "risk", "level", "threat", "threat_risk"])
    );
    assert_eq!(banner["themes"], serde_json::json!(["dark", "light"]));
    assert!(
        banner["version"]
            .as_str()
            .is_some_and(|v| v.len() == 12 && v.bytes().all(|b| b.is_ascii_hexdigit())),
        "{banner}"
    );
    // The bundled ones are still there beside it.
    for name in ["report", "square", "story"] {
        assert!(list.iter().any(|t| t["name"] == name), "{name}: {j}");
    }
}
