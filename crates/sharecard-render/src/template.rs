//! SVG templates: minijinja sources that turn a card into an SVG document.
//!
//! A template owns its geometry. It declares each text box by calling the
//! `text.fit(…)` helper with the box and type sizes; the helper fits the text
//! (see [`crate::text`]) and records the box, so tests can check the
//! rendered glyphs against exactly what the template asked for. Output is
//! auto-escaped as XML: card text can never become markup.
//!
//! Each template sets `width`, `height` and `fields` at its top level; they
//! are read once at load time by rendering the template with a sample card.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use minijinja::value::{Kwargs, Object, Serde, Value, from_args};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, State, UndefinedBehavior};
use serde::Serialize;

use crate::card::{Card, CardRequest, Theme};
use crate::fonts::Fonts;
use crate::text::{FitSpec, Fitted, Measurer, Shaper, Wrap};

/// Templates compiled into the binary. Names starting with `_` are partials
/// (macros), not cards.
const BUNDLED: &[(&str, &str)] = &[
    ("_text.svg", include_str!("../../../templates/_text.svg")),
    ("report.svg", include_str!("../../../templates/report.svg")),
    ("square.svg", include_str!("../../../templates/square.svg")),
    ("story.svg", include_str!("../../../templates/story.svg")),
];

/// Bumped when the rendering code changes in a way that alters pixels, so
/// that every ETag and versioned URL changes with it.
const RENDERER_EPOCH: &str = "2";

/// A bound on template work: a template with a runaway loop fails instead of
/// spinning a render thread forever.
const TEMPLATE_FUEL: u64 = 200_000;

/// Which part of a template to draw. A template that sets `layered = true`
/// promises that everything it draws while `layer == "background"` is the
/// same for every card (it may use `theme`, never `card`) and lies beneath
/// everything it draws while `layer == "foreground"`. The renderer then
/// rasterises the background once per template × theme × scale and draws
/// only the foreground per card. The `layered` tests compare the composite
/// with a one-pass (`"all"`) render, pixel by pixel, for the bundled
/// templates; `sharecard check` does not (templates/README.md says so).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    All,
    Background,
    Foreground,
}

impl Layer {
    fn as_str(self) -> &'static str {
        match self {
            Layer::All => "all",
            Layer::Background => "background",
            Layer::Foreground => "foreground",
        }
    }
}

/// What a template is, as far as clients and the cache are concerned.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateInfo {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub themes: Vec<&'static str>,
    pub fields: Vec<String>,
    /// Changes whenever the template source, the fonts or the renderer
    /// change: part of every ETag.
    pub version: String,
    /// Whether the template separates a card-independent background layer.
    #[serde(skip)]
    pub(crate) layered: bool,
}

/// A box a template declared for a piece of text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TextBox {
    pub id: String,
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
    pub fitted: FittedOut,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FittedOut {
    pub size: f32,
    pub lines: Vec<String>,
    pub truncated: bool,
}

/// An SVG document ready for usvg, and the text boxes it declared.
#[derive(Debug, Clone)]
pub struct SvgDoc {
    pub svg: String,
    pub width: u32,
    pub height: u32,
    pub boxes: Vec<TextBox>,
}

pub struct Templates {
    env: Environment<'static>,
    infos: BTreeMap<String, TemplateInfo>,
    shaper: Arc<Shaper>,
}

impl Templates {
    /// The bundled templates, or every `*.svg` in `dir` instead (with the
    /// bundled partials it lacks).
    pub fn load(dir: Option<&Path>, fonts: Arc<Fonts>) -> anyhow::Result<Templates> {
        let sources: Vec<(String, String)> = match dir {
            None => BUNDLED
                .iter()
                .map(|(n, s)| (n.to_string(), s.to_string()))
                .collect(),
            Some(dir) => {
                let mut out = read_dir_sources(dir)?;
                // Partials the directory does not have (`_text.svg`) are
                // the bundled ones: a directory needs only its own cards.
                for (name, src) in BUNDLED.iter().filter(|(n, _)| n.starts_with('_')) {
                    if !out.iter().any(|(n, _)| n == name) {
                        out.push((name.to_string(), src.to_string()));
                    }
                }
                out.sort();
                out
            }
        };
        Templates::from_sources(sources, fonts)
    }

