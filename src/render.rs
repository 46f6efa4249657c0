//! Rendering: card → SVG (template) → usvg tree → tiny-skia pixmap → PNG.
//!
//! [`Renderer::render`] is a pure, synchronous function of the template,
//! the card and the fonts. It reads no files and no URLs (the image href
//! resolver is replaced), and its work is bounded by the card's validated
//! sizes and the template's fixed canvas. Callers on the async side run it
//! on a blocking thread.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use resvg::tiny_skia;
use resvg::usvg;

use crate::card::{Card, CardRequest, Theme};
use crate::error::ApiError;
use crate::fastpng::Piece;
use crate::fonts::Fonts;
use crate::glyphs::{Item, Outlines};
use crate::template::{Layer, SvgDoc, Templates};

/// A finished image.
#[derive(Debug, Clone)]
pub struct Png {
    pub bytes: Bytes,
    pub width: u32,
    pub height: u32,
    /// Whether these are the bytes this card will keep (recompressed, or
    /// recompression is off). Byte ranges are served only from final
    /// bytes, so a client assembling ranges never mixes two encodings that
    /// share one ETag.
    pub is_final: bool,
    /// Every pixel is opaque (the PNG may still carry an alpha channel).
    pub opaque: bool,
    /// The card's ETag ([`Renderer::etag`]), kept with its bytes so that
    /// a cache hit does not hash the card again.
    pub etag: Arc<str>,
}

/// Backgrounds up to this size (bytes of RGBA) are kept; larger ones (a
/// story at 3×) are drawn per card rather than held in memory.
const MAX_CACHED_BACKGROUND: usize = 13 * 1024 * 1024;

type BackgroundKey = (String, Theme, u8);
/// A rasterised background and whether every pixel of it is opaque.
type Background = (Arc<tiny_skia::Pixmap>, bool);

pub struct Renderer {
    templates: Templates,
    options: usvg::Options<'static>,
    brand: String,
    /// Rasterised background layers of layered templates.
    backgrounds: Mutex<HashMap<BackgroundKey, Background>>,
    /// Pixel buffers of finished renders, for the next render to copy its
    /// background into: a fresh allocation of a few MiB is fresh pages,
    /// which the kernel zeroes and faults in one by one.
    spare: Mutex<Vec<Vec<u8>>>,
    /// Compression buffers, kept for the same reason.
    scratch: crate::fastpng::Scratch,
    /// Glyph outlines the card's text is drawn with.
    outlines: Outlines,
}

/// Spare pixel buffers kept, each at most [`MAX_CACHED_BACKGROUND`] bytes.
const SPARE_BUFFERS: usize = 2;

