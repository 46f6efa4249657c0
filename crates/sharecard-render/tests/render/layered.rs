//! The optimised path must not change the picture: the cached background
//! composited under the card's layer, drawn in bands, matches a one-pass
//! render within the golden tolerance (and does not depend on how many
//! threads drew it), and the first PNG holds exactly the drawn pixels.

use sharecard_render::card::{CardRequest, Scale, TemplateName, Theme};
use sharecard_render::template::Layer;

use crate::golden::{decode_rgba, renderer};
use crate::support::*;

/// `(slug, query)` of the cards compared for `info`: the report card's
/// layouts take the report card's samples named in `report`; a declared
/// card, each of its own samples but those with emoji (whose pieces usvg
/// lays out, as for the report card's emoji samples, left out of `report`).
fn cases(
    info: &sharecard_render::template::TemplateInfo,
    report: &[&str],
) -> Vec<(String, String)> {
    if info.schema.fields.iter().any(|f| f.name == "threat") {
        return samples()
            .into_iter()
            .filter(|s| report.contains(&s.slug.as_str()))
            .map(|s| (s.slug, s.query))
            .collect();
    }
    let r = renderer();
    info.schema
        .samples
        .iter()
        .filter(|s| !s.slug.contains("emoji"))
        .map(|s| {
            let req = r
                .templates()
                .sample_request(
                    &info.name,
                    s,
                    "",
                    &sharecard_render::card::LevelBands::default(),
                )
                .unwrap();
            (s.slug.clone(), req.canonical_query())
        })
        .collect()
}

/// Cards larger than a 1× story are drawn and encoded in strips, with no
/// whole pixmap (src/render/strips.rs): at 3×, every template and theme
/// still matches the one-pass render within the golden tolerance, and the
/// PNG holds exactly the strips' pixels, in the same bytes on any number of
/// threads, whether the background's chunks were there before or not.
#[test]
fn large_cards_drawn_in_strips_match_one_pass() {
    for info in renderer().templates().infos() {
        for (slug, query) in cases(info, &["ml-engineer", "data-entry-clerk"])
            .into_iter()
            .take(2)
        {
            for theme in Theme::ALL {
                let q = format!("{query}&theme={}&scale=3", theme.as_str());
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
                let label = format!("{} {slug} {theme:?} @3", info.name);
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
    let mut compared = 0;
    for info in r.templates().infos() {
        let name = TemplateName::parse(&info.name).unwrap();
        let report = [
            "ml-engineer",
            "long-title",
            "markup",
            "electrician",
            "data-entry-clerk",
            "accents",
            "cyrillic-greek",
            "hindi",
            "arabic",
        ];
        // A declared card's first two samples: the shapes its layer takes
        // (the goldens draw every sample).
        for (slug, query) in cases(info, &report).into_iter().take(report.len().min(
            if info.schema.fields.iter().any(|f| f.name == "threat") {
                usize::MAX
            } else {
                2
            },
        )) {
            for theme in Theme::ALL {
                for scale in [1, 2] {
                    let q = format!("{query}&theme={}&scale={scale}", theme.as_str());
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
                        r.usvg_options(),
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
                        slug
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
                    // Exactly, but where an asset image is drawn by itself
                    // (`draw_svg_image`): moved by whole pixels, a gradient in
                    // it may round a channel by one level.
                    let worst = by_items
                        .data()
                        .iter()
                        .zip(by_usvg.data())
                        .map(|(a, b)| a.abs_diff(*b))
                        .max()
                        .unwrap_or(0);
                    let images = fg.svg.contains("<image");
                    assert!(
                        worst == 0 || images && worst <= 1,
                        "{} {slug} {theme:?} @{scale}: the card's layer is off usvg's pixels by {worst}",
                        info.name
                    );
                    // The same pixels however many threads draw the bands
                    // (and parse the layer).
                    for threads in [2, 3] {
                        assert!(
                            r.pixmap_on(&req, threads).unwrap().data() == layered.data(),
                            "{} {} {theme:?} @{scale}: {threads} threads draw differently",
                            info.name,
                            slug
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
                        slug
                    );
                    let (w, h, rgba) = decode_rgba(&png.bytes);
                    assert_eq!((w, h), (layered.width(), layered.height()));
                    assert!(
                        rgba == straight_rgba(&layered),
                        "{} {} {theme:?} @{scale}: the PNG's pixels are not the drawing's",
                        info.name,
                        slug
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
                        slug,
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
