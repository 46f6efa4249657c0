//! HTML pages: the share page that social crawlers unfurl, and the
//! template authors' preview gallery.
//!
//! Pages are minijinja templates compiled into the binary, rendered with
//! HTML auto-escaping: every piece of card text is escaped.

use std::sync::OnceLock;

use minijinja::{AutoEscape, Environment};
use serde::Serialize;

use crate::cache::Format;
use crate::http::error::ApiError;
use crate::signing::Signer;
use sharecard_render::card::{CardRequest, LevelBands, Scale};
use sharecard_render::render::Renderer;

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        env.add_template("share.html", include_str!("pages/share.html"))
            .expect("share.html compiles");
        env.add_template("preview.html", include_str!("pages/preview.html"))
            .expect("preview.html compiles");
        env.add_template("error.html", include_str!("pages/error.html"))
            .expect("error.html compiles");
        env.add_template("home.html", include_str!("pages/home.html"))
            .expect("home.html compiles");
        env
    })
}

/// Everything the share page shows; URLs are absolute and already signed.
#[derive(Debug, Serialize)]
pub(crate) struct SharePage {
    pub(crate) title: String,
    pub(crate) description: String,
    pub(crate) alt: String,
    pub(crate) site_name: String,
    pub(crate) page_url: String,
    /// For crawlers: absolute, from `--public-url`.
    pub(crate) image_url: String,
    /// For the people who open the page: a path, so the card shows and
    /// downloads on whatever address the page was reached at.
    pub(crate) image_path: String,
    /// The same card as WebP, for browsers (`<picture>`); crawlers get
    /// the PNG (LinkedIn takes no WebP).
    pub(crate) webp_path: String,
    pub(crate) download_path: String,
    pub(crate) hidpi: bool,
    pub(crate) file_name: String,
    pub(crate) role_url: String,
    pub(crate) width: u32,
    pub(crate) height: u32,
}

impl SharePage {
    pub(crate) fn render(&self) -> String {
        env()
            .get_template("share.html")
            .and_then(|t| t.render(minijinja::Value::from(minijinja::value::Serde(self))))
            .expect("the share page renders any escaped strings")
    }
}

/// The card `/` shows: the seed page's.
const HOME_EXAMPLE_QUERY: &str =
    "role=ML%20Engineer&risk=48&threat=Model%20Fine-Tuning&threat_risk=65";

/// The example card on `/`: its URL and the size it is shown at.
#[derive(serde::Serialize)]
struct Example {
    url: String,
    width: u32,
    height: u32,
}

/// `GET /`: what this service is, its routes and templates, and an
/// example card: a real card of a loaded template (`report` if there is
/// one), its URL minted as the gallery's are, so that it shows whether
/// signing is on or not.
pub(crate) fn home(renderer: &Renderer, signer: &Signer, bands: &LevelBands) -> String {
    use sharecard_render::card::TemplateName;
    use sharecard_render::card::query::Params;
    // The same `TemplateInfo` that /templates and the gallery serialise.
    let templates: Vec<_> = renderer.templates().infos().collect();
    let shown = templates
        .iter()
        .find(|t| t.name == "report")
        .or(templates.first());
    let example = shown.and_then(|t| {
        let params = Params::parse(Some(HOME_EXAMPLE_QUERY)).ok()?;
        let req = match renderer.templates().card_request(
            TemplateName::parse(&t.name)?,
            &params,
            bands,
        )? {
            Ok(req) => req,
            Err(_) => renderer
                .templates()
                .sample_request(&t.name, t.schema.samples.first()?, "", bands)
                .ok()?,
        };
        Some(Example {
            url: super::urls::card_url(signer, &req, Format::Png, &t.version, false, u64::MAX),
            width: t.width / 2,
            height: t.height / 2,
        })
    });
    env()
        .get_template("home.html")
        .and_then(|t| {
            t.render(minijinja::context! {
                site_name => renderer.brand(),
                templates => minijinja::Value::from(minijinja::value::Serde(&templates)),
                signed => signer.enabled(),
                example => example.map(|e| minijinja::Value::from(minijinja::value::Serde(e))),
            })
        })
        .expect("the front page renders")
}

