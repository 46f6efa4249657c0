//! Text fitting: shrink, then wrap, then ellipsize, until text fits its box.
//!
//! resvg does not wrap text (resvg#643), so every line break on a card is
//! decided here, with widths measured the way usvg lays a line out: the
//! same faces (see [`crate::fonts`]), the same fallback, the same bidi runs
//! and the same shaper (harfrust), so Arabic joining forms and Devanagari
//! conjuncts are measured as drawn (see [`Measurer::width`]). The
//! integration tests check the result against the bounding boxes of the
//! rendered glyphs, so a measurement error shows up as a failing test
//! rather than as text off the edge of a card.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use unicode_segmentation::UnicodeSegmentation;

use crate::fonts::{Face, Fonts};

pub const ELLIPSIS: &str = "…";

/// How a piece of text must fit: its box and its type sizes.
#[derive(Debug, Clone, PartialEq)]
pub struct FitSpec {
    /// Box width in px; every line's advance width stays within it.
    pub width: f32,
    /// Box height in px, if the box is bounded vertically.
    pub height: Option<f32>,
    /// Preferred font size in px.
    pub size: f32,
    /// Smallest size to shrink to before ellipsizing.
    pub min_size: f32,
    pub max_lines: usize,
    pub weight: u16,
    /// Line advance as a multiple of the font size.
    pub line_height: f32,
}

/// The outcome: the size chosen and the lines to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    pub size: f32,
    pub lines: Vec<String>,
    /// Distance between baselines, px.
    pub line_advance: f32,
    /// Distance from the box top to the first baseline, px.
    pub ascent: f32,
    /// Total height from the box top to the last line's descent, px.
    pub height: f32,
    /// Widest line's extent, px: its advance width plus any ink beyond
    /// either end of it (see `overhangs`).
    pub width: f32,
    /// Per line, how far its ink reaches left of its start and right of
    /// its advance end, px: where a line is drawn, its start moves right
    /// by the first (see `Fitted::line_x`) so the ink stays in the box.
    pub overhangs: Vec<(f32, f32)>,
    /// Whether text was cut and an ellipsis added.
    pub truncated: bool,
}

impl Fitted {
    /// Where to put line `i`'s anchor so that its ink, not just its
    /// advances, stays within the box that `x` anchors with `anchor`
    /// (an SVG `text-anchor`): right of the start by its left overhang,
    /// left of the end by its right overhang, or centred on its ink.
    pub fn line_x(&self, i: usize, anchor: &str, x: f32) -> f32 {
        let (left, right) = self.overhangs.get(i).copied().unwrap_or_default();
        match anchor {
            "end" => x - right,
            "middle" => x + (left - right) / 2.0,
            _ => x + left,
        }
    }
}

/// Fonts and the lines already shaped with them: what every measurement
/// needs, shared by every render with these fonts.
pub struct Shaper {
    fonts: Arc<Fonts>,
    lines: LineCache,
}

impl Shaper {
    pub fn new(fonts: Arc<Fonts>) -> Shaper {
        Shaper {
            fonts,
            lines: LineCache::default(),
        }
    }

    pub fn fonts(&self) -> &Arc<Fonts> {
        &self.fonts
    }
}

pub struct Measurer<'a> {
    fonts: &'a Fonts,
    lines: &'a LineCache,
}

/// Shaped lines by text and weight, shared by every render with the same
/// fonts: fitting measures the same candidate lines at every size it
/// tries, shaping does not depend on size, and cards of one role share
/// their texts across risks, themes, scales and templates. Bounded: it
/// starts over when full.
#[derive(Default)]
struct LineCache {
    lines: Mutex<HashMap<(String, u16), Shaped>>,
}

impl LineCache {
    /// About 1.5 MiB when full (keys are lines of at most a few hundred
    /// bytes).
    const MAX_LINES: usize = 8192;

    fn get(&self, text: &str, weight: u16) -> Option<Shaped> {
        let lines = self.lines.lock().expect("not poisoned");
        // A borrowed lookup would need a custom key type; the clone is a
        // short string and far cheaper than shaping.
        lines.get(&(text.to_owned(), weight)).copied()
    }

    fn insert(&self, text: &str, weight: u16, shaped: Shaped) {
        let mut lines = self.lines.lock().expect("not poisoned");
        if lines.len() >= Self::MAX_LINES {
            lines.clear();
        }
        lines.insert((text.to_owned(), weight), shaped);
    }
}

/// A line as usvg lays it out, reduced to what fitting needs. Lengths in
/// em, y up from the baseline.
#[derive(Debug, Clone, Copy)]
struct Shaped {
    /// Sum of the glyph advances.
    em: f32,
    /// usvg draws this line wrong (see [`Measurer::draws_correctly`]).
    broken: bool,
    /// Some glyph is `.notdef`: a tofu box (implies `broken`).
    tofu: bool,
    /// Highest and lowest ink of the line's glyphs (0 for an empty line):
    /// Arabic and Devanagari reach further below the baseline than Inter's
    /// descent, and Inter's own "Å" rises above its ascent.
    ink_top: f32,
    ink_bottom: f32,
    /// How far ink reaches left of the line's start and right of its
    /// advance end (0 when it does not): a final Arabic alef madda, or an
    /// italic-like overhang, is drawn outside the advance box.
    over_left: f32,
    over_right: f32,
}

impl Shaped {
    /// Horizontal room the line's ink and advances need, in em.
    fn extent(&self) -> f32 {
        self.over_left + self.em + self.over_right
    }
}

/// A stretch of a line drawn by one face in one direction, in logical
/// order: how usvg splits it (see [`Measurer::runs`]).
#[derive(Debug, Clone)]
pub struct Run<'f> {
    /// Byte range in the measured text.
    pub range: Range<usize>,
    pub face: &'f Face,
    /// Laid out right to left (an odd bidi level).
    pub rtl: bool,
    /// Some glyph is `.notdef` (a tofu box).
    pub tofu: bool,
}

