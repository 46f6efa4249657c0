//! Render admission: at most `--render-threads` renders at once, at most
//! `--render-queue` more waiting, and any further miss refused at once
//! (503). Hits never pass through here.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::RenderError;
use crate::telemetry::Metrics;

pub(super) struct Admission {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
}

impl Admission {
    pub(super) fn new(render_threads: usize, render_queue: usize) -> Admission {
        Admission {
            permits: Arc::new(Semaphore::new(render_threads.max(1))),
            waiting: AtomicUsize::new(0),
            max_waiting: render_queue,
        }
    }

    /// A render thread, after waiting in the queue if it has room;
    /// [`RenderError::Saturated`] at once if it has none.
    pub(super) async fn admit(
        &self,
        metrics: &Metrics,
    ) -> Result<OwnedSemaphorePermit, RenderError> {
        if let Ok(p) = self.permits.clone().try_acquire_owned() {
            return Ok(p);
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            metrics.shed.inc();
            return Err(RenderError::Saturated);
        }
        metrics.render_queue.inc();
        let p = self.permits.clone().acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        metrics.render_queue.dec();
        Ok(p.expect("the semaphore is never closed"))
    }
}