    /// Templates from `sources`, `(file name, text)` pairs: `_` names are
    /// partials, the rest cards.
    pub(crate) fn from_sources(
        sources: Vec<(String, String)>,
        fonts: Arc<Fonts>,
    ) -> anyhow::Result<Templates> {
        use sha2::Digest;
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(TEMPLATE_FUEL));
        // Partials take part in every template's version.
        let mut partials = sha2::Sha256::new();
        for (name, src) in &sources {
            if name.starts_with('_') {
                partials.update(name.as_bytes());
                partials.update(src.as_bytes());
            }
        }
        let partials = partials.finalize();
        let mut names = Vec::new();
        for (name, src) in sources {
            if !name.starts_with('_') {
                let card = name.trim_end_matches(".svg").to_owned();
                if crate::card::TemplateName::parse(&card).is_none() {
                    bail!("template file {name}: names are lowercase letters, digits and dashes");
                }
                let mut h = sha2::Sha256::new();
                h.update(RENDERER_EPOCH.as_bytes());
                h.update(partials);
                h.update(src.as_bytes());
                h.update(fonts.fingerprint().as_bytes());
                names.push((card, hex::encode(&h.finalize()[..6])));
            }
            env.add_template_owned(name.clone(), src)
                .with_context(|| format!("template {name} does not compile"))?;
        }
        if names.is_empty() {
            bail!("no card templates found");
        }
        let mut templates = Templates {
            env,
            infos: BTreeMap::new(),
            shaper: Arc::new(Shaper::new(fonts)),
        };
        for (name, version) in names {
            let info = templates
                .read_info(&name, version)
                .with_context(|| format!("template {name}.svg"))?;
            templates.infos.insert(name, info);
        }
        Ok(templates)
    }

    fn read_info(&self, name: &str, version: String) -> anyhow::Result<TemplateInfo> {
        let tmpl = self.env.get_template(&format!("{name}.svg"))?;
        let kit = Arc::new(TextKit::new(self.shaper.clone()));
        let captured = tmpl
            .render_captured(context(
                &sample_card(),
                Theme::Dark,
                "example.com",
                Layer::All,
                &kit,
            ))
            .map_err(describe)?;
        let state = captured.state();
        let dim = |key: &str| -> anyhow::Result<u32> {
            let v = state
                .lookup(key)
                .with_context(|| format!("must `{{% set {key} = … %}}` at top level"))?;
            let n =
                u32::try_from(v).map_err(|_| anyhow::anyhow!("`{key}` must be a whole number"))?;
            if !(16..=4096).contains(&n) {
                bail!("`{key}` must be 16..=4096 px, got {n}");
            }
            Ok(n)
        };
        let fields = state
            .lookup("fields")
            .context("must `{% set fields = [...] %}` at top level")?
            .try_iter()
            .map_err(describe)?
            .map(|v| v.to_string())
            .collect();
        let layered = state.lookup("layered").is_some_and(|v| v.is_true());
        Ok(TemplateInfo {
            name: name.to_owned(),
            width: dim("width")?,
            height: dim("height")?,
            themes: Theme::ALL.iter().map(|t| t.as_str()).collect(),
            fields,
            version,
            layered,
        })
    }

    pub fn info(&self, name: &str) -> Option<&TemplateInfo> {
        self.infos.get(name)
    }

    pub fn infos(&self) -> impl Iterator<Item = &TemplateInfo> {
        self.infos.values()
    }

    pub fn fonts(&self) -> &Arc<Fonts> {
        self.shaper.fonts()
    }

    /// The fonts with the lines already shaped with them.
    pub fn shaper(&self) -> &Shaper {
        &self.shaper
    }

    /// Fills the template for `req`. Fails only on a broken template, never
    /// on card content: every card value is valid by construction.
    pub(crate) fn render_svg(&self, req: &CardRequest, brand: &str) -> anyhow::Result<SvgDoc> {
        self.render_layer(req, brand, Layer::All)
    }

    /// One layer of the template for `req` (see [`Layer`]). The background
    /// is filled with the sample card, so it cannot vary with the request.
    pub fn render_layer(
        &self,
        req: &CardRequest,
        brand: &str,
        layer: Layer,
    ) -> anyhow::Result<SvgDoc> {
        let info = self
            .info(req.template.as_str())
            .with_context(|| format!("no template {}", req.template))?;
        let tmpl = self.env.get_template(&format!("{}.svg", info.name))?;
        let kit = Arc::new(TextKit::new(self.shaper.clone()));
        let card = match layer {
            Layer::Background => sample_card(),
            _ => req
                .card
                .map_text(|s| self.shaper.fonts().displayable(s).into_owned()),
        };
        let svg = tmpl
            .render(context(&card, req.theme, brand, layer, &kit))
            .map_err(describe)?;
        let boxes = std::mem::take(&mut *kit.boxes.lock().expect("not poisoned"));
        Ok(SvgDoc {
            svg,
            width: info.width,
            height: info.height,
            boxes,
        })
    }
}

