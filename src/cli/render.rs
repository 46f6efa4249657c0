//! `sharecard render`: cards to PNG files, from flags or a JSON-lines batch.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::Context;
use sharecard_render::batch::{self, BadLine, BatchCard};
use sharecard_render::card::CardRequest;
use sharecard_render::card::query::{Params, encode_pair};
use sharecard_render::render::Renderer;

use super::UsageError;
use crate::config::RenderArgs;

/// `sharecard render`: one card from flags, or a JSON-lines batch.
pub fn render(args: RenderArgs) -> anyhow::Result<i32> {
    let renderer = args.card.load_renderer()?;
    match &args.batch {
        Some(file) => render_batch(&args, &renderer, file),
        None => render_one(&args, &renderer),
    }
}

fn render_one(args: &RenderArgs, renderer: &Renderer) -> anyhow::Result<i32> {
    let fields = [
        ("role", &args.role),
        ("tagline", &args.tagline),
        ("risk", &args.risk),
        ("level", &args.level),
        ("threat", &args.threat),
        ("threat_risk", &args.threat_risk),
        ("theme", &args.theme),
        ("scale", &args.scale),
    ];
    let mut query: Vec<String> = fields
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| encode_pair(k, v)))
        .collect();
    for f in &args.fields {
        let (k, v) = f.split_once('=').ok_or_else(|| {
            UsageError(format!(
                "--field {f:?}: give PARAM=VALUE, e.g. --field tasks.0.risk=72"
            ))
        })?;
        query.push(encode_pair(k, v));
    }
    let template = super::template(renderer, &args.template).map_err(UsageError)?;
    let info = renderer
        .templates()
        .info(template.as_str())
        .expect("super::template found it");
    if let Some(json) = &args.card_json {
        let obj: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json)
            .map_err(|e| UsageError(format!("--card is not a JSON object: {e}")))?;
        let pairs = info
            .schema
            .params_from_json(&obj, false, &[])
            .map_err(|m| UsageError(format!("--card: {m}")))?;
        query.extend(pairs.iter().map(|(k, v)| encode_pair(k, v)));
    }
    let params =
        Params::parse(Some(&query.join("&"))).map_err(|e| UsageError(flag_message(e.message())))?;
    // A parameter the template does not have is a typo here, where a URL
    // would ignore it.
    if let Some((k, _)) = params.iter().find(|(k, _)| !info.schema.is_param(k)) {
        return Err(UsageError(format!(
            "the {} template has no field `{k}`; its parameters are {}",
            info.name,
            info.fields.join(", ")
        ))
        .into());
    }
    let req = CardRequest::from_params(template, &info.schema, &params, &args.card.level_bands)
        .map_err(|e| UsageError(flag_message(e.message())))?;
    renderer
        .check_coverage(&req.card)
        .map_err(|e| UsageError(e.message().to_owned()))?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| renderer.templates().file_name(&req).ascii.into());
    let png = renderer.render(&req)?;
    // Files are written once and kept: spend the time to make them small.
    let bytes = sharecard_render::render::recompress(&png)?;
    std::fs::write(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    eprintln!("{}×{}, {} bytes", png.width, png.height, bytes.len());
    println!("{}", out.display());
    Ok(0)
}

/// Error messages name URL parameters (`threat_risk`); on the command line
/// they are flags (`--threat-risk`).
fn flag_message(msg: &str) -> String {
    let mut out = msg.to_owned();
    for f in [
        "threat_risk",
        "tagline",
        "threat",
        "role",
        "risk",
        "level",
        "theme",
        "scale",
    ] {
        out = out.replace(&format!("`{f}`"), &format!("`--{}`", f.replace('_', "-")));
    }
    out
}

fn render_batch(args: &RenderArgs, renderer: &Arc<Renderer>, file: &Path) -> anyhow::Result<i32> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let (cards, mut bad) = batch::parse(
        &text,
        &args.template,
        renderer.templates(),
        &args.card.level_bands,
    );
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("creating {}", args.out_dir.display()))?;
    let todo: Vec<&BatchCard> = cards
        .iter()
        .filter(|c| args.force || !args.out_dir.join(format!("{}.png", c.name)).exists())
        .collect();
    let skipped = cards.len() - todo.len();
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .clamp(1, 64);
    let progress = indicatif::ProgressBar::new(todo.len() as u64);
    progress.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} cards {elapsed} (eta {eta}) {msg}",
        )
        .expect("valid template"),
    );
    let next = AtomicUsize::new(0);
    let failures = std::sync::Mutex::new(Vec::<BadLine>::new());
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(card) = todo.get(i) else { break };
                    let result = renderer
                        .check_coverage(&card.request.card)
                        .map_err(|e| e.message().to_owned())
                        .and_then(|()| {
                            let png = renderer
                                .render(&card.request)
                                .map_err(|e| format!("{e:#}"))?;
                            sharecard_render::render::recompress(&png).map_err(|e| format!("{e:#}"))
                        })
                        .and_then(|bytes| {
                            let path = args.out_dir.join(format!("{}.png", card.name));
                            std::fs::write(&path, &bytes)
                                .map_err(|e| format!("writing {}: {e}", path.display()))
                        });
                    if let Err(message) = result {
                        failures.lock().expect("not poisoned").push(BadLine {
                            line: card.line,
                            message,
                        });
                    }
                    progress.inc(1);
                }
            });
        }
    });
    progress.finish_and_clear();
    bad.extend(failures.into_inner().expect("not poisoned"));
    bad.sort_by_key(|b| b.line);
    for b in &bad {
        eprintln!("{}: {b}", file.display());
    }
    let rendered = todo.len()
        - bad
            .iter()
            .filter(|b| cards.iter().any(|c| c.line == b.line))
            .count();
    eprintln!(
        "{rendered} rendered, {skipped} already there (--force to redo), {} failed, in {:.1?} with {jobs} jobs → {}",
        bad.len(),
        started.elapsed(),
        args.out_dir.display()
    );
    Ok(if bad.is_empty() { 0 } else { 1 })
}
