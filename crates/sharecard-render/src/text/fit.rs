//! Fitting text into a box: the largest size at which it wraps into the
//! allowed lines, then hard breaks, then an ellipsis.

use unicode_segmentation::UnicodeSegmentation;

use super::{ELLIPSIS, FitSpec, Fitted, Measurer, is_rtl, shown};

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

/// How [`Measurer::wrap`] may fill lines.
#[derive(Debug, Clone, Copy)]
struct WrapRules {
    /// A segment wider than the box is broken between graphemes (with a
    /// hyphen where the script uses one); otherwise wrapping gives up.
    break_words: bool,
    /// A segment that usvg would draw correctly, appended to a line it
    /// would draw correctly, starts a new line where together they would
    /// be drawn wrong (see [`Measurer::draws_correctly`]): "ML" and
    /// "इंजीनियर" on two lines rather than "ML इंजीनियर" with its vowel
    /// signs misplaced.
    keep_correct: bool,
}

/// Where a text's line breaks fall, once its size and number of lines are
/// chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wrap {
    /// Each line filled as far as it goes (CSS `text-wrap: wrap`).
    Greedy,
    /// Lines of similar widths (CSS `text-wrap: balance`): for titles,
    /// where a last line of one word reads as a widow.
    Balance,
    /// Greedy, but a last line of one word, or narrower than a third of
    /// the widest line, takes words from the line before it, the two
    /// balanced (after CSS `text-wrap: pretty`): for paragraphs.
    Pretty,
}

impl WrapRules {
    /// The last resort at the smallest size: any line, words broken.
    const BREAK_WORDS: WrapRules = WrapRules {
        break_words: true,
        keep_correct: false,
    };
}

/// What is drawn for an ellipsis where "…" would be a tofu box: Noto Sans
/// Arabic has no U+2026, and usvg cannot fall back for it inside a line
/// with a lam-alef ligature (see [`Measurer::draws_correctly`]).
const ELLIPSIS_FALLBACK: &str = "...";

