//! The fonts: loaded once, shared by the measurer and the renderer.
//!
//! The same bytes feed `fontdb` (what resvg draws with), harfrust (the
//! shaper usvg draws with; the fitter shapes with it too, so a measured
//! width is the rendered width) and `fontdue` (coverage, line metrics and
//! glyph bounds). usvg's font fallback and the measurer's both pick faces
//! through [`Fonts::fallback_for`], and [`Fonts::face_for`] decides
//! coverage with the same preference. System fonts are never loaded:
//! output is identical on every machine.

use std::borrow::Cow;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{Context, bail};

use crate::card::is_invisible;
use resvg::usvg::fontdb;

mod emoji;
mod metrics;
pub use metrics::FaceMetrics;

/// The family templates name. Anything that does not resolve falls back to
/// it rather than silently dropping text (resvg#515).
pub(crate) const PRIMARY_FAMILY: &str = "Inter";

/// Fonts compiled into the binary, in fallback order.
const BUNDLED: &[(&str, &[u8])] = &[
    (
        "Inter-Regular.otf",
        include_bytes!("../../../../fonts/Inter-Regular.otf"),
    ),
    (
        "Inter-Bold.otf",
        include_bytes!("../../../../fonts/Inter-Bold.otf"),
    ),
    // Scripts Inter lacks; they draw only what Inter cannot (see
    // fonts/README.md).
    (
        "NotoSansDevanagari-Regular.ttf",
        include_bytes!("../../../../fonts/NotoSansDevanagari-Regular.ttf"),
    ),
    (
        "NotoSansDevanagari-Bold.ttf",
        include_bytes!("../../../../fonts/NotoSansDevanagari-Bold.ttf"),
    ),
    (
        "NotoSansArabic-Regular.ttf",
        include_bytes!("../../../../fonts/NotoSansArabic-Regular.ttf"),
    ),
    (
        "NotoSansArabic-Bold.ttf",
        include_bytes!("../../../../fonts/NotoSansArabic-Bold.ttf"),
    ),
    // Colour emoji (COLR v0: layered outlines in palette colours), last:
    // text faces draw what they have, and the emoji face draws emoji
    // clusters (see `emoji.rs`).
    (
        "TwemojiMozilla.ttf",
        include_bytes!("../../../../fonts/TwemojiMozilla.ttf"),
    ),
];

pub(crate) struct Face {
    pub(crate) id: fontdb::ID,
    pub(crate) family: String,
    pub(crate) weight: u16,
    pub(crate) italic: bool,
    pub(crate) metrics: FaceMetrics,
    /// Raw font file, for shaping: a bundled font's bytes where the binary
    /// holds them (no copy on the heap), an operator's as read.
    pub(crate) data: Arc<Cow<'static, [u8]>>,
    pub(crate) index: u32,
    /// The face draws colour glyphs (COLR, CBDT, sbix or SVG tables): an
    /// emoji face.
    pub(crate) colour: bool,
    /// harfrust's per-font tables and caches, built on first use: faces
    /// are immutable, so one is shared by every thread for the life of the
    /// process.
    shaper_data: OnceLock<harfrust::ShaperData>,
    /// Compiled shape plans by direction, script and language: compiling
    /// one costs as much as shaping a short line, and a face only ever
    /// sees a handful of combinations.
    plans: Mutex<Vec<Arc<harfrust::ShapePlan>>>,
}

impl std::fmt::Debug for Face {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Face({} {}", self.family, self.weight)?;
        if self.italic {
            write!(f, " italic")?;
        }
        write!(f, ")")
    }
}