/// One shaped glyph, in visual order.
#[derive(Clone, Copy)]
struct Glyph<'f> {
    /// Byte offset in the text of the first character of its cluster.
    cluster: usize,
    id: u32,
    /// x advance, and x and y offset, in em.
    advance: f32,
    dx: f32,
    dy: f32,
    /// The same in font units, as harfrust gave them: what usvg places
    /// glyphs by (see [`crate::render::glyphs`]).
    units: [i32; 3],
    face: &'f Face,
    rtl: bool,
}

/// A glyph of a line as usvg draws it (see [`Measurer::drawn_glyphs`]), in
/// visual order, positions in font units.
#[derive(Debug, Clone, Copy)]
pub struct DrawnGlyph<'f> {
    pub face: &'f Face,
    pub id: u32,
    /// Byte offset of its cluster in the line: consecutive glyphs with the
    /// same offset form one cluster.
    pub cluster: usize,
    pub x_advance: i32,
    pub x_offset: i32,
    pub y_offset: i32,
}

/// What every line of one fitted text shares.
#[derive(Debug, Clone, Copy)]
struct Para {
    /// The text's base direction is right to left: its lines start with
    /// [`RLI`].
    rtl: bool,
    /// Ink extremes of the whole text's glyphs (see [`Shaped`]).
    ink_top: f32,
    ink_bottom: f32,
}

/// U+2067 RIGHT-TO-LEFT ISOLATE. usvg lays every line out in a left-to-right
/// paragraph, which puts the full stop of an Arabic sentence at its right
/// (its start) and orders "مهندس AI" as if it were English. Each line of a
/// right-to-left text (by its first strong character, UAX #9 P2–P3)
/// therefore starts with this invisible, zero-advance control, so the line
/// is ordered right to left. An unterminated isolate runs to the end of the
/// line; a closing PDI is left out on purpose: it would be a zero-advance
/// glyph at the line's right end, which usvg counts as 1 px of advance box.
pub const RLI: char = '\u{2067}';

/// What is drawn for an ellipsis where "…" would be a tofu box: Noto Sans
/// Arabic has no U+2026, and usvg cannot fall back for it inside a line
/// with a lam-alef ligature (see [`Measurer::draws_correctly`]).
const ELLIPSIS_FALLBACK: &str = "...";

/// Whether `text`'s base direction is right to left.
fn is_rtl(text: &str) -> bool {
    unicode_bidi::get_base_direction(text) == unicode_bidi::Direction::Rtl
}

/// `line` as drawn: with [`RLI`] in front in a right-to-left text.
fn shown(line: &str, rtl: bool) -> Cow<'_, str> {
    if rtl && !line.is_empty() {
        Cow::Owned(format!("{RLI}{line}"))
    } else {
        Cow::Borrowed(line)
    }
}

impl<'a> Measurer<'a> {
    pub fn new(shaper: &'a Shaper) -> Self {
        Measurer {
            fonts: &shaper.fonts,
            lines: &shaper.lines,
        }
    }

    /// Room `text` needs on one line at `size` px: its advance width plus
    /// any ink beyond either end (see [`Fitted::overhangs`]), as usvg draws the
    /// line [`fit`](Self::fit) makes of it (so a right-to-left `text` is
    /// measured with [`RLI`] in front): shaped by harfrust, the engine usvg
    /// uses, in bidi runs, with usvg's font fallback (see `Measurer::shape`).
    pub fn width(&self, text: &str, size: f32, weight: u16) -> f32 {
        self.line_width(text, size, weight, is_rtl(text))
    }

    /// Advance width of `text` on one line at `size` px, as usvg lays the
    /// line out (what usvg's text bounding box spans); [`width`](Self::width)
    /// adds the ink beyond it.
    pub fn advance(&self, text: &str, size: f32, weight: u16) -> f32 {
        self.shaped(&shown(text, is_rtl(text)), weight).em * size
    }

    /// Whether usvg draws `text`, as a line, correctly: every character
    /// with a real glyph, in its place. Coverage is checked per character
    /// before fitting, but usvg shapes and falls back per line, and where a
    /// line mixes scripts that no single bundled font covers (Latin with
    /// Devanagari or Arabic) it may leave `.notdef` glyphs, merge two
    /// shapings glyph by glyph where they do not line up, or shape
    /// Devanagari as Latin (see `Measurer::shape` and `misscripted`):
    /// vowel signs on the wrong consonant, no conjuncts. The fitter breaks
    /// such lines between words where it can.
    pub fn draws_correctly(&self, text: &str, weight: u16) -> bool {
        !self.shaped(&shown(text, is_rtl(text)), weight).broken
    }

    /// The words of `text` (line-break segments, as [`fit`](Self::fit)
    /// wraps it) that usvg would draw with a tofu box even alone on a line:
    /// each character has a glyph in some font, but usvg's per-line
    /// fallback cannot combine them, as in "yý" directly followed by
    /// Arabic "ڭ". Such text cannot be drawn, however it is wrapped.
    pub fn undrawable_words(&self, text: &str, weight: u16) -> Vec<String> {
        let text = text.trim();
        let rtl = is_rtl(text);
        let mut words: Vec<String> = Vec::new();
        for word in segments(text) {
            let word = word.trim_end();
            if !word.is_empty()
                && self.shaped(&shown(word, rtl), weight).tofu
                && !words.iter().any(|w| w == word)
            {
                words.push(word.to_owned());
            }
        }
        words
    }

    fn line_width(&self, line: &str, size: f32, weight: u16, rtl: bool) -> f32 {
        self.shaped(&shown(line, rtl), weight).extent() * size
    }

    fn shaped(&self, text: &str, weight: u16) -> Shaped {
        if let Some(s) = self.lines.get(text, weight) {
            return s;
        }
        let (glyphs, garbled) = self.shape(text, weight);
        let mut shaped = Shaped {
            em: 0.0,
            broken: garbled,
            tofu: false,
            ink_top: 0.0,
            ink_bottom: 0.0,
            over_left: 0.0,
            over_right: 0.0,
        };
        let mut ink_right: f32 = 0.0;
        for g in glyphs {
            shaped.tofu |= g.id == 0;
            shaped.broken |= g.id == 0;
            let b = g.face.metrics.bounds(g.id as u16);
            if b.width > 0.0 && b.height > 0.0 {
                shaped.ink_top = shaped.ink_top.max(g.dy + b.ymin + b.height);
                shaped.ink_bottom = shaped.ink_bottom.min(g.dy + b.ymin);
                let left = shaped.em + g.dx + b.xmin;
                shaped.over_left = shaped.over_left.max(-left);
                ink_right = ink_right.max(left + b.width);
            }
            shaped.em += g.advance;
        }
        shaped.over_right = (ink_right - shaped.em).max(0.0);
        self.lines.insert(text, weight, shaped);
        shaped
    }

