//! A template's declaration: the fields its cards have, what is said about
//! a card, and its sample cards. Read from `NAME.json` beside `NAME.svg`;
//! everything about a card (parsing, the canonical query, signing, the
//! OpenAPI document, `check`'s cases) follows from it, with no Rust per
//! template. `templates/README.md` is the author's guide to the format.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::Value as Json;

use super::{Level, TemplateName};

/// Longest text field a declaration may allow: a card has no room for more.
pub(crate) const MAX_TEXT_LENGTH: usize = 1000;
/// Most items a list may declare; each item is several query parameters,
/// and a query carries at most 64.
pub(crate) const MAX_LIST_ITEMS: usize = 12;
/// Most fields a record or a list item may have.
pub(crate) const MAX_MEMBERS: usize = 8;
/// Integers a field may range over: exact in every JSON client.
const MAX_ABS_INTEGER: i64 = 1_000_000_000_000;

/// Query parameters every card has, which no field may be named.
pub(crate) const RESERVED: [&str; 8] = [
    "theme", "scale", "sig", "exp", "download", "template", "name", "slug",
];

/// One template's declaration, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    /// One line: what the card shows (the operation's summary).
    pub summary: String,
    pub description: String,
    pub fields: Vec<Field>,
    pub share: Share,
    pub samples: Vec<SampleCard>,
}

/// What is said about a card: minijinja templates over `card`, rendered
/// as plain text (pages escape them).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Share {
    /// The share page's title (`og:title`).
    pub title: String,
    /// The share page's description; the title when absent.
    #[serde(default)]
    pub description: Option<String>,
    /// The image's alternative text (`og:image:alt`), cut to 420
    /// characters, X's limit.
    pub alt: String,
    /// The download's file name, before its slug is taken; the template's
    /// name when absent.
    #[serde(default)]
    pub file_name: Option<String>,
}

/// A sample card: a slug and the card as a JSON object shaped like the
/// template's `card` (records as objects, lists as arrays of objects).
#[derive(Debug, Clone, PartialEq)]
pub struct SampleCard {
    pub slug: String,
    pub value: serde_json::Map<String, Json>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    /// Its query parameter: the name at the top level, `record.member` in
    /// a record unless the declaration names another; list members'
    /// parameters are `list.N.member`, and this is the member's name.
    pub param: String,
    pub kind: Kind,
    pub required: bool,
    pub default: Option<Default>,
    pub description: String,
    pub example: Option<Json>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// Trimmed, whitespace runs collapsed, at most `max` characters.
    Text {
        max: usize,
    },
    Integer {
        min: i64,
        max: i64,
    },
    /// A whole percentage, 0–100.
    Percent,
    /// One of these exact words.
    Enum {
        values: Vec<String>,
    },
    /// One of the template set's assets, by name.
    Image {
        values: Vec<String>,
    },
    /// Fields given together or not at all.
    Record {
        fields: Vec<Field>,
    },
    /// Up to `max` items, each a record of `fields`.
    List {
        min: usize,
        max: usize,
        fields: Vec<Field>,
    },
}

