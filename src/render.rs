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
    let size = tree.size().to_int_size().scale_by(s).ok_or_else(|| anyhow::anyhow!("bad size"))?;
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height())
        .ok_or_else(|| anyhow::anyhow!("cannot allocate {}x{}", size.width(), size.height()))?;
    resvg::render(tree, tiny_skia::Transform::from_scale(s, s), &mut pixmap.as_mut());
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
