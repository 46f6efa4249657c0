//! What the fitter asks fontdue about a face, and the form it is kept in.
//!
//! fontdue reads every glyph's outline when it loads a face: for the
//! bundled faces, most of a cold start (`exec → /readyz` in
//! `bench/loadtest.sh`). So the build script runs fontdue over the bundled
//! faces once and embeds what it answered ([`FaceMetrics::encode`]);
//! start-up decodes that in microseconds, and only `--fonts-dir` faces are
//! read by fontdue at start-up. The build script includes this file, so
//! the two sides cannot disagree on the format.

/// What the fitter asks fontdue about a face, read once: which characters
/// it covers, its line metrics and each glyph's ink bounds and advance,
/// all in ems. The `fontdue::Font` itself is dropped at once: it keeps
/// every glyph's outline as line segments for rasterising (the RSS after
/// start-up that `bench/loadtest.sh` prints), which a service that only
/// measures has no use for.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceMetrics {
    /// Every character the face maps to a glyph, sorted.
    pub(crate) chars: Vec<char>,
    /// Ink bounds by glyph id, in ems.
    pub(crate) bounds: Vec<fontdue::OutlineBounds>,
    /// Horizontal advance by glyph id, in ems.
    pub(crate) advances: Vec<f32>,
    /// Ascent, descent (negative) and line gap, in ems.
    pub(crate) line: fontdue::LineMetrics,
    /// fontdue's glyph id for each of `chars`, same order.
    pub(crate) glyph_ids: Vec<u16>,
}

impl FaceMetrics {
    pub(crate) fn from_fontdue(font: &fontdue::Font) -> FaceMetrics {
        let mut mapped: Vec<(char, u16)> =
            font.chars().iter().map(|(c, g)| (*c, g.get())).collect();
        mapped.sort_unstable();
        let (chars, glyph_ids) = mapped.into_iter().unzip();
        let glyphs = font.glyph_count();
        let (bounds, advances) = (0..glyphs)
            .map(|id| {
                let m = font.metrics_indexed(id, 1.0);
                (m.bounds, m.advance_width)
            })
            .unzip();
        FaceMetrics {
            chars,
            bounds,
            advances,
            line: font
                .horizontal_line_metrics(1.0)
                .unwrap_or(fontdue::LineMetrics {
                    ascent: 0.0,
                    descent: 0.0,
                    line_gap: 0.0,
                    new_line_size: 0.0,
                }),
            glyph_ids,
        }
    }

    /// Appends the metrics to `out`, little-endian: the characters with
    /// their glyph ids, each glyph's bounds and advance, the line metrics.
    // Written by build.rs, which includes this file; the library only
    // decodes.
    #[allow(dead_code)]
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.extend((self.chars.len() as u32).to_le_bytes());
        for (c, id) in self.chars.iter().zip(&self.glyph_ids) {
            out.extend((*c as u32).to_le_bytes());
            out.extend(id.to_le_bytes());
        }
        out.extend((self.bounds.len() as u32).to_le_bytes());
        for (b, advance) in self.bounds.iter().zip(&self.advances) {
            for x in [b.xmin, b.ymin, b.width, b.height, *advance] {
                out.extend(x.to_le_bytes());
            }
        }
        let l = &self.line;
        for x in [l.ascent, l.descent, l.line_gap, l.new_line_size] {
            out.extend(x.to_le_bytes());
        }
    }

    /// Reads what [`encode`](Self::encode) wrote from the front of
    /// `bytes`, advancing it; `None` if it is not that.
    pub(crate) fn decode(bytes: &mut &[u8]) -> Option<FaceMetrics> {
        fn take<const N: usize>(bytes: &mut &[u8]) -> Option<[u8; N]> {
            let (head, rest) = bytes.split_first_chunk::<N>()?;
            *bytes = rest;
            Some(*head)
        }
        let u32_ = |b: &mut &[u8]| take::<4>(b).map(u32::from_le_bytes);
        let f32_ = |b: &mut &[u8]| take::<4>(b).map(f32::from_le_bytes);
        let chars = u32_(bytes)? as usize;
        let mut mapped = Vec::with_capacity(chars.min(bytes.len() / 6));
        for _ in 0..chars {
            let c = char::from_u32(u32_(bytes)?)?;
            mapped.push((c, u16::from_le_bytes(take::<2>(bytes)?)));
        }
        let (chars, glyph_ids) = mapped.into_iter().unzip();
        let glyphs = u32_(bytes)? as usize;
        let mut bounds = Vec::with_capacity(glyphs.min(bytes.len() / 20));
        let mut advances = Vec::with_capacity(bounds.capacity());
        for _ in 0..glyphs {
            bounds.push(fontdue::OutlineBounds {
                xmin: f32_(bytes)?,
                ymin: f32_(bytes)?,
                width: f32_(bytes)?,
                height: f32_(bytes)?,
            });
            advances.push(f32_(bytes)?);
        }
        let line = fontdue::LineMetrics {
            ascent: f32_(bytes)?,
            descent: f32_(bytes)?,
            line_gap: f32_(bytes)?,
            new_line_size: f32_(bytes)?,
        };
        Some(FaceMetrics {
            chars,
            bounds,
            advances,
            line,
            glyph_ids,
        })
    }

    /// Whether the face has a glyph for `c` (fontdue's `has_glyph`).
    pub(crate) fn has_glyph(&self, c: char) -> bool {
        self.chars.binary_search(&c).is_ok()
    }

    /// Ink bounds of glyph `id`, in ems; empty for an id the face lacks.
    pub(crate) fn bounds(&self, id: u16) -> fontdue::OutlineBounds {
        self.bounds
            .get(usize::from(id))
            .copied()
            .unwrap_or_default()
    }

    /// Horizontal advance of `c`'s glyph, in ems, if the face has one.
    pub fn advance(&self, c: char) -> Option<f32> {
        let i = self.chars.binary_search(&c).ok()?;
        self.advances.get(usize::from(self.glyph_ids[i])).copied()
    }

    /// Line metrics at `size` pixels per em.
    pub(crate) fn line_metrics(&self, size: f32) -> fontdue::LineMetrics {
        let l = &self.line;
        fontdue::LineMetrics {
            ascent: l.ascent * size,
            descent: l.descent * size,
            line_gap: l.line_gap * size,
            new_line_size: l.new_line_size * size,
        }
    }
}
