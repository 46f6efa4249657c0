//! What cached cards are looked up by.

use sharecard_render::card::CardRequest;

/// What cached cards are looked up by: the first 16 bytes of a SHA-256 of
/// the card's canonical form, its templates' version and its format.
/// Hashing and comparing a `CardRequest` meant reading its texts, each in
/// an allocation of its own, on every hit; a digest sits inline in the
/// remembered target and in moka's entry (`perf` during
/// `bench/loadtest.sh`'s hits over 1,000 cards measures the difference).
/// Two cards share a key only if SHA-256 collides in 128 bits, which no
/// one can arrange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CardKey([u8; 16]);

/// A card request and its [`CardKey`], computed once, together.
#[derive(Debug, Clone)]
pub struct KeyedCard {
    req: CardRequest,
    key: CardKey,
    format: Format,
}

/// The encoding a cached card is in: part of its key, since each format
/// is a body of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Png,
    /// Lossless WebP of the same pixels, for pages that embed cards.
    Webp,
}

impl Format {
    /// The extension of its card URLs, without the dot.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Webp => "webp",
        }
    }

    /// Every format, in the order documents list them.
    pub const ALL: [Format; 2] = [Format::Png, Format::Webp];

    /// Its `Content-Type`.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Png => "image/png",
            Format::Webp => "image/webp",
        }
    }

    /// The format a card path's extension names (`/cards/report.webp`).
    pub fn of_path(path: &str) -> Option<Format> {
        let (_, ext) = path.rsplit_once('.')?;
        Format::ALL.into_iter().find(|f| f.as_str() == ext)
    }
}

impl KeyedCard {
    /// `req` drawn by templates of `version` (`TemplateInfo::version`) in
    /// `format`.
    pub fn new(req: CardRequest, version: &str, format: Format) -> KeyedCard {
        use sha2::Digest;
        // `canonical_query` is one-to-one with a card of a given template
        // (it parses back to the same card); template names, versions
        // (hex) and formats never contain NUL.
        let mut h = sha2::Sha256::new();
        h.update(req.template.as_str().as_bytes());
        h.update([0]);
        h.update(version.as_bytes());
        h.update([0]);
        h.update(format.as_str().as_bytes());
        h.update([0]);
        h.update(req.canonical_query().as_bytes());
        let mut key = [0; 16];
        key.copy_from_slice(&h.finalize()[..16]);
        KeyedCard {
            req,
            key: CardKey(key),
            format,
        }
    }

    pub fn req(&self) -> &CardRequest {
        &self.req
    }

    pub fn key(&self) -> CardKey {
        self.key
    }

    pub fn format(&self) -> Format {
        self.format
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sharecard_render::card::query::Params;
    use sharecard_render::card::{LevelBands, TemplateName};

    #[test]
    fn a_card_key_names_exactly_the_card() {
        let keyed = |template: &str, query: &str| {
            KeyedCard::new(
                CardRequest::from_params(
                    TemplateName::parse(template).unwrap(),
                    &sharecard_render::template::bundled_schema(template).unwrap(),
                    &Params::parse(Some(query)).unwrap(),
                    &LevelBands::default(),
                )
                .unwrap(),
                "v1",
                Format::Png,
            )
        };
        let base = keyed("report", "role=R&tagline=T&risk=50&threat=X&threat_risk=9");
        // (template, query, same card as `base`)
        let cases = [
            (
                "report",
                "risk=50&threat_risk=9&threat=X&tagline=T&role=R",
                true,
            ),
            (
                "report",
                "role=R&tagline=T&risk=50&threat=X&threat_risk=9&utm_source=x",
                true,
            ),
            (
                "report",
                "role=R&tagline=T&risk=50&level=elevated&threat=X&threat_risk=9",
                true,
            ),
            (
                "square",
                "role=R&tagline=T&risk=50&threat=X&threat_risk=9",
                false,
            ),
            (
                "report",
                "role=R&tagline=T&risk=50&threat=X&threat_risk=9&theme=light",
                false,
            ),
            (
                "report",
                "role=R&tagline=T&risk=50&threat=X&threat_risk=9&scale=2",
                false,
            ),
            ("report", "role=R&risk=50&threat=X&threat_risk=9", false),
            ("report", "role=R&tagline=T&risk=50", false),
            (
                "report",
                "role=R&tagline=T&risk=51&threat=X&threat_risk=9",
                false,
            ),
            (
                "report",
                "role=R&tagline=T&risk=50&level=high&threat=X&threat_risk=9",
                false,
            ),
            (
                "report",
                "role=R&tagline=T&risk=50&threat=X&threat_risk=8",
                false,
            ),
            // A role whose text spells out the tagline parameter.
            (
                "report",
                "role=R%26tagline%3DT&risk=50&threat=X&threat_risk=9",
                false,
            ),
            (
                "report",
                "role=R%20&tagline=T&risk=50&threat=X&threat_risk=9",
                true,
            ),
        ];
        for (template, query, same) in cases {
            let other = keyed(template, query);
            assert_eq!(other.req() == base.req(), same, "{template}?{query}");
            assert_eq!(other.key() == base.key(), same, "{template}?{query}");
        }
        // The same card under other templates' version is another entry:
        // a reload can never answer with the old look.
        let newer = KeyedCard::new(base.req().clone(), "v2", Format::Png);
        assert_ne!(newer.key(), base.key());
        // Each format is a body, and an entry, of its own.
        let webp = KeyedCard::new(base.req().clone(), "v1", Format::Webp);
        assert_ne!(webp.key(), base.key());
        assert_eq!(webp.format(), Format::Webp);
    }
}
