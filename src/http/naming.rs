//! A card as a file: the download name and its `Content-Disposition`,
//! beside the card's own naming (`sharecard_render::card::naming`).

use sharecard_render::card::CardRequest;
use sharecard_render::card::naming::FileName;
use sharecard_render::card::query::encode_component;
use sharecard_render::template::Templates;

use crate::cache::Format;

/// `Content-Disposition: attachment` for a card download in `format`.
pub(crate) fn content_disposition(
    templates: &Templates,
    req: &CardRequest,
    format: Format,
) -> String {
    let FileName { ascii, unicode } = templates.file_name(req);
    let in_format = |name: String| match name.strip_suffix(".png") {
        Some(stem) => format!("{stem}.{}", format.as_str()),
        None => name,
    };
    let (ascii, utf8) = (in_format(ascii), in_format(unicode));
    if ascii == utf8 {
        format!("attachment; filename=\"{ascii}\"")
    } else {
        format!(
            "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
            encode_component(&utf8)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::report as req;

    #[test]
    fn download_names() {
        let cases = [
            (
                "role=ML+Engineer&risk=1",
                "attachment; filename=\"ml-engineer-report.png\"",
            ),
            (
                "role=ML+Engineer&risk=1&scale=2&theme=light",
                "attachment; filename=\"ml-engineer-report-light@2x.png\"",
            ),
            (
                "role=Ing%C3%A9nieure&risk=1",
                "attachment; filename=\"ingenieure-report.png\"; filename*=UTF-8''ing%C3%A9nieure-report.png",
            ),
            (
                "role=%D0%98%D0%BD&risk=1",
                "attachment; filename=\"in-report.png\"; filename*=UTF-8''%D0%B8%D0%BD-report.png",
            ),
        ];
        let renderer = crate::test_support::renderer();
        for (q, want) in cases {
            assert_eq!(
                content_disposition(renderer.templates(), &req(q), Format::Png),
                want,
                "{q}"
            );
            let webp = want.replace(".png", ".webp");
            assert_eq!(
                content_disposition(renderer.templates(), &req(q), Format::Webp),
                webp,
                "{q}"
            );
        }
    }
}
