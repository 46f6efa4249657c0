//! The first PNG encoding of a card: small, fast, on more than one thread.
//!
//! A PNG holds one zlib stream, and deflate is sequential. So a card's
//! rows are compressed in pieces, each a raw deflate stream of its own
//! (no reference to anything before it) that ends in a sync flush: an
//! empty stored block that brings the stream to a byte boundary, where the
//! next piece can start. Pieces are joined by concatenation, closed by an
//! empty final block, with the Adler-32 of the whole combined from the
//! pieces' (zlib's `adler32_combine`). The png crate writes the container.
//!
//! Two kinds of piece make up a card ([`Segment`]):
//!
//! - **Fresh**: rows the card's layer drew on, Sub-filtered and compressed
//!   by zlib-rs at [`FRESH_LEVEL`] by the thread that drew them, while
//!   they are in its cache;
//! - **Kept**: rows the layer left as the background was. A layered
//!   template's background is the same for every card of its kind, so it
//!   is compressed once, in [`CHUNK_ROWS`]-row chunks, unfiltered at level
//!   9 (flat colour and smooth gradients repeat exactly only unfiltered),
//!   and every card reuses the chunks it leaves untouched ([`Kept`]).
//!
//! zlib-rs hashes the same way on every CPU (its SIMD paths only compare
//! and slide), so a card's bytes are the same on every instance: the draft
//! ETag names one body.

use std::sync::{Mutex, OnceLock};

use flate2::{Compress, Compression, FlushCompress};

/// Pieces an image is compressed in: as many as the 2-core machine can
/// use. Fixed, not taken from the threads a render has, so that a card's
/// bytes never depend on how busy the server was.
pub(crate) const PIECES: usize = 2;

/// Images smaller than this are compressed in one piece: the joining is
/// not worth it.
const MIN_SPLIT_BYTES: usize = 256 * 1024;

/// Rows in a chunk of a background compressed once ([`Kept`]). Smaller
/// chunks fit closer around the card's text, but each starts without
/// history and with its own Huffman tables; 16 rows is where the two
/// balance for the report card (`examples/deflate_choices.rs` prints the
/// bytes for 8 to 64).
pub(crate) const CHUNK_ROWS: usize = 16;

/// zlib level of the rows a card drew on: the lightest with real match
/// finding. Level 1 is zlib-rs's "quick" strategy (static codes), 1.4×
/// the bytes; level 3 saves little for much more time
/// (`examples/deflate_choices.rs`).
pub(crate) const FRESH_LEVEL: u32 = 2;

/// zlib level of the rows a large card (one drawn in strips: a square or
/// story, any card at 2× or 3×) drew on. Those are downloads, not what a
/// crawler waits for, and their first response is what most people keep:
/// level 6 brings a 1× square's from ~66 to ~58 KB and a long light
/// story's from ~101 to ~88 KB (`bench/first-bytes.sh`).
pub(crate) const LARGE_FRESH_LEVEL: u32 = 6;

/// zlib level of a background's chunks: compressed once per template,
/// theme and scale, so the smallest.
const KEPT_LEVEL: u32 = 9;

/// A PNG row filter (the byte that starts each row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Filter {
    None = 0,
    Sub = 1,
}

/// A run of an image's rows compressed on its own: raw deflate ending in a
/// sync flush, with the Adler-32 and length of the filtered rows it holds.
pub(crate) struct Piece {
    deflate: Vec<u8>,
    adler: u32,
    len: usize,
    rows: usize,
    /// Every pixel of its rows is opaque.
    opaque: bool,
}

impl Piece {
    /// Every pixel of the piece's rows is opaque.
    pub(crate) fn opaque(&self) -> bool {
        self.opaque
    }
}

/// A run of a card's rows in its PNG: compressed now, or a chunk of its
/// background compressed once.
pub(crate) enum Segment {
    Fresh(Piece),
    /// Chunk `n` of the background's [`Kept`].
    Kept(usize),
}

/// A background's chunks, each compressed on first use: a card pays only
/// for the chunks it keeps, and the next card of its kind for none.
pub(crate) struct Kept {
    chunks: Vec<OnceLock<Piece>>,
}

