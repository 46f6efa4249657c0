//! A card's values, as its template declares them ([`super::schema`]):
//! parsed from query parameters once, written back as the canonical query,
//! and handed to the template as `card`.

use std::borrow::Cow;
use std::fmt::Write;
use std::sync::Arc;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::Value as Json;

use super::query::{Params, push_encoded};
use super::schema::{Default, Field, Kind, MAX_MEMBERS, Schema, list_param, parse_index};
use super::{CardText, LevelBands, Percent};
use crate::error::CardError;

/// One field's value. `Absent` is an optional field not given: the
/// template sees `none`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldValue {
    Absent,
    Text(CardText),
    Integer(i64),
    Percent(Percent),
    /// An enum's word or an image's asset name: its index in the field's
    /// `values` (no allocation per card: `stage/parse_query_to_card`).
    Choice(u16),
    Record(Option<Vec<FieldValue>>),
    List(Vec<Vec<FieldValue>>),
}

/// One card, valid by construction: a value for each declared field, in
/// declaration order.
#[derive(Debug, Clone)]
pub struct Card {
    schema: Arc<Schema>,
    values: Vec<FieldValue>,
}

impl PartialEq for Card {
    fn eq(&self, other: &Card) -> bool {
        self.values == other.values
    }
}
impl Eq for Card {}
impl std::hash::Hash for Card {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.values.hash(state);
    }
}