    /// The glyphs usvg draws for the line `text` (exactly as given, as
    /// the text of one `<tspan>`), or `None` where usvg would draw it wrong
    /// (see [`draws_correctly`](Self::draws_correctly)), so that a caller
    /// drawing them itself leaves such lines to usvg.
    pub fn drawn_glyphs(&self, text: &str, weight: u16) -> Option<Vec<DrawnGlyph<'a>>> {
        let (glyphs, garbled) = self.shape(text, weight);
        if garbled || glyphs.iter().any(|g| g.id == 0) {
            return None;
        }
        Some(
            glyphs
                .iter()
                .map(|g| DrawnGlyph {
                    face: g.face,
                    id: g.id,
                    cluster: g.cluster,
                    x_advance: g.units[0],
                    x_offset: g.units[1],
                    y_offset: g.units[2],
                })
                .collect(),
        )
    }

    /// The runs usvg draws the line `text` in (exactly as given, no
    /// [`RLI`] added): consecutive characters whose glyphs come from the
    /// same face at the same bidi direction, in logical order.
    pub fn runs(&self, text: &str, weight: u16) -> Vec<Run<'a>> {
        let (glyphs, _) = self.shape(text, weight);
        // Each cluster takes the face of its first glyph; a character
        // belongs to the cluster that starts at or before it.
        let mut clusters: Vec<(usize, &Face, bool, bool)> = Vec::new();
        for g in &glyphs {
            match clusters.iter_mut().find(|c| c.0 == g.cluster) {
                Some(c) => c.3 |= g.id == 0,
                None => clusters.push((g.cluster, g.face, g.rtl, g.id == 0)),
            }
        }
        clusters.sort_by_key(|c| c.0);
        let mut runs: Vec<Run<'a>> = Vec::new();
        for (i, c) in text.char_indices() {
            let Some(&(_, face, rtl, tofu)) = clusters.iter().rev().find(|cl| cl.0 <= i) else {
                continue;
            };
            let end = i + c.len_utf8();
            match runs.last_mut() {
                Some(r) if std::ptr::eq(r.face, face) && r.rtl == rtl && r.tofu == tofu => {
                    r.range.end = end;
                }
                _ => runs.push(Run {
                    range: i..end,
                    face,
                    rtl,
                    tofu,
                }),
            }
        }
        runs
    }

    /// Glyphs of `text` laid out on one line the way usvg 0.49 does it
    /// (`shape_text` in usvg's text/layout.rs): the line is split into the
    /// visual runs of its bidi paragraph (base direction left to right, as
    /// usvg forces it), and each run is shaped by harfrust in its direction
    /// and guessed script, first with the face the template's family and
    /// weight select. While a glyph is `.notdef`, the fallback face for its
    /// character shapes the whole line again: if that face draws every
    /// glyph, it replaces them all (so a Devanagari line draws its spaces
    /// and punctuation with the Devanagari face); if it draws as many
    /// glyphs, it fills in the missing ones; otherwise usvg gives up and the
    /// `.notdef` glyphs stay. Filling in goes by position, so it also
    /// returns whether the two shapings disagreed on which cluster a
    /// position holds (then usvg draws glyphs out of order), or a run was
    /// shaped as the wrong script (see [`misscripted`]).
    fn shape(&self, text: &str, weight: u16) -> (Vec<Glyph<'a>>, bool) {
        let runs = visual_runs(text);
        let primary = self.fonts.primary(weight);
        let mut glyphs = shape_with(primary, text, &runs);
        let mut used = vec![primary.id];
        let mut garbled = misscripted(text, &runs);
        while let Some(missing) = glyphs.iter().find(|g| g.id == 0) {
            let c = text[missing.cluster..]
                .chars()
                .next()
                .expect("a cluster starts at a character");
            let Some(face) = self.fonts.fallback_for(c, primary.weight, &used) else {
                break;
            };
            let fallback = shape_with(face, text, &runs);
            if fallback.iter().all(|g| g.id != 0) {
                glyphs = fallback;
                break;
            }
            if fallback.len() != glyphs.len() {
                break;
            }
            for (g, f) in glyphs.iter_mut().zip(fallback) {
                garbled |= g.cluster != f.cluster;
                if g.id == 0 && f.id != 0 {
                    *g = f;
                }
            }
            used.push(face.id);
        }
        (glyphs, garbled)
    }

    /// Ascent and descent (negative) at `size`: the primary face's, pushed
    /// out by the ink of the text's glyphs where that reaches further.
    fn vertical(&self, size: f32, weight: u16, para: &Para) -> (f32, f32) {
        let m = self.fonts.primary(weight).metrics.line_metrics(size);
        (
            m.ascent.max(para.ink_top * size),
            m.descent.min(para.ink_bottom * size),
        )
    }

    pub fn fit(&self, text: &str, spec: &FitSpec) -> Fitted {
        let text = text.trim();
        let rtl = is_rtl(text);
        let whole = self.shaped(&shown(text, rtl), spec.weight);
        let para = Para {
            rtl,
            ink_top: whole.ink_top,
            ink_bottom: whole.ink_bottom,
        };
        let min = spec.min_size.min(spec.size).max(1.0);
        // 1. Shrink: the largest size (in 1 px steps) at which the text
        //    wraps into the allowed lines without breaking a word, first
        //    with every line drawn correctly (see `wrap`), then at any cost
        //    but the text's.
        for keep_correct in [true, false] {
            let mut size = spec.size;
            loop {
                let lines_allowed = self.lines_allowed(spec, size, &para);
                if let Some(lines) = self.wrap(text, size, spec, &para, false, keep_correct)
                    && lines.len() <= lines_allowed
                {
                    return self.finish(lines, size, spec, &para, false);
                }
                if size <= min {
                    break;
                }
                size = (size - 1.0).max(min);
            }
        }
        // 2. At the smallest size: break inside words where a word alone is
        //    wider than the box, then 3. cut and ellipsize the last line.
        let size = min;
        let lines_allowed = self.lines_allowed(spec, size, &para);
        let mut lines = self
            .wrap(text, size, spec, &para, true, false)
            .unwrap_or_default();
        if lines.len() <= lines_allowed {
            return self.finish(lines, size, spec, &para, false);
        }
        let rest = lines.split_off(lines_allowed - 1).join(" ");
        lines.push(self.ellipsize(&rest, size, spec, &para));
        self.finish(lines, size, spec, &para, true)
    }

    fn lines_allowed(&self, spec: &FitSpec, size: f32, para: &Para) -> usize {
        let by_height = spec.height.map_or(usize::MAX, |h| {
            let (asc, desc) = self.vertical(size, spec.weight, para);
            let first = asc - desc;
            if h < first {
                0
            } else {
                1 + ((h - first) / (size * spec.line_height)).floor() as usize
            }
        });
        spec.max_lines.min(by_height).max(1)
    }

    fn finish(
        &self,
        lines: Vec<String>,
        size: f32,
        spec: &FitSpec,
        para: &Para,
        truncated: bool,
    ) -> Fitted {
        let lines: Vec<String> = lines
            .iter()
            .map(|l| shown(l, para.rtl).into_owned())
            .collect();
        // The lines' own ink counts too: a word broken across lines may
        // take glyph forms the whole text does not have.
        let mut para = *para;
        let mut width: f32 = 0.0;
        let mut overhangs = Vec::with_capacity(lines.len());
        for l in &lines {
            let s = self.shaped(l, spec.weight);
            width = width.max(s.extent() * size);
            overhangs.push((s.over_left * size, s.over_right * size));
            para.ink_top = para.ink_top.max(s.ink_top);
            para.ink_bottom = para.ink_bottom.min(s.ink_bottom);
        }
        let (asc, desc) = self.vertical(size, spec.weight, &para);
        let line_advance = size * spec.line_height;
        let n = lines.len().max(1) as f32;
        Fitted {
            size,
            line_advance,
            ascent: asc,
            height: asc - desc + (n - 1.0) * line_advance,
            width,
            lines,
            overhangs,
            truncated,
        }
    }

    /// Greedy line filling at the break opportunities of UAX #14. Returns
    /// `None` when a single unbreakable segment is wider than the box and
    /// `break_words` is off. With `keep_correct`, a segment that usvg would
    /// draw correctly, appended to a line it would draw correctly, starts a
    /// new line where together they would be drawn wrong (see
    /// [`draws_correctly`](Self::draws_correctly)): "ML" and "इंजीनियर" on
    /// two lines rather than "ML इंजीनियर" with its vowel signs misplaced.
    fn wrap(
        &self,
        text: &str,
        size: f32,
        spec: &FitSpec,
        para: &Para,
        break_words: bool,
        keep_correct: bool,
    ) -> Option<Vec<String>> {
        let fits =
            |s: &str| self.line_width(s.trim_end(), size, spec.weight, para.rtl) <= spec.width;
        let shaped = |s: &str| self.shaped(&shown(s.trim_end(), para.rtl), spec.weight);
        let correct = |s: &str| !shaped(s).broken;
        let tofu = |s: &str| shaped(s).tofu;
        let mut lines: Vec<String> = Vec::new();
        let mut line = String::new();
        for segment in segments(text) {
            let candidate = format!("{line}{segment}");
            let fresh = line.trim_end().is_empty();
            // Two words usvg draws without tofu boxes never share a line
            // it would draw with one, at any cost in lines.
            if fits(&candidate)
                && (fresh || !tofu(&candidate) || tofu(&line) || tofu(segment))
                && (!keep_correct
                    || fresh
                    || correct(&candidate)
                    || !correct(&line)
                    || !correct(segment))
            {
                line = candidate;
                continue;
            }
            if !line.trim_end().is_empty() {
                lines.push(line.trim_end().to_owned());
            }
            line = segment.to_owned();
            if !fits(&line) {
                if !break_words {
                    return None;
                }
                // Hard-break the segment by graphemes, keeping the tail as
                // the start of the next line.
                let mut pieces = self.break_graphemes(line.trim_end(), size, spec, para);
                line = pieces.pop().unwrap_or_default();
                if segment.ends_with(' ') {
                    line.push(' ');
                }
                lines.extend(pieces);
            }
        }
        if !line.trim_end().is_empty() {
            lines.push(line.trim_end().to_owned());
        }
        Some(lines)
    }

    /// Splits a word wider than the box into box-wide pieces, at extended
    /// grapheme cluster boundaries (which keep Devanagari conjuncts whole,
    /// UAX #29 GB9c). Alphabetic pieces in hyphenating scripts get a
    /// hyphen, so "Donaudampf-" reads as a broken word rather than two
    /// words.
    fn break_graphemes(&self, word: &str, size: f32, spec: &FitSpec, para: &Para) -> Vec<String> {
        let mut pieces = Vec::new();
        let mut piece = String::new();
        let graphemes: Vec<&str> = word.graphemes(true).collect();
        for (i, g) in graphemes.iter().enumerate() {
            let next_is_more = i + 1 < graphemes.len();
            let mut candidate = format!("{piece}{g}");
            let hyphen = next_is_more && hyphenates(g) && hyphenates(graphemes[i + 1]);
            if hyphen {
                candidate.push('-');
            }
            if self.line_width(&candidate, size, spec.weight, para.rtl) <= spec.width
                || piece.is_empty()
            {
                piece.push_str(g);
                continue;
            }
            if piece.chars().last().is_some_and(hyphenates_char) && hyphenates(g) {
                piece.push('-');
            }
            pieces.push(std::mem::take(&mut piece));
            piece.push_str(g);
        }
        pieces.push(piece);
        pieces
    }

    /// The longest start of `text` that fits with an ellipsis after it: cut
    /// at a word boundary when that keeps at least half the line, else at a
    /// grapheme boundary. The ellipsis is "…" unless usvg would draw that
    /// line wrong (a tofu box for "…" in an Arabic line) and "..." right.
    ///
    /// A cut whose line would still have a tofu box (words of scripts usvg
    /// cannot draw together, see [`wrap`](Self::wrap)) moves back a word
    /// at a time until it has none.
    fn ellipsize(&self, text: &str, size: f32, spec: &FitSpec, para: &Para) -> String {
        let shaped = |l: &str| self.shaped(&shown(l, para.rtl), spec.weight);
        let mut text = text;
        loop {
            let line = self.ellipsize_with(text, size, spec, para, ELLIPSIS);
            if !shaped(&line).broken {
                return line;
            }
            let plain = self.ellipsize_with(text, size, spec, para, ELLIPSIS_FALLBACK);
            let best = if shaped(&plain).broken { line } else { plain };
            if !shaped(&best).tofu {
                return best;
            }
            match text.trim_end().rfind(' ') {
                Some(i) if i > 0 => text = &text[..i],
                _ => return best,
            }
        }
    }

    fn ellipsize_with(
        &self,
        text: &str,
        size: f32,
        spec: &FitSpec,
        para: &Para,
        ellipsis: &str,
    ) -> String {
        let fits = |s: &str| {
            self.line_width(&format!("{s}{ellipsis}"), size, spec.weight, para.rtl) <= spec.width
        };
        let graphemes: Vec<(usize, &str)> = text.grapheme_indices(true).collect();
        // Binary search the longest grapheme prefix that fits.
        let (mut lo, mut hi) = (0, graphemes.len());
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            let end = graphemes.get(mid).map_or(text.len(), |g| g.0);
            if fits(text[..end].trim_end()) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        let end = graphemes.get(lo).map_or(text.len(), |g| g.0);
        let cut = &text[..end];
        let word_cut = match cut.rfind(' ') {
            Some(i) if i * 2 >= cut.len() && end < text.len() => &cut[..i],
            _ => cut,
        };
        let kept = word_cut
            .trim_end()
            .trim_end_matches([',', ';', ':', '-', '—', '–', '،', '؛']);
        format!("{}{ellipsis}", kept.trim_end())
    }
}

