//! Scripts beyond Latin: Greek, Cyrillic, Devanagari, Arabic, and CJK with
//! operator-supplied fonts.
//!
//! Every check is made on what usvg lays out and resvg draws, not on the
//! fitter's arithmetic: the measurement is trusted only where the rendered
//! result proves it.

use resvg::usvg;
use sharecard_render::card::query::encode_component as enc;
use sharecard_render::template::SvgDoc;
use sharecard_render::text::{FitSpec, Measurer, RLI};

use crate::golden::{renderer, request};
use crate::support::samples;

/// Renders the report card for `query` and returns every problem found:
/// `text_violations` (ink and advance boxes, tofu, dropped characters) and
/// lines usvg would draw wrong (see `Measurer::draws_correctly`).
fn problems(query: &str) -> (SvgDoc, Vec<String>) {
    let r = renderer();
    let req = request("report", query);
    r.check_coverage(&req.card)
        .unwrap_or_else(|e| panic!("{query}: {e}"));
    let doc = r.svg(&req).unwrap();
    let tree = r.tree(&doc.svg).unwrap();
    let mut problems = sharecard_render::render::text_violations(&doc, &tree);
    let m = Measurer::new(r.shaper());
    let bold = ["role", "threat-task", "risk", "brand"];
    for b in &doc.boxes {
        let weight = if bold.contains(&b.id.as_str()) {
            700
        } else {
            400
        };
        for l in &b.fitted.lines {
            if !m.draws_correctly(l, weight) {
                problems.push(format!("{:?}: usvg draws {l:?} wrong", b.id));
            }
        }
    }
    if let Some(dir) = std::env::var_os("SHARECARD_SCRIPT_PNGS") {
        // For looking at: SHARECARD_SCRIPT_PNGS=/tmp cargo test scripts
        let png = r.render(&req).unwrap();
        let name: String = doc.boxes[1].fitted.lines[0]
            .chars()
            .filter(|c| c.is_alphanumeric())
            .take(12)
            .collect();
        std::fs::write(
            std::path::Path::new(&dir).join(format!("sharecard-{name}.png")),
            &png.bytes,
        )
        .unwrap();
    }
    (doc, problems)
}

fn fitted<'d>(doc: &'d SvgDoc, id: &str) -> &'d [String] {
    &doc.boxes.iter().find(|b| b.id == id).unwrap().fitted.lines
}

#[test]
fn samples_in_every_bundled_script_fit_their_boxes() {
    for slug in ["hindi", "arabic", "cyrillic-greek"] {
        let s = samples().into_iter().find(|s| s.slug == slug).unwrap();
        let (doc, problems) = problems(&s.query);
        assert!(problems.is_empty(), "{slug}: {problems:#?}");
        if slug == "arabic" {
            // Measured as shaped (joined), the role fits on one line; the
            // per-character advances used to wrap it onto two.
            assert_eq!(fitted(&doc, "role").len(), 1, "{:?}", fitted(&doc, "role"));
            for l in fitted(&doc, "tagline") {
                assert!(l.starts_with(RLI), "{l:?}");
            }
        }
    }
}

#[test]
fn long_devanagari_and_arabic_cards_shrink_wrap_and_ellipsize_inside_their_boxes() {
    let cut = |s: &str, n: usize| enc(&s.chars().take(n).collect::<String>());
    let cards = [
        (
            "वरिष्ठ मशीन लर्निंग इंजीनियर और कृत्रिम बुद्धिमत्ता विशेषज्ञ",
            "एआई एआई बनाने में मदद करता है। लेकिन किसी को तो वह एआई बनाना होगा जो एआई बनाता है। क्षत्रिय द्वारा श्रृंखला प्रकृति ट्रक ड्राइवर कृष्ण हृदय द्ध्र्य ह्न और बहुत सारे शब्द।",
            "बड़े भाषा मॉडलों की फाइन-ट्यूनिंग और मूल्यांकन प्रक्रिया का स्वचालन",
        ),
        (
            "مهندس أول لأنظمة الذكاء الاصطناعي والتعلم الآلي في الشركات الكبيرة جدا",
            "الذكاء الاصطناعي يساعد في بناء الذكاء الاصطناعي، لكن لا بد من وجود شخص يبني الذكاء الاصطناعي الذي يبني الذكاء الاصطناعي. والآن نحتاج إلى المزيد من الكلام الطويل جدا لكي يتم قطع السطر.",
            "الآلة الآلة الآلة الآلة الآلة الآلة الآلة الآلة الآلة الآلة الآلة الآلة",
        ),
        // Mixed scripts: usvg would shape "ML इंजीनियर" as Latin and leave
        // Arabic next to brackets as tofu, so such lines break between words.
        (
            "ML इंजीनियर",
            "AI مهندس (2024) يعمل على GPT-4 كل يوم.",
            "Fine-tuning النماذج",
        ),
    ];
    for (role, tagline, threat) in cards {
        let query = format!(
            "role={}&tagline={}&risk=70&threat={}&threat_risk=80",
            cut(role, 80),
            cut(tagline, 200),
            cut(threat, 80)
        );
        let (doc, problems) = problems(&query);
        assert!(problems.is_empty(), "{role}: {problems:#?}");
        if role == "ML इंजीनियर" {
            assert_eq!(fitted(&doc, "role"), ["ML", "इंजीनियर"]);
        }
        if role.starts_with("مهندس") {
            // No tofu "…" after a lam-alef: full stops instead.
            let task = fitted(&doc, "threat-task");
            assert!(task[0].ends_with("..."), "{task:?}");
        }
    }
}

