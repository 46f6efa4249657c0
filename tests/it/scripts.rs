//! Scripts beyond Latin: Greek, Cyrillic, Devanagari, Arabic, and CJK with
//! operator-supplied fonts.

use crate::golden::{renderer, request};
use crate::helpers::samples;
use resvg::usvg;

fn usvg_width(text: &str, size: f32, weight: u16) -> f32 {
    let r = renderer();
    let opts = r.fonts().usvg_options();
    let esc = text.replace('&', "&amp;").replace('<', "&lt;");
    let svg = format!(r#"<svg xmlns="http://www.w3.org/2000/svg" width="4000" height="300"><text id="t" x="10" y="150" font-family="Inter" font-size="{size}" font-weight="{weight}">{esc}</text></svg>"#);
    let tree = usvg::Tree::from_str(&svg, &opts).unwrap();
    let mut w = 0.0;
    for n in tree.root().children() {
        if let usvg::Node::Text(t) = n {
            w = t.bounding_box().width();
            for s in t.layouted() {
                let fonts: Vec<_> = s.positioned_glyphs.iter().map(|g| (g.id.0, r.fonts().face(g.font).map(|f| f.family.clone()))).collect();
                if std::env::var_os("GLYPHS").is_some() { eprintln!("  {fonts:?}"); }
            }
        }
    }
    w
}

#[test]
fn explore() {
    let r = renderer();
    let m = sharecard::text::Measurer::new(r.fonts());
    let raw: serde_json::Value =
        serde_json::from_str(include_str!("../../templates/samples.json")).unwrap();
    for c in raw["cards"].as_array().unwrap() {
        let slug = c["slug"].as_str().unwrap();
        let mut strs = vec![(c["role"].as_str().unwrap().to_owned(), 68.0, 700)];
        if let Some(t) = c["tagline"].as_str() { strs.push((t.to_owned(), 30.0, 400)); }
        if let Some(t) = c.get("threat") { strs.push((t["task"].as_str().unwrap().to_owned(), 27.0, 700)); }
        for (s, size, w) in strs {
            let a = m.width(&s, size, w);
            let b = usvg_width(&s, size, w);
            let flag = if (a - b).abs() > 0.5 { "  <<<<" } else { "" };
            eprintln!("{slug:16} {size} {w} fontdue {a:8.2} usvg {b:8.2} diff {:6.2}{flag} {s:?}", a - b);
        }
    }
    for (s, w) in [("ML इंजीनियर", 700), ("AI एआई", 400), ("Hello مرحبا", 400), ("Hello الآلة", 400), ("مهندس تعلم الآلة…", 400), ("الذكاء الاصطناعي.", 400), ("مهندس AI", 400), ("क्षत्रिय", 400), ("मशीन लर्निंग", 700), ("مهندس\u{200F}", 400), ("\u{2067}مهندس AI.\u{2069}", 400), ("\u{202B}مهندس AI.\u{202C}", 400), ("مهندس AI.\u{200F}", 400)] {
        let a = m.width(s, 40.0, w);
        let b = usvg_width(s, 40.0, w);
        eprintln!("{s:?} {w}: measured {a:.2} usvg {b:.2} complete {} runs {:?}", m.draws_correctly(s, w), m.runs(s, w).iter().map(|r| (&s[r.range.clone()], &r.face.family, r.rtl, r.tofu)).collect::<Vec<_>>());
    }
    for f in r.fonts().faces() {
        let lm = f.metrics.horizontal_line_metrics(100.0).unwrap();
        eprintln!("{:?}: ascent {:.1} descent {:.1} gap {:.1}", f, lm.ascent, lm.descent, lm.line_gap);
    }
    let opts = r.fonts().usvg_options();
    for (s, w) in [("Hxgjpy ÉÅÇ", 700), ("र्कें ॐ ठुकृ श्रृं द्ध्र्य ह्न ॡ", 700), ("र्कें ॐ ठुकृ श्रृं", 400), ("إلجيني ئؤ ﷺ ڭ", 700), ("إلجيني ئؤ ڭ", 400)] {
        let svg = format!(r#"<svg xmlns="http://www.w3.org/2000/svg" width="4000" height="300"><text x="10" y="200" font-family="Inter" font-size="100" font-weight="{w}">{s}</text></svg>"#);
        let tree = usvg::Tree::from_str(&svg, &opts).unwrap();
        if let usvg::Node::Text(t) = &tree.root().children()[0] {
            let ink = t.flattened().abs_bounding_box();
            eprintln!("{s} {w}: ink top {:.1} bottom {:.1} (above baseline {:.1}, below {:.1})", ink.top(), ink.bottom(), 200.0 - ink.top(), ink.bottom() - 200.0);
        }
    }
    let t = std::time::Instant::now();
    for s in samples() {
        let req = request("report", &s.query);
        let _ = r.svg(&req).unwrap();
    }
    eprintln!("svg for all samples: {:?}", t.elapsed());
    let enc = |s: &str| sharecard::query::encode_component(&s.chars().take(200).collect::<String>());
    let stress = [
        ("arabic-long", format!("role={}&tagline={}&risk=70&threat={}&threat_risk=80",
            enc("مهندس أول لأنظمة الذكاء الاصطناعي والتعلم الآلي في الشركات الكبيرة جدا"),
            enc("الذكاء الاصطناعي يساعد في بناء الذكاء الاصطناعي، لكن لا بد من وجود شخص يبني الذكاء الاصطناعي الذي يبني الذكاء الاصطناعي. والآن نحتاج إلى المزيد من الكلام الطويل جدا لكي يتم قطع السطر الأخير بالتأكيد هنا."),
            enc("ضبط النماذج اللغوية الكبيرة وتقييمها ونشرها في بيئات الإنتاج المختلفة"))),
        ("hindi-long", format!("role={}&tagline={}&risk=70&threat={}&threat_risk=80",
            enc("वरिष्ठ मशीन लर्निंग इंजीनियर और कृत्रिम बुद्धिमत्ता विशेषज्ञ"),
            enc("एआई एआई बनाने में मदद करता है। लेकिन किसी को तो वह एआई बनाना होगा जो एआई बनाता है। क्षत्रिय द्वारा श्रृंखला प्रकृति ट्रक ड्राइवर कृष्ण हृदय द्ध्र्य ह्न और बहुत सारे शब्द।"),
            enc("बड़े भाषा मॉडलों की फाइन-ट्यूनिंग और मूल्यांकन प्रक्रिया का स्वचालन"))),
        ("mixed", format!("role={}&tagline={}&risk=70&threat={}&threat_risk=80",
            enc("ML इंजीनियर"), enc("AI مهندس (2024) يعمل على GPT-4 كل يوم."), enc("Fine-tuning النماذج"))),
    ];
    for (slug, q) in &stress {
        let req = request("report", q);
        let png = r.render(&req).unwrap();
        std::fs::write(format!("/tmp/sc-{slug}.png"), &png.bytes).unwrap();
        let doc = r.svg(&req).unwrap();
        let tree = r.tree(&doc.svg).unwrap();
        for b in &doc.boxes { eprintln!("  {} {} {:?}", b.id, b.fitted.size, b.fitted.lines); }
        eprintln!("{slug}: {:#?}", sharecard::render::text_violations(&doc, &tree));
    }
    for slug in ["hindi", "arabic", "cyrillic-greek"] {
        let s = samples().into_iter().find(|s| s.slug == slug).unwrap();
        let req = request("report", &s.query);
        let png = r.render(&req).unwrap();
        std::fs::write(format!("/tmp/sc-{slug}.png"), &png.bytes).unwrap();
        let doc = r.svg(&req).unwrap();
        let tree = r.tree(&doc.svg).unwrap();
        eprintln!("{slug}: {:#?}", sharecard::render::text_violations(&doc, &tree));
    }
}
