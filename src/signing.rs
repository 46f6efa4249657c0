//! Signed URLs: HMAC-SHA256 over a canonical form of the path and the
//! card's parameters, so only holders of a key can mint cards.
//!
//! The canonical form (documented in the README, with Node and Python
//! snippets that a test runs):
//!
//! 1. Take the query parameters that are the template's card parameters
//!    (its declared fields' parameters, `theme` and `scale`:
//!    [`sharecard_render::card::schema::Schema::is_param`]) or `exp`, with their values
//!    percent-decoded (`+` is a space). Other parameters are not signed:
//!    tracking tags such as `fbclid` that platforms append must not break
//!    a link, and the card ignores them anyway.
//! 2. Sort them by name; write each as `name=value` with the value
//!    percent-encoded, leaving only `A–Z a–z 0–9 - . _ ~` unescaped and
//!    using upper-case hex; join with `&`.
//! 3. The message is the request path, `?`, and that string:
//!    `/cards/report.png?risk=48&role=ML%20Engineer`.
//! 4. `sig` is the HMAC-SHA256 of the message under the key (the key's
//!    UTF-8 bytes), base64url without padding.
//!
//! `exp`, when present, is a Unix time in seconds after which the URL is
//! refused; it is covered by the signature, so it cannot be extended.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use sharecard_render::card::query::{Params, encode_component, is_named};
use sharecard_render::error::CardError;

type HmacSha256 = Hmac<Sha256>;

/// Which query parameters a path's card has: what is signed, with `exp`.
pub type IsParam<'a> = &'a dyn Fn(&str) -> bool;

/// The bundled report card's parameters (`report`, `square`, `story`):
/// an [`IsParam`] for tools and tests that sign those cards.
pub fn report_card_params(p: &str) -> bool {
    sharecard_render::template::bundled_schema("report")
        .expect("the bundled declaration")
        .is_param(p)
}

/// Why a request's signature is not accepted (the service answers 403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Denied {
    /// `signature_missing`, `signature_malformed`, `signature_invalid` or
    /// `signature_expired`.
    pub code: &'static str,
    /// `sig` or `exp`.
    pub field: &'static str,
    pub message: &'static str,
}

/// Why a URL could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignUrlError {
    #[error(transparent)]
    Query(#[from] CardError),
    #[error("no signing key configured")]
    NoKey,
}

/// Shortest key accepted: HMAC keys shorter than this are guessable.
pub(crate) const MIN_KEY_LEN: usize = 16;

/// The keys a service accepts. The first one signs; every one verifies, so
/// a new key can be rolled out before the old one is retired.
#[derive(Clone, Default)]
pub struct Signer {
    keys: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print keys.
        write!(f, "Signer({} keys)", self.keys.len())
    }
}

impl Signer {
    /// The signer for `keys`, the first of which signs. No keys at all
    /// means unsigned URLs are served; a blank key is refused, never
    /// skipped: a key setting that was meant to hold a key (an unpopulated
    /// Secret, a stray comma) must not turn signing off.
    pub fn new<S: AsRef<str>>(keys: &[S]) -> Result<Signer, String> {
        let keys: Vec<Vec<u8>> = keys
            .iter()
            .map(|k| k.as_ref().trim().as_bytes().to_vec())
            .collect();
        if let Some(blank) = keys.iter().position(Vec::is_empty) {
            return Err(format!(
                "signing key #{} is blank; give every key, or no key setting at all",
                blank + 1
            ));
        }
        if let Some(short) = keys.iter().position(|k| k.len() < MIN_KEY_LEN) {
            return Err(format!(
                "signing key #{} is shorter than {MIN_KEY_LEN} bytes",
                short + 1
            ));
        }
        Ok(Signer { keys })
    }

    /// Whether URLs must be signed.
    pub fn enabled(&self) -> bool {
        !self.keys.is_empty()
    }

    /// `sig` for `path` and `params` under the first key.
    pub fn signature(&self, path: &str, params: &Params, is_param: IsParam<'_>) -> Option<String> {
        let key = self.keys.first()?;
        let tag = mac(key, &canonical(path, params, is_param))
            .finalize()
            .into_bytes();
        Some(URL_SAFE_NO_PAD.encode(tag))
    }

