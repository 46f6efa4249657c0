//! The first, fast PNG encoding of a card, on more than one thread.
//!
//! A PNG holds one zlib stream, and deflate is sequential, so the png crate
//! encodes on one thread: a quarter of a card's render (`stage/encode_png/1`
//! against `render/end_to_end` in the `pipeline` bench). Rows filtered with
//! Sub depend on
//! nothing above them, so the image can be cut into horizontal pieces, each
//! compressed on its own thread by fdeflate (the png crate's fast backend),
//! and the pieces joined into one valid stream. The renderer compresses
//! each band of a card in the thread that drew it, right after drawing it
//! (`render::draw`); [`encode`] does the same for a finished pixmap.
//!
//! Joining:
//!
//! - every piece but the last is made non-final (its block header's BFINAL
//!   bit cleared) and followed by an empty stored block, which brings the
//!   bit stream back to a byte boundary where the next piece's block can
//!   start (what zlib calls a sync flush);
//! - the Adler-32 of the whole is combined from the pieces' checksums.
//!
//! Placing the stored block needs to know where the piece's end-of-block
//! code stops within its last byte. fdeflate pads with zero bits after it,
//! so this is the last byte's highest set bit *if* the end-of-block code
//! ends in a 1 bit. That depends on fdeflate's fixed Huffman table, not on
//! the data, so [`can_join`] checks it once per process by encoding,
//! joining and decoding a test image; if it ever fails (a new fdeflate),
//! cards are encoded on one thread as before. The png crate writes the
//! container (signature, IHDR, the IDAT chunk, IEND and CRCs).

use std::sync::{Mutex, OnceLock};

/// Pieces an image is compressed in: as many as the 2-core machine can
/// use. Fixed, not taken from the threads a render has, so that a card's
/// bytes never depend on how busy the server was.
pub const PIECES: usize = 2;

/// Images smaller than this are compressed in one piece: the joining is
/// not worth it.
const MIN_SPLIT_BYTES: usize = 256 * 1024;

/// A run of an image's rows compressed on its own: a complete fdeflate
/// zlib stream of the rows, Sub-filtered, straight alpha.
pub struct Piece {
    zlib: Vec<u8>,
    rows: usize,
}

/// Buffers kept between encodes for the compressed pieces and their join.
///
/// They are 64 KiB and more, which the server's allocator takes straight
/// from the kernel and gives back on free (`sys::tune_allocator`, for the
/// sake of RSS): allocated fresh, each is pages the kernel zeroes and
/// faults in one at a time, and freeing it costs every core a TLB flush.
/// Kept, with the PNG allocated once at its size, a cold card takes less
/// than half the page faults (`perf stat` over `bench/loadtest.sh`'s cold
/// phase). Only the finished PNG, which the cache keeps, is a fresh
/// allocation.
#[derive(Default)]
pub struct Scratch {
    free: Mutex<Vec<Vec<u8>>>,
}

/// Buffers a [`Scratch`] keeps: one per piece and one for their join.
const SCRATCH_BUFFERS: usize = PIECES + 1;

/// Larger buffers (from the rare huge card) are not kept.
const MAX_SCRATCH_BYTES: usize = 4 * 1024 * 1024;

impl Scratch {
    fn take(&self) -> Vec<u8> {
        self.free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_default()
    }

    fn give(&self, mut buf: Vec<u8>) {
        if buf.capacity() > MAX_SCRATCH_BYTES {
            return;
        }
        buf.clear();
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        if free.len() < SCRATCH_BUFFERS {
            free.push(buf);
        }
    }
}

/// Whether every pixel of premultiplied RGBA is opaque. ANDs whole pixels
/// rather than stopping at the first translucent one, so that it
/// vectorises (opaque rows, the common case, are read to the end anyway):
/// 0.15 ms off a card rendered on one thread (`render/end_to_end` in the
/// `pipeline` bench).
pub fn all_opaque(rgba: &[u8]) -> bool {
    let words = rgba.chunks_exact(4);
    let tail_opaque = words.remainder().is_empty();
    let alpha = words.fold(u32::MAX, |acc, p| {
        acc & u32::from_le_bytes(p.try_into().expect("four bytes"))
    }) >> 24;
    tail_opaque && alpha == 0xff
}

