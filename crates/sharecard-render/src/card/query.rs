//! Strict `application/x-www-form-urlencoded` query decoding.
//!
//! `form_urlencoded` (and most frameworks) decode leniently: `%zz` passes
//! through literally and invalid UTF-8 becomes U+FFFD. A card service must
//! not silently print replacement characters on an image someone shares, so
//! this decoder rejects both and tells the client which parameter was wrong.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::error::CardError;

/// Most parameters a query may carry. A card uses fewer than twenty; the cap
/// keeps a hostile query from costing more than a few microseconds to parse.
pub(crate) const MAX_PARAMS: usize = 64;

/// Decoded query parameters, in request order. Duplicates are kept so the
/// card parser can reject ambiguity instead of picking one silently.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(query: Option<&str>) -> Result<Params, CardError> {
        let mut out = Vec::new();
        let Some(query) = query else {
            return Ok(Params(out));
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            if out.len() == MAX_PARAMS {
                return Err(CardError::invalid(
                    "too_many_parameters",
                    None,
                    format!("a query may carry at most {MAX_PARAMS} parameters"),
                ));
            }
            let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode_component(raw_key).map_err(|why| {
                CardError::invalid("invalid_encoding", None, format!("a parameter name {why}"))
            })?;
            let value = decode_component(raw_value).map_err(|why| {
                CardError::invalid("invalid_encoding", Some(&key), format!("`{key}` {why}"))
            })?;
            out.push((key, value));
        }
        Ok(Params(out))
    }

    /// The one value of `key`, if present. Repeating a parameter is an error:
    /// `role=a&role=b` has no obvious meaning and caches would disagree on it.
    pub fn get(&self, key: &str) -> Result<Option<&str>, CardError> {
        let mut found = None;
        for (k, v) in &self.0 {
            if k == key {
                if found.is_some() {
                    return Err(CardError::invalid(
                        "repeated_parameter",
                        Some(key),
                        format!("`{key}` is given more than once"),
                    ));
                }
                found = Some(v.as_str());
            }
        }
        Ok(found)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Whether the raw query piece `pair` (`name=value`) is the parameter
/// `name` as [`Params::parse`] decodes it: `si%67=…` is `sig`. A name that
/// does not decode counts as a match: such a query is refused anyway, and
/// callers use this to drop or hide a parameter, where a false match is
/// the safe side.
pub fn is_named(pair: &str, name: &str) -> bool {
    let raw = pair.split_once('=').map_or(pair, |(k, _)| k);
    if !raw.contains(['%', '+']) {
        return raw == name;
    }
    match decode_component(raw) {
        Ok(decoded) => decoded == name,
        Err(_) => true,
    }
}

/// Decodes one key or value: `+` is a space, `%XX` a byte; the bytes must be
/// UTF-8. Returns a phrase completing "`field` …" on failure.
///
/// By hand, in one pass, where the rest of this module uses the
/// `percent-encoding` crate: that crate passes a malformed escape through
/// (this must refuse it) and collects its output a byte at a time, which
/// made `stage/parse_query_to_card` (the pipeline bench) slower: the run
/// log is in `bench/RESULTS.md`.
fn decode_component(raw: &str) -> Result<String, &'static str> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or("has a truncated %-escape")?;
                let hi = hex_val(hex[0]).ok_or("has an invalid %-escape")?;
                let lo = hex_val(hex[1]).ok_or("has an invalid %-escape")?;
                out.push(hi << 4 | lo);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "is not valid UTF-8 after %-decoding")
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// What [`encode_component`] escapes: every byte but the unreserved
/// characters of RFC 3986 (`A-Z a-z 0-9 - . _ ~`). Bytes outside ASCII are
/// always escaped.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes a query component so that [`Params::parse`] gives it back.
/// Unreserved characters (RFC 3986) stay as they are; everything else,
/// including `+`, is escaped (upper-case hex), so the output is safe in any
/// URL context.
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    push_encoded(&mut out, s);
    out
}

/// `name=value`, both encoded: one parameter of a query made from pairs
/// (a sample, a batch line, a command line's fields), which then goes
/// through [`Params::parse`] as a URL's would.
pub fn encode_pair(name: &str, value: &str) -> String {
    let mut out = String::with_capacity(name.len() + value.len() + 8);
    push_encoded(&mut out, name);
    out.push('=');
    push_encoded(&mut out, value);
    out
}

