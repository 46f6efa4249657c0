//! Pages read as a browser's tokenizer reads them, into a small tree the
//! tests query with a few CSS selectors.
//!
//! html5gum is the WHATWG tokenizer: it decodes character references in
//! attributes and text, and reports the spec's parse errors. The tree is
//! stricter than a browser's: every element but a void one must be closed,
//! in order. scraper did this job before, but its selector and tree crates
//! turned on features of `syn` and `memchr` that a plain build does not, so
//! `cargo test` rebuilt every proc macro and all above them after
//! `cargo run`: about two and a half minutes of a fresh clone's first hour
//! (`bench/first-hour.sh`).
use std::collections::BTreeMap;

use html5gum::{DefaultEmitter, Token, Tokenizer};

/// Elements that never have an end tag (HTML's void elements).
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];

pub struct Html {
    nodes: Vec<Node>,
    /// Tokenizer errors, a missing `<!DOCTYPE html>`, and tags that are
    /// not closed in order.
    pub errors: Vec<String>,
    text: String,
}

struct Node {
    name: String,
    attrs: BTreeMap<String, String>,
    parent: Option<usize>,
}

/// One element of a parsed page.
#[derive(Clone, Copy)]
pub struct Element<'a> {
    doc: &'a Html,
    at: usize,
}

impl<'a> Element<'a> {
    pub fn attr(&self, name: &str) -> Option<&'a str> {
        self.doc.nodes[self.at].attrs.get(name).map(String::as_str)
    }
}

fn string(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 in a page")
}

impl Html {
    pub fn parse_document(page: &str) -> Html {
        let mut emitter = DefaultEmitter::default();
        // Script and style bodies are raw text, as a tree builder would say.
        emitter.naively_switch_states(true);
        let mut doc = Html {
            nodes: Vec::new(),
            errors: Vec::new(),
            text: String::new(),
        };
        let mut open: Vec<usize> = Vec::new();
        let mut doctype = false;
        for token in Tokenizer::new_with_emitter(page, emitter) {
            match token.expect("reading a string cannot fail") {
                Token::Doctype(d) => doctype = string(&d.name) == "html",
                Token::StartTag(tag) => {
                    let name = string(&tag.name);
                    doc.nodes.push(Node {
                        attrs: tag
                            .attributes
                            .iter()
                            .map(|(k, v)| (string(k), string(v)))
                            .collect(),
                        parent: open.last().copied(),
                        name: name.clone(),
                    });
                    if !VOID.contains(&name.as_str()) && !tag.self_closing {
                        open.push(doc.nodes.len() - 1);
                    }
                }
                Token::EndTag(tag) => {
                    let name = string(&tag.name);
                    match open.pop() {
                        Some(top) if doc.nodes[top].name == name => {}
                        Some(top) => doc
                            .errors
                            .push(format!("</{name}> closes <{}>", doc.nodes[top].name)),
                        None => doc.errors.push(format!("</{name}> with nothing open")),
                    }
                }
                Token::String(s) => doc.text.push_str(&string(&s)),
                Token::Comment(_) => {}
                Token::Error(e) => doc.errors.push(e.to_string()),
            }
        }
        if !doctype {
            doc.errors.push("no <!DOCTYPE html>".into());
        }
        for at in open {
            doc.errors
                .push(format!("<{}> is never closed", doc.nodes[at].name));
        }
        doc
    }

