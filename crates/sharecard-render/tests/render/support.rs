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
    sharecard_render::samples::all()
        .into_iter()
        .map(|s| Sample {
            query: s.query(),
            slug: s.slug,
        })
        .collect()
}

pub const ML_ENGINEER: &str = "role=ML%20Engineer&tagline=AI%20helps%20build%20AI.%20But%20someone%20has%20to%20build%20the%20AI%20that%20builds%20AI.&risk=48&threat=Model%20Fine-Tuning&threat_risk=65";
