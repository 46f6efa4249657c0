//! The text always fits: every sample card, rendered, measured on the usvg
//! tree that resvg draws (glyph outlines and advances), not on the fitter's
//! own arithmetic.

use crate::golden::{renderer, request};
use crate::support::samples;

/// Samples in scripts the bundled fonts cover with simple shaping.
fn latin_like(slug: &str) -> bool {
    !matches!(slug, "hindi" | "japanese" | "arabic")
}

#[test]
fn every_latin_sample_fits_its_boxes() {
    let r = renderer();
    let mut checked = 0;
    for s in samples().into_iter().filter(|s| latin_like(&s.slug)) {
        let req = request("report", &s.query);
        r.check_coverage(&req.card)
            .unwrap_or_else(|e| panic!("{}: {e}", s.slug));
        let doc = r.svg(&req).unwrap();
        let tree = r.tree(&doc.svg).unwrap();
        let problems = sharecard_render::render::text_violations(&doc, &tree);
        assert!(problems.is_empty(), "{}: {problems:#?}", s.slug);
        checked += 1;
    }
    assert!(checked >= 10, "checked {checked} samples");
}

#[test]
fn long_text_is_shrunk_wrapped_and_ellipsized() {
    let r = renderer();
    let sample = samples()
        .into_iter()
        .find(|s| s.slug == "long-title")
        .unwrap();
    let doc = r.svg(&request("report", &sample.query)).unwrap();
    let role = doc.boxes.iter().find(|b| b.id == "role").unwrap();
    assert!(role.fitted.size < 68.0, "shrunk: {}", role.fitted.size);
    assert_eq!(
        role.fitted.lines.len(),
        3,
        "wrapped: {:?}",
        role.fitted.lines
    );
    assert!(!role.fitted.truncated, "the whole title is kept");
    let task = doc.boxes.iter().find(|b| b.id == "threat-task").unwrap();
    assert!(
        task.fitted.truncated,
        "the 83-character threat is cut: {:?}",
        task.fitted.lines
    );
    assert!(task.fitted.lines[0].ends_with('…'));
}

#[test]
fn the_checker_catches_text_outside_its_box() {
    // Make the fitted role wider than its declared box by hand: the checker
    // measures the rendered tree, so it must notice.
    let r = renderer();
    let doc = r
        .svg(&request("report", "role=ML+Engineer&risk=48"))
        .unwrap();
    let mut shrunk = doc.clone();
    let role = shrunk.boxes.iter_mut().find(|b| b.id == "role").unwrap();
    role.width = 100.0;
    let tree = r.tree(&doc.svg).unwrap();
    let problems = sharecard_render::render::text_violations(&shrunk, &tree);
    assert!(
        problems.iter().any(|p| p.contains("\"role\"")),
        "{problems:#?}"
    );
    // And a box the template declared but never drew.
    let mut extra = doc.clone();
    let mut ghost = extra.boxes[0].clone();
    ghost.id = "ghost".into();
    extra.boxes.push(ghost);
    let problems = sharecard_render::render::text_violations(&extra, &tree);
    assert!(
        problems.iter().any(|p| p.contains("ghost")),
        "{problems:#?}"
    );
}

#[test]
fn markup_renders_as_literal_text() {
    let r = renderer();
    let req = request(
        "report",
        "role=R%26D%20%3CLead%3E%20%22Quant%22&tagline=%3C%2Ftext%3E%3Cimage%20href%3D%22%2Fetc%2Fpasswd%22%2F%3E%26amp%3B&risk=100&threat=%3Cscript%3Ealert(1)%3C%2Fscript%3E&threat_risk=0",
    );
    let doc = r.svg(&req).unwrap();
    let tree = r.tree(&doc.svg).unwrap();
    // The text drawn is exactly the text sent, characters and all.
    let mut drawn = std::collections::HashMap::new();
    collect(tree.root(), &mut drawn);
    // (Lines may break anywhere UAX #14 allows, so compare without spaces.)
    let squash = |s: &str| s.replace(' ', "");
    assert_eq!(squash(&drawn["role"]), squash("R&D <Lead> \"Quant\""));
    assert_eq!(
        squash(&drawn["tagline"]),
        squash("</text><image href=\"/etc/passwd\"/>&amp;")
    );
    assert_eq!(squash(&drawn["threat-task"]), "<script>alert(1)</script>");
    assert!(sharecard_render::render::text_violations(&doc, &tree).is_empty());
    // No element came from the input: only the template's own images (none).
    assert!(!doc.svg.contains("<image"), "no image element injected");
    assert!(!doc.svg.contains("<script"), "no script element injected");
}

fn collect(g: &resvg::usvg::Group, out: &mut std::collections::HashMap<String, String>) {
    for n in g.children() {
        match n {
            resvg::usvg::Node::Group(g) => collect(g, out),
            resvg::usvg::Node::Text(t) => {
                let s: String = t
                    .chunks()
                    .iter()
                    .map(|c| c.text())
                    .collect::<Vec<_>>()
                    .join(" ");
                out.insert(t.id().to_owned(), s);
            }
            _ => {}
        }
    }
}
