//! Reads the bundled fonts' metrics with fontdue once, at build time, and
//! embeds them (see `src/fonts/metrics.rs` for why): every `.otf` and
//! `.ttf` in the workspace's `fonts/`, keyed by file name.

use std::path::Path;

#[allow(dead_code)]
#[path = "src/fonts/metrics.rs"]
mod metrics;

fn main() {
    // Read at run time, not with `env!`: a build script compiled in one
    // checkout and reused by another (a shared target directory) must read
    // the fonts of the checkout it is building.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&manifest).join("../../fonts");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("the bundled fonts directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "otf" || e == "ttf"))
        .collect();
    files.sort();
    // Records: name length (u16), name, metrics length (u32), metrics.
    let mut out = Vec::new();
    for path in files {
        println!("cargo:rerun-if-changed={}", path.display());
        let bytes = std::fs::read(&path).expect("a bundled font");
        let font = fontdue::Font::from_bytes(bytes, fontdue::FontSettings::default())
            .unwrap_or_else(|e| panic!("fontdue cannot read {}: {e}", path.display()));
        let mut encoded = Vec::new();
        metrics::FaceMetrics::from_fontdue(&font).encode(&mut encoded);
        let name = path.file_name().expect("a file").to_string_lossy();
        out.extend((name.len() as u16).to_le_bytes());
        out.extend(name.as_bytes());
        out.extend((encoded.len() as u32).to_le_bytes());
        out.extend(encoded);
    }
    let dest =
        Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("face_metrics.bin");
    std::fs::write(dest, out).expect("writing the metrics");
}