/// Compresses rows of tiny-skia's premultiplied RGBA (`stride` bytes a
/// row) into a [`Piece`], in a buffer from `scratch`. Rows with
/// translucent pixels are converted to the straight alpha PNG wants (an
/// opaque pixel is the same either way); `opaque` says the caller knows
/// there are none, and skips looking.
pub fn compress_rows(
    premultiplied: &[u8],
    stride: usize,
    opaque: bool,
    scratch: &Scratch,
) -> std::io::Result<Piece> {
    let mut out = scratch.take();
    out.reserve(premultiplied.len() / 8);
    let mut compressor = fdeflate::Compressor::new(out)?;
    let mut line = vec![0u8; stride + 1];
    line[0] = 1; // Sub
    let mut straight = Vec::new();
    let mut rows = 0;
    for row in premultiplied.chunks_exact(stride) {
        let row = if opaque || all_opaque(row) {
            row
        } else {
            demultiply(row, &mut straight);
            &straight
        };
        sub_filter(row, &mut line[1..]);
        compressor.write_data(&line)?;
        rows += 1;
    }
    Ok(Piece {
        zlib: compressor.finish()?,
        rows,
    })
}

fn demultiply(row: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend(row.chunks_exact(4).flat_map(|p| {
        match resvg::tiny_skia::PremultipliedColorU8::from_rgba(p[0], p[1], p[2], p[3]) {
            Some(c) => {
                let c = c.demultiply();
                [c.red(), c.green(), c.blue(), c.alpha()]
            }
            // Not premultiplied (cannot come from tiny-skia): as it is.
            None => [p[0], p[1], p[2], p[3]],
        }
    }));
}

fn sub_filter(row: &[u8], out: &mut [u8]) {
    out[..4].copy_from_slice(&row[..4]);
    for ((o, &x), &left) in out[4..].iter_mut().zip(&row[4..]).zip(row) {
        *o = x.wrapping_sub(left);
    }
}

/// Bytes of a PNG besides its one IDAT chunk's data: the signature, IHDR,
/// IDAT's length, type and CRC, and IEND.
const CONTAINER_BYTES: usize = 8 + 25 + 12 + 12;

/// The PNG (8-bit RGBA) of `width` × `height` whose rows, top to bottom,
/// are the pieces' rows. The pieces' buffers go back to `scratch`; the PNG
/// is allocated once, at its exact size.
pub fn to_png(
    pieces: Vec<Piece>,
    width: u32,
    height: u32,
    scratch: &Scratch,
) -> anyhow::Result<Vec<u8>> {
    let stride = width as usize * 4;
    let rows: usize = pieces.iter().map(|p| p.rows).sum();
    let mut zlib = scratch.take();
    let joined = if width > 0 && rows == height as usize {
        join(
            &pieces.iter().map(|p| p.zlib.as_slice()).collect::<Vec<_>>(),
            pieces.iter().map(|p| p.rows * (stride + 1)),
            &mut zlib,
        )
    } else {
        Err(anyhow::anyhow!(
            "pieces of {rows} rows for a {width}×{height} image"
        ))
    };
    for piece in pieces {
        scratch.give(piece.zlib);
    }
    let png = joined.and_then(|()| {
        let mut out = Vec::with_capacity(zlib.len() + CONTAINER_BYTES);
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header()?;
        writer.write_chunk(png::chunk::IDAT, &zlib)?;
        writer.finish()?;
        Ok(out)
    });
    scratch.give(zlib);
    png
}

