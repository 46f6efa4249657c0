//! The optimised paths as a client sees them: the background re-encoding
//! is lossless and gets its own ETag, ranges stay correct across it, and
//! cards sent from the memory file arrive intact. (That the layered render
//! draws the one-pass picture is `sharecard-render`'s `layered` test.)

use std::time::Duration;

use hyper::{Method, StatusCode};

use crate::helpers::*;

#[tokio::test]
async fn hot_cards_are_recompressed_losslessly_under_their_own_etag() {
    let app = spawn_app_with(|a| a.recompress = true).await;
    let path = format!("/cards/report.png?{ML_ENGINEER}");
    let first = app.get(&path).await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(
        first.header("etag").ends_with("-fast\""),
        "{:?}",
        first.headers
    );
    assert_eq!(first.header("cache-control"), "public, max-age=10");
    let hot = app.wait_for_final(&path).await;
    assert_ne!(
        hot.header("etag"),
        first.header("etag"),
        "a strong ETag names one body"
    );
    assert!(!hot.header("etag").contains("-fast"));
    assert!(
        hot.header("cache-control").contains("max-age=86400"),
        "{:?}",
        hot.headers
    );
    assert!(
        hot.body.len() * 10 < first.body.len() * 7,
        "hot {} vs first {} bytes",
        hot.body.len(),
        first.body.len()
    );
    assert!(
        hot.body.len() <= 45 * 1024,
        "hot ML Engineer card is {} bytes",
        hot.body.len()
    );
    assert_eq!(
        decode_rgba(&hot.body),
        decode_rgba(&first.body),
        "same pixels"
    );
    assert_eq!(app.renders(), 1);
    let r = app
        .request(Method::GET, &path, &[("range", "bytes=0-99")])
        .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(&r.body[..], &hot.body[..100]);
}

#[tokio::test]
async fn ranges_stay_correct_across_the_switch_to_the_final_bytes() {
    // A download resumed with `If-Range` must never splice two encodings.
    let app = spawn_app_with(|a| a.recompress = true).await;
    let path = format!("/cards/report.png?{ML_ENGINEER}&theme=light");
    let draft = app
        .request(Method::GET, &path, &[("range", "bytes=0-999")])
        .await;
    let draft_tag = draft.header("etag").to_owned();
    if draft_tag.ends_with("-fast\"") {
        // The draft's ranges are the draft's bytes.
        assert_eq!(draft.status, StatusCode::PARTIAL_CONTENT);
        let whole = app.get(&path).await;
        if whole.header("etag") == draft_tag {
            assert_eq!(&whole.body[..1000], &draft.body[..]);
        }
    }
    let fin = app.wait_for_final(&path).await;
    // Resuming with the draft's validator: the whole final body, not the
    // rest of bytes the draft's ETag does not name.
    let resumed = app
        .request(
            Method::GET,
            &path,
            &[("range", "bytes=1000-"), ("if-range", &draft_tag)],
        )
        .await;
    if draft_tag == fin.header("etag") {
        assert_eq!(resumed.status, StatusCode::PARTIAL_CONTENT);
    } else {
        assert_eq!(resumed.status, StatusCode::OK);
        assert!(resumed.body == fin.body);
    }
    // Resuming with the final validator: the rest of the final bytes.
    let rest = app
        .request(
            Method::GET,
            &path,
            &[("range", "bytes=1000-"), ("if-range", fin.header("etag"))],
        )
        .await;
    assert_eq!(rest.status, StatusCode::PARTIAL_CONTENT);
    assert!(rest.body == fin.body[1000..]);
}

#[tokio::test]
async fn cached_cards_are_sent_from_the_memory_file_intact() {
    // The largest bundled card (~0.35 MB), so that a response outgrows the
    // socket buffers and is sent in several partial `sendfile`s. Every
    // cached body by `sendfile`, however recently it was sent (servers
    // other tests start from now on too: both ways send the same bytes).
    sharecard::zerocopy::set_copy_window(0);
    let app = spawn_app().await;
    let query = format!("{ML_ENGINEER}&scale=3");
    let path = format!("/cards/story.png?{query}");
    let req = request("story", &query);
    let expected = app.state.renderer().render_on(&req, 1).unwrap().bytes;
    assert!(expected.len() > 300_000, "{} bytes", expected.len());

    let miss = app.get(&path).await;
    assert_eq!(miss.status, StatusCode::OK);
    assert!(miss.body == expected, "the first response");
    // Recompression is off in tests, so the card went into the memory
    // file when it was rendered (other tests' cards may be there too).
    #[cfg(target_os = "linux")]
    assert!(sharecard::zerocopy::sealed_bytes() >= expected.len());

    let hit = app.get(&path).await;
    assert!(hit.body == expected, "a hit");
    assert_eq!(hit.header("content-length"), expected.len().to_string());
    let part = app
        .request(Method::GET, &path, &[("range", "bytes=1000-200999")])
        .await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert!(part.body == expected[1000..201_000], "a range");
    let head = app.request(Method::HEAD, &path, &[]).await;
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-length"), expected.len().to_string());

    // HTTP/2 (h2c with prior knowledge) frames the same bytes.
    let h2 = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let resp = h2.get(app.url(&path).parse().unwrap()).await.unwrap();
    assert_eq!(resp.version(), hyper::Version::HTTP_2);
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert!(body == expected, "over HTTP/2");

    // A slow reader, taking small reads with pauses, on a connection that
    // also carries a second, pipelined request.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let get = format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n");
    let last = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    s.write_all(format!("{get}{last}").as_bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await.unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&chunk[..n]);
        if got.len() % 16 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let mut rest = &got[..];
    for i in 0..2 {
        let end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a response head")
            + 4;
        let head = String::from_utf8_lossy(&rest[..end]).to_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(
            head.contains(&format!("content-length: {}\r\n", expected.len())),
            "{head}"
        );
        let body = &rest[end..end + expected.len()];
        assert!(body == &expected[..], "response {i} on the slow connection");
        rest = &rest[end + expected.len()..];
    }
    assert!(rest.is_empty());
}
