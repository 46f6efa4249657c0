//! Large cards drawn and encoded in horizontal strips, so that no whole
//! pixmap of theirs ever exists.
//!
//! A story at 3× is 75 MB of pixels, and resvg has no memory limit of its
//! own: two of them rendering at once, with their backgrounds, were most
//! of the memory a server used beyond its cache. A card larger than
//! [`FULL_PIXMAP_MAX`] is instead cut into [`STRIP_ROWS`]-row strips,
//! each drawn into a buffer of its own and compressed at once:
//!
//! - a strip none of the card's items reach is its background's
//!   [`Kept`] chunks, compressed once per template, theme and scale (the
//!   first time, from the background drawn into the strip);
//! - a strip an item reaches gets its background from those chunks
//!   (inflated) or, before they exist, drawn; then the items are drawn
//!   over it, and its rows join the band's fresh piece.
//!
//! A template drawn in one pass has no background of its own: its whole
//! tree is drawn into each strip. Every strip is the same drawing moved up
//! by a whole number of rows and clipped by its canvas, as the bands of
//! `draw` are, so the pixels do not depend on the number of threads.

use resvg::tiny_skia;
use resvg::usvg;

use super::glyphs::Item;
use crate::encode::fast::{CHUNK_ROWS, FreshRun, Kept, Scratch, Segment};

pub(crate) use crate::encode::FULL_PIXMAP_MAX;

/// Rows in a strip: sixteen of the background's chunks. A path crossing
/// a strip's edge is clipped there, which moves some of its anti-aliased
/// pixels; the fewer edges, the fewer such pixels. At 128 rows a sample
/// card at 2× had 0.055 % of its pixels off the one-pass render by more
/// than the golden tolerance, over the 0.05 % the `layered` test allows.
pub(crate) const STRIP_ROWS: usize = 16 * CHUNK_ROWS;

/// Device pixels added above and below each item's bounds: anti-aliasing
/// reaches one pixel out, and a stroke's half-width is in the layer bounds.
const MARGIN: f32 = 2.0;

/// A large card to draw.
pub(crate) struct Large<'a> {
    /// Drawn over the background, in order.
    pub(crate) items: &'a [Item],
    /// Drawn first into every strip: the template's background layer, or
    /// for a one-pass template the whole card.
    pub(crate) under: &'a usvg::Tree,
    /// The background's chunks at this scale; `None` for a one-pass
    /// template (no strip is background only).
    pub(crate) kept: Option<&'a Kept>,
    pub(crate) scale: u8,
    pub(crate) width: u32,
    pub(crate) height: u32,
}

impl Large<'_> {
    fn stride(&self) -> usize {
        self.width as usize * 4
    }

    fn transform(&self, top: usize) -> tiny_skia::Transform {
        let s = f32::from(self.scale);
        tiny_skia::Transform::from_scale(s, s).post_translate(0.0, -(top as f32))
    }

    /// The rows (device pixels, top inclusive, bottom exclusive) each item
    /// may draw on.
    fn reach(&self) -> Vec<(f32, f32)> {
        let s = f32::from(self.scale);
        self.items
            .iter()
            .flat_map(|item| -> Vec<(f32, f32)> {
                match item {
                    Item::Svg(tree) => {
                        let b = tree.root().abs_layer_bounding_box();
                        vec![(b.top(), b.bottom())]
                    }
                    Item::Text(lines, _) => lines
                        .iter()
                        .map(|p| (p.bounds().top(), p.bounds().bottom()))
                        .collect(),
                }
            })
            .map(|(top, bottom)| (top * s - MARGIN, bottom * s + MARGIN))
            .collect()
    }

    /// Draws the background of strip `top..` into `buf` (as many rows as
    /// it holds): from `kept` when its chunks are there and opaque, else
    /// drawn. Returns whether it was drawn.
    fn fill_background(&self, top: usize, buf: &mut [u8]) -> bool {
        let stride = self.stride();
        let inflated = self.kept.is_some_and(|kept| {
            buf.chunks_mut(CHUNK_ROWS * stride)
                .enumerate()
                .all(|(i, chunk)| kept.inflate_into(top / CHUNK_ROWS + i, chunk, stride))
        });
        if !inflated {
            let mut canvas = self.canvas(buf);
            canvas.fill(tiny_skia::Color::TRANSPARENT);
            resvg::render(self.under, self.transform(top), &mut canvas);
        }
        !inflated
    }

    /// Draws the items over strip `top..` in `buf`.
    fn draw_items(&self, top: usize, buf: &mut [u8]) {
        let mut canvas = self.canvas(buf);
        for item in self.items {
            item.draw(self.transform(top), &mut canvas);
        }
    }

    fn canvas<'b>(&self, buf: &'b mut [u8]) -> tiny_skia::PixmapMut<'b> {
        let rows = (buf.len() / self.stride()) as u32;
        tiny_skia::PixmapMut::from_bytes(buf, self.width, rows).expect("a strip of rows")
    }

    /// The strips' tops, in bands of consecutive strips, one band per
    /// piece of work.
    fn bands(&self) -> Vec<Vec<usize>> {
        let tops: Vec<usize> = (0..self.height as usize).step_by(STRIP_ROWS).collect();
        let per_band = tops.len().div_ceil(crate::encode::fast::PIECES).max(1);
        tops.chunks(per_band).map(<[usize]>::to_vec).collect()
    }

    fn strip_rows(&self, top: usize) -> usize {
        STRIP_ROWS.min(self.height as usize - top)
    }
}

