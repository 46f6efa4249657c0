//! How a card is named in words: its description for people who cannot see
//! it (and for crawlers), and the file it is saved as.

/// Texts that describe a card to people who cannot see it, and to crawlers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    /// `ML Engineer: 48% risk of AI automation (elevated)`.
    pub title: String,
    /// The tagline and the primary threat, or a question when there are none.
    pub summary: String,
    /// Alternative text for the image itself.
    pub alt: String,
}

/// A downloaded card's file name, in two spellings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName {
    /// ASCII only, for every client: `ml-engineer-report.png`.
    pub ascii: String,
    /// Letters of any script kept: `ингенер-report.png`. Equal to `ascii`
    /// for a role written in ASCII.
    pub unicode: String,
}

/// `ml-engineer` from "ML Engineer": lower case, letters and digits of any
/// script kept, everything else a single dash.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// [`slug`] in ASCII: `ingenieure-muller` from "Ingénieure Müller". Other
/// scripts are transliterated too (`inzhener` from "Инженер"), so only a
/// text with no letters or digits at all gives "".
pub(crate) fn ascii_slug(text: &str) -> String {
    // Emoji are not transliterated: deunicode would spell them out ("🚀"
    // as "rocket"), where `slug` drops them.
    use unicode_properties::UnicodeEmoji;
    let words: String = text
        .chars()
        .map(|c| {
            if c.is_emoji_char_or_emoji_component() && !c.is_alphanumeric() {
                ' '
            } else {
                c
            }
        })
        .collect();
    // deunicode's output is ASCII, so slug's letters and digits are ASCII's.
    slug(&deunicode::deunicode(&words))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        for (text, want) in [
            ("ML Engineer", "ml-engineer"),
            ("R&D <Lead> \"Quant\"", "r-d-lead-quant"),
            (
                "Ingénieure d'études — Île-de-France",
                "ingénieure-d-études-île-de-france",
            ),
            ("Инженер", "инженер"),
            ("  --x--  ", "x"),
        ] {
            assert_eq!(slug(text), want, "{text}");
        }
    }

    #[test]
    fn ascii_slugs_transliterate() {
        for (text, want) in [
            ("ML Engineer", "ml-engineer"),
            ("R&D <Lead> \"Quant\"", "r-d-lead-quant"),
            ("Ingénieure", "ingenieure"),
            ("Müller", "muller"),
            ("Straße", "strasse"),
            ("ÉCOLE Ça Œuvre", "ecole-ca-oeuvre"),
            (
                "Ingénieure d'études — Île-de-France",
                "ingenieure-d-etudes-ile-de-france",
            ),
            ("ﬁnance", "finance"),
            ("Инженер", "inzhener"),
            ("機械学習", "ji-jie-xue-xi"),
            ("Μηχανική", "mekhanike"),
            ("मशीन लर्निंग इंजीनियर", "mshiin-lrning-injiiniyr"),
            ("مهندس تعلم الآلة", "mhnds-t-lm-lal"),
            ("  --x--  ", "x"),
            ("— ! —", ""),
            // Emoji and symbols are dropped, as `slug` drops them.
            ("Community Manager 🚀", "community-manager"),
            ("👩\u{200D}💻 Dev ©", "dev"),
        ] {
            let got = ascii_slug(text);
            assert_eq!(got, want, "{text}");
            assert!(got.is_ascii(), "{text}");
        }
    }
}
