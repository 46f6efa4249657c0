//! `sharecard check`: every template draws every sample card, text inside
//! its boxes.

use sharecard_render::card::{CardRequest, Scale, Theme};
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
        // The declared samples, then the cards the declaration implies
        // (`Schema::check_cases`): optional fields absent and present,
        // shortest and longest values, lists empty and full.
        let cases = info.schema.check_cases();
        let samples = info
            .schema
            .samples
            .iter()
            .map(|s| (s.slug.clone(), s.clone(), true))
            .chain(cases.into_iter().map(|(slug, value)| {
                let s = sharecard_render::card::schema::SampleCard {
                    slug: slug.clone(),
                    value,
                };
                (slug, s, false)
            }));
        for (slug, sample, declared) in samples {
            for theme in Theme::ALL {
                let extra = format!("theme={}", theme.as_str());
                let req = match renderer.templates().sample_request(
                    &info.name,
                    &sample,
                    &extra,
                    &args.card.level_bands,
                ) {
                    Ok(r) => r,
                    Err(e) => {
                        problems.push(format!("{}/{slug}: sample does not parse: {e}", info.name));
                        continue;
                    }
                };
                if renderer.check_coverage(&req.card).is_err() {
                    if theme == Theme::Dark && !skipped.contains(&slug) {
                        skipped.push(slug.clone());
                    }
                    continue;
                }
                let label = format!("{} {} {slug}", info.name, theme.as_str());
                match check_one(&renderer, &req, declared) {
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

fn check_one(
    renderer: &Renderer,
    req: &CardRequest,
    declared: bool,
) -> anyhow::Result<Vec<String>> {
    let doc = renderer.svg(req)?;
    sharecard_render::template::check_hrefs(&doc.svg, renderer.templates().assets())?;
    // What the share page says of it renders too (its `share` wording).
    renderer
        .templates()
        .wording(req)
        .map_err(|e| anyhow::anyhow!("share wording: {e:#}"))?;
    let tree = renderer.tree(&doc.svg)?;
    let problems = text_violations(&doc, &tree);
    if !declared {
        // Generated cases: the card and its layers at 1×; the samples
        // also go through the largest scale below.
        renderer.render(req)?;
        return Ok(problems);
    }
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
