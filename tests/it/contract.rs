//! The OpenAPI document: the one in the repository is the one served, and
//! every limit it states is the parser's.

use hyper::StatusCode;
use serde_json::Value;

use crate::helpers::*;

/// `SHARECARD_UPDATE_OPENAPI=1 cargo test contract` rewrites the
/// repository's copy after an intended change.
#[tokio::test]
async fn the_repository_openapi_json_is_the_served_document() {
    let app = spawn_app().await;
    let r = app.get("/openapi.json").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("content-type").starts_with("application/json"));
    let served: Value = r.json();
    assert_eq!(served["openapi"], "3.1.0");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
    if std::env::var_os("SHARECARD_UPDATE_OPENAPI").is_some() {
        let mut text = serde_json::to_string_pretty(&served).unwrap();
        text.push('\n');
        std::fs::write(path, text).unwrap();
    }
    let kept: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(
        kept == served,
        "openapi.json differs from /openapi.json: run SHARECARD_UPDATE_OPENAPI=1 cargo test contract"
    );
}

/// The query parameters of `/cards/{template}.png` in the document.
fn card_parameters(doc: &Value) -> Vec<Value> {
    doc["paths"]["/cards/report.png"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["in"] == "query")
        .cloned()
        .collect()
}

#[tokio::test]
async fn every_limit_the_document_states_is_the_parsers() {
    let app = spawn_app().await;
    let doc: Value = app.get("/openapi.json").await.json();
    // A card with `name` set to `value` and whatever else it needs.
    let url = |name: &str, value: &str| {
        let mut q = vec![format!("{name}={}", urlencode(value))];
        for (other, v) in [("role", "a"), ("risk", "1")] {
            if other != name {
                q.push(format!("{other}={v}"));
            }
        }
        // Each needs the other (an empty one is absent, and so is its pair).
        match name {
            "threat" if !value.is_empty() => q.push("threat_risk=1".into()),
            "threat_risk" if !value.is_empty() => q.push("threat=a".into()),
            _ => {}
        }
        format!("/cards/report.png?{}", q.join("&"))
    };
    let mut checked = 0;
    for p in card_parameters(&doc) {
        let name = p["name"].as_str().unwrap();
        let schema = &p["schema"];
        if ["v", "exp", "sig"].contains(&name) {
            continue; // not part of the card; signing is off here
        }
        let mut accepted: Vec<String> = Vec::new();
        let mut refused: Vec<String> = Vec::new();
        // Empty is absent for an optional parameter, a mistake for a
        // required one.
        if p["allowEmptyValue"] == true {
            assert_ne!(p["required"], true, "{name}");
            accepted.push("".into());
        } else {
            refused.push("".into());
        }
        if let Some(max) = schema["maxLength"].as_u64() {
            accepted.push("a".repeat(max as usize));
            refused.push("a".repeat(max as usize + 1));
        }
        if let (Some(min), Some(max)) = (schema["minimum"].as_i64(), schema["maximum"].as_i64()) {
            accepted.extend([min.to_string(), max.to_string()]);
            refused.extend([(min - 1).to_string(), (max + 1).to_string(), "1.5".into()]);
        }
        if let Some(values) = schema["enum"].as_array() {
            accepted.extend(values.iter().map(|v| v.as_str().unwrap().to_owned()));
            refused.push("nope".into());
        }
        let stated = ["maxLength", "maximum", "enum"]
            .iter()
            .any(|k| schema.get(k).is_some());
        assert!(stated, "{name}: no limits stated");
        for v in &accepted {
            let r = app.get(&url(name, v)).await;
            assert_eq!(
                r.status,
                StatusCode::OK,
                "{name}={v:?} is within the document"
            );
        }
        for v in &refused {
            let r = app.get(&url(name, v)).await;
            assert_eq!(
                r.status,
                StatusCode::BAD_REQUEST,
                "{name}={v:?} is outside it"
            );
            let field = r.error().1;
            assert_eq!(field.as_deref(), Some(name), "{name}={v:?}");
        }
        if p["required"] == true {
            let q = url(name, "x").replace(&format!("{name}=x"), "");
            let r = app.get(&q).await;
            assert_eq!(
                r.error(),
                ("missing_field".into(), Some(name.to_owned())),
                "{q}"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 9, "every card parameter and download");
    // The template enum is the templates there are.
    let templates: Value = app.get("/templates").await.json();
    let names: Vec<&Value> = templates["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["name"])
        .collect();
    // Each template is operations of its own, with an id, tags and a
    // summary, in each format and as a share page.
    for name in &names {
        let name = name.as_str().unwrap();
        for path in [
            format!("/cards/{name}.png"),
            format!("/cards/{name}.webp"),
            format!("/share/{name}"),
        ] {
            for verb in ["get", "head"] {
                let op = &doc["paths"][&path][verb];
                assert!(op["operationId"].is_string(), "{verb} {path}");
                assert!(
                    op["summary"].is_string() && op["tags"].is_array(),
                    "{verb} {path}"
                );
            }
        }
    }
    // /templates gives each parameter's type and limits, as the document.
    for p in card_parameters(&doc) {
        let name = p["name"].as_str().unwrap();
        if ["v", "exp", "sig"].contains(&name) {
            continue; // the URL's, not the card's: README, "Signed URLs"
        }
        let schema = templates["parameters"].get(name);
        assert_eq!(schema, Some(&p["schema"]), "/templates lists {name}");
    }
    assert!(templates["parameters"]["download"].is_object());
    assert_eq!(templates["parameters"]["role"]["maxLength"], 80);
}

fn urlencode(s: &str) -> String {
    sharecard_render::card::query::encode_component(s)
}
