//! Rendering: card → SVG (template) → usvg tree → tiny-skia pixmap → PNG.
//!
//! [`Renderer::render`] is a pure, synchronous function of the template,
//! the card and the fonts. It reads no files and no URLs (the image href
//! resolver is replaced), and its work is bounded by the card's validated
//! sizes and the template's fixed canvas. Callers on the async side run it
//! on a blocking thread.

use std::sync::Arc;

use bytes::Bytes;
use resvg::tiny_skia;
use resvg::usvg;

use crate::card::{Card, CardRequest};
use crate::error::ApiError;
use crate::fonts::Fonts;
use crate::template::{SvgDoc, Templates};

/// A finished image.
#[derive(Debug, Clone)]
pub struct Png {
    pub bytes: Bytes,
    pub width: u32,
    pub height: u32,
}

pub struct Renderer {
    templates: Templates,
    options: usvg::Options<'static>,
    brand: String,
}

impl Renderer {
    pub fn new(templates: Templates, brand: &str) -> anyhow::Result<Renderer> {
        let fonts = templates.fonts().clone();
        let missing = fonts.missing_chars(brand);
        if !missing.is_empty() {
            anyhow::bail!("the brand {brand:?} has characters no font covers: {missing:?}");
        }
        let mut options = fonts.usvg_options();
        // No template may read a file or fetch a URL (resvg#762): only
        // inline `data:` images resolve.
        options.image_href_resolver.resolve_string = Box::new(|_, _| None);
        Ok(Renderer {
            templates,
            options,
            brand: brand.to_owned(),
        })
    }

    pub fn templates(&self) -> &Templates {
        &self.templates
    }

    pub fn fonts(&self) -> &Arc<Fonts> {
        self.templates.fonts()
    }

    pub fn brand(&self) -> &str {
        &self.brand
    }

    /// Output size of `req` in pixels, known without rendering.
    pub fn dimensions(&self, req: &CardRequest) -> Option<(u32, u32)> {
        let info = self.templates.info(req.template.as_str())?;
        let s = u32::from(req.scale.get());
        Some((info.width * s, info.height * s))
    }

    /// `422` if a field has characters no loaded font can draw: a card never
    /// shows tofu boxes.
    pub fn check_coverage(&self, card: &Card) -> Result<(), ApiError> {
        let fonts = self.fonts();
        let mut fields = vec![("role", card.role.as_str())];
        if let Some(t) = &card.tagline {
            fields.push(("tagline", t.as_str()));
        }
        if let Some(t) = &card.threat {
            fields.push(("threat", t.task.as_str()));
        }
        for (field, text) in fields {
            let missing = fonts.missing_chars(text);
            if !missing.is_empty() {
                let list: Vec<String> = missing
                    .iter()
                    .map(|c| format!("{c:?} (U+{:04X})", *c as u32))
                    .collect();
                return Err(ApiError {
                    field: Some(field.to_owned()),
                    ..ApiError::new(
                        422,
                        "unsupported_characters",
                        format!(
                            "`{field}` has characters no installed font can draw: {}",
                            list.join(", ")
                        ),
                    )
                });
            }
        }
        Ok(())
    }

    /// The filled SVG for `req`, before rasterising.
    pub fn svg(&self, req: &CardRequest) -> anyhow::Result<SvgDoc> {
        self.templates.render_svg(req, &self.brand)
    }

    /// Parses a filled SVG with the service's fonts and restrictions.
    pub fn tree(&self, svg: &str) -> anyhow::Result<usvg::Tree> {
        Ok(usvg::Tree::from_str(svg, &self.options)?)
    }

    /// Renders one card to PNG.
    pub fn render(&self, req: &CardRequest) -> anyhow::Result<Png> {
        let doc = self.svg(req)?;
        let tree = self.tree(&doc.svg)?;
        let pixmap = rasterize(&tree, req.scale.get())?;
        let bytes = encode_png(&pixmap)?;
        Ok(Png {
            bytes: Bytes::from(bytes),
            width: pixmap.width(),
            height: pixmap.height(),
        })
    }
}

pub fn rasterize(tree: &usvg::Tree, scale: u8) -> anyhow::Result<tiny_skia::Pixmap> {
    let s = f32::from(scale);
    let size = tree
        .size()
        .to_int_size()
        .scale_by(s)
        .ok_or_else(|| anyhow::anyhow!("bad size"))?;
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height())
        .ok_or_else(|| anyhow::anyhow!("cannot allocate {}x{}", size.width(), size.height()))?;
    resvg::render(
        tree,
        tiny_skia::Transform::from_scale(s, s),
        &mut pixmap.as_mut(),
    );
    Ok(pixmap)
}

/// Encodes a pixmap as PNG: RGB when every pixel is opaque (a quarter fewer
/// bytes to filter and compress), RGBA otherwise.
pub fn encode_png(pixmap: &tiny_skia::Pixmap) -> anyhow::Result<Vec<u8>> {
    let data = pixmap.data();
    let opaque = data.chunks_exact(4).all(|p| p[3] == 255);
    let (color, pixels) = if opaque {
        let rgb: Vec<u8> = data
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect();
        (png::ColorType::Rgb, rgb)
    } else {
        // tiny-skia stores premultiplied alpha; PNG wants straight alpha.
        let rgba: Vec<u8> = pixmap
            .pixels()
            .iter()
            .flat_map(|p| {
                let c = p.demultiply();
                [c.red(), c.green(), c.blue(), c.alpha()]
            })
            .collect();
        (png::ColorType::Rgba, rgba)
    };
    let mut out = Vec::with_capacity(pixels.len() / 8);
    let mut enc = png::Encoder::new(&mut out, pixmap.width(), pixmap.height());
    enc.set_color(color);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Balanced);
    let mut writer = enc.write_header()?;
    writer.write_image_data(&pixels)?;
    writer.finish()?;
    Ok(out)
}

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
            problems.push(format!("text {:?} is not in a declared box", t.id()));
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
        match t.flattened().abs_bounding_box().to_non_zero_rect() {
            Some(ink) => inside(ink.to_rect(), "ink", &mut problems),
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
                .filter(|c| !c.is_whitespace() && !crate::fonts::is_invisible(*c))
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

fn collect_texts<'t>(group: &'t usvg::Group, out: &mut Vec<&'t usvg::Text>) {
    for node in group.children() {
        match node {
            usvg::Node::Group(g) => collect_texts(g, out),
            usvg::Node::Text(t) => out.push(t),
            _ => {}
        }
    }
}
