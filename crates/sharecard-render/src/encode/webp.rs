//! WebP, lossless: the same pixels as the PNG in fewer bytes, for the
//! pages that embed cards.
//!
//! Two encoders, as for PNG. The first response is image-webp's (pure
//! Rust): about as large as the PNG draft, but fast enough that a cold
//! `.webp` costs little more than a cold `.png`. libwebp (built from
//! source by `libwebp-sys`, called through the `webp` crate's safe
//! wrapper) then writes the bytes caches keep, on the recompression
//! thread. libwebp at any level that reaches 0.65 × the final PNG took
//! several times a whole cold PNG on the report card, and image-webp's
//! bytes alone are larger than our final PNG (`examples/webp_choices.rs`
//! compares the encoders; `bench/webp.sh` measures the result over HTTP).
//!
//! Memory: both encoders want the whole frame. image-webp copies it (so
//! a story at 3× holds 2 × 71 MiB while it is encoded), and libwebp's
//! lossless encoder holds about 18 bytes a pixel besides (a story at 3×:
//! 330 MB). So libwebp only encodes cards of at most
//! [`RECOMPRESSED_MAX_PIXELS`] (every template at 1×, the sizes pages
//! embed: about 45 MB for a story), and larger cards keep image-webp's
//! bytes. And one at a time ([`whole_frame`]): a large card's whole
//! frame, which otherwise never exists (`render/strips.rs`), or a libwebp
//! encoding. The memory bound `bench/soak.sh` checks adds that one frame.

use std::sync::{Mutex, MutexGuard};

use resvg::tiny_skia;

use super::fast::{all_opaque, demultiply};

/// Cards of at most this many pixels get libwebp's small encoding after
/// the first: a story at 1× (1080 × 1920), so every template at 1×.
/// libwebp holds about 40 MB for one this size.
pub(crate) const RECOMPRESSED_MAX_PIXELS: u64 = 1080 * 1920;

/// libwebp's lossless preset 3 (`WebPConfigLosslessPreset`, `cwebp -z
/// 3`): method 3, quality 30. The lowest level that reaches 0.65 × the
/// final PNG on the report card (0.60 ×; level 1 gives 0.70 ×;
/// `examples/webp_choices.rs`); higher levels save a few percent more
/// for more time.
const LIBWEBP_METHOD: i32 = 3;
const LIBWEBP_QUALITY: f32 = 30.0;

/// Held by whoever holds a large card's whole frame for WebP (see the
/// module's doc).
static WHOLE_FRAME: Mutex<()> = Mutex::new(());

/// Waits until no other large card's whole frame exists, and holds that
/// until the guard drops.
pub(crate) fn whole_frame() -> MutexGuard<'static, ()> {
    // A panic while encoding leaves nothing behind that the next needs.
    WHOLE_FRAME.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether a card of `width` × `height` gets libwebp's encoding after the
/// first (when recompression is on).
pub fn recompresses(width: u32, height: u32) -> bool {
    u64::from(width) * u64::from(height) <= RECOMPRESSED_MAX_PIXELS
}

/// The first encoding, by image-webp, of tiny-skia's premultiplied
/// pixels.
pub(crate) fn encode_fast(pixmap: &tiny_skia::Pixmap, opaque: bool) -> anyhow::Result<Vec<u8>> {
    let (width, height) = (pixmap.width(), pixmap.height());
    let mut straight = Vec::new();
    // Opaque premultiplied pixels are their straight selves.
    let rgba = if opaque || all_opaque(pixmap.data()) {
        pixmap.data()
    } else {
        demultiply(pixmap.data(), &mut straight);
        &straight
    };
    let mut out = Vec::with_capacity(rgba.len() / 32);
    image_webp::WebPEncoder::new(&mut out).encode(
        rgba,
        width,
        height,
        image_webp::ColorType::Rgba8,
    )?;
    out.shrink_to_fit();
    Ok(out)
}

/// libwebp's encoding of the pixels of `webp` (a WebP this crate wrote),
/// or `None` for a card too large for it ([`recompresses`]): then the
/// first encoding is the one it keeps.
pub fn recompress_webp(webp: &[u8]) -> anyhow::Result<Option<Vec<u8>>> {
    let mut decoder = image_webp::WebPDecoder::new(std::io::Cursor::new(webp))?;
    let (width, height) = decoder.dimensions();
    if !recompresses(width, height) {
        return Ok(None);
    }
    // libwebp's state is several frames' worth (see the module's doc):
    // counted with the one whole frame at a time.
    let _frame = whole_frame();
    let size = decoder
        .output_buffer_size()
        .ok_or_else(|| anyhow::anyhow!("a {width}×{height} WebP too large to decode"))?;
    let mut pixels = vec![0; size];
    decoder.read_image(&mut pixels)?;
    let encoder = if decoder.has_alpha() {
        webp::Encoder::from_rgba(&pixels, width, height)
    } else {
        webp::Encoder::from_rgb(&pixels, width, height)
    };
    let mut config =
        webp::WebPConfig::new().map_err(|()| anyhow::anyhow!("libwebp's configuration"))?;
    config.lossless = 1;
    config.method = LIBWEBP_METHOD;
    config.quality = LIBWEBP_QUALITY;
    // Keep the colour of transparent pixels: the same pixels as the PNG.
    config.exact = 1;
    let out = encoder
        .encode_advanced(&config)
        .map_err(|e| anyhow::anyhow!("libwebp: {e:?}"))?;
    Ok(Some(out.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes with libwebp (whichever encoder wrote it) to straight RGBA.
    fn decode(bytes: &[u8]) -> Vec<u8> {
        let image = webp::Decoder::new(bytes).decode().expect("a WebP");
        if image.is_alpha() {
            image.to_vec()
        } else {
            image
                .chunks_exact(3)
                .flat_map(|p| [p[0], p[1], p[2], 255])
                .collect()
        }
    }

    fn pixmap(w: u32, h: u32, opaque: bool) -> tiny_skia::Pixmap {
        let mut p = tiny_skia::Pixmap::new(w, h).unwrap();
        for (i, px) in p.pixels_mut().iter_mut().enumerate() {
            let (x, y) = ((i as u32 % w) as u8, (i as u32 / w) as u8);
            let a = if opaque { 255 } else { x.wrapping_mul(7) };
            *px = tiny_skia::ColorU8::from_rgba(x, y, x ^ y, a).premultiply();
        }
        p
    }

    #[test]
    fn both_encodings_keep_every_pixel() {
        for (w, h, opaque) in [(1, 1, true), (300, 157, true), (300, 157, false)] {
            let p = pixmap(w, h, opaque);
            let mut want = Vec::new();
            demultiply(p.data(), &mut want);
            let fast = encode_fast(&p, opaque).unwrap();
            assert!(decode(&fast) == want, "{w}×{h}, opaque {opaque}: first");
            let small = recompress_webp(&fast).unwrap().expect("small enough");
            assert!(decode(&small) == want, "{w}×{h}, opaque {opaque}: small");
        }
    }

    #[test]
    fn only_cards_up_to_1x_get_libwebp() {
        assert!(recompresses(1080, 1920) && recompresses(1200, 630));
        assert!(!recompresses(2400, 1260) && !recompresses(1080 * 2, 1920 * 2));
        let big = encode_fast(&pixmap(2400, 1, true), true).unwrap();
        assert!(recompress_webp(&big).unwrap().is_some());
        let big = encode_fast(&pixmap(2400, 1260, true), true).unwrap();
        assert!(recompress_webp(&big).unwrap().is_none());
    }
}
