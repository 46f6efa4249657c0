//! The process settings that need a system call: the allocator's tuning
//! and trimming, and a thread's scheduling priority. With `zerocopy`, the only
//! module where unsafe code is allowed (see ARCHITECTURE.md).

#![allow(unsafe_code)]

/// Keeps the process's memory near what the cache budget accounts for.
/// glibc's defaults suit short-lived processes, not a server that churns
/// through PNGs and pixel buffers of many sizes on many threads:
/// * up to 8 arenas per core, each keeping freed memory of its own, so
///   two arenas are plenty (renders are CPU-bound, at most one per core);
/// * a dynamic mmap threshold that soon rises to the largest freed block
///   (MiBs), after which freed pixel and PNG buffers stay in the heap as
///   fragments; a fixed 64 KiB threshold gives them back to the kernel
///   when freed (a spare-buffer pool in the renderer avoids re-faulting
///   the largest ones).
///
/// Measured by `bench/loadtest.sh` (peak RSS after 10,000 cards).
pub(crate) fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters, under glibc's own
    // lock; it is safe to call while other threads allocate (the log
    // writer's flush thread may already be running).
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 * 1024);
    }
}

/// Gives the heap's free memory back to the kernel, once, after start-up.
/// fontdue reads every glyph of an operator's font to take its metrics and
/// frees it again: with Noto Sans CJK that is most of the process's peak,
/// which glibc would otherwise keep for the life of the process
/// (deploy/README.md, "CJK": resident memory at its peak and when ready).
pub(crate) fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim works under glibc's own arena locks and only
    // returns free pages; it is safe to call while other threads allocate.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Runs the calling thread only on a core nothing else wants.
#[cfg(target_os = "linux")]
pub(crate) fn lower_thread_priority() {
    // SCHED_IDLE runs the thread only on a core nothing else wants, and
    // any render preempts it at once; nice 19 alone still took a share of
    // a core from renders (the cold median of `bench/loadtest.sh` with
    // `--recompress` on against off). Both apply to the calling
    // thread only (id 0). Nice 19 stays as the fallback where SCHED_IDLE
    // is refused.
    // SAFETY: sched_setscheduler and setpriority read only `param` and
    // have no other memory-safety preconditions.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
        libc::setpriority(libc::PRIO_PROCESS, 0, 19);
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn lower_thread_priority() {}
