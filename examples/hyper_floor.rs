//! The floor of the HTTP stack sharecard is built on: hyper 1 with
//! hyper-util's auto (HTTP/1 + HTTP/2) connection builder on a
//! multi-threaded tokio runtime, as `sharecard serve` sets them up, serving
//! one file's bytes for every request with nothing else (no routing,
//! parsing, cache, metrics or log line).
//!
//!   cargo run --release --example hyper_floor -- FILE 127.0.0.1:PORT
//!   cargo run --release --example hyper_floor -- DIR 127.0.0.1:PORT
//!
//! Given a directory, it holds every file in it in memory and answers a
//! request with the file named `{role}.png` after the query's `role`
//! parameter as sent, still percent-encoded (as the load test's nginx does
//! for many cards: `try_files /n/$arg_role.png`), or 404.
//!
//! `bench/loadtest.sh` measures it next to sharecard's cache hits and
//! nginx: what sharecard's own work per hit costs, and how close to nginx
//! this stack can get at all on the machine.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::StatusCode;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(file), Some(addr)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: hyper_floor FILE|DIR ADDR:PORT");
    };
    let bodies = if std::fs::metadata(&file)?.is_dir() {
        let mut files = HashMap::new();
        for entry in std::fs::read_dir(&file)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            files.insert(name, Bytes::from(std::fs::read(entry.path())?));
        }
        Bodies::ByName(files)
    } else {
        Bodies::One(Bytes::from(std::fs::read(&file)?))
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve(Arc::new(bodies), addr))
}

enum Bodies {
    One(Bytes),
    ByName(HashMap<String, Bytes>),
}

impl Bodies {
    fn get(&self, query: Option<&str>) -> Option<Bytes> {
        match self {
            Bodies::One(body) => Some(body.clone()),
            Bodies::ByName(files) => {
                let role = query?.split('&').find_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    (k == "role").then_some(v)
                })?;
                files.get(&format!("{role}.png")).cloned()
            }
        }
    }
}

async fn serve(bodies: Arc<Bodies>, addr: String) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .max_buf_size(64 * 1024);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let bodies = bodies.clone();
        let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
            let Some(body) = bodies.get(req.uri().query()) else {
                let mut resp = Response::new(Full::new(Bytes::new()));
                *resp.status_mut() = StatusCode::NOT_FOUND;
                return std::future::ready(Ok::<_, Infallible>(resp));
            };
            // The same headers a card hit carries, minus the computed ones.
            let mut resp = Response::new(Full::new(body));
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
            std::future::ready(Ok::<_, Infallible>(resp))
        });
        let conn = builder
            .serve_connection(TokioIo::new(stream), svc)
            .into_owned();
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
}
