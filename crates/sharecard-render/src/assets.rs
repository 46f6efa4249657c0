//! A template set's images: the files of its `assets/` folder (PNG, JPEG,
//! WebP, SVG), read and checked once, at load. Templates reference them as
//! `href="asset:NAME"`, an `image` field chooses one by name, and nothing
//! else resolves: no request and no template can name a file or a URL.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use resvg::{tiny_skia, usvg};

/// Most assets a set may hold.
pub const MAX_ASSETS: usize = 32;
/// Largest asset file.
pub const MAX_ASSET_BYTES: usize = 1024 * 1024;
/// Most bytes all of a set's assets may hold together.
pub const MAX_TOTAL_BYTES: usize = 8 * 1024 * 1024;
/// Largest side of a raster asset, in pixels (a 2048² RGBA image is 16 MiB
/// while it is drawn).
pub const MAX_SIDE: u32 = 2048;

/// One asset, ready for usvg.
#[derive(Clone)]
pub struct Asset {
    pub media_type: &'static str,
    pub width: u32,
    pub height: u32,
    pub(crate) kind: usvg::ImageKind,
}

impl std::fmt::Debug for Asset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Asset")
            .field("media_type", &self.media_type)
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

/// The set's assets by name (the file name without its extension).
#[derive(Debug, Default)]
pub struct Assets {
    items: BTreeMap<String, Asset>,
    fingerprint: [u8; 32],
}

impl Assets {
    /// Checks and decodes `files` (`(file name, bytes)`).
    pub fn load(files: Vec<(String, Vec<u8>)>) -> anyhow::Result<Assets> {
        use sha2::Digest;
        if files.len() > MAX_ASSETS {
            bail!(
                "assets/ holds {} files; a set may have at most {MAX_ASSETS}",
                files.len()
            );
        }
        let total: usize = files.iter().map(|(_, b)| b.len()).sum();
        if total > MAX_TOTAL_BYTES {
            bail!("assets/ holds {total} bytes; a set may have at most {MAX_TOTAL_BYTES}");
        }
        let mut h = sha2::Sha256::new();
        let mut items = BTreeMap::new();
        for (file, bytes) in files {
            let asset = decode(&file, bytes.clone()).with_context(|| format!("asset {file}"))?;
            let name = file
                .rsplit_once('.')
                .map_or(file.as_str(), |(n, _)| n)
                .to_owned();
            let ok = !name.is_empty()
                && name.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                });
            if !ok {
                bail!("asset {file}: names are lowercase letters, digits, `-` and `_`");
            }
            h.update(file.as_bytes());
            h.update([0]);
            h.update(&bytes);
            if items.insert(name.clone(), asset).is_some() {
                bail!("two assets are named {name:?}");
            }
        }
        Ok(Assets {
            items,
            fingerprint: h.finalize().into(),
        })
    }

    pub fn get(&self, name: &str) -> Option<&Asset> {
        self.items.get(name)
    }

    pub fn names(&self) -> Vec<String> {
        self.items.keys().cloned().collect()
    }

    /// Changes with any asset: part of every template's version.
    pub fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }

    /// What usvg draws for `href`, which must be `asset:NAME`.
    pub(crate) fn resolve(&self, href: &str) -> Option<usvg::ImageKind> {
        Some(self.get(href.strip_prefix("asset:")?)?.kind.clone())
    }
}

fn decode(file: &str, bytes: Vec<u8>) -> anyhow::Result<Asset> {
    if bytes.len() > MAX_ASSET_BYTES {
        bail!(
            "is {} bytes; an asset may have at most {MAX_ASSET_BYTES}",
            bytes.len()
        );
    }
    let ext = file.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    let bytes = Arc::new(bytes);
    let (media_type, kind) = match ext.as_deref() {
        Some("png") => ("image/png", usvg::ImageKind::PNG(bytes.clone())),
        Some("jpg" | "jpeg") => ("image/jpeg", usvg::ImageKind::JPEG(bytes.clone())),
        Some("webp") => ("image/webp", usvg::ImageKind::WEBP(bytes.clone())),
        Some("svg") => {
            // An asset's own images resolve to nothing: an SVG asset cannot
            // reach a file either.
            let mut opt = usvg::Options::default();
            opt.image_href_resolver.resolve_string = Box::new(|_, _| None);
            let tree = usvg::Tree::from_data(&bytes, &opt)
                .map_err(|e| anyhow::anyhow!("is not an SVG usvg reads: {e}"))?;
            let size = tree.size();
            let (w, h) = (size.width().ceil() as u32, size.height().ceil() as u32);
            return Ok(Asset {
                media_type: "image/svg+xml",
                width: w,
                height: h,
                kind: usvg::ImageKind::SVG(tree),
            });
        }
        _ => bail!("is not .png, .jpg, .webp or .svg"),
    };
    let size =
        imagesize::blob_size(&bytes).map_err(|e| anyhow::anyhow!("has no image size: {e}"))?;
    let (w, h) = (size.width as u32, size.height as u32);
    if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE {
        bail!("is {w}×{h} px; an asset may have at most {MAX_SIDE} px a side");
    }
    let asset = Asset {
        media_type,
        width: w,
        height: h,
        kind,
    };
    // Drawn once here, through the path cards take, so a file that does
    // not decode fails the load rather than a card.
    let svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}"><image href="asset:x" width="{w}" height="{h}"/></svg>"#
    );
    let mut opt = usvg::Options::default();
    let kind = asset.kind.clone();
    opt.image_href_resolver.resolve_string = Box::new(move |_, _| Some(kind.clone()));
    let tree =
        usvg::Tree::from_str(&svg, &opt).map_err(|e| anyhow::anyhow!("does not decode: {e}"))?;
    if !tree.root().has_children() {
        bail!("does not decode as {media_type}");
    }
    let mut pixmap = tiny_skia::Pixmap::new(w, h).context("pixmap")?;
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    Ok(asset)
}

/// The files of `dir/assets/`, read as templates are: only regular files
/// inside the folder, each within [`MAX_ASSET_BYTES`].
pub(crate) fn read_dir(dir: &Path) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let root = dir
        .canonicalize()
        .map_err(|e| anyhow::anyhow!("the templates directory cannot be read: {e}"))?;
    let folder = root.join("assets");
    let Ok(entries) = std::fs::read_dir(&folder) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| anyhow::anyhow!("listing assets/: {e}"))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if name.starts_with('.') || name.ends_with(".md") || name.ends_with(".txt") {
            continue;
        }
        let bytes = crate::files::read_set_file(&root, &entry.path(), MAX_ASSET_BYTES as u64)
            .map_err(|why| anyhow::anyhow!("asset {name}: {why}"))?;
        out.push((name, bytes));
    }
    out.sort();
    Ok(out)
}