/// Largest template file a templates directory may hold. The bundled
/// ones are under 20 KiB.
pub(crate) const MAX_TEMPLATE_BYTES: u64 = 1024 * 1024;

/// The `*.svg` files of `dir`, read so that a template set reads only its
/// own folder: a symlink may point only inside it, only regular files are
/// read (a FIFO or device would block or never end), each within
/// [`MAX_TEMPLATE_BYTES`]. Errors name the file, never the machine's path:
/// they reach the gallery.
fn read_dir_sources(dir: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let root = dir
        .canonicalize()
        .map_err(|e| anyhow::anyhow!("the templates directory cannot be read: {e}"))?;
    let entries = std::fs::read_dir(&root)
        .map_err(|e| anyhow::anyhow!("the templates directory cannot be read: {e}"))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| anyhow::anyhow!("listing the templates directory: {e}"))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if !name.ends_with(".svg") {
            continue;
        }
        let src = read_template_file(&root, &entry.path())
            .map_err(|why| anyhow::anyhow!("template file {name}: {why}"))?;
        out.push((name, src));
    }
    Ok(out)
}

/// One template file of the directory `root` (canonical), or why not.
fn read_template_file(root: &Path, path: &Path) -> Result<String, String> {
    use std::io::Read;
    let link = std::fs::symlink_metadata(path).map_err(|e| e.to_string())?;
    if link.file_type().is_symlink() {
        let target = path
            .canonicalize()
            .map_err(|e| format!("is a symlink that cannot be followed ({e})"))?;
        if !target.starts_with(root) {
            return Err("is a symlink that leaves the templates directory; \
                        templates read only their own folder"
                .to_owned());
        }
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    // Opening a FIFO for reading blocks until a writer comes: never wait.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options.open(path).map_err(|e| e.to_string())?;
    // Checked on the opened file, so it is the one read.
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("is not a regular file; templates are plain files".to_owned());
    }
    if meta.len() > MAX_TEMPLATE_BYTES {
        return Err(format!(
            "is {} bytes; a template may have at most {MAX_TEMPLATE_BYTES}",
            meta.len()
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_TEMPLATE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_TEMPLATE_BYTES {
        return Err(format!("has more than {MAX_TEMPLATE_BYTES} bytes"));
    }
    String::from_utf8(bytes).map_err(|_| "is not UTF-8".to_owned())
}

fn context(card: &Card, theme: Theme, brand: &str, layer: Layer, kit: &Arc<TextKit>) -> Value {
    minijinja::context! {
        card => Value::from(Serde(card)),
        theme => theme.as_str(),
        brand => brand,
        layer => layer.as_str(),
        text => Value::from_dyn_object(kit.clone()),
    }
}

/// minijinja errors carry the template line in their `Display` only with
/// the debug feature's detail; keep the whole chain in one message.
fn describe(e: Error) -> anyhow::Error {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg += &format!(": {s}");
        src = s.source();
    }
    anyhow::anyhow!(msg)
}

/// A card with every field set, for reading template metadata and for
/// `sharecard check`.
pub fn sample_card() -> Card {
    use crate::card::{CardText, Level, Percent, Threat};
    Card {
        role: CardText::parse("role", "ML Engineer", 80).expect("valid"),
        tagline: Some(
            CardText::parse(
                "tagline",
                "AI helps build AI. But someone has to build the AI that builds AI.",
                200,
            )
            .expect("valid"),
        ),
        risk: Percent::new(48).expect("valid"),
        level: Level::Elevated,
        threat: Some(Threat {
            task: CardText::parse("threat", "Model Fine-Tuning", 80).expect("valid"),
            risk: Percent::new(65).expect("valid"),
        }),
    }
}

/// The `text` object templates see: `text.fit(…)`, `text.probe(…)` and
/// `text.measure(…)`.
struct TextKit {
    shaper: Arc<Shaper>,
    boxes: Mutex<Vec<TextBox>>,
}

impl std::fmt::Debug for TextKit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextKit").finish_non_exhaustive()
    }
}