impl Measurer<'_> {
    /// Ascent and descent (negative) at `size`: the primary face's, pushed
    /// out by the ink of the text's glyphs where that reaches further.
    fn vertical(&self, size: f32, weight: u16, para: &Para) -> (f32, f32) {
        let m = self.fonts.primary(weight).metrics.line_metrics(size);
        (
            m.ascent.max(para.ink_top * size),
            m.descent.min(para.ink_bottom * size),
        )
    }

    /// [`fit_with`](Self::fit_with) greedy: each line filled as far as it
    /// goes.
    pub fn fit(&self, text: &str, spec: &FitSpec) -> Fitted {
        self.fit_with(text, spec, Wrap::Greedy)
    }

    /// The largest size at which `text` fits `spec`, its lines broken as
    /// `wrap` says (see [`Wrap`]). `wrap` never changes the size or the
    /// number of lines, only where the breaks fall.
    pub(crate) fn fit_with(&self, text: &str, spec: &FitSpec, wrap: Wrap) -> Fitted {
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
            let rules = WrapRules {
                break_words: false,
                keep_correct,
            };
            let mut size = spec.size;
            loop {
                let lines_allowed = self.lines_allowed(spec, size, &para);
                if let Some(lines) = self.wrap(text, size, spec, &para, rules)
                    && lines.len() <= lines_allowed
                {
                    let lines = self.rewrap(text, lines, size, spec, &para, rules, wrap);
                    let n = lines.len();
                    let fitted = self.finish(lines, size, spec, &para, false);
                    // The lines' own ink may reach further than the whole
                    // text's (a glyph form only a line has, or a line drawn
                    // in pieces): then this size does not fit after all
                    // (found by the card_to_svg fuzz target). A box shorter
                    // than one line still takes one; that is the template's
                    // choice (a number set on its baseline).
                    let planned = self.height(n, size, spec, &para);
                    let taller = fitted.height > planned + 0.01;
                    if !taller || spec.height.is_none_or(|h| fitted.height <= h) || size <= min {
                        return fitted;
                    }
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
            .wrap(text, size, spec, &para, WrapRules::BREAK_WORDS)
            .unwrap_or_default();
        if lines.len() <= lines_allowed {
            return self.finish(lines, size, spec, &para, false);
        }
        let rest = lines.split_off(lines_allowed - 1).join(" ");
        lines.push(self.ellipsize(&rest, size, spec, &para));
        self.finish(lines, size, spec, &para, true)
    }

    /// `lines` (greedy, at `size`) broken again as `wrap` asks, into as
    /// many lines, each within the box.
    #[allow(clippy::too_many_arguments)]
    fn rewrap(
        &self,
        text: &str,
        lines: Vec<String>,
        size: f32,
        spec: &FitSpec,
        para: &Para,
        rules: WrapRules,
        wrap: Wrap,
    ) -> Vec<String> {
        let n = lines.len();
        if n < 2 {
            return lines;
        }
        let width = |l: &str| self.line_width(l, size, spec.weight, para.rtl);
        match wrap {
            Wrap::Greedy => lines,
            Wrap::Balance => self
                .balanced(text, n, size, spec, para, rules)
                .unwrap_or(lines),
            Wrap::Pretty => {
                let last = &lines[n - 1];
                let widest = lines.iter().map(|l| width(l)).fold(0.0, f32::max);
                let short = segments(last).len() < 2 || width(last) < widest / 3.0;
                if !short {
                    return lines;
                }
                // The text from the second-last line on: lines are
                // consecutive stretches of it, so each is found after the
                // one before.
                let mut from = 0;
                for l in &lines[..n - 2] {
                    from += text[from..].find(l.as_str()).unwrap_or(0) + l.len();
                }
                let tail = text[from..].trim_start();
                match self.balanced(tail, 2, size, spec, para, rules) {
                    Some(pair) if pair.len() == 2 => {
                        let mut lines = lines;
                        lines.truncate(n - 2);
                        lines.extend(pair);
                        lines
                    }
                    _ => lines,
                }
            }
        }
    }

    /// `text` greedily wrapped at the narrowest width (to half a pixel)
    /// that still takes no more than `n` lines: lines of similar widths,
    /// as CSS's `text-wrap: balance`. Greedy wrapping never takes fewer
    /// lines in a wider box, so the narrowest such width is found by
    /// bisection.
    fn balanced(
        &self,
        text: &str,
        n: usize,
        size: f32,
        spec: &FitSpec,
        para: &Para,
        rules: WrapRules,
    ) -> Option<Vec<String>> {
        let at = |width: f32| {
            let narrower = FitSpec {
                width,
                ..spec.clone()
            };
            self.wrap(text, size, &narrower, para, rules)
                .filter(|l| l.len() <= n)
        };
        let mut best = at(spec.width)?;
        let (mut lo, mut hi) = (0.0f32, spec.width);
        while hi - lo > 0.5 {
            let mid = (lo + hi) / 2.0;
            match at(mid) {
                Some(lines) => {
                    best = lines;
                    hi = mid;
                }
                None => lo = mid,
            }
        }
        Some(best)
    }

    /// Height of `n` lines (at least one) at `size`: from the first
    /// line's ascent to the last line's descent.
    fn height(&self, n: usize, size: f32, spec: &FitSpec, para: &Para) -> f32 {
        let (asc, desc) = self.vertical(size, spec.weight, para);
        asc - desc + (n.max(1) as f32 - 1.0) * (size * spec.line_height)
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
        let mut advances = Vec::with_capacity(lines.len());
        let mut pieces = Vec::with_capacity(lines.len());
        for l in &lines {
            let s = self.shaped(l, spec.weight);
            width = width.max(s.extent_px(size));
            overhangs.push((s.over_left * size, s.right_px(size)));
            advances.push(s.em * size);
            let mut drawn = self.pieces(l, spec.weight).unwrap_or_default();
            for p in &mut drawn {
                p.start *= size;
            }
            pieces.push(drawn);
            para.ink_top = para.ink_top.max(s.ink_top);
            para.ink_bottom = para.ink_bottom.min(s.ink_bottom);
        }
        let (asc, _) = self.vertical(size, spec.weight, &para);
        Fitted {
            size,
            line_advance: size * spec.line_height,
            ascent: asc,
            height: self.height(lines.len(), size, spec, &para),
            width,
            lines,
            overhangs,
            truncated,
            rtl: para.rtl,
            advances,
            pieces,
        }
    }

    /// Greedy line filling at the break opportunities of UAX #14, by
    /// `rules` (see [`WrapRules`]). Returns `None` when a single
    /// unbreakable segment is wider than the box and words may not break.
    fn wrap(
        &self,
        text: &str,
        size: f32,
        spec: &FitSpec,
        para: &Para,
        rules: WrapRules,
    ) -> Option<Vec<String>> {
        let WrapRules {
            break_words,
            keep_correct,
        } = rules;
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

/// Line-break segments: each is a word plus its trailing spaces, or a
/// character where UAX #14 allows a break inside a run (CJK, after hyphens).
pub(super) fn segments(text: &str) -> Vec<&str> {
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
