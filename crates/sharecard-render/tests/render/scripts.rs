//! Scripts beyond Latin: Greek, Cyrillic, Devanagari, Arabic, and CJK with
//! operator-supplied fonts.
//!
//! Every check is made on what usvg lays out and resvg draws, not on the
//! fitter's arithmetic: the measurement is trusted only where the rendered
//! result proves it.

use std::sync::{Arc, OnceLock};

use resvg::usvg;
use sharecard_render::card::query::encode_component as enc;
use sharecard_render::render::{Renderer, Sources};
use sharecard_render::template::SvgDoc;
use sharecard_render::text::{FitSpec, Measurer, RLI};

use crate::golden::{renderer, request};
use crate::support::samples;

/// Renders the report card for `query` and returns every problem found:
/// `text_violations` (ink and advance boxes, tofu, dropped characters) and
/// lines usvg would draw wrong (see `Measurer::draws_correctly`).
fn problems(query: &str) -> (SvgDoc, Vec<String>) {
    checked(&renderer(), query)
}

/// [`problems`] with renderer `r`.
fn checked(r: &Renderer, query: &str) -> (SvgDoc, Vec<String>) {
    let (doc, mut problems) = drawn(r, query);
    let m = Measurer::new(r.shaper());
    let bold = ["role", "threat-task", "risk", "brand"];
    for b in &doc.boxes {
        let weight = if bold.contains(&b.id.as_str()) {
            700
        } else {
            400
        };
        for l in &b.fitted.lines {
            if !m.draws_correctly(l, weight) {
                problems.push(format!("{:?}: usvg draws {l:?} wrong", b.id));
            }
        }
    }
    (doc, problems)
}

/// The report card for `query` as `r` draws it, and its `text_violations`
/// (ink and advance boxes, tofu, dropped characters).
fn drawn(r: &Renderer, query: &str) -> (SvgDoc, Vec<String>) {
    let req = request("report", query);
    r.check_coverage(&req.card)
        .unwrap_or_else(|e| panic!("{query}: {e}"));
    let doc = r.svg(&req).unwrap();
    let tree = r.tree(&doc.svg).unwrap();
    let problems = sharecard_render::render::text_violations(&doc, &tree);
    if let Some(dir) = std::env::var_os("SHARECARD_SCRIPT_PNGS") {
        // For looking at: SHARECARD_SCRIPT_PNGS=/tmp cargo test scripts
        let png = r.render(&req).unwrap();
        let name: String = doc.boxes[1].fitted.lines[0]
            .chars()
            .filter(|c| c.is_alphanumeric())
            .take(12)
            .collect();
        std::fs::write(
            std::path::Path::new(&dir).join(format!("sharecard-{name}.png")),
            &png.bytes,
        )
        .unwrap();
    }
    (doc, problems)
}

fn fitted<'d>(doc: &'d SvgDoc, id: &str) -> &'d [String] {
    &doc.boxes.iter().find(|b| b.id == id).unwrap().fitted.lines
}

#[test]
fn samples_in_every_bundled_script_fit_their_boxes() {
    for slug in ["hindi", "arabic", "cyrillic-greek"] {
        let s = samples().into_iter().find(|s| s.slug == slug).unwrap();
        let (doc, problems) = problems(&s.query);
        assert!(problems.is_empty(), "{slug}: {problems:#?}");
        if slug == "arabic" {
            // Measured as shaped (joined), the role fits on one line; the
            // per-character advances used to wrap it onto two.
            assert_eq!(fitted(&doc, "role").len(), 1, "{:?}", fitted(&doc, "role"));
            for l in fitted(&doc, "tagline") {
                assert!(l.starts_with(RLI), "{l:?}");
            }
        }
    }
}

