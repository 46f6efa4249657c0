//! Every repository path the docs name exists.
//!
//! Docs outlive the code they describe: a file is moved or renamed, and the
//! README, the architecture map or the run log keeps pointing at its old
//! place. This test reads [`DOCS`] and fails listing every path-like
//! mention that names nothing in the repository.
//!
//! What counts as a mention, deliberately narrow so that prose is never
//! mistaken for a path:
//!
//! - the whole content of an inline code span (`` `like/this.rs` ``), or
//!   the target of a Markdown link or image (`[text](like/this.md#part)`,
//!   without its `#part`), or of a reference definition (`[x]: target`);
//!   fenced code blocks are commands and output, and are not read;
//! - with no whitespace in it, and containing a `/` or ending in one of
//!   [`EXTENSIONS`].
//!
//! Not checked, because they are not paths in this repository:
//!
//! - URLs (`scheme://…`, `mailto:`, `data:`) and anchors (`#part`);
//! - anything starting with `/` (routes such as `/cards/report.png`, and
//!   system paths such as `/etc/nginx/`) or `~` (a home directory);
//! - anything holding `{`, `}`, `*`, `<`, `>`, `$`, `?`, `=`, `:` or `…`
//!   (templates, globs, placeholders, shell variables, queries, image
//!   references such as `gcr.io/distroless/cc:nonroot`);
//! - a bare extension (`.svg`: "files ending in …");
//! - anything with a component that is one of [`PLACEHOLDERS`] (`NAME.svg`,
//!   `my-templates/NAME.svg`: "your file here");
//! - build output and generated folders: a first component ignored as a
//!   whole directory by the `.gitignore` at the root or in the doc's folder
//!   (`target/`, fuzz's `corpus/` and `artifacts/`);
//! - a historical mention, followed by its current place:
//!   `` `src/glyphs.rs` (now `crates/…/glyphs.rs`) ``. The old path is
//!   history (`bench/RESULTS.md` logs runs of old builds); the one after
//!   "now" is a code span of its own, and is checked.
//!
//! Where a mention may be found, in this order:
//!
//! 1. a link's target: relative to the doc's folder only, as a Markdown
//!    renderer resolves it;
//! 2. a code span: relative to the doc's folder (`templates/README.md`
//!    says `_text.svg`, `deploy/README.md` says `lint.sh`), then the
//!    repository root, then each crate's source root ([`SOURCE_ROOTS`]: the
//!    docs name modules as `http/bounds.rs` or `render/glyphs.rs`), then
//!    every folder that an earlier mention in the same block (paragraph,
//!    list item, table row or heading) was found to be or to be in:
//!    ARCHITECTURE.md's "**`card/`** — `mod.rs` … `query.rs` …".
//! 3. a code span with a `/`, no extension and no trailing `/` that is
//!    not a path may be a criterion benchmark, `group/function` as the
//!    bench sources in [`BENCH_DIRS`] name it (`stage/encode_png/1` for
//!    `format!("encode_png/{threads}")`): benchmarks are named in the run
//!    log, and a renamed one is as stale as a moved file.
//!
//! A mention ending in `/` must be a directory. Each doc must also yield at
//! least [`MIN_CHECKED`] checked mentions, and [`extractor_self_check`]
//! runs the extractor on a literal, so that a broken extractor cannot pass
//! by finding nothing.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

/// The docs checked, relative to the repository root.
const DOCS: &[&str] = &[
    "README.md",
    "ARCHITECTURE.md",
    "bench/RESULTS.md",
    "templates/README.md",
    "deploy/README.md",
    "fuzz/README.md",
];

/// A code span without a `/` is a mention only with one of these endings.
const EXTENSIONS: &[&str] = &[
    ".rs", ".sh", ".md", ".svg", ".json", ".toml", ".py", ".yaml", ".conf", ".html",
];

/// The crates' source roots, against which module paths resolve.
const SOURCE_ROOTS: &[&str] = &["src", "crates/sharecard-render/src"];

/// Folders whose `*.rs` files define the criterion benchmarks.
const BENCH_DIRS: &[&str] = &["benches", "crates/sharecard-render/benches"];

/// Path components that stand for a name the reader chooses.
const PLACEHOLDERS: &[&str] = &["NAME", "DIR", "FILE", "NAMESPACE"];

/// Characters that make a code span a pattern, a template or a query.
const NOT_IN_PATHS: &[char] = &['{', '}', '*', '<', '>', '$', '?', '=', ':', '…'];

