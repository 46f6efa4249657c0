//! PNG encoding: the fast first encoding ([`fast`]) and the small
//! lossless one the cache keeps ([`recompress`]); WebP ([`webp`]).

use std::sync::Arc;

use bytes::Bytes;
use resvg::tiny_skia;

pub mod fast;
pub mod webp;

/// Cards with more bytes of pixels than this are drawn in strips (`render/strips.rs`). An Open
/// Graph card at 1× (1200 × 630, 3 MB) and smaller keep the one-pixmap
/// path, whose background is one copy kept drawn: the fastest, for the
/// card crawlers fetch. A story at 1× would hold 8 MB twice.
pub(crate) const FULL_PIXMAP_MAX: usize = 4 * 1024 * 1024;

/// Which encoder wrote a PNG's bytes. Each is a pure function of the
/// pixels (the fast one splits rows into a fixed number of pieces, not
/// one per thread), and the pixels are a pure function of the card, so a
/// card's identity plus its encoding names exactly one body: a strong
/// ETag ([`Renderer::etag`](crate::render::Renderer::etag)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// [`encode_png`]: the first response's encoding, speed over size.
    Fast,
    /// [`recompress`]: lossless, small, what a cache should keep.
    Small,
    /// WebP by image-webp ([`webp`]): the first `.webp` response, and the
    /// bytes kept of cards too large for libwebp.
    WebpFast,
    /// WebP by libwebp ([`webp::recompress_webp`]): small, what a cache
    /// should keep.
    Webp,
}

impl Encoding {
    /// What the encoding adds to a card's ETag, inside the quotes. The
    /// fast encoder's generation is part of it: a new fast encoder writes
    /// other bytes for the same pixels, and a cache revalidating a draft
    /// of the old one must not be told it still has them.
    fn tag_suffix(self) -> &'static str {
        match self {
            Encoding::Fast => "-z26-fast",
            Encoding::Small => "",
            // Named for its encoder, not "-fast": for cards too large
            // for libwebp these are the final bytes.
            Encoding::WebpFast => "-webp-iw",
            // libwebp's preset: another level writes other bytes.
            Encoding::Webp => "-webp-z3",
        }
    }

    /// The `Content-Type` of bytes in this encoding.
    pub fn media_type(self) -> &'static str {
        match self {
            Encoding::Fast | Encoding::Small => "image/png",
            Encoding::WebpFast | Encoding::Webp => "image/webp",
        }
    }
}

/// The strong ETag of `card_tag`'s card (hex, unquoted) in `encoding`.
pub fn etag(card_tag: &str, encoding: Encoding) -> String {
    format!("\"{card_tag}{}\"", encoding.tag_suffix())
}

/// A finished image: a PNG, or the same pixels as WebP (its
/// [`encoding`](Png::encoding) says which).
#[derive(Debug, Clone)]
pub struct Png {
    pub bytes: Bytes,
    pub width: u32,
    pub height: u32,
    /// Whether these are the bytes this card will keep (recompressed, or
    /// recompression is off): a response with other bytes is a draft, and
    /// says so with a short freshness lifetime.
    pub is_final: bool,
    /// Every pixel is opaque (the PNG may still carry an alpha channel).
    pub opaque: bool,
    /// The encoder that wrote `bytes`.
    pub encoding: Encoding,
    /// The ETag of exactly these bytes ([`etag`]), kept with them so that
    /// a cache hit does not hash the card again.
    pub etag: Arc<str>,
    /// Where the render that made this image spent its time.
    pub timings: Timings,
}

/// Where one render spent its time, for `Server-Timing`: a slow miss
/// says which stage was slow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    /// Waiting for a render thread (set by the caller that queues).
    pub queue: std::time::Duration,
    /// Filling the template: text shaped, fitted and laid out.
    pub fit: std::time::Duration,
    /// Rasterising. Layered templates deflate each band as it is drawn,
    /// on the drawing threads, so their compression is counted here.
    pub render: std::time::Duration,
    /// Writing the PNG (for layered templates: joining the bands).
    pub encode: std::time::Duration,
}

impl Png {
    /// The same image as `bytes` in `encoding`, final, with the ETag that
    /// names them.
    pub fn reencoded(&self, bytes: Bytes, encoding: Encoding) -> Png {
        let quoted = self.etag.trim_matches('"');
        let card_tag = quoted
            .strip_suffix(self.encoding.tag_suffix())
            .unwrap_or(quoted);
        Png {
            bytes,
            encoding,
            is_final: true,
            etag: etag(card_tag, encoding).into(),
            ..self.clone()
        }
    }
}

/// Encodes a pixmap as PNG for the first response, on up to `threads`
/// threads (see [`fast`]): what a template without a cached background
/// gets, where the card's rows are not drawn band by band.
pub fn encode_png(pixmap: &tiny_skia::Pixmap, threads: usize) -> anyhow::Result<Vec<u8>> {
    let scratch = fast::Scratch::default();
    fast::encode(
        pixmap.data(),
        pixmap.width(),
        pixmap.height(),
        threads,
        &scratch,
    )
}

pub(crate) fn is_opaque(pixmap: &tiny_skia::Pixmap) -> bool {
    fast::all_opaque(pixmap.data())
}

/// Lossless re-encoding for the cached copy and for files: RGB when the
/// card is opaque, no row filter, zlib at level 9, streamed row by row (the
/// fast encoding is read one row at a time), so what it holds does not
/// grow with the card's size. The cards are flat colour and smooth
/// gradients, which deflate finds as long repeats only unfiltered
/// (`examples/deflate_choices.rs` compares the filters; `bench/loadtest.sh`
/// prints the final bytes). oxipng came close in size, but at a multiple
/// of the CPU and with memory that overlapped renders (`bench/RESULTS.md`,
/// "Fast first encoding").
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
    fn each_encoding_has_its_own_etag() {
        let fast = Png {
            bytes: Bytes::from_static(b"fast"),
            width: 1,
            height: 1,
            is_final: false,
            opaque: true,
            encoding: Encoding::Fast,
            etag: etag("0a1b", Encoding::Fast).into(),
            timings: Timings::default(),
        };
        assert_eq!(&*fast.etag, "\"0a1b-z26-fast\"");
        let small = fast.reencoded(Bytes::from_static(b"small"), Encoding::Small);
        assert_eq!(&*small.etag, "\"0a1b\"");
        assert!(small.is_final && small.encoding == Encoding::Small);
        // Kept as it was: the same bytes, the same tag.
        let kept = fast.reencoded(fast.bytes.clone(), Encoding::Fast);
        assert_eq!(kept.etag, fast.etag);
        assert!(kept.is_final);
        let back = small.reencoded(Bytes::from_static(b"fast"), Encoding::Fast);
        assert_eq!(back.etag, fast.etag);
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
                encoding: Encoding::Fast,
                etag: etag("test", Encoding::Fast).into(),
                timings: Timings::default(),
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