impl Kept {
    /// Compressed bytes held.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.chunks
            .iter()
            .filter_map(|c| c.get())
            .map(|p| p.deflate.capacity())
            .sum()
    }

    /// Room for the chunks of a `height`-row background; nothing is
    /// compressed yet.
    pub fn new(height: u32) -> Kept {
        Kept {
            chunks: (0..(height as usize).div_ceil(CHUNK_ROWS))
                .map(|_| OnceLock::new())
                .collect(),
        }
    }

    /// Chunk `n` of `background` (premultiplied, `stride` bytes a row),
    /// compressed now if no card has needed it before. Two threads may
    /// both compress it; they get the same bytes.
    pub(crate) fn chunk(
        &self,
        n: usize,
        background: &[u8],
        stride: usize,
        opaque: bool,
    ) -> std::io::Result<&Piece> {
        let rows = &background[n * CHUNK_ROWS * stride..];
        let rows = &rows[..rows.len().min(CHUNK_ROWS * stride)];
        self.chunk_of(n, rows, stride, opaque)
    }

    /// Chunk `n`, compressed from `rows` (its rows of the background) if
    /// no card has needed it before.
    pub(crate) fn chunk_of(
        &self,
        n: usize,
        rows: &[u8],
        stride: usize,
        opaque: bool,
    ) -> std::io::Result<&Piece> {
        if let Some(piece) = self.chunks[n].get() {
            return Ok(piece);
        }
        let compressor = Compress::new(Compression::new(KEPT_LEVEL), false);
        let mut run = RowDeflater::new(stride, Filter::None, compressor, Vec::new());
        run.push(rows, opaque)?;
        let (piece, _) = run.finish()?;
        let _ = self.chunks[n].set(piece);
        Ok(self.chunks[n].get().expect("just set"))
    }

    /// Chunk `n` if it has been compressed.
    pub fn get(&self, n: usize) -> Option<&Piece> {
        self.chunks.get(n).and_then(|c| c.get())
    }

    /// Writes chunk `n`'s rows, premultiplied, into `out` (`stride` bytes
    /// a row, as many rows as the chunk has), if the chunk is compressed
    /// and opaque (its straight alpha is then its premultiplied alpha):
    /// inflating a chunk is much cheaper than drawing its background again.
    pub(crate) fn inflate_into(&self, n: usize, out: &mut [u8], stride: usize) -> bool {
        let Some(piece) = self.get(n).filter(|p| p.opaque) else {
            return false;
        };
        if out.len() != piece.rows * stride {
            return false;
        }
        let mut raw = vec![0u8; piece.len];
        let mut inflater = flate2::Decompress::new(false);
        let ok = inflater
            .decompress(&piece.deflate, &mut raw, flate2::FlushDecompress::Sync)
            .is_ok()
            && inflater.total_out() as usize == raw.len();
        if !ok {
            return false;
        }
        for (row, line) in out
            .chunks_exact_mut(stride)
            .zip(raw.chunks_exact(stride + 1))
        {
            if line[0] != Filter::None as u8 {
                return false;
            }
            row.copy_from_slice(&line[1..]);
        }
        true
    }
}

/// Buffers and compressors kept between encodes.
///
/// Buffers of 64 KiB and more the server's allocator takes straight from
/// the kernel and gives back on free (`sys::tune_allocator`, for the sake
/// of RSS): allocated fresh, each is pages the kernel zeroes and faults in
/// one at a time, and freeing it costs every core a TLB flush. A zlib-rs
/// compressor's buffers are of that kind. Kept, with the PNG allocated once
/// at its size, a cold card takes far fewer page faults (`perf stat -e
/// page-faults` on the server over `bench/loadtest.sh`'s cold phase). Only
/// the finished PNG, which the cache keeps, is a fresh allocation.
pub(crate) struct Scratch {
    free: Mutex<Vec<Vec<u8>>>,
    compressors: Mutex<Vec<Compress>>,
    /// The zlib level of its compressors.
    level: u32,
}

impl Default for Scratch {
    /// A scratch for one-pixmap cards, at [`FRESH_LEVEL`].
    fn default() -> Scratch {
        Scratch::with_level(FRESH_LEVEL)
    }
}

/// Buffers a [`Scratch`] keeps: a card has a few fresh pieces a band
/// (text lines with background between them) and one join.
const SCRATCH_BUFFERS: usize = 4 * PIECES + 1;

/// Larger buffers (from the rare huge card) are not kept.
const MAX_SCRATCH_BYTES: usize = 4 * 1024 * 1024;

impl Scratch {
    /// A scratch whose compressors work at zlib `level`.
    pub(crate) fn with_level(level: u32) -> Scratch {
        Scratch {
            free: Mutex::default(),
            compressors: Mutex::default(),
            level,
        }
    }

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