/// Checked mentions each doc must yield at the least.
const MIN_CHECKED: usize = 3;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Code,
    Link,
}

#[derive(Debug)]
struct Mention {
    text: String,
    kind: Kind,
    line: usize,
    /// Paragraph, list item, table row or heading the mention starts in.
    block: usize,
    /// Followed by `(now `…`)`: history, not checked.
    historical: bool,
}

/// `markdown` with the lines of fenced code blocks blanked (line numbers
/// kept).
fn without_fences(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    let mut fence: Option<&str> = None;
    for line in markdown.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let marker = ["```", "~~~"].into_iter().find(|m| trimmed.starts_with(m));
        match (fence, marker) {
            (None, Some(m)) => {
                fence = Some(m);
                out.push('\n');
            }
            (Some(f), Some(m)) if f == m => {
                fence = None;
                out.push('\n');
            }
            (Some(_), _) => out.push('\n'),
            (None, None) => out.push_str(line),
        }
    }
    out
}

/// The block number of each line: a new block starts after a blank line and
/// at every heading, list item and table row.
fn blocks(text: &str) -> Vec<usize> {
    let mut block = 0;
    let mut previous_blank = true;
    text.split('\n')
        .map(|line| {
            let t = line.trim_start();
            let blank = t.is_empty();
            let starts_item = t.starts_with("- ")
                || t.starts_with("* ")
                || t.starts_with('#')
                || t.starts_with('|')
                || t.split_once(". ")
                    .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            if (previous_blank && !blank) || starts_item {
                block += 1;
            }
            previous_blank = blank;
            block
        })
        .collect()
}

/// Every code span and link target in `markdown`, in order.
fn mentions(markdown: &str) -> Vec<Mention> {
    let text = without_fences(markdown);
    let block_of = blocks(&text);
    let line_of = |offset: usize| text[..offset].matches('\n').count();
    let b = text.as_bytes();
    let mut found = Vec::new();
    let push = |found: &mut Vec<Mention>, offset: usize, s: &str, kind, historical| {
        let line = line_of(offset);
        found.push(Mention {
            text: s.to_owned(),
            kind,
            line: line + 1,
            block: block_of[line],
            historical,
        });
    };
    let run = |from: usize| b[from..].iter().take_while(|&&c| c == b'`').count();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'`' {
            let n = run(i);
            // The closing run is the next run of exactly n backticks.
            let mut j = i + n;
            let mut close = None;
            while j < b.len() {
                if b[j] == b'`' {
                    let m = run(j);
                    if m == n {
                        close = Some(j);
                        break;
                    }
                    j += m;
                } else {
                    j += 1;
                }
            }
            let Some(j) = close else {
                i += n;
                continue;
            };
            let content = text[i + n..j].trim();
            let after = text[j + n..].trim_start();
            let historical = after
                .strip_prefix("(now")
                .is_some_and(|now| now.trim_start().starts_with('`'));
            push(&mut found, i, content, Kind::Code, historical);
            i = j + n;
        } else if b[i] == b']' && b.get(i + 1) == Some(&b'(') {
            let start = i + 2;
            let end = text[start..].find(')').map_or(b.len(), |e| start + e);
            let target = text[start..end].split_whitespace().next().unwrap_or("");
            push(&mut found, start, target, Kind::Link, false);
            i = end;
        } else if b[i] == b'['
            && (i == 0 || b[i - 1] == b'\n')
            && let Some(close) = text[i..].find("]:")
        {
            // A reference definition, `[label]: target`.
            let label = &text[i + 1..i + close];
            if !label.contains('\n') {
                let rest = &text[i + close + 2..];
                let target = rest.split_whitespace().next().unwrap_or("");
                push(&mut found, i, target, Kind::Link, false);
            }
            i += close + 2;
        } else {
            i += 1;
        }
    }
    found
}

/// Whether `s` looks like a repository path (see the module doc), and the
/// path part of it (a link's `#fragment` removed).
fn path_like(s: &str, kind: Kind) -> Option<&str> {
    let s = match kind {
        Kind::Link => s.split('#').next().unwrap_or(""),
        Kind::Code => s,
    };
    let url = s.contains("://") || s.starts_with("mailto:") || s.starts_with("data:");
    let extension = EXTENSIONS.contains(&s);
    if s.is_empty()
        || url
        || extension
        || s.starts_with('/')
        || s.starts_with('~')
        || s.chars().any(char::is_whitespace)
        || s.contains(NOT_IN_PATHS)
    {
        return None;
    }
    let placeholder = s
        .split(['/', '.', '-', '_'])
        .any(|part| PLACEHOLDERS.contains(&part));
    if placeholder {
        return None;
    }
    // A link is a path whatever its ending; a code span only when it has a
    // folder in it or a file's extension.
    let looks = kind == Kind::Link || s.contains('/') || EXTENSIONS.iter().any(|e| s.ends_with(e));
    looks.then_some(s)
}