#[test]
fn long_devanagari_and_arabic_cards_shrink_wrap_and_ellipsize_inside_their_boxes() {
    let cut = |s: &str, n: usize| enc(&s.chars().take(n).collect::<String>());
    let cards = [
        (
            "वरिष्ठ मशीन लर्निंग इंजीनियर और कृत्रिम बुद्धिमत्ता विशेषज्ञ",
            "एआई एआई बनाने में मदद करता है। लेकिन किसी को तो वह एआई बनाना होगा जो एआई बनाता है। क्षत्रिय द्वारा श्रृंखला प्रकृति ट्रक ड्राइवर कृष्ण हृदय द्ध्र्य ह्न और बहुत सारे शब्द।",
            "बड़े भाषा मॉडलों की फाइन-ट्यूनिंग और मूल्यांकन प्रक्रिया का स्वचालन",
        ),
        (
            "مهندس أول لأنظمة الذكاء الاصطناعي والتعلم الآلي في الشركات الكبيرة جدا",
            "الذكاء الاصطناعي يساعد في بناء الذكاء الاصطناعي، لكن لا بد من وجود شخص يبني الذكاء الاصطناعي الذي يبني الذكاء الاصطناعي. والآن نحتاج إلى المزيد من الكلام الطويل جدا لكي يتم قطع السطر.",
            "الآلة الآلة الآلة الآلة الآلة الآلة الآلة الآلة الآلة الآلة الآلة الآلة",
        ),
        // Mixed scripts: usvg would shape "ML इंजीनियर" as Latin and leave
        // Arabic next to brackets as tofu, so such lines break between words.
        (
            "ML इंजीनियर",
            "AI مهندس (2024) يعمل على GPT-4 كل يوم.",
            "Fine-tuning النماذج",
        ),
    ];
    for (role, tagline, threat) in cards {
        let query = format!(
            "role={}&tagline={}&risk=70&threat={}&threat_risk=80",
            cut(role, 80),
            cut(tagline, 200),
            cut(threat, 80)
        );
        let (doc, problems) = problems(&query);
        assert!(problems.is_empty(), "{role}: {problems:#?}");
        if role == "ML इंजीनियर" {
            assert_eq!(fitted(&doc, "role"), ["ML", "इंजीनियर"]);
        }
        if role.starts_with("مهندس") {
            // No tofu "…" after a lam-alef: full stops instead.
            let task = fitted(&doc, "threat-task");
            assert!(task[0].ends_with("..."), "{task:?}");
        }
    }
}

/// The text element `text` laid out by usvg on its own, as one line.
fn one_line(text: &str, size: f32, weight: u16) -> usvg::Tree {
    let r = renderer();
    let escaped = text.replace('&', "&amp;").replace('<', "&lt;");
    let svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="3000" height="200"><text x="10" y="120" font-family="Inter" font-size="{size}" font-weight="{weight}">{escaped}</text></svg>"#
    );
    r.tree(&svg).unwrap()
}

fn the_text(tree: &usvg::Tree) -> &usvg::Text {
    match &tree.root().children()[0] {
        usvg::Node::Text(t) => t,
        other => panic!("not text: {other:?}"),
    }
}

