//! One job's few pieces on more than one thread (a card's bands, its PNG's
//! pieces).
//!
//! The pieces go to rayon's persistent pool, all of them, while the calling
//! thread waits. On the 2-core machine both other ways put the two pieces
//! on one core more often than not: a thread spawned per card first runs
//! when its parent's time slice ends, and a pool thread woken while the
//! caller draws is often woken on the caller's core, so the bands were
//! drawn one after the other: two bands took twice as long at the median
//! (`cargo run --release -p sharecard-render --example spawn_latency`
//! prints the three ways).

/// `f` applied to every item, results in the items' order. With `threads`
/// above 1, the items run on the pool and the calling thread waits for
/// them; callers pass as many items as the machine has cores, and only
/// when those cores are idle. With 1, the calling thread does them all.
pub(crate) fn map_in_order<T: Send, R: Send>(
    items: Vec<T>,
    threads: usize,
    f: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    if threads <= 1 || items.len() <= 1 {
        return items.into_iter().map(f).collect();
    }
    let f = &f;
    let mut slots: Vec<Option<R>> = std::iter::repeat_with(|| None).take(items.len()).collect();
    // A panic in any item is raised here once all have finished.
    rayon_core::scope(|scope| {
        for (item, slot) in items.into_iter().zip(&mut slots) {
            scope.spawn(move |_| *slot = Some(f(item)));
        }
    });
    slots
        .into_iter()
        .map(|r| r.expect("every item ran"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_order_and_uses_threads_only_when_asked() {
        let main = std::thread::current().id();
        // (items, threads, items run off the calling thread)
        for (n, threads, off_thread) in [(0, 2, 0), (1, 2, 0), (3, 1, 0), (3, 2, 3), (4, 8, 4)] {
            let out = map_in_order((0..n).collect(), threads, |i: usize| {
                (i * 10, std::thread::current().id() != main)
            });
            let values: Vec<usize> = out.iter().map(|&(v, _)| v).collect();
            assert_eq!(values, (0..n).map(|i| i * 10).collect::<Vec<_>>());
            let away = out.iter().filter(|&&(_, away)| away).count();
            assert_eq!(away, off_thread, "{n} items, {threads} threads");
        }
    }

    #[test]
    fn a_panic_in_a_helper_reaches_the_caller() {
        let caught = std::panic::catch_unwind(|| {
            map_in_order(vec![0, 1], 2, |i: usize| {
                assert!(i == 0, "item {i} failed");
                i
            })
        });
        assert!(caught.is_err());
    }
}