impl Face {
    /// A harfrust shaper for this face: the shaping engine and font usvg
    /// draws with, so shaped advances are the rendered advances.
    pub fn shaper(&self) -> harfrust::Shaper<'_> {
        let font = harfrust::FontRef::from_index(&self.data, self.index)
            .expect("fontdb and fontdue both read this face");
        let data = self
            .shaper_data
            .get_or_init(|| harfrust::ShaperData::new(&font));
        data.shaper(&font).build()
    }

    /// Shapes `buffer` (its segment properties already set) with this
    /// face and the default features, reusing the plan for its direction,
    /// script and language.
    pub(crate) fn shape(&self, buffer: harfrust::UnicodeBuffer) -> harfrust::GlyphBuffer {
        let shaper = self.shaper();
        let (direction, script, language) =
            (buffer.direction(), buffer.script(), buffer.language());
        let found = self
            .plans
            .lock()
            .expect("not poisoned")
            .iter()
            .find(|p| {
                p.direction() == direction
                    && p.script().unwrap_or(harfrust::script::UNKNOWN) == script
                    && p.language() == language.as_ref()
            })
            .cloned();
        let plan = found.unwrap_or_else(|| {
            let plan = Arc::new(harfrust::ShapePlan::new(
                &shaper,
                direction,
                // A buffer with no script shapes like one with none given.
                (script != harfrust::script::UNKNOWN).then_some(script),
                language.as_ref(),
                &[],
            ));
            self.plans.lock().expect("not poisoned").push(plan.clone());
            plan
        });
        shaper.shape(buffer, harfrust::ShapeOptions::new().plan(Some(&plan)))
    }
}

/// The metrics the build script read from bundled font `name` with
/// fontdue (see [`metrics`]), if it did.
fn embedded_metrics(name: &str) -> Option<FaceMetrics> {
    static TABLE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/face_metrics.bin"));
    let mut rest = TABLE;
    while !rest.is_empty() {
        let (len, tail) = rest.split_first_chunk::<2>()?;
        let (file, tail) = tail.split_at_checked(usize::from(u16::from_le_bytes(*len)))?;
        let (len, tail) = tail.split_first_chunk::<4>()?;
        let (mut encoded, tail) = tail.split_at_checked(u32::from_le_bytes(*len) as usize)?;
        if file == name.as_bytes() {
            return FaceMetrics::decode(&mut encoded).filter(|_| encoded.is_empty());
        }
        rest = tail;
    }
    None
}

/// All loaded faces, in fallback order: bundled first, then `--fonts-dir`.
pub struct Fonts {
    db: Arc<fontdb::Database>,
    faces: Vec<Face>,
    /// Fingerprint of every font byte, part of each template's version so
    /// that adding a font changes ETags.
    fingerprint: String,
    /// The primary family, at each weight, has a glyph for every printable
    /// ASCII character.
    ascii_covered: bool,
    /// Index in `faces` of the first colour face: what draws emoji.
    emoji: Option<usize>,
}

impl std::fmt::Debug for Fonts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fonts({} faces, {})", self.faces.len(), self.fingerprint)
    }
}