    fn compressor(&self) -> Compress {
        self.compressors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_else(|| Compress::new(Compression::new(self.level), false))
    }

    /// Keeps `compressor`, already reset ([`RowDeflater::finish`] resets
    /// it: a reset clears its hash table, not worth doing twice).
    fn give_compressor(&self, compressor: Compress) {
        let mut kept = self.compressors.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() < PIECES {
            kept.push(compressor);
        }
    }
}

/// Whether every pixel of premultiplied RGBA is opaque. ANDs whole pixels
/// rather than stopping at the first translucent one, so that it
/// vectorises (opaque rows, the common case, are read to the end anyway),
/// which `render/end_to_end` in the `pipeline` bench shows.
pub(crate) fn all_opaque(rgba: &[u8]) -> bool {
    let words = rgba.chunks_exact(4);
    let tail_opaque = words.remainder().is_empty();
    let alpha = words.fold(u32::MAX, |acc, p| {
        acc & u32::from_le_bytes(p.try_into().expect("four bytes"))
    }) >> 24;
    tail_opaque && alpha == 0xff
}

/// Compresses rows of tiny-skia's premultiplied RGBA (`stride` bytes a
/// row) into a fresh [`Piece`], with a compressor and buffer from
/// `scratch`. Rows with translucent pixels are converted to the straight
/// alpha PNG wants (an opaque pixel is the same either way); `opaque` says
/// the caller knows there are none, and skips looking.
pub(crate) fn compress_rows(
    premultiplied: &[u8],
    stride: usize,
    opaque: bool,
    scratch: &Scratch,
) -> std::io::Result<Piece> {
    let mut run = FreshRun::new(stride, scratch);
    run.push(premultiplied, opaque)?;
    Ok(run.finish()?.expect("rows were pushed"))
}

/// A fresh piece built from runs of rows given in turn (a band's drawn
/// strips), compressed as one stream: no history is lost between them.
pub(crate) struct FreshRun<'s> {
    scratch: &'s Scratch,
    deflater: Option<RowDeflater>,
    stride: usize,
}

impl<'s> FreshRun<'s> {
    pub fn new(stride: usize, scratch: &'s Scratch) -> FreshRun<'s> {
        FreshRun {
            scratch,
            deflater: None,
            stride,
        }
    }

    /// Appends rows of premultiplied RGBA (see [`compress_rows`]).
    pub(crate) fn push(&mut self, premultiplied: &[u8], opaque: bool) -> std::io::Result<()> {
        let (stride, scratch) = (self.stride, self.scratch);
        self.deflater
            .get_or_insert_with(|| {
                RowDeflater::new(stride, Filter::Sub, scratch.compressor(), scratch.take())
            })
            .push(premultiplied, opaque)
    }

    /// The piece of every row pushed, `None` if there were none; the
    /// compressor goes back to the scratch.
    pub(crate) fn finish(self) -> std::io::Result<Option<Piece>> {
        let Some(deflater) = self.deflater else {
            return Ok(None);
        };
        let (piece, compressor) = deflater.finish()?;
        self.scratch.give_compressor(compressor);
        Ok(Some(piece))
    }
}

/// Rows filtered and fed to a compressor, with their checksum.
struct RowDeflater {
    compressor: Compress,
    out: Vec<u8>,
    line: Vec<u8>,
    straight: Vec<u8>,
    adler: simd_adler32::Adler32,
    rows: usize,
    opaque: bool,
    filter: Filter,
    stride: usize,
}

impl RowDeflater {
    /// Rows to `compressor` (fresh or reset), compressed into `out`.
    fn new(stride: usize, filter: Filter, compressor: Compress, mut out: Vec<u8>) -> RowDeflater {
        out.clear();
        let mut line = vec![0u8; stride + 1];
        line[0] = filter as u8;
        RowDeflater {
            compressor,
            out,
            line,
            straight: Vec::new(),
            adler: simd_adler32::Adler32::new(),
            rows: 0,
            opaque: true,
            filter,
            stride,
        }
    }

