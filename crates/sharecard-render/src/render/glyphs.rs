//! A card's text drawn straight from its shaped glyphs, without usvg's
//! text layout.
//!
//! Laying out text was most of parsing a card's layer
//! (`stage/card_layer_usvg_parse` against `stage/card_layer_to_items` in
//! the `pipeline` bench): usvg shapes every line again, with a shape plan
//! it compiles again, and reads every glyph's outline from the font again,
//! on every parse. Here the line is shaped by the measurer (the
//! same harfrust, the same fallback, plans kept per face), outlines are
//! read once per glyph and kept, and each line becomes the path usvg would
//! have made of it: the same outline, moved by the same chain of
//! transforms, in the same order of `f32` operations (usvg 0.49's
//! `layout_text` and `flatten`), then filled by the same tiny-skia call
//! resvg makes. The pixels are usvg's; `tests/render/layered.rs` compares
//! them with a one-pass usvg render for every template and theme.
//!
//! Only what the templates' `textbox` macro emits is drawn here: a
//! `<text>` of the primary family with a solid fill, whose `<tspan>`s each
//! hold one fitted line at an absolute position, in faces with plain
//! outlines (no variation axes, no colour, SVG or bitmap glyphs). Anything
//! else, and any line usvg would draw wrong, stays SVG for usvg.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use resvg::tiny_skia::{self, Path, PathBuilder, Transform};
use resvg::usvg;
use resvg::usvg::fontdb;
use skrifa::MetadataProvider;
use skrifa::raw::TableProvider;

use crate::fonts::{Face, Fonts, PRIMARY_FAMILY};
use crate::text::{DrawnGlyph, Measurer, Shaper};

/// One top-level element of a layer, or a run of them, ready to draw.
pub enum Item {
    /// Elements usvg parsed (boxed: a tree is large, and a layer holds a
    /// few items).
    Svg(Box<usvg::Tree>),
    /// A `<text>` as one path per line, in user units.
    Text(Vec<Path>, tiny_skia::Paint<'static>),
}

impl Item {
    /// Draws the item as `resvg::render` would draw its elements.
    pub fn draw(&self, transform: Transform, canvas: &mut tiny_skia::PixmapMut<'_>) {
        match self {
            Item::Svg(tree) => match lone_svg_image(tree) {
                Some((asset, ts)) => draw_svg_image(asset, transform.pre_concat(ts), canvas),
                None => resvg::render(tree, transform, canvas),
            },
            Item::Text(lines, paint) => {
                for line in lines {
                    // Text ignores `fill-rule` (usvg sets non-zero).
                    canvas.fill_path(line, paint, tiny_skia::FillRule::Winding, transform, None);
                }
            }
        }
    }
}

/// The SVG asset and its transform, when `run` is one `<image>` of an SVG
/// asset and nothing else (no opacity, clip, mask, filter or blending).
fn lone_svg_image(run: &usvg::Tree) -> Option<(&usvg::Tree, Transform)> {
    let [usvg::Node::Group(g)] = run.root().children() else {
        return None;
    };
    let [usvg::Node::Image(img)] = g.children() else {
        return None;
    };
    let plain = g.opacity() == usvg::Opacity::ONE
        && g.clip_path().is_none()
        && g.mask().is_none()
        && g.filters().is_empty()
        && g.blend_mode() == usvg::BlendMode::Normal
        && !g.isolate()
        && img.is_visible();
    match (plain, img.kind()) {
        (true, usvg::ImageKind::SVG(asset)) => Some((asset, img.abs_transform())),
        _ => None,
    }
}

/// Draws an SVG asset as resvg draws an `<image>` of one, into a pixmap
/// only as large as the asset's device bounds instead of the whole canvas:
/// resvg composites a canvas-sized layer per image, most of a declared
/// card's time (`bench/declared.sh`). The translation is by whole pixels,
/// so the asset's pixels are the same.
fn draw_svg_image(asset: &usvg::Tree, transform: Transform, canvas: &mut tiny_skia::PixmapMut<'_>) {
    let Some(b) = asset.root().abs_layer_bounding_box().transform(transform) else {
        return;
    };
    // A pixel of margin for anti-aliasing, within the canvas.
    let x0 = (b.left().floor() - 1.0).max(0.0);
    let y0 = (b.top().floor() - 1.0).max(0.0);
    let x1 = (b.right().ceil() + 1.0).min(canvas.width() as f32);
    let y1 = (b.bottom().ceil() + 1.0).min(canvas.height() as f32);
    if x1 <= x0 || y1 <= y0 {
        return;
    }
    let Some(mut layer) = tiny_skia::Pixmap::new((x1 - x0) as u32, (y1 - y0) as u32) else {
        return;
    };
    resvg::render(
        asset,
        transform.post_translate(-x0, -y0),
        &mut layer.as_mut(),
    );
    canvas.draw_pixmap(
        x0 as i32,
        y0 as i32,
        layer.as_ref(),
        &tiny_skia::PixmapPaint::default(),
        Transform::default(),
        None,
    );
}

/// Glyph outlines in font units, read once: a process draws the same few
/// hundred glyphs over and over.
pub struct Outlines {
    /// Units per em of each face whose glyphs are plain outlines.
    plain: HashMap<fontdb::ID, f32>,
    paths: Mutex<HashMap<GlyphKey, Option<Arc<Path>>>>,
}

/// A glyph: its face and its id in that face.
type GlyphKey = (fontdb::ID, u32);

impl Outlines {
    /// Bounded like the line cache: starts over when full. A card of one
    /// script uses a few dozen glyphs; a client cycling through every
    /// glyph of the bundled faces keeps at most ~4 MiB here (the test
    /// `outlines_are_read_once_and_bounded` counts them).
    const MAX_GLYPHS: usize = 4096;

