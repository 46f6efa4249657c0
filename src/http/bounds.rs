//! What one connection may hold: every response must leave at a rate a
//! real client reaches, no connection idles forever, and a connection whose
//! output is stuck starts no new work.
//!
//! A client that asks and never reads, over HTTP/1.1 (pipelined requests,
//! a tiny receive window) or HTTP/2 (`INITIAL_WINDOW_SIZE=0`, answering
//! pings), would otherwise keep its connection, and with it one of
//! `--max-connections` slots, for as long as it likes. So:
//!
//! - **Send timeout and minimum rate.** While a connection has bytes to
//!   send that the client does not take, it is *held up*. A hold-up may
//!   last `--send-timeout`, plus one second for every `--min-send-rate`
//!   bytes the client took during it; past that the connection is closed.
//!   A client that reads nothing is closed after the send timeout; one that
//!   trickles is closed soon after; a phone on a slow link takes bytes far
//!   faster than the minimum and never notices. Over HTTP/1.1 the socket
//!   shows a hold-up ([`Guarded`]); over HTTP/2 a response waiting for flow
//!   control does not reach the socket, so each response body counts its
//!   own ([`Tracked`], which hands HTTP/2 its body in [`H2_CHUNK`] pieces so
//!   that flow control paces what it takes).
//! - **Idle limit.** A connection with no request in progress for
//!   `--header-timeout` is closed: hyper does this for HTTP/1.1 between
//!   requests, and [`watchdog`] does it for HTTP/2, whose keep-alive pings a
//!   client can answer forever.
//! - **Pipelined work.** A request on a connection whose earlier responses
//!   are held up waits until they leave ([`Watch::wait_until_sent`]), so a
//!   client that pipelines and never reads gets at most one render past
//!   what its socket buffers hold, and then the send timeout.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

/// Over HTTP/2, a response body is handed over in pieces of this size, so
/// that the client's flow control, not h2's send buffer, decides when the
/// next piece is taken: a piece that waits past the send deadline shows a
/// client that does not read.
pub(crate) const H2_CHUNK: usize = 16 * 1024;

/// The limits every connection gets (from `--send-timeout`,
/// `--min-send-rate` and `--header-timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bounds {
    pub(crate) send_timeout: Duration,
    /// Bytes per second a held-up client must take to keep its connection.
    pub(crate) min_send_rate: u64,
    pub(crate) idle_timeout: Duration,
}

impl Bounds {
    /// When a hold-up that began at `since` and saw `sent` bytes taken
    /// runs out.
    fn deadline(&self, since: Instant, sent: u64) -> Instant {
        let earned = Duration::from_secs_f64(sent as f64 / self.min_send_rate.max(1) as f64);
        since + self.send_timeout + earned
    }
}

/// One connection's state, shared by its socket, its responses and its
/// watchdog.
#[derive(Debug)]
pub(crate) struct Watch {
    bounds: Bounds,
    state: Mutex<State>,
    sent: Notify,
}

#[derive(Debug)]
struct State {
    /// Requests being answered: handlers running, bodies not yet handed
    /// over in full.
    active: usize,
    /// Since when `active` has been 0.
    idle_since: Instant,
    /// The socket has bytes the client does not take.
    held_up: bool,
    /// Deadlines of bodies not yet sent in full, by id.
    bodies: Vec<(u64, Instant)>,
    next_id: u64,
}

/// Why a connection is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A response waited longer than its send deadline.
    TooSlow,
    /// No request for the idle limit.
    Idle,
}

impl Verdict {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Verdict::TooSlow => "the client took a response too slowly",
            Verdict::Idle => "idle",
        }
    }
}