#[test]
fn measured_widths_are_the_widths_usvg_lays_out() {
    let r = renderer();
    let m = Measurer::new(r.shaper());
    let texts = [
        // Arabic: joining forms, lam-alef, right to left, a full stop.
        "مهندس تعلم الآلة",
        "الذكاء الاصطناعي يساعد في بناء الذكاء الاصطناعي.",
        "ضبط النماذج",
        // Devanagari: conjuncts, reph, pre-base i-matra, nukta.
        "मशीन लर्निंग इंजीनियर",
        "एआई एआई बनाने में मदद करता है।",
        "मॉडल फाइन-ट्यूनिंग",
        "क्षत्रिय द्वारा श्रृंखला बड़े",
        // Mixed, and the scripts Inter draws (where fontdue's advances
        // were off by up to 5 px too).
        "Fine-tuning النماذج",
        "Инженер машинного обучения",
        "Μηχανική μάθηση — και κυριλλικά.",
        "Translator",
    ];
    for text in texts {
        for (size, weight) in [(30.0, 400), (68.0, 700)] {
            // The line the fitter makes of it, as a template draws it.
            let spec = FitSpec {
                width: 3000.0,
                height: None,
                size,
                min_size: size,
                max_lines: 1,
                weight,
                line_height: 1.2,
            };
            let fit = m.fit(text, &spec);
            assert_eq!(fit.lines.len(), 1);
            let line = &fit.lines[0];
            let tree = one_line(line, size, weight);
            let usvg_width = the_text(&tree).bounding_box().width();
            let measured = m.advance(text, size, weight);
            let (left, right) = fit.overhangs[0];
            assert!(
                (measured - usvg_width).abs() <= 0.5
                    && (fit.width - left - right - usvg_width).abs() <= 0.5,
                "{text:?} at {size}/{weight}: measured {measured}, fitted {}, usvg {usvg_width}",
                fit.width
            );
        }
    }
}

#[test]
fn arabic_lines_are_laid_out_right_to_left() {
    let r = renderer();
    let m = Measurer::new(r.shaper());
    let text = "الذكاء الاصطناعي.";
    let spec = FitSpec {
        width: 1000.0,
        height: None,
        size: 40.0,
        min_size: 40.0,
        max_lines: 1,
        weight: 400,
        line_height: 1.2,
    };
    let line = m.fit(text, &spec).lines.remove(0);
    let tree = one_line(&line, 40.0, 400);
    // x of each glyph's cluster, by the text it draws.
    let mut xs: Vec<(String, f32)> = Vec::new();
    for span in the_text(&tree).layouted() {
        for g in &span.positioned_glyphs {
            if g.id.0 != 0 && !g.text.chars().all(sharecard_render::card::is_invisible) {
                xs.push((g.text.clone(), g.transform().tx));
            }
        }
    }
    let leftmost = xs.iter().min_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
    let rightmost = xs.iter().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
    // The sentence starts at the right and ends, full stop and all, at
    // the left.
    assert_eq!(leftmost.0, ".", "{xs:?}");
    assert!(rightmost.0.starts_with('ا'), "{xs:?}");
    // Joined: the shaped line is narrower than its letters set apart.
    let apart: f32 = text
        .split("")
        .filter(|c| !c.is_empty())
        .map(|c| m.width(c, 40.0, 400))
        .sum();
    assert!(m.width(text, 40.0, 400) < apart - 10.0);
}