    /// All text of the page, in order (script and style bodies included).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The elements `selector` matches, in document order. Selectors are
    /// compounds (`tag`, `.class`, `[attr]`, `[attr="value"]`) joined by
    /// descendant (` `) or child (`>`) combinators.
    pub fn select<'a>(&'a self, selector: &str) -> impl Iterator<Item = Element<'a>> + 'a {
        let steps = parse_selector(selector);
        (0..self.nodes.len())
            .filter(move |&at| self.matches(at, &steps))
            .map(move |at| Element { doc: self, at })
    }

    fn matches(&self, at: usize, steps: &[(Combinator, Compound)]) -> bool {
        let Some(((combinator, last), rest)) = steps.split_last() else {
            return true;
        };
        if !last.matches(&self.nodes[at]) {
            return false;
        }
        let mut parent = self.nodes[at].parent;
        match combinator {
            Combinator::First => true,
            Combinator::Child => parent.is_some_and(|p| self.matches(p, rest)),
            Combinator::Descendant => {
                while let Some(p) = parent {
                    if self.matches(p, rest) {
                        return true;
                    }
                    parent = self.nodes[p].parent;
                }
                false
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Combinator {
    First,
    Descendant,
    Child,
}

#[derive(Default)]
struct Compound {
    tag: Option<String>,
    classes: Vec<String>,
    attrs: Vec<(String, Option<String>)>,
}

impl Compound {
    fn matches(&self, node: &Node) -> bool {
        self.tag.as_ref().is_none_or(|t| *t == node.name)
            && self.classes.iter().all(|c| {
                node.attrs
                    .get("class")
                    .is_some_and(|list| list.split_ascii_whitespace().any(|w| w == c))
            })
            && self
                .attrs
                .iter()
                .all(|(k, v)| match (node.attrs.get(k), v) {
                    (Some(have), Some(want)) => have == want,
                    (Some(_), None) => true,
                    (None, _) => false,
                })
    }
}

/// Panics on anything outside the subset `Html::select` documents: a test
/// with a selector this cannot read fails rather than matches nothing.
fn parse_selector(selector: &str) -> Vec<(Combinator, Compound)> {
    let mut steps = Vec::new();
    let mut combinator = Combinator::First;
    let spaced = selector.replace('>', " > ");
    for word in spaced.split_ascii_whitespace() {
        if word == ">" {
            combinator = Combinator::Child;
            continue;
        }
        steps.push((combinator, compound(word, selector)));
        combinator = Combinator::Descendant;
    }
    assert!(!steps.is_empty(), "empty selector");
    steps
}

fn compound(word: &str, selector: &str) -> Compound {
    let mut out = Compound::default();
    let end = word.find(['.', '[']).unwrap_or(word.len());
    let tag = &word[..end];
    let name = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !tag.is_empty() {
        if !name(tag) {
            refuse(selector);
        }
        out.tag = Some(tag.to_owned());
    }
    let mut rest = &word[end..];
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if !name(&r[..end]) {
                refuse(selector);
            }
            out.classes.push(r[..end].to_owned());
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r
                .find(']')
                .unwrap_or_else(|| panic!("unclosed [ in {selector}"));
            let (k, v) = match r[..end].split_once('=') {
                Some((k, v)) => {
                    let v = v
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .unwrap_or_else(|| panic!("quote the value in {selector}"));
                    (k, Some(v.to_owned()))
                }
                None => (&r[..end], None),
            };
            out.attrs.push((k.to_owned(), v));
            rest = &r[end + 1..];
        } else {
            refuse(selector);
        }
    }
    out
}

fn refuse(selector: &str) -> ! {
    panic!("selector {selector:?} is outside the subset tests/it/html.rs reads")
}

#[cfg(test)]
mod tests {
    use super::Html;

    const PAGE: &str = "<!DOCTYPE html><html><head><meta property=\"og:url\" \
        content=\"/a?x=1&amp;y=&quot;2&quot;\"></head><body><figure class=\"card big\">\
        <img src=\"/c.png\"><figcaption><a href=\"/c.png\">open</a><button class=\"copy\" \
        data-url=\"/c.png\">copy</button></figcaption></figure><p>caf&eacute;</p></body></html>";

    #[test]
    fn reads_what_a_browser_reads() {
        let doc = Html::parse_document(PAGE);
        assert!(doc.errors.is_empty(), "{:?}", doc.errors);
        let url = doc.select("meta[property=\"og:url\"]").next().unwrap();
        assert_eq!(url.attr("content"), Some("/a?x=1&y=\"2\""));
        assert_eq!(doc.select("figure img").count(), 1);
        assert_eq!(doc.select("figure > img").count(), 1);
        assert_eq!(doc.select("body > img").count(), 0);
        assert_eq!(doc.select("figcaption button.copy").count(), 1);
        assert_eq!(doc.select("figure.card.big a[href]").count(), 1);
        assert_eq!(doc.select("figure.small a").count(), 0);
        assert!(doc.text().contains("café"));
    }

    #[test]
    fn reports_what_a_page_gets_wrong() {
        for (page, error) in [
            ("<html><body></body></html>", "no <!DOCTYPE html>"),
            (
                "<!DOCTYPE html><html><body><p></body></html>",
                "</body> closes <p>",
            ),
            ("<!DOCTYPE html><html><body>", "<body> is never closed"),
            (
                "<!DOCTYPE html><html><body><a href=x href=y></a></body></html>",
                "duplicate-attribute",
            ),
        ] {
            let doc = Html::parse_document(page);
            assert!(
                doc.errors.iter().any(|e| e.contains(error)),
                "{page}: {:?}",
                doc.errors
            );
        }
    }

    #[test]
    #[should_panic(expected = "outside the subset")]
    fn refuses_a_selector_it_cannot_read() {
        let _ = Html::parse_document(PAGE).select("a:first-child").count();
    }
}
