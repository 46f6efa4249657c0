//! Rendering: card → SVG (template) → usvg tree → tiny-skia pixmap → PNG.
//!
//! [`Renderer::render`] is a pure, synchronous function of the template,
//! the card and the fonts. It reads no files and no URLs (the image href
//! resolver is replaced), and its work is bounded by the card's validated
//! sizes and the template's fixed canvas. Callers on the async side run it
//! on a blocking thread.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use resvg::tiny_skia;
use resvg::usvg;

use crate::card::{Card, CardRequest, Theme};
use crate::encode::fast::{Kept, Segment};
use crate::encode::is_opaque;
pub use crate::encode::{Encoding, Png, Timings};
use crate::error::CardError;
use crate::fonts::Fonts;
use draw::{Canvas, draw};
use glyphs::{Item, Outlines};

pub use crate::encode::webp::{recompress_webp, recompresses as webp_recompresses};
pub use crate::encode::{encode_png, recompress, recompress_pausing};
pub use check::text_violations;
pub use draw::rasterize;

mod check;
mod draw;
pub mod glyphs;
mod strips;
use crate::template::{Layer, SvgDoc, Templates};

/// Bytes of drawn backgrounds kept at once, least recently used dropped
/// first: room for four the size of a 1× report card's (both themes of
/// the bundled one take 6 MB), within the memory bound `bench/soak.sh`
/// checks.
const BACKGROUNDS_BUDGET: usize = 16 * 1024 * 1024;

/// The largest background kept drawn: cards larger than this are drawn in
/// strips ([`strips`]) and keep theirs compressed only.
const MAX_CACHED_BACKGROUND: usize = strips::FULL_PIXMAP_MAX;

type BackgroundKey = (String, Theme, u8);
/// A rasterised background layer, cached per template, theme and scale.
struct Background {
    pixmap: tiny_skia::Pixmap,
    /// Every pixel is opaque.
    opaque: bool,
    /// Its rows compressed once, for the cards that leave them untouched.
    kept: Kept,
}

pub struct Renderer {
    templates: Templates,
    options: usvg::Options<'static>,
    brand: String,
    /// Rasterised background layers of layered templates.
    /// With when each was last used, within [`BACKGROUNDS_BUDGET`].
    backgrounds: Mutex<HashMap<BackgroundKey, (Arc<Background>, u64)>>,
    /// Background layers parsed, for large cards (any scale).
    large_trees: Mutex<HashMap<(String, Theme), Arc<usvg::Tree>>>,
    /// Large cards' backgrounds, compressed: all they keep of them.
    large_kept: Mutex<HashMap<BackgroundKey, Arc<Kept>>>,
    /// A clock for `backgrounds`' last uses.
    uses: std::sync::atomic::AtomicU64,
    /// Pixel buffers of finished renders, for the next render to copy its
    /// background into: a fresh allocation of a few MiB is fresh pages,
    /// which the kernel zeroes and faults in one by one.
    spare: Mutex<Vec<Vec<u8>>>,
    /// Compression buffers, kept for the same reason.
    scratch: crate::encode::fast::Scratch,
    /// The same for large cards, drawn in strips, at a higher level.
    scratch_large: crate::encode::fast::Scratch,
    /// Glyph outlines the card's text is drawn with.
    outlines: Outlines,
}

/// A large card's items, what they are drawn over, its background's chunks
/// and its size ([`Renderer::large_parts`]).
struct LargeParts {
    items: Vec<Item>,
    under: Arc<usvg::Tree>,
    kept: Option<Arc<Kept>>,
    scale: u8,
    width: u32,
    height: u32,
}

impl LargeParts {
    /// The parts as the strips module draws them.
    fn large(&self) -> strips::Large<'_> {
        strips::Large {
            items: &self.items,
            under: &self.under,
            kept: self.kept.as_deref(),
            scale: self.scale,
            width: self.width,
            height: self.height,
        }
    }
}

