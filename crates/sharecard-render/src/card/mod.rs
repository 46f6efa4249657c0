//! Card domain types, and the one place raw query parameters become them.
//!
//! "Parse, don't validate": [`CardRequest::from_params`] is the only way to
//! build a card from client input, and every value it yields is already
//! within the bounds the templates and the renderer rely on (lengths, ranges,
//! no control characters). Nothing downstream re-checks.

use std::fmt;

use serde::Serialize;

use crate::error::CardError;
use query::Params;
use schema::Schema;
use std::sync::Arc;

mod fields;
pub mod naming;
pub mod query;
pub mod schema;

pub use fields::{Card, FieldValue};

/// A whole percentage, 0–100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Percent(u8);

impl Percent {
    pub fn new(v: u8) -> Option<Percent> {
        (v <= 100).then_some(Percent(v))
    }

    pub fn get(self) -> u8 {
        self.0
    }

    pub(crate) fn parse(field: &str, raw: &str) -> Result<Percent, CardError> {
        let bad = || {
            CardError::invalid(
                "invalid_percent",
                Some(field),
                format!("`{field}` must be a whole number from 0 to 100, got {raw:?}"),
            )
        };
        // Digits only: rejects "-1", "+5", "4.5", "1e2", "NaN", " 7".
        if raw.is_empty() || raw.len() > 3 || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        raw.parse::<u8>()
            .ok()
            .and_then(Percent::new)
            .ok_or_else(bad)
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The risk vocabulary of the report page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Stable,
    Elevated,
    High,
    Critical,
}

impl Level {
    pub const ALL: [Level; 4] = [Level::Stable, Level::Elevated, Level::High, Level::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Stable => "stable",
            Level::Elevated => "elevated",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }
}

/// Where one level ends and the next begins. The only place the bands live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LevelBands {
    /// Lowest percentage that is `elevated`, `high`, `critical`.
    pub(crate) elevated: u8,
    pub(crate) high: u8,
    pub(crate) critical: u8,
}

impl Default for LevelBands {
    fn default() -> Self {
        LevelBands {
            elevated: 30,
            high: 75,
            critical: 90,
        }
    }
}

impl LevelBands {
    pub(crate) fn level(&self, risk: Percent) -> Level {
        match risk.get() {
            r if r >= self.critical => Level::Critical,
            r if r >= self.high => Level::High,
            r if r >= self.elevated => Level::Elevated,
            _ => Level::Stable,
        }
    }
}

impl std::str::FromStr for LevelBands {
    type Err = String;

    /// `"30,75,90"`: the first percentage of elevated, high and critical.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<u8> = s
            .split(',')
            .map(|p| p.trim().parse::<u8>())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("expected three percentages like 30,75,90, got {s:?}"))?;
        match parts[..] {
            [e, h, c] if 0 < e && e < h && h < c && c <= 100 => Ok(LevelBands {
                elevated: e,
                high: h,
                critical: c,
            }),
            _ => Err(format!(
                "expected three increasing percentages in 1..=100, got {s:?}"
            )),
        }
    }
}

/// Text from a client: trimmed, inner whitespace runs collapsed, no control
/// or bidi-override characters, non-empty, and within its field's limit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct CardText(pub(crate) String);

