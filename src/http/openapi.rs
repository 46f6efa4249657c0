//! The API described in OpenAPI 3.1, built from the definitions the parser
//! uses (field limits, levels, themes, scales, templates, error codes), so
//! the document cannot drift from what the service accepts. Served at
//! `/openapi.json`; `openapi.json` in the repository is this document for
//! the bundled templates, and a test keeps the two equal.

use serde_json::{Value, json};
use sharecard_render::card::{Level, ROLE_MAX, Scale, TAGLINE_MAX, THREAT_MAX, Theme};
use sharecard_render::render::Renderer;

use super::error::ERROR_CODES;
use super::request::MAX_URI_BYTES;

/// The formats a card is served in (`/cards/{template}.{extension}`):
/// also the `formats` of `/templates`.
pub(crate) fn card_formats() -> Value {
    crate::cache::Format::ALL
        .iter()
        .map(|f| json!({ "extension": f.as_str(), "media_type": f.media_type() }))
        .collect()
}

/// The card's query parameters as JSON Schemas with their limits, by name:
/// also the `parameters` of `/templates`.
pub(crate) fn card_parameters() -> Value {
    let text = |max: usize, what: &str| {
        json!({
            "type": "string",
            "minLength": 1,
            "maxLength": max,
            "description": format!("{what} At most {max} characters; runs of whitespace are collapsed to one space, and a value with no visible character is refused (400 `empty_field`); control and bidi-override characters are refused, and every character must be one the loaded fonts draw (else 422)."),
        })
    };
    let percent = |what: &str| json!({ "type": "integer", "minimum": 0, "maximum": 100, "description": what });
    json!({
        "role": text(ROLE_MAX, "The job title. Required."),
        "tagline": text(TAGLINE_MAX, "A line under the title."),
        "risk": percent("The headline risk percentage. Required."),
        "level": {
            "type": "string",
            "enum": Level::ALL.iter().map(|l| l.as_str()).collect::<Vec<_>>(),
            "description": "The risk level; by default from `risk` and the service's level bands.",
        },
        "threat": text(THREAT_MAX, "The primary threat: a task name. Requires `threat_risk`."),
        "threat_risk": percent("How automated the threat is. Requires `threat`."),
        "theme": {
            "type": "string",
            "enum": Theme::ALL.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            "default": "dark",
        },
        "scale": {
            "type": "integer",
            "minimum": 1,
            "maximum": Scale::MAX,
            "default": 1,
            "description": "Pixel density: 2 and 3 multiply both dimensions.",
        },
    })
}

/// `download`, a parameter of the image URLs only (not of share pages).
pub(crate) fn download_schema() -> Value {
    json!({
        "type": "string",
        "enum": ["1", "true", "0", "false"],
        "description": "Image URLs only. 1: `Content-Disposition: attachment` with the card's file name.",
    })
}

/// Which card parameters a request must carry.
const REQUIRED: [&str; 2] = ["role", "risk"];

fn query_parameters(with_download: bool) -> Vec<Value> {
    let Value::Object(card) = card_parameters() else {
        unreachable!("an object")
    };
    let mut params: Vec<Value> = card
        .into_iter()
        .map(|(name, schema)| {
            let required = REQUIRED.contains(&name.as_str());
            // An optional parameter given empty (`level=`) is absent; any
            // other value, whitespace included, must match its schema.
            let mut p = json!({
                "name": name,
                "in": "query",
                "required": required,
                "allowEmptyValue": !required,
                "schema": schema,
            });
            if !required {
                p["description"] = json!(
                    "Optional. Given empty (`name=`, as an HTML form sends an empty input), it is absent; any other value must match the schema exactly."
                );
            }
            p
        })
        .collect();
    if with_download {
        params.push(json!({
            "name": "download",
            "in": "query",
            "required": false,
            "allowEmptyValue": false,
            "schema": download_schema(),
            "description": "1: `Content-Disposition: attachment` with the card's file name.",
        }));
    }
    params.extend([
        json!({
            "name": "v",
            "in": "query",
            "schema": { "type": "string" },
            "description": "The template's version (`/templates`). Not part of the card: a URL with the current version gets an immutable lifetime.",
        }),
        json!({
            "name": "exp",
            "in": "query",
            "schema": { "type": "string" },
            "description": "With signing on: Unix seconds after which the signed URL is refused (signed with the rest; anything but a number is a 403). Ignored with signing off.",
        }),
        json!({
            "name": "sig",
            "in": "query",
            "schema": { "type": "string" },
            "description": "With signing on, required: the URL's HMAC-SHA256 signature, 43 characters of unpadded base64url (README, \"Signed URLs\"); anything else is a 403. Ignored with signing off.",
        }),
    ]);
    params
}

fn template_parameter(names: &[&str]) -> Value {
    json!({
        "name": "template",
        "in": "path",
        "required": true,
        "schema": { "type": "string", "enum": names },
    })
}

fn error(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } },
    })
}

fn page(description: &str) -> Value {
    json!({ "description": description, "content": { "text/html": { "schema": { "type": "string" } } } })
}

