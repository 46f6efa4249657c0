//! Structured card → query → parser → `Renderer::svg` → usvg → text check.
//!
//! The input is decoded with `arbitrary` into the fields of a card. The
//! fields go through the real query encoder and parser, so only cards the
//! service would accept reach the renderer. For every card whose characters
//! the bundled fonts cover (`check_coverage` is Ok — otherwise the service
//! answers 422 and draws nothing):
//! * `Renderer::svg` succeeds (templates fail only when broken, never on
//!   card content);
//! * the SVG parses with `Renderer::tree` (usvg, the service's fonts);
//! * `text_violations(&doc, &tree)` is empty: every glyph inside its
//!   declared box, no tofu, no character dropped, every box drawn.
//!
//! Text fields are either raw `arbitrary` strings (mostly characters no
//! font covers, so mostly 422s), words from `ALPHABET`, characters the
//! bundled Inter, Noto Sans Arabic and Noto Sans Devanagari draw, plus the
//! spaces, joiners and marks that stress wrapping and shaping, or emoji
//! sequences and right-to-left words from `SEQUENCES` mixed with them.

#![no_main]

use std::sync::{Arc, OnceLock};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sharecard_render::card::{LevelBands, TemplateName};
use sharecard_render::card::query::{Params, encode_component};
use sharecard_render::render::{Renderer, text_violations};

fn renderer() -> &'static Arc<Renderer> {
    static R: OnceLock<Arc<Renderer>> = OnceLock::new();
    R.get_or_init(|| {
        // The bundled fonts and templates, with the default brand.
        let sources = sharecard_render::render::Sources {
            brand: "willaireplace.me",
            ..Default::default()
        };
        Renderer::load(sources).expect("bundled renderer")
    })
}

/// Characters with glyphs in the bundled fonts, grouped by script so that
/// a run of nearby bytes tends to stay in one script.
const ALPHABET: &[char] = &[
    // Latin, digits, punctuation (0..)
    'a', 'b', 'e', 'f', 'g', 'i', 'j', 'l', 'm', 'p', 'q', 'r', 't', 'w', 'y', 'W', 'M', 'A', 'T',
    'V', 'Q', 'j', '0', '1', '7', '.', ',', '-', '—', '–', '(', ')', '"', '\'', '/', '&', '<', '>',
    '%', '+', '=', '?', '!', ':', ';', '…', '_', '@', '#',
    // Accented Latin, combining marks, presentation ligatures
    'É', 'Å', 'ç', 'ß', 'ø', 'Ł', 'ÿ', 'ñ', '\u{0301}', '\u{0308}', '\u{0327}', 'ﬁ', 'ﬂ', 'ﬀ', 'ﬃ',
    // Greek, Cyrillic
    'Μ', 'η', 'χ', 'ά', 'ς', 'И', 'н', 'ж', 'е', 'р', 'Щ', 'ё',
    // Devanagari: consonants, virama, vowel signs, nukta, danda
    'क', 'ष', 'त', 'र', 'म', 'श', 'ह', 'न', 'द', 'ध', 'य', '\u{094D}', 'ि', 'ी', 'ु', 'ृ', 'े',
    'ै', 'ो', 'ं', 'ँ', '़', '।', '०', '९',
    // Arabic: letters (lam-alef ligatures), tashkeel, digits, punctuation
    'ا', 'ل', 'م', 'ه', 'ن', 'د', 'س', 'ع', 'ي', 'ة', 'ك', 'ء', 'أ', 'إ', 'آ', 'ؤ', 'ئ', 'ڭ',
    '\u{064E}', '\u{0650}', '\u{0651}', '،', '؟', '٣', 'ﷺ',
    // Spaces, breaks and invisibles the parser lets through
    ' ', ' ', ' ', '\u{00A0}', '\u{2009}', '\u{3000}', '\u{00AD}', '\u{200B}', '\u{200C}',
    '\u{200D}', '\u{200E}', '\u{200F}', '\u{2060}', '\u{FEFF}', '\u{FE0F}',
];

/// Emoji as people type them, and words of right-to-left and mixed text:
/// each drawn as a piece of its own line (see `Measurer::pieces`).
const SEQUENCES: &[&str] = &[
    "🚀", "🤖", "📈", "🙂", "👩\u{200D}💻", "🧑🏽\u{200D}🚀", "👨\u{200D}👩\u{200D}👧\u{200D}👦",
    "👍🏽", "👋🏿", "🇫🇷", "🇧🇷", "🇺🇳", "1\u{FE0F}\u{20E3}", "#\u{FE0F}\u{20E3}", "❤\u{FE0F}", "❤",
    "✍\u{FE0F}", "©\u{FE0F}", "🚀\u{FE0E}", "🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}",
    "مهندس", "الآلة،", "تعلم.", "इंजीनियर", "AI", "Ops", " ", " ", "\u{200F}", "…",
];

