//! The subcommands other than `serve`: `sign`, `render`, `check`, `warm`.
//!
//! Each returns the process exit code; messages go to stderr, results
//! (URLs, file names) to stdout so they can be piped.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::Context;

use crate::config::{CheckArgs, RenderArgs, SignArgs, WarmArgs};
use sharecard_render::card::batch::{self, BadLine, BatchCard};
use sharecard_render::card::query::{Params, encode_component};
use sharecard_render::card::{CardRequest, Scale, TemplateName, Theme};
use sharecard_render::render::{Renderer, text_violations};

use crate::signing::{Signer, unix_now};

/// `sharecard sign '/cards/report.png?role=…'`
pub fn sign(args: SignArgs) -> anyhow::Result<i32> {
    let signer = Signer::new(&args.signing.signing_keys).map_err(anyhow::Error::msg)?;
    if !signer.enabled() {
        anyhow::bail!("no signing key: pass --signing-key or set SHARECARD_SIGNING_KEYS");
    }
    let url = args.url.trim();
    // Accept a full URL too: sign its path and query.
    let path_and_query = match url.find("://") {
        Some(i) => url[i + 3..].find('/').map_or("/", |j| &url[i + 3 + j..]),
        None => url,
    };
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    if !path.starts_with('/') {
        anyhow::bail!("expected a path starting with / (and a query), got {url:?}");
    }
    let mut query = query.to_owned();
    if let Some(ttl) = args.expires_in {
        let exp = unix_now() + ttl.as_secs();
        query = query
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with("exp="))
            .chain(std::iter::once(format!("exp={exp}").as_str()))
            .collect::<Vec<_>>()
            .join("&");
    }
    let signed = signer
        .sign_url(path, &query)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    match args.public_url {
        Some(base) => println!("{}{signed}", base.trim_end_matches('/')),
        None => println!("{signed}"),
    }
    Ok(0)
}

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
    let query: Vec<String> = fields
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode_component(v))))
        .collect();
    let params = Params::parse(Some(&query.join("&"))).map_err(|e| anyhow::anyhow!("{e}"))?;
    let template = TemplateName::parse(&args.template)
        .filter(|t| renderer.templates().info(t.as_str()).is_some())
        .with_context(|| format!("no template named {:?}", args.template))?;
    let req = CardRequest::from_params(template, &params, &args.card.level_bands)
        .map_err(|e| anyhow::anyhow!("{}", flag_message(e.message())))?;
    renderer
        .check_coverage(&req.card)
        .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| req.file_name().ascii.into());
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
    let (cards, mut bad) = batch::parse(&text, &args.template, &args.card.level_bands);
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

/// `sharecard warm FILE`: GETs every card in FILE from a running service.
pub fn warm(args: WarmArgs) -> anyhow::Result<i32> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let signer = Signer::new(&args.signing.signing_keys).map_err(anyhow::Error::msg)?;
    let mut paths = Vec::new();
    let mut bad = Vec::new();
    let mut json_lines = String::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('/') {
            paths.push((i + 1, t.to_owned()));
            json_lines.push('\n');
        } else {
            json_lines.push_str(line);
            json_lines.push('\n');
        }
    }
    let (cards, bad_json) = batch::parse(&json_lines, "report", &Default::default());
    bad.extend(bad_json);
    for c in cards {
        let path = format!("/cards/{}.png", c.request.template);
        let query = c.request.canonical_query();
        let url = if signer.enabled() {
            signer
                .sign_url(&path, &query)
                .map_err(|e| anyhow::anyhow!("{e}"))?
        } else {
            format!("{path}?{query}")
        };
        paths.push((c.line, url));
    }
    paths.sort();
    let base = args.target.trim_end_matches('/').to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let results = runtime.block_on(async {
        use futures_util::StreamExt;
        use http_body_util::BodyExt;
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<http_body_util::Empty<bytes::Bytes>>();
        futures_util::stream::iter(paths)
            .map(|(line, path)| {
                let client = client.clone();
                let url = format!("{base}{path}");
                async move {
                    let uri: hyper::Uri = match url.parse() {
                        Ok(u) => u,
                        Err(e) => return (line, Err(format!("bad URL {url}: {e}"))),
                    };
                    match client.get(uri).await {
                        Ok(resp) => {
                            let status = resp.status();
                            let _ = resp.into_body().collect().await;
                            if status.is_success() {
                                (line, Ok(()))
                            } else {
                                (line, Err(format!("HTTP {status} for {path}")))
                            }
                        }
                        Err(e) => (line, Err(format!("{e} for {path}"))),
                    }
                }
            })
            .buffer_unordered(args.concurrency.max(1))
            .collect::<Vec<_>>()
            .await
    });
    let ok = results.iter().filter(|r| r.1.is_ok()).count();
    for (line, r) in &results {
        if let Err(message) = r {
            bad.push(BadLine {
                line: *line,
                message: message.clone(),
            });
        }
    }
    bad.sort_by_key(|b| b.line);
    for b in &bad {
        eprintln!("{}: {b}", args.file.display());
    }
    eprintln!(
        "{ok} cards warmed, {} failed, in {:.1?}",
        bad.len(),
        started.elapsed()
    );
    Ok(if bad.is_empty() { 0 } else { 1 })
}
