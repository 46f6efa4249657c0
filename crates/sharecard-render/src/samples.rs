//! The bundled report card's samples (templates/samples.json), for tests,
//! benches and tools that want report cards without loading fonts. Every
//! template's own samples are its declaration's
//! ([`crate::card::schema::Schema::samples`]).

use std::sync::Arc;

use crate::card::query::{Params, encode_pair};
use crate::card::schema::{SampleCard, Schema};
use crate::card::{CardRequest, LevelBands, TemplateName};
use crate::error::CardError;

/// A sample report card.
#[derive(Debug, Clone)]
pub struct Sample {
    pub slug: String,
    card: SampleCard,
    schema: Arc<Schema>,
}

/// The bundled report card's samples, in file order.
pub fn all() -> Vec<Sample> {
    let schema = crate::template::bundled_schema("report").expect("the bundled report declaration");
    schema
        .samples
        .iter()
        .map(|c| Sample {
            slug: c.slug.clone(),
            card: c.clone(),
            schema: schema.clone(),
        })
        .collect()
}

impl Sample {
    /// The sample as a query string, each text cut to its field's limit
    /// (some stress samples are longer on purpose).
    pub fn query(&self) -> String {
        self.query_clipped(true)
    }

    /// The sample as a query string exactly as the fixture has it, texts
    /// over their limits included (a request with it gets a 400).
    pub fn raw_query(&self) -> String {
        self.query_clipped(false)
    }

    fn query_clipped(&self, within_limits: bool) -> String {
        let pairs = self
            .schema
            .params_from_json(&self.card.value, within_limits, &[])
            .expect("samples are shaped like the card");
        // The report card's canonical order, whatever the file's.
        let order = self.schema.params();
        let mut pairs = pairs;
        pairs.sort_by_key(|(k, _)| order.iter().position(|(p, _)| p == k));
        pairs
            .iter()
            .map(|(k, v)| encode_pair(k, v))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// The sample's JSON value of `key` (`risk`, `threat`).
    pub fn get(&self, key: &str) -> Option<&serde_json::Value> {
        self.card.value.get(key)
    }

    pub fn request(&self, template: &TemplateName, extra: &str) -> Result<CardRequest, CardError> {
        let params = Params::parse(Some(&format!("{}{extra}", self.query())))?;
        CardRequest::from_params(
            template.clone(),
            &self.schema,
            &params,
            &LevelBands::default(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_parses_into_a_card() {
        let samples = all();
        assert!(samples.len() >= 15);
        let report = TemplateName::parse("report").unwrap();
        for s in samples {
            let r = s
                .request(&report, "")
                .unwrap_or_else(|e| panic!("{}: {e}", s.slug));
            assert_eq!(
                r.card.top("risk"),
                Some(&crate::card::FieldValue::Percent(
                    crate::card::Percent::new(s.get("risk").unwrap().as_u64().unwrap() as u8)
                        .unwrap()
                ))
            );
        }
    }
}
