//! Emoji: which grapheme clusters the emoji face draws, and the ink of its
//! colour glyphs.
//!
//! A colour glyph's outline glyph is empty (COLR v0 draws layers of other
//! glyphs over it), so fontdue reports no ink for it; the fitter needs the
//! ink the layers paint, or an emoji would be free to leave its box.

use skrifa::raw::TableProvider;
use unicode_properties::{EmojiStatus, UnicodeEmoji};

use super::{FaceMetrics, Fonts};

/// Tables that hold colour glyphs.
const COLOUR_TABLES: [&[u8; 4]; 4] = [b"COLR", b"CBDT", b"sbix", b"SVG "];

/// Whether the face in `data` draws colour glyphs; if it does, gives each
/// colour glyph the ink it paints in `metrics`: the union of its COLR v0
/// layers' outlines, or, for glyphs drawn some other way (COLR v1 paints,
/// bitmaps, SVG documents), the face's ascent-to-descent box over the
/// glyph's advance, which such glyphs are designed to fill.
pub(super) fn colour_ink(data: &[u8], index: u32, metrics: &mut FaceMetrics) -> bool {
    let Ok(font) = skrifa::FontRef::from_index(data, index) else {
        return false;
    };
    let colour = COLOUR_TABLES
        .iter()
        .any(|t| font.table_data(skrifa::Tag::new(t)).is_some());
    if !colour {
        return false;
    }
    let mut layered = vec![false; metrics.bounds.len()];
    // fontdue loads only the glyphs characters and GSUB reach, so layer
    // glyphs have no bounds there: read them from their `glyf` headers.
    // Read once: this runs for every layer of every colour glyph at
    // start-up (33,332 for Twemoji).
    let tables = font
        .head()
        .ok()
        .map(|h| f32::from(h.units_per_em()))
        .zip(font.glyf().ok())
        .zip(font.loca(None).ok());
    let header = |id: u16| -> Option<fontdue::OutlineBounds> {
        let ((upem, glyf), loca) = tables.as_ref()?;
        let upem = *upem;
        let glyph = loca.get_glyf(id.into(), glyf).ok()??;
        let (x0, y0) = (f32::from(glyph.x_min()), f32::from(glyph.y_min()));
        let (x1, y1) = (f32::from(glyph.x_max()), f32::from(glyph.y_max()));
        Some(fontdue::OutlineBounds {
            xmin: x0 / upem,
            ymin: y0 / upem,
            width: (x1 - x0) / upem,
            height: (y1 - y0) / upem,
        })
    };
    if let Ok(colr) = font.colr()
        && let (Some(Ok(bases)), Some(Ok(layers))) =
            (colr.base_glyph_records(), colr.layer_records())
    {
        for base in bases {
            let first = usize::from(base.first_layer_index());
            let count = usize::from(base.num_layers());
            let Some(layers) = layers.get(first..first + count) else {
                continue;
            };
            let ink = layers
                .iter()
                .filter_map(|l| header(l.glyph_id().to_u16()))
                .filter(|b| b.width > 0.0 && b.height > 0.0)
                .reduce(union);
            let id = usize::from(base.glyph_id().to_u16());
            if let (Some(ink), Some(slot)) = (ink, metrics.bounds.get_mut(id)) {
                *slot = ink;
                layered[id] = true;
            }
        }
    }
    let (ascent, descent) = (metrics.line.ascent, metrics.line.descent);
    for (id, bounds) in metrics.bounds.iter_mut().enumerate() {
        let advance = metrics.advances[id];
        if !layered[id] && bounds.width <= 0.0 && advance > 0.0 {
            *bounds = fontdue::OutlineBounds {
                xmin: 0.0,
                ymin: descent,
                width: advance,
                height: ascent - descent,
            };
        }
    }
    true
}

fn union(a: fontdue::OutlineBounds, b: fontdue::OutlineBounds) -> fontdue::OutlineBounds {
    let (x0, y0) = (a.xmin.min(b.xmin), a.ymin.min(b.ymin));
    let x1 = (a.xmin + a.width).max(b.xmin + b.width);
    let y1 = (a.ymin + a.height).max(b.ymin + b.height);
    fontdue::OutlineBounds {
        xmin: x0,
        ymin: y0,
        width: x1 - x0,
        height: y1 - y0,
    }
}

