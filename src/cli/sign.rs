//! `sharecard sign`: a signed URL for a card.

use crate::config::SignArgs;
use crate::signing::{Signer, unix_now};

/// `sharecard sign '/cards/report.png?role=…'`
pub fn sign(args: SignArgs) -> anyhow::Result<i32> {
    let signer = Signer::new(&args.signing.keys()?).map_err(anyhow::Error::msg)?;
    if !signer.enabled() {
        anyhow::bail!(
            "no signing key: pass --signing-key or --signing-key-file, or set SHARECARD_SIGNING_KEYS or SHARECARD_SIGNING_KEY_FILE"
        );
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
