//! Card lists in JSON lines, for `render --batch`, `warm` and `serve --warm`.
//!
//! One card object per line, with the URL parameters as fields:
//!
//! ```json
//! {"role": "ML Engineer", "tagline": "…", "risk": 48, "threat": {"task": "Model Fine-Tuning", "risk": 65}}
//! {"role": "Nurse", "risk": 14, "template": "square", "theme": "light", "scale": 2, "name": "nurse-square"}
//! ```
//!
//! `threat` may also be given flat as `threat` + `threat_risk`. `template`
//! defaults to the command's `--template`; `name` (the output file stem)
//! defaults to the role's slug, the template, theme and scale. Each line
//! goes through the same parser as a URL, so a line is valid exactly when
//! the equivalent URL is, but a key that is neither a card parameter nor
//! `template`, `name` or `slug` is an error (a URL would ignore it). Blank
//! lines and lines starting with `#` are skipped.

use serde_json::Value;

use crate::card::query::{Params, encode_pair};
use crate::card::{CardRequest, LevelBands, TemplateName};
use crate::template::Templates;

/// The keys a line may have besides the card's parameters.
const LINE_KEYS: [&str; 3] = ["template", "name", "slug"];

#[derive(Debug, Clone)]
pub struct BatchCard {
    /// 1-based line number in the file.
    pub line: usize,
    pub request: CardRequest,
    pub name: String,
}

/// A line that is not a card, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for BadLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Parses every line; bad lines do not stop the others.
pub fn parse(
    text: &str,
    default_template: &str,
    templates: &Templates,
    bands: &LevelBands,
) -> (Vec<BatchCard>, Vec<BadLine>) {
    let mut cards = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        match parse_line(trimmed, default_template, templates, bands) {
            Ok((request, name)) => cards.push(BatchCard {
                line: line_no,
                request,
                name,
            }),
            Err(message) => bad.push(BadLine {
                line: line_no,
                message,
            }),
        }
    }
    (cards, bad)
}

/// A warm file (`sharecard warm`, `serve --warm`): card lines as
/// [`parse`] reads them, and lines starting with `/`, which name a path.
#[derive(Debug, Clone)]
pub struct WarmFile {
    pub cards: Vec<BatchCard>,
    /// 1-based line number and the path, trimmed.
    pub paths: Vec<(usize, String)>,
    pub bad: Vec<BadLine>,
}

/// Splits a warm file into its paths and its cards; both commands read
/// the same file the same way, so that they count it alike.
pub fn parse_warm(
    text: &str,
    default_template: &str,
    templates: &Templates,
    bands: &LevelBands,
) -> WarmFile {
    let mut paths = Vec::new();
    // Path lines are blanked for the card parser, not dropped, so that its
    // line numbers stay the file's.
    let mut card_lines = String::with_capacity(text.len());
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('/') {
            paths.push((i + 1, t.to_owned()));
        } else {
            card_lines.push_str(line);
        }
        card_lines.push('\n');
    }
    let (cards, bad) = parse(&card_lines, default_template, templates, bands);
    WarmFile { cards, paths, bad }
}

