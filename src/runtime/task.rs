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
use std::sync::{Arc, Mutex, mpsc};
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

/// Work sent to a worker from elsewhere: run on the worker, in its context
/// (e.g. build and spawn a task there).
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// A worker's inbox for wakes and jobs from other threads.
pub(crate) struct Remote {
    /// Unique per worker for the life of the process.
    pub(crate) worker: usize,
    queue: Mutex<Vec<TaskId>>,
    /// Jobs: a lock-free channel (the worker holds the receiver).
    jobs: mpsc::Sender<Job>,
    /// Jobs sent and not yet taken; read by `park` (the channel cannot be
    /// peeked).
    pending_jobs: AtomicUsize,
    /// The worker is to stop (its runtime is shutting down).
    stop: AtomicBool,
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
    pub(crate) fn new(
        ring: std::os::fd::BorrowedFd<'_>,
    ) -> io::Result<(Arc<Remote>, mpsc::Receiver<Job>)> {
        let ring = ring.try_clone_to_owned()?;
        static NEXT_WORKER: AtomicUsize = AtomicUsize::new(1);
        // SAFETY: eventfd has no memory arguments; the result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let (jobs, rx) = mpsc::channel();
        let remote = Arc::new(Remote {
            worker: NEXT_WORKER.fetch_add(1, Ordering::Relaxed),
            queue: Mutex::new(Vec::new()),
            jobs,
            pending_jobs: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            parked: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            // SAFETY: `fd` was just created and is owned by nobody else.
            eventfd: unsafe { OwnedFd::from_raw_fd(fd) },
            ring,
        });
        Ok((remote, rx))
    }

    pub(crate) fn eventfd(&self) -> i32 {
        self.eventfd.as_raw_fd()
    }

    fn push(self: &Arc<Self>, id: TaskId) {
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        lock(&self.queue).push(id);
        self.notify();
    }

    /// Send `job` to the worker; it is handed back if the worker is gone.
    pub(crate) fn send(self: &Arc<Self>, job: Job) -> Result<(), Job> {
        if self.closed.load(Ordering::Acquire) {
            return Err(job);
        }
        // Counted before it is sent, so the worker's count never goes below
        // zero; until it arrives the worker will not park.
        self.pending_jobs.fetch_add(1, Ordering::SeqCst);
        if let Err(e) = self.jobs.send(job) {
            self.pending_jobs.fetch_sub(1, Ordering::SeqCst);
            return Err(e.0);
        }
        self.notify();
        Ok(())
    }

    /// Take the next job sent to the worker (on the worker).
    pub(crate) fn take_job(&self, jobs: &mpsc::Receiver<Job>) -> Option<Job> {
        let job = jobs.try_recv().ok()?;
        self.pending_jobs.fetch_sub(1, Ordering::SeqCst);
        Some(job)
    }

    /// Ask the worker to stop, waking it if parked.
    pub(crate) fn stop(self: &Arc<Self>) {
        self.stop.store(true, Ordering::SeqCst);
        self.notify();
    }

    pub(crate) fn is_stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Something was put in the inbox: wake the worker if it is parked.
    fn notify(self: &Arc<Self>) {
        // SeqCst pairs with `park`: either the worker sees what we put in
        // the inbox when it re-checks it, or we see `parked` and wake it.
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
        if lock(&self.queue).is_empty()
            && self.pending_jobs.load(Ordering::SeqCst) == 0
            && !self.stop.load(Ordering::SeqCst)
        {
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
