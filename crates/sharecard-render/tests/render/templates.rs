//! Every bundled template, in every theme, with every sample card the
//! bundled fonts can draw, and with the optional fields left out: all text
//! inside its declared boxes (measured on the usvg tree), and the image at
//! the size the template declares.

use sharecard_render::card::Theme;
use sharecard_render::render::text_violations;

use crate::golden::{renderer, request};
use crate::support::{png_size, samples};

/// Cards that leave out optional fields or sit at the ends of the gauge.
const VARIANTS: &[(&str, &str)] = &[
    (
        "no-tagline",
        "role=Paralegal&risk=67&threat=Document%20Review&threat_risk=88",
    ),
    (
        "no-threat",
        "role=Registered%20Nurse&tagline=Charting%20gets%20automated.%20Bedside%20care%20does%20not.&risk=14",
    ),
    ("bare", "role=Electrician&risk=6"),
    (
        "zero",
        "role=Wedding%20Officiant&tagline=Nobody%20wants%20a%20robot%20to%20say%20the%20vows.&risk=0&threat=Scheduling&threat_risk=0",
    ),
    (
        "hundred",
        "role=Data%20Entry%20Clerk&tagline=Keyboards%20were%20the%20first%20thing%20the%20robots%20learned%20to%20use.&risk=100&threat=Form%20Transcription&threat_risk=100",
    ),
    ("hundred-bare", "role=Telemarketer&risk=100"),
];

/// Where story apps draw their own chrome: no text above `STORY_TOP` or
/// below `STORY_BOTTOM`.
const STORY_TOP: f32 = 220.0;
const STORY_BOTTOM: f32 = 1920.0 - 260.0;

/// Checks one template against every card and theme; returns how many
/// cards were checked.
fn check_template(name: &str) -> usize {
    let r = renderer();
    let info = r
        .templates()
        .info(name)
        .unwrap_or_else(|| panic!("no template {name}"))
        .clone();
    let report_like = info.schema.fields.iter().any(|f| f.name == "threat");
    let mut cards: Vec<(String, String)> = if report_like {
        samples().into_iter().map(|s| (s.slug, s.query)).collect()
    } else {
        // A declared card's own samples and `check`'s cases.
        let declared = info
            .schema
            .samples
            .iter()
            .map(|s| (s.slug.clone(), s.value.clone()));
        declared
            .chain(info.schema.check_cases())
            .map(|(slug, value)| {
                let sample = sharecard_render::card::schema::SampleCard {
                    slug: slug.clone(),
                    value,
                };
                let req = r
                    .templates()
                    .sample_request(
                        name,
                        &sample,
                        "",
                        &sharecard_render::card::LevelBands::default(),
                    )
                    .unwrap_or_else(|e| panic!("{name} {slug}: {e}"));
                (slug, req.canonical_query())
            })
            .collect()
    };
    if report_like {
        cards.extend(VARIANTS.iter().map(|(s, q)| (s.to_string(), q.to_string())));
    }
    let mut checked = 0;
    for theme in Theme::ALL {
        for (slug, query) in &cards {
            let what = format!("{name} {} {slug}", theme.as_str());
            let req = request(name, &format!("{query}&theme={}", theme.as_str()));
            if r.check_coverage(&req.card).is_err() {
                continue;
            }
            let doc = r.svg(&req).unwrap_or_else(|e| panic!("{what}: {e:#}"));
            assert_eq!((doc.width, doc.height), (info.width, info.height), "{what}");
            let tree = r.tree(&doc.svg).unwrap_or_else(|e| panic!("{what}: {e:#}"));
            let size = tree.size();
            assert_eq!(
                (size.width(), size.height()),
                (info.width as f32, info.height as f32),
                "{what}: the SVG's own size"
            );
            let problems = text_violations(&doc, &tree);
            assert!(problems.is_empty(), "{what}: {problems:#?}");
            // Optional fields draw nothing when absent.
            let ids: Vec<&str> = doc.boxes.iter().map(|b| b.id.as_str()).collect();
            if !report_like {
                checked += 1;
                continue;
            }
            assert_eq!(
                ids.contains(&"tagline"),
                req.card.text("tagline").is_some(),
                "{what}: {ids:?}"
            );
            assert_eq!(
                ids.contains(&"threat-task"),
                !matches!(
                    req.card.top("threat"),
                    Some(sharecard_render::card::FieldValue::Record(None))
                ),
                "{what}: {ids:?}"
            );
            if name == "story" {
                for b in &doc.boxes {
                    assert!(
                        b.y >= STORY_TOP && b.y + b.height <= STORY_BOTTOM,
                        "{what}: box {:?} at y {}..{} leaves the story safe area",
                        b.id,
                        b.y,
                        b.y + b.height
                    );
                }
            }
            checked += 1;
        }
    }
    // Rasterising is the slow part: the PNG's size once per theme, for a
    // full card and a bare one.
    let full_and_bare: Vec<String> = if report_like {
        vec![
            crate::support::ML_ENGINEER.to_owned(),
            "role=Electrician&risk=6".to_owned(),
        ]
    } else {
        vec![cards[0].1.clone()]
    };
    for theme in Theme::ALL {
        for query in &full_and_bare {
            let req = request(name, &format!("{query}&theme={}", theme.as_str()));
            let png = r.render(&req).unwrap();
            assert_eq!(
                png_size(&png.bytes),
                (info.width, info.height),
                "{name} {}",
                theme.as_str()
            );
        }
    }
    checked
}

#[test]
fn report_fits_every_card_in_both_themes() {
    assert!(check_template("report") >= 2 * (10 + VARIANTS.len()));
}

#[test]
fn square_fits_every_card_in_both_themes() {
    assert!(check_template("square") >= 2 * (10 + VARIANTS.len()));
    let info = renderer().templates().info("square").unwrap().clone();
    assert_eq!((info.width, info.height), (1080, 1080));
}

#[test]
fn story_fits_every_card_in_both_themes_and_its_safe_area() {
    assert!(check_template("story") >= 2 * (10 + VARIANTS.len()));
    let info = renderer().templates().info("story").unwrap().clone();
    assert_eq!((info.width, info.height), (1080, 1920));
}

#[test]
fn every_template_declares_the_card_fields() {
    let r = renderer();
    for name in ["report", "square", "story"] {
        let info = r.templates().info(name).unwrap();
        for f in ["role", "tagline", "risk", "level", "threat", "threat_risk"] {
            assert!(info.fields.iter().any(|x| x == f), "{name}: {f}");
        }
    }
}

/// The templates with a test of their own above.
const CHECKED_ABOVE: [&str; 3] = ["report", "square", "story"];

#[test]
fn every_bundled_template_is_checked() {
    // What templates/ holds, read from the directory rather than from the
    // renderer, so a template added there cannot go unchecked.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../templates");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .expect("templates/ is readable")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| Some(n.strip_suffix(".svg")?.to_owned()))
        .filter(|n| !n.starts_with('_'))
        .collect();
    on_disk.sort();
    let loaded: Vec<String> = renderer()
        .templates()
        .infos()
        .map(|i| i.name.clone())
        .collect();
    assert_eq!(
        loaded, on_disk,
        "the bundled templates are exactly the files in templates/"
    );
    for name in on_disk {
        if !CHECKED_ABOVE.contains(&name.as_str()) {
            assert!(check_template(&name) > 0, "{name}: no card checked");
        }
    }
}
