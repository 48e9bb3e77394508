//! Tasks and their wakers.
//!
//! A task's future lives in its worker's task slab and is polled and dropped
//! only there. A [`Waker`] holds an `Arc<Header>`: the task's id, a
//! "notified" bit and the worker's [`Remote`] inbox. It never owns the
//! future, so it is `Send + Sync` and may be woken or dropped on any thread,
//! at any time, after the task finished or the runtime is gone.
//!
//! A wake on the task's own worker pushes the id onto the local run queue.
//! A wake from elsewhere pushes it into the worker's inbox and, only if the
//! worker is parked in the kernel, wakes it: with a `MSG_RING` from the
//! waking thread's own ring if that thread runs a corering worker,
//! otherwise by writing the worker's eventfd, which the worker watches with
//! a READ on its ring.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Wake;
use std::task::Waker;
use std::{fmt, io};

use super::context;

/// A task's place in its worker's slab; `generation` tells a reused slot's
/// new task from the finished one a stale waker still names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TaskId {
    pub(crate) key: u32,
    pub(crate) generation: u32,
}

/// The id `block_on`'s own future wakes with; never a slab key.
pub(crate) const BLOCK_ON: TaskId = TaskId { key: u32::MAX, generation: 0 };

/// What a waker knows of its task.
pub(crate) struct Header {
    id: TaskId,
    /// Set by a wake, cleared by the worker just before it polls the task:
    /// many wakes between two polls queue the task once.
    notified: AtomicBool,
    remote: Arc<Remote>,
}

impl Header {
    pub(crate) fn new(id: TaskId, remote: Arc<Remote>) -> Arc<Header> {
        Arc::new(Header { id, notified: AtomicBool::new(false), remote })
    }

    pub(crate) fn waker(self: &Arc<Header>) -> Waker {
        Waker::from(self.clone())
    }

    /// Clear the notified bit before a poll, so a wake during the poll
    /// queues the task again.
    pub(crate) fn clear_notified(&self) {
        // AcqRel pairs with the waker's swap: what the waker wrote before
        // waking is visible to the poll that follows.
        self.notified.swap(false, Ordering::AcqRel);
    }

    pub(crate) fn id(&self) -> TaskId {
        self.id
    }
}

impl Wake for Header {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // AcqRel: publishes the waker's writes to the polling worker, and
        // only the first wake after a poll goes on to queue the task.
        if self.notified.swap(true, Ordering::AcqRel) {
            return;
        }
        if !context::wake_local(self.remote.worker, self.id) {
            self.remote.push(self.id);
        }
    }
}

/// A worker's inbox for wakes from other threads.
pub(crate) struct Remote {
    /// Unique per worker for the life of the process.
    pub(crate) worker: usize,
    queue: Mutex<Vec<TaskId>>,
    /// The worker is (about to be) blocked in `io_uring_enter`.
    parked: AtomicBool,
    /// No worker will ever read the inbox again.
    closed: AtomicBool,
    /// Written to wake a parked worker; lives as long as any waker, so a
    /// late wake never writes to a closed (and maybe reused) fd number.
    eventfd: OwnedFd,
    /// A duplicate of the worker's ring fd: a waker running on another
    /// worker posts a `MSG_RING` to it (faster than the eventfd: see
    /// docs/benchmarks.md). Held like the eventfd, so it is never reused.
    ring: OwnedFd,
}

impl Remote {
    pub(crate) fn new(ring: std::os::fd::BorrowedFd<'_>) -> io::Result<Arc<Remote>> {
        let ring = ring.try_clone_to_owned()?;
        static NEXT_WORKER: AtomicUsize = AtomicUsize::new(1);
        // SAFETY: eventfd has no memory arguments; the result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Arc::new(Remote {
            worker: NEXT_WORKER.fetch_add(1, Ordering::Relaxed),
            queue: Mutex::new(Vec::new()),
            parked: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            // SAFETY: `fd` was just created and is owned by nobody else.
            eventfd: unsafe { OwnedFd::from_raw_fd(fd) },
            ring,
        }))
    }

    pub(crate) fn eventfd(&self) -> i32 {
        self.eventfd.as_raw_fd()
    }

    fn push(self: &Arc<Self>, id: TaskId) {
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        lock(&self.queue).push(id);
        // SeqCst pairs with `park`: either the worker sees our push when it
        // re-checks the inbox, or we see `parked` and wake it.
        if self.parked.swap(false, Ordering::SeqCst) && !context::msg_wake(self) {
            self.kick();
        }
    }

    /// The worker's ring fd (a duplicate this `Remote` holds open).
    pub(crate) fn ring_fd(&self) -> i32 {
        self.ring.as_raw_fd()
    }

    /// Wake the worker through its eventfd.
    pub(crate) fn kick(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from `one` to our own open eventfd.
        // A failure (counter saturated) still leaves the worker woken.
        unsafe { libc::write(self.eventfd(), (&raw const one).cast(), 8) };
    }

    /// Announce that the worker is about to block; `false` if wakes are
    /// already waiting, in which case it must not block.
    pub(crate) fn park(&self) -> bool {
        self.parked.store(true, Ordering::SeqCst);
        if lock(&self.queue).is_empty() {
            true
        } else {
            self.parked.store(false, Ordering::SeqCst);
            false
        }
    }

    pub(crate) fn unpark(&self) {
        self.parked.store(false, Ordering::SeqCst);
    }

    /// Move every remote wake onto the local run queue.
    pub(crate) fn drain_into(&self, run_queue: &mut VecDeque<TaskId>) {
        let mut q = lock(&self.queue);
        run_queue.extend(q.drain(..));
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        lock(&self.queue).clear();
    }
}

/// Lock, ignoring poisoning: the inbox is a plain Vec, valid after any panic.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remote").field("worker", &self.worker).finish_non_exhaustive()
    }
}
