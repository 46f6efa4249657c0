//! Shaping a line as usvg lays it out: the same faces, fallback, bidi
//! runs and shaper (harfrust), with the shaped lines cached by text.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Mutex;

#[cfg(test)]
use super::Run;
use super::fit::segments;
use super::{DrawnGlyph, Glyph, Measurer, Piece, RLI, is_rtl, shown};
use crate::fonts::Face;

/// Shaped lines by text and weight, shared by every render with the same
/// fonts: fitting measures the same candidate lines at every size it
/// tries, shaping does not depend on size, and cards of one role share
/// their texts across risks, themes, scales and templates. Bounded: it
/// starts over when full.
#[derive(Default)]
pub(super) struct LineCache {
    lines: Mutex<HashMap<(String, u16), Shaped>>,
}

impl LineCache {
    /// About 1.5 MiB when full (keys are lines of at most a few hundred
    /// bytes).
    const MAX_LINES: usize = 8192;

    pub(super) fn get(&self, text: &str, weight: u16) -> Option<Shaped> {
        let lines = self.lines.lock().expect("not poisoned");
        // A borrowed lookup would need a custom key type; the clone is a
        // short string and far cheaper than shaping.
        lines.get(&(text.to_owned(), weight)).copied()
    }

    pub(super) fn insert(&self, text: &str, weight: u16, shaped: Shaped) {
        let mut lines = self.lines.lock().expect("not poisoned");
        if lines.len() >= Self::MAX_LINES {
            lines.clear();
        }
        lines.insert((text.to_owned(), weight), shaped);
    }
}

/// A line as usvg lays it out, reduced to what fitting needs. Lengths in
/// em, y up from the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(super) struct Shaped {
    /// Sum of the glyph advances.
    pub(super) em: f32,
    /// usvg draws this line wrong (see [`Measurer::draws_correctly`]).
    pub(super) broken: bool,
    /// Some glyph is `.notdef`: a tofu box (implies `broken`).
    pub(super) tofu: bool,
    /// Highest and lowest ink of the line's glyphs (0 for an empty line):
    /// Arabic and Devanagari reach further below the baseline than Inter's
    /// descent, and Inter's own "Å" rises above its ascent.
    pub(super) ink_top: f32,
    pub(super) ink_bottom: f32,
    /// How far ink reaches left of the line's start and right of its
    /// advance end (0 when it does not): a final Arabic alef madda, or an
    /// italic-like overhang, is drawn outside the advance box.
    pub(super) over_left: f32,
    pub(super) over_right: f32,
    /// The line's rightmost cluster has no advance (a lone combining mark
    /// at the start of a right-to-left line): usvg gives such a cluster
    /// 1 px of advance box (`layout.rs`, "advance <= 0.0"), past the
    /// line's end.
    pub(super) zero_at_end: bool,
}

impl Shaped {
    /// How far past the advance end the line reaches at `size` px: its ink,
    /// or usvg's 1 px box for a zero-advance cluster there.
    pub(super) fn right_px(&self, size: f32) -> f32 {
        let zero = if self.zero_at_end { 1.0 } else { 0.0 };
        (self.over_right * size).max(zero)
    }

    /// Horizontal room the line's ink and advance box need at `size` px.
    pub(super) fn extent_px(&self, size: f32) -> f32 {
        (self.over_left + self.em) * size + self.right_px(size)
    }
}

impl<'a> Measurer<'a> {
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
    ///
    /// A word with emoji is drawn in pieces (see [`pieces`](Self::pieces)),
    /// but broken across lines, its text between emoji may come out whole
    /// on a line of its own: that text must draw as one line too.
    pub(crate) fn undrawable_words(&self, text: &str, weight: u16) -> Vec<String> {
        let text = text.trim();
        let rtl = is_rtl(text);
        let tofu = |s: &str| self.shaped(&shown(s, rtl), weight).tofu;
        let mut words: Vec<String> = Vec::new();
        for word in segments(text) {
            let word = word.trim_end();
            if !word.is_empty()
                && (tofu(word) || self.between_emoji(word).into_iter().any(tofu))
                && !words.iter().any(|w| w == word)
            {
                words.push(word.to_owned());
            }
        }
        words
    }

