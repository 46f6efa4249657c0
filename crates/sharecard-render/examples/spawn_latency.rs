//! The figure behind `src/parallel.rs`'s choice of threads: how long a
//! card's two bands take when each is 2 ms of work and the cores were idle
//! before them (as between two crawler requests).
//!
//! `cargo run --release -p sharecard-render --example spawn_latency`
//! (about 4 seconds). Each way runs 200 times, after 3 ms of sleep each,
//! and prints the 10th, 50th and 90th percentiles of the time until both
//! bands are done, next to the target: within 0.2 ms of one band.

use std::time::{Duration, Instant};

const ROUNDS: usize = 200;
const BAND: Duration = Duration::from_millis(2);

fn band() {
    let start = Instant::now();
    while start.elapsed() < BAND {
        std::hint::spin_loop();
    }
}

fn measure(name: &str, two_bands: impl Fn()) {
    let mut took: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(3));
            let start = Instant::now();
            two_bands();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    took.sort_by(f64::total_cmp);
    let at = |p: usize| took[took.len() * p / 100];
    let target = BAND.as_secs_f64() * 1e3 + 0.2;
    println!(
        "{name:<44} p10 {:.2} ms  p50 {:.2} ms  p90 {:.2} ms   target p50 <= {target:.1} ms: {}",
        at(10),
        at(50),
        at(90),
        if at(50) <= target { "met" } else { "not met" }
    );
}

fn main() {
    println!(
        "{} cores; two bands of {BAND:?}, {ROUNDS} times each way",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    measure("a thread spawned per card, the caller draws", || {
        std::thread::scope(|scope| {
            scope.spawn(band);
            band();
        });
    });
    measure("the pool draws one, the caller the other", || {
        rayon_core::in_place_scope(|scope| {
            scope.spawn(|_| band());
            band();
        });
    });
    measure("the pool draws both (map_in_order)", || {
        rayon_core::scope(|scope| {
            scope.spawn(|_| band());
            scope.spawn(|_| band());
        });
    });
}
