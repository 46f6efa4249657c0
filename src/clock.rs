//! The time a request is answered at, from a clock tests can move.
//!
//! Expiry (`exp`), the freshness cut to it and the once-a-second reuse of a
//! remembered target all read Unix seconds. The server reads them from a
//! [`Clock`] it is given: the system's in service, a [`ManualClock`] in
//! tests, which advance time instead of sleeping for it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Unix time in whole seconds.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> u64;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// A clock that stands still until it is moved. Clones share the time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// Starts at the system's time, so URLs signed with real `exp`s agree.
    pub fn new() -> ManualClock {
        ManualClock(Arc::new(AtomicU64::new(SystemClock.now())))
    }

    pub fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_clones_share_it() {
        let c = ManualClock::new();
        let shared = c.clone();
        let t = c.now();
        assert!(t.abs_diff(SystemClock.now()) <= 1);
        shared.advance(30);
        assert_eq!(c.now(), t + 30);
    }
}
