//! Text: shaping lines as usvg lays them out ([`shape`]), and fitting
//! text into a box ([`fit`]): shrink, then wrap, then ellipsize, until it
//! fits.
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
use std::sync::Arc;

use crate::fonts::{Face, Fonts};

mod fit;
mod shape;

pub use fit::Wrap;

use shape::LineCache;

pub(crate) const ELLIPSIS: &str = "…";

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
    pub(crate) line_advance: f32,
    /// Distance from the box top to the first baseline, px.
    pub(crate) ascent: f32,
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
    /// The text's base direction is right to left (UAX #9 P2–P3): its
    /// lines start at the right.
    pub(crate) rtl: bool,
    /// Per line, its advance width, px: what an SVG `text-anchor` places.
    pub(crate) advances: Vec<f32>,
    /// Per line, the pieces it is drawn as (see [`Measurer::pieces`]),
    /// with `start` in px; empty for a line drawn as one `<tspan>`.
    pub(crate) pieces: Vec<Vec<Piece>>,
}

impl Fitted {
    /// Where to put line `i`'s anchor so that its ink, not just its
    /// advances, stays within the box that `x` anchors with `anchor`
    /// (an SVG `text-anchor`): right of the start by its left overhang,
    /// left of the end by its right overhang, or centred on its ink.
    pub(crate) fn line_x(&self, i: usize, anchor: &str, x: f32) -> f32 {
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

/// (Tests.) A stretch of a line drawn by one face in one direction, in logical
/// order: how usvg splits it (see [`Measurer::runs`]).
#[cfg(test)]
#[derive(Debug, Clone)]
pub(crate) struct Run<'f> {
    /// Byte range in the measured text.
    pub(crate) range: std::ops::Range<usize>,
    pub(crate) face: &'f Face,
    /// Laid out right to left (an odd bidi level).
    pub(crate) rtl: bool,
    /// Some glyph is `.notdef` (a tofu box).
    pub(crate) tofu: bool,
}

/// A stretch of a line drawn as its own `<tspan>` (see
/// [`Measurer::pieces`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Piece {
    /// What the `<tspan>` holds: no spaces at either end, and [`RLI`] in
    /// front where the stretch is laid out right to left.
    pub(crate) text: String,
    /// The family the `<tspan>` names, where it is not the text's own:
    /// the emoji face's.
    pub(crate) family: Option<String>,
    /// Where its advances start, in em from the line's left end.
    pub(crate) start: f32,
    shaped: shape::Shaped,
}

/// One shaped glyph, in visual order.
#[derive(Clone, Copy)]
pub(super) struct Glyph<'f> {
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
    /// Read by the tests' [`Measurer::runs`].
    #[cfg_attr(not(test), allow(dead_code))]
    rtl: bool,
}

/// A glyph of a line as usvg draws it (see [`Measurer::drawn_glyphs`]), in
/// visual order, positions in font units.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DrawnGlyph<'f> {
    pub(crate) face: &'f Face,
    pub(crate) id: u32,
    /// Byte offset of its cluster in the line: consecutive glyphs with the
    /// same offset form one cluster.
    pub(crate) cluster: usize,
    pub(crate) x_advance: i32,
    pub(crate) x_offset: i32,
    pub(crate) y_offset: i32,
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

/// Whether `text`'s base direction is right to left.
pub(super) fn is_rtl(text: &str) -> bool {
    unicode_bidi::get_base_direction(text) == unicode_bidi::Direction::Rtl
}

/// `line` as drawn: with [`RLI`] in front in a right-to-left text.
pub(super) fn shown(line: &str, rtl: bool) -> Cow<'_, str> {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use unicode_segmentation::UnicodeSegmentation;

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
    fn emoji_pieces_sit_where_their_spaces_put_them() {
        let fonts = Arc::new(Fonts::load(None).unwrap());
        let shaper = Shaper::new(fonts.clone());
        let m = Measurer::new(&shaper);
        let space = m.advance(" ", 1.0, 400);
        assert!(m.pieces("Plain text", 400).is_none());
        // One space between two emoji is one space of distance (it was
        // counted as leading and trailing both), one run of spaces after
        // text too; every emoji is 1 em wide.
        let got = m.pieces("🚀 1\u{FE0F}\u{20E3}  ab 🚀", 400).unwrap();
        let texts: Vec<&str> = got.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(texts, ["🚀", "1\u{FE0F}\u{20E3}", "ab", "🚀"]);
        let want = [0.0, 1.0 + space, 2.0 + 3.0 * space, 0.0];
        for (p, w) in got.iter().zip(want).take(3) {
            assert!((p.start - w).abs() < 1e-4, "{p:?} at {w}");
        }
        let ab = m.advance("ab", 1.0, 400);
        assert!(
            (got[3].start - (want[2] + ab + space)).abs() < 1e-4,
            "{got:?}"
        );
        assert_eq!(
            got.iter().map(|p| p.family.is_some()).collect::<Vec<_>>(),
            [true, true, false, true]
        );
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
        // With an emoji in the word it is drawn in pieces, one per bidi
        // run, but broken across lines its text may stand alone on one,
        // where it is a tofu box again (found by the card_to_svg fuzz
        // target): the same 422 as without the emoji.
        assert_eq!(
            m.undrawable_words("Helloالآلة#\u{FE0F}\u{20E3} x", 400),
            vec!["Helloالآلة#\u{FE0F}\u{20E3}"]
        );
        assert!(m.undrawable_words("Hello🚀 الآلة🚀", 400).is_empty());
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
            // Emoji (one glyph a sequence), alone, in words and in a
            // right-to-left text.
            "Community Manager 🚀 👩\u{200D}💻👍🏽🇧🇷 1\u{FE0F}\u{20E3} ❤\u{FE0F} ❤ and more 🤖📈🤖📈🤖📈🤖📈",
            "🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀",
            "مهندس تعلم الآلة 🚀 يبني النماذج 🤖، والذكاء الاصطناعي.",
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
                    assert!(got.width <= width, "{t} in {width}: {got:?}");
                }
            }
        }
    }
}