/// Encodes tiny-skia's premultiplied RGBA (`width * height * 4` bytes) as
/// a PNG, in [`PIECES`] pieces on up to `threads` threads (one piece when
/// the image is small or joining is unavailable).
pub fn encode(
    premultiplied: &[u8],
    width: u32,
    height: u32,
    threads: usize,
    scratch: &Scratch,
) -> anyhow::Result<Vec<u8>> {
    let stride = width as usize * 4;
    anyhow::ensure!(
        width > 0 && height > 0 && premultiplied.len() == stride * height as usize,
        "{} bytes are not {width}×{height} RGBA",
        premultiplied.len()
    );
    let pieces = if premultiplied.len() >= MIN_SPLIT_BYTES && can_join() {
        PIECES.min(height as usize)
    } else {
        1
    };
    let per_piece = (height as usize).div_ceil(pieces) * stride;
    let chunks: Vec<&[u8]> = premultiplied.chunks(per_piece).collect();
    let compressed = crate::parallel::map_in_order(chunks, threads, |rows| {
        compress_rows(rows, stride, false, scratch)
    });
    let pieces = compressed
        .into_iter()
        .collect::<std::io::Result<Vec<_>>>()?;
    to_png(pieces, width, height, scratch)
}

/// Joins complete zlib streams (as fdeflate writes them: a 2-byte header,
/// one block, zero padding, a big-endian Adler-32) of data of the given
/// lengths into one stream of the concatenated data, in `out` (cleared).
fn join(
    streams: &[&[u8]],
    lengths: impl Iterator<Item = usize>,
    out: &mut Vec<u8>,
) -> anyhow::Result<()> {
    out.clear();
    if let [only] = streams {
        out.extend_from_slice(only);
        return Ok(());
    }
    let total: usize = streams.iter().map(|s| s.len()).sum();
    out.reserve(total + 5 * streams.len());
    out.extend_from_slice(&streams[0][..2]);
    let mut adler: Option<u32> = None;
    for ((i, stream), len) in streams.iter().enumerate().zip(lengths) {
        anyhow::ensure!(
            stream.len() > 6,
            "a zlib stream has a header and a checksum"
        );
        let (body, trailer) = stream[2..].split_at(stream.len() - 6);
        let piece_adler = u32::from_be_bytes(trailer.try_into().expect("four bytes"));
        adler = Some(match adler {
            None => piece_adler,
            Some(a) => adler32_combine(a, piece_adler, len),
        });
        let start = out.len();
        out.extend_from_slice(body);
        if i + 1 < streams.len() {
            // Not the last block any more.
            out[start] &= !1;
            // The padding after the end-of-block code: zeros above the
            // last byte's highest set bit (see the module comment).
            let last = *body.last().expect("a block has bytes");
            anyhow::ensure!(last != 0, "the block ends in a zero byte");
            let padding = last.leading_zeros();
            // An empty stored block: a 3-bit header (not final, type 00),
            // zeros to the byte boundary, LEN 0 and its complement. Its
            // header fits in the padding when there are 3 bits of it;
            // otherwise one more zero byte completes it.
            if padding < 3 {
                out.push(0);
            }
            out.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]);
        }
    }
    out.extend_from_slice(&adler.expect("at least one stream").to_be_bytes());
    Ok(())
}

/// The Adler-32 of `a ++ b` from those of `a` and `b` (`b` is `len_b`
/// bytes), as zlib's `adler32_combine`.
fn adler32_combine(adler_a: u32, adler_b: u32, len_b: usize) -> u32 {
    const BASE: u64 = 65521;
    let rem = len_b as u64 % BASE;
    let (a1, b1) = (u64::from(adler_a & 0xffff), u64::from(adler_a >> 16));
    let (a2, b2) = (u64::from(adler_b & 0xffff), u64::from(adler_b >> 16));
    let sum1 = (a1 + a2 + BASE - 1) % BASE;
    let sum2 = (rem * a1 + b1 + b2 + BASE - rem) % BASE;
    (sum1 | (sum2 << 16)) as u32
}

/// Whether an image's rows may be compressed in several pieces and joined
/// by [`to_png`]; when not, compress all rows as one piece. Checked once
/// per process: joined pieces of a test image must inflate to its rows.
pub fn can_join() -> bool {
    static WORKS: OnceLock<bool> = OnceLock::new();
    *WORKS.get_or_init(|| {
        let (w, h) = (97, 64);
        let rgba: Vec<u8> = (0..w * h * 4)
            .map(|i: usize| {
                if i % 4 == 3 {
                    255
                } else {
                    (i.wrapping_mul(2_654_435_761) >> 13) as u8
                }
            })
            .collect();
        (2..=4).all(|pieces| {
            zlib_of(&rgba, w * 4, pieces)
                .ok()
                .and_then(|z| fdeflate::decompress_to_vec(&z).ok())
                .is_some_and(|raw| raw == filtered(&rgba, w * 4))
        })
    })
}