impl Card {
    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// The text of the top-level text field `name`, if given.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.top(name).and_then(|v| match v {
            FieldValue::Text(t) => Some(t.as_str()),
            _ => None,
        })
    }

    /// The word of the top-level enum or image field `name`.
    pub fn word(&self, name: &str) -> Option<&str> {
        let i = self.schema.fields.iter().position(|f| f.name == name)?;
        match self.values.get(i)? {
            FieldValue::Choice(c) => choices(&self.schema.fields[i].kind)
                .get(usize::from(*c))
                .map(String::as_str),
            _ => None,
        }
    }

    /// The top-level field `name`'s value.
    pub fn top(&self, name: &str) -> Option<&FieldValue> {
        let i = self.schema.fields.iter().position(|f| f.name == name)?;
        self.values.get(i)
    }

    /// Every text on the card with the parameter it came from.
    pub fn texts(&self) -> Vec<(String, &str)> {
        let mut out = Vec::new();
        for (f, v) in self.schema.fields.iter().zip(&self.values) {
            match (v, &f.kind) {
                (FieldValue::Text(t), _) => out.push((f.param.clone(), t.as_str())),
                (FieldValue::Record(Some(vs)), Kind::Record { fields }) => {
                    for (m, v) in fields.iter().zip(vs) {
                        if let FieldValue::Text(t) = v {
                            out.push((m.param.clone(), t.as_str()));
                        }
                    }
                }
                (FieldValue::List(items), Kind::List { fields, .. }) => {
                    for (i, item) in items.iter().enumerate() {
                        for (m, v) in fields.iter().zip(item) {
                            if let FieldValue::Text(t) = v {
                                out.push((format!("{}.{i}.{}", f.name, m.name), t.as_str()));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// The same card with `f` applied to every text, for display-only
    /// rewrites (see [`crate::fonts::Fonts::displayable`]).
    pub(crate) fn map_text(&self, f: impl Fn(&str) -> String + Copy) -> Card {
        fn map(v: &FieldValue, f: impl Fn(&str) -> String + Copy) -> FieldValue {
            match v {
                FieldValue::Text(t) => FieldValue::Text(CardText(f(t.as_str()))),
                FieldValue::Record(Some(vs)) => {
                    FieldValue::Record(Some(vs.iter().map(|v| map(v, f)).collect()))
                }
                FieldValue::List(items) => FieldValue::List(
                    items
                        .iter()
                        .map(|item| item.iter().map(|v| map(v, f)).collect())
                        .collect(),
                ),
                other => other.clone(),
            }
        }
        Card {
            schema: self.schema.clone(),
            values: self.values.iter().map(|v| map(v, f)).collect(),
        }
    }

    /// Parses `params` against `schema`: every declared field, or a
    /// [`CardError::Invalid`] naming the parameter at fault.
    pub fn from_params(
        schema: &Arc<Schema>,
        params: &Params,
        bands: &LevelBands,
    ) -> Result<Card, CardError> {
        let mut values = Vec::with_capacity(schema.fields.len());
        for f in &schema.fields {
            let v = match &f.kind {
                Kind::Record { fields } => {
                    parse_record(fields, params, |m| Cow::Borrowed(m.param.as_str()), bands)?
                        .map_or(FieldValue::Record(None), |vs| FieldValue::Record(Some(vs)))
                }
                Kind::List { min, max, fields } => {
                    parse_list(f, *min, *max, fields, params, bands)?
                }
                _ => parse_one(f, &f.param, params.get(&f.param)?)?,
            };
            values.push(v);
        }
        derive_levels(&schema.fields, &mut values, bands);
        Ok(Card {
            schema: schema.clone(),
            values,
        })
    }

    /// The card's parameters in canonical form: declaration order, list
    /// items in index order, constant defaults omitted, minimal escaping.
    pub(crate) fn write_canonical(&self, q: &mut String) {
        for (f, v) in self.schema.fields.iter().zip(&self.values) {
            match (v, &f.kind) {
                (FieldValue::Record(Some(vs)), Kind::Record { fields }) => {
                    for (m, v) in fields.iter().zip(vs) {
                        write_pair(q, &m.param, m, v);
                    }
                }
                (FieldValue::List(items), Kind::List { fields, .. }) => {
                    for (i, item) in items.iter().enumerate() {
                        for (m, v) in fields.iter().zip(item) {
                            write_pair(q, &format!("{}.{i}.{}", f.name, m.name), m, v);
                        }
                    }
                }
                _ => write_pair(q, &f.param, f, v),
            }
        }
    }
}

fn write_pair(q: &mut String, param: &str, f: &Field, v: &FieldValue) {
    if let Some(Default::Value(d)) = &f.default
        && json_of(f, v).as_ref() == Some(d)
    {
        return;
    }
    let mut put = |value: &dyn Fn(&mut String)| {
        if !q.is_empty() {
            q.push('&');
        }
        q.push_str(param);
        q.push('=');
        value(q);
    };
    match v {
        FieldValue::Absent | FieldValue::Record(_) | FieldValue::List(_) => {}
        FieldValue::Text(t) => put(&|q| push_encoded(q, t.as_str())),
        FieldValue::Integer(n) => put(&|q| {
            let _ = write!(q, "{n}");
        }),
        FieldValue::Percent(p) => put(&|q| {
            let _ = write!(q, "{p}");
        }),
        FieldValue::Choice(c) => {
            let w = &choices(&f.kind)[usize::from(*c)];
            put(&|q| q.push_str(w))
        }
    }
}

/// A plain value as JSON, to compare with a declared default.
fn json_of(f: &Field, v: &FieldValue) -> Option<Json> {
    Some(match v {
        FieldValue::Text(t) => Json::from(t.as_str()),
        FieldValue::Integer(n) => Json::from(*n),
        FieldValue::Percent(p) => Json::from(p.get()),
        FieldValue::Choice(c) => Json::from(choices(&f.kind)[usize::from(*c)].as_str()),
        _ => return None,
    })
}

/// `raw` for field `f`, sent as `param`. Only an empty value means absent:
/// forms submit empty inputs that way (OpenAPI's `allowEmptyValue`), and a
/// required field sent empty is refused with the field's own rule.
fn parse_one(f: &Field, param: &str, raw: Option<&str>) -> Result<FieldValue, CardError> {
    let raw = match raw {
        Some(r) if f.required || !r.is_empty() => r,
        _ => {
            if f.required {
                return Err(CardError::invalid(
                    "missing_field",
                    Some(param),
                    format!("`{param}` is required"),
                ));
            }
            return Ok(match &f.default {
                Some(Default::Value(d)) => from_default(d, &f.kind),
                _ => FieldValue::Absent,
            });
        }
    };
    Ok(match &f.kind {
        Kind::Text { max } => FieldValue::Text(CardText::parse(param, raw, *max)?),
        Kind::Percent => FieldValue::Percent(Percent::parse(param, raw)?),
        Kind::Integer { min, max } => {
            let digits = raw.strip_prefix('-').unwrap_or(raw);
            let n = (!digits.is_empty()
                && digits.len() <= 13
                && digits.bytes().all(|b| b.is_ascii_digit())
                && (digits == "0" || !digits.starts_with('0'))
                && raw != "-0")
                .then(|| raw.parse::<i64>().ok())
                .flatten()
                .filter(|n| (*min..=*max).contains(n));
            FieldValue::Integer(n.ok_or_else(|| {
                CardError::invalid(
                    "invalid_integer",
                    Some(param),
                    format!("`{param}` must be a whole number from {min} to {max}, got {raw:?}"),
                )
            })?)
        }
        Kind::Enum { values } | Kind::Image { values } => {
            let Some(c) = values.iter().position(|v| v == raw) else {
                let code = match (&f.kind, &f.default) {
                    (Kind::Image { .. }, _) => "invalid_image",
                    (_, Some(Default::LevelOf(_))) => "invalid_level",
                    _ => "invalid_enum",
                };
                return Err(CardError::invalid(
                    code,
                    Some(param),
                    format!(
                        "`{param}` must be one of {}; got {raw:?}",
                        values.join(", ")
                    ),
                ));
            };
            FieldValue::Choice(c as u16)
        }
        Kind::Record { .. } | Kind::List { .. } => unreachable!("plain fields only"),
    })
}

fn from_default(d: &Json, kind: &Kind) -> FieldValue {
    match (kind, d) {
        (Kind::Text { max }, Json::String(s)) => {
            CardText::parse("default", s, *max).map_or(FieldValue::Absent, FieldValue::Text)
        }
        (Kind::Integer { .. }, Json::Number(n)) => FieldValue::Integer(n.as_i64().unwrap_or(0)),
        (Kind::Percent, Json::Number(n)) => n
            .as_u64()
            .and_then(|n| Percent::new(n as u8))
            .map_or(FieldValue::Absent, FieldValue::Percent),
        (Kind::Enum { values } | Kind::Image { values }, Json::String(s)) => values
            .iter()
            .position(|v| v == s)
            .map_or(FieldValue::Absent, |c| FieldValue::Choice(c as u16)),
        _ => FieldValue::Absent,
    }
}

/// A record's members: all absent is no record; otherwise each member is
/// parsed (so a typo in one is reported) and the required ones must be there.
fn parse_record<'a>(
    fields: &'a [Field],
    params: &Params,
    param_of: impl Fn(&'a Field) -> Cow<'a, str>,
    bands: &LevelBands,
) -> Result<Option<Vec<FieldValue>>, CardError> {
    // The members' raw values on the stack: a vector per card was a tenth
    // of the report card's parse (`stage/parse_query_to_card`).
    let mut raws: [Option<&str>; MAX_MEMBERS] = [None; MAX_MEMBERS];
    for (m, raw) in fields.iter().zip(raws.iter_mut()) {
        *raw = params.get(&param_of(m))?;
    }
    let raws = &raws[..fields.len()];
    if raws.iter().all(|r| r.is_none_or(str::is_empty)) {
        return Ok(None);
    }
    // Given members first, then the missing ones: a bad value is reported
    // before the absence of its partner.
    let mut values = vec![FieldValue::Absent; fields.len()];
    for (i, (m, raw)) in fields.iter().zip(raws).enumerate() {
        if raw.is_some_and(|r| !r.is_empty() || m.required) {
            values[i] = parse_one(m, &param_of(m), *raw)?;
        }
    }
    for (i, (m, raw)) in fields.iter().zip(raws).enumerate() {
        if raw.is_none() || *raw == Some("") && !m.required {
            let p = param_of(m);
            if m.required {
                let named: Vec<Cow<'a, str>> = fields
                    .iter()
                    .zip(raws)
                    .filter(|(_, r)| r.is_some_and(|r| !r.is_empty()))
                    .map(|(g, _)| param_of(g))
                    .collect();
                let named: Vec<&str> = named.iter().map(|p| p.as_ref()).collect();
                return Err(CardError::invalid(
                    "missing_field",
                    Some(&p),
                    format!("`{p}` is required when `{}` is given", named.join("`, `")),
                ));
            }
            values[i] = parse_one(m, &p, None)?;
        }
    }
    derive_levels(fields, &mut values, bands);
    Ok(Some(values))
}

fn parse_list(
    f: &Field,
    min: usize,
    max: usize,
    fields: &[Field],
    params: &Params,
    bands: &LevelBands,
) -> Result<FieldValue, CardError> {
    let name = &f.name;
    let prefix = format!("{name}.");
    let mut count = 0;
    let mut seen = [false; super::schema::MAX_LIST_ITEMS];
    for (k, _) in params.iter() {
        let Some(rest) = k.strip_prefix(&prefix) else {
            continue;
        };
        let members: Vec<&str> = fields.iter().map(|m| m.name.as_str()).collect();
        let bad = || {
            CardError::invalid(
                "invalid_parameter",
                Some(k),
                format!(
                    "`{k}` is not an item of `{name}`: items are `{name}.N.{}` with N from 0 to {}",
                    members.join("`, `{name}.N.".replace("{name}", name).as_str()),
                    max - 1
                ),
            )
        };
        let (index, member) = rest.split_once('.').ok_or_else(bad)?;
        let i = parse_index(index).ok_or_else(bad)?;
        if !members.contains(&member) {
            return Err(bad());
        }
        if i >= max {
            return Err(CardError::invalid(
                "too_many_items",
                Some(name),
                format!("`{name}` may have at most {max} items, got `{k}`"),
            ));
        }
        seen[i] = true;
        count = count.max(i + 1);
    }
    if let Some(gap) = (0..count).find(|&i| !seen[i]) {
        return Err(CardError::invalid(
            "missing_item",
            Some(&format!("{name}.{gap}")),
            format!(
                "`{name}` has items after `{name}.{gap}` but not that one: indices run from 0 without gaps"
            ),
        ));
    }
    if count < min {
        return Err(CardError::invalid(
            "too_few_items",
            Some(name),
            format!("`{name}` needs at least {min} items, got {count}"),
        ));
    }
    let mut items = Vec::with_capacity(count);
    for i in 0..count {
        let item = parse_record(
            fields,
            params,
            |m| Cow::Owned(format!("{name}.{i}.{}", m.name)),
            bands,
        )?
        .ok_or_else(|| {
            CardError::invalid(
                "missing_item",
                Some(&format!("{name}.{i}")),
                format!("`{name}.{i}` has only empty values"),
            )
        })?;
        items.push(item);
    }
    Ok(FieldValue::List(items))
}

/// Fills absent `level_of` fields from their percent beside them.
fn derive_levels(fields: &[Field], values: &mut [FieldValue], bands: &LevelBands) {
    for i in 0..fields.len() {
        if let (Some(Default::LevelOf(src)), FieldValue::Absent) = (&fields[i].default, &values[i])
        {
            let risk = fields
                .iter()
                .position(|g| &g.name == src)
                .and_then(|j| match &values[j] {
                    FieldValue::Percent(p) => Some(*p),
                    _ => None,
                });
            let word = risk.map(|p| bands.level(p).as_str());
            if let Some(c) = word.and_then(|w| choices(&fields[i].kind).iter().position(|v| v == w))
            {
                values[i] = FieldValue::Choice(c as u16);
            }
        }
    }
}

struct Values<'a>(&'a [Field], &'a [FieldValue]);

impl Serialize for Values<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (f, v) in self.0.iter().zip(self.1) {
            map.serialize_entry(&f.name, &Value(f, v))?;
        }
        map.end()
    }
}

struct Value<'a>(&'a Field, &'a FieldValue);

impl Serialize for Value<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match (self.1, &self.0.kind) {
            (FieldValue::Absent | FieldValue::Record(None), _) => s.serialize_none(),
            (FieldValue::Text(t), _) => s.serialize_str(t.as_str()),
            (FieldValue::Integer(n), _) => s.serialize_i64(*n),
            (FieldValue::Percent(p), _) => s.serialize_u8(p.get()),
            (FieldValue::Choice(c), kind) => s.serialize_str(&choices(kind)[usize::from(*c)]),
            (FieldValue::Record(Some(vs)), Kind::Record { fields }) => {
                Values(fields, vs).serialize(s)
            }
            (FieldValue::List(items), Kind::List { fields, .. }) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Values(fields, item))?;
                }
                seq.end()
            }
            _ => s.serialize_none(),
        }
    }
}