/// The card's PNG rows as segments, and whether every pixel is opaque,
/// drawn and compressed strip by strip on up to `threads` threads.
pub(crate) fn encode(
    large: &Large<'_>,
    threads: usize,
    scratch: &Scratch,
) -> std::io::Result<(Vec<Segment>, bool)> {
    let reach = large.reach();
    let stride = large.stride();
    let band = |tops: Vec<usize>| -> std::io::Result<(Vec<Segment>, bool)> {
        let mut buf = vec![0u8; STRIP_ROWS * stride];
        let mut segments = Vec::new();
        let mut opaque = true;
        let mut run = FreshRun::new(stride, scratch);
        for top in tops {
            let rows = large.strip_rows(top);
            let buf = &mut buf[..rows * stride];
            let (a, b) = (top as f32, (top + rows) as f32);
            let touched = reach.iter().any(|&(t, u)| t < b && u > a);
            match large.kept {
                Some(kept) if !touched => {
                    let chunks = (top / CHUNK_ROWS)..(top + rows).div_ceil(CHUNK_ROWS);
                    if chunks.clone().any(|n| kept.get(n).is_none()) {
                        large.fill_background(top, buf);
                        for (n, rows) in chunks.clone().zip(buf.chunks(CHUNK_ROWS * stride)) {
                            kept.chunk_of(n, rows, stride, false)?;
                        }
                    }
                    if let Some(piece) =
                        std::mem::replace(&mut run, FreshRun::new(stride, scratch)).finish()?
                    {
                        opaque &= piece.opaque();
                        segments.push(Segment::Fresh(piece));
                    }
                    for n in chunks {
                        opaque &= kept.get(n).is_some_and(|p| p.opaque());
                        segments.push(Segment::Kept(n));
                    }
                }
                _ => {
                    if large.fill_background(top, buf)
                        && let Some(kept) = large.kept
                    {
                        // Drawn rather than inflated: keep the chunks just
                        // drawn, for the strips of later cards.
                        for (i, rows) in buf.chunks(CHUNK_ROWS * stride).enumerate() {
                            kept.chunk_of(top / CHUNK_ROWS + i, rows, stride, false)?;
                        }
                    }
                    large.draw_items(top, buf);
                    run.push(buf, false)?;
                }
            }
        }
        if let Some(piece) = run.finish()? {
            opaque &= piece.opaque();
            segments.push(Segment::Fresh(piece));
        }
        Ok((segments, opaque))
    };
    let bands = crate::parallel::map_in_order(large.bands(), threads, band);
    let mut segments = Vec::new();
    let mut opaque = true;
    for band in bands {
        let (s, o) = band?;
        segments.extend(s);
        opaque &= o;
    }
    Ok((segments, opaque))
}

/// The card's pixels, drawn strip by strip exactly as [`encode`] draws
/// them (for callers that want pixels, not a PNG: tests and `check`).
pub fn pixmap(large: &Large<'_>) -> anyhow::Result<tiny_skia::Pixmap> {
    let mut pixmap = tiny_skia::Pixmap::new(large.width, large.height)
        .ok_or_else(|| anyhow::anyhow!("cannot allocate {}x{}", large.width, large.height))?;
    let stride = large.stride();
    for (i, rows) in pixmap
        .data_mut()
        .chunks_mut(STRIP_ROWS * stride)
        .enumerate()
    {
        large.fill_background(i * STRIP_ROWS, rows);
        large.draw_items(i * STRIP_ROWS, rows);
    }
    Ok(pixmap)
}