/// The page a person gets instead of a share page: what is wrong, in
/// words, and the way back to the site. (API clients get the same error
/// as JSON.)
pub(crate) fn error_page(err: &ApiError, site_name: &str, site_url: &str) -> String {
    let (title, explanation) = in_words(err);
    env()
        .get_template("error.html")
        .and_then(|t| {
            t.render(minijinja::context! {
                title => title,
                explanation => explanation,
                // The JSON message marks names with backticks; a page
                // has no Markdown.
                details => err.message.replace('`', "\""),
                status => err.status,
                code => err.code,
                site_name => site_name,
                site_url => site_url,
            })
        })
        .expect("the error page renders any escaped strings")
}

/// A title and a sentence for a person who followed a link.
fn in_words(err: &ApiError) -> (&'static str, String) {
    let field = err.field.as_deref().map(|f| match f {
        "role" => "job title",
        "tagline" => "tagline",
        "risk" => "risk percentage",
        "level" => "risk level",
        "threat" => "main threat",
        "threat_risk" => "main threat's percentage",
        "theme" => "colour theme",
        "scale" => "image size",
        "sig" | "exp" => "signature",
        _ => "address",
    });
    let title = "This card can’t be shown";
    let sentence = match (err.status, err.code, field) {
        (404, ..) => {
            return (
                "This card doesn’t exist",
                "The link points to a card design that isn’t here. It may be mistyped or out of date."
                    .to_owned(),
            );
        }
        (403, "signature_expired", _) => "This link has expired. Ask whoever shared it for a new one.".to_owned(),
        (403, ..) => "This link isn’t complete: its signature is missing or doesn’t match. It may have been cut short or edited.".to_owned(),
        (414, ..) => "This link is far longer than any card’s address.".to_owned(),
        (422, _, Some(field)) => format!(
            "The card’s {field} has characters we can’t draw yet, so there is no image to show."
        ),
        (_, "missing_field", Some(field)) => format!("The link is missing the card’s {field}."),
        (_, "too_long", Some(field)) => format!("The card’s {field} is longer than a card has room for."),
        (_, _, Some(field)) => format!("The card’s {field} in this link can’t be used."),
        (s, ..) if s >= 500 => "Something went wrong on our side. Please try again in a moment.".to_owned(),
        _ => "This link can’t be turned into a card.".to_owned(),
    };
    (title, sentence)
}

pub(crate) const ROBOTS_TXT: &str = "\
# Crawlers may fetch share pages and card images: link previews need both.
User-agent: *
Allow: /share/
Allow: /cards/
Disallow: /metrics
Disallow: /preview
";