/// A card drawn by [`Renderer::pixmap_and_opacity`].
struct Drawn {
    pixmap: tiny_skia::Pixmap,
    /// Known to be opaque without looking (drawing over an opaque cached
    /// background keeps every pixel opaque); `None`: not known.
    opaque: Option<bool>,
    /// When compressing was asked for and the layered path drew the card:
    /// the PNG's rows, compressed (see [`draw`]).
    segments: Option<Vec<Segment>>,
    /// The cached background drawn over, which holds the segments'
    /// [`Kept`] chunks.
    background: Option<Arc<Background>>,
}

/// Spare pixel buffers kept, each at most [`MAX_CACHED_BACKGROUND`] bytes.
const SPARE_BUFFERS: usize = 1;

/// Horizontal bands a card's layer is drawn in (see [`draw`]).
const BANDS: u32 = 2;

/// Where a renderer's fonts and templates come from.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sources<'a> {
    /// Fonts loaded after the bundled ones (`--fonts-dir`).
    pub fonts_dir: Option<&'a std::path::Path>,
    /// Templates loaded instead of the bundled ones (`--templates-dir`).
    pub templates_dir: Option<&'a std::path::Path>,
    /// The site name printed on every card.
    pub brand: &'a str,
}

impl Renderer {
    /// Loads fonts and templates and builds the renderer: the one way to
    /// get one, and the only place that reads files.
    pub fn load(sources: Sources<'_>) -> anyhow::Result<Arc<Renderer>> {
        let fonts = Arc::new(Fonts::load(sources.fonts_dir)?);
        let templates = Templates::load(sources.templates_dir, fonts)?;
        Ok(Arc::new(Renderer::new(templates, sources.brand)?))
    }

    fn new(templates: Templates, brand: &str) -> anyhow::Result<Renderer> {
        let fonts = templates.fonts().clone();
        let missing = fonts.missing_chars(brand);
        if !missing.is_empty() {
            anyhow::bail!("the brand {brand:?} has characters no font covers: {missing:?}");
        }
        let mut options = fonts.usvg_options();
        // No template may read a file or fetch a URL (resvg#762): only
        // inline `data:` images and the set's assets (`asset:NAME`) resolve.
        let assets = templates.assets().clone();
        options.image_href_resolver.resolve_string = Box::new(move |href, _| assets.resolve(href));
        Ok(Renderer {
            templates,
            options,
            brand: brand.to_owned(),
            backgrounds: Mutex::new(HashMap::new()),
            large_trees: Mutex::new(HashMap::new()),
            large_kept: Mutex::new(HashMap::new()),
            uses: std::sync::atomic::AtomicU64::new(0),
            spare: Mutex::new(Vec::new()),
            scratch: crate::encode::fast::Scratch::default(),
            scratch_large: crate::encode::fast::Scratch::with_level(
                crate::encode::fast::LARGE_FRESH_LEVEL,
            ),
            outlines: Outlines::new(&fonts),
        })
    }

    pub fn templates(&self) -> &Templates {
        &self.templates
    }

    pub fn fonts(&self) -> &Arc<Fonts> {
        self.templates.fonts()
    }

    /// The fonts with the lines already shaped with them, for measuring.
    pub fn shaper(&self) -> &crate::text::Shaper {
        self.templates.shaper()
    }

    /// The glyph outlines the card's text is drawn with.
    pub fn outlines(&self) -> &Outlines {
        &self.outlines
    }

