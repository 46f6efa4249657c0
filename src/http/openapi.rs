//! The API described in OpenAPI 3.1, built from the definitions the parser
//! uses (field limits, levels, themes, scales, templates, error codes), so
//! the document cannot drift from what the service accepts. Served at
//! `/openapi.json`; `openapi.json` in the repository is this document for
//! the bundled templates, and a test keeps the two equal.

use serde_json::{Value, json};
use sharecard_render::card::schema::{Default as FieldDefault, Field, Kind, Schema};
use sharecard_render::card::{Scale, Theme};
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

/// A field's value as a JSON Schema, from its declaration.
fn field_schema(f: &Field) -> Value {
    let mut v = match &f.kind {
        Kind::Text { max } => json!({
            "type": "string",
            "minLength": 1,
            "maxLength": max,
            "description": format!("{} At most {max} characters; runs of whitespace are collapsed to one space, and a value with no visible character is refused (400 `empty_field`); control and bidi-override characters are refused, and every character must be one the loaded fonts draw (else 422).", f.description),
        }),
        Kind::Integer { min, max } => {
            json!({ "type": "integer", "minimum": min, "maximum": max, "description": f.description })
        }
        Kind::Percent => {
            json!({ "type": "integer", "minimum": 0, "maximum": 100, "description": f.description })
        }
        Kind::Enum { values } => {
            json!({ "type": "string", "enum": values, "description": f.description })
        }
        Kind::Image { values } => {
            json!({ "type": "string", "enum": values, "description": format!("{} One of the template set's assets, by name.", f.description) })
        }
        Kind::Record { .. } | Kind::List { .. } => json!({ "type": "string" }),
    };
    match &f.default {
        Some(FieldDefault::Value(d)) => v["default"] = d.clone(),
        Some(FieldDefault::LevelOf(src)) => {
            v["description"] = json!(format!(
                "{} By default the level of `{src}` under the service's level bands.",
                f.description
            ));
        }
        None => {}
    }
    if let Some(e) = &f.example {
        v["examples"] = json!([e]);
    }
    v
}