/// The rows of `rgba` compressed in `pieces` pieces and joined.
fn zlib_of(rgba: &[u8], stride: usize, pieces: usize) -> anyhow::Result<Vec<u8>> {
    let rows = rgba.len() / stride;
    let scratch = Scratch::default();
    let pieces = rgba
        .chunks(rows.div_ceil(pieces) * stride)
        .map(|c| compress_rows(c, stride, false, &scratch))
        .collect::<std::io::Result<Vec<_>>>()?;
    let mut out = Vec::new();
    join(
        &pieces.iter().map(|p| p.zlib.as_slice()).collect::<Vec<_>>(),
        pieces.iter().map(|p| p.rows * (stride + 1)),
        &mut out,
    )?;
    Ok(out)
}

/// What inflating should give for opaque `rgba`: each row with its filter
/// byte, Sub-filtered.
fn filtered(rgba: &[u8], stride: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(rgba.len() / stride * (stride + 1));
    let mut line = vec![0u8; stride];
    for row in rgba.chunks_exact(stride) {
        sub_filter(row, &mut line);
        out.push(1);
        out.extend_from_slice(&line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        let mut reader = png::Decoder::new(std::io::Cursor::new(png_bytes))
            .read_info()
            .expect("a PNG");
        let mut buf = vec![0; reader.output_buffer_size().expect("a size")];
        let info = reader.next_frame(&mut buf).expect("a frame");
        assert_eq!(info.color_type, png::ColorType::Rgba);
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    /// Opaque images whose pieces end on every padding length (noise
    /// compresses to blocks of unpredictable bit length, flat and
    /// repeating ones to runs), and a translucent premultiplied one.
    fn image(kind: &str, w: usize, h: usize, seed: usize) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9e37_79b9) | 1;
        let mut noise = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        };
        (0..w * h)
            .flat_map(|i| match kind {
                "noise" => [noise(), noise(), noise(), 255],
                "flat" => [30, 60, 90, 255],
                "gradient" => [((i % w) * 255 / w + seed) as u8, (i / w) as u8, 7, 255],
                "stripes" if (i / w).is_multiple_of(3) => [255, 255, 255, 255],
                "stripes" => [(seed * 7) as u8, 0, 0, 255],
                "translucent" => {
                    let a = noise();
                    [a / 2, a / 3, a, a]
                }
                _ => unreachable!(),
            })
            .collect()
    }

    /// What a PNG decoder should return: straight alpha.
    fn straight(premultiplied: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        demultiply(premultiplied, &mut out);
        out
    }

    #[test]
    fn any_number_of_pieces_decodes_to_the_same_pixels() {
        assert!(
            can_join(),
            "joining fdeflate pieces must work with this fdeflate"
        );
        let mut paddings = [0usize; 8];
        let scratch = Scratch::default();
        for kind in ["noise", "flat", "gradient", "stripes", "translucent"] {
            for (w, h) in [(1, 1), (1, 7), (3, 2), (97, 64), (130, 131), (1200, 33)] {
                for seed in 0..6 {
                    let rgba = image(kind, w, h, seed);
                    let stride = w * 4;
                    for pieces in 1..=4.min(h) {
                        let zlib = zlib_of(&rgba, stride, pieces).expect("compressed");
                        let raw = fdeflate::decompress_to_vec(&zlib).unwrap_or_else(|e| {
                            panic!("{kind} {w}×{h} seed {seed}, {pieces} pieces: {e:?}")
                        });
                        assert_eq!(
                            raw,
                            filtered(&straight(&rgba), stride),
                            "{kind} {w}×{h} seed {seed}, {pieces} pieces"
                        );
                        if pieces == 2 {
                            let first = compress_rows(
                                &rgba[..h.div_ceil(2) * stride],
                                stride,
                                false,
                                &Scratch::default(),
                            )
                            .expect("compressed");
                            let last = first.zlib[first.zlib.len() - 5];
                            paddings[last.leading_zeros() as usize] += 1;
                        }
                    }
                    // Through the PNG container, read by the png crate.
                    // One scratch for every image: reused buffers must not
                    // carry anything from the last image into the next.
                    for threads in [1, 2] {
                        let png =
                            encode(&rgba, w as u32, h as u32, threads, &scratch).expect("encoded");
                        assert_eq!(decode(&png), (w as u32, h as u32, straight(&rgba)));
                        let fresh = encode(&rgba, w as u32, h as u32, threads, &Scratch::default())
                            .expect("encoded");
                        assert_eq!(png, fresh, "{kind} {w}×{h} seed {seed}");
                    }
                }
            }
        }
        // Both ways of placing the stored block were exercised.
        assert!(paddings[..3].iter().sum::<usize>() > 0, "{paddings:?}");
        assert!(paddings[3..].iter().sum::<usize>() > 0, "{paddings:?}");
    }

    #[test]
    fn a_card_sized_image_is_joined_and_its_bytes_do_not_depend_on_threads() {
        let rgba = image("gradient", 1200, 630, 3);
        let scratch = Scratch::default();
        let one = encode(&rgba, 1200, 630, 1, &scratch).expect("encoded");
        let two = encode(&rgba, 1200, 630, 2, &scratch).expect("encoded");
        assert_eq!(one, two);
        assert_eq!(decode(&one).2, rgba);
        let single = to_png(
            vec![compress_rows(&rgba, 4800, false, &scratch).expect("compressed")],
            1200,
            630,
            &scratch,
        )
        .expect("encoded");
        assert_eq!(single.len(), single.capacity(), "allocated at its size");
        assert_ne!(
            one, single,
            "a card-sized image should be joined from pieces"
        );
        assert_eq!(decode(&single).2, rgba);
    }

    #[test]
    fn adler32_combines_like_one_pass() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 31 % 251) as u8).collect();
        let whole = adler(&data);
        for cut in [0, 1, 5552, 65521, 65522, 100_000, 200_000] {
            let (a, b) = data.split_at(cut);
            assert_eq!(
                adler32_combine(adler(a), adler(b), b.len()),
                whole,
                "cut at {cut}"
            );
        }
    }

    fn adler(data: &[u8]) -> u32 {
        let (mut a, mut b) = (1u32, 0u32);
        for &x in data {
            a = (a + u32::from(x)) % 65521;
            b = (b + a) % 65521;
        }
        (b << 16) | a
    }

    #[test]
    fn refuses_a_buffer_of_the_wrong_size_or_pieces_of_the_wrong_rows() {
        let scratch = Scratch::default();
        assert!(encode(&[0; 15], 2, 2, 2, &scratch).is_err());
        assert!(encode(&[], 0, 0, 1, &scratch).is_err());
        let piece = compress_rows(&[255; 16], 8, false, &scratch).expect("compressed");
        assert!(to_png(vec![piece], 2, 3, &scratch).is_err());
        // The piece's buffer and the join buffer went back all the same.
        assert_eq!(scratch.free.lock().unwrap().len(), 2);
    }

    #[test]
    fn all_opaque_looks_at_every_alpha_byte() {
        let opaque = [10, 20, 30, 255].repeat(37);
        assert!(all_opaque(&opaque));
        assert!(all_opaque(&[]));
        for at in [0, 1, 17, 36] {
            for alpha in [0, 1, 127, 254] {
                let mut rgba = opaque.clone();
                rgba[at * 4 + 3] = alpha;
                assert!(!all_opaque(&rgba), "pixel {at} alpha {alpha}");
            }
        }
        // Colour bytes of 255 do not make a translucent pixel opaque.
        assert!(!all_opaque(&[255, 255, 255, 0]));
        // A partial pixel is not a pixel.
        assert!(!all_opaque(&[255; 7]));
    }
}
