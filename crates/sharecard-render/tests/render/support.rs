//! What the render tests share: the sample cards and a PNG's size.

pub fn png_size(bytes: &[u8]) -> (u32, u32) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let reader = decoder.read_info().expect("a PNG");
    let info = reader.info();
    (info.width, info.height)
}

/// The sample cards from templates/samples.json, as query strings.
pub struct Sample {
    pub slug: String,
    /// With each field cut to its limit, so layout tests can use every
    /// sample.
    pub query: String,
}

pub fn samples() -> Vec<Sample> {
    let raw: serde_json::Value =
        serde_json::from_str(include_str!("../../../../templates/samples.json"))
            .expect("fixture parses");
    raw["cards"]
        .as_array()
        .expect("cards")
        .iter()
        .map(|c| Sample {
            slug: c["slug"].as_str().unwrap().to_owned(),
            query: sample_query(c, 1),
        })
        .collect()
}

/// The query for one fixture card; `limit_factor` 1 cuts each text field
/// to its limit, `usize::MAX` leaves it alone.
fn sample_query(c: &serde_json::Value, limit_factor: usize) -> String {
    use sharecard_render::card::query::encode_component as enc;
    use sharecard_render::card::{ROLE_MAX, TAGLINE_MAX, THREAT_MAX};
    let field = |s: &serde_json::Value, max: usize| {
        let s = s.as_str().unwrap();
        enc(&s
            .chars()
            .take(max.saturating_mul(limit_factor))
            .collect::<String>())
    };
    let mut q = format!(
        "role={}&risk={}",
        field(&c["role"], ROLE_MAX),
        c["risk"].as_u64().unwrap()
    );
    if c.get("tagline").is_some() {
        q += &format!("&tagline={}", field(&c["tagline"], TAGLINE_MAX));
    }
    if let Some(l) = c["level"].as_str() {
        q += &format!("&level={l}");
    }
    if let Some(t) = c.get("threat") {
        q += &format!(
            "&threat={}&threat_risk={}",
            field(&t["task"], THREAT_MAX),
            t["risk"].as_u64().unwrap()
        );
    }
    q
}

pub const ML_ENGINEER: &str = "role=ML%20Engineer&tagline=AI%20helps%20build%20AI.%20But%20someone%20has%20to%20build%20the%20AI%20that%20builds%20AI.&risk=48&threat=Model%20Fine-Tuning&threat_risk=65";
