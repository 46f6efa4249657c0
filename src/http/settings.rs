//! `serve`'s configuration, decided once: the command line and environment
//! (`config::ServeArgs`, what clap parsed) become typed decisions here, in
//! [`Settings::from_args`], before a port is bound. Everything that can be
//! wrong with a setting is found here and said with the flag's name; the
//! rest of the service reads `Settings` and never clap's structs.
//!
//! The same two stages as ripgrep's `LowArgs` and `HiArgs`: the first
//! stage only parses, the second decides.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sharecard_render::card::{CardRequest, LevelBands};
use sharecard_render::render::{Renderer, Sources};
use sharecard_render::template::Templates;

use super::bounds::Bounds;
use super::freshness::Freshness;
use crate::cache::Format;
use crate::config::ServeArgs;
use crate::pool::Limits;
use crate::signing::Signer;

/// What `serve` does, as decided from its arguments.
#[derive(Debug)]
pub(crate) struct Settings {
    /// `--metrics-listen`: metrics only there, not on `listen`.
    pub(crate) ops_listen: Option<SocketAddr>,
    pub(crate) renderer: RendererSource,
    pub(crate) level_bands: LevelBands,
    pub(crate) site: Site,
    pub(crate) signer: Signer,
    /// How many keys the signer holds, for the start-up log.
    pub(crate) keys: usize,
    pub(crate) trusted_proxies: Vec<ipnet::IpNet>,
    pub(crate) limits: Limits,
    pub(crate) render_timeout: Duration,
    pub(crate) freshness: Freshness,
    pub(crate) max_connections: usize,
    pub(crate) bounds: Bounds,
    pub(crate) shutdown_grace: Duration,
    /// `--warm`: read now (start-up is the only time files are read),
    /// parsed once the templates are loaded ([`WarmList::parse`]),
    /// rendered later in the background.
    pub(crate) warm_file: Option<WarmFile>,
    pub(crate) warm: WarmList,
}

/// A `--warm` file, counted as `sharecard warm` counts the same file: a
/// line that is not a card is a failure, a path line (`/readyz`) is one
/// `warm` would fetch and the server has no need to.
/// A `--warm` file as read: its name (for logs) and text.
#[derive(Debug, Clone)]
pub(crate) struct WarmFile {
    pub(crate) name: String,
    pub(crate) text: String,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct WarmList {
    /// Each card with the format its line asks for (JSON lines: PNG).
    pub(crate) cards: Vec<(CardRequest, Format)>,
    /// Lines that are not cards; each was logged with why at start-up.
    pub(crate) bad_lines: usize,
    /// Lines naming a path that is not a card (`/readyz`), skipped.
    pub(crate) paths: usize,
}

/// Where the renderer's fonts and templates come from; loaded at start-up
/// and, with `--templates-dir`, again when the folder changes.
#[derive(Debug, Clone)]
pub(crate) struct RendererSource {
    pub(crate) fonts_dir: Option<PathBuf>,
    /// `--templates-dir`, which also turns on live reload.
    pub(crate) templates_dir: Option<PathBuf>,
    pub(crate) brand: String,
}

impl RendererSource {
    pub(crate) fn load(&self) -> anyhow::Result<Arc<Renderer>> {
        Renderer::load(Sources {
            fonts_dir: self.fonts_dir.as_deref(),
            templates_dir: self.templates_dir.as_deref(),
            brand: &self.brand,
        })
    }
}

/// Where the service and the site live, for share pages' absolute URLs.
#[derive(Debug, Clone)]
pub(crate) struct Site {
    /// `--public-url` without a trailing slash.
    pub(crate) public_url: String,
    pub(crate) site_url: String,
    pub(crate) role_path: String,
}

impl Settings {
    /// The decisions `args` make, or the first setting that is wrong.
    pub(crate) fn from_args(args: ServeArgs) -> anyhow::Result<Settings> {
        let keys = args.signing.keys()?;
        let signer = Signer::new(&keys).map_err(anyhow::Error::msg)?;
        let freshness = Freshness::new(
            &args.cache_control,
            &args.versioned_cache_control,
            args.draft_max_age,
        )?;
        let warm_file = read_warm_file(&args)?;
        let render_threads = args.render_threads();
        Ok(Settings {
            ops_listen: args.metrics_listen,
            renderer: RendererSource {
                fonts_dir: args.card.fonts_dir,
                templates_dir: args.card.templates_dir,
                brand: args.card.brand,
            },
            level_bands: args.card.level_bands,
            site: Site {
                public_url: args.site.public_url,
                site_url: args.site.site_url,
                role_path: args.site.role_path,
            },
            signer,
            keys: keys.len(),
            trusted_proxies: args.trusted_proxies,
            limits: Limits {
                cache_bytes: args.cache_mb.saturating_mul(1024 * 1024),
                ttl: args.cache_ttl,
                render_threads,
                render_queue: args.render_queue.unwrap_or(4 * render_threads),
                recompress: args.recompress,
            },
            render_timeout: args.render_timeout,
            freshness,
            max_connections: args.max_connections.max(1),
            bounds: Bounds {
                send_timeout: args.send_timeout,
                min_send_rate: args.min_send_rate,
                idle_timeout: args.header_timeout,
            },
            shutdown_grace: args.shutdown_grace,
            warm_file,
            warm: WarmList::default(),
        })
    }