/// The visual runs of `text`'s first bidi paragraph at base level 0, with
/// their direction, as usvg splits a line for shaping.
fn visual_runs(text: &str) -> Vec<(Range<usize>, bool)> {
    let info = unicode_bidi::BidiInfo::new(text, Some(unicode_bidi::Level::ltr()));
    let Some(para) = info.paragraphs.first() else {
        return Vec::new();
    };
    let (levels, runs) = info.visual_runs(para, para.range.clone());
    runs.into_iter()
        .filter(|r| !r.is_empty())
        .map(|r| {
            let rtl = levels[r.start].is_rtl();
            (r, rtl)
        })
        .collect()
}

/// Whether some bidi run of `text` holds characters of a script that needs
/// shaping but is shaped as another script. usvg shapes each bidi run as
/// the script of its first letter, so in "ML इंजीनियर" (one left-to-right
/// run) the Devanagari is shaped as Latin: no conjuncts, and the i-matra
/// stays after its consonant instead of before it. Latin, Greek and
/// Cyrillic letters in a run of another script shape the same either way.
fn misscripted(text: &str, runs: &[(Range<usize>, bool)]) -> bool {
    use harfrust::{Script, UnicodeBuffer, script};
    // Below Hebrew (U+0590) every script is simple.
    if text.chars().all(|c| (c as u32) < 0x0590) {
        return false;
    }
    let mut buffer = UnicodeBuffer::new();
    let mut script_of = |s: &str| -> Script {
        buffer.clear();
        buffer.push_str(s);
        buffer.guess_segment_properties();
        buffer.script()
    };
    let simple = [script::LATIN, script::GREEK, script::CYRILLIC];
    let mut one = [0u8; 4];
    runs.iter().any(|(range, _)| {
        let run = &text[range.clone()];
        let run_script = script_of(run);
        run.chars().any(|c| {
            let s = script_of(c.encode_utf8(&mut one));
            // Common and inherited characters guess no script.
            s != script::UNKNOWN && s != run_script && !simple.contains(&s)
        })
    })
}