/// The whole document, for the templates `renderer` has loaded.
pub(crate) fn document(renderer: &Renderer) -> Value {
    let names: Vec<&str> = renderer
        .templates()
        .infos()
        .map(|t| t.name.as_str())
        .collect();
    let image = |media: &str| json!({ media: { "schema": { "type": "string", "contentMediaType": media } } });
    let card_responses = |media: &str| {
        json!({
            "200": {
                "description": "The card. `ETag` names these bytes; a first response may be a short-lived draft (README, \"Behind a CDN\").",
                "headers": {
                    "ETag": { "schema": { "type": "string" } },
                    "Cache-Control": { "schema": { "type": "string" } },
                },
                "content": image(media),
            },
            "206": { "description": "The one byte range asked for.", "content": image(media) },
            "304": { "description": "The client's copy (`If-None-Match`) is current." },
            "308": { "description": "The same route without a trailing slash (`Location`)." },
            "400": error("A parameter is missing, invalid, repeated or badly encoded (`field` names it)."),
            "403": error("Signing is on and the signature is missing, malformed, wrong or expired."),
            "404": error("No such template."),
            "414": error(&format!("The request target is over {MAX_URI_BYTES} bytes.")),
            "416": error("The range is past the end of the image."),
            "422": error("A character no loaded font can draw."),
            "503": error("Renders are saturated or too slow; `Retry-After` says when to retry."),
        })
    };
    let share_responses = json!({
        "200": page("The share page: `og:` and `twitter:` tags pointing at the card."),
        "308": { "description": "The same route without a trailing slash (`Location`)." },
        "400": page("What is wrong with the link, in words."),
        "403": page("The link's signature is missing or wrong, in words."),
        "404": page("No such template, in words."),
        "414": page("The link is too long, in words."),
        "422": page("A character no loaded font can draw, in words."),
    });
    let simple = |description: &str, media: &str| {
        json!({ "get": { "summary": description, "responses": { "200": {
            "description": description,
            "content": { media: { "schema": { "type": "string" } } },
        } } } })
    };
    let parameters = |download: bool| {
        let mut all = vec![template_parameter(&names)];
        all.extend(query_parameters(download));
        all
    };
    let card_op = |summary: &str, media: &str| json!({ "summary": summary, "parameters": parameters(true), "responses": card_responses(media) });
    let share_op = |summary: &str| json!({ "summary": summary, "parameters": parameters(false), "responses": share_responses });
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "sharecard",
            "version": env!("CARGO_PKG_VERSION"),
            "summary": "Social share cards (AI automation risk report cards) as PNG or WebP, and the share pages that point at them.",
            "license": { "name": "MIT", "identifier": "MIT" },
        },
        "paths": {
            "/cards/{template}.png": {
                "get": card_op("A card as PNG", "image/png"),
                "head": card_op("A card's headers", "image/png"),
            },
            "/cards/{template}.webp": {
                "get": card_op("The same card as lossless WebP: the PNG's pixels, in fewer bytes, for pages that embed it (its URL is signed on its own)", "image/webp"),
                "head": card_op("A WebP card's headers", "image/webp"),
            },
            "/share/{template}": {
                "get": share_op("A card's share page"),
                "head": share_op("A share page's headers"),
            },
            "/templates": { "get": {
                "summary": "The templates and the card parameters",
                "responses": { "200": {
                    "description": "The templates, and each card parameter's type and limits.",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Templates" } } },
                } },
            } },
            "/openapi.json": { "get": { "summary": "This document", "responses": { "200": {
                "description": "This document.",
                "content": { "application/json": { "schema": { "type": "object" } } },
            } } } },
            "/": simple("The front page", "text/html"),
            "/preview": simple("Every template × theme for the sample cards", "text/html"),
            "/robots.txt": simple("robots.txt", "text/plain"),
            "/favicon.ico": simple("The icon", "image/vnd.microsoft.icon"),
            "/healthz": { "get": { "summary": "Liveness", "responses": {
                "200": { "description": "The process serves.", "content": { "application/json": { "schema": { "type": "object" } } } },
            } } },
            "/readyz": { "get": { "summary": "Readiness", "responses": {
                "200": { "description": "Ready: the self-test render passed.", "content": { "application/json": { "schema": { "type": "object" } } } },
                "503": error("Not ready yet."),
            } } },
            "/metrics": { "get": { "summary": "Metrics (unless --metrics-listen moves them)", "responses": {
                "200": {
                    "description": "OpenMetrics when `Accept` asks for it, else Prometheus text 0.0.4.",
                    "content": {
                        "application/openmetrics-text": { "schema": { "type": "string" } },
                        "text/plain": { "schema": { "type": "string" } },
                    },
                },
                "404": error("Metrics are on --metrics-listen."),
            } } },
        },
        "components": { "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": { "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {
                            "type": "string",
                            "enum": ERROR_CODES.iter().map(|(_, c)| *c).collect::<Vec<_>>(),
                            "description": "Stable and machine-readable.",
                        },
                        "message": { "type": "string", "description": "For people; may change." },
                        "field": { "type": "string", "description": "The parameter at fault." },
                    },
                } },
            },
            "Templates": {
                "type": "object",
                "required": ["templates", "formats", "parameters"],
                "properties": {
                    "templates": { "type": "array", "items": {
                        "type": "object",
                        "required": ["name", "width", "height", "themes", "fields", "version"],
                        "properties": {
                            "name": { "type": "string" },
                            "width": { "type": "integer" },
                            "height": { "type": "integer" },
                            "themes": { "type": "array", "items": { "type": "string" } },
                            "fields": { "type": "array", "items": { "type": "string" } },
                            "version": { "type": "string" },
                        },
                    } },
                    "formats": { "type": "array", "items": {
                        "type": "object",
                        "required": ["extension", "media_type"],
                        "description": "A card's URL is /cards/{template}.{extension}: the same pixels in each format (WebP is lossless), each URL signed on its own.",
                        "properties": {
                            "extension": { "type": "string", "enum": ["png", "webp"] },
                            "media_type": { "type": "string" },
                        },
                    } },
                    "parameters": {
                        "type": "object",
                        "description": "Each card parameter's JSON Schema: type and limits.",
                        "additionalProperties": { "type": "object" },
                    },
                    "reload_error": {
                        "type": "string",
                        "description": "With --templates-dir: why the files there do not load now (the last good templates are served).",
                    },
                },
            },
        } },
    })
}
