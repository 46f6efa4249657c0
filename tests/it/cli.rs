//! The command line tells the truth: `sign` refuses cards the service
//! would refuse, each flag's help is its own, `render` writes the file its
//! help names, `warm` counts cards and passes on the server's reasons, and
//! a busy port says which flag to change.

use crate::helpers::*;

const KEY: &str = "test-key-0123456789abcdef";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn sign_refuses_urls_the_service_would_refuse() {
    for (url, words) in [
        ("/cards/report.png?role=A&risk=480", "`risk`"),
        ("/cards/banner.png?role=A&risk=48", "report, square, story"),
        ("/share/report?risk=48", "`role`"),
        (
            "/cards/report.png?role=a&risk=1&threat=%E0%B8%81&threat_risk=1",
            "U+0E01",
        ),
        ("/preview", "only /cards/"),
    ] {
        let out = sharecard(&["sign", "--signing-key", KEY, url]);
        assert_eq!(out.status.code(), Some(2), "{url}: {out:?}");
        assert!(out.stdout.is_empty(), "{url}: printed a URL anyway");
        let err = text(&out.stderr);
        assert!(err.contains(words), "{url}: {err}");
    }
}

#[test]
fn each_subcommand_describes_its_own_flags() {
    for sub in ["sign", "warm"] {
        let help = text(&sharecard(&[sub, "--help"]).stdout);
        assert!(help.contains("--signing-key-file"), "{sub}: {help}");
        assert!(
            !help.contains("With none, unsigned URLs are served"),
            "{sub} --help describes serve's behaviour: {help}"
        );
    }
    let help = text(&sharecard(&["render", "--help"]).stdout);
    for flag in [
        "--role",
        "--tagline",
        "--risk",
        "--level",
        "--threat",
        "--threat-risk",
        "--theme",
        "--scale",
    ] {
        let line = help
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{flag} <")))
            .unwrap_or_else(|| panic!("{flag} in {help}"));
        let own = line.split_once('>').unwrap().1.trim();
        assert!(!own.is_empty(), "{flag} has no help of its own: {help}");
    }
}

#[test]
fn render_writes_the_file_its_help_names() {
    let dir = tempfile::tempdir().unwrap();
    let help = text(&sharecard(&["render", "--help"]).stdout);
    assert!(help.contains("ml-engineer-report-light@2x.png"), "{help}");
    let out = sharecard_binary()
        .current_dir(dir.path())
        .args([
            "render",
            "--role",
            "ML Engineer",
            "--risk",
            "48",
            "--theme",
            "light",
            "--scale",
            "2",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(text(&out.stdout).trim(), "ml-engineer-report-light@2x.png");
    let file = dir.path().join("ml-engineer-report-light@2x.png");
    assert_eq!(png_size(&std::fs::read(file).unwrap()), (2400, 1260));
}

#[tokio::test]
async fn warm_counts_cards_and_passes_on_the_servers_reason() {
    let app = spawn_app().await;
    // The container's health check warms /readyz: wait for the self-test.
    assert!(app.self_tested().await);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cards.txt");
    std::fs::write(
        &file,
        "/readyz\n/cards/report.png?role=Warm&risk=5\n/cards/report.png?role=Warm&risk=abc\n",
    )
    .unwrap();
    let target = format!("http://{}", app.addr);
    let file_arg = file.display().to_string();
    let out =
        tokio::task::spawn_blocking(move || sharecard(&["warm", "--target", &target, &file_arg]))
            .await
            .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("1 cards warmed, 1 other path fetched, 1 failed"),
        "{err}"
    );
    assert!(
        err.contains("line 3: HTTP 400")
            && err.contains("`risk`")
            && err.contains("invalid_percent"),
        "the server's reason: {err}"
    );
}

#[test]
fn a_busy_port_names_the_flag_to_change() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let out = sharecard(&["serve", "--listen", &addr]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains(&addr) && err.contains("--listen"), "{err}");
    // Nothing unrelated comes first.
    assert!(!text(&out.stdout).contains("--public-url"), "{out:?}");
}

