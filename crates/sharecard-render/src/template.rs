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

use crate::card::query::Params;
use crate::card::schema::{self, Schema};
use crate::card::{Card, CardRequest, LevelBands, Theme};
use crate::fonts::Fonts;
use crate::text::{FitSpec, Fitted, Measurer, Shaper, Wrap};

/// Templates compiled into the binary. Names starting with `_` are partials
/// (macros), not cards.
const BUNDLED: &[(&str, &str)] = &[
    ("_text.svg", include_str!("../../../templates/_text.svg")),
    ("report.svg", include_str!("../../../templates/report.svg")),
    ("square.svg", include_str!("../../../templates/square.svg")),
    ("story.svg", include_str!("../../../templates/story.svg")),
    (
        "report.json",
        include_str!("../../../templates/report.json"),
    ),
    (
        "square.json",
        include_str!("../../../templates/square.json"),
    ),
    ("story.json", include_str!("../../../templates/story.json")),
    (
        "samples.json",
        include_str!("../../../templates/samples.json"),
    ),
    ("tasks.svg", include_str!("../../../templates/tasks.svg")),
    ("tasks.json", include_str!("../../../templates/tasks.json")),
    ("cost.svg", include_str!("../../../templates/cost.svg")),
    ("cost.json", include_str!("../../../templates/cost.json")),
];

/// Assets compiled into the binary (`templates/assets/`, whose
/// LICENSES.md says where each comes from).
const BUNDLED_ASSETS: &[(&str, &[u8])] = &[
    (
        "brand.svg",
        include_bytes!("../../../templates/assets/brand.svg"),
    ),
    (
        "human.svg",
        include_bytes!("../../../templates/assets/human.svg"),
    ),
    (
        "chip.svg",
        include_bytes!("../../../templates/assets/chip.svg"),
    ),
];

/// Bumped when the rendering code changes in a way that alters pixels, so
/// that every ETag and versioned URL changes with it.
const RENDERER_EPOCH: &str = "3";

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
    /// The card's query parameters, lists spelled out item by item.
    pub fields: Vec<String>,
    /// What the card's fields are, and what is said about it.
    #[serde(skip)]
    pub schema: Arc<Schema>,
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
    /// The declarations' wording, rendered as plain text.
    words: Environment<'static>,
    infos: BTreeMap<String, TemplateInfo>,
    shaper: Arc<Shaper>,
    assets: Arc<crate::assets::Assets>,
}