impl CardText {
    pub fn parse(field: &str, raw: &str, max: usize) -> Result<CardText, CardError> {
        if let Some(c) = raw.chars().find(|&c| is_forbidden(c)) {
            return Err(CardError::invalid(
                "invalid_character",
                Some(field),
                format!(
                    "`{field}` contains U+{:04X}; control and bidi-override characters are not allowed",
                    c as u32
                ),
            ));
        }
        if let Some(run) = mark_run_over(raw, MAX_STACKED_MARKS) {
            return Err(CardError::invalid(
                "too_many_marks",
                Some(field),
                format!(
                    "`{field}` stacks more than {MAX_STACKED_MARKS} combining marks in a row \
                     (at {run:?})"
                ),
            ));
        }
        // The limit holds for the value as sent, as the document's
        // `maxLength` says, and so also after whitespace is collapsed.
        let sent = raw.chars().count();
        if sent > max {
            return Err(CardError::invalid(
                "too_long",
                Some(field),
                format!("`{field}` may have at most {max} characters, got {sent}"),
            ));
        }
        let text = collapse_whitespace(raw);
        // Only invisible characters (marks, joiners) would draw nothing.
        if !text.chars().any(|c| !c.is_whitespace() && !is_invisible(c)) {
            return Err(CardError::invalid(
                "empty_field",
                Some(field),
                format!("`{field}` must have a visible character"),
            ));
        }
        Ok(CardText(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CardText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `raw` trimmed, with each inner run of whitespace made one space.
/// Text that is already so (nearly all of it) is copied as it is: every
/// card request parses its texts, cache hits included, and splitting into a
/// vector of words and joining them again was a twentieth of a hit's CPU
/// (`stage/parse_query_to_card` in the `pipeline` bench).
pub(crate) fn collapse_whitespace(raw: &str) -> String {
    let mut after_space = true; // a leading space is not already collapsed
    let collapsed = raw.chars().all(|c| {
        let ok = !c.is_whitespace() || (c == ' ' && !after_space);
        after_space = c.is_whitespace();
        ok
    }) && !after_space;
    if collapsed {
        raw.to_owned()
    } else {
        raw.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

/// Most combining marks one character may carry. Written languages stack
/// two or three (Vietnamese "ệ", Arabic shadda with a vowel, a Devanagari
/// nukta with a virama); "Zalgo" text stacks dozens, which draws a column
/// of ink taller than any text box (found by the card_to_svg fuzz target).
pub(crate) const MAX_STACKED_MARKS: usize = 4;

/// The first run of more than `max` consecutive non-spacing marks (bidi
/// class NSM: general categories Mn and Me, and variation selectors).
fn mark_run_over(text: &str, max: usize) -> Option<&str> {
    let mut start = None;
    let mut count = 0;
    for (i, c) in text.char_indices() {
        // No ASCII character is a mark; most text is ASCII.
        if !c.is_ascii() && unicode_bidi::bidi_class(c) == unicode_bidi::BidiClass::NSM {
            let from = *start.get_or_insert(i);
            count += 1;
            if count > max {
                return Some(&text[from..i + c.len_utf8()]);
            }
        } else {
            (start, count) = (None, 0);
        }
    }
    None
}

/// Characters that draw nothing and so need no glyph: joiners, variation
/// selectors, soft hyphen, directional marks, embeddings and isolates
/// (the fitter starts right-to-left lines with U+2067, see
/// [`crate::text::RLI`]), and tag characters (which spell the region of
/// a flag like 🏴󠁧󠁢󠁳󠁣󠁴󠁿 inside its one glyph).
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2069}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{E0001}' | '\u{E0020}'..='\u{E007F}' | '\u{E0100}'..='\u{E01EF}')
}

/// Control characters would be invisible or break lines; bidi overrides and
/// isolates can make a card read differently from what was sent (a
/// "Trojan Source"-style trick) and leak their effect into later fields.
fn is_forbidden(c: char) -> bool {
    // `char::is_control` is C0, DEL and C1; whitespace controls (tab, newline)
    // are controls too and are rejected rather than silently flattened.
    c.is_control()
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        || matches!(c, '\u{FFF9}'..='\u{FFFB}') // interlinear annotation controls
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Theme {
    Dark,
    Light,
}

impl Theme {
    pub const ALL: [Theme; 2] = [Theme::Dark, Theme::Light];

    pub fn as_str(self) -> &'static str {
        match self {
            Theme::Dark => "dark",
            Theme::Light => "light",
        }
    }
}

/// Pixel density of the output: the same layout at 1×, 2× or 3× pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Scale(u8);

impl Scale {
    pub const ONE: Scale = Scale(1);
    pub const MAX: u8 = 3;

    pub fn new(v: u8) -> Option<Scale> {
        (1..=Self::MAX).contains(&v).then_some(Scale(v))
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

/// Names a template: lowercase ASCII letters, digits and dashes, so it is
/// safe in a path, a file name and a cache key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TemplateName(String);

impl TemplateName {
    pub fn parse(raw: &str) -> Option<TemplateName> {
        let ok = !raw.is_empty()
            && raw.len() <= 40
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        ok.then(|| TemplateName(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TemplateName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Everything that decides the pixels of one image: the cache key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CardRequest {
    pub template: TemplateName,
    pub theme: Theme,
    pub scale: Scale,
    pub card: Card,
}

impl CardRequest {
    /// The card `params` name for `template`, whose declaration is
    /// `schema`: its declared fields, then `theme` and `scale`. Parameters
    /// that are neither are ignored (tracking tags, cache busters) and
    /// never reach the cache key.
    pub fn from_params(
        template: TemplateName,
        schema: &Arc<Schema>,
        params: &Params,
        bands: &LevelBands,
    ) -> Result<CardRequest, CardError> {
        let card = Card::from_params(schema, params, bands)?;
        // Only empty means absent: `theme=+` is a value, and not one the
        // document allows.
        let optional = |field: &'static str| -> Result<Option<&str>, CardError> {
            Ok(params.get(field)?.filter(|v| !v.is_empty()))
        };
        let theme = match optional("theme")? {
            None => Theme::Dark,
            Some(raw) => Theme::ALL
                .into_iter()
                .find(|t| t.as_str() == raw)
                .ok_or_else(|| {
                    CardError::invalid(
                        "invalid_theme",
                        Some("theme"),
                        format!("`theme` must be dark or light, got {raw:?}"),
                    )
                })?,
        };
        let scale = match optional("scale")? {
            None => Scale::ONE,
            Some(raw) => raw
                .parse::<u8>()
                .ok()
                .filter(|_| raw.len() == 1)
                .and_then(Scale::new)
                .ok_or_else(|| {
                    CardError::invalid(
                        "invalid_scale",
                        Some("scale"),
                        format!("`scale` must be 1, 2 or 3, got {raw:?}"),
                    )
                })?,
        };
        Ok(CardRequest {
            template,
            theme,
            scale,
            card,
        })
    }

    /// The canonical query for this card: declaration order, defaults
    /// omitted, minimal escaping. Two requests for the same image have the
    /// same canonical query, whatever their raw URLs looked like.
    pub fn canonical_query(&self) -> String {
        use std::fmt::Write;
        let mut q = String::with_capacity(128);
        self.card.write_canonical(&mut q);
        let sep = |q: &String| if q.is_empty() { "" } else { "&" };
        if self.theme != Theme::Dark {
            let _ = write!(q, "{}theme={}", sep(&q), self.theme.as_str());
        }
        if self.scale != Scale::ONE {
            let _ = write!(q, "{}scale={}", sep(&q), self.scale.get());
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Result<CardRequest, CardError> {
        let params = Params::parse(Some(q))?;
        CardRequest::from_params(
            TemplateName::parse("report").unwrap(),
            &crate::template::bundled_schema("report").unwrap(),
            &params,
            &LevelBands::default(),
        )
    }

    const OK: &str = "role=ML+Engineer&risk=48";

    #[test]
    fn parses_the_seed_card() {
        let r = parse("role=ML%20Engineer&tagline=AI%20helps&risk=48&threat=Model%20Fine-Tuning&threat_risk=65").unwrap();
        assert_eq!(r.card.text("role"), Some("ML Engineer"));
        assert_eq!(r.card.text("tagline"), Some("AI helps"));
        assert_eq!(r.card.top("risk"), Some(&FieldValue::Percent(Percent(48))));
        assert_eq!(r.card.word("level"), Some("elevated"));
        assert_eq!(
            r.canonical_query(),
            "role=ML%20Engineer&tagline=AI%20helps&risk=48&level=elevated&threat=Model%20Fine-Tuning&threat_risk=65"
        );
        assert_eq!((r.theme, r.scale), (Theme::Dark, Scale::ONE));
    }

    #[test]
    fn derives_levels_from_bands() {
        let bands = LevelBands::default();
        for (risk, want) in [
            (0, Level::Stable),
            (29, Level::Stable),
            (30, Level::Elevated),
            (74, Level::Elevated),
            (75, Level::High),
            (89, Level::High),
            (90, Level::Critical),
            (100, Level::Critical),
        ] {
            assert_eq!(bands.level(Percent::new(risk).unwrap()), want, "{risk}");
        }
        let custom: LevelBands = "10,50,60".parse().unwrap();
        assert_eq!(custom.level(Percent::new(55).unwrap()), Level::High);
        for bad in ["", "1,2", "50,40,90", "0,10,20", "10,20,101", "a,b,c"] {
            assert!(bad.parse::<LevelBands>().is_err(), "{bad}");
        }
    }

    #[test]
    fn explicit_level_wins_and_is_one_of_the_exact_words() {
        let r = parse(&format!("{OK}&level=critical")).unwrap();
        assert_eq!(r.card.word("level"), Some("critical"));
        // One rule for every enum, the document's: exact lowercase words.
        for bad in ["Critical", "HIGH", "%20high", "high%20"] {
            let e = parse(&format!("{OK}&level={bad}")).unwrap_err();
            assert_eq!(e.code(), "invalid_level", "{bad}");
        }
    }

    #[test]
    fn accepts_real_text() {
        for text in [
            "Ingénieur d\u{2019}études",
            "Ky\u{0323}\u{0302} su\u{031B} pha\u{0300}n me\u{0302}\u{0300}m", // Vietnamese, decomposed
            "مُهَنْدِس ذَكَاءٍ اصْطِنَاعِيٍّ",
            "क़्ष्म शृंखला",
            "a\u{064E}\u{064E}\u{064E}\u{064E}",
        ] {
            let q = format!("risk=1&role={}", crate::card::query::encode_component(text));
            let r = parse(&q).unwrap_or_else(|e| panic!("{text}: {e:?}"));
            assert_eq!(r.card.text("role"), Some(text));
        }
    }

    #[test]
    fn collapses_whitespace() {
        for (raw, want) in [
            ("ML Engineer", "ML Engineer"),
            ("a", "a"),
            ("", ""),
            (" ", ""),
            (" a", "a"),
            ("a ", "a"),
            ("a  b", "a b"),
            ("a\tb", "a b"),
            ("a\nb", "a b"),
            ("a \u{3000}b", "a b"),
            ("a\u{a0}b", "a b"),
            ("\u{2003}a b\u{2028}", "a b"),
            ("a\u{200b}b", "a\u{200b}b"), // zero-width space is not whitespace
            ("é ü  ø", "é ü ø"),
        ] {
            assert_eq!(collapse_whitespace(raw), want, "{raw:?}");
            assert_eq!(
                collapse_whitespace(raw),
                raw.split_whitespace().collect::<Vec<_>>().join(" "),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn normalises_whitespace() {
        let r = parse("role=++ML+++Engineer++&risk=1&tagline=").unwrap();
        assert_eq!(r.card.text("role"), Some("ML Engineer"));
        assert_eq!(
            r.card.top("tagline"),
            Some(&FieldValue::Absent),
            "an empty optional field is absent"
        );
    }

    /// Only an empty value means absent: whitespace is a value, and must
    /// be one the document allows (schemathesis found `level=%0D` taken).
    #[test]
    fn whitespace_is_a_value_not_an_absence() {
        for (q, code, field) in [
            ("tagline=+++", "empty_field", "tagline"),
            ("level=%0D", "invalid_level", "level"),
            ("theme=+", "invalid_theme", "theme"),
            ("scale=%09", "invalid_scale", "scale"),
            ("threat=+&threat_risk=2", "empty_field", "threat"),
            ("threat=X&threat_risk=%0D", "invalid_percent", "threat_risk"),
        ] {
            let e = parse(&format!("{OK}&{q}")).unwrap_err();
            assert_eq!((e.code(), e.field()), (code, Some(field)), "{q}");
        }
    }

    /// `maxLength` counts the value as sent: 81 characters are refused
    /// even when collapsing a run of spaces would bring them to 80.
    #[test]
    fn the_length_limit_counts_the_value_as_sent() {
        let q = format!("risk=1&role=ML++{}", "x".repeat(78));
        let e = parse(&q).unwrap_err();
        assert_eq!((e.code(), e.field()), ("too_long", Some("role")));
    }

    #[test]
    fn rejects_bad_input_naming_the_field() {
        let long = |n| "x".repeat(n);
        let cases: Vec<(String, &str, &str)> = vec![
            ("risk=48".into(), "missing_field", "role"),
            ("role=&risk=48".into(), "empty_field", "role"),
            ("role=+++&risk=48".into(), "empty_field", "role"),
            // A right-to-left mark and a zero-width joiner draw nothing.
            (
                "role=%E2%80%8F+%E2%80%8D&risk=48".into(),
                "empty_field",
                "role",
            ),
            ("role=A".into(), "missing_field", "risk"),
            (format!("role={}&risk=1", long(81)), "too_long", "role"),
            (format!("{OK}&tagline={}", long(201)), "too_long", "tagline"),
            (
                format!("{OK}&threat={}&threat_risk=1", long(81)),
                "too_long",
                "threat",
            ),
            ("role=A&risk=101".into(), "invalid_percent", "risk"),
            ("role=A&risk=-1".into(), "invalid_percent", "risk"),
            ("role=A&risk=4.5".into(), "invalid_percent", "risk"),
            ("role=A&risk=NaN".into(), "invalid_percent", "risk"),
            ("role=A&risk=1e2".into(), "invalid_percent", "risk"),
            ("role=A&risk=%2B5".into(), "invalid_percent", "risk"),
            ("role=A&risk=0048".into(), "invalid_percent", "risk"),
            (format!("{OK}&level=meh"), "invalid_level", "level"),
            (format!("{OK}&threat=X"), "missing_field", "threat_risk"),
            (format!("{OK}&threat_risk=5"), "missing_field", "threat"),
            (
                format!("{OK}&threat=X&threat_risk=x"),
                "invalid_percent",
                "threat_risk",
            ),
            (
                format!("{OK}&threat_risk=500"),
                "invalid_percent",
                "threat_risk",
            ),
            ("role=A%0AB&risk=1".into(), "invalid_character", "role"),
            ("role=A%09B&risk=1".into(), "invalid_character", "role"),
            ("role=A%C2%85B&risk=1".into(), "invalid_character", "role"), // NEL (C1)
            (
                format!("{OK}&tagline=abc%E2%80%AEdef"),
                "invalid_character",
                "tagline",
            ), // RLO
            (
                format!("{OK}&threat=%E2%81%A6x&threat_risk=1"),
                "invalid_character",
                "threat",
            ), // LRI
            // Five stacked fathas; four pass (see `accepts_real_text`).
            (
                format!("{OK}&tagline=a{}", "%D9%8E".repeat(5)),
                "too_many_marks",
                "tagline",
            ),
            (format!("{OK}&role=B"), "repeated_parameter", "role"),
            (format!("{OK}&theme=blue"), "invalid_theme", "theme"),
            (format!("{OK}&scale=4"), "invalid_scale", "scale"),
            (format!("{OK}&scale=0"), "invalid_scale", "scale"),
            (format!("{OK}&scale=1.5"), "invalid_scale", "scale"),
            (format!("{OK}&scale=02"), "invalid_scale", "scale"),
        ];
        for (q, code, field) in cases {
            let err = parse(&q).expect_err(&q);
            assert!(matches!(err, CardError::Invalid { .. }), "{q}");
            assert_eq!(err.code(), code, "{q}");
            assert_eq!(err.field(), Some(field), "{q}");
            assert!(
                err.message().contains(field),
                "message names the field: {q}"
            );
        }
    }

    #[test]
    fn limits_count_characters_not_bytes() {
        let role = "機".repeat(80);
        assert!(parse(&format!("role={role}&risk=1")).is_ok());
    }

    #[test]
    fn canonical_query_ignores_unknown_params_and_order() {
        let a = parse("utm_source=x&risk=48&role=ML+Engineer&cb=1").unwrap();
        let b = parse("role=ML%20Engineer&risk=48&level=elevated").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.canonical_query(), b.canonical_query());
        assert_eq!(
            a.canonical_query(),
            "role=ML%20Engineer&risk=48&level=elevated"
        );
        let round = parse(&a.canonical_query()).unwrap();
        assert_eq!(round, a);
    }
}