    fn push(&mut self, premultiplied: &[u8], opaque: bool) -> std::io::Result<()> {
        let stride = self.stride;
        if self.out.capacity() - self.out.len() < premultiplied.len() / 16 + 64 {
            self.out.reserve(premultiplied.len() / 16 + 64);
        }
        for row in premultiplied.chunks_exact(stride) {
            let row_opaque = opaque || all_opaque(row);
            self.opaque &= row_opaque;
            let row = if row_opaque {
                row
            } else {
                demultiply(row, &mut self.straight);
                &self.straight
            };
            match self.filter {
                Filter::Sub => sub_filter(row, &mut self.line[1..]),
                Filter::None => self.line[1..].copy_from_slice(row),
            }
            self.adler.write(&self.line);
            feed(
                &mut self.compressor,
                &self.line,
                &mut self.out,
                FlushCompress::None,
            )?;
            self.rows += 1;
        }
        Ok(())
    }

    /// Ends the piece with a sync flush; the compressor comes back reset.
    fn finish(mut self) -> std::io::Result<(Piece, Compress)> {
        let fed = feed(
            &mut self.compressor,
            &[],
            &mut self.out,
            FlushCompress::Sync,
        );
        self.compressor.reset();
        fed?;
        let piece = Piece {
            deflate: self.out,
            adler: self.adler.finish(),
            len: self.rows * (self.stride + 1),
            rows: self.rows,
            opaque: self.opaque,
        };
        Ok((piece, self.compressor))
    }
}

/// Gives `input` to the compressor, growing `out` as needed, until it is
/// all taken and, for a flush, the flush is complete (zlib's rule: a call
/// that leaves output space unused has written everything).
fn feed(
    compressor: &mut Compress,
    mut input: &[u8],
    out: &mut Vec<u8>,
    flush: FlushCompress,
) -> std::io::Result<()> {
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(4096));
        }
        let before = compressor.total_in();
        compressor
            .compress_vec(input, out, flush)
            .map_err(std::io::Error::other)?;
        input = &input[(compressor.total_in() - before) as usize..];
        if input.is_empty() && out.len() < out.capacity() {
            return Ok(());
        }
    }
}