impl Watch {
    pub(crate) fn new(bounds: Bounds) -> Arc<Watch> {
        Arc::new(Watch {
            bounds,
            state: Mutex::new(State {
                active: 0,
                idle_since: Instant::now(),
                held_up: false,
                bodies: Vec::new(),
                next_id: 0,
            }),
            sent: Notify::new(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Nothing panics while holding the lock; a poisoned one is still
        // consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A request begins; it ends when the returned guard is dropped (the
    /// guard moves into the response body, see [`Tracked`]).
    pub(crate) fn begin(self: &Arc<Self>) -> Active {
        self.state().active += 1;
        Active {
            watch: self.clone(),
        }
    }

    /// Waits while the connection's earlier output is held up: the cap on
    /// pipelined work. Ends at once when nothing is.
    pub(crate) async fn wait_until_sent(&self) {
        loop {
            let notified = self.sent.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self.state().held_up {
                return;
            }
            notified.await;
        }
    }

    fn set_held_up(&self, held_up: bool) {
        let mut s = self.state();
        if s.held_up != held_up {
            s.held_up = held_up;
            // Output in flight is not idleness: the idle limit counts from
            // when the last of it left.
            if !held_up && s.active == 0 {
                s.idle_since = Instant::now();
            }
            drop(s);
            if !held_up {
                self.sent.notify_waiters();
            }
        }
    }

    fn register(&self, deadline: Instant) -> u64 {
        let mut s = self.state();
        let id = s.next_id;
        s.next_id += 1;
        s.bodies.push((id, deadline));
        id
    }

    fn update(&self, id: u64, deadline: Instant) {
        if let Some(b) = self.state().bodies.iter_mut().find(|(i, _)| *i == id) {
            b.1 = deadline;
        }
    }

    fn unregister(&self, id: u64) {
        self.state().bodies.retain(|(i, _)| *i != id);
    }

    /// Whether the connection must close at `now`.
    fn verdict(&self, now: Instant) -> Option<Verdict> {
        let s = self.state();
        if s.bodies.iter().any(|(_, d)| *d <= now) {
            return Some(Verdict::TooSlow);
        }
        if s.active == 0
            && !s.held_up
            && now.duration_since(s.idle_since) >= self.bounds.idle_timeout
        {
            return Some(Verdict::Idle);
        }
        None
    }
}

/// A request in progress (see [`Watch::begin`]).
#[derive(Debug)]
pub(crate) struct Active {
    watch: Arc<Watch>,
}

impl Drop for Active {
    fn drop(&mut self) {
        let mut s = self.watch.state();
        s.active -= 1;
        if s.active == 0 {
            s.idle_since = Instant::now();
        }
    }
}

/// Resolves when the connection must close: a response past its send
/// deadline (HTTP/2), or idle for the idle limit. Checks a few times per
/// send timeout, at most once a second.
pub(crate) async fn watchdog(watch: Arc<Watch>) -> Verdict {
    let b = watch.bounds;
    let tick = (b.send_timeout.min(b.idle_timeout) / 4)
        .clamp(Duration::from_millis(20), Duration::from_secs(1));
    loop {
        tokio::time::sleep(tick).await;
        if let Some(v) = watch.verdict(Instant::now()) {
            return v;
        }
    }
}

/// A response body that counts against its connection's send deadline
/// until it has been handed over, and holds its request's [`Active`].
#[derive(Debug)]
pub(crate) struct Tracked {
    body: Full<Bytes>,
    /// Data taken from `body` and not yet handed over.
    rest: Bytes,
    /// Largest piece handed over at once.
    chunk: usize,
    watch: Arc<Watch>,
    id: Option<u64>,
    since: Instant,
    sent: u64,
    _active: Active,
}

impl Tracked {
    /// `body` of a request that `active` counts; `http2` hands it over in
    /// [`H2_CHUNK`] pieces (HTTP/1.1 takes it whole, so that a cached
    /// card's bytes reach the socket as the `Bytes` the cache holds).
    pub(crate) fn new(body: Full<Bytes>, active: Active, http2: bool) -> Tracked {
        let watch = active.watch.clone();
        let since = Instant::now();
        let id = (!body.is_end_stream()).then(|| watch.register(watch.bounds.deadline(since, 0)));
        Tracked {
            body,
            rest: Bytes::new(),
            chunk: if http2 { H2_CHUNK } else { usize::MAX },
            watch,
            id,
            since,
            sent: 0,
            _active: active,
        }
    }

    /// The next piece. hyper asks for one only once the one before has
    /// been sent (HTTP/2 waits for flow control with it), so the bytes of
    /// earlier pieces are what the client has taken: they earn time. The
    /// count ends when hyper drops the body, after its last piece went.
    fn piece(&mut self) -> Bytes {
        if let Some(id) = self.id {
            let deadline = self.watch.bounds.deadline(self.since, self.sent);
            self.watch.update(id, deadline);
        }
        let piece = if self.rest.len() <= self.chunk {
            std::mem::take(&mut self.rest)
        } else {
            self.rest.split_to(self.chunk)
        };
        self.sent += piece.len() as u64;
        piece
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.watch.unregister(id);
        }
    }
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.rest.is_empty() {
            match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => this.rest = data,
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
                Poll::Ready(Some(Err(never))) => match never {},
                Poll::Ready(None) => {
                    if let Some(id) = this.id.take() {
                        this.watch.unregister(id);
                    }
                    return Poll::Ready(None);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Some(Ok(Frame::data(this.piece()))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty() && self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let mut hint = self.body.size_hint();
        let rest = self.rest.len() as u64;
        hint.set_lower(hint.lower() + rest);
        if let Some(upper) = hint.upper() {
            hint.set_upper(upper + rest);
        }
        hint
    }
}

/// A connection's socket, which closes it when a hold-up outlasts its
/// deadline (see the module docs).
pub(crate) struct Guarded<T> {
    io: T,
    watch: Arc<Watch>,
    /// When the current hold-up began and the bytes taken since.
    held_up: Option<(Instant, u64)>,
    timer: Pin<Box<Sleep>>,
}

impl<T> Guarded<T> {
    pub(crate) fn new(io: T, watch: Arc<Watch>) -> Guarded<T> {
        Guarded {
            io,
            watch,
            held_up: None,
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
        }
    }

    fn took(&mut self, n: usize) {
        if let Some((_, sent)) = &mut self.held_up {
            *sent += n as u64;
        }
    }

    /// The socket took nothing: a hold-up begins or goes on. Pending until
    /// the socket is ready again or the deadline passes.
    fn wait<R>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        let now = Instant::now();
        let (since, sent) = *self.held_up.get_or_insert_with(|| {
            self.watch.set_held_up(true);
            (now, 0)
        });
        let deadline = self.watch.bounds.deadline(since, sent);
        if now >= deadline {
            return Poll::Ready(Err(too_slow()));
        }
        if self.timer.deadline() != deadline {
            self.timer.as_mut().reset(deadline);
        }
        match self.timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(too_slow())),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The error that closes a connection whose hold-up outlasted its deadline.
fn too_slow() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "the client took the response too slowly (--send-timeout, --min-send-rate)",
    )
}

impl<T: hyper::rt::Read + Unpin> hyper::rt::Read for Guarded<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: hyper::rt::Write + Unpin> hyper::rt::Write for Guarded<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                this.took(n);
                Poll::Ready(Ok(n))
            }
            Poll::Pending => this.wait(cx),
            other => other,
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_write_vectored(cx, bufs) {
            Poll::Ready(Ok(n)) => {
                this.took(n);
                Poll::Ready(Ok(n))
            }
            Poll::Pending => this.wait(cx),
            other => other,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    /// hyper and h2 flush once everything they buffered was written: the
    /// end of a hold-up.
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_flush(cx) {
            Poll::Ready(Ok(())) => {
                if this.held_up.take().is_some() {
                    this.watch.set_held_up(false);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => this.wait(cx),
            other => other,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds() -> Bounds {
        Bounds {
            send_timeout: Duration::from_secs(10),
            min_send_rate: 1000,
            idle_timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn a_hold_up_earns_a_second_per_min_rate_bytes() {
        let b = bounds();
        let t = Instant::now();
        assert_eq!(b.deadline(t, 0), t + Duration::from_secs(10));
        assert_eq!(b.deadline(t, 5000), t + Duration::from_secs(15));
    }

    #[test]
    fn idle_and_slow_connections_are_found() {
        let w = Watch::new(bounds());
        let t = Instant::now();
        assert_eq!(w.verdict(t + Duration::from_secs(4)), None);
        assert_eq!(w.verdict(t + Duration::from_secs(5)), Some(Verdict::Idle));
        // A request in progress is not idle, and its body counts from when
        // it was made.
        let active = w.begin();
        let mut body = Tracked::new(Full::new(Bytes::from(vec![7u8; 40_000])), active, true);
        let t = Instant::now();
        assert_eq!(w.verdict(t + Duration::from_secs(9)), None);
        assert_eq!(
            w.verdict(t + Duration::from_secs(10)),
            Some(Verdict::TooSlow)
        );
        // A piece handed over earns nothing until the next is asked for
        // (hyper asks once the one before was sent); the count ends when
        // the body is dropped.
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut sizes = Vec::new();
        while let Poll::Ready(Some(Ok(f))) = Pin::new(&mut body).poll_frame(&mut cx) {
            sizes.push(f.into_data().unwrap().len());
            let at = t + Duration::from_secs(10);
            match sizes.len() {
                1 => assert_eq!(w.verdict(at), Some(Verdict::TooSlow)),
                // 16 KiB taken at 1000 B/s: 16 s more.
                2 => {
                    assert_eq!(w.verdict(at + Duration::from_secs(16)), None);
                    assert_eq!(
                        w.verdict(at + Duration::from_secs(17)),
                        Some(Verdict::TooSlow)
                    );
                }
                _ => {}
            }
        }
        assert_eq!(sizes, [H2_CHUNK, H2_CHUNK, 40_000 - 2 * H2_CHUNK]);
        drop(body);
        let later = Instant::now();
        assert_eq!(w.verdict(later), None);
        assert_eq!(
            w.verdict(later + Duration::from_secs(5)),
            Some(Verdict::Idle)
        );
    }
}
