//! The optimised path must not change the picture: the cached background
//! composited under the card's layer, drawn in bands, matches a one-pass
//! render within the golden tolerance (and does not depend on how many
//! threads drew it), and the first PNG holds exactly the drawn pixels.

use sharecard_render::card::{CardRequest, Scale, TemplateName, Theme};
use sharecard_render::template::Layer;

use crate::golden::{decode_rgba, renderer};
use crate::support::*;

/// Cards larger than a 1× story are drawn and encoded in strips, with no
/// whole pixmap (src/render/strips.rs): at 3×, every template and theme
/// still matches the one-pass render within the golden tolerance, and the
/// PNG holds exactly the strips' pixels, in the same bytes on any number of
/// threads, whether the background's chunks were there before or not.
#[test]
fn large_cards_drawn_in_strips_match_one_pass() {
    let samples = samples();
    // The report card's layouts: their samples are the report card's.
    for info in renderer()
        .templates()
        .infos()
        .filter(|i| i.schema.fields.iter().any(|f| f.name == "threat"))
    {
        for s in samples
            .iter()
            .filter(|s| matches!(s.slug.as_str(), "ml-engineer" | "data-entry-clerk"))
        {
            for theme in Theme::ALL {
                let q = format!("{}&theme={}&scale=3", s.query, theme.as_str());
                let req: CardRequest = crate::golden::request(&info.name, &q);
                // A renderer of its own: its first card draws the chunks.
                let r =
                    sharecard_render::render::Renderer::load(sharecard_render::render::Sources {
                        brand: "willaireplace.me",
                        ..Default::default()
                    })
                    .unwrap();
                let first = r.render_on(&req, 1).unwrap();
                let again = r.render_on(&req, 2).unwrap();
                let label = format!("{} {} {theme:?} @3", info.name, s.slug);
                assert!(first.bytes == again.bytes, "{label}: bytes differ");
                let strips = r.pixmap(&req).unwrap();
                let (w, h, rgba) = decode_rgba(&first.bytes);
                assert_eq!((w, h), (strips.width(), strips.height()));
                assert!(
                    rgba == straight_rgba(&strips),
                    "{label}: not the strips' pixels"
                );
                let one_pass = r.pixmap_one_pass(&req).unwrap();
                let bad = strips
                    .data()
                    .chunks_exact(4)
                    .zip(one_pass.data().chunks_exact(4))
                    .filter(|(a, b)| {
                        a.iter()
                            .zip(*b)
                            .any(|(x, y)| x.abs_diff(*y) > crate::golden::TOLERANCE)
                    })
                    .count();
                let fraction = bad as f64 / f64::from(w * h);
                assert!(
                    fraction <= crate::golden::MAX_BAD_FRACTION,
                    "{label}: {bad} pixels off the one-pass render"
                );
            }
        }
    }
}