/// `base/rel` with `.` and `..` resolved, if it stays inside the
/// repository (`base` is repository-relative).
fn join(base: &Path, rel: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in base.join(rel).components() {
        match part {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Whole directories a `.gitignore` ignores (`target/`, `/corpus`).
fn ignored_dirs(gitignore: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(gitignore).unwrap_or_default();
    text.lines()
        .map(|l| l.trim().trim_start_matches('/').trim_end_matches('/'))
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with('#')
                && l.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(&c))
        })
        .map(str::to_owned)
        .collect()
}

/// A benchmark id as its source writes it: literal parts, and `{…}` where
/// `format!` puts a word.
struct BenchId(Vec<String>);

impl BenchId {
    fn parse(group: &str, function: &str) -> BenchId {
        let mut parts = vec![format!("{group}/")];
        let mut rest = function;
        while let Some(open) = rest.find('{') {
            parts.last_mut().unwrap().push_str(&rest[..open]);
            parts.push(String::new());
            rest = rest[open..].split_once('}').map_or("", |(_, r)| r);
        }
        parts.last_mut().unwrap().push_str(rest);
        BenchId(parts)
    }

    /// Whether `id` is this one, each `{…}` one or more word characters.
    fn matches(&self, id: &str) -> bool {
        let (first, holes) = self.0.split_first().expect("one part at least");
        let Some(mut rest) = id.strip_prefix(first.as_str()) else {
            return false;
        };
        for literal in holes {
            let word = rest
                .bytes()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
                .count();
            if word == 0 || !rest[word..].starts_with(literal.as_str()) {
                return false;
            }
            rest = &rest[word + literal.len()..];
        }
        rest.is_empty()
    }
}

/// The first string literal in `s`.
fn literal(s: &str) -> Option<&str> {
    let (_, rest) = s.split_once('"')?;
    Some(rest.split_once('"')?.0)
}

/// Every `group/function` the criterion benches in `dirs` define.
fn bench_ids(root: &Path) -> Vec<BenchId> {
    let mut ids = Vec::new();
    for dir in BENCH_DIRS {
        let entries = std::fs::read_dir(root.join(dir)).expect("bench folder");
        for entry in entries {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let source = std::fs::read_to_string(&path).expect("bench source");
            let mut group = None;
            for line in source.lines() {
                if let Some((_, call)) = line.split_once("benchmark_group(") {
                    group = literal(call).map(str::to_owned);
                }
                if let Some((_, call)) = line.split_once("bench_function(")
                    && let (Some(g), Some(f)) = (&group, literal(call))
                {
                    ids.push(BenchId::parse(g, f));
                }
            }
        }
    }
    ids
}

struct Checker {
    root: PathBuf,
    benches: Vec<BenchId>,
}

/// What checking one doc found.
#[derive(Default, Debug)]
struct Report {
    /// Mentions looked up (found or not).
    checked: Vec<String>,
    /// `doc:line: mention` for each mention found nowhere.
    missing: Vec<String>,
}

impl Checker {
    fn new(root: PathBuf) -> Checker {
        let benches = bench_ids(&root);
        Checker { root, benches }
    }