/// The text element `text` laid out by usvg on its own, as one line.
fn one_line(text: &str, size: f32, weight: u16) -> usvg::Tree {
    let r = renderer();
    let escaped = text.replace('&', "&amp;").replace('<', "&lt;");
    let svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="3000" height="200"><text x="10" y="120" font-family="Inter" font-size="{size}" font-weight="{weight}">{escaped}</text></svg>"#
    );
    r.tree(&svg).unwrap()
}

fn the_text(tree: &usvg::Tree) -> &usvg::Text {
    match &tree.root().children()[0] {
        usvg::Node::Text(t) => t,
        other => panic!("not text: {other:?}"),
    }
}

#[test]
fn measured_widths_are_the_widths_usvg_lays_out() {
    let r = renderer();
    let m = Measurer::new(r.shaper());
    let texts = [
        // Arabic: joining forms, lam-alef, right to left, a full stop.
        "مهندس تعلم الآلة",
        "الذكاء الاصطناعي يساعد في بناء الذكاء الاصطناعي.",
        "ضبط النماذج",
        // Devanagari: conjuncts, reph, pre-base i-matra, nukta.
        "मशीन लर्निंग इंजीनियर",
        "एआई एआई बनाने में मदद करता है।",
        "मॉडल फाइन-ट्यूनिंग",
        "क्षत्रिय द्वारा श्रृंखला बड़े",
        // Mixed, and the scripts Inter draws (where fontdue's advances
        // were off by up to 5 px too).
        "Fine-tuning النماذج",
        "Инженер машинного обучения",
        "Μηχανική μάθηση — και κυριλλικά.",
        "Translator",
    ];
    for text in texts {
        for (size, weight) in [(30.0, 400), (68.0, 700)] {
            // The line the fitter makes of it, as a template draws it.
            let spec = FitSpec {
                width: 3000.0,
                height: None,
                size,
                min_size: size,
                max_lines: 1,
                weight,
                line_height: 1.2,
            };
            let fit = m.fit(text, &spec);
            assert_eq!(fit.lines.len(), 1);
            let line = &fit.lines[0];
            let tree = one_line(line, size, weight);
            let usvg_width = the_text(&tree).bounding_box().width();
            let measured = m.advance(text, size, weight);
            let (left, right) = fit.overhangs[0];
            assert!(
                (measured - usvg_width).abs() <= 0.5
                    && (fit.width - left - right - usvg_width).abs() <= 0.5,
                "{text:?} at {size}/{weight}: measured {measured}, fitted {}, usvg {usvg_width}",
                fit.width
            );
        }
    }
}

#[test]
fn arabic_lines_are_laid_out_right_to_left() {
    let r = renderer();
    let m = Measurer::new(r.shaper());
    let text = "الذكاء الاصطناعي.";
    let spec = FitSpec {
        width: 1000.0,
        height: None,
        size: 40.0,
        min_size: 40.0,
        max_lines: 1,
        weight: 400,
        line_height: 1.2,
    };
    let line = m.fit(text, &spec).lines.remove(0);
    let tree = one_line(&line, 40.0, 400);
    // x of each glyph's cluster, by the text it draws.
    let mut xs: Vec<(String, f32)> = Vec::new();
    for span in the_text(&tree).layouted() {
        for g in &span.positioned_glyphs {
            if g.id.0 != 0 && !g.text.chars().all(sharecard_render::card::is_invisible) {
                xs.push((g.text.clone(), g.transform().tx));
            }
        }
    }
    let leftmost = xs.iter().min_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
    let rightmost = xs.iter().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
    // The sentence starts at the right and ends, full stop and all, at
    // the left.
    assert_eq!(leftmost.0, ".", "{xs:?}");
    assert!(rightmost.0.starts_with('ا'), "{xs:?}");
    // Joined: the shaped line is narrower than its letters set apart.
    let apart: f32 = text
        .split("")
        .filter(|c| !c.is_empty())
        .map(|c| m.width(c, 40.0, 400))
        .sum();
    assert!(m.width(text, 40.0, 400) < apart - 10.0);
}
