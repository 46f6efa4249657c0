//! `sharecard sign`: a signed URL for a card.

use sharecard_render::card::query::Params;

use crate::clock::{Clock, SystemClock};
use crate::config::SignArgs;
use crate::signing::Signer;
use sharecard_render::card::query::is_named;

/// `sharecard sign '/cards/report.png?role=…'`
pub fn sign(args: SignArgs) -> anyhow::Result<i32> {
    let signer = Signer::new(&args.signing.keys()?).map_err(anyhow::Error::msg)?;
    if !signer.enabled() {
        anyhow::bail!(
            "no signing key: pass --signing-key or --signing-key-file, or set SHARECARD_SIGNING_KEYS or SHARECARD_SIGNING_KEY_FILE"
        );
    }
    let url = args.url.trim();
    // Accept a full URL too: sign its path and query, and print it with
    // its own scheme and host unless --public-url says otherwise.
    let (given_base, path_and_query) = match url.find("://") {
        Some(i) => match url[i + 3..].find('/') {
            Some(j) => (Some(&url[..i + 3 + j]), &url[i + 3 + j..]),
            None => (Some(url), "/"),
        },
        None => (None, url),
    };
    // Characters a URL cannot carry as they are (a space, quotes,
    // non-ASCII) are percent-encoded, so the printed URL works where it is
    // pasted; the signature covers decoded values, so it is the same.
    let path_and_query = &escape_for_url(path_and_query);
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    if !path.starts_with('/') {
        anyhow::bail!("expected a path starting with / (and a query), got {url:?}");
    }
    // `exp` comes from --expires-in alone: a query that already holds one
    // (in any spelling, `%65xp` included) would carry two once signed, or
    // an expiry no one chose.
    if query.split('&').any(|p| is_named(p, "exp")) {
        eprintln!(
            "error: {path}?{query} already holds `exp`; remove it and pass --expires-in \
             (e.g. --expires-in 7d) to sign a URL that expires"
        );
        return Ok(2);
    }
    // A URL the service can only refuse is not worth signing.
    if let Err(reason) = check_card(&args, path, query) {
        eprintln!("error: {path}?{query} is not a card the service would serve: {reason}");
        return Ok(2);
    }
    let mut query = query.to_owned();
    if let Some(ttl) = args.expires_in {
        let exp = SystemClock.now() + ttl.as_secs();
        query = query
            .split('&')
            .filter(|p| !p.is_empty())
            .chain(std::iter::once(format!("exp={exp}").as_str()))
            .collect::<Vec<_>>()
            .join("&");
    }
    let renderer = args.card.load_renderer()?;
    let name = card_template(path).unwrap_or_default();
    let schema = renderer
        .templates()
        .info(name)
        .map(|i| i.schema.clone())
        .ok_or_else(|| anyhow::anyhow!("no template {name}"))?;
    let signed = signer
        .sign_url(path, &query, &|p| schema.is_param(p))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    match args.public_url.as_deref().or(given_base) {
        Some(base) => println!("{}{signed}", base.trim_end_matches('/')),
        None => println!("{signed}"),
    }
    Ok(0)
}

/// `s` with every byte a URL may not hold literally percent-encoded
/// (RFC 3986: anything but unreserved, sub-delims, `:@/?%` and the `#`
/// that cannot occur here), upper-case hex. `%XX` escapes stay as they are.
fn escape_for_url(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let keep = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b);
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The card `path` and `query` name, checked as the server checks it: the
/// template exists, the parameters parse, the fonts draw every character.
/// Says why not in the server's words.
fn check_card(args: &SignArgs, path: &str, query: &str) -> Result<(), String> {
    let name = card_template(path).ok_or(
        "only /cards/{template}.png, /cards/{template}.webp and /share/{template} URLs are signed",
    )?;
    let renderer = args.card.load_renderer().map_err(|e| format!("{e:#}"))?;
    let template = super::template(&renderer, name)?;
    let params = Params::parse(Some(query)).map_err(|e| e.message().to_owned())?;
    let req = renderer
        .templates()
        .card_request(template, &params, &args.card.level_bands)
        .expect("super::template found it")
        .map_err(|e| e.message().to_owned())?;
    renderer
        .check_coverage(&req.card)
        .map_err(|e| e.message().to_owned())
}

/// The template a card or share path names.
fn card_template(path: &str) -> Option<&str> {
    path.strip_prefix("/cards/")
        .and_then(|p| p.strip_suffix(".png").or_else(|| p.strip_suffix(".webp")))
        .or_else(|| path.strip_prefix("/share/"))
}