    /// The stretches of `text` between its emoji clusters, trimmed; none
    /// when it has no emoji.
    fn between_emoji<'t>(&self, text: &'t str) -> Vec<&'t str> {
        let stretches = self.stretches(text, 0..text.len());
        if !stretches.iter().any(|(_, emoji)| *emoji) {
            return Vec::new();
        }
        stretches
            .into_iter()
            .filter(|(_, emoji)| !emoji)
            .map(|(r, _)| text[r].trim())
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// `text[range]` as stretches of emoji clusters and of text, in
    /// logical order: (byte range in `text`, is emoji).
    fn stretches(&self, text: &str, range: Range<usize>) -> Vec<(Range<usize>, bool)> {
        use unicode_segmentation::UnicodeSegmentation;
        let mut stretches: Vec<(Range<usize>, bool)> = Vec::new();
        for (i, g) in text[range.clone()].grapheme_indices(true) {
            let (start, is_emoji) = (range.start + i, self.fonts.is_emoji(g));
            match stretches.last_mut() {
                Some((r, e)) if *e == is_emoji => r.end = start + g.len(),
                _ => stretches.push((start..start + g.len(), is_emoji)),
            }
        }
        stretches
    }

    /// The runs usvg draws the line `text` in (exactly as given, no
    /// [`RLI`] added): consecutive characters whose glyphs come from the
    /// same face at the same bidi direction, in logical order.
    #[cfg(test)]
    pub(crate) fn runs(&self, text: &str, weight: u16) -> Vec<Run<'a>> {
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

    pub(super) fn line_width(&self, line: &str, size: f32, weight: u16, rtl: bool) -> f32 {
        self.shaped(&shown(line, rtl), weight).extent_px(size)
    }

    pub(super) fn shaped(&self, text: &str, weight: u16) -> Shaped {
        if let Some(s) = self.lines.get(text, weight) {
            return s;
        }
        let shaped = match self.pieces(text, weight) {
            Some(pieces) => joined(&pieces),
            None => self.shaped_with(text, self.fonts.primary(weight)),
        };
        self.lines.insert(text, weight, shaped);
        shaped
    }

    /// `text` shaped as one usvg chunk that starts with `primary`.
    fn shaped_with(&self, text: &str, primary: &'a Face) -> Shaped {
        let (glyphs, garbled) = self.shape_from(text, primary);
        let mut shaped = Shaped {
            broken: garbled,
            ..Shaped::default()
        };
        // Glyphs are in visual order: the last cluster is the rightmost.
        if let Some(last) = glyphs.last() {
            let tail = glyphs
                .iter()
                .rev()
                .take_while(|g| g.cluster == last.cluster);
            shaped.zero_at_end = tail.map(|g| g.advance).sum::<f32>() <= 0.0;
        }
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
        shaped
    }

    /// The line `text` (as drawn: [`shown`]) in the pieces it is drawn as,
    /// left to right, if it holds an emoji; `None` when it is drawn whole.
    ///
    /// usvg falls back from face to face per line, not per cluster (see
    /// [`shape`](Self::shape)), and gives up where two faces shape a line
    /// into different numbers of glyphs, as an emoji ZWJ sequence does
    /// (three characters, one glyph). So a line with emoji is drawn as
    /// pieces, each its own usvg chunk at a position measured here: the
    /// line's bidi runs in visual order, split where emoji clusters meet
    /// text, each shaped alone by the face that draws it. Spaces at a
    /// piece's ends are left out (usvg would collapse them) and kept as
    /// distance.
    pub(crate) fn pieces(&self, text: &str, weight: u16) -> Option<Vec<Piece>> {
        use unicode_segmentation::UnicodeSegmentation;
        let emoji = self.fonts.emoji_face()?;
        if text.is_ascii() || !text.graphemes(true).any(|g| self.fonts.is_emoji(g)) {
            return None;
        }
        let info = unicode_bidi::BidiInfo::new(text, Some(unicode_bidi::Level::ltr()));
        let para = info.paragraphs.first()?;
        let (levels, runs) = info.visual_runs(para, para.range.clone());
        let space = self.shaped_with(" ", self.fonts.primary(weight)).em;
        let mut pieces = Vec::new();
        let mut x = 0.0;
        for run in runs.into_iter().filter(|r| !r.is_empty()) {
            let rtl = levels[run.start].is_rtl();
            let mut stretches = self.stretches(text, run);
            if rtl {
                stretches.reverse();
            }
            for (range, is_emoji) in stretches {
                let stretch = text[range].replace(RLI, "");
                // Spaces at a piece's ends become distance; directional
                // marks there have done their work in the runs above, and
                // alone in a chunk they are a zero-advance glyph that usvg
                // counts as 1 px of advance box (found by the card_to_svg
                // fuzz target).
                // Whole graphemes only: a space carrying a combining mark
                // is a character to draw.
                let edge = |g: &&str| matches!(*g, " " | "\u{200E}" | "\u{200F}" | "\u{061C}");
                let graphemes: Vec<(usize, &str)> = stretch.grapheme_indices(true).collect();
                let first = graphemes.iter().position(|(_, g)| !edge(g));
                let last = graphemes.iter().rposition(|(_, g)| !edge(g));
                let (inner, head, tail) = match (first, last) {
                    (Some(f), Some(l)) => {
                        let (start, end) = (graphemes[f].0, graphemes[l].0 + graphemes[l].1.len());
                        (&stretch[start..end], &stretch[..start], &stretch[end..])
                    }
                    _ => ("", stretch.as_str(), ""),
                };
                let (leading, trailing) = if inner.is_empty() {
                    (stretch.matches(' ').count(), 0)
                } else {
                    (head.matches(' ').count(), tail.matches(' ').count())
                };
                let left = if rtl { trailing } else { leading } as f32 * space;
                if inner.is_empty() {
                    x += (leading + trailing) as f32 * space;
                    continue;
                }
                let drawn = shown(inner, rtl).into_owned();
                let shaped = if is_emoji {
                    self.shaped_emoji(&drawn, emoji)
                } else {
                    self.shaped(&drawn, weight)
                };
                pieces.push(Piece {
                    text: drawn,
                    family: is_emoji.then(|| emoji.family.clone()),
                    start: x + left,
                    shaped,
                });
                x += (leading + trailing) as f32 * space + shaped.em;
            }
        }
        Some(pieces)
    }

    /// An emoji piece, shaped by the emoji face its `<tspan>` names.
    fn shaped_emoji(&self, text: &str, emoji: &'a Face) -> Shaped {
        // Emoji pieces share the cache under a weight no text has.
        const EMOJI: u16 = u16::MAX;
        if let Some(s) = self.lines.get(text, EMOJI) {
            return s;
        }
        let shaped = self.shaped_with(text, emoji);
        self.lines.insert(text, EMOJI, shaped);
        shaped
    }

    /// The glyphs usvg draws for the line `text` (exactly as given, as
    /// the text of one `<tspan>`), or `None` where usvg would draw it wrong
    /// (see [`draws_correctly`](Self::draws_correctly)), so that a caller
    /// drawing them itself leaves such lines to usvg.
    pub(crate) fn drawn_glyphs(&self, text: &str, weight: u16) -> Option<Vec<DrawnGlyph<'a>>> {
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
    pub(super) fn shape(&self, text: &str, weight: u16) -> (Vec<Glyph<'a>>, bool) {
        self.shape_from(text, self.fonts.primary(weight))
    }

    /// [`shape`](Self::shape) for a chunk whose family selects `primary`.
    fn shape_from(&self, text: &str, primary: &'a Face) -> (Vec<Glyph<'a>>, bool) {
        let runs = visual_runs(text);
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
}

/// A line's pieces measured together: each piece's glyphs where
/// [`Measurer::pieces`] put it.
fn joined(pieces: &[Piece]) -> Shaped {
    let mut line = Shaped::default();
    let mut ink_right: f32 = 0.0;
    for p in pieces {
        let s = p.shaped;
        line.broken |= s.broken;
        line.tofu |= s.tofu;
        line.ink_top = line.ink_top.max(s.ink_top);
        line.ink_bottom = line.ink_bottom.min(s.ink_bottom);
        line.over_left = line.over_left.max(s.over_left - p.start);
        ink_right = ink_right.max(p.start + s.em + s.over_right);
        line.em = line.em.max(p.start + s.em);
        // Pieces are in visual order: the last one ends the line.
        line.zero_at_end = s.zero_at_end;
    }
    line.over_right = (ink_right - line.em).max(0.0);
    line
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
/// Cyrillic letters, and Han, Hiragana and Katakana (which Japanese mixes
/// in every word), shape the same in a run of another script.
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
    let simple = [
        script::LATIN,
        script::GREEK,
        script::CYRILLIC,
        script::HAN,
        script::HIRAGANA,
        script::KATAKANA,
    ];
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