impl TextKit {
    fn new(shaper: Arc<Shaper>) -> TextKit {
        TextKit {
            shaper,
            boxes: Mutex::new(Vec::new()),
        }
    }

    /// `wrap=`: "pretty" unless a template asks for "balance" (titles) or
    /// "greedy".
    fn wrap(kwargs: &Kwargs) -> Result<Wrap, Error> {
        let wrap: Option<String> = kwargs.get("wrap")?;
        Ok(match wrap.as_deref().unwrap_or("pretty") {
            "pretty" => Wrap::Pretty,
            "balance" => Wrap::Balance,
            "greedy" => Wrap::Greedy,
            other => return Err(bad_arg("wrap", other)),
        })
    }

    fn spec(kwargs: &Kwargs, width: f32, height: f32) -> Result<FitSpec, Error> {
        let size: f32 = kwargs.get("size")?;
        let spec = FitSpec {
            width,
            height: Some(height),
            size,
            min_size: kwargs.get::<Option<f32>>("min_size")?.unwrap_or(size),
            max_lines: kwargs.get::<Option<usize>>("lines")?.unwrap_or(1),
            weight: kwargs.get::<Option<u16>>("weight")?.unwrap_or(400),
            line_height: kwargs.get::<Option<f32>>("line_height")?.unwrap_or(1.2),
        };
        let sane = spec.width > 0.0
            && spec.size > 0.0
            && spec.size <= 1000.0
            && spec.min_size > 0.0
            && (1..=20).contains(&spec.max_lines)
            && spec.line_height > 0.0;
        if !sane {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("text box out of range: {spec:?}"),
            ));
        }
        Ok(spec)
    }

    /// `text.fit(s, id=, x=, y=, width=, height=, size=, min_size=, lines=,
    /// weight=, line_height=, align="start|middle|end|left|right",
    /// valign="top|middle|bottom")`: fits `s` into the box and returns
    /// `{id, size, weight, x, anchor, width, height, truncated,
    /// lines: [{text, x, y, pieces}]}` where `x` is the anchor point for
    /// `anchor` (an SVG `text-anchor`), each line's `x` that point moved so
    /// the line's ink stays inside the box, and each `y` a baseline. A line
    /// with emoji has `pieces: [{text, family, x}]`, each to be drawn as a
    /// `<tspan>` of its own, anchored at its start, in `family` where set
    /// (see `Measurer::pieces`); other lines have none.
    fn fit(&self, args: &[Value]) -> Result<Value, Error> {
        let (s, kwargs): (String, Kwargs) = from_args(args)?;
        let id: String = kwargs.get("id")?;
        let x: f32 = kwargs.get("x")?;
        let y: f32 = kwargs.get("y")?;
        let width: f32 = kwargs.get("width")?;
        let height: f32 = kwargs.get("height")?;
        let align: Option<String> = kwargs.get("align")?;
        let valign: Option<String> = kwargs.get("valign")?;
        let spec = Self::spec(&kwargs, width, height)?;
        let wrap = Self::wrap(&kwargs)?;
        kwargs.assert_all_used()?;
        let fitted = Measurer::new(&self.shaper).fit_with(&s, &spec, wrap);
        // "start" and "end" follow the text's own direction, as CSS's
        // `text-align` does: an Arabic role starts at its box's right.
        // "left" and "right" are for text set in a row with other boxes.
        let (anchor, ax) = match (align.as_deref().unwrap_or("start"), fitted.rtl) {
            ("left", _) | ("start", false) | ("end", true) => ("start", x),
            ("middle", _) => ("middle", x + width / 2.0),
            ("right", _) | ("end", false) | ("start", true) => ("end", x + width),
            (other, _) => return Err(bad_arg("align", other)),
        };
        let top = match valign.as_deref().unwrap_or("top") {
            "top" => y,
            "middle" => y + (height - fitted.height) / 2.0,
            "bottom" => y + height - fitted.height,
            other => return Err(bad_arg("valign", other)),
        };
        let mut boxes = self.boxes.lock().expect("not poisoned");
        if boxes.iter().any(|b| b.id == id) {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("text box id {id:?} used twice"),
            ));
        }
        boxes.push(TextBox {
            id: id.clone(),
            x,
            y,
            width,
            height,
            fitted: FittedOut {
                size: fitted.size,
                lines: fitted.lines.clone(),
                truncated: fitted.truncated,
            },
        });
        Ok(fitted_value(
            &fitted,
            Some((id, anchor, ax, top)),
            spec.weight,
        ))
    }

    /// `text.probe(s, width=, height=, size=, …)`: the fit `text.fit` would
    /// make, without declaring a box — for layouts where one box's size
    /// decides another's position.
    fn probe(&self, args: &[Value]) -> Result<Value, Error> {
        let (s, kwargs): (String, Kwargs) = from_args(args)?;
        let width: f32 = kwargs.get("width")?;
        let height: f32 = kwargs.get("height")?;
        let spec = Self::spec(&kwargs, width, height)?;
        let wrap = Self::wrap(&kwargs)?;
        kwargs.assert_all_used()?;
        let fitted = Measurer::new(&self.shaper).fit_with(&s, &spec, wrap);
        Ok(fitted_value(&fitted, None, spec.weight))
    }

    /// `text.measure(s, size=, weight=400)`: advance width in px.
    fn measure(&self, args: &[Value]) -> Result<Value, Error> {
        let (s, kwargs): (String, Kwargs) = from_args(args)?;
        let size: f32 = kwargs.get("size")?;
        let weight: Option<u16> = kwargs.get("weight")?;
        kwargs.assert_all_used()?;
        let w = Measurer::new(&self.shaper).width(&s, size, weight.unwrap_or(400));
        Ok(Value::from(w))
    }
}