/// The bundled fonts plus Debian's Noto Sans CJK, as an operator adds them
/// (`--fonts-dir`; deploy/'s `cjk` image ships the first face of each
/// collection, which is the one that draws).
fn cjk_renderer() -> Arc<Renderer> {
    static R: OnceLock<Arc<Renderer>> = OnceLock::new();
    R.get_or_init(|| {
        let system = std::path::Path::new("/usr/share/fonts/opentype/noto");
        let files = ["NotoSansCJK-Regular.ttc", "NotoSansCJK-Bold.ttc"];
        assert!(
            files.iter().all(|f| system.join(f).exists()),
            "this test needs Debian's CJK fonts: apt-get install fonts-noto-cjk (.ci/run installs them)"
        );
        // The two files alone: the whole folder adds the Serif collections.
        let dir = std::env::temp_dir().join(format!("sharecard-cjk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for f in files {
            if !dir.join(f).exists() {
                std::os::unix::fs::symlink(system.join(f), dir.join(f)).unwrap();
            }
        }
        let sources = Sources {
            fonts_dir: Some(&dir),
            brand: "willaireplace.me",
            ..Default::default()
        };
        let r = Renderer::load(sources).expect("renderer with CJK fonts");
        // Fonts are read at load.
        let _ = std::fs::remove_dir_all(&dir);
        r
    })
    .clone()
}

/// Characters a line may not start with (JIS X 4051 kinsoku; UAX #14
/// classes CL, CP, EX, NS and CJ): closing brackets and punctuation, ! and
/// ?, the middle dot, the prolonged sound mark, iteration marks and small
/// kana. Written out rather than taken from unicode-linebreak, the code
/// under test.
const NO_LINE_START: &str =
    "、。，．：；」』）】〕〉》！？・ー々ゝゞヽヾぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ";
/// Characters a line may not end with: opening brackets (UAX #14 OP).
const NO_LINE_END: &str = "「『（【〔〈《";

/// Han, kana and CJK punctuation: text that has no spaces between words.
fn is_cjk(c: char) -> bool {
    let c = c as u32;
    (0x3000..=0x30FF).contains(&c) // CJK punctuation, kana
        || (0x3400..=0x4DBF).contains(&c) // Han, extension A
        || (0x4E00..=0x9FFF).contains(&c) // Han
        || (0xFF00..=0xFFEF).contains(&c) // full-width forms
}

/// The line-breaking rules for CJK text, one assertion each, on the lines
/// `id` of `card` was fitted into.
fn assert_cjk_breaks(card: &str, id: &str, text: &str, lines: &[String]) {
    assert!(
        !text.contains(' '),
        "{card} {id}: the test text has a space"
    );
    // (a) Broken inside a run without spaces: the lines are the text, cut,
    // with nothing added (no space, no hyphen), and each cut has CJK on
    // one side at least ("は|AI" is a break; "A|I" is not).
    assert_eq!(
        lines.concat(),
        text,
        "{card} {id}: the lines are not the text, cut"
    );
    for pair in lines.windows(2) {
        let end = pair[0].chars().last().unwrap();
        let start = pair[1].chars().next().unwrap();
        assert!(
            is_cjk(end) || is_cjk(start),
            "{card} {id}: {:?} | {:?} is not a break in CJK text",
            pair[0],
            pair[1]
        );
    }
    // (b) No line starts with a character that may not start one (the
    // first line starts where the text does).
    for (i, l) in lines.iter().enumerate().skip(1) {
        let first = l.chars().next().unwrap();
        assert!(
            !NO_LINE_START.contains(first),
            "{card} {id}: line {i} {l:?} starts with {first:?}, which may not start a line"
        );
    }
    // (c) No line ends with an opening bracket (the last ends where the
    // text does).
    for (i, l) in lines.iter().enumerate().take(lines.len() - 1) {
        let last = l.chars().last().unwrap();
        assert!(
            !NO_LINE_END.contains(last),
            "{card} {id}: line {i} {l:?} ends with {last:?}, which may not end a line"
        );
    }
}

#[test]
#[ignore = "needs fonts-noto-cjk (apt-get install fonts-noto-cjk); .ci/run runs it"]
fn cjk_cards_break_between_ideographs_but_not_before_closing_or_after_opening_marks() {
    let r = cjk_renderer();
    // No spaces; every mark below at some break opportunity. unicode-linebreak
    // 0.1.5 resolves CJ (small kana, ー) to NS, as UAX #14's LB1 does by
    // default (strict): no break before them, so っ, ゃ, ょ and ー stay with
    // the character before.
    let cards = [
        (
            "シニア機械学習エンジニア（大規模言語モデル・評価基盤）",
            "「AIがAIを作る」時代でも、ちょっと待って！誰がそのAIを作るのか？キャッシュやジョブの設計（とテスト）は、しょせん人間の仕事だ。",
        ),
        (
            "首席人工智能安全与合规研究员（大模型评测・治理）",
            "人工智能帮助构建人工智能。但是，总得有人来构建那个构建人工智能的人工智能！谁来做？「我们」（也许）还要亲自写测试、做评审。",
        ),
    ];
    for (role, tagline) in cards {
        let query = format!(
            "role={}&tagline={}&risk=48&threat={}&threat_risk=65",
            enc(role),
            enc(tagline),
            enc("モデルのファインチューニング")
        );
        // Drawn as fitted: real glyphs, inside their boxes, every line
        // one usvg draws right.
        let (doc, problems) = checked(&r, &query);
        assert!(problems.is_empty(), "{role}: {problems:#?}");
        for (id, text) in [("role", role), ("tagline", tagline)] {
            let fitted = &doc.boxes.iter().find(|b| b.id == id).unwrap().fitted;
            assert!(
                !fitted.truncated,
                "{role} {id}: ellipsized {:?}",
                fitted.lines
            );
            let between_cjk = fitted.lines.windows(2).any(|p| {
                is_cjk(p[0].chars().last().unwrap()) && is_cjk(p[1].chars().next().unwrap())
            });
            assert!(
                between_cjk,
                "{role} {id}: {:?} breaks nowhere between CJK characters",
                fitted.lines
            );
            assert_cjk_breaks(role, id, text, &fitted.lines);
        }
    }
    // Han, kana and Latin in one word shape the same in one run: a short
    // role stays on one line at full size (they used to be split at each
    // change of script, as if usvg drew them wrong).
    for role in ["データ分析", "看護師さん", "AIデータ分析"] {
        let (doc, problems) = checked(&r, &format!("role={}&risk=48", enc(role)));
        assert!(problems.is_empty(), "{role}: {problems:#?}");
        let b = doc.boxes.iter().find(|b| b.id == "role").unwrap();
        assert_eq!(b.fitted.lines, [role], "{role}");
        assert_eq!(b.fitted.size, 68.0, "{role}");
    }
    // And the sample card, however it wraps.
    let sample = sharecard_render::samples::all()
        .into_iter()
        .find(|s| s.slug == "japanese")
        .unwrap();
    let (doc, problems) = drawn(&r, &sample.query());
    assert!(problems.is_empty(), "japanese sample: {problems:#?}");
    let tagline = sample.get("tagline").unwrap().as_str().unwrap().to_owned();
    let role = sample.get("role").unwrap().as_str().unwrap().to_owned();
    for (id, text) in [("role", &role), ("tagline", &tagline)] {
        let fitted = &doc.boxes.iter().find(|b| b.id == id).unwrap().fitted;
        assert_cjk_breaks("japanese sample", id, text, &fitted.lines);
    }
}

#[test]
#[ignore = "needs fonts-noto-cjk (apt-get install fonts-noto-cjk); .ci/run runs it"]
fn cjk_break_moves_back_where_the_box_edge_falls_on_a_prohibited_mark() {
    let r = cjk_renderer();
    let m = Measurer::new(r.shaper());
    let size = 30.0;
    let spec = |width: f32| FitSpec {
        width,
        height: None,
        size,
        min_size: size,
        max_lines: 8,
        weight: 400,
        line_height: 1.35,
    };
    // The box ends right after "あいうえお": where c may not start a line,
    // "お" moves down with it.
    for c in NO_LINE_START.chars() {
        let text = format!("あいうえお{c}かきくけこ");
        let fit = m.fit(&text, &spec(m.width("あいうえお", size, 400) + 0.5));
        assert_cjk_breaks(&format!("{c:?}"), "line start", &text, &fit.lines);
        assert_eq!(fit.lines[0], "あいうえ", "{c:?}: {:?}", fit.lines);
    }
    // The box ends right after the opening bracket: it moves down with
    // what it opens.
    for c in NO_LINE_END.chars() {
        let text = format!("あいうえ{c}おか」きくけこ");
        let fit = m.fit(
            &text,
            &spec(m.width(&format!("あいうえ{c}"), size, 400) + 0.5),
        );
        assert_cjk_breaks(&format!("{c:?}"), "line end", &text, &fit.lines);
        assert_eq!(fit.lines[0], "あいうえ", "{c:?}: {:?}", fit.lines);
    }
}