/// Appends [`encode_component`]`(s)` to `out`. Every cache hit builds a
/// canonical query for its ETag, so this appends the encoder's pieces
/// (borrowed runs and static escapes) rather than allocating through
/// `format!` or `to_string`.
pub(crate) fn push_encoded(out: &mut String, s: &str) {
    out.extend(utf8_percent_encode(s, COMPONENT));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_valid_queries() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("", &[]),
            ("a=1", &[("a", "1")]),
            ("a=1&&b=", &[("a", "1"), ("b", "")]),
            ("flag", &[("flag", "")]),
            ("role=ML+Engineer", &[("role", "ML Engineer")]),
            ("role=ML%20Engineer%2B", &[("role", "ML Engineer+")]),
            ("t=%E6%A9%9F%E6%A2%B0", &[("t", "機械")]),
            ("t=a%3Db%26c", &[("t", "a=b&c")]),
        ];
        for (raw, want) in cases {
            let got = Params::parse(Some(raw)).unwrap();
            let got: Vec<_> = got.iter().collect();
            assert_eq!(&got, want, "query {raw:?}");
        }
    }

    #[test]
    fn rejects_bad_encodings() {
        let cases = [
            ("role=%zz", "role"),
            ("role=%4", "role"),
            ("role=abc%", "role"),
            ("role=%C3%28", "role"),    // invalid UTF-8 sequence
            ("role=%C0%AF", "role"),    // overlong encoding of '/'
            ("role=%ED%A0%80", "role"), // UTF-16 surrogate
            ("ro%FFle=x", ""),          // bad key: no field to name
        ];
        for (raw, field) in cases {
            let err = Params::parse(Some(raw)).unwrap_err();
            assert!(matches!(err, CardError::Invalid { .. }), "{raw}");
            assert_eq!(err.code(), "invalid_encoding", "{raw}");
            assert_eq!(err.field().unwrap_or(""), field, "{raw}");
        }
    }

    #[test]
    fn caps_parameter_count() {
        let q = vec!["a=1"; MAX_PARAMS + 1].join("&");
        let err = Params::parse(Some(&q)).unwrap_err();
        assert_eq!(err.code(), "too_many_parameters");
        let q = vec!["a=1"; MAX_PARAMS].join("&");
        assert!(Params::parse(Some(&q)).is_ok());
    }

    #[test]
    fn repeated_parameters_are_an_error() {
        let p = Params::parse(Some("role=a&risk=1&role=b")).unwrap();
        assert_eq!(p.get("risk").unwrap(), Some("1"));
        assert_eq!(p.get("role").unwrap_err().code(), "repeated_parameter");
        assert_eq!(p.get("missing").unwrap(), None);
    }

    #[test]
    fn encode_round_trips() {
        for s in [
            "ML Engineer",
            "R&D <Lead> \"Quant\"",
            "a+b=c",
            "機械学習",
            "100%",
        ] {
            let q = format!("x={}", encode_component(s));
            let p = Params::parse(Some(&q)).unwrap();
            assert_eq!(p.get("x").unwrap(), Some(s));
        }
    }

    #[test]
    fn encodes_minimally_with_upper_case_escapes() {
        for (raw, encoded) in [
            ("", ""),
            ("Az09-._~", "Az09-._~"),
            ("ML Engineer", "ML%20Engineer"),
            ("a+b=c&d/e", "a%2Bb%3Dc%26d%2Fe"),
            ("é", "%C3%A9"),
            ("\u{7f}\u{0}", "%7F%00"),
        ] {
            assert_eq!(encode_component(raw), encoded, "{raw:?}");
        }
    }

    /// The encoding the hand-written encoder produced before the
    /// `percent-encoding` crate replaced it: unreserved bytes as they are,
    /// every other byte `%XX` in upper case.
    fn reference_encoding(s: &str) -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }

    #[test]
    fn every_byte_encodes_as_before_and_round_trips() {
        // U+0000..=U+00FF: one byte each for ASCII, two UTF-8 bytes above.
        for b in 0..=255u8 {
            let s = char::from(b).to_string();
            let encoded = encode_component(&s);
            assert_eq!(encoded, reference_encoding(&s), "byte {b:#04x}");
            let p = Params::parse(Some(&format!("x={encoded}"))).unwrap();
            assert_eq!(p.get("x").unwrap(), Some(s.as_str()), "byte {b:#04x}");
        }
        // A string holding all of them at once, and a few wider characters.
        let all: String = (0..=255u8)
            .map(char::from)
            .chain(['機', '\u{1F680}'])
            .collect();
        let encoded = encode_component(&all);
        assert_eq!(encoded, reference_encoding(&all));
        let p = Params::parse(Some(&format!("x={encoded}"))).unwrap();
        assert_eq!(p.get("x").unwrap(), Some(all.as_str()));
    }

    #[test]
    fn every_escape_decodes_to_its_byte() {
        for b in 0..=255u8 {
            for escape in [format!("%{b:02X}"), format!("%{b:02x}")] {
                let got = Params::parse(Some(&format!("x={escape}")));
                if b.is_ascii() {
                    let want = char::from(b).to_string();
                    assert_eq!(got.unwrap().get("x").unwrap(), Some(want.as_str()));
                } else {
                    // A lone byte above 0x7F is never UTF-8 on its own.
                    let err = got.unwrap_err();
                    assert_eq!(err.code(), "invalid_encoding", "{escape}");
                    assert_eq!(err.field(), Some("x"), "{escape}");
                }
            }
        }
    }

    #[test]
    fn error_messages_name_the_problem() {
        for (raw, want) in [
            ("x=%zz", "has an invalid %-escape"),
            ("x=%4g", "has an invalid %-escape"),
            ("x=%2%41", "has an invalid %-escape"),
            ("x=%4", "has a truncated %-escape"),
            ("x=%%", "has a truncated %-escape"),
            ("x=ok%41%", "has a truncated %-escape"),
            ("x=%zz%", "has an invalid %-escape"),
            ("x=%C3%28", "is not valid UTF-8 after %-decoding"),
            ("x=+%FF+", "is not valid UTF-8 after %-decoding"),
        ] {
            let err = Params::parse(Some(raw)).unwrap_err();
            assert_eq!(err.message(), format!("`x` {want}"), "{raw}");
        }
        let err = Params::parse(Some("%C3=1")).unwrap_err();
        assert_eq!(
            err.message(),
            "a parameter name is not valid UTF-8 after %-decoding"
        );
    }

    #[test]
    fn plus_is_a_space_but_an_escaped_plus_is_not() {
        let p = Params::parse(Some("a+b=+c%2B+%2b++")).unwrap();
        assert_eq!(p.iter().collect::<Vec<_>>(), [("a b", " c+ +  ")]);
    }
}