/// The preview gallery: every template × theme for every sample card, each
/// image with its exact URL, an @2x link and a download link.
pub(crate) fn preview(
    renderer: &Renderer,
    signer: &Signer,
    reloads: bool,
    reload_error: Option<String>,
) -> String {
    use sharecard_render::card::Theme;
    let card_url = |req: &CardRequest, version: &str, download: bool| {
        super::urls::card_url(signer, req, Format::Png, version, download, u64::MAX)
    };
    let templates: Vec<_> = renderer.templates().infos().cloned().collect();
    // Templates with the same samples (the report card's three layouts)
    // share rows: one row a sample, one column a template and theme.
    let mut groups: Vec<Vec<&sharecard_render::template::TemplateInfo>> = Vec::new();
    for info in &templates {
        match groups
            .iter_mut()
            .find(|g| g[0].schema.samples == info.schema.samples)
        {
            Some(g) => g.push(info),
            None => groups.push(vec![info]),
        }
    }
    // One section a sample for templates that share their samples (the
    // report card's layouts side by side); one section a template for a
    // template with samples of its own, its samples side by side, so
    // that a row is full either way.
    let mut cards = Vec::new();
    for group in &groups {
        let lead = &group[0];
        let shared = group.len() > 1;
        let mut merged = Vec::new();
        let mut merged_problems = Vec::new();
        for sample in &lead.schema.samples {
            let mut entries = Vec::new();
            let mut problem = None;
            let id = if group.iter().any(|t| t.name == "report") {
                sample.slug.clone()
            } else {
                format!("{}-{}", lead.name, sample.slug)
            };
            'outer: for info in group {
                for theme in Theme::ALL {
                    let extra = match theme {
                        Theme::Dark => "",
                        Theme::Light => "theme=light",
                    };
                    let req = match renderer.templates().sample_request(
                        &info.name,
                        sample,
                        extra,
                        &LevelBands::default(),
                    ) {
                        Ok(r) => r,
                        Err(e) => {
                            problem = Some(e.message().to_owned());
                            break 'outer;
                        }
                    };
                    if let Err(e) = renderer.check_coverage(&req.card) {
                        problem = Some(format!(
                            "Not rendered with the loaded fonts (a request gets 422): {}",
                            e.message()
                        ));
                        break 'outer;
                    }
                    let at2 = CardRequest {
                        scale: Scale::new(2).expect("2"),
                        ..req.clone()
                    };
                    entries.push(minijinja::context! {
                        id => format!("{id}-{}", theme.as_str()),
                        label => if shared { String::new() } else { sample.slug.clone() },
                        template => info.name.clone(),
                        theme => theme.as_str(),
                        width => info.width,
                        height => info.height,
                        url => card_url(&req, &info.version, false),
                        url2x => card_url(&at2, &info.version, false),
                        download => card_url(&at2, &info.version, true),
                    });
                }
            }
            let role = sample
                .value
                .get("role")
                .and_then(|r| r.as_str())
                .unwrap_or(&sample.slug)
                .to_owned();
            if problem.is_some() {
                entries.clear(); // a sample not drawn at all, with why
            }
            if shared {
                cards.push(minijinja::context! {
                    slug => id,
                    role => role,
                    entries => entries,
                    problems => problem.into_iter().collect::<Vec<_>>(),
                });
            } else {
                merged.extend(entries);
                if let Some(p) = problem {
                    merged_problems.push(format!("{}: {p}", sample.slug));
                }
            }
        }
        if !shared {
            cards.push(minijinja::context! {
                slug => lead.name.clone(),
                role => lead.schema.summary.clone(),
                entries => merged,
                problems => merged_problems,
            });
        }
    }
    let themes: Vec<&str> = Theme::ALL.iter().map(|t| t.as_str()).collect();
    env()
        .get_template("preview.html")
        .and_then(|t| {
            t.render(minijinja::context! {
                templates => templates.iter().map(|t| t.name.clone()).collect::<Vec<_>>(),
                themes => themes,
                cards => cards,
                error => reload_error,
                // Whether templates reload, never where they are: anyone
                // may open this page.
                reloads => reloads,
            })
        })
        .expect("the preview page renders")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::report as req;

    #[test]
    fn share_page_escapes_everything() {
        let r = req("role=%3Cscript%3Ex%3C%2Fscript%3E&risk=1&tagline=%22%3E%3Cimg%3E");
        let d = crate::test_support::renderer()
            .templates()
            .describe(&r)
            .unwrap();
        let page = SharePage {
            title: d.title,
            description: d.summary,
            alt: d.alt,
            site_name: "x".into(),
            page_url: "https://a/?q=\"><".into(),
            image_url: "https://a/i.png?a=1&b=2".into(),
            image_path: "/i.png?a=1&b=2".into(),
            webp_path: "/i.webp?a=1&b=2".into(),
            download_path: "/d".into(),
            hidpi: true,
            file_name: "f.png".into(),
            role_url: "https://a/r".into(),
            width: 1200,
            height: 630,
        }
        .render();
        assert!(!page.contains("<script>"));
        assert!(!page.contains("<img>"));
        assert!(page.contains("&lt;script&gt;"));
        assert!(page.contains("i.png?a=1&amp;b=2"));
    }
}