#[test]
fn layered_banded_rendering_matches_one_pass() {
    let r = renderer();
    let samples = samples();
    let mut compared = 0;
    for info in r
        .templates()
        .infos()
        .filter(|i| i.schema.fields.iter().any(|f| f.name == "threat"))
    {
        let name = TemplateName::parse(&info.name).unwrap();
        for s in samples.iter().filter(|s| {
            matches!(
                s.slug.as_str(),
                "ml-engineer"
                    | "long-title"
                    | "markup"
                    | "electrician"
                    | "data-entry-clerk"
                    | "accents"
                    | "cyrillic-greek"
                    | "hindi"
                    | "arabic"
            )
        }) {
            for theme in Theme::ALL {
                for scale in [1, 2] {
                    let q = format!("{}&theme={}&scale={scale}", s.query, theme.as_str());
                    let req: CardRequest = crate::golden::request(&info.name, &q);
                    assert_eq!(req.template, name);
                    let one_pass = r.pixmap_one_pass(&req).unwrap();
                    let layered = r.pixmap(&req).unwrap();
                    // Every <text> of the card's layer is drawn from its
                    // glyphs (src/render/glyphs.rs), not laid out by usvg: the
                    // comparison with the one-pass render below is what
                    // proves that path draws usvg's pixels.
                    let fg = r
                        .templates()
                        .render_layer(&req, r.brand(), Layer::Foreground)
                        .unwrap();
                    let items = sharecard_render::render::glyphs::layer_items(
                        &fg.svg,
                        r.shaper(),
                        r.outlines(),
                        &r.fonts().usvg_options(),
                    )
                    .unwrap()
                    .expect("the card's layer can be drawn element by element");
                    let direct = items
                        .iter()
                        .filter(|i| matches!(i, sharecard_render::render::glyphs::Item::Text(..)))
                        .count();
                    assert_eq!(
                        direct,
                        fg.svg.matches("<text").count(),
                        "{} {}: some text is left to usvg",
                        info.name,
                        s.slug
                    );
                    // And the layer drawn item by item is exactly what usvg
                    // draws of it.
                    let f = scale as f32;
                    let transform = resvg::tiny_skia::Transform::from_scale(f, f);
                    let (w, h) = (one_pass.width(), one_pass.height());
                    let mut by_items = resvg::tiny_skia::Pixmap::new(w, h).unwrap();
                    for item in &items {
                        item.draw(transform, &mut by_items.as_mut());
                    }
                    let mut by_usvg = resvg::tiny_skia::Pixmap::new(w, h).unwrap();
                    resvg::render(&r.tree(&fg.svg).unwrap(), transform, &mut by_usvg.as_mut());
                    assert!(
                        by_items.data() == by_usvg.data(),
                        "{} {} {theme:?} @{scale}: the card's layer is not usvg's pixels",
                        info.name,
                        s.slug
                    );
                    // The same pixels however many threads draw the bands
                    // (and parse the layer).
                    for threads in [2, 3] {
                        assert!(
                            r.pixmap_on(&req, threads).unwrap().data() == layered.data(),
                            "{} {} {theme:?} @{scale}: {threads} threads draw differently",
                            info.name,
                            s.slug
                        );
                    }
                    // The PNG, its bands compressed by the threads that
                    // drew them and joined, holds exactly these pixels, in
                    // the same bytes however many threads there were.
                    let png = r.render_on(&req, 1).unwrap();
                    assert!(
                        r.render_on(&req, 2).unwrap().bytes == png.bytes,
                        "{} {} {theme:?} @{scale}: the PNG depends on threads",
                        info.name,
                        s.slug
                    );
                    let (w, h, rgba) = decode_rgba(&png.bytes);
                    assert_eq!((w, h), (layered.width(), layered.height()));
                    assert!(
                        rgba == straight_rgba(&layered),
                        "{} {} {theme:?} @{scale}: the PNG's pixels are not the drawing's",
                        info.name,
                        s.slug
                    );
                    // Paths crossing the band boundary may move a few
                    // anti-aliased edge pixels by a rounding step: within
                    // the golden tolerance.
                    let (mut bad, mut worst) = (0usize, 0u8);
                    for (a, b) in layered
                        .data()
                        .chunks_exact(4)
                        .zip(one_pass.data().chunks_exact(4))
                    {
                        let d = a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max().unwrap();
                        worst = worst.max(d);
                        bad += usize::from(d > crate::golden::TOLERANCE);
                    }
                    let fraction = bad as f64 / (layered.width() * layered.height()) as f64;
                    assert!(
                        fraction <= crate::golden::MAX_BAD_FRACTION,
                        "{} {} {theme:?} @{scale}: {bad} pixels differ by more than {} \
                         (worst {worst})",
                        info.name,
                        s.slug,
                        crate::golden::TOLERANCE
                    );
                    compared += 1;
                }
            }
        }
    }
    assert!(compared >= 20);
    // And a second render reuses the background yet draws the same.
    let req = crate::golden::request("report", ML_ENGINEER);
    assert_eq!(
        r.pixmap(&req).unwrap().data(),
        r.pixmap(&req).unwrap().data()
    );
    assert_eq!(req.scale, Scale::ONE);
}

/// tiny-skia's premultiplied pixels as the straight RGBA a PNG holds.
fn straight_rgba(pixmap: &resvg::tiny_skia::Pixmap) -> Vec<u8> {
    pixmap
        .pixels()
        .iter()
        .flat_map(|p| {
            let c = p.demultiply();
            [c.red(), c.green(), c.blue(), c.alpha()]
        })
        .collect()
}
