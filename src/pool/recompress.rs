//! Background recompression: a freshly rendered card's fast encoding is
//! replaced by the small lossless one (PNG by PNG, WebP by WebP), on an
//! idle-priority thread, when renders are idle.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sharecard_render::render::Encoding;

use crate::cache::{ByteCache, CardKey};
use crate::telemetry::Metrics;

/// Cards waiting for recompression. Past this, the oldest waiting card is
/// dropped and keeps its fast encoding (and stays on the heap, copied into
/// each response). Keys are small; the idle thread works through a full
/// queue in about 20 s once a burst of new cards is over (`bench/soak.sh`).
const RECOMPRESS_QUEUE: usize = 1024;

/// The recompression queue: keys, newest first. Under a stream of new cards
/// the newest are the likeliest to be asked for again (and to still be
/// cached), and the older ones get their turn when renders are idle. It
/// holds keys, not PNGs: most queued cards are evicted before their turn
/// under such a stream, and queued bytes would be memory the cache budget
/// does not see (`bench/loadtest.sh`'s peak RSS measures it).
#[derive(Default)]
pub(super) struct RecompressQueue {
    state: Mutex<QueueState>,
    wake: std::sync::Condvar,
}

#[derive(Default)]
struct QueueState {
    keys: std::collections::VecDeque<CardKey>,
    closed: bool,
}

impl RecompressQueue {
    pub(super) fn push(&self, key: CardKey) {
        let mut state = self.state.lock().expect("not poisoned");
        if state.keys.len() == RECOMPRESS_QUEUE {
            state.keys.pop_front();
        }
        state.keys.push_back(key);
        self.wake.notify_one();
    }

    /// The newest waiting card; `None` once the cache is gone.
    pub(super) fn pop(&self) -> Option<CardKey> {
        let mut state = self.state.lock().expect("not poisoned");
        loop {
            if state.closed {
                return None;
            }
            if let Some(key) = state.keys.pop_back() {
                return Some(key);
            }
            state = self.wake.wait(state).expect("not poisoned");
        }
    }

    pub(super) fn close(&self) {
        self.state.lock().expect("not poisoned").closed = true;
        self.wake.notify_one();
    }
}

/// How long renders must have been idle before a recompression starts.
/// Started between two renders of a steady stream of new cards, a
/// recompression slows each even at idle priority (shared caches and
/// memory bandwidth; `bench/loadtest.sh`'s cold median measures it). One
/// that has started pauses between rows while renders run.
const RECOMPRESS_AFTER_IDLE: Duration = Duration::from_millis(25);

/// Longest a recompression waits for renders to go idle: under unbroken
/// load, cards still get small, one at a time, at idle priority.
const RECOMPRESS_PATIENCE: Duration = Duration::from_secs(2);

/// Re-encodes freshly rendered cards smaller and swaps them into the cache.
/// Runs on its own thread at idle CPU priority, and only once renders have
/// been idle for a moment (or after [`RECOMPRESS_PATIENCE`]), so it does not
/// delay foreground renders. The new bytes get their own ETag (see
/// `Encoding`): a strong validator names one body.
pub(super) fn recompress_worker(
    jobs: &RecompressQueue,
    cache: ByteCache,
    metrics: Arc<Metrics>,
    runtime: tokio::runtime::Handle,
    last_render: Arc<Mutex<Instant>>,
) {
    crate::sys::lower_thread_priority();
    while let Some(key) = jobs.pop() {
        let patience = Instant::now() + RECOMPRESS_PATIENCE;
        while Instant::now() < patience
            && (metrics.renders_in_flight.get() > 0
                || last_render.lock().expect("not poisoned").elapsed() < RECOMPRESS_AFTER_IDLE)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        // Taken before the card: a reload meanwhile drops the new bytes.
        let generation = cache.generation();
        let Some(png) = runtime.block_on(cache.peek(&key)) else {
            continue; // evicted meanwhile
        };
        if png.is_final {
            continue;
        }
        // A render that starts meanwhile has the cores to itself: this
        // one waits between rows, up to the same patience. Without this,
        // a recompression running when a burst of new cards began made
        // each of its first cards slower (`bench/loadtest.sh`'s cold median
        // with recompression on and off).
        let pause = || {
            while Instant::now() < patience && metrics.renders_in_flight.get() > 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        };
        // libwebp cannot pause; it takes tens of milliseconds for a card
        // it encodes (`bench/webp.sh`), at idle priority.
        let small = match png.encoding {
            Encoding::WebpFast => sharecard_render::render::recompress_webp(&png.bytes)
                .map(|small| small.map(|b| (b, Encoding::Webp))),
            _ => sharecard_render::render::recompress_pausing(&png, pause)
                .map(|b| Some((b, Encoding::Small))),
        };
        match small {
            Ok(small) => {
                // Each encoding has its own ETag: bytes kept as they were
                // keep theirs.
                let png = match small {
                    Some((small, encoding)) if small.len() < png.bytes.len() => {
                        png.reencoded(crate::zerocopy::seal(small.into()), encoding)
                    }
                    _ => png.reencoded(crate::zerocopy::seal(png.bytes.clone()), png.encoding),
                };
                runtime.block_on(cache.insert(generation, key, Arc::new(png)));
                metrics.recompressed.inc();
            }
            Err(e) => tracing::warn!(error = %e, "recompression failed; keeping the fast encoding"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::tests::key;

    #[test]
    fn the_recompression_queue_keeps_the_newest_cards_and_takes_them_first() {
        // (cards pushed, cards popped in order, as indices)
        let cases: [(usize, Vec<usize>); 3] = [
            (1, vec![0]),
            (RECOMPRESS_QUEUE, (0..RECOMPRESS_QUEUE).rev().collect()),
            (
                RECOMPRESS_QUEUE + 10,
                (10..RECOMPRESS_QUEUE + 10).rev().collect(),
            ),
        ];
        for (pushed, popped) in cases {
            let queue = RecompressQueue::default();
            for i in 0..pushed {
                queue.push(key(i));
            }
            let got: Vec<CardKey> = popped.iter().map(|_| queue.pop().unwrap()).collect();
            let want: Vec<CardKey> = popped.iter().map(|&i| key(i)).collect();
            assert!(got == want, "{pushed} pushed");
            assert!(
                queue.state.lock().unwrap().keys.is_empty(),
                "{pushed} pushed"
            );
        }
    }

    #[test]
    fn a_closed_recompression_queue_ends_its_worker() {
        let queue = Arc::new(RecompressQueue::default());
        queue.push(key(0));
        let worker = {
            let queue = queue.clone();
            std::thread::spawn(move || {
                let mut popped = 0;
                while queue.pop().is_some() {
                    popped += 1;
                }
                popped
            })
        };
        // The worker takes the one card, then waits until the queue closes.
        while !queue.state.lock().unwrap().keys.is_empty() {
            std::thread::sleep(Duration::from_millis(1));
        }
        queue.close();
        assert_eq!(worker.join().unwrap(), 1);
    }
}
