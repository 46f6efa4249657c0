//! How lines are set, each rule measured on what usvg lays out and resvg
//! draws: balanced titles, pretty taglines, right-to-left text aligned to
//! its start, and emoji in colour, on the baseline, at text size, never
//! cut by an ellipsis and never outside their box.

use resvg::usvg;
use sharecard_render::card::query::encode_component as enc;
use sharecard_render::template::SvgDoc;
use sharecard_render::text::{FitSpec, Measurer};
use unicode_segmentation::UnicodeSegmentation;

use crate::golden::{renderer, request};

fn card(template: &str, query: &str) -> (SvgDoc, usvg::Tree) {
    let r = renderer();
    let req = request(template, query);
    r.check_coverage(&req.card)
        .unwrap_or_else(|e| panic!("{query}: {e}"));
    let doc = r.svg(&req).unwrap();
    let tree = r.tree(&doc.svg).unwrap();
    let problems = sharecard_render::render::text_violations(&doc, &tree);
    assert!(problems.is_empty(), "{query}: {problems:#?}");
    (doc, tree)
}

fn text<'t>(tree: &'t usvg::Tree, id: &str) -> &'t usvg::Text {
    fn find<'t>(g: &'t usvg::Group, id: &str) -> Option<&'t usvg::Text> {
        g.children().iter().find_map(|n| match n {
            usvg::Node::Group(g) => find(g, id),
            usvg::Node::Text(t) if t.id() == id => Some(t),
            _ => None,
        })
    }
    find(tree.root(), id).unwrap_or_else(|| panic!("no text {id:?}"))
}

/// Each drawn line's ink box, top to bottom: usvg flattens a line of one
/// face and fill into one path.
fn drawn_lines(tree: &usvg::Tree, id: &str) -> Vec<usvg::Rect> {
    let t = text(tree, id);
    let ts = t.abs_transform();
    let mut lines: Vec<usvg::Rect> = t
        .flattened()
        .children()
        .iter()
        .filter_map(|n| match n {
            usvg::Node::Path(p) => p.data().clone().transform(ts).map(|d| d.bounds()),
            _ => None,
        })
        .filter_map(|b| usvg::Rect::from_ltrb(b.left(), b.top(), b.right(), b.bottom()))
        .collect();
    lines.sort_by(|a, b| a.top().total_cmp(&b.top()));
    lines
}

fn fitted<'d>(doc: &'d SvgDoc, id: &str) -> &'d sharecard_render::template::TextBox {
    doc.boxes.iter().find(|b| b.id == id).unwrap()
}

/// The report card's role box, as its template declares it.
fn role_spec() -> FitSpec {
    FitSpec {
        width: 580.0,
        height: Some(172.0),
        size: 68.0,
        min_size: 40.0,
        max_lines: 3,
        weight: 700,
        line_height: 1.1,
    }
}

#[test]
fn titles_are_balanced_at_the_size_greedy_lines_get() {
    let r = renderer();
    let m = Measurer::new(r.shaper());
    for (role, balanced) in [
        // A one-word widow moves up a word.
        (
            "Vice President of Engineering",
            &["Vice President", "of Engineering"][..],
        ),
        (
            "Head of People and Culture Operations",
            &["Head of People and", "Culture Operations"],
        ),
        // Where no break evens the lines more, greedy lines stay.
        ("Chief Executive Officer", &["Chief Executive", "Officer"]),
    ] {
        let greedy = m.fit(role, &role_spec());
        let (doc, tree) = card("report", &format!("role={}&risk=48", enc(role)));
        let b = fitted(&doc, "role");
        assert_eq!(b.fitted.size, greedy.size, "{role}: the size is kept");
        assert_eq!(
            b.fitted.lines, balanced,
            "{role} (greedy: {:?})",
            greedy.lines
        );
        // Measured on the drawing: no line wider than greedy's widest, and
        // the lines closer in width than greedy's.
        let drawn = drawn_lines(&tree, "role");
        assert_eq!(drawn.len(), b.fitted.lines.len(), "{role}: one path a line");
        let spread = |w: &[f32]| {
            let (lo, hi) = w
                .iter()
                .fold((f32::MAX, 0.0f32), |(l, h), x| (l.min(*x), h.max(*x)));
            (hi - lo, hi)
        };
        let drawn_widths: Vec<f32> = drawn.iter().map(|r| r.width()).collect();
        let greedy_widths: Vec<f32> = greedy
            .lines
            .iter()
            .map(|l| m.advance(l, greedy.size, 700))
            .collect();
        let ((ds, dw), (gs, gw)) = (spread(&drawn_widths), spread(&greedy_widths));
        assert!(dw <= gw + 1.0, "{role}: widest {dw:.0} > greedy {gw:.0}");
        assert!(ds <= gs + 1.0, "{role}: spread {ds:.0} > greedy {gs:.0}");
    }
}

