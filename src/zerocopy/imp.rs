//! The Linux implementation; see the parent module for why and how.

use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use hyper_util::rt::TokioIo;
use tokio::io::Interest;
use tokio::net::TcpStream;

/// Room for one PNG. A slot is address space and file size, not memory:
/// only the pages a PNG fills are allocated. Every bundled card fits many
/// times over, even in the fast encoding of its first response (the
/// largest is a 3× story: `curl -w '%{size_download}'` for a new one); a
/// larger PNG (a template with a photo in it) stays on the heap and is
/// written as usual.
const SLOT: usize = 4 << 20;

/// One slot per this much cache budget: a card smaller than this (a 1×
/// card's final bytes, what `sharecard render` writes, are over 20 KB) can
/// leave the cache with more cards than slots, and the excess stays on the
/// heap.
const BYTES_PER_SLOT: u64 = 16 << 10;
const MIN_SLOTS: usize = 1024;
/// 1 TiB of address space, a quarter of a million cards.
const MAX_SLOTS: usize = 1 << 18;

/// A cached body sent again before this many bytes of other cached bodies
/// went out since its last send is most likely still in the CPU's caches,
/// where copying it into the socket costs less than `sendfile`'s second
/// system call and page references. The two paths met between 4 and 13 MB
/// of other bodies on a machine with a 32 MiB L3: server CPU a hit, each
/// path in its own server, over 10, 30, 100 and 1,000 cached cards cycled
/// by `wrk -s bench/cycle.lua` as `bench/loadtest.sh` runs it
/// (`bench/RESULTS.md`, "Hits sent with `sendfile`").
const COPY_WINDOW: u64 = 4 << 20;

/// [`COPY_WINDOW`] for connections accepted from now on (see
/// [`set_copy_window`]).
static COPY_WINDOW_BYTES: AtomicU64 = AtomicU64::new(COPY_WINDOW);

/// Sets how recently (in bytes of other cached bodies sent) a cached body
/// must have been sent to be copied rather than sent with `sendfile`, for
/// connections accepted from now on; 0 sends every cached body with
/// `sendfile`. For tests, which need each path regardless of timing.
pub fn set_copy_window(bytes: u64) {
    COPY_WINDOW_BYTES.store(bytes, Ordering::Relaxed);
}

struct Arena {
    file: OwnedFd,
    /// Where the file is mapped, read-only, in full.
    base: usize,
    slots: usize,
    free: Mutex<FreeSlots>,
    /// PNG bytes in the file now.
    bytes: AtomicUsize,
    page: usize,
    /// Bytes of cached bodies handed to sockets so far: the clock that
    /// `last_sent` is read against.
    clock: AtomicU64,
    /// Per slot, `clock` when its bytes were last written or sent.
    last_sent: Box<[AtomicU64]>,
}

#[derive(Default)]
struct FreeSlots {
    /// Freed slots, most recent last (reused first).
    freed: Vec<u32>,
    /// Slots below this have been handed out at least once.
    fresh: usize,
}

static ARENA: OnceLock<Option<Arena>> = OnceLock::new();

/// Sets up the memory file for a cache of `cache_bytes` and returns its
/// number of slots; `None` if the kernel refused (then every card stays on
/// the heap). The first call in a process decides; later calls return its
/// result.
pub fn init(cache_bytes: u64) -> Option<usize> {
    let slots = usize::try_from(cache_bytes / BYTES_PER_SLOT)
        .unwrap_or(MAX_SLOTS)
        .clamp(MIN_SLOTS, MAX_SLOTS);
    ARENA
        .get_or_init(|| match Arena::new(slots) {
            Ok(a) => Some(a),
            Err(e) => {
                tracing::warn!(error = %e, "no memory file for cached cards; they are copied into each response");
                None
            }
        })
        .as_ref()
        .map(|a| a.slots)
}

/// PNG bytes currently held in the memory file.
pub fn sealed_bytes() -> usize {
    arena().map_or(0, |a| a.bytes.load(Ordering::Relaxed))
}

fn arena() -> Option<&'static Arena> {
    ARENA.get().and_then(Option::as_ref)
}