#[derive(Debug, Arbitrary)]
enum Text {
    /// Indexes into `SEQUENCES`, with `ALPHABET` characters between.
    Emoji(Vec<(u8, Option<u8>)>),
    /// Arbitrary Unicode: exercises `check_coverage` and the parser.
    Raw(String),
    /// Indexes into `ALPHABET`.
    Chars(Vec<u8>),
    /// A word from `ALPHABET` repeated: long unbreakable runs.
    Repeat(Vec<u8>, u8),
}

impl Text {
    fn build(&self) -> String {
        let pick = |b: &u8| ALPHABET[usize::from(*b) % ALPHABET.len()];
        match self {
            Text::Raw(s) => s.clone(),
            Text::Emoji(v) => v
                .iter()
                .map(|(i, c)| {
                    let mut s = SEQUENCES[usize::from(*i) % SEQUENCES.len()].to_owned();
                    s.extend(c.as_ref().map(pick));
                    s
                })
                .collect(),
            Text::Chars(v) => v.iter().map(pick).collect(),
            Text::Repeat(v, n) => {
                let word: String = v.iter().map(pick).collect();
                word.repeat(usize::from(*n % 64) + 1)
            }
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Input {
    /// Fields built from fuzzer bytes, encoded into a query.
    Fields(Fields),
    /// A raw query for the first template, as a client would send it (the
    /// seeds in `seeds/card_to_svg/` are this variant: four 0xFF bytes,
    /// then the query text).
    Query(String),
}

#[derive(Debug, Arbitrary)]
struct Fields {
    template: u8,
    role: Text,
    tagline: Option<Text>,
    risk: u8,
    /// Explicit `level`; absent means derived from the bands.
    level: Option<u8>,
    threat: Option<(Text, u8)>,
    light: bool,
    scale: u8,
}

fn clip(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

fn query(input: &Fields) -> String {
    let enc = encode_component;
    // Clipped a little over each limit, so too-long fields are still tried.
    let mut q = format!(
        "role={}&risk={}",
        enc(&clip(&input.role.build(), 90)),
        input.risk % 101
    );
    if let Some(t) = &input.tagline {
        q += &format!("&tagline={}", enc(&clip(&t.build(), 210)));
    }
    if let Some(l) = input.level {
        q += &format!(
            "&level={}",
            ["stable", "elevated", "high", "critical"][usize::from(l % 4)]
        );
    }
    if let Some((task, r)) = &input.threat {
        q += &format!(
            "&threat={}&threat_risk={}",
            enc(&clip(&task.build(), 90)),
            r % 101
        );
    }
    if input.light {
        q += "&theme=light";
    }
    q += &format!("&scale={}", input.scale % 3 + 1);
    q
}

fuzz_target!(|input: Input| {
    let r = renderer();
    let names: Vec<&str> = r.templates().infos().map(|i| i.name.as_str()).collect();
    let (template, q) = match &input {
        Input::Fields(f) => (f.template, query(f)),
        Input::Query(q) => (0, q.clone()),
    };
    let name = names[usize::from(template) % names.len()];
    let params = match Params::parse(Some(&q)) {
        Ok(p) => p,
        Err(e) => {
            assert!(
                matches!(input, Input::Query(_)),
                "encoded fields must decode: {q:?}: {e:?}"
            );
            return;
        }
    };
    let Ok(req) = r.templates().card_request(
        TemplateName::parse(name).expect("loaded names are valid"),
        &params,
        &LevelBands::default(),
    ).expect("a loaded template") else {
        return;
    };
    if r.check_coverage(&req.card).is_err() {
        return;
    }
    let doc = r
        .svg(&req)
        .unwrap_or_else(|e| panic!("svg failed for {q:?}: {e:#}"));
    let tree = r
        .tree(&doc.svg)
        .unwrap_or_else(|e| panic!("usvg rejects the svg of {q:?}: {e:#}"));
    let problems = text_violations(&doc, &tree);
    assert!(
        problems.is_empty(),
        "text violations for {name} ?{q}\n{problems:#?}"
    );
});