impl Templates {
    /// The bundled templates, or the set in `dir` instead: its `*.svg`
    /// templates, `*.json` declarations and samples, and `assets/` (with
    /// the bundled partials it lacks).
    pub fn load(dir: Option<&Path>, fonts: Arc<Fonts>) -> anyhow::Result<Templates> {
        let (sources, assets) = match dir {
            None => (
                BUNDLED
                    .iter()
                    .map(|(n, s)| (n.to_string(), s.to_string()))
                    .collect(),
                crate::assets::Assets::load(
                    BUNDLED_ASSETS
                        .iter()
                        .map(|(n, b)| (n.to_string(), b.to_vec()))
                        .collect(),
                )?,
            ),
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
                (
                    out,
                    crate::assets::Assets::load(crate::assets::read_dir(dir)?)?,
                )
            }
        };
        Templates::from_sources(sources, assets, fonts)
    }

    /// Templates from `sources`, `(file name, text)` pairs: `_` names are
    /// partials, `.json` declarations (and samples files), the rest cards.
    pub(crate) fn from_sources(
        sources: Vec<(String, String)>,
        assets: crate::assets::Assets,
        fonts: Arc<Fonts>,
    ) -> anyhow::Result<Templates> {
        use sha2::Digest;
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(TEMPLATE_FUEL));
        let mut words = Environment::new();
        words.set_auto_escape_callback(|_| AutoEscape::None);
        words.set_undefined_behavior(UndefinedBehavior::Strict);
        words.set_fuel(Some(TEMPLATE_FUEL));
        let assets = Arc::new(assets);
        // Partials take part in every template's version.
        let mut partials = sha2::Sha256::new();
        for (name, src) in &sources {
            if name.starts_with('_') {
                partials.update(name.as_bytes());
                partials.update(src.as_bytes());
            }
        }
        partials.update(assets.fingerprint());
        let partials = partials.finalize();
        let json: BTreeMap<String, String> = sources
            .iter()
            .filter(|(n, _)| n.ends_with(".json"))
            .cloned()
            .collect();
        let mut names = Vec::new();
        for (name, src) in sources {
            if name.ends_with(".json") {
                continue;
            }
            if !name.starts_with('_') {
                let card = name.trim_end_matches(".svg").to_owned();
                if crate::card::TemplateName::parse(&card).is_none() {
                    bail!("template file {name}: names are lowercase letters, digits and dashes");
                }
                let mut h = sha2::Sha256::new();
                h.update(RENDERER_EPOCH.as_bytes());
                h.update(partials);
                h.update(src.as_bytes());
                h.update(
                    json.get(&format!("{card}.json"))
                        .map_or("", |s| s.as_str())
                        .as_bytes(),
                );
                h.update(fonts.fingerprint().as_bytes());
                names.push((card, hex::encode(&h.finalize()[..6])));
            }
            env.add_template_owned(name.clone(), src)
                .with_context(|| format!("template {name} does not compile"))?;
        }
        if names.is_empty() {
            bail!("no card templates found");
        }
        let schemas = declarations(&names, &json, &assets)?;
        for (name, (schema, _)) in &schemas {
            for (what, src) in [
                ("title", Some(&schema.share.title)),
                ("description", schema.share.description.as_ref()),
                ("alt", Some(&schema.share.alt)),
                ("file_name", schema.share.file_name.as_ref()),
            ] {
                if let Some(src) = src {
                    words
                        .add_template_owned(format!("{name}/{what}"), src.clone())
                        .map_err(|e| {
                            anyhow::anyhow!("{name}.json: share.{what}: {}", describe(e))
                        })?;
                }
            }
        }
        let mut templates = Templates {
            env,
            words,
            infos: BTreeMap::new(),
            shaper: Arc::new(Shaper::new(fonts)),
            assets,
        };
        for (name, version) in names {
            let (schema, own) = schemas[&name].clone();
            let info = templates
                .read_info(&name, version, schema, own)
                .with_context(|| format!("template {name}.svg"))?;
            templates.infos.insert(name, info);
        }
        Ok(templates)
    }

    /// The template set's assets.
    pub fn assets(&self) -> &Arc<crate::assets::Assets> {
        &self.assets
    }

    /// The card `params` name for `template`, parsed by its declaration.
    /// `None` for a template the set lacks.
    pub fn card_request(
        &self,
        template: crate::card::TemplateName,
        params: &Params,
        bands: &LevelBands,
    ) -> Option<Result<CardRequest, crate::error::CardError>> {
        let schema = &self.info(template.as_str())?.schema;
        Some(CardRequest::from_params(template, schema, params, bands))
    }

    /// The declared sample `slug` of `template` as a card request, texts
    /// cut to their limits, with `extra` parameters (`&theme=light`).
    pub fn sample_request(
        &self,
        template: &str,
        sample: &schema::SampleCard,
        extra: &str,
        bands: &LevelBands,
    ) -> Result<CardRequest, crate::error::CardError> {
        let info = self.info(template).ok_or_else(|| {
            crate::error::CardError::invalid(
                "unknown_template",
                None,
                format!("no template {template}"),
            )
        })?;
        let params = sample_params(&info.schema, sample, extra)
            .map_err(|m| crate::error::CardError::invalid("invalid_sample", None, m))?;
        CardRequest::from_params(
            crate::card::TemplateName::parse(template).expect("loaded names parse"),
            &info.schema,
            &params,
            bands,
        )
    }

    /// What is said about `req`'s card, from its declaration: `(title,
    /// description, alt, file name)`.
    pub fn wording(&self, req: &CardRequest) -> anyhow::Result<[String; 4]> {
        let d = self.describe(req)?;
        Ok([d.title, d.summary, d.alt, self.file_stem(req)?])
    }

    /// The declaration's `share.WHAT` for `req`'s card, whitespace runs
    /// made one space; `None` when the declaration leaves it out.
    fn say(&self, req: &CardRequest, what: &str) -> anyhow::Result<Option<String>> {
        let Ok(t) = self.words.get_template(&format!("{}/{what}", req.template)) else {
            return Ok(None);
        };
        let text = t
            .render(minijinja::context! { card => Value::from(Serde(&req.card)) })
            .map_err(describe)?;
        Ok(Some(crate::card::collapse_whitespace(&text)))
    }

    /// The stem a download is named from: `share.file_name`, else the
    /// template's name.
    fn file_stem(&self, req: &CardRequest) -> anyhow::Result<String> {
        Ok(self
            .say(req, "file_name")?
            .unwrap_or_else(|| req.template.as_str().to_owned()))
    }

    fn read_info(
        &self,
        name: &str,
        version: String,
        schema: Arc<Schema>,
        own: bool,
    ) -> anyhow::Result<TemplateInfo> {
        let tmpl = self.env.get_template(&format!("{name}.svg"))?;
        check_uses(name, &tmpl.undeclared_variables(true), &schema, own)?;
        let sample = first_sample(name, &schema)?;
        let kit = Arc::new(TextKit::new(self.shaper.clone()));
        let captured = tmpl
            .render_captured(context(
                &sample,
                Theme::Dark,
                "example.com",
                Layer::All,
                &kit,
            ))
            .map_err(describe)?;
        check_hrefs(captured.output(), &self.assets)?;
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
        let fields = schema.params().into_iter().map(|(p, _)| p).collect();
        let layered = state.lookup("layered").is_some_and(|v| v.is_true());
        Ok(TemplateInfo {
            name: name.to_owned(),
            width: dim("width")?,
            height: dim("height")?,
            themes: Theme::ALL.iter().map(|t| t.as_str()).collect(),
            fields,
            schema,
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
            Layer::Background => first_sample(&info.name, &info.schema)?,
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

impl Templates {
    /// The card in words (see [`Description`]), as its declaration's
    /// `share` says.
    pub fn describe(&self, req: &CardRequest) -> anyhow::Result<crate::card::naming::Description> {
        let name = req.template.as_str();
        let info = self
            .info(name)
            .with_context(|| format!("no template {name}"))?;
        let title = self
            .say(req, "title")?
            .unwrap_or_else(|| info.schema.summary.clone());
        let summary = self
            .say(req, "description")?
            .unwrap_or_else(|| title.clone());
        let mut alt = self.say(req, "alt")?.unwrap_or_default();
        if alt.chars().count() > MAX_ALT {
            alt = alt.chars().take(MAX_ALT - 1).collect::<String>() + "…";
        }
        Ok(crate::card::naming::Description {
            title,
            summary,
            alt,
        })
    }

    /// The file a downloaded card is saved as (see [`FileName`]): the
    /// slug of the declaration's `share.file_name`, the template, theme
    /// and scale.
    pub fn file_name(&self, req: &CardRequest) -> crate::card::naming::FileName {
        // Only the name's wording: a download answers with it on every hit.
        let stem = self
            .file_stem(req)
            .unwrap_or_else(|_| req.template.as_str().to_owned());
        let suffix = match req.scale {
            crate::card::Scale::ONE => String::new(),
            s => format!("@{}x", s.get()),
        };
        let base = crate::card::naming::slug(&stem);
        let base = if base.is_empty() {
            "card".to_owned()
        } else {
            base
        };
        let ascii = crate::card::naming::ascii_slug(&stem);
        let ascii = if ascii.is_empty() {
            "card".to_owned()
        } else {
            ascii
        };
        let theme = match req.theme {
            Theme::Dark => String::new(),
            t => format!("-{}", t.as_str()),
        };
        crate::card::naming::FileName {
            ascii: format!("{ascii}-{}{theme}{suffix}.png", req.template),
            unicode: format!("{base}-{}{theme}{suffix}.png", req.template),
        }
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
        if !name.ends_with(".svg") && !name.ends_with(".json") {
            continue;
        }
        let src = crate::files::read_set_file(&root, &entry.path(), MAX_TEMPLATE_BYTES)
            .and_then(|b| String::from_utf8(b).map_err(|_| "is not UTF-8".to_owned()))
            .map_err(|why| anyhow::anyhow!("template file {name}: {why}"))?;
        out.push((name, src));
    }
    Ok(out)
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

/// The declaration of the bundled template `name`, read without fonts
/// (tests, benches, tools).
pub fn bundled_schema(name: &str) -> anyhow::Result<Arc<Schema>> {
    // Read once a process: tests and benches ask for it per card.
    static ALL: std::sync::OnceLock<Result<BTreeMap<String, Arc<Schema>>, String>> =
        std::sync::OnceLock::new();
    let all = ALL.get_or_init(|| {
        let read = || -> anyhow::Result<BTreeMap<String, Arc<Schema>>> {
            let assets = crate::assets::Assets::load(
                BUNDLED_ASSETS
                    .iter()
                    .map(|(n, b)| (n.to_string(), b.to_vec()))
                    .collect(),
            )?;
            let json: BTreeMap<String, String> = BUNDLED
                .iter()
                .filter(|(n, _)| n.ends_with(".json"))
                .map(|(n, s)| (n.to_string(), s.to_string()))
                .collect();
            let names: Vec<(String, String)> = BUNDLED
                .iter()
                .filter(|(n, _)| n.ends_with(".svg") && !n.starts_with('_'))
                .map(|(n, _)| (n.trim_end_matches(".svg").to_owned(), String::new()))
                .collect();
            Ok(declarations(&names, &json, &assets)?
                .into_iter()
                .map(|(n, (s, _))| (n, s))
                .collect())
        };
        read().map_err(|e| format!("{e:#}"))
    });
    match all {
        Ok(all) => all
            .get(name)
            .cloned()
            .with_context(|| format!("no bundled template {name}")),
        Err(e) => Err(anyhow::anyhow!("{e}")),
    }
}

/// Longest alternative text: X's limit for `twitter:image:alt`.
pub const MAX_ALT: usize = 420;

/// The declarations of `names`: `NAME.json` where the set has one, else
/// the bundled report card's (a template set from before declarations
/// draws report cards).
fn declarations(
    names: &[(String, String)],
    json: &BTreeMap<String, String>,
    assets: &crate::assets::Assets,
) -> anyhow::Result<BTreeMap<String, (Arc<Schema>, bool)>> {
    let asset_names = assets.names();
    let read = |file: &str| -> anyhow::Result<String> {
        json.get(file)
            .cloned()
            .or_else(|| {
                BUNDLED
                    .iter()
                    .find(|(n, _)| *n == file)
                    .map(|(_, s)| s.to_string())
            })
            .with_context(|| format!("no file {file} in the template set"))
    };
    let build = |file: &str,
                 src: &str,
                 base: Option<&Schema>|
     -> anyhow::Result<(Option<String>, Option<Schema>)> {
        let raw = schema::read_raw(file, src)?;
        let like = raw.like.clone();
        if like.is_some() && base.is_none() {
            return Ok((like, None));
        }
        let cx = schema::Context {
            file,
            src,
            assets: &asset_names,
            read: &read,
        };
        Ok((like, Some(schema::build(raw, base, &cx)?)))
    };
    let bundled_report = || -> anyhow::Result<Schema> {
        let src = BUNDLED
            .iter()
            .find(|(n, _)| *n == "report.json")
            .expect("bundled")
            .1;
        let (_, s) = build("report.json", src, None)?;
        Ok(s.expect("no like"))
    };
    let mut out: BTreeMap<String, (Arc<Schema>, bool)> = BTreeMap::new();
    let mut later = Vec::new();
    for (name, _) in names {
        let file = format!("{name}.json");
        match json.get(&file) {
            None => {
                out.insert(name.clone(), (Arc::new(bundled_report()?), false));
            }
            Some(src) => match build(&file, src, None)? {
                (_, Some(s)) => {
                    out.insert(name.clone(), (Arc::new(s), true));
                }
                (like, None) => {
                    later.push((name.clone(), file, src.clone(), like.unwrap_or_default()))
                }
            },
        }
    }
    for (name, file, src, like) in later {
        let base = out.get(&like).map(|(s, _)| s.clone()).with_context(|| {
            format!(
                "{file} line {}: `like` names {like:?}, which is not a template of this set \
                 declared without `like`",
                schema::line_of(&src, "like")
            )
        })?;
        let (_, s) = build(&file, &src, Some(&base))?;
        out.insert(name, (Arc::new(s.expect("built with a base")), true));
    }
    Ok(out)
}

/// The declaration's first sample, as the card that fills backgrounds
/// and reads a template's metadata.
fn first_sample(name: &str, schema: &Arc<Schema>) -> anyhow::Result<Card> {
    let sample = schema.samples.first().context("no sample card")?;
    let params = sample_params(schema, sample, "")
        .map_err(|m| anyhow::anyhow!("{name}.json: sample {}: {m}", sample.slug))?;
    Card::from_params(schema, &params, &LevelBands::default())
        .map_err(|e| anyhow::anyhow!("{name}.json: sample {}: {e}", sample.slug))
}

/// `sample`'s parameters, texts cut to their limits, with the raw query
/// text `extra` after them (`theme=light`), parsed as a URL's are.
fn sample_params(
    schema: &Schema,
    sample: &schema::SampleCard,
    extra: &str,
) -> Result<Params, String> {
    let pairs = schema.params_from_json(&sample.value, true, &[])?;
    let mut q: Vec<String> = pairs
        .iter()
        .map(|(k, v)| crate::card::query::encode_pair(k, v))
        .collect();
    q.extend(
        extra
            .split('&')
            .filter(|p| !p.is_empty())
            .map(str::to_owned),
    );
    Params::parse(Some(&q.join("&"))).map_err(|e| e.message().to_owned())
}

/// The template must use every declared field, and only those: a field
/// the SVG uses but the declaration lacks would fail on every card, and
/// a declared field the SVG ignores is a parameter that changes nothing.
fn check_uses(
    name: &str,
    used: &std::collections::HashSet<String>,
    schema: &Schema,
    own: bool,
) -> anyhow::Result<()> {
    let used: std::collections::BTreeSet<&str> = used
        .iter()
        .filter_map(|v| v.strip_prefix("card."))
        .map(|v| v.split('.').next().unwrap_or(v))
        .collect();
    let declared: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
    if let Some(u) = used.iter().find(|u| !declared.contains(u)) {
        bail!(
            "{name}.svg uses `card.{u}`, which {} does not declare (it declares {})",
            if own {
                format!("{name}.json")
            } else {
                format!("the report card ({name}.json is missing)")
            },
            declared.join(", ")
        );
    }
    // A set from before declarations draws report cards with whichever
    // of their fields it likes.
    if let Some(d) = declared.iter().find(|d| own && !used.contains(*d)) {
        bail!("{name}.json declares `{d}`, which {name}.svg never uses");
    }
    Ok(())
}

/// Every `href` of a filled template must be a fragment (`#id`), an
/// inline `data:` image, or `asset:NAME` of an asset the set holds: a
/// template can never name a file or a URL.
pub fn check_hrefs(svg: &str, assets: &crate::assets::Assets) -> anyhow::Result<()> {
    let mut rest = svg;
    while let Some(i) = rest.find("href=") {
        rest = &rest[i + 5..];
        let Some(q) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            continue;
        };
        let body = &rest[1..];
        let end = body.find(q).unwrap_or(body.len());
        let href = &body[..end];
        let ok = href.starts_with('#')
            || href.starts_with("data:")
            || href
                .strip_prefix("asset:")
                .is_some_and(|n| assets.get(n).is_some());
        if !ok {
            bail!(
                "an href to {href:?}: templates reference images only as asset:NAME, \
                 with NAME one of the set's assets ({})",
                assets.names().join(", ")
            );
        }
        rest = &body[end..];
    }
    Ok(())
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
