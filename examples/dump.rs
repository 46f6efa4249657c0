// scratch
use sharecard::*;
use std::sync::Arc;
fn main() {
    let fonts = Arc::new(fonts::Fonts::load(None).unwrap());
    let t = template::Templates::load(None, fonts).unwrap();
    let r = render::Renderer::new(t, "willaireplace.me").unwrap();
    let q = std::env::args().nth(1).unwrap();
    let tn = std::env::args().nth(2).unwrap_or("report".into());
    let p = query::Params::parse(Some(&q)).unwrap();
    let req = card::CardRequest::from_params(card::TemplateName::parse(&tn).unwrap(), &p, &Default::default()).unwrap();
    let doc = r.svg(&req).unwrap();
    std::fs::write("/tmp/card.svg", &doc.svg).unwrap();
    let t0 = std::time::Instant::now();
    let png = r.render(&req).unwrap();
    eprintln!("{:?} {} bytes", t0.elapsed(), png.bytes.len());
    std::fs::write("/tmp/card.png", &png.bytes).unwrap();
}
