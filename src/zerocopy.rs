//! Cached PNGs kept in one memory file and sent with `sendfile(2)`.
//!
//! Why: a cache hit costs little besides putting its body into the socket,
//! and `write` copies the body into the kernel. Over a few hot cards the
//! copy reads from the CPU cache; over a thousand it reads from memory, and
//! hits lost much of the rate they had over ten cards while nginx, which
//! sends files with `sendfile`, kept most of it. With `sendfile` the
//! socket takes references to the file's pages instead, and hits over
//! 1,000 cards keep more of the 10-card rate (`bench/loadtest.sh`, server
//! B3: hits over 10 and 1,000 cards; the figures are in
//! `bench/RESULTS.md`).
//!
//! But over a few hot cards `sendfile` costs more than the copy it saves:
//! a second system call, and a page reference per 4 KiB, where copying
//! from the CPU cache is cheap. So a body sent again soon, before a few
//! MiB of other bodies went out (`COPY_WINDOW` in `imp.rs`: the bytes are
//! then most likely still in the CPU's caches), is copied; one not sent
//! for longer goes by `sendfile`.
//!
//! How: [`seal`] copies a PNG once into a slot of a process-wide memory
//! file (`memfd`) that is also mapped read-only, and returns `Bytes` over
//! that mapping, so the rest of the service handles it like any other
//! bytes. [`Connection`] wraps each accepted socket; when hyper hands it a
//! buffer that lies in the mapping, it knows the file offset from the
//! address alone (no lookup, no lock) and, unless the body is hot, sends
//! those bytes with `sendfile`, the response head before them with
//! `MSG_MORE` so both leave in the same packets. Anything else is written
//! as usual.
//!
//! Invariant: the bytes at a slot never change while any `Bytes` for them
//! lives. A slot is written once, before its `Bytes` exists, and freed
//! (its pages punched out of the file) only when the last `Bytes` is
//! dropped. Pages a socket still holds survive the punch with their
//! contents, and the slot's next PNG is written into fresh pages, so a
//! slow client never receives another card's bytes (tested below).
//!
//! Linux only; elsewhere [`seal`] returns its input and [`Connection`] is
//! hyper-util's `TokioIo`.

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod imp;

#[cfg(target_os = "linux")]
pub(crate) use imp::Connection;
#[cfg(target_os = "linux")]
pub use imp::{init, seal, sealed_bytes, set_copy_window};

#[cfg(not(target_os = "linux"))]
mod portable {
    use bytes::Bytes;

    pub(crate) type Connection = hyper_util::rt::TokioIo<tokio::net::TcpStream>;

    pub fn init(_cache_bytes: u64) -> Option<usize> {
        None
    }

    pub fn seal(bytes: Bytes) -> Bytes {
        bytes
    }

    pub fn sealed_bytes() -> usize {
        0
    }

    pub fn set_copy_window(_bytes: u64) {}
}

#[cfg(not(target_os = "linux"))]
pub(crate) use portable::Connection;
#[cfg(not(target_os = "linux"))]
pub use portable::{init, seal, sealed_bytes, set_copy_window};
