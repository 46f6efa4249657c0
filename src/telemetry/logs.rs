//! Log lines to standard output, in per-thread batches.

/// How long a log line may wait in its thread's batch.
pub(crate) const LOG_FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// A thread's batch is written out once it holds this much.
const LOG_BATCH_BYTES: usize = 32 * 1024;

/// Standard output for log lines. With `batched`, a line at info level or
/// below goes into its thread's batch, which is written out when it is full,
/// every [`LOG_FLUSH_EVERY`] and at [`flush_logs`]; a warning or an error
/// first writes out its thread's batch, then itself, at once.
///
/// Every request logs a line, and a `write` call per line was the largest
/// cost of the log line (`bench/loadtest.sh`'s hits with logging measure
/// it). Batching is what nginx's `access_log … buffer=`
/// does. Each thread has its own batch, so
/// lines never wait on another thread and each thread's lines stay in
/// order; lines of different threads may be up to [`LOG_FLUSH_EVERY`] out
/// of timestamp order, and a process that is killed (not stopped) loses at
/// most that much of its info lines.
pub(super) struct BatchedStdout {
    pub(super) batched: bool,
}

type Batch = std::sync::Arc<std::sync::Mutex<Vec<u8>>>;

/// Every thread's batch, for the flusher.
static BATCHES: std::sync::Mutex<Vec<Batch>> = std::sync::Mutex::new(Vec::new());

thread_local! {
    static BATCH: Batch = {
        let batch = Batch::default();
        lock(&BATCHES).push(batch.clone());
        batch
    };
}

/// A log mutex even if a thread panicked holding it: a half-written batch
/// is still worth writing, and logging must not panic in turn.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Writes out every thread's batch: by the flusher thread, and on shutdown.
pub(crate) fn flush_logs() {
    let batches = lock(&BATCHES).clone();
    for batch in &batches {
        write_out(&mut lock(batch));
    }
    drop(batches);
    // Threads that have ended (tokio's blocking pool comes and goes) leave
    // a batch that only this list still holds, written out above.
    lock(&BATCHES)
        .retain(|b| std::sync::Arc::strong_count(b) > 1 || !b.lock().is_ok_and(|v| v.is_empty()));
}

fn write_out(batch: &mut Vec<u8>) {
    use std::io::Write;
    if !batch.is_empty() {
        // Nowhere to report a failed log write; a full disk must not stop
        // the service.
        let _ = std::io::stdout().lock().write_all(batch);
        batch.clear();
    }
}

pub(crate) enum LogLine {
    Direct,
    Batched,
}

impl std::io::Write for LogLine {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        match self {
            LogLine::Direct => {
                let _ = BATCH.try_with(|b| write_out(&mut lock(b)));
                std::io::stdout().lock().write_all(line)?;
            }
            LogLine::Batched => {
                let queued = BATCH.try_with(|b| {
                    let mut batch = lock(b);
                    batch.extend_from_slice(line);
                    if batch.len() >= LOG_BATCH_BYTES {
                        write_out(&mut batch);
                    }
                });
                // A thread being torn down has no batch: write at once.
                if queued.is_err() {
                    std::io::stdout().lock().write_all(line)?;
                }
            }
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchedStdout {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        if self.batched {
            LogLine::Batched
        } else {
            LogLine::Direct
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> LogLine {
        // tracing orders levels by verbosity: WARN and ERROR are the least.
        if *meta.level() <= tracing::Level::WARN {
            LogLine::Direct
        } else {
            self.make_writer()
        }
    }
}
