//! `sharecard check`: every template draws every sample card, text inside
//! its boxes.

use sharecard_render::card::{CardRequest, Scale, TemplateName, Theme};
use sharecard_render::render::{Renderer, text_violations};

use crate::config::CheckArgs;

/// `sharecard check`: every template × theme × scale renders every sample
/// card the fonts cover, and every piece of text fits its box.
pub fn check(args: CheckArgs) -> anyhow::Result<i32> {
    let renderer = match args.card.load_renderer() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: templates or fonts do not load: {e:#}");
            return Ok(1);
        }
    };
    let mut problems = Vec::new();
    let mut checked = 0;
    let mut skipped = Vec::new();
    for info in renderer.templates().infos() {
        let name = TemplateName::parse(&info.name).expect("loaded names are valid");
        for sample in sharecard_render::card::samples::all() {
            for theme in Theme::ALL {
                let extra = format!("&theme={}", theme.as_str());
                let req = match sample.request(&name, &extra) {
                    Ok(r) => r,
                    Err(e) => {
                        problems.push(format!(
                            "{}/{}: sample does not parse: {e}",
                            info.name, sample.slug
                        ));
                        continue;
                    }
                };
                if renderer.check_coverage(&req.card).is_err() {
                    if theme == Theme::Dark && !skipped.contains(&sample.slug) {
                        skipped.push(sample.slug.clone());
                    }
                    continue;
                }
                let label = format!("{} {} {}", info.name, theme.as_str(), sample.slug);
                match check_one(&renderer, &req) {
                    Ok(mut p) => problems.extend(p.drain(..).map(|p| format!("{label}: {p}"))),
                    Err(e) => problems.push(format!("{label}: {e:#}")),
                }
                checked += 1;
            }
        }
    }
    if !skipped.is_empty() {
        eprintln!(
            "note: samples with characters no loaded font covers were skipped: {}",
            skipped.join(", ")
        );
    }
    if problems.is_empty() {
        eprintln!(
            "ok: {} templates, {checked} cards rendered, all text inside its boxes",
            renderer.templates().infos().count()
        );
        Ok(0)
    } else {
        for p in &problems {
            eprintln!("error: {p}");
        }
        eprintln!("{} problems in {checked} cards", problems.len());
        Ok(1)
    }
}

fn check_one(renderer: &Renderer, req: &CardRequest) -> anyhow::Result<Vec<String>> {
    let doc = renderer.svg(req)?;
    let tree = renderer.tree(&doc.svg)?;
    let problems = text_violations(&doc, &tree);
    // And the full pipeline, at the largest scale, must produce the
    // declared dimensions.
    let big = CardRequest {
        scale: Scale::new(Scale::MAX).expect("max"),
        ..req.clone()
    };
    let png = renderer.render(&big)?;
    let want = renderer.dimensions(&big).expect("template exists");
    if (png.width, png.height) != want {
        anyhow::bail!(
            "rendered {}×{}, declared {}×{}",
            png.width,
            png.height,
            want.0,
            want.1
        );
    }
    Ok(problems)
}
