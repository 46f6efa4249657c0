//! Conditional and range requests (RFC 9110 §13, §14): which stored bytes
//! a request asks for, given the card's validator.

use hyper::header::{self, HeaderMap};

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Range {
    Full,
    /// Inclusive byte offsets.
    Part(usize, usize),
    Unsatisfiable,
}

/// RFC 9110 §14: one `bytes=` range is served as 206; several ranges,
/// other units, a syntax error or a stale `If-Range` get the whole body
/// (which the RFC allows); a range past the end is 416.
pub(super) fn range(headers: &HeaderMap, etag: &str, total: usize) -> Range {
    let Some(spec) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Range::Full;
    };
    if let Some(if_range) = headers.get(header::IF_RANGE)
        && if_range.to_str().ok() != Some(etag)
    {
        return Range::Full;
    }
    let Some(spec) = spec.trim().strip_prefix("bytes=") else {
        return Range::Full;
    };
    if spec.contains(',') {
        return Range::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Range::Full;
    };
    let num = |s: &str| -> Option<usize> {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())).then(|| s.parse().ok())?
    };
    match (a.trim(), b.trim()) {
        ("", suffix) => match num(suffix) {
            Some(0) => Range::Unsatisfiable,
            Some(n) if total > 0 => Range::Part(total.saturating_sub(n), total - 1),
            Some(_) => Range::Unsatisfiable,
            None => Range::Full,
        },
        (start, "") => match num(start) {
            Some(s) if s < total => Range::Part(s, total - 1),
            Some(_) => Range::Unsatisfiable,
            None => Range::Full,
        },
        (start, end) => match (num(start), num(end)) {
            (Some(s), Some(e)) if s <= e && s < total => Range::Part(s, e.min(total - 1)),
            (Some(s), Some(e)) if s <= e => Range::Unsatisfiable,
            _ => Range::Full,
        },
    }
}

/// RFC 9110 §13.1.2: `If-None-Match` uses weak comparison, `*` matches any.
pub(super) fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.trim_start_matches("W/") == etag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    #[test]
    fn if_none_match_forms() {
        let etag = "\"abc\"";
        let cases: &[(&[&str], bool)] = &[
            (&[], false),
            (&["\"abc\""], true),
            (&["W/\"abc\""], true),
            (&["\"x\", \"abc\""], true),
            (&["\"x\"", "\"abc\""], true),
            (&["*"], true),
            (&["\"abcd\""], false),
            (&["abc"], false),
        ];
        for (values, want) in cases {
            let mut h = HeaderMap::new();
            for v in *values {
                h.append(header::IF_NONE_MATCH, HeaderValue::from_str(v).unwrap());
            }
            assert_eq!(if_none_match(&h, etag), *want, "{values:?}");
        }
    }

    #[test]
    fn ranges() {
        let cases: &[(&str, Option<&str>, Range)] = &[
            ("bytes=0-99", None, Range::Part(0, 99)),
            ("bytes=0-524288", None, Range::Part(0, 999)),
            ("bytes=500-", None, Range::Part(500, 999)),
            ("bytes=-100", None, Range::Part(900, 999)),
            ("bytes=-5000", None, Range::Part(0, 999)),
            ("bytes=999-999", None, Range::Part(999, 999)),
            ("bytes=1000-", None, Range::Unsatisfiable),
            ("bytes=1000-2000", None, Range::Unsatisfiable),
            ("bytes=-0", None, Range::Unsatisfiable),
            ("bytes=5-1", None, Range::Full),
            ("bytes=0-1,5-9", None, Range::Full),
            ("items=0-1", None, Range::Full),
            ("bytes=a-b", None, Range::Full),
            ("bytes=0-99", Some("\"e\""), Range::Part(0, 99)),
            ("bytes=0-99", Some("\"old\""), Range::Full),
        ];
        for (spec, if_range, want) in cases {
            let mut h = HeaderMap::new();
            h.insert(header::RANGE, HeaderValue::from_str(spec).unwrap());
            if let Some(v) = if_range {
                h.insert(header::IF_RANGE, HeaderValue::from_str(v).unwrap());
            }
            assert_eq!(&range(&h, "\"e\"", 1000), want, "{spec} {if_range:?}");
        }
        assert_eq!(range(&HeaderMap::new(), "\"e\"", 1000), Range::Full);
    }
}