/// A usage mistake is one line and exit 2, even with RUST_BACKTRACE set
/// (as it is on many developers' machines): never a stack trace.
#[test]
fn a_usage_error_is_one_clear_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    // `warm` reads its file before it looks at --target.
    std::fs::write(dir.path().join("cards.txt"), "/healthz\n").unwrap();
    for (args, words) in [
        (
            &["render", "--role", "ML Engineer", "--risk", "480"][..],
            "`--risk` must be a whole number from 0 to 100",
        ),
        (
            &[
                "render",
                "--role",
                "A",
                "--risk",
                "4",
                "--template",
                "banner",
            ][..],
            "the templates are cost, report, square, story, tasks",
        ),
        (
            &["warm", "--target", "ht tp://x", "cards.txt"][..],
            "give one such as http://127.0.0.1:8080",
        ),
    ] {
        let out = sharecard_binary()
            .args(args)
            .current_dir(dir.path())
            .env("RUST_BACKTRACE", "1")
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(words),
            "{args:?}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(!err.contains("backtrace"), "{args:?}: {err}");
    }
}

/// `warm` with nothing listening says so once, with the address it tried,
/// and takes `host:port` as `http://host:port`.
#[test]
fn warm_says_once_where_it_could_not_connect() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cards.txt");
    std::fs::write(
        &file,
        "/cards/report.png?role=A&risk=1\n/cards/report.png?role=B&risk=2\n",
    )
    .unwrap();
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = sharecard_binary()
        .args(["warm", "--target", &format!("127.0.0.1:{port}")])
        .arg(&file)
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("http://127.0.0.1:{port}")) && err.contains("refused"),
        "{err}"
    );
}

/// `sign` prints a URL that works where it is pasted: a space becomes
/// `%20`, and an absolute URL keeps its scheme and host.
#[test]
fn sign_prints_urls_that_can_be_pasted() {
    let want = signed("/cards/report.png", "role=ML%20Engineer&risk=48", KEY);
    for (given, base) in [
        ("/cards/report.png?role=ML Engineer&risk=48", ""),
        (
            "https://cards.example/cards/report.png?role=ML Engineer&risk=48",
            "https://cards.example",
        ),
    ] {
        let out = sharecard(&["sign", "--signing-key", KEY, given]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout).trim(), format!("{base}{want}"), "{given}");
    }
}

/// `sign` signs a card's WebP URL on its own path, and checks its card as
/// it does the PNG's; `warm --format png,webp` fetches both of a JSON card.
#[tokio::test]
async fn sign_and_warm_know_webp() {
    let want = signed("/cards/report.webp", "role=ML%20Engineer&risk=48", KEY);
    let out = sharecard(&[
        "sign",
        "--signing-key",
        KEY,
        "/cards/report.webp?role=ML Engineer&risk=48",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), want);
    let out = sharecard(&[
        "sign",
        "--signing-key",
        KEY,
        "/cards/report.webp?role=R&risk=480",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));

    let app = spawn_app().await;
    assert!(app.self_tested().await);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cards.jsonl");
    std::fs::write(&file, "{\"role\": \"Warm WebP\", \"risk\": 5}\n").unwrap();
    let target = format!("http://{}", app.addr);
    let file_arg = file.display().to_string();
    let out = tokio::task::spawn_blocking(move || {
        sharecard(&[
            "warm", "--format", "png,webp", "--target", &target, &file_arg,
        ])
    })
    .await
    .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("2 cards warmed"), "{err}");
    assert_eq!(app.renders(), 2, "the PNG and the WebP");
    let r = app.get("/cards/report.webp?role=Warm%20WebP&risk=5").await;
    assert_eq!(r.header("content-type"), "image/webp");
    assert_eq!(app.renders(), 2, "warmed");
}

/// `check` names a `<text>` drawn outside every `text.fit` box by its
/// words and where it stands, rather than by an empty id.
#[test]
fn check_names_stray_text_by_its_words() {
    let dir = tempfile::tempdir().unwrap();
    let src = include_str!("../../templates/report.svg").replace(
        "</svg>",
        r#"<text x="10" y="20" font-size="12">Hello stray words</text></svg>"#,
    );
    std::fs::write(dir.path().join("report.svg"), src).unwrap();
    let out = sharecard(&["check", "--templates-dir", dir.path().to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(r#"text "Hello stray words" (line "#)
            && err.contains("drawn outside every declared box"),
        "{err}"
    );
    assert!(!err.contains(r#"text "" is"#), "{err}");
}