/// Horizontal bands a card's layer is drawn in (see [`draw`]).
const BANDS: u32 = 2;

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
            backgrounds: Mutex::new(HashMap::new()),
            spare: Mutex::new(Vec::new()),
            scratch: crate::fastpng::Scratch::default(),
            outlines: Outlines::new(&fonts),
        })
    }

    pub fn templates(&self) -> &Templates {
        &self.templates
    }

    pub fn fonts(&self) -> &Arc<Fonts> {
        self.templates.fonts()
    }

    /// The glyph outlines the card's text is drawn with.
    pub fn outlines(&self) -> &Outlines {
        &self.outlines
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

    /// `422` if a field has characters no loaded font can draw, or that
    /// the fonts cannot draw together: a card never shows tofu boxes.
    pub fn check_coverage(&self, card: &Card) -> Result<(), ApiError> {
        let fonts = self.fonts();
        let mut fields = vec![("role", card.role.as_str())];
        if let Some(t) = &card.tagline {
            fields.push(("tagline", t.as_str()));
        }
        if let Some(t) = &card.threat {
            fields.push(("threat", t.task.as_str()));
        }
        let unsupported = |field: &str, message: String| ApiError {
            field: Some(field.to_owned()),
            ..ApiError::new(422, "unsupported_characters", message)
        };
        for (field, text) in fields {
            let missing = fonts.missing_chars(text);
            if !missing.is_empty() {
                let list: Vec<String> = missing
                    .iter()
                    .map(|c| format!("{c:?} (U+{:04X})", *c as u32))
                    .collect();
                return Err(unsupported(
                    field,
                    format!(
                        "`{field}` has characters no installed font can draw: {}",
                        list.join(", ")
                    ),
                ));
            }
            if text.is_ascii() {
                continue;
            }
            // Templates draw fields as displayed, at regular or bold weight.
            let drawn = fonts.displayable(text);
            let measurer = crate::text::Measurer::new(fonts);
            let mut split = fonts.split_clusters(&drawn);
            for weight in [400, 700] {
                for word in measurer.undrawable_words(&drawn, weight) {
                    if !split.contains(&word) {
                        split.push(word);
                    }
                }
            }
            if !split.is_empty() {
                let list: Vec<String> = split
                    .iter()
                    .map(|s| {
                        let codes: Vec<String> =
                            s.chars().map(|c| format!("U+{:04X}", c as u32)).collect();
                        format!("{s:?} ({})", codes.join(" "))
                    })
                    .collect();
                return Err(unsupported(
                    field,
                    format!(
                        "`{field}` combines characters that the installed fonts cannot draw \
                         together: {}",
                        list.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Strong validator: template version (template source, fonts,
    /// renderer epoch), brand and the canonical card. Known without
    /// rendering.
    pub fn etag(&self, req: &CardRequest) -> String {
        use sha2::Digest;
        let version = self
            .templates
            .info(req.template.as_str())
            .map_or("", |i| i.version.as_str());
        let mut h = sha2::Sha256::new();
        for part in [
            version,
            &self.brand,
            req.template.as_str(),
            &req.canonical_query(),
        ] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        format!("\"{}\"", crate::fonts::hex(&h.finalize()[..12]))
    }

    /// The filled SVG for `req`, before rasterising.
    pub fn svg(&self, req: &CardRequest) -> anyhow::Result<SvgDoc> {
        self.templates.render_svg(req, &self.brand)
    }

    /// Parses a filled SVG with the service's fonts and restrictions.
    pub fn tree(&self, svg: &str) -> anyhow::Result<usvg::Tree> {
        Ok(usvg::Tree::from_str(svg, &self.options)?)
    }

    /// Renders one card to PNG: for a layered template, the card's own
    /// layer over the cached background; otherwise in one pass.
    pub fn render(&self, req: &CardRequest) -> anyhow::Result<Png> {
        self.render_on(req, 1)
    }

    /// [`render`](Self::render), drawing the card's layer on up to
    /// `threads` threads: the caller offers idle cores when it has them, to
    /// cut one card's latency. The pixels do not depend on `threads`.
    pub fn render_on(&self, req: &CardRequest, threads: usize) -> anyhow::Result<Png> {
        let (pixmap, opaque, pieces) = self.pixmap_and_opacity(req, threads, true)?;
        let opaque = opaque.unwrap_or_else(|| is_opaque(&pixmap));
        let (width, height) = (pixmap.width(), pixmap.height());
        let mut bytes = match pieces {
            Some(pieces) => crate::fastpng::to_png(pieces, width, height, &self.scratch)?,
            None => crate::fastpng::encode(pixmap.data(), width, height, threads, &self.scratch)?,
        };
        // The cache weighs PNGs by length; a spare capacity that `Bytes`
        // would keep alive is memory the budget does not see.
        bytes.shrink_to_fit();
        self.recycle(pixmap);
        Ok(Png {
            bytes: Bytes::from(bytes),
            width,
            height,
            is_final: false,
            opaque,
            etag: self.etag(req).into(),
        })
    }

    /// The card's pixels, by the fastest path the template allows.
    pub fn pixmap(&self, req: &CardRequest) -> anyhow::Result<tiny_skia::Pixmap> {
        Ok(self.pixmap_and_opacity(req, 1, false)?.0)
    }

    /// The card's pixels drawn on up to `threads` threads (see
    /// [`render_on`](Self::render_on)).
    pub fn pixmap_on(
        &self,
        req: &CardRequest,
        threads: usize,
    ) -> anyhow::Result<tiny_skia::Pixmap> {
        Ok(self.pixmap_and_opacity(req, threads, false)?.0)
    }

    /// Drops every cached background and spare buffer.
    pub fn forget_backgrounds(&self) {
        self.backgrounds.lock().expect("not poisoned").clear();
        self.spare.lock().expect("not poisoned").clear();
    }

    /// A pixmap of `bg`'s size, in a spare buffer when there is one. Its
    /// pixels are whatever the buffer last held: `draw` copies the
    /// background over every row before drawing.
    fn buffer_like(&self, bg: &tiny_skia::Pixmap) -> tiny_skia::Pixmap {
        let size = tiny_skia::IntSize::from_wh(bg.width(), bg.height()).expect("a pixmap's size");
        let Some(mut data) = self.spare.lock().expect("not poisoned").pop() else {
            return tiny_skia::Pixmap::new(bg.width(), bg.height()).expect("the background's size");
        };
        data.resize(bg.data().len(), 0);
        tiny_skia::Pixmap::from_vec(data, size).expect("the background's length")
    }

    fn recycle(&self, pixmap: tiny_skia::Pixmap) {
        let data = pixmap.take();
        if data.len() <= MAX_CACHED_BACKGROUND {
            let mut spare = self.spare.lock().expect("not poisoned");
            if spare.len() < SPARE_BUFFERS {
                spare.push(data);
            }
        }
    }

    /// The pixels, whether they are known to be opaque without looking
    /// (drawing over an opaque cached background keeps every pixel opaque),
    /// and, when `compress` asks for them and the layered path drew the
    /// card, the PNG's compressed pieces (see [`draw`]).
    fn pixmap_and_opacity(
        &self,
        req: &CardRequest,
        threads: usize,
        compress: bool,
    ) -> anyhow::Result<(tiny_skia::Pixmap, Option<bool>, Option<Vec<Piece>>)> {
        let layered = self
            .templates
            .info(req.template.as_str())
            .is_some_and(|i| i.layered);
        if !layered {
            return Ok((self.pixmap_one_pass(req)?, None, None));
        }
        let scale = req.scale.get();
        let fg = self
            .templates
            .render_layer(req, &self.brand, Layer::Foreground)?;
        let background = self.background(req)?;
        // The card's text is drawn from its shaped glyphs (src/glyphs.rs);
        // usvg parses only the rest.
        let items =
            match crate::glyphs::layer_items(&fg.svg, self.fonts(), &self.outlines, &self.options)?
            {
                Some(items) => items,
                None => vec![Item::Svg(Box::new(self.tree(&fg.svg)?))],
            };
        let (mut pixmap, under, opaque) = match &background {
            // Each band copies its rows of the background just before
            // drawing over them (see `draw`).
            Some((bg, opaque)) => (self.buffer_like(bg), Some(&**bg), opaque.then_some(true)),
            None => {
                let bg = self
                    .templates
                    .render_layer(req, &self.brand, Layer::Background)?;
                (rasterize(&self.tree(&bg.svg)?, scale)?, None, None)
            }
        };
        let scratch = compress.then_some(&self.scratch);
        let canvas = Canvas {
            pixmap: &mut pixmap,
            under,
            opaque: opaque == Some(true),
        };
        let pieces = draw(&items, scale, canvas, threads, scratch)?;
        Ok((pixmap, opaque, pieces))
    }

    /// The whole template in one pass, no caching: the reference the
    /// layered path must match.
    pub fn pixmap_one_pass(&self, req: &CardRequest) -> anyhow::Result<tiny_skia::Pixmap> {
        let doc = self.svg(req)?;
        rasterize(&self.tree(&doc.svg)?, req.scale.get())
    }

    /// The cached background for `req`'s template, theme and scale, drawn
    /// on first use; `None` when it is too large to keep.
    fn background(&self, req: &CardRequest) -> anyhow::Result<Option<Background>> {
        let (w, h) = self.dimensions(req).expect("template exists");
        if (w as usize) * (h as usize) * 4 > MAX_CACHED_BACKGROUND {
            return Ok(None);
        }
        let key = (req.template.as_str().to_owned(), req.theme, req.scale.get());
        if let Some(bg) = self.backgrounds.lock().expect("not poisoned").get(&key) {
            return Ok(Some(bg.clone()));
        }
        // Drawn outside the lock: two threads may both draw the first
        // background of a kind; both results are identical.
        let doc = self
            .templates
            .render_layer(req, &self.brand, Layer::Background)?;
        let pixmap = rasterize(&self.tree(&doc.svg)?, req.scale.get())?;
        let bg = (Arc::new(pixmap), false);
        let bg = (bg.0.clone(), is_opaque(&bg.0));
        self.backgrounds
            .lock()
            .expect("not poisoned")
            .insert(key, bg.clone());
        Ok(Some(bg))
    }
}

/// Where a card's layer is drawn.
struct Canvas<'a> {
    pixmap: &'a mut tiny_skia::Pixmap,
    /// A background of the pixmap's size, copied into each band just
    /// before the band is drawn: the rows are then in the drawing core's
    /// cache, and the copy is split between the threads. `None`: the
    /// pixmap already holds what the layer is drawn over.
    under: Option<&'a tiny_skia::Pixmap>,
    /// Every pixel is opaque after drawing (an opaque background), so
    /// compressing need not look for translucent rows.
    opaque: bool,
}

/// Draws `items`, in order, at `scale` over the canvas in [`BANDS`] horizontal bands,
/// on up to `threads` threads. Each band is the same drawing moved up by a
/// whole number of rows and clipped to the band by its own canvas, so the
/// bands need no coordination. tiny-skia clips a path that crosses a
/// canvas edge before it scans it, which moves a few anti-aliased edge
/// pixels of such paths by a rounding step (the fast-path test bounds the
/// difference to a one-band drawing by the golden tolerance). The bands are
/// the same whatever `threads` is, so the pixels are too: a card never
/// looks different because the server was busy.
///
/// With `compress` (buffers to compress in), each band's rows are then
/// compressed as a piece of the PNG by the thread that drew them, while
/// they are still in its cache (`None` when pieces cannot be joined; see
/// [`crate::fastpng`]).
fn draw(
    items: &[Item],
    scale: u8,
    canvas: Canvas<'_>,
    threads: usize,
    compress: Option<&crate::fastpng::Scratch>,
) -> anyhow::Result<Option<Vec<Piece>>> {
    const _: () = assert!(BANDS as usize == crate::fastpng::PIECES);
    let compress = compress.filter(|_| crate::fastpng::can_join());
    let s = f32::from(scale);
    let Canvas {
        pixmap,
        under,
        opaque,
    } = canvas;
    let (width, height) = (pixmap.width(), pixmap.height());
    let rows = height.div_ceil(BANDS);
    let stride = width as usize * 4;
    let draw_band = |band: &mut [u8], top: u32| -> std::io::Result<Option<Piece>> {
        if let Some(under) = under {
            let start = top as usize * stride;
            band.copy_from_slice(&under.data()[start..start + band.len()]);
        }
        let n = (band.len() / stride) as u32;
        let mut canvas = tiny_skia::PixmapMut::from_bytes(band, width, n).expect("a band of rows");
        let transform = tiny_skia::Transform::from_scale(s, s).post_translate(0.0, -(top as f32));
        for item in items {
            item.draw(transform, &mut canvas);
        }
        compress
            .map(|scratch| crate::fastpng::compress_rows(band, stride, opaque, scratch))
            .transpose()
    };
    let bands: Vec<(&mut [u8], u32)> = pixmap
        .data_mut()
        .chunks_mut(rows as usize * stride)
        .zip((0..).map(|i| i * rows))
        .collect();
    // The calling thread draws the first band while the others draw theirs.
    let pieces = crate::parallel::map_in_order(bands, threads, |(band, top)| draw_band(band, top));
    let pieces = pieces
        .into_iter()
        .collect::<std::io::Result<Option<Vec<_>>>>()?;
    Ok(pieces)
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

/// Encodes a pixmap as PNG for the first response, on up to `threads`
/// threads: speed over size (see [`crate::fastpng`]). With the fast
/// deflate, the Sub filter encodes the 1200×630 ML Engineer card in 1.2 ms
/// to 134 KB, Paeth in 1.9 ms to 97 KB and Up in 1.4 ms to 161 KB (best of
/// 30 on the 2-core machine, 2026-11-28): Sub, since [`recompress`] soon
/// makes the cached copy small anyway, and since Sub-filtered rows can be
/// compressed in independent pieces.
pub fn encode_png(pixmap: &tiny_skia::Pixmap, threads: usize) -> anyhow::Result<Vec<u8>> {
    let scratch = crate::fastpng::Scratch::default();
    crate::fastpng::encode(
        pixmap.data(),
        pixmap.width(),
        pixmap.height(),
        threads,
        &scratch,
    )
}

fn is_opaque(pixmap: &tiny_skia::Pixmap) -> bool {
    crate::fastpng::all_opaque(pixmap.data())
}

/// Lossless re-encoding for the cached copy and for files: RGB when the
/// card is opaque, no row filter, zlib at level 9, streamed row by row (the
/// fast encoding is read one row at a time), so it holds about 1 MiB
/// whatever the card's size. The cards are flat colour and smooth
/// gradients, which deflate finds as long repeats only unfiltered: on the
/// ML Engineer card this gives 35.5 KB in ~40 ms, where Sub gives 46 KB and
/// adaptive filtering 50 KB. oxipng (levels 8 and 10, as the issue
/// suggested) came within 7 % of the size at 3–10× the CPU time, and held
/// 10–110 MiB while it ran (a story card at 2×): memory that overlapped
/// renders and pushed the process past its budget. Best of 3 on the
/// 2-core machine.
pub fn recompress(png: &Png) -> anyhow::Result<Vec<u8>> {
    recompress_pausing(png, || {})
}

/// [`recompress`], calling `pause` before each row: the cache's background
/// recompression waits there while a render runs, so that a render never
/// shares a core with it.
pub fn recompress_pausing(png: &Png, mut pause: impl FnMut()) -> anyhow::Result<Vec<u8>> {
    use std::io::Write;
    let mut decoder = png::Decoder::new(std::io::Cursor::new(&png.bytes[..]));
    decoder.set_transformations(png::Transformations::IDENTITY);
    let mut reader = decoder.read_info()?;
    let (width, height) = (reader.info().width, reader.info().height);
    anyhow::ensure!(
        reader.info().color_type == png::ColorType::Rgba
            && reader.info().bit_depth == png::BitDepth::Eight,
        "recompress reads the fast encoding (8-bit RGBA), not {:?} {:?}",
        reader.info().color_type,
        reader.info().bit_depth
    );
    let mut out = Vec::with_capacity(png.bytes.len() / 2);
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(if png.opaque {
        png::ColorType::Rgb
    } else {
        png::ColorType::Rgba
    });
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_filter(png::Filter::NoFilter);
    encoder.set_deflate_compression(png::DeflateCompression::Level(9));
    let mut writer = encoder.write_header()?;
    let mut stream = writer.stream_writer_with_size(64 * 1024)?;
    let mut rgb = Vec::with_capacity(width as usize * 3);
    loop {
        pause();
        let Some(row) = reader.next_row()? else { break };
        if png.opaque {
            rgb.clear();
            rgb.extend(row.data().chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]));
            stream.write_all(&rgb)?;
        } else {
            stream.write_all(row.data())?;
        }
    }
    stream.finish()?;
    writer.finish()?;
    out.shrink_to_fit();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> (png::ColorType, Vec<u8>) {
        let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        decoder.set_transformations(png::Transformations::ALPHA);
        let mut reader = decoder.read_info().unwrap();
        let color = reader.info().color_type;
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        (color, buf)
    }

    /// A pixmap with gradients, hard edges and, unless `opaque`, pixels
    /// of every alpha.
    fn pixmap(w: u32, h: u32, opaque: bool) -> tiny_skia::Pixmap {
        let mut p = tiny_skia::Pixmap::new(w, h).unwrap();
        for (i, px) in p.pixels_mut().iter_mut().enumerate() {
            let (x, y) = ((i as u32 % w) as u8, (i as u32 / w) as u8);
            let a = if opaque { 255 } else { x.wrapping_mul(7) };
            let c = tiny_skia::ColorU8::from_rgba(x, y, x ^ y, a);
            *px = c.premultiply();
        }
        p
    }

    #[test]
    fn recompression_keeps_every_pixel() {
        // (width, height, opaque, color type of the small copy)
        let cases = [
            (1, 1, true, png::ColorType::Rgb),
            (300, 157, true, png::ColorType::Rgb),
            (64, 700, true, png::ColorType::Rgb),
            (300, 157, false, png::ColorType::Rgba),
            (1, 1, false, png::ColorType::Rgba),
        ];
        for (w, h, opaque, color) in cases {
            let pixmap = pixmap(w, h, opaque);
            assert_eq!(is_opaque(&pixmap), opaque);
            let fast = Png {
                bytes: encode_png(&pixmap, 1).unwrap().into(),
                width: w,
                height: h,
                is_final: false,
                opaque,
                etag: "\"test\"".into(),
            };
            let small = recompress(&fast).unwrap();
            // Pausing between rows changes nothing but when rows are read.
            let mut pauses = 0;
            let paused = recompress_pausing(&fast, || pauses += 1).unwrap();
            assert_eq!(paused, small, "{w}×{h}");
            assert_eq!(pauses, h + 1, "{w}×{h}: before each row and the end");
            let (fast_color, fast_pixels) = decode(&fast.bytes);
            let (small_color, small_pixels) = decode(&small);
            assert_eq!(fast_color, png::ColorType::Rgba, "{w}×{h}");
            assert_eq!(small_color, color, "{w}×{h}, opaque {opaque}");
            assert!(
                small_pixels == fast_pixels,
                "{w}×{h}, opaque {opaque}: pixels differ"
            );
        }
    }
}