    /// usvg's options as cards are drawn with them: the fonts, and the
    /// set's assets as the only images besides inline ones.
    pub fn usvg_options(&self) -> &usvg::Options<'static> {
        &self.options
    }

    pub fn brand(&self) -> &str {
        &self.brand
    }

    /// Output size of `req` in pixels, known without rendering.
    pub fn dimensions(&self, req: &CardRequest) -> Option<(u32, u32)> {
        let info = self.templates.info(req.template.as_str())?;
        let s = u32::from(req.scale.get());
        Some((info.width * s, info.height * s))
    }

    /// [`CardError::Unsupported`] if a field has characters no loaded font can draw, or that
    /// the fonts cannot draw together: a card never shows tofu boxes.
    pub fn check_coverage(&self, card: &Card) -> Result<(), CardError> {
        let fonts = self.fonts();
        let fields = card.texts();
        let unsupported = CardError::unsupported;
        for (field, text) in fields {
            let field = field.as_str();
            let missing = fonts.missing_chars(text);
            if !missing.is_empty() {
                let list: Vec<String> = missing
                    .iter()
                    .map(|c| format!("{c:?} (U+{:04X})", *c as u32))
                    .collect();
                return Err(unsupported(
                    field,
                    format!(
                        "`{field}` has characters no installed font can draw: {}",
                        list.join(", ")
                    ),
                ));
            }
            if text.is_ascii() {
                continue;
            }
            // Templates draw fields as displayed, at regular or bold weight.
            let drawn = fonts.displayable(text);
            let measurer = crate::text::Measurer::new(self.templates.shaper());
            let mut split = fonts.split_clusters(&drawn);
            for weight in [400, 700] {
                for word in measurer.undrawable_words(&drawn, weight) {
                    if !split.contains(&word) {
                        split.push(word);
                    }
                }
            }
            if !split.is_empty() {
                let list: Vec<String> = split
                    .iter()
                    .map(|s| {
                        let codes: Vec<String> =
                            s.chars().map(|c| format!("U+{:04X}", c as u32)).collect();
                        format!("{s:?} ({})", codes.join(" "))
                    })
                    .collect();
                return Err(unsupported(
                    field,
                    format!(
                        "`{field}` combines characters that the installed fonts cannot draw \
                         together: {}",
                        list.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The strong validator of `req`'s card in `encoding`: template version
    /// (template source, fonts, renderer epoch), brand and the canonical
    /// card, and the encoding (see [`Encoding`]). Known without rendering.
    pub fn etag(&self, req: &CardRequest, encoding: Encoding) -> String {
        use sha2::Digest;
        let version = self
            .templates
            .info(req.template.as_str())
            .map_or("", |i| i.version.as_str());
        let mut h = sha2::Sha256::new();
        for part in [
            version,
            &self.brand,
            req.template.as_str(),
            &req.canonical_query(),
        ] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        crate::encode::etag(&hex::encode(&h.finalize()[..12]), encoding)
    }

    /// The filled SVG for `req`, before rasterising.
    pub fn svg(&self, req: &CardRequest) -> anyhow::Result<SvgDoc> {
        self.templates.render_svg(req, &self.brand)
    }

    /// Parses a filled SVG with the service's fonts and restrictions.
    pub fn tree(&self, svg: &str) -> anyhow::Result<usvg::Tree> {
        Ok(usvg::Tree::from_str(svg, &self.options)?)
    }

    /// Renders one card to PNG: for a layered template, the card's own
    /// layer over the cached background; otherwise in one pass.
    pub fn render(&self, req: &CardRequest) -> anyhow::Result<Png> {
        self.render_on(req, 1)
    }

    /// [`render`](Self::render), drawing the card's layer on up to
    /// `threads` threads: the caller offers idle cores when it has them, to
    /// cut one card's latency. The pixels do not depend on `threads`.
    pub fn render_on(&self, req: &CardRequest, threads: usize) -> anyhow::Result<Png> {
        let mut timings = Timings::default();
        if self.is_large(req) {
            return self.render_large(req, threads, timings);
        }
        let Drawn {
            pixmap,
            opaque,
            segments,
            background,
        } = self.pixmap_and_opacity(req, threads, true, &mut timings)?;
        let encoding = std::time::Instant::now();
        let opaque = opaque.unwrap_or_else(|| is_opaque(&pixmap));
        let (width, height) = (pixmap.width(), pixmap.height());
        let kept = background.as_ref().map(|bg| &bg.kept);
        let bytes = match segments {
            Some(segments) => {
                crate::encode::fast::to_png(segments, kept, width, height, &self.scratch)?
            }
            None => {
                crate::encode::fast::encode(pixmap.data(), width, height, threads, &self.scratch)?
            }
        };
        self.recycle(pixmap);
        timings.encode = encoding.elapsed();
        Ok(self.draft(req, bytes, (width, height), opaque, timings))
    }

    /// `req`'s card as WebP, by the first (fast) encoder, drawing on up to
    /// `threads` threads: the same pixels as [`render_on`](Self::render_on)'s
    /// PNG. A large card's whole frame exists here, one at a time
    /// (`encode/webp.rs` says why).
    pub fn render_webp_on(&self, req: &CardRequest, threads: usize) -> anyhow::Result<Png> {
        let mut timings = Timings::default();
        let _frame = self.is_large(req).then(crate::encode::webp::whole_frame);
        let started = std::time::Instant::now();
        let Drawn { pixmap, opaque, .. } =
            self.pixmap_and_opacity(req, threads, false, &mut timings)?;
        timings.render = started.elapsed() - timings.fit;
        let encoding = std::time::Instant::now();
        let opaque = opaque.unwrap_or_else(|| is_opaque(&pixmap));
        let (width, height) = (pixmap.width(), pixmap.height());
        let bytes = crate::encode::webp::encode_fast(&pixmap, opaque)?;
        self.recycle(pixmap);
        timings.encode = encoding.elapsed();
        Ok(Png {
            bytes: Bytes::from(bytes),
            width,
            height,
            is_final: false,
            opaque,
            encoding: Encoding::WebpFast,
            etag: self.etag(req, Encoding::WebpFast).into(),
            timings,
        })
    }

    /// The encoding `req`'s card settles in, as PNG or (`webp`) WebP,
    /// with recompression on or off: the ETag a client holding the bytes
    /// caches keep sends, known before rendering.
    pub fn settled_encoding(&self, req: &CardRequest, webp: bool, recompress: bool) -> Encoding {
        match (webp, recompress) {
            (false, true) => Encoding::Small,
            (false, false) => Encoding::Fast,
            (true, true)
                if self
                    .dimensions(req)
                    .is_some_and(|(w, h)| crate::encode::webp::recompresses(w, h)) =>
            {
                Encoding::Webp
            }
            (true, _) => Encoding::WebpFast,
        }
    }

    /// The first response's [`Png`] of `req` from its fast-encoded bytes.
    fn draft(
        &self,
        req: &CardRequest,
        mut bytes: Vec<u8>,
        (width, height): (u32, u32),
        opaque: bool,
        timings: Timings,
    ) -> Png {
        // The cache weighs PNGs by length; a spare capacity that `Bytes`
        // would keep alive is memory the budget does not see.
        bytes.shrink_to_fit();
        Png {
            bytes: Bytes::from(bytes),
            width,
            height,
            is_final: false,
            opaque,
            encoding: Encoding::Fast,
            etag: self.etag(req, Encoding::Fast).into(),
            timings,
        }
    }

    /// Every stage of rendering `req`, at an eighth of its size: the
    /// template filled, the card's layer made ready to draw from its
    /// glyphs, the whole SVG parsed by usvg, drawn by resvg and encoded.
    /// What a server checks before it says it is ready: a full-size render
    /// would draw each template's background (tens of ms a template), which
    /// the first card of its kind does anyway.
    pub fn self_test(&self, req: &CardRequest) -> anyhow::Result<()> {
        const SHRINK: f32 = 8.0;
        if self.layered(req) {
            self.layer_items(req)?;
        }
        let tree = self.tree(&self.svg(req)?.svg)?;
        let size = tree.size().to_int_size();
        let (w, h) = (
            (size.width() as f32 / SHRINK).ceil() as u32,
            (size.height() as f32 / SHRINK).ceil() as u32,
        );
        let mut pixmap = tiny_skia::Pixmap::new(w, h)
            .ok_or_else(|| anyhow::anyhow!("cannot allocate {w}×{h}"))?;
        resvg::render(
            &tree,
            tiny_skia::Transform::from_scale(1.0 / SHRINK, 1.0 / SHRINK),
            &mut pixmap.as_mut(),
        );
        anyhow::ensure!(
            pixmap.pixels().iter().any(|p| p.alpha() > 0),
            "the card drew nothing"
        );
        encode_png(&pixmap, 1)?;
        Ok(())
    }

    /// The card's pixels, by the fastest path the template allows.
    pub fn pixmap(&self, req: &CardRequest) -> anyhow::Result<tiny_skia::Pixmap> {
        Ok(self
            .pixmap_and_opacity(req, 1, false, &mut Timings::default())?
            .pixmap)
    }

    /// The card's pixels drawn on up to `threads` threads (see
    /// [`render_on`](Self::render_on)).
    pub fn pixmap_on(
        &self,
        req: &CardRequest,
        threads: usize,
    ) -> anyhow::Result<tiny_skia::Pixmap> {
        Ok(self
            .pixmap_and_opacity(req, threads, false, &mut Timings::default())?
            .pixmap)
    }

    /// A pixmap of `bg`'s size, in a spare buffer when there is one. Its
    /// pixels are whatever the buffer last held: `draw` copies the
    /// background over every row before drawing.
    fn buffer_like(&self, bg: &tiny_skia::Pixmap) -> tiny_skia::Pixmap {
        let size = tiny_skia::IntSize::from_wh(bg.width(), bg.height()).expect("a pixmap's size");
        let Some(mut data) = self.spare.lock().expect("not poisoned").pop() else {
            return tiny_skia::Pixmap::new(bg.width(), bg.height()).expect("the background's size");
        };
        data.resize(bg.data().len(), 0);
        tiny_skia::Pixmap::from_vec(data, size).expect("the background's length")
    }

    fn recycle(&self, pixmap: tiny_skia::Pixmap) {
        let data = pixmap.take();
        if data.len() <= MAX_CACHED_BACKGROUND {
            let mut spare = self.spare.lock().expect("not poisoned");
            if spare.len() < SPARE_BUFFERS {
                spare.push(data);
            }
        }
    }

    /// Whether `req`'s template draws the card's layer over a background
    /// drawn once.
    fn layered(&self, req: &CardRequest) -> bool {
        self.templates
            .info(req.template.as_str())
            .is_some_and(|i| i.layered)
    }

    /// Whether `req`'s card is drawn in strips ([`strips`]).
    fn is_large(&self, req: &CardRequest) -> bool {
        self.dimensions(req)
            .is_some_and(|(w, h)| w as usize * h as usize * 4 > strips::FULL_PIXMAP_MAX)
    }

    /// What drawing a large card in strips needs: the card's items over
    /// its background's tree and compressed chunks (one-pass templates:
    /// the whole card's tree, no items).
    fn large_parts(&self, req: &CardRequest) -> anyhow::Result<LargeParts> {
        let (width, height) = self.dimensions(req).expect("template exists");
        let parts = |items, under, kept| LargeParts {
            items,
            under,
            kept,
            scale: req.scale.get(),
            width,
            height,
        };
        if !self.layered(req) {
            let tree = Arc::new(self.tree(&self.svg(req)?.svg)?);
            return Ok(parts(Vec::new(), tree, None));
        }
        let items = self.layer_items(req)?;
        let key = (req.template.as_str().to_owned(), req.theme);
        let found = self
            .large_trees
            .lock()
            .expect("not poisoned")
            .get(&key)
            .cloned();
        let tree = match found {
            Some(tree) => tree,
            None => {
                let doc = self
                    .templates
                    .render_layer(req, &self.brand, Layer::Background)?;
                let tree = Arc::new(self.tree(&doc.svg)?);
                self.large_trees
                    .lock()
                    .expect("not poisoned")
                    .insert(key.clone(), tree.clone());
                tree
            }
        };
        let kept = self
            .large_kept
            .lock()
            .expect("not poisoned")
            .entry((key.0, key.1, req.scale.get()))
            .or_insert_with(|| Arc::new(Kept::new(height)))
            .clone();
        Ok(parts(items, tree, Some(kept)))
    }

    /// [`render_on`](Self::render_on) for a large card: strip by strip,
    /// no whole pixmap.
    fn render_large(
        &self,
        req: &CardRequest,
        threads: usize,
        mut timings: Timings,
    ) -> anyhow::Result<Png> {
        let started = std::time::Instant::now();
        let parts = self.large_parts(req)?;
        timings.fit = started.elapsed();
        let (segments, opaque) = strips::encode(&parts.large(), threads, &self.scratch_large)?;
        timings.render = started.elapsed() - timings.fit;
        let encoding = std::time::Instant::now();
        let (width, height) = (parts.width, parts.height);
        let bytes = crate::encode::fast::to_png(
            segments,
            parts.kept.as_deref(),
            width,
            height,
            &self.scratch,
        )?;
        timings.encode = encoding.elapsed();
        Ok(self.draft(req, bytes, (width, height), opaque, timings))
    }

    /// The card's layer as items to draw: its text from shaped glyphs
    /// (src/render/glyphs.rs), usvg's parse of the rest.
    fn layer_items(&self, req: &CardRequest) -> anyhow::Result<Vec<Item>> {
        let fg = self
            .templates
            .render_layer(req, &self.brand, Layer::Foreground)?;
        Ok(
            match glyphs::layer_items(
                &fg.svg,
                self.templates.shaper(),
                &self.outlines,
                &self.options,
            )? {
                Some(items) => items,
                None => vec![Item::Svg(Box::new(self.tree(&fg.svg)?))],
            },
        )
    }

    /// The card drawn (see [`Drawn`]).
    fn pixmap_and_opacity(
        &self,
        req: &CardRequest,
        threads: usize,
        compress: bool,
        timings: &mut Timings,
    ) -> anyhow::Result<Drawn> {
        let started = std::time::Instant::now();
        if self.is_large(req) {
            let pixmap = strips::pixmap(&self.large_parts(req)?.large())?;
            return Ok(Drawn {
                pixmap,
                opaque: None,
                segments: None,
                background: None,
            });
        }
        if !self.layered(req) {
            let doc = self.svg(req)?;
            timings.fit = started.elapsed();
            let pixmap = rasterize(&self.tree(&doc.svg)?, req.scale.get())?;
            timings.render = started.elapsed() - timings.fit;
            return Ok(Drawn {
                pixmap,
                opaque: None,
                segments: None,
                background: None,
            });
        }
        let scale = req.scale.get();
        let items = self.layer_items(req)?;
        timings.fit = started.elapsed();
        let background = self.background(req)?;
        // Each band copies its rows of the background just before drawing
        // over them (see `draw`).
        let mut pixmap = self.buffer_like(&background.pixmap);
        let opaque = background.opaque.then_some(true);
        let scratch = compress.then_some(&self.scratch);
        let canvas = Canvas {
            pixmap: &mut pixmap,
            under: (&background.pixmap, &background.kept),
            opaque: background.opaque,
        };
        let segments = draw(&items, scale, canvas, threads, scratch)?;
        timings.render = started.elapsed() - timings.fit;
        Ok(Drawn {
            pixmap,
            opaque,
            segments,
            background: Some(background),
        })
    }

    /// The whole template in one pass, no caching: the reference the
    /// layered path must match.
    pub fn pixmap_one_pass(&self, req: &CardRequest) -> anyhow::Result<tiny_skia::Pixmap> {
        let doc = self.svg(req)?;
        rasterize(&self.tree(&doc.svg)?, req.scale.get())
    }

    /// The cached background for `req`'s template, theme and scale, drawn
    /// on first use. Only cards that are not large ([`strips`]) ask, so it
    /// is at most [`MAX_CACHED_BACKGROUND`] bytes.
    fn background(&self, req: &CardRequest) -> anyhow::Result<Arc<Background>> {
        let key = (req.template.as_str().to_owned(), req.theme, req.scale.get());
        let now = self.uses.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some((bg, used)) = self.backgrounds.lock().expect("not poisoned").get_mut(&key) {
            *used = now;
            return Ok(bg.clone());
        }
        // Drawn outside the lock: two threads may both draw the first
        // background of a kind; both results are identical.
        let doc = self
            .templates
            .render_layer(req, &self.brand, Layer::Background)?;
        let pixmap = rasterize(&self.tree(&doc.svg)?, req.scale.get())?;
        let bg = Arc::new(Background {
            opaque: is_opaque(&pixmap),
            kept: Kept::new(pixmap.height()),
            pixmap,
        });
        let mut backgrounds = self.backgrounds.lock().expect("not poisoned");
        backgrounds.insert(key, (bg.clone(), now));
        // Over the budget: the least recently used go (a render still
        // drawing over one holds its own reference).
        let bytes = |m: &HashMap<BackgroundKey, (Arc<Background>, u64)>| -> usize {
            m.values().map(|(b, _)| b.pixmap.data().len()).sum()
        };
        while bytes(&backgrounds) > BACKGROUNDS_BUDGET && backgrounds.len() > 1 {
            let oldest = backgrounds
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())
                .expect("not empty");
            backgrounds.remove(&oldest);
        }
        Ok(bg)
    }
}