    /// Checks the mentions in `markdown`, a doc at `doc` (relative to the
    /// repository root).
    fn check(&self, doc: &str, markdown: &str) -> Report {
        let folder = Path::new(doc).parent().unwrap_or(Path::new("")).to_owned();
        let mut ignored = ignored_dirs(&self.root.join(".gitignore"));
        ignored.extend(ignored_dirs(&self.root.join(&folder).join(".gitignore")));
        let mut report = Report::default();
        let mut block = usize::MAX;
        let mut bases: Vec<PathBuf> = Vec::new();
        for m in mentions(markdown) {
            if m.block != block {
                block = m.block;
                bases.clear();
            }
            let Some(path) = path_like(&m.text, m.kind) else {
                continue;
            };
            let first = path.split('/').next().unwrap_or("");
            if m.historical || ignored.contains(first) {
                continue;
            }
            report.checked.push(path.to_owned());
            let mut places = vec![folder.clone()];
            if m.kind == Kind::Code {
                places.push(PathBuf::new());
                places.extend(SOURCE_ROOTS.iter().map(PathBuf::from));
                places.extend(bases.iter().cloned());
            }
            let found: Vec<PathBuf> = places
                .iter()
                .filter_map(|base| join(base, path))
                .filter(|rel| {
                    let full = self.root.join(rel);
                    if path.ends_with('/') {
                        full.is_dir()
                    } else {
                        full.exists()
                    }
                })
                .collect();
            for rel in &found {
                if self.root.join(rel).is_dir() {
                    bases.push(rel.clone());
                } else if let Some(parent) = rel.parent() {
                    bases.push(parent.to_owned());
                }
            }
            let benchmark = m.kind == Kind::Code
                && path.contains('/')
                && !path.ends_with('/')
                && !path.rsplit('/').next().unwrap_or("").contains('.')
                && self.benches.iter().any(|b| b.matches(path));
            if found.is_empty() && !benchmark {
                report
                    .missing
                    .push(format!("{doc}:{}: `{}`", m.line, m.text));
            }
        }
        report
    }
}

#[test]
fn every_path_the_docs_name_exists() {
    let checker = Checker::new(root());
    let mut missing = Vec::new();
    for doc in DOCS {
        let markdown = std::fs::read_to_string(checker.root.join(doc))
            .unwrap_or_else(|e| panic!("reading {doc}: {e}"));
        let report = checker.check(doc, &markdown);
        assert!(
            report.checked.len() >= MIN_CHECKED,
            "{doc}: only {} mentions checked ({:?}): is the extractor broken?",
            report.checked.len(),
            report.checked
        );
        missing.extend(report.missing);
    }
    assert!(
        missing.is_empty(),
        "{} mention(s) in the docs name nothing in the repository; point each at \
         where that code lives now (history: `old` (now `new`)):\n  {}",
        missing.len(),
        missing.join("\n  ")
    );
}

#[test]
fn extractor_self_check() {
    let checker = Checker::new(root());
    let doc = "\
Build with `Cargo.toml` and [the guide](templates/README.md#files); the map
is `src/no_such_module.rs`, see [this](docs/missing.md).

```sh
cat src/also_missing_but_in_a_fence.rs
```

Skipped: `/cards/report.png?role=x`, `https://example.com/a.md`,
`target/release/sharecard`, `~/.cache/x.sh`, `deploy/*.sh`, `{slug}.md`,
`NAME.svg`, `$HOME/x.rs`, `.svg`, `gcr.io/a/b:c`, `a b.rs`; checked: `a.rs`.
A module: `http/bounds.rs`; a benchmark `stage/encode_png/2`, and one
that is not: `stage/no_such_bench`. Once `src/old_name.rs` (now
`crates/sharecard-render/src/lib.rs`).

**`card/`** — `naming.rs` is in it.

Another block: `naming.rs` alone.
";
    let report = checker.check("README.md", doc);
    for present in [
        "Cargo.toml",
        "templates/README.md",
        "http/bounds.rs",
        "stage/encode_png/2",
        "crates/sharecard-render/src/lib.rs",
        "card/",
        "naming.rs",
    ] {
        assert!(
            report.checked.iter().any(|c| c == present),
            "{present} checked: {report:?}"
        );
    }
    for skipped in [
        "/cards/report.png?role=x",
        "target/release/sharecard",
        "src/old_name.rs",
    ] {
        assert!(
            !report.checked.iter().any(|c| c == skipped),
            "{skipped} not checked: {report:?}"
        );
    }
    let expected = [
        "README.md:2: `src/no_such_module.rs`",
        "README.md:2: `docs/missing.md`",
        "README.md:10: `a.rs`",
        "README.md:12: `stage/no_such_bench`",
        "README.md:17: `naming.rs`",
    ];
    assert_eq!(report.missing, expected, "{report:?}");
}

#[test]
fn benchmark_ids_match_their_format_strings() {
    let id = BenchId::parse("stage", "encode_png/{threads}");
    assert!(id.matches("stage/encode_png/1"));
    assert!(id.matches("stage/encode_png/12"));
    assert!(!id.matches("stage/encode_png/"));
    assert!(!id.matches("stage/encode_png/1/x"));
    assert!(!id.matches("render/encode_png/1"));
    let plain = BenchId::parse("cache", "hit_by_card");
    assert!(plain.matches("cache/hit_by_card"));
    assert!(!plain.matches("cache/hit_by_card_x"));
}