impl Fonts {
    /// The bundled fonts, plus every `.ttf`, `.otf`, `.ttc` and `.otc` file
    /// directly inside `extra_dir`.
    pub fn load(extra_dir: Option<&Path>) -> anyhow::Result<Fonts> {
        let mut files: Vec<(String, Cow<'static, [u8]>)> = BUNDLED
            .iter()
            .map(|(name, bytes)| (name.to_string(), Cow::Borrowed(*bytes)))
            .collect();
        if let Some(dir) = extra_dir {
            let mut paths: Vec<_> = std::fs::read_dir(dir)
                .with_context(|| format!("reading fonts directory {}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                        matches!(
                            e.to_ascii_lowercase().as_str(),
                            "ttf" | "otf" | "ttc" | "otc"
                        )
                    })
                })
                .collect();
            // Directory order is arbitrary; fallback order must not be.
            paths.sort();
            for p in paths {
                let bytes =
                    std::fs::read(&p).with_context(|| format!("reading font {}", p.display()))?;
                files.push((p.display().to_string(), Cow::Owned(bytes)));
            }
        }
        Fonts::from_files(files)
    }

    /// `files` are (name, bytes); a bundled font's name is its file name,
    /// which finds its metrics in the embedded table.
    fn from_files(files: Vec<(String, Cow<'static, [u8]>)>) -> anyhow::Result<Fonts> {
        use sha2::Digest;
        let mut db = fontdb::Database::new();
        let mut faces = Vec::new();
        let mut hasher = sha2::Sha256::new();
        for (name, bytes) in files {
            hasher.update(&bytes);
            let data = Arc::new(bytes);
            let ids = db.load_font_source(fontdb::Source::Binary(data.clone()));
            if ids.is_empty() {
                bail!("{name} is not a font fontdb can read");
            }
            for id in ids {
                let info = db.face(id).expect("just loaded");
                let index = info.index;
                let family = info
                    .families
                    .iter()
                    .find(|f| f.1 == fontdb::Language::English_UnitedStates)
                    .unwrap_or(&info.families[0])
                    .0
                    .clone();
                let settings = fontdue::FontSettings {
                    collection_index: index,
                    ..Default::default()
                };
                let mut metrics = match embedded_metrics(&name).filter(|_| index == 0) {
                    Some(metrics) => metrics,
                    None => fontdue::Font::from_bytes(&data[..], settings)
                        .map(|font| FaceMetrics::from_fontdue(&font))
                        .map_err(|e| anyhow::anyhow!("{name}: fontdue cannot read it: {e}"))?,
                };
                let colour = emoji::colour_ink(&data, index, &mut metrics);
                faces.push(Face {
                    id,
                    family,
                    weight: info.weight.0,
                    italic: info.style != fontdb::Style::Normal,
                    metrics,
                    data: data.clone(),
                    index,
                    colour,
                    shaper_data: OnceLock::new(),
                    plans: Mutex::new(Vec::new()),
                });
            }
        }
        if !faces.iter().any(|f| f.family == PRIMARY_FAMILY) {
            bail!("the primary family {PRIMARY_FAMILY} is not among the loaded fonts");
        }
        // Generic families resolve to the fonts we ship, never to whatever
        // a machine happens to have.
        db.set_sans_serif_family(PRIMARY_FAMILY);
        db.set_serif_family(PRIMARY_FAMILY);
        db.set_monospace_family(PRIMARY_FAMILY);
        db.set_cursive_family(PRIMARY_FAMILY);
        db.set_fantasy_family(PRIMARY_FAMILY);
        let fingerprint = hex::encode(&hasher.finalize()[..8]);
        let ascii_covered = faces
            .iter()
            .filter(|f| f.family == PRIMARY_FAMILY && !f.italic)
            .all(|f| (' '..='~').all(|c| f.metrics.has_glyph(c)));
        let emoji = faces.iter().position(|f| f.colour && !f.italic);
        Ok(Fonts {
            db: Arc::new(db),
            faces,
            fingerprint,
            ascii_covered,
            emoji,
        })
    }

    pub(crate) fn db(&self) -> Arc<fontdb::Database> {
        self.db.clone()
    }

    pub(crate) fn faces(&self) -> &[Face] {
        &self.faces
    }

    pub(crate) fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub(crate) fn face(&self, id: fontdb::ID) -> Option<&Face> {
        self.faces.iter().find(|f| f.id == id)
    }

    /// The face that draws `c` in text of `weight`: the primary family if it
    /// has the glyph, else the first face in fallback order that has it,
    /// preferring the nearest weight. `None` means the character would be a
    /// tofu box.
    pub(crate) fn face_for(&self, c: char, weight: u16) -> Option<&Face> {
        self.best(c, weight, |f| f.family == PRIMARY_FAMILY)
            .or_else(|| self.best(c, weight, |_| true))
    }

    /// The face usvg starts a `<text>` of the primary family and `weight`
    /// with: fontdb's CSS font matching, exactly as usvg's default font
    /// selector queries it.
    pub(crate) fn primary(&self, weight: u16) -> &Face {
        let query = fontdb::Query {
            families: &[fontdb::Family::Name(PRIMARY_FAMILY), fontdb::Family::Serif],
            weight: fontdb::Weight(weight),
            stretch: fontdb::Stretch::Normal,
            style: fontdb::Style::Normal,
        };
        self.db
            .query(&query)
            .and_then(|id| self.face(id))
            .or_else(|| self.best('A', weight, |f| f.family == PRIMARY_FAMILY))
            .expect("the primary family is loaded")
    }

    /// Like [`face_for`](Self::face_for) but for usvg's fallback hook: skips
    /// faces usvg already tried for this character. The measurer replays
    /// usvg's fallback with it (see [`crate::text`]).
    pub(crate) fn fallback_for(
        &self,
        c: char,
        weight: u16,
        exclude: &[fontdb::ID],
    ) -> Option<&Face> {
        self.best(c, weight, |f| !exclude.contains(&f.id))
    }

    fn best(&self, c: char, weight: u16, filter: impl Fn(&Face) -> bool) -> Option<&Face> {
        // First in load order among the faces of the nearest weight: load
        // order is the fallback order the operator controls.
        self.faces
            .iter()
            .filter(|f| !f.italic && filter(f) && f.metrics.has_glyph(c))
            .min_by_key(|f| f.weight.abs_diff(weight))
    }

    /// `text` with presentation-form ligatures (U+FB00–FB06) spelled out
    /// where no font has them: Inter, like most modern fonts, has no glyph
    /// for U+FB01 "ﬁ" but ligates "fi" itself when shaping.
    pub(crate) fn displayable<'t>(&self, text: &'t str) -> std::borrow::Cow<'t, str> {
        let needs = |c: char| ligature(c).is_some() && self.face_for(c, 400).is_none();
        if !text.chars().any(needs) {
            return std::borrow::Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len() + 8);
        for c in text.chars() {
            match ligature(c) {
                Some(spelled) if needs(c) => out.push_str(spelled),
                _ => out.push(c),
            }
        }
        std::borrow::Cow::Owned(out)
    }

    /// Characters of `text` that no loaded font can draw, in order, once each.
    pub(crate) fn missing_chars(&self, text: &str) -> Vec<char> {
        // Checked on every request, cached cards included: printable ASCII
        // needs no lookup when the primary family has all of it.
        if self.ascii_covered && text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Vec::new();
        }
        let text = self.displayable(text);
        let mut missing = Vec::new();
        for c in text.chars() {
            if !is_invisible(c) && self.face_for(c, 400).is_none() && !missing.contains(&c) {
                missing.push(c);
            }
        }
        missing
    }

    /// Grapheme clusters of `text` whose characters each have a glyph, but
    /// in different fonts: an Arabic letter carrying a Devanagari nukta.
    /// A cluster is shaped as one unit by one face, so usvg draws it as a
    /// tofu box whatever the fallback. In order, once each.
    pub(crate) fn split_clusters(&self, text: &str) -> Vec<String> {
        use unicode_segmentation::UnicodeSegmentation;
        let text = self.displayable(text);
        let mut split: Vec<String> = Vec::new();
        for cluster in text.graphemes(true) {
            let mut visible = cluster.chars().filter(|c| !is_invisible(*c));
            let Some(first) = visible.next() else {
                continue;
            };
            let rest: Vec<char> = visible.collect();
            if rest.is_empty() {
                continue;
            }
            let drawable = self.faces.iter().any(|f| {
                !f.italic
                    && f.metrics.has_glyph(first)
                    && rest.iter().all(|c| f.metrics.has_glyph(*c))
            });
            if !drawable && !split.iter().any(|s| s == cluster) {
                split.push(cluster.to_owned());
            }
        }
        split
    }

    /// usvg options that draw with exactly these fonts and nothing else.
    pub fn usvg_options(self: &Arc<Self>) -> resvg::usvg::Options<'static> {
        let mut opt = resvg::usvg::Options {
            font_family: PRIMARY_FAMILY.to_owned(),
            fontdb: self.db(),
            ..Default::default()
        };
        let fonts = self.clone();
        opt.font_resolver.select_fallback = Box::new(move |c, exclude, db| {
            let weight = exclude
                .first()
                .and_then(|id| db.face(*id))
                .map_or(400, |f| f.weight.0);
            fonts.fallback_for(c, weight, exclude).map(|f| f.id)
        });
        opt
    }
}