/// Shapes each visual run of `text` with `face`, as usvg does: no features
/// beyond the defaults, script and language guessed per run.
fn shape_with<'f>(face: &'f Face, text: &str, runs: &[(Range<usize>, bool)]) -> Vec<Glyph<'f>> {
    use harfrust::{Direction, UnicodeBuffer};
    let upem = face.shaper().units_per_em() as f32;
    let mut glyphs = Vec::with_capacity(text.len());
    for (range, rtl) in runs {
        let mut buffer = UnicodeBuffer::new();
        buffer.push_str(&text[range.clone()]);
        buffer.set_direction(if *rtl {
            Direction::RightToLeft
        } else {
            Direction::LeftToRight
        });
        buffer.guess_segment_properties();
        let out = face.shape(buffer);
        for (info, pos) in out.glyph_infos().iter().zip(out.glyph_positions()) {
            glyphs.push(Glyph {
                cluster: range.start + info.cluster as usize,
                id: info.glyph_id,
                advance: pos.x_advance as f32 / upem,
                dx: pos.x_offset as f32 / upem,
                dy: pos.y_offset as f32 / upem,
                units: [pos.x_advance, pos.x_offset, pos.y_offset],
                face,
                rtl: *rtl,
            });
        }
    }
    glyphs
}

/// Line-break segments: each is a word plus its trailing spaces, or a
/// character where UAX #14 allows a break inside a run (CJK, after hyphens).
fn segments(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, _) in unicode_linebreak::linebreaks(text) {
        if i > start {
            out.push(&text[start..i]);
        }
        start = i;
    }
    out
}

fn hyphenates(g: &str) -> bool {
    g.chars().next().is_some_and(hyphenates_char)
}

