//! Golden images: rendered cards compared pixel by pixel with committed
//! PNGs in tests/golden/.
//!
//! A pixel matches when every channel is within `TOLERANCE` (anti-aliasing
//! can differ in the last bits between CPUs' SIMD paths). On a mismatch the
//! test writes `NAME.actual.png` and `NAME.diff.png` (differing pixels in
//! red over a faded copy of the expected image) next to the golden file.
//! `SHARECARD_BLESS=1 cargo test golden` rewrites the golden files; look at
//! every one before committing it.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use sharecard_render::card::query::Params;
use sharecard_render::card::{CardRequest, LevelBands, TemplateName, Theme};
use sharecard_render::render::Renderer;

use crate::support::ML_ENGINEER;

pub const TOLERANCE: u8 = 4;
/// Share of pixels allowed outside the tolerance.
pub const MAX_BAD_FRACTION: f64 = 0.0005;

pub fn renderer() -> Arc<Renderer> {
    static R: OnceLock<Arc<Renderer>> = OnceLock::new();
    R.get_or_init(|| {
        // The bundled fonts and templates, with the default brand.
        let sources = sharecard_render::render::Sources {
            brand: "willaireplace.me",
            ..Default::default()
        };
        Renderer::load(sources).expect("bundled renderer")
    })
    .clone()
}

pub fn request(template: &str, query: &str) -> CardRequest {
    let params = Params::parse(Some(query)).expect("query parses");
    CardRequest::from_params(
        TemplateName::parse(template).expect("template name"),
        &sharecard_render::template::bundled_schema(template).expect("bundled"),
        &params,
        &LevelBands::default(),
    )
    .expect("valid card")
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

fn encode_rgba(w: u32, h: u32, rgba: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgba);
    enc.write_header().unwrap().write_image_data(rgba).unwrap();
    out
}

/// Compares `actual` with tests/golden/`name`.png (or writes it when
/// blessing). Panics with the diff image's path on a mismatch.
pub fn assert_golden(name: &str, actual: &sharecard_render::render::Png) {
    compare_golden(name, name, actual)
}

/// Like [`assert_golden`], writing the failure images as `artifacts`.
fn compare_golden(name: &str, artifacts: &str, actual: &sharecard_render::render::Png) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let path = dir.join(format!("{name}.png"));
    if std::env::var_os("SHARECARD_BLESS").is_some() {
        // Stored recompressed: same pixels, a third of the bytes.
        let small = sharecard_render::render::recompress(actual).unwrap();
        std::fs::write(&path, small).unwrap();
        return;
    }
    let expected = std::fs::read(&path).unwrap_or_else(|_| {
        panic!(
            "no golden image {}; run with SHARECARD_BLESS=1 to create it",
            path.display()
        )
    });
    let (ew, eh, e) = decode_rgba(&expected);
    let (aw, ah, a) = decode_rgba(&actual.bytes);
    assert_eq!((aw, ah), (ew, eh), "{name}: size differs from golden");
    let mut bad = 0usize;
    let mut worst = 0u8;
    let mut diff = Vec::with_capacity(e.len());
    for (pe, pa) in e.chunks_exact(4).zip(a.chunks_exact(4)) {
        let d = pe
            .iter()
            .zip(pa)
            .map(|(x, y)| x.abs_diff(*y))
            .max()
            .unwrap();
        worst = worst.max(d);
        if d > TOLERANCE {
            bad += 1;
            diff.extend_from_slice(&[255, 0, 0, 255]);
        } else {
            // Faded expected pixel, for orientation.
            diff.extend(pe[..3].iter().map(|c| c / 4 + 160));
            diff.push(255);
        }
    }
    let fraction = bad as f64 / (ew * eh) as f64;
    if fraction > MAX_BAD_FRACTION {
        let actual_path = dir.join(format!("{artifacts}.actual.png"));
        let diff_path = dir.join(format!("{artifacts}.diff.png"));
        std::fs::write(&actual_path, &actual.bytes).unwrap();
        std::fs::write(&diff_path, encode_rgba(ew, eh, &diff)).unwrap();
        panic!(
            "{name}: {bad} pixels ({:.3}%) differ by more than {TOLERANCE} (worst {worst}); \
             see {} and {}; SHARECARD_BLESS=1 accepts the new rendering",
            fraction * 100.0,
            diff_path.display(),
            actual_path.display()
        );
    }
}