/// A template's card parameters as `(name, JSON Schema, required)`, lists
/// spelled out item by item, then `theme` and `scale`.
fn template_parameters(schema: &Schema) -> Vec<(String, Value, bool)> {
    let mut out = Vec::new();
    for f in &schema.fields {
        match &f.kind {
            Kind::Record { fields } => {
                let partners: Vec<&str> = fields.iter().map(|m| m.param.as_str()).collect();
                for m in fields {
                    let mut v = field_schema(m);
                    v["description"] = json!(format!(
                        "{} Given together with {}.",
                        v["description"].as_str().unwrap_or(""),
                        partners
                            .iter()
                            .filter(|p| **p != m.param)
                            .map(|p| format!("`{p}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                    out.push((m.param.clone(), v, f.required && m.required));
                }
            }
            Kind::List { min, max, fields } => {
                for i in 0..*max {
                    for m in fields {
                        let mut v = field_schema(m);
                        v["description"] = json!(format!(
                            "Item {i} of `{}` ({min} to {max} items, indices from 0 without gaps): {}",
                            f.name,
                            v["description"].as_str().unwrap_or("")
                        ));
                        out.push((
                            format!("{}.{i}.{}", f.name, m.name),
                            v,
                            i < *min && m.required,
                        ));
                    }
                }
            }
            _ => out.push((f.param.clone(), field_schema(f), f.required)),
        }
    }
    out.push((
        "theme".into(),
        json!({
            "type": "string",
            "enum": Theme::ALL.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            "default": "dark",
        }),
        false,
    ));
    out.push((
        "scale".into(),
        json!({
            "type": "integer",
            "minimum": 1,
            "maximum": Scale::MAX,
            "default": 1,
            "description": "Pixel density: 2 and 3 multiply both dimensions.",
        }),
        false,
    ));
    out
}

/// The card's query parameters as JSON Schemas with their limits, by name:
/// the `parameters` of a template in `/templates`.
pub(crate) fn card_parameters(schema: &Schema) -> Value {
    Value::Object(
        template_parameters(schema)
            .into_iter()
            .map(|(name, v, _)| (name, v))
            .collect(),
    )
}

/// `download`, a parameter of the image URLs only (not of share pages).
pub(crate) fn download_schema() -> Value {
    json!({
        "type": "string",
        "enum": ["1", "true", "0", "false"],
        "description": "Image URLs only. 1: `Content-Disposition: attachment` with the card's file name.",
    })
}

fn query_parameters(schema: &Schema, with_download: bool) -> Vec<Value> {
    let mut params: Vec<Value> = template_parameters(schema)
        .into_iter()
        .map(|(name, schema, required)| {
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

/// `report` → `Report`, `cost-of-ai` → `CostOfAi`: for operation ids.
fn camel(name: &str) -> String {
    name.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
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
pub(crate) fn document(renderer: &Renderer, public_url: &str) -> Value {
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
    let simple = |id: &str, tag: &str, description: &str, media: &str| {
        json!({ "get": { "operationId": id, "tags": [tag], "summary": description, "description": description, "responses": { "200": {
            "description": description,
            "content": { media: { "schema": { "type": "string" } } },
        } } } })
    };
    let mut paths = serde_json::Map::new();
    for info in renderer.templates().infos() {
        let schema = &info.schema;
        let name = &info.name;
        let id = camel(name);
        let card_op = |verb: &str, ext: &str, media: &str| {
            json!({
                "operationId": format!("{verb}{id}{}", camel(ext)),
                "tags": ["cards"],
                "summary": format!("{}{}", if verb == "head" { "Headers of " } else { "" }, schema.summary),
                "description": format!("{} As {}, {}×{} px at scale 1.{}", schema.description, ext.to_uppercase(), info.width, info.height,
                    if ext == "webp" { " The same pixels as the PNG (lossless), in fewer bytes, for pages that embed it; its URL is signed on its own." } else { "" }),
                "parameters": query_parameters(schema, true),
                "responses": card_responses(media),
            })
        };
        let share_op = |verb: &str| {
            json!({
                "operationId": format!("{verb}{id}SharePage"),
                "tags": ["share pages"],
                "summary": format!("{}The share page of: {}", if verb == "head" { "Headers of " } else { "" }, schema.summary),
                "description": "The page a shared link points to: `og:` and `twitter:` tags pointing at the card, and the card with a download button for people. Its wording comes from the template's declaration.",
                "parameters": query_parameters(schema, false),
                "responses": share_responses.clone(),
            })
        };
        paths.insert(format!("/cards/{name}.png"), json!({ "get": card_op("get", "png", "image/png"), "head": card_op("head", "png", "image/png") }));
        paths.insert(format!("/cards/{name}.webp"), json!({ "get": card_op("get", "webp", "image/webp"), "head": card_op("head", "webp", "image/webp") }));
        paths.insert(
            format!("/share/{name}"),
            json!({ "get": share_op("get"), "head": share_op("head") }),
        );
    }
    let service = json!({
            "/templates": { "get": {
                "operationId": "listTemplates",
                "tags": ["service"],
                "summary": "The templates and their card parameters",
                "description": "Each template's size, themes, version, parameters (JSON Schemas with their limits) and formats.",
                "responses": { "200": {
                    "description": "The templates, and each card parameter's type and limits.",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Templates" } } },
                } },
            } },
            "/openapi.json": { "get": { "operationId": "getOpenApi", "tags": ["service"], "summary": "This document", "description": "This document, for the templates loaded now.", "responses": { "200": {
                "description": "This document.",
                "content": { "application/json": { "schema": { "type": "object" } } },
            } } } },
            "/": simple("getFrontPage", "pages", "The front page", "text/html"),
            "/preview": simple("getGallery", "pages", "Every template × theme for its sample cards", "text/html"),
            "/robots.txt": simple("getRobots", "pages", "robots.txt", "text/plain"),
            "/favicon.ico": simple("getFavicon", "pages", "The icon", "image/vnd.microsoft.icon"),
            "/healthz": { "get": { "operationId": "getHealth", "tags": ["operations"], "summary": "Liveness", "description": "200 while the process serves.", "responses": {
                "200": { "description": "The process serves.", "content": { "application/json": { "schema": { "type": "object" } } } },
            } } },
            "/readyz": { "get": { "operationId": "getReadiness", "tags": ["operations"], "summary": "Readiness", "description": "200 once the self-test render passed.", "responses": {
                "200": { "description": "Ready: the self-test render passed.", "content": { "application/json": { "schema": { "type": "object" } } } },
                "503": error("Not ready yet."),
            } } },
            "/metrics": { "get": { "operationId": "getMetrics", "tags": ["operations"], "summary": "Metrics (unless --metrics-listen moves them)", "description": "Prometheus metrics.", "responses": {
                "200": {
                    "description": "OpenMetrics when `Accept` asks for it, else Prometheus text 0.0.4.",
                    "content": {
                        "application/openmetrics-text": { "schema": { "type": "string" } },
                        "text/plain": { "schema": { "type": "string" } },
                    },
                },
                "404": error("Metrics are on --metrics-listen."),
            } } },
    });
    if let Value::Object(m) = service {
        paths.extend(m);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "sharecard",
            "version": env!("CARGO_PKG_VERSION"),
            "summary": "Social share cards (AI automation risk report cards) as PNG or WebP, and the share pages that point at them.",
            "description": "Each template declares its card's fields; every operation under /cards and /share is one template's, with that template's parameters. Signed URLs, validators and lifetimes: see the README.",
            "contact": { "name": "sharecard", "url": "https://github.com/sharecard/sharecard" },
            "license": { "name": "MIT", "identifier": "MIT" },
        },
        "servers": [{ "url": public_url, "description": "This service, at its public URL." }],
        "tags": [
            { "name": "cards", "description": "Card images, one operation a template and format." },
            { "name": "share pages", "description": "The pages shared links point to." },
            { "name": "service", "description": "What the service offers: templates and this document." },
            { "name": "pages", "description": "Pages for people." },
            { "name": "operations", "description": "Health, readiness and metrics." },
        ],
        "paths": paths,
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
                        "required": ["name", "width", "height", "themes", "fields", "version", "summary", "description", "parameters"],
                        "properties": {
                            "name": { "type": "string" },
                            "width": { "type": "integer" },
                            "height": { "type": "integer" },
                            "themes": { "type": "array", "items": { "type": "string" } },
                            "fields": { "type": "array", "items": { "type": "string" } },
                            "version": { "type": "string" },
                            "summary": { "type": "string", "description": "What the card shows, in a line." },
                            "description": { "type": "string", "description": "What the card shows." },
                            "parameters": {
                                "type": "object",
                                "description": "This template's card parameters and `download`, each as its JSON Schema (type and limits), by name; list fields item by item (`tasks.0.name`).",
                                "additionalProperties": { "type": "object" },
                            },
                            "example": {
                                "type": "string",
                                "description": "The card URL of the template's first sample, path and query, as the service hands it out (signed when signing is on). Absent when the template declares no sample.",
                            },
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
                        "description": "The `report` template's parameters (else the first template's), as before each template had its own: see `templates[].parameters`.",
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
