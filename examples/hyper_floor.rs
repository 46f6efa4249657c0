//! The floor of the HTTP stack sharecard is built on: hyper 1 with
//! hyper-util's auto (HTTP/1 + HTTP/2) connection builder on a
//! multi-threaded tokio runtime, as `sharecard serve` sets them up, serving
//! one file's bytes for every request with nothing else (no routing,
//! parsing, cache, metrics or log line).
//!
//!   cargo run --release --example hyper_floor -- FILE 127.0.0.1:PORT
//!
//! `bench/loadtest.sh` measures it next to sharecard's cache hits and
//! nginx: what sharecard's own work per hit costs, and how close to nginx
//! this stack can get at all on the machine.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(file), Some(addr)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: hyper_floor FILE ADDR:PORT");
    };
    let body = Bytes::from(std::fs::read(&file)?);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve(body, addr))
}

async fn serve(body: Bytes, addr: String) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .max_buf_size(64 * 1024);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        let svc = service_fn(move |_req: Request<hyper::body::Incoming>| {
            // The same headers a card hit carries, minus the computed ones.
            let mut resp = Response::new(Full::new(body.clone()));
            let h = resp.headers_mut();
            h.insert(CONTENT_TYPE, HeaderValue::from_static("image/png"));
            h.insert(
                CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            );
            h.insert(
                ETAG,
                HeaderValue::from_static("\"0123456789abcdef01234567\""),
            );
            async move { Ok::<_, Infallible>(resp) }
        });
        let conn = builder
            .serve_connection(TokioIo::new(stream), svc)
            .into_owned();
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
}
