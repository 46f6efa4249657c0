//! `sharecard warm`: asks a running service for every card in a file, so
//! they are cached before traffic comes.

use std::time::Instant;

use anyhow::Context;
use sharecard_render::batch::{self, BadLine};

use super::UsageError;
use crate::config::{CardFormat, WarmArgs};
use crate::signing::Signer;

/// `sharecard warm FILE`: GETs every card in FILE from a running service.
pub fn warm(args: WarmArgs) -> anyhow::Result<i32> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let signer = Signer::new(&args.signing.keys()?).map_err(anyhow::Error::msg)?;
    let renderer = args.card.load_renderer()?;
    let Targets { paths, mut bad } = targets(
        &text,
        &signer,
        &args.format,
        renderer.templates(),
        &args.card.level_bands,
    )?;
    let base = base_url(&args.target)?;
    let started = Instant::now();
    let results = fetch_all(&base, paths, args.concurrency)?;
    // Nothing listening is one mistake, said once, not once per line.
    if let Some(e) = results.iter().find_map(|(_, _, r)| r.as_ref().err())
        && e.starts_with(CONNECT)
        && results.iter().all(|(_, _, r)| r.is_err())
    {
        anyhow::bail!(
            "cannot reach the service at {base} ({}); is it running there? Set --target",
            e.trim_start_matches(CONNECT)
        );
    }
    // Only cards count as warmed: a file may also name other paths (the
    // container's health check fetches /readyz this way).
    let (mut cards, mut others) = (0, 0);
    for (line, path, r) in results {
        match r {
            Ok(()) if path.starts_with("/cards/") => cards += 1,
            Ok(()) => others += 1,
            Err(message) => bad.push(BadLine { line, message }),
        }
    }
    bad.sort_by_key(|b| b.line);
    for b in &bad {
        eprintln!("{}: {b}", args.file.display());
    }
    let others = match others {
        0 => String::new(),
        1 => ", 1 other path fetched".to_owned(),
        n => format!(", {n} other paths fetched"),
    };
    eprintln!(
        "{cards} cards warmed{others}, {} failed, in {:.1?}",
        bad.len(),
        started.elapsed()
    );
    Ok(if bad.is_empty() { 0 } else { 1 })
}

/// How a failed connection's message starts (see `fetch_all`).
const CONNECT: &str = "connect: ";

/// `--target` as a base URL: `http://host:port` (a path prefix allowed),
/// or `host:port`, taken as `http://host:port`. Said once when it is
/// neither, rather than once per line.
fn base_url(target: &str) -> anyhow::Result<String> {
    let target = target.trim().trim_end_matches('/');
    let with_scheme = if target.contains("://") {
        target.to_owned()
    } else {
        format!("http://{target}")
    };
    let uri: hyper::Uri = with_scheme.parse().map_err(|e| {
        UsageError(format!(
            "--target {target:?} is not a base URL ({e}); give one such as \
             http://127.0.0.1:8080 or 127.0.0.1:8080"
        ))
    })?;
    if uri.scheme_str() != Some("http") || uri.authority().is_none() {
        return Err(UsageError(format!(
            "--target {target:?}: warm speaks plain HTTP to the service itself; give \
             http://host:port (or host:port)"
        ))
        .into());
    }
    Ok(with_scheme)
}

/// What a warm file names.
struct Targets {
    /// Line number and path: a line starting with `/` as it is, a JSON
    /// card as its (signed) image URL.
    paths: Vec<(usize, String)>,
    /// The lines that name nothing.
    bad: Vec<BadLine>,
}

fn targets(
    text: &str,
    signer: &Signer,
    formats: &[CardFormat],
    templates: &sharecard_render::template::Templates,
    bands: &sharecard_render::card::LevelBands,
) -> anyhow::Result<Targets> {
    let batch::WarmFile {
        cards,
        mut paths,
        bad,
    } = batch::parse_warm(text, "report", templates, bands);
    for c in cards {
        let query = c.request.canonical_query();
        for format in formats {
            // Each format's URL is signed on its own: the path is signed.
            let path = format!("/cards/{}.{}", c.request.template, format.extension());
            let url = signer
                .url(&path, &query, &|p| c.request.card.schema().is_param(p))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            paths.push((c.line, url));
        }
    }
    paths.sort();
    Ok(Targets { paths, bad })
}

/// A warm file's line, its path, and how fetching it went.
type Fetched = (usize, String, Result<(), String>);

/// GETs every path from `base`, `concurrency` at a time; per line and
/// path, `Ok` for a 2xx answer, else what went wrong in the server's words.
fn fetch_all(
    base: &str,
    paths: Vec<(usize, String)>,
    concurrency: usize,
) -> anyhow::Result<Vec<Fetched>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(async {
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
                        Err(e) => return (line, path, Err(format!("bad URL {url}: {e}"))),
                    };
                    let result = match client.get(uri).await {
                        Ok(resp) => {
                            let status = resp.status();
                            let body = resp.into_body().collect().await.map(|b| b.to_bytes());
                            if status.is_success() {
                                Ok(())
                            } else {
                                let reason = body.ok().and_then(|b| server_reason(&b));
                                Err(match reason {
                                    Some(r) => format!("HTTP {status} for {path}: {r}"),
                                    None => format!("HTTP {status} for {path}"),
                                })
                            }
                        }
                        Err(e) if e.is_connect() => Err(format!("{CONNECT}{}", causes(&e))),
                        Err(e) => Err(format!("{e} for {path}")),
                    };
                    (line, path, result)
                }
            })
            .buffer_unordered(concurrency.max(1))
            .collect::<Vec<_>>()
            .await
    }))
}

/// An error's causes, innermost last, without the client's own wrapper.
fn causes(e: &dyn std::error::Error) -> String {
    let mut out = Vec::new();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push(c.to_string());
        cause = c.source();
    }
    if out.is_empty() {
        e.to_string()
    } else {
        out.join(": ")
    }
}

/// The message and code of the service's JSON error body.
fn server_reason(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let e = &v["error"];
    Some(format!(
        "{} ({})",
        e["message"].as_str()?,
        e["code"].as_str()?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A warm file's JSON lines may name any template's card: each becomes
    /// its canonical image URL, signed by that template's fields.
    #[test]
    fn any_templates_card_becomes_its_signed_url() {
        let renderer = crate::test_support::renderer();
        let signer = Signer::new(&["warm-test-key-0123456789"]).unwrap();
        let text = concat!(
            r#"{"template": "tasks", "role": "Nurse", "tasks": [{"name": "Charting", "risk": 58}, {"name": "Scheduling", "risk": 41}, {"name": "Triage", "risk": 12}]}"#,
            "\n",
            r#"{"template": "cost", "role": "Nurse", "salary": 94000, "colour": "red"}"#,
            "\n",
        );
        let t = targets(
            text,
            &signer,
            &[CardFormat::Png],
            renderer.templates(),
            &Default::default(),
        )
        .unwrap();
        assert_eq!(t.paths.len(), 1, "{:?}", t.paths);
        let (line, url) = &t.paths[0];
        assert_eq!(*line, 1);
        assert!(
            url.starts_with(
                "/cards/tasks.png?role=Nurse&tasks.0.name=Charting&tasks.0.risk=58&tasks.0.level=elevated&"
            ),
            "{url}"
        );
        assert!(url.contains("&sig="), "{url}");
        // A key the cost card lacks is a bad line, named.
        assert_eq!(t.bad.len(), 1);
        assert!(
            t.bad[0].message.contains("unknown key `colour`"),
            "{}",
            t.bad[0]
        );
    }
}