    /// `path?query&sig=…`: the URL with its signature appended (any `sig`
    /// already in `query` is dropped first).
    pub fn sign_url(
        &self,
        path: &str,
        query: &str,
        is_param: IsParam<'_>,
    ) -> Result<String, SignUrlError> {
        // `sig` as the verifier reads it: by its decoded name.
        let kept: Vec<&str> = query
            .split('&')
            .filter(|p| !p.is_empty() && !is_named(p, "sig"))
            .collect();
        let query = kept.join("&");
        let params = Params::parse(Some(&query))?;
        // One `exp` at most: the verifier refuses a URL with two.
        params.get("exp")?;
        let sig = self
            .signature(path, &params, is_param)
            .ok_or(SignUrlError::NoKey)?;
        Ok(if query.is_empty() {
            format!("{path}?sig={sig}")
        } else {
            format!("{path}?{query}&sig={sig}")
        })
    }

    /// The URL to hand out for `path` and `query`: signed when signing is
    /// on ([`sign_url`](Self::sign_url)), as it is otherwise.
    pub(crate) fn url(
        &self,
        path: &str,
        query: &str,
        is_param: IsParam<'_>,
    ) -> Result<String, SignUrlError> {
        if self.enabled() {
            self.sign_url(path, query, is_param)
        } else {
            Ok(format!("{path}?{query}"))
        }
    }

    /// Checks `sig` (and `exp`) of a request. `now` is Unix seconds.
    /// Returns when the URL stops being accepted: its `exp`, or `u64::MAX`
    /// for a URL without one or when signing is off.
    pub fn verify(
        &self,
        path: &str,
        params: &Params,
        is_param: IsParam<'_>,
        now: u64,
    ) -> Result<u64, Denied> {
        if !self.enabled() {
            return Ok(u64::MAX);
        }
        let denied = |code, field, message| Denied {
            code,
            field,
            message,
        };
        let sig = params
            .get("sig")
            .map_err(|_| {
                denied(
                    "signature_malformed",
                    "sig",
                    "`sig` is given more than once",
                )
            })?
            .ok_or_else(|| {
                denied(
                    "signature_missing",
                    "sig",
                    "this service only serves signed URLs; `sig` is missing",
                )
            })?;
        let tag = URL_SAFE_NO_PAD
            .decode(sig)
            .ok()
            .filter(|t| t.len() == 32)
            .ok_or_else(|| {
                denied(
                    "signature_malformed",
                    "sig",
                    "`sig` must be 43 characters of unpadded base64url",
                )
            })?;
        // A repeated `exp` (however its name is spelled: `%65xp` decodes
        // to `exp`) is refused, never ignored: ignoring it would serve an
        // expiring URL forever.
        let exp = match params.get("exp").map_err(|_| {
            denied(
                "signature_malformed",
                "exp",
                "`exp` is given more than once",
            )
        })? {
            None => None,
            Some(raw) => Some(
                raw.parse::<u64>()
                    .ok()
                    .filter(|_| raw.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| {
                        denied("signature_malformed", "exp", "`exp` must be Unix seconds")
                    })?,
            ),
        };
        let message = canonical(path, params, is_param);
        // `verify_slice` compares in constant time.
        let valid = self
            .keys
            .iter()
            .any(|key| mac(key, &message).verify_slice(&tag).is_ok());
        if !valid {
            return Err(denied(
                "signature_invalid",
                "sig",
                "`sig` does not match this URL under any configured key",
            ));
        }
        // Checked after the signature so a forged `exp` is reported as a
        // bad signature, not as an expiry.
        if let Some(exp) = exp
            && exp <= now
        {
            return Err(denied(
                "signature_expired",
                "exp",
                "this signed URL has expired",
            ));
        }
        Ok(exp.unwrap_or(u64::MAX))
    }
}

fn mac(key: &[u8], message: &str) -> HmacSha256 {
    let mut m = <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(message.as_bytes());
    m
}

