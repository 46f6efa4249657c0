//! Drawing a card's layer over its background in horizontal bands, on as
//! many threads as the caller offers, and rasterising whole trees.

use resvg::tiny_skia;
use resvg::usvg;

use super::BANDS;
use super::glyphs::Item;
use crate::encode::fast::{Kept, Segment};

/// Where a card's layer is drawn.
pub(super) struct Canvas<'a> {
    pub(super) pixmap: &'a mut tiny_skia::Pixmap,
    /// A background of the pixmap's size, copied into each band just
    /// before the band is drawn: the rows are then in the drawing core's
    /// cache, and the copy is split between the threads. With it, its
    /// rows compressed once, for the chunks the layer leaves untouched.
    pub(super) under: (&'a tiny_skia::Pixmap, &'a Kept),
    /// Every pixel is opaque after drawing (an opaque background), so
    /// compressing need not look for translucent rows.
    pub(super) opaque: bool,
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
/// compressed as segments of the PNG by the thread that drew them, while
/// they are still in its cache (see [`crate::encode::fast`]).
pub(super) fn draw(
    items: &[Item],
    scale: u8,
    canvas: Canvas<'_>,
    threads: usize,
    compress: Option<&crate::encode::fast::Scratch>,
) -> anyhow::Result<Option<Vec<Segment>>> {
    const _: () = assert!(BANDS as usize == crate::encode::fast::PIECES);
    let s = f32::from(scale);
    let Canvas {
        pixmap,
        under,
        opaque,
    } = canvas;
    let (width, height) = (pixmap.width(), pixmap.height());
    let rows = height.div_ceil(BANDS);
    let stride = width as usize * 4;
    let draw_band = |band: &mut [u8], top: u32| -> std::io::Result<Option<Vec<Segment>>> {
        let (under, kept) = under;
        let start = top as usize * stride;
        band.copy_from_slice(&under.data()[start..start + band.len()]);
        let n = (band.len() / stride) as u32;
        let mut canvas = tiny_skia::PixmapMut::from_bytes(band, width, n).expect("a band of rows");
        let transform = tiny_skia::Transform::from_scale(s, s).post_translate(0.0, -(top as f32));
        for item in items {
            item.draw(transform, &mut canvas);
        }
        let Some(scratch) = compress else {
            return Ok(None);
        };
        crate::encode::fast::band_segments(
            band,
            top as usize,
            under.data(),
            stride,
            opaque,
            kept,
            scratch,
        )
        .map(Some)
    };
    let bands: Vec<(&mut [u8], u32)> = pixmap
        .data_mut()
        .chunks_mut(rows as usize * stride)
        .zip((0..).map(|i| i * rows))
        .collect();
    // With threads to spare, the pool draws the bands side by side.
    let bands = crate::parallel::map_in_order(bands, threads, |(band, top)| draw_band(band, top));
    let bands = bands
        .into_iter()
        .collect::<std::io::Result<Option<Vec<_>>>>()?;
    Ok(bands.map(|bands| bands.into_iter().flatten().collect()))
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