fn bad_arg(name: &str, value: &str) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("invalid {name} {value:?}"),
    )
}

fn fitted_value(f: &Fitted, placed: Option<(String, &str, f32, f32)>, weight: u16) -> Value {
    let mut map: BTreeMap<&str, Value> = BTreeMap::new();
    map.insert("size", Value::from(round2(f.size)));
    map.insert("weight", Value::from(weight));
    map.insert("width", Value::from(f.width));
    map.insert("height", Value::from(f.height));
    map.insert("truncated", Value::from(f.truncated));
    if let Some((id, anchor, x, top)) = placed {
        map.insert("id", Value::from(id));
        map.insert("anchor", Value::from(anchor));
        map.insert("x", Value::from(round2(x)));
        let lines: Vec<Value> = f
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let y = top + f.ascent + i as f32 * f.line_advance;
                let lx = f.line_x(i, anchor, x);
                // Pieces are placed by their left ends ("start"), from
                // where the anchor puts the line's.
                let advance = f.advances.get(i).copied().unwrap_or_default();
                let left = match anchor {
                    "end" => lx - advance,
                    "middle" => lx - advance / 2.0,
                    _ => lx,
                };
                let pieces: Vec<Value> = f
                    .pieces
                    .get(i)
                    .into_iter()
                    .flatten()
                    .map(|p| {
                        minijinja::context! {
                            text => &p.text,
                            family => &p.family,
                            x => round2(left + p.start),
                        }
                    })
                    .collect();
                minijinja::context! {
                    text => l, x => round2(lx), y => round2(y), pieces => pieces
                }
            })
            .collect();
        map.insert("lines", Value::from(lines));
    }
    Value::from(map)
}

/// Two decimals keep the SVG short and stable across platforms.
fn round2(v: f32) -> f32 {
    (v * 100.0).round() / 100.0
}

impl Object for TextKit {
    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "fit" => self.fit(args),
            "probe" => self.probe(args),
            "measure" => self.measure(args),
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}