/// Scripts that mark a broken word with a hyphen: Latin, Greek, Cyrillic.
fn hyphenates_char(c: char) -> bool {
    c.is_alphabetic() && (c as u32) < 0x0530
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(width: f32, size: f32, min: f32, lines: usize) -> FitSpec {
        FitSpec {
            width,
            height: None,
            size,
            min_size: min,
            max_lines: lines,
            weight: 400,
            line_height: 1.2,
        }
    }

    #[test]
    fn measures_like_the_font() {
        let fonts = Arc::new(Fonts::load(None).unwrap());
        let shaper = Shaper::new(fonts.clone());
        let m = Measurer::new(&shaper);
        assert_eq!(m.width("", 40.0, 400), 0.0);
        let a = m.width("ML Engineer", 40.0, 400);
        let b = m.width("ML Engineer", 80.0, 400);
        assert!((b - 2.0 * a).abs() < 0.01, "width scales linearly: {a} {b}");
        assert!(m.width("ML Engineer", 40.0, 700) > a, "bold is wider");
    }

    #[test]
    fn splits_lines_into_runs_as_usvg_draws_them() {
        let fonts = Arc::new(Fonts::load(None).unwrap());
        let shaper = Shaper::new(fonts.clone());
        let m = Measurer::new(&shaper);
        const INTER: &str = "Inter";
        const DEVA: &str = "Noto Sans Devanagari";
        const ARAB: &str = "Noto Sans Arabic";
        // (line, weight, [(text, family, right to left, tofu)])
        type Case = (
            &'static str,
            u16,
            &'static [(&'static str, &'static str, bool, bool)],
        );
        let cases: &[Case] = &[
            ("", 400, &[]),
            ("ML Engineer", 700, &[("ML Engineer", INTER, false, false)]),
            (
                "Инженер — Μηχανική",
                400,
                &[("Инженер — Μηχανική", INTER, false, false)],
            ),
            // A line the Devanagari face draws whole takes its spaces and
            // punctuation too: usvg swaps in the fallback for every glyph.
            (
                "मॉडल फाइन-ट्यूनिंग",
                700,
                &[("मॉडल फाइन-ट्यूनिंग", DEVA, false, false)],
            ),
            ("क्षत्रिय।", 400, &[("क्षत्रिय।", DEVA, false, false)]),
            (
                "مهندس تعلم الآلة",
                700,
                &[("مهندس تعلم الآلة", ARAB, true, false)],
            ),
            // In usvg's left-to-right paragraph the full stop stays a
            // left-to-right run of its own…
            (
                "الذكاء الاصطناعي.",
                400,
                &[
                    ("الذكاء الاصطناعي", ARAB, true, false),
                    (".", ARAB, false, false),
                ],
            ),
            // …unless the line opens a right-to-left isolate, as the fitter's
            // right-to-left lines do.
            (
                "\u{2067}الذكاء الاصطناعي.",
                400,
                &[
                    ("\u{2067}", ARAB, false, false),
                    ("الذكاء الاصطناعي.", ARAB, true, false),
                ],
            ),
            // Mixed lines: Inter keeps what it draws, the fallback fills in
            // the rest where both shapings have as many glyphs…
            (
                "Hello مرحبا",
                400,
                &[
                    ("Hello ", INTER, false, false),
                    ("مرحبا", ARAB, true, false),
                ],
            ),
            (
                "ML इंजीनियर",
                700,
                &[
                    ("ML ", INTER, false, false),
                    ("इंजीनियर", DEVA, false, false),
                ],
            ),
            // …and gives up where they do not: the lam-alef ligature makes
            // one glyph of two characters, so the Arabic stays tofu.
            (
                "Hello الآلة",
                400,
                &[("Hello ", INTER, false, false), ("الآلة", INTER, true, true)],
            ),
        ];
        for (text, weight, want) in cases {
            let got: Vec<(&str, &str, bool, bool)> = m
                .runs(text, *weight)
                .iter()
                .map(|r| {
                    (
                        &text[r.range.clone()],
                        r.face.family.as_str(),
                        r.rtl,
                        r.tofu,
                    )
                })
                .collect();
            assert_eq!(&got, want, "{text:?}");
            for r in m.runs(text, *weight) {
                if r.face.family != INTER {
                    assert_eq!(r.face.weight, *weight, "{text:?}: weight follows");
                }
            }
        }
    }

    #[test]
    fn knows_which_lines_usvg_draws_wrong() {
        let fonts = Arc::new(Fonts::load(None).unwrap());
        let shaper = Shaper::new(fonts.clone());
        let m = Measurer::new(&shaper);
        for (text, correct) in [
            ("ML Engineer", true),
            ("मशीन लर्निंग इंजीनियर", true),
            ("مهندس تعلم الآلة", true),
            ("Fine-tuning النماذج", true),
            ("इंजीनियर ML", true),
            // One left-to-right run starting with Latin: the Devanagari is
            // shaped as Latin, its i-matra after the consonant.
            ("ML इंजीनियर", false),
            ("AI एआई", false),
            // Tofu: the fallback gives up.
            ("Hello الآلة", false),
            ("الآلة…", false),
            ("الآلة...", true),
            // Nothing covers Thai.
            ("ภาษาไทย", false),
        ] {
            assert_eq!(m.draws_correctly(text, 400), correct, "{text:?}");
        }
    }

    #[test]
    fn shaped_widths_differ_from_per_character_advances() {
        // Joining forms and conjuncts: the sum of fontdue's per-character
        // advances is far from what is drawn, which fitting used to trust.
        let fonts = Arc::new(Fonts::load(None).unwrap());
        let shaper = Shaper::new(fonts.clone());
        let m = Measurer::new(&shaper);
        let naive = |text: &str| -> f32 {
            text.chars()
                .filter_map(|c| fonts.face_for(c, 400).and_then(|f| f.metrics.advance(c)))
                .map(|em| em * 40.0)
                .sum()
        };
        for text in ["الذكاء الاصطناعي", "मशीन लर्निंग"] {
            let shaped = m.width(text, 40.0, 400);
            assert!(shaped > 0.0);
            assert!((shaped - naive(text)).abs() > 5.0, "{text}: {shaped}");
        }
        // A right-to-left text is measured as the fitter draws it, behind
        // an isolate of no width; measuring the drawn line gives the same.
        let fitted = m.fit("مهندس تعلم", &spec(1000.0, 40.0, 40.0, 1));
        assert_eq!(fitted.lines.len(), 1);
        assert!(fitted.lines[0].starts_with(RLI));
        assert_eq!(m.width(&fitted.lines[0], 40.0, 400), fitted.width);
        assert_eq!(m.width("مهندس تعلم", 40.0, 400), fitted.width);
    }

    #[test]
    fn right_to_left_text_gets_right_to_left_lines() {
        let fonts = Arc::new(Fonts::load(None).unwrap());
        let shaper = Shaper::new(fonts.clone());
        let m = Measurer::new(&shaper);
        let got = m.fit(
            "الذكاء الاصطناعي يساعد في بناء الذكاء الاصطناعي.",
            &spec(300.0, 30.0, 30.0, 3),
        );
        assert!(got.lines.len() > 1, "{:?}", got.lines);
        for l in &got.lines {
            assert!(l.starts_with(RLI), "{l:?}");
            assert!(!l[RLI.len_utf8()..].contains(RLI), "{l:?}");
            assert!(m.width(l, got.size, 400) <= 300.0);
        }
        // Left-to-right text, and text that merely contains Arabic after a
        // Latin word, is left alone.
        for text in ["ML Engineer", "Fine-tuning النماذج"] {
            let got = m.fit(text, &spec(1000.0, 30.0, 30.0, 1));
            assert_eq!(got.lines, [text]);
        }
    }

    #[test]
    fn breaks_mixed_lines_usvg_would_garble_between_words() {
        let fonts = Arc::new(Fonts::load(None).unwrap());
        let shaper = Shaper::new(fonts.clone());
        let m = Measurer::new(&shaper);
        let mut s = spec(1000.0, 68.0, 40.0, 3);
        s.weight = 700;
        assert_eq!(m.fit("ML इंजीनियर", &s).lines, ["ML", "इंजीनियर"]);
        // With one line allowed it keeps the text whole rather than cut it.
        s.max_lines = 1;
        let got = m.fit("ML इंजीनियर", &s);
        assert_eq!((got.lines, got.size), (vec!["ML इंजीनियर".to_owned()], 68.0));
    }

    #[test]
    fn ellipsizes_arabic_with_full_stops_where_the_ellipsis_would_be_tofu() {
        let fonts = Arc::new(Fonts::load(None).unwrap());
        let shaper = Shaper::new(fonts.clone());
        let m = Measurer::new(&shaper);
        let got = m.fit(&"الآلة ".repeat(30), &spec(300.0, 30.0, 30.0, 1));
        assert!(got.truncated);
        let line = &got.lines[0];
        assert!(line.ends_with("..."), "{line:?}");
        assert!(m.draws_correctly(line, 400), "{line:?}");
        assert!(m.width(line, got.size, 400) <= 300.0);
        // Where "…" draws, it stays.
        let got = m.fit(&"मशीन ".repeat(30), &spec(300.0, 30.0, 30.0, 1));
        assert!(got.lines[0].ends_with(ELLIPSIS), "{:?}", got.lines);
    }

    #[test]
    fn devanagari_words_break_between_whole_clusters() {
        let fonts = Arc::new(Fonts::load(None).unwrap());
        let shaper = Shaper::new(fonts.clone());
        let m = Measurer::new(&shaper);
        // A word wider than the box: the pieces are whole grapheme
        // clusters (conjuncts like क्ष and त्र included, UAX #29 GB9c), with
        // no hyphen and no mark or virama cut from its consonant.
        let word = "क्षत्रियद्वाराश्रृंखलाप्रकृतिकृष्णहृदयद्ध्र्य";
        assert_eq!(
            "क्षत्रिय".graphemes(true).collect::<Vec<_>>(),
            ["क्ष", "त्रि", "य"]
        );
        let got = m.fit(word, &spec(120.0, 30.0, 30.0, 6));
        assert!(got.lines.len() > 1, "{:?}", got.lines);
        assert_eq!(got.lines.concat(), word);
        for l in &got.lines {
            assert!(!l.ends_with('-') && !l.ends_with('\u{094D}'), "{l:?}");
            let first = l.chars().next().unwrap();
            assert!(
                !('\u{093A}'..='\u{094F}').contains(&first)
                    && !('\u{0900}'..='\u{0903}').contains(&first),
                "{l:?} starts with a sign"
            );
            assert!(m.width(l, got.size, 400) <= 120.0, "{l:?}");
            assert!(m.draws_correctly(l, 400), "{l:?}");
        }
    }

    #[test]
    fn fallback_ink_pushes_the_line_box_out() {
        let fonts = Arc::new(Fonts::load(None).unwrap());
        let shaper = Shaper::new(fonts.clone());
        let m = Measurer::new(&shaper);
        let s = spec(1000.0, 40.0, 40.0, 1);
        let latin = m.fit("Engineer", &s);
        // Arabic descends further than Inter's descent; Devanagari's
        // below-base vowel signs too.
        let arabic = m.fit("إلجيني", &s);
        let hindi = m.fit("कृष्ण हृदय", &s);
        assert_eq!(arabic.ascent, latin.ascent);
        assert!(arabic.height > latin.height + 0.15 * 40.0, "{arabic:?}");
        assert!(hindi.height > latin.height, "{hindi:?}");
        // Inter's own ring on "Å" rises above its ascent (found by the
        // card_to_svg fuzz target).
        let ring = m.fit("Å", &s);
        assert!(ring.ascent > latin.ascent, "{ring:?}");
    }

    #[test]
    fn never_draws_a_tofu_box_for_covered_characters() {
        let fonts = Arc::new(Fonts::load(None).unwrap());
        let shaper = Shaper::new(fonts.clone());
        let m = Measurer::new(&shaper);
        // Latin with a combining mark, then Arabic, in one word: usvg's
        // line fallback cannot draw it (found by the card_to_svg fuzz
        // target); the service answers 422 for it.
        assert_eq!(
            m.undrawable_words("AI yy\u{0301}\u{06AD} x", 700),
            vec!["yy\u{0301}\u{06AD}"]
        );
        assert!(m.undrawable_words("ML इंजीनियर مهندس", 700).is_empty());
        // The same scripts as separate words get separate lines, even in a
        // box that then has to ellipsize.
        for lines in [1, 3] {
            let s = spec(300.0, 27.0, 27.0, lines);
            let fit = m.fit("yy\u{0301} \u{06AD}\u{06AD} yy\u{0301}", &s);
            for l in &fit.lines {
                assert!(!m.shaped(l, 400).tofu, "{lines}: {fit:?}");
            }
            assert_eq!(fit.truncated, lines == 1, "{fit:?}");
        }
    }

    #[test]
    fn ink_beyond_the_advances_moves_the_line_in() {
        let fonts = Arc::new(Fonts::load(None).unwrap());
        let shaper = Shaper::new(fonts.clone());
        let m = Measurer::new(&shaper);
        let s = spec(1000.0, 27.0, 27.0, 1);
        // The madda of a final "آ" is drawn left of the line's visual
        // start (found by the card_to_svg fuzz target).
        let madda = m.fit("ةآ", &s);
        let (left, right) = madda.overhangs[0];
        assert!(left > 1.0 && right == 0.0, "{madda:?}");
        assert!(madda.width > m.shaped(&madda.lines[0], 400).em * 27.0 + 1.0);
        assert_eq!(madda.line_x(0, "start", 100.0), 100.0 + left);
        assert_eq!(madda.line_x(0, "end", 100.0), 100.0);
        assert_eq!(madda.line_x(0, "middle", 100.0), 100.0 + left / 2.0);
        // Plain Latin stays where it was put.
        let plain = m.fit("Engineer", &s);
        assert_eq!(plain.overhangs, vec![(0.0, 0.0)]);
        assert_eq!(plain.line_x(0, "start", 100.0), 100.0);
    }

    #[test]
    fn fitting_table() {
        let fonts = Arc::new(Fonts::load(None).unwrap());
        let shaper = Shaper::new(fonts.clone());
        let m = Measurer::new(&shaper);
        struct Case {
            text: &'static str,
            spec: FitSpec,
            size: f32,
            lines: &'static [&'static str],
            truncated: bool,
        }
        let cases = [
            // Short text keeps its preferred size on one line.
            Case {
                text: "ML Engineer",
                spec: spec(600.0, 64.0, 40.0, 2),
                size: 64.0,
                lines: &["ML Engineer"],
                truncated: false,
            },
            // Wrapping at the preferred size beats shrinking onto one line.
            Case {
                text: "Senior Principal Engineer",
                spec: spec(500.0, 60.0, 30.0, 2),
                size: 60.0,
                lines: &["Senior Principal", "Engineer"],
                truncated: false,
            },
            // With one line allowed it shrinks instead.
            Case {
                text: "Senior Principal Engineer",
                spec: spec(500.0, 60.0, 20.0, 1),
                size: 42.0,
                lines: &["Senior Principal Engineer"],
                truncated: false,
            },
            // Too long even at the minimum size: cut at a word, ellipsis.
            Case {
                text: "one two three four five six seven eight nine ten",
                spec: spec(200.0, 20.0, 20.0, 1),
                size: 20.0,
                lines: &["one two three four…"],
                truncated: true,
            },
            // A word wider than the box at minimum size is hyphenated.
            Case {
                text: "Donaudampfschifffahrtsgesellschaft",
                spec: spec(200.0, 30.0, 24.0, 3),
                size: 24.0,
                lines: &["Donaudampfsch-", "ifffahrtsgesellsc-", "haft"],
                truncated: false,
            },
        ];
        for c in cases {
            let got = m.fit(c.text, &c.spec);
            assert_eq!(got.size, c.size, "{}", c.text);
            assert_eq!(got.lines, c.lines, "{}", c.text);
            assert_eq!(got.truncated, c.truncated, "{}", c.text);
            for l in &got.lines {
                assert!(m.width(l, got.size, 400) <= c.spec.width, "{l:?} fits");
            }
            // The size is the largest that fits: one px more does not.
            if got.size > c.spec.min_size && got.size < c.spec.size {
                let bigger = m.fit(
                    c.text,
                    &FitSpec {
                        size: got.size + 1.0,
                        min_size: got.size + 1.0,
                        ..c.spec.clone()
                    },
                );
                assert!(
                    bigger.truncated || bigger.lines.len() > c.spec.max_lines,
                    "{}",
                    c.text
                );
            }
        }
    }

    #[test]
    fn height_limits_lines() {
        let fonts = Arc::new(Fonts::load(None).unwrap());
        let shaper = Shaper::new(fonts.clone());
        let m = Measurer::new(&shaper);
        let mut s = spec(300.0, 30.0, 30.0, 10);
        // Two lines need ascent-descent (~1.21 em) plus one line advance.
        s.height = Some(30.0 * (1.22 + 1.2));
        let got = m.fit(&"word ".repeat(50), &s);
        assert_eq!(got.lines.len(), 2);
        assert!(got.height <= s.height.unwrap());
        assert!(got.truncated);
        assert!(got.lines[1].ends_with(ELLIPSIS));
    }

    #[test]
    fn never_exceeds_width_for_sample_texts() {
        let fonts = Arc::new(Fonts::load(None).unwrap());
        let shaper = Shaper::new(fonts.clone());
        let m = Measurer::new(&shaper);
        let texts = [
            "A title this long has to wrap, shrink, and still read cleanly at thumbnail size on every platform that shows it.",
            "Rechtsanwaltsfachangestelltenausbildungsbeauftragter",
            "Ça marche aussi avec des accents, des ligatures (ﬁ) et des tirets — non ?",
            "x",
            "WWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWW",
        ];
        for width in [40.0, 120.0, 500.0] {
            for lines in 1..=3 {
                for t in texts {
                    let s = spec(width, 48.0, 16.0, lines);
                    let got = m.fit(t, &s);
                    assert!(got.lines.len() <= lines, "{t} {width} {lines}");
                    for l in &got.lines {
                        assert!(!l.is_empty());
                        assert!(m.width(l, got.size, 400) <= width, "{l:?} in {width}");
                    }
                }
            }
        }
    }
}
