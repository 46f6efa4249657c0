//! One job's few pieces on scoped threads (a card's bands, its PNG's
//! pieces).

/// `f` applied to every item, results in the items' order. With `threads`
/// above 1, every item but the first gets a scoped thread of its own while
/// the calling thread does the first: callers pass as many items as the
/// machine has cores, and only when those cores are idle.
pub(crate) fn map_in_order<T: Send, R: Send>(
    items: Vec<T>,
    threads: usize,
    f: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    if threads <= 1 || items.len() <= 1 {
        return items.into_iter().map(f).collect();
    }
    let f = &f;
    let mut items = items.into_iter();
    let first = items.next().expect("more than one item");
    std::thread::scope(|scope| {
        let others: Vec<_> = items.map(|item| scope.spawn(move || f(item))).collect();
        let first = f(first);
        std::iter::once(first)
            .chain(
                others
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))),
            )
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_order_and_uses_threads_only_when_asked() {
        let main = std::thread::current().id();
        // (items, threads, items run off the calling thread)
        for (n, threads, off_thread) in [(0, 2, 0), (1, 2, 0), (3, 1, 0), (3, 2, 2), (4, 8, 3)] {
            let out = map_in_order((0..n).collect(), threads, |i: usize| {
                (i * 10, std::thread::current().id() != main)
            });
            let values: Vec<usize> = out.iter().map(|&(v, _)| v).collect();
            assert_eq!(values, (0..n).map(|i| i * 10).collect::<Vec<_>>());
            let away = out.iter().filter(|&&(_, away)| away).count();
            assert_eq!(away, off_thread, "{n} items, {threads} threads");
        }
    }
}
