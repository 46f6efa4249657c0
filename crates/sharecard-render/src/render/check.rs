//! `text_violations`: the rendered text checked against the boxes the
//! template declared (tests, the fuzzer and `sharecard check` use it).

use resvg::usvg;

use crate::template::SvgDoc;

/// Problems with the text of a rendered card, measured on the usvg tree
/// (what resvg draws), not on the fitter's intent. Empty means every text
/// element is a declared box, its glyphs lie inside that box, no glyph is
/// missing (`.notdef`), no character was dropped, and every declared box
/// was drawn.
pub fn text_violations(doc: &SvgDoc, tree: &usvg::Tree) -> Vec<String> {
    // Anti-aliasing may touch the half pixel around an outline.
    const SLACK: f32 = 0.5;
    let mut problems = Vec::new();
    let mut texts = Vec::new();
    collect_texts(tree.root(), &mut texts);
    for b in &doc.boxes {
        if !texts.iter().any(|t| t.id() == b.id) {
            problems.push(format!("box {:?} declared but no text drawn for it", b.id));
        }
    }
    for t in texts {
        let Some(b) = doc.boxes.iter().find(|b| b.id == t.id()) else {
            problems.push(stray(doc, t));
            continue;
        };
        let inside = |r: usvg::Rect, what: &str, problems: &mut Vec<String>| {
            if r.left() < b.x - SLACK
                || r.top() < b.y - SLACK
                || r.right() > b.x + b.width + SLACK
                || r.bottom() > b.y + b.height + SLACK
            {
                problems.push(format!(
                    "{:?}: {what} {:.1},{:.1} {:.1}×{:.1} leaves its box {:.1},{:.1} {:.1}×{:.1} (lines {:?}, {} px)",
                    b.id, r.left(), r.top(), r.width(), r.height(),
                    b.x, b.y, b.width, b.height, b.fitted.lines, b.fitted.size
                ));
            }
        };
        // Ink: the outlines actually filled.
        match ink(t.flattened(), t.abs_transform()) {
            Some(ink) => inside(ink, "ink", &mut problems),
            None => problems.push(format!("{:?}: no glyph outlines drawn", b.id)),
        }
        // Advance box: where the layout put the glyphs (catches trailing
        // spaces and advance widths the fitter got wrong).
        let adv = t.abs_bounding_box();
        if adv.left() < b.x - SLACK || adv.right() > b.x + b.width + SLACK {
            problems.push(format!(
                "{:?}: advance box x {:.1}..{:.1} leaves its box {:.1}..{:.1}",
                b.id,
                adv.left(),
                adv.right(),
                b.x,
                b.x + b.width
            ));
        }
        let mut drawn = String::new();
        for span in t.layouted() {
            for g in &span.positioned_glyphs {
                if g.id.0 == 0 {
                    problems.push(format!("{:?}: missing glyph (tofu) for {:?}", b.id, g.text));
                }
                drawn.push_str(&g.text);
            }
        }
        let wanted: String = b.fitted.lines.concat();
        let strip = |s: &str| -> String {
            s.chars()
                .filter(|c| !c.is_whitespace() && !crate::card::is_invisible(*c))
                .collect()
        };
        let (mut d, mut w): (Vec<char>, Vec<char>) = (
            strip(&drawn).chars().collect(),
            strip(&wanted).chars().collect(),
        );
        // Shaping may reorder glyphs (right-to-left runs): compare as sets.
        d.sort_unstable();
        w.sort_unstable();
        if d != w {
            problems.push(format!(
                "{:?}: drew {:?} but the box holds {:?}",
                b.id, drawn, wanted
            ));
        }
    }
    problems
}

/// The bounds of what `group` paints, under `transform`. Not usvg's
/// `abs_bounding_box`: the groups usvg makes of colour glyphs (COLR
/// layers, bitmaps) inside flattened text carry their own transform but
/// not their absolute bounds, which stay in font units.
fn ink(group: &usvg::Group, transform: usvg::Transform) -> Option<usvg::Rect> {
    let mut out: Option<usvg::Rect> = None;
    let mut add = |r: Option<usvg::Rect>| {
        if let Some(r) = r {
            out = Some(match out {
                Some(o) => usvg::Rect::from_ltrb(
                    o.left().min(r.left()),
                    o.top().min(r.top()),
                    o.right().max(r.right()),
                    o.bottom().max(r.bottom()),
                )
                .unwrap_or(o),
                None => r,
            });
        }
    };
    for node in group.children() {
        match node {
            usvg::Node::Group(g) => add(ink(g, transform.pre_concat(g.transform()))),
            usvg::Node::Path(p) => add(p
                .data()
                .clone()
                .transform(transform)
                .map(|d| d.bounds())
                .and_then(|b| usvg::Rect::from_ltrb(b.left(), b.top(), b.right(), b.bottom()))),
            usvg::Node::Image(i) => add(i.bounding_box().transform(transform)),
            usvg::Node::Text(t) => add(ink(t.flattened(), transform)),
        }
    }
    out
}

/// What to say of a `<text>` drawn outside every `text.fit` box: its
/// words, and where it stands in the rendered SVG (the line of the first
/// `<text` element holding them).
fn stray(doc: &SvgDoc, t: &usvg::Text) -> String {
    let words: String = t.chunks().iter().map(|c| c.text()).collect();
    let words = words.trim();
    let shown: String = words.chars().take(40).collect();
    let ellipsis = if words.chars().count() > 40 {
        "…"
    } else {
        ""
    };
    let first = words.split_whitespace().next().unwrap_or("");
    let line = (!first.is_empty())
        .then(|| doc.svg.find(first))
        .flatten()
        .map(|at| doc.svg[..at].matches('\n').count() + 1);
    let place = match line {
        Some(n) => format!(" (line {n} of the rendered SVG)"),
        None => String::new(),
    };
    let id = if t.id().is_empty() {
        String::new()
    } else {
        format!(" id={:?}", t.id())
    };
    format!(
        "text{id} \"{shown}{ellipsis}\"{place} is drawn outside every declared box: draw text \
         only through text.fit, so that it is fitted and checked"
    )
}

fn collect_texts<'t>(group: &'t usvg::Group, out: &mut Vec<&'t usvg::Text>) {
    for node in group.children() {
        match node {
            usvg::Node::Group(g) => collect_texts(g, out),
            usvg::Node::Text(t) => out.push(t),
            _ => {}
        }
    }
}