#[test]
fn golden_report_ml_engineer() {
    let png = renderer().render(&request("report", ML_ENGINEER)).unwrap();
    assert_golden("report-dark-ml-engineer", &png);
}

#[test]
fn golden_comparison_catches_a_changed_card() {
    // The comparison must be able to fail: a card with one digit changed
    // is not within tolerance of the golden image.
    let other = ML_ENGINEER.replace("risk=48", "risk=49");
    let png = renderer().render(&request("report", &other)).unwrap();
    if std::env::var_os("SHARECARD_BLESS").is_some() {
        return;
    }
    // Its failure images get names of their own: a real failure of
    // `golden_report_ml_engineer`, running in parallel, writes
    // `report-dark-ml-engineer.diff.png`, which this test must not delete.
    const ARTIFACTS: &str = "report-dark-ml-engineer.expected-failure";
    let result =
        std::panic::catch_unwind(|| compare_golden("report-dark-ml-engineer", ARTIFACTS, &png));
    assert!(
        result.is_err(),
        "a different card must not match the golden image"
    );
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let diff = dir.join(format!("{ARTIFACTS}.diff.png"));
    assert!(diff.exists(), "diff image written");
    let _ = std::fs::remove_file(diff);
    let _ = std::fs::remove_file(dir.join(format!("{ARTIFACTS}.actual.png")));
}

/// The sample cards (by slug, from `templates/samples.json`) drawn as
/// golden images, each in every template and theme.
const GOLDEN_SAMPLES: [&str; 8] = [
    "ml-engineer",
    "long-title",
    "long-word",
    "markup",
    "hindi",
    "arabic",
    "emoji",
    "emoji-sequences",
];

/// The golden images in tests/golden/, by name: every `NAME.png` but the
/// failure images a comparison writes (`NAME.actual.png`, `NAME.diff.png`).
fn golden_files() -> BTreeSet<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").file_name())
        .filter_map(|name| name.to_str()?.strip_suffix(".png").map(str::to_owned))
        .filter(|name| !name.ends_with(".actual") && !name.ends_with(".diff"))
        .collect()
}

#[test]
fn golden_every_template_and_theme() {
    let r = renderer();
    let samples = crate::support::samples();
    let mut drawn = BTreeSet::new();
    let mut expected = 0;
    for info in r.templates().infos() {
        if !["report", "square", "story"].contains(&info.name.as_str()) {
            // A declared card: each of its own samples in each theme, and
            // its first at 2× and 3×, as (golden name, sample, extra query).
            let first = &info.schema.samples[0];
            let mut cards = Vec::new();
            for sample in &info.schema.samples {
                for theme in &info.themes {
                    let name = format!("{}-{theme}-{}", info.name, sample.slug);
                    cards.push((name, sample, format!("theme={theme}")));
                }
            }
            for scale in [2, 3] {
                let name = format!("{}-dark-{}@{scale}x", info.name, first.slug);
                cards.push((name, first, format!("scale={scale}")));
            }
            for (name, sample, extra) in cards {
                let req = r
                    .templates()
                    .sample_request(&info.name, sample, &extra, &LevelBands::default())
                    .unwrap();
                assert_golden(&name, &r.render(&req).unwrap());
                assert!(drawn.insert(name.clone()), "{name} drawn twice");
                expected += 1;
            }
            continue;
        }
        expected += Theme::ALL.len() * GOLDEN_SAMPLES.len();
        for slug in GOLDEN_SAMPLES {
            let sample = samples.iter().find(|s| s.slug == slug).unwrap();
            for theme in &info.themes {
                let q = format!("{}&theme={theme}", sample.query);
                let png = r.render(&request(&info.name, &q)).unwrap();
                let name = format!("{}-{theme}-{slug}", info.name);
                assert_golden(&name, &png);
                assert!(drawn.insert(name.clone()), "{name} drawn twice");
            }
        }
    }
    // Templates × themes × samples, at scale 1: a template that serves
    // fewer themes than there are, or a sample drawn twice, is a count
    // short.
    assert_eq!(drawn.len(), expected, "golden images drawn");
    // And exactly those are on disk: a missing one fails above; one no
    // test draws (a template, theme or sample gone) is stale.
    let on_disk = golden_files();
    let stale: Vec<_> = on_disk.difference(&drawn).collect();
    assert!(
        stale.is_empty(),
        "golden images no test draws, delete them from tests/golden/: {stale:?}"
    );
    assert_eq!(on_disk.len(), expected, "golden images in tests/golden/");
}