/// The letters of a Latin presentation-form ligature.
fn ligature(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{FB00}' => "ff",
        '\u{FB01}' => "fi",
        '\u{FB02}' => "fl",
        '\u{FB03}' => "ffi",
        '\u{FB04}' => "ffl",
        '\u{FB05}' => "\u{017F}t",
        '\u{FB06}' => "st",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_fonts_load_and_cover_latin_greek_cyrillic_devanagari_arabic() {
        let fonts = Fonts::load(None).unwrap();
        assert!(fonts.faces().len() >= 2);
        for text in [
            "ML Engineer",
            "Ingénieure d'études — Île",
            "Инженер",
            "Μηχανική",
            "ﬁ",
            "मशीन लर्निंग इंजीनियर।",
            "مهندس تعلم الآلة، ٤٨٪",
        ] {
            assert_eq!(fonts.missing_chars(text), Vec::<char>::new(), "{text}");
        }
        assert_eq!(fonts.face_for('A', 700).unwrap().weight, 700);
        assert_eq!(fonts.face_for('A', 400).unwrap().weight, 400);
    }

    #[test]
    fn inter_stays_primary_and_noto_fills_in() {
        let fonts = Fonts::load(None).unwrap();
        for weight in [400, 700] {
            let primary = fonts.primary(weight);
            assert_eq!((primary.family.as_str(), primary.weight), ("Inter", weight));
            // Inter draws what it has, even where a Noto face has it too.
            for c in ['A', '1', '-', ' '] {
                assert_eq!(fonts.face_for(c, weight).unwrap().family, "Inter");
            }
            for (c, family) in [('म', "Noto Sans Devanagari"), ('م', "Noto Sans Arabic")] {
                let face = fonts.face_for(c, weight).unwrap();
                assert_eq!((face.family.as_str(), face.weight), (family, weight));
                let fallback = fonts.fallback_for(c, weight, &[primary.id]).unwrap();
                assert_eq!(fallback.id, face.id);
            }
        }
        // Weights in between follow fontdb's CSS matching, as usvg's do.
        assert_eq!(fonts.primary(500).weight, 400);
        assert_eq!(fonts.primary(600).weight, 700);
        // Every face shapes with harfrust.
        for face in fonts.faces() {
            assert!(face.shaper().units_per_em() >= 512, "{face:?}");
        }
    }

    #[test]
    fn kept_metrics_answer_as_fontdue_does() {
        for (name, bytes) in BUNDLED {
            let font = fontdue::Font::from_bytes(*bytes, Default::default()).unwrap();
            let kept = FaceMetrics::from_fontdue(&font);
            // What the build script embedded is what fontdue says now.
            assert_eq!(embedded_metrics(name).as_ref(), Some(&kept), "{name}");
            for c in [
                'A',
                'Å',
                'g',
                '%',
                '·',
                'म',
                'ि',
                'م',
                'ﻻ',
                '\u{0E01}',
                '\u{10FFFF}',
            ] {
                assert_eq!(kept.has_glyph(c), font.has_glyph(c), "{name} {c:?}");
                if font.has_glyph(c) {
                    let advance = font.metrics(c, 1.0).advance_width;
                    assert_eq!(kept.advance(c), Some(advance), "{name} {c:?}");
                } else {
                    assert_eq!(kept.advance(c), None, "{name} {c:?}");
                }
            }
            assert_eq!(kept.chars.len(), font.chars().len(), "{name}");
            for id in 0..font.glyph_count() {
                let b = font.metrics_indexed(id, 1.0).bounds;
                assert_eq!(kept.bounds(id), b, "{name} glyph {id}");
            }
            assert_eq!(
                kept.bounds(font.glyph_count()),
                Default::default(),
                "{name}"
            );
            let (want, got) = (
                font.horizontal_line_metrics(64.0).unwrap(),
                kept.line_metrics(64.0),
            );
            for (w, g) in [(want.ascent, got.ascent), (want.descent, got.descent)] {
                assert!((w - g).abs() < 1e-3, "{name}: {w} vs {g}");
            }
        }
    }

    #[test]
    fn reports_uncovered_characters_once() {
        let fonts = Fonts::load(None).unwrap();
        assert_eq!(fonts.missing_chars("a\u{0E01}b\u{0E01}"), vec!['\u{0E01}']);
        // Invisible characters need no glyph, bidi controls included.
        assert!(fonts.missing_chars("a\u{200D}b\u{FE0F}").is_empty());
        assert!(fonts.missing_chars("\u{2067}a\u{2069}\u{202B}").is_empty());
    }

    #[test]
    fn finds_clusters_no_single_font_draws() {
        let fonts = Fonts::load(None).unwrap();
        for (text, split) in [
            // Marks on letters of their own script, or on Latin in Inter.
            ("é e\u{0301} क़ कि بَّ", vec![]),
            // A Devanagari nukta on an Arabic letter; once each.
            (
                "\u{0629}\u{093C} x \u{0629}\u{093C}",
                vec!["\u{0629}\u{093C}"],
            ),
            // A Devanagari vowel sign on a Latin letter.
            ("a\u{093F}", vec!["a\u{093F}"]),
            // Joiners need no glyph.
            ("a\u{200D}b", vec![]),
        ] {
            assert_eq!(fonts.split_clusters(text), split, "{text:?}");
        }
    }

    #[test]
    fn spells_out_ligatures_the_fonts_lack() {
        let fonts = Fonts::load(None).unwrap();
        assert_eq!(
            fonts.displayable("des ligatures (ﬁ) ﬂ"),
            "des ligatures (fi) fl"
        );
        assert!(matches!(
            fonts.displayable("plain"),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
