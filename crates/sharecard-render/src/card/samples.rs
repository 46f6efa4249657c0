//! The sample cards of templates/samples.json, for the preview gallery and
//! `sharecard check`. Several are stress cases (very long titles, long
//! words, markup, scripts the bundled fonts lack).

use serde::Deserialize;

use crate::card::query::{Params, encode_component};
use crate::card::{
    CARD_PARAMS, CardRequest, LevelBands, ROLE_MAX, TAGLINE_MAX, THREAT_MAX, TemplateName,
};
use crate::error::CardError;

const SAMPLES: &str = include_str!("../../../../templates/samples.json");

#[derive(Debug, Clone, Deserialize)]
pub struct Sample {
    pub slug: String,
    pub role: String,
    pub tagline: Option<String>,
    pub(crate) risk: u8,
    pub(crate) level: Option<String>,
    pub(crate) threat: Option<SampleThreat>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SampleThreat {
    pub(crate) task: String,
    pub(crate) risk: u8,
}

#[derive(Deserialize)]
struct File {
    cards: Vec<Sample>,
}

pub fn all() -> Vec<Sample> {
    serde_json::from_str::<File>(SAMPLES)
        .expect("templates/samples.json is valid (checked by tests)")
        .cards
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
        let clip = |s: &str, n: usize| {
            let n = if within_limits { n } else { usize::MAX };
            encode_component(&s.chars().take(n).collect::<String>())
        };
        let mut q = format!("role={}&risk={}", clip(&self.role, ROLE_MAX), self.risk);
        if let Some(t) = &self.tagline {
            q += &format!("&tagline={}", clip(t, TAGLINE_MAX));
        }
        if let Some(l) = &self.level {
            q += &format!("&level={}", encode_component(l));
        }
        if let Some(t) = &self.threat {
            q += &format!(
                "&threat={}&threat_risk={}",
                clip(&t.task, THREAT_MAX),
                t.risk
            );
        }
        debug_assert!(
            q.split('&')
                .all(|p| CARD_PARAMS.contains(&p.split('=').next().unwrap_or("")))
        );
        q
    }

    pub fn request(&self, template: &TemplateName, extra: &str) -> Result<CardRequest, CardError> {
        let params = Params::parse(Some(&format!("{}{extra}", self.query())))?;
        CardRequest::from_params(template.clone(), &params, &LevelBands::default())
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
            assert_eq!(r.card.risk.get(), s.risk);
        }
    }
}