    pub fn new(fonts: &Fonts) -> Outlines {
        let plain = fonts
            .faces()
            .iter()
            .filter_map(|face| {
                let font = skrifa::FontRef::from_index(&face.data, face.index).ok()?;
                let special = [b"fvar", b"COLR", b"SVG ", b"CBDT", b"sbix"]
                    .iter()
                    .any(|t| font.table_data(skrifa::Tag::new(t)).is_some());
                let upem = font.head().ok()?.units_per_em();
                (!special && upem > 0).then_some((face.id, f32::from(upem)))
            })
            .collect();
        Outlines {
            plain,
            paths: Mutex::new(HashMap::new()),
        }
    }

    /// Glyph `id`'s outline as usvg reads it (`DatabaseExt::outline`:
    /// unhinted, unscaled, default location); `None` for a glyph without
    /// one (a space).
    fn get(&self, face: &Face, id: u32) -> Option<Arc<Path>> {
        let key = (face.id, id);
        if let Some(found) = self.paths.lock().expect("not poisoned").get(&key) {
            return found.clone();
        }
        let path = read_outline(face, id).map(Arc::new);
        let mut paths = self.paths.lock().expect("not poisoned");
        if paths.len() >= Self::MAX_GLYPHS {
            paths.clear();
        }
        paths.insert(key, path.clone());
        path
    }
}

fn read_outline(face: &Face, id: u32) -> Option<Path> {
    use skrifa::outline::{DrawSettings, OutlinePen};
    struct Pen(PathBuilder);
    impl OutlinePen for Pen {
        fn move_to(&mut self, x: f32, y: f32) {
            self.0.move_to(x, y);
        }
        fn line_to(&mut self, x: f32, y: f32) {
            self.0.line_to(x, y);
        }
        fn quad_to(&mut self, cx0: f32, cy0: f32, x: f32, y: f32) {
            self.0.quad_to(cx0, cy0, x, y);
        }
        fn curve_to(&mut self, cx0: f32, cy0: f32, cx1: f32, cy1: f32, x: f32, y: f32) {
            self.0.cubic_to(cx0, cy0, cx1, cy1, x, y);
        }
        fn close(&mut self) {
            self.0.close();
        }
    }
    let font = skrifa::FontRef::from_index(&face.data, face.index).ok()?;
    let glyph = font.outline_glyphs().get(skrifa::GlyphId::new(id))?;
    let mut pen = Pen(PathBuilder::new());
    let settings = DrawSettings::unhinted(
        skrifa::instance::Size::unscaled(),
        skrifa::instance::LocationRef::default(),
    );
    glyph.draw(settings, &mut pen).ok()?;
    pen.0.finish()
}

/// A layer's top-level elements, in order, as items: each `<text>` this
/// module can draw becomes [`Item::Text`], each run of other elements one
/// [`Item::Svg`]. `None` when the elements cannot be drawn one run at a
/// time: when one may refer to another (`url(#…)`, an `href` other than an
/// asset's, `<use>`, definitions, style sheets) or the root groups its children (opacity,
/// filters, clips, masks, transforms, blending). Each top-level element is
/// composited onto the canvas by itself, so drawing the runs in order
/// paints exactly what the whole does.
pub fn layer_items(
    svg: &str,
    shaper: &Shaper,
    outlines: &Outlines,
    options: &usvg::Options<'_>,
) -> anyhow::Result<Option<Vec<Item>>> {
    const REFERENCES: [&str; 4] = ["url(", "<style", "<defs", "<use"];
    const GROUPING: [&str; 8] = [
        "opacity",
        "filter",
        "clip-path",
        "mask",
        "transform",
        "style",
        "mix-blend-mode",
        "isolation",
    ];
    // An `<image href="asset:…">` refers to no other element: it draws in
    // a run of its own like any shape. Any other `href` may.
    let other_href = svg
        .match_indices("href")
        .any(|(i, _)| !svg[i..].starts_with("href=\"asset:"));
    if other_href || REFERENCES.iter().any(|r| svg.contains(r)) {
        return Ok(None);
    }
    let Ok(doc) = usvg::roxmltree::Document::parse(svg) else {
        return Ok(None);
    };
    let root = doc.root_element();
    if root.attributes().any(|a| GROUPING.contains(&a.name())) {
        return Ok(None);
    }
    let Some(first) = root.first_child() else {
        return Ok(None);
    };
    let (head, tail) = (
        &svg[..first.range().start],
        &svg[root.last_child().map_or(0, |c| c.range().end)..],
    );
    let mut items = Vec::new();
    let mut run = String::new();
    let flush = |run: &mut String, items: &mut Vec<Item>| -> anyhow::Result<()> {
        if !run.is_empty() {
            let tree = usvg::Tree::from_str(&[head, run.as_str(), tail].concat(), options)?;
            items.push(Item::Svg(Box::new(tree)));
            run.clear();
        }
        Ok(())
    };
    for child in root.children() {
        match child.node_type() {
            usvg::roxmltree::NodeType::Element => {
                if child.has_tag_name("text")
                    && let Some(item) = text_item(child, shaper, outlines)
                {
                    flush(&mut run, &mut items)?;
                    items.push(item);
                } else if child.has_tag_name("image") {
                    // An image is a run of its own, drawn within its bounds
                    // (see `draw_svg_image`).
                    flush(&mut run, &mut items)?;
                    run.push_str(&svg[child.range()]);
                    flush(&mut run, &mut items)?;
                } else {
                    run.push_str(&svg[child.range()]);
                }
            }
            usvg::roxmltree::NodeType::Text
                if child.text().is_some_and(|t| t.trim().is_empty()) => {}
            usvg::roxmltree::NodeType::Comment => {}
            _ => return Ok(None),
        }
    }
    flush(&mut run, &mut items)?;
    Ok(Some(items))
}

/// A `<text>` as usvg would draw it, if it is of the simple kind the
/// templates' `textbox` macro emits (see the module comment).
fn text_item(
    node: usvg::roxmltree::Node<'_, '_>,
    shaper: &Shaper,
    outlines: &Outlines,
) -> Option<Item> {
    const ATTRIBUTES: [&str; 8] = [
        "id",
        "x",
        "y",
        "font-family",
        "font-size",
        "font-weight",
        "text-anchor",
        "fill",
    ];
    if node
        .attributes()
        .any(|a| a.namespace().is_some() || !ATTRIBUTES.contains(&a.name()))
    {
        return None;
    }
    if node.attribute("font-family")? != PRIMARY_FAMILY {
        return None;
    }
    let size = number(node.attribute("font-size")?).filter(|s| *s > 0.0)?;
    let weight: u16 = match node.attribute("font-weight") {
        None => 400,
        Some(w) => w.parse().ok().filter(|w| (1..=1000).contains(w))?,
    };
    // usvg's `process_anchor`: the offset of the line's start from x.
    let anchor: fn(f32) -> f32 = match node.attribute("text-anchor").unwrap_or("start") {
        "start" => |_: f32| 0.0,
        "middle" => |w: f32| -w / 2.0,
        "end" => |w: f32| -w,
        _ => return None,
    };
    let mut paint = tiny_skia::Paint::default();
    let [r, g, b] = hex_color(node.attribute("fill")?)?;
    paint.set_color_rgba8(r, g, b, 255);
    paint.anti_alias = true;

    let measurer = Measurer::new(shaper);
    let mut lines = Vec::new();
    for tspan in node.children() {
        if !tspan.is_element() {
            // Text outside a <tspan>, even white space, is usvg's to lay out.
            if !tspan.is_comment() {
                return None;
            }
            continue;
        }
        if !tspan.has_tag_name("tspan")
            || tspan.attributes().len() != 2
            || tspan.children().count() != 1
        {
            return None;
        }
        let x = number(tspan.attribute("x")?)?;
        let y = number(tspan.attribute("y")?)?;
        let text = tspan.first_child().filter(|t| t.is_text())?.text()?;
        // usvg collapses and trims white space (xml:space="default"); a
        // fitted line has none to collapse.
        if text.is_empty()
            || text.starts_with(' ')
            || text.ends_with(' ')
            || text.contains("  ")
            || text.contains(['\t', '\n', '\r'])
        {
            return None;
        }
        let glyphs = measurer.drawn_glyphs(text, weight)?;
        if let Some(path) = line_path(&glyphs, size, x, y, anchor, outlines)? {
            lines.push(path);
        }
    }
    Some(Item::Text(lines, paint))
}

/// The path usvg makes of one line (a chunk with one span): `Ok(None)` when
/// it draws nothing, `None` when a glyph's face is not plain.
///
/// The arithmetic is usvg 0.49's, step by step, so that every point comes
/// out as the same `f32`: `form_glyph_clusters`, then
/// `resolve_clusters_positions_horizontal` (no dx, dy or rotate), the span
/// transform of `layout_text` (auto baseline: no shift), and
/// `PositionedGlyph::outline_transform`.
fn line_path(
    glyphs: &[DrawnGlyph<'_>],
    size: f32,
    x: f32,
    y: f32,
    anchor: fn(f32) -> f32,
    outlines: &Outlines,
) -> Option<Option<Path>> {
    // Each glyph's scale from font units to pixels.
    let scales = glyphs
        .iter()
        .map(|g| Some(size / outlines.plain.get(&g.face.id)?))
        .collect::<Option<Vec<f32>>>()?;
    // Clusters: runs of glyphs with the same cluster offset, with their
    // advances in pixels.
    let mut clusters: Vec<(std::ops::Range<usize>, f32)> = Vec::new();
    let mut start = 0;
    while start < glyphs.len() {
        let end = glyphs[start..]
            .iter()
            .position(|g| g.cluster != glyphs[start].cluster)
            .map_or(glyphs.len(), |n| start + n);
        let mut advance = 0.0f32;
        for (g, sx) in glyphs[start..end].iter().zip(&scales[start..end]) {
            advance += g.x_advance as f32 * sx;
        }
        clusters.push((start..end, advance));
        start = end;
    }
    let (mut left, mut right, mut advance) = (f32::INFINITY, f32::NEG_INFINITY, 0.0f32);
    for &(_, cluster_advance) in &clusters {
        let start = advance + 0.0;
        let end = start + cluster_advance - 0.0;
        left = left.min(start).min(end);
        right = right.max(start).max(end);
        advance += cluster_advance;
    }
    let mut pen = 0.0 - left + anchor(right - left);
    let span_ts = Transform::default()
        .pre_translate(x, y)
        .pre_translate(0.0, -0.0 + 0.0);
    let mut builder = PathBuilder::new();
    for (cluster, cluster_advance) in clusters {
        let cluster_ts =
            Transform::default().post_concat(Transform::default().pre_translate(pen + 0.0, 0.0));
        let mut gx = 0.0f32;
        for (g, &sx) in glyphs[cluster.clone()].iter().zip(&scales[cluster]) {
            let glyph_ts = Transform::from_translate(gx + g.x_offset as f32, -g.y_offset as f32);
            gx += g.x_advance as f32;
            let Some(outline) = outlines.get(g.face, g.id) else {
                continue;
            };
            let ts = span_ts
                .pre_concat(cluster_ts)
                .pre_concat(Transform::from_scale(sx, sx))
                .pre_concat(glyph_ts)
                .pre_concat(Transform::from_scale(1.0, -1.0));
            if let Some(placed) = (*outline).clone().transform(ts) {
                builder.push_path(&placed);
            }
        }
        pen += cluster_advance;
    }
    let Some(path) = builder.finish() else {
        return Some(None);
    };
    // resvg does not fill a path with no area.
    let bounds = path.bounds();
    if bounds.width() == 0.0 || bounds.height() == 0.0 {
        return Some(None);
    }
    Some(Some(path))
}

/// An SVG number as usvg reads one into an `f32`.
fn number(s: &str) -> Option<f32> {
    let n: f64 = s.trim().parse().ok()?;
    let n = n as f32;
    n.is_finite().then_some(n)
}

/// `#rrggbb`.
fn hex_color(s: &str) -> Option<[u8; 3]> {
    let hex = s.strip_prefix('#').filter(|h| h.len() == 6)?;
    let v = u32::from_str_radix(hex, 16).ok()?;
    Some([(v >> 16) as u8, (v >> 8) as u8, v as u8])
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = r#"<svg xmlns="http://www.w3.org/2000/svg" width="320" height="120" viewBox="0 0 320 120">"#;

    /// `body` wrapped in the root element.
    fn layer(body: &str) -> String {
        format!("{ROOT}\n{body}\n</svg>")
    }

    fn fonts() -> Arc<Fonts> {
        Arc::new(Fonts::load(None).expect("bundled fonts"))
    }

    /// A `<text>` as the templates' `textbox` macro writes one.
    fn textbox(attrs: &str, lines: &[(&str, &str)]) -> String {
        let tspans: String = lines
            .iter()
            .map(|(pos, t)| format!("<tspan {pos}>{t}</tspan>"))
            .collect();
        format!(r#"<text id="t" x="10" font-family="Inter" {attrs}>{tspans}</text>"#)
    }

    /// Top-level elements that overlap, are translucent and blend, with
    /// text between and over them: drawn item by item they must paint
    /// exactly what usvg draws of the whole layer.
    fn shapes_and_text() -> String {
        let latin = textbox(
            r##"font-size="41.5" font-weight="700" text-anchor="start" fill="#F8FAFC""##,
            &[
                (r#"x="12.25" y="44""#, "Wavy fjord AVAST, Ŧ…"),
                (r#"x="12.25" y="88.6""#, "Tâche élevée"),
            ],
        );
        let arabic = textbox(
            r##"font-size="23" font-weight="400" text-anchor="end" fill="#334155""##,
            &[(r#"x="300" y="110""#, "\u{2067}مهندس تعلّم الآلة")],
        );
        let hindi = textbox(
            r##"font-size="27" font-weight="700" text-anchor="middle" fill="#FBBF24""##,
            &[(r#"x="240" y="70""#, "मशीन लर्निंग इंजीनियर")],
        );
        // Not of the simple kind: left to usvg, in its place.
        let spaced = r##"<text x="150" y="20" font-family="Inter" font-size="16" letter-spacing="3" fill="#0B1120">spaced</text>"##;
        format!(
            r##"<rect x="5" y="5" width="160" height="80" fill="#336699" fill-opacity="0.6"/>
{latin}
<!-- a comment -->
<circle cx="120" cy="60" r="45" fill="none" stroke="#ffcc00" stroke-width="9" opacity="0.7" stroke-dasharray="30 10"/>
{arabic}
{spaced}
<g opacity="0.5" style="mix-blend-mode:multiply"><rect x="140" y="10" width="170" height="95" fill="#cc3300"/></g>
{hindi}
<path d="M0 120 L160 0 L320 120 Z" fill="#00aa88" fill-opacity="0.3" transform="rotate(7 160 60)"/>"##
        )
    }

    #[test]
    fn a_layer_drawn_item_by_item_is_pixel_identical_to_usvg() {
        let fonts = fonts();
        let shaper = Shaper::new(fonts.clone());
        let outlines = Outlines::new(&fonts);
        let options = fonts.usvg_options();
        let whole = layer(&shapes_and_text());
        let items = layer_items(&whole, &shaper, &outlines, &options)
            .unwrap()
            .expect("independent elements");
        let kinds: String = items
            .iter()
            .map(|i| match i {
                Item::Svg(_) => 's',
                Item::Text(..) => 't',
            })
            .collect();
        // rect | latin | circle | arabic | spaced, g | hindi | path
        assert_eq!(kinds, "stststs");
        for transform in [
            Transform::identity(),
            Transform::from_scale(2.0, 2.0),
            // A band of a card at 3×, moved up by its first row.
            Transform::from_scale(3.0, 3.0).post_translate(0.0, -157.0),
        ] {
            let canvas = || {
                let mut p = tiny_skia::Pixmap::new(960, 360).unwrap();
                p.fill(tiny_skia::Color::from_rgba8(240, 240, 250, 255));
                p
            };
            let mut expected = canvas();
            let tree = usvg::Tree::from_str(&whole, &options).unwrap();
            resvg::render(&tree, transform, &mut expected.as_mut());
            let mut actual = canvas();
            for item in &items {
                item.draw(transform, &mut actual.as_mut());
            }
            assert!(
                actual.data() == expected.data(),
                "{transform:?}: items draw differently from usvg"
            );
        }
    }

    #[test]
    fn text_of_other_kinds_is_left_to_usvg() {
        let fonts = fonts();
        let shaper = Shaper::new(fonts.clone());
        let outlines = Outlines::new(&fonts);
        let options = fonts.usvg_options();
        let simple = r##"font-size="30" font-weight="400" text-anchor="start" fill="#CBD5E1""##;
        let one = |t: &str| textbox(simple, &[(r#"x="10" y="40""#, t)]);
        // (case, the <text>, drawn from glyphs)
        let cases: Vec<(&str, String, bool)> = vec![
            ("a fitted line", one("Model Fine-Tuning"), true),
            ("lines of two scripts", one("ML इंजीनियर"), false),
            ("a glyph no font has", one("Data 入力"), false),
            ("leading space", one(" indented"), false),
            ("doubled space", one("two  spaces"), false),
            (
                "letter spacing",
                textbox(&format!(r#"{simple} letter-spacing="2""#), &[(r#"x="10" y="40""#, "x")]),
                false,
            ),
            (
                "another family",
                textbox(simple, &[(r#"x="10" y="40""#, "x")]).replace("Inter", "Noto Sans"),
                false,
            ),
            (
                "a named colour",
                textbox(&simple.replace("#CBD5E1", "red"), &[(r#"x="10" y="40""#, "x")]),
                false,
            ),
            (
                "text outside a tspan",
                r##"<text x="10" y="40" font-family="Inter" font-size="30" fill="#CBD5E1">loose</text>"##.to_owned(),
                false,
            ),
            (
                "a tspan without y",
                textbox(simple, &[(r#"x="10""#, "x")]),
                false,
            ),
            ("nested tspans", one("<tspan>in</tspan>"), false),
        ];
        for (case, text, direct) in cases {
            let items = layer_items(&layer(&text), &shaper, &outlines, &options)
                .unwrap()
                .expect("one element");
            assert_eq!(items.len(), 1, "{case}");
            assert_eq!(matches!(items[0], Item::Text(..)), direct, "{case}");
        }
    }

    #[test]
    fn a_layer_whose_elements_may_depend_on_each_other_is_not_split() {
        let fonts = fonts();
        let shaper = Shaper::new(fonts.clone());
        let outlines = Outlines::new(&fonts);
        let options = fonts.usvg_options();
        let gradient = r##"<defs><linearGradient id="g"><stop offset="0" stop-color="red"/></linearGradient></defs><rect width="9" height="9" fill="url(#g)"/>"##;
        let cases: [(&str, String); 7] = [
            ("definitions and url()", layer(gradient)),
            (
                "use",
                layer(r##"<rect id="r" width="9" height="9"/><use href="#r" x="20"/>"##),
            ),
            (
                "style sheet",
                layer(
                    r#"<style>rect { fill: red }</style><rect width="9" height="9"/><rect x="20" width="9" height="9"/>"#,
                ),
            ),
            (
                "text at the top level",
                layer(
                    "loose text<rect width=\"9\" height=\"9\"/><rect x=\"20\" width=\"9\" height=\"9\"/>",
                ),
            ),
            (
                "root opacity",
                format!(
                    "{}\n{}\n</svg>",
                    ROOT.replace("viewBox", "opacity=\"0.5\" viewBox"),
                    shapes_and_text()
                ),
            ),
            (
                "root transform",
                format!(
                    "{}\n{}\n</svg>",
                    ROOT.replace("viewBox", "transform=\"scale(2)\" viewBox"),
                    shapes_and_text()
                ),
            ),
            ("not XML", "<svg><rect></svg>".to_owned()),
        ];
        for (what, svg) in cases {
            assert!(
                layer_items(&svg, &shaper, &outlines, &options)
                    .unwrap()
                    .is_none(),
                "{what}: should not be split"
            );
        }
    }

    #[test]
    fn outlines_are_read_once_and_bounded() {
        let fonts = fonts();
        let outlines = Outlines::new(&fonts);
        // Every bundled text face draws plain outlines; the emoji face
        // does not (its lines are left to usvg).
        let text_faces = fonts.faces().iter().filter(|f| !f.colour).count();
        assert_eq!(outlines.plain.len(), text_faces);
        let face = fonts.primary(400);
        let a = outlines.get(face, 36).expect("a glyph with an outline");
        assert!(Arc::ptr_eq(&a, &outlines.get(face, 36).unwrap()));
        for id in 0..(Outlines::MAX_GLYPHS as u32 + 10) {
            outlines.get(face, id);
        }
        assert!(outlines.paths.lock().unwrap().len() <= Outlines::MAX_GLYPHS);
    }
}