    /// Whether `--templates-dir` reloads templates while serving.
    pub(crate) fn reloads_templates(&self) -> bool {
        self.renderer.templates_dir.is_some()
    }
}

fn read_warm_file(args: &ServeArgs) -> anyhow::Result<Option<WarmFile>> {
    let Some(file) = &args.warm else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading --warm file {}", file.display()))?;
    Ok(Some(WarmFile {
        name: file.display().to_string(),
        text,
    }))
}

impl WarmList {
    /// `file`'s cards for `templates`, each bad line logged with why.
    pub(crate) fn parse(file: &WarmFile, templates: &Templates, bands: &LevelBands) -> WarmList {
        use sharecard_render::batch::{self, BadLine};
        let warm = batch::parse_warm(&file.text, "report", templates, bands);
        let mut list = WarmList::default();
        let mut bad = warm.bad;
        for (line, path) in warm.paths {
            match warm_path(&path, templates, bands) {
                Some(Ok(card)) => list.cards.push(card),
                Some(Err(message)) => bad.push(BadLine { line, message }),
                None => list.paths += 1,
            }
        }
        list.cards
            .extend(warm.cards.into_iter().map(|c| (c.request, Format::Png)));
        bad.sort_by_key(|b| b.line);
        for b in &bad {
            tracing::warn!(file = %file.name, "{b}");
        }
        list.bad_lines = bad.len();
        list
    }
}

/// A warm file's path line as a card and its format, when it names one
/// (`/cards/report.png?role=…`, or `.webp`): `sharecard warm` fetches such
/// a line, and `serve --warm` renders the card it names. `None` for other
/// paths.
fn warm_path(
    line: &str,
    templates: &Templates,
    bands: &LevelBands,
) -> Option<Result<(CardRequest, Format), String>> {
    use sharecard_render::card::TemplateName;
    use sharecard_render::card::query::Params;
    let (path, query) = line.split_once('?').unwrap_or((line, ""));
    let file = path.strip_prefix("/cards/")?;
    Some((|| {
        let (name, format) = Format::ALL
            .into_iter()
            .find_map(|f| Some((file.strip_suffix(f.as_str())?.strip_suffix('.')?, f)))
            .ok_or_else(|| format!("{path}: not a card image (.png or .webp)"))?;
        let template =
            TemplateName::parse(name).ok_or_else(|| format!("bad template name {name:?}"))?;
        let params = Params::parse(Some(query)).map_err(|e| e.message().to_owned())?;
        let card = templates
            .card_request(template, &params, bands)
            .ok_or_else(|| format!("no template {name:?}"))?
            .map_err(|e| e.message().to_owned())?;
        Ok((card, format))
    })())
}