impl Kind {
    pub fn type_name(&self) -> &'static str {
        match self {
            Kind::Text { .. } => "text",
            Kind::Integer { .. } => "integer",
            Kind::Percent => "percent",
            Kind::Enum { .. } => "enum",
            Kind::Image { .. } => "image",
            Kind::Record { .. } => "record",
            Kind::List { .. } => "list",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Default {
    /// A constant, in the field's own type.
    Value(Json),
    /// The level of a percent field beside it, through the service's bands.
    LevelOf(String),
}

impl Schema {
    /// Whether `param` is one of this template's card parameters: what a
    /// signature covers, besides `exp`.
    pub fn is_param(&self, param: &str) -> bool {
        if param == "theme" || param == "scale" {
            return true;
        }
        self.fields.iter().any(|f| match &f.kind {
            Kind::Record { fields } => fields.iter().any(|m| m.param == param),
            Kind::List { max, fields, .. } => list_param(f, *max, fields, param).is_some(),
            _ => f.param == param,
        })
    }

    /// Every parameter name this template's cards can have, lists spelled
    /// out item by item, in canonical order.
    pub fn params(&self) -> Vec<(String, &Field)> {
        params_of(&self.fields)
    }
}

fn params_of(fields: &[Field]) -> Vec<(String, &Field)> {
    let mut out = Vec::new();
    for f in fields {
        match &f.kind {
            Kind::Record { fields } => out.extend(fields.iter().map(|m| (m.param.clone(), m))),
            Kind::List { max, fields, .. } => {
                for i in 0..*max {
                    out.extend(
                        fields
                            .iter()
                            .map(|m| (format!("{}.{i}.{}", f.name, m.name), m)),
                    );
                }
            }
            _ => out.push((f.param.clone(), f)),
        }
    }
    out
}

/// `(index, member)` if `param` is an item parameter of list `f`.
pub(crate) fn list_param<'a>(
    f: &Field,
    max: usize,
    fields: &'a [Field],
    param: &str,
) -> Option<(usize, &'a Field)> {
    let rest = param.strip_prefix(f.name.as_str())?.strip_prefix('.')?;
    let (index, member) = rest.split_once('.')?;
    let i = parse_index(index)?;
    (i < max).then_some(())?;
    fields.iter().find(|m| m.name == member).map(|m| (i, m))
}

/// A list index as a URL spells it: digits, no leading zero.
pub(crate) fn parse_index(s: &str) -> Option<usize> {
    let ok = !s.is_empty()
        && s.len() <= 3
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'));
    ok.then(|| s.parse().ok()).flatten()
}

// ---- reading a declaration ----------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDecl {
    /// Take whatever this declaration leaves out from another template's.
    #[serde(default)]
    pub(crate) like: Option<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    fields: Option<Vec<RawField>>,
    #[serde(default)]
    share: Option<Share>,
    #[serde(default)]
    samples: Option<RawSamples>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RawSamples {
    /// A file of the template set: `{"cards": [...]}`.
    File(String),
    Inline(Vec<serde_json::Map<String, Json>>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    description: String,
    #[serde(default)]
    default: Option<Json>,
    #[serde(default)]
    example: Option<Json>,
    #[serde(default)]
    param: Option<String>,
    #[serde(default)]
    max_length: Option<usize>,
    #[serde(default)]
    minimum: Option<i64>,
    #[serde(default)]
    maximum: Option<i64>,
    #[serde(default)]
    values: Option<Vec<String>>,
    #[serde(default)]
    min_items: Option<usize>,
    #[serde(default)]
    max_items: Option<usize>,
    #[serde(default)]
    fields: Option<Vec<RawField>>,
}

/// Reads `file`'s text: syntax and unknown keys, with serde's line.
pub(crate) fn read_raw(file: &str, src: &str) -> anyhow::Result<RawDecl> {
    serde_json::from_str(src).map_err(|e| anyhow::anyhow!("{file} line {}: {e}", e.line()))
}

/// What a declaration is checked against.
pub(crate) struct Context<'a> {
    pub(crate) file: &'a str,
    pub(crate) src: &'a str,
    pub(crate) assets: &'a [String],
    /// Reads a samples file of the set by name.
    pub(crate) read: &'a dyn Fn(&str) -> anyhow::Result<String>,
}

/// Checks `raw`, with `base` filling what it leaves out (`like`).
pub(crate) fn build(
    raw: RawDecl,
    base: Option<&Schema>,
    cx: &Context<'_>,
) -> anyhow::Result<Schema> {
    let at = |name: &str| line_of(cx.src, name);
    let err = |line: usize, msg: String| anyhow::anyhow!("{} line {line}: {msg}", cx.file);
    let fields = match (raw.fields, base) {
        (Some(raw_fields), _) => {
            let mut fields = Vec::new();
            for f in raw_fields {
                let line = at(&f.name);
                fields.push(field(f, Place::Top, cx).map_err(|m| {
                    // A member's error names the member: point at its line,
                    // the first after its field's.
                    let inner = m
                        .strip_prefix('`')
                        .and_then(|r| r.split_once('`'))
                        .map(|(n, _)| n);
                    let line = inner
                        .and_then(|n| line_of_from(cx.src, n, line))
                        .unwrap_or(line);
                    err(line, m)
                })?);
            }
            unique(&fields, "").map_err(|m| err(1, m))?;
            fields
        }
        (None, Some(b)) => b.fields.clone(),
        (None, None) => return Err(err(1, "a declaration needs `fields` (or `like`)".into())),
    };
    let mut params = BTreeSet::new();
    for (p, _) in params_of(&fields) {
        if !params.insert(p.clone()) || RESERVED.contains(&p.as_str()) {
            return Err(err(
                at(&p),
                format!("the parameter `{p}` is used twice or reserved"),
            ));
        }
    }
    let share = match (raw.share, base) {
        (Some(s), _) => s,
        (None, Some(b)) => b.share.clone(),
        (None, None) => {
            return Err(err(
                1,
                "a declaration needs `share` (title and alt at least)".into(),
            ));
        }
    };
    let samples = match (raw.samples, base) {
        (Some(RawSamples::Inline(list)), _) => list,
        (Some(RawSamples::File(name)), _) => {
            #[derive(Deserialize)]
            struct File {
                cards: Vec<serde_json::Map<String, Json>>,
            }
            let text = (cx.read)(&name).map_err(|e| err(at("samples"), format!("{e:#}")))?;
            serde_json::from_str::<File>(&text)
                .map_err(|e| err(at("samples"), format!("{name} line {}: {e}", e.line())))?
                .cards
        }
        (None, Some(b)) => b.samples.iter().map(|s| s.value_with_slug()).collect(),
        (None, None) => return Err(err(1, "a declaration needs `samples`".into())),
    };
    let mut cards = Vec::new();
    for mut s in samples {
        let slug = match s.remove("slug") {
            Some(Json::String(slug)) if TemplateName::parse(&slug).is_some() => slug,
            other => {
                return Err(err(
                    at("samples"),
                    format!(
                        "every sample needs a `slug` of lowercase letters, digits and dashes, got {other:?}"
                    ),
                ));
            }
        };
        // Descriptive keys a samples file may carry beside the card's.
        s.remove("about");
        cards.push(SampleCard { slug, value: s });
    }
    if cards.is_empty() {
        return Err(err(
            at("samples"),
            "a declaration needs at least one sample card".into(),
        ));
    }
    let summary = raw
        .summary
        .or_else(|| base.map(|b| b.summary.clone()))
        .ok_or_else(|| err(1, "a declaration needs a one-line `summary`".into()))?;
    let description = raw
        .description
        .or_else(|| base.map(|b| b.description.clone()))
        .unwrap_or_else(|| summary.clone());
    Ok(Schema {
        summary,
        description,
        fields,
        share,
        samples: cards,
    })
}

impl SampleCard {
    fn value_with_slug(&self) -> serde_json::Map<String, Json> {
        let mut v = self.value.clone();
        v.insert("slug".into(), Json::String(self.slug.clone()));
        v
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Place<'a> {
    Top,
    Record(&'a str),
    List(&'a str),
}

fn field(raw: RawField, place: Place<'_>, cx: &Context<'_>) -> Result<Field, String> {
    let name = raw.name.clone();
    let ok_name = !name.is_empty()
        && name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !ok_name {
        return Err(format!(
            "field name {name:?}: names are lowercase letters, digits and `_`, starting with a letter"
        ));
    }
    if place == Place::Top && RESERVED.contains(&name.as_str()) {
        return Err(format!(
            "field name `{name}` is reserved ({})",
            RESERVED.join(", ")
        ));
    }
    let param = match (&raw.param, place) {
        (None, Place::Record(r)) => format!("{r}.{name}"),
        (None, _) => name.clone(),
        (Some(p), Place::Record(_)) => {
            let ok = !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !ok {
                return Err(format!(
                    "`{name}`: `param` is lowercase letters, digits and `_`"
                ));
            }
            p.clone()
        }
        (Some(_), _) => {
            return Err(format!(
                "`{name}`: only a record's members may name their `param`"
            ));
        }
    };
    let only = |key: &str, set: bool, types: &str| -> Result<(), String> {
        if set {
            Err(format!(
                "`{name}`: `{key}` applies to {types} fields only, not {}",
                raw.ty
            ))
        } else {
            Ok(())
        }
    };
    let t = raw.ty.as_str();
    const TYPES: [&str; 7] = [
        "text", "integer", "percent", "enum", "image", "record", "list",
    ];
    if !TYPES.contains(&t) {
        return Err(format!(
            "`{name}`: unknown type {t:?}; the types are text, integer, percent, enum, image, record and list"
        ));
    }
    only(
        "max_length",
        raw.max_length.is_some() && t != "text",
        "text",
    )?;
    only(
        "minimum",
        raw.minimum.is_some() && t != "integer",
        "integer",
    )?;
    only(
        "maximum",
        raw.maximum.is_some() && t != "integer",
        "integer",
    )?;
    only(
        "values",
        raw.values.is_some() && !matches!(t, "enum" | "image"),
        "enum and image",
    )?;
    only("min_items", raw.min_items.is_some() && t != "list", "list")?;
    only("max_items", raw.max_items.is_some() && t != "list", "list")?;
    only(
        "fields",
        raw.fields.is_some() && !matches!(t, "record" | "list"),
        "record and list",
    )?;
    let kind = match t {
        "text" => {
            let max = raw
                .max_length
                .ok_or_else(|| format!("`{name}`: a text field needs `max_length`"))?;
            if !(1..=MAX_TEXT_LENGTH).contains(&max) {
                return Err(format!(
                    "`{name}`: `max_length` must be 1..={MAX_TEXT_LENGTH}, got {max}"
                ));
            }
            Kind::Text { max }
        }
        "integer" => {
            let (Some(min), Some(max)) = (raw.minimum, raw.maximum) else {
                return Err(format!(
                    "`{name}`: an integer field needs `minimum` and `maximum`"
                ));
            };
            if min > max || min.abs() > MAX_ABS_INTEGER || max.abs() > MAX_ABS_INTEGER {
                return Err(format!(
                    "`{name}`: needs minimum ≤ maximum, both within ±{MAX_ABS_INTEGER}"
                ));
            }
            Kind::Integer { min, max }
        }
        "percent" => Kind::Percent,
        "enum" => {
            let values = raw
                .values
                .clone()
                .ok_or_else(|| format!("`{name}`: an enum field needs `values`"))?;
            let word = |v: &String| {
                !v.is_empty()
                    && v.len() <= 40
                    && v.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                    })
            };
            if values.is_empty() || !values.iter().all(word) {
                return Err(format!(
                    "`{name}`: enum values are lowercase words (letters, digits, `-`, `_`): every enum takes its words exactly"
                ));
            }
            if values.iter().collect::<BTreeSet<_>>().len() != values.len() {
                return Err(format!("`{name}`: an enum value is listed twice"));
            }
            Kind::Enum { values }
        }
        "image" => {
            let values = raw.values.clone().unwrap_or_else(|| cx.assets.to_vec());
            if let Some(v) = values.iter().find(|v| !cx.assets.contains(v)) {
                return Err(format!(
                    "`{name}`: no asset named {v:?} in assets/ (assets: {})",
                    list_or_none(cx.assets)
                ));
            }
            if values.is_empty() {
                return Err(format!(
                    "`{name}`: an image field needs assets/ to hold an image"
                ));
            }
            Kind::Image { values }
        }
        "record" | "list" => {
            if place != Place::Top {
                return Err(format!(
                    "`{name}`: records and lists hold plain fields only"
                ));
            }
            let raw_fields = raw
                .fields
                .clone()
                .ok_or_else(|| format!("`{name}`: a {t} needs `fields`"))?;
            let inner = if t == "record" {
                Place::Record(&name)
            } else {
                Place::List(&name)
            };
            let fields = raw_fields
                .into_iter()
                .map(|f| field(f, inner, cx))
                .collect::<Result<Vec<_>, _>>()?;
            if fields.is_empty() || fields.len() > MAX_MEMBERS {
                return Err(format!("`{name}`: a {t} has 1 to {MAX_MEMBERS} fields"));
            }
            unique(&fields, &name)?;
            if !fields.iter().any(|f| f.required) {
                return Err(format!(
                    "`{name}`: at least one of its fields must be required"
                ));
            }
            if t == "record" {
                Kind::Record { fields }
            } else {
                let max = raw
                    .max_items
                    .ok_or_else(|| format!("`{name}`: a list needs `max_items`"))?;
                let min = raw.min_items.unwrap_or(0);
                if !(1..=MAX_LIST_ITEMS).contains(&max) || min > max {
                    return Err(format!(
                        "`{name}`: needs 1 ≤ max_items ≤ {MAX_LIST_ITEMS} and min_items ≤ max_items"
                    ));
                }
                Kind::List { min, max, fields }
            }
        }
        other => {
            return Err(format!(
                "`{name}`: unknown type {other:?}; the types are text, integer, percent, enum, image, record and list"
            ));
        }
    };
    let default = match raw.default.clone() {
        None => None,
        Some(Json::Object(o)) if o.len() == 1 && o.contains_key("level_of") => {
            let Some(Json::String(src)) = o.get("level_of") else {
                return Err(format!(
                    "`{name}`: `level_of` names a percent field beside it"
                ));
            };
            let words: Vec<&str> = Level::ALL.iter().map(|l| l.as_str()).collect();
            match &kind {
                Kind::Enum { values } if words.iter().all(|w| values.iter().any(|v| v == w)) => {}
                _ => {
                    return Err(format!(
                        "`{name}`: a `level_of` default needs an enum with the values {}",
                        words.join(", ")
                    ));
                }
            }
            Some(Default::LevelOf(src.clone()))
        }
        Some(v) => {
            if matches!(kind, Kind::Record { .. } | Kind::List { .. }) {
                return Err(format!("`{name}`: a {t} has no default"));
            }
            check_default(&name, &kind, &v)?;
            Some(Default::Value(v))
        }
    };
    if raw.required && default.is_some() {
        return Err(format!("`{name}`: a required field has no default"));
    }
    if raw.required && matches!(kind, Kind::List { .. }) {
        return Err(format!("`{name}`: a list is required through `min_items`"));
    }
    Ok(Field {
        name,
        param,
        kind,
        required: raw.required,
        default,
        description: raw.description,
        example: raw.example,
    })
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// A constant default must be a value the field accepts.
fn check_default(name: &str, kind: &Kind, v: &Json) -> Result<(), String> {
    let bad = |why: String| Err(format!("`{name}`: default {v}: {why}"));
    match (kind, v) {
        (Kind::Text { max }, Json::String(s)) => {
            if s.chars().count() > *max || s.trim().is_empty() {
                return bad(format!("a text of 1 to {max} characters"));
            }
        }
        (Kind::Integer { min, max }, Json::Number(n)) => match n.as_i64() {
            Some(i) if (*min..=*max).contains(&i) => {}
            _ => return bad(format!("outside {min}..={max}")),
        },
        (Kind::Percent, Json::Number(n)) => match n.as_u64() {
            Some(i) if i <= 100 => {}
            _ => return bad("outside 0..=100".into()),
        },
        (Kind::Enum { values } | Kind::Image { values }, Json::String(s)) => {
            if !values.contains(s) {
                return bad(format!("not one of {}", values.join(", ")));
            }
        }
        _ => return bad(format!("not a {} value", kind.type_name())),
    }
    Ok(())
}

fn unique(fields: &[Field], within: &str) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for f in fields {
        if !seen.insert(&f.name) {
            return Err(format!("field `{}` is declared twice{within}", f.name));
        }
    }
    for f in fields {
        if let Some(Default::LevelOf(src)) = &f.default
            && !fields
                .iter()
                .any(|g| &g.name == src && g.kind == Kind::Percent)
        {
            return Err(format!(
                "`{}`: `level_of` names `{src}`, which is not a percent field beside it",
                f.name
            ));
        }
    }
    Ok(())
}

/// The 1-based line where `"name": "<name>"` first appears, else 1: the
/// line a declaration error points to.
pub(crate) fn line_of(src: &str, name: &str) -> usize {
    line_of_from(src, name, 1).unwrap_or(1)
}

/// [`line_of`], looking from line `from` on.
fn line_of_from(src: &str, name: &str, from: usize) -> Option<usize> {
    let quoted = format!("\"{name}\"");
    src.lines()
        .enumerate()
        .skip(from.saturating_sub(1))
        .find(|(_, l)| {
            l.find(&quoted).is_some_and(|i| {
                let before = l[..i].trim_end();
                before.ends_with(':') && before[..before.len() - 1].trim_end().ends_with("\"name\"")
                    || l[i + quoted.len()..].trim_start().starts_with(':')
            })
        })
        .map(|(i, _)| i + 1)
}

impl Schema {
    /// The cards `sharecard check` draws besides the samples, as JSON
    /// objects shaped like the card: every optional field absent, then
    /// present at its longest, one at a time and all together; every
    /// field at its shortest; lists empty (at `min_items`) and full; each
    /// enum word. A template that can fail on a valid card fails on one
    /// of these.
    pub fn check_cases(&self) -> Vec<(String, serde_json::Map<String, Json>)> {
        use serde_json::Map;
        let value = |f: &Field, long: bool| -> Json {
            match &f.kind {
                Kind::Text { max } => {
                    if long {
                        let words = "Mmmmmmmmm ".repeat(max.div_ceil(10));
                        Json::from(words.chars().take(*max).collect::<String>().trim_end())
                    } else {
                        Json::from("A")
                    }
                }
                Kind::Integer { min, max } => Json::from(if long { *max } else { *min }),
                Kind::Percent => Json::from(if long { 100 } else { 0 }),
                Kind::Enum { values } | Kind::Image { values } => {
                    Json::from(if long { values.last() } else { values.first() }.cloned())
                }
                Kind::Record { .. } | Kind::List { .. } => Json::Null,
            }
        };
        let record = |fields: &[Field], long: bool, all: bool| -> Map<String, Json> {
            fields
                .iter()
                .filter(|m| all || m.required)
                .map(|m| (m.name.clone(), value(m, long)))
                .collect()
        };
        let whole = |f: &Field, long: bool, all: bool| -> Option<Json> {
            match &f.kind {
                Kind::Record { fields } => Some(Json::Object(record(fields, long, all))),
                Kind::List { min, max, fields } => {
                    let n = if all { *max } else { *min };
                    Some(Json::Array(
                        (0..n)
                            .map(|_| Json::Object(record(fields, long, all)))
                            .collect(),
                    ))
                }
                _ => Some(value(f, long)),
            }
        };
        // Every field present (`all`) or only the required ones, at the
        // longest or shortest values.
        let card = |long: bool, all: bool| -> Map<String, Json> {
            self.fields
                .iter()
                .filter(|f| all || f.required || matches!(f.kind, Kind::List { .. }))
                .filter_map(|f| Some((f.name.clone(), whole(f, long, all)?)))
                .collect()
        };
        let mut out = vec![
            ("only-required-shortest".to_owned(), card(false, false)),
            ("only-required-longest".to_owned(), card(true, false)),
            ("all-shortest".to_owned(), card(false, true)),
            ("all-longest".to_owned(), card(true, true)),
        ];
        let base = self
            .samples
            .first()
            .map(|s| s.value.clone())
            .unwrap_or_default();
        for f in &self.fields {
            if !f.required {
                let mut absent = base.clone();
                absent.remove(&f.name);
                if let Kind::List { min, fields, .. } = &f.kind {
                    let items = (0..*min)
                        .map(|_| Json::Object(record(fields, false, false)))
                        .collect();
                    absent.insert(f.name.clone(), Json::Array(items));
                }
                out.push((format!("without-{}", f.name), absent));
                let mut present = base.clone();
                if let Some(v) = whole(f, true, true) {
                    present.insert(f.name.clone(), v);
                }
                out.push((format!("longest-{}", f.name), present));
            }
            let words = match &f.kind {
                Kind::Enum { values } | Kind::Image { values } => values.clone(),
                _ => Vec::new(),
            };
            for w in words {
                let mut with = base.clone();
                with.insert(f.name.clone(), Json::from(w.clone()));
                out.push((format!("{}-{w}", f.name), with));
            }
        }
        out
    }
}