/// The card as the template sees it: `card.role`, `card.threat.task`,
/// `card.tasks[0].risk`.
impl Serialize for Card {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Values(&self.schema.fields, &self.values).serialize(s)
    }
}

impl Schema {
    /// A card given as a JSON object shaped like the template's `card`
    /// (records as objects, lists as arrays of objects; a member may also
    /// be given by its parameter name), as query parameters. With `clip`,
    /// texts are cut to their fields' limits (stress samples are longer on
    /// purpose). Keys that are neither come back in the error.
    pub fn params_from_json(
        &self,
        obj: &serde_json::Map<String, Json>,
        clip: bool,
        skip: &[&str],
    ) -> Result<Vec<(String, String)>, String> {
        let mut out = Vec::new();
        for (k, v) in obj {
            if skip.contains(&k.as_str()) {
                continue;
            }
            let top = self.fields.iter().find(|f| &f.name == k);
            match (top.map(|f| (f, &f.kind)), v) {
                (Some((_, Kind::Record { fields })), Json::Object(o)) => {
                    for (mk, mv) in o {
                        let m = fields
                            .iter()
                            .find(|m| &m.name == mk)
                            .ok_or_else(|| format!("`{k}` has no field `{mk}`"))?;
                        out.push((m.param.clone(), scalar(&m.param, m, mv, clip)?));
                    }
                }
                (Some((f, Kind::List { fields, .. })), Json::Array(items)) => {
                    for (i, item) in items.iter().enumerate() {
                        let o = item
                            .as_object()
                            .ok_or_else(|| format!("`{k}` items are objects"))?;
                        for (mk, mv) in o {
                            let m = fields
                                .iter()
                                .find(|m| &m.name == mk)
                                .ok_or_else(|| format!("`{k}` items have no field `{mk}`"))?;
                            let p = format!("{}.{i}.{}", f.name, m.name);
                            out.push((p.clone(), scalar(&p, m, mv, clip)?));
                        }
                    }
                }
                // A member whose parameter is the record's name, given flat
                // (`"threat": "X"` beside `"threat_risk": 3`).
                (Some((_, Kind::Record { fields })), v)
                    if fields.iter().any(|m| &m.param == k) && !v.is_object() =>
                {
                    let m = fields.iter().find(|m| &m.param == k).expect("found");
                    out.push((m.param.clone(), scalar(k, m, v, clip)?));
                }
                (Some((f, Kind::Record { .. } | Kind::List { .. })), _) => {
                    return Err(format!(
                        "`{k}` must be {}",
                        if matches!(f.kind, Kind::List { .. }) {
                            "an array of objects"
                        } else {
                            "an object"
                        }
                    ));
                }
                (Some((f, _)), v) => out.push((f.param.clone(), scalar(k, f, v, clip)?)),
                (None, v) => {
                    let by_param = self.params().into_iter().find(|(p, _)| p == k);
                    match by_param {
                        Some((p, f)) => out.push((p.clone(), scalar(&p, f, v, clip)?)),
                        None if k == "theme" || k == "scale" => {
                            out.push((k.clone(), scalar(k, &THEME_OR_SCALE, v, false)?))
                        }
                        None => return Err(format!("unknown key `{k}`")),
                    }
                }
            }
        }
        Ok(out)
    }

    /// Whether `param` names a list item's parameter of this template.
    pub fn is_list_param(&self, param: &str) -> bool {
        self.fields.iter().any(|f| match &f.kind {
            Kind::List { max, fields, .. } => list_param(f, *max, fields, param).is_some(),
            _ => false,
        })
    }
}

static THEME_OR_SCALE: Field = Field {
    name: String::new(),
    param: String::new(),
    kind: Kind::Percent,
    required: false,
    default: None,
    description: String::new(),
    example: None,
};

fn scalar(key: &str, f: &Field, v: &Json, clip: bool) -> Result<String, String> {
    let s = match v {
        Json::String(s) => s.clone(),
        Json::Number(n) => n.to_string(),
        Json::Bool(b) => b.to_string(),
        Json::Null => String::new(),
        _ => return Err(format!("`{key}` must be a string or a number")),
    };
    Ok(match (&f.kind, clip) {
        (Kind::Text { max }, true) => s.chars().take(*max).collect(),
        _ => s,
    })
}

/// The words of an enum or image field; none for other kinds.
fn choices(kind: &Kind) -> &[String] {
    match kind {
        Kind::Enum { values } | Kind::Image { values } => values,
        _ => &[],
    }
}