#[test]
fn taglines_keep_no_one_word_last_line() {
    let r = renderer();
    let m = Measurer::new(r.shaper());
    let tagline =
        "Machine translation is fluent and fast today. Nuance is still a human job, mostly.";
    let spec = FitSpec {
        width: 580.0,
        height: Some(300.0),
        size: 30.0,
        min_size: 22.0,
        max_lines: 4,
        weight: 400,
        line_height: 1.35,
    };
    let greedy = m.fit(tagline, &spec);
    assert!(
        !greedy.lines.last().unwrap().contains(' '),
        "not an orphan case: {:?}",
        greedy.lines
    );
    let (doc, tree) = card(
        "report",
        &format!("role=Translator&tagline={}&risk=73", enc(tagline)),
    );
    let b = fitted(&doc, "tagline");
    assert_eq!(b.fitted.size, greedy.size, "the size is kept");
    assert_eq!(b.fitted.lines.len(), greedy.lines.len());
    // Lines before the last two are the greedy ones.
    let n = greedy.lines.len();
    assert_eq!(b.fitted.lines[..n - 2], greedy.lines[..n - 2]);
    let last = b.fitted.lines.last().unwrap();
    assert!(last.split(' ').count() >= 2, "{:?}", b.fitted.lines);
    let drawn = drawn_lines(&tree, "tagline");
    assert_eq!(drawn.len(), n);
    let widest = drawn.iter().map(|r| r.width()).fold(0.0, f32::max);
    assert!(
        drawn[n - 1].width() >= widest / 3.0,
        "last line {:.0} of {widest:.0} px",
        drawn[n - 1].width()
    );
}

#[test]
fn right_to_left_text_starts_at_the_right_of_its_box() {
    let query = format!(
        "role={}&tagline={}&risk=48",
        enc("مهندس تعلم الآلة"),
        enc("الذكاء الاصطناعي يساعد في بناء الذكاء الاصطناعي، ويحتاج إلى مهندسين.")
    );
    let (doc, tree) = card("report", &query);
    for id in ["role", "tagline"] {
        let b = fitted(&doc, id);
        for (i, line) in drawn_lines(&tree, id).iter().enumerate() {
            let right = b.x + b.width;
            assert!(
                (line.right() - right).abs() < 6.0,
                "{id} line {i}: ends at {:.1}, the box at {right:.1}",
                line.right()
            );
            assert!(line.left() > b.x + 20.0, "{id} line {i} reaches the left");
        }
    }
    // Left-to-right text starts at the left, as before.
    let (doc, tree) = card("report", "role=ML%20Engineer&risk=48");
    let b = fitted(&doc, "role");
    let line = drawn_lines(&tree, "role")[0];
    assert!((line.left() - b.x).abs() < 8.0, "{line:?} in {b:?}");
}