impl Arena {
    fn new(slots: usize) -> io::Result<Arena> {
        let size = slots * SLOT;
        // SAFETY: the name is a NUL-terminated string; the flags are valid.
        let fd = unsafe { libc::memfd_create(c"sharecard-cards".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by memfd_create and is owned here.
        let file = unsafe { OwnedFd::from_raw_fd(fd) };
        let len = libc::off_t::try_from(size).map_err(io::Error::other)?;
        // SAFETY: plain syscalls on a descriptor this function owns.
        if unsafe { libc::ftruncate(file.as_raw_fd(), len) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new shared read-only mapping of the whole file, at an
        // address the kernel chooses; nothing else refers to it yet.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        Ok(Arena {
            file,
            base: base as usize,
            slots,
            free: Mutex::default(),
            bytes: AtomicUsize::new(0),
            page,
            clock: AtomicU64::new(0),
            last_sent: (0..slots).map(|_| AtomicU64::new(0)).collect(),
        })
    }

    /// Whether the body at file offset `at` was last written or sent at
    /// least `window` bytes of other bodies ago (see [`COPY_WINDOW`]).
    fn is_cold(&self, at: libc::off_t, window: u64) -> bool {
        let last = self.last_sent[at as usize / SLOT].load(Ordering::Relaxed);
        self.clock.load(Ordering::Relaxed).saturating_sub(last) >= window
    }

    /// Records that `n` bytes of the body at `at` went to a socket.
    fn sent(&self, at: libc::off_t, n: usize) {
        let now = self.clock.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        self.last_sent[at as usize / SLOT].store(now, Ordering::Relaxed);
    }

    /// The file offset of `buf`, if it lies in the mapping.
    fn locate(&self, buf: &[u8]) -> Option<libc::off_t> {
        let at = (buf.as_ptr() as usize).wrapping_sub(self.base);
        (!buf.is_empty() && at < self.slots * SLOT).then_some(at as libc::off_t)
    }

    fn take(&self) -> Option<u32> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = free.freed.pop() {
            return Some(slot);
        }
        (free.fresh < self.slots).then(|| {
            free.fresh += 1;
            (free.fresh - 1) as u32
        })
    }

    /// Frees the pages of `slot`'s first `len` bytes and makes it
    /// available again. Punching, not overwriting, is what keeps the
    /// invariant: pages a socket still holds keep their contents, and the
    /// next PNG here gets new pages.
    fn release(&self, slot: u32, len: usize) {
        let punched = len.div_ceil(self.page) * self.page;
        // SAFETY: a plain syscall on the arena's own descriptor, within
        // the file.
        let r = unsafe {
            libc::fallocate(
                self.file.as_raw_fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                (slot as usize * SLOT) as libc::off_t,
                punched as libc::off_t,
            )
        };
        if r != 0 {
            // Writing over pages a socket may still hold could send a slow
            // client another card's bytes: lose the slot instead.
            tracing::warn!(error = %io::Error::last_os_error(), slot, "could not free a cached card's pages; slot retired");
            return;
        }
        self.free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .freed
            .push(slot);
    }
}

/// A PNG's slot in the memory file; frees it when dropped.
struct Sealed {
    slot: u32,
    addr: usize,
    len: usize,
}

impl AsRef<[u8]> for Sealed {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `addr..addr + len` lies in the arena's mapping, which
        // lives as long as the process, and was written before this
        // `Sealed` existed; nothing writes it until `drop`.
        unsafe { std::slice::from_raw_parts(self.addr as *const u8, self.len) }
    }
}

impl Drop for Sealed {
    fn drop(&mut self) {
        let arena = arena().expect("a Sealed exists only with an arena");
        arena.bytes.fetch_sub(self.len, Ordering::Relaxed);
        arena.release(self.slot, self.len);
    }
}

/// `bytes` moved into the memory file (one copy), so that responses send
/// them with `sendfile`. Returned unchanged when there is no memory file,
/// they are too large for a slot, every slot is taken, or the kernel has no
/// memory for them.
pub fn seal(bytes: Bytes) -> Bytes {
    let Some(arena) = arena() else {
        return bytes;
    };
    if bytes.is_empty() || bytes.len() > SLOT || arena.locate(&bytes).is_some() {
        return bytes;
    }
    let Some(slot) = arena.take() else {
        return bytes;
    };
    let offset = slot as usize * SLOT;
    if let Err(e) = pwrite_all(arena.file.as_raw_fd(), &bytes, offset) {
        tracing::debug!(error = %e, "a cached card stays on the heap");
        arena.release(slot, bytes.len());
        return bytes;
    }
    arena.bytes.fetch_add(bytes.len(), Ordering::Relaxed);
    // Just written: in the CPU's caches, as if just sent.
    arena.last_sent[slot as usize].store(arena.clock.load(Ordering::Relaxed), Ordering::Relaxed);
    Bytes::from_owner(Sealed {
        slot,
        addr: arena.base + offset,
        len: bytes.len(),
    })
}