/// The signed message for `path` and `params` (see the module docs).
pub(crate) fn canonical(path: &str, params: &Params, is_param: IsParam<'_>) -> String {
    let mut pairs: Vec<(&str, &str)> = params
        .iter()
        .filter(|(k, _)| *k == "exp" || is_param(k))
        .collect();
    pairs.sort();
    let query: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode_component(v)))
        .collect();
    format!("{path}?{}", query.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef-test-key";

    /// The report card's parameters.
    const R: IsParam<'static> = &|p| {
        [
            "role",
            "tagline",
            "risk",
            "level",
            "threat",
            "threat_risk",
            "theme",
            "scale",
        ]
        .contains(&p)
    };

    fn params(q: &str) -> Params {
        Params::parse(Some(q)).unwrap()
    }

    #[test]
    fn canonical_form() {
        let cases = [
            (
                "role=ML+Engineer&risk=48",
                "/cards/report.png?risk=48&role=ML%20Engineer",
            ),
            // Order and unsigned parameters do not matter.
            (
                "utm=x&risk=48&role=ML%20Engineer&sig=abc",
                "/cards/report.png?risk=48&role=ML%20Engineer",
            ),
            // exp is signed; reserved characters are escaped, ~ is not.
            (
                "role=R%26D%20*!~&risk=1&exp=99",
                "/cards/report.png?exp=99&risk=1&role=R%26D%20%2A%21~",
            ),
            ("role=%E6%A9%9F", "/cards/report.png?role=%E6%A9%9F"),
        ];
        for (q, want) in cases {
            assert_eq!(canonical("/cards/report.png", &params(q), R), want, "{q}");
        }
    }

    #[test]
    fn known_answer() {
        // Fixed vector, also used in the README: any change to the
        // canonical form breaks every signed URL in the wild.
        let s = Signer::new(&[KEY]).unwrap();
        let url = s
            .sign_url("/cards/report.png", "role=ML%20Engineer&risk=48", R)
            .unwrap();
        assert_eq!(
            url,
            "/cards/report.png?role=ML%20Engineer&risk=48&sig=Hd9483AXkxKuQBL-NOgWF1BMYAtYQ3lpO0cQXVNBtNs"
        );
    }

    #[test]
    fn verification_table() {
        let s = Signer::new(&[KEY]).unwrap();
        let path = "/cards/report.png";
        let good = s.sign_url(path, "role=A&risk=1", R).unwrap();
        let good_q = good.split_once('?').unwrap().1.to_owned();
        let sig = good_q.rsplit_once("sig=").unwrap().1.to_owned();
        let expiring = s.sign_url(path, "role=A&risk=1&exp=1000", R).unwrap();
        let expiring_q = expiring.split_once('?').unwrap().1.to_owned();
        let cases: Vec<(String, &str, Option<&str>)> = vec![
            (good_q.clone(), path, None),
            (format!("{good_q}&fbclid=xyz"), path, None),
            (expiring_q.clone(), path, None),
            ("role=A&risk=1".into(), path, Some("signature_missing")),
            (
                format!("role=A&risk=1&sig={}", &sig[..20]),
                path,
                Some("signature_malformed"),
            ),
            (
                "role=A&risk=1&sig=***".into(),
                path,
                Some("signature_malformed"),
            ),
            (
                format!("{good_q}&sig={sig}"),
                path,
                Some("signature_malformed"),
            ),
            (
                good_q.replace("risk=1", "risk=2"),
                path,
                Some("signature_invalid"),
            ),
            (
                good_q.clone(),
                "/cards/square.png",
                Some("signature_invalid"),
            ),
            (
                format!("{good_q}&theme=light"),
                path,
                Some("signature_invalid"),
            ),
            (
                expiring_q.replace("exp=1000", "exp=999999"),
                path,
                Some("signature_invalid"),
            ),
            (
                expiring_q.replace("exp=1000", "exp=x"),
                path,
                Some("signature_malformed"),
            ),
        ];
        for (q, p, want) in cases {
            let got = s.verify(p, &params(&q), R, 500);
            match want {
                None => assert!(got.is_ok(), "{q}: {got:?}"),
                Some(code) => {
                    let e = got.expect_err(&q);
                    assert_eq!(e.code, code, "{q}");
                }
            }
        }
        // Expiry, which a verified URL reports.
        assert_eq!(s.verify(path, &params(&expiring_q), R, 999).unwrap(), 1000);
        assert_eq!(
            s.verify(path, &params(&expiring_q), R, 1000)
                .unwrap_err()
                .code,
            "signature_expired"
        );
    }

    #[test]
    fn rotation_accepts_every_configured_key() {
        let old = Signer::new(&[KEY]).unwrap();
        let both = Signer::new(&["new-key-0123456789abcdef", KEY]).unwrap();
        let url = old.sign_url("/share/report", "role=A&risk=1", R).unwrap();
        let q = params(url.split_once('?').unwrap().1);
        assert_eq!(both.verify("/share/report", &q, R, 0).unwrap(), u64::MAX);
        // New URLs are signed with the first key; the old key alone
        // rejects them.
        let new_url = both.sign_url("/share/report", "role=A&risk=1", R).unwrap();
        let q = params(new_url.split_once('?').unwrap().1);
        assert_eq!(
            old.verify("/share/report", &q, R, 0).unwrap_err().code,
            "signature_invalid"
        );
    }

    #[test]
    fn keys_are_checked_and_optional() {
        assert!(Signer::new(&["short"]).is_err());
        let none = Signer::new::<&str>(&[]).unwrap();
        assert!(!none.enabled());
        assert_eq!(
            none.verify("/x", &params("role=a&exp=5"), R, 9).unwrap(),
            u64::MAX
        );
        assert_eq!(
            format!("{:?}", Signer::new(&[KEY]).unwrap()),
            "Signer(1 keys)"
        );
    }
}
