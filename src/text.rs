//! Text fitting: shrink, then wrap, then ellipsize, until text fits its box.
//!
//! resvg does not wrap text (resvg#643), so every line break on a card is
//! decided here, with widths measured from the same font faces the renderer
//! draws with (see [`crate::fonts`]). The integration tests check the result
//! against the bounding boxes of the rendered glyphs, so a measurement error
//! shows up as a failing test rather than as text off the edge of a card.

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
    /// Widest line's advance width, px.
    pub width: f32,
    /// Whether text was cut and an ellipsis added.
    pub truncated: bool,
}

pub struct Measurer<'a> {
    fonts: &'a Fonts,
}

impl<'a> Measurer<'a> {
    pub fn new(fonts: &'a Fonts) -> Self {
        Measurer { fonts }
    }

    /// Advance width of `text` on one line at `size` px: per-glyph advances
    /// plus kerning, with each character drawn by the face the renderer
    /// would pick for it.
    pub fn width(&self, text: &str, size: f32, weight: u16) -> f32 {
        let mut total = 0.0;
        let mut prev: Option<(char, &Face)> = None;
        for c in text.chars() {
            let Some(face) = self.fonts.face_for(c, weight) else {
                // Uncovered characters are rejected before fitting; should
                // one slip through, the renderer draws nothing for it.
                prev = None;
                continue;
            };
            total += face.metrics.metrics(c, size).advance_width;
            if let Some((p, pf)) = prev
                && std::ptr::eq(pf, face)
            {
                total += face.metrics.horizontal_kern(p, c, size).unwrap_or(0.0);
            }
            prev = Some((c, face));
        }
        total
    }

    /// Ascent and descent (negative) of the primary face at `size`.
    fn vertical(&self, size: f32, weight: u16) -> (f32, f32) {
        let face = self
            .fonts
            .face_for('A', weight)
            .expect("primary family has Latin");
        let m = face
            .metrics
            .horizontal_line_metrics(size)
            .expect("fonts have horizontal metrics");
        (m.ascent, m.descent)
    }

    pub fn fit(&self, text: &str, spec: &FitSpec) -> Fitted {
        let text = text.trim();
        let min = spec.min_size.min(spec.size).max(1.0);
        let mut size = spec.size;
        // 1. Shrink: the largest size (in 1 px steps) at which the text
        //    wraps into the allowed lines without breaking a word.
        loop {
            let lines_allowed = self.lines_allowed(spec, size);
            if let Some(lines) = self.wrap(text, size, spec, false)
                && lines.len() <= lines_allowed
            {
                return self.finish(lines, size, spec, false);
            }
            if size <= min {
                break;
            }
            size = (size - 1.0).max(min);
        }
        // 2. At the smallest size: break inside words where a word alone is
        //    wider than the box, then 3. cut and ellipsize the last line.
        let size = min;
        let lines_allowed = self.lines_allowed(spec, size);
        let mut lines = self.wrap(text, size, spec, true).unwrap_or_default();
        if lines.len() <= lines_allowed {
            return self.finish(lines, size, spec, false);
        }
        let rest = lines.split_off(lines_allowed - 1).join(" ");
        lines.push(self.ellipsize(&rest, size, spec));
        self.finish(lines, size, spec, true)
    }

    fn lines_allowed(&self, spec: &FitSpec, size: f32) -> usize {
        let by_height = spec.height.map_or(usize::MAX, |h| {
            let (asc, desc) = self.vertical(size, spec.weight);
            let first = asc - desc;
            if h < first {
                0
            } else {
                1 + ((h - first) / (size * spec.line_height)).floor() as usize
            }
        });
        spec.max_lines.min(by_height).max(1)
    }

    fn finish(&self, lines: Vec<String>, size: f32, spec: &FitSpec, truncated: bool) -> Fitted {
        let (asc, desc) = self.vertical(size, spec.weight);
        let line_advance = size * spec.line_height;
        let width = lines
            .iter()
            .map(|l| self.width(l, size, spec.weight))
            .fold(0.0, f32::max);
        let n = lines.len().max(1) as f32;
        Fitted {
            size,
            line_advance,
            ascent: asc,
            height: asc - desc + (n - 1.0) * line_advance,
            width,
            lines,
            truncated,
        }
    }

    /// Greedy line filling at the break opportunities of UAX #14. Returns
    /// `None` when a single unbreakable segment is wider than the box and
    /// `break_words` is off.
    fn wrap(
        &self,
        text: &str,
        size: f32,
        spec: &FitSpec,
        break_words: bool,
    ) -> Option<Vec<String>> {
        let fits = |s: &str| self.width(s.trim_end(), size, spec.weight) <= spec.width;
        let mut lines: Vec<String> = Vec::new();
        let mut line = String::new();
        for segment in segments(text) {
            let candidate = format!("{line}{segment}");
            if fits(&candidate) {
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
                let mut pieces = self.break_graphemes(line.trim_end(), size, spec);
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

    /// Splits a word wider than the box into box-wide pieces. Alphabetic
    /// pieces in hyphenating scripts get a hyphen, so "Donaudampf-" reads as
    /// a broken word rather than two words.
    fn break_graphemes(&self, word: &str, size: f32, spec: &FitSpec) -> Vec<String> {
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
            if self.width(&candidate, size, spec.weight) <= spec.width || piece.is_empty() {
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
    /// grapheme boundary.
    fn ellipsize(&self, text: &str, size: f32, spec: &FitSpec) -> String {
        let fits = |s: &str| self.width(&format!("{s}{ELLIPSIS}"), size, spec.weight) <= spec.width;
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
            .trim_end_matches([',', ';', ':', '-', '—', '–']);
        format!("{}{ELLIPSIS}", kept.trim_end())
    }
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
        let fonts = Fonts::load(None).unwrap();
        let m = Measurer::new(&fonts);
        assert_eq!(m.width("", 40.0, 400), 0.0);
        let a = m.width("ML Engineer", 40.0, 400);
        let b = m.width("ML Engineer", 80.0, 400);
        assert!((b - 2.0 * a).abs() < 0.01, "width scales linearly: {a} {b}");
        assert!(m.width("ML Engineer", 40.0, 700) > a, "bold is wider");
    }

    #[test]
    fn fitting_table() {
        let fonts = Fonts::load(None).unwrap();
        let m = Measurer::new(&fonts);
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
        let fonts = Fonts::load(None).unwrap();
        let m = Measurer::new(&fonts);
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
        let fonts = Fonts::load(None).unwrap();
        let m = Measurer::new(&fonts);
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