fn pwrite_all(fd: RawFd, mut buf: &[u8], mut offset: usize) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: `buf` is valid for `buf.len()` bytes.
        let n = unsafe { libc::pwrite(fd, buf.as_ptr().cast(), buf.len(), offset as libc::off_t) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        buf = &buf[n as usize..];
        offset += n as usize;
    }
    Ok(())
}

/// An accepted connection: reads as usual; writes send buffers that lie in
/// the memory file with `sendfile` unless they were sent recently (see
/// [`COPY_WINDOW`]).
pub(crate) struct Connection {
    io: TokioIo<TcpStream>,
    copy_window: u64,
    /// Where the rest of the body this connection is sending starts, and
    /// whether it goes by `sendfile`: a body the socket could not take at
    /// once is finished the way it was started.
    pending: Option<(usize, bool)>,
}

impl Connection {
    pub(crate) fn new(stream: TcpStream) -> Connection {
        Connection {
            io: TokioIo::new(stream),
            copy_window: COPY_WINDOW_BYTES.load(Ordering::Relaxed),
            pending: None,
        }
    }
}

impl hyper::rt::Read for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // hyper queues the head and the body as separate buffers, so the
        // body's address is the cached `Bytes`' own.
        let found = arena().and_then(|a| {
            bufs.iter()
                .enumerate()
                .find_map(|(i, b)| a.locate(b).map(|at| (a, i, at)))
        });
        let Some((arena, i, at)) = found else {
            return Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        };
        let addr = bufs[i].as_ptr() as usize;
        let by_sendfile = match this.pending {
            Some((next, by_sendfile)) if next == addr => by_sendfile,
            _ => arena.is_cold(at, this.copy_window),
        };
        let result = if by_sendfile {
            poll_sendfile(this.io.inner(), cx, &bufs[..i], arena, at, bufs[i].len())
        } else {
            Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
        };
        if let Poll::Ready(Ok(n)) = result {
            let head: usize = bufs[..i].iter().map(|b| b.len()).sum();
            let body = n.saturating_sub(head).min(bufs[i].len());
            if body > 0 {
                arena.sent(at, body);
                this.pending = Some((addr + body, by_sendfile));
            }
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Writes `head`, then `len` bytes of the memory file from `at` with
/// `sendfile`, once the socket is ready.
fn poll_sendfile(
    stream: &TcpStream,
    cx: &mut Context<'_>,
    head: &[IoSlice<'_>],
    arena: &Arena,
    at: libc::off_t,
    len: usize,
) -> Poll<io::Result<usize>> {
    loop {
        ready!(stream.poll_write_ready(cx))?;
        let sent = stream.try_io(Interest::WRITABLE, || {
            send(stream.as_raw_fd(), head, arena.file.as_raw_fd(), at, len)
        });
        match sent {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            r => return Poll::Ready(r),
        }
    }
}

/// Sends `head` (with `MSG_MORE`: more follows at once) and then `len`
/// bytes of `file` from `at`; returns how much of the two went. An error
/// after part of it went is left for the next call to meet.
fn send(
    sock: RawFd,
    head: &[IoSlice<'_>],
    file: RawFd,
    at: libc::off_t,
    len: usize,
) -> io::Result<usize> {
    let head_len: usize = head.iter().map(|b| b.len()).sum();
    let mut sent = 0;
    if head_len > 0 {
        // SAFETY: an all-zero msghdr is valid (no name, no control data).
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        // IoSlice is ABI-compatible with iovec on Unix (std guarantees it).
        msg.msg_iov = head.as_ptr() as *mut libc::iovec;
        msg.msg_iovlen = head.len() as _;
        // SAFETY: `msg` points at `head`'s buffers, valid for this call.
        let n = unsafe { libc::sendmsg(sock, &msg, libc::MSG_MORE | libc::MSG_NOSIGNAL) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        sent = n as usize;
        if sent < head_len {
            return Ok(sent);
        }
    }
    let mut offset = at;
    // SAFETY: plain syscall; `offset` is a valid out-parameter.
    let n = unsafe { libc::sendfile(sock, file, &mut offset, len) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if sent > 0 { Ok(sent) } else { Err(e) };
    }
    Ok(sent + n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn pattern(len: usize, seed: u8) -> Bytes {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect::<Vec<u8>>()
            .into()
    }

    #[test]
    fn seals_what_fits_and_passes_the_rest_through() {
        init(1 << 20).expect("memfd available");
        let arena = arena().unwrap();
        for (len, sealed) in [
            (0, false),
            (1, true),
            (35_000, true),
            (SLOT, true),
            (SLOT + 1, false),
        ] {
            let input = pattern(len, 7);
            let out = seal(input.clone());
            assert_eq!(out, input, "len {len}: same bytes");
            assert_eq!(arena.locate(&out).is_some(), sealed, "len {len}");
            if sealed {
                // Sealing again is a no-op, and a slice is found too.
                let again = seal(out.clone());
                assert_eq!(again.as_ptr(), out.as_ptr());
                assert!(arena.locate(&out.slice(len / 2..)).is_some());
            }
        }
    }

    /// A connection whose cached bodies go by `sendfile` when they were
    /// sent `copy_window` bytes ago or more (0: always), and its client.
    async fn pair(copy_window: u64) -> (Connection, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let mut conn = Connection::new(server);
        conn.copy_window = copy_window;
        (conn, client)
    }

    /// Held by the tests that move the clock on by hand, so that neither
    /// makes the other's bodies cold midway.
    static CLOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    #[test]
    fn bodies_sent_recently_are_copied_and_the_rest_go_by_sendfile() {
        let _clock = CLOCK.blocking_lock();
        init(1 << 20).expect("memfd available");
        let arena = arena().unwrap();
        let body = seal(pattern(10_000, 9));
        let at = arena.locate(&body).unwrap();
        // Far beyond what other tests running meanwhile send.
        let window = 1 << 40;
        // Just written: in the caches.
        assert!(!arena.is_cold(at, window));
        // Other tests send bodies meanwhile; only ever more, so "cold"
        // cannot turn back into "hot" by itself.
        arena.clock.fetch_add(window, Ordering::Relaxed);
        assert!(arena.is_cold(at, window));
        assert!(arena.is_cold(at, 0), "0: always sendfile");
        arena.sent(at, body.len());
        assert!(!arena.is_cold(at, window));
        assert!(arena.is_cold(at, 0));
        // A slot freed and sealed again starts out hot.
        arena.clock.fetch_add(window, Ordering::Relaxed);
        assert!(arena.is_cold(at, window));
        drop(body);
        let again: Vec<Bytes> = (0..4).map(|i| seal(pattern(10_000, i))).collect();
        for b in &again {
            assert!(!arena.is_cold(arena.locate(b).unwrap(), window));
        }
    }

    /// Writes every buffer through `conn` the way hyper does: vectored,
    /// advancing past whatever each call took.
    async fn write_all(conn: &mut Connection, bufs: &[Bytes]) {
        use hyper::rt::Write;
        let mut bufs: Vec<Bytes> = bufs.to_vec();
        while bufs.iter().any(|b| !b.is_empty()) {
            let mut n = std::future::poll_fn(|cx| {
                let slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
                Pin::new(&mut *conn).poll_write_vectored(cx, &slices)
            })
            .await
            .unwrap();
            assert!(n > 0);
            for b in &mut bufs {
                let k = n.min(b.len());
                let _ = b.split_to(k);
                n -= k;
            }
        }
    }

    #[tokio::test]
    async fn a_slow_reader_gets_every_byte_in_order() {
        init(1 << 20).expect("memfd available");
        // By `sendfile`, and copied.
        for window in [0, u64::MAX] {
            slow_reader(window).await;
        }
    }

    async fn slow_reader(copy_window: u64) {
        let (mut conn, mut client) = pair(copy_window).await;
        // Head, a sealed body far larger than the socket buffers (so sends
        // are partial and meet EAGAIN), a heap tail, a second sealed body.
        let bufs = [
            Bytes::from_static(b"HTTP/1.1 200 OK\r\n\r\n"),
            seal(pattern(3 << 20, 1)),
            Bytes::from_static(b"tail"),
            seal(pattern(70_001, 2)),
        ];
        assert!(arena().unwrap().locate(&bufs[1]).is_some());
        let expected: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut chunk = vec![0; 7_919];
            loop {
                let n = client.read(&mut chunk).await.unwrap();
                if n == 0 {
                    return got;
                }
                got.extend_from_slice(&chunk[..n]);
                if got.len() % 5 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        });
        write_all(&mut conn, &bufs).await;
        drop(conn);
        let got = reader.await.unwrap();
        assert_eq!(got.len(), expected.len(), "copy window {copy_window}");
        assert!(got == expected, "copy window {copy_window}: bytes differ");
    }

    /// One vectored write of `bufs` through `conn`, once the socket takes
    /// some of it.
    async fn write_once(conn: &mut Connection, bufs: &[Bytes]) -> usize {
        use hyper::rt::Write;
        std::future::poll_fn(|cx| {
            let slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
            Pin::new(&mut *conn).poll_write_vectored(cx, &slices)
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn a_body_the_socket_took_in_part_is_finished_the_way_it_started() {
        let _clock = CLOCK.lock().await;
        init(1 << 20).expect("memfd available");
        let arena = arena().unwrap();
        // Far beyond what other tests running meanwhile send, so only this
        // test turns a body cold.
        let window = 1 << 40;
        for started_by_sendfile in [false, true] {
            let (mut conn, mut client) = pair(window).await;
            // Small socket buffers: a slot-sized body cannot go at once.
            for (fd, opt) in [
                (conn.io.inner().as_raw_fd(), libc::SO_SNDBUF),
                (client.as_raw_fd(), libc::SO_RCVBUF),
            ] {
                let size: libc::c_int = 64 << 10;
                // SAFETY: a valid socket and a c_int option of its size.
                let r = unsafe {
                    libc::setsockopt(
                        fd,
                        libc::SOL_SOCKET,
                        opt,
                        (&raw const size).cast(),
                        std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                    )
                };
                assert_eq!(r, 0);
            }
            let body = seal(pattern(SLOT, 5));
            let at = arena.locate(&body).unwrap();
            let addr = body.as_ptr() as usize;
            // Just sealed, the body is hot (copied); pushed back past the
            // window, cold (`sendfile`).
            if started_by_sendfile {
                arena.clock.fetch_add(window, Ordering::Relaxed);
            }
            let mut done = write_once(&mut conn, std::slice::from_ref(&body)).await;
            assert!(done < body.len(), "the socket took all of it at once");
            assert_eq!(conn.pending, Some((addr + done, started_by_sendfile)));
            // The body turns the other way round: a rule deciding afresh
            // would now switch paths.
            if started_by_sendfile {
                arena.sent(at, 1);
            } else {
                arena.clock.fetch_add(window, Ordering::Relaxed);
            }
            assert_eq!(arena.is_cold(at, window), !started_by_sendfile);
            let mut got = Vec::new();
            let mut chunk = vec![0; 64 << 10];
            for _ in 0..3 {
                // Make room, then send more of the rest.
                let want = got.len() + (256 << 10);
                while got.len() < want.min(done) {
                    let n = client.read(&mut chunk).await.unwrap();
                    got.extend_from_slice(&chunk[..n]);
                }
                done += write_once(&mut conn, &[body.slice(done..)]).await;
                let started = Some((addr + done, started_by_sendfile));
                assert_eq!(
                    conn.pending, started,
                    "sendfile first: {started_by_sendfile}"
                );
            }
            assert!(got[..] == body[..got.len()], "bytes differ");
        }
    }

    #[tokio::test]
    async fn bytes_in_flight_outlive_their_slot() {
        init(1 << 20).expect("memfd available");
        // By `sendfile`: the socket holds the file's pages.
        let (mut conn, mut client) = pair(0).await;
        // Fits the socket buffers: all of it is in flight at once.
        let first = seal(pattern(48_000, 3));
        let addr = first.as_ptr();
        write_all(&mut conn, std::slice::from_ref(&first)).await;
        // Free the slot while the client has read nothing, and fill it
        // with other bytes; the slot most recently freed is reused first,
        // unless another test took it meanwhile.
        drop(first);
        let mut later = Vec::new();
        for seed in 4..12 {
            let b = seal(pattern(48_000, seed));
            let reused = b.as_ptr() == addr;
            later.push(b);
            if reused {
                break;
            }
        }
        assert_eq!(later.last().unwrap().as_ptr(), addr, "the slot was reused");
        drop(conn);
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert!(
            got == pattern(48_000, 3),
            "the client got the slot's new bytes"
        );
    }
}