/// Premultiplied RGBA `row` as straight RGBA, into `out` (cleared first).
pub(crate) fn demultiply(row: &[u8], out: &mut Vec<u8>) {
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

/// A zlib header: deflate with a 32 KiB window, "fast" level (only
/// informative), and the check bits that make it a multiple of 31.
const ZLIB_HEADER: [u8; 2] = [0x78, 0x5e];

/// An empty final block with fixed codes: what zlib writes for
/// `Z_FINISH` after a sync flush.
const FINAL_BLOCK: [u8; 2] = [0x03, 0x00];

/// The PNG (8-bit RGBA) of `width` × `height` whose rows, top to bottom,
/// are the segments' rows (`Kept` ones from `kept`, which must hold them).
/// Fresh pieces' buffers go back to `scratch`; the PNG is allocated once,
/// at its exact size.
pub(crate) fn to_png(
    segments: Vec<Segment>,
    kept: Option<&Kept>,
    width: u32,
    height: u32,
    scratch: &Scratch,
) -> anyhow::Result<Vec<u8>> {
    let mut zlib = scratch.take();
    let joined = join(&segments, kept, width, height, &mut zlib);
    for segment in segments {
        if let Segment::Fresh(piece) = segment {
            scratch.give(piece.deflate);
        }
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

/// The zlib stream of the segments, in `out` (cleared).
fn join(
    segments: &[Segment],
    kept: Option<&Kept>,
    width: u32,
    height: u32,
    out: &mut Vec<u8>,
) -> anyhow::Result<()> {
    let pieces = segments
        .iter()
        .map(|segment| match segment {
            Segment::Fresh(piece) => Ok(piece),
            Segment::Kept(n) => kept
                .and_then(|k| k.chunks.get(*n))
                .and_then(|c| c.get())
                .ok_or_else(|| anyhow::anyhow!("background chunk {n} is not compressed")),
        })
        .collect::<anyhow::Result<Vec<&Piece>>>()?;
    let rows: usize = pieces.iter().map(|p| p.rows).sum();
    let stride = width as usize * 4 + 1;
    anyhow::ensure!(
        width > 0 && rows == height as usize && pieces.iter().all(|p| p.len == p.rows * stride),
        "pieces of {rows} rows for a {width}×{height} image"
    );
    out.clear();
    out.reserve(pieces.iter().map(|p| p.deflate.len()).sum::<usize>() + 8);
    out.extend_from_slice(&ZLIB_HEADER);
    let mut adler = 1;
    for piece in pieces {
        out.extend_from_slice(&piece.deflate);
        adler = adler32_combine(adler, piece.adler, piece.len);
    }
    out.extend_from_slice(&FINAL_BLOCK);
    out.extend_from_slice(&adler.to_be_bytes());
    Ok(())
}

/// Encodes tiny-skia's premultiplied RGBA (`width * height * 4` bytes) as
/// a PNG, in [`PIECES`] fresh pieces on up to `threads` threads (one piece
/// when the image is small).
pub(crate) fn encode(
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
    let pieces = if premultiplied.len() >= MIN_SPLIT_BYTES {
        PIECES.min(height as usize)
    } else {
        1
    };
    let per_piece = (height as usize).div_ceil(pieces) * stride;
    let chunks: Vec<&[u8]> = premultiplied.chunks(per_piece).collect();
    let compressed = crate::parallel::map_in_order(chunks, threads, |rows| {
        compress_rows(rows, stride, false, scratch)
    });
    let segments = compressed
        .into_iter()
        .map(|piece| piece.map(Segment::Fresh))
        .collect::<std::io::Result<Vec<_>>>()?;
    to_png(segments, None, width, height, scratch)
}

/// The segments of a band of a layered card: rows `top..` of the image,
/// drawn over `background` (the whole image's). A chunk of rows wholly in
/// the band that is still exactly the background's is [`Segment::Kept`];
/// runs of the others are compressed fresh.
pub(crate) fn band_segments(
    band: &[u8],
    top: usize,
    background: &[u8],
    stride: usize,
    opaque: bool,
    kept: &Kept,
    scratch: &Scratch,
) -> std::io::Result<Vec<Segment>> {
    let rows = band.len() / stride;
    let height = background.len() / stride;
    let mut segments = Vec::new();
    let mut fresh_from = None;
    let fresh = |from: &mut Option<usize>, to: usize, segments: &mut Vec<Segment>| {
        if let Some(from) = from.take() {
            let piece = compress_rows(&band[from * stride..to * stride], stride, opaque, scratch)?;
            segments.push(Segment::Fresh(piece));
        }
        std::io::Result::Ok(())
    };
    let mut r = 0;
    while r < rows {
        let row = top + r;
        let chunk = row / CHUNK_ROWS;
        let chunk_end = ((chunk + 1) * CHUNK_ROWS).min(height);
        let end = chunk_end.min(top + rows) - top;
        let whole = row.is_multiple_of(CHUNK_ROWS) && chunk_end <= top + rows;
        let untouched =
            whole && band[r * stride..end * stride] == background[row * stride..chunk_end * stride];
        if untouched {
            fresh(&mut fresh_from, r, &mut segments)?;
            kept.chunk(chunk, background, stride, opaque)?;
            segments.push(Segment::Kept(chunk));
        } else {
            fresh_from.get_or_insert(r);
        }
        r = end;
    }
    fresh(&mut fresh_from, rows, &mut segments)?;
    Ok(segments)
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

    /// The IDAT data of a PNG that has one, inflated by flate2 (which
    /// checks the Adler-32).
    fn inflate_idat(png_bytes: &[u8]) -> Vec<u8> {
        let (mut at, mut idat) = (8, None);
        while at + 8 <= png_bytes.len() {
            let len = u32::from_be_bytes(png_bytes[at..at + 4].try_into().unwrap()) as usize;
            if &png_bytes[at + 4..at + 8] == b"IDAT" {
                idat = Some(&png_bytes[at + 8..at + 8 + len]);
            }
            at += 12 + len;
        }
        let mut raw = Vec::new();
        let mut z = flate2::read::ZlibDecoder::new(idat.expect("an IDAT chunk"));
        std::io::Read::read_to_end(&mut z, &mut raw).expect("a valid zlib stream");
        raw
    }

    /// Opaque images of several kinds (noise, flat, repeating), and a
    /// translucent premultiplied one.
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
    fn any_image_in_any_number_of_pieces_decodes_to_its_pixels() {
        let scratch = Scratch::default();
        for kind in ["noise", "flat", "gradient", "stripes", "translucent"] {
            for (w, h) in [(1, 1), (1, 7), (3, 2), (97, 64), (130, 131), (1200, 33)] {
                for seed in 0..4 {
                    let rgba = image(kind, w, h, seed);
                    let stride = w * 4;
                    for pieces in 1..=4.min(h) {
                        let segments = rgba
                            .chunks(h.div_ceil(pieces) * stride)
                            .map(|rows| compress_rows(rows, stride, false, &scratch))
                            .map(|p| p.map(Segment::Fresh))
                            .collect::<std::io::Result<Vec<_>>>()
                            .expect("compressed");
                        let png =
                            to_png(segments, None, w as u32, h as u32, &scratch).expect("joined");
                        assert_eq!(
                            decode(&png),
                            (w as u32, h as u32, straight(&rgba)),
                            "{kind} {w}×{h} seed {seed}, {pieces} pieces"
                        );
                        assert_eq!(inflate_idat(&png).len(), h * (stride + 1));
                    }
                    // One scratch for every image: reused buffers and
                    // compressors must carry nothing from one to the next.
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
            vec![Segment::Fresh(
                compress_rows(&rgba, 4800, false, &scratch).expect("compressed"),
            )],
            None,
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

    /// A background, and a card: the background with a few rows drawn on
    /// (the first, some across a chunk boundary, the last).
    fn background_and_card(w: usize, h: usize, opaque: bool) -> (Vec<u8>, Vec<u8>) {
        let kind = if opaque { "gradient" } else { "translucent" };
        let background = image(kind, w, h, 1);
        let mut card = background.clone();
        let stride = w * 4;
        for row in [0, 20, 31, 32, 33, 110, h - 1] {
            for px in card[row * stride..(row + 1) * stride]
                .chunks_exact_mut(4)
                .step_by(7)
            {
                px.copy_from_slice(&[0, 0, 0, 255]);
            }
        }
        (background, card)
    }

    /// Joins the segments of a card drawn in bands of `band_rows` rows.
    fn banded(
        card: &[u8],
        background: &[u8],
        (w, h): (usize, usize),
        band_rows: usize,
        opaque: bool,
        kept: &Kept,
        scratch: &Scratch,
    ) -> (Vec<u8>, usize) {
        let stride = w * 4;
        let mut segments = Vec::new();
        for (i, band) in card.chunks(band_rows * stride).enumerate() {
            segments.extend(
                band_segments(
                    band,
                    i * band_rows,
                    background,
                    stride,
                    opaque,
                    kept,
                    scratch,
                )
                .expect("compressed"),
            );
        }
        let kept_count = segments
            .iter()
            .filter(|s| matches!(s, Segment::Kept(_)))
            .count();
        let png = to_png(segments, Some(kept), w as u32, h as u32, scratch).expect("joined");
        (png, kept_count)
    }

    #[test]
    fn untouched_chunks_of_the_background_are_reused_and_decode_exactly() {
        let scratch = Scratch::default();
        for opaque in [true, false] {
            let (w, h) = (300, 157);
            let (background, card) = background_and_card(w, h, opaque);
            let kept = Kept::new(h as u32);
            // Bands of 79 rows (two, the second starting mid-chunk) and of
            // 48 (aligned to chunks).
            for band_rows in [79, 48] {
                let (png, kept_count) = banded(
                    &card,
                    &background,
                    (w, h),
                    band_rows,
                    opaque,
                    &kept,
                    &scratch,
                );
                assert_eq!(decode(&png).2, straight(&card), "bands of {band_rows}");
                // Chunks 3, 4, 5, 7 and 8 are untouched (rows 48..96 and
                // 112..144); with 79-row bands, chunk 4 (64..80) crosses a
                // band edge and is compressed fresh.
                let expected = if band_rows == 79 { 4 } else { 5 };
                assert_eq!(kept_count, expected, "bands of {band_rows}");
                // The next card reuses the chunks: the same bytes again.
                let (again, _) = banded(
                    &card,
                    &background,
                    (w, h),
                    band_rows,
                    opaque,
                    &kept,
                    &scratch,
                );
                assert_eq!(again, png);
            }
            assert!(kept.bytes() > 0);
            // A card that is all background is all chunks.
            let (png, kept_count) = banded(
                &background,
                &background,
                (w, h),
                48,
                opaque,
                &kept,
                &scratch,
            );
            assert_eq!(kept_count, h.div_ceil(CHUNK_ROWS));
            assert_eq!(decode(&png).2, straight(&background));
        }
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
        assert_eq!(adler32_combine(1, adler(&data), data.len()), whole);
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
        assert!(to_png(vec![Segment::Fresh(piece)], None, 2, 3, &scratch).is_err());
        // A chunk no one compressed is an error, not a panic.
        assert!(to_png(vec![Segment::Kept(0)], Some(&Kept::new(2)), 2, 2, &scratch).is_err());
        // The piece's buffer and the join buffers went back all the same.
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
