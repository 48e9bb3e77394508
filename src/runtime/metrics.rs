//! Per-worker counters: plain integers on the worker, no atomics.

/// Counters the driver and the loop bump as they go.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counters {
    pub(crate) ticks: u64,
    pub(crate) enters: u64,
    pub(crate) sqes: u64,
    pub(crate) cqes: u64,
    pub(crate) parks: u64,
    pub(crate) tasks_spawned: u64,
    pub(crate) tasks_polled: u64,
    pub(crate) msg_wakes: u64,
}

/// A snapshot of one worker's counters; see [`Runtime::metrics`].
///
/// [`Runtime::metrics`]: crate::Runtime::metrics
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Turns of the worker loop.
    pub ticks: u64,
    /// `io_uring_enter` calls (submits and parks).
    pub enters: u64,
    /// Operations submitted (one per `Op`, however many SQEs it retried).
    pub sqes_submitted: u64,
    /// Completions reaped, internal ones included.
    pub cqes_reaped: u64,
    /// Times the worker blocked in the kernel with nothing to run.
    pub parks: u64,
    /// Tasks spawned.
    pub tasks_spawned: u64,
    /// Task polls.
    pub tasks_polled: u64,
    /// Parked workers (of other runtimes) this worker woke with a
    /// `MSG_RING` from its ring, instead of their eventfd.
    pub msg_wakes_sent: u64,
    /// Operations whose final completion has not arrived.
    pub ops_in_flight: u64,
    /// Slab keys in use (in flight, or completed and not yet taken).
    pub live_op_keys: u64,
    /// Timers registered and not yet fired or dropped.
    pub timers_pending: u64,
    /// Received buffers copied out of the provided-buffer ring so that the
    /// ring's buffer could go back early: data past a stream's unread
    /// bound, data received or left unread while the ring ran low, and
    /// sends that would have waited on a peer that does not read. Zero
    /// while every peer keeps up.
    pub ring_bufs_copied: u64,
}

impl Counters {
    pub(crate) fn snapshot(
        &self,
        ops_in_flight: usize,
        live: usize,
        timers: usize,
        copied: u64,
    ) -> Metrics {
        Metrics {
            ticks: self.ticks,
            enters: self.enters,
            sqes_submitted: self.sqes,
            cqes_reaped: self.cqes,
            parks: self.parks,
            tasks_spawned: self.tasks_spawned,
            tasks_polled: self.tasks_polled,
            msg_wakes_sent: self.msg_wakes,
            ops_in_flight: ops_in_flight as u64,
            live_op_keys: live as u64,
            timers_pending: timers as u64,
            ring_bufs_copied: copied,
        }
    }
}