/// The colour glyphs of text `id`: each group usvg made of one, with its
/// ink box and the colours it paints.
fn colour_glyphs(tree: &usvg::Tree, id: &str) -> Vec<(usvg::Rect, Vec<[u8; 3]>)> {
    fn walk(
        g: &usvg::Group,
        ts: usvg::Transform,
        ink: &mut Option<usvg::Rect>,
        fills: &mut Vec<[u8; 3]>,
    ) {
        for n in g.children() {
            match n {
                usvg::Node::Group(g) => walk(g, ts.pre_concat(g.transform()), ink, fills),
                usvg::Node::Path(p) => {
                    if let Some(usvg::Paint::Color(c)) = p.fill().map(|f| f.paint()) {
                        fills.push([c.red, c.green, c.blue]);
                    }
                    if let Some(b) = p.data().clone().transform(ts).map(|d| d.bounds()) {
                        let r = usvg::Rect::from_ltrb(b.left(), b.top(), b.right(), b.bottom());
                        *ink = match (*ink, r) {
                            (Some(a), Some(b)) => usvg::Rect::from_ltrb(
                                a.left().min(b.left()),
                                a.top().min(b.top()),
                                a.right().max(b.right()),
                                a.bottom().max(b.bottom()),
                            ),
                            (a, b) => a.or(b),
                        };
                    }
                }
                _ => {}
            }
        }
    }
    let t = text(tree, id);
    let ts = t.abs_transform();
    t.flattened()
        .children()
        .iter()
        .filter_map(|n| match n {
            usvg::Node::Group(g) => {
                let (mut ink, mut fills) = (None, Vec::new());
                walk(g, ts.pre_concat(g.transform()), &mut ink, &mut fills);
                Some((ink?, fills))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn emoji_are_in_colour_on_the_baseline_at_text_size() {
    let (doc, tree) = card(
        "report",
        "role=Community%20Manager%20%F0%9F%9A%80&risk=61&theme=light",
    );
    let b = fitted(&doc, "role");
    let size = b.fitted.size;
    let glyphs = colour_glyphs(&tree, "role");
    assert_eq!(glyphs.len(), 1, "one rocket");
    let (ink, fills) = &glyphs[0];
    // Twemoji's art spans -0.1 to 0.875 em around the baseline.
    assert!(
        (ink.height() / size - 0.97).abs() < 0.05,
        "{ink:?} at {size} px"
    );
    let letters = drawn_lines(&tree, "role");
    let baseline_line = letters.last().unwrap();
    // The letters of "Manager" sit on the baseline (with a descender for
    // "g"); the rocket's art ends a tenth of an em below it.
    let baseline = baseline_line.bottom() - 0.2 * size;
    assert!(
        (ink.bottom() - (baseline + 0.1 * size)).abs() < 0.1 * size,
        "rocket bottom {:.1}, baseline about {baseline:.1}",
        ink.bottom()
    );
    let mut distinct = fills.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(distinct.len() >= 3, "in colour: {distinct:?}");
    assert!(
        distinct
            .iter()
            .any(|[r, g, b]| r.abs_diff(*g) > 60 || g.abs_diff(*b) > 60),
        "saturated colours: {distinct:?}"
    );
}

#[test]
fn sequences_are_one_glyph_each() {
    // ZWJ, skin tone, flag, keycap, VS16, tag sequence: one colour glyph
    // each, as X draws them.
    let role = "👩\u{200D}💻 👍🏽 🇧🇷 1\u{FE0F}\u{20E3} ❤\u{FE0F} 🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}";
    let (_, tree) = card("report", &format!("role={}&risk=10", enc(role)));
    assert_eq!(colour_glyphs(&tree, "role").len(), 6);
}

#[test]
fn an_ellipsis_never_cuts_an_emoji() {
    let r = renderer();
    let m = Measurer::new(r.shaper());
    let text = "👩\u{200D}💻🧑🏽\u{200D}🚀🇧🇷👨\u{200D}👩\u{200D}👧\u{200D}👦".repeat(8);
    let whole: Vec<&str> = text.graphemes(true).collect();
    for width in [60.0, 100.0, 170.0, 230.0] {
        let spec = FitSpec {
            width,
            height: None,
            size: 30.0,
            min_size: 30.0,
            max_lines: 1,
            weight: 400,
            line_height: 1.2,
        };
        let got = m.fit(&text, &spec);
        assert!(got.truncated);
        let line = got.lines[0].strip_suffix('…').expect("ends in …");
        let kept: Vec<&str> = line.graphemes(true).collect();
        assert!(!kept.is_empty(), "{width}: {:?}", got.lines);
        assert_eq!(kept, whole[..kept.len()], "{width}: whole sequences only");
        assert!(m.width(&got.lines[0], 30.0, 400) <= width);
    }
}

/// A deterministic stream of texts mixing emoji sequences, Latin, Arabic
/// and Devanagari words: the fitting property test's inputs.
fn mixed_texts(n: usize) -> Vec<String> {
    const WORDS: &[&str] = &[
        "Engineer",
        "AI",
        "🚀",
        "👩\u{200D}💻",
        "👍🏽",
        "🇫🇷",
        "1\u{FE0F}\u{20E3}",
        "❤\u{FE0F}",
        "❤",
        "مهندس",
        "الآلة،",
        "تعلم",
        "इंजीनियर",
        "मशीन",
        "Ops🤖",
        "(🙂)",
        "—",
        "data-driven",
        "🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}",
        "WWWWWWWW",
        "x",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |k: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % k as u64) as usize
    };
    (0..n)
        .map(|_| {
            let words = 1 + next(12);
            (0..words)
                .map(|_| WORDS[next(WORDS.len())])
                .collect::<Vec<_>>()
                .join(if next(5) == 0 { "" } else { " " })
        })
        .collect()
}

#[test]
fn mixed_emoji_and_right_to_left_text_always_fits_its_box() {
    let r = renderer();
    let m = Measurer::new(r.shaper());
    // The fitter's promise, at many widths…
    for (i, t) in mixed_texts(150).iter().enumerate() {
        let width = [60.0, 140.0, 300.0, 580.0][i % 4];
        let spec = FitSpec {
            width,
            height: None,
            size: 40.0,
            min_size: 20.0,
            max_lines: 1 + i % 3,
            weight: [400, 700][i % 2],
            line_height: 1.2,
        };
        let got = m.fit(t, &spec);
        assert!(got.lines.len() <= spec.max_lines, "{t:?}");
        // (A line's own direction may differ from its text's: measure
        // each as the fitter drew it.)
        assert!(got.width <= width, "{t:?} in {width}: {got:?}");
    }
    // …and on rendered cards, in every template.
    let texts = mixed_texts(24);
    for (i, pair) in texts.chunks(2).enumerate() {
        let template = ["report", "square", "story"][i % 3];
        let query = format!(
            "role={}&tagline={}&risk=50&threat={}&threat_risk=20{}",
            enc(&pair[0].chars().take(80).collect::<String>()),
            enc(&pair[1]),
            enc(&pair[0].chars().take(40).collect::<String>()),
            if i % 2 == 0 { "&theme=light" } else { "" }
        );
        card(template, &query);
    }
}

#[test]
fn directional_marks_at_the_end_of_a_piece_take_no_room() {
    // A right-to-left mark alone between the line's end and an emoji was a
    // piece of its own: a zero-advance glyph, which usvg counts as 1 px of
    // advance box, past the box's edge (found by the card_to_svg fuzz
    // target).
    let threat = "\u{200F}👍🏽#\u{FE0F}\u{20E3}إمهندس🇧🇷  🧑🏽\u{200D}🚀";
    for template in ["report", "square", "story"] {
        card(
            template,
            &format!("role=a&risk=8&threat={}&threat_risk=38", enc(threat)),
        );
    }
}

#[test]
fn lines_whose_own_ink_reaches_lower_make_the_text_smaller() {
    // Split into two lines, the second, drawn in pieces, has an "إ" whose
    // hamza reaches further below the baseline than anything the whole
    // text measured: the fitter took two lines at 72 px, and the ink left
    // the box by 2.4 px (found by the card_to_svg fuzz target).
    let role = "الآلة،يمهندسأ❤إ🚀\u{FE0E}ؤ🚀";
    let (doc, _) = card("square", &format!("role={}&risk=0", enc(role)));
    let b = fitted(&doc, "role");
    assert!(
        b.fitted.size < 72.0,
        "{:?} at {}",
        b.fitted.lines,
        b.fitted.size
    );
}

#[test]
fn a_lone_mark_at_the_end_of_a_line_stays_in_the_box() {
    // The parser's trim leaves a lone combining mark at the start of this
    // right-to-left text, where its line ends: a cluster of no advance,
    // which usvg gives 1 px of advance box, past the box (found by the
    // card_to_svg fuzz target, with and without emoji).
    for tail in ["مهندسة👋🏿ه", "مهندسةه"] {
        check_lone_mark(tail);
    }
}

fn check_lone_mark(tail: &str) {
    let threat = format!("{}{tail}", " \u{301}".repeat(19));
    for template in ["report", "square", "story"] {
        for scale in [1, 2] {
            card(
                template,
                &format!(
                    "role={}&risk=57&threat={}&threat_risk=0&scale={scale}",
                    enc("ئئئئئئئئئئ"),
                    enc(&threat)
                ),
            );
        }
    }
}
