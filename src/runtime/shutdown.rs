//! Shutdown of a worker's driver: cancel every operation in flight, reap
//! until each has its final completion, and only then close the ring; or,
//! if the kernel does not finish in time, leak what it may still write.

use std::mem::ManuallyDrop;
use std::task::Waker;
use std::time::{Duration, Instant};

use super::driver::{Driver, Graveyard};

/// How long a shutdown waits for the kernel to finish cancelled operations.
pub(crate) const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// One step of a shutdown's drain.
pub(crate) enum Drain {
    /// Nothing is in flight any more.
    Done,
    /// Still waiting. The caller, outside the driver's borrow, wakes the
    /// wakers (completions reaped meanwhile: their futures may live on, in
    /// a task of another runtime on this thread) and drops the orphans
    /// that finished.
    Waiting(Graveyard, Vec<Waker>),
    /// The kernel did not finish before the deadline (or the ring failed).
    Failed,
}

impl Driver {
    /// Start a shutdown: cancel everything in flight; closes are
    /// synchronous from now on. Then call `drain_step` until it is done.
    pub(crate) fn start_drain(&mut self) {
        self.shutting_down = true;
        self.cancel_all();
    }

    /// Reap once (waiting up to 100 ms) towards an empty driver.
    pub(crate) fn drain_step(&mut self, deadline: Instant) -> Drain {
        if self.in_kernel == 0 && !self.wake_armed && self.closing == 0 {
            // Orphans that finished earlier may still hold buffers, fds and
            // the worker itself (a `RecvBuf` holds an `Rc<Worker>`): they
            // are dropped before the drain counts as done.
            if !self.graveyard.is_empty() || !self.deferred.is_empty() {
                let woken = std::mem::take(&mut self.deferred);
                return Drain::Waiting(std::mem::take(&mut self.graveyard), woken);
            }
            return Drain::Done;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let mut wakers = Vec::new();
        if left.is_zero()
            || self.enter(Some(left.min(Duration::from_millis(100))), true, &mut wakers).is_err()
        {
            return Drain::Failed;
        }
        // This runtime's tasks are gone, but an operation may be awaited
        // in a task of another runtime on this thread: wake, never drop.
        wakers.append(&mut self.deferred);
        Drain::Waiting(std::mem::take(&mut self.graveyard), wakers)
    }

    /// Drain to the end here (for `Drop`, where nothing else can run):
    /// `false` if the kernel did not finish within [`DRAIN_LIMIT`].
    fn drain(&mut self) -> bool {
        self.start_drain();
        let deadline = Instant::now() + DRAIN_LIMIT;
        loop {
            match self.drain_step(deadline) {
                Drain::Done => return true,
                Drain::Waiting(dead, woken) => {
                    woken.into_iter().for_each(Waker::wake);
                    drop(dead);
                }
                Drain::Failed => return false,
            }
        }
    }
}

impl Drop for Driver {
    /// The worker drains the driver before dropping it (and leaks the whole
    /// worker if that fails), so nothing is in flight here; the check keeps
    /// that promise even if a caller forgot.
    fn drop(&mut self) {
        if (self.in_kernel == 0 && !self.wake_armed && self.closing == 0) || self.drain() {
            // SAFETY: dropped once, here; nothing in the kernel refers to
            // memory of ours any more (no op and no wake read in flight).
            unsafe { ManuallyDrop::drop(&mut self.ring) };
        } else {
            tracing::warn!(in_flight = self.in_kernel, "operations did not finish; leaking them");
            self.leak_in_flight();
        }
    }
}