impl Fonts {
    /// The face that draws emoji: the first colour face in fallback order
    /// (the bundled Twemoji unless an operator's comes first).
    pub(crate) fn emoji_face(&self) -> Option<&super::Face> {
        self.emoji.map(|i| &self.faces[i])
    }

    /// Whether the grapheme cluster `g` is shown as an emoji, by UTS #51:
    /// an emoji presentation sequence (VS16), a keycap, a modifier
    /// sequence, a ZWJ sequence, a flag or tag sequence, or a character
    /// whose default presentation is emoji (Emoji_Presentation), unless
    /// VS15 asks for text. A character that is an emoji but shown as text
    /// by default ("❤", "©", "1") stays text where a text face draws it;
    /// where none does, the emoji face draws it rather than nothing.
    pub(crate) fn is_emoji(&self, g: &str) -> bool {
        let mut chars = g.chars();
        let Some(first) = chars.next() else {
            return false;
        };
        if self.emoji.is_none() || first.is_ascii() && g.len() == 1 {
            return false;
        }
        let status = first.emoji_status();
        let regional = ('\u{1F1E6}'..='\u{1F1FF}').contains(&first);
        if !(regional || first.is_emoji_char()) {
            return false;
        }
        let text_face = || {
            self.faces
                .iter()
                .any(|f| !f.colour && !f.italic && f.metrics.has_glyph(first))
        };
        if g.contains('\u{FE0E}') {
            return !text_face();
        }
        let sequence = g.chars().skip(1).any(|c| {
            matches!(
                c,
                '\u{FE0F}' | '\u{20E3}' | '\u{200D}' | '\u{1F3FB}'..='\u{1F3FF}'
            ) || ('\u{E0020}'..='\u{E007F}').contains(&c)
        });
        let presentation = matches!(
            status,
            EmojiStatus::EmojiPresentation
                | EmojiStatus::EmojiPresentationAndModifierBase
                | EmojiStatus::EmojiPresentationAndEmojiComponent
                | EmojiStatus::EmojiPresentationAndModifierAndEmojiComponent
        );
        regional || sequence || presentation || !text_face()
    }
}

#[cfg(test)]
mod tests {
    use crate::fonts::Fonts;

    #[test]
    fn tells_emoji_from_text_as_uts_51_does() {
        let fonts = Fonts::load(None).unwrap();
        for (g, emoji) in [
            ("🚀", true),
            ("👩\u{200D}💻", true),
            ("👍🏽", true),
            ("🇫🇷", true),
            ("1\u{FE0F}\u{20E3}", true),
            ("❤\u{FE0F}", true),
            (
                "🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}",
                true,
            ),
            // Text by default where a text face has the character.
            ("1", false),
            ("#", false),
            ("©", false),
            ("©\u{FE0F}", true),
            ("a", false),
            ("é", false),
            ("م", false),
            // VS15 asks for text; a text face without it leaves the emoji.
            ("🚀\u{FE0E}", true),
            // Joiners and selectors after a letter do not make it an emoji.
            ("a\u{200D}", false),
            ("a\u{FE0F}", false),
        ] {
            assert_eq!(fonts.is_emoji(g), emoji, "{g:?}");
        }
    }

    #[test]
    fn colour_glyphs_have_the_ink_their_layers_paint() {
        let fonts = Fonts::load(None).unwrap();
        let face = fonts.emoji_face().expect("bundled");
        assert!(face.colour && face.family.contains("Twemoji"), "{face:?}");
        let rocket = face.metrics.chars.binary_search(&'🚀').unwrap();
        let b = face.metrics.bounds(face.metrics.glyph_ids[rocket]);
        // Twemoji's 🚀: layers from (14, -50) to (512, 448) in 512 units.
        assert!((b.xmin - 14.0 / 512.0).abs() < 1e-4, "{b:?}");
        assert!((b.ymin + 50.0 / 512.0).abs() < 1e-4, "{b:?}");
        assert!((b.height - 498.0 / 512.0).abs() < 1e-4, "{b:?}");
        // Text faces are not colour faces.
        assert!(fonts.faces().iter().filter(|f| f.colour).count() == 1);
    }
}