fn parse_line(
    line: &str,
    default_template: &str,
    templates: &Templates,
    bands: &LevelBands,
) -> Result<(CardRequest, String), String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let obj = value.as_object().ok_or("expected a JSON object")?;
    let text = |k: &str| -> Result<Option<String>, String> {
        match obj.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("`{k}` must be a string")),
        }
    };
    let template = text("template")?.unwrap_or_else(|| default_template.to_owned());
    let name = text("name")?.or(text("slug")?);
    let template =
        TemplateName::parse(&template).ok_or_else(|| format!("bad template name {template:?}"))?;
    let info = templates.info(template.as_str()).ok_or_else(|| {
        let names: Vec<String> = templates.infos().map(|i| i.name.clone()).collect();
        format!(
            "no template {template:?}; the templates are {}",
            names.join(", ")
        )
    })?;
    // A URL ignores parameters it does not know (tracking tags), but a
    // line is written for this tool: `colour` is a typo to report.
    let pairs = info
        .schema
        .params_from_json(obj, false, &LINE_KEYS)
        .map_err(|m| {
            let mut keys: Vec<String> = info
                .schema
                .fields
                .iter()
                .map(|f| format!("`{}`", f.name))
                .collect();
            keys.extend(
                ["theme", "scale"]
                    .iter()
                    .chain(&LINE_KEYS)
                    .map(|k| format!("`{k}`")),
            );
            format!("{m}; a {template} line's keys are {}", keys.join(", "))
        })?;
    let query: Vec<String> = pairs.iter().map(|(k, v)| encode_pair(k, v)).collect();
    let params = Params::parse(Some(&query.join("&"))).map_err(|e| e.message().to_owned())?;
    let req = CardRequest::from_params(template, &info.schema, &params, bands)
        .map_err(|e| e.message().to_owned())?;
    let name = match name {
        Some(n) => sanitize_name(&n).ok_or_else(|| {
            format!(
                "bad name {n:?}: a name is 1 to 120 letters, digits, `-`, `_`, `.` and `@`, \
                 not starting with `.`"
            )
        })?,
        None => templates
            .file_name(&req)
            .ascii
            .trim_end_matches(".png")
            .to_owned(),
    };
    Ok((req, name))
}

/// A file stem that cannot leave the output folder.
fn sanitize_name(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name.len() <= 120
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    ok.then(|| name.trim_end_matches(".png").to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn templates() -> Templates {
        let fonts = std::sync::Arc::new(crate::fonts::Fonts::load(None).unwrap());
        Templates::load(None, fonts).unwrap()
    }

    #[test]
    fn parses_lines_and_reports_bad_ones() {
        let text = r#"
{"role": "ML Engineer", "risk": 48, "threat": {"task": "Fine-Tuning", "risk": 65}}
# a comment
{"role": "Nurse", "risk": "14", "template": "report", "theme": "light", "scale": 2, "name": "nurse-x"}
not json
{"role": "Nobody"}
{"role": "A", "risk": 1, "name": "../escape"}
{"role": "A", "risk": 1, "threat": "X", "threat_risk": 3, "slug": "a-x"}
[1, 2]
"#;
        let (cards, bad) = parse(text, "report", &templates(), &LevelBands::default());
        assert_eq!(cards.len(), 3);
        assert_eq!(cards[0].line, 2);
        assert_eq!(cards[0].name, "ml-engineer-report");
        assert!(
            cards[0]
                .request
                .canonical_query()
                .ends_with("&threat_risk=65")
        );
        assert_eq!(cards[1].name, "nurse-x");
        assert_eq!(cards[1].request.scale.get(), 2);
        assert_eq!(cards[2].line, 8);
        let lines: Vec<usize> = bad.iter().map(|b| b.line).collect();
        assert_eq!(lines, [5, 6, 7, 9]);
        assert!(bad[1].message.contains("`risk` is required"), "{}", bad[1]);
        assert!(bad[2].message.contains("bad name"));
        assert!(bad[2].message.contains("letters, digits"), "{}", bad[2]);
    }

    #[test]
    fn a_warm_file_keeps_its_paths_and_line_numbers() {
        let text = "/readyz\n{\"role\": \"A\", \"risk\": 1}\n  /cards/report.png?role=B&risk=2\nnot json\n";
        let warm = parse_warm(text, "report", &templates(), &LevelBands::default());
        assert_eq!(
            warm.paths,
            [
                (1, "/readyz".to_owned()),
                (3, "/cards/report.png?role=B&risk=2".to_owned())
            ]
        );
        assert_eq!(warm.cards.len(), 1);
        assert_eq!(warm.cards[0].line, 2);
        assert_eq!(warm.bad.iter().map(|b| b.line).collect::<Vec<_>>(), [4]);
    }

    #[test]
    fn an_unknown_key_is_named_with_the_keys_allowed() {
        let (cards, bad) = parse(
            r#"{"role": "A", "risk": 1, "colour": "red"}"#,
            "report",
            &templates(),
            &LevelBands::default(),
        );
        assert!(cards.is_empty());
        let m = &bad[0].message;
        assert!(m.contains("unknown key `colour`"), "{m}");
        assert!(m.contains("`tagline`") && m.contains("`template`"), "{m}");
    }
}
