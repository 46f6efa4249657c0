// scratch: render sample cards into /tmp/cards
use sharecard::*;
fn main() {
    let args = config::ServeArgs::for_tests();
    let r = server::build_renderer(&args.card).unwrap();
    std::fs::create_dir_all("/tmp/cards").unwrap();
    let raw: serde_json::Value =
        serde_json::from_str(include_str!("../templates/samples.json")).unwrap();
    let tn = std::env::args().nth(1).unwrap_or("report".into());
    let extra = std::env::args().nth(2).unwrap_or_default();
    for c in raw["cards"].as_array().unwrap() {
        let enc = query::encode_component;
        let clip = |s: &str, n: usize| s.chars().take(n).collect::<String>();
        let mut q = format!(
            "role={}&risk={}{extra}",
            enc(c["role"].as_str().unwrap()),
            c["risk"]
        );
        if let Some(t) = c["tagline"].as_str() {
            q += &format!("&tagline={}", enc(t));
        }
        if let Some(t) = c.get("threat") {
            q += &format!(
                "&threat={}&threat_risk={}",
                enc(&clip(t["task"].as_str().unwrap(), 80)),
                t["risk"]
            );
        }
        let p = query::Params::parse(Some(&q)).unwrap();
        let req = card::CardRequest::from_params(
            card::TemplateName::parse(&tn).unwrap(),
            &p,
            &Default::default(),
        )
        .unwrap();
        let slug = c["slug"].as_str().unwrap();
        if let Err(e) = r.check_coverage(&req.card) {
            eprintln!("{slug}: {e}");
            continue;
        }
        let t0 = std::time::Instant::now();
        let png = r.render(&req).unwrap();
        eprintln!("{slug}: {:?} {} bytes", t0.elapsed(), png.bytes.len());
        std::fs::write(format!("/tmp/cards/{tn}-{slug}.png"), &png.bytes).unwrap();
    }
}
